/* lt_rowmap: generic row <-> record mapping through protobuf-c descriptors.
 *
 * Row -> record fills a calloc'd, initialised message whose string and bytes
 * fields point straight into the SQLite statement's column buffers; the
 * message is packed before the statement moves on and then freed with a
 * plain free(): nothing inside it was allocated by us. Record -> row unpacks
 * with protobuf-c (free_unpacked) and binds with SQLITE_TRANSIENT copies. */
#include "lt_rowmap.h"
#include "lt_cfgfile.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const ProtobufCFieldDescriptor *field;
    char *column; /* as configured */
    char *quoted; /* "column", ready for SQL */
} s_entry_t;

struct lt_rowmap_t {
    const ProtobufCMessageDescriptor *desc;
    s_entry_t *entries;
    size_t n;
    size_t key; /* index of the key entry */
    char *select_list;
};

/* ---- small helpers -------------------------------------------------- */

static void s_msg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void s_msg(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* A growable string; `oom` sticks once an allocation failed. */
typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} s_buf_t;

static void s_add(s_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_add(s_buf_t *b, const char *fmt, ...)
{
    if (b->oom)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->cap ? b->cap * 2 : 256) + (n > 0 ? (size_t)n : 0);
        char *p = n < 0 ? NULL : realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Ownership of the text passes to the caller; NULL when out of memory. */
static char *s_done(s_buf_t *b)
{
    if (b->oom) {
        free(b->p);
        return NULL;
    }
    return b->p;
}

/* SQL identifier in double quotes, inner quotes doubled; malloc'd. */
static char *s_quote(const char *name)
{
    s_buf_t b = {0};
    s_add(&b, "\"");
    for (const char *c = name; *c; c++) {
        if (*c == '"')
            s_add(&b, "\"\"");
        else
            s_add(&b, "%c", *c);
    }
    s_add(&b, "\"");
    return s_done(&b);
}

/* ---- loading -------------------------------------------------------- */

/* NULL when the field can be mapped, else the reason. */
static const char *s_unsupported(const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return "is repeated; only single-valued fields can be mapped to a column";
    if (f->type == PROTOBUF_C_TYPE_MESSAGE)
        return "is a message; only scalar, string, bytes and enum fields can be mapped";
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return "belongs to a oneof, which cannot be mapped";
    return NULL;
}

static int s_load_entry(lt_rowmap_t *self, const config_setting_t *s, const char *file,
                        char *err, size_t errlen)
{
    const char *name = config_setting_name(s);
    const char *col = config_setting_get_string(s);
    if (!col || !col[0])
        return lt_cfgfile_err(s, file, err, errlen, "'%s' must be a column name in double quotes", name);
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(self->desc, name);
    if (!f)
        return lt_cfgfile_err(s, file, err, errlen, "field '%s' does not exist in record type %s", name,
                     self->desc->name);
    const char *why = s_unsupported(f);
    if (why)
        return lt_cfgfile_err(s, file, err, errlen, "field '%s' %s", name, why);
    for (size_t i = 0; i < self->n; i++)
        if (strcasecmp(self->entries[i].column, col) == 0)
            return lt_cfgfile_err(s, file, err, errlen, "column '%s' is mapped twice (fields '%s' and '%s')",
                         col, self->entries[i].field->name, name);
    s_entry_t *e = &self->entries[self->n];
    e->field = f;
    e->column = strdup(col);
    e->quoted = s_quote(col);
    self->n++; /* counted first, so destroy frees a half-built entry */
    if (!e->column || !e->quoted)
        return lt_cfgfile_err(s, file, err, errlen, "out of memory");
    return 0;
}

static int s_find_key(lt_rowmap_t *self, const config_setting_t *columns, const char *file,
                      const char *key_column, const char *key_field, char *err, size_t errlen)
{
    if (!key_column || !key_column[0])
        return lt_cfgfile_err(columns, file, err, errlen, "no key column given");
    for (size_t i = 0; i < self->n; i++)
        if (strcasecmp(self->entries[i].column, key_column) == 0) {
            self->key = i;
            if (key_field && strcmp(self->entries[i].field->name, key_field) != 0)
                return lt_cfgfile_err(columns, file, err, errlen,
                             "key_field '%s' must be the field mapped to key column '%s', "
                             "but 'columns' maps '%s' to it",
                             key_field, key_column, self->entries[i].field->name);
            return 0;
        }
    if (key_field)
        return lt_cfgfile_err(columns, file, err, errlen,
                     "the key field is not mapped: add %s = \"%s\"; to 'columns'", key_field,
                     key_column);
    return lt_cfgfile_err(columns, file, err, errlen,
                 "key column '%s' is not mapped to any field in 'columns'", key_column);
}

static int s_build_select_list(lt_rowmap_t *self)
{
    s_buf_t b = {0};
    for (size_t i = 0; i < self->n; i++)
        s_add(&b, "%s%s", i ? ", " : "", self->entries[i].quoted);
    self->select_list = s_done(&b);
    return self->select_list ? 0 : -1;
}

lt_rowmap_t *lt_rowmap_new(const ProtobufCMessageDescriptor *desc,
                           const config_setting_t *columns, const char *file,
                           const char *key_column, const char *key_field, char *err,
                           size_t errlen)
{
    if (!desc) {
        s_msg(err, errlen, "%s: unknown record type", file);
        return NULL;
    }
    if (!columns) {
        s_msg(err, errlen, "%s: missing required group 'columns = { field = \"column\"; ... };'",
              file);
        return NULL;
    }
    if (!config_setting_is_group(columns) || config_setting_length(columns) == 0) {
        lt_cfgfile_err(columns, file, err, errlen,
              "'columns' must be a non-empty group: columns = { field = \"column\"; ... };");
        return NULL;
    }
    lt_rowmap_t *self = calloc(1, sizeof *self);
    if (!self) {
        s_msg(err, errlen, "%s: out of memory", file);
        return NULL;
    }
    self->desc = desc;
    int count = config_setting_length(columns);
    self->entries = calloc((size_t)count, sizeof *self->entries);
    if (!self->entries) {
        lt_cfgfile_err(columns, file, err, errlen, "out of memory");
        goto fail;
    }
    for (int i = 0; i < count; i++)
        if (s_load_entry(self, config_setting_get_elem(columns, (unsigned)i), file, err, errlen))
            goto fail;
    if (s_find_key(self, columns, file, key_column, key_field, err, errlen))
        goto fail;
    if (s_build_select_list(self)) {
        lt_cfgfile_err(columns, file, err, errlen, "out of memory");
        goto fail;
    }
    return self;
fail:
    lt_rowmap_destroy(&self);
    return NULL;
}

void lt_rowmap_destroy(lt_rowmap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_rowmap_t *self = *self_p;
    for (size_t i = 0; i < self->n; i++) {
        free(self->entries[i].column);
        free(self->entries[i].quoted);
    }
    free(self->entries);
    free(self->select_list);
    free(self);
    *self_p = NULL;
}

size_t lt_rowmap_size(const lt_rowmap_t *self)
{
    return self->n;
}

const char *lt_rowmap_field_name(const lt_rowmap_t *self, size_t i)
{
    return i < self->n ? self->entries[i].field->name : NULL;
}

const char *lt_rowmap_column_name(const lt_rowmap_t *self, size_t i)
{
    return i < self->n ? self->entries[i].column : NULL;
}

const char *lt_rowmap_key_field(const lt_rowmap_t *self)
{
    return self->entries[self->key].field->name;
}

const char *lt_rowmap_key_column(const lt_rowmap_t *self)
{
    return self->entries[self->key].column;
}

const ProtobufCMessageDescriptor *lt_rowmap_descriptor(const lt_rowmap_t *self)
{
    return self->desc;
}

const char *lt_rowmap_select_list(const lt_rowmap_t *self)
{
    return self->select_list;
}

/* ---- SQL text ------------------------------------------------------- */

char *lt_rowmap_sql_select(const lt_rowmap_t *self, const char *table)
{
    char *t = s_quote(table);
    if (!t)
        return NULL;
    s_buf_t b = {0};
    s_add(&b, "SELECT %s FROM %s WHERE %s = ?1", self->select_list, t,
          self->entries[self->key].quoted);
    free(t);
    return s_done(&b);
}

char *lt_rowmap_sql_upsert(const lt_rowmap_t *self, const char *table)
{
    char *t = s_quote(table);
    if (!t)
        return NULL;
    s_buf_t b = {0};
    s_add(&b, "INSERT INTO %s (%s) VALUES (", t, self->select_list);
    for (size_t i = 0; i < self->n; i++)
        s_add(&b, "%s?%zu", i ? ", " : "", i + 1);
    s_add(&b, ") ON CONFLICT(%s) DO ", self->entries[self->key].quoted);
    if (self->n == 1)
        s_add(&b, "NOTHING");
    for (size_t i = 0, first = 1; i < self->n; i++) {
        if (i == self->key)
            continue;
        s_add(&b, "%s%s = excluded.%s", first ? "UPDATE SET " : ", ", self->entries[i].quoted,
              self->entries[i].quoted);
        first = 0;
    }
    free(t);
    return s_done(&b);
}

char *lt_rowmap_sql_delete(const lt_rowmap_t *self, const char *table)
{
    char *t = s_quote(table);
    if (!t)
        return NULL;
    s_buf_t b = {0};
    s_add(&b, "DELETE FROM %s WHERE %s = ?1", t, self->entries[self->key].quoted);
    free(t);
    return s_done(&b);
}

static const char *s_sql_type(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return "TEXT";
    case PROTOBUF_C_TYPE_BYTES:
        return "BLOB";
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return "REAL";
    default:
        return "INTEGER";
    }
}

char *lt_rowmap_sql_create(const lt_rowmap_t *self, const char *table)
{
    char *t = s_quote(table);
    if (!t)
        return NULL;
    s_buf_t b = {0};
    s_add(&b, "CREATE TABLE IF NOT EXISTS %s (", t);
    for (size_t i = 0; i < self->n; i++)
        s_add(&b, "%s%s %s%s", i ? ", " : "", self->entries[i].quoted,
              s_sql_type(self->entries[i].field), i == self->key ? " PRIMARY KEY NOT NULL" : "");
    s_add(&b, ")");
    free(t);
    return s_done(&b);
}

/* ---- row -> record -------------------------------------------------- */

/* Strict decimal parse of the whole text. */
static int s_parse_i64(const char *s, int64_t *v)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

static int s_parse_u64(const char *s, uint64_t *v)
{
    if (!s || !*s || *s == '-')
        return -1;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

/* Signed integer from an INTEGER column, or TEXT holding a decimal number
 * (or, for an enum, a value name). */
static int s_col_i64(sqlite3_stmt *st, int c, const ProtobufCFieldDescriptor *f, int64_t *v)
{
    int type = sqlite3_column_type(st, c);
    if (type == SQLITE_INTEGER) {
        *v = sqlite3_column_int64(st, c);
        return 0;
    }
    if (type != SQLITE_TEXT)
        return -1;
    const char *text = (const char *)sqlite3_column_text(st, c);
    if (f->type == PROTOBUF_C_TYPE_ENUM && text) {
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value_by_name(
            (const ProtobufCEnumDescriptor *)f->descriptor, text);
        if (ev) {
            *v = ev->value;
            return 0;
        }
    }
    if (f->type == PROTOBUF_C_TYPE_BOOL && text &&
        (strcmp(text, "true") == 0 || strcmp(text, "false") == 0)) {
        *v = text[0] == 't';
        return 0;
    }
    return s_parse_i64(text, v);
}

static int s_col_u64(sqlite3_stmt *st, int c, uint64_t *v)
{
    int type = sqlite3_column_type(st, c);
    if (type == SQLITE_INTEGER) {
        int64_t x = sqlite3_column_int64(st, c);
        if (x < 0)
            return -1;
        *v = (uint64_t)x;
        return 0;
    }
    if (type != SQLITE_TEXT)
        return -1;
    return s_parse_u64((const char *)sqlite3_column_text(st, c), v);
}

static int s_col_double(sqlite3_stmt *st, int c, double *v)
{
    int type = sqlite3_column_type(st, c);
    if (type == SQLITE_INTEGER || type == SQLITE_FLOAT) {
        *v = sqlite3_column_double(st, c);
        return 0;
    }
    const char *s = (const char *)sqlite3_column_text(st, c);
    if (type != SQLITE_TEXT || !s || !*s)
        return -1;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return errno || *end ? -1 : 0;
}

/* Sets an integer-like field; checks the range of 32-bit types. */
static int s_set_int(void *p, const ProtobufCFieldDescriptor *f, sqlite3_stmt *st, int c)
{
    int64_t v = 0;
    uint64_t u = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        if (s_col_i64(st, c, f, &v) || v < INT32_MIN || v > INT32_MAX)
            return -1;
        *(int32_t *)p = (int32_t)v;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (s_col_i64(st, c, f, &v))
            return -1;
        *(int64_t *)p = v;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (s_col_u64(st, c, &u) || u > UINT32_MAX)
            return -1;
        *(uint32_t *)p = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (s_col_u64(st, c, &u))
            return -1;
        *(uint64_t *)p = u;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (s_col_i64(st, c, f, &v))
            return -1;
        *(protobuf_c_boolean *)p = v != 0;
        return 0;
    default:
        return -1;
    }
}

/* Sets one field from column c; the column is not NULL. */
static int s_set_field(void *msg, const ProtobufCFieldDescriptor *f, sqlite3_stmt *st, int c)
{
    void *p = (uint8_t *)msg + f->offset;
    int type = sqlite3_column_type(st, c);
    double d;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        if (type == SQLITE_BLOB || !(*(const unsigned char **)p = sqlite3_column_text(st, c)))
            return -1;
        return 0;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = p;
        b->data = (uint8_t *)sqlite3_column_blob(st, c);
        b->len = (size_t)sqlite3_column_bytes(st, c);
        return b->len > 0 && !b->data ? -1 : 0;
    }
    case PROTOBUF_C_TYPE_FLOAT:
        if (s_col_double(st, c, &d))
            return -1;
        *(float *)p = (float)d;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return s_col_double(st, c, (double *)p);
    default:
        return s_set_int(p, f, st, c);
    }
}

/* proto3 `optional` (and proto2 optional) scalars carry a has_ flag. */
static void s_mark_present(void *msg, const ProtobufCFieldDescriptor *f)
{
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        f->type != PROTOBUF_C_TYPE_STRING)
        *(protobuf_c_boolean *)((uint8_t *)msg + f->quantifier_offset) = 1;
}

static const char *s_expected(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return "TEXT or INTEGER";
    case PROTOBUF_C_TYPE_BYTES:
        return "BLOB or TEXT";
    case PROTOBUF_C_TYPE_ENUM:
        return "an INTEGER or the TEXT name of a value of the enum";
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return "a REAL, INTEGER or numeric TEXT";
    default:
        return "an INTEGER (or decimal TEXT) within the field's range";
    }
}

int lt_rowmap_pack_row(const lt_rowmap_t *self, sqlite3_stmt *stmt, int first_col, uint8_t **buf,
                       size_t *len, char *err, size_t errlen)
{
    int rc = -1;
    ProtobufCMessage *msg = calloc(1, self->desc->sizeof_message);
    if (!msg) {
        s_msg(err, errlen, "out of memory");
        return -1;
    }
    self->desc->message_init(msg);
    for (size_t i = 0; i < self->n; i++) {
        const s_entry_t *e = &self->entries[i];
        int c = first_col + (int)i;
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL)
            continue;
        if (s_set_field(msg, e->field, stmt, c) != 0) {
            s_msg(err, errlen, "column '%s' cannot fill field %s.%s: expected %s", e->column,
                  self->desc->name, e->field->name, s_expected(e->field));
            goto out;
        }
        s_mark_present(msg, e->field);
    }
    size_t size = protobuf_c_message_get_packed_size(msg);
    uint8_t *out = malloc(size ? size : 1);
    if (!out) {
        s_msg(err, errlen, "out of memory");
        goto out;
    }
    *len = protobuf_c_message_pack(msg, out);
    *buf = out;
    rc = 0;
out:
    free(msg); /* every pointer inside belongs to the statement */
    return rc;
}

/* ---- record -> row -------------------------------------------------- */

static int s_bind_field(sqlite3_stmt *st, int i, const ProtobufCMessage *msg,
                        const ProtobufCFieldDescriptor *f)
{
    const void *p = (const uint8_t *)msg + f->offset;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        f->type != PROTOBUF_C_TYPE_STRING &&
        !*(const protobuf_c_boolean *)((const uint8_t *)msg + f->quantifier_offset))
        return sqlite3_bind_null(st, i);
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s && *s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT) : sqlite3_bind_null(st, i);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        return b->len ? sqlite3_bind_blob64(st, i, b->data, b->len, SQLITE_TRANSIENT)
                      : sqlite3_bind_null(st, i);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return sqlite3_bind_int(st, i, *(const protobuf_c_boolean *)p ? 1 : 0);
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return sqlite3_bind_int64(st, i, *(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return sqlite3_bind_int64(st, i, *(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return sqlite3_bind_int64(st, i, *(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t u = *(const uint64_t *)p;
        if (u <= INT64_MAX)
            return sqlite3_bind_int64(st, i, (int64_t)u);
        char text[24];
        snprintf(text, sizeof text, "%" PRIu64, u);
        return sqlite3_bind_text(st, i, text, -1, SQLITE_TRANSIENT);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return sqlite3_bind_double(st, i, *(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sqlite3_bind_double(st, i, *(const double *)p);
    default:
        return SQLITE_MISUSE;
    }
}

int lt_rowmap_bind_record(const lt_rowmap_t *self, sqlite3_stmt *stmt, const uint8_t *payload,
                          size_t len, const char *key, char *err, size_t errlen)
{
    ProtobufCMessage *msg = protobuf_c_message_unpack(self->desc, NULL, len, payload);
    if (!msg) {
        s_msg(err, errlen, "payload of %zu bytes is not a valid %s", len, self->desc->name);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < self->n && rc == 0; i++) {
        int param = (int)i + 1;
        int src = (i == self->key && key)
                      ? sqlite3_bind_text(stmt, param, key, -1, SQLITE_TRANSIENT)
                      : s_bind_field(stmt, param, msg, self->entries[i].field);
        if (src != SQLITE_OK) {
            s_msg(err, errlen, "cannot bind column '%s': %s", self->entries[i].column,
                  sqlite3_errstr(src));
            rc = -1;
        }
    }
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}

/* lt_rowmap: generic row <-> record mapping through protobuf-c descriptors.
 *
 * Row -> record fills a calloc'd, initialised message whose string and bytes
 * fields point straight into the row's values (lt_db_row_*); the message is
 * packed while the row is valid and then freed with a plain free(): nothing
 * inside it was allocated by us. Record -> row unpacks with protobuf-c
 * (free_unpacked) and sets the upsert's values (lt_db_param_*, which copy). */
#include "lt_rowmap.h"
#include "lt_err.h"
#include "lt_cfgfile.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistr.h>

typedef struct {
    const ProtobufCFieldDescriptor *field;
    char *column; /* as configured */
} s_entry_t;

struct lt_rowmap_t {
    const ProtobufCMessageDescriptor *desc;
    s_entry_t *entries;
    size_t n;
    size_t key; /* index of the key entry */
    /* The table's columns for lt_db (lt_rowmap_table), in mapping order. */
    const char **columns;
    lt_db_type_t *types;
};

/* ---- small helpers -------------------------------------------------- */

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

static int s_load_entry(lt_rowmap_t *self, const config_setting_t *s, const char *file, char *err,
                        size_t errlen)
{
    const char *name = config_setting_name(s);
    const char *col = config_setting_get_string(s);
    if (!col || !col[0])
        return lt_cfgfile_err(s, file, err, errlen, "'%s' must be a column name in double quotes",
                              name);
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name(self->desc, name);
    if (!f)
        return lt_cfgfile_err(s, file, err, errlen, "field '%s' does not exist in record type %s",
                              name, self->desc->name);
    const char *why = s_unsupported(f);
    if (why)
        return lt_cfgfile_err(s, file, err, errlen, "field '%s' %s", name, why);
    for (size_t i = 0; i < self->n; i++)
        if (strcasecmp(self->entries[i].column, col) == 0)
            return lt_cfgfile_err(s, file, err, errlen,
                                  "column '%s' is mapped twice (fields '%s' and '%s')", col,
                                  self->entries[i].field->name, name);
    s_entry_t *e = &self->entries[self->n];
    e->field = f;
    e->column = strdup(col);
    self->n++; /* counted first, so destroy frees a half-built entry */
    if (!e->column)
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
                              "the key field is not mapped: add %s = \"%s\"; to 'columns'",
                              key_field, key_column);
    return lt_cfgfile_err(columns, file, err, errlen,
                          "key column '%s' is not mapped to any field in 'columns'", key_column);
}

/* The column type create_table gives a field. */
static lt_db_type_t s_db_type(const ProtobufCFieldDescriptor *f)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return LT_DB_TEXT;
    case PROTOBUF_C_TYPE_BYTES:
        return LT_DB_BLOB;
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return LT_DB_REAL;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return LT_DB_UINT64;
    default:
        return LT_DB_INTEGER;
    }
}

static int s_build_table(lt_rowmap_t *self)
{
    self->columns = calloc(self->n, sizeof *self->columns);
    self->types = calloc(self->n, sizeof *self->types);
    if (!self->columns || !self->types)
        return -1;
    for (size_t i = 0; i < self->n; i++) {
        self->columns[i] = self->entries[i].column;
        self->types[i] = s_db_type(self->entries[i].field);
    }
    return 0;
}

lt_rowmap_t *lt_rowmap_new(const ProtobufCMessageDescriptor *desc, const config_setting_t *columns,
                           const char *file, const char *key_column, const char *key_field,
                           char *err, size_t errlen)
{
    if (!desc) {
        lt_err_set(err, errlen, "%s: unknown record type", file);
        return NULL;
    }
    if (!columns) {
        lt_err_set(err, errlen,
                   "%s: missing required group 'columns = { field = \"column\"; ... };'", file);
        return NULL;
    }
    if (!config_setting_is_group(columns) || config_setting_length(columns) == 0) {
        lt_cfgfile_err(
            columns, file, err, errlen,
            "'columns' must be a non-empty group: columns = { field = \"column\"; ... };");
        return NULL;
    }
    lt_rowmap_t *self = calloc(1, sizeof *self);
    if (!self) {
        lt_err_set(err, errlen, "%s: out of memory", file);
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
    if (s_build_table(self)) {
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
    for (size_t i = 0; i < self->n; i++)
        free(self->entries[i].column);
    free(self->entries);
    free(self->columns);
    free(self->types);
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

void lt_rowmap_table(const lt_rowmap_t *self, const char *table, lt_db_table_t *out)
{
    out->name = table;
    out->n_columns = self->n;
    out->columns = self->columns;
    out->types = self->types;
    out->key = self->key;
}

/* ---- row -> record -------------------------------------------------- */

/* Strict decimal parse of the whole text: digits, after a '-' for a signed
 * field. strtoll and strtoull alone would also take leading spaces and a
 * '+', and strtoull a " -1" as 18446744073709551615. */
static int s_parse_i64(const char *s, int64_t *v)
{
    if (!s || !(isdigit((unsigned char)s[0]) || (s[0] == '-' && isdigit((unsigned char)s[1]))))
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
    if (!s || !isdigit((unsigned char)s[0]))
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
static int s_col_i64(const lt_db_row_t *row, size_t c, const ProtobufCFieldDescriptor *f,
                     int64_t *v)
{
    lt_db_type_t type = lt_db_row_type(row, c);
    if (type == LT_DB_INTEGER) {
        *v = lt_db_row_int(row, c);
        return 0;
    }
    if (type != LT_DB_TEXT)
        return -1;
    const char *text = lt_db_row_text(row, c);
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

static int s_col_u64(const lt_db_row_t *row, size_t c, uint64_t *v)
{
    lt_db_type_t type = lt_db_row_type(row, c);
    if (type == LT_DB_INTEGER) {
        int64_t x = lt_db_row_int(row, c);
        if (x < 0)
            return -1;
        *v = (uint64_t)x;
        return 0;
    }
    if (type != LT_DB_TEXT)
        return -1;
    return s_parse_u64(lt_db_row_text(row, c), v);
}

static int s_col_double(const lt_db_row_t *row, size_t c, double *v)
{
    lt_db_type_t type = lt_db_row_type(row, c);
    if (type == LT_DB_INTEGER || type == LT_DB_REAL) {
        *v = lt_db_row_double(row, c);
        return 0;
    }
    const char *s = lt_db_row_text(row, c);
    if (type != LT_DB_TEXT || !s || !*s)
        return -1;
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return errno || *end ? -1 : 0;
}

/* Sets an integer-like field; checks the range of 32-bit types. */
static int s_set_int(void *p, const ProtobufCFieldDescriptor *f, const lt_db_row_t *row, size_t c)
{
    int64_t v = 0;
    uint64_t u = 0;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        if (s_col_i64(row, c, f, &v) || v < INT32_MIN || v > INT32_MAX)
            return -1;
        *(int32_t *)p = (int32_t)v;
        return 0;
    case PROTOBUF_C_TYPE_ENUM:
        /* Only a value the record type defines: another number would be
         * stored and served as a value no reader of the type knows. */
        if (s_col_i64(row, c, f, &v) || v < INT32_MIN || v > INT32_MAX ||
            !protobuf_c_enum_descriptor_get_value(f->descriptor, (int)v))
            return -1;
        *(int32_t *)p = (int32_t)v;
        return 0;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        if (s_col_i64(row, c, f, &v))
            return -1;
        *(int64_t *)p = v;
        return 0;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        if (s_col_u64(row, c, &u) || u > UINT32_MAX)
            return -1;
        *(uint32_t *)p = (uint32_t)u;
        return 0;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        if (s_col_u64(row, c, &u))
            return -1;
        *(uint64_t *)p = u;
        return 0;
    case PROTOBUF_C_TYPE_BOOL:
        if (s_col_i64(row, c, f, &v))
            return -1;
        *(protobuf_c_boolean *)p = v != 0;
        return 0;
    default:
        return -1;
    }
}

/* s_set_field's failures: the value does not convert to the field, is
 * text that is not UTF-8 or holds a NUL, or the backend could not give the
 * value at all (out of memory). They need different messages: the last is
 * no fault of the agency's data. */
enum { S_MISMATCH = -1, S_UNREADABLE = -2, S_NOT_UTF8 = -3, S_NUL = -4 };

/* A string field from column c. Its text must be UTF-8 without NUL: the
 * owner's gateway checks every string of every record (PROTOCOL.md 4.5)
 * and refuses the whole Publish otherwise, and a NUL would cut the text
 * short unseen. A TEXT value in a legacy 8-bit encoding (TCVN3, VNI,
 * Windows-1258; a PostgreSQL SQL_ASCII database) fails here, on its own.
 * *at is the first bad byte (from 0) for S_NOT_UTF8. */
static int s_set_string(const char **p, const lt_db_row_t *row, size_t c, lt_db_type_t type,
                        size_t *at)
{
    if (type == LT_DB_BLOB)
        return S_MISMATCH;
    const char *s = lt_db_row_text(row, c);
    if (!s)
        return S_UNREADABLE;
    size_t n = strlen(s), len = n;
    /* Only TEXT can hold a NUL; its length is the value's, not strlen's.
     * The text is read first: the bytes' length does not convert it. */
    const void *bytes;
    if (type == LT_DB_TEXT && lt_db_row_blob(row, c, &bytes, &len) != 0)
        return S_UNREADABLE;
    if (n != len)
        return S_NUL;
    const uint8_t *bad = u8_check((const uint8_t *)s, len);
    if (bad) {
        *at = (size_t)(bad - (const uint8_t *)s);
        return S_NOT_UTF8;
    }
    *p = s;
    return 0;
}

/* Sets one field from column c; the column is not NULL. 0 or S_* (*at as
 * s_set_string). */
static int s_set_field(void *msg, const ProtobufCFieldDescriptor *f, const lt_db_row_t *row,
                       size_t c, size_t *at)
{
    void *p = (uint8_t *)msg + f->offset;
    lt_db_type_t type = lt_db_row_type(row, c);
    double d;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING:
        return s_set_string((const char **)p, row, c, type, at);
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = p;
        const void *data;
        if (lt_db_row_blob(row, c, &data, &b->len) != 0)
            return S_UNREADABLE;
        b->data = (uint8_t *)data;
        return 0;
    }
    case PROTOBUF_C_TYPE_FLOAT:
        if (s_col_double(row, c, &d))
            return -1;
        *(float *)p = (float)d;
        return 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return s_col_double(row, c, (double *)p);
    default:
        return s_set_int(p, f, row, c);
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
    case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_DOUBLE:
        return "a REAL, INTEGER or numeric TEXT";
    default:
        return "an INTEGER (or decimal TEXT) within the field's range";
    }
}

/* Why enum field f could not be filled: the values it may take, as names
 * and numbers (the count alone when they do not fit), never the value the
 * row had (docs/operations.md, "Records refused by the dataset's rules"). */
static void s_why_enum(const char *type, const ProtobufCFieldDescriptor *f, char *err,
                       size_t errlen)
{
    const ProtobufCEnumDescriptor *e = f->descriptor;
    char values[160] = "";
    size_t len = 0;
    for (unsigned i = 0; i < e->n_values && len < sizeof values; i++)
        len += (size_t)snprintf(values + len, sizeof values - len, "%s%s (%d)", i ? ", " : "",
                                e->values[i].name, e->values[i].value);
    if (len < sizeof values)
        lt_err_set(err, errlen,
                   "cannot fill field %s.%s: expected a value of %s, by name or number: %s", type,
                   f->name, e->name, values);
    else
        lt_err_set(
            err, errlen,
            "cannot fill field %s.%s: expected one of the %u values of %s, by name or number", type,
            f->name, e->n_values, e->name);
}

/* Says why field f of the record could not be filled; returns the code
 * lt_rowmap_pack gives. */
static int s_why(const lt_rowmap_t *self, const ProtobufCFieldDescriptor *f, int set, size_t at,
                 char *err, size_t errlen)
{
    const char *type = self->desc->name;
    if (set == S_UNREADABLE) {
        lt_err_set(err, errlen,
                   "cannot fill field %s.%s: the database's value could not be read "
                   "(out of memory)",
                   type, f->name);
        return -1;
    }
    if (set == S_NOT_UTF8)
        lt_err_set(err, errlen,
                   "cannot fill field %s.%s: the text is not valid UTF-8 at byte %zu (a "
                   "legacy encoding such as TCVN3, VNI or Windows-1258?)",
                   type, f->name, at + 1);
    else if (set == S_NUL)
        lt_err_set(err, errlen, "cannot fill field %s.%s: the text contains a NUL byte", type,
                   f->name);
    else if (f->type == PROTOBUF_C_TYPE_ENUM)
        s_why_enum(type, f, err, errlen);
    else
        lt_err_set(err, errlen, "cannot fill field %s.%s: expected %s", type, f->name,
                   s_expected(f));
    return LT_ROWMAP_BAD_VALUE;
}

int lt_rowmap_pack(const lt_rowmap_t *self, const lt_db_row_t *row, uint8_t **buf, size_t *len,
                   size_t *bad, char *err, size_t errlen)
{
    int rc = -1;
    *bad = self->n;
    if (lt_db_row_count(row) < self->n) {
        lt_err_set(err, errlen, "the row has %zu columns, the mapping %zu", lt_db_row_count(row),
                   self->n);
        return -1;
    }
    ProtobufCMessage *msg = calloc(1, self->desc->sizeof_message);
    if (!msg) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    self->desc->message_init(msg);
    for (size_t i = 0; i < self->n; i++) {
        const s_entry_t *e = &self->entries[i];
        if (lt_db_row_null(row, i))
            continue;
        size_t at = 0;
        int set = s_set_field(msg, e->field, row, i, &at);
        if (set != 0) {
            *bad = i;
            rc = s_why(self, e->field, set, at, err, errlen);
            goto out;
        }
        s_mark_present(msg, e->field);
    }
    size_t size = protobuf_c_message_get_packed_size(msg);
    uint8_t *out = malloc(size ? size : 1);
    if (!out) {
        lt_err_set(err, errlen, "out of memory");
        goto out;
    }
    *len = protobuf_c_message_pack(msg, out);
    *buf = out;
    rc = 0;
out:
    free(msg); /* every pointer inside belongs to the row */
    return rc;
}

int lt_rowmap_pack_row(const lt_rowmap_t *self, const lt_db_row_t *row, uint8_t **buf, size_t *len,
                       char *err, size_t errlen)
{
    size_t bad = self->n;
    char why[256];
    int rc = lt_rowmap_pack(self, row, buf, len, &bad, why, sizeof why);
    if (rc == 0)
        return 0;
    if (bad < self->n)
        lt_err_set(err, errlen, "column '%s' %s", self->entries[bad].column, why);
    else
        lt_err_set(err, errlen, "%s", why);
    return rc;
}

/* ---- record -> row -------------------------------------------------- */

/* Sets column i from field f of msg. Returns 0, or -1 (reason in p). */
static int s_bind_field(lt_db_params_t *p, size_t i, const ProtobufCMessage *msg,
                        const ProtobufCFieldDescriptor *f)
{
    const void *v = (const uint8_t *)msg + f->offset;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset &&
        f->type != PROTOBUF_C_TYPE_STRING &&
        !*(const protobuf_c_boolean *)((const uint8_t *)msg + f->quantifier_offset))
        return lt_db_param_null(p, i);
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)v;
        return s && *s ? lt_db_param_text(p, i, s) : lt_db_param_null(p, i);
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = v;
        return b->len ? lt_db_param_blob(p, i, b->data, b->len) : lt_db_param_null(p, i);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return lt_db_param_int(p, i, *(const protobuf_c_boolean *)v ? 1 : 0);
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return lt_db_param_int(p, i, *(const int32_t *)v);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return lt_db_param_int(p, i, *(const uint32_t *)v);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return lt_db_param_int(p, i, *(const int64_t *)v);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t u = *(const uint64_t *)v;
        if (u <= INT64_MAX)
            return lt_db_param_int(p, i, (int64_t)u);
        char text[24];
        snprintf(text, sizeof text, "%" PRIu64, u);
        return lt_db_param_text(p, i, text);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return lt_db_param_double(p, i, *(const float *)v);
    case PROTOBUF_C_TYPE_DOUBLE:
        return lt_db_param_double(p, i, *(const double *)v);
    default:
        /* s_unsupported refuses every other type when the mapping is built. */
        return -1;
    }
}

int lt_rowmap_bind_record(const lt_rowmap_t *self, lt_db_params_t *params, const uint8_t *payload,
                          size_t len, const char *key, char *err, size_t errlen)
{
    ProtobufCMessage *msg = protobuf_c_message_unpack(self->desc, NULL, len, payload);
    if (!msg) {
        lt_err_set(err, errlen, "payload of %zu bytes is not a valid %s", len, self->desc->name);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < self->n && rc == 0; i++) {
        int set = (i == self->key && key) ? lt_db_param_text(params, i, key)
                                          : s_bind_field(params, i, msg, self->entries[i].field);
        if (set != 0) {
            lt_err_set(err, errlen, "cannot bind column '%s': %s", self->entries[i].column,
                       lt_db_params_error(params));
            rc = -1;
        }
    }
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}

/* fuzz_rowmap: libFuzzer target for the sink adapter's decoding of the
 * records a gateway delivers (adapters/lt_rowmap.c): lt_rowmap_bind_record
 * on payload bytes that come from a remote owner, and the reverse,
 * lt_rowmap_pack_row, on rows of column values.
 *
 * Set-up (once): row mappings built from configuration text as an adapter
 * builds them: every field of lienthong.records.Population (as
 * tests/unit/test_rowmap.c), five of them under other column names (as
 * `lienthong import csv`), every field of Subscriber, of Vaccination (a
 * uint32) and of InsuranceCard, and the scalar fields of lienthong.Record
 * (uint64, bool, bytes, int64: types no record type has yet, which the
 * mapping supports); a SQLite sink table for the Population mapping in a
 * temporary directory (on /dev/shm when available).
 *
 * Each input is used as:
 *  1. the payload of a delivered record, bound for every mapping through an
 *     in-memory parameter set (the key column from the record, then
 *     overridden by a key as the sink does): binding succeeds exactly when
 *     the payload decodes as the mapping's type, then every column is set
 *     once, and the bound values read back as a row pack into a record whose
 *     mapped fields equal the payload's (the key field: the key given),
 *     unless a string of the payload is not UTF-8 or holds a NUL, or an
 *     enum field holds a number its type does not define (then packing may
 *     refuse it);
 *     for Population the same payload is also upserted into the SQLite
 *     table through lt_db_apply and read back with lt_db_read_row, and
 *     must pack to the same bytes;
 *  2. a row: cut into typed column values (a type byte, then 8 bytes for
 *     INTEGER and REAL, a length byte and bytes for TEXT and BLOB), packed
 *     for every mapping. A refusal names a column; a packed record decodes
 *     as the mapping's type, binds, and its bound values pack to the same
 *     bytes again.
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. */
#define _GNU_SOURCE
#include "fuzz_common.h"
#include "lienthong.pb-c.h"
#include "lt_db.h"
#include "lt_db_backend.h"
#include "lt_rowmap.h"
#include "lt_schema.h"
#include "lt_valid.h"
#include "records/population.pb-c.h"

#include <ftw.h>
#include <inttypes.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_COLS 32
#define SINK_KEY "001080000001"

/* The mappings: record type, columns group, key column. */
static const struct {
    const char *type; /* NULL: lienthong.Record */
    const char *columns, *key;
} s_maps[] = {
    {"lienthong.records.Population",
     "columns = { personal_id = \"personal_id\"; full_name = \"full_name\";"
     " date_of_birth = \"date_of_birth\"; sex = \"sex\"; place_of_birth = \"place_of_birth\";"
     " home_town = \"home_town\"; ethnicity = \"ethnicity\"; nationality = \"nationality\";"
     " permanent_province = \"permanent_province\"; permanent_address = \"permanent_address\";"
     " current_province = \"current_province\"; current_address = \"current_address\";"
     " id_card_number = \"id_card_number\"; id_card_issued = \"id_card_issued\";"
     " status = \"status\"; date_of_death = \"date_of_death\"; };",
     "personal_id"},
    {"lienthong.records.Population",
     "columns = { personal_id = \"so_dinh_danh\"; full_name = \"ho_ten\";"
     " date_of_birth = \"ngay_sinh\"; sex = \"gioi_tinh\"; status = \"trang_thai\"; };",
     "so_dinh_danh"},
    {"lienthong.records.Subscriber",
     "columns = { phone_number = \"phone_number\"; owner_personal_id = \"owner_personal_id\";"
     " owner_name = \"owner_name\"; owner_date_of_birth = \"owner_date_of_birth\";"
     " activation_date = \"activation_date\"; status = \"status\"; };",
     "phone_number"},
    {"lienthong.records.Vaccination",
     "columns = { personal_id = \"personal_id\"; vaccine = \"vaccine\"; doses = \"doses\";"
     " first_dose_date = \"first_dose_date\"; last_dose_date = \"last_dose_date\";"
     " facility = \"facility\"; facility_province = \"facility_province\"; };",
     "personal_id"},
    {"lienthong.records.InsuranceCard",
     "columns = { personal_id = \"personal_id\"; card_number = \"card_number\";"
     " valid_from = \"valid_from\"; valid_to = \"valid_to\"; hospital_code = \"hospital_code\";"
     " hospital_name = \"hospital_name\"; benefit_level = \"benefit_level\";"
     " status = \"status\"; };",
     "personal_id"},
    {NULL,
     "columns = { key = \"k\"; seq = \"seq\"; deleted = \"deleted\"; payload = \"payload\";"
     " changed_at_ms = \"changed_at_ms\"; };",
     "k"},
};
#define N_MAPS (sizeof s_maps / sizeof s_maps[0])

/* One column value, owned (text NUL-terminated, blob copied). */
typedef struct {
    lt_db_type_t type;
    int64_t i;
    double d;
    char *text;
    uint8_t *blob;
    size_t len;
    char shown[32]; /* a number as text, for row_text */
} val_t;

/* An in-memory row and parameter set, through the database seam. */
typedef struct {
    lt_db_row_t base;
    const val_t *v;
    size_t n;
} row_t;

typedef struct {
    lt_db_params_t base;
    val_t v[MAX_COLS];
    int set[MAX_COLS];
    size_t n;
} params_t;

static struct {
    int ready;
    char tmp[256];
    lt_rowmap_t *map[N_MAPS];
    lt_db_t *sink;
    int64_t applied;
} G;

/* ---- the in-memory seam ----------------------------------------------------------- */

static void s_val_clear(val_t *v)
{
    free(v->text);
    free(v->blob);
    memset(v, 0, sizeof *v);
}

static size_t s_row_count(const lt_db_row_t *row)
{
    return ((const row_t *)row)->n;
}

static const char *s_row_name(const lt_db_row_t *row, size_t i)
{
    (void)row, (void)i;
    return "column";
}

static const val_t *s_v(const lt_db_row_t *row, size_t i)
{
    const row_t *r = (const row_t *)row;
    if (i >= r->n)
        abort(); /* the mapping read past the row */
    return &r->v[i];
}

static lt_db_type_t s_row_type(const lt_db_row_t *row, size_t i)
{
    return s_v(row, i)->type;
}

/* As SQLite converts: text to a number by its leading digits. */
static int64_t s_row_int(const lt_db_row_t *row, size_t i)
{
    const val_t *v = s_v(row, i);
    if (v->type == LT_DB_REAL)
        return v->d >= -9.2e18 && v->d <= 9.2e18 ? (int64_t)v->d : 0;
    return v->type == LT_DB_TEXT ? strtoll(v->text, NULL, 10) : v->i;
}

static double s_row_double(const lt_db_row_t *row, size_t i)
{
    const val_t *v = s_v(row, i);
    if (v->type == LT_DB_TEXT)
        return strtod(v->text, NULL);
    return v->type == LT_DB_REAL ? v->d : (double)v->i;
}

static const char *s_row_text(const lt_db_row_t *row, size_t i)
{
    val_t *v = (val_t *)s_v(row, i);
    switch (v->type) {
    case LT_DB_TEXT:
        return v->text;
    case LT_DB_BLOB:
        return v->text; /* the blob's bytes, NUL-terminated */
    case LT_DB_INTEGER:
        snprintf(v->shown, sizeof v->shown, "%" PRId64, v->i);
        return v->shown;
    case LT_DB_REAL:
        snprintf(v->shown, sizeof v->shown, "%.17g", v->d);
        return v->shown;
    default:
        return NULL;
    }
}

static int s_row_blob(const lt_db_row_t *row, size_t i, const void **data, size_t *len)
{
    const val_t *v = s_v(row, i);
    *data = NULL;
    *len = 0;
    if (v->type != LT_DB_BLOB && v->type != LT_DB_TEXT)
        return 0;
    *len = v->len;
    *data = v->len ? (v->type == LT_DB_BLOB ? (const void *)v->blob : v->text) : NULL;
    return 0;
}

static val_t *s_p(lt_db_params_t *p, size_t i)
{
    params_t *ps = (params_t *)p;
    if (i >= ps->n || ps->set[i]++)
        abort(); /* a column out of the mapping, or set twice */
    return &ps->v[i];
}

static int s_param_null(lt_db_params_t *p, size_t i)
{
    s_p(p, i)->type = LT_DB_NULL;
    return 0;
}

static int s_param_int(lt_db_params_t *p, size_t i, int64_t x)
{
    val_t *v = s_p(p, i);
    v->type = LT_DB_INTEGER;
    v->i = x;
    return 0;
}

static int s_param_double(lt_db_params_t *p, size_t i, double x)
{
    val_t *v = s_p(p, i);
    v->type = LT_DB_REAL;
    v->d = x;
    return 0;
}

static int s_param_text(lt_db_params_t *p, size_t i, const char *s)
{
    val_t *v = s_p(p, i);
    v->type = LT_DB_TEXT;
    v->len = strlen(s);
    if (!(v->text = strdup(s)))
        abort();
    return 0;
}

static int s_param_blob(lt_db_params_t *p, size_t i, const void *data, size_t len)
{
    val_t *v = s_p(p, i);
    v->type = LT_DB_BLOB;
    v->len = len;
    v->blob = malloc(len ? len : 1);
    v->text = malloc(len + 1);
    if (!v->blob || !v->text)
        abort();
    if (len)
        memcpy(v->blob, data, len), memcpy(v->text, data, len);
    v->text[len] = 0;
    return 0;
}

static const lt_db_ops_t s_ops = {
    .name = "fuzz",
    .row_count = s_row_count,
    .row_name = s_row_name,
    .row_type = s_row_type,
    .row_int = s_row_int,
    .row_double = s_row_double,
    .row_text = s_row_text,
    .row_blob = s_row_blob,
    .param_null = s_param_null,
    .param_int = s_param_int,
    .param_double = s_param_double,
    .param_text = s_param_text,
    .param_blob = s_param_blob,
};

static void s_params_init(params_t *p, size_t n)
{
    memset(p, 0, sizeof *p);
    p->base.ops = &s_ops;
    p->n = n;
}

static void s_params_clear(params_t *p)
{
    for (size_t i = 0; i < p->n; i++)
        s_val_clear(&p->v[i]);
}

/* ---- set-up --------------------------------------------------------------------- */

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void s_cleanup(void)
{
    lt_db_destroy(&G.sink);
    for (size_t i = 0; i < N_MAPS; i++)
        lt_rowmap_destroy(&G.map[i]);
    if (G.tmp[0])
        (void)nftw(G.tmp, s_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static const ProtobufCMessageDescriptor *s_desc(size_t m)
{
    return s_maps[m].type ? lt_schema_find(s_maps[m].type) : &lienthong__record__descriptor;
}

static void s_write_seeds(const char *dir);

static void s_init(void)
{
    if (G.ready)
        return;
    G.ready = 1;
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(G.tmp, sizeof G.tmp, "%s/fuzz-rowmap-XXXXXX", base);
    if (!mkdtemp(G.tmp))
        abort();
    atexit(s_cleanup);
    char err[512] = "";
    for (size_t m = 0; m < N_MAPS; m++) {
        config_t c;
        config_init(&c);
        if (config_read_string(&c, s_maps[m].columns) != CONFIG_TRUE)
            abort();
        G.map[m] = lt_rowmap_new(s_desc(m), config_lookup(&c, "columns"), "fuzz.conf",
                                 s_maps[m].key, NULL, err, sizeof err);
        config_destroy(&c);
        if (!G.map[m] || lt_rowmap_size(G.map[m]) > MAX_COLS) {
            fprintf(stderr, "fuzz_rowmap: mapping %zu: %s\n", m, err);
            abort();
        }
    }
    char path[512];
    snprintf(path, sizeof path, "%s/sink.db", G.tmp);
    lt_db_table_t table;
    lt_rowmap_table(G.map[0], "citizens", &table);
    if (!(G.sink = lt_db_connect(path, NULL, LT_DB_SINK, &table, 1, err, sizeof err))) {
        fprintf(stderr, "fuzz_rowmap: sink: %s\n", err);
        abort();
    }
    const char *seeds = getenv("FUZZ_WRITE_SEEDS");
    if (seeds && seeds[0])
        s_write_seeds(seeds);
}

/* ---- checks ----------------------------------------------------------------------- */

/* Packs the values as a row; 0 with *buf, or -1 with err. */
static int s_pack(size_t m, const val_t *v, uint8_t **buf, size_t *len, char *err, size_t errlen)
{
    row_t row = {{&s_ops}, v, lt_rowmap_size(G.map[m])};
    return lt_rowmap_pack_row(G.map[m], &row.base, buf, len, err, errlen);
}

/* 1 when field f of a and b holds the same value. */
static int s_same(const ProtobufCFieldDescriptor *f, const ProtobufCMessage *a,
                  const ProtobufCMessage *b)
{
    const uint8_t *x = (const uint8_t *)a + f->offset, *y = (const uint8_t *)b + f->offset;
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)x, *t = *(char *const *)y;
        return strcmp(s ? s : "", t ? t : "") == 0;
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *s = (const void *)x, *t = (const void *)y;
        return s->len == t->len && (!s->len || memcmp(s->data, t->data, s->len) == 0);
    }
    case PROTOBUF_C_TYPE_BOOL:
        return !*(const protobuf_c_boolean *)x == !*(const protobuf_c_boolean *)y;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
    case PROTOBUF_C_TYPE_DOUBLE:
        return memcmp(x, y, 8) == 0;
    default:
        return memcmp(x, y, 4) == 0;
    }
}

/* Upserts the payload into the SQLite sink (key overridden), reads the row
 * back and packs it. */
typedef struct {
    const uint8_t *data;
    size_t size;
    int bound;
    uint8_t *buf;
    size_t len;
    int packed;
} sink_ctx_t;

static int s_fill(void *ctx, const lt_db_write_t *w, lt_db_params_t *params, char *err,
                  size_t errlen)
{
    sink_ctx_t *c = ctx;
    c->bound = lt_rowmap_bind_record(G.map[0], params, c->data, c->size, w->key, err, errlen);
    return c->bound;
}

static int s_on_row(void *arg, const lt_db_row_t *row, char *err, size_t errlen)
{
    sink_ctx_t *c = arg;
    c->packed = lt_rowmap_pack_row(G.map[0], row, &c->buf, &c->len, err, errlen);
    return c->packed;
}

static void s_sink(const uint8_t *data, size_t size, const uint8_t *expect, size_t expect_len)
{
    sink_ctx_t c = {data, size, -1, NULL, 0, -1};
    lt_db_write_t w = {SINK_KEY, 0, NULL};
    size_t failed = 0;
    char err[512] = "";
    if (lt_db_apply(G.sink, &w, 1, s_fill, &c, "fuzz", ++G.applied, &failed, err, sizeof err) !=
            0 ||
        c.bound != 0) {
        fprintf(stderr, "fuzz_rowmap: upsert: %s\n", err);
        abort();
    }
    if (lt_db_read_row(G.sink, SINK_KEY, s_on_row, &c, err, sizeof err) != 1 || c.packed != 0) {
        fprintf(stderr, "fuzz_rowmap: read back: %s\n", err);
        abort();
    }
    if (c.len != expect_len || (c.len && memcmp(c.buf, expect, c.len) != 0))
        abort(); /* the SQLite sink changed a value on its way */
    free(c.buf);
}

/* 1 when an enum field of msg holds a number its type does not define,
 * which a row may not give (lt_rowmap packs only defined values). */
static int s_odd_enum(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type == PROTOBUF_C_TYPE_ENUM && f->label != PROTOBUF_C_LABEL_REPEATED &&
            !protobuf_c_enum_descriptor_get_value(
                f->descriptor, *(const int32_t *)((const uint8_t *)msg + f->offset)))
            return 1;
    }
    return 0;
}

/* Leg 1: the input as the payload of a record for mapping m. */
static void s_payload(size_t m, const uint8_t *data, size_t size)
{
    const ProtobufCMessageDescriptor *d = s_desc(m);
    const lt_rowmap_t *map = G.map[m];
    size_t n = lt_rowmap_size(map);
    ProtobufCMessage *orig = protobuf_c_message_unpack(d, NULL, size, data);
    static const char *const keys[] = {NULL, SINK_KEY};
    for (size_t k = 0; k < 2; k++) {
        params_t p;
        s_params_init(&p, n);
        char err[512] = "";
        int rc = lt_rowmap_bind_record(map, &p.base, data, size, keys[k], err, sizeof err);
        if ((rc == 0) != (orig != NULL) || (rc != 0 && !err[0]))
            abort();
        if (rc == 0) {
            for (size_t i = 0; i < n; i++)
                if (p.set[i] != 1)
                    abort(); /* a column left unset */
            uint8_t *buf = NULL;
            size_t len = 0;
            int packed = s_pack(m, p.v, &buf, &len, err, sizeof err);
            /* A string that is not UTF-8, or holds a NUL, packs no more
             * (PROTOCOL.md 4.5): a gateway delivers no such record. Nor
             * does an enum number its type does not define. */
            char where[64];
            if (packed != 0 &&
                (lt_valid_utf8(d, data, size, where, sizeof where) != 0 || s_odd_enum(orig))) {
                s_params_clear(&p);
                continue;
            }
            if (packed != 0) {
                fprintf(stderr, "fuzz_rowmap: mapping %zu: bound values do not pack: %s\n", m, err);
                abort();
            }
            ProtobufCMessage *back = protobuf_c_message_unpack(d, NULL, len, buf);
            if (!back)
                abort();
            const char *key_field = lt_rowmap_key_field(map);
            for (size_t i = 0; i < n; i++) {
                const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(
                    d, lt_rowmap_field_name(map, i));
                if (keys[k] && strcmp(f->name, key_field) == 0) {
                    if (strcmp(*(char *const *)((const uint8_t *)back + f->offset), keys[k]) != 0)
                        abort();
                } else if (!s_same(f, orig, back)) {
                    fprintf(stderr, "fuzz_rowmap: mapping %zu: field %s changed\n", m, f->name);
                    abort();
                }
            }
            protobuf_c_message_free_unpacked(back, NULL);
            if (m == 0 && keys[k])
                s_sink(data, size, buf, len);
            free(buf);
        }
        s_params_clear(&p);
    }
    if (orig)
        protobuf_c_message_free_unpacked(orig, NULL);
}

/* Leg 2: the input cut into column values for mapping m. */
static void s_row(size_t m, const uint8_t *data, size_t size)
{
    const lt_rowmap_t *map = G.map[m];
    size_t n = lt_rowmap_size(map);
    val_t v[MAX_COLS];
    memset(v, 0, sizeof v);
    fuzz_rd_t r = {data, size, 0};
    for (size_t i = 0; i < n; i++) {
        uint8_t t = fuzz_rd_u8(&r);
        v[i].type = (lt_db_type_t)(t % 5);
        if (v[i].type == LT_DB_INTEGER || v[i].type == LT_DB_REAL) {
            uint64_t x = 0;
            if (t & 0x80) /* a small number in one byte */
                x = (uint64_t)(int64_t)(int8_t)fuzz_rd_u8(&r);
            else
                for (int b = 0; b < 8; b++)
                    x = (x << 8) | fuzz_rd_u8(&r);
            v[i].i = (int64_t)x;
            if (v[i].type == LT_DB_REAL)
                memcpy(&v[i].d, &x, sizeof x);
            if (v[i].type == LT_DB_REAL && (t & 0x80))
                v[i].d = (double)(int8_t)x;
        } else if (v[i].type == LT_DB_TEXT || v[i].type == LT_DB_BLOB) {
            size_t len = fuzz_rd_u8(&r);
            v[i].len = len;
            v[i].text = malloc(len + 1);
            v[i].blob = malloc(len ? len : 1);
            if (!v[i].text || !v[i].blob)
                abort();
            for (size_t b = 0; b < len; b++)
                v[i].text[b] = (char)(v[i].blob[b] = fuzz_rd_u8(&r));
            v[i].text[len] = 0;
        }
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[512] = "";
    if (s_pack(m, v, &buf, &len, err, sizeof err) != 0) {
        if (strncmp(err, "column '", 8) != 0)
            abort(); /* a refusal names its column */
    } else {
        params_t p;
        s_params_init(&p, n);
        if (lt_rowmap_bind_record(map, &p.base, buf, len, NULL, err, sizeof err) != 0)
            abort(); /* what the mapping packed, it cannot bind */
        uint8_t *again = NULL;
        size_t again_len = 0;
        if (s_pack(m, p.v, &again, &again_len, err, sizeof err) != 0 || again_len != len ||
            (len && memcmp(again, buf, len) != 0)) {
            fprintf(stderr, "fuzz_rowmap: mapping %zu: row -> record -> row -> record differs\n",
                    m);
            abort();
        }
        free(again);
        s_params_clear(&p);
        free(buf);
    }
    for (size_t i = 0; i < n; i++)
        s_val_clear(&v[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    for (size_t m = 0; m < N_MAPS; m++) {
        s_payload(m, data, size);
        s_row(m, data, size);
    }
    return 0;
}

/* ---- seeds ------------------------------------------------------------------------- */

static void s_write_seeds(const char *dir)
{
    (void)mkdir(dir, 0755);
    uint8_t buf[1024];
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.personal_id = "038090001234";
    p.full_name = "Nguy\xe1\xbb\x85n V\xc4\x83n An";
    p.date_of_birth = "1990-05-17";
    p.sex = LIENTHONG__RECORDS__SEX__SEX_MALE;
    p.home_town = "Thanh H\xc3\xb3"
                  "a";
    p.current_province = "38";
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_DECEASED;
    p.date_of_death = "2024-02-29";
    fuzz_write_seed(dir, "population", buf, lienthong__records__population__pack(&p, buf));
    p.sex = (Lienthong__Records__Sex)-7; /* an enum value no name has */
    p.status = (Lienthong__Records__CitizenStatus)99;
    fuzz_write_seed(dir, "population-odd-enums", buf,
                    lienthong__records__population__pack(&p, buf));
    Lienthong__Record r = LIENTHONG__RECORD__INIT;
    r.seq = UINT64_MAX - 5;
    r.key = "84912345678";
    r.deleted = 1;
    r.payload.data = (uint8_t *)"\x00\x01\xff";
    r.payload.len = 3;
    r.changed_at_ms = -1;
    fuzz_write_seed(dir, "record-scalars", buf, lienthong__record__pack(&r, buf));
    /* Rows (leg 2): TEXT "038090001234", INTEGER 1 (one byte), NULL, a
     * TEXT enum name, a BLOB, a REAL. */
    static const uint8_t row[] = {3,    12,   '0',  '3',  '8',  '0',  '9',  '0', '0',  '0',  '1',
                                  '2',  '3',  '4',  0x81, 1,    0,    3,    16,  'C',  'I',  'T',
                                  'I',  'Z',  'E',  'N',  '_',  'D',  'E',  'C', 'E',  'A',  'S',
                                  'E',  'D',  4,    3,    0xe1, 0xbb, 0x85, 2,   0x40, 0x09, 0x21,
                                  0xfb, 0x54, 0x44, 0x2d, 0x18, 0x83, 0x05};
    fuzz_write_seed(dir, "row-mixed", row, sizeof row);
    static const uint8_t nums[] = {1,   0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 3,
                                   4,   't',  'r',  'u',  'e',  3,    20,   '1',  '8',  '4',
                                   '4', '6',  '7',  '4',  '4',  '0',  '7',  '3',  '7',  '0',
                                   '9', '5',  '5',  '1',  '6',  '1',  '5',  0x81, 0xff};
    fuzz_write_seed(dir, "row-numbers", nums, sizeof nums);
}

/* test_rowmap: CUnit suite for the adapters' building blocks:
 * adapters/lt_rowmap (row -> Population record -> row round trip through
 * the database seam, with enum fields given as integers, names and numeric
 * text, a REAL column for an integer field refused; config errors naming
 * file:line), the source adapter's
 * change-tracking triggers and strict configuration, and demo/lt_popgen
 * (same seed -> same table digest, 12-digit personal ids, NFC names; the
 * insurance cards and vaccinations of those citizens are deterministic and
 * keep the rules of their registers before and after rounds of changes). */
#include "unit_sqlite.h"

#include "lienthong.pb-c.h"
#include "lt_db.h"
#include "lt_db_backend.h"
#include "lt_popgen.h"
#include "lt_rowmap.h"
#include "lt_schema.h"
#include "lt_sink.h"
#include "lt_source.h"
#include "records/population.pb-c.h"

#include <libconfig.h>
#include <sodium.h>
#include <unistd.h>

static char g_dir[512];

static int suite_init(void)
{
    return ut_mkdtemp(g_dir, sizeof g_dir, "rowmap") == 0 && sodium_init() >= 0 ? 0 : -1;
}

static int suite_clean(void)
{
    return ut_rmrf(g_dir);
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", g_dir, name);
}

/* Every Population field mapped to a column of the same name. */
static const char *ALL_COLUMNS =
    "columns = {\n"
    "  personal_id = \"personal_id\"; full_name = \"full_name\";\n"
    "  date_of_birth = \"date_of_birth\"; sex = \"sex\"; place_of_birth = \"place_of_birth\";\n"
    "  home_town = \"home_town\"; ethnicity = \"ethnicity\"; nationality = \"nationality\";\n"
    "  permanent_province = \"permanent_province\"; permanent_address = \"permanent_address\";\n"
    "  current_province = \"current_province\"; current_address = \"current_address\";\n"
    "  id_card_number = \"id_card_number\"; id_card_issued = \"id_card_issued\";\n"
    "  status = \"status\"; date_of_death = \"date_of_death\";\n"
    "};\n";

/* Loads `text` as a config file and builds a mapping for record type desc. */
static lt_rowmap_t *load_map_of(const ProtobufCMessageDescriptor *desc, const char *name,
                                const char *text, const char *key_column, const char *key_field,
                                char *err, size_t errlen)
{
    char path[600];
    path_of(path, sizeof path, name);
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    config_t c;
    config_init(&c);
    lt_rowmap_t *m = NULL;
    if (config_read_file(&c, path) == CONFIG_TRUE)
        m = lt_rowmap_new(desc, config_lookup(&c, "columns"), path, key_column, key_field, err,
                          errlen);
    else
        snprintf(err, errlen, "%.200s:%d: %.200s", path, config_error_line(&c),
                 config_error_text(&c));
    config_destroy(&c);
    return m;
}

/* Loads `text` as a config file and builds a Population mapping. */
static lt_rowmap_t *load_map(const char *name, const char *text, const char *key_column,
                             const char *key_field, char *err, size_t errlen)
{
    return load_map_of(lt_schema_find("lienthong.records.Population"), name, text, key_column,
                       key_field, err, errlen);
}

static sqlite3 *open_db(const char *name)
{
    char path[600];
    path_of(path, sizeof path, name);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    return db;
}

/* The mapping's table `t` in database `name`, through the seam as a sink
 * with create_table. */
static lt_db_t *open_table(lt_rowmap_t *m, const char *name, const char *t)
{
    char path[600], err[512] = "";
    path_of(path, sizeof path, name);
    lt_db_table_t table;
    lt_rowmap_table(m, t, &table);
    lt_db_t *d = lt_db_connect(path, NULL, LT_DB_SINK, &table, 1, err, sizeof err);
    if (!d)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(d != NULL);
    return d;
}

typedef struct {
    const lt_rowmap_t *m;
    uint8_t **buf;
    size_t len;
    int called, rc;
} pack_ctx_t;

static int on_row(void *arg, const lt_db_row_t *row, char *err, size_t errlen)
{
    pack_ctx_t *c = arg;
    c->called = 1;
    c->rc = lt_rowmap_pack_row(c->m, row, c->buf, &c->len, err, errlen);
    return c->rc;
}

/* Packs the row with key `id` of the table of d; returns the packed length or -1. */
static long pack_row(lt_rowmap_t *m, lt_db_t *d, const char *id, uint8_t **buf, char *err,
                     size_t errlen)
{
    pack_ctx_t c = {m, buf, 0, 0, -1};
    int found = lt_db_read_row(d, id, on_row, &c, err, errlen);
    CU_ASSERT_FATAL(c.called); /* the row exists */
    CU_ASSERT(found == (c.rc == 0 ? 1 : -1));
    return c.rc == 0 ? (long)c.len : -1;
}

typedef struct {
    const lt_rowmap_t *m;
    const uint8_t *buf;
    size_t len;
    const char *key;
    int rc;
} bind_ctx_t;

static int fill(void *ctx, const lt_db_write_t *w, lt_db_params_t *params, char *err, size_t errlen)
{
    bind_ctx_t *c = ctx;
    (void)w;
    c->rc = lt_rowmap_bind_record(c->m, params, c->buf, c->len, c->key, err, errlen);
    return c->rc;
}

/* Writes one record (or, with `deleted`, deletes `key`) through the seam.
 * Returns lt_db_apply's result; *bound is lt_rowmap_bind_record's. */
static int write_record(lt_rowmap_t *m, lt_db_t *d, const uint8_t *buf, size_t len, const char *key,
                        int deleted, int *bound, char *err, size_t errlen)
{
    static int64_t seq;
    bind_ctx_t c = {m, buf, len, key, 0};
    lt_db_write_t w = {key ? key : "", deleted, NULL};
    size_t failed = 0;
    int rc = lt_db_apply(d, &w, 1, fill, &c, "test", ++seq, &failed, err, errlen);
    *bound = c.rc;
    return rc;
}

static void upsert(lt_rowmap_t *m, lt_db_t *d, const uint8_t *buf, size_t len)
{
    char err[256] = "";
    int bound = -1;
    int rc = write_record(m, d, buf, len, NULL, 0, &bound, err, sizeof err);
    CU_ASSERT_FATAL(bound == 0);
    CU_ASSERT(rc == 0);
}

static void test_round_trip_population(void)
{
    char err[512] = "";
    lt_rowmap_t *m =
        load_map("all.conf", ALL_COLUMNS, "personal_id", "personal_id", err, sizeof err);
    if (!m)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(m != NULL);
    CU_ASSERT(lt_rowmap_size(m) == 16);
    CU_ASSERT_STRING_EQUAL(lt_rowmap_key_field(m), "personal_id");
    lt_db_t *src = open_table(m, "round.db", "src");
    lt_db_t *dst = open_table(m, "round.db", "dst");
    sqlite3 *db = open_db("round.db");
    /* status given as an enum value name in TEXT, sex as an INTEGER,
     * home_town NULL (-> default -> NULL again). */
    ut_sql_exec(db,
                "INSERT INTO src VALUES ('038090001234', 'Nguyễn Văn An', '1990-05-17', 1, "
                "'Thanh Hóa', NULL, 'Kinh', 'VN', '38', 'Thôn 3, xã Thiệu Đô, Thanh Hóa', '01', "
                "'Số 12 Lê Lợi, phường Cửa Nam, Hà Nội', '038090001234', '2021-06-01', "
                "'CITIZEN_DECEASED', '2024-02-29')");
    uint8_t *buf = NULL;
    long len = pack_row(m, src, "038090001234", &buf, err, sizeof err);
    CU_ASSERT_FATAL(len > 0);
    Lienthong__Records__Population *p =
        lienthong__records__population__unpack(NULL, (size_t)len, buf);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT_STRING_EQUAL(p->personal_id, "038090001234");
    CU_ASSERT_STRING_EQUAL(p->full_name, "Nguyễn Văn An");
    CU_ASSERT(p->sex == LIENTHONG__RECORDS__SEX__SEX_MALE);
    CU_ASSERT(p->status == LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_DECEASED);
    CU_ASSERT_STRING_EQUAL(p->home_town, "");
    CU_ASSERT_STRING_EQUAL(p->date_of_death, "2024-02-29");
    lienthong__records__population__free_unpacked(p, NULL);

    upsert(m, dst, buf, (size_t)len);
    upsert(m, dst, buf, (size_t)len); /* idempotent */
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db,
                                       "SELECT COUNT(*), typeof(status), status, sex, home_town "
                                       "IS NULL, full_name, date_of_death FROM dst",
                                       -1, &st, NULL) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_step(st) == SQLITE_ROW);
    CU_ASSERT(sqlite3_column_int(st, 0) == 1);
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(st, 1), "integer");
    CU_ASSERT(sqlite3_column_int(st, 2) == 2);
    CU_ASSERT(sqlite3_column_int(st, 3) == 1);
    CU_ASSERT(sqlite3_column_int(st, 4) == 1);
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(st, 5), "Nguyễn Văn An");
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(st, 6), "2024-02-29");
    sqlite3_finalize(st);

    /* Back again: dst -> record gives the same bytes (status now INTEGER). */
    uint8_t *again = NULL;
    long len2 = pack_row(m, dst, "038090001234", &again, err, sizeof err);
    CU_ASSERT(len2 == len && again && memcmp(again, buf, (size_t)len) == 0);
    free(again);
    free(buf);
    sqlite3_close(db);
    lt_db_destroy(&src);
    lt_db_destroy(&dst);
    lt_rowmap_destroy(&m);
    CU_ASSERT(m == NULL);
    lt_rowmap_destroy(&m);
}

/* A REAL column for an integer field is a mapping error naming the field,
 * whatever its value (a fraction, one beyond every integer type, one
 * beyond the 64-bit range): never converted, so no value can be cut or
 * overflow (the backends' lt_db_row_int only clamps). */
static void test_real_for_integer_refused(void)
{
    char err[512] = "";
    lt_rowmap_t *m = load_map("real.conf", ALL_COLUMNS, "personal_id", NULL, err, sizeof err);
    CU_ASSERT_FATAL(m != NULL);
    lt_db_t *t = open_table(m, "real.db", "t");
    sqlite3 *db = open_db("real.db");
    ut_sql_exec(db, "INSERT INTO t (personal_id, sex) VALUES ('a', 1.5), ('b', 1e300), "
                    "('c', -9.3e18)");
    static const char *const ids[] = {"a", "b", "c"};
    for (size_t i = 0; i < 3; i++) {
        uint8_t *buf = NULL;
        err[0] = 0;
        CU_ASSERT(pack_row(m, t, ids[i], &buf, err, sizeof err) == -1);
        CU_ASSERT(strstr(err, "cannot fill field lienthong.records.Population.sex") != NULL);
        free(buf);
    }
    sqlite3_close(db);
    lt_db_destroy(&t);
    lt_rowmap_destroy(&m);
}

static void test_enum_text_forms(void)
{
    char err[512] = "";
    lt_rowmap_t *m = load_map("all2.conf", ALL_COLUMNS, "personal_id", NULL, err, sizeof err);
    CU_ASSERT_FATAL(m != NULL);
    lt_db_t *t = open_table(m, "enum.db", "t");
    sqlite3 *db = open_db("enum.db");
    ut_sql_exec(db, "INSERT INTO t(personal_id, sex, status) VALUES ('1', '2', 'CITIZEN_MISSING'), "
                    "('2', 'SEX_FEMALE', 7), ('3', 1, 'CITIZEN_ZOMBIE'), ('4', 'x1', 1), "
                    "('5', 1, 4294967296), ('6', 99, 1), ('7', '-1', 1)");
    uint8_t *buf = NULL;
    long len = pack_row(m, t, "1", &buf, err, sizeof err);
    CU_ASSERT_FATAL(len > 0);
    Lienthong__Records__Population *p =
        lienthong__records__population__unpack(NULL, (size_t)len, buf);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(p->sex == LIENTHONG__RECORDS__SEX__SEX_FEMALE);
    CU_ASSERT(p->status == LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_MISSING);
    lienthong__records__population__free_unpacked(p, NULL);
    free(buf);
    buf = NULL;
    /* A number the enum does not define, as INTEGER or TEXT, is refused
     * like a wrong name: naming the column and the values it may take, but
     * not the value. */
    CU_ASSERT(pack_row(m, t, "2", &buf, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "column 'status'") != NULL);
    CU_ASSERT(strstr(err, "CITIZEN_UNSPECIFIED (0), CITIZEN_ALIVE (1), CITIZEN_DECEASED (2), "
                          "CITIZEN_MISSING (3)") != NULL);
    CU_ASSERT(strstr(err, "7") == NULL);
    static const char *const undefined[] = {"6", "7"};
    for (size_t i = 0; i < 2; i++) {
        err[0] = 0;
        CU_ASSERT(pack_row(m, t, undefined[i], &buf, err, sizeof err) == -1);
        CU_ASSERT(strstr(err, "column 'sex' cannot fill field lienthong.records.Population.sex: "
                              "expected a value of lienthong.records.Sex, by name or number: "
                              "SEX_UNSPECIFIED (0), SEX_MALE (1), SEX_FEMALE (2)") != NULL);
        CU_ASSERT(strstr(err, "99") == NULL && strstr(err, "-1") == NULL);
    }
    CU_ASSERT(buf == NULL);
    CU_ASSERT(pack_row(m, t, "3", &buf, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "column 'status'") != NULL);
    CU_ASSERT(strstr(err, "ZOMBIE") == NULL);
    CU_ASSERT(pack_row(m, t, "4", &buf, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "column 'sex'") != NULL);
    CU_ASSERT(pack_row(m, t, "5", &buf, err, sizeof err) == -1); /* over int32 */
    CU_ASSERT(buf == NULL);
    sqlite3_close(db);
    lt_db_destroy(&t);
    lt_rowmap_destroy(&m);
}

/* The code lt_rowmap_pack_row gave for the row with key id of d's table. */
static int pack_code(lt_rowmap_t *m, lt_db_t *d, const char *id, char *err, size_t errlen)
{
    uint8_t *buf = NULL;
    pack_ctx_t c = {m, &buf, 0, 0, -1};
    CU_ASSERT(lt_db_read_row(d, id, on_row, &c, err, errlen) != 0);
    CU_ASSERT_FATAL(c.called);
    free(buf);
    return c.rc;
}

/* Text that is not UTF-8 (a name in TCVN3), or holds a NUL, is the row's
 * fault like an unknown enum name: refused naming the column and the
 * byte, never the value, rather than packed into a record that the
 * owner's gateway refuses whole (PROTOCOL.md 4.5). */
static void test_text_not_utf8(void)
{
    char err[512] = "";
    lt_rowmap_t *m = load_map("utf8.conf", ALL_COLUMNS, "personal_id", NULL, err, sizeof err);
    CU_ASSERT_FATAL(m != NULL);
    lt_db_t *t = open_table(m, "utf8.db", "t");
    sqlite3 *db = open_db("utf8.db");
    ut_sql_exec(db, "INSERT INTO t(personal_id, full_name, status) VALUES "
                    "('1', CAST(X'4E677579EA6E' AS TEXT), 1), "
                    "('2', CAST(X'4E6700677579' AS TEXT), 1), ('3', 'Nguyễn', 1), "
                    "('4', 'An', 'CITIZEN_ZOMBIE'), ('5', 12, 1)");
    CU_ASSERT(pack_code(m, t, "1", err, sizeof err) == LT_ROWMAP_BAD_VALUE);
    CU_ASSERT(strstr(err, "column 'full_name'") != NULL);
    CU_ASSERT(strstr(err, "not valid UTF-8 at byte 5") != NULL);
    CU_ASSERT(pack_code(m, t, "2", err, sizeof err) == LT_ROWMAP_BAD_VALUE);
    CU_ASSERT(strstr(err, "column 'full_name'") != NULL);
    CU_ASSERT(strstr(err, "NUL") != NULL);
    CU_ASSERT(pack_code(m, t, "3", err, sizeof err) == 0);
    CU_ASSERT(pack_code(m, t, "4", err, sizeof err) == LT_ROWMAP_BAD_VALUE);
    CU_ASSERT(pack_code(m, t, "5", err, sizeof err) == 0); /* an INTEGER as text */
    sqlite3_close(db);
    lt_db_destroy(&t);
    lt_rowmap_destroy(&m);
}

/* A record with the key overridden at bind time, and a tombstone delete. */
static void test_key_override_and_delete(void)
{
    char err[512] = "";
    lt_rowmap_t *m = load_map("kd.conf",
                              "columns = { personal_id = \"id\"; full_name = \"ho ten\"; "
                              "status = \"trang_thai\"; };\n",
                              "ID", NULL, err, sizeof err);
    CU_ASSERT_FATAL(m != NULL);
    lt_db_t *d = open_table(m, "kd.db", "bảng");
    sqlite3 *db = open_db("kd.db");
    /* The seam quotes every identifier: the table has the mapped columns, in
     * mapping order. */
    char cols[256];
    ut_sql_text(db,
                "SELECT group_concat(q, ', ') FROM (SELECT '\"' || name || '\"' AS q "
                "FROM pragma_table_info('bảng') ORDER BY cid)",
                cols, sizeof cols);
    CU_ASSERT_STRING_EQUAL(cols, "\"id\", \"ho ten\", \"trang_thai\"");
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.personal_id = (char *)"111";
    p.full_name = (char *)"Trần Thị Hà";
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    uint8_t buf[256];
    size_t len = lienthong__records__population__pack(&p, buf);
    int bound = -1;
    CU_ASSERT(write_record(m, d, buf, len, "222", 0, &bound, err, sizeof err) == 0);
    CU_ASSERT(bound == 0);
    /* Not a Population at all. */
    static const uint8_t junk[] = {0x0a, 0xff, 0xff};
    CU_ASSERT(write_record(m, d, junk, sizeof junk, NULL, 0, &bound, err, sizeof err) == -1);
    CU_ASSERT(bound == -1);
    CU_ASSERT(strstr(err, "not a valid lienthong.records.Population") != NULL);
    /* The tombstone deletes exactly the row stored under the overriding key. */
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM \"bảng\" WHERE id = '222'") == 1);
    CU_ASSERT(write_record(m, d, NULL, 0, "222", 1, &bound, err, sizeof err) == 0);
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM \"bảng\"") == 0);
    sqlite3_close(db);
    lt_db_destroy(&d);
    lt_rowmap_destroy(&m);
}

/* Each bad mapping is refused with "FILE:LINE:" of the offending setting. */
static void test_config_errors(void)
{
    static const struct {
        const char *text, *key_field, *want;
        int line;
    } cases[] = {
        {"# unknown field\ncolumns = {\n  personal_id = \"id\";\n  nickname = \"nick\";\n};\n",
         "personal_id",
         "field 'nickname' does not exist in record type "
         "lienthong.records.Population",
         4},
        {"columns = {\n  full_name = \"name\";\n};\n", "personal_id", "the key field is not mapped",
         1},
        {"\n\ncolumns = { personal_id = \"pid\"; full_name = \"id\"; };\n", "personal_id",
         "key_field 'personal_id' must be the field mapped to key column 'id'", 3},
        {"columns = {\n  personal_id = \"id\";\n  full_name = 5;\n};\n", NULL,
         "'full_name' must be a column name", 3},
        {"columns = {\n  personal_id = \"id\";\n  full_name = \"ID\";\n};\n", NULL,
         "column 'ID' is mapped twice", 3},
        {"\ncolumns = {};\n", NULL, "must be a non-empty group", 2},
        {"\ncolumns = [\"id\"];\n", NULL, "must be a non-empty group", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char err[512] = "", name[32], path[600];
        snprintf(name, sizeof name, "bad%zu.conf", i);
        path_of(path, sizeof path, name);
        lt_rowmap_t *m = load_map(name, cases[i].text, "id", cases[i].key_field, err, sizeof err);
        CU_ASSERT(m == NULL);
        if (!ut_has_loc(err, path, cases[i].line) || !strstr(err, cases[i].want))
            fprintf(stderr, "case %zu: got \"%s\"\n", i, err);
        CU_ASSERT(ut_has_loc(err, path, cases[i].line));
        CU_ASSERT(strstr(err, cases[i].want) != NULL);
        lt_rowmap_destroy(&m);
    }
}

/* A source configuration: database, columns group, extra settings. */
#define SOURCE_CONF_FMT                                                                            \
    "gateway_socket = \"run/gw.sock\";\n"                                                          \
    "dataset = \"VN/GOV/BCA/population\";\n"                                                       \
    "record_type = \"lienthong.records.Population\";\n"                                            \
    "database = \"%s\";\n"                                                                         \
    "table = \"citizens\";\n"                                                                      \
    "key_column = \"personal_id\";\n"                                                              \
    "key_field = \"personal_id\";\n"                                                               \
    "%s"                                                                                           \
    "%s"

/* The lines `source --check` writes for a configuration with `database`;
 * its result. */
static int source_check(const char *database, char *out, size_t cap)
{
    char path[600], text[4096];
    path_of(path, sizeof path, "src-check.conf");
    snprintf(text, sizeof text, SOURCE_CONF_FMT, database, ALL_COLUMNS, "");
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    FILE *f = fmemopen(out, cap, "w");
    CU_ASSERT_FATAL(f != NULL);
    int rc = lt_source_check(path, f);
    fclose(f);
    out[cap - 1] = 0;
    return rc;
}

/* --check says how to fix what failed: a PostgreSQL connection string it
 * cannot parse is no missing table. */
static void test_source_check_hints(void)
{
    char out[8192] = "";
    CU_ASSERT(source_check("host=db.example port", out, sizeof out) == 1);
    CU_ASSERT(strstr(out, "not a valid PostgreSQL connection string") != NULL);
    CU_ASSERT(strstr(out, "postgresql://USER@HOST") != NULL);
    CU_ASSERT(strstr(out, "every mapped column must exist") == NULL);
    if (!strstr(out, "postgresql://USER@HOST"))
        fprintf(stderr, "%s\n", out);
    /* A SQLite file without the table: the table is what to fix. */
    sqlite3 *db = open_db("check.db");
    ut_sql_exec(db, "CREATE TABLE other(id TEXT PRIMARY KEY)");
    sqlite3_close(db);
    CU_ASSERT(source_check("check.db", out, sizeof out) == 1);
    CU_ASSERT(strstr(out, "every mapped column must exist") != NULL);
    CU_ASSERT(strstr(out, "postgresql://USER@HOST") == NULL);
}

/* The lines `sink --check` writes for a sink into table t of database
 * `database` (create_table as given; no gateway: a warning); its result. */
static int sink_check(const char *database, const char *t, int create, char *out, size_t cap)
{
    char path[600], text[4096];
    path_of(path, sizeof path, "sink-check.conf");
    snprintf(text, sizeof text,
             "gateway_socket = \"no.sock\";\nstream = \"VN/GOV/BCA/population\";\n"
             "record_type = \"lienthong.records.Population\";\ndatabase = \"%s\";\n"
             "table = \"%s\";\nkey_column = \"personal_id\";\ncreate_table = %s;\n"
             "columns = { personal_id = \"personal_id\"; full_name = \"full_name\"; };\n",
             database, t, create ? "true" : "false");
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    FILE *f = fmemopen(out, cap, "w");
    CU_ASSERT_FATAL(f != NULL);
    int rc = lt_sink_check(path, f);
    fclose(f);
    out[cap - 1] = 0;
    return rc;
}

static void text_of(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    out[0] = 0;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
}

/* A check changes nothing: the agency's file keeps its journal mode and
 * gets no table; what the sink would create is told. */
static void test_sink_check_read_only(void)
{
    char out[8192] = "", mode[32], tables[256];
    sqlite3 *db = open_db("agency-check.db");
    ut_sql_exec(db, "PRAGMA journal_mode=DELETE; CREATE TABLE citizens(personal_id TEXT "
                    "PRIMARY KEY, full_name TEXT); CREATE TABLE bad(personal_id TEXT)");
    sqlite3_close(db);
    CU_ASSERT(sink_check("agency-check.db", "citizens", 1, out, sizeof out) == 0);
    CU_ASSERT(strstr(out, "ok       table: citizens\n") != NULL);
    CU_ASSERT(strstr(out, "lt_sink_cursor would be created") != NULL);
    CU_ASSERT(sink_check("agency-check.db", "newtab", 1, out, sizeof out) == 0);
    CU_ASSERT(strstr(out, "newtab would be created") != NULL);
    CU_ASSERT(sink_check("agency-check.db", "newtab", 0, out, sizeof out) == 1);
    CU_ASSERT(strstr(out, "has no table newtab") != NULL);
    CU_ASSERT(sink_check("agency-check.db", "bad", 1, out, sizeof out) == 1);
    CU_ASSERT(strstr(out, "cannot take the mapped columns") != NULL);
    db = open_db("agency-check.db");
    text_of(db, "PRAGMA journal_mode", mode, sizeof mode);
    CU_ASSERT_STRING_EQUAL(mode, "delete");
    text_of(db,
            "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE "
            "type = 'table' ORDER BY name)",
            tables, sizeof tables);
    CU_ASSERT_STRING_EQUAL(tables, "bad,citizens");
    /* A cursor table from before histories: the column is told, not added. */
    ut_sql_exec(db, "CREATE TABLE lt_sink_cursor(stream TEXT PRIMARY KEY, seq INTEGER NOT NULL)");
    CU_ASSERT(sink_check("agency-check.db", "citizens", 0, out, sizeof out) == 0);
    CU_ASSERT(strstr(out, "lt_sink_cursor would be given its history column") != NULL);
    CU_ASSERT(ut_sql_count(db, "SELECT count(*) FROM pragma_table_info('lt_sink_cursor') WHERE "
                               "name = 'history'") == 0);
    sqlite3_close(db);
    if (!strstr(out, "history column"))
        fprintf(stderr, "%s\n", out);
}

/* The tables of database file `name`, in order, comma-separated. */
static void tables_of(const char *name, char *out, size_t cap)
{
    sqlite3 *db = open_db(name);
    text_of(db,
            "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE "
            "type = 'table' AND name <> 'sqlite_sequence' ORDER BY name)",
            out, cap);
    sqlite3_close(db);
}

/* A source's check changes nothing either: no lt_ table, no column, the
 * journal mode kept; what the source would create or add is told. */
static void test_source_check_read_only(void)
{
    char out[8192] = "", mode[32], tables[256], path[600], wal[640], err[512] = "";
    sqlite3 *db = open_db("agency-src.db");
    ut_sql_exec(db, "PRAGMA journal_mode=DELETE; CREATE TABLE citizens(personal_id TEXT PRIMARY "
                    "KEY, full_name TEXT, date_of_birth TEXT, sex INTEGER, place_of_birth TEXT, "
                    "home_town TEXT, ethnicity TEXT, nationality TEXT, permanent_province "
                    "INTEGER, permanent_address TEXT, current_province INTEGER, current_address "
                    "TEXT, id_card_number TEXT, id_card_issued TEXT, status INTEGER, "
                    "date_of_death TEXT)");
    sqlite3_close(db);
    CU_ASSERT(source_check("agency-src.db", out, sizeof out) == 1);
    CU_ASSERT(strstr(out, "no change capture for table citizens") != NULL);
    CU_ASSERT(strstr(out, "lt_source_cursor would be created") != NULL);
    CU_ASSERT(strstr(out, "lt_rejects would be created") != NULL);
    tables_of("agency-src.db", tables, sizeof tables);
    CU_ASSERT_STRING_EQUAL(tables, "citizens");
    /* Change capture installed, then a cursor table from before table_name
     * and no lt_rejects: the columns are told, not added. */
    lt_rowmap_t *m =
        load_map("src-ro.conf", ALL_COLUMNS, "personal_id", "personal_id", err, sizeof err);
    CU_ASSERT_FATAL(m != NULL);
    lt_db_table_t table;
    lt_rowmap_table(m, "citizens", &table);
    path_of(path, sizeof path, "agency-src.db");
    lt_db_t *d = lt_db_connect(path, NULL, LT_DB_SOURCE, &table, 0, err, sizeof err);
    int created = 0;
    CU_ASSERT_FATAL(d != NULL);
    CU_ASSERT(lt_db_capture_install(d, &created, err, sizeof err) == 0);
    lt_db_destroy(&d);
    lt_rowmap_destroy(&m);
    db = open_db("agency-src.db");
    ut_sql_exec(db, "DROP TABLE lt_rejects; DROP TABLE lt_source_cursor; CREATE TABLE "
                    "lt_source_cursor(dataset TEXT PRIMARY KEY, change_id INTEGER NOT NULL)");
    sqlite3_close(db);
    CU_ASSERT(source_check("agency-src.db", out, sizeof out) == 0);
    CU_ASSERT(strstr(out, "change tracking installed") != NULL);
    CU_ASSERT(strstr(out, "lt_source_cursor would be given its missing columns") != NULL);
    CU_ASSERT(strstr(out, "lt_rejects would be created") != NULL);
    if (!strstr(out, "missing columns"))
        fprintf(stderr, "%s\n", out);
    tables_of("agency-src.db", tables, sizeof tables);
    CU_ASSERT_STRING_EQUAL(tables, "citizens,lt_changes,lt_source_cursor");
    db = open_db("agency-src.db");
    CU_ASSERT(ut_sql_count(db, "SELECT count(*) FROM pragma_table_info('lt_source_cursor')") == 2);
    text_of(db, "PRAGMA journal_mode", mode, sizeof mode);
    CU_ASSERT_STRING_EQUAL(mode, "delete");
    sqlite3_close(db);
    snprintf(wal, sizeof wal, "%s-wal", path);
    CU_ASSERT(access(wal, F_OK) != 0);
}

/* The adapters' configuration files are strict too. */
static void test_adapter_config_errors(void)
{
    char path[600], text[4096], err[1024] = "";
    path_of(path, sizeof path, "src-bad.conf");
    snprintf(text, sizeof text, SOURCE_CONF_FMT, "agency.db", ALL_COLUMNS, "colour = \"red\";\n");
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    lt_source_t *s = lt_source_new(path, err, sizeof err);
    CU_ASSERT(s == NULL);
    CU_ASSERT(ut_has_loc(err, path, 17));
    CU_ASSERT(strstr(err, "unknown setting 'colour'") != NULL);

    snprintf(text, sizeof text, SOURCE_CONF_FMT, "agency.db", "", "batch = 0;\n");
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    s = lt_source_new(path, err, sizeof err);
    CU_ASSERT(s == NULL);
    CU_ASSERT(ut_has_loc(err, path, 8));
    CU_ASSERT(strstr(err, "'batch' must be between 1 and") != NULL);

    snprintf(text, sizeof text, SOURCE_CONF_FMT, "agency.db", "", "");
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    s = lt_source_new(path, err, sizeof err);
    CU_ASSERT(s == NULL);
    CU_ASSERT(strstr(err, "missing required group 'columns") != NULL);

    path_of(path, sizeof path, "sink-bad.conf");
    CU_ASSERT_FATAL(ut_write_text(path, "gateway_socket = \"gw.sock\";\nstream = \"x\";\n"
                                        "record_type = \"lienthong.records.Nope\";\n") == 0);
    lt_sink_t *k = lt_sink_new(path, err, sizeof err);
    CU_ASSERT(k == NULL);
    CU_ASSERT(strstr(err, "missing required setting 'database'") != NULL);
    CU_ASSERT_FATAL(ut_write_text(path, "gateway_socket = \"gw.sock\";\nstream = \"x\";\n"
                                        "record_type = \"lienthong.records.Nope\";\n"
                                        "database = \"s.db\"; table = \"t\";\n"
                                        "key_column = \"id\"; create_table = 1;\n") == 0);
    k = lt_sink_new(path, err, sizeof err);
    CU_ASSERT(k == NULL);
    CU_ASSERT(ut_has_loc(err, path, 5));
    CU_ASSERT(strstr(err, "'create_table' must be true or false") != NULL);
}

/* --install lists existing rows once; triggers record every change. */
static void test_source_triggers(void)
{
    char path[600], db_path[600], text[4096], err[1024] = "";
    path_of(db_path, sizeof db_path, "agency.db");
    CU_ASSERT_FATAL(lt_popgen_citizens(db_path, 50, 1, err, sizeof err) == 0);
    path_of(path, sizeof path, "source.conf");
    snprintf(text, sizeof text, SOURCE_CONF_FMT, "agency.db", ALL_COLUMNS, "");
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    lt_source_t *s = lt_source_new(path, err, sizeof err);
    if (!s)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(lt_source_install(s, err, sizeof err) == 0);
    CU_ASSERT(lt_source_install(s, err, sizeof err) == 0); /* idempotent */
    sqlite3 *db = open_db("agency.db");
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM lt_changes") == 50);
    ut_sql_exec(db, "UPDATE citizens SET status = 2 WHERE rowid = 1");
    ut_sql_exec(db, "UPDATE citizens SET personal_id = '099999999999' WHERE rowid = 2");
    ut_sql_exec(db, "DELETE FROM citizens WHERE rowid = 3");
    ut_sql_exec(db,
                "INSERT INTO citizens(personal_id, full_name) VALUES ('001190000001', 'Lê Lan')");
    /* 1 update, key change (old + new), delete, insert. */
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM lt_changes") == 55);
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM lt_changes WHERE id > 50 AND row_key IN "
                               "('099999999999', '001190000001')") == 2);
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM lt_source_cursor") == 0);
    sqlite3_close(db);
    lt_source_destroy(&s);
    CU_ASSERT(s == NULL);
}

/* BLAKE2b over every column of every row in key order. */
static void table_digest(const char *db_path, const char *sql, uint8_t out[32])
{
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(db_path, &db) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    while (sqlite3_step(st) == SQLITE_ROW)
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const unsigned char *v = sqlite3_column_text(st, c);
            int n = sqlite3_column_bytes(st, c);
            crypto_generichash_update(&h, v ? v : (const unsigned char *)"\x01NULL",
                                      v ? (size_t)n : 5);
            crypto_generichash_update(&h, (const unsigned char *)"", 1);
        }
    crypto_generichash_final(&h, out, 32);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* 1 when s is valid UTF-8 without combining marks (U+0300..U+036F): for
 * Vietnamese, every letter then is a precomposed NFC code point. */
static int is_nfc_vietnamese(const unsigned char *s, int *non_ascii)
{
    while (*s) {
        uint32_t cp;
        int n = *s < 0x80 ? 1 : (*s >> 5) == 6 ? 2 : (*s >> 4) == 14 ? 3 : (*s >> 3) == 30 ? 4 : 0;
        if (!n)
            return 0;
        cp = n == 1 ? *s : (uint32_t)(*s & (0x7f >> n));
        for (int i = 1; i < n; i++) {
            if ((s[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (s[i] & 0x3f);
        }
        if (cp >= 0x300 && cp <= 0x36f)
            return 0;
        *non_ascii |= n > 1;
        s += n;
    }
    return 1;
}

static void test_popgen_determinism(void)
{
    static const char *ALL = "SELECT * FROM citizens ORDER BY personal_id";
    char a[600], b[600], c[600], err[512] = "";
    path_of(a, sizeof a, "pop-a.db");
    path_of(b, sizeof b, "pop-b.db");
    path_of(c, sizeof c, "pop-c.db");
    CU_ASSERT_FATAL(lt_popgen_citizens(a, 2000, 42, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_popgen_citizens(b, 2000, 42, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_popgen_citizens(c, 2000, 43, err, sizeof err) == 0);
    uint8_t da[32], db_[32], dc[32];
    table_digest(a, ALL, da);
    table_digest(b, ALL, db_);
    table_digest(c, ALL, dc);
    CU_ASSERT(memcmp(da, db_, 32) == 0);
    CU_ASSERT(memcmp(da, dc, 32) != 0);

    lt_popgen_changes_t ca, cb;
    CU_ASSERT_FATAL(lt_popgen_changes(a, 700, 5, &ca, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_popgen_changes(b, 700, 5, &cb, err, sizeof err) == 0);
    CU_ASSERT(memcmp(&ca, &cb, sizeof ca) == 0);
    CU_ASSERT(ca.moves + ca.deaths + ca.name_fixes + ca.birth_fixes == 700);
    CU_ASSERT(ca.moves_into_38 > 0 && ca.moves_out_of_38 > 0 && ca.deaths > 0);
    table_digest(a, ALL, da);
    table_digest(b, ALL, db_);
    CU_ASSERT(memcmp(da, db_, 32) == 0);

    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(a, &db) == SQLITE_OK);
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM citizens") == 2000);
    CU_ASSERT(ut_sql_count(db,
                           "SELECT COUNT(*) FROM citizens WHERE length(personal_id) <> 12 "
                           "OR personal_id GLOB '*[^0-9]*' OR id_card_number <> personal_id") == 0);
    /* The year of birth is digits 5-6 of the id; province codes are real. */
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM citizens WHERE substr(personal_id, 5, 2) <> "
                               "substr(date_of_birth, 3, 2)") == 0);
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM citizens WHERE status = 2 AND "
                               "date_of_death IS NULL") == 0);
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(DISTINCT permanent_province) FROM citizens") > 40);
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db, "SELECT full_name FROM citizens", -1, &st, NULL) ==
                    SQLITE_OK);
    int all_nfc = 1, non_ascii = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        all_nfc &= is_nfc_vietnamese(sqlite3_column_text(st, 0), &non_ascii);
    CU_ASSERT(all_nfc);
    CU_ASSERT(non_ascii);
    sqlite3_finalize(st);
    /* Nguyễn is about 38% (precomposed ễ: U+1EC5). */
    int64_t nguyen = ut_sql_count(db, "SELECT COUNT(*) FROM citizens WHERE full_name LIKE "
                                      "'Nguy\xe1\xbb\x85n %'");
    CU_ASSERT(nguyen > 600 && nguyen < 900);
    sqlite3_close(db);
}

/* Rows of the insurance-card register breaking one of its rules; the
 * population is attached as pop. */
static int64_t bad_cards(sqlite3 *db)
{
    return ut_sql_count(db,
                        "SELECT COUNT(*) FROM insurance_cards k LEFT JOIN pop.citizens c "
                        "USING (personal_id) WHERE c.personal_id IS NULL "
                        "OR length(card_number) <> 15 "
                        "OR card_number NOT GLOB '[A-Z][A-Z][1-5][0-9][0-9]*' "
                        "OR substr(card_number, 6) GLOB '*[^0-9]*' "
                        "OR substr(card_number, 3, 1) <> benefit_level "
                        "OR date(valid_from) IS NOT valid_from OR date(valid_to) IS NOT valid_to "
                        "OR valid_to <= valid_from OR valid_from > '2025-12-31' "
                        "OR valid_from < c.date_of_birth "
                        "OR length(hospital_code) <> 5 OR hospital_code GLOB '*[^0-9]*' "
                        "OR hospital_name = '' OR k.status NOT IN (1, 2, 3) "
                        "OR (k.status = 2 AND valid_to >= '2025-01-01')");
}

static int64_t bad_vaccinations(sqlite3 *db)
{
    return ut_sql_count(db, "SELECT COUNT(*) FROM vaccinations v LEFT JOIN pop.citizens c "
                            "USING (personal_id) WHERE c.personal_id IS NULL "
                            "OR vaccine NOT IN ('COVID-19', 'HepB', 'Td', 'HPV', 'MR') "
                            "OR doses < 1 OR doses > 4 "
                            "OR date(first_dose_date) IS NOT first_dose_date "
                            "OR date(last_dose_date) IS NOT last_dose_date "
                            "OR last_dose_date < first_dose_date OR last_dose_date > '2025-12-31' "
                            "OR first_dose_date <= c.date_of_birth "
                            "OR (doses = 1 AND last_dose_date <> first_dose_date) "
                            "OR facility = '' OR length(facility_province) <> 2 "
                            "OR facility_province GLOB '*[^0-9]*'");
}

static void test_popgen_other_owners(void)
{
    char pop[600], a[600], b[600], va[600], vb[600], err[512] = "";
    path_of(pop, sizeof pop, "owners-pop.db");
    path_of(a, sizeof a, "cards-a.db");
    path_of(b, sizeof b, "cards-b.db");
    path_of(va, sizeof va, "vacc-a.db");
    path_of(vb, sizeof vb, "vacc-b.db");
    CU_ASSERT_FATAL(lt_popgen_citizens(pop, 3000, 7, err, sizeof err) == 0);
    lt_popgen_changes_t deaths;
    CU_ASSERT_FATAL(lt_popgen_changes(pop, 300, 8, &deaths, err, sizeof err) == 0);
    lt_popgen_cards_t ca, cb;
    lt_popgen_vaccinations_t vca, vcb;
    CU_ASSERT_FATAL(lt_popgen_cards(a, pop, 9, &ca, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_popgen_cards(b, pop, 9, &cb, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_popgen_vaccinations(va, pop, 9, &vca, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_popgen_vaccinations(vb, pop, 9, &vcb, err, sizeof err) == 0);
    CU_ASSERT(memcmp(&ca, &cb, sizeof ca) == 0 && memcmp(&vca, &vcb, sizeof vca) == 0);
    uint8_t d1[32], d2[32];
    table_digest(a, "SELECT * FROM insurance_cards ORDER BY personal_id", d1);
    table_digest(b, "SELECT * FROM insurance_cards ORDER BY personal_id", d2);
    CU_ASSERT(memcmp(d1, d2, 32) == 0);
    table_digest(va, "SELECT * FROM vaccinations ORDER BY personal_id", d1);
    table_digest(vb, "SELECT * FROM vaccinations ORDER BY personal_id", d2);
    CU_ASSERT(memcmp(d1, d2, 32) == 0);

    sqlite3 *db = NULL;
    char sql[700];
    CU_ASSERT_FATAL(sqlite3_open(a, &db) == SQLITE_OK);
    snprintf(sql, sizeof sql, "ATTACH '%s' AS pop", pop);
    ut_sql_exec(db, sql);
    int64_t living = ut_sql_count(db, "SELECT COUNT(*) FROM pop.citizens WHERE status = 1");
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM insurance_cards") == (int64_t)ca.cards);
    CU_ASSERT(ca.cards > (uint64_t)living * 85 / 100 && ca.cards < (uint64_t)living * 99 / 100);
    CU_ASSERT(ca.expired > 0 && ca.suspended > 0);
    CU_ASSERT(bad_cards(db) == 0);
    /* Only living citizens; the hospital is in the province they live in. */
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM insurance_cards JOIN pop.citizens c "
                               "USING (personal_id) WHERE c.status <> 1 OR "
                               "substr(hospital_code, 1, 2) <> c.current_province") == 0);
    lt_popgen_card_changes_t cc;
    CU_ASSERT_FATAL(lt_popgen_card_changes(a, 600, 10, &cc, err, sizeof err) == 0);
    CU_ASSERT(cc.renewals + cc.hospital_moves + cc.suspensions + cc.reinstatements +
                  cc.cancellations ==
              600);
    CU_ASSERT(cc.renewals > 0 && cc.suspensions > 0 && cc.cancellations > 0);
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM insurance_cards") ==
              (int64_t)(ca.cards - cc.cancellations));
    CU_ASSERT(bad_cards(db) == 0);
    sqlite3_close(db);

    CU_ASSERT_FATAL(sqlite3_open(va, &db) == SQLITE_OK);
    ut_sql_exec(db, sql);
    CU_ASSERT(vca.records > (uint64_t)living * 40 / 100 &&
              vca.records < (uint64_t)living * 70 / 100);
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(DISTINCT vaccine) FROM vaccinations") >= 4);
    CU_ASSERT(bad_vaccinations(db) == 0);
    lt_popgen_vaccination_changes_t vc;
    CU_ASSERT_FATAL(lt_popgen_vaccination_changes(va, 600, 11, &vc, err, sizeof err) == 0);
    CU_ASSERT(vc.doses + vc.facility_fixes + vc.withdrawals == 600);
    CU_ASSERT(vc.doses > 0 && vc.withdrawals > 0 && vc.into_38 > 0 && vc.out_of_38 > 0);
    CU_ASSERT(ut_sql_count(db, "SELECT COUNT(*) FROM vaccinations") ==
              (int64_t)(vca.records - vc.withdrawals));
    CU_ASSERT(bad_vaccinations(db) == 0);
    sqlite3_close(db);
}

/* A backend's row of a Record (key TEXT, payload BLOB) whose blob
 * accessor fails, as libpq's unescaping does when out of memory. */
static size_t fake_count(const lt_db_row_t *row)
{
    (void)row;
    return 2;
}

static lt_db_type_t fake_type(const lt_db_row_t *row, size_t i)
{
    (void)row;
    return i == 0 ? LT_DB_TEXT : LT_DB_BLOB;
}

static const char *fake_text(const lt_db_row_t *row, size_t i)
{
    (void)row;
    (void)i;
    return "k1";
}

/* Fails for the blob (column 1); the key's text (column 0) has its length. */
static int fake_blob_fails(const lt_db_row_t *row, size_t i, const void **data, size_t *len)
{
    *data = i == 0 ? fake_text(row, i) : NULL;
    *len = i == 0 ? strlen(fake_text(row, i)) : 0;
    return i == 0 ? 0 : -1;
}

static void test_blob_failure_fails_pack(void)
{
    char err[512] = "";
    lt_rowmap_t *m = load_map_of(&lienthong__record__descriptor, "record.conf",
                                 "columns = { key = \"key\"; payload = \"payload\"; };\n", "key",
                                 "key", err, sizeof err);
    if (!m)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(m != NULL);
    static const lt_db_ops_t ops = {.name = "fake",
                                    .row_count = fake_count,
                                    .row_type = fake_type,
                                    .row_text = fake_text,
                                    .row_blob = fake_blob_fails};
    lt_db_row_t row = {&ops};
    uint8_t *buf = NULL;
    size_t len = 0;
    /* Not an empty payload published: the row fails, naming the column. */
    CU_ASSERT(lt_rowmap_pack_row(m, &row, &buf, &len, err, sizeof err) == -1);
    CU_ASSERT(buf == NULL);
    CU_ASSERT(strstr(err, "column 'payload'") != NULL);
    CU_ASSERT(strstr(err, "could not be read") != NULL);
    free(buf);
    lt_rowmap_destroy(&m);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"row -> Population -> row round trip", test_round_trip_population},
        {"enum columns as integers, names and numeric text", test_enum_text_forms},
        {"a REAL column for an integer field is refused", test_real_for_integer_refused},
        {"text not UTF-8 or with a NUL is the row's fault", test_text_not_utf8},
        {"key override, quoted identifiers, delete", test_key_override_and_delete},
        {"mapping errors name file:line", test_config_errors},
        {"a blob the backend cannot read fails the row", test_blob_failure_fails_pack},
        {"adapter configuration is strict", test_adapter_config_errors},
        {"source --check: the fix hint follows what failed", test_source_check_hints},
        {"sink --check changes nothing in the agency's database", test_sink_check_read_only},
        {"source --check changes nothing in the agency's database", test_source_check_read_only},
        {"source --install: seeded change table and triggers", test_source_triggers},
        {"popgen: deterministic, 12-digit ids, NFC names", test_popgen_determinism},
        {"popgen: insurance cards and vaccinations keep their rules", test_popgen_other_owners},
        {NULL, NULL},
    };
    return ut_main("rowmap", suite_init, suite_clean, tests);
}

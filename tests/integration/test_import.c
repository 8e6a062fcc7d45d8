/* test_import: `lienthong import csv` with a real owner gateway on
 * 127.0.0.1 and a sink attached to the owner's own dataset, which writes
 * what the gateway stored into a SQLite table.
 *
 * Proves: a CSV export with RFC 4180 quoting, Vietnamese text, empty fields
 * and one row of each kind of fault (too few and too many columns, a bad
 * date, invalid UTF-8, a letter in a citizen id, a duplicate key, a value
 * the field cannot take) gives exactly the expected report lines and exit
 * status 3, and every good row lands (the sink's table is exactly them);
 * --dry-run reports the same and publishes nothing; importing the file
 * again leaves the same table; a stray quote rejects its row alone, the
 * rows after it read again and valid; rows the gateway would refuse with
 * their whole Publish (a key over 256 bytes, a record over 1 MiB) and an
 * enum number the type does not define are rejected alone, in a dry run and
 * an import, and every other row lands; a dataset the member does not own is
 * an error naming the gateway's refusal; no gateway is an error at once; a
 * report that cannot be written (a full disk) is an error naming it, exit 4.
 *
 * Usage: test_import /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_itest.h"

#include <CUnit/Basic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ID_BCA   "VN/GOV/BCA"
#define DS       "VN/GOV/BCA/population"
#define READY_MS 30000

static const char *s_dir_extra =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_BCA "\";"
    " type = \"lienthong.records.Population\"; key = \"personal_id\"; },\n"
    " { id = \"VN/GOV/BHXH/insured\"; owner = \"VN/GOV/BHXH\";"
    " type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n";

#define IMPORT_CONF                                                                                \
    "gateway_socket = \"%s\";\n"                                                                   \
    "dataset = \"%s\";\n"                                                                          \
    "record_type = \"lienthong.records.Population\";\n"                                            \
    "key_field = \"personal_id\";\n"                                                               \
    "columns = { personal_id = \"so_dinh_danh\"; full_name = \"ho_ten\";"                          \
    " date_of_birth = \"ngay_sinh\"; sex = \"gioi_tinh\"; current_address = \"dia_chi\";"          \
    " status = \"trang_thai\"; };\n"                                                               \
    "checks = { personal_id = \"digits:12\"; date_of_birth = \"date\"; };\n"                       \
    "batch = 3;\n"

#define SINK_CONF                                                                                  \
    "gateway_socket = \"%s\";\nstream = \"" DS "\";\n"                                             \
    "record_type = \"lienthong.records.Population\";\ndatabase = \"%s\";\n"                        \
    "table = \"citizens\";\nkey_column = \"personal_id\";\ncreate_table = true;\n"                 \
    "columns = { personal_id = \"personal_id\"; full_name = \"full_name\";"                        \
    " date_of_birth = \"date_of_birth\"; sex = \"sex\"; current_address = \"current_address\";"    \
    " status = \"status\"; };\n"

static const char *s_csv =
    "so_dinh_danh,ho_ten,ngay_sinh,gioi_tinh,dia_chi,trang_thai\n"
    "038084915725,\"Nguyễn Văn An\",1984-05-02,1,\"Số 5, đường \"\"Lê Lợi\"\"\",1\n"
    "03808491572A,Trần Thị Bình,1990-01-01,2,Hà Nội,1\n"
    "038084915726,Lê Văn Cường,1990-02-30,1,Huế,1\n"
    "038084915727,Phạm Dũng,1991-03-03,1\n"
    "038084915725,Đỗ Hùng,1984-05-02,1,Hải Phòng,1\n"
    "038084915728,\"Hoàng\nHuy\",2000-01-01,,,\n"
    "038084915729,\xc3\x28,2000-01-01,1,Vinh,1\n"
    "038084915730,Vũ Hà,2000-01-01,NAM,Vinh,1\n"
    "038084915731,Võ Lan,2000-01-01,1,Vinh,1,thừa\n"
    "038084915732,\"Bùi Thị Thu\",2000-02-29,SEX_FEMALE,,CITIZEN_DECEASED\n"
    "038084915733,Đặng Quốc Việt,1975-12-31,1,\"Thanh Hóa\",1\n"
    "038084915734,Ngô Minh,1980-07-07,1,Thanh Hóa,2\n";

/* The exact report: file:line: column NAME: reason. */
#define REPORT(f)                                                                                  \
    f ":3: column so_dinh_danh: must be 12 digits 0-9\n" f                                         \
      ":4: column ngay_sinh: not a date YYYY-MM-DD\n" f                                            \
      ":5: column dia_chi: missing (the row has 4 of the header's 6 columns)\n" f                  \
      ":6: column so_dinh_danh: duplicate key, first on line 2\n" f                                \
      ":9: column ho_ten: invalid UTF-8 at byte 1\n" f                                             \
      ":10: column gioi_tinh: cannot fill field lienthong.records.Population.sex: expected a "     \
      "value of lienthong.records.Sex, by name or number: SEX_UNSPECIFIED (0), SEX_MALE (1), "     \
      "SEX_FEMALE (2)\n" f ":11: column 7: extra (the row has 7 columns, the header 6)\n"

/* What the sink's table must hold: the six good rows. */
static const char *s_expected = "038084915725|Nguyễn Văn An|1984-05-02|1|Số 5, đường \"Lê Lợi\"|1\n"
                                "038084915728|Hoàng\nHuy|2000-01-01|0||0\n"
                                "038084915732|Bùi Thị Thu|2000-02-29|2||2\n"
                                "038084915733|Đặng Quốc Việt|1975-12-31|1|Thanh Hóa|1\n"
                                "038084915734|Ngô Minh|1980-07-07|1|Thanh Hóa|2\n";

typedef struct {
    lt_it_fed_t f;
    lt_it_gw_t *gw;
    lt_it_proc_t sink;
    char csv[PATH_MAX], conf[PATH_MAX], report[PATH_MAX], out[PATH_MAX], db[PATH_MAX];
    char sink_conf[PATH_MAX];
    int ready;
} world_t;

static world_t s_w;

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int s_setup(world_t *w)
{
    memset(w, 0, sizeof *w);
    if (lt_it_fed_init(&w->f, "VN") != 0)
        return -1;
    w->f.extra_source = s_dir_extra;
    lt_it_member_t *m = lt_it_member_add(&w->f, ID_BCA, 1);
    if (!m || !lt_it_member_add(&w->f, "VN/GOV/BHXH", 1) ||
        !(w->gw = lt_it_gw_new(&w->f, m, 1, NULL, NULL)))
        return -1;
    const char *d = w->f.dir;
    snprintf(w->csv, sizeof w->csv, "%.4000s/công dân.csv", d);
    snprintf(w->conf, sizeof w->conf, "%.4000s/import.conf", d);
    snprintf(w->report, sizeof w->report, "%.4000s/report.txt", d);
    snprintf(w->out, sizeof w->out, "%.4000s/import.out", d);
    snprintf(w->db, sizeof w->db, "%.4000s/copy.db", d);
    snprintf(w->sink_conf, sizeof w->sink_conf, "%.4000s/sink.conf", d);
    snprintf(w->sink.log_path, sizeof w->sink.log_path, "%.4000s/sink.log", d);
    w->sink.args[0] = "sink";
    w->sink.args[1] = "--config";
    w->sink.args[2] = w->sink_conf;
    if (lt_it_write_file(w->csv, s_csv) ||
        lt_it_write_fmt(w->conf, IMPORT_CONF, w->gw->sock_path, DS) ||
        lt_it_write_fmt(w->sink_conf, SINK_CONF, w->gw->sock_path, w->db) ||
        lt_it_gw_run(w->gw, READY_MS) || lt_it_proc_start(&w->sink))
        return -1;
    return 0;
}

static int s_init(void)
{
    s_w.ready = s_setup(&s_w) == 0;
    return 0;
}

static int s_clean(void)
{
    lt_it_cleanup_all();
    lt_it_fed_cleanup(&s_w.f);
    return 0;
}

static void s_keep(void)
{
}

/* Runs the import, with one or two more options (or NULL); returns its
 * exit status. */
static int s_import(world_t *w, const char *a, const char *b)
{
    const char *args[10] = {"import", "csv", "--config", w->conf, "--report", w->report};
    size_t n = 6;
    if (a)
        args[n++] = a;
    if (b)
        args[n++] = b;
    args[n++] = w->csv;
    args[n] = NULL;
    return lt_it_run_cli(w->f.dir, w->out, args, 60000);
}

static char *s_read(const char *path)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    size_t cap = 0;
    if (f && getdelim(&text, &cap, 0, f) < 0) {
        free(text);
        text = NULL;
    }
    if (f)
        fclose(f);
    return text ? text : strdup("");
}

/* The report with the file's path as the import prints it. */
static void s_check_report(world_t *w)
{
    char *got = s_read(w->report), *want = NULL;
    const char *f = w->csv;
    CU_ASSERT_FATAL(asprintf(&want, REPORT("%s"), f, f, f, f, f, f, f) > 0);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "import: report:\n%s\nexpected:\n%s\n", got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    free(got);
    free(want);
}

static uint64_t s_last_seq(world_t *w)
{
    uint64_t last = 0;
    Lienthong__Envelope *env = lt_it_gw_status(w->gw, 5000);
    for (size_t i = 0; env && i < env->status_reply->n_streams; i++)
        if (strcmp(env->status_reply->streams[i]->stream, DS) == 0)
            last = env->status_reply->streams[i]->last_seq;
    lt_wire_free(&env);
    return last;
}

/* The sink's table as "col|col|...\n" in key order. */
static char *s_table(world_t *w)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (sqlite3_open_v2(w->db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT personal_id || '|' || full_name || '|' || "
                           "COALESCE(date_of_birth, '') || '|' || sex || '|' || "
                           "COALESCE(current_address, '') || '|' || status FROM citizens "
                           "ORDER BY personal_id",
                           -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            fprintf(f, "%s\n", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    fclose(f);
    return out;
}

static int s_table_is(world_t *w, const char *want, int timeout_ms)
{
    int64_t end = lt_it_ms() + timeout_ms;
    for (;;) {
        char *t = s_table(w);
        int same = strcmp(t, want) == 0;
        if (!same && lt_it_ms() >= end)
            fprintf(stderr, "import: table:\n%s\nexpected:\n%s\n", t, want);
        free(t);
        if (same || lt_it_ms() >= end)
            return same;
        s_sleep_ms(100);
    }
}

static void test_dry_run(void)
{
    world_t *w = &s_w;
    LT_IT_REQUIRE(w->ready);
    CU_ASSERT_EQUAL(s_import(w, "--dry-run", NULL), 3);
    s_check_report(w);
    CU_ASSERT(lt_it_file_contains(w->out, "12 rows, 5 valid (dry run), 7 rejected"));
    CU_ASSERT_EQUAL(s_last_seq(w), 0);
out:
    return;
}

/* A report on a full disk: the rejected rows are not lost in silence (the
 * import used to exit 3 as with a good report, which held nothing). */
static void test_report_full(void)
{
    world_t *w = &s_w;
    LT_IT_REQUIRE(w->ready);
    const char *args[] = {"import",    "csv",       "--config", w->conf, "--report",
                          "/dev/full", "--dry-run", w->csv,     NULL};
    int rc = lt_it_run_cli(w->f.dir, w->out, args, 60000);
    CU_ASSERT_EQUAL(rc, 4);
    CU_ASSERT(lt_it_file_contains(w->out, "cannot write the report of rejected rows to "
                                          "/dev/full: No space left on device"));
    if (rc != 4)
        lt_it_file_dump(w->out);
out:
    return;
}

static void test_import(void)
{
    world_t *w = &s_w;
    LT_IT_REQUIRE(w->ready);
    int rc = s_import(w, NULL, NULL);
    if (rc != 3)
        CU_ASSERT_EQUAL(rc, 3);
    s_check_report(w);
    CU_ASSERT(lt_it_file_contains(w->out, "12 rows, 5 published, 7 rejected"));
    CU_ASSERT_EQUAL(s_last_seq(w), 5); /* durable at the owner when the import ended */
    CU_ASSERT(s_table_is(w, s_expected, 20000));
out:
    return;
}

static void test_again(void)
{
    world_t *w = &s_w;
    LT_IT_REQUIRE(w->ready);
    CU_ASSERT_EQUAL(s_import(w, NULL, NULL), 3);
    s_check_report(w);
    CU_ASSERT_EQUAL(s_last_seq(w), 10);
    s_sleep_ms(500);
    CU_ASSERT(s_table_is(w, s_expected, 20000));
    /* A semicolon file, the delimiter from the command line: one row
     * changes, the others stay. */
    LT_IT_REQUIRE(lt_it_write_file(w->csv, "so_dinh_danh;ho_ten;ngay_sinh;gioi_tinh;dia_chi;"
                                           "trang_thai\n038084915733;\"Đặng Quốc Việt; Jr\";"
                                           "1975-12-31;1;Thanh Hóa, Việt Nam;1\n") == 0);
    CU_ASSERT_EQUAL(s_import(w, "--delimiter", ";"), 0);
    char *want = strdup(s_expected);
    LT_IT_REQUIRE(want != NULL);
    char *row = strstr(want, "038084915733|");
    const char *changed = "038084915733|Đặng Quốc Việt; Jr|1975-12-31|1|Thanh Hóa, Việt Nam|1\n";
    char *expect = NULL;
    LT_IT_REQUIRE(row && asprintf(&expect, "%.*s%s%s", (int)(row - want), want, changed,
                                  strchr(row, '\n') + 1) > 0);
    CU_ASSERT(s_table_is(w, expect, 20000));
    free(want);
    free(expect);
out:
    return;
}

/* A stray quote on line 2 runs on to the quote of line 4: row 2 alone is
 * rejected, rows 3 and 4 are read again and valid. */
static void test_stray_quote(void)
{
    world_t *w = &s_w;
    LT_IT_REQUIRE(w->ready);
    LT_IT_REQUIRE(lt_it_write_file(w->csv, "so_dinh_danh,ho_ten,ngay_sinh,gioi_tinh,dia_chi,"
                                           "trang_thai\n"
                                           "038084915741,\"Nguyễn Văn A,1990-01-01,1,Huế,1\n"
                                           "038084915742,Trần Thị B,1991-02-02,2,Huế,1\n"
                                           "038084915743,Lê Văn C,1992-03-03,1,\"Vinh\",1\n") == 0);
    CU_ASSERT_EQUAL(s_import(w, "--dry-run", NULL), 3);
    char *got = s_read(w->report), *want = NULL;
    CU_ASSERT_FATAL(asprintf(&want,
                             "%s:2: column ho_ten: malformed quoting on line 4, in a row whose "
                             "quoted fields run on from line 2 (a stray quote?); lines 3-4 are "
                             "read again as rows of their own\n",
                             w->csv) > 0);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT(lt_it_file_contains(w->out, "3 rows, 2 valid (dry run), 1 rejected"));
    free(got);
    free(want);
out:
    return;
}

/* A key over 256 bytes (the key column without a digits check), a row of
 * 1 MiB and more, an enum number that Sex does not define: each row
 * rejected alone, naming lengths and values allowed, not the value. The
 * others, in Publishes of 3 with them, all land: the gateway would refuse a
 * whole Publish holding such a key, and the import stop there. */
static void test_unpublishable(void)
{
    world_t *w = &s_w;
    char *text = NULL, *got = NULL, *want = NULL, *conf = NULL, *table = NULL;
    LT_IT_REQUIRE(w->ready);
    size_t big = (1u << 20) + 100;
    LT_IT_REQUIRE((text = malloc(big + 4096)) != NULL);
    int n = sprintf(text,
                    "so_dinh_danh,ho_ten,ngay_sinh,gioi_tinh,dia_chi,trang_thai\n"
                    "038084915751,Nguyễn A,1990-01-01,1,Huế,1\n"
                    "%0257d,Trần B,1990-01-01,2,Huế,1\n"
                    "038084915752,Lê C,1990-01-01,1,Huế,1\n"
                    "038084915753,",
                    3);
    memset(text + n, 'x', big);
    n += (int)big;
    sprintf(text + n, ",1990-01-01,1,Huế,1\n"
                      "038084915754,Phạm D,1990-01-01,2,Huế,1\n"
                      "038084915755,Vũ E,1990-01-01,99,Huế,1\n"
                      "038084915756,Võ F,1990-01-01,1,Huế,2\n"
                      "038084915757,Bùi G,1990-01-01,SEX_FEMALE,Huế,1\n");
    LT_IT_REQUIRE(lt_it_write_file(w->csv, text) == 0);
    /* The key column without its digits:12 check, which would reject a
     * long key first. */
    LT_IT_REQUIRE(lt_it_write_fmt(w->conf, IMPORT_CONF, w->gw->sock_path, DS) == 0);
    conf = s_read(w->conf);
    static const char digits[] = "personal_id = \"digits:12\"; ";
    char *check = conf ? strstr(conf, digits) : NULL;
    LT_IT_REQUIRE(check);
    memmove(check, check + sizeof digits - 1, strlen(check + sizeof digits - 1) + 1);
    LT_IT_REQUIRE(lt_it_write_file(w->conf, conf) == 0);
    const char *f = w->csv;
    LT_IT_REQUIRE(asprintf(&want,
                           "%s:3: column so_dinh_danh: the key is 257 bytes, over the 256 bytes a "
                           "record key may have\n"
                           "%s:5: column ho_ten: the row is 1048717 bytes as a record (1048676 "
                           "of them in this column), over the 1048576 bytes a record may have in "
                           "a Publish\n"
                           "%s:7: column gioi_tinh: cannot fill field "
                           "lienthong.records.Population.sex: expected a value of "
                           "lienthong.records.Sex, by name or number: SEX_UNSPECIFIED (0), "
                           "SEX_MALE (1), SEX_FEMALE (2)\n",
                           f, f, f) > 0);
    CU_ASSERT_EQUAL(s_import(w, "--dry-run", NULL), 3);
    got = s_read(w->report);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "import: report:\n%s\nexpected:\n%s\n", got, want);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT(lt_it_file_contains(w->out, "8 rows, 5 valid (dry run), 3 rejected"));
    int rc = s_import(w, NULL, NULL);
    CU_ASSERT_EQUAL(rc, 3);
    if (rc != 3)
        lt_it_file_dump(w->out);
    free(got);
    got = s_read(w->report);
    CU_ASSERT_STRING_EQUAL(got, want);
    CU_ASSERT(lt_it_file_contains(w->out, "8 rows, 5 published, 3 rejected"));
    static const char *const landed[] = {
        "038084915751|Nguyễn A|1990-01-01|1|Huế|1\n", "038084915752|Lê C|1990-01-01|1|Huế|1\n",
        "038084915754|Phạm D|1990-01-01|2|Huế|1\n", "038084915756|Võ F|1990-01-01|1|Huế|2\n",
        "038084915757|Bùi G|1990-01-01|2|Huế|1\n"};
    int64_t end = lt_it_ms() + 20000;
    size_t have = 0;
    while (have < 5 && lt_it_ms() < end) {
        free(table);
        table = s_table(w);
        for (have = 0; have < 5 && strstr(table, landed[have]); have++)
            ;
        if (have < 5)
            s_sleep_ms(100);
    }
    if (have < 5)
        fprintf(stderr, "import: table:\n%s\n", table ? table : "");
    CU_ASSERT_EQUAL(have, 5);
    CU_ASSERT(table && !strstr(table, "038084915753") && !strstr(table, "038084915755"));
out:
    free(text);
    free(got);
    free(want);
    free(conf);
    free(table);
}

static void test_refused(void)
{
    world_t *w = &s_w;
    LT_IT_REQUIRE(w->ready);
    LT_IT_REQUIRE(lt_it_write_file(w->csv, s_csv) == 0);
    LT_IT_REQUIRE(lt_it_write_fmt(w->conf, IMPORT_CONF, w->gw->sock_path, "VN/GOV/BHXH/insured") ==
                  0);
    CU_ASSERT_EQUAL(s_import(w, NULL, NULL), 1);
    CU_ASSERT(lt_it_file_contains(w->out, "the gateway refused a publish to VN/GOV/BHXH/insured: "
                                          "ERR_FORBIDDEN"));
    char gone[PATH_MAX + 8];
    snprintf(gone, sizeof gone, "%.4000s.gone", w->gw->sock_path);
    LT_IT_REQUIRE(lt_it_write_fmt(w->conf, IMPORT_CONF, gone, DS) == 0);
    CU_ASSERT_EQUAL(s_import(w, NULL, NULL), 1);
    CU_ASSERT(lt_it_file_contains(w->out, "no gateway socket at"));
out:
    return;
}

/* An owner whose max_message is the least allowed (64 KiB): a Publish of
 * 1000 records with long names exceeds it. The local socket lets it
 * through to the gateway's own check, so the import ends with
 * ERR_TOO_LARGE naming max_message, not a wait for ever (libzmq used to
 * drop the frame and the connection silently). */
static void test_small_max_message(void)
{
    lt_it_fed_t f;
    char csv[PATH_MAX], conf[PATH_MAX], out[PATH_MAX], report[PATH_MAX];
    char *text = NULL;
    memset(&f, 0, sizeof f);
    LT_IT_REQUIRE(lt_it_fed_init(&f, "VN") == 0);
    f.extra_source = s_dir_extra;
    lt_it_member_t *m = lt_it_member_add(&f, ID_BCA, 1);
    LT_IT_REQUIRE(m && lt_it_member_add(&f, "VN/GOV/BHXH", 1));
    lt_it_gw_t *gw = lt_it_gw_new(&f, m, 1, NULL, "max_message = 65536;\n");
    LT_IT_REQUIRE(gw && lt_it_gw_run(gw, READY_MS) == 0);
    snprintf(csv, sizeof csv, "%.4000s/big.csv", f.dir);
    snprintf(conf, sizeof conf, "%.4000s/import.conf", f.dir);
    snprintf(out, sizeof out, "%.4000s/import.out", f.dir);
    snprintf(report, sizeof report, "%.4000s/report.txt", f.dir);
    size_t cap = 3000 * 160 + 128, n = 0;
    text = malloc(cap);
    LT_IT_REQUIRE(text);
    n += (size_t)snprintf(text + n, cap - n,
                          "so_dinh_danh,ho_ten,ngay_sinh,gioi_tinh,dia_chi,"
                          "trang_thai\n");
    for (int i = 0; i < 3000; i++)
        n += (size_t)snprintf(text + n, cap - n,
                              "0380%08d,Nguyen Van %080d,1984-05-02,1,Ha Noi,1\n", i, i);
    LT_IT_REQUIRE(lt_it_write_file(csv, text) == 0);
    LT_IT_REQUIRE(lt_it_write_fmt(conf, IMPORT_CONF, gw->sock_path, DS) == 0);
    free(text);
    text = s_read(conf);
    char *batch = text ? strstr(text, "batch = 3;") : NULL;
    LT_IT_REQUIRE(batch);
    memcpy(batch, "batch=999;", 10); /* about 130 KB a Publish */
    LT_IT_REQUIRE(lt_it_write_file(conf, text) == 0);
    const char *args[] = {"import", "csv", "--config", conf, "--report", report, csv, NULL};
    int rc = lt_it_run_cli(f.dir, out, args, 30000);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT(lt_it_file_contains(out, "ERR_TOO_LARGE"));
    CU_ASSERT(lt_it_file_contains(out, "max_message"));
    if (rc != 1)
        lt_it_file_dump(gw->log_path);
out:
    free(text);
    lt_it_fed_cleanup(&f);
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"--dry-run: the report, nothing published", test_dry_run},
        {"a report that cannot be written: an error naming it, exit 4", test_report_full},
        {"each kind of bad row reported; the good rows land", test_import},
        {"importing again leaves the same table; another delimiter", test_again},
        {"a stray quote rejects its row alone (dry run)", test_stray_quote},
        {"a key, a record or an enum value the gateway would refuse: rejected alone",
         test_unpublishable},
        {"a dataset not owned, and no gateway: errors", test_refused},
        {"a Publish over a small max_message: ERR_TOO_LARGE, no hang", test_small_max_message},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"import", s_init, s_clean, NULL, s_keep, tests};
    return lt_it_main(argc, argv, &suite);
}

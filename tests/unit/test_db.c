/* test_db: CUnit suite for the adapters' database seam (adapters/lt_db.h)
 * against its SQLite backend: the backend chosen by the form of the
 * `database` setting (PostgreSQL settings go to the PostgreSQL backend and
 * never show a password), change capture installed twice, changes after a
 * cursor (latest per key, in id order, with their rows), the keys of rows
 * an INSERT/UPDATE OR REPLACE deletes through another unique index, requeue and
 * pruning per table, two tables in one database, a table listed again,
 * the epoch shift, a database from before the table column, the row accessor, and
 * lt_db_apply writing a batch and the sink's cursor all or nothing, a
 * sink's NOCASE key renamed in case (the row kept, spelt anew), a sink's
 * UNIQUE column besides the key (a swap refused, saying why), libpq's
 * parsed options of a PostgreSQL setting wiped (no byte of the password
 * left). The
 * database is checked directly with SQLite beside the seam. (The
 * PostgreSQL backend has its own suite, test_db_pg.) */
#include "unit_rejects.h"
#include "unit_sqlite.h"

#include "lt_db.h"
#include "lt_db_backend.h"

#include <libpq-fe.h>
#include <math.h>

static char g_dir[512];

static int suite_init(void)
{
    return ut_mkdtemp(g_dir, sizeof g_dir, "db");
}

static int suite_clean(void)
{
    return ut_rmrf(g_dir);
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", g_dir, name);
}

/* A direct connection to `name`, after running `schema` (NULL: none). */
static sqlite3 *open_raw(const char *name, const char *schema)
{
    char path[600];
    path_of(path, sizeof path, name);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_busy_timeout(db, 5000) == SQLITE_OK);
    if (schema)
        ut_sql_exec(db, schema);
    return db;
}

/* Two columns: a TEXT key and an INTEGER. */
static const lt_db_type_t TYPES2[] = {LT_DB_TEXT, LT_DB_INTEGER};

/* Connects to `name` (a setting relative to the suite's directory) with
 * the table `t` of two columns. */
static lt_db_t *open_seam(const char *name, lt_db_role_t role, const char *t,
                          const char *const cols[2], int create)
{
    char conf[600], err[512] = "";
    path_of(conf, sizeof conf, "adapter.conf");
    lt_db_table_t table = {t, 2, cols, TYPES2, 0};
    lt_db_t *d = lt_db_connect(name, conf, role, &table, create, err, sizeof err);
    if (!d)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(d != NULL);
    return d;
}

static const char *const CITIZEN_COLS[] = {"id", "name"};

/* ---- choosing the backend --------------------------------------------- */

/* PostgreSQL settings reach the PostgreSQL backend: a server that is not
 * there is waited for (the connection is lost, not refused), a malformed
 * setting is refused, and no message shows the password. */
static void test_postgresql_settings(void)
{
    static const char *const down[] = {
        "postgresql://lienthong:s3cret@127.0.0.1:1/npd",
        "postgres://lienthong:s3cret@127.0.0.1:1/npd?connect_timeout=2",
        "POSTGRESQL://lienthong:s3cret@127.0.0.1:1/npd",
        "host=127.0.0.1 port=1 dbname=npd user=lienthong password=s3cret",
        "  dbname = npd password=s3cret host=127.0.0.1 port = 1 user=lienthong",
    };
    char conf[600], err[512];
    path_of(conf, sizeof conf, "source.conf");
    lt_db_table_t table = {"citizens", 2, CITIZEN_COLS, TYPES2, 0};
    for (size_t i = 0; i < sizeof down / sizeof down[0]; i++) {
        err[0] = 0;
        lt_db_t *d = lt_db_connect(down[i], conf, LT_DB_SOURCE, &table, 0, err, sizeof err);
        CU_ASSERT_FATAL(d != NULL);
        CU_ASSERT(strstr(lt_db_name(d), "PostgreSQL database npd on 127.0.0.1:1") != NULL);
        int present = -1;
        CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == -1);
        CU_ASSERT(lt_db_lost(d) == 1);
        if (!strstr(err, "cannot connect to PostgreSQL database npd on 127.0.0.1:1 as lienthong"))
            fprintf(stderr, "case %zu: \"%s\"\n", i, err);
        CU_ASSERT(strstr(err, "cannot connect to PostgreSQL database npd on 127.0.0.1:1 as "
                              "lienthong") != NULL);
        CU_ASSERT(strstr(err, "s3cret") == NULL);
        CU_ASSERT(strstr(lt_db_name(d), "s3cret") == NULL);
        lt_db_destroy(&d);
    }
    /* Malformed: refused at once, the password masked even where libpq
     * quotes the setting. */
    static const char *const bad[] = {"postgresql://lienthong:s3cret@127.0.0.1:1/npd?bogus=1",
                                      "host=127.0.0.1 password=s3cret bogus=1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        lt_db_t *d = lt_db_connect(bad[i], conf, LT_DB_SOURCE, &table, 0, err, sizeof err);
        CU_ASSERT(d == NULL);
        CU_ASSERT(strstr(err, "not a valid PostgreSQL connection string") != NULL);
        CU_ASSERT(strstr(err, "s3cret") == NULL);
    }
    /* A password libpq cannot parse out (a space not quoted): its message
     * would quote the part after the space, which nothing can mask. */
    lt_db_t *d = lt_db_connect("host=127.0.0.1 port=1 password=Abc def", conf, LT_DB_SOURCE, &table,
                               0, err, sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "not a valid PostgreSQL connection string") != NULL);
    CU_ASSERT(strstr(err, "single quotes") != NULL);
    CU_ASSERT(strstr(err, "def") == NULL && strstr(err, "Abc") == NULL);
    /* Without a password, libpq's message says what is wrong. */
    d = lt_db_connect("host=127.0.0.1 port=1 bogus=1", conf, LT_DB_SOURCE, &table, 0, err,
                      sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "invalid connection option \"bogus\"") != NULL);
    /* Nothing was created as if the setting were a file name. */
    char dir[600];
    path_of(dir, sizeof dir, "postgresql:");
    CU_ASSERT(access(dir, F_OK) != 0);
    path_of(dir, sizeof dir, "host=127.0.0.1 port=1 dbname=npd user=lienthong password=s3cret");
    CU_ASSERT(access(dir, F_OK) != 0);
}

static void test_sqlite_path_resolved(void)
{
    char conf[600], want[600], err[512] = "";
    path_of(conf, sizeof conf, "sink.conf");
    lt_db_table_t table = {"citizens", 2, CITIZEN_COLS, TYPES2, 0};
    static const char *const names[] = {"postgresql.db", "./host=x.db", "dbname"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        lt_db_t *d = lt_db_connect(names[i], conf, LT_DB_SINK, &table, 1, err, sizeof err);
        if (!d)
            fprintf(stderr, "%s\n", err);
        CU_ASSERT_FATAL(d != NULL);
        path_of(want, sizeof want, names[i]);
        CU_ASSERT_STRING_EQUAL(lt_db_name(d), want);
        CU_ASSERT(access(want, F_OK) == 0);
        lt_db_destroy(&d);
        CU_ASSERT(d == NULL);
        lt_db_destroy(&d);
    }
    lt_db_t *d = lt_db_connect("no/such/dir/x.db", conf, LT_DB_SINK, &table, 1, err, sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "cannot open database") != NULL);
}

/* ---- change capture --------------------------------------------------- */

/* Records each change read. */
typedef struct {
    int64_t id[16];
    char key[16][16];
    int deleted[16]; /* no row: read as a deletion */
    size_t n;
} changes_t;

static int on_change(void *arg, int64_t id, const char *key, const lt_db_row_t *row, char *err,
                     size_t errlen)
{
    changes_t *c = arg;
    if (c->n >= 16) {
        snprintf(err, errlen, "too many changes");
        return -1;
    }
    c->id[c->n] = id;
    snprintf(c->key[c->n], sizeof c->key[c->n], "%s", key);
    c->deleted[c->n] = row == NULL;
    c->n++;
    return 0;
}

/* Reads the changes after `after` into c inside a read transaction. */
static long read_changes(lt_db_t *d, int64_t after, size_t limit, changes_t *c)
{
    char err[512] = "";
    memset(c, 0, sizeof *c);
    CU_ASSERT_FATAL(lt_db_begin(d, 0, err, sizeof err) == 0);
    long n = lt_db_read_changes(d, after, limit, on_change, c, err, sizeof err);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(n == (long)c->n);
    return n;
}

static void expect_change(const changes_t *c, size_t i, int64_t id, const char *key)
{
    CU_ASSERT_FATAL(i < c->n);
    CU_ASSERT(c->id[i] == id);
    CU_ASSERT_STRING_EQUAL(c->key[i], key);
}

static void test_capture_install_twice(void)
{
    char err[512] = "";
    sqlite3 *raw =
        open_raw("capture.db", "CREATE TABLE citizens(id TEXT PRIMARY KEY, name TEXT, note TEXT);"
                               "INSERT INTO citizens VALUES ('c', 'Chi', NULL), ('a', 'An', NULL),"
                               " ('b', 'Bình', NULL)");
    lt_db_t *d = open_seam("capture.db", LT_DB_SOURCE, "citizens", CITIZEN_COLS, 0);
    int present = -1, created = -1;
    CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == 0);
    CU_ASSERT(present == 0);
    CU_ASSERT(lt_db_capture_install(d, &created, err, sizeof err) == 0);
    CU_ASSERT(created == 1);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM lt_changes") == 3);
    /* Again: the triggers are re-created, nothing is listed twice. */
    CU_ASSERT(lt_db_capture_install(d, &created, err, sizeof err) == 0);
    CU_ASSERT(created == 0);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM lt_changes") == 3);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' "
                                "AND tbl_name = 'citizens'") == 3);
    CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == 0);
    CU_ASSERT(present == 1);
    /* An unmapped column is not a change; a mapped one is. */
    ut_sql_exec(raw, "UPDATE citizens SET note = 'x' WHERE id = 'a'");
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM lt_changes") == 3);
    ut_sql_exec(raw, "UPDATE citizens SET name = 'Ân' WHERE id = 'a'");
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM lt_changes") == 4);
    /* Seeded in key order, then the update. */
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 3);
    expect_change(&c, 0, 2, "b");
    expect_change(&c, 1, 3, "c");
    expect_change(&c, 2, 4, "a");
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* A source over table citizens made by schema in file, its capture
 * installed; *raw is the test's own connection to the file. */
static lt_db_t *installed(const char *file, const char *schema, sqlite3 **raw)
{
    char err[512] = "";
    int created = -1;
    *raw = open_raw(file, schema);
    lt_db_t *d = open_seam(file, LT_DB_SOURCE, "citizens", CITIZEN_COLS, 0);
    CU_ASSERT_FATAL(lt_db_capture_install(d, &created, err, sizeof err) == 0);
    return d;
}

/* A source refuses a key column without type affinity, whose integer keys
 * would never match the change list's text keys: every change of such a
 * row would be published as a deletion. A typed key is taken. */
static void test_key_without_affinity(void)
{
    static const char *const schemas[] = {
        "CREATE TABLE citizens(id PRIMARY KEY, name TEXT)",
        "CREATE TABLE citizens(id BLOB PRIMARY KEY, name TEXT)",
        "CREATE TABLE citizens(id ANY PRIMARY KEY, name TEXT) STRICT"};
    char conf[600], err[512], file[32];
    path_of(conf, sizeof conf, "adapter.conf");
    lt_db_table_t table = {"citizens", 2, CITIZEN_COLS, TYPES2, 0};
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        snprintf(file, sizeof file, "typeless%zu.db", i);
        sqlite3 *raw = open_raw(file, schemas[i]);
        err[0] = 0;
        lt_db_t *d = lt_db_connect(file, conf, LT_DB_SOURCE, &table, 0, err, sizeof err);
        CU_ASSERT_PTR_NULL(d);
        CU_ASSERT(strstr(err, "no type affinity") != NULL && strstr(err, "\"id\"") != NULL);
        lt_db_destroy(&d);
        sqlite3_close(raw);
    }
    /* INTEGER: integer keys as text in lt_changes compare equal, and a
     * change reads as the row, not a deletion. */
    sqlite3 *raw;
    lt_db_t *d = installed("typed.db",
                           "CREATE TABLE citizens(id INTEGER PRIMARY KEY, name TEXT);"
                           "INSERT INTO citizens VALUES (1001, 'An')",
                           &raw);
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 1);
    CU_ASSERT(c.n == 1 && !c.deleted[0]);
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* A key under NOCASE renamed only in case, or replaced by a spelling that
 * differs only in case: the old spelling reads as a deletion (a tombstone
 * for it at the consumers), the new one as the row. */
static void test_key_nocase(void)
{
    sqlite3 *raw;
    lt_db_t *d = installed("nocase.db",
                           "CREATE TABLE citizens(id TEXT PRIMARY KEY COLLATE NOCASE, "
                           "name TEXT); INSERT INTO citizens VALUES ('abc-1', 'An')",
                           &raw);
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 1);
    int64_t after = c.n ? c.id[0] : 0;
    ut_sql_exec(raw, "UPDATE citizens SET id = 'ABC-1' WHERE id = 'abc-1'");
    CU_ASSERT(read_changes(d, after, 100, &c) == 2);
    CU_ASSERT(c.n == 2 && strcmp(c.key[0], "abc-1") == 0 && c.deleted[0]);
    CU_ASSERT(c.n == 2 && strcmp(c.key[1], "ABC-1") == 0 && !c.deleted[1]);
    after = c.n ? c.id[c.n - 1] : after;
    ut_sql_exec(raw, "INSERT OR REPLACE INTO citizens VALUES ('abc-1', 'Ân')");
    CU_ASSERT(read_changes(d, after, 100, &c) == 2);
    CU_ASSERT(c.n == 2 && strcmp(c.key[0], "ABC-1") == 0 && c.deleted[0]);
    CU_ASSERT(c.n == 2 && strcmp(c.key[1], "abc-1") == 0 && !c.deleted[1]);
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* Looks for keys[0..n-1] (at most 8) in a transaction, appending the
 * absent ones when append is set; returns how many were absent. */
static size_t queue_absent(lt_db_t *d, const char *const *keys, size_t n, int append)
{
    char err[512] = "";
    unsigned char found[8];
    size_t absent = 0;
    memset(found, 9, sizeof found);
    CU_ASSERT_FATAL(n <= sizeof found && lt_db_begin(d, append, err, sizeof err) == 0);
    CU_ASSERT(lt_db_queue_absent(d, keys, n, append, found, err, sizeof err) == 0);
    if (append) {
        CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    } else
        lt_db_rollback(d);
    for (size_t i = 0; i < n; i++) {
        CU_ASSERT(found[i] == LT_DB_KEY_HELD || found[i] == LT_DB_KEY_ABSENT);
        absent += found[i] == LT_DB_KEY_ABSENT;
    }
    return absent;
}

/* lienthong source --reconcile: of the keys the gateway holds, those the
 * table has no row for are appended to the change list, in order, and
 * read back as deletions; a key with a row is not, under an INTEGER key
 * (text keys compare as the change list's do) and under NOCASE (another
 * spelling's row is no row of this key, as reading a change finds). */
static void test_queue_absent(void)
{
    sqlite3 *raw;
    lt_db_t *d = installed("absent.db",
                           "CREATE TABLE citizens(id INTEGER PRIMARY KEY, name TEXT);"
                           "INSERT INTO citizens VALUES (1, 'An'), (2, 'Binh')",
                           &raw);
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 2);
    static const char *const keys[] = {"1", "3", "2", "7"};
    /* A dry run finds them and appends nothing. */
    CU_ASSERT(queue_absent(d, keys, 4, 0) == 2);
    CU_ASSERT(read_changes(d, 2, 100, &c) == 0);
    CU_ASSERT(queue_absent(d, keys, 4, 1) == 2);
    CU_ASSERT(queue_absent(d, keys, 0, 1) == 0);
    CU_ASSERT(read_changes(d, 2, 100, &c) == 2);
    expect_change(&c, 0, 3, "3");
    expect_change(&c, 1, 4, "7");
    CU_ASSERT(c.deleted[0] && c.deleted[1]);
    sqlite3_close(raw);
    lt_db_destroy(&d);

    d = installed("absent-nocase.db",
                  "CREATE TABLE citizens(id TEXT PRIMARY KEY COLLATE NOCASE, name TEXT);"
                  "INSERT INTO citizens VALUES ('ABC-1', 'An')",
                  &raw);
    static const char *const spelt[] = {"abc-1", "ABC-1"};
    CU_ASSERT(queue_absent(d, spelt, 2, 1) == 1);
    CU_ASSERT(read_changes(d, 1, 100, &c) == 1);
    expect_change(&c, 0, 2, "abc-1");
    CU_ASSERT(c.deleted[0]);
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

static sqlite3 *g_rejects_raw;

static int64_t s_rejects_int(const char *sql)
{
    return ut_sql_count(g_rejects_raw, sql);
}

static void test_rejects(void)
{
    g_rejects_raw = open_raw("rejects.db", "CREATE TABLE citizens(id TEXT PRIMARY KEY, name TEXT)");
    lt_db_t *d = open_seam("rejects.db", LT_DB_SOURCE, "citizens", CITIZEN_COLS, 0);
    ut_rejects_cycle(d, s_rejects_int);
    lt_db_destroy(&d);
    sqlite3_close(g_rejects_raw);
}

/* A mapped column the table lacks is refused at connect (and so by
 * --check), as a source and as a sink, never read as the text of its name. */
static void test_missing_column(void)
{
    char conf[600], err[512] = "";
    sqlite3 *raw = open_raw("cols.db", "CREATE TABLE citizens(id TEXT PRIMARY KEY, name TEXT)");
    path_of(conf, sizeof conf, "adapter.conf");
    static const char *const cols[] = {"id", "nmae"};
    lt_db_table_t table = {"citizens", 2, cols, TYPES2, 0};
    for (int role = 0; role < 2; role++) {
        err[0] = 0;
        lt_db_t *d = lt_db_connect("cols.db", conf, role ? LT_DB_SINK : LT_DB_SOURCE, &table, 0,
                                   err, sizeof err);
        CU_ASSERT(d == NULL);
        CU_ASSERT(strstr(err, "nmae") != NULL);
        if (!strstr(err, "nmae"))
            fprintf(stderr, "\n  a missing column (role %d): %s\n", role, err);
        lt_db_destroy(&d);
    }
    sqlite3_close(raw);
}

/* The cursor rows listed and forgotten (unit_rejects.h), and a forgotten
 * dataset no longer holds its table's changes back. */
static void test_cursor_forget(void)
{
    char err[512] = "";
    int created = 0, found = 0;
    g_rejects_raw = open_raw("forget.db", "CREATE TABLE citizens(id TEXT PRIMARY KEY, name TEXT)");
    lt_db_t *d = open_seam("forget.db", LT_DB_SOURCE, "citizens", CITIZEN_COLS, 0);
    CU_ASSERT_FATAL(lt_db_capture_install(d, &created, err, sizeof err) == 0);
    ut_cursor_cycle(d, "citizens", s_rejects_int);
    ut_sql_exec(g_rejects_raw, "INSERT INTO citizens VALUES ('a', 'An'), ('b', 'Ba')");
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "old", 0, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "new", 2, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(ut_sql_count(g_rejects_raw, "SELECT count(*) FROM lt_changes") == 2);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_forget(d, "old", &found, err, sizeof err) == 0 && found == 1);
    CU_ASSERT(lt_db_cursor_store(d, "new", 2, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(ut_sql_count(g_rejects_raw, "SELECT count(*) FROM lt_changes") == 0);
    lt_db_destroy(&d);
    sqlite3_close(g_rejects_raw);
}

static void forget_write(const char *sql)
{
    ut_sql_exec(g_rejects_raw, sql);
}

static int64_t forget_listed(void)
{
    return ut_sql_count(g_rejects_raw,
                        "SELECT count(*) FROM lt_changes WHERE table_name = 'citizens'");
}

/* --forget of a table's last dataset removes its change capture
 * (unit_rejects.h). */
static void test_forget_last(void)
{
    char err[512] = "", other[600], same[600];
    int created = 0;
    g_rejects_raw = open_raw("last.db", "CREATE TABLE citizens(id TEXT PRIMARY KEY, name TEXT);"
                                        "CREATE TABLE others(id TEXT PRIMARY KEY, name TEXT)");
    lt_db_t *d = open_seam("last.db", LT_DB_SOURCE, "citizens", CITIZEN_COLS, 0);
    CU_ASSERT_FATAL(lt_db_capture_install(d, &created, err, sizeof err) == 0);
    path_of(other, sizeof other, "other.conf");
    path_of(same, sizeof same, "same.conf");
#define HEAD "gateway_socket = \"gw.sock\";\ndatabase = \"last.db\";\n"
    CU_ASSERT_FATAL(ut_write_text(other, HEAD UT_SOURCE_DATASET("ut/forget/o", "others")) == 0);
    CU_ASSERT_FATAL(ut_write_text(same, HEAD UT_SOURCE_DATASET("ut/forget/c", "citizens")) == 0);
#undef HEAD
    ut_forget_last(d, other, same, NULL, forget_write, forget_listed);
    lt_db_destroy(&d);
    sqlite3_close(g_rejects_raw);
}

static void test_changes_after_cursor(void)
{
    char err[512] = "";
    sqlite3 *raw = open_raw("changes.db", "CREATE TABLE citizens(id TEXT PRIMARY KEY, name TEXT)");
    lt_db_t *d = open_seam("changes.db", LT_DB_SOURCE, "citizens", CITIZEN_COLS, 0);
    int created = 0;
    CU_ASSERT_FATAL(lt_db_capture_install(d, &created, err, sizeof err) == 0);
    /* Changes 1:a 2:b 3:c 4:b 5:d 6:a 7:b. */
    ut_sql_exec(raw, "INSERT INTO citizens VALUES ('a', '1'), ('b', '1'), ('c', '1');"
                     "UPDATE citizens SET name = '2' WHERE id = 'b';"
                     "INSERT INTO citizens VALUES ('d', '1');"
                     "UPDATE citizens SET name = '2' WHERE id = 'a';"
                     "UPDATE citizens SET name = '3' WHERE id = 'b';");
    changes_t c;
    CU_ASSERT(read_changes(d, 3, 100, &c) == 3);
    expect_change(&c, 0, 5, "d");
    expect_change(&c, 1, 6, "a");
    expect_change(&c, 2, 7, "b");
    /* The first 4 changes only; b's latest among them is 4. */
    CU_ASSERT(read_changes(d, 0, 4, &c) == 3);
    expect_change(&c, 0, 1, "a");
    expect_change(&c, 1, 3, "c");
    expect_change(&c, 2, 4, "b");
    CU_ASSERT(read_changes(d, 7, 100, &c) == 0);
    int64_t last = 0;
    CU_ASSERT(lt_db_last_change(d, &last, err, sizeof err) == 0);
    CU_ASSERT(last == 7);

    /* Requeue (4, 6]: d and a again, in the order of their latest change. */
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_requeue(d, 4, 6, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(read_changes(d, 7, 100, &c) == 2);
    expect_change(&c, 0, 8, "d");
    expect_change(&c, 1, 9, "a");

    /* Storing a source cursor prunes what every dataset's cursor passed. */
    int64_t cur = -1;
    CU_ASSERT(lt_db_cursor_load(d, "VN/GOV/BCA/population", &cur, err, sizeof err) == 0);
    CU_ASSERT(cur == 0);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "VN/GOV/BCA/population", 5, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(ut_sql_count(raw, "SELECT MIN(id) FROM lt_changes") == 6);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "VN/GOV/BCA/population.p38", 3, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "VN/GOV/BCA/population", 8, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(ut_sql_count(raw, "SELECT MIN(id) FROM lt_changes") == 6); /* the slower one */
    CU_ASSERT(lt_db_cursor_load(d, "VN/GOV/BCA/population", &cur, err, sizeof err) == 0);
    CU_ASSERT(cur == 8);
    /* A rolled back cursor is not stored. */
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "VN/GOV/BCA/population", 9, err, sizeof err) == 0);
    lt_db_rollback(d);
    CU_ASSERT(lt_db_cursor_load(d, "VN/GOV/BCA/population", &cur, err, sizeof err) == 0);
    CU_ASSERT(cur == 8);
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* lt_db_capture_present with what it logged (stderr) in log. */
static int capture_present_logged(lt_db_t *d, int *present, char *log, size_t cap)
{
    char path[600], err[512];
    path_of(path, sizeof path, "stderr.txt");
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    int rc = lt_db_capture_present(d, present, err, sizeof err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    FILE *f = fopen(path, "r");
    CU_ASSERT_FATAL(f != NULL);
    size_t n = fread(log, 1, cap - 1, f);
    log[n] = 0;
    fclose(f);
    return rc;
}

/* A REPLACE that deletes another row through a unique index other than
 * the key's lists that row's key (which the source then publishes as
 * removed): on one column, on two, and by UPDATE OR REPLACE; rows whose
 * unique columns are NULL never conflict. A table without such an index
 * gets no REPLACE triggers. */
static void test_replace_deletes_listed(void)
{
    char err[512] = "";
    sqlite3 *raw = open_raw("replace.db",
                            "CREATE TABLE cards(id TEXT PRIMARY KEY, name TEXT, card TEXT UNIQUE,"
                            "  x INTEGER, y INTEGER, UNIQUE (x, y));"
                            "CREATE TABLE citizens(id TEXT PRIMARY KEY, name TEXT)");
    lt_db_t *d = open_seam("replace.db", LT_DB_SOURCE, "cards", CITIZEN_COLS, 0);
    lt_db_t *plain = open_seam("replace.db", LT_DB_SOURCE, "citizens", CITIZEN_COLS, 0);
    int created = 0;
    CU_ASSERT_FATAL(lt_db_capture_install(d, &created, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_db_capture_install(plain, &created, err, sizeof err) == 0);
    CU_ASSERT(ut_sql_count(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
                                "name LIKE 'lt_replace_%(cards)'") == 2);
    /* Changes 1:a 2:b, 3:a (gone through card) 4:c, 5:b (gone through x, y),
     * 6:e 7:f (NULLs conflict with nothing). */
    ut_sql_exec(raw, "INSERT INTO cards VALUES ('a', '1', 'c1', 1, 1), ('b', '1', 'c2', 2, 2);"
                     "INSERT OR REPLACE INTO cards VALUES ('c', '1', 'c1', 9, 9);"
                     "UPDATE OR REPLACE cards SET x = 2, y = 2 WHERE id = 'c';"
                     "INSERT INTO cards VALUES ('e', '1', NULL, NULL, NULL);"
                     "INSERT INTO cards VALUES ('f', '1', NULL, NULL, NULL);");
    CU_ASSERT(ut_sql_count(raw, "SELECT count(*) FROM cards") == 3);
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 5);
    expect_change(&c, 0, 3, "a");
    expect_change(&c, 1, 4, "c");
    expect_change(&c, 2, 5, "b");
    expect_change(&c, 3, 6, "e");
    expect_change(&c, 4, 7, "f");
    /* A capture from before these triggers is told to run --install. */
    ut_sql_exec(raw, "DROP TRIGGER \"lt_replace_insert(cards)\";"
                     "DROP TRIGGER \"lt_replace_update(cards)\"");
    char log[4096] = "";
    int present = 0;
    CU_ASSERT(capture_present_logged(d, &present, log, sizeof log) == 0);
    CU_ASSERT(present == 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "table cards has a unique index besides its key"));
    CU_ASSERT(capture_present_logged(plain, &present, log, sizeof log) == 0);
    CU_ASSERT(present == 1 && log[0] == 0);
    sqlite3_close(raw);
    lt_db_destroy(&plain);
    lt_db_destroy(&d);
}

/* The keys table t's writes listed since the last call, in id order. */
static void listed_since(sqlite3 *raw, const char *t, int64_t *after, char *out, size_t cap)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT COALESCE(group_concat(row_key, ','), '') FROM (SELECT row_key FROM "
             "lt_changes WHERE table_name = '%s' AND id > %lld ORDER BY id)",
             t, (long long)*after);
    ut_sql_text(raw, sql, out, cap);
    *after = ut_sql_count(raw, "SELECT COALESCE(MAX(id), 0) FROM lt_changes");
}

/* Tables a and a_replace in one file, their captures installed in the
 * given order and then again (an upgrade): the name of a's REPLACE
 * trigger on INSERT was that of a_replace's INSERT trigger, so one
 * installation dropped the other table's trigger. Every write of each
 * table is listed, once. */
static void clashing_names(const char *file, int a_first)
{
    char err[512] = "", keys[256];
    sqlite3 *raw = open_raw(file, "CREATE TABLE a(id TEXT PRIMARY KEY, name TEXT UNIQUE);"
                                  "CREATE TABLE a_replace(id TEXT PRIMARY KEY, name TEXT)");
    lt_db_t *a = open_seam(file, LT_DB_SOURCE, "a", CITIZEN_COLS, 0);
    lt_db_t *ar = open_seam(file, LT_DB_SOURCE, "a_replace", CITIZEN_COLS, 0);
    lt_db_t *order[2] = {a_first ? a : ar, a_first ? ar : a};
    int created = 0, present = 0;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 2; i++) {
            CU_ASSERT_FATAL(lt_db_capture_install(order[i], &created, err, sizeof err) == 0);
            CU_ASSERT(created == !round);
        }
    CU_ASSERT(lt_db_capture_present(a, &present, err, sizeof err) == 0 && present == 1);
    CU_ASSERT(lt_db_capture_present(ar, &present, err, sizeof err) == 0 && present == 1);
    CU_ASSERT(ut_sql_count(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'") == 8);
    int64_t after = 0;
    ut_sql_exec(raw, "INSERT INTO a VALUES ('k1', 'x'), ('k2', 'y');"
                     "UPDATE a SET name = 'z' WHERE id = 'k1';"
                     "INSERT OR REPLACE INTO a VALUES ('k3', 'y');" /* deletes k2 */
                     "DELETE FROM a WHERE id = 'k1'");
    listed_since(raw, "a", &after, keys, sizeof keys);
    CU_ASSERT_STRING_EQUAL(keys, "k1,k2,k1,k2,k3,k1");
    ut_sql_exec(raw, "INSERT INTO a_replace VALUES ('r1', 'x'), ('r2', 'x');"
                     "UPDATE a_replace SET name = 'z' WHERE id = 'r1';"
                     "DELETE FROM a_replace WHERE id = 'r2'");
    listed_since(raw, "a_replace", &after, keys, sizeof keys);
    CU_ASSERT_STRING_EQUAL(keys, "r1,r2,r1,r2");
    listed_since(raw, "a", &after, keys, sizeof keys);
    CU_ASSERT_STRING_EQUAL(keys, "");
    sqlite3_close(raw);
    lt_db_destroy(&ar);
    lt_db_destroy(&a);
}

static void test_trigger_names_apart(void)
{
    clashing_names("clash_a.db", 1);
    clashing_names("clash_ar.db", 0);
}

/* A capture installed under the names from before lt_insert(<table>):
 * it still counts, and --install again replaces the table's triggers, not
 * those of another table whose old name was the same as one of them
 * (cards_replace's lt_cards_replace_insert). */
static void test_trigger_names_upgraded(void)
{
    char err[512] = "", keys[256], log[4096] = "";
    sqlite3 *raw = open_raw(
        "old_names.db",
        "CREATE TABLE cards(id TEXT PRIMARY KEY, name TEXT UNIQUE);"
        "CREATE TABLE cards_replace(id TEXT PRIMARY KEY, name TEXT);"
        "CREATE TABLE lt_changes(id INTEGER PRIMARY KEY AUTOINCREMENT, row_key TEXT NOT NULL,"
        " table_name TEXT NOT NULL DEFAULT '');"
        "CREATE TRIGGER lt_cards_insert AFTER INSERT ON cards BEGIN INSERT INTO"
        " lt_changes(table_name, row_key) SELECT 'cards', NEW.id; END;"
        "CREATE TRIGGER lt_cards_update AFTER UPDATE OF id, name ON cards BEGIN INSERT INTO"
        " lt_changes(table_name, row_key) SELECT 'cards', NEW.id; END;"
        "CREATE TRIGGER lt_cards_delete AFTER DELETE ON cards BEGIN INSERT INTO"
        " lt_changes(table_name, row_key) SELECT 'cards', OLD.id; END;"
        "CREATE TRIGGER lt_cards_replace_insert AFTER INSERT ON cards_replace BEGIN INSERT INTO"
        " lt_changes(table_name, row_key) SELECT 'cards_replace', NEW.id; END;"
        "CREATE TRIGGER lt_cards_replace_update AFTER UPDATE OF id, name ON cards_replace BEGIN"
        " INSERT INTO lt_changes(table_name, row_key) SELECT 'cards_replace', NEW.id; END;"
        "CREATE TRIGGER lt_cards_replace_delete AFTER DELETE ON cards_replace BEGIN INSERT INTO"
        " lt_changes(table_name, row_key) SELECT 'cards_replace', OLD.id; END;");
    lt_db_t *c = open_seam("old_names.db", LT_DB_SOURCE, "cards", CITIZEN_COLS, 0);
    lt_db_t *cr = open_seam("old_names.db", LT_DB_SOURCE, "cards_replace", CITIZEN_COLS, 0);
    int present = 0, created = -1;
    CU_ASSERT(capture_present_logged(cr, &present, log, sizeof log) == 0);
    CU_ASSERT(present == 1 && log[0] == 0);
    /* cards_replace's trigger is not cards's REPLACE trigger. */
    CU_ASSERT(capture_present_logged(c, &present, log, sizeof log) == 0);
    CU_ASSERT(present == 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(log, "table cards has a unique index besides its key"));
    CU_ASSERT_FATAL(lt_db_capture_install(c, &created, err, sizeof err) == 0);
    CU_ASSERT(created == 0);
    CU_ASSERT(ut_sql_count(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
                                "tbl_name = 'cards' AND name LIKE 'lt_%(cards)'") == 5);
    CU_ASSERT(ut_sql_count(raw,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
                           "tbl_name = 'cards_replace' AND name LIKE 'lt_cards_replace_%'") == 3);
    CU_ASSERT(capture_present_logged(c, &present, log, sizeof log) == 0);
    CU_ASSERT(present == 1 && log[0] == 0);
    int64_t after = 0;
    ut_sql_exec(raw, "INSERT INTO cards VALUES ('k1', 'x'), ('k2', 'y');"
                     "INSERT OR REPLACE INTO cards VALUES ('k3', 'y');"
                     "INSERT INTO cards_replace VALUES ('r1', 'x');"
                     "UPDATE cards_replace SET name = 'z'; DELETE FROM cards_replace");
    listed_since(raw, "cards", &after, keys, sizeof keys);
    CU_ASSERT_STRING_EQUAL(keys, "k1,k2,k2,k3");
    after = 0;
    listed_since(raw, "cards_replace", &after, keys, sizeof keys);
    CU_ASSERT_STRING_EQUAL(keys, "r1,r1,r1");
    CU_ASSERT_FATAL(lt_db_capture_install(cr, &created, err, sizeof err) == 0);
    CU_ASSERT(created == 0);
    CU_ASSERT(ut_sql_count(raw,
                           "SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND "
                           "tbl_name = 'cards_replace' AND name LIKE 'lt_%(cards_replace)'") == 3);
    CU_ASSERT(ut_sql_count(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'") == 8);
    sqlite3_close(raw);
    lt_db_destroy(&cr);
    lt_db_destroy(&c);
}

/* Two tables in one database: each reads, requeues and prunes its own
 * changes; a restart lists a table again above an id. */
static void test_two_tables(void)
{
    char err[512] = "";
    sqlite3 *raw = open_raw("two.db", "CREATE TABLE citizens(id TEXT PRIMARY KEY, name TEXT);"
                                      "CREATE TABLE phones(num TEXT PRIMARY KEY, owner TEXT)");
    static const char *const pcols[] = {"num", "owner"};
    lt_db_t *c1 = open_seam("two.db", LT_DB_SOURCE, "citizens", CITIZEN_COLS, 0);
    lt_db_t *p1 = open_seam("two.db", LT_DB_SOURCE, "phones", pcols, 0);
    int created = 0;
    CU_ASSERT_FATAL(lt_db_capture_install(c1, &created, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_db_capture_install(p1, &created, err, sizeof err) == 0);
    CU_ASSERT(created == 1);
    /* 1:a 2:849 3:b, in one transaction. */
    ut_sql_exec(raw, "BEGIN; INSERT INTO citizens VALUES ('a', 'An');"
                     "INSERT INTO phones VALUES ('849', 'a');"
                     "INSERT INTO citizens VALUES ('b', 'Ba'); COMMIT");
    changes_t c;
    CU_ASSERT(read_changes(c1, 0, 100, &c) == 2);
    expect_change(&c, 0, 1, "a");
    expect_change(&c, 1, 3, "b");
    CU_ASSERT(read_changes(p1, 0, 100, &c) == 1);
    expect_change(&c, 0, 2, "849");
    int64_t last = 0, high = 0, base = 0;
    CU_ASSERT(lt_db_last_change(p1, &last, err, sizeof err) == 0);
    CU_ASSERT(last == 2);
    /* The citizens' dataset passed everything; the phones' changes stay. */
    CU_ASSERT_FATAL(lt_db_begin(c1, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(c1, "VN/GOV/BCA/population", 3, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(c1, err, sizeof err) == 0);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM lt_changes WHERE table_name = 'citizens'") ==
              0);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM lt_changes WHERE table_name = 'phones'") ==
              1);
    /* The high-water mark outlives pruning; a relist lists the table under
     * new ids, and ids go on from there. */
    CU_ASSERT(lt_db_capture_high(c1, &high, err, sizeof err) == 0);
    CU_ASSERT(high == 3);
    CU_ASSERT_FATAL(lt_db_begin(c1, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_capture_relist(c1, &base, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(c1, err, sizeof err) == 0);
    CU_ASSERT(base == 3);
    CU_ASSERT(read_changes(c1, base, 100, &c) == 2);
    expect_change(&c, 0, 4, "a");
    expect_change(&c, 1, 5, "b");
    /* A dataset's epoch shift is kept with its cursor, and apart from it the
     * shift the cursor was acknowledged under; a row stored before the two
     * were kept apart was acknowledged under its shift. */
    int64_t shift = -1, acked = -1;
    CU_ASSERT(lt_db_shift_load(c1, "VN/GOV/BCA/population", &shift, &acked, err, sizeof err) == 0);
    CU_ASSERT(shift == 0 && acked == 0);
    CU_ASSERT_FATAL(lt_db_begin(c1, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_shift_store(c1, "VN/GOV/BCA/population", 7000, 3000, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(c1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_shift_load(c1, "VN/GOV/BCA/population", &shift, &acked, err, sizeof err) == 0);
    CU_ASSERT(shift == 7000 && acked == 3000);
    ut_sql_exec(raw, "UPDATE lt_source_cursor SET acked_shift = NULL");
    CU_ASSERT(lt_db_shift_load(c1, "VN/GOV/BCA/population", &shift, &acked, err, sizeof err) == 0);
    CU_ASSERT(shift == 7000 && acked == 7000);
    ut_sql_exec(raw, "INSERT INTO phones VALUES ('850', 'b')");
    CU_ASSERT(read_changes(p1, 2, 100, &c) == 1);
    expect_change(&c, 0, 6, "850");
    sqlite3_close(raw);
    lt_db_destroy(&c1);
    lt_db_destroy(&p1);
}

/* A database from before the table column: the change list and the
 * cursors take the name of the table whose triggers they had; the old
 * triggers do not count as capture until --install re-creates them. */
static void test_old_change_list(void)
{
    char err[512] = "";
    sqlite3 *raw = open_raw(
        "old.db",
        "CREATE TABLE citizens(id TEXT PRIMARY KEY, name TEXT);"
        "CREATE TABLE lt_changes(id INTEGER PRIMARY KEY AUTOINCREMENT, row_key TEXT NOT NULL);"
        "CREATE TABLE lt_source_cursor(dataset TEXT PRIMARY KEY, change_id INTEGER NOT NULL);"
        "CREATE TRIGGER lt_citizens_insert AFTER INSERT ON citizens BEGIN "
        " INSERT INTO lt_changes(row_key) VALUES (NEW.id); END;"
        "INSERT INTO citizens VALUES ('a', 'An'), ('b', 'Ba'), ('c', 'Chi');"
        "INSERT INTO lt_source_cursor VALUES ('VN/GOV/BCA/population', 1)");
    lt_db_t *d = open_seam("old.db", LT_DB_SOURCE, "citizens", CITIZEN_COLS, 0);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM lt_changes WHERE table_name = 'citizens'") ==
              3);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM lt_source_cursor "
                                "WHERE table_name = 'citizens'") == 1);
    int present = -1, created = -1;
    CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == 0);
    CU_ASSERT(present == 0);
    CU_ASSERT(lt_db_capture_install(d, &created, err, sizeof err) == 0);
    CU_ASSERT(created == 1); /* lists the rows: the old triggers are not kept */
    CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == 0);
    CU_ASSERT(present == 1);
    int64_t cur = -1;
    CU_ASSERT(lt_db_cursor_load(d, "VN/GOV/BCA/population", &cur, err, sizeof err) == 0);
    CU_ASSERT(cur == 1);            /* the change list existed: cursors are kept */
    int64_t shift = -1, acked = -1; /* from before epochs: both 0 */
    CU_ASSERT(lt_db_shift_load(d, "VN/GOV/BCA/population", &shift, &acked, err, sizeof err) == 0);
    CU_ASSERT(shift == 0 && acked == 0);
    changes_t c;
    CU_ASSERT(read_changes(d, 1, 100, &c) == 3);
    expect_change(&c, 0, 4, "a");
    expect_change(&c, 1, 5, "b");
    expect_change(&c, 2, 6, "c");
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* The table column of a database from before it is added and filled all
 * or nothing: a fill that fails (here a trigger stands for a full disk)
 * leaves the column out, so that the next start adds and fills it again,
 * and the changes waiting, a deletion among them, are read. */
static void test_old_change_list_fill_fails(void)
{
    char conf[600], err[512] = "";
    sqlite3 *raw = open_raw(
        "old_fill.db",
        "CREATE TABLE citizens(id TEXT PRIMARY KEY, name TEXT);"
        "CREATE TABLE lt_changes(id INTEGER PRIMARY KEY AUTOINCREMENT, row_key TEXT NOT NULL);"
        "CREATE TABLE lt_source_cursor(dataset TEXT PRIMARY KEY, change_id INTEGER NOT NULL);"
        "CREATE TRIGGER lt_citizens_insert AFTER INSERT ON citizens BEGIN "
        " INSERT INTO lt_changes(row_key) VALUES (NEW.id); END;"
        "CREATE TRIGGER lt_citizens_delete AFTER DELETE ON citizens BEGIN "
        " INSERT INTO lt_changes(row_key) VALUES (OLD.id); END;"
        "INSERT INTO citizens VALUES ('a', 'An'), ('b', 'Ba'), ('c', 'Chi');"
        "DELETE FROM citizens WHERE id = 'c';"
        "INSERT INTO lt_source_cursor VALUES ('VN/GOV/BCA/population', 1);"
        "CREATE TRIGGER fill_fails BEFORE UPDATE ON lt_changes BEGIN "
        " SELECT RAISE(ABORT, 'database or disk is full'); END;");
    path_of(conf, sizeof conf, "adapter.conf");
    lt_db_table_t table = {"citizens", 2, CITIZEN_COLS, TYPES2, 0};
    lt_db_t *d = lt_db_connect("old_fill.db", conf, LT_DB_SOURCE, &table, 0, err, sizeof err);
    CU_ASSERT_PTR_NULL(d);
    CU_ASSERT(strstr(err, "database or disk is full") != NULL);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM pragma_table_info('lt_changes') "
                                "WHERE name = 'table_name'") == 0);
    lt_db_destroy(&d);
    ut_sql_exec(raw, "DROP TRIGGER fill_fails");
    d = open_seam("old_fill.db", LT_DB_SOURCE, "citizens", CITIZEN_COLS, 0);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM lt_changes WHERE table_name = 'citizens'") ==
              4);
    changes_t c;
    CU_ASSERT(read_changes(d, 1, 100, &c) == 2);
    expect_change(&c, 0, 2, "b");
    expect_change(&c, 1, 4, "c");
    CU_ASSERT(c.n == 2 && c.deleted[1] == 1);
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* ---- the row accessor ------------------------------------------------- */

typedef struct {
    int called;
    lt_db_type_t type[6];
    const char *name[6];
    int null[6];
    size_t count;
} row_seen_t;

static int on_typed_row(void *arg, const lt_db_row_t *row, char *err, size_t errlen)
{
    row_seen_t *s = arg;
    s->called++;
    s->count = lt_db_row_count(row);
    CU_ASSERT_FATAL(s->count == 6);
    for (size_t i = 0; i < 6; i++) {
        s->type[i] = lt_db_row_type(row, i);
        s->null[i] = lt_db_row_null(row, i);
    }
    CU_ASSERT_STRING_EQUAL(lt_db_row_name(row, 1), "n i");
    CU_ASSERT(lt_db_row_int(row, 1) == -9007199254740993LL);
    CU_ASSERT(lt_db_row_double(row, 2) == 0.1 + 0.2); /* all 17 digits */
    CU_ASSERT_STRING_EQUAL(lt_db_row_text(row, 3), "Nguyễn");
    size_t len = 0;
    const void *v = NULL;
    CU_ASSERT(lt_db_row_blob(row, 4, &v, &len) == 0);
    const uint8_t *b = v;
    CU_ASSERT(len == 3 && b && b[0] == 0 && b[1] == 0xff && b[2] == 'x');
    CU_ASSERT(lt_db_row_text(row, 5) == NULL);
    (void)err;
    (void)errlen;
    return 0;
}

static int on_refused_row(void *arg, const lt_db_row_t *row, char *err, size_t errlen)
{
    (void)arg;
    (void)row;
    snprintf(err, errlen, "refused by the test");
    return -1;
}

static void test_row_accessor(void)
{
    char err[512] = "";
    sqlite3 *raw =
        open_raw("rows.db", "CREATE TABLE \"t\"\"x\"(k TEXT PRIMARY KEY, \"n i\", r, t, b, z);"
                            "INSERT INTO \"t\"\"x\" VALUES ('k1', -9007199254740993, 0.1 + 0.2, "
                            "'Nguyễn', x'00ff78', NULL)");
    static const char *const cols[] = {"k", "n i", "r", "t", "b", "z"};
    lt_db_type_t types[6] = {LT_DB_TEXT, LT_DB_INTEGER, LT_DB_REAL,
                             LT_DB_TEXT, LT_DB_BLOB,    LT_DB_TEXT};
    lt_db_table_t table = {"t\"x", 6, cols, types, 0};
    char conf[600];
    path_of(conf, sizeof conf, "a.conf");
    lt_db_t *d = lt_db_connect("rows.db", conf, LT_DB_SOURCE, &table, 0, err, sizeof err);
    CU_ASSERT_FATAL(d != NULL);
    row_seen_t s = {0};
    CU_ASSERT(lt_db_read_row(d, "k1", on_typed_row, &s, err, sizeof err) == 1);
    CU_ASSERT(s.called == 1);
    static const lt_db_type_t want[6] = {LT_DB_TEXT, LT_DB_INTEGER, LT_DB_REAL,
                                         LT_DB_TEXT, LT_DB_BLOB,    LT_DB_NULL};
    for (size_t i = 0; i < 6; i++) {
        CU_ASSERT(s.type[i] == want[i]);
        CU_ASSERT(s.null[i] == (i == 5));
    }
    /* No row: the callback is not called. */
    CU_ASSERT(lt_db_read_row(d, "k2", on_typed_row, &s, err, sizeof err) == 0);
    CU_ASSERT(s.called == 1);
    /* The callback's failure is the read's, with its message. */
    CU_ASSERT(lt_db_read_row(d, "k1", on_refused_row, NULL, err, sizeof err) == -1);
    CU_ASSERT_STRING_EQUAL(err, "refused by the test");
    /* The statement was reset: the row can be read again. */
    CU_ASSERT(lt_db_read_row(d, "k1", on_typed_row, &s, err, sizeof err) == 1);
    CU_ASSERT(s.called == 2);
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* ---- applying a batch with the cursor ----------------------------------- */

/* One upsert's values; fail makes the fill callback refuse it. */
typedef struct {
    const char *key; /* NULL: a NULL key, which the table refuses */
    int64_t v;
    int fail;
} row_t;

static int fill_row(void *ctx, const lt_db_write_t *w, lt_db_params_t *p, char *err, size_t errlen)
{
    const row_t *r = w->arg;
    (void)ctx;
    if (r->fail) {
        snprintf(err, errlen, "refused by the test");
        return -1;
    }
    int rc = r->key ? lt_db_param_text(p, 0, r->key) : lt_db_param_null(p, 0);
    if (rc == 0)
        rc = lt_db_param_int(p, 1, r->v);
    if (rc != 0)
        snprintf(err, errlen, "%s", lt_db_params_error(p));
    return rc;
}

static int apply(lt_db_t *d, const lt_db_write_t *w, size_t n, int64_t cursor, size_t *failed,
                 char *err, size_t errlen)
{
    return lt_db_apply(d, w, n, fill_row, NULL, "VN/GOV/BCA/population.p38", cursor, failed, err,
                       errlen);
}

/* A sink creates an unsigned 64-bit field's column so that it keeps every
 * value exactly: above INT64_MAX an INTEGER column would store a REAL. */
static void test_sink_uint64_exact(void)
{
    char conf[600], err[512] = "", text[64];
    static const char *const cols[] = {"k", "v"};
    static const lt_db_type_t types[] = {LT_DB_TEXT, LT_DB_UINT64};
    path_of(conf, sizeof conf, "adapter.conf");
    lt_db_table_t table = {"u", 2, cols, types, 0};
    lt_db_t *d = lt_db_connect("u64.db", conf, LT_DB_SINK, &table, 1, err, sizeof err);
    CU_ASSERT_FATAL(d != NULL);
    uint64_t big = UINT64_MAX, small = 5;
    lt_db_write_t w[] = {{"a", 0, &big}, {"b", 0, &small}};
    size_t failed = 0;
    CU_ASSERT(lt_db_apply(d, w, 2, ut_fill_u64, NULL, "VN/GOV/BCA/meters", 2, &failed, err,
                          sizeof err) == 0);
    sqlite3 *raw = open_raw("u64.db", NULL);
    ut_sql_text(raw,
                "SELECT group_concat(k || ':' || typeof(v) || ':' || v, ',') FROM "
                "(SELECT * FROM u ORDER BY k)",
                text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "a:text:18446744073709551615,b:integer:5");
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

static int fill_double(void *ctx, const lt_db_write_t *w, lt_db_params_t *p, char *err,
                       size_t errlen)
{
    (void)ctx;
    if (lt_db_param_text(p, 0, w->key) == 0 &&
        lt_db_param_double(p, 1, *(const double *)w->arg) == 0)
        return 0;
    snprintf(err, errlen, "%s", lt_db_params_error(p));
    return -1;
}

/* A NaN stays a NaN (SQLite would store a NaN double as NULL). */
static void test_sink_nan(void)
{
    char conf[600], err[512] = "", text[64];
    static const char *const cols[] = {"k", "r"};
    static const lt_db_type_t types[] = {LT_DB_TEXT, LT_DB_REAL};
    path_of(conf, sizeof conf, "adapter.conf");
    lt_db_table_t table = {"r", 2, cols, types, 0};
    lt_db_t *d = lt_db_connect("nan.db", conf, LT_DB_SINK, &table, 1, err, sizeof err);
    CU_ASSERT_FATAL(d != NULL);
    double nan = NAN, half = 0.5;
    lt_db_write_t w[] = {{"a", 0, &nan}, {"b", 0, &half}};
    size_t failed = 0;
    CU_ASSERT(
        lt_db_apply(d, w, 2, fill_double, NULL, "VN/EVN/meters", 2, &failed, err, sizeof err) == 0);
    sqlite3 *raw = open_raw("nan.db", NULL);
    ut_sql_text(raw,
                "SELECT group_concat(k || ':' || typeof(r) || ':' || r, ',') FROM "
                "(SELECT * FROM r ORDER BY k)",
                text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "a:text:NaN,b:real:0.5");
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* The table as "k=v,k=v" in key order, and the stored cursor. */
static void state(sqlite3 *raw, char *out, size_t cap, int64_t *cursor)
{
    ut_sql_text(raw, "SELECT group_concat(k || '=' || v, ',') FROM (SELECT * FROM t ORDER BY k)",
                out, cap);
    *cursor = ut_sql_count(raw, "SELECT COALESCE(MAX(seq), 0) FROM lt_sink_cursor");
}

static void test_apply_all_or_nothing(void)
{
    char err[512] = "", rows[256];
    int64_t cur = -1;
    size_t failed = 99;
    static const char *const cols[] = {"k", "v"};
    lt_db_t *d = open_seam("sink.db", LT_DB_SINK, "t", cols, 1);
    sqlite3 *raw = open_raw("sink.db", NULL);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM t") == 0); /* created */

    row_t a = {"a", 1, 0}, b = {"b", 2, 0}, c = {"c", 3, 0};
    lt_db_write_t first[] = {{"a", 0, &a}, {"b", 0, &b}, {"c", 0, &c}};
    CU_ASSERT(apply(d, first, 3, 3, &failed, err, sizeof err) == 0);
    state(raw, rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=1,b=2,c=3");
    CU_ASSERT(cur == 3);

    /* The fill of the third write fails: the delete and the upsert before
     * it and the cursor are all rolled back. */
    row_t b20 = {"b", 20, 0}, bad = {"d", 4, 1};
    lt_db_write_t second[] = {{"a", 1, NULL}, {"b", 0, &b20}, {"d", 0, &bad}};
    CU_ASSERT(apply(d, second, 3, 6, &failed, err, sizeof err) == -1);
    CU_ASSERT(failed == 2);
    CU_ASSERT_STRING_EQUAL(err, "refused by the test");
    state(raw, rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=1,b=2,c=3");
    CU_ASSERT(cur == 3);

    /* The database refuses the second write (NULL key): same. */
    row_t e = {"e", 5, 0}, nokey = {NULL, 6, 0};
    lt_db_write_t third[] = {{"e", 0, &e}, {"", 0, &nokey}};
    CU_ASSERT(apply(d, third, 2, 5, &failed, err, sizeof err) == -1);
    CU_ASSERT(failed == 1);
    CU_ASSERT(strstr(err, "NOT NULL") != NULL);
    state(raw, rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=1,b=2,c=3");
    CU_ASSERT(cur == 3);

    /* The writes succeed: delete, update and the cursor together. */
    lt_db_write_t fourth[] = {{"a", 1, NULL}, {"b", 0, &b20}};
    CU_ASSERT(apply(d, fourth, 2, 5, &failed, err, sizeof err) == 0);
    state(raw, rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "b=20,c=3");
    CU_ASSERT(cur == 5);
    int64_t loaded = -1;
    CU_ASSERT(lt_db_cursor_load(d, "VN/GOV/BCA/population.p38", &loaded, err, sizeof err) == 0);
    CU_ASSERT(loaded == 5);

    /* Storing the cursor fails (its table is gone): the writes are undone. */
    ut_sql_exec(raw, "DROP TABLE lt_sink_cursor");
    lt_db_write_t fifth[] = {{"e", 0, &e}};
    CU_ASSERT(apply(d, fifth, 1, 6, &failed, err, sizeof err) == -1);
    CU_ASSERT(failed == 1);
    CU_ASSERT(strstr(err, "lt_sink_cursor") != NULL);
    CU_ASSERT(ut_sql_count(raw, "SELECT COUNT(*) FROM t WHERE k = 'e'") == 0);
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* A sink whose key is under NOCASE gets a key renamed only in case, abc-1
 * to ABC-1, as the new spelling's row and the old spelling's tombstone, in
 * either order and in one batch or two: the row stays, spelt ABC-1. The
 * tombstone of abc-1 must not match the row of ABC-1 through the key's
 * NOCASE =, nor the upsert keep the old spelling. */
static void test_sink_nocase_key(void)
{
    char conf[600], err[512] = "", rows[256];
    static const char *const cols[] = {"id", "name"};
    path_of(conf, sizeof conf, "adapter.conf");
    lt_db_table_t table = {"r", 2, cols, TYPES2, 0};
    sqlite3 *raw = open_raw("sink_nocase.db", "CREATE TABLE r(id TEXT COLLATE NOCASE PRIMARY KEY, "
                                              "name INTEGER)");
    lt_db_t *d = lt_db_connect("sink_nocase.db", conf, LT_DB_SINK, &table, 0, err, sizeof err);
    CU_ASSERT_FATAL(d != NULL);
    row_t renamed = {"ABC-1", 2, 0};
    lt_db_write_t up = {"ABC-1", 0, &renamed}, del = {"abc-1", 1, NULL};
    const lt_db_write_t orders[4][2] = {{up, del}, {del, up}, {up, del}, {del, up}};
    size_t failed = 99;
    for (int i = 0; i < 4; i++) {
        ut_sql_exec(raw, "DELETE FROM r; INSERT INTO r VALUES ('abc-1', 1)");
        if (i < 2) { /* one batch */
            CU_ASSERT(apply(d, orders[i], 2, i + 1, &failed, err, sizeof err) == 0);
        } else { /* two */
            CU_ASSERT(apply(d, &orders[i][0], 1, 2 * i, &failed, err, sizeof err) == 0);
            CU_ASSERT(apply(d, &orders[i][1], 1, 2 * i + 1, &failed, err, sizeof err) == 0);
        }
        ut_sql_text(raw, "SELECT group_concat(id || '=' || name, ',') FROM r", rows, sizeof rows);
        CU_ASSERT_STRING_EQUAL(rows, "ABC-1=2");
        if (strcmp(rows, "ABC-1=2") != 0)
            fprintf(stderr, "\n  order %d: the table holds '%s'\n", i, rows);
    }
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* A sink table with a UNIQUE column besides the key. A tombstone, then its
 * value given to another key, applies. Two rows that swap the value (at
 * the source A 1 -> 3, B 2 -> 1, A 3 -> 2 in one transaction: the batch
 * holds B, then A) conflict in any order: refused, naming the column and
 * what to do, nothing written. */
static void test_sink_unique_column(void)
{
    char conf[600], err[512] = "", rows[256];
    static const char *const cols[] = {"id", "card"};
    path_of(conf, sizeof conf, "adapter.conf");
    lt_db_table_t table = {"p", 2, cols, TYPES2, 0};
    sqlite3 *raw = open_raw("sink_unique.db", "CREATE TABLE p(id TEXT PRIMARY KEY, card INTEGER "
                                              "UNIQUE); INSERT INTO p VALUES ('A', 1)");
    lt_db_t *d = lt_db_connect("sink_unique.db", conf, LT_DB_SINK, &table, 0, err, sizeof err);
    CU_ASSERT_FATAL(d != NULL);
    row_t b1 = {"B", 1, 0}, a2 = {"A", 2, 0};
    size_t failed = 99;
    lt_db_write_t passed_on[] = {{"A", 1, NULL}, {"B", 0, &b1}};
    CU_ASSERT(apply(d, passed_on, 2, 2, &failed, err, sizeof err) == 0);
    ut_sql_exec(raw, "DELETE FROM p; INSERT INTO p VALUES ('A', 1), ('B', 2)");
    lt_db_write_t swap[] = {{"B", 0, &b1}, {"A", 0, &a2}};
    CU_ASSERT(apply(d, swap, 2, 5, &failed, err, sizeof err) == -1);
    CU_ASSERT(failed == 0);
    CU_ASSERT(strstr(err, "p.card") != NULL);
    CU_ASSERT(strstr(err, "no UNIQUE constraint other than its key_column") != NULL);
    ut_sql_text(raw, "SELECT group_concat(id || '=' || card, ',') FROM p", rows, sizeof rows);
    CU_ASSERT_STRING_EQUAL(rows, "A=1,B=2");
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

/* A sink's cursor table from before histories were kept (PROTOCOL.md
 * 8.2) gets the column at open, its cursor kept and its history unknown;
 * a history is stored, read back and cleared with the cursor row. */
static void test_sink_history_column(void)
{
    char err[512] = "", hex[LT_DB_HISTORY_HEX] = "x";
    int64_t cur = -1;
    static const char *const cols[] = {"k", "v"};
    sqlite3 *raw = open_raw("history.db", "CREATE TABLE t(k TEXT PRIMARY KEY, v INTEGER);"
                                          "CREATE TABLE lt_sink_cursor(stream TEXT PRIMARY KEY, "
                                          "seq INTEGER NOT NULL);"
                                          "INSERT INTO lt_sink_cursor VALUES ('s', 12)");
    lt_db_t *d = open_seam("history.db", LT_DB_SINK, "t", cols, 0);
    CU_ASSERT(lt_db_cursor_load(d, "s", &cur, err, sizeof err) == 0 && cur == 12);
    CU_ASSERT(lt_db_history_load(d, "s", hex, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(hex, "");
    CU_ASSERT(ut_sql_count(raw, "SELECT count(*) FROM lt_sink_cursor WHERE history IS NULL") == 1);
    /* Stored in the caller's transaction, with the cursor; a stream without
     * a cursor row gets one at 0. */
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_history_store(d, "s", "00112233445566778899aabbccddeeff", err, sizeof err) ==
              0);
    CU_ASSERT(lt_db_history_store(d, "new", "ffeeddccbbaa99887766554433221100", err, sizeof err) ==
              0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(lt_db_history_load(d, "s", hex, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(hex, "00112233445566778899aabbccddeeff");
    CU_ASSERT(lt_db_cursor_load(d, "s", &cur, err, sizeof err) == 0 && cur == 12);
    CU_ASSERT(lt_db_cursor_load(d, "new", &cur, err, sizeof err) == 0 && cur == 0);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_history_store(d, "s", "", err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(lt_db_history_load(d, "s", hex, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(hex, "");
    lt_db_destroy(&d);
    /* Opened again: nothing to add. */
    d = open_seam("history.db", LT_DB_SINK, "t", cols, 0);
    CU_ASSERT(lt_db_cursor_load(d, "s", &cur, err, sizeof err) == 0 && cur == 12);
    sqlite3_close(raw);
    lt_db_destroy(&d);
}
/* A sink's replacement (PROTOCOL.md 8.2): in one transaction the table is
 * emptied and refilled in parts with the cursor; rolled back, the table
 * and cursor are as before; committed, only the new rows remain. */
static void test_replace_table(void)
{
    char err[512] = "", rows[256];
    int64_t cur = -1;
    size_t failed = 99;
    static const char *const cols[] = {"k", "v"};
    lt_db_t *d = open_seam("replace.db", LT_DB_SINK, "t", cols, 1);
    sqlite3 *raw = open_raw("replace.db", NULL);
    row_t a = {"a", 1, 0}, b = {"b", 2, 0}, x = {"x", 9, 0}, y = {"y", 8, 0};
    lt_db_write_t old[] = {{"a", 0, &a}, {"b", 0, &b}}, p1[] = {{"x", 0, &x}},
                  p2[] = {{"y", 0, &y}};
    CU_ASSERT_FATAL(apply(d, old, 2, 2, &failed, err, sizeof err) == 0);
    for (int commit = 0; commit < 2; commit++) {
        CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
        CU_ASSERT(lt_db_clear(d, err, sizeof err) == 0);
        CU_ASSERT(lt_db_write(d, p1, 1, fill_row, NULL, "s", 40, &failed, err, sizeof err) == 0);
        CU_ASSERT(lt_db_write(d, p2, 1, fill_row, NULL, "s", 40, &failed, err, sizeof err) == 0);
        if (commit) {
            CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
        } else {
            lt_db_rollback(d);
        }
        state(raw, rows, sizeof rows, &cur);
        CU_ASSERT_STRING_EQUAL(rows, commit ? "x=9,y=8" : "a=1,b=2");
    }
    int64_t loaded = -1;
    CU_ASSERT(lt_db_cursor_load(d, "s", &loaded, err, sizeof err) == 0 && loaded == 40);
    sqlite3_close(raw);
    lt_db_destroy(&d);
}

static void test_sink_table_must_fit(void)
{
    char err[512] = "", conf[600];
    /* No PRIMARY KEY or UNIQUE constraint on k. */
    sqlite3_close(open_raw("nokey.db", "CREATE TABLE t(k TEXT, v INTEGER)"));
    path_of(conf, sizeof conf, "sink.conf");
    static const char *const cols[] = {"k", "v"};
    lt_db_table_t table = {"t", 2, cols, TYPES2, 0};
    lt_db_t *d = lt_db_connect("nokey.db", conf, LT_DB_SINK, &table, 0, err, sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "table t cannot take the mapped columns") != NULL);
    table.key = 2;
    d = lt_db_connect("nokey.db", conf, LT_DB_SINK, &table, 0, err, sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "the key is not one of its 2 columns") != NULL);
}

/* libpq's parsed options of a setting, its password among them, are wiped
 * before the PostgreSQL backend frees them (lt_db_pg_opts_wipe, through
 * which it frees each of them): no byte of the password is left. */
static void test_pg_opts_wiped(void)
{
    static const char *const settings[] = {
        "host=db.example user=agency password=Sekret-pw-42 dbname=pop",
        "postgresql://agency:Sekret-pw-42@db.example/pop",
    };
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++) {
        PQconninfoOption *opts = PQconninfoParse(settings[i], NULL);
        CU_ASSERT_FATAL(opts != NULL);
        char *pw = NULL;
        for (PQconninfoOption *o = opts; o->keyword; o++)
            if (strcmp(o->keyword, "password") == 0)
                pw = o->val;
        CU_ASSERT_FATAL(pw != NULL && strcmp(pw, "Sekret-pw-42") == 0);
        size_t n = strlen(pw);
        lt_db_pg_opts_wipe(opts);
        for (size_t k = 0; k < n; k++)
            CU_ASSERT_EQUAL(pw[k], 0);
        for (PQconninfoOption *o = opts; o->keyword; o++)
            CU_ASSERT(!o->val || !o->val[0]);
        PQconninfoFree(opts);
    }
    lt_db_pg_opts_wipe(NULL); /* what a failed parse returns */
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"postgresql:// and conninfo settings: the PostgreSQL backend", test_postgresql_settings},
        {"a SQLite path is resolved against the config file", test_sqlite_path_resolved},
        {"change capture installed twice", test_capture_install_twice},
        {"lt_rejects: recorded, counted, kinds apart, removed", test_rejects},
        {"cursor rows listed; a forgotten one holds no change back", test_cursor_forget},
        {"--forget of a table's last dataset removes its capture", test_forget_last},
        {"a mapped column the table lacks is refused", test_missing_column},
        {"a source refuses a key column without type affinity", test_key_without_affinity},
        {"a NOCASE key renamed or replaced in case: the old spelling is deleted", test_key_nocase},
        {"changes after a cursor, requeue, cursor and pruning", test_changes_after_cursor},
        {"keys without a row queued as deletions (reconcile)", test_queue_absent},
        {"two tables in one database; high-water mark, relist, shift", test_two_tables},
        {"rows a REPLACE deletes through another unique index are listed",
         test_replace_deletes_listed},
        {"capture trigger names of tables a and a_replace do not clash", test_trigger_names_apart},
        {"capture triggers under their old names are kept, then replaced",
         test_trigger_names_upgraded},
        {"a change list from before the table column", test_old_change_list},
        {"the table column is added and filled all or nothing", test_old_change_list_fill_fails},
        {"row accessor: names, types, values", test_row_accessor},
        {"apply: batch and cursor all or nothing", test_apply_all_or_nothing},
        {"a sink table must take upserts by key", test_sink_table_must_fit},
        {"an unsigned 64-bit column keeps every value exactly", test_sink_uint64_exact},
        {"a NaN is kept, not stored as NULL", test_sink_nan},
        {"replacement: emptied and refilled in one transaction", test_replace_table},
        {"sink: the cursor's history, a column added to an old cursor table",
         test_sink_history_column},
        {"a sink's NOCASE key renamed in case keeps its row, spelt anew", test_sink_nocase_key},
        {"a sink's UNIQUE column: a value passed on applies, a swap is refused and said why",
         test_sink_unique_column},
        {"PostgreSQL: libpq's parsed options are wiped before they are freed", test_pg_opts_wiped},
        {NULL, NULL},
    };
    return ut_main("db", suite_init, suite_clean, tests);
}

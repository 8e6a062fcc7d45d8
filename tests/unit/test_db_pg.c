/* test_db_pg: CUnit suite for the PostgreSQL backend of the adapters'
 * database seam (adapters/lt_db_pg.c), against the throwaway cluster that
 * the CTest fixture starts (tests/pg-cluster). Every test gets a fresh
 * database owned by an ordinary role (no superuser) and connects over TCP
 * with a password, as an agency would; the agency's own application is
 * another ordinary role with only the rights to write its table.
 *
 * It checks: installing change capture twice (existing rows listed once;
 * the printed script is the same installation), what is a change (insert,
 * update of a mapped column, key change, delete, TRUNCATE; not an update of
 * an unmapped column, not a rolled-back transaction), commit order with two
 * concurrent transactions (the one that commits last is read after the
 * cursor passed the other, never skipped), two tables in one database (own
 * changes, cursors and pruning), the capture's high-water mark, a relist
 * and the epoch shift,
 * NOTIFY waking the reader, the session's settings (a timestamptz and an
 * interval read alike whatever the server's defaults or the writer's
 * session), a char(n) key (the row's key is the change's), a key that
 * ignores case renamed in case (old key listed first; a sink keeps the
 * row, spelt anew), changes numbered in the order written whatever their
 * place on disk (and requeued so; lt_pending.seq is looked for in the
 * catalog at each idle poll only until seen), a capture from an older version (told
 * at start, upgraded by --install), a float read as an integer (clamped), table
 * names that SQL must quote (and one too long for trigger names), types in
 * both directions, the sink's batch (collapsed per key, all or nothing
 * with its cursor), a value too long for its column (refused,
 * never cut), a UNIQUE column besides the key (a tombstone's value given
 * to another key applies; a swap is refused saying why, or applied when
 * the constraint is deferred), a batch refused whole but not write by
 * write (applied so), a deferred constraint refused by the batch's COMMIT
 * (sent with it), a batch and its cursor in one round trip (counted by a
 * relay between the seam and the server; a connection ended between two
 * batches fails the next as lost), a table that cannot take upserts, a
 * setup that failed part way done again, a column's type changed under a running source or
 * sink (prepared again at the next try), a wrong password or database, and a
 * server restart and crash in the middle (the connection comes back,
 * nothing is lost). */
#include "unit_util.h"

#include "lt_db.h"
#include "lt_limits.h"
#include "lt_sink.h"
#include "lt_source.h"
#include "pg_util.h"
#include "unit_rejects.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OWNER     "agency"
#define OWNER_PW  "Agency-pw-7q"
#define APP       "agency_app"
#define READER    "agency_reader"
#define READER_PW "Reader-pw-3k"

static lt_pg_t g_pg;
static PGconn *g_app; /* the agency's application, on the current database */
static char g_db[64];
static int g_n;

static int suite_init(void)
{
    return lt_pg_load(&g_pg);
}

static int suite_clean(void)
{
    PQfinish(g_app);
    return 0;
}

/* A fresh database with `schema` created by its owner, and the
 * application's role allowed to write every table of it. */
static void fresh(const char *schema)
{
    snprintf(g_db, sizeof g_db, "lt_db_pg_%d", ++g_n);
    PQfinish(g_app);
    g_app = NULL;
    CU_ASSERT_FATAL(lt_pg_fresh_db(&g_pg, g_db, OWNER, OWNER_PW) == 0);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_FATAL(lt_pg_exec(o, schema) == 0);
    CU_ASSERT_FATAL(lt_pg_role(&g_pg, APP, NULL) == 0);
    CU_ASSERT_FATAL(lt_pg_exec(o, "GRANT USAGE ON SCHEMA public TO " APP ";"
                                  "GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES "
                                  "IN SCHEMA public TO " APP) == 0);
    PQfinish(o);
    g_app = lt_pg_as(&g_pg, g_db, APP);
    CU_ASSERT_FATAL(g_app != NULL);
}

static void app(const char *sql)
{
    CU_ASSERT_FATAL(lt_pg_exec(g_app, sql) == 0);
}

/* The owner's view of the database (to look into the lt_ tables). */
static int64_t owner_int(const char *sql)
{
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    int64_t v = o ? lt_pg_int(o, sql) : -1;
    PQfinish(o);
    return v;
}

static lt_db_t *open_seam(lt_db_role_t role, const char *t, const char *const *cols,
                          const lt_db_type_t *types, size_t n, int create)
{
    char uri[512], err[1024] = "";
    lt_pg_uri(&g_pg, g_db, OWNER, OWNER_PW, uri, sizeof uri);
    lt_db_table_t table = {t, n, cols, types, 0};
    lt_db_t *d = lt_db_connect(uri, NULL, role, &table, create, err, sizeof err);
    if (!d)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(d != NULL);
    CU_ASSERT(strstr(lt_db_name(d), OWNER_PW) == NULL);
    return d;
}

static const char *const COLS2[] = {"id", "name"};
static const lt_db_type_t TYPES2[] = {LT_DB_TEXT, LT_DB_TEXT};

#define CITIZENS "CREATE TABLE citizens(id text PRIMARY KEY, name text, note text);"

/* ---- reading changes ---------------------------------------------------- */

typedef struct {
    int64_t id[32];
    char key[32][32];
    char name[32][32]; /* "-" for a tombstone, "" for NULL */
    size_t n;
} changes_t;

static int on_change(void *arg, int64_t id, const char *key, const lt_db_row_t *row, char *err,
                     size_t errlen)
{
    changes_t *c = arg;
    if (c->n >= 32) {
        snprintf(err, errlen, "too many changes");
        return -1;
    }
    c->id[c->n] = id;
    snprintf(c->key[c->n], sizeof c->key[c->n], "%s", key);
    const char *name = row ? lt_db_row_text(row, 1) : "-";
    snprintf(c->name[c->n], sizeof c->name[c->n], "%s", name ? name : "");
    c->n++;
    return 0;
}

/* Numbers what is committed, then reads the changes after `after`. */
static long read_changes(lt_db_t *d, int64_t after, size_t limit, changes_t *c)
{
    char err[1024] = "";
    size_t moved = 0;
    memset(c, 0, sizeof *c);
    CU_ASSERT_FATAL(lt_db_capture_sync(d, 1000, &moved, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_db_begin(d, 0, err, sizeof err) == 0);
    long n = lt_db_read_changes(d, after, limit, on_change, c, err, sizeof err);
    if (n < 0)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(n == (long)c->n);
    return n;
}

/* "key=name key=name ..." of the changes read. */
static const char *show(const changes_t *c)
{
    static char out[1024];
    size_t len = 0;
    out[0] = 0;
    for (size_t i = 0; i < c->n; i++)
        len += (size_t)snprintf(out + len, sizeof out - len, "%s%s=%s", i ? " " : "", c->key[i],
                                c->name[i]);
    return out;
}

static void install(lt_db_t *d, int want_created)
{
    char err[1024] = "";
    int created = -1;
    int rc = lt_db_capture_install(d, &created, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT(created == want_created);
}

static void test_install_twice(void)
{
    fresh(CITIZENS "INSERT INTO citizens VALUES ('c', 'Chi', NULL), ('a', 'An', NULL),"
                   " ('b', 'Bình', NULL)");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    char err[1024] = "";
    int present = -1;
    CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == 0);
    CU_ASSERT(present == 0);
    install(d, 1);
    install(d, 0); /* again: nothing listed twice */
    CU_ASSERT(lt_db_capture_present(d, &present, err, sizeof err) == 0);
    CU_ASSERT(present == 1);
    CU_ASSERT(owner_int("SELECT count(*) FROM lt_changes") == 3);
    CU_ASSERT(owner_int("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'citizens'::regclass "
                        "AND NOT tgisinternal") == 4);
    int64_t high = 0;
    CU_ASSERT(lt_db_capture_high(d, &high, err, sizeof err) == 0);
    CU_ASSERT(high == 3);
    /* The application needs no grant on the lt_ tables. */
    app("UPDATE citizens SET note = 'x' WHERE id = 'a'"); /* unmapped: no change */
    app("UPDATE citizens SET name = 'Ân' WHERE id = 'a'");
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 3);
    CU_ASSERT_STRING_EQUAL(show(&c), "b=Bình c=Chi a=Ân");
    CU_ASSERT(c.id[0] == 2 && c.id[1] == 3 && c.id[2] == 4);
    /* The printed script is the same installation: run again by the owner,
     * it lists nothing. */
    char *sql = lt_db_capture_script(d, err, sizeof err);
    CU_ASSERT_FATAL(sql != NULL);
    CU_ASSERT(strstr(sql, "BEGIN;") == sql);
    CU_ASSERT(strstr(sql, "SECURITY DEFINER") != NULL);
    CU_ASSERT(strstr(sql, OWNER_PW) == NULL);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT(o && lt_pg_exec(o, sql) == 0);
    PQfinish(o);
    free(sql);
    CU_ASSERT(owner_int("SELECT count(*) FROM lt_changes") == 4);
    lt_db_destroy(&d);
}

static void test_rejects(void)
{
    fresh(CITIZENS "SELECT 1");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    ut_rejects_cycle(d, owner_int);
    lt_db_destroy(&d);
}

/* The cursor rows listed and forgotten (unit_rejects.h). */
static void test_cursor_forget(void)
{
    fresh(CITIZENS "SELECT 1");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(d, 1);
    ut_cursor_cycle(d, "citizens", owner_int);
    lt_db_destroy(&d);
}

static int64_t forget_listed(void)
{
    return owner_int("SELECT (SELECT count(*) FROM lt_changes WHERE table_name = 'citizens') + "
                     "(SELECT count(*) FROM lt_pending WHERE table_name = 'citizens')");
}

/* The source configuration `name` in dir of `settings` on the current
 * database as `role`. */
static void source_conf(const char *dir, const char *name, const char *role, const char *pw,
                        const char *settings, char *path, size_t cap)
{
    char uri[512], text[2048];
    snprintf(path, cap, "%s/%s", dir, name);
    lt_pg_uri(&g_pg, g_db, role, pw, uri, sizeof uri);
    snprintf(text, sizeof text, "gateway_socket = \"%s/no.sock\";\ndatabase = \"%s\";\n%s", dir,
             uri, settings);
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
}

/* --forget of a table's last dataset removes its change capture
 * (unit_rejects.h): its trigger function, triggers and listed keys. */
static void test_forget_last(void)
{
    char dir[256], other[400], same[400], denied[400];
    fresh(CITIZENS "CREATE TABLE others(id text PRIMARY KEY, name text)");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(d, 1);
    CU_ASSERT_FATAL(ut_mkdtemp(dir, sizeof dir, "forget") == 0);
    source_conf(dir, "other.conf", OWNER, OWNER_PW, UT_SOURCE_DATASET("ut/forget/o", "others"),
                other, sizeof other);
    source_conf(dir, "same.conf", OWNER, OWNER_PW, UT_SOURCE_DATASET("ut/forget/c", "citizens"),
                same, sizeof same);
    /* A role with every right on the tables but not their owner's. */
    CU_ASSERT_FATAL(lt_pg_role(&g_pg, READER, READER_PW) == 0);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_FATAL(lt_pg_exec(o, "GRANT USAGE ON SCHEMA public TO " READER ";"
                                  "GRANT ALL ON ALL TABLES IN SCHEMA public TO " READER) == 0);
    PQfinish(o);
    source_conf(dir, "denied.conf", READER, READER_PW, UT_SOURCE_DATASET("ut/forget/o", "others"),
                denied, sizeof denied);
    ut_forget_last(d, other, same, denied, app, forget_listed);
    CU_ASSERT(owner_int("SELECT count(*) FROM pg_proc WHERE proname = 'lt_citizens_capture'") == 0);
    CU_ASSERT(owner_int("SELECT count(*) FROM pg_trigger WHERE tgrelid = 'citizens'::regclass "
                        "AND tgname LIKE 'lt\\_%'") == 0);
    CU_ASSERT(ut_rmrf(dir) == 0);
    lt_db_destroy(&d);
}

/* --forget of a table's last dataset that cannot lock the table (its
 * writers hold it past lock_timeout, here 300 ms) says so, naming the
 * SQLSTATE and the table, not the role's rights, and changes nothing. */
static void test_forget_lock_timeout(void)
{
    char dir[256], conf[400], uri[512], text[2048], out[1024], err[1024] = "";
    int64_t cur = -1;
    fresh(CITIZENS "CREATE TABLE others(id text PRIMARY KEY, name text)");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(d, 1);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "ut/forget/b", 0, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT_FATAL(ut_mkdtemp(dir, sizeof dir, "forget-lock") == 0);
    lt_pg_uri(&g_pg, g_db, OWNER, OWNER_PW, uri, sizeof uri);
    snprintf(conf, sizeof conf, "%s/other.conf", dir);
    snprintf(
        text, sizeof text,
        "gateway_socket = \"%s/no.sock\";\ndatabase = \"%s?options=-c%%20lock_timeout%%3D300\";"
        "\n%s",
        dir, uri, UT_SOURCE_DATASET("ut/forget/o", "others"));
    CU_ASSERT_FATAL(ut_write_text(conf, text) == 0);
    app("BEGIN; SELECT count(*) FROM citizens");
    lt_source_t *src = lt_source_new(conf, err, sizeof err);
    CU_ASSERT_FATAL(src != NULL);
    FILE *f = fmemopen(out, sizeof out, "w");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(lt_source_forget(src, "ut/forget/b", f, err, sizeof err) == -1);
    fclose(f);
    lt_source_destroy(&src);
    app("COMMIT");
    CU_ASSERT(strstr(err, "cannot remove the change capture of table citizens") != NULL);
    CU_ASSERT(strstr(err, "SQLSTATE 55P03") != NULL);
    CU_ASSERT(strstr(err, "waiting for table citizens") != NULL);
    CU_ASSERT(strstr(err, "rights") == NULL);
    CU_ASSERT(lt_db_cursor_load(d, "ut/forget/b", &cur, err, sizeof err) == 0 && cur == 0);
    CU_ASSERT(ut_rmrf(dir) == 0);
    lt_db_destroy(&d);
}

static void test_what_is_a_change(void)
{
    fresh(CITIZENS);
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(d, 1);
    changes_t c;
    app("INSERT INTO citizens VALUES ('a', '1', NULL), ('b', '1', NULL), ('c', '1', NULL)");
    CU_ASSERT(read_changes(d, 0, 100, &c) == 3);
    int64_t cur = c.id[2];
    /* A rolled-back transaction and a rolled-back savepoint: nothing. */
    app("BEGIN; INSERT INTO citizens VALUES ('x', '1', NULL); UPDATE citizens SET name = '9'; "
        "ROLLBACK");
    app("BEGIN; SAVEPOINT s; DELETE FROM citizens WHERE id = 'a'; ROLLBACK TO s; COMMIT");
    CU_ASSERT(read_changes(d, cur, 100, &c) == 0);
    /* A key change lists the old key (gone: a tombstone) and the new one. */
    app("UPDATE citizens SET id = 'd' WHERE id = 'c'");
    CU_ASSERT(read_changes(d, cur, 100, &c) == 2);
    CU_ASSERT(strstr(show(&c), "c=-") != NULL && strstr(show(&c), "d=1") != NULL);
    cur = c.id[1];
    app("DELETE FROM citizens WHERE id = 'b'");
    app("UPDATE citizens SET name = NULL WHERE id = 'a'");
    CU_ASSERT(read_changes(d, cur, 100, &c) == 2);
    CU_ASSERT_STRING_EQUAL(show(&c), "b=- a=");
    cur = c.id[1];
    /* TRUNCATE: every key, each a tombstone now. */
    app("TRUNCATE citizens");
    CU_ASSERT(read_changes(d, cur, 100, &c) == 2);
    CU_ASSERT_STRING_EQUAL(show(&c), "a=- d=-");
    lt_db_destroy(&d);
}

/* Two concurrent transactions commit in the opposite order of their
 * writes. A change id taken when writing would give the later-committing
 * one the lower id, and a reader that had passed the other would skip it;
 * numbered after commit, it comes after. */
static void test_commit_order(void)
{
    fresh(CITIZENS);
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(d, 1);
    PGconn *t1 = lt_pg_as(&g_pg, g_db, APP), *t2 = lt_pg_as(&g_pg, g_db, APP);
    CU_ASSERT_FATAL(t1 && t2);
    CU_ASSERT(lt_pg_exec(t1, "BEGIN; INSERT INTO citizens VALUES ('first', 'T1', NULL)") == 0);
    CU_ASSERT(lt_pg_exec(t2, "BEGIN; INSERT INTO citizens VALUES ('second', 'T2', NULL)") == 0);
    CU_ASSERT(lt_pg_exec(t2, "COMMIT") == 0);
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 1);
    CU_ASSERT_STRING_EQUAL(show(&c), "second=T2");
    int64_t cursor = c.id[0];
    CU_ASSERT(lt_pg_exec(t1, "COMMIT") == 0);
    CU_ASSERT(read_changes(d, cursor, 100, &c) == 1);
    CU_ASSERT_STRING_EQUAL(show(&c), "first=T1");
    CU_ASSERT(c.id[0] > cursor);
    /* A transaction still open holds nothing back: T3 commits while T4 is
     * open, and is read at once. */
    CU_ASSERT(lt_pg_exec(t1, "BEGIN; UPDATE citizens SET name = 'T4' WHERE id = 'first'") == 0);
    CU_ASSERT(lt_pg_exec(t2, "UPDATE citizens SET name = 'T3' WHERE id = 'second'") == 0);
    cursor = c.id[0];
    CU_ASSERT(read_changes(d, cursor, 100, &c) == 1);
    CU_ASSERT_STRING_EQUAL(show(&c), "second=T3");
    CU_ASSERT(lt_pg_exec(t1, "COMMIT") == 0);
    CU_ASSERT(read_changes(d, c.id[0], 100, &c) == 1);
    CU_ASSERT_STRING_EQUAL(show(&c), "first=T4");
    PQfinish(t1);
    PQfinish(t2);
    lt_db_destroy(&d);
}

/* Two tables, one change list: each reads its own, requeues its own, and
 * prunes only what its own datasets passed. */
static void test_two_tables(void)
{
    fresh(CITIZENS "CREATE TABLE phones(num text PRIMARY KEY, owner text);");
    static const char *const pcols[] = {"num", "owner"};
    lt_db_t *c1 = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    lt_db_t *p1 = open_seam(LT_DB_SOURCE, "phones", pcols, TYPES2, 2, 0);
    install(c1, 1);
    install(p1, 1);
    /* One transaction touching both tables. */
    app("BEGIN; INSERT INTO citizens VALUES ('a', 'An', NULL);"
        "INSERT INTO phones VALUES ('849', 'a'); INSERT INTO citizens VALUES ('b', 'Ba', NULL);"
        "COMMIT");
    changes_t c, p;
    CU_ASSERT(read_changes(c1, 0, 100, &c) == 2);
    CU_ASSERT_STRING_EQUAL(show(&c), "a=An b=Ba");
    CU_ASSERT(read_changes(p1, 0, 100, &p) == 1);
    CU_ASSERT_STRING_EQUAL(show(&p), "849=a");
    char err[1024] = "";
    int64_t last = 0;
    CU_ASSERT(lt_db_last_change(p1, &last, err, sizeof err) == 0);
    CU_ASSERT(last == p.id[0]);
    /* The citizens' dataset passes everything: only its changes go. */
    CU_ASSERT_FATAL(lt_db_begin(c1, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(c1, "VN/GOV/BCA/population", c.id[1], err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(c1, err, sizeof err) == 0);
    CU_ASSERT(owner_int("SELECT count(*) FROM lt_changes WHERE table_name = 'citizens'") == 0);
    CU_ASSERT(owner_int("SELECT count(*) FROM lt_changes WHERE table_name = 'phones'") == 1);
    int64_t cur = -1;
    CU_ASSERT(lt_db_cursor_load(c1, "VN/GOV/BCA/population", &cur, err, sizeof err) == 0);
    CU_ASSERT(cur == c.id[1]);
    CU_ASSERT(lt_db_cursor_load(p1, "VN/COM/VIETTEL/phones", &cur, err, sizeof err) == 0);
    CU_ASSERT(cur == 0);
    /* Requeue the phone under a new id, after every id issued. */
    CU_ASSERT_FATAL(lt_db_begin(p1, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_requeue(p1, 0, last, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(p1, err, sizeof err) == 0);
    CU_ASSERT(read_changes(p1, last, 100, &p) == 1);
    CU_ASSERT(p.id[0] > c.id[1]);
    CU_ASSERT(read_changes(c1, c.id[1], 100, &c) == 0);
    lt_db_destroy(&c1);
    lt_db_destroy(&p1);
}

/* The high-water mark survives pruning; a relist lists every row again
 * under new ids; the epoch shift is kept with the cursor. */
static void test_high_and_relist(void)
{
    fresh(CITIZENS "INSERT INTO citizens VALUES ('a', 'An', NULL), ('b', 'Ba', NULL)");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(d, 1);
    char err[1024] = "";
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_cursor_store(d, "ds", 2, err, sizeof err) == 0);
    CU_ASSERT(lt_db_shift_store(d, "ds", 5000, 4000, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    int64_t high = 0, base = 0, shift = 0, acked = 0;
    CU_ASSERT(lt_db_capture_high(d, &high, err, sizeof err) == 0);
    CU_ASSERT(high == 2);
    CU_ASSERT(owner_int("SELECT count(*) FROM lt_changes") == 0);
    CU_ASSERT(lt_db_shift_load(d, "ds", &shift, &acked, err, sizeof err) == 0);
    CU_ASSERT(shift == 5000 && acked == 4000);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_capture_relist(d, &base, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(base == 2);
    changes_t c;
    CU_ASSERT(read_changes(d, base, 100, &c) == 2);
    CU_ASSERT_STRING_EQUAL(show(&c), "a=An b=Ba");
    CU_ASSERT(c.id[0] == 3 && c.id[1] == 4);
    CU_ASSERT(lt_db_capture_high(d, &high, err, sizeof err) == 0);
    CU_ASSERT(high == 4);
    lt_db_destroy(&d);
}

/* A cursor table from before acked_shift gets the column when the source
 * opens the database; its rows were acknowledged under their shift. */
static void test_cursor_table_upgraded(void)
{
    fresh(CITIZENS "CREATE TABLE lt_source_cursor (dataset text PRIMARY KEY, change_id bigint "
                   "NOT NULL, table_name text, shift bigint NOT NULL DEFAULT 0);"
                   "INSERT INTO lt_source_cursor VALUES ('ds', 2, 'citizens', 700)");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    char err[1024] = "";
    int64_t shift = 0, acked = 0;
    CU_ASSERT(owner_int("SELECT count(*) FROM information_schema.columns WHERE "
                        "table_name = 'lt_source_cursor' AND column_name = 'acked_shift'") == 1);
    CU_ASSERT(lt_db_shift_load(d, "ds", &shift, &acked, err, sizeof err) == 0);
    CU_ASSERT(shift == 700 && acked == 700);
    lt_db_destroy(&d);
}

/* A commit by the application wakes the reader's descriptor. */
static void test_notify(void)
{
    fresh(CITIZENS "CREATE TABLE other(k text PRIMARY KEY);");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    static const char *const ocols[] = {"k"};
    lt_db_t *o = open_seam(LT_DB_SOURCE, "other", ocols, TYPES2, 1, 0);
    install(d, 1);
    install(o, 1);
    int fd = lt_db_wait_fd(d);
    CU_ASSERT_FATAL(fd >= 0);
    struct pollfd p = {fd, POLLIN, 0};
    CU_ASSERT(poll(&p, 1, 0) == 0);
    app("INSERT INTO other VALUES ('x')"); /* another table's: no news here */
    CU_ASSERT(poll(&p, 1, 2000) == 1);
    CU_ASSERT(lt_db_news(d) == 0);
    app("INSERT INTO citizens VALUES ('a', 'An', NULL)");
    CU_ASSERT(poll(&p, 1, 2000) == 1);
    CU_ASSERT(lt_db_news(d) == 1);
    CU_ASSERT(lt_db_news(d) == 0);
    lt_db_destroy(&d);
    lt_db_destroy(&o);
}

/* A char(n) key: the change lists it as text (no padding), and the row's
 * key column reads the same, so that the record's key field is the
 * change's key (the gateway refuses a Publish where they differ). */
static int on_key_agrees(void *arg, int64_t id, const char *key, const lt_db_row_t *row, char *err,
                         size_t errlen)
{
    int *agree = arg;
    (void)id;
    (void)err;
    (void)errlen;
    const char *field = row ? lt_db_row_text(row, 0) : NULL;
    *agree += field && strcmp(field, key) == 0 ? 1 : -100;
    return 0;
}

static int on_row_key(void *arg, const lt_db_row_t *row, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    snprintf(arg, 16, "%s", lt_db_row_text(row, 0));
    return 0;
}

static void test_char_key(void)
{
    fresh("CREATE TABLE c6(k char(6) PRIMARY KEY, name text);"
          "INSERT INTO c6 VALUES ('ab', 'An')");
    static const char *const cols[] = {"k", "name"};
    lt_db_t *d = open_seam(LT_DB_SOURCE, "c6", cols, TYPES2, 2, 0);
    install(d, 1);
    app("INSERT INTO c6 VALUES ('xyz', 'Xuan')");
    char err[1024] = "", key[16] = "";
    size_t moved = 0;
    int agree = 0;
    CU_ASSERT_FATAL(lt_db_capture_sync(d, 1000, &moved, err, sizeof err) == 0);
    CU_ASSERT_FATAL(lt_db_begin(d, 0, err, sizeof err) == 0);
    CU_ASSERT(lt_db_read_changes(d, 0, 100, on_key_agrees, &agree, err, sizeof err) == 2);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(agree == 2);
    CU_ASSERT(lt_db_read_row(d, "ab", on_row_key, key, err, sizeof err) == 1);
    CU_ASSERT_STRING_EQUAL(key, "ab");
    lt_db_destroy(&d);
}

/* A key of table t (k, name) renamed only in case, abc-1 to ABC-1: the old
 * spelling reads as a deletion (a tombstone at the consumers), not as the
 * row of the new one, and before it (as on SQLite), so that even a sink
 * whose key ignores case and that deletes through that = keeps the row. */
static void s_rename_in_case(const char *schema, const char *t)
{
    fresh(schema);
    static const char *const cols[] = {"k", "name"};
    lt_db_t *d = open_seam(LT_DB_SOURCE, t, cols, TYPES2, 2, 0);
    install(d, 1);
    changes_t c;
    char sql[128];
    CU_ASSERT(read_changes(d, 0, 100, &c) == 1);
    int64_t after = c.n ? c.id[0] : 0;
    snprintf(sql, sizeof sql, "UPDATE %s SET k = 'ABC-1' WHERE k = 'abc-1'", t);
    app(sql);
    CU_ASSERT(read_changes(d, after, 100, &c) == 2);
    CU_ASSERT_STRING_EQUAL(show(&c), "abc-1=- ABC-1=An");
    if (strcmp(show(&c), "abc-1=- ABC-1=An") != 0)
        fprintf(stderr, "\n  %s: a rename in case read as: %s\n", t, show(&c));
    lt_db_destroy(&d);
}

/* Looks for keys[0..n-1] (at most 8) in a transaction, appending the
 * absent ones when append is set; found[] as lt_db_queue_absent sets it,
 * as digits ("0120": held, absent, invalid, held). */
static const char *queue_absent(lt_db_t *d, const char *const *keys, size_t n, int append)
{
    static char shown[9];
    char err[1024] = "";
    unsigned char found[8];
    memset(shown, 0, sizeof shown);
    CU_ASSERT_FATAL(n <= sizeof found && lt_db_begin(d, append, err, sizeof err) == 0);
    int rc = lt_db_queue_absent(d, keys, n, append, found, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT(rc == 0);
    if (rc == 0 && append) {
        CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    } else
        lt_db_rollback(d);
    for (size_t i = 0; rc == 0 && i < n; i++)
        shown[i] = (char)('0' + found[i]);
    return shown;
}

/* lienthong source --reconcile: the keys without a row go to lt_pending,
 * in order, and read back as deletions once numbered (a dry run appends
 * nothing); a key with a row (of an integer key, given as text) does not,
 * nor, under citext, does the other spelling of a key hold the row of this
 * one (as reading finds). A key that is no integer ("abc", one too big)
 * fails PostgreSQL's cast of the whole page: it is found invalid, never
 * appended, and the page's other keys are still found. */
static void test_queue_absent(void)
{
    fresh("CREATE TABLE nums(k integer PRIMARY KEY, name text);"
          "INSERT INTO nums VALUES (1, 'An'), (2, 'Binh')");
    static const char *const cols[] = {"k", "name"};
    lt_db_t *d = open_seam(LT_DB_SOURCE, "nums", cols, TYPES2, 2, 0);
    install(d, 1);
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 2);
    int64_t after = c.n ? c.id[c.n - 1] : 0;
    static const char *const keys[] = {"1", "3", "2", "7"};
    CU_ASSERT_STRING_EQUAL(queue_absent(d, keys, 4, 0), "0101");
    CU_ASSERT(read_changes(d, after, 100, &c) == 0);
    CU_ASSERT_STRING_EQUAL(queue_absent(d, keys, 4, 1), "0101");
    CU_ASSERT(read_changes(d, after, 100, &c) == 2);
    CU_ASSERT_STRING_EQUAL(show(&c), "3=- 7=-");
    after = c.n ? c.id[c.n - 1] : 0;
    static const char *const bad[] = {"1", "abc", "8", "99999999999", "2", "x", "9"};
    CU_ASSERT_STRING_EQUAL(queue_absent(d, bad, 7, 1), "0212021");
    CU_ASSERT(read_changes(d, after, 100, &c) == 2);
    CU_ASSERT_STRING_EQUAL(show(&c), "8=- 9=-");
    lt_db_destroy(&d);

    fresh("CREATE EXTENSION IF NOT EXISTS citext; CREATE TABLE ci(k citext PRIMARY KEY, "
          "name text); INSERT INTO ci VALUES ('ABC-1', 'An')");
    d = open_seam(LT_DB_SOURCE, "ci", cols, TYPES2, 2, 0);
    install(d, 1);
    CU_ASSERT(read_changes(d, 0, 100, &c) == 1);
    after = c.n ? c.id[0] : 0;
    static const char *const spelt[] = {"abc-1", "ABC-1"};
    CU_ASSERT_STRING_EQUAL(queue_absent(d, spelt, 2, 1), "10");
    CU_ASSERT(read_changes(d, after, 100, &c) == 1);
    CU_ASSERT_STRING_EQUAL(show(&c), "abc-1=-");
    lt_db_destroy(&d);
}

static void test_citext_key(void)
{
    s_rename_in_case("CREATE EXTENSION IF NOT EXISTS citext; "
                     "CREATE TABLE ci(k citext PRIMARY KEY, name text);"
                     "INSERT INTO ci VALUES ('abc-1', 'An')",
                     "ci");
}

/* The same under a nondeterministic collation (PostgreSQL 12+, ICU): the
 * key's = ignores case, as citext's does. */
static void test_nondeterministic_key(void)
{
    s_rename_in_case("CREATE COLLATION IF NOT EXISTS lt_ci (provider = icu, "
                     "locale = 'und-u-ks-level2', deterministic = false);"
                     "CREATE TABLE nd(k text COLLATE lt_ci PRIMARY KEY, name text);"
                     "INSERT INTO nd VALUES ('abc-1', 'An')",
                     "nd");
}

/* lt_db_capture_present with what it logged (stderr) in log. */
static int capture_present_logged(lt_db_t *d, int *present, char *log, size_t cap)
{
    char err[1024] = "";
    FILE *f = tmpfile();
    int saved = dup(2);
    CU_ASSERT_FATAL(f != NULL && saved >= 0 && dup2(fileno(f), 2) == 2);
    int rc = lt_db_capture_present(d, present, err, sizeof err);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    rewind(f);
    size_t n = fread(log, 1, cap - 1, f);
    log[n] = 0;
    fclose(f);
    return rc;
}

/* The owner puts back a trigger function of table t as an older lienthong
 * installed it: without the mark of the current one (S_CAPTURE_MARK in
 * lt_db_pg.c) and, with `exact` 0, without the byte-for-byte key match. */
static void downgrade_capture(const char *t, int exact)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "DO $x$ DECLARE src text; BEGIN SELECT prosrc INTO src FROM pg_proc "
             "WHERE proname = 'lt_%s_capture'; src := replace(src, '-- lienthong change "
             "capture ', '--'); %s EXECUTE format('CREATE OR REPLACE FUNCTION lt_%s_capture() "
             "RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, "
             "pg_temp AS %%L', src); END $x$",
             t, exact ? "" : "src := replace(src, '::text COLLATE \"C\"', '');", t);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT(lt_pg_exec(o, sql) == 0);
    PQfinish(o);
}

/* Changes are numbered in the order they were written to lt_pending, not
 * in its rows' physical order: once the rows numbered before are deleted
 * and vacuumed, a later write lands in the free space of an earlier page,
 * before a row written earlier (checked, so that the test shows it). Keys
 * requeued keep the order of their latest changes. */
static void test_pending_order(void)
{
    fresh(CITIZENS "SELECT 1");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(d, 1);
    app("INSERT INTO citizens SELECT 'f' || g, 'x', NULL FROM generate_series(1, 2000) g");
    app("INSERT INTO citizens VALUES ('A', 'An', NULL)");
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT(lt_pg_exec(o, "DELETE FROM lt_pending WHERE row_key LIKE 'f%'") == 0);
    CU_ASSERT(lt_pg_exec(o, "VACUUM lt_pending") == 0);
    app("INSERT INTO citizens VALUES ('B', 'Bao', NULL)");
    CU_ASSERT(lt_pg_int(o, "SELECT ((SELECT ctid FROM lt_pending WHERE row_key = 'B') < "
                           "(SELECT ctid FROM lt_pending WHERE row_key = 'A'))::int") == 1);
    PQfinish(o);
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 2);
    CU_ASSERT_STRING_EQUAL(show(&c), "A=An B=Bao");
    /* A change list from before the column: still read, told at start,
     * and --install adds the column. */
    char log[4096];
    int present = 0;
    CU_ASSERT(owner_int("ALTER TABLE lt_pending DROP COLUMN seq; SELECT 1") == 1);
    app("INSERT INTO citizens VALUES ('C', 'Chi', NULL)");
    CU_ASSERT(capture_present_logged(d, &present, log, sizeof log) == 0 && present);
    CU_ASSERT(strstr(log, "lt_pending") != NULL && strstr(log, "--install") != NULL);
    CU_ASSERT(read_changes(d, c.id[1], 100, &c) == 1);
    CU_ASSERT_STRING_EQUAL(show(&c), "C=Chi");
    install(d, 0);
    CU_ASSERT(capture_present_logged(d, &present, log, sizeof log) == 0 && present);
    CU_ASSERT(strstr(log, "--install") == NULL);
    app("INSERT INTO citizens VALUES ('D', 'Dung', NULL)");
    CU_ASSERT(owner_int("SELECT count(*) FROM lt_pending WHERE seq IS NOT NULL") == 1);
    CU_ASSERT(read_changes(d, c.id[0], 100, &c) == 1);
    CU_ASSERT_STRING_EQUAL(show(&c), "D=Dung");
    /* Requeued, keys keep the order of their latest changes. */
    char err[1024] = "";
    int64_t from = c.id[0];
    app("INSERT INTO citizens VALUES ('z', 'Zo', NULL)");
    app("UPDATE citizens SET name = 'Anh' WHERE id = 'A'");
    CU_ASSERT(read_changes(d, from, 100, &c) == 2);
    int64_t last = c.id[1];
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_requeue(d, from, last, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    CU_ASSERT(read_changes(d, last, 100, &c) == 2);
    CU_ASSERT_STRING_EQUAL(show(&c), "z=Zo A=Anh");
    lt_db_destroy(&d);
}

/* Whether the source's session (OWNER over TCP; owner_int's goes over the
 * socket) last ran a statement that looks into the catalog for
 * lt_pending.seq: after a poll with nothing to number, that poll's. */
static int64_t seam_asked_seq(void)
{
    return owner_int("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                     "AND usename = '" OWNER "' AND client_addr IS NOT NULL "
                     "AND query LIKE '%pg_attribute%'");
}

/* An idle poll does not ask the catalog whether lt_pending has seq once
 * the start (or --install) found it; a change list from before seq is
 * asked about at each poll, so that the column another process's
 * --install adds is used from the next poll on (adapters/README.md). */
static void test_pending_seq_remembered(void)
{
    char err[1024] = "", log[4096];
    size_t moved = 0;
    int present = 0;
    fresh(CITIZENS "SELECT 1");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(d, 1);
    CU_ASSERT(lt_db_capture_sync(d, 1000, &moved, err, sizeof err) == 0);
    CU_ASSERT(seam_asked_seq() == 0);
    /* Before seq: asked at each poll. */
    CU_ASSERT(owner_int("ALTER TABLE lt_pending DROP COLUMN seq; SELECT 1") == 1);
    CU_ASSERT(capture_present_logged(d, &present, log, sizeof log) == 0 && present);
    CU_ASSERT(lt_db_capture_sync(d, 1000, &moved, err, sizeof err) == 0);
    CU_ASSERT(seam_asked_seq() == 1);
    /* Added by another --install while the source runs: seen at the next
     * poll, which numbers by it, then no longer asked. */
    lt_db_t *other = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(other, 0);
    lt_db_destroy(&other);
    app("INSERT INTO citizens VALUES ('A', 'An', NULL)");
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 1);
    CU_ASSERT(owner_int("SELECT count(*) FROM lt_pending") == 0);
    CU_ASSERT(lt_db_capture_sync(d, 1000, &moved, err, sizeof err) == 0 && moved == 0);
    CU_ASSERT(seam_asked_seq() == 0);
    lt_db_destroy(&d);
}

/* A capture an older lienthong installed is told at start (for a key that
 * compares without case and triggers that do not match keys byte for
 * byte, as such), and --install brings it up to date: the function is
 * replaced, the change list kept. */
static void test_capture_upgraded(void)
{
    fresh("CREATE EXTENSION IF NOT EXISTS citext; "
          "CREATE TABLE ci(k citext PRIMARY KEY, name text);"
          "CREATE TABLE cs(k text PRIMARY KEY, name text);"
          "INSERT INTO ci VALUES ('abc-1', 'An'); INSERT INTO cs VALUES ('abc-1', 'An')");
    static const char *const cols[] = {"k", "name"};
    const char *tables[] = {"ci", "cs"};
    char log[4096];
    int present = 0;
    for (int i = 0; i < 2; i++) {
        lt_db_t *d = open_seam(LT_DB_SOURCE, tables[i], cols, TYPES2, 2, 0);
        install(d, 1);
        CU_ASSERT(capture_present_logged(d, &present, log, sizeof log) == 0 && present);
        CU_ASSERT(strstr(log, "--install") == NULL);
        for (int exact = 0; exact < 2; exact++) {
            downgrade_capture(tables[i], exact);
            CU_ASSERT(capture_present_logged(d, &present, log, sizeof log) == 0 && present);
            CU_ASSERT(strstr(log, "--install") != NULL);
            /* The warning only for the key without case and without the match. */
            CU_ASSERT((strstr(log, "compares without case") != NULL) == (i == 0 && !exact));
            install(d, 0);
            CU_ASSERT(capture_present_logged(d, &present, log, sizeof log) == 0 && present);
            CU_ASSERT(strstr(log, "--install") == NULL);
        }
        changes_t c;
        app(i == 0 ? "UPDATE ci SET k = 'ABC-1'" : "UPDATE cs SET k = 'ABC-1'");
        CU_ASSERT(read_changes(d, 0, 100, &c) == 2); /* the latest of each key */
        CU_ASSERT_STRING_EQUAL(show(&c), "abc-1=- ABC-1=An");
        lt_db_destroy(&d);
    }
}

/* Table names that SQL must quote: a quote, the script's own dollar-quote
 * tag, and the longest name change capture allows; one byte longer is
 * refused, naming the table and the limit. */
static void test_odd_table_names(void)
{
    char longest[52], sql[512], uri[512], err[1024] = "";
    memset(longest, 'l', 51);
    longest[51] = 0;
    snprintf(sql, sizeof sql,
             "CREATE TABLE \"o'brien\"(k text PRIMARY KEY, name text);"
             "CREATE TABLE \"a$lt$b\"(k text PRIMARY KEY, name text);"
             "CREATE TABLE %s(k text PRIMARY KEY, name text);"
             "INSERT INTO \"o'brien\" VALUES ('a', 'An')",
             longest);
    fresh(sql);
    static const char *const cols[] = {"k", "name"};
    const char *names[] = {"o'brien", "a$lt$b", longest};
    const char *inserts[] = {"INSERT INTO \"o'brien\" VALUES ('b', 'Ba')",
                             "INSERT INTO \"a$lt$b\" VALUES ('b', 'Ba')", NULL};
    for (int i = 0; i < 3; i++) {
        lt_db_t *d = open_seam(LT_DB_SOURCE, names[i], cols, TYPES2, 2, 0);
        install(d, 1);
        install(d, 0);
        char *script = lt_db_capture_script(d, err, sizeof err);
        PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
        CU_ASSERT(script && o && lt_pg_exec(o, script) == 0);
        PQfinish(o);
        free(script);
        if (inserts[i]) {
            snprintf(sql, sizeof sql, "%s", inserts[i]);
            app(sql);
        }
        changes_t c;
        read_changes(d, 0, 100, &c);
        CU_ASSERT_STRING_EQUAL(show(&c), i == 0 ? "a=An b=Ba" : i == 1 ? "b=Ba" : "");
        lt_db_destroy(&d);
    }
    CU_ASSERT(owner_int("SELECT count(*) FROM pg_proc WHERE proname LIKE 'lt_%_capture'") == 3);
    char too_long[53];
    memset(too_long, 'l', 52);
    too_long[52] = 0;
    lt_pg_uri(&g_pg, g_db, OWNER, OWNER_PW, uri, sizeof uri);
    lt_db_table_t table = {too_long, 2, cols, TYPES2, 0};
    CU_ASSERT(lt_db_connect(uri, NULL, LT_DB_SOURCE, &table, 0, err, sizeof err) == NULL);
    CU_ASSERT(strstr(err, too_long) != NULL && strstr(err, "too long") != NULL);
    CU_ASSERT(strstr(err, "63") != NULL);
}

/* ---- types ---------------------------------------------------------------- */

static int on_typed(void *arg, const lt_db_row_t *row, char *err, size_t errlen)
{
    int *called = arg;
    (*called)++;
    CU_ASSERT_FATAL(lt_db_row_count(row) == 8);
    static const lt_db_type_t want[8] = {LT_DB_TEXT, LT_DB_INTEGER, LT_DB_REAL, LT_DB_TEXT,
                                         LT_DB_BLOB, LT_DB_INTEGER, LT_DB_TEXT, LT_DB_NULL};
    for (size_t i = 0; i < 8; i++)
        CU_ASSERT(lt_db_row_type(row, i) == want[i]);
    CU_ASSERT_STRING_EQUAL(lt_db_row_name(row, 1), "n i");
    CU_ASSERT(lt_db_row_int(row, 1) == -9007199254740993LL);
    CU_ASSERT(lt_db_row_double(row, 2) == 0.1 + 0.2);
    CU_ASSERT_STRING_EQUAL(lt_db_row_text(row, 3), "Nguyễn");
    size_t len = 0;
    const void *v = NULL;
    CU_ASSERT(lt_db_row_blob(row, 4, &v, &len) == 0);
    const uint8_t *b = v;
    CU_ASSERT(len == 3 && b && b[0] == 0 && b[1] == 0xff && b[2] == 'x');
    CU_ASSERT(lt_db_row_blob(row, 4, &v, &len) == 0); /* asked again: the same bytes */
    b = v;
    CU_ASSERT(len == 3 && b && b[1] == 0xff);
    CU_ASSERT(lt_db_row_int(row, 5) == 1); /* bool */
    CU_ASSERT_STRING_EQUAL(lt_db_row_text(row, 6), "1984-05-02");
    CU_ASSERT(lt_db_row_text(row, 7) == NULL);
    (void)err;
    (void)errlen;
    return 0;
}

static void test_types(void)
{
    fresh("CREATE TABLE \"t\"\"x\"(k text PRIMARY KEY, \"n i\" bigint, r double precision, "
          "t text, b bytea, ok boolean, born date, z text);"
          "INSERT INTO \"t\"\"x\" VALUES ('k1', -9007199254740993, 0.1::float8 + 0.2::float8, "
          "'Nguyễn', '\\x00ff78', true, '1984-05-02', NULL)");
    static const char *const cols[] = {"k", "n i", "r", "t", "b", "ok", "born", "z"};
    static const lt_db_type_t types[8] = {LT_DB_TEXT, LT_DB_INTEGER, LT_DB_REAL, LT_DB_TEXT,
                                          LT_DB_BLOB, LT_DB_INTEGER, LT_DB_TEXT, LT_DB_TEXT};
    lt_db_t *d = open_seam(LT_DB_SOURCE, "t\"x", cols, types, 8, 0);
    char err[1024] = "";
    int called = 0;
    CU_ASSERT(lt_db_read_row(d, "k1", on_typed, &called, err, sizeof err) == 1);
    CU_ASSERT(lt_db_read_row(d, "k2", on_typed, &called, err, sizeof err) == 0);
    CU_ASSERT(called == 1);
    lt_db_destroy(&d);
}

/* The text of a timestamptz and an interval does not depend on the
 * server's defaults: under a database whose TimeZone and IntervalStyle are
 * others, the row reads in UTC and ISO 8601 (adapters/README.md). */
static int on_times(void *arg, const lt_db_row_t *row, char *err, size_t errlen)
{
    char *out = arg;
    const char *at = lt_db_row_text(row, 1), *span = lt_db_row_text(row, 2);
    snprintf(out, 128, "%s|%s", at ? at : "NULL", span ? span : "NULL");
    (void)err;
    (void)errlen;
    return 0;
}

static void test_session_settings(void)
{
    fresh("CREATE TABLE tz(k text PRIMARY KEY, at timestamptz, span interval);"
          "INSERT INTO tz VALUES ('k1', '2026-05-02 10:30:00+07', '1 day 2 hours 3.5 seconds')");
    char sql[256], text[128] = "", err[1024] = "";
    snprintf(sql, sizeof sql,
             "ALTER DATABASE %s SET TimeZone = 'Asia/Ho_Chi_Minh';"
             "ALTER DATABASE %s SET IntervalStyle = 'postgres'",
             g_db, g_db);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT(lt_pg_exec(o, sql) == 0);
    PQfinish(o);
    o = lt_pg_as(&g_pg, g_db, OWNER); /* a session of the new defaults */
    CU_ASSERT_FATAL(o != NULL);
    lt_pg_text(o, "SELECT at || '|' || span FROM tz", text, sizeof text);
    CU_ASSERT_STRING_EQUAL(text, "2026-05-02 10:30:00+07|1 day 02:00:03.5");
    PQfinish(o);
    static const char *const cols[] = {"k", "at", "span"};
    static const lt_db_type_t types[] = {LT_DB_TEXT, LT_DB_TEXT, LT_DB_TEXT};
    lt_db_t *d = open_seam(LT_DB_SOURCE, "tz", cols, types, 3, 0);
    CU_ASSERT(lt_db_read_row(d, "k1", on_times, text, err, sizeof err) == 1);
    CU_ASSERT_STRING_EQUAL(text, "2026-05-02 03:30:00+00|P1DT2H3.5S");
    lt_db_destroy(&d);
}

/* A key whose text depends on the settings (a timestamptz) is listed as the
 * source reads it, whatever the session that wrote the row or ran the
 * printed installation: else its tombstone would not be its row's key. */
static void test_key_text_pinned(void)
{
    fresh("CREATE TABLE tk(k timestamptz PRIMARY KEY, d date);"
          "INSERT INTO tk VALUES ('2026-05-02 10:30:00+07', '1984-05-02')");
    static const char *const OTHER =
        "SET TimeZone = 'Asia/Ho_Chi_Minh'; SET DateStyle = 'SQL, DMY'";
    static const char *const cols[] = {"k", "d"};
    lt_db_t *d = open_seam(LT_DB_SOURCE, "tk", cols, TYPES2, 2, 0);
    char err[1024] = "";
    char *script = lt_db_capture_script(d, err, sizeof err);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(script != NULL && o != NULL);
    CU_ASSERT(lt_pg_exec(o, OTHER) == 0 && lt_pg_exec(o, script) == 0);
    PQfinish(o);
    free(script);
    app(OTHER);
    app("INSERT INTO tk VALUES ('2026-05-03 01:00:00+07', '1990-11-20')");
    changes_t c;
    CU_ASSERT(read_changes(d, 0, 100, &c) == 2);
    CU_ASSERT_STRING_EQUAL(show(&c), "2026-05-02 03:30:00+00=1984-05-02 "
                                     "2026-05-02 18:00:00+00=1990-11-20");
    lt_db_destroy(&d);
}

/* A float column read as an integer (lt_db_row_int): toward zero and
 * clamped, as SQLite does; a NaN is 0. A plain cast of these values is
 * undefined behaviour. */
static int on_float_int(void *arg, const lt_db_row_t *row, char *err, size_t errlen)
{
    int64_t *out = arg;
    CU_ASSERT(lt_db_row_type(row, 1) == LT_DB_REAL);
    *out = lt_db_row_int(row, 1);
    (void)err;
    (void)errlen;
    return 0;
}

static void test_float_as_int(void)
{
    fresh("CREATE TABLE f(k text PRIMARY KEY, r float8);"
          "INSERT INTO f VALUES ('nan', 'NaN'), ('inf', 'Infinity'), ('-inf', '-Infinity'), "
          "('big', 1e300), ('-big', -1e300), ('2^63', 9223372036854775808), ('-2.5', -2.5), "
          "('max', 9223372036854774784)");
    static const char *const cols[] = {"k", "r"};
    static const lt_db_type_t types[] = {LT_DB_TEXT, LT_DB_REAL};
    lt_db_t *d = open_seam(LT_DB_SOURCE, "f", cols, types, 2, 0);
    static const char *const keys[] = {"nan", "inf", "-inf", "big", "-big", "2^63", "-2.5", "max"};
    static const int64_t want[] = {0,         INT64_MAX, INT64_MIN, INT64_MAX,
                                   INT64_MIN, INT64_MAX, -2,        9223372036854774784LL};
    char err[1024] = "";
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        int64_t v = 42;
        CU_ASSERT(lt_db_read_row(d, keys[i], on_float_int, &v, err, sizeof err) == 1);
        CU_ASSERT(v == want[i]);
        if (v != want[i])
            fprintf(stderr, "\n  %s read as %" PRId64 "\n", keys[i], v);
    }
    lt_db_destroy(&d);
}

/* ---- the sink --------------------------------------------------------- */

typedef struct {
    const char *key;
    int64_t v;
    int fail;
    const void *blob;
    size_t blob_len;
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
        rc = r->v < 0 ? lt_db_param_null(p, 1) : lt_db_param_int(p, 1, r->v);
    if (rc == 0)
        rc = r->blob ? lt_db_param_blob(p, 2, r->blob, r->blob_len) : lt_db_param_null(p, 2);
    if (rc == 0)
        rc = lt_db_param_double(p, 3, (double)r->v / 3.0);
    if (rc != 0)
        snprintf(err, errlen, "%s", lt_db_params_error(p));
    return rc;
}

static const char *const SINK_COLS[] = {"k", "v", "b", "r"};
static const lt_db_type_t SINK_TYPES[] = {LT_DB_TEXT, LT_DB_INTEGER, LT_DB_BLOB, LT_DB_REAL};

static int apply(lt_db_t *d, const lt_db_write_t *w, size_t n, int64_t cursor, size_t *failed,
                 char *err, size_t errlen)
{
    return lt_db_apply(d, w, n, fill_row, NULL, "VN/GOV/BCA/population.p38", cursor, failed, err,
                       errlen);
}

/* The table as "k=v,k=v" in key order. */
static void state(char *out, size_t cap, int64_t *cursor)
{
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    lt_pg_text(o,
               "SELECT COALESCE(string_agg(k || '=' || COALESCE(v::text, 'null'), ',' "
               "ORDER BY k), '') FROM t",
               out, cap);
    *cursor = lt_pg_int(o, "SELECT COALESCE(max(seq), 0) FROM lt_sink_cursor");
    PQfinish(o);
}

static void test_sink_batch(void)
{
    fresh("SELECT 1");
    lt_db_t *d = open_seam(LT_DB_SINK, "t", SINK_COLS, SINK_TYPES, 4, 1);
    char err[1024] = "", rows[512];
    int64_t cur = -1;
    size_t failed = 99;
    static const uint8_t blob[] = {0, 0xff, '"', '\\', '{', ','};
    row_t a = {"a", 1, 0, blob, sizeof blob}, b = {"b\"{,}\\ q", 2, 0, NULL, 0},
          c = {"c", 3, 0, NULL, 0}, a2 = {"a", 10, 0, blob, 1}, cn = {"c", -1, 0, NULL, 0};
    /* In order: a, b, c, a again, c deleted, c again (NULL v), b deleted:
     * the last write of each key wins. */
    lt_db_write_t first[] = {{"a", 0, &a},           {"b\"{,}\\ q", 0, &b}, {"c", 0, &c},
                             {"a", 0, &a2},          {"c", 1, NULL},        {"c", 0, &cn},
                             {"b\"{,}\\ q", 1, NULL}};
    int rc = apply(d, first, 7, 7, &failed, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT(rc == 0);
    state(rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=10,c=null");
    CU_ASSERT(cur == 7);
    CU_ASSERT(owner_int("SELECT get_byte(b, 0) + length(b) * 1000 FROM t WHERE k = 'a'") == 1000);
    CU_ASSERT(owner_int("SELECT (r * 3)::bigint FROM t WHERE k = 'a'") == 10);
    /* The same batch again: the same table (idempotent). */
    CU_ASSERT(apply(d, first, 7, 7, &failed, err, sizeof err) == 0);
    state(rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=10,c=null");

    /* A fill fails: nothing of the batch, nor the cursor. */
    row_t bad = {"d", 4, 1, NULL, 0};
    lt_db_write_t second[] = {{"a", 1, NULL}, {"e", 0, &c}, {"d", 0, &bad}};
    CU_ASSERT(apply(d, second, 3, 10, &failed, err, sizeof err) == -1);
    CU_ASSERT(failed == 2);
    CU_ASSERT_STRING_EQUAL(err, "refused by the test");
    state(rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=10,c=null");
    CU_ASSERT(cur == 7);
    /* The database refuses a row (a NULL key): nothing either, and the
     * message names no value. */
    row_t nokey = {NULL, 5, 0, NULL, 0};
    lt_db_write_t third[] = {{"a", 1, NULL}, {"", 0, &nokey}};
    CU_ASSERT(apply(d, third, 2, 9, &failed, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "null value") != NULL || strstr(err, "not-null") != NULL);
    state(rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=10,c=null");
    /* 2,000 rows in one batch, then a cursor in the same transaction. */
    lt_db_write_t *many = calloc(2000, sizeof *many);
    row_t *vals = calloc(2000, sizeof *vals);
    char(*keys)[16] = calloc(2000, sizeof *keys);
    CU_ASSERT_FATAL(many && vals && keys);
    for (int i = 0; i < 2000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%04d", i);
        vals[i] = (row_t){keys[i], i, 0, NULL, 0};
        many[i] = (lt_db_write_t){keys[i], 0, &vals[i]};
    }
    CU_ASSERT(apply(d, many, 2000, 2007, &failed, err, sizeof err) == 0);
    CU_ASSERT(owner_int("SELECT count(*) FROM t") == 2002);
    CU_ASSERT(owner_int("SELECT sum(v) FROM t WHERE k LIKE 'k%'") == 1999 * 1000);
    int64_t loaded = 0;
    CU_ASSERT(lt_db_cursor_load(d, "VN/GOV/BCA/population.p38", &loaded, err, sizeof err) == 0);
    CU_ASSERT(loaded == 2007);
    free(many);
    free(vals);
    free(keys);
    lt_db_destroy(&d);
}

/* A sink's replacement (PROTOCOL.md 8.2) through the seam: emptied and
 * refilled in parts inside one transaction; rolled back, the table is as
 * before; committed, only the new rows remain, with the cursor. */
static void test_sink_replace(void)
{
    fresh("SELECT 1");
    lt_db_t *d = open_seam(LT_DB_SINK, "t", SINK_COLS, SINK_TYPES, 4, 1);
    char err[1024] = "", rows[512];
    int64_t cur = -1;
    size_t failed = 99;
    row_t a = {"a", 1, 0, NULL, 0}, x = {"x", 9, 0, NULL, 0}, y = {"y", 8, 0, NULL, 0};
    lt_db_write_t old[] = {{"a", 0, &a}}, p1[] = {{"x", 0, &x}}, p2[] = {{"y", 0, &y}};
    CU_ASSERT_FATAL(apply(d, old, 1, 1, &failed, err, sizeof err) == 0);
    for (int commit = 0; commit < 2; commit++) {
        CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
        CU_ASSERT(lt_db_clear(d, err, sizeof err) == 0);
        CU_ASSERT(lt_db_write(d, p1, 1, fill_row, NULL, "VN/GOV/BCA/population.p38", 40, &failed,
                              err, sizeof err) == 0);
        CU_ASSERT(lt_db_write(d, p2, 1, fill_row, NULL, "VN/GOV/BCA/population.p38", 40, &failed,
                              err, sizeof err) == 0);
        if (commit) {
            CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
        } else {
            lt_db_rollback(d);
        }
        state(rows, sizeof rows, &cur);
        CU_ASSERT_STRING_EQUAL(rows, commit ? "x=9,y=8" : "a=1");
        CU_ASSERT(cur == (commit ? 40 : 1));
    }
    lt_db_destroy(&d);
}

static void test_sink_table_must_fit(void)
{
    fresh("CREATE TABLE t(k text, v bigint, b bytea, r float8);"
          "CREATE TABLE u(k text PRIMARY KEY, v bigint);");
    char uri[512], err[1024] = "";
    lt_pg_uri(&g_pg, g_db, OWNER, OWNER_PW, uri, sizeof uri);
    lt_db_table_t table = {"t", 4, SINK_COLS, SINK_TYPES, 0};
    lt_db_t *d = lt_db_connect(uri, NULL, LT_DB_SINK, &table, 0, err, sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "table t cannot take the mapped columns") != NULL);
    table.name = "u"; /* no column b */
    d = lt_db_connect(uri, NULL, LT_DB_SINK, &table, 0, err, sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "has no column b") != NULL);
    table.name = "nope";
    d = lt_db_connect(uri, NULL, LT_DB_SINK, &table, 0, err, sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "has no table nope") != NULL);
}

static int fill_text(void *ctx, const lt_db_write_t *w, lt_db_params_t *p, char *err, size_t errlen)
{
    (void)ctx;
    if (lt_db_param_text(p, 0, w->key) == 0 && lt_db_param_text(p, 1, w->arg) == 0)
        return 0;
    snprintf(err, errlen, "%s", lt_db_params_error(p));
    return -1;
}

static int apply_text(lt_db_t *d, const lt_db_write_t *w, size_t n, int64_t cursor, size_t *failed,
                      char *err, size_t errlen)
{
    return lt_db_apply(d, w, n, fill_text, NULL, "s", cursor, failed, err, errlen);
}

/* A sink creates an unsigned 64-bit field's column as numeric(20,0): bigint
 * would refuse a value above 2^63 - 1. */
static void test_sink_uint64_exact(void)
{
    fresh("SELECT 1");
    static const char *const cols[] = {"k", "v"};
    static const lt_db_type_t types[] = {LT_DB_TEXT, LT_DB_UINT64};
    lt_db_t *d = open_seam(LT_DB_SINK, "u", cols, types, 2, 1);
    char err[1024] = "";
    uint64_t big = UINT64_MAX, small = 5;
    lt_db_write_t w[] = {{"a", 0, &big}, {"b", 0, &small}};
    size_t failed = 0;
    int rc =
        lt_db_apply(d, w, 2, ut_fill_u64, NULL, "VN/GOV/BCA/meters", 2, &failed, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT(rc == 0);
    CU_ASSERT(owner_int("SELECT count(*) FROM u WHERE k = 'a' AND v = 18446744073709551615") == 1);
    CU_ASSERT(owner_int("SELECT v FROM u WHERE k = 'b'") == 5);
    lt_db_destroy(&d);
}

/* Values longer than their varchar(n) column: refused, naming the record,
 * never cut to fit (which would overwrite or delete another key's row). */
static void test_sink_too_long(void)
{
    fresh("CREATE TABLE t2(k varchar(6) PRIMARY KEY, name varchar(5));"
          "INSERT INTO t2 VALUES ('ABCDEF', 'An'), ('QQQQQQ', 'Bao')");
    static const char *const cols[] = {"k", "name"};
    lt_db_t *d = open_seam(LT_DB_SINK, "t2", cols, TYPES2, 2, 0);
    char err[1024] = "", rows[256];
    size_t failed = 99;
    lt_db_write_t one[] = {{"ABCDEF-XYZ", 0, "Nguyen Van A"}};
    CU_ASSERT(apply_text(d, one, 1, 1, &failed, err, sizeof err) == -1);
    CU_ASSERT(failed == 0);
    CU_ASSERT(strstr(err, "value too long") != NULL && strstr(err, "22001") != NULL);
    CU_ASSERT(strstr(err, "Nguyen") == NULL);
    lt_db_write_t batch[] = {{"ok1", 0, "Lan"}, {"ok2", 0, "Nguyen Van B"}, {"ok3", 0, "Mai"}};
    CU_ASSERT(apply_text(d, batch, 3, 3, &failed, err, sizeof err) == -1);
    CU_ASSERT(failed == 1);
    CU_ASSERT(strstr(err, "22001") != NULL);
    /* A tombstone for a longer key is of no row here. */
    lt_db_write_t del[] = {{"QQQQQQ-tombstone", 1, NULL}};
    CU_ASSERT(apply_text(d, del, 1, 4, &failed, err, sizeof err) == 0);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    lt_pg_text(o, "SELECT string_agg(k || '=' || name, ',' ORDER BY k) FROM t2", rows, sizeof rows);
    CU_ASSERT_STRING_EQUAL(rows, "ABCDEF=An,QQQQQQ=Bao");
    CU_ASSERT(lt_pg_int(o, "SELECT seq FROM lt_sink_cursor") == 4);
    PQfinish(o);
    lt_db_destroy(&d);
    /* Nor does a source's row lookup match a longer key. */
    d = open_seam(LT_DB_SOURCE, "t2", cols, TYPES2, 2, 0);
    char key[16] = "";
    CU_ASSERT(lt_db_read_row(d, "ABCDEF-XYZ", on_row_key, key, err, sizeof err) == 0);
    CU_ASSERT(lt_db_read_row(d, "ABCDEF", on_row_key, key, err, sizeof err) == 1);
    lt_db_destroy(&d);
}

/* A sink whose key ignores case (citext, a nondeterministic collation)
 * gets a key renamed only in case, abc-1 to ABC-1, as the new spelling's
 * row and the old one's tombstone, in either order, in one batch or two:
 * the row stays, spelt ABC-1. */
static void s_sink_loose_key(const char *schema)
{
    fresh(schema);
    static const char *const cols[] = {"k", "name"};
    lt_db_t *d = open_seam(LT_DB_SINK, "r", cols, TYPES2, 2, 0);
    char err[1024] = "", rows[256];
    lt_db_write_t up = {"ABC-1", 0, "Bao"}, del = {"abc-1", 1, NULL};
    const lt_db_write_t orders[4][2] = {{up, del}, {del, up}, {up, del}, {del, up}};
    size_t failed = 99;
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT(lt_pg_exec(o, "DELETE FROM r; INSERT INTO r VALUES ('abc-1', 'An')") == 0);
        if (i < 2) { /* one batch */
            CU_ASSERT(apply_text(d, orders[i], 2, i + 1, &failed, err, sizeof err) == 0);
        } else { /* two */
            CU_ASSERT(apply_text(d, &orders[i][0], 1, 2 * i, &failed, err, sizeof err) == 0);
            CU_ASSERT(apply_text(d, &orders[i][1], 1, 2 * i + 1, &failed, err, sizeof err) == 0);
        }
        lt_pg_text(o, "SELECT COALESCE(string_agg(k || '=' || name, ','), '') FROM r", rows,
                   sizeof rows);
        CU_ASSERT_STRING_EQUAL(rows, "ABC-1=Bao");
        if (strcmp(rows, "ABC-1=Bao") != 0)
            fprintf(stderr, "\n  order %d: the table holds '%s'\n", i, rows);
    }
    PQfinish(o);
    lt_db_destroy(&d);
}

static void test_sink_citext_key(void)
{
    s_sink_loose_key("CREATE EXTENSION IF NOT EXISTS citext; "
                     "CREATE TABLE r(k citext PRIMARY KEY, name text)");
}

static void test_sink_nondeterministic_key(void)
{
    s_sink_loose_key("CREATE COLLATION IF NOT EXISTS lt_ci (provider = icu, "
                     "locale = 'und-u-ks-level2', deterministic = false);"
                     "CREATE TABLE r(k text COLLATE lt_ci PRIMARY KEY, name text)");
}

/* Table p of the owner as "k=card,..." in key order. */
static void cards(PGconn *o, char *out, size_t cap)
{
    lt_pg_text(o, "SELECT COALESCE(string_agg(k || '=' || card, ',' ORDER BY k), '') FROM p", out,
               cap);
}

/* Table p made by `schema` takes the batch w[0..1] with cursor 5 and then
 * holds `rows` ("k=card,..." in key order). */
static void s_sink_applies(const char *schema, const lt_db_write_t w[2], const char *rows)
{
    fresh(schema);
    static const char *const cols[] = {"k", "card"};
    lt_db_t *d = open_seam(LT_DB_SINK, "p", cols, TYPES2, 2, 0);
    char err[1024] = "", got[256];
    size_t failed = 99;
    int rc = apply_text(d, w, 2, 5, &failed, err, sizeof err);
    if (rc)
        fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT(rc == 0);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    cards(o, got, sizeof got);
    CU_ASSERT_STRING_EQUAL(got, rows);
    CU_ASSERT(lt_pg_int(o, "SELECT seq FROM lt_sink_cursor") == 5);
    PQfinish(o);
    lt_db_destroy(&d);
}

/* A sink table with a UNIQUE column besides the key. At the source A
 * (card c1) is deleted, then B is inserted with c1: one batch [tombstone
 * A, B]. The deletes of a batch run before its upserts, so A no longer
 * holds c1 when B is written. */
static void test_sink_unique_delete_first(void)
{
    const lt_db_write_t w[] = {{"A", 1, NULL}, {"B", 0, "c1"}};
    s_sink_applies("CREATE TABLE p(k text PRIMARY KEY, card text UNIQUE);"
                   "INSERT INTO p VALUES ('A', 'c1'), ('Z', 'c9')",
                   w, "B=c1,Z=c9");
}

/* Deletes first is not always right: C stops referring to X, then X is
 * deleted. Deleted first, X is still referred to (23503), although each
 * write in order succeeds: the batch is then applied write by write in one
 * transaction, with its cursor, rather than refused for good. */
static void test_sink_write_by_write(void)
{
    const lt_db_write_t w[] = {{"C", 0, "C"}, {"X", 1, NULL}};
    s_sink_applies("CREATE TABLE p(k text PRIMARY KEY, card text REFERENCES p(k));"
                   "INSERT INTO p VALUES ('X', 'X'), ('C', 'X')",
                   w, "C=C");
}

/* Two rows swap a unique value at the source (A c1 -> tmp, B c2 -> c1,
 * A tmp -> c2, one transaction): the batch holds B (c1) then A (c2), and B
 * conflicts with A in any order. Refused with the constraint named and
 * what to do; a DEFERRABLE INITIALLY DEFERRED constraint is checked at
 * the batch's commit, and the swap applies. */
static void test_sink_unique_swap(void)
{
    static const char *const cols[] = {"k", "card"};
    for (int deferred = 0; deferred < 2; deferred++) {
        fresh(deferred ? "CREATE TABLE p(k text PRIMARY KEY, card text CONSTRAINT p_card UNIQUE "
                         "DEFERRABLE INITIALLY DEFERRED);"
                         "INSERT INTO p VALUES ('A', 'c1'), ('B', 'c2')"
                       : "CREATE TABLE p(k text PRIMARY KEY, card text CONSTRAINT p_card UNIQUE);"
                         "INSERT INTO p VALUES ('A', 'c1'), ('B', 'c2')");
        lt_db_t *d = open_seam(LT_DB_SINK, "p", cols, TYPES2, 2, 0);
        char err[1024] = "", rows[256];
        size_t failed = 99;
        lt_db_write_t w[] = {{"B", 0, "c1"}, {"A", 0, "c2"}};
        int rc = apply_text(d, w, 2, 3, &failed, err, sizeof err);
        PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
        CU_ASSERT_FATAL(o != NULL);
        cards(o, rows, sizeof rows);
        if (deferred) {
            if (rc)
                fprintf(stderr, "\n  %s\n", err);
            CU_ASSERT(rc == 0);
            CU_ASSERT_STRING_EQUAL(rows, "A=c2,B=c1");
        } else {
            CU_ASSERT(rc == -1);
            CU_ASSERT(strstr(err, "p_card") != NULL && strstr(err, "23505") != NULL);
            CU_ASSERT(strstr(err, "DEFERRABLE INITIALLY DEFERRED") != NULL);
            CU_ASSERT(strstr(err, "c1") == NULL);
            CU_ASSERT_STRING_EQUAL(rows, "A=c1,B=c2");
        }
        PQfinish(o);
        lt_db_destroy(&d);
    }
}

/* The sink's setup fails part way (a mapped column missing when the
 * server comes back); once the table is mended, the next call sets it all
 * up and applies, without a restart. */
static void test_sink_setup_again(void)
{
    fresh("CREATE TABLE t(k text PRIMARY KEY, v bigint, b bytea);");
    PQfinish(g_app);
    g_app = NULL;
    CU_ASSERT_FATAL(lt_pg_down(&g_pg, 1) == 0);
    char uri[512], err[1024] = "";
    lt_pg_uri(&g_pg, g_db, OWNER, OWNER_PW, uri, sizeof uri);
    lt_db_table_t table = {"t", 4, SINK_COLS, SINK_TYPES, 0};
    lt_db_t *d = lt_db_connect(uri, NULL, LT_DB_SINK, &table, 0, err, sizeof err);
    CU_ASSERT(lt_pg_down(&g_pg, 0) == 0);
    CU_ASSERT_FATAL(d != NULL);
    row_t a = {"a", 1, 0, NULL, 0};
    lt_db_write_t w[] = {{"a", 0, &a}};
    size_t failed = 99;
    for (int i = 0; i < 2; i++) {
        CU_ASSERT(apply(d, w, 1, 1, &failed, err, sizeof err) == -1);
        CU_ASSERT(strstr(err, "has no column r") != NULL);
    }
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT(o && lt_pg_exec(o, "ALTER TABLE t ADD COLUMN r float8") == 0);
    PQfinish(o);
    int rc = apply(d, w, 1, 1, &failed, err, sizeof err);
    if (rc)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT(rc == 0);
    CU_ASSERT(owner_int("SELECT v FROM t WHERE k = 'a'") == 1);
    lt_db_destroy(&d);
}

/* A column's type changed under a running source (docs/operations.md has
 * operators widen columns so): its prepared read would be refused for ever
 * ("cached plan must not change result type", 0A000); at most one read
 * fails, and the next one reads the row under the new type. */
static void test_source_column_altered(void)
{
    fresh("CREATE TABLE t(k text PRIMARY KEY, name varchar(20));");
    static const char *const cols[] = {"k", "name"};
    lt_db_t *d = open_seam(LT_DB_SOURCE, "t", cols, TYPES2, 2, 0);
    install(d, 1);
    changes_t c;
    app("INSERT INTO t VALUES ('a', 'An')");
    CU_ASSERT(read_changes(d, 0, 100, &c) == 1);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT(o && lt_pg_exec(o, "ALTER TABLE t ALTER COLUMN name TYPE varchar(40)") == 0);
    PQfinish(o);
    app("INSERT INTO t VALUES ('b', 'Bao Nguyen Thi Thu Hang')");
    int ok = 0;
    for (int attempt = 0; attempt < 2 && !ok; attempt++) {
        char err[1024] = "";
        size_t moved = 0;
        memset(&c, 0, sizeof c);
        ok = lt_db_capture_sync(d, 1000, &moved, err, sizeof err) == 0 &&
             lt_db_begin(d, 0, err, sizeof err) == 0 &&
             lt_db_read_changes(d, 1, 100, on_change, &c, err, sizeof err) == 1;
        lt_db_rollback(d);
        if (!ok)
            CU_ASSERT(strstr(err, "cached plan") != NULL && lt_db_lost(d) == 0);
    }
    CU_ASSERT(ok);
    CU_ASSERT_STRING_EQUAL(show(&c), "b=Bao Nguyen Thi Thu Hang");
    lt_db_destroy(&d);
}

/* The same for a sink: its upsert casts each column to the type it had
 * (42804 once the column is of another type); at most one apply fails. */
static void test_sink_column_altered(void)
{
    fresh("CREATE TABLE t2(k text PRIMARY KEY, name text);");
    static const char *const cols[] = {"k", "name"};
    lt_db_t *d = open_seam(LT_DB_SINK, "t2", cols, TYPES2, 2, 0);
    char err[1024] = "";
    size_t failed = 99;
    lt_db_write_t a[] = {{"a", 0, "2020-01-02"}}, b[] = {{"b", 0, "2021-03-04"}};
    CU_ASSERT(apply_text(d, a, 1, 1, &failed, err, sizeof err) == 0);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT(lt_pg_exec(o, "ALTER TABLE t2 ALTER COLUMN name TYPE date USING name::date") == 0);
    int ok = 0;
    for (int attempt = 0; attempt < 2 && !ok; attempt++) {
        ok = apply_text(d, b, 1, 2, &failed, err, sizeof err) == 0;
        if (!ok)
            CU_ASSERT(strstr(err, "42804") != NULL || strstr(err, "is of type date") != NULL);
    }
    CU_ASSERT(ok);
    CU_ASSERT(lt_pg_int(o, "SELECT count(*) FROM t2 WHERE name = '2021-03-04'") == 1);
    CU_ASSERT(lt_pg_int(o, "SELECT seq FROM lt_sink_cursor") == 2);
    PQfinish(o);
    lt_db_destroy(&d);
}

/* Seconds since `t0`, from the monotonic clock. */
static double since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Applies `w` while another session holds the table locked: the apply
 * fails within `within` seconds as the database being busy (retried with
 * the back-off, lt_db_lost), never waits for the lock for ever. */
static void locked_apply(lt_db_t *d, const lt_db_write_t *w, int64_t cursor, double within)
{
    char err[1024] = "";
    size_t failed = 99;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    CU_ASSERT(apply_text(d, w, 1, cursor, &failed, err, sizeof err) == -1);
    double took = since(&t0);
    CU_ASSERT(took < within);
    CU_ASSERT(strstr(err, "lock timeout") != NULL);
    CU_ASSERT(lt_db_lost(d) == 1);
    if (took >= within || !strstr(err, "lock timeout"))
        fprintf(stderr, "%.1f s: %s\n", took, err);
}

/* A session idle in transaction holding a lock on the sink's table: the
 * upsert gives up after lock_timeout (lt_limits.h), or after the one the
 * setting's options give, and goes through once the lock is released. */
static void test_sink_lock_timeout(void)
{
    fresh("CREATE TABLE t2(k text PRIMARY KEY, name text);");
    static const char *const cols[] = {"k", "name"};
    char uri[512], err[1024] = "";
    lt_pg_uri(&g_pg, g_db, OWNER, OWNER_PW, uri, sizeof uri);
    strncat(uri, "?options=-c%20lock_timeout%3D300", sizeof uri - strlen(uri) - 1);
    lt_db_table_t table = {"t2", 2, cols, TYPES2, 0};
    lt_db_t *quick = lt_db_connect(uri, NULL, LT_DB_SINK, &table, 0, err, sizeof err);
    CU_ASSERT_FATAL(quick != NULL);
    lt_db_t *d = open_seam(LT_DB_SINK, "t2", cols, TYPES2, 2, 0);
    size_t failed = 99;
    lt_db_write_t a[] = {{"a", 0, "An"}}, b[] = {{"b", 0, "Bao"}};
    CU_ASSERT(apply_text(d, a, 1, 1, &failed, err, sizeof err) == 0);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT(lt_pg_exec(o, "BEGIN; LOCK TABLE t2") == 0);
    locked_apply(quick, b, 2, 5);
    locked_apply(d, b, 2, LT_PG_LOCK_TIMEOUT_MS / 1000 + 5);
    CU_ASSERT(lt_pg_exec(o, "COMMIT") == 0);
    CU_ASSERT(apply_text(d, b, 1, 2, &failed, err, sizeof err) == 0);
    CU_ASSERT(lt_db_lost(d) == 0);
    CU_ASSERT(lt_pg_int(o, "SELECT count(*) FROM t2") == 2);
    PQfinish(o);
    lt_db_destroy(&quick);
    lt_db_destroy(&d);
}

/* ---- round trips -------------------------------------------------------- */

/* A relay between the seam and the server that counts round trips: each
 * time the client sends after the server last spoke is one. */
typedef struct {
    int listener, port;
    pthread_t thread;
    atomic_int stop, trips;
} relay_t;

static int relay_pass(int from, int to)
{
    char buf[65536];
    ssize_t n = read(from, buf, sizeof buf);
    for (ssize_t done = 0, w; n > 0 && done < n; done += w)
        if ((w = write(to, buf + done, (size_t)(n - done))) <= 0)
            return -1;
    return n > 0 ? 0 : -1;
}

/* Carries one connection to the server until either side closes it. */
static void relay_one(relay_t *r, int c)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_pg.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int s = socket(AF_INET, SOCK_STREAM, 0), server_spoke = 1;
    if (s >= 0 && connect(s, (struct sockaddr *)&a, sizeof a) == 0)
        while (!atomic_load(&r->stop)) {
            struct pollfd p[2] = {{c, POLLIN, 0}, {s, POLLIN, 0}};
            if (poll(p, 2, 100) < 0)
                break;
            if (p[0].revents) {
                atomic_fetch_add(&r->trips, server_spoke);
                server_spoke = 0;
                if (relay_pass(c, s))
                    break;
            }
            if (p[1].revents) {
                server_spoke = 1;
                if (relay_pass(s, c))
                    break;
            }
        }
    if (s >= 0)
        close(s);
    close(c);
}

/* Carries the connections made to it, one after the other. */
static void *relay_run(void *arg)
{
    relay_t *r = arg;
    while (!atomic_load(&r->stop)) {
        struct pollfd p = {r->listener, POLLIN, 0};
        int c = poll(&p, 1, 100) == 1 ? accept(r->listener, NULL, NULL) : -1;
        if (c >= 0)
            relay_one(r, c);
    }
    return NULL;
}

static int relay_start(relay_t *r)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    socklen_t len = sizeof a;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    memset(r, 0, sizeof *r);
    r->listener = socket(AF_INET, SOCK_STREAM, 0);
    if (r->listener < 0 || bind(r->listener, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(r->listener, 1) != 0 || getsockname(r->listener, (struct sockaddr *)&a, &len) != 0)
        return -1;
    r->port = ntohs(a.sin_port);
    return pthread_create(&r->thread, NULL, relay_run, r) == 0 ? 0 : -1;
}

static void relay_stop(relay_t *r)
{
    atomic_store(&r->stop, 1);
    pthread_join(r->thread, NULL);
    close(r->listener);
}

/* A batch with deletes and upserts, and its cursor, is one round trip to
 * the server, in a transaction of its own (BEGIN and COMMIT sent with it)
 * and in the caller's (lt_db_write, a replacement); a batch refused for a
 * value still names its record. */
static void test_sink_one_round_trip(void)
{
    fresh("SELECT 1");
    relay_t r;
    CU_ASSERT_FATAL(relay_start(&r) == 0);
    char uri[512], err[1024] = "", rows[512];
    snprintf(uri, sizeof uri, "postgresql://%s:%s@127.0.0.1:%d/%s", OWNER, OWNER_PW, r.port, g_db);
    lt_db_table_t table = {"t", 4, SINK_COLS, SINK_TYPES, 0};
    lt_db_t *d = lt_db_connect(uri, NULL, LT_DB_SINK, &table, 1, err, sizeof err);
    if (!d)
        fprintf(stderr, "%s\n", err);
    CU_ASSERT_FATAL(d != NULL);
    size_t failed = 99;
    int64_t cur = -1;
    row_t a = {"a", 1, 0, NULL, 0}, b = {"b", 2, 0, NULL, 0}, c = {"c", 3, 0, NULL, 0};
    lt_db_write_t first[] = {{"a", 0, &a}, {"b", 0, &b}}, second[] = {{"a", 1, NULL}, {"c", 0, &c}};
    /* The first prepares the cursor's statement (once per connection). */
    CU_ASSERT_FATAL(apply(d, first, 2, 1, &failed, err, sizeof err) == 0);
    int before = atomic_load(&r.trips);
    CU_ASSERT(apply(d, second, 2, 2, &failed, err, sizeof err) == 0);
    CU_ASSERT_EQUAL(atomic_load(&r.trips) - before, 1);
    state(rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "b=2,c=3");
    CU_ASSERT(cur == 2);

    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    before = atomic_load(&r.trips);
    CU_ASSERT(lt_db_write(d, first, 2, fill_row, NULL, "VN/GOV/BCA/population.p38", 3, &failed, err,
                          sizeof err) == 0);
    CU_ASSERT_EQUAL(atomic_load(&r.trips) - before, 1);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
    state(rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=1,b=2,c=3");
    CU_ASSERT(cur == 3);

    /* Refused for its second write's NULL key: named, nothing written. */
    row_t nokey = {NULL, 5, 0, NULL, 0}, d4 = {"d", 4, 0, NULL, 0};
    lt_db_write_t third[] = {{"b", 1, NULL}, {"", 0, &nokey}, {"d", 0, &d4}};
    CU_ASSERT(apply(d, third, 3, 4, &failed, err, sizeof err) == -1);
    CU_ASSERT(failed == 1);
    CU_ASSERT(lt_db_lost(d) == 0);
    CU_ASSERT(strstr(err, "not-null") != NULL || strstr(err, "null value") != NULL);
    state(rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=1,b=2,c=3");
    CU_ASSERT(cur == 3);
    /* The connection ends between two batches: the next one fails as
     * lost, nothing of it written; the one after connects again. */
    PGconn *admin = lt_pg_admin(&g_pg, g_db);
    CU_ASSERT_FATAL(admin != NULL);
    CU_ASSERT(lt_pg_int(admin,
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND usename = '" OWNER "'") >= 1);
    for (int i = 0; i < 100 && lt_pg_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE "
                                                "datname = current_database() AND usename = "
                                                "'" OWNER "'") > 0;
         i++)
        usleep(50000);
    PQfinish(admin);
    usleep(200000); /* the relay closes the seam's side */
    CU_ASSERT(apply(d, third + 2, 1, 4, &failed, err, sizeof err) == -1);
    CU_ASSERT(lt_db_lost(d) == 1);
    CU_ASSERT(strstr(err, "terminating connection") != NULL);
    state(rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=1,b=2,c=3");
    CU_ASSERT(apply(d, third + 2, 1, 4, &failed, err, sizeof err) == 0);
    CU_ASSERT(lt_db_lost(d) == 0);
    state(rows, sizeof rows, &cur);
    CU_ASSERT_STRING_EQUAL(rows, "a=1,b=2,c=3,d=4");
    CU_ASSERT(cur == 4);
    lt_db_destroy(&d);
    relay_stop(&r);
}

/* A DEFERRABLE INITIALLY DEFERRED constraint violated is refused by the
 * batch's COMMIT, sent with it: a failure, for a value, with the unique
 * hint, and nothing written; in the caller's transaction, by its commit. */
static void test_sink_commit_refused(void)
{
    static const char *const cols[] = {"k", "card"};
    fresh("CREATE TABLE p(k text PRIMARY KEY, card text CONSTRAINT p_card UNIQUE "
          "DEFERRABLE INITIALLY DEFERRED); INSERT INTO p VALUES ('A', 'c1')");
    lt_db_t *d = open_seam(LT_DB_SINK, "p", cols, TYPES2, 2, 0);
    char err[1024] = "", rows[256];
    size_t failed = 99;
    lt_db_write_t w[] = {{"B", 0, "c2"}, {"C", 0, "c1"}};
    CU_ASSERT(apply_text(d, w, 2, 3, &failed, err, sizeof err) == -1);
    CU_ASSERT(lt_db_lost(d) == 0);
    CU_ASSERT(strstr(err, "p_card") != NULL && strstr(err, "23505") != NULL);
    CU_ASSERT(strstr(err, "DEFERRABLE INITIALLY DEFERRED") != NULL);
    CU_ASSERT(strstr(err, "c1") == NULL);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    cards(o, rows, sizeof rows);
    CU_ASSERT_STRING_EQUAL(rows, "A=c1");
    CU_ASSERT(lt_pg_int(o, "SELECT count(*) FROM lt_sink_cursor") == 0);
    CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
    CU_ASSERT(lt_db_write(d, w, 2, fill_text, NULL, "s", 3, &failed, err, sizeof err) == 0);
    CU_ASSERT(lt_db_commit(d, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "cannot commit") != NULL && strstr(err, "p_card") != NULL);
    cards(o, rows, sizeof rows);
    CU_ASSERT_STRING_EQUAL(rows, "A=c1");
    PQfinish(o);
    lt_db_destroy(&d);
}

/* A wrong password or database: one error naming the database, host and
 * user and the server's message, never the password. */
static void test_refused(void)
{
    fresh("SELECT 1");
    char uri[512], err[1024] = "";
    lt_db_table_t table = {"t", 4, SINK_COLS, SINK_TYPES, 0};
    snprintf(uri, sizeof uri, "postgresql://%s:Wrong-pw-3x@127.0.0.1:%d/%s", OWNER, g_pg.port,
             g_db);
    lt_db_t *d = lt_db_connect(uri, NULL, LT_DB_SINK, &table, 1, err, sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "cannot connect to PostgreSQL database") != NULL);
    CU_ASSERT(strstr(err, "127.0.0.1") != NULL && strstr(err, g_db) != NULL);
    CU_ASSERT(strstr(err, "password authentication failed") != NULL);
    CU_ASSERT(strstr(err, "Wrong-pw-3x") == NULL);
    snprintf(uri, sizeof uri, "host=127.0.0.1 port=%d dbname=no_such_db user=%s password=%s",
             g_pg.port, OWNER, OWNER_PW);
    d = lt_db_connect(uri, NULL, LT_DB_SINK, &table, 1, err, sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "no_such_db") != NULL && strstr(err, "does not exist") != NULL);
    CU_ASSERT(strstr(err, OWNER_PW) == NULL);
}

/* The server restarts (cleanly, then as after a crash) between two calls:
 * the call in flight fails as "lost", the next one reconnects, and what was
 * committed is all there. */
static void test_server_restart(void)
{
    fresh(CITIZENS);
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(d, 1);
    for (int crash = 0; crash < 2; crash++) {
        char sql[128], err[1024] = "";
        snprintf(sql, sizeof sql, "INSERT INTO citizens VALUES ('k%d', 'v', NULL)", crash);
        app(sql);
        PQfinish(g_app);
        g_app = NULL;
        CU_ASSERT_FATAL(lt_pg_restart(&g_pg, crash) == 0);
        int64_t high = 0;
        int rc = lt_db_capture_high(d, &high, err, sizeof err);
        CU_ASSERT(rc == -1 && lt_db_lost(d) == 1);
        CU_ASSERT(strstr(err, OWNER_PW) == NULL);
        CU_ASSERT(lt_db_capture_high(d, &high, err, sizeof err) == 0);
        CU_ASSERT(lt_db_lost(d) == 0);
        CU_ASSERT(lt_db_wait_fd(d) >= 0); /* listening again */
        changes_t c;
        CU_ASSERT(read_changes(d, high, 100, &c) == 1);
        CU_ASSERT_STRING_EQUAL(c.key[0], crash ? "k1" : "k0");
        g_app = lt_pg_as(&g_pg, g_db, APP);
        CU_ASSERT_FATAL(g_app != NULL);
    }
    lt_db_destroy(&d);
}

/* A sink's cursor table from before histories were kept (PROTOCOL.md
 * 8.2) gets the column, its cursor kept and its history unknown. */
static void test_sink_history_column(void)
{
    char err[1024] = "", hex[LT_DB_HISTORY_HEX] = "x";
    int64_t cur = -1;
    fresh(CITIZENS "CREATE TABLE lt_sink_cursor(stream text PRIMARY KEY, seq bigint NOT NULL);"
                   "INSERT INTO lt_sink_cursor VALUES ('s', 12);");
    for (int again = 0; again < 2; again++) {
        lt_db_t *d = open_seam(LT_DB_SINK, "citizens", COLS2, TYPES2, 2, 0);
        CU_ASSERT(lt_db_cursor_load(d, "s", &cur, err, sizeof err) == 0 && cur == 12);
        CU_ASSERT(lt_db_history_load(d, "s", hex, err, sizeof err) == 0);
        CU_ASSERT_STRING_EQUAL(hex, again ? "00112233445566778899aabbccddeeff" : "");
        CU_ASSERT_FATAL(lt_db_begin(d, 1, err, sizeof err) == 0);
        CU_ASSERT(
            lt_db_history_store(d, "s", "00112233445566778899aabbccddeeff", err, sizeof err) == 0);
        CU_ASSERT(lt_db_history_store(d, "new", "", err, sizeof err) == 0);
        CU_ASSERT(lt_db_commit(d, err, sizeof err) == 0);
        CU_ASSERT(lt_db_cursor_load(d, "new", &cur, err, sizeof err) == 0 && cur == 0);
        lt_db_destroy(&d);
    }
    CU_ASSERT(owner_int("SELECT count(*) FROM lt_sink_cursor WHERE history IS NULL") == 1);
}

/* The lines an adapter's --check (`check`) writes for a configuration of
 * `settings` on the current database (a gateway socket that does not exist:
 * a warning); its result. */
static int adapter_check(int (*check)(const char *, FILE *), const char *settings, char *out,
                         size_t cap)
{
    char dir[256], path[400], uri[512], text[2048];
    CU_ASSERT_FATAL(ut_mkdtemp(dir, sizeof dir, "adaptercheck") == 0);
    snprintf(path, sizeof path, "%s/adapter.conf", dir);
    lt_pg_uri(&g_pg, g_db, OWNER, OWNER_PW, uri, sizeof uri);
    snprintf(text, sizeof text, "gateway_socket = \"%s/no.sock\";\ndatabase = \"%s\";\n%s", dir,
             uri, settings);
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    FILE *f = fmemopen(out, cap, "w");
    CU_ASSERT_FATAL(f != NULL);
    int rc = check(path, f);
    fclose(f);
    out[cap - 1] = 0;
    CU_ASSERT(ut_rmrf(dir) == 0);
    return rc;
}

/* `sink --check` for a sink into table t. */
static int sink_check(const char *t, int create, char *out, size_t cap)
{
    char settings[1024];
    snprintf(settings, sizeof settings,
             "stream = \"bca.population\";\nrecord_type = \"lienthong.records.Population\";\n"
             "table = \"%s\";\nkey_column = \"id\";\ncreate_table = %s;\n"
             "columns = { personal_id = \"id\"; full_name = \"name\"; };\n",
             t, create ? "true" : "false");
    return adapter_check(lt_sink_check, settings, out, cap);
}

/* A PostgreSQL connection string is no file: --check connects and looks at
 * the table instead of saying the "file" does not exist. */
static void test_sink_check(void)
{
    char out[8192] = "";
    fresh(CITIZENS);
    CU_ASSERT(sink_check("citizens", 0, out, sizeof out) == 0);
    CU_ASSERT(strstr(out, "does not exist") == NULL);
    CU_ASSERT(strstr(out, "ok       table: citizens") != NULL);
    if (!strstr(out, "ok       table: citizens"))
        fprintf(stderr, "%s\n", out);
    /* A missing table is the table's failure, not the database's. */
    CU_ASSERT(sink_check("nosuch", 0, out, sizeof out) == 1);
    CU_ASSERT(strstr(out, "has no table nosuch") != NULL);
    CU_ASSERT(strstr(out, "PRIMARY KEY or UNIQUE") != NULL);
    /* A check creates nothing: what the sink would create is told. */
    CU_ASSERT(sink_check("newtab", 1, out, sizeof out) == 0);
    CU_ASSERT(strstr(out, "newtab would be created") != NULL);
    CU_ASSERT(strstr(out, "lt_sink_cursor would be created") != NULL);
    CU_ASSERT(owner_int("SELECT count(*) FROM pg_class WHERE relname IN ('newtab', "
                        "'lt_sink_cursor')") == 0);
    if (!strstr(out, "newtab would be created"))
        fprintf(stderr, "%s\n", out);
}

/* `source --check` for a source of table citizens. */
static int source_check(char *out, size_t cap)
{
    return adapter_check(lt_source_check,
                         "dataset = \"VN/GOV/BCA/population\";\n"
                         "record_type = \"lienthong.records.Population\";\n"
                         "table = \"citizens\";\nkey_column = \"id\";\nkey_field = "
                         "\"personal_id\";\ncolumns = { personal_id = \"id\"; full_name = "
                         "\"name\"; };\n",
                         out, cap);
}

/* A source's check creates nothing either (its setup is rolled back): the
 * cursor and rejects tables, or a cursor table's missing column, are told. */
static void test_source_check(void)
{
    char out[8192] = "";
    fresh(CITIZENS "SELECT 1");
    lt_db_t *d = open_seam(LT_DB_SOURCE, "citizens", COLS2, TYPES2, 2, 0);
    install(d, 1);
    lt_db_destroy(&d);
    PGconn *o = lt_pg_as(&g_pg, g_db, OWNER);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT(lt_pg_exec(o, "DROP TABLE lt_source_cursor; DROP TABLE lt_rejects") == 0);
    CU_ASSERT(source_check(out, sizeof out) == 0);
    CU_ASSERT(strstr(out, "change tracking installed") != NULL);
    CU_ASSERT(strstr(out, "lt_source_cursor would be created") != NULL);
    CU_ASSERT(strstr(out, "lt_rejects would be created") != NULL);
    if (!strstr(out, "lt_rejects would be created"))
        fprintf(stderr, "%s\n", out);
    CU_ASSERT(owner_int("SELECT count(*) FROM pg_class WHERE relname IN ('lt_source_cursor', "
                        "'lt_rejects')") == 0);
    /* A cursor table from before acked_shift: the column is told, not added. */
    CU_ASSERT(lt_pg_exec(o, "CREATE TABLE lt_source_cursor(dataset text PRIMARY KEY, change_id "
                            "bigint NOT NULL, table_name text, shift bigint NOT NULL DEFAULT 0)") ==
              0);
    PQfinish(o);
    CU_ASSERT(source_check(out, sizeof out) == 0);
    CU_ASSERT(strstr(out, "lt_source_cursor would be given its missing columns") != NULL);
    CU_ASSERT(owner_int("SELECT count(*) FROM pg_attribute WHERE attrelid = "
                        "'lt_source_cursor'::regclass AND attname = 'acked_shift'") == 0);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"capture installed twice; the printed script is the same", test_install_twice},
        {"lt_rejects: recorded, counted, kinds apart, removed", test_rejects},
        {"cursor rows listed and forgotten", test_cursor_forget},
        {"--forget of a table's last dataset removes its capture", test_forget_last},
        {"--forget that waits too long for the table names the lock timeout",
         test_forget_lock_timeout},
        {"what is a change (and a rollback is not)", test_what_is_a_change},
        {"commit order: two concurrent transactions", test_commit_order},
        {"two tables in one database", test_two_tables},
        {"high-water mark, relist, epoch shift", test_high_and_relist},
        {"a cursor table from before acked_shift gets it", test_cursor_table_upgraded},
        {"NOTIFY wakes the reader of the table", test_notify},
        {"char(n) key: the row's key is the change's", test_char_key},
        {"citext key renamed in case: the old spelling is deleted", test_citext_key},
        {"keys without a row queued as deletions (reconcile)", test_queue_absent},
        {"a key under a nondeterministic collation, the same", test_nondeterministic_key},
        {"changes numbered in the order written, not lt_pending's physical order",
         test_pending_order},
        {"an idle poll remembers lt_pending.seq, and sees it added while running",
         test_pending_seq_remembered},
        {"a capture from an older lienthong: told at start, upgraded by --install",
         test_capture_upgraded},
        {"table names to quote, and one too long", test_odd_table_names},
        {"types of a row", test_types},
        {"timestamptz and interval read in UTC and ISO 8601", test_session_settings},
        {"a timestamptz key is listed as read, whatever the writer's session",
         test_key_text_pinned},
        {"a float read as an integer: clamped, never undefined", test_float_as_int},
        {"sink: a batch and its cursor, all or nothing", test_sink_batch},
        {"sink replacement: emptied and refilled in one transaction", test_sink_replace},
        {"sink: the table must take upserts by key", test_sink_table_must_fit},
        {"sink: an unsigned 64-bit column keeps every value exactly", test_sink_uint64_exact},
        {"sink: a value too long is refused, never cut", test_sink_too_long},
        {"sink: a UNIQUE column, a tombstone then its value reused", test_sink_unique_delete_first},
        {"sink: a batch refused whole applied write by write", test_sink_write_by_write},
        {"sink: a unique value swapped: refused, or applied when deferred", test_sink_unique_swap},
        {"sink: a setup failed part way is done again", test_sink_setup_again},
        {"source: a column's type changed under it", test_source_column_altered},
        {"sink: a column's type changed under it", test_sink_column_altered},
        {"sink: a lock held elsewhere times out, retried", test_sink_lock_timeout},
        {"sink: a batch and its cursor in one round trip", test_sink_one_round_trip},
        {"sink: a deferred constraint refused at the batch's commit", test_sink_commit_refused},
        {"sink: a citext key renamed in case keeps its row", test_sink_citext_key},
        {"sink: a nondeterministic key renamed in case, the same", test_sink_nondeterministic_key},
        {"sink --check connects to a PostgreSQL database", test_sink_check},
        {"source --check creates nothing in a PostgreSQL database", test_source_check},
        {"sink: the cursor's history, a column added to an old cursor table",
         test_sink_history_column},
        {"wrong password or database", test_refused},
        {"server restart and crash between calls", test_server_restart},
        {NULL, NULL},
    };
    return ut_main("db_pg", suite_init, suite_clean, tests);
}

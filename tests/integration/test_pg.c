/* test_pg: the PostgreSQL adapters with real processes: gateways, source
 * and sink adapters, the throwaway PostgreSQL cluster of the CTest fixture
 * (tests/pg-cluster) and SQLite files, on 127.0.0.1.
 *
 * The federation: the Ministry of Public Security (VN/GOV/BCA) keeps its
 * register in PostgreSQL (tables citizens and sims) and publishes both with
 * ONE source process (two datasets); a mobile operator (VN/COM/VIETTEL)
 * keeps two tables in SQLite and publishes them with one source; Thanh Hoa
 * province (VN/PROV/38) replicates all four and writes them with five sinks:
 * the BCA datasets into its PostgreSQL database and the population also
 * into a SQLite file, the operator's into PostgreSQL and SQLite. So both
 * directions of a mixed federation are covered.
 *
 * Tests, in order, on that one federation:
 * 1. inserts, updates, deletes, key changes, a rolled-back transaction and
 *    one transaction touching two tables, in both owners' databases, reach
 *    every consumer table exactly (full contents compared);
 * 2. during a stream of changes: kill -9 of each source, of a PostgreSQL
 *    and a SQLite sink and of both gateways, a clean restart and a crash of
 *    PostgreSQL, and a 3-second outage; afterwards every consumer table is
 *    exactly its owner's again, and the outage was logged once per dataset,
 *    not once per retry;
 * 3. change capture dropped and re-installed in the owner's database (its
 *    ids start again below the gateway's cursor): the source publishes
 *    under a new epoch and nothing is skipped; --resync publishes every row
 *    again;
 * 4. a dataset removed from the ministry's source keeps its cursor row: the
 *    source names it once per run, also when the dataset that names it
 *    lost its connection while starting and started again;
 * 4b. rows deleted with the triggers disabled stay at the consumers until
 *    `lienthong source --reconcile`, run beside the running source, lists
 *    them: then every consumer table is the owner's again;
 * 5. no log of any process shows the database password.
 *
 * Usage: test_pg /path/to/lienthong (or LIENTHONG_BIN=...); needs the
 * cluster of the "pg" fixture (LT_PG_STATE). */
#define _GNU_SOURCE
#include "lt_file.h"
#include "lt_itest.h"
#include "pg_util.h"

#include <CUnit/Basic.h>
#include <inttypes.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define FED    "VN"
#define ID_BCA "VN/GOV/BCA"
#define ID_P38 "VN/PROV/38"
#define ID_VT  "VN/COM/VIETTEL"
#define DS_POP ID_BCA "/population"
#define DS_SIM ID_BCA "/sims"
#define DS_SUB ID_VT "/subscribers"
#define DS_PRE ID_VT "/prepaid"

#define PG_USER     "agency"
#define PG_PW       "Np-d8Xq-2026"
#define READY_MS    30000
#define CONVERGE_MS 90000
#define STOP_MS     15000

static const char *s_dir_extra =
    "datasets = (\n"
    " { id = \"" DS_POP "\"; owner = \"" ID_BCA "\"; type = \"lienthong.records.Population\";"
    " key = \"personal_id\"; },\n"
    " { id = \"" DS_SIM "\"; owner = \"" ID_BCA "\"; type = \"lienthong.records.Subscriber\";"
    " key = \"phone_number\"; },\n"
    " { id = \"" DS_SUB "\"; owner = \"" ID_VT "\"; type = \"lienthong.records.Subscriber\";"
    " key = \"phone_number\"; },\n"
    " { id = \"" DS_PRE "\"; owner = \"" ID_VT "\"; type = \"lienthong.records.Subscriber\";"
    " key = \"phone_number\"; } );\n"
    "policies = (\n"
    " { consumer = \"" ID_P38 "\"; target = \"" DS_POP "\"; allow = [\"subscribe\"]; },\n"
    " { consumer = \"" ID_P38 "\"; target = \"" DS_SIM "\"; allow = [\"subscribe\"]; },\n"
    " { consumer = \"" ID_P38 "\"; target = \"" DS_SUB "\"; allow = [\"subscribe\"]; },\n"
    " { consumer = \"" ID_P38 "\"; target = \"" DS_PRE "\"; allow = [\"subscribe\"]; } );\n";

/* The owners' tables: a register as an agency would keep it (dates as
 * date, small integers for enums) and an operator's SQLite tables. */
static const char *s_bca_schema =
    "CREATE TABLE citizens (personal_id text PRIMARY KEY, full_name text NOT NULL,"
    " date_of_birth date, sex smallint NOT NULL, current_province text, current_address text,"
    " status integer NOT NULL, note text);"
    "CREATE TABLE sims (phone text PRIMARY KEY, owner_id text, owner_name text, activated date,"
    " status integer NOT NULL);";
static const char *s_vt_schema =
    "CREATE TABLE subscribers (phone TEXT PRIMARY KEY, owner_id TEXT, owner_name TEXT,"
    " activated TEXT, status INTEGER NOT NULL);"
    "CREATE TABLE prepaid (phone TEXT PRIMARY KEY, owner_id TEXT, owner_name TEXT,"
    " activated TEXT, status INTEGER NOT NULL);";

#define POP_COLUMNS                                                                                \
    "columns = { personal_id = \"personal_id\"; full_name = \"full_name\";"                        \
    " date_of_birth = \"date_of_birth\"; sex = \"sex\"; current_province = \"current_province\";"  \
    " current_address = \"current_address\"; status = \"status\"; };"
#define SUB_COLUMNS                                                                                \
    "columns = { phone_number = \"phone\"; owner_personal_id = \"owner_id\";"                      \
    " owner_name = \"owner_name\"; activation_date = \"activated\"; status = \"status\"; };"

/* What each consumer table must equal: SQL on the owner's database and on
 * the consumer's, rendering every row as one text in key order. */
#define POP_ROWS(t)                                                                                \
    "SELECT personal_id || '|' || full_name || '|' || COALESCE(date_of_birth || '', '') || '|' "   \
    "|| sex || '|' || COALESCE(current_province, '') || '|' || COALESCE(current_address, '') "     \
    "|| '|' || status FROM " t " ORDER BY personal_id"
#define SUB_ROWS(t)                                                                                \
    "SELECT phone || '|' || COALESCE(owner_id, '') || '|' || COALESCE(owner_name, '') || '|' || "  \
    "COALESCE(activated || '', '') || '|' || status FROM " t " ORDER BY phone"

typedef enum {
    SRC_BCA,
    SRC_VT,
    SNK_POP_PG,
    SNK_SIM_PG,
    SNK_POP_LITE,
    SNK_SUB_PG,
    SNK_PRE_LITE,
    N_PROCS
} proc_id_t;

typedef struct {
    lt_it_fed_t f;
    lt_pg_t pg;
    lt_it_gw_t *bca, *p38, *vt;
    char vt_db[PATH_MAX], p38_db[PATH_MAX];
    char conf[N_PROCS][PATH_MAX];
    lt_it_proc_t procs[N_PROCS];
    PGconn *bca_w; /* the ministry's application */
    sqlite3 *vt_w; /* the operator's application */
    uint64_t rng;
    int next_citizen, next_sim, next_sub;
    int ready;
} world_t;

static world_t s_w;

/* ---- small things ---------------------------------------------------------- */

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static uint64_t s_rand(world_t *w)
{
    uint64_t z = (w->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int s_pick(world_t *w, int n)
{
    return n > 0 ? (int)(s_rand(w) % (uint64_t)n) : 0;
}

static long s_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* ---- the owners' applications ---------------------------------------------- */

/* Runs SQL in the ministry's database; a failure while PostgreSQL restarts
 * is retried on a new connection (what was not committed is simply not
 * there: the owner's database is the truth the consumers are compared to). */
static int s_bca(world_t *w, const char *sql)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        if (!w->bca_w || PQstatus(w->bca_w) != CONNECTION_OK) {
            PQfinish(w->bca_w);
            w->bca_w = lt_pg_as(&w->pg, "bca", "agency_app");
        }
        if (w->bca_w) {
            PGresult *r = PQexec(w->bca_w, sql);
            int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
            const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
            /* No SQLSTATE, 08 or 57: the server went away, not the SQL. */
            int gone = !state || strncmp(state, "08", 2) == 0 || strncmp(state, "57", 2) == 0;
            if (!ok && !gone)
                fprintf(stderr, "pg: %s  in: %.200s\n", PQerrorMessage(w->bca_w), sql);
            PQclear(r);
            if (ok || !gone)
                return ok ? 0 : -1;
            PQfinish(w->bca_w);
            w->bca_w = NULL;
        }
        s_sleep_ms(100);
    }
    return -1;
}

static int s_vt(world_t *w, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(w->vt_w, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sqlite: %s in: %.200s\n", msg ? msg : "", sql);
    sqlite3_free(msg);
    return rc == SQLITE_OK ? 0 : -1;
}

static void s_citizen_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "0380%08d", i);
}

/* One transaction of the ministry: a mix of inserts, updates, deletes and
 * key changes over both tables (several in one transaction), or a
 * transaction that is rolled back. */
static int s_bca_txn(world_t *w)
{
    char sql[4096], id[16], id2[16];
    size_t n = (size_t)snprintf(sql, sizeof sql, "BEGIN;");
    int ops = 1 + s_pick(w, 4), rollback = s_pick(w, 10) == 0;
    for (int k = 0; k < ops && n < sizeof sql - 600; k++) {
        int what = s_pick(w, 8);
        s_citizen_id(s_pick(w, w->next_citizen + 1), id, sizeof id);
        if (what <= 1 || w->next_citizen < 5) {
            s_citizen_id(w->next_citizen++, id, sizeof id);
            n += (size_t)snprintf(sql + n, sizeof sql - n,
                                  "INSERT INTO citizens VALUES ('%s', 'Nguyễn Văn %d', "
                                  "'1984-05-%02d', %d, '38', 'Số %d Lê Lợi', 1, NULL);",
                                  id, w->next_citizen, 1 + s_pick(w, 28), 1 + s_pick(w, 2),
                                  s_pick(w, 900));
        } else if (what == 2)
            n += (size_t)snprintf(sql + n, sizeof sql - n,
                                  "UPDATE citizens SET current_province = '%02d', "
                                  "current_address = NULL WHERE personal_id = '%s';",
                                  1 + s_pick(w, 63), id);
        else if (what == 3)
            n += (size_t)snprintf(sql + n, sizeof sql - n,
                                  "UPDATE citizens SET status = 2, full_name = full_name || ' ✝' "
                                  "WHERE personal_id = '%s';",
                                  id);
        else if (what == 4)
            n += (size_t)snprintf(sql + n, sizeof sql - n,
                                  "DELETE FROM citizens WHERE personal_id = '%s';", id);
        else if (what == 5) {
            s_citizen_id(w->next_citizen++, id2, sizeof id2);
            n += (size_t)snprintf(sql + n, sizeof sql - n,
                                  "UPDATE citizens SET personal_id = '%s' WHERE personal_id = "
                                  "'%s';",
                                  id2, id);
        } else if (what == 6) /* the same transaction touches both tables */
            n += (size_t)snprintf(sql + n, sizeof sql - n,
                                  "INSERT INTO sims SELECT '849%07d', personal_id, full_name, "
                                  "'2024-01-%02d', 1 FROM citizens WHERE personal_id = '%s';",
                                  w->next_sim++, 1 + s_pick(w, 28), id);
        else
            n += (size_t)snprintf(sql + n, sizeof sql - n,
                                  "UPDATE sims SET status = %d WHERE phone = '849%07d';"
                                  "DELETE FROM sims WHERE phone = '849%07d';",
                                  1 + s_pick(w, 3), s_pick(w, w->next_sim + 1),
                                  s_pick(w, w->next_sim + 1));
    }
    snprintf(sql + n, sizeof sql - n, "%s", rollback ? "ROLLBACK;" : "COMMIT;");
    return s_bca(w, sql);
}

static int s_vt_txn(world_t *w)
{
    char sql[2048];
    const char *t = s_pick(w, 2) ? "subscribers" : "prepaid";
    int what = s_pick(w, 4), k = s_pick(w, w->next_sub + 1);
    if (what <= 1 || w->next_sub < 5)
        snprintf(sql, sizeof sql,
                 "INSERT OR REPLACE INTO %s VALUES ('8498%07d', '0380%08d', 'Trần Thị %d', "
                 "'2023-0%d-11', 1)",
                 t, w->next_sub++, s_pick(w, 1000), s_pick(w, 1000), 1 + s_pick(w, 9));
    else if (what == 2)
        snprintf(sql, sizeof sql, "UPDATE %s SET status = 2 WHERE phone = '8498%07d'", t, k);
    else
        snprintf(sql, sizeof sql,
                 "BEGIN; DELETE FROM %s WHERE phone = '8498%07d'; UPDATE %s SET owner_name = "
                 "NULL WHERE phone = '8498%07d'; COMMIT",
                 t, k, t, k + 1);
    return s_vt(w, sql);
}

/* ---- comparing tables ------------------------------------------------------- */

/* Every row of the query as "row\n..." (malloc'd). */
static char *s_pg_rows(world_t *w, const char *db, const char *sql)
{
    PGconn *c = lt_pg_admin(&w->pg, db);
    PGresult *r = c ? PQexec(c, sql) : NULL;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (r && PQresultStatus(r) == PGRES_TUPLES_OK && f)
        for (int i = 0; i < PQntuples(r); i++)
            fprintf(f, "%s\n", PQgetvalue(r, i, 0));
    else if (f)
        fprintf(f, "(query failed: %s)", c ? PQerrorMessage(c) : "no connection");
    if (f)
        fclose(f);
    PQclear(r);
    PQfinish(c);
    return out;
}

static char *s_lite_rows(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW)
            fprintf(f, "%s\n", (const char *)sqlite3_column_text(st, 0));
    else
        fprintf(f, "(query failed: %s)", db ? sqlite3_errmsg(db) : "no database");
    sqlite3_finalize(st);
    sqlite3_close(db);
    fclose(f);
    return out;
}

/* The five consumer tables against their owners' tables: the number that
 * differ; with `why`, what differs first. */
static int s_differ(world_t *w, char *why, size_t cap)
{
    char *pop = s_pg_rows(w, "bca", POP_ROWS("citizens"));
    char *sim = s_pg_rows(w, "bca", SUB_ROWS("sims"));
    char *sub = s_lite_rows(w->vt_db, SUB_ROWS("subscribers"));
    char *pre = s_lite_rows(w->vt_db, SUB_ROWS("prepaid"));
    struct {
        const char *name;
        char *want, *got;
    } t[] = {
        {"p38 PostgreSQL residents", pop, s_pg_rows(w, "p38", POP_ROWS("residents"))},
        {"p38 PostgreSQL sims", sim, s_pg_rows(w, "p38", SUB_ROWS("sims_bca"))},
        {"p38 SQLite residents", pop, s_lite_rows(w->p38_db, POP_ROWS("residents"))},
        {"p38 PostgreSQL subscribers", sub, s_pg_rows(w, "p38", SUB_ROWS("subscribers"))},
        {"p38 SQLite prepaid", pre, s_lite_rows(w->p38_db, SUB_ROWS("prepaid"))},
    };
    int differ = 0;
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        int same = t[i].want && t[i].got && strcmp(t[i].want, t[i].got) == 0;
        if (!same && why && !differ)
            snprintf(why, cap, "%s: %zu bytes of rows, the owner's %zu", t[i].name,
                     t[i].got ? strlen(t[i].got) : 0, t[i].want ? strlen(t[i].want) : 0);
        differ += !same;
        free(t[i].got);
    }
    free(pop);
    free(sim);
    free(sub);
    free(pre);
    return differ;
}

/* Waits until every consumer table equals its owner's. */
static int s_converge(world_t *w, char *why, size_t cap)
{
    int64_t end = lt_it_ms() + CONVERGE_MS;
    while (lt_it_ms() < end) {
        if (s_differ(w, why, cap) == 0)
            return 0;
        s_sleep_ms(500);
    }
    return s_differ(w, why, cap) == 0 ? 0 : -1;
}

static void s_dump(world_t *w)
{
    lt_it_log_dump(w->bca);
    lt_it_log_dump(w->p38);
    for (int i = 0; i < N_PROCS; i++)
        lt_it_file_dump(w->procs[i].log_path);
}

/* ---- the federation ------------------------------------------------------ */

static int s_configs(world_t *w)
{
    char uri_bca[512], uri_p38[512];
    lt_pg_uri(&w->pg, "bca", PG_USER, PG_PW, uri_bca, sizeof uri_bca);
    lt_pg_uri(&w->pg, "p38", PG_USER, PG_PW, uri_p38, sizeof uri_p38);
    const char *d = w->f.dir;
    static const char *const names[N_PROCS] = {"bca-source",   "vt-source",     "sink-pop-pg",
                                               "sink-sim-pg",  "sink-pop-lite", "sink-sub-pg",
                                               "sink-pre-lite"};
    for (int i = 0; i < N_PROCS; i++) {
        snprintf(w->conf[i], sizeof w->conf[i], "%.4000s/%s.conf", d, names[i]);
        snprintf(w->procs[i].log_path, sizeof w->procs[i].log_path, "%.4000s/%s.log", d, names[i]);
    }
    int rc = lt_it_write_fmt(
        w->conf[SRC_BCA],
        "gateway_socket = \"%s\";\ndatabase = \"%s\";\nbatch = 100;\npoll_ms = 2000;\n"
        "datasets = (\n"
        " { dataset = \"" DS_POP "\"; record_type = \"lienthong.records.Population\";"
        " table = \"citizens\"; key_column = \"personal_id\"; key_field = "
        "\"personal_id\"; " POP_COLUMNS " },\n"
        " { dataset = \"" DS_SIM "\"; record_type = \"lienthong.records.Subscriber\";"
        " table = \"sims\"; key_column = \"phone\"; key_field = \"phone_number\"; " SUB_COLUMNS
        " } );\n",
        w->bca->sock_path, uri_bca);
    rc |= lt_it_write_fmt(
        w->conf[SRC_VT],
        "gateway_socket = \"%s\";\ndatabase = \"%s\";\nbatch = 100;\npoll_ms = 50;\n"
        "datasets = (\n"
        " { dataset = \"" DS_SUB "\"; record_type = \"lienthong.records.Subscriber\";"
        " table = \"subscribers\"; key_column = \"phone\"; key_field = "
        "\"phone_number\"; " SUB_COLUMNS " },\n"
        " { dataset = \"" DS_PRE "\"; record_type = \"lienthong.records.Subscriber\";"
        " table = \"prepaid\"; key_column = \"phone\"; key_field = \"phone_number\"; " SUB_COLUMNS
        " } );\n",
        w->vt->sock_path, w->vt_db);
    static const struct {
        proc_id_t id;
        const char *stream, *type, *table, *key, *columns;
        int pg;
    } sinks[] = {
        {SNK_POP_PG, DS_POP, "Population", "residents", "personal_id", POP_COLUMNS, 1},
        {SNK_SIM_PG, DS_SIM, "Subscriber", "sims_bca", "phone", SUB_COLUMNS, 1},
        {SNK_POP_LITE, DS_POP, "Population", "residents", "personal_id", POP_COLUMNS, 0},
        {SNK_SUB_PG, DS_SUB, "Subscriber", "subscribers", "phone", SUB_COLUMNS, 1},
        {SNK_PRE_LITE, DS_PRE, "Subscriber", "prepaid", "phone", SUB_COLUMNS, 0},
    };
    for (size_t i = 0; i < sizeof sinks / sizeof sinks[0]; i++)
        rc |= lt_it_write_fmt(w->conf[sinks[i].id],
                              "gateway_socket = \"%s\";\nstream = \"%s\";\n"
                              "record_type = \"lienthong.records.%s\";\ndatabase = \"%s\";\n"
                              "table = \"%s\";\nkey_column = \"%s\";\ncreate_table = true;\n%s\n",
                              w->p38->sock_path, sinks[i].stream, sinks[i].type,
                              sinks[i].pg ? uri_p38 : w->p38_db, sinks[i].table, sinks[i].key,
                              sinks[i].columns);
    return rc ? -1 : 0;
}

/* The owners' databases with some rows, capture installed: the ministry's
 * by a DBA running the printed script, the operator's by --install. */
static int s_databases(world_t *w)
{
    if (lt_pg_fresh_db(&w->pg, "bca", PG_USER, PG_PW) ||
        lt_pg_fresh_db(&w->pg, "p38", PG_USER, PG_PW) || lt_pg_role(&w->pg, "agency_app", NULL))
        return -1;
    PGconn *o = lt_pg_as(&w->pg, "bca", PG_USER);
    int rc = o ? lt_pg_exec(o, s_bca_schema) : -1;
    rc |= o ? lt_pg_exec(o, "GRANT SELECT, INSERT, UPDATE, DELETE ON citizens, sims TO agency_app")
            : -1;
    if (rc || sqlite3_open(w->vt_db, &w->vt_w) != SQLITE_OK || s_vt(w, s_vt_schema) ||
        sqlite3_busy_timeout(w->vt_w, 10000) != SQLITE_OK) {
        PQfinish(o);
        return -1;
    }
    for (int i = 0; i < 300 && rc == 0; i++)
        rc = s_bca_txn(w) | s_vt_txn(w);
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%.4000s/print-install.sql", w->f.dir);
    const char *print[] = {"source", "--config", w->conf[SRC_BCA], "--print-install", NULL};
    if (rc == 0 && lt_it_run_cli(w->f.dir, out, print, 30000) == 0) {
        uint8_t *sql = NULL;
        size_t len = 0;
        rc = lt_file_read(out, 1u << 20, &sql, &len) == 0 ? lt_pg_exec(o, (char *)sql) : -1;
        free(sql);
    } else if (rc == 0) {
        lt_it_file_dump(out);
        rc = -1;
    }
    PQfinish(o);
    return rc;
}

/* A step of the set-up that failed, for the log. */
static int s_step(int rc, const char *what)
{
    if (rc != 0)
        fprintf(stderr, "pg: set-up failed: %s\n", what);
    return rc;
}

static int s_setup(world_t *w)
{
    memset(w, 0, sizeof *w);
    w->rng = 20260038;
    if (s_step(lt_pg_load(&w->pg), "the cluster") || s_step(lt_it_fed_init(&w->f, FED), "fed"))
        return -1;
    w->f.extra_source = s_dir_extra;
    lt_it_member_t *mb = lt_it_member_add(&w->f, ID_BCA, 1);
    lt_it_member_t *mp = lt_it_member_add(&w->f, ID_P38, 1);
    lt_it_member_t *mv = lt_it_member_add(&w->f, ID_VT, 1);
    if (!mb || !mp || !mv)
        return -1;
    static const char *const peers[] = {ID_BCA, ID_VT, NULL};
    w->bca = lt_it_gw_new(&w->f, mb, 1, NULL, NULL);
    w->vt = lt_it_gw_new(&w->f, mv, 1, NULL, NULL);
    w->p38 = lt_it_gw_new(&w->f, mp, 1, peers,
                          "subscribe = ( { stream = \"" DS_POP "\"; }, { stream = \"" DS_SIM
                          "\"; }, { stream = \"" DS_SUB "\"; }, { stream = \"" DS_PRE "\"; } );");
    if (!w->bca || !w->vt || !w->p38)
        return -1;
    snprintf(w->vt_db, sizeof w->vt_db, "%.4000s/viettel.db", w->f.dir);
    snprintf(w->p38_db, sizeof w->p38_db, "%.4000s/p38.db", w->f.dir);
    if (s_step(s_configs(w), "configuration files") || s_step(s_databases(w), "databases"))
        return -1;
    /* The operator's source installs its capture itself. */
    for (int i = 0; i < N_PROCS; i++) {
        w->procs[i].args[0] = i <= SRC_VT ? "source" : "sink";
        w->procs[i].args[1] = "--config";
        w->procs[i].args[2] = w->conf[i];
    }
    w->procs[SRC_VT].args[3] = "--install";
    if (s_step(lt_it_gw_run(w->bca, READY_MS) || lt_it_gw_run(w->vt, READY_MS) ||
                   lt_it_gw_run(w->p38, READY_MS),
               "gateways"))
        return -1;
    for (int i = 0; i < N_PROCS; i++)
        if (s_step(lt_it_proc_start(&w->procs[i]), "adapters"))
            return -1;
    return 0;
}

static int s_suite_init(void)
{
    s_w.ready = s_setup(&s_w) == 0;
    if (!s_w.ready)
        s_dump(&s_w);
    return 0;
}

static int s_suite_clean(void)
{
    PQfinish(s_w.bca_w);
    sqlite3_close(s_w.vt_w);
    lt_it_cleanup_all();
    lt_it_fed_cleanup(&s_w.f);
    return 0;
}

/* The federation lives from the first test to the last. */
static void s_keep(void)
{
}

/* ---- the tests --------------------------------------------------------------- */

static void test_changes_reach_consumers(void)
{
    world_t *w = &s_w;
    char why[512] = "";
    LT_IT_REQUIRE(w->ready);
    for (int i = 0; i < 200; i++) {
        LT_IT_REQUIRE(s_bca_txn(w) == 0);
        LT_IT_REQUIRE(s_vt_txn(w) == 0);
    }
    int rc = s_converge(w, why, sizeof why);
    if (rc)
        s_dump(w);
    CU_ASSERT_EQUAL(rc, 0);
    if (rc)
        fprintf(stderr, "pg: not converged: %s\n", why);
    PGconn *o = lt_pg_admin(&w->pg, "bca");
    CU_ASSERT(o && lt_pg_int(o, "SELECT count(*) FROM citizens") > 200);
    CU_ASSERT(o && lt_pg_int(o, "SELECT count(*) FROM sims") > 10);
    PQfinish(o);
out:
    return;
}

/* One event of the stream test, at `at` ms. */
typedef struct {
    int at;
    const char *what;
} event_t;

static void s_event(world_t *w, const char *what)
{
    printf("pg: %s\n", what);
    fflush(stdout);
    if (strncmp(what, "kill ", 5) == 0) {
        int id = atoi(what + 5);
        lt_it_proc_kill(&w->procs[id]);
        s_sleep_ms(200);
        CU_ASSERT(lt_it_proc_start(&w->procs[id]) == 0);
    } else if (strncmp(what, "gateway ", 8) == 0) {
        lt_it_gw_t *g = what[8] == 'o' ? w->bca : w->p38;
        lt_it_gw_kill(g);
        CU_ASSERT(lt_it_gw_run(g, READY_MS) == 0);
    } else if (strcmp(what, "restart") == 0 || strcmp(what, "crash") == 0)
        CU_ASSERT(lt_pg_restart(&w->pg, what[0] == 'c') == 0);
}

static void test_crashes_and_restarts(void)
{
    world_t *w = &s_w;
    char why[512] = "";
    LT_IT_REQUIRE(w->ready);
    static const event_t events[] = {
        {1000, "kill 0 (the ministry's PostgreSQL source)"},
        {2500, "restart"},
        {4000, "kill 2 (a PostgreSQL sink)"},
        {5500, "crash"},
        {7000, "kill 4 (a SQLite sink)"},
        {8500, "kill 1 (the operator's SQLite source)"},
        {10000, "outage"},
        {13000, "kill 3 (a PostgreSQL sink)"},
        {14000, "gateway owner (kill -9 of the ministry's gateway)"},
        {15000, "gateway consumer (kill -9 of the province's gateway)"},
    };
    size_t next = 0;
    long mark[N_PROCS];
    int64_t t0 = lt_it_ms();
    while (lt_it_ms() - t0 < 17000) {
        if (next < sizeof events / sizeof events[0] && lt_it_ms() - t0 >= events[next].at) {
            if (strcmp(events[next].what, "outage") == 0) {
                for (int i = 0; i < N_PROCS; i++)
                    mark[i] = s_size(w->procs[i].log_path);
                printf("pg: PostgreSQL down for 3 s\n");
                CU_ASSERT(lt_pg_down(&w->pg, 1) == 0);
                for (int i = 0; i < 30; i++) {
                    CU_ASSERT(s_vt_txn(w) == 0);
                    s_sleep_ms(100);
                }
                CU_ASSERT(lt_pg_down(&w->pg, 0) == 0);
            } else
                s_event(w, events[next].what);
            next++;
        }
        LT_IT_REQUIRE(s_bca_txn(w) == 0);
        LT_IT_REQUIRE(s_vt_txn(w) == 0);
        s_sleep_ms(10);
    }
    int rc = s_converge(w, why, sizeof why);
    if (rc) {
        fprintf(stderr, "pg: not converged: %s\n", why);
        s_dump(w);
    }
    CU_ASSERT_EQUAL(rc, 0);
    /* The outage: each of the ministry's datasets said it once, not once per
     * retry, and said when the database was back. */
    const char *src = w->procs[SRC_BCA].log_path;
    int down_pop = lt_it_file_count(src, mark[SRC_BCA], "dataset=" DS_POP, "until it is back");
    int down_sim = lt_it_file_count(src, mark[SRC_BCA], "dataset=" DS_SIM, "until it is back");
    int again = lt_it_file_count(src, mark[SRC_BCA], "reachable again", NULL);
    printf("pg: outage logged by the source: %d + %d times, back %d times\n", down_pop, down_sim,
           again);
    CU_ASSERT(down_pop == 1 && down_sim == 1);
    CU_ASSERT(again == 2);
    for (int i = SNK_POP_PG; i < N_PROCS; i++)
        CU_ASSERT(lt_it_file_count(w->procs[i].log_path, mark[i], "until it is back", NULL) <= 1);
out:
    return;
}

/* The ministry's DBA drops the change capture and installs it again (the
 * printed script): the new change list numbers from 1, below what the
 * gateway already stored. Changes made then would be skipped as already
 * stored; the source notices and publishes under a new epoch, and nothing
 * is skipped. Then --resync publishes every row again. (Rows deleted while
 * no capture was installed cannot be seen: adapters/README.md.) */
static void test_reinstall(void)
{
    world_t *w = &s_w;
    char why[512] = "", out[PATH_MAX + 16];
    LT_IT_REQUIRE(w->ready);
    CU_ASSERT(lt_it_proc_stop(&w->procs[SRC_BCA], STOP_MS) == 0);
    PGconn *o = lt_pg_as(&w->pg, "bca", PG_USER);
    LT_IT_REQUIRE(o != NULL);
    CU_ASSERT(lt_pg_exec(o, "DROP TABLE lt_changes, lt_pending, lt_capture, lt_source_cursor;"
                            "DROP FUNCTION lt_citizens_capture, lt_sims_capture CASCADE") == 0);
    snprintf(out, sizeof out, "%.4000s/print-install.sql", w->f.dir);
    const char *print[] = {"source", "--config", w->conf[SRC_BCA], "--print-install", NULL};
    uint8_t *sql = NULL;
    size_t len = 0;
    CU_ASSERT(lt_it_run_cli(w->f.dir, out, print, 30000) == 0 &&
              lt_file_read(out, 1u << 20, &sql, &len) == 0 && lt_pg_exec(o, (char *)sql) == 0);
    free(sql);
    PQfinish(o);
    for (int i = 0; i < 50; i++)
        LT_IT_REQUIRE(s_bca_txn(w) == 0);
    CU_ASSERT(s_differ(w, NULL, 0) > 0);
    long mark = s_size(w->procs[SRC_BCA].log_path);
    CU_ASSERT(lt_it_proc_start(&w->procs[SRC_BCA]) == 0);
    int rc = s_converge(w, why, sizeof why);
    if (rc) {
        fprintf(stderr, "pg: not converged: %s\n", why);
        s_dump(w);
    }
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(lt_it_file_count(w->procs[SRC_BCA].log_path, mark,
                               "dataset=" DS_POP " the gateway has stored source cursors up to",
                               "under a new epoch") == 1);
    /* --resync: every row of both tables again. */
    CU_ASSERT(lt_it_proc_stop(&w->procs[SRC_BCA], STOP_MS) == 0);
    mark = s_size(w->procs[SRC_BCA].log_path);
    w->procs[SRC_BCA].args[3] = "--resync";
    CU_ASSERT(lt_it_proc_start(&w->procs[SRC_BCA]) == 0);
    for (int i = 0; i < 20; i++)
        LT_IT_REQUIRE(s_bca_txn(w) == 0);
    rc = s_converge(w, why, sizeof why);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT(lt_it_file_count(w->procs[SRC_BCA].log_path, mark, "listed again", "--resync") == 2);
out:
    return;
}

/* Until n lines after mark in the source's log hold what (and also); 0,
 * or -1 after timeout_ms. */
static int s_log_wait(const world_t *w, long mark, const char *what, const char *also, int n,
                      int timeout_ms)
{
    int64_t t0 = lt_it_ms();
    while (lt_it_file_count(w->procs[SRC_BCA].log_path, mark, what, also) < n)
        if (lt_it_ms() - t0 > timeout_ms)
            return -1;
        else
            s_sleep_ms(100);
    return 0;
}

/* The ministry's source started with the cursor row of a dataset it no
 * longer publishes (on table citizens): the population dataset names it
 * while starting, then waits on a lock the test holds on the cursor table
 * to store its cursor. The test ends that connection, as a database
 * restart would: the dataset starts again once the database answers, and
 * the row is not named a second time. */
static void test_stale_cursor_once(void)
{
    world_t *w = &s_w;
    PGconn *o = NULL, *lock = NULL, *admin = NULL;
    LT_IT_REQUIRE(w->ready);
    /* Run alone, this case finds the source just started: its signal
     * handlers are in place once it has started its datasets. */
    CU_ASSERT(s_log_wait(w, 0, "started dataset=" DS_SIM " ", NULL, 1, READY_MS) == 0);
    CU_ASSERT(lt_it_proc_stop(&w->procs[SRC_BCA], STOP_MS) == 0);
    w->procs[SRC_BCA].args[3] = NULL; /* no --resync from an earlier case */
    o = lt_pg_as(&w->pg, "bca", PG_USER);
    lock = lt_pg_as(&w->pg, "bca", PG_USER);
    admin = lt_pg_admin(&w->pg, "bca");
    LT_IT_REQUIRE(o && lock && admin);
    LT_IT_REQUIRE(lt_pg_exec(o, "INSERT INTO lt_source_cursor (dataset, change_id, table_name) "
                                "VALUES ('" ID_BCA "/retired', 1, 'citizens')") == 0);
    LT_IT_REQUIRE(lt_pg_exec(lock, "BEGIN; LOCK TABLE lt_source_cursor IN EXCLUSIVE MODE") == 0);
    long mark = s_size(w->procs[SRC_BCA].log_path);
    LT_IT_REQUIRE(lt_it_proc_start(&w->procs[SRC_BCA]) == 0);
    /* Named, then waiting on the lock to store its cursor. */
    CU_ASSERT(s_log_wait(w, mark, ID_BCA "/retired is not in this configuration", NULL, 1,
                         READY_MS) == 0);
    int64_t t0 = lt_it_ms();
    while (lt_pg_int(admin, "SELECT count(*) FROM pg_stat_activity WHERE datname = 'bca' "
                            "AND wait_event_type = 'Lock'") < 1 &&
           lt_it_ms() - t0 < READY_MS)
        s_sleep_ms(50);
    CU_ASSERT(lt_pg_int(admin, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                               "WHERE datname = 'bca' AND wait_event_type = 'Lock'") == 1);
    CU_ASSERT(lt_pg_exec(lock, "COMMIT") == 0);
    /* Started again once the database answered; named once in all. */
    CU_ASSERT(s_log_wait(w, mark, "dataset=" DS_POP " ", "reachable again", 1, READY_MS) == 0);
    CU_ASSERT(s_log_wait(w, mark, "started dataset=" DS_POP " ", NULL, 1, READY_MS) == 0);
    CU_ASSERT(s_log_wait(w, mark, "started dataset=" DS_SIM " ", NULL, 1, READY_MS) == 0);
    CU_ASSERT_EQUAL(lt_it_file_count(w->procs[SRC_BCA].log_path, mark,
                                     ID_BCA "/retired is not in this configuration", NULL),
                    1);
    CU_ASSERT(lt_pg_exec(o, "DELETE FROM lt_source_cursor WHERE dataset = '" ID_BCA "/retired'") ==
              0);
out:
    if (lock)
        PQfinish(lock);
    if (o)
        PQfinish(o);
    if (admin)
        PQfinish(admin);
}

/* Rows the ministry deleted with its triggers disabled (as before the
 * capture, or while it was off) never reach the consumers: `lienthong
 * source --reconcile`, run beside the running source, appends their keys
 * to lt_pending with the triggers' NOTIFY, and the running source
 * publishes them as deleted; every consumer table is the owner's again. */
static void test_reconcile(void)
{
    world_t *w = &s_w;
    char why[512] = "", out[PATH_MAX + 16];
    LT_IT_REQUIRE(w->ready);
    CU_ASSERT(s_converge(w, why, sizeof why) == 0);
    PGconn *o = lt_pg_as(&w->pg, "bca", PG_USER);
    LT_IT_REQUIRE(o != NULL);
    CU_ASSERT(lt_pg_exec(o, "BEGIN; ALTER TABLE citizens DISABLE TRIGGER USER;"
                            "DELETE FROM citizens WHERE personal_id IN (SELECT personal_id "
                            "FROM citizens ORDER BY personal_id LIMIT 5);"
                            "ALTER TABLE citizens ENABLE TRIGGER USER; COMMIT") == 0);
    PQfinish(o);
    s_sleep_ms(1000);
    CU_ASSERT(s_differ(w, NULL, 0) > 0); /* the phantoms stay */
    snprintf(out, sizeof out, "%.4000s/reconcile.out", w->f.dir);
    const char *args[] = {"source", "--config", w->conf[SRC_BCA], "--reconcile", NULL};
    CU_ASSERT(lt_it_run_cli(w->f.dir, out, args, 30000) == 0);
    CU_ASSERT(lt_it_file_count(out, 0, "dataset " DS_POP ": ", ", 5 appended") == 1);
    CU_ASSERT(lt_it_file_count(out, 0, "dataset " DS_SIM ": ", ", 0 appended") == 1);
    int rc = s_converge(w, why, sizeof why);
    if (rc) {
        fprintf(stderr, "pg: not converged after --reconcile: %s\n", why);
        lt_it_file_dump(out);
    }
    CU_ASSERT_EQUAL(rc, 0);
out:
    return;
}

static void test_no_password_in_logs(void)
{
    world_t *w = &s_w;
    LT_IT_REQUIRE(w->ready);
    for (int i = 0; i < N_PROCS; i++) {
        CU_ASSERT(lt_it_proc_stop(&w->procs[i], STOP_MS) == 0);
        CU_ASSERT(lt_it_file_count(w->procs[i].log_path, 0, PG_PW, NULL) == 0);
        CU_ASSERT(lt_it_file_count(w->procs[i].log_path, 0, "PostgreSQL database", NULL) >= 0);
    }
    CU_ASSERT(lt_it_file_count(w->bca->log_path, 0, PG_PW, NULL) == 0);
    CU_ASSERT(lt_it_file_count(w->procs[SRC_BCA].log_path, 0,
                               "PostgreSQL database bca on "
                               "127.0.0.1",
                               NULL) > 0);
out:
    return;
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"inserts, updates, deletes, a rollback and two-table transactions reach every "
         "consumer table exactly",
         test_changes_reach_consumers},
        {"kill -9 of each adapter and gateway, PostgreSQL restarts, a crash and an outage "
         "lose nothing",
         test_crashes_and_restarts},
        {"a re-installed change capture: a new epoch, nothing skipped; --resync", test_reinstall},
        {"a removed dataset's cursor is named once, though its start was retried",
         test_stale_cursor_once},
        {"rows deleted without the capture: --reconcile beside the running source", test_reconcile},
        {"no log shows the database password", test_no_password_in_logs},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"pg", s_suite_init, s_suite_clean, NULL, s_keep, tests};
    return lt_it_main(argc, argv, &suite);
}

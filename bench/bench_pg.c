/* bench_pg: the PostgreSQL adapters' feed against the SQLite adapters'
 * feed, measured in the same run on the same gateways.
 *
 * An owner (VN/GOV/BCA) and a consumer (VN/PROV/38) gateway; the same N
 * citizens (about 256 bytes each, lt_bench_citizen) in a SQLite agency
 * database and in a PostgreSQL one (the throwaway cluster of
 * tests/pg-cluster, durable: fsync on). Each database has change capture
 * installed (every row listed), and the figure is N divided by the time
 * from starting its source and the consumer's sink until the sink has
 * applied all N: agency database -> source adapter -> owner gateway
 * (durable log) -> signed batches over CURVE -> consumer gateway (durable
 * replica) -> sink adapter -> the consumer's database of the same engine,
 * with each step's commit. SQLite first, then PostgreSQL:
 *
 *   bench: pg-feed-throughput N records/s | raw <SQLite feed> records/s | ratio R
 *
 * usage: bench_pg LIENTHONG_BINARY [RECORDS]; the cluster's state file in
 * $LT_PG_STATE (scripts/bench starts one). */
#include "lt_bench.h"
#include "lt_itest.h"
#include "lt_raw.h"
#include "lt_source.h"
#include "pg_util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define OWNER    "VN/GOV/BCA"
#define CONSUMER "VN/PROV/38"
#define DS_LITE  OWNER "/population"
#define DS_PG    OWNER "/population_pg"
#define PG_PW    "Bench-pw-1"

static const char *s_dir_extra =
    "datasets = (\n"
    " { id = \"" DS_LITE "\"; owner = \"" OWNER "\"; type = \"lienthong.records.Population\";"
    " key = \"personal_id\"; },\n"
    " { id = \"" DS_PG "\"; owner = \"" OWNER "\"; type = \"lienthong.records.Population\";"
    " key = \"personal_id\"; } );\n"
    "policies = (\n"
    " { consumer = \"" CONSUMER "\"; target = \"" DS_LITE "\"; allow = [\"subscribe\"]; },\n"
    " { consumer = \"" CONSUMER "\"; target = \"" DS_PG "\"; allow = [\"subscribe\"]; } );\n";

#define COLUMNS                                                                                    \
    "columns = { personal_id = \"personal_id\"; full_name = \"full_name\";"                        \
    " date_of_birth = \"date_of_birth\"; sex = \"sex\"; place_of_birth = \"place_of_birth\";"      \
    " home_town = \"home_town\"; ethnicity = \"ethnicity\"; nationality = \"nationality\";"        \
    " permanent_province = \"permanent_province\"; permanent_address = \"permanent_address\";"     \
    " current_province = \"current_province\"; current_address = \"current_address\";"             \
    " id_card_number = \"id_card_number\"; id_card_issued = \"id_card_issued\";"                   \
    " status = \"status\"; date_of_death = \"date_of_death\"; };\n"
#define SOURCE_CONF                                                                                \
    "gateway_socket = \"%s\";\ndataset = \"%s\";\nrecord_type = "                                  \
    "\"lienthong.records.Population\";\n"                                                          \
    "database = \"%s\";\ntable = \"citizens\";\nkey_column = \"personal_id\";\n"                   \
    "key_field = \"personal_id\";\n" COLUMNS
#define SINK_CONF                                                                                  \
    "gateway_socket = \"%s\";\nstream = \"%s\";\nrecord_type = "                                   \
    "\"lienthong.records.Population\";\n"                                                          \
    "database = \"%s\";\ntable = \"citizens\";\nkey_column = \"personal_id\";\n"                   \
    "create_table = true;\ncredit = 65536;\n" COLUMNS

/* The agency's table: text columns, the two enums as integers (and in
 * PostgreSQL the date of birth as a date). */
#define TABLE(dob, i)                                                                              \
    "CREATE TABLE citizens (personal_id text PRIMARY KEY, full_name text NOT NULL, "               \
    "date_of_birth " dob ", sex " i ", place_of_birth text, home_town text, ethnicity text, "      \
    "nationality text, permanent_province text, permanent_address text, current_province text, "   \
    "current_address text, id_card_number text, id_card_issued text, status " i ", "               \
    "date_of_death text)"

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* ---- loading the agency databases ------------------------------------------ */

static int s_load_sqlite(const char *path, long n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_open(path, &db) == SQLITE_OK &&
                     sqlite3_exec(db, TABLE("text", "integer") "; BEGIN", NULL, NULL, NULL) ==
                         SQLITE_OK &&
                     sqlite3_prepare_v2(db,
                                        "INSERT INTO citizens VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, "
                                        "?, ?, ?, ?, ?, ?, ?)",
                                        -1, &st, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    char vals[LT_BENCH_COLUMNS][128];
    const char *v[LT_BENCH_COLUMNS];
    for (long i = 0; rc == 0 && i < n; i++) {
        lt_bench_citizen(i, vals, v);
        for (int c = 0; c < LT_BENCH_COLUMNS; c++)
            if (v[c])
                sqlite3_bind_text(st, c + 1, v[c], -1, SQLITE_STATIC);
            else
                sqlite3_bind_null(st, c + 1);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    sqlite3_close(db);
    return rc;
}

/* COPY in text format: tab-separated, \N for NULL (the values hold no tab,
 * newline or backslash). */
static int s_load_pg(const lt_pg_t *pg, long n)
{
    PGconn *c = lt_pg_as(pg, "bench_owner", "bench");
    int rc = c && lt_pg_exec(c, TABLE("date", "smallint")) == 0 ? 0 : -1;
    PGresult *r = rc == 0 ? PQexec(c, "COPY citizens FROM STDIN") : NULL;
    rc = r && PQresultStatus(r) == PGRES_COPY_IN ? 0 : -1;
    PQclear(r);
    char vals[LT_BENCH_COLUMNS][128], line[4096];
    const char *v[LT_BENCH_COLUMNS];
    for (long i = 0; rc == 0 && i < n; i++) {
        lt_bench_citizen(i, vals, v);
        size_t len = 0;
        for (int k = 0; k < LT_BENCH_COLUMNS; k++)
            len += (size_t)snprintf(line + len, sizeof line - len, "%s%s", k ? "\t" : "",
                                    v[k] ? v[k] : "\\N");
        line[len++] = '\n';
        rc = PQputCopyData(c, line, (int)len) == 1 ? 0 : -1;
    }
    if (c && PQputCopyEnd(c, rc ? "failed" : NULL) == 1) {
        r = PQgetResult(c);
        rc = rc == 0 && PQresultStatus(r) == PGRES_COMMAND_OK ? 0 : -1;
        PQclear(r);
    }
    if (rc && c)
        fprintf(stderr, "bench_pg: %s", PQerrorMessage(c));
    PQfinish(c);
    return rc;
}

/* Installs change capture, listing every row (as `source --install`). */
static int s_install(const char *conf)
{
    char err[1024];
    lt_source_t *src = lt_source_new(conf, err, sizeof err);
    int rc = src && lt_source_install(src, err, sizeof err) == 0 ? 0 : -1;
    if (rc)
        fprintf(stderr, "bench_pg: %s\n", err);
    lt_source_destroy(&src);
    return rc;
}

/* ---- one run ------------------------------------------------------------- */

/* The sink's cursor, from its database. */
static long s_cursor_lite(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long v = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_busy_timeout(db, 1000) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT seq FROM lt_sink_cursor", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static long s_cursor_pg(const lt_pg_t *pg)
{
    PGconn *c = lt_pg_admin(pg, "bench_consumer");
    long v = c ? (long)lt_pg_int(c, "SELECT COALESCE(max(seq), 0) FROM lt_sink_cursor") : 0;
    PQfinish(c);
    return v;
}

typedef struct {
    lt_it_proc_t source, sink;
    const char *sink_db; /* SQLite: the sink's file; NULL for PostgreSQL */
} run_t;

/* BENCH_DEBUG: where the CPU went (the adapters and their PostgreSQL
 * server processes). */
static void s_cpu_report(const run_t *r, const lt_pg_t *pg)
{
    fprintf(stderr, "bench_pg: source cpu %.2f s\n", lt_bench_cpu_s(r->source.pid));
    fprintf(stderr, "bench_pg: sink cpu %.2f s\n", lt_bench_cpu_s(r->sink.pid));
    PGconn *a = lt_pg_admin(pg, "postgres");
    PGresult *res = a ? PQexec(a, "SELECT pid, datname FROM pg_stat_activity "
                                  "WHERE datname LIKE 'bench%'")
                      : NULL;
    for (int i = 0; res && PQresultStatus(res) == PGRES_TUPLES_OK && i < PQntuples(res); i++)
        fprintf(stderr, "bench_pg: server process for %s cpu %.2f s\n", PQgetvalue(res, i, 1),
                lt_bench_cpu_s((pid_t)atoi(PQgetvalue(res, i, 0))));
    PQclear(res);
    PQfinish(a);
}

/* Starts the source and the sink; records/s until the sink applied n. */
static double s_run(run_t *r, const lt_pg_t *pg, long n)
{
    int64_t t0 = lt_it_ms(), end = t0 + 600000;
    if (lt_it_proc_start(&r->sink) != 0 || lt_it_proc_start(&r->source) != 0)
        return -1;
    long at = 0;
    int64_t last_print = 0;
    while ((at = r->sink_db ? s_cursor_lite(r->sink_db) : s_cursor_pg(pg)) < n &&
           lt_it_ms() < end && lt_it_proc_alive(&r->source) && lt_it_proc_alive(&r->sink)) {
        if (getenv("BENCH_DEBUG") && lt_it_ms() - last_print > 1000) {
            last_print = lt_it_ms();
            fprintf(stderr, "%.1f s: sink at %ld\n", (double)(last_print - t0) / 1000.0, at);
        }
        s_sleep_ms(50);
    }
    double secs = (double)(lt_it_ms() - t0) / 1000.0;
    if (getenv("BENCH_DEBUG"))
        s_cpu_report(r, pg);
    lt_it_proc_stop(&r->source, 10000);
    lt_it_proc_stop(&r->sink, 10000);
    if (at < n) {
        fprintf(stderr, "bench_pg: the sink applied %ld of %ld\n", at, n);
        lt_it_file_dump(r->source.log_path);
        lt_it_file_dump(r->sink.log_path);
        return -1;
    }
    return (double)n / secs;
}

static void s_proc(lt_it_proc_t *p, const char *dir, const char *name, const char *cmd,
                   const char *conf)
{
    snprintf(p->log_path, sizeof p->log_path, "%.4000s/%s.log", dir, name);
    p->args[0] = cmd;
    p->args[1] = "--config";
    p->args[2] = conf;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_pg LIENTHONG_BINARY [RECORDS]\n");
        return 2;
    }
    lt_it_set_binary(argv[1]);
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    lt_pg_t pg;
    lt_it_fed_t f;
    int rc = 1;
    if (lt_pg_load(&pg) != 0 || lt_it_fed_init(&f, "VN") != 0)
        return 1;
    f.extra_source = s_dir_extra;
    lt_it_member_t *mo = lt_it_member_add(&f, OWNER, 1), *mc = lt_it_member_add(&f, CONSUMER, 1);
    static const char *const peers[] = {OWNER, NULL};
    lt_it_gw_t *owner = mo ? lt_it_gw_new(&f, mo, 1, NULL, "credit = 65536;") : NULL;
    lt_it_gw_t *cons = mc ? lt_it_gw_new(&f, mc, 1, peers,
                                         "credit = 65536;\nsubscribe = ( { stream = \"" DS_LITE
                                         "\"; }, { stream = \"" DS_PG "\"; } );")
                          : NULL;
    char conf[4][PATH_MAX], db[2][PATH_MAX], uri[2][512];
    const char *d = f.dir;
    snprintf(db[0], sizeof db[0], "%.4000s/agency.db", d);
    snprintf(db[1], sizeof db[1], "%.4000s/copy.db", d);
    lt_pg_uri(&pg, "bench_owner", "bench", PG_PW, uri[0], sizeof uri[0]);
    lt_pg_uri(&pg, "bench_consumer", "bench", PG_PW, uri[1], sizeof uri[1]);
    static const char *const names[4] = {"source-lite", "sink-lite", "source-pg", "sink-pg"};
    for (int i = 0; i < 4; i++)
        snprintf(conf[i], sizeof conf[i], "%.4000s/%s.conf", d, names[i]);
    run_t lite = {.sink_db = db[1]}, pgrun = {.sink_db = NULL};
    s_proc(&lite.source, d, names[0], "source", conf[0]);
    s_proc(&lite.sink, d, names[1], "sink", conf[1]);
    s_proc(&pgrun.source, d, names[2], "source", conf[2]);
    s_proc(&pgrun.sink, d, names[3], "sink", conf[3]);
    if (!owner || !cons ||
        lt_it_write_fmt(conf[0], SOURCE_CONF, owner->sock_path, DS_LITE, db[0]) ||
        lt_it_write_fmt(conf[1], SINK_CONF, cons->sock_path, DS_LITE, db[1]) ||
        lt_it_write_fmt(conf[2], SOURCE_CONF, owner->sock_path, DS_PG, uri[0]) ||
        lt_it_write_fmt(conf[3], SINK_CONF, cons->sock_path, DS_PG, uri[1]))
        goto out;
    if (lt_pg_fresh_db(&pg, "bench_owner", "bench", PG_PW) ||
        lt_pg_fresh_db(&pg, "bench_consumer", "bench", PG_PW) || s_load_sqlite(db[0], n) ||
        s_load_pg(&pg, n) || s_install(conf[0]) || s_install(conf[2])) {
        fprintf(stderr, "bench_pg: cannot prepare the agency databases\n");
        goto out;
    }
    if (lt_it_gw_run(owner, 10000) != 0 || lt_it_gw_run(cons, 10000) != 0)
        goto out;
    double raw = s_run(&lite, &pg, n);
    double pgr = raw > 0 ? s_run(&pgrun, &pg, n) : -1;
    if (pgr <= 0)
        goto out;
    lt_raw_report("pg-feed-throughput", pgr, "records/s", raw, "records/s", 0);
    rc = 0;
out:
    if (rc)
        for (size_t i = 0; i < f.n_gateways; i++)
            lt_it_log_dump(&f.gateways[i]);
    lt_it_fed_cleanup(&f);
    lt_it_shutdown();
    return rc;
}

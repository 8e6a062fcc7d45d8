/* bench_scale: the feed, catch-up and lookup benchmarks on a register of
 * RECORDS citizens (issue 12 item 5; run by `scripts/bench --scale N`, at
 * 1,000,000 and at N, which prints the two side by side).
 *
 * The citizens are the first RECORDS rows (rowid order) of a register made
 * by lienthong-popgen (random 12-digit ids, Vietnamese names and
 * addresses), so the owner's and replicas' key indexes grow in random
 * order as they would for a real register. Phases, each with its own time
 * limit and progress lines:
 *   feed     this program publishes every citizen to the owner gateway
 *            (VN/GOV/BCA), which streams them to a live consumer
 *            (VN/PROV/01); RECORDS / time until the consumer's durable
 *            last seq reaches RECORDS.
 *   lookup   one at a time, then 100 in flight, lookups of random citizens
 *            from VN/PROV/01's local API to the owner.
 *   catch-up a new consumer (VN/PROV/02) replicates the whole stream from
 *            scratch (log or snapshot, as the protocol decides).
 *   restart  the owner stopped and started on its full store: the time
 *            until it answers.
 * Every figure is printed as `scale: NAME VALUE UNIT` (scripts/bench
 * collects them); the feed, catch-up and lookup figures also as the usual
 * `bench:` lines beside raw libzmq measured in the same run. Peak RSS is
 * VmHWM of each gateway process; store size is store.db plus its WAL.
 *
 * usage: bench_scale LIENTHONG_BINARY REGISTER_DB RECORDS [LOOKUPS [MIN_RATE]]
 *        bench_scale --lookups GATEWAY_SOCKET REGISTER_DB RECORDS [LOOKUPS]
 * MIN_RATE (records/s, default 5000) sets the time limit of the feed and
 * catch-up phases: 120 s plus RECORDS / MIN_RATE. LT_BENCH_STORE_CACHE_MB,
 * when set, is every gateway's store_cache_mb (SQLite's page cache per
 * store connection; the gateway's default otherwise). */
#include "lt_bench.h"
#include "lt_itest.h"
#include "lt_raw.h"
#include "lt_sock.h"
#include "records/population.pb-c.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <zmq.h>

#define DATASET "VN/GOV/BCA/population"

static const char *s_source =
    "datasets = ( { id = \"" DATASET "\"; owner = \"VN/GOV/BCA\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "policies = ( { consumer = \"VN/PROV/01\"; target = \"" DATASET "\";\n"
    "  allow = [\"subscribe\", \"lookup\"]; fields = [\"full_name\", \"date_of_birth\", \"sex\"];\n"
    "  purposes = [\"BENCH\"]; },\n"
    "  { consumer = \"VN/PROV/02\"; target = \"" DATASET "\"; allow = [\"subscribe\"]; } );\n";

/* ---- the register ------------------------------------------------------------- */

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *rows; /* citizens from a rowid on, in rowid order */
    long next;          /* the record index the next step of rows gives */
    long n;             /* records to publish, for the progress lines */
    int64_t t0;         /* ms when publishing began */
} s_register_t;

static void s_register_close(s_register_t *r)
{
    sqlite3_finalize(r->rows);
    sqlite3_close(r->db);
    memset(r, 0, sizeof *r);
}

/* Opens the register read-only; checks it holds at least n citizens with
 * rowids 1..count (popgen only inserts), so record i is rowid i + 1. */
static int s_register_open(s_register_t *r, const char *path, long n)
{
    sqlite3_stmt *st = NULL;
    long count = 0, max = 0;
    memset(r, 0, sizeof *r);
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(r->db, "SELECT count(*), max(rowid) FROM citizens", -1, &st, NULL) !=
            SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        fprintf(stderr, "bench_scale: cannot read register %s: %s\n", path, sqlite3_errmsg(r->db));
        goto fail;
    }
    count = sqlite3_column_int64(st, 0);
    max = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    st = NULL;
    if (count < n || count != max) {
        fprintf(stderr, "bench_scale: register %s holds %ld citizens (max rowid %ld), %ld needed\n",
                path, count, max, n);
        goto fail;
    }
    if (sqlite3_prepare_v2(r->db,
                           "SELECT personal_id, full_name, date_of_birth, sex, place_of_birth, "
                           "home_town, ethnicity, nationality, permanent_province, "
                           "permanent_address, current_province, current_address, "
                           "id_card_number, id_card_issued, status, date_of_death "
                           "FROM citizens WHERE rowid > ?1 ORDER BY rowid",
                           -1, &r->rows, NULL) != SQLITE_OK)
        goto fail;
    r->next = -1;
    return 0;
fail:
    sqlite3_finalize(st);
    s_register_close(r);
    return -1;
}

static char *s_text(sqlite3_stmt *st, int col)
{
    return (char *)(sqlite3_column_text(st, col) ? sqlite3_column_text(st, col)
                                                 : (const unsigned char *)"");
}

/* lt_bench_record_fn over the register: record i is rowid i + 1. */
static size_t s_register_record(void *arg, long i, uint8_t *out, char *key)
{
    s_register_t *r = arg;
    if (i != r->next) { /* first call, or a range asked again */
        sqlite3_reset(r->rows);
        if (sqlite3_bind_int64(r->rows, 1, i) != SQLITE_OK)
            return 0;
        r->next = i;
    }
    if (sqlite3_step(r->rows) != SQLITE_ROW)
        return 0;
    r->next++;
    /* sent: at most 8,000 beyond what the owner acknowledged */
    if (r->next % 500000 == 0 && r->next < r->n) {
        printf("scale: progress feed: %ld of %ld citizens sent to the owner, %.0f s\n", r->next,
               r->n, (double)(lt_it_ms() - r->t0) / 1000.0);
        fflush(stdout);
    }
    sqlite3_stmt *st = r->rows;
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    char **s[] = {&p.personal_id,
                  &p.full_name,
                  &p.date_of_birth,
                  NULL,
                  &p.place_of_birth,
                  &p.home_town,
                  &p.ethnicity,
                  &p.nationality,
                  &p.permanent_province,
                  &p.permanent_address,
                  &p.current_province,
                  &p.current_address,
                  &p.id_card_number,
                  &p.id_card_issued,
                  NULL,
                  &p.date_of_death};
    for (int c = 0; c < 16; c++)
        if (s[c])
            *s[c] = s_text(st, c);
    p.sex = (Lienthong__Records__Sex)sqlite3_column_int(st, 3);
    p.status = (Lienthong__Records__CitizenStatus)sqlite3_column_int(st, 14);
    size_t len = lienthong__records__population__get_packed_size(&p);
    if (len > LT_BENCH_RECORD_MAX || strlen(p.personal_id) >= 24)
        return 0;
    snprintf(key, 24, "%s", p.personal_id);
    lienthong__records__population__pack(&p, out);
    return len;
}

/* k personal ids of random citizens among the first n (seeded: the same
 * keys at every run of the same size). NULL on failure; free each. */
static char **s_random_keys(s_register_t *r, long n, long k)
{
    sqlite3_stmt *st = NULL;
    char **keys = calloc((size_t)k, sizeof *keys);
    if (!keys || sqlite3_prepare_v2(r->db, "SELECT personal_id FROM citizens WHERE rowid = ?1", -1,
                                    &st, NULL) != SQLITE_OK)
        goto fail;
    uint64_t x = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    for (long i = 0; i < k; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
        sqlite3_reset(st);
        if (sqlite3_bind_int64(st, 1, (sqlite3_int64)(x % (uint64_t)n) + 1) != SQLITE_OK ||
            sqlite3_step(st) != SQLITE_ROW || !(keys[i] = strdup(s_text(st, 0))))
            goto fail;
    }
    sqlite3_finalize(st);
    return keys;
fail:
    fprintf(stderr, "bench_scale: cannot draw lookup keys: %s\n", sqlite3_errmsg(r->db));
    sqlite3_finalize(st);
    for (long i = 0; keys && i < k; i++)
        free(keys[i]);
    free(keys);
    return NULL;
}

/* ---- gateways ------------------------------------------------------------------- */

static uint64_t s_last_seq(lt_it_gw_t *g)
{
    uint64_t v = 0;
    Lienthong__Envelope *env = lt_it_gw_status(g, 5000);
    for (size_t i = 0; env && i < env->status_reply->n_streams; i++)
        if (strcmp(env->status_reply->streams[i]->stream, DATASET) == 0)
            v = env->status_reply->streams[i]->last_seq;
    lt_wire_free(&env);
    return v;
}

/* VmHWM of the gateway process in MB, -1 if unknown. */
static double s_peak_rss_mb(const lt_it_gw_t *g)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)g->pid);
    FILE *fp = fopen(path, "r");
    double kb = -1;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atof(line + 6);
    if (fp)
        fclose(fp);
    return kb < 0 ? -1 : kb / 1024.0;
}

/* Bytes of the gateway's store: store.db and its WAL. */
static double s_store_bytes(const lt_it_gw_t *g)
{
    static const char *const files[] = {"store.db", "store.db-wal"};
    double total = 0;
    for (int i = 0; i < 2; i++) {
        char path[PATH_MAX + 16];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", g->data_dir, files[i]);
        if (stat(path, &sb) == 0)
            total += (double)sb.st_size;
    }
    return total;
}

/* Waits until g's last_seq reaches n, printing progress every 10 s;
 * -1 after limit_s seconds. */
static int s_wait(lt_it_gw_t *g, const char *what, uint64_t n, int64_t t0, long limit_s)
{
    int64_t next = lt_it_ms() + 10000;
    uint64_t seq;
    while ((seq = s_last_seq(g)) < n) {
        int64_t now = lt_it_ms();
        if (now - t0 > limit_s * 1000) {
            fprintf(stderr, "bench_scale: %s: %llu of %llu records after %ld s (time limit)\n",
                    what, (unsigned long long)seq, (unsigned long long)n, limit_s);
            return -1;
        }
        if (now >= next) {
            printf("scale: progress %s %llu of %llu records, %.0f s\n", what,
                   (unsigned long long)seq, (unsigned long long)n, (double)(now - t0) / 1000.0);
            fflush(stdout);
            next = now + 10000;
        }
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

/* A gateway's settings: extra, then store_cache_mb from the environment
 * (LT_BENCH_STORE_CACHE_MB, a whole number; anything else is left to the
 * gateway, which names what it refuses). */
static const char *s_settings(const char *extra, char *buf, size_t len)
{
    const char *mb = getenv("LT_BENCH_STORE_CACHE_MB");
    int n = snprintf(buf, len, "%s\n%s%s%s", extra, mb && *mb ? "store_cache_mb = " : "",
                     mb && *mb ? mb : "", mb && *mb ? ";" : "");
    if (n < 0 || (size_t)n >= len) {
        fprintf(stderr, "bench: LT_BENCH_STORE_CACHE_MB '%.40s...' is too long; not used\n", mb);
        snprintf(buf, len, "%s", extra);
    }
    return buf;
}

static lt_it_gw_t *s_consumer(lt_it_fed_t *f, int member)
{
    static const char *peers[] = {"VN/GOV/BCA", NULL};
    char buf[256];
    return lt_it_gw_new(f, &f->members[member], 1, peers,
                        s_settings("subscribe = ( { stream = \"" DATASET
                                   "\"; } );\ncredit = 65536;",
                                   buf, sizeof buf));
}

static void s_figure(const char *name, double value, const char *unit)
{
    printf("scale: %s %.*f %s\n", name, value < 100 ? 2 : 0, value, unit);
    fflush(stdout);
}

/* ---- the phases ------------------------------------------------------------------ */

typedef struct {
    lt_it_fed_t f;
    lt_it_gw_t *owner, *live, *late;
    s_register_t reg;
    long n, lookups, limit_s;
} s_run_t;

static int s_feed(s_run_t *r)
{
    long probe = r->n < 1000000 ? r->n : 1000000;
    double raw = lt_raw_push_pull(256, probe);
    printf("scale: progress feed: publishing %ld citizens\n", r->n);
    fflush(stdout);
    int64_t t0 = lt_it_ms();
    r->reg.n = r->n;
    r->reg.t0 = t0;
    if (lt_bench_publish_from(r->owner->sock_path, DATASET, r->n, s_register_record, &r->reg) != 0)
        return -1;
    printf("scale: progress feed: all %ld acknowledged by the owner after %.0f s\n", r->n,
           (double)(lt_it_ms() - t0) / 1000.0);
    if (s_wait(r->live, "feed: consumer at", (uint64_t)r->n, t0, r->limit_s) != 0)
        return -1;
    double secs = (double)(lt_it_ms() - t0) / 1000.0;
    lt_raw_report("scale-feed-throughput", (double)r->n / secs, "records/s", raw, "msg/s", 0);
    s_figure("feed-throughput", (double)r->n / secs, "records/s");
    s_figure("owner-peak-rss", s_peak_rss_mb(r->owner), "MB");
    s_figure("consumer-peak-rss", s_peak_rss_mb(r->live), "MB");
    s_figure("owner-store-per-record", s_store_bytes(r->owner) / (double)r->n, "bytes");
    s_figure("consumer-store-per-record", s_store_bytes(r->live) / (double)r->n, "bytes");
    return 0;
}

static int s_catchup(s_run_t *r)
{
    double raw = lt_raw_push_pull(256, r->n < 1000000 ? r->n : 1000000);
    printf("scale: progress catch-up: a new consumer replicates %ld records\n", r->n);
    fflush(stdout);
    r->late = s_consumer(&r->f, 2);
    int64_t t0 = lt_it_ms();
    if (!r->late || lt_it_gw_run(r->late, 10000) != 0 ||
        s_wait(r->late, "catch-up: new consumer at", (uint64_t)r->n, t0, r->limit_s) != 0)
        return -1;
    double secs = (double)(lt_it_ms() - t0) / 1000.0;
    lt_raw_report("scale-catchup-throughput", (double)r->n / secs, "records/s", raw, "msg/s", 0);
    s_figure("catchup-throughput", (double)r->n / secs, "records/s");
    s_figure("catchup-time", secs, "s");
    s_figure("catchup-consumer-peak-rss", s_peak_rss_mb(r->late), "MB");
    s_figure("owner-peak-rss-final", s_peak_rss_mb(r->owner), "MB");
    return 0;
}

static int s_lookups(s_run_t *r)
{
    char err[256] = "no answer";
    lt_sock_opts_t o;
    int rc = -1;
    void *app = NULL;
    double p50, p99, rp50, rp99, x;
    long k = r->lookups;
    printf(
        "scale: progress lookup: %ld random citizens one at a time, then %ld with 100 in flight\n",
        k, 10 * k);
    fflush(stdout);
    char **keys = s_random_keys(&r->reg, r->n, 10 * k);
    lt_sock_opts_default(&o);
    if (!keys || lt_it_gw_wait_peer(r->live, "VN/GOV/BCA", 10000) != 0 ||
        !(app = lt_sock_local_client(lt_it_ctx(), r->live->sock_path, &o, err, sizeof err)))
        goto out;
    /* warm-up: connections and the first pages; the measured keys differ */
    if (lt_bench_queries_of(app, DATASET, keys + 9 * k, k, 0, 200, 1, &p50, &p99) < 0)
        goto out;
    double raw1 = lt_raw_dealer_router(256, k, 1, &rp50, &rp99);
    double raw100 = lt_raw_dealer_router(256, 10 * k, 100, &x, &x);
    (void)raw1;
    if (lt_bench_queries_of(app, DATASET, keys, k, 0, k, 1, &p50, &p99) < 0)
        goto out;
    lt_raw_report("scale-lookup-latency-p50", p50, "us", rp50, "us", 1);
    lt_raw_report("scale-lookup-latency-p99", p99, "us", rp99, "us", 1);
    double lk = lt_bench_queries_of(app, DATASET, keys, 10 * k, 0, 10 * k, 100, &x, &x);
    if (lk < 0)
        goto out;
    lt_raw_report("scale-lookup-throughput", lk, "lookups/s", raw100, "roundtrips/s", 0);
    s_figure("lookup-latency-p50", p50, "us");
    s_figure("lookup-latency-p99", p99, "us");
    s_figure("lookup-throughput", lk, "lookups/s");
    if (r->owner)
        s_figure("owner-peak-rss-after-lookups", s_peak_rss_mb(r->owner), "MB");
    rc = 0;
out:
    if (!app && keys)
        fprintf(stderr, "bench_scale: the gateway's local API or its peer the owner: %s\n", err);
    if (app)
        zmq_close(app);
    for (long i = 0; keys && i < 10 * k; i++)
        free(keys[i]);
    free(keys);
    return rc;
}

/* The owner stopped and started again on its store: the time until it
 * answers status (a scan of the store at start would show here). Not
 * fatal: the other figures stand without it. */
static void s_restart(s_run_t *r)
{
    if (lt_it_gw_stop(r->owner, 30000) != 0) {
        fprintf(stderr, "bench_scale: the owner did not stop within 30 s\n");
        return;
    }
    int64_t t0 = lt_it_ms();
    if (lt_it_gw_run(r->owner, 120000) != 0) {
        fprintf(stderr, "bench_scale: the owner did not start again within 120 s\n");
        return;
    }
    s_figure("owner-restart-time", (double)(lt_it_ms() - t0) / 1000.0, "s");
}

/* The federation: owner, live consumer and (started later) a new one. */
static int s_setup(s_run_t *r)
{
    if (lt_it_fed_init(&r->f, "VN") != 0 || !lt_it_member_add(&r->f, "VN/GOV/BCA", 1) ||
        !lt_it_member_add(&r->f, "VN/PROV/01", 1) || !lt_it_member_add(&r->f, "VN/PROV/02", 1))
        return -1;
    r->f.extra_source = s_source;
    char buf[256];
    r->owner = lt_it_gw_new(&r->f, &r->f.members[0], 1, NULL,
                            s_settings("credit = 65536;", buf, sizeof buf));
    r->live = s_consumer(&r->f, 1);
    printf("scale: progress gateways in %s\n", r->f.dir);
    fflush(stdout);
    return r->owner && r->live && lt_it_gw_run(r->live, 10000) == 0 &&
                   lt_it_gw_run(r->owner, 10000) == 0
               ? 0
               : -1;
}

/* bench_scale --lookups SOCK REGISTER RECORDS [LOOKUPS]: only the lookup
 * phase, through the local socket of a running gateway that can look up
 * the register's first RECORDS citizens (e.g. the live consumer of a run
 * still catching up another one). */
static int s_lookups_only(char **argv, int argc)
{
    static s_run_t r;
    static lt_it_gw_t live;
    r.n = atol(argv[4]);
    r.lookups = argc > 5 ? atol(argv[5]) : 5000;
    if (r.n < 1 || r.lookups < 1 || strlen(argv[2]) >= sizeof live.sock_path) {
        fprintf(stderr, "bench_scale: bad --lookups arguments\n");
        return 2;
    }
    snprintf(live.sock_path, sizeof live.sock_path, "%s", argv[2]);
    r.live = &live;
    int rc = s_register_open(&r.reg, argv[3], r.n) == 0 && s_lookups(&r) == 0 ? 0 : 1;
    s_register_close(&r.reg);
    lt_it_shutdown();
    return rc;
}

int main(int argc, char **argv)
{
    if (argc >= 5 && strcmp(argv[1], "--lookups") == 0)
        return s_lookups_only(argv, argc);
    if (argc < 4) {
        fprintf(stderr,
                "usage: bench_scale LIENTHONG_BINARY REGISTER_DB RECORDS [LOOKUPS [MIN_RATE]]\n");
        return 2;
    }
    lt_it_set_binary(argv[1]);
    static s_run_t r;
    r.n = atol(argv[3]);
    r.lookups = argc > 4 ? atol(argv[4]) : 5000;
    long min_rate = argc > 5 ? atol(argv[5]) : 5000;
    int rc = 1;
    if (r.n < 1 || r.lookups < 1 || min_rate < 1) {
        fprintf(stderr, "bench_scale: RECORDS, LOOKUPS and MIN_RATE must be positive numbers\n");
        return 2;
    }
    r.limit_s = 120 + r.n / min_rate;
    if (s_register_open(&r.reg, argv[2], r.n) != 0)
        return 1;
    s_figure("records", (double)r.n, "records");
    if (s_setup(&r) != 0 || s_feed(&r) != 0 || s_lookups(&r) != 0 || s_catchup(&r) != 0)
        goto out;
    s_restart(&r);
    rc = 0;
out:
    if (rc)
        for (size_t i = 0; i < r.f.n_gateways; i++)
            lt_it_log_dump(&r.f.gateways[i]);
    lt_it_fed_cleanup(&r.f);
    lt_it_shutdown();
    s_register_close(&r.reg);
    return rc;
}

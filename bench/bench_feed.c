/* bench_feed: end-to-end feed throughput and catch-up, beside raw CURVE
 * PUSH->PULL measured in the same run.
 *
 * A source (this program, speaking the adapter protocol on the owner's ipc
 * socket) publishes N population records of about 256 bytes to the owner
 * gateway, which logs them durably and streams signed batches over CURVE to
 * a consumer gateway, which verifies and applies them durably. The figure is
 * N divided by the time from the first publish to the consumer's durable
 * last seq reaching N. Then a fresh consumer replays all N (catch-up).
 *
 * With --snapshot, the owner keeps only the last 1000 records of its log
 * (retain_records, PROTOCOL.md 6.8): once it has pruned the rest, a new
 * consumer receives the state of N distinct keys as a signed snapshot (6.7)
 * and the figure is N divided by the time from its start to its durable
 * last seq reaching N (snapshot-catchup).
 *
 * With --fanout K, K consumers follow live; beside the total records/s
 * delivered, the owner's CPU time per record published (it publishes once
 * and sends each record K times), which the cores the consumers share do
 * not blur.
 *
 * usage: bench_feed LIENTHONG_BINARY [RECORDS] [--fanout K | --snapshot] */
#include "lt_itest.h"
#include "lt_bench.h"
#include "lt_raw.h"
#include "lt_sock.h"
#include "records/population.pb-c.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define DATASET "VN/GOV/BCA/population"

static const char *s_datasets =
    "datasets = ( { id = \"" DATASET "\"; owner = \"VN/GOV/BCA\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n";

/* Policies letting every consumer subscribe to the dataset. */
static char *s_policies(int consumers)
{
    static char buf[8192];
    size_t n = (size_t)snprintf(buf, sizeof buf, "%s policies = (", s_datasets);
    for (int i = 0; i < consumers; i++)
        n += (size_t)snprintf(buf + n, sizeof buf - n,
                              "%s { consumer = \"VN/PROV/%02d\"; target = \"" DATASET "\"; "
                              "allow = [\"subscribe\"]; }",
                              i ? "," : "", i + 1);
    snprintf(buf + n, sizeof buf - n, ");\n");
    return buf;
}

/* The dataset's status at g: its last_seq, or with `retained` its
 * retained_first (PROTOCOL.md 6.8); 0 if unknown. */
static uint64_t s_status(lt_it_gw_t *g, int retained)
{
    uint64_t v = 0;
    Lienthong__Envelope *env = lt_it_gw_status(g, 2000);
    for (size_t i = 0; env && i < env->status_reply->n_streams; i++) {
        const Lienthong__StreamStatus *ss = env->status_reply->streams[i];
        if (strcmp(ss->stream, DATASET) == 0)
            v = retained ? ss->retained_first : ss->last_seq;
    }
    lt_wire_free(&env);
    return v;
}

static uint64_t s_last_seq(lt_it_gw_t *g)
{
    return s_status(g, 0);
}

/* Waits until every gateway in gws reports last_seq >= n. */
static int s_wait_all(lt_it_gw_t **gws, int k, uint64_t n, int timeout_ms)
{
    int64_t end = lt_it_ms() + timeout_ms;
    for (int i = 0; i < k; i++)
        while (s_last_seq(gws[i]) < n) {
            if (lt_it_ms() > end)
                return -1;
            struct timespec ts = {0, 20 * 1000000};
            nanosleep(&ts, NULL);
        }
    return 0;
}

static lt_it_gw_t *s_consumer(lt_it_fed_t *f, int i)
{
    static const char *peers[] = {"VN/GOV/BCA", NULL};
    char extra[256];
    snprintf(extra, sizeof extra, "subscribe = ( { stream = \"%s\"; } );\ncredit = 65536;",
             DATASET);
    return lt_it_gw_new(f, &f->members[i + 1], 1, peers, extra);
}

static long s_peak_rss_mb(lt_it_gw_t *g)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)g->pid);
    FILE *fp = fopen(path, "r");
    long kb = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    if (fp)
        fclose(fp);
    return kb / 1024;
}

/* Consumer i starts and catches up with the n records of the owner:
 * reports the rate as `name`. */
static int s_catchup(lt_it_fed_t *f, int i, long n, double raw, const char *name)
{
    lt_it_gw_t *late = s_consumer(f, i);
    int64_t t0 = lt_it_ms();
    if (!late || lt_it_gw_run(late, 10000) != 0 || s_wait_all(&late, 1, (uint64_t)n, 600000) != 0)
        return -1;
    double secs = (double)(lt_it_ms() - t0) / 1000.0;
    lt_raw_report(name, (double)n / secs, "records/s", raw, "msg/s", 0);
    return 0;
}

/* The owner holds n records of n keys; once its log is pruned to the last
 * 1000, a new consumer catches up from a snapshot. */
static int s_snapshot(lt_it_fed_t *f, lt_it_gw_t *owner, long n, double raw)
{
    int64_t end = lt_it_ms() + 600000;
    while (s_status(owner, 1) < (uint64_t)n - 999) {
        if (lt_it_ms() > end)
            return -1;
        struct timespec ts = {0, 50 * 1000000};
        nanosleep(&ts, NULL);
    }
    return s_catchup(f, 0, n, raw, "snapshot-catchup");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_feed LIENTHONG_BINARY [RECORDS] [--fanout K]\n");
        return 2;
    }
    lt_it_set_binary(argv[1]);
    long n = argc > 2 ? atol(argv[2]) : 1000000;
    int fanout = argc > 4 && strcmp(argv[3], "--fanout") == 0 ? atoi(argv[4]) : 0;
    int snapshot = argc > 3 && strcmp(argv[3], "--snapshot") == 0;
    int consumers = fanout ? fanout : 2;
    lt_it_fed_t f;
    int rc = 1;
    if (lt_it_fed_init(&f, "VN") != 0 || !lt_it_member_add(&f, "VN/GOV/BCA", 1))
        return 1;
    char id[32];
    for (int i = 0; i < consumers; i++) {
        snprintf(id, sizeof id, "VN/PROV/%02d", i + 1);
        if (!lt_it_member_add(&f, id, 1))
            goto out;
    }
    f.extra_source = s_policies(consumers);
    lt_it_gw_t *owner =
        lt_it_gw_new(&f, &f.members[0], 1, NULL,
                     snapshot ? "credit = 65536;\nretain_records = 1000;" : "credit = 65536;");
    lt_it_gw_t *cons[32];
    int live = snapshot ? 0 : fanout ? fanout : 1;
    for (int i = 0; i < live; i++)
        if (!(cons[i] = s_consumer(&f, i)) || lt_it_gw_run(cons[i], 10000) != 0)
            goto out;
    if (!owner || lt_it_gw_run(owner, 10000) != 0)
        goto out;
    double raw = lt_raw_push_pull(256, n);
    double cpu0 = lt_bench_cpu_ms(owner->pid);
    int64_t t0 = lt_it_ms();
    if (lt_bench_publish(owner->sock_path, DATASET, n) != 0 ||
        s_wait_all(cons, live, (uint64_t)n, 600000) != 0)
        goto out;
    if (snapshot) {
        rc = s_snapshot(&f, owner, n, raw) == 0 ? 0 : 1;
        goto out;
    }
    double secs = (double)(lt_it_ms() - t0) / 1000.0;
    char name[32];
    snprintf(name, sizeof name, fanout ? "feed-fanout-%d" : "feed-throughput", fanout);
    lt_raw_report(name, (double)n * live / secs, "records/s", raw, "msg/s", 0);
    if (fanout)
        printf("bench: feed-fanout-%d-owner-cpu %.1f us/record | raw n/a | ratio 1\n", fanout,
               (lt_bench_cpu_ms(owner->pid) - cpu0) * 1000.0 / (double)n);
    if (!fanout) {
        printf("bench: gateway-rss %ld MB | raw n/a | ratio 1\n", s_peak_rss_mb(owner));
        if (s_catchup(&f, 1, n, raw, "feed-catchup") != 0)
            goto out;
    }
    rc = 0;
out:
    if (rc)
        for (size_t i = 0; i < f.n_gateways; i++)
            lt_it_log_dump(&f.gateways[i]);
    lt_it_fed_cleanup(&f);
    lt_it_shutdown();
    return rc;
}

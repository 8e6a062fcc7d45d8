/* bench_query: lookup latency (one at a time) and lookup / verify
 * throughput (100 in flight), application -> local gateway -> owner gateway
 * -> signed answer -> verified by the local gateway -> application, beside
 * raw CURVE DEALER->ROUTER measured in the same run.
 *
 * usage: bench_query LIENTHONG_BINARY [REQUESTS] */
#include "lt_bench.h"
#include "lt_clock.h"
#include "lt_itest.h"
#include "lt_raw.h"
#include "lt_file.h"
#include "lt_sock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define DATASET "VN/GOV/BCA/population"
#define RECORDS 10000

static const char *s_source =
    "datasets = ( { id = \"" DATASET "\"; owner = \"VN/GOV/BCA\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "policies = ( { consumer = \"VN/COM/VIETTEL\"; target = \"" DATASET "\";\n"
    "  allow = [\"lookup\", \"verify\"]; fields = [\"full_name\", \"date_of_birth\", \"sex\"];\n"
    "  purposes = [\"BENCH\"]; } );\n";

static uint64_t s_next_id = 1;

static int s_send(void *app, int verify, long i)
{
    char key[24];
    uint8_t tmp[512];
    lt_bench_record(i % RECORDS, tmp, key);
    Lienthong__LookupRequest lq = LIENTHONG__LOOKUP_REQUEST__INIT;
    Lienthong__VerifyRequest vq = LIENTHONG__VERIFY_REQUEST__INIT;
    char *fields[] = {"full_name", "date_of_birth"}, *keys[] = {key};
    Lienthong__Claim c1 = LIENTHONG__CLAIM__INIT, c2 = LIENTHONG__CLAIM__INIT;
    Lienthong__Claim *claims[] = {&c1, &c2};
    c1.field = "full_name";
    c1.value = "NGUYỄN thị thanh hương";
    c2.field = "date_of_birth";
    c2.value = "1950-01-01";
    int64_t deadline = lt_clock_now_ms() + 10000;
    if (verify) {
        vq.request_id = s_next_id++;
        vq.dataset = DATASET;
        vq.keys = keys;
        vq.n_keys = 1;
        vq.claims = claims;
        vq.n_claims = 2;
        vq.purpose = "BENCH";
        vq.deadline_ms = deadline;
        return lt_wire_send_body(app, NULL, 0, LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST, &vq);
    }
    lq.request_id = s_next_id++;
    lq.dataset = DATASET;
    lq.key = key;
    lq.fields = fields;
    lq.n_fields = 2;
    lq.purpose = "BENCH";
    lq.deadline_ms = deadline;
    return lt_wire_send_body(app, NULL, 0, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &lq);
}

/* Receives one answer; 1 for a good (signed, found) answer, 0 otherwise. */
static int s_recv(void *app)
{
    char err[256];
    Lienthong__Envelope *env = NULL;
    if (lt_wire_recv_env(app, 15000, LT_LOCAL_MAX_MESSAGE, &env, err, sizeof err) != 1)
        return -1;
    int ok = env && (env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY ||
                     env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY);
    if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        fprintf(stderr, "bench_query: error %s: %s\n", lt_wire_error_name(env->error->code),
                env->error->message);
    lt_wire_free(&env);
    return ok;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Runs n requests with `inflight` outstanding; returns requests/s. */
static double s_run(void *app, int verify, long n, int inflight, double *p50, double *p99)
{
    double *lat = inflight == 1 ? calloc((size_t)n, sizeof *lat) : NULL;
    long sent = 0, got = 0, good = 0;
    int64_t t0 = lt_it_ms();
    struct timespec a, b;
    while (got < n) {
        while (sent < n && sent - got < inflight) {
            clock_gettime(CLOCK_MONOTONIC, &a);
            if (s_send(app, verify, sent) != 0)
                return -1;
            sent++;
        }
        int r = s_recv(app);
        if (r < 0)
            return -1;
        if (lat) {
            clock_gettime(CLOCK_MONOTONIC, &b);
            lat[got] = (double)(b.tv_sec - a.tv_sec) * 1e6 + (double)(b.tv_nsec - a.tv_nsec) / 1e3;
        }
        good += r;
        got++;
    }
    double secs = (double)(lt_it_ms() - t0) / 1000.0;
    if (good != n)
        fprintf(stderr, "bench_query: %ld of %ld answers were errors\n", n - good, n);
    if (lat) {
        qsort(lat, (size_t)n, sizeof *lat, s_cmp);
        *p50 = lat[n / 2];
        *p99 = lat[n * 99 / 100];
        free(lat);
    }
    return good == n ? (double)n / secs : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_query LIENTHONG_BINARY [REQUESTS]\n");
        return 2;
    }
    lt_it_set_binary(argv[1]);
    long n = argc > 2 ? atol(argv[2]) : 50000;
    lt_it_fed_t f;
    int rc = 1;
    void *app = NULL;
    if (lt_it_fed_init(&f, "VN") != 0 || !lt_it_member_add(&f, "VN/GOV/BCA", 1) ||
        !lt_it_member_add(&f, "VN/COM/VIETTEL", 1))
        return 1;
    f.extra_source = s_source;
    static const char *peers[] = {"VN/GOV/BCA", NULL};
    lt_it_gw_t *owner = lt_it_gw_new(&f, &f.members[0], 1, NULL, NULL);
    lt_it_gw_t *caller = lt_it_gw_new(&f, &f.members[1], 1, peers, NULL);
    if (!owner || !caller || lt_it_gw_run(owner, 10000) != 0 || lt_it_gw_run(caller, 10000) != 0 ||
        lt_bench_publish(owner->sock_path, DATASET, RECORDS) != 0 ||
        lt_it_gw_wait_peer(caller, "VN/GOV/BCA", 10000) != 0)
        goto out;
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    if (!(app = lt_sock_local_client(lt_it_ctx(), caller->sock_path, &o, err, sizeof err)))
        goto out;
    double p50, p99, rp50, rp99, x;
    if (s_run(app, 0, 200, 1, &p50, &p99) < 0) /* warm-up: connections, caches */
        goto out;
    double raw1 = lt_raw_dealer_router(256, n / 10, 1, &rp50, &rp99);
    double raw100 = lt_raw_dealer_router(256, n, 100, &x, &x);
    (void)raw1;
    if (s_run(app, 0, n / 10, 1, &p50, &p99) < 0)
        goto out;
    lt_raw_report("lookup-latency-p50", p50, "us", rp50, "us", 1);
    lt_raw_report("lookup-latency-p99", p99, "us", rp99, "us", 1);
    double lk = s_run(app, 0, n, 100, &x, &x);
    lt_raw_report("lookup-throughput", lk, "lookups/s", raw100, "roundtrips/s", 0);
    double vf = s_run(app, 1, n, 100, &x, &x);
    lt_raw_report("verify-throughput", vf, "verifies/s", raw100, "roundtrips/s", 0);
    rc = lk > 0 && vf > 0 ? 0 : 1;
out:
    if (app)
        zmq_close(app);
    if (rc)
        for (size_t i = 0; i < f.n_gateways; i++)
            lt_it_log_dump(&f.gateways[i]);
    lt_it_fed_cleanup(&f);
    lt_it_shutdown();
    return rc;
}

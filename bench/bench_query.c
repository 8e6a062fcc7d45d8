/* bench_query: lookup latency (one at a time) and lookup / verify
 * throughput (100 in flight), application -> local gateway -> owner gateway
 * -> signed answer -> verified by the local gateway -> application, beside
 * raw CURVE DEALER->ROUTER measured in the same run.
 *
 * usage: bench_query LIENTHONG_BINARY [REQUESTS] */
#include "lt_bench.h"
#include "lt_itest.h"
#include "lt_raw.h"

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
    lt_it_gw_t *caller;
    if (lt_bench_pair(&f, s_source, DATASET, RECORDS, &caller, &app) != 0)
        goto out;
    double p50, p99, rp50, rp99, x;
    if (lt_bench_queries(app, DATASET, RECORDS, 0, 200, 1, &p50, &p99) <
        0) /* warm-up: connections, caches */
        goto out;
    double raw1 = lt_raw_dealer_router(256, n / 10, 1, &rp50, &rp99);
    double raw100 = lt_raw_dealer_router(256, n, 100, &x, &x);
    (void)raw1;
    if (lt_bench_queries(app, DATASET, RECORDS, 0, n / 10, 1, &p50, &p99) < 0)
        goto out;
    lt_raw_report("lookup-latency-p50", p50, "us", rp50, "us", 1);
    lt_raw_report("lookup-latency-p99", p99, "us", rp99, "us", 1);
    double lk = lt_bench_queries(app, DATASET, RECORDS, 0, n, 100, &x, &x);
    lt_raw_report("lookup-throughput", lk, "lookups/s", raw100, "roundtrips/s", 0);
    double vf = lt_bench_queries(app, DATASET, RECORDS, 1, n, 100, &x, &x);
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

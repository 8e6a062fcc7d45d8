/* bench_profile: profile lookup latency (PROTOCOL.md 7.7), one at a time:
 * application -> the portal's gateway -> three owner gateways at once ->
 * three signed answers, each verified -> one reply; beside the latency of a
 * single-owner lookup through the same gateways, measured in the same run
 * and interleaved with it one for one, so that a change in the machine's
 * load hits both alike. The ratio single / profile says how little three owners in
 * parallel cost over one (target >= 0.7).
 *
 * The three owners (VN/GOV/BCA, VN/GOV/BHXH, VN/GOV/BYT) each hold the same
 * synthetic citizens (lt_bench_record) in a dataset of their own; the record
 * type is the same for the three, which does not change the path measured.
 *
 * usage: bench_profile LIENTHONG_BINARY [PROFILES] */
#include "lt_bench.h"
#include "lt_clock.h"
#include "lt_itest.h"
#include "lt_limits.h"
#include "lt_raw.h"
#include "lt_sock.h"
#include "lt_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define RECORDS  5000
#define N_OWNERS 3

static const char *s_owners[N_OWNERS] = {"VN/GOV/BCA", "VN/GOV/BHXH", "VN/GOV/BYT"};
static const char *s_datasets[N_OWNERS] = {"VN/GOV/BCA/population", "VN/GOV/BHXH/bench_citizens",
                                           "VN/GOV/BYT/bench_citizens"};

#define DS_(i, o)                                                                                  \
    "  { id = \"" i "\"; owner = \"" o "\"; type = \"lienthong.records.Population\";"              \
    " key = \"personal_id\"; }"
#define POL_(i)                                                                                    \
    "  { consumer = \"VN/GOV/DVCQG\"; target = \"" i "\"; allow = [\"lookup\"];\n"                 \
    "    fields = [\"full_name\", \"date_of_birth\", \"sex\"]; purposes = [\"BENCH\"]; }"
static const char
    *s_source =
        "datasets = (\n" DS_("VN/GOV/BCA/population", "VN/GOV/BCA") ",\n" DS_(
            "VN/GOV/BHXH/bench_citizens",
            "VN/GOV/BHXH") ",\n" DS_("VN/GOV/BYT/bench_citizens",
                                     "VN/GOV/BYT") " );\n"
                                                   "policies = (\n" POL_("VN/GOV/BCA/population") ",\n" POL_(
                                                       "VN/GOV/BHXH/bench_citizens") ",\n" POL_("VN"
                                                                                                "/G"
                                                                                                "OV"
                                                                                                "/B"
                                                                                                "YT"
                                                                                                "/b"
                                                                                                "en"
                                                                                                "ch"
                                                                                                "_c"
                                                                                                "it"
                                                                                                "iz"
                                                                                                "en"
                                                                                                "s") " );\n";

/* Three owners with RECORDS records each and the portal peered with them,
 * running; a local-API client of the portal's in *app. 0 or -1. */
static int s_setup(lt_it_fed_t *f, void **app)
{
    static const char *peers[] = {"VN/GOV/BCA", "VN/GOV/BHXH", "VN/GOV/BYT", NULL};
    char err[256];
    lt_sock_opts_t o;
    memset(f, 0, sizeof *f);
    if (lt_it_fed_init(f, "VN") != 0)
        return -1;
    f->extra_source = s_source;
    for (int i = 0; i < N_OWNERS; i++)
        if (!lt_it_member_add(f, s_owners[i], 1))
            return -1;
    if (!lt_it_member_add(f, "VN/GOV/DVCQG", 1))
        return -1;
    for (int i = 0; i < N_OWNERS; i++) {
        lt_it_gw_t *g = lt_it_gw_new(f, &f->members[i], 1, NULL, NULL);
        if (!g || lt_it_gw_run(g, 10000) != 0 ||
            lt_bench_publish(g->sock_path, s_datasets[i], RECORDS) != 0)
            return -1;
    }
    lt_it_gw_t *portal = lt_it_gw_new(f, &f->members[N_OWNERS], 1, peers, NULL);
    if (!portal || lt_it_gw_run(portal, 10000) != 0)
        return -1;
    for (int i = 0; i < N_OWNERS; i++)
        if (lt_it_gw_wait_peer(portal, s_owners[i], 10000) != 0)
            return -1;
    lt_sock_opts_default(&o);
    *app = lt_sock_local_client(lt_it_ctx(), portal->sock_path, &o, err, sizeof err);
    if (!*app)
        fprintf(stderr, "bench: %s\n", err);
    return *app ? 0 : -1;
}

/* One lookup of citizen i at the first owner, as an application makes it
 * (the fields of a profile part); its latency in us, or -1 when the answer
 * is missing or not a record. */
static double s_lookup(void *app, long i)
{
    static uint64_t next_id = 1;
    char key[24], *fields[] = {"full_name", "date_of_birth"}, err[256];
    lt_bench_key(i % RECORDS, key);
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = next_id++;
    q.dataset = (char *)s_datasets[0];
    q.key = key;
    q.fields = fields;
    q.n_fields = 2;
    q.purpose = "BENCH";
    q.deadline_ms = lt_clock_now_ms() + 10000;
    struct timespec a;
    clock_gettime(CLOCK_MONOTONIC, &a);
    Lienthong__Envelope *env = NULL;
    if (lt_wire_send_body(app, NULL, 0, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q) != 0 ||
        lt_wire_recv_env(app, 15000, LT_LOCAL_MAX_MESSAGE, &env, err, sizeof err) != 1)
        return -1;
    double us = lt_bench_us_since(&a);
    Lienthong__LookupAnswer *ans =
        env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY
            ? lienthong__lookup_answer__unpack(NULL, env->lookup_reply->answer.len,
                                               env->lookup_reply->answer.data)
            : NULL;
    int ok = ans && ans->code == LIENTHONG__ERROR_CODE__ERR_NONE;
    if (!ok)
        fprintf(stderr, "bench: lookup %ld: no record in the answer\n", i);
    if (ans)
        lienthong__lookup_answer__free_unpacked(ans, NULL);
    lt_wire_free(&env);
    return ok ? us : -1;
}

/* One profile of citizen i over the three owners; its latency in us, or
 * -1 when the reply is missing or a part was not released. */
static double s_profile(void *app, long i)
{
    static uint64_t next_id = 1ull << 62; /* apart from the lookups' ids */
    char key[24], *fields[] = {"full_name", "date_of_birth"}, err[256];
    lt_bench_key(i % RECORDS, key);
    Lienthong__ProfilePart parts[N_OWNERS], *ptrs[N_OWNERS];
    for (int k = 0; k < N_OWNERS; k++) {
        lienthong__profile_part__init(&parts[k]);
        parts[k].dataset = (char *)s_datasets[k];
        parts[k].fields = fields;
        parts[k].n_fields = 2;
        ptrs[k] = &parts[k];
    }
    Lienthong__ProfileRequest q = LIENTHONG__PROFILE_REQUEST__INIT;
    q.request_id = next_id++;
    q.key = key;
    q.purpose = "BENCH";
    q.deadline_ms = 10000;
    q.parts = ptrs;
    q.n_parts = N_OWNERS;
    struct timespec a;
    clock_gettime(CLOCK_MONOTONIC, &a);
    Lienthong__Envelope *env = NULL;
    if (lt_wire_send_body(app, NULL, 0, LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST, &q) != 0 ||
        lt_wire_recv_env(app, 15000, LT_LOCAL_MAX_MESSAGE, &env, err, sizeof err) != 1)
        return -1;
    double us = lt_bench_us_since(&a);
    int ok = env->body_case == LIENTHONG__ENVELOPE__BODY_PROFILE_REPLY &&
             env->profile_reply->n_parts == N_OWNERS;
    for (size_t k = 0; ok && k < N_OWNERS; k++)
        ok = env->profile_reply->parts[k]->outcome == LIENTHONG__PROFILE_OUTCOME__PART_RELEASED;
    if (!ok)
        fprintf(stderr, "bench: profile %ld: %s\n", i,
                env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? env->error->message
                                                                  : "a part was not released");
    lt_wire_free(&env);
    return ok ? us : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_profile LIENTHONG_BINARY [PROFILES]\n");
        return 2;
    }
    lt_it_set_binary(argv[1]);
    long n = argc > 2 ? atol(argv[2]) : 2000;
    n = n < 100 ? 100 : n;
    lt_it_fed_t f;
    memset(&f, 0, sizeof f); /* lt_it_fed_cleanup is then safe whatever fails */
    void *app = NULL;
    int rc = 1;
    double *prof = calloc((size_t)n, sizeof *prof), *one = calloc((size_t)n, sizeof *one);
    double p50, p99, raw50, raw99;
    if (!prof || !one || s_setup(&f, &app) != 0)
        goto out;
    /* Warm-up: connections, caches. */
    for (long i = 0; i < 100; i++)
        if (s_lookup(app, RECORDS - 1 - i) < 0 || s_profile(app, RECORDS - 1 - i) < 0)
            goto out;
    /* A single-owner lookup, then a profile of the same citizen, and again. */
    for (long i = 0; i < n; i++)
        if ((one[i] = s_lookup(app, i)) < 0 || (prof[i] = s_profile(app, i)) < 0)
            goto out;
    lt_bench_percentiles(one, n, &raw50, &raw99);
    lt_bench_percentiles(prof, n, &p50, &p99);
    lt_raw_report("profile-lookup-latency-p50", p50, "us", raw50, "us", 1);
    rc = 0;
out:
    free(prof);
    free(one);
    if (app)
        zmq_close(app);
    if (rc)
        for (size_t i = 0; i < f.n_gateways; i++)
            lt_it_log_dump(&f.gateways[i]);
    lt_it_fed_cleanup(&f);
    lt_it_shutdown();
    return rc;
}

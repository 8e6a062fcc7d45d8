/* test_ops: integration tests of a federation's long-run operation (issue
 * 14 items 3, 5, 6) with real `lienthong gateway` processes on 127.0.0.1.
 *
 * Proves: a directory expiring during traffic stops the owner serving data
 * to peers (feeds stop, lookups are refused with ERR_DIRECTORY naming the
 * expiry, status and metrics show it, the log says so), while both gateways
 * keep running; a newer directory delivered to the owner by SIGHUP reaches
 * the expired consumer from its peer and the feed resumes with no gap
 * (PROTOCOL.md 5.6). A subscription added by a reload starts its feed, an
 * invalid file is refused with the old configuration kept, and a removed
 * subscription stops its feed; one whose replica cannot start (the store
 * locked), and a peer that cannot be linked, are reported not applied and
 * tried again by the next reload; a peer the directory does not list at
 * start is the same error, and is linked once a directory listing it is
 * adopted. A directory adopted by SIGHUP that adds a member allowed to verify,
 * and a rule, has their series at 0 in the owner's metrics. After a consumer is killed, the owner's
 * status shows it disconnected within the heartbeat timeout (3.3) and keeps
 * its subscriber line with cursor, lag and since when (8.3). A member
 * sending thousands of Errors has each counted by member and code, and the
 * log gets the first in full and then one line with the count (4.4).
 *
 * Usage: test_ops /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_feedtest.h"
#include "lt_itest.h"
#include "lt_limits.h"
#include "lt_offers.h"
#include "records/population.pb-c.h"

#include <CUnit/Basic.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FED         "VN"
#define ID_OWNER    "VN/GOV/BCA"
#define ID_BHXH     "VN/GOV/BHXH"
#define DS          "VN/GOV/BCA/population"
#define ID_UNLISTED "VN/GOV/BTC" /* a member the directory does not list */

#define READY_MS    10000 /* a gateway answers status (generous for ASan) */
#define PUBLISH_MS  10000 /* a PublishAck */
#define CONVERGE_MS 20000 /* a replica catches up */
#define REPLY_MS    10000 /* a reply that must come (generous for ASan on a loaded machine) */
#define STOP_MS     5000  /* SIGTERM to exit */
/* The heartbeat timeout (PROTOCOL.md 3.3: five intervals; the test
 * configurations set heartbeat_ms = 500), plus a second for the loop's
 * timers and a slow (sanitizer) build. */
#define LOST_MS (5 * 500 + 1500)

#define ALIVE LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE

/* A rule every record published here passes, and a verify policy: their
 * counters are at 0 on a fresh owner. */
static const char *s_source =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\";\n"
    "  rules = ( { field = \"full_name\"; check = \"required\"; } ); } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_BHXH "\"; target = \"" DS "\";\n"
    "    allow = [\"subscribe\", \"lookup\", \"verify\"];\n"
    "    fields = [\"full_name\"]; purposes = [\"KYC\"]; } );\n";

typedef struct {
    lt_it_fed_t f;
    lt_it_member_t *owner, *bhxh;
    lt_ft_model_t m;
} fed_t;

static int s_fed(fed_t *x, size_t citizens)
{
    memset(x, 0, sizeof *x);
    if (lt_it_fed_init(&x->f, FED) != 0 || lt_ft_model_init(&x->m, citizens, 79000000000ULL) != 0)
        return -1;
    x->f.extra_source = s_source;
    x->owner = lt_it_member_add(&x->f, ID_OWNER, 1);
    x->bhxh = lt_it_member_add(&x->f, ID_BHXH, 1);
    return x->owner && x->bhxh ? 0 : -1;
}

/* The owner and the consumer's gateways (not started); the consumer
 * subscribes to DS when `subscribed`. 0 or -1. */
static int s_pair(fed_t *x, lt_it_gw_t **owner, lt_it_gw_t **cons, int subscribed)
{
    static const char *peers[] = {ID_OWNER, NULL};
    *owner = lt_it_gw_new(&x->f, x->owner, 1, NULL, NULL);
    *cons = lt_it_gw_new(&x->f, x->bhxh, 1, peers,
                         subscribed ? "subscribe = ( { stream = \"" DS "\"; } );" : NULL);
    return *owner && *cons ? 0 : -1;
}

static void s_fed_free(fed_t *x)
{
    lt_ft_model_free(&x->m);
    lt_it_fed_cleanup(&x->f);
}

/* Upserts citizens [from, to) in one Publish on the owner. */
static int s_publish(lt_it_gw_t *owner, fed_t *x, size_t from, size_t to)
{
    lt_ft_pub_t *p = malloc(sizeof *p);
    int rc = p ? 0 : -1;
    if (p)
        lt_ft_pub_init(p, DS);
    for (size_t i = from; rc == 0 && i < to; i++)
        rc = lt_ft_put(p, &x->m, i, "Nguy\xe1\xbb\x85n V\xc4\x83n An", "79", ALIVE);
    if (rc == 0)
        rc = lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS);
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    return rc;
}

#define CHECK(call) CU_ASSERT(lt_ft_ok((call), #call, err))

static unsigned s_failures0;
static void s_test_start(void)
{
    s_failures0 = CU_get_number_of_failures();
}

/* Stops every gateway still running (each must exit 0) and checks that no
 * sanitizer report reached a log; dumps the logs when the test failed. */
static void s_finish(fed_t *x)
{
    for (size_t i = 0; i < x->f.n_gateways; i++) {
        lt_it_gw_t *g = &x->f.gateways[i];
        if (g->pid > 0)
            CU_ASSERT_EQUAL(lt_it_gw_stop(g, STOP_MS), 0);
        CU_ASSERT(!lt_it_file_contains(g->log_path, "Sanitizer"));
        CU_ASSERT(!lt_it_file_contains(g->log_path, "runtime error:"));
    }
    if (CU_get_number_of_failures() != s_failures0)
        for (size_t i = 0; i < x->f.n_gateways; i++)
            lt_it_log_dump(&x->f.gateways[i]);
}

/* The status reply of g (free with lt_wire_free), or NULL. */
static Lienthong__StatusReply *s_status(lt_it_gw_t *g, Lienthong__Envelope **env)
{
    *env = lt_it_gw_status(g, REPLY_MS);
    return *env && (*env)->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY
               ? (*env)->status_reply
               : NULL;
}

/* ---- a directory expiring during traffic -------------------------------------- */

/* Both gateways run on the same signed directory version 1, which expires
 * `secs` seconds from now. */
static int s_short_directory(fed_t *x, lt_it_gw_t *a, lt_it_gw_t *b, int secs)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = lt_it_dir_bytes(&x->f, 1, 0, (int64_t)time(NULL) + secs, NULL, &bytes, &len);
    if (rc == 0)
        rc = lt_it_gw_put_directory(a, bytes, len) | lt_it_gw_put_directory(b, bytes, len);
    free(bytes);
    return rc;
}

/* `lienthong lookup` through the consumer; its exit code, output in out. */
static int s_lookup(fed_t *x, lt_it_gw_t *g, char *out, size_t outlen)
{
    snprintf(out, outlen, "%.4000s/lookup.out", x->f.dir);
    const char *args[] = {"lookup",      "--config",  g->conf_path, "--dataset", DS,     "--key",
                          x->m.c[0].key, "--purpose", "KYC",        "--timeout", "3000", NULL};
    return lt_it_run_cli(x->f.dir, out, args, 15000);
}

/* A repair's Range from the consumer's member while the owner's directory
 * is expired: refused with ERR_DIRECTORY, no records. 1 when so. */
static int s_range_refused(fed_t *x, lt_it_gw_t *owner)
{
    lt_it_peer_t p = {0};
    static uint8_t zeros[32];
    int refused = 0;
    if (lt_it_peer_open_gw(&p, x->bhxh, owner) != 0)
        return 0;
    Lienthong__Envelope *h = lt_it_peer_hello_retry(&p, 1, 500, 5000);
    lt_wire_free(&h);
    Lienthong__Range rq = LIENTHONG__RANGE__INIT;
    rq.stream = DS;
    rq.first_seq = 150;
    rq.last_seq = 200;
    rq.prev_hash.data = zeros;
    rq.prev_hash.len = sizeof zeros;
    Lienthong__Envelope e = LIENTHONG__ENVELOPE__INIT;
    e.version = 1;
    e.body_case = LIENTHONG__ENVELOPE__BODY_RANGE;
    e.range = &rq;
    Lienthong__Envelope *a =
        lt_it_peer_send_env(&p, &e, 3000) == 0
            ? lt_it_peer_expect_any(&p,
                                    LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_RANGE) |
                                        LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_ERROR),
                                    3000)
            : NULL;
    refused = a && a->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              a->error->code == LIENTHONG__ERROR_CODE__ERR_DIRECTORY &&
              strncmp(a->error->message, DS ": ", strlen(DS) + 2) == 0;
    if (!refused)
        fprintf(stderr, "\n  an expired owner answered a Range with %s\n",
                a ? lt_wire_body_name(a->body_case) : "nothing");
    lt_wire_free(&a);
    lt_it_peer_close(&p);
    return refused;
}

static void test_expiry_during_traffic(void)
{
    fed_t x;
    char err[1024] = "", out[PATH_MAX];
    Lienthong__Envelope *env = NULL;
    uint8_t *v2 = NULL;
    size_t v2_len = 0;
    char *metrics = NULL;
    LT_IT_REQUIRE(s_fed(&x, 300) == 0);
    lt_it_gw_t *owner = NULL, *cons = NULL;
    LT_IT_REQUIRE(s_pair(&x, &owner, &cons, 1) == 0);
    LT_IT_REQUIRE(s_short_directory(&x, owner, cons, 9) == 0);
    int64_t start = lt_it_ms();
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(cons, READY_MS) == 0);
    /* A fresh gateway's counters by error code are there at 0, so that a
     * rate or increase sees their first event. */
    metrics = lt_it_gw_metrics(cons, REPLY_MS);
    static const char *const zero[] = {
        "\nlienthong_peer_refused_total{reason=\"ERR_FORBIDDEN\"} 0\n",
        "\nlienthong_query_refused_total{op=\"verify\",reason=\"ERR_PURPOSE\"} 0\n",
        "\nlienthong_prefill_requests_total{reason=\"ERR_NOT_FOUND\"} 0\n"};
    for (size_t i = 0; i < sizeof zero / sizeof zero[0]; i++) {
        if (!metrics || !strstr(metrics, zero[i]))
            fprintf(stderr, "\n  a fresh gateway's metrics lack %s", zero[i] + 1);
        CU_ASSERT(metrics && strstr(metrics, zero[i]));
    }
    free(metrics);
    /* And the owner's, labelled by its datasets' rules and by the members
     * that may verify them, are there at 0 from the directory. */
    metrics = lt_it_gw_metrics(owner, REPLY_MS);
    static const char *const owned[] = {
        "\nlienthong_publish_refusals_total{dataset=\"" DS "\",rule=\"full_name:required\"} 0\n",
        "\nlienthong_verify_budget_refusals_total{member=\"" ID_BHXH "\"} 0\n"};
    for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
        if (!metrics || !strstr(metrics, owned[i]))
            fprintf(stderr, "\n  a fresh owner's metrics lack %s", owned[i] + 1);
        CU_ASSERT(metrics && strstr(metrics, owned[i]));
    }
    free(metrics);
    metrics = NULL;
    /* Under a day left: warned at start, and the status names the expiry. */
    CU_ASSERT(lt_it_log_has(owner, 0, "expires at", "less than 1 day"));
    Lienthong__StatusReply *r = s_status(owner, &env);
    LT_IT_REQUIRE(r != NULL);
    CU_ASSERT(r->directory_expires_at > (int64_t)time(NULL) && !r->directory_expired);
    lt_wire_free(&env);

    /* Traffic while valid. */
    LT_IT_REQUIRE(s_publish(owner, &x, 0, 100) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    CU_ASSERT_EQUAL(s_lookup(&x, cons, out, sizeof out), 0);
    LT_IT_REQUIRE(lt_it_ms() - start < 8000); /* still before the expiry */

    /* Expiry: said at error level; no batch, no answer for peers. */
    LT_IT_REQUIRE(lt_it_log_wait(owner, 0, "expired at", "serving no data to peers", 12000) == 0);
    CU_ASSERT(lt_it_log_has(owner, 0, " ERROR ", "expired at"));
    r = s_status(owner, &env);
    LT_IT_REQUIRE(r != NULL);
    CU_ASSERT(r->directory_expired);
    lt_wire_free(&env);
    metrics = lt_it_gw_metrics(owner, REPLY_MS);
    CU_ASSERT(metrics && lt_it_metric(metrics, "lienthong_directory_expired") == 1);
    CU_ASSERT(metrics && lt_it_metric(metrics, "lienthong_directory_expires_in") <= 0);
    LT_IT_REQUIRE(s_publish(owner, &x, 100, 200) == 0); /* local publishing goes on */
    CU_ASSERT_EQUAL(lt_ft_last_seq(owner, DS), 200);
    CU_ASSERT_NOT_EQUAL(s_lookup(&x, cons, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "ERR_DIRECTORY"));
    CU_ASSERT(lt_it_file_contains(out, ID_OWNER " serves no data to peers: its directory version 1 "
                                                "expired at"));
    CU_ASSERT(s_range_refused(&x, owner));
    usleep(1500 * 1000);
    CU_ASSERT_EQUAL(lt_ft_last_seq(cons, DS), 100);
    CU_ASSERT(lt_it_gw_alive(owner) && lt_it_gw_alive(cons));

    /* Healing: version 2 to the owner by SIGHUP; the consumer, expired too,
     * adopts it from its peer, and the feed resumes where it stopped. */
    LT_IT_REQUIRE(lt_it_dir_bytes(&x.f, 2, 0, 0, NULL, &v2, &v2_len) == 0);
    LT_IT_REQUIRE(lt_it_gw_put_directory(owner, v2, v2_len) == 0);
    long mark = lt_it_log_mark(owner);
    LT_IT_REQUIRE(lt_it_gw_signal(owner, SIGHUP) == 0);
    CU_ASSERT(lt_it_log_wait(owner, mark, "version 2 is valid: serving peers again", NULL,
                             REPLY_MS) == 0);
    CU_ASSERT_EQUAL(lt_it_gw_wait_version(cons, 2, CONVERGE_MS), 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, cons, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(cons, DS, &x.m, err, sizeof err));
    CU_ASSERT_EQUAL(s_lookup(&x, cons, out, sizeof out), 0);
    r = s_status(cons, &env);
    CU_ASSERT(r && !r->directory_expired);
    lt_wire_free(&env);
    /* Every family an owner and a consumer export, after publishing,
     * feeding and lookups, is in the metrics reference of the operators. */
    for (int i = 0; i < 2; i++) {
        char missing[4096];
        free(metrics);
        metrics = lt_it_gw_metrics(i ? cons : owner, REPLY_MS);
        int n =
            metrics ? lt_it_metrics_undocumented(metrics, LT_IT_DOCS, missing, sizeof missing) : -1;
        if (n != 0)
            fprintf(stderr, "\n  not in the table of %s: %s\n", LT_IT_DOCS, missing);
        CU_ASSERT_EQUAL(n, 0);
        /* ... with the # HELP text the reference gives for it. */
        static char differ[65536];
        n = metrics ? lt_it_metrics_help_differs(metrics, LT_IT_DOCS, differ, sizeof differ) : -1;
        if (n != 0)
            fprintf(stderr, "\n  # HELP differs from the table of %s:\n%s", LT_IT_DOCS, differ);
        CU_ASSERT_EQUAL(n, 0);
    }
    s_finish(&x);
out:
    free(metrics);
    free(v2);
    lt_wire_free(&env);
    s_fed_free(&x);
}

/* ---- a member's flood of refused directory offers ---------------------------- */

/* The owner's gateway (of s_pair) running, and a test peer p with the
 * consumer member's keys that it greeted. 0 or -1. */
static int s_owner_greets(fed_t *x, lt_it_gw_t **owner, lt_it_peer_t *p)
{
    lt_it_gw_t *cons = NULL;
    if (s_pair(x, owner, &cons, 0) != 0 || lt_it_gw_run(*owner, READY_MS) != 0 ||
        lt_it_peer_open_gw(p, x->bhxh, *owner) != 0)
        return -1;
    Lienthong__Envelope *e = lt_it_peer_hello_retry(p, 1, 500, 5000);
    int rc = e ? 0 : -1;
    lt_wire_free(&e);
    return rc;
}

/* A member offers a refused directory again and again: the owner checks
 * (and logs and audits) the first, holds the rest back for a second, then
 * adopts a valid one the same member offers after it. */
static void test_offer_flood(void)
{
    fed_t x;
    lt_it_peer_t p = {0};
    uint8_t junk[600], *v2 = NULL;
    size_t v2_len = 0;
    Lienthong__Envelope *e = NULL;
    LT_IT_REQUIRE(s_fed(&x, 300) == 0);
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE(s_owner_greets(&x, &owner, &p) == 0);
    memset(junk, 0x5a, sizeof junk);
    long mark = lt_it_log_mark(owner);
    Lienthong__DirectoryOffer o = LIENTHONG__DIRECTORY_OFFER__INIT;
    o.signed_directory.data = junk;
    o.signed_directory.len = sizeof junk;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER;
    env.directory_offer = &o;
    for (int i = 0; i < 40; i++) /* back to back: all within the back-off */
        LT_IT_REQUIRE(lt_it_peer_send_env(&p, &env, REPLY_MS) == 0);
    /* The replies are read once the owner has handled all 40 (39 held
     * back, counted as rejected inputs): a loaded machine may keep the
     * first longer than the 300 ms that end the reading. */
    CU_ASSERT_EQUAL(lt_it_gw_metric_wait(owner,
                                         "lienthong_rejected_inputs_total{member=\"" ID_BHXH
                                         "\",reason=\"ERR_DIRECTORY\"}",
                                         39, REPLY_MS),
                    39);
    int held = 0;
    while ((e = lt_it_peer_expect_any(&p, LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_ERROR), 300))) {
        held += strstr(e->error->message, "are not checked for") != NULL;
        lt_wire_free(&e);
    }
    CU_ASSERT(held >= 1);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(owner, mark, "refused directory from " ID_BHXH, NULL), 1);
    lt_it_peer_close(&p);
    /* After the back-off a valid newer directory from the same member. */
    usleep((LT_OFFERS_FIRST_MS + 200) * 1000);
    LT_IT_REQUIRE(lt_it_peer_open_gw(&p, x.bhxh, owner) == 0);
    e = lt_it_peer_hello_retry(&p, 1, 500, 5000);
    LT_IT_REQUIRE(e != NULL);
    lt_wire_free(&e);
    LT_IT_REQUIRE(lt_it_dir_bytes(&x.f, 2, 0, 0, NULL, &v2, &v2_len) == 0);
    e = lt_it_peer_offer(&p, v2, v2_len, REPLY_MS);
    CU_ASSERT(e && e->body_case == LIENTHONG__ENVELOPE__BODY_HELLO);
    lt_wire_free(&e);
    CU_ASSERT_EQUAL(lt_it_gw_wait_version(owner, 2, REPLY_MS), 0);
    lt_it_peer_close(&p);
    s_finish(&x);
out:
    lt_it_peer_close(&p);
    free(v2);
    lt_wire_free(&e);
    s_fed_free(&x);
}

/* A member sending Errors without end (a hostile or broken peer; they
 * are never answered, 4.4): every one is counted by member and code, and
 * the log holds the first of each pair in full, then one line of count
 * per interval, never a line each (docs/operations.md, "Errors from
 * other members"). */
static void test_error_flood(void)
{
    enum { N = 2000 };
    fed_t x;
    lt_it_peer_t p = {0};
    LT_IT_REQUIRE(s_fed(&x, 10) == 0);
    lt_it_gw_t *owner = NULL;
    LT_IT_REQUIRE(s_owner_greets(&x, &owner, &p) == 0);
    long mark = lt_it_log_mark(owner);
    char text[64];
    Lienthong__Error err = LIENTHONG__ERROR__INIT;
    err.code = LIENTHONG__ERROR_CODE__ERR_INTERNAL;
    err.message = text;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_ERROR;
    env.error = &err;
    for (int i = 0; i < N; i++) {
        snprintf(text, sizeof text, "flood %d", i); /* each its own text */
        LT_IT_REQUIRE(lt_it_peer_send_env(&p, &env, REPLY_MS) == 0);
    }
    err.code = LIENTHONG__ERROR_CODE__ERR_FORBIDDEN;
    snprintf(text, sizeof text, "refused");
    LT_IT_REQUIRE(lt_it_peer_send_env(&p, &env, REPLY_MS) == 0);
    CU_ASSERT_EQUAL(lt_it_gw_metric_wait(owner,
                                         "lienthong_peer_errors_received_total{member=\"" ID_BHXH
                                         "\",code=\"ERR_INTERNAL\"}",
                                         N, REPLY_MS),
                    N);
    CU_ASSERT_EQUAL(lt_it_gw_metric_wait(owner,
                                         "lienthong_peer_errors_received_total{member=\"" ID_BHXH
                                         "\",code=\"ERR_FORBIDDEN\"}",
                                         1, REPLY_MS),
                    1);
    /* The first of each pair in full, at once; the rest after the
     * interval as one line with their count. */
    CU_ASSERT_EQUAL(
        lt_ft_log_count_lines(owner, mark, ID_BHXH " reports ERR_INTERNAL: flood 0", NULL), 1);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(owner, mark, ID_BHXH " reports ERR_FORBIDDEN", NULL), 1);
    CU_ASSERT_EQUAL(lt_it_log_wait(owner, mark, ID_BHXH " reported 1999 more ERR_INTERNAL",
                                   "flood 1999", LT_REFUSE_INTERVAL_MS + REPLY_MS),
                    0);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(owner, mark, "flood", NULL), 2);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(owner, mark, ID_BHXH " report", NULL), 3);
    lt_it_peer_close(&p);
    s_finish(&x);
out:
    lt_it_peer_close(&p);
    s_fed_free(&x);
}

/* ---- reload of a subscription --------------------------------------------------- */

/* Rewrites g's configuration as `base` plus `extra`, then SIGHUP; waits for
 * `expect` in the log after that. */
static int s_reload(lt_it_gw_t *g, const char *base, const char *extra, const char *expect)
{
    long mark = lt_it_log_mark(g);
    if (lt_it_write_fmt(g->conf_path, "%s\n%s\n", base, extra) != 0 ||
        lt_it_gw_signal(g, SIGHUP) != 0)
        return -1;
    return lt_it_log_wait(g, mark, expect, NULL, REPLY_MS);
}

static char *s_read(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = calloc(1, 8192);
    if (f && buf)
        (void)!fread(buf, 1, 8191, f);
    if (f)
        fclose(f);
    return buf;
}

static void test_reload_subscription(void)
{
    fed_t x;
    char err[1024] = "", *base = NULL;
    Lienthong__Envelope *env = NULL;
    LT_IT_REQUIRE(s_fed(&x, 300) == 0);
    lt_it_gw_t *owner = NULL, *cons = NULL;
    LT_IT_REQUIRE(s_pair(&x, &owner, &cons, 0) == 0 && (base = s_read(cons->conf_path)) != NULL);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(cons, READY_MS) == 0);
    LT_IT_REQUIRE(s_publish(owner, &x, 0, 100) == 0);
    usleep(500 * 1000);
    CU_ASSERT_EQUAL(lt_ft_last_seq(cons, DS), 0); /* not subscribed */

    /* Added by a reload: the feed starts from seq 1 and follows. */
    CU_ASSERT(s_reload(cons, base,
                       "subscribe = ( { stream = \"" DS "\"; } );\nlog_level = \"debug\";",
                       "subscription added: " DS) == 0);
    CU_ASSERT(lt_it_log_has(cons, 0, "log_level info -> debug", NULL));
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(s_publish(owner, &x, 100, 200) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, cons, DS, err, sizeof err));

    /* An invalid file is refused; the running configuration stays. */
    CU_ASSERT(s_reload(cons, base, "subscribe = ( { stream = \"" DS "\"; } );\nno_such = 1;",
                       "refused, keeping the running configuration") == 0);
    LT_IT_REQUIRE(s_publish(owner, &x, 200, 250) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    CU_ASSERT_EQUAL(lt_ft_last_seq(cons, DS), 250);

    /* Removed by a reload: the feed stops, the replica keeps what it holds. */
    CU_ASSERT(s_reload(cons, base, "", "subscription removed: " DS) == 0);
    CU_ASSERT(lt_it_log_wait(owner, 0, "feed " DS " to " ID_BHXH " stopped", "unsubscribed",
                             REPLY_MS) == 0);
    LT_IT_REQUIRE(s_publish(owner, &x, 250, 300) == 0);
    usleep(1500 * 1000);
    CU_ASSERT_EQUAL(lt_ft_last_seq(cons, DS), 250);
    Lienthong__StatusReply *r = s_status(cons, &env);
    LT_IT_REQUIRE(r && r->n_streams == 1);
    CU_ASSERT_STRING_EQUAL(r->streams[0]->role, "replica (unsubscribed)");
    lt_wire_free(&env);

    /* And back: it resumes from its durable cursor. */
    long mark = lt_it_log_mark(cons);
    CU_ASSERT(s_reload(cons, base, "subscribe = ( { stream = \"" DS "\"; } );",
                       "subscription added: " DS) == 0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "subscribing to " DS " from " ID_OWNER " at seq 251", NULL,
                             REPLY_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, cons, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(cons, DS, &x.m, err, sizeof err));
    s_finish(&x);
out:
    free(base);
    lt_wire_free(&env);
    s_fed_free(&x);
}

/* A subscription added by a reload whose replica cannot start (the store
 * stays locked past its busy timeout, as by another process), and a peer
 * that cannot be linked (not in the directory), are logged as not applied
 * and left out of the running configuration: the next reload of the same
 * file tries both again, and the replica starts then. */
static void test_reload_subscription_retried(void)
{
    fed_t x;
    char err[1024] = "", *base = NULL, store[PATH_MAX + 16];
    sqlite3 *db = NULL;
    LT_IT_REQUIRE(s_fed(&x, 100) == 0);
    lt_it_gw_t *owner = NULL, *cons = NULL;
    LT_IT_REQUIRE(s_pair(&x, &owner, &cons, 0) == 0 && (base = s_read(cons->conf_path)) != NULL);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(cons, READY_MS) == 0);
    LT_IT_REQUIRE(s_publish(owner, &x, 0, 100) == 0);

    /* The store's write lock held past the gateway's 5 s busy timeout. */
    snprintf(store, sizeof store, "%s/store.db", cons->data_dir);
    LT_IT_REQUIRE(sqlite3_open(store, &db) == SQLITE_OK &&
                  sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    char *peers = strstr(base, "peers = [");
    LT_IT_REQUIRE(peers != NULL);
    *peers = '\0';
    long mark = lt_it_log_mark(cons);
    LT_IT_REQUIRE(lt_it_write_fmt(cons->conf_path,
                                  "%speers = [\"" ID_UNLISTED "\", %s\n"
                                  "subscribe = ( { stream = \"" DS "\"; } );\n",
                                  base, peers + strlen("peers = [")) == 0 &&
                  lt_it_gw_signal(cons, SIGHUP) == 0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "ERROR",
                             "subscription " DS " not applied: cannot start "
                             "its replica: store: database is locked",
                             3 * READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "ERROR", "peer " ID_UNLISTED " not applied", REPLY_MS) ==
              0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "reloaded in part: 2 changes, 2 not applied", NULL,
                             REPLY_MS) == 0);
    CU_ASSERT(!lt_it_log_has(cons, mark, "reloaded: ", NULL));
    LT_IT_REQUIRE(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    db = NULL;
    usleep(500 * 1000);
    CU_ASSERT_EQUAL(lt_ft_last_seq(cons, DS), 0);

    /* The same file again: the subscription is added this time. */
    mark = lt_it_log_mark(cons);
    LT_IT_REQUIRE(lt_it_gw_signal(cons, SIGHUP) == 0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "subscription added: " DS, NULL, REPLY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "peer added: " ID_UNLISTED, NULL, REPLY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "reloaded in part: 2 changes, 1 not applied", NULL,
                             REPLY_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, cons, DS, err, sizeof err));
    s_finish(&x);
out:
    if (db)
        sqlite3_close(db);
    free(base);
    s_fed_free(&x);
}

/* A gateway started with a peer its directory does not list yet: the link
 * cannot open, which is an error naming the member, not ignored; a reload
 * tries it again (still unlisted: the error again), and once a directory
 * that lists it is adopted the link opens, the peer back in the running
 * configuration (a later reload of the same file changes nothing). */
static void test_start_peer_retried(void)
{
    fed_t x;
    uint8_t *bytes = NULL;
    LT_IT_REQUIRE(s_fed(&x, 1) == 0);
    lt_it_member_t *later = lt_it_member_add(&x.f, ID_UNLISTED, 1);
    LT_IT_REQUIRE(later != NULL);
    snprintf(later->status, sizeof later->status, "absent"); /* not in version 1 */
    static const char *peers[] = {ID_UNLISTED, NULL};
    lt_it_gw_t *cons = lt_it_gw_new(&x.f, x.bhxh, 1, peers, NULL);
    LT_IT_REQUIRE(cons != NULL);
    long mark = lt_it_log_mark(cons);
    LT_IT_REQUIRE(lt_it_gw_run(cons, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "ERROR", "peer " ID_UNLISTED " not applied: cannot open",
                             REPLY_MS) == 0);
    CU_ASSERT(
        lt_it_log_has(cons, mark, "cannot connect to '" ID_UNLISTED "'", "not in the directory"));

    /* A reload of the same file tries it again. */
    mark = lt_it_log_mark(cons);
    LT_IT_REQUIRE(lt_it_gw_signal(cons, SIGHUP) == 0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "reloaded in part: 1 change, 1 not applied", NULL,
                             REPLY_MS) == 0);
    CU_ASSERT(lt_it_log_has(cons, mark, "ERROR", "peer " ID_UNLISTED " not applied"));

    /* Version 2 lists it: adopted, the link opens. */
    size_t len = 0;
    snprintf(later->status, sizeof later->status, "active");
    LT_IT_REQUIRE(lt_it_dir_bytes(&x.f, 2, 0, 0, NULL, &bytes, &len) == 0 &&
                  lt_it_gw_put_directory(cons, bytes, len) == 0);
    mark = lt_it_log_mark(cons);
    LT_IT_REQUIRE(lt_it_gw_signal(cons, SIGHUP) == 0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "peer " ID_UNLISTED " linked", NULL, REPLY_MS) == 0);
    CU_ASSERT(lt_it_log_has(cons, mark, "connecting to " ID_UNLISTED " at ", later->endpoint));
    mark = lt_it_log_mark(cons);
    LT_IT_REQUIRE(lt_it_gw_signal(cons, SIGHUP) == 0);
    CU_ASSERT(lt_it_log_wait(cons, mark, "reloaded: 0 changes", NULL, REPLY_MS) == 0);
    CU_ASSERT(!lt_it_log_has(cons, mark, "peer " ID_UNLISTED, NULL));
    s_finish(&x);
out:
    free(bytes);
    s_fed_free(&x);
}

/* ---- series at 0 from an adopted directory ------------------------------------------ */

#define ID_NEW "VN/GOV/BTP" /* a member version 2 adds */

/* Version 2: a second rule on DS, and a verify policy for ID_NEW. */
static const char *s_source_v2 =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\";\n"
    "  rules = ( { field = \"full_name\"; check = \"required\"; },\n"
    "            { field = \"date_of_birth\"; check = \"required\"; } ); } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_BHXH "\"; target = \"" DS "\";\n"
    "    allow = [\"subscribe\", \"lookup\", \"verify\"];\n"
    "    fields = [\"full_name\"]; purposes = [\"KYC\"]; },\n"
    "  { consumer = \"" ID_NEW "\"; target = \"" DS "\";\n"
    "    allow = [\"verify\"]; fields = [\"full_name\"]; purposes = [\"KYC\"]; } );\n";

/* An owner adopting (by SIGHUP) a directory that adds a member allowed to
 * verify its dataset, and a rule on it, has their series at 0 from the
 * adoption (docs/operations.md, "Metrics reference"), so that a rate sees their
 * first refusal; version 1 had neither. */
static void test_adoption_zero_series(void)
{
    fed_t x;
    uint8_t *bytes = NULL;
    size_t len = 0;
    char *metrics = NULL;
    static const char *const added[] = {
        "\nlienthong_verify_budget_refusals_total{member=\"" ID_NEW "\"} 0\n",
        "\nlienthong_publish_refusals_total{dataset=\"" DS "\",rule=\"date_of_birth:required\"} "
        "0\n"};
    LT_IT_REQUIRE(s_fed(&x, 1) == 0);
    lt_it_gw_t *owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, NULL);
    LT_IT_REQUIRE(owner != NULL && lt_it_gw_run(owner, READY_MS) == 0);
    metrics = lt_it_gw_metrics(owner, REPLY_MS);
    LT_IT_REQUIRE(metrics != NULL);
    for (size_t i = 0; i < sizeof added / sizeof added[0]; i++)
        CU_ASSERT_PTR_NULL(strstr(metrics, added[i]));
    free(metrics);

    LT_IT_REQUIRE(lt_it_member_add(&x.f, ID_NEW, 0) != NULL);
    x.f.extra_source = s_source_v2;
    LT_IT_REQUIRE(lt_it_dir_bytes(&x.f, 2, 0, 0, NULL, &bytes, &len) == 0 &&
                  lt_it_gw_put_directory(owner, bytes, len) == 0);
    LT_IT_REQUIRE(lt_it_gw_signal(owner, SIGHUP) == 0);
    LT_IT_REQUIRE(lt_it_gw_wait_version(owner, 2, REPLY_MS) == 0);
    metrics = lt_it_gw_metrics(owner, REPLY_MS);
    for (size_t i = 0; i < sizeof added / sizeof added[0]; i++) {
        if (!metrics || !strstr(metrics, added[i]))
            fprintf(stderr, "\n  after the adoption, the owner's metrics lack %s", added[i] + 1);
        CU_ASSERT(metrics && strstr(metrics, added[i]));
    }
    free(metrics);
    s_finish(&x);
out:
    free(bytes);
    s_fed_free(&x);
}

/* ---- status after a peer dies ------------------------------------------------------- */

/* The owner's subscriber line of member on DS, or NULL. */
static const Lienthong__SubscriberStatus *s_sub_line(const Lienthong__StatusReply *r,
                                                     const char *member)
{
    for (size_t i = 0; r && i < r->n_streams; i++)
        for (size_t j = 0;
             strcmp(r->streams[i]->stream, DS) == 0 && j < r->streams[i]->n_subscribers; j++)
            if (strcmp(r->streams[i]->subscribers[j]->member, member) == 0)
                return r->streams[i]->subscribers[j];
    return NULL;
}

static const Lienthong__PeerStatus *s_peer(const Lienthong__StatusReply *r, const char *member)
{
    for (size_t i = 0; r && i < r->n_peers; i++)
        if (strcmp(r->peers[i]->member, member) == 0)
            return r->peers[i];
    return NULL;
}

/* Polls the owner's status until member's peer entry shows `connected`;
 * returns the status envelope then (free it), or NULL on timeout. */
static Lienthong__Envelope *s_wait_peer_state(lt_it_gw_t *g, const char *member, int connected,
                                              int timeout_ms)
{
    for (int64_t end = lt_it_ms() + timeout_ms; lt_it_ms() < end; usleep(100 * 1000)) {
        Lienthong__Envelope *env = NULL;
        const Lienthong__PeerStatus *p = s_peer(s_status(g, &env), member);
        if (p && p->connected == connected)
            return env;
        lt_wire_free(&env);
    }
    return NULL;
}

static void test_status_after_peer_dies(void)
{
    fed_t x;
    char out[PATH_MAX];
    Lienthong__Envelope *env = NULL;
    LT_IT_REQUIRE(s_fed(&x, 300) == 0);
    lt_it_gw_t *owner = NULL, *cons = NULL;
    LT_IT_REQUIRE(s_pair(&x, &owner, &cons, 1) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(cons, READY_MS) == 0);
    LT_IT_REQUIRE(s_publish(owner, &x, 0, 100) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    LT_IT_REQUIRE((env = s_wait_peer_state(owner, ID_BHXH, 1, REPLY_MS)) != NULL);
    const Lienthong__SubscriberStatus *sub = s_sub_line(env->status_reply, ID_BHXH);
    CU_ASSERT(sub && sub->cursor == 100 && sub->lag == 0 && !sub->disconnected);
    lt_wire_free(&env);

    /* Killed: disconnected within the heartbeat timeout, line kept. */
    lt_it_gw_kill(cons);
    int64_t killed = lt_it_ms();
    LT_IT_REQUIRE(s_publish(owner, &x, 100, 150) == 0);
    env = s_wait_peer_state(owner, ID_BHXH, 0, LOST_MS + 2000);
    int64_t took = lt_it_ms() - killed;
    fprintf(stderr, "[shown disconnected after %lld ms] ", (long long)took);
    LT_IT_REQUIRE(env != NULL);
    CU_ASSERT(took <= LOST_MS);
    const Lienthong__StatusReply *r = env->status_reply;
    for (size_t i = 0; i < r->n_peers_connected; i++)
        CU_ASSERT_STRING_NOT_EQUAL(r->peers_connected[i], ID_BHXH);
    const Lienthong__PeerStatus *p = s_peer(r, ID_BHXH);
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    CU_ASSERT(p && p->since_ms > now_ms - 60000 && p->since_ms <= now_ms + 1000); /* last heard */
    sub = s_sub_line(r, ID_BHXH);
    CU_ASSERT(sub != NULL);
    if (sub) {
        CU_ASSERT_EQUAL(sub->cursor, 100);
        CU_ASSERT_EQUAL(sub->lag, 50);
        CU_ASSERT(sub->disconnected);
        CU_ASSERT(sub->disconnected_since_ms > now_ms - 60000);
    }
    lt_wire_free(&env);
    snprintf(out, sizeof out, "%.4000s/status.out", x.f.dir);
    const char *args[] = {"status", "--config", owner->conf_path, NULL};
    CU_ASSERT_EQUAL(lt_it_run_cli(x.f.dir, out, args, 10000), 0);
    CU_ASSERT(lt_it_file_contains(out, "DISCONNECTED since"));
    CU_ASSERT(lt_it_file_contains(out, "peers connected: 0\n"));
    CU_ASSERT(lt_it_file_contains(out, "datasets owned: 1\n  " DS "\n"));
    CU_ASSERT(lt_it_file_contains(out, "streams replicated: 0\n"));
    CU_ASSERT(lt_it_file_contains(out, "peer " ID_BHXH ": DISCONNECTED, last heard"));
    CU_ASSERT(lt_it_file_contains(out, "lag 50"));

    /* Back: connected again, and its line follows the new subscription. */
    LT_IT_REQUIRE(lt_it_gw_run(cons, READY_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    LT_IT_REQUIRE((env = s_wait_peer_state(owner, ID_BHXH, 1, LOST_MS)) != NULL);
    int live = 0;
    for (size_t j = 0; j < env->status_reply->streams[0]->n_subscribers; j++) {
        const Lienthong__SubscriberStatus *s = env->status_reply->streams[0]->subscribers[j];
        live += !s->disconnected && s->cursor == 150 && s->lag == 0;
    }
    CU_ASSERT(live >= 1);
    lt_wire_free(&env);
    s_finish(&x);
out:
    lt_wire_free(&env);
    s_fed_free(&x);
}

/* ---- runner ------------------------------------------------------------------------- */

static void s_teardown(void)
{
    lt_it_cleanup_all();
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"a directory expiring during traffic", test_expiry_during_traffic},
        {"reload of a subscription", test_reload_subscription},
        {"a subscription a reload could not start is tried again by the next",
         test_reload_subscription_retried},
        {"a peer not listed at start is an error, linked once a directory lists it",
         test_start_peer_retried},
        {"status after a peer dies", test_status_after_peer_dies},
        {"an adopted directory's members and rules have their series at 0",
         test_adoption_zero_series},
        {"a member's refused directory offers are checked once per back-off", test_offer_flood},
        {"a member's Errors are all counted and logged once per interval", test_error_flood},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"ops", NULL, NULL, s_test_start, s_teardown, tests};
    return lt_it_main(argc, argv, &suite);
}

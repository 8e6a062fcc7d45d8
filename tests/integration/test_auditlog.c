/* test_auditlog: integration tests of the owner's audit log with real
 * `lienthong gateway` processes on 127.0.0.1 (docs/ARCHITECTURE.md "Audit
 * log", PROTOCOL.md 7.3, 8.7).
 *
 * The federation: owner VN/GOV/BCA with the population dataset, caller
 * VN/COM/VIETTEL allowed to look records up; the caller is a direct CURVE
 * peer of the owner, and names each request in its case reference
 * ("REQ-<request id>"), so that the owner's audit log can be searched for
 * every answer the caller received.
 *
 * Proves:
 * - kill -9 right after answers arrived leaves an audit entry for every
 *   answer the caller received (entries are durable before answers leave);
 * - a full audit disk (a small tmpfs under the data directory, mounted by
 *   the test, which needs root) refuses lookups with ERR_UNAVAILABLE naming
 *   the audit log, turns `status` and ReadyRequest unready, logs the failure
 *   once, tells a caller's application why at its deadline (the caller
 *   retries ERR_UNAVAILABLE until then), and recovers by itself when the
 *   disk has room; the log then
 *   records the outage, verifies, and holds every answered request;
 * - old segments exported while the gateway runs verify with the member's
 *   key alone or with the directory, join each other, and leave a live log
 *   that verifies from its anchor, also after a restart;
 * - a subject-access report of the live log says which entries were
 *   exported, and the exported files are searched for a record key once
 *   each verifies and joins the one before;
 * - an audit log of a newer layout version than the binary's stops the
 *   gateway's start with a log line naming the file and both versions, and
 *   is left as it was;
 * - an exported segment forged with a retired signing key after its
 *   anchor fails `audit verify` under the member's keys, naming the
 *   checkpoint and the key.
 *
 * Usage: test_auditlog /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_feedtest.h"
#include "lt_audit.h"
#include "lt_auditarc.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_sock.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <sys/wait.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define ID_OWNER  "VN/GOV/BCA"
#define ID_CALLER "VN/COM/VIETTEL"
#define DS        "VN/GOV/BCA/population"
#define PURPOSE   "KYC"
#define RECORDS   50
#define READY_MS  15000
#define REPLY_MS  5000
#define MAX_REQS  4000

static const char *s_source =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "policies = ( { consumer = \"" ID_CALLER "\"; target = \"" DS "\"; allow = [\"lookup\"];\n"
    "  fields = [\"full_name\"]; purposes = [\"" PURPOSE "\"]; } );\n";

static lt_it_fed_t g_fed;
static lt_it_gw_t *g_owner;
static lt_it_member_t *g_m_caller;
static lt_ft_model_t g_model;
static lt_it_peer_t g_peer;
/* Request ids whose signed answers the caller received. */
static uint64_t g_answered[MAX_REQS];
static size_t g_n_answered;

/* ---- the federation of one test ---------------------------------------------- */

/* An owner with RECORDS published records and a caller peer connected to it;
 * extra: more owner config; data_mount: when set, called before the start
 * (mounts the data directory). */
static int s_setup(const char *extra, int (*data_mount)(void))
{
    lt_it_member_t *owner;
    lt_ft_pub_t pub;
    uint64_t first, last;
    g_n_answered = 0;
    if (lt_it_fed_init(&g_fed, "VN") != 0 || !(owner = lt_it_member_add(&g_fed, ID_OWNER, 1)) ||
        !(g_m_caller = lt_it_member_add(&g_fed, ID_CALLER, 1)))
        return -1;
    g_fed.extra_source = s_source;
    if (!(g_owner = lt_it_gw_new(&g_fed, owner, 1, NULL, extra)) ||
        (data_mount && data_mount() != 0) || lt_it_gw_run(g_owner, READY_MS) != 0)
        return -1;
    if (lt_ft_model_init(&g_model, RECORDS, 38000000000ull) != 0)
        return -1;
    lt_ft_pub_init(&pub, DS);
    for (size_t i = 0; i < RECORDS; i++)
        if (lt_ft_put(&pub, &g_model, i, "Nguy\xe1\xbb\x85n V\xc4\x83n An", "38", 1) != 0)
            return -1;
    if (lt_ft_pub_send(&pub, g_owner, &first, &last, 30000) != 0)
        return -1;
    return lt_it_peer_open_gw(&g_peer, g_m_caller, g_owner);
}

static void s_teardown(void)
{
    if (CU_get_number_of_failures() > 0 && g_owner)
        lt_it_log_dump(g_owner);
    lt_it_peer_close(&g_peer);
    lt_ft_model_free(&g_model);
    lt_it_fed_cleanup(&g_fed);
    g_owner = NULL;
}

/* ---- lookups ------------------------------------------------------------------ */

static uint64_t s_id(void)
{
    uint64_t id = 0;
    while (!id)
        randombytes_buf(&id, sizeof id);
    return id >> 1; /* fits SQLite's signed integers in REQ-<id> */
}

/* Sends a lookup of record i on p, due within deadline_ms. */
static int s_send_lookup_on(lt_it_peer_t *p, uint64_t id, size_t i, int deadline_ms)
{
    char case_ref[40];
    snprintf(case_ref, sizeof case_ref, "REQ-%llu", (unsigned long long)id);
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = id;
    q.dataset = DS;
    q.key = g_model.c[i % RECORDS].key;
    q.purpose = PURPOSE;
    q.case_ref = case_ref;
    q.deadline_ms = lt_clock_now_ms() + deadline_ms;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    env.lookup_request = &q;
    return lt_it_peer_send_env(p, &env, REPLY_MS);
}

static int s_send_lookup(uint64_t id, size_t i)
{
    return s_send_lookup_on(&g_peer, id, i, 60000);
}

/* The next reply: a signed answer (its request id in *id, recorded as
 * answered; returns 1) or an Error (code in *code, message copied; returns
 * 0); -1 when none came. */
static int s_reply_on(lt_it_peer_t *p, int timeout_ms, uint64_t *id, Lienthong__ErrorCode *code,
                      char *msg, size_t len)
{
    Lienthong__Envelope *env =
        lt_it_peer_expect_any(p,
                              LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY) |
                                  LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_ERROR),
                              timeout_ms);
    int rc = -1;
    if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
        *id = env->error->request_id;
        *code = env->error->code;
        snprintf(msg, len, "%s", env->error->message);
        rc = 0;
    } else if (env) {
        const Lienthong__SignedAnswer *sa = env->lookup_reply;
        Lienthong__LookupAnswer *a =
            lienthong__lookup_answer__unpack(NULL, sa->answer.len, sa->answer.data);
        if (a) {
            *id = a->request_id;
            *code = a->code;
            if (g_n_answered < MAX_REQS)
                g_answered[g_n_answered++] = a->request_id;
            lienthong__lookup_answer__free_unpacked(a, NULL);
            rc = 1;
        }
    }
    lt_wire_free(&env);
    return rc;
}

static int s_reply(int timeout_ms, uint64_t *id, Lienthong__ErrorCode *code, char *msg, size_t len)
{
    return s_reply_on(&g_peer, timeout_ms, id, code, msg, len);
}

/* One lookup and its reply, as s_reply. */
static int s_lookup(size_t i, Lienthong__ErrorCode *code, char *msg, size_t len)
{
    uint64_t id = s_id(), got = 0;
    if (s_send_lookup(id, i) != 0)
        return -1;
    int rc = s_reply(REPLY_MS, &got, code, msg, len);
    return got == id ? rc : -1;
}

/* ---- the owner's audit log, read directly ---------------------------------------- */

/* Opens g's audit log read-only and prepares sql. 0 or -1. */
static int s_query_log(const lt_it_gw_t *g, const char *sql, sqlite3 **db, sqlite3_stmt **st)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/audit.db", g->data_dir);
    *db = NULL;
    *st = NULL;
    return sqlite3_open_v2(path, db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
                   sqlite3_prepare_v2(*db, sql, -1, st, NULL) == SQLITE_OK
               ? 0
               : -1;
}

/* How many answered requests have no entry of event in g's log. */
static long s_missing_in(const lt_it_gw_t *g, const char *event)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long missing = -1;
    if (s_query_log(g, "SELECT COUNT(*) FROM audit WHERE case_ref = ?1 AND event = ?2", &db, &st) !=
        0)
        goto out;
    sqlite3_bind_text(st, 2, event, -1, SQLITE_STATIC);
    missing = 0;
    for (size_t i = 0; i < g_n_answered; i++) {
        char ref[40];
        snprintf(ref, sizeof ref, "REQ-%llu", (unsigned long long)g_answered[i]);
        sqlite3_bind_text(st, 1, ref, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) != SQLITE_ROW || sqlite3_column_int64(st, 0) != 1)
            missing++;
        sqlite3_reset(st);
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return missing;
}

/* The same for the owner's "lookup" entries. */
static long s_missing_entries(void)
{
    return s_missing_in(g_owner, "lookup");
}

/* `lienthong ARGS` in the federation's directory; exit code, output in out. */
static int s_cli(const char *const *args, char *out, size_t len)
{
    snprintf(out, len, "%.4000s/cli.txt", g_fed.dir);
    return lt_it_run_cli(g_fed.dir, out, args, 30000);
}

/* A caller gateway linked to the owner, and an application on its local
 * socket (app->sock NULL on failure). */
static lt_it_gw_t *s_caller(lt_it_peer_t *app)
{
    static const char *peers[] = {ID_OWNER, NULL};
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    app->sock = NULL;
    lt_it_gw_t *caller = lt_it_gw_new(&g_fed, g_m_caller, 1, peers, NULL);
    if (!caller || lt_it_gw_run(caller, READY_MS) != 0 ||
        lt_it_gw_wait_peer(caller, ID_OWNER, READY_MS) != 0)
        return caller;
    app->sock = lt_sock_local_client(lt_it_ctx(), caller->sock_path, &o, err, sizeof err);
    return caller;
}

/* ---- kill -9 right after answers ---------------------------------------------------- */

static void test_kill_after_answers(void)
{
    enum { N = 300 };
    uint64_t id;
    Lienthong__ErrorCode code;
    char msg[256], out[PATH_MAX];
    LT_IT_REQUIRE(s_setup(NULL, NULL) == 0);
    /* Many in flight, so that the last answers leave just before the kill. */
    for (size_t i = 0; i < N; i++)
        LT_IT_REQUIRE(s_send_lookup(s_id(), i) == 0);
    size_t replies = 0;
    while (replies < N && s_reply(REPLY_MS, &id, &code, msg, sizeof msg) >= 0)
        replies++;
    lt_it_gw_kill(g_owner);
    CU_ASSERT_EQUAL(replies, N);
    CU_ASSERT_EQUAL(g_n_answered, N);
    CU_ASSERT_EQUAL(s_missing_entries(), 0);
    const char *verify[] = {"audit", "--config", g_owner->conf_path, "--verify", NULL};
    CU_ASSERT_EQUAL(s_cli(verify, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "intact"));
out:
    s_teardown();
}

/* ---- a full audit disk ----------------------------------------------------------------- */

static char g_mounted[PATH_MAX];

/* The owner's data directory on its own 4 MiB file system. */
static int s_mount_small(void)
{
    if (lt_it_mount_small(g_owner->data_dir) != 0)
        return -1;
    snprintf(g_mounted, sizeof g_mounted, "%s", g_owner->data_dir);
    return 0;
}

/* The gateway's answer to ReadyRequest: 1 ready, 0 not (first problem in
 * why), -1 no answer. */
static int s_ready(char *why, size_t len)
{
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    lt_it_peer_t p = {lt_sock_local_client(lt_it_ctx(), g_owner->sock_path, &o, err, sizeof err),
                      NULL};
    Lienthong__ReadyRequest q = LIENTHONG__READY_REQUEST__INIT;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_READY_REQUEST;
    env.ready_request = &q;
    int rc = -1;
    Lienthong__Envelope *rep = NULL;
    if (p.sock && lt_it_peer_send_env(&p, &env, REPLY_MS) == 0 &&
        (rep = lt_it_peer_expect(&p, LIENTHONG__ENVELOPE__BODY_READY_REPLY, REPLY_MS))) {
        rc = rep->ready_reply->ready ? 1 : 0;
        snprintf(why, len, "%s", rep->ready_reply->n_problems ? rep->ready_reply->problems[0] : "");
    }
    lt_wire_free(&rep);
    if (p.sock)
        zmq_close(p.sock);
    return rc;
}

/* Lookups until one is refused with ERR_UNAVAILABLE; 0, or -1 when none was
 * within max lookups. */
static int s_until_refused(size_t max, char *msg, size_t len)
{
    Lienthong__ErrorCode code;
    for (size_t i = 0; i < max; i++) {
        int rc = s_lookup(i, &code, msg, len);
        if (rc < 0)
            return -1;
        if (rc == 0 && code == LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE) {
            fprintf(stderr, "test_auditlog: refused after %zu lookups on the full disk: %s\n", i,
                    msg);
            return 0;
        }
    }
    return -1;
}

/* Lookups every 100 ms until one is answered, within timeout_ms. */
static int s_until_answered(int timeout_ms)
{
    Lienthong__ErrorCode code;
    char msg[256];
    for (int64_t end = lt_it_ms() + timeout_ms; lt_it_ms() < end; usleep(100000))
        if (s_lookup(0, &code, msg, sizeof msg) == 1)
            return 0;
    return -1;
}

/* An application of a caller gateway looks up while the owner refuses:
 * its ERR_TIMEOUT says what the owner said. 0 with the message in msg. */
static int s_caller_timeout(char *msg, size_t len)
{
    lt_it_peer_t app;
    lt_it_gw_t *caller = s_caller(&app);
    Lienthong__Envelope *rep = NULL;
    int rc = -1;
    if (app.sock && s_send_lookup_on(&app, s_id(), 0, 2500) == 0 &&
        (rep = lt_it_peer_expect(&app, LIENTHONG__ENVELOPE__BODY_ERROR, REPLY_MS)) &&
        rep->error->code == LIENTHONG__ERROR_CODE__ERR_TIMEOUT) {
        snprintf(msg, len, "%s", rep->error->message);
        rc = 0;
    }
    lt_wire_free(&rep);
    if (app.sock)
        zmq_close(app.sock);
    if (caller)
        lt_it_gw_kill(caller);
    return rc;
}

static void test_full_disk(void)
{
    char filler[PATH_MAX + 16], msg[512], why[512], out[PATH_MAX];
    Lienthong__ErrorCode code;
    g_mounted[0] = 0;
    if (geteuid() != 0) {
        fprintf(stderr,
                "test_auditlog: the full-disk test needs root (to mount a tmpfs); not run\n");
        return;
    }
    LT_IT_REQUIRE(s_setup(NULL, s_mount_small) == 0);
    LT_IT_REQUIRE(s_until_answered(REPLY_MS) == 0);
    long mark = lt_it_log_mark(g_owner);
    LT_IT_REQUIRE(lt_it_fill_disk(g_owner->data_dir, filler, sizeof filler) == 0);
    /* Each lookup commits its entry: the log fills what room is left. */
    LT_IT_REQUIRE(s_until_refused(MAX_REQS - 100, msg, sizeof msg) == 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "audit log"));
    /* Refused before execution while it lasts; said once in the log. */
    for (int i = 0; i < 20; i++) {
        CU_ASSERT_EQUAL(s_lookup(i, &code, msg, sizeof msg), 0);
        CU_ASSERT_EQUAL(code, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
        usleep(50000);
    }
    CU_ASSERT_EQUAL(s_ready(why, sizeof why), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(why, "audit log cannot be written"));
    const char *status[] = {"status", "--config", g_owner->conf_path, NULL};
    CU_ASSERT_EQUAL(s_cli(status, out, sizeof out), 3);
    CU_ASSERT(lt_it_file_contains(out, "ready: NO"));
    /* A caller's application learns why at its deadline. */
    CU_ASSERT_EQUAL(s_caller_timeout(msg, sizeof msg), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "the audit log cannot be written"));
    CU_ASSERT_EQUAL(lt_it_file_count(g_owner->log_path, mark, "cannot write the audit log", NULL),
                    1);
    /* Room again: service resumes by itself. */
    LT_IT_REQUIRE(unlink(filler) == 0);
    CU_ASSERT_EQUAL(s_until_answered(10000), 0);
    CU_ASSERT_EQUAL(s_ready(why, sizeof why), 1);
    CU_ASSERT_EQUAL(s_cli(status, out, sizeof out), 0);
    CU_ASSERT(lt_it_log_wait(g_owner, mark, "audit log can be written again", NULL, 5000) == 0);
    CU_ASSERT_EQUAL(lt_it_gw_stop(g_owner, 10000), 0);
    CU_ASSERT_EQUAL(s_missing_entries(), 0);
    const char *verify[] = {"audit", "--config", g_owner->conf_path, "--verify", NULL};
    CU_ASSERT_EQUAL(s_cli(verify, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "1 audit outage(s) recorded"));
    const char *last[] = {"audit", "--config", g_owner->conf_path, "--last", "200", NULL};
    CU_ASSERT_EQUAL(s_cli(last, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "lookup or verify requests refused, none answered"));
out:
    if (g_owner)
        lt_it_gw_kill(g_owner);
    if (g_mounted[0])
        lt_it_unmount(g_mounted);
    s_teardown();
}

/* ---- export, removal and verification --------------------------------------------------- */

static int s_lookups(size_t n)
{
    Lienthong__ErrorCode code;
    char msg[256];
    for (size_t i = 0; i < n; i++)
        if (s_lookup(i, &code, msg, sizeof msg) != 1)
            return -1;
    return 0;
}

static long s_live_entries(void)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long n = -1;
    if (s_query_log(g_owner, "SELECT COUNT(*) FROM audit", &db, &st) == 0 &&
        sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* The subject-access report of record 0, looked up once before seg1 was
 * exported and once after: the live log's says what it leaves out; the
 * exported files (seg1, and seg2 when given, which then holds the second
 * lookup) are searched once verified under pk, never under other. */
static void s_subject_reports(const char *seg1, const char *seg2, const char *pk, const char *other)
{
    char out[PATH_MAX], want[PATH_MAX + 128];
    const char *key = g_model.c[0].key, *conf = g_owner->conf_path;
    const char *live[] = {"audit", "--config", conf, "--subject", key, NULL};
    CU_ASSERT_EQUAL(s_cli(live, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, seg2 ? "0 entries" : "1 entry"));
    snprintf(want, sizeof want, "were exported (the last of them to %s) and are not included",
             seg2 ? seg2 : seg1);
    CU_ASSERT(lt_it_file_contains(out, "entries 1.."));
    CU_ASSERT(lt_it_file_contains(out, want));
    const char *one[] = {"audit", "--subject", key, "--file", seg1, "--signing-key", pk, NULL};
    /* With both files, the keys from the configuration, as JSON. */
    const char *both[] = {"audit", "--subject", key,  "--file", seg1, "--file",
                          seg2,    "--config",  conf, "--json", NULL};
    CU_ASSERT_EQUAL(s_cli(seg2 ? both : one, out, sizeof out), 0);
    if (seg2) {
        CU_ASSERT(lt_it_file_count(out, 0, "\"event\": \"lookup\"", NULL) == 2);
    } else {
        CU_ASSERT(lt_it_file_contains(out, "1 entry"));
    }
    CU_ASSERT(lt_it_file_contains(out, "searched entries 1.."));
    CU_ASSERT(lt_it_file_contains(out, "each verified"));
    /* A file that does not verify, or does not follow the one before, is
     * not searched. */
    const char *stranger[] = {"audit", "--subject",     key,   "--file",
                              seg1,    "--signing-key", other, NULL};
    CU_ASSERT_EQUAL(s_cli(stranger, out, sizeof out), 1);
    CU_ASSERT(!lt_it_file_contains(out, "who has accessed"));
    if (seg2) {
        const char *swapped[] = {"audit", "--subject",     key, "--file", seg2, "--file",
                                 seg1,    "--signing-key", pk,  NULL};
        CU_ASSERT_EQUAL(s_cli(swapped, out, sizeof out), 1);
        CU_ASSERT(lt_it_file_contains(out, "does not follow"));
    }
    const char *no_subject[] = {"audit", "--file", seg1, "--signing-key", pk, NULL};
    CU_ASSERT_EQUAL(s_cli(no_subject, out, sizeof out), 2);
    CU_ASSERT(lt_it_file_contains(out, "--file goes with --subject"));
    const char *stray_key[] = {"audit", "--config",      conf, "--subject",
                               key,     "--signing-key", pk,   NULL};
    CU_ASSERT_EQUAL(s_cli(stray_key, out, sizeof out), 2);
}

static void test_export(void)
{
    char out[PATH_MAX], seg1[PATH_MAX], seg2[PATH_MAX], pk[LT_Z85_KEY_LEN + 1];
    LT_IT_REQUIRE(s_setup("audit_retention_days = 30;\n", NULL) == 0);
    snprintf(seg1, sizeof seg1, "%.4000s/segment-1.db", g_fed.dir);
    snprintf(seg2, sizeof seg2, "%.4000s/segment-2.db", g_fed.dir);
    lt_keys_z85_encode(lt_keys_signing_public(g_owner->member->keys), pk);
    LT_IT_REQUIRE(s_lookups(20) == 0);
    /* Nothing is 30 days old yet. */
    const char *young[] = {"audit", "export", "--config", g_owner->conf_path, "--out", seg1, NULL};
    CU_ASSERT_EQUAL(s_cli(young, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "nothing to export"));
    /* Everything signed so far, while the gateway runs. */
    const char *all1[] = {"audit",        "export", "--config", g_owner->conf_path, "--out", seg1,
                          "--older-than", "0",      NULL};
    CU_ASSERT_EQUAL(s_cli(all1, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "exported entries 1.."));
    long left = s_live_entries();
    LT_IT_REQUIRE(s_lookups(10) == 0);
    CU_ASSERT(s_live_entries() >= 10 && s_live_entries() <= left + 10);
    /* Elsewhere, with only the key or only the directory. */
    const char *by_key[] = {"audit", "verify", "--file", seg1, "--signing-key", pk, NULL};
    CU_ASSERT_EQUAL(s_cli(by_key, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "intact"));
    const char *by_dir[] = {
        "audit",       "verify",          "--file",          seg1,
        "--directory", g_owner->dir_path, "--authority-key", g_fed.authority_z85,
        NULL};
    CU_ASSERT_EQUAL(s_cli(by_dir, out, sizeof out), 0);
    char other[LT_Z85_KEY_LEN + 1];
    lt_keys_z85_encode(lt_keys_signing_public(g_m_caller->keys), other);
    const char *wrong[] = {"audit", "verify", "--file", seg1, "--signing-key", other, NULL};
    CU_ASSERT_EQUAL(s_cli(wrong, out, sizeof out), 1);
    const char *live[] = {"audit", "--config", g_owner->conf_path, "--verify", NULL};
    CU_ASSERT_EQUAL(s_cli(live, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "were exported"));
    /* An option the form does not take is a usage error, never ignored:
     * --file with the live log's --verify would report the live log intact. */
    const char *mixed[] = {"audit", "--config", g_owner->conf_path, "--verify", "--file",
                           seg1,    NULL};
    CU_ASSERT_EQUAL(s_cli(mixed, out, sizeof out), 2);
    CU_ASSERT(lt_it_file_contains(out, "--verify does not go with `lienthong audit --file`"));
    s_subject_reports(seg1, NULL, pk, other);
    const char *both_ways[] = {"audit", "--config", g_owner->conf_path, "--subject", "1", "--last",
                               "3",     NULL};
    CU_ASSERT_EQUAL(s_cli(both_ways, out, sizeof out), 2);
    const char *no_key[] = {"audit", "--config", g_owner->conf_path, "--subject", "", NULL};
    CU_ASSERT_EQUAL(s_cli(no_key, out, sizeof out), 2);
    CU_ASSERT(lt_it_file_contains(out, "--subject needs a value, got ''"));
    const char *wrapped[] = {"audit", "--config", g_owner->conf_path, "--last", "4294967297", NULL};
    CU_ASSERT_EQUAL(s_cli(wrapped, out, sizeof out), 2);
    CU_ASSERT(lt_it_file_contains(out, "'4294967297'"));
    /* One export at a time: while another holds the lock, nothing is
     * written and the command fails, naming the lock. */
    const char *all2[] = {"audit",        "export", "--config", g_owner->conf_path, "--out", seg2,
                          "--older-than", "0",      NULL};
    char lock[PATH_MAX + 32];
    snprintf(lock, sizeof lock, "%.4000s/" LT_AUDITARC_LOCK_NAME, g_owner->data_dir);
    int fd = lt_file_lock(lock);
    CU_ASSERT(fd >= 0);
    CU_ASSERT_EQUAL(s_cli(all2, out, sizeof out), 1);
    CU_ASSERT(lt_it_file_contains(out, "another audit export of"));
    CU_ASSERT(lt_it_file_contains(out, LT_AUDITARC_LOCK_NAME));
    CU_ASSERT(access(seg2, F_OK) != 0);
    if (fd >= 0)
        close(fd);
    /* A second segment joins the first; out of order they do not. */
    CU_ASSERT_EQUAL(s_cli(all2, out, sizeof out), 0);
    const char *both[] = {"audit", "verify",   "--file",           seg1, "--file",
                          seg2,    "--config", g_owner->conf_path, NULL};
    CU_ASSERT_EQUAL(s_cli(both, out, sizeof out), 0);
    const char *swapped[] = {"audit", "verify",        "--file", seg2, "--file",
                             seg1,    "--signing-key", pk,       NULL};
    CU_ASSERT_EQUAL(s_cli(swapped, out, sizeof out), 1);
    s_subject_reports(seg1, seg2, pk, other);
    /* A restart goes on from the anchor. */
    CU_ASSERT_EQUAL(lt_it_gw_stop(g_owner, 10000), 0);
    LT_IT_REQUIRE(lt_it_gw_run(g_owner, READY_MS) == 0);
    lt_it_peer_close(&g_peer);
    LT_IT_REQUIRE(lt_it_peer_open_gw(&g_peer, g_m_caller, g_owner) == 0);
    g_n_answered = 0; /* the earlier ones are in the exported files */
    LT_IT_REQUIRE(s_lookups(5) == 0);
    CU_ASSERT_EQUAL(s_cli(live, out, sizeof out), 0);
    CU_ASSERT_EQUAL(s_missing_entries(), 0);
    CU_ASSERT(s_live_entries() < 30);
out:
    s_teardown();
}

/* ---- an audit log of a newer version ----------------------------------------------- */

/* A gateway whose audit log a newer version wrote (docs/ARCHITECTURE.md
 * "Audit log", "Its version") does not start: its log says why, naming the
 * file and both versions, and the audit log is left as it was; with the
 * version this binary knows it starts again. */
static void test_newer_audit_log(void)
{
    char audit[PATH_MAX + 16], want[PATH_MAX + 128], sql[64], out[PATH_MAX];
    int v = lt_audit_version(), status = 0;
    LT_IT_REQUIRE(s_setup(NULL, NULL) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(g_owner, 10000) == 0);
    snprintf(audit, sizeof audit, "%s/audit.db", g_owner->data_dir);
    CU_ASSERT_EQUAL(lt_it_sql_int(audit, "PRAGMA user_version"), v);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v + 1);
    LT_IT_REQUIRE(lt_it_sql(audit, sql) == 0);
    long mark = lt_it_log_mark(g_owner);
    LT_IT_REQUIRE(lt_it_gw_start(g_owner) == 0);
    CU_ASSERT(lt_it_gw_wait_exit(g_owner, 30000, &status) == 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    snprintf(want, sizeof want,
             "audit log %s: version %d is newer than this lienthong supports (%d)", audit, v + 1,
             v);
    CU_ASSERT(lt_it_log_has(g_owner, mark, "cannot start", want));
    CU_ASSERT_EQUAL(lt_it_sql_int(audit, "PRAGMA user_version"), v + 1);
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", v);
    LT_IT_REQUIRE(lt_it_sql(audit, sql) == 0);
    CU_ASSERT_EQUAL(lt_it_gw_run(g_owner, READY_MS), 0);
    CU_ASSERT_EQUAL(lt_it_gw_stop(g_owner, 10000), 0);
    const char *verify[] = {"audit", "--config", g_owner->conf_path, "--verify", NULL};
    CU_ASSERT_EQUAL(s_cli(verify, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "intact"));
out:
    s_teardown();
}

/* ---- an empty audit log ------------------------------------------------------------ */

/* A gateway that has answered nothing has an empty audit log: `audit
 * --verify` says so and exits 0, where it printed `entries 1..0 (0)` and
 * a last entry signed in 1970; it names the gauge that would show entries
 * removed. */
static void test_empty_audit_log(void)
{
    char audit[PATH_MAX + 16], out[PATH_MAX];
    LT_IT_REQUIRE(s_setup(NULL, NULL) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(g_owner, 10000) == 0);
    snprintf(audit, sizeof audit, "%s/audit.db", g_owner->data_dir);
    LT_IT_REQUIRE(lt_it_sql_int(audit, "SELECT COUNT(*) FROM audit") == 0);
    const char *verify[] = {"audit", "--config", g_owner->conf_path, "--verify", NULL};
    CU_ASSERT_EQUAL(s_cli(verify, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "audit log intact: it holds no entries"));
    /* An empty log is also what entries removed with their checkpoints
     * leave: the gauge to compare with is named, as for any log. */
    CU_ASSERT(
        lt_it_file_contains(out, "compare with the gateway's gauge lienthong_audit_last_seq"));
    CU_ASSERT(!lt_it_file_contains(out, "1970"));
    CU_ASSERT(!lt_it_file_contains(out, "entries 1..0"));
out:
    s_teardown();
}

/* ---- a segment forged with a retired key ------------------------------------------- */

/* Commits lookups first..first+n-1 (skipping `skip`, 0: none) to the log
 * at path under keys, each with a checkpoint; after them, when next is
 * set, the switch to it (lt_audit_switch_keys). 0 or -1. */
static int s_log(const char *path, lt_keys_t *keys, int first, int n, int skip,
                 const lt_keys_t *next)
{
    char err[256], subject[32];
    int rc = 0;
    lt_audit_t *a = lt_audit_open(path, keys, err, sizeof err);
    if (!a)
        return -1;
    for (int i = first; i < first + n; i++) {
        if (i == skip)
            continue;
        snprintf(subject, sizeof subject, "03800000%04d", i);
        lt_audit_add(
            a, &(lt_audit_entry_t){
                   .event = "lookup", .peer = ID_CALLER, .subject = subject, .detail = "ERR_NONE"});
        rc |= lt_audit_commit(a);
    }
    if (next)
        rc |= lt_audit_switch_keys(a, ID_OWNER, next, "test");
    lt_audit_destroy(&a);
    return rc;
}

/* `audit verify` with the member's two keys (docs/operations.md, "Audit
 * retention"): entries 1-3 under A, the switch to B, 5-7 under B exported
 * to one file, 8-10 under B to a second. A second file forged with A
 * (the genuine anchor, entry 9 dropped, the rest re-chained and signed by
 * A) fails, naming the checkpoint and both keys; the genuine files verify
 * and say which key is in force. */
static void test_forged_segment(void)
{
    char live[PATH_MAX], seg1[PATH_MAX], seg2[PATH_MAX], forged[PATH_MAX], out[PATH_MAX],
        sql[3 * PATH_MAX], err[256], za[LT_Z85_KEY_LEN + 1], zb[LT_Z85_KEY_LEN + 1];
    lt_keys_t *a = lt_keys_new(LT_KEYS_MEMBER), *b = lt_keys_new(LT_KEYS_MEMBER);
    const uint8_t *keys[2];
    lt_auditarc_export_t res;
    LT_IT_REQUIRE(a && b && lt_it_fed_init(&g_fed, "VN") == 0);
    lt_keys_z85_encode(lt_keys_signing_public(a), za);
    lt_keys_z85_encode(lt_keys_signing_public(b), zb);
    keys[0] = lt_keys_signing_public(b), keys[1] = lt_keys_signing_public(a);
    snprintf(live, sizeof live, "%.4000s/audit.db", g_fed.dir);
    snprintf(seg1, sizeof seg1, "%.4000s/seg1.db", g_fed.dir);
    snprintf(seg2, sizeof seg2, "%.4000s/seg2.db", g_fed.dir);
    snprintf(forged, sizeof forged, "%.4000s/forged.db", g_fed.dir);
    LT_IT_REQUIRE(s_log(live, a, 1, 3, 0, b) == 0 && s_log(live, b, 5, 3, 0, NULL) == 0);
    LT_IT_REQUIRE(lt_auditarc_export(live, seg1, ID_OWNER, lt_clock_now_ms() + 1000, keys, 2, &res,
                                     err, sizeof err) == 0);
    LT_IT_REQUIRE(s_log(live, b, 8, 3, 0, NULL) == 0);
    LT_IT_REQUIRE(lt_auditarc_export(live, seg2, ID_OWNER, lt_clock_now_ms() + 1000, keys, 2, &res,
                                     err, sizeof err) == 0);
    /* The forgery: the second file's anchor, then A's entries. */
    LT_IT_REQUIRE(lt_audit_create(forged, err, sizeof err) == 0);
    snprintf(sql, sizeof sql,
             "ATTACH '%s' AS g; INSERT INTO anchor SELECT * FROM g.anchor;"
             "INSERT INTO checkpoints SELECT * FROM g.checkpoints WHERE seq = 7",
             seg2);
    LT_IT_REQUIRE(lt_it_sql(forged, sql) == 0 && s_log(forged, a, 8, 3, 9, NULL) == 0);
    LT_IT_REQUIRE(lt_it_sql(forged, "CREATE TABLE segment (member TEXT NOT NULL, first_seq "
                                    "INTEGER NOT NULL, last_seq INTEGER NOT NULL, exported_at_ms "
                                    "INTEGER NOT NULL); INSERT INTO segment VALUES ('" ID_OWNER
                                    "', 8, 9, 0); DROP TABLE subject_blocks; DROP TABLE "
                                    "subject_indexed") == 0);

    const char *genuine[] = {"audit",         "verify", "--file",        seg1, "--file", seg2,
                             "--signing-key", za,       "--signing-key", zb,   NULL};
    CU_ASSERT_EQUAL(s_cli(genuine, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "is signed by the key in force at its entry"));
    CU_ASSERT(!lt_it_file_contains(out, "key binding not checked"));
    const char *bad[] = {"audit",         "verify", "--file",        seg1, "--file", forged,
                         "--signing-key", za,       "--signing-key", zb,   NULL};
    CU_ASSERT_EQUAL(s_cli(bad, out, sizeof out), 1);
    CU_ASSERT(lt_it_file_contains(out, "audit chain broken at entry 8: its checkpoint is signed "
                                       "by key"));
    CU_ASSERT(lt_it_file_contains(out, za) && lt_it_file_contains(out, zb));
out:
    lt_keys_destroy(&a);
    lt_keys_destroy(&b);
    lt_it_fed_cleanup(&g_fed);
}

/* ---- a live log of an anchor alone ---------------------------------------------- */

/* `audit --verify --config` of a live log whose entries and checkpoints
 * were all deleted and an anchor inserted in their place (entry 7, a zero
 * hash, no checkpoint), in a log brought to version 2 after its entries
 * (so its anchor is below keys_named.since): it fails, where it passed
 * with no key at all. A genuine export with nothing after it verifies. */
static void test_anchor_only_log(void)
{
    char audit[PATH_MAX + 16], out[PATH_MAX], seg[PATH_MAX];
    LT_IT_REQUIRE(s_setup(NULL, NULL) == 0);
    LT_IT_REQUIRE(s_lookups(10) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(g_owner, 10000) == 0);
    snprintf(audit, sizeof audit, "%s/audit.db", g_owner->data_dir);
    snprintf(seg, sizeof seg, "%.4000s/segment-1.db", g_fed.dir);
    const char *exp[] = {"audit",        "export", "--config", g_owner->conf_path, "--out", seg,
                         "--older-than", "0",      NULL};
    CU_ASSERT_EQUAL(s_cli(exp, out, sizeof out), 0);
    const char *verify[] = {"audit", "--config", g_owner->conf_path, "--verify", NULL};
    CU_ASSERT_EQUAL(s_cli(verify, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "intact"));
    LT_IT_REQUIRE(lt_it_sql(audit,
                            "UPDATE keys_named SET since = (SELECT MAX(seq) FROM anchor);"
                            "DELETE FROM audit; DELETE FROM checkpoints;"
                            "DELETE FROM subject_blocks; UPDATE subject_indexed SET upto = 0;"
                            "INSERT OR REPLACE INTO anchor (id, seq, hash, exported_to, "
                            "at_ms) VALUES (1, 7, zeroblob(32), 'elsewhere.db', 0)") == 0);
    CU_ASSERT_EQUAL(s_cli(verify, out, sizeof out), 1);
    CU_ASSERT(lt_it_file_contains(out, "the anchor (entry 7) comes without its signed checkpoint"));
out:
    s_teardown();
}

/* ---- a live log passed off as version 1 ------------------------------------------ */

/* A gateway whose live log was passed off as version 1 after an export (its
 * keys_named row dropped, its anchor still recording a key) does not
 * start: brought up, the log would bind keys only after its last entry and
 * the evidence would be gone (docs/ARCHITECTURE.md "Audit log", "Its
 * version"). Its log says why, naming the file and the column, and the
 * audit log is left as it was. */
static void test_passed_off_live_log(void)
{
    char audit[PATH_MAX + 16], want[PATH_MAX + 160], seg[PATH_MAX], out[PATH_MAX];
    int status = 0;
    LT_IT_REQUIRE(s_setup(NULL, NULL) == 0);
    snprintf(seg, sizeof seg, "%.4000s/segment-1.db", g_fed.dir);
    snprintf(audit, sizeof audit, "%s/audit.db", g_owner->data_dir);
    LT_IT_REQUIRE(s_lookups(5) == 0);
    const char *exp[] = {"audit",        "export", "--config", g_owner->conf_path, "--out", seg,
                         "--older-than", "0",      NULL};
    LT_IT_REQUIRE(s_cli(exp, out, sizeof out) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(g_owner, 10000) == 0);
    LT_IT_REQUIRE(lt_it_sql_int(audit, "SELECT count(*) FROM anchor WHERE signing_key IS NOT "
                                       "NULL") == 1);
    LT_IT_REQUIRE(lt_it_sql(audit, "DROP TABLE keys_named; PRAGMA user_version = 1") == 0);
    long mark = lt_it_log_mark(g_owner);
    LT_IT_REQUIRE(lt_it_gw_start(g_owner) == 0);
    CU_ASSERT(lt_it_gw_wait_exit(g_owner, 30000, &status) == 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    snprintf(want, sizeof want,
             "audit log %s: the log claims version 1, but its anchor.signing_key holds a value",
             audit);
    CU_ASSERT(lt_it_log_has(g_owner, mark, "cannot start", want));
    CU_ASSERT_EQUAL(lt_it_sql_int(audit, "PRAGMA user_version"), 1);
    CU_ASSERT_EQUAL(lt_it_sql_int(audit, "SELECT count(*) FROM sqlite_master WHERE name = "
                                         "'keys_named'"),
                    0);
out:
    s_teardown();
}

/* ---- segments passed off as an older format ------------------------------------ */

/* `audit verify` with the configuration joins the files to the live log
 * (docs/operations.md, "Audit retention"). Two genuine exports of a log
 * that names keys from its start verify with it, and say so; without it
 * they verify and say they were not joined. The second file made to pass
 * as one written before logs named keys (version 1, no key in its anchor,
 * as tests/unit/test_audit.c does it) verifies alone without the
 * configuration but fails with it, naming the file and its first entry;
 * so do both files altered alike, which join each other, naming the
 * first. The first file alone does not reach the live log. */
static void test_downgraded_export(void)
{
    char out[PATH_MAX], seg1[PATH_MAX], seg2[PATH_MAX], pk[LT_Z85_KEY_LEN + 1], want[PATH_MAX + 64];
    const char *conf;
    LT_IT_REQUIRE(s_setup(NULL, NULL) == 0);
    conf = g_owner->conf_path;
    snprintf(seg1, sizeof seg1, "%.4000s/segment-1.db", g_fed.dir);
    snprintf(seg2, sizeof seg2, "%.4000s/segment-2.db", g_fed.dir);
    lt_keys_z85_encode(lt_keys_signing_public(g_owner->member->keys), pk);
    const char *exp1[] = {"audit", "export",       "--config", conf, "--out",
                          seg1,    "--older-than", "0",        NULL};
    const char *exp2[] = {"audit", "export",       "--config", conf, "--out",
                          seg2,    "--older-than", "0",        NULL};
    LT_IT_REQUIRE(s_lookups(5) == 0 && s_cli(exp1, out, sizeof out) == 0);
    LT_IT_REQUIRE(s_lookups(5) == 0 && s_cli(exp2, out, sizeof out) == 0);
    LT_IT_REQUIRE(s_lookups(2) == 0);
    int64_t first2 = lt_it_sql_int(seg2, "SELECT first_seq FROM segment");
    LT_IT_REQUIRE(first2 > 1);

    const char *joined[] = {"audit", "verify",   "--file", seg1, "--file",
                            seg2,    "--config", conf,     NULL};
    CU_ASSERT_EQUAL(s_cli(joined, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "joined to the live log"));
    const char *by_key[] = {"audit", "verify",        "--file", seg1, "--file",
                            seg2,    "--signing-key", pk,       NULL};
    CU_ASSERT_EQUAL(s_cli(by_key, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "not joined to the live log"));
    const char *older[] = {"audit", "verify", "--file", seg1, "--config", conf, NULL};
    CU_ASSERT_EQUAL(s_cli(older, out, sizeof out), 1);
    CU_ASSERT(lt_it_file_contains(out, "does not follow the newest file given"));

    /* The second file as version 1. */
    LT_IT_REQUIRE(lt_it_sql(seg2, "PRAGMA user_version = 1;"
                                  "UPDATE anchor SET signing_key = NULL") == 0);
    const char *alone_key[] = {"audit", "verify", "--file", seg2, "--signing-key", pk, NULL};
    CU_ASSERT_EQUAL(s_cli(alone_key, out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "key binding not checked"));
    const char *alone_conf[] = {"audit", "verify", "--file", seg2, "--config", conf, NULL};
    CU_ASSERT_EQUAL(s_cli(alone_conf, out, sizeof out), 1);
    snprintf(want, sizeof want, "%s: entry %lld, which it holds,", seg2, (long long)first2);
    CU_ASSERT(lt_it_file_contains(out, want));
    CU_ASSERT(lt_it_file_contains(out, "passed off as an older format"));

    /* Both files alike: they join each other, not the live log. */
    LT_IT_REQUIRE(lt_it_sql(seg1, "PRAGMA user_version = 1") == 0);
    CU_ASSERT_EQUAL(s_cli(by_key, out, sizeof out), 0);
    CU_ASSERT_EQUAL(s_cli(joined, out, sizeof out), 1);
    snprintf(want, sizeof want, "%s: entry 1, which it holds,", seg1);
    CU_ASSERT(lt_it_file_contains(out, want));
out:
    s_teardown();
}

int main(int argc, char **argv)
{
    if (sodium_init() < 0)
        return 2;
    static const lt_it_test_t tests[] = {
        {"kill -9 right after answers: every answer received has its entry",
         test_kill_after_answers},
        {"a full audit disk refuses answers, says so, and recovers by itself", test_full_disk},
        {"old segments are exported, removed, verified elsewhere and joined", test_export},
        {"an audit log of a newer version stops the start, says so and is left as it was",
         test_newer_audit_log},
        {"`audit --verify` of an empty audit log says it is empty", test_empty_audit_log},
        {"a segment forged with a retired key fails `audit verify`, naming checkpoint and key",
         test_forged_segment},
        {"a live log replaced by an anchor alone fails `audit --verify`", test_anchor_only_log},
        {"segments passed off as an older format fail `audit verify --config`, naming the file",
         test_downgraded_export},
        {"a live log passed off as version 1 stops the start, says so and is left as it was",
         test_passed_off_live_log},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {.name = "audit", .tests = tests};
    return lt_it_main(argc, argv, &suite);
}

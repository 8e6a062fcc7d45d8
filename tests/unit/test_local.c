/* test_local: CUnit suite for gateway/lt_local, the dispatch of the
 * gateway's local socket (PROTOCOL.md 8): a Publish is given back to the
 * poll loop, unanswered; what does not decode, or is not handled on the
 * local socket, is refused with ERR_MALFORMED or ERR_UNSUPPORTED echoing
 * the request_id (4.4), and what is over max_message with ERR_TOO_LARGE
 * and the request_id read from its first fields (8); an Error from a
 * client is never answered; while the poll loop says the member is cut
 * off (5.4) a request for data is refused with ERR_REVOKED and the
 * readiness reply lists why (8.7); the status reply carries the poll
 * loop's part (8.3); the metrics hook runs before the metrics are written
 * (8.6); a resync of a stream not replicated is ERR_NOT_FOUND; a
 * KeysRequest pages through an owned dataset's live keys (8.10); the
 * socket's directory (core/lt_sock) is made 0700 whatever it was. The
 * modules behind it have their own suites; tests/fuzz/fuzz_local.c drives
 * this dispatch with any input. */
#include "unit_gw.h"
#include <inttypes.h>
#include <sqlite3.h>
#include "lt_audit.h"
#include "lt_feed.h"
#include "lt_local.h"
#include "lt_peers.h"
#include "lt_prefill.h"
#include "lt_profile.h"
#include "lt_query.h"
#include "lt_reject.h"

static ug_t g;
static lt_feed_t *g_feed;
static lt_query_t *g_query;
static lt_profile_t *g_profile;
static lt_prefill_t *g_prefill;
static lt_local_t g_local;
static int g_cut;     /* what the cut-off hook says */
static int g_metrics; /* times the metrics hook ran */

static void s_hook_status(void *arg, Lienthong__StatusReply *r)
{
    (void)arg;
    r->refused = 42;
    r->member_status = g_cut ? "suspended" : "";
}

static void s_hook_metrics(void *arg)
{
    (void)arg;
    g_metrics++;
}

static int s_hook_cut_off(void *arg, int ready, char *why, size_t len)
{
    (void)arg;
    if (g_cut)
        snprintf(why, len, "%s", ready ? "cut off, for readiness" : "cut off, for a request");
    return g_cut;
}

static int suite_init(void)
{
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    if (ug_open(&g, "local") != 0 || !(g.ctx.reject = lt_reject_new(g.ctx.stats, NULL)) ||
        !(g.ctx.peers = lt_peers_new(&g.ctx, g.zctx, &so)) || !(g_feed = lt_feed_new(&g.ctx)) ||
        !(g_query = lt_query_new(&g.ctx)) || !(g_profile = lt_profile_new(&g.ctx, g_query)) ||
        !(g_prefill = lt_prefill_new(&g.ctx, g_feed)))
        return -1;
    g_local = (lt_local_t){
        .ctx = &g.ctx,
        .sock = g.router,
        .feed = g_feed,
        .query = g_query,
        .profile = g_profile,
        .prefill = g_prefill,
        .hooks = {.status = s_hook_status, .metrics = s_hook_metrics, .cut_off = s_hook_cut_off}};
    return 0;
}

static int suite_clean(void)
{
    lt_prefill_destroy(&g_prefill);
    lt_profile_destroy(&g_profile);
    lt_query_destroy(&g_query);
    lt_feed_destroy(&g_feed);
    lt_peers_destroy(&g.ctx.peers);
    lt_reject_destroy(&g.ctx.reject);
    ug_close(&g);
    return 0;
}

/* Sends the bytes of buf from the client and hands them to the dispatch;
 * returns its code, *env what it decoded (free it). */
static int s_raw(const void *buf, size_t len, Lienthong__Envelope **env)
{
    lt_wire_in_t in;
    *env = NULL;
    if (zmq_send(g.dealer, buf, len, 0) != (int)len || lt_wire_recv(g.router, 1, 0, &in) != 0) {
        lt_wire_in_close(&in);
        return -2;
    }
    int rc = lt_local_on_message(&g_local, &in, env);
    lt_wire_in_close(&in);
    return rc;
}

/* The same for body, a message of the envelope field type c. */
static int s_body(Lienthong__Envelope__BodyCase c, const void *body, Lienthong__Envelope **env)
{
    zmq_msg_t m;
    if (lt_wire_pack_body(&m, c, body) != 0)
        return -2;
    int rc = s_raw(zmq_msg_data(&m), zmq_msg_size(&m), env);
    zmq_msg_close(&m);
    return rc;
}

/* 1 when the client received nothing more within 100 ms. */
static int s_quiet(void)
{
    zmq_pollitem_t it = {g.dealer, 0, ZMQ_POLLIN, 0};
    return zmq_poll(&it, 1, 100) == 0;
}

/* A Publish goes back to the poll loop, unanswered. */
static void test_publish_given_back(void)
{
    Lienthong__Change c = LIENTHONG__CHANGE__INIT, *cp = &c;
    c.key = "079201000001";
    c.source_cursor = "1";
    Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
    p.request_id = 5;
    p.dataset = OD_POP;
    p.changes = &cp;
    p.n_changes = 1;
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_EQUAL(s_body(LIENTHONG__ENVELOPE__BODY_PUBLISH, &p, &env), LT_LOCAL_PUBLISH);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH);
    lt_wire_free(&env);
    CU_ASSERT(s_quiet());
}

/* Undecodable bytes, a type the local socket does not take: refused. */
static void test_refusals(void)
{
    Lienthong__Envelope *env = NULL, *reply;
    CU_ASSERT_EQUAL(s_raw("\xff\xff", 2, &env), -1);
    CU_ASSERT_PTR_NULL(env);
    reply = ug_recv(&g);
    CU_ASSERT(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              reply->error->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    lt_wire_free(&reply);

    Lienthong__Unsubscribe u = LIENTHONG__UNSUBSCRIBE__INIT;
    u.stream = OD_POP;
    CU_ASSERT_EQUAL(s_body(LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE, &u, &env), -1);
    lt_wire_free(&env);
    reply = ug_recv(&g);
    CU_ASSERT_FATAL(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
    CU_ASSERT_EQUAL(reply->error->code, LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(reply->error->message, "not handled on the local socket"));
    lt_wire_free(&reply);
}

/* An oversized Publish (max_message + 1 KiB of payload, request_id 41)
 * packed into a fresh buffer of *len bytes, with version `version` and
 * `junk` bytes of a cut field appended; NULL when out of memory. */
static uint8_t *s_oversized(uint32_t version, size_t junk, size_t *len)
{
    size_t big = g.ctx.cfg->max_message + 1024;
    uint8_t *payload = calloc(1, big);
    Lienthong__Change c = LIENTHONG__CHANGE__INIT, *cp = &c;
    c.key = "079201000001";
    c.payload = (ProtobufCBinaryData){big, payload};
    Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
    p.request_id = 41;
    p.dataset = OD_POP;
    p.changes = &cp;
    p.n_changes = 1;
    Lienthong__Envelope e;
    lt_wire_env_init(&e);
    e.version = version;
    e.body_case = LIENTHONG__ENVELOPE__BODY_PUBLISH;
    e.publish = &p;
    size_t n = lienthong__envelope__get_packed_size(&e);
    uint8_t *buf = payload ? malloc(n + junk) : NULL;
    if (buf) {
        *len = lienthong__envelope__pack(&e, buf) + junk;
        memset(buf + n, 0xff, junk); /* a varint never ended */
    }
    free(payload);
    return buf;
}

/* A message over max_message is refused with ERR_TOO_LARGE echoing its
 * request_id, read from its first fields (PROTOCOL.md 4.2 check 3, 8):
 * whatever the rest holds, since it is never unpacked. Before, it was
 * unpacked whole, and one whose rest was malformed or of another version
 * got ERR_MALFORMED (no request_id) or ERR_VERSION. */
static void test_too_large(void)
{
    static const struct {
        uint32_t version;
        size_t junk;
    } cases[] = {{1, 0}, {1, 3}, {2, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t len = 0;
        uint8_t *buf = s_oversized(cases[i].version, cases[i].junk, &len);
        CU_ASSERT_FATAL(buf != NULL);
        Lienthong__Envelope *env = NULL;
        CU_ASSERT_EQUAL(s_raw(buf, len, &env), -1);
        CU_ASSERT_PTR_NULL(env);
        free(buf);
        Lienthong__Envelope *reply = ug_recv(&g);
        CU_ASSERT_FATAL(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
        CU_ASSERT_EQUAL(reply->error->code, LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
        CU_ASSERT_EQUAL(reply->error->request_id, 41);
        CU_ASSERT_PTR_NOT_NULL(strstr(reply->error->message, "max_message"));
        lt_wire_free(&reply);
    }
}

/* The scan of lt_local_request_id: the body's request_id field, the last
 * of several as unpacking keeps it, Range's (field 6) too; 1 only when it
 * read the whole envelope. */
static void test_request_id_scan(void)
{
    uint64_t id = 9;
    /* version 1; lookup_request (30) {request_id 5, dataset "d", request_id 7} */
    static const uint8_t twice[] = {0x08, 0x01, 0xf2, 0x01, 0x07, 0x08,
                                    0x05, 0x12, 0x01, 'd',  0x08, 0x07};
    CU_ASSERT_EQUAL(lt_local_request_id(twice, sizeof twice, &id), 1);
    CU_ASSERT_EQUAL(id, 7);
    /* range (29) {stream (1) "s", request_id (6) 300} */
    static const uint8_t range[] = {0xea, 0x01, 0x06, 0x0a, 0x01, 's', 0x30, 0xac, 0x02};
    CU_ASSERT_EQUAL(lt_local_request_id(range, sizeof range, &id), 1);
    CU_ASSERT_EQUAL(id, 300);
    /* status_request (45): no request_id */
    static const uint8_t status[] = {0x08, 0x01, 0xea, 0x02, 0x00};
    CU_ASSERT_EQUAL(lt_local_request_id(status, sizeof status, &id), 1);
    CU_ASSERT_EQUAL(id, 0);
    /* The lookup cut after its request_id: the id, but not whole. */
    CU_ASSERT_EQUAL(lt_local_request_id(twice, 8, &id), 0);
    CU_ASSERT_EQUAL(id, 0); /* the body's length passes the end: no body */
    uint8_t cut[sizeof twice + 1];
    memcpy(cut, twice, sizeof twice);
    cut[sizeof twice] = 0xff;
    CU_ASSERT_EQUAL(lt_local_request_id(cut, sizeof cut, &id), 0);
    CU_ASSERT_EQUAL(id, 7);
    /* A request_id past the first 16 fields of the body is not read. */
    uint8_t many[5 + 2 * 17] = {0x08, 0x01, 0xf2, 0x01, 2 * 17};
    for (size_t i = 0; i < 16; i++) {
        many[5 + 2 * i] = 0x12; /* dataset "" */
        many[6 + 2 * i] = 0x00;
    }
    many[5 + 32] = 0x08;
    many[6 + 32] = 0x03;
    CU_ASSERT_EQUAL(lt_local_request_id(many, sizeof many, &id), 0);
    CU_ASSERT_EQUAL(id, 0);
}

/* An Error from a client is logged, never answered (4.4). */
static void test_error_not_answered(void)
{
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    e.code = LIENTHONG__ERROR_CODE__ERR_INTERNAL;
    e.message = "the sink's database is gone";
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_EQUAL(s_body(LIENTHONG__ENVELOPE__BODY_ERROR, &e, &env), 0);
    lt_wire_free(&env);
    CU_ASSERT(s_quiet());
}

/* Sends a lookup of population and returns the first answer (free it). */
static Lienthong__Envelope *s_lookup(uint64_t id, int *rc)
{
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = id;
    q.dataset = OD_POP;
    q.key = "079201000001";
    q.purpose = "KYC";
    Lienthong__Envelope *env = NULL;
    *rc = s_body(LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q, &env);
    lt_wire_free(&env);
    return ug_recv(&g);
}

/* Cut off, a request for data is refused with the poll loop's reason, and
 * readiness lists it; active again, the lookup reaches lt_query. */
static void test_cut_off(void)
{
    int rc;
    g_cut = 1;
    Lienthong__Envelope *reply = s_lookup(23, &rc);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT_FATAL(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
    CU_ASSERT_EQUAL(reply->error->code, LIENTHONG__ERROR_CODE__ERR_REVOKED);
    CU_ASSERT_EQUAL(reply->error->request_id, 23);
    CU_ASSERT_STRING_EQUAL(reply->error->message, "cut off, for a request");
    lt_wire_free(&reply);

    Lienthong__ReadyRequest rq = LIENTHONG__READY_REQUEST__INIT;
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_EQUAL(s_body(LIENTHONG__ENVELOPE__BODY_READY_REQUEST, &rq, &env), 0);
    lt_wire_free(&env);
    reply = ug_recv(&g);
    CU_ASSERT_FATAL(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_READY_REPLY);
    CU_ASSERT(!reply->ready_reply->ready);
    CU_ASSERT_FATAL(reply->ready_reply->n_problems == 1);
    CU_ASSERT_STRING_EQUAL(reply->ready_reply->problems[0], "cut off, for readiness");
    lt_wire_free(&reply);

    g_cut = 0;
    reply = s_lookup(24, &rc);
    CU_ASSERT_EQUAL(rc, 0);
    /* The member owns population: lt_query answers it itself. */
    CU_ASSERT(reply && !(reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
                         reply->error->code == LIENTHONG__ERROR_CODE__ERR_REVOKED));
    lt_wire_free(&reply);
    CU_ASSERT_EQUAL(s_body(LIENTHONG__ENVELOPE__BODY_READY_REQUEST, &rq, &env), 0);
    lt_wire_free(&env);
    reply = ug_recv(&g);
    CU_ASSERT(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_READY_REPLY &&
              reply->ready_reply->n_problems == 0);
    lt_wire_free(&reply);
}

/* Status: the member and directory, the poll loop's part, the grants with
 * the record types of the datasets. */
static void test_status(void)
{
    g_cut = 1;
    Lienthong__StatusRequest q = LIENTHONG__STATUS_REQUEST__INIT;
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_EQUAL(s_body(LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &q, &env), 0);
    lt_wire_free(&env);
    g_cut = 0;
    Lienthong__Envelope *reply = ug_recv(&g);
    CU_ASSERT_FATAL(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY);
    const Lienthong__StatusReply *r = reply->status_reply;
    CU_ASSERT_STRING_EQUAL(r->member, g.cfg.member);
    CU_ASSERT_EQUAL(r->directory_version, lt_dir_version(g.ctx.dir));
    CU_ASSERT_EQUAL(r->directory_expires_at, lt_dir_expires(g.ctx.dir));
    CU_ASSERT_EQUAL(r->refused, 42);
    CU_ASSERT_STRING_EQUAL(r->member_status, "suspended");
    CU_ASSERT_FATAL(r->grants && r->grants->n_datasets > 0);
    /* Each granted dataset with the record type the directory declares
     * (PROTOCOL.md 8.3), in the same order. */
    const Lienthong__LocalGrants *gr = r->grants;
    CU_ASSERT_FATAL(gr->n_types == gr->n_datasets);
    for (size_t i = 0; i < gr->n_types; i++) {
        const Lienthong__Dataset *ds = lt_dir_dataset(g.ctx.dir, gr->datasets[i]);
        CU_ASSERT_STRING_EQUAL(gr->types[i]->dataset, gr->datasets[i]);
        CU_ASSERT(ds && strcmp(gr->types[i]->record_type, ds->record_type) == 0);
        if (strcmp(gr->datasets[i], OD_POP) == 0)
            CU_ASSERT_STRING_EQUAL(gr->types[i]->record_type, "lienthong.records.Population");
    }
    lt_wire_free(&reply);
}

/* Metrics: the hook runs first; the text is the registry's. */
static void test_metrics(void)
{
    Lienthong__MetricsRequest q = LIENTHONG__METRICS_REQUEST__INIT;
    Lienthong__Envelope *env = NULL;
    int before = g_metrics;
    CU_ASSERT_EQUAL(s_body(LIENTHONG__ENVELOPE__BODY_METRICS_REQUEST, &q, &env), 0);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(g_metrics, before + 1);
    Lienthong__Envelope *reply = ug_recv(&g);
    CU_ASSERT_FATAL(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_METRICS_REPLY);
    CU_ASSERT_PTR_NOT_NULL(strstr(reply->metrics_reply->text, "lienthong_rejected_inputs"));
    lt_wire_free(&reply);
}

/* A resync of a stream this gateway does not replicate: ERR_NOT_FOUND. */
static void test_resync_not_replicated(void)
{
    Lienthong__Resync q = LIENTHONG__RESYNC__INIT;
    q.stream = OD_POP;
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_EQUAL(s_body(LIENTHONG__ENVELOPE__BODY_RESYNC, &q, &env), 0);
    lt_wire_free(&env);
    Lienthong__Envelope *reply = ug_recv(&g);
    CU_ASSERT(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              reply->error->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND);
    lt_wire_free(&reply);
}

/* Sends KeysRequest{id, dataset, after, limit}; returns the reply. */
static Lienthong__Envelope *s_keys(uint64_t id, const char *dataset, const char *after,
                                   uint32_t limit)
{
    Lienthong__KeysRequest q = LIENTHONG__KEYS_REQUEST__INIT;
    q.request_id = id;
    q.dataset = (char *)dataset;
    q.after = (char *)after;
    q.limit = limit;
    Lienthong__Envelope *env = NULL;
    (void)s_body(LIENTHONG__ENVELOPE__BODY_KEYS_REQUEST, &q, &env);
    lt_wire_free(&env);
    return ug_recv(&g);
}

/* 1 when reply is a KeysReply to id with exactly keys (a comma list, ""
 * for none) and `more`. */
static int s_keys_are(Lienthong__Envelope *reply, uint64_t id, const char *keys, int more)
{
    char got[256] = "";
    if (!reply || reply->body_case != LIENTHONG__ENVELOPE__BODY_KEYS_REPLY)
        return 0;
    const Lienthong__KeysReply *r = reply->keys_reply;
    for (size_t i = 0; i < r->n_keys; i++)
        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s", i ? "," : "", r->keys[i]);
    int ok = r->request_id == id && strcmp(got, keys) == 0 && r->more == (more != 0);
    if (!ok)
        fprintf(stderr, "keys reply %" PRIu64 ": '%s' more=%d\n", r->request_id, got, r->more);
    return ok;
}

/* The error code of reply to id, or -1 when it is no Error to id. */
static int s_error_code(Lienthong__Envelope *reply, uint64_t id)
{
    return reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
                   reply->error->request_id == id
               ? (int)reply->error->code
               : -1;
}

/* Pages of the live keys of an owned dataset, in key order strictly after
 * `after`, tombstones left out; an empty or unpublished dataset has none;
 * a limit of 0 or over LT_KEYS_PAGE_MAX reads as LT_KEYS_PAGE_MAX. */
static void test_keys_pages(void)
{
    Lienthong__Envelope *reply = s_keys(60, OD_PHONES, "", 10);
    CU_ASSERT(s_keys_are(reply, 60, "", 0)); /* never published: no stream */
    lt_wire_free(&reply);
    lt_stream_t st;
    CU_ASSERT_FATAL(lt_store_stream(g.ctx.store, OD_PHONES, &st) == 0);
    static const char *keys[] = {"0901", "0902", "0903", "0904", "0905"};
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_FATAL(lt_store_state_put(g.ctx.store, st.id, keys[i], i + 1, i == 2, 0, 0) == 0);
    reply = s_keys(61, OD_PHONES, "", 2);
    CU_ASSERT(s_keys_are(reply, 61, "0901,0902", 1));
    lt_wire_free(&reply);
    reply = s_keys(62, OD_PHONES, "0902", 2); /* 0903 is a tombstone */
    CU_ASSERT(s_keys_are(reply, 62, "0904,0905", 0));
    lt_wire_free(&reply);
    reply = s_keys(63, OD_PHONES, "0904", 1); /* exactly the last one: no more */
    CU_ASSERT(s_keys_are(reply, 63, "0905", 0));
    lt_wire_free(&reply);
    reply = s_keys(64, OD_PHONES, "0905", 2); /* past the end */
    CU_ASSERT(s_keys_are(reply, 64, "", 0));
    lt_wire_free(&reply);
    reply = s_keys(65, OD_PHONES, "", 0);
    CU_ASSERT(s_keys_are(reply, 65, "0901,0902,0904,0905", 0));
    lt_wire_free(&reply);
    reply = s_keys(66, OD_PHONES, "", 4000000000u);
    CU_ASSERT(s_keys_are(reply, 66, "0901,0902,0904,0905", 0));
    lt_wire_free(&reply);
}

/* Another member's dataset is ERR_FORBIDDEN, one not in the directory
 * ERR_NOT_FOUND, a request without id or with an over-long `after`
 * ERR_MALFORMED, any while the audit log cannot be written
 * ERR_UNAVAILABLE: each echoing the request_id. */
static void test_keys_refused(void)
{
    Lienthong__Envelope *reply = s_keys(70, OD_FOREIGN, "", 10);
    CU_ASSERT_EQUAL(s_error_code(reply, 70), LIENTHONG__ERROR_CODE__ERR_FORBIDDEN);
    lt_wire_free(&reply);
    reply = s_keys(71, "VN/GOV/BCA/nothing", "", 10);
    CU_ASSERT_EQUAL(s_error_code(reply, 71), LIENTHONG__ERROR_CODE__ERR_NOT_FOUND);
    lt_wire_free(&reply);
    reply = s_keys(0, OD_PHONES, "", 10);
    CU_ASSERT_EQUAL(s_error_code(reply, 0), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    lt_wire_free(&reply);
    char longer[LT_RECORD_KEY_MAX + 2];
    memset(longer, 'k', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    reply = s_keys(72, OD_PHONES, longer, 10);
    CU_ASSERT_EQUAL(s_error_code(reply, 72), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    lt_wire_free(&reply);
    reply = s_keys(73, OD_P38, "", 10); /* a view is no dataset */
    CU_ASSERT_EQUAL(s_error_code(reply, 73), LIENTHONG__ERROR_CODE__ERR_NOT_FOUND);
    lt_wire_free(&reply);
    /* While the audit log cannot take a page's entry, no page is listed:
     * another writer holds the log, so its commit fails. */
    char path[512], err[256];
    snprintf(path, sizeof path, "%s/audit.db", g.tmp);
    CU_ASSERT_FATAL((g.ctx.audit = lt_audit_open(path, g.ctx.keys, err, sizeof err)) != NULL);
    sqlite3 *hold = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &hold) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_exec(hold, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    lt_audit_add(g.ctx.audit, &(lt_audit_entry_t){.event = "lookup", .peer = "local"});
    CU_ASSERT(lt_audit_flush(g.ctx.audit, 1) != 0);
    reply = s_keys(74, OD_PHONES, "", 10);
    CU_ASSERT_EQUAL(s_error_code(reply, 74), LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
    lt_wire_free(&reply);
    CU_ASSERT(sqlite3_exec(hold, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(hold);
    CU_ASSERT_EQUAL(lt_audit_flush(g.ctx.audit, 1), 0); /* the log is back */
    reply = s_keys(75, OD_PHONES, "", 10);
    CU_ASSERT(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_KEYS_REPLY);
    lt_wire_free(&reply);
    lt_audit_destroy(&g.ctx.audit);
}

/* A DirectoryRequest is answered with the exact signed directory in use
 * (8.11), whatever version the client says it holds: an application
 * checking answers itself (7.8) reads the owners' keys from it. */
static void test_directory_request(void)
{
    size_t want_len;
    const uint8_t *want = lt_dir_signed_bytes(g.ctx.dir, &want_len);
    uint64_t have[] = {0, lt_dir_version(g.ctx.dir), UINT64_MAX};
    for (size_t i = 0; i < sizeof have / sizeof have[0]; i++) {
        Lienthong__DirectoryRequest q = LIENTHONG__DIRECTORY_REQUEST__INIT;
        q.have_version = have[i];
        Lienthong__Envelope *env = NULL;
        CU_ASSERT_EQUAL(s_body(LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST, &q, &env), 0);
        lt_wire_free(&env);
        Lienthong__Envelope *reply = ug_recv(&g);
        CU_ASSERT_FATAL(reply != NULL);
        CU_ASSERT_EQUAL(reply->body_case, LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER);
        if (reply->body_case == LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER) {
            const ProtobufCBinaryData *got = &reply->directory_offer->signed_directory;
            CU_ASSERT(got->len == want_len && memcmp(got->data, want, want_len) == 0);
        }
        lt_wire_free(&reply);
        CU_ASSERT(s_quiet());
    }
}

/* The local socket's directory is made 0700 even when it was there before
 * with a wider mode (core/lt_sock.h): the gateway's umask hides a missing
 * chmod for a directory it creates, not for one an operator made 0755,
 * through which any local user could reach the socket. */
static void test_socket_dir_private(void)
{
    char dir[256], path[300], err[512];
    CU_ASSERT_FATAL(ut_mkdtemp(dir, sizeof dir, "localsock") == 0);
    CU_ASSERT_FATAL(chmod(dir, 0755) == 0);
    snprintf(path, sizeof path, "%s/local.sock", dir);
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    void *s = lt_sock_local(g.zctx, path, &so, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(s);
    struct stat st;
    CU_ASSERT(stat(dir, &st) == 0 && (st.st_mode & 07777) == 0700);
    if (s)
        zmq_close(s);
    ut_rmrf(dir);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a Publish is given back, unanswered", test_publish_given_back},
        {"undecodable and unhandled messages are refused", test_refusals},
        {"over max_message: ERR_TOO_LARGE with its request_id, never unpacked", test_too_large},
        {"the request_id read from an envelope's first fields", test_request_id_scan},
        {"an Error from a client is not answered", test_error_not_answered},
        {"cut off: requests for data refused, not ready", test_cut_off},
        {"status: the poll loop's part and the grants", test_status},
        {"metrics: the hook first, then the registry", test_metrics},
        {"resync of a stream not replicated", test_resync_not_replicated},
        {"keys: pages of an owned dataset's live keys", test_keys_pages},
        {"keys: another member's, unknown, malformed refused", test_keys_refused},
        {"a DirectoryRequest gets the signed directory in use", test_directory_request},
        {"the local socket's directory is made 0700, even when there before 0755",
         test_socket_dir_private},
        {NULL, NULL},
    };
    return ut_main("lt_local", suite_init, suite_clean, tests);
}

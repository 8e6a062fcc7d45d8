/* test_querycall: CUnit suite for gateway/lt_query on the caller's side
 * (PROTOCOL.md 7.4, 8.3), with the owner's lt_query in the same process:
 * an application's request on the caller's local socket is forwarded over
 * a link DEALER to the owner's peer ROUTER, executed and signed there, and
 * its answer, handed on by the gateway's dispatch of its links (lt_linkrx),
 * checked by the caller and handed to the application. Covers the
 * resends' back-off, the bound of the caller's table of outstanding
 * requests, request ids reused after their answer came, requests carrying
 * no time, and answers dropped: from a member the request was not sent to,
 * naming another owner, or with another signature over a root already
 * verified. test_querymod.c covers the owner alone. */
#include "unit_gw.h"
#include "lt_clock.h"
#include "lt_crypto.h"
#include "lt_feed.h"
#include "lt_linkrx.h"
#include "lt_peers.h"
#include "lt_query.h"

#include <inttypes.h>

#define CALLER "VN/COM/VIETTEL"

static ug_t g;              /* the owner: its context, store and peer ROUTER */
static lt_query_t *g_owner; /* the owner's lt_query */
static struct {
    lt_gwcfg_t cfg;
    lt_keys_t *keys, *auth;
    lt_gwctx_t ctx;
    lt_stats_t *stats;
    lt_reject_t *reject;
    lt_peers_t *peers;
    void *link;        /* the caller's DEALER to the owner (the peers' link) */
    void *local, *app; /* the caller's local ROUTER and an application's DEALER */
    lt_query_t *q;
    lt_feed_t *feed; /* given an Error on the link too, as in the gateway */
    lt_linkrx_t rx;  /* the gateway's dispatch of what comes on its links */
} c;
static uint64_t g_id = 1000;
static int64_t g_deadline; /* of every request: a resend is the same bytes */

static int suite_init(void)
{
    char err[1024] = "";
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    int one = 1;
    if (ug_open(&g, "querycall") != 0 || !(c.keys = lt_keys_new(LT_KEYS_MEMBER)) ||
        !(c.auth = lt_keys_new(LT_KEYS_AUTHORITY)))
        return -1;
    /* A directory holding the owner's keys, so that the caller verifies
     * what the owner signs. */
    lt_dir_destroy(&g.ctx.dir);
    if (!(g.ctx.dir =
              od_directory_keyed(g.tmp, g.ctx.keys, c.keys, c.auth, "", "", err, sizeof err)) ||
        ug_publish(&g, "001", "An", NULL, NULL) != 0 ||
        ug_publish(&g, "002", "Binh", NULL, NULL) != 0 || !(g_owner = lt_query_new(&g.ctx))) {
        fprintf(stderr, "querycall: %s\n", err[0] ? err : "owner set-up failed");
        return -1;
    }
    c.cfg = g.cfg;
    snprintf(c.cfg.member, sizeof c.cfg.member, "%s", CALLER);
    if (!(c.stats = lt_stats_new()) || !(c.reject = lt_reject_new(c.stats, NULL)))
        return -1;
    c.ctx = (lt_gwctx_t){.cfg = &c.cfg,
                         .keys = c.keys,
                         .dir = g.ctx.dir,
                         .store = g.ctx.store,
                         .stats = c.stats,
                         .reject = c.reject};
    if (!(c.link = zmq_socket(g.zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(c.link, ZMQ_ROUTING_ID, "callr", 5) != 0 ||
        zmq_connect(c.link, "inproc://unit-gw") != 0 ||
        !(c.peers = lt_peers_new(&c.ctx, g.zctx, &so)) ||
        lt_peers_attach(c.peers, OD_OWNER, c.link) != 0)
        return -1;
    c.ctx.peers = c.peers;
    if (!(c.local = zmq_socket(g.zctx, ZMQ_ROUTER)) || !(c.app = zmq_socket(g.zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(c.local, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_bind(c.local, "inproc://unit-local") != 0 ||
        zmq_setsockopt(c.app, ZMQ_ROUTING_ID, "app", 3) != 0 ||
        zmq_connect(c.app, "inproc://unit-local") != 0)
        return -1;
    g_deadline = lt_clock_now_ms() + 120000;
    if (!(c.q = lt_query_new(&c.ctx)) || !(c.feed = lt_feed_new(&c.ctx)) ||
        strcmp(lt_peers_link_member(c.peers, 0), OD_OWNER) != 0)
        return -1;
    c.rx = (lt_linkrx_t){.ctx = &c.ctx, .feed = c.feed, .query = c.q, .local = c.local};
    return 0;
}

static int suite_clean(void)
{
    lt_feed_destroy(&c.feed);
    lt_query_destroy(&c.q);
    lt_query_destroy(&g_owner);
    lt_peers_destroy(&c.peers); /* closes the link */
    if (c.local)
        zmq_close(c.local);
    if (c.app)
        zmq_close(c.app);
    lt_reject_destroy(&c.reject);
    lt_stats_destroy(&c.stats);
    lt_keys_destroy(&c.keys);
    lt_keys_destroy(&c.auth);
    ug_close(&g);
    return 0;
}

/* The application sends a request body, on behalf of who (may be NULL);
 * the caller's gateway takes it. */
static void s_app_send_for(Lienthong__Envelope__BodyCase body_case, const void *q,
                           Lienthong__OnBehalf *who)
{
    lt_wire_in_t in;
    Lienthong__ErrorCode code;
    char err[256];
    CU_ASSERT_FATAL(lt_wire_send_body(c.app, NULL, 0, body_case, q) == 0);
    CU_ASSERT_FATAL(lt_wire_recv(c.local, 1, 0, &in) == 0);
    Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                              1u << 20, &code, err, sizeof err);
    CU_ASSERT_FATAL(env != NULL);
    env->on_behalf = who; /* local only: set as the gateway would decode it */
    lt_query_on_local(c.q, c.local, &in, env);
    env->on_behalf = NULL;
    lt_wire_free(&env);
    lt_wire_in_close(&in);
}

static void s_app_send(Lienthong__Envelope__BodyCase body_case, const void *q)
{
    s_app_send_for(body_case, q, NULL);
}

/* A lookup of key (field full_name, purpose KYC) into q. */
static void s_lookup_of(Lienthong__LookupRequest *q, uint64_t id, const char *key, int64_t deadline)
{
    static char *ask[] = {"full_name"};
    lienthong__lookup_request__init(q);
    q->request_id = id;
    q->dataset = OD_POP;
    q->key = (char *)key;
    q->fields = ask;
    q->n_fields = 1;
    q->purpose = "KYC";
    q->deadline_ms = deadline;
}

/* The application sends that lookup, until deadline. */
static void s_app_lookup_until(uint64_t id, const char *key, int64_t deadline)
{
    Lienthong__LookupRequest q;
    s_lookup_of(&q, id, key, deadline);
    s_app_send(LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q);
}

/* The application sends that lookup, until the suite's deadline. */
static void s_app_lookup(uint64_t id, const char *key)
{
    s_app_lookup_until(id, key, g_deadline);
}

/* The application sends a verify of n keys (claim full_name = An). */
static void s_app_verify(uint64_t id, char **keys, size_t n, int64_t deadline)
{
    Lienthong__Claim cl = LIENTHONG__CLAIM__INIT, *cp = &cl;
    cl.field = "full_name";
    cl.value = "An";
    Lienthong__VerifyRequest q = LIENTHONG__VERIFY_REQUEST__INIT;
    q.request_id = id;
    q.dataset = OD_POP;
    q.keys = keys;
    q.n_keys = n;
    q.claims = &cp;
    q.n_claims = 1;
    q.purpose = "KYC";
    q.deadline_ms = deadline;
    s_app_send(LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST, &q);
}

/* 1 when sock has a message within ms. */
static int s_waiting(void *sock, long ms)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    return zmq_poll(&it, 1, ms) > 0;
}

/* The owner answers in, a request the caller forwarded, as from CALLER,
 * and closes it; 0, or -1 when it does not decode. */
static int s_owner_serves_in(lt_wire_in_t *in)
{
    Lienthong__ErrorCode code;
    char err[256];
    snprintf(in->user_id, sizeof in->user_id, "%s", CALLER);
    Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&in->body), zmq_msg_size(&in->body),
                                              1u << 20, &code, err, sizeof err);
    if (env)
        lt_query_on_request(g_owner, g.router, in, env);
    lt_query_flush(g_owner);
    int rc = env ? 0 : -1;
    lt_wire_free(&env);
    lt_wire_in_close(in);
    return rc;
}

/* The owner takes what the caller forwarded and answers it; 0, or -1 when
 * nothing came. */
static int s_owner_serves(void)
{
    lt_wire_in_t in;
    if (!s_waiting(g.router, 1000) || lt_wire_recv(g.router, 1, 0, &in) != 0)
        return -1;
    return s_owner_serves_in(&in);
}

/* The owner takes what the caller forwarded, unanswered, into in, and the
 * hash its answers must carry (PROTOCOL.md 7.1) into h; 0 or -1. */
static int s_owner_takes(lt_wire_in_t *in, uint8_t h[LT_HASH_BYTES])
{
    const uint8_t *body;
    size_t body_len;
    if (!s_waiting(g.router, 1000) || lt_wire_recv(g.router, 1, 0, in) != 0)
        return -1;
    const void *data = zmq_msg_data(&in->body);
    if (lt_wire_body_bytes(data, zmq_msg_size(&in->body), &body, &body_len) != 0) {
        lt_wire_in_close(in);
        return -1;
    }
    lt_crypto_hash(body, body_len, h);
    return 0;
}

/* The caller takes what came back on its link (link 0, to the owner),
 * handed on as the gateway does (lt_linkrx); 0, or -1 when nothing came
 * or it was dropped. */
static int s_caller_takes(void)
{
    lt_wire_in_t in;
    if (!s_waiting(c.link, 1000) || lt_wire_recv(c.link, 0, 0, &in) != 0)
        return -1;
    int rc = lt_linkrx_on_message(&c.rx, 0, &in) < 0 ? -1 : 0;
    lt_wire_in_close(&in);
    return rc;
}

/* What the application received within ms: the envelope (free it) and its
 * exact bytes in *bytes (free them), or NULL. */
static Lienthong__Envelope *s_app_recv(long ms, uint8_t **bytes, size_t *len)
{
    zmq_msg_t m;
    Lienthong__ErrorCode code;
    char err[256];
    Lienthong__Envelope *env = NULL;
    if (bytes)
        *bytes = NULL;
    if (!s_waiting(c.app, ms))
        return NULL;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, c.app, 0) >= 0) {
        env = lt_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), 1u << 20, &code, err, sizeof err);
        if (bytes && (*bytes = malloc(zmq_msg_size(&m)))) {
            memcpy(*bytes, zmq_msg_data(&m), zmq_msg_size(&m));
            *len = zmq_msg_size(&m);
        }
    }
    zmq_msg_close(&m);
    return env;
}

/* The value of a series; 0 when it does not exist yet. Labelled series are
 * made at their first event: a case that reads one before its own event
 * must not depend on an earlier case having made it. */
static int64_t s_stat(lt_stats_t *st, const char *name, const char *a, const char *b)
{
    const char *v[] = {a, b};
    int64_t n = ug_stat(st, name, v, b ? 2 : a ? 1 : 0);
    return n < 0 ? 0 : n;
}

/* An application reuses the id of a request answered a moment ago: with
 * other bytes it is refused at once with ERR_MALFORMED naming the id, and
 * nothing goes to the owner (before, the request went out, the owner
 * replayed its stored answer, the gateway rejected it on the hash, and the
 * application got ERR_TIMEOUT at the deadline); with the same bytes it is a
 * retry: forwarded, and the owner's replay is handed on unchanged. */
static void test_id_reused_after_answer(void)
{
    uint64_t id = ++g_id;
    uint8_t *first = NULL, *again = NULL;
    size_t first_len = 0, again_len = 0;
    char idtext[32];
    int64_t malformed = s_stat(c.stats, "lienthong_rejected_inputs", "local", "ERR_MALFORMED");
    int64_t replayed = s_stat(g.ctx.stats, "lienthong_query_served", "lookup", "replayed");
    int64_t rejected = s_stat(c.stats, "lienthong_query_rejected_answers", NULL, NULL);
    snprintf(idtext, sizeof idtext, "%" PRIu64, id);
    s_app_lookup(id, "001");
    CU_ASSERT_FATAL(s_owner_serves() == 0);
    CU_ASSERT_FATAL(s_caller_takes() == 0);
    Lienthong__Envelope *env = s_app_recv(1000, &first, &first_len);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), 0);

    s_app_lookup(id, "002"); /* another citizen under the same id */
    env = s_app_recv(200, NULL, NULL);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED &&
              env->error->request_id == id && strstr(env->error->message, idtext) != NULL);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), 0);
    CU_ASSERT(!s_waiting(g.router, 100)); /* nothing went to the owner */
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_rejected_inputs", "local", "ERR_MALFORMED"),
                    malformed + 1);

    s_app_lookup(id, "001"); /* the same bytes: a retry */
    CU_ASSERT_FATAL(s_owner_serves() == 0);
    CU_ASSERT_FATAL(s_caller_takes() == 0);
    env = s_app_recv(1000, &again, &again_len);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY);
    CU_ASSERT(first && again && again_len == first_len && memcmp(first, again, first_len) == 0);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(s_stat(g.ctx.stats, "lienthong_query_served", "lookup", "replayed"),
                    replayed + 1);
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_query_rejected_answers", NULL, NULL), rejected);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), 0);
    free(first);
    free(again);
}

/* Sends the caller, over the owner's ROUTER, a lookup answer to the request
 * of hash h and id, naming owner as its owner, signed alone by signer. */
static void s_forged_answer(uint64_t id, const uint8_t h[LT_HASH_BYTES], const char *owner,
                            const lt_keys_t *signer)
{
    Lienthong__LookupAnswer a = LIENTHONG__LOOKUP_ANSWER__INIT;
    a.request_id = id;
    a.request_hash.data = (uint8_t *)h;
    a.request_hash.len = LT_HASH_BYTES;
    a.owner = (char *)owner;
    a.answered_at_ms = lt_clock_now_ms();
    uint8_t bytes[256], root[LT_HASH_BYTES], sig[LT_SIG_BYTES];
    CU_ASSERT_FATAL(lienthong__lookup_answer__get_packed_size(&a) <= sizeof bytes);
    size_t len = lienthong__lookup_answer__pack(&a, bytes);
    lt_crypto_merkle_leaf(bytes, len, root); /* one leaf: the root */
    CU_ASSERT_FATAL(lt_keys_sign(signer, LT_ANSWERS_DOMAIN, root, sizeof root, sig) == 0);
    Lienthong__SignedAnswer sa = LIENTHONG__SIGNED_ANSWER__INIT;
    sa.answer.data = bytes;
    sa.answer.len = len;
    sa.root_signature.data = sig;
    sa.root_signature.len = sizeof sig;
    sa.proof_count = 1;
    CU_ASSERT_FATAL(lt_wire_send_body(g.router, (const uint8_t *)"callr", 5,
                                      LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY, &sa) == 0);
}

/* The owner answers in, the lookup it was holding back: the answer reaches
 * the application and nothing is left outstanding. */
static void s_owner_answer_reaches_app(lt_wire_in_t *in)
{
    CU_ASSERT_FATAL(s_owner_serves_in(in) == 0);
    CU_ASSERT_FATAL(s_caller_takes() == 0);
    Lienthong__Envelope *env = s_app_recv(1000, NULL, NULL);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), 0);
}

/* An answer whose `owner` is not the owner of the dataset asked is refused
 * (PROTOCOL.md 7.4 step 2, 7.8): whether the owner signed it naming another
 * member, or another member (the caller itself) signed it naming itself.
 * Neither reaches the application; the owner's own answer then does. */
static void test_answer_naming_another_owner_refused(void)
{
    uint64_t id = ++g_id;
    uint8_t h[LT_HASH_BYTES];
    lt_wire_in_t in;
    int64_t before = s_stat(c.stats, "lienthong_query_rejected_answers", NULL, NULL);
    s_app_lookup(id, "001");
    CU_ASSERT_FATAL(s_owner_takes(&in, h) == 0);

    s_forged_answer(id, h, CALLER, g.ctx.keys); /* the owner's key, another name */
    CU_ASSERT(s_caller_takes() == 0);           /* taken, and dropped */
    CU_ASSERT(s_app_recv(200, NULL, NULL) == NULL);
    s_forged_answer(id, h, CALLER, c.keys); /* the caller's own key and name */
    CU_ASSERT(s_caller_takes() == 0);       /* taken, and dropped */
    CU_ASSERT(s_app_recv(200, NULL, NULL) == NULL);
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_query_rejected_answers", NULL, NULL), before + 2);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), 1);

    /* The owner's own answer, naming itself, still goes through. */
    s_owner_answer_reaches_app(&in);
}

/* What came next on the caller's link, handed on as lt_linkrx hands on an
 * answer that came on its link to member; 0, or -1 when nothing came. The
 * stderr of that hand-on, at warning level, into out. */
static int s_caller_takes_from(const char *member, char *out, size_t cap)
{
    lt_wire_in_t in;
    Lienthong__ErrorCode code;
    char err[256], path[300];
    if (!s_waiting(c.link, 1000) || lt_wire_recv(c.link, 0, 0, &in) != 0)
        return -1;
    Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                              1u << 20, &code, err, sizeof err);
    snprintf(path, sizeof path, "%s/stderr", g.tmp);
    int saved = ut_capture(path);
    lt_log_set_level(LT_LOG_WARN);
    if (env)
        lt_query_on_answer(c.q, c.local, member, env, &in.body);
    lt_log_set_level(LT_LOG_ERROR);
    ut_captured(saved, path, out, cap);
    close(saved);
    int rc = env ? 0 : -1;
    lt_wire_free(&env);
    lt_wire_in_close(&in);
    return rc;
}

/* An answer that comes from another member than the one the request was
 * sent to is dropped (PROTOCOL.md 7.4), counted and logged as such, though
 * it is signed by that member's own key, names it as its owner and carries
 * the request's id and hash: a member must not answer for a dataset it was
 * not asked about. The owner's own answer then goes through. */
static void test_answer_from_another_member_refused(void)
{
    uint64_t id = ++g_id;
    uint8_t h[LT_HASH_BYTES];
    lt_wire_in_t in;
    char out[4096] = "";
    int64_t before = s_stat(c.stats, "lienthong_query_rejected_answers", NULL, NULL);
    s_app_lookup(id, "001");
    CU_ASSERT_FATAL(s_owner_takes(&in, h) == 0);
    /* The only other member of the directory is VN/COM/VIETTEL: its key,
     * its name, on its link. */
    s_forged_answer(id, h, CALLER, c.keys);
    CU_ASSERT(s_caller_takes_from(CALLER, out, sizeof out) == 0);
    CU_ASSERT(s_app_recv(200, NULL, NULL) == NULL);
    CU_ASSERT(strstr(out, "answer from a member the request was not sent to") != NULL);
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_query_rejected_answers", NULL, NULL), before + 1);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), 1);

    s_owner_answer_reaches_app(&in);
}

/* The application verifies two keys; the owner answers both in one signed
 * batch, and the caller hands the first on to the application. Returns the
 * answers the caller rejected so far. */
static int64_t s_verify_first_taken(void)
{
    char *keys[] = {"001", "002"};
    s_app_verify(++g_id, keys, 2, g_deadline);
    CU_ASSERT_FATAL(s_owner_serves() == 0); /* both answers, one batch */
    CU_ASSERT_FATAL(s_caller_takes() == 0);
    Lienthong__Envelope *env = s_app_recv(1000, NULL, NULL);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY);
    lt_wire_free(&env);
    return s_stat(c.stats, "lienthong_query_rejected_answers", NULL, NULL);
}

/* Sends the caller, over the owner's ROUTER, a copy of frame whose root
 * signature, sig, has one bit flipped. */
static void s_send_bad_signature(const zmq_msg_t *frame, const uint8_t sig[LT_SIG_BYTES])
{
    zmq_msg_t bad;
    size_t len = zmq_msg_size((zmq_msg_t *)frame);
    CU_ASSERT_FATAL(zmq_msg_init_size(&bad, len) == 0);
    uint8_t *p = zmq_msg_data(&bad);
    memcpy(p, zmq_msg_data((zmq_msg_t *)frame), len);
    uint8_t *at = memmem(p, len, sig, LT_SIG_BYTES);
    CU_ASSERT_FATAL(at != NULL);
    at[LT_SIG_BYTES - 1] ^= 0x01;
    CU_ASSERT_FATAL(lt_wire_send_msg(g.router, (const uint8_t *)"callr", 5, &bad) == 0);
}

/* The two answers of one verify share one signed root. The first is
 * checked and its root remembered; the second comes with the same root but
 * a corrupted signature: it is dropped, for a remembered root stands only
 * with the signature verified over it (PROTOCOL.md 7.4 step 1). The
 * genuine second answer then goes through. */
static void test_root_remembered_with_its_signature(void)
{
    int64_t rejected = s_verify_first_taken();
    Lienthong__Envelope *env = NULL;
    lt_wire_in_t in;
    Lienthong__ErrorCode code;
    char err[256];
    CU_ASSERT_FATAL(s_waiting(c.link, 1000) && lt_wire_recv(c.link, 0, 0, &in) == 0);
    env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body), 1u << 20, &code, err,
                         sizeof err);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY &&
                    env->verify_reply->proof_count == 2 &&
                    env->verify_reply->root_signature.len == LT_SIG_BYTES);
    s_send_bad_signature(&in.body, env->verify_reply->root_signature.data);
    lt_wire_free(&env);
    CU_ASSERT(s_caller_takes() == 0); /* taken, and dropped */
    CU_ASSERT_PTR_NULL(env = s_app_recv(200, NULL, NULL));
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_query_rejected_answers", NULL, NULL), rejected + 1);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), 1);

    CU_ASSERT_FATAL(lt_wire_send_copy(g.router, (const uint8_t *)"callr", 5, &in.body) == 0);
    lt_wire_in_close(&in);
    CU_ASSERT_FATAL(s_caller_takes() == 0);
    env = s_app_recv(1000, NULL, NULL);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), 0);
}

/* The same bytes under an outstanding id, on behalf of another officer,
 * are another request reusing the id: refused with ERR_MALFORMED naming it
 * (PROTOCOL.md 8.3), and the answers still go to the first. Before, they
 * were taken as a retry: the answers went to the second requester, which no
 * lookup-made entry named. The same bytes and on_behalf are a retry. */
static void test_retry_under_another_on_behalf(void)
{
    char *ask[] = {"full_name"}, idtext[32];
    Lienthong__OnBehalf o1 = LIENTHONG__ON_BEHALF__INIT, o2 = LIENTHONG__ON_BEHALF__INIT;
    o1.application = o2.application = "portal";
    o1.officer = "officer-1";
    o2.officer = "officer-2";
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = ++g_id;
    q.dataset = OD_POP;
    q.key = "001";
    q.fields = ask;
    q.n_fields = 1;
    q.purpose = "KYC";
    q.deadline_ms = g_deadline;
    snprintf(idtext, sizeof idtext, "%" PRIu64, q.request_id);
    size_t before = lt_query_outstanding(c.q);
    s_app_send_for(LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q, &o1);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), before + 1);

    s_app_send_for(LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q, &o2);
    Lienthong__Envelope *env = s_app_recv(200, NULL, NULL);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED &&
              env->error->request_id == q.request_id && strstr(env->error->message, idtext) &&
              strstr(env->error->message, "on_behalf"));
    lt_wire_free(&env);
    s_app_send_for(LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q, NULL); /* none is another too */
    env = s_app_recv(200, NULL, NULL);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    lt_wire_free(&env);
    s_app_send_for(LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q, &o1); /* a retry */
    env = s_app_recv(100, NULL, NULL);
    CU_ASSERT_PTR_NULL(env);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), before + 1);

    CU_ASSERT_FATAL(s_owner_serves() == 0);
    CU_ASSERT_FATAL(s_caller_takes() == 0);
    env = s_app_recv(1000, NULL, NULL);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), before);
}

/* The answers of one verify share one signed root. The first is checked
 * under the owner's key; then a directory is adopted in which the owner has
 * rotated to another key: the second answer, signed by the dropped key, is
 * rejected (PROTOCOL.md 5.5, 7.4). Before, the root verified under the old
 * key was cached and the second answer accepted from the cache. */
static void test_rotation_forgets_roots(void)
{
    char err[1024] = "";
    lt_keys_t *rotated = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(rotated != NULL);
    lt_dir_t *d2 = od_directory_keyed(g.tmp, rotated, c.keys, c.auth, "", "", err, sizeof err);
    CU_ASSERT_FATAL(d2 != NULL);
    int64_t rejected = s_verify_first_taken();

    lt_dir_t *before = c.ctx.dir;
    c.ctx.dir = d2;
    lt_query_dir_changed(c.q, c.local);
    (void)s_caller_takes();
    Lienthong__Envelope *env = s_app_recv(200, NULL, NULL);
    CU_ASSERT_PTR_NULL(env);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_query_rejected_answers", NULL, NULL), rejected + 1);

    /* The request stays outstanding (until its deadline, past this suite):
     * its second answer was not taken. */
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), 1);
    c.ctx.dir = before;
    lt_query_dir_changed(c.q, c.local);
    lt_dir_destroy(&d2);
    lt_keys_destroy(&rotated);
}

static int64_t g_mono; /* the caller's attempt clock, moved by test_resend_backs_off */

static int64_t s_mono(void *arg)
{
    (void)arg;
    return g_mono;
}

/* How many copies of lookup id reached the owner, each within ms of the
 * one before; what else came (other requests resent) is dropped. With
 * serve, the owner answers the copies of id. */
static int s_sends_of(uint64_t id, long ms, int serve)
{
    int n = 0;
    lt_wire_in_t in;
    Lienthong__ErrorCode code;
    char err[256];
    while (s_waiting(g.router, ms) && lt_wire_recv(g.router, 1, 0, &in) == 0) {
        Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                                  1u << 20, &code, err, sizeof err);
        int ours = env && env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST &&
                   env->lookup_request->request_id == id;
        lt_wire_free(&env);
        n += ours;
        if (ours && serve) {
            CU_ASSERT(s_owner_serves_in(&in) == 0);
        } else {
            lt_wire_in_close(&in);
        }
    }
    return n;
}

/* From first, when the lookup id first went to the owner, who never
 * answers: the caller resends it 1 s later, then waits twice as long each
 * time, 8 s at most (PROTOCOL.md 7.4). A tick a millisecond early sends
 * nothing, one on time sends the request once. */
static void s_backs_off(uint64_t id, int64_t first)
{
    static const int64_t gaps[] = {1000, 2000, 4000, 8000, 8000, 8000};
    int64_t at = first;
    for (size_t i = 0; i < sizeof gaps / sizeof *gaps; i++) {
        g_mono = at + gaps[i] - 1;
        lt_query_tick(c.q, c.local);
        CU_ASSERT_EQUAL(s_sends_of(id, 50, 0), 0);
        g_mono = at + gaps[i];
        lt_query_tick(c.q, c.local);
        int sent = s_sends_of(id, 200, 0);
        CU_ASSERT_EQUAL(sent, 1);
        if (sent != 1)
            fprintf(stderr, "resend %zu: %d copies %" PRId64 " ms after the one before\n", i + 1,
                    sent, gaps[i]);
        at = g_mono;
    }
}

/* The owner answers the copy of id the next tick sends, 8 s after the
 * last one s_backs_off saw: the application gets the answer. An
 * answer, not the deadline, ends it: the log line of a request ended
 * unanswered would hide the next case's, counted in the same interval
 * (s_log_ended). */
static void s_answered(uint64_t id)
{
    g_mono += 8000;
    lt_query_tick(c.q, c.local);
    CU_ASSERT_EQUAL(s_sends_of(id, 200, 1), 1);
    CU_ASSERT_FATAL(s_caller_takes() == 0);
    Lienthong__Envelope *env = s_app_recv(1000, NULL, NULL);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY);
    lt_wire_free(&env);
}

/* The owner does not answer a lookup: it goes at once, then again 1 s
 * later, then twice as long after each, 8 s at most (PROTOCOL.md 7.4).
 * When the link cannot take it at first, the tries that find no room (50 ms
 * apart) waited for no answer: the first copy a tick sends waits 1 s too,
 * not 2. The test moves the caller's attempt clock. No case covered the
 * back-off before. */
static void test_resend_backs_off(void)
{
    const int64_t timeout = 60000;
    int one = 1;
    uint64_t id = ++g_id;
    g_mono = lt_clock_mono_ms();
    int64_t start = g_mono;
    lt_query_set_attempt_clock(c.q, s_mono, NULL);
    (void)s_sends_of(0, 0, 0); /* what earlier cases left unread */
    s_app_lookup_until(id, "001", lt_clock_now_ms() + timeout);
    CU_ASSERT_EQUAL(s_sends_of(id, 200, 0), 1);
    s_backs_off(id, start);
    s_answered(id);

    /* The link has no pipe to the owner while the next one comes, then
     * connects again under the same routing id. */
    id = ++g_id;
    CU_ASSERT_FATAL(zmq_setsockopt(g.router, ZMQ_ROUTER_HANDOVER, &one, sizeof one) == 0);
    CU_ASSERT_FATAL(zmq_disconnect(c.link, "inproc://unit-gw") == 0);
    s_app_lookup_until(id, "001", lt_clock_now_ms() + timeout);
    g_mono += 50;
    lt_query_tick(c.q, c.local);
    CU_ASSERT_FATAL(zmq_connect(c.link, "inproc://unit-gw") == 0);
    CU_ASSERT_EQUAL(s_sends_of(id, 50, 0), 0);
    g_mono += 50;
    lt_query_tick(c.q, c.local);
    CU_ASSERT_EQUAL(s_sends_of(id, 200, 0), 1);
    s_backs_off(id, g_mono);
    s_answered(id);
    lt_query_set_attempt_clock(c.q, NULL, NULL);
    (void)s_sends_of(0, 0, 0);
}

/* Verifies of 1024 keys of 256 bytes fill the bytes the caller's table of
 * outstanding requests may hold long before its count: the next one is
 * refused at once with ERR_UNAVAILABLE saying so, while a lookup, small,
 * is still taken. Before, only the count bounded the table, which 16384
 * such verifies would fill with gigabytes. */
static void test_outstanding_bytes_bounded(void)
{
    /* Each key once (PROTOCOL.md 7.6): its first bytes its index. */
    static char key[LT_QUERY_MAX_KEYS][LT_RECORD_KEY_MAX + 1], *keys[LT_QUERY_MAX_KEYS];
    for (size_t i = 0; i < LT_QUERY_MAX_KEYS; i++) {
        memset(key[i], 'k', LT_RECORD_KEY_MAX);
        snprintf(key[i], 5, "%04zu", i);
        key[i][4] = 'k'; /* where snprintf put its NUL */
        keys[i] = key[i];
    }
    int64_t deadline = lt_clock_now_ms() + 3000;
    size_t before = lt_query_outstanding(c.q), taken = 0;
    /* Each holds its frame and its keys: over 512 KiB. */
    size_t most = LT_QUERY_MAX_OUTSTANDING_BYTES / (512u << 10);
    Lienthong__Envelope *env = NULL;
    for (size_t i = 0; i <= most && !env; i++) {
        s_app_verify(++g_id, keys, LT_QUERY_MAX_KEYS, deadline);
        if (!(env = s_app_recv(0, NULL, NULL)))
            taken++;
    }
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE &&
              env->error->request_id <= g_id && strstr(env->error->message, "bytes"));
    lt_wire_free(&env);
    CU_ASSERT(taken > most / 2 && taken < most);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), before + taken);
    s_app_lookup(++g_id, "001"); /* a small one still fits */
    env = s_app_recv(100, NULL, NULL);
    CU_ASSERT_PTR_NULL(env);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), before + taken + 1);

    /* Lookups fill the rest. A lookup refused then names what it would
     * hold; one of the same bytes made for another module (a profile part,
     * lt_query_lookup_for) holds as much, its own frame. Before, that one
     * was charged an estimate of its frame, 11 bytes more here. */
    size_t lookups = 0;
    while (lookups < LT_QUERY_MAX_OUTSTANDING / 2 && !(env = s_app_recv(0, NULL, NULL))) {
        s_app_lookup_until(++g_id, "001", deadline);
        lookups++;
    }
    lt_wire_free(&env); /* the one refused */
    Lienthong__LookupRequest q;
    s_lookup_of(&q, ++g_id, "002", deadline);
    char why[256] = "";
    CU_ASSERT_EQUAL(lt_query_lookup_for(c.q, &q, NULL, NULL, NULL, why, sizeof why),
                    LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
    s_app_send(LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q);
    env = s_app_recv(1000, NULL, NULL);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
    const char *mine = strstr(why, "this one ("), *app = strstr(env->error->message, "this one (");
    size_t made = 0, asked = 1;
    CU_ASSERT(mine && app && sscanf(mine, "this one (%zu)", &made) == 1 &&
              sscanf(app, "this one (%zu)", &asked) == 1);
    CU_ASSERT_EQUAL(made, asked);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), before + taken + 1 + lookups - 1);

    /* The verifies and lookups end at their deadline; the owner never read
     * them. The log says so of the first, the rest are counted for the
     * interval's line: not a line each (docs/operations.md, "Errors from
     * other members"). */
    while (lt_clock_now_ms() <= deadline)
        zmq_poll(NULL, 0, 100);
    static char out[65536];
    char path[300];
    snprintf(path, sizeof path, "%s/stderr", g.tmp);
    int saved = ut_capture(path);
    lt_log_set_level(LT_LOG_WARN);
    lt_query_tick(c.q, c.local);
    lt_log_set_level(LT_LOG_ERROR);
    ut_captured(saved, path, out, sizeof out);
    close(saved);
    CU_ASSERT_EQUAL(ut_lines(out, "timed out after"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 1);
    while ((env = s_app_recv(100, NULL, NULL)))
        lt_wire_free(&env);
    lt_wire_in_t in;
    while (s_waiting(g.router, 0) && lt_wire_recv(g.router, 1, 0, &in) == 0)
        lt_wire_in_close(&in);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), before + 1);
}

/* Applications on the local socket fill the caller's table of outstanding
 * requests (the owner never answers): the next request is refused at once
 * with ERR_UNAVAILABLE, counted as a rejected input of "local", and the
 * table does not grow; a retry of an outstanding one is still taken. Before,
 * the table grew with every request. */
static void test_outstanding_bounded(void)
{
    Lienthong__Envelope *env;
    while ((env = s_app_recv(0, NULL, NULL))) /* whatever the test before left */
        lt_wire_free(&env);
    int64_t refused = s_stat(c.stats, "lienthong_rejected_inputs", "local", "ERR_UNAVAILABLE");
    for (size_t i = lt_query_outstanding(c.q); i < LT_QUERY_MAX_OUTSTANDING; i++)
        s_app_lookup(++g_id, "001");
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), LT_QUERY_MAX_OUTSTANDING);
    env = s_app_recv(0, NULL, NULL);
    CU_ASSERT_PTR_NULL(env); /* none refused so far */
    lt_wire_free(&env);

    uint64_t over = ++g_id;
    s_app_lookup(over, "002");
    env = s_app_recv(1000, NULL, NULL);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE &&
              env->error->request_id == over);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), LT_QUERY_MAX_OUTSTANDING);
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_rejected_inputs", "local", "ERR_UNAVAILABLE"),
                    refused + 1);

    s_app_lookup(g_id - 1, "001"); /* the last one taken, again: a retry */
    env = s_app_recv(100, NULL, NULL);
    CU_ASSERT_PTR_NULL(env);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), LT_QUERY_MAX_OUTSTANDING);
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_rejected_inputs", "local", "ERR_UNAVAILABLE"),
                    refused + 1);
}

/* A lookup or verify carrying neither timeout_ms nor deadline_ms is
 * refused at once with ERR_MALFORMED naming them, counted and logged as a
 * malformed local request, and nothing goes to the owner (before, it went
 * out with a deadline of 0, the owner refused it as long past, and the
 * application got ERR_TIMEOUT without the owner's words; PROTOCOL.md 7.1). */
static void test_no_time_refused(void)
{
    int64_t refused = s_stat(c.stats, "lienthong_rejected_inputs", "local", "ERR_MALFORMED");
    int64_t made = s_stat(c.stats, "lienthong_query_made", "lookup", NULL) +
                   s_stat(c.stats, "lienthong_query_made", "verify", NULL);
    size_t before = lt_query_outstanding(c.q);
    Lienthong__LookupRequest q;
    s_lookup_of(&q, ++g_id, "001", 0);
    s_app_send(LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q);
    Lienthong__VerifyRequest vq = LIENTHONG__VERIFY_REQUEST__INIT;
    Lienthong__Claim claim = LIENTHONG__CLAIM__INIT, *claims[] = {&claim};
    char *keys[] = {"001"};
    claim.field = "full_name";
    claim.value = "An";
    vq.request_id = ++g_id;
    vq.dataset = OD_POP;
    vq.keys = keys;
    vq.n_keys = 1;
    vq.claims = claims;
    vq.n_claims = 1;
    vq.purpose = "KYC";
    s_app_send(LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST, &vq);
    for (uint64_t id = g_id - 1; id <= g_id; id++) {
        Lienthong__Envelope *env = s_app_recv(200, NULL, NULL);
        CU_ASSERT_FATAL(env != NULL);
        CU_ASSERT(env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
                  env->error->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED &&
                  env->error->request_id == id &&
                  strstr(env->error->message, "timeout_ms is required") != NULL);
        lt_wire_free(&env);
    }
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), before);
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_rejected_inputs", "local", "ERR_MALFORMED"),
                    refused + 2);
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_query_made", "lookup", NULL) +
                        s_stat(c.stats, "lienthong_query_made", "verify", NULL),
                    made);
}

/* 1 when the caller's link to the owner has room to send now. */
static int s_link_room(void)
{
    int events = 0;
    size_t len = sizeof events;
    return zmq_getsockopt(c.link, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLOUT);
}

/* The owner's gateway is connected but does not read: lookups fill the
 * link's send queue, and as many again wait unsent. At their deadline all
 * end ERR_TIMEOUT and count as timeouts, the unsent too: the link was
 * connected all along, only full (PROTOCOL.md 7.4). Before, every one
 * ended ERR_UNAVAILABLE "not connected (never heard from)" and counted as
 * unreachable: a full queue was taken for a link that is down. */
static void test_full_queue_times_out(void)
{
    Lienthong__Envelope *env;
    int64_t timeouts = s_stat(c.stats, "lienthong_query_timeouts", "lookup", NULL);
    int64_t unreachable = s_stat(c.stats, "lienthong_query_unreachable", "lookup", NULL);
    size_t before = lt_query_outstanding(c.q), sent = 0, unsent = 0;
    int64_t deadline = lt_clock_now_ms() + 1000;
    lt_peers_tick(c.peers); /* each turn of the gateway's loop does */
    while (s_link_room() && sent < 100000) {
        s_app_lookup_until(++g_id, "001", deadline);
        sent++;
    }
    CU_ASSERT_FATAL(!s_link_room());
    for (; unsent < sent; unsent++)
        s_app_lookup_until(++g_id, "001", deadline);
    CU_ASSERT_EQUAL_FATAL(lt_query_outstanding(c.q), before + sent + unsent);
    while (lt_clock_now_ms() <= deadline) {
        lt_query_tick(c.q, c.local); /* the unsent are tried again */
        zmq_poll(NULL, 0, 50);
    }
    lt_query_tick(c.q, c.local);
    CU_ASSERT_EQUAL(lt_query_outstanding(c.q), before);
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_query_timeouts", "lookup", NULL) - timeouts,
                    (int64_t)(sent + unsent));
    CU_ASSERT_EQUAL(s_stat(c.stats, "lienthong_query_unreachable", "lookup", NULL), unreachable);
    size_t got = 0;
    while ((env = s_app_recv(100, NULL, NULL))) {
        got++;
        CU_ASSERT(env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
                  env->error->code == LIENTHONG__ERROR_CODE__ERR_TIMEOUT &&
                  !strstr(env->error->message, "not connected"));
        lt_wire_free(&env);
    }
    CU_ASSERT(got > 0);
    lt_wire_in_t in;
    while (s_waiting(g.router, 100) && lt_wire_recv(g.router, 1, 0, &in) == 0)
        lt_wire_in_close(&in);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"an id reused after its answer: other bytes refused at once, the same replayed",
         test_id_reused_after_answer},
        {"the same bytes under another on_behalf are no retry", test_retry_under_another_on_behalf},
        {"an answer naming another member as its owner is refused",
         test_answer_naming_another_owner_refused},
        {"an answer from a member the request was not sent to is refused",
         test_answer_from_another_member_refused},
        {"a remembered answer root stands only with its own signature",
         test_root_remembered_with_its_signature},
        {"a new directory forgets the answer roots verified under the old",
         test_rotation_forgets_roots},
        {"a request with neither timeout_ms nor deadline_ms is refused at once",
         test_no_time_refused},
        {"a request the owner does not answer is resent after 1 s, then twice as long, up to 8 s",
         test_resend_backs_off},
        {"the bytes of the outstanding requests are bounded", test_outstanding_bytes_bounded},
        {"an owner connected but not reading: a full link queue times out, not unreachable",
         test_full_queue_times_out},
        {"the table of outstanding requests is bounded", test_outstanding_bounded},
        {NULL, NULL},
    };
    return ut_main("lt_query caller", suite_init, suite_clean, tests);
}

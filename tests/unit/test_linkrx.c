/* test_linkrx: CUnit suite for gateway/lt_linkrx, the dispatch of what
 * arrives on a gateway's links to other members (PROTOCOL.md 3.2, 4.4,
 * 5.3, 6, 7). This gateway is the consumer VN/COM/VIETTEL of
 * owner_directory.h, replicating the population stream of VN/GOV/BCA. A
 * message on the link to a member the directory does not list or lists
 * as suspended, of two frames, or that does not decode is dropped and
 * counted by code, never answered; a type links do not carry is ignored,
 * counted as refused (ERR_UNSUPPORTED). Errors are counted (lt_peererr). The owner's checked
 * batch goes to the queue hook with its envelope (one it refuses is done
 * as not run, the replica subscribing again from its cursor; without the
 * hook it commits at once), another member's never does. Signed answers
 * are LT_LINKRX_ANSWER; an Error reaches both the replica and the
 * outstanding lookup of its owner; a Hello greets the link; a directory
 * offer goes to the poll loop's hook, one held back is refused with
 * ERR_DIRECTORY; a DirectoryRequest is answered with an offer when ours is
 * newer. The modules behind it have their own suites;
 * tests/fuzz/fuzz_feed.c and fuzz_query.c drive this dispatch with any
 * input. */
#include "unit_util.h" /* first: it sets the feature macros */

#include "lt_batch.h"
#include "lt_clock.h"
#include "lt_feed.h"
#include "lt_feed_int.h"
#include "lt_gwstats.h"
#include "lt_linkrx.h"
#include "lt_log.h"
#include "lt_peers.h"
#include "lt_query.h"
#include "lt_store.h"
#include "lt_wire.h"
#include "owner_directory.h"
#include "records/population.pb-c.h"

#include <sodium.h>
#include <zmq.h>

#define CONSUMER  "VN/COM/VIETTEL"
#define OTHER     CONSUMER        /* active, owns no stream of the replica */
#define NOBODY    "VN/GOV/NOBODY" /* not in the directory */
#define OWNER_END "inproc://unit-linkrx-members"
#define LOCAL_END "inproc://unit-linkrx-local"

static struct {
    char tmp[256];
    lt_keys_t *owner, *consumer, *auth;
    lt_gwcfg_t cfg;
    lt_gwctx_t ctx;
    lt_gwstats_codes_t refused;
    lt_feed_t *feed;
    lt_query_t *query;
    lt_linkrx_t rx;
    void *zctx, *owner_end, *local, *app;
    uint8_t history[LT_HISTORY_BYTES];
    uint8_t last_hash[LT_HASH_BYTES]; /* of the replica's last batch */
    int offers_seen;                  /* DirectoryOffers s_drain read */
} G;

/* What the hooks were given, and what they answer. */
static struct {
    int offers, offer_rc;
    char offer_from[LT_ID_MAX];
    int queued, queue_rc;
    lt_feed_apply_t *job;
    Lienthong__Envelope *env;
    const void *link;
} H;

static int s_hook_offer(void *arg, const char *member, const Lienthong__DirectoryOffer *o,
                        char *err, size_t len)
{
    (void)arg;
    (void)o;
    H.offers++;
    snprintf(H.offer_from, sizeof H.offer_from, "%s", member);
    if (H.offer_rc)
        snprintf(err, len, "held back, for the test");
    return H.offer_rc;
}

static int s_hook_queue(void *arg, lt_feed_apply_t *job, Lienthong__Envelope *env, const void *link)
{
    (void)arg;
    H.queued++;
    if (H.queue_rc)
        return H.queue_rc;
    H.job = job;
    H.env = env;
    H.link = link;
    return 0;
}

/* A DEALER connected to the members' ROUTER, attached as the link to member. */
static int s_attach(const char *member)
{
    void *link = zmq_socket(G.zctx, ZMQ_DEALER);
    int zero = 0;
    return link && zmq_setsockopt(link, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
                   zmq_connect(link, OWNER_END) == 0 &&
                   lt_peers_attach(G.ctx.peers, member, link) == 0
               ? 0
               : -1;
}

/* What this gateway sent the members since the last call: the from_seq of
 * its last Subscribe (0 when none); returns how many messages. */
static int s_drain(uint64_t *subscribed_from)
{
    int n = 0;
    *subscribed_from = 0;
    for (;; n++) {
        zmq_msg_t rid, body;
        zmq_msg_init(&rid);
        zmq_msg_init(&body);
        int got = zmq_msg_recv(&rid, G.owner_end, ZMQ_DONTWAIT) >= 0 &&
                  zmq_msg_recv(&body, G.owner_end, 0) >= 0;
        Lienthong__ErrorCode code;
        char err[256];
        Lienthong__Envelope *env = got ? lt_wire_decode(zmq_msg_data(&body), zmq_msg_size(&body),
                                                        1u << 20, &code, err, sizeof err)
                                       : NULL;
        if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_SUBSCRIBE)
            *subscribed_from = env->subscribe->from_seq;
        G.offers_seen += env && env->body_case == LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER;
        lt_wire_free(&env);
        zmq_msg_close(&rid);
        zmq_msg_close(&body);
        if (!got)
            return n;
    }
}

static int suite_init(void)
{
    static const lt_stats_def_t def = {.name = "lienthong_test_link_refused",
                                       .help = "refused",
                                       .kind = LT_STATS_COUNTER,
                                       .n_labels = 1,
                                       .labels = {"reason"},
                                       .max_series = 20};
    char err[1024] = "", path[300];
    lt_log_set_level((lt_log_level_t)(LT_LOG_ERROR + 1)); /* refusals are the cases here */
    if (sodium_init() < 0 || ut_mkdtemp(G.tmp, sizeof G.tmp, "linkrx") != 0 ||
        !(G.owner = lt_keys_new(LT_KEYS_MEMBER)) || !(G.consumer = lt_keys_new(LT_KEYS_MEMBER)) ||
        !(G.auth = lt_keys_new(LT_KEYS_AUTHORITY)) ||
        !(G.ctx.dir =
              od_directory_keyed(G.tmp, G.owner, G.consumer, G.auth, "", "", err, sizeof err))) {
        fprintf(stderr, "test_linkrx: %s\n", err[0] ? err : "set-up failed");
        return -1;
    }
    randombytes_buf(G.history, sizeof G.history);
    snprintf(G.cfg.member, sizeof G.cfg.member, "%s", CONSUMER);
    G.cfg.max_message = 1u << 20;
    G.cfg.batch_max = LT_BATCH_MAX_RECORDS;
    G.cfg.credit = 1000;
    snprintf(G.cfg.subs[0].stream, sizeof G.cfg.subs[0].stream, "%s", OD_POP);
    G.cfg.n_subs = 1;
    G.ctx.cfg = &G.cfg;
    G.ctx.keys = G.consumer;
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    int zero = 0;
    if (!(G.ctx.store = lt_store_open(path, err, sizeof err)) || !(G.ctx.stats = lt_stats_new()) ||
        lt_gwstats_codes_init(&G.refused, G.ctx.stats, &def, NULL) != 0 ||
        !(G.zctx = zmq_ctx_new()) || !(G.owner_end = zmq_socket(G.zctx, ZMQ_ROUTER)) ||
        zmq_setsockopt(G.owner_end, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_bind(G.owner_end, OWNER_END) != 0 || !(G.local = zmq_socket(G.zctx, ZMQ_ROUTER)) ||
        zmq_bind(G.local, LOCAL_END) != 0 || !(G.app = zmq_socket(G.zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(G.app, ZMQ_ROUTING_ID, "app", 3) != 0 ||
        zmq_connect(G.app, LOCAL_END) != 0 || !(G.ctx.peers = lt_peers_new(&G.ctx, G.zctx, &so)) ||
        s_attach(OD_OWNER) != 0 || s_attach(OTHER) != 0 || s_attach(NOBODY) != 0 ||
        !(G.ctx.peer_errors = lt_peererr_new(G.ctx.stats, 0)) || !(G.feed = lt_feed_new(&G.ctx)) ||
        !(G.query = lt_query_new(&G.ctx)))
        return -1;
    G.rx = (lt_linkrx_t){.ctx = &G.ctx,
                         .refused = &G.refused,
                         .feed = G.feed,
                         .query = G.query,
                         .local = G.local,
                         .hooks = {.offer = s_hook_offer, .queue = s_hook_queue}};
    uint64_t from;
    lt_feed_tick(G.feed); /* subscribes */
    (void)s_drain(&from);
    return from == 1 ? 0 : -1;
}

static int suite_clean(void)
{
    lt_query_destroy(&G.query);
    lt_feed_destroy(&G.feed);
    lt_peers_destroy(&G.ctx.peers); /* closes the links */
    if (G.owner_end)
        zmq_close(G.owner_end);
    if (G.local)
        zmq_close(G.local);
    if (G.app)
        zmq_close(G.app);
    if (G.zctx)
        zmq_ctx_term(G.zctx);
    lt_peererr_destroy(&G.ctx.peer_errors);
    lt_stats_destroy(&G.ctx.stats);
    lt_store_destroy(&G.ctx.store);
    lt_dir_destroy(&G.ctx.dir);
    lt_keys_destroy(&G.owner);
    lt_keys_destroy(&G.consumer);
    lt_keys_destroy(&G.auth);
    (void)ut_rmrf(G.tmp);
    return 0;
}

/* ---- messages on a link ------------------------------------------------------- */

static size_t s_index(const char *member)
{
    for (size_t i = 0; i < lt_peers_links(G.ctx.peers); i++)
        if (strcmp(lt_peers_link_member(G.ctx.peers, i), member) == 0)
            return i;
    CU_FAIL_FATAL("no link to the member");
    return 0;
}

/* Hands `frames` frames of bytes (the first is buf) to the dispatch as
 * received on the link to member: its code. */
static int s_bytes(const char *member, const void *buf, size_t len, int frames)
{
    lt_wire_in_t in;
    memset(&in, 0, sizeof in);
    CU_ASSERT_FATAL(zmq_msg_init_size(&in.body, len) == 0);
    memcpy(zmq_msg_data(&in.body), buf, len);
    in.frames = frames;
    int rc = lt_linkrx_on_message(&G.rx, s_index(member), &in);
    lt_wire_in_close(&in);
    return rc;
}

/* The same for body, a message of the envelope field type c. */
static int s_body(const char *member, Lienthong__Envelope__BodyCase c, const void *body)
{
    zmq_msg_t m;
    CU_ASSERT_FATAL(lt_wire_pack_body(&m, c, body) == 0);
    int rc = s_bytes(member, zmq_msg_data(&m), zmq_msg_size(&m), 1);
    zmq_msg_close(&m);
    return rc;
}

static uint64_t s_refused(Lienthong__ErrorCode code)
{
    return lt_gwstats_codes_get(&G.refused, code);
}

static int s_greeted(void)
{
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    CU_ASSERT_FATAL(lt_peers_status(G.ctx.peers, &r) == 0);
    int n = (int)r.n_peers_connected;
    lt_peers_status_free(&r);
    return n;
}

/* ---- the owner's batches ------------------------------------------------------ */

/* The owner's next batch of one record (seq first, key "0000000000NN"),
 * chained from the replica's last. */
typedef struct {
    Lienthong__Batch b;
    ProtobufCBinaryData rec;
    uint8_t bytes[512], sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    char key[24];
} batch_t;

static void s_batch(batch_t *x, uint64_t first)
{
    uint8_t payload[256];
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    snprintf(x->key, sizeof x->key, "%012llu", (unsigned long long)first);
    p.personal_id = x->key;
    p.full_name = "Nguyễn Văn An";
    Lienthong__Record r = LIENTHONG__RECORD__INIT;
    r.seq = first;
    r.key = x->key;
    r.payload.data = payload;
    r.payload.len = lienthong__records__population__pack(&p, payload);
    x->rec = (ProtobufCBinaryData){lienthong__record__pack(&r, x->bytes), x->bytes};
    CU_ASSERT_FATAL(lt_batch_sign_history(G.owner, OD_POP, G.history, first, &x->rec, 1,
                                          G.last_hash, x->sig, x->hash) == 0);
    lienthong__batch__init(&x->b);
    x->b.stream = OD_POP;
    x->b.first_seq = first;
    x->b.records = &x->rec;
    x->b.n_records = 1;
    x->b.signature = (ProtobufCBinaryData){LT_SIG_BYTES, x->sig};
    x->b.history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, G.history};
}

static uint64_t s_last_seq(void)
{
    lt_stream_t st;
    memset(&st, 0, sizeof st);
    CU_ASSERT(lt_store_stream_find(G.ctx.store, OD_POP, &st) == 1);
    return st.last_seq;
}

/* ---- cases --------------------------------------------------------------------- */

/* A member the directory does not list, whatever its message says. */
static void test_unlisted_member(void)
{
    uint64_t before = s_refused(LIENTHONG__ERROR_CODE__ERR_UNKNOWN_MEMBER), from;
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.directory_version = lt_dir_version(G.ctx.dir);
    CU_ASSERT_EQUAL(s_body(NOBODY, LIENTHONG__ENVELOPE__BODY_HELLO, &h), -1);
    CU_ASSERT_EQUAL(s_refused(LIENTHONG__ERROR_CODE__ERR_UNKNOWN_MEMBER), before + 1);
    CU_ASSERT_EQUAL(s_greeted(), 0);
    CU_ASSERT_EQUAL(s_drain(&from), 0); /* never answered */
}

/* Two frames; bytes that do not decode; a type links do not carry. */
static void test_malformed_and_unexpected(void)
{
    uint64_t before = s_refused(LIENTHONG__ERROR_CODE__ERR_MALFORMED), from;
    CU_ASSERT_EQUAL(s_bytes(OD_OWNER, "a", 1, 2), -1);
    CU_ASSERT_EQUAL(s_refused(LIENTHONG__ERROR_CODE__ERR_MALFORMED), before + 1);
    CU_ASSERT_EQUAL(s_bytes(OD_OWNER, "\xff\xff", 2, 1), -1);
    CU_ASSERT_EQUAL(s_refused(LIENTHONG__ERROR_CODE__ERR_MALFORMED), before + 2);
    uint64_t unsupported = s_refused(LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED);
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = OD_POP;
    /* Ignored, but counted and reported as a refusal (lt_reject): a
     * member may send any number. */
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_SUBSCRIBE, &m), 0);
    CU_ASSERT_EQUAL(s_refused(LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED), unsupported + 1);
    CU_ASSERT_EQUAL(s_drain(&from), 0);
}

/* The owner's Hello greets its link. */
static void test_hello(void)
{
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.directory_version = lt_dir_version(G.ctx.dir);
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_HELLO, &h), 0);
    CU_ASSERT_EQUAL(s_greeted(), 1);
}

/* Offers this gateway sent the members since the last call. */
static int s_offers_sent(void)
{
    uint64_t from;
    int before = G.offers_seen;
    (void)s_drain(&from);
    return G.offers_seen - before;
}

/* A DirectoryRequest on a link is answered as on the ROUTER (PROTOCOL.md
 * 4.3, 5.1): an offer when ours is newer, none when it is not, and one a
 * version per second. */
static void test_directory_request(void)
{
    Lienthong__DirectoryRequest r = LIENTHONG__DIRECTORY_REQUEST__INIT;
    (void)s_offers_sent();
    uint64_t all = lt_gwstats_codes_sum(&G.refused);
    r.have_version = lt_dir_version(G.ctx.dir);
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST, &r), 0);
    CU_ASSERT_EQUAL(s_offers_sent(), 0);
    r.have_version = 0;
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST, &r), 0);
    CU_ASSERT_EQUAL(s_offers_sent(), 1);
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST, &r), 0);
    CU_ASSERT_EQUAL(s_offers_sent(), 0); /* asked again within the second: on its way */
    CU_ASSERT_EQUAL(lt_gwstats_codes_sum(&G.refused), all);
}

/* A checked batch goes to the queue with its envelope; another member's
 * never does; the replica moves when the queue commits it. */
static void test_batch_to_the_queue(void)
{
    batch_t x;
    s_batch(&x, 1);
    H.queued = H.queue_rc = 0;
    CU_ASSERT_EQUAL(s_body(OTHER, LIENTHONG__ENVELOPE__BODY_BATCH, &x.b), 0);
    CU_ASSERT_EQUAL(H.queued, 0);
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_BATCH, &x.b), 0);
    CU_ASSERT_EQUAL_FATAL(H.queued, 1);
    CU_ASSERT(H.link == lt_peers_link_socket(G.ctx.peers, s_index(OD_OWNER)));
    CU_ASSERT_FATAL(H.env && H.env->body_case == LIENTHONG__ENVELOPE__BODY_BATCH);
    CU_ASSERT_EQUAL(H.env->batch->first_seq, 1);
    CU_ASSERT_EQUAL(s_last_seq(), 0); /* not before the queue commits it */
    lt_feed_group_t g = {.jobs = {H.job}, .n = 1};
    CU_ASSERT_EQUAL(lt_feed_group_plan(G.feed, &g), 1);
    lt_feed_group_apply(&g, G.ctx.store);
    lt_feed_batch_done(G.feed, &H.job);
    lt_wire_free(&H.env); /* the queue's, after the job is done */
    CU_ASSERT_EQUAL(s_last_seq(), 1);
    memcpy(G.last_hash, x.hash, LT_HASH_BYTES);
    uint64_t from;
    (void)s_drain(&from); /* the credit */
}

/* A batch the queue cannot take is done as not run: nothing is kept and
 * the replica subscribes again from its durable cursor. */
static void test_batch_queue_full(void)
{
    batch_t x;
    s_batch(&x, 2);
    H.queued = 0;
    H.queue_rc = -1;
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_BATCH, &x.b), 0);
    H.queue_rc = 0;
    CU_ASSERT_EQUAL(H.queued, 1);
    CU_ASSERT_EQUAL(s_last_seq(), 1);
    uint64_t from;
    (void)s_drain(&from);
    CU_ASSERT_EQUAL(from, 2);
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->state, LT_FEED_LIVE);
}

/* Without a queue hook, a batch commits at once on the store. */
static void test_batch_at_once(void)
{
    batch_t x;
    s_batch(&x, 2);
    G.rx.hooks.queue = NULL;
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_BATCH, &x.b), 0);
    G.rx.hooks.queue = s_hook_queue;
    CU_ASSERT_EQUAL(s_last_seq(), 2);
    memcpy(G.last_hash, x.hash, LT_HASH_BYTES);
    uint64_t from;
    (void)s_drain(&from);
}

/* With the link still open, an owner the directory now lists as suspended
 * (an adoption that could not close its link, PROTOCOL.md 3.2): every
 * message on it is dropped as ERR_REVOKED, never answered, before it is
 * read: its batch reaches neither the queue nor the replica, which stays
 * live. */
static void test_suspended_member_dropped(void)
{
    char err[1024] = "";
    lt_dir_t *active = G.ctx.dir,
             *suspended = od_directory_status(G.tmp, G.owner, G.consumer, G.auth, "", "", "",
                                              "suspended", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(suspended);
    G.ctx.dir = suspended;
    uint64_t before = s_refused(LIENTHONG__ERROR_CODE__ERR_REVOKED), from;
    batch_t x;
    s_batch(&x, 3);
    H.queued = 0;
    /* The Hello first: a batch the replica refused would close the link. */
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.directory_version = lt_dir_version(G.ctx.dir);
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_HELLO, &h), -1);
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_BATCH, &x.b), -1);
    G.ctx.dir = active;
    lt_dir_destroy(&suspended);
    CU_ASSERT_EQUAL(s_refused(LIENTHONG__ERROR_CODE__ERR_REVOKED), before + 2);
    CU_ASSERT_EQUAL(H.queued, 0);
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->state, LT_FEED_LIVE);
    CU_ASSERT_EQUAL(s_last_seq(), 2);
    CU_ASSERT_EQUAL(s_drain(&from), 0);
}

/* Offers go to the poll loop; one it holds back is refused and counted. */
static void test_offers(void)
{
    Lienthong__DirectoryOffer o = LIENTHONG__DIRECTORY_OFFER__INIT;
    uint64_t before = s_refused(LIENTHONG__ERROR_CODE__ERR_DIRECTORY), from;
    H.offers = H.offer_rc = 0;
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER, &o), 0);
    CU_ASSERT_EQUAL(H.offers, 1);
    CU_ASSERT_STRING_EQUAL(H.offer_from, OD_OWNER);
    CU_ASSERT_EQUAL(s_refused(LIENTHONG__ERROR_CODE__ERR_DIRECTORY), before);
    H.offer_rc = -1;
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER, &o), -1);
    H.offer_rc = 0;
    CU_ASSERT_EQUAL(H.offers, 2);
    CU_ASSERT_EQUAL(s_refused(LIENTHONG__ERROR_CODE__ERR_DIRECTORY), before + 1);
    G.rx.hooks.offer = NULL; /* ignored */
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER, &o), 0);
    G.rx.hooks.offer = s_hook_offer;
    CU_ASSERT_EQUAL(H.offers, 2);
    CU_ASSERT_EQUAL(s_refused(LIENTHONG__ERROR_CODE__ERR_DIRECTORY), before + 1);
    CU_ASSERT_EQUAL(s_drain(&from), 0); /* nothing answered on a link */
}

/* The application's lookup 41 of the owner, outstanding at the query. */
static void s_app_lookup(void)
{
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = 41;
    q.dataset = OD_POP;
    q.key = "000000000001";
    q.purpose = "KYC";
    q.deadline_ms = lt_clock_now_ms() + 60000;
    lt_wire_in_t in;
    Lienthong__ErrorCode code;
    char err[256];
    CU_ASSERT_FATAL(
        lt_wire_send_body(G.app, NULL, 0, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q) == 0);
    CU_ASSERT_FATAL(lt_wire_recv(G.local, 1, 0, &in) == 0);
    Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                              1u << 20, &code, err, sizeof err);
    CU_ASSERT_FATAL(env != NULL);
    lt_query_on_local(G.query, G.local, &in, env);
    lt_wire_free(&env);
    lt_wire_in_close(&in);
}

/* What the application received within ms, or NULL. */
static Lienthong__Envelope *s_app_recv(long ms)
{
    zmq_pollitem_t it = {G.app, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, ms) <= 0)
        return NULL;
    zmq_msg_t m;
    zmq_msg_init(&m);
    Lienthong__ErrorCode code;
    char err[256];
    Lienthong__Envelope *env = NULL;
    if (zmq_msg_recv(&m, G.app, 0) >= 0)
        env = lt_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), 1u << 20, &code, err, sizeof err);
    zmq_msg_close(&m);
    return env;
}

/* A signed answer is LT_LINKRX_ANSWER (a forged one goes no further); an
 * Error reaches the lookup and the replica of the link's member only. */
static void test_answers_and_errors(void)
{
    uint64_t from;
    s_app_lookup();
    CU_ASSERT_EQUAL(s_drain(&from), 1); /* forwarded to the owner */
    uint8_t junk[LT_SIG_BYTES] = {0};
    Lienthong__SignedAnswer sa = LIENTHONG__SIGNED_ANSWER__INIT;
    sa.answer = (ProtobufCBinaryData){3, (uint8_t *)"abc"};
    sa.root_signature = (ProtobufCBinaryData){LT_SIG_BYTES, junk};
    sa.proof_count = 1;
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY, &sa),
                    LT_LINKRX_ANSWER);
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY, &sa),
                    LT_LINKRX_ANSWER);
    Lienthong__Envelope *got = s_app_recv(100);
    CU_ASSERT(got == NULL);
    lt_wire_free(&got);
    /* Another member's Error names neither its lookup nor its replica. */
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    e.code = LIENTHONG__ERROR_CODE__ERR_FORBIDDEN;
    e.request_id = 41;
    e.message = OD_POP ": no policy allows it";
    uint64_t heard = lt_peererr_total(G.ctx.peer_errors);
    CU_ASSERT_EQUAL(s_body(OTHER, LIENTHONG__ENVELOPE__BODY_ERROR, &e), 0);
    CU_ASSERT_EQUAL(lt_peererr_total(G.ctx.peer_errors), heard + 1); /* counted */
    got = s_app_recv(100);
    CU_ASSERT(got == NULL);
    lt_wire_free(&got);
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->state, LT_FEED_LIVE);
    /* The owner's ends both. */
    CU_ASSERT_EQUAL(s_body(OD_OWNER, LIENTHONG__ENVELOPE__BODY_ERROR, &e), 0);
    got = s_app_recv(1000);
    CU_ASSERT(got && got->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              got->error->code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN &&
              got->error->request_id == 41);
    lt_wire_free(&got);
    CU_ASSERT_NOT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->state, LT_FEED_LIVE);
    CU_ASSERT_EQUAL(s_drain(&from), 0);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a member the directory does not list is dropped", test_unlisted_member},
        {"two frames, undecodable: dropped; a type links do not carry: ignored, counted",
         test_malformed_and_unexpected},
        {"the owner's Hello greets its link", test_hello},
        {"a DirectoryRequest on a link is answered with an offer", test_directory_request},
        {"the owner's checked batch goes to the queue, another member's does not",
         test_batch_to_the_queue},
        {"a batch the queue cannot take is done as not run", test_batch_queue_full},
        {"without a queue, a batch commits at once", test_batch_at_once},
        {"a member suspended meanwhile, its link open: each message dropped as ERR_REVOKED",
         test_suspended_member_dropped},
        {"offers go to the poll loop; one held back is refused", test_offers},
        {"answers and errors go to the query and the replica of their member",
         test_answers_and_errors},
        {NULL, NULL},
    };
    return ut_main("lt_linkrx", suite_init, suite_clean, tests);
}

/* fuzz_owner: libFuzzer target for the owner's side of feeds and peers
 * (PROTOCOL.md 3.3, 5.1, 6.2 to 6.7, 6.10): what a peer's Subscribe,
 * Credit, Unsubscribe and Range request, Hello and DirectoryRequest do to
 * an owner gateway, and the batches, snapshot parts and range answers the
 * pump then sends.
 *
 * Set-up (once): the owner context of the unit suites (tests/unit/unit_gw.h:
 * the directory of tests/owner_directory.h, where VN/COM/VIETTEL may
 * subscribe to VN/GOV/BCA/population, a store in a temporary directory,
 * fresh owner keys, an inproc ROUTER standing for the peer socket and the
 * consumer's DEALER "consumer"), 300 population records published in 250
 * keys through lt_feed_advanced, the feed module (with an in-memory tail of
 * batches), the peers and query modules, and the gateway's dispatch of the
 * peer socket over them (lt_peersock), whose hook says whether the owner
 * serves no data to peers (5.4, 5.6) as a script says; directory offers
 * are not taken (no hook). The feed is recreated every RESET_EVERY
 * inputs, and every input ends with lt_feed_drop_peers, so subscriptions
 * never accumulate.
 *
 * Each input is used twice:
 *  1. as one frame from VN/COM/VIETTEL on the consumer's routing id,
 *     handed to lt_peersock_on_message as the gateway's peer socket does,
 *     then the pump runs;
 *  2. as a script of operations whose field values the harness packs into
 *     valid messages (so that most reach the handlers' checks rather than
 *     the decoder's): see s_script.
 * Invariants (abort), checked on everything the consumer receives: a batch
 * arrives only on a subscription the owner accepted, never during its
 * snapshot, never with more records than the credit granted, and verifies
 * under the owner's key chained from the Subscribe's cursor (or from the
 * snapshot's end); snapshot chunks chain from leaf 0 and their end verifies
 * over the Merkle root of all their records; a range answer holds exactly
 * the records asked, signed from the prev hash given; the dispatch serves
 * exactly a message of a type the peer socket handles, decodable, from an
 * active member, and not held back while no data is served, when an Error
 * comes back.
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. */
#include "unit/unit_gw.h" /* first: it sets the feature macros */

#include "fuzz_common.h"
#include "lt_batch.h"
#include "lt_clock.h"
#include "lt_feed.h"
#include "lt_peers.h"
#include "lt_peersock.h"
#include "lt_query.h"
#include "lt_snap.h"

#define RECORDS     200
#define KEYS        160
#define RESET_EVERY 4096
#define MAX_PUMPS   16
#define MAX_OPS     32
/* Subscribes asking for a snapshot per script: each opens a reading of the
 * store (a connection of its own), the slowest step by far. */
#define MAX_SNAPSHOTS 1

/* Streams a script names by index: the allowed one first. */
static const char *const s_streams[] = {
    OD_POP, OD_P38,           OD_ALIVE38, OD_PHONES, OD_ACTIVE, OD_FOREIGN, "VN/GOV/BCA/nothing",
    "",     "not a stream id"};
#define N_STREAMS (sizeof s_streams / sizeof s_streams[0])
/* Members a message may come from (its ZAP User-Id). */
static const char *const s_users[] = {UG_CALLER, OD_OWNER, "VN/GOV/UNKNOWN", ""};
/* Routing ids: the consumer's DEALER, and one nobody holds. */
static const char *const s_rids[] = {"consumer", "ghost"};

/* What the consumer expects of its subscription to one stream. */
typedef struct {
    int active;
    uint64_t next;
    uint8_t prev[LT_HASH_BYTES];
    int64_t credit;
    int snap;                         /* a snapshot is due before batches */
    uint64_t snap_index, snap_seq;    /* leaves received, S */
    uint8_t snap_prev[LT_HASH_BYTES]; /* chain of chunks */
    lt_snap_merkle_t acc;
} expect_t;

static struct {
    int ready;
    ug_t g;
    lt_feed_t *feed;
    lt_peers_t *peers;
    lt_query_t *query;
    lt_peersock_t peersock; /* the gateway's dispatch of the peer socket */
    int no_data;            /* the owner serves no data to peers, as the hook says */
    uint8_t history[LT_HISTORY_BYTES];
    unsigned runs;
    expect_t ex[N_STREAMS];
    /* The Range asked last (answers come at once). */
    int range_asked;
    uint64_t range_first, range_last;
    uint8_t range_prev[LT_HASH_BYTES];
} G;

static void s_write_seeds(const char *dir);

/* Whether the owner serves no data to peers now, and why (5.4, 5.6). */
static int s_hook_no_data(void *arg, char *why, size_t len)
{
    (void)arg;
    if (G.no_data)
        snprintf(why, len, "%s serves no data to peers: its directory expired", OD_OWNER);
    return G.no_data;
}

static void s_feed_new(void)
{
    lt_feed_destroy(&G.feed);
    if (!(G.feed = lt_feed_new(&G.g.ctx)))
        abort();
    G.peersock = (lt_peersock_t){
        .ctx = &G.g.ctx, .feed = G.feed, .query = G.query, .hooks = {.no_data = s_hook_no_data}};
}

static void s_cleanup(void)
{
    lt_query_destroy(&G.query);
    lt_feed_destroy(&G.feed);
    lt_peers_destroy(&G.peers);
    G.g.ctx.peers = NULL;
    ug_close(&G.g);
}

/* The stream's history (assigned on first use): from a status reply. */
static void s_learn_history(void)
{
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    lt_feed_status(G.feed, &r);
    int found = 0;
    for (size_t i = 0; i < r.n_streams; i++)
        if (strcmp(r.streams[i]->stream, OD_POP) == 0 && r.streams[i]->history &&
            r.streams[i]->history->id.len == LT_HISTORY_BYTES) {
            memcpy(G.history, r.streams[i]->history->id.data, LT_HISTORY_BYTES);
            found = 1;
        }
    lt_feed_status_free(&r);
    if (!found)
        abort();
}

static void s_init(void)
{
    if (G.ready)
        return;
    G.ready = 1;
    fuzz_tmp_on_shm();
    if (ug_open(&G.g, "fuzz-owner") != 0)
        abort();
    atexit(s_cleanup);
    G.g.cfg.tail_batches = 64;
    G.g.cfg.tail_bytes = 4 << 20;
    int zero = 0;
    if (zmq_setsockopt(G.g.router, ZMQ_SNDHWM, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(G.g.dealer, ZMQ_RCVHWM, &zero, sizeof zero) != 0)
        abort();
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    if (!(G.peers = lt_peers_new(&G.g.ctx, G.g.zctx, &so)) || !(G.query = lt_query_new(&G.g.ctx)))
        abort();
    G.g.ctx.peers = G.peers;
    /* A fixed history rather than the store's random one, so that the seed
     * subscribe-cursor names the history every run has and is written
     * again byte for byte. */
    lt_stream_t row;
    uint8_t history[LT_HISTORY_BYTES];
    memset(history, 0x5a, sizeof history);
    if (lt_store_stream(G.g.ctx.store, OD_POP, &row) != 0 ||
        lt_store_history_set(G.g.ctx.store, row.id, history, NULL) != 0)
        abort();
    s_feed_new();
    for (int i = 0; i < RECORDS; i++) {
        char key[16], name[32];
        snprintf(key, sizeof key, "%012d", 1000 + i % KEYS);
        snprintf(name, sizeof name, "Nguy\xe1\xbb\x85n %d", i);
        if (ug_publish(&G.g, key, name, lt_feed_advanced, G.feed) != 0)
            abort();
    }
    /* Opening the stream loads its history. */
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = OD_POP;
    m.from_seq = 1;
    lt_wire_in_t in;
    Lienthong__Envelope *env = NULL;
    if (ug_send(&G.g, LIENTHONG__ENVELOPE__BODY_SUBSCRIBE, &m, &in, &env) != 0)
        abort();
    lt_feed_on_subscribe(G.feed, G.g.router, &in, env->subscribe);
    lt_wire_free(&env);
    lt_wire_in_close(&in);
    lt_feed_drop_peers(G.feed);
    s_learn_history();
    const char *seeds = getenv("FUZZ_WRITE_SEEDS");
    if (seeds && seeds[0])
        s_write_seeds(seeds);
}

/* ---- what the consumer receives ------------------------------------------------ */

static expect_t *s_expect(const char *stream)
{
    for (size_t i = 0; i < N_STREAMS; i++)
        if (strcmp(s_streams[i], stream) == 0)
            return &G.ex[i];
    return NULL;
}

static const uint8_t *s_pk(void)
{
    return lt_keys_signing_public(G.g.ctx.keys);
}

static void s_on_batch(const Lienthong__Batch *b)
{
    expect_t *e = s_expect(b->stream);
    uint8_t hash[LT_HASH_BYTES];
    char err[256];
    if (!e || !e->active || e->snap || (int64_t)b->n_records > e->credit)
        abort(); /* unasked, during a snapshot, or beyond the credit */
    if (lt_batch_verify(b, b->stream, e->next, e->prev, s_pk(), hash, err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_owner: batch %s from %llu: %s\n", b->stream,
                (unsigned long long)e->next, err);
        abort();
    }
    e->next += b->n_records;
    e->credit -= (int64_t)b->n_records;
    memcpy(e->prev, hash, LT_HASH_BYTES);
}

static void s_on_chunk(const Lienthong__SnapshotChunk *c)
{
    expect_t *e = s_expect(c->stream);
    uint8_t hash[LT_HASH_BYTES];
    char err[256];
    if (!e || !e->active || !e->snap || (int64_t)c->n_records > e->credit ||
        (e->snap_index && c->snapshot_seq != e->snap_seq))
        abort();
    if (lt_snap_chunk_verify(c, c->stream, e->snap_index, e->snap_prev, s_pk(), hash, err,
                             sizeof err) != 0) {
        fprintf(stderr, "fuzz_owner: chunk %s at %llu: %s\n", c->stream,
                (unsigned long long)e->snap_index, err);
        abort();
    }
    for (size_t i = 0; i < c->n_records; i++)
        lt_snap_merkle_add(&e->acc, c->records[i].data, c->records[i].len);
    e->snap_seq = c->snapshot_seq;
    e->snap_index += c->n_records;
    e->credit -= (int64_t)c->n_records;
    memcpy(e->snap_prev, hash, LT_HASH_BYTES);
}

static void s_on_end(const Lienthong__SnapshotEnd *end)
{
    expect_t *e = s_expect(end->stream);
    uint8_t hash[LT_HASH_BYTES], root[LT_HASH_BYTES];
    char err[256];
    if (!e || !e->active || !e->snap)
        abort();
    uint64_t seq = e->snap_index ? e->snap_seq : end->snapshot_seq;
    lt_snap_merkle_root(&e->acc, root);
    if (lt_snap_end_verify(end, end->stream, seq, e->snap_index, e->snap_prev, root, s_pk(), hash,
                           err, sizeof err) != 0) {
        fprintf(stderr, "fuzz_owner: end %s: %s\n", end->stream, err);
        abort();
    }
    e->snap = 0;
    e->next = seq + 1;
    memcpy(e->prev, hash, LT_HASH_BYTES);
}

static void s_on_range(const Lienthong__Range *r)
{
    uint8_t hash[LT_HASH_BYTES];
    char err[256];
    const Lienthong__Batch *b = r->batch;
    if (!G.range_asked || !b || r->first_seq != G.range_first || r->last_seq != G.range_last ||
        b->first_seq != r->first_seq || b->n_records != r->last_seq - r->first_seq + 1 ||
        strcmp(b->stream, r->stream) != 0)
        abort();
    if (lt_batch_verify(b, b->stream, b->first_seq, G.range_prev, s_pk(), hash, err, sizeof err) !=
        0) {
        fprintf(stderr, "fuzz_owner: range %s %llu..%llu: %s\n", b->stream,
                (unsigned long long)r->first_seq, (unsigned long long)r->last_seq, err);
        abort();
    }
    G.range_asked = 0;
}

/* Takes everything waiting for the consumer; returns 1 when an Error or a
 * HistoryChanged was among it (a refusal). */
static int s_drain(void)
{
    int refused = 0;
    zmq_msg_t m;
    for (;;) {
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, G.g.dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return refused;
        }
        Lienthong__ErrorCode code;
        char err[256];
        Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m),
                                                  G.g.cfg.max_message, &code, err, sizeof err);
        if (!env)
            abort(); /* the owner sent what no peer can decode */
        switch (env->body_case) {
        case LIENTHONG__ENVELOPE__BODY_BATCH:
            s_on_batch(env->batch);
            break;
        case LIENTHONG__ENVELOPE__BODY_SNAPSHOT_CHUNK:
            s_on_chunk(env->snapshot_chunk);
            break;
        case LIENTHONG__ENVELOPE__BODY_SNAPSHOT_END:
            s_on_end(env->snapshot_end);
            break;
        case LIENTHONG__ENVELOPE__BODY_RANGE:
            s_on_range(env->range);
            break;
        case LIENTHONG__ENVELOPE__BODY_ERROR:
        case LIENTHONG__ENVELOPE__BODY_HISTORY_CHANGED:
            refused = 1;
            break;
        default:
            break; /* Hello, DirectoryOffer */
        }
        lt_wire_free(&env);
        zmq_msg_close(&m);
    }
}

static void s_pump(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        int sent = lt_feed_pump(G.feed, G.g.router, NULL);
        s_drain();
        if (sent == 0)
            break;
    }
}

/* ---- dispatch, as the gateway's peer socket does ------------------------------ */

/* Updates what the consumer expects after a message it sent was handled
 * (refused: an Error or HistoryChanged came back at once). */
static void s_expect_after(const Lienthong__Envelope *env, int refused)
{
    if (refused)
        return;
    expect_t *e;
    switch (env->body_case) {
    case LIENTHONG__ENVELOPE__BODY_SUBSCRIBE: {
        const Lienthong__Subscribe *m = env->subscribe;
        if (!(e = s_expect(m->stream)))
            abort(); /* accepted a stream the directory does not have */
        memset(e, 0, sizeof *e);
        e->active = 1;
        e->next = m->from_seq;
        if (m->from_seq > 1)
            memcpy(e->prev, m->prev_hash.data, LT_HASH_BYTES);
        e->credit = m->credit;
        e->snap = m->snapshot;
        lt_snap_merkle_init(&e->acc);
        break;
    }
    case LIENTHONG__ENVELOPE__BODY_CREDIT:
        if (!(e = s_expect(env->credit->stream)) || !e->active)
            abort(); /* credit accepted for no subscription */
        e->credit += env->credit->credit;
        if (e->credit > LT_CREDIT_MAX)
            e->credit = LT_CREDIT_MAX;
        break;
    case LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE:
        if (!(e = s_expect(env->unsubscribe->stream)) || !e->active)
            abort();
        e->active = 0;
        break;
    default:
        break;
    }
}

/* Whether the peer socket hands body to a module (PROTOCOL.md 4.3, M->M). */
static int s_handled(Lienthong__Envelope__BodyCase c)
{
    switch (c) {
    case LIENTHONG__ENVELOPE__BODY_HELLO:
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER:
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_SUBSCRIBE:
    case LIENTHONG__ENVELOPE__BODY_CREDIT:
    case LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE:
    case LIENTHONG__ENVELOPE__BODY_RANGE:
    case LIENTHONG__ENVELOPE__BODY_ERROR:
        return 1;
    default:
        return 0;
    }
}

/* Whether body passes while no data goes to peers: what renews the
 * directory or ends something (5.4, 5.6). */
static int s_passes(Lienthong__Envelope__BodyCase c)
{
    return c == LIENTHONG__ENVELOPE__BODY_HELLO || c == LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER ||
           c == LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST ||
           c == LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE || c == LIENTHONG__ENVELOPE__BODY_ERROR;
}

/* Hands one message from a peer (user, on routing id rid) to the owner as
 * the gateway's peer socket does (lt_peersock_on_message, then the answers
 * of the drain signed and sent), then runs the pump `pumps` times. The
 * model reads its own decoding of the message. */
static void s_deliver(const uint8_t *buf, size_t len, const char *user, const char *rid, int pumps)
{
    Lienthong__ErrorCode code;
    char err[256];
    Lienthong__Envelope *env =
        lt_wire_decode(buf, len, G.g.cfg.max_message, &code, err, sizeof err);
    Lienthong__Envelope__BodyCase body = env ? env->body_case : LIENTHONG__ENVELOPE__BODY__NOT_SET;
    lt_wire_in_t in;
    memset(&in, 0, sizeof in);
    in.rid_len = strlen(rid);
    memcpy(in.rid, rid, in.rid_len);
    snprintf(in.user_id, sizeof in.user_id, "%s", user);
    if (zmq_msg_init_size(&in.body, len) != 0)
        abort();
    if (len)
        memcpy(zmq_msg_data(&in.body), buf, len);
    in.frames = 1;
    const Lienthong__Member *mb = lt_dir_member(G.g.ctx.dir, user);
    int mine = strcmp(rid, "consumer") == 0;
    int active = mb && mb->status == LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE;
    int held = active && env && G.no_data && !s_passes(body);
    int served = active && env && !held && s_handled(body);
    if (served && mine && body == LIENTHONG__ENVELOPE__BODY_RANGE && env->range->first_seq > 0) {
        /* What the answer must be signed from. */
        G.range_asked = 1;
        G.range_first = env->range->first_seq;
        G.range_last = env->range->last_seq;
        memset(G.range_prev, 0, LT_HASH_BYTES);
        if (env->range->first_seq > 1 && env->range->prev_hash.len == LT_HASH_BYTES)
            memcpy(G.range_prev, env->range->prev_hash.data, LT_HASH_BYTES);
    }
    /* Anything left for the consumer was drained after the last step. */
    if (lt_peersock_on_message(&G.peersock, G.g.router, &in) != (served ? 0 : -1))
        abort(); /* refused what it serves, or served what it must refuse */
    lt_query_flush(G.query);
    int refused = s_drain();
    if (mine && held && !refused)
        abort(); /* held back while no data is served, without a word (5.6) */
    if (mine && served)
        s_expect_after(env, refused);
    G.range_asked = 0;
    lt_wire_in_close(&in);
    lt_wire_free(&env);
    s_pump(pumps);
}

/* Packs a message of type c as an envelope; set its body, then s_send. */
static Lienthong__Envelope s_env(Lienthong__Envelope__BodyCase c)
{
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = c;
    return env;
}

static void s_send(const Lienthong__Envelope *env, const char *user, const char *rid, int pumps)
{
    size_t len = lienthong__envelope__get_packed_size(env);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    lienthong__envelope__pack(env, buf);
    s_deliver(buf, len, user, rid, pumps);
    free(buf);
}

/* ---- scripts ------------------------------------------------------------------- */

static uint64_t rd_uint(fuzz_rd_t *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v = (v << 8) | fuzz_rd_u8(r);
    return v;
}

static void rd_bytes(fuzz_rd_t *r, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = fuzz_rd_u8(r);
}

/* A sequence number near the interesting places of a stream of RECORDS. */
static uint64_t rd_seq(fuzz_rd_t *r)
{
    uint8_t how = fuzz_rd_u8(r);
    uint64_t v = rd_uint(r, 2);
    switch (how & 3) {
    case 0:
        return v % (RECORDS + 2); /* 0 .. last + 1 */
    case 1:
        return RECORDS + 1 - v % 4;
    case 2:
        return v;
    default:
        return UINT64_MAX - (v & 0xff);
    }
}

static uint32_t rd_credit(fuzz_rd_t *r)
{
    uint8_t how = fuzz_rd_u8(r);
    return how & 0x80 ? (uint32_t)rd_uint(r, 4) : how & 0x7f;
}

/* One operation: its first byte says which, and from whom (bits 4-5: the
 * member, bit 6: the routing id nobody holds); then its fields:
 *  0 Subscribe: stream, from_seq, credit, flags (bit 0 snapshot, for the
 *    first asking only; bits 1-2
 *    prev_hash: absent when from_seq is 1 / zeros / 32 bytes of script /
 *    31 bytes of script; bits 3-4 history_id: the stream's / none / 16
 *    bytes of script / 5 bytes); the pump runs once;
 *  1 Credit: stream, credit; 2 Unsubscribe: stream;
 *  3 Range: stream, first_seq, count, flags (bit 0 prev_hash of script,
 *    bit 1 a batch inside);
 *  4 the pump, 1 + (next byte % MAX_PUMPS) times;
 *  5 Hello: directory version (byte, relative to ours), software text,
 *    sent_at_ms (byte, s_sent_at: absent, the ends of the range, or
 *    minutes from our clock);
 *  6 DirectoryRequest: version (byte, relative to ours);
 *  7 a status reply is built and freed (subscribers and ended ones), the
 *    first time only (it reads every statistic: slow).
 * Bits 3 and 7 of the first byte both set: the owner serves no data to
 * peers while this operation's message is handled (5.4, 5.6). */
/* A Hello's sent_at_ms for script byte k: 0 (a gateway that predates it),
 * the values where the offset's arithmetic could overflow, or our clock
 * moved by (int8_t)k minutes (PROTOCOL.md 5.1). */
static uint64_t s_sent_at(uint8_t k)
{
    static const uint64_t ends[] = {0, 1, UINT64_MAX, INT64_MAX, (uint64_t)INT64_MAX + 1};
    if (k < sizeof ends / sizeof ends[0])
        return ends[k];
    return (uint64_t)(lt_clock_now_ms() + (int64_t)(int8_t)k * 60000);
}

static void s_script(const uint8_t *data, size_t size)
{
    fuzz_rd_t r = {data, size, 0};
    uint64_t ours = lt_dir_version(G.g.ctx.dir);
    int status = 0, snapshots = 0;
    for (int ops = 0; ops < MAX_OPS && r.at < r.n; ops++) {
        uint8_t op = fuzz_rd_u8(&r);
        const char *user = s_users[(op >> 4) & 3];
        const char *rid = s_rids[(op >> 6) & 1];
        G.no_data = (op & 0x88) == 0x88;
        switch (op & 7) {
        case 0: {
            Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
            uint8_t prev[LT_HASH_BYTES] = {0}, hist[LT_HISTORY_BYTES];
            m.stream = (char *)s_streams[fuzz_rd_u8(&r) % N_STREAMS];
            m.from_seq = rd_seq(&r);
            m.credit = rd_credit(&r);
            uint8_t f = fuzz_rd_u8(&r);
            m.snapshot = (f & 1) && snapshots++ < MAX_SNAPSHOTS;
            switch ((f >> 1) & 3) {
            case 0:
                m.prev_hash.len = m.from_seq > 1 ? LT_HASH_BYTES : 0;
                break;
            case 1:
                m.prev_hash.len = LT_HASH_BYTES;
                break;
            case 2:
                rd_bytes(&r, prev, LT_HASH_BYTES);
                m.prev_hash.len = LT_HASH_BYTES;
                break;
            default:
                rd_bytes(&r, prev, LT_HASH_BYTES - 1);
                m.prev_hash.len = LT_HASH_BYTES - 1;
                break;
            }
            m.prev_hash.data = prev;
            switch ((f >> 3) & 3) {
            case 0:
                memcpy(hist, G.history, LT_HISTORY_BYTES);
                m.history_id.len = m.from_seq > 1 ? LT_HISTORY_BYTES : 0;
                break;
            case 1:
                break;
            case 2:
                rd_bytes(&r, hist, LT_HISTORY_BYTES);
                m.history_id.len = LT_HISTORY_BYTES;
                break;
            default:
                rd_bytes(&r, hist, 5);
                m.history_id.len = 5;
                break;
            }
            m.history_id.data = hist;
            Lienthong__Envelope env = s_env(LIENTHONG__ENVELOPE__BODY_SUBSCRIBE);
            env.subscribe = &m;
            s_send(&env, user, rid, 1);
            break;
        }
        case 1: {
            Lienthong__Credit m = LIENTHONG__CREDIT__INIT;
            m.stream = (char *)s_streams[fuzz_rd_u8(&r) % N_STREAMS];
            m.credit = rd_credit(&r);
            Lienthong__Envelope env = s_env(LIENTHONG__ENVELOPE__BODY_CREDIT);
            env.credit = &m;
            s_send(&env, user, rid, 0);
            break;
        }
        case 2: {
            Lienthong__Unsubscribe m = LIENTHONG__UNSUBSCRIBE__INIT;
            m.stream = (char *)s_streams[fuzz_rd_u8(&r) % N_STREAMS];
            Lienthong__Envelope env = s_env(LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE);
            env.unsubscribe = &m;
            s_send(&env, user, rid, 0);
            break;
        }
        case 3: {
            Lienthong__Range m = LIENTHONG__RANGE__INIT;
            Lienthong__Batch b = LIENTHONG__BATCH__INIT;
            uint8_t prev[LT_HASH_BYTES] = {0};
            m.stream = (char *)s_streams[fuzz_rd_u8(&r) % N_STREAMS];
            m.first_seq = rd_seq(&r);
            uint64_t count = rd_uint(&r, 2);
            m.last_seq = m.first_seq + (count & 0x7ff) - 1;
            uint8_t f = fuzz_rd_u8(&r);
            if (f & 1)
                rd_bytes(&r, prev, LT_HASH_BYTES);
            m.prev_hash.data = prev;
            m.prev_hash.len = (m.first_seq > 1) != !!(f & 4) ? LT_HASH_BYTES : 0;
            if (f & 2) {
                b.stream = m.stream;
                m.batch = &b;
            }
            Lienthong__Envelope env = s_env(LIENTHONG__ENVELOPE__BODY_RANGE);
            env.range = &m;
            s_send(&env, user, rid, 0);
            break;
        }
        case 4:
            s_pump(1 + fuzz_rd_u8(&r) % MAX_PUMPS);
            break;
        case 5: {
            Lienthong__Hello m = LIENTHONG__HELLO__INIT;
            char soft[32];
            m.member = (char *)user;
            m.directory_version = ours + (uint64_t)(int8_t)fuzz_rd_u8(&r);
            size_t n = fuzz_rd_u8(&r) % sizeof soft;
            for (size_t i = 0; i + 1 < n; i++)
                soft[i] = (char)(fuzz_rd_u8(&r) | 0x20) & 0x7f;
            soft[n ? n - 1 : 0] = 0;
            m.software = soft;
            m.sent_at_ms = s_sent_at(fuzz_rd_u8(&r));
            Lienthong__Envelope env = s_env(LIENTHONG__ENVELOPE__BODY_HELLO);
            env.hello = &m;
            s_send(&env, user, rid, 0);
            break;
        }
        case 6: {
            Lienthong__DirectoryRequest m = LIENTHONG__DIRECTORY_REQUEST__INIT;
            m.have_version = ours + (uint64_t)(int8_t)fuzz_rd_u8(&r);
            Lienthong__Envelope env = s_env(LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST);
            env.directory_request = &m;
            s_send(&env, user, rid, 0);
            break;
        }
        default: {
            Lienthong__StatusReply s = LIENTHONG__STATUS_REPLY__INIT;
            if (status++)
                break;
            lt_feed_status(G.feed, &s);
            lt_feed_status_free(&s);
            break;
        }
        }
    }
}

/* Every subscription goes (as when the peer socket is rebound), and what
 * the consumer expects with them. */
static void s_reset(void)
{
    lt_feed_drop_peers(G.feed);
    s_drain();
    memset(G.ex, 0, sizeof G.ex);
    if (++G.runs % RESET_EVERY == 0)
        s_feed_new();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    s_deliver(data, size, UG_CALLER, "consumer", MAX_PUMPS);
    s_reset();
    s_script(data, size);
    G.no_data = 0;
    s_pump(MAX_PUMPS);
    s_reset();
    return 0;
}

/* ---- seeds --------------------------------------------------------------------- */

static void s_seed_env(const char *dir, const char *name, Lienthong__Envelope *env)
{
    uint8_t buf[4096];
    env->version = LT_PROTO_VERSION;
    if (lienthong__envelope__get_packed_size(env) > sizeof buf)
        abort();
    fuzz_write_seed(dir, name, buf, lienthong__envelope__pack(env, buf));
}

static void s_write_seeds(const char *dir)
{
    (void)mkdir(dir, 0755);
    uint8_t prev[LT_HASH_BYTES] = {0};
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    Lienthong__Subscribe sub = LIENTHONG__SUBSCRIBE__INIT;
    sub.stream = OD_POP;
    sub.from_seq = 1;
    sub.credit = 250;
    env.body_case = LIENTHONG__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &sub;
    s_seed_env(dir, "subscribe", &env);
    sub.snapshot = 1;
    s_seed_env(dir, "subscribe-snapshot", &env);
    sub.snapshot = 0;
    sub.from_seq = 200;
    sub.prev_hash.data = prev;
    sub.prev_hash.len = LT_HASH_BYTES;
    sub.history_id.data = G.history;
    sub.history_id.len = LT_HISTORY_BYTES;
    s_seed_env(dir, "subscribe-cursor", &env);
    Lienthong__Credit cr = LIENTHONG__CREDIT__INIT;
    cr.stream = OD_POP;
    cr.credit = 100;
    env.body_case = LIENTHONG__ENVELOPE__BODY_CREDIT;
    env.credit = &cr;
    s_seed_env(dir, "credit", &env);
    Lienthong__Unsubscribe un = LIENTHONG__UNSUBSCRIBE__INIT;
    un.stream = OD_POP;
    env.body_case = LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE;
    env.unsubscribe = &un;
    s_seed_env(dir, "unsubscribe", &env);
    Lienthong__Range rg = LIENTHONG__RANGE__INIT;
    rg.stream = OD_POP;
    rg.first_seq = 10;
    rg.last_seq = 42;
    rg.prev_hash.data = prev;
    rg.prev_hash.len = LT_HASH_BYTES;
    env.body_case = LIENTHONG__ENVELOPE__BODY_RANGE;
    env.range = &rg;
    s_seed_env(dir, "range", &env);
    Lienthong__Hello he = LIENTHONG__HELLO__INIT;
    he.member = UG_CALLER;
    he.directory_version = 1;
    he.software = "lienthong 0.1.0";
    env.body_case = LIENTHONG__ENVELOPE__BODY_HELLO;
    env.hello = &he;
    s_seed_env(dir, "hello-older", &env);
    Lienthong__DirectoryRequest dr = LIENTHONG__DIRECTORY_REQUEST__INIT;
    env.body_case = LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST;
    env.directory_request = &dr;
    s_seed_env(dir, "directory-request", &env);

    /* Scripts (see s_script). */
    static const uint8_t sub_credit_pump[] = {
        0x00, 0,  0,    0, 1, 10, 0, /* subscribe pop from 1, credit 10 */
        0x04, 3,                     /* pump */
        0x01, 0,  0x80, 0, 0, 1,  0, /* credit 256 */
        0x04, 15,                    /* pump */
        0x07,                        /* status */
        0x02, 0,                     /* unsubscribe */
        0x07};
    fuzz_write_seed(dir, "script-subscribe-credit", sub_credit_pump, sizeof sub_credit_pump);
    static const uint8_t snap[] = {0x00, 0, 0,    0, 7,    0x80, 0, 0, 0,
                                   40,   1, /* subscribe snapshot from 7, credit 40 */
                                   0x04, 8, 0x01, 0, 0x80, 0,    0, 2, 0, /* credit 512 */
                                   0x04, 15};
    fuzz_write_seed(dir, "script-snapshot", snap, sizeof snap);
    static const uint8_t cursor[] = {
        0x00, 0,    1,    0,    0,    0x7f, 0x00, /* from last - ... with the stream's history */
        0x00, 0,    0,    0,    100,  50,   0x10, 0x11, 0x11, 0x11, 0x11, 0x11,
        0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, /* another history */
        0x04, 4};
    fuzz_write_seed(dir, "script-history", cursor, sizeof cursor);
    static const uint8_t
        range[] = {0x03, 0,  0,  0,  1,    0,  20, 0, /* range 1..20 */
                   0x03, 0,  0,  0,  50,   0,  5,  1, /* range 50..54, prev of script */
                   1,    2,  3,  4,  5,    6,  7,  8,  9,  10, 11, 12, 13, 14,
                   15,   16, 17, 18, 19,   20, 21, 22, 23, 24, 25, 26, 27, 28,
                   29,   30, 31, 32, 0x03, 0,  1,  0,  0,  0,  3,  0, /* range past the end */
                   0x43, 0,  0,  0,  1,    0,  1,  0}; /* from the ghost routing id */
    fuzz_write_seed(dir, "script-range", range, sizeof range);
    static const uint8_t peers[] = {0x05, 0xfe, 5, 'a',  'b',  'c',  'd',  0x02, /* far ahead */
                                    0x25, 0,    0, 0x7e, 0x06, 0xff, 0x16, 0,    0x36, 3};
    fuzz_write_seed(dir, "script-peers", peers, sizeof peers);
    static const uint8_t ghost[] = {0x40, 0,  0, 0,    1, 10, 0, 0x04, 2,  0x10, 0,    0, 0,
                                    1,    10, 0, 0x20, 0, 0,  0, 1,    10, 0,    0x04, 2, 0x07};
    fuzz_write_seed(dir, "script-members", ghost, sizeof ghost);
}

/* fuzz_feed: libFuzzer target for the consumer's side of feeds
 * (PROTOCOL.md 6.5 to 6.7, 6.9, 6.10): gateway/lt_feed_replica.c and
 * lt_feed_stage.c, on a real lt_feed_t over a real store.
 *
 * Set-up (once): fixed keys for the owner VN/GOV/BCA, the consumer
 * VN/COM/VIETTEL and the authority; the directory of owner_directory.h
 * made with them; a store in a temporary directory (on /dev/shm when
 * available); the consumer's lt_feed_t replicating the population dataset
 * and its view p38, with its links a DEALER to the owner, one to another
 * member (VN/COM/VIETTEL itself: an active member that owns neither
 * stream) and one to a member the directory does not list, attached to
 * lt_peers; their ROUTER end stands for the members (drained and checked).
 * The links' messages go through the gateway's dispatch (gateway/lt_linkrx),
 * with a query module that has nothing outstanding and no hooks: a batch
 * is committed at once, an offer ignored.
 * Before each delivery the replica is made live again (a refusal stops it
 * and backs off); a fork re-opens the feed on the same store; every
 * RESET_EVERY inputs the store is made anew, so that it stays small.
 *
 * Each input:
 *  1. is handed to the gateway's dispatch of its links
 *     (lt_linkrx_on_message) as received on the link to the member the
 *     directory does not list (it must be dropped), on the link to the
 *     other member (the replicas must not change), then on the owner's; it
 *     must be dropped there exactly when it does not decode as an envelope
 *     (lt_wire_decode, the gateway's cap), and be an answer exactly when it
 *     holds a LookupReply or VerifyReply;
 *  2. gives a list of records: those of the envelope's Batch, Range batch
 *     or SnapshotChunk, else the input cut into records after a flags
 *     byte (each record 2 bytes of big-endian length, then its bytes; the
 *     last one whatever is left). FLAG_SEQ appends Record.seq = its place
 *     (the cursor + 1 + i) to each record (protobuf: the last value of a
 *     field wins), FLAG_PLAIN signs without a history id, FLAG_VIEW uses
 *     the view's replica. The harness signs them with the owner's key as
 *     the next batch of the replica (first_seq = cursor + 1, chained to its
 *     last hash) and delivers it;
 *  3. with FLAG_SNAPSHOT (and for a SnapshotChunk's records), signs the
 *     same records as a snapshot at S (one or two chunks and the end) and
 *     delivers it.
 * Invariants (abort): a message from another member changes nothing; a
 * signed batch is applied exactly when every record decodes (UTF-8 key),
 * carries its seq and a key of 1 to LT_RECORD_KEY_MAX bytes, and then the
 * cursor, hash and history are the batch's, each record is logged with its
 * exact bytes at its seq, each key's state is its last record, and credit
 * for the records goes back to the owner; a refused batch changes nothing.
 * A signed snapshot replaces the replica exactly when its records decode,
 * are live, in strictly increasing key order with valid keys, at distinct
 * seqs 1..S, and then the cursor is (S, H32 of the end) and every record is
 * logged and is its key's state; a refused one changes nothing.
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. */
#define _GNU_SOURCE
#include "fuzz_common.h"
#include "lt_batch.h"
#include "lt_feed.h"
#include "lt_linkrx.h"
#include "lt_log.h"
#include "lt_peers.h"
#include "lt_query.h"
#include "lt_snap.h"
#include "lt_store.h"
#include "lt_valid.h"
#include "lt_wire.h"
#include "owner_directory.h"
#include "records/population.pb-c.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define CONSUMER    "VN/COM/VIETTEL"
#define OTHER       CONSUMER     /* active, owns neither stream */
#define STRANGER    "VN/GOV/BTC" /* not in the directory */
#define RESET_EVERY 2048
#define OWNER_END   "inproc://fuzz-feed-owner"

enum { FLAG_SEQ = 1, FLAG_PLAIN = 2, FLAG_SNAPSHOT = 4, FLAG_VIEW = 8 };

static struct {
    int ready;
    char tmp[256];
    lt_keys_t *owner_keys, *consumer_keys, *auth;
    uint8_t history[LT_HISTORY_BYTES];
    lt_gwcfg_t cfg;
    lt_gwctx_t ctx;
    lt_feed_t *feed;
    lt_query_t *query;      /* answers on the links: none is awaited */
    lt_linkrx_t rx;         /* the gateway's dispatch of the links */
    void *zctx, *owner_end; /* the members' ROUTER: Subscribe, Credit, Unsubscribe */
    unsigned runs;
    /* The streams a Subscribe was sent for since an empty snapshot of them
     * was last taken: only those take one (PROTOCOL.md 6.7). */
    char asked[8][LT_STREAM_ID_MAX + 1];
    size_t n_asked;
} G;

/* Whether a Subscribe for stream is outstanding (G.asked). */
static int s_asked(const char *stream)
{
    for (size_t i = 0; i < G.n_asked; i++)
        if (strcmp(G.asked[i], stream) == 0)
            return 1;
    return 0;
}

static void s_ask(const char *stream, int on)
{
    for (size_t i = 0; i < G.n_asked; i++)
        if (strcmp(G.asked[i], stream) == 0) {
            if (!on)
                memcpy(G.asked[i], G.asked[--G.n_asked], sizeof G.asked[i]);
            return;
        }
    if (on && G.n_asked < sizeof G.asked / sizeof G.asked[0])
        snprintf(G.asked[G.n_asked++], sizeof G.asked[0], "%s", stream);
}

static void s_write_seeds(const char *dir);

/* Records of one input, each with room for an appended seq. */
typedef struct {
    ProtobufCBinaryData recs[LT_BATCH_MAX_RECORDS];
    uint8_t *copies[LT_BATCH_MAX_RECORDS];
    size_t n;
} recs_t;

/* ---- set-up ------------------------------------------------------------------ */

static void s_feed_close(void)
{
    lt_query_destroy(&G.query);
    lt_feed_destroy(&G.feed);
    lt_peers_destroy(&G.ctx.peers); /* closes the links */
    lt_stats_destroy(&G.ctx.stats);
    G.n_asked = 0; /* a new feed's replicas have asked for nothing yet */
}

static void s_cleanup(void)
{
    s_feed_close();
    lt_store_destroy(&G.ctx.store);
    if (G.owner_end)
        zmq_close(G.owner_end);
    if (G.zctx)
        zmq_ctx_term(G.zctx);
    fuzz_rmtree(G.tmp);
}

static void s_drain(size_t *credit, const char *stream);

/* A DEALER connected to the members' ROUTER, attached as the link to
 * member. */
static void s_link_attach(const char *member)
{
    void *link = zmq_socket(G.zctx, ZMQ_DEALER);
    int zero = 0;
    if (!link || zmq_setsockopt(link, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(link, ZMQ_SNDHWM, &zero, sizeof zero) != 0 ||
        zmq_connect(link, OWNER_END) != 0 || lt_peers_attach(G.ctx.peers, member, link) != 0)
        abort();
}

/* A new feed (with its statistics and its links) at the replicas'
 * durable cursors. */
static void s_feed_open(void)
{
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    if (!(G.ctx.stats = lt_stats_new()) || !(G.ctx.peers = lt_peers_new(&G.ctx, G.zctx, &so)))
        abort();
    s_link_attach(OD_OWNER);
    s_link_attach(OTHER);
    s_link_attach(STRANGER);
    if (!(G.feed = lt_feed_new(&G.ctx)) || !(G.query = lt_query_new(&G.ctx)))
        abort();
    G.rx = (lt_linkrx_t){.ctx = &G.ctx, .feed = G.feed, .query = G.query};
    s_drain(NULL, NULL);
}

static void s_store_reset(void)
{
    s_feed_close();
    lt_store_destroy(&G.ctx.store);
    G.ctx.store = fuzz_store_fresh(G.tmp, "fuzz_feed");
    s_feed_open();
}

static void s_init(void)
{
    if (G.ready)
        return;
    G.ready = 1;
    /* Refused input is the normal case here: even errors are not logged. */
    lt_log_set_level((lt_log_level_t)(LT_LOG_ERROR + 1));
    if (sodium_init() < 0)
        abort();
    fuzz_tmpdir(G.tmp, sizeof G.tmp, "fuzz-feed");
    atexit(s_cleanup);
    char err[1024];
    G.owner_keys = fuzz_fixed_keys(G.tmp, LT_KEYS_MEMBER, 100, 3);
    G.consumer_keys = fuzz_fixed_keys(G.tmp, LT_KEYS_MEMBER, 50, 3);
    G.auth = fuzz_fixed_keys(G.tmp, LT_KEYS_AUTHORITY, 0, 3);
    if (!(G.ctx.dir = od_directory_keyed(G.tmp, G.owner_keys, G.consumer_keys, G.auth, "", "", err,
                                         sizeof err))) {
        fprintf(stderr, "fuzz_feed: directory: %s\n", err);
        abort();
    }
    for (int i = 0; i < LT_HISTORY_BYTES; i++)
        G.history[i] = (uint8_t)(0x40 + i);
    snprintf(G.cfg.member, sizeof G.cfg.member, "%s", CONSUMER);
    G.cfg.max_message = FUZZ_ENVELOPE_CAP;
    G.cfg.batch_max = LT_BATCH_MAX_RECORDS;
    G.cfg.credit = 1 << 20; /* never the reason a batch is refused */
    snprintf(G.cfg.subs[0].stream, sizeof G.cfg.subs[0].stream, "%s", OD_POP);
    snprintf(G.cfg.subs[1].stream, sizeof G.cfg.subs[1].stream, "%s", OD_P38);
    G.cfg.n_subs = 2;
    G.ctx.cfg = &G.cfg;
    G.ctx.keys = G.consumer_keys;
    int zero = 0;
    if (!(G.zctx = zmq_ctx_new()) || !(G.owner_end = zmq_socket(G.zctx, ZMQ_ROUTER)) ||
        zmq_setsockopt(G.owner_end, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(G.owner_end, ZMQ_RCVHWM, &zero, sizeof zero) != 0 ||
        zmq_bind(G.owner_end, OWNER_END) != 0)
        abort();
    s_store_reset();
    const char *seeds = getenv("FUZZ_WRITE_SEEDS");
    if (seeds && seeds[0])
        s_write_seeds(seeds);
}

/* ---- the owner's end of the link ---------------------------------------------- */

/* Receives what the consumer sent the owner; adds to *credit the credit
 * given back for stream. Everything sent is a well-formed envelope. */
static void s_drain(size_t *credit, const char *stream)
{
    for (;;) {
        zmq_msg_t rid, body;
        zmq_msg_init(&rid);
        zmq_msg_init(&body);
        if (zmq_msg_recv(&rid, G.owner_end, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&rid);
            zmq_msg_close(&body);
            return;
        }
        if (!zmq_msg_more(&rid) || zmq_msg_recv(&body, G.owner_end, 0) < 0 || zmq_msg_more(&body))
            abort(); /* one frame per message on a DEALER */
        Lienthong__ErrorCode code;
        char err[256];
        Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&body), zmq_msg_size(&body),
                                                  FUZZ_ENVELOPE_CAP, &code, err, sizeof err);
        if (!env)
            abort();
        if (env->body_case == LIENTHONG__ENVELOPE__BODY_SUBSCRIBE)
            s_ask(env->subscribe->stream, 1);
        if (credit && env->body_case == LIENTHONG__ENVELOPE__BODY_CREDIT &&
            strcmp(env->credit->stream, stream) == 0)
            *credit += env->credit->credit;
        lt_wire_free(&env);
        zmq_msg_close(&rid);
        zmq_msg_close(&body);
    }
}

/* ---- the replica --------------------------------------------------------------- */

/* The replica of stream as the store holds it (it must exist). */
static void s_row(const char *stream, lt_stream_t *st)
{
    if (lt_store_stream_find(G.ctx.store, stream, st) != 1)
        abort();
}

static int s_same_row(const lt_stream_t *a, const lt_stream_t *b)
{
    return a->id == b->id && a->last_seq == b->last_seq &&
           memcmp(a->last_hash, b->last_hash, LT_HASH_BYTES) == 0 &&
           a->has_history == b->has_history &&
           (!a->has_history || memcmp(a->history, b->history, LT_HISTORY_BYTES) == 0);
}

/* Makes every replica live: a forked one (the feed keeps that in memory)
 * is re-opened; a stopped one re-subscribes at once. */
static void s_live(void)
{
    for (size_t i = 0; i < lt_feed_replica_count(G.feed); i++) {
        lt_feed_replica_info_t info;
        if (lt_feed_replica_info(G.feed, i, NULL, &info) != 0)
            abort();
        if (strcmp(info.state, "forked") == 0 || strcmp(info.state, "resyncing") == 0) {
            s_feed_close();
            s_feed_open();
            break;
        }
    }
    lt_feed_dir_changed(G.feed, NULL); /* ends the back-offs */
    lt_feed_tick(G.feed);
    s_drain(NULL, NULL);
}

/* The feed's idea of the replica agrees with the store's. */
static void s_check_replica(const char *stream)
{
    lt_feed_replica_info_t info;
    lt_stream_t st;
    s_row(stream, &st);
    if (lt_feed_replica_info(G.feed, 0, stream, &info) != 0 ||
        (strcmp(info.state, "resyncing") != 0 &&
         (info.id != st.id || info.last_seq != st.last_seq)))
        abort();
}

/* ---- step 1: the input as it comes on a link ------------------------------------ */

/* The index of the link to member (abort when there is none). */
static size_t s_link_index(const char *member)
{
    for (size_t i = 0; i < lt_peers_links(G.ctx.peers); i++)
        if (strcmp(lt_peers_link_member(G.ctx.peers, i), member) == 0)
            return i;
    abort();
}

/* Hands the input, as one frame received on the link to member, to the
 * gateway's dispatch: its code. */
static int s_receive(const char *member, const uint8_t *data, size_t size)
{
    lt_wire_in_t in;
    memset(&in, 0, sizeof in);
    if (zmq_msg_init_size(&in.body, size) != 0)
        abort();
    if (size)
        memcpy(zmq_msg_data(&in.body), data, size);
    in.frames = 1;
    int rc = lt_linkrx_on_message(&G.rx, s_link_index(member), &in);
    lt_wire_in_close(&in);
    return rc;
}

/* The replicas are still as in before[]. */
static void s_unchanged(const lt_stream_t before[2])
{
    lt_stream_t after;
    s_row(OD_POP, &after);
    if (!s_same_row(&before[0], &after))
        abort(); /* a member that does not own the stream changed its replica */
    s_row(OD_P38, &after);
    if (!s_same_row(&before[1], &after))
        abort();
}

/* env: the input decoded, or NULL. */
static void s_envelope(const uint8_t *data, size_t size, const Lienthong__Envelope *env)
{
    int expect = !env ? -1
                 : env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY ||
                         env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY
                     ? LT_LINKRX_ANSWER
                     : 0;
    lt_stream_t before[2];
    s_live();
    s_row(OD_POP, &before[0]);
    s_row(OD_P38, &before[1]);
    if (s_receive(STRANGER, data, size) != -1)
        abort(); /* taken from a member the directory does not list */
    s_unchanged(before);
    if (s_receive(OTHER, data, size) != expect)
        abort();
    s_unchanged(before);
    if (s_receive(OD_OWNER, data, size) != expect)
        abort();
    s_drain(NULL, NULL);
    s_check_replica(OD_POP);
    s_check_replica(OD_P38);
}

/* ---- step 2: records signed by the harness as the next batch ------------------- */

static void s_recs_free(recs_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->copies[i]);
    r->n = 0;
}

static void s_recs_add(recs_t *r, const uint8_t *data, size_t len)
{
    if (r->n >= LT_BATCH_MAX_RECORDS)
        return;
    uint8_t *copy = malloc(len + 11); /* + a seq field: tag and 10-byte varint */
    if (!copy)
        abort();
    if (len)
        memcpy(copy, data, len);
    r->copies[r->n] = copy;
    r->recs[r->n].data = copy;
    r->recs[r->n].len = len;
    r->n++;
}

/* The records of the input: its envelope's, or cut after the flags byte. */
static void s_recs_of(const uint8_t *data, size_t size, const Lienthong__Envelope *env, recs_t *r)
{
    const ProtobufCBinaryData *from = NULL;
    size_t n = 0;
    if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_BATCH)
        from = env->batch->records, n = env->batch->n_records;
    else if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_RANGE && env->range->batch)
        from = env->range->batch->records, n = env->range->batch->n_records;
    else if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_SNAPSHOT_CHUNK)
        from = env->snapshot_chunk->records, n = env->snapshot_chunk->n_records;
    if (env) {
        for (size_t i = 0; i < n; i++)
            s_recs_add(r, from[i].data, from[i].len);
        return;
    }
    for (size_t at = 1; at < size;) {
        size_t len = at + 2 <= size ? (size_t)data[at] << 8 | data[at + 1] : size - at;
        at += at + 2 <= size ? 2 : 0;
        if (len > size - at)
            len = size - at;
        s_recs_add(r, data + at, len);
        at += len;
        if (len == 0 && at >= size)
            break;
    }
}

/* Appends Record.seq = seq to each record (the last value wins). */
static void s_renumber(recs_t *r, uint64_t first)
{
    for (size_t i = 0; i < r->n; i++) {
        uint8_t *p = r->copies[i] + r->recs[i].len;
        *p++ = 0x08;
        for (uint64_t v = first + i;; v >>= 7) {
            *p++ = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
            if (v < 0x80)
                break;
        }
        r->recs[i].len = (size_t)(p - r->copies[i]);
    }
}

/* A record as a consumer must decode it: UTF-8 strings, then protobuf. */
static Lienthong__Record *s_unpack(const ProtobufCBinaryData *rec)
{
    char where[64];
    if (lt_valid_utf8(&lienthong__record__descriptor, rec->data, rec->len, where, sizeof where))
        return NULL;
    return lienthong__record__unpack(NULL, rec->len, rec->data);
}

static int s_key_ok(const Lienthong__Record *r)
{
    return r->key[0] && strlen(r->key) <= LT_RECORD_KEY_MAX;
}

/* Record seq of stream st holds exactly rec, and is key's state when it is
 * the key's last record in recs[from..n). */
static void s_check_logged(const lt_stream_t *st, const ProtobufCBinaryData *rec,
                           const Lienthong__Record *r, int is_last)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (lt_store_get(G.ctx.store, st->id, r->seq, &bytes, &len) != 1 || len != rec->len ||
        (len && memcmp(bytes, rec->data, len) != 0))
        abort(); /* applied, but not logged as received */
    free(bytes);
    uint64_t seq = 0;
    int deleted = 0;
    if (is_last && (lt_store_state_get(G.ctx.store, st->id, r->key, &seq, &deleted) != 1 ||
                    seq != r->seq || deleted != (r->deleted ? 1 : 0)))
        abort(); /* the state does not point at the key's last record */
}

static int s_last_of_key(Lienthong__Record *const *rs, size_t i, size_t n)
{
    for (size_t j = i + 1; j < n; j++)
        if (strcmp(rs[j]->key, rs[i]->key) == 0)
            return 0;
    return 1;
}

/* The owner's batch of n records of stream at first, chained from prev,
 * on history (NULL: none), into *b (sig and hash: the caller's). */
static void s_batch(Lienthong__Batch *b, const char *stream, const uint8_t *history, uint64_t first,
                    ProtobufCBinaryData *recs, size_t n, const uint8_t prev[LT_HASH_BYTES],
                    uint8_t sig[LT_SIG_BYTES], uint8_t hash[LT_HASH_BYTES])
{
    if (lt_batch_sign_history(G.owner_keys, stream, history, first, recs, n, prev, sig, hash) != 0)
        abort();
    lienthong__batch__init(b);
    b->stream = (char *)stream;
    b->first_seq = first;
    b->records = recs;
    b->n_records = n;
    b->signature = (ProtobufCBinaryData){LT_SIG_BYTES, sig};
    b->signed_at_ms = FUZZ_NOW * 1000;
    if (history)
        b->history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, (uint8_t *)history};
}

static void s_signed_batch(const char *stream, recs_t *r, int flags)
{
    s_live();
    lt_stream_t before, after;
    s_row(stream, &before);
    if (r->n == 0 || before.last_seq >= UINT64_MAX - LT_BATCH_MAX_RECORDS)
        return;
    uint64_t first = before.last_seq + 1;
    if (flags & FLAG_SEQ)
        s_renumber(r, first);
    const uint8_t *history = flags & FLAG_PLAIN ? NULL : G.history;
    uint8_t sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    Lienthong__Batch b;
    s_batch(&b, stream, history, first, r->recs, r->n, before.last_hash, sig, hash);
    /* What the consumer must accept (PROTOCOL.md 6.5 step 4, and keys
     * within LT_RECORD_KEY_MAX as the owner's own checks). */
    Lienthong__Record *rs[LT_BATCH_MAX_RECORDS];
    int expect = 1;
    for (size_t i = 0; i < r->n; i++) {
        rs[i] = s_unpack(&r->recs[i]);
        expect &= rs[i] && rs[i]->seq == first + i && s_key_ok(rs[i]);
    }
    lt_feed_on_batch(G.feed, OD_OWNER, &b);
    size_t credit = 0;
    s_drain(&credit, stream);
    s_row(stream, &after);
    int applied = !s_same_row(&before, &after);
    if (applied != expect) {
        fprintf(stderr, "fuzz_feed: a batch that %s was %s\n",
                expect ? "the consumer must apply" : "holds a bad record",
                applied ? "applied" : "refused");
        abort();
    }
    if (applied) {
        if (after.id != before.id || after.last_seq != first + r->n - 1 ||
            memcmp(after.last_hash, hash, LT_HASH_BYTES) != 0 || credit != r->n ||
            (history && (!after.has_history || memcmp(after.history, history, LT_HISTORY_BYTES))))
            abort();
        for (size_t i = 0; i < r->n; i++)
            s_check_logged(&after, &r->recs[i], rs[i], s_last_of_key(rs, i, r->n));
    } else {
        uint8_t *bytes = NULL;
        size_t len;
        if (lt_store_get(G.ctx.store, before.id, first, &bytes, &len) != 0)
            abort(); /* a refused batch left a record behind */
    }
    for (size_t i = 0; i < r->n; i++)
        if (rs[i])
            lienthong__record__free_unpacked(rs[i], NULL);
    s_check_replica(stream);
}

/* ---- step 3: the same records as a signed snapshot ---------------------------------- */

/* The owner's chunk of a snapshot of stream at seq: n records from leaf
 * index `index`, chained from prev (which becomes its hash), into *c. */
static void s_chunk(Lienthong__SnapshotChunk *c, const char *stream, const uint8_t *history,
                    uint64_t seq, uint64_t index, ProtobufCBinaryData *recs, size_t n,
                    uint8_t prev[LT_HASH_BYTES], uint8_t sig[LT_SIG_BYTES])
{
    uint8_t hash[LT_HASH_BYTES];
    if (lt_snap_chunk_sign(G.owner_keys, stream, history, index, recs, n, prev, sig, hash) != 0)
        abort();
    memcpy(prev, hash, LT_HASH_BYTES);
    lienthong__snapshot_chunk__init(c);
    c->stream = (char *)stream;
    c->snapshot_seq = seq;
    c->first_index = index;
    c->records = recs;
    c->n_records = n;
    c->signature = (ProtobufCBinaryData){LT_SIG_BYTES, sig};
    c->signed_at_ms = FUZZ_NOW * 1000;
    if (history)
        c->history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, (uint8_t *)history};
}

/* The owner's end of that snapshot: count records of Merkle root root,
 * after the chunk hash prev, into *e (root, sig and hash: the caller's). */
static void s_end(Lienthong__SnapshotEnd *e, const char *stream, const uint8_t *history,
                  uint64_t seq, uint64_t count, const uint8_t prev[LT_HASH_BYTES],
                  uint8_t root[LT_HASH_BYTES], uint8_t sig[LT_SIG_BYTES],
                  uint8_t hash[LT_HASH_BYTES])
{
    if (lt_snap_end_sign(G.owner_keys, stream, history, seq, count, prev, root, sig, hash) != 0)
        abort();
    lienthong__snapshot_end__init(e);
    e->stream = (char *)stream;
    e->snapshot_seq = seq;
    e->count = count;
    e->state_root = (ProtobufCBinaryData){LT_HASH_BYTES, root};
    e->signature = (ProtobufCBinaryData){LT_SIG_BYTES, sig};
    e->signed_at_ms = FUZZ_NOW * 1000;
    if (history)
        e->history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, (uint8_t *)history};
}

/* Delivers records [from, to) of r as the chunk at leaf index from. */
static void s_deliver_chunk(const char *stream, recs_t *r, size_t from, size_t to, uint64_t seq,
                            const uint8_t *history, uint8_t prev[LT_HASH_BYTES])
{
    uint8_t sig[LT_SIG_BYTES];
    Lienthong__SnapshotChunk c;
    s_chunk(&c, stream, history, seq, from, r->recs + from, to - from, prev, sig);
    lt_feed_on_snapshot_chunk(G.feed, OD_OWNER, lt_peers_link(G.ctx.peers, OD_OWNER), &c);
}

/* What the consumer must accept of a snapshot at seq (PROTOCOL.md 6.7). */
static int s_snapshot_ok(Lienthong__Record *const *rs, size_t n, uint64_t seq)
{
    for (size_t i = 0; i < n; i++) {
        if (!rs[i] || !s_key_ok(rs[i]) || rs[i]->deleted || rs[i]->seq == 0 || rs[i]->seq > seq ||
            rs[i]->seq > (1ULL << LT_STORE_SEQ_BITS) - 1 ||
            (i > 0 && strcmp(rs[i - 1]->key, rs[i]->key) >= 0))
            return 0;
        for (size_t j = 0; j < i; j++)
            if (rs[j]->seq == rs[i]->seq)
                return 0; /* one log row per seq */
    }
    return 1;
}

static void s_signed_snapshot(const char *stream, recs_t *r, int flags)
{
    s_live();
    lt_stream_t before, after;
    s_row(stream, &before);
    const uint8_t *history = flags & FLAG_PLAIN ? NULL : G.history;
    Lienthong__Record *rs[LT_BATCH_MAX_RECORDS];
    uint64_t seq = before.last_seq + r->n;
    lt_snap_merkle_t acc;
    lt_snap_merkle_init(&acc);
    for (size_t i = 0; i < r->n; i++) {
        rs[i] = s_unpack(&r->recs[i]);
        if (rs[i] && rs[i]->seq > seq)
            seq = rs[i]->seq;
        lt_snap_merkle_add(&acc, r->recs[i].data, r->recs[i].len);
    }
    /* An empty one is taken only as the answer to a Subscribe (6.7). */
    int expect = s_snapshot_ok(rs, r->n, seq) && (r->n > 0 || s_asked(stream));
    uint8_t prev[LT_HASH_BYTES] = {0}, root[LT_HASH_BYTES], sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    size_t half = r->n / 2;
    if (half)
        s_deliver_chunk(stream, r, 0, half, seq, history, prev);
    if (r->n)
        s_deliver_chunk(stream, r, half, r->n, seq, history, prev);
    lt_snap_merkle_root(&acc, root);
    Lienthong__SnapshotEnd e;
    s_end(&e, stream, history, seq, r->n, prev, root, sig, hash);
    lt_feed_on_snapshot_end(G.feed, OD_OWNER, &e);
    s_drain(NULL, NULL);
    s_row(stream, &after);
    int replaced = !s_same_row(&before, &after);
    if (replaced && r->n == 0)
        s_ask(stream, 0);
    if (replaced != expect) {
        fprintf(stderr, "fuzz_feed: a snapshot that %s was %s\n",
                expect ? "the consumer must take" : "holds a bad record",
                replaced ? "taken" : "refused");
        abort();
    }
    if (replaced) {
        if (after.last_seq != seq || memcmp(after.last_hash, hash, LT_HASH_BYTES) != 0 ||
            after.has_history != (history != NULL) ||
            (history && memcmp(after.history, history, LT_HISTORY_BYTES) != 0))
            abort();
        for (size_t i = 0; i < r->n; i++)
            s_check_logged(&after, &r->recs[i], rs[i], 1);
    }
    for (size_t i = 0; i < r->n; i++)
        if (rs[i])
            lienthong__record__free_unpacked(rs[i], NULL);
    s_check_replica(stream);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    if (++G.runs % RESET_EVERY == 0)
        s_store_reset();
    Lienthong__ErrorCode code;
    char err[512];
    Lienthong__Envelope *env =
        lt_wire_decode(data, size, FUZZ_ENVELOPE_CAP, &code, err, sizeof err);
    s_envelope(data, size, env);
    static recs_t r;
    s_recs_of(data, size, env, &r);
    int flags = env ? FLAG_SEQ : size ? data[0] : 0;
    if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_SNAPSHOT_CHUNK)
        flags |= FLAG_SNAPSHOT;
    const char *stream = flags & FLAG_VIEW ? OD_P38 : OD_POP;
    lt_wire_free(&env);
    s_signed_batch(stream, &r, flags);
    if (flags & FLAG_SNAPSHOT)
        s_signed_snapshot(stream, &r, flags);
    s_recs_free(&r);
    return 0;
}

/* ---- seeds ------------------------------------------------------------------------------ */

static void s_seed_envelope(const char *dir, const char *name, Lienthong__Envelope *env)
{
    env->version = LT_PROTO_VERSION;
    size_t len = lienthong__envelope__get_packed_size(env);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    lienthong__envelope__pack(env, buf);
    fuzz_write_seed(dir, name, buf, len);
    free(buf);
}

/* A citizen's record at seq (a tombstone when name is NULL) into buf. */
static size_t s_record(uint8_t *buf, uint64_t seq, const char *key, const char *name)
{
    uint8_t payload[1024];
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.personal_id = (char *)key;
    p.full_name = (char *)(name ? name : "");
    p.date_of_birth = "1980-02-29";
    p.current_province = "38";
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    Lienthong__Record r = LIENTHONG__RECORD__INIT;
    r.seq = seq;
    r.key = (char *)key;
    r.deleted = name == NULL;
    if (name) {
        r.payload.data = payload;
        r.payload.len = lienthong__records__population__pack(&p, payload);
    }
    r.changed_at_ms = FUZZ_NOW * 1000;
    return lienthong__record__pack(&r, buf);
}

/* Framed records after a flags byte, as step 2 cuts an input. */
static void s_seed_framed(const char *dir, const char *name, int flags,
                          const ProtobufCBinaryData *recs, size_t n)
{
    uint8_t buf[8192];
    size_t len = 0;
    buf[len++] = (uint8_t)flags;
    for (size_t i = 0; i < n && len + 2 + recs[i].len <= sizeof buf; i++) {
        buf[len++] = (uint8_t)(recs[i].len >> 8);
        buf[len++] = (uint8_t)recs[i].len;
        memcpy(buf + len, recs[i].data, recs[i].len);
        len += recs[i].len;
    }
    fuzz_write_seed(dir, name, buf, len);
}

static void s_write_seeds(const char *dir)
{
    (void)mkdir(dir, 0755);
    static const char *const keys[] = {"001080000001", "038090000002", "038090000003"};
    static const char *const names[] = {"Nguy\xe1\xbb\x85n V\xc4\x83n An", NULL,
                                        "\xc4\x90\xe1\xba\xb7ng Th\xe1\xbb\x8b H\xe1\xba\xa1"};
    uint8_t rec[4][1024];
    ProtobufCBinaryData recs[4];
    for (int i = 0; i < 3; i++) {
        recs[i].len = s_record(rec[i], (uint64_t)i + 1, keys[i], names[i]);
        recs[i].data = rec[i];
    }
    /* The first batch of an empty replica, as the owner sends it. */
    static const uint8_t zero[LT_HASH_BYTES] = {0};
    uint8_t sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    Lienthong__Batch b;
    s_batch(&b, OD_POP, G.history, 1, recs, 3, zero, sig, hash);
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.body_case = LIENTHONG__ENVELOPE__BODY_BATCH;
    env.batch = &b;
    s_seed_envelope(dir, "batch-first", &env);
    /* The same records sent again to repair them (6.10). */
    Lienthong__Range range = LIENTHONG__RANGE__INIT;
    range.stream = OD_POP;
    range.first_seq = 1;
    range.last_seq = 3;
    range.prev_hash = (ProtobufCBinaryData){LT_HASH_BYTES, (uint8_t *)zero};
    range.batch = &b;
    env.body_case = LIENTHONG__ENVELOPE__BODY_RANGE;
    env.range = &range;
    s_seed_envelope(dir, "range", &env);
    /* A snapshot at S = 3 of the two live keys: its chunk and its end. */
    ProtobufCBinaryData live[2] = {recs[0], recs[2]};
    uint8_t chunk_hash[LT_HASH_BYTES] = {0}, root[LT_HASH_BYTES];
    Lienthong__SnapshotChunk c;
    s_chunk(&c, OD_POP, G.history, 3, 0, live, 2, chunk_hash, sig);
    env.body_case = LIENTHONG__ENVELOPE__BODY_SNAPSHOT_CHUNK;
    env.snapshot_chunk = &c;
    s_seed_envelope(dir, "snapshot-chunk", &env);
    lt_snap_merkle_t acc;
    lt_snap_merkle_init(&acc);
    lt_snap_merkle_add(&acc, live[0].data, live[0].len);
    lt_snap_merkle_add(&acc, live[1].data, live[1].len);
    lt_snap_merkle_root(&acc, root);
    Lienthong__SnapshotEnd e;
    s_end(&e, OD_POP, G.history, 3, 2, chunk_hash, root, sig, hash);
    env.body_case = LIENTHONG__ENVELOPE__BODY_SNAPSHOT_END;
    env.snapshot_end = &e;
    s_seed_envelope(dir, "snapshot-end", &env);
    /* The owner's history changed (6.9), and an owner's refusal. */
    uint8_t other[LT_HISTORY_BYTES] = {1, 2, 3};
    Lienthong__HistoryChanged hc = LIENTHONG__HISTORY_CHANGED__INIT;
    hc.stream = OD_POP;
    hc.history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, other};
    hc.last_seq = 9;
    hc.cursor_history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, G.history};
    env.body_case = LIENTHONG__ENVELOPE__BODY_HISTORY_CHANGED;
    env.history_changed = &hc;
    s_seed_envelope(dir, "history-changed", &env);
    Lienthong__Error err = LIENTHONG__ERROR__INIT;
    err.code = LIENTHONG__ERROR_CODE__ERR_FORBIDDEN;
    err.message = OD_POP ": no policy allows it";
    env.body_case = LIENTHONG__ENVELOPE__BODY_ERROR;
    env.error = &err;
    s_seed_envelope(dir, "error", &env);
    /* Framed records for the harness to sign. */
    s_seed_framed(dir, "records-seq", FLAG_SEQ, recs, 3);
    s_seed_framed(dir, "records-as-sent", 0, recs, 3);
    s_seed_framed(dir, "records-snapshot", FLAG_SEQ | FLAG_SNAPSHOT, live, 2);
    s_seed_framed(dir, "records-view-plain", FLAG_SEQ | FLAG_PLAIN | FLAG_VIEW, recs, 3);
    /* Records the consumer must refuse: an empty key, a key over
     * LT_RECORD_KEY_MAX bytes, a key that is not UTF-8. */
    char long_key[LT_RECORD_KEY_MAX + 2];
    memset(long_key, '7', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = 0;
    ProtobufCBinaryData bad[3];
    static const char bad_utf8[] = "03809\xc3\x28";
    const char *bad_keys[] = {"", long_key, bad_utf8};
    uint8_t bad_rec[3][2048];
    for (int i = 0; i < 3; i++) {
        bad[i].len = s_record(bad_rec[i], 1, bad_keys[i], "An");
        bad[i].data = bad_rec[i];
        char name[32];
        snprintf(name, sizeof name, "bad-key-%d", i);
        ProtobufCBinaryData two[2] = {recs[0], bad[i]};
        s_seed_framed(dir, name, FLAG_SEQ | (i == 1 ? FLAG_SNAPSHOT : 0), two, 2);
    }
}

/* test_feed: CUnit suite for gateway/lt_feed on the owner's side
 * (PROTOCOL.md 6.2, 6.3): subscription checks, credit-bounded signed
 * batches that verify under the owner's key, and the statistics of streams
 * and subscribers (last sequence number, records appended, cursor and lag);
 * subscriptions of consumers and a sink's replacement when they went away
 * without a word (6.6, 6.7, 8.2),
 * snapshots that cannot be sent whole (6.10, frame cap), and views that
 * follow a directory changing their definition (6.1, 6.9); a store rebuilt
 * after a corrupt page (docs/ARCHITECTURE.md 4.2), after which nothing
 * committed before it is served from memory; the subscriber lines kept in
 * the store across a restart (lt_feed_lines). The integration suite
 * test_feeds.c covers replicas and sinks. */
#include "unit_gw.h"
#include "lt_batch.h"
#include "lt_clock.h"
#include "lt_feed.h"
#include "lt_feed_int.h"
#include "lt_history.h"
#include "lt_peers.h"
#include "lt_snap.h"
#include "lt_store_snap.h"
#include "unit_sqlite.h"

#include <dirent.h>
#include <sqlite3.h>
#include <unistd.h>

static ug_t g;
static lt_feed_t *g_feed;

/* The test binary is linked with --wrap=calloc (CMakeLists.txt): a calloc
 * of elements of g_calloc_fail bytes fails while it is not 0, to take the
 * status's record types through their out-of-memory path. */
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
static size_t g_calloc_fail;

void *__wrap_calloc(size_t n, size_t size)
{
    return g_calloc_fail && size == g_calloc_fail ? NULL : __real_calloc(n, size);
}

static int suite_init(void)
{
    if (ug_open(&g, "feed") != 0 || !(g_feed = lt_feed_new(&g.ctx)))
        return -1;
    const char *keys[] = {"001", "002", "003", "004", "005"};
    for (size_t i = 0; i < 5; i++)
        if (ug_publish(&g, keys[i], "An", lt_feed_advanced, g_feed) != 0)
            return -1;
    return 0;
}

static int suite_clean(void)
{
    lt_feed_destroy(&g_feed);
    ug_close(&g);
    return 0;
}

static int64_t s_stat(const char *name, const char *subscriber)
{
    const char *v[] = {OD_POP, subscriber};
    return ug_stat(g.ctx.stats, name, v, subscriber ? 2 : 1);
}

/* Subscribe with a cursor (prev and history NULL when absent), asking for a
 * snapshot or not. */
static void s_subscribe_with(const char *stream, uint64_t from, uint32_t credit, int snapshot,
                             const uint8_t *prev, const uint8_t *history)
{
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = (char *)stream;
    m.from_seq = from;
    m.credit = credit;
    m.snapshot = snapshot;
    if (prev) {
        m.prev_hash.data = (uint8_t *)prev;
        m.prev_hash.len = LT_HASH_BYTES;
    }
    if (history) {
        m.history_id.data = (uint8_t *)history;
        m.history_id.len = LT_HISTORY_BYTES;
    }
    lt_wire_in_t in;
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_FATAL(ug_send(&g, LIENTHONG__ENVELOPE__BODY_SUBSCRIBE, &m, &in, &env) == 0);
    lt_feed_on_subscribe(g_feed, g.router, &in, env->subscribe);
    lt_wire_free(&env);
    lt_wire_in_close(&in);
}

static void s_subscribe_at(const char *stream, uint64_t from, uint32_t credit, const uint8_t *prev,
                           const uint8_t *history)
{
    s_subscribe_with(stream, from, credit, 0, prev, history);
}

static void s_subscribe_snap(const char *stream, uint64_t from, uint32_t credit, int snapshot,
                             const uint8_t *prev)
{
    s_subscribe_with(stream, from, credit, snapshot, prev, NULL);
}

static void s_subscribe(const char *stream, uint64_t from, uint32_t credit)
{
    s_subscribe_with(stream, from, credit, 0, NULL, NULL);
}

static void test_stream_statistics(void)
{
    CU_ASSERT_EQUAL(s_stat("lienthong_stream_last_seq", NULL), 5);
    CU_ASSERT_EQUAL(s_stat("lienthong_stream_appended", NULL), 5);
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    lt_feed_status(g_feed, &r);
    CU_ASSERT(r.n_streams >= 1);
    for (size_t i = 0; i < r.n_streams; i++)
        if (strcmp(r.streams[i]->stream, OD_POP) == 0)
            CU_ASSERT_EQUAL(r.streams[i]->last_seq, 5);
    lt_feed_status_free(&r);
}

static void test_unknown_stream_refused(void)
{
    s_subscribe("VN/GOV/BCA/nothing", 1, 10);
    Lienthong__Envelope *env = ug_recv(&g);
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT(env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND);
    lt_wire_free(&env);
}

/* Credit 2 from seq 1: one batch of records 1-2, signed over the genesis
 * hash; cursor 2, lag 3. Then publishing one more makes the lag 4. */
static void test_batches_follow_credit(void)
{
    s_subscribe(OD_POP, 1, 2);
    CU_ASSERT(lt_feed_pump(g_feed, g.router, NULL) == 1);
    Lienthong__Envelope *env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_BATCH);
    const Lienthong__Batch *b = env->batch;
    CU_ASSERT_EQUAL(b->first_seq, 1);
    CU_ASSERT_EQUAL(b->n_records, 2);
    uint8_t prev[LT_HASH_BYTES] = {0}, hash[LT_HASH_BYTES];
    char err[256];
    CU_ASSERT(lt_batch_verify(b, OD_POP, 1, prev, lt_keys_signing_public(g.ctx.keys), hash, err,
                              sizeof err) == 0);
    lt_wire_free(&env);
    CU_ASSERT(lt_feed_pump(g_feed, g.router, NULL) == 0); /* no credit left */
    CU_ASSERT_EQUAL(s_stat("lienthong_subscriber_cursor", UG_CALLER), 2);
    CU_ASSERT_EQUAL(s_stat("lienthong_subscriber_lag", UG_CALLER), 3);
    uint64_t gen = lt_feed_generation(g_feed);
    CU_ASSERT_FATAL(ug_publish(&g, "006", "An", lt_feed_advanced, g_feed) == 0);
    CU_ASSERT(lt_feed_generation(g_feed) != gen); /* an owned stream grew */
    CU_ASSERT_EQUAL(s_stat("lienthong_subscriber_lag", UG_CALLER), 4);
    CU_ASSERT_EQUAL(s_stat("lienthong_stream_appended", NULL), 6);
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    lt_feed_status(g_feed, &r);
    for (size_t i = 0; i < r.n_streams; i++)
        if (strcmp(r.streams[i]->stream, OD_POP) == 0) {
            CU_ASSERT_FATAL(r.streams[i]->n_subscribers == 1);
            CU_ASSERT_EQUAL(r.streams[i]->subscribers[0]->cursor, 2);
            CU_ASSERT_EQUAL(r.streams[i]->subscribers[0]->lag, 4);
        }
    lt_feed_status_free(&r);
}

/* PROTOCOL.md 6.9: batches carry the stream's history id and H binds it;
 * a Subscribe on another history gets HistoryChanged, never a batch; on
 * the stream's history it is served. */
static void test_history(void)
{
    s_subscribe(OD_POP, 1, 2);
    CU_ASSERT(lt_feed_pump(g_feed, g.router, NULL) == 1);
    Lienthong__Envelope *env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_BATCH);
    Lienthong__Batch *b = env->batch;
    CU_ASSERT_FATAL(b->history_id.len == LT_HISTORY_BYTES);
    uint8_t history[LT_HISTORY_BYTES], zero[LT_HASH_BYTES] = {0}, hash[LT_HASH_BYTES];
    memcpy(history, b->history_id.data, sizeof history);
    const uint8_t *pk = lt_keys_signing_public(g.ctx.keys);
    char err[256];
    CU_ASSERT(lt_batch_verify(b, OD_POP, 1, zero, pk, hash, err, sizeof err) == 0);
    b->history_id.data[0] ^= 1; /* another history: the signature no longer holds */
    uint8_t h2[LT_HASH_BYTES];
    CU_ASSERT(lt_batch_verify(b, OD_POP, 1, zero, pk, h2, err, sizeof err) != 0);
    b->history_id.len = 5; /* neither empty nor 16 bytes: malformed */
    CU_ASSERT(lt_batch_verify(b, OD_POP, 1, zero, pk, h2, err, sizeof err) != 0);
    lt_wire_free(&env);

    uint8_t other[LT_HISTORY_BYTES] = {0};
    s_subscribe_at(OD_POP, 3, 10, hash, other);
    CU_ASSERT(lt_feed_pump(g_feed, g.router, NULL) == 0);
    env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_HISTORY_CHANGED);
    const Lienthong__HistoryChanged *hc = env->history_changed;
    CU_ASSERT_STRING_EQUAL(hc->stream, OD_POP);
    CU_ASSERT(hc->history_id.len == LT_HISTORY_BYTES &&
              memcmp(hc->history_id.data, history, LT_HISTORY_BYTES) == 0);
    CU_ASSERT(hc->cursor_history_id.len == LT_HISTORY_BYTES &&
              memcmp(hc->cursor_history_id.data, other, LT_HISTORY_BYTES) == 0);
    CU_ASSERT_EQUAL(hc->last_seq, 6);
    lt_wire_free(&env);

    s_subscribe_at(OD_POP, 3, 1, hash, history);
    CU_ASSERT(lt_feed_pump(g_feed, g.router, NULL) == 1);
    env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_BATCH);
    CU_ASSERT(lt_batch_verify(env->batch, OD_POP, 3, hash, pk, h2, err, sizeof err) == 0);
    lt_wire_free(&env);
    /* Status shows the owner's history. */
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    lt_feed_status(g_feed, &r);
    for (size_t i = 0; i < r.n_streams; i++)
        if (strcmp(r.streams[i]->stream, OD_POP) == 0) {
            CU_ASSERT_FATAL(r.streams[i]->history != NULL);
            CU_ASSERT(r.streams[i]->history->id.len == LT_HISTORY_BYTES &&
                      memcmp(r.streams[i]->history->id.data, history, LT_HISTORY_BYTES) == 0);
            CU_ASSERT_STRING_EQUAL(r.streams[i]->history->state, "ok");
        }
    lt_feed_status_free(&r);
}

/* Subscribe.snapshot (PROTOCOL.md 6.7): whatever from_seq, the state at
 * S = 6 (six live keys, in key order) as chunks within credit, signed and
 * chained; then the end over the Merkle root of all six; then the tail
 * from S + 1 chained from the end's hash. */
static void test_snapshot_then_tail(void)
{
    const uint8_t *pk = lt_keys_signing_public(g.ctx.keys);
    uint8_t prev[LT_HASH_BYTES] = {0}, hash[LT_HASH_BYTES], root[LT_HASH_BYTES];
    char err[256], last_key[16] = "";
    lt_snap_merkle_t acc;
    lt_snap_merkle_init(&acc);
    s_subscribe_snap(OD_POP, 3, 4, 1, prev);
    for (uint64_t index = 0; index < 6;) {
        /* The last chunk and the end may leave in one pump. */
        CU_ASSERT_FATAL(lt_feed_pump(g_feed, g.router, NULL) >= 1);
        Lienthong__Envelope *env = ug_recv(&g);
        CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_SNAPSHOT_CHUNK);
        const Lienthong__SnapshotChunk *c = env->snapshot_chunk;
        CU_ASSERT_EQUAL(c->snapshot_seq, 6);
        CU_ASSERT(c->n_records == (index == 0 ? 4 : 2)); /* within the credit of 4 */
        CU_ASSERT_FATAL(lt_snap_chunk_verify(c, OD_POP, index, prev, pk, hash, err, sizeof err) ==
                        0);
        for (size_t i = 0; i < c->n_records; i++) {
            Lienthong__Record *r =
                lienthong__record__unpack(NULL, c->records[i].len, c->records[i].data);
            CU_ASSERT_FATAL(r != NULL);
            CU_ASSERT(strcmp(r->key, last_key) > 0 && !r->deleted && r->seq <= 6);
            snprintf(last_key, sizeof last_key, "%s", r->key);
            lienthong__record__free_unpacked(r, NULL);
            lt_snap_merkle_add(&acc, c->records[i].data, c->records[i].len);
        }
        index += c->n_records;
        memcpy(prev, hash, LT_HASH_BYTES);
        lt_wire_free(&env);
        Lienthong__Credit more = LIENTHONG__CREDIT__INIT;
        more.stream = OD_POP;
        more.credit = 4;
        lt_wire_in_t in;
        CU_ASSERT_FATAL(ug_send(&g, LIENTHONG__ENVELOPE__BODY_CREDIT, &more, &in, &env) == 0);
        lt_feed_on_credit(g_feed, g.router, &in, env->credit);
        lt_wire_free(&env);
        lt_wire_in_close(&in);
    }
    (void)lt_feed_pump(g_feed, g.router, NULL);
    Lienthong__Envelope *env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_SNAPSHOT_END);
    lt_snap_merkle_root(&acc, root);
    CU_ASSERT(lt_snap_end_verify(env->snapshot_end, OD_POP, 6, 6, prev, root, pk, hash, err,
                                 sizeof err) == 0);
    lt_wire_free(&env);
    CU_ASSERT_FATAL(ug_publish(&g, "007", "An", lt_feed_advanced, g_feed) == 0);
    CU_ASSERT_FATAL(lt_feed_pump(g_feed, g.router, NULL) == 1);
    env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_BATCH);
    CU_ASSERT(lt_batch_verify(env->batch, OD_POP, 7, hash, pk, prev, err, sizeof err) == 0);
    lt_wire_free(&env);
}

/* PROTOCOL.md 6.7, 6.9: a Subscribe asking for a snapshot on another
 * history gets HistoryChanged, never a snapshot; a snapshot's parts carry
 * the stream's history and their headers bind it. */
static void test_snapshot_history(void)
{
    uint8_t history[LT_HISTORY_BYTES], other[LT_HISTORY_BYTES] = {0}, prev[LT_HASH_BYTES] = {0};
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    lt_feed_status(g_feed, &r);
    int found = 0;
    for (size_t i = 0; i < r.n_streams; i++)
        if (strcmp(r.streams[i]->stream, OD_POP) == 0 && r.streams[i]->history &&
            r.streams[i]->history->id.len == LT_HISTORY_BYTES) {
            memcpy(history, r.streams[i]->history->id.data, LT_HISTORY_BYTES);
            found = 1;
        }
    lt_feed_status_free(&r);
    CU_ASSERT_FATAL(found);

    prev[0] = 1;
    s_subscribe_with(OD_POP, 3, 10, 1, prev, other);
    CU_ASSERT(lt_feed_pump(g_feed, g.router, NULL) == 0);
    Lienthong__Envelope *env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_HISTORY_CHANGED);
    lt_wire_free(&env);

    s_subscribe_with(OD_POP, 1, 10, 1, NULL, NULL);
    CU_ASSERT_FATAL(lt_feed_pump(g_feed, g.router, NULL) >= 1);
    env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_SNAPSHOT_CHUNK);
    Lienthong__SnapshotChunk *c = env->snapshot_chunk;
    CU_ASSERT_FATAL(c->history_id.len == LT_HISTORY_BYTES);
    CU_ASSERT(memcmp(c->history_id.data, history, LT_HISTORY_BYTES) == 0);
    const uint8_t *pk = lt_keys_signing_public(g.ctx.keys);
    uint8_t zero[LT_HASH_BYTES] = {0}, hash[LT_HASH_BYTES];
    char err[256];
    CU_ASSERT(lt_snap_chunk_verify(c, OD_POP, 0, zero, pk, hash, err, sizeof err) == 0);
    /* The check hands out each record's leaf; signed from those leaves, the
     * chunk has the pump's hash (the pump signed it from its read's). */
    static uint8_t leaves[LT_BATCH_MAX_RECORDS][LT_HASH_BYTES];
    uint8_t leaf[LT_HASH_BYTES], sig[LT_SIG_BYTES], again[LT_HASH_BYTES];
    CU_ASSERT_FATAL(lt_snap_chunk_verify_leaves(c, OD_POP, 0, zero, pk, hash, &leaves[0][0], err,
                                                sizeof err) == 0);
    for (size_t i = 0; i < c->n_records; i++) {
        lt_crypto_merkle_leaf(c->records[i].data, c->records[i].len, leaf);
        CU_ASSERT(memcmp(leaf, leaves[i], LT_HASH_BYTES) == 0);
    }
    uint8_t root[LT_HASH_BYTES];
    CU_ASSERT_FATAL(lt_batch_root_of(&leaves[0][0], c->n_records, root) == 0);
    CU_ASSERT(lt_snap_chunk_sign_root(g.ctx.keys, OD_POP, history, 0, c->n_records, zero, root, sig,
                                      again) == 0);
    CU_ASSERT(memcmp(again, hash, LT_HASH_BYTES) == 0);
    c->history_id.data[0] ^= 1; /* another history: the signature no longer holds */
    CU_ASSERT(lt_snap_chunk_verify(c, OD_POP, 0, zero, pk, hash, err, sizeof err) != 0);
    c->history_id.len = 0; /* none: HC without it, not what was signed */
    CU_ASSERT(lt_snap_chunk_verify(c, OD_POP, 0, zero, pk, hash, err, sizeof err) != 0);
    c->history_id.len = 5; /* neither empty nor 16 bytes: malformed */
    CU_ASSERT(lt_snap_chunk_verify(c, OD_POP, 0, zero, pk, hash, err, sizeof err) != 0);
    lt_wire_free(&env);
    /* Whatever else the pump sent (the end) is drained. */
    while ((env = ug_recv(&g)) != NULL)
        lt_wire_free(&env);
}

/* ---- consumers gone without a word (6.6, 6.7) ---------------------------------------- */

static lt_feed_stream_t *s_pop(void)
{
    lt_feed_stream_t *st = lt_feed_stream(g_feed, OD_POP);
    CU_ASSERT_FATAL(st != NULL);
    return st;
}

/* Subscriptions of UG_CALLER to population. */
static size_t s_subs(void)
{
    size_t n = 0;
    for (size_t i = 0; i < g_feed->n_subs; i++)
        n += strcmp(g_feed->subs[i].member, UG_CALLER) == 0 && g_feed->subs[i].stream == s_pop();
    return n;
}

/* The subscription on routing id rid, or NULL. */
static lt_feed_sub_t *s_sub_on(const char *rid)
{
    for (size_t i = 0; i < g_feed->n_subs; i++)
        if (g_feed->subs[i].rid_len == strlen(rid) &&
            memcmp(g_feed->subs[i].rid, rid, strlen(rid)) == 0)
            return &g_feed->subs[i];
    return NULL;
}

/* A consumer connection of UG_CALLER with routing id rid subscribes, is
 * served once, then goes away (a gateway killed, a link lost). */
/* A Subscribe from routing id rid; its socket is closed after (a consumer
 * gone), or kept open in *keep when keep is not NULL. */
static void s_subscribe_from(const char *rid, uint32_t credit, int snapshot, void **keep)
{
    void *d = zmq_socket(g.zctx, ZMQ_DEALER);
    CU_ASSERT_FATAL(d != NULL);
    CU_ASSERT_FATAL(zmq_setsockopt(d, ZMQ_ROUTING_ID, rid, strlen(rid)) == 0);
    CU_ASSERT_FATAL(zmq_connect(d, "inproc://unit-gw") == 0);
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = OD_POP;
    m.from_seq = 1;
    m.credit = credit;
    m.snapshot = snapshot;
    lt_wire_in_t in;
    Lienthong__ErrorCode code;
    char err[256];
    CU_ASSERT_FATAL(lt_wire_send_body(d, NULL, 0, LIENTHONG__ENVELOPE__BODY_SUBSCRIBE, &m) == 0);
    CU_ASSERT_FATAL(lt_wire_recv(g.router, 1, 0, &in) == 0);
    snprintf(in.user_id, sizeof in.user_id, "%s", UG_CALLER);
    Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                              1u << 20, &code, err, sizeof err);
    CU_ASSERT_FATAL(env != NULL);
    lt_feed_on_subscribe(g_feed, g.router, &in, env->subscribe);
    lt_wire_free(&env);
    lt_wire_in_close(&in);
    (void)lt_feed_pump(g_feed, g.router, NULL);
    if (keep)
        *keep = d;
    else
        zmq_close(d);
}

static void s_ghost_subscribe(const char *rid, uint32_t credit, int snapshot)
{
    s_subscribe_from(rid, credit, snapshot, NULL);
}

/* Subscribe{snapshot, credit 0} then gone: nothing could be sent, so no
 * snapshot starts, no read transaction pins the store and no floor holds
 * the log (before, one did for ever). */
static void test_snapshot_waits_for_credit(void)
{
    size_t snaps = g_feed->n_snaps;
    s_ghost_subscribe("ghost-00", 0, 1);
    for (int i = 0; i < 5; i++)
        (void)lt_feed_pump(g_feed, g.router, NULL);
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps);
    CU_ASSERT_EQUAL(lt_feed_snap_floor(g_feed, s_pop()), UINT64_MAX);
    lt_feed_sub_t *s = s_sub_on("ghost-00");
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT(s->snap == NULL && s->snap_wanted);
}

/* A consumer that used its credit on a chunk and was gone before its Credit
 * came: after LT_SNAP_IDLE_MS without progress the snapshot ends (read
 * transaction, place and floor released); the subscription stays, and the
 * snapshot restarts at index 0 once credit comes (6.7). */
static void test_idle_snapshot_ends(void)
{
    size_t snaps = g_feed->n_snaps;
    int linger = 0;
    void *d = NULL;
    /* Its socket stays open: the restart below is sent, not refused as to a
     * consumer gone, whenever the router would learn it had gone. */
    s_subscribe_from("ghost-01", 2, 1, &d);
    CU_ASSERT_FATAL(d != NULL);
    lt_feed_sub_t *s = s_sub_on("ghost-01");
    CU_ASSERT_FATAL(s != NULL && s->snap != NULL);
    CU_ASSERT_EQUAL(s->snap->index, 2);
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps + 1);
    CU_ASSERT(lt_feed_snap_floor(g_feed, s_pop()) != UINT64_MAX);
    g_feed->owner_at = 0; /* the look is due */
    lt_feed_tick(g_feed); /* not idle long enough yet */
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps + 1);
    s->snap->progress_at -= LT_SNAP_IDLE_MS;
    g_feed->owner_at = 0;
    lt_feed_tick(g_feed);
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps);
    CU_ASSERT_EQUAL(lt_feed_snap_floor(g_feed, s_pop()), UINT64_MAX);
    CU_ASSERT_FATAL((s = s_sub_on("ghost-01")) != NULL);
    CU_ASSERT(s->snap == NULL && s->snap_wanted);
    s->credit = 1; /* as a Credit would: the snapshot starts over */
    (void)lt_feed_pump(g_feed, g.router, NULL);
    CU_ASSERT_FATAL((s = s_sub_on("ghost-01")) != NULL);
    CU_ASSERT(s->snap == NULL || s->snap->index <= 1); /* index 0 again, or dropped when sent */
    (void)zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(d);
}

/* What sock received next within 1 s (NULL when nothing). */
static Lienthong__Envelope *s_recv_on(void *sock)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 1000) <= 0)
        return NULL;
    zmq_msg_t m;
    zmq_msg_init(&m);
    Lienthong__Envelope *env = NULL;
    Lienthong__ErrorCode code;
    char err[256];
    if (zmq_msg_recv(&m, sock, 0) >= 0)
        env = lt_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), 1u << 20, &code, err, sizeof err);
    zmq_msg_close(&m);
    return env;
}

/* A sink adapter with routing id rid, its socket returned open. */
static void *s_sink_socket(const char *rid)
{
    void *d = zmq_socket(g.zctx, ZMQ_DEALER);
    CU_ASSERT_FATAL(d != NULL);
    CU_ASSERT_FATAL(zmq_setsockopt(d, ZMQ_ROUTING_ID, rid, strlen(rid)) == 0);
    CU_ASSERT_FATAL(zmq_connect(d, "inproc://unit-gw") == 0);
    return d;
}

/* The sink on socket d attaches to the population from from_seq, its
 * cursor on history (PROTOCOL.md 8.2), as the gateway gets it. */
static void s_sink_attach(void *d, uint64_t from_seq, ProtobufCBinaryData history)
{
    Lienthong__SinkAttach m = LIENTHONG__SINK_ATTACH__INIT;
    m.stream = OD_POP;
    m.from_seq = from_seq;
    m.credit = 10;
    m.replace = 1;
    m.keeps_history = 1;
    m.history_id = history;
    lt_wire_in_t in;
    Lienthong__ErrorCode code;
    char err[256];
    CU_ASSERT_FATAL(lt_wire_send_body(d, NULL, 0, LIENTHONG__ENVELOPE__BODY_SINK_ATTACH, &m) == 0);
    CU_ASSERT_FATAL(lt_wire_recv(g.router, 1, 0, &in) == 0);
    Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                              1u << 20, &code, err, sizeof err);
    CU_ASSERT_FATAL(env != NULL);
    lt_feed_on_sink_attach(g_feed, g.router, &in, env->sink_attach);
    lt_wire_free(&env);
    lt_wire_in_close(&in);
}

/* A sink adapter with routing id rid attaches to the population on
 * another history than the stream's: its table is replaced from the start
 * (PROTOCOL.md 8.2). Its socket, returned, stays open. */
static void *s_sink_on_other_history(const char *rid)
{
    uint8_t other[LT_HISTORY_BYTES];
    memset(other, 0xaa, sizeof other);
    void *d = s_sink_socket(rid);
    s_sink_attach(d, 2, (ProtobufCBinaryData){sizeof other, other});
    return d;
}

/* Sends stderr to the file name in the test's directory (its path in log)
 * until s_log_end; returns the saved stderr. */
static int s_log_start(const char *name, char *log, size_t cap)
{
    snprintf(log, cap, "%s/%s", g.tmp, name);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    return saved;
}

/* Puts stderr back (saved, from s_log_start) and reads what log got. */
static void s_log_end(int saved, const char *log, char *out, size_t cap)
{
    ut_captured(saved, log, out, cap);
    close(saved);
}

/* A sink adapter that took a replacement's first part and is gone before
 * it acknowledged it (stopped for good, its database down) is sent nothing
 * more, so no send fails to tell. After LT_SNAP_IDLE_MS without progress
 * the replacement ends (read transaction, place and floor released), is
 * logged, and the sink is detached with ERR_UNAVAILABLE, to attach again
 * (8.2); before, it held them until it attached again or the gateway
 * restarted. */
static void test_idle_replacement_ends(void)
{
    size_t snaps = g_feed->n_snaps, sinks = g_feed->n_sinks;
    uint64_t floor = lt_feed_snap_floor(g_feed, s_pop());
    int linger = 0;
    void *d = s_sink_on_other_history("sink-01");
    CU_ASSERT_FATAL(g_feed->n_sinks == sinks + 1);
    lt_feed_sink_t *k = &g_feed->sinks[sinks];
    (void)lt_feed_pump(g_feed, NULL, g.router); /* the first part; no DeliverAck comes */
    CU_ASSERT_FATAL(k->snap != NULL);
    CU_ASSERT(k->awaiting);
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps + 1);
    CU_ASSERT(lt_feed_snap_floor(g_feed, s_pop()) <= k->snap->seq + 1);
    g_feed->owner_at = 0;
    lt_feed_tick(g_feed); /* not idle long enough yet */
    CU_ASSERT_FATAL(k->snap != NULL);
    k->snap->progress_at -= LT_SNAP_IDLE_MS;
    char log[512];
    static char out[16384];
    int saved = s_log_start("idle-sink.log", log, sizeof log);
    lt_feed_tick(g_feed);
    s_log_end(saved, log, out, sizeof out);
    CU_ASSERT(k->snap == NULL);
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps);
    CU_ASSERT_EQUAL(lt_feed_snap_floor(g_feed, s_pop()), floor);
    CU_ASSERT_EQUAL(ut_lines(out, "replacement of the sink of " OD_POP " at seq"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "no DeliverAck for 60 s"), 1);
    (void)lt_feed_pump(g_feed, NULL, g.router); /* detached */
    CU_ASSERT_EQUAL(g_feed->n_sinks, sinks);
    /* It got the first part, then why it was detached. */
    Lienthong__Envelope *env = s_recv_on(d);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_DELIVER);
    CU_ASSERT(env->deliver->replace_first && !env->deliver->replace_last);
    lt_wire_free(&env);
    env = s_recv_on(d);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
    CU_ASSERT_EQUAL(env->error->code, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
    lt_wire_free(&env);
    (void)zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(d);
}

/* An idle sink adapter attaches again every few seconds (adapters/lt_sink.c,
 * SILENCE_MS) at the same seq and history: only its first attach, and one
 * at another seq or from another adapter, is logged at info; before, each
 * added a line, some 17,000 a day per idle sink. */
static void test_sink_attach_again_quiet(void)
{
    size_t sinks = g_feed->n_sinks;
    lt_feed_stream_t *st = s_pop();
    ProtobufCBinaryData history;
    lt_feed_sink_history(st, &history);
    uint64_t at = st->last_seq + 1; /* caught up: nothing to deliver */
    CU_ASSERT_FATAL(at > 2 && at - 1 >= st->tail_first);
    void *d = s_sink_socket("sink-idle"), *e = s_sink_socket("sink-other");
    char log[512];
    static char out[16384];
    int saved = s_log_start("attach-again.log", log, sizeof log);
    lt_log_set_level(LT_LOG_INFO);
    s_sink_attach(d, at, history);
    s_sink_attach(d, at, history); /* again, idle */
    s_sink_attach(d, at, history);
    lt_log_set_level(LT_LOG_ERROR);
    s_log_end(saved, log, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "sink attached to " OD_POP " from seq"), 1);
    saved = s_log_start("attach-moved.log", log, sizeof log);
    lt_log_set_level(LT_LOG_INFO);
    s_sink_attach(d, at - 1, history); /* another seq */
    s_sink_attach(e, at - 1, history); /* another adapter */
    lt_log_set_level(LT_LOG_ERROR);
    s_log_end(saved, log, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "sink attached to " OD_POP " from seq"), 2);
    CU_ASSERT_EQUAL(g_feed->n_sinks, sinks + 1); /* one sink per stream */
    /* Gone: nothing is delivered to it later. */
    for (size_t i = 0; i < g_feed->n_sinks; i++)
        if (g_feed->sinks[i].stream == st) {
            g_feed->sinks[i] = g_feed->sinks[--g_feed->n_sinks];
            break;
        }
    int linger = 0;
    (void)zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    (void)zmq_setsockopt(e, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(d);
    zmq_close(e);
}

/* ---- places among the snapshots being sent (6.7, 8.2) -------------------------------- */

/* A subscription of member to population on a routing id no peer holds,
 * wanting a snapshot, with credit 1, added as lt_feed_on_subscribe would;
 * its snapshot started if a place is free (the send itself fails: no one
 * is there, but the snapshot stays until ended). */
static lt_feed_sub_t *s_place_sub(const char *member, int i)
{
    CU_ASSERT_FATAL(g_feed->n_subs < LT_FEED_MAX_SUBS);
    lt_feed_sub_t *s = &g_feed->subs[g_feed->n_subs++];
    memset(s, 0, sizeof *s);
    s->rid_len = (size_t)snprintf((char *)s->rid, sizeof s->rid, "place-%s-%d", member, i);
    snprintf(s->member, sizeof s->member, "%s", member);
    s->stream = s_pop();
    s->next = 1;
    s->credit = 1;
    s->snap_wanted = 1;
    (void)lt_feed_snap_send(g_feed, g.router, s);
    return s;
}

/* A sink of population on a routing id no adapter holds, behind the tail,
 * taking a replacement: started if a place is free. */
static lt_feed_sink_t *s_place_sink(void)
{
    CU_ASSERT_FATAL(g_feed->n_sinks < LT_FEED_MAX_SINKS);
    lt_feed_sink_t *k = &g_feed->sinks[g_feed->n_sinks++];
    memset(k, 0, sizeof *k);
    k->rid_len = (size_t)snprintf((char *)k->rid, sizeof k->rid, "place-sink");
    k->stream = s_pop();
    k->next = 1;
    k->credit = 10;
    k->replace_ok = 1;
    (void)lt_feed_snap_replace(g_feed, g.router, k);
    return k;
}

/* Ends what the cases below added from subs[subs] and sinks[sinks] on. */
static void s_places_end(size_t subs, size_t sinks)
{
    for (size_t i = subs; i < g_feed->n_subs; i++)
        lt_feed_snap_free(g_feed, &g_feed->subs[i].snap);
    for (size_t i = sinks; i < g_feed->n_sinks; i++)
        lt_feed_snap_free(g_feed, &g_feed->sinks[i].snap);
    g_feed->n_subs = subs;
    g_feed->n_sinks = sinks;
}

/* One member subscribing to many streams (here, on many connections) gets
 * LT_SNAP_MAX_PER_MEMBER snapshots at once; the rest wait as for a full
 * table, and other members are served meanwhile (before, one member could
 * take all LT_SNAP_MAX_SENDING places, and hold them). */
static void test_snapshots_per_member(void)
{
    lt_feed_snap_end_all(g_feed); /* what the cases before left */
    size_t subs = g_feed->n_subs, sinks = g_feed->n_sinks, snaps = g_feed->n_snaps;
    for (int i = 0; i < LT_SNAP_MAX_PER_MEMBER; i++)
        CU_ASSERT(s_place_sub("VN/ONE", i)->snap != NULL);
    lt_feed_sub_t *s = s_place_sub("VN/ONE", LT_SNAP_MAX_PER_MEMBER);
    CU_ASSERT(s->snap == NULL && s->snap_wanted);
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps + LT_SNAP_MAX_PER_MEMBER);
    CU_ASSERT(s_place_sub("VN/TWO", 0)->snap != NULL);
    /* One of its own ends: its next one starts. */
    lt_feed_snap_free(g_feed, &g_feed->subs[subs].snap);
    (void)lt_feed_snap_send(g_feed, g.router, s);
    CU_ASSERT(s->snap != NULL);
    s_places_end(subs, sinks);
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps);
    CU_ASSERT_EQUAL(g_feed->n_peer_snaps, 0);
}

/* Peers' snapshots, however many members ask, leave LT_SNAP_SINK_PLACES
 * places to local sinks: a sink behind the tail is replaced at once
 * (before, peers could take every place and the sink waited for ever). */
static void test_snapshot_places_for_sinks(void)
{
    lt_feed_snap_end_all(g_feed); /* what the cases before left */
    size_t subs = g_feed->n_subs, sinks = g_feed->n_sinks;
    CU_ASSERT_FATAL(g_feed->n_snaps == 0 && g_feed->n_peer_snaps == 0);
    char member[32];
    for (int i = 0; i < LT_SNAP_MAX_SENDING; i++) {
        snprintf(member, sizeof member, "VN/M%d", i / LT_SNAP_MAX_PER_MEMBER);
        (void)s_place_sub(member, i);
    }
    CU_ASSERT_EQUAL(g_feed->n_snaps, LT_SNAP_MAX_SENDING - LT_SNAP_SINK_PLACES);
    CU_ASSERT_EQUAL(g_feed->n_peer_snaps, LT_SNAP_MAX_SENDING - LT_SNAP_SINK_PLACES);
    CU_ASSERT(g_feed->subs[g_feed->n_subs - 1].snap == NULL);
    for (int i = 0; i < LT_SNAP_SINK_PLACES; i++)
        CU_ASSERT(s_place_sink()->snap != NULL);
    CU_ASSERT_EQUAL(g_feed->n_snaps, LT_SNAP_MAX_SENDING);
    CU_ASSERT(s_place_sink()->snap == NULL); /* the table is full now */
    s_places_end(subs, sinks);
    CU_ASSERT_EQUAL(g_feed->n_snaps, 0);
    CU_ASSERT_EQUAL(g_feed->n_peer_snaps, 0);
}

/* A consumer that takes a part just often enough not to idle out keeps its
 * snapshot only until its deadline: LT_SNAP_RUN_MS, and 1 s for each
 * LT_SNAP_MIN_RATE records sent; it ends then, logged, and restarts when
 * credit comes. A sink's replacement too, the sink detached (before, both
 * held their place, read transaction and log for ever). */
static void test_snapshot_deadline(void)
{
    size_t subs = g_feed->n_subs, sinks = g_feed->n_sinks, snaps = g_feed->n_snaps;
    lt_feed_sub_t *s = s_place_sub("VN/SLOW", 0);
    CU_ASSERT_FATAL(s->snap != NULL);
    int64_t now = lt_clock_mono_ms();
    s->snap->index = 100 * LT_SNAP_MIN_RATE; /* 100 s more */
    s->snap->started_at = now - LT_SNAP_RUN_MS - 99000;
    s->snap->progress_at = now; /* it took a part just now */
    lt_feed_snap_idle(g_feed, s, now);
    CU_ASSERT_FATAL(s->snap != NULL); /* within its deadline */
    s->snap->started_at -= 1000;
    char log[512];
    static char out[16384];
    int saved = s_log_start("deadline.log", log, sizeof log);
    lt_log_set_level(LT_LOG_WARN);
    lt_feed_snap_idle(g_feed, s, now);
    lt_feed_sink_t *k = s_place_sink();
    CU_ASSERT_FATAL(k->snap != NULL);
    k->snap->started_at = now - LT_SNAP_RUN_MS;
    k->snap->progress_at = now;
    lt_feed_snap_replace_idle(g_feed, k, now);
    lt_log_set_level(LT_LOG_ERROR);
    s_log_end(saved, log, out, sizeof out);
    CU_ASSERT(s->snap == NULL && s->snap_wanted);
    CU_ASSERT_EQUAL(ut_lines(out, "snapshot of " OD_POP " at seq"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "still running after 700 s, past its deadline"), 1);
    CU_ASSERT(k->snap == NULL && k->detach == LT_SINK_OVERDUE);
    CU_ASSERT_EQUAL(ut_lines(out, "replacement of the sink of " OD_POP " at seq"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "still running after 600 s, past its deadline"), 1);
    s_places_end(subs, sinks);
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps);
}

/* Retention ticks as if a second went by before each, as many as a busy
 * prune runs in a while. */
static void s_prune_busy(void)
{
    for (int i = 0; i < 20; i++) {
        g_feed->prune_at = 0;
        lt_feed_retain_tick(g_feed);
    }
}

/* More records than retain_records are published while a snapshot is
 * sent; once it ends, its subscriber, out of credit for now, still finds
 * the log from its next seq (S + 1) however busy the pruning (before, the
 * tail moved past it at once and it was sent a snapshot again), until it
 * catches up with the last seq of when it ended or LT_SNAP_HOLD_MS passes
 * (PROTOCOL.md 6.8). */
static void test_log_kept_after_snapshot(void)
{
    lt_feed_snap_end_all(g_feed);
    lt_feed_stream_t *st = s_pop();
    /* The state whole again: 003's current version was damaged above. */
    CU_ASSERT_FATAL(ug_publish(&g, "003", "Chi", lt_feed_advanced, g_feed) == 0);
    /* The log as kept from here: the rows of the cases before stay below. */
    CU_ASSERT_FATAL(lt_store_tail_set(g.ctx.store, st->id, st->last_seq + 1) == 0);
    st->tail_first = st->last_seq + 1;
    st->prune_wait_at = 0;
    int linger = 0;
    void *d = NULL;
    s_subscribe_from("hold-01", 1, 1, &d);
    lt_feed_sub_t *s = s_sub_on("hold-01");
    CU_ASSERT_FATAL(s != NULL && s->snap != NULL);
    uint64_t S = s->snap->seq;
    for (int i = 0; i < 8; i++) /* one key, so that the versions can go */
        CU_ASSERT_FATAL(ug_publish(&g, "hold-1", i % 2 ? "Ba" : "Tu", lt_feed_advanced, g_feed) ==
                        0);
    CU_ASSERT_FATAL(st->last_seq == S + 8);
    int rc = 1;
    for (int i = 0; i < 10000 && s->snap && rc == 1; i++) { /* a record a Credit */
        s->credit = 1;
        rc = lt_feed_snap_send(g_feed, g.router, s);
    }
    CU_ASSERT(rc == 1);
    CU_ASSERT_FATAL(s->snap == NULL && s->next == S + 1);
    s->credit = 0; /* its next Credit is on its way */
    g.cfg.retain_records = 2;
    s_prune_busy();
    CU_ASSERT(st->tail_first <= S + 1);
    uint8_t *rec = NULL;
    size_t len = 0;
    CU_ASSERT(lt_store_get(g.ctx.store, st->id, S + 1, &rec, &len) == 1);
    free(rec);
    /* Halfway: the log is kept from where it is. */
    s->next = S + 5;
    s_prune_busy();
    CU_ASSERT_EQUAL(st->tail_first, S + 5);
    /* Caught up: the settings alone bound the log again. */
    s->next = S + 9;
    s_prune_busy();
    CU_ASSERT_EQUAL(st->tail_first, S + 7);
    /* A subscriber that does not catch up is held for LT_SNAP_HOLD_MS only. */
    s->next = S + 7;
    s->hold.to = S + 100;
    CU_ASSERT_EQUAL(lt_feed_snap_floor(g_feed, st), S + 7);
    s->hold.until = lt_clock_mono_ms();
    CU_ASSERT_EQUAL(lt_feed_snap_floor(g_feed, st), UINT64_MAX);
    g.cfg.retain_records = 0;
    (void)zmq_setsockopt(d, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(d);
}

/* The member subscribes on a new connection: its subscriptions to the
 * stream on older routing ids end (they held slots for ever before). */
static void test_new_connection_supersedes(void)
{
    for (int i = 0; i < 8; i++) {
        char rid[16];
        snprintf(rid, sizeof rid, "dead-%02d", i);
        s_ghost_subscribe(rid, 0, i % 2);
        CU_ASSERT_EQUAL(s_subs(), 1);
    }
    s_subscribe(OD_POP, 1, 0);
    CU_ASSERT_EQUAL(s_subs(), 1);
    CU_ASSERT(s_sub_on("consumer") != NULL);
    CU_ASSERT_EQUAL(g_feed->n_snaps, 0);
}

/* 6.6: STREAMING and a Subscribe failing 6.2 (here ERR_SEQUENCE) is IDLE:
 * the Error comes and nothing more is sent on the old subscription. */
static void test_refused_resubscribe_stops(void)
{
    s_subscribe(OD_POP, 1, 0);
    CU_ASSERT_FATAL(s_sub_on("consumer") != NULL);
    uint8_t prev[LT_HASH_BYTES] = {0};
    s_subscribe_at(OD_POP, s_pop()->last_seq + 5, 10, prev, NULL);
    Lienthong__Envelope *env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
    CU_ASSERT_EQUAL(env->error->code, LIENTHONG__ERROR_CODE__ERR_SEQUENCE);
    lt_wire_free(&env);
    CU_ASSERT(s_sub_on("consumer") == NULL);
    CU_ASSERT_EQUAL(lt_feed_pump(g_feed, g.router, NULL), 0);
}

/* A member the peer layer reports lost (no Hello within the heartbeat
 * timeout, 3.3) loses its subscriptions, with or without credit. */
static void test_lost_peer_dropped(void)
{
    lt_sock_opts_t so = {.max_message = g.cfg.max_message, .heartbeat_ms = 10, .hwm = 100};
    g.cfg.heartbeat_ms = 10;
    lt_peers_t *peers = lt_peers_new(&g.ctx, g.zctx, &so);
    CU_ASSERT_FATAL(peers != NULL);
    g.ctx.peers = peers;
    lt_wire_in_t in = {.rid_len = 8};
    memcpy(in.rid, "consumer", 8);
    snprintf(in.user_id, sizeof in.user_id, "%s", UG_CALLER);
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.software = "unit";
    h.directory_version = lt_dir_version(g.ctx.dir);
    lt_peers_on_hello(peers, g.router, &in, &h);
    s_subscribe(OD_POP, 1, 0);
    g_feed->owner_at = 0; /* the look is due */
    lt_feed_tick(g_feed); /* connected: it stays */
    CU_ASSERT_EQUAL(s_subs(), 1);
    usleep(100 * 1000); /* past 5 heartbeats without a Hello */
    lt_peers_tick(peers);
    g_feed->owner_at = 0;
    lt_feed_tick(g_feed);
    CU_ASSERT_EQUAL(s_subs(), 0);
    Lienthong__Envelope *env;
    while ((env = ug_recv(&g)) != NULL) /* our Hello */
        lt_wire_free(&env);
    g.ctx.peers = NULL;
    lt_peers_destroy(&peers);
}

/* ---- snapshots that cannot be sent whole -------------------------------------------- */

/* A record stored before the frame cap was lowered to 64 KiB: its chunk is
 * reported (ERR_TOO_LARGE), never sent for the consumer's socket to drop. */
static void test_snapshot_chunk_too_large(void)
{
    static char name[80000];
    memset(name, 'A', sizeof name - 1);
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.personal_id = "000";
    p.full_name = name;
    CU_ASSERT_FATAL(ug_publish_record(&g, "000", &p, 1u << 20, lt_feed_advanced, g_feed) == 0);
    size_t max = g.cfg.max_message;
    g.cfg.max_message = 64u << 10;
    lt_feed_limits_changed(g_feed);
    s_subscribe_snap(OD_POP, 1, 100, 1, NULL); /* key 000 comes first */
    (void)lt_feed_pump(g_feed, g.router, NULL);
    Lienthong__Envelope *env = ug_recv(&g);
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT(env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
    lt_wire_free(&env);
    CU_ASSERT(s_sub_on("consumer") == NULL);
    CU_ASSERT_EQUAL(g_feed->n_snaps, 0);
    g.cfg.max_message = max;
    lt_feed_limits_changed(g_feed);
    CU_ASSERT_FATAL(ug_publish(&g, "000", "An", lt_feed_advanced, g_feed) == 0);
}

/* 6.10: a state row whose log row is gone stops the snapshot with
 * Error{ERR_INTERNAL, damaged} naming it, after the sound records before
 * it (before, the subscription was dropped without a word). Last: the
 * store stays damaged. */
static void test_snapshot_damaged(void)
{
    lt_feed_stream_t *st = s_pop();
    CU_ASSERT_FATAL(ug_publish(&g, "003", "Binh", lt_feed_advanced, g_feed) == 0);
    uint64_t seq = st->last_seq;
    char path[300], sql[200];
    snprintf(path, sizeof path, "%s/store.db", g.tmp);
    snprintf(sql, sizeof sql, "DELETE FROM log WHERE id = %lld",
             (long long)(((uint64_t)st->id << LT_STORE_SEQ_BITS) | seq));
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_changes(db) == 1);
    sqlite3_close(db);
    s_subscribe_snap(OD_POP, 1, 100, 1, NULL);
    (void)lt_feed_pump(g_feed, g.router, NULL);
    Lienthong__Envelope *env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_SNAPSHOT_CHUNK);
    CU_ASSERT_EQUAL(env->snapshot_chunk->n_records, 3); /* 000, 001 and 002, before 003 */
    lt_wire_free(&env);
    env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
    CU_ASSERT_EQUAL(env->error->code, LIENTHONG__ERROR_CODE__ERR_INTERNAL);
    CU_ASSERT_FATAL(env->error->damaged != NULL);
    CU_ASSERT_EQUAL(env->error->damaged->first_seq, seq);
    lt_wire_free(&env);
    CU_ASSERT(s_sub_on("consumer") == NULL);
    CU_ASSERT_EQUAL(g_feed->n_snaps, 0);
}

/* ---- a view whose definition changes (PROTOCOL.md 6.1, 6.9) ---- */

#define OD_V    OD_POP ".v"
#define V_ENTRY ",\n  { id = \"" OD_V "\"; dataset = \"" OD_POP "\"; "

/* What a view record holds, decoded. */
typedef struct {
    char key[16], name[64], dob[16];
} s_view_rec_t;

typedef struct {
    s_view_rec_t r[64];
    size_t n;
} s_view_recs_t;

static int s_view_rec_add(s_view_recs_t *out, const void *rec, size_t len)
{
    Lienthong__Record *r = lienthong__record__unpack(NULL, len, rec);
    Lienthong__Records__Population *p =
        r ? lienthong__records__population__unpack(NULL, r->payload.len, r->payload.data) : NULL;
    int rc = p && out->n < 64 ? 0 : -1;
    if (rc == 0) {
        s_view_rec_t *v = &out->r[out->n++];
        snprintf(v->key, sizeof v->key, "%s", r->key);
        snprintf(v->name, sizeof v->name, "%s", p->full_name);
        snprintf(v->dob, sizeof v->dob, "%s", p->date_of_birth);
    }
    if (p)
        lienthong__records__population__free_unpacked(p, NULL);
    if (r)
        lienthong__record__free_unpacked(r, NULL);
    return rc;
}

/* The records the pump would send from seq 1 (the in-memory tail and
 * runs, else the log). */
static s_view_recs_t s_view_log(void)
{
    s_view_recs_t out = {.n = 0};
    lt_feed_stream_t *st = lt_feed_stream(g_feed, OD_V);
    CU_ASSERT_FATAL(st != NULL);
    int n = lt_feed_chunk_read(g_feed, st, 1, 64);
    CU_ASSERT_FATAL(n >= 0);
    for (int i = 0; i < n; i++)
        CU_ASSERT_FATAL(
            s_view_rec_add(&out, g_feed->chunk.recs[i].data, g_feed->chunk.recs[i].len) == 0);
    return out;
}

static int s_snap_add(void *arg, uint64_t seq, const void *rec, size_t len,
                      const uint8_t leaf[LT_HASH_BYTES])
{
    (void)leaf;
    (void)seq;
    return s_view_rec_add(arg, rec, len);
}

/* What a snapshot of the view would send: the state, read as the owner's
 * snapshot reads it. */
static s_view_recs_t s_view_snapshot(void)
{
    s_view_recs_t out = {.n = 0};
    char err[256];
    lt_feed_stream_t *st = lt_feed_stream(g_feed, OD_V);
    CU_ASSERT_FATAL(st != NULL);
    lt_store_snap_t *rd = lt_store_snap_new(g.ctx.store, st->id, err, sizeof err);
    CU_ASSERT_FATAL(rd != NULL);
    int n;
    while ((n = lt_store_snap_read(rd, 64, 1u << 20, s_snap_add, &out)) > 0)
        ;
    CU_ASSERT(n == 0);
    lt_store_snap_destroy(&rd);
    return out;
}

/* No record of recs holds a date of birth; every name is `only` when set. */
static void s_view_narrow(const s_view_recs_t *recs, const char *only)
{
    for (size_t i = 0; i < recs->n; i++) {
        CU_ASSERT_STRING_EQUAL(recs->r[i].dob, "");
        if (only)
            CU_ASSERT_STRING_EQUAL(recs->r[i].name, only);
    }
}

static lt_dir_t *s_view_dir(const char *entry)
{
    char err[1024]; /* a message naming a path of up to 511 bytes */
    lt_dir_t *d = od_directory_views(g.tmp, entry, err, sizeof err);
    if (!d)
        fprintf(stderr, "directory: %s\n", err);
    return d;
}

/* Adopts d (the feed's view of ctx->dir changes with it). */
static void s_adopt(lt_dir_t *d)
{
    g.ctx.dir = d;
    lt_feed_dir_changed(g_feed, g.router);
}

/* A view new in a directory is derived from the dataset's current records;
 * narrowing its fields, then its predicate, rebuilds it on a new history:
 * neither the log the pump reads (its memory included) nor a snapshot
 * holds a dropped field or row any more. A directory listing it no more
 * empties it. */
static void test_view_follows_definition(void)
{
    lt_dir_t *orig = g.ctx.dir;
    lt_dir_t *d1 = s_view_dir(V_ENTRY "fields = [\"full_name\", \"date_of_birth\"]; }");
    lt_dir_t *d2 = s_view_dir(V_ENTRY "fields = [\"full_name\"]; }");
    lt_dir_t *d3 = s_view_dir(V_ENTRY "fields = [\"full_name\"]; "
                                      "where = { full_name = \"Le Van C\"; }; }");
    CU_ASSERT_FATAL(d1 && d2 && d3);
    lt_stream_t ds;
    CU_ASSERT_FATAL(lt_store_stream_find(g.ctx.store, OD_POP, &ds) == 1);
    uint64_t live = ds.last_seq; /* every key published once so far */

    s_adopt(d1); /* new: back-filled from the population's records */
    s_view_recs_t recs = s_view_log();
    CU_ASSERT_EQUAL(recs.n, live);
    CU_ASSERT(recs.n > 0 && strcmp(recs.r[0].dob, "1980-02-29") == 0);
    CU_ASSERT_FATAL(ug_publish(&g, "777", "Tran Thi B", lt_feed_advanced, g_feed) == 0);
    recs = s_view_log(); /* the new record, from memory */
    CU_ASSERT_EQUAL(recs.n, live + 1);
    lt_feed_stream_t *st = lt_feed_stream(g_feed, OD_V);
    uint8_t h1[LT_HISTORY_BYTES];
    memcpy(h1, st->history, sizeof h1);

    s_adopt(d2); /* the authority drops date_of_birth from the view */
    CU_ASSERT(memcmp(h1, st->history, sizeof h1) != 0);
    CU_ASSERT_FATAL(ug_publish(&g, "778", "Le Van C", lt_feed_advanced, g_feed) == 0);
    recs = s_view_log();
    CU_ASSERT_EQUAL(recs.n, live + 2);
    s_view_narrow(&recs, NULL);
    recs = s_view_snapshot();
    CU_ASSERT_EQUAL(recs.n, live + 2);
    s_view_narrow(&recs, NULL);

    s_adopt(d3); /* and then keeps only Le Van C's row */
    recs = s_view_log();
    CU_ASSERT_EQUAL(recs.n, 1);
    s_view_narrow(&recs, "Le Van C");
    recs = s_view_snapshot();
    CU_ASSERT_EQUAL(recs.n, 1);
    s_view_narrow(&recs, "Le Van C");
    CU_ASSERT_EQUAL(st->last_seq, 1);

    s_adopt(d3); /* the same definition again: nothing is rebuilt */
    CU_ASSERT_EQUAL(st->last_seq, 1);
    s_adopt(orig); /* no longer listed: emptied */
    lt_stream_t row;
    CU_ASSERT(lt_store_stream_find(g.ctx.store, OD_V, &row) == 1 && row.last_seq == 0);
    CU_ASSERT_EQUAL(st->last_seq, 0);
    lt_dir_destroy(&d1);
    lt_dir_destroy(&d2);
    lt_dir_destroy(&d3);
}

/* A directory that changed a view while the gateway was stopped: the view
 * is rebuilt when the feed starts, before anything is served. */
static void test_view_changed_while_stopped(void)
{
    lt_dir_t *orig = g.ctx.dir;
    lt_dir_t *d1 = s_view_dir(V_ENTRY "fields = [\"full_name\", \"date_of_birth\"]; }");
    lt_dir_t *d2 = s_view_dir(V_ENTRY "fields = [\"full_name\"]; }");
    CU_ASSERT_FATAL(d1 && d2);
    s_adopt(d1);
    CU_ASSERT(s_view_log().n > 0 && strcmp(s_view_log().r[0].dob, "1980-02-29") == 0);
    lt_feed_destroy(&g_feed); /* stopped; started again with d2 */
    g.ctx.dir = d2;
    g_feed = lt_feed_new(&g.ctx);
    CU_ASSERT_FATAL(g_feed != NULL);
    s_view_recs_t recs = s_view_log();
    CU_ASSERT(recs.n > 0);
    s_view_narrow(&recs, NULL);
    s_adopt(orig);
    lt_dir_destroy(&d1);
    lt_dir_destroy(&d2);
}

/* ---- subscriber lines kept in the store (lt_feed_lines) ---- */

/* Writes the lines now when they are due, as the writer thread would: 1
 * when a job was due. As if LT_FEED_LINES_GAP_MS had passed since the last
 * save (s_lines_try does not move it). */
static int s_lines_try(void)
{
    void *job = lt_feed_lines_job(g_feed);
    if (!job)
        return 0;
    CU_ASSERT(lt_feed_lines_is(g_feed, job));
    lt_feed_lines_run(job, g.ctx.store);
    lt_feed_lines_done(g_feed, job);
    return 1;
}

static int s_lines_save(void)
{
    g_feed->lines_gap_at = 0;
    return s_lines_try();
}

typedef struct {
    int pop, view; /* lines of UG_CALLER on population and on the view */
    char reason[128];
} lines_seen_t;

static int s_line_seen(void *arg, const char *stream, const lt_store_sub_t *l)
{
    lines_seen_t *seen = arg;
    if (strcmp(l->member, UG_CALLER) != 0)
        return 0;
    seen->pop += strcmp(stream, OD_POP) == 0;
    seen->view += strcmp(stream, OD_V) == 0;
    if (strcmp(stream, OD_V) == 0)
        snprintf(seen->reason, sizeof seen->reason, "%s", l->reason ? l->reason : "");
    return 0;
}

static lines_seen_t s_lines_stored(void)
{
    lines_seen_t seen = {0};
    CU_ASSERT_EQUAL(lt_store_subs(g.ctx.store, s_line_seen, &seen), 0);
    return seen;
}

/* The ended line of UG_CALLER on stream in g_feed, or NULL. */
static const lt_feed_gone_t *s_gone_line(const char *stream)
{
    for (size_t i = 0; i < g_feed->n_gone; i++)
        if (strcmp(g_feed->gone[i].member, UG_CALLER) == 0 &&
            strcmp(g_feed->gone[i].stream->name, stream) == 0)
            return &g_feed->gone[i];
    return NULL;
}

/* The subscriber lines go to the store when a subscription starts or ends,
 * not again while nothing changed; a feed started again shows them as
 * ended lines; a directory that no longer lets the member subscribe to a
 * stream (a view removed) drops its line, from the feed, its lag series
 * and the store (docs/operations.md "State"). */
static void test_lines_kept(void)
{
    char err[1024];
    lt_dir_t *orig = g.ctx.dir;
    lt_dir_t *d1 = od_directory_policies(g.tmp, V_ENTRY "fields = [\"full_name\"]; }", "",
                                         ",\n  { consumer = \"" UG_CALLER "\"; target = \"" OD_V
                                         "\"; allow = [\"subscribe\"]; }",
                                         err, sizeof err);
    if (!d1)
        fprintf(stderr, "directory: %s\n", err);
    CU_ASSERT_FATAL(d1 != NULL);
    s_adopt(d1);
    (void)s_lines_save();
    s_subscribe(OD_POP, 1, 0);
    s_subscribe(OD_V, 1, 0);
    CU_ASSERT_FATAL(s_subs() == 1 && g_feed->n_subs >= 2);
    CU_ASSERT_EQUAL(s_lines_save(), 1); /* new lines: written at once */
    lines_seen_t seen = s_lines_stored();
    CU_ASSERT(seen.pop == 1 && seen.view == 1 && seen.reason[0] == '\0');
    CU_ASSERT_EQUAL(s_lines_save(), 0); /* nothing changed, not due */
    lt_feed_drop_peers(g_feed);
    CU_ASSERT_EQUAL(s_lines_save(), 1); /* ended: written at once */
    seen = s_lines_stored();
    CU_ASSERT(seen.pop == 1 && seen.view == 1);
    CU_ASSERT_STRING_EQUAL(seen.reason, "peer socket rebound");

    /* Started again: both lines are there, ended, with their reason. */
    lt_feed_destroy(&g_feed);
    g_feed = lt_feed_new(&g.ctx);
    CU_ASSERT_FATAL(g_feed != NULL);
    const lt_feed_gone_t *pop = s_gone_line(OD_POP), *view = s_gone_line(OD_V);
    CU_ASSERT(pop && view && strcmp(view->reason, "peer socket rebound") == 0);

    /* The view leaves the directory: its line goes, its lag and cursor
     * read 0. */
    const char *v[] = {OD_V, UG_CALLER};
    ((lt_feed_gone_t *)view)->cursor = 3;
    lt_feed_quality_refresh(g_feed);
    CU_ASSERT_EQUAL(ug_stat(g.ctx.stats, "lienthong_subscriber_cursor", v, 2), 3);
    s_adopt(orig);
    CU_ASSERT(s_gone_line(OD_POP) != NULL && s_gone_line(OD_V) == NULL);
    CU_ASSERT_EQUAL(ug_stat(g.ctx.stats, "lienthong_subscriber_lag", v, 2), 0);
    CU_ASSERT_EQUAL(ug_stat(g.ctx.stats, "lienthong_subscriber_cursor", v, 2), 0);
    CU_ASSERT_EQUAL(s_lines_save(), 1);
    seen = s_lines_stored();
    CU_ASSERT(seen.pop == 1 && seen.view == 0);
    lt_dir_destroy(&d1);
}

static void s_store_sql(const char *sql, char *out, size_t cap);

/* The writer hands a job a NULL store while its connection cannot be
 * opened again after a rebuild (lt_writer_resume): the lines' save fails,
 * logged as "store unavailable", and is tried again; before, it
 * dereferenced NULL and the gateway crashed. */
static void test_lines_store_unavailable(void)
{
    (void)s_lines_save();
    s_subscribe(OD_POP, 1, 0);
    void *job = (g_feed->lines_gap_at = 0, lt_feed_lines_job(g_feed));
    CU_ASSERT_FATAL(job != NULL);
    char log[512];
    static char out[16384];
    int saved = s_log_start("lines-null.log", log, sizeof log);
    lt_log_set_level(LT_LOG_WARN);
    lt_feed_lines_run(job, NULL);
    lt_feed_lines_done(g_feed, job);
    lt_log_set_level(LT_LOG_ERROR);
    s_log_end(saved, log, out, sizeof out);
    CU_ASSERT(g_feed->lines_failing);
    CU_ASSERT_EQUAL(ut_lines(out, "cannot write the subscriber lines to the store: store "
                                  "unavailable"),
                    1);
    g_feed->lines_at = 0;
    CU_ASSERT_EQUAL(s_lines_save(), 1); /* tried again, written */
    CU_ASSERT(!g_feed->lines_failing);
    lt_feed_drop_peers(g_feed);
    (void)s_lines_save();
}

/* A job the writer refused comes back without having run: it reads as
 * failed, tried again, even though the same job's last run succeeded
 * (before, its stale result said the lines were saved). */
static void test_lines_unsent_fails(void)
{
    s_subscribe(OD_POP, 1, 0);
    CU_ASSERT_EQUAL(s_lines_save(), 1);
    CU_ASSERT(!g_feed->lines_failing);
    lt_feed_drop_peers(g_feed); /* a change, due */
    void *job = (g_feed->lines_gap_at = 0, lt_feed_lines_job(g_feed));
    CU_ASSERT_FATAL(job != NULL);
    lt_feed_lines_done(g_feed, job);
    CU_ASSERT(g_feed->lines_failing);
    g_feed->lines_at = 0;
    CU_ASSERT_EQUAL(s_lines_save(), 1);
    CU_ASSERT(!g_feed->lines_failing);
}

/* A member subscribing and unsubscribing in a loop changes the lines at
 * each turn: they are saved at most once per LT_FEED_LINES_GAP_MS, so that
 * the writer is left to the publish groups and replica batches (before,
 * the job was due at every turn of the writer, a whole rewrite each). */
static void test_lines_gap(void)
{
    s_subscribe(OD_POP, 1, 0);
    CU_ASSERT_EQUAL(s_lines_save(), 1);
    for (int i = 0; i < 3; i++) {
        lt_feed_drop_peers(g_feed);
        s_subscribe(OD_POP, 1, 0);
        CU_ASSERT(g_feed->lines_dirty);
        CU_ASSERT_EQUAL(s_lines_try(), 0); /* within the gap */
    }
    usleep((LT_FEED_LINES_GAP_MS + 50) * 1000);
    CU_ASSERT_EQUAL(s_lines_try(), 1); /* the gap passed: written */
    lt_feed_drop_peers(g_feed);
    (void)s_lines_save();
}

/* Subscriber lines the store cannot give at start (the read fails, the
 * table still writable) are not written over with none: nothing is saved
 * until a read succeeds, tried again at each look; then the stored lines
 * come back. Before, the next save replaced them all. */
static void test_lines_unread_kept(void)
{
    s_subscribe(OD_POP, 1, 0);
    lt_feed_drop_peers(g_feed);
    CU_ASSERT_EQUAL(s_lines_save(), 1);
    CU_ASSERT_EQUAL(s_lines_stored().pop, 1);
    /* The table behind a view that fails to read, its writes passed on. */
    s_store_sql("ALTER TABLE subscribers RENAME TO subs_kept;"
                "CREATE VIEW subscribers AS SELECT stream, member, cursor, history, seen_ms, "
                "since_ms, json(reason || '{') AS reason FROM subs_kept;"
                "CREATE TRIGGER subs_del INSTEAD OF DELETE ON subscribers BEGIN "
                "DELETE FROM subs_kept; END;"
                "CREATE TRIGGER subs_put INSTEAD OF INSERT ON subscribers BEGIN "
                "INSERT INTO subs_kept VALUES (new.stream, new.member, new.cursor, new.history, "
                "new.seen_ms, new.since_ms, new.reason); END;",
                NULL, 0);
    lt_feed_destroy(&g_feed);
    char log[512];
    static char out[16384];
    int saved = s_log_start("lines-unread.log", log, sizeof log);
    g_feed = lt_feed_new(&g.ctx);
    CU_ASSERT_FATAL(g_feed != NULL);
    CU_ASSERT_PTR_NULL(s_gone_line(OD_POP));
    g_feed->lines_at = 0;
    CU_ASSERT_EQUAL(s_lines_save(), 0); /* not read: not written */
    lt_log_set_level(LT_LOG_WARN);
    lt_feed_lines_flush(g_feed); /* a stop before a read succeeded says so */
    lt_log_set_level(LT_LOG_ERROR);
    s_log_end(saved, log, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "cannot read the subscriber lines from the store"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "not written at the stop"), 1);
    char n[32];
    s_store_sql("SELECT count(*) FROM subs_kept", n, sizeof n);
    CU_ASSERT_STRING_EQUAL(n, "1");
    /* Readable again: read at the next look, then written. */
    s_store_sql("DROP VIEW subscribers; ALTER TABLE subs_kept RENAME TO subscribers;", NULL, 0);
    g_feed->lines_at = 0;
    CU_ASSERT_EQUAL(s_lines_save(), 1);
    CU_ASSERT_PTR_NOT_NULL(s_gone_line(OD_POP));
    CU_ASSERT_EQUAL(s_lines_stored().pop, 1);
}

/* A view removed from the directory, then listed again, is derived anew
 * on a new history that the log names; the log (a warning) and the audit
 * entry say that consumers holding its earlier records resynchronise,
 * where it was logged at info as a view new on history none. */
static void test_view_listed_again(void)
{
    lt_dir_t *orig = g.ctx.dir;
    lt_dir_t *d1 = s_view_dir(V_ENTRY "fields = [\"full_name\"]; }");
    CU_ASSERT_FATAL(d1 != NULL);
    s_adopt(d1);
    lt_feed_stream_t *st = lt_feed_stream(g_feed, OD_V);
    CU_ASSERT_FATAL(st != NULL && st->last_seq > 0 && st->has_history);
    uint8_t h1[LT_HISTORY_BYTES];
    memcpy(h1, st->history, sizeof h1);
    s_adopt(orig); /* removed: emptied */
    CU_ASSERT_EQUAL(st->last_seq, 0);

    char log[512], hex[LT_HISTORY_HEX], want[128];
    static char out[16384];
    int saved = s_log_start("listed-again.log", log, sizeof log);
    lt_log_set_level(LT_LOG_WARN);
    s_adopt(d1); /* listed again */
    lt_log_set_level(LT_LOG_ERROR);
    s_log_end(saved, log, out, sizeof out);
    CU_ASSERT(st->last_seq > 0 && st->has_history);
    CU_ASSERT(memcmp(h1, st->history, sizeof h1) != 0);
    snprintf(want, sizeof want, "records on history %s",
             lt_history_hex(st->history, st->has_history, hex));
    CU_ASSERT_EQUAL(ut_lines(out, "view new in directory version"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, want), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "consumers holding its earlier records resynchronise"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "`lienthong resync`"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "records on history none"), 0);
    /* A warning, as the documents say, not an error operators alert on. */
    CU_ASSERT_EQUAL(ut_lines(out, " WARN "), 1);
    CU_ASSERT_EQUAL(ut_lines(out, " ERROR "), 0);
    s_adopt(orig);
    lt_dir_destroy(&d1);
}

/* Runs SQL on the store file behind the store's back. */
static void s_store_sql(const char *sql, char *out, size_t cap)
{
    char path[300];
    snprintf(path, sizeof path, "%s/store.db", g.tmp);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    if (out)
        ut_sql_text(db, sql, out, cap);
    else
        ut_sql_exec(db, sql);
    sqlite3_close(db);
}

/* The log row of the population's current record of key, as SQL. */
#define S_POP_ROW(key)                                                                             \
    "(SELECT (t.id << 40) | s.seq FROM state s JOIN streams t ON t.id = s.stream WHERE "           \
    "t.name = '" OD_POP "' AND s.key = '" key "')"

/* What the local socket got next about the view: a Deliver or an Error
 * (other streams' messages skipped); NULL when nothing within 1 s. */
static Lienthong__Envelope *s_sink_recv(void)
{
    Lienthong__Envelope *env;
    while ((env = ug_recv(&g)) != NULL) {
        if ((env->body_case == LIENTHONG__ENVELOPE__BODY_DELIVER &&
             strcmp(env->deliver->stream, OD_V) == 0) ||
            (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
             strncmp(env->error->message, OD_V ":", strlen(OD_V ":")) == 0))
            return env;
        lt_wire_free(&env);
    }
    return NULL;
}

/* A sink attached to a view whose rebuild then fails (a damaged record of
 * the dataset) gets nothing more of it: no record derived with the old
 * definition, nor one derived since, is delivered (PROTOCOL.md 6.1). It is
 * detached with ERR_UNAVAILABLE, as a new attach is refused. */
static void test_stale_view_detaches_sinks(void)
{
    lt_dir_t *orig = g.ctx.dir;
    lt_dir_t *d1 = s_view_dir(V_ENTRY "fields = [\"full_name\", \"date_of_birth\"]; }");
    lt_dir_t *d2 = s_view_dir(V_ENTRY "fields = [\"full_name\"]; }");
    CU_ASSERT_FATAL(d1 && d2);
    s_adopt(d1);
    lt_feed_stream_t *st = lt_feed_stream(g_feed, OD_V);
    CU_ASSERT_FATAL(st != NULL && st->last_seq > 0 && !st->stale);
    Lienthong__SinkAttach m = LIENTHONG__SINK_ATTACH__INIT;
    m.stream = OD_V;
    m.from_seq = 1;
    m.credit = 1000;
    lt_wire_in_t in;
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_FATAL(ug_send(&g, LIENTHONG__ENVELOPE__BODY_SINK_ATTACH, &m, &in, &env) == 0);
    size_t sinks = g_feed->n_sinks;
    lt_feed_on_sink_attach(g_feed, g.router, &in, env->sink_attach);
    lt_wire_free(&env);
    lt_wire_in_close(&in);
    CU_ASSERT_FATAL(g_feed->n_sinks == sinks + 1);
    CU_ASSERT(lt_feed_pump(g_feed, NULL, g.router) >= 1);
    env = s_sink_recv();
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_DELIVER);
    lt_wire_free(&env);

    /* The rebuild meets a damaged record: the view is stale. */
    char record[4096];
    s_store_sql("SELECT hex(record) FROM log WHERE id = " S_POP_ROW("001"), record, sizeof record);
    s_store_sql("UPDATE log SET record = x'0a0100' WHERE id = " S_POP_ROW("001"), NULL, 0);
    s_adopt(d2);
    CU_ASSERT_FATAL(st->stale);
    /* A record published meanwhile is derived into it; not delivered. */
    CU_ASSERT_FATAL(ug_publish(&g, "779", "Do Van F", lt_feed_advanced, g_feed) == 0);
    char log[512];
    snprintf(log, sizeof log, "%s/stale.log", g.tmp);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    lt_log_set_level(LT_LOG_WARN); /* the detach is logged as a warning */
    (void)lt_feed_pump(g_feed, NULL, g.router);
    lt_log_set_level(LT_LOG_ERROR);
    static char out[16384];
    ut_captured(saved, log, out, sizeof out);
    close(saved);
    env = s_sink_recv();
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT_FATAL(env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
                    env->error->code == LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
    /* The gateway logs the detach with the text the sink got (before, in
     * other words); the one a new attach is refused with. */
    CU_ASSERT_STRING_EQUAL(env->error->message, OD_V ": view definition changed; rebuilding");
    CU_ASSERT_EQUAL(ut_lines(out, "sink detached at seq"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, env->error->message), 1);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(g_feed->n_sinks, sinks);
    (void)lt_feed_pump(g_feed, NULL, g.router);
    CU_ASSERT_PTR_NULL(env = s_sink_recv());
    lt_wire_free(&env);

    /* Repaired: the next rebuild succeeds. */
    char sql[sizeof record + 256];
    snprintf(sql, sizeof sql, "UPDATE log SET record = x'%s' WHERE id = " S_POP_ROW("001"), record);
    s_store_sql(sql, NULL, 0);
    s_adopt(d2);
    CU_ASSERT(!st->stale);
    s_adopt(orig);
    lt_dir_destroy(&d1);
    lt_dir_destroy(&d2);
}

/* A Publish of one citizen from the consumer's socket (standing for a
 * source adapter), gathered into job as the poll loop does. */
static void s_gather(lt_publish_job_t *job, const char *key, uint64_t request_id)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.personal_id = (char *)key;
    p.full_name = "Pham Van D";
    p.date_of_birth = "1980-02-29";
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    uint8_t buf[256];
    CU_ASSERT_FATAL(lienthong__records__population__get_packed_size(&p) <= sizeof buf);
    Lienthong__Change c = LIENTHONG__CHANGE__INIT, *cp = &c;
    c.key = (char *)key;
    c.payload.data = buf;
    c.payload.len = lienthong__records__population__pack(&p, buf);
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT;
    pub.request_id = request_id;
    pub.dataset = OD_POP;
    pub.changes = &cp;
    pub.n_changes = 1;
    lt_publish_pending_t *slot = lt_publish_job_slot(job);
    CU_ASSERT_FATAL(slot != NULL);
    CU_ASSERT_FATAL(ug_send(&g, LIENTHONG__ENVELOPE__BODY_PUBLISH, &pub, &slot->in, &slot->env) ==
                    0);
    lt_publish_job_keep(job);
}

/* The acknowledgement of request_id reached the adapter. */
static void s_acked(uint64_t request_id)
{
    Lienthong__Envelope *env = ug_recv(&g);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK);
    CU_ASSERT_EQUAL(env->publish_ack->request_id, request_id);
    lt_wire_free(&env);
}

/* docs/ARCHITECTURE.md 4.2, "Repair": a store rebuilt from what is readable
 * may have lost rows, which must read as damage, never be served from
 * memory. A group the writer committed before the rebuild and the poll
 * loop answers after it (lt_writer_suspend kept it, lt_writer.h) is
 * acknowledged, but its records are not kept in memory (lt_fresh); the
 * tail of batches sent is emptied; a group committed after the rebuild is
 * kept in memory again. */
static void test_rebuild_forgets_memory(void)
{
    char err[300] = "";
    int64_t lost = -1;
    lt_publish_obs_t *obs = lt_publish_obs_new(g.ctx.stats);
    lt_publish_job_t *job = lt_publish_job_new();
    lt_feed_stream_t *st = lt_feed_stream(g_feed, OD_POP);
    CU_ASSERT_FATAL(obs && job && st);
    /* The tail holds a batch of the stream as sent to a consumer. */
    g.cfg.tail_batches = 8;
    g.cfg.tail_bytes = 1 << 20;
    lt_feed_limits_changed(g_feed);
    CU_ASSERT_FATAL(lt_feed_chunk_read(g_feed, st, 1, 2) == 2);
    lt_tail_key_t k = {.stream_id = st->id,
                       .stream = st->name,
                       .history = st->history,
                       .first = 1,
                       .prev = (const uint8_t[LT_HASH_BYTES]){0}};
    zmq_msg_t m;
    uint8_t hash[LT_HASH_BYTES];
    CU_ASSERT_FATAL(lt_tail_put(g_feed->tail, &k, &g_feed->chunk, 0, 1, g.ctx.keys, &m, hash) == 0);
    zmq_msg_close(&m);
    CU_ASSERT_EQUAL_FATAL(lt_tail_batches(g_feed->tail), 1);
    /* A group commits (on the writer's side) and is answered only after
     * the store was rebuilt. */
    s_gather(job, "901", 901);
    lt_publish_job_prepare(job, &g.ctx);
    lt_publish_job_run(job, g.ctx.store);
    uint64_t last = st->last_seq;
    if (lt_feed_store_rebuild(g_feed, &lost, err, sizeof err) != 0)
        fprintf(stderr, "\n  lt_feed_store_rebuild: %s\n", err);
    CU_ASSERT_FATAL(lost == 0);
    CU_ASSERT_EQUAL(lt_tail_batches(g_feed->tail), 0);
    lt_publish_job_finish(job, g.router, obs, lt_feed_advanced, g_feed);
    s_acked(901);
    CU_ASSERT_EQUAL(st->last_seq, last + 1); /* the feed learned of it */
    CU_ASSERT_EQUAL(lt_fresh_bytes(g_feed->fresh), 0);
    /* Read from the store instead. */
    CU_ASSERT_EQUAL(lt_feed_chunk_read(g_feed, st, last + 1, 1), 1);
    /* A group prepared after the rebuild is kept in memory as before. */
    s_gather(job, "902", 902);
    lt_publish_job_prepare(job, &g.ctx);
    lt_publish_job_run(job, g.ctx.store);
    lt_publish_job_finish(job, g.router, obs, lt_feed_advanced, g_feed);
    s_acked(902);
    CU_ASSERT(lt_fresh_bytes(g_feed->fresh) > 0);
    g.cfg.tail_batches = g.cfg.tail_bytes = 0;
    lt_feed_limits_changed(g_feed);
    lt_publish_job_destroy(&job);
    lt_publish_obs_destroy(&obs);
}

/* Descriptors of this process still open on a file that was at path (or
 * its -wal, -shm) and was since removed or renamed over: a connection to
 * an old store file. Linux names them "PATH (deleted)" in /proc. */
static int s_old_files(const char *path)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    size_t len = strlen(path);
    CU_ASSERT_FATAL(d != NULL);
    while ((e = readdir(d)) != NULL) {
        char link[300], to[700];
        snprintf(link, sizeof link, "/proc/self/fd/%s", e->d_name);
        ssize_t m = readlink(link, to, sizeof to - 1);
        if (m <= 0)
            continue;
        to[m] = '\0';
        n += strncmp(to, path, len) == 0 && strstr(to + len, " (deleted)") != NULL;
    }
    closedir(d);
    return n;
}

/* The last seq of population in the store file at path, read on a
 * connection of its own (as a restart would read it). */
static int64_t s_file_last_seq(const char *path)
{
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    int64_t n = ut_sql_count(db, "SELECT last_seq FROM streams WHERE name = '" OD_POP "'");
    sqlite3_close(db);
    return n;
}

/* A snapshot being sent reads on a connection of its own (lt_store_snap).
 * The rebuild ends it before the swap (docs/ARCHITECTURE.md 4.2, 6): left
 * open, it went on reading the old file, the damaged page with it, and
 * never saw a repair written into the new one. The subscription stays and
 * its snapshot starts over from index 0 on the new file (PROTOCOL.md 6.7).
 * Then a commit into the new file must survive whatever of the old
 * reading is closed later: SQLite (3.8.3 on) skips its checkpoint and the
 * removal of -wal and -shm by name when the file it has open was moved,
 * which is what this checks too. */
static void test_rebuild_ends_snapshots(void)
{
    char err[300] = "", wal[600], path[512];
    int64_t lost = -1;
    /* A copy: the rebuild closes the connection whose file name it is. */
    snprintf(path, sizeof path, "%s", lt_store_path(g.ctx.store));
    size_t snaps = g_feed->n_snaps;
    s_ghost_subscribe("ghost-09", 2, 1);
    lt_feed_sub_t *s = s_sub_on("ghost-09");
    CU_ASSERT_FATAL(s != NULL && s->snap != NULL);
    /* And a sink's replacement (PROTOCOL.md 8.2), its first part unsent
     * (no such sink connected), its reading open. */
    size_t sinks = g_feed->n_sinks;
    CU_ASSERT_FATAL(sinks < LT_FEED_MAX_SINKS);
    lt_feed_sink_t *k = &g_feed->sinks[g_feed->n_sinks++];
    memset(k, 0, sizeof *k);
    memcpy(k->rid, "sink-09", 7);
    k->rid_len = 7;
    k->stream = s_pop();
    k->next = 1;
    k->replace_ok = 1;
    (void)lt_feed_snap_replace(g_feed, g.router, k);
    CU_ASSERT_FATAL(k->snap != NULL);
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps + 2);
    CU_ASSERT_EQUAL(s_old_files(path), 0);
    if (lt_feed_store_rebuild(g_feed, &lost, err, sizeof err) != 0)
        fprintf(stderr, "\n  lt_feed_store_rebuild: %s\n", err);
    CU_ASSERT_FATAL(lost == 0);
    CU_ASSERT_EQUAL(s_old_files(path), 0); /* no connection to the old file */
    CU_ASSERT_FATAL((s = s_sub_on("ghost-09")) != NULL);
    CU_ASSERT(s->snap == NULL && s->snap_wanted);
    CU_ASSERT(k->snap == NULL);
    CU_ASSERT_EQUAL(g_feed->n_snaps, snaps);
    (void)lt_feed_pump(g_feed, NULL, g.router); /* the sink is detached, to attach again */
    CU_ASSERT_EQUAL(g_feed->n_sinks, sinks);
    CU_ASSERT_FATAL((s = s_sub_on("ghost-09")) != NULL);
    CU_ASSERT_FATAL(ug_publish(&g, "910", "An", lt_feed_advanced, g_feed) == 0);
    uint64_t last = s_pop()->last_seq;
    lt_feed_snap_free(g_feed, &s->snap); /* whatever is left of it ends */
    snprintf(wal, sizeof wal, "%s-wal", path);
    CU_ASSERT_EQUAL(access(wal, F_OK), 0);
    CU_ASSERT_EQUAL(s_file_last_seq(path), (int64_t)last);
    s->credit = 1; /* the snapshot starts over, on the new file */
    (void)lt_feed_pump(g_feed, g.router, NULL);
    CU_ASSERT_EQUAL(s_old_files(path), 0);
}

/* A Range of records first..last of stream (request_id rid; a prev hash
 * past seq 1, any: the owner only signs over it), answered: the answer,
 * left to free. */
static Lienthong__Envelope *s_range_of(const char *stream, uint64_t first, uint64_t last,
                                       uint64_t rid)
{
    static const uint8_t prev[LT_HASH_BYTES] = {1};
    Lienthong__Range m = LIENTHONG__RANGE__INIT;
    m.request_id = rid;
    m.stream = (char *)stream;
    m.first_seq = first;
    m.last_seq = last;
    m.prev_hash.data = (uint8_t *)prev;
    m.prev_hash.len = first > 1 ? sizeof prev : 0;
    lt_wire_in_t in;
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_FATAL(ug_send(&g, LIENTHONG__ENVELOPE__BODY_RANGE, &m, &in, &env) == 0);
    lt_feed_on_range_request(g_feed, g.router, &in, env->range);
    lt_wire_free(&env);
    lt_wire_in_close(&in);
    while ((env = ug_recv(&g)) != NULL && env->body_case != LIENTHONG__ENVELOPE__BODY_RANGE &&
           !(env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR && env->error->request_id == rid))
        lt_wire_free(&env); /* what cases before left */
    CU_ASSERT_FATAL(env != NULL);
    return env;
}

/* A Range (PROTOCOL.md 6.10) repeats a batch the consumer applied: it is
 * answered within the protocol's limits, not today's batch_max, lowered
 * since (before, ERR_TOO_LARGE, asked again for ever). */
static void test_range_after_batch_max_lowered(void)
{
    g.cfg.batch_max = 1;
    Lienthong__Envelope *env = s_range_of(OD_POP, 1, 3, 77);
    g.cfg.batch_max = 100;
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        fprintf(stderr, "\n  range refused: %s\n", env->error->message);
    CU_ASSERT_FATAL(env->body_case == LIENTHONG__ENVELOPE__BODY_RANGE && env->range->batch);
    CU_ASSERT_EQUAL(env->range->batch->first_seq, 1);
    CU_ASSERT_EQUAL(env->range->batch->n_records, 3);
    lt_wire_free(&env);
}

/* The status's grants: a member that owns no dataset gets no record types
 * (nothing allocated for them); the types out of memory leave the names. */
static void test_status_types(void)
{
    char member[sizeof g.cfg.member];
    snprintf(member, sizeof member, "%s", g.cfg.member);
    snprintf(g.cfg.member, sizeof g.cfg.member, "VN/GOV/NONE");
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    lt_feed_status(g_feed, &r);
    snprintf(g.cfg.member, sizeof g.cfg.member, "%s", member);
    CU_ASSERT_FATAL(r.grants != NULL);
    CU_ASSERT_EQUAL(r.grants->n_datasets, 0);
    CU_ASSERT_EQUAL(r.grants->n_types, 0);
    CU_ASSERT_PTR_NULL(r.grants->types);
    lt_feed_status_free(&r);
    Lienthong__StatusReply q = LIENTHONG__STATUS_REPLY__INIT;
    g_calloc_fail = sizeof(Lienthong__DatasetType);
    lt_feed_status(g_feed, &q);
    g_calloc_fail = 0;
    CU_ASSERT_FATAL(q.grants != NULL);
    CU_ASSERT(q.grants->n_datasets > 0);
    CU_ASSERT_EQUAL(q.grants->n_types, 0);
    lt_feed_status_free(&q);
}

/* Bounds that come from a peer's Range but escaped its checks: the read
 * returns LT_FEED_RANGE_BAD, it does not abort the gateway. */
static void test_range_read_bad_bounds(void)
{
    lt_feed_stream_t *st = lt_feed_stream(g_feed, OD_POP);
    CU_ASSERT_FATAL(st != NULL && st->last_seq >= 3);
    CU_ASSERT_EQUAL(lt_feed_chunk_read_range(g_feed, st, 0, 1), LT_FEED_RANGE_BAD);
    CU_ASSERT_EQUAL(lt_feed_chunk_read_range(g_feed, st, 3, 2), LT_FEED_RANGE_BAD);
    CU_ASSERT_EQUAL(lt_feed_chunk_read_range(g_feed, st, 1, st->last_seq + 1), LT_FEED_RANGE_BAD);
    CU_ASSERT_EQUAL(lt_feed_chunk_read_range(g_feed, st, 1, 1 + LT_BATCH_MAX_RECORDS),
                    LT_FEED_RANGE_BAD);
    CU_ASSERT_EQUAL(lt_feed_chunk_read_range(g_feed, st, 1, 3), 3);
}

/* The log of population kept from the next seq, then four records: r-000
 * and r-001 twice each (prefix names the keys). Returns the first seq. */
static uint64_t s_prune_setup(lt_feed_stream_t *st, const char *prefix)
{
    lt_feed_snap_end_all(g_feed); /* no snapshot holds the log back */
    CU_ASSERT_FATAL(lt_feed_snap_floor(g_feed, st) == UINT64_MAX);
    /* The log as kept from first: the rows of the cases before stay below. */
    uint64_t first = st->last_seq + 1;
    CU_ASSERT_FATAL(lt_store_tail_set(g.ctx.store, st->id, first) == 0);
    st->tail_first = first;
    for (size_t i = 0; i < 4; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s-00%d", prefix, i == 1 || i == 2);
        CU_ASSERT_FATAL(ug_publish(&g, key, i < 2 ? "Old" : "New", lt_feed_advanced, g_feed) == 0);
    }
    CU_ASSERT_FATAL(st->last_seq == first + 3);
    return first;
}

/* Five retention ticks with retain_records = 1, what they logged in out. */
static void s_prune_ticks(char *out, size_t cap)
{
    g.cfg.retain_records = 1;
    char log[512];
    snprintf(log, sizeof log, "%s/prune.log", g.tmp);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    for (int i = 0; i < 5; i++) {
        g_feed->prune_at = 0; /* as if a second went by */
        lt_feed_retain_tick(g_feed);
    }
    ut_captured(saved, log, out, cap);
    close(saved);
}

/* What retention logged for the damaged record bad of st, found as why:
 * one line, with all of it: the stream, the record, what is wrong with it,
 * and that pruning stops there (before, a second line said that); no store
 * failure. Pruning stopped before it and waits. */
static void s_prune_damage_said(const lt_feed_stream_t *st, uint64_t bad, const char *out,
                                const char *why)
{
    CU_ASSERT_EQUAL(st->tail_first, bad);
    CU_ASSERT_EQUAL(st->damaged_first, bad);
    CU_ASSERT_EQUAL(ut_lines(out, "cannot prune"), 0);
    char line[LT_STREAM_ID_MAX + 200];
    snprintf(line, sizeof line, "%s: records %llu..%llu are damaged in the store (%s)", st->name,
             (unsigned long long)bad, (unsigned long long)bad, why);
    CU_ASSERT_EQUAL(ut_lines(out, line), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "they are not delivered, and the log is not pruned from them"),
                    1);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 1);
    if (ut_lines(out, NULL) != 1 || ut_lines(out, line) != 1)
        fprintf(stderr, "\n  logged:\n%s", out);
}

/* Once the record is repaired (as a backup restored would): pruned past it
 * once due. */
static void s_prune_past_repaired(lt_feed_stream_t *st, uint64_t first)
{
    st->prune_wait_at = 0;
    g_feed->prune_at = 0;
    lt_feed_retain_tick(g_feed);
    CU_ASSERT_EQUAL(st->tail_first, first + 3); /* r-001's current version: the state */
    g.cfg.retain_records = 0;
}

/* Retention (PROTOCOL.md 6.8) meets a damaged record at the tail: it is
 * reported as damage, in one line, naming the record (before, a store failure
 * with SQLite's unrelated message, every second), pruning stops before it
 * and waits, and goes past it once it is repaired. */
static void test_prune_stops_at_damage(void)
{
    lt_feed_stream_t *st = s_pop();
    uint64_t first = s_prune_setup(st, "r"), bad = first + 1;
    char path[300], sql[512], record[4096];
    snprintf(path, sizeof path, "%s/store.db", g.tmp);
    snprintf(sql, sizeof sql, "SELECT hex(record) FROM log WHERE id = %lld",
             (long long)((st->id << 40) | (int64_t)bad));
    s_store_sql(sql, record, sizeof record);
    ut_sql_damage_record(path, st->id, bad); /* superseded: prunable, were it readable */
    static char out[65536];
    s_prune_ticks(out, sizeof out);
    s_prune_damage_said(st, bad, out, "checksum mismatch");
    char put[sizeof record + 128];
    snprintf(put, sizeof put, "UPDATE log SET record = x'%s' WHERE id = %lld", record,
             (long long)((st->id << 40) | (int64_t)bad));
    s_store_sql(put, NULL, 0);
    s_prune_past_repaired(st, first);
}

/* Replaces the log row seq of st by len bytes rec, with their checksum. */
static void s_log_put(const lt_feed_stream_t *st, uint64_t seq, const void *rec, size_t len)
{
    lt_store_t *store = g.ctx.store;
    CU_ASSERT_FATAL(lt_store_begin(store) == 0);
    CU_ASSERT_FATAL(lt_store_log_delete(store, st->id, seq) == 0);
    CU_ASSERT_FATAL(lt_store_append(store, st->id, seq, rec, len) == 0);
    CU_ASSERT_FATAL(lt_store_commit(store) == 0);
}

/* The same for a record that passes its checksum but does not decode (a
 * field claiming 127 bytes, none following): reported as damage the same
 * way, saying what is wrong (before, "cannot prune" with the store's last
 * error, unrelated, every second). */
static void test_prune_stops_at_garbled(void)
{
    lt_feed_stream_t *st = s_pop();
    uint64_t first = s_prune_setup(st, "u"), bad = first + 1;
    uint8_t *record = NULL;
    size_t len = 0;
    CU_ASSERT_FATAL(lt_store_get(g.ctx.store, st->id, bad, &record, &len) == 1);
    static const uint8_t garbled[] = {0x0a, 0x7f};
    s_log_put(st, bad, garbled, sizeof garbled);
    static char out[65536];
    s_prune_ticks(out, sizeof out);
    s_prune_damage_said(st, bad, out, "checksum matches, but it does not decode as a record");
    s_log_put(st, bad, record, len);
    free(record);
    s_prune_past_repaired(st, first);
}

/* n repair ticks, each as if its wait went by; what they logged in out. */
static void s_repair_ticks(lt_feed_stream_t *st, int n, char *out, size_t cap)
{
    char log[512];
    snprintf(log, sizeof log, "%s/repair.log", g.tmp);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    lt_log_set_level(LT_LOG_INFO); /* the repair is said at info */
    for (int i = 0; i < n; i++) {
        st->recheck_at = 0;
        lt_feed_repair_tick(g_feed);
    }
    lt_log_set_level(LT_LOG_ERROR);
    ut_captured(saved, log, out, cap);
    close(saved);
}

/* An owner has no one to fetch a damaged record from: once an operator
 * puts it right, it reads it again by itself and delivers it, saying so
 * once; while it stays damaged, nothing more is logged (before, it was
 * withheld until the gateway restarted). */
static void test_owner_damage_repaired(void)
{
    lt_feed_stream_t *st = s_pop();
    CU_ASSERT_FATAL(ug_publish(&g, "r-9", "Lan", lt_feed_advanced, g_feed) == 0);
    uint64_t bad = st->last_seq;
    uint8_t *record = NULL;
    size_t len = 0;
    CU_ASSERT_FATAL(lt_store_get(g.ctx.store, st->id, bad, &record, &len) == 1);
    char path[300];
    snprintf(path, sizeof path, "%s/store.db", g.tmp);
    ut_sql_damage_record(path, st->id, bad);
    lt_fresh_clear(g_feed->fresh); /* a while later: read from the store */
    Lienthong__Envelope *env = s_range_of(st->name, bad, bad, 78);
    CU_ASSERT(env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR && env->error->damaged &&
              env->error->damaged->first_seq == bad);
    lt_wire_free(&env);
    static char out[65536];
    s_repair_ticks(st, 3, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 0);
    CU_ASSERT_EQUAL(st->damaged_first, bad);
    CU_ASSERT_EQUAL(st->recheck_wait, 8000); /* 1 s when found, doubled by each read */
    /* The operator's repair. */
    s_log_put(st, bad, record, len);
    free(record);
    s_repair_ticks(st, 2, out, sizeof out);
    char line[LT_STREAM_ID_MAX + 100];
    snprintf(line, sizeof line, "%s: records %llu..%llu read clean again; delivered", st->name,
             (unsigned long long)bad, (unsigned long long)bad);
    CU_ASSERT_EQUAL(ut_lines(out, line), 1);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 1);
    CU_ASSERT_EQUAL(st->damaged_first, 0);
    env = s_range_of(st->name, bad, bad, 79);
    CU_ASSERT(env->body_case == LIENTHONG__ENVELOPE__BODY_RANGE && env->range->batch &&
              env->range->batch->first_seq == bad && env->range->batch->n_records == 1);
    lt_wire_free(&env);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"streams: last seq and records appended", test_stream_statistics},
        {"subscribe to an unknown stream: ERR_NOT_FOUND", test_unknown_stream_refused},
        {"batches follow credit; cursor and lag follow", test_batches_follow_credit},
        {"batches are bound to the history; another history is refused", test_history},
        {"snapshot on request: chunks, end, then the tail", test_snapshot_then_tail},
        {"snapshots are bound to the history; another history gets HistoryChanged",
         test_snapshot_history},
        {"a view follows its definition: new, narrowed fields, narrowed rows, withdrawn",
         test_view_follows_definition},
        {"a view changed while the gateway was stopped is rebuilt at start",
         test_view_changed_while_stopped},
        {"a view removed and listed again: new history named, consumers told to resync",
         test_view_listed_again},
        {"subscriber lines are written when they change, loaded at start, dropped with the "
         "directory's leave",
         test_lines_kept},
        {"a save of the subscriber lines without a store fails, logged, and is tried again",
         test_lines_store_unavailable},
        {"a lines job handed back without running reads as failed", test_lines_unsent_fails},
        {"subscriber lines changed in a loop are saved at most once per gap", test_lines_gap},
        {"subscriber lines the store cannot read at start are not written over",
         test_lines_unread_kept},
        {"a sink of a view whose rebuild failed is detached with ERR_UNAVAILABLE",
         test_stale_view_detaches_sinks},
        {"a snapshot without credit does not start", test_snapshot_waits_for_credit},
        {"a snapshot idle for the bound ends; it restarts with credit", test_idle_snapshot_ends},
        {"a sink's replacement idle for the bound ends; the sink is detached",
         test_idle_replacement_ends},
        {"an idle sink attaching again at the same seq and history is not logged at info",
         test_sink_attach_again_quiet},
        {"one member gets at most LT_SNAP_MAX_PER_MEMBER snapshots at once",
         test_snapshots_per_member},
        {"peers' snapshots leave places to local sinks", test_snapshot_places_for_sinks},
        {"a snapshot or replacement past its deadline ends, progress or not",
         test_snapshot_deadline},
        {"a Subscribe on a new connection supersedes the old ones", test_new_connection_supersedes},
        {"a refused re-Subscribe stops the old subscription", test_refused_resubscribe_stops},
        {"a lost peer's subscriptions are dropped", test_lost_peer_dropped},
        {"a snapshot record over the frame cap: ERR_TOO_LARGE", test_snapshot_chunk_too_large},
        {"a damaged state row: Error with the damaged range", test_snapshot_damaged},
        {"after a store rebuild, nothing committed before it is served from memory",
         test_rebuild_forgets_memory},
        {"a store rebuild ends the snapshots and replacements being sent",
         test_rebuild_ends_snapshots},
        {"a range is answered within the protocol's limits, not a lowered batch_max",
         test_range_after_batch_max_lowered},
        {"a range read out of bounds is an error, not an abort", test_range_read_bad_bounds},
        {"status: no record types for no dataset; out of memory, the names stay",
         test_status_types},
        {"after a snapshot, the log is kept from its subscriber's next seq until it catches up",
         test_log_kept_after_snapshot},
        {"pruning stops at a damaged record, reports it once, and goes on once repaired",
         test_prune_stops_at_damage},
        {"pruning stops at a record that passes its checksum but does not decode, as damage",
         test_prune_stops_at_garbled},
        {"an owner delivers a damaged record again once it reads clean, by itself",
         test_owner_damage_repaired},
        {NULL, NULL},
    };
    return ut_main("lt_feed", suite_init, suite_clean, tests);
}

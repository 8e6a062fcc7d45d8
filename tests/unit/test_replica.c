/* test_replica: CUnit suite for gateway/lt_feed on the consumer's side
 * (PROTOCOL.md 6.5, 6.6; docs/ARCHITECTURE.md 6): batches checked while
 * the ones before them are still being committed, each following on the
 * cursor those will leave; several committed in one transaction; a failure
 * among them keeping nothing of the group and stopping the replica with
 * its own reason; what a batch checked meanwhile calls for (an overlap, a
 * failed check) waiting until the batches before it are done; and a
 * repair by resynchronisation (6.10), or a resynchronised copy found
 * damaged, replacing a live subscription. A batch over our credit, or of
 * an owner the directory now lists as suspended, is refused.
 *
 * The owner is played here: batches signed with its key (the directory of
 * owner_directory.h lists it) are handed to the feed as they would come on
 * its link, and what the consumer sends back (Subscribe, Credit) is read
 * from the owner's end of that link. The integration suite test_feeds.c
 * covers the same paths between real gateways. */
#include "unit_util.h" /* first: it sets the feature macros */
#include "unit_sqlite.h"

#include "lt_batch.h"
#include "lt_clock.h"
#include "lt_feed.h"
#include "lt_feed_int.h"
#include "lt_gwstats.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_peers.h"
#include "lt_reject.h"
#include "lt_snap.h"
#include "lt_store.h"
#include "lt_wire.h"
#include "owner_directory.h"
#include "records/population.pb-c.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>
#include <zmq.h>

#define CONSUMER  "VN/COM/VIETTEL"
#define OWNER_END "inproc://unit-replica-owner"
#define PER_BATCH 3

static struct {
    char tmp[256];
    lt_keys_t *owner, *consumer, *auth;
    lt_gwcfg_t cfg;
    lt_gwctx_t ctx;
    lt_feed_t *feed;
    void *zctx, *owner_end, *link;
    uint8_t history[LT_HISTORY_BYTES];
} G;

/* Reads of a stream's row fail while set (lt_feed_history_status). */
static int g_find_fail;
int __real_lt_store_stream_find(lt_store_t *self, const char *name, lt_stream_t *out);
int __wrap_lt_store_stream_find(lt_store_t *self, const char *name, lt_stream_t *out);
int __wrap_lt_store_stream_find(lt_store_t *self, const char *name, lt_stream_t *out)
{
    return g_find_fail ? -1 : __real_lt_store_stream_find(self, name, out);
}

/* While set, the connection the store opens last is kept in g_opened. */
static int g_capture;
static sqlite3 *g_opened;
int __real_sqlite3_open_v2(const char *path, sqlite3 **db, int flags, const char *vfs);
int __wrap_sqlite3_open_v2(const char *path, sqlite3 **db, int flags, const char *vfs);
int __wrap_sqlite3_open_v2(const char *path, sqlite3 **db, int flags, const char *vfs)
{
    int rc = __real_sqlite3_open_v2(path, db, flags, vfs);
    if (g_capture && rc == SQLITE_OK)
        g_opened = *db;
    return rc;
}

/* What the consumer sent the owner since the last call: credit given back
 * for the population stream, and the from_seq of its last Subscribe (0
 * when none). */
static void s_drain(uint64_t *credit, uint64_t *subscribed_from)
{
    *credit = 0;
    *subscribed_from = 0;
    for (;;) {
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
        if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_CREDIT)
            *credit += env->credit->credit;
        if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_SUBSCRIBE)
            *subscribed_from = env->subscribe->from_seq;
        lt_wire_free(&env);
        zmq_msg_close(&rid);
        zmq_msg_close(&body);
        if (!got)
            return;
    }
}

static int s_feed_open(void)
{
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    char path[300];
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    char err[1024];
    int zero = 0;
    uint64_t credit, from;
    if (!(G.ctx.store = lt_store_open(path, err, sizeof err)) || !(G.ctx.stats = lt_stats_new()) ||
        !(G.ctx.reject = lt_reject_new(G.ctx.stats, NULL)) ||
        !(G.link = zmq_socket(G.zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(G.link, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_connect(G.link, OWNER_END) != 0 || !(G.ctx.peers = lt_peers_new(&G.ctx, G.zctx, &so)) ||
        lt_peers_attach(G.ctx.peers, OD_OWNER, G.link) != 0 || !(G.feed = lt_feed_new(&G.ctx)))
        return -1;
    lt_feed_tick(G.feed); /* subscribes */
    s_drain(&credit, &from);
    return from == 1 ? 0 : -1;
}

static void s_feed_close(void)
{
    lt_feed_destroy(&G.feed);
    lt_peers_destroy(&G.ctx.peers); /* closes the link */
    lt_reject_destroy(&G.ctx.reject);
    lt_stats_destroy(&G.ctx.stats);
    lt_store_destroy(&G.ctx.store);
}

static int suite_init(void)
{
    char err[1024] = "";
    lt_log_set_level((lt_log_level_t)(LT_LOG_ERROR + 1)); /* refusals are the cases here */
    if (sodium_init() < 0 || ut_mkdtemp(G.tmp, sizeof G.tmp, "replica") != 0 ||
        !(G.owner = lt_keys_new(LT_KEYS_MEMBER)) || !(G.consumer = lt_keys_new(LT_KEYS_MEMBER)) ||
        !(G.auth = lt_keys_new(LT_KEYS_AUTHORITY)) ||
        !(G.ctx.dir =
              od_directory_keyed(G.tmp, G.owner, G.consumer, G.auth, "", "", err, sizeof err))) {
        fprintf(stderr, "test_replica: %s\n", err[0] ? err : "set-up failed");
        return -1;
    }
    randombytes_buf(G.history, sizeof G.history);
    snprintf(G.cfg.member, sizeof G.cfg.member, "%s", CONSUMER);
    G.cfg.max_message = 1u << 20;
    G.cfg.batch_max = LT_BATCH_MAX_RECORDS;
    G.cfg.credit = 1000;
    snprintf(G.cfg.subs[0].stream, sizeof G.cfg.subs[0].stream, "%s", OD_POP);
    snprintf(G.cfg.subs[1].stream, sizeof G.cfg.subs[1].stream, "%s", OD_P38);
    G.cfg.n_subs = 2;
    G.ctx.cfg = &G.cfg;
    G.ctx.keys = G.consumer;
    int zero = 0;
    return (G.zctx = zmq_ctx_new()) && (G.owner_end = zmq_socket(G.zctx, ZMQ_ROUTER)) &&
                   zmq_setsockopt(G.owner_end, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
                   zmq_bind(G.owner_end, OWNER_END) == 0
               ? 0
               : -1;
}

static int suite_clean(void)
{
    s_feed_close(); /* a case that stopped at a failed assertion left it open */
    if (G.owner_end)
        zmq_close(G.owner_end);
    if (G.zctx)
        zmq_ctx_term(G.zctx);
    lt_dir_destroy(&G.ctx.dir);
    lt_keys_destroy(&G.owner);
    lt_keys_destroy(&G.consumer);
    lt_keys_destroy(&G.auth);
    (void)ut_rmrf(G.tmp);
    return 0;
}

/* Each case starts on an empty store with the replica live from seq 1. */
static int s_setup(void)
{
    s_feed_close(); /* left open by a case that stopped at a failed assertion */
    const char *files[] = {"store.db", "store.db-wal", "store.db-shm"};
    for (size_t i = 0; i < 3; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/%s", G.tmp, files[i]);
        (void)unlink(path);
    }
    return s_feed_open();
}

/* ---- the owner's batches ---------------------------------------------------- */

/* When not 0, the record at seq changed at g_at - seq seconds (ms): in
 * seq order each is older than the one before, as a view its owner rebuilt
 * in key order (PROTOCOL.md 8.9). 0: no changed_at_ms. */
static int64_t g_at;
/* When not 0, no record's seq is above it (a snapshot's records at most
 * at its seq, whatever their count). */
static uint64_t g_seq_max;

/* PER_BATCH records from first (keys in that order), record `bad` (or
 * none: PER_BATCH) given the wrong seq, which only unpacking it can tell. */
typedef struct {
    ProtobufCBinaryData recs[PER_BATCH];
    uint8_t bytes[PER_BATCH][512];
    char keys[PER_BATCH][24];
} recs_t;

static void s_recs(recs_t *x, uint64_t first, size_t bad)
{
    for (size_t i = 0; i < PER_BATCH; i++) {
        uint8_t payload[256];
        Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
        snprintf(x->keys[i], sizeof x->keys[i], "%012llu", (unsigned long long)(first + i));
        p.personal_id = x->keys[i];
        p.full_name = "Nguyễn Văn An";
        Lienthong__Record r = LIENTHONG__RECORD__INIT;
        r.seq = i == bad ? first + i + 7 : first + i;
        if (g_seq_max && r.seq > g_seq_max)
            r.seq = g_seq_max;
        r.changed_at_ms = g_at ? g_at - (int64_t)(first + i) * 1000 : 0;
        r.key = x->keys[i];
        r.payload.data = payload;
        r.payload.len = lienthong__records__population__pack(&p, payload);
        x->recs[i].data = x->bytes[i];
        x->recs[i].len = lienthong__record__pack(&r, x->bytes[i]);
    }
}

/* A signed batch of PER_BATCH records from first, chained from prev (its
 * hash written to hash), with record `bad` (or none: PER_BATCH) given the
 * wrong seq, which only unpacking it at the commit can tell. */
typedef struct {
    Lienthong__Batch b;
    recs_t r;
    uint8_t sig[LT_SIG_BYTES];
} batch_t;

static void s_batch_of(batch_t *x, const char *stream, uint64_t first,
                       const uint8_t prev[LT_HASH_BYTES], uint8_t hash[LT_HASH_BYTES], size_t bad)
{
    s_recs(&x->r, first, bad);
    CU_ASSERT_FATAL(lt_batch_sign_history(G.owner, stream, G.history, first, x->r.recs, PER_BATCH,
                                          prev, x->sig, hash) == 0);
    lienthong__batch__init(&x->b);
    x->b.stream = (char *)stream;
    x->b.first_seq = first;
    x->b.records = x->r.recs;
    x->b.n_records = PER_BATCH;
    x->b.signature = (ProtobufCBinaryData){LT_SIG_BYTES, x->sig};
    x->b.history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, G.history};
}

static void s_batch(batch_t *x, uint64_t first, const uint8_t prev[LT_HASH_BYTES],
                    uint8_t hash[LT_HASH_BYTES], size_t bad)
{
    s_batch_of(x, OD_POP, first, prev, hash, bad);
}

/* n batches in a chain from the empty stream; hashes[i] after batch i. */
static void s_chain(batch_t *x, size_t n, uint8_t hashes[][LT_HASH_BYTES], size_t bad_batch)
{
    uint8_t zero[LT_HASH_BYTES] = {0};
    for (size_t i = 0; i < n; i++)
        s_batch(&x[i], 1 + i * PER_BATCH, i ? hashes[i - 1] : zero, hashes[i],
                i == bad_batch ? 1 : PER_BATCH);
}

static lt_feed_apply_t *s_check(const batch_t *x)
{
    return lt_feed_batch_check(G.feed, OD_OWNER, &x->b, G.link);
}

static lt_stream_t s_row_of(const char *stream)
{
    lt_stream_t st;
    memset(&st, 0, sizeof st);
    CU_ASSERT(lt_store_stream_find(G.ctx.store, stream, &st) == 1);
    return st;
}

static lt_stream_t s_row(void)
{
    return s_row_of(OD_POP);
}

/* 1 when the log holds a record at seq, 0 when not. */
static int s_logged(uint64_t seq)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    int found = lt_store_get(G.ctx.store, s_row().id, seq, &bytes, &len);
    free(bytes);
    return found;
}

/* Commits the jobs as the gateway does: planned, applied in one
 * transaction on store (NULL: the writer could not open it), each done in
 * order. */
static size_t s_commit_on(lt_store_t *store, lt_feed_apply_t **jobs, size_t n)
{
    lt_feed_group_t g = {.n = n};
    for (size_t i = 0; i < n; i++)
        g.jobs[i] = jobs[i];
    size_t runs = lt_feed_group_plan(G.feed, &g);
    if (runs)
        lt_feed_group_apply(&g, store);
    for (size_t i = 0; i < n; i++)
        lt_feed_batch_done(G.feed, &jobs[i]);
    return runs;
}

static size_t s_commit(lt_feed_apply_t **jobs, size_t n)
{
    return s_commit_on(G.ctx.store, jobs, n);
}

/* ---- the owner's snapshots (PROTOCOL.md 6.7) ------------------------------- */

/* A signed snapshot of stream at seq on G.history: one chunk of the
 * PER_BATCH records from first (keys and seqs, s_recs), and its end. */
typedef struct {
    Lienthong__SnapshotChunk c;
    Lienthong__SnapshotEnd e;
    recs_t r;
    uint8_t csig[LT_SIG_BYTES], esig[LT_SIG_BYTES], root[LT_HASH_BYTES];
} snap_t;

static void s_snap_from(snap_t *x, const char *stream, uint64_t seq, uint64_t first)
{
    uint8_t zero[LT_HASH_BYTES] = {0}, chunk[LT_HASH_BYTES], end[LT_HASH_BYTES];
    lt_snap_merkle_t m;
    s_recs(&x->r, first, PER_BATCH);
    lt_snap_merkle_init(&m);
    for (size_t i = 0; i < PER_BATCH; i++)
        lt_snap_merkle_add(&m, x->r.recs[i].data, x->r.recs[i].len);
    lt_snap_merkle_root(&m, x->root);
    CU_ASSERT_FATAL(lt_snap_chunk_sign(G.owner, stream, G.history, 0, x->r.recs, PER_BATCH, zero,
                                       x->csig, chunk) == 0);
    CU_ASSERT_FATAL(lt_snap_end_sign(G.owner, stream, G.history, seq, PER_BATCH, chunk, x->root,
                                     x->esig, end) == 0);
    lienthong__snapshot_chunk__init(&x->c);
    lienthong__snapshot_end__init(&x->e);
    x->c.stream = x->e.stream = (char *)stream;
    x->c.snapshot_seq = x->e.snapshot_seq = seq;
    x->c.history_id = x->e.history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, G.history};
    x->c.n_records = x->e.count = PER_BATCH;
    x->c.records = x->r.recs;
    x->c.signature = (ProtobufCBinaryData){LT_SIG_BYTES, x->csig};
    x->e.signature = (ProtobufCBinaryData){LT_SIG_BYTES, x->esig};
    x->e.state_root = (ProtobufCBinaryData){LT_HASH_BYTES, x->root};
}

/* The same of the records of seqs seq - PER_BATCH + 1 to seq. */
static void s_snap_of(snap_t *x, const char *stream, uint64_t seq)
{
    s_snap_from(x, stream, seq, seq - PER_BATCH + 1);
}

static void s_snap_chunk(const snap_t *x)
{
    lt_feed_on_snapshot_chunk(G.feed, OD_OWNER, G.link, &x->c);
}

static void s_snap_end(const snap_t *x)
{
    lt_feed_on_snapshot_end(G.feed, OD_OWNER, &x->e);
}

/* Starts a capture of the log (stderr, from level on) into G.tmp/NAME.log;
 * returns the saved stderr for s_log_end. */
static int s_log_begin(const char *name, lt_log_level_t level)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s.log", G.tmp, name);
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    lt_log_set_level(level);
    return saved;
}

/* Ends it: what was logged goes to out[cap]. */
static void s_log_end(int saved, const char *name, char *out, size_t cap)
{
    char path[300];
    snprintf(path, sizeof path, "%s/%s.log", G.tmp, name);
    lt_log_set_level((lt_log_level_t)(LT_LOG_ERROR + 1));
    ut_captured(saved, path, out, cap);
    close(saved);
}

/* ---- cases ------------------------------------------------------------------- */

static void test_ahead_one_commit(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    batch_t x[3];
    uint8_t h[3][LT_HASH_BYTES];
    s_chain(x, 3, h, 99);
    lt_feed_apply_t *jobs[3];
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_FATAL((jobs[i] = s_check(&x[i])) != NULL); /* each on the one before */
    CU_ASSERT_EQUAL(s_row().last_seq, 0);                    /* nothing committed yet */
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->applying, 3);
    /* A duplicate of the second, sent again, is stale: it starts inside. */
    CU_ASSERT(s_check(&x[1]) == NULL);
    uint64_t gen = lt_feed_generation(G.feed);
    CU_ASSERT_EQUAL(s_commit(jobs, 3), 3);
    /* A replica is not in the high-water file of owned streams: its growth
     * does not ask for the file to be written again. */
    CU_ASSERT_EQUAL(lt_feed_generation(G.feed), gen);
    lt_stream_t st = s_row();
    CU_ASSERT_EQUAL(st.last_seq, 3 * PER_BATCH);
    CU_ASSERT(memcmp(st.last_hash, h[2], LT_HASH_BYTES) == 0);
    CU_ASSERT(st.has_history && memcmp(st.history, G.history, LT_HISTORY_BYTES) == 0);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(credit, 3 * PER_BATCH);
    CU_ASSERT_EQUAL(from, 0);
    /* The next batch follows on the durable cursor again. */
    batch_t next;
    uint8_t hn[LT_HASH_BYTES];
    s_batch(&next, 3 * PER_BATCH + 1, h[2], hn, PER_BATCH);
    lt_feed_apply_t *j = s_check(&next);
    CU_ASSERT_FATAL(j != NULL);
    CU_ASSERT_EQUAL(s_commit(&j, 1), 1);
    CU_ASSERT_EQUAL(s_row().last_seq, 4 * PER_BATCH);
    s_feed_close();
}

/* The replica live at 2 * PER_BATCH from the first two of the chain x (its
 * hashes h); what it sent drained. */
static lt_feed_replica_t *s_live_two(batch_t x[3], uint8_t h[3][LT_HASH_BYTES])
{
    CU_ASSERT_FATAL(s_setup() == 0);
    s_chain(x, 3, h, 99);
    lt_feed_apply_t *jobs[2];
    for (size_t i = 0; i < 2; i++)
        CU_ASSERT_FATAL((jobs[i] = s_check(&x[i])) != NULL);
    CU_ASSERT_EQUAL(s_commit(jobs, 2), 2);
    uint64_t credit, from;
    s_drain(&credit, &from);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    CU_ASSERT_FATAL(f && f->state == LT_FEED_LIVE);
    return f;
}

/* s_live_two, then repaired by resynchronisation (PROTOCOL.md 6.10). */
static lt_feed_replica_t *s_repairing(batch_t x[3], uint8_t h[3][LT_HASH_BYTES])
{
    lt_feed_replica_t *f = s_live_two(x, h);
    CU_ASSERT_FATAL(lt_feed_history_resync_repair(G.feed, f, "records below the tail") == 0);
    return f;
}

/* A repair by resynchronisation of a live replica (PROTOCOL.md 6.10): the
 * feed stays live, subscribes from seq 1 at once, and a batch the old
 * subscription still sends is stale (6.6), not a gap that stops the feed. */
static void test_repair_resync_stays_live(void)
{
    batch_t x[3];
    uint8_t h[3][LT_HASH_BYTES];
    lt_feed_replica_t *f = s_repairing(x, h);
    uint64_t credit, from;
    CU_ASSERT(f->resyncing && f->state == LT_FEED_LIVE && f->stale_ahead);
    CU_ASSERT_EQUAL(f->resync_target, 2 * PER_BATCH);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1);
    CU_ASSERT(s_check(&x[2]) == NULL); /* the old subscription's: discarded */
    CU_ASSERT(f->state == LT_FEED_LIVE && f->resyncing);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 0); /* no stop, no new Subscribe */
    s_feed_close();
}

/* The owner answers a repair's Range with ERR_TOO_LARGE: the batch the
 * replica applied no longer fits its max_message, lowered since, so asking
 * again would be refused for ever (PROTOCOL.md 6.10). The replica
 * resynchronises by snapshot instead, as for a range below the owner's
 * tail; another refusal (here ERR_NOT_FOUND) is asked again later. */
static void test_repair_too_large_resyncs(void)
{
    batch_t x[3];
    uint8_t h[3][LT_HASH_BYTES];
    uint64_t credit, from;
    lt_feed_replica_t *f = s_live_two(x, h);
    lt_feed_damaged(G.feed, f->stream, PER_BATCH + 1); /* asks for the second batch */
    CU_ASSERT_FATAL(f->stream->repair_rid != 0 && f->stream->repair_first == PER_BATCH + 1);
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    e.request_id = f->stream->repair_rid;
    e.code = LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    e.message = OD_POP ": not found";
    CU_ASSERT(lt_feed_on_range_error(G.feed, OD_OWNER, &e) == 1);
    CU_ASSERT(!f->resyncing && f->state == LT_FEED_LIVE);
    e.code = LIENTHONG__ERROR_CODE__ERR_TOO_LARGE;
    e.message = OD_POP ": records 4..6 do not fit one batch here";
    CU_ASSERT(lt_feed_on_range_error(G.feed, OD_OWNER, &e) == 1);
    CU_ASSERT(f->resyncing && f->state == LT_FEED_LIVE);
    CU_ASSERT_EQUAL(f->resync_target, 2 * PER_BATCH);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1); /* the copy's Subscribe, answered with a snapshot */
    s_feed_close();
}

/* Changes a byte of record seq of the store's row `stream` (its id) on
 * disk, through another connection: its checksum no longer matches. */
static void s_damage(int64_t stream, uint64_t seq)
{
    char path[300];
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    ut_sql_damage_record(path, stream, seq);
}

/* A record of a live replica's resynchronised copy damaged before the
 * replace: the copy starts again from seq 1 on a new subscription at once,
 * so a batch the old one still sends is stale (6.6), not a gap that stops
 * the feed; the copy then completes and replaces the replica. */
static void test_copy_damaged_stays_live(void)
{
    batch_t x[3];
    uint8_t h[3][LT_HASH_BYTES];
    lt_feed_replica_t *f = s_repairing(x, h);
    uint64_t credit, from;
    lt_feed_apply_t *jobs[1];
    s_drain(&credit, &from);
    CU_ASSERT_FATAL(from == 1);
    /* The copy's first batch, then a record of it damaged on disk. */
    CU_ASSERT_FATAL((jobs[0] = s_check(&x[0])) != NULL);
    CU_ASSERT_EQUAL(s_commit(jobs, 1), 1);
    CU_ASSERT_FATAL(f->resyncing && f->cursor.last_seq == PER_BATCH);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(credit, PER_BATCH);
    s_damage(f->cursor.id, 2);
    /* Its last batch reaches the target: the replace meets the damage. */
    CU_ASSERT_FATAL((jobs[0] = s_check(&x[1])) != NULL);
    CU_ASSERT_EQUAL(s_commit(jobs, 1), 1);
    CU_ASSERT(f->resyncing && f->state == LT_FEED_LIVE && f->stale_ahead);
    CU_ASSERT_EQUAL(f->cursor.last_seq, 0);
    CU_ASSERT_EQUAL(s_row().last_seq, 2 * PER_BATCH); /* the replica kept */
    lt_feed_tick(G.feed);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1);
    CU_ASSERT_EQUAL(credit, 0);        /* the old subscription's is not owed */
    CU_ASSERT(s_check(&x[2]) == NULL); /* the old subscription's: discarded */
    CU_ASSERT_FATAL(f->state == LT_FEED_LIVE && f->resyncing);
    /* The copy again from seq 1, complete: it replaces the replica. */
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT_FATAL((jobs[0] = s_check(&x[i])) != NULL);
        CU_ASSERT_EQUAL(s_commit(jobs, 1), 1);
    }
    CU_ASSERT(!f->resyncing && f->state == LT_FEED_LIVE);
    lt_stream_t st = s_row();
    CU_ASSERT_EQUAL(st.last_seq, 2 * PER_BATCH);
    CU_ASSERT(memcmp(st.last_hash, h[1], LT_HASH_BYTES) == 0);
    CU_ASSERT(s_logged(2));
    s_feed_close();
}

/* The second of three batches holds a record out of sequence: the group
 * keeps nothing (not even the first), the replica stops, and then asks
 * again from its durable cursor. */
static void test_group_failure_keeps_nothing(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    batch_t x[3];
    uint8_t h[3][LT_HASH_BYTES];
    s_chain(x, 3, h, 1);
    lt_feed_apply_t *jobs[3];
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_FATAL((jobs[i] = s_check(&x[i])) != NULL);
    CU_ASSERT_EQUAL(s_commit(jobs, 3), 3);
    CU_ASSERT_EQUAL(s_row().last_seq, 0);
    CU_ASSERT(s_logged(1) == 0);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
    CU_ASSERT_EQUAL(f->applying, 0);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(credit, 0);
    lt_feed_dir_changed(G.feed, NULL); /* ends the back-off */
    lt_feed_tick(G.feed);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1);
    s_feed_close();
}

/* A job whose batch before it did not commit (it failed in an earlier
 * group) does not run: no gap is written, and the replica asks again. */
static void test_after_failure_not_run(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    batch_t x[2];
    uint8_t h[2][LT_HASH_BYTES];
    s_chain(x, 2, h, 0);
    lt_feed_apply_t *first = s_check(&x[0]), *second = s_check(&x[1]);
    CU_ASSERT_FATAL(first && second);
    CU_ASSERT_EQUAL(s_commit(&first, 1), 1); /* fails: record 1 out of sequence */
    CU_ASSERT_EQUAL(s_commit(&second, 1), 0);
    CU_ASSERT_EQUAL(s_row().last_seq, 0);
    CU_ASSERT(s_logged(PER_BATCH + 1) == 0); /* no record past the gap */
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->applying, 0);
    s_feed_close();
}

/* A batch that fails its signature check while the one before it commits
 * stops the replica only once that one is done, and only if it committed:
 * the stop comes after the good batch is durable. */
static void test_deferred_failure(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    batch_t x[2], forged;
    uint8_t h[2][LT_HASH_BYTES], hf[LT_HASH_BYTES], wrong[LT_HASH_BYTES];
    s_chain(x, 2, h, 99);
    memset(wrong, 0x5a, sizeof wrong);
    s_batch(&forged, PER_BATCH + 1, wrong, hf, PER_BATCH); /* not chained on x[0] */
    lt_feed_apply_t *job = s_check(&x[0]);
    CU_ASSERT_FATAL(job != NULL);
    CU_ASSERT(s_check(&forged) == NULL);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE); /* not yet */
    CU_ASSERT(s_check(&x[1]) == NULL);       /* dropped meanwhile */
    CU_ASSERT_EQUAL(s_commit(&job, 1), 1);
    CU_ASSERT_EQUAL(s_row().last_seq, PER_BATCH);
    CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
    s_feed_close();
}

/* A batch that overlaps the cursor the committing batch will leave (sent
 * on a subscription from before our last Subscribe, 6.6): once that batch
 * is durable the replica subscribes again from past it. */
static void test_deferred_overlap(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    batch_t x[1], over;
    uint8_t h[1][LT_HASH_BYTES], ho[LT_HASH_BYTES];
    s_chain(x, 1, h, 99);
    uint8_t zero[LT_HASH_BYTES] = {0};
    s_batch(&over, 2, zero, ho, PER_BATCH); /* seqs 2 to 4: past the first's 3 */
    lt_feed_apply_t *job = s_check(&x[0]);
    CU_ASSERT_FATAL(job != NULL);
    CU_ASSERT(s_check(&over) == NULL);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 0); /* not before the commit */
    CU_ASSERT_EQUAL(s_commit(&job, 1), 1);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, PER_BATCH + 1);
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->state, LT_FEED_LIVE);
    s_feed_close();
}

/* The replica subscribes again while a batch of the old subscription
 * still waits to commit: the new subscription's batches follow on the
 * durable cursor, not on the one the old batch would have left, and the
 * old batch does not run. */
static void test_resubscribe_while_committing(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    batch_t x[2];
    uint8_t h[2][LT_HASH_BYTES];
    s_chain(x, 2, h, 99);
    lt_feed_apply_t *first = s_check(&x[0]), *old = s_check(&x[1]);
    CU_ASSERT_FATAL(first && old);
    CU_ASSERT_EQUAL(s_commit(&first, 1), 1);
    /* The owner stops the feed (a transient refusal); the replica asks
     * again from its durable cursor, 3. */
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    e.code = LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE;
    e.message = OD_POP ": busy";
    lt_feed_on_error(G.feed, OD_OWNER, &e);
    lt_feed_dir_changed(G.feed, NULL); /* ends the back-off */
    lt_feed_tick(G.feed);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, PER_BATCH + 1);
    lt_feed_apply_t *jobs[2] = {old, s_check(&x[1])}; /* sent again on the new one */
    CU_ASSERT_FATAL(jobs[1] != NULL);
    CU_ASSERT_EQUAL(s_commit(jobs, 2), 1); /* the new one only */
    lt_stream_t st = s_row();
    CU_ASSERT_EQUAL(st.last_seq, 2 * PER_BATCH);
    CU_ASSERT(memcmp(st.last_hash, h[1], LT_HASH_BYTES) == 0);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(credit, PER_BATCH);
    CU_ASSERT_EQUAL(from, 0); /* nothing more to ask */
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    CU_ASSERT(f->state == LT_FEED_LIVE && f->applying == 0);
    s_feed_close();
}

/* The owner's HistoryChanged: the stream moved to history h, at last_seq. */
static void s_history_changed(const uint8_t h[LT_HISTORY_BYTES], uint64_t last_seq)
{
    Lienthong__HistoryChanged m = LIENTHONG__HISTORY_CHANGED__INIT;
    m.stream = OD_POP;
    m.history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, (uint8_t *)h};
    m.last_seq = last_seq;
    lt_feed_on_history_changed(G.feed, OD_OWNER, &m);
}

/* A resynchronisation (resync = "auto") starts again, on another history
 * of the owner, while the first batch of its copy is committed: the batch
 * went into the copy that is now emptied, so it must not move the new
 * copy's cursor (its row and seq 0 are those the batch followed on), and
 * above all must not complete the copy and replace the replica with an
 * empty one. The replica keeps its content and the copy starts from 1. */
/* The replica holds 1..PER_BATCH on history h1 (written there); the owner
 * moves to another history (resync = "auto") and the copy's only batch,
 * the whole copy (x, which the job uses), is committed into the shadow but
 * not yet done: its job. The replica is *f. */
static lt_feed_apply_t *s_copy_committed(batch_t *x, uint8_t h1[LT_HISTORY_BYTES],
                                         lt_feed_replica_t **f)
{
    G.cfg.subs[0].resync_auto = 1;
    uint8_t zero[LT_HASH_BYTES] = {0}, h[LT_HASH_BYTES];
    memcpy(h1, G.history, LT_HISTORY_BYTES);
    s_batch(x, 1, zero, h, PER_BATCH);
    lt_feed_apply_t *job = s_check(x);
    CU_ASSERT_FATAL(job != NULL);
    CU_ASSERT_EQUAL(s_commit(&job, 1), 1); /* the replica: 1..3 on h1 */
    /* The owner moves to a second history: the copy starts. */
    randombytes_buf(G.history, sizeof G.history);
    s_history_changed(G.history, PER_BATCH);
    *f = lt_feed_replica_find(G.feed, OD_POP);
    CU_ASSERT_FATAL((*f)->resyncing);
    lt_feed_tick(G.feed);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1);
    s_batch(x, 1, zero, h, PER_BATCH);
    CU_ASSERT_FATAL((job = s_check(x)) != NULL);
    lt_feed_group_t g = {.n = 1, .jobs = {job}};
    CU_ASSERT_EQUAL(lt_feed_group_plan(G.feed, &g), 1);
    lt_feed_group_apply(&g, G.ctx.store);
    return job;
}

static void test_resync_restarted_while_committing(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    uint8_t h1[LT_HISTORY_BYTES];
    lt_feed_replica_t *f;
    batch_t x;
    /* Before the copy's batch is done the owner moves to a third history
     * and the copy starts again. */
    lt_feed_apply_t *job = s_copy_committed(&x, h1, &f);
    randombytes_buf(G.history, sizeof G.history);
    s_history_changed(G.history, PER_BATCH);
    lt_feed_batch_done(G.feed, &job);
    /* The replica still shows its content on h1; the copy is empty. */
    lt_stream_t st = s_row();
    CU_ASSERT_EQUAL(st.last_seq, PER_BATCH);
    CU_ASSERT(st.has_history && memcmp(st.history, h1, LT_HISTORY_BYTES) == 0);
    CU_ASSERT(s_logged(1) == 1 && s_logged(PER_BATCH) == 1);
    CU_ASSERT(f->resyncing);
    CU_ASSERT_EQUAL(f->cursor.last_seq, 0);
    /* A second fork in a row delays the copy (test_repeated_forks_back_off). */
    CU_ASSERT(f->next_at > lt_clock_mono_ms());
    f->next_at = 0;
    lt_feed_tick(G.feed);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1);
    G.cfg.subs[0].resync_auto = 0;
    s_feed_close();
}

/* The history status reports for the population's replica: its state, its
 * detail (into detail) and when a pending swap is tried again. */
static void s_history_status(char *state, char *detail, size_t len, int64_t *retry_at)
{
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    state[0] = detail[0] = '\0';
    *retry_at = -1;
    lt_feed_status(G.feed, &r);
    for (size_t i = 0; i < r.n_streams; i++) {
        const Lienthong__StreamHistory *h = r.streams[i]->history;
        if (strcmp(r.streams[i]->stream, OD_POP) != 0 || !h)
            continue;
        snprintf(state, len, "%s", h->state ? h->state : "");
        snprintf(detail, len, "%s", h->detail ? h->detail : "");
        *retry_at = h->swap_retry_at_ms;
    }
    lt_feed_status_free(&r);
}

/* The copy of a resynchronisation reaches its target while another
 * connection holds the store's write lock: the swap fails (busy). No batch
 * comes after the last (the owner publishes nothing), so the tick must try
 * the swap again: not before its back-off, then once the lock is gone.
 * Meanwhile status tells the pending swap, with why, from a copy under way
 * (PROTOCOL.md 8.3). */
static void test_resync_swap_retried(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    uint8_t h1[LT_HISTORY_BYTES];
    lt_feed_replica_t *f;
    batch_t x;
    lt_feed_apply_t *job = s_copy_committed(&x, h1, &f);
    /* Its swap meets the lock. */
    char path[300];
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    ut_sql_exec(db, "BEGIN IMMEDIATE");
    lt_feed_batch_done(G.feed, &job); /* waits out the busy timeout */
    CU_ASSERT(f->resyncing);
    CU_ASSERT_EQUAL(f->cursor.last_seq, PER_BATCH);
    lt_stream_t st = s_row();
    CU_ASSERT(st.has_history && memcmp(st.history, h1, LT_HISTORY_BYTES) == 0);
    char state[300], detail[300];
    int64_t retry_at;
    s_history_status(state, detail, sizeof detail, &retry_at);
    CU_ASSERT_STRING_EQUAL(state, "resyncing");
    CU_ASSERT(strstr(detail, "copy complete, swap pending (retry in ") != NULL);
    CU_ASSERT(strstr(detail, "database is locked") != NULL);
    CU_ASSERT(retry_at > lt_clock_now_ms() - 1000);
    ut_sql_exec(db, "ROLLBACK");
    sqlite3_close(db);
    /* Not before its back-off. */
    lt_feed_tick(G.feed);
    CU_ASSERT(f->resyncing);
    while (lt_clock_mono_ms() <= f->swap_at)
        usleep(50 * 1000);
    lt_feed_tick(G.feed);
    CU_ASSERT(!f->resyncing);
    s_history_status(state, detail, sizeof detail, &retry_at);
    CU_ASSERT_STRING_EQUAL(state, "ok");
    CU_ASSERT_EQUAL(retry_at, 0);
    st = s_row();
    CU_ASSERT_EQUAL(st.last_seq, PER_BATCH);
    CU_ASSERT(st.has_history && memcmp(st.history, G.history, LT_HISTORY_BYTES) == 0);
    CU_ASSERT(f->cursor.id == st.id && f->stream->id == st.id);
    G.cfg.subs[0].resync_auto = 0;
    s_feed_close();
}

/* One batch of each of two replicas in one group, the population's first
 * (bad_pop: with a record out of sequence). */
static void s_two(batch_t *pop, batch_t *view, lt_feed_apply_t **jobs, int bad_pop)
{
    uint8_t zero[LT_HASH_BYTES] = {0}, h[LT_HASH_BYTES];
    s_batch_of(pop, OD_POP, 1, zero, h, bad_pop ? 1 : PER_BATCH);
    s_batch_of(view, OD_P38, 1, zero, h, PER_BATCH);
    jobs[0] = s_check(pop);
    jobs[1] = s_check(view);
    CU_ASSERT_FATAL(jobs[0] && jobs[1]);
}

/* A batch's own fault stops its replica only; the other replica's batch in
 * the group did not run, and that replica asks for it again at once. */
static void test_own_failure_others_ask_again(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    batch_t pop, view;
    lt_feed_apply_t *jobs[2];
    s_two(&pop, &view, jobs, 1);
    CU_ASSERT_EQUAL(s_commit(jobs, 2), 2);
    CU_ASSERT(s_row_of(OD_POP).last_seq == 0 && s_row_of(OD_P38).last_seq == 0);
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->state, LT_FEED_BACKOFF);
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_P38)->state, LT_FEED_LIVE);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1); /* the view's Subscribe, from its durable cursor */
    s_feed_close();
}

/* The store itself fails (here: the writer has none): every replica of the
 * group stops and backs off, none asks again at once. */
static void test_store_failure_stops_all(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    batch_t pop, view;
    lt_feed_apply_t *jobs[2];
    s_two(&pop, &view, jobs, 0);
    CU_ASSERT_EQUAL(s_commit_on(NULL, jobs, 2), 2);
    CU_ASSERT(s_row_of(OD_POP).last_seq == 0 && s_row_of(OD_P38).last_seq == 0);
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->state, LT_FEED_BACKOFF);
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_P38)->state, LT_FEED_BACKOFF);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT(from == 0 && credit == 0);
    s_feed_close();
}

#define FULL_BATCHES 400 /* at most, before one needs a page the store may not take */

/* Opens a writer on the store, as full as its file is now (SQLite's
 * max_page_count: "database or disk is full"), its connection in
 * g_opened, and commits the chain x through it until a batch does not
 * fit: the index of that batch, whose failure stopped the replica. */
static size_t s_fill(lt_store_t **writer, batch_t *x, uint8_t h[][LT_HASH_BYTES])
{
    char path[300], err[1024];
    uint64_t credit, from;
    lt_stats_series_t *writable = lt_gwstats_store_writable(G.ctx.stats);
    CU_ASSERT_FATAL(writable != NULL);
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    g_capture = 1;
    *writer = lt_store_open(path, err, sizeof err);
    g_capture = 0;
    CU_ASSERT_FATAL(*writer && g_opened);
    ut_sql_exec(g_opened, "PRAGMA max_page_count = 1"); /* as large as the file is now */
    s_chain(x, FULL_BATCHES, h, FULL_BATCHES);
    size_t i = 0;
    for (; i < FULL_BATCHES; i++) {
        lt_feed_apply_t *job = s_check(&x[i]);
        CU_ASSERT_FATAL(job != NULL);
        CU_ASSERT_EQUAL(s_commit_on(*writer, &job, 1), 1);
        s_drain(&credit, &from);
        if (s_row().last_seq != (i + 1) * PER_BATCH)
            break;
        CU_ASSERT_EQUAL(lt_gwstats_gauge(writable), 1);
    }
    CU_ASSERT_FATAL(i < FULL_BATCHES);
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->state, LT_FEED_BACKOFF);
    return i;
}

/* Ends the replica's back-off: it subscribes again from its durable
 * cursor, the owner answers with batch b, committed through writer. */
static void s_again(lt_store_t *writer, const batch_t *b)
{
    uint64_t credit, from;
    lt_feed_dir_changed(G.feed, NULL); /* ends the back-off */
    lt_feed_tick(G.feed);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, s_row().last_seq + 1);
    lt_feed_apply_t *job = s_check(b);
    CU_ASSERT_FATAL(job != NULL);
    CU_ASSERT_EQUAL(s_commit_on(writer, &job, 1), 1);
}

/* A group of replica batches the writer's store cannot write, as on a
 * full disk, reads 0 in lienthong_store_writable, as a publish group
 * does; once there is room the replica's next commit sets it to 1 again. */
static void test_full_store_not_writable(void)
{
    static batch_t x[FULL_BATCHES];
    static uint8_t h[FULL_BATCHES][LT_HASH_BYTES];
    lt_store_t *writer = NULL;
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_stats_series_t *writable = lt_gwstats_store_writable(G.ctx.stats);
    CU_ASSERT_FATAL(writable != NULL);
    CU_ASSERT_EQUAL(lt_gwstats_gauge(writable), 1);
    size_t i = s_fill(&writer, x, h);
    CU_ASSERT_EQUAL(lt_gwstats_gauge(writable), 0);
    /* Room again: asked again from the durable cursor, and committed. */
    ut_sql_exec(g_opened, "PRAGMA max_page_count = 1073741823");
    s_again(writer, &x[i]);
    CU_ASSERT_EQUAL(s_row().last_seq, (i + 1) * PER_BATCH);
    CU_ASSERT_EQUAL(lt_gwstats_gauge(writable), 1);
    lt_store_destroy(&writer);
    g_opened = NULL;
    s_feed_close();
}

static int64_t s_now; /* the clock of the replicas' stop log, where a case sets it */

static int64_t s_clock(void *arg)
{
    (void)arg;
    return s_now;
}

#define FULL_BACKOFFS 7 /* after the first stop, one each 20 s */

/* A full disk lasting many back-offs: the replica's first stop is logged
 * at once with its cause, the later ones counted in one line a minute,
 * their subscribes at debug, and one line ends the run when it applies
 * again; not a line (and a subscribing line) per back-off. */
static void test_full_store_stops_counted(void)
{
    static batch_t x[FULL_BATCHES];
    static uint8_t h[FULL_BATCHES][LT_HASH_BYTES];
    static char out[65536];
    lt_store_t *writer = NULL;
    CU_ASSERT_FATAL(s_setup() == 0);
    s_now = 1000000;
    lt_tally_set_clock(G.feed->stop_log, s_clock, NULL);
    int saved = s_log_begin("stops", LT_LOG_INFO);
    size_t i = s_fill(&writer, x, h);
    for (int k = 0; k < FULL_BACKOFFS; k++) {
        s_now += 20000;
        s_again(writer, &x[i]);
        CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->state, LT_FEED_BACKOFF);
    }
    /* A whole minute without a stop: the next is said at once again, as
     * one of the run. */
    for (int k = 0; k < 2; k++) {
        s_now += 61000;
        lt_feed_tick(G.feed);
    }
    s_again(writer, &x[i]);
    ut_sql_exec(g_opened, "PRAGMA max_page_count = 1073741823");
    s_again(writer, &x[i]);
    CU_ASSERT_EQUAL(s_row().last_seq, (i + 1) * PER_BATCH);
    s_log_end(saved, "stops", out, sizeof out);
    /* 9 stops: the first at once, then 2 counted by the minute at 60 s,
     * 3 at 120 s, 2 at 201 s, the last at once after a quiet minute. */
    CU_ASSERT_EQUAL(ut_lines(out, "WARN"), 5);
    CU_ASSERT_EQUAL(ut_lines(out, "stopped at seq"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "database or disk is full; re-subscribing in 500 ms, further "
                                  "stops said at most once every 60 s"),
                    1);
    CU_ASSERT_EQUAL(ut_lines(out, "replica of " OD_POP " stopped 2 times in the last 60 s, the "
                                  "last at seq"),
                    1);
    CU_ASSERT_EQUAL(ut_lines(out, "replica of " OD_POP " stopped 3 times in the last 60 s"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "replica of " OD_POP " stopped 2 times in the last 81 s"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "replica of " OD_POP " stopped again at seq"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "disk is full; re-subscribing in 500 ms (9 stops in"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "subscribing to " OD_POP), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "replica of " OD_POP " applying again after 9 failures over"), 1);
    if (CU_get_number_of_failures())
        fputs(out, stderr);
    lt_store_destroy(&writer);
    g_opened = NULL;
    s_feed_close();
}

/* Commits n batches of the chain x, each checked on the one before. */
static void s_apply(const batch_t *x, size_t n)
{
    lt_feed_apply_t *jobs[8];
    CU_ASSERT_FATAL(n <= 8);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_FATAL((jobs[i] = s_check(&x[i])) != NULL);
    CU_ASSERT_EQUAL(s_commit(jobs, n), n);
}

/* A snapshot behind the cursor on the replica's own history comes from a
 * subscription replaced since (PROTOCOL.md 6.6): discarded, whether it
 * starts behind the cursor or the cursor passes it while it is received.
 * The cursor does not go back, and the batches follow on it. */
static void test_snapshot_behind_cursor(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    batch_t x[4];
    uint8_t h[4][LT_HASH_BYTES];
    s_chain(x, 4, h, 99);
    s_apply(x, 2);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    snap_t old, passed;
    s_snap_of(&old, OD_POP, PER_BATCH);
    s_snap_chunk(&old);
    s_snap_end(&old);
    CU_ASSERT_EQUAL(f->cursor.last_seq, 2 * PER_BATCH);
    CU_ASSERT_EQUAL(f->discarded, 2);
    /* Started ahead of the cursor, which then passes it. */
    s_snap_of(&passed, OD_POP, 3 * PER_BATCH);
    s_snap_chunk(&passed);
    CU_ASSERT_FATAL(f->stage != NULL);
    s_apply(&x[2], 2);
    s_snap_end(&passed);
    lt_stream_t st = s_row();
    CU_ASSERT_EQUAL(st.last_seq, 4 * PER_BATCH);
    CU_ASSERT(memcmp(st.last_hash, h[3], LT_HASH_BYTES) == 0);
    CU_ASSERT(f->cursor.last_seq == st.last_seq && f->stream->last_seq == st.last_seq);
    CU_ASSERT_EQUAL(f->stream->tail_first, 1);
    CU_ASSERT(s_logged(1) == 1 && s_logged(4 * PER_BATCH) == 1);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    batch_t next;
    uint8_t hn[LT_HASH_BYTES];
    s_batch(&next, 4 * PER_BATCH + 1, h[3], hn, PER_BATCH);
    s_apply(&next, 1);
    CU_ASSERT_EQUAL(s_row().last_seq, 5 * PER_BATCH);
    s_feed_close();
}

/* A replica removed from the configuration while it receives a snapshot,
 * the last one moved into its place while receiving one too: what the
 * removed one received goes with it (the sanitizers' leak check finds it
 * otherwise), and the moved one's snapshot goes on to its end. */
static void test_removed_while_receiving(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    snap_t pop, view;
    s_snap_of(&pop, OD_POP, PER_BATCH);
    s_snap_of(&view, OD_P38, PER_BATCH);
    s_snap_chunk(&pop);
    s_snap_chunk(&view);
    CU_ASSERT_FATAL(lt_feed_replica_find(G.feed, OD_POP)->stage != NULL);
    lt_feed_replica_remove(G.feed, OD_POP);
    CU_ASSERT(lt_feed_replica_find(G.feed, OD_POP) == NULL);
    lt_feed_replica_t *v = lt_feed_replica_find(G.feed, OD_P38);
    CU_ASSERT_FATAL(v != NULL);
    s_snap_end(&view);
    CU_ASSERT_EQUAL(v->cursor.last_seq, PER_BATCH);
    CU_ASSERT_EQUAL(s_row_of(OD_P38).last_seq, PER_BATCH);
    s_feed_close();
}

/* Installs a snapshot of the population at seq (resync = "auto"), then
 * the owner moves to another history at resync_at: the replica's copy
 * subscribes from seq 1. Its feed. */
static lt_feed_replica_t *s_snapshot_then_resync(uint64_t seq, uint64_t resync_at)
{
    G.cfg.subs[0].resync_auto = 1;
    snap_t sn;
    s_snap_of(&sn, OD_POP, seq);
    s_snap_chunk(&sn);
    s_snap_end(&sn);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT_EQUAL(f->cursor.last_seq, seq);
    CU_ASSERT_EQUAL(f->stream->tail_first, seq + 1);
    CU_ASSERT_EQUAL(f->stream->last_seq, seq);
    randombytes_buf(G.history, sizeof G.history);
    s_history_changed(G.history, resync_at);
    CU_ASSERT_FATAL(f->resyncing);
    lt_feed_tick(G.feed);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1);
    return f;
}

/* A replica that installed a snapshot keeps its log from after it (6.7);
 * a resynchronisation by batches from seq 1 then replaces it (6.9). The
 * stream in memory must be as a restart loads it: the log from seq 1 (a
 * sink may attach there without replace) and the owner's new history. */
static void test_resync_after_snapshot(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_t *f = s_snapshot_then_resync(2 * PER_BATCH, PER_BATCH);
    batch_t x;
    uint8_t h[1][LT_HASH_BYTES];
    s_chain(&x, 1, h, 99);
    s_apply(&x, 1);
    CU_ASSERT_FATAL(!f->resyncing);
    lt_stream_t st = s_row();
    uint64_t tail_first = 0;
    CU_ASSERT_EQUAL(lt_store_tail_first(G.ctx.store, st.id, &tail_first), 0);
    CU_ASSERT_EQUAL(tail_first, 1);
    CU_ASSERT_EQUAL(f->stream->tail_first, tail_first);
    CU_ASSERT(f->stream->id == st.id && f->stream->last_seq == PER_BATCH &&
              st.last_seq == PER_BATCH);
    CU_ASSERT(f->stream->has_history && st.has_history &&
              memcmp(f->stream->history, G.history, LT_HISTORY_BYTES) == 0 &&
              memcmp(st.history, G.history, LT_HISTORY_BYTES) == 0);
    G.cfg.subs[0].resync_auto = 0;
    s_feed_close();
}

/* The end of an empty snapshot of the population at seq on G.history. */
static void s_snap_empty(snap_t *x, uint64_t seq)
{
    uint8_t zero[LT_HASH_BYTES] = {0}, end[LT_HASH_BYTES];
    memset(x->root, 0, sizeof x->root);
    CU_ASSERT_FATAL(
        lt_snap_end_sign(G.owner, OD_POP, G.history, seq, 0, zero, x->root, x->esig, end) == 0);
    lienthong__snapshot_end__init(&x->e);
    x->e.stream = OD_POP;
    x->e.snapshot_seq = seq;
    x->e.history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, G.history};
    x->e.signature = (ProtobufCBinaryData){LT_SIG_BYTES, x->esig};
    x->e.state_root = (ProtobufCBinaryData){LT_HASH_BYTES, x->root};
}

/* The replica at 2 * PER_BATCH on the history it returns in h1 (G.history
 * is another one afterwards), f its feed. */
static lt_feed_replica_t *s_on_history(uint8_t h1[LT_HISTORY_BYTES])
{
    batch_t x[2];
    uint8_t h[2][LT_HASH_BYTES];
    s_chain(x, 2, h, 99);
    s_apply(x, 2);
    memcpy(h1, G.history, LT_HISTORY_BYTES);
    randombytes_buf(G.history, sizeof G.history);
    return lt_feed_replica_find(G.feed, OD_POP);
}

/* The replica as it was: at 2 * PER_BATCH on h1, its log kept. */
static void s_kept(const uint8_t h1[LT_HISTORY_BYTES])
{
    lt_stream_t st = s_row();
    CU_ASSERT_EQUAL(st.last_seq, 2 * PER_BATCH);
    CU_ASSERT(st.has_history && memcmp(st.history, h1, LT_HISTORY_BYTES) == 0);
    CU_ASSERT(s_logged(1) == 1 && s_logged(2 * PER_BATCH) == 1);
}

/* The status reads the history of what the replica shows from its row; a
 * read that fails leaves the stream's history as it was. Before, it was
 * forgotten: the Delivers that followed carried none, and a sink
 * attaching then had its whole table replaced (PROTOCOL.md 8.2). */
static void test_status_read_failure_keeps_history(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    uint8_t h1[LT_HISTORY_BYTES];
    lt_feed_replica_t *f = s_on_history(h1);
    Lienthong__StreamStatus ss = LIENTHONG__STREAM_STATUS__INIT;
    g_find_fail = 1;
    lt_feed_history_status(G.feed, f->stream, &ss);
    g_find_fail = 0;
    CU_ASSERT(f->stream->has_history && memcmp(f->stream->history, h1, LT_HISTORY_BYTES) == 0);
    CU_ASSERT_FATAL(ss.history != NULL);
    CU_ASSERT_EQUAL(ss.history->id.len, LT_HISTORY_BYTES);
    free(ss.history);
    s_feed_close();
}

/* A snapshot on another history than the cursor's, outside a
 * resynchronisation (an owner following 6.9 never sends one), is a fork
 * as a batch of another history is (PROTOCOL.md 6.9): the feed stops, the
 * replica keeps its content, and nothing of the snapshot is installed,
 * whether it is ahead of the cursor or behind it. */
static void test_snapshot_other_history_forks(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    uint8_t h1[LT_HISTORY_BYTES];
    lt_feed_replica_t *f = s_on_history(h1);
    snap_t sn;
    s_snap_of(&sn, OD_POP, 3 * PER_BATCH);
    s_snap_chunk(&sn);
    CU_ASSERT_EQUAL(f->state, LT_FEED_FORKED);
    CU_ASSERT(f->fork_detail[0] != '\0');
    CU_ASSERT_EQUAL(f->resync_target, 3 * PER_BATCH);
    s_snap_end(&sn);
    s_kept(h1);
    CU_ASSERT_EQUAL(f->cursor.last_seq, 2 * PER_BATCH);
    /* Behind the cursor: not stale (another history), a fork too. */
    CU_ASSERT_FATAL(s_setup() == 0);
    f = s_on_history(h1);
    s_snap_of(&sn, OD_POP, PER_BATCH);
    s_snap_chunk(&sn);
    s_snap_end(&sn);
    CU_ASSERT_EQUAL(f->state, LT_FEED_FORKED);
    s_kept(h1);
    s_feed_close();
}

/* An empty snapshot (its end alone) on another history is a fork too; with
 * resync = "auto" the resynchronisation starts, and the owner's snapshot
 * on its new history then replaces the replica and ends it (6.9). */
static void test_empty_snapshot_other_history_resyncs(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    G.cfg.subs[0].resync_auto = 1;
    uint8_t h1[LT_HISTORY_BYTES];
    lt_feed_replica_t *f = s_on_history(h1);
    snap_t empty, sn;
    s_snap_empty(&empty, 3 * PER_BATCH);
    s_snap_end(&empty);
    CU_ASSERT_FATAL(f->resyncing);
    CU_ASSERT_EQUAL(f->resync_target, 3 * PER_BATCH);
    s_kept(h1);
    lt_feed_tick(G.feed);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1);
    s_snap_of(&sn, OD_POP, 3 * PER_BATCH);
    s_snap_chunk(&sn);
    s_snap_end(&sn);
    CU_ASSERT(!f->resyncing);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    lt_stream_t st = s_row();
    CU_ASSERT_EQUAL(st.last_seq, 3 * PER_BATCH);
    CU_ASSERT(st.has_history && memcmp(st.history, G.history, LT_HISTORY_BYTES) == 0);
    G.cfg.subs[0].resync_auto = 0;
    s_feed_close();
}

/* An owner that announces a new history again and again (a broken or
 * hostile member) must not make a replica with resync = "auto" copy the
 * stream from seq 1 again each time at once: every copy is a full
 * re-fetch. The first fork starts the copy at once; each one soon after
 * waits, longer each time (PROTOCOL.md 6.9), and is counted. The replica
 * keeps its content meanwhile. */
static void test_repeated_forks_back_off(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    G.cfg.subs[0].resync_auto = 1;
    uint8_t h1[LT_HISTORY_BYTES];
    lt_feed_replica_t *f = s_on_history(h1);
    uint64_t credit, from;
    s_history_changed(G.history, PER_BATCH);
    CU_ASSERT_FATAL(f->resyncing);
    lt_feed_tick(G.feed);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1); /* the first copy starts at once */
    int64_t waits[3];
    for (size_t i = 0; i < 3; i++) {
        randombytes_buf(G.history, sizeof G.history);
        s_history_changed(G.history, PER_BATCH);
        CU_ASSERT(f->resyncing);
        lt_feed_tick(G.feed);
        s_drain(&credit, &from);
        CU_ASSERT_EQUAL(from, 0); /* not again at once */
        waits[i] = f->next_at - lt_clock_mono_ms();
        f->next_at = 0; /* the wait is over */
        lt_feed_tick(G.feed);
        s_drain(&credit, &from);
        CU_ASSERT_EQUAL(from, 1);
    }
    CU_ASSERT(waits[0] >= 500 && waits[1] > waits[0] && waits[2] > waits[1]);
    /* While a copy waits to start, no subscription of it is outstanding: a
     * HistoryChanged then answers nothing and starts nothing over. */
    randombytes_buf(G.history, sizeof G.history);
    s_history_changed(G.history, PER_BATCH);
    int64_t at = f->next_at;
    CU_ASSERT(at > lt_clock_mono_ms());
    s_history_changed(G.history, PER_BATCH);
    CU_ASSERT_EQUAL(f->next_at, at);
    lt_stats_sample_t forks;
    lt_stats_read(f->st_forks, &forks);
    CU_ASSERT_EQUAL(forks.counter, 5);
    s_kept(h1);
    G.cfg.subs[0].resync_auto = 0;
    s_feed_close();
}

/* 1 when the staging copy of the population's replica (lt_feed_stage.c)
 * holds a record at seq. */
static int s_staged(uint64_t seq)
{
    char name[LT_STREAM_ID_MAX + 16];
    snprintf(name, sizeof name, "\x02snapshot %s", OD_POP);
    lt_stream_t st;
    if (lt_store_stream_find(G.ctx.store, name, &st) != 1)
        return 0;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int found = lt_store_get(G.ctx.store, st.id, seq, &bytes, &len);
    free(bytes);
    return found;
}

/* An owner that stops sending in the middle of a snapshot (never its end),
 * or ends it with a count its chunks do not add up to: the snapshot is
 * abandoned, and its staged records must not stay on disk until some
 * later snapshot or a restart (PROTOCOL.md 6.7). The replica keeps its
 * content and its feed throughout. */
static void test_abandoned_snapshot_not_kept(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    snap_t sn;
    s_snap_of(&sn, OD_POP, 2 * PER_BATCH);
    s_snap_chunk(&sn);
    CU_ASSERT_FATAL(s_staged(PER_BATCH + 1) == 1);
    /* Stalled as long as its owner would keep it: the idle re-subscribe
     * gives up on it. */
    f->last_batch_at -= LT_SNAP_IDLE_MS + 1000;
    lt_feed_tick(G.feed);
    uint64_t credit, from;
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    CU_ASSERT(s_staged(PER_BATCH + 1) == 0);
    /* An end whose count is not the chunks': refused, the feed stopped. */
    s_snap_chunk(&sn);
    CU_ASSERT_FATAL(s_staged(PER_BATCH + 1) == 1);
    sn.e.count = PER_BATCH + 1;
    s_snap_end(&sn);
    CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
    CU_ASSERT(s_staged(PER_BATCH + 1) == 0);
    CU_ASSERT_EQUAL(s_row().last_seq, 0);
    s_feed_close();
}

/* A snapshot being received survives a pause of its owner longer than a
 * live feed's idle re-subscribe (a view rebuilt on the owner's loop, a
 * busy store, a slow link): a Subscribe would make the owner start it
 * again from index 0 (PROTOCOL.md 6.7), and one of millions of records
 * might never end. Before, any 2 s gap threw the staged chunks away. A
 * live feed with nothing being received still subscribes again after 2 s. */
static void test_snapshot_survives_pause(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    snap_t sn;
    uint64_t credit, from;
    s_snap_of(&sn, OD_POP, 2 * PER_BATCH);
    s_drain(&credit, &from);
    s_snap_chunk(&sn);
    CU_ASSERT_FATAL(s_staged(PER_BATCH + 1) == 1);
    s_drain(&credit, &from);
    f->last_batch_at -= 3000;
    lt_feed_tick(G.feed);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 0); /* no Subscribe */
    CU_ASSERT(s_staged(PER_BATCH + 1) == 1);
    s_snap_end(&sn);
    CU_ASSERT_EQUAL(s_row().last_seq, 2 * PER_BATCH);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    /* Live, nothing being received: 2 s without a batch subscribes again. */
    s_drain(&credit, &from);
    f->last_batch_at -= 3000;
    lt_feed_tick(G.feed);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 2 * PER_BATCH + 1);
    s_feed_close();
}

/* An empty snapshot (its end alone) is taken only as the answer to a
 * Subscribe: one an owner sends unasked after it is dropped, as each
 * would cost a synced swap and an audit row, at wire speed (PROTOCOL.md
 * 6.7). Before, every one at or ahead of the cursor was installed. */
static void test_empty_snapshot_unasked_dropped(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    snap_t a, b, c;
    s_snap_empty(&a, 5);
    s_snap_empty(&b, 6);
    s_snap_empty(&c, 7);
    s_snap_end(&a); /* the answer to the setup's Subscribe */
    CU_ASSERT_EQUAL(s_row().last_seq, 5);
    uint64_t discarded = f->discarded;
    s_snap_end(&b);
    s_snap_end(&a);
    CU_ASSERT_EQUAL(s_row().last_seq, 5);
    CU_ASSERT_EQUAL(f->discarded, discarded + 2);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    /* Subscribed again: one is taken, the next not. */
    lt_feed_replica_subscribe(G.feed, f);
    s_snap_end(&b);
    CU_ASSERT_EQUAL(s_row().last_seq, 6);
    s_snap_end(&c);
    CU_ASSERT_EQUAL(s_row().last_seq, 6);
    s_feed_close();
}

/* A signed snapshot of the population at seq 3 * PER_BATCH on G.history:
 * three chunks of PER_BATCH records (seqs and keys 1 to 3 * PER_BATCH,
 * s_recs), chained, and its end. */
typedef struct {
    Lienthong__SnapshotChunk c[3];
    Lienthong__SnapshotEnd e;
    recs_t r[3];
    uint8_t csig[3][LT_SIG_BYTES], esig[LT_SIG_BYTES], root[LT_HASH_BYTES];
} snap3_t;

static void s_snap_three(snap3_t *x)
{
    uint8_t prev[LT_HASH_BYTES] = {0}, hash[LT_HASH_BYTES];
    lt_snap_merkle_t m;
    lt_snap_merkle_init(&m);
    lienthong__snapshot_end__init(&x->e);
    for (size_t k = 0; k < 3; k++) {
        s_recs(&x->r[k], 1 + k * PER_BATCH, PER_BATCH);
        for (size_t i = 0; i < PER_BATCH; i++)
            lt_snap_merkle_add(&m, x->r[k].recs[i].data, x->r[k].recs[i].len);
        CU_ASSERT_FATAL(lt_snap_chunk_sign(G.owner, OD_POP, G.history, k * PER_BATCH, x->r[k].recs,
                                           PER_BATCH, prev, x->csig[k], hash) == 0);
        memcpy(prev, hash, sizeof prev);
        Lienthong__SnapshotChunk *c = &x->c[k];
        lienthong__snapshot_chunk__init(c);
        c->stream = (char *)OD_POP;
        c->snapshot_seq = 3 * PER_BATCH;
        c->first_index = k * PER_BATCH;
        c->history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, G.history};
        c->n_records = PER_BATCH;
        c->records = x->r[k].recs;
        c->signature = (ProtobufCBinaryData){LT_SIG_BYTES, x->csig[k]};
    }
    lt_snap_merkle_root(&m, x->root);
    CU_ASSERT_FATAL(lt_snap_end_sign(G.owner, OD_POP, G.history, 3 * PER_BATCH, 3 * PER_BATCH, prev,
                                     x->root, x->esig, hash) == 0);
    x->e.stream = (char *)OD_POP;
    x->e.snapshot_seq = 3 * PER_BATCH;
    x->e.count = 3 * PER_BATCH;
    x->e.history_id = (ProtobufCBinaryData){LT_HISTORY_BYTES, G.history};
    x->e.signature = (ProtobufCBinaryData){LT_SIG_BYTES, x->esig};
    x->e.state_root = (ProtobufCBinaryData){LT_HASH_BYTES, x->root};
}

/* The state rows of the store, of any stream, whose record is not in the
 * log: a lookup of their key fails (read on a connection of its own). */
static int64_t s_state_orphans(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK);
    int64_t n = ut_sql_count(db, "SELECT count(*) FROM state s WHERE NOT EXISTS "
                                 "(SELECT 1 FROM log WHERE id = (s.stream << 40) | s.seq)");
    sqlite3_close(db);
    return n;
}

/* The store rebuilt (lt_feed_store_rebuild, after SQLite found a page
 * corrupt) while a snapshot is being received: the rebuild copies the
 * staging copy's state rows but not its records, which lie past its last
 * seq (0 until the swap). Before, the snapshot went on from its running
 * root in memory and its end swapped in a replica whose state rows named
 * records that were gone. The snapshot is abandoned, nothing of it left,
 * and the feed subscribes again; sent again from index 0 (PROTOCOL.md
 * 6.7), it is installed whole. */
static void test_rebuild_drops_snapshot_received(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    snap3_t sn;
    s_snap_three(&sn);
    uint64_t credit, from;
    char err[300] = "";
    int64_t lost = -1;
    lt_feed_on_snapshot_chunk(G.feed, OD_OWNER, G.link, &sn.c[0]);
    lt_feed_on_snapshot_chunk(G.feed, OD_OWNER, G.link, &sn.c[1]);
    CU_ASSERT_FATAL(s_staged(PER_BATCH + 1) == 1);
    s_drain(&credit, &from);
    if (lt_feed_store_rebuild(G.feed, &lost, err, sizeof err) != 0)
        fprintf(stderr, "\n  lt_feed_store_rebuild: %s\n", err);
    CU_ASSERT_FATAL(lost == 0);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    CU_ASSERT_EQUAL(s_state_orphans(), 0);
    /* The rest of the old snapshot: stale, nothing installed. */
    lt_feed_on_snapshot_chunk(G.feed, OD_OWNER, G.link, &sn.c[2]);
    lt_feed_on_snapshot_end(G.feed, OD_OWNER, &sn.e);
    CU_ASSERT_EQUAL(s_row().last_seq, 0);
    CU_ASSERT_EQUAL(s_state_orphans(), 0);
    /* Sent again from index 0: installed, each record with its state. */
    for (size_t k = 0; k < 3; k++)
        lt_feed_on_snapshot_chunk(G.feed, OD_OWNER, G.link, &sn.c[k]);
    lt_feed_on_snapshot_end(G.feed, OD_OWNER, &sn.e);
    CU_ASSERT_EQUAL(s_row().last_seq, 3 * PER_BATCH);
    for (uint64_t seq = 1; seq <= 3 * PER_BATCH; seq++)
        CU_ASSERT(s_logged(seq) == 1);
    CU_ASSERT_EQUAL(s_state_orphans(), 0);
    s_feed_close();
}

/* s_live_two with record 2 damaged behind the replica's back (not yet
 * met); m the owner's sound answer to a Range of the first batch, without
 * a request_id. */
static lt_feed_replica_t *s_damaged_two(batch_t x[3], uint8_t h[3][LT_HASH_BYTES],
                                        Lienthong__Range *m)
{
    lt_feed_replica_t *f = s_live_two(x, h);
    char path[300];
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    ut_sql_damage_record(path, s_row().id, 2);
    lienthong__range__init(m);
    m->stream = OD_POP;
    m->first_seq = 1;
    m->last_seq = PER_BATCH;
    m->batch = &x[0].b;
    return f;
}

/* A Range answer (PROTOCOL.md 6.10) is taken only for the range the
 * replica asked for and still waits for: an owner sending answers unasked
 * (here a sound batch the replica applied, while a record of it is
 * damaged behind the replica's back), again once the range was repaired,
 * or after an answer failing its checks (until the range is asked again),
 * costs no write, and each is counted as a refusal, as is an answer that
 * fails its checks. */
static void test_range_unasked_refused(void)
{
    batch_t x[3];
    uint8_t h[3][LT_HASH_BYTES];
    Lienthong__Range m;
    lt_feed_replica_t *f = s_damaged_two(x, h, &m);
    uint64_t refused = lt_reject_count(G.ctx.reject);
    lt_feed_on_range_batch(G.feed, OD_OWNER, &m);
    CU_ASSERT_EQUAL(s_logged(2), LT_STORE_DAMAGED); /* not written */
    CU_ASSERT_EQUAL(lt_reject_count(G.ctx.reject), refused + 1);
    /* Asked for: an answer that fails its checks is refused, counted. */
    lt_feed_damaged(G.feed, f->stream, 2);
    CU_ASSERT_FATAL(f->stream->repair_rid != 0);
    m.request_id = f->stream->repair_rid;
    batch_t bad = x[0];
    bad.sig[0] ^= 1;
    bad.b.signature.data = bad.sig;
    m.batch = &bad.b;
    lt_feed_on_range_batch(G.feed, OD_OWNER, &m);
    CU_ASSERT_EQUAL(s_logged(2), LT_STORE_DAMAGED);
    CU_ASSERT_EQUAL(lt_reject_count(G.ctx.reject), refused + 2);
    /* A refused answer ends the wait: any answer after it, even a sound
     * one, is dropped unverified until the range is asked again. */
    m.batch = &x[0].b;
    lt_feed_on_range_batch(G.feed, OD_OWNER, &m);
    CU_ASSERT_EQUAL(s_logged(2), LT_STORE_DAMAGED);
    CU_ASSERT_EQUAL(lt_reject_count(G.ctx.reject), refused + 3);
    uint64_t credit, from;
    s_drain(&credit, &from);
    f->stream->repair_at = 0; /* the retry's time */
    lt_feed_repair_tick(G.feed);
    CU_ASSERT_EQUAL(f->stream->repair_rid, m.request_id); /* kept across retries */
    /* The sound answer repairs it; sent again, it is no longer awaited. */
    lt_feed_on_range_batch(G.feed, OD_OWNER, &m);
    CU_ASSERT_EQUAL(s_logged(2), 1);
    CU_ASSERT_EQUAL(f->stream->damaged_first, 0);
    CU_ASSERT_EQUAL(lt_reject_count(G.ctx.reject), refused + 3);
    lt_feed_on_range_batch(G.feed, OD_OWNER, &m);
    CU_ASSERT_EQUAL(lt_reject_count(G.ctx.reject), refused + 4);
    s_feed_close();
}

/* A sound Range answer whose write fails (here another connection holds
 * the store's write lock) ends the wait as a refused one does (PROTOCOL.md
 * 6.10): sent again, it is dropped as no longer awaited, counted as a
 * refusal, without a second write that would wait out the busy timeout
 * again (or rebuild the store again). */
static void test_range_write_failed_not_awaited(void)
{
    batch_t x[3];
    uint8_t h[3][LT_HASH_BYTES];
    Lienthong__Range m;
    lt_feed_replica_t *f = s_damaged_two(x, h, &m);
    lt_feed_damaged(G.feed, f->stream, 2);
    CU_ASSERT_FATAL(f->stream->repair_rid != 0);
    m.request_id = f->stream->repair_rid;
    char path[300];
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    ut_sql_exec(db, "BEGIN IMMEDIATE");
    uint64_t refused = lt_reject_count(G.ctx.reject);
    lt_feed_on_range_batch(G.feed, OD_OWNER, &m); /* waits out the busy timeout */
    CU_ASSERT_EQUAL(lt_reject_count(G.ctx.reject), refused);
    /* No second write: it would wait out the store's 5 s busy timeout
     * (gateway/lt_store.c) again, so anything well under that, however
     * slow the machine, tells the two apart. */
    int64_t t0 = lt_clock_mono_ms();
    lt_feed_on_range_batch(G.feed, OD_OWNER, &m);
    CU_ASSERT(lt_clock_mono_ms() - t0 < 4000);
    CU_ASSERT_EQUAL(lt_reject_count(G.ctx.reject), refused + 1);
    ut_sql_exec(db, "ROLLBACK");
    sqlite3_close(db);
    CU_ASSERT_EQUAL(s_logged(2), LT_STORE_DAMAGED);
    s_feed_close();
}

/* A snapshot at S holds at most S records (PROTOCOL.md 6.7): one at seq
 * PER_BATCH - 1 whose chunk brings PER_BATCH records (distinct keys, each
 * at a seq within S) is refused before anything is staged, and the feed
 * stops. */
static void test_snapshot_over_seq_refused(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    snap_t sn;
    g_seq_max = PER_BATCH - 1;
    s_snap_from(&sn, OD_POP, PER_BATCH - 1, 1);
    g_seq_max = 0;
    char out[4096];
    int saved = s_log_begin("overseq", LT_LOG_WARN);
    s_snap_chunk(&sn);
    s_log_end(saved, "overseq", out, sizeof out);
    CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
    /* Refused for what it is, not for the store's duplicate seq. */
    CU_ASSERT(ut_lines(out, "sends more than 2 records") == 1);
    for (uint64_t seq = 1; seq < PER_BATCH; seq++)
        CU_ASSERT(s_staged(seq) == 0);
    CU_ASSERT_EQUAL(s_row().last_seq, 0);
    s_feed_close();
}

/* A snapshot at S beyond the highest seq the store holds (a hostile
 * owner's: PROTOCOL.md 6.7 bounds nothing else) is refused before its
 * signature is checked, naming S, and the feed stops, nothing staged or
 * installed: a chunk, and an empty snapshot (its end alone). Before, the
 * empty one was installed at S (past 2^63 read back negative) and every
 * later batch failed at the append, the replica stuck. */
static void test_snapshot_seq_beyond_store(void)
{
    static const uint64_t seqs[] = {LT_STORE_SEQ_MAX + 1, (1ULL << 63) + 5};
    char out[4096], want[128];
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT_FATAL(s_setup() == 0);
        lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
        snap_t sn, empty;
        s_snap_from(&sn, OD_POP, seqs[i], 1);
        s_snap_empty(&empty, seqs[i]);
        snprintf(want, sizeof want, "snapshot at seq %llu is beyond the highest seq",
                 (unsigned long long)seqs[i]);
        int saved = s_log_begin("beyond", LT_LOG_WARN);
        s_snap_end(&empty);
        s_log_end(saved, "beyond", out, sizeof out);
        CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
        CU_ASSERT(ut_lines(out, want) == 1);
        CU_ASSERT_EQUAL(s_row().last_seq, 0);
        CU_ASSERT_EQUAL(f->cursor.last_seq, 0);
        f->next_at = 0;
        lt_feed_tick(G.feed);
        CU_ASSERT_EQUAL_FATAL(f->state, LT_FEED_LIVE);
        saved = s_log_begin("beyond", LT_LOG_WARN);
        s_snap_chunk(&sn);
        /* A second stop with nothing applied since the first is counted,
         * its cause in the count's line. */
        lt_tally_flush(G.feed->stop_log);
        s_log_end(saved, "beyond", out, sizeof out);
        CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
        CU_ASSERT(ut_lines(out, want) == 1);
        CU_ASSERT(s_staged(1) == 0);
        s_feed_close();
    }
}

/* The counter sample of series st. */
static uint64_t s_counted(lt_stats_series_t *st)
{
    lt_stats_sample_t v;
    lt_stats_read(st, &v);
    return v.counter;
}

/* An owner answering every Subscribe with a batch that overlaps the
 * replica's cursor (PROTOCOL.md 6.6): the first is answered by subscribing
 * again at once, as after a race; each after it in a row stops the feed,
 * which subscribes again only after a wait, longer each time, and one line
 * says so. A batch applied starts a new row only a minute or more after
 * the last of the row: an owner alternating a batch with an overlap
 * cannot make each overlap the first of a row. */
static void test_overlaps_back_off(void)
{
    batch_t x[3], o;
    uint8_t h[3][LT_HASH_BYTES], ho[LT_HASH_BYTES];
    lt_feed_replica_t *f = s_live_two(x, h);
    s_batch(&o, 2 * PER_BATCH - 1, h[0], ho, PER_BATCH); /* 5..7: overlaps 6 */
    uint64_t credit, from;
    CU_ASSERT(s_check(&o) == NULL);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 2 * PER_BATCH + 1); /* the first: at once */
    int64_t waits[2];
    char out[8192];
    int saved = s_log_begin("overlaps", LT_LOG_INFO);
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT(s_check(&o) == NULL);
        s_drain(&credit, &from);
        CU_ASSERT_EQUAL(from, 0); /* not again at once */
        CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
        waits[i] = f->next_at - lt_clock_mono_ms();
        CU_ASSERT(s_check(&o) == NULL); /* while it waits: dropped, not counted */
        /* The wait is over. */
        f->next_at = 0;
        lt_feed_tick(G.feed);
        s_drain(&credit, &from);
        CU_ASSERT_EQUAL(from, 2 * PER_BATCH + 1);
    }
    s_log_end(saved, "overlaps", out, sizeof out);
    CU_ASSERT(waits[0] >= 500 && waits[0] <= 1000 && waits[1] > waits[0]);
    CU_ASSERT_EQUAL(ut_lines(out, "times in a row"), 2);
    CU_ASSERT_EQUAL(ut_lines(out, "overlaps the replica"), 0);
    CU_ASSERT_EQUAL(s_counted(f->st_overlaps), 3);
    /* An owner alternating a batch applied with an overlap: the batch,
     * right after the last overlap, does not start a new row, and the next
     * overlap waits longer still. */
    lt_feed_apply_t *j = s_check(&x[2]);
    CU_ASSERT_FATAL(j != NULL);
    CU_ASSERT_EQUAL(s_commit(&j, 1), 1);
    batch_t o2, x3, o3;
    uint8_t ho2[LT_HASH_BYTES], h3[LT_HASH_BYTES], ho3[LT_HASH_BYTES];
    s_batch(&o2, 3 * PER_BATCH - 1, h[1], ho2, PER_BATCH); /* 8..10: overlaps 9 */
    s_drain(&credit, &from);
    CU_ASSERT(s_check(&o2) == NULL);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 0);
    CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
    CU_ASSERT(f->next_at - lt_clock_mono_ms() > waits[1]);
    /* A batch applied a minute after the last overlap: the next overlap is
     * the first of a new row, answered at once. */
    f->next_at = 0;
    lt_feed_tick(G.feed);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 3 * PER_BATCH + 1);
    f->overlaps.at -= 60 * 1000 + f->overlaps.wait;
    s_batch(&x3, 3 * PER_BATCH + 1, h[2], h3, PER_BATCH); /* 10..12 */
    CU_ASSERT_FATAL((j = s_check(&x3)) != NULL);
    CU_ASSERT_EQUAL(s_commit(&j, 1), 1);
    s_batch(&o3, 4 * PER_BATCH - 1, h[2], ho3, PER_BATCH); /* 11..13: overlaps 12 */
    s_drain(&credit, &from);
    CU_ASSERT(s_check(&o3) == NULL);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 4 * PER_BATCH + 1);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    s_feed_close();
}

/* A batch overlapping the replica's cursor is discarded, counted
 * (PROTOCOL.md 6.6, the consumer's table), whether it is the first of a
 * row, answered by a Subscribe, or one after it that stops the feed. */
static void test_overlap_discard_counted(void)
{
    batch_t x[3], o;
    uint8_t h[3][LT_HASH_BYTES], ho[LT_HASH_BYTES];
    lt_feed_replica_t *f = s_live_two(x, h);
    s_batch(&o, 2 * PER_BATCH - 1, h[0], ho, PER_BATCH); /* 5..7: overlaps 6 */
    uint64_t credit, from, before = f->discarded;
    CU_ASSERT(s_check(&o) == NULL);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE); /* subscribed again */
    CU_ASSERT_EQUAL(f->discarded, before + 1);
    s_drain(&credit, &from);
    CU_ASSERT(s_check(&o) == NULL);
    CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF); /* held */
    CU_ASSERT_EQUAL(f->discarded, before + 2);
    s_feed_close();
}

/* An owner alternating a valid batch with one that fails its checks
 * (here its signature, PROTOCOL.md 6.5): the batch applied after each
 * re-subscribe does not end the row of failures, so each re-subscribe
 * waits twice as long as the one before, up to a minute, and stays there
 * once the valid batch comes a minute or more after the failure before it
 * (it comes when the wait ends). */
static void test_failures_back_off(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    enum { ROUNDS = 10 };
    batch_t x[ROUNDS], bad;
    uint8_t h[ROUNDS][LT_HASH_BYTES], hb[LT_HASH_BYTES], wrong[LT_HASH_BYTES];
    s_chain(x, ROUNDS, h, 99);
    memset(wrong, 0x5a, sizeof wrong);
    int64_t waits[ROUNDS];
    uint64_t credit, from;
    for (size_t i = 0; i < ROUNDS; i++) {
        lt_feed_apply_t *j = s_check(&x[i]);
        CU_ASSERT_FATAL(j != NULL);
        CU_ASSERT_EQUAL(s_commit(&j, 1), 1);
        s_batch(&bad, (i + 1) * PER_BATCH + 1, wrong, hb, PER_BATCH); /* not chained on x[i] */
        CU_ASSERT(s_check(&bad) == NULL);
        CU_ASSERT_EQUAL_FATAL(f->state, LT_FEED_BACKOFF);
        waits[i] = f->next_at - lt_clock_mono_ms();
        /* The wait is over: the failure is as old as it was long. */
        f->fails.at -= f->fails.wait;
        f->next_at = 0;
        lt_feed_tick(G.feed);
        s_drain(&credit, &from);
        CU_ASSERT_EQUAL(from, (i + 1) * PER_BATCH + 1);
    }
    for (size_t i = 0; i < ROUNDS; i++) {
        int64_t want = i < 7 ? (int64_t)500 << i : 60 * 1000; /* 500 ms, doubling to 60 s */
        CU_ASSERT(waits[i] > want - 250 && waits[i] <= want);
    }
    s_feed_close();
}

/* An honest owner's one failure: the feed subscribes again after the
 * shortest wait, and once batches were applied a minute after that wait,
 * the next failure is the first of a row again, answered as soon. */
static void test_failure_then_progress_fast(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    batch_t x[3], bad;
    uint8_t h[3][LT_HASH_BYTES], hb[LT_HASH_BYTES], wrong[LT_HASH_BYTES];
    s_chain(x, 3, h, 99);
    memset(wrong, 0x5a, sizeof wrong);
    uint64_t credit, from;
    lt_feed_apply_t *j = s_check(&x[0]);
    CU_ASSERT_FATAL(j != NULL);
    CU_ASSERT_EQUAL(s_commit(&j, 1), 1);
    s_batch(&bad, PER_BATCH + 1, wrong, hb, PER_BATCH);
    CU_ASSERT(s_check(&bad) == NULL);
    CU_ASSERT_EQUAL_FATAL(f->state, LT_FEED_BACKOFF);
    int64_t wait = f->next_at - lt_clock_mono_ms();
    CU_ASSERT(wait > 250 && wait <= 500);
    f->fails.at -= f->fails.wait;
    f->next_at = 0;
    lt_feed_tick(G.feed);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, PER_BATCH + 1);
    CU_ASSERT_FATAL((j = s_check(&x[1])) != NULL);
    CU_ASSERT_EQUAL(s_commit(&j, 1), 1);
    /* Steady progress, the last batch a minute after the wait. */
    f->fails.at -= 60 * 1000;
    CU_ASSERT_FATAL((j = s_check(&x[2])) != NULL);
    CU_ASSERT_EQUAL(s_commit(&j, 1), 1);
    s_batch(&bad, 3 * PER_BATCH + 1, wrong, hb, PER_BATCH);
    CU_ASSERT(s_check(&bad) == NULL);
    CU_ASSERT_EQUAL_FATAL(f->state, LT_FEED_BACKOFF);
    wait = f->next_at - lt_clock_mono_ms();
    CU_ASSERT(wait > 250 && wait <= 500);
    s_feed_close();
}

/* Checks the owner's valid next batch from seq 1 with the replica live:
 * refused (the replica stops) with a stop that says why, nothing of it
 * applied. */
static void s_batch_refused(const char *why)
{
    static char out[8192];
    batch_t x[1];
    uint8_t h[1][LT_HASH_BYTES];
    s_chain(x, 1, h, 99);
    int saved = s_log_begin("refused", LT_LOG_WARN);
    lt_feed_apply_t *j = s_check(&x[0]);
    s_log_end(saved, "refused", out, sizeof out);
    CU_ASSERT_PTR_NULL(j);
    if (j) /* taken: committed, for the assertions below to say so */
        (void)s_commit(&j, 1);
    CU_ASSERT_EQUAL(lt_feed_replica_find(G.feed, OD_POP)->state, LT_FEED_BACKOFF);
    CU_ASSERT_EQUAL(s_row().last_seq, 0);
    CU_ASSERT(s_logged(1) == 0);
    CU_ASSERT_EQUAL(ut_lines(out, why), 1);
}

/* A batch of more records than the credit the owner holds for us (its
 * signature valid) is refused before its signature is checked: credit is
 * this gateway's bound on what an owner may make it store (PROTOCOL.md
 * 6.5 step 1). */
static void test_batch_over_credit(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_find(G.feed, OD_POP)->outstanding = PER_BATCH - 1;
    s_batch_refused("owner sent more records than our credit");
    s_feed_close();
}

/* With its link still open, an owner the directory now lists as suspended
 * signs nothing this replica takes, its key still listed (PROTOCOL.md 6.5
 * step 3): its valid batch is refused, nothing applied. */
static void test_batch_of_suspended_owner(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    char err[1024] = "";
    lt_dir_t *active = G.ctx.dir,
             *suspended = od_directory_status(G.tmp, G.owner, G.consumer, G.auth, "", "", "",
                                              "suspended", err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(suspended);
    G.ctx.dir = suspended;
    s_batch_refused("batch not verified: the owner " OD_OWNER " is suspended");
    G.ctx.dir = active;
    s_feed_close();
    lt_dir_destroy(&suspended);
}

/* An owner starting its snapshot again at every chunk (index 0 each time,
 * PROTOCOL.md 6.7): the first restart is taken at once, as after the
 * owner's idle timeout; each after it in a row stops the feed, its staging
 * copy emptied, and the feed subscribes again only after a wait, longer
 * each time. A snapshot applied starts a new row only a minute or more
 * after the last restart of the row. */
static void test_snapshot_restarts_back_off(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    snap_t sn;
    s_snap_of(&sn, OD_POP, 2 * PER_BATCH);
    uint64_t credit, from;
    s_snap_chunk(&sn);
    s_snap_chunk(&sn); /* the first restart: taken */
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    CU_ASSERT(s_staged(PER_BATCH + 1) == 1);
    char out[8192];
    int saved = s_log_begin("restarts", LT_LOG_INFO);
    s_snap_chunk(&sn);
    CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
    CU_ASSERT(s_staged(PER_BATCH + 1) == 0);
    int64_t wait = f->next_at - lt_clock_mono_ms();
    CU_ASSERT(wait >= 500 && wait <= 1000);
    s_snap_chunk(&sn); /* while it waits: dropped */
    f->next_at = 0;
    lt_feed_tick(G.feed);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 1);
    s_snap_chunk(&sn); /* a new snapshot: not a restart */
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    s_snap_chunk(&sn);
    CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
    CU_ASSERT(f->next_at - lt_clock_mono_ms() > wait);
    s_log_end(saved, "restarts", out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "times in a row"), 2);
    CU_ASSERT_EQUAL(s_counted(f->st_restarts), 3);
    /* Applied right after the last restart (an owner alternating a
     * snapshot with a restart): the row goes on, the next restart waits. */
    f->next_at = 0;
    lt_feed_tick(G.feed);
    s_snap_chunk(&sn);
    s_snap_end(&sn);
    CU_ASSERT_EQUAL(s_row().last_seq, 2 * PER_BATCH);
    s_snap_chunk(&sn);
    s_snap_chunk(&sn);
    CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
    CU_ASSERT_EQUAL(s_counted(f->st_restarts), 4);
    /* Applied a minute after the last restart: the next is taken at once. */
    f->next_at = 0;
    lt_feed_tick(G.feed);
    s_drain(&credit, &from);
    CU_ASSERT_EQUAL(from, 2 * PER_BATCH + 1);
    f->restarts.at -= 60 * 1000 + f->restarts.wait;
    s_snap_chunk(&sn);
    s_snap_end(&sn);
    s_snap_chunk(&sn);
    s_snap_chunk(&sn);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    CU_ASSERT(s_staged(PER_BATCH + 1) == 1);
    s_feed_close();
}

/* A snapshot start that fails its checks (here its signature) while one
 * is being received is no restart (PROTOCOL.md 6.7): it abandons the
 * snapshot and stops the feed as any failed check does, and is neither
 * counted nor held as a restart, however often it comes. A sound restart
 * after those is the first of a row, taken at once. */
static void test_bad_start_not_restart(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    lt_feed_replica_t *f = lt_feed_replica_find(G.feed, OD_POP);
    snap_t sn, bad;
    s_snap_of(&sn, OD_POP, 2 * PER_BATCH);
    bad = sn;
    bad.csig[0] ^= 1;
    bad.c.signature.data = bad.csig;
    uint64_t credit, from;
    char out[8192];
    int saved = s_log_begin("badstart", LT_LOG_INFO);
    for (size_t i = 0; i < 3; i++) {
        s_snap_chunk(&sn);
        CU_ASSERT(s_staged(PER_BATCH + 1) == 1);
        s_snap_chunk(&bad);
        CU_ASSERT_EQUAL(f->state, LT_FEED_BACKOFF);
        CU_ASSERT(s_staged(PER_BATCH + 1) == 0);
        f->next_at = 0;
        lt_feed_tick(G.feed);
        s_drain(&credit, &from);
        CU_ASSERT_EQUAL(from, 1);
    }
    s_log_end(saved, "badstart", out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "times in a row"), 0);
    CU_ASSERT_EQUAL(s_counted(f->st_restarts), 0);
    s_snap_chunk(&sn);
    s_snap_chunk(&sn);
    CU_ASSERT_EQUAL(f->state, LT_FEED_LIVE);
    CU_ASSERT(s_staged(PER_BATCH + 1) == 1);
    CU_ASSERT_EQUAL(s_counted(f->st_restarts), 1);
    s_feed_close();
}

/* The newest change status reports for the population's replica. */
static int64_t s_newest(void)
{
    int64_t newest = -1;
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    lt_feed_status(G.feed, &r);
    for (size_t i = 0; i < r.n_streams; i++)
        if (strcmp(r.streams[i]->stream, OD_POP) == 0)
            newest = r.streams[i]->newest_change_ms;
    lt_feed_status_free(&r);
    return newest;
}

/* A snapshot, then a resynchronisation by batches from seq 1, of a stream
 * whose records are older the higher their seq (a view its owner rebuilt
 * in key order): the newest change status reports is the newest of the
 * records each stored, not the last record's (PROTOCOL.md 8.9), and the
 * copy's replaces the snapshot's, though older. */
static void test_newest_change_not_last(void)
{
    CU_ASSERT_FATAL(s_setup() == 0);
    const int64_t t1 = INT64_C(1800000000000), t2 = t1 - 100000;
    g_at = t1;
    lt_feed_replica_t *f = s_snapshot_then_resync(2 * PER_BATCH, 2 * PER_BATCH);
    /* The snapshot's records, seqs PER_BATCH + 1 on; the copy is apart. */
    CU_ASSERT_EQUAL(s_newest(), t1 - (PER_BATCH + 1) * 1000);
    g_at = t2;
    batch_t x[2];
    uint8_t h[2][LT_HASH_BYTES];
    s_chain(x, 2, h, 99);
    s_apply(x, 2);
    CU_ASSERT(!f->resyncing);
    CU_ASSERT_EQUAL(s_row().last_seq, 2 * PER_BATCH);
    CU_ASSERT_EQUAL(s_newest(), t2 - 1000);
    g_at = 0;
    G.cfg.subs[0].resync_auto = 0;
    s_feed_close();
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"batches checked ahead commit in one transaction", test_ahead_one_commit},
        {"a batch of more records than our credit is refused, nothing applied",
         test_batch_over_credit},
        {"a batch of an owner suspended meanwhile, its link open, is refused, nothing applied",
         test_batch_of_suspended_owner},
        {"a failure in a group keeps nothing of it", test_group_failure_keeps_nothing},
        {"a batch after one that failed does not run", test_after_failure_not_run},
        {"a failed check waits for the batch committing before it", test_deferred_failure},
        {"an overlap waits for the batch committing before it", test_deferred_overlap},
        {"subscribed again while a batch commits: the new batches follow on the durable cursor",
         test_resubscribe_while_committing},
        {"a batch's own fault stops its replica; the others in the group ask again",
         test_own_failure_others_ask_again},
        {"a store failure stops every replica of the group", test_store_failure_stops_all},
        {"a full store: lienthong_store_writable 0, 1 once a batch commits again",
         test_full_store_not_writable},
        {"a full store for many back-offs: its stops logged once, then counted by the minute",
         test_full_store_stops_counted},
        {"a copy started again while its first batch commits: the replica keeps its content",
         test_resync_restarted_while_committing},
        {"a complete copy whose swap failed is swapped in by the tick once the store lets it",
         test_resync_swap_retried},
        {"a snapshot behind the cursor on the replica's history is discarded",
         test_snapshot_behind_cursor},
        {"a replica removed while receiving a snapshot frees it; the one moved keeps its own",
         test_removed_while_receiving},
        {"a resync by batches after a snapshot leaves the stream as a restart loads it",
         test_resync_after_snapshot},
        {"a snapshot on another history than the cursor's is a fork, not installed",
         test_snapshot_other_history_forks},
        {"an empty snapshot on another history is a fork; the resync's snapshot ends it",
         test_empty_snapshot_other_history_resyncs},
        {"an owner announcing new histories again and again: each copy waits longer",
         test_repeated_forks_back_off},
        {"a snapshot abandoned (stalled, or its end refused) leaves nothing staged on disk",
         test_abandoned_snapshot_not_kept},
        {"a snapshot being received survives a 3 s pause of its owner; a live feed does not "
         "wait",
         test_snapshot_survives_pause},
        {"a snapshot at a seq beyond the store's highest is refused, naming it",
         test_snapshot_seq_beyond_store},
        {"an empty snapshot nobody asked for is dropped", test_empty_snapshot_unasked_dropped},
        {"a status whose read of the replica's row fails keeps the stream's history",
         test_status_read_failure_keeps_history},
        {"a store rebuilt while a snapshot is received abandons it; sent again, it is whole",
         test_rebuild_drops_snapshot_received},
        {"a repair by resynchronisation of a live replica stays live",
         test_repair_resync_stays_live},
        {"a Range refused as too large for the owner's max_message: resynchronised by snapshot",
         test_repair_too_large_resyncs},
        {"a damaged record of a live replica's copy: copied again on a new subscription at once",
         test_copy_damaged_stays_live},
        {"a snapshot or a copy in key order reports its newest change, not its last record's",
         test_newest_change_not_last},
        {"a Range answer not asked for, or no longer awaited, is refused and not written",
         test_range_unasked_refused},
        {"a Range answer whose write failed is no longer awaited: sent again, refused",
         test_range_write_failed_not_awaited},
        {"a snapshot at seq S sending more than S records is refused, nothing staged",
         test_snapshot_over_seq_refused},
        {"an owner answering every subscribe with an overlapping batch: each waits longer",
         test_overlaps_back_off},
        {"an overlapping batch is discarded and counted, also when it stops the feed",
         test_overlap_discard_counted},
        {"an owner starting its snapshot again at every chunk: each restart waits longer",
         test_snapshot_restarts_back_off},
        {"a snapshot start failing its checks is no restart: not counted, not held",
         test_bad_start_not_restart},
        {"an owner alternating a valid batch with a bad one: each re-subscribe waits longer",
         test_failures_back_off},
        {"one failure, then a minute of batches applied: the next failure is retried as soon",
         test_failure_then_progress_fast},
        {NULL, NULL},
    };
    return ut_main("lt_feed (replica)", suite_init, suite_clean, tests);
}

/* lt_feed_stage: the consumer's side of a snapshot (PROTOCOL.md 6.7).
 *
 * Chunks are verified before anything in them is unpacked, then written
 * into a staging copy of the stream (a separate stream of the store, never
 * visible to lookups, sinks or status); the end, once its signature and
 * the Merkle root of the whole state check out, swaps the staging copy in
 * for the replica with cursor S and prev hash H32(end header) in ONE
 * transaction. A kill or a lost connection during the transfer leaves the
 * replica as it was; the staging copy is emptied when the next snapshot
 * or the gateway starts, and as soon as a snapshot is abandoned (a failed
 * check, a re-subscribe after the owner went silent). A snapshot behind the cursor on the replica's
 * history is stale (from a subscription replaced since) and discarded; one on another history is a
 * fork (6.9), unless the replica resynchronises. A snapshot that comes while the replica
 * resynchronises (the copy's Subscribe from seq 1 is behind the owner's retained log, 6.8) is the
 * owner's whole state on its new history, whatever its seq: its swap replaces the replica, empties
 * the copy and ends the resynchronisation in the same transaction (6.9). */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_log.h"
#include "lt_valid.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Prefix of a staging copy's name: a control character, which no dataset
 * or view id has. */
#define STAGE_PREFIX "\x02snapshot "

struct lt_feed_stage {
    char name[LT_STREAM_ID_MAX + sizeof STAGE_PREFIX];
    int64_t id;   /* the staging copy's store id */
    int active;   /* a snapshot is being received */
    uint64_t seq; /* S */
    uint64_t index;
    uint8_t prev[LT_HASH_BYTES];
    lt_snap_merkle_t acc;
    char last_key[LT_RECORD_KEY_MAX + 1];
    /* The history every part is bound to (PROTOCOL.md 6.7, 6.9), taken from
     * the first part; the replica is on it after the swap. */
    uint8_t history[LT_HISTORY_BYTES];
    int has_history;
};

/* Rolls back a failed transaction; err says why. */
static int s_txn_fail(lt_store_t *store, char *err, size_t errlen)
{
    snprintf(err, errlen, "store: %s", lt_store_error(store));
    lt_store_rollback(store);
    return -1;
}

/* Empties the staging copy whose store id is id, in one transaction. 0, or
 * -1 rolled back, err saying why. */
static int s_stage_clear(lt_store_t *store, int64_t id, char *err, size_t errlen)
{
    if (lt_store_begin(store) != 0 || lt_store_stream_clear(store, id) != 0 ||
        lt_store_commit(store) != 0)
        return s_txn_fail(store, err, errlen);
    return 0;
}

void lt_feed_stage_drop(lt_feed_t *self, lt_feed_replica_t *f, const char *why)
{
    struct lt_feed_stage *g = f->stage;
    if (!g || !g->active)
        return;
    g->active = 0;
    lt_store_t *store = self->ctx->store;
    lt_info("feed",
            "snapshot of %s at seq %llu from %s abandoned after %llu records (%s): "
            "its staged records are discarded",
            f->stream->name, (unsigned long long)g->seq, f->owner, (unsigned long long)g->index,
            why);
    char err[256];
    /* On a failure they go at the next snapshot or start, as before. */
    if (s_stage_clear(store, g->id, err, sizeof err) != 0)
        lt_warn("feed", "replica of %s: cannot discard an abandoned snapshot's staged records: %s",
                f->stream->name, err);
}

void lt_feed_stage_drop_all(lt_feed_t *self, const char *why)
{
    for (size_t i = 0; i < self->n_replicas; i++) {
        lt_feed_replica_t *f = &self->replicas[i];
        if (!f->stage || !f->stage->active)
            continue;
        lt_feed_stage_drop(self, f, why);
        /* The owner sends it again from index 0 on a new subscription
         * (6.7); a feed not live subscribes when its wait is over. */
        if (f->state == LT_FEED_LIVE)
            lt_feed_replica_subscribe(self, f);
    }
}

int lt_feed_stage_discard(lt_feed_t *self, const lt_feed_replica_t *f)
{
    lt_store_t *store = self->ctx->store;
    char name[LT_STREAM_ID_MAX + sizeof STAGE_PREFIX];
    lt_stream_t st;
    snprintf(name, sizeof name, STAGE_PREFIX "%s", f->stream->name);
    int found = lt_store_stream_find(store, name, &st);
    char err[256];
    return found <= 0 ? found : s_stage_clear(store, st.id, err, sizeof err);
}

void lt_feed_stage_free(lt_feed_replica_t *f)
{
    free(f->stage);
    f->stage = NULL;
}

int lt_feed_stage_receiving(const lt_feed_replica_t *f)
{
    return f->stage && f->stage->active;
}

/* (Re)starts receiving a snapshot at seq into an empty staging copy. */
static int s_begin(lt_feed_t *self, lt_feed_replica_t *f, uint64_t seq, char *err, size_t errlen)
{
    lt_store_t *store = self->ctx->store;
    if (!f->stage && !(f->stage = calloc(1, sizeof *f->stage))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct lt_feed_stage *g = f->stage;
    snprintf(g->name, sizeof g->name, STAGE_PREFIX "%s", f->stream->name);
    lt_stream_t st;
    if (lt_store_begin(store) != 0 || lt_store_stream(store, g->name, &st) != 0 ||
        lt_store_stream_clear(store, st.id) != 0 || lt_store_commit(store) != 0)
        return s_txn_fail(store, err, errlen);
    g->id = st.id;
    g->active = 1;
    g->seq = seq;
    g->index = 0;
    memset(g->prev, 0, sizeof g->prev);
    lt_snap_merkle_init(&g->acc);
    g->last_key[0] = 0;
    g->has_history = -1; /* not known before the first part */
    lt_info("feed", "receiving a snapshot of %s at seq %llu from %s (replica at seq %llu)",
            f->stream->name, (unsigned long long)seq, f->owner,
            (unsigned long long)f->cursor.last_seq);
    return 0;
}

/* Checks one verified record of the snapshot (6.7) and stages it; leaf is
 * its Merkle leaf, made when the chunk was verified, which gives its
 * checksum and its place in the snapshot's running root. */
static int s_stage_record(lt_store_t *store, struct lt_feed_stage *g,
                          const ProtobufCBinaryData *rec, const uint8_t leaf[LT_HASH_BYTES],
                          char *err, size_t errlen)
{
    char where[64];
    /* The key is a string: UTF-8 as every string received (PROTOCOL.md 4.5). */
    Lienthong__Record *r =
        lt_valid_utf8(&lienthong__record__descriptor, rec->data, rec->len, where, sizeof where)
            ? NULL
            : lienthong__record__unpack(NULL, rec->len, rec->data);
    const char *bad = !r                                 ? "malformed (or its key is not UTF-8)"
                      : !lt_valid_key(r->key)            ? "without a valid key"
                      : strcmp(r->key, g->last_key) <= 0 ? "out of key order"
                      : r->deleted                       ? "a tombstone"
                      : r->seq == 0 || r->seq > g->seq   ? "beyond the snapshot's seq"
                                                         : NULL;
    int rc = -1;
    if (bad)
        snprintf(err, errlen, "snapshot record %llu is %s", (unsigned long long)g->index, bad);
    else if (lt_store_append_leaf(store, g->id, r->seq, rec->data, rec->len, leaf) != 0 ||
             lt_store_state_put(store, g->id, r->key, r->seq, 0,
                                lt_presence_mask(r->payload.data, r->payload.len), 0) != 0 ||
             /* In key order the last record is not the newest change
              * (PROTOCOL.md 8.9): the store keeps the newest in memory and
              * writes it once at the chunk's commit. */
             lt_store_newest_raise(store, g->id, r->changed_at_ms) != 0)
        snprintf(err, errlen, "store: %s", lt_store_error(store));
    else {
        snprintf(g->last_key, sizeof g->last_key, "%s", r->key);
        lt_snap_merkle_add_leaf(&g->acc, leaf);
        g->index++;
        rc = 0;
    }
    if (r)
        lienthong__record__free_unpacked(r, NULL);
    return rc;
}

/* Stages the records of chunk c, whose leaves s_chunk_verify left in the
 * feed's self->leaves (both on the poll loop, one after the other). */
static int s_stage_chunk(lt_feed_t *self, struct lt_feed_stage *g,
                         const Lienthong__SnapshotChunk *c, char *err, size_t errlen)
{
    lt_store_t *store = self->ctx->store;
    /* A staged chunk is discarded after a crash anyway: its commit need not
     * wait for the disk; the swap's synced commit covers what it uses. */
    err[0] = 0;
    int rc = lt_store_relaxed(store, 1) == 0 && lt_store_begin(store) == 0 ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < c->n_records; i++)
        rc =
            s_stage_record(store, g, &c->records[i], self->leaves + i * LT_HASH_BYTES, err, errlen);
    if (rc == 0)
        rc = lt_store_commit(store);
    if (rc != 0 && !err[0])
        snprintf(err, errlen, "store: %s", lt_store_error(store));
    lt_store_rollback(store); /* only when still open after a failure */
    /* On a failure the store sets synced commits again before its next
     * write, or refuses it (lt_store_relaxed): reported here. */
    if (lt_store_relaxed(store, 0) != 0 && rc == 0) {
        snprintf(err, errlen, "store: %s", lt_store_error(store));
        rc = -1;
    }
    return rc;
}

/* Field checks (lt_valid) and the sender: a part of a snapshot of a stream
 * not taken from owner is logged and audited (PROTOCOL.md 4.4), not
 * answered, as for a stray batch. 0 when it may be used. */
static int s_admit(lt_feed_t *self, const char *owner, const char *stream, const char *what,
                   Lienthong__ErrorCode code, const char *why)
{
    char err[400];
    const lt_feed_replica_t *f = code ? NULL : lt_feed_replica_find(self, stream);
    if (!code && f && strcmp(f->owner, owner) == 0)
        return 0;
    if (!code) {
        code = LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
        snprintf(err, sizeof err, "%.300s: %s of a stream not subscribed from this member", stream,
                 what);
        why = err;
    }
    (void)lt_reject(
        self->ctx->reject,
        &(lt_reject_in_t){.who = owner, .what = what, .target = stream, .code = code, .why = why});
    return -1;
}

/* The replica this snapshot message is for, if it is live from owner. */
static lt_feed_replica_t *s_live(lt_feed_t *self, const char *owner, const char *stream)
{
    lt_feed_replica_t *f = lt_feed_replica_find(self, stream);
    return f && f->state == LT_FEED_LIVE && strcmp(f->owner, owner) == 0 ? f : NULL;
}

static const Lienthong__Member *s_owner(lt_feed_t *self, const lt_feed_replica_t *f)
{
    return lt_dir_member(self->ctx->dir, f->owner);
}

/* lt_snap_chunk_verify under either of the owner's signing keys during a
 * rotation (PROTOCOL.md 5.5); err keeps the last key's reason. The records'
 * leaves go to leaves (LT_BATCH_MAX_RECORDS of them fit). */
static int s_chunk_verify(const Lienthong__Member *m, const lt_feed_replica_t *f,
                          const Lienthong__SnapshotChunk *c, uint64_t index,
                          const uint8_t prev[LT_HASH_BYTES], uint8_t hash[LT_HASH_BYTES],
                          uint8_t *leaves, char *err, size_t errlen)
{
    const uint8_t *keys[2];
    size_t n = lt_dir_signing_keys(m, keys);
    for (size_t i = 0; i < n; i++)
        if (lt_snap_chunk_verify_leaves(c, f->stream->name, index, prev, keys[i], hash, leaves, err,
                                        errlen) == 0)
            return 0;
    return -1;
}

/* The same for the end (PROTOCOL.md 6.7, 5.5). */
static int s_end_verify(const Lienthong__Member *m, const lt_feed_replica_t *f,
                        const Lienthong__SnapshotEnd *e, const uint8_t root[LT_HASH_BYTES],
                        uint8_t hash[LT_HASH_BYTES], char *err, size_t errlen)
{
    const uint8_t *keys[2];
    size_t n = lt_dir_signing_keys(m, keys);
    for (size_t i = 0; i < n; i++)
        if (lt_snap_end_verify(e, f->stream->name, f->stage->seq, f->stage->index, f->stage->prev,
                               root, keys[i], hash, err, errlen) == 0)
            return 0;
    return -1;
}

/* Every part of one snapshot is on the history of its first part (the
 * parts verified with it bound): 0, or -1 with the reason. */
static int s_history_same(struct lt_feed_stage *g, const ProtobufCBinaryData *h, char *err,
                          size_t errlen)
{
    if (g->has_history < 0) {
        g->has_history = h->len == LT_HISTORY_BYTES;
        if (g->has_history)
            memcpy(g->history, h->data, LT_HISTORY_BYTES);
        return 0;
    }
    if (g->has_history == (h->len == LT_HISTORY_BYTES) &&
        (!g->has_history || memcmp(g->history, h->data, LT_HISTORY_BYTES) == 0))
        return 0;
    snprintf(err, errlen, "snapshot part on another history than the snapshot's first part");
    return -1;
}

/* A snapshot at seq on history h behind the replica's cursor on the same
 * history: the state at S of the log the replica holds past S, sent on a
 * subscription it has replaced since (PROTOCOL.md 6.6, 6.7). Swapped in, it
 * would take the cursor back, and what it had passed on (to sinks, 8.2)
 * would come again. 1 (logged) when so. A resynchronisation takes any S:
 * the snapshot is then the owner's state on its new history (6.9). */
static int s_behind(const lt_feed_replica_t *f, uint64_t seq, const ProtobufCBinaryData *h,
                    const char *what)
{
    const lt_stream_t *c = &f->cursor;
    int other = h->len == LT_HISTORY_BYTES && c->has_history &&
                memcmp(h->data, c->history, LT_HISTORY_BYTES) != 0;
    if (f->resyncing || other || seq >= c->last_seq)
        return 0;
    lt_info("feed", "%s of %s at seq %llu from %s discarded: the replica is at seq %llu", what,
            f->stream->name, (unsigned long long)seq, f->owner, (unsigned long long)c->last_seq);
    return 1;
}

/* A verified snapshot part on another history than the replica's cursor,
 * outside a resynchronisation, is a fork as a batch of another history is
 * (PROTOCOL.md 6.9): installed, it would move the replica to the owner's
 * new history without a word, its sinks still fed from the old one. An
 * owner following 6.9 answers a cursor on another history with
 * HistoryChanged, never a snapshot, but the consumer does not rely on it.
 * 1 when so: the snapshot being received is dropped, the owner told to
 * stop and the feed stopped (lt_feed_history_forked). */
static int s_forked(lt_feed_t *self, lt_feed_replica_t *f, const ProtobufCBinaryData *h,
                    uint64_t seq)
{
    if (f->resyncing || !lt_feed_history_other(self, f, lt_feed_replica_at(f), h, seq))
        return 0;
    lt_feed_stage_drop(self, f, "on another history");
    return 1;
}

/* A snapshot at S beyond the highest seq the store holds could never be
 * followed: S + 1 and every later batch would be refused at the append,
 * the replica stuck (and past 2^63 S would read back negative). Refused
 * before the signature is checked, naming S. 0, or -1 with why. */
static int s_seq_storable(uint64_t seq, char *err, size_t errlen)
{
    if (seq <= LT_STORE_SEQ_MAX)
        return 0;
    snprintf(err, errlen, "snapshot at seq %llu is beyond the highest seq a stream holds (%llu)",
             (unsigned long long)seq, (unsigned long long)LT_STORE_SEQ_MAX);
    return -1;
}

/* A snapshot at S holds at most S records: each is the last change of its
 * key, and no two keys changed at the same seq of 1..S (PROTOCOL.md 6.7).
 * A chunk taking it past S is refused before it is verified or staged:
 * the staging copy's log would refuse a seq twice only at the write, after
 * the signature was checked and a transaction opened, with the store's
 * reason rather than the owner's fault. 0, or -1 with why. */
static int s_within_seq(uint64_t seq, uint64_t index, const Lienthong__SnapshotChunk *c, char *err,
                        size_t errlen)
{
    if (s_seq_storable(seq, err, errlen) != 0)
        return -1;
    if (c->n_records <= seq && index <= seq - c->n_records)
        return 0;
    snprintf(err, errlen, "snapshot at seq %llu sends more than %llu records",
             (unsigned long long)seq, (unsigned long long)seq);
    return -1;
}

/* The start of a snapshot while one is being received: the owner started
 * it again (after its idle timeout, PROTOCOL.md 6.7), and the staging copy
 * is emptied for it. An owner doing so at every chunk would cost a write
 * each time and never end one: after the first of a row, the feed stops
 * and waits instead (lt_feed_repeat). Asked only of a chunk that passed
 * its checks: one that fails them abandons the snapshot as any failed
 * check does, and is no restart. 1 when it does. */
static int s_restart_held(lt_feed_t *self, lt_feed_replica_t *f)
{
    if (!f->stage || !f->stage->active || lt_feed_repeat(&f->restarts, f->st_restarts) == 0)
        return 0;
    f->discarded++;
    lt_feed_replica_hold(self, f, "started its snapshot again", &f->restarts);
    return 1;
}

/* The live replica chunk c is for, or NULL when c is to be dropped: not
 * admitted (logged as a reject), or stale (counted as discarded). */
static lt_feed_replica_t *s_chunk_replica(lt_feed_t *self, const char *owner,
                                          const Lienthong__SnapshotChunk *c)
{
    char err[300];
    Lienthong__ErrorCode code = lt_valid_snapshot_chunk(c, err, sizeof err);
    if (s_admit(self, owner, c->stream, "snapshot chunk", code, err) != 0)
        return NULL;
    lt_feed_replica_t *f = s_live(self, owner, c->stream);
    /* A continuation of a snapshot not (or no longer) being received is
     * stale, from before a re-subscribe: discarded, like a stale batch; so
     * is the start of one behind the cursor, which must not restart the
     * one being received. */
    if (!f ||
        (c->first_index > 0 &&
         (!f->stage || !f->stage->active || c->snapshot_seq != f->stage->seq)) ||
        (c->first_index == 0 && s_behind(f, c->snapshot_seq, &c->history_id, "snapshot start"))) {
        if (f) {
            f->discarded++;
            f->stale_ahead = 1; /* the batches after it are stale too (6.6) */
        }
        return NULL;
    }
    return f;
}

/* 1 when c is the owner's, within our credit and the snapshot's seq,
 * signed and chained on the part before it (hash: its own), and on the
 * snapshot's history; else 0 with why in err. A start is checked as index
 * 0 of a new snapshot at its seq before the one being received is touched
 * (s_restart_held). */
static int s_chunk_ok(lt_feed_t *self, lt_feed_replica_t *f, const Lienthong__SnapshotChunk *c,
                      uint8_t hash[LT_HASH_BYTES], char *err, size_t errlen)
{
    const Lienthong__Member *pk = s_owner(self, f);
    int start = c->first_index == 0;
    static const uint8_t zero[LT_HASH_BYTES];
    uint64_t seq = start ? c->snapshot_seq : f->stage->seq;
    uint64_t index = start ? 0 : f->stage->index;
    if (!pk)
        snprintf(err, errlen, "owner not in directory");
    else if ((int64_t)c->n_records > f->outstanding)
        snprintf(err, errlen, "owner sent more records than our credit");
    return pk && (int64_t)c->n_records <= f->outstanding &&
           s_within_seq(seq, index, c, err, errlen) == 0 &&
           s_chunk_verify(pk, f, c, index, start ? zero : f->stage->prev, hash, self->leaves, err,
                          errlen) == 0 &&
           (start || s_history_same(f->stage, &c->history_id, err, errlen) == 0);
}

void lt_feed_on_snapshot_chunk(lt_feed_t *self, const char *owner, void *link_sock,
                               const Lienthong__SnapshotChunk *c)
{
    char err[300];
    uint8_t hash[LT_HASH_BYTES];
    lt_feed_replica_t *f = s_chunk_replica(self, owner, c);
    if (!f)
        return;
    int start = c->first_index == 0;
    int ok = s_chunk_ok(self, f, c, hash, err, sizeof err);
    if (ok && s_forked(self, f, &c->history_id, c->snapshot_seq))
        return;
    if (ok && start && s_restart_held(self, f))
        return;
    /* The start's history is the new snapshot's (s_history_same takes it). */
    ok = ok && (!start || (s_begin(self, f, c->snapshot_seq, err, sizeof err) == 0 &&
                           s_history_same(f->stage, &c->history_id, err, sizeof err) == 0));
    if (!ok || s_stage_chunk(self, f->stage, c, err, sizeof err) != 0) {
        lt_feed_stage_drop(self, f, err);
        lt_feed_replica_backoff(self, f, err, 0, 1);
        return;
    }
    memcpy(f->stage->prev, hash, LT_HASH_BYTES);
    f->outstanding -= (int64_t)c->n_records;
    f->last_batch_at = lt_clock_mono_ms();
    lt_feed_replica_credit(f, link_sock, c->n_records);
}

/* Swaps the staging copy in for the replica, at cursor (S, hash), in one
 * transaction; the replica's old rows go with it. During a
 * resynchronisation the same transaction empties the copy's shadow row,
 * the cursor's (6.9): the replica is then on the owner's new history
 * whatever S is, and *old is the row it replaced. */
static int s_swap(lt_feed_t *self, lt_feed_replica_t *f, const uint8_t hash[LT_HASH_BYTES],
                  lt_stream_t *old, char *err, size_t errlen)
{
    lt_store_t *store = self->ctx->store;
    struct lt_feed_stage *g = f->stage;
    lt_stream_t next = {.id = g->id, .last_seq = g->seq, .has_history = g->has_history > 0};
    memcpy(next.last_hash, hash, LT_HASH_BYTES);
    if (next.has_history)
        memcpy(next.history, g->history, LT_HISTORY_BYTES);
    /* Clearing the shadow as the replica's own row would empty the replica
     * the snapshot just filled. */
    assert(!f->resyncing || (f->cursor.id != f->stream->id && f->cursor.id != g->id));
    /* The replica is on the snapshot's history: the batches after it are
     * checked against it (6.5 step 3). */
    if (lt_feed_writer_settle(self, "swap a snapshot in") != 0) {
        snprintf(err, errlen, "the writer thread is stuck");
        return -1;
    }
    if (lt_store_begin(store) != 0 ||
        (f->resyncing && (lt_store_stream_find(store, f->stream->name, old) != 1 ||
                          lt_store_stream_clear(store, f->cursor.id) != 0)) ||
        lt_store_stream_clear(store, f->stream->id) != 0 ||
        lt_store_stream_swap(store, f->stream->name, g->name) != 0 ||
        lt_store_stream_save(store, &next) != 0 ||
        (next.has_history && lt_store_history_set(store, g->id, g->history, NULL) != 0) ||
        lt_store_tail_set(store, g->id, g->seq + 1) != 0 || lt_store_commit(store) != 0)
        return s_txn_fail(store, err, errlen);
    /* The old replica's (now empty) row is the next staging copy; the
     * stream is the snapshot's, as a restart would load it. */
    g->id = f->stream->id;
    lt_feed_stream_load(f->stream, &next, next.last_seq + 1);
    f->cursor = next;
    f->cursor_gen++;
    return 0;
}

/* Whether a snapshot end is dropped before any check of its content
 * (counted as discarded, and logged or its staging dropped as it says);
 * f may be NULL, for a replica no longer live. */
static int s_end_dropped(lt_feed_t *self, lt_feed_replica_t *f, const char *owner,
                         const Lienthong__SnapshotEnd *e, int empty)
{
    /* An empty one no Subscribe asked for since the last: dropped, as it
     * would cost a write, a synced swap and an audit row each time. */
    if (f && empty && !f->empty_asked) {
        f->discarded++;
        lt_debug("feed", "replica of %s: an empty snapshot at seq %llu from %s, unasked: dropped",
                 f->stream->name, (unsigned long long)e->snapshot_seq, owner);
        return 1;
    }
    /* Behind the cursor by now (batches of a newer subscription applied
     * while it was staged) or from the start: stale, discarded. */
    if (!f || (!empty && (!f->stage || !f->stage->active)) ||
        s_behind(f, e->snapshot_seq, &e->history_id, "snapshot")) {
        if (f) {
            if (f->stage && f->stage->seq == e->snapshot_seq) /* it ends here */
                lt_feed_stage_drop(self, f, "behind the replica's cursor");
            f->discarded++;
            f->stale_ahead = 1; /* the batches from S + 1 are stale too (6.6) */
        }
        return 1;
    }
    return 0;
}

/* After the swap: nothing is staged, the copy's row is the replica's old
 * one, emptied by the swap; the replica's progress, gauges, log line and
 * audit entry follow, and a resynchronisation (old the row it replaced)
 * is recorded as done. */
static void s_end_swapped(lt_feed_t *self, lt_feed_replica_t *f, int resyncing,
                          const lt_stream_t *old)
{
    uint64_t n = f->stage->index;
    f->stage->active = 0;
    lt_feed_replica_progress(self, f);
    f->stale_ahead = 0;
    f->last_batch_at = lt_clock_mono_ms();
    lt_feed_stream_grew(self, f->stream, f->cursor.last_seq, 0);
    lt_stats_set(f->st_cursor, (int64_t)f->cursor.last_seq);
    lt_info("feed", "replica of %s replaced by %s's snapshot at seq %llu (%llu records)",
            f->stream->name, f->owner, (unsigned long long)f->cursor.last_seq,
            (unsigned long long)n);
    char detail[128];
    snprintf(detail, sizeof detail, "snapshot at seq %llu, %llu records",
             (unsigned long long)f->cursor.last_seq, (unsigned long long)n);
    lt_audit_add(self->ctx->audit, &(lt_audit_entry_t){.event = "replica-snapshot",
                                                       .peer = f->owner,
                                                       .target = f->stream->name,
                                                       .detail = detail});
    if (resyncing)
        lt_feed_history_resynced(self, f, old, &f->cursor, "'s snapshot");
}

void lt_feed_on_snapshot_end(lt_feed_t *self, const char *owner, const Lienthong__SnapshotEnd *e)
{
    char err[300];
    Lienthong__ErrorCode code = lt_valid_snapshot_end(e, err, sizeof err);
    if (s_admit(self, owner, e->stream, "snapshot end", code, err) != 0)
        return;
    lt_feed_replica_t *f = s_live(self, owner, e->stream);
    uint8_t root[LT_HASH_BYTES], hash[LT_HASH_BYTES];
    const Lienthong__Member *pk = f ? s_owner(self, f) : NULL;
    int empty = e->count == 0 && (!f || !f->stage || !f->stage->active);
    if (s_end_dropped(self, f, owner, e, empty))
        return;
    if (empty)
        f->empty_asked = 0; /* taken: the next one needs a new Subscribe */
    if (!pk)
        snprintf(err, sizeof err, "owner not in directory");
    if (pk && (s_seq_storable(e->snapshot_seq, err, sizeof err) != 0 ||
               (empty && s_begin(self, f, e->snapshot_seq, err, sizeof err) != 0)))
        pk = NULL;
    if (pk)
        lt_snap_merkle_root(&f->stage->acc, root);
    int resyncing = f->resyncing;
    lt_stream_t old = {.id = 0}; /* filled by s_swap when resyncing */
    int ok = pk && s_end_verify(pk, f, e, root, hash, err, sizeof err) == 0 &&
             s_history_same(f->stage, &e->history_id, err, sizeof err) == 0;
    /* An empty snapshot has no chunk that could have told of a fork. */
    if (ok && s_forked(self, f, &e->history_id, e->snapshot_seq))
        return;
    if (!ok || s_swap(self, f, hash, &old, err, sizeof err) != 0) {
        lt_feed_stage_drop(self, f, err);
        lt_feed_replica_backoff(self, f, err, 0, 1);
        return;
    }
    s_end_swapped(self, f, resyncing, &old);
}

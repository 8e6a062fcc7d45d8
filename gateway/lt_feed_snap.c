/* lt_feed_snap: snapshots sent (PROTOCOL.md 6.7) and sinks' replacements
 * (8.2). Both read the stream's state through one consistent reading
 * (lt_store_snap), in key order, a chunk at a time as credit or the sink's
 * acknowledgements allow. A peer's snapshot is signed chunk by chunk and
 * ends with the signed Merkle root of the whole state; the subscription
 * then continues with batches from S + 1 chained from the end's hash. */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* The history a snapshot of st is bound to, as its batches are (PROTOCOL.md
 * 6.7, 6.9): NULL while the stream has none. */
static const uint8_t *s_history(const lt_feed_stream_t *st)
{
    return st->has_history ? st->history : NULL;
}

/* Starts a reading of st, for a peer or a local sink; NULL (logged) when
 * the store fails. */
static lt_feed_snap_t *s_start(lt_feed_t *self, lt_feed_stream_t *st, int peer)
{
    char err[256];
    lt_feed_snap_t *sn = calloc(1, sizeof *sn);
    if (!sn || !(sn->rd = lt_store_snap_new(self->ctx->store, st->id, err, sizeof err))) {
        lt_error("feed", "%s: cannot start a snapshot: %s", st->name, sn ? err : "out of memory");
        free(sn);
        return NULL;
    }
    sn->seq = lt_store_snap_seq(sn->rd);
    sn->progress_at = sn->started_at = lt_clock_mono_ms();
    sn->peer = peer;
    lt_snap_merkle_init(&sn->acc);
    self->n_snaps++;
    self->n_peer_snaps += peer != 0;
    return sn;
}

void lt_feed_snap_free(lt_feed_t *self, lt_feed_snap_t **snap_p)
{
    if (!snap_p || !*snap_p)
        return;
    self->n_peer_snaps -= (*snap_p)->peer != 0;
    lt_store_snap_destroy(&(*snap_p)->rd);
    free((*snap_p)->chunk.buf);
    free(*snap_p);
    *snap_p = NULL;
    self->n_snaps--;
}

/* Whether sn, a snapshot or a replacement being sent (NULL: none), made
 * no progress for LT_SNAP_IDLE_MS by now: a peer's and a sink's are given
 * up after the same time (PROTOCOL.md 6.7, 8.2). */
static int s_idle(const lt_feed_snap_t *sn, int64_t now)
{
    return sn && now - sn->progress_at >= LT_SNAP_IDLE_MS;
}

/* Whether sn ran past its deadline by now: LT_SNAP_RUN_MS plus its
 * records sent at LT_SNAP_MIN_RATE (lt_limits.h). Progress now and then
 * keeps it from idling out, not from this. */
static int s_overdue(const lt_feed_snap_t *sn, int64_t now)
{
    return sn &&
           now - sn->started_at >= LT_SNAP_RUN_MS + (int64_t)(sn->index * 1000 / LT_SNAP_MIN_RATE);
}

/* Writes why sn ends by now into why (idle: what it waited for), or
 * returns 0 when it goes on. */
static int s_ending(const lt_feed_snap_t *sn, int64_t now, const char *idle, char *why, size_t cap)
{
    if (s_idle(sn, now))
        snprintf(why, cap, "%s for %d s", idle, LT_SNAP_IDLE_MS / 1000);
    else if (s_overdue(sn, now))
        snprintf(why, cap,
                 "still running after %lld s, past its deadline (%d min, and 1 s "
                 "for each %d records sent)",
                 (long long)((now - sn->started_at) / 1000), LT_SNAP_RUN_MS / 60000,
                 LT_SNAP_MIN_RATE);
    else
        return 0;
    return 1;
}

void lt_feed_snap_idle(lt_feed_t *self, lt_feed_sub_t *s, int64_t now)
{
    char why[160];
    if (!s_ending(s->snap, now, "no progress", why, sizeof why))
        return;
    /* Past its deadline is said louder: the consumer is slow, or holding it. */
    lt_log(s_idle(s->snap, now) ? LT_LOG_INFO : LT_LOG_WARN, "feed",
           "snapshot of %s at seq %llu to %s ended: %s (%llu records sent); it "
           "restarts when credit comes",
           s->stream->name, (unsigned long long)s->snap->seq, s->member, why,
           (unsigned long long)s->snap->index);
    lt_feed_snap_free(self, &s->snap);
}

/* The reading cannot move to the new file where it stood (the state at S
 * there is not the one it read if anything was committed since), and left
 * open it would go on reading the old one, its damaged page with it, and
 * never see a repair (docs/ARCHITECTURE.md 4.2, "Repair"). A peer's
 * snapshot starts over from index 0 at the next pump, which its consumer
 * takes as a restart (PROTOCOL.md 6.7); a sink's replacement cannot (a
 * part may be unacknowledged), so the sink is detached to attach again
 * (8.2). */
void lt_feed_snap_end_all(lt_feed_t *self)
{
    for (size_t i = 0; i < self->n_subs; i++) {
        lt_feed_sub_t *s = &self->subs[i];
        if (!s->snap)
            continue;
        lt_info("feed",
                "snapshot of %s at seq %llu to %s ended by a store rebuild (%llu records "
                "sent); it starts over",
                s->stream->name, (unsigned long long)s->snap->seq, s->member,
                (unsigned long long)s->snap->index);
        lt_feed_snap_free(self, &s->snap);
    }
    for (size_t i = 0; i < self->n_sinks; i++) {
        lt_feed_sink_t *k = &self->sinks[i];
        if (!k->snap)
            continue;
        lt_info("local", "replacement of the sink of %s at seq %llu ended by a store rebuild",
                k->stream->name, (unsigned long long)k->snap->seq);
        lt_feed_snap_free(self, &k->snap);
        if (k->detach == LT_SINK_KEEP)
            k->detach = LT_SINK_REBUILT;
    }
}

/* Starts the hold of the log for a subscriber of st whose snapshot or
 * replacement at S = seq just ended (LT_SNAP_HOLD_MS). */
static void s_hold(lt_feed_hold_t *h, const lt_feed_stream_t *st, uint64_t seq)
{
    h->from = seq + 1;
    h->to = st->last_seq;
    h->until = lt_clock_mono_ms() + LT_SNAP_HOLD_MS;
}

/* The lowest seq one subscriber of a stream needs kept by now: S + 1 of
 * its snapshot or replacement being sent, else its next seq while held
 * (s_hold); UINT64_MAX for none. */
static uint64_t s_needs(const lt_feed_snap_t *sn, const lt_feed_hold_t *h, uint64_t next,
                        int64_t now)
{
    if (sn)
        return sn->seq + 1;
    return now < h->until && next >= h->from && next <= h->to ? next : UINT64_MAX;
}

uint64_t lt_feed_snap_floor(const lt_feed_t *self, const lt_feed_stream_t *st)
{
    uint64_t floor = UINT64_MAX;
    int64_t now = lt_clock_mono_ms();
    for (size_t i = 0; i < self->n_subs; i++) {
        const lt_feed_sub_t *s = &self->subs[i];
        uint64_t need = s->stream == st ? s_needs(s->snap, &s->hold, s->next, now) : UINT64_MAX;
        floor = need < floor ? need : floor;
    }
    for (size_t i = 0; i < self->n_sinks; i++) {
        const lt_feed_sink_t *k = &self->sinks[i];
        uint64_t need = k->stream == st ? s_needs(k->snap, &k->hold, k->next, now) : UINT64_MAX;
        floor = need < floor ? need : floor;
    }
    return floor;
}

/* Reads the next chunk of st's snapshot sn, at most max records, into
 * sn->chunk, unless one is still unsent. Returns its record count (0 at the
 * end), LT_STORE_DAMAGED at a damaged record (marked on st for the report
 * of PROTOCOL.md 6.10), or -1. */
static int s_read(lt_feed_t *self, lt_feed_stream_t *st, lt_feed_snap_t *sn, int64_t max)
{
    lt_feed_chunk_t *c = &sn->chunk;
    if (sn->unsent)
        return (int)c->n;
    if (max > LT_BATCH_MAX_RECORDS)
        max = LT_BATCH_MAX_RECORDS;
    if (max > self->ctx->cfg->batch_max)
        max = self->ctx->cfg->batch_max;
    lt_batch_recs_reset(c);
    int n = max > 0
                ? lt_store_snap_read(sn->rd, (size_t)max, self->batch_bytes, lt_feed_chunk_add, c)
                : 0;
    if (n == LT_STORE_DAMAGED)
        lt_feed_damaged(self, st, lt_store_snap_damaged(sn->rd));
    else if (n < 0)
        lt_error("feed", "store: cannot read the state for a snapshot");
    if (n > 0) {
        sn->unsent = 1;
        /* The leaves the read's checksum checks made (lt_store_rec_fn). */
        for (size_t i = 0; i < c->n; i++)
            if (i < c->n_leaves)
                lt_snap_merkle_add_leaf(&sn->acc, c->leaves[i]);
            else
                lt_snap_merkle_add(&sn->acc, c->recs[i].data, c->recs[i].len);
    }
    return n;
}

/* ---- to a peer (6.7) ------------------------------------------------------------ */

/* Whether a snapshot to member may start now: a place is free that a
 * local sink does not keep (LT_SNAP_SINK_PLACES), and member has fewer
 * than LT_SNAP_MAX_PER_MEMBER being sent. Otherwise it waits, as for a
 * full table. */
static int s_peer_place(const lt_feed_t *self, const char *member)
{
    if (self->n_snaps >= LT_SNAP_MAX_SENDING ||
        self->n_peer_snaps >= LT_SNAP_MAX_SENDING - LT_SNAP_SINK_PLACES)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < self->n_subs && n < LT_SNAP_MAX_PER_MEMBER; i++)
        n += self->subs[i].snap && strcmp(self->subs[i].member, member) == 0;
    return n < LT_SNAP_MAX_PER_MEMBER;
}

static int s_send_chunk(lt_feed_t *self, void *sock, lt_feed_sub_t *s, lt_feed_snap_t *sn)
{
    lt_feed_chunk_t *c = &sn->chunk;
    Lienthong__SnapshotChunk m = LIENTHONG__SNAPSHOT_CHUNK__INIT;
    m.stream = s->stream->name;
    m.snapshot_seq = sn->seq;
    m.first_index = sn->index;
    m.n_records = c->n;
    m.records = c->recs;
    m.signature.data = sn->sig;
    m.signature.len = sizeof sn->sig;
    m.signed_at_ms = lt_clock_now_ms();
    const uint8_t *history = s_history(s->stream);
    m.history_id.data = (uint8_t *)history;
    m.history_id.len = history ? LT_HISTORY_BYTES : 0;
    if (lt_wire_send_body(sock, s->rid, s->rid_len, LIENTHONG__ENVELOPE__BODY_SNAPSHOT_CHUNK, &m) !=
        0)
        return zmq_errno() == EAGAIN ? 0 : -1; /* the signed chunk waits in sn */
    sn->unsent = 0;
    sn->index += c->n;
    sn->progress_at = lt_clock_mono_ms();
    s->credit -= (int64_t)c->n;
    memcpy(sn->prev, sn->hash, LT_HASH_BYTES);
    return 1;
}

static int s_send_end(lt_feed_t *self, void *sock, lt_feed_sub_t *s, lt_feed_snap_t *sn)
{
    uint8_t root[LT_HASH_BYTES], sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    lt_snap_merkle_root(&sn->acc, root);
    const uint8_t *history = s_history(s->stream);
    if (lt_snap_end_sign(self->ctx->keys, s->stream->name, history, sn->seq, sn->index, sn->prev,
                         root, sig, hash) != 0)
        return -1;
    Lienthong__SnapshotEnd m = LIENTHONG__SNAPSHOT_END__INIT;
    m.stream = s->stream->name;
    m.snapshot_seq = sn->seq;
    m.count = sn->index;
    m.state_root.data = root;
    m.state_root.len = sizeof root;
    m.signature.data = sig;
    m.signature.len = sizeof sig;
    m.signed_at_ms = lt_clock_now_ms();
    m.history_id.data = (uint8_t *)history;
    m.history_id.len = history ? LT_HISTORY_BYTES : 0;
    if (lt_wire_send_body(sock, s->rid, s->rid_len, LIENTHONG__ENVELOPE__BODY_SNAPSHOT_END, &m) !=
        0)
        return zmq_errno() == EAGAIN ? 0 : -1;
    lt_info("feed", "snapshot of %s at seq %llu (%llu records) sent to %s", s->stream->name,
            (unsigned long long)sn->seq, (unsigned long long)sn->index, s->member);
    /* The tail follows from S + 1, chained from the end (6.7). */
    s->next = sn->seq + 1;
    s_hold(&s->hold, s->stream, sn->seq);
    memcpy(s->prev, hash, LT_HASH_BYTES);
    s->snap_wanted = 0;
    lt_feed_snap_free(self, &s->snap);
    lt_feed_sub_gauges(s);
    return 1;
}

/* The chunk read last reaches the consumer only within max_message, as a
 * batch does: a record stored before the frame cap was lowered is
 * reported (ERR_TOO_LARGE) instead of being sent for the consumer to drop
 * the connection on it again and again. 1 when it fits. */
static int s_fits(lt_feed_t *self, void *sock, lt_feed_sub_t *s, const lt_feed_snap_t *sn)
{
    if (sn->chunk.used + LT_BATCH_OVERHEAD <= self->ctx->cfg->max_message)
        return 1;
    lt_feed_too_large(self, sock, s, 0, sn->index);
    return 0;
}

int lt_feed_snap_send(lt_feed_t *self, void *sock, lt_feed_sub_t *s)
{
    if (!s->snap) {
        /* Without credit nothing could be sent: a read transaction held
         * for a consumer that may never return any would only pin the
         * store (the WAL, the log, a place among LT_SNAP_MAX_SENDING). */
        if (s->credit <= 0 || !s_peer_place(self, s->member))
            return 0; /* waits for credit, or until one ends */
        if (!(s->snap = s_start(self, s->stream, 1)))
            return -1;
        lt_info("feed",
                "sending %s a snapshot of %s at seq %llu (it asked from seq %llu, the "
                "log is kept from %llu)",
                s->member, s->stream->name, (unsigned long long)s->snap->seq,
                (unsigned long long)s->next, (unsigned long long)s->stream->tail_first);
    }
    lt_feed_snap_t *sn = s->snap;
    int fresh = !sn->unsent;
    int n = s_read(self, s->stream, sn, s->credit);
    if (n == LT_STORE_DAMAGED) {
        (void)lt_feed_send_damaged(sock, s->rid, s->rid_len, 0, s->stream);
        s->fail = "damaged record in the state";
    }
    if (n < 0 || (n > 0 && fresh && !s_fits(self, sock, s, sn)))
        return -1;
    if (n == 0) /* with credit, nothing left to read: the end */
        return s->credit > 0 ? s_send_end(self, sock, s, sn) : 0;
    /* Signed once when read, from the leaves the read made (s_read); a
     * resend after EAGAIN reuses the signature. */
    uint8_t root[LT_HASH_BYTES];
    if (fresh &&
        (lt_batch_recs_root(&sn->chunk, root) != 0 ||
         lt_snap_chunk_sign_root(self->ctx->keys, s->stream->name, s_history(s->stream), sn->index,
                                 sn->chunk.n, sn->prev, root, sn->sig, sn->hash) != 0))
        return -1;
    return s_send_chunk(self, sock, s, sn);
}

/* ---- to a local sink (8.2) ---------------------------------------------------------- */

/* Sends one part of the replacement: the records read (none for the last
 * part). Returns 1 sent, 0 would block, -1 on failure. */
static int s_send_part(void *sock, lt_feed_sink_t *k, lt_feed_snap_t *sn, int last)
{
    const lt_feed_chunk_t *c = &sn->chunk;
    size_t n = last ? 0 : c->n;
    Lienthong__Record **recs = calloc(n ? n : 1, sizeof *recs);
    int rc = recs ? 1 : -1;
    for (size_t i = 0; rc == 1 && i < n; i++)
        if (!(recs[i] = lienthong__record__unpack(NULL, c->recs[i].len, c->recs[i].data)))
            rc = -1;
    Lienthong__Deliver d = LIENTHONG__DELIVER__INIT;
    d.stream = k->stream->name;
    d.n_records = n;
    d.records = recs;
    d.replace_seq = sn->seq;
    d.replace_first = sn->index == 0;
    d.replace_last = last;
    lt_feed_sink_history(k->stream, &d.history_id);
    if (rc == 1 &&
        lt_wire_send_body(sock, k->rid, k->rid_len, LIENTHONG__ENVELOPE__BODY_DELIVER, &d) != 0)
        rc = zmq_errno() == EAGAIN ? 0 : -1;
    if (rc == 1) {
        sn->unsent = 0;
        sn->index += n;
        sn->progress_at = lt_clock_mono_ms();
        sn->done = last;
        k->awaiting = 1;
    }
    for (size_t i = 0; recs && i < n; i++)
        if (recs[i])
            lienthong__record__free_unpacked(recs[i], NULL);
    free(recs);
    return rc;
}

int lt_feed_snap_replace(lt_feed_t *self, void *sock, lt_feed_sink_t *k)
{
    if (k->awaiting)
        return 0; /* one part at a time, the next after its acknowledgement */
    if (!k->snap) {
        if (self->n_snaps >= LT_SNAP_MAX_SENDING)
            return 0; /* waits until one ends */
        if (!(k->snap = s_start(self, k->stream, 0)))
            return -1;
        if (k->rebuild)
            lt_info("local",
                    "sink of %s is on another history: replacing its table by the "
                    "state at seq %llu",
                    k->stream->name, (unsigned long long)k->snap->seq);
        else
            lt_info("local",
                    "sink of %s from seq %llu is behind the log kept from %llu: "
                    "replacing its table by the state at seq %llu",
                    k->stream->name, (unsigned long long)k->next,
                    (unsigned long long)k->stream->tail_first, (unsigned long long)k->snap->seq);
    }
    lt_feed_snap_t *sn = k->snap;
    int n = s_read(self, k->stream, sn, LT_BATCH_MAX_RECORDS);
    if (n == LT_STORE_DAMAGED) /* told, as a peer is (PROTOCOL.md 6.10) */
        (void)lt_feed_send_damaged(sock, k->rid, k->rid_len, 0, k->stream);
    return n < 0 ? -1 : s_send_part(sock, k, sn, n == 0);
}

/* A sink adapter gone (stopped for good, its database down) or not
 * reading would otherwise keep the reading open until it attaches again
 * or the gateway restarts: the WAL growing, the stream's log kept from
 * S + 1, a place among LT_SNAP_MAX_SENDING held. Nothing is lost on the
 * sink's side: it commits the replacement only at its last part (8.2). */
void lt_feed_snap_replace_idle(lt_feed_t *self, lt_feed_sink_t *k, int64_t now)
{
    char why[160];
    if (!s_ending(k->snap, now, k->awaiting ? "no DeliverAck" : "no part taken", why, sizeof why))
        return;
    lt_error("local",
             "replacement of the sink of %s at seq %llu ended: %s (%llu records sent); the sink "
             "is detached and takes the replacement again when it attaches",
             k->stream->name, (unsigned long long)k->snap->seq, why,
             (unsigned long long)k->snap->index);
    if (k->detach == LT_SINK_KEEP)
        k->detach = s_idle(k->snap, now) ? LT_SINK_IDLE : LT_SINK_OVERDUE;
    lt_feed_snap_free(self, &k->snap);
    k->awaiting = 0;
}

int lt_feed_snap_replace_ack(lt_feed_t *self, lt_feed_sink_t *k, uint64_t through_seq)
{
    lt_feed_snap_t *sn = k->snap;
    if (!sn || !k->awaiting || through_seq != sn->seq)
        return -1;
    k->awaiting = 0;
    if (sn->done) {
        lt_info("local", "sink of %s replaced its table by the state at seq %llu (%llu records)",
                k->stream->name, (unsigned long long)sn->seq, (unsigned long long)sn->index);
        k->acked = sn->seq;
        k->next = sn->seq + 1;
        s_hold(&k->hold, k->stream, sn->seq);
        /* Its table is the stream's now, on the stream's history. */
        if (k->rebuild)
            k->stream->replaced = 0;
        k->rebuild = 0;
        lt_feed_snap_free(self, &k->snap);
    }
    return 0;
}

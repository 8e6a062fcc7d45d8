/* lt_feed_history: histories that cannot fork (PROTOCOL.md 6.9).
 *
 * Owner: every stream has a history id; a Subscribe whose cursor names
 * another history is answered with HistoryChanged, never with batches.
 * Consumer: a cursor on another history than the owner's stops the feed
 * (FORKED, logged at error level, audited, shown by status) and the
 * replica keeps its content; a resynchronisation (`lienthong resync`, or
 * by itself with resync = "auto") copies the owner's current history from
 * seq 1 into a shadow row of the store and, once the copy reaches the
 * owner's last seq at the time of the fork, replaces the replica with it
 * in one transaction. A reader therefore sees the old history or the new
 * one, never a mix. An owner whose retained log starts after seq 1 answers
 * the copy's Subscribe with a snapshot (6.7, 6.8): its swap replaces the
 * replica and ends the resynchronisation in the same one transaction
 * (lt_feed_stage.c, lt_feed_history_resynced). */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_history.h"
#include "lt_log.h"
#include "lt_peers.h"
#include "lt_reject.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- owner ------------------------------------------------------------------ */

int lt_feed_history_own(lt_feed_t *self, lt_feed_stream_t *st)
{
    if (st->has_history)
        return 0;
    lt_stream_t row;
    char hex[LT_HISTORY_HEX];
    if (lt_store_history_set(self->ctx->store, st->id, NULL, &row) != 0) {
        lt_error("feed", "store: cannot give %s a history: %s", st->name,
                 lt_store_error(self->ctx->store));
        return -1;
    }
    memcpy(st->history, row.history, sizeof st->history);
    st->has_history = 1;
    self->generation++; /* the high-water file names the new history */
    /* Batches of the old log must not be served on the new history. */
    lt_tail_forget(self->tail, st->id);
    lt_fresh_forget(self->fresh, st->id);
    lt_info("feed", "stream %s: history %s from seq 1", st->name,
            lt_history_hex(st->history, 1, hex));
    return 0;
}

int lt_feed_history_refused(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            lt_feed_stream_t *st, const Lienthong__Subscribe *m)
{
    /* From seq 1 there is no cursor to be on a history; a consumer from
     * before history ids names none and is served as before. */
    if (m->from_seq <= 1 || m->history_id.len == 0 ||
        (m->history_id.len == LT_HISTORY_BYTES &&
         memcmp(m->history_id.data, st->history, LT_HISTORY_BYTES) == 0))
        return 0;
    char theirs[LT_HISTORY_HEX], ours[LT_HISTORY_HEX], why[512];
    lt_history_hex(m->history_id.data, m->history_id.len == LT_HISTORY_BYTES, theirs);
    snprintf(why, sizeof why,
             "%s: cursor %" PRIu64 " is on history %s, the stream is on history %s (last seq "
             "%" PRIu64 "): the consumer must resynchronise",
             st->name, m->from_seq - 1, theirs, lt_history_hex(st->history, 1, ours), st->last_seq);
    /* Counted, logged and audited as a refusal (PROTOCOL.md 4.4); the
     * answer is HistoryChanged, not an Error. */
    (void)lt_reject(self->ctx->reject,
                    &(lt_reject_in_t){.who = in->user_id,
                                      .what = "subscribe",
                                      .target = st->name,
                                      .code = LIENTHONG__ERROR_CODE__ERR_SEQUENCE,
                                      .why = why});
    Lienthong__HistoryChanged h = LIENTHONG__HISTORY_CHANGED__INIT;
    h.stream = st->name;
    h.history_id.data = st->history;
    h.history_id.len = LT_HISTORY_BYTES;
    h.last_seq = st->last_seq;
    h.cursor_history_id = m->history_id;
    (void)lt_wire_send_body(sock, in->rid, in->rid_len, LIENTHONG__ENVELOPE__BODY_HISTORY_CHANGED,
                            &h);
    return 1;
}

/* ---- consumer: resynchronising ----------------------------------------------- */

/* A failed swap of a complete copy is tried again this long after, then
 * twice as long each time: a busy store frees soon, a full one may not. */
#define SWAP_BACKOFF_MIN_MS 1000
#define SWAP_BACKOFF_MAX_MS 60000

static void s_audit(lt_feed_t *self, const lt_feed_replica_t *f, const char *event,
                    const char *detail)
{
    lt_audit_add(self->ctx->audit, &(lt_audit_entry_t){.event = event,
                                                       .peer = f->owner,
                                                       .target = f->stream->name,
                                                       .detail = detail});
}

static const lt_gwcfg_sub_t *s_sub_cfg(const lt_feed_t *self, const char *stream)
{
    const lt_gwcfg_t *cfg = self->ctx->cfg;
    for (size_t i = 0; i < cfg->n_subs; i++)
        if (strcmp(cfg->subs[i].stream, stream) == 0)
            return &cfg->subs[i];
    return NULL;
}

/* Opens f's shadow row empty and makes it the row batches go to; the feed
 * subscribes from seq 1 at the next tick. With replace, a live feed stays
 * live and subscribes from seq 1 at once: the owner still streams its old
 * subscription, which the copy's Subscribe replaces, and what that sent
 * meanwhile is stale (PROTOCOL.md 6.6), not a gap in the copy. Returns 0,
 * or -1 (store). */
static int s_resync_start(lt_feed_t *self, lt_feed_replica_t *f, uint64_t target, int replace)
{
    lt_store_t *store = self->ctx->store;
    char name[LT_STREAM_ID_MAX + sizeof LT_HISTORY_SHADOW_PREFIX];
    lt_stream_t sh;
    snprintf(name, sizeof name, LT_HISTORY_SHADOW_PREFIX "%s", f->stream->name);
    if (lt_feed_writer_settle(self, "start resynchronising") != 0)
        return -1;
    if (lt_store_begin(store) != 0 || lt_store_stream(store, name, &sh) != 0 ||
        lt_store_stream_clear(store, sh.id) != 0 || lt_store_commit(store) != 0) {
        lt_error("feed", "replica of %s: cannot start resynchronising: store: %s", f->stream->name,
                 lt_store_error(store));
        lt_store_rollback(store);
        return -1;
    }
    memset(&sh, 0, sizeof sh);
    if (lt_store_stream_find(store, name, &sh) != 1)
        return -1;
    f->cursor = sh;
    f->cursor_gen++;
    f->resyncing = 1;
    f->resync_target = target;
    replace = replace && f->state == LT_FEED_LIVE;
    if (!replace) {
        f->state = LT_FEED_IDLE;
        f->next_at = lt_clock_mono_ms();
    }
    f->fails.n = 0;
    f->swap_at = f->swap_backoff = 0;
    char detail[160];
    snprintf(detail, sizeof detail, "copying from seq 1 to %" PRIu64 " before replacing", target);
    lt_info("feed",
            "replica of %s: resynchronising from %s: %s; the replica keeps its content "
            "until then",
            f->stream->name, f->owner, detail);
    s_audit(self, f, "replica-resync", detail);
    if (replace)
        lt_feed_replica_subscribe(self, f);
    /* An empty history is complete at once. */
    if (target == 0)
        lt_feed_history_applied(self, f);
    return 0;
}

int lt_feed_resync(lt_feed_t *self, const char *stream, char *err, size_t errlen)
{
    lt_feed_replica_t *f = lt_feed_replica_find(self, stream);
    if (!f) {
        snprintf(err, errlen, "%s: not replicated here", stream);
        return -1;
    }
    if (f->resyncing) {
        snprintf(err, errlen, "%s: already resynchronising (%" PRIu64 " of %" PRIu64 ")", stream,
                 f->cursor.last_seq, f->resync_target);
        return 0;
    }
    if (f->state != LT_FEED_FORKED) {
        snprintf(err, errlen, "%s: the replica is on its owner's history: nothing to resynchronise",
                 stream);
        return -1;
    }
    if (s_resync_start(self, f, f->resync_target, 0) != 0) {
        snprintf(err, errlen, "%s: store failure (see the log)", stream);
        return -1;
    }
    snprintf(err, errlen, "%s: resynchronising", stream);
    return 0;
}

/* Both resynchronisations begun here pass replace = 0. That flag keeps a live
 * feed live and sends the copy's Subscribe at once (s_resync_start); it tells
 * no sink anything. Here the feed stops (FORKED, or IDLE by s_resync_start):
 * the owner answered with HistoryChanged, or a batch came on another history
 * and the owner was told to Unsubscribe (lt_feed_history_other); not live,
 * what that subscription still sends is discarded as stale
 * (lt_feed_batch_check) until the next tick subscribes from seq 1. A first
 * fork sets FORKED before it starts the copy, which the flag would not pass
 * anyway (it needs a live feed). Sinks attached now read the replica's own
 * row, which keeps the old history and its content until the copy replaces it
 * in one transaction; they are told then, however the copy began
 * (lt_feed_history_resynced, lt_feed_sink_replaced; a sink attaching meanwhile
 * reads the row's history, s_local_stream). No other gateway subscribes to a
 * replica: only owned streams are served (lt_feed_may_subscribe). */
/* Every automatic copy is a full re-fetch from seq 1, which an owner
 * announcing history after history (broken, or hostile) would otherwise
 * force again at once each time (PROTOCOL.md 6.9): a fork within
 * REPEAT_QUIET_MS of the one before delays the copy it starts,
 * REPEAT_WAIT_MIN_MS and then twice as long each time up to
 * REPEAT_WAIT_MAX_MS (lt_feed_repeat); an operator's resync is never
 * delayed. The same
 * row-and-wait serves the other things an owner can make a replica start
 * again at will (lt_feed_replica.c, lt_feed_stage.c). */
#define REPEAT_WAIT_MIN_MS 1000
#define REPEAT_WAIT_MAX_MS (30 * 60 * 1000)
#define REPEAT_QUIET_MS    (60 * 60 * 1000)
/* Progress (a batch or snapshot applied) ends a row only this long after
 * the wait its last repeat got (lt_feed_repeat_progress). */
#define REPEAT_SETTLED_MS (60 * 1000)

int64_t lt_feed_wait_next(int64_t wait, int64_t first, int64_t max)
{
    int64_t next = wait < first ? first : wait * 2;
    return next > max ? max : next;
}

int64_t lt_feed_repeat(lt_feed_repeat_t *r, lt_stats_series_t *counter)
{
    int64_t now = lt_clock_mono_ms();
    if (counter)
        lt_stats_inc(counter);
    if (!r->n || now - r->at >= REPEAT_QUIET_MS) {
        r->n = 0;
        r->wait = 0;
    } else {
        r->wait = lt_feed_wait_next(r->wait, REPEAT_WAIT_MIN_MS, REPEAT_WAIT_MAX_MS);
    }
    r->n++;
    r->at = now;
    return r->wait;
}

/* What the owner makes f start again is free to it, and so is one record
 * applied between two of them: were any progress to end the row, an owner
 * alternating a one-record batch with an overlapping one (or with one
 * failing its checks: f->fails, lt_feed_replica_backoff) would make every
 * one the first of a row, answered at once, for ever. Progress ends the
 * row only REPEAT_SETTLED_MS after the wait its last repeat got: the
 * owner's next batch comes when that wait ends, so counted from the
 * repeat itself a wait of a minute or more would end the row by itself,
 * and the waits would fall back to the shortest each time they grew that
 * long. An owner can then force one Subscribe (or emptied staging copy)
 * at once a minute at most, a cost that stays small, while an honest
 * owner, whose races and failures come far apart, still has each answered
 * at once. Without progress, REPEAT_QUIET_MS ends it (lt_feed_repeat). */
void lt_feed_repeat_progress(lt_feed_repeat_t *r)
{
    if (r->n && lt_clock_mono_ms() - r->at - r->wait >= REPEAT_SETTLED_MS)
        r->n = 0;
}

/* Starts f's copy towards target (s_resync_start), subscribing no sooner
 * than wait ms from now; logged when it waits. */
static void s_resync_after(lt_feed_t *self, lt_feed_replica_t *f, uint64_t target, int64_t wait)
{
    if (s_resync_start(self, f, target, 0) != 0 || !wait || f->state == LT_FEED_LIVE)
        return;
    f->next_at = lt_clock_mono_ms() + wait;
    lt_warn("feed",
            "replica of %s: %s announced %" PRIu64 " histories in a row, each within %d min of "
            "the one before; copying from seq 1 again in %lld s, not at once",
            f->stream->name, f->owner, f->forks.n, REPEAT_QUIET_MS / 60000,
            (long long)(wait + 999) / 1000);
}

void lt_feed_history_forked(lt_feed_t *self, lt_feed_replica_t *f, const uint8_t *owner_history,
                            uint64_t owner_last)
{
    char ours[LT_HISTORY_HEX], theirs[LT_HISTORY_HEX];
    lt_history_hex(owner_history, 1, theirs);
    int64_t wait = lt_feed_repeat(&f->forks, f->st_forks);
    if (f->resyncing) {
        /* The owner's history changed again during the copy: start over. */
        lt_warn("feed",
                "replica of %s: %s moved to history %s during the resynchronisation; "
                "starting it again",
                f->stream->name, f->owner, theirs);
        s_resync_after(self, f, owner_last, wait);
        return;
    }
    snprintf(f->fork_detail, sizeof f->fork_detail,
             "cursor %" PRIu64 " is on history %s, %s is on history %s at seq %" PRIu64,
             f->cursor.last_seq, lt_history_hex(f->cursor.history, f->cursor.has_history, ours),
             f->owner, theirs, owner_last);
    f->state = LT_FEED_FORKED;
    f->resync_target = owner_last;
    lt_stats_set(f->st_forked, 1);
    const lt_gwcfg_sub_t *sub = s_sub_cfg(self, f->stream->name);
    int autoresync = sub && sub->resync_auto;
    lt_error("feed",
             "replica of %s forked: %s (the owner's store was restored or rebuilt); feed stopped, "
             "replica kept as it was; %s",
             f->stream->name, f->fork_detail,
             autoresync ? "resynchronising (resync = \"auto\")"
                        : "run 'lienthong resync' for this stream to resynchronise");
    s_audit(self, f, "replica-fork", f->fork_detail);
    if (autoresync)
        s_resync_after(self, f, owner_last, wait);
}

int lt_feed_history_resync_repair(lt_feed_t *self, lt_feed_replica_t *f, const char *why)
{
    /* A copy under way, or one a fork calls for, replaces the damage too. */
    if (f->resyncing || f->state == LT_FEED_FORKED)
        return 0;
    s_audit(self, f, "replica-repair-resync", why);
    /* The live feed's subscription is replaced by the copy's at once. */
    return s_resync_start(self, f, f->cursor.last_seq, 1);
}

/* A record of the copy changed on disk since it was written: it cannot be
 * moved (its checksum would be made valid), and every later attempt would
 * meet it again. The copy is emptied and fetched again from seq 1; the
 * replica keeps its content meanwhile. A live feed's subscription is
 * replaced by the new copy's at once, as a repair's is: left to an idle
 * re-subscribe, batches the old one sent before the owner took the new
 * Subscribe would follow on nothing in the new copy, read as a gap and
 * stop the feed, where they are stale (PROTOCOL.md 6.6). */
static void s_copy_damaged(lt_feed_t *self, lt_feed_replica_t *f)
{
    char detail[200];
    snprintf(detail, sizeof detail,
             "record %" PRIu64 " of the resynchronised copy is damaged (%s); copying again",
             lt_store_damaged_seq(self->ctx->store), lt_store_damaged_why(self->ctx->store));
    lt_error("feed", "replica of %s: %s", f->stream->name, detail);
    s_audit(self, f, "replica-resync-damaged", detail);
    (void)s_resync_start(self, f, f->resync_target, 1);
}

void lt_feed_history_resynced(lt_feed_t *self, lt_feed_replica_t *f, const lt_stream_t *old,
                              const lt_stream_t *now, const char *how)
{
    char was[LT_HISTORY_HEX], is[LT_HISTORY_HEX], detail[300];
    f->resyncing = 0;
    f->swap_at = f->swap_backoff = 0;
    lt_stats_set(f->st_forked, 0);
    f->fork_detail[0] = '\0';
    snprintf(detail, sizeof detail,
             "now seq %" PRIu64 " on history %s (replaced seq %" PRIu64 " on history %s)",
             now->last_seq, lt_history_hex(now->history, now->has_history, is), old->last_seq,
             lt_history_hex(old->history, old->has_history, was));
    lt_info("feed", "replica of %s resynchronised from %s%s: %s", f->stream->name, f->owner, how,
            detail);
    s_audit(self, f, "replica-resynced", detail);
    /* What the sinks hold came from the old history. */
    lt_feed_sink_replaced(self, f->stream);
}

/* The swap of f's complete copy failed (logged) for why: the copy stays,
 * and the tick tries again after a back-off. A batch beyond the target
 * would try too, but none may come (the owner publishes nothing), and until
 * the swap the replica serves the old history; status says why meanwhile. */
static void s_swap_later(lt_feed_replica_t *f, const char *why)
{
    snprintf(f->swap_why, sizeof f->swap_why, "%s", why);
    f->swap_backoff = f->swap_backoff ? f->swap_backoff * 2 : SWAP_BACKOFF_MIN_MS;
    if (f->swap_backoff > SWAP_BACKOFF_MAX_MS)
        f->swap_backoff = SWAP_BACKOFF_MAX_MS;
    f->swap_at = lt_clock_mono_ms() + f->swap_backoff;
    lt_warn("feed",
            "replica of %s: the resynchronised copy is complete; replacing the replica "
            "with it again in %lld ms",
            f->stream->name, (long long)f->swap_backoff);
}

void lt_feed_history_tick(lt_feed_t *self, lt_feed_replica_t *f, int64_t now)
{
    /* A batch being committed swaps it when done, or fails and leaves it
     * to the next tick. */
    if (f->resyncing && f->swap_at && now >= f->swap_at && !f->applying &&
        f->cursor.last_seq >= f->resync_target)
        lt_feed_history_applied(self, f);
}

void lt_feed_history_applied(lt_feed_t *self, lt_feed_replica_t *f)
{
    lt_store_t *store = self->ctx->store;
    lt_stream_t old, now;
    uint64_t tail_first = 1;
    if (lt_feed_writer_settle(self, "replace the replica with its resynchronised copy") != 0) {
        s_swap_later(f, "the writer thread did not hand its job back"); /* the copy stays */
        return;
    }
    int rc = 0;
    /* The replica as it will be (its row and retained tail) is read inside
     * the transaction: once the commit succeeds the shadow is empty and the
     * copy is the replica, so nothing after it may fail. A failure there
     * would leave f->cursor on the emptied shadow at seq N: the next
     * batches would go into it from N + 1, and the next replace would keep
     * only them (records 1..N lost, the cursor ahead of the data). Before
     * the commit every failure is rolled back, and the copy stays as it
     * was. */
    if (lt_store_stream_find(store, f->stream->name, &old) != 1 || lt_store_begin(store) != 0 ||
        (rc = lt_store_stream_replace(store, old.id, f->cursor.id)) != 0 ||
        lt_store_stream_find(store, f->stream->name, &now) != 1 ||
        lt_store_tail_first(store, now.id, &tail_first) != 0 || lt_store_commit(store) != 0) {
        char why[sizeof f->swap_why];
        snprintf(why, sizeof why, "store: %s", lt_store_error(store));
        if (rc != LT_STORE_DAMAGED)
            lt_error("feed", "replica of %s: cannot replace it with the resynchronised copy: %s",
                     f->stream->name, why);
        lt_store_rollback(store);
        if (rc == LT_STORE_DAMAGED)
            s_copy_damaged(self, f); /* logs it, names the record */
        else
            s_swap_later(f, why); /* the copy stays */
        return;
    }
    f->cursor = now;
    f->cursor_gen++;
    /* The stream is the copy's now, its retained tail (not the old
     * replica's, which a snapshot may have moved past seq 1, 6.7) and its
     * history: sinks attach and are fed by them (lt_feed_sink.c). */
    lt_feed_stream_load(f->stream, &now, tail_first);
    lt_feed_history_resynced(self, f, &old, &now, "");
    lt_feed_stream_grew(self, f->stream, now.last_seq, 0);
    lt_stats_set(f->st_cursor, (int64_t)now.last_seq);
}

/* ---- consumer: checks ------------------------------------------------------------ */

int lt_feed_history_other(lt_feed_t *self, lt_feed_replica_t *f, const lt_stream_t *at,
                          const ProtobufCBinaryData *history, uint64_t owner_last)
{
    if (history->len != LT_HISTORY_BYTES || at->last_seq == 0 || !at->has_history ||
        memcmp(history->data, at->history, LT_HISTORY_BYTES) == 0)
        return 0;
    /* The owner has a subscription for us: end it before stopping. */
    Lienthong__Unsubscribe u = LIENTHONG__UNSUBSCRIBE__INIT;
    u.stream = f->stream->name;
    void *sock = lt_peers_link(self->ctx->peers, f->owner);
    if (sock)
        (void)lt_wire_send_body(sock, NULL, 0, LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE, &u);
    lt_feed_history_forked(self, f, history->data, owner_last);
    return 1;
}

void lt_feed_on_history_changed(lt_feed_t *self, const char *owner,
                                const Lienthong__HistoryChanged *m)
{
    lt_feed_replica_t *f = lt_feed_replica_find(self, m->stream);
    /* A copy waiting to start (s_resync_after) has no subscription this
     * could answer, and starts on whatever history the owner then has. */
    if (!f || strcmp(f->owner, owner) != 0 || f->state == LT_FEED_FORKED ||
        (f->resyncing && f->state != LT_FEED_LIVE) || m->history_id.len != LT_HISTORY_BYTES ||
        (f->cursor.has_history &&
         memcmp(m->history_id.data, f->cursor.history, LT_HISTORY_BYTES) == 0)) {
        lt_debug("feed", "history change of %s from %s ignored", m->stream, owner);
        return;
    }
    lt_feed_history_forked(self, f, m->history_id.data, m->last_seq);
}

/* ---- status ------------------------------------------------------------------------ */

/* A resynchronisation's progress, or its complete copy waiting for the
 * swap the tick tries again (PROTOCOL.md 8.3): told apart, for a copy that
 * is about to finish needs nothing while a failing swap may need the
 * operator (docs/operations.md, the store busy or full). */
static void s_resync_detail(lt_feed_replica_t *f, Lienthong__StreamHistory *h)
{
    h->detail = f->fork_detail;
    if (!f->swap_at || f->cursor.last_seq < f->resync_target) {
        snprintf(f->fork_detail, sizeof f->fork_detail, "copied %" PRIu64 " of %" PRIu64 " records",
                 f->cursor.last_seq, f->resync_target);
        return;
    }
    int64_t in_ms = f->swap_at - lt_clock_mono_ms();
    if (in_ms < 0)
        in_ms = 0;
    h->swap_retry_at_ms = lt_clock_now_ms() + in_ms;
    snprintf(f->fork_detail, sizeof f->fork_detail,
             "copy complete, swap pending (retry in %lld s): %s", (long long)(in_ms + 999) / 1000,
             f->swap_why);
}

void lt_feed_history_status(lt_feed_t *self, lt_feed_stream_t *st, Lienthong__StreamStatus *ss)
{
    Lienthong__StreamHistory *h = calloc(1, sizeof *h);
    if (!h)
        return;
    lienthong__stream_history__init(h);
    lt_feed_replica_t *f = lt_feed_replica_find(self, st->name);
    h->state = "ok";
    if (f) {
        /* The history of what the replica shows: its own row, not the
         * shadow a resynchronisation is filling. */
        lt_stream_t row;
        /* Only a row read changes it: a read that fails (a busy store)
         * would leave the Delivers that follow with no history, and a sink
         * attaching then would have its whole table replaced (8.2). */
        int found = lt_store_stream_find(self->ctx->store, st->name, &row);
        if (found == 0)
            st->has_history = 0;
        else if (found == 1) {
            st->has_history = row.has_history;
            if (row.has_history)
                memcpy(st->history, row.history, sizeof st->history);
        }
        if (f->state == LT_FEED_FORKED) {
            h->state = "forked";
            h->detail = f->fork_detail;
        } else if (f->resyncing) {
            h->state = "resyncing";
            s_resync_detail(f, h);
        }
    }
    if (st->has_history) {
        h->id.data = st->history;
        h->id.len = LT_HISTORY_BYTES;
    }
    ss->history = h;
}

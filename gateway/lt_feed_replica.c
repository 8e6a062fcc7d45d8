/* lt_feed_replica: the consumer's side of a feed (PROTOCOL.md 6.5, 6.6):
 * the streams this gateway replicates from their owners, subscribed over
 * the links of lt_peers, every batch verified before anything in it is
 * unpacked, and applied with the cursor in one transaction. */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_file.h"
#include "lt_gwstats.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_valid.h"
#include "lt_peers.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define IDLE_RESUBSCRIBE_MS 2000
#define BACKOFF_MIN_MS      500
#define BACKOFF_MAX_MS      60000
/* The owner refused (forbidden, not found): no point asking again soon. */
#define REFUSED_BACKOFF_MS 30000
/* Not connected yet: subscribe again this soon. */
#define RETRY_MS 200
/* A feed's stops after the first of a run are counted in one line per
 * stream at most this often. */
#define STOP_LOG_MS 60000

int lt_feed_replica_open(lt_feed_t *self, const char *stream)
{
    lt_feed_replica_t *f = &self->replicas[self->n_replicas];
    memset(f, 0, sizeof *f);
    f->stream = lt_feed_stream(self, stream);
    if (!f->stream || lt_store_stream(self->ctx->store, stream, &f->cursor) != 0 ||
        lt_feed_stage_discard(self, f) != 0)
        return -1;
    f->state = LT_FEED_IDLE;
    const char *label[] = {f->stream->name};
    f->st_cursor = lt_stats_series(self->f_rep_cursor, label);
    f->st_lag = lt_stats_series(self->f_rep_lag, label);
    f->st_forked = lt_stats_series(self->f_rep_forked, label);
    f->st_forks = lt_stats_series(self->f_rep_forks, label);
    f->st_damaged = lt_stats_series(self->f_rep_damaged, label);
    f->st_repair_resyncs = lt_stats_series(self->f_rep_repair_resyncs, label);
    f->st_overlaps = lt_stats_series(self->f_rep_overlaps, label);
    f->st_restarts = lt_stats_series(self->f_rep_restarts, label);
    lt_stats_set(f->st_cursor, (int64_t)f->cursor.last_seq);
    self->n_replicas++;
    lt_feed_check_tail(self, f->stream, &f->cursor);
    return 0;
}

lt_feed_replica_t *lt_feed_replica_find(lt_feed_t *self, const char *stream)
{
    for (size_t i = 0; i < self->n_replicas; i++)
        if (strcmp(self->replicas[i].stream->name, stream) == 0)
            return &self->replicas[i];
    return NULL;
}

int lt_feed_replica_add(lt_feed_t *self, const char *stream, char *err, size_t errlen)
{
    if (lt_feed_replica_find(self, stream))
        return 0;
    if (self->n_replicas >= LT_GWCFG_MAX_SUBS)
        return lt_err_set(err, errlen, "too many subscriptions (at most %d)", LT_GWCFG_MAX_SUBS);
    /* A table already full is the one failure that is not the store's. */
    if (!lt_feed_stream_find(self, stream) && self->n_streams >= LT_FEED_MAX_STREAMS)
        return lt_err_set(err, errlen, "too many streams in use (at most %d)", LT_FEED_MAX_STREAMS);
    if (lt_feed_replica_open(self, stream) != 0)
        return lt_err_set(err, errlen, "store: %s", lt_store_error(self->ctx->store));
    lt_feed_replica_t *f = &self->replicas[self->n_replicas - 1];
    lt_info("feed", "replica of %s added at seq %llu", stream,
            (unsigned long long)f->cursor.last_seq);
    return 0;
}

static void s_unsubscribe(void *sock, const lt_feed_replica_t *f);

void lt_feed_replica_remove(lt_feed_t *self, const char *stream)
{
    lt_feed_replica_t *f = lt_feed_replica_find(self, stream);
    if (!f)
        return;
    /* Only a feed that may be live has something to stop at the owner; a
     * batch still on its way is then dropped as not ours (stale). */
    void *sock =
        f->state == LT_FEED_LIVE && f->owner[0] ? lt_peers_link(self->ctx->peers, f->owner) : NULL;
    if (sock)
        s_unsubscribe(sock, f);
    lt_tally_forget(self->stop_log, stream); /* its count not yet written */
    lt_info("feed", "replica of %s removed at seq %llu", stream,
            (unsigned long long)f->cursor.last_seq);
    lt_audit_add(self->ctx->audit, &(lt_audit_entry_t){.event = "replica-stop",
                                                       .peer = f->owner,
                                                       .target = f->stream->name,
                                                       .detail = "removed from the configuration"});
    /* Its snapshot's state goes with it; the slot takes the last replica,
     * whose stage moves along. */
    lt_feed_stage_free(f);
    *f = self->replicas[--self->n_replicas];
}

static int s_owner_inactive(lt_feed_t *self, lt_feed_replica_t *f, const char *owner);

void lt_feed_replica_dir_changed(lt_feed_t *self)
{
    /* A live feed whose owner is no longer active stops now: its link is
     * closed (lt_peers_dir_changed), nothing of it may be applied. A new
     * directory may be what an owner waited for (an expired one, a policy,
     * a member active again): feeds backing off try again now rather than
     * in a minute. */
    int64_t now = lt_clock_mono_ms();
    for (size_t i = 0; i < self->n_replicas; i++) {
        lt_feed_replica_t *f = &self->replicas[i];
        if (f->state == LT_FEED_LIVE && s_owner_inactive(self, f, f->owner))
            continue;
        if (f->state == LT_FEED_BACKOFF && f->next_at > now) {
            f->next_at = now;
            f->fails.n = 0;
        }
    }
}

/* ---- subscribing ------------------------------------------------------------- */

static void s_unsubscribe(void *sock, const lt_feed_replica_t *f)
{
    Lienthong__Unsubscribe u = LIENTHONG__UNSUBSCRIBE__INIT;
    u.stream = f->stream->name;
    (void)lt_wire_send_body(sock, NULL, 0, LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE, &u);
}

/* ---- the log of stops -------------------------------------------------------- */

/* One stop's particulars, kept for its reports. */
typedef struct {
    char stream[LT_STREAM_ID_MAX + 1];
    char why[400];
    uint64_t seq;
    int64_t wait_ms;
    uint64_t run;    /* the stops of its run so far, this one included */
    int64_t run_sec; /* the run's length so far */
} s_stop_t;

static void s_stop_report(void *arg, const lt_tally_report_t *rep)
{
    (void)arg;
    const s_stop_t *p = rep->info;
    char n[LT_TALLY_TIMES_MAX];
    if (rep->kind == LT_TALLY_FIRST && p->run == 1)
        lt_warn("feed",
                "replica of %s stopped at seq %llu: %s; re-subscribing in %lld ms, further stops "
                "said at most once every %d s",
                p->stream, (unsigned long long)p->seq, p->why, (long long)p->wait_ms,
                STOP_LOG_MS / 1000);
    else if (rep->kind == LT_TALLY_FIRST) /* a whole interval passed without a stop */
        lt_warn("feed",
                "replica of %s stopped again at seq %llu: %s; re-subscribing in %lld ms "
                "(%llu stops in %lld s without applying)",
                p->stream, (unsigned long long)p->seq, p->why, (long long)p->wait_ms,
                (unsigned long long)p->run, (long long)p->run_sec);
    else if (rep->kind == LT_TALLY_COUNT)
        lt_warn("feed",
                "replica of %s stopped %s in the last %lld s, the last at seq %llu: %s; "
                "re-subscribing in %lld ms",
                p->stream, lt_tally_times(rep->count, n), (long long)rep->seconds,
                (unsigned long long)p->seq, p->why, (long long)p->wait_ms);
    else
        lt_warn("feed",
                "replicas beyond the %d tracked stopped %s in the last %lld s (the last: %s at "
                "seq %llu: %s)",
                LT_GWCFG_MAX_SUBS, lt_tally_times(rep->count, n), (long long)rep->seconds,
                p->stream, (unsigned long long)p->seq, p->why);
}

lt_tally_t *lt_feed_replica_stop_log(lt_feed_t *self)
{
    /* A key per replica: removing one forgets its key. */
    return lt_tally_new(STOP_LOG_MS, LT_GWCFG_MAX_SUBS, sizeof(s_stop_t), s_stop_report, self);
}

/* f stopped at its cursor for why, to subscribe again in wait ms: its
 * first stop since it last applied is logged at once, later ones
 * counted. Over hours of a full disk (or an owner gone) it stops at
 * every back-off, up to once a minute: a line each would flood the log. */
static void s_stop_note(lt_feed_t *self, lt_feed_replica_t *f, const char *why, int64_t wait)
{
    s_stop_t p;
    int64_t now = lt_clock_mono_ms();
    if (f->stops++ == 0)
        f->stops_since = now;
    snprintf(p.stream, sizeof p.stream, "%s", f->stream->name);
    /* Cut on a character boundary: the log keeps valid UTF-8. */
    snprintf(p.why, sizeof p.why, "%.*s", lt_valid_cut(why, sizeof p.why - 1), why);
    p.seq = f->cursor.last_seq;
    p.wait_ms = wait;
    p.run = f->stops;
    p.run_sec = (now - f->stops_since + 999) / 1000;
    lt_tally_note(self->stop_log, f->stream->name, &p);
}

/* f applied a batch or snapshot: ends its run of stops, if any, its count
 * not yet written first, so that its next stop is said at once again. */
static void s_stop_end(lt_feed_t *self, lt_feed_replica_t *f)
{
    if (!f->stops)
        return;
    lt_tally_forget(self->stop_log, f->stream->name);
    lt_info("feed", "replica of %s applying again after %llu failure%s over %lld s",
            f->stream->name, (unsigned long long)f->stops, f->stops == 1 ? "" : "s",
            (long long)(lt_clock_mono_ms() - f->stops_since + 999) / 1000);
    f->stops = 0;
}

/* Stops a feed and schedules the re-subscribe. `unsubscribe` tells the owner,
 * unless the owner is the one that refused the subscription. */
void lt_feed_replica_backoff(lt_feed_t *self, lt_feed_replica_t *f, const char *why, int64_t min_ms,
                             int unsubscribe)
{
    /* The row and its end are those of lt_feed_repeat_t (a batch applied
     * between two failures ends it only as lt_feed_repeat_progress says:
     * an owner alternating a valid batch with a bad one would otherwise
     * have f subscribe again after BACKOFF_MIN_MS each time, for ever);
     * the waits are this back-off's own. */
    lt_feed_repeat_t *r = &f->fails;
    /* A row ended leaves its last wait behind: the first of the next is
     * the shortest again. */
    r->wait = lt_feed_wait_next(r->n ? r->wait : 0, BACKOFF_MIN_MS, BACKOFF_MAX_MS);
    if (r->wait < min_ms) /* min_ms is at most BACKOFF_MAX_MS */
        r->wait = min_ms;
    r->n++;
    r->at = lt_clock_mono_ms();
    f->state = LT_FEED_BACKOFF;
    f->next_at = r->at + r->wait;
    s_stop_note(self, f, why, r->wait);
    lt_audit_add(self->ctx->audit, &(lt_audit_entry_t){.event = "replica-stop",
                                                       .peer = f->owner,
                                                       .target = f->stream->name,
                                                       .detail = why});
    void *sock = unsubscribe ? lt_peers_link(self->ctx->peers, f->owner) : NULL;
    if (sock)
        s_unsubscribe(sock, f);
}

void lt_feed_replica_hold(lt_feed_t *self, lt_feed_replica_t *f, const char *what,
                          const lt_feed_repeat_t *r)
{
    int unsubscribe = f->state == LT_FEED_LIVE;
    f->state = LT_FEED_BACKOFF;
    f->next_at = lt_clock_mono_ms() + r->wait;
    lt_feed_stage_drop(self, f, "the feed waits");
    lt_warn("feed",
            "replica of %s: %s %s %" PRIu64
            " times in a row, each within an hour of the one before; "
            "subscribing again in %lld s, not at once",
            f->stream->name, f->owner, what, r->n, (long long)(r->wait + 999) / 1000);
    void *sock = unsubscribe ? lt_peers_link(self->ctx->peers, f->owner) : NULL;
    if (sock)
        s_unsubscribe(sock, f);
}

void lt_feed_replica_progress(lt_feed_t *self, lt_feed_replica_t *f)
{
    s_stop_end(self, f);
    lt_feed_repeat_progress(&f->fails);
    lt_feed_repeat_progress(&f->overlaps);
    lt_feed_repeat_progress(&f->restarts);
}

/* Sends Subscribe from the durable cursor; -1 when it could not be sent. */
static int s_send_subscribe(lt_feed_t *self, void *sock, const lt_feed_replica_t *f)
{
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = f->stream->name;
    m.from_seq = f->cursor.last_seq + 1;
    m.credit = (uint32_t)self->ctx->cfg->credit;
    if (f->cursor.last_seq > 0) {
        m.prev_hash.data = (uint8_t *)f->cursor.last_hash;
        m.prev_hash.len = LT_HASH_BYTES;
    }
    /* The history our cursor is on, so that the owner can tell us when it
     * is not its own (PROTOCOL.md 6.9). */
    if (f->cursor.last_seq > 0 && f->cursor.has_history) {
        m.history_id.data = (uint8_t *)f->cursor.history;
        m.history_id.len = LT_HISTORY_BYTES;
    }
    return sock ? lt_wire_send_body(sock, NULL, 0, LIENTHONG__ENVELOPE__BODY_SUBSCRIBE, &m) : -1;
}

/* Stops f, for a minute or until the next directory, when the directory
 * does not list owner as an active member (PROTOCOL.md 5.4): there is no
 * link to it, and nothing it sends may be applied. Likewise when it
 * suspends, revokes or no longer lists this gateway's own member, which
 * takes no data from peers until reinstated (5.4); a live feed then tells
 * the owner, whose link stays open. Returns 1 when it did. */
static int s_owner_inactive(lt_feed_t *self, lt_feed_replica_t *f, const char *owner)
{
    char why[LT_ID_MAX + 96], said[LT_ID_MAX + 64];
    int unsubscribe = 0;
    if (lt_dir_inactive_say(self->ctx->dir, owner, said, sizeof said)) {
        snprintf(why, sizeof why, "the owner %s", said);
    } else if (lt_dir_inactive_say(self->ctx->dir, self->ctx->cfg->member, said, sizeof said)) {
        snprintf(why, sizeof why, "this gateway's member %s", said);
        unsubscribe = f->state == LT_FEED_LIVE;
    } else {
        return 0;
    }
    lt_feed_replica_backoff(self, f, why, BACKOFF_MAX_MS, unsubscribe);
    return 1;
}

static void s_subscribe(lt_feed_t *self, lt_feed_replica_t *f)
{
    const lt_dir_t *dir = self->ctx->dir;
    const char *owner = dir ? lt_feed_owner_of(dir, f->stream->name) : NULL;
    if (!owner) {
        f->next_at = lt_clock_mono_ms() + BACKOFF_MAX_MS;
        lt_warn("feed", "cannot replicate %s: not a dataset or view of the directory",
                f->stream->name);
        return;
    }
    snprintf(f->owner, sizeof f->owner, "%s", owner);
    if (s_owner_inactive(self, f, owner))
        return;
    int64_t now = lt_clock_mono_ms();
    if (s_send_subscribe(self, lt_peers_link(self->ctx->peers, owner), f) != 0) {
        f->next_at = now + RETRY_MS;
        return;
    }
    /* After the first stop of a run, its back-offs' lines are counted
     * (s_stop_note): their subscribes are said at debug. */
    if (f->state != LT_FEED_LIVE)
        lt_log(f->stops > 1 ? LT_LOG_DEBUG : LT_LOG_INFO, "feed",
               "subscribing to %s from %s at seq %llu", f->stream->name, owner,
               (unsigned long long)f->cursor.last_seq + 1);
    /* A live feed's old subscription may have batches on their way, sent
     * from further on than the new one starts (6.6). */
    f->stale_ahead = f->state == LT_FEED_LIVE;
    f->state = LT_FEED_LIVE;
    f->sub_gen++;
    f->empty_asked = 1;               /* it may be answered by an empty snapshot */
    f->deferred = LT_FEED_DEFER_NONE; /* what the old subscription sent is stale */
    /* The owner restarts any snapshot at index 0. */
    lt_feed_stage_drop(self, f, "subscribed again");
    f->outstanding = self->ctx->cfg->credit;
    f->last_batch_at = now;
}

void lt_feed_replica_subscribe(lt_feed_t *self, lt_feed_replica_t *f)
{
    s_subscribe(self, f);
}

/* How long a live feed waits for a message before it subscribes again.
 * A snapshot being received is started again from index 0 by a new
 * Subscribe (PROTOCOL.md 6.7): a pause of its owner (a view rebuilt on its
 * loop, a busy store, a slow link for a whole chunk) must not throw away
 * what was received, so it waits as long as the owner keeps a snapshot
 * without progress before ending it (LT_SNAP_IDLE_MS). */
static int64_t s_idle_ms(const lt_feed_replica_t *f)
{
    return lt_feed_stage_receiving(f) ? LT_SNAP_IDLE_MS : IDLE_RESUBSCRIBE_MS;
}

void lt_feed_replica_tick(lt_feed_t *self)
{
    int64_t now = lt_clock_mono_ms();
    lt_tally_tick(self->stop_log);
    for (size_t i = 0; i < self->n_replicas; i++) {
        lt_feed_replica_t *f = &self->replicas[i];
        lt_feed_history_tick(self, f, now);
        /* A live feed with no batch for a while re-subscribes: cheap, and it
         * recovers from a restarted owner or lost credit without guessing.
         * A forked one waits for a resynchronisation. */
        if (f->state == LT_FEED_FORKED)
            continue;
        if ((f->state != LT_FEED_LIVE && now >= f->next_at) ||
            (f->state == LT_FEED_LIVE && !f->applying && now - f->last_batch_at > s_idle_ms(f)))
            s_subscribe(self, f);
    }
}

/* ---- batches ------------------------------------------------------------------------ */

/* A verified batch on its way into the store (lt_feed.h): what the writer
 * thread needs is copied here, so that it never reads a replica the poll
 * loop may change meanwhile. */
struct _lt_feed_apply_t {
    char stream[LT_STREAM_ID_MAX + 1];
    const Lienthong__Batch *b; /* the caller's, kept alive until lt_feed_batch_done */
    lt_stream_t cursor;        /* the replica's cursor the batch follows on */
    lt_stream_t next;          /* the cursor once applied */
    uint8_t hash[LT_HASH_BYTES], root[LT_HASH_BYTES];
    lt_arena_t *arena;   /* the feed's: one job at a time uses it */
    uint64_t sub_gen;    /* the replica's subscription it came on */
    uint64_t cursor_gen; /* the replica's cursor_gen when it was checked */
    const void *link;    /* the link it came on (compared, never used) */
    int rc;              /* 1 not run, 0 committed, -1 rolled back (err) */
    int skip;            /* not to run (lt_feed_group_plan) */
    int store_failed;    /* err is the store's, not the batch's */
    int cannot_write;    /* ... because it cannot write (lt_store_cannot_write) */
    int64_t took_us;
    char err[400];
    /* The records' Merkle leaves, made by the check (lt_batch_verify_leaves):
     * their checksums in the store are taken from them. */
    uint8_t leaves[];
};

/* Unpacks and checks one (already verified) record expected at seq, and
 * writes it to the log and the state; *newest rises to its changed_at_ms. */
static int s_apply_record(lt_feed_apply_t *job, lt_store_t *store, const ProtobufCBinaryData *rec,
                          size_t i, uint64_t seq, int64_t *newest)
{
    char where[64];
    /* The key is a string: UTF-8 as every string received (PROTOCOL.md 4.5). */
    Lienthong__Record *r =
        lt_valid_utf8(&lienthong__record__descriptor, rec->data, rec->len, where, sizeof where)
            ? NULL
            : lienthong__record__unpack(lt_arena_allocator(job->arena), rec->len, rec->data);
    int bad = !r || r->seq != seq || !lt_valid_key(r->key);
    if (bad)
        snprintf(job->err, sizeof job->err, "record %zu of the batch is %s", i,
                 !r              ? "malformed (or its key is not UTF-8)"
                 : r->seq != seq ? "out of sequence"
                                 : "with an empty or over-long key");
    else if (lt_store_append_leaf(store, job->cursor.id, r->seq, rec->data, rec->len,
                                  job->leaves + i * LT_HASH_BYTES) != 0 ||
             lt_store_state_put(store, job->cursor.id, r->key, r->seq, r->deleted,
                                lt_presence_mask(r->payload.data, r->payload.len), 0) != 0) {
        snprintf(job->err, sizeof job->err, "store: %s", lt_store_error(store));
        job->store_failed = bad = 1;
    } else if (r->changed_at_ms > *newest) {
        *newest = r->changed_at_ms;
    }
    lt_arena_reset(job->arena); /* r is gone with it */
    return bad ? -1 : 0;
}

/* Keeps the owner's signed header of the job's batch beside its records, so
 * that the range can be verified again at any time (docs/ARCHITECTURE.md
 * 4.2), with the history its H binds (PROTOCOL.md 6.9). Into the cursor's
 * row: during a resynchronisation that is the copy, whose headers replace
 * the old ones with it. */
static int s_keep_header(lt_store_t *store, const lt_feed_apply_t *job)
{
    const Lienthong__Batch *b = job->b;
    lt_store_batch_t h;
    memset(&h, 0, sizeof h);
    h.first_seq = b->first_seq;
    h.last_seq = b->first_seq + b->n_records - 1;
    memcpy(h.prev_hash, job->cursor.last_hash, LT_HASH_BYTES);
    memcpy(h.root, job->root, LT_HASH_BYTES);
    memcpy(h.signature, b->signature.data, LT_SIG_BYTES);
    if (b->history_id.len == LT_HISTORY_BYTES) {
        memcpy(h.history, b->history_id.data, LT_HISTORY_BYTES);
        h.has_history = 1;
    }
    return lt_store_batch_put(store, job->cursor.id, &h);
}

/* Writes the records, the header and the cursor of job, which follows on
 * `from`, inside the caller's transaction; job->next is the cursor it
 * leaves. -1 with job->err. */
static int s_apply_job(lt_feed_apply_t *job, lt_store_t *store, const lt_stream_t *from)
{
    const Lienthong__Batch *b = job->b;
    lt_stream_t next = *from;
    int64_t newest = 0;
    for (size_t i = 0; i < b->n_records; i++)
        if (s_apply_record(job, store, &b->records[i], i, ++next.last_seq, &newest) != 0)
            return -1;
    memcpy(next.last_hash, job->hash, LT_HASH_BYTES);
    /* A cursor without a history takes the batch's, with the records. */
    int adopt = b->history_id.len == LT_HISTORY_BYTES &&
                (!next.has_history || memcmp(next.history, b->history_id.data, LT_HISTORY_BYTES));
    /* The newest change is kept apart from the last record's: a
     * resynchronisation from seq 1 of a view its owner rebuilt brings its
     * records in key order (PROTOCOL.md 8.9). The store writes it once at
     * the commit, whatever the number of batches in it. */
    if (s_keep_header(store, job) != 0 || lt_store_newest_raise(store, next.id, newest) != 0 ||
        lt_store_stream_save(store, &next) != 0 ||
        (adopt && lt_store_history_set(store, next.id, b->history_id.data, &next) != 0)) {
        snprintf(job->err, sizeof job->err, "store: %s", lt_store_error(store));
        job->store_failed = 1;
        return -1;
    }
    job->next = next;
    return 0;
}

/* BEGIN for a job, or -1 with its err (also when the writer has no store:
 * lt_writer_resume could not open it). */
static int s_begin(lt_feed_apply_t *job, lt_store_t *store)
{
    if (store && lt_store_begin(store) == 0)
        return 0;
    job->store_failed = 1;
    if (store)
        snprintf(job->err, sizeof job->err, "store: %s", lt_store_error(store));
    else
        snprintf(job->err, sizeof job->err, "store unavailable");
    return -1;
}

/* The cursor job i of g follows on: the one an earlier job of its replica
 * in g leaves, or its own. */
static const lt_stream_t *s_group_from(const lt_feed_group_t *g, size_t i)
{
    for (size_t j = i; j-- > 0;)
        if (!g->jobs[j]->skip && strcmp(g->jobs[j]->stream, g->jobs[i]->stream) == 0)
            return &g->jobs[j]->next;
    return &g->jobs[i]->cursor;
}

/* A failure in job `bad` (its err said) undoes the whole group. Every job
 * of its replica fails with it, so that the first of them, which
 * lt_feed_batch_done sees first, stops the replica with that reason; the
 * other replicas' jobs did not run (they subscribe again). */
static void s_group_undo(lt_feed_group_t *g, lt_store_t *store, size_t bad)
{
    const lt_feed_apply_t *b = g->jobs[bad];
    lt_store_rollback(store);
    for (size_t i = 0; i < g->n; i++) {
        lt_feed_apply_t *job = g->jobs[i];
        int same = strcmp(job->stream, b->stream) == 0;
        job->rc = same ? -1 : 1;
        if (same && job != b)
            snprintf(job->err, sizeof job->err, "%s", b->err);
    }
}

/* The store failed the group as a whole (no transaction, a write or the
 * commit refused), cannot_write when it cannot write: every job that was
 * to run fails with why, so each replica stops and backs off. */
static void s_group_failed(lt_feed_group_t *g, const char *why, int cannot_write)
{
    for (size_t i = 0; i < g->n; i++)
        if (!g->jobs[i]->skip) {
            snprintf(g->jobs[i]->err, sizeof g->jobs[i]->err, "%s", why);
            g->jobs[i]->rc = -1;
            g->jobs[i]->cannot_write = cannot_write;
        }
}

/* Job i of g failed: its own fault undoes the group for its replica
 * (s_group_undo); the store's (no transaction, a write or the commit
 * refused) fails every batch of the group. */
static void s_group_abort(lt_feed_group_t *g, lt_store_t *store, size_t i)
{
    char why[sizeof g->jobs[0]->err];
    if (!g->jobs[i]->store_failed) {
        s_group_undo(g, store, i);
        return;
    }
    snprintf(why, sizeof why, "%s", g->jobs[i]->err);
    /* Read before the rollback, which sets SQLite's last error again; no
     * store: the writer cannot open it (lt_writer_resume). */
    int cannot_write = !store || lt_store_cannot_write(store);
    if (store)
        lt_store_rollback(store);
    s_group_failed(g, why, cannot_write);
}

void lt_feed_group_apply(void *arg, lt_store_t *store)
{
    lt_feed_group_t *g = arg;
    int64_t t0 = lt_clock_mono_us();
    size_t first = 0, last = 0;
    while (first < g->n && g->jobs[first]->skip)
        first++;
    if (first == g->n)
        return;
    if (s_begin(g->jobs[first], store) != 0) {
        s_group_abort(g, store, first);
        return;
    }
    for (size_t i = first; i < g->n; i++) {
        if (g->jobs[i]->skip)
            continue;
        if (s_apply_job(g->jobs[i], store, s_group_from(g, i)) != 0) {
            s_group_abort(g, store, i);
            return;
        }
        last = i;
    }
    if (lt_store_commit(store) != 0) {
        snprintf(g->jobs[first]->err, sizeof g->jobs[first]->err, "store: %s",
                 lt_store_error(store));
        g->jobs[first]->store_failed = 1;
        s_group_abort(g, store, first);
        return;
    }
    /* One commit, observed once (lt_feed_batch_done). */
    for (size_t i = first; i < g->n; i++)
        if (!g->jobs[i]->skip) {
            g->jobs[i]->took_us = i == last ? lt_clock_mono_us() - t0 : -1;
            g->jobs[i]->rc = 0;
        }
}

/* 1 when job may run now: its replica is live on the subscription it came
 * on, and the cursor it follows on is `at` (the replica's durable one, or
 * the one the jobs planned before it in the group will leave). */
static int s_job_runs(const lt_feed_replica_t *f, const lt_feed_apply_t *job, const lt_stream_t *at)
{
    return f && f->state == LT_FEED_LIVE && job->sub_gen == f->sub_gen &&
           job->cursor_gen == f->cursor_gen && at && job->cursor.id == at->id &&
           job->cursor.last_seq == at->last_seq &&
           memcmp(job->cursor.last_hash, at->last_hash, LT_HASH_BYTES) == 0;
}

size_t lt_feed_group_plan(lt_feed_t *self, lt_feed_group_t *g)
{
    size_t runs = 0;
    for (size_t i = 0; i < g->n; i++) {
        lt_feed_apply_t *job = g->jobs[i];
        lt_feed_replica_t *f = lt_feed_replica_find(self, job->stream);
        /* The expected cursor: after the job before it in its chain (its
         * replica's, on the same subscription and cursor row) when that
         * is here, else the replica's durable one. A job after one that
         * will not run does not follow on, so it does not run either. */
        const lt_stream_t *at = f ? &f->cursor : NULL;
        lt_stream_t after;
        for (size_t j = i; j-- > 0;)
            if (strcmp(g->jobs[j]->stream, job->stream) == 0 &&
                g->jobs[j]->sub_gen == job->sub_gen && g->jobs[j]->cursor.id == job->cursor.id) {
                after = g->jobs[j]->cursor;
                after.last_seq += g->jobs[j]->b->n_records;
                memcpy(after.last_hash, g->jobs[j]->hash, LT_HASH_BYTES);
                at = g->jobs[j]->skip ? NULL : &after;
                break;
            }
        job->skip = !s_job_runs(f, job, at);
        job->rc = 1;
        runs += !job->skip;
    }
    return runs;
}

size_t lt_feed_batch_records(const lt_feed_apply_t *job)
{
    return job->b->n_records;
}

void lt_feed_replica_credit(lt_feed_replica_t *f, void *sock, size_t n)
{
    Lienthong__Credit c = LIENTHONG__CREDIT__INIT;
    c.stream = f->stream->name;
    c.credit = (uint32_t)n;
    if (lt_wire_send_body(sock, NULL, 0, LIENTHONG__ENVELOPE__BODY_CREDIT, &c) == 0)
        f->outstanding += (int64_t)n;
}

/* Checks of PROTOCOL.md 6.5 steps 1 to 3; writes the new batch hash. */
static int s_verify(lt_feed_t *self, const lt_feed_replica_t *f, const lt_stream_t *at,
                    const Lienthong__Batch *b, uint8_t hash[LT_HASH_BYTES],
                    uint8_t root[LT_HASH_BYTES], char *err, size_t errlen)
{
    const Lienthong__Member *m = lt_dir_member(self->ctx->dir, f->owner);
    char said[LT_ID_MAX + 64];
    if ((int64_t)b->n_records > f->outstanding) {
        snprintf(err, errlen, "owner sent more records than our credit");
        return -1;
    }
    /* Its key may still be listed, but a member suspended or revoked signs
     * nothing we take (PROTOCOL.md 6.5 step 3). */
    if (lt_dir_inactive_say(self->ctx->dir, f->owner, said, sizeof said)) {
        snprintf(err, errlen, "batch not verified: the owner %s", said);
        return -1;
    }
    /* Either of the owner's signing keys during a rotation (PROTOCOL.md 5.5). */
    const uint8_t *keys[2];
    size_t n = lt_dir_signing_keys(m, keys);
    int rc = -1;
    for (size_t i = 0; i < n && rc != 0; i++)
        rc = lt_batch_verify_leaves(b, f->stream->name, at->last_seq + 1, at->last_hash, keys[i],
                                    hash, root, self->leaves, err, errlen);
    return rc;
}

/* b starts at or below our cursor and ends after it: sent on a subscription
 * from before our last Subscribe, whose batches we applied meanwhile, so
 * the owner now streams from past our cursor + 1 and every batch after b
 * would not follow on. Nothing of b can be used (its header chains from a
 * seq we are past), so we ask again from cursor + 1 at once; what the
 * owner sent before it takes that Subscribe is stale (6.6). b is counted
 * as discarded by its check (lt_feed_batch_check), here as when the feed
 * then waits. */
static void s_overlap(lt_feed_t *self, lt_feed_replica_t *f, const char *batch)
{
    /* An owner answering each Subscribe so would have it sent again at
     * once for ever: after the first of a row, the feed waits. */
    if (lt_feed_repeat(&f->overlaps, f->st_overlaps) > 0) {
        lt_feed_replica_hold(self, f, "answered a subscribe with a batch overlapping the replica",
                             &f->overlaps);
        return;
    }
    lt_info("feed",
            "batch %s overlaps the replica at seq %llu (sent before our last "
            "subscribe): subscribing again from seq %llu",
            batch, (unsigned long long)f->cursor.last_seq,
            (unsigned long long)f->cursor.last_seq + 1);
    s_subscribe(self, f);
}

/* 1 when batches of f's current subscription are being committed into its
 * cursor's row: the next batch follows on the cursor they will leave. The
 * batches of an older subscription (f subscribed again, or a snapshot or a
 * resynchronisation moved its cursor) will not run (lt_feed_group_plan),
 * so a batch then follows on the durable cursor. */
static int s_ahead_live(const lt_feed_replica_t *f)
{
    return f->applying && f->ahead_gen == f->sub_gen && f->ahead.id == f->cursor.id;
}

const lt_stream_t *lt_feed_replica_at(const lt_feed_replica_t *f)
{
    return s_ahead_live(f) ? &f->ahead : &f->cursor;
}

/* What batch b of f calls for (an overlap, or a failed check with why),
 * now, or once the batches being committed are done (lt_feed_int.h). */
static void s_verdict(lt_feed_t *self, lt_feed_replica_t *f, const Lienthong__Batch *b, int fail,
                      const char *why)
{
    char batch[LT_STREAM_ID_MAX + 48];
    snprintf(batch, sizeof batch, "%s@%llu-%llu", f->stream->name, (unsigned long long)b->first_seq,
             (unsigned long long)(b->first_seq + b->n_records - 1));
    if (s_ahead_live(f)) {
        f->deferred = fail ? LT_FEED_DEFER_FAIL : LT_FEED_DEFER_OVERLAP;
        f->deferred_gen = f->sub_gen;
        snprintf(f->deferred_why, sizeof f->deferred_why, "%s", fail ? why : batch);
    } else if (fail)
        lt_feed_replica_backoff(self, f, why, 0, 1);
    else
        s_overlap(self, f, batch);
}

/* The last batch being committed is done: a verdict deferred meanwhile
 * stands if it committed and the replica is still live on the subscription
 * the verdict was deferred on (a failure of the batch's own has already
 * stopped it; a batch that did not run has subscribed again). */
static void s_verdict_run(lt_feed_t *self, lt_feed_replica_t *f, const lt_feed_apply_t *job)
{
    int kind = f->deferred;
    f->deferred = LT_FEED_DEFER_NONE;
    if (!kind || job->rc != 0 || f->deferred_gen != f->sub_gen || f->state != LT_FEED_LIVE)
        return;
    if (kind == LT_FEED_DEFER_FAIL)
        lt_feed_replica_backoff(self, f, f->deferred_why, 0, 1);
    else
        s_overlap(self, f, f->deferred_why);
}

/* job is on its way: the replica's next batch follows on the cursor job
 * will leave (what lt_feed_group_apply makes of it), and the records it
 * holds are no longer owed to us. */
static void s_ahead(lt_feed_replica_t *f, const lt_feed_apply_t *job, const void *link)
{
    const Lienthong__Batch *b = job->b;
    f->ahead = job->cursor;
    f->ahead.last_seq += b->n_records;
    memcpy(f->ahead.last_hash, job->hash, LT_HASH_BYTES);
    if (b->history_id.len == LT_HISTORY_BYTES) {
        memcpy(f->ahead.history, b->history_id.data, LT_HISTORY_BYTES);
        f->ahead.has_history = 1;
    }
    f->ahead_link = link;
    f->ahead_gen = f->sub_gen;
    f->outstanding -= (int64_t)b->n_records;
    f->applying++;
}

/* The replica b is for, if this gateway takes b's stream from owner: a
 * batch of another stream is logged as a reject, and not answered, as the
 * sender never asked for an answer. */
static lt_feed_replica_t *s_batch_replica(lt_feed_t *self, const char *owner,
                                          const Lienthong__Batch *b)
{
    lt_feed_replica_t *f = lt_feed_replica_find(self, b->stream);
    if (f && strcmp(f->owner, owner) == 0)
        return f;
    /* Not a feed this gateway takes from that member: a peer sending a
     * batch of another owner's stream, or of one never subscribed to. */
    char err[400];
    snprintf(err, sizeof err, "%.300s: batch of a stream not subscribed from this member",
             b->stream);
    (void)lt_reject(self->ctx->reject,
                    &(lt_reject_in_t){.who = owner,
                                      .what = "batch",
                                      .target = b->stream,
                                      .code = LIENTHONG__ERROR_CODE__ERR_NOT_FOUND,
                                      .why = err});
    return NULL;
}

/* 1 when b, on link, cannot follow on `at` (the cursor it must chain
 * from) because it is stale: counted as discarded, and an overlap calls
 * for a new Subscribe. 0 when b is the next batch. */
static int s_batch_stale(lt_feed_t *self, lt_feed_replica_t *f, const Lienthong__Batch *b,
                         const void *link, int ahead, const lt_stream_t *at)
{
    if (f->applying && f->ahead_gen == f->sub_gen && !ahead) {
        /* Batches of this subscription wait for a row the cursor left (a
         * resynchronisation or a snapshot swapped in): they will not run,
         * and their replica subscribes again; until then what comes is
         * stale, not a gap. */
        f->discarded++;
        return 1;
    }
    if ((ahead && (f->deferred || link != f->ahead_link)) || f->state != LT_FEED_LIVE ||
        b->first_seq <= at->last_seq) {
        f->discarded++; /* stale: from before a re-subscribe, or a duplicate */
        if (!f->deferred && f->state == LT_FEED_LIVE && b->n_records > 0 &&
            b->first_seq <= at->last_seq && b->first_seq + b->n_records - 1 > at->last_seq &&
            (!ahead || link == f->ahead_link))
            s_verdict(self, f, b, 0, NULL);
        return 1;
    }
    if (f->stale_ahead && b->first_seq != at->last_seq + 1) {
        f->discarded++; /* the old subscription's, sent before the new began */
        return 1;
    }
    return 0;
}

/* 0 when b is the owner's, signed and chained on `at`, and of the history
 * of what comes before it (its new batch hash and root written); else -1,
 * the replica told why (a verdict, or stopped on a fork). */
static int s_batch_trusted(lt_feed_t *self, lt_feed_replica_t *f, const Lienthong__Batch *b,
                           int ahead, const lt_stream_t *at, uint8_t hash[LT_HASH_BYTES],
                           uint8_t root[LT_HASH_BYTES])
{
    char err[400];
    if (s_verify(self, f, at, b, hash, root, err, sizeof err) != 0) {
        s_verdict(self, f, b, 1, err);
        return -1;
    }
    if (ahead && b->history_id.len == LT_HISTORY_BYTES && f->ahead.has_history &&
        memcmp(b->history_id.data, f->ahead.history, LT_HISTORY_BYTES) != 0) {
        /* Another history than the batches before it, not yet durable: a
         * failure among them would be the first cause. Once they commit,
         * the feed stops and subscribes again, and the owner's answer
         * tells of the fork (PROTOCOL.md 6.9). */
        s_verdict(self, f, b, 1, "batch on another history than the batches before it");
        return -1;
    }
    if (lt_feed_history_other(self, f, at, &b->history_id, b->first_seq + b->n_records - 1) != 0)
        return -1; /* forked: stopped, nothing applied */
    return 0;
}

/* The job that applies the checked b from `at`, carrying the leaves
 * s_verify left in self->leaves, which the next batch overwrites. NULL out
 * of memory (the replica backs off). */
static lt_feed_apply_t *s_batch_job(lt_feed_t *self, lt_feed_replica_t *f,
                                    const Lienthong__Batch *b, const lt_stream_t *at,
                                    const void *link, const uint8_t hash[LT_HASH_BYTES],
                                    const uint8_t root[LT_HASH_BYTES])
{
    /* s_verify held n_records to LT_BATCH_MAX_RECORDS, the leaves' room. */
    size_t leaves = b->n_records * LT_HASH_BYTES;
    lt_feed_apply_t *job = malloc(sizeof *job + leaves);
    if (!job) {
        lt_feed_replica_backoff(self, f, "out of memory", 0, 1);
        return NULL;
    }
    memset(job, 0, sizeof *job);
    memcpy(job->leaves, self->leaves, leaves);
    snprintf(job->stream, sizeof job->stream, "%s", f->stream->name);
    job->b = b;
    job->cursor = *at;
    memcpy(job->hash, hash, LT_HASH_BYTES);
    memcpy(job->root, root, LT_HASH_BYTES);
    job->arena = self->arena;
    job->link = link;
    job->sub_gen = f->sub_gen;
    job->cursor_gen = f->cursor_gen;
    job->rc = 1; /* not run */
    return job;
}

lt_feed_apply_t *lt_feed_batch_check(lt_feed_t *self, const char *owner, const Lienthong__Batch *b,
                                     const void *link)
{
    lt_feed_apply_t *job = NULL;
    uint8_t hash[LT_HASH_BYTES], root[LT_HASH_BYTES];
    lt_feed_replica_t *f = s_batch_replica(self, owner, b);
    if (!f)
        goto out;
    /* The batches of a replica being committed all came on one link; the
     * next follows on the cursor they will leave. One on another link came
     * on a link that replaced theirs: it is stale like one from before a
     * re-subscribe, and the idle re-subscribe or the next overlap asks for
     * it again. */
    int ahead = s_ahead_live(f);
    const lt_stream_t *at = ahead ? &f->ahead : &f->cursor;
    if (s_batch_stale(self, f, b, link, ahead, at) ||
        s_batch_trusted(self, f, b, ahead, at, hash, root) != 0)
        goto out;
    job = s_batch_job(self, f, b, at, link, hash, root);
    if (job)
        s_ahead(f, job, link);
out:
    return job;
}

/* The batch of job committed: the replica's cursor moves, what follows it
 * learns, and the owner gets the credit back. */
static void s_applied(lt_feed_t *self, lt_feed_replica_t *f, const lt_feed_apply_t *job)
{
    const Lienthong__Batch *b = job->b;
    f->cursor = job->next;
    if (f->resyncing) {
        /* The stream shows its old content until the copy is complete. */
        if (job->next.last_seq >= f->resync_target)
            lt_feed_history_applied(self, f);
    } else {
        /* A cursor without a history took the batch's (s_apply_job): the
         * same records, which its sinks' Delivers now name (PROTOCOL.md 8.2). */
        f->stream->has_history = job->next.has_history;
        memcpy(f->stream->history, job->next.history, sizeof f->stream->history);
        lt_feed_stream_grew(self, f->stream, job->next.last_seq, b->n_records);
        lt_stats_set(f->st_cursor, (int64_t)job->next.last_seq);
        lt_stats_set_double(f->st_lag, (double)(lt_clock_now_ms() - b->signed_at_ms) / 1000.0);
    }
    if (job->sub_gen != f->sub_gen || f->state != LT_FEED_LIVE)
        return; /* subscribed again or stopped meanwhile: the credit is not owed */
    lt_feed_replica_progress(self, f);
    f->stale_ahead = 0;
    f->last_batch_at = lt_clock_mono_ms();
    void *sock = lt_peers_link(self->ctx->peers, f->owner);
    if (sock && sock == job->link) {
        lt_feed_replica_credit(f, sock, b->n_records);
        return;
    }
    /* The link it came on was replaced meanwhile (a new key, a lost peer):
     * the owner holds no subscription on the new one, where credit would be
     * refused. Subscribe there from the cursor now durable. */
    lt_info("feed", "link to %s replaced while a batch of %s committed: subscribing again",
            f->owner, f->stream->name);
    s_subscribe(self, f);
}

void lt_feed_batch_done(lt_feed_t *self, lt_feed_apply_t **job_p)
{
    lt_feed_apply_t *job = *job_p;
    if (!job)
        return;
    *job_p = NULL;
    lt_feed_replica_t *f = lt_feed_replica_find(self, job->stream);
    /* A replica removed meanwhile (a reload settles the writer first, so
     * this is defensive): what committed stays in the store, where a
     * replica added back reads its cursor. */
    if (job->rc == 0 && job->took_us >= 0) /* one per commit, which a group shares */
        lt_stats_observe_us(self->st_commit, job->took_us);
    /* As a publish group does (lt_publish): the store can write again once
     * a transaction commits, and cannot since one failed for it. */
    if (job->rc == 0)
        lt_stats_set(self->st_writable, 1);
    else if (job->rc < 0 && job->cannot_write)
        lt_stats_set(self->st_writable, 0);
    if (f && f->applying) {
        f->applying--;
        int ours = job->sub_gen == f->sub_gen && f->state == LT_FEED_LIVE;
        if (job->rc == 0 && (f->cursor_gen != job->cursor_gen || f->cursor.id != job->cursor.id ||
                             f->cursor.last_seq != job->cursor.last_seq)) {
            /* Its cursor was replaced meanwhile (a resynchronisation or a
             * snapshot swapped in): the batch went into the row it started
             * from; the replica asks again from the cursor it now has. A
             * copy started again has the same row and seq 0 as before, but
             * not the records this batch wrote (cursor_gen tells). */
            lt_warn("feed", "replica of %s moved to another cursor while a batch committed%s",
                    job->stream, ours ? ": subscribing again" : "");
            if (ours) /* else it already did, or stopped */
                s_subscribe(self, f);
        } else if (job->rc == 0)
            s_applied(self, f, job);
        else if (job->rc < 0 && ours)
            lt_feed_replica_backoff(self, f, job->err, 0, 1);
        else if (job->rc > 0 && ours) {
            /* Not run (a batch before it failed or was dropped): what the
             * owner sent after the durable cursor is asked for again. */
            lt_info("feed", "batch %s@%llu not applied: subscribing again from seq %llu",
                    job->stream, (unsigned long long)job->b->first_seq,
                    (unsigned long long)f->cursor.last_seq + 1);
            s_subscribe(self, f);
        }
        if (!f->applying)
            s_verdict_run(self, f, job);
    }
    lt_feed_batch_free(&job);
}

void lt_feed_batch_free(lt_feed_apply_t **job_p)
{
    free(*job_p);
    *job_p = NULL;
}

void lt_feed_on_batch(lt_feed_t *self, const char *owner, const Lienthong__Batch *b)
{
    lt_feed_apply_t *job =
        lt_feed_batch_check(self, owner, b, lt_peers_link(self->ctx->peers, owner));
    if (!job)
        return;
    lt_feed_group_t g = {.jobs = {job}, .n = 1};
    lt_feed_group_apply(&g, self->ctx->store);
    lt_feed_batch_done(self, &job);
}

int lt_feed_on_error(lt_feed_t *self, const char *owner, const Lienthong__Error *e)
{
    /* The answer to a Range changes no subscription (PROTOCOL.md 6.10). */
    if (lt_feed_on_range_error(self, owner, e))
        return 1;
    for (size_t i = 0; i < self->n_replicas; i++) {
        lt_feed_replica_t *f = &self->replicas[i];
        size_t sl = strlen(f->stream->name);
        /* Feed errors name the stream first: "STREAM: why". */
        if (f->state == LT_FEED_LIVE && strcmp(f->owner, owner) == 0 &&
            strncmp(e->message, f->stream->name, sl) == 0 && e->message[sl] == ':') {
            /* Not a refusal: the owner ended the subscription a credit
             * was sent for (LT_FEED_NO_SUBSCRIPTION); a new one is taken. */
            int gone = e->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND &&
                       strcmp(e->message + sl + 1, " " LT_FEED_NO_SUBSCRIPTION) == 0;
            int hard = !gone && (e->code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN ||
                                 e->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND);
            char why[400];
            snprintf(why, sizeof why, "%s (%s): %s",
                     gone ? "the owner holds no subscription" : "owner refused",
                     lt_wire_error_name(e->code), e->message);
            lt_feed_replica_backoff(self, f, why, hard ? REFUSED_BACKOFF_MS : 0, 0);
        }
    }
    return 0;
}

/* ---- readers of the replicas (PROTOCOL.md 8.8) ------------------------------------- */

size_t lt_feed_replica_count(const lt_feed_t *self)
{
    return self->n_replicas;
}

/* "behind" and why, when the feed of f may not be current: stopped, or
 * its owner not heard within the heartbeat timeout (3.3). */
static const char *s_behind(lt_feed_t *self, const lt_feed_replica_t *f, const char *owner,
                            lt_feed_replica_info_t *out)
{
    int64_t since = 0;
    int conn =
        owner && self->ctx->peers ? lt_peers_member_state(self->ctx->peers, owner, &since) : -1;
    out->heard_at_ms = conn == 1 ? lt_clock_now_ms() : conn == 0 ? since : 0;
    if (conn != 1) {
        char when[32] = "";
        time_t t = (time_t)(since / 1000);
        struct tm tm;
        if (conn == 0 && gmtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(out->detail, sizeof out->detail, "the owner %s is not connected%s%s",
                 owner ? owner : "?", conn == 0 ? ", last heard at " : " yet", when);
        return "behind";
    }
    if (f->state != LT_FEED_LIVE) {
        snprintf(out->detail, sizeof out->detail, "the feed from %s is %s", owner,
                 f->state == LT_FEED_BACKOFF ? "stopped, re-subscribing" : "not subscribed yet");
        return "behind";
    }
    return "ok";
}

int lt_feed_replica_info(lt_feed_t *self, size_t i, const char *stream, lt_feed_replica_info_t *out)
{
    lt_feed_replica_t *f = stream                 ? lt_feed_replica_find(self, stream)
                           : i < self->n_replicas ? &self->replicas[i]
                                                  : NULL;
    if (!f)
        return -1;
    memset(out, 0, sizeof *out);
    out->stream = f->stream->name;
    out->id = f->stream->id;
    out->last_seq = f->stream->last_seq;
    const char *owner = f->owner[0]      ? f->owner
                        : self->ctx->dir ? lt_feed_owner_of(self->ctx->dir, f->stream->name)
                                         : NULL;
    out->state = s_behind(self, f, owner, out);
    /* A fork or a resynchronisation says more than the link does. */
    if (f->state == LT_FEED_FORKED) {
        out->state = "forked";
        snprintf(out->detail, sizeof out->detail, "%s", f->fork_detail);
    } else if (f->resyncing) {
        out->state = "resyncing";
        snprintf(out->detail, sizeof out->detail,
                 "the content before the fork, until the copy (%" PRIu64 " of %" PRIu64
                 " records) replaces it",
                 f->cursor.last_seq, f->resync_target);
    }
    return 0;
}

void lt_feed_read_damaged(lt_feed_t *self, const char *stream, uint64_t seq)
{
    lt_feed_replica_t *f = lt_feed_replica_find(self, stream);
    if (f)
        lt_feed_damaged(self, f->stream, seq);
}

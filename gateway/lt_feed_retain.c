/* lt_feed_retain: retention of each stream's log (PROTOCOL.md 6.8).
 *
 * The current state is kept whole; the log keeps a tail bounded by the
 * retain_records and retain_days settings. Older rows are pruned from the
 * poll loop's tick, a bounded step at a time (LT_RETAIN_STEP_ROWS rows of
 * one stream in one transaction), so that neither publishing nor feeds
 * wait behind a large delete. A row that is still the current version of
 * a live key stays (it is the state); a tombstone leaves with its key. A
 * version kept so may be superseded later: a sweep over the rows below the
 * tail, in the same bounded steps, deletes those (when the stream has
 * grown, at most every LT_RETAIN_SWEEP_MS). A damaged record at the tail
 * (failing its checksum, or passing it but not decoding) stops the pruning
 * of its stream there until it is repaired. */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS (24LL * 3600 * 1000)
/* Pruning held by a damaged record tries again this long after: a replica
 * fetches the record again within seconds; an owner's waits for an
 * operator (docs/operations.md "Damaged store"). */
#define DAMAGED_RETRY_MS 60000

/* One log row examined by a step. */
typedef struct {
    uint64_t seq;
    int64_t changed_at_ms;
    int deleted;
    char key[LT_RECORD_KEY_MAX + 1];
} row_t;

typedef struct {
    row_t *rows;
    size_t n;
    int tail;         /* reading the tail, not sweeping below it */
    uint64_t garbled; /* the tail's row that does not decode, 0: none */
} step_t;

/* What a record that passes its checksum but does not decode is, when
 * reported as damage. */
#define WHY_GARBLED "checksum matches, but it does not decode as a record"

/* An lt_store_rec_fn: notes what pruning needs of one row. A row that
 * does not decode is damaged, treated as one failing its checksum is: the
 * sweep leaves it (lt_store_scan skips those), the tail's read stops
 * before it (s_step). */
static int s_row(void *arg, uint64_t seq, const void *rec, size_t len,
                 const uint8_t leaf[LT_HASH_BYTES])
{
    (void)leaf;
    step_t *s = arg;
    Lienthong__Record *r = lt_feed_record_decode(seq, rec, len, s->tail ? &s->garbled : NULL);
    if (!r)
        return s->tail ? -1 : 0;
    row_t *row = &s->rows[s->n++];
    row->seq = seq;
    row->changed_at_ms = r->changed_at_ms;
    row->deleted = r->deleted;
    snprintf(row->key, sizeof row->key, "%s", r->key);
    lienthong__record__free_unpacked(r, NULL);
    return 0;
}

/* The first seq the settings keep for st now (tail_first if none may go). */
static uint64_t s_cutoff(const lt_feed_t *self, const lt_feed_stream_t *st)
{
    const lt_gwcfg_t *cfg = self->ctx->cfg;
    if (cfg->retain_records == 0 && cfg->retain_days == 0)
        return st->tail_first;
    uint64_t keep = (uint64_t)cfg->retain_records, cut = st->last_seq + 1;
    if (keep && st->last_seq >= keep)
        cut = st->last_seq - keep + 1;
    else if (keep)
        cut = 1;
    /* A snapshot being sent reads on; one that ended lately is followed
     * by the tail from S + 1, which its subscriber has yet to fetch. */
    uint64_t floor = lt_feed_snap_floor(self, st);
    return cut < floor ? cut : floor;
}

/* Deletes what may go of one examined row: the row unless it is a live
 * key's current version, and a tombstone's state row with it. Returns 1
 * when the row stays, 0 when it went, -1 on a store failure. */
static int s_prune_row(lt_store_t *store, int64_t stream, const row_t *row)
{
    uint64_t seq;
    int deleted, found = lt_store_state_get(store, stream, row->key, &seq, &deleted);
    int current = found == 1 && seq == row->seq;
    if (found < 0 || (current && row->deleted && lt_store_state_delete(store, stream, row->key)))
        return -1;
    if (current && !row->deleted)
        return 1;
    return lt_store_log_delete(store, stream, row->seq) == 0 ? 0 : -1;
}

/* Prunes what may go of the rows read into s, in order, up to the first
 * the day bound keeps; in one transaction. Returns the seq after the last
 * row examined (from when none was), or 0 on a store failure; counts the
 * rows kept in *kept. */
static uint64_t s_prune_rows(lt_store_t *store, int64_t stream, const step_t *s, int64_t young,
                             uint64_t from, uint64_t *kept)
{
    if (lt_store_begin(store) != 0)
        return 0;
    uint64_t next = from;
    for (size_t i = 0; i < s->n && s->rows[i].changed_at_ms < young; i++) {
        int rc = s_prune_row(store, stream, &s->rows[i]);
        if (rc < 0)
            return 0;
        *kept += rc == 1;
        next = s->rows[i].seq + 1;
    }
    return next;
}

/* The record at st's tail is damaged: unread, it cannot be told whether
 * it is a live key's current version, which must stay (PROTOCOL.md 6.8),
 * so neither it nor anything after it is pruned until it is repaired. It
 * is reported as damage (lt_feed_damaged: logged once, saying so too, and
 * a replica asks its owner for it again), and the stream's pruning waits
 * a while. garbled: the record that passes its checksum but does not
 * decode, 0 when the store reported the damage. */
static int s_held(lt_feed_t *self, lt_feed_stream_t *st, int64_t now, uint64_t garbled)
{
    st->prune_wait_at = now + DAMAGED_RETRY_MS;
    if (garbled)
        lt_feed_damaged_why(self, st, garbled, WHY_GARBLED);
    else
        lt_feed_damaged(self, st, lt_store_damaged_seq(self->ctx->store));
    return 0;
}

/* Reads the rows of one step into s, from `from`: of the tail, or of the
 * sweep below it (*last: the sweep's last row examined). The number read,
 * or < 0 (LT_STORE_DAMAGED among them). */
static int s_read_step(lt_store_t *store, const lt_feed_stream_t *st, step_t *s, uint64_t from,
                       size_t max, uint64_t *last)
{
    int n = !s->rows  ? -1
            : s->tail ? lt_store_read(store, st->id, from, max, SIZE_MAX, s_row, s)
                      : lt_store_scan(store, st->id, from, st->tail_first, max, s_row, s, last);
    /* A row of the tail that does not decode ends the read as a checksum
     * failure does: the rows before it are pruned, and it is reported when
     * a read starts at it. */
    if (n < 0 && s->garbled && s->n > 0)
        n = (int)s->n;
    return n;
}

/* A tail step committed, the tail now starting at next: 1 when it moved,
 * so that more may be due soon. */
static int s_tail_done(lt_feed_stream_t *st, uint64_t next, uint64_t kept)
{
    st->kept_below += kept;
    int rc = next > st->tail_first;
    if (rc)
        lt_debug("feed", "%s: log kept from seq %llu", st->name, (unsigned long long)next);
    st->tail_first = next;
    return rc;
}

/* A sweep step committed: a full step (1) goes on after the last row
 * examined (a damaged row skipped is counted, not taken for the end); a
 * short one (0) ends the sweep, and the next waits LT_RETAIN_SWEEP_MS. */
static int s_sweep_done(lt_feed_stream_t *st, int full, uint64_t last, uint64_t kept, int64_t now)
{
    st->sweep_seq = full ? last + 1 : 0;
    st->sweep_kept += kept;
    if (!full) {
        st->kept_below = st->sweep_kept;
        st->sweep_at = now + LT_RETAIN_SWEEP_MS;
    }
    return full;
}

/* One step at the tail, or else of the sweep below it, of stream st (cut
 * from s_cutoff). In one transaction. Returns 1 when more is due soon, 0
 * when not, -1 on a store failure (logged). */
static int s_step(lt_feed_t *self, lt_feed_stream_t *st, uint64_t cut, int64_t now)
{
    lt_store_t *store = self->ctx->store;
    const lt_gwcfg_t *cfg = self->ctx->cfg;
    int tail = cut > st->tail_first, rc = -1;
    int64_t young =
        tail && cfg->retain_days ? lt_clock_now_ms() - cfg->retain_days * DAY_MS : INT64_MAX;
    uint64_t from = tail ? st->tail_first : st->sweep_seq;
    uint64_t want = tail ? cut - st->tail_first : LT_RETAIN_STEP_ROWS;
    step_t s = {.rows = calloc(LT_RETAIN_STEP_ROWS, sizeof(row_t)), .tail = tail};
    size_t max = want < LT_RETAIN_STEP_ROWS ? (size_t)want : LT_RETAIN_STEP_ROWS;
    uint64_t last = 0; /* the sweep's last row examined, a damaged one included */
    int n = s_read_step(store, st, &s, from, max, &last);
    if (n == LT_STORE_DAMAGED || (n < 0 && s.garbled)) { /* only the tail's read */
        rc = s_held(self, st, now, n < 0 ? s.garbled : 0);
        goto out;
    }
    uint64_t kept = 0;
    uint64_t next = n < 0 ? 0 : s_prune_rows(store, st->id, &s, young, from, &kept);
    if (next == 0 ||
        (tail && next > st->tail_first &&
         (lt_store_tail_set(store, st->id, next) != 0 ||
          lt_store_batch_prune(store, st->id, next) != 0)) ||
        lt_store_commit(store) != 0)
        goto out;
    rc = tail ? s_tail_done(st, next, kept) : s_sweep_done(st, (size_t)n == max, last, kept, now);
out:
    if (rc < 0) {
        lt_error("feed", "store: cannot prune %s: %s", st->name, lt_store_error(store));
        lt_store_rollback(store);
    }
    free(s.rows);
    return rc;
}

/* 1 when a sweep below st's tail runs or is due: the stream grew enough
 * since the last one started, which was long enough ago. None while a
 * snapshot of st is being sent, or its subscriber catches up after it
 * (lt_feed_snap_floor): they come first. Another stream's snapshot
 * does not hold it back: its read transaction sees the store as it was
 * when it began whatever is deleted since, as the tail pruning, which
 * goes on meanwhile, already relies on. */
static int s_sweep_due(const lt_feed_t *self, lt_feed_stream_t *st, int64_t now)
{
    if (lt_feed_snap_floor(self, st) != UINT64_MAX)
        return 0;
    if (st->sweep_seq)
        return 1;
    uint64_t grown = st->last_seq - st->swept_last;
    if (st->tail_first <= 1 || now < st->sweep_at || grown < LT_RETAIN_SWEEP_MIN ||
        grown < st->kept_below / 2)
        return 0;
    st->sweep_seq = 1;
    st->sweep_kept = 0;
    st->swept_last = st->last_seq;
    return 1;
}

void lt_feed_retain_tick(lt_feed_t *self)
{
    int64_t now = lt_clock_mono_ms();
    if (now < self->prune_at || self->n_streams == 0)
        return;
    self->prune_at = now + LT_RETAIN_IDLE_MS;
    for (size_t k = 0; k < self->n_streams; k++) {
        lt_feed_stream_t *st = &self->streams[(self->prune_next + k) % self->n_streams];
        uint64_t cut = s_cutoff(self, st);
        if (now < st->prune_wait_at || (cut <= st->tail_first && !s_sweep_due(self, st, now)))
            continue;
        if (s_step(self, st, cut, now) > 0)
            self->prune_at = now + LT_RETAIN_BUSY_MS; /* more may be due: soon again */
        self->prune_next = (self->prune_next + k + 1) % self->n_streams;
        return;
    }
}

void lt_feed_retain_status(lt_feed_t *self, const lt_feed_stream_t *st, Lienthong__StreamStatus *ss)
{
    ss->retained_first = st->tail_first;
    uint8_t *rec = NULL;
    size_t len = 0;
    if (st->tail_first > st->last_seq ||
        lt_store_get(self->ctx->store, st->id, st->tail_first, &rec, &len) != 1)
        return;
    Lienthong__Record *r = lienthong__record__unpack(NULL, len, rec);
    if (r) {
        ss->retained_since_ms = r->changed_at_ms;
        lienthong__record__free_unpacked(r, NULL);
    }
    free(rec);
}

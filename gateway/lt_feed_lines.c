/* lt_feed_lines: the owner's subscriber lines kept in the store (schema
 * step 12, docs/ARCHITECTURE.md 4.1), so that a consumer down across the
 * owner's restart keeps its line in status and its lag statistics
 * (docs/operations.md "State"). The lines are written as a whole by the
 * writer thread, off the feed's path: soon when one came, went or
 * changed reason (at most every LT_FEED_LINES_GAP_MS), else at most every
 * LT_FEED_LINES_MS; loaded at start as ended lines, none written before
 * they were. */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_crypto.h"
#include "lt_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Why a line connected when the gateway stopped (or crashed) ended. */
#define LINES_RESTARTED "gateway restarted"

/* The text of one line, which the job's rows point into. */
typedef struct {
    char member[LT_ID_MAX];
    char reason[sizeof((lt_feed_gone_t *)0)->reason];
    uint8_t history[LT_HISTORY_BYTES];
} line_text_t;

/* The lines as the poll loop last took them, handed to the writer thread:
 * only one of the two touches it at a time (lt_writer.h). */
struct _lt_feed_lines_job_t {
    lt_store_sub_t *rows;
    line_text_t *text;
    size_t n, cap;
    uint8_t sum[LT_HASH_BYTES]; /* digest of the lines, without the times last seen */
    int live;                   /* some line is connected */
    int rc;                     /* the save's result */
    char err[256];              /* why it failed, read on the writer's connection */
};

/* ---- kept or dropped ------------------------------------------------------------ */

/* 1 when a line of member on stream may stay: the member is listed and may
 * subscribe to a stream this member owns. A member suspended or revoked
 * stays listed, and keeps its line. */
static int s_kept(lt_feed_t *self, const char *member, const char *stream)
{
    char why[512];
    return lt_dir_member(self->ctx->dir, member) != NULL &&
           lt_feed_may_subscribe(self, member, stream, why, sizeof why) ==
               LIENTHONG__ERROR_CODE__ERR_NONE;
}

void lt_feed_lines_prune(lt_feed_t *self)
{
    for (size_t i = 0; i < self->n_gone;) {
        lt_feed_gone_t *g = &self->gone[i];
        if (s_kept(self, g->member, g->stream->name)) {
            i++;
            continue;
        }
        lt_info("feed",
                "subscriber line of %s on %s dropped: not a subscriber of it in "
                "directory version %llu",
                g->member, g->stream->name, (unsigned long long)lt_dir_version(self->ctx->dir));
        /* The registry keeps a series once made: its three read 0 from
         * now on, so that an alert on the lag stops with the line and no
         * cursor is shown for a line that is no more. */
        const char *labels[] = {g->stream->name, g->member};
        if (!lt_feed_subscribed(self, g->member, g->stream)) {
            lt_stats_set(lt_stats_series(self->f_sub_cursor, labels), 0);
            lt_stats_set(lt_stats_series(self->f_sub_lag, labels), 0);
            lt_stats_set_double(lt_stats_series(self->f_sub_lag_time, labels), 0);
        }
        lt_feed_gone_drop(self, g);
    }
}

/* ---- loading -------------------------------------------------------------------- */

typedef struct {
    lt_feed_t *feed;
    size_t loaded, dropped, no_room;
} load_t;

/* 1 when member has a line on st already: one of this run, newer than the
 * stored one (a load tried again after a failure). */
static int s_has_line(const lt_feed_t *self, const char *member, const lt_feed_stream_t *st)
{
    for (size_t i = 0; i < self->n_gone; i++)
        if (self->gone[i].stream == st && strcmp(self->gone[i].member, member) == 0)
            return 1;
    return lt_feed_subscribed(self, member, st);
}

/* The lines come newest first (lt_store_subs): those past the room the
 * feed has are the oldest. */
static int s_load_one(void *arg, const char *stream, const lt_store_sub_t *l)
{
    load_t *ld = arg;
    lt_feed_t *self = ld->feed;
    lt_feed_stream_t *st = NULL;
    if (strlen(l->member) >= LT_ID_MAX || !s_kept(self, l->member, stream) ||
        !(st = lt_feed_stream(self, stream))) {
        ld->dropped++;
        return 0;
    }
    if (s_has_line(self, l->member, st))
        return 0;
    if (self->n_gone >= LT_FEED_MAX_SUBS) {
        ld->no_room++;
        return 0;
    }
    int ended = l->since_ms > 0;
    lt_feed_gone_t *g =
        lt_feed_gone_put(self, l->member, st, l->cursor, ended ? l->since_ms : l->seen_ms,
                         ended && l->reason ? l->reason : LINES_RESTARTED);
    /* Its stream was given a new history since (a store restored, then
     * checked at start): its cursor counts on the old numbering. */
    if (l->history && st->has_history && memcmp(l->history, st->history, LT_HISTORY_BYTES) != 0)
        lt_feed_gone_renumbered(g, NULL);
    ld->loaded++;
    return 0;
}

void lt_feed_lines_load(lt_feed_t *self)
{
    load_t ld = {.feed = self};
    if (lt_store_subs(self->ctx->store, s_load_one, &ld) != 0) {
        /* Written over, the stored lines would be lost: kept until read. */
        if (!self->lines_unread)
            lt_error("feed",
                     "cannot read the subscriber lines from the store: %s; none written until "
                     "they are read, tried again every %d s",
                     lt_store_error(self->ctx->store), LT_FEED_LINES_MS / 1000);
        self->lines_unread = 1;
        return;
    }
    if (self->lines_unread)
        lt_info("feed", "subscriber lines read from the store at last");
    self->lines_unread = 0;
    self->lines_loaded = 1;
    if (ld.loaded || ld.dropped || ld.no_room)
        lt_info("feed",
                "%zu subscriber line(s) loaded from the store, shown disconnected until their "
                "members subscribe again; %zu dropped (no longer subscribers here); %zu oldest "
                "dropped (more than %d ended lines)",
                ld.loaded, ld.dropped, ld.no_room, LT_FEED_MAX_SUBS);
    /* Lines connected at the stop are ended now: written so at once. */
    self->lines_dirty = 1;
}

/* ---- saving --------------------------------------------------------------------- */

/* Adds one line to job (room made by the caller). */
static void s_row(struct _lt_feed_lines_job_t *job, const lt_feed_stream_t *st, const char *member,
                  uint64_t cursor, int64_t seen_ms, int64_t since_ms, const char *reason)
{
    line_text_t *t = &job->text[job->n];
    lt_store_sub_t *r = &job->rows[job->n++];
    snprintf(t->member, sizeof t->member, "%s", member);
    snprintf(t->reason, sizeof t->reason, "%s", reason ? reason : "");
    memcpy(t->history, st->history, sizeof t->history);
    *r = (lt_store_sub_t){.stream = st->id,
                          .member = t->member,
                          .cursor = cursor,
                          .history = st->has_history ? t->history : NULL,
                          .seen_ms = seen_ms,
                          .since_ms = since_ms,
                          .reason = reason ? t->reason : NULL};
    /* Chained: the digest so far, then what of the line a save keeps. */
    const uint8_t *bufs[] = {job->sum,
                             (const uint8_t *)&st->id,
                             (const uint8_t *)t->member,
                             (const uint8_t *)&cursor,
                             (const uint8_t *)&since_ms,
                             (const uint8_t *)t->reason,
                             r->history ? t->history : (const uint8_t *)""};
    const size_t lens[] = {sizeof job->sum,
                           sizeof st->id,
                           strlen(t->member) + 1,
                           sizeof cursor,
                           sizeof since_ms,
                           strlen(t->reason) + 1,
                           r->history ? sizeof t->history : 1};
    lt_crypto_hashv(bufs, lens, sizeof lens / sizeof lens[0], job->sum);
}

/* Takes the lines into job: the ended ones, then the live ones (a live
 * line replaces an ended one of the same member and stream). -1 when out
 * of memory. */
static int s_take(lt_feed_t *self, struct _lt_feed_lines_job_t *job)
{
    size_t need = self->n_gone + self->n_subs;
    if (need > job->cap) {
        lt_store_sub_t *rows = realloc(job->rows, need * sizeof *rows);
        if (rows)
            job->rows = rows;
        line_text_t *text = rows ? realloc(job->text, need * sizeof *text) : NULL;
        if (!text)
            return -1;
        job->text = text;
        job->cap = need;
    }
    int64_t now = lt_clock_now_ms();
    job->n = 0;
    /* Seeded, so that no set of lines has the all-zero digest that
     * lt_feed_lines_done leaves after a failed save. */
    lt_crypto_hash((const uint8_t *)"subscriber lines", 16, job->sum);
    job->live = self->n_subs > 0;
    for (size_t i = 0; i < self->n_gone; i++) {
        const lt_feed_gone_t *g = &self->gone[i];
        s_row(job, g->stream, g->member, g->cursor, g->since_ms, g->since_ms, g->reason);
    }
    for (size_t i = 0; i < self->n_subs; i++) {
        const lt_feed_sub_t *s = &self->subs[i];
        s_row(job, s->stream, s->member, s->next - 1, now, 0, NULL);
    }
    return 0;
}

void *lt_feed_lines_job(lt_feed_t *self)
{
    int64_t now = lt_clock_mono_ms();
    if (self->lines_busy || now < self->lines_gap_at)
        return NULL;
    if (!self->lines_loaded) { /* read again at each look, never written over */
        if (now < self->lines_at)
            return NULL;
        self->lines_at = now + LT_FEED_LINES_MS;
        lt_feed_lines_load(self);
        if (!self->lines_loaded)
            return NULL;
    }
    if (!self->lines_dirty && now < self->lines_at)
        return NULL;
    self->lines_at = now + LT_FEED_LINES_MS;
    struct _lt_feed_lines_job_t *job = self->lines_job;
    if (!job && !(job = self->lines_job = calloc(1, sizeof *job)))
        return NULL; /* tried again at the next look */
    if (s_take(self, job) != 0)
        return NULL;
    /* Nothing but the time last seen changed: that much, once a minute. */
    if (!self->lines_dirty && memcmp(job->sum, self->lines_sum, sizeof job->sum) == 0 &&
        (!job->live || now - self->lines_saved_at < LT_FEED_LINES_IDLE_MS))
        return NULL;
    self->lines_dirty = 0;
    self->lines_busy = 1;
    /* Lines changed in a loop (a member subscribing and unsubscribing)
     * wait for the gap, the writer left to the groups and batches. */
    self->lines_gap_at = now + LT_FEED_LINES_GAP_MS;
    /* Handed back without running (the writer refused it), it failed. */
    job->rc = -1;
    snprintf(job->err, sizeof job->err, "the writer thread did not take the job");
    return job;
}

void lt_feed_lines_run(void *arg, lt_store_t *store)
{
    struct _lt_feed_lines_job_t *job = arg;
    if (!store) { /* the writer cannot open the store (lt_writer_resume) */
        job->rc = -1;
        snprintf(job->err, sizeof job->err, "store unavailable");
        return;
    }
    job->rc = lt_store_subs_save(store, job->rows, job->n);
    /* Read on the connection that failed; logged by the poll loop. */
    snprintf(job->err, sizeof job->err, "%s", job->rc ? lt_store_error(store) : "");
}

int lt_feed_lines_is(const lt_feed_t *self, const void *job)
{
    return job && job == self->lines_job;
}

void lt_feed_lines_done(lt_feed_t *self, void *arg)
{
    struct _lt_feed_lines_job_t *job = arg;
    self->lines_busy = 0;
    if (job->rc != 0) {
        if (!self->lines_failing)
            lt_warn("feed",
                    "cannot write the subscriber lines to the store: %s; tried again every %d s",
                    job->err, LT_FEED_LINES_MS / 1000);
        /* Tried again at the next look, whatever changed meanwhile. */
        memset(self->lines_sum, 0, sizeof self->lines_sum);
        self->lines_failing = 1;
        return;
    }
    if (self->lines_failing)
        lt_info("feed", "subscriber lines written to the store again");
    self->lines_failing = 0;
    memcpy(self->lines_sum, job->sum, sizeof job->sum);
    self->lines_saved_at = lt_clock_mono_ms();
}

void lt_feed_lines_flush(lt_feed_t *self)
{
    if (self->lines_busy) /* the writer did not hand it back: it may still run */
        return;
    self->lines_dirty = 1;
    self->lines_at = 0;
    self->lines_gap_at = 0; /* the last chance: no gap */
    void *job = lt_feed_lines_job(self);
    if (!job && !self->lines_loaded)
        lt_warn("feed",
                "subscriber lines of this run not written at the stop: the stored ones "
                "could never be read (the error logged at start); they are kept as they were");
    if (!job)
        return;
    lt_feed_lines_run(job, self->ctx->store);
    lt_feed_lines_done(self, job);
}

void lt_feed_lines_free(lt_feed_t *self)
{
    if (!self->lines_job)
        return;
    free(self->lines_job->rows);
    free(self->lines_job->text);
    free(self->lines_job);
    self->lines_job = NULL;
}

/* lt_feed: the streams this gateway holds, reading them from the log, and
 * what the poll loop calls (pump, tick, status). The three roles live in
 * lt_feed_owner.c, lt_feed_replica.c and lt_feed_sink.c. */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_gwstats.h"
#include "lt_log.h"
#include "lt_publish.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- streams -------------------------------------------------------------- */

lt_feed_stream_t *lt_feed_stream_find(const lt_feed_t *self, const char *name)
{
    for (size_t i = 0; i < self->n_streams; i++)
        if (strcmp(self->streams[i].name, name) == 0)
            return (lt_feed_stream_t *)&self->streams[i];
    return NULL;
}

lt_feed_stream_t *lt_feed_stream(lt_feed_t *self, const char *name)
{
    lt_feed_stream_t *found = lt_feed_stream_find(self, name);
    if (found)
        return found;
    if (self->n_streams >= LT_FEED_MAX_STREAMS || strlen(name) >= sizeof self->streams[0].name)
        return NULL;
    lt_stream_t st;
    if (lt_store_stream(self->ctx->store, name, &st) != 0) {
        lt_error("feed", "store: cannot open stream %s: %s", name,
                 lt_store_error(self->ctx->store));
        return NULL;
    }
    uint64_t tail_first;
    if (lt_store_tail_first(self->ctx->store, st.id, &tail_first) != 0) {
        lt_error("feed", "store: cannot read the tail of %s: %s", name,
                 lt_store_error(self->ctx->store));
        return NULL;
    }
    lt_feed_stream_t *s = &self->streams[self->n_streams++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    lt_feed_stream_load(s, &st, tail_first);
    s->rate_at = lt_clock_mono_ms();
    /* Looked up once here; a stream name over the bound counts as `other`. */
    const char *label[] = {s->name};
    s->st_last_seq = lt_stats_series(self->f_last_seq, label);
    s->st_appended = lt_stats_series(self->f_appended, label);
    s->rate_seq = lt_gwstats_counter(s->st_appended);
    lt_stats_set(s->st_last_seq, (int64_t)s->last_seq);
    return s;
}

void lt_feed_stream_load(lt_feed_stream_t *st, const lt_stream_t *row, uint64_t tail_first)
{
    st->id = row->id;
    st->last_seq = row->last_seq;
    st->has_history = row->has_history;
    memcpy(st->history, row->history, sizeof st->history);
    st->tail_first = tail_first;
    /* A sweep or a damaged range found was of the rows that are gone. */
    st->sweep_seq = st->swept_last = st->kept_below = st->sweep_kept = 0;
    st->sweep_at = 0;
    st->prune_wait_at = 0;
    st->damaged_first = st->damaged_last = st->repair_first = 0;
    st->repair_at = 0;
    st->repair_rid = 0;
    st->repair_waiting = 0;
    st->recheck_at = st->recheck_wait = 0;
}

void lt_feed_stream_grew(lt_feed_t *self, lt_feed_stream_t *st, uint64_t last_seq,
                         uint64_t appended)
{
    lt_stats_add(st->st_appended, appended);
    st->last_seq = last_seq;
    lt_stats_set(st->st_last_seq, (int64_t)last_seq);
    for (size_t i = 0; i < self->n_subs; i++)
        if (self->subs[i].stream == st)
            lt_feed_sub_gauges(&self->subs[i]);
}

void lt_feed_owned_grew(lt_feed_t *self, lt_feed_stream_t *st, uint64_t last_seq, uint64_t appended)
{
    lt_feed_stream_grew(self, st, last_seq, appended);
    self->generation++;
}

void lt_feed_advanced(void *arg, const char *stream, uint64_t last_seq, uint64_t appended,
                      lt_fresh_run_t **fresh)
{
    lt_feed_t *self = arg;
    /* A stream first opened here already holds the group: appended says
     * how many records it added. */
    lt_feed_stream_t *s = lt_feed_stream(self, stream);
    if (!s)
        return;
    if (fresh && *fresh)
        lt_fresh_put(self->fresh, fresh); /* before anything is sent from it */
    lt_feed_owned_grew(self, s, last_seq, appended);
}

const char *lt_feed_owner_of(const lt_dir_t *dir, const char *stream)
{
    const Lienthong__Dataset *ds = lt_dir_dataset_of(dir, stream);
    return ds ? ds->owner : NULL;
}

/* Records per second appended to each stream (read from its counter),
 * over the last second or more. */
static void s_rates(lt_feed_t *self, int64_t now)
{
    for (size_t i = 0; i < self->n_streams; i++) {
        lt_feed_stream_t *s = &self->streams[i];
        if (now - s->rate_at >= 1000) {
            uint64_t appended = lt_gwstats_counter(s->st_appended);
            s->rate = (double)(appended - s->rate_seq) * 1000.0 / (double)(now - s->rate_at);
            s->rate_seq = appended;
            s->rate_at = now;
        }
    }
}

/* A family of this module, labelled by stream and, for subscriptions, by
 * subscriber. */
static int s_family(lt_stats_t *stats, lt_stats_family_t **f, const char *name, const char *help,
                    lt_stats_kind_t kind, int by_subscriber, size_t max_series)
{
    lt_stats_def_t def = {.name = name,
                          .help = help,
                          .kind = kind,
                          .unit = kind == LT_STATS_GAUGE_DOUBLE ? LT_STATS_UNIT_SECONDS
                                                                : LT_STATS_UNIT_NONE,
                          .n_labels = by_subscriber ? 2 : 1,
                          .labels = {"stream", "subscriber"},
                          .max_series = max_series};
    return lt_stats_register(stats, &def, f) == 0 ? 0 : -1;
}

/* The owner's side: streams held here and the subscriptions to them. */
static int s_register_streams(lt_feed_t *self, lt_stats_t *st)
{
    int rc = 0;
    rc |= s_family(st, &self->f_last_seq, "lienthong_stream_last_seq",
                   "Last durable sequence number of a stream held here", LT_STATS_GAUGE, 0,
                   LT_FEED_MAX_STREAMS);
    rc |= s_family(st, &self->f_appended, "lienthong_stream_appended",
                   "Records appended to a stream here (published, or applied from its owner)",
                   LT_STATS_COUNTER, 0, LT_FEED_MAX_STREAMS);
    rc |= s_family(st, &self->f_sub_cursor, "lienthong_subscriber_cursor",
                   "Owner: last sequence number sent to a subscriber", LT_STATS_GAUGE, 1,
                   LT_FEED_MAX_SUBS);
    rc |= s_family(st, &self->f_sub_lag, "lienthong_subscriber_lag",
                   "Owner: records of the stream not yet sent to a subscriber", LT_STATS_GAUGE, 1,
                   LT_FEED_MAX_SUBS);
    return rc;
}

/* The consumer's side: one series per replica. */
static int s_register_replicas(lt_feed_t *self, lt_stats_t *st)
{
    int rc = 0;
    rc |= s_family(st, &self->f_rep_cursor, "lienthong_replica_cursor",
                   "Consumer: durable cursor (last applied sequence number) of a replica",
                   LT_STATS_GAUGE, 0, LT_GWCFG_MAX_SUBS);
    rc |= s_family(st, &self->f_rep_lag, "lienthong_replica_lag",
                   "Consumer: age of the last applied batch when applied (now minus the owner's "
                   "signed_at_ms, so it includes the difference between the two clocks)",
                   LT_STATS_GAUGE_DOUBLE, 0, LT_GWCFG_MAX_SUBS);
    rc |= s_family(st, &self->f_rep_forked, "lienthong_replica_forked",
                   "Consumer: 1 while a replica's feed is stopped because its owner's history "
                   "changed (PROTOCOL.md 6.9), until it is resynchronised",
                   LT_STATS_GAUGE, 0, LT_GWCFG_MAX_SUBS);
    rc |= s_family(st, &self->f_rep_forks, "lienthong_replica_forks",
                   "Consumer: times a replica's owner announced another history than the "
                   "replica's (PROTOCOL.md 6.9); each one starts a full copy from seq 1 with "
                   "`resync = \"auto\"`",
                   LT_STATS_COUNTER, 0, LT_GWCFG_MAX_SUBS);
    rc |= s_family(st, &self->f_rep_damaged, "lienthong_replica_damaged",
                   "Consumer: records of a replica known damaged in the store, not delivered until "
                   "repaired (PROTOCOL.md 6.10)",
                   LT_STATS_GAUGE, 0, LT_GWCFG_MAX_SUBS);
    rc |= s_family(st, &self->f_rep_repair_resyncs, "lienthong_replica_repair_resyncs",
                   "Consumer: resynchronisations by snapshot of a replica whose damaged records "
                   "the owner no longer keeps (PROTOCOL.md 6.10)",
                   LT_STATS_COUNTER, 0, LT_GWCFG_MAX_SUBS);
    rc |= s_family(st, &self->f_rep_overlaps, "lienthong_replica_overlaps",
                   "Consumer: batches that overlapped a replica's cursor (PROTOCOL.md 6.6); the "
                   "first of a row is answered by subscribing again at once, each after it by a "
                   "wait; a row ends after an hour without one, or with a batch or snapshot "
                   "applied a minute or more after the wait its last got",
                   LT_STATS_COUNTER, 0, LT_GWCFG_MAX_SUBS);
    rc |= s_family(st, &self->f_rep_restarts, "lienthong_replica_snapshot_restarts",
                   "Consumer: snapshots an owner started again at index 0 while one was being "
                   "received, with a first chunk that passed its checks (PROTOCOL.md 6.7; one "
                   "that fails them stops the feed as any failed check); the first of a row is "
                   "taken at once, each after it stops the feed for a wait; rows end as for "
                   "overlaps",
                   LT_STATS_COUNTER, 0, LT_GWCFG_MAX_SUBS);
    return rc;
}

/* Every family first, then the shared series: a failure in any is found
 * once at the end, as the gateway refuses to start on it whichever it is. */
static int s_register(lt_feed_t *self, lt_stats_t *st)
{
    int rc = 0;
    rc |= s_register_streams(self, st);
    rc |= s_register_replicas(self, st);
    rc |= lt_feed_quality_register(self, st);
    self->st_commit = lt_gwstats_commit(st, "replica");
    if ((self->st_writable = lt_gwstats_store_writable(st)))
        lt_stats_set(self->st_writable, 1); /* at the start: no transaction yet */
    return rc || !self->st_commit || !self->st_writable ? -1 : 0;
}

/* ---- construction ---------------------------------------------------------- */

/* A replica's received record, decoded (lt_arena.h): a Record with its
 * key and payload fits one block. */
#define FEED_ARENA_BLOCK (16u << 10)

lt_feed_t *lt_feed_new(const lt_gwctx_t *ctx)
{
    const lt_gwcfg_t *cfg = ctx->cfg;
    lt_feed_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    lt_feed_limits_changed(self);
    self->tail = lt_tail_new(ctx->stats, (size_t)cfg->tail_batches, (size_t)cfg->tail_bytes);
    self->fresh = lt_fresh_new(LT_FRESH_BYTES, LT_FRESH_RUNS);
    self->arena = lt_arena_new(FEED_ARENA_BLOCK, 0);
    self->leaves = malloc((size_t)LT_BATCH_MAX_RECORDS * LT_HASH_BYTES);
    self->stop_log = lt_feed_replica_stop_log(self);
    if (!self->tail || !self->fresh || !self->arena || !self->leaves || !self->stop_log ||
        s_register(self, ctx->stats) != 0) {
        lt_feed_destroy(&self);
        return NULL;
    }
    /* lt_gwcfg refuses a stream subscribed twice; skipped here too, as a
     * reload does (lt_feed_replica_add), never two replicas of one stream. */
    for (size_t i = 0; i < cfg->n_subs; i++)
        if (!lt_feed_replica_find(self, cfg->subs[i].stream) &&
            lt_feed_replica_open(self, cfg->subs[i].stream) != 0) {
            lt_feed_destroy(&self);
            return NULL;
        }
    /* The lines of subscribers before the views are compared: a view
     * rebuilt now renumbers them (lt_feed_owner_renumbered). */
    lt_feed_lines_load(self);
    /* A directory newer than the one the views were derived with may have
     * arrived while the gateway was stopped. */
    lt_feed_views_sync(self, NULL);
    return self;
}

int lt_feed_writer_settle(lt_feed_t *self, const char *why)
{
    if (!self->ctx->writer || lt_writer_settle(self->ctx->writer) == 0)
        return 0;
    lt_error("feed", "the writer thread did not hand its job back: cannot %s", why);
    return -1;
}

void lt_feed_limits_changed(lt_feed_t *self)
{
    size_t max = self->ctx->cfg->max_message;
    /* Half the frame cap, so that a full batch with its envelope always fits. */
    self->batch_bytes = max / 2 < LT_BATCH_MAX_BYTES ? max / 2 : LT_BATCH_MAX_BYTES;
    /* Cached batches were cut to the old limits: all go (lt_tail.h). */
    const lt_gwcfg_t *cfg = self->ctx->cfg;
    if (self->tail &&
        lt_tail_limits(self->tail, (size_t)cfg->tail_batches, (size_t)cfg->tail_bytes) != 0)
        lt_error("feed", "no memory for a tail of %lld batches; batches are read from the store",
                 cfg->tail_batches);
}

void lt_feed_destroy(lt_feed_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_feed_t *self = *self_p;
    for (size_t i = 0; i < self->n_subs; i++)
        lt_feed_snap_free(self, &self->subs[i].snap);
    for (size_t i = 0; i < self->n_sinks; i++)
        lt_feed_snap_free(self, &self->sinks[i].snap);
    for (size_t i = 0; i < self->n_replicas; i++)
        lt_feed_stage_free(&self->replicas[i]);
    free(self->chunk.buf);
    lt_feed_lines_free(self);
    lt_dirpick_retired_clear(&self->retired);
    lt_tail_destroy(&self->tail);
    lt_fresh_destroy(&self->fresh);
    lt_arena_destroy(&self->arena);
    free(self->leaves);
    if (self->stop_log)
        lt_tally_flush(self->stop_log); /* the counts not yet written */
    lt_tally_destroy(&self->stop_log);
    free(self);
    *self_p = NULL;
}

/* ---- reading the log ----------------------------------------------------------- */

int lt_feed_chunk_add(void *arg, uint64_t seq, const void *rec, size_t len,
                      const uint8_t leaf[LT_HASH_BYTES])
{
    (void)seq;
    return lt_batch_recs_add_leaf(arg, rec, len, leaf);
}

int64_t lt_feed_chunk_want(const lt_feed_t *self, const lt_feed_stream_t *st, uint64_t seq,
                           int64_t max)
{
    if (max > LT_BATCH_MAX_RECORDS)
        max = LT_BATCH_MAX_RECORDS;
    if (max > self->ctx->cfg->batch_max)
        max = self->ctx->cfg->batch_max;
    if (max > 0 && seq + (uint64_t)max - 1 > st->last_seq)
        max = seq > st->last_seq ? 0 : (int64_t)(st->last_seq - seq + 1);
    return max;
}

/* Reads up to max records (already within their bounds) and bytes of st
 * from seq into self->chunk, emptied first: as lt_feed_chunk_read. */
static int s_chunk_read(lt_feed_t *self, lt_feed_stream_t *st, uint64_t seq, int64_t max,
                        size_t bytes)
{
    lt_feed_chunk_t *c = &self->chunk;
    lt_batch_recs_reset(c);
    if (max <= 0)
        return 0;
    if (lt_feed_damage_cap(self, st, seq, &max) != 0)
        return LT_STORE_DAMAGED;
    /* Records committed a moment ago are sent from memory (lt_fresh.h). */
    int n = lt_fresh_read(self->fresh, st->id, seq, (size_t)max, bytes, lt_feed_chunk_add, c);
    if (n == 0)
        n = lt_store_read(self->ctx->store, st->id, seq, (size_t)max, bytes, lt_feed_chunk_add, c);
    if (n == LT_STORE_DAMAGED)
        lt_feed_damaged(self, st, lt_store_damaged_seq(self->ctx->store));
    else if (n < 0)
        lt_error("feed", "store: cannot read %s from %llu: %s", st->name, (unsigned long long)seq,
                 lt_store_error(self->ctx->store));
    return n;
}

int lt_feed_chunk_read(lt_feed_t *self, lt_feed_stream_t *st, uint64_t seq, int64_t max)
{
    return s_chunk_read(self, st, seq, lt_feed_chunk_want(self, st, seq, max), self->batch_bytes);
}

int lt_feed_chunk_read_range(lt_feed_t *self, lt_feed_stream_t *st, uint64_t first, uint64_t last)
{
    /* A range repeats a batch the consumer applied, cut by the settings of
     * its day: under today's batch_max, or half of max_message, it might
     * never be sent again. The protocol's limits (PROTOCOL.md 6.2) and the
     * frame bound it, as the feed's own check (lt_feed_owner.c). */
    size_t frame = self->ctx->cfg->max_message - LT_BATCH_OVERHEAD;
    size_t bytes = frame < LT_BATCH_MAX_BYTES ? frame : LT_BATCH_MAX_BYTES;
    /* The bounds come from a peer's request: refused with their reason
     * where it arrives (lt_feed_repair.c, PROTOCOL.md 6.10), and checked
     * again here, so that no caller can read past them. */
    if (!lt_feed_range_fits(st, first, last)) {
        lt_error("feed", "%s: records %llu..%llu are not a range that can be read (last is %llu)",
                 st->name, (unsigned long long)first, (unsigned long long)last,
                 (unsigned long long)st->last_seq);
        return LT_FEED_RANGE_BAD;
    }
    return s_chunk_read(self, st, first, (int64_t)(last - first + 1), bytes);
}

int lt_feed_range_fits(const lt_feed_stream_t *st, uint64_t first, uint64_t last)
{
    return first >= 1 && first <= last && last <= st->last_seq &&
           last - first < LT_BATCH_MAX_RECORDS;
}

/* ---- the poll loop's calls -------------------------------------------------------- */

int lt_feed_pump(lt_feed_t *self, void *peer_sock, void *local_sock)
{
    int sent = 0;
    if (peer_sock)
        sent += lt_feed_owner_pump(self, peer_sock);
    if (local_sock)
        sent += lt_feed_sink_pump(self, local_sock);
    return sent;
}

void lt_feed_tick(lt_feed_t *self)
{
    lt_feed_replica_tick(self);
    lt_feed_owner_tick(self);
    lt_feed_sink_tick(self);
    lt_feed_retain_tick(self);
    lt_feed_repair_tick(self);
    lt_feed_views_tick(self);
    s_rates(self, lt_clock_mono_ms());
}

/* ---- status ------------------------------------------------------------------------ */

/* An owner's durable source cursor, from the store (a status request is
 * rare; the feed does not keep it): a source adapter checks at start that
 * its change ids have not been restarted below it (PROTOCOL.md 8.3). */
static void s_status_cursor(lt_feed_t *self, lt_feed_stream_t *st, Lienthong__StreamStatus *ss)
{
    lt_stream_t cur;
    if (strcmp(ss->role, "owner") != 0 ||
        lt_store_stream_find(self->ctx->store, st->name, &cur) != 1 || cur.source_cursor == 0)
        return;
    snprintf(st->source_cursor, sizeof st->source_cursor, "%llu",
             (unsigned long long)cur.source_cursor);
    ss->source_cursor = (char *)st->source_cursor;
}

/* After a restart the feed knows a dataset this member owns only once it is
 * published, subscribed or attached to; status lists every owned dataset
 * that has records, so that a starting source adapter finds its cursor, and
 * every view of one, whose quality figures it shows (PROTOCOL.md 8.9). */
static void s_status_owned(lt_feed_t *self)
{
    const Lienthong__Directory *d = self->ctx->dir ? lt_dir_get(self->ctx->dir) : NULL;
    const char *me = self->ctx->cfg->member;
    lt_stream_t cur;
    size_t owned = 0;
    for (size_t i = 0; d && i < d->n_datasets; i++) {
        const Lienthong__Dataset *ds = d->datasets[i];
        if (strcmp(ds->owner, me) != 0)
            continue;
        owned++;
        if (lt_store_stream_find(self->ctx->store, ds->id, &cur) == 1)
            (void)lt_feed_stream(self, ds->id);
    }
    /* A member that owns no dataset owns no view: status requests (an
     * operator's monitoring polls them) then cost no walk of the views. */
    for (size_t i = 0; d && owned && i < d->n_views; i++) {
        const Lienthong__Dataset *ds = lt_dir_dataset(self->ctx->dir, d->views[i]->dataset);
        if (ds && strcmp(ds->owner, me) == 0 &&
            lt_store_stream_find(self->ctx->store, d->views[i]->id, &cur) == 1)
            (void)lt_feed_stream(self, d->views[i]->id);
    }
}

/* "owner", "replica", or for a replica a reload unsubscribed "replica
 * (unsubscribed)": its data stays, but nothing updates it. */
static char *s_role(lt_feed_t *self, const lt_feed_stream_t *st)
{
    if (lt_feed_replica_find(self, st->name))
        return "replica";
    const char *owner = self->ctx->dir ? lt_feed_owner_of(self->ctx->dir, st->name) : NULL;
    if (owner && strcmp(owner, self->ctx->cfg->member) != 0)
        return "replica (unsubscribed)";
    return "owner";
}

static void s_grants_free(Lienthong__StatusReply *r)
{
    if (!r->grants)
        return;
    free(r->grants->datasets);
    free(r->grants->views);
    free(r->grants->replicated);
    /* One block holds every entry (s_status_types): types[0] is it. */
    if (r->grants->types)
        free(r->grants->types[0]);
    free(r->grants->types);
    free(r->grants);
    r->grants = NULL;
}

/* Room for n names in *list (at least one, so that calloc never returns
 * NULL for zero). 0, or -1 when out of memory. */
static int s_names(char ***list, size_t n)
{
    *list = calloc(n ? n : 1, sizeof **list);
    return *list ? 0 : -1;
}

/* The record type the directory declares for each of g's datasets (dir),
 * so that a source checks its own before its first Publish rather than
 * learn it from a refusal (PROTOCOL.md 8.1, 8.3). The entries share one
 * block, types[0]; none for no dataset. 0, or -1 when out of memory. */
static int s_status_types(Lienthong__LocalGrants *g, const lt_dir_t *dir)
{
    size_t n = g->n_datasets;
    if (n == 0)
        return 0;
    Lienthong__DatasetType *e = calloc(n, sizeof *e);
    if (!e || !(g->types = calloc(n, sizeof *g->types))) {
        free(e);
        return -1;
    }
    g->types[0] = e;
    for (size_t i = 0; i < n; i++) {
        const Lienthong__Dataset *ds = lt_dir_dataset(dir, g->datasets[i]);
        lienthong__dataset_type__init(&e[i]);
        e[i].dataset = g->datasets[i];
        e[i].record_type = ds ? ds->record_type : "";
        g->types[g->n_types++] = &e[i];
    }
    return 0;
}

/* The datasets and views the directory lists as this member's, and the
 * streams this gateway replicates: what a source may publish and a sink may
 * attach to (PROTOCOL.md 8.1, 8.2), so that an adapter can tell a misspelt
 * name from a dataset without records yet (8.3), with each dataset's record
 * type. Out of memory, the lists are left out (an adapter then cannot
 * check, which it says), or only the types (a source then learns a wrong
 * one from a refusal, as from a gateway older than the field); logged. */
static void s_status_grants(lt_feed_t *self, Lienthong__StatusReply *r)
{
    const Lienthong__Directory *d = self->ctx->dir ? lt_dir_get(self->ctx->dir) : NULL;
    const char *me = self->ctx->cfg->member;
    size_t nd = d ? d->n_datasets : 0, nv = d ? d->n_views : 0;
    size_t nr = lt_feed_replica_count(self);
    Lienthong__LocalGrants *g = r->grants = calloc(1, sizeof *g);
    if (g)
        lienthong__local_grants__init(g);
    if (!g || s_names(&g->datasets, nd) || s_names(&g->views, nv) || s_names(&g->replicated, nr)) {
        lt_warn("feed", "status: out of memory: the streams granted are left out");
        s_grants_free(r);
        return;
    }
    for (size_t i = 0; i < nd; i++)
        if (strcmp(d->datasets[i]->owner, me) == 0)
            g->datasets[g->n_datasets++] = d->datasets[i]->id;
    for (size_t i = 0; i < nv; i++) {
        const char *owner = lt_feed_owner_of(self->ctx->dir, d->views[i]->id);
        if (owner && strcmp(owner, me) == 0)
            g->views[g->n_views++] = d->views[i]->id;
    }
    for (size_t i = 0; i < nr; i++)
        g->replicated[g->n_replicated++] = self->replicas[i].stream->name;
    if (d && s_status_types(g, self->ctx->dir) != 0)
        lt_warn("feed", "status: out of memory: the datasets' record types are left out");
}

void lt_feed_status(lt_feed_t *self, Lienthong__StatusReply *r)
{
    s_status_owned(self);
    s_status_grants(self, r);
    r->streams = calloc(self->n_streams ? self->n_streams : 1, sizeof *r->streams);
    if (!r->streams)
        return;
    for (size_t i = 0; i < self->n_streams; i++) {
        lt_feed_stream_t *st = &self->streams[i];
        Lienthong__StreamStatus *ss = calloc(1, sizeof *ss);
        if (!ss)
            return;
        lienthong__stream_status__init(ss);
        r->streams[r->n_streams++] = ss;
        ss->stream = st->name;
        ss->last_seq = (uint64_t)lt_gwstats_gauge(st->st_last_seq);
        ss->records_per_sec = st->rate;
        ss->role = s_role(self, st);
        s_status_cursor(self, st, ss);
        if (strcmp(ss->role, "owner") == 0)
            lt_publish_status(self->ctx->stats, st->name, ss);
        lt_feed_retain_status(self, st, ss);
        lt_feed_owner_status(self, st, ss);
        lt_feed_history_status(self, st, ss);
        lt_feed_quality_status(self, st, ss);
        lt_feed_repair_status(st, ss);
    }
}

uint64_t lt_feed_generation(const lt_feed_t *self)
{
    return self->generation;
}

void lt_feed_status_free(Lienthong__StatusReply *r)
{
    s_grants_free(r);
    for (size_t i = 0; i < r->n_streams; i++) {
        free(r->streams[i]->history);
        free(r->streams[i]->damaged);
        lt_feed_quality_status_free(r->streams[i]);
        for (size_t j = 0; j < r->streams[i]->n_subscribers; j++)
            free(r->streams[i]->subscribers[j]);
        free(r->streams[i]->subscribers);
        lt_publish_status_free(r->streams[i]);
        free(r->streams[i]);
    }
    free(r->streams);
    r->streams = NULL;
    r->n_streams = 0;
}

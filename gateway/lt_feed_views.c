/* lt_feed_views: an owner's views follow their definitions in the
 * directory (PROTOCOL.md 6.1, 6.9; docs/ARCHITECTURE.md "Views that
 * change").
 *
 * The write path derives a view's records when a change is published, with
 * the view's definition of the moment, and records that definition with
 * the view's first rows (lt_publish_view_def). At start and whenever a
 * directory is adopted, each view this member owns is compared with the
 * definition its records were derived with. A view whose fields or
 * predicate changed, or that is new to a dataset already holding records,
 * is emptied and derived again from the dataset's current state in one
 * transaction, on a new history: its subscriptions end with HistoryChanged
 * so that consumers resynchronise, and the batches kept in memory for it
 * are forgotten. No record derived with the old definition (log, state,
 * retained tail, snapshot) is served again. A view the directory no longer
 * lists is emptied, so that listing it again derives it afresh. A rebuild
 * that fails leaves the view unserved (ERR_UNAVAILABLE) until one succeeds;
 * it is tried again every minute and at every adoption and start. */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_history.h"
#include "lt_log.h"
#include "lt_publish.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define VIEWS_RETRY_MS 60000

static void s_audit(lt_feed_t *self, const char *event, const char *stream, const char *detail)
{
    lt_audit_add(self->ctx->audit,
                 &(lt_audit_entry_t){.event = event, .target = stream, .detail = detail});
}

/* The view of the current directory called name when this member owns it. */
static const Lienthong__View *s_owned_view(const lt_feed_t *self, const char *name)
{
    const lt_dir_t *dir = self->ctx->dir;
    const Lienthong__View *v = dir ? lt_dir_view(dir, name) : NULL;
    const char *owner = v ? lt_feed_owner_of(dir, name) : NULL;
    return owner && strcmp(owner, self->ctx->cfg->member) == 0 ? v : NULL;
}

/* The records of st are now row's (an emptied or rebuilt stream): what the
 * feed knew of the old ones goes, and whoever followed them is told. */
static void s_replaced(lt_feed_t *self, void *peer_sock, lt_feed_stream_t *st,
                       const lt_stream_t *row, const char *why)
{
    uint8_t was[LT_HISTORY_BYTES];
    int had = st->has_history;
    memcpy(was, st->history, sizeof was);
    lt_feed_stream_load(st, row, 1);
    lt_tail_forget(self->tail, st->id);
    lt_fresh_forget(self->fresh, st->id);
    lt_feed_owned_grew(self, st, row->last_seq, 0);
    lt_feed_sink_replaced(self, st);
    lt_feed_owner_replaced(self, peer_sock, st, had ? was : NULL, why);
    lt_feed_owner_renumbered(self, st, why);
}

/* Marks st stale or not, keeping the count lt_feed_view_stale reads. */
static void s_set_stale(lt_feed_t *self, lt_feed_stream_t *st, int stale)
{
    if (st->stale == stale)
        return;
    st->stale = stale;
    if (stale)
        self->n_stale++;
    else
        self->n_stale--;
}

int lt_feed_view_stale(const lt_feed_t *self, const char *view)
{
    const lt_feed_stream_t *st = self->n_stale ? lt_feed_stream_find(self, view) : NULL;
    return st ? st->stale : 0;
}

const char *lt_feed_view_stale_text(char *buf, size_t len, const char *view)
{
    snprintf(buf, len, "%s: view definition changed; rebuilding", view);
    return buf;
}

/* Not served until a rebuild succeeds; whoever follows it is told why. */
static void s_stale(lt_feed_t *self, void *peer_sock, lt_feed_stream_t *st, const char *err)
{
    char detail[700];
    snprintf(detail, sizeof detail,
             "definition changed but the view cannot be rebuilt (%.500s); "
             "not served until it is",
             err);
    lt_error("feed", "view %s: %s", st->name, detail);
    s_audit(self, "view-stale", st->name, detail);
    s_set_stale(self, st, 1);
    self->views_retry_at = lt_clock_mono_ms() + VIEWS_RETRY_MS;
    lt_tail_forget(self->tail, st->id);
    lt_fresh_forget(self->fresh, st->id);
    lt_feed_owner_replaced(self, peer_sock, st, NULL, "view definition changed; rebuilding");
}

/* Derives view v's stream from ds with definition def in one transaction:
 * emptied first and on a new history unless it is empty (fresh), when no
 * number of it was ever used. */
static int s_rebuild_store(lt_feed_t *self, const Lienthong__Dataset *ds, const Lienthong__View *v,
                           const lt_feed_stream_t *st, int fresh, const uint8_t def[LT_HASH_BYTES],
                           lt_stream_t *row, char *err, size_t errlen)
{
    lt_store_t *store = self->ctx->store;
    int64_t newest = 0;
    snprintf(err, errlen, "store: %s", lt_store_error(store));
    if (lt_store_begin(store) != 0)
        return -1;
    /* Numbered in key order: the newest change is kept beside the
     * definition for the quality figures (PROTOCOL.md 8.9). */
    if ((!fresh && (lt_store_stream_clear(store, st->id) != 0 ||
                    lt_store_history_set(store, st->id, NULL, NULL) != 0)) ||
        lt_publish_view_fill(store, ds, v, lt_dir_version(self->ctx->dir), row, &newest, err,
                             errlen) != 0 ||
        lt_store_view_def_set(store, st->id, def) != 0 ||
        lt_store_view_newest_set(store, st->id, newest) != 0 || lt_store_commit(store) != 0) {
        if (strncmp(err, "store: ", 7) == 0)
            snprintf(err, errlen, "store: %s", lt_store_error(store));
        lt_store_rollback(store);
        return -1;
    }
    return 0;
}

/* What a rebuild means to the consumers of the view (PROTOCOL.md 6.9). */
static const char *s_consumers_note(int fresh, int again)
{
    if (!fresh)
        return "; its consumers resynchronise (those with resync = \"manual\" stop until "
               "`lienthong resync`)";
    /* Its row may be one emptied when it was no longer listed (s_empty),
     * which the store cannot tell from one that never held a record: a
     * consumer still holding what it received then is on a history that
     * is gone. */
    if (again)
        return "; if it was listed before, consumers holding its earlier records resynchronise "
               "(those with resync = \"manual\" stop until `lienthong resync`)";
    return "";
}

/* Rebuilds view v of ds (lt_publish_view_fill), then tells the feed. again:
 * the view has a stream row without records, maybe one emptied when a
 * directory no longer listed it. */
static void s_rebuild(lt_feed_t *self, void *peer_sock, const Lienthong__Dataset *ds,
                      const Lienthong__View *v, const uint8_t def[LT_HASH_BYTES],
                      const char *reason, int again)
{
    char err[512], why[300], detail[900], was[LT_HISTORY_HEX], now[LT_HISTORY_HEX];
    lt_feed_stream_t *st = lt_feed_stream(self, v->id);
    lt_stream_t row;
    if (!st)
        return; /* logged; nothing of it is served without its stream */
    uint64_t old_last = st->last_seq;
    int fresh = old_last == 0; /* nobody holds a record of it: no new history */
    lt_history_hex(st->history, st->has_history, was);
    int64_t t0 = lt_clock_mono_ms();
    if (s_rebuild_store(self, ds, v, st, fresh, def, &row, err, sizeof err) != 0) {
        s_stale(self, peer_sock, st, err);
        return;
    }
    s_set_stale(self, st, 0);
    if (fresh && lt_feed_history_own(self, st) == 0) {
        /* Given now rather than at the first Subscribe, so that the log
         * names the history its consumers will be on. */
        memcpy(row.history, st->history, sizeof row.history);
        row.has_history = 1;
    }
    snprintf(why, sizeof why, "view %s in directory version %" PRIu64 "; rebuilt", reason,
             lt_dir_version(self->ctx->dir));
    snprintf(detail, sizeof detail,
             "%s from %s: %" PRIu64 " records on history %s (was seq %" PRIu64
             " on history %s) in %" PRId64 " ms%s",
             why, ds->id, row.last_seq, lt_history_hex(row.history, row.has_history, now), old_last,
             was, lt_clock_mono_ms() - t0, s_consumers_note(fresh, again));
    if (fresh)
        lt_feed_owned_grew(self, st, row.last_seq, row.last_seq);
    else
        s_replaced(self, peer_sock, st, &row, why);
    lt_log(fresh && !again ? LT_LOG_INFO : LT_LOG_WARN, "feed", "view %s: %s", v->id, detail);
    s_audit(self, "view-rebuilt", v->id, detail);
}

/* View name holds nothing derived with another definition than the
 * directory's: served again if it was not (lt_feed_view_stale). */
static void s_served(lt_feed_t *self, const char *name)
{
    lt_feed_stream_t *st = lt_feed_stream_find(self, name);
    if (st)
        s_set_stale(self, st, 0);
}

/* Records def as the definition of st's existing records. 0, or -1. */
static int s_adopt_def(lt_feed_t *self, int64_t id, const char *name,
                       const uint8_t def[LT_HASH_BYTES])
{
    lt_store_t *store = self->ctx->store;
    if (lt_store_begin(store) != 0 || lt_store_view_def_set(store, id, def) != 0 ||
        lt_store_commit(store) != 0) {
        lt_error("feed", "view %s: cannot record its definition: %s", name, lt_store_error(store));
        lt_store_rollback(store);
        return -1;
    }
    lt_info("feed", "view %s: definition recorded for the records it holds", name);
    return 0;
}

/* 1 when the dataset ds has records, 0 when not, -1 on a store error. */
static int s_has_records(lt_store_t *store, const char *ds)
{
    lt_stream_t row;
    int found = lt_store_stream_find(store, ds, &row);
    return found < 0 ? -1 : found && row.last_seq > 0;
}

/* Compares owned view v with the definition its records were derived with. */
static void s_check(lt_feed_t *self, void *peer_sock, const Lienthong__View *v)
{
    lt_store_t *store = self->ctx->store;
    const Lienthong__Dataset *ds = lt_dir_dataset(self->ctx->dir, v->dataset);
    uint8_t def[LT_HASH_BYTES], had[LT_HASH_BYTES];
    lt_stream_t row = {0};
    int found = ds ? lt_store_stream_find(store, v->id, &row) : -1, known = 0;
    if (found > 0)
        known = lt_store_view_def_get(store, row.id, had);
    if (found < 0 || known < 0 || lt_publish_view_def(ds, v, def) != 0) {
        /* It may hold what the directory no longer allows: not served until
         * the comparison can be made. */
        char err[300];
        snprintf(err, sizeof err, "cannot compare it with its definition: %.250s",
                 lt_store_error(store));
        lt_feed_stream_t *st = lt_feed_stream(self, v->id);
        if (st)
            s_stale(self, peer_sock, st, err);
        return;
    }
    if (known && memcmp(had, def, sizeof def) == 0) {
        /* A directory that puts back the definition the records were
         * derived with makes them servable again. */
        s_served(self, v->id);
        return;
    }
    if (known) {
        s_rebuild(self, peer_sock, ds, v, def, "definition changed", 0);
        return;
    }
    /* Records from before definitions were kept were derived with the
     * directory of their time, which the gateway had adopted: the current
     * one. */
    if (row.last_seq > 0) {
        /* A view made stale by a comparison that failed is served again
         * once it succeeds. */
        if (s_adopt_def(self, row.id, v->id, def) == 0)
            s_served(self, v->id);
        return;
    }
    /* New (or listed again): derived from what its dataset already holds;
     * with nothing there, its first published record records it, and the
     * empty view holds nothing of another definition. A stream row of it
     * without records may be one emptied when it was no longer listed
     * (s_empty): its consumers may hold what it had then. */
    int has = s_has_records(store, ds->id);
    if (has > 0)
        s_rebuild(self, peer_sock, ds, v, def, "new", found);
    else if (has == 0)
        s_served(self, v->id);
    else
        lt_error("feed", "view %s: store: %s", v->id, lt_store_error(store));
}

/* ---- views no longer listed --------------------------------------------------- */

typedef struct {
    char (*names)[LT_STREAM_ID_MAX];
    size_t n, cap;
    lt_feed_t *feed;
} gone_t;

/* Collects the streams with a definition that are no longer owned views
 * (lt_store_name_fn); acted on once the walk ends. */
static int s_gone_add(void *arg, const char *name)
{
    gone_t *g = arg;
    if (s_owned_view(g->feed, name) || !lt_history_owned(g->feed->ctx->cfg, name) ||
        strlen(name) >= LT_STREAM_ID_MAX)
        return 0;
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 8;
        char(*p)[LT_STREAM_ID_MAX] = realloc(g->names, cap * sizeof *p);
        if (!p)
            return -1;
        g->names = p;
        g->cap = cap;
    }
    snprintf(g->names[g->n++], LT_STREAM_ID_MAX, "%s", name);
    return 0;
}

/* Empties the stream of a view the directory no longer lists: it is not
 * served, and listing it again must not bring back what it held. */
static void s_empty(lt_feed_t *self, void *peer_sock, const char *name)
{
    lt_store_t *store = self->ctx->store;
    lt_stream_t row;
    if (lt_store_stream_find(store, name, &row) != 1 || lt_store_begin(store) != 0 ||
        lt_store_stream_clear(store, row.id) != 0 || lt_store_commit(store) != 0) {
        lt_error("feed", "view %s: no longer listed, cannot be emptied: %s", name,
                 lt_store_error(store));
        lt_store_rollback(store);
        return;
    }
    char detail[160];
    snprintf(detail, sizeof detail,
             "no longer in directory version %" PRIu64 "; its %" PRIu64 " records removed",
             lt_dir_version(self->ctx->dir), row.last_seq);
    lt_warn("feed", "view %s: %s", name, detail);
    s_audit(self, "view-emptied", name, detail);
    lt_feed_stream_t *st = lt_feed_stream_find(self, name);
    lt_stream_t empty = {.id = row.id};
    if (st)
        s_replaced(self, peer_sock, st, &empty, "view no longer in the directory");
}

static void s_sync_gone(lt_feed_t *self, void *peer_sock)
{
    gone_t g = {.feed = self};
    if (lt_store_view_defs(self->ctx->store, s_gone_add, &g) != 0)
        lt_error("feed", "cannot list the views' definitions: %s",
                 lt_store_error(self->ctx->store));
    else
        for (size_t i = 0; i < g.n; i++)
            s_empty(self, peer_sock, g.names[i]);
    free(g.names);
}

void lt_feed_views_sync(lt_feed_t *self, void *peer_sock)
{
    const Lienthong__Directory *d = self->ctx->dir ? lt_dir_get(self->ctx->dir) : NULL;
    if (!d)
        return;
    self->views_retry_at = 0; /* set again by any rebuild that fails */
    s_sync_gone(self, peer_sock);
    for (size_t i = 0; i < d->n_views; i++)
        if (s_owned_view(self, d->views[i]->id))
            s_check(self, peer_sock, d->views[i]);
}

int lt_feed_views_due(const lt_feed_t *self)
{
    return self->views_retry_at && lt_clock_mono_ms() >= self->views_retry_at;
}

void lt_feed_views_tick(lt_feed_t *self)
{
    /* Never beside a writer's job: one committed before the rebuild and
     * taken back after it would be answered on the rebuilt view
     * (lt_feed_views_due). */
    if (lt_feed_views_due(self) && (!self->ctx->writer || !lt_writer_busy(self->ctx->writer)))
        lt_feed_views_sync(self, NULL);
}

/* lt_feed_quality: how complete and how live each stream is (PROTOCOL.md
 * 8.9), for status replies and the metrics exposition.
 *
 * Completeness is counted by the store on the write path (schema step 6):
 * here it is only read, one small query per stream. Liveness is the age of
 * a stream's newest change and, per subscription, of the oldest record not
 * yet sent: both are read from the changed_at_ms of one stored record when
 * a status or metrics request asks, so nothing runs per change. */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_log.h"
#include "lt_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Series of the field presence family: streams times fields (a record type
 * has tens of fields); beyond it they go to `other` (core/lt_stats.h). */
#define PRESENCE_SERIES 4096

int lt_feed_quality_register(lt_feed_t *self, lt_stats_t *stats)
{
    const lt_stats_def_t records = {.name = "lienthong_stream_records",
                                    .help = "Current (not deleted) records of a stream held here",
                                    .kind = LT_STATS_GAUGE,
                                    .n_labels = 1,
                                    .labels = {"stream"},
                                    .max_series = LT_FEED_MAX_STREAMS};
    const lt_stats_def_t present = {
        .name = "lienthong_stream_field_present",
        /* The share needs the match to ignore field, which the records
         * gauge has not: a plain division matches no series. */
        .help = "Current records of a stream whose field holds a value (not the default); "
                "its share is lienthong_stream_field_present / ignoring(field) group_left "
                "lienthong_stream_records",
        .kind = LT_STATS_GAUGE,
        .n_labels = 2,
        .labels = {"stream", "field"},
        .max_series = PRESENCE_SERIES};
    const lt_stats_def_t age = {
        .name = "lienthong_stream_newest_change_age",
        .help = "Age of the newest change of a stream (now minus the newest changed_at_ms "
                "of its records, the owner's publish time; on a replica it includes the "
                "difference between the two clocks, and is 0 while the owner's is ahead)",
        .kind = LT_STATS_GAUGE_DOUBLE,
        .unit = LT_STATS_UNIT_SECONDS,
        .n_labels = 1,
        .labels = {"stream"},
        .max_series = LT_FEED_MAX_STREAMS};
    const lt_stats_def_t lag = {
        .name = "lienthong_subscriber_lag_time",
        .help = "Owner: age of the oldest record not yet sent to a subscriber, 0 when it is "
                "caught up",
        .kind = LT_STATS_GAUGE_DOUBLE,
        .unit = LT_STATS_UNIT_SECONDS,
        .n_labels = 2,
        .labels = {"stream", "subscriber"},
        .max_series = LT_FEED_MAX_SUBS};
    if (lt_stats_register(stats, &records, &self->f_records) != 0 ||
        lt_stats_register(stats, &present, &self->f_present) != 0 ||
        lt_stats_register(stats, &age, &self->f_newest_age) != 0 ||
        lt_stats_register(stats, &lag, &self->f_sub_lag_time) != 0)
        return -1;
    return 0;
}

/* Records after an unreadable one that the lag of a consumer looks at for
 * one it can read: each costs a read of the log, in a status or metrics
 * request. */
#define LAG_PROBE 64

/* Reads the changed_at_ms of the record at seq of st into *at. Returns 1,
 * 0 when it is not stored (seq 0; a replica's snapshot keeps only the
 * current records) or -1 when it cannot be read (damaged, a store error). */
static int s_changed_at(lt_feed_t *self, const lt_feed_stream_t *st, uint64_t seq, int64_t *at)
{
    uint8_t *rec = NULL;
    size_t len = 0;
    *at = 0;
    int got = seq ? lt_store_get(self->ctx->store, st->id, seq, &rec, &len) : 0;
    if (got != 1)
        return got == 0 ? 0 : -1;
    Lienthong__Record *r = lienthong__record__unpack(NULL, len, rec);
    free(rec);
    if (!r)
        return -1;
    *at = r->changed_at_ms;
    lienthong__record__free_unpacked(r, NULL);
    return 1;
}

/* changed_at_ms of the record at seq of st; 0 when it is not stored or
 * cannot be read. */
static int64_t s_changed_at_or_0(lt_feed_t *self, const lt_feed_stream_t *st, uint64_t seq)
{
    int64_t at;
    return s_changed_at(self, st, seq, &at) == 1 ? at : 0;
}

/* The newest change of st (PROTOCOL.md 8.9): the latest of its last
 * record's, for a view its owner rebuilt in key order the newest of the
 * records the rebuild derived (view_defs), and for a replica the newest of
 * the records it stored (a resynchronisation or a snapshot brings a
 * rebuilt view in key order, and a replica has no view_defs row); 0 when
 * empty or unknown. */
static int64_t s_newest(lt_feed_t *self, const lt_feed_stream_t *st)
{
    int64_t last = s_changed_at_or_0(self, st, st->last_seq), rebuilt = 0, stored = 0;
    if (st->last_seq && (lt_store_view_newest_get(self->ctx->store, st->id, &rebuilt) < 0 ||
                         lt_store_newest_get(self->ctx->store, st->id, &stored) != 0))
        lt_warn("feed", "store: cannot read the newest change of %s: %s", st->name,
                lt_store_error(self->ctx->store));
    int64_t newest = rebuilt > last ? rebuilt : last;
    return stored > newest ? stored : newest;
}

/* Seconds since at_ms (unix ms), never negative; 0 when at_ms is 0. */
static double s_age(int64_t now_ms, int64_t at_ms)
{
    return at_ms > 0 && now_ms > at_ms ? (double)(now_ms - at_ms) / 1000.0 : 0.0;
}

double lt_feed_quality_lag(lt_feed_t *self, const lt_feed_stream_t *st, uint64_t cursor,
                           int64_t now_ms)
{
    if (cursor >= st->last_seq)
        return 0.0;
    /* Below the retained tail the oldest record kept is the best bound. */
    uint64_t seq = cursor + 1 < st->tail_first ? st->tail_first : cursor + 1;
    /* 0 would say caught up: a record that cannot be read (damaged or
     * missing in the owner's log, which also stalls the feed) gives way to
     * the next one that can, changed a little later, so the figure stays a
     * lower bound that grows. */
    for (uint64_t end = seq + LAG_PROBE; seq <= st->last_seq && seq < end; seq++) {
        int64_t at;
        if (s_changed_at(self, st, seq, &at) == 1)
            return s_age(now_ms, at);
    }
    return LT_FEED_LAG_UNKNOWN;
}

/* What the directory says of a stream's fields, looked up once per stream
 * rather than once per field. */
typedef struct {
    const ProtobufCMessageDescriptor *t; /* its record type, or NULL */
    const Lienthong__View *v;            /* the view it is, or NULL (a dataset) */
    const Lienthong__Dataset *ds;        /* its dataset (a view's), or NULL */
} shape_t;

static shape_t s_shape(lt_feed_t *self, const char *stream)
{
    const lt_dir_t *dir = self->ctx->dir;
    shape_t sh = {0};
    sh.v = dir ? lt_dir_view(dir, stream) : NULL;
    sh.ds = dir ? lt_dir_dataset(dir, sh.v ? sh.v->dataset : stream) : NULL;
    sh.t = sh.ds ? lt_schema_find(sh.ds->record_type) : NULL;
    return sh;
}

/* The name of field number f of type t, or "#f" written into buf. */
static const char *s_field_name(const ProtobufCMessageDescriptor *t, unsigned f, char *buf,
                                size_t len)
{
    const ProtobufCFieldDescriptor *fd = t ? protobuf_c_message_descriptor_get_field(t, f) : NULL;
    if (fd)
        return fd->name;
    snprintf(buf, len, "#%u", f);
    return buf;
}

/* 1 when field f is reported for a stream of shape sh: a field of its
 * record type that the stream carries (a view: the fields it keeps and the
 * key), or without a known type any field that has values. */
static int s_reported(const shape_t *sh, unsigned f, uint64_t present)
{
    const ProtobufCFieldDescriptor *fd =
        sh->t ? protobuf_c_message_descriptor_get_field(sh->t, f) : NULL;
    if (!fd)
        return present > 0;
    if (!sh->v)
        return 1;
    if (sh->ds && strcmp(sh->ds->key_field, fd->name) == 0)
        return 1;
    for (size_t i = 0; i < sh->v->n_fields; i++)
        if (strcmp(sh->v->fields[i], fd->name) == 0)
            return 1;
    return present > 0;
}

/* Sets the gauges of st from its counts and its newest change. */
static void s_stream_gauges(lt_feed_t *self, lt_feed_stream_t *st, int64_t now_ms)
{
    lt_store_presence_t p;
    if (lt_store_presence(self->ctx->store, st->id, &p) != 0) {
        lt_warn("feed", "store: cannot read the completeness of %s: %s", st->name,
                lt_store_error(self->ctx->store));
        return;
    }
    const char *label[] = {st->name};
    lt_stats_set(lt_stats_series(self->f_records, label), (int64_t)p.n[0]);
    lt_stats_set_double(lt_stats_series(self->f_newest_age, label),
                        s_age(now_ms, s_newest(self, st)));
    const shape_t sh = s_shape(self, st->name);
    for (unsigned f = 1; f <= LT_PRESENCE_FIELDS; f++) {
        if (!s_reported(&sh, f, p.n[f]))
            continue;
        char buf[16];
        const char *labels[] = {st->name, s_field_name(sh.t, f, buf, sizeof buf)};
        lt_stats_set(lt_stats_series(self->f_present, labels), (int64_t)p.n[f]);
    }
}

void lt_feed_quality_refresh(lt_feed_t *self)
{
    int64_t now = lt_clock_now_ms();
    for (size_t i = 0; i < self->n_streams; i++)
        s_stream_gauges(self, &self->streams[i], now);
    for (size_t i = 0; i < self->n_subs; i++) {
        lt_feed_sub_t *s = &self->subs[i];
        const char *labels[] = {s->stream->name, s->member};
        lt_stats_set_double(lt_stats_series(self->f_sub_lag_time, labels),
                            lt_feed_quality_lag(self, s->stream, s->next - 1, now));
    }
    /* A subscription that ended keeps its line (8.3), its lag growing with
     * the stream: so do its gauges. */
    for (size_t i = 0; i < self->n_gone; i++) {
        const lt_feed_gone_t *g = &self->gone[i];
        if (lt_feed_subscribed(self, g->member, g->stream))
            continue;
        const char *labels[] = {g->stream->name, g->member};
        lt_stats_set(lt_stats_series(self->f_sub_cursor, labels), (int64_t)g->cursor);
        lt_stats_set(lt_stats_series(self->f_sub_lag, labels),
                     (int64_t)lt_feed_behind(g->stream->last_seq, g->cursor));
        lt_stats_set_double(lt_stats_series(self->f_sub_lag_time, labels),
                            lt_feed_quality_lag(self, g->stream, g->cursor, now));
    }
}

/* One FieldPresence line with room for a name made up for it. */
typedef struct {
    Lienthong__FieldPresence fp; /* first: the line is freed through it */
    char name[16];
} line_t;

void lt_feed_quality_status(lt_feed_t *self, const lt_feed_stream_t *st,
                            Lienthong__StreamStatus *ss)
{
    ss->newest_change_ms = s_newest(self, st);
    lt_store_presence_t p;
    Lienthong__StreamCompleteness *c = calloc(1, sizeof *c);
    if (!c || lt_store_presence(self->ctx->store, st->id, &p) != 0) {
        free(c);
        return;
    }
    lienthong__stream_completeness__init(c);
    ss->completeness = c;
    c->records = p.n[0];
    c->fields = calloc(LT_PRESENCE_FIELDS, sizeof *c->fields);
    const shape_t sh = s_shape(self, st->name);
    for (unsigned f = 1; c->fields && f <= LT_PRESENCE_FIELDS; f++) {
        if (!s_reported(&sh, f, p.n[f]))
            continue;
        line_t *l = calloc(1, sizeof *l);
        if (!l)
            return;
        lienthong__field_presence__init(&l->fp);
        l->fp.field = (char *)s_field_name(sh.t, f, l->name, sizeof l->name);
        l->fp.number = f;
        l->fp.present = p.n[f];
        c->fields[c->n_fields++] = &l->fp;
    }
}

void lt_feed_quality_status_free(Lienthong__StreamStatus *ss)
{
    Lienthong__StreamCompleteness *c = ss->completeness;
    for (size_t i = 0; c && i < c->n_fields; i++)
        free(c->fields[i]); /* a line_t */
    if (c)
        free(c->fields);
    free(c);
    ss->completeness = NULL;
}

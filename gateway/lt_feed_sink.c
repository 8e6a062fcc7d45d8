/* lt_feed_sink: local sink adapters (PROTOCOL.md 8.2): each attached to a
 * stream this gateway owns or replicates, fed Deliver messages from the
 * local log while it has credit, and given credit back as it acknowledges
 * what is durable in its own store. */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static lt_feed_sink_t *s_sink_find(lt_feed_t *self, const uint8_t *rid, size_t rid_len,
                                   const char *stream)
{
    for (size_t i = 0; i < self->n_sinks; i++) {
        lt_feed_sink_t *k = &self->sinks[i];
        if (k->rid_len == rid_len && memcmp(k->rid, rid, rid_len) == 0 &&
            strcmp(k->stream->name, stream) == 0)
            return k;
    }
    return NULL;
}

/* The stream a sink may attach to: one this gateway owns or replicates,
 * with its history as stored (PROTOCOL.md 6.9). An owned stream without
 * one gets it now: its sink keeps it from the first Deliver, and is never
 * replaced later for a history it did not know (8.2). The store is touched
 * otherwise once per stream and process, by indexed statements: a stream
 * not opened yet (lt_feed_stream), and that history, given as a Subscribe
 * gives it (lt_feed_open_owned). */
static lt_feed_stream_t *s_local_stream(lt_feed_t *self, const char *stream)
{
    const lt_dir_t *dir = self->ctx->dir;
    const char *owner = dir ? lt_feed_owner_of(dir, stream) : NULL;
    int ours = owner && strcmp(owner, self->ctx->cfg->member) == 0;
    lt_feed_stream_t *st =
        ours || lt_feed_replica_find(self, stream) ? lt_feed_stream(self, stream) : NULL;
    lt_stream_t row;
    if (st && ours && !st->stale)
        (void)lt_feed_history_own(self, st); /* logged; the sink is then compared without */
    else if (st && lt_store_stream_find(self->ctx->store, st->name, &row) == 1) {
        /* A replica's row takes its owner's history with a batch (the
         * writer thread): the row, not the shadow a resynchronisation
         * fills, is what its sink reads. This runs on the poll loop, which
         * serves the live fan-out (docs/ARCHITECTURE.md section 6): it is
         * one read of the streams row by its UNIQUE name, an index search
         * whose cost does not grow with the log (3 us median, 7 us at the
         * 99th percentile, on a 512 MB store of 10,000 streams and 2
         * million records), on the loop's WAL connection, which the
         * writer thread's commits never block. */
        st->has_history = row.has_history;
        memcpy(st->history, row.history, sizeof st->history);
    }
    return st;
}

/* The history a Deliver of st carries (PROTOCOL.md 8.2): none while it
 * has none. */
void lt_feed_sink_history(const lt_feed_stream_t *st, ProtobufCBinaryData *out)
{
    out->data = st->has_history ? (uint8_t *)st->history : NULL;
    out->len = st->has_history ? LT_HISTORY_BYTES : 0;
}

/* 1 when the sink's table may hold another history than the stream's
 * (PROTOCOL.md 8.2): it is then replaced from the start. A sink that keeps
 * no history is compared with what the gateway remembers since it
 * started; one whose history is unknown, with the stream having one. */
static int s_other_history(const lt_feed_stream_t *st, const Lienthong__SinkAttach *m)
{
    if (m->from_seq <= 1)
        return 0; /* nothing applied yet */
    if (!m->keeps_history)
        return st->replaced;
    if (m->history_id.len == 0)
        return st->has_history || st->replaced;
    return !st->has_history || memcmp(m->history_id.data, st->history, LT_HISTORY_BYTES) != 0;
}

static void s_refuse(void *sock, const lt_wire_in_t *in, const Lienthong__SinkAttach *m,
                     const lt_feed_stream_t *st)
{
    char why[128];
    if (!st)
        snprintf(why, sizeof why, "not replicated or owned here");
    else if (m->from_seq > st->last_seq + 1 || m->from_seq == 0)
        snprintf(why, sizeof why, "from_seq is beyond the local log");
    else
        snprintf(why, sizeof why,
                 "from_seq is older than the retained log (kept from seq %llu); "
                 "attach with replace",
                 (unsigned long long)st->tail_first);
    lt_warn("local", "refused sink for %s from seq %llu: %s", m->stream,
            (unsigned long long)m->from_seq, why);
    (void)lt_wire_send_error(sock, in->rid, in->rid_len,
                             st ? LIENTHONG__ERROR_CODE__ERR_SEQUENCE
                                : LIENTHONG__ERROR_CODE__ERR_NOT_FOUND,
                             0, "%s: %s", m->stream, why);
}

/* 1 when m is sink k attaching again as it did last (the same adapter, at
 * the same seq and history, nothing being replaced): a sink that heard
 * nothing for a while attaches again (adapters/lt_sink.c), so an idle one
 * does every few seconds, which says nothing new. */
static int s_same_attach(const lt_feed_sink_t *k, const lt_wire_in_t *in,
                         const Lienthong__SinkAttach *m)
{
    return k->rid_len == in->rid_len && memcmp(k->rid, in->rid, in->rid_len) == 0 &&
           k->attach_from == m->from_seq && k->attach_history_len == m->history_id.len &&
           (m->history_id.len == 0 ||
            memcmp(k->attach_history, m->history_id.data, m->history_id.len) == 0) &&
           !k->rebuild && !k->snap && k->detach == LT_SINK_KEEP;
}

/* Removes sink k, ending a replacement being sent to it. */
static void s_sink_remove(lt_feed_t *self, lt_feed_sink_t *k)
{
    lt_feed_snap_free(self, &k->snap);
    *k = self->sinks[--self->n_sinks];
    self->sinks[self->n_sinks].snap = NULL; /* moved, not to be freed twice */
}

/* What a sink of a replaced stream holds came from the old history: the
 * attach that follows (the sink adapter's own, after its back-off) has its
 * table replaced by the stream's state, as its cursor is on another
 * history (s_other_history, PROTOCOL.md 6.9, 8.2). Nobody rebuilds it by
 * hand. */
static void s_replaced(void *sock, const uint8_t *rid, size_t rid_len, const lt_feed_stream_t *st,
                       uint64_t at)
{
    lt_warn("local",
            "sink of %s refused at seq %llu: the stream was replaced by another "
            "history (a resynchronisation or a view rebuilt)",
            st->name, (unsigned long long)at);
    (void)lt_wire_send_error(sock, rid, rid_len, LIENTHONG__ERROR_CODE__ERR_SEQUENCE, 0,
                             "%s: the stream was replaced by another history (a "
                             "resynchronisation or a view rebuilt); attach again: the gateway "
                             "then replaces the sink's table with the stream's state",
                             st->name);
}

/* Whether the sink of m may attach at all, so that a refused one is
 * answered with its reason before any sink is touched. 0 with *st_out and
 * *rebuild set (its table to be replaced from the start), else -1,
 * answered. */
static int s_attach_admit(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                          const Lienthong__SinkAttach *m, lt_feed_stream_t **st_out, int *rebuild)
{
    if (m->history_id.len != 0 && m->history_id.len != LT_HISTORY_BYTES) {
        lt_warn("local", "refused sink for %s: history_id of %zu bytes", m->stream,
                m->history_id.len);
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_MALFORMED,
                                 0, "%s: history_id must be empty or %d bytes, not %zu", m->stream,
                                 LT_HISTORY_BYTES, m->history_id.len);
        return -1;
    }
    lt_feed_stream_t *st = s_local_stream(self, m->stream);
    /* On another history its cursor means nothing here: not even beyond
     * the log (a shorter new history) is a reason to refuse a replacement. */
    *rebuild = st && m->from_seq > 0 && s_other_history(st, m);
    if (!st || m->from_seq == 0 ||
        (!*rebuild &&
         (m->from_seq > st->last_seq + 1 || (m->from_seq < st->tail_first && !m->replace)))) {
        s_refuse(sock, in, m, st);
        return -1;
    }
    if (*rebuild && !m->replace) {
        s_replaced(sock, in->rid, in->rid_len, st, m->from_seq - 1);
        return -1;
    }
    if (st->stale) { /* lt_feed_views.c */
        char why[LT_STREAM_ID_MAX + 64];
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 0, "%s", lt_feed_view_stale_text(why, sizeof why, m->stream));
        return -1;
    }
    *st_out = st;
    return 0;
}

/* Starts sink k of st where m asks, or from seq 1 to rebuild its table,
 * remembering the attach to tell a repeated one (s_same_attach). */
static void s_sink_start(lt_feed_sink_t *k, const lt_wire_in_t *in, const Lienthong__SinkAttach *m,
                         lt_feed_stream_t *st, int rebuild)
{
    memset(k, 0, sizeof *k);
    memcpy(k->rid, in->rid, in->rid_len);
    k->rid_len = in->rid_len;
    k->stream = st;
    k->next = rebuild ? 1 : m->from_seq;
    k->acked = k->next - 1;
    k->credit = m->credit;
    k->replace_ok = m->replace;
    k->rebuild = rebuild;
    k->attach_from = m->from_seq;
    k->attach_history_len = m->history_id.len; /* 0 or LT_HISTORY_BYTES, checked above */
    if (m->history_id.len)
        memcpy(k->attach_history, m->history_id.data, m->history_id.len);
}

/* Tells the operator of an attach; one repeated by an idle sink only at
 * debug level, as it says nothing new (s_same_attach). */
static void s_attach_log(const lt_feed_stream_t *st, const Lienthong__SinkAttach *m, int rebuild,
                         int again)
{
    if (rebuild)
        lt_warn("local",
                "sink of %s at seq %llu is on another history than the stream's (%s): "
                "replacing its table",
                st->name, (unsigned long long)(m->from_seq - 1),
                m->history_id.len ? "it names another" : "its own is unknown");
    if (again)
        lt_debug("local", "sink attached to %s from seq %llu again", st->name,
                 (unsigned long long)m->from_seq);
    else
        lt_info("local", "sink attached to %s from seq %llu", st->name,
                (unsigned long long)m->from_seq);
}

void lt_feed_on_sink_attach(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__SinkAttach *m)
{
    lt_feed_stream_t *st = NULL;
    int rebuild = 0;
    if (s_attach_admit(self, sock, in, m, &st, &rebuild) != 0)
        return;
    if (!rebuild)
        st->replaced = 0; /* its table is on the stream's history */
    /* One sink per stream: a new attach replaces the previous one. */
    int again = 0;
    for (size_t i = 0; i < self->n_sinks; i++)
        if (self->sinks[i].stream == st) {
            again = !rebuild && s_same_attach(&self->sinks[i], in, m);
            s_sink_remove(self, &self->sinks[i]);
            break;
        }
    if (self->n_sinks >= LT_FEED_MAX_SINKS) {
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 0, "%s: too many sinks attached", m->stream);
        return;
    }
    s_sink_start(&self->sinks[self->n_sinks++], in, m, st, rebuild);
    s_attach_log(st, m, rebuild, again);
}

void lt_feed_on_deliver_ack(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__DeliverAck *m)
{
    lt_feed_sink_t *k = s_sink_find(self, in->rid, in->rid_len, m->stream);
    /* Of what was sent before the stream was replaced or rebuilt: the pump
     * detaches the sink, telling it why, and moves nothing for it before. */
    if (k && k->detach != LT_SINK_KEEP)
        return;
    if (k && k->snap) {
        if (lt_feed_snap_replace_ack(self, k, m->through_seq) == 0)
            return;
        k = NULL; /* out of range during a replacement */
    }
    if (!k || m->through_seq <= k->acked || m->through_seq >= k->next) {
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_SEQUENCE, 0,
                                 "%s: acknowledgement %llu is out of range", m->stream,
                                 (unsigned long long)m->through_seq);
        return;
    }
    k->credit += (int64_t)(m->through_seq - k->acked);
    k->acked = m->through_seq;
}

/* ---- the pump ------------------------------------------------------------------------ */

/* Sends one Deliver to sink k. Returns 1 sent, 0 nothing, -1 drop. */
static int s_deliver(lt_feed_t *self, void *sock, lt_feed_sink_t *k)
{
    const lt_feed_chunk_t *c = &self->chunk;
    int n = lt_feed_chunk_read(self, k->stream, k->next, k->credit);
    /* Damage is never delivered, and never a silent stall: the sink is told
     * which records, then detached until it attaches again. */
    if (n == LT_STORE_DAMAGED)
        (void)lt_feed_send_damaged(sock, k->rid, k->rid_len, 0, k->stream);
    if (n <= 0)
        return n;
    Lienthong__Record **recs = calloc(c->n, sizeof *recs);
    int rc = recs ? 1 : -1;
    for (size_t i = 0; rc == 1 && i < c->n; i++)
        if (!(recs[i] = lienthong__record__unpack(NULL, c->recs[i].len, c->recs[i].data)))
            rc = -1;
    Lienthong__Deliver d = LIENTHONG__DELIVER__INIT;
    d.stream = k->stream->name;
    d.n_records = c->n;
    d.records = recs;
    lt_feed_sink_history(k->stream, &d.history_id);
    if (rc == 1 &&
        lt_wire_send_body(sock, k->rid, k->rid_len, LIENTHONG__ENVELOPE__BODY_DELIVER, &d) != 0)
        rc = zmq_errno() == EAGAIN ? 0 : -1;
    if (rc == 1) {
        k->next += c->n;
        k->credit -= (int64_t)c->n;
    }
    for (size_t i = 0; recs && i < c->n; i++)
        if (recs[i])
            lienthong__record__free_unpacked(recs[i], NULL);
    free(recs);
    return rc;
}

void lt_feed_sink_replaced(lt_feed_t *self, lt_feed_stream_t *st)
{
    st->replaced = 1;
    for (size_t i = 0; i < self->n_sinks; i++)
        if (self->sinks[i].stream == st)
            self->sinks[i].detach = LT_SINK_REPLACED;
}

/* A sink behind the retained tail: a replacement if it can take one, else
 * it is told why and detached (it attaches again with replace). */
static int s_behind(lt_feed_t *self, void *sock, lt_feed_sink_t *k)
{
    if (k->replace_ok)
        return lt_feed_snap_replace(self, sock, k);
    (void)lt_wire_send_error(sock, k->rid, k->rid_len, LIENTHONG__ERROR_CODE__ERR_SEQUENCE, 0,
                             "%s: seq %llu is older than the retained log (kept from seq %llu)",
                             k->stream->name, (unsigned long long)k->next,
                             (unsigned long long)k->stream->tail_first);
    return -1;
}

void lt_feed_sink_tick(lt_feed_t *self)
{
    int64_t now = lt_clock_mono_ms();
    for (size_t i = 0; i < self->n_sinks; i++)
        lt_feed_snap_replace_idle(self, &self->sinks[i], now);
}

/* Tells sink k why it is detached (k->detach) and removes it. Replaced:
 * its table came from the old history and is replaced at its next attach (6.9).
 * Rebuilt: its replacement was ended by a store rebuild
 * (lt_feed_snap_end_all); its table and cursor are as before the
 * replacement, and it attaches again to get one from the new file (8.2).
 * Idle: its replacement made no progress for LT_SNAP_IDLE_MS
 * (lt_feed_snap_replace_idle): told in case it is there after all, as it
 * then attaches again, its table as before or, had it committed the last
 * part, as replaced (8.2). Overdue: the same, for a replacement past its
 * deadline (LT_SNAP_RUN_MS).
 * Stale: a view whose rebuild failed, refused with ERR_UNAVAILABLE as a
 * new attach is until the rebuild succeeds. */
static void s_detach(lt_feed_t *self, void *sock, lt_feed_sink_t *k)
{
    if (k->detach == LT_SINK_REPLACED) {
        s_replaced(sock, k->rid, k->rid_len, k->stream, k->acked);
    } else if (k->detach == LT_SINK_STALE) {
        /* The text the sink gets is the one logged (lt_feed_views.c says
         * at error level why the rebuild failed). */
        char why[LT_STREAM_ID_MAX + 64];
        (void)lt_feed_view_stale_text(why, sizeof why, k->stream->name);
        lt_warn("local", "sink detached at seq %llu: %s", (unsigned long long)k->acked, why);
        (void)lt_wire_send_error(sock, k->rid, k->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 0, "%s", why);
    } else if (k->detach == LT_SINK_IDLE) {
        /* Logged when the replacement ended (lt_feed_snap_replace_idle). */
        (void)lt_wire_send_error(sock, k->rid, k->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 0, "%s: the replacement made no progress for %d s; attach again",
                                 k->stream->name, LT_SNAP_IDLE_MS / 1000);
    } else if (k->detach == LT_SINK_OVERDUE) {
        (void)lt_wire_send_error(sock, k->rid, k->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 0, "%s: the replacement ran past its deadline; attach again",
                                 k->stream->name);
    } else {
        lt_warn("local",
                "sink of %s detached at seq %llu: its replacement was ended by a store "
                "rebuild",
                k->stream->name, (unsigned long long)k->acked);
        (void)lt_wire_send_error(sock, k->rid, k->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 0,
                                 "%s: the gateway's store was rebuilt during the replacement; "
                                 "attach again",
                                 k->stream->name);
    }
    s_sink_remove(self, k);
}

int lt_feed_sink_pump(lt_feed_t *self, void *sock)
{
    int sent = 0;
    for (size_t i = 0; i < self->n_sinks;) {
        lt_feed_sink_t *k = &self->sinks[i];
        int rc = 1;
        /* A view whose rebuild failed holds records of the old definition,
         * and any derived since: none is delivered (PROTOCOL.md 6.1); the
         * sink attaches again once the view is rebuilt. */
        if (k->detach == LT_SINK_KEEP && k->stream->stale)
            k->detach = LT_SINK_STALE;
        if (k->detach != LT_SINK_KEEP) {
            s_detach(self, sock, k);
            continue;
        }
        for (int b = 0; b < LT_FEED_PUMP_BATCHES && rc == 1; b++) {
            /* Behind the retained tail: its table is replaced (8.2). */
            if (k->snap || k->rebuild || k->next < k->stream->tail_first)
                rc = s_behind(self, sock, k);
            else if (k->credit > 0 && k->next <= k->stream->last_seq)
                rc = s_deliver(self, sock, k);
            else
                rc = 0;
            sent += rc == 1;
        }
        if (rc < 0) {
            lt_info("local", "sink of %s detached at seq %llu", k->stream->name,
                    (unsigned long long)k->acked);
            s_sink_remove(self, k);
        } else {
            i++;
        }
    }
    return sent;
}

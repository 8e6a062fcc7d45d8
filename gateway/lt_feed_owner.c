/* lt_feed_owner: the owner's side of a feed (PROTOCOL.md 6.2, 6.3, 6.6):
 * subscriptions from peers on the peer ROUTER, each streaming signed
 * batches read from the log while it has credit. */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_gwstats.h"
#include "lt_log.h"
#include "lt_peers.h"
#include "lt_valid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* The subscription of the connection `in` came on to stream. The member is
 * compared too: a routing id names a connection only while it lasts, and a
 * Credit from another member must never feed a subscription it does not
 * hold (libzmq's own routing ids are not reused, and a peer cannot choose
 * one like them, which begin with a zero byte). */
static lt_feed_sub_t *s_sub_find(lt_feed_t *self, const lt_wire_in_t *in, const char *stream)
{
    for (size_t i = 0; i < self->n_subs; i++) {
        lt_feed_sub_t *s = &self->subs[i];
        if (s->rid_len == in->rid_len && memcmp(s->rid, in->rid, in->rid_len) == 0 &&
            strcmp(s->stream->name, stream) == 0 && strcmp(s->member, in->user_id) == 0)
            return s;
    }
    return NULL;
}

static void s_sub_audit(lt_feed_t *self, const char *event, const char *member, const char *stream,
                        const char *detail)
{
    lt_audit_add(
        self->ctx->audit,
        &(lt_audit_entry_t){.event = event, .peer = member, .target = stream, .detail = detail});
}

/* ---- ended subscriptions, kept for status ---------------------------------- */

static lt_feed_gone_t *s_gone_find(lt_feed_t *self, const char *member, const lt_feed_stream_t *st)
{
    for (size_t i = 0; i < self->n_gone; i++)
        if (self->gone[i].stream == st && strcmp(self->gone[i].member, member) == 0)
            return &self->gone[i];
    return NULL;
}

lt_feed_gone_t *lt_feed_gone_put(lt_feed_t *self, const char *member, lt_feed_stream_t *st,
                                 uint64_t cursor, int64_t since_ms, const char *why)
{
    lt_feed_gone_t *g = s_gone_find(self, member, st);
    if (!g && self->n_gone < LT_FEED_MAX_SUBS)
        g = &self->gone[self->n_gone++];
    if (!g) { /* the oldest line makes room */
        g = &self->gone[0];
        for (size_t i = 1; i < self->n_gone; i++)
            if (self->gone[i].since_ms < g->since_ms)
                g = &self->gone[i];
    }
    snprintf(g->member, sizeof g->member, "%s", member);
    g->stream = st;
    g->cursor = cursor;
    g->since_ms = since_ms;
    snprintf(g->reason, sizeof g->reason, "%s", why);
    self->lines_dirty = 1;
    return g;
}

void lt_feed_gone_renumbered(lt_feed_gone_t *g, const char *why)
{
    g->cursor = 0;
    /* A line ended by the replacement already says so. */
    if ((!why || strcmp(g->reason, why) != 0) && !strstr(g->reason, LT_FEED_HISTORY_REPLACED)) {
        char was[sizeof g->reason];
        snprintf(was, sizeof was, "%s", g->reason);
        snprintf(g->reason, sizeof g->reason, "%.80s" LT_FEED_HISTORY_REPLACED, was);
    }
}

/* Remembers where s ended. */
static void s_gone_add(lt_feed_t *self, const lt_feed_sub_t *s, const char *why)
{
    (void)lt_feed_gone_put(self, s->member, s->stream, s->next - 1, lt_clock_now_ms(), why);
}

/* The member subscribed again: its old line goes. */
static void s_gone_forget(lt_feed_t *self, const char *member, const lt_feed_stream_t *st)
{
    lt_feed_gone_t *g = s_gone_find(self, member, st);
    if (g)
        lt_feed_gone_drop(self, g);
}

void lt_feed_gone_drop(lt_feed_t *self, lt_feed_gone_t *g)
{
    *g = self->gone[--self->n_gone];
    self->lines_dirty = 1;
}

static void s_sub_drop(lt_feed_t *self, lt_feed_sub_t *s, const char *why)
{
    s_gone_add(self, s, why);
    lt_info("feed", "feed %s to %s stopped at seq %llu: %s", s->stream->name, s->member,
            (unsigned long long)(s->next - 1), why);
    char detail[400];
    snprintf(detail, sizeof detail, "delivered through seq %llu; %s",
             (unsigned long long)(s->next - 1), why);
    s_sub_audit(self, "feed-stop", s->member, s->stream->name, detail);
    lt_feed_snap_free(self, &s->snap);
    *s = self->subs[--self->n_subs];
    self->subs[self->n_subs].snap = NULL; /* moved, not to be freed twice */
}

/* ---- subscribe, credit, unsubscribe ------------------------------------------ */

Lienthong__ErrorCode lt_feed_may_subscribe(lt_feed_t *self, const char *member, const char *stream,
                                           char *why, size_t len)
{
    const char *me = self->ctx->cfg->member;
    const char *owner = lt_feed_owner_of(self->ctx->dir, stream);
    if (!owner || strcmp(owner, me) != 0) {
        snprintf(why, len, "%.200s: not a stream owned by %.80s", stream, me);
        return LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    }
    if (!lt_dir_policy_allows(lt_dir_policy(self->ctx->dir, member, stream),
                              LIENTHONG__OPERATION__OP_SUBSCRIBE)) {
        snprintf(why, len, "%.200s: %.80s may not subscribe to it", stream, member);
        return LIENTHONG__ERROR_CODE__ERR_FORBIDDEN;
    }
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

Lienthong__ErrorCode lt_feed_open_owned(lt_feed_t *self, const char *member, const char *stream,
                                        lt_feed_stream_t **st, char *why, size_t len)
{
    Lienthong__ErrorCode code = lt_feed_may_subscribe(self, member, stream, why, len);
    if (code)
        return code;
    if (!(*st = lt_feed_stream(self, stream)) || lt_feed_history_own(self, *st) != 0) {
        snprintf(why, len, "%s: cannot open stream", stream);
        return LIENTHONG__ERROR_CODE__ERR_INTERNAL;
    }
    if ((*st)->stale) {
        (void)lt_feed_view_stale_text(why, len, stream);
        return LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE;
    }
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

/* Check 4 of PROTOCOL.md 6.2 (the history, check 3, comes before it; the
 * fields were checked by lt_valid_subscribe). */
static Lienthong__ErrorCode s_sub_check(const lt_feed_stream_t *st, const Lienthong__Subscribe *m,
                                        char *why, size_t len)
{
    uint64_t last = st->last_seq;
    if (m->from_seq > last + 1) {
        snprintf(why, len, "%s: cannot start at %llu (last is %llu)", m->stream,
                 (unsigned long long)m->from_seq, (unsigned long long)last);
        return LIENTHONG__ERROR_CODE__ERR_SEQUENCE;
    }
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

/* The subscription keyed by (routing id, stream): the existing one, which a
 * new Subscribe replaces, or a new one (audited). NULL when full. */
static lt_feed_sub_t *s_sub_slot(lt_feed_t *self, const lt_wire_in_t *in,
                                 const Lienthong__Subscribe *m, const lt_feed_stream_t *st)
{
    lt_feed_sub_t *s = s_sub_find(self, in, m->stream);
    if (s || self->n_subs >= LT_FEED_MAX_SUBS)
        return s;
    s_gone_forget(self, in->user_id, st);
    self->lines_dirty = 1; /* a new line, written at once (lt_feed_lines_job) */
    lt_info("feed", "feed %s to %s starts at seq %llu (last %llu)", m->stream, in->user_id,
            (unsigned long long)m->from_seq, (unsigned long long)st->last_seq);
    char detail[64];
    snprintf(detail, sizeof detail, "from seq %llu", (unsigned long long)m->from_seq);
    s_sub_audit(self, "feed-start", in->user_id, m->stream, detail);
    return &self->subs[self->n_subs++];
}

void lt_feed_refuse(lt_feed_t *self, void *sock, const lt_wire_in_t *in, const char *what,
                    const char *stream, Lienthong__ErrorCode code, uint64_t request_id,
                    const char *why)
{
    (void)lt_reject(self->ctx->reject, &(lt_reject_in_t){.sock = sock,
                                                         .rid = in->rid,
                                                         .rid_len = in->rid_len,
                                                         .who = in->user_id,
                                                         .what = what,
                                                         .target = stream,
                                                         .code = code,
                                                         .request_id = request_id,
                                                         .why = why});
}

/* Drops what a Subscribe from in for stream ends (PROTOCOL.md 6.6): the
 * member's subscriptions to it on other routing ids, whose connections are
 * gone (a consumer sets no routing id, so each connection has a new one,
 * and a subscription without credit never learns of the loss by a send);
 * with `own`, the one on in's routing id too (the Subscribe failed: IDLE). */
static void s_sub_superseded(lt_feed_t *self, const lt_wire_in_t *in, const char *stream, int own)
{
    for (size_t i = 0; i < self->n_subs;) {
        lt_feed_sub_t *s = &self->subs[i];
        int same = s->rid_len == in->rid_len && memcmp(s->rid, in->rid, in->rid_len) == 0;
        if (strcmp(s->member, in->user_id) != 0 || strcmp(s->stream->name, stream) != 0 ||
            (same && !own))
            i++;
        else
            s_sub_drop(self, s, same ? "subscribe refused" : "superseded by a new connection");
    }
}

void lt_feed_on_subscribe(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                          const Lienthong__Subscribe *m)
{
    char why[512];
    lt_feed_stream_t *st = NULL;
    /* The fields first (4.2 check 10), then the checks of 6.2 in order. */
    Lienthong__ErrorCode code = lt_valid_subscribe(m, why, sizeof why);
    if (!code)
        code = lt_feed_open_owned(self, in->user_id, m->stream, &st, why, sizeof why);
    int refused = !code && lt_feed_history_refused(self, sock, in, st, m);
    if (!code && !refused)
        code = s_sub_check(st, m, why, sizeof why);
    if (code || refused) {
        s_sub_superseded(self, in, m->stream, 1); /* what streamed before stops */
        if (code)
            lt_feed_refuse(self, sock, in, "subscribe", m->stream, code, 0, why);
        return;
    }
    s_sub_superseded(self, in, m->stream, 0);
    lt_feed_sub_t *s = s_sub_slot(self, in, m, st);
    if (!s) {
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 0, "%s: too many subscriptions", m->stream);
        return;
    }
    lt_feed_snap_free(self, &s->snap); /* a new Subscribe restarts a snapshot */
    memset(s, 0, sizeof *s);
    memcpy(s->rid, in->rid, in->rid_len);
    s->rid_len = in->rid_len;
    snprintf(s->member, sizeof s->member, "%s", in->user_id);
    s->stream = st;
    s->next = m->from_seq;
    if (m->from_seq > 1)
        memcpy(s->prev, m->prev_hash.data, LT_HASH_BYTES);
    s->credit = m->credit;
    s->snap_wanted = m->snapshot;
    const char *labels[] = {st->name, s->member};
    s->st_cursor = lt_stats_series(self->f_sub_cursor, labels);
    s->st_lag = lt_stats_series(self->f_sub_lag, labels);
    lt_feed_sub_gauges(s);
}

void lt_feed_sub_gauges(lt_feed_sub_t *s)
{
    lt_stats_set(s->st_cursor, (int64_t)(s->next - 1));
    lt_stats_set(s->st_lag, (int64_t)lt_feed_behind(s->stream->last_seq, s->next - 1));
}

/* The subscription a Credit or Unsubscribe names; NULL when there is none
 * (or the stream field is invalid), which is rejected (6.2, 4.4). */
static lt_feed_sub_t *s_sub_named(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                                  const char *stream, const char *what)
{
    char why[512];
    Lienthong__ErrorCode code = lt_valid_stream(stream, what, why, sizeof why);
    lt_feed_sub_t *s = code ? NULL : s_sub_find(self, in, stream);
    if (s)
        return s;
    if (!code) {
        code = LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
        snprintf(why, sizeof why, "%.300s: " LT_FEED_NO_SUBSCRIPTION, stream);
    }
    (void)lt_reject(self->ctx->reject, &(lt_reject_in_t){.sock = sock,
                                                         .rid = in->rid,
                                                         .rid_len = in->rid_len,
                                                         .who = in->user_id,
                                                         .what = what,
                                                         .target = stream,
                                                         .code = code,
                                                         .why = why});
    return NULL;
}

void lt_feed_on_credit(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                       const Lienthong__Credit *m)
{
    lt_feed_sub_t *s = s_sub_named(self, sock, in, m->stream, "credit");
    if (!s)
        return;
    s->credit += m->credit;
    if (s->credit > LT_CREDIT_MAX)
        s->credit = LT_CREDIT_MAX;
}

void lt_feed_on_unsubscribe(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__Unsubscribe *m)
{
    lt_feed_sub_t *s = s_sub_named(self, sock, in, m->stream, "unsubscribe");
    if (s)
        s_sub_drop(self, s, "unsubscribed");
}

void lt_feed_drop_peers(lt_feed_t *self)
{
    while (self->n_subs)
        s_sub_drop(self, &self->subs[self->n_subs - 1], "peer socket rebound");
}

void lt_feed_stop_serving(lt_feed_t *self, void *peer_sock, const char *why)
{
    while (self->n_subs) {
        lt_feed_sub_t *s = &self->subs[self->n_subs - 1];
        if (peer_sock)
            (void)lt_wire_send_error(peer_sock, s->rid, s->rid_len,
                                     LIENTHONG__ERROR_CODE__ERR_DIRECTORY, 0, "%s: %s",
                                     s->stream->name, why);
        s_sub_drop(self, s, why);
    }
}

/* Tells s's consumer that the records of its stream were replaced. */
static void s_tell_replaced(void *sock, const lt_feed_sub_t *s, const uint8_t *was, const char *why)
{
    const lt_feed_stream_t *st = s->stream;
    if (st->stale || !st->has_history) {
        (void)lt_wire_send_error(sock, s->rid, s->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 0, "%s: %s", st->name, why);
        return;
    }
    /* As to a Subscribe on the old history (PROTOCOL.md 6.9): the consumer
     * resynchronises. */
    Lienthong__HistoryChanged h = LIENTHONG__HISTORY_CHANGED__INIT;
    h.stream = (char *)st->name;
    h.history_id.data = (uint8_t *)st->history;
    h.history_id.len = LT_HISTORY_BYTES;
    h.last_seq = st->last_seq;
    if (was) {
        h.cursor_history_id.data = (uint8_t *)was;
        h.cursor_history_id.len = LT_HISTORY_BYTES;
    }
    (void)lt_wire_send_body(sock, s->rid, s->rid_len, LIENTHONG__ENVELOPE__BODY_HISTORY_CHANGED,
                            &h);
}

void lt_feed_owner_replaced(lt_feed_t *self, void *peer_sock, lt_feed_stream_t *st,
                            const uint8_t *was, const char *why)
{
    for (size_t i = 0; i < self->n_subs;) {
        lt_feed_sub_t *s = &self->subs[i];
        if (s->stream != st) {
            i++;
            continue;
        }
        if (peer_sock)
            s_tell_replaced(peer_sock, s, was, why);
        s_sub_drop(self, s, why);
    }
}

void lt_feed_owner_renumbered(lt_feed_t *self, const lt_feed_stream_t *st, const char *why)
{
    for (size_t i = 0; i < self->n_gone; i++) {
        lt_feed_gone_t *g = &self->gone[i];
        if (g->stream != st)
            continue;
        /* The consumer resynchronises when it comes back (PROTOCOL.md
         * 6.9): until then it lacks the whole new log. */
        lt_feed_gone_renumbered(g, why);
        self->lines_dirty = 1;
    }
}

void lt_feed_dir_changed(lt_feed_t *self, void *peer_sock)
{
    char why[512];
    /* Before anything more is sent: no record derived with a view's old
     * definition may leave once the new one is in force. */
    lt_feed_views_sync(self, peer_sock);
    lt_dirpick_retired_clear(&self->retired); /* the adoption may have kept one more */
    self->retired_open = 0;
    lt_feed_replica_dir_changed(self);
    for (size_t i = 0; i < self->n_subs;) {
        lt_feed_sub_t *s = &self->subs[i];
        Lienthong__ErrorCode code =
            lt_feed_may_subscribe(self, s->member, s->stream->name, why, sizeof why);
        const Lienthong__Member *m = lt_dir_member(self->ctx->dir, s->member);
        if (!code && m && m->status == LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE) {
            i++;
            continue;
        }
        if (peer_sock)
            (void)lt_wire_send_error(peer_sock, s->rid, s->rid_len,
                                     code ? code : LIENTHONG__ERROR_CODE__ERR_REVOKED, 0, "%s%s%s",
                                     code ? why : s->stream->name, code ? "" : ": ",
                                     code ? "" : "member no longer active");
        s_sub_drop(self, s, code ? why : "member no longer active");
    }
    lt_feed_lines_prune(self);
}

/* ---- the pump ----------------------------------------------------------------------- */

/* Only a record stored before the frame cap was lowered can be too large:
 * the consumer backs off, nothing is skipped. */
void lt_feed_too_large(lt_feed_t *self, void *sock, lt_feed_sub_t *s, uint64_t seq, uint64_t index)
{
    char what[64];
    if (seq)
        snprintf(what, sizeof what, "record %llu", (unsigned long long)seq);
    else
        snprintf(what, sizeof what, "the snapshot's record at index %llu",
                 (unsigned long long)index);
    lt_error("feed", "%s: %s does not fit in a %zu-byte frame; feed to %s stalls", s->stream->name,
             what, self->ctx->cfg->max_message, s->member);
    (void)lt_wire_send_error(sock, s->rid, s->rid_len, LIENTHONG__ERROR_CODE__ERR_TOO_LARGE, 0,
                             "%s: %s is larger than the owner can send", s->stream->name, what);
    s->fail = "record too large to send";
}

/* 1 when another subscription than s follows s's stream: only then can a
 * batch kept in the tail be sent again (a lone consumer never asks for
 * what it was sent), so only then is it worth its memory. */
static int s_shared(const lt_feed_t *self, const lt_feed_sub_t *s)
{
    for (size_t i = 0; i < self->n_subs; i++)
        if (&self->subs[i] != s && self->subs[i].stream == s->stream)
            return 1;
    return 0;
}

/* The batch s needs next, packed in msg (n records, batch hash): from the
 * in-memory tail when it holds it (lt_tail.h), else read from the store
 * and kept there. Returns 1, 0 nothing to send, or -1 when the
 * subscription must be dropped. */
static int s_build_batch(lt_feed_t *self, void *sock, lt_feed_sub_t *s, zmq_msg_t *msg, size_t *n,
                         uint8_t hash[LT_HASH_BYTES])
{
    lt_tail_key_t key = {.stream_id = s->stream->id,
                         .stream = s->stream->name,
                         .history = s->stream->history,
                         .first = s->next,
                         .prev = s->prev};
    int64_t want = lt_feed_chunk_want(self, s->stream, s->next, s->credit);
    if (want <= 0)
        return 0;
    int rc =
        lt_tail_get(self->tail, &key, (uint64_t)want, s->credit, self->ctx->keys, msg, n, hash);
    if (rc != 0)
        return rc;
    lt_feed_chunk_t *c = &self->chunk;
    int got = lt_feed_chunk_read(self, s->stream, s->next, s->credit);
    if (got == LT_STORE_DAMAGED) {
        (void)lt_feed_send_damaged(sock, s->rid, s->rid_len, 0, s->stream);
        s->fail = "damaged record in the log";
    }
    if (got <= 0)
        return got;
    if (c->used + LT_BATCH_OVERHEAD > self->ctx->cfg->max_message) {
        lt_feed_too_large(self, sock, s, s->next, 0);
        return -1;
    }
    *n = c->n;
    return lt_tail_put(self->tail, &key, c, (int64_t)c->n < want, s_shared(self, s),
                       self->ctx->keys, msg, hash) == 0
               ? 1
               : -1;
}

/* Sends one signed batch to s. Returns 1 sent, 0 nothing to send or
 * would block, -1 when the subscription must be dropped. */
static int s_send_batch(lt_feed_t *self, void *sock, lt_feed_sub_t *s)
{
    zmq_msg_t msg;
    size_t n = 0;
    uint8_t hash[LT_HASH_BYTES];
    int rc = s_build_batch(self, sock, s, &msg, &n, hash);
    if (rc <= 0)
        return rc;
    /* A batch that would block stays in the tail for the next try. */
    if (lt_wire_send_msg(sock, s->rid, s->rid_len, &msg) != 0)
        return zmq_errno() == EAGAIN ? 0 : -1;
    s->next += n;
    s->credit -= (int64_t)n;
    memcpy(s->prev, hash, LT_HASH_BYTES);
    lt_feed_sub_gauges(s);
    return 1;
}

int lt_feed_owner_pump(lt_feed_t *self, void *sock)
{
    int sent = 0;
    for (size_t i = 0; i < self->n_subs;) {
        lt_feed_sub_t *s = &self->subs[i];
        int rc = 1;
        for (int k = 0; k < LT_FEED_PUMP_BATCHES && rc == 1; k++) {
            /* Behind the retained tail, or asked: a snapshot first (6.7). */
            if (s->snap || s->snap_wanted || s->next < s->stream->tail_first)
                rc = lt_feed_snap_send(self, sock, s);
            else if (s->credit > 0 && s->next <= s->stream->last_seq)
                rc = s_send_batch(self, sock, s);
            else
                rc = 0;
            sent += rc == 1;
        }
        if (rc < 0)
            s_sub_drop(self, s,
                       s->fail                       ? s->fail
                       : zmq_errno() == EHOSTUNREACH ? "consumer disconnected"
                                                     : "send failed");
        else
            i++;
    }
    return sent;
}

/* How often the owner looks for lost consumers and idle snapshots: the
 * poll loop ticks far more often, and a look costs a walk of the peers for
 * each subscription. */
#define OWNER_TICK_MS 1000

void lt_feed_owner_tick(lt_feed_t *self)
{
    int64_t now = lt_clock_mono_ms(), since;
    if (now < self->owner_at)
        return;
    self->owner_at = now + OWNER_TICK_MS;
    for (size_t i = 0; i < self->n_subs;) {
        lt_feed_sub_t *s = &self->subs[i];
        /* A consumer without credit is never sent anything, so no send
         * fails to tell of its loss: its Hellos stopping do (3.3). */
        if (self->ctx->peers && lt_peers_member_state(self->ctx->peers, s->member, &since) == 0) {
            s_sub_drop(self, s, "peer lost: no Hello within the heartbeat timeout");
            continue;
        }
        lt_feed_snap_idle(self, s, now);
        i++;
    }
}

/* ---- status ------------------------------------------------------------------------------ */

/* A status line: a live subscription, or one that ended (sub NULL, g set). */
static Lienthong__SubscriberStatus *s_status_line(lt_feed_t *self, const lt_feed_sub_t *sub,
                                                  const lt_feed_gone_t *g)
{
    int64_t now = lt_clock_now_ms();
    Lienthong__SubscriberStatus *line = calloc(1, sizeof *line);
    if (!line)
        return NULL;
    lienthong__subscriber_status__init(line);
    if (g) {
        line->member = (char *)g->member;
        line->cursor = g->cursor;
        line->lag = lt_feed_behind(g->stream->last_seq, g->cursor);
        line->disconnected = 1;
        line->disconnected_since_ms = g->since_ms;
        line->reason = (char *)g->reason;
        line->lag_seconds = lt_feed_quality_lag(self, g->stream, g->cursor, now);
        return line;
    }
    line->member = (char *)sub->member;
    line->cursor = (uint64_t)lt_gwstats_gauge(sub->st_cursor);
    line->lag = (uint64_t)lt_gwstats_gauge(sub->st_lag);
    line->lag_seconds = lt_feed_quality_lag(self, sub->stream, line->cursor, now);
    /* A send failing or its Hellos stopping (3.3) tells that a consumer
     * died; lt_feed_owner_tick drops the subscription within a second of
     * the latter, which a status asked meanwhile shows. */
    int64_t since = 0;
    if (self->ctx->peers && lt_peers_member_state(self->ctx->peers, sub->member, &since) == 0) {
        line->disconnected = 1;
        line->disconnected_since_ms = since;
        line->reason = "peer lost: no Hello within the heartbeat timeout";
    }
    return line;
}

int lt_feed_subscribed(const lt_feed_t *self, const char *member, const lt_feed_stream_t *st)
{
    for (size_t i = 0; i < self->n_subs; i++)
        if (self->subs[i].stream == st && strcmp(self->subs[i].member, member) == 0)
            return 1;
    return 0;
}

void lt_feed_owner_status(lt_feed_t *self, const lt_feed_stream_t *st, Lienthong__StreamStatus *ss)
{
    ss->subscribers = calloc(self->n_subs + self->n_gone + 1, sizeof *ss->subscribers);
    for (size_t j = 0; ss->subscribers && j < self->n_subs + self->n_gone; j++) {
        const lt_feed_sub_t *sub = j < self->n_subs ? &self->subs[j] : NULL;
        const lt_feed_gone_t *g = sub ? NULL : &self->gone[j - self->n_subs];
        if ((sub ? sub->stream : g->stream) != st ||
            (g && lt_feed_subscribed(self, g->member, g->stream)))
            continue;
        Lienthong__SubscriberStatus *line = s_status_line(self, sub, g);
        if (!line)
            break;
        ss->subscribers[ss->n_subscribers++] = line;
    }
}

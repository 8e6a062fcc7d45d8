/* lt_feed: owner subscriptions, consumer feeds and local sinks. */
#include "lt_feed.h"
#include "lt_batch.h"
#include "lt_file.h"
#include "lt_log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_SUBS 1024
#define MAX_SINKS 64
#define MAX_STREAMS 512
#define IDLE_RESUBSCRIBE_MS 2000
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 60000
#define PUMP_BATCHES 8 /* per subscription per pump call, to stay responsive */

/* A stream this gateway holds: its store id and last durable seq. */
typedef struct {
    char name[LT_ID_MAX * 2];
    int64_t id;
    uint64_t last_seq;
    uint64_t rate_seq;   /* for records/s */
    int64_t rate_at;
    double rate;
    char source_cursor[24]; /* text for the last status reply */
} stream_t;

/* Owner: one peer's subscription (keyed by routing id and stream). */
typedef struct {
    uint8_t rid[256];
    size_t rid_len;
    char member[LT_ID_MAX];
    stream_t *stream;
    uint64_t next;
    uint8_t prev[LT_HASH_BYTES];
    int64_t credit;
} sub_t;

/* Local: a sink adapter attached to a stream. */
typedef struct {
    uint8_t rid[256];
    size_t rid_len;
    stream_t *stream;
    uint64_t next, acked;
    int64_t credit;
} sink_t;

typedef enum { FEED_IDLE, FEED_LIVE, FEED_BACKOFF } feed_state_t;

/* Consumer: a stream we replicate from its owner. */
typedef struct {
    stream_t *stream;
    char owner[LT_ID_MAX];
    lt_stream_t cursor;      /* durable cursor: last_seq and last_hash */
    feed_state_t state;
    int64_t outstanding;     /* credit the owner still holds for us */
    int64_t next_at;         /* monotonic ms of the next (re)subscribe */
    int64_t backoff;
    int64_t last_batch_at;
    uint64_t discarded;
} feed_t;

struct _lt_feed_t {
    lt_store_t *store;
    const lt_keys_t *keys;
    const lt_gwcfg_t *cfg;
    const lt_dir_t *dir;
    lt_feed_link_fn link;
    void *link_arg;
    stream_t streams[MAX_STREAMS];
    size_t n_streams;
    sub_t subs[MAX_SUBS];
    size_t n_subs;
    sink_t sinks[MAX_SINKS];
    size_t n_sinks;
    feed_t feeds[LT_GWCFG_MAX_SUBS];
    size_t n_feeds;
    size_t batch_bytes;
    lt_audit_t *audit;
};

void lt_feed_set_audit(lt_feed_t *self, lt_audit_t *audit)
{
    self->audit = audit;
}

/* ---- streams -------------------------------------------------------------- */

static stream_t *s_stream(lt_feed_t *self, const char *name)
{
    for (size_t i = 0; i < self->n_streams; i++)
        if (strcmp(self->streams[i].name, name) == 0)
            return &self->streams[i];
    if (self->n_streams >= MAX_STREAMS || strlen(name) >= sizeof self->streams[0].name)
        return NULL;
    lt_stream_t st;
    if (lt_store_stream(self->store, name, &st) != 0) {
        lt_error("feed", "store: cannot open stream %s: %s", name, lt_store_error(self->store));
        return NULL;
    }
    stream_t *s = &self->streams[self->n_streams++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->id = st.id;
    s->last_seq = s->rate_seq = st.last_seq;
    s->rate_at = lt_clock_mono_ms();
    return s;
}

void lt_feed_advanced(void *arg, const char *stream, uint64_t last_seq)
{
    stream_t *s = s_stream(arg, stream);
    if (s)
        s->last_seq = last_seq;
}

/* Owner of a dataset or view id, or NULL. */
static const char *s_owner(const lt_dir_t *dir, const char *stream)
{
    const Lienthong__View *v = lt_dir_view(dir, stream);
    const Lienthong__Dataset *ds = lt_dir_dataset(dir, v ? v->dataset : stream);
    return ds ? ds->owner : NULL;
}

/* ---- construction ---------------------------------------------------------- */

lt_feed_t *lt_feed_new(lt_store_t *store, const lt_keys_t *keys, const lt_gwcfg_t *cfg,
                       lt_feed_link_fn link, void *link_arg)
{
    lt_feed_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store;
    self->keys = keys;
    self->cfg = cfg;
    self->link = link;
    self->link_arg = link_arg;
    /* Half the frame cap, so that a full batch with its envelope always fits. */
    self->batch_bytes = cfg->max_message / 2 < LT_BATCH_MAX_BYTES ? cfg->max_message / 2
                                                                    : LT_BATCH_MAX_BYTES;
    for (size_t i = 0; i < cfg->n_subs; i++) {
        feed_t *f = &self->feeds[self->n_feeds];
        memset(f, 0, sizeof *f);
        f->stream = s_stream(self, cfg->subs[i].stream);
        if (!f->stream || lt_store_stream(store, cfg->subs[i].stream, &f->cursor) != 0) {
            lt_feed_destroy(&self);
            return NULL;
        }
        f->state = FEED_IDLE;
        self->n_feeds++;
    }
    return self;
}

void lt_feed_destroy(lt_feed_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* ---- owner: subscriptions -------------------------------------------------- */

static sub_t *s_sub_find(lt_feed_t *self, const uint8_t *rid, size_t rid_len, const char *stream)
{
    for (size_t i = 0; i < self->n_subs; i++) {
        sub_t *s = &self->subs[i];
        if (s->rid_len == rid_len && memcmp(s->rid, rid, rid_len) == 0 &&
            strcmp(s->stream->name, stream) == 0)
            return s;
    }
    return NULL;
}

static void s_sub_drop(lt_feed_t *self, sub_t *s, const char *why)
{
    lt_info("feed", "feed %s to %s stopped at seq %llu: %s", s->stream->name, s->member,
            (unsigned long long)(s->next - 1), why);
    char detail[400];
    snprintf(detail, sizeof detail, "delivered through seq %llu; %s",
             (unsigned long long)(s->next - 1), why);
    lt_audit_add(self->audit, &(lt_audit_entry_t){.event = "feed-stop", .peer = s->member,
                                                  .target = s->stream->name, .detail = detail});
    *s = self->subs[--self->n_subs];
}

/* Policy check of PROTOCOL.md 6.2; returns ERR_NONE or the refusal. */
static Lienthong__ErrorCode s_may_subscribe(lt_feed_t *self, const char *member,
                                            const char *stream, char *why, size_t len)
{
    const char *owner = s_owner(self->dir, stream);
    if (!owner || strcmp(owner, self->cfg->member) != 0) {
        snprintf(why, len, "%.200s: not a stream owned by %.80s", stream, self->cfg->member);
        return LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    }
    if (!lt_dir_policy_allows(lt_dir_policy(self->dir, member, stream),
                              LIENTHONG__OPERATION__OP_SUBSCRIBE)) {
        snprintf(why, len, "%.200s: %.80s may not subscribe to it", stream, member);
        return LIENTHONG__ERROR_CODE__ERR_FORBIDDEN;
    }
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

void lt_feed_on_subscribe(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                          const Lienthong__Subscribe *m)
{
    char why[512];
    Lienthong__ErrorCode code = s_may_subscribe(self, in->user_id, m->stream, why, sizeof why);
    stream_t *st = code ? NULL : s_stream(self, m->stream);
    if (!code && !st) {
        code = LIENTHONG__ERROR_CODE__ERR_INTERNAL;
        snprintf(why, sizeof why, "%s: cannot open stream", m->stream);
    }
    if (!code && (m->from_seq == 0 || m->from_seq > st->last_seq + 1 ||
                  (m->from_seq > 1 && m->prev_hash.len != LT_HASH_BYTES))) {
        code = LIENTHONG__ERROR_CODE__ERR_SEQUENCE;
        snprintf(why, sizeof why, "%s: cannot start at %llu (last is %llu)", m->stream,
                 (unsigned long long)m->from_seq, (unsigned long long)st->last_seq);
    }
    if (code) {
        lt_warn("feed", "refused subscribe from %s: %s", in->user_id, why);
        lt_audit_add(self->audit, &(lt_audit_entry_t){.event = "refused", .peer = in->user_id,
                                                      .target = m->stream, .detail = why});
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, code, 0, "%s", why);
        return;
    }
    sub_t *s = s_sub_find(self, in->rid, in->rid_len, m->stream);
    if (!s && self->n_subs >= MAX_SUBS) {
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 0, "%s: too many subscriptions", m->stream);
        return;
    }
    if (!s) {
        s = &self->subs[self->n_subs++];
        lt_info("feed", "feed %s to %s starts at seq %llu (last %llu)", m->stream, in->user_id,
                (unsigned long long)m->from_seq, (unsigned long long)st->last_seq);
        char detail[64];
        snprintf(detail, sizeof detail, "from seq %llu", (unsigned long long)m->from_seq);
        lt_audit_add(self->audit, &(lt_audit_entry_t){.event = "feed-start", .peer = in->user_id,
                                                      .target = m->stream, .detail = detail});
    }
    memset(s, 0, sizeof *s);
    memcpy(s->rid, in->rid, in->rid_len);
    s->rid_len = in->rid_len;
    snprintf(s->member, sizeof s->member, "%s", in->user_id);
    s->stream = st;
    s->next = m->from_seq;
    if (m->from_seq > 1)
        memcpy(s->prev, m->prev_hash.data, LT_HASH_BYTES);
    s->credit = m->credit;
}

void lt_feed_on_credit(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                       const Lienthong__Credit *m)
{
    sub_t *s = s_sub_find(self, in->rid, in->rid_len, m->stream);
    if (!s) {
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_NOT_FOUND,
                                 0, "%s: no subscription", m->stream);
        return;
    }
    s->credit += m->credit;
    if (s->credit > 0xffffffffLL)
        s->credit = 0xffffffffLL;
}

void lt_feed_on_unsubscribe(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__Unsubscribe *m)
{
    sub_t *s = s_sub_find(self, in->rid, in->rid_len, m->stream);
    if (s)
        s_sub_drop(self, s, "unsubscribed");
    else
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_NOT_FOUND,
                                 0, "%s: no subscription", m->stream);
}

void lt_feed_drop_peers(lt_feed_t *self)
{
    while (self->n_subs)
        s_sub_drop(self, &self->subs[self->n_subs - 1], "peer socket rebound");
}

void lt_feed_set_dir(lt_feed_t *self, const lt_dir_t *dir, void *peer_sock)
{
    self->dir = dir;
    char why[512];
    for (size_t i = 0; i < self->n_subs;) {
        sub_t *s = &self->subs[i];
        Lienthong__ErrorCode code = s_may_subscribe(self, s->member, s->stream->name, why, sizeof why);
        const Lienthong__Member *m = lt_dir_member(dir, s->member);
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
}

/* ---- reading batches from the log ------------------------------------------- */

typedef struct {
    ProtobufCBinaryData recs[LT_BATCH_MAX_RECORDS];
    uint8_t *buf;
    size_t used, cap;
    size_t n;
} chunk_t;

static int s_chunk_add(void *arg, uint64_t seq, const void *rec, size_t len)
{
    (void)seq;
    chunk_t *c = arg;
    if (c->used + len > c->cap) {
        size_t cap = (c->used + len) * 2;
        uint8_t *nb = realloc(c->buf, cap);
        if (!nb)
            return -1;
        /* Re-point earlier records into the moved buffer. */
        for (size_t i = 0; i < c->n; i++)
            c->recs[i].data = nb + (c->recs[i].data - c->buf);
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->used, rec, len);
    c->recs[c->n].data = c->buf + c->used;
    c->recs[c->n].len = len;
    c->used += len;
    c->n++;
    return 0;
}

/* Reads up to max records of st from seq into c (emptied first). */
static int s_chunk_read(lt_feed_t *self, chunk_t *c, stream_t *st, uint64_t seq, int64_t max)
{
    c->n = c->used = 0;
    if (max > LT_BATCH_MAX_RECORDS)
        max = LT_BATCH_MAX_RECORDS;
    if (max > self->cfg->batch_max)
        max = self->cfg->batch_max;
    if (seq + (uint64_t)max - 1 > st->last_seq)
        max = (int64_t)(st->last_seq - seq + 1);
    if (max <= 0)
        return 0;
    int n = lt_store_read(self->store, st->id, seq, (size_t)max, self->batch_bytes, s_chunk_add, c);
    if (n < 0)
        lt_error("feed", "store: cannot read %s from %llu: %s", st->name, (unsigned long long)seq,
                 lt_store_error(self->store));
    return n;
}

/* ---- owner: the pump --------------------------------------------------------- */

/* Sends one signed batch to s. Returns 1 sent, 0 nothing to send or
 * would block, -1 when the subscription must be dropped. */
static int s_send_batch(lt_feed_t *self, void *sock, sub_t *s, chunk_t *c)
{
    int n = s_chunk_read(self, c, s->stream, s->next, s->credit);
    if (n <= 0)
        return n;
    if (c->used + 4096 > self->cfg->max_message) {
        /* Only a record stored before the cap was lowered can do this. The
         * consumer is told and backs off; nothing is skipped. */
        lt_error("feed", "%s: record %llu does not fit in a %zu-byte frame; feed to %s stalls",
                 s->stream->name, (unsigned long long)s->next, self->cfg->max_message, s->member);
        (void)lt_wire_send_error(sock, s->rid, s->rid_len, LIENTHONG__ERROR_CODE__ERR_TOO_LARGE, 0,
                                 "%s: record %llu is larger than the owner can send",
                                 s->stream->name, (unsigned long long)s->next);
        return -1;
    }
    uint8_t sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    if (lt_batch_sign(self->keys, s->stream->name, s->next, c->recs, c->n, s->prev, sig, hash) != 0)
        return -1;
    Lienthong__Batch b = LIENTHONG__BATCH__INIT;
    b.stream = s->stream->name;
    b.first_seq = s->next;
    b.n_records = c->n;
    b.records = c->recs;
    b.signature.data = sig;
    b.signature.len = sizeof sig;
    b.signed_at_ms = lt_clock_now_ms();
    Lienthong__Envelope env;
    lt_wire_env_init(&env);
    env.body_case = LIENTHONG__ENVELOPE__BODY_BATCH;
    env.batch = &b;
    if (lt_wire_send(sock, s->rid, s->rid_len, &env) != 0)
        return zmq_errno() == EAGAIN ? 0 : -1;
    s->next += c->n;
    s->credit -= (int64_t)c->n;
    memcpy(s->prev, hash, LT_HASH_BYTES);
    return 1;
}

static int s_pump_subs(lt_feed_t *self, void *sock, chunk_t *c)
{
    int sent = 0;
    for (size_t i = 0; i < self->n_subs;) {
        sub_t *s = &self->subs[i];
        int rc = 1;
        for (int k = 0; k < PUMP_BATCHES && rc == 1 && s->credit > 0 && s->next <= s->stream->last_seq; k++) {
            rc = s_send_batch(self, sock, s, c);
            sent += rc == 1;
        }
        if (rc < 0)
            s_sub_drop(self, s, zmq_errno() == EHOSTUNREACH ? "consumer disconnected" : "send failed");
        else
            i++;
    }
    return sent;
}

/* ---- consumer ------------------------------------------------------------------ */

static feed_t *s_feed_find(lt_feed_t *self, const char *stream)
{
    for (size_t i = 0; i < self->n_feeds; i++)
        if (strcmp(self->feeds[i].stream->name, stream) == 0)
            return &self->feeds[i];
    return NULL;
}

/* Stops a feed and schedules the re-subscribe. `unsubscribe` tells the owner,
 * unless the owner is the one that refused the subscription. */
static void s_feed_backoff(lt_feed_t *self, feed_t *f, const char *why, int64_t min_ms,
                           int unsubscribe)
{
    f->backoff = f->backoff ? f->backoff * 2 : BACKOFF_MIN_MS;
    if (f->backoff < min_ms)
        f->backoff = min_ms;
    if (f->backoff > BACKOFF_MAX_MS)
        f->backoff = BACKOFF_MAX_MS;
    f->state = FEED_BACKOFF;
    f->next_at = lt_clock_mono_ms() + f->backoff;
    lt_warn("feed", "replica of %s stopped at seq %llu: %s; re-subscribing in %lld ms",
            f->stream->name, (unsigned long long)f->cursor.last_seq, why, (long long)f->backoff);
    lt_audit_add(self->audit, &(lt_audit_entry_t){.event = "replica-stop", .peer = f->owner,
                                                  .target = f->stream->name, .detail = why});
    void *sock = unsubscribe ? self->link(self->link_arg, f->owner) : NULL;
    if (sock) {
        Lienthong__Unsubscribe u = LIENTHONG__UNSUBSCRIBE__INIT;
        u.stream = f->stream->name;
        Lienthong__Envelope env;
        lt_wire_env_init(&env);
        env.body_case = LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE;
        env.unsubscribe = &u;
        (void)lt_wire_send(sock, NULL, 0, &env);
    }
}

static void s_feed_subscribe(lt_feed_t *self, feed_t *f)
{
    const char *owner = self->dir ? s_owner(self->dir, f->stream->name) : NULL;
    if (!owner) {
        f->next_at = lt_clock_mono_ms() + BACKOFF_MAX_MS;
        lt_warn("feed", "cannot replicate %s: not a dataset or view of the directory", f->stream->name);
        return;
    }
    snprintf(f->owner, sizeof f->owner, "%s", owner);
    void *sock = self->link(self->link_arg, owner);
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = f->stream->name;
    m.from_seq = f->cursor.last_seq + 1;
    m.credit = (uint32_t)self->cfg->credit;
    if (f->cursor.last_seq > 0) {
        m.prev_hash.data = f->cursor.last_hash;
        m.prev_hash.len = LT_HASH_BYTES;
    }
    Lienthong__Envelope env;
    lt_wire_env_init(&env);
    env.body_case = LIENTHONG__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &m;
    int64_t now = lt_clock_mono_ms();
    if (!sock || lt_wire_send(sock, NULL, 0, &env) != 0) {
        f->next_at = now + 200; /* not connected yet: try again soon */
        return;
    }
    if (f->state != FEED_LIVE)
        lt_info("feed", "subscribing to %s from %s at seq %llu", f->stream->name, owner,
                (unsigned long long)m.from_seq);
    f->state = FEED_LIVE;
    f->outstanding = self->cfg->credit;
    f->last_batch_at = now;
}

void lt_feed_tick(lt_feed_t *self)
{
    int64_t now = lt_clock_mono_ms();
    for (size_t i = 0; i < self->n_feeds; i++) {
        feed_t *f = &self->feeds[i];
        /* A live feed with no batch for a while re-subscribes: cheap, and it
         * recovers from a restarted owner or lost credit without guessing. */
        if ((f->state != FEED_LIVE && now >= f->next_at) ||
            (f->state == FEED_LIVE && now - f->last_batch_at > IDLE_RESUBSCRIBE_MS))
            s_feed_subscribe(self, f);
    }
    for (size_t i = 0; i < self->n_streams; i++) {
        stream_t *s = &self->streams[i];
        if (now - s->rate_at >= 1000) {
            s->rate = (double)(s->last_seq - s->rate_seq) * 1000.0 / (double)(now - s->rate_at);
            s->rate_seq = s->last_seq;
            s->rate_at = now;
        }
    }
}

/* Unpacks and checks the (already verified) records; applies them with the
 * new cursor in one transaction. */
static int s_feed_apply(lt_feed_t *self, feed_t *f, const Lienthong__Batch *b,
                        const uint8_t hash[LT_HASH_BYTES], char *err, size_t errlen)
{
    if (lt_store_begin(self->store) != 0) {
        snprintf(err, errlen, "store: %s", lt_store_error(self->store));
        return -1;
    }
    uint64_t expect = f->cursor.last_seq + 1;
    for (size_t i = 0; i < b->n_records; i++, expect++) {
        Lienthong__Record *r = lienthong__record__unpack(NULL, b->records[i].len, b->records[i].data);
        int bad = !r || r->seq != expect || !r->key[0];
        if (bad)
            snprintf(err, errlen, "record %zu of the batch is %s", i,
                     !r ? "malformed" : r->seq != expect ? "out of sequence" : "without a key");
        else if (lt_store_append(self->store, f->stream->id, r->seq, b->records[i].data,
                                 b->records[i].len) != 0 ||
                 lt_store_state_put(self->store, f->stream->id, r->key, r->seq, r->deleted) != 0) {
            snprintf(err, errlen, "store: %s", lt_store_error(self->store));
            bad = 1;
        }
        if (r)
            lienthong__record__free_unpacked(r, NULL);
        if (bad) {
            lt_store_rollback(self->store);
            return -1;
        }
    }
    lt_stream_t next = f->cursor;
    next.last_seq = expect - 1;
    memcpy(next.last_hash, hash, LT_HASH_BYTES);
    if (lt_store_stream_save(self->store, &next) != 0 || lt_store_commit(self->store) != 0) {
        snprintf(err, errlen, "store: %s", lt_store_error(self->store));
        lt_store_rollback(self->store);
        return -1;
    }
    f->cursor = next;
    f->stream->last_seq = next.last_seq;
    return 0;
}

static void s_feed_credit(feed_t *f, void *sock, size_t n)
{
    Lienthong__Credit c = LIENTHONG__CREDIT__INIT;
    c.stream = f->stream->name;
    c.credit = (uint32_t)n;
    Lienthong__Envelope env;
    lt_wire_env_init(&env);
    env.body_case = LIENTHONG__ENVELOPE__BODY_CREDIT;
    env.credit = &c;
    if (lt_wire_send(sock, NULL, 0, &env) == 0)
        f->outstanding += (int64_t)n;
}

void lt_feed_on_batch(lt_feed_t *self, const char *owner, void *link_sock,
                      const Lienthong__Batch *b)
{
    feed_t *f = s_feed_find(self, b->stream);
    char err[300];
    if (!f || f->state != FEED_LIVE || strcmp(f->owner, owner) != 0 ||
        b->first_seq <= f->cursor.last_seq) {
        if (f)
            f->discarded++; /* stale: from before a re-subscribe, or a duplicate */
        return;
    }
    const Lienthong__Member *m = lt_dir_member(self->dir, owner);
    uint8_t hash[LT_HASH_BYTES];
    if ((int64_t)b->n_records > f->outstanding) {
        s_feed_backoff(self, f, "owner sent more records than our credit", 0, 1);
        return;
    }
    if (!m || lt_batch_verify(b, f->stream->name, f->cursor.last_seq + 1, f->cursor.last_hash,
                              m->signing_key.data, hash, err, sizeof err) != 0) {
        s_feed_backoff(self, f, m ? err : "owner not in directory", 0, 1);
        return;
    }
    if (s_feed_apply(self, f, b, hash, err, sizeof err) != 0) {
        s_feed_backoff(self, f, err, 0, 1);
        return;
    }
    f->outstanding -= (int64_t)b->n_records;
    f->backoff = 0;
    f->last_batch_at = lt_clock_mono_ms();
    s_feed_credit(f, link_sock, b->n_records);
}

void lt_feed_on_error(lt_feed_t *self, const char *owner, const Lienthong__Error *e)
{
    for (size_t i = 0; i < self->n_feeds; i++) {
        feed_t *f = &self->feeds[i];
        size_t sl = strlen(f->stream->name);
        /* Feed errors name the stream first: "STREAM: why". */
        if (f->state == FEED_LIVE && strcmp(f->owner, owner) == 0 &&
            strncmp(e->message, f->stream->name, sl) == 0 && e->message[sl] == ':') {
            int hard = e->code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN ||
                       e->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
            char why[400];
            snprintf(why, sizeof why, "owner refused (%s): %s", lt_wire_error_name(e->code),
                     e->message);
            s_feed_backoff(self, f, why, hard ? 30000 : 0, 0);
        }
    }
}

/* ---- local sinks ------------------------------------------------------------------ */

static sink_t *s_sink_find(lt_feed_t *self, const uint8_t *rid, size_t rid_len, const char *stream)
{
    for (size_t i = 0; i < self->n_sinks; i++) {
        sink_t *k = &self->sinks[i];
        if (k->rid_len == rid_len && memcmp(k->rid, rid, rid_len) == 0 &&
            strcmp(k->stream->name, stream) == 0)
            return k;
    }
    return NULL;
}

void lt_feed_on_sink_attach(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__SinkAttach *m)
{
    const char *owner = self->dir ? s_owner(self->dir, m->stream) : NULL;
    int ours = owner && strcmp(owner, self->cfg->member) == 0;
    stream_t *st = (ours || s_feed_find(self, m->stream)) ? s_stream(self, m->stream) : NULL;
    if (!st || m->from_seq == 0 || m->from_seq > st->last_seq + 1) {
        lt_warn("local", "refused sink for %s from seq %llu", m->stream, (unsigned long long)m->from_seq);
        (void)lt_wire_send_error(sock, in->rid, in->rid_len,
                                 st ? LIENTHONG__ERROR_CODE__ERR_SEQUENCE : LIENTHONG__ERROR_CODE__ERR_NOT_FOUND,
                                 0, "%s: %s", m->stream,
                                 st ? "from_seq is beyond the local log" : "not replicated or owned here");
        return;
    }
    /* One sink per stream: a new attach replaces the previous one. */
    for (size_t i = 0; i < self->n_sinks; i++)
        if (self->sinks[i].stream == st) {
            self->sinks[i] = self->sinks[--self->n_sinks];
            break;
        }
    if (self->n_sinks >= MAX_SINKS) {
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 0, "%s: too many sinks attached", m->stream);
        return;
    }
    sink_t *k = &self->sinks[self->n_sinks++];
    memset(k, 0, sizeof *k);
    memcpy(k->rid, in->rid, in->rid_len);
    k->rid_len = in->rid_len;
    k->stream = st;
    k->next = m->from_seq;
    k->acked = m->from_seq - 1;
    k->credit = m->credit;
    lt_info("local", "sink attached to %s from seq %llu", st->name, (unsigned long long)m->from_seq);
}

void lt_feed_on_deliver_ack(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__DeliverAck *m)
{
    sink_t *k = s_sink_find(self, in->rid, in->rid_len, m->stream);
    if (!k || m->through_seq <= k->acked || m->through_seq >= k->next) {
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_SEQUENCE, 0,
                                 "%s: acknowledgement %llu is out of range", m->stream,
                                 (unsigned long long)m->through_seq);
        return;
    }
    k->credit += (int64_t)(m->through_seq - k->acked);
    k->acked = m->through_seq;
}

/* Sends one Deliver to sink k. Returns 1 sent, 0 nothing, -1 drop. */
static int s_deliver(lt_feed_t *self, void *sock, sink_t *k, chunk_t *c)
{
    int n = s_chunk_read(self, c, k->stream, k->next, k->credit);
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
    Lienthong__Envelope env;
    lt_wire_env_init(&env);
    env.body_case = LIENTHONG__ENVELOPE__BODY_DELIVER;
    env.deliver = &d;
    if (rc == 1 && lt_wire_send(sock, k->rid, k->rid_len, &env) != 0)
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

static int s_pump_sinks(lt_feed_t *self, void *sock, chunk_t *c)
{
    int sent = 0;
    for (size_t i = 0; i < self->n_sinks;) {
        sink_t *k = &self->sinks[i];
        int rc = 1;
        for (int b = 0; b < PUMP_BATCHES && rc == 1 && k->credit > 0 && k->next <= k->stream->last_seq; b++) {
            rc = s_deliver(self, sock, k, c);
            sent += rc == 1;
        }
        if (rc < 0) {
            lt_info("local", "sink of %s detached at seq %llu", k->stream->name,
                    (unsigned long long)k->acked);
            *k = self->sinks[--self->n_sinks];
        } else {
            i++;
        }
    }
    return sent;
}

int lt_feed_pump(lt_feed_t *self, void *peer_sock, void *local_sock)
{
    static chunk_t c; /* one gateway per process; reused to avoid reallocation */
    int sent = 0;
    if (peer_sock)
        sent += s_pump_subs(self, peer_sock, &c);
    if (local_sock)
        sent += s_pump_sinks(self, local_sock, &c);
    return sent;
}

/* ---- status -------------------------------------------------------------------------- */

/* An owner's durable source cursor, from the store (a status request is
 * rare; the feed does not keep it): a source adapter checks at start that
 * its change ids have not been restarted below it (PROTOCOL.md 8.3). */
static void s_status_cursor(lt_feed_t *self, stream_t *st, Lienthong__StreamStatus *ss)
{
    lt_stream_t cur;
    if (strcmp(ss->role, "owner") != 0 || lt_store_stream_find(self->store, st->name, &cur) != 1 ||
        cur.source_cursor == 0)
        return;
    snprintf(st->source_cursor, sizeof st->source_cursor, "%llu",
             (unsigned long long)cur.source_cursor);
    ss->source_cursor = (char *)st->source_cursor;
}

/* After a restart the feed knows a dataset this member owns only once it is
 * published, subscribed or attached to; status lists every owned dataset
 * that has records, so that a starting source adapter finds its cursor. */
static void s_status_owned(lt_feed_t *self)
{
    const Lienthong__Directory *d = self->dir ? lt_dir_get(self->dir) : NULL;
    for (size_t i = 0; d && i < d->n_datasets; i++) {
        const Lienthong__Dataset *ds = d->datasets[i];
        lt_stream_t cur;
        if (strcmp(ds->owner, self->cfg->member) == 0 &&
            lt_store_stream_find(self->store, ds->id, &cur) == 1)
            (void)s_stream(self, ds->id);
    }
}

void lt_feed_status(lt_feed_t *self, Lienthong__StatusReply *r)
{
    s_status_owned(self);
    r->streams = calloc(self->n_streams ? self->n_streams : 1, sizeof *r->streams);
    if (!r->streams)
        return;
    for (size_t i = 0; i < self->n_streams; i++) {
        stream_t *st = &self->streams[i];
        Lienthong__StreamStatus *ss = calloc(1, sizeof *ss);
        if (!ss)
            return;
        lienthong__stream_status__init(ss);
        r->streams[r->n_streams++] = ss;
        ss->stream = st->name;
        ss->last_seq = st->last_seq;
        ss->records_per_sec = st->rate;
        ss->role = s_feed_find(self, st->name) ? "replica" : "owner";
        s_status_cursor(self, st, ss);
        ss->subscribers = calloc(self->n_subs + 1, sizeof *ss->subscribers);
        for (size_t j = 0; ss->subscribers && j < self->n_subs; j++) {
            if (self->subs[j].stream != st)
                continue;
            Lienthong__SubscriberStatus *sub = calloc(1, sizeof *sub);
            if (!sub)
                break;
            lienthong__subscriber_status__init(sub);
            sub->member = self->subs[j].member;
            sub->cursor = self->subs[j].next - 1;
            sub->lag = st->last_seq - sub->cursor;
            ss->subscribers[ss->n_subscribers++] = sub;
        }
    }
}

void lt_feed_status_free(Lienthong__StatusReply *r)
{
    for (size_t i = 0; i < r->n_streams; i++) {
        for (size_t j = 0; j < r->streams[i]->n_subscribers; j++)
            free(r->streams[i]->subscribers[j]);
        free(r->streams[i]->subscribers);
        free(r->streams[i]);
    }
    free(r->streams);
    r->streams = NULL;
    r->n_streams = 0;
}

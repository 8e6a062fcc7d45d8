/* lt_feed_repair: damaged records in the store (docs/ARCHITECTURE.md 4.2,
 * PROTOCOL.md 6.10). A read that meets a record failing its checksum stops
 * before it; the damage is logged once at error level, the sink or peer that
 * wanted it gets an Error naming the range, and a replica asks the owner for
 * the batch holding it again, verifies the answer against the signed header
 * it kept, and writes the records back. The owner's Error answering such a
 * Range echoes its request_id, so it is told apart from an error on the
 * live feed, which it leaves alone; when the owner no longer keeps the
 * records, the replica resynchronises by snapshot instead. An owner has no
 * one to ask: it reads its damaged run again from time to time, and
 * delivers it again once an operator repaired it (docs/operations.md
 * "Damaged store"). */
#include "lt_feed_int.h"
#include "lt_clock.h"
#include "lt_dirpick.h"
#include "lt_log.h"
#include "lt_peers.h"
#include "lt_store_verify.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A replica asks for the same damaged batch again no sooner than this, or,
 * after the store could not write the repair even after a rebuild (an
 * operator's matter, docs/operations.md "Damaged store"), than the second. */
#define REPAIR_RETRY_MS  2000
#define REPAIR_GIVEUP_MS 600000
/* The owner refused a Range for another reason than its retention (not
 * found, forbidden, its own damage): asked again no sooner than this. */
#define REPAIR_REFUSED_MS 30000
/* A damaged run nobody fetches again (an owner's, docs/operations.md
 * "Damaged store") is read again this long after it was found, the wait
 * doubling while it stays damaged up to the second: an operator's repair
 * is noticed within a minute, and a run that stays damaged costs one read
 * a minute. */
#define RECHECK_FIRST_MS 1000
#define RECHECK_MAX_MS   60000

/* The end of the damaged run that starts at seq: probes forward while the
 * records stay damaged, within one batch's worth. */
static uint64_t s_damage_end(lt_feed_t *self, const lt_feed_stream_t *st, uint64_t seq)
{
    uint64_t last = seq;
    while (last < st->last_seq && last - seq < LT_BATCH_MAX_RECORDS) {
        uint8_t *rec = NULL;
        size_t len;
        int rc = lt_store_get(self->ctx->store, st->id, last + 1, &rec, &len);
        free(rec);
        if (rc != LT_STORE_DAMAGED)
            break;
        last++;
    }
    return last;
}

/* Asks the owner for the kept batch that holds seq again. */
static void s_request(lt_feed_t *self, lt_feed_stream_t *st, uint64_t seq)
{
    lt_feed_replica_t *f = lt_feed_replica_find(self, st->name);
    lt_store_batch_t h;
    int64_t now = lt_clock_mono_ms();
    /* A forked or resynchronising replica is replaced by a copy of the
     * owner's current history (PROTOCOL.md 6.9), damaged records with it. */
    if (!f || !f->owner[0] || f->state == LT_FEED_FORKED || f->resyncing)
        return;
    int found = lt_store_batch_find(self->ctx->store, st->id, seq, &h);
    if (found != 1 || h.first_seq > seq) {
        if (st->repair_first != seq)
            lt_error("store", "%s: cannot repair record %llu: no signed batch header kept for it",
                     st->name, (unsigned long long)seq);
        st->repair_first = seq;
        return;
    }
    if (st->repair_first == h.first_seq && now < st->repair_at)
        return;
    /* One request_id per range asked, kept across its retries, so that a
     * late answer to an earlier retry is still known as the Range's. */
    if (st->repair_first != h.first_seq || !st->repair_rid) {
        do
            randombytes_buf(&st->repair_rid, sizeof st->repair_rid);
        while (!st->repair_rid);
    }
    Lienthong__Range m = LIENTHONG__RANGE__INIT;
    m.request_id = st->repair_rid;
    m.stream = st->name;
    m.first_seq = h.first_seq;
    m.last_seq = h.last_seq;
    m.prev_hash.data = h.prev_hash;
    m.prev_hash.len = LT_HASH_BYTES;
    void *sock = lt_peers_link(self->ctx->peers, f->owner);
    if (!sock || lt_wire_send_body(sock, NULL, 0, LIENTHONG__ENVELOPE__BODY_RANGE, &m) != 0)
        return;
    st->repair_first = h.first_seq;
    st->repair_at = now + REPAIR_RETRY_MS;
    st->repair_waiting = 1;
    lt_info("store", "%s: asked %s for records %llu..%llu again", st->name, f->owner,
            (unsigned long long)h.first_seq, (unsigned long long)h.last_seq);
}

/* Remembers and logs (once) the damaged run first..last and why: the one
 * line for it, whichever read met it (a feed, a snapshot, retention), so it
 * says all of what the damage stops. Retention neither prunes a damaged
 * record nor anything after it (PROTOCOL.md 6.8). */
static void s_mark(lt_feed_t *self, lt_feed_stream_t *st, uint64_t first, uint64_t last,
                   const char *why)
{
    if (st->damaged_first == first)
        return;
    st->damaged_first = first;
    st->damaged_last = last;
    st->recheck_wait = RECHECK_FIRST_MS;
    st->recheck_at = lt_clock_mono_ms() + RECHECK_FIRST_MS;
    lt_error("store",
             "%s: records %llu..%llu are damaged in the store (%s); they are not "
             "delivered, and the log is not pruned from them, until they are repaired%s",
             st->name, (unsigned long long)first, (unsigned long long)last, why,
             lt_feed_replica_find(self, st->name) ? "; fetching them again from the owner"
                                                  : "; run: lienthong store verify");
}

void lt_feed_damaged_why(lt_feed_t *self, lt_feed_stream_t *st, uint64_t seq, const char *why)
{
    if (st->damaged_first != seq)
        s_mark(self, st, seq, s_damage_end(self, st, seq), why);
    s_request(self, st, seq);
}

void lt_feed_damaged(lt_feed_t *self, lt_feed_stream_t *st, uint64_t seq)
{
    const char *what = lt_store_damaged_why(self->ctx->store);
    /* None when a snapshot's own reading (lt_store_snap) met it: its
     * checksum failed or its log row is missing. */
    lt_feed_damaged_why(self, st, seq, what[0] ? what : "checksum mismatch or row missing");
}

int lt_feed_damage_cap(lt_feed_t *self, lt_feed_stream_t *st, uint64_t seq, int64_t *max)
{
    if (!st->damaged_first || seq > st->damaged_last)
        return 0;
    if (seq >= st->damaged_first) {
        s_request(self, st, st->damaged_first);
        return LT_STORE_DAMAGED;
    }
    if (seq + (uint64_t)*max > st->damaged_first)
        *max = (int64_t)(st->damaged_first - seq);
    return 0;
}

/* ---- the bounded check at start ------------------------------------------------ */

typedef struct {
    lt_feed_t *self;
    lt_feed_stream_t *st;
} tail_t;

static void s_on_damage(void *arg, const char *stream, lt_store_finding_t kind, uint64_t first,
                        uint64_t last, const char *why)
{
    (void)stream;
    tail_t *t = arg;
    /* Proven under the owner's key a retired directory lists (PROTOCOL.md
     * 6.10): delivered. */
    if (kind == LT_STORE_KEY_RETIRED) {
        lt_info("store",
                "%s: records %llu..%llu are signed with a key the directory no longer lists "
                "for the owner, verified under a directory adopted before; delivered",
                t->st->name, (unsigned long long)first, (unsigned long long)last);
        return;
    }
    /* The first damaged range is the one to repair first; later ones are
     * found again as reads reach them. */
    if (!t->st->damaged_first)
        s_mark(t->self, t->st, first, last, why);
}

void lt_feed_check_tail(lt_feed_t *self, lt_feed_stream_t *st, const lt_stream_t *cursor)
{
    char err[400] = "";
    tail_t t = {self, st};
    uint64_t from =
        cursor->last_seq > LT_STORE_TAIL_CHECK ? cursor->last_seq - LT_STORE_TAIL_CHECK + 1 : 1;
    if (cursor->last_seq == 0)
        return;
    /* The owners' keys before a rotation (PROTOCOL.md 6.10): read once for
     * every replica's check, not once each. */
    const lt_gwcfg_t *cfg = self->ctx->cfg;
    if (!self->retired_open) {
        lt_dirpick_retired_open(&self->retired, cfg->data_dir, &cfg->pins, cfg->federation);
        self->retired_open = 1;
    }
    if (lt_store_verify_stream(self->ctx->store, self->ctx->dir, self->retired.dirs,
                               self->retired.count, st->name, cursor, from, s_on_damage, &t, err,
                               sizeof err) < 0)
        lt_error("store", "cannot check the tail of %s: %s", st->name, err);
}

/* st's damaged run is repaired: delivered again; a late Error echoing the
 * Range's id then answers no Range. */
static void s_clear(lt_feed_stream_t *st)
{
    st->damaged_first = st->damaged_last = 0;
    st->repair_rid = 0;
    st->repair_first = 0;
    st->repair_waiting = 0;
    st->recheck_at = st->recheck_wait = 0;
}

Lienthong__Record *lt_feed_record_decode(uint64_t seq, const void *rec, size_t len,
                                         uint64_t *garbled)
{
    Lienthong__Record *r = lienthong__record__unpack(NULL, len, rec);
    if (!r && garbled)
        *garbled = seq;
    return r;
}

/* An lt_store_rec_fn: a record that passes its checksum but does not
 * decode is damage too (lt_feed_retain.c); *arg gets its seq. */
static int s_decodes(void *arg, uint64_t seq, const void *rec, size_t len,
                     const uint8_t leaf[LT_HASH_BYTES])
{
    (void)leaf;
    Lienthong__Record *r = lt_feed_record_decode(seq, rec, len, arg);
    if (!r)
        return -1;
    lienthong__record__free_unpacked(r, NULL);
    return 0;
}

/* Reads st's damaged run again: the first of its records still damaged
 * (failing its checksum, missing, or not decoding), damaged_last + 1 when
 * all read clean, or 0 when the store failed (read again later). */
static uint64_t s_reread(lt_feed_t *self, const lt_feed_stream_t *st)
{
    uint64_t seq = st->damaged_first;
    while (seq <= st->damaged_last) {
        uint64_t garbled = 0, left = st->damaged_last - seq + 1;
        size_t want = left < LT_BATCH_MAX_RECORDS ? (size_t)left : LT_BATCH_MAX_RECORDS;
        int n = lt_store_read(self->ctx->store, st->id, seq, want, SIZE_MAX, s_decodes, &garbled);
        if (garbled)
            return garbled;
        if (n == LT_STORE_DAMAGED || n == 0) /* 0: a row missing at the end */
            return seq;
        if (n < 0) {
            lt_debug("store", "%s: cannot read records %llu.. again: %s", st->name,
                     (unsigned long long)seq, lt_store_error(self->ctx->store));
            return 0;
        }
        seq += (uint64_t)n;
    }
    return seq;
}

/* Reads the damaged run of st, which nothing fetches again, once due: the
 * records that read clean again (an operator repaired them) are delivered
 * again, said once; while the run stays damaged, nothing is logged and the
 * wait doubles. */
static void s_recheck(lt_feed_t *self, lt_feed_stream_t *st, int64_t now)
{
    if (now < st->recheck_at)
        return;
    if (lt_feed_replica_find(self, st->name)) {
        /* Its owner repairs it; asked again only in case a reload
         * unsubscribes it, not at every tick. */
        st->recheck_at = now + RECHECK_MAX_MS;
        return;
    }
    uint64_t first = st->damaged_first, bad = s_reread(self, st);
    if (bad > first) {
        lt_info("store", "%s: records %llu..%llu read clean again; delivered", st->name,
                (unsigned long long)first, (unsigned long long)(bad - 1));
        /* Retention waits no longer on it (lt_feed_retain.c). */
        st->prune_wait_at = 0;
        if (bad > st->damaged_last) {
            s_clear(st);
            return;
        }
        st->damaged_first = bad; /* the rest stays damaged */
    }
    st->recheck_wait = lt_feed_wait_next(st->recheck_wait, RECHECK_FIRST_MS, RECHECK_MAX_MS);
    st->recheck_at = now + st->recheck_wait;
}

void lt_feed_repair_tick(lt_feed_t *self)
{
    for (size_t i = 0; i < self->n_replicas; i++) {
        lt_feed_stream_t *st = self->replicas[i].stream;
        lt_stats_set(self->replicas[i].st_damaged,
                     st->damaged_first ? (int64_t)(st->damaged_last - st->damaged_first + 1) : 0);
        if (st->damaged_first)
            s_request(self, st, st->damaged_first);
    }
    int64_t now = lt_clock_mono_ms();
    for (size_t i = 0; i < self->n_streams; i++)
        if (self->streams[i].damaged_first)
            s_recheck(self, &self->streams[i], now);
}

void lt_feed_repair_status(const lt_feed_stream_t *st, Lienthong__StreamStatus *ss)
{
    if (!st->damaged_first)
        return;
    Lienthong__DamagedRange *d = calloc(1, sizeof *d);
    if (!d)
        return;
    lienthong__damaged_range__init(d);
    d->stream = (char *)st->name;
    d->first_seq = st->damaged_first;
    d->last_seq = st->damaged_last;
    ss->damaged = d;
}

/* The owner refused the Range r asked for f (PROTOCOL.md 6.10): records
 * below its retained tail (ERR_SEQUENCE), or a batch that no longer fits
 * its max_message, lowered since the replica applied it (ERR_TOO_LARGE:
 * asked again, it would be refused for ever), are resynchronised by
 * snapshot, whose batches the owner cuts to its frame size; anything else
 * is asked again later. The live feed is not touched. */
static void s_refused(lt_feed_t *self, lt_feed_replica_t *f, const Lienthong__Error *e)
{
    lt_feed_stream_t *st = f->stream;
    char why[400];
    snprintf(why, sizeof why, "%s refused to send records %llu.. again (%s): %s", f->owner,
             (unsigned long long)st->repair_first, lt_wire_error_name(e->code), e->message);
    if (f->resyncing || f->state == LT_FEED_FORKED) {
        lt_debug("store", "%s: %s; already resynchronising", st->name, why);
        return;
    }
    int too_large = e->code == LIENTHONG__ERROR_CODE__ERR_TOO_LARGE;
    if (e->code != LIENTHONG__ERROR_CODE__ERR_SEQUENCE && !too_large) {
        st->repair_at = lt_clock_mono_ms() + REPAIR_REFUSED_MS;
        lt_warn("store", "%s: %s; the feed goes on, the damaged records are asked again in %d s",
                st->name, why, REPAIR_REFUSED_MS / 1000);
        return;
    }
    lt_stats_inc(f->st_repair_resyncs);
    /* Logged once: the resynchronisation asks for no range meanwhile. */
    lt_warn("store",
            "%s: %s; the owner cannot send them %s: resynchronising the replica by snapshot",
            st->name, why,
            too_large ? "in one message any more (its max_message was lowered since they were "
                        "applied)"
                      : "from its log");
    if (lt_feed_history_resync_repair(self, f, why) != 0)
        st->repair_at = lt_clock_mono_ms() + REPAIR_REFUSED_MS; /* logged; tried again then */
}

int lt_feed_on_range_error(lt_feed_t *self, const char *owner, const Lienthong__Error *e)
{
    if (!e->request_id)
        return 0; /* an owner older than the echo (6.10): read as a feed error */
    for (size_t i = 0; i < self->n_replicas; i++) {
        lt_feed_replica_t *f = &self->replicas[i];
        if (f->stream->repair_rid == e->request_id && strcmp(f->owner, owner) == 0) {
            s_refused(self, f, e);
            return 1;
        }
    }
    return 0;
}

int lt_feed_send_damaged(void *sock, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                         const lt_feed_stream_t *st)
{
    char msg[LT_STREAM_ID_MAX + 160];
    snprintf(msg, sizeof msg,
             "%s: records %llu..%llu are damaged in this gateway's store and are not "
             "delivered until repaired",
             st->name, (unsigned long long)st->damaged_first, (unsigned long long)st->damaged_last);
    Lienthong__DamagedRange d = LIENTHONG__DAMAGED_RANGE__INIT;
    d.stream = (char *)st->name;
    d.first_seq = st->damaged_first;
    d.last_seq = st->damaged_last;
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    e.code = LIENTHONG__ERROR_CODE__ERR_INTERNAL;
    e.request_id = request_id;
    e.message = msg;
    e.damaged = &d;
    return lt_wire_send_body(sock, rid, rid_len, LIENTHONG__ENVELOPE__BODY_ERROR, &e);
}

/* ---- owner: a range asked again ------------------------------------------------ */

/* The checks of PROTOCOL.md 6.10 on a Range request; sets *st when they pass. */
static Lienthong__ErrorCode s_range_check(lt_feed_t *self, const char *member,
                                          const Lienthong__Range *m, lt_feed_stream_t **st,
                                          char *why, size_t len)
{
    if (m->batch) {
        snprintf(why, len, "%s: a range request carries no batch", m->stream);
        return LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    }
    Lienthong__ErrorCode code = lt_feed_open_owned(self, member, m->stream, st, why, len);
    if (code)
        return code;
    if (!lt_feed_range_fits(*st, m->first_seq, m->last_seq) ||
        m->prev_hash.len != (m->first_seq > 1 ? LT_HASH_BYTES : 0)) {
        snprintf(why, len, "%s: cannot send records %llu..%llu again (last is %llu)", m->stream,
                 (unsigned long long)m->first_seq, (unsigned long long)m->last_seq,
                 (unsigned long long)(*st)->last_seq);
        return LIENTHONG__ERROR_CODE__ERR_SEQUENCE;
    }
    /* Records below the retained tail are gone (6.8): the consumer's remedy
     * is a snapshot (6.7, Subscribe.snapshot). */
    if (m->first_seq < (*st)->tail_first) {
        snprintf(why, len, "%s: records before %llu are no longer kept; ask for a snapshot",
                 m->stream, (unsigned long long)(*st)->tail_first);
        return LIENTHONG__ERROR_CODE__ERR_SEQUENCE;
    }
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

/* Reads and signs the range; -1 after answering with an Error. */
static int s_range_send(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                        const Lienthong__Range *m, lt_feed_stream_t *st)
{
    static const uint8_t zeros[LT_HASH_BYTES];
    const lt_feed_chunk_t *c = &self->chunk;
    int64_t want = (int64_t)(m->last_seq - m->first_seq + 1);
    int n = lt_feed_chunk_read_range(self, st, m->first_seq, m->last_seq);
    if (n == LT_STORE_DAMAGED)
        return lt_feed_send_damaged(sock, in->rid, in->rid_len, m->request_id, st), -1;
    if (n < 0) {
        /* The store failed here: a passing fault, which the consumer asks
         * again about. ERR_TOO_LARGE would make it resynchronise whole. A
         * range out of bounds was refused by s_range_check: never here. */
        (void)lt_wire_send_error(sock, in->rid, in->rid_len,
                                 n == LT_FEED_RANGE_BAD ? LIENTHONG__ERROR_CODE__ERR_SEQUENCE
                                                        : LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                 m->request_id, "%s: records %llu..%llu cannot be read now",
                                 st->name, (unsigned long long)m->first_seq,
                                 (unsigned long long)m->last_seq);
        return -1;
    }
    if (n != want) {
        (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_TOO_LARGE,
                                 m->request_id, "%s: records %llu..%llu do not fit one batch here",
                                 st->name, (unsigned long long)m->first_seq,
                                 (unsigned long long)m->last_seq);
        return -1;
    }
    uint8_t sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    const uint8_t *prev = m->first_seq > 1 ? m->prev_hash.data : zeros;
    /* Signed on the stream's history like any batch (PROTOCOL.md 6.9): a
     * replica kept the range on that history, or refuses the answer. */
    if (lt_batch_sign_history(self->ctx->keys, st->name, st->history, m->first_seq, c->recs, c->n,
                              prev, sig, hash) != 0)
        return -1;
    Lienthong__Batch b = LIENTHONG__BATCH__INIT;
    b.stream = st->name;
    b.first_seq = m->first_seq;
    b.n_records = c->n;
    b.records = (ProtobufCBinaryData *)c->recs;
    b.signature.data = sig;
    b.signature.len = sizeof sig;
    b.signed_at_ms = lt_clock_now_ms();
    b.history_id.data = st->history;
    b.history_id.len = LT_HISTORY_BYTES;
    Lienthong__Range r = *m;
    r.prev_hash.len = 0; /* the answer carries the range and the batch */
    r.batch = &b;
    return lt_wire_send_body(sock, in->rid, in->rid_len, LIENTHONG__ENVELOPE__BODY_RANGE, &r);
}

void lt_feed_on_range_request(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                              const Lienthong__Range *m)
{
    char why[512];
    lt_feed_stream_t *st = NULL;
    Lienthong__ErrorCode code = s_range_check(self, in->user_id, m, &st, why, sizeof why);
    if (code) {
        lt_feed_refuse(self, sock, in, "range request", m->stream, code, m->request_id, why);
        return;
    }
    if (s_range_send(self, sock, in, m, st) == 0)
        lt_info("feed", "sent %s records %llu..%llu again to %s", st->name,
                (unsigned long long)m->first_seq, (unsigned long long)m->last_seq, in->user_id);
}

/* ---- replica: writing the range back --------------------------------------------- */

/* The batch_hash that must follow the kept batch h: the next kept batch's
 * prev hash, or the stream's head. */
static int s_next_hash(lt_feed_t *self, const lt_feed_replica_t *f, const lt_store_batch_t *h,
                       uint8_t out[LT_HASH_BYTES])
{
    lt_store_batch_t next;
    if (h->last_seq == f->cursor.last_seq) {
        memcpy(out, f->cursor.last_hash, LT_HASH_BYTES);
        return 0;
    }
    if (lt_store_batch_find(self->ctx->store, f->stream->id, h->last_seq + 1, &next) != 1 ||
        next.first_seq != h->last_seq + 1)
        return -1;
    memcpy(out, next.prev_hash, LT_HASH_BYTES);
    return 0;
}

/* Verifies b against the kept header and the chain around it (PROTOCOL.md
 * 6.10); fills *h with the header to keep. */
static int s_range_verify(lt_feed_t *self, const lt_feed_replica_t *f, const Lienthong__Batch *b,
                          lt_store_batch_t *h, char *err, size_t errlen)
{
    const Lienthong__Member *m = lt_dir_member(self->ctx->dir, f->owner);
    uint8_t hash[LT_HASH_BYTES], want[LT_HASH_BYTES];
    if (!m || b->n_records == 0 ||
        lt_store_batch_find(self->ctx->store, f->stream->id, b->first_seq, h) != 1 ||
        h->first_seq != b->first_seq || h->last_seq != b->first_seq + b->n_records - 1) {
        snprintf(err, errlen, "it matches no batch this replica applied");
        return -1;
    }
    /* H binds the history (PROTOCOL.md 6.9): the batch kept here was signed
     * on one, the answer must be on the same. */
    if ((b->history_id.len == LT_HISTORY_BYTES) != (h->has_history != 0) ||
        (h->has_history && memcmp(b->history_id.data, h->history, LT_HISTORY_BYTES) != 0)) {
        snprintf(err, errlen, "it is on another history than the batch this replica applied");
        return -1;
    }
    /* Either of the owner's signing keys during a rotation (PROTOCOL.md 5.5). */
    const uint8_t *keys[2];
    size_t n = lt_dir_signing_keys(m, keys);
    int rc = -1;
    for (size_t i = 0; i < n && rc != 0; i++)
        rc = lt_batch_verify_root(b, f->stream->name, b->first_seq, h->prev_hash, keys[i], hash,
                                  h->root, err, errlen);
    if (rc != 0)
        return -1;
    if (s_next_hash(self, f, h, want) != 0 || memcmp(hash, want, LT_HASH_BYTES) != 0) {
        snprintf(err, errlen, "it does not chain to the batches around it");
        return -1;
    }
    memcpy(h->signature, b->signature.data, LT_SIG_BYTES);
    return 0;
}

/* Writes the verified records and header back in one transaction; on
 * failure the store's reason is in err, and *corrupt says whether SQLite
 * found the file corrupt where it had to write. */
static int s_range_write(lt_feed_t *self, const lt_feed_replica_t *f, const Lienthong__Batch *b,
                         const lt_store_batch_t *h, int *corrupt, char *err, size_t errlen)
{
    lt_store_t *store = self->ctx->store;
    int rc = lt_store_begin(store);
    for (size_t i = 0; rc == 0 && i < b->n_records; i++)
        rc = lt_store_replace(store, f->stream->id, b->first_seq + i, b->records[i].data,
                              b->records[i].len);
    if (rc == 0)
        rc = lt_store_batch_put(store, f->stream->id, h);
    if (rc == 0)
        rc = lt_store_commit(store);
    if (rc != 0) {
        snprintf(err, errlen, "%s", lt_store_error(store));
        *corrupt = lt_store_corrupt(store);
        lt_store_rollback(store);
    }
    return rc;
}

int lt_feed_store_rebuild(lt_feed_t *self, int64_t *lost, char *err, size_t errlen)
{
    /* The writer thread's connection to the old file is closed before the
     * new file takes its place, and opened on the new one after; no
     * checkpoint runs meanwhile (lt_ckpt_suspend says why). The snapshots
     * being sent read on connections of their own: they end first
     * (lt_feed_snap_end_all), so that none reads the old file after the
     * swap (docs/ARCHITECTURE.md 4.2, 6). The snapshots being received
     * are abandoned after it (lt_feed_stage_drop_all). */
    lt_feed_snap_end_all(self);
    lt_writer_t *w = self->ctx->writer;
    if (w && lt_writer_suspend(w) != 0) {
        snprintf(err, errlen, "the writer thread did not hand its publish group back");
        return -1;
    }
    if (self->ctx->ckpt)
        lt_ckpt_suspend(self->ctx->ckpt);
    int rc = lt_store_rebuild(self->ctx->store, lost, err, errlen);
    if (self->ctx->ckpt)
        lt_ckpt_resume(self->ctx->ckpt);
    /* Rows the rebuild lost must read as damage, not be sent from memory:
     * neither the records committed lately nor the batches sent lately
     * (docs/ARCHITECTURE.md 4.2). The rebuild copies the whole file, so
     * every stream's go. A publish group committed before it and answered
     * after keeps none either (lt_publish_job_finish, lt_store_rebuilds). */
    lt_fresh_clear(self->fresh);
    lt_tail_clear(self->tail);
    char werr[300];
    if (w && lt_writer_resume(w, werr, sizeof werr) != 0)
        lt_error("store", "the writer thread cannot open the rebuilt store: %s", werr);
    /* Whether or not the rebuild succeeded: one that fails late may leave
     * the new file in place (lt_store_rebuild), and a snapshot sent again
     * costs only its transfer. */
    lt_feed_stage_drop_all(self, "the store was rebuilt");
    return rc;
}

/* A page SQLite finds corrupt cannot be written in place: the store is
 * rebuilt from what is readable (the rows lost there read as missing and
 * are fetched again like any damage), then the write is tried once more. */
static int s_range_write_rebuild(lt_feed_t *self, const lt_feed_replica_t *f,
                                 const Lienthong__Batch *b, const lt_store_batch_t *h, char *err,
                                 size_t errlen)
{
    int corrupt = 0;
    int64_t lost = 0;
    if (s_range_write(self, f, b, h, &corrupt, err, errlen) == 0)
        return 0;
    if (!corrupt)
        return -1;
    lt_error("store",
             "%s: SQLite finds the store corrupt (%s); rebuilding it from what is "
             "readable",
             f->stream->name, err);
    if (lt_feed_store_rebuild(self, &lost, err, errlen) != 0)
        return -1;
    lt_warn("store",
            "store rebuilt: %lld log rows were unreadable and are fetched again from "
            "their owners",
            (long long)lost);
    return s_range_write(self, f, b, h, &corrupt, err, errlen);
}

/* The replica m answers, when it is a Range f asked owner for and still
 * waits for: its first seq and request_id (or 0, from an owner that does
 * not echo it), no answer to it refused since it was sent, while the run
 * is damaged and no resynchronisation replaces it (PROTOCOL.md 6.10).
 * Anything else would cost a verification and a write transaction per
 * message an owner cares to send; NULL then, with why. */
static lt_feed_replica_t *s_range_awaited(lt_feed_t *self, const char *owner,
                                          const Lienthong__Range *m, char *why, size_t len)
{
    const Lienthong__Batch *b = m->batch;
    lt_feed_replica_t *f = b ? lt_feed_replica_find(self, b->stream) : NULL;
    const lt_feed_stream_t *st = f ? f->stream : NULL;
    if (!f || strcmp(f->owner, owner) != 0)
        snprintf(why, len, "%.300s: range of a stream not replicated from this member", m->stream);
    else if (!st->damaged_first || !st->repair_rid || !st->repair_waiting ||
             (m->request_id && m->request_id != st->repair_rid) ||
             b->first_seq != st->repair_first || f->resyncing || f->state == LT_FEED_FORKED)
        snprintf(why, len, "%.300s: records %llu.. sent again unasked, or no longer awaited",
                 b->stream, (unsigned long long)b->first_seq);
    else
        return f;
    return NULL;
}

void lt_feed_on_range_batch(lt_feed_t *self, const char *owner, const Lienthong__Range *m)
{
    const Lienthong__Batch *b = m->batch;
    lt_store_batch_t h;
    char err[300], why[560];
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_SEQUENCE;
    lt_feed_replica_t *f = s_range_awaited(self, owner, m, why, sizeof why);
    if (f && s_range_verify(self, f, b, &h, err, sizeof err) != 0) {
        /* The wait ends: the same answer sent again is dropped unverified,
         * as unasked, and the range asked again after REPAIR_RETRY_MS, as
         * any failed answer (6.10). */
        f->stream->repair_waiting = 0;
        snprintf(why, sizeof why, "%.200s: records %llu.. sent again refused: %s", b->stream,
                 (unsigned long long)b->first_seq, err);
        code = LIENTHONG__ERROR_CODE__ERR_BAD_SIGNATURE;
        f = NULL;
    }
    /* Refusals are counted and logged through lt_reject's tally
     * (PROTOCOL.md 4.4), not a line each: an owner may send many. Not
     * answered: nothing asked for an answer. */
    if (!f) {
        (void)lt_reject(
            self->ctx->reject,
            &(lt_reject_in_t){
                .who = owner, .what = "range", .target = m->stream, .code = code, .why = why});
        return;
    }
    /* Answered: sent again (or a write that failed, below), it is no
     * longer awaited, and costs no second write or rebuild. */
    f->stream->repair_waiting = 0;
    if (s_range_write_rebuild(self, f, b, &h, err, sizeof err) != 0) {
        lt_error("store",
                 "%s: cannot write repaired records %llu..%llu: %s; the store needs "
                 "rebuilding (docs/operations.md \"Damaged store\")",
                 b->stream, (unsigned long long)h.first_seq, (unsigned long long)h.last_seq, err);
        f->stream->repair_at = lt_clock_mono_ms() + REPAIR_GIVEUP_MS;
        return;
    }
    lt_info("store",
            "%s: repaired records %llu..%llu from %s (verified against the owner's "
            "signature)",
            b->stream, (unsigned long long)h.first_seq, (unsigned long long)h.last_seq, owner);
    lt_feed_stream_t *st = f->stream;
    if (st->damaged_first >= h.first_seq && st->damaged_first <= h.last_seq)
        s_clear(st);
}

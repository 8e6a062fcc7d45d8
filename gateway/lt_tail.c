/* lt_tail: the owner's in-memory tail of recently sent batches (see
 * lt_tail.h): a ring of batches, oldest evicted first, each with its
 * records, Merkle root and up to LT_TAIL_CHAINS signed, packed messages. */
#include "lt_tail.h"
#include "lt_clock.h"
#include "lt_gwstats.h"
#include "lt_wire.h"

#include <stdlib.h>
#include <string.h>

/* One signature of a cached batch: for one chain (prev hash), under one
 * signing key, with the Envelope{Batch} packed once. */
typedef struct {
    int used;
    zmq_msg_t msg;
    uint8_t prev[LT_HASH_BYTES], hash[LT_HASH_BYTES], pk[LT_KEY_BYTES];
} lt_tail_sig_t;

typedef struct {
    int used;
    int64_t stream_id;
    char stream[LT_STREAM_ID_MAX];
    uint8_t history[LT_HISTORY_BYTES];
    uint64_t first;
    size_t n;
    int cut; /* the store read stopped at the byte limit */
    uint8_t root[LT_HASH_BYTES];
    ProtobufCBinaryData *recs; /* n records, pointing into buf */
    uint8_t *buf;
    lt_tail_sig_t sigs[LT_TAIL_CHAINS];
    size_t next_sig; /* the slot a new chain replaces when all are in use */
    size_t bytes;    /* what it counts against max_bytes */
} lt_tail_ent_t;

struct _lt_tail_t {
    lt_tail_ent_t *ents; /* a ring of max_batches slots */
    size_t max_batches, max_bytes;
    size_t head; /* the next slot filled; the oldest entry when the ring is full */
    size_t count, bytes;
    lt_stats_series_t *st_hits, *st_resigned, *st_misses, *st_evicted, *st_hit_bytes, *st_bytes,
        *st_batches;
};

/* ---- statistics ------------------------------------------------------------- */

static lt_stats_series_t *s_stat(lt_stats_t *stats, const char *name, const char *help,
                                 lt_stats_kind_t kind, lt_stats_unit_t unit)
{
    lt_stats_def_t def = {.name = name, .help = help, .kind = kind, .unit = unit};
    return lt_gwstats_series(stats, &def, NULL);
}

static int s_register(lt_tail_t *self, lt_stats_t *stats)
{
    self->st_hits = s_stat(stats, "lienthong_tail_hits",
                           "Owner: batches sent from the in-memory tail as signed before",
                           LT_STATS_COUNTER, LT_STATS_UNIT_NONE);
    self->st_resigned = s_stat(stats, "lienthong_tail_resigned",
                               "Owner: batches sent from the in-memory tail's records, signed "
                               "for another chain (prev hash) or a new signing key",
                               LT_STATS_COUNTER, LT_STATS_UNIT_NONE);
    self->st_misses = s_stat(stats, "lienthong_tail_misses",
                             "Owner: batches read from the store (not in the in-memory tail)",
                             LT_STATS_COUNTER, LT_STATS_UNIT_NONE);
    self->st_evicted = s_stat(stats, "lienthong_tail_evicted",
                              "Owner: batches evicted from the in-memory tail by its bounds",
                              LT_STATS_COUNTER, LT_STATS_UNIT_NONE);
    self->st_hit_bytes =
        s_stat(stats, "lienthong_tail_sent", "Owner: bytes of batches sent from the in-memory tail",
               LT_STATS_COUNTER, LT_STATS_UNIT_BYTES);
    self->st_bytes = s_stat(stats, "lienthong_tail_held",
                            "Owner: bytes the in-memory tail holds (records and packed batches)",
                            LT_STATS_GAUGE, LT_STATS_UNIT_BYTES);
    self->st_batches =
        s_stat(stats, "lienthong_tail_batches", "Owner: batches the in-memory tail holds",
               LT_STATS_GAUGE, LT_STATS_UNIT_NONE);
    return self->st_hits && self->st_resigned && self->st_misses && self->st_evicted &&
                   self->st_hit_bytes && self->st_bytes && self->st_batches
               ? 0
               : -1;
}

static void s_gauges(lt_tail_t *self)
{
    lt_stats_set(self->st_bytes, (int64_t)self->bytes);
    lt_stats_set(self->st_batches, (int64_t)self->count);
}

/* ---- entries ------------------------------------------------------------------ */

static size_t s_sig_bytes(const lt_tail_sig_t *g)
{
    return g->used ? zmq_msg_size((zmq_msg_t *)&g->msg) : 0;
}

static void s_sig_drop(lt_tail_sig_t *g)
{
    if (g->used)
        zmq_msg_close(&g->msg);
    g->used = 0;
}

/* Recounts e's bytes after a signature changed. */
static void s_recount(lt_tail_t *self, lt_tail_ent_t *e)
{
    size_t b = e->n * sizeof *e->recs;
    for (size_t i = 0; i < e->n; i++)
        b += e->recs[i].len;
    for (size_t i = 0; i < LT_TAIL_CHAINS; i++)
        b += s_sig_bytes(&e->sigs[i]);
    self->bytes = self->bytes - e->bytes + b;
    e->bytes = b;
}

static void s_drop(lt_tail_t *self, lt_tail_ent_t *e)
{
    if (!e->used)
        return;
    for (size_t i = 0; i < LT_TAIL_CHAINS; i++)
        s_sig_drop(&e->sigs[i]);
    free(e->recs);
    free(e->buf);
    self->bytes -= e->bytes;
    self->count--;
    memset(e, 0, sizeof *e);
}

/* Evicts the oldest entries until the bounds hold. */
static void s_evict(lt_tail_t *self)
{
    for (size_t k = 0; k < self->max_batches && self->bytes > self->max_bytes; k++) {
        lt_tail_ent_t *e = &self->ents[(self->head + k) % self->max_batches];
        if (e->used) {
            s_drop(self, e);
            lt_stats_inc(self->st_evicted);
        }
    }
    s_gauges(self);
}

/* The entry of k's stream, history and first seq that the store read
 * would give (want records, or fewer when that read was cut at the byte
 * limit), newest first; NULL if none. Runs before every batch sent, so it
 * looks at the held entries only, not the whole ring: an owner whose
 * streams have one subscriber each holds none and looks at nothing. */
static lt_tail_ent_t *s_find(lt_tail_t *self, const lt_tail_key_t *k, uint64_t want)
{
    size_t seen = 0;
    for (size_t j = 1; j <= self->max_batches && seen < self->count; j++) {
        lt_tail_ent_t *e = &self->ents[(self->head + self->max_batches - j) % self->max_batches];
        if (!e->used)
            continue;
        seen++;
        if (e->stream_id == k->stream_id && e->first == k->first &&
            memcmp(e->history, k->history, LT_HISTORY_BYTES) == 0 &&
            (e->n == want || (e->n < want && e->cut)))
            return e;
    }
    return NULL;
}

/* Signs e's records for k's chain and packs the batch into msg. */
static int s_sign(const lt_tail_key_t *k, const ProtobufCBinaryData *recs, size_t n,
                  const uint8_t root[LT_HASH_BYTES], const lt_keys_t *keys, zmq_msg_t *msg,
                  uint8_t hash[LT_HASH_BYTES])
{
    uint8_t sig[LT_SIG_BYTES];
    if (lt_batch_sign_in(keys, LT_BATCH_DOMAIN, k->stream, k->history, k->first, k->first + n - 1,
                         k->prev, root, sig, hash) != 0)
        return -1;
    Lienthong__Batch b = LIENTHONG__BATCH__INIT;
    b.stream = (char *)k->stream;
    b.first_seq = k->first;
    b.n_records = n;
    b.records = (ProtobufCBinaryData *)recs;
    b.signature.data = sig;
    b.signature.len = sizeof sig;
    /* Informative only (6.3): when this signature was made. */
    b.signed_at_ms = lt_clock_now_ms();
    b.history_id.data = (uint8_t *)k->history;
    b.history_id.len = LT_HISTORY_BYTES;
    return lt_wire_pack_body(msg, LIENTHONG__ENVELOPE__BODY_BATCH, &b);
}

/* Keeps a reference to msg in a signature slot of e for k's chain. */
static int s_keep_sig(lt_tail_t *self, lt_tail_ent_t *e, const lt_tail_key_t *k,
                      const lt_keys_t *keys, zmq_msg_t *msg, const uint8_t hash[LT_HASH_BYTES])
{
    const uint8_t *pk = lt_keys_signing_public(keys);
    lt_tail_sig_t *g = NULL;
    /* A free slot, or one signed under a key no longer ours, goes first. */
    for (size_t i = 0; i < LT_TAIL_CHAINS && !g; i++)
        if (!e->sigs[i].used || memcmp(e->sigs[i].pk, pk, LT_KEY_BYTES) != 0)
            g = &e->sigs[i];
    if (!g) {
        g = &e->sigs[e->next_sig];
        e->next_sig = (e->next_sig + 1) % LT_TAIL_CHAINS;
    }
    s_sig_drop(g);
    zmq_msg_init(&g->msg);
    if (zmq_msg_copy(&g->msg, msg) != 0) {
        zmq_msg_close(&g->msg);
        return -1;
    }
    g->used = 1;
    memcpy(g->prev, k->prev, LT_HASH_BYTES);
    memcpy(g->hash, hash, LT_HASH_BYTES);
    memcpy(g->pk, pk, LT_KEY_BYTES);
    s_recount(self, e);
    return 0;
}

/* Copies recs into a new entry for k at the ring's head (evicting the
 * oldest). Returns the entry, or NULL when out of memory. */
static lt_tail_ent_t *s_insert(lt_tail_t *self, const lt_tail_key_t *k, const lt_batch_recs_t *recs,
                               int cut, const uint8_t root[LT_HASH_BYTES])
{
    lt_tail_ent_t *e = &self->ents[self->head];
    if (e->used) {
        s_drop(self, e);
        lt_stats_inc(self->st_evicted);
    }
    e->recs = malloc(recs->n * sizeof *e->recs);
    e->buf = malloc(recs->used ? recs->used : 1);
    if (!e->recs || !e->buf) {
        free(e->recs);
        free(e->buf);
        memset(e, 0, sizeof *e);
        return NULL;
    }
    memcpy(e->buf, recs->buf, recs->used);
    for (size_t i = 0; i < recs->n; i++) {
        e->recs[i].data = e->buf + (recs->recs[i].data - recs->buf);
        e->recs[i].len = recs->recs[i].len;
    }
    e->used = 1;
    e->stream_id = k->stream_id;
    snprintf(e->stream, sizeof e->stream, "%s", k->stream);
    memcpy(e->history, k->history, LT_HISTORY_BYTES);
    e->first = k->first;
    e->n = recs->n;
    e->cut = cut;
    memcpy(e->root, root, LT_HASH_BYTES);
    self->count++;
    s_recount(self, e);
    self->head = (self->head + 1) % self->max_batches;
    return e;
}

/* ---- the interface -------------------------------------------------------------- */

static int s_enabled(const lt_tail_t *self)
{
    return self->max_batches > 0 && self->max_bytes > 0;
}

lt_tail_t *lt_tail_new(lt_stats_t *stats, size_t max_batches, size_t max_bytes)
{
    lt_tail_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (s_register(self, stats) != 0 || lt_tail_limits(self, max_batches, max_bytes) != 0)
        lt_tail_destroy(&self);
    return self;
}

void lt_tail_destroy(lt_tail_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_tail_t *self = *self_p;
    lt_tail_clear(self);
    free(self->ents);
    free(self);
    *self_p = NULL;
}

int lt_tail_limits(lt_tail_t *self, size_t max_batches, size_t max_bytes)
{
    lt_tail_clear(self);
    free(self->ents);
    self->ents = NULL;
    self->max_batches = self->max_bytes = self->head = 0;
    if (max_batches == 0 || max_bytes == 0)
        return 0;
    if (!(self->ents = calloc(max_batches, sizeof *self->ents)))
        return -1;
    self->max_batches = max_batches;
    self->max_bytes = max_bytes;
    return 0;
}

void lt_tail_clear(lt_tail_t *self)
{
    for (size_t i = 0; i < self->max_batches; i++)
        s_drop(self, &self->ents[i]);
    s_gauges(self);
}

void lt_tail_forget(lt_tail_t *self, int64_t stream_id)
{
    for (size_t i = 0; i < self->max_batches; i++)
        if (self->ents[i].stream_id == stream_id)
            s_drop(self, &self->ents[i]);
    s_gauges(self);
}

int lt_tail_get(lt_tail_t *self, const lt_tail_key_t *k, uint64_t want, int64_t credit,
                const lt_keys_t *keys, zmq_msg_t *msg, size_t *n, uint8_t hash[LT_HASH_BYTES])
{
    lt_tail_ent_t *e = s_enabled(self) ? s_find(self, k, want) : NULL;
    if (!e || credit < 0 || e->n > (uint64_t)credit)
        return 0;
    const uint8_t *pk = lt_keys_signing_public(keys);
    *n = e->n;
    for (size_t i = 0; i < LT_TAIL_CHAINS; i++) {
        lt_tail_sig_t *g = &e->sigs[i];
        if (g->used && memcmp(g->prev, k->prev, LT_HASH_BYTES) == 0 &&
            memcmp(g->pk, pk, LT_KEY_BYTES) == 0) {
            zmq_msg_init(msg);
            if (zmq_msg_copy(msg, &g->msg) != 0) {
                zmq_msg_close(msg);
                return -1;
            }
            memcpy(hash, g->hash, LT_HASH_BYTES);
            lt_stats_inc(self->st_hits);
            lt_stats_add(self->st_hit_bytes, zmq_msg_size(msg));
            return 1;
        }
    }
    /* Another chain, or a key promoted since (PROTOCOL.md 5.5): the records
     * and root are shared, the signature is this chain's own. */
    if (s_sign(k, e->recs, e->n, e->root, keys, msg, hash) != 0)
        return -1;
    if (s_keep_sig(self, e, k, keys, msg, hash) != 0) {
        zmq_msg_close(msg);
        return -1;
    }
    lt_stats_inc(self->st_resigned);
    lt_stats_add(self->st_hit_bytes, zmq_msg_size(msg));
    s_evict(self);
    return 1;
}

int lt_tail_put(lt_tail_t *self, const lt_tail_key_t *k, const lt_batch_recs_t *recs, int cut,
                int keep, const lt_keys_t *keys, zmq_msg_t *msg, uint8_t hash[LT_HASH_BYTES])
{
    uint8_t root[LT_HASH_BYTES];
    lt_stats_inc(self->st_misses);
    if (lt_batch_recs_root(recs, root) != 0 ||
        s_sign(k, recs->recs, recs->n, root, keys, msg, hash) != 0)
        return -1;
    /* A batch that alone would overflow the bytes bound is not kept. */
    size_t need = recs->used + recs->n * sizeof(ProtobufCBinaryData) + zmq_msg_size(msg);
    if (!keep || !s_enabled(self) || need > self->max_bytes)
        return 0;
    lt_tail_ent_t *e = s_insert(self, k, recs, cut, root);
    /* Not kept (out of memory) only costs the next consumer a store read. */
    if (e && s_keep_sig(self, e, k, keys, msg, hash) != 0)
        s_drop(self, e);
    s_evict(self);
    return 0;
}

size_t lt_tail_batches(const lt_tail_t *self)
{
    return self->count;
}

size_t lt_tail_bytes(const lt_tail_t *self)
{
    return self->bytes;
}

/* lt_tally: events counted per key in a table fixed at creation, reported
 * once per interval (see lt_tally.h). An event costs a hash lookup, not a
 * pass over the table: owners note refusals under their lock (the HTTP
 * API's is shared by its threads). */
#include "lt_tally.h"
#include "lt_clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Out of memory growing the index must not end the gateway: uthash then
 * leaves the key out, and its events count with the others. */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

typedef struct {
    int used;
    char key[LT_TALLY_KEY_MAX];
    uint64_t pending;  /* counted since the key was last reported */
    int64_t last_ms;   /* the key's latest event */
    UT_hash_handle hh; /* in the index while used */
} s_key_t;

struct _lt_tally_t {
    int64_t interval_ms;
    size_t max, info_size;
    s_key_t *keys;  /* max of them */
    s_key_t *index; /* uthash head over the keys used, by their stored key */
    /* Unused slots, highest first: the last is the lowest, which a new key
     * takes, as the pass over the table this replaced did. The keys
     * tracked are the others: max - n_free. */
    size_t *free, n_free;
    s_key_t others; /* every event beyond max keys; the last one's key */
    uint8_t *infos; /* (max + 1) * info_size: one per key, the last for the others */
    uint64_t total;
    uint64_t pending;    /* the keys' and the others' pending, summed */
    int64_t reported_ms; /* when the counts were last reported */
    int64_t (*now)(void *arg);
    void *now_arg;
    lt_tally_fn *report;
    void *arg;
};

/* Lists every unused slot as free, the lowest last. */
static void s_free_all(lt_tally_t *self)
{
    self->n_free = 0;
    for (size_t i = self->max; i-- > 0;)
        if (!self->keys[i].used)
            self->free[self->n_free++] = i;
}

static int64_t s_mono(void *arg)
{
    (void)arg;
    return lt_clock_mono_ms();
}

lt_tally_t *lt_tally_new(int64_t interval_ms, size_t max_keys, size_t info_size,
                         lt_tally_fn *report, void *arg)
{
    if (!report)
        return NULL;
    lt_tally_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max_keys ? max_keys : 1;
    self->interval_ms = interval_ms > 0 ? interval_ms : 1;
    self->info_size = info_size;
    /* Allocated once: a flood of new keys allocates at most the index's
     * buckets, which the max bounds. */
    self->keys = calloc(self->max, sizeof *self->keys);
    self->free = calloc(self->max, sizeof *self->free);
    self->infos = calloc(self->max + 1, info_size ? info_size : 1);
    if (!self->keys || !self->free || !self->infos) {
        lt_tally_destroy(&self);
        return NULL;
    }
    s_free_all(self);
    self->report = report;
    self->arg = arg;
    self->now = s_mono;
    self->reported_ms = s_mono(NULL);
    return self;
}

void lt_tally_destroy(lt_tally_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    HASH_CLEAR(hh, (*self_p)->index);
    free((*self_p)->keys);
    free((*self_p)->free);
    free((*self_p)->infos);
    free(*self_p);
    *self_p = NULL;
}

void lt_tally_set_clock(lt_tally_t *self, int64_t (*now_ms)(void *arg), void *arg)
{
    self->now = now_ms ? now_ms : s_mono;
    self->now_arg = arg;
    self->reported_ms = self->now(self->now_arg);
}

size_t lt_tally_tracked(const lt_tally_t *self)
{
    return self->max - self->n_free;
}

uint64_t lt_tally_total(const lt_tally_t *self)
{
    return self->total;
}

uint64_t lt_tally_pending(const lt_tally_t *self)
{
    return self->pending;
}

int64_t lt_tally_interval_ms(const lt_tally_t *self)
{
    return self->interval_ms;
}

const char *lt_tally_times(uint64_t n, char buf[LT_TALLY_TIMES_MAX])
{
    if (n == 1)
        snprintf(buf, LT_TALLY_TIMES_MAX, "once");
    else
        snprintf(buf, LT_TALLY_TIMES_MAX, "%llu times", (unsigned long long)n);
    return buf;
}

/* The particulars of k: keys[i] has slot i, the others the last. */
static uint8_t *s_info(lt_tally_t *self, const s_key_t *k)
{
    size_t i = k == &self->others ? self->max : (size_t)(k - self->keys);
    return self->infos + i * self->info_size;
}

/* Keeps key (cut to fit), info and the time in k. */
static void s_keep(lt_tally_t *self, s_key_t *k, const char *key, const void *info, int64_t now)
{
    strncpy(k->key, key, sizeof k->key - 1);
    k->key[sizeof k->key - 1] = 0;
    if (info)
        memcpy(s_info(self, k), info, self->info_size);
    else
        memset(s_info(self, k), 0, self->info_size);
    k->last_ms = now;
}

/* The length key is stored at: cut to the field. */
static size_t s_stored_len(const char *key)
{
    return strnlen(key, LT_TALLY_KEY_MAX - 1);
}

/* The entry of key, a free one (used == 0), or NULL when the table is full.
 * Looked up as stored, so that a key longer than the field finds its entry. */
static s_key_t *s_find(lt_tally_t *self, const char *key)
{
    s_key_t *k = NULL;
    HASH_FIND(hh, self->index, key, s_stored_len(key), k);
    if (k)
        return k;
    return self->n_free ? &self->keys[self->free[self->n_free - 1]] : NULL;
}

/* Makes k, a free slot holding its stored key, a used one; 0, or -1 when
 * the index could not grow (k stays free). */
static int s_use(lt_tally_t *self, s_key_t *k)
{
    HASH_ADD_KEYPTR(hh, self->index, k->key, strlen(k->key), k);
    if (!k->hh.tbl)
        return -1;
    k->used = 1;
    k->pending = 0;
    self->n_free--; /* k was the last free one, s_find's */
    return 0;
}

static void s_report(lt_tally_t *self, s_key_t *k, lt_tally_kind_t kind, uint64_t n,
                     int64_t seconds)
{
    self->report(
        self->arg,
        &(lt_tally_report_t){
            .kind = kind, .key = k->key, .info = s_info(self, k), .count = n, .seconds = seconds});
}

void lt_tally_note(lt_tally_t *self, const char *key, const void *info)
{
    int64_t now = self->now(self->now_arg);
    self->total++;
    if (!key)
        key = "";
    s_key_t *k = s_find(self, key);
    int is_new = k && !k->used;
    if (k)
        s_keep(self, k, key, info, now);
    if (is_new && s_use(self, k) != 0)
        k = NULL;
    if (!k) {
        s_keep(self, &self->others, key, info, now);
        self->others.pending++;
        self->pending++;
        return;
    }
    if (!is_new) {
        k->pending++;
        self->pending++;
        return;
    }
    /* A new key: this event is reported now, and not counted again. */
    s_report(self, k, LT_TALLY_FIRST, 1, 0);
}

/* Reports every pending count; with forget, drops keys idle since before
 * now - interval. */
static void s_report_all(lt_tally_t *self, int64_t now, int forget)
{
    int64_t seconds = (now - self->reported_ms + 999) / 1000;
    for (size_t i = 0; i < self->max; i++) {
        s_key_t *k = &self->keys[i];
        if (!k->used)
            continue;
        if (k->pending) {
            uint64_t n = k->pending;
            k->pending = 0;
            self->pending -= n;
            s_report(self, k, LT_TALLY_COUNT, n, seconds);
        } else if (forget && now - k->last_ms >= self->interval_ms) {
            HASH_DEL(self->index, k);
            memset(k, 0, sizeof *k); /* listed free again after the pass */
        }
    }
    if (self->others.pending) {
        uint64_t n = self->others.pending;
        self->others.pending = 0;
        self->pending -= n;
        s_report(self, &self->others, LT_TALLY_OTHERS, n, seconds);
    }
    /* Slots forgotten in this pass are free again, the lowest first. */
    if (forget)
        s_free_all(self);
    self->reported_ms = now;
}

void lt_tally_tick(lt_tally_t *self)
{
    int64_t now = self->now(self->now_arg);
    if (now - self->reported_ms >= self->interval_ms)
        s_report_all(self, now, 1);
}

void lt_tally_flush(lt_tally_t *self)
{
    s_report_all(self, self->now(self->now_arg), 0);
}

void lt_tally_forget(lt_tally_t *self, const char *key)
{
    s_key_t *k = NULL;
    if (!key)
        key = "";
    HASH_FIND(hh, self->index, key, s_stored_len(key), k);
    if (!k)
        return;
    if (k->pending) {
        int64_t now = self->now(self->now_arg);
        uint64_t n = k->pending;
        k->pending = 0;
        self->pending -= n;
        s_report(self, k, LT_TALLY_COUNT, n, (now - self->reported_ms + 999) / 1000);
    }
    HASH_DEL(self->index, k);
    memset(k, 0, sizeof *k);
    s_free_all(self); /* its slot is free again, in order */
}

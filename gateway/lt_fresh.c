/* lt_fresh: the records an owner has just committed, kept for the pump
 * (see lt_fresh.h). Runs sit in one list, oldest first, across streams:
 * eviction takes the head, a stream's runs appear in sequence order, and
 * the list stays short (max_runs), so a read walks it. */
#include "lt_fresh.h"

#include <stdlib.h>
#include <string.h>

struct _lt_fresh_run_t {
    int64_t stream;
    uint64_t first;
    size_t n, cap_n;
    size_t *end;                      /* end[i]: offset just past record i in buf */
    uint8_t (*leaves)[LT_HASH_BYTES]; /* leaves[i]: record i's Merkle leaf */
    uint8_t *buf;
    size_t used, cap;
    struct _lt_fresh_run_t *next;
};

struct _lt_fresh_t {
    lt_fresh_run_t *head, *tail;
    size_t bytes, runs;
    size_t max_bytes, max_runs;
};

lt_fresh_run_t *lt_fresh_run_new(int64_t stream, uint64_t first_seq)
{
    lt_fresh_run_t *self = calloc(1, sizeof *self);
    if (self) {
        self->stream = stream;
        self->first = first_seq;
    }
    return self;
}

void lt_fresh_run_destroy(lt_fresh_run_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->end);
    free((*self_p)->leaves);
    free((*self_p)->buf);
    free(*self_p);
    *self_p = NULL;
}

/* Grows *p (of *cap elements of size sz) to hold want; 0 or -1. */
static int s_grow(void **p, size_t *cap, size_t want, size_t sz)
{
    if (want <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < want)
        n *= 2;
    void *q = realloc(*p, n * sz);
    if (!q)
        return -1;
    *p = q;
    *cap = n;
    return 0;
}

int lt_fresh_run_add(lt_fresh_run_t *self, const void *rec, size_t len,
                     const uint8_t leaf[LT_HASH_BYTES])
{
    /* end and leaves grow together: cap_n counts both. */
    size_t cap_n = self->cap_n;
    if (s_grow((void **)&self->leaves, &cap_n, self->n + 1, LT_HASH_BYTES) != 0 ||
        s_grow((void **)&self->end, &self->cap_n, self->n + 1, sizeof *self->end) != 0 ||
        s_grow((void **)&self->buf, &self->cap, self->used + len, 1) != 0)
        return -1;
    memcpy(self->buf + self->used, rec, len);
    memcpy(self->leaves[self->n], leaf, LT_HASH_BYTES);
    self->used += len;
    self->end[self->n++] = self->used;
    return 0;
}

lt_fresh_t *lt_fresh_new(size_t max_bytes, size_t max_runs)
{
    lt_fresh_t *self = calloc(1, sizeof *self);
    if (self) {
        self->max_bytes = max_bytes;
        self->max_runs = max_runs;
    }
    return self;
}

/* Unlinks run (whose predecessor in the list is prev, or NULL) and frees it. */
static void s_unlink(lt_fresh_t *self, lt_fresh_run_t *prev, lt_fresh_run_t *run)
{
    if (prev)
        prev->next = run->next;
    else
        self->head = run->next;
    if (self->tail == run)
        self->tail = prev;
    self->bytes -= run->used;
    self->runs--;
    lt_fresh_run_destroy(&run);
}

void lt_fresh_destroy(lt_fresh_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_fresh_clear(*self_p);
    free(*self_p);
    *self_p = NULL;
}

void lt_fresh_forget(lt_fresh_t *self, int64_t stream)
{
    lt_fresh_run_t *prev = NULL, *r = self->head;
    while (r) {
        lt_fresh_run_t *next = r->next;
        if (r->stream == stream)
            s_unlink(self, prev, r);
        else
            prev = r;
        r = next;
    }
}

void lt_fresh_clear(lt_fresh_t *self)
{
    while (self->head)
        s_unlink(self, NULL, self->head);
}

/* Gives back what doubling left unused, so that the bound on bytes is one
 * on memory. A failed shrink leaves the run as it was. */
static void s_trim(lt_fresh_run_t *run)
{
    uint8_t *buf = realloc(run->buf, run->used);
    if (buf) {
        run->buf = buf;
        run->cap = run->used;
    }
    /* cap_n must not exceed either array's room: leaves shrink only after
     * end did and cap_n says n. */
    size_t *end = realloc(run->end, run->n * sizeof *run->end);
    if (!end)
        return;
    run->end = end;
    run->cap_n = run->n;
    uint8_t(*leaves)[LT_HASH_BYTES] = realloc(run->leaves, run->n * LT_HASH_BYTES);
    if (leaves)
        run->leaves = leaves;
}

void lt_fresh_put(lt_fresh_t *self, lt_fresh_run_t **run_p)
{
    lt_fresh_run_t *run = *run_p;
    *run_p = NULL;
    if (!run)
        return;
    if (run->n == 0 || run->used > self->max_bytes || self->max_runs == 0) {
        lt_fresh_run_destroy(&run);
        return;
    }
    /* The stream's runs must stay consecutive, or a read could join two
     * that are not. */
    const lt_fresh_run_t *last = NULL;
    for (const lt_fresh_run_t *r = self->head; r; r = r->next)
        if (r->stream == run->stream)
            last = r;
    if (last && last->first + last->n != run->first)
        lt_fresh_forget(self, run->stream);
    while (self->head &&
           (self->bytes + run->used > self->max_bytes || self->runs + 1 > self->max_runs))
        s_unlink(self, NULL, self->head);
    s_trim(run);
    if (self->tail)
        self->tail->next = run;
    else
        self->head = run;
    self->tail = run;
    self->bytes += run->used;
    self->runs++;
}

/* The run of stream holding seq, searched from r on; NULL when none. */
static const lt_fresh_run_t *s_find(const lt_fresh_run_t *r, int64_t stream, uint64_t seq)
{
    for (; r; r = r->next)
        if (r->stream == stream && seq >= r->first && seq - r->first < r->n)
            return r;
    return NULL;
}

/* Walks the records lt_store_read would give from seq; with fn NULL only
 * counts them. Returns the count, 0 when a record the read needs is not
 * held, or -1 when fn failed. */
static int s_walk(const lt_fresh_t *self, int64_t stream, uint64_t seq, size_t max_n,
                  size_t max_bytes, lt_store_rec_fn fn, void *arg)
{
    const lt_fresh_run_t *r = s_find(self->head, stream, seq);
    size_t n = 0, bytes = 0;
    while (n < max_n) {
        if (!r || seq - r->first >= r->n)
            r = r ? s_find(r->next, stream, seq) : NULL;
        if (!r)
            return 0;
        size_t i = (size_t)(seq - r->first);
        size_t from = i ? r->end[i - 1] : 0, len = r->end[i] - from;
        if (n > 0 && bytes + len > max_bytes)
            break;
        if (fn && fn(arg, seq, r->buf + from, len, r->leaves[i]) != 0)
            return -1;
        bytes += len;
        n++;
        seq++;
    }
    return (int)n;
}

int lt_fresh_read(const lt_fresh_t *self, int64_t stream, uint64_t seq, size_t max_n,
                  size_t max_bytes, lt_store_rec_fn fn, void *arg)
{
    if (!self || max_n == 0 || s_walk(self, stream, seq, max_n, max_bytes, NULL, NULL) <= 0)
        return 0;
    return s_walk(self, stream, seq, max_n, max_bytes, fn, arg);
}

size_t lt_fresh_bytes(const lt_fresh_t *self)
{
    return self->bytes;
}

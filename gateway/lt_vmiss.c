/* lt_vmiss: the owner's budget of verify no-matches per caller and
 * (key, field); see lt_vmiss.h for why, and for the sketch's layout. */
#include "lt_vmiss.h"
#include "lt_clock.h"
#include "lt_limits.h"
#include "lt_log.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* Out of memory inside the hash table must not end the gateway: uthash
 * then leaves the element out and clears its table pointer. */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

/* A counter is 4 bits, two to a byte: the budget is at most 15, and a
 * counter never passes it (see s_count). Half the memory of a byte each,
 * for the same width and so the same rate of false refusals. */
#define COUNTER_MAX 15

typedef struct {
    char member[LT_ID_MAX];
    uint8_t *cells;       /* both windows' counters, one allocation */
    uint8_t *cur, *prev;  /* the current window's and the one before's */
    int64_t window;       /* the clock's window cur counts */
    int64_t warned_until; /* its refusals are logged once per window */
    UT_hash_handle hh;
} caller_t;

struct _lt_vmiss_t {
    lt_vmiss_limits_t lim;
    unsigned bits; /* log2(width): the hash bits one row takes */
    size_t bytes;  /* of one window's counters */
    caller_t *callers;
    int64_t (*now_ms)(void *arg);
    void *arg;
    uint64_t refused;
    uint8_t key[crypto_shorthash_KEYBYTES];
};

static int64_t s_mono(void *arg)
{
    (void)arg;
    return lt_clock_mono_ms();
}

/* log2(n) when n is a power of two from 2, else 0. */
static unsigned s_log2(size_t n)
{
    unsigned b = 0;
    if (n < 2 || (n & (n - 1)) != 0)
        return 0;
    while ((n >>= 1) != 0)
        b++;
    return b;
}

lt_vmiss_t *lt_vmiss_new(const lt_vmiss_limits_t *limits)
{
    lt_vmiss_limits_t lim = {.width = LT_VERIFY_MISS_WIDTH,
                             .depth = LT_VERIFY_MISS_DEPTH,
                             .max = LT_VERIFY_MISS_MAX,
                             .window_ms = (int64_t)LT_VERIFY_MISS_WINDOW_S * 1000};
    if (limits)
        lim = *limits;
    unsigned bits = s_log2(lim.width);
    /* One 64-bit hash gives every row its counter (s_cols). */
    if (bits == 0 || lim.depth == 0 || lim.depth > 64 / bits || lim.max == 0 ||
        lim.max > COUNTER_MAX || lim.window_ms <= 0)
        return NULL;
    lt_vmiss_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->lim = lim;
    self->bits = bits;
    self->bytes = lim.width * lim.depth / 2;
    self->now_ms = s_mono;
    randombytes_buf(self->key, sizeof self->key);
    return self;
}

void lt_vmiss_destroy(lt_vmiss_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_vmiss_t *self = *self_p;
    caller_t *c, *tmp;
    HASH_ITER(hh, self->callers, c, tmp)
    {
        HASH_DEL(self->callers, c);
        free(c->cells);
        free(c);
    }
    sodium_memzero(self->key, sizeof self->key);
    free(self);
    *self_p = NULL;
}

void lt_vmiss_set_clock(lt_vmiss_t *self, int64_t (*now_ms)(void *arg), void *arg)
{
    self->now_ms = now_ms ? now_ms : s_mono;
    self->arg = arg;
}

uint64_t lt_vmiss_refused(const lt_vmiss_t *self)
{
    return self->refused;
}

/* The keyed hash of key and field, a NUL between them: neither holds one
 * (PROTOCOL.md 4.5), so ("ab", "c") and ("a", "bc") differ. Each is cut at
 * its limit, which lt_valid_verify has checked. */
static uint64_t s_hash(const lt_vmiss_t *self, const char *key, const char *field)
{
    uint8_t in[LT_RECORD_KEY_MAX + 1 + LT_QUERY_MAX_FIELD_NAME], out[crypto_shorthash_BYTES];
    size_t nk = strnlen(key, LT_RECORD_KEY_MAX), nf = strnlen(field, LT_QUERY_MAX_FIELD_NAME);
    memcpy(in, key, nk);
    in[nk] = 0;
    memcpy(in + nk + 1, field, nf);
    uint64_t h = 0;
    /* It cannot fail; were it to, every pair would share its counters:
     * more refused, never a no-match let through. */
    if (crypto_shorthash(out, in, nk + 1 + nf, self->key) == 0)
        memcpy(&h, out, sizeof h);
    return h;
}

/* The window of the clock's time now: fixed spans, floored below 0 too. */
static int64_t s_window(const lt_vmiss_t *self, int64_t now)
{
    int64_t w = self->lim.window_ms;
    return now >= 0 ? now / w : -((-now + w - 1) / w);
}

static caller_t *s_caller_find(lt_vmiss_t *self, const char *member)
{
    caller_t *c = NULL;
    HASH_FIND_STR(self->callers, member, c);
    return c;
}

static caller_t *s_caller(lt_vmiss_t *self, const char *member, int64_t window)
{
    caller_t *c = s_caller_find(self, member);
    if (c)
        return c;
    if (!(c = calloc(1, sizeof *c)) || !(c->cells = calloc(2 * self->bytes, 1))) {
        free(c);
        return NULL;
    }
    snprintf(c->member, sizeof c->member, "%s", member);
    c->cur = c->cells;
    c->prev = c->cells + self->bytes;
    c->window = window;
    HASH_ADD_STR(self->callers, member, c);
    if (!c->hh.tbl) { /* uthash ran out of memory and left it out */
        free(c->cells);
        free(c);
        return NULL;
    }
    return c;
}

/* Brings c's windows to the clock's window w: the current one becomes the
 * previous when w is the next, both are emptied when w is later still. A
 * clock gone back (the monotonic one does not) keeps counting in the
 * current window: a count is never dropped early. */
static void s_rotate(const lt_vmiss_t *self, caller_t *c, int64_t w)
{
    if (w <= c->window)
        return;
    if (w == c->window + 1) {
        uint8_t *t = c->prev;
        c->prev = c->cur;
        c->cur = t;
    } else
        memset(c->prev, 0, self->bytes);
    memset(c->cur, 0, self->bytes);
    c->window = w;
}

static unsigned s_get(const uint8_t *cells, size_t i)
{
    return (cells[i >> 1] >> ((i & 1) * 4)) & 0xF;
}

static void s_set(uint8_t *cells, size_t i, unsigned v)
{
    unsigned shift = (i & 1) * 4;
    cells[i >> 1] = (uint8_t)((cells[i >> 1] & ~(0xFu << shift)) | (v << shift));
}

/* The counter of hash h in each row: row r's from bits r x bits of h on. */
static void s_cols(const lt_vmiss_t *self, uint64_t h, size_t *col)
{
    for (size_t r = 0; r < self->lim.depth; r++)
        col[r] = r * self->lim.width + ((h >> (r * self->bits)) & (self->lim.width - 1));
}

/* The pair's estimate of no-matches in the current and previous windows
 * (the least over rows of their sum), and in *least_cur the least of its
 * current counters. */
static unsigned s_estimate(const lt_vmiss_t *self, const caller_t *c, const size_t *col,
                           unsigned *least_cur)
{
    unsigned est = UINT32_MAX, cur = UINT32_MAX;
    for (size_t r = 0; r < self->lim.depth; r++) {
        unsigned n = s_get(c->cur, col[r]);
        unsigned both = n + s_get(c->prev, col[r]);
        est = both < est ? both : est;
        cur = n < cur ? n : cur;
    }
    *least_cur = cur;
    return est;
}

/* Counts a no-match: each of the pair's current counters below least + 1
 * is raised to it. The pair's own no-matches of this window were at most
 * least (every counter holds at least them), so every counter still holds
 * at least them; least <= the estimate < max, so no counter passes max. */
static void s_count(const lt_vmiss_t *self, caller_t *c, const size_t *col, unsigned least)
{
    for (size_t r = 0; r < self->lim.depth; r++)
        if (s_get(c->cur, col[r]) < least + 1)
            s_set(c->cur, col[r], least + 1);
}

static int s_refuse(lt_vmiss_t *self, caller_t *c, int64_t now)
{
    self->refused++;
    if (now >= c->warned_until) {
        lt_warn("query",
                "verify: %s spent its budget of %u no-matches on one (key, field) in %lld s, or "
                "filled its counters of no-matches; its claims on them are answered "
                "CLAIM_NOT_ALLOWED (PROTOCOL.md 7.6), each audited as over-budget; logged once "
                "in %lld s",
                c->member, self->lim.max, (long long)(self->lim.window_ms / 1000),
                (long long)(self->lim.window_ms / 1000));
        c->warned_until = now + self->lim.window_ms;
    }
    return 0;
}

int lt_vmiss_claim(lt_vmiss_t *self, const char *caller, const char *key, const char *field,
                   int matched)
{
    int64_t now = self->now_ms(self->arg), w = s_window(self, now);
    /* A caller without a no-match has no sketch, so nothing of its is
     * spent: its matches are answered without one being made (or hashed). */
    caller_t *c = matched ? s_caller_find(self, caller) : s_caller(self, caller, w);
    if (!c)
        return matched ? 1 : -1;
    s_rotate(self, c, w);
    size_t col[64];
    unsigned least;
    s_cols(self, s_hash(self, key, field), col);
    /* A spent pair is refused whatever the claim would be: a match let
     * through would tell the value. */
    if (s_estimate(self, c, col, &least) >= self->lim.max)
        return s_refuse(self, c, now);
    if (!matched)
        s_count(self, c, col, least);
    return 1;
}

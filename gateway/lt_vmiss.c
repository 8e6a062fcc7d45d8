/* lt_vmiss: the owner's budget of verify no-matches per caller and
 * (key, field); see lt_vmiss.h for why, and for the table's layout. */
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

typedef struct {
    uint64_t hash;   /* of key and field */
    int64_t until;   /* when its window ends (the clock's ms) */
    uint32_t misses; /* 0: never used */
} slot_t;

typedef struct {
    char member[LT_ID_MAX];
    slot_t *slots;
    int64_t warned_until; /* its refusals are logged once per window */
    UT_hash_handle hh;
} caller_t;

struct _lt_vmiss_t {
    lt_vmiss_limits_t lim;
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

lt_vmiss_t *lt_vmiss_new(const lt_vmiss_limits_t *limits)
{
    lt_vmiss_limits_t lim = {.keys = LT_VERIFY_MISS_KEYS,
                             .probe = LT_VERIFY_MISS_PROBE,
                             .max = LT_VERIFY_MISS_MAX,
                             .window_ms = (int64_t)LT_VERIFY_MISS_WINDOW_S * 1000};
    if (limits)
        lim = *limits;
    if (lim.keys == 0 || (lim.keys & (lim.keys - 1)) != 0)
        return NULL;
    lt_vmiss_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->lim = lim;
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
        free(c->slots);
        free(c);
    }
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
    /* It cannot fail; were it to, every pair would share one run of slots:
     * fewer pairs kept, never a no-match let through. */
    if (crypto_shorthash(out, in, nk + 1 + nf, self->key) == 0)
        memcpy(&h, out, sizeof h);
    return h;
}

static caller_t *s_caller_find(lt_vmiss_t *self, const char *member)
{
    caller_t *c = NULL;
    HASH_FIND_STR(self->callers, member, c);
    return c;
}

static caller_t *s_caller(lt_vmiss_t *self, const char *member)
{
    caller_t *c = s_caller_find(self, member);
    if (c)
        return c;
    if (!(c = calloc(1, sizeof *c)) || !(c->slots = calloc(self->lim.keys, sizeof *c->slots))) {
        free(c);
        return NULL;
    }
    snprintf(c->member, sizeof c->member, "%s", member);
    HASH_ADD_STR(self->callers, member, c);
    if (!c->hh.tbl) { /* uthash ran out of memory and left it out */
        free(c->slots);
        free(c);
        return NULL;
    }
    return c;
}

/* The live entry of hash h in c's table (*found = 1), else the first slot
 * within the probe that is free or whose window ended, else the live
 * entry there with the fewest no-matches below the budget (the oldest of
 * those), taken over: a caller verifying many records with some
 * mismatches is never refused for room, and a pair it guessed at loses its
 * count only once every slot around it holds as many no-matches, which a
 * caller cannot aim at (the hash is keyed). NULL when every slot of the
 * probe holds a spent pair. A slot never used ends the search: an entry is
 * always put in the first such slot of its probe, so none lies past one. */
static slot_t *s_slot(const lt_vmiss_t *self, caller_t *c, uint64_t h, int64_t now, int *found)
{
    slot_t *room = NULL, *least = NULL;
    *found = 0;
    for (size_t i = 0; i < self->lim.probe && i < self->lim.keys; i++) {
        slot_t *s = &c->slots[(h + i) & (self->lim.keys - 1)];
        int live = s->misses && now < s->until;
        if (live && s->hash == h) {
            *found = 1;
            return s;
        }
        if (!live && !room)
            room = s;
        if (live && s->misses < self->lim.max &&
            (!least || s->misses < least->misses ||
             (s->misses == least->misses && s->until < least->until)))
            least = s;
        if (!s->misses)
            break;
    }
    return room ? room : least;
}

static int s_refuse(lt_vmiss_t *self, caller_t *c, int64_t now)
{
    self->refused++;
    if (now >= c->warned_until) {
        lt_warn("query",
                "verify: %s spent its budget of %u no-matches on one (key, field) in %lld s, or "
                "filled its table of %zu pairs with spent ones; its claims on them are answered "
                "CLAIM_NOT_ALLOWED "
                "(PROTOCOL.md 7.6), each audited as over-budget; logged once in %lld s",
                c->member, self->lim.max, (long long)(self->lim.window_ms / 1000), self->lim.keys,
                (long long)(self->lim.window_ms / 1000));
        c->warned_until = now + self->lim.window_ms;
    }
    return 0;
}

int lt_vmiss_claim(lt_vmiss_t *self, const char *caller, const char *key, const char *field,
                   int matched)
{
    /* A caller without a no-match has no table, so nothing of its is spent:
     * its matches are answered without one being made (or hashed). */
    caller_t *c = matched ? s_caller_find(self, caller) : s_caller(self, caller);
    if (!c)
        return matched ? 1 : -1;
    int64_t now = self->now_ms(self->arg);
    uint64_t h = s_hash(self, key, field);
    int found;
    slot_t *s = s_slot(self, c, h, now, &found);
    /* A spent pair, or one without room (every slot around it spent), is
     * refused whatever the claim would be: a match let through would tell
     * the value. */
    if (!s || (found && s->misses >= self->lim.max))
        return s_refuse(self, c, now);
    if (matched)
        return 1;
    if (!found) {
        s->hash = h;
        s->until = now + self->lim.window_ms;
        s->misses = 0;
    }
    s->misses++;
    return 1;
}

/* lt_dedup: the owner's index of answered requests by (caller, request id);
 * see lt_dedup.h for why it is an open-addressed array of hashes. */
#include "lt_dedup.h"
#include "lt_limits.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SLOTS 64 /* a power of two */

typedef struct {
    uint64_t hash;
    void *entry; /* NULL: the slot is free */
} slot_t;

struct _lt_dedup_t {
    slot_t *slots;
    size_t mask; /* slots - 1 */
    size_t count;
    uint64_t changes; /* adds and removes: a miss is stale once it moves */
    lt_dedup_same_fn same;
    uint8_t key[crypto_shorthash_KEYBYTES];
};

lt_dedup_t *lt_dedup_new(lt_dedup_same_fn same)
{
    lt_dedup_t *self = calloc(1, sizeof *self);
    if (!self || !(self->slots = calloc(MIN_SLOTS, sizeof *self->slots))) {
        free(self);
        return NULL;
    }
    self->mask = MIN_SLOTS - 1;
    self->same = same;
    randombytes_buf(self->key, sizeof self->key);
    return self;
}

void lt_dedup_destroy(lt_dedup_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

/* The keyed hash of (member, id); member is a member id, shorter than
 * LT_ID_MAX, or it is cut there. */
static uint64_t s_hash(const lt_dedup_t *self, const char *member, uint64_t id)
{
    uint8_t in[sizeof id + LT_ID_MAX], out[crypto_shorthash_BYTES];
    size_t len = strnlen(member, LT_ID_MAX);
    memcpy(in, &id, sizeof id);
    memcpy(in + sizeof id, member, len);
    uint64_t h = 0;
    /* It cannot fail; were it to, every key would hash to 0: slower, still right. */
    if (crypto_shorthash(out, in, sizeof id + len, self->key) == 0)
        memcpy(&h, out, sizeof h);
    return h;
}

/* The slot holding (member, id) of hash h, or the free slot that ends its
 * probe. There is always a free slot: the array is at most half full. */
static size_t s_probe(const lt_dedup_t *self, uint64_t h, const char *member, uint64_t id)
{
    size_t i = (size_t)h & self->mask;
    while (self->slots[i].entry &&
           !(self->slots[i].hash == h && self->same(self->slots[i].entry, member, id)))
        i = (i + 1) & self->mask;
    return i;
}

void *lt_dedup_find(const lt_dedup_t *self, const char *member, uint64_t id, lt_dedup_miss_t *miss)
{
    uint64_t h = s_hash(self, member, id);
    size_t i = s_probe(self, h, member, id);
    void *entry = self->slots[i].entry;
    if (miss)
        *miss = (lt_dedup_miss_t){entry ? NULL : self, self->changes, h, i};
    return entry;
}

static void s_place(slot_t *slots, size_t mask, slot_t s)
{
    size_t i = (size_t)s.hash & mask;
    while (slots[i].entry)
        i = (i + 1) & mask;
    slots[i] = s;
}

/* Doubles the array; -1 when out of memory, the array unchanged. */
static int s_grow(lt_dedup_t *self)
{
    size_t n = (self->mask + 1) * 2;
    slot_t *slots = calloc(n, sizeof *slots);
    if (!slots)
        return -1;
    for (size_t i = 0; i <= self->mask; i++)
        if (self->slots[i].entry)
            s_place(slots, n - 1, self->slots[i]);
    free(self->slots);
    self->slots = slots;
    self->mask = n - 1;
    return 0;
}

int lt_dedup_add(lt_dedup_t *self, const lt_dedup_miss_t *miss, void *entry)
{
    if (!entry || miss->index != self || miss->changes != self->changes)
        return -2;
    slot_t s = {miss->hash, entry};
    /* The probe's free slot is the one s_place would find, unless the
     * array is rebuilt. */
    if ((self->count + 1) * 2 <= self->mask + 1)
        self->slots[miss->slot] = s;
    else if (s_grow(self) == 0)
        s_place(self->slots, self->mask, s);
    else
        return -1;
    self->count++;
    self->changes++;
    return 0;
}

/* Empties slot i without breaking a probe: each later slot of the run that
 * may move back to i (its home slot is not after i, cyclically) does, and
 * the slot it left is the next one to fill. */
static void s_free_slot(lt_dedup_t *self, size_t i)
{
    for (size_t j = (i + 1) & self->mask; self->slots[j].entry; j = (j + 1) & self->mask) {
        size_t home = (size_t)self->slots[j].hash & self->mask;
        if (((j - home) & self->mask) >= ((j - i) & self->mask)) {
            self->slots[i] = self->slots[j];
            i = j;
        }
    }
    self->slots[i] = (slot_t){0, NULL};
}

int lt_dedup_remove(lt_dedup_t *self, const char *member, uint64_t id)
{
    size_t i = s_probe(self, s_hash(self, member, id), member, id);
    if (!self->slots[i].entry)
        return -1;
    s_free_slot(self, i);
    self->count--;
    self->changes++;
    return 0;
}

size_t lt_dedup_count(const lt_dedup_t *self)
{
    return self->count;
}

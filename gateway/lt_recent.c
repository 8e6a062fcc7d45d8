/* lt_recent: the caller's recently forwarded request ids and their hashes
 * (PROTOCOL.md 8.3; see lt_recent.h). */
#include "lt_recent.h"
#include "lt_clock.h"
#include "lt_dedup.h"

#include <stdlib.h>
#include <string.h>
#include <utlist.h>

/* Entries allocated together; a block is never freed before the memory is. */
#define BLOCK_ENTRIES 1024

/* lt_dedup keys by (member, id): ids here are this member's own. */
#define NO_MEMBER ""

typedef struct entry_s {
    uint64_t id;
    uint8_t hash[LT_HASH_BYTES];
    int made;
    int64_t at;                  /* monotonic ms when remembered */
    struct entry_s *prev, *next; /* oldest first (utlist); next alone in the free list */
} entry_t;

typedef struct block_s {
    struct block_s *next;
    entry_t entries[BLOCK_ENTRIES];
} block_t;

struct _lt_recent_t {
    lt_dedup_t *index;
    entry_t *list;  /* remembered, oldest first */
    entry_t *spare; /* free entries */
    block_t *blocks;
    size_t max, count;
    int64_t keep_ms;
};

static int s_same(const void *entry, const char *member, uint64_t id)
{
    (void)member;
    return ((const entry_t *)entry)->id == id;
}

lt_recent_t *lt_recent_new(size_t max, int64_t keep_ms)
{
    lt_recent_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max ? max : 1;
    self->keep_ms = keep_ms;
    if (!(self->index = lt_dedup_new(s_same)))
        lt_recent_destroy(&self);
    return self;
}

void lt_recent_destroy(lt_recent_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_recent_t *self = *self_p;
    lt_dedup_destroy(&self->index);
    while (self->blocks) {
        block_t *b = self->blocks;
        self->blocks = b->next;
        free(b);
    }
    free(self);
    *self_p = NULL;
}

static void s_forget(lt_recent_t *self, entry_t *e)
{
    (void)lt_dedup_remove(self->index, NO_MEMBER, e->id); /* every entry is there */
    DL_DELETE(self->list, e);
    e->next = self->spare;
    self->spare = e;
    self->count--;
}

/* Forgets the ids kept longer than keep_ms: the oldest are first. */
static void s_expire(lt_recent_t *self)
{
    int64_t now = lt_clock_mono_ms();
    while (self->list && now - self->list->at >= self->keep_ms)
        s_forget(self, self->list);
}

/* A free entry: from the free list, else the oldest when full, else a new
 * block's. NULL when out of memory. */
static entry_t *s_take(lt_recent_t *self)
{
    if (self->count >= self->max)
        s_forget(self, self->list);
    if (!self->spare) {
        block_t *b = malloc(sizeof *b);
        if (!b)
            return NULL;
        b->next = self->blocks;
        self->blocks = b;
        for (size_t i = 0; i < BLOCK_ENTRIES; i++) {
            b->entries[i].next = self->spare;
            self->spare = &b->entries[i];
        }
    }
    entry_t *e = self->spare;
    self->spare = e->next;
    return e;
}

int lt_recent_add(lt_recent_t *self, uint64_t id, const uint8_t hash[LT_HASH_BYTES], int made)
{
    lt_dedup_miss_t miss;
    s_expire(self);
    entry_t *e = lt_dedup_find(self->index, NO_MEMBER, id, NULL);
    if (e)
        s_forget(self, e); /* remembered anew: it goes last */
    /* Taken before the find that fills miss: taking may forget the oldest,
     * which changes the index (lt_dedup_add refuses a stale miss). */
    if (!(e = s_take(self)))
        return -1;
    e->id = id;
    memcpy(e->hash, hash, LT_HASH_BYTES);
    e->made = made;
    e->at = lt_clock_mono_ms();
    if (lt_dedup_find(self->index, NO_MEMBER, id, &miss) != NULL ||
        lt_dedup_add(self->index, &miss, e) != 0) {
        e->next = self->spare;
        self->spare = e;
        return -1;
    }
    DL_APPEND(self->list, e);
    self->count++;
    return 0;
}

int lt_recent_find(lt_recent_t *self, uint64_t id, uint8_t hash[LT_HASH_BYTES], int *made)
{
    s_expire(self);
    const entry_t *e = lt_dedup_find(self->index, NO_MEMBER, id, NULL);
    if (!e)
        return 0;
    memcpy(hash, e->hash, LT_HASH_BYTES);
    *made = e->made;
    return 1;
}

size_t lt_recent_count(const lt_recent_t *self)
{
    return self->count;
}

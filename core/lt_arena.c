/* lt_arena: a region allocator for protobuf-c decoding (see lt_arena.h).
 * Blocks form a list, the current one first; a request takes the next
 * aligned bytes of the current block, or a new block when they do not fit.
 * A request larger than a quarter block gets a block of its own, placed
 * behind the current one so that the rest of the current block is not
 * wasted. */
#include "lt_arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

#define ALIGN alignof(max_align_t)

typedef struct block {
    struct block *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
} block_t;

struct _lt_arena_t {
    ProtobufCAllocator pb; /* first: the allocator's data is the arena */
    block_t *head;
    size_t block_size, held, max_held;
    int spilled; /* malloc memory handed out since the last reset */
};

/* 1 when p lies in one of self's blocks. */
static int s_owns(const lt_arena_t *self, const void *p)
{
    uintptr_t a = (uintptr_t)p;
    for (const block_t *b = self->head; b; b = b->next)
        if (a >= (uintptr_t)b->data && a < (uintptr_t)b->data + b->size)
            return 1;
    return 0;
}

static block_t *s_block(lt_arena_t *self, size_t size)
{
    block_t *b = malloc(sizeof *b + size);
    if (b) {
        b->next = NULL;
        b->size = size;
        b->used = 0;
        self->held += size;
    }
    return b;
}

static void *s_alloc(void *data, size_t size)
{
    lt_arena_t *self = data;
    if (size > SIZE_MAX / 4) /* no rounding or header may wrap */
        return NULL;
    block_t *b = self->head;
    if (!LT_ARENA_EXACT) {
        size = size ? (size + ALIGN - 1) & ~(ALIGN - 1) : ALIGN;
        if (b && b->size - b->used >= size) {
            void *p = b->data + b->used;
            b->used += size;
            return p;
        }
    }
    /* A block of its own: exactly the size asked under AddressSanitizer,
     * else for a request larger than a quarter block. */
    int own = LT_ARENA_EXACT || size > self->block_size / 4;
    size_t need = own ? size : self->block_size;
    if (self->max_held && self->held + need > self->max_held) {
        self->spilled = 1;
        return malloc(size ? size : 1);
    }
    block_t *nb = s_block(self, need);
    if (!nb)
        return NULL;
    nb->used = size;
    if (own && b && !LT_ARENA_EXACT) { /* behind the current block, which keeps serving */
        nb->next = b->next;
        b->next = nb;
    } else {
        nb->next = b;
        self->head = nb;
    }
    return nb->data;
}

static void s_free(void *data, void *p)
{
    lt_arena_t *self = data;
    /* Block memory is taken back by lt_arena_reset; only what was handed
     * out past the bound is freed here. */
    if (p && self->spilled && !s_owns(self, p))
        free(p);
}

lt_arena_t *lt_arena_new(size_t block_size, size_t max_held)
{
    lt_arena_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->pb.alloc = s_alloc;
    self->pb.free = s_free;
    self->pb.allocator_data = self;
    self->block_size = block_size < 1024 ? 1024 : block_size;
    self->max_held = max_held;
    return self;
}

/* Frees the blocks after keep (all of them when keep is NULL). */
static void s_free_after(lt_arena_t *self, block_t *keep)
{
    block_t *b = keep ? keep->next : self->head;
    while (b) {
        block_t *next = b->next;
        self->held -= b->size;
        free(b);
        b = next;
    }
    if (keep)
        keep->next = NULL;
    else
        self->head = NULL;
}

int lt_arena_spilled(const lt_arena_t *self)
{
    return self && self->spilled;
}

void lt_arena_reset(lt_arena_t *self)
{
    if (!self)
        return;
    self->spilled = 0;
    /* Keep one standard block: the next unit of work reuses it. */
    block_t *keep = NULL, *prev = NULL;
    for (block_t *b = LT_ARENA_EXACT ? NULL : self->head; b; prev = b, b = b->next)
        if (b->size == self->block_size) {
            keep = b;
            break;
        }
    if (keep && prev) { /* move it to the front */
        prev->next = keep->next;
        keep->next = self->head;
        self->head = keep;
    }
    s_free_after(self, keep);
    if (keep)
        keep->used = 0;
}

void lt_arena_destroy(lt_arena_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    s_free_after(*self_p, NULL);
    free(*self_p);
    *self_p = NULL;
}

ProtobufCAllocator *lt_arena_allocator(lt_arena_t *self)
{
    return &self->pb;
}

size_t lt_arena_held(const lt_arena_t *self)
{
    return self->held;
}

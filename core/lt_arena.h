/* lt_arena: a region allocator for protobuf-c decoding.
 *
 * Decoding a record allocates once per string and bytes field, and the
 * write paths decode thousands of records a second only to read them and
 * drop them (docs/ARCHITECTURE.md 3.1): with malloc and free per field,
 * the allocator showed among the costs of the owner's writer thread. An
 * arena hands out memory from a few large blocks and takes it all back at
 * once with lt_arena_reset, so a message decoded into it costs no free
 * at all. protobuf_c_message_free_unpacked with the arena's allocator is
 * harmless (its free does nothing). Memory stays until the reset: reset
 * once per unit of work (a Publish, a batch). One thread at a time. */
#ifndef LT_ARENA_H
#define LT_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

/* Under AddressSanitizer every allocation is a malloc of its own, freed
 * by the reset, so that an over-read of a decoded field or a use after
 * the reset is still caught (a shared block would hide both). */
#if defined(__SANITIZE_ADDRESS__)
#define LT_ARENA_EXACT 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LT_ARENA_EXACT 1
#endif
#endif
#ifndef LT_ARENA_EXACT
#define LT_ARENA_EXACT 0
#endif

typedef struct _lt_arena_t lt_arena_t;

/* An arena drawing blocks of block_size bytes (larger requests get a block
 * of their own), holding at most max_held bytes (0: no bound). Past the
 * bound it hands out plain malloc memory, which its free does free: a
 * hostile message whose decoding leaves scratch behind (protobuf-c frees
 * its scan buffers through the allocator) cannot grow it without end.
 * NULL when out of memory. */
lt_arena_t *lt_arena_new(size_t block_size, size_t max_held);
void lt_arena_destroy(lt_arena_t **self_p);
/* The protobuf-c allocator backed by self, valid while self lives. */
ProtobufCAllocator *lt_arena_allocator(lt_arena_t *self);
/* 1 when something since the last reset was handed out past the bound:
 * free what was decoded (protobuf_c_message_free_unpacked with the
 * arena's allocator) before the reset, or it leaks. */
int lt_arena_spilled(const lt_arena_t *self);
/* Takes back everything handed out since the last reset; keeps one block
 * for what comes next (none when LT_ARENA_EXACT). */
void lt_arena_reset(lt_arena_t *self);
/* Bytes of the blocks held, for tests. */
size_t lt_arena_held(const lt_arena_t *self);

#endif

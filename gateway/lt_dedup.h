/* lt_dedup: the owner's index of the requests it answered, by caller and
 * request id, which lt_query keeps for retries (PROTOCOL.md 7.2).
 *
 * Every request searches it, and nearly every search misses: a request is
 * new far more often than it is a retry. So a miss must be cheap. The index
 * is one array of slots, each a 64-bit hash of the key and a pointer to the
 * caller's entry, searched by linear probing and kept at most half full: a
 * miss reads one or two neighbouring slots and no entry. The entry is read
 * (through the `same` function given at creation) only when its hash
 * matches. The hash is SipHash (libsodium's crypto_shorthash) under a key
 * drawn at creation, so a member cannot pick request ids that land in one
 * run of slots and make every search long.
 *
 * The array doubles as entries are added and is never shrunk: it holds at
 * most twice the largest count of entries, rounded up to a power of two
 * (LT_QUERY_DEDUP_MAX entries: 524,288 slots of 16 bytes, 8 MiB). */
#ifndef LT_DEDUP_H
#define LT_DEDUP_H

#include <stddef.h>
#include <stdint.h>

typedef struct _lt_dedup_t lt_dedup_t;

/* 1 when entry is the one of (member, id), else 0. */
typedef int (*lt_dedup_same_fn)(const void *entry, const char *member, uint64_t id);

/* An empty index; NULL when out of memory. */
lt_dedup_t *lt_dedup_new(lt_dedup_same_fn same);
void lt_dedup_destroy(lt_dedup_t **self_p);
/* The entry added for (member, id), or NULL. */
void *lt_dedup_find(const lt_dedup_t *self, const char *member, uint64_t id)
    __attribute__((warn_unused_result));
/* Adds entry for (member, id), which must not be in the index. 0, or -1
 * when out of memory (the index is unchanged). */
int lt_dedup_add(lt_dedup_t *self, const char *member, uint64_t id, void *entry)
    __attribute__((warn_unused_result));
/* Removes the entry of (member, id): 0, or -1 when there is none. */
int lt_dedup_remove(lt_dedup_t *self, const char *member, uint64_t id);
/* Entries in the index. */
size_t lt_dedup_count(const lt_dedup_t *self);

#endif

/* lt_dedup: the owner's index of the requests it answered, by caller and
 * request id, which lt_query keeps for retries (PROTOCOL.md 7.2); also the
 * caller's index of the ids it sent lately (lt_recent, 8.3).
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

#include "lt_err.h"

typedef struct _lt_dedup_t lt_dedup_t;

/* What a search that missed learnt: the key's hash and the free slot its
 * probe ended at, so that adding that key (what a new request does next)
 * neither hashes nor probes again. Filled by lt_dedup_find, taken by
 * lt_dedup_add; its fields are lt_dedup's own. */
typedef struct {
    const lt_dedup_t *index; /* the index searched; NULL after a hit */
    uint64_t changes;        /* the index's count of adds and removes then */
    uint64_t hash;           /* the key's hash under the index's key */
    size_t slot;             /* where the probe ended */
} lt_dedup_miss_t;

/* 1 when entry is the one of (member, id), else 0. */
typedef int (*lt_dedup_same_fn)(const void *entry, const char *member, uint64_t id);

/* An empty index; NULL when out of memory. */
lt_dedup_t *lt_dedup_new(lt_dedup_same_fn same);
void lt_dedup_destroy(lt_dedup_t **self_p);
/* The entry added for (member, id), or NULL. With miss not NULL, fills it
 * for lt_dedup_add: on a miss with where the key goes, on a hit so that
 * lt_dedup_add refuses it. */
void *lt_dedup_find(const lt_dedup_t *self, const char *member, uint64_t id,
                    lt_dedup_miss_t *miss) LT_NODISCARD;
/* Adds entry (not NULL) for the key that the lt_dedup_find which filled
 * miss searched and did not find. A miss serves one add, and only when no
 * add or remove came between the find and it (either may move the slot or
 * add the key); a miss of another index, of a hit, or used up is refused,
 * so the index never holds a key twice or in the wrong slot. Returns 0, -1
 * when out of memory, or -2 when the miss is refused (a mistake of the
 * caller); on -1 and -2 the index is unchanged. The entry must be the one
 * of the key searched: the index holds only the key's hash and cannot tell. */
int lt_dedup_add(lt_dedup_t *self, const lt_dedup_miss_t *miss, void *entry) LT_NODISCARD;
/* Removes the entry of (member, id): 0, or -1 when there is none. */
int lt_dedup_remove(lt_dedup_t *self, const char *member, uint64_t id);
/* Entries in the index. */
size_t lt_dedup_count(const lt_dedup_t *self);

#endif

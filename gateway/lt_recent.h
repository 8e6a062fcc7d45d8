/* lt_recent: the caller gateway's memory of the requests it forwarded
 * lately (PROTOCOL.md 8.3), by request id, with the hash of their bytes.
 *
 * An owner remembers a (caller, request_id) pair for 10 minutes and replays
 * its stored answer to any request under it (7.2), so an application that
 * reuses an id for other bytes would be sent an answer its gateway rejects
 * (7.4), and end with ERR_TIMEOUT. The caller keeps each forwarded id once
 * the request has ended, and refuses other bytes under it at once.
 *
 * Bounded and expiring like the owner's deduplication (at most `max` ids,
 * each kept `keep_ms` after its request ended; the oldest forgotten first
 * when full). Ids are indexed by lt_dedup; the entries come from blocks
 * reused through a free list, so that remembering a request, once the
 * blocks are there, allocates nothing. */
#ifndef LT_RECENT_H
#define LT_RECENT_H

#include "lt_crypto.h"
#include "lt_err.h"

#include <stddef.h>
#include <stdint.h>

typedef struct _lt_recent_t lt_recent_t;

/* An empty memory of at most max ids, each kept keep_ms; NULL when out of
 * memory. */
lt_recent_t *lt_recent_new(size_t max, int64_t keep_ms);
void lt_recent_destroy(lt_recent_t **self_p);
/* Remembers id with the hash of its request's bytes, and whether this
 * gateway made it itself (lt_query_lookup_for) rather than forwarded it for
 * an application; an id remembered already is remembered anew. 0, or -1
 * when out of memory (nothing remembered). */
int lt_recent_add(lt_recent_t *self, uint64_t id, const uint8_t hash[LT_HASH_BYTES],
                  int made) LT_NODISCARD;
/* 1 when id is remembered (its hash copied to hash, made set), else 0. */
int lt_recent_find(lt_recent_t *self, uint64_t id, uint8_t hash[LT_HASH_BYTES], int *made);
/* Ids remembered. */
size_t lt_recent_count(const lt_recent_t *self);

#endif

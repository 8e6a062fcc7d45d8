/* lt_tail: the owner's in-memory tail of recently sent batches
 * (docs/ARCHITECTURE.md 3.1 step 3), so that fan-out and catch-up do not
 * read, hash, sign and pack the same records once per consumer.
 *
 * What is shared and what is not (PROTOCOL.md 6.3): H binds the stream,
 * its history id, the first and last seq, the prev hash and the Merkle
 * root; nothing names the consumer or its subscription. The prev hash is
 * the consumer's own chain, though: two consumers whose batches ever had
 * different boundaries (or one that installed a snapshot, 6.7) never share
 * a chain again. So a cached batch keeps its records and Merkle root once,
 * and beside them a few signatures, one per chain (prev hash) it was sent
 * on, each with its packed Envelope ready to send. A consumer whose cursor
 * falls on a cached batch's first seq, whose credit covers it and for
 * which it is the batch the store would give (same length, or cut by the
 * byte limit) gets it: the same bytes when its chain is one of those
 * signed, else the records signed once more for its chain. Anything else
 * is a miss, read from the store as before and then cached if the caller
 * says another subscription may want it.
 *
 * A signature is kept with the signing key that made it and is served only
 * while that key is still the member's (a promotion, PROTOCOL.md 5.5, makes
 * it stale). Entries are keyed by history id, and dropped when a stream's
 * history changes; lt_tail_clear drops everything (limits changed, or the
 * store was rebuilt and may have lost rows, docs/ARCHITECTURE.md 4.2). The
 * tail is bounded by batches and by bytes (records and packed messages),
 * evicting the oldest first (docs/operations.md, `tail_batches`,
 * `tail_bytes`). Records entered it only after lt_store_read verified
 * their checksums (docs/ARCHITECTURE.md 4.2). */
#ifndef LT_TAIL_H
#define LT_TAIL_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "lt_batch.h"
#include "lt_err.h"
#include "lt_keys.h"
#include "lt_stats.h"

typedef struct _lt_tail_t lt_tail_t;

/* Identifies the batch a subscription needs next. */
typedef struct {
    int64_t stream_id;      /* the store's id of the stream */
    const char *stream;     /* its name (in H) */
    const uint8_t *history; /* LT_HISTORY_BYTES */
    uint64_t first;         /* the subscription's next seq */
    const uint8_t *prev;    /* its chain head, LT_HASH_BYTES */
} lt_tail_key_t;

/* A tail of at most max_batches batches and max_bytes bytes (either 0
 * disables it); its statistics (lienthong_tail_*) are registered in stats.
 * NULL on failure. */
lt_tail_t *lt_tail_new(lt_stats_t *stats, size_t max_batches, size_t max_bytes);
void lt_tail_destroy(lt_tail_t **self_p);

/* New bounds; forgets every batch (the batch limits may have changed too). */
int lt_tail_limits(lt_tail_t *self, size_t max_batches, size_t max_bytes) LT_NODISCARD;
/* Forgets every batch: the store was rebuilt (lt_feed_store_rebuild). */
void lt_tail_clear(lt_tail_t *self);
/* Forgets the batches of one stream (its history changed). */
void lt_tail_forget(lt_tail_t *self, int64_t stream_id);

/* The batch for k when the tail holds it: want is the count the store read
 * would ask for (credit, batch limits and last seq applied), credit the
 * subscription's. Returns 1 with msg (the packed Envelope, the caller's to
 * send or close), *n its record count and hash its batch_hash; 0 when
 * the tail does not hold it; -1 on failure (signing, memory). */
int lt_tail_get(lt_tail_t *self, const lt_tail_key_t *k, uint64_t want, int64_t credit,
                const lt_keys_t *keys, zmq_msg_t *msg, size_t *n,
                uint8_t hash[LT_HASH_BYTES]) LT_NODISCARD;

/* The batch of recs just read from the store for k (n = recs->n records;
 * cut: the read stopped before `want` records, at the byte limit), signed
 * for k's chain: keeps it when `keep` is set and it fits the bounds, and
 * returns 0 with msg (the caller's) and hash as lt_tail_get; -1 on
 * failure. */
int lt_tail_put(lt_tail_t *self, const lt_tail_key_t *k, const lt_batch_recs_t *recs, int cut,
                int keep, const lt_keys_t *keys, zmq_msg_t *msg,
                uint8_t hash[LT_HASH_BYTES]) LT_NODISCARD;

/* Batches and bytes held now. */
size_t lt_tail_batches(const lt_tail_t *self);
size_t lt_tail_bytes(const lt_tail_t *self);

#endif

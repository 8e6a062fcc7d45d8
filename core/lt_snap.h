/* lt_snap: the signed snapshot of a stream's state (PROTOCOL.md 6.7).
 *
 * A snapshot is sent as chunks of records chained like batches, each signed
 * over HC = "lienthong/1 snapshot" 0x00 stream [history] first_index
 * last_index prev root, and ends with one message signed over HE =
 * "lienthong/1 snapshot end" 0x00 stream [history] S count prev state_root
 * (history: the stream's history id of PROTOCOL.md 6.9, as in a batch's H;
 * the verify functions rebuild it from the message's history_id), where state_root is
 * the Merkle root (6.4) over every record of the snapshot. The root is
 * computed incrementally (lt_snap_merkle_t), so neither side ever holds
 * the whole state. The tail continues from S + 1 chained from H32(HE). */
#ifndef LT_SNAP_H
#define LT_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"
#include "lt_crypto.h"
#include "lt_err.h"
#include "lt_keys.h"
#include "lt_limits.h"

#define LT_SNAP_DOMAIN     "lienthong/1 snapshot"
#define LT_SNAP_END_DOMAIN "lienthong/1 snapshot end"

/* Incremental Merkle root over leaves added in order: the completed
 * subtrees of the tree of 6.4, at most one per level. */
typedef struct {
    uint8_t node[LT_MERKLE_MAX_PATH][LT_HASH_BYTES];
    uint8_t level[LT_MERKLE_MAX_PATH];
    size_t depth;
    uint64_t count; /* leaves added */
} lt_snap_merkle_t;

void lt_snap_merkle_init(lt_snap_merkle_t *m);
/* Adds the leaf of data (H32(0x00 || data)). */
void lt_snap_merkle_add(lt_snap_merkle_t *m, const uint8_t *data, size_t len);
/* The same for a record whose leaf (lt_crypto_merkle_leaf) is made already. */
void lt_snap_merkle_add_leaf(lt_snap_merkle_t *m, const uint8_t leaf[LT_HASH_BYTES]);
/* The root over every leaf added so far; zeros when there is none. */
void lt_snap_merkle_root(const lt_snap_merkle_t *m, uint8_t root[LT_HASH_BYTES]);

/* Owner: signs a chunk of n records starting at leaf first_index, chained
 * from prev, on the stream's history (NULL: none; PROTOCOL.md 6.9); writes the signature and
 * H32(HC). Returns 0 or -1. */
int lt_snap_chunk_sign(const lt_keys_t *owner, const char *stream, const uint8_t *history,
                       uint64_t first_index, const ProtobufCBinaryData *records, size_t n,
                       const uint8_t prev[LT_HASH_BYTES], uint8_t sig[LT_SIG_BYTES],
                       uint8_t hash[LT_HASH_BYTES]) LT_NODISCARD;
/* The same for n records whose Merkle root is made already (from the
 * leaves the read's checksum checks made, lt_batch_recs_root). */
int lt_snap_chunk_sign_root(const lt_keys_t *owner, const char *stream, const uint8_t *history,
                            uint64_t first_index, size_t n, const uint8_t prev[LT_HASH_BYTES],
                            const uint8_t root[LT_HASH_BYTES], uint8_t sig[LT_SIG_BYTES],
                            uint8_t hash[LT_HASH_BYTES]) LT_NODISCARD;
/* Consumer: verifies chunk c against what it expects (its stream, the next
 * leaf index, its chain hash) under the owner's key, before anything in it
 * is unpacked; writes H32(HC). Returns 0, or -1 with the reason. */
int lt_snap_chunk_verify(const Lienthong__SnapshotChunk *c, const char *stream,
                         uint64_t first_index, const uint8_t prev[LT_HASH_BYTES],
                         const uint8_t owner_pk[LT_KEY_BYTES], uint8_t hash[LT_HASH_BYTES],
                         char *err, size_t errlen) LT_NODISCARD;
/* The same, also writing the records' leaves into leaves (c->n_records *
 * LT_HASH_BYTES, or NULL), from which the consumer takes their checksums
 * and the snapshot's running root. */
int lt_snap_chunk_verify_leaves(const Lienthong__SnapshotChunk *c, const char *stream,
                                uint64_t first_index, const uint8_t prev[LT_HASH_BYTES],
                                const uint8_t owner_pk[LT_KEY_BYTES], uint8_t hash[LT_HASH_BYTES],
                                uint8_t *leaves, char *err, size_t errlen) LT_NODISCARD;

/* Owner: signs the end of a snapshot at seq of count records with state
 * root root, on history (NULL: none), chained from the last chunk's hash (zeros if count is 0);
 * writes the signature and H32(HE). Returns 0 or -1. */
int lt_snap_end_sign(const lt_keys_t *owner, const char *stream, const uint8_t *history,
                     uint64_t seq, uint64_t count, const uint8_t prev[LT_HASH_BYTES],
                     const uint8_t root[LT_HASH_BYTES], uint8_t sig[LT_SIG_BYTES],
                     uint8_t hash[LT_HASH_BYTES]) LT_NODISCARD;
/* Consumer: verifies end e against its own count, chain hash and computed
 * root; writes H32(HE). Returns 0, or -1 with the reason. */
int lt_snap_end_verify(const Lienthong__SnapshotEnd *e, const char *stream, uint64_t seq,
                       uint64_t count, const uint8_t prev[LT_HASH_BYTES],
                       const uint8_t root[LT_HASH_BYTES], const uint8_t owner_pk[LT_KEY_BYTES],
                       uint8_t hash[LT_HASH_BYTES], char *err, size_t errlen) LT_NODISCARD;

#endif

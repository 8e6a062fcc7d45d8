/* lt_batch: the signed batch of PROTOCOL.md 6.3.
 *
 * H = "lienthong/1 batch" 0x00 u16be(len(stream)) stream [history_id[16]]
 *     u64be(first) u64be(last) prev_hash[32] merkle_root[32]
 * The history id (PROTOCOL.md 6.9) is present when the batch carries one:
 * it binds the chain to one history of the stream.
 * signature = Ed25519(owner, H); batch_hash = BLAKE2b-256(H).
 * The signature is made over H directly (H already begins with the domain
 * string), so the consumer can rebuild H from its own state and verify it
 * before unpacking any record. */
#ifndef LT_BATCH_H
#define LT_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"
#include "lt_crypto.h"
#include "lt_err.h"
#include "lt_keys.h"
#include "lt_limits.h"

#define LT_BATCH_DOMAIN "lienthong/1 batch"

/* Record byte strings gathered for one batch, in one buffer reused between
 * batches so that readers do not allocate per batch; with the Merkle
 * leaves of the first n_leaves of them when whoever gave them had those
 * already (lt_batch_recs_add_leaf), so that the batch's root is made
 * without hashing them again. */
typedef struct {
    ProtobufCBinaryData recs[LT_BATCH_MAX_RECORDS];
    uint8_t *buf;
    size_t used, cap;
    size_t n;
    uint8_t leaves[LT_BATCH_MAX_RECORDS][LT_HASH_BYTES];
    size_t n_leaves;
} lt_batch_recs_t;

/* Empties r for the next batch, keeping its buffer. */
void lt_batch_recs_reset(lt_batch_recs_t *r);
/* Appends a copy of rec. 0, or -1 when out of memory or full. */
int lt_batch_recs_add(lt_batch_recs_t *r, const void *rec, size_t len) LT_NODISCARD;
/* The same for a record whose leaf (lt_crypto_merkle_leaf of rec) is known. */
int lt_batch_recs_add_leaf(lt_batch_recs_t *r, const void *rec, size_t len,
                           const uint8_t leaf[LT_HASH_BYTES]) LT_NODISCARD;
/* The Merkle root of r's records, from their leaves when r holds them all. */
int lt_batch_recs_root(const lt_batch_recs_t *r, uint8_t root[LT_HASH_BYTES]) LT_NODISCARD;

/* Computes the Merkle root over n record byte strings. Returns 0 or -1. */
int lt_batch_root(const ProtobufCBinaryData *records, size_t n,
                  uint8_t root[LT_HASH_BYTES]) LT_NODISCARD;
/* The same, also writing the n leaves into leaves (n * LT_HASH_BYTES, or
 * NULL): a writer that stores the records takes their checksums from them
 * (lt_store_append_leaf). */
int lt_batch_root_leaves(const ProtobufCBinaryData *records, size_t n, uint8_t *leaves,
                         uint8_t root[LT_HASH_BYTES]) LT_NODISCARD;
/* The Merkle root over n leaves made already (lt_crypto_merkle_leaf). */
int lt_batch_root_of(const uint8_t *leaves, size_t n, uint8_t root[LT_HASH_BYTES]) LT_NODISCARD;

/* Builds H into a malloc'd buffer; history is NULL or LT_HISTORY_BYTES
 * long. Returns NULL on failure. */
uint8_t *lt_batch_header(const char *stream, const uint8_t *history, uint64_t first, uint64_t last,
                         const uint8_t prev[LT_HASH_BYTES], const uint8_t root[LT_HASH_BYTES],
                         size_t *len);

/* The same layout under another domain string (the snapshot headers of
 * PROTOCOL.md 6.7 reuse it, with history NULL): domain 0x00
 * u16be(len(stream)) stream [history[16]] u64be(a) u64be(b) prev[32]
 * root[32]. Returns NULL on failure. */
uint8_t *lt_batch_header_in(const char *domain, const char *stream, const uint8_t *history,
                            uint64_t a, uint64_t b, const uint8_t prev[LT_HASH_BYTES],
                            const uint8_t root[LT_HASH_BYTES], size_t *len);
/* Signs such a header (sig) and writes H32 of it (hash). Returns 0 or -1. */
int lt_batch_sign_in(const lt_keys_t *owner, const char *domain, const char *stream,
                     const uint8_t *history, uint64_t a, uint64_t b,
                     const uint8_t prev[LT_HASH_BYTES], const uint8_t root[LT_HASH_BYTES],
                     uint8_t sig[LT_SIG_BYTES], uint8_t hash[LT_HASH_BYTES]) LT_NODISCARD;
/* Verifies sig over such a header rebuilt from the arguments; on success
 * writes H32 of it (hash). Returns 0, or -1 (bad signature or no memory). */
int lt_batch_verify_in(const uint8_t owner_pk[LT_KEY_BYTES], const char *domain, const char *stream,
                       const uint8_t *history, uint64_t a, uint64_t b,
                       const uint8_t prev[LT_HASH_BYTES], const uint8_t root[LT_HASH_BYTES],
                       const uint8_t sig[LT_SIG_BYTES], uint8_t hash[LT_HASH_BYTES]) LT_NODISCARD;

/* Owner: signs the batch of n records; writes the signature and the new
 * batch hash. Returns 0 or -1. */
int lt_batch_sign(const lt_keys_t *owner, const char *stream, uint64_t first,
                  const ProtobufCBinaryData *records, size_t n, const uint8_t prev[LT_HASH_BYTES],
                  uint8_t sig[LT_SIG_BYTES], uint8_t hash[LT_HASH_BYTES]) LT_NODISCARD;
/* The same, for a stream on history (NULL: none, as lt_batch_sign). */
int lt_batch_sign_history(const lt_keys_t *owner, const char *stream, const uint8_t *history,
                          uint64_t first, const ProtobufCBinaryData *records, size_t n,
                          const uint8_t prev[LT_HASH_BYTES], uint8_t sig[LT_SIG_BYTES],
                          uint8_t hash[LT_HASH_BYTES]) LT_NODISCARD;

/* Consumer: verifies b against what it expects (stream, first = cursor+1,
 * its stored prev hash) under the owner's signing key from the directory.
 * The header binds b->history_id: the caller compares it with the history
 * it expects (PROTOCOL.md 6.5); a batch whose history id is neither empty
 * nor LT_HISTORY_BYTES long is refused. On success writes the new batch hash. Returns 0, or -1 with
 * the reason. */
int lt_batch_verify(const Lienthong__Batch *b, const char *stream, uint64_t first,
                    const uint8_t prev[LT_HASH_BYTES], const uint8_t owner_pk[LT_KEY_BYTES],
                    uint8_t hash[LT_HASH_BYTES], char *err, size_t errlen) LT_NODISCARD;

/* lt_batch_verify that also writes the Merkle root it computed, for a
 * consumer that keeps the signed header (docs/ARCHITECTURE.md 4.2). */
int lt_batch_verify_root(const Lienthong__Batch *b, const char *stream, uint64_t first,
                         const uint8_t prev[LT_HASH_BYTES], const uint8_t owner_pk[LT_KEY_BYTES],
                         uint8_t hash[LT_HASH_BYTES], uint8_t root[LT_HASH_BYTES], char *err,
                         size_t errlen) LT_NODISCARD;
/* lt_batch_verify_root that also writes the records' leaves into leaves
 * (b->n_records * LT_HASH_BYTES, or NULL), for the writer that stores them
 * (lt_store_append_leaf). */
int lt_batch_verify_leaves(const Lienthong__Batch *b, const char *stream, uint64_t first,
                           const uint8_t prev[LT_HASH_BYTES], const uint8_t owner_pk[LT_KEY_BYTES],
                           uint8_t hash[LT_HASH_BYTES], uint8_t root[LT_HASH_BYTES],
                           uint8_t *leaves, char *err, size_t errlen) LT_NODISCARD;

#endif

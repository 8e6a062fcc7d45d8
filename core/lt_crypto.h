/* lt_crypto: hashing and Merkle trees (BLAKE2b-256) used to sign batches of
 * records and of answers. See PROTOCOL.md for the exact construction. */
#ifndef LT_CRYPTO_H
#define LT_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "lt_err.h"
#include "lt_limits.h"

#define LT_HASH_BYTES 32

/* BLAKE2b-256 of buf. */
void lt_crypto_hash(const uint8_t *buf, size_t len, uint8_t out[LT_HASH_BYTES]);

/* BLAKE2b-256 of the concatenation a || b, without copying them together. */
void lt_crypto_hash2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     uint8_t out[LT_HASH_BYTES]);

/* BLAKE2b-256 of the concatenation of n buffers, without copying them
 * together. */
void lt_crypto_hashv(const uint8_t *const *bufs, const size_t *lens, size_t n,
                     uint8_t out[LT_HASH_BYTES]);

/* Merkle leaf: BLAKE2b-256(0x00 || data). */
void lt_crypto_merkle_leaf(const uint8_t *data, size_t len, uint8_t out[LT_HASH_BYTES]);

/* Root over `count` leaf hashes (count >= 1). Uses `scratch` of count*32
 * bytes, which may alias nothing else. Returns 0, or -1 when count is 0. */
int lt_crypto_merkle_root(const uint8_t *leaves, size_t count, uint8_t *scratch,
                          uint8_t root[LT_HASH_BYTES]) LT_NODISCARD;

/* Audit path for leaf `index`: writes up to LT_MERKLE_MAX_PATH sibling
 * hashes into path and their number into *path_len. A level where the node
 * has no sibling (odd count, last node carried up) contributes nothing. */
int lt_crypto_merkle_path(const uint8_t *leaves, size_t count, size_t index, uint8_t *scratch,
                          uint8_t path[][LT_HASH_BYTES], size_t *path_len) LT_NODISCARD;

/* Recomputes the root from a leaf and its path; returns 0 if it equals root. */
int lt_crypto_merkle_check(const uint8_t leaf[LT_HASH_BYTES], size_t index, size_t count,
                           const uint8_t (*path)[LT_HASH_BYTES], size_t path_len,
                           const uint8_t root[LT_HASH_BYTES]) LT_NODISCARD;

/* Builds the whole tree once so that many paths can be taken from it:
 * level 0 (the leaves), then each level up to the root, stored one after
 * another in tree, which must hold 2 * count hashes. Returns 0 or -1. */
int lt_crypto_merkle_tree(const uint8_t *leaves, size_t count, uint8_t *tree) LT_NODISCARD;
/* Root of a tree built by lt_crypto_merkle_tree. */
const uint8_t *lt_crypto_merkle_tree_root(const uint8_t *tree, size_t count);
/* Path of leaf index from a built tree, as lt_crypto_merkle_path gives it. */
int lt_crypto_merkle_tree_path(const uint8_t *tree, size_t count, size_t index,
                               uint8_t path[][LT_HASH_BYTES], size_t *path_len) LT_NODISCARD;

#endif

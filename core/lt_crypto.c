/* lt_crypto: BLAKE2b-256 and the Merkle tree construction of PROTOCOL.md:
 * leaf = H(0x00 || data), parent = H(0x01 || left || right), and a level
 * with an odd count carries its last node up unchanged. */
#include "lt_crypto.h"

#include <sodium.h>
#include <string.h>

void lt_crypto_hash(const uint8_t *buf, size_t len, uint8_t out[LT_HASH_BYTES])
{
    crypto_generichash(out, LT_HASH_BYTES, buf, len, NULL, 0);
}

void lt_crypto_hash2(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                     uint8_t out[LT_HASH_BYTES])
{
    const uint8_t *bufs[2] = {a, b};
    const size_t lens[2] = {alen, blen};
    lt_crypto_hashv(bufs, lens, 2, out);
}

void lt_crypto_hashv(const uint8_t *const *bufs, const size_t *lens, size_t n,
                     uint8_t out[LT_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, LT_HASH_BYTES);
    for (size_t i = 0; i < n; i++)
        crypto_generichash_update(&st, bufs[i], lens[i]);
    crypto_generichash_final(&st, out, LT_HASH_BYTES);
}

void lt_crypto_merkle_leaf(const uint8_t *data, size_t len, uint8_t out[LT_HASH_BYTES])
{
    const uint8_t tag = 0x00;
    lt_crypto_hash2(&tag, 1, data, len, out);
}

static void s_parent(const uint8_t *l, const uint8_t *r, uint8_t *out)
{
    uint8_t buf[1 + 2 * LT_HASH_BYTES];
    buf[0] = 0x01;
    memcpy(buf + 1, l, LT_HASH_BYTES);
    memcpy(buf + 1 + LT_HASH_BYTES, r, LT_HASH_BYTES);
    lt_crypto_hash(buf, sizeof buf, out);
}

/* Reduces one level in place; returns the new count. */
static size_t s_level(uint8_t *nodes, size_t count)
{
    size_t out = 0;
    for (size_t i = 0; i + 1 < count; i += 2, out++)
        s_parent(nodes + i * 32, nodes + (i + 1) * 32, nodes + out * 32);
    if (count & 1) {
        memmove(nodes + out * 32, nodes + (count - 1) * 32, 32);
        out++;
    }
    return out;
}

int lt_crypto_merkle_root(const uint8_t *leaves, size_t count, uint8_t *scratch,
                          uint8_t root[LT_HASH_BYTES])
{
    if (count == 0)
        return -1;
    memcpy(scratch, leaves, count * 32);
    while (count > 1)
        count = s_level(scratch, count);
    memcpy(root, scratch, 32);
    return 0;
}

int lt_crypto_merkle_path(const uint8_t *leaves, size_t count, size_t index, uint8_t *scratch,
                          uint8_t path[][LT_HASH_BYTES], size_t *path_len)
{
    if (count == 0 || index >= count)
        return -1;
    memcpy(scratch, leaves, count * 32);
    size_t n = 0;
    while (count > 1) {
        size_t sib = index ^ 1;
        if (sib < count) {
            if (n >= LT_MERKLE_MAX_PATH)
                return -1;
            memcpy(path[n++], scratch + sib * 32, 32);
        }
        count = s_level(scratch, count);
        index /= 2;
    }
    *path_len = n;
    return 0;
}

int lt_crypto_merkle_check(const uint8_t leaf[LT_HASH_BYTES], size_t index, size_t count,
                           const uint8_t (*path)[LT_HASH_BYTES], size_t path_len,
                           const uint8_t root[LT_HASH_BYTES])
{
    if (count == 0 || index >= count)
        return -1;
    uint8_t cur[32];
    memcpy(cur, leaf, 32);
    size_t used = 0;
    while (count > 1) {
        size_t sib = index ^ 1;
        if (sib < count) {
            if (used >= path_len)
                return -1;
            if (index & 1)
                s_parent(path[used], cur, cur);
            else
                s_parent(cur, path[used], cur);
            used++;
        }
        count = (count + 1) / 2;
        index /= 2;
    }
    if (used != path_len)
        return -1;
    return sodium_memcmp(cur, root, 32) == 0 ? 0 : -1;
}

int lt_crypto_merkle_tree(const uint8_t *leaves, size_t count, uint8_t *tree)
{
    if (count == 0)
        return -1;
    memcpy(tree, leaves, count * 32);
    uint8_t *level = tree;
    while (count > 1) {
        uint8_t *next = level + count * 32;
        size_t out = 0;
        for (size_t i = 0; i + 1 < count; i += 2, out++)
            s_parent(level + i * 32, level + (i + 1) * 32, next + out * 32);
        if (count & 1)
            memcpy(next + (out++) * 32, level + (count - 1) * 32, 32);
        level = next;
        count = out;
    }
    return 0;
}

const uint8_t *lt_crypto_merkle_tree_root(const uint8_t *tree, size_t count)
{
    size_t off = 0;
    while (count > 1) {
        off += count;
        count = (count + 1) / 2;
    }
    return tree + off * 32;
}

int lt_crypto_merkle_tree_path(const uint8_t *tree, size_t count, size_t index,
                               uint8_t path[][LT_HASH_BYTES], size_t *path_len)
{
    if (count == 0 || index >= count)
        return -1;
    size_t off = 0, n = 0;
    while (count > 1) {
        size_t sib = index ^ 1;
        if (sib < count) {
            if (n >= LT_MERKLE_MAX_PATH)
                return -1;
            memcpy(path[n++], tree + (off + sib) * 32, 32);
        }
        off += count;
        count = (count + 1) / 2;
        index /= 2;
    }
    *path_len = n;
    return 0;
}

/* lt_snap: snapshot chunk and end headers, signatures, and the incremental
 * Merkle root of the whole state (PROTOCOL.md 6.4, 6.7). */
#include "lt_snap.h"
#include "lt_batch.h"

#include <stdio.h>
#include <string.h>

void lt_snap_merkle_init(lt_snap_merkle_t *m)
{
    memset(m, 0, sizeof *m);
}

static void s_parent(const uint8_t l[LT_HASH_BYTES], const uint8_t r[LT_HASH_BYTES],
                     uint8_t out[LT_HASH_BYTES])
{
    uint8_t buf[1 + 2 * LT_HASH_BYTES];
    buf[0] = 0x01;
    memcpy(buf + 1, l, LT_HASH_BYTES);
    memcpy(buf + 1 + LT_HASH_BYTES, r, LT_HASH_BYTES);
    lt_crypto_hash(buf, sizeof buf, out);
}

void lt_snap_merkle_add(lt_snap_merkle_t *m, const uint8_t *data, size_t len)
{
    uint8_t leaf[LT_HASH_BYTES];
    lt_crypto_merkle_leaf(data, len, leaf);
    lt_snap_merkle_add_leaf(m, leaf);
}

void lt_snap_merkle_add_leaf(lt_snap_merkle_t *m, const uint8_t leaf[LT_HASH_BYTES])
{
    uint8_t h[LT_HASH_BYTES];
    uint8_t level = 0;
    memcpy(h, leaf, LT_HASH_BYTES);
    /* Two complete subtrees of one level make one of the next: the pairing
     * of 6.4, done as soon as both halves exist. */
    while (m->depth > 0 && m->level[m->depth - 1] == level) {
        s_parent(m->node[m->depth - 1], h, h);
        m->depth--;
        level++;
    }
    memcpy(m->node[m->depth], h, LT_HASH_BYTES);
    m->level[m->depth++] = level;
    m->count++;
}

void lt_snap_merkle_root(const lt_snap_merkle_t *m, uint8_t root[LT_HASH_BYTES])
{
    if (m->depth == 0) {
        memset(root, 0, LT_HASH_BYTES);
        return;
    }
    /* 6.4 carries an odd last node up unchanged, so the incomplete right
     * edge folds from the right: each smaller subtree joins the larger
     * one to its left. */
    uint8_t h[LT_HASH_BYTES];
    memcpy(h, m->node[m->depth - 1], LT_HASH_BYTES);
    for (size_t i = m->depth - 1; i > 0; i--)
        s_parent(m->node[i - 1], h, h);
    memcpy(root, h, LT_HASH_BYTES);
}

/* A history id field is empty or LT_HISTORY_BYTES long (6.7, 6.9). */
static int s_history_ok(const ProtobufCBinaryData *h)
{
    return h->len == 0 || h->len == LT_HISTORY_BYTES;
}

/* The history a header binds: NULL when the message carries none. */
static const uint8_t *s_history(const ProtobufCBinaryData *h)
{
    return h->len ? h->data : NULL;
}

int lt_snap_chunk_sign(const lt_keys_t *owner, const char *stream, const uint8_t *history,
                       uint64_t first_index, const ProtobufCBinaryData *records, size_t n,
                       const uint8_t prev[LT_HASH_BYTES], uint8_t sig[LT_SIG_BYTES],
                       uint8_t hash[LT_HASH_BYTES])
{
    uint8_t root[LT_HASH_BYTES];
    return lt_batch_root(records, n, root) == 0
               ? lt_snap_chunk_sign_root(owner, stream, history, first_index, n, prev, root, sig,
                                         hash)
               : -1;
}

int lt_snap_chunk_sign_root(const lt_keys_t *owner, const char *stream, const uint8_t *history,
                            uint64_t first_index, size_t n, const uint8_t prev[LT_HASH_BYTES],
                            const uint8_t root[LT_HASH_BYTES], uint8_t sig[LT_SIG_BYTES],
                            uint8_t hash[LT_HASH_BYTES])
{
    return lt_batch_sign_in(owner, LT_SNAP_DOMAIN, stream, history, first_index,
                            first_index + n - 1, prev, root, sig, hash);
}

int lt_snap_chunk_verify(const Lienthong__SnapshotChunk *c, const char *stream,
                         uint64_t first_index, const uint8_t prev[LT_HASH_BYTES],
                         const uint8_t owner_pk[LT_KEY_BYTES], uint8_t hash[LT_HASH_BYTES],
                         char *err, size_t errlen)
{
    return lt_snap_chunk_verify_leaves(c, stream, first_index, prev, owner_pk, hash, NULL, err,
                                       errlen);
}

int lt_snap_chunk_verify_leaves(const Lienthong__SnapshotChunk *c, const char *stream,
                                uint64_t first_index, const uint8_t prev[LT_HASH_BYTES],
                                const uint8_t owner_pk[LT_KEY_BYTES], uint8_t hash[LT_HASH_BYTES],
                                uint8_t *leaves, char *err, size_t errlen)
{
    uint8_t root[LT_HASH_BYTES];
    if (strcmp(c->stream, stream) != 0 || c->first_index != first_index) {
        snprintf(err, errlen, "snapshot chunk at index %llu does not follow on from %llu",
                 (unsigned long long)c->first_index, (unsigned long long)first_index);
        return -1;
    }
    if (c->n_records == 0 || c->n_records > LT_BATCH_MAX_RECORDS ||
        c->signature.len != LT_SIG_BYTES || !s_history_ok(&c->history_id)) {
        snprintf(err, errlen,
                 "snapshot chunk with %zu records, a %zu-byte signature and a "
                 "%zu-byte history id is malformed",
                 c->n_records, c->signature.len, c->history_id.len);
        return -1;
    }
    /* HC is rebuilt with the history the chunk carries, as H of a batch
     * (6.3): the caller compares it with the one it expects (6.9). */
    if (lt_batch_root_leaves(c->records, c->n_records, leaves, root) != 0 ||
        lt_batch_verify_in(owner_pk, LT_SNAP_DOMAIN, stream, s_history(&c->history_id), first_index,
                           first_index + c->n_records - 1, prev, root, c->signature.data,
                           hash) != 0) {
        snprintf(err, errlen,
                 "bad signature on snapshot chunk %llu..%llu (tampered, wrong key, "
                 "or broken chain)",
                 (unsigned long long)first_index,
                 (unsigned long long)(first_index + c->n_records - 1));
        return -1;
    }
    return 0;
}

int lt_snap_end_sign(const lt_keys_t *owner, const char *stream, const uint8_t *history,
                     uint64_t seq, uint64_t count, const uint8_t prev[LT_HASH_BYTES],
                     const uint8_t root[LT_HASH_BYTES], uint8_t sig[LT_SIG_BYTES],
                     uint8_t hash[LT_HASH_BYTES])
{
    return lt_batch_sign_in(owner, LT_SNAP_END_DOMAIN, stream, history, seq, count, prev, root, sig,
                            hash);
}

int lt_snap_end_verify(const Lienthong__SnapshotEnd *e, const char *stream, uint64_t seq,
                       uint64_t count, const uint8_t prev[LT_HASH_BYTES],
                       const uint8_t root[LT_HASH_BYTES], const uint8_t owner_pk[LT_KEY_BYTES],
                       uint8_t hash[LT_HASH_BYTES], char *err, size_t errlen)
{
    if (strcmp(e->stream, stream) != 0 || e->snapshot_seq != seq || e->count != count ||
        e->state_root.len != LT_HASH_BYTES ||
        memcmp(e->state_root.data, root, LT_HASH_BYTES) != 0) {
        snprintf(err, errlen,
                 "snapshot end (seq %llu, %llu records) does not match the %llu "
                 "records received at seq %llu",
                 (unsigned long long)e->snapshot_seq, (unsigned long long)e->count,
                 (unsigned long long)count, (unsigned long long)seq);
        return -1;
    }
    if (e->signature.len != LT_SIG_BYTES || !s_history_ok(&e->history_id) ||
        lt_batch_verify_in(owner_pk, LT_SNAP_END_DOMAIN, stream, s_history(&e->history_id), seq,
                           count, prev, root, e->signature.data, hash) != 0) {
        snprintf(err, errlen, "bad signature on snapshot end at seq %llu", (unsigned long long)seq);
        return -1;
    }
    return 0;
}

/* lt_batch: batch header, signature and verification. */
#include "lt_batch.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lt_batch_root(const ProtobufCBinaryData *records, size_t n, uint8_t root[LT_HASH_BYTES])
{
    return lt_batch_root_leaves(records, n, NULL, root);
}

int lt_batch_root_leaves(const ProtobufCBinaryData *records, size_t n, uint8_t *leaves_out,
                         uint8_t root[LT_HASH_BYTES])
{
    if (n == 0 || n > LT_BATCH_MAX_RECORDS)
        return -1;
    uint8_t *scratch = malloc(n * 2 * LT_HASH_BYTES);
    if (!scratch)
        return -1;
    uint8_t *leaves = leaves_out ? leaves_out : scratch + n * LT_HASH_BYTES;
    for (size_t i = 0; i < n; i++)
        lt_crypto_merkle_leaf(records[i].data, records[i].len, leaves + i * LT_HASH_BYTES);
    int rc = lt_crypto_merkle_root(leaves, n, scratch, root);
    free(scratch);
    return rc;
}

int lt_batch_root_of(const uint8_t *leaves, size_t n, uint8_t root[LT_HASH_BYTES])
{
    if (n == 0 || n > LT_BATCH_MAX_RECORDS)
        return -1;
    uint8_t *scratch = malloc(n * LT_HASH_BYTES);
    if (!scratch)
        return -1;
    int rc = lt_crypto_merkle_root(leaves, n, scratch, root);
    free(scratch);
    return rc;
}

static void s_be(uint8_t *p, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

uint8_t *lt_batch_header_in(const char *domain, const char *stream, const uint8_t *history,
                            uint64_t a, uint64_t b, const uint8_t prev[LT_HASH_BYTES],
                            const uint8_t root[LT_HASH_BYTES], size_t *len)
{
    size_t dl = strlen(domain) + 1; /* includes the 0x00 separator */
    size_t sl = strlen(stream);
    size_t hl = history ? LT_HISTORY_BYTES : 0;
    if (sl > 0xffff)
        return NULL;
    *len = dl + 2 + sl + hl + 8 + 8 + 2 * LT_HASH_BYTES;
    uint8_t *h = malloc(*len), *p = h;
    if (!h)
        return NULL;
    memcpy(p, domain, dl);
    p += dl;
    s_be(p, sl, 2);
    p += 2;
    memcpy(p, stream, sl);
    p += sl;
    /* The length of H tells whether it is there: every other part is of
     * fixed length or length-prefixed. */
    if (hl)
        memcpy(p, history, hl);
    p += hl;
    s_be(p, a, 8);
    s_be(p + 8, b, 8);
    p += 16;
    memcpy(p, prev, LT_HASH_BYTES);
    memcpy(p + LT_HASH_BYTES, root, LT_HASH_BYTES);
    return h;
}

uint8_t *lt_batch_header(const char *stream, const uint8_t *history, uint64_t first, uint64_t last,
                         const uint8_t prev[LT_HASH_BYTES], const uint8_t root[LT_HASH_BYTES],
                         size_t *len)
{
    return lt_batch_header_in(LT_BATCH_DOMAIN, stream, history, first, last, prev, root, len);
}

int lt_batch_sign_in(const lt_keys_t *owner, const char *domain, const char *stream,
                     const uint8_t *history, uint64_t a, uint64_t b,
                     const uint8_t prev[LT_HASH_BYTES], const uint8_t root[LT_HASH_BYTES],
                     uint8_t sig[LT_SIG_BYTES], uint8_t hash[LT_HASH_BYTES])
{
    size_t len, dl = strlen(domain) + 1;
    uint8_t *h = lt_batch_header_in(domain, stream, history, a, b, prev, root, &len);
    if (!h)
        return -1;
    /* lt_keys_sign signs domain || 0x00 || msg, which is exactly H. */
    int rc = lt_keys_sign(owner, domain, h + dl, len - dl, sig);
    lt_crypto_hash(h, len, hash);
    free(h);
    return rc;
}

int lt_batch_verify_in(const uint8_t owner_pk[LT_KEY_BYTES], const char *domain, const char *stream,
                       const uint8_t *history, uint64_t a, uint64_t b,
                       const uint8_t prev[LT_HASH_BYTES], const uint8_t root[LT_HASH_BYTES],
                       const uint8_t sig[LT_SIG_BYTES], uint8_t hash[LT_HASH_BYTES])
{
    size_t len, dl = strlen(domain) + 1;
    uint8_t *h = lt_batch_header_in(domain, stream, history, a, b, prev, root, &len);
    if (!h)
        return -1;
    int rc = lt_keys_verify(owner_pk, domain, h + dl, len - dl, sig);
    if (rc == 0)
        lt_crypto_hash(h, len, hash);
    free(h);
    return rc;
}

int lt_batch_sign(const lt_keys_t *owner, const char *stream, uint64_t first,
                  const ProtobufCBinaryData *records, size_t n, const uint8_t prev[LT_HASH_BYTES],
                  uint8_t sig[LT_SIG_BYTES], uint8_t hash[LT_HASH_BYTES])
{
    return lt_batch_sign_history(owner, stream, NULL, first, records, n, prev, sig, hash);
}

int lt_batch_sign_history(const lt_keys_t *owner, const char *stream, const uint8_t *history,
                          uint64_t first, const ProtobufCBinaryData *records, size_t n,
                          const uint8_t prev[LT_HASH_BYTES], uint8_t sig[LT_SIG_BYTES],
                          uint8_t hash[LT_HASH_BYTES])
{
    uint8_t root[LT_HASH_BYTES];
    if (lt_batch_root(records, n, root) != 0)
        return -1;
    return lt_batch_sign_in(owner, LT_BATCH_DOMAIN, stream, history, first, first + n - 1, prev,
                            root, sig, hash);
}

int lt_batch_verify(const Lienthong__Batch *b, const char *stream, uint64_t first,
                    const uint8_t prev[LT_HASH_BYTES], const uint8_t owner_pk[LT_KEY_BYTES],
                    uint8_t hash[LT_HASH_BYTES], char *err, size_t errlen)
{
    uint8_t root[LT_HASH_BYTES];
    return lt_batch_verify_root(b, stream, first, prev, owner_pk, hash, root, err, errlen);
}

int lt_batch_verify_root(const Lienthong__Batch *b, const char *stream, uint64_t first,
                         const uint8_t prev[LT_HASH_BYTES], const uint8_t owner_pk[LT_KEY_BYTES],
                         uint8_t hash[LT_HASH_BYTES], uint8_t root[LT_HASH_BYTES], char *err,
                         size_t errlen)
{
    return lt_batch_verify_leaves(b, stream, first, prev, owner_pk, hash, root, NULL, err, errlen);
}

int lt_batch_verify_leaves(const Lienthong__Batch *b, const char *stream, uint64_t first,
                           const uint8_t prev[LT_HASH_BYTES], const uint8_t owner_pk[LT_KEY_BYTES],
                           uint8_t hash[LT_HASH_BYTES], uint8_t root[LT_HASH_BYTES],
                           uint8_t *leaves, char *err, size_t errlen)
{
    if (strcmp(b->stream, stream) != 0 || b->first_seq != first) {
        snprintf(err, errlen, "batch %s@%llu does not follow on from %s@%llu", b->stream,
                 (unsigned long long)b->first_seq, stream, (unsigned long long)first);
        return -1;
    }
    if (b->n_records == 0 || b->n_records > LT_BATCH_MAX_RECORDS ||
        b->signature.len != LT_SIG_BYTES ||
        (b->history_id.len != 0 && b->history_id.len != LT_HISTORY_BYTES)) {
        snprintf(err, errlen,
                 "batch with %zu records, a %zu-byte signature and a %zu-byte history id is "
                 "malformed",
                 b->n_records, b->signature.len, b->history_id.len);
        return -1;
    }
    if (lt_batch_root_leaves(b->records, b->n_records, leaves, root) != 0) {
        snprintf(err, errlen, "cannot hash batch");
        return -1;
    }
    /* H is rebuilt from our own expectations, never read from the message. */
    const uint8_t *history = b->history_id.len ? b->history_id.data : NULL;
    if (lt_batch_verify_in(owner_pk, LT_BATCH_DOMAIN, stream, history, first,
                           first + b->n_records - 1, prev, root, b->signature.data, hash) != 0) {
        snprintf(err, errlen,
                 "bad signature on batch %s %llu..%llu (tampered, wrong key, or "
                 "broken chain)",
                 stream, (unsigned long long)first, (unsigned long long)(first + b->n_records - 1));
        return -1;
    }
    return 0;
}

int lt_batch_recs_add(lt_batch_recs_t *r, const void *rec, size_t len)
{
    if (r->n >= LT_BATCH_MAX_RECORDS)
        return -1;
    if (r->used + len > r->cap) {
        size_t cap = (r->used + len) * 2;
        uint8_t *nb = realloc(r->buf, cap ? cap : 1);
        if (!nb)
            return -1;
        /* Re-point earlier records into the moved buffer. */
        for (size_t i = 0; i < r->n; i++)
            r->recs[i].data = nb + (r->recs[i].data - r->buf);
        r->buf = nb;
        r->cap = cap;
    }
    memcpy(r->buf + r->used, rec, len);
    r->recs[r->n].data = r->buf + r->used;
    r->recs[r->n].len = len;
    r->used += len;
    r->n++;
    return 0;
}

void lt_batch_recs_reset(lt_batch_recs_t *r)
{
    r->n = r->used = r->n_leaves = 0;
}

int lt_batch_recs_add_leaf(lt_batch_recs_t *r, const void *rec, size_t len,
                           const uint8_t leaf[LT_HASH_BYTES])
{
    size_t i = r->n;
    if (lt_batch_recs_add(r, rec, len) != 0)
        return -1;
    /* Leaves count only as a prefix: one record without its leaf before
     * makes the root be computed from the records. */
    if (r->n_leaves == i) {
        memcpy(r->leaves[i], leaf, LT_HASH_BYTES);
        r->n_leaves++;
    }
    return 0;
}

int lt_batch_recs_root(const lt_batch_recs_t *r, uint8_t root[LT_HASH_BYTES])
{
    if (r->n > 0 && r->n_leaves == r->n)
        return lt_batch_root_of(&r->leaves[0][0], r->n, root);
    return lt_batch_root(r->recs, r->n, root);
}

/* test_crypto: CUnit suite for core/lt_crypto (BLAKE2b-256 and the Merkle
 * tree of PROTOCOL.md 6.4). Roots and proofs are checked against an
 * independent, deliberately naive reimplementation written here. */
#include "unit_util.h"

#include "lt_crypto.h"
#include "lt_snap.h"

#include <sodium.h>

static const size_t SIZES[] = {1, 2, 3, 5, 8, 1000};
#define N_SIZES    (sizeof SIZES / sizeof SIZES[0])
#define MAX_LEAVES 1000

/* ---- reference implementation -------------------------------------------- */

static void ref_leaf(const uint8_t *data, size_t len, uint8_t out[32])
{
    uint8_t buf[128];
    CU_ASSERT_FATAL(len + 1 <= sizeof buf);
    buf[0] = 0x00;
    memcpy(buf + 1, data, len);
    crypto_generichash(out, 32, buf, len + 1, NULL, 0);
}

static void ref_parent(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
    uint8_t buf[65];
    buf[0] = 0x01;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    crypto_generichash(out, 32, buf, sizeof buf, NULL, 0);
}

/* Builds every level into separate arrays; odd last node carried up. */
static void ref_root(uint8_t (*leaves)[32], size_t n, uint8_t root[32])
{
    uint8_t(*cur)[32] = malloc(n * 32);
    uint8_t(*next)[32] = malloc(n * 32);
    CU_ASSERT_FATAL(cur && next);
    memcpy(cur, leaves, n * 32);
    while (n > 1) {
        size_t m = 0;
        for (size_t i = 0; i < n; i += 2, m++) {
            if (i + 1 < n)
                ref_parent(cur[i], cur[i + 1], next[m]);
            else
                memcpy(next[m], cur[i], 32);
        }
        uint8_t(*t)[32] = cur;
        cur = next;
        next = t;
        n = m;
    }
    memcpy(root, cur[0], 32);
    free(cur);
    free(next);
}

/* The verification algorithm of PROTOCOL.md 6.4, transcribed. */
static int ref_check(const uint8_t leaf[32], size_t i, size_t n, uint8_t (*proof)[32], size_t plen,
                     const uint8_t root[32])
{
    uint8_t h[32];
    size_t k = 0;
    if (i >= n)
        return -1;
    memcpy(h, leaf, 32);
    while (n > 1) {
        if (i & 1) {
            if (k >= plen)
                return -1;
            ref_parent(proof[k++], h, h);
        } else if (i + 1 < n) {
            if (k >= plen)
                return -1;
            ref_parent(h, proof[k++], h);
        }
        i /= 2;
        n = (n + 1) / 2;
    }
    return (k == plen && memcmp(h, root, 32) == 0) ? 0 : -1;
}

static void make_leaves(uint8_t (*leaves)[32], size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char data[32];
        int len = snprintf(data, sizeof data, "record-%zu", i);
        ref_leaf((const uint8_t *)data, (size_t)len, leaves[i]);
    }
}

static size_t ceil_log2(size_t n)
{
    size_t k = 0;
    while (((size_t)1 << k) < n)
        k++;
    return k;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_hash_kat_abc(void)
{
    uint8_t want[32], got[32];
    CU_ASSERT_FATAL(ut_unhex("bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319",
                             want, 32) == 0);
    lt_crypto_hash((const uint8_t *)"abc", 3, got);
    CU_ASSERT(memcmp(got, want, 32) == 0);
}

static void test_hash_empty_and_distinct(void)
{
    uint8_t a[32], b[32], ref[32];
    lt_crypto_hash((const uint8_t *)"", 0, a);
    crypto_generichash(ref, 32, NULL, 0, NULL, 0);
    CU_ASSERT(memcmp(a, ref, 32) == 0);
    lt_crypto_hash((const uint8_t *)"abd", 3, b);
    lt_crypto_hash((const uint8_t *)"abc", 3, a);
    CU_ASSERT(memcmp(a, b, 32) != 0);
}

static void test_leaf_is_prefixed(void)
{
    uint8_t leaf[32], ref[32], plain[32];
    lt_crypto_merkle_leaf((const uint8_t *)"hello", 5, leaf);
    ref_leaf((const uint8_t *)"hello", 5, ref);
    lt_crypto_hash((const uint8_t *)"hello", 5, plain);
    CU_ASSERT(memcmp(leaf, ref, 32) == 0);
    CU_ASSERT(memcmp(leaf, plain, 32) != 0);
}

static void test_root_matches_reference(void)
{
    static uint8_t leaves[MAX_LEAVES][32], scratch[MAX_LEAVES * 32];
    make_leaves(leaves, MAX_LEAVES);
    for (size_t s = 0; s < N_SIZES; s++) {
        uint8_t got[32], want[32];
        size_t n = SIZES[s];
        CU_ASSERT_FATAL(lt_crypto_merkle_root(&leaves[0][0], n, scratch, got) == 0);
        ref_root(leaves, n, want);
        CU_ASSERT(memcmp(got, want, 32) == 0);
        /* The leaves must be left untouched. */
        uint8_t again[32];
        CU_ASSERT(lt_crypto_merkle_root(&leaves[0][0], n, scratch, again) == 0);
        CU_ASSERT(memcmp(again, got, 32) == 0);
    }
}

/* The incremental root of a snapshot's state (core/lt_snap, PROTOCOL.md
 * 6.7) equals the tree of 6.4 at every size, and is zeros with no leaf. */
static void test_incremental_root(void)
{
    static uint8_t leaves[300][32];
    lt_snap_merkle_t m;
    uint8_t got[32], want[32], zeros[32] = {0};
    lt_snap_merkle_init(&m);
    lt_snap_merkle_root(&m, got);
    CU_ASSERT(memcmp(got, zeros, 32) == 0);
    for (size_t n = 1; n <= 300; n++) {
        uint8_t data[8];
        for (int b = 0; b < 8; b++)
            data[b] = (uint8_t)(n * 31 + (size_t)b);
        lt_crypto_merkle_leaf(data, sizeof data, leaves[n - 1]);
        lt_snap_merkle_add(&m, data, sizeof data);
        lt_snap_merkle_root(&m, got);
        ref_root(leaves, n, want);
        CU_ASSERT(memcmp(got, want, 32) == 0);
        CU_ASSERT_EQUAL(m.count, n);
    }
}

static void test_root_small_by_hand(void)
{
    static uint8_t leaves[3][32], scratch[3 * 32];
    uint8_t root[32], p01[32], want[32];
    make_leaves(leaves, 3);
    CU_ASSERT(lt_crypto_merkle_root(&leaves[0][0], 1, scratch, root) == 0);
    CU_ASSERT(memcmp(root, leaves[0], 32) == 0);
    ref_parent(leaves[0], leaves[1], p01);
    CU_ASSERT(lt_crypto_merkle_root(&leaves[0][0], 2, scratch, root) == 0);
    CU_ASSERT(memcmp(root, p01, 32) == 0);
    ref_parent(p01, leaves[2], want);
    CU_ASSERT(lt_crypto_merkle_root(&leaves[0][0], 3, scratch, root) == 0);
    CU_ASSERT(memcmp(root, want, 32) == 0);
}

static void test_root_rejects_zero(void)
{
    uint8_t leaf[32] = {0}, scratch[32], root[32];
    CU_ASSERT(lt_crypto_merkle_root(leaf, 0, scratch, root) == -1);
}

static void test_root_order_matters(void)
{
    static uint8_t leaves[5][32], scratch[5 * 32];
    uint8_t a[32], b[32], tmp[32];
    make_leaves(leaves, 5);
    CU_ASSERT_FATAL(lt_crypto_merkle_root(&leaves[0][0], 5, scratch, a) == 0);
    memcpy(tmp, leaves[1], 32);
    memcpy(leaves[1], leaves[2], 32);
    memcpy(leaves[2], tmp, 32);
    CU_ASSERT_FATAL(lt_crypto_merkle_root(&leaves[0][0], 5, scratch, b) == 0);
    CU_ASSERT(memcmp(a, b, 32) != 0);
}

/* Checks every proof of a tree of n leaves, and its failure modes. */
static void check_paths(uint8_t (*leaves)[32], size_t n, uint8_t *scratch)
{
    uint8_t root[32], path[65][32];
    CU_ASSERT_FATAL(lt_crypto_merkle_root(&leaves[0][0], n, scratch, root) == 0);
    for (size_t i = 0; i < n; i++) {
        size_t plen = 99;
        CU_ASSERT_FATAL(lt_crypto_merkle_path(&leaves[0][0], n, i, scratch, path, &plen) == 0);
        CU_ASSERT(plen <= ceil_log2(n));
        CU_ASSERT(lt_crypto_merkle_check(leaves[i], i, n, (const uint8_t(*)[32])path, plen, root) ==
                  0);
        CU_ASSERT(ref_check(leaves[i], i, n, path, plen, root) == 0);
        size_t wrong = n > 1 ? (i + 1) % n : 1;
        CU_ASSERT(lt_crypto_merkle_check(leaves[i], wrong, n, (const uint8_t(*)[32])path, plen,
                                         root) != 0);
        uint8_t bad[32];
        memcpy(bad, leaves[i], 32);
        bad[i % 32] ^= 0x01;
        CU_ASSERT(lt_crypto_merkle_check(bad, i, n, (const uint8_t(*)[32])path, plen, root) != 0);
        if (plen > 0) {
            CU_ASSERT(lt_crypto_merkle_check(leaves[i], i, n, (const uint8_t(*)[32])path, plen - 1,
                                             root) != 0);
            path[plen - 1][0] ^= 0x80;
            CU_ASSERT(lt_crypto_merkle_check(leaves[i], i, n, (const uint8_t(*)[32])path, plen,
                                             root) != 0);
            path[plen - 1][0] ^= 0x80;
        }
        memset(path[plen], 0xab, 32);
        CU_ASSERT(lt_crypto_merkle_check(leaves[i], i, n, (const uint8_t(*)[32])path, plen + 1,
                                         root) != 0);
    }
}

static void test_paths_all_sizes(void)
{
    static uint8_t leaves[MAX_LEAVES][32], scratch[MAX_LEAVES * 32];
    make_leaves(leaves, MAX_LEAVES);
    for (size_t s = 0; s < N_SIZES; s++)
        check_paths(leaves, SIZES[s], scratch);
}

static void test_path_lengths(void)
{
    static uint8_t leaves[8][32], scratch[8 * 32];
    uint8_t path[64][32];
    size_t plen = 0;
    make_leaves(leaves, 8);
    CU_ASSERT(lt_crypto_merkle_path(&leaves[0][0], 8, 5, scratch, path, &plen) == 0);
    CU_ASSERT(plen == 3);
    CU_ASSERT(lt_crypto_merkle_path(&leaves[0][0], 1, 0, scratch, path, &plen) == 0);
    CU_ASSERT(plen == 0);
    /* Five leaves: the last one is carried up twice and has one sibling. */
    CU_ASSERT(lt_crypto_merkle_path(&leaves[0][0], 5, 4, scratch, path, &plen) == 0);
    CU_ASSERT(plen == 1);
}

static void test_path_rejects_bad_args(void)
{
    static uint8_t leaves[3][32], scratch[3 * 32];
    uint8_t path[64][32], root[32] = {0};
    size_t plen = 0;
    make_leaves(leaves, 3);
    CU_ASSERT(lt_crypto_merkle_path(&leaves[0][0], 3, 3, scratch, path, &plen) == -1);
    CU_ASSERT(lt_crypto_merkle_path(&leaves[0][0], 0, 0, scratch, path, &plen) == -1);
    CU_ASSERT(lt_crypto_merkle_check(leaves[0], 0, 0, (const uint8_t(*)[32])path, 0, root) == -1);
    CU_ASSERT(lt_crypto_merkle_check(leaves[0], 3, 3, (const uint8_t(*)[32])path, 0, root) == -1);
}

int main(void)
{
    if (sodium_init() < 0)
        return 2;
    static const ut_test_t tests[] = {
        {"BLAKE2b-256 known answer for \"abc\"", test_hash_kat_abc},
        {"hash of empty input, distinct inputs", test_hash_empty_and_distinct},
        {"leaf hash is H(0x00 || data)", test_leaf_is_prefixed},
        {"root equals reference for 1,2,3,5,8,1000", test_root_matches_reference},
        {"root for 1..3 leaves by hand", test_root_small_by_hand},
        {"incremental root equals the tree for 0..300 leaves", test_incremental_root},
        {"root rejects count 0", test_root_rejects_zero},
        {"root depends on leaf order", test_root_order_matters},
        {"paths verify for every index; tampering fails", test_paths_all_sizes},
        {"path lengths", test_path_lengths},
        {"path and check reject bad arguments", test_path_rejects_bad_args},
        {NULL, NULL},
    };
    return ut_main("lt_crypto", NULL, NULL, tests);
}

/* test_tail: CUnit suite for gateway/lt_tail, the owner's in-memory tail
 * of sent batches: a batch put once is served again byte for byte to a
 * consumer on the same chain, and signed anew (verifying under the owner's
 * key, PROTOCOL.md 6.3) for another chain or after a key promotion; only a
 * consumer whose cursor, credit and boundary match gets it; the bounds on
 * batches and bytes hold by evicting the oldest; a history change, clear
 * and new limits forget batches; the counters say what happened. */
#include "unit_util.h"

#include "lt_batch.h"
#include "lt_keys.h"
#include "lt_stats.h"
#include "lt_tail.h"
#include "lt_wire.h"

#include <sodium.h>

#define STREAM "VN/GOV/BCA/population"

static lt_keys_t *s_keys;
static lt_stats_t *s_stats;
static uint8_t s_hist[LT_HISTORY_BYTES], s_zero[LT_HASH_BYTES];

static int suite_init(void)
{
    s_keys = lt_keys_new(LT_KEYS_MEMBER);
    randombytes_buf(s_hist, sizeof s_hist);
    return s_keys ? 0 : -1;
}

static int suite_clean(void)
{
    lt_keys_destroy(&s_keys);
    return 0;
}

/* n records of `size` bytes each for seqs first.., in r (reset first); the
 * first `leaves` of them given with their Merkle leaves (lt_fresh's way),
 * the record after those without. */
static void s_recs_leaves(lt_batch_recs_t *r, uint64_t first, size_t n, size_t size, size_t leaves)
{
    lt_batch_recs_reset(r);
    uint8_t rec[4096], leaf[LT_HASH_BYTES];
    CU_ASSERT_FATAL(size <= sizeof rec);
    for (size_t i = 0; i < n; i++) {
        memset(rec, (int)((first + i) & 0xff), size);
        memcpy(rec, &first, sizeof first < size ? sizeof first : size);
        lt_crypto_merkle_leaf(rec, size, leaf);
        int rc;
        if (i < leaves)
            rc = lt_batch_recs_add_leaf(r, rec, size, leaf);
        else if (i == leaves)
            rc = lt_batch_recs_add(r, rec, size);
        else /* a leaf after a gap is not used */
            rc = lt_batch_recs_add_leaf(r, rec, size, s_zero);
        CU_ASSERT_FATAL(rc == 0);
    }
}

/* n records of `size` bytes each for seqs first.., in r (reset first). */
static void s_recs(lt_batch_recs_t *r, uint64_t first, size_t n, size_t size)
{
    s_recs_leaves(r, first, n, size, 0);
}

static lt_tail_key_t s_key(uint64_t first, const uint8_t *prev)
{
    return (lt_tail_key_t){
        .stream_id = 7, .stream = STREAM, .history = s_hist, .first = first, .prev = prev};
}

/* The counter called name in s_stats. */
typedef struct {
    const char *name;
    uint64_t value;
} s_find_t;

static int s_visit(void *arg, const lt_stats_def_t *def, const lt_stats_sample_t *sample)
{
    s_find_t *f = arg;
    if (strcmp(def->name, f->name) == 0)
        f->value = sample->counter;
    return 0;
}

static uint64_t s_counter(const char *name)
{
    s_find_t f = {.name = name};
    lt_stats_visitor_t v = {.series = s_visit};
    CU_ASSERT(lt_stats_visit(s_stats, &v, &f) == 0);
    return f.value;
}

/* Decodes msg as an Envelope{Batch}, checks it against the consumer's own
 * expectations (first, prev, n) under pk, writes its hash; 0 when it
 * verifies. Closes msg. */
static int s_verify(zmq_msg_t *msg, uint64_t first, const uint8_t *prev, size_t n,
                    const uint8_t *pk, uint8_t hash[LT_HASH_BYTES])
{
    Lienthong__ErrorCode code;
    char err[256];
    Lienthong__Envelope *env =
        lt_wire_decode(zmq_msg_data(msg), zmq_msg_size(msg), 1 << 24, &code, err, sizeof err);
    zmq_msg_close(msg);
    int rc = -1;
    if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_BATCH && env->batch->n_records == n &&
        env->batch->history_id.len == LT_HISTORY_BYTES &&
        memcmp(env->batch->history_id.data, s_hist, LT_HISTORY_BYTES) == 0)
        rc = lt_batch_verify(env->batch, STREAM, first, prev, pk, hash, err, sizeof err);
    lt_wire_free(&env);
    return rc;
}

/* A copy of msg's bytes (malloc'd), *len set. */
static uint8_t *s_bytes(zmq_msg_t *msg, size_t *len)
{
    *len = zmq_msg_size(msg);
    uint8_t *b = malloc(*len);
    CU_ASSERT_FATAL(b != NULL);
    memcpy(b, zmq_msg_data(msg), *len);
    return b;
}

static void test_hit_same_bytes(void)
{
    s_stats = lt_stats_new();
    lt_tail_t *t = lt_tail_new(s_stats, 16, 1 << 20);
    CU_ASSERT_FATAL(t != NULL);
    lt_batch_recs_t r = {0};
    s_recs(&r, 1, 10, 100);
    lt_tail_key_t k = s_key(1, s_zero);
    zmq_msg_t m1, m2;
    uint8_t h1[LT_HASH_BYTES], h2[LT_HASH_BYTES], hv[LT_HASH_BYTES];
    size_t n = 0, l1, l2;
    /* Nothing yet: a miss, then the store's batch is put. */
    CU_ASSERT_EQUAL(lt_tail_get(t, &k, 10, 100, s_keys, &m1, &n, h1), 0);
    CU_ASSERT_FATAL(lt_tail_put(t, &k, &r, 0, 1, s_keys, &m1, h1) == 0);
    uint8_t *b1 = s_bytes(&m1, &l1);
    CU_ASSERT(s_verify(&m1, 1, s_zero, 10, lt_keys_signing_public(s_keys), hv) == 0);
    CU_ASSERT(memcmp(hv, h1, LT_HASH_BYTES) == 0);
    CU_ASSERT_EQUAL(lt_tail_batches(t), 1);
    CU_ASSERT(lt_tail_bytes(t) >= 1000);
    /* A second consumer at the same cursor and chain: the same bytes. */
    CU_ASSERT_EQUAL(lt_tail_get(t, &k, 10, 100, s_keys, &m2, &n, h2), 1);
    CU_ASSERT_EQUAL(n, 10);
    uint8_t *b2 = s_bytes(&m2, &l2);
    zmq_msg_close(&m2);
    CU_ASSERT(l1 == l2 && memcmp(b1, b2, l1) == 0);
    CU_ASSERT(memcmp(h1, h2, LT_HASH_BYTES) == 0);
    CU_ASSERT_EQUAL(s_counter("lienthong_tail_hits"), 1);
    CU_ASSERT_EQUAL(s_counter("lienthong_tail_misses"), 1);
    CU_ASSERT_EQUAL(s_counter("lienthong_tail_resigned"), 0);
    CU_ASSERT_EQUAL(s_counter("lienthong_tail_sent"), l2);
    free(b1);
    free(b2);
    free(r.buf);
    lt_tail_destroy(&t);
    lt_tail_destroy(&t); /* idempotent */
    CU_ASSERT_PTR_NULL(t);
    lt_stats_destroy(&s_stats);
}

/* A batch made from its records' leaves (all, or a prefix) is the batch
 * made from the records alone. */
static void test_root_from_leaves(void)
{
    s_stats = lt_stats_new();
    lt_tail_t *t = lt_tail_new(s_stats, 16, 1 << 20);
    CU_ASSERT_FATAL(t != NULL);
    static lt_batch_recs_t r;
    uint8_t h[3][LT_HASH_BYTES], hv[LT_HASH_BYTES];
    uint8_t *b[3];
    size_t len[3];
    const size_t leaves[3] = {0, 37, 5}; /* none, all, a prefix of 5 */
    for (int i = 0; i < 3; i++) {
        zmq_msg_t m;
        s_recs_leaves(&r, 1, 37, 90, leaves[i]);
        CU_ASSERT_EQUAL(r.n_leaves, leaves[i]);
        lt_tail_key_t k = s_key(1, s_zero);
        CU_ASSERT_FATAL(lt_tail_put(t, &k, &r, 0, 0, s_keys, &m, h[i]) == 0);
        b[i] = s_bytes(&m, &len[i]);
        CU_ASSERT(s_verify(&m, 1, s_zero, 37, lt_keys_signing_public(s_keys), hv) == 0);
        CU_ASSERT(memcmp(hv, h[i], LT_HASH_BYTES) == 0);
    }
    /* The batch hash binds the root (PROTOCOL.md 6.3); the messages' bytes
     * may differ only in their signing time. */
    for (int i = 1; i < 3; i++) {
        CU_ASSERT(memcmp(h[0], h[i], LT_HASH_BYTES) == 0);
        CU_ASSERT(len[0] == len[i]);
    }
    /* A wrong leaf in a full set is used, and the batch fails to verify:
     * the leaves are the root's only input then. */
    zmq_msg_t m;
    s_recs_leaves(&r, 1, 3, 90, 3);
    r.leaves[1][0] ^= 1;
    lt_tail_key_t k = s_key(1, s_zero);
    CU_ASSERT_FATAL(lt_tail_put(t, &k, &r, 0, 0, s_keys, &m, h[0]) == 0);
    CU_ASSERT(s_verify(&m, 1, s_zero, 3, lt_keys_signing_public(s_keys), hv) != 0);
    for (int i = 0; i < 3; i++)
        free(b[i]);
    free(r.buf);
    lt_tail_destroy(&t);
    lt_stats_destroy(&s_stats);
}

static void test_boundaries(void)
{
    s_stats = lt_stats_new();
    lt_tail_t *t = lt_tail_new(s_stats, 16, 1 << 20);
    CU_ASSERT_FATAL(t != NULL);
    lt_batch_recs_t r = {0};
    zmq_msg_t m;
    uint8_t h[LT_HASH_BYTES];
    size_t n = 0;
    s_recs(&r, 1, 10, 100);
    lt_tail_key_t k = s_key(1, s_zero);
    CU_ASSERT_FATAL(lt_tail_put(t, &k, &r, 0, 1, s_keys, &m, h) == 0);
    zmq_msg_close(&m);
    /* Another cursor, another stream, another history: not this batch. */
    lt_tail_key_t k2 = s_key(2, s_zero);
    CU_ASSERT_EQUAL(lt_tail_get(t, &k2, 9, 100, s_keys, &m, &n, h), 0);
    lt_tail_key_t ko = k;
    ko.stream_id = 8;
    CU_ASSERT_EQUAL(lt_tail_get(t, &ko, 10, 100, s_keys, &m, &n, h), 0);
    uint8_t other[LT_HISTORY_BYTES];
    memcpy(other, s_hist, sizeof other);
    other[0] ^= 1;
    ko = k;
    ko.history = other;
    CU_ASSERT_EQUAL(lt_tail_get(t, &ko, 10, 100, s_keys, &m, &n, h), 0);
    /* The store would give more (the stream grew) or fewer (less credit):
     * another boundary, not served. */
    CU_ASSERT_EQUAL(lt_tail_get(t, &k, 20, 100, s_keys, &m, &n, h), 0);
    CU_ASSERT_EQUAL(lt_tail_get(t, &k, 5, 5, s_keys, &m, &n, h), 0);
    /* Credit below the batch: never sent, whatever want says. */
    CU_ASSERT_EQUAL(lt_tail_get(t, &k, 10, 9, s_keys, &m, &n, h), 0);
    /* A batch the byte limit cut serves any larger want. */
    s_recs(&r, 11, 4, 100);
    lt_tail_key_t k11 = s_key(11, s_zero);
    CU_ASSERT_FATAL(lt_tail_put(t, &k11, &r, 1, 1, s_keys, &m, h) == 0);
    zmq_msg_close(&m);
    CU_ASSERT_EQUAL(lt_tail_get(t, &k11, 1000, 5000, s_keys, &m, &n, h), 1);
    CU_ASSERT_EQUAL(n, 4);
    zmq_msg_close(&m);
    CU_ASSERT_EQUAL(lt_tail_get(t, &k11, 3, 3, s_keys, &m, &n, h), 0);
    CU_ASSERT_EQUAL(s_counter("lienthong_tail_hits"), 1);
    free(r.buf);
    lt_tail_destroy(&t);
    lt_stats_destroy(&s_stats);
}

static void test_other_chain_signed_again(void)
{
    s_stats = lt_stats_new();
    lt_tail_t *t = lt_tail_new(s_stats, 16, 1 << 20);
    CU_ASSERT_FATAL(t != NULL);
    lt_batch_recs_t r = {0};
    zmq_msg_t m;
    uint8_t h1[LT_HASH_BYTES], h2[LT_HASH_BYTES], h3[LT_HASH_BYTES], hv[LT_HASH_BYTES];
    uint8_t prev_a[LT_HASH_BYTES], prev_b[LT_HASH_BYTES];
    size_t n = 0, l2, l3;
    randombytes_buf(prev_a, sizeof prev_a);
    randombytes_buf(prev_b, sizeof prev_b);
    s_recs(&r, 100, 8, 200);
    lt_tail_key_t ka = s_key(100, prev_a), kb = s_key(100, prev_b);
    CU_ASSERT_FATAL(lt_tail_put(t, &ka, &r, 0, 1, s_keys, &m, h1) == 0);
    zmq_msg_close(&m);
    /* Chain b (e.g. after a snapshot): its own signature, which verifies
     * only on chain b. */
    CU_ASSERT_EQUAL(lt_tail_get(t, &kb, 8, 8, s_keys, &m, &n, h2), 1);
    uint8_t *b2 = s_bytes(&m, &l2);
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    CU_ASSERT_FATAL(zmq_msg_copy(&copy, &m) == 0);
    CU_ASSERT(s_verify(&m, 100, prev_b, 8, lt_keys_signing_public(s_keys), hv) == 0);
    CU_ASSERT(memcmp(hv, h2, LT_HASH_BYTES) == 0);
    CU_ASSERT(memcmp(h1, h2, LT_HASH_BYTES) != 0);
    CU_ASSERT(s_verify(&copy, 100, prev_a, 8, lt_keys_signing_public(s_keys), hv) != 0);
    CU_ASSERT_EQUAL(s_counter("lienthong_tail_resigned"), 1);
    /* Chain b again: now the kept bytes. */
    CU_ASSERT_EQUAL(lt_tail_get(t, &kb, 8, 8, s_keys, &m, &n, h3), 1);
    uint8_t *b3 = s_bytes(&m, &l3);
    zmq_msg_close(&m);
    CU_ASSERT(l2 == l3 && memcmp(b2, b3, l2) == 0 && memcmp(h2, h3, LT_HASH_BYTES) == 0);
    CU_ASSERT_EQUAL(s_counter("lienthong_tail_hits"), 1);
    /* More chains than slots: each still gets a batch that verifies. */
    for (int i = 0; i < LT_TAIL_CHAINS + 2; i++) {
        uint8_t p[LT_HASH_BYTES];
        randombytes_buf(p, sizeof p);
        lt_tail_key_t kp = s_key(100, p);
        CU_ASSERT_EQUAL(lt_tail_get(t, &kp, 8, 8, s_keys, &m, &n, h3), 1);
        CU_ASSERT(s_verify(&m, 100, p, 8, lt_keys_signing_public(s_keys), hv) == 0);
    }
    CU_ASSERT_EQUAL(lt_tail_batches(t), 1);
    free(b2);
    free(b3);
    free(r.buf);
    lt_tail_destroy(&t);
    lt_stats_destroy(&s_stats);
}

static void test_key_promotion(void)
{
    s_stats = lt_stats_new();
    lt_tail_t *t = lt_tail_new(s_stats, 16, 1 << 20);
    lt_keys_t *keys = lt_keys_new(LT_KEYS_MEMBER), *next = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(t && keys && next);
    uint8_t old_pk[LT_KEY_BYTES], hv[LT_HASH_BYTES], h[LT_HASH_BYTES];
    memcpy(old_pk, lt_keys_signing_public(keys), sizeof old_pk);
    lt_batch_recs_t r = {0};
    zmq_msg_t m;
    size_t n;
    s_recs(&r, 1, 3, 50);
    lt_tail_key_t k = s_key(1, s_zero);
    CU_ASSERT_FATAL(lt_tail_put(t, &k, &r, 0, 1, keys, &m, h) == 0);
    zmq_msg_close(&m);
    /* The gateway switches keys in place (PROTOCOL.md 5.5): what the old key
     * signed must not go out any more. */
    CU_ASSERT_FATAL(lt_keys_swap(keys, next) == 0);
    CU_ASSERT_EQUAL(lt_tail_get(t, &k, 3, 3, keys, &m, &n, h), 1);
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    CU_ASSERT_FATAL(zmq_msg_copy(&copy, &m) == 0);
    CU_ASSERT(s_verify(&m, 1, s_zero, 3, lt_keys_signing_public(keys), hv) == 0);
    CU_ASSERT(s_verify(&copy, 1, s_zero, 3, old_pk, hv) != 0);
    CU_ASSERT_EQUAL(s_counter("lienthong_tail_hits"), 0);
    CU_ASSERT_EQUAL(s_counter("lienthong_tail_resigned"), 1);
    free(r.buf);
    lt_keys_destroy(&keys);
    lt_keys_destroy(&next);
    lt_tail_destroy(&t);
    lt_stats_destroy(&s_stats);
}

/* Puts the batch of 4 records of `size` bytes at first; 0 or -1. */
static int s_put(lt_tail_t *t, uint64_t first, size_t size, lt_batch_recs_t *r)
{
    zmq_msg_t m;
    uint8_t h[LT_HASH_BYTES];
    s_recs(r, first, 4, size);
    lt_tail_key_t k = s_key(first, s_zero);
    if (lt_tail_put(t, &k, r, 0, 1, s_keys, &m, h) != 0)
        return -1;
    zmq_msg_close(&m);
    return 0;
}

static int s_has(lt_tail_t *t, uint64_t first)
{
    zmq_msg_t m;
    uint8_t h[LT_HASH_BYTES];
    size_t n;
    lt_tail_key_t k = s_key(first, s_zero);
    int rc = lt_tail_get(t, &k, 4, 4, s_keys, &m, &n, h);
    if (rc == 1)
        zmq_msg_close(&m);
    return rc;
}

static void test_bounds_evict_oldest(void)
{
    s_stats = lt_stats_new();
    lt_tail_t *t = lt_tail_new(s_stats, 3, 1 << 20);
    CU_ASSERT_FATAL(t != NULL);
    lt_batch_recs_t r = {0};
    for (uint64_t f = 1; f <= 5; f++)
        CU_ASSERT(s_put(t, f * 10, 100, &r) == 0);
    /* Three batches kept: the last three. */
    CU_ASSERT_EQUAL(lt_tail_batches(t), 3);
    CU_ASSERT_EQUAL(s_has(t, 10), 0);
    CU_ASSERT_EQUAL(s_has(t, 20), 0);
    CU_ASSERT_EQUAL(s_has(t, 30), 1);
    CU_ASSERT_EQUAL(s_has(t, 50), 1);
    CU_ASSERT_EQUAL(s_counter("lienthong_tail_evicted"), 2);
    /* A bytes bound of about two batches of 1000-byte records. */
    CU_ASSERT_FATAL(lt_tail_limits(t, 100, 2 * (4 * 1000 + 4 * 100 + 4000) + 500) == 0);
    CU_ASSERT_EQUAL(lt_tail_batches(t), 0);
    CU_ASSERT_EQUAL(lt_tail_bytes(t), 0);
    size_t max = 2 * (4 * 1000 + 4 * 100 + 4000) + 500;
    for (uint64_t f = 1; f <= 6; f++) {
        CU_ASSERT(s_put(t, f * 10, 1000, &r) == 0);
        CU_ASSERT(lt_tail_bytes(t) <= max);
    }
    CU_ASSERT(lt_tail_batches(t) >= 1 && lt_tail_batches(t) <= 2);
    CU_ASSERT_EQUAL(s_has(t, 10), 0);
    CU_ASSERT_EQUAL(s_has(t, 60), 1);
    /* A batch larger than the whole bound is sent but not kept. */
    CU_ASSERT(s_put(t, 1000, 4000, &r) == 0);
    CU_ASSERT_EQUAL(s_has(t, 1000), 0);
    CU_ASSERT_EQUAL(s_has(t, 60), 1);
    /* Not to be kept (a lone subscriber): sent, not kept. */
    zmq_msg_t m;
    uint8_t h[LT_HASH_BYTES];
    s_recs(&r, 80, 4, 100);
    lt_tail_key_t k80 = s_key(80, s_zero);
    CU_ASSERT_FATAL(lt_tail_put(t, &k80, &r, 0, 0, s_keys, &m, h) == 0);
    CU_ASSERT(zmq_msg_size(&m) > 400);
    zmq_msg_close(&m);
    CU_ASSERT_EQUAL(s_has(t, 80), 0);
    CU_ASSERT_EQUAL(s_has(t, 60), 1);
    /* Disabled: every put still yields a batch, nothing is kept. */
    CU_ASSERT_FATAL(lt_tail_limits(t, 0, 0) == 0);
    CU_ASSERT(s_put(t, 70, 100, &r) == 0);
    CU_ASSERT_EQUAL(s_has(t, 70), 0);
    CU_ASSERT_EQUAL(lt_tail_batches(t), 0);
    free(r.buf);
    lt_tail_destroy(&t);
    lt_stats_destroy(&s_stats);
}

static void test_invalidation(void)
{
    s_stats = lt_stats_new();
    lt_tail_t *t = lt_tail_new(s_stats, 16, 1 << 20);
    CU_ASSERT_FATAL(t != NULL);
    lt_batch_recs_t r = {0};
    CU_ASSERT(s_put(t, 1, 100, &r) == 0);
    CU_ASSERT(s_put(t, 5, 100, &r) == 0);
    /* Another stream's batch survives a history change of stream 7. */
    zmq_msg_t m;
    uint8_t h[LT_HASH_BYTES];
    size_t n;
    lt_tail_key_t ko = s_key(1, s_zero);
    ko.stream_id = 9;
    CU_ASSERT_FATAL(lt_tail_put(t, &ko, &r, 0, 1, s_keys, &m, h) == 0);
    zmq_msg_close(&m);
    lt_tail_forget(t, 7);
    CU_ASSERT_EQUAL(s_has(t, 1), 0);
    CU_ASSERT_EQUAL(s_has(t, 5), 0);
    CU_ASSERT_EQUAL(lt_tail_get(t, &ko, 4, 4, s_keys, &m, &n, h), 1);
    zmq_msg_close(&m);
    CU_ASSERT_EQUAL(lt_tail_batches(t), 1);
    lt_tail_clear(t);
    CU_ASSERT_EQUAL(lt_tail_batches(t), 0);
    CU_ASSERT_EQUAL(lt_tail_bytes(t), 0);
    CU_ASSERT_EQUAL(lt_tail_get(t, &ko, 4, 4, s_keys, &m, &n, h), 0);
    free(r.buf);
    lt_tail_destroy(&t);
    lt_stats_destroy(&s_stats);
}

/* A lookup looks at the held entries only: one older than entries since
 * forgotten (holes in the ring) is still found, and one older than every
 * other held entry too. */
static void test_found_behind_holes(void)
{
    s_stats = lt_stats_new();
    lt_tail_t *t = lt_tail_new(s_stats, 8, 1 << 20);
    CU_ASSERT_FATAL(t != NULL);
    lt_batch_recs_t r = {0};
    zmq_msg_t m;
    uint8_t h[LT_HASH_BYTES];
    size_t n;
    s_recs(&r, 1, 4, 100);
    lt_tail_key_t ko = s_key(1, s_zero);
    ko.stream_id = 9;
    CU_ASSERT_FATAL(lt_tail_put(t, &ko, &r, 0, 1, s_keys, &m, h) == 0);
    zmq_msg_close(&m);
    CU_ASSERT(s_put(t, 1, 100, &r) == 0);
    CU_ASSERT(s_put(t, 5, 100, &r) == 0);
    CU_ASSERT(s_put(t, 9, 100, &r) == 0);
    CU_ASSERT_EQUAL(lt_tail_batches(t), 4);
    /* The oldest, behind three newer ones. */
    CU_ASSERT_EQUAL(lt_tail_get(t, &ko, 4, 4, s_keys, &m, &n, h), 1);
    zmq_msg_close(&m);
    lt_tail_forget(t, 7);
    CU_ASSERT_EQUAL(lt_tail_batches(t), 1);
    CU_ASSERT_EQUAL(s_has(t, 5), 0);
    /* The same, behind three holes. */
    CU_ASSERT_EQUAL(lt_tail_get(t, &ko, 4, 4, s_keys, &m, &n, h), 1);
    zmq_msg_close(&m);
    CU_ASSERT_EQUAL(n, 4);
    /* New entries fill the ring past the holes; all stay reachable. */
    CU_ASSERT(s_put(t, 13, 100, &r) == 0);
    CU_ASSERT_EQUAL(s_has(t, 13), 1);
    CU_ASSERT_EQUAL(lt_tail_get(t, &ko, 4, 4, s_keys, &m, &n, h), 1);
    zmq_msg_close(&m);
    free(r.buf);
    lt_tail_destroy(&t);
    lt_stats_destroy(&s_stats);
}

int main(void)
{
    if (sodium_init() < 0)
        return 2;
    static const ut_test_t tests[] = {
        {"a batch put once is served again byte for byte", test_hit_same_bytes},
        {"only the same cursor, boundary and credit get a cached batch", test_boundaries},
        {"a batch made from its records' leaves is the one made from the records",
         test_root_from_leaves},
        {"another chain gets the records signed for it", test_other_chain_signed_again},
        {"after a key promotion nothing signed by the old key is served", test_key_promotion},
        {"the batch and byte bounds evict the oldest", test_bounds_evict_oldest},
        {"a history change, clear and new limits forget batches", test_invalidation},
        {"a batch behind newer or forgotten ones is found", test_found_behind_holes},
        {NULL, NULL},
    };
    return ut_main("lt_tail", suite_init, suite_clean, tests);
}

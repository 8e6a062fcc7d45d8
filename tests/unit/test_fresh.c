/* test_fresh: CUnit suite for gateway/lt_fresh, the owner's records
 * committed lately: a read gives exactly what lt_store_read gives for the
 * same stream, seq and budgets (compared on a real store, over many
 * random reads), or nothing when any record it needs is not held; runs of
 * a stream join only when consecutive; the byte and run bounds evict the
 * oldest; a run too large is not kept; forgetting a stream drops its runs
 * and no other's, clearing drops all. */
#include "unit_util.h"

#include "lt_crypto.h"
#include "lt_fresh.h"
#include "lt_store.h"

#include <stdlib.h>
#include <string.h>

#define MAX_REC 300

/* The record of stream at seq: its length and bytes follow from both. */
static size_t s_rec(int64_t stream, uint64_t seq, uint8_t *out)
{
    size_t len = 20 + (size_t)((seq * 37 + (uint64_t)stream * 11) % 200);
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(seq * 7 + i + (uint64_t)stream);
    return len;
}

/* A run of stream holding seqs first..last. */
static lt_fresh_run_t *s_run(int64_t stream, uint64_t first, uint64_t last)
{
    lt_fresh_run_t *r = lt_fresh_run_new(stream, first);
    uint8_t buf[MAX_REC];
    uint8_t leaf[LT_HASH_BYTES];
    for (uint64_t q = first; r && q <= last; q++) {
        size_t len = s_rec(stream, q, buf);
        lt_crypto_merkle_leaf(buf, len, leaf);
        if (lt_fresh_run_add(r, buf, len, leaf) != 0)
            lt_fresh_run_destroy(&r);
    }
    return r;
}

static void s_put(lt_fresh_t *f, int64_t stream, uint64_t first, uint64_t last)
{
    lt_fresh_run_t *r = s_run(stream, first, last);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    lt_fresh_put(f, &r);
    CU_ASSERT_PTR_NULL(r);
}

/* What a read handed out: seqs and a digest of the bytes in order. */
typedef struct {
    uint64_t seqs[64];
    size_t n;
    uint64_t digest;
    int bad; /* a record's bytes were not those of its seq */
    int64_t stream;
} got_t;

/* An lt_store_rec_fn for lt_fresh_read and lt_store_read alike: the leaf
 * handed out must be the record's. */
static int s_on_rec(void *arg, uint64_t seq, const void *rec, size_t len,
                    const uint8_t leaf[LT_HASH_BYTES])
{
    got_t *g = arg;
    uint8_t want_leaf[LT_HASH_BYTES];
    lt_crypto_merkle_leaf(rec, len, want_leaf);
    g->bad |= memcmp(want_leaf, leaf, LT_HASH_BYTES) != 0;
    uint8_t want[MAX_REC];
    size_t wlen = s_rec(g->stream, seq, want);
    g->bad |= wlen != len || memcmp(want, rec, len) != 0;
    if (g->n < 64)
        g->seqs[g->n++] = seq;
    const uint8_t *p = rec;
    for (size_t i = 0; i < len; i++)
        g->digest = g->digest * 131 + p[i];
    return 0;
}

/* An lt_fresh_rec_fn: as s_on_rec, and the leaf must be the record's. */
static int s_read(const lt_fresh_t *f, int64_t stream, uint64_t seq, size_t max_n, size_t max_bytes,
                  got_t *g)
{
    memset(g, 0, sizeof *g);
    g->stream = stream;
    return lt_fresh_read(f, stream, seq, max_n, max_bytes, s_on_rec, g);
}

static void test_reads_and_misses(void)
{
    lt_fresh_t *f = lt_fresh_new(1 << 20, 16);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    got_t g;
    CU_ASSERT_EQUAL(s_read(f, 1, 1, 10, 1 << 20, &g), 0);
    s_put(f, 1, 11, 20);
    s_put(f, 1, 21, 25); /* follows: both kept, read across them */
    CU_ASSERT_EQUAL(s_read(f, 1, 15, 10, 1 << 20, &g), 10);
    CU_ASSERT(g.n == 10 && g.seqs[0] == 15 && g.seqs[9] == 24 && !g.bad);
    /* Past what is held: a miss, and nothing handed out. */
    CU_ASSERT_EQUAL(s_read(f, 1, 20, 10, 1 << 20, &g), 0);
    CU_ASSERT_EQUAL(g.n, 0);
    CU_ASSERT_EQUAL(s_read(f, 1, 10, 2, 1 << 20, &g), 0);
    CU_ASSERT_EQUAL(s_read(f, 2, 15, 1, 1 << 20, &g), 0);
    /* The byte budget cuts as the store does: at least one record. */
    CU_ASSERT_EQUAL(s_read(f, 1, 12, 10, 1, &g), 1);
    uint8_t buf[MAX_REC];
    size_t l12 = s_rec(1, 12, buf), l13 = s_rec(1, 13, buf);
    CU_ASSERT_EQUAL(s_read(f, 1, 12, 10, l12 + l13, &g), 2);
    CU_ASSERT_EQUAL(s_read(f, 1, 12, 10, l12 + l13 - 1, &g), 1);
    /* A cut inside what is held is served even when the runs end early. */
    CU_ASSERT_EQUAL(s_read(f, 1, 24, 10, 1, &g), 1);
    /* A run that does not follow replaces the stream's runs. */
    s_put(f, 1, 40, 41);
    CU_ASSERT_EQUAL(s_read(f, 1, 15, 1, 1 << 20, &g), 0);
    CU_ASSERT_EQUAL(s_read(f, 1, 40, 2, 1 << 20, &g), 2);
    lt_fresh_destroy(&f);
    lt_fresh_destroy(&f); /* idempotent */
}

static void test_bounds_and_forget(void)
{
    uint8_t buf[MAX_REC];
    size_t run_bytes = 0;
    for (uint64_t q = 1; q <= 10; q++)
        run_bytes += s_rec(1, q, buf);
    /* Room for about three runs of stream 1 by bytes, and four runs. */
    lt_fresh_t *f = lt_fresh_new(run_bytes * 3 + run_bytes / 2, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    got_t g;
    for (uint64_t k = 0; k < 5; k++)
        s_put(f, 1, 1 + 10 * k, 10 + 10 * k);
    CU_ASSERT(lt_fresh_bytes(f) <= run_bytes * 3 + run_bytes / 2);
    CU_ASSERT_EQUAL(s_read(f, 1, 1, 1, 1 << 20, &g), 0);    /* evicted */
    CU_ASSERT_EQUAL(s_read(f, 1, 41, 10, 1 << 20, &g), 10); /* newest kept */
    /* The run bound: tiny runs of two streams, oldest out first. */
    lt_fresh_t *t = lt_fresh_new(1 << 20, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    for (uint64_t q = 1; q <= 6; q++)
        s_put(t, q % 2 ? 1 : 2, q, q);
    /* Each stream's runs were not consecutive (1, 3, 5 and 2, 4, 6): only
     * the last of each is left. */
    CU_ASSERT_EQUAL(s_read(t, 1, 5, 1, 1 << 20, &g), 1);
    CU_ASSERT_EQUAL(s_read(t, 2, 6, 1, 1 << 20, &g), 1);
    CU_ASSERT_EQUAL(s_read(t, 1, 3, 1, 1 << 20, &g), 0);
    for (uint64_t q = 7; q <= 10; q++)
        s_put(t, 3, q, q);
    CU_ASSERT_EQUAL(s_read(t, 3, 7, 4, 1 << 20, &g), 4);
    CU_ASSERT_EQUAL(s_read(t, 1, 5, 1, 1 << 20, &g), 0);
    /* Forgetting a stream leaves the others. */
    s_put(t, 4, 1, 3);
    lt_fresh_forget(t, 3);
    CU_ASSERT_EQUAL(s_read(t, 3, 10, 1, 1 << 20, &g), 0);
    CU_ASSERT_EQUAL(s_read(t, 4, 1, 3, 1 << 20, &g), 3);
    lt_fresh_forget(t, 4);
    CU_ASSERT_EQUAL(lt_fresh_bytes(t), 0);
    /* Clearing (after a store rebuild) drops every stream. */
    s_put(t, 5, 1, 2);
    s_put(t, 6, 1, 2);
    lt_fresh_clear(t);
    CU_ASSERT_EQUAL(s_read(t, 5, 1, 1, 1 << 20, &g), 0);
    CU_ASSERT_EQUAL(s_read(t, 6, 1, 1, 1 << 20, &g), 0);
    CU_ASSERT_EQUAL(lt_fresh_bytes(t), 0);
    /* A run larger than the whole budget is not kept; nothing else goes. */
    lt_fresh_t *small = lt_fresh_new(run_bytes / 2, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(small);
    s_put(small, 1, 1, 1);
    s_put(small, 1, 2, 11);
    CU_ASSERT_EQUAL(s_read(small, 1, 1, 1, 1 << 20, &g), 1);
    CU_ASSERT_EQUAL(s_read(small, 1, 2, 1, 1 << 20, &g), 0);
    lt_fresh_t *none = lt_fresh_new(0, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(none);
    s_put(none, 1, 1, 3);
    CU_ASSERT_EQUAL(s_read(none, 1, 1, 1, 1 << 20, &g), 0);
    lt_fresh_destroy(&none);
    lt_fresh_destroy(&small);
    lt_fresh_destroy(&t);
    lt_fresh_destroy(&f);
}

/* Over a real store holding the same records, every read the fresh runs
 * serve gives what lt_store_read gives, record for record. */
static void test_same_as_store(void)
{
    char dir[256], path[300], err[256];
    CU_ASSERT_FATAL(ut_mkdtemp(dir, sizeof dir, "fresh") == 0);
    snprintf(path, sizeof path, "%s/store.db", dir);
    lt_store_t *s = lt_store_open(path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    lt_stream_t st;
    CU_ASSERT_FATAL(lt_store_stream(s, "VN/GOV/BCA/population", &st) == 0);
    lt_fresh_t *f = lt_fresh_new(1 << 20, 64);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    uint8_t buf[MAX_REC];
    uint64_t seq = 0;
    unsigned rnd = 12345;
    CU_ASSERT_FATAL(lt_store_begin(s) == 0);
    for (int group = 0; group < 40; group++) {
        size_t n = 1 + (rnd = rnd * 1103515245 + 12345) % 17;
        lt_fresh_run_t *r = lt_fresh_run_new(st.id, seq + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        for (size_t i = 0; i < n; i++) {
            size_t len = s_rec(st.id, ++seq, buf);
            uint8_t leaf[LT_HASH_BYTES];
            lt_crypto_merkle_leaf(buf, len, leaf);
            CU_ASSERT_FATAL(lt_store_append_leaf(s, st.id, seq, buf, len, leaf) == 0);
            CU_ASSERT_FATAL(lt_fresh_run_add(r, buf, len, leaf) == 0);
        }
        lt_fresh_put(f, &r);
    }
    CU_ASSERT_FATAL(lt_store_commit(s) == 0);
    int served = 0;
    for (int i = 0; i < 2000; i++) {
        uint64_t from = 1 + (rnd = rnd * 1103515245 + 12345) % seq;
        size_t max_n = 1 + (rnd = rnd * 1103515245 + 12345) % 40;
        if (from + max_n - 1 > seq)
            max_n = (size_t)(seq - from + 1); /* as lt_feed_chunk_want caps it */
        size_t max_bytes = 1 + (rnd = rnd * 1103515245 + 12345) % 4000;
        got_t a, b;
        int n = s_read(f, st.id, from, max_n, max_bytes, &a);
        memset(&b, 0, sizeof b);
        b.stream = st.id;
        int m = lt_store_read(s, st.id, from, max_n, max_bytes, s_on_rec, &b);
        CU_ASSERT(m > 0 && !a.bad && !b.bad);
        if (n == 0)
            continue;
        served++;
        CU_ASSERT_EQUAL(n, m);
        CU_ASSERT(a.n == b.n && a.digest == b.digest &&
                  memcmp(a.seqs, b.seqs, a.n * sizeof a.seqs[0]) == 0);
    }
    /* Everything was held (64 runs of 40 groups): every read was served. */
    CU_ASSERT_EQUAL(served, 2000);
    lt_fresh_destroy(&f);
    lt_store_destroy(&s);
    ut_rmrf(dir);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"reads give held records in order, cut by bytes; a gap is a miss", test_reads_and_misses},
        {"byte and run bounds evict the oldest; forget drops one stream, clear all",
         test_bounds_and_forget},
        {"a served read equals lt_store_read's, record for record", test_same_as_store},
        {NULL, NULL},
    };
    return ut_main("lt_fresh", NULL, NULL, tests);
}

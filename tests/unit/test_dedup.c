/* test_dedup: CUnit suite for gateway/lt_dedup, the owner's index of
 * answered requests by (caller, request id): an entry is found by its own
 * key only (same id from another member, or another id, is a miss); an add
 * takes the miss of the find before it, and refuses one of a hit, of
 * another index, used already or made stale by an add or remove; the
 * index agrees with a plain model over 400,000 random adds, removes and
 * finds while it grows from 64 slots to 262,144 and entries leave from the
 * middle of probe runs; and a miss, the common case, reads no entry. */
#include "unit_util.h"

#include "lt_dedup.h"
#include "lt_limits.h"

#include <sodium.h>

typedef struct {
    char member[LT_ID_MAX];
    uint64_t id;
} entry_t;

static long s_same_calls;

static int s_same(const void *e, const char *member, uint64_t id)
{
    const entry_t *x = e;
    s_same_calls++;
    return x->id == id && strcmp(x->member, member) == 0;
}

/* The caller's path: a find that misses, then the add of its miss. 0, -1
 * or -2 as lt_dedup_add, or 1 when the find did not miss. */
static int s_add(lt_dedup_t *d, entry_t *e)
{
    lt_dedup_miss_t miss;
    if (lt_dedup_find(d, e->member, e->id, &miss) != NULL)
        return 1;
    return lt_dedup_add(d, &miss, e);
}

static void test_keys(void)
{
    lt_dedup_t *d = lt_dedup_new(s_same);
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    entry_t a = {"VN/GOV/M01", 7}, b = {"VN/GOV/M02", 7}, c = {"VN/GOV/M01", 8};
    CU_ASSERT_PTR_NULL(lt_dedup_find(d, a.member, a.id, NULL));
    CU_ASSERT_EQUAL(s_add(d, &a), 0);
    CU_ASSERT_PTR_EQUAL(lt_dedup_find(d, "VN/GOV/M01", 7, NULL), &a);
    CU_ASSERT_PTR_NULL(lt_dedup_find(d, b.member, b.id, NULL)); /* same id, another caller */
    CU_ASSERT_PTR_NULL(lt_dedup_find(d, c.member, c.id, NULL)); /* same caller, another id */
    CU_ASSERT_EQUAL(s_add(d, &b), 0);
    CU_ASSERT_EQUAL(s_add(d, &c), 0);
    CU_ASSERT_EQUAL(lt_dedup_count(d), 3);
    CU_ASSERT_PTR_EQUAL(lt_dedup_find(d, b.member, b.id, NULL), &b);
    CU_ASSERT_EQUAL(lt_dedup_remove(d, a.member, a.id), 0);
    CU_ASSERT_EQUAL(lt_dedup_remove(d, a.member, a.id), -1);
    CU_ASSERT_PTR_NULL(lt_dedup_find(d, a.member, a.id, NULL));
    CU_ASSERT_PTR_EQUAL(lt_dedup_find(d, c.member, c.id, NULL), &c);
    CU_ASSERT_EQUAL(lt_dedup_count(d), 2);
    lt_dedup_destroy(&d);
    lt_dedup_destroy(&d); /* idempotent */
    CU_ASSERT_PTR_NULL(d);
}

/* An add takes the miss of the find before it, with only finds between;
 * any other miss is refused and changes nothing. */
static void test_add_takes_a_fresh_miss(void)
{
    lt_dedup_t *d = lt_dedup_new(s_same), *other = lt_dedup_new(s_same);
    CU_ASSERT_FATAL(d && other);
    entry_t a = {"VN/GOV/M01", 7}, b = {"VN/GOV/M02", 7}, c = {"VN/GOV/M01", 8};
    lt_dedup_miss_t ma, mb, mc, zero = {0};
    CU_ASSERT_PTR_NULL(lt_dedup_find(d, a.member, a.id, &ma));
    CU_ASSERT_PTR_NULL(lt_dedup_find(d, b.member, b.id, &mb));
    CU_ASSERT_PTR_NULL(lt_dedup_find(other, c.member, c.id, &mc));
    CU_ASSERT_EQUAL(lt_dedup_add(d, &zero, &a), -2); /* never filled */
    CU_ASSERT_EQUAL(lt_dedup_add(d, &mc, &c), -2);   /* another index's */
    CU_ASSERT_EQUAL(lt_dedup_add(d, &ma, NULL), -2); /* no entry */
    CU_ASSERT_EQUAL(lt_dedup_add(d, &ma, &a), 0);    /* finds between are fine */
    CU_ASSERT_EQUAL(lt_dedup_add(d, &ma, &a), -2);   /* used */
    CU_ASSERT_EQUAL(lt_dedup_add(d, &mb, &b), -2);   /* stale: an add came between */
    CU_ASSERT_EQUAL(lt_dedup_count(d), 1);
    CU_ASSERT_PTR_EQUAL(lt_dedup_find(d, a.member, a.id, &ma), &a);
    CU_ASSERT_EQUAL(lt_dedup_add(d, &ma, &a), -2); /* a hit's */
    CU_ASSERT_PTR_NULL(lt_dedup_find(d, b.member, b.id, &mb));
    CU_ASSERT_EQUAL(lt_dedup_remove(d, a.member, a.id), 0);
    CU_ASSERT_EQUAL(lt_dedup_add(d, &mb, &b), -2); /* stale: a remove came between */
    CU_ASSERT_PTR_NULL(lt_dedup_find(d, b.member, b.id, &mb));
    CU_ASSERT_EQUAL(lt_dedup_remove(d, a.member, a.id), -1); /* changes nothing */
    CU_ASSERT_EQUAL(lt_dedup_add(d, &mb, &b), 0);
    CU_ASSERT_EQUAL(lt_dedup_count(d), 1);
    CU_ASSERT_PTR_EQUAL(lt_dedup_find(d, b.member, b.id, NULL), &b);
    CU_ASSERT_EQUAL(s_add(d, &b), 1);
    lt_dedup_destroy(&d);
    lt_dedup_destroy(&other);
}

#define POOL    200000
#define MEMBERS 3

/* Random adds, removes and finds against a model (in[] says which keys are
 * in the index). Keys are (member k % MEMBERS, id k / MEMBERS), so ids
 * repeat across members. */
static void test_against_model(void)
{
    static const char *members[MEMBERS] = {"VN/GOV/M01", "VN/GOV/M02", "VN/COM/VIETTEL"};
    entry_t *e = calloc(POOL, sizeof *e);
    uint8_t *in = calloc(POOL, 1);
    lt_dedup_t *d = lt_dedup_new(s_same);
    CU_ASSERT_FATAL(e && in && d);
    for (size_t k = 0; k < POOL; k++) {
        snprintf(e[k].member, sizeof e[k].member, "%s", members[k % MEMBERS]);
        e[k].id = 1 + k / MEMBERS;
    }
    size_t count = 0, bad = 0, peak = 0;
    uint32_t rnd = 12345;
    for (long step = 0; step < 400000; step++) {
        rnd = rnd * 1103515245 + 12345;
        /* Mostly adds at first, so the index grows; then mostly removes. */
        size_t k = (rnd >> 8) % POOL;
        int op = (int)((rnd >> 3) % 4), grow = step < 200000;
        if (!in[k] && (grow ? op != 3 : op == 0)) {
            bad += s_add(d, &e[k]) != 0;
            in[k] = 1;
            count++;
        } else if (op == 2 || (!grow && op != 3)) {
            bad += lt_dedup_remove(d, e[k].member, e[k].id) != (in[k] ? 0 : -1);
            count -= in[k];
            in[k] = 0;
        } else {
            bad += lt_dedup_find(d, e[k].member, e[k].id, NULL) != (in[k] ? &e[k] : NULL);
        }
        peak = count > peak ? count : peak;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_EQUAL(lt_dedup_count(d), count);
    CU_ASSERT(peak > 65536); /* grown past 131,072 slots */
    for (size_t k = 0; k < POOL; k++)
        bad += lt_dedup_find(d, e[k].member, e[k].id, NULL) != (in[k] ? &e[k] : NULL);
    CU_ASSERT_EQUAL(bad, 0);
    lt_dedup_destroy(&d);
    free(in);
    free(e);
}

/* A search for a key not in the index calls `same` only on a 64-bit hash
 * collision: in 100,000 misses on 100,000 entries, next to never. */
static void test_miss_reads_no_entry(void)
{
    enum { N = 100000 };
    entry_t *e = calloc(N, sizeof *e);
    lt_dedup_t *d = lt_dedup_new(s_same);
    CU_ASSERT_FATAL(e && d);
    for (size_t k = 0; k < N; k++) {
        snprintf(e[k].member, sizeof e[k].member, "VN/PROV/%02zu", k % 63);
        e[k].id = k;
        CU_ASSERT_FATAL(s_add(d, &e[k]) == 0);
    }
    s_same_calls = 0;
    size_t found = 0;
    for (uint64_t id = N; id < 2 * N; id++)
        found += lt_dedup_find(d, "VN/PROV/01", id, NULL) != NULL;
    CU_ASSERT_EQUAL(found, 0);
    CU_ASSERT(s_same_calls <= 1);
    s_same_calls = 0;
    for (size_t k = 0; k < N; k++)
        found += lt_dedup_find(d, e[k].member, e[k].id, NULL) == &e[k];
    CU_ASSERT_EQUAL(found, N);
    CU_ASSERT(s_same_calls >= N && s_same_calls <= N + 1);
    lt_dedup_destroy(&d);
    free(e);
}

static int s_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"an entry is found by its own caller and id only", test_keys},
        {"an add takes the miss of the find just before it", test_add_takes_a_fresh_miss},
        {"adds, removes and finds agree with a model while the index grows", test_against_model},
        {"a miss reads no entry", test_miss_reads_no_entry},
        {NULL, NULL},
    };
    return ut_main("lt_dedup", s_init, NULL, tests);
}

/* test_bucket: CUnit suite for core/lt_bucket, the token bucket of the
 * gateway's limiters, by known answers on a clock the suite sets: a full
 * burst then a refusal, one token after exactly one interval, nothing
 * for part of one (the part kept for the next), a long idle filling it
 * to its burst and no more, a clock that goes back earning nothing, and
 * clock values at the ends of the int64 range. */
#include "unit_util.h" /* first: it sets the feature macros */

#include "lt_bucket.h"

#define BURST 3
#define EVERY 100 /* ms */
#define T0    1000000LL

/* How many takes of b succeed at now_ms, trying n. */
static int s_takes(lt_bucket_t *b, int64_t now_ms, int n)
{
    int ok = 0;
    for (int i = 0; i < n; i++)
        ok += lt_bucket_take(b, now_ms);
    return ok;
}

/* A bucket emptied at T0: its first take found it full. */
static lt_bucket_t s_empty(void)
{
    lt_bucket_t b;
    lt_bucket_init(&b, BURST, EVERY);
    CU_ASSERT_EQUAL(s_takes(&b, T0, BURST), BURST);
    return b;
}

static void test_burst_then_refused(void)
{
    lt_bucket_t b;
    lt_bucket_init(&b, BURST, EVERY);
    for (int i = 0; i < BURST; i++)
        CU_ASSERT_EQUAL(lt_bucket_take(&b, T0), 1);
    CU_ASSERT_EQUAL(lt_bucket_take(&b, T0), 0);
    CU_ASSERT_EQUAL(lt_bucket_take(&b, T0), 0); /* a refusal spends nothing, earns nothing */
    lt_bucket_t one;
    lt_bucket_init(&one, 1, EVERY);
    CU_ASSERT_EQUAL(s_takes(&one, 0, 5), 1);
}

static void test_refill_after_one_interval(void)
{
    lt_bucket_t b = s_empty();
    CU_ASSERT_EQUAL(lt_bucket_take(&b, T0 + EVERY), 1);
    CU_ASSERT_EQUAL(lt_bucket_take(&b, T0 + EVERY), 0);
    CU_ASSERT_EQUAL(s_takes(&b, T0 + 3 * EVERY, BURST), 2); /* two more intervals, two more */
}

static void test_partial_interval_earns_nothing(void)
{
    lt_bucket_t b = s_empty();
    CU_ASSERT_EQUAL(lt_bucket_take(&b, T0 + EVERY - 1), 0);
    CU_ASSERT_EQUAL(lt_bucket_take(&b, T0 + 1), 0);
    /* One and a half intervals: one token, and the half waited is kept. */
    CU_ASSERT_EQUAL(s_takes(&b, T0 + EVERY + EVERY / 2, BURST), 1);
    CU_ASSERT_EQUAL(lt_bucket_take(&b, T0 + 2 * EVERY - 1), 0);
    CU_ASSERT_EQUAL(lt_bucket_take(&b, T0 + 2 * EVERY), 1);
}

static void test_long_idle_caps_at_burst(void)
{
    lt_bucket_t b = s_empty();
    int64_t later = T0 + 1000000LL * EVERY;
    CU_ASSERT_EQUAL(s_takes(&b, later, 2 * BURST), BURST);
    /* Full while idle, it earned nothing more: the next needs a whole interval. */
    CU_ASSERT_EQUAL(lt_bucket_take(&b, later + EVERY - 1), 0);
    CU_ASSERT_EQUAL(lt_bucket_take(&b, later + EVERY), 1);
    /* A full bucket left idle, then used, earns from its first take on. */
    lt_bucket_t f;
    lt_bucket_init(&f, BURST, EVERY);
    CU_ASSERT_EQUAL(lt_bucket_take(&f, T0), 1);
    CU_ASSERT_EQUAL(lt_bucket_take(&f, T0 + 50 * EVERY), 1); /* full again, at T0 + 50 EVERY */
    CU_ASSERT_EQUAL(s_takes(&f, T0 + 51 * EVERY - 1, 2 * BURST), BURST - 1);
}

static void test_clock_back_earns_nothing(void)
{
    lt_bucket_t b = s_empty();
    int64_t back = T0 - 1000 * EVERY;
    CU_ASSERT_EQUAL(lt_bucket_take(&b, back), 0);
    /* The wait counts from where it went back to, not from T0. */
    CU_ASSERT_EQUAL(lt_bucket_take(&b, back + EVERY - 1), 0);
    CU_ASSERT_EQUAL(lt_bucket_take(&b, T0 - 1), 1); /* 999 intervals: full, one spent */
    CU_ASSERT_EQUAL(s_takes(&b, T0 - 1, BURST), BURST - 1);
    /* Tokens held are kept across a step back. */
    lt_bucket_t k;
    lt_bucket_init(&k, BURST, EVERY);
    CU_ASSERT_EQUAL(lt_bucket_take(&k, T0), 1);
    CU_ASSERT_EQUAL(s_takes(&k, T0 - 5 * EVERY, 2 * BURST), BURST - 1);
    CU_ASSERT_EQUAL(lt_bucket_take(&k, T0 - 4 * EVERY), 1);
}

/* A clock anywhere in int64 fills it at most, without overflow (the
 * suite runs under UBSan in the sanitizer builds). */
static void test_clock_extremes(void)
{
    lt_bucket_t b;
    lt_bucket_init(&b, BURST, EVERY);
    CU_ASSERT_EQUAL(s_takes(&b, INT64_MIN, 2 * BURST), BURST);
    CU_ASSERT_EQUAL(s_takes(&b, INT64_MAX, 2 * BURST), BURST);
    CU_ASSERT_EQUAL(s_takes(&b, INT64_MIN, 2 * BURST), 0);
    lt_bucket_t w;
    lt_bucket_init(&w, 1, INT64_MAX);
    CU_ASSERT_EQUAL(s_takes(&w, -1, 2), 1);
    CU_ASSERT_EQUAL(lt_bucket_take(&w, INT64_MAX - 2), 0); /* INT64_MAX - 1 ms since -1 */
    CU_ASSERT_EQUAL(lt_bucket_take(&w, INT64_MAX - 1), 1);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a full burst, then refusals", test_burst_then_refused},
        {"one token after exactly one interval", test_refill_after_one_interval},
        {"part of an interval earns nothing", test_partial_interval_earns_nothing},
        {"a long idle fills it to its burst", test_long_idle_caps_at_burst},
        {"a clock that goes back earns nothing", test_clock_back_earns_nothing},
        {"clock values at the ends of int64", test_clock_extremes},
        {NULL, NULL},
    };
    return ut_main("lt_bucket", NULL, NULL, tests);
}

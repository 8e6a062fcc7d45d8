/* test_vmiss: CUnit suite for gateway/lt_vmiss, the owner's budget of
 * verify no-matches (PROTOCOL.md 7.6): the no-match past the budget on one
 * (key, field) is refused, and every claim on the pair after it, a match
 * too, until the window after its own ends; a match does not count;
 * another caller, another field, another key are unaffected; a pair's
 * count survives floods of the caller's claims on other pairs; a caller
 * with many pairs below their budget is not refused; one whose guesses
 * fill its counters is refused on new pairs, no other caller is. */
#include "unit_util.h"

#include "lt_limits.h"
#include "lt_log.h"
#include "lt_vmiss.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

static int64_t s_now;

/* calloc is wrapped (CMakeLists.txt) to fail the sketches of one size: a
 * caller's sketch is made only on its first no-match. */
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
static size_t g_fail_n;

void *__wrap_calloc(size_t n, size_t size)
{
    return g_fail_n && n == g_fail_n ? NULL : __real_calloc(n, size);
}

static int64_t s_clock(void *arg)
{
    (void)arg;
    return s_now;
}

static int suite_init(void)
{
    lt_log_set_level(LT_LOG_ERROR); /* the warnings only where a test captures them */
    return sodium_init() < 0 ? -1 : 0;
}

static int suite_clean(void)
{
    return 0;
}

#define WINDOW 1000

/* Counters of one window: width x depth / 2 bytes; a sketch holds two. */
static lt_vmiss_t *s_new(size_t width, size_t depth)
{
    lt_vmiss_limits_t lim = {.width = width, .depth = depth, .max = 8, .window_ms = WINDOW};
    lt_vmiss_t *v = lt_vmiss_new(&lim);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    lt_vmiss_set_clock(v, s_clock, NULL);
    return v;
}

static void test_ninth_no_match_refused(void)
{
    lt_vmiss_t *v = s_new(1024, 3);
    s_now = 5 * WINDOW + 500;
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 1), 1); /* not counted */
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 0), 1);
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 0), 0);
    /* A match now would tell the value as well as a no-match did. */
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 1), 0);
    CU_ASSERT_EQUAL(lt_vmiss_refused(v), 2);
    /* Another caller, field, key: their own budgets. */
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/B", "001", "date_of_birth", 0), 1);
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "full_name", 0), 1);
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "002", "date_of_birth", 0), 1);
    /* ("00", "1date...") is not ("001", "date..."). */
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "00", "1date_of_birth", 0), 1);
    /* The no-matches of a window still count in the next one: any window's
     * span of the clock holds at most 8 answered. */
    s_now = 7 * WINDOW - 1;
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 1), 0);
    s_now = 7 * WINDOW;
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 1), 1);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 0), 1);
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 0), 0);
    lt_vmiss_destroy(&v);
    lt_vmiss_destroy(&v);
}

/* A caller whose guesses fill its counters (a sketch of 4 x 2) is refused
 * on every pair, a match too; another caller is not; two windows on, its
 * counters are empty again. */
static void test_full_sketch_hurts_its_caller_only(void)
{
    lt_vmiss_t *v = s_new(4, 2);
    s_now = 100;
    char key[16];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "%03d", i);
        (void)lt_vmiss_claim(v, "VN/A", key, "full_name", 0);
    }
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "999", "full_name", 0), 0);
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "999", "full_name", 1), 0);
    /* Another caller has its sketch. */
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/B", "999", "full_name", 0), 1);
    s_now = 2 * WINDOW;
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "999", "full_name", 0), 1);
    lt_vmiss_destroy(&v);
}

/* The displacement attack (PROTOCOL.md 7.6): a caller guesses at one
 * (key, field), and between guesses makes a no-match on each of thousands
 * of other pairs it knows (its own subscribers), so that a table keeping
 * a bounded number of pairs gives up its target's count (the oldest of
 * the least spent) and it starts again from zero. Before, with the table
 * of 4096 pairs, each of the 24 guesses was answered CLAIM_NO_MATCH; now 8
 * are, the rest refused, and the flood's own claims are all answered. */
static void test_flood_keeps_the_count(void)
{
    lt_vmiss_t *v = lt_vmiss_new(NULL); /* lt_limits.h's */
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    lt_vmiss_set_clock(v, s_clock, NULL);
    s_now = 100;
    static const char *fields[] = {"full_name", "date_of_birth", "sex"};
    char key[32];
    int answered = 0, flood_refused = 0;
    for (int round = 0; round < 24; round++) {
        answered += lt_vmiss_claim(v, "VN/A", "K2", "date_of_birth", 0) == 1;
        for (int i = 0; i < 2000; i++) {
            snprintf(key, sizeof key, "sub%02d-%05d", round, i);
            for (int f = 0; f < 3; f++, s_now++) /* 144 s in all, well within the window */
                flood_refused += lt_vmiss_claim(v, "VN/A", key, fields[f], 0) != 1;
        }
    }
    CU_ASSERT_EQUAL(answered, 8);
    CU_ASSERT_EQUAL(flood_refused, 0);
    /* The right value is refused too: a match would tell it. */
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "K2", "date_of_birth", 1), 0);
    lt_vmiss_destroy(&v);
}

/* A caller verifying many subscribers, 100,000 of them not matching in
 * each of two windows (the sketch's bound, lt_vmiss.h), is refused none:
 * the chance of one false refusal here is about 1e-6. */
static void test_busy_caller_not_refused(void)
{
    lt_vmiss_t *v = lt_vmiss_new(NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    lt_vmiss_set_clock(v, s_clock, NULL);
    char key[32];
    int refused = 0;
    for (int w = 0; w < 2; w++) {
        s_now = (int64_t)w * LT_VERIFY_MISS_WINDOW_S * 1000;
        for (int i = 0; i < 100000; i++) {
            snprintf(key, sizeof key, "%d-%06d", w, i);
            refused += lt_vmiss_claim(v, "VN/A", key, "full_name", 0) != 1;
        }
    }
    CU_ASSERT_EQUAL(refused, 0);
    CU_ASSERT_EQUAL(lt_vmiss_refused(v), 0);
    lt_vmiss_destroy(&v);
}

/* A caller's matches make no sketch (384 KiB each by default): with no
 * sketch to be had, they are still answered, and its first no-match is
 * not (out of memory), nor answered as a refusal. */
static void test_match_makes_no_sketch(void)
{
    lt_vmiss_t *v = s_new(64, 3);
    CU_ASSERT_FATAL(v != NULL);
    g_fail_n = 2 * 64 * 3 / 2; /* two windows of 4-bit counters */
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "full_name", 1), 1);
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "full_name", 0), -1);
    CU_ASSERT_EQUAL(lt_vmiss_refused(v), 0);
    g_fail_n = 0;
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "full_name", 0), 1);
    lt_vmiss_destroy(&v);
}

static void test_odd_limits(void)
{
    lt_vmiss_t *v = NULL;
    static const lt_vmiss_limits_t odd[] = {
        {.width = 6, .depth = 3, .max = 8, .window_ms = WINDOW},
        {.width = 1, .depth = 3, .max = 8, .window_ms = WINDOW},
        {.width = 64, .depth = 0, .max = 8, .window_ms = WINDOW},
        {.width = 1 << 17, .depth = 4, .max = 8, .window_ms = WINDOW}, /* 68 bits of hash */
        {.width = 64, .depth = 3, .max = 16, .window_ms = WINDOW},     /* past a 4-bit counter */
        {.width = 64, .depth = 3, .max = 0, .window_ms = WINDOW},
        {.width = 64, .depth = 3, .max = 8, .window_ms = 0},
    };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++)
        CU_ASSERT_PTR_NULL(lt_vmiss_new(&odd[i]));
    CU_ASSERT_PTR_NOT_NULL(v = lt_vmiss_new(NULL)); /* lt_limits.h's */
    lt_vmiss_destroy(&v);
}

/* A caller's refusals are logged once per window, each caller apart
 * (docs/operations.md, "Guessing by verify"): a flood adds a line an hour. */
static void test_logged_once_per_window(void)
{
    char dir[256], path[300];
    CU_ASSERT_FATAL(ut_mkdtemp(dir, sizeof dir, "vmiss") == 0);
    snprintf(path, sizeof path, "%s/log", dir);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    lt_log_set_level(LT_LOG_WARN);
    lt_vmiss_t *v = s_new(64, 3);
    s_now = 100;
    for (int i = 0; i < 20; i++) /* 8 answered, 12 refused */
        (void)lt_vmiss_claim(v, "VN/A", "001", "full_name", 0);
    for (int i = 0; i < 9; i++)
        (void)lt_vmiss_claim(v, "VN/B", "001", "full_name", 0);
    s_now = 2 * WINDOW; /* two windows on: A's pair is free again */
    for (int i = 0; i < 10; i++)
        (void)lt_vmiss_claim(v, "VN/A", "001", "full_name", 0);
    CU_ASSERT_EQUAL(lt_vmiss_refused(v), 12 + 1 + 2);
    lt_vmiss_destroy(&v);
    lt_log_set_level(LT_LOG_ERROR);
    static char out[8192];
    ut_captured(saved, path, out, sizeof out);
    close(saved);
    unlink(path);
    rmdir(dir);
    CU_ASSERT_EQUAL(ut_lines(out, "VN/A spent its budget"), 2);
    CU_ASSERT_EQUAL(ut_lines(out, "VN/B spent its budget"), 1);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"the ninth no-match on a pair is refused, and all after it till the next window ends",
         test_ninth_no_match_refused},
        {"a caller's sketch filled by its guesses refuses its new pairs, no other caller's",
         test_full_sketch_hurts_its_caller_only},
        {"a flood of no-matches on other pairs does not reset a pair's count",
         test_flood_keeps_the_count},
        {"a caller with 100,000 no-matches a window on distinct pairs is not refused",
         test_busy_caller_not_refused},
        {"a caller's matches make no sketch", test_match_makes_no_sketch},
        {"limits out of range refused", test_odd_limits},
        {"a caller's refusals are logged once per window", test_logged_once_per_window},
        {NULL, NULL},
    };
    return ut_main("lt_vmiss", suite_init, suite_clean, tests);
}

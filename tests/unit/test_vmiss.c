/* test_vmiss: CUnit suite for gateway/lt_vmiss, the owner's budget of
 * verify no-matches (PROTOCOL.md 7.6): the no-match past the budget on one
 * (key, field) is refused, and every claim on the pair after it, a match
 * too, until the window ends; a match does not count; another caller,
 * another field, another key are unaffected; a caller whose table is full
 * of spent pairs is refused on new pairs, no other caller is; a table full
 * of pairs below their budget takes over the least spent; a window's end
 * frees both. */
#include "unit_util.h"

#include "lt_log.h"
#include "lt_vmiss.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

static int64_t s_now;

/* calloc is wrapped (CMakeLists.txt) to fail the tables of one size: a
 * caller's table is made only on its first no-match. */
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

static lt_vmiss_t *s_new(size_t keys)
{
    lt_vmiss_limits_t lim = {.keys = keys, .probe = keys, .max = 8, .window_ms = WINDOW};
    lt_vmiss_t *v = lt_vmiss_new(&lim);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    lt_vmiss_set_clock(v, s_clock, NULL);
    return v;
}

static void test_ninth_no_match_refused(void)
{
    lt_vmiss_t *v = s_new(64);
    s_now = 5000;
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
    /* The window runs from the first no-match. */
    s_now = 5000 + WINDOW - 1;
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 1), 0);
    s_now = 5000 + WINDOW;
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 1), 1);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 0), 1);
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "001", "date_of_birth", 0), 0);
    lt_vmiss_destroy(&v);
    lt_vmiss_destroy(&v);
}

/* n no-matches of caller on (key, field), each expected answered. */
static void s_misses(lt_vmiss_t *v, const char *caller, const char *key, int n)
{
    for (int i = 0; i < n; i++)
        CU_ASSERT_EQUAL(lt_vmiss_claim(v, caller, key, "full_name", 0), 1);
}

static void test_full_table_hurts_its_caller_only(void)
{
    lt_vmiss_t *v = s_new(8);
    s_now = 100;
    char key[16];
    /* A table full of spent pairs: no room for a ninth, refused, a match
     * too. */
    for (int i = 0; i < 8; i++) {
        snprintf(key, sizeof key, "%03d", i);
        s_misses(v, "VN/A", key, 8);
    }
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "999", "full_name", 0), 0);
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "999", "full_name", 1), 0);
    /* Another caller has its table. */
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/B", "999", "full_name", 0), 1);
    s_now = 100 + WINDOW; /* every entry's window ended: free again */
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "999", "full_name", 0), 1);
    lt_vmiss_destroy(&v);
}

/* A table full of pairs below their budget takes a new pair over the one
 * with the fewest no-matches: a caller verifying many records with a few
 * mismatches each is never refused for room, and the pairs nearest their
 * budget keep their counts. */
static void test_full_table_takes_over_the_least_spent(void)
{
    lt_vmiss_t *v = s_new(8);
    s_now = 100;
    char key[16];
    for (int i = 0; i < 7; i++) {
        snprintf(key, sizeof key, "%03d", i);
        s_misses(v, "VN/A", key, 7);
    }
    s_misses(v, "VN/A", "007", 1);
    /* The ninth pair takes over 007's slot, match or not. */
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "999", "full_name", 1), 1);
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "999", "full_name", 0), 1);
    /* 000 kept its seven: one more no-match, then refused. */
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "000", "full_name", 0), 1);
    CU_ASSERT_EQUAL(lt_vmiss_claim(v, "VN/A", "000", "full_name", 0), 0);
    lt_vmiss_destroy(&v);
}

/* A caller's matches make no table (96 KiB each by default): with no
 * table to be had, they are still answered, and its first no-match is
 * not (out of memory), nor answered as a refusal. */
static void test_match_makes_no_table(void)
{
    lt_vmiss_t *v = s_new(64);
    CU_ASSERT_FATAL(v != NULL);
    g_fail_n = 64;
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
    lt_vmiss_limits_t odd = {.keys = 6, .probe = 6, .max = 8, .window_ms = WINDOW};
    CU_ASSERT_PTR_NULL(lt_vmiss_new(&odd));
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
    lt_vmiss_t *v = s_new(64);
    s_now = 100;
    for (int i = 0; i < 20; i++) /* 8 answered, 12 refused */
        (void)lt_vmiss_claim(v, "VN/A", "001", "full_name", 0);
    for (int i = 0; i < 9; i++)
        (void)lt_vmiss_claim(v, "VN/B", "001", "full_name", 0);
    s_now = 100 + WINDOW; /* A's next window: its pair is free again */
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
        {"the ninth no-match on a (key, field) is refused, and all after it in the window",
         test_ninth_no_match_refused},
        {"a caller's table full of spent pairs refuses its new pairs, no other caller's",
         test_full_table_hurts_its_caller_only},
        {"a table full of pairs below their budget takes over the least spent",
         test_full_table_takes_over_the_least_spent},
        {"a caller's matches make no table", test_match_makes_no_table},
        {"limits that are not a power of two refused", test_odd_limits},
        {"a caller's refusals are logged once per window", test_logged_once_per_window},
        {NULL, NULL},
    };
    return ut_main("lt_vmiss", suite_init, suite_clean, tests);
}

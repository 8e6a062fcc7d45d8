/* test_peererr: CUnit suite for gateway/lt_peererr, the Errors other
 * members send: each counted by member and code in
 * lienthong_peer_errors_received, the first of a pair logged at once with
 * its text, the rest once per interval as one line with their count and
 * the last text, so a flood of Errors writes a bounded number of lines;
 * without an object (tests, fuzz targets) each is logged. Log lines are
 * captured by pointing stderr at a temporary file; the clock is the
 * test's own. */
#include "unit_util.h" /* first: it sets the feature macros */

#include "lt_log.h"
#include "lt_peererr.h"

#include <string.h>
#include <unistd.h>

static char s_dir[256], s_err[300];
static int s_saved = -1; /* stderr while captured */
static int64_t s_now;
static lt_stats_t *s_stats;

static int64_t s_clock(void *arg)
{
    (void)arg;
    return s_now;
}

static int suite_init(void)
{
    if (ut_mkdtemp(s_dir, sizeof s_dir, "peererr") != 0)
        return -1;
    snprintf(s_err, sizeof s_err, "%s/stderr", s_dir);
    return 0;
}

static int suite_clean(void)
{
    return ut_rmrf(s_dir);
}

/* Ends the capture into out[cap]. */
static void s_captured(char *out, size_t cap)
{
    ut_captured(s_saved, s_err, out, cap);
    close(s_saved);
    s_saved = -1;
}

/* A fresh registry and capture of stderr; a 10 s interval on the test's clock. */
static lt_peererr_t *s_start(void)
{
    s_saved = ut_capture(s_err);
    s_now = 1000000;
    s_stats = lt_stats_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s_stats);
    lt_peererr_t *p = lt_peererr_new(s_stats, 10000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    lt_peererr_set_clock(p, s_clock, NULL);
    return p;
}

/* The counter of the series whose label values are member and code. */
typedef struct {
    const char *member, *code;
    uint64_t n;
} want_t;

static int s_series(void *arg, const lt_stats_def_t *def, const lt_stats_sample_t *sample)
{
    want_t *w = arg;
    if (strcmp(def->name, "lienthong_peer_errors_received") == 0 &&
        strcmp(sample->values[0], w->member) == 0 && strcmp(sample->values[1], w->code) == 0)
        w->n = sample->counter;
    return 0;
}

static uint64_t s_counted(const char *member, const char *code)
{
    want_t w = {member, code, 0};
    (void)lt_stats_visit(s_stats, &(lt_stats_visitor_t){.series = s_series}, &w);
    return w.n;
}

static void s_note(lt_peererr_t *p, const char *member, Lienthong__ErrorCode code, const char *text)
{
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    e.code = code;
    e.message = (char *)text;
    lt_peererr_note(p, "peer", member, &e);
}

static void test_first_at_once_then_counted(void)
{
    static char out[65536];
    char text[32];
    lt_peererr_t *p = s_start();
    for (int i = 0; i < 1000; i++) {
        snprintf(text, sizeof text, "flood %d", i);
        s_note(p, "VN/GOV/P", LIENTHONG__ERROR_CODE__ERR_INTERNAL, text);
    }
    s_note(p, "VN/GOV/P", LIENTHONG__ERROR_CODE__ERR_FORBIDDEN, "no policy");
    s_note(p, "VN/GOV/Q", LIENTHONG__ERROR_CODE__ERR_INTERNAL, "other member");
    lt_peererr_tick(p); /* nothing due */
    CU_ASSERT_EQUAL(lt_peererr_total(p), 1002);
    CU_ASSERT_EQUAL(s_counted("VN/GOV/P", "ERR_INTERNAL"), 1000);
    CU_ASSERT_EQUAL(s_counted("VN/GOV/P", "ERR_FORBIDDEN"), 1);
    CU_ASSERT_EQUAL(s_counted("VN/GOV/Q", "ERR_INTERNAL"), 1);
    s_now += 10000;
    lt_peererr_tick(p); /* the count of the 999 others */
    lt_peererr_tick(p); /* nothing new */
    lt_peererr_destroy(&p);
    CU_ASSERT_PTR_NULL(p);
    lt_stats_destroy(&s_stats);
    s_captured(out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 4);
    CU_ASSERT_EQUAL(ut_lines(out, "peer: VN/GOV/P reports ERR_INTERNAL: flood 0"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "peer: VN/GOV/P reports ERR_FORBIDDEN: no policy"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "peer: VN/GOV/Q reports ERR_INTERNAL: other member"), 1);
    CU_ASSERT_EQUAL(
        ut_lines(out, "peer: VN/GOV/P reported 999 more ERR_INTERNAL in 10 s (last: flood 999)"),
        1);
}

static void test_flushed_at_destroy(void)
{
    static char out[65536];
    lt_peererr_t *p = s_start();
    s_note(p, "VN/GOV/P", LIENTHONG__ERROR_CODE__ERR_INTERNAL, "a");
    s_note(p, "VN/GOV/P", LIENTHONG__ERROR_CODE__ERR_INTERNAL, "b");
    lt_peererr_destroy(&p);
    lt_peererr_destroy(&p); /* idempotent */
    lt_stats_destroy(&s_stats);
    s_captured(out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 2);
    CU_ASSERT_EQUAL(ut_lines(out, "VN/GOV/P reported 1 more ERR_INTERNAL"), 1);
}

static void test_without_object_each_logged(void)
{
    static char out[65536];
    s_saved = ut_capture(s_err);
    s_note(NULL, "VN/GOV/P", LIENTHONG__ERROR_CODE__ERR_INTERNAL, "a");
    s_note(NULL, "VN/GOV/P", LIENTHONG__ERROR_CODE__ERR_INTERNAL, "b");
    lt_peererr_tick(NULL);
    CU_ASSERT_EQUAL(lt_peererr_total(NULL), 0);
    s_captured(out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "VN/GOV/P reports ERR_INTERNAL"), 2);
}

int main(void)
{
    lt_log_set_level(LT_LOG_DEBUG);
    static const ut_test_t tests[] = {
        {"the first Error of a pair is logged at once, the rest once per interval",
         test_first_at_once_then_counted},
        {"counts not yet reported are written at destroy", test_flushed_at_destroy},
        {"without an object each Error is logged", test_without_object_each_logged},
        {NULL, NULL},
    };
    return ut_main("lt_peererr", suite_init, suite_clean, tests);
}

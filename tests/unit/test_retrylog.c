/* test_retrylog: CUnit suite for adapters/lt_retrylog, the log of the
 * Publish refusals the source resends as they are (a gateway whose store
 * is full): the first of a dataset's run logged at once, the rest counted
 * in one line per dataset and interval with the last cause, and one line
 * when a Publish is accepted again, with the run's refusals and length;
 * a run after it is said at once again. Log lines are captured by
 * pointing stderr at a temporary file; the clock is the test's own. */
#include "unit_util.h" /* first: it sets the feature macros */

#include "lt_log.h"
#include "lt_retrylog.h"

#include <string.h>
#include <unistd.h>

#define FULL "the gateway's store cannot write: database or disk is full; retry"

static char s_dir[256], s_err[300];
static int s_saved = -1; /* stderr while captured */
static int64_t s_now;

static int64_t s_clock(void *arg)
{
    (void)arg;
    return s_now;
}

static int suite_init(void)
{
    if (ut_mkdtemp(s_dir, sizeof s_dir, "retrylog") != 0)
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

/* A log of 4 datasets with a 60 s interval on the test's clock, stderr
 * captured. */
static lt_retrylog_t *s_start(void)
{
    s_saved = ut_capture(s_err);
    s_now = 1000000;
    lt_retrylog_t *r = lt_retrylog_new(0, 4);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    lt_retrylog_set_clock(r, s_clock, NULL);
    return r;
}

/* One refusal of ds every 5 s (the adapter's longest back-off) for ms. */
static void s_refuse_for(lt_retrylog_t *r, lt_retrylog_run_t *run, const char *ds, int64_t ms)
{
    for (int64_t end = s_now + ms; s_now < end; s_now += 5000) {
        lt_retrylog_refused(r, run, ds, 0xabc, "ERR_UNAVAILABLE", FULL);
        lt_retrylog_tick(r);
    }
}

/* Ten minutes of a full disk: one line at once, one a minute with the
 * count, one when accepted again; not one per refusal. */
static void test_full_disk_bounded(void)
{
    static char out[65536];
    lt_retrylog_t *r = s_start();
    lt_retrylog_run_t run = {0};
    lt_retrylog_accepted(r, &run, "VN/GOV/BCA/population"); /* no run: nothing */
    s_refuse_for(r, &run, "VN/GOV/BCA/population", 600000);
    CU_ASSERT_EQUAL(run.refused, 120);
    lt_retrylog_accepted(r, &run, "VN/GOV/BCA/population");
    CU_ASSERT_EQUAL(run.refused, 0);
    lt_retrylog_destroy(&r);
    CU_ASSERT_PTR_NULL(r);
    lt_retrylog_destroy(&r); /* idempotent */
    s_captured(out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 12);
    CU_ASSERT_EQUAL(ut_lines(out, "WARN"), 11);
    CU_ASSERT_EQUAL(ut_lines(out, "gateway refused a publish of dataset=VN/GOV/BCA/population "
                                  "request_id=0000000000000abc code=ERR_UNAVAILABLE: " FULL
                                  "; resending it after a back-off, further refusals said at "
                                  "most once every 60 s"),
                    1);
    /* 119 counted: 12 each minute, the last 11 when accepted. */
    CU_ASSERT_EQUAL(ut_lines(out, "dataset=VN/GOV/BCA/population publish refused 11 times in the "
                                  "last 60 s, code=ERR_UNAVAILABLE: " FULL),
                    1);
    CU_ASSERT_EQUAL(ut_lines(out, "publish refused 12 times in the last 60 s"), 9);
    CU_ASSERT_EQUAL(ut_lines(out, "INFO"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "dataset=VN/GOV/BCA/population publishes accepted again after "
                                  "120 refusals over 600 s"),
                    1);
    if (CU_get_number_of_failures())
        fputs(out, stderr);
}

/* The count not yet written when publishes are accepted goes first; a
 * new run is said at once, even within the interval; datasets are apart. */
static void test_accepted_then_new_run(void)
{
    static char out[65536];
    lt_retrylog_t *r = s_start();
    lt_retrylog_run_t a = {0}, b = {0};
    s_refuse_for(r, &a, "DS/A", 20000); /* 4: the first said, 3 counted */
    s_refuse_for(r, &b, "DS/B", 10000);
    lt_retrylog_accepted(r, &a, "DS/A");
    s_refuse_for(r, &a, "DS/A", 5000); /* a new run */
    s_captured(out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 5);
    CU_ASSERT_EQUAL(ut_lines(out, "gateway refused a publish of dataset=DS/A"), 2);
    CU_ASSERT_EQUAL(ut_lines(out, "gateway refused a publish of dataset=DS/B"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "dataset=DS/A publish refused 3 times in the last 30 s"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "dataset=DS/A publishes accepted again after 4 refusals over "
                                  "30 s"),
                    1);
    if (CU_get_number_of_failures())
        fputs(out, stderr);
    s_saved = ut_capture(s_err);
    lt_retrylog_destroy(&r); /* B's count, A's new run has none */
    s_captured(out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "dataset=DS/B publish refused once in the last"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "1 times"), 0);
}

/* A run of one refusal: its end line says so in the singular. */
static void test_one_refusal(void)
{
    static char out[4096];
    lt_retrylog_t *r = s_start();
    lt_retrylog_run_t a = {0};
    s_refuse_for(r, &a, "DS/A", 5000);
    lt_retrylog_accepted(r, &a, "DS/A");
    lt_retrylog_destroy(&r);
    s_captured(out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 2);
    CU_ASSERT_EQUAL(ut_lines(out, "dataset=DS/A publishes accepted again after 1 refusal over 5 s"),
                    1);
    if (CU_get_number_of_failures())
        fputs(out, stderr);
}

int main(void)
{
    lt_log_set_level(LT_LOG_DEBUG);
    static const ut_test_t tests[] = {
        {"refusals over ten minutes: one line at once, one a minute, one when accepted",
         test_full_disk_bounded},
        {"accepted: the last count, then a new run said at once", test_accepted_then_new_run},
        {"one refusal: said as one", test_one_refusal},
        {NULL, NULL},
    };
    return ut_main("lt_retrylog", suite_init, suite_clean, tests);
}

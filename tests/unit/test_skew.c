/* test_skew: CUnit suite for gateway/lt_skew, peers' clock offsets from
 * the sent_at_ms of their Hellos (PROTOCOL.md 5.1): the estimate saturates
 * on any 64-bit value a peer sends, a Hello without the field gives none,
 * the offset kept is the highest of the last estimates (the one that
 * waited least), the gauge lienthong_peer_clock_offset{member} follows it,
 * and the log says once when a member's clock goes far off and once when
 * it comes back, at most LT_SKEW_LOG_BURST lines per member at once and
 * one more a minute whatever it sends;
 * a send time no clock can show is ignored; an adoption drops the members
 * no longer listed (gauge 0, slot free). Log lines are captured by
 * pointing stderr at a file. */
#include "unit_util.h" /* first: it sets the feature macros */

#include "lt_limits.h"
#include "lt_log.h"
#include "lt_skew.h"
#include "owner_directory.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

#define NOW 1800000000000LL /* unix ms, 2027 */

static char s_dir[256], s_err[300];
static int s_saved = -1; /* stderr while captured */
static lt_stats_t *s_stats;
static int64_t s_mono = 1000000; /* the monotonic clock the suite hands in */

static int suite_init(void)
{
    if (ut_mkdtemp(s_dir, sizeof s_dir, "skew") != 0)
        return -1;
    snprintf(s_err, sizeof s_err, "%s/stderr", s_dir);
    return 0;
}

static int suite_clean(void)
{
    return ut_rmrf(s_dir);
}

/* A fresh registry and module, stderr captured. */
static lt_skew_t *s_start(void)
{
    s_saved = ut_capture(s_err);
    s_stats = lt_stats_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(s_stats);
    lt_skew_t *k = lt_skew_new(s_stats);
    CU_ASSERT_PTR_NOT_NULL_FATAL(k);
    return k;
}

/* Frees both and ends the capture into out[cap]. */
static void s_end(lt_skew_t **k, char *out, size_t cap)
{
    lt_skew_destroy(k);
    CU_ASSERT_PTR_NULL(*k);
    lt_skew_destroy(k); /* idempotent */
    lt_stats_destroy(&s_stats);
    ut_captured(s_saved, s_err, out, cap);
    close(s_saved);
    s_saved = -1;
}

typedef struct {
    const char *member;
    double v;
    int found;
} want_t;

static int s_series(void *arg, const lt_stats_def_t *def, const lt_stats_sample_t *sample)
{
    want_t *w = arg;
    if (strcmp(def->name, "lienthong_peer_clock_offset") == 0 &&
        strcmp(sample->values[0], w->member) == 0) {
        w->v = sample->gauge_double;
        w->found = 1;
    }
    return 0;
}

/* The gauge of member in seconds; NAN when it has no series. */
static double s_gauge(const char *member)
{
    want_t w = {member, 0, 0};
    (void)lt_stats_visit(s_stats, &(lt_stats_visitor_t){.series = s_series}, &w);
    return w.found ? w.v : NAN;
}

static void test_estimate_saturates(void)
{
    CU_ASSERT_EQUAL(lt_skew_estimate(NOW + 2400, NOW), 2400);
    CU_ASSERT_EQUAL(lt_skew_estimate(NOW - 2400, NOW), -2400);
    CU_ASSERT_EQUAL(lt_skew_estimate(0, NOW), -NOW);
    CU_ASSERT_EQUAL(lt_skew_estimate(0, 0), 0);
    /* Past int64: clamped, then subtracted without wrapping. */
    CU_ASSERT_EQUAL(lt_skew_estimate(UINT64_MAX, NOW), INT64_MAX - NOW);
    CU_ASSERT_EQUAL(lt_skew_estimate(UINT64_MAX, 0), INT64_MAX);
    CU_ASSERT_EQUAL(lt_skew_estimate(UINT64_MAX, -1), INT64_MAX);
    CU_ASSERT_EQUAL(lt_skew_estimate(UINT64_MAX, INT64_MIN), INT64_MAX);
    CU_ASSERT_EQUAL(lt_skew_estimate((uint64_t)INT64_MAX + 1, -NOW), INT64_MAX);
    CU_ASSERT_EQUAL(lt_skew_estimate(1, INT64_MIN), INT64_MAX);
    CU_ASSERT_EQUAL(lt_skew_estimate(1, INT64_MAX), 1 - INT64_MAX);
    CU_ASSERT_EQUAL(lt_skew_estimate(0, INT64_MAX), -INT64_MAX);
    CU_ASSERT_EQUAL(lt_skew_estimate(0, INT64_MIN), INT64_MAX);
}

static void test_without_field_no_estimate(void)
{
    static char out[65536];
    int64_t off = 7;
    lt_skew_t *k = s_start();
    lt_skew_note(k, "VN/GOV/P", 0, NOW, s_mono); /* a gateway that predates sent_at_ms */
    lt_skew_note(k, "", NOW + 60000, NOW, s_mono);
    lt_skew_note(k, NULL, NOW + 60000, NOW, s_mono);
    lt_skew_note(NULL, "VN/GOV/P", NOW + 60000, NOW, s_mono);
    CU_ASSERT_EQUAL(lt_skew_get(k, "VN/GOV/P", &off), 0);
    CU_ASSERT_EQUAL(off, 0);
    CU_ASSERT_EQUAL(lt_skew_get(NULL, "VN/GOV/P", &off), 0);
    CU_ASSERT(isnan(s_gauge("VN/GOV/P")));
    s_end(&k, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 0);
}

static void test_highest_of_window(void)
{
    static char out[65536];
    int64_t off = 0;
    lt_skew_t *k = s_start();
    lt_skew_note(k, "VN/GOV/P", NOW + 1200, NOW, s_mono);
    CU_ASSERT_EQUAL(lt_skew_get(k, "VN/GOV/P", &off), 1);
    CU_ASSERT_EQUAL(off, 1200);
    CU_ASSERT_DOUBLE_EQUAL(s_gauge("VN/GOV/P"), 1.2, 1e-9);
    /* Hellos that waited 3 s in a queue read lower: the offset stays. */
    for (int i = 0; i < LT_SKEW_WINDOW - 1; i++)
        lt_skew_note(k, "VN/GOV/P", NOW + 1200 - 3000, NOW, s_mono);
    CU_ASSERT(lt_skew_get(k, "VN/GOV/P", &off) == 1 && off == 1200);
    /* A window of them later, it is what they say (a stepped clock). */
    lt_skew_note(k, "VN/GOV/P", NOW - 1800, NOW, s_mono);
    CU_ASSERT(lt_skew_get(k, "VN/GOV/P", &off) == 1 && off == -1800);
    CU_ASSERT_DOUBLE_EQUAL(s_gauge("VN/GOV/P"), -1.8, 1e-9);
    /* Members apart. */
    lt_skew_note(k, "VN/GOV/Q", NOW - 500, NOW, s_mono);
    CU_ASSERT(lt_skew_get(k, "VN/GOV/Q", &off) == 1 && off == -500);
    CU_ASSERT(lt_skew_get(k, "VN/GOV/P", &off) == 1 && off == -1800);
    s_end(&k, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 0); /* within LT_SKEW_WARN_MS */
}

static void test_warned_once_then_back(void)
{
    static char out[65536];
    int64_t off = 0;
    lt_skew_t *k = s_start();
    lt_skew_note(k, "VN/GOV/P", NOW + 120000, NOW, s_mono);
    lt_skew_note(k, "VN/GOV/P", NOW + 120000, NOW, s_mono);
    CU_ASSERT_DOUBLE_EQUAL(s_gauge("VN/GOV/P"), 120.0, 1e-9);
    s_mono += LT_SKEW_LOG_MS; /* a minute on: each line below is its own */
    /* Stepped back, yet hovering between the thresholds: no line. */
    for (int i = 0; i < LT_SKEW_WINDOW; i++)
        lt_skew_note(k, "VN/GOV/P", NOW + LT_SKEW_CLEAR_MS + 1, NOW, s_mono);
    /* Back within LT_SKEW_CLEAR_MS: one line. */
    for (int i = 0; i < LT_SKEW_WINDOW; i++)
        lt_skew_note(k, "VN/GOV/P", NOW + 100, NOW, s_mono);
    CU_ASSERT(lt_skew_get(k, "VN/GOV/P", &off) == 1 && off == 100);
    /* Behind this time. */
    s_mono += LT_SKEW_LOG_MS;
    for (int i = 0; i < LT_SKEW_WINDOW; i++)
        lt_skew_note(k, "VN/GOV/P", NOW - 600000, NOW, s_mono);
    s_end(&k, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 3);
    CU_ASSERT_EQUAL(ut_lines(out, "the clock of VN/GOV/P is 120.0 s ahead of this gateway's"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "the clock of VN/GOV/P is within 2.5 s of this gateway's again "
                                  "(+0.1 s)"),
                    1);
    CU_ASSERT_EQUAL(ut_lines(out, "the clock of VN/GOV/P is 600.0 s behind this gateway's"), 1);
}

/* A send time more than 100 years from ours is no clock: ignored (it
 * would be the highest of the window for 8 Hellos), counted and logged
 * under the member's limit. A clock at 1970 is still shown. */
static void test_absurd_values(void)
{
    static char out[65536];
    int64_t off = 0;
    lt_skew_t *k = s_start();
    lt_skew_note(k, "VN/GOV/P", NOW + 1000, NOW, s_mono);
    for (int i = 0; i < 2 * LT_SKEW_LOG_BURST; i++)
        lt_skew_note(k, "VN/GOV/P", UINT64_MAX - (uint64_t)i, NOW, s_mono);
    CU_ASSERT(lt_skew_get(k, "VN/GOV/P", &off) == 1 && off == 1000);
    CU_ASSERT_DOUBLE_EQUAL(s_gauge("VN/GOV/P"), 1.0, 1e-9);
    lt_skew_note(k, "VN/GOV/Q", 1, INT64_MAX, s_mono);
    CU_ASSERT_EQUAL(lt_skew_get(k, "VN/GOV/Q", &off), 0);
    CU_ASSERT(isnan(s_gauge("VN/GOV/Q")));
    lt_skew_note(k, "VN/GOV/R", 1, NOW, s_mono); /* 1970: far, yet a clock */
    CU_ASSERT(lt_skew_get(k, "VN/GOV/R", &off) == 1 && off == 1 - NOW);
    s_end(&k, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "Hello(s) from VN/GOV/P carried a send time no clock"),
                    LT_SKEW_LOG_BURST);
    CU_ASSERT_EQUAL(ut_lines(out, "the clock of VN/GOV/P is"), 0);
    CU_ASSERT_EQUAL(ut_lines(out, "Hello(s) from VN/GOV/Q carried a send time no clock"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "the clock of VN/GOV/R is 1800000000.0 s behind"), 1);
}

/* Hellos whose times jump back and forth (one far, then a window of
 * normal ones; or one no clock can show) log at most LT_SKEW_LOG_BURST
 * lines per member at once and one more a minute, however fast they come;
 * what was held back is said after. */
static void test_lines_limited_in_time(void)
{
    static char out[65536];
    const uint64_t far[] = {UINT64_MAX, NOW + 600000};
    for (size_t f = 0; f < 2; f++) {
        lt_skew_t *k = s_start();
        int64_t t0 = s_mono;
        for (int i = 0; i < 900; i++) { /* 100 ms apart: 90 s */
            lt_skew_note(k, "VN/GOV/P", i % 9 == 0 ? far[f] : NOW + 10, NOW, s_mono);
            s_mono += 100;
        }
        CU_ASSERT(s_mono - t0 < 2 * LT_SKEW_LOG_MS);
        s_end(&k, out, sizeof out);
        CU_ASSERT(ut_lines(out, NULL) >= 1);
        CU_ASSERT(ut_lines(out, NULL) <= LT_SKEW_LOG_BURST + 1);
        if (f == 1)
            CU_ASSERT_EQUAL(ut_lines(out, "changes since the last line of this member"), 1);
    }
    /* All at once (no time passing): the burst, whatever the count. */
    lt_skew_t *k = s_start();
    for (int i = 0; i < 900; i++)
        lt_skew_note(k, "VN/GOV/P", i % 9 == 0 ? NOW + 600000 : NOW + 10, NOW, s_mono);
    s_end(&k, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), LT_SKEW_LOG_BURST);
    s_mono += LT_SKEW_LOG_MS;
}

/* An adoption drops the members the directory no longer lists as active:
 * their offsets unknown, their gauges 0 (a series cannot be removed, and
 * an alert on it would fire until a restart), their slots free again. */
static void test_unlisted_dropped(void)
{
    static char out[65536];
    char m[32], err[1024] = "";
    int64_t off = 0;
    lt_dir_t *d = od_directory(s_dir, err, sizeof err); /* OD_OWNER and VN/COM/VIETTEL */
    if (!d)
        fprintf(stderr, "\n  directory: %s\n", err);
    CU_ASSERT_FATAL(d != NULL);
    lt_skew_t *k = s_start();
    lt_skew_note(k, OD_OWNER, NOW + 60000, NOW, s_mono);
    for (int i = 0; i < LT_SKEW_MAX_PEERS; i++) {
        snprintf(m, sizeof m, "VN/GOV/M%d", i);
        lt_skew_note(k, m, NOW + 1000, NOW, s_mono);
    }
    CU_ASSERT_DOUBLE_EQUAL(s_gauge("VN/GOV/M0"), 1.0, 1e-9);
    lt_skew_note(k, "VN/COM/VIETTEL", NOW + 10, NOW, s_mono);
    CU_ASSERT_EQUAL(lt_skew_get(k, "VN/COM/VIETTEL", &off), 0); /* full */
    lt_skew_dir_changed(k, d);
    CU_ASSERT(lt_skew_get(k, OD_OWNER, &off) == 1 && off == 60000); /* listed: kept */
    CU_ASSERT_DOUBLE_EQUAL(s_gauge(OD_OWNER), 60.0, 1e-9);
    CU_ASSERT_EQUAL(lt_skew_get(k, "VN/GOV/M0", &off), 0);
    CU_ASSERT_DOUBLE_EQUAL(s_gauge("VN/GOV/M0"), 0.0, 1e-9);
    snprintf(m, sizeof m, "VN/GOV/M%d", LT_SKEW_MAX_PEERS - 2);
    CU_ASSERT_DOUBLE_EQUAL(s_gauge(m), 0.0, 1e-9);
    /* Its slot taken by a member of its own series. */
    lt_skew_note(k, "VN/COM/VIETTEL", NOW + 10, NOW, s_mono);
    CU_ASSERT(lt_skew_get(k, "VN/COM/VIETTEL", &off) == 1 && off == 10);
    CU_ASSERT_DOUBLE_EQUAL(s_gauge("VN/COM/VIETTEL"), 0.01, 1e-9);
    lt_skew_dir_changed(k, NULL);
    lt_skew_dir_changed(NULL, d);
    s_end(&k, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "all 768 entries are in use"), 1);
    lt_dir_destroy(&d);
}

/* Past LT_SKEW_MAX_PEERS members, the next is not tracked. */
static void test_bounded(void)
{
    static char out[65536];
    char m[32];
    int64_t off = 0;
    lt_skew_t *k = s_start();
    for (int i = 0; i <= LT_SKEW_MAX_PEERS; i++) {
        snprintf(m, sizeof m, "VN/GOV/M%d", i);
        lt_skew_note(k, m, NOW + 10, NOW, s_mono);
    }
    CU_ASSERT(lt_skew_get(k, "VN/GOV/M0", &off) == 1 && off == 10);
    snprintf(m, sizeof m, "VN/GOV/M%d", LT_SKEW_MAX_PEERS - 1);
    CU_ASSERT_EQUAL(lt_skew_get(k, m, &off), 1);
    snprintf(m, sizeof m, "VN/GOV/M%d", LT_SKEW_MAX_PEERS);
    CU_ASSERT_EQUAL(lt_skew_get(k, m, &off), 0);
    s_end(&k, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "all 768 entries are in use"), 1);
}

int main(void)
{
    lt_log_set_level(LT_LOG_DEBUG);
    static const ut_test_t tests[] = {
        {"the estimate saturates on any 64-bit value", test_estimate_saturates},
        {"a Hello without sent_at_ms gives no estimate", test_without_field_no_estimate},
        {"the offset is the highest of the last estimates", test_highest_of_window},
        {"a far clock is logged once, and once when back", test_warned_once_then_back},
        {"absurd send times overflow nothing", test_absurd_values},
        {"members past the bound are not tracked", test_bounded},
        {"a member's lines are limited in time", test_lines_limited_in_time},
        {"an adoption drops the members no longer listed", test_unlisted_dropped},
        {NULL, NULL},
    };
    return ut_main("lt_skew", suite_init, suite_clean, tests);
}

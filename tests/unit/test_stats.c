/* test_stats: CUnit suite for core/lt_stats and core/lt_stats_prom:
 * registration rules, counters and gauges, histogram bucket edges and
 * quantiles, the bound on label sets, label escaping, the exact Prometheus
 * exposition of a small registry, and increments from several threads. */
#include "unit_util.h"

#include "lt_log.h"
#include "lt_stats.h"
#include "lt_stats_prom.h"

#include <math.h>
#include <pthread.h>

static lt_stats_t *g_stats;

static void s_fresh(void)
{
    lt_stats_destroy(&g_stats);
    g_stats = lt_stats_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_stats);
}

/* Registers a family and fails the test if that does not work. */
static lt_stats_family_t *s_reg(const char *name, lt_stats_kind_t kind, lt_stats_unit_t unit,
                                const char *const *labels, size_t max_series)
{
    lt_stats_def_t d = {.name = name,
                        .help = "A statistic for the tests.",
                        .kind = kind,
                        .unit = unit,
                        .max_series = max_series};
    while (labels && labels[d.n_labels]) {
        d.labels[d.n_labels] = labels[d.n_labels];
        d.n_labels++;
    }
    lt_stats_family_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(lt_stats_register(g_stats, &d, &f), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    return f;
}

static lt_stats_sample_t s_read(lt_stats_series_t *s)
{
    lt_stats_sample_t out;
    lt_stats_read(s, &out);
    return out;
}

/* The whole exposition as a NUL-terminated string (caller frees). */
static char *s_prom(void)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    CU_ASSERT_EQUAL(lt_stats_prom_write(g_stats, &buf, &len, &cap), 0);
    CU_ASSERT(buf == NULL || strlen(buf) == len);
    return buf;
}

static void test_counter(void)
{
    s_fresh();
    lt_stats_family_t *f =
        s_reg("lienthong_records", LT_STATS_COUNTER, LT_STATS_UNIT_NONE, NULL, 0);
    lt_stats_series_t *s = lt_stats_series(f, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_PTR_EQUAL(lt_stats_series(f, NULL), s);
    CU_ASSERT_EQUAL(s_read(s).counter, 0);
    lt_stats_inc(s);
    lt_stats_add(s, 41);
    CU_ASSERT_EQUAL(s_read(s).counter, 42);
    lt_stats_add(s, UINT64_C(1) << 40);
    CU_ASSERT_EQUAL(s_read(s).counter, (UINT64_C(1) << 40) + 42);
}

static void test_gauges(void)
{
    s_fresh();
    lt_stats_series_t *g = lt_stats_series(
        s_reg("lienthong_peers", LT_STATS_GAUGE, LT_STATS_UNIT_NONE, NULL, 0), NULL);
    lt_stats_set(g, 3);
    lt_stats_shift(g, -5);
    CU_ASSERT_EQUAL(s_read(g).gauge, -2);
    lt_stats_set(g, INT64_MIN);
    CU_ASSERT_EQUAL(s_read(g).gauge, INT64_MIN);
    lt_stats_shift(g, 1);
    CU_ASSERT_EQUAL(s_read(g).gauge, INT64_MIN + 1);
    lt_stats_series_t *d = lt_stats_series(
        s_reg("lienthong_age", LT_STATS_GAUGE_DOUBLE, LT_STATS_UNIT_SECONDS, NULL, 0), NULL);
    CU_ASSERT_EQUAL(s_read(d).gauge_double, 0.0);
    lt_stats_set_double(d, 12.5);
    lt_stats_add_double(d, -0.25);
    CU_ASSERT_EQUAL(s_read(d).gauge_double, 12.25);
    lt_stats_set_double(d, -1e300);
    CU_ASSERT_EQUAL(s_read(d).gauge_double, -1e300);
}

static void s_expect_invalid(const lt_stats_def_t *d)
{
    lt_stats_family_t *f = (lt_stats_family_t *)&f;
    CU_ASSERT_EQUAL(lt_stats_register(g_stats, d, &f), LT_STATS_EINVAL);
    CU_ASSERT_PTR_NULL(f);
}

static void test_register_rules(void)
{
    s_fresh();
    const lt_stats_def_t good = {.name = "lienthong_lookups",
                                 .help = "Lookups.",
                                 .kind = LT_STATS_COUNTER,
                                 .n_labels = 1,
                                 .labels = {"outcome"}};
    lt_stats_family_t *f = NULL, *again = NULL;
    CU_ASSERT_EQUAL_FATAL(lt_stats_register(g_stats, &good, &f), 0);
    CU_ASSERT_EQUAL(lt_stats_register(g_stats, &good, &again), 0);
    CU_ASSERT_PTR_EQUAL(again, f); /* the same definition twice is the same family */
    lt_stats_def_t d = good;
    d.help = "Lookups, differently described.";
    CU_ASSERT_EQUAL(lt_stats_register(g_stats, &d, &again), LT_STATS_EEXIST);
    CU_ASSERT_PTR_NULL(again);
    d = good;
    d.kind = LT_STATS_GAUGE;
    CU_ASSERT_EQUAL(lt_stats_register(g_stats, &d, &again), LT_STATS_EEXIST);
    /* lt_stats_register_series: the family's series at once, NULL when
     * the registration fails. */
    lt_stats_series_t *s = lt_stats_register_series(g_stats, &good, (const char *[]){"ok"});
    CU_ASSERT_PTR_EQUAL(s, lt_stats_series(f, (const char *[]){"ok"}));
    CU_ASSERT_PTR_NULL(lt_stats_register_series(g_stats, &d, (const char *[]){"ok"}));

    static const char *const bad_names[] = {
        "lookups",
        "lienthong_",
        "lienthong_Lookups",
        "lienthong_a-b",
        "lienthong_x_total",
        "lienthong_x_seconds",
        "lienthong_x_bytes",
        "lienthong_x_count",
        "lienthong_x_sum",
        "lienthong_x_bucket",
        NULL,
    };
    for (size_t i = 0; bad_names[i]; i++) {
        d = good;
        d.name = bad_names[i];
        s_expect_invalid(&d);
    }
    d = good;
    d.name = NULL;
    s_expect_invalid(&d);
    d = good;
    d.help = "";
    s_expect_invalid(&d);
    d = good;
    d.kind = LT_STATS_HISTOGRAM; /* latency histograms are in seconds */
    s_expect_invalid(&d);
    d = good;
    d.max_series = LT_STATS_MAX_SERIES + 1;
    s_expect_invalid(&d);
    static const char *const bad_labels[] = {"le", "quantile", "__name", "1x", "a b", "", NULL};
    for (size_t i = 0; bad_labels[i]; i++) {
        d = good;
        d.labels[0] = bad_labels[i];
        s_expect_invalid(&d);
    }
    d = good;
    d.n_labels = 2;
    d.labels[1] = "outcome"; /* repeated */
    s_expect_invalid(&d);
    d = good;
    d.n_labels = LT_STATS_MAX_LABELS + 1;
    s_expect_invalid(&d);

    /* Strings are copied: the caller's buffers may change afterwards. */
    char name[32] = "lienthong_copied", label[16] = "stream";
    d = good;
    d.name = name;
    d.labels[0] = label;
    CU_ASSERT_EQUAL_FATAL(lt_stats_register(g_stats, &d, &f), 0);
    lt_stats_inc(lt_stats_series(f, (const char *[]){"VN/GOV/BCA/population"}));
    memset(name, 'x', sizeof name - 1);
    memset(label, 'y', sizeof label - 1);
    char *text = s_prom();
    CU_ASSERT_PTR_NOT_NULL(
        strstr(text, "lienthong_copied_total{stream=\"VN/GOV/BCA/population\"} 1\n"));
    free(text);
}

static void test_bucket_edges(void)
{
    s_fresh();
    lt_stats_series_t *h = lt_stats_series(
        s_reg("lienthong_latency", LT_STATS_HISTOGRAM, LT_STATS_UNIT_SECONDS, NULL, 0), NULL);
    /* Log-spaced from 1 us to 50 s: above 10 us each bound is 1.2 to 1.3
     * times the one before (ten per decade); the 1-2-5 bounds are among
     * them and are the major ones. */
    static const uint64_t major[] = {1,       2,       5,       10,       20,       50,
                                     100,     200,     500,     1000,     2000,     5000,
                                     10000,   20000,   50000,   100000,   200000,   500000,
                                     1000000, 2000000, 5000000, 10000000, 20000000, 50000000};
    uint64_t want[LT_STATS_BUCKETS - 1];
    size_t n_major = 0;
    CU_ASSERT_EQUAL(lt_stats_bound_us(0), 1);
    CU_ASSERT_EQUAL(lt_stats_bound_us(LT_STATS_BUCKETS - 2), 50000000);
    CU_ASSERT_EQUAL(lt_stats_bound_us(LT_STATS_BUCKETS - 1), UINT64_MAX);
    CU_ASSERT(lt_stats_bound_major(LT_STATS_BUCKETS - 1));
    for (size_t i = 0; i < LT_STATS_BUCKETS - 1; i++) {
        want[i] = lt_stats_bound_us(i);
        double ratio = (double)lt_stats_bound_us(i + 1) / (double)want[i];
        CU_ASSERT(ratio > 1.0);
        if (want[i] >= 10 && i < LT_STATS_BUCKETS - 2)
            CU_ASSERT(ratio >= 1.2 && ratio <= 1.3);
        if (lt_stats_bound_major(i)) {
            CU_ASSERT_FATAL(n_major < sizeof major / sizeof major[0]);
            CU_ASSERT_EQUAL(want[i], major[n_major]);
            n_major++;
        }
    }
    CU_ASSERT_EQUAL(n_major, sizeof major / sizeof major[0]);

    /* A value equal to a bound falls in that bucket, one above in the next. */
    uint64_t sum = 0;
    for (size_t i = 0; i < LT_STATS_BUCKETS - 1; i++) {
        lt_stats_observe_us(h, want[i]);
        lt_stats_observe_us(h, want[i] + 1);
        sum += 2 * want[i] + 1;
        lt_stats_sample_t s = s_read(h);
        CU_ASSERT_EQUAL(s.buckets[i], i == 0 ? 1 : 2);
        CU_ASSERT_EQUAL(s.buckets[i + 1], 1);
    }
    lt_stats_observe_us(h, 0);
    lt_stats_observe_us(h, UINT64_C(1) << 40);
    sum += UINT64_C(1) << 40;
    lt_stats_sample_t s = s_read(h);
    CU_ASSERT_EQUAL(s.buckets[0], 2);
    CU_ASSERT_EQUAL(s.buckets[LT_STATS_BUCKETS - 1], 2);
    CU_ASSERT_EQUAL(s.count, 2 * (LT_STATS_BUCKETS - 1) + 2);
    CU_ASSERT_EQUAL(s.sum_us, sum);
}

static void test_quantiles(void)
{
    s_fresh();
    lt_stats_series_t *h = lt_stats_series(
        s_reg("lienthong_latency", LT_STATS_HISTOGRAM, LT_STATS_UNIT_SECONDS, NULL, 0), NULL);
    lt_stats_sample_t s = s_read(h);
    CU_ASSERT(isnan(lt_stats_quantile(&s, 0.5))); /* empty */
    /* 100 observations: 40 in (125,160], 40 in (250,315], 20 in (1250,1600]. */
    for (int i = 0; i < 40; i++) {
        lt_stats_observe_us(h, 150);
        lt_stats_observe_us(h, 300);
    }
    for (int i = 0; i < 20; i++)
        lt_stats_observe_us(h, 1500);
    s = s_read(h);
    /* rank 50 is the 10th of 40 in (250,315]: 250 + 65 * 10/40. */
    CU_ASSERT_DOUBLE_EQUAL(lt_stats_quantile(&s, 0.5), 266.25, 1e-9);
    /* rank 99 is the 19th of 20 in (1250,1600]: 1250 + 350 * 19/20. */
    CU_ASSERT_DOUBLE_EQUAL(lt_stats_quantile(&s, 0.99), 1582.5, 1e-9);
    /* rank 20 is the 20th of 40 in (125,160]. */
    CU_ASSERT_DOUBLE_EQUAL(lt_stats_quantile(&s, 0.2), 142.5, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(lt_stats_quantile(&s, 1.0), 1600.0, 1e-9);
    CU_ASSERT_DOUBLE_EQUAL(lt_stats_quantile(&s, 0.0), 125.0, 1e-9); /* lowest non-empty bucket */
    CU_ASSERT(isnan(lt_stats_quantile(&s, -0.1)));
    CU_ASSERT(isnan(lt_stats_quantile(&s, 1.5)));
    CU_ASSERT(isnan(lt_stats_quantile(&s, NAN)));
    /* Evenly spread values 1..100000 us: interpolation recovers them. */
    s_fresh();
    h = lt_stats_series(
        s_reg("lienthong_latency", LT_STATS_HISTOGRAM, LT_STATS_UNIT_SECONDS, NULL, 0), NULL);
    for (uint64_t v = 1; v <= 100000; v++)
        lt_stats_observe_us(h, v);
    s = s_read(h);
    CU_ASSERT_DOUBLE_EQUAL(lt_stats_quantile(&s, 0.5), 50000.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(lt_stats_quantile(&s, 0.99), 99000.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(lt_stats_quantile(&s, 0.37), 37000.0, 1e-6);
    /* The first bucket interpolates from 0. */
    s_fresh();
    h = lt_stats_series(
        s_reg("lienthong_latency", LT_STATS_HISTOGRAM, LT_STATS_UNIT_SECONDS, NULL, 0), NULL);
    lt_stats_observe_us(h, 1);
    lt_stats_observe_us(h, 1);
    s = s_read(h);
    CU_ASSERT_DOUBLE_EQUAL(lt_stats_quantile(&s, 0.5), 0.5, 1e-9);
    /* A rank in +Inf reports the highest finite bound. */
    lt_stats_observe_us(h, 60000000);
    lt_stats_observe_us(h, 90000000);
    s = s_read(h);
    CU_ASSERT_DOUBLE_EQUAL(lt_stats_quantile(&s, 0.99), 50000000.0, 1e-9);
}

static void test_label_bound(void)
{
    s_fresh();
    lt_log_set_level(LT_LOG_ERROR); /* the bound is reported once as a warning */
    static const char *const labels[] = {"stream", NULL};
    lt_stats_family_t *f =
        s_reg("lienthong_batches", LT_STATS_COUNTER, LT_STATS_UNIT_NONE, labels, 3);
    lt_stats_series_t *a = lt_stats_series(f, (const char *[]){"VN/GOV/BCA/population"});
    lt_stats_series_t *b = lt_stats_series(f, (const char *[]){"VN/GOV/BCA/population.p38"});
    lt_stats_series_t *c = lt_stats_series(f, (const char *[]){"VN/COM/VIETTEL/subscriber"});
    CU_ASSERT(a != b && b != c && a != c);
    CU_ASSERT_PTR_EQUAL(lt_stats_series(f, (const char *[]){"VN/GOV/BCA/population"}), a);
    lt_stats_series_t *o = lt_stats_series(f, (const char *[]){"VN/PROV/01/extra"});
    CU_ASSERT(o != a && o != b && o != c);
    CU_ASSERT_PTR_EQUAL(lt_stats_series(f, (const char *[]){"VN/PROV/02/extra"}), o);
    CU_ASSERT_PTR_EQUAL(lt_stats_series(f, (const char *[]){LT_STATS_OTHER}), o);
    /* Existing label sets still get their own series past the bound. */
    CU_ASSERT_PTR_EQUAL(lt_stats_series(f, (const char *[]){"VN/COM/VIETTEL/subscriber"}), c);
    lt_stats_add(a, 5);
    lt_stats_add(o, 7);
    lt_stats_inc(lt_stats_series(f, (const char *[]){"VN/PROV/03/extra"}));
    CU_ASSERT_EQUAL(s_read(o).counter, 8);
    CU_ASSERT_STRING_EQUAL(s_read(o).values[0], LT_STATS_OTHER);
    CU_ASSERT_STRING_EQUAL(s_read(a).values[0], "VN/GOV/BCA/population");

    /* Values that are not UTF-8 or too long go to `other` too, even below
     * the bound. */
    lt_stats_family_t *g =
        s_reg("lienthong_refusals", LT_STATS_COUNTER, LT_STATS_UNIT_NONE, labels, 0);
    char longv[LT_STATS_MAX_VALUE + 2];
    memset(longv, 'a', sizeof longv - 1);
    longv[sizeof longv - 1] = 0;
    lt_stats_series_t *go = lt_stats_series(g, (const char *[]){"\xff\xfe"});
    CU_ASSERT_PTR_EQUAL(lt_stats_series(g, (const char *[]){longv}), go);
    CU_ASSERT_PTR_EQUAL(lt_stats_series(g, NULL), go);
    longv[LT_STATS_MAX_VALUE] = 0; /* exactly the longest value */
    CU_ASSERT(lt_stats_series(g, (const char *[]){longv}) != go);

    /* `other` is exported last, and only once used. */
    lt_stats_family_t *unused =
        s_reg("lienthong_quiet", LT_STATS_COUNTER, LT_STATS_UNIT_NONE, labels, 1);
    lt_stats_inc(lt_stats_series(unused, (const char *[]){"x"}));
    char *text = s_prom();
    CU_ASSERT_PTR_NOT_NULL(
        strstr(text, "lienthong_batches_total{stream=\"VN/GOV/BCA/population\"} 5\n"
                     "lienthong_batches_total{stream=\"VN/GOV/BCA/population.p38\"} 0\n"
                     "lienthong_batches_total{stream=\"VN/COM/VIETTEL/subscriber\"} 0\n"
                     "lienthong_batches_total{stream=\"other\"} 8\n"));
    CU_ASSERT_PTR_NULL(strstr(text, "lienthong_quiet_total{stream=\"other\"}"));
    CU_ASSERT_PTR_NOT_NULL(strstr(text, "lienthong_quiet_total{stream=\"x\"} 1\n"));
    free(text);
    lt_log_set_level(LT_LOG_INFO);
}

static void test_escaping(void)
{
    s_fresh();
    lt_stats_def_t d = {.name = "lienthong_odd",
                        .help = "Back\\slash, \"quotes\"\nand a new line.",
                        .kind = LT_STATS_GAUGE,
                        .n_labels = 2,
                        .labels = {"peer", "Reason_2"}};
    lt_stats_family_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(lt_stats_register(g_stats, &d, &f), 0);
    lt_stats_set(lt_stats_series(f, (const char *[]){"a\\b", "say \"no\"\nthen\\n"}), 7);
    lt_stats_set(lt_stats_series(f, (const char *[]){"Nguy\xe1\xbb\x85n", ""}), -1);
    char *text = s_prom();
    CU_ASSERT_STRING_EQUAL(
        text, "# HELP lienthong_odd Back\\\\slash, \"quotes\"\\nand a new line.\n"
              "# TYPE lienthong_odd gauge\n"
              "lienthong_odd{peer=\"a\\\\b\",Reason_2=\"say \\\"no\\\"\\nthen\\\\n\"} 7\n"
              "lienthong_odd{peer=\"Nguy\xe1\xbb\x85n\",Reason_2=\"\"} -1\n");
    free(text);
}

/* The exposition of a small registry, checked to the byte. */
static const char KAT[] =
    "# HELP lienthong_publish_records_total Records appended to owned streams.\n"
    "# TYPE lienthong_publish_records_total counter\n"
    "lienthong_publish_records_total 42\n"
    "# HELP lienthong_requests_total Requests answered, by endpoint and outcome.\n"
    "# TYPE lienthong_requests_total counter\n"
    "lienthong_requests_total{endpoint=\"lookup\",outcome=\"ok\",reason=\"none\"} 3\n"
    "lienthong_requests_total{endpoint=\"lookup\",outcome=\"refused\",reason=\"purpose\"} 1\n"
    "# HELP lienthong_store_size_bytes Size of the store file.\n"
    "# TYPE lienthong_store_size_bytes gauge\n"
    "lienthong_store_size_bytes 1048576\n"
    "# HELP lienthong_directory_age_seconds Age of the adopted directory.\n"
    "# TYPE lienthong_directory_age_seconds gauge\n"
    "lienthong_directory_age_seconds 12.5\n"
    "# HELP lienthong_sent_seconds_total Time spent sending.\n"
    "# TYPE lienthong_sent_seconds_total counter\n"
    "lienthong_sent_seconds_total 9\n"
    "# HELP lienthong_ratio A ratio that is not a number yet.\n"
    "# TYPE lienthong_ratio gauge\n"
    "lienthong_ratio NaN\n"
    "# HELP lienthong_lookup_latency_seconds Lookup round trip, caller to verified answer.\n"
    "# TYPE lienthong_lookup_latency_seconds histogram\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.000001\"} 0\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.000002\"} 0\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.000005\"} 0\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.00001\"} 0\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.00002\"} 0\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.00005\"} 0\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.0001\"} 0\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.0002\"} 2\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.0005\"} 2\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.001\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.002\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.005\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.01\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.02\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.05\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.1\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.2\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"0.5\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"1\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"2\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"5\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"10\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"20\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"50\"} 3\n"
    "lienthong_lookup_latency_seconds_bucket{stream=\"VN/GOV/BCA/population\",le=\"+Inf\"} 4\n"
    "lienthong_lookup_latency_seconds_sum{stream=\"VN/GOV/BCA/population\"} 60.001\n"
    "lienthong_lookup_latency_seconds_count{stream=\"VN/GOV/BCA/population\"} 4\n"
    "# HELP lienthong_empty_total Labelled, with no series yet.\n"
    "# TYPE lienthong_empty_total counter\n";

static lt_stats_family_t *s_kat_reg(const char *name, const char *help, lt_stats_kind_t kind,
                                    lt_stats_unit_t unit, size_t n_labels, const char *l0,
                                    const char *l1, const char *l2)
{
    lt_stats_def_t d = {.name = name,
                        .help = help,
                        .kind = kind,
                        .unit = unit,
                        .n_labels = n_labels,
                        .labels = {l0, l1, l2}};
    lt_stats_family_t *f = NULL;
    CU_ASSERT_EQUAL_FATAL(lt_stats_register(g_stats, &d, &f), 0);
    return f;
}

static void test_exposition(void)
{
    s_fresh();
    char *text = s_prom();
    CU_ASSERT(text == NULL || text[0] == 0); /* nothing registered, nothing written */
    free(text);
    lt_stats_family_t *f;
    f = s_kat_reg("lienthong_publish_records", "Records appended to owned streams.",
                  LT_STATS_COUNTER, LT_STATS_UNIT_NONE, 0, NULL, NULL, NULL);
    lt_stats_add(lt_stats_series(f, NULL), 42);
    f = s_kat_reg("lienthong_requests", "Requests answered, by endpoint and outcome.",
                  LT_STATS_COUNTER, LT_STATS_UNIT_NONE, 3, "endpoint", "outcome", "reason");
    lt_stats_series_t *ok = lt_stats_series(f, (const char *[]){"lookup", "ok", "none"});
    lt_stats_inc(lt_stats_series(f, (const char *[]){"lookup", "refused", "purpose"}));
    lt_stats_add(ok, 3);
    f = s_kat_reg("lienthong_store_size", "Size of the store file.", LT_STATS_GAUGE,
                  LT_STATS_UNIT_BYTES, 0, NULL, NULL, NULL);
    lt_stats_set(lt_stats_series(f, NULL), 1048576);
    f = s_kat_reg("lienthong_directory_age", "Age of the adopted directory.", LT_STATS_GAUGE_DOUBLE,
                  LT_STATS_UNIT_SECONDS, 0, NULL, NULL, NULL);
    lt_stats_set_double(lt_stats_series(f, NULL), 12.5);
    f = s_kat_reg("lienthong_sent", "Time spent sending.", LT_STATS_COUNTER, LT_STATS_UNIT_SECONDS,
                  0, NULL, NULL, NULL);
    lt_stats_add(lt_stats_series(f, NULL), 9);
    f = s_kat_reg("lienthong_ratio", "A ratio that is not a number yet.", LT_STATS_GAUGE_DOUBLE,
                  LT_STATS_UNIT_NONE, 0, NULL, NULL, NULL);
    lt_stats_set_double(lt_stats_series(f, NULL), NAN);
    f = s_kat_reg("lienthong_lookup_latency", "Lookup round trip, caller to verified answer.",
                  LT_STATS_HISTOGRAM, LT_STATS_UNIT_SECONDS, 1, "stream", NULL, NULL);
    lt_stats_series_t *h = lt_stats_series(f, (const char *[]){"VN/GOV/BCA/population"});
    lt_stats_observe_us(h, 150);
    lt_stats_observe_us(h, 150);
    lt_stats_observe_us(h, 700);
    lt_stats_observe_us(h, 60000000);
    f = s_kat_reg("lienthong_empty", "Labelled, with no series yet.", LT_STATS_COUNTER,
                  LT_STATS_UNIT_NONE, 1, "peer", NULL, NULL);
    text = s_prom();
    CU_ASSERT_STRING_EQUAL(text, KAT);
    free(text);

    /* The buffer grows from what is already in it, and keeps it. */
    char *buf = strdup("HTTP/1.0 200 OK\r\n\r\n");
    size_t len = strlen(buf), cap = len + 1;
    CU_ASSERT_EQUAL(lt_stats_prom_write(g_stats, &buf, &len, &cap), 0);
    CU_ASSERT(cap > len && len == strlen(buf));
    CU_ASSERT_NSTRING_EQUAL(buf, "HTTP/1.0 200 OK\r\n\r\n# HELP", 25);
    CU_ASSERT_STRING_EQUAL(buf + 19, KAT);
    free(buf);
}

/* Counts families and series; stops after `stop_after` series. */
typedef struct {
    int families, series, stop_after;
} visit_count_t;

static int s_count_family(void *arg, const lt_stats_def_t *def)
{
    visit_count_t *c = arg;
    c->families++;
    return def->name ? 0 : -1;
}

static int s_count_series(void *arg, const lt_stats_def_t *def, const lt_stats_sample_t *s)
{
    visit_count_t *c = arg;
    c->series++;
    return c->series == c->stop_after ? 99 : 0;
}

static void test_visit(void)
{
    s_fresh();
    static const char *const labels[] = {"k", NULL};
    lt_stats_family_t *f = s_reg("lienthong_a", LT_STATS_COUNTER, LT_STATS_UNIT_NONE, labels, 0);
    (void)lt_stats_series(f, (const char *[]){"1"});
    (void)lt_stats_series(f, (const char *[]){"2"});
    (void)s_reg("lienthong_b", LT_STATS_GAUGE, LT_STATS_UNIT_NONE, NULL, 0);
    const lt_stats_visitor_t v = {.family = s_count_family, .series = s_count_series};
    visit_count_t c = {0};
    CU_ASSERT_EQUAL(lt_stats_visit(g_stats, &v, &c), 0);
    CU_ASSERT_EQUAL(c.families, 2);
    CU_ASSERT_EQUAL(c.series, 3);
    c = (visit_count_t){.stop_after = 2};
    CU_ASSERT_EQUAL(lt_stats_visit(g_stats, &v, &c), 99);
    CU_ASSERT_EQUAL(c.families, 1);
    CU_ASSERT_EQUAL(c.series, 2);
    CU_ASSERT_STRING_EQUAL(lt_stats_unit_name(LT_STATS_UNIT_BYTES), "bytes");
    CU_ASSERT_STRING_EQUAL(lt_stats_strerror(LT_STATS_EEXIST),
                           "statistic registered with another definition");
}

/* ---- threads ------------------------------------------------------------------------------- */

#define THREADS 4
#define ROUNDS  100000

typedef struct {
    lt_stats_family_t *counter, *gauge, *dgauge, *hist;
    int id;
} worker_t;

static void *s_worker(void *arg)
{
    worker_t *w = arg;
    char mine[16];
    snprintf(mine, sizeof mine, "t%d", w->id);
    /* Every thread looks up a shared label set and one of its own. */
    lt_stats_series_t *shared = lt_stats_series(w->counter, (const char *[]){"shared"});
    lt_stats_series_t *own = lt_stats_series(w->counter, (const char *[]){mine});
    lt_stats_series_t *g = lt_stats_series(w->gauge, NULL);
    lt_stats_series_t *d = lt_stats_series(w->dgauge, NULL);
    lt_stats_series_t *h = lt_stats_series(w->hist, NULL);
    for (int i = 0; i < ROUNDS; i++) {
        lt_stats_inc(shared);
        lt_stats_add(own, 2);
        lt_stats_shift(g, (i & 1) ? -3 : 1);
        lt_stats_add_double(d, 0.5);
        lt_stats_observe_us(h, (uint64_t)(i % 1000));
    }
    return NULL;
}

static void test_threads(void)
{
    s_fresh();
    static const char *const labels[] = {"who", NULL};
    worker_t w[THREADS];
    pthread_t t[THREADS];
    lt_stats_family_t *counter =
        s_reg("lienthong_hits", LT_STATS_COUNTER, LT_STATS_UNIT_NONE, labels, 0);
    lt_stats_family_t *gauge =
        s_reg("lienthong_level", LT_STATS_GAUGE, LT_STATS_UNIT_NONE, NULL, 0);
    lt_stats_family_t *dgauge =
        s_reg("lienthong_level_real", LT_STATS_GAUGE_DOUBLE, LT_STATS_UNIT_NONE, NULL, 0);
    lt_stats_family_t *hist =
        s_reg("lienthong_wait", LT_STATS_HISTOGRAM, LT_STATS_UNIT_SECONDS, NULL, 0);
    for (int i = 0; i < THREADS; i++) {
        w[i] =
            (worker_t){.counter = counter, .gauge = gauge, .dgauge = dgauge, .hist = hist, .id = i};
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, s_worker, &w[i]), 0);
    }
    /* Meanwhile the poll loop's thread exports. */
    for (int i = 0; i < 20; i++)
        free(s_prom());
    for (int i = 0; i < THREADS; i++)
        CU_ASSERT_EQUAL(pthread_join(t[i], NULL), 0);
    CU_ASSERT_EQUAL(s_read(lt_stats_series(counter, (const char *[]){"shared"})).counter,
                    (uint64_t)THREADS * ROUNDS);
    for (int i = 0; i < THREADS; i++) {
        char mine[16];
        snprintf(mine, sizeof mine, "t%d", i);
        CU_ASSERT_EQUAL(s_read(lt_stats_series(counter, (const char *[]){mine})).counter,
                        2 * (uint64_t)ROUNDS);
    }
    CU_ASSERT_EQUAL(s_read(lt_stats_series(gauge, NULL)).gauge, -(int64_t)THREADS * ROUNDS);
    CU_ASSERT_EQUAL(s_read(lt_stats_series(dgauge, NULL)).gauge_double, 0.5 * THREADS * ROUNDS);
    lt_stats_sample_t s = s_read(lt_stats_series(hist, NULL));
    CU_ASSERT_EQUAL(s.count, (uint64_t)THREADS * ROUNDS);
    CU_ASSERT_EQUAL(s.sum_us, (uint64_t)THREADS * (ROUNDS / 1000) * (999 * 1000 / 2));
    CU_ASSERT_EQUAL(s.buckets[0], (uint64_t)THREADS * (ROUNDS / 1000) * 2); /* 0 and 1 */
}

static int suite_clean(void)
{
    lt_stats_destroy(&g_stats);
    lt_stats_destroy(&g_stats); /* idempotent */
    return g_stats != NULL;
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"counters count, from 0, by 1 and by n", test_counter},
        {"int gauges set and shift both ways; double gauges set and add", test_gauges},
        {"names, descriptions, units and labels are checked; strings copied", test_register_rules},
        {"histograms have ten bounds per decade; a value on a bound is in it", test_bucket_edges},
        {"quantiles interpolate within the bucket holding the rank", test_quantiles},
        {"label sets are bounded; the rest and bad values count as other", test_label_bound},
        {"label values and descriptions are escaped", test_escaping},
        {"the exposition of a small registry is exact", test_exposition},
        {"visiting reaches every family and series and can stop", test_visit},
        {"updates from several threads are not lost", test_threads},
        {NULL, NULL},
    };
    return ut_main("lt_stats", NULL, suite_clean, tests);
}

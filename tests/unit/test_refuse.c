/* test_refuse: CUnit suite for gateway/lt_refuse, refusals counted per
 * source address and reason: the first of a new pair is logged and audited
 * at once, later ones once per interval with their count; idle pairs are
 * forgotten; beyond the table's size refusals share the "others" count; a
 * flood from many sources writes a bounded number of lines and entries.
 * Log lines are captured by pointing stderr at a temporary file; audit
 * entries are counted in the audit log's database; the clock is the
 * test's own. */
#include "unit_sqlite.h"

#include "lt_audit.h"
#include "lt_log.h"
#include "lt_refuse.h"

#include <sodium.h>

static char s_dir[256], s_db[300], s_err[300];
static int s_saved = -1;
static int64_t s_now;
static lt_keys_t *s_keys;
static lt_audit_t *s_audit;

static int64_t s_clock(void *arg)
{
    (void)arg;
    return s_now;
}

static int suite_init(void)
{
    if (ut_mkdtemp(s_dir, sizeof s_dir, "refuse") != 0)
        return -1;
    snprintf(s_db, sizeof s_db, "%s/audit.db", s_dir);
    snprintf(s_err, sizeof s_err, "%s/stderr", s_dir);
    s_saved = dup(2);
    s_keys = lt_keys_new(LT_KEYS_MEMBER);
    return s_saved < 0 || !s_keys ? -1 : 0;
}

static int suite_clean(void)
{
    if (s_saved >= 0)
        dup2(s_saved, 2);
    lt_keys_destroy(&s_keys);
    return ut_rmrf(s_dir);
}

/* A fresh audit log and a fresh capture of stderr; a refusal table of
 * max pairs and a 10 s interval on the test's clock. */
static lt_refuse_t *s_start(size_t max)
{
    unlink(s_db);
    char err[256];
    s_audit = lt_audit_open(s_db, s_keys, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s_audit);
    int fd = open(s_err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(dup2(fd, 2) == 2);
    close(fd);
    s_now = 1000000;
    lt_refuse_t *r = lt_refuse_new("zap", "connection", 10000, max);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    lt_refuse_set_clock(r, s_clock, NULL);
    lt_refuse_set_audit(r, s_audit);
    return r;
}

/* Stops the capture; reads what was logged into out; returns the number
 * of audit entries written. */
static int64_t s_stop(lt_refuse_t **r, char *out, size_t cap)
{
    lt_refuse_destroy(r);
    CU_ASSERT_PTR_NULL(*r);
    lt_audit_destroy(&s_audit);
    ut_captured(s_saved, s_err, out, cap);
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(s_db, &db) == SQLITE_OK);
    int64_t entries = ut_sql_count(db, "SELECT count(*) FROM audit WHERE event = 'refused'");
    sqlite3_close(db);
    return entries;
}

static void s_note(lt_refuse_t *r, const char *source, const char *reason, const char *detail)
{
    lt_refuse_note(r, &(lt_refuse_event_t){.source = source, .reason = reason, .detail = detail});
}

static void test_first_at_once_then_counted(void)
{
    static char out[65536];
    lt_refuse_t *r = s_start(0);
    s_note(r, "192.0.2.7", "key is not in the directory", "key=K1 member=-");
    for (int i = 0; i < 99; i++) {
        s_now += 10;
        s_note(r, "192.0.2.7", "key is not in the directory",
               i == 98 ? "key=K99 member=-" : "key=K");
    }
    lt_refuse_tick(r); /* 1 s passed: nothing due */
    CU_ASSERT_EQUAL(lt_refuse_total(r), 100);
    CU_ASSERT_EQUAL(lt_refuse_tracked(r), 1);
    s_now += 9010;
    lt_refuse_tick(r); /* 10 s: the count of the 99 others */
    lt_refuse_tick(r); /* nothing new */
    int64_t entries = s_stop(&r, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 2);
    CU_ASSERT_EQUAL(ut_lines(out,
                             "refused connection from 192.0.2.7 key=K1 member=-: key is not in "
                             "the directory"),
                    1);
    CU_ASSERT_EQUAL(ut_lines(out, "refused 99 more connections from 192.0.2.7 in 10 s: key is not "
                                  "in the directory (last key=K99 member=-)"),
                    1);
    CU_ASSERT_EQUAL(entries, 2);
}

static void test_reasons_and_sources_apart(void)
{
    static char out[65536];
    lt_refuse_t *r = s_start(0);
    s_note(r, "192.0.2.7", "key is not in the directory", NULL);
    s_note(r, "192.0.2.7", "member is revoked", "member=VN/GOV/T");
    s_note(r, "192.0.2.8", "key is not in the directory", NULL);
    s_note(r, "192.0.2.8", "key is not in the directory", NULL);
    CU_ASSERT_EQUAL(lt_refuse_tracked(r), 3);
    lt_refuse_flush(r); /* reports the second of .8 without waiting */
    int64_t entries = s_stop(&r, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 4);
    CU_ASSERT_EQUAL(ut_lines(out, "from 192.0.2.7 member=VN/GOV/T: member is revoked"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "refused 1 more connections from 192.0.2.8"), 1);
    CU_ASSERT_EQUAL(entries, 4);
}

static void test_idle_pair_forgotten(void)
{
    static char out[65536];
    lt_refuse_t *r = s_start(0);
    s_note(r, "192.0.2.7", "key is not in the directory", NULL);
    s_now += 10000;
    lt_refuse_tick(r); /* idle for the whole interval: forgotten */
    CU_ASSERT_EQUAL(lt_refuse_tracked(r), 0);
    s_now += 60000;
    s_note(r, "192.0.2.7", "key is not in the directory", NULL); /* new again: at once */
    CU_ASSERT_EQUAL(lt_refuse_tracked(r), 1);
    s_now += 5000;
    lt_refuse_tick(r); /* not idle long enough (and the interval has not passed) */
    CU_ASSERT_EQUAL(lt_refuse_tracked(r), 1);
    int64_t entries = s_stop(&r, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "refused connection from 192.0.2.7: key is not in the directory"),
                    2);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 2);
    CU_ASSERT_EQUAL(entries, 2);
}

/* 2,000 sources, 20 refusals each, over 60 s, through a table of 16 pairs:
 * 16 lines at once, then per interval at most 16 counts and one for the
 * others; every refusal counted in some line. */
static void test_flood_bounded(void)
{
    static char out[1 << 20];
    lt_refuse_t *r = s_start(16);
    char src[32];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 2000; i++) {
            snprintf(src, sizeof src, "198.51.%d.%d", i / 250, i % 250);
            s_note(r, src, "key is not in the directory", "key=X");
        }
        s_now += 3000;
        lt_refuse_tick(r);
        CU_ASSERT(lt_refuse_tracked(r) <= 16);
    }
    lt_refuse_flush(r);
    CU_ASSERT_EQUAL(lt_refuse_total(r), 40000);
    int64_t entries = s_stop(&r, out, sizeof out);
    int lines = ut_lines(out, NULL);
    int intervals = 60000 / 10000; /* at most one report per interval passed */
    CU_ASSERT(lines <= 16 + intervals * (16 + 1));
    CU_ASSERT_EQUAL(ut_lines(out, "refused connection from"), 16);
    CU_ASSERT_EQUAL(ut_lines(out, "from sources beyond the 16 tracked"), 5); /* 12 s, 24 s, ... */
    CU_ASSERT_EQUAL(entries, lines);
    /* every refusal is in some count: sum what the lines say */
    uint64_t sum = 0;
    for (const char *p = out; (p = strstr(p, "refused ")) != NULL; p += 8) {
        unsigned long long n;
        if (sscanf(p, "refused %llu ", &n) == 1)
            sum += n;
        else if (strncmp(p, "refused connection from", 23) == 0)
            sum += 1;
    }
    CU_ASSERT_EQUAL(sum, 40000);
}

static void test_long_source_and_no_audit(void)
{
    static char out[65536];
    lt_refuse_t *r = s_start(4);
    lt_refuse_set_audit(r, NULL);
    char longsrc[300];
    memset(longsrc, 'a', sizeof longsrc - 1);
    longsrc[sizeof longsrc - 1] = '\0';
    for (int i = 0; i < 5; i++)
        lt_refuse_note(r, &(lt_refuse_event_t){.source = longsrc, .reason = NULL});
    CU_ASSERT_EQUAL(lt_refuse_tracked(r), 1); /* the truncated source still finds its pair */
    lt_refuse_flush(r);
    int64_t entries = s_stop(&r, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 2);
    CU_ASSERT_EQUAL(ut_lines(out, "refused 4 more connections"), 1);
    CU_ASSERT_EQUAL(entries, 0);
    lt_refuse_destroy(&r); /* idempotent */
    CU_ASSERT_PTR_NULL(r);
}

int main(void)
{
    if (sodium_init() < 0)
        return 2;
    lt_log_set_level(LT_LOG_DEBUG);
    static const ut_test_t tests[] = {
        {"the first refusal is written at once, the rest once per interval",
         test_first_at_once_then_counted},
        {"pairs of source and reason are counted apart", test_reasons_and_sources_apart},
        {"a pair idle for an interval is forgotten and new again", test_idle_pair_forgotten},
        {"a flood from many sources writes bounded lines and entries", test_flood_bounded},
        {"long sources are truncated, no audit log is allowed", test_long_source_and_no_audit},
        {NULL, NULL},
    };
    return ut_main("lt_refuse", suite_init, suite_clean, tests);
}

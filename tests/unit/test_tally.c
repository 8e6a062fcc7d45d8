/* test_tally: CUnit suite for core/lt_tally, events counted per key: the
 * first of a new key reported at once and never again, later ones once per
 * interval with their count and the last one's particulars; idle keys
 * forgotten; beyond the table's size events share the "others" count; a
 * flood of keys gives a bounded number of reports, each event in exactly
 * one; a key its owner forgets is reported new again at once. Reports
 * are recorded by the test's callback; the clock is the test's own. */
#include "unit_util.h"

#include "lt_tally.h"

#define MAX_REPORTS 4096

typedef struct {
    lt_tally_kind_t kind;
    char key[LT_TALLY_KEY_MAX];
    int info;
    uint64_t count;
    int64_t seconds;
} rep_t;

static rep_t s_reps[MAX_REPORTS];
static size_t s_n;
static int64_t s_now;

static int64_t s_clock(void *arg)
{
    (void)arg;
    return s_now;
}

static void s_record(void *arg, const lt_tally_report_t *rep)
{
    CU_ASSERT_PTR_EQUAL(arg, s_reps);
    if (s_n == MAX_REPORTS)
        return;
    rep_t *r = &s_reps[s_n++];
    r->kind = rep->kind;
    snprintf(r->key, sizeof r->key, "%s", rep->key);
    memcpy(&r->info, rep->info, sizeof r->info);
    r->count = rep->count;
    r->seconds = rep->seconds;
}

/* A table of max keys with a 10 s interval on the test's clock. */
static lt_tally_t *s_start(size_t max)
{
    s_n = 0;
    s_now = 1000000;
    lt_tally_t *t = lt_tally_new(10000, max, sizeof(int), s_record, s_reps);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(lt_tally_interval_ms(t), 10000);
    lt_tally_set_clock(t, s_clock, NULL);
    return t;
}

static void s_note(lt_tally_t *t, const char *key, int info)
{
    lt_tally_note(t, key, &info);
}

/* The sum of the counts of every report. */
static uint64_t s_sum(void)
{
    uint64_t n = 0;
    for (size_t i = 0; i < s_n; i++)
        n += s_reps[i].count;
    return n;
}

static void test_first_once_then_counted(void)
{
    lt_tally_t *t = s_start(4);
    s_note(t, "a", 1);
    CU_ASSERT_EQUAL_FATAL(s_n, 1);
    CU_ASSERT_EQUAL(s_reps[0].kind, LT_TALLY_FIRST);
    CU_ASSERT_STRING_EQUAL(s_reps[0].key, "a");
    CU_ASSERT_EQUAL(s_reps[0].info, 1);
    CU_ASSERT_EQUAL(s_reps[0].count, 1);
    for (int i = 2; i <= 100; i++) {
        s_now += 10;
        s_note(t, "a", i);
    }
    lt_tally_tick(t); /* 1 s: nothing due */
    CU_ASSERT_EQUAL(s_n, 1);
    CU_ASSERT_EQUAL(lt_tally_pending(t), 99);
    s_now += 9010;
    lt_tally_tick(t);
    lt_tally_tick(t); /* nothing new */
    CU_ASSERT_EQUAL_FATAL(s_n, 2);
    CU_ASSERT_EQUAL(s_reps[1].kind, LT_TALLY_COUNT);
    CU_ASSERT_EQUAL(s_reps[1].count, 99); /* the first is not counted again */
    CU_ASSERT_EQUAL(s_reps[1].info, 100); /* the last one's particulars */
    CU_ASSERT_EQUAL(s_reps[1].seconds, 10);
    CU_ASSERT_EQUAL(lt_tally_total(t), 100);
    CU_ASSERT_EQUAL(s_sum(), 100);
    lt_tally_flush(t); /* nothing pending: no report */
    CU_ASSERT_EQUAL(s_n, 2);
    lt_tally_destroy(&t);
    CU_ASSERT_PTR_NULL(t);
    lt_tally_destroy(&t); /* idempotent */
}

static void test_single_event_one_report(void)
{
    lt_tally_t *t = s_start(4);
    s_note(t, "a", 1);
    for (int i = 0; i < 5; i++) {
        s_now += 10000;
        lt_tally_tick(t);
    }
    lt_tally_flush(t);
    CU_ASSERT_EQUAL(s_n, 1); /* reported once, at once: no summary of zero or of one */
    CU_ASSERT_EQUAL(lt_tally_tracked(t), 0);
    lt_tally_destroy(&t);
}

static void test_idle_key_forgotten(void)
{
    lt_tally_t *t = s_start(4);
    s_note(t, "a", 1);
    s_now += 10000;
    lt_tally_tick(t);
    CU_ASSERT_EQUAL(lt_tally_tracked(t), 0);
    s_note(t, "a", 2); /* new again: at once */
    CU_ASSERT_EQUAL(lt_tally_tracked(t), 1);
    s_now += 5000;
    s_note(t, "a", 3);
    s_now += 5000;
    lt_tally_tick(t); /* counted: not idle */
    CU_ASSERT_EQUAL(lt_tally_tracked(t), 1);
    s_now += 10000;
    lt_tally_tick(t); /* idle for the interval now */
    CU_ASSERT_EQUAL(lt_tally_tracked(t), 0);
    CU_ASSERT_EQUAL_FATAL(s_n, 3);
    CU_ASSERT(s_reps[0].kind == LT_TALLY_FIRST && s_reps[1].kind == LT_TALLY_FIRST);
    CU_ASSERT(s_reps[2].kind == LT_TALLY_COUNT && s_reps[2].count == 1 && s_reps[2].info == 3);
    lt_tally_destroy(&t);
}

/* 1,000 keys, 20 events each, over 60 s, through a table of 8: 8 reported
 * at once, then per interval at most 8 counts and one for the others;
 * every event in exactly one report. */
static void test_flood_bounded(void)
{
    lt_tally_t *t = s_start(8);
    char key[32];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 1000; i++) {
            snprintf(key, sizeof key, "198.51.%d.%d", i / 250, i % 250);
            s_note(t, key, i);
        }
        s_now += 3000;
        lt_tally_tick(t);
        CU_ASSERT(lt_tally_tracked(t) <= 8);
    }
    lt_tally_flush(t);
    size_t first = 0, others = 0;
    for (size_t i = 0; i < s_n; i++) {
        first += s_reps[i].kind == LT_TALLY_FIRST;
        others += s_reps[i].kind == LT_TALLY_OTHERS;
    }
    CU_ASSERT_EQUAL(first, 8);
    CU_ASSERT_EQUAL(others, 5); /* at 12, 24, 36, 48 and 60 s; the flush finds none */
    CU_ASSERT(s_n <= 8 + 5 * (8 + 1));
    CU_ASSERT_EQUAL(lt_tally_total(t), 20000);
    CU_ASSERT_EQUAL(s_sum(), 20000);
    CU_ASSERT_EQUAL(lt_tally_pending(t), 0);
    lt_tally_destroy(&t);
}

static void test_long_key_and_no_info(void)
{
    lt_tally_t *t = s_start(2);
    char longkey[400];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    for (int i = 0; i < 5; i++)
        lt_tally_note(t, longkey, NULL);
    lt_tally_note(t, NULL, NULL);            /* no key: the empty key */
    CU_ASSERT_EQUAL(lt_tally_tracked(t), 2); /* the cut key still finds its entry */
    lt_tally_flush(t);
    CU_ASSERT_EQUAL_FATAL(s_n, 3);
    CU_ASSERT_EQUAL(strlen(s_reps[0].key), LT_TALLY_KEY_MAX - 1);
    CU_ASSERT_EQUAL(s_reps[0].info, 0);
    CU_ASSERT(s_reps[2].kind == LT_TALLY_COUNT && s_reps[2].count == 4);
    CU_ASSERT_PTR_NULL(lt_tally_new(1000, 1, 0, NULL, NULL));
    lt_tally_destroy(&t);
}

/* Two of the longest stream ids (a dataset's or a view's) that differ only
 * in their last character are two keys: the replicas' stop log and the
 * source's refusal log are keyed by them, and a cut key would merge two
 * streams' counts under one name. */
static void test_longest_ids_apart(void)
{
    lt_tally_t *t = s_start(4);
    char a[LT_STREAM_ID_MAX], b[LT_STREAM_ID_MAX];
    memset(a, 'v', sizeof a - 1);
    a[sizeof a - 1] = 0;
    memcpy(b, a, sizeof b);
    b[sizeof b - 2] = 'w';
    s_note(t, a, 1);
    s_note(t, b, 2);
    CU_ASSERT_EQUAL(lt_tally_tracked(t), 2);
    CU_ASSERT_EQUAL_FATAL(s_n, 2);
    CU_ASSERT_STRING_EQUAL(s_reps[0].key, a);
    CU_ASSERT_STRING_EQUAL(s_reps[1].key, b);
    lt_tally_destroy(&t);
}

/* Reports of the scale test, by kind, and their counts summed. */
typedef struct {
    size_t first, counts, others;
    uint64_t sum;
} tallied_t;

static void s_tally(void *arg, const lt_tally_report_t *rep)
{
    tallied_t *t = arg;
    t->first += rep->kind == LT_TALLY_FIRST;
    t->counts += rep->kind == LT_TALLY_COUNT;
    t->others += rep->kind == LT_TALLY_OTHERS;
    t->sum += rep->count;
}

/* Notes key number i of a family, once per call. */
static void s_note_nth(lt_tally_t *t, const char *family, int i)
{
    char key[64];
    snprintf(key, sizeof key, "%s-%d", family, i);
    lt_tally_note(t, key, &i);
}

/* A table of 20,000 keys met by as many distinct ones, each three times:
 * each found again among all the others (one first report, one count of
 * two), the pending count kept as the events come and go; half of them
 * idle for an interval are forgotten, and their slots taken by as many new
 * keys, the rest of which count with the others. An event was a pass over
 * the whole table, 400 million key comparisons here. */
static void test_many_keys(void)
{
    enum { MAX = 20000 };
    tallied_t got = {0};
    s_now = 1000000;
    lt_tally_t *t = lt_tally_new(10000, MAX, sizeof(int), s_tally, &got);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    lt_tally_set_clock(t, s_clock, NULL);
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < MAX; i++)
            s_note_nth(t, "a", i);
    CU_ASSERT_EQUAL(lt_tally_tracked(t), MAX);
    CU_ASSERT_EQUAL(got.first, MAX);
    CU_ASSERT_EQUAL(lt_tally_pending(t), 2 * MAX);
    s_now += 5000;
    for (int i = 0; i < MAX; i += 2) /* the even ones stay busy */
        s_note_nth(t, "a", i);
    CU_ASSERT_EQUAL(lt_tally_pending(t), 2 * MAX + MAX / 2);
    s_now += 5000;
    lt_tally_tick(t); /* reports every key: none idle yet */
    CU_ASSERT_EQUAL(got.counts, MAX);
    CU_ASSERT_EQUAL(lt_tally_pending(t), 0);
    CU_ASSERT_EQUAL(lt_tally_tracked(t), MAX);
    for (int i = 0; i < MAX; i += 2)
        s_note_nth(t, "a", i);
    s_now += 10000;
    lt_tally_tick(t); /* the odd ones idle for an interval: forgotten */
    CU_ASSERT_EQUAL(lt_tally_tracked(t), MAX / 2);
    CU_ASSERT_EQUAL(got.counts, MAX + MAX / 2);
    for (int i = 0; i < MAX; i++) /* half take the free slots, half are others */
        s_note_nth(t, "b", i);
    CU_ASSERT_EQUAL(lt_tally_tracked(t), MAX);
    CU_ASSERT_EQUAL(got.first, MAX + MAX / 2);
    CU_ASSERT_EQUAL(lt_tally_pending(t), MAX / 2);
    s_note_nth(t, "a", 0); /* still tracked, counted as its own */
    lt_tally_flush(t);
    CU_ASSERT_EQUAL(got.others, 1);
    CU_ASSERT_EQUAL(got.counts, MAX + MAX / 2 + 1);
    CU_ASSERT_EQUAL(lt_tally_pending(t), 0);
    CU_ASSERT_EQUAL(got.sum, lt_tally_total(t));
    CU_ASSERT_EQUAL(lt_tally_total(t), 3 * MAX + MAX / 2 + MAX / 2 + MAX + 1);
    lt_tally_destroy(&t);
}

/* A key its owner forgets has its pending count reported first, and its
 * next event is reported at once, even within the interval; the other
 * keys keep theirs; an unknown key is nothing. */
static void test_forget_reports_then_new(void)
{
    lt_tally_t *t = s_start(4);
    s_note(t, "a", 1);
    s_note(t, "b", 1);
    s_note(t, "a", 2);
    s_note(t, "a", 3);
    s_note(t, "b", 2);
    CU_ASSERT_EQUAL_FATAL(s_n, 2);
    s_now += 2500;
    lt_tally_forget(t, "a");
    CU_ASSERT_EQUAL_FATAL(s_n, 3);
    CU_ASSERT_EQUAL(s_reps[2].kind, LT_TALLY_COUNT);
    CU_ASSERT_STRING_EQUAL(s_reps[2].key, "a");
    CU_ASSERT_EQUAL(s_reps[2].count, 2);
    CU_ASSERT_EQUAL(s_reps[2].info, 3);
    CU_ASSERT_EQUAL(s_reps[2].seconds, 3);
    CU_ASSERT_EQUAL(lt_tally_tracked(t), 1);
    CU_ASSERT_EQUAL(lt_tally_pending(t), 1); /* b's */
    lt_tally_forget(t, "a");                 /* no longer tracked */
    lt_tally_forget(t, "c");
    CU_ASSERT_EQUAL(s_n, 3);
    s_note(t, "a", 4); /* new again: at once */
    CU_ASSERT_EQUAL_FATAL(s_n, 4);
    CU_ASSERT_EQUAL(s_reps[3].kind, LT_TALLY_FIRST);
    CU_ASSERT_EQUAL(s_reps[3].info, 4);
    lt_tally_forget(t, "a"); /* nothing pending: nothing reported */
    CU_ASSERT_EQUAL(s_n, 4);
    lt_tally_flush(t);
    CU_ASSERT_EQUAL_FATAL(s_n, 5);
    CU_ASSERT_STRING_EQUAL(s_reps[4].key, "b");
    CU_ASSERT_EQUAL(s_sum(), lt_tally_total(t));
    lt_tally_destroy(&t);
}

/* A count as the report lines say it: never "1 times". */
static void test_times(void)
{
    char buf[LT_TALLY_TIMES_MAX];
    CU_ASSERT_STRING_EQUAL(lt_tally_times(1, buf), "once");
    CU_ASSERT_STRING_EQUAL(lt_tally_times(0, buf), "0 times");
    CU_ASSERT_STRING_EQUAL(lt_tally_times(12, buf), "12 times");
    CU_ASSERT_STRING_EQUAL(lt_tally_times(UINT64_MAX, buf), "18446744073709551615 times");
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"the first event is reported at once and counted once", test_first_once_then_counted},
        {"a single event gives a single report", test_single_event_one_report},
        {"a key idle for an interval is forgotten and new again", test_idle_key_forgotten},
        {"a flood of keys gives bounded reports, each event in one", test_flood_bounded},
        {"long keys are cut and still found; no particulars are zeros", test_long_key_and_no_info},
        {"the longest stream ids, differing in their last character, are two keys",
         test_longest_ids_apart},
        {"many keys: each found, pending kept, forgotten slots taken again", test_many_keys},
        {"a key forgotten by its owner: its count reported, then new again",
         test_forget_reports_then_new},
        {"a count said in words: once, N times", test_times},
        {NULL, NULL},
    };
    return ut_main("lt_tally", NULL, NULL, tests);
}

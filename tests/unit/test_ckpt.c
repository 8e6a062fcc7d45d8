/* test_ckpt: CUnit suite for gateway/lt_ckpt, the checkpointer thread, and
 * the store's side of it (lt_store_wal_delegate, lt_store_checkpoint_path):
 * a delegated connection tells the delegate of each commit and copies
 * nothing itself below the cap; past the cap a commit
 * copies the log itself, so it stays bounded; the checkpointer copies the
 * log on its own thread when asked, after which the next commit starts the
 * log again, with every record still there; suspended it starts no pass;
 * a pass that fails is counted, the statistics name what happened; destroy
 * is idempotent. Waits for the thread are bounded; two checks (no pass while
 * suspended, none for a nudge below the threshold) give the thread 200 ms
 * to misbehave. */
#include "unit_util.h"
#include "unit_stats.h"

#include "lt_ckpt.h"
#include "lt_limits.h"
#include "lt_stats.h"
#include "lt_store.h"

#include <time.h>

#define REC_BYTES  3000 /* one record, most of a 4 KiB page */
#define PER_COMMIT 16

static char s_dir[256];
static int s_n;

typedef struct {
    int calls;
    int last, max;
    int dropped; /* a commit left fewer pages than the one before: the log restarted */
} seen_t;

static void s_seen(void *arg, int pages, int copied)
{
    (void)copied;
    seen_t *s = arg;
    if (s->calls && pages < s->last)
        s->dropped = 1;
    s->calls++;
    s->last = pages;
    if (pages > s->max)
        s->max = pages;
}

static int suite_init(void)
{
    return ut_mkdtemp(s_dir, sizeof s_dir, "ckpt");
}

static int suite_clean(void)
{
    return ut_rmrf(s_dir) == 0 ? 0 : -1;
}

/* A new store of its own for each test. */
static lt_store_t *s_store(char *path, size_t cap)
{
    char err[512];
    snprintf(path, cap, "%s/store%d.db", s_dir, ++s_n);
    lt_store_t *st = lt_store_open(path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(st);
    return st;
}

/* One commit of PER_COMMIT records after *seq; 0 or -1. */
static int s_commit(lt_store_t *st, uint64_t *seq)
{
    static uint8_t rec[REC_BYTES];
    lt_stream_t row;
    if (lt_store_begin(st) != 0 || lt_store_stream(st, "s", &row) != 0)
        return -1;
    for (int i = 0; i < PER_COMMIT; i++) {
        ++*seq;
        memset(rec, (int)(*seq & 0xff), sizeof rec);
        if (lt_store_append(st, row.id, *seq, rec, sizeof rec) != 0) {
            lt_store_rollback(st);
            return -1;
        }
    }
    return lt_store_commit(st);
}

/* Every record 1..n reads back with its bytes. */
static void s_all_there(lt_store_t *st, uint64_t n)
{
    lt_stream_t row;
    CU_ASSERT_EQUAL_FATAL(lt_store_stream_find(st, "s", &row), 1);
    for (uint64_t seq = 1; seq <= n; seq++) {
        uint8_t *rec = NULL;
        size_t len = 0;
        CU_ASSERT_EQUAL_FATAL(lt_store_get(st, row.id, seq, &rec, &len), 1);
        CU_ASSERT_EQUAL(len, REC_BYTES);
        CU_ASSERT(rec && rec[0] == (uint8_t)(seq & 0xff) && rec[len - 1] == (uint8_t)(seq & 0xff));
        free(rec);
    }
}

static void test_delegated_below_cap(void)
{
    char path[400];
    lt_store_t *st = s_store(path, sizeof path);
    seen_t seen = {0};
    lt_store_wal_delegate(st, s_seen, &seen, 4 * LT_STORE_WAL_PAGES);
    uint64_t seq = 0;
    while (seen.max < 2 * LT_STORE_WAL_PAGES && seq < 100000)
        CU_ASSERT_EQUAL_FATAL(s_commit(st, &seq), 0);
    /* Called at each commit, with a log that only grew: no commit copied
     * it (SQLite's own would have at 1,000 pages). */
    CU_ASSERT(seen.calls > 10);
    CU_ASSERT_FALSE(seen.dropped);
    CU_ASSERT(lt_store_wal_pages(st) >= 2 * LT_STORE_WAL_PAGES);
    s_all_there(st, seq);
    lt_store_destroy(&st);
}

static void test_cap_copies_in_line(void)
{
    char path[400];
    lt_store_t *st = s_store(path, sizeof path);
    seen_t seen = {0};
    int cap = LT_STORE_WAL_PAGES + LT_STORE_WAL_PAGES / 2;
    lt_store_wal_delegate(st, s_seen, &seen, cap);
    uint64_t seq = 0;
    /* Past the cap the commit copies the log itself, and the one after
     * starts it again: the log never holds much more than the cap. */
    for (int i = 0; i < 400; i++)
        CU_ASSERT_EQUAL_FATAL(s_commit(st, &seq), 0);
    CU_ASSERT(seen.calls > 0);
    CU_ASSERT(seen.dropped); /* the log started again: it was copied */
    CU_ASSERT(lt_store_wal_pages(st) < cap + 4 * PER_COMMIT);
    s_all_there(st, seq);
    /* Taken back: SQLite's own automatic checkpoint again, no more calls. */
    lt_store_wal_delegate(st, NULL, NULL, 0);
    int calls = seen.calls;
    for (int i = 0; i < 200; i++)
        CU_ASSERT_EQUAL_FATAL(s_commit(st, &seq), 0);
    CU_ASSERT_EQUAL(seen.calls, calls);
    lt_store_destroy(&st);
}

/* Waits up to 10 s for the checkpointer to finish `passes` passes. */
static int s_wait_passes(lt_ckpt_t *c, unsigned long passes)
{
    for (int i = 0; i < 1000 && lt_ckpt_passes(c) < passes; i++)
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    return lt_ckpt_passes(c) >= passes;
}

/* Forwards the store's nudges to the checkpointer only when asked, so that
 * a test decides when a pass may start. */
typedef struct {
    lt_ckpt_t *c;
    int forward;
    int last;  /* pages after the commit before */
    int added; /* pages the commits added since counting began */
} fwd_t;

static void s_fwd(void *arg, int pages, int copied)
{
    fwd_t *f = arg;
    f->added += pages >= f->last ? pages - f->last : pages;
    f->last = pages;
    if (f->forward)
        lt_ckpt_nudge(f->c, pages, copied);
}

static void test_thread_copies(void)
{
    char path[400], err[512];
    lt_store_t *st = s_store(path, sizeof path);
    lt_stats_t *stats = lt_stats_new();
    lt_ckpt_t *c = lt_ckpt_new(path, stats, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    fwd_t f = {.c = c};
    lt_store_wal_delegate(st, s_fwd, &f, LT_STORE_WAL_CAP_PAGES);
    /* Nothing copies the log while the checkpointer is not asked. */
    uint64_t seq = 0;
    while (lt_store_wal_pages(st) < LT_STORE_WAL_PAGES)
        CU_ASSERT_EQUAL_FATAL(s_commit(st, &seq), 0);
    int pages = lt_store_wal_pages(st);
    CU_ASSERT_EQUAL(lt_ckpt_passes(c), 0);
    /* Fewer new pages than the threshold ask for nothing. */
    lt_ckpt_nudge(c, LT_STORE_WAL_PAGES - 1, 0);
    nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    CU_ASSERT_EQUAL(lt_ckpt_passes(c), 0);
    /* Asked with the commits stopped, one pass copies every page... */
    lt_ckpt_nudge(c, pages, 0);
    CU_ASSERT_FATAL(s_wait_passes(c, 1));
    CU_ASSERT_EQUAL(lt_ckpt_passes(c), 1);
    CU_ASSERT_EQUAL(lt_ckpt_failures(c), 0);
    CU_ASSERT_EQUAL(ut_stat(stats, "lienthong_store_wal_pages").gauge, pages);
    CU_ASSERT_EQUAL(ut_stat(stats, "lienthong_store_checkpoint_latency").count, 1);
    /* ...so the next commit starts the log from its beginning. */
    CU_ASSERT_EQUAL(s_commit(st, &seq), 0);
    CU_ASSERT(lt_store_wal_pages(st) > 0 && lt_store_wal_pages(st) < 4 * PER_COMMIT);
    /* Suspended, it starts no pass; resumed, it runs the one the commits
     * asked for meanwhile. */
    lt_ckpt_suspend(c);
    f.forward = 1;
    while (lt_store_wal_pages(st) < LT_STORE_WAL_PAGES)
        CU_ASSERT_EQUAL_FATAL(s_commit(st, &seq), 0);
    nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    CU_ASSERT_EQUAL(lt_ckpt_passes(c), 1);
    lt_ckpt_resume(c);
    CU_ASSERT(s_wait_passes(c, 2));
    /* Driven by the commits themselves: a pass for each threshold's worth
     * of new pages, not one for every commit. */
    f.added = 0;
    for (int i = 0; i < 600; i++)
        CU_ASSERT_EQUAL_FATAL(s_commit(st, &seq), 0);
    CU_ASSERT(s_wait_passes(c, 3));
    CU_ASSERT(f.added > 5 * LT_STORE_WAL_PAGES);
    CU_ASSERT(lt_ckpt_passes(c) - 2 <= (unsigned long)(f.added / LT_STORE_WAL_PAGES + 2));
    CU_ASSERT_EQUAL(lt_ckpt_failures(c), 0);
    s_all_there(st, seq);
    /* Reopened from the file alone, after the connections are gone. */
    lt_store_destroy(&st);
    lt_ckpt_destroy(&c);
    lt_ckpt_destroy(&c);
    CU_ASSERT_PTR_NULL(c);
    st = lt_store_open(path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(st);
    s_all_there(st, seq);
    lt_store_destroy(&st);
    lt_stats_destroy(&stats);
}

/* Forwards every commit to the checkpointer and keeps the largest log. */
typedef struct {
    lt_ckpt_t *c;
    int max, restarts, last;
    int in_line; /* commits that copied the log themselves, at the cap */
} bound_t;

static void s_bound(void *arg, int pages, int copied)
{
    bound_t *b = arg;
    b->in_line += copied;
    if (pages > b->max)
        b->max = pages;
    if (pages < b->last)
        b->restarts++;
    b->last = pages;
    lt_ckpt_nudge(b->c, pages, copied);
}

static void test_thread_and_cap(void)
{
    char path[400], err[512];
    lt_store_t *st = s_store(path, sizeof path);
    lt_ckpt_t *c = lt_ckpt_new(path, NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    bound_t b = {.c = c};
    int cap = 3 * LT_STORE_WAL_PAGES;
    lt_store_wal_delegate(st, s_bound, &b, cap);
    uint64_t seq = 0;
    /* Several times the cap: the thread copies at the threshold, a commit
     * at the cap copies in line and asks the thread for nothing, and the
     * log starts again each time instead of growing on. */
    for (int i = 0; i < 800; i++)
        CU_ASSERT_EQUAL_FATAL(s_commit(st, &seq), 0);
    CU_ASSERT(b.restarts >= 3);
    CU_ASSERT(b.max < cap + 40 * PER_COMMIT);
    CU_ASSERT(lt_ckpt_passes(c) > 0);
    /* Copied in line at the cap at least once, or every restart came from
     * a pass of the thread: either way the log never outgrew the cap. */
    CU_ASSERT(b.in_line > 0 || b.max < cap);
    CU_ASSERT_EQUAL(lt_ckpt_failures(c), 0);
    s_all_there(st, seq);
    lt_store_destroy(&st);
    lt_ckpt_destroy(&c);
}

static void test_failed_pass(void)
{
    char path[400], err[512];
    snprintf(path, sizeof path, "%s/missing/store.db", s_dir);
    lt_stats_t *stats = lt_stats_new();
    lt_ckpt_t *c = lt_ckpt_new(path, stats, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    lt_ckpt_nudge(c, LT_STORE_WAL_PAGES, 0);
    CU_ASSERT(s_wait_passes(c, 1));
    CU_ASSERT_EQUAL(lt_ckpt_failures(c), 1);
    CU_ASSERT_EQUAL(ut_stat(stats, "lienthong_store_checkpoint_failures").counter, 1);
    int pages = 0, copied = 0;
    CU_ASSERT_EQUAL(lt_store_checkpoint_path(path, &pages, &copied, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
    lt_ckpt_destroy(&c);
    lt_stats_destroy(&stats);
    /* Without statistics, and never nudged. */
    c = lt_ckpt_new(path, NULL, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL(c);
    lt_ckpt_destroy(&c);
    lt_ckpt_destroy(NULL);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"delegated, a commit below the cap copies nothing itself", test_delegated_below_cap},
        {"past the cap a commit copies the log itself; the log stays bounded",
         test_cap_copies_in_line},
        {"the checkpointer copies on its thread; the next commit restarts the log",
         test_thread_copies},
        {"with the thread, commits at the cap keep the log bounded", test_thread_and_cap},
        {"a pass that fails is counted and names the file", test_failed_pass},
        {NULL, NULL},
    };
    return ut_main("lt_ckpt", suite_init, suite_clean, tests);
}

/* lt_ckpt: the checkpointer thread (see lt_ckpt.h). Nudges set a flag
 * under a mutex and signal the thread; the thread runs one pass per wake,
 * and a nudge that comes during a pass asks for the next one. Suspending
 * waits for the pass in progress and holds the next until resumed. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "lt_ckpt.h"
#include "lt_clock.h"
#include "lt_gwstats.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _lt_ckpt_t {
    char path[4096];
    pthread_t tid;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int pending;   /* a pass was asked for; under mu */
    int stop;      /* under mu */
    int suspended; /* no pass starts (lt_ckpt_suspend); under mu */
    int running;   /* a pass is in progress; under mu */
    /* The log's size at the last commit, and the pages of it the last
     * pass copied: a nudge asks for a pass only once LT_STORE_WAL_PAGES
     * more have come, as SQLite's own checkpoint would, not at every
     * commit of a log that has not yet started again. A commit that finds
     * the log smaller than the one before has seen it start again: it sets
     * copied to 0 and moves the generation in the high half, so that a pass
     * that ended meanwhile does not put back what it copied of the old log
     * (one compare-and-swap on both). */
    atomic_int seen;
    atomic_ullong copied; /* generation << 32 | pages copied */
    /* 1 from a nudge until the thread takes it: later nudges skip the
     * mutex, so a run of commits costs one signal per pass. */
    atomic_int asked;
    atomic_ulong passes, failures;
    int failing; /* the last pass failed: the next success is logged (thread only) */
    lt_stats_series_t *st_latency, *st_pages, *st_failures;
};

static void s_stats(lt_ckpt_t *self, lt_stats_t *stats)
{
    static const lt_stats_def_t latency = {
        .name = "lienthong_store_checkpoint_latency",
        .help = "Time of one checkpoint of the store's write-ahead log into the store file, "
                "its fsync included",
        .kind = LT_STATS_HISTOGRAM,
        .unit = LT_STATS_UNIT_SECONDS};
    static const lt_stats_def_t pages = {
        .name = "lienthong_store_wal_pages",
        .help = "Pages in the store's write-ahead log after the last commit (4 KiB each); it "
                "starts again from its beginning once all are copied",
        .kind = LT_STATS_GAUGE};
    static const lt_stats_def_t failures = {
        .name = "lienthong_store_checkpoint_failures",
        .help = "Checkpoints of the store that failed (logged); the commits stay durable in "
                "the write-ahead log",
        .kind = LT_STATS_COUNTER};
    if (!stats)
        return;
    self->st_latency = lt_gwstats_series(stats, &latency, NULL);
    self->st_pages = lt_gwstats_series(stats, &pages, NULL);
    self->st_failures = lt_gwstats_series(stats, &failures, NULL);
}

/* One pass; failures are logged once until a pass succeeds again, so a
 * full disk does not flood the log at every commit. */
static void s_pass(lt_ckpt_t *self)
{
    char err[600];
    int pages = 0, copied = 0;
    unsigned long long before = atomic_load(&self->copied);
    int64_t t0 = lt_clock_mono_us();
    int rc = lt_store_checkpoint_path(self->path, &pages, &copied, err, sizeof err);
    if (rc == 1) { /* a commit at the cap copies in line meanwhile, or a lock */
        atomic_fetch_add(&self->passes, 1);
        return;
    }
    if (rc != 0) {
        atomic_fetch_add(&self->failures, 1);
        if (self->st_failures)
            lt_stats_inc(self->st_failures);
        if (!self->failing)
            lt_warn("store", "%s (the commits stay in the write-ahead log)", err);
        self->failing = 1;
    } else {
        if (self->failing)
            lt_info("store", "checkpoints of %s succeed again", self->path);
        self->failing = 0;
        /* Kept only if the log did not start again since the pass began. */
        unsigned long long want = (before & ~0xffffffffULL) | (unsigned)(copied > 0 ? copied : 0);
        (void)atomic_compare_exchange_strong(&self->copied, &before, want);
        if (self->st_latency)
            lt_stats_observe_us(self->st_latency, (uint64_t)(lt_clock_mono_us() - t0));
    }
    atomic_fetch_add(&self->passes, 1);
}

/* Pages of the log not yet copied, as the last commit left it. A log
 * smaller than what was copied has started again from its beginning. */
static int s_uncopied(lt_ckpt_t *self)
{
    int seen = atomic_load(&self->seen);
    int copied = (int)(atomic_load(&self->copied) & 0xffffffffULL);
    return seen >= copied ? seen - copied : seen;
}

static void *s_run(void *arg)
{
    lt_ckpt_t *self = arg;
    /* Named for operators: `top -H` and perf show it apart. */
    (void)pthread_setname_np(pthread_self(), "lt-ckpt");
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while ((!self->pending || self->suspended) && !self->stop)
            pthread_cond_wait(&self->cv, &self->mu);
        if (self->stop)
            break;
        self->pending = 0;
        self->running = 1;
        /* Cleared before the pass: a commit during it asks for another. */
        atomic_store(&self->asked, 0);
        pthread_mutex_unlock(&self->mu);
        /* A commit during the last pass asked before that pass had said
         * what it copied: not a pass for a handful of pages. */
        if (s_uncopied(self) >= LT_STORE_WAL_PAGES)
            s_pass(self);
        pthread_mutex_lock(&self->mu);
        self->running = 0;
        pthread_cond_broadcast(&self->cv); /* lt_ckpt_suspend waits for it */
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

lt_ckpt_t *lt_ckpt_new(const char *store_path, lt_stats_t *stats, char *err, size_t errlen)
{
    lt_ckpt_t *self = calloc(1, sizeof *self);
    int mu = 0, cv = 0;
    if (!self) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if ((size_t)snprintf(self->path, sizeof self->path, "%s", store_path) >= sizeof self->path) {
        snprintf(err, errlen, "checkpointer: the store path is too long");
        goto fail;
    }
    if (pthread_mutex_init(&self->mu, NULL) != 0) {
        snprintf(err, errlen, "checkpointer: cannot create a mutex");
        goto fail;
    }
    mu = 1;
    if (pthread_cond_init(&self->cv, NULL) != 0) {
        snprintf(err, errlen, "checkpointer: cannot create a condition variable");
        goto fail;
    }
    cv = 1;
    s_stats(self, stats);
    if (pthread_create(&self->tid, NULL, s_run, self) != 0) {
        snprintf(err, errlen, "cannot start the checkpointer thread");
        goto fail;
    }
    self->started = 1;
    return self;
fail: /* only what was made is undone: no thread runs yet */
    if (cv)
        pthread_cond_destroy(&self->cv);
    if (mu)
        pthread_mutex_destroy(&self->mu);
    free(self);
    return NULL;
}

void lt_ckpt_destroy(lt_ckpt_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_ckpt_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock(&self->mu);
        self->stop = 1;
        pthread_cond_broadcast(&self->cv);
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->tid, NULL);
    }
    pthread_cond_destroy(&self->cv);
    pthread_mutex_destroy(&self->mu);
    free(self);
    *self_p = NULL;
}

void lt_ckpt_nudge(void *arg, int pages, int copied)
{
    lt_ckpt_t *self = arg;
    if (self->st_pages)
        lt_stats_set(self->st_pages, pages);
    /* The writer's and the poll loop's commits may report out of order:
     * then a restart is seen that was none, which costs one early pass. */
    if (pages < atomic_exchange(&self->seen, pages)) {
        unsigned long long c = atomic_load(&self->copied);
        while (!atomic_compare_exchange_weak(&self->copied, &c, ((c >> 32) + 1) << 32))
            ;
    }
    if (copied) {
        /* The commit copied the log in line (at the cap): no pass now. One
         * would open a read transaction just as the next write tries to
         * start the log again, which a reader prevents, and the log would
         * grow on past the cap, commit after commit. */
        unsigned long long c = atomic_load(&self->copied);
        while (!atomic_compare_exchange_weak(&self->copied, &c,
                                             (c & ~0xffffffffULL) | (unsigned)pages))
            ;
        return;
    }
    if (s_uncopied(self) < LT_STORE_WAL_PAGES)
        return;
    if (atomic_exchange(&self->asked, 1))
        return; /* asked already, not yet taken */
    pthread_mutex_lock(&self->mu);
    self->pending = 1;
    pthread_cond_broadcast(&self->cv); /* the thread, or lt_ckpt_suspend */
    pthread_mutex_unlock(&self->mu);
}

void lt_ckpt_suspend(lt_ckpt_t *self)
{
    pthread_mutex_lock(&self->mu);
    self->suspended = 1;
    while (self->running)
        pthread_cond_wait(&self->cv, &self->mu);
    pthread_mutex_unlock(&self->mu);
}

void lt_ckpt_resume(lt_ckpt_t *self)
{
    pthread_mutex_lock(&self->mu);
    self->suspended = 0;
    pthread_cond_broadcast(&self->cv);
    pthread_mutex_unlock(&self->mu);
}

unsigned long lt_ckpt_passes(lt_ckpt_t *self)
{
    return atomic_load(&self->passes);
}

unsigned long lt_ckpt_failures(lt_ckpt_t *self)
{
    return atomic_load(&self->failures);
}

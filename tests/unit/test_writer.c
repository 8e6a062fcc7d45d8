/* test_writer: CUnit suite for gateway/lt_writer, the gateway's writer
 * thread: a job runs on another thread with the writer's own connection,
 * and what it commits is seen by the poll loop's connection once the job
 * is back; the poll loop is never blocked while the job runs (done is
 * NULL, the hand-back socket is not readable); a second job is refused
 * until the first is taken; settle waits for the job and keeps it for
 * done; suspended around a store file replaced (as lt_store_rebuild does)
 * the writer follows the new file and what the new file's connection
 * committed stays; a writer never resumed opens the store before its next
 * job, and one it cannot open is logged once until it opens again; a writer
 * destroyed with a job in flight waits for it. Jobs are held at a
 * gate (a pipe) so that every step is ordered, never timed. */
#include "unit_util.h"

#include "lt_store.h"
#include "lt_writer.h"

#include <pthread.h>
#include <zmq.h>

static void *s_zctx;
static char s_dir[256], s_path[300];

typedef struct {
    int gate;         /* read end: the job waits for one byte */
    const char *name; /* the stream it creates */
    pthread_t ran_on; /* the thread it ran on */
    int rc;           /* 0 when its commit succeeded */
} job_t;

static void s_job(void *arg, lt_store_t *store)
{
    job_t *j = arg;
    char b;
    j->ran_on = pthread_self();
    if (j->gate >= 0 && read(j->gate, &b, 1) != 1) {
        j->rc = -1;
        return;
    }
    lt_stream_t st;
    j->rc = store && lt_store_begin(store) == 0 && lt_store_stream(store, j->name, &st) == 0 &&
                    lt_store_commit(store) == 0
                ? 0
                : -1;
}

static int suite_init(void)
{
    if (ut_mkdtemp(s_dir, sizeof s_dir, "writer") != 0)
        return -1;
    snprintf(s_path, sizeof s_path, "%s/store.db", s_dir);
    return (s_zctx = zmq_ctx_new()) ? 0 : -1;
}

static int suite_clean(void)
{
    zmq_ctx_term(s_zctx);
    return ut_rmrf(s_dir) == 0 ? 0 : -1;
}

/* 1 when the stream exists, seen through a connection of our own. */
static int s_seen(lt_store_t *mine, const char *name)
{
    lt_stream_t st;
    return lt_store_stream_find(mine, name, &st) == 1;
}

/* Waits for the hand-back socket: 1 when readable within 10 s. */
static int s_readable(lt_writer_t *w)
{
    zmq_pollitem_t it = {lt_writer_socket(w), 0, ZMQ_POLLIN, 0};
    return zmq_poll(&it, 1, 10000) == 1;
}

static void test_job_on_its_own_thread(void)
{
    char err[300];
    int gate[2] = {-1, -1};
    lt_store_t *mine = lt_store_open(s_path, err, sizeof err);
    lt_writer_t *w = lt_writer_new(s_zctx, s_path, 16, NULL, NULL, err, sizeof err);
    CU_ASSERT_FATAL(mine && w && pipe(gate) == 0);
    job_t j = {.gate = gate[0], .name = "VN/GOV/BCA/population"};
    job_t other = {.gate = -1, .name = "VN/GOV/BCA/other"};
    CU_ASSERT(!lt_writer_busy(w) && lt_writer_done(w) == NULL);
    CU_ASSERT(lt_writer_submit(w, s_job, &j) == 0);
    /* Held at the gate: the caller goes on, nothing is back. */
    CU_ASSERT(lt_writer_busy(w));
    CU_ASSERT(lt_writer_done(w) == NULL);
    zmq_pollitem_t it = {lt_writer_socket(w), 0, ZMQ_POLLIN, 0};
    CU_ASSERT(zmq_poll(&it, 1, 0) == 0);
    CU_ASSERT(lt_writer_submit(w, s_job, &other) == -1); /* one job at a time */
    CU_ASSERT(!s_seen(mine, j.name));
    CU_ASSERT(write(gate[1], "x", 1) == 1);
    CU_ASSERT(s_readable(w));
    CU_ASSERT(lt_writer_done(w) == &j);
    CU_ASSERT(!lt_writer_busy(w) && lt_writer_done(w) == NULL);
    CU_ASSERT(j.rc == 0 && !pthread_equal(j.ran_on, pthread_self()));
    CU_ASSERT(s_seen(mine, j.name)); /* committed before it came back */
    CU_ASSERT(lt_writer_submit(w, s_job, &other) == 0);
    CU_ASSERT(s_readable(w) && lt_writer_done(w) == &other && other.rc == 0);
    CU_ASSERT(pthread_equal(other.ran_on, j.ran_on));
    lt_writer_destroy(&w);
    lt_writer_destroy(&w); /* idempotent */
    CU_ASSERT(w == NULL);
    lt_store_destroy(&mine);
    close(gate[0]);
    close(gate[1]);
}

static void test_settle_keeps_the_job(void)
{
    char err[300];
    int gate[2] = {-1, -1};
    lt_writer_t *w = lt_writer_new(s_zctx, s_path, 16, NULL, NULL, err, sizeof err);
    CU_ASSERT_FATAL(w && pipe(gate) == 0);
    CU_ASSERT(lt_writer_settle(w) == 0); /* nothing in flight */
    job_t j = {.gate = gate[0], .name = "VN/GOV/BCA/settled"};
    CU_ASSERT(lt_writer_submit(w, s_job, &j) == 0);
    CU_ASSERT(write(gate[1], "x", 1) == 1);
    CU_ASSERT(lt_writer_settle(w) == 0);
    CU_ASSERT(j.rc == 0 && lt_writer_busy(w)); /* finished, not yet taken */
    CU_ASSERT(lt_writer_submit(w, s_job, &j) == -1);
    CU_ASSERT(lt_writer_done(w) == &j && !lt_writer_busy(w));
    /* Destroyed with a job in flight: it waits for the job. */
    job_t last = {.gate = gate[0], .name = "VN/GOV/BCA/last"};
    CU_ASSERT(lt_writer_submit(w, s_job, &last) == 0);
    CU_ASSERT(write(gate[1], "x", 1) == 1);
    lt_writer_destroy(&w);
    CU_ASSERT(last.rc == 0);
    close(gate[0]);
    close(gate[1]);
}

/* 1 when a stream called name could be created through store. */
static int s_create(lt_store_t *store, const char *name)
{
    lt_stream_t st;
    return lt_store_begin(store) == 0 && lt_store_stream(store, name, &st) == 0 &&
           lt_store_commit(store) == 0;
}

/* The store file is replaced as lt_store_rebuild does it (the old file
 * moved away, its WAL files unlinked, a new file at the path), with the
 * writer suspended around the swap: the writer's commits land in the new
 * file, and what the new file's own connection committed before the
 * writer resumed stays there for a connection opened later. */
static void test_suspend_around_a_new_file(void)
{
    char err[300], moved[320], side[340];
    lt_writer_t *w = lt_writer_new(s_zctx, s_path, 16, NULL, NULL, err, sizeof err);
    if (!w)
        fprintf(stderr, "\n  lt_writer_new: %s\n", err);
    CU_ASSERT_FATAL(w != NULL);
    job_t j = {.gate = -1, .name = "VN/GOV/BCA/before-swap"};
    CU_ASSERT(lt_writer_submit(w, s_job, &j) == 0);
    CU_ASSERT(s_readable(w) && lt_writer_done(w) == &j && j.rc == 0);
    CU_ASSERT_FATAL(lt_writer_suspend(w) == 0);
    snprintf(moved, sizeof moved, "%s.old", s_path);
    CU_ASSERT_FATAL(rename(s_path, moved) == 0);
    for (const char *ext = "-wal"; ext; ext = ext[1] == 'w' ? "-shm" : NULL) {
        snprintf(side, sizeof side, "%s%s", s_path, ext);
        (void)unlink(side);
    }
    lt_store_t *fresh = lt_store_open(s_path, err, sizeof err);
    CU_ASSERT_FATAL(fresh != NULL);
    CU_ASSERT(s_create(fresh, "VN/GOV/BCA/in-the-new-file"));
    CU_ASSERT(lt_writer_resume(w, err, sizeof err) == 0);
    j = (job_t){.gate = -1, .name = "VN/GOV/BCA/after-resume"};
    CU_ASSERT(lt_writer_submit(w, s_job, &j) == 0);
    CU_ASSERT(s_readable(w) && lt_writer_done(w) == &j && j.rc == 0);
    lt_store_t *later = lt_store_open(s_path, err, sizeof err);
    CU_ASSERT_FATAL(later != NULL);
    CU_ASSERT(s_seen(later, "VN/GOV/BCA/in-the-new-file"));
    CU_ASSERT(s_seen(later, "VN/GOV/BCA/after-resume"));
    CU_ASSERT(!s_seen(later, "VN/GOV/BCA/before-swap")); /* that was the old file */
    /* Suspended and never resumed: the thread opens the store before the
     * next job. */
    CU_ASSERT_FATAL(lt_writer_suspend(w) == 0);
    j = (job_t){.gate = -1, .name = "VN/GOV/BCA/opened-by-the-thread"};
    CU_ASSERT(lt_writer_submit(w, s_job, &j) == 0);
    CU_ASSERT(s_readable(w) && lt_writer_done(w) == &j && j.rc == 0);
    CU_ASSERT(s_seen(later, j.name));
    lt_store_destroy(&later);
    lt_store_destroy(&fresh);
    lt_writer_destroy(&w);
}

/* A store the thread cannot open (a directory where the file was) is
 * tried before each job and logged once, not once per job, until it opens
 * again, which is logged too. */
static void test_unopenable_store_logged_once(void)
{
    char err[300], moved[320], log[320], out[8192];
    lt_writer_t *w = lt_writer_new(s_zctx, s_path, 16, NULL, NULL, err, sizeof err);
    CU_ASSERT_FATAL(w != NULL);
    CU_ASSERT_FATAL(lt_writer_suspend(w) == 0);
    snprintf(moved, sizeof moved, "%s.away", s_path);
    snprintf(log, sizeof log, "%s/log", s_dir);
    CU_ASSERT_FATAL(rename(s_path, moved) == 0 && mkdir(s_path, 0700) == 0);
    int saved = ut_capture(log);
    for (int i = 0; i < 5; i++) {
        job_t j = {.gate = -1, .name = "VN/GOV/BCA/never"};
        CU_ASSERT(lt_writer_submit(w, s_job, &j) == 0);
        CU_ASSERT(s_readable(w) && lt_writer_done(w) == &j && j.rc == -1);
    }
    ut_captured(saved, log, out, sizeof out);
    close(saved);
    CU_ASSERT_EQUAL(ut_lines(out, "cannot open the store"), 1);
    CU_ASSERT_FATAL(rmdir(s_path) == 0 && rename(moved, s_path) == 0);
    saved = ut_capture(log);
    for (int i = 0; i < 2; i++) {
        job_t j = {.gate = -1, .name = i ? "VN/GOV/BCA/reopened-2" : "VN/GOV/BCA/reopened"};
        CU_ASSERT(lt_writer_submit(w, s_job, &j) == 0);
        CU_ASSERT(s_readable(w) && lt_writer_done(w) == &j && j.rc == 0);
    }
    ut_captured(saved, log, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, "opens again"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 1);
    close(saved);
    lt_writer_destroy(&w);
}

static void test_bad_path(void)
{
    char err[300] = "";
    lt_writer_t *w =
        lt_writer_new(s_zctx, "/nonexistent-dir/store.db", 16, NULL, NULL, err, sizeof err);
    CU_ASSERT(w == NULL);
    CU_ASSERT(strstr(err, "/nonexistent-dir/store.db") != NULL);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a job runs on the writer's thread; the caller is never blocked",
         test_job_on_its_own_thread},
        {"settle waits for the job and keeps it; destroy waits too", test_settle_keeps_the_job},
        {"suspended around a new store file, the writer follows it",
         test_suspend_around_a_new_file},
        {"a store the thread cannot open: logged once until it opens again",
         test_unopenable_store_logged_once},
        {"a store that cannot be opened: NULL, naming the path", test_bad_path},
        {NULL, NULL},
    };
    return ut_main("lt_writer", suite_init, suite_clean, tests);
}

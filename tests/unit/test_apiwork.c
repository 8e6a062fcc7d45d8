/* test_apiwork: CUnit suite for api/lt_apiwork, the HTTP API's threads for
 * the requests that block. */
#include "unit_util.h"

#include "lt_apiwork.h"

#include <pthread.h>
#include <unistd.h>

typedef struct {
    pthread_mutex_t lock;
    int ran[64]; /* how often each job ran */
    int order[64], n;
    int hold; /* jobs wait while set */
} log_t;

static void s_job(void *arg, void *job)
{
    log_t *l = arg;
    int i = (int)(intptr_t)job;
    while (__atomic_load_n(&l->hold, __ATOMIC_SEQ_CST))
        usleep(1000);
    pthread_mutex_lock(&l->lock);
    l->ran[i]++;
    l->order[l->n++] = i;
    pthread_mutex_unlock(&l->lock);
}

static void test_every_job_runs_once(void)
{
    log_t l = {.lock = PTHREAD_MUTEX_INITIALIZER};
    lt_apiwork_t *w = lt_apiwork_new(4, 64, s_job, &l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    for (int i = 0; i < 64; i++)
        CU_ASSERT_EQUAL(lt_apiwork_put(w, (void *)(intptr_t)i), 0);
    /* The stop runs what was queued before it returns. */
    lt_apiwork_destroy(&w);
    CU_ASSERT_PTR_NULL(w);
    lt_apiwork_destroy(&w);
    CU_ASSERT_EQUAL(l.n, 64);
    for (int i = 0; i < 64; i++)
        CU_ASSERT_EQUAL(l.ran[i], 1);
}

static void test_full_queue_refuses(void)
{
    log_t l = {.lock = PTHREAD_MUTEX_INITIALIZER, .hold = 1};
    lt_apiwork_t *w = lt_apiwork_new(1, 3, s_job, &l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    /* One job held on the thread; three wait; the fifth finds no room. */
    CU_ASSERT_EQUAL(lt_apiwork_put(w, (void *)(intptr_t)0), 0);
    usleep(50000);
    for (int i = 1; i <= 3; i++)
        CU_ASSERT_EQUAL(lt_apiwork_put(w, (void *)(intptr_t)i), 0);
    CU_ASSERT_EQUAL(lt_apiwork_put(w, (void *)(intptr_t)4), -1);
    __atomic_store_n(&l.hold, 0, __ATOMIC_SEQ_CST);
    lt_apiwork_destroy(&w);
    /* One thread: in the order they came. */
    CU_ASSERT_EQUAL(l.n, 4);
    for (int i = 0; i < 4; i++)
        CU_ASSERT_EQUAL(l.order[i], i);
    CU_ASSERT_EQUAL(l.ran[4], 0);
}

/* The stop runs what was queued and refuses later jobs, the pool still
 * there for callers that may put until the owner frees it. */
static void test_stop_then_put_refused(void)
{
    log_t l = {.lock = PTHREAD_MUTEX_INITIALIZER};
    lt_apiwork_t *w = lt_apiwork_new(2, 8, s_job, &l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(w);
    for (int i = 0; i < 8; i++)
        CU_ASSERT_EQUAL(lt_apiwork_put(w, (void *)(intptr_t)i), 0);
    lt_apiwork_stop(w);
    CU_ASSERT_EQUAL(l.n, 8);
    CU_ASSERT_EQUAL(lt_apiwork_put(w, (void *)(intptr_t)8), -1);
    lt_apiwork_stop(w);
    CU_ASSERT_EQUAL(lt_apiwork_put(w, (void *)(intptr_t)9), -1);
    lt_apiwork_destroy(&w);
    CU_ASSERT_PTR_NULL(w);
    CU_ASSERT_EQUAL(l.n, 8);
    CU_ASSERT_EQUAL(l.ran[8] + l.ran[9], 0);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"every job put runs once, the queued ones before the stop returns",
         test_every_job_runs_once},
        {"a full queue refuses a job; one thread runs them in order", test_full_queue_refuses},
        {"after a stop, a job put is refused until the pool is freed", test_stop_then_put_refused},
        {NULL, NULL},
    };
    return ut_main("lt_apiwork", NULL, NULL, tests);
}

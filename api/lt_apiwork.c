/* lt_apiwork: the HTTP API's threads for blocking requests (see lt_apiwork.h). */
#include "lt_apiwork.h"

#include <pthread.h>
#include <stdlib.h>

struct _lt_apiwork_t {
    lt_apiwork_fn *fn;
    void *arg;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a job queued, or stop */
    void **ring;         /* jobs waiting: max_jobs slots, head first */
    size_t max_jobs, head, count;
    int stop;
    pthread_t *threads;
    unsigned n_threads; /* started */
};

static void *s_run(void *arg)
{
    lt_apiwork_t *self = arg;
    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (!self->count && !self->stop)
            pthread_cond_wait(&self->cond, &self->lock);
        if (!self->count) /* stopping, and nothing left to run */
            break;
        void *job = self->ring[self->head];
        self->head = (self->head + 1) % self->max_jobs;
        self->count--;
        pthread_mutex_unlock(&self->lock);
        self->fn(self->arg, job);
        pthread_mutex_lock(&self->lock);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

lt_apiwork_t *lt_apiwork_new(unsigned threads, size_t max_jobs, lt_apiwork_fn *fn, void *arg)
{
    lt_apiwork_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->fn = fn;
    self->arg = arg;
    self->max_jobs = max_jobs ? max_jobs : 1;
    int locks = pthread_mutex_init(&self->lock, NULL) == 0;
    if (locks && pthread_cond_init(&self->cond, NULL) != 0) {
        pthread_mutex_destroy(&self->lock);
        locks = 0;
    }
    if (!locks) {
        free(self);
        return NULL;
    }
    self->ring = calloc(self->max_jobs, sizeof *self->ring);
    self->threads = calloc(threads ? threads : 1, sizeof *self->threads);
    if (!self->ring || !self->threads) {
        lt_apiwork_destroy(&self);
        return NULL;
    }
    for (unsigned i = 0; i < (threads ? threads : 1); i++) {
        if (pthread_create(&self->threads[i], NULL, s_run, self) != 0) {
            lt_apiwork_destroy(&self);
            return NULL;
        }
        self->n_threads++;
    }
    return self;
}

int lt_apiwork_put(lt_apiwork_t *self, void *job)
{
    int rc = -1;
    pthread_mutex_lock(&self->lock);
    if (!self->stop && self->count < self->max_jobs) {
        self->ring[(self->head + self->count) % self->max_jobs] = job;
        self->count++;
        pthread_cond_signal(&self->cond);
        rc = 0;
    }
    pthread_mutex_unlock(&self->lock);
    return rc;
}

void lt_apiwork_stop(lt_apiwork_t *self)
{
    if (!self)
        return;
    pthread_mutex_lock(&self->lock);
    self->stop = 1;
    pthread_cond_broadcast(&self->cond);
    pthread_mutex_unlock(&self->lock);
    /* Only the owner stops the pool: n_threads is its alone. */
    for (unsigned i = 0; i < self->n_threads; i++)
        pthread_join(self->threads[i], NULL);
    self->n_threads = 0;
}

void lt_apiwork_destroy(lt_apiwork_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_apiwork_t *self = *self_p;
    lt_apiwork_stop(self);
    pthread_cond_destroy(&self->cond);
    pthread_mutex_destroy(&self->lock);
    free(self->threads);
    free(self->ring);
    free(self);
    *self_p = NULL;
}

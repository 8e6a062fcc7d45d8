/* lt_writer: the writer thread and its store connection (see lt_writer.h).
 * The poll loop and the thread exchange one message per job over an inproc
 * PAIR: {fn, job} there, the job pointer back; {NULL, NULL} stops the
 * thread. */
#define _GNU_SOURCE /* pthread_setname_np */
#include "lt_writer.h"
#include "lt_log.h"
#include "lt_sock.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* ThreadSanitizer cannot see libzmq's hand-off (libzmq is not instrumented),
 * so without these every job passed over the pair would be reported as a
 * race between the two threads. A release before each send and an acquire
 * after each message received tell it what the pair guarantees: the
 * receiver sees all the sender wrote before sending. Nothing otherwise. */
#if defined(__SANITIZE_THREAD__)
#define S_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define S_TSAN 1
#endif
#endif
#ifdef S_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define s_handing(self) __tsan_release(self)
#define s_handed(self)  __tsan_acquire(self)
#else
#define s_handing(self) ((void)(self))
#define s_handed(self)  ((void)(self))
#endif

typedef struct {
    lt_writer_fn *fn;
    void *job;
} s_order_t;

struct _lt_writer_t {
    void *loop;   /* the poll loop's end of the pair */
    void *thread; /* the writer thread's end */
    pthread_t tid;
    int started;
    lt_store_t *store; /* touched by the thread only while a job runs */
    char path[4096];
    int cache_mb;            /* the connection's page cache (store_cache_mb) */
    lt_store_wal_fn *wal_fn; /* where the connection's checkpoints go (lt_ckpt) */
    void *wal_arg;
    int in_flight;    /* submitted, not yet received back */
    void *finished;   /* received back by lt_writer_settle, not yet taken */
    int open_failing; /* the thread logged that the store cannot open */
};

/* Opens the writer's connection with its page cache; 0 or -1 with err. */
static int s_open(lt_writer_t *self, char *err, size_t errlen)
{
    self->store = lt_store_open_cached(self->path, self->cache_mb, err, errlen);
    if (self->store && self->wal_fn)
        lt_store_wal_delegate(self->store, self->wal_fn, self->wal_arg, LT_STORE_WAL_CAP_PAGES);
    return self->store ? 0 : -1;
}

/* On the thread: a connection that lt_writer_resume could not open is
 * tried again before each job (the job sees NULL while it fails). The
 * failure is logged once until the store opens again, so that a store
 * left unopenable does not log a line per job. */
static void s_open_if_closed(lt_writer_t *self)
{
    char err[512];
    if (self->store || !self->path[0])
        return;
    if (s_open(self, err, sizeof err) != 0) {
        if (!self->open_failing)
            lt_error("writer", "cannot open the store: %s (tried again before each job)", err);
        self->open_failing = 1;
        return;
    }
    if (self->open_failing)
        lt_info("writer", "the store %s opens again", self->path);
    self->open_failing = 0;
}

static void *s_run(void *arg)
{
    lt_writer_t *self = arg;
    /* Named for operators: `top -H` and perf show the writer apart. */
    (void)pthread_setname_np(pthread_self(), "lt-writer");
    for (;;) {
        s_order_t o;
        int n = zmq_recv(self->thread, &o, sizeof o, 0);
        if (n < 0 && zmq_errno() == EINTR)
            continue;
        if (n >= 0)
            s_handed(self);
        if (n != (int)sizeof o || !o.fn)
            break; /* stop order, or the context is being torn down */
        s_open_if_closed(self);
        o.fn(o.job, self->store);
        s_handing(self);
        while (zmq_send(self->thread, &o.job, sizeof o.job, 0) < 0 && zmq_errno() == EINTR)
            ;
    }
    /* Closed here, by the only thread that uses it, so that a thread
     * lt_writer_destroy had to leave running still lets zmq_ctx_term end
     * once the context's termination stops it. */
    zmq_close(self->thread);
    return NULL;
}

static int s_pair(lt_writer_t *self, void *zctx, char *err, size_t errlen)
{
    char ep[64];
    lt_sock_inproc_name(ep, sizeof ep, "writer");
    int linger = 0;
    if (!(self->loop = zmq_socket(zctx, ZMQ_PAIR)) ||
        !(self->thread = zmq_socket(zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(self->loop, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_setsockopt(self->thread, ZMQ_LINGER, &linger, sizeof linger) != 0 ||
        zmq_bind(self->loop, ep) != 0 || zmq_connect(self->thread, ep) != 0) {
        snprintf(err, errlen, "writer thread: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    return 0;
}

lt_writer_t *lt_writer_new(void *zctx, const char *store_path, int cache_mb,
                           lt_store_wal_fn *wal_fn, void *wal_arg, char *err, size_t errlen)
{
    lt_writer_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->path, sizeof self->path, "%s", store_path);
    self->cache_mb = cache_mb;
    self->wal_fn = wal_fn;
    self->wal_arg = wal_arg;
    if (s_open(self, err, errlen) != 0 || s_pair(self, zctx, err, errlen) != 0)
        goto fail;
    if (pthread_create(&self->tid, NULL, s_run, self) != 0) {
        snprintf(err, errlen, "cannot start the writer thread");
        goto fail;
    }
    self->started = 1;
    return self;
fail:
    lt_writer_destroy(&self);
    return NULL;
}

void lt_writer_destroy(lt_writer_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_writer_t *self = *self_p;
    if (self->started) {
        if (lt_writer_settle(self) != 0)
            lt_error("writer", "the writer thread did not hand its job back");
        s_order_t stop = {NULL, NULL};
        s_handing(self);
        if (zmq_send(self->loop, &stop, sizeof stop, 0) == (int)sizeof stop) {
            pthread_join(self->tid, NULL);
        } else {
            /* Cannot happen on a live pair (lt_gateway_destroy destroys the
             * writer before it terminates the context). The thread may
             * still run a job or wait on its socket: it is left running
             * rather than joined (a hang), and self and the store are
             * leaked, since freeing what it may still use would be a use
             * after free; only the poll loop's socket is closed. */
            lt_error("writer",
                     "cannot stop the writer thread: %s; it is left running and its "
                     "connection to the store is not closed",
                     zmq_strerror(zmq_errno()));
            pthread_detach(self->tid);
            zmq_close(self->loop);
            *self_p = NULL;
            return;
        }
    } else if (self->thread) {
        zmq_close(self->thread); /* a started thread closes its own */
    }
    if (self->loop)
        zmq_close(self->loop);
    lt_store_destroy(&self->store);
    free(self);
    *self_p = NULL;
}

int lt_writer_submit(lt_writer_t *self, lt_writer_fn *fn, void *job)
{
    if (lt_writer_busy(self) || !fn || !job)
        return -1;
    s_order_t o = {fn, job};
    s_handing(self);
    if (zmq_send(self->loop, &o, sizeof o, 0) != (int)sizeof o) {
        lt_error("writer", "cannot hand a job to the writer thread: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    self->in_flight = 1;
    return 0;
}

int lt_writer_busy(const lt_writer_t *self)
{
    return self->in_flight || self->finished;
}

/* Receives the job back; flags 0 blocks, ZMQ_DONTWAIT does not. */
static void *s_receive(lt_writer_t *self, int flags)
{
    void *job = NULL;
    for (;;) {
        int n = zmq_recv(self->loop, &job, sizeof job, flags);
        if (n == (int)sizeof job) {
            s_handed(self);
            self->in_flight = 0;
            return job;
        }
        if (n < 0 && zmq_errno() == EINTR)
            continue;
        return NULL;
    }
}

void *lt_writer_done(lt_writer_t *self)
{
    void *job = self->finished;
    if (job) {
        self->finished = NULL;
        return job;
    }
    return self->in_flight ? s_receive(self, ZMQ_DONTWAIT) : NULL;
}

void *lt_writer_socket(lt_writer_t *self)
{
    return self->loop;
}

int lt_writer_settle(lt_writer_t *self)
{
    if (!self->in_flight)
        return 0;
    self->finished = s_receive(self, 0);
    return self->finished ? 0 : -1;
}

int lt_writer_suspend(lt_writer_t *self)
{
    if (lt_writer_settle(self) != 0)
        return -1;
    /* The thread is idle and the hand-over orders this before its next job. */
    lt_store_destroy(&self->store);
    return 0;
}

int lt_writer_resume(lt_writer_t *self, char *err, size_t errlen)
{
    if (self->store)
        return 0;
    return s_open(self, err, errlen);
}

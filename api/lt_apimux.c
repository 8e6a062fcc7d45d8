/* lt_apimux: many calls down one local-API connection (see lt_apimux.h). */
#include "lt_apimux.h"
#include "lt_client.h"
#include "lt_clock.h"
#include "lt_log.h"
#include "lt_wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <uthash.h>
#include <unistd.h>
#include <zmq.h>

#define POLL_MS  1000 /* the thread wakes this often at least, to see a stop */
#define RECV_RUN 256  /* answers read in one turn before queued requests are sent */
/* Calls at once, at most, per call the mux is sized for: past it a new
 * call fails at once (its callers are more than it was made for). */
#define WAITING_PER_CALL 4
/* While a call is watched, its deadline is looked at this often: the
 * ready of a call that times out comes up to this late. */
#define SCAN_MS 20

/* An envelope received for a call, waiting for it. */
typedef struct item {
    struct item *next;
    Lienthong__Envelope *env;
    void *answer;
} item_t;

/* A request to send: its id and its packed envelope. */
typedef struct out {
    struct out *next;
    uint64_t id;
    uint8_t *frame;
    size_t len;
} out_t;

struct _lt_apimux_call_t {
    uint64_t id;
    item_t *head, *tail;
    int rc;   /* a failure the thread saw for this call (a negative lt_client_err_t) */
    int sent; /* its request went down the current connection (its answers with it) */
    /* Watched (lt_apimux_watch): ready(arg) is called once, under the
     * mux's lock, at the first envelope, failure or deadline. */
    int armed;
    int64_t until_ms;
    lt_apimux_ready_fn *ready;
    void *arg;
    char err[1024];
    UT_hash_handle hh;
};

struct _lt_apimux_t {
    void *ctx;
    char *path;
    lt_apimux_id_fn *id_of;
    lt_apimux_free_fn *free_answer;
    int max_calls;        /* the client's queue of sends in ZeroMQ */
    unsigned max_waiting; /* calls at once, at most */
    int efd;              /* wakes the thread: requests queued, or stop */
    pthread_t thread;
    int started;
    pthread_mutex_t lock; /* guards calls, queue and stop */
    lt_apimux_call_t *calls;
    out_t *queue, *queue_tail;
    int stop;
    const char *closed; /* lt_apimux_close's why: every call fails with it */
    int n_armed;        /* calls watched */
    /* Set by a call that timed out and found the gateway not running: the
     * connection is then opened again, and a gateway still down fails the
     * next requests at once instead of at their deadlines. */
    atomic_int suspect;
    /* The thread's own, never touched by callers. */
    lt_client_t *client;
    out_t *pending, *pending_tail; /* taken from queue, not yet sent (the pipe was full) */
    int64_t next_scan_ms;          /* when the watched calls' deadlines are looked at next */
};

/* Under the lock: something came for c (an envelope, a failure or its
 * deadline): its watch fires, if armed. */
static void s_fire_locked(lt_apimux_t *self, lt_apimux_call_t *c)
{
    if (!c->armed)
        return;
    c->armed = 0;
    self->n_armed--;
    c->ready(c->arg);
}

/* Under the lock: call id fails with rc and err unless it already has. */
static void s_fail_locked(lt_apimux_t *self, lt_apimux_call_t *c, int rc, const char *err)
{
    if (c->rc)
        return;
    c->rc = rc;
    snprintf(c->err, sizeof c->err, "%s", err);
    s_fire_locked(self, c);
}

static void s_fail_id(lt_apimux_t *self, uint64_t id, int rc, const char *err)
{
    lt_apimux_call_t *c;
    pthread_mutex_lock(&self->lock);
    HASH_FIND(hh, self->calls, &id, sizeof id, c);
    if (c)
        s_fail_locked(self, c, rc, err);
    pthread_mutex_unlock(&self->lock);
}

static void s_out_free(out_t *o)
{
    while (o) {
        out_t *next = o->next;
        free(o->frame);
        free(o);
        o = next;
    }
}

/* Fails and frees every request not yet sent. */
static void s_fail_pending(lt_apimux_t *self, int rc, const char *err)
{
    for (out_t *o = self->pending; o; o = o->next)
        s_fail_id(self, o->id, rc, err);
    s_out_free(self->pending);
    self->pending = self->pending_tail = NULL;
}

/* The client, made when there is something to send: 0, or -1 when the
 * gateway cannot be reached (the pending requests then fail with why). */
static int s_connect(lt_apimux_t *self)
{
    char err[1024];
    if (self->client)
        return 0;
    /* wait_for_gateway: a receive that finds nothing does not probe the
     * gateway's socket; whether it runs is checked here, once. */
    lt_client_opts_t o;
    lt_client_opts_default(&o);
    o.ctx = self->ctx;
    o.wait_for_gateway = 1;
    o.sndhwm = self->max_calls;
    int rc = lt_client_probe(self->path, err, sizeof err);
    if (rc == LT_CLIENT_OK && !(self->client = lt_client_new(self->path, &o, err, sizeof err)))
        rc = LT_CLIENT_ERR_SOCKET;
    if (rc != LT_CLIENT_OK) {
        s_fail_pending(self, rc, err);
        return -1;
    }
    return 0;
}

/* Closes the client: the calls whose requests went down it fail with rc
 * and why, since their answers are gone with it; those not sent yet go
 * down the next one, which the next request makes. */
static void s_drop_client(lt_apimux_t *self, int rc, const char *why)
{
    lt_apimux_call_t *c, *tmp;
    lt_client_destroy(&self->client);
    pthread_mutex_lock(&self->lock);
    HASH_ITER(hh, self->calls, c, tmp)
    if (c->sent)
        s_fail_locked(self, c, rc, why);
    pthread_mutex_unlock(&self->lock);
}

/* Under the lock: the call a request is for, if it still waits for it. */
static int s_wanted_locked(lt_apimux_t *self, const out_t *o, lt_apimux_call_t **c)
{
    HASH_FIND(hh, self->calls, &o->id, sizeof o->id, *c);
    return *c && !(*c)->rc;
}

/* Sends what pending holds, in order, until the pipe is full, and drops
 * unsent every request whose call has ended or failed, wherever it is in
 * the list: the gateway does not work for a caller already answered, and
 * pending holds no more than the calls waiting. -1 when a send failed
 * (err set). Under the lock: a call marked sent is one whose answers the
 * connection holds. */
static int s_send_pending(lt_apimux_t *self, void *sock, char *err, size_t errlen)
{
    int rc = 0, blocked = 0;
    out_t **at = &self->pending, *last = NULL;
    pthread_mutex_lock(&self->lock);
    while (*at) {
        out_t *o = *at;
        lt_apimux_call_t *c;
        int wanted = s_wanted_locked(self, o, &c), sent = 0;
        if (wanted && !blocked) {
            sent = zmq_send(sock, o->frame, o->len, ZMQ_DONTWAIT) >= 0;
            int e = sent ? 0 : zmq_errno();
            blocked = !sent; /* EAGAIN: the rest when the pipe has room (POLLOUT) */
            if (!sent && e != EAGAIN && e != EINTR) {
                snprintf(err, errlen, "cannot send to the gateway at %s: %s", self->path,
                         zmq_strerror(e));
                s_fail_locked(self, c, LT_CLIENT_ERR_SOCKET, err); /* its caller learns why now */
                wanted = 0;
                rc = -1;
            }
        }
        if (wanted && !sent) { /* kept, in its place */
            last = o;
            at = &o->next;
            continue;
        }
        if (sent)
            c->sent = 1;
        *at = o->next;
        o->next = NULL;
        s_out_free(o);
    }
    self->pending_tail = last;
    pthread_mutex_unlock(&self->lock);
    return rc;
}

/* Sends the pending requests, first opening the connection again if a
 * call found the gateway stopped. */
static void s_send(lt_apimux_t *self)
{
    char err[1024];
    if (!self->pending)
        return;
    if (atomic_exchange(&self->suspect, 0) && self->client) {
        snprintf(err, sizeof err,
                 "the gateway at %s was found stopped: the requests sent to it are lost",
                 self->path);
        lt_info("api", "%s; its local connection is opened again", err);
        s_drop_client(self, LT_CLIENT_ERR_NOT_RUNNING, err);
    }
    if (s_connect(self) != 0)
        return;
    if (s_send_pending(self, lt_client_socket(self->client), err, sizeof err) != 0) {
        lt_warn("api", "%s; opening a new local connection", err);
        s_drop_client(self, LT_CLIENT_ERR_SOCKET, err);
    }
}

/* Hands env to the call it answers, or drops it. */
static void s_dispatch(lt_apimux_t *self, Lienthong__Envelope *env)
{
    void *answer = NULL;
    uint64_t id = self->id_of(env, &answer);
    item_t *it = id ? malloc(sizeof *it) : NULL;
    lt_apimux_call_t *c = NULL;
    if (it) {
        *it = (item_t){.env = env, .answer = answer};
        pthread_mutex_lock(&self->lock);
        HASH_FIND(hh, self->calls, &id, sizeof id, c);
        if (c) {
            if (c->tail)
                c->tail->next = it;
            else
                c->head = it;
            c->tail = it;
            s_fire_locked(self, c);
        }
        pthread_mutex_unlock(&self->lock);
    } else if (id) {
        s_fail_id(self, id, LT_CLIENT_ERR_SOCKET, "out of memory for an answer of the gateway");
    }
    if (!c) { /* a late answer of a call that gave up, or none at all */
        free(it);
        self->free_answer(env, answer);
        lt_wire_free(&env);
    }
}

/* Reads what the gateway has sent, a run at most. */
static void s_recv(lt_apimux_t *self)
{
    char err[1024];
    for (int i = 0; self->client && i < RECV_RUN; i++) {
        Lienthong__Envelope *env = NULL;
        int rc = lt_client_recv(self->client, 0, &env, err, sizeof err);
        if (rc == LT_CLIENT_OK)
            s_dispatch(self, env);
        else if (rc == LT_CLIENT_ERR_MALFORMED)
            lt_warn("api", "%s", err); /* whose it was is unknown: its call times out */
        else if (rc == LT_CLIENT_ERR_SOCKET) {
            lt_warn("api", "%s; opening a new local connection", err);
            s_drop_client(self, LT_CLIENT_ERR_SOCKET, err);
        } else
            return; /* nothing more now */
    }
}

/* Takes what callers queued; 1 when the mux is stopping. */
static int s_take_queue(lt_apimux_t *self)
{
    uint64_t v;
    /* Reset the eventfd first: a request queued after this is seen. */
    if (read(self->efd, &v, sizeof v) < 0 && errno != EAGAIN)
        lt_warn("api", "cannot read the local calls' eventfd: %s", strerror(errno));
    pthread_mutex_lock(&self->lock);
    int stop = self->stop;
    if (self->queue) {
        if (self->pending_tail)
            self->pending_tail->next = self->queue;
        else
            self->pending = self->queue;
        self->pending_tail = self->queue_tail;
        self->queue = self->queue_tail = NULL;
    }
    pthread_mutex_unlock(&self->lock);
    return stop;
}

/* Fires the watch of each call past its deadline, every SCAN_MS while
 * calls are watched. The poll's timeout while any is: how long until the
 * next scan. */
static int s_scan(lt_apimux_t *self)
{
    int64_t now = lt_clock_mono_ms();
    int timeout = POLL_MS;
    lt_apimux_call_t *c, *tmp;
    pthread_mutex_lock(&self->lock);
    if (self->n_armed && now >= self->next_scan_ms) {
        HASH_ITER(hh, self->calls, c, tmp)
        if (c->armed && now >= c->until_ms)
            s_fire_locked(self, c);
        self->next_scan_ms = now + SCAN_MS;
    }
    if (self->n_armed)
        timeout = (int)(self->next_scan_ms > now ? self->next_scan_ms - now : 0);
    pthread_mutex_unlock(&self->lock);
    return timeout;
}

static void *s_run(void *arg)
{
    lt_apimux_t *self = arg;
    int timeout = POLL_MS;
    for (;;) {
        zmq_pollitem_t it[2] = {{NULL, self->efd, ZMQ_POLLIN, 0}, {NULL, 0, 0, 0}};
        int n = 1;
        if (self->client) {
            it[1].socket = lt_client_socket(self->client);
            it[1].events = ZMQ_POLLIN | (self->pending ? ZMQ_POLLOUT : 0);
            n = 2;
        }
        if (zmq_poll(it, n, timeout) < 0) {
            int e = zmq_errno();
            if (e == ETERM)
                break; /* the context is ending: nothing can be sent any more */
            if (e != EINTR) {
                lt_error("api", "local calls: zmq_poll failed: %s", zmq_strerror(e));
                usleep(10000); /* not a busy loop while it lasts */
            }
        }
        if (s_take_queue(self))
            break;
        s_send(self);
        s_recv(self);
        timeout = s_scan(self);
    }
    s_fail_pending(self, LT_CLIENT_ERR_SOCKET, "the HTTP API is stopping");
    lt_client_destroy(&self->client);
    return NULL;
}

static void s_free(lt_apimux_t *self)
{
    if (self->efd >= 0)
        close(self->efd);
    pthread_mutex_destroy(&self->lock);
    free(self->path);
    free(self);
}

lt_apimux_t *lt_apimux_new(void *ctx, const char *socket_path, int max_calls,
                           lt_apimux_id_fn *id_of, lt_apimux_free_fn *free_answer)
{
    lt_apimux_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->efd = -1;
    if (pthread_mutex_init(&self->lock, NULL) != 0) {
        free(self);
        return NULL;
    }
    self->ctx = ctx;
    self->max_calls = max_calls > 0 ? max_calls : 1;
    self->max_waiting = (unsigned)self->max_calls * WAITING_PER_CALL;
    self->id_of = id_of;
    self->free_answer = free_answer;
    if (!(self->path = strdup(socket_path)) ||
        (self->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
        pthread_create(&self->thread, NULL, s_run, self) != 0) {
        s_free(self);
        return NULL;
    }
    self->started = 1;
    return self;
}

static void s_wake(lt_apimux_t *self)
{
    uint64_t one = 1;
    /* EAGAIN: the counter is full, so the thread is woken anyway. */
    if (write(self->efd, &one, sizeof one) < 0 && errno != EAGAIN)
        lt_warn("api", "cannot wake the local calls' thread: %s", strerror(errno));
}

void lt_apimux_destroy(lt_apimux_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_apimux_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = 1;
    pthread_mutex_unlock(&self->lock);
    s_wake(self);
    pthread_join(self->thread, NULL);
    s_out_free(self->queue);
    s_free(self);
    *self_p = NULL;
}

/* Under the lock: registers c and queues o; -1 when id is in use, -2
 * when max_waiting calls wait already. */
static int s_enqueue_locked(lt_apimux_t *self, lt_apimux_call_t *c, out_t *o)
{
    lt_apimux_call_t *dup = NULL;
    HASH_FIND(hh, self->calls, &c->id, sizeof c->id, dup);
    if (dup)
        return -1;
    if (HASH_COUNT(self->calls) >= self->max_waiting)
        return -2;
    HASH_ADD(hh, self->calls, id, sizeof c->id, c);
    if (self->queue_tail)
        self->queue_tail->next = o;
    else
        self->queue = o;
    self->queue_tail = o;
    return 0;
}

int lt_apimux_begin(lt_apimux_t *self, uint64_t id, uint8_t *frame, size_t len,
                    lt_apimux_call_t **call, char *err, size_t errlen)
{
    lt_apimux_call_t *c = calloc(1, sizeof *c);
    out_t *o = malloc(sizeof *o);
    int rc = LT_CLIENT_ERR_INVALID;
    *call = NULL;
    if (!c || !o) {
        snprintf(err, errlen, "out of memory for a call to the gateway");
        goto fail;
    }
    c->id = id;
    *o = (out_t){.id = id, .frame = frame, .len = len};
    pthread_mutex_lock(&self->lock);
    int refused = self->closed ? -3 : s_enqueue_locked(self, c, o);
    if (refused == -3)
        snprintf(err, errlen, "%s", self->closed);
    pthread_mutex_unlock(&self->lock);
    if (refused == -3) {
        rc = LT_CLIENT_ERR_SOCKET;
        goto fail;
    }
    if (refused == -1) { /* ids are random 64-bit numbers: a caller's mistake */
        snprintf(err, errlen, "request id %llu is already in use", (unsigned long long)id);
        goto fail;
    }
    if (refused) {
        rc = LT_CLIENT_ERR_SOCKET;
        snprintf(err, errlen, "%u calls to the gateway at %s wait already", self->max_waiting,
                 self->path);
        goto fail;
    }
    s_wake(self);
    *call = c;
    return LT_CLIENT_OK;
fail:
    free(c);
    free(o);
    free(frame);
    return rc;
}

/* Nothing came in time: NOT_RUNNING when the gateway has stopped, else
 * TIMEOUT. */
static int s_timed_out(lt_apimux_t *self, char *err, size_t errlen)
{
    int rc = lt_client_probe(self->path, err, errlen);
    if (rc != LT_CLIENT_OK) {
        atomic_store(&self->suspect, 1);
        return rc;
    }
    snprintf(err, errlen, "no answer from the gateway at %s in time (it is running)", self->path);
    return LT_CLIENT_ERR_TIMEOUT;
}

/* Under the lock: the call's next envelope, or its failure; 1 when it
 * has neither. */
static int s_take_locked(lt_apimux_call_t *c, Lienthong__Envelope **env, void **answer, char *err,
                         size_t errlen)
{
    if (c->head) {
        item_t *it = c->head;
        if (!(c->head = it->next))
            c->tail = NULL;
        *env = it->env;
        *answer = it->answer;
        free(it);
        return LT_CLIENT_OK;
    }
    if (c->rc) {
        snprintf(err, errlen, "%s", c->err);
        return c->rc;
    }
    return LT_APIMUX_EMPTY;
}

int lt_apimux_take(lt_apimux_t *self, lt_apimux_call_t *c, int64_t until_ms,
                   Lienthong__Envelope **env, void **answer, char *err, size_t errlen)
{
    *env = NULL;
    *answer = NULL;
    pthread_mutex_lock(&self->lock);
    int rc = s_take_locked(c, env, answer, err, errlen);
    pthread_mutex_unlock(&self->lock);
    if (rc == LT_APIMUX_EMPTY && lt_clock_mono_ms() >= until_ms)
        return s_timed_out(self, err, errlen);
    return rc;
}

int lt_apimux_watch(lt_apimux_t *self, lt_apimux_call_t *c, int64_t until_ms,
                    lt_apimux_ready_fn *ready, void *arg)
{
    int first = 0;
    pthread_mutex_lock(&self->lock);
    int now = c->head || c->rc || lt_clock_mono_ms() >= until_ms;
    if (!now && !c->armed) {
        c->armed = 1;
        c->until_ms = until_ms;
        c->ready = ready;
        c->arg = arg;
        first = self->n_armed++ == 0;
    }
    pthread_mutex_unlock(&self->lock);
    /* The first watch makes the thread's poll wake for the scan (it waited
     * up to POLL_MS); while one is armed it does already, and a wake per
     * request would cost the thread a turn and a system call each. */
    if (first)
        s_wake(self);
    return now;
}

void lt_apimux_close(lt_apimux_t *self, const char *why)
{
    lt_apimux_call_t *c, *tmp;
    pthread_mutex_lock(&self->lock);
    self->closed = why;
    HASH_ITER(hh, self->calls, c, tmp)
    s_fail_locked(self, c, LT_CLIENT_ERR_SOCKET, why);
    pthread_mutex_unlock(&self->lock);
}

void lt_apimux_end(lt_apimux_t *self, lt_apimux_call_t **call_p)
{
    if (!call_p || !*call_p)
        return;
    lt_apimux_call_t *c = *call_p;
    pthread_mutex_lock(&self->lock);
    if (c->armed) /* its ready is not called once this returns */
        self->n_armed--;
    HASH_DEL(self->calls, c);
    pthread_mutex_unlock(&self->lock);
    while (c->head) {
        item_t *it = c->head;
        c->head = it->next;
        self->free_answer(it->env, it->answer);
        lt_wire_free(&it->env);
        free(it);
    }
    free(c);
    *call_p = NULL;
}

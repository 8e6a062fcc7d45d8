/* lt_raw: the raw libzmq baselines. The server side runs in a thread of its
 * own, so both ends use a core each, like two gateway processes would. */
#define _GNU_SOURCE
#include "lt_raw.h"
#include "lt_itest.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

/* A client waits at most this long for an echo, so that a baseline never
 * hangs a benchmark run. */
#define RAW_RECV_TIMEOUT_MS 10000
/* A server closes its socket right after its last echo: with no linger the
 * echoes still queued would be dropped and the client would wait for them
 * until RAW_RECV_TIMEOUT_MS, reporting a rate of a few thousand round trips
 * a second. The linger lets them go out (bounded, for a client that left). */
#define RAW_SERVER_LINGER_MS 2000

typedef struct {
    void *ctx;
    int type;
    uint8_t pk[32], sk[32];
    char endpoint[64];
    long count;
    size_t size;
    int ready;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} server_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *s_server(void *arg)
{
    server_t *s = arg;
    void *sock = zmq_socket(s->ctx, s->type);
    int one = 1, linger = RAW_SERVER_LINGER_MS, hwm = 100000;
    zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s->sk, 32);
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    int rc = zmq_bind(sock, "tcp://127.0.0.1:*");
    size_t len = sizeof s->endpoint;
    zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, s->endpoint, &len);
    pthread_mutex_lock(&s->mu);
    s->ready = rc == 0 ? 1 : -1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    char *buf = malloc(s->size + 256);
    for (long i = 0; rc == 0 && i < s->count; i++) {
        if (s->type == ZMQ_PULL) {
            if (zmq_recv(sock, buf, s->size, 0) < 0)
                break;
        } else { /* ROUTER echo: [id][payload] */
            int idn = zmq_recv(sock, buf + s->size, 255, 0);
            int n = zmq_recv(sock, buf, s->size, 0);
            if (idn < 0 || n < 0 || zmq_send(sock, buf + s->size, (size_t)idn, ZMQ_SNDMORE) < 0 ||
                zmq_send(sock, buf, (size_t)n, 0) < 0)
                break;
        }
    }
    free(buf);
    zmq_close(sock);
    return NULL;
}

static int s_setup(server_t *s, int server_type)
{
    if (sodium_init() < 0)
        return -1;
    memset(s, 0, sizeof *s);
    s->type = server_type;
    s->ctx = zmq_ctx_new();
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    crypto_box_keypair(s->pk, s->sk);
    return s->ctx ? 0 : -1;
}

static void *s_client(server_t *s, int type)
{
    uint8_t cpk[32], csk[32];
    crypto_box_keypair(cpk, csk);
    void *c = zmq_socket(s->ctx, type);
    int zero = 0, hwm = 100000;
    zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, s->pk, 32);
    zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, cpk, 32);
    zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, csk, 32);
    zmq_setsockopt(c, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c, ZMQ_RCVHWM, &hwm, sizeof hwm);
    int timeout = RAW_RECV_TIMEOUT_MS;
    zmq_setsockopt(c, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    if (zmq_connect(c, s->endpoint) != 0) {
        zmq_close(c);
        return NULL;
    }
    return c;
}

static int s_start(server_t *s, pthread_t *th, long count, size_t size)
{
    s->count = count;
    s->size = size;
    if (pthread_create(th, NULL, s_server, s) != 0)
        return -1;
    pthread_mutex_lock(&s->mu);
    while (!s->ready)
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    return s->ready == 1 ? 0 : -1;
}

static void s_finish(server_t *s, pthread_t th, void *client)
{
    if (client)
        zmq_close(client);
    pthread_join(th, NULL);
    zmq_ctx_term(s->ctx);
}

double lt_raw_push_pull(size_t msg_size, long count)
{
    server_t s;
    pthread_t th;
    if (s_setup(&s, ZMQ_PULL) != 0 || s_start(&s, &th, count, msg_size) != 0)
        return -1;
    void *c = s_client(&s, ZMQ_PUSH);
    char *buf = calloc(1, msg_size);
    double t0 = s_now();
    for (long i = 0; c && buf && i < count; i++)
        zmq_send(c, buf, msg_size, 0);
    /* The rate counts until the last message is received. */
    pthread_join(th, NULL);
    double t = s_now() - t0;
    free(buf);
    if (c)
        zmq_close(c);
    zmq_ctx_term(s.ctx);
    return (double)count / t;
}

static int s_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double lt_raw_dealer_router(size_t msg_size, long count, int inflight, double *p50_us,
                            double *p99_us)
{
    server_t s;
    pthread_t th;
    if (s_setup(&s, ZMQ_ROUTER) != 0 || s_start(&s, &th, count, msg_size) != 0)
        return -1;
    void *c = s_client(&s, ZMQ_DEALER);
    char *buf = calloc(1, msg_size);
    double *lat = inflight == 1 ? calloc((size_t)count, sizeof *lat) : NULL;
    long sent = 0, got = 0;
    double t0 = s_now();
    while (c && buf && got < count) {
        while (sent < count && sent - got < inflight) {
            if (lat)
                lat[sent] = s_now();
            zmq_send(c, buf, msg_size, 0);
            sent++;
        }
        if (zmq_recv(c, buf, msg_size, 0) < 0) {
            /* Bounded: a lost echo ends the run with what was measured. */
            fprintf(stderr, "raw: no echo within %d ms after %ld of %ld round trips (%s)\n",
                    RAW_RECV_TIMEOUT_MS, got, count, zmq_strerror(zmq_errno()));
            break;
        }
        if (lat)
            lat[got] = (s_now() - lat[got]) * 1e6;
        got++;
    }
    double t = s_now() - t0;
    if (lat) {
        qsort(lat, (size_t)got, sizeof *lat, s_cmp);
        *p50_us = lat[got / 2];
        *p99_us = lat[(got * 99) / 100];
        free(lat);
    }
    free(buf);
    s_finish(&s, th, c);
    return (double)got / t;
}

void lt_raw_report(const char *name, double value, const char *unit, double raw,
                   const char *raw_unit, int lower_is_better)
{
    double ratio = raw <= 0 || value <= 0 ? 0 : lower_is_better ? raw / value : value / raw;
    printf("bench: %s %.0f %s | raw %.0f %s | ratio %.2f\n", name, value, unit, raw, raw_unit,
           ratio);
    fflush(stdout);
}

/* ---- between network namespaces (bench_wan) ------------------------------ */

typedef struct {
    server_t s;
    const char *server_ns, *server_ip, *client_ns;
    long got;
    double *lat;
} netns_rt_t;

/* The echo server, in its namespace with a context of its own: the
 * context's I/O threads start from this thread and so live there too. */
static void *s_ns_server(void *arg)
{
    netns_rt_t *r = arg;
    server_t *s = &r->s;
    void *sock = NULL;
    int rc = -1;
    if (lt_it_netns_enter(r->server_ns) == 0 && (s->ctx = zmq_ctx_new()) &&
        (sock = zmq_socket(s->ctx, ZMQ_ROUTER))) {
        int one = 1, linger = RAW_SERVER_LINGER_MS, timeout = RAW_RECV_TIMEOUT_MS;
        char ep[64];
        snprintf(ep, sizeof ep, "tcp://%s:*", r->server_ip);
        size_t len = sizeof s->endpoint;
        rc = zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
                     zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, s->sk, 32) ||
                     zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) ||
                     zmq_setsockopt(sock, ZMQ_RCVTIMEO, &timeout, sizeof timeout) ||
                     zmq_bind(sock, ep) ||
                     zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, s->endpoint, &len)
                 ? -1
                 : 0;
    }
    pthread_mutex_lock(&s->mu);
    s->ready = rc == 0 ? 1 : -1;
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
    char buf[4096 + 256];
    for (long i = 0; rc == 0 && i < s->count; i++) {
        int idn = zmq_recv(sock, buf + 4096, 255, 0);
        int n = zmq_recv(sock, buf, 4096, 0);
        if (idn < 0 || n < 0 || zmq_send(sock, buf + 4096, (size_t)idn, ZMQ_SNDMORE) < 0 ||
            zmq_send(sock, buf, (size_t)n, 0) < 0)
            break;
    }
    if (sock)
        zmq_close(sock);
    return NULL;
}

static void *s_ns_client(void *arg)
{
    netns_rt_t *r = arg;
    void *ctx = NULL, *c = NULL;
    char buf[4096];
    memset(buf, 0, sizeof buf);
    if (lt_it_netns_enter(r->client_ns) != 0 || !(ctx = zmq_ctx_new()))
        goto out;
    server_t saved = r->s;
    saved.ctx = ctx;
    if (!(c = s_client(&saved, ZMQ_DEALER)))
        goto out;
    for (long i = 0; i < r->s.count; i++) {
        double t = s_now();
        /* The first round trip also connects and runs the CURVE handshake:
         * it is not a figure of the link. */
        if (zmq_send(c, buf, r->s.size, 0) < 0 || zmq_recv(c, buf, sizeof buf, 0) < 0) {
            fprintf(stderr,
                    "raw: no echo across the namespaces after %ld of %ld round trips (%s)\n", i,
                    r->s.count, zmq_strerror(zmq_errno()));
            break;
        }
        if (i > 0)
            r->lat[r->got++] = (s_now() - t) * 1e6;
    }
out:
    if (c)
        zmq_close(c);
    if (ctx)
        zmq_ctx_term(ctx);
    return NULL;
}

long lt_raw_rtt_netns(const char *server_ns, const char *server_ip, const char *client_ns,
                      size_t msg_size, long count, double *p50_us, double *p99_us)
{
    netns_rt_t r = {.server_ns = server_ns, .server_ip = server_ip, .client_ns = client_ns};
    *p50_us = *p99_us = 0;
    count++; /* the first, which connects, is not counted */
    if (msg_size > 4096 || count < 1 || sodium_init() < 0 ||
        !(r.lat = calloc((size_t)count, sizeof *r.lat)))
        return -1;
    memset(&r.s, 0, sizeof r.s);
    r.s.count = count;
    r.s.size = msg_size;
    pthread_mutex_init(&r.s.mu, NULL);
    pthread_cond_init(&r.s.cv, NULL);
    crypto_box_keypair(r.s.pk, r.s.sk);
    pthread_t st, ct;
    if (pthread_create(&st, NULL, s_ns_server, &r) != 0) {
        free(r.lat);
        return -1;
    }
    pthread_mutex_lock(&r.s.mu);
    while (!r.s.ready)
        pthread_cond_wait(&r.s.cv, &r.s.mu);
    pthread_mutex_unlock(&r.s.mu);
    if (r.s.ready == 1 && pthread_create(&ct, NULL, s_ns_client, &r) == 0)
        pthread_join(ct, NULL);
    else
        r.s.count = 0;
    /* The server ends after count echoes, or RAW_RECV_TIMEOUT_MS after the
     * client stopped early. */
    pthread_join(st, NULL);
    if (r.s.ctx)
        zmq_ctx_term(r.s.ctx);
    long got = r.got;
    if (got) {
        qsort(r.lat, (size_t)got, sizeof *r.lat, s_cmp);
        *p50_us = r.lat[got / 2];
        *p99_us = r.lat[(got * 99) / 100];
    }
    free(r.lat);
    pthread_mutex_destroy(&r.s.mu);
    pthread_cond_destroy(&r.s.cv);
    return r.s.ready == 1 ? got : -1;
}

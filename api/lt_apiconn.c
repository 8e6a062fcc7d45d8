/* lt_apiconn: the deadline of a request's arrival (see the header). */
#include "lt_apiconn.h"
#include "lt_apisum.h"
#include "lt_clock.h"
#include "lt_log.h"
#include "lt_tally.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#define TICK_MS 250 /* how often the watch looks, at most */
/* A place the accept policy reserved and no STARTED notice claimed (the
 * connection failed in between) is given back after this long. */
#define RESERVE_MS 2000
#define SERVED     -1 /* conn_t.since_ms of a request that arrived whole */

/* One open connection, from libmicrohttpd's STARTED notice to its CLOSED
 * one, which comes before libmicrohttpd closes the socket: a socket in the
 * list, under the lock, is still this connection's. */
typedef struct conn conn_t;
struct conn {
    conn_t *prev, *next;
    int fd;
    /* When it began to wait for the request, or SERVED: one word, which the
     * thread serving the connection stores and the watch loads without a lock, so
     * that a request takes no lock of the watch. */
    _Atomic int64_t since_ms;
    int cut; /* shut down by the watch (under the lock) */
    /* Accepted, not yet STARTED (fd -1, since_ms the acceptance): several
     * of libmicrohttpd's threads accept at once, and a connection must
     * count against its limits from its acceptance, or two from one
     * address could pass max_connections_per_ip together. */
    int reserved;
    char addr[INET6_ADDRSTRLEN];
};

/* Why a connection was closed, for the tallies' reports. */
typedef enum { CUT, AT_MAX, AT_PER_IP, WHYS } why_t;

/* A closed connection's particulars (the tally's info). */
typedef struct {
    why_t why;
    char addr[INET6_ADDRSTRLEN];
} event_t;

struct _lt_apiconn_t {
    int deadline_ms;
    unsigned max_conns, max_per_ip;
    pthread_mutex_t lock; /* conns, n_conns, stop, tallies */
    pthread_cond_t wake;  /* stop */
    pthread_t thread;
    int stop;
    conn_t *conns;
    unsigned n_conns; /* in conns */
    lt_apisum_t sum;  /* how the tallies' reports read */
    /* The cuts and the refusals at each limit, by client address: a table
     * each, so that the count of the addresses beyond one table is of one
     * reason, which its report names. */
    lt_tally_t *tally[WHYS];
    lt_stats_series_t *cuts, *refused;
    lt_apiconn_tick_fn *tick;
    void *tick_arg;
};

/* The address sa as text into addr ("?" when unknown). */
static void s_addr(const struct sockaddr *sa, char addr[INET6_ADDRSTRLEN])
{
    snprintf(addr, INET6_ADDRSTRLEN, "?");
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, addr, INET6_ADDRSTRLEN);
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, addr, INET6_ADDRSTRLEN);
}

void lt_apiconn_addr(struct MHD_Connection *c, char addr[INET6_ADDRSTRLEN])
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    s_addr(ci ? ci->client_addr : NULL, addr);
}

/* Why a connection of e was closed, into buf. */
static const char *s_why(const lt_apiconn_t *self, const event_t *e, char *buf, size_t len)
{
    if (e->why == CUT)
        snprintf(buf, len, "no whole request within receive_timeout (%d s)",
                 self->deadline_ms / 1000);
    else if (e->why == AT_MAX)
        snprintf(buf, len, "max_connections (%u) reached", self->max_conns);
    else
        snprintf(buf, len, "max_connections_per_ip (%u) reached", self->max_per_ip);
    return buf;
}

/* The words of a report of the cuts and refusals (lt_apisum): the first
 * of a reason from an address in full, then counts. Under the lock. */
static void s_describe(void *arg, const lt_tally_report_t *rep, lt_apisum_text_t *x)
{
    const lt_apiconn_t *self = arg;
    const event_t *e = rep->info;
    const char *done = e->why == CUT ? "closed" : "refused";
    s_why(self, e, x->why, sizeof x->why);
    snprintf(x->first, sizeof x->first, "%s %s connection from %s: %s", done,
             e->why == CUT ? "the" : "a", e->addr, x->why);
    snprintf(x->what, sizeof x->what, "connections %s", done);
    snprintf(x->where, sizeof x->where, " from %s", e->addr);
    snprintf(x->last, sizeof x->last, "%s", e->addr);
}

/* Counts and reports a connection from addr closed for why, under the lock. */
static void s_note(lt_apiconn_t *self, why_t why, const char *addr)
{
    event_t e = {.why = why};
    snprintf(e.addr, sizeof e.addr, "%s", addr);
    lt_stats_inc(why == CUT ? self->cuts : self->refused);
    lt_tally_note(self->tally[why], e.addr, &e);
}

/* Under the lock: k out of the list, counted out. */
static void s_unlink(lt_apiconn_t *self, conn_t *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        self->conns = k->next;
    if (k->next)
        k->next->prev = k->prev;
    self->n_conns--;
}

/* Under the lock: k at the head of the list, counted. */
static void s_link(lt_apiconn_t *self, conn_t *k)
{
    k->prev = NULL;
    k->next = self->conns;
    if (k->next)
        k->next->prev = k;
    self->conns = k;
    self->n_conns++;
}

/* Cuts the connections past the deadline, and gives back the places
 * reserved for too long, under the lock. */
static void s_reap(lt_apiconn_t *self, int64_t now)
{
    for (conn_t *k = self->conns, *next; k; k = next) {
        int64_t since = atomic_load(&k->since_ms);
        next = k->next;
        if (k->reserved && now - since >= RESERVE_MS) {
            s_unlink(self, k);
            free(k);
            continue;
        }
        if (k->reserved || since == SERVED || k->cut || now - since < self->deadline_ms)
            continue;
        /* libmicrohttpd then reads the end of the stream, and
         * libmicrohttpd closes the connection as a client's close. */
        if (shutdown(k->fd, SHUT_RDWR) != 0 && errno != ENOTCONN)
            lt_warn("api", "cannot close the connection from %s: %s", k->addr, strerror(errno));
        k->cut = 1;
        s_note(self, CUT, k->addr);
    }
}

static void *s_watch(void *arg)
{
    lt_apiconn_t *self = arg;
    int tick = self->deadline_ms / 4 < TICK_MS ? self->deadline_ms / 4 : TICK_MS;
    pthread_mutex_lock(&self->lock);
    while (!self->stop) {
        s_reap(self, lt_clock_mono_ms());
        for (int w = 0; w < WHYS; w++)
            lt_tally_tick(self->tally[w]);
        if (self->tick) { /* outside the lock: the owner's tick takes its own */
            pthread_mutex_unlock(&self->lock);
            self->tick(self->tick_arg);
            pthread_mutex_lock(&self->lock);
            if (self->stop)
                break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += (long)tick * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&self->wake, &self->lock, &ts);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

/* The condition variable waits on the monotonic clock, as lt_clock_mono_ms
 * counts: a change of the wall clock neither cuts nor spares a connection. */
static int s_cond_init(pthread_cond_t *cv)
{
    pthread_condattr_t a;
    if (pthread_condattr_init(&a) != 0)
        return -1;
    int rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0 && pthread_cond_init(cv, &a) == 0
                 ? 0
                 : -1;
    pthread_condattr_destroy(&a);
    return rc;
}

lt_apiconn_t *lt_apiconn_new(int deadline_ms, unsigned max_conns, unsigned max_per_ip,
                             int64_t summary_ms, lt_stats_t *stats, lt_apiconn_tick_fn *tick,
                             void *arg)
{
    static const lt_stats_def_t def = {
        .name = "lienthong_http_receive_timeouts",
        .help = "HTTP API connections closed because no whole request arrived within "
                "receive_timeout",
        .kind = LT_STATS_COUNTER};
    static const lt_stats_def_t limit = {
        .name = "lienthong_http_connections_refused",
        .help = "HTTP API connections closed at once because max_connections or "
                "max_connections_per_ip was reached",
        .kind = LT_STATS_COUNTER};
    lt_apiconn_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->deadline_ms = deadline_ms;
    self->max_conns = max_conns;
    self->max_per_ip = max_per_ip;
    self->tick = tick;
    self->tick_arg = arg;
    self->sum = (lt_apisum_t){.interval_ms = summary_ms,
                              .max_keys = LT_APICONN_ADDRS,
                              .others = "from it",
                              .keys = "addresses",
                              .describe = s_describe,
                              .arg = self};
    for (int w = 0; w < WHYS; w++)
        if (!(self->tally[w] = lt_apisum_tally(&self->sum, sizeof(event_t))))
            goto fail_tally;
    if (pthread_mutex_init(&self->lock, NULL) != 0)
        goto fail_tally;
    if (s_cond_init(&self->wake) != 0)
        goto fail_lock;
    if (!(self->cuts = lt_stats_register_series(stats, &def, NULL)) ||
        !(self->refused = lt_stats_register_series(stats, &limit, NULL)) ||
        pthread_create(&self->thread, NULL, s_watch, self) != 0)
        goto fail_cond;
    return self;
fail_cond:
    pthread_cond_destroy(&self->wake);
fail_lock:
    pthread_mutex_destroy(&self->lock);
fail_tally:
    for (int w = 0; w < WHYS; w++)
        lt_tally_destroy(&self->tally[w]);
    free(self);
    return NULL;
}

void lt_apiconn_destroy(lt_apiconn_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_apiconn_t *self = *self_p;
    pthread_mutex_lock(&self->lock);
    self->stop = 1;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    pthread_join(self->thread, NULL);
    for (int w = 0; w < WHYS; w++) { /* the summaries the next interval would have written */
        lt_tally_flush(self->tally[w]);
        lt_tally_destroy(&self->tally[w]);
    }
    while (self->conns) { /* none after MHD_stop_daemon; freed all the same */
        conn_t *k = self->conns;
        self->conns = k->next;
        free(k);
    }
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

/* Enters a new connection in the list. Without memory it goes unwatched,
 * as every connection went before: libmicrohttpd's idle timeout still
 * bounds it. */
static void s_started(lt_apiconn_t *self, struct MHD_Connection *c, void **socket_context)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    char addr[INET6_ADDRSTRLEN];
    conn_t *k;
    *socket_context = NULL;
    if (!ci)
        return;
    lt_apiconn_addr(c, addr);
    pthread_mutex_lock(&self->lock);
    for (k = self->conns; k && !(k->reserved && strcmp(k->addr, addr) == 0); k = k->next)
        ;
    if (!k && (k = calloc(1, sizeof *k))) { /* its place given back already, or none taken */
        snprintf(k->addr, sizeof k->addr, "%s", addr);
        s_link(self, k);
    }
    if (k) {
        k->reserved = 0;
        k->fd = ci->connect_fd;
        atomic_store(&k->since_ms, lt_clock_mono_ms());
    }
    pthread_mutex_unlock(&self->lock);
    *socket_context = k;
    if (!k)
        lt_warn("api", "a connection goes without the receive_timeout deadline: out of memory");
}

static void s_closed(lt_apiconn_t *self, conn_t *k)
{
    pthread_mutex_lock(&self->lock);
    s_unlink(self, k);
    pthread_mutex_unlock(&self->lock);
    free(k);
}

enum MHD_Result lt_apiconn_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    (void)addrlen;
    lt_apiconn_t *self = cls;
    char text[INET6_ADDRSTRLEN];
    unsigned same = 0;
    s_addr(addr, text);
    pthread_mutex_lock(&self->lock);
    for (const conn_t *k = self->conns; k && same < self->max_per_ip; k = k->next)
        same += strcmp(k->addr, text) == 0;
    int at_max = self->n_conns >= self->max_conns, at_ip = same >= self->max_per_ip;
    conn_t *k = NULL;
    if (at_max || at_ip)
        s_note(self, at_max ? AT_MAX : AT_PER_IP, text);
    else if ((k = calloc(1, sizeof *k))) { /* its place, until its STARTED notice */
        k->reserved = 1;
        k->fd = -1;
        atomic_init(&k->since_ms, lt_clock_mono_ms());
        snprintf(k->addr, sizeof k->addr, "%s", text);
        s_link(self, k);
    }
    pthread_mutex_unlock(&self->lock);
    return at_max || at_ip ? MHD_NO : MHD_YES;
}

void lt_apiconn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code)
{
    lt_apiconn_t *self = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        s_started(self, c, socket_context);
    else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context)
        s_closed(self, *socket_context);
    if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        *socket_context = NULL;
}

/* The connection's entry (NULL when it went unwatched). */
static conn_t *s_conn(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

void lt_apiconn_arrived(lt_apiconn_t *self, struct MHD_Connection *c)
{
    (void)self;
    conn_t *k = s_conn(c);
    if (k)
        atomic_store(&k->since_ms, SERVED);
}

void lt_apiconn_done(lt_apiconn_t *self, struct MHD_Connection *c)
{
    (void)self;
    conn_t *k = s_conn(c);
    if (k)
        atomic_store(&k->since_ms, lt_clock_mono_ms());
}

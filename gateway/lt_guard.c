/* lt_guard: connections of the peer ROUTER by descriptor, the
 * unauthenticated ones in accept order (see lt_guard.h). Descriptors are
 * the lowest free numbers, so a table indexed by descriptor and sized by
 * the soft limit (at most LT_GUARD_TABLE_MAX) holds every connection. */
#define _GNU_SOURCE
#include "lt_guard.h"
#include "lt_file.h"
#include "lt_clock.h"
#include "lt_fdspare.h"
#include "lt_gwstats.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_refuse.h"
#include "lt_sock.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <zmq.h>

/* Descriptors tracked: beyond this many open ones, new connections go
 * unwatched (their libzmq handshake timeout still applies). */
#define LT_GUARD_TABLE_MAX 65536
/* Monitor events handled per call, so the poll loop stays responsive. */
#define LT_GUARD_EVENTS 1024
/* After a refusal, how long the guard looks for the refused connection (its
 * ERROR may be acknowledged some turns later), how often, and how many
 * connections it looks at per step (LT_GUARD_SWEEP_BATCH, two system calls
 * each): a step costs the same however many are pending. */
#define LT_GUARD_SWEEP_MS      1000
#define LT_GUARD_SWEEP_STEP_MS 20

enum { S_FREE = 0, S_PENDING, S_AUTHED, S_CLOSING };

typedef struct {
    int state;
    int prev, next; /* the pending list, in accept order; -1 ends it */
    int64_t at_ms;  /* when accepted */
    struct sockaddr_storage addr;
    socklen_t addr_len;
} s_conn_t;

struct _lt_guard_t {
    void *zctx;
    void *peer;    /* the watched ROUTER */
    void *monitor; /* PAIR connected to its monitor endpoint */
    s_conn_t *conns;
    int size;
    int head, tail; /* oldest and newest pending */
    size_t pending, authed, cap;
    uint64_t closed, refused_closed, swept;
    int64_t ticked_ms;
    int64_t sweep_until, swept_ms; /* looking for refused connections until */
    size_t unfound;                /* refusals reported, their connections not found */
    int sweep_at;                  /* the pending connection the next step starts at, or -1 */
    lt_refuse_t *closing;          /* log lines of connections closed, per address */
    lt_refuse_t *failures;         /* accepts that failed */
    lt_guard_observer_t observer;
    void *observer_arg;
    lt_stats_series_t *st_soft, *st_hard, *st_open, *st_pending, *st_authed, *st_closed, *st_failed,
        *st_spared, *st_deferred, *st_refused;
    uint64_t spared, deferred; /* lt_fdspare's counts already added to the counters */
    int spares;                /* spares held after the last fill */
};

/* ---- the fd limit ------------------------------------------------------------ */

/* Half of what the soft limit leaves after the reserve. */
static size_t s_cap(uint64_t soft)
{
    uint64_t left = soft > LT_FD_RESERVE ? soft - LT_FD_RESERVE : 0;
    uint64_t cap = left / 2;
    if (cap < LT_GUARD_MIN_PENDING)
        cap = LT_GUARD_MIN_PENDING;
    if (cap > LT_GUARD_MAX_PENDING)
        cap = LT_GUARD_MAX_PENDING;
    return (size_t)cap;
}

/* Descriptors open now (the entries of /proc/self/fd, less the one
 * reading it); -1 when unknown. */
static int64_t s_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int64_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1;
}

/* ---- statistics ---------------------------------------------------------------- */

static int s_register(lt_guard_t *self, lt_stats_t *st)
{
    static const lt_stats_def_t limit = {
        .name = "lienthong_fd_limit",
        .help = "The gateway's file descriptor limit (RLIMIT_NOFILE), soft and hard",
        .kind = LT_STATS_GAUGE,
        .n_labels = 1,
        .labels = {"kind"},
        .max_series = 2};
    static const lt_stats_def_t open = {.name = "lienthong_fds_open",
                                        .help = "File descriptors the gateway has open",
                                        .kind = LT_STATS_GAUGE};
    static const lt_stats_def_t conns = {
        .name = "lienthong_peer_connections",
        .help = "Connections to the peer port, unauthenticated or authenticated",
        .kind = LT_STATS_GAUGE,
        .n_labels = 1,
        .labels = {"state"},
        .max_series = 2};
    static const lt_stats_def_t closed = {
        .name = "lienthong_peer_unauthenticated_closed",
        .help = "Unauthenticated peer connections closed, oldest first, over the cap",
        .kind = LT_STATS_COUNTER};
    static const lt_stats_def_t refused = {
        .name = "lienthong_peer_refused_closed",
        .help = "Peer connections closed at once after the ZAP handler refused their key",
        .kind = LT_STATS_COUNTER};
    static const lt_stats_def_t spared = {
        .name = "lienthong_local_accept_spared",
        .help = "Local clients accepted on a spare descriptor when none was free",
        .kind = LT_STATS_COUNTER};
    static const lt_stats_def_t deferred = {
        .name = "lienthong_local_accept_deferred",
        .help = "Local clients left waiting because no descriptor, not even a spare, was free",
        .kind = LT_STATS_COUNTER};
    static const lt_stats_def_t failed = {
        .name = "lienthong_peer_accept_failed",
        .help = "Connections to the peer port that could not be accepted",
        .kind = LT_STATS_COUNTER};
    return (self->st_soft = lt_gwstats_series(st, &limit, (const char *[]){"soft"})) &&
                   (self->st_hard = lt_gwstats_series(st, &limit, (const char *[]){"hard"})) &&
                   (self->st_open = lt_gwstats_series(st, &open, NULL)) &&
                   (self->st_pending =
                        lt_gwstats_series(st, &conns, (const char *[]){"unauthenticated"})) &&
                   (self->st_authed =
                        lt_gwstats_series(st, &conns, (const char *[]){"authenticated"})) &&
                   (self->st_closed = lt_gwstats_series(st, &closed, NULL)) &&
                   (self->st_refused = lt_gwstats_series(st, &refused, NULL)) &&
                   (self->st_failed = lt_gwstats_series(st, &failed, NULL)) &&
                   (self->st_spared = lt_gwstats_series(st, &spared, NULL)) &&
                   (self->st_deferred = lt_gwstats_series(st, &deferred, NULL))
               ? 0
               : -1;
}

/* ---- life cycle -------------------------------------------------------------------- */

lt_guard_t *lt_guard_new(void *zctx, lt_stats_t *stats, size_t cap)
{
    lt_guard_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    char why[256];
    uint64_t hard, before, soft = lt_file_raise_nofile(&hard, &before, why, sizeof why);
    if (why[0])
        lt_warn("guard", "%s", why);
    self->zctx = zctx;
    self->cap = cap ? cap : s_cap(soft);
    self->size = soft < LT_GUARD_TABLE_MAX ? (int)soft : LT_GUARD_TABLE_MAX;
    self->head = self->tail = self->sweep_at = -1;
    self->conns = calloc((size_t)self->size, sizeof *self->conns);
    self->closing = lt_refuse_new("guard", "unauthenticated connection", 0, 0);
    self->failures = lt_refuse_new("guard", "connection", 0, 0);
    if (!self->conns || !self->closing || !self->failures || s_register(self, stats) != 0) {
        lt_guard_destroy(&self);
        return NULL;
    }
    if ((self->spares = lt_fdspare_fill()) < LT_FD_SPARE)
        lt_warn("guard", "fewer than %d spare descriptors for the local socket", LT_FD_SPARE);
    lt_stats_set(self->st_soft, (int64_t)soft);
    lt_stats_set(self->st_hard, (int64_t)hard);
    /* One line for the whole budget: the limits and what they leave to peers. */
    lt_info("guard",
            "file descriptors: soft limit %llu (was %llu), hard limit %llu; at most %zu "
            "unauthenticated peer connections (%d descriptors kept for the local socket, "
            "stores and links)",
            (unsigned long long)soft, (unsigned long long)before, (unsigned long long)hard,
            self->cap, LT_FD_RESERVE);
    if (soft < 2 * LT_FD_RESERVE + 2 * LT_GUARD_MIN_PENDING)
        lt_warn("guard",
                "file descriptor limit %llu is low: raise LimitNOFILE (docs/operations.md)",
                (unsigned long long)soft);
    return self;
}

void lt_guard_destroy(lt_guard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_guard_t *self = *self_p;
    if (self->monitor)
        zmq_close(self->monitor);
    if (self->closing)
        lt_refuse_flush(self->closing);
    if (self->failures)
        lt_refuse_flush(self->failures);
    lt_refuse_destroy(&self->closing);
    lt_refuse_destroy(&self->failures);
    lt_fdspare_release();
    free(self->conns);
    free(self);
    *self_p = NULL;
}

void lt_guard_set_observer(lt_guard_t *self, lt_guard_observer_t fn, void *arg)
{
    self->observer = fn;
    self->observer_arg = arg;
}

void lt_guard_set_audit(lt_guard_t *self, lt_audit_t *audit)
{
    lt_refuse_set_audit(self->closing, audit);
}

size_t lt_guard_pending(const lt_guard_t *self)
{
    return self->pending;
}

size_t lt_guard_cap(const lt_guard_t *self)
{
    return self->cap;
}

uint64_t lt_guard_closed(const lt_guard_t *self)
{
    return self->closed;
}

uint64_t lt_guard_refused_closed(const lt_guard_t *self)
{
    return self->refused_closed;
}

uint64_t lt_guard_swept(const lt_guard_t *self)
{
    return self->swept;
}

void *lt_guard_socket(lt_guard_t *self)
{
    return self->monitor;
}

/* ---- the table ----------------------------------------------------------------------- */

static void s_unlink(lt_guard_t *self, int fd)
{
    s_conn_t *c = &self->conns[fd];
    if (c->prev >= 0)
        self->conns[c->prev].next = c->next;
    else
        self->head = c->next;
    if (c->next >= 0)
        self->conns[c->next].prev = c->prev;
    else
        self->tail = c->prev;
    c->prev = c->next = -1;
    self->pending--;
}

/* Sets fd's state, keeping the list and the counts. */
static void s_set(lt_guard_t *self, int fd, int state)
{
    s_conn_t *c = &self->conns[fd];
    if (c->state == S_PENDING)
        s_unlink(self, fd);
    if (c->state == S_AUTHED)
        self->authed--;
    c->state = state;
    if (state == S_AUTHED)
        self->authed++;
    if (state == S_PENDING) {
        c->prev = self->tail;
        c->next = -1;
        if (self->tail >= 0)
            self->conns[self->tail].next = fd;
        else
            self->head = fd;
        self->tail = fd;
        self->pending++;
    }
}

static void s_forget_all(lt_guard_t *self)
{
    self->unfound = 0;
    for (int fd = 0; fd < self->size; fd++)
        if (self->conns[fd].state != S_FREE)
            s_set(self, fd, S_FREE);
}

/* The address of the other end of fd as text (no port), for log lines. */
static void s_addr_text(const s_conn_t *c, char *out, size_t cap)
{
    const void *ip = NULL;
    if (c->addr.ss_family == AF_INET)
        ip = &((const struct sockaddr_in *)&c->addr)->sin_addr;
    else if (c->addr.ss_family == AF_INET6)
        ip = &((const struct sockaddr_in6 *)&c->addr)->sin6_addr;
    if (!ip || !inet_ntop(c->addr.ss_family, ip, out, (socklen_t)cap))
        snprintf(out, cap, "?");
}

/* 1 if fd is still the connection recorded: the descriptor may have been
 * closed and reused since, and must then not be touched. */
static int s_same_conn(const s_conn_t *c, int fd)
{
    struct sockaddr_storage now;
    socklen_t len = sizeof now;
    if (getpeername(fd, (struct sockaddr *)&now, &len) != 0)
        return 0;
    return len == c->addr_len && memcmp(&now, &c->addr, len) == 0;
}

/* Bytes of fd's stream the other end acknowledged; 0 when unknown. */
static uint64_t s_acked(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof ti.tcpi_bytes_acked)
        return 0;
    return ti.tcpi_bytes_acked;
}

/* 1 if the gateway has sent fd more than a handshake before admission and
 * an ERROR, that is, a READY: the ZAP handler admitted its key. */
static int s_admitted(int fd)
{
    return s_acked(fd) > LT_GUARD_PREAUTH_BYTES + LT_GUARD_ERROR_BYTES;
}

/* 1 if what the gateway has sent fd ends with an ERROR: its key was
 * refused (lt_guard.h). */
static int s_refused(int fd)
{
    uint64_t n = s_acked(fd);
    return n > LT_GUARD_PREAUTH_BYTES && n <= LT_GUARD_PREAUTH_BYTES + LT_GUARD_ERROR_BYTES;
}

/* Shuts fd down: libzmq reads the end of stream, closes the descriptor and
 * reports ZMQ_EVENT_DISCONNECTED; until then the entry stays as closing.
 * 0, or -1 (the entry is then forgotten). */
static int s_shut(lt_guard_t *self, int fd, const char *addr)
{
    if (shutdown(fd, SHUT_RDWR) != 0) {
        lt_debug("guard", "shutdown of the connection from %s: %s", addr, strerror(errno));
        s_set(self, fd, S_FREE);
        return -1;
    }
    s_set(self, fd, S_CLOSING);
    return 0;
}

/* Shuts the oldest unauthenticated connection down, or finds it admitted. */
static void s_close_oldest(lt_guard_t *self)
{
    int fd = self->head;
    s_conn_t *c = &self->conns[fd];
    if (!s_same_conn(c, fd)) {
        s_set(self, fd, S_FREE); /* gone already; its event is on the way */
        return;
    }
    if (s_admitted(fd)) {
        s_set(self, fd, S_AUTHED);
        return;
    }
    char addr[INET6_ADDRSTRLEN];
    s_addr_text(c, addr, sizeof addr);
    if (s_shut(self, fd, addr) != 0)
        return;
    self->closed++;
    lt_stats_inc(self->st_closed);
    char detail[96];
    snprintf(detail, sizeof detail, "(%zu unauthenticated at most)", self->cap);
    lt_refuse_note(self->closing,
                   &(lt_refuse_event_t){.source = addr,
                                        .reason = "closed, oldest first, over the cap",
                                        .detail = detail});
}

/* Shuts fd down when it was sent an ERROR: 1 when it was. Not logged:
 * lt_zap logged the refusal. */
static int s_sweep_one(lt_guard_t *self, int fd)
{
    self->swept++;
    if (!s_same_conn(&self->conns[fd], fd) || !s_refused(fd))
        return 0;
    char addr[INET6_ADDRSTRLEN];
    s_addr_text(&self->conns[fd], addr, sizeof addr);
    if (s_shut(self, fd, addr) != 0)
        return 0;
    self->refused_closed++;
    lt_stats_inc(self->st_refused);
    return 1;
}

/* While a refusal is recent and its connection not yet found, shuts down
 * the unauthenticated connections that were sent an ERROR. Each step looks
 * at LT_GUARD_SWEEP_BATCH of them, newest first (a refusal comes within a
 * handshake of the accept), going on where the last step stopped. */
static void s_sweep(lt_guard_t *self)
{
    int64_t now = lt_clock_mono_ms();
    if (now >= self->sweep_until)
        self->unfound = 0; /* closed by their clients, or by libzmq in time */
    if (!self->unfound || now - self->swept_ms < LT_GUARD_SWEEP_STEP_MS)
        return;
    self->swept_ms = now;
    int fd = self->sweep_at;
    if (fd < 0 || self->conns[fd].state != S_PENDING)
        fd = self->tail;
    size_t n = self->pending < LT_GUARD_SWEEP_BATCH ? self->pending : LT_GUARD_SWEEP_BATCH;
    for (; n > 0 && fd >= 0 && self->unfound; n--) {
        int prev = self->conns[fd].prev;
        if (s_sweep_one(self, fd))
            self->unfound--;
        fd = prev >= 0 ? prev : self->tail; /* past the oldest: the newest again */
    }
    self->sweep_at = fd;
}

static void s_enforce(lt_guard_t *self)
{
    while (self->pending > self->cap && self->head >= 0)
        s_close_oldest(self);
    lt_stats_set(self->st_pending, (int64_t)self->pending);
    lt_stats_set(self->st_authed, (int64_t)self->authed);
}

/* ---- events ------------------------------------------------------------------------- */

static void s_accepted(lt_guard_t *self, int fd)
{
    if (fd < 0 || fd >= self->size)
        return;
    s_conn_t *c = &self->conns[fd];
    s_set(self, fd, S_FREE); /* a reused descriptor whose end we missed */
    c->addr_len = sizeof c->addr;
    if (getpeername(fd, (struct sockaddr *)&c->addr, &c->addr_len) != 0)
        return; /* already gone */
    c->at_ms = lt_clock_mono_ms();
    s_set(self, fd, S_PENDING);
}

static void s_accept_failed(lt_guard_t *self, int err)
{
    lt_stats_inc(self->st_failed);
    /* strerror's text is fixed per errno: a reason, not peer input. */
    lt_refuse_note(self->failures,
                   &(lt_refuse_event_t){.source = "peer port", .reason = strerror(err)});
}

/* Reads one event: 0, or -1 when none was waiting. */
static int s_event(lt_guard_t *self)
{
    zmq_msg_t head, where;
    zmq_msg_init(&head);
    zmq_msg_init(&where);
    int rc = -1;
    if (zmq_msg_recv(&head, self->monitor, ZMQ_DONTWAIT) < 0)
        goto out;
    rc = 0;
    /* v1 events: u16 event and u32 value, then the endpoint frame. */
    if (zmq_msg_more(&head) && zmq_msg_recv(&where, self->monitor, 0) < 0)
        goto out;
    if (zmq_msg_size(&head) != 6)
        goto out;
    uint16_t ev;
    uint32_t value;
    memcpy(&ev, zmq_msg_data(&head), 2);
    memcpy(&value, (uint8_t *)zmq_msg_data(&head) + 2, 4);
    /* The end of a connection the guard closed is reported by the guard. */
    int ours = ev == ZMQ_EVENT_DISCONNECTED && (int)value >= 0 && (int)value < self->size &&
               self->conns[value].state == S_CLOSING;
    if (ev == ZMQ_EVENT_ACCEPTED)
        s_accepted(self, (int)value);
    else if (ev == ZMQ_EVENT_DISCONNECTED && (int)value >= 0 && (int)value < self->size)
        s_set(self, (int)value, S_FREE);
    else if (ev == ZMQ_EVENT_ACCEPT_FAILED)
        s_accept_failed(self, (int)value);
    else if (ev == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
        self->sweep_until = lt_clock_mono_ms() + LT_GUARD_SWEEP_MS;
        self->unfound++;
        self->sweep_at = -1; /* a new refusal is among the newest: start there */
    }
    if (self->observer && ev != ZMQ_EVENT_ACCEPT_FAILED && ev != ZMQ_EVENT_HANDSHAKE_FAILED_AUTH &&
        !ours)
        self->observer(self->observer_arg, ev, (int32_t)value);
out:
    zmq_msg_close(&head);
    zmq_msg_close(&where);
    return rc;
}

void lt_guard_on_events(lt_guard_t *self)
{
    if (!self->monitor)
        return;
    for (int i = 0; i < LT_GUARD_EVENTS && s_event(self) == 0; i++)
        ;
    s_sweep(self);
    s_enforce(self);
}

/* Replaces spares used since the last turn and counts their use. */
static void s_spares(lt_guard_t *self)
{
    uint64_t used = lt_fdspare_used(), aborted = lt_fdspare_aborted();
    if (used == self->spared && aborted == self->deferred && self->spares == LT_FD_SPARE)
        return;
    lt_stats_add(self->st_spared, used - self->spared);
    lt_stats_add(self->st_deferred, aborted - self->deferred);
    self->spared = used;
    self->deferred = aborted;
    self->spares = lt_fdspare_fill();
}

void lt_guard_tick(lt_guard_t *self)
{
    s_spares(self);
    lt_refuse_tick(self->closing);
    lt_refuse_tick(self->failures);
    s_sweep(self);
    int64_t now = lt_clock_mono_ms();
    if (now - self->ticked_ms < 1000)
        return;
    self->ticked_ms = now;
    /* libzmq closes a connection whose handshake is not done by
     * LT_HANDSHAKE_MS: one still open later has authenticated. */
    while (self->head >= 0 && now - self->conns[self->head].at_ms > LT_HANDSHAKE_MS + 1000)
        s_set(self, self->head, S_AUTHED);
    lt_stats_set(self->st_open, s_open_fds());
    s_enforce(self);
}

/* ---- attaching ------------------------------------------------------------------------ */

void lt_guard_detach(lt_guard_t *self, void *peer)
{
    if (peer && self->peer == peer)
        (void)zmq_socket_monitor(peer, NULL, 0);
    if (self->monitor)
        zmq_close(self->monitor);
    self->monitor = NULL;
    self->peer = NULL;
    s_forget_all(self);
}

int lt_guard_attach(lt_guard_t *self, void *peer)
{
    char ep[64];
    lt_guard_detach(self, self->peer);
    lt_sock_inproc_name(ep, sizeof ep, "guard");
    const int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_ACCEPT_FAILED | ZMQ_EVENT_DISCONNECTED |
                       ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH;
    /* No high-water mark: libzmq's I/O thread blocks on a full monitor
     * pipe, and the poll loop drains it every turn. */
    int hwm = 0;
    if (zmq_socket_monitor(peer, ep, events) != 0 ||
        !(self->monitor = zmq_socket(self->zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(self->monitor, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 ||
        zmq_connect(self->monitor, ep) != 0) {
        lt_error("guard", "cannot watch the peer socket: %s", zmq_strerror(zmq_errno()));
        (void)zmq_socket_monitor(peer, NULL, 0);
        if (self->monitor)
            zmq_close(self->monitor);
        self->monitor = NULL;
        return -1;
    }
    self->peer = peer;
    return 0;
}

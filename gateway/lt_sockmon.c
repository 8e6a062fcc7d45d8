/* lt_sockmon: logging what libzmq does to peer connections (see
 * lt_sockmon.h). */
#include "lt_sockmon.h"
#include "lt_clock.h"
#include "lt_gwstats.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_sock.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <zmq.h>

/* Remote addresses remembered by file descriptor, for the line at close;
 * a slot is reused by whichever descriptor maps to it (implementation). */
#define ADDRS    1024
#define ADDR_MAX 64

struct _lt_sockmon_t {
    size_t cap;
    int64_t interval_at; /* monotonic ms when the current interval began */
    unsigned lines;      /* lines written in it */
    uint64_t held;       /* lines held back in it */
    lt_stats_series_t *closed;
    char addr[ADDRS][ADDR_MAX];
};

lt_sockmon_t *lt_sockmon_new(size_t cap, lt_stats_t *stats)
{
    static const lt_stats_def_t def = {
        .name = "lienthong_peer_connections_closed",
        .help = "Peer connections closed by libzmq: peer left, heartbeat expired, or a frame "
                "over the socket cap (PROTOCOL.md 4.4)",
        .kind = LT_STATS_COUNTER};
    lt_sockmon_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = cap;
    self->interval_at = lt_clock_mono_ms();
    if (!(self->closed = lt_gwstats_series(stats, &def, NULL)))
        lt_sockmon_destroy(&self);
    return self;
}

void lt_sockmon_destroy(lt_sockmon_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

void lt_sockmon_tick(lt_sockmon_t *self)
{
    int64_t now = lt_clock_mono_ms();
    if (now - self->interval_at < LT_REFUSE_INTERVAL_MS)
        return;
    if (self->held)
        lt_warn("peer",
                "%llu more peer connections closed or failed in %lld s, not logged one "
                "by one (lienthong_peer_connections_closed counts them)",
                (unsigned long long)self->held, (long long)(now - self->interval_at) / 1000);
    self->interval_at = now;
    self->lines = 0;
    self->held = 0;
}

/* 1 if this interval may still have a line of its own. */
static int s_budget(lt_sockmon_t *self)
{
    if (self->lines < LT_SOCKMON_LINES) {
        self->lines++;
        return 1;
    }
    self->held++;
    return 0;
}

/* The remote address of an accepted connection, while it is still open. */
static void s_remember(lt_sockmon_t *self, int fd)
{
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    char host[INET6_ADDRSTRLEN] = "?";
    char *out = self->addr[(unsigned)fd % ADDRS];
    if (getpeername(fd, (struct sockaddr *)&sa, &len) != 0) {
        snprintf(out, ADDR_MAX, "?");
        return;
    }
    int port = 0;
    if (sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&sa;
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        port = ntohs(in->sin_port);
    } else if (sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
        port = ntohs(in6->sin6_port);
    }
    snprintf(out, ADDR_MAX, "%s:%d", host, port);
}

const char *lt_sockmon_protocol_error(int32_t code)
{
    switch ((uint32_t)code) {
    case ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC:
        return "CURVE cryptographic error (the peer holds another key for this gateway, or "
               "its own is not the directory's)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH:
        return "security mechanism mismatch (the peer does not use CURVE)";
    case ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE:
        return "CURVE key exchange failed";
    case ZMQ_PROTOCOL_ERROR_ZMTP_UNEXPECTED_COMMAND:
    case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_SEQUENCE:
        return "ZMTP command out of order";
    case ZMQ_PROTOCOL_ERROR_ZMTP_INVALID_METADATA:
        return "ZMTP metadata malformed";
    default:
        break;
    }
    uint32_t family = (uint32_t)code & 0xFF000000u;
    if ((uint32_t)code >= ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_UNSPECIFIED &&
        (uint32_t)code <= ZMQ_PROTOCOL_ERROR_ZMTP_MALFORMED_COMMAND_WELCOME)
        return "ZMTP command malformed";
    return family == ZMQ_PROTOCOL_ERROR_ZAP_UNSPECIFIED    ? "ZAP handler's reply malformed"
           : family == ZMQ_PROTOCOL_ERROR_ZMTP_UNSPECIFIED ? "ZMTP protocol error"
                                                           : "protocol error";
}

void lt_sockmon_event(lt_sockmon_t *self, uint16_t event, int32_t value)
{
    /* The value is the connection's descriptor for ACCEPTED and
     * DISCONNECTED only; for a failed handshake it is a ZMQ_PROTOCOL_ERROR_*
     * code, and libzmq names no connection (an address looked up with it
     * named another peer's). */
    const char *addr = value >= 0 ? self->addr[(unsigned)value % ADDRS] : "?";
    if (event == ZMQ_EVENT_ACCEPTED && value >= 0) {
        s_remember(self, value);
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
        lt_stats_inc(self->closed);
        if (s_budget(self))
            lt_info("peer",
                    "connection from %s closed by libzmq: the peer left, its heartbeat "
                    "expired, or it sent a frame over the socket cap (%zu bytes)",
                    addr[0] ? addr : "?", self->cap);
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        if (s_budget(self))
            lt_warn("peer", "a connection failed its handshake: %s (0x%08x)",
                    lt_sockmon_protocol_error(value), (unsigned)value);
    }
}

/* ---- a link's DEALER ----------------------------------------------------------- */

#define HANDSHAKE_EVENTS                                                                           \
    (ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |                  \
     ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
/* Whether the link is connected: a full send queue also stops its sends,
 * so only these events tell a peer not reached (lt_peers_link_up). */
#define LINK_EVENTS (HANDSHAKE_EVENTS | ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED)
/* A DEALER retries every reconnect interval: a few events per tick. */
#define EVENTS_PER_CALL 64

void *lt_sockmon_watch(void *zctx, void *sock)
{
    char ep[64];
    void *mon = NULL;
    lt_sock_inproc_name(ep, sizeof ep, "link-mon");
    /* No high-water mark: libzmq's I/O thread blocks on a full monitor
     * pipe, and the poll loop drains it every tick. */
    int hwm = 0;
    if (zmq_socket_monitor(sock, ep, LINK_EVENTS) != 0 || !(mon = zmq_socket(zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(mon, ZMQ_RCVHWM, &hwm, sizeof hwm) != 0 || zmq_connect(mon, ep) != 0) {
        lt_warn("link", "cannot watch a link's handshakes: %s", zmq_strerror(zmq_errno()));
        (void)zmq_socket_monitor(sock, NULL, 0);
        if (mon)
            zmq_close(mon);
        mon = NULL;
    }
    return mon;
}

/* One event of mon: its ZMQ_EVENT_ value, 0 for one of another shape, or
 * -1 when none was waiting. */
static int s_link_event(void *mon)
{
    zmq_msg_t head, where;
    zmq_msg_init(&head);
    zmq_msg_init(&where);
    int ev = -1;
    if (zmq_msg_recv(&head, mon, ZMQ_DONTWAIT) < 0)
        goto out;
    ev = 0;
    /* v1 events: u16 event and u32 value, then the endpoint frame. */
    if (zmq_msg_more(&head) && zmq_msg_recv(&where, mon, 0) < 0)
        goto out;
    if (zmq_msg_size(&head) == 6) {
        uint16_t e;
        memcpy(&e, zmq_msg_data(&head), 2);
        ev = e;
    }
out:
    zmq_msg_close(&head);
    zmq_msg_close(&where);
    return ev;
}

int lt_sockmon_handshake(void *mon, int *linked)
{
    int last = 0, ev;
    for (int i = 0; mon && i < EVENTS_PER_CALL && (ev = s_link_event(mon)) >= 0; i++) {
        if (ev & HANDSHAKE_EVENTS)
            last = ev;
        if (ev & LINK_EVENTS)
            *linked = ev == ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
    }
    return last;
}

void lt_sockmon_unwatch(void *sock, void **mon_p)
{
    if (!mon_p || !*mon_p)
        return;
    (void)zmq_socket_monitor(sock, NULL, 0);
    zmq_close(*mon_p);
    *mon_p = NULL;
}

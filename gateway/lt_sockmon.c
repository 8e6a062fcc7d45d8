/* lt_sockmon: logging what libzmq does to peer connections (see
 * lt_sockmon.h). */
#include "lt_sockmon.h"
#include "lt_gwstats.h"
#include "lt_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <zmq.h>

/* Remote addresses remembered by file descriptor, for the line at close;
 * a slot is reused by whichever descriptor maps to it (implementation). */
#define ADDRS 1024
#define ADDR_MAX 64

struct _lt_sockmon_t {
    void *pair;     /* receives the monitor's events */
    void *watched;  /* the monitored socket, to stop monitoring it */
    size_t cap;
    lt_stats_series_t *closed;
    char addr[ADDRS][ADDR_MAX];
};

lt_sockmon_t *lt_sockmon_new(void *zctx, void *sock, size_t cap, lt_stats_t *stats)
{
    static const lt_stats_def_t def = {
        .name = "lienthong_peer_connections_closed",
        .help = "Peer connections closed by libzmq: peer left, heartbeat expired, or a frame "
                "over the socket cap (PROTOCOL.md 4.4)",
        .kind = LT_STATS_COUNTER};
    static unsigned serial;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://lt-sockmon-%u", serial++);
    lt_sockmon_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = cap;
    self->watched = sock;
    self->closed = lt_gwstats_series(stats, &def, NULL);
    int events = ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
    if (!self->closed || zmq_socket_monitor(sock, ep, events) != 0 ||
        !(self->pair = zmq_socket(zctx, ZMQ_PAIR)) || zmq_connect(self->pair, ep) != 0) {
        lt_warn("gateway", "no monitor on the peer socket: %s", zmq_strerror(zmq_errno()));
        lt_sockmon_destroy(&self);
    }
    return self;
}

void lt_sockmon_destroy(lt_sockmon_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_sockmon_t *self = *self_p;
    if (self->pair) {
        (void)zmq_socket_monitor(self->watched, NULL, 0);
        zmq_close(self->pair);
    }
    free(self);
    *self_p = NULL;
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

static void s_event(lt_sockmon_t *self, uint16_t event, int32_t value)
{
    const char *addr = value >= 0 ? self->addr[(unsigned)value % ADDRS] : "?";
    if (event == ZMQ_EVENT_ACCEPTED && value >= 0) {
        s_remember(self, value);
    } else if (event == ZMQ_EVENT_DISCONNECTED) {
        lt_stats_inc(self->closed);
        lt_info("peer", "connection from %s closed by libzmq: the peer left, its heartbeat "
                "expired, or it sent a frame over the socket cap (%zu bytes)",
                addr[0] ? addr : "?", self->cap);
    } else if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        lt_warn("peer", "connection from %s failed its handshake: ZMTP or CURVE protocol error "
                "%d", addr[0] ? addr : "?", (int)value);
    }
}

void lt_sockmon_handle(lt_sockmon_t *self)
{
    for (int i = 0; i < 64; i++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, self->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        /* Frame 1: u16 event and i32 value, native order; frame 2: endpoint. */
        uint16_t event = 0;
        int32_t value = -1;
        if (zmq_msg_size(&m) >= 6) {
            memcpy(&event, zmq_msg_data(&m), 2);
            memcpy(&value, (const uint8_t *)zmq_msg_data(&m) + 2, 4);
        }
        int more = zmq_msg_more(&m);
        zmq_msg_close(&m);
        while (more) {
            zmq_msg_init(&m);
            more = zmq_msg_recv(&m, self->pair, 0) >= 0 && zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        s_event(self, event, value);
    }
}

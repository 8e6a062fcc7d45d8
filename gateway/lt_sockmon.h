/* lt_sockmon: what libzmq does to the peer ROUTER's connections without a
 * word to the poll loop (PROTOCOL.md 3.1, 4.4). A frame over the socket cap
 * (ZMQ_MAXMSGSIZE), an expired heartbeat or a peer that left all end the
 * same way: libzmq closes the connection, and the only trace is a socket
 * monitor event. This module watches those events and leaves a log line
 * for each closed or failed connection, naming the remote address (taken
 * when the connection was accepted), and counts them
 * (lienthong_peer_connections_closed).
 *
 * libzmq does not say why it closed a connection: the line names the
 * possible causes. A frame between max_message and the socket cap still
 * reaches the gateway, which answers ERR_TOO_LARGE (lt_sock). */
#ifndef LT_SOCKMON_H
#define LT_SOCKMON_H

#include "lt_stats.h"

typedef struct _lt_sockmon_t lt_sockmon_t;

/* Monitors sock (a socket of zctx) whose frames are capped at cap bytes.
 * NULL when the monitor cannot be set up (the gateway runs without it). */
lt_sockmon_t *lt_sockmon_new(void *zctx, void *sock, size_t cap, lt_stats_t *stats);
void lt_sockmon_destroy(lt_sockmon_t **self_p);

/* Reads and logs the waiting events, without blocking: every poll-loop
 * turn (the events are not urgent, so they stay out of the poll set). */
void lt_sockmon_handle(lt_sockmon_t *self);

#endif

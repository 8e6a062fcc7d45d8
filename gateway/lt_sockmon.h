/* lt_sockmon: what libzmq does to the peer ROUTER's connections without a
 * word to the poll loop (PROTOCOL.md 3.1, 4.4). A frame over the socket cap
 * (ZMQ_MAXMSGSIZE), an expired heartbeat or a peer that left all end the
 * same way: libzmq closes the connection, and the only trace is a socket
 * monitor event. This module leaves a log line for each closed or failed
 * connection, naming the remote address (taken when the connection was
 * accepted), and counts them (lienthong_peer_connections_closed).
 *
 * libzmq allows one monitor per socket, and lt_guard owns the peer
 * ROUTER's: the guard passes each event on to lt_sockmon_event, except the
 * ends of connections it closed itself (it reports those). So that a flood
 * of connections costs bounded disk, at most LT_SOCKMON_LINES lines are
 * written per LT_REFUSE_INTERVAL_MS; lt_sockmon_tick then writes one line
 * with the count of those held back.
 *
 * libzmq does not say why it closed a connection: the line names the
 * possible causes. A frame between max_message and the socket cap still
 * reaches the gateway, which answers ERR_TOO_LARGE (lt_sock). */
#ifndef LT_SOCKMON_H
#define LT_SOCKMON_H

#include <stddef.h>
#include <stdint.h>

#include "lt_stats.h"

/* Lines per interval before they are only counted (implementation). */
#define LT_SOCKMON_LINES 10

typedef struct _lt_sockmon_t lt_sockmon_t;

/* For a socket whose frames are capped at cap bytes. NULL when out of
 * memory (the gateway runs without it). */
lt_sockmon_t *lt_sockmon_new(size_t cap, lt_stats_t *stats);
void lt_sockmon_destroy(lt_sockmon_t **self_p);

/* What a ZMQ_PROTOCOL_ERROR_* code (the value of a failed handshake's
 * event) means, for a log line; never NULL. */
const char *lt_sockmon_protocol_error(int32_t code);

/* One monitor event (ZMQ_EVENT_*, with its value) of the watched socket. */
void lt_sockmon_event(lt_sockmon_t *self, uint16_t event, int32_t value);

/* Writes the count of lines held back once an interval has passed: call
 * every poll-loop turn. */
void lt_sockmon_tick(lt_sockmon_t *self);

/* ---- a link's DEALER -------------------------------------------------------
 * A link whose CURVE handshake keeps failing looks, from the poll loop,
 * like a peer that does not answer: the DEALER only retries. Its monitor
 * tells the two apart, so that the log names the likely cause (a peer that
 * rotated its keys while this gateway was down, docs/operations.md
 * "Rotating keys") instead of a gateway that does not run. */

/* Watches the handshakes of the DEALER sock (of the libzmq context zctx):
 * the monitor socket to pass to lt_sockmon_handshake, or NULL when it
 * cannot be made (warned about; the link runs unwatched). */
void *lt_sockmon_watch(void *zctx, void *sock);

/* Reads the waiting events of mon (NULL: none), bounded per call: the
 * last handshake failure among them (ZMQ_EVENT_HANDSHAKE_FAILED_*), or 0
 * when there was none. *linked becomes 1 when the last event that tells
 * is a handshake done, 0 when it is a failure or the connection's end; it
 * is left alone when none tells. */
int lt_sockmon_handshake(void *mon, int *linked);

/* Stops watching sock and closes *mon_p, which becomes NULL. Idempotent. */
void lt_sockmon_unwatch(void *sock, void **mon_p);

#endif

/* lt_apiconn: the deadline of a request's arrival in `lienthong api`
 * (docs/operations.md, "Limits of the HTTP API").
 *
 * libmicrohttpd's connection timeout is an idle timeout: a client that
 * sends one header line every few seconds keeps its connection, and its
 * thread, for ever, and max_connections_per_ip such clients lock every
 * application on their address out. This module holds every connection
 * libmicrohttpd has open (MHD_OPTION_NOTIFY_CONNECTION) with the time it
 * began to wait for a request: when the connection opened, or when its
 * previous request was done. A thread of its own looks at them a few times a
 * second and shuts down the socket of each that has not delivered a whole
 * request (headers and body) within the deadline; the connection's thread
 * then reads the end of the stream and libmicrohttpd closes it. While a
 * request is served (after its last byte arrived), the deadline does not
 * run: the gateway's answer is bounded by request_timeout_ms instead.
 *
 * Each connection cut is counted (lienthong_http_receive_timeouts_total);
 * the log gets the first of each minute in full and one line summing up
 * the others. */
#ifndef LT_APICONN_H
#define LT_APICONN_H

#include "lt_stats.h"

#include <microhttpd.h>
#include <netinet/in.h>

typedef struct _lt_apiconn_t lt_apiconn_t;

/* Starts the watch with deadline_ms, registering its counter in stats.
 * NULL on failure (out of memory, no thread). */
lt_apiconn_t *lt_apiconn_new(int deadline_ms, lt_stats_t *stats);

/* Stops the watch and logs the last summary. Call after MHD_stop_daemon
 * (no connection is left then). */
void lt_apiconn_destroy(lt_apiconn_t **self_p);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback; cls is the
 * lt_apiconn_t. */
void lt_apiconn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);

/* The request on c has arrived whole: its deadline stops. */
void lt_apiconn_arrived(lt_apiconn_t *self, struct MHD_Connection *c);

/* The request on c is done (answered or abandoned): the deadline of the
 * next one on the same connection starts now. */
void lt_apiconn_done(lt_apiconn_t *self, struct MHD_Connection *c);

/* The client address of c as text into addr ("?" when unknown). */
void lt_apiconn_addr(struct MHD_Connection *c, char addr[INET6_ADDRSTRLEN]);

#endif

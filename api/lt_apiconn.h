/* lt_apiconn: the connection limits and the deadline of a request's
 * arrival in `lienthong api` (docs/operations.md, "Limits of the HTTP API").
 *
 * libmicrohttpd's connection timeout is an idle timeout: a client that
 * sends one header line every few seconds keeps its connection for ever, and max_connections_per_ip
 * such clients lock every application on their address out. This module holds every connection
 * libmicrohttpd has open (MHD_OPTION_NOTIFY_CONNECTION) with the time it
 * began to wait for a request: when the connection opened, or when its
 * previous request was done. A thread of its own looks at them a few times a
 * second and shuts down the socket of each that has not delivered a whole
 * request (headers and body) within the deadline; libmicrohttpd then
 * reads the end of the stream and closes it. While a
 * request is served (after its last byte arrived), the deadline does not
 * run: the gateway's answer is bounded by request_timeout_ms instead.
 *
 * The same list enforces max_connections and max_connections_per_ip: the
 * accept policy (lt_apiconn_accept) refuses a connection when either is
 * reached, and counts it (lienthong_http_connections_refused_total).
 * libmicrohttpd's own limits would refuse it too, but say so only in a
 * log message whose wording is its own, and may change with its version.
 *
 * Each connection cut or refused is counted (lienthong_http_receive_timeouts_total,
 * lienthong_http_connections_refused_total) and reported through lt_tally
 * per reason and client address: the first logged at once, then one line
 * per reason and address per summary interval with the count; beyond the
 * addresses counted apart, one count per reason.
 *
 * The watch's thread is also the API's timer: each turn (a few times a
 * second) it calls the tick its owner gave, so that the summaries of a
 * burst are written within an interval of its end, not at the next
 * refusal. */
#ifndef LT_APICONN_H
#define LT_APICONN_H

#include "lt_stats.h"

#include <microhttpd.h>
#include <netinet/in.h>

/* Client addresses counted apart in the API's summaries (connections cut,
 * and refused at each limit; requests without a token); beyond them, one
 * "others" count. */
#define LT_APICONN_ADDRS 16

typedef struct _lt_apiconn_t lt_apiconn_t;

/* Called by the watch's thread each turn, outside the watch's lock. */
typedef void(lt_apiconn_tick_fn)(void *arg);

/* Starts the watch with deadline_ms and the limits max_conns in all and
 * max_per_ip from one address, its cuts and refusals summed up every
 * summary_ms, registering its counters in stats; tick(arg) each turn
 * (tick may be NULL). NULL on failure (out of memory, no thread). */
lt_apiconn_t *lt_apiconn_new(int deadline_ms, unsigned max_conns, unsigned max_per_ip,
                             int64_t summary_ms, lt_stats_t *stats, lt_apiconn_tick_fn *tick,
                             void *arg);

/* Stops the watch (and its ticks) and logs the last summary. Call after
 * MHD_stop_daemon (no connection is left then). */
void lt_apiconn_destroy(lt_apiconn_t **self_p);

/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback; cls is the
 * lt_apiconn_t. */
void lt_apiconn_notify(void *cls, struct MHD_Connection *c, void **socket_context,
                       enum MHD_ConnectionNotificationCode code);

/* libmicrohttpd's accept policy (MHD_AcceptPolicyCallback); cls is the
 * lt_apiconn_t. MHD_NO, counted and reported, when the connections open
 * reach max_conns, or those from addr max_per_ip. libmicrohttpd calls it
 * and then the STARTED notice on its one listening thread, so the count
 * it reads is never behind a connection it let in. */
enum MHD_Result lt_apiconn_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);

/* The request on c has arrived whole: its deadline stops. Neither this
 * nor lt_apiconn_done takes the watch's lock (one atomic store each). */
void lt_apiconn_arrived(lt_apiconn_t *self, struct MHD_Connection *c);

/* The request on c is done (answered or abandoned): the deadline of the
 * next one on the same connection starts now. */
void lt_apiconn_done(lt_apiconn_t *self, struct MHD_Connection *c);

/* The client address of c as text into addr ("?" when unknown). */
void lt_apiconn_addr(struct MHD_Connection *c, char addr[INET6_ADDRSTRLEN]);

#endif

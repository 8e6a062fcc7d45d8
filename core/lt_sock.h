/* lt_sock: creation of the gateway's ZeroMQ sockets with the options the
 * protocol requires (CURVE, ZAP domain, heartbeats, size cap, back-off), so
 * that no socket is ever created with a forgotten setting. */
#ifndef LT_SOCK_H
#define LT_SOCK_H

#include <stddef.h>
#include <stdint.h>

#include "lt_err.h"
#include "lt_keys.h"

/* ZAP domain of every CURVE server socket (PROTOCOL.md 3). */
#define LT_ZAP_DOMAIN "lienthong"

typedef struct {
    size_t max_message; /* ZMQ_MAXMSGSIZE */
    int heartbeat_ms;   /* ZMQ_HEARTBEAT_IVL; timeout 5x, ttl 10x */
    int hwm;            /* send and receive high-water marks */
    int sndhwm;         /* the send one alone when > 0 (a client queueing its own sends) */
} lt_sock_opts_t;

/* CURVE server ROUTER bound to endpoint, ZAP domain enforced. The ZAP
 * handler must already be bound in ctx. A connection that has not
 * completed its handshake within LT_HANDSHAKE_MS is closed (3.2). NULL on
 * failure with err set. */
void *lt_sock_server(void *ctx, const lt_keys_t *keys, const char *endpoint,
                     const lt_sock_opts_t *o, char *err, size_t errlen);

/* CURVE client DEALER connected to endpoint, authenticating the server by
 * server_key. NULL on failure with err set. */
void *lt_sock_client(void *ctx, const lt_keys_t *keys, const uint8_t server_key[LT_KEY_BYTES],
                     const char *endpoint, const lt_sock_opts_t *o, char *err, size_t errlen);

/* Writes to out an inproc endpoint name that no other socket of this
 * process has had: "inproc://lt-WHAT-N", N from a process-wide counter. An
 * object's address is not enough: libzmq unregisters a closed socket's
 * inproc name later, in its reaper thread, and a new object may be given
 * the freed address (and so the name) before that; its bind then fails with
 * "Address already in use". */
void lt_sock_inproc_name(char *out, size_t len, const char *what);

/* ROUTER bound on an ipc socket at path; the parent directory is created
 * with mode 0700 so only the gateway's user can reach it. */
void *lt_sock_local(void *ctx, const char *path, const lt_sock_opts_t *o, char *err, size_t errlen);

/* DEALER connected to a gateway's local ipc socket (adapters, CLI). */
void *lt_sock_local_client(void *ctx, const char *path, const lt_sock_opts_t *o, char *err,
                           size_t errlen);

void lt_sock_opts_default(lt_sock_opts_t *o);

/* Parses a tcp://HOST:PORT endpoint strictly, since libzmq takes a port
 * modulo 65536 (":70000" binds 4464): HOST is present and is a name, an
 * IPv4 address or "*" (the sockets are not IPv6-enabled, so no ':' or
 * brackets), PORT is 1..65535 in digits only. Copies HOST into
 * host[hostlen] and PORT into *port when they are not NULL. Returns 0, or
 * -1 with why the endpoint is refused in why (without the endpoint). */
int lt_sock_endpoint_parse(const char *endpoint, char *host, size_t hostlen, int *port, char *why,
                           size_t whylen) LT_NODISCARD;

/* Opens and closes a plain TCP connection to a tcp://HOST:PORT endpoint
 * within timeout_ms: tells "nothing listens there" (or a firewall) apart
 * from a gateway that does not admit a key. Returns 0, or -1 with err. */
int lt_sock_tcp_probe(const char *endpoint, int timeout_ms, char *err, size_t errlen);

#endif

/* lt_client: how every program talks to its own gateway's local socket
 * (PROTOCOL.md 3.1, 8): the CLI, the adapters, the benchmarks.
 *
 * One DEALER on the gateway's ipc socket, sends and receives with a time
 * limit, and errors that say what is wrong: the gateway is not running (no
 * socket, or nobody listening on it), this user may not reach its socket
 * (the directory is 0700 and belongs to the gateway's user), or a running
 * gateway did not answer in time. ZeroMQ connects ipc sockets lazily and
 * retries in silence, so the client checks the socket path itself with a
 * plain AF_UNIX connect before relying on ZeroMQ.
 *
 * Lookup and verify requests sent through a client ask for the answer
 * context (PROTOCOL.md 8.4): each answer's envelope then carries the record
 * type of the dataset asked, so the client needs no directory of its own.
 * A profile request (PROTOCOL.md 7.7) needs no context: its one reply names
 * each part's record type (lt_profjson shows it). */
#ifndef LT_CLIENT_H
#define LT_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"

typedef struct _lt_client_t lt_client_t;

/* Results of the functions below: 0 or one of these negative codes. */
typedef enum {
    LT_CLIENT_OK = 0,
    LT_CLIENT_ERR_NOT_RUNNING = -1, /* no socket file, or nothing listens on it */
    LT_CLIENT_ERR_PERMISSION = -2,  /* EACCES on the socket or its directory */
    LT_CLIENT_ERR_TIMEOUT = -3,     /* the gateway runs but did not answer (or take) in time */
    LT_CLIENT_ERR_BAD_PATH = -4,    /* not a socket, or a path too long for AF_UNIX */
    LT_CLIENT_ERR_MALFORMED = -5,   /* the gateway sent what does not decode (dropped) */
    LT_CLIENT_ERR_INTERRUPTED = -6, /* a signal arrived while waiting */
    LT_CLIENT_ERR_SOCKET = -7,      /* ZeroMQ or memory failure; errno says more */
    LT_CLIENT_ERR_INVALID = -8      /* a body that local clients do not send */
} lt_client_err_t;

typedef struct {
    size_t max_message; /* largest frame sent or accepted (ZMQ_MAXMSGSIZE, decode cap) */
    /* 0 (one-shot clients: the CLI): lt_client_new fails when the gateway
     * is not running, and a receive that times out checks whether it still
     * runs. 1 (long-running adapters): a gateway not running yet is not an
     * error; messages wait in the queue until it starts. */
    int wait_for_gateway;
    /* A ZeroMQ context shared by many clients (a server's: the HTTP API),
     * which outlives them; NULL: the client has a context of its own.
     * Each context holds an I/O thread and descriptors of its own, so a
     * process with many clients shares one. */
    void *ctx;
    /* Messages queued in ZeroMQ to send (ZMQ_SNDHWM); 0: the local
     * socket's default. A client that keeps its own queue of what to send
     * (lt_apimux) keeps this small, so that what it has not sent yet can
     * still be dropped; what it receives is queued as for any client. */
    int sndhwm;
} lt_client_opts_t;

/* max_message 64 MiB, wait_for_gateway 0, ctx NULL, sndhwm 0. */
void lt_client_opts_default(lt_client_opts_t *o);

/* Checks that a gateway listens on socket_path and that this user may
 * reach it. Returns LT_CLIENT_OK, or NOT_RUNNING, PERMISSION or BAD_PATH
 * with err naming the path, the user and what to do. */
int lt_client_probe(const char *socket_path, char *err, size_t errlen);

/* Connects to the gateway's local socket (opts NULL: defaults). NULL on
 * failure with err set (lt_client_probe tells which failure it was). On
 * success err is empty, or, with wait_for_gateway, says that the gateway
 * is not running yet (for the log). */
lt_client_t *lt_client_new(const char *socket_path, const lt_client_opts_t *opts, char *err,
                           size_t errlen);
void lt_client_destroy(lt_client_t **self_p);

/* Sends one envelope holding body, of type body_case (a body local clients
 * send, PROTOCOL.md 4.3), waiting up to timeout_ms while the queue is full.
 * Returns 0 or a negative lt_client_err_t with err set. */
int lt_client_send(lt_client_t *self, Lienthong__Envelope__BodyCase body_case, void *body,
                   int timeout_ms, char *err, size_t errlen);
/* The same, naming in Envelope.on_behalf the application and officer a
 * lookup, verify, profile or pre-fill is made for (PROTOCOL.md 8.5, 7.7,
 * 8.8; who NULL: nobody named; ignored for other bodies). */
int lt_client_send_for(lt_client_t *self, Lienthong__Envelope__BodyCase body_case, void *body,
                       const Lienthong__OnBehalf *who, int timeout_ms, char *err, size_t errlen);
/* Packs the envelope lt_client_send_for would send into *frame (malloc'd,
 * *len bytes; free it), for a caller that sends it on another thread (the
 * HTTP API's lt_apimux). Returns 0 or a negative lt_client_err_t with err
 * set and *frame NULL. */
int lt_client_pack_for(Lienthong__Envelope__BodyCase body_case, void *body,
                       const Lienthong__OnBehalf *who, uint8_t **frame, size_t *len, char *err,
                       size_t errlen) __attribute__((warn_unused_result));
/* Sends an already packed envelope as is (an adapter resending the same
 * bytes). Same results as lt_client_send. */
int lt_client_send_frame(lt_client_t *self, const uint8_t *frame, size_t len, int timeout_ms,
                         char *err, size_t errlen);

/* Waits up to timeout_ms for one envelope from the gateway. Returns 0 with
 * *env (free with lt_wire_free), or a negative lt_client_err_t with *env
 * NULL and err set. */
int lt_client_recv(lt_client_t *self, int timeout_ms, Lienthong__Envelope **env, char *err,
                   size_t errlen);

/* The ZeroMQ socket, only to poll it beside other descriptors (an adapter
 * also waits for its database's notifications); send and receive through
 * the functions above. */
void *lt_client_socket(lt_client_t *self);

#endif

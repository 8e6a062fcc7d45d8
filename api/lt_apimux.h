/* lt_apimux: the HTTP API's lookups and verifies, many at once, down one
 * local-API connection to its gateway.
 *
 * With a local client per call, every lookup woke its HTTP thread twice through
 * libzmq's I/O thread, and the gateway read a hundred connections one
 * message each, so its batching was lost: an HTTP lookup cost about four
 * times the CPU of the same lookup over one local connection
 * (docs/performance.md, "HTTP API"). Here one thread owns one local client:
 * callers hand it packed requests; it sends them as they come, reads the
 * answers in runs and hands each to the call whose request_id it carries. Answers nobody waits for
 * any more (a call that gave up) are dropped.
 *
 * The client is made when the first request comes, and again after a
 * failure: a gateway that is not running fails the calls waiting at once,
 * as a client of their own would (lt_client_new). A call that times out
 * checks whether the gateway still runs, so that "it stopped" and "it is
 * slow" read differently; when it has stopped, the next request closes the
 * connection, failing the calls whose requests went down it, and opens it
 * again.
 *
 * No thread waits for a call: the caller arms a watch (lt_apimux_watch)
 * whose function the mux's thread calls when there is something to take
 * (lt_apimux_take), so that the API's event loop holds nothing while the
 * gateway works. */
#ifndef LT_APIMUX_H
#define LT_APIMUX_H

#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"

typedef struct _lt_apimux_t lt_apimux_t;
typedef struct _lt_apimux_call_t lt_apimux_call_t;

/* The request id an envelope from the gateway answers (0: none), with
 * what the function decoded to find it in *answer (or NULL); free_answer
 * frees that. Both are called on the mux's thread. */
typedef uint64_t(lt_apimux_id_fn)(const Lienthong__Envelope *env, void **answer);
typedef void(lt_apimux_free_fn)(const Lienthong__Envelope *env, void *answer);
/* A watched call has something to take: an envelope, a failure, or its
 * deadline passed. Called once per watch on the mux's thread, under its
 * lock: it must not call the mux, and must be short. */
typedef void(lt_apimux_ready_fn)(void *arg);

/* lt_apimux_take's "nothing yet, and the deadline not passed". */
#define LT_APIMUX_EMPTY 1

/* Starts the thread that calls the gateway at socket_path, with sockets of
 * the ZeroMQ context ctx (which must outlive the mux), for up to max_calls
 * calls at once: ZeroMQ queues that many requests to send, the mux the
 * rest, and a call past four times as many fails at once. A request whose
 * call has ended or failed is dropped unsent. NULL when out
 * of memory or a thread cannot start. */
lt_apimux_t *lt_apimux_new(void *ctx, const char *socket_path, int max_calls,
                           lt_apimux_id_fn *id_of, lt_apimux_free_fn *free_answer);
/* Stops the thread and closes the client; no call may be in progress. */
void lt_apimux_destroy(lt_apimux_t **self_p);

/* Sends frame (packed by lt_client_pack_for; taken in any case) as request
 * id, whose envelopes lt_apimux_take then gives. Returns 0 with *call, or
 * a negative lt_client_err_t with err set. */
int lt_apimux_begin(lt_apimux_t *self, uint64_t id, uint8_t *frame, size_t len,
                    lt_apimux_call_t **call, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Takes the call's next envelope without waiting: 0 with *env (free with
 * lt_wire_free) and *answer (free with the mux's free_answer);
 * LT_APIMUX_EMPTY when there is none yet and until_ms (monotonic) has not
 * passed; else a negative lt_client_err_t with err set: TIMEOUT when it
 * has (NOT_RUNNING when the gateway has stopped meanwhile), or the failure
 * the call met. */
int lt_apimux_take(lt_apimux_t *self, lt_apimux_call_t *call, int64_t until_ms,
                   Lienthong__Envelope **env, void **answer, char *err, size_t errlen)
    __attribute__((warn_unused_result));
/* Watches the call: 1 when it has something to take now (nothing is
 * armed); else 0, and ready(arg) will be called once, on the mux's
 * thread, when it has, or when until_ms passes (up to a few tens of
 * milliseconds late). A watch already armed is left as it is. */
int lt_apimux_watch(lt_apimux_t *self, lt_apimux_call_t *call, int64_t until_ms,
                    lt_apimux_ready_fn *ready, void *arg) __attribute__((warn_unused_result));
/* Fails every call with why (a static string), its watch fired, and every
 * call begun later: the API is stopping. */
void lt_apimux_close(lt_apimux_t *self, const char *why);
/* Ends the call: what comes for its id later is dropped, and its watch,
 * if armed, is never called once this returns. Idempotent. */
void lt_apimux_end(lt_apimux_t *self, lt_apimux_call_t **call_p);

#endif

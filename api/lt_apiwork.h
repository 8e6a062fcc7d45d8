/* lt_apiwork: a few threads that run the HTTP API's blocking requests.
 *
 * libmicrohttpd's threads serve every connection in turn and must never
 * block (docs/ARCHITECTURE.md, "HTTP API"). Lookups and verifies wait for
 * the gateway without a thread (lt_apimux's watches); what still calls the
 * gateway and waits (a profile, the status, readiness, metrics, a
 * pre-fill) is handed here with its connection suspended, run on one of
 * these threads, and the connection resumed by the job itself. Jobs run in
 * the order they came; at most max_jobs wait, which the API sizes to the
 * connections it takes, so that a request never finds the queue full
 * unless the API is stopping. The API keeps three pools, so that neither
 * a pre-fill nor a quick probe waits behind a profile waiting for owners. */
#ifndef LT_APIWORK_H
#define LT_APIWORK_H

#include <stddef.h>

typedef struct _lt_apiwork_t lt_apiwork_t;

/* Runs one job on a worker thread. */
typedef void(lt_apiwork_fn)(void *arg, void *job);

/* Starts threads workers calling fn(arg, job) for each job put; NULL when
 * out of memory or a thread cannot start. */
lt_apiwork_t *lt_apiwork_new(unsigned threads, size_t max_jobs, lt_apiwork_fn *fn, void *arg);
/* Queues job: 0, or -1 when max_jobs wait already or the pool is
 * stopping (the caller then answers the request itself). */
int lt_apiwork_put(lt_apiwork_t *self, void *job) __attribute__((warn_unused_result));
/* Runs the jobs queued to their end, then stops the threads: every job
 * put is run once, and a put from now on is refused (-1). The pool itself
 * stays, so that callers still running may put: it is freed by
 * lt_apiwork_destroy once none can. Idempotent. */
void lt_apiwork_stop(lt_apiwork_t *self);
/* lt_apiwork_stop, then frees the pool. Idempotent. */
void lt_apiwork_destroy(lt_apiwork_t **self_p);

#endif

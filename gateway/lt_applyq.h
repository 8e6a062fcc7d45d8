/* lt_applyq: the replica batches a gateway has verified and not yet
 * committed, in the order they came, each with the envelope it reads and the
 * link it came on (docs/ARCHITECTURE.md 6). The writer thread commits them
 * in order, several in one transaction, between the owner's publish groups,
 * so that the poll loop answers lookups meanwhile. A link with
 * LT_FEED_AHEAD batches here is not read until the oldest is committed: a
 * replica's batches then commit in order, and what waits is bounded per
 * link. */
#ifndef LT_APPLYQ_H
#define LT_APPLYQ_H

#include "lt_err.h"
#include "lt_feed.h"
#include "lienthong.pb-c.h"

#include <stddef.h>

typedef struct _lt_applyq_t lt_applyq_t;

/* At most cap batches. NULL when out of memory. */
lt_applyq_t *lt_applyq_new(size_t cap);
/* Frees the envelopes; the jobs must have been taken (lt_applyq_pop). */
void lt_applyq_destroy(lt_applyq_t **self_p);

/* Queues job, which reads env (now owned here), from link. -1 when full. */
int lt_applyq_push(lt_applyq_t *self, lt_feed_apply_t *job, Lienthong__Envelope *env,
                   const void *link) LT_NODISCARD;
/* The oldest job, or NULL. */
lt_feed_apply_t *lt_applyq_head(const lt_applyq_t *self);
/* The job i places after the oldest, or NULL. */
lt_feed_apply_t *lt_applyq_at(const lt_applyq_t *self, size_t i);
/* Takes the oldest job out: *job, and *env, the envelope it reads, now the
 * caller's, to free (lt_wire_free) only after lt_feed_batch_done. -1 when
 * empty. */
int lt_applyq_pop(lt_applyq_t *self, lt_feed_apply_t **job, Lienthong__Envelope **env);
/* How many batches of link wait or are being committed. */
size_t lt_applyq_holds(const lt_applyq_t *self, const void *link);
size_t lt_applyq_size(const lt_applyq_t *self);

#endif

/* lt_reject: every input the gateway rejects is reported through here
 * (PROTOCOL.md 4.4): counted per sender and error code
 * (lienthong_rejected_inputs), logged and audited with the sender and the
 * reason through the refusal aggregator (lt_refuse: the first of each
 * sender and code at once, the rest as one line per interval), and
 * answered with an Error where the sender can be addressed, within the
 * sender's Error rate.
 *
 * The rate is a token bucket (lt_bucket) per sender (LT_REJECT_RATE_PER_S, burst
 * LT_REJECT_BURST, at most LT_REJECT_MAX_SENDERS senders remembered, the
 * least recently seen forgotten first). Over its rate a rejection is still
 * counted and reported, but not answered. Local clients (sender "local")
 * act for the member and are always answered. */
#ifndef LT_REJECT_H
#define LT_REJECT_H

#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"
#include "lt_audit.h"
#include "lt_stats.h"

typedef struct _lt_reject_t lt_reject_t;

/* audit may be NULL (nothing audited). NULL when out of memory or when the
 * statistics cannot be registered. */
lt_reject_t *lt_reject_new(lt_stats_t *stats, lt_audit_t *audit);
void lt_reject_destroy(lt_reject_t **self_p);

/* One rejected input. */
typedef struct {
    void *sock;         /* where to answer, or NULL (never answered) */
    const uint8_t *rid; /* routing id on a ROUTER, or NULL */
    size_t rid_len;
    const char *who;    /* member id of the sender, or "local" */
    const char *what;   /* the input: "subscribe", "lookup", "message", ... */
    const char *target; /* stream or dataset id it named, or NULL */
    Lienthong__ErrorCode code;
    uint64_t request_id; /* echoed in the Error, 0 if none */
    const char *why;     /* the reason: Error.message, log and audit */
} lt_reject_in_t;

/* Counts, logs ("refused WHAT from WHO WHY: CODE") and audits r, and
 * answers it when r->sock is set and the sender's rate allows (self NULL:
 * only logged and answered). Returns 1 when an Error was (or could have been) sent, 0
 * when the rate held it back. */
int lt_reject(lt_reject_t *self, const lt_reject_in_t *r);

/* Writes the aggregated reports that are due: every poll-loop turn. */
void lt_reject_tick(lt_reject_t *self);

/* Rejections counted so far, every sender and reason. */
uint64_t lt_reject_count(const lt_reject_t *self);

#endif

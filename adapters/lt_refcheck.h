/* lt_refcheck: a source adapter's reference checks (PROTOCOL.md 5.7).
 *
 * A dataset's `reference` rules say that a field's value is the key of a
 * record of another dataset (an insurance card's personal_id in the
 * population register). They never refuse a publish: after the owner's
 * gateway acknowledged a record, the adapter asks, through its gateway,
 * the other owner to verify each value with a VerifyRequest whose only
 * claim is the referenced dataset's key field equal to the value, so that
 * the answer says whether the record exists and nothing else. A key the
 * other owner does not know is a failed check; a matching claim passes;
 * any other outcome (no policy, a policy that does not release the key
 * field, owner unreachable, timeout) is unknown and logged, and the row is
 * checked again at its next change.
 *
 * The rules come from the directory the gateway runs, read from the file
 * the adapter's configuration names (`directory_file`); the adapter does
 * not verify its signature: it only decides what the adapter checks and
 * reports, never what is published (the gateway checked the directory). */
#ifndef LT_REFCHECK_H
#define LT_REFCHECK_H

#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"
#include "lt_err.h"

#define LT_REFCHECK_BATCH   256    /* values per VerifyRequest */
#define LT_REFCHECK_QUEUE   100000 /* values waiting; more are dropped and counted */
#define LT_REFCHECK_WAIT_MS 15000  /* an unanswered request is given up */

typedef struct _lt_refcheck_t lt_refcheck_t;

/* The outcome of one check. */
typedef struct {
    const char *key;    /* the checked row's key */
    const char *cursor; /* its change's source cursor */
    const char *rule;   /* the rule id, "FIELD:reference" */
    int found;          /* 1 exists, 0 does not exist */
    const char *reason; /* when not found: why, for lt_rejects (quotes the value) */
    const char *target; /* the dataset the value was looked for in */
} lt_refcheck_result_t;

/* The outcomes of one request, once it is done (answered, refused or
 * given up): the checks that got an answer, so that the caller records
 * them in one transaction. */
typedef void (*lt_refcheck_fn)(void *arg, const lt_refcheck_result_t *r, size_t n);

/* Reads the reference rules of `dataset` from the signed directory file.
 * purpose is the VerifyRequest's purpose (the other owner's policy must
 * allow it); fn(arg, ...) receives the outcomes. NULL with err when the
 * file cannot be read or the dataset is not in it; a dataset without
 * reference rules gives an object that checks nothing (lt_refcheck_rules
 * 0). */
lt_refcheck_t *lt_refcheck_new(const char *directory_file, const char *dataset, const char *purpose,
                               lt_refcheck_fn fn, void *arg, char *err, size_t errlen) LT_NODISCARD;
void lt_refcheck_destroy(lt_refcheck_t **self_p);

size_t lt_refcheck_rules(const lt_refcheck_t *self);

/* The dataset's record type (full protobuf name) and key field as the
 * directory file lists them, which the source's configuration must match
 * (a source publishing another type has every row refused as malformed,
 * PROTOCOL.md 8.1). */
const char *lt_refcheck_record_type(const lt_refcheck_t *self);
const char *lt_refcheck_key_field(const lt_refcheck_t *self);

/* Queues the checks of one acknowledged record (a payload of the dataset's
 * record type). Returns 0, or -1 when the payload does not decode. */
int lt_refcheck_queue(lt_refcheck_t *self, const char *key, const char *cursor,
                      const uint8_t *payload, size_t len);

/* When no request is in flight and checks wait: builds the next
 * VerifyRequest under request_id into *req (valid until the request is
 * answered or given up) and returns 1; 0 otherwise. */
int lt_refcheck_next(lt_refcheck_t *self, uint64_t request_id, int64_t now_ms,
                     const Lienthong__VerifyRequest **req);

/* 1 when env (a VerifyReply or an Error) answers the request in flight.
 * With the last answer (or an Error) the request is done, and its
 * outcomes go to fn. */
int lt_refcheck_answer(lt_refcheck_t *self, const Lienthong__Envelope *env);

/* Gives the request in flight up once it waited LT_REFCHECK_WAIT_MS; the
 * checks answered by then go to fn. */
void lt_refcheck_tick(lt_refcheck_t *self, int64_t now_ms);

/* 1 while checks wait or a request is in flight. */
int lt_refcheck_busy(const lt_refcheck_t *self);

/* Checks whose outcome stayed unknown, and values dropped (queue full). */
uint64_t lt_refcheck_unknown(const lt_refcheck_t *self);

#endif

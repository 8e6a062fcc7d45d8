/* lt_apicall: the HTTP API's calls to its own gateway over the local API
 * (PROTOCOL.md 8.3-8.5), and their answers as JSON.
 *
 * HTTP requests are served on several threads; a ZeroMQ socket belongs to
 * one thread at a time. Lookups and verifies go down one connection through
 * lt_apimux (its thread sends, and hands each answer to the call whose
 * request_id it carries), waited for by a watch, in steps
 * (lt_apicall_query_begin and the functions after it). The rarer calls, on lt_apiwork's threads,
 * keep a pool of local-API clients: a call takes one, sends, waits for the answers with its
 * request_id (dropping late answers of an earlier call that timed out), and
 * returns it. A client that failed is closed, not returned. Answers reach this process only after
 * the gateway has verified the owner's signature and the request binding (PROTOCOL.md 7.4); the
 * JSON says so with "signature": "verified". */
#ifndef LT_APICALL_H
#define LT_APICALL_H

#include <jansson.h>
#include <stdint.h>

#include "lt_apireq.h"
#include "lt_err.h"
#include "lt_profjson.h"
#include "lienthong.pb-c.h"

typedef struct _lt_apicall_t lt_apicall_t;

/* Calls to the gateway at socket_path, at most max_calls at once (one
 * ZeroMQ socket each, on a context sized for them and the idle pool). The
 * failures' details go to the log through lt_tally, by code and detail
 * (those of the API's own that a request repeats too: lt_apicall_fail):
 * the first at once, then one count every summary_ms (docs/operations.md,
 * "Limits of the HTTP API"). NULL when out of memory or ZeroMQ fails. */
lt_apicall_t *lt_apicall_new(const char *socket_path, int max_calls, int64_t summary_ms);
/* Writes the failures' counts when an interval has passed (cheap
 * otherwise): the owner calls it from a timer. Thread-safe. */
void lt_apicall_tick(lt_apicall_t *self);
/* Also writes the counts not yet written. */
void lt_apicall_destroy(lt_apicall_t **self_p);

/* The outcome of a call: the HTTP status, a short reason for metrics and
 * the audit file ("ok", "not_found", "unknown_dataset", "timeout", ...) and
 * the JSON body. */
typedef struct {
    int status;
    const char *reason;
    json_t *body;
} lt_apicall_out_t;

/* A lookup or verify (by the decoded request's kind), made for who, with
 * a deadline timeout_ms from now, in steps, for an event loop that holds
 * no thread while the gateway works. lt_apicall_query_begin sends the
 * request: 1 with *q when
 * it went, else 0 with out set (nothing to end). req must outlive q.
 * lt_apicall_query_step takes what has come: 1 while the call waits, 0
 * when it is over with out set. lt_apicall_query_watch arranges for
 * ready(arg) to be called once, on another thread, when a step has
 * something to take: 1 when it has now (nothing is arranged).
 * lt_apicall_query_end ends the call, over or not; ready is not called
 * once it returns. */
typedef struct _lt_apicall_q_t lt_apicall_q_t;
int lt_apicall_query_begin(lt_apicall_t *self, lt_apireq_t *req, const Lienthong__OnBehalf *who,
                           int timeout_ms, lt_apicall_q_t **q, lt_apicall_out_t *out) LT_NODISCARD;
int lt_apicall_query_step(lt_apicall_t *self, lt_apicall_q_t *q,
                          lt_apicall_out_t *out) LT_NODISCARD;
int lt_apicall_query_watch(lt_apicall_t *self, lt_apicall_q_t *q, void (*ready)(void *arg),
                           void *arg) LT_NODISCARD;
void lt_apicall_query_end(lt_apicall_t *self, lt_apicall_q_t **q);
/* Fails every call under way and every later one with why (a static
 * string): the API is stopping. */
void lt_apicall_close(lt_apicall_t *self, const char *why);
/* A profile lookup (PROTOCOL.md 7.7) made for who, with a deadline
 * timeout_ms from now: 200 with one part per dataset and its outcome
 * (lt_profjson), whatever the parts' outcomes; an error status when the
 * gateway refused the request or did not answer. A part whose signed
 * answer cannot be shown (its payload does not decode) is a part with
 * outcome "error", never the whole reply's failure (PROTOCOL.md 7.7). */
void lt_apicall_profile(lt_apicall_t *self, Lienthong__ProfileRequest *q,
                        const Lienthong__OnBehalf *who, int timeout_ms, lt_apicall_out_t *out);
/* The gateway's StatusReply (free with lienthong__status_reply__free_unpacked
 * via lt_wire_free of its envelope: the envelope is returned), or NULL with
 * out set to the failure. */
Lienthong__Envelope *lt_apicall_status(lt_apicall_t *self, int timeout_ms, lt_apicall_out_t *out);
/* The gateway's ReadyReply (PROTOCOL.md 8.7) in its envelope, or NULL
 * with out set to the failure. */
Lienthong__Envelope *lt_apicall_ready(lt_apicall_t *self, int timeout_ms, lt_apicall_out_t *out);
/* The gateway's statistics as Prometheus text (MetricsReply, PROTOCOL.md
 * 8.6): a malloc'd copy in *text (length *len), or -1 with out set. */
int lt_apicall_metrics(lt_apicall_t *self, int timeout_ms, char **text, size_t *len,
                       lt_apicall_out_t *out) LT_NODISCARD;
/* A pre-fill from the gateway's replicas (PROTOCOL.md 8.8) made for who:
 * sets q->request_id, sends, and returns the PrefillReply in its envelope
 * (free with lt_wire_free), or NULL with out set to the failure (the
 * gateway's Error mapped to an HTTP status). */
Lienthong__Envelope *lt_apicall_prefill(lt_apicall_t *self, Lienthong__PrefillRequest *q,
                                        const Lienthong__OnBehalf *who, int timeout_ms,
                                        lt_apicall_out_t *out);
/* The streams a pre-fill with none named reads (PROTOCOL.md 8.8): every
 * stream the StatusReply st lists as a replica that usable(arg, stream)
 * allows (the application's grant for the purpose), into streams (room for
 * LT_PREFILL_MAX_STREAMS, pointing into st) and *n. 0, or -1 with err
 * naming the count and the limit when there are more: a reply silently
 * missing some would read as a citizen those registers do not hold, so the
 * caller is told to name the streams instead. */
int lt_apicall_prefill_streams(const Lienthong__StatusReply *st,
                               int (*usable)(void *arg, const char *stream), void *arg,
                               char **streams, size_t *n, char *err, size_t errlen) LT_NODISCARD;
/* A PrefillReply as JSON: per part the stream, its dataset, owner and record
 * type, found, seq, changed_at_ms, the record's fields that are set and
 * that granted(arg, stream, field) allows (the application's grant on the
 * part's stream), every field of the stream (its view's, or the record
 * type's) it does not allow listed as withheld whether set or not, and
 * the replica's state and freshness, into *out. *found counts the parts
 * found. 0, or an LT_PROFJSON_* failure with err (*out NULL):
 * LT_PROFJSON_UNDECODABLE when a part found has a payload that does not
 * decode as its record type (or a record type unknown to this program), as
 * a part found without its fields would be a wrong answer. */
int lt_apicall_prefill_json(const Lienthong__PrefillReply *r, const char *member,
                            int (*granted)(void *arg, const char *stream, const char *field),
                            void *arg, size_t *found, json_t **out, char *err,
                            size_t errlen) LT_NODISCARD;
/* Drops from the JSON of a lookup answer (dataset) or of a profile (each
 * part's own dataset) every released field that granted(arg, dataset,
 * field) refuses, from "released" and "fields": the application sees no
 * more than its grant whatever an answer released (the request named only
 * granted fields: defence in depth, as the pre-fill filters). How many
 * were dropped: more than 0 is an answer beyond what was asked. */
size_t lt_apicall_grant_filter(json_t *body, const char *dataset,
                               int (*granted)(void *arg, const char *stream, const char *field),
                               void *arg);
/* StatusReply as JSON: member, directory_version, peers_connected,
 * refused, streams (last_seq, role, records_per_sec, subscribers, and the
 * quality figures of PROTOCOL.md 8.9: records, fields, newest_change_ms;
 * lag_seconds per subscriber). */
json_t *lt_apicall_status_json(const Lienthong__StatusReply *st);

/* The outcome of a call whose answer cannot be shown as it should be; rc
 * is an LT_PROFJSON_* failure, whose detail (what, and the failure's err)
 * goes to the log as lt_apicall_fail's: the answer says only that the log
 * has it. A payload that does not decode is an unexpected answer, 502,
 * rather than a 200 with fields missing; out of memory is 500. */
void lt_apicall_unshown(lt_apicall_t *self, lt_apicall_out_t *out, int rc, const char *detail);

/* A failure of a request whose detail is the operator's (a path of this
 * host, the system's reason), which any request can repeat: out gets
 * status, reason and the fixed message of code (GATEWAY_UNAVAILABLE,
 * ERR_TIMEOUT, BAD_ANSWER, DIRECTORY_UNAVAILABLE; another code gets
 * INTERNAL's), and detail goes to the log through the failures' tally,
 * the first of a code and detail at once, then counts (docs/operations.md,
 * "Limits of the HTTP API"). Thread-safe. */
void lt_apicall_fail(lt_apicall_t *self, lt_apicall_out_t *out, int status, const char *reason,
                     const char *code, const char *detail);

/* {"error": code, "message": message} */
json_t *lt_apicall_error(const char *code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif

/* lt_query: lookup and verification without disclosure (PROTOCOL.md 7, 8.3).
 *
 * Owner side: requests arrive on the peer ROUTER, authorised by the
 * connection's User-Id. They are answered from the owner's current state
 * (never by asking the adapter), with per-field policy and purpose checks;
 * every answer is bound to the hash of the exact request bytes and signed in
 * batches (one Ed25519 signature over a Merkle root per poll-loop drain, at
 * most 256 answers), sent only once the drain's audit entries are durable
 * (PROTOCOL.md 7.3). A (caller, request_id) pair is executed once: retries
 * replay the stored answers. While the audit log cannot be written, every
 * request is refused with ERR_UNAVAILABLE. A caller member's no-matches on
 * one (key, field) are budgeted (lt_vmiss, PROTOCOL.md 7.6): past them its
 * claims on the pair are answered CLAIM_NOT_ALLOWED, audited "over-budget".
 *
 * Caller side: applications ask over the local socket; the gateway forwards
 * the exact frame to the owner, retries on timeout (Lazy Pirate), moves to
 * the owner's next endpoint after repeated timeouts, checks every answer
 * (Merkle path, signature under the owner's directory key, request id and
 * hash) before handing it on, and ends with ERR_TIMEOUT at the deadline
 * (repeating the owner's last transient refusal, if any). It has at most
 * LT_QUERY_MAX_OUTSTANDING requests outstanding, holding at most
 * LT_QUERY_MAX_OUTSTANDING_BYTES, beyond which a local one is refused
 * with ERR_UNAVAILABLE, and remembers the ids of the last 10
 * minutes with their hashes (lt_recent), so that an application reusing
 * one for other bytes is refused with ERR_MALFORMED at once (8.3).
 * An application that asks for the answer context gets each answer with
 * the dataset's record type beside it, and its request goes to the owner
 * without the context (PROTOCOL.md 8.4). */
#ifndef LT_QUERY_H
#define LT_QUERY_H

#include "lienthong.pb-c.h"
#include "lt_gwctx.h"
#include "lt_wire.h"

#define LT_ANSWERS_DOMAIN "lienthong/1 answers"

typedef struct _lt_query_t lt_query_t;

/* Answers from ctx->store under the policies of ctx->dir, signed with
 * ctx->keys; forwards requests over the links of ctx->peers (only a caller
 * needs them); requests served, made and refused go to ctx->audit. Counts
 * in ctx->stats, per op ("lookup", "verify"): owner side
 * lienthong_query_served{op,outcome="executed"|"replayed"},
 * lienthong_query_refused{op,reason} (reason: error code name) and
 * lienthong_query_latency{op} (request received to signed answer sent),
 * and lienthong_verify_budget_refusals{member} (a caller's claims refused
 * by the budget of no-matches, lt_vmiss; at 0 from creation and from
 * lt_query_dir_changed for each member the directory lets verify);
 * caller side lienthong_query_made{op}, lienthong_query_answered{op},
 * lienthong_query_timeouts{op}, lienthong_query_caller_latency{op} (local
 * request to answer delivered) and lienthong_query_rejected_answers. ctx
 * must outlive the object. NULL when out of memory. */
lt_query_t *lt_query_new(const lt_gwctx_t *ctx);
void lt_query_destroy(lt_query_t **self_p);

/* Owner: a LookupRequest or VerifyRequest from a peer. */
void lt_query_on_request(lt_query_t *self, void *peer, const lt_wire_in_t *in,
                         const Lienthong__Envelope *env);
/* Owner: a drain of the peer socket begins; the work of the requests
 * executed from now on is counted from 0 (LT_QUERY_TURN_WORK). */
void lt_query_turn_begin(lt_query_t *self);
/* Owner: 1 once the requests executed since lt_query_turn_begin did
 * LT_QUERY_TURN_WORK: the drain takes no more messages and the poll loop
 * turns, so that one member's large verifies do not hold up the rest. */
int lt_query_turn_done(const lt_query_t *self);
/* Owner: signs and sends the answers gathered since the last flush, each
 * on the socket its request came in on (or, when the audit log cannot take
 * their entries, refuses each there). Call it before closing a socket that
 * requests came in on since the last flush. */
void lt_query_flush(lt_query_t *self);
/* Owner: the budgets of the dedup store (PROTOCOL.md 7.2), by default the
 * LT_QUERY_DEDUP_* limits of lt_limits.h; tests set smaller ones. */
typedef struct {
    size_t entries, bytes;               /* in all */
    size_t caller_entries, caller_bytes; /* of any one caller */
    size_t caller_refused;               /* refusals of one caller, stored and audited */
} lt_query_budget_t;
void lt_query_set_budget(lt_query_t *self, const lt_query_budget_t *budget);
/* Owner: bytes the dedup store holds for caller (NULL: for all callers),
 * and in *entries (when not NULL) how many requests. */
size_t lt_query_dedup_bytes(const lt_query_t *self, const char *caller, size_t *entries);
/* Owner: the clock of the refusals' log summaries (lt_refuse_set_clock);
 * tests set their own. */
void lt_query_set_refuse_clock(lt_query_t *self, int64_t (*now_ms)(void *arg), void *arg);
/* Owner: the clock of the verify no-match budget's windows (lt_vmiss.h,
 * PROTOCOL.md 7.6); tests set their own. */
void lt_query_set_miss_clock(lt_query_t *self, int64_t (*now_ms)(void *arg), void *arg);
/* Caller: the monotonic clock in ms of the outstanding requests' attempt
 * timers and deadlines (lt_clock_mono_ms unless set, or set to NULL);
 * tests set their own to follow the resends (PROTOCOL.md 7.4). */
void lt_query_set_attempt_clock(lt_query_t *self, int64_t (*now_ms)(void *arg), void *arg);

/* The caller under which this member's own local clients are executed,
 * deduplicated and audited when they ask about its own data (PROTOCOL.md
 * 8.3): no policy applies to them. Never a member id (5.3). */
#define LT_QUERY_OWN "local"

/* Caller: a request from a local application; one about this member's own
 * dataset or view is executed here as the owner and answered at once. */
void lt_query_on_local(lt_query_t *self, void *local, const lt_wire_in_t *in,
                       const Lienthong__Envelope *env);
/* A lookup made by another module of this gateway rather than forwarded
 * for a local application: the parts of a profile (PROTOCOL.md 7.7). */
typedef struct {
    /* ERR_NONE: an answer was accepted (7.4) and signed_answer holds its
     * exact SignedAnswer bytes, valid during the call; else the code of the
     * unsigned Error that ended it (ERR_TIMEOUT at the deadline). */
    Lienthong__ErrorCode code;
    const uint8_t *signed_answer;
    size_t len;
    const char *message; /* the Error's text; NULL with an answer */
} lt_query_result_t;
typedef void (*lt_query_done_fn)(void *arg, const lt_query_result_t *r);

/* Caller: sends the lookup q (request_id unique for the member) to the
 * owner of its dataset exactly as one forwarded for a local application
 * (8.3): audited as lookup-made for who (may be NULL), retried, its answer
 * checked (7.4), ended at its deadline. Calls done(arg) exactly once with
 * the outcome, from a later poll-loop step, never from within this call.
 * Returns ERR_NONE, or the code why it was not made (why says, done is then
 * never called): ERR_NOT_FOUND unknown dataset, ERR_UNAVAILABLE owner not
 * active or audit log not writable, ERR_MALFORMED id outstanding. */
Lienthong__ErrorCode lt_query_lookup_for(lt_query_t *self, const Lienthong__LookupRequest *q,
                                         const Lienthong__OnBehalf *who, lt_query_done_fn done,
                                         void *arg, char *why, size_t whylen);
/* Gives up a lookup made by lt_query_lookup_for without calling its done;
 * an answer arriving later is dropped as late. */
void lt_query_forget(lt_query_t *self, uint64_t id);

/* Caller: a SignedAnswer or an Error arrived on the link to owner. `frame`
 * is the exact received frame, forwarded unchanged when accepted. */
void lt_query_on_answer(lt_query_t *self, void *local, const char *owner,
                        const Lienthong__Envelope *env, const zmq_msg_t *frame);
void lt_query_on_error(lt_query_t *self, void *local, const char *owner, const Lienthong__Error *e);
/* Caller, after an adoption: every request outstanding to an owner the
 * directory no longer lists as active ends at once with ERR_UNAVAILABLE
 * saying so (PROTOCOL.md 5.4); its link is closed, and an answer from it
 * would be dropped. The answer roots verified under the old directory are
 * forgotten: an answer is accepted only under a key the new one lists. */
void lt_query_dir_changed(lt_query_t *self, void *local);
/* Caller: retries and deadlines. Owner: the refusals' log summaries. */
void lt_query_tick(lt_query_t *self, void *local);
/* Caller: requests outstanding at owners, for local applications and for
 * other modules (at most LT_QUERY_MAX_OUTSTANDING). */
size_t lt_query_outstanding(const lt_query_t *self);

#endif

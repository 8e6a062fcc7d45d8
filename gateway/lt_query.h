/* lt_query: lookup and verification without disclosure (PROTOCOL.md 7, 8.3).
 *
 * Owner side: requests arrive on the peer ROUTER, authorised by the
 * connection's User-Id. They are answered from the owner's current state
 * (never by asking the adapter), with per-field policy and purpose checks;
 * every answer is bound to the hash of the exact request bytes and signed in
 * batches (one Ed25519 signature over a Merkle root per poll-loop drain, at
 * most 256 answers). A (caller, request_id) pair is executed once: retries
 * replay the stored answers.
 *
 * Caller side: applications ask over the local socket; the gateway forwards
 * the exact frame to the owner, retries on timeout (Lazy Pirate), moves to
 * the owner's next endpoint after repeated timeouts, checks every answer
 * (Merkle path, signature under the owner's directory key, request id and
 * hash) before handing it on, and ends with ERR_TIMEOUT at the deadline.
 * An application that asks for the answer context gets each answer with
 * the dataset's record type beside it, and its request goes to the owner
 * without the context (PROTOCOL.md 8.4). */
#ifndef LT_QUERY_H
#define LT_QUERY_H

#include "lienthong.pb-c.h"
#include "lt_audit.h"
#include "lt_gwcfg.h"
#include "lt_dir.h"
#include "lt_keys.h"
#include "lt_store.h"
#include "lt_wire.h"

#define LT_ANSWERS_DOMAIN "lienthong/1 answers"
#define LT_QUERY_MAX_KEYS 1024
#define LT_QUERY_MAX_AHEAD_MS (10 * 60 * 1000)
/* Longest application name or officer id in Envelope.on_behalf (PROTOCOL.md 8.5). */
#define LT_QUERY_ON_BEHALF_MAX 128

typedef struct _lt_query_t lt_query_t;

/* The DEALER to member (opened if needed), or NULL while unreachable. */
typedef void *(*lt_query_link_fn)(void *arg, const char *member);
/* Moves the link to member on to its next listed endpoint. */
typedef void (*lt_query_rotate_fn)(void *arg, const char *member);

lt_query_t *lt_query_new(lt_store_t *store, const lt_keys_t *keys, const lt_gwcfg_t *cfg,
                         lt_query_link_fn link, lt_query_rotate_fn rotate, void *arg);
void lt_query_destroy(lt_query_t **self_p);
void lt_query_set_dir(lt_query_t *self, const lt_dir_t *dir);
/* Requests served, made and refused are written here (may be NULL). */
void lt_query_set_audit(lt_query_t *self, lt_audit_t *audit);

/* Owner: a LookupRequest or VerifyRequest from a peer. */
void lt_query_on_request(lt_query_t *self, void *peer, const lt_wire_in_t *in,
                         const Lienthong__Envelope *env);
/* Owner: signs and sends the answers gathered since the last flush. */
void lt_query_flush(lt_query_t *self, void *peer);

/* Caller: a request from a local application. */
void lt_query_on_local(lt_query_t *self, void *local, const lt_wire_in_t *in,
                       const Lienthong__Envelope *env);
/* Caller: a SignedAnswer or an Error arrived on the link to owner. `frame`
 * is the exact received frame, forwarded unchanged when accepted. */
void lt_query_on_answer(lt_query_t *self, void *local, const char *owner,
                        const Lienthong__Envelope *env, const zmq_msg_t *frame);
void lt_query_on_error(lt_query_t *self, void *local, const char *owner,
                       const Lienthong__Error *e);
/* Caller: retries and deadlines. */
void lt_query_tick(lt_query_t *self, void *local);

/* Counters for status and tests. */
typedef struct {
    uint64_t executed;   /* requests executed by this owner */
    uint64_t replayed;   /* retries answered from the dedup store */
    uint64_t rejected;   /* answers dropped as forged or replayed (caller) */
    uint64_t timeouts;   /* requests ended with ERR_TIMEOUT (caller) */
} lt_query_stats_t;
void lt_query_stats(const lt_query_t *self, lt_query_stats_t *out);

#endif

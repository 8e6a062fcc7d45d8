/* lt_prefill: the pre-fill of a form from the member's replicas
 * (PROTOCOL.md 8.8).
 *
 * A member that keeps replicas of the views it is granted (the national
 * public-service portal) answers "what do we already know about this
 * citizen" from them, so that citizens do not re-enter data on forms and
 * no owner is asked again. A local PrefillRequest names the key, the
 * purpose and optionally the streams. A replica is read only for a purpose
 * the directory's policy on it (the member's subscription policy) lists,
 * as an owner checks a lookup's: no owner sees these reads to check it.
 * The reply has one part per stream with the
 * record exactly as the replica holds it (verified against the owner's
 * signature when its batch was applied, and against its store checksum
 * when read), its seq and change time, and how current the replica is.
 *
 * Each read is two lookups by primary key in the local store (the state
 * row of (stream, key), then the log row of its seq) in the poll loop, the
 * parts of a request in one read snapshot so that none sees a commit of the
 * writer thread another does not; no message leaves the gateway. Every
 * stream read is an audit entry of the member's own log ("prefill-read":
 * who asked, for which key, in which stream, what was found), added once
 * every part was read and committed before the reply is sent: no owner
 * sees these reads, so the member's log is the only account of them. */
#ifndef LT_PREFILL_H
#define LT_PREFILL_H

#include "lienthong.pb-c.h"
#include "lt_feed.h"
#include "lt_gwctx.h"
#include "lt_wire.h"

typedef struct _lt_prefill_t lt_prefill_t;

/* Reads the replicas of feed from ctx->store; ctx and feed must outlive
 * the object. NULL when out of memory or the statistics cannot be
 * registered. */
lt_prefill_t *lt_prefill_new(const lt_gwctx_t *ctx, lt_feed_t *feed);
void lt_prefill_destroy(lt_prefill_t **self_p);

/* A PrefillRequest on the local socket (env->prefill_request, with the
 * optional env->on_behalf): answered on sock with a PrefillReply, or an
 * Error (ERR_MALFORMED, ERR_TOO_LARGE for more streams named, or with none
 * named more replicas to read, than LT_PREFILL_MAX_STREAMS, ERR_NOT_FOUND
 * for a stream this gateway does not replicate, ERR_PURPOSE for a stream named whose policy
 * does not list the purpose or a purpose no replica's lists, ERR_FORBIDDEN
 * for a stream named that no policy lets the member subscribe to any more,
 * ERR_UNAVAILABLE while the audit log cannot be written, ERR_INTERNAL on a
 * store failure). Without streams named, only the replicas whose policy
 * lists the purpose are read. */
void lt_prefill_on_local(lt_prefill_t *self, void *sock, const lt_wire_in_t *in,
                         const Lienthong__Envelope *env);

#endif

/* lt_profile: a profile lookup across owners (PROTOCOL.md 7.7).
 *
 * A local client names one key (a citizen id) and several datasets; this
 * module, on the caller's gateway, makes one lookup per part at once
 * through lt_query (the same forwarding, retries, answer checks and audit
 * entries as a lookup a local application makes), collects the verified
 * answers, and sends ONE ProfileReply when every part is in or at the
 * deadline, with `timeout` for the parts still missing: one slow owner
 * does not hold the others back. Each answer goes with the LookupRequest
 * bytes it binds, so that the client can check it away from the gateway
 * (7.8). A part this gateway can tell is hopeless (a dataset its directory
 * does not know, one without a lookup policy for this member, one the
 * member owns itself) is refused at once, without a network trip. Nothing
 * here blocks: answers and timeouts come from the poll loop through
 * lt_query's callbacks. */
#ifndef LT_PROFILE_H
#define LT_PROFILE_H

#include "lienthong.pb-c.h"
#include "lt_gwctx.h"
#include "lt_query.h"
#include "lt_wire.h"

typedef struct _lt_profile_t lt_profile_t;

/* Makes its lookups through query, which must outlive the object; counts
 * lienthong_profile_parts{outcome} in ctx->stats. NULL when out of memory. */
lt_profile_t *lt_profile_new(const lt_gwctx_t *ctx, lt_query_t *query);
/* Forgets the profiles still outstanding (their clients get no reply). */
void lt_profile_destroy(lt_profile_t **self_p);

/* A ProfileRequest from a local client on the local ROUTER `local`. */
void lt_profile_on_local(lt_profile_t *self, void *local, const lt_wire_in_t *in,
                         const Lienthong__Envelope *env);

#endif

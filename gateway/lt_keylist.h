/* lt_keylist: the answer to a local KeysRequest (PROTOCOL.md 8.10), a page
 * of the live record keys the gateway holds for a dataset its member
 * owns, read from the store of the poll loop. `lienthong source
 * --reconcile` pages through them to find the keys whose rows the agency's
 * table no longer has (adapters/README.md, "Reconcile"). */
#ifndef LT_KEYLIST_H
#define LT_KEYLIST_H

#include "lienthong.pb-c.h"
#include "lt_err.h"
#include "lt_gwctx.h"
#include "lt_wire.h"

/* Answers m with a KeysReply on sock. Returns 0 when answered, or -1 with
 * the code to refuse it with (ERR_MALFORMED, ERR_NOT_FOUND, ERR_FORBIDDEN,
 * ERR_INTERNAL) and why in why[cap]; the caller refuses. */
int lt_keylist_answer(const lt_gwctx_t *ctx, void *sock, const lt_wire_in_t *in,
                      const Lienthong__KeysRequest *m, Lienthong__ErrorCode *code, char *why,
                      size_t cap) LT_NODISCARD;

#endif

/* lt_peersock: the gateway's peer ROUTER (PROTOCOL.md 3.2, 4): each
 * message another member sends is authorised by the connection's ZAP
 * User-Id (never by its content), decoded (one frame, the size cap), held
 * back while this gateway serves no data to peers (5.4, 5.6), and handed
 * to the module that owns its type (lt_peers, lt_query, lt_feed); a
 * DirectoryOffer goes to the poll loop, which adopts; an Error, never
 * answered, is counted and logged through ctx->peer_errors (lt_peererr).
 *
 * Apart from lt_gateway so that the poll loop and the fuzz target of the
 * owner's side (tests/fuzz/fuzz_owner.c) run the same dispatch.
 *
 * A plain struct, like lt_gwctx_t: it owns nothing, it only names the
 * modules the messages go to, the counter of refusals, and the hooks
 * through which it asks the poll loop what only the poll loop knows. */
#ifndef LT_PEERSOCK_H
#define LT_PEERSOCK_H

#include "lienthong.pb-c.h"
#include "lt_feed.h"
#include "lt_gwctx.h"
#include "lt_gwstats.h"
#include "lt_query.h"
#include "lt_wire.h"

/* The poll loop's part; each hook may be NULL. */
typedef struct {
    /* 1 while no data goes to peers: the directory expired (5.6) or it
     * suspends, revokes or does not list this member (5.4), with why in
     * why[len], said to the peer; 0 while data goes. NULL: it always does. */
    int (*no_data)(void *arg, char *why, size_t len);
    /* A DirectoryOffer from the member in->user_id (5.1, 5.3), adopted
     * and answered by the poll loop: an adoption may rebind the peer
     * socket, which only the poll loop can do. NULL: offers are ignored. */
    void (*offer)(void *arg, const lt_wire_in_t *in, const Lienthong__DirectoryOffer *o);
    void *arg;
} lt_peersock_hooks_t;

typedef struct {
    const lt_gwctx_t *ctx;       /* directory, store, peers, rejections */
    lt_gwstats_codes_t *refused; /* messages refused, by code (status, 8.3); NULL: not counted */
    lt_feed_t *feed;             /* subscriptions, credit, ranges (6) */
    lt_query_t *query;           /* lookups and verifies (7) */
    lt_peersock_hooks_t hooks;
} lt_peersock_t;

/* Handles one message received on the peer ROUTER sock (in): 0 when it
 * was handed to its module, -1 when it was refused (a sender not active
 * in the directory, not one frame, not decodable, no data served now, or
 * a type not handled on the peer socket), counted in self->refused,
 * reported through ctx->reject or answered with an Error. */
int lt_peersock_on_message(const lt_peersock_t *self, void *sock, const lt_wire_in_t *in);

/* Counts a refusal of in with code, then reports, audits and answers it
 * on sock within the sender's rate (4.4, lt_reject); who names the
 * sender. For refusals made elsewhere of a message of this socket. */
void lt_peersock_refuse(const lt_peersock_t *self, void *sock, const lt_wire_in_t *in,
                        Lienthong__ErrorCode code, uint64_t request_id, const char *who,
                        const char *why);

#endif

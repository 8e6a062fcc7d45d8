/* lt_linkrx: what the gateway does with each message arriving on its
 * links, the DEALERs it opened to other members (PROTOCOL.md 3.2, 4.4):
 * the member the link goes to is checked against the directory again,
 * the message decoded (one frame, the size cap), and handed to the module
 * that waits for it: answers to our lookups and verifies and their errors
 * to lt_query (7), batches, snapshots, repairs and errors of our replicas
 * to lt_feed (6.5 to 6.10), a Hello or a DirectoryRequest to lt_peers
 * (which offers our directory when the peer's is older, 5.1); a
 * DirectoryOffer goes to the poll loop, which adopts (5.1, 5.3). No error
 * is ever answered on a link: what is refused is counted and reported
 * through lt_reject.
 *
 * Apart from lt_gateway so that the poll loop and the fuzz targets of the
 * consumer's and caller's sides (tests/fuzz/fuzz_feed.c, fuzz_query.c)
 * run the same dispatch.
 *
 * A plain struct, like lt_gwctx_t: it owns nothing, it only names the
 * modules the messages go to, the counter of refusals, and the hooks
 * through which it hands the poll loop what only the poll loop may do. */
#ifndef LT_LINKRX_H
#define LT_LINKRX_H

#include "lienthong.pb-c.h"
#include "lt_feed.h"
#include "lt_gwctx.h"
#include "lt_gwstats.h"
#include "lt_query.h"
#include "lt_wire.h"

/* The poll loop's part; each hook may be NULL. */
typedef struct {
    /* A DirectoryOffer on the link to member (5.1, 5.3), adopted by the
     * poll loop: an adoption may rebind the sockets and close links, which
     * only the poll loop can do. 0 when it was checked (adopted, already
     * held, or refused: logged and audited there); -1 when the back-off of
     * 5.3 held it back unchecked, with why in err[len]: it is then refused
     * here. NULL: offers are ignored. */
    int (*offer)(void *arg, const char *member, const Lienthong__DirectoryOffer *o, char *err,
                 size_t len);
    /* A replica batch that passed every check of 6.5 (job, which reads
     * env), from link: given to the writer thread in its turn
     * (docs/ARCHITECTURE.md 6, lt_applyq). 0 when the hook took job and
     * env; -1 when it could not: the job is then done here as not run.
     * NULL: the batch is committed at once on ctx->store (lt_feed_on_batch). */
    int (*queue)(void *arg, lt_feed_apply_t *job, Lienthong__Envelope *env, const void *link);
    void *arg;
} lt_linkrx_hooks_t;

typedef struct {
    const lt_gwctx_t *ctx;       /* directory, links (peers), store, rejections */
    lt_gwstats_codes_t *refused; /* messages refused, by code (status, 8.3); NULL: not counted */
    lt_feed_t *feed;             /* our replicas (6) */
    lt_query_t *query;           /* our lookups and verifies (7) */
    void *local;                 /* the local ROUTER, where answers go to applications */
    lt_linkrx_hooks_t hooks;
} lt_linkrx_t;

/* lt_linkrx_on_message's answer for a signed answer (a LookupReply or a
 * VerifyReply) handed to the query module: an owner sends those back to
 * back, so the poll loop reads on. */
#define LT_LINKRX_ANSWER 1

/* Handles one message received on link i of ctx->peers (in): returns
 * LT_LINKRX_ANSWER for a signed answer, 0 when it was handed to its
 * module (an Error is also counted and logged through ctx->peer_errors)
 * or ignored (a type links do not carry, counted in self->refused and
 * reported through ctx->reject like a refusal), -1 when it was
 * dropped: the link's member is no longer active in the directory, the
 * message is not one frame or does not decode, or it is a directory offer
 * held back; each counted in self->refused and reported through
 * ctx->reject, never answered. Handling it may close or move links. */
int lt_linkrx_on_message(const lt_linkrx_t *self, size_t i, const lt_wire_in_t *in);

#endif

/* lt_gwctx: what the gateway's modules share.
 *
 * One gateway is one member (PROTOCOL.md 2): its configuration, its keys,
 * the current directory, its store and audit log, its links to other
 * members, and the registry of its statistics. The gateway owns each of these objects and keeps
 * them here; peers, feed, query and publish receive a pointer to this struct when they are created
 * and read the fields at the moment of use. So an adopted directory (5.3) is seen by every module
 * at once, and a module that needs a peer asks lt_peers for the link (downwards) instead of calling
 * back into the poll loop.
 *
 * A plain struct, not an opaque object: it owns nothing and does nothing,
 * it only names the shared objects. */
#ifndef LT_GWCTX_H
#define LT_GWCTX_H

#include "lt_audit.h"
#include "lt_ckpt.h"
#include "lt_dir.h"
#include "lt_gwcfg.h"
#include "lt_keys.h"
#include "lt_peererr.h"
#include "lt_reject.h"
#include "lt_stats.h"
#include "lt_store.h"
#include "lt_writer.h"

typedef struct _lt_peers_t lt_peers_t;
typedef struct _lt_feed_t lt_feed_t;

typedef struct {
    const lt_gwcfg_t *cfg; /* the gateway's configuration */
    lt_keys_t *keys;       /* this member's secret keys */
    lt_dir_t *dir;         /* the current directory; replaced on adoption */
    lt_store_t *store;     /* logs, state, replicas and cursors: the poll loop's connection */
    lt_writer_t *writer;   /* the writer thread's connection to the same store; NULL in tests */
    lt_ckpt_t *ckpt;       /* the checkpointer thread of the store; NULL in tests */
    lt_audit_t *audit;     /* the audit log; NULL writes nothing */
    lt_peers_t *peers;     /* links to other members; NULL where no module asks a peer */
    lt_stats_t *stats;     /* statistics: each module registers its own at creation */
    lt_reject_t *reject; /* rejected input, reported and rate limited (4.4); NULL: log and answer */
    lt_peererr_t *peer_errors; /* Errors other members send, counted and logged in aggregate;
                                * NULL: each logged */
    lt_feed_t *feed;           /* the feeds, which tell the views not served (lt_feed_view_stale);
                                * NULL in tests: every view is */
} lt_gwctx_t;

#endif

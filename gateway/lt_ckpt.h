/* lt_ckpt: the gateway's checkpointer thread. It copies the store's
 * write-ahead log into the store file, so that the threads that commit
 * (the writer thread, the poll loop) no longer pay for that copy and its
 * fsync in the commit that passes SQLite's threshold (docs/ARCHITECTURE.md
 * 6, "Checkpoints").
 *
 * The store's connections hand it their checkpoints with
 * lt_store_wal_delegate(store, lt_ckpt_nudge, ckpt, LT_STORE_WAL_CAP_PAGES).
 * Each pass opens its own connection (lt_store_checkpoint_path) and closes
 * it after; a store file being replaced (lt_store_rebuild) must see no pass,
 * hence lt_ckpt_suspend and lt_ckpt_resume around it. A checkpoint never
 * waits for a lock and changes no data: SQLite's WAL rules keep every
 * commit durable whichever connection copies it, and whenever. */
#ifndef LT_CKPT_H
#define LT_CKPT_H

#include "lt_stats.h"

#include <stddef.h>

typedef struct _lt_ckpt_t lt_ckpt_t;

/* Starts the thread for the store file at store_path; stats (may be NULL)
 * receives the checkpoint statistics. NULL with err on failure. */
lt_ckpt_t *lt_ckpt_new(const char *store_path, lt_stats_t *stats, char *err, size_t errlen);
/* Waits for the pass in progress and stops the thread. Idempotent. */
void lt_ckpt_destroy(lt_ckpt_t **self_p);

/* An lt_store_wal_fn, told the log's pages at each commit: asks for a pass
 * once the log holds LT_STORE_WAL_PAGES pages more than the last pass (or
 * a commit that copied in line) copied. Any thread; never blocks on the
 * pass (at most on the thread's mutex, for a moment, once per pass). */
void lt_ckpt_nudge(void *self, int pages, int copied);

/* Waits for the pass in progress, if any, and starts none until
 * lt_ckpt_resume; nudges meanwhile are kept for then. On the thread that
 * replaces the store file, around the replacement. */
void lt_ckpt_suspend(lt_ckpt_t *self);
void lt_ckpt_resume(lt_ckpt_t *self);

/* Passes completed (those that found another checkpoint running
 * included), and passes that failed (logged), so far. */
unsigned long lt_ckpt_passes(lt_ckpt_t *self);
unsigned long lt_ckpt_failures(lt_ckpt_t *self);

#endif

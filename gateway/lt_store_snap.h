/* lt_store_snap: a consistent reading of one stream's state, for a
 * snapshot (PROTOCOL.md 6.7) or a sink's replacement (8.2).
 *
 * It opens its own read-only connection to the store and holds one read
 * transaction for its whole life: in WAL mode the gateway's connection
 * keeps writing and pruning meanwhile, and this one still sees the state
 * at the seq it started at. It yields the current version of every live
 * key (no tombstones), in bytewise key order, in as many calls as credit
 * allows. */
#ifndef LT_STORE_SNAP_H
#define LT_STORE_SNAP_H

#include "lt_store.h"

typedef struct _lt_store_snap_t lt_store_snap_t;

/* Starts reading stream (its store id) of store. NULL with err on failure. */
lt_store_snap_t *lt_store_snap_new(lt_store_t *store, int64_t stream, char *err, size_t errlen);
void lt_store_snap_destroy(lt_store_snap_t **self_p);

/* S: the stream's last seq in this reading. */
uint64_t lt_store_snap_seq(const lt_store_snap_t *self);

/* Reads the next records (at most max_n, and max_bytes unless the first
 * alone is larger), calling fn with each record's seq and exact bytes,
 * each checked against its checksum first. Returns the count, 0 at the
 * end, LT_STORE_DAMAGED when the next record is damaged (lt_store_snap_damaged
 * names it; a call that read sound records before it returns those, and
 * the next call reports it), or -1 on error. */
uint64_t lt_store_snap_damaged(const lt_store_snap_t *self);
int lt_store_snap_read(lt_store_snap_t *self, size_t max_n, size_t max_bytes, lt_store_rec_fn fn,
                       void *arg);

#endif

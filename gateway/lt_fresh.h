/* lt_fresh: the records an owner has just committed, kept in memory for
 * the pump (docs/ARCHITECTURE.md 3.1 step 3).
 *
 * The writer thread packs each record it appends; with the group's commit
 * the records of each stream go to the poll loop as one run of
 * consecutive sequence numbers (lt_fresh_run_t), and the feed keeps the
 * newest runs, within a byte and a run budget, oldest out first. A
 * subscription or sink that follows live then gets its next batch from
 * here instead of reading back, and checking the checksum of, what was
 * written a moment ago (lt_store_read). A read is served only when the
 * runs hold everything the store would give for it, so the batch is the
 * same either way; anything else is a miss, read from the store. The
 * bytes are those committed, never read from disk, so no checksum applies
 * (docs/ARCHITECTURE.md 4.2). A stream whose log is begun again (a new
 * history) is forgotten (lt_fresh_forget). */
#ifndef LT_FRESH_H
#define LT_FRESH_H

#include <stddef.h>
#include <stdint.h>

#include "lt_err.h"
#include "lt_store.h"

/* One stream's records from one group, in sequence order. */
typedef struct _lt_fresh_run_t lt_fresh_run_t;
/* A run whose first record will be seq of stream; NULL when out of memory. */
lt_fresh_run_t *lt_fresh_run_new(int64_t stream, uint64_t first_seq);
void lt_fresh_run_destroy(lt_fresh_run_t **self_p);
/* Appends a copy of the next record and its Merkle leaf (made by the
 * writer for its checksum, lt_store_append_leaf), so that the batch sent
 * from here has its root without hashing the records again. 0, or -1 when
 * out of memory. */
int lt_fresh_run_add(lt_fresh_run_t *self, const void *rec, size_t len,
                     const uint8_t leaf[LT_HASH_BYTES]) LT_NODISCARD;

typedef struct _lt_fresh_t lt_fresh_t;
/* Keeps at most max_bytes of records in at most max_runs runs (either 0
 * keeps nothing): a kept run is trimmed to its records, so the memory it
 * holds is its bytes plus a size_t and a leaf per record. NULL when out of
 * memory. */
lt_fresh_t *lt_fresh_new(size_t max_bytes, size_t max_runs);
void lt_fresh_destroy(lt_fresh_t **self_p);
/* Takes *run_p (set to NULL). A run that does not follow the last one
 * kept for its stream replaces the stream's runs. */
void lt_fresh_put(lt_fresh_t *self, lt_fresh_run_t **run_p);
/* Drops every run of stream. */
void lt_fresh_forget(lt_fresh_t *self, int64_t stream);
/* Drops every run: the store was rebuilt and may have lost rows, which
 * must be reported as damage, not sent from here. A publish group
 * committed before the rebuild and answered after it puts none back
 * (lt_publish_job_finish, lt_store_rebuilds). */
void lt_fresh_clear(lt_fresh_t *self);
/* As lt_store_read, for records held here: calls fn for each record from
 * seq, at most max_n records and max_bytes bytes (at least one record).
 * Returns the count, or 0 when the runs do not hold all that read would
 * give (the caller reads the store), or -1 when fn failed. */
int lt_fresh_read(const lt_fresh_t *self, int64_t stream, uint64_t seq, size_t max_n,
                  size_t max_bytes, lt_store_rec_fn fn, void *arg) LT_NODISCARD;
/* Bytes of records held, for tests and statistics. */
size_t lt_fresh_bytes(const lt_fresh_t *self);

#endif

/* lt_store: the gateway's embedded store (SQLite, WAL, fully synced).
 *
 * It holds, per stream (dataset or view, owned or replicated): the log of
 * exact record bytes by sequence number, the current state (latest seq per
 * key, tombstones included), and the stream's cursor (last seq, hash of the
 * last applied batch, the source adapter's durable change cursor). Callers
 * group many writes into one transaction; nothing commits per record. */
#ifndef LT_STORE_H
#define LT_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct _lt_store_t lt_store_t;

/* A log row's id is the stream's id above this many bits of seq. */
#define LT_STORE_SEQ_BITS 40

/* Domain string of the log rows' checksums (docs/ARCHITECTURE.md "Store
 * integrity"); the 0x00 that ends it is hashed too. */
#define LT_STORE_SUM_DOMAIN "lienthong/1 store record"

/* What a read returns when a record it reached is damaged: its checksum
 * does not match, the row is missing inside the stream, or SQLite reports
 * the file corrupt there. lt_store_damaged_seq then names the record. */
#define LT_STORE_DAMAGED (-2)

typedef struct {
    int64_t id;              /* small integer id of the stream in this store */
    uint64_t last_seq;       /* last durable sequence number, 0 when empty */
    uint8_t last_hash[32];   /* batch_hash of the last applied batch (consumer) */
    uint64_t source_cursor;  /* last durable source change id (owner) */
} lt_stream_t;

/* Opens (creating if needed) the store at path. NULL with err on failure. */
lt_store_t *lt_store_open(const char *path, char *err, size_t errlen);
void lt_store_destroy(lt_store_t **self_p);
/* Last SQLite error message, for logs. */
const char *lt_store_error(lt_store_t *self);
/* The schema version this code writes (the number of migration steps). */
int lt_store_schema_version(void);
/* The sequence number of the damaged record the last LT_STORE_DAMAGED
 * result met. */
uint64_t lt_store_damaged_seq(lt_store_t *self);

int lt_store_begin(lt_store_t *self) __attribute__((warn_unused_result));
int lt_store_commit(lt_store_t *self) __attribute__((warn_unused_result));
void lt_store_rollback(lt_store_t *self);

/* Loads the stream's row, creating it (empty) if absent. */
int lt_store_stream(lt_store_t *self, const char *name, lt_stream_t *out)
    __attribute__((warn_unused_result));
/* Loads the stream's row without creating it: 1 found, 0 absent, -1 error.
 * For read paths, which must never write. */
int lt_store_stream_find(lt_store_t *self, const char *name, lt_stream_t *out)
    __attribute__((warn_unused_result));
/* Writes last_seq, last_hash and source_cursor back. */
int lt_store_stream_save(lt_store_t *self, const lt_stream_t *st)
    __attribute__((warn_unused_result));

/* Appends one record's exact bytes at seq. */
int lt_store_append(lt_store_t *self, int64_t stream, uint64_t seq, const void *rec, size_t len)
    __attribute__((warn_unused_result));
/* Sets the state of key in stream to (seq, deleted). */
int lt_store_state_put(lt_store_t *self, int64_t stream, const char *key, uint64_t seq,
                       int deleted) __attribute__((warn_unused_result));
/* 1 (filling seq and deleted) when key has a state, 0 when not, -1 on error. */
int lt_store_state_get(lt_store_t *self, int64_t stream, const char *key, uint64_t *seq,
                       int *deleted) __attribute__((warn_unused_result));

/* Reads consecutive records from from_seq: at most max_n records and
 * max_bytes bytes (at least one record if any exists). Calls fn per record;
 * fn's pointer is valid only during the call. Each record's checksum is
 * verified first: the read stops before a damaged record, so only sound
 * records are handed out. Returns the count, LT_STORE_DAMAGED when the
 * record at from_seq is damaged, or -1. */
typedef int (*lt_store_rec_fn)(void *arg, uint64_t seq, const void *rec, size_t len);
int lt_store_read(lt_store_t *self, int64_t stream, uint64_t from_seq, size_t max_n,
                  size_t max_bytes, lt_store_rec_fn fn, void *arg);

/* Copies the record at seq into a malloc'd buffer, after verifying its
 * checksum. 1 found, 0 not, LT_STORE_DAMAGED, or -1 on error. */
int lt_store_get(lt_store_t *self, int64_t stream, uint64_t seq, uint8_t **rec, size_t *len)
    __attribute__((warn_unused_result));

/* ---- retention and snapshots (PROTOCOL.md 6.7, 6.8) ---- */

/* relaxed: commits until the next lt_store_relaxed(self, 0) are not
 * synced (WAL, synchronous=NORMAL): for data that is worthless after a
 * crash anyway (a snapshot being staged); the next synced commit makes them
 * durable too. */
int lt_store_relaxed(lt_store_t *self, int relaxed) __attribute__((warn_unused_result));
/* 1 when sum (sum_len bytes) is the checksum of the log row of (stream,
 * seq) holding rec: for readers on their own connection (lt_store_snap). */
int lt_store_sum_ok(int64_t stream, uint64_t seq, const void *rec, size_t len, const void *sum,
                    size_t sum_len);
/* The store's file, for a second (reading) connection. */
const char *lt_store_path(lt_store_t *self);
/* First seq of the stream's retained log tail (1 until pruned). */
int lt_store_tail_first(lt_store_t *self, int64_t stream, uint64_t *first)
    __attribute__((warn_unused_result));
int lt_store_tail_set(lt_store_t *self, int64_t stream, uint64_t first)
    __attribute__((warn_unused_result));
/* Reads the log rows that exist with from_seq <= seq < to_seq (holes are
 * skipped: the pruned part of a log), at most max_n, in seq order; damaged
 * rows are skipped. Returns the count, or -1. */
int lt_store_scan(lt_store_t *self, int64_t stream, uint64_t from_seq, uint64_t to_seq,
                  size_t max_n, lt_store_rec_fn fn, void *arg);
/* Deletes the log row at seq (pruning). */
int lt_store_log_delete(lt_store_t *self, int64_t stream, uint64_t seq)
    __attribute__((warn_unused_result));
/* Deletes key's state row (a pruned tombstone). */
int lt_store_state_delete(lt_store_t *self, int64_t stream, const char *key)
    __attribute__((warn_unused_result));
/* Deletes every log, state, tail and batch-header row of the stream (not
 * its cursor). */
int lt_store_stream_clear(lt_store_t *self, int64_t stream) __attribute__((warn_unused_result));
/* Swaps the names of streams a and b (both must exist): what was staged
 * under b becomes a, in the caller's transaction. */
int lt_store_stream_swap(lt_store_t *self, const char *a, const char *b)
    __attribute__((warn_unused_result));

#endif

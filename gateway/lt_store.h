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

#include "lt_crypto.h"
#include "lt_err.h"
#include "lt_keys.h"
#include "lt_presence.h"

typedef struct _lt_store_t lt_store_t;

/* A log row's id is the stream's id above this many bits of seq. */
#define LT_STORE_SEQ_BITS 40
/* The highest seq a stream can hold: an append past it is refused. */
#define LT_STORE_SEQ_MAX ((1ULL << LT_STORE_SEQ_BITS) - 1)

/* A log row's checksum (docs/ARCHITECTURE.md 4.2): LT_STORE_SUM_BYTES,
 * the first bytes of the record's Merkle leaf (PROTOCOL.md 6.4) with the
 * row id folded into them, so that whoever hashed the record for a batch
 * has its checksum for nothing. Rows written before carry the older
 * 32-byte form, a BLAKE2b-256 over LT_STORE_SUM_DOMAIN (with the 0x00
 * that ends it), the row id and the record, still checked as such. */
#define LT_STORE_SUM_BYTES  24
#define LT_STORE_SUM_DOMAIN "lienthong/1 store record"

/* What a read returns when a record it reached is damaged: its checksum
 * does not match, the row is missing inside the stream, or SQLite reports
 * the file corrupt there. lt_store_damaged_seq then names the record. */
#define LT_STORE_DAMAGED (-2)

typedef struct {
    int64_t id;             /* small integer id of the stream in this store */
    uint64_t last_seq;      /* last durable sequence number, 0 when empty */
    uint8_t last_hash[32];  /* batch_hash of the last applied batch (consumer) */
    uint64_t source_cursor; /* last durable source change id (owner) */
    /* The history the log is on (PROTOCOL.md 6.9): the owner's own, or for
     * a replica its owner's; has_history 0 when none yet. Read with the
     * row; written only by lt_store_history_set. */
    uint8_t history[16];
    int has_history;
} lt_stream_t;

/* Opens (creating if needed) the store at path. NULL with err on failure. */
lt_store_t *lt_store_open(const char *path, char *err, size_t errlen);
/* Opens the existing store at path as it is, for inspection: never creates
 * it and never migrates it (a backup verified by a newer binary must stay
 * restorable by the version that made it). Refuses a store whose schema
 * version is not this binary's. NULL with err on failure. */
lt_store_t *lt_store_open_existing(const char *path, char *err, size_t errlen);
void lt_store_destroy(lt_store_t **self_p);
/* Last SQLite error message, for logs. */
const char *lt_store_error(lt_store_t *self);
/* The schema version this code writes (the number of migration steps). */
int lt_store_schema_version(void);
/* The SQL of migration step `step` (1 to lt_store_schema_version()), NULL
 * for another number: tests pin each released step's text. */
const char *lt_store_schema_step(int step);
/* Checks that db (a file from outside: a backup, opened with lt_sqlopen)
 * holds exactly the tables and indexes a store of its schema version has,
 * and no view or trigger: the gateway opens a store with its own SQL
 * functions and trusts its schema, so a crafted object in a backup would
 * run with them after a restore. 0, or -1 with err naming the first object
 * that differs. */
struct sqlite3;
int lt_store_schema_check(struct sqlite3 *db, char *err, size_t errlen) LT_NODISCARD;
/* The sequence number of the damaged record the last LT_STORE_DAMAGED
 * result met. */
uint64_t lt_store_damaged_seq(lt_store_t *self);
/* What was wrong with it: "checksum mismatch", "row missing" or "corrupt
 * page" (SQLite's own check). */
const char *lt_store_damaged_why(lt_store_t *self);

int lt_store_begin(lt_store_t *self) LT_NODISCARD;
int lt_store_commit(lt_store_t *self) LT_NODISCARD;
void lt_store_rollback(lt_store_t *self);

/* One read snapshot for a run of point reads, such as a drain of lookups:
 * SQLite then takes its file locks once for the run instead of once per
 * statement (about 2 us each). Rows committed meanwhile by the writer
 * thread are not seen until lt_store_read_end, so a holder ends it before
 * it returns to the poll loop; any write on this connection ends it first.
 * Idempotent; 0, or -1 (the reads then go on without a snapshot). */
int lt_store_read_begin(lt_store_t *self) LT_NODISCARD;
void lt_store_read_end(lt_store_t *self);

/* Loads the stream's row, creating it (empty) if absent. */
int lt_store_stream(lt_store_t *self, const char *name, lt_stream_t *out) LT_NODISCARD;
/* Loads the stream's row without creating it: 1 found, 0 absent, -1 error.
 * For read paths, which must never write. */
int lt_store_stream_find(lt_store_t *self, const char *name, lt_stream_t *out) LT_NODISCARD;
/* Writes last_seq, last_hash and source_cursor back. */
int lt_store_stream_save(lt_store_t *self, const lt_stream_t *st) LT_NODISCARD;

/* ---- histories (PROTOCOL.md 6.9) ---- */

/* Sets the history of stream id: the 16 bytes of history, or with history
 * NULL a new random one (written back into *st when st is not NULL). */
int lt_store_history_set(lt_store_t *self, int64_t id, const uint8_t *history,
                         lt_stream_t *st) LT_NODISCARD;
/* Calls fn for every stream row, in id order; stops at fn's non-zero. */
typedef int (*lt_store_stream_fn)(void *arg, const char *name, const lt_stream_t *st);
int lt_store_streams(lt_store_t *self, lt_store_stream_fn fn, void *arg) LT_NODISCARD;
/* Empties stream id: no log, state, retained tail (6.8), kept batch
 * header or view definition, cursor 0, no history, no newest change. In the
 * caller's transaction. */
int lt_store_stream_clear(lt_store_t *self, int64_t id) LT_NODISCARD;
/* Replaces stream dst by the contents of stream src (log, state, retained
 * tail, kept batch headers, cursor, history, newest change), leaving src
 * empty. In the caller's transaction, so that a reader sees either the old
 * stream or the new one, never a mix. 0, -1 on an error, or
 * LT_STORE_DAMAGED when a log row of src does not match its checksum
 * (lt_store_damaged_seq says which; nothing is moved once the caller rolls
 * back): moving it would give it a valid one. -1, with nothing written,
 * when dst is src. */
int lt_store_stream_replace(lt_store_t *self, int64_t dst, int64_t src) LT_NODISCARD;

/* The newest changed_at_ms among the records stored into stream since it
 * was emptied (schema step 11, PROTOCOL.md 8.9): a resynchronisation or a
 * snapshot stores a rebuilt view's records in key order, not in the order
 * they changed. Raises it to ms (no-op when ms <= 0); in the caller's
 * transaction it is kept in memory and written once at lt_store_commit,
 * dropped by a rollback or lt_store_stream_clear. 0, -1 when out of memory
 * or (outside a transaction) on a store error. */
int lt_store_newest_raise(lt_store_t *self, int64_t stream, int64_t ms) LT_NODISCARD;
/* Reads it into *ms (0 when none or no such stream). 0, -1 on error. */
int lt_store_newest_get(lt_store_t *self, int64_t stream, int64_t *ms) LT_NODISCARD;

/* ---- owned views (docs/ARCHITECTURE.md "Views that change") ---- */

/* The definition (lt_publish_view_def) the rows of view stream `stream`
 * were derived with: 1 with def filled, 0 when none is recorded, -1 on
 * error. */
int lt_store_view_def_get(lt_store_t *self, int64_t stream,
                          uint8_t def[LT_HASH_BYTES]) LT_NODISCARD;
/* Records it, in the caller's transaction (lt_store_stream_clear forgets
 * it with the rows). */
int lt_store_view_def_set(lt_store_t *self, int64_t stream,
                          const uint8_t def[LT_HASH_BYTES]) LT_NODISCARD;
/* The newest changed_at_ms among the records the last rebuild derived into
 * view stream `stream` (schema step 10): 1 with *ms set (0 when it was
 * not rebuilt since), 0 when it has no recorded definition, -1 on error. */
int lt_store_view_newest_get(lt_store_t *self, int64_t stream, int64_t *ms) LT_NODISCARD;
/* Records it, after lt_store_view_def_set in the same transaction. */
int lt_store_view_newest_set(lt_store_t *self, int64_t stream, int64_t ms) LT_NODISCARD;
/* Calls fn with the name of every stream that has a recorded definition,
 * in id order; stops at fn's non-zero. Returns 0, fn's result, or -1. */
typedef int (*lt_store_name_fn)(void *arg, const char *name);
int lt_store_view_defs(lt_store_t *self, lt_store_name_fn fn, void *arg) LT_NODISCARD;

/* ---- the owner's subscriber lines (schema step 12, PROTOCOL.md 8.3) ---- */

/* The bytes of a history id (PROTOCOL.md 6.9), as lt_stream_t holds it. */
#define LT_STORE_HISTORY_BYTES 16

/* One line: a subscriber member of an owned stream, as status shows it. */
typedef struct {
    int64_t stream;         /* the stream's id in this store */
    const char *member;     /* the subscriber */
    uint64_t cursor;        /* last seq sent to it; 0 once the history was replaced */
    const uint8_t *history; /* the history cursor counts on (16 bytes), NULL none */
    int64_t seen_ms;        /* unix ms it was last seen connected */
    int64_t since_ms;       /* unix ms it disconnected, 0 while connected */
    const char *reason;     /* why it disconnected, NULL while connected */
} lt_store_sub_t;

/* Replaces every stored line by lines[n], in one transaction of its own
 * (the caller holds none). 0, or -1 with nothing changed. */
int lt_store_subs_save(lt_store_t *self, const lt_store_sub_t *lines, size_t n) LT_NODISCARD;
/* Calls fn with each stored line and its stream's name, the newest first
 * (seen_ms descending, then stream and member: the oldest are the ones a
 * reader short of room leaves); the line's pointers are valid only during the call, and
 * fn's non-zero stops the walk. A stream name or member a damaged file
 * holds as NULL is handed as "". Returns 0, fn's result, or -1 (out of
 * memory among others). */
typedef int (*lt_store_sub_fn)(void *arg, const char *stream, const lt_store_sub_t *line);
int lt_store_subs(lt_store_t *self, lt_store_sub_fn fn, void *arg) LT_NODISCARD;

/* lt_store_open with SQLite's page cache at mb MiB (LT_STORE_CACHE_MB_MIN..
 * MAX; lt_store_open takes LT_STORE_CACHE_MB_DEFAULT), kept across a
 * rebuild's reconnection. NULL with err on failure or an mb out of range. */
lt_store_t *lt_store_open_cached(const char *path, int mb, char *err, size_t errlen);

/* Checkpoints (docs/ARCHITECTURE.md 6, "Checkpoints"). By default a
 * connection copies the write-ahead log into the store file itself, in
 * the commit that passes SQLite's threshold. Delegated, each commit calls
 * fn(arg, pages, copied) on the committing thread instead, with the pages
 * now in the log (fn must not block; it decides when to copy). Only a
 * commit that leaves cap_pages (> LT_STORE_WAL_PAGES) or more checkpoints
 * in line first. copied is 1 when it did, or found another checkpoint
 * running (which copies them); 0 otherwise, a failed copy included.
 * Only the main file is delegated (an attached one keeps SQLite's rule).
 * Kept across a rebuild's reconnection; fn NULL gives the connection back
 * SQLite's default. */
typedef void(lt_store_wal_fn)(void *arg, int pages, int copied);
void lt_store_wal_delegate(lt_store_t *self, lt_store_wal_fn *fn, void *arg, int cap_pages);
/* While delegated: the pages in the log after this connection's last
 * commit (0 before any). */
int lt_store_wal_pages(const lt_store_t *self);
/* One checkpoint of the store file at path that waits for no lock
 * (SQLite's PASSIVE mode), on a connection opened for it and closed after.
 * *pages is what the log holds, *copied how many of them are now in the
 * store file. 0; 1 when the file was busy (another checkpoint running,
 * which copies them, or a lock held by another process); -1 with err.
 * Never while the file is being replaced (lt_store_rebuild): closing a
 * connection to the old file may remove the log and index files by name
 * (lt_ckpt_suspend). */
int lt_store_checkpoint_path(const char *path, int *pages, int *copied, char *err,
                             size_t errlen) LT_NODISCARD;

/* Appends one record's exact bytes at seq. */
int lt_store_append(lt_store_t *self, int64_t stream, uint64_t seq, const void *rec,
                    size_t len) LT_NODISCARD;
/* The same for a record whose Merkle leaf (lt_crypto_merkle_leaf of its
 * bytes) the caller has made already, for a batch: the checksum is taken
 * from it, so the record is not hashed again. */
int lt_store_append_leaf(lt_store_t *self, int64_t stream, uint64_t seq, const void *rec,
                         size_t len, const uint8_t leaf[LT_HASH_BYTES]) LT_NODISCARD;
/* Sets the state of key in stream to (seq, deleted), the record holding
 * the fields of mask `fields` (lt_presence_mask of its payload; ignored
 * for a tombstone). The stream's completeness counts follow, written with
 * the transaction's commit (PROTOCOL.md 8.9). `view` is 1 for a row of an
 * owner's view: only those are found by lt_store_state_held (the others
 * cost no index entry). */
int lt_store_state_put(lt_store_t *self, int64_t stream, const char *key, uint64_t seq, int deleted,
                       uint64_t fields, int view) LT_NODISCARD;
/* 1 (filling seq and deleted) when key has a state, 0 when not, -1 on error. */
int lt_store_state_get(lt_store_t *self, int64_t stream, const char *key, uint64_t *seq,
                       int *deleted) LT_NODISCARD;
/* Completeness of a stream as last committed (PROTOCOL.md 8.9): n[0] its
 * current (not deleted) records, n[f] how many of them hold field number f
 * (lt_presence.h). */
typedef struct {
    uint64_t n[LT_PRESENCE_FIELDS + 1];
} lt_store_presence_t;
int lt_store_presence(lt_store_t *self, int64_t stream, lt_store_presence_t *out) LT_NODISCARD;

/* Calls fn(arg, stream) for each view stream (written with `view` set)
 * where key has a live state (not a tombstone), in no set order, with one
 * index lookup (schema steps 5 and 7); fn
 * must not write to the store, and stops the walk by returning non-zero.
 * Returns 0, fn's non-zero, or -1 on a store error. */
typedef int (*lt_store_held_fn)(void *arg, int64_t stream);
int lt_store_state_held(lt_store_t *self, const char *key, lt_store_held_fn fn,
                        void *arg) LT_NODISCARD;

/* Calls fn(arg, key) for at most `limit` live keys (not tombstones) of
 * stream strictly after `after` ("" or NULL: from the first), in the
 * state table's order (bytes, SQLite's BINARY), with one range scan of its
 * primary key (PROTOCOL.md 8.10). fn must not write to the store; its key
 * is valid only during the call, and non-zero stops the walk. Returns 0,
 * fn's non-zero, or -1 on a store error. */
int lt_store_keys(lt_store_t *self, int64_t stream, const char *after, size_t limit,
                  lt_store_name_fn fn, void *arg) LT_NODISCARD;

/* Reads consecutive records from from_seq: at most max_n records and
 * max_bytes bytes (at least one record if any exists). Calls fn per record
 * with its Merkle leaf, which checking its checksum made (a batch's root
 * is built from them, lt_batch_recs_add_leaf); fn's pointers are valid
 * only during the call. Each record's checksum is verified first: the
 * read stops before a damaged record, so only sound records are handed
 * out. Returns the count, LT_STORE_DAMAGED when the record at from_seq is
 * damaged, or -1. */
typedef int (*lt_store_rec_fn)(void *arg, uint64_t seq, const void *rec, size_t len,
                               const uint8_t leaf[LT_HASH_BYTES]);
int lt_store_read(lt_store_t *self, int64_t stream, uint64_t from_seq, size_t max_n,
                  size_t max_bytes, lt_store_rec_fn fn, void *arg);

/* Copies the record at seq into a malloc'd buffer, after verifying its
 * checksum. 1 found, 0 not, LT_STORE_DAMAGED, or -1 on error. */
int lt_store_get(lt_store_t *self, int64_t stream, uint64_t seq, uint8_t **rec,
                 size_t *len) LT_NODISCARD;
/* How many times lt_store_get was called on this object: a test shows with
 * it which records a path reads (a lookup outside a view reads none). */
uint64_t lt_store_gets(const lt_store_t *self);

/* ---- retention and snapshots (PROTOCOL.md 6.7, 6.8) ---- */

/* relaxed: commits until the next lt_store_relaxed(self, 0) are not
 * synced (WAL, synchronous=NORMAL): for data that is worthless after a
 * crash anyway (a snapshot being staged); the next synced commit makes them
 * durable too. When setting them synced again fails, each later write that
 * opens a transaction tries again first, and fails when it cannot: no
 * commit goes unsynced that was not asked to. */
int lt_store_relaxed(lt_store_t *self, int relaxed) LT_NODISCARD;
/* 1 when the connection syncs its commits (synchronous = FULL), 0 when it
 * does not, -1 on an error: tests check lt_store_relaxed with it. */
int lt_store_synced(lt_store_t *self);
/* 1 when sum (sum_len bytes) is the checksum of the log row of (stream,
 * seq) holding rec, for readers on their own connection (lt_store_snap);
 * rec's Merkle leaf is written into leaf either way. */
int lt_store_sum_ok(int64_t stream, uint64_t seq, const void *rec, size_t len, const void *sum,
                    size_t sum_len, uint8_t leaf[LT_HASH_BYTES]);
/* The store's file, for a second (reading) connection. */
const char *lt_store_path(lt_store_t *self);
/* First seq of the stream's retained log tail (1 until pruned). */
int lt_store_tail_first(lt_store_t *self, int64_t stream, uint64_t *first) LT_NODISCARD;
int lt_store_tail_set(lt_store_t *self, int64_t stream, uint64_t first) LT_NODISCARD;
/* Reads the log rows that exist with from_seq <= seq < to_seq (holes are
 * skipped: the pruned part of a log), at most max_n, in seq order; damaged
 * rows are examined but not handed to fn. Returns the count examined,
 * damaged ones included (so that a caller going on from *last, the seq of
 * the last one examined, is not stopped short by one), or -1. */
int lt_store_scan(lt_store_t *self, int64_t stream, uint64_t from_seq, uint64_t to_seq,
                  size_t max_n, lt_store_rec_fn fn, void *arg, uint64_t *last);
/* Deletes the log row at seq (pruning). */
int lt_store_log_delete(lt_store_t *self, int64_t stream, uint64_t seq) LT_NODISCARD;
/* Deletes key's state row (a pruned tombstone). */
int lt_store_state_delete(lt_store_t *self, int64_t stream, const char *key) LT_NODISCARD;
/* Swaps the names of streams a and b (both must exist): what was staged
 * under b becomes a, in the caller's transaction. */
int lt_store_stream_swap(lt_store_t *self, const char *a, const char *b) LT_NODISCARD;

/* ---- integrity (docs/ARCHITECTURE.md 4.2) ---- */

/* The owner's signed header of a batch a replica applied (PROTOCOL.md 6.3):
 * with the stored records it rebuilds H, so the range can be verified
 * against the owner's signature at any time. */
typedef struct {
    uint64_t first_seq, last_seq;
    uint8_t prev_hash[LT_HASH_BYTES];
    uint8_t root[LT_HASH_BYTES];
    uint8_t signature[LT_SIG_BYTES];
    /* The history H was built with (PROTOCOL.md 6.3, 6.9); has_history 0
     * for a batch signed without one. */
    uint8_t history[16];
    int has_history;
} lt_store_batch_t;

/* Keeps (or replaces) the header of a batch of stream. */
int lt_store_batch_put(lt_store_t *self, int64_t stream, const lt_store_batch_t *b) LT_NODISCARD;
/* The kept batch holding seq: 1 found, 0 none (an owned stream, or records
 * applied before headers were kept), -1 error. */
int lt_store_batch_find(lt_store_t *self, int64_t stream, uint64_t seq,
                        lt_store_batch_t *out) LT_NODISCARD;
/* Forgets the kept headers of batches wholly below seq (pruned with the
 * log below the retained tail, PROTOCOL.md 6.8). */
int lt_store_batch_prune(lt_store_t *self, int64_t stream, uint64_t below_seq) LT_NODISCARD;
/* Writes the record at seq again with a fresh checksum: the repair of a
 * damaged record from bytes verified against the owner's signature. */
int lt_store_replace(lt_store_t *self, int64_t stream, uint64_t seq, const void *rec,
                     size_t len) LT_NODISCARD;
/* Calls fn for every stream of the store, in id order; stops at fn's
 * non-zero result. Returns 0, fn's result, or -1 on a store error. */
typedef int (*lt_store_stream_fn)(void *arg, const char *name, const lt_stream_t *st);
int lt_store_streams(lt_store_t *self, lt_store_stream_fn fn, void *arg);
/* 1 when the last failure was SQLite finding the file corrupt. */
int lt_store_corrupt(lt_store_t *self);
/* 1 when the last failure was the store's files refusing a write: a full
 * disk, an I/O error, a file system gone read-only or a file that cannot
 * be opened. Such a failure passes once the operator makes room or repairs
 * the disk, so a write refused for it is worth retrying (lt_publish_apply
 * answers ERR_UNAVAILABLE, not ERR_INTERNAL). Read it before a rollback,
 * which sets SQLite's last error again. */
int lt_store_cannot_write(lt_store_t *self);
/* Rebuilds the store file after SQLite found a page corrupt: copies every
 * readable row into a new file beside it, replaces the file atomically and
 * reopens. Log rows in corrupt pages are left behind (counted in *lost): the
 * reads report them as missing until they are repaired. The other tables
 * must copy whole. The old file's WAL must first be copied into it whole
 * (docs/ARCHITECTURE.md 4.2, "Repair"): a reader of an older snapshot on
 * another connection makes the rebuild fail. 0, or -1 with err (the handle
 * stays usable on the old or the new file). */
int lt_store_rebuild(lt_store_t *self, int64_t *lost, char *err, size_t errlen) LT_NODISCARD;
/* How many times lt_store_rebuild replaced the file under this handle (0
 * when opened). Whoever holds rows of the store in memory compares it
 * with the count when it read or wrote them: a rebuild since may have lost
 * them (docs/ARCHITECTURE.md 4.2). */
uint64_t lt_store_rebuilds(const lt_store_t *self);

#endif

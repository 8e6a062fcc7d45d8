/* lt_store: SQLite schema and prepared statements.
 *
 * The log is a rowid table keyed by stream_id * 2^40 + seq: appends within a
 * stream go to the end of one key range of the B-tree, and a range read is a
 * single index walk. 2^40 sequence numbers per stream is ample. */
#include "lt_store.h"

#include "lt_crypto.h"
#include "lt_file.h"
#include "lt_log.h"
#include "lt_presence.h"
#include "lt_sqlopen.h"
#include "lt_valid.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A log row's id is the stream id above SEQ_BITS bits of sequence number, so
 * one B-tree range scan reads a stream in order. Sequence numbers therefore
 * stop at SEQ_MAX (about 10^12 records per stream); past it an append is
 * refused rather than spilling into the next stream's range. */
#define SEQ_BITS            LT_STORE_SEQ_BITS
#define SEQ_MAX             LT_STORE_SEQ_MAX
#define LOG_ID(stream, seq) (((int64_t)(stream) << SEQ_BITS) | (int64_t)(seq))
#define LT_STORE_MEMO_NAME  96 /* longer stream names are read each time */

enum {
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_STREAM_GET,
    ST_STREAM_ADD,
    ST_STREAM_SAVE,
    ST_APPEND,
    ST_STATE_PUT,
    ST_STATE_GET,
    ST_READ,
    ST_GET,
    ST_HISTORY_SET,
    ST_TAIL_GET,
    ST_TAIL_SET,
    ST_LOG_DEL,
    ST_STATE_DEL,
    ST_CLEAR_LOG,
    ST_CLEAR_STATE,
    ST_CLEAR_TAIL,
    ST_CLEAR_BATCHES,
    ST_RENAME,
    ST_SCAN,
    ST_BATCH_PUT,
    ST_BATCH_FIND,
    ST_BATCH_PRUNE,
    ST_REPLACE,
    ST_STREAMS,
    ST_HELD,
    ST_KEYS,
    ST_PRESENCE_ADD,
    ST_PRESENCE_GET,
    ST_CLEAR_PRESENCE,
    ST_READ_BEGIN,
    ST_VIEW_DEF_GET,
    ST_VIEW_DEF_SET,
    ST_VIEW_DEFS,
    ST_CLEAR_VIEW_DEF,
    ST_VIEW_NEWEST_GET,
    ST_VIEW_NEWEST_SET,
    ST_NEWEST_RAISE,
    ST_NEWEST_GET,
    ST_SUBS_CLEAR,
    ST_SUBS_PUT,
    ST_SUBS,
    ST_COUNT
};

static const char *s_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_STREAM_GET] = "SELECT id, last_seq, last_hash, source_cursor, history FROM streams "
                      "WHERE name = ?1",
    /* Another connection to the file (the writer thread's, the poll
     * loop's) may insert the name between our look-up and this insert:
     * the stream then exists, and is read back. */
    [ST_STREAM_ADD] = "INSERT INTO streams(name) VALUES (?1) ON CONFLICT(name) DO NOTHING",
    [ST_STREAM_SAVE] = "UPDATE streams SET last_seq = ?2, last_hash = ?3, source_cursor = ?4 "
                       "WHERE id = ?1",
    [ST_APPEND] = "INSERT INTO log(id, record, sum) VALUES (?1, ?2, ?3)",
    [ST_STATE_PUT] = "INSERT INTO state(stream, key, seq, deleted, fields, is_view) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
                     "ON CONFLICT(stream, key) DO UPDATE SET seq = excluded.seq, "
                     "deleted = excluded.deleted, "
                     "fields = lt_state_prev(deleted, fields, excluded.fields), "
                     "is_view = excluded.is_view",
    [ST_STATE_GET] = "SELECT seq, deleted, fields FROM state WHERE stream = ?1 AND key = ?2",
    [ST_READ] = "SELECT id, record, sum FROM log WHERE id >= ?1 AND id < ?2 ORDER BY id",
    [ST_GET] = "SELECT id, record, sum FROM log WHERE id = ?1",
    /* Retention and snapshots (PROTOCOL.md 6.7, 6.8). */
    [ST_TAIL_GET] = "SELECT first_seq FROM tails WHERE stream = ?1",
    [ST_TAIL_SET] = "INSERT INTO tails(stream, first_seq) VALUES (?1, ?2) "
                    "ON CONFLICT(stream) DO UPDATE SET first_seq = excluded.first_seq",
    [ST_LOG_DEL] = "DELETE FROM log WHERE id = ?1",
    [ST_STATE_DEL] = "DELETE FROM state WHERE stream = ?1 AND key = ?2",
    [ST_CLEAR_LOG] = "DELETE FROM log WHERE id >= ?1 AND id < ?2",
    [ST_CLEAR_STATE] = "DELETE FROM state WHERE stream = ?1",
    [ST_CLEAR_TAIL] = "DELETE FROM tails WHERE stream = ?1",
    [ST_CLEAR_BATCHES] = "DELETE FROM batches WHERE stream = ?1",
    [ST_RENAME] = "UPDATE streams SET name = ?2 WHERE name = ?1",
    [ST_SCAN] = "SELECT id, record, sum FROM log WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT ?3",
    [ST_HISTORY_SET] = "UPDATE streams SET history = coalesce(?2, randomblob(16)) WHERE id = ?1",
    [ST_BATCH_PUT] = "INSERT OR REPLACE INTO batches(stream, last_seq, first_seq, prev_hash, root, "
                     "signature, history) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_BATCH_FIND] =
        "SELECT first_seq, last_seq, prev_hash, root, signature, history FROM batches "
        "WHERE stream = ?1 AND last_seq >= ?2 ORDER BY last_seq LIMIT 1",
    [ST_BATCH_PRUNE] = "DELETE FROM batches WHERE stream = ?1 AND last_seq < ?2",
    [ST_REPLACE] = "INSERT OR REPLACE INTO log(id, record, sum) "
                   "VALUES (?1, ?2, lt_record_sum(?1, ?2))",
    [ST_STREAMS] = "SELECT id, last_seq, last_hash, source_cursor, history, name FROM streams "
                   "ORDER BY id",
    [ST_HELD] = "SELECT stream FROM state INDEXED BY state_held "
                "WHERE key = ?1 AND deleted = 0 AND is_view = 1",
    /* A page of a stream's live keys after ?2, in key order, on the state
     * table's primary key (lt_store_keys). */
    [ST_KEYS] = "SELECT key FROM state WHERE stream = ?1 AND key > ?2 AND deleted = 0 "
                "ORDER BY key LIMIT ?3",
    /* Completeness counts (schema step 6, PROTOCOL.md 8.9). */
    [ST_PRESENCE_ADD] = "INSERT INTO presence(stream, field, n) VALUES (?1, ?2, ?3) "
                        "ON CONFLICT(stream, field) DO UPDATE SET n = n + excluded.n",
    [ST_PRESENCE_GET] = "SELECT field, n FROM presence WHERE stream = ?1",
    [ST_CLEAR_PRESENCE] = "DELETE FROM presence WHERE stream = ?1",
    /* A read snapshot (lt_store_read_begin): SQLite takes its read lock at
     * the first statement. */
    [ST_READ_BEGIN] = "BEGIN",
    /* The definitions owned views were derived with (schema step 8). */
    [ST_VIEW_DEF_GET] = "SELECT def FROM view_defs WHERE stream = ?1",
    [ST_VIEW_DEF_SET] = "INSERT INTO view_defs(stream, def) VALUES (?1, ?2) "
                        "ON CONFLICT(stream) DO UPDATE SET def = excluded.def",
    [ST_VIEW_DEFS] = "SELECT s.name FROM view_defs v JOIN streams s ON s.id = v.stream "
                     "ORDER BY s.id",
    [ST_CLEAR_VIEW_DEF] = "DELETE FROM view_defs WHERE stream = ?1",
    /* The newest change among a rebuilt view's records (schema step 10). */
    [ST_VIEW_NEWEST_GET] = "SELECT newest_ms FROM view_defs WHERE stream = ?1",
    [ST_VIEW_NEWEST_SET] = "UPDATE view_defs SET newest_ms = ?2 WHERE stream = ?1",
    /* The newest change among a stream's stored records (schema step 11). */
    [ST_NEWEST_RAISE] = "UPDATE streams SET newest_ms = max(newest_ms, ?2) WHERE id = ?1",
    [ST_NEWEST_GET] = "SELECT newest_ms FROM streams WHERE id = ?1",
    /* The owner's subscriber lines (schema step 12, lt_store_subs_save). */
    [ST_SUBS_CLEAR] = "DELETE FROM subscribers",
    [ST_SUBS_PUT] = "INSERT OR REPLACE INTO subscribers(stream, member, cursor, history, seen_ms, "
                    "since_ms, reason) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_SUBS] = "SELECT s.name, b.stream, b.member, b.cursor, b.history, b.seen_ms, b.since_ms, "
                "b.reason FROM subscribers b JOIN streams s ON s.id = b.stream "
                "ORDER BY b.seen_ms DESC, b.stream, b.member",
};

/* Connection settings, outside any transaction (journal_mode cannot change
 * inside one). */
static const char *s_pragmas = "PRAGMA journal_mode = WAL;"
                               "PRAGMA synchronous = FULL;"
                               "PRAGMA foreign_keys = OFF;"
                               "PRAGMA temp_store = MEMORY;";

/* The schema as an ordered list of migrations (docs/ARCHITECTURE.md "Store
 * schema"). The store's PRAGMA user_version is the number of steps applied;
 * opening applies the missing ones in order, each in its own transaction
 * that also sets user_version, so a kill leaves either the step done or not
 * begun. A released step is never edited: a schema change is a new step at
 * the end (tests/unit/test_store.c pins each step's text). A store from
 * before versioning has user_version 0 and the tables of step 1, hence its
 * IF NOT EXISTS. */
static const char *s_steps[] = {
    /* 1: the log of exact record bytes, the state per key, stream cursors. */
    "CREATE TABLE IF NOT EXISTS streams ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT UNIQUE NOT NULL,"
    "  last_seq INTEGER NOT NULL DEFAULT 0,"
    "  last_hash BLOB,"
    "  source_cursor INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, record BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS state ("
    "  stream INTEGER NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL,"
    "  deleted INTEGER NOT NULL, PRIMARY KEY (stream, key)) WITHOUT ROWID;",
    /* 2: a checksum per log row (lt_record_sum), filled for the rows already
     * there; the owner's signed batch headers kept by a replica. */
    "ALTER TABLE log ADD COLUMN sum BLOB;"
    "UPDATE log SET sum = lt_record_sum(id, record);"
    "CREATE TABLE batches ("
    "  stream INTEGER NOT NULL, last_seq INTEGER NOT NULL, first_seq INTEGER NOT NULL,"
    "  prev_hash BLOB NOT NULL, root BLOB NOT NULL, signature BLOB NOT NULL,"
    "  PRIMARY KEY (stream, last_seq)) WITHOUT ROWID;",
    /* 3: the history each stream's log is on (PROTOCOL.md 6.9), NULL until
     * the stream has one; and the history each kept batch header was signed
     * on, which its H includes (6.3), NULL for one signed without. */
    ("ALTER TABLE streams ADD COLUMN history BLOB;"
     "ALTER TABLE batches ADD COLUMN history BLOB;"),
    /* 4: the first seq of each stream's retained log tail, where it is not
     * 1 (PROTOCOL.md 6.8). */
    "CREATE TABLE tails (stream INTEGER PRIMARY KEY, first_seq INTEGER NOT NULL);",
    /* 5: the streams that hold each key (live, not a tombstone), so that the
     * write path finds the views a key is in with one lookup instead of a
     * state read per view (docs/ARCHITECTURE.md "Write path"). SQLite keeps
     * it in the same transaction as the state; built here for the rows
     * already there. */
    "CREATE INDEX state_held ON state(key) WHERE deleted = 0;",
    /* 6: completeness (PROTOCOL.md 8.9): the fields each current record
     * holds a value in (lt_presence: field n as bit n - 1), and per stream
     * how many current records there are (field 0) and how many hold each
     * field. The write path keeps both in the transaction of the state;
     * here they are filled from the records already stored. */
    ("ALTER TABLE state ADD COLUMN fields INTEGER NOT NULL DEFAULT 0;"
     "UPDATE state SET fields = coalesce((SELECT lt_record_fields(record) FROM log "
     "  WHERE log.id = state.stream * 1099511627776 + state.seq), 0) WHERE deleted = 0;"
     "CREATE TABLE presence ("
     "  stream INTEGER NOT NULL, field INTEGER NOT NULL, n INTEGER NOT NULL,"
     "  PRIMARY KEY (stream, field)) WITHOUT ROWID;"
     "INSERT INTO presence SELECT stream, 0, count(*) FROM state WHERE deleted = 0 "
     "  GROUP BY stream;"
     /* Records of one type share a few masks: the rows are counted per
      * mask first, and only those counts are spread over the 63 fields,
      * not every row 63 times (minutes and a large sort on a store of
      * millions of records). */
     "WITH RECURSIVE f(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM f WHERE n < 63), "
     "m(stream, fields, c) AS (SELECT stream, fields, count(*) FROM state WHERE deleted = 0 "
     "  GROUP BY stream, fields) "
     "INSERT INTO presence SELECT m.stream, f.n, sum(m.c) FROM m, f "
     "  WHERE (m.fields >> (f.n - 1)) & 1 GROUP BY m.stream, f.n;"),
    /* 7: only the rows of the owner's views are in the index of step 5,
     * the only streams lt_store_state_held is asked about: a dataset's own
     * rows and a replica's cost no second B-tree insert each (docs/
     * ARCHITECTURE.md 4.1). The writer says which rows are a view's; a row
     * written before this step keeps its place in the index (the column's
     * default) until it is written again. */
    ("ALTER TABLE state ADD COLUMN is_view INTEGER NOT NULL DEFAULT 1;"
     "DROP INDEX state_held;"
     "CREATE INDEX state_held ON state(key) WHERE deleted = 0 AND is_view = 1;"),
    /* 8: the definition (lt_publish_view_def) each owned view's rows were
     * derived with, so that a directory that changes a view's fields or
     * predicate is noticed however it arrives, and the view rebuilt
     * (docs/ARCHITECTURE.md "Views that change"). Views written before this
     * step have none until the gateway records it. */
    "CREATE TABLE view_defs (stream INTEGER PRIMARY KEY, def BLOB NOT NULL);",
    /* 9: log rows written from here on carry the 24-byte checksum taken from
     * the record's Merkle leaf (LT_STORE_SUM_BYTES, docs/ARCHITECTURE.md
     * 4.2); the rows already there keep the older 32-byte form, which is
     * still checked. Nothing to change in the file: the step exists so that
     * a version that knows only the older form refuses the store, instead
     * of reading every new row as damaged. */
    "-- checksums of the 24-byte form from here on",
    /* 10: the newest changed_at_ms among the records a rebuild derived into
     * an owned view (lt_publish_view_fill), which numbers them in key
     * order, not in the order they changed: its last record is not its
     * newest change (PROTOCOL.md 8.9). 0 for a view never rebuilt, whose
     * last record is. */
    "ALTER TABLE view_defs ADD COLUMN newest_ms INTEGER NOT NULL DEFAULT 0;",
    /* 11: the newest changed_at_ms among the records stored into a stream
     * since it was last emptied (lt_store_newest_raise), for a replica: a
     * resynchronisation from seq 1 of a rebuilt view, or a snapshot, stores
     * records whose last is not the newest change (PROTOCOL.md 8.9), and a
     * replica has no view_defs row. 0 for the rows already there. */
    "ALTER TABLE streams ADD COLUMN newest_ms INTEGER NOT NULL DEFAULT 0;",
    /* 12: the owner's line for each (stream, subscriber member) that status
     * and the lag statistics show (PROTOCOL.md 8.3, 8.9): the cursor, the
     * history it counts on, when the subscriber was last seen connected
     * and, once it disconnected, since when and why (since_ms 0 while
     * connected). A restart loads them as disconnected lines, so a
     * consumer down across the owner's restart keeps its lag
     * (docs/ARCHITECTURE.md 4.1). */
    ("CREATE TABLE subscribers ("
     "  stream INTEGER NOT NULL, member TEXT NOT NULL, cursor INTEGER NOT NULL,"
     "  history BLOB, seen_ms INTEGER NOT NULL, since_ms INTEGER NOT NULL DEFAULT 0,"
     "  reason TEXT, PRIMARY KEY (stream, member)) WITHOUT ROWID;"),
};
#define SCHEMA_VERSION ((int)(sizeof s_steps / sizeof *s_steps))

/* Changes of the completeness counts of one stream made in the open
 * transaction: n[0] current records, n[f] records holding field f. Kept in
 * memory and written once at the commit, so a change costs no write of
 * its own to the counts (docs/ARCHITECTURE.md 4.1). */
typedef struct {
    int64_t stream;
    int64_t n[LT_PRESENCE_FIELDS + 1];
    int64_t newest; /* raise of streams.newest_ms (lt_store_newest_raise), 0 none */
} delta_t;

struct _lt_store_t {
    sqlite3 *db;
    int cache_mb; /* SQLite's page cache of the connection, MiB (lt_store_open_cached) */
    /* The row ST_STATE_PUT replaced, told by lt_state_prev (s_sql_prev). */
    int prev_found, prev_deleted;
    uint64_t prev_fields;
    sqlite3_stmt *st[ST_COUNT];
    delta_t *deltas;
    size_t n_deltas, cap_deltas;
    uint64_t damaged_seq; /* of the last LT_STORE_DAMAGED result */
    const char *damaged_why;
    int move_damaged; /* lt_record_moved_sum met a damaged row */
    int reading;      /* a read snapshot is held (lt_store_read_begin) */
    /* The stream rows last read under the snapshot: the lookups of one drain
     * mostly ask for the same stream, or a view and its dataset (two rows a
     * lookup on a view reads), and a row cannot change until the snapshot
     * ends (lt_store_read_end forgets them). */
    lt_stream_t memo[2];
    char memo_name[2][LT_STORE_MEMO_NAME];
    int memo_next; /* the slot the next row read goes to */
    /* Records lt_store_get read: tests show which reads a path makes. */
    uint64_t gets;
    /* Where this connection's checkpoints go (lt_store_wal_delegate). */
    lt_store_wal_fn *wal_fn;
    void *wal_arg;
    int wal_cap;
    int wal_pages; /* in the log after this connection's last commit, while delegated */
    /* Files lt_store_rebuild put in the place of this one: what was read
     * before may have been lost since (lt_store_rebuilds). */
    uint64_t rebuilds;
    /* lt_store_relaxed: commits asked to be unsynced, and a failure to make
     * them synced again, which s_full retries before the next write. */
    int relaxed, sync_lost;
};

/* The older checksum of a log row (rows written before LT_STORE_SUM_BYTES
 * came): BLAKE2b-256 over a domain string, the row id (stream and seq) and
 * the exact record bytes. Only checked now, never written. */
static void s_sum_v1(int64_t id, const void *rec, size_t len, uint8_t out[LT_HASH_BYTES])
{
    uint8_t pre[sizeof LT_STORE_SUM_DOMAIN + 8];
    memcpy(pre, LT_STORE_SUM_DOMAIN, sizeof LT_STORE_SUM_DOMAIN); /* with its 0x00 */
    for (int i = 0; i < 8; i++)
        pre[sizeof LT_STORE_SUM_DOMAIN + i] = (uint8_t)((uint64_t)id >> (56 - 8 * i));
    lt_crypto_hash2(pre, sizeof pre, rec, len, out);
}

/* The checksum of the record with Merkle leaf `leaf` at row id: the
 * leaf's first LT_STORE_SUM_BYTES with u64be(id) XORed into the first 8.
 * It is not a MAC (nothing here is secret; the owner's signature over the
 * batch is what proves origin, 4.2): it finds a record changed on disk or
 * moved to another row. For each id the fold is a bijection, so two
 * (row, record) pairs share a checksum only when their leaves agree in
 * 128 bits and differ by exactly their ids in the other 64: a collision
 * of BLAKE2b truncated to 192 bits. */
static void s_sum_leaf(int64_t id, const uint8_t leaf[LT_HASH_BYTES],
                       uint8_t out[LT_STORE_SUM_BYTES])
{
    memcpy(out, leaf, LT_STORE_SUM_BYTES);
    for (int i = 0; i < 8; i++)
        out[i] ^= (uint8_t)((uint64_t)id >> (56 - 8 * i));
}

/* 1 when sum (sum_len bytes, of either form) is the checksum of rec at
 * row id. rec's Merkle leaf is written into leaf: for the older form it
 * costs a second hash, for the current one it is the check's own. */
static int s_sum_ok(int64_t id, const void *rec, size_t len, const void *sum, size_t sum_len,
                    uint8_t leaf[LT_HASH_BYTES])
{
    uint8_t want[LT_HASH_BYTES];
    lt_crypto_merkle_leaf(rec ? rec : (const void *)"", len, leaf);
    if (!sum)
        return 0;
    if (sum_len == LT_STORE_SUM_BYTES) {
        s_sum_leaf(id, leaf, want);
        return memcmp(want, sum, LT_STORE_SUM_BYTES) == 0;
    }
    if (sum_len != LT_HASH_BYTES)
        return 0;
    s_sum_v1(id, rec ? rec : "", len, want);
    return memcmp(want, sum, LT_HASH_BYTES) == 0;
}

/* SQL function lt_record_sum(id, record), for the statements that write log
 * rows from others (a repair, a stream moved, migration step 2). */
static void s_sql_sum(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    uint8_t leaf[LT_HASH_BYTES], sum[LT_STORE_SUM_BYTES];
    const void *rec = sqlite3_value_blob(argv[1]);
    int len = sqlite3_value_bytes(argv[1]);
    lt_crypto_merkle_leaf(rec ? rec : (const void *)"", (size_t)len, leaf);
    s_sum_leaf(sqlite3_value_int64(argv[0]), leaf, sum);
    sqlite3_result_blob(ctx, sum, LT_STORE_SUM_BYTES, SQLITE_TRANSIENT);
}

static int s_damaged(lt_store_t *self, uint64_t seq, const char *why);

/* SQL function lt_record_moved_sum(id, new_id, record, sum), for a row
 * that moves to new_id (lt_store_stream_replace): its checksum there,
 * taken from the leaf that checking the old one made. A row whose checksum
 * does not check is an error, so that a move never gives a damaged record a
 * valid checksum (docs/ARCHITECTURE.md 4.2). */
static void s_sql_moved_sum(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    lt_store_t *self = sqlite3_user_data(ctx);
    uint8_t leaf[LT_HASH_BYTES], sum[LT_STORE_SUM_BYTES];
    int64_t id = sqlite3_value_int64(argv[0]);
    const void *rec = sqlite3_value_blob(argv[2]);
    size_t len = (size_t)sqlite3_value_bytes(argv[2]);
    const void *old = sqlite3_value_blob(argv[3]);
    if (!s_sum_ok(id, rec, len, old, (size_t)sqlite3_value_bytes(argv[3]), leaf)) {
        self->move_damaged = 1;
        (void)s_damaged(self, (uint64_t)id & SEQ_MAX, "checksum mismatch");
        char *why = sqlite3_mprintf("log row %lld (stream %lld, seq %lld) is damaged: its "
                                    "checksum does not match its record; not moved",
                                    (long long)id, (long long)(id >> SEQ_BITS),
                                    (long long)(id & (int64_t)SEQ_MAX));
        sqlite3_result_error(ctx, why ? why : "a log row to move is damaged", -1);
        sqlite3_free(why);
        return;
    }
    s_sum_leaf(sqlite3_value_int64(argv[1]), leaf, sum);
    sqlite3_result_blob(ctx, sum, LT_STORE_SUM_BYTES, SQLITE_TRANSIENT);
}

/* SQL function lt_record_fields(record): the presence mask of a stored
 * Record's payload, for migration step 6. */
static void s_sql_fields(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const uint8_t *rec = sqlite3_value_blob(argv[0]);
    size_t len = (size_t)sqlite3_value_bytes(argv[0]);
    sqlite3_result_int64(ctx, (int64_t)lt_presence_record_mask(rec, rec ? len : 0));
}

/* SQL function lt_state_prev(deleted, fields, new_fields) of ST_STATE_PUT's
 * update branch: called with the values of the row being replaced (in a
 * DO UPDATE SET, unqualified columns are the old row's), it keeps them for
 * lt_store_state_put and returns the new fields. So the completeness
 * counts learn what a write replaced from the write itself, with no point
 * read before it. */
static void s_sql_prev(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    lt_store_t *self = sqlite3_user_data(ctx);
    self->prev_found = 1;
    self->prev_deleted = sqlite3_value_int(argv[0]);
    self->prev_fields = (uint64_t)sqlite3_value_int64(argv[1]);
    sqlite3_result_value(ctx, argv[2]);
}

/* Applies step number `step` (1-based) and sets user_version in the same
 * transaction. */
static int s_migrate_step(sqlite3 *db, int step, char *err, size_t errlen)
{
    char sql[64], *msg = NULL;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d; COMMIT;", step);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, s_steps[step - 1], NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "schema step %d: %s", step, msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        if (!sqlite3_get_autocommit(db))
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

/* Brings the schema to SCHEMA_VERSION; refuses a store made by a newer
 * binary, which this one cannot read safely. */
static int s_migrate(sqlite3 *db, char *err, size_t errlen)
{
    int from = 0;
    int rc = lt_sqlopen_migrate(db, SCHEMA_VERSION, s_migrate_step, "schema version", &from, err,
                                errlen);
    if (rc == LT_SQLOPEN_NEWER) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, ": upgrade lienthong to open it");
    }
    if (rc != 0)
        return -1;
    if (from >= 0 && from < SCHEMA_VERSION)
        lt_info("store", "schema migrated from version %d to %d", from, SCHEMA_VERSION);
    return 0;
}

int lt_store_schema_version(void)
{
    return SCHEMA_VERSION;
}

const char *lt_store_schema_step(int step)
{
    return step >= 1 && step <= SCHEMA_VERSION ? s_steps[step - 1] : NULL;
}

/* ---- the schema of a file from outside ---------------------------------------------- */

/* An empty store of `version` in memory: steps 1 to version, or step 1
 * for a store from before versioning (its tables, at version 0). Only the
 * functions the steps call are there. NULL with err. */
static sqlite3 *s_reference(int version, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_create_function(db, "lt_record_sum", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                s_sql_sum, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(db, "lt_record_fields", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                s_sql_fields, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot build a store's schema to compare with: %s",
                 db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return NULL;
    }
    for (int step = 1; step <= (version > 0 ? version : 1); step++)
        if (s_migrate_step(db, step, err, errlen) != 0) {
            sqlite3_close(db);
            return NULL;
        }
    return db;
}

int lt_store_schema_check(sqlite3 *db, char *err, size_t errlen)
{
    char what[160];
    int version = 0;
    sqlite3 *ref;
    if (lt_sqlopen_user_version(db, &version) != 0) {
        snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (version < 0 || version > SCHEMA_VERSION) {
        snprintf(err, errlen, "schema version %d is not one this lienthong knows (1 to %d)",
                 version, SCHEMA_VERSION);
        return -1;
    }
    if (!(ref = s_reference(version, err, errlen)))
        return -1;
    int rc = lt_sqlopen_schema_diff(db, &ref, 1, 1, what, sizeof what, err, errlen);
    if (rc == LT_SQLOPEN_SCHEMA_FOREIGN)
        snprintf(err, errlen,
                 "its schema holds %s, which a store of schema version %d does not have as it "
                 "is: a restored store is opened with the gateway's own functions, so a file with "
                 "other objects than the gateway's is refused",
                 what, version);
    else if (rc == LT_SQLOPEN_SCHEMA_LACKS)
        snprintf(err, errlen, "its schema lacks %s that a store of schema version %d has", what,
                 version);
    sqlite3_close(ref);
    return rc == 0 ? 0 : -1;
}

/* Applies self->cache_mb to the connection (at each connect, a rebuild's too). */
static int s_cache(lt_store_t *self)
{
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA cache_size = %d", -self->cache_mb * 1024);
    return sqlite3_exec(self->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
}

/* Refuses a store whose schema is not exactly this version's: a store
 * opened only to be inspected must come out as it went in (a backup of an
 * older version stays restorable by that version). */
static int s_same_schema(sqlite3 *db, char *err, size_t errlen)
{
    int version = 0;
    if (lt_sqlopen_user_version(db, &version) != 0) {
        snprintf(err, errlen, "cannot read the schema version: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (version != SCHEMA_VERSION) {
        snprintf(err, errlen,
                 "schema version %d, not this lienthong's (%d), and a store opened as it is "
                 "is never migrated: use the lienthong that wrote it, or a copy",
                 version, SCHEMA_VERSION);
        return -1;
    }
    return 0;
}

/* sqlite3_wal_hook: runs after each commit, the write lock released. The
 * delegate copies the log on its own thread; this one only past the cap,
 * which a writer that never pauses reaches: SQLite restarts the log from
 * its start only when a write begins with every page of it copied, and a
 * checkpoint on another thread rarely ends between two commits. */
static int s_wal_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    lt_store_t *self = arg;
    if (strcmp(name, "main") != 0) {
        /* An attached file (a rebuild's copy): SQLite's own rule. */
        if (pages >= LT_STORE_WAL_PAGES)
            (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    self->wal_pages = pages;
    /* Busy (the checkpointer copies meanwhile) is no error: the next
     * commit tries again. Any other failure is the checkpointer's to see,
     * report and count: the delegate is told the log was not copied. */
    int copied = 0;
    if (pages >= self->wal_cap) {
        int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        copied = rc == SQLITE_OK || rc == SQLITE_BUSY;
    }
    self->wal_fn(self->wal_arg, pages, copied);
    return SQLITE_OK;
}

/* Applies the delegate to the connection: SQLite's own automatic
 * checkpoint when there is none. */
static void s_wal_apply(lt_store_t *self)
{
    if (self->wal_fn)
        (void)sqlite3_wal_hook(self->db, s_wal_hook, self);
    else
        (void)sqlite3_wal_autocheckpoint(self->db, LT_STORE_WAL_PAGES);
}

void lt_store_wal_delegate(lt_store_t *self, lt_store_wal_fn *fn, void *arg, int cap_pages)
{
    assert(!fn || cap_pages > LT_STORE_WAL_PAGES);
    self->wal_fn = fn;
    self->wal_arg = arg;
    self->wal_cap = cap_pages;
    if (self->db)
        s_wal_apply(self);
}

int lt_store_wal_pages(const lt_store_t *self)
{
    return self->wal_pages;
}

int lt_store_checkpoint_path(const char *path, int *pages, int *copied, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    *pages = *copied = 0;
    /* A connection knows the file is in WAL mode only once it has read its
     * header: the pragma reads it, and the checkpoint then has a log. */
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "PRAGMA synchronous = FULL; PRAGMA schema_version", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, pages, copied);
    /* Another checkpoint holds the file's checkpoint lock (a commit at the
     * cap copies in line): that one does the work. */
    int busy = rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
    if (rc != SQLITE_OK && !busy)
        snprintf(err, errlen, "cannot checkpoint %s: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : busy ? 1 : -1;
}

/* Opens self->db at path, brings its schema up to date (with migrate; else
 * refuses another schema version and a missing file) and prepares the
 * statements. -1 with err (self->db may be left open for the caller to
 * close). */
static int s_connect(lt_store_t *self, const char *path, int migrate, char *err, size_t errlen)
{
    char why[400] = "";
    char *msg = NULL;
    /* One thread uses a store: no per-call mutexes (they showed in profiles). */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (migrate ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &self->db, flags, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(self->db, 5000) != SQLITE_OK ||
        sqlite3_create_function(self->db, "lt_record_sum", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                NULL, s_sql_sum, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(self->db, "lt_record_moved_sum", 4,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_DIRECTONLY, self,
                                s_sql_moved_sum, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(self->db, "lt_record_fields", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC,
                                NULL, s_sql_fields, NULL, NULL) != SQLITE_OK ||
        sqlite3_create_function(self->db, "lt_state_prev", 3, SQLITE_UTF8 | SQLITE_DIRECTONLY, self,
                                s_sql_prev, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(self->db, s_pragmas, NULL, NULL, &msg) != SQLITE_OK) {
        snprintf(err, errlen, "store %s: %s", path, msg ? msg : sqlite3_errmsg(self->db));
        goto fail;
    }
    if (s_cache(self) != 0) {
        snprintf(err, errlen, "store %s: %s", path, sqlite3_errmsg(self->db));
        goto fail;
    }
    s_wal_apply(self);
    if ((migrate ? s_migrate(self->db, why, sizeof why)
                 : s_same_schema(self->db, why, sizeof why)) != 0) {
        snprintf(err, errlen, "store %s: %s", path, why);
        goto fail;
    }
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(self->db, s_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &self->st[i],
                               NULL) != SQLITE_OK) {
            snprintf(err, errlen, "store %s: %s", path, sqlite3_errmsg(self->db));
            goto fail;
        }
    return 0;
fail:
    sqlite3_free(msg);
    return -1;
}

/* Finalizes the statements and closes the connection. */
static void s_disconnect(lt_store_t *self)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(self->st[i]);
        self->st[i] = NULL;
    }
    sqlite3_close(self->db);
    self->db = NULL;
}

/* SQLite's allocation statistics take a process-wide mutex on every
 * malloc and free (they showed in the feed's profile); nothing here reads
 * them. The setting only takes before SQLite initializes: when something
 * in the process used SQLite first, the call fails and changes nothing,
 * which costs speed only, so its result is not an error. */
static pthread_once_t s_config_once = PTHREAD_ONCE_INIT;

static void s_config(void)
{
    (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

lt_store_t *lt_store_open(const char *path, char *err, size_t errlen)
{
    return lt_store_open_cached(path, LT_STORE_CACHE_MB_DEFAULT, err, errlen);
}

/* lt_store_open_cached, with or without migrating (lt_store_open_existing). */
static lt_store_t *s_open(const char *path, int mb, int migrate, char *err, size_t errlen)
{
    if (mb < LT_STORE_CACHE_MB_MIN || mb > LT_STORE_CACHE_MB_MAX) {
        snprintf(err, errlen, "store %s: a page cache of %d MiB is outside %d..%d", path, mb,
                 LT_STORE_CACHE_MB_MIN, LT_STORE_CACHE_MB_MAX);
        return NULL;
    }
    (void)pthread_once(&s_config_once, s_config);
    lt_store_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->cache_mb = mb; /* applied by s_connect */
    if (s_connect(self, path, migrate, err, errlen) != 0)
        lt_store_destroy(&self);
    return self;
}

lt_store_t *lt_store_open_cached(const char *path, int mb, char *err, size_t errlen)
{
    return s_open(path, mb, 1, err, errlen);
}

lt_store_t *lt_store_open_existing(const char *path, char *err, size_t errlen)
{
    return s_open(path, LT_STORE_CACHE_MB_DEFAULT, 0, err, errlen);
}

void lt_store_destroy(lt_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_store_read_end(*self_p);
    s_disconnect(*self_p);
    free((*self_p)->deltas);
    free(*self_p);
    *self_p = NULL;
}

const char *lt_store_error(lt_store_t *self)
{
    return sqlite3_errmsg(self->db);
}

/* synchronous = FULL set again when lt_store_relaxed(self, 0) failed to,
 * before a write that opens a transaction: every commit not asked to be
 * relaxed is synced, or refused (lt_store.h). Inside a transaction the
 * pragma cannot change, and the transaction's BEGIN passed here. */
static int s_full(lt_store_t *self)
{
    if (!self->sync_lost || self->relaxed || !sqlite3_get_autocommit(self->db))
        return 0;
    if (sqlite3_exec(self->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL) != SQLITE_OK)
        return -1;
    self->sync_lost = 0;
    return 0;
}

/* Runs a statement that writes and returns no rows, then resets it. A read
 * snapshot held on this connection (lt_store_read_begin) ends first: a
 * write must see the newest rows, and SQLite refuses to upgrade a snapshot
 * older than them. Functions that read before they write end it on entry. */
static int s_run(lt_store_t *self, sqlite3_stmt *st)
{
    lt_store_read_end(self);
    if (s_full(self) != 0)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- completeness counts ------------------------------------------------- */

/* The pending changes of stream's counts, added when absent; NULL when out
 * of memory. */
static delta_t *s_delta(lt_store_t *self, int64_t stream)
{
    for (size_t i = self->n_deltas; i > 0; i--)
        if (self->deltas[i - 1].stream == stream)
            return &self->deltas[i - 1];
    if (self->n_deltas == self->cap_deltas) {
        size_t cap = self->cap_deltas ? self->cap_deltas * 2 : 8;
        delta_t *p = realloc(self->deltas, cap * sizeof *p);
        if (!p)
            return NULL;
        self->deltas = p;
        self->cap_deltas = cap;
    }
    delta_t *d = &self->deltas[self->n_deltas++];
    memset(d, 0, sizeof *d);
    d->stream = stream;
    return d;
}

/* A key of stream went from (was_live, was) to (live, now): the counts of
 * the fields that differ move, and the record count when liveness does. */
static int s_count(lt_store_t *self, int64_t stream, int was_live, uint64_t was, int live,
                   uint64_t now)
{
    was = was_live ? was : 0;
    now = live ? now : 0;
    if (was_live == live && was == now)
        return 0;
    delta_t *d = s_delta(self, stream);
    if (!d)
        return -1;
    d->n[0] += live - was_live;
    for (uint64_t diff = was ^ now; diff; diff &= diff - 1) {
        int bit = __builtin_ctzll(diff);
        d->n[bit + 1] += (now >> bit) & 1 ? 1 : -1;
    }
    return 0;
}

/* Writes the pending changes of the counts and the newest changes (in the
 * open transaction, or alone outside one) and forgets them. */
static int s_flush(lt_store_t *self)
{
    sqlite3_stmt *st = self->st[ST_PRESENCE_ADD];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < self->n_deltas; i++) {
        if (self->deltas[i].newest > 0) {
            sqlite3_stmt *up = self->st[ST_NEWEST_RAISE];
            sqlite3_bind_int64(up, 1, self->deltas[i].stream);
            sqlite3_bind_int64(up, 2, self->deltas[i].newest);
            rc = s_run(self, up);
        }
        for (int f = 0; rc == 0 && f <= LT_PRESENCE_FIELDS; f++) {
            if (!self->deltas[i].n[f])
                continue;
            sqlite3_bind_int64(st, 1, self->deltas[i].stream);
            sqlite3_bind_int(st, 2, f);
            sqlite3_bind_int64(st, 3, self->deltas[i].n[f]);
            rc = s_run(self, st);
        }
    }
    self->n_deltas = 0;
    return rc;
}

int lt_store_newest_raise(lt_store_t *self, int64_t stream, int64_t ms)
{
    if (ms <= 0)
        return 0;
    delta_t *d = s_delta(self, stream);
    if (!d)
        return -1;
    if (ms > d->newest)
        d->newest = ms;
    /* As a count outside a transaction (lt_store_state_put): written now. */
    return sqlite3_get_autocommit(self->db) ? s_flush(self) : 0;
}

int lt_store_newest_get(lt_store_t *self, int64_t stream, int64_t *ms)
{
    sqlite3_stmt *st = self->st[ST_NEWEST_GET];
    sqlite3_bind_int64(st, 1, stream);
    int rc = sqlite3_step(st);
    *ms = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Forgets the pending changes of stream (its counts and newest change are
 * being rewritten). */
static void s_forget(lt_store_t *self, int64_t stream)
{
    for (size_t i = 0; i < self->n_deltas; i++)
        if (self->deltas[i].stream == stream)
            self->deltas[i] = self->deltas[--self->n_deltas];
}

int lt_store_presence(lt_store_t *self, int64_t stream, lt_store_presence_t *out)
{
    sqlite3_stmt *st = self->st[ST_PRESENCE_GET];
    memset(out, 0, sizeof *out);
    sqlite3_bind_int64(st, 1, stream);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int f = sqlite3_column_int(st, 0);
        int64_t n = sqlite3_column_int64(st, 1);
        if (f >= 0 && f <= LT_PRESENCE_FIELDS && n > 0)
            out->n[f] = (uint64_t)n;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- transactions ------------------------------------------------------------ */

int lt_store_read_begin(lt_store_t *self)
{
    if (self->reading || !sqlite3_get_autocommit(self->db))
        return 0;
    int rc = sqlite3_step(self->st[ST_READ_BEGIN]);
    sqlite3_reset(self->st[ST_READ_BEGIN]);
    if (rc != SQLITE_DONE)
        return -1;
    self->reading = 1;
    return 0;
}

void lt_store_read_end(lt_store_t *self)
{
    if (!self || !self->reading)
        return;
    self->reading = 0;
    self->memo_name[0][0] = self->memo_name[1][0] = 0;
    /* Nothing was written: when COMMIT fails, ROLLBACK ends it the same. */
    int rc = sqlite3_step(self->st[ST_COMMIT]);
    sqlite3_reset(self->st[ST_COMMIT]);
    if (rc != SQLITE_DONE && !sqlite3_get_autocommit(self->db)) {
        (void)sqlite3_step(self->st[ST_ROLLBACK]);
        sqlite3_reset(self->st[ST_ROLLBACK]);
    }
}

int lt_store_begin(lt_store_t *self)
{
    self->n_deltas = 0;
    return s_run(self, self->st[ST_BEGIN]);
}

int lt_store_commit(lt_store_t *self)
{
    /* The counts go in with the state they describe. */
    if (s_flush(self) != 0)
        return -1;
    return s_run(self, self->st[ST_COMMIT]);
}

void lt_store_rollback(lt_store_t *self)
{
    self->n_deltas = 0;
    if (self->reading) { /* only a read snapshot is open: nothing to undo */
        lt_store_read_end(self);
        return;
    }
    if (!sqlite3_get_autocommit(self->db))
        (void)s_run(self, self->st[ST_ROLLBACK]);
}

/* Reads columns id, last_seq, last_hash, source_cursor, history of a row. */
static void s_stream_row(sqlite3_stmt *st, lt_stream_t *out)
{
    memset(out, 0, sizeof *out);
    out->id = sqlite3_column_int64(st, 0);
    out->last_seq = (uint64_t)sqlite3_column_int64(st, 1);
    if (sqlite3_column_bytes(st, 2) == 32)
        memcpy(out->last_hash, sqlite3_column_blob(st, 2), 32);
    out->source_cursor = (uint64_t)sqlite3_column_int64(st, 3);
    if (sqlite3_column_bytes(st, 4) == (int)sizeof out->history) {
        memcpy(out->history, sqlite3_column_blob(st, 4), sizeof out->history);
        out->has_history = 1;
    }
}

static int s_stream_load(lt_store_t *self, const char *name, lt_stream_t *out)
{
    sqlite3_stmt *st = self->st[ST_STREAM_GET];
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        s_stream_row(st, out);
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int lt_store_stream_find(lt_store_t *self, const char *name, lt_stream_t *out)
{
    for (int i = 0; self->reading && i < 2; i++)
        if (self->memo_name[i][0] && strcmp(name, self->memo_name[i]) == 0) {
            *out = self->memo[i];
            return 1;
        }
    int rc = s_stream_load(self, name, out);
    size_t len = strlen(name);
    if (rc == 1 && self->reading && len < sizeof self->memo_name[0]) {
        int i = self->memo_next;
        self->memo[i] = *out;
        memcpy(self->memo_name[i], name, len + 1);
        self->memo_next = !i;
    }
    return rc;
}

int lt_store_stream(lt_store_t *self, const char *name, lt_stream_t *out)
{
    lt_store_read_end(self); /* it may insert what it read as absent: read the newest */
    int rc = s_stream_load(self, name, out);
    if (rc != 0)
        return rc == 1 ? 0 : -1;
    sqlite3_stmt *add = self->st[ST_STREAM_ADD];
    sqlite3_bind_text(add, 1, name, -1, SQLITE_STATIC);
    if (s_run(self, add) != 0)
        return -1;
    return s_stream_load(self, name, out) == 1 ? 0 : -1;
}

int lt_store_stream_save(lt_store_t *self, const lt_stream_t *s)
{
    sqlite3_stmt *st = self->st[ST_STREAM_SAVE];
    sqlite3_bind_int64(st, 1, s->id);
    sqlite3_bind_int64(st, 2, (int64_t)s->last_seq);
    sqlite3_bind_blob(st, 3, s->last_hash, 32, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)s->source_cursor);
    return s_run(self, st);
}

/* ---- histories ---------------------------------------------------------- */

int lt_store_history_set(lt_store_t *self, int64_t id, const uint8_t *history, lt_stream_t *out)
{
    sqlite3_stmt *st = self->st[ST_HISTORY_SET];
    sqlite3_bind_int64(st, 1, id);
    if (history)
        sqlite3_bind_blob(st, 2, history, (int)sizeof out->history, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 2);
    if (s_run(self, st) != 0)
        return -1;
    if (!out)
        return 0;
    /* Read back: a new random history is made by SQLite. */
    sqlite3_stmt *rd = NULL;
    int rc = sqlite3_prepare_v2(self->db, "SELECT history FROM streams WHERE id = ?1", -1, &rd,
                                NULL) == SQLITE_OK &&
                     sqlite3_bind_int64(rd, 1, id) == SQLITE_OK && sqlite3_step(rd) == SQLITE_ROW &&
                     sqlite3_column_bytes(rd, 0) == (int)sizeof out->history
                 ? 0
                 : -1;
    if (rc == 0) {
        memcpy(out->history, sqlite3_column_blob(rd, 0), sizeof out->history);
        out->has_history = 1;
    }
    sqlite3_finalize(rd);
    return rc;
}

/* Runs one statement made of up to four integers (a format that uses
 * fewer leaves the rest unread); rare operations, not worth a persistent
 * statement. */
static int s_exec_fmt(lt_store_t *self, const char *fmt, int64_t a, int64_t b, int64_t c, int64_t d)
{
    char *sql = sqlite3_mprintf(fmt, (long long)a, (long long)b, (long long)c, (long long)d);
    if (!sql)
        return -1;
    lt_store_read_end(self); /* they write: as s_run */
    int rc = s_full(self) == 0 ? sqlite3_exec(self->db, sql, NULL, NULL, NULL) : SQLITE_ERROR;
    sqlite3_free(sql);
    return rc == SQLITE_OK ? 0 : -1;
}

int lt_store_stream_replace(lt_store_t *self, int64_t dst, int64_t src)
{
    /* A stream cannot replace itself: clearing dst would empty src, and
     * nothing would be left to move. */
    if (dst == src)
        return -1;
    /* src's counts move with its state: written first, then relabelled. */
    if (s_flush(self) != 0 || lt_store_stream_clear(self, dst) != 0)
        return -1;
    /* Log ids carry the stream id: the rows move to dst's key range, and
     * their checksums, which cover the id, are made for the new one, each
     * once its old one checks (a damaged row fails the move). */
    int64_t shift = LOG_ID(dst, 0) - LOG_ID(src, 0);
    self->move_damaged = 0;
    if (s_exec_fmt(self,
                   "INSERT INTO log(id, record, sum) SELECT id + %lld, record, "
                   "lt_record_moved_sum(id, id + %lld, record, sum) FROM log "
                   "WHERE id >= %lld AND id < %lld",
                   shift, shift, LOG_ID(src, 0), LOG_ID(src + 1, 0)) != 0)
        return self->move_damaged ? LT_STORE_DAMAGED : -1;
    /* The rest is keyed by the stream id alone: relabelled. */
    static const char *const keyed[] = {"state", "batches", "tails", "presence"};
    for (size_t i = 0; i < sizeof keyed / sizeof *keyed; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "UPDATE %s SET stream = %%lld WHERE stream = %%lld", keyed[i]);
        if (s_exec_fmt(self, sql, dst, src, 0, 0) != 0)
            return -1;
    }
    if (s_exec_fmt(self,
                   "UPDATE streams SET (last_seq, last_hash, source_cursor, history, newest_ms) = "
                   "(SELECT last_seq, last_hash, source_cursor, history, newest_ms FROM streams "
                   "WHERE id = %lld) WHERE id = %lld",
                   src, dst, 0, 0) != 0)
        return -1;
    return lt_store_stream_clear(self, src);
}

int lt_store_append(lt_store_t *self, int64_t stream, uint64_t seq, const void *rec, size_t len)
{
    uint8_t leaf[LT_HASH_BYTES];
    lt_crypto_merkle_leaf(rec, len, leaf);
    return lt_store_append_leaf(self, stream, seq, rec, len, leaf);
}

int lt_store_append_leaf(lt_store_t *self, int64_t stream, uint64_t seq, const void *rec,
                         size_t len, const uint8_t leaf[LT_HASH_BYTES])
{
    sqlite3_stmt *st = self->st[ST_APPEND];
    uint8_t sum[LT_STORE_SUM_BYTES];
    if (seq == 0 || seq > SEQ_MAX)
        return -1;
    s_sum_leaf(LOG_ID(stream, seq), leaf, sum);
    sqlite3_bind_int64(st, 1, LOG_ID(stream, seq));
    sqlite3_bind_blob(st, 2, rec, (int)len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, sum, LT_STORE_SUM_BYTES, SQLITE_STATIC);
    return s_run(self, st);
}

/* Reads key's state row: 1 found (with its fields mask), 0 not, -1 error. */
static int s_state_read(lt_store_t *self, int64_t stream, const char *key, uint64_t *seq,
                        int *deleted, uint64_t *fields)
{
    sqlite3_stmt *st = self->st[ST_STATE_GET];
    sqlite3_bind_int64(st, 1, stream);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *seq = (uint64_t)sqlite3_column_int64(st, 0);
        *deleted = sqlite3_column_int(st, 1);
        *fields = (uint64_t)sqlite3_column_int64(st, 2);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int lt_store_state_put(lt_store_t *self, int64_t stream, const char *key, uint64_t seq, int deleted,
                       uint64_t fields, int view)
{
    /* The previous version's fields leave the counts, the new one's enter:
     * the upsert itself tells what it replaced (s_sql_prev). */
    self->prev_found = 0;
    sqlite3_stmt *st = self->st[ST_STATE_PUT];
    fields &= (1ULL << LT_PRESENCE_FIELDS) - 1; /* SQLite integers are signed */
    sqlite3_bind_int64(st, 1, stream);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)seq);
    sqlite3_bind_int(st, 4, deleted ? 1 : 0);
    sqlite3_bind_int64(st, 5, deleted ? 0 : (int64_t)fields);
    sqlite3_bind_int(st, 6, view ? 1 : 0);
    if (s_run(self, st) != 0 || s_count(self, stream, self->prev_found && !self->prev_deleted,
                                        self->prev_fields, !deleted, fields) != 0)
        return -1;
    /* Outside a transaction the write stands alone, and so do the counts. */
    return sqlite3_get_autocommit(self->db) ? s_flush(self) : 0;
}

int lt_store_state_get(lt_store_t *self, int64_t stream, const char *key, uint64_t *seq,
                       int *deleted)
{
    uint64_t fields = 0;
    return s_state_read(self, stream, key, seq, deleted, &fields);
}

int lt_store_state_held(lt_store_t *self, const char *key, lt_store_held_fn fn, void *arg)
{
    sqlite3_stmt *st = self->st[ST_HELD];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc, out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
        out = fn(arg, sqlite3_column_int64(st, 0));
    if (out == 0 && rc != SQLITE_DONE)
        out = -1;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return out;
}

int lt_store_keys(lt_store_t *self, int64_t stream, const char *after, size_t limit,
                  lt_store_name_fn fn, void *arg)
{
    sqlite3_stmt *st = self->st[ST_KEYS];
    int rc = SQLITE_DONE, out = 0;
    if (sqlite3_bind_int64(st, 1, stream) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, after ? after : "", -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, limit > INT64_MAX ? INT64_MAX : (int64_t)limit) != SQLITE_OK)
        out = -1;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 0);
        out = key ? fn(arg, key) : -1;
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = -1;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return out;
}

uint64_t lt_store_damaged_seq(lt_store_t *self)
{
    return self->damaged_seq;
}

/* 1 when the current row of st (id, record, sum) matches its checksum. */
static int s_row_sound(sqlite3_stmt *st, uint8_t leaf[LT_HASH_BYTES])
{
    const void *rec = sqlite3_column_blob(st, 1);
    size_t len = (size_t)sqlite3_column_bytes(st, 1);
    return s_sum_ok(sqlite3_column_int64(st, 0), rec, len, sqlite3_column_blob(st, 2),
                    (size_t)sqlite3_column_bytes(st, 2), leaf);
}

static int s_damaged(lt_store_t *self, uint64_t seq, const char *why)
{
    self->damaged_seq = seq;
    self->damaged_why = why;
    return LT_STORE_DAMAGED;
}

const char *lt_store_damaged_why(lt_store_t *self)
{
    return self->damaged_why ? self->damaged_why : "";
}

#define WHY_SUM     "checksum mismatch"
#define WHY_MISSING "row missing"
#define WHY_CORRUPT "corrupt page"

int lt_store_read(lt_store_t *self, int64_t stream, uint64_t from_seq, size_t max_n,
                  size_t max_bytes, lt_store_rec_fn fn, void *arg)
{
    sqlite3_stmt *st = self->st[ST_READ];
    if (from_seq > SEQ_MAX)
        return 0;
    /* The exclusive end stops at the stream's last possible id + 1. */
    uint64_t end = max_n > SEQ_MAX + 1 - from_seq ? SEQ_MAX + 1 : from_seq + max_n;
    sqlite3_bind_int64(st, 1, LOG_ID(stream, from_seq));
    sqlite3_bind_int64(st, 2, LOG_ID(stream, 0) + (int64_t)end);
    int n = 0, rc;
    size_t bytes = 0;
    uint64_t expect = from_seq;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)(sqlite3_column_int64(st, 0) & ((1LL << SEQ_BITS) - 1));
        size_t len = (size_t)sqlite3_column_bytes(st, 1);
        /* A hole inside the stream is a lost row: damage at the first read,
         * else the read stops before it and the next one reports it. */
        uint8_t leaf[LT_HASH_BYTES];
        if (seq != expect || !s_row_sound(st, leaf)) {
            if (n == 0)
                n = s_damaged(self, expect, seq != expect ? WHY_MISSING : WHY_SUM);
            break;
        }
        if (n > 0 && bytes + len > max_bytes)
            break;
        if (fn(arg, seq, sqlite3_column_blob(st, 1), len, leaf) != 0) {
            n = -1;
            break;
        }
        bytes += len;
        expect++;
        n++;
    }
    /* SQLite's own detection of a damaged page, where the walk reached. */
    if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB)
        n = n > 0 ? n : s_damaged(self, expect, WHY_CORRUPT);
    else if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        n = -1;
    sqlite3_reset(st);
    return n;
}

int lt_store_get(lt_store_t *self, int64_t stream, uint64_t seq, uint8_t **rec, size_t *len)
{
    sqlite3_stmt *st = self->st[ST_GET];
    self->gets++;
    sqlite3_bind_int64(st, 1, LOG_ID(stream, seq));
    int rc = sqlite3_step(st), found = 0;
    uint8_t leaf[LT_HASH_BYTES];
    if (rc == SQLITE_ROW && !s_row_sound(st, leaf)) {
        found = s_damaged(self, seq, WHY_SUM);
    } else if (rc == SQLITE_ROW) {
        *len = (size_t)sqlite3_column_bytes(st, 1);
        *rec = malloc(*len ? *len : 1);
        if (*rec) {
            memcpy(*rec, sqlite3_column_blob(st, 1), *len);
            found = 1;
        } else {
            found = -1;
        }
    } else if (rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB) {
        found = s_damaged(self, seq, WHY_CORRUPT);
    } else if (rc != SQLITE_DONE) {
        found = -1;
    }
    sqlite3_reset(st);
    return found;
}

/* ---- retention and snapshots (PROTOCOL.md 6.7, 6.8) ---------------------- */

int lt_store_scan(lt_store_t *self, int64_t stream, uint64_t from_seq, uint64_t to_seq,
                  size_t max_n, lt_store_rec_fn fn, void *arg, uint64_t *last)
{
    sqlite3_stmt *st = self->st[ST_SCAN];
    if (from_seq > SEQ_MAX || to_seq > SEQ_MAX + 1 || from_seq >= to_seq)
        return 0;
    sqlite3_bind_int64(st, 1, LOG_ID(stream, from_seq));
    sqlite3_bind_int64(st, 2, LOG_ID(stream, to_seq));
    sqlite3_bind_int64(st, 3, (int64_t)max_n);
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint8_t leaf[LT_HASH_BYTES];
        uint64_t seq = (uint64_t)(sqlite3_column_int64(st, 0) & ((1LL << SEQ_BITS) - 1));
        *last = seq;
        n++;
        if (!s_row_sound(st, leaf))
            continue; /* a damaged row is left for the reads to report */
        if (fn(arg, seq, sqlite3_column_blob(st, 1), (size_t)sqlite3_column_bytes(st, 1), leaf) !=
            0) {
            rc = SQLITE_ERROR;
            break;
        }
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? n : -1;
}

int lt_store_relaxed(lt_store_t *self, int relaxed)
{
    lt_store_read_end(self); /* SQLite refuses the pragma inside a transaction */
    int rc = sqlite3_exec(self->db,
                          relaxed ? "PRAGMA synchronous = NORMAL" : "PRAGMA synchronous = FULL",
                          NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    /* After a failure to set FULL the connection may still be NORMAL:
     * s_full sets it before the next write. */
    self->relaxed = relaxed;
    if (!relaxed)
        self->sync_lost = rc != 0;
    return rc;
}

int lt_store_synced(lt_store_t *self)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(self->db, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        rc = sqlite3_column_int(st, 0) >= 2; /* FULL is 2, EXTRA 3 */
    sqlite3_finalize(st);
    return rc;
}

int lt_store_sum_ok(int64_t stream, uint64_t seq, const void *rec, size_t len, const void *sum,
                    size_t sum_len, uint8_t leaf[LT_HASH_BYTES])
{
    return s_sum_ok(LOG_ID(stream, seq), rec, len, sum, sum_len, leaf);
}

const char *lt_store_path(lt_store_t *self)
{
    return sqlite3_db_filename(self->db, "main");
}

int lt_store_tail_first(lt_store_t *self, int64_t stream, uint64_t *first)
{
    sqlite3_stmt *st = self->st[ST_TAIL_GET];
    sqlite3_bind_int64(st, 1, stream);
    int rc = sqlite3_step(st);
    *first = rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 1;
    sqlite3_reset(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

int lt_store_tail_set(lt_store_t *self, int64_t stream, uint64_t first)
{
    sqlite3_stmt *st = self->st[ST_TAIL_SET];
    sqlite3_bind_int64(st, 1, stream);
    sqlite3_bind_int64(st, 2, (int64_t)first);
    return s_run(self, st);
}

int lt_store_log_delete(lt_store_t *self, int64_t stream, uint64_t seq)
{
    sqlite3_stmt *st = self->st[ST_LOG_DEL];
    sqlite3_bind_int64(st, 1, LOG_ID(stream, seq));
    return s_run(self, st);
}

int lt_store_state_delete(lt_store_t *self, int64_t stream, const char *key)
{
    lt_store_read_end(self); /* the counts move by the row's newest fields */
    uint64_t seq = 0, fields = 0;
    int deleted = 1, found = s_state_read(self, stream, key, &seq, &deleted, &fields);
    if (found <= 0)
        return found;
    /* As in lt_store_state_put: the counts move once the row is gone, so
     * that a failed delete outside a transaction leaves them as they were. */
    sqlite3_stmt *st = self->st[ST_STATE_DEL];
    sqlite3_bind_int64(st, 1, stream);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    if (s_run(self, st) != 0 || s_count(self, stream, !deleted, fields, 0, 0) != 0)
        return -1;
    return sqlite3_get_autocommit(self->db) ? s_flush(self) : 0;
}

int lt_store_stream_clear(lt_store_t *self, int64_t stream)
{
    sqlite3_stmt *log = self->st[ST_CLEAR_LOG];
    sqlite3_bind_int64(log, 1, LOG_ID(stream, 0));
    sqlite3_bind_int64(log, 2, LOG_ID(stream + 1, 0));
    if (s_run(self, log) != 0)
        return -1;
    /* The other tables are keyed by the stream id alone. */
    static const int by_stream[] = {ST_CLEAR_STATE, ST_CLEAR_TAIL, ST_CLEAR_BATCHES,
                                    ST_CLEAR_PRESENCE, ST_CLEAR_VIEW_DEF};
    s_forget(self, stream);
    for (size_t i = 0; i < sizeof by_stream / sizeof *by_stream; i++) {
        sqlite3_bind_int64(self->st[by_stream[i]], 1, stream);
        if (s_run(self, self->st[by_stream[i]]) != 0)
            return -1;
    }
    /* An empty stream has cursor 0, no history (PROTOCOL.md 6.9) and no
     * newest change (8.9). */
    return s_exec_fmt(self,
                      "UPDATE streams SET last_seq = 0, last_hash = NULL, source_cursor = 0, "
                      "history = NULL, newest_ms = 0 WHERE id = %lld",
                      stream, 0, 0, 0);
}

static int s_rename(lt_store_t *self, const char *from, const char *to)
{
    sqlite3_stmt *st = self->st[ST_RENAME];
    sqlite3_bind_text(st, 1, from, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, to, -1, SQLITE_STATIC);
    return s_run(self, st);
}

int lt_store_stream_swap(lt_store_t *self, const char *a, const char *b)
{
    /* Names are unique: one passes through a name no stream id can have. */
    static const char *tmp = "\x01swap";
    return s_rename(self, a, tmp) || s_rename(self, b, a) || s_rename(self, tmp, b) ? -1 : 0;
}

/* ---- integrity ------------------------------------------------------------------ */

int lt_store_batch_put(lt_store_t *self, int64_t stream, const lt_store_batch_t *b)
{
    sqlite3_stmt *st = self->st[ST_BATCH_PUT];
    sqlite3_bind_int64(st, 1, stream);
    sqlite3_bind_int64(st, 2, (int64_t)b->last_seq);
    sqlite3_bind_int64(st, 3, (int64_t)b->first_seq);
    sqlite3_bind_blob(st, 4, b->prev_hash, LT_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, b->root, LT_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 6, b->signature, LT_SIG_BYTES, SQLITE_STATIC);
    if (b->has_history)
        sqlite3_bind_blob(st, 7, b->history, (int)sizeof b->history, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 7);
    return s_run(self, st);
}

/* Copies column i of st into out when it has exactly len bytes. */
static int s_blob(sqlite3_stmt *st, int i, uint8_t *out, int len)
{
    if (sqlite3_column_bytes(st, i) != len)
        return -1;
    memcpy(out, sqlite3_column_blob(st, i), (size_t)len);
    return 0;
}

int lt_store_batch_find(lt_store_t *self, int64_t stream, uint64_t seq, lt_store_batch_t *out)
{
    sqlite3_stmt *st = self->st[ST_BATCH_FIND];
    sqlite3_bind_int64(st, 1, stream);
    sqlite3_bind_int64(st, 2, (int64_t)seq);
    int rc = sqlite3_step(st), found = rc == SQLITE_DONE ? 0 : -1;
    if (rc == SQLITE_ROW) {
        out->first_seq = (uint64_t)sqlite3_column_int64(st, 0);
        out->last_seq = (uint64_t)sqlite3_column_int64(st, 1);
        /* A header whose sizes are wrong is damaged: its signature cannot
         * verify, so it is returned zeroed for the caller to find so. */
        if (s_blob(st, 2, out->prev_hash, LT_HASH_BYTES) != 0 ||
            s_blob(st, 3, out->root, LT_HASH_BYTES) != 0 ||
            s_blob(st, 4, out->signature, LT_SIG_BYTES) != 0)
            memset(out->signature, 0, LT_SIG_BYTES);
        out->has_history = sqlite3_column_type(st, 5) != SQLITE_NULL;
        if (out->has_history && s_blob(st, 5, out->history, (int)sizeof out->history) != 0)
            memset(out->signature, 0, LT_SIG_BYTES);
        found = 1;
    }
    sqlite3_reset(st);
    return found;
}

int lt_store_batch_prune(lt_store_t *self, int64_t stream, uint64_t below_seq)
{
    sqlite3_stmt *st = self->st[ST_BATCH_PRUNE];
    sqlite3_bind_int64(st, 1, stream);
    sqlite3_bind_int64(st, 2, (int64_t)below_seq);
    return s_run(self, st);
}

int lt_store_replace(lt_store_t *self, int64_t stream, uint64_t seq, const void *rec, size_t len)
{
    sqlite3_stmt *st = self->st[ST_REPLACE];
    if (seq == 0 || seq > SEQ_MAX)
        return -1;
    sqlite3_bind_int64(st, 1, LOG_ID(stream, seq));
    sqlite3_bind_blob(st, 2, rec, (int)len, SQLITE_STATIC);
    return s_run(self, st);
}

int lt_store_view_def_get(lt_store_t *self, int64_t stream, uint8_t def[LT_HASH_BYTES])
{
    sqlite3_stmt *st = self->st[ST_VIEW_DEF_GET];
    sqlite3_bind_int64(st, 1, stream);
    int rc = sqlite3_step(st), found = -1;
    if (rc == SQLITE_ROW)
        found = s_blob(st, 0, def, LT_HASH_BYTES) == 0 ? 1 : -1;
    else if (rc == SQLITE_DONE)
        found = 0;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return found;
}

int lt_store_view_def_set(lt_store_t *self, int64_t stream, const uint8_t def[LT_HASH_BYTES])
{
    sqlite3_stmt *st = self->st[ST_VIEW_DEF_SET];
    sqlite3_bind_int64(st, 1, stream);
    sqlite3_bind_blob(st, 2, def, LT_HASH_BYTES, SQLITE_STATIC);
    return s_run(self, st);
}

int lt_store_view_newest_get(lt_store_t *self, int64_t stream, int64_t *ms)
{
    sqlite3_stmt *st = self->st[ST_VIEW_NEWEST_GET];
    sqlite3_bind_int64(st, 1, stream);
    int rc = sqlite3_step(st), found = -1;
    *ms = 0;
    if (rc == SQLITE_ROW) {
        *ms = sqlite3_column_int64(st, 0);
        found = 1;
    } else if (rc == SQLITE_DONE) {
        found = 0;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return found;
}

int lt_store_view_newest_set(lt_store_t *self, int64_t stream, int64_t ms)
{
    sqlite3_stmt *st = self->st[ST_VIEW_NEWEST_SET];
    sqlite3_bind_int64(st, 1, stream);
    sqlite3_bind_int64(st, 2, ms);
    return s_run(self, st);
}

/* Copies text column i of st's row into buf, "" for a NULL; 1 when it
 * was NULL, 0 when not, -1 when SQLite ran out of memory converting it
 * (sqlite3_column_text returns NULL then too). A NOT NULL column holds a
 * NULL only in a damaged file: the row is then read with "" (a member ""
 * subscribes to nothing, a stream "" is named by no directory), not the
 * whole walk failed again and again, nor a NULL given to "%s". */
static int s_column_copy(sqlite3_stmt *st, int i, char *buf, size_t len)
{
    /* Asked first: after a conversion the type is undefined. */
    int null = sqlite3_column_type(st, i) == SQLITE_NULL;
    const unsigned char *text = sqlite3_column_text(st, i);
    if (!text && !null)
        return -1;
    snprintf(buf, len, "%s", text ? (const char *)text : "");
    return null;
}

int lt_store_view_defs(lt_store_t *self, lt_store_name_fn fn, void *arg)
{
    sqlite3_stmt *st = self->st[ST_VIEW_DEFS];
    int rc, out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char name[512]; /* fn may use the store: copied out of the statement */
        out = s_column_copy(st, 0, name, sizeof name) < 0 ? -1 : fn(arg, name);
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = -1;
    sqlite3_reset(st);
    return out;
}

int lt_store_streams(lt_store_t *self, lt_store_stream_fn fn, void *arg)
{
    sqlite3_stmt *st = self->st[ST_STREAMS];
    int rc, out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        lt_stream_t s;
        s_stream_row(st, &s);
        /* fn may use the store: the name is copied out of the statement. */
        char name[512];
        out = s_column_copy(st, 5, name, sizeof name) < 0 ? -1 : fn(arg, name, &s);
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = -1;
    sqlite3_reset(st);
    return out;
}

/* ---- subscriber lines (schema step 12) ------------------------------------------ */

static int s_sub_put(lt_store_t *self, const lt_store_sub_t *l)
{
    sqlite3_stmt *st = self->st[ST_SUBS_PUT];
    sqlite3_bind_int64(st, 1, l->stream);
    sqlite3_bind_text(st, 2, l->member, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)l->cursor);
    if (l->history)
        sqlite3_bind_blob(st, 4, l->history, LT_STORE_HISTORY_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, l->seen_ms);
    sqlite3_bind_int64(st, 6, l->since_ms);
    if (l->reason)
        sqlite3_bind_text(st, 7, l->reason, -1, SQLITE_STATIC);
    return s_run(self, st);
}

int lt_store_subs_save(lt_store_t *self, const lt_store_sub_t *lines, size_t n)
{
    int rc = lt_store_begin(self) == 0 && s_run(self, self->st[ST_SUBS_CLEAR]) == 0 ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = s_sub_put(self, &lines[i]);
    if (rc == 0)
        rc = lt_store_commit(self);
    if (rc != 0)
        lt_store_rollback(self);
    return rc;
}

int lt_store_subs(lt_store_t *self, lt_store_sub_fn fn, void *arg)
{
    sqlite3_stmt *st = self->st[ST_SUBS];
    int rc, out = 0;
    while (out == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        /* fn may use the store: every text is copied out of the statement. */
        char name[512], member[512], reason[512];
        uint8_t history[LT_STORE_HISTORY_BYTES];
        int no_reason = 0;
        if (s_column_copy(st, 0, name, sizeof name) < 0 ||
            s_column_copy(st, 2, member, sizeof member) < 0 ||
            (no_reason = s_column_copy(st, 7, reason, sizeof reason)) < 0) {
            out = -1;
            break;
        }
        int has_history = sqlite3_column_bytes(st, 4) == (int)sizeof history;
        if (has_history)
            memcpy(history, sqlite3_column_blob(st, 4), sizeof history);
        lt_store_sub_t l = {.stream = sqlite3_column_int64(st, 1),
                            .member = member,
                            .cursor = (uint64_t)sqlite3_column_int64(st, 3),
                            .history = has_history ? history : NULL,
                            .seen_ms = sqlite3_column_int64(st, 5),
                            .since_ms = sqlite3_column_int64(st, 6),
                            .reason = no_reason ? NULL : reason};
        out = fn(arg, name, &l);
    }
    if (out == 0 && rc != SQLITE_DONE)
        out = -1;
    sqlite3_reset(st);
    return out;
}

/* ---- rebuild ---------------------------------------------------------------------- */

uint64_t lt_store_gets(const lt_store_t *self)
{
    return self->gets;
}

uint64_t lt_store_rebuilds(const lt_store_t *self)
{
    return self->rebuilds;
}

int lt_store_corrupt(lt_store_t *self)
{
    int rc = sqlite3_extended_errcode(self->db) & 0xff;
    return rc == SQLITE_CORRUPT || rc == SQLITE_NOTADB;
}

int lt_store_cannot_write(lt_store_t *self)
{
    int rc = sqlite3_extended_errcode(self->db) & 0xff;
    return rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_READONLY ||
           rc == SQLITE_CANTOPEN;
}

/* Runs one statement with ?1 and ?2 bound (when lo <= hi). */
static int s_exec2(sqlite3 *db, const char *sql, int64_t lo, int64_t hi)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK && lo <= hi) {
        sqlite3_bind_int64(st, 1, lo);
        sqlite3_bind_int64(st, 2, hi);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Copies the log rows lo..hi that can still be read, halving the range
 * around pages SQLite finds corrupt; *lost counts the rows left behind. */
static int s_copy_log(sqlite3 *db, int64_t lo, int64_t hi, int64_t *lost)
{
    int rc = s_exec2(db, "INSERT INTO fresh.log SELECT * FROM main.log WHERE id BETWEEN ?1 AND ?2",
                     lo, hi);
    if (rc != SQLITE_CORRUPT && rc != SQLITE_NOTADB)
        return rc == SQLITE_OK ? 0 : -1;
    if (lo == hi) {
        (*lost)++;
        return 0;
    }
    int64_t mid = lo + (hi - lo) / 2;
    return s_copy_log(db, lo, mid, lost) == 0 && s_copy_log(db, mid + 1, hi, lost) == 0 ? 0 : -1;
}

/* Copies every table but the log whole, then each stream's log range,
 * 1..last_seq. A snapshot's staging copy has its rows past its last seq
 * (0 until its swap): they stay behind, and the feed abandons the snapshot
 * (lt_feed_store_rebuild). The range is not the stream's whole key range:
 * a corrupt leaf covers every id from the key before its first row, and
 * the halving would go down to each of the 2^SEQ_BITS ids above a
 * stream's last row. */
static int s_copy_all(sqlite3 *db, int64_t *lost, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "SELECT name FROM fresh.sqlite_master WHERE type = 'table' AND "
                                "name != 'log' AND name NOT LIKE 'sqlite_%'",
                                -1, &st, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    if (rc != 0)
        snprintf(err, errlen, "cannot list the tables: %s", sqlite3_errmsg(db));
    /* A step that fails (I/O, memory) must fail the copy, not end it: the
     * copy is about to replace the store. */
    int step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        char sql[300];
        snprintf(sql, sizeof sql, "INSERT INTO fresh.\"%s\" SELECT * FROM main.\"%s\"",
                 sqlite3_column_text(st, 0), sqlite3_column_text(st, 0));
        if (s_exec2(db, sql, 1, 0) != SQLITE_OK) {
            snprintf(err, errlen, "table %s cannot be copied: %s", sqlite3_column_text(st, 0),
                     sqlite3_errmsg(db));
            rc = -1;
        }
    }
    if (rc == 0 && step != SQLITE_DONE) {
        snprintf(err, errlen, "cannot list the tables: %s", sqlite3_errmsg(db));
        rc = -1;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (rc == 0 && sqlite3_prepare_v2(db, "SELECT id, last_seq FROM fresh.streams", -1, &st,
                                      NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot list the streams: %s", sqlite3_errmsg(db));
        rc = -1;
    }
    step = SQLITE_DONE;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0), last = sqlite3_column_int64(st, 1);
        if (last > 0 && s_copy_log(db, LOG_ID(id, 1), LOG_ID(id, last), lost) != 0) {
            snprintf(err, errlen, "log of stream %lld cannot be copied: %s", (long long)id,
                     sqlite3_errmsg(db));
            rc = -1;
        }
    }
    if (rc == 0 && step != SQLITE_DONE) {
        snprintf(err, errlen, "cannot list the streams: %s", sqlite3_errmsg(db));
        rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Removes the WAL files of path, and path itself unless only_wal. */
static void s_unlink_db(const char *path, int only_wal)
{
    char side[4300];
    if (!only_wal)
        unlink(path);
    snprintf(side, sizeof side, "%.4200s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%.4200s-shm", path);
    unlink(side);
}

/* Writes path.rebuild: a fresh store with everything still readable. */
static int s_rebuild_copy(lt_store_t *self, const char *fresh, int64_t *lost, char *err,
                          size_t errlen)
{
    s_unlink_db(fresh, 0);
    lt_store_t *f = lt_store_open(fresh, err, errlen);
    if (!f)
        return -1;
    lt_store_destroy(&f);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(self->db, "ATTACH DATABASE ?1 AS fresh", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, fresh, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot attach %s: %s", fresh, sqlite3_errmsg(self->db));
        return -1;
    }
    /* One statement per table or readable range, each committing alone: a
     * transaction over the corrupt file fails at its commit. The new file
     * replaces the old one only once complete, so nothing here needs to be
     * atomic. */
    rc = s_copy_all(self->db, lost, err, errlen);
    if (rc != 0 && !err[0])
        snprintf(err, errlen, "%s", sqlite3_errmsg(self->db));
    (void)s_exec2(self->db, "DETACH DATABASE fresh", 1, 0);
    /* Everything into the new file itself: its WAL is not renamed with it. */
    sqlite3 *db = NULL;
    if (rc == 0 &&
        (sqlite3_open_v2(fresh, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
         sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK)) {
        snprintf(err, errlen, "cannot checkpoint %s: %s", fresh, sqlite3_errmsg(db));
        rc = -1;
    }
    sqlite3_close(db);
    s_unlink_db(fresh, 1);
    return rc;
}

/* Brings every frame of the old file's WAL into the file itself, before
 * the rebuild takes it away (lt_store_rebuild says why). SQLite's FULL
 * mode waits (the busy timeout) for a reader of an older snapshot, which
 * pins the frames after it; one on the latest snapshot does not keep
 * anything out of the file. 0, or -1 with err. */
static int s_wal_into_file(lt_store_t *self, char *err, size_t errlen)
{
    int frames = -1, copied = -1;
    int rc = sqlite3_wal_checkpoint_v2(self->db, "main", SQLITE_CHECKPOINT_FULL, &frames, &copied);
    if (rc == SQLITE_OK && frames >= 0 && copied == frames)
        return 0;
    snprintf(err, errlen,
             "the store's WAL cannot be copied into the file (%d of %d frames: %s); the file is "
             "not replaced, since the transactions in its WAL would be lost",
             copied, frames,
             rc == SQLITE_OK ? "a reader holds the rest" : sqlite3_errmsg(self->db));
    return -1;
}

/* Makes the entries of path's directory durable (unlinks, a rename). A
 * failure does not undo the rebuild's step: the files are as wanted, only
 * their durability across a crash is not known, so it is said and the
 * rebuild goes on. */
static void s_sync_dir(const char *path)
{
    if (lt_file_sync_dir(path) != 0)
        lt_warn("store", "cannot sync the directory of %s: %s", path, strerror(errno));
}

int lt_store_rebuild(lt_store_t *self, int64_t *lost, char *err, size_t errlen)
{
    char path[4096], fresh[4200];
    err[0] = '\0';
    *lost = 0;
    snprintf(path, sizeof path, "%s", sqlite3_db_filename(self->db, "main"));
    snprintf(fresh, sizeof fresh, "%s.rebuild", path);
    lt_store_rollback(self);
    if (s_rebuild_copy(self, fresh, lost, err, errlen) != 0) {
        s_unlink_db(fresh, 0);
        return -1;
    }
    /* Two files change: the old WAL must go and the new file must come,
     * and no rename does both. The old file alone is only the old store
     * when its WAL holds nothing the file lacks, and the old WAL beside the
     * new file would be applied to it (SQLite does not tell whose WAL it
     * is). So the WAL is first copied into the old file (its transactions
     * are in the new one too: the copy read through it), and the steps are:
     *   1. checkpoint: a kill leaves the old file with its WAL, as SQLite
     *      makes a checkpoint;
     *   2. the old WAL and index removed, the directory synced: a kill
     *      leaves the old file, whole without them;
     *   3. the new file renamed over the path: a kill leaves the new file,
     *      whose own WAL was emptied into it, with no WAL beside it.
     * Nothing writes the old file between 1 and 2: the writer thread and
     * the checkpointer are suspended (lt_feed_store_rebuild), and this
     * connection is closed right after. A checkpoint that cannot copy every
     * frame refuses the rebuild; the store stays as it was. */
    if (s_wal_into_file(self, err, errlen) != 0) {
        s_unlink_db(fresh, 0);
        return -1;
    }
    s_disconnect(self);
    s_unlink_db(path, 1);
    s_sync_dir(path);
    if (rename(fresh, path) != 0) {
        char why[300];
        snprintf(why, sizeof why, "%s", strerror(errno));
        if (s_connect(self, path, 1, err, errlen) == 0)
            snprintf(err, errlen, "cannot replace %s: %s", path, why);
        return -1;
    }
    self->rebuilds++; /* the new file is at the path, whether or not it opens */
    s_sync_dir(path);
    return s_connect(self, path, 1, err, errlen);
}

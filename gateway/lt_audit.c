/* lt_audit: hash-chained audit entries with signed checkpoints. */
#include "lt_audit.h"
#include "lt_clock.h"
#include "lt_crypto.h"
#include "lt_file.h"
#include "lt_gwstats.h"
#include "lt_log.h"
#include "lt_sqlopen.h"
#include "lt_valid.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUDIT_DOMAIN "lienthong/1 audit"
/* The countersignature of a switch's checkpoint by the next key: its own
 * domain, so that no checkpoint signature can stand for one. */
#define SWITCH_DOMAIN "lienthong/1 audit switch"
#define FLUSH_MS      200
#define RETRY_MS      1000  /* a failing log is tried again at most this often */
#define LOG_AGAIN_MS  60000 /* a failing log is reported again at most this often */
#define FLUSH_ENTRIES 10000
#define N_BASE        8  /* texts every entry's hash covers */
#define N_TEXT        10 /* plus application and officer, covered only when one is set */
/* Entries are indexed by subject a block of this many at a time (a new
 * log's; each log keeps the size it was made with): docs/ARCHITECTURE.md,
 * "Audit log", "The subject index". */
#define SUBJECT_BLOCK          4096
#define SUBJECT_CATCHUP_SAY    100000 /* a catch-up this large is said in the log */
#define SUBJECT_CATCHUP_BLOCKS 64     /* blocks per transaction of a catch-up at open */

typedef struct {
    int64_t at_ms;
    /* event, peer, target, subject, fields, purpose, case_ref, detail,
     * application, officer: one allocation that text[0] starts (s_pack),
     * so that an entry costs one malloc and one free, not ten of each. */
    char *text[N_TEXT];
} buffered_t;

struct _lt_audit_t {
    sqlite3 *db;
    sqlite3_stmt *insert, *checkpoint;
    sqlite3_stmt *begin, *commit, *rollback; /* prepared once: a commit per drain */
    sqlite3_stmt *index, *set_indexed;       /* s_index */
    const lt_keys_t *keys;
    const lt_keys_t *cosign; /* the next keys while a switch commits (lt_audit_switch_keys) */
    uint64_t seq;
    uint8_t head[LT_HASH_BYTES];
    /* Entries through seq `indexed` are in subject_blocks, in blocks of
     * `block` (s_index); later ones are found by a scan. */
    uint64_t indexed, block;
    int index_failing; /* said once in the log until indexing works again */
    buffered_t *buf;
    size_t n, cap;
    int64_t last_flush;
    lt_stats_series_t *st_entries, *st_commit; /* NULL until lt_audit_set_stats */
    lt_stats_series_t *st_writable;            /* gauge: 1, or 0 while failing */
    lt_stats_series_t *st_last_seq;            /* gauge: the last committed seq */
    /* While the log cannot be written (docs/ARCHITECTURE.md, "Audit log"):
     * since when (wall ms, 0 when writable), why, what was lost meanwhile. */
    int64_t failing_since, next_try, logged_at;
    char why[256];
    uint64_t lost, refused;
    /* Entries that could not be buffered (out of memory) since the last
     * commit: the next commit fails closed instead of releasing answers
     * whose entries are missing. */
    uint64_t add_failed;
    uint64_t drops;               /* lt_audit_drops */
    int64_t (*now_ms)(void *arg); /* entry times (lt_audit_set_clock) */
    void *now_arg;
};

static const char *s_pragmas = "PRAGMA journal_mode = WAL;"
                               "PRAGMA synchronous = FULL;";

/* A column a layout step adds when the table lacks it (s_add_column):
 * SQLite has no ADD COLUMN IF NOT EXISTS, and a log may have it already
 * (one from before versioning, or an earlier version stopped part way). */
typedef struct {
    const char *table, *column;
    const char *alter; /* the statement that adds it */
} column_t;
#define S_COLUMN(table, column, type)                                                              \
    {                                                                                              \
        table, column, "ALTER TABLE " table " ADD COLUMN " column " " type ";"                     \
    }

/* One layout step: its SQL, run as it is (NULL for a step that only adds
 * columns), then its columns, each added unless there. */
typedef struct {
    const char *sql;
    column_t add[2];
} step_t;

/* The audit log's layout as numbered steps, as the store's schema
 * (docs/ARCHITECTURE.md "Audit log", "Its version"): its PRAGMA
 * user_version is the number of steps applied. Opening applies the missing
 * ones, each in one transaction that also sets user_version, and refuses a
 * log of a higher number (a newer binary's); a log already there is only
 * read, so a start takes no write lock. A released step is never edited,
 * since logs already past it would never run the new text: a change of the
 * layout is a new step at the end (tests/unit/test_audit.c pins each
 * step's text, lt_audit_step_sql). A live log and an exported segment
 * (lt_auditarc) have the same tables. */
static const step_t s_steps[] = {
    /* 1: the tables. A log from before versioning has user_version 0 and
     * some of them, hence IF NOT EXISTS; one from before the application and
     * officer columns gains them here, either or both (an earlier version
     * stopped between its two ALTER TABLEs). */
    {"CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"
     "  event TEXT, peer TEXT, target TEXT, subject TEXT, fields TEXT, purpose TEXT,"
     "  case_ref TEXT, detail TEXT, hash BLOB NOT NULL, application TEXT, officer TEXT);"
     /* The subject index (s_index): each block's entries with a subject,
      * written once the block is full, sorted, so that each commit appends
      * to the end of the tree instead of writing a random leaf per entry. */
     "CREATE TABLE IF NOT EXISTS subject_blocks (block INTEGER NOT NULL, subject TEXT NOT NULL,"
     "  seq INTEGER NOT NULL, PRIMARY KEY (block, subject, seq)) WITHOUT ROWID;"
     "CREATE TABLE IF NOT EXISTS subject_indexed (id INTEGER PRIMARY KEY CHECK (id = 1),"
     "  block_size INTEGER NOT NULL CHECK (block_size > 0), upto INTEGER NOT NULL);"
     "CREATE TABLE IF NOT EXISTS checkpoints (seq INTEGER PRIMARY KEY, hash BLOB NOT NULL,"
     "  signature BLOB NOT NULL, at_ms INTEGER NOT NULL);"
     /* Where the live log's chain starts once older entries were exported
      * (lt_auditarc): the last removed seq and its hash. */
     "CREATE TABLE IF NOT EXISTS anchor (id INTEGER PRIMARY KEY CHECK (id = 1),"
     "  seq INTEGER NOT NULL, hash BLOB NOT NULL, exported_to TEXT, at_ms INTEGER NOT NULL);",
     {S_COLUMN("audit", "application", "TEXT"), S_COLUMN("audit", "officer", "TEXT")}},
    /* 2: the log names the key in force (docs/ARCHITECTURE.md, "Audit log",
     * "Keys and entries"): the anchor records the signing key in force
     * after it (its column signing_key), and each checkpoint after entry
     * `since` is bound to the key in force at its seq. A log brought here
     * keeps the entries it holds as they were checked (since = its last
     * entry); a new one binds all. */
    {"CREATE TABLE IF NOT EXISTS keys_named (id INTEGER PRIMARY KEY CHECK (id = 1),"
     "  since INTEGER NOT NULL);"
     "INSERT OR IGNORE INTO keys_named SELECT 1, MAX(COALESCE((SELECT MAX(seq) FROM audit), 0),"
     "  COALESCE((SELECT MAX(seq) FROM anchor), 0));",
     {S_COLUMN("anchor", "signing_key", "BLOB")}},
    /* 3: the countersignature of the checkpoint of a keys-switched entry
     * that names keys, by the next key (lt_audit_switch_keys): the
     * previous key alone cannot make a switch (docs/ARCHITECTURE.md,
     * "Audit log", "Keys and entries"). NULL on every other checkpoint. */
    {NULL, {S_COLUMN("checkpoints", "countersignature", "BLOB")}},
};
#define AUDIT_VERSION ((int)(sizeof s_steps / sizeof *s_steps))
#define STEP_COLUMNS  ((int)(sizeof s_steps->add / sizeof *s_steps->add))

/* 1 when table has column, 0 when not, -1 with why. */
static int s_has_column(sqlite3 *db, const char *table, const char *column, char *why, size_t len)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st,
                           NULL) != SQLITE_OK) {
        snprintf(why, len, "cannot look column %s up: %s", column, sqlite3_errmsg(db));
        return -1;
    }
    int rc = sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC) == SQLITE_OK &&
                     sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC) == SQLITE_OK
                 ? sqlite3_step(st)
                 : SQLITE_ERROR;
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        return rc == SQLITE_ROW;
    snprintf(why, len, "cannot look column %s up: %s", column, sqlite3_errmsg(db));
    return -1;
}

/* Adds column c unless its table has it: 0, or -1 with why. */
static int s_add_column(sqlite3 *db, const column_t *c, char *why, size_t len)
{
    int has = s_has_column(db, c->table, c->column, why, len);
    if (has != 0)
        return has > 0 ? 0 : -1;
    if (sqlite3_exec(db, c->alter, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, len, "cannot add column %s: %s", c->column, sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* 1 when column c, which step `added` adds, holds a value in a log that
 * claims version `claims`, saying so in why; 0 when it does not (or is
 * not there); -1 with why. */
static int s_column_written(sqlite3 *db, int claims, int added, const column_t *c, char *why,
                            size_t len)
{
    sqlite3_stmt *st = NULL;
    char sql[128];
    int has = s_has_column(db, c->table, c->column, why, len);
    if (has <= 0)
        return has;
    snprintf(sql, sizeof sql, "SELECT 1 FROM %s WHERE %s IS NOT NULL LIMIT 1", c->table, c->column);
    int rc =
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK ? sqlite3_step(st) : SQLITE_ERROR;
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (rc != SQLITE_ROW) {
        snprintf(why, len, "cannot read column %s: %s", c->column, sqlite3_errmsg(db));
        return -1;
    }
    snprintf(why, len,
             "the log claims version %d, but its %s.%s holds a value, which only a log of "
             "version %d or later writes: the file was passed off as an older version, and "
             "bringing it up would take it for what it claims%s; it is left as it is",
             claims, c->table, c->column, added,
             claims < 2 ? " (its checkpoints bound to keys only after its last entry)" : "");
    return 1;
}

/* Refuses to apply step `step` to a log holding a value in a column that
 * this step or a later one adds (the anchor's signing key, a checkpoint's
 * countersignature). Each such column is added in the transaction that
 * sets user_version to its step (s_migrate_step), so only a log that was
 * at that version wrote the value: one that claims less had its version
 * lowered, and keys_named dropped with it (a log passed off as version 1,
 * docs/ARCHITECTURE.md "Audit log", "Keys and entries"). Brought up, it
 * would bind keys only after its last entry, and the evidence would be
 * gone. Step 1's columns are not read: a log from before versioning
 * (user_version 0) holds them. 0, or -1 with why. */
static int s_later_written(sqlite3 *db, int step, char *why, size_t len)
{
    for (int added = step < 2 ? 2 : step; added <= AUDIT_VERSION; added++)
        for (int i = 0; i < STEP_COLUMNS && s_steps[added - 1].add[i].table; i++)
            if (s_column_written(db, step - 1, added, &s_steps[added - 1].add[i], why, len) != 0)
                return -1;
    return 0;
}

/* Applies step `step` (1-based) and sets user_version in the same
 * transaction, so that an upgrade cut short (killed, a full disk) leaves
 * the log as it was: all of the step or none. A log passed off as an
 * older version is refused first, in the same transaction
 * (s_later_written). */
static int s_migrate_step(sqlite3 *db, int step, char *why, size_t len)
{
    const step_t *s = &s_steps[step - 1];
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d; COMMIT;", step);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, len, "step %d: %s", step, sqlite3_errmsg(db));
        goto fail;
    }
    if (s_later_written(db, step, why, len) != 0)
        goto fail;
    if (s->sql && sqlite3_exec(db, s->sql, NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, len, "step %d: %s", step, sqlite3_errmsg(db));
        goto fail;
    }
    for (int i = 0; i < STEP_COLUMNS && s->add[i].table; i++)
        if (s_add_column(db, &s->add[i], why, len) != 0)
            goto fail;
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    snprintf(why, len, "step %d: cannot commit: %s", step, sqlite3_errmsg(db));
fail:
    /* A failed COMMIT may leave the transaction open (SQLITE_BUSY). */
    if (!sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Brings the log at path to version upto (AUDIT_VERSION but for the
 * references of lt_audit_schema_check), or refuses one a newer binary
 * wrote, which this one cannot write safely. A log already there is only
 * read. 0, or -1 with why. */
static int s_migrate_to(sqlite3 *db, const char *path, int upto, char *why, size_t len)
{
    int from = 0;
    int rc = lt_sqlopen_migrate(db, upto, s_migrate_step, "version", &from, why, len);
    if (rc == LT_SQLOPEN_NEWER) {
        size_t n = strlen(why);
        snprintf(why + n, len - n,
                 ": upgrade lienthong to open it, or move it aside and restore the backup "
                 "taken before the upgrade (docs/operations.md, \"Upgrading\")");
    }
    if (rc != 0)
        return -1;
    if (from >= 0 && from < upto)
        lt_info("audit", "audit log %s brought from version %d to %d", path, from, upto);
    return 0;
}

static int s_migrate(sqlite3 *db, const char *path, char *why, size_t len)
{
    return s_migrate_to(db, path, AUDIT_VERSION, why, len);
}

/* The layout version of db, a log from outside (a backup's, an exported
 * segment): 0, or -1 with err when it cannot be read or is newer than this
 * binary's, which would be refused at start (s_migrate). */
static int s_version(sqlite3 *db, int *version, char *err, size_t errlen)
{
    if (lt_sqlopen_user_version(db, version) != 0) {
        snprintf(err, errlen, "cannot read its version: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (*version < 0 || *version > AUDIT_VERSION) {
        snprintf(err, errlen, "audit log version %d is newer than this lienthong supports (%d)",
                 *version, AUDIT_VERSION);
        return -1;
    }
    return 0;
}

int lt_audit_version(void)
{
    return AUDIT_VERSION;
}

const char *lt_audit_step_sql(int step)
{
    if (step < 1 || step > AUDIT_VERSION)
        return NULL;
    const step_t *s = &s_steps[step - 1];
    return s->sql ? s->sql : s->add[0].alter;
}

/* The objects an audit log from before the application and officer
 * columns has: its table, those two columns added by step 1
 * (s_migrate_step), and its index by subject, dropped once the subject
 * blocks are built (s_subjects_open). */
#define S_AUDIT_BEFORE                                                                             \
    "CREATE TABLE audit (seq INTEGER PRIMARY KEY, at_ms INTEGER NOT NULL,"                         \
    "  event TEXT, peer TEXT, target TEXT, subject TEXT, fields TEXT, purpose TEXT,"               \
    "  case_ref TEXT, detail TEXT, hash BLOB NOT NULL);"                                           \
    "ALTER TABLE audit ADD COLUMN application TEXT;"
static const char *s_schema_before = S_AUDIT_BEFORE "ALTER TABLE audit ADD COLUMN officer TEXT;"
                                                    "CREATE INDEX audit_subject ON audit(subject);";
/* The same with only the first column: what an earlier version left when
 * it stopped between the two (step 1 finishes it). */
static const char *s_schema_half = S_AUDIT_BEFORE "CREATE INDEX audit_subject ON audit(subject);";

/* A database in memory holding the objects of schema, or of a log of
 * version upto when schema is NULL; NULL on failure. */
static sqlite3 *s_schema_db(const char *schema, int upto)
{
    sqlite3 *db = NULL;
    char why[256];
    if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        (schema ? sqlite3_exec(db, schema, NULL, NULL, NULL) != SQLITE_OK
                : s_migrate_to(db, ":memory:", upto, why, sizeof why) != 0)) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

int lt_audit_schema_check(sqlite3 *db, char *err, size_t errlen)
{
    char what[160];
    int version = 0;
    if (s_version(db, &version, err, errlen) != 0)
        return -1;
    /* Each version's objects: a log of an earlier one (step 2 adds a
     * column to the anchor, which changes its text) is restored as it is
     * and brought up at start. */
    sqlite3 *refs[AUDIT_VERSION + 2];
    size_t n = 0;
    for (int v = AUDIT_VERSION; v >= 1; v--)
        refs[n++] = s_schema_db(NULL, v);
    refs[n++] = s_schema_db(s_schema_before, 0);
    refs[n++] = s_schema_db(s_schema_half, 0);
    int rc = -1, built = 1;
    for (size_t i = 0; i < n; i++)
        built = built && refs[i];
    if (!built)
        snprintf(err, errlen, "cannot build an audit log's schema to compare with");
    else
        rc = lt_sqlopen_schema_diff(db, refs, n, 0, what, sizeof what, err, errlen);
    if (rc == LT_SQLOPEN_SCHEMA_FOREIGN)
        snprintf(err, errlen,
                 "its schema holds %s, which is not an audit log's as it is: the gateway writes "
                 "to a restored log, so a file with other objects is refused",
                 what);
    for (size_t i = 0; i < n; i++)
        sqlite3_close(refs[i]);
    return rc == 0 ? 0 : -1;
}

static void s_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

#define POINT_BYTES (8 + LT_HASH_BYTES)

/* What a checkpoint's signature covers, under AUDIT_DOMAIN, and a
 * switch's countersignature, under SWITCH_DOMAIN: seq (big-endian) || the
 * chain hash at it (docs/ARCHITECTURE.md, "Audit log"). */
static void s_point_msg(uint64_t seq, const uint8_t hash[LT_HASH_BYTES], uint8_t msg[POINT_BYTES])
{
    s_be64(msg, seq);
    memcpy(msg + 8, hash, LT_HASH_BYTES);
}

/* 1 when sig is pk's signature under domain of the checkpoint (seq, hash). */
static int s_point_signed(const uint8_t *pk, const char *domain, uint64_t seq,
                          const uint8_t hash[LT_HASH_BYTES], const void *sig)
{
    uint8_t msg[POINT_BYTES];
    s_point_msg(seq, hash, msg);
    return lt_keys_verify(pk, domain, msg, sizeof msg, sig) == 0;
}

/* hash = H(prev || seq || at_ms || each text as u32be length + bytes); the
 * texts are the first N_BASE, plus application and officer when either is
 * non-empty (logs written before they existed still verify). Hashed piece
 * by piece, with no copy of the entry. */
static void s_chain(const uint8_t prev[LT_HASH_BYTES], uint64_t seq, int64_t at_ms,
                    const char *const text[N_TEXT], uint8_t out[LT_HASH_BYTES])
{
    uint8_t hdr[LT_HASH_BYTES + 16];
    memcpy(hdr, prev, LT_HASH_BYTES);
    s_be64(hdr + LT_HASH_BYTES, seq);
    s_be64(hdr + LT_HASH_BYTES + 8, (uint64_t)at_ms);
    /* The header, then each text's length and bytes: 1 + 2 * N_TEXT parts. */
    const uint8_t *part[1 + 2 * N_TEXT] = {hdr};
    size_t len[1 + 2 * N_TEXT] = {sizeof hdr}, k = 1;
    uint8_t be[N_TEXT][4];
    int n = (text[8] && text[8][0]) || (text[9] && text[9][0]) ? N_TEXT : N_BASE;
    for (int i = 0; i < n; i++) {
        const char *t = text[i] ? text[i] : "";
        uint32_t l = (uint32_t)strlen(t);
        be[i][0] = (uint8_t)(l >> 24), be[i][1] = (uint8_t)(l >> 16);
        be[i][2] = (uint8_t)(l >> 8), be[i][3] = (uint8_t)l;
        part[k] = be[i], len[k++] = 4;
        part[k] = (const uint8_t *)t, len[k++] = l;
    }
    lt_crypto_hashv(part, len, k, out);
}

/* The chain head: the last entry, or the anchor when every entry was
 * exported. */
static int s_load_head(lt_audit_t *self)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT seq, hash FROM audit UNION ALL "
                           "SELECT seq, hash FROM anchor ORDER BY 1 DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_bytes(st, 1) == LT_HASH_BYTES) {
        self->seq = (uint64_t)sqlite3_column_int64(st, 0);
        memcpy(self->head, sqlite3_column_blob(st, 1), LT_HASH_BYTES);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* Runs a prepared statement without results: 0, or -1. */
static int s_step(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Indexes by subject the full blocks after self->indexed, at most n of
 * them and none past seq, inside the caller's transaction: sorted by block,
 * subject and seq, so that the rows append at the end of subject_blocks.
 * Block k holds entries k * block + 1 .. (k + 1) * block; entries without
 * a subject (feeds, refused handshakes) are not indexed. Sets *to to the
 * last entry indexed then. 0, or -1. */
static int s_index(lt_audit_t *self, uint64_t seq, uint64_t n, uint64_t *to)
{
    *to = self->indexed;
    if (!self->block)
        return 0; /* the index could not be set up (s_subjects_open) */
    uint64_t full = seq - seq % self->block, most = self->indexed + n * self->block;
    if (full <= self->indexed)
        return 0;
    uint64_t upto = full < most ? full : most;
    sqlite3_stmt *st = self->index;
    sqlite3_bind_int64(st, 1, (int64_t)self->indexed);
    sqlite3_bind_int64(st, 2, (int64_t)upto);
    sqlite3_bind_int64(st, 3, (int64_t)self->block);
    if (s_step(st) != 0)
        return -1;
    sqlite3_bind_int64(self->set_indexed, 1, (int64_t)upto);
    if (s_step(self->set_indexed) != 0)
        return -1;
    *to = upto;
    return 0;
}

/* Reads the index's block size and extent into self: 1 when found, 0 when
 * the log has no index row, 2 when the row is damaged (a block size that is
 * not a positive integer, an extent past the last entry: only an edit of
 * the file makes one), -1 on error. */
static int s_read_indexed(lt_audit_t *self, int *old_index)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT block_size, upto, EXISTS (SELECT 1 FROM sqlite_master "
                           "WHERE name = 'audit_subject'), typeof(block_size) = 'integer' AND "
                           "block_size > 0 AND typeof(upto) = 'integer' AND upto BETWEEN 0 AND ?1 "
                           "FROM subject_indexed",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, (int64_t)self->seq);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        self->block = (uint64_t)sqlite3_column_int64(st, 0);
        self->indexed = (uint64_t)sqlite3_column_int64(st, 1);
        *old_index = sqlite3_column_int(st, 2);
        rc = sqlite3_column_int(st, 3) ? 1 : 2;
    } else if (step == SQLITE_DONE) {
        rc = 0;
    }
    sqlite3_finalize(st);
    if (rc == 2)
        self->block = self->indexed = 0;
    return rc;
}

/* Sets up the subject index: a log without its row (new, or written with
 * the older per-entry index, which goes) gets one, and the per-entry index
 * goes at every open where it is found, whatever the log's version: a
 * release from before audit log versions, started on the log after a
 * rollback, creates it again (docs/operations.md, "Upgrading"), and it
 * would cost a B-tree insert per entry for nothing. Then the full blocks not
 * yet indexed are indexed, SUBJECT_CATCHUP_BLOCKS per transaction (a log
 * written before the index existed: once). A failure here does not stop
 * the gateway: the index stays behind (the report scans what it lacks)
 * and later commits go on with it; when even its row cannot be written,
 * nothing is indexed this run. The reason is logged either way. */
/* The subject index's row (written when missing or damaged, with the
 * per-entry index dropped) and the statements that fill it. 0, or -1 with
 * the reason in the connection's error. */
static int s_subjects_setup(lt_audit_t *self)
{
    char sql[320];
    int old_index = 0, found = s_read_indexed(self, &old_index);
    /* The index is derived from the entries: a damaged one is made again. */
    snprintf(
        sql, sizeof sql,
        "BEGIN IMMEDIATE; DROP INDEX IF EXISTS audit_subject;%s"
        "INSERT OR IGNORE INTO subject_indexed SELECT 1, %d, COALESCE(MAX(seq), 0) FROM anchor;"
        "COMMIT;",
        found == 2 ? "DELETE FROM subject_blocks; DELETE FROM subject_indexed;" : "",
        SUBJECT_BLOCK);
    if (found == 2)
        lt_warn("audit", "the audit log's subject index is damaged (its extent or block size was "
                         "changed outside the gateway): indexing every entry again");
    if ((found != 1 || old_index) && (sqlite3_exec(self->db, sql, NULL, NULL, NULL) != SQLITE_OK ||
                                      s_read_indexed(self, &old_index) != 1))
        return -1;
    if (sqlite3_prepare_v2(self->db,
                           "INSERT OR IGNORE INTO subject_blocks SELECT (seq - 1) / ?3,"
                           " subject, seq FROM audit WHERE seq > ?1 AND seq <= ?2 AND subject <> ''"
                           " ORDER BY 1, 2, 3",
                           -1, &self->index, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, "UPDATE subject_indexed SET upto = ?1", -1, &self->set_indexed,
                           NULL) != SQLITE_OK)
        return -1;
    return 0;
}

/* Indexes the full blocks not yet indexed, SUBJECT_CATCHUP_BLOCKS per
 * transaction; on a failure, stops there and says so once. */
static void s_subjects_catch_up(lt_audit_t *self)
{
    char why[256] = "";
    uint64_t full = self->seq - self->seq % self->block;
    if (full > self->indexed && full - self->indexed >= SUBJECT_CATCHUP_SAY)
        lt_info("audit", "indexing audit entries %llu..%llu by subject",
                (unsigned long long)self->indexed + 1, (unsigned long long)full);
    uint64_t to;
    while (full > self->indexed) {
        if (s_step(self->begin) != 0 ||
            s_index(self, self->seq, SUBJECT_CATCHUP_BLOCKS, &to) != 0 ||
            s_step(self->commit) != 0) {
            snprintf(why, sizeof why, "%s", sqlite3_errmsg(self->db));
            if (!sqlite3_get_autocommit(self->db))
                (void)s_step(self->rollback);
            lt_warn("audit",
                    "cannot index the audit log by subject past entry %llu: %s; later "
                    "commits go on with it (audit --subject scans what is not indexed)",
                    (unsigned long long)self->indexed, why);
            self->index_failing = 1; /* said: the commits say it again once it worked */
            return;
        }
        self->indexed = to;
    }
}

static void s_subjects_open(lt_audit_t *self)
{
    char why[256] = "";
    if (s_subjects_setup(self) != 0)
        goto fail;
    s_subjects_catch_up(self);
    return;
fail:
    snprintf(why, sizeof why, "%s", sqlite3_errmsg(self->db));
    if (!sqlite3_get_autocommit(self->db))
        (void)s_step(self->rollback);
    self->block = 0;
    lt_warn("audit",
            "cannot set up the audit log's subject index: %s; entries are not indexed "
            "until the next start (audit --subject scans them)",
            why);
}

/* 1 when the last entry of the log is a keys-switched entry naming keys'
 * signing key as the next one: its checkpoint is the previous key's
 * (lt_audit_switch_keys, written as the gateway stopped). */
static int s_ends_with_switch(lt_audit_t *self)
{
    sqlite3_stmt *st = NULL;
    char z[LT_Z85_KEY_LEN + 1];
    int yes = 0;
    lt_keys_z85_encode(lt_keys_signing_public(self->keys), z);
    if (sqlite3_prepare_v2(self->db,
                           "SELECT event = 'keys-switched' AND target = ?1 FROM audit "
                           "ORDER BY seq DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return 0;
    sqlite3_bind_text(st, 1, z, -1, SQLITE_STATIC);
    yes = sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return yes;
}

/* Warns when the newest checkpoint is not signed by keys, unless the log
 * ends with the switch to them: the keys were put in place while the
 * gateway was stopped without `keys promote --config`, so no keys-switched
 * entry signed by the previous key records the switch, and once the log
 * binds keys to entries the checkpoints that follow do not verify
 * (docs/operations.md, "Rotating keys"). */
static void s_warn_unswitched(lt_audit_t *self, const char *path)
{
    sqlite3_stmt *st = NULL;
    if (!self->keys || s_ends_with_switch(self)) /* read or upgraded only; switched */
        return;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT seq, hash, signature FROM checkpoints ORDER BY seq "
                           "DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 1) == LT_HASH_BYTES &&
        sqlite3_column_bytes(st, 2) == LT_SIG_BYTES) {
        if (!s_point_signed(lt_keys_signing_public(self->keys), AUDIT_DOMAIN,
                            (uint64_t)sqlite3_column_int64(st, 0), sqlite3_column_blob(st, 1),
                            sqlite3_column_blob(st, 2)))
            lt_warn("audit",
                    "the newest checkpoint of %s (entry %lld) is not signed by this "
                    "gateway's signing key, nor does the log end with the switch to it: keys put "
                    "in place while the gateway was stopped, other than by `keys promote "
                    "--config`, leave no keys-switched entry signed by the previous key, and "
                    "`audit --verify` may refuse the entries that follow (docs/operations.md, "
                    "\"Rotating keys\")",
                    path, (long long)sqlite3_column_int64(st, 0));
    }
    sqlite3_finalize(st);
}

lt_audit_t *lt_audit_open(const char *path, const lt_keys_t *keys, char *err, size_t errlen)
{
    lt_audit_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->keys = keys;
    self->last_flush = lt_clock_mono_ms();
    char why[256] = "";
    if (sqlite3_open_v2(path, &self->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(self->db, 5000) != SQLITE_OK ||
        sqlite3_exec(self->db, s_pragmas, NULL, NULL, NULL) != SQLITE_OK ||
        s_migrate(self->db, path, why, sizeof why) != 0 ||
        sqlite3_prepare_v2(self->db,
                           "INSERT INTO audit (seq, at_ms, event, peer, target, subject, fields, "
                           "purpose, case_ref, detail, application, officer, hash) "
                           "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13)",
                           -1, &self->insert, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db,
                           "INSERT OR REPLACE INTO checkpoints (seq, hash, signature, at_ms, "
                           "countersignature) VALUES (?1,?2,?3,?4,?5)",
                           -1, &self->checkpoint, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, "BEGIN IMMEDIATE", -1, &self->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, "COMMIT", -1, &self->commit, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, "ROLLBACK", -1, &self->rollback, NULL) != SQLITE_OK ||
        s_load_head(self) != 0) {
        snprintf(err, errlen, "audit log %s: %s", path, why[0] ? why : sqlite3_errmsg(self->db));
        lt_audit_destroy(&self);
        return NULL;
    }
    s_subjects_open(self);
    s_warn_unswitched(self, path);
    return self;
}

int lt_audit_upgrade(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    char why[256];
    if (s_migrate(db, path, why, sizeof why) == 0)
        return 0;
    snprintf(err, errlen, "%s: %s", path, why);
    return -1;
}

int lt_audit_create(const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK)
        snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot create");
    else
        rc = lt_audit_upgrade(db, path, err, errlen);
    sqlite3_close(db);
    return rc;
}

static void s_free_buffered(lt_audit_t *self)
{
    for (size_t i = 0; i < self->n; i++)
        free(self->buf[i].text[0]);
    self->n = 0;
}

void lt_audit_destroy(lt_audit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_audit_t *self = *self_p;
    if (self->db && self->insert)
        (void)lt_audit_flush(self, 1);
    s_free_buffered(self);
    free(self->buf);
    sqlite3_finalize(self->insert);
    sqlite3_finalize(self->checkpoint);
    sqlite3_finalize(self->begin);
    sqlite3_finalize(self->commit);
    sqlite3_finalize(self->rollback);
    sqlite3_finalize(self->index);
    sqlite3_finalize(self->set_indexed);
    sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

void lt_audit_set_clock(lt_audit_t *self, int64_t (*now_ms)(void *arg), void *arg)
{
    self->now_ms = now_ms;
    self->now_arg = arg;
}

/* The wall clock of entry and checkpoint times. */
static int64_t s_now(const lt_audit_t *self)
{
    return self->now_ms ? self->now_ms(self->now_arg) : lt_clock_now_ms();
}

int lt_audit_set_stats(lt_audit_t *self, lt_stats_t *stats)
{
    static const lt_stats_def_t entries = {.name = "lienthong_audit_entries",
                                           .help = "Entries written (committed) to the audit log",
                                           .kind = LT_STATS_COUNTER};
    static const lt_stats_def_t writable = {
        .name = "lienthong_audit_writable",
        .help = "1 while the audit log can be written; 0 while it cannot, and lookups and "
                "verifies are refused",
        .kind = LT_STATS_GAUGE};
    /* The entry counter starts at 0 with each process; the last seq goes
     * on across restarts and exports, so an entry cut off the log's tail
     * shows as a last entry below it (docs/operations.md, "Monitoring"). */
    static const lt_stats_def_t last_seq = {
        .name = "lienthong_audit_last_seq",
        .help = "Sequence number of the last entry committed to the audit log",
        .unit = LT_STATS_UNIT_NONE,
        .kind = LT_STATS_GAUGE};
    self->st_entries = lt_gwstats_series(stats, &entries, NULL);
    self->st_commit = lt_gwstats_commit(stats, "audit");
    self->st_writable = lt_gwstats_series(stats, &writable, NULL);
    self->st_last_seq = lt_gwstats_series(stats, &last_seq, NULL);
    if (!self->st_entries || !self->st_commit || !self->st_writable || !self->st_last_seq)
        return -1;
    lt_stats_set(self->st_writable, !self->failing_since);
    lt_stats_set(self->st_last_seq, (int64_t)self->seq);
    return 0;
}

/* Counts a committed flush of n entries that started at t0 (us). */
static void s_count(lt_audit_t *self, size_t n, int64_t t0)
{
    if (!self->st_entries)
        return; /* a log opened without statistics (tools, tests) */
    lt_stats_add(self->st_entries, n);
    lt_stats_set(self->st_last_seq, (int64_t)self->seq);
    lt_stats_observe_us(self->st_commit, lt_gwstats_since_us(t0));
}

/* Copies the texts of an entry into one allocation that b->text[0] starts,
 * each made valid UTF-8: the log is read as text (audit --json), whatever a
 * module passes (PROTOCOL.md 4.5). -1 when out of memory. */
static int s_pack(buffered_t *b, const char *const src[N_TEXT])
{
    size_t len[N_TEXT], total = 0;
    for (int t = 0; t < N_TEXT; t++)
        total += (len[t] = src[t] ? strlen(src[t]) : 0) + 1;
    char *p = malloc(total);
    if (!p)
        return -1;
    for (int t = 0; t < N_TEXT; t++) {
        b->text[t] = p;
        if (len[t])
            memcpy(p, src[t], len[t]);
        p[len[t]] = 0;
        lt_valid_sanitise(p);
        p += len[t] + 1;
    }
    return 0;
}

/* An entry that cannot be buffered is not dropped quietly: the next commit
 * fails closed (s_commit), so the answers it was for are refused. */
static void s_add_failed(lt_audit_t *self, const char *event)
{
    self->add_failed++;
    lt_error("audit", "out of memory: the entry for %s could not be buffered", event);
}

void lt_audit_add(lt_audit_t *self, const lt_audit_entry_t *e)
{
    if (!self)
        return;
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 256;
        buffered_t *nb = realloc(self->buf, cap * sizeof *nb);
        if (!nb) {
            s_add_failed(self, e->event);
            return;
        }
        self->buf = nb;
        self->cap = cap;
    }
    const char *src[N_TEXT] = {e->event,   e->peer,     e->target, e->subject,     e->fields,
                               e->purpose, e->case_ref, e->detail, e->application, e->officer};
    buffered_t *b = &self->buf[self->n];
    b->at_ms = s_now(self);
    if (s_pack(b, src) != 0) {
        s_add_failed(self, e->event);
        return;
    }
    self->n++;
    if (self->n >= FLUSH_ENTRIES)
        (void)lt_audit_flush(self, 1);
}

static int s_insert(lt_audit_t *self, const buffered_t *b, uint64_t seq, const uint8_t *hash)
{
    sqlite3_stmt *st = self->insert;
    sqlite3_bind_int64(st, 1, (int64_t)seq);
    sqlite3_bind_int64(st, 2, b->at_ms);
    for (int t = 0; t < N_TEXT; t++)
        sqlite3_bind_text(st, 3 + t, b->text[t], -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 13, hash, LT_HASH_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int s_checkpoint(lt_audit_t *self, uint64_t seq, const uint8_t *hash)
{
    uint8_t msg[POINT_BYTES], sig[LT_SIG_BYTES], counter[LT_SIG_BYTES];
    s_point_msg(seq, hash, msg);
    if (lt_keys_sign(self->keys, AUDIT_DOMAIN, msg, sizeof msg, sig) != 0 ||
        (self->cosign && lt_keys_sign(self->cosign, SWITCH_DOMAIN, msg, sizeof msg, counter) != 0))
        return -1;
    sqlite3_stmt *st = self->checkpoint;
    sqlite3_bind_int64(st, 1, (int64_t)seq);
    sqlite3_bind_blob(st, 2, hash, LT_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, sig, LT_SIG_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, s_now(self));
    if (self->cosign)
        sqlite3_bind_blob(st, 5, counter, LT_SIG_BYTES, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, 5);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Indexes, inside a commit of entries, the blocks they fill and one more
 * of any left behind. Indexing that fails is undone alone (a savepoint) and
 * logged, once until it works again: the entries still commit, and the
 * report scans what is not indexed. Returns the extent after the commit. */
static uint64_t s_index_in_commit(lt_audit_t *self, uint64_t seq)
{
    uint64_t to = self->indexed;
    if (!self->block || seq - seq % self->block <= self->indexed)
        return to;
    if (sqlite3_exec(self->db, "SAVEPOINT subjects", NULL, NULL, NULL) == SQLITE_OK &&
        s_index(self, seq, (self->n + 1) / self->block + 2, &to) == 0 &&
        sqlite3_exec(self->db, "RELEASE subjects", NULL, NULL, NULL) == SQLITE_OK) {
        self->index_failing = 0;
        return to;
    }
    char why[256];
    snprintf(why, sizeof why, "%s", sqlite3_errmsg(self->db));
    (void)sqlite3_exec(self->db, "ROLLBACK TO subjects; RELEASE subjects", NULL, NULL, NULL);
    if (!self->index_failing)
        lt_warn("audit",
                "cannot index the audit log by subject past entry %llu: %s; the entries "
                "are written, and audit --subject scans what is not indexed",
                (unsigned long long)self->indexed, why);
    self->index_failing = 1;
    return self->indexed;
}

/* Writes first (may be NULL) and the buffered entries in one transaction
 * with a signed checkpoint at the new head; one fsync (synchronous = FULL). */
static int s_write(lt_audit_t *self, buffered_t *first)
{
    int64_t t0 = lt_clock_mono_us();
    uint64_t seq = self->seq;
    uint8_t head[LT_HASH_BYTES];
    memcpy(head, self->head, LT_HASH_BYTES);
    if (self->add_failed) {
        snprintf(self->why, sizeof self->why, "out of memory: %llu entries could not be buffered",
                 (unsigned long long)self->add_failed);
        return -1;
    }
    if (s_step(self->begin) != 0)
        goto fail;
    for (size_t i = first ? 0 : 1; i <= self->n; i++) {
        buffered_t *b = i ? &self->buf[i - 1] : first;
        s_chain(head, ++seq, b->at_ms, (const char *const *)b->text, head);
        if (s_insert(self, b, seq, head) != 0)
            goto fail;
    }
    uint64_t to = s_index_in_commit(self, seq);
    if (s_checkpoint(self, seq, head) != 0 || s_step(self->commit) != 0)
        goto fail;
    self->indexed = to;
    self->seq = seq;
    memcpy(self->head, head, LT_HASH_BYTES);
    s_count(self, self->n + !!first, t0);
    s_free_buffered(self);
    return 0;
fail:
    snprintf(self->why, sizeof self->why, "%s", sqlite3_errmsg(self->db));
    if (!sqlite3_get_autocommit(self->db))
        (void)s_step(self->rollback);
    return -1;
}

/* The log cannot be written: nothing is kept only in memory, so the
 * buffered entries are dropped and counted; the entry that ends the outage
 * records how many. Reported at once, then at most once a minute. */
static void s_failed(lt_audit_t *self)
{
    int64_t now = lt_clock_mono_ms();
    if (self->n + self->add_failed > 0)
        self->drops++;
    self->lost += self->n + self->add_failed;
    self->add_failed = 0;
    s_free_buffered(self);
    self->next_try = now + RETRY_MS;
    if (!self->failing_since) {
        self->failing_since = lt_clock_now_ms();
        self->logged_at = now;
        if (self->st_writable)
            lt_stats_set(self->st_writable, 0);
        lt_error("audit",
                 "cannot write the audit log: %s; lookups and verifies are refused "
                 "until it can be written again",
                 self->why);
    } else if (now - self->logged_at >= LOG_AGAIN_MS) {
        self->logged_at = now;
        lt_error("audit",
                 "the audit log still cannot be written: %s (%llu entries not written, "
                 "%llu requests refused so far)",
                 self->why, (unsigned long long)self->lost, (unsigned long long)self->refused);
    }
}

/* The entry that ends an outage: when, why, and what it cost. */
static int s_outage_entry(lt_audit_t *self, buffered_t *b)
{
    char detail[512];
    snprintf(detail, sizeof detail,
             "the audit log could not be written for %lld ms (%s): %llu "
             "entries not written, %llu lookup or verify requests refused, none answered",
             (long long)(lt_clock_now_ms() - self->failing_since), self->why,
             (unsigned long long)self->lost, (unsigned long long)self->refused);
    const char *src[N_TEXT] = {"audit-outage", "local", NULL, NULL, NULL, NULL, NULL, detail};
    memset(b, 0, sizeof *b);
    b->at_ms = s_now(self);
    return s_pack(b, src);
}

/* Commits the buffer; while failing, with the outage entry first. */
static int s_commit(lt_audit_t *self)
{
    buffered_t outage;
    uint64_t outage_seq = self->seq + 1;
    int rc;
    if (!self->failing_since)
        rc = s_write(self, NULL);
    else if (s_outage_entry(self, &outage) == 0)
        rc = s_write(self, &outage);
    else
        rc = -1, snprintf(self->why, sizeof self->why, "out of memory");
    if (self->failing_since)
        free(outage.text[0]);
    self->last_flush = lt_clock_mono_ms();
    if (rc != 0) {
        s_failed(self);
        return -1;
    }
    if (self->failing_since) {
        lt_info("audit",
                "the audit log can be written again after %lld ms; %llu entries were not "
                "written and %llu requests refused meanwhile (entry %llu says so)",
                (long long)(lt_clock_now_ms() - self->failing_since),
                (unsigned long long)self->lost, (unsigned long long)self->refused,
                (unsigned long long)outage_seq);
        self->failing_since = 0;
        self->lost = self->refused = 0;
        if (self->st_writable)
            lt_stats_set(self->st_writable, 1);
    }
    return 0;
}

int lt_audit_flush(lt_audit_t *self, int force)
{
    if (!self)
        return 0;
    int64_t now = lt_clock_mono_ms();
    if (self->failing_since)
        return now >= self->next_try || force ? s_commit(self) : -1;
    if ((self->n == 0 && !self->add_failed) || (!force && now - self->last_flush < FLUSH_MS))
        return 0;
    return s_commit(self);
}

int lt_audit_commit(lt_audit_t *self)
{
    if (!self || (self->n == 0 && !self->add_failed && !self->failing_since))
        return 0;
    return s_commit(self);
}

int lt_audit_switch_keys(lt_audit_t *self, const char *member, const lt_keys_t *next,
                         const char *detail)
{
    char znext[LT_Z85_KEY_LEN + 1], zprev[LT_Z85_KEY_LEN + 1];
    if (!self)
        return 0;
    lt_keys_z85_encode(lt_keys_signing_public(next), znext);
    lt_keys_z85_encode(lt_keys_signing_public(self->keys), zprev);
    uint64_t drops = self->drops;
    /* The entries buffered are committed first, under the keys in use
     * alone: adding the switch to a full buffer would flush it, the switch
     * with them, before the countersignature is set, and a failure after
     * that would leave a switch no next key countersigned. */
    if (lt_audit_commit(self) != 0 || self->drops != drops)
        return -1;
    lt_audit_add(self, &(lt_audit_entry_t){.event = "keys-switched",
                                           .peer = member,
                                           .target = znext,
                                           .fields = zprev,
                                           .detail = detail});
    /* Committed now, alone, under the keys in use: the checkpoint at its
     * seq is the previous key's, and countersigned by next, which only
     * the holder of both can do. */
    self->cosign = next;
    int rc = s_commit(self);
    self->cosign = NULL;
    return rc == 0 && self->drops == drops ? 0 : -1;
}

int lt_audit_in_force(lt_audit_t *self, const uint8_t pk[LT_KEY_BYTES])
{
    sqlite3_stmt *st = NULL;
    uint8_t next[LT_KEY_BYTES];
    int rc = LT_AUDIT_UNREADABLE, step = SQLITE_ERROR;
    if (!self)
        return LT_AUDIT_UNREADABLE;
    if (sqlite3_prepare_v2(self->db,
                           "SELECT c.seq, c.hash, c.signature, a.event, a.target FROM "
                           "checkpoints c LEFT JOIN audit a ON a.seq = c.seq "
                           "ORDER BY c.seq DESC LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK ||
        (step = sqlite3_step(st)) != SQLITE_ROW) {
        if (step == SQLITE_DONE)
            rc = -1; /* no checkpoint */
        else
            lt_error("audit", "cannot read the last checkpoint of the audit log: %s",
                     sqlite3_errmsg(self->db));
        goto out;
    }
    if (sqlite3_column_bytes(st, 1) != LT_HASH_BYTES ||
        sqlite3_column_bytes(st, 2) != LT_SIG_BYTES) {
        lt_error("audit", "the last checkpoint of the audit log (seq %lld) is malformed",
                 (long long)sqlite3_column_int64(st, 0));
        goto out;
    }
    const char *event = (const char *)sqlite3_column_text(st, 3);
    const char *target = (const char *)sqlite3_column_text(st, 4);
    if (event && strcmp(event, "keys-switched") == 0 && target && target[0]) {
        /* The switch's checkpoint is the previous key's: the next one is
         * in force after it. */
        if (lt_keys_z85_decode(target, next) != 0) {
            lt_error("audit", "the keys-switched entry %lld names no key: \"%s\"",
                     (long long)sqlite3_column_int64(st, 0), target);
            goto out;
        }
        rc = memcmp(next, pk, LT_KEY_BYTES) == 0;
        goto out;
    }
    rc = s_point_signed(pk, AUDIT_DOMAIN, (uint64_t)sqlite3_column_int64(st, 0),
                        sqlite3_column_blob(st, 1), sqlite3_column_blob(st, 2));
out:
    sqlite3_finalize(st);
    return rc;
}

int lt_audit_synced(lt_audit_t *self)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (self && sqlite3_prepare_v2(self->db, "PRAGMA synchronous", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        rc = sqlite3_column_int(st, 0) >= 2; /* FULL is 2, EXTRA 3 */
    sqlite3_finalize(st);
    return rc;
}

uint64_t lt_audit_drops(const lt_audit_t *self)
{
    return self ? self->drops : 0;
}

int lt_audit_writable(const lt_audit_t *self, char *why, size_t len)
{
    if (!self || !self->failing_since)
        return 1;
    if (why)
        snprintf(why, len, "the audit log cannot be written: %s", self->why);
    return 0;
}

void lt_audit_refused(lt_audit_t *self)
{
    if (self)
        self->refused++;
}

void lt_audit_retention_check(lt_audit_t *self, int retention_days)
{
    sqlite3_stmt *st;
    if (!self || retention_days <= 0 ||
        /* The first entry, not the oldest-timed: an export takes entries
         * only up to the first one not older than the retention
         * (lt_auditarc), and one timed by a clock that ran behind would be
         * reported here for good. Entries timed after now, by a clock that
         * ran ahead, do not stop an export and are passed over here too. */
        sqlite3_prepare_v2(self->db,
                           "SELECT at_ms FROM audit WHERE seq > "
                           "(SELECT COALESCE(MAX(seq), 0) FROM anchor) AND at_ms <= ?1 "
                           "ORDER BY seq LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK)
        return;
    if (sqlite3_bind_int64(st, 1, lt_clock_now_ms() + LT_AUDIT_CLOCK_STEP_MS) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        int64_t days = (lt_clock_now_ms() - sqlite3_column_int64(st, 0)) / 86400000;
        if (days > retention_days)
            lt_warn("audit",
                    "the audit log holds entries %lld days old, beyond audit_retention_days "
                    "(%d): move them out with lienthong audit export (docs/operations.md)",
                    (long long)days, retention_days);
    }
    sqlite3_finalize(st);
}

/* The columns of a report, and the entries of a subject after the anchor:
 * through upto from the index (one seek per block, the blocks bounded by
 * the log's extent whatever rows the table holds), after it by a scan. A
 * row counts only in its own block and for its own entry's subject. */
#define REPORT_COLS "seq, at_ms, event, peer, target, subject, fields, purpose, case_ref, detail"
static const char *s_by_subject_sql =
    "WITH RECURSIVE an(after) AS (SELECT COALESCE(MAX(seq), 0) FROM anchor),"
    "  ix(size, upto, lo, hi) AS (SELECT block_size, upto,"
    "    MAX((SELECT MIN(block) FROM subject_blocks), (SELECT after FROM an) / block_size),"
    "    MIN((SELECT MAX(block) FROM subject_blocks), (upto - 1) / block_size,"
    "        ((SELECT MAX(seq) FROM audit) - 1) / block_size)"
    "  FROM subject_indexed),"
    "  b(n) AS (SELECT lo FROM ix UNION ALL SELECT n + 1 FROM b, ix WHERE n < ix.hi)"
    " SELECT a.seq, a.at_ms, a.event, a.peer, a.target, a.subject, a.fields, a.purpose,"
    "  a.case_ref, a.detail, a.application, a.officer"
    "  FROM b, ix, an JOIN subject_blocks s ON s.block = b.n AND s.subject = ?1"
    "  JOIN audit a ON a.seq = s.seq AND a.subject = ?1"
    "  WHERE s.seq > an.after AND s.seq <= ix.upto AND s.block = (s.seq - 1) / ix.size"
    " UNION ALL SELECT " REPORT_COLS ", application, officer FROM audit"
    "  WHERE seq > MAX(COALESCE((SELECT upto FROM ix), 0), (SELECT after FROM an))"
    "  AND subject = ?1"
    " ORDER BY 1";

int lt_audit_by_subject(sqlite3 *db, const char *subject, sqlite3_stmt **out)
{
    /* Logs no gateway has opened since the index (or since entries named
     * the application and officer) are read with a plain scan. */
    static const char *older[] = {
        "SELECT " REPORT_COLS ", application, officer FROM audit WHERE subject = ?1 ORDER BY seq",
        "SELECT " REPORT_COLS ", '', '' FROM audit WHERE subject = ?1 ORDER BY seq"};
    *out = NULL;
    if (sqlite3_prepare_v2(db, s_by_subject_sql, -1, out, NULL) != SQLITE_OK &&
        sqlite3_prepare_v2(db, older[0], -1, out, NULL) != SQLITE_OK &&
        sqlite3_prepare_v2(db, older[1], -1, out, NULL) != SQLITE_OK)
        return -1;
    /* Unbound (out of memory), the subject would be NULL and match no
     * entry: a report of no access, not an error. The error stays on db. */
    if (sqlite3_bind_text(*out, 1, subject, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        sqlite3_finalize(*out);
        *out = NULL;
        return -1;
    }
    return 0;
}

/* 1 when db has a table of that name, 0 when not, -1 on error. */
static int s_has_table(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
}

/* The subject index holds exactly the entries after the anchor through
 * its upto that have a subject, each once, in its block: the rows after the
 * anchor, the rows among them that match their entry (seq, subject, block,
 * at most upto) and the entries with a subject are as many, and a row
 * matches one entry only; so the report misses none and adds none. A file
 * without the index row (an exported segment) has nothing to check; rows at
 * or below the anchor (a removal cut short) are not read by the report.
 * 0, or -1 with err. */
static int s_check_subjects(sqlite3 *db, const lt_audit_report_t *rep, char *err, size_t errlen)
{
    static const char *sql =
        "SELECT (SELECT COUNT(*) FROM audit WHERE seq > ?1 AND seq <= ix.upto AND subject <> ''),"
        "  (SELECT COUNT(*) FROM subject_blocks s JOIN audit a ON a.seq = s.seq AND a.subject ="
        "    s.subject WHERE s.seq > ?1 AND s.seq <= ix.upto AND s.subject <> '' AND"
        "    s.block = (s.seq - 1) / ix.block_size),"
        "  (SELECT COUNT(*) FROM subject_blocks WHERE seq > ?1), ix.upto "
        "FROM subject_indexed ix";
    sqlite3_stmt *st = NULL;
    int rc = -1, has = s_has_table(db, "subject_indexed"), step;
    if (has == 0)
        return 0; /* a log no gateway has opened since the index existed */
    if (has < 0 || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "reading the subject index: %s", sqlite3_errmsg(db));
        return -1;
    }
    sqlite3_bind_int64(st, 1, (int64_t)rep->anchor);
    if ((step = sqlite3_step(st)) == SQLITE_DONE) {
        rc = 0; /* no index row: an exported segment */
    } else if (step != SQLITE_ROW) {
        snprintf(err, errlen, "reading the subject index: %s", sqlite3_errmsg(db));
    } else {
        int64_t entries = sqlite3_column_int64(st, 0), matched = sqlite3_column_int64(st, 1),
                rows = sqlite3_column_int64(st, 2);
        rc = entries == matched && rows == matched ? 0 : -1;
        if (sqlite3_column_int64(st, 3) > (int64_t)rep->last) {
            snprintf(err, errlen,
                     "the subject index claims entries through %lld, past the last "
                     "entry %llu: `audit --subject` would not show the entries after it",
                     (long long)sqlite3_column_int64(st, 3), (unsigned long long)rep->last);
            rc = -1;
        } else if (rc)
            snprintf(err, errlen,
                     "the subject index does not match the entries through %lld "
                     "(%lld with a subject, %lld rows, %lld of them right): `audit --subject` "
                     "would not show them as they are",
                     (long long)sqlite3_column_int64(st, 3), (long long)entries, (long long)rows,
                     (long long)matched);
    }
    sqlite3_finalize(st);
    return rc;
}

/* The key of pks[0..n) that sig over msg verifies under, or NULL. */
static const uint8_t *s_signed_by_any(const uint8_t *const *pks, size_t n, const uint8_t *msg,
                                      size_t len, const void *sig)
{
    for (size_t i = 0; i < n; i++)
        if (lt_keys_verify(pks[i], AUDIT_DOMAIN, msg, len, sig) == 0)
            return pks[i];
    return NULL;
}

/* "SELECT head, column FROM table tail" prepared, NULL in place of column
 * when the table lacks it (a log written before it, which no gateway has
 * opened since). NULL when it cannot be prepared. */
static sqlite3_stmt *s_prepare_with(sqlite3 *db, const char *head, const char *column,
                                    const char *table, const char *tail)
{
    char why[160], sql[160];
    sqlite3_stmt *st = NULL;
    int has = s_has_column(db, table, column, why, sizeof why) > 0;
    snprintf(sql, sizeof sql, "SELECT %s, %s FROM %s %s", head, has ? column : "NULL", table, tail);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return NULL;
    return st;
}

/* The statement s_check_point reads a checkpoint row with, prepared once
 * per check: hash, signature and countersignature, NULL in a log written
 * before switches were countersigned (none of its switches is). NULL when
 * it cannot be prepared: no checkpoint then verifies. */
static sqlite3_stmt *s_point_stmt(sqlite3 *db)
{
    return s_prepare_with(db, "hash, signature", "countersignature", "checkpoints",
                          "WHERE seq = ?1");
}

/* What a check that SQLite could not read says after SQLite's error: damage
 * or an I/O error, not a failed signature, which an operator looks for
 * elsewhere. */
#define S_UNREADABLE " (the file is damaged or could not be read: its checkpoints are not verified)"

/* Which signing key may sign the checkpoints of a log (docs/ARCHITECTURE.md,
 * "Audit log", "Keys and entries"). A log that names keys (version 2 on)
 * binds every checkpoint after entry `named` to the key in force: the key
 * its anchor records, else the key of its first checkpoint; it changes
 * only at a keys-switched entry that names keys. Through entry `named` (a
 * log written before, or a log of version 1 throughout) any of the
 * member's keys is accepted (`loose`) until the first keys-switched entry
 * that names keys, which must be signed by the key of the checkpoint
 * before it; from it on, only the key it names as the next one. */
typedef struct {
    const uint8_t *const *pks; /* the member's keys */
    size_t n_pks;
    sqlite3_stmt *point;       /* s_point_stmt */
    uint64_t named;            /* checkpoints after this entry are bound (UINT64_MAX: none) */
    const uint8_t *last;       /* before binding: the key of the last checkpoint */
    uint64_t last_seq;         /* and its entry */
    int bound;                 /* 1 once the key in force is known */
    uint64_t since;            /* the entry that made it so */
    uint8_t key[LT_KEY_BYTES]; /* the key in force when bound */
    uint64_t loose_first, loose_last; /* checkpoints accepted under any key (0: none) */
    char unread[200];                 /* why a checkpoint could not be read ("" when all were) */
} s_keys_t;

/* Checks one checkpoint row, read through ks->point (s_point_stmt): its
 * hash equals the chain at its seq, and it is signed under one of the keys:
 * the member's keys before the log binds them to entries, the key in force
 * after (s_key_in_force); when next is set, it is also countersigned by
 * next (a switch, lt_audit_switch_keys). *by (may be NULL) is set to the
 * key that signed it, NULL when seq has no checkpoint. A row SQLite cannot
 * read (a damaged page, an I/O error) fails it, saying why in ks->unread:
 * taken for "no checkpoint", its signature would go unchecked. */
static int s_check_point(s_keys_t *ks, const uint8_t *const *pks, size_t n_pks, uint64_t seq,
                         const uint8_t *hash, const uint8_t *next, const uint8_t **by)
{
    uint8_t msg[POINT_BYTES];
    const uint8_t *key = NULL;
    sqlite3_stmt *point = ks->point;
    int ok = 1, step; /* entries between checkpoints have none of their own */
    if (by)
        *by = NULL;
    if (!point)
        return 0;
    s_point_msg(seq, hash, msg);
    sqlite3_bind_int64(point, 1, (int64_t)seq);
    if ((step = sqlite3_step(point)) == SQLITE_ROW) {
        ok = sqlite3_column_bytes(point, 0) == LT_HASH_BYTES &&
             memcmp(sqlite3_column_blob(point, 0), hash, LT_HASH_BYTES) == 0 &&
             sqlite3_column_bytes(point, 1) == LT_SIG_BYTES &&
             (key = s_signed_by_any(pks, n_pks, msg, sizeof msg, sqlite3_column_blob(point, 1))) &&
             (!next || (sqlite3_column_bytes(point, 2) == LT_SIG_BYTES &&
                        lt_keys_verify(next, SWITCH_DOMAIN, msg, sizeof msg,
                                       sqlite3_column_blob(point, 2)) == 0));
        if (by)
            *by = key;
    } else if (step != SQLITE_DONE) {
        ok = 0;
        if (!ks->unread[0])
            snprintf(ks->unread, sizeof ks->unread, "cannot read the checkpoint of entry %llu: %s",
                     (unsigned long long)seq, sqlite3_errmsg(sqlite3_db_handle(point)));
    }
    sqlite3_reset(point);
    return ok;
}

/* 1 if pk is one of the member's keys. */
static int s_known_key(const s_keys_t *ks, const uint8_t *pk)
{
    for (size_t i = 0; i < ks->n_pks; i++)
        if (memcmp(ks->pks[i], pk, LT_KEY_BYTES) == 0)
            return 1;
    return 0;
}

/* From entry seq on, key is in force. */
static void s_bind(s_keys_t *ks, const uint8_t *key, uint64_t seq)
{
    memmove(ks->key, key, LT_KEY_BYTES);
    ks->bound = 1;
    ks->since = seq;
}

/* The checkpoint at seq was accepted under any of the member's keys. */
static void s_loose(s_keys_t *ks, uint64_t seq)
{
    if (!ks->loose_first)
        ks->loose_first = seq;
    ks->loose_last = seq;
}

/* The keys a keys-switched entry names (lt_audit_switch_keys): the next
 * signing key in target, the previous one in fields. 1 when it names
 * both, 0 when it names none (an entry written before entries named
 * them), -1 when what it names is not two keys. */
static int s_switch_names(const char *const text[N_TEXT], uint8_t next[LT_KEY_BYTES],
                          uint8_t prev[LT_KEY_BYTES])
{
    if (!text[0] || strcmp(text[0], "keys-switched") != 0)
        return 0;
    if ((!text[2] || !text[2][0]) && (!text[4] || !text[4][0]))
        return 0;
    return text[2] && text[4] && lt_keys_z85_decode(text[2], next) == 0 &&
                   lt_keys_z85_decode(text[4], prev) == 0
               ? 1
               : -1;
}

/* Why the checkpoint at seq fails under the key in force: the key that
 * did sign it, when one of the member's did, is named (an operator must
 * see a retired key at work), else the chain is broken there. */
static void s_unbound_why(s_keys_t *ks, uint64_t seq, const uint8_t *hash, char *err, size_t errlen)
{
    const uint8_t *by = NULL;
    char zby[LT_Z85_KEY_LEN + 1], zin[LT_Z85_KEY_LEN + 1];
    if (!s_check_point(ks, ks->pks, ks->n_pks, seq, hash, NULL, &by) || !by) {
        snprintf(err, errlen, "audit chain broken at entry %llu", (unsigned long long)seq);
        return;
    }
    lt_keys_z85_encode(by, zby);
    lt_keys_z85_encode(ks->key, zin);
    snprintf(err, errlen,
             "audit chain broken at entry %llu: its checkpoint is signed by key %s, not by %s, "
             "the key in force since entry %llu (a key no longer in force cannot sign later "
             "entries)",
             (unsigned long long)seq, zby, zin, (unsigned long long)ks->since);
}

/* Checks the checkpoint of entry seq (chain hash) under the key in force,
 * and moves the key in force at a keys-switched entry that names keys:
 * that entry must carry a checkpoint of its own under the previous key,
 * the key in force, countersigned by the next key, so that only the holder
 * of both can have written it (a retired key alone cannot end a log it
 * forged with a switch to the current key), and the next key must be one
 * of the member's. 0, or -1 with err. */
static int s_key_in_force(s_keys_t *ks, uint64_t seq, const uint8_t *hash,
                          const char *const text[N_TEXT], char *err, size_t errlen)
{
    uint8_t next[LT_KEY_BYTES], prev[LT_KEY_BYTES];
    const uint8_t *bound[1] = {ks->key}, *prevs[1] = {prev}, *by = NULL;
    int names = s_switch_names(text, next, prev);
    if (names < 0) {
        snprintf(err, errlen,
                 "audit entry %llu (keys-switched) names keys that are not two "
                 "Z85 signing keys",
                 (unsigned long long)seq);
        return -1;
    }
    /* Past the entries the log holds from before it named keys, the key
     * of the checkpoint before is the key in force. */
    if (!ks->bound && seq > ks->named && ks->last)
        s_bind(ks, ks->last, ks->last_seq);
    if (names == 0) {
        if (ks->bound ? s_check_point(ks, bound, 1, seq, hash, NULL, NULL)
                      : s_check_point(ks, ks->pks, ks->n_pks, seq, hash, NULL, &by)) {
            if (by) {
                ks->last = by;
                ks->last_seq = seq;
                if (seq > ks->named)
                    s_bind(ks, by, seq); /* the first checkpoint: its key is in force */
                else
                    s_loose(ks, seq);
            }
            return 0;
        }
        if (ks->bound)
            s_unbound_why(ks, seq, hash, err, errlen);
        else
            snprintf(err, errlen, "audit chain broken at entry %llu", (unsigned long long)seq);
        return -1;
    }
    const uint8_t *in_force = ks->bound ? ks->key : ks->last;
    if ((in_force ? memcmp(prev, in_force, LT_KEY_BYTES) != 0 : !s_known_key(ks, prev)) ||
        !s_known_key(ks, next) || !s_check_point(ks, prevs, 1, seq, hash, next, &by) || !by) {
        snprintf(err, errlen,
                 "audit entry %llu (keys-switched) is not authorised: it must be "
                 "signed by the key in force, which it names as the previous key, countersigned "
                 "by the next key, and name one of the member's keys as the next",
                 (unsigned long long)seq);
        return -1;
    }
    s_bind(ks, next, seq);
    return 0;
}

/* From which entry db binds checkpoints to keys (s_keys_t): the keys_named
 * row of a log of version 2 on, none before. 0, or -1 with err. */
static int s_named(sqlite3 *db, uint64_t *named, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int version = 0, rc = -1, step = SQLITE_ERROR;
    *named = UINT64_MAX;
    if (s_version(db, &version, err, errlen) != 0)
        return -1;
    if (version < 2)
        return 0;
    if (sqlite3_prepare_v2(db,
                           "SELECT since FROM keys_named WHERE typeof(since) = 'integer' AND "
                           "since >= 0",
                           -1, &st, NULL) == SQLITE_OK)
        step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *named = (uint64_t)sqlite3_column_int64(st, 0);
        rc = 0;
    } else if (step == SQLITE_DONE || sqlite3_errcode(db) == SQLITE_ERROR) {
        /* no row, or no table (SQLITE_ERROR: "no such table") */
        snprintf(err, errlen,
                 "the log is of version %d, which names keys, but has no valid keys_named row: "
                 "the file was altered",
                 version);
    } else {
        snprintf(err, errlen, "cannot read keys_named: %s" S_UNREADABLE, sqlite3_errmsg(db));
    }
    sqlite3_finalize(st);
    return rc;
}

/* The key in force after the anchor, which a log that names keys records
 * (lt_auditarc): key, as the anchor row holds it (NULL when it holds none
 * of the size of a key); one of the member's keys, and the one that signed
 * the anchor's checkpoint, since no export ends at a keys-switched entry.
 * The check binds the key from the anchor on. 0, or -1 with err. */
static int s_anchor_key(s_keys_t *ks, uint64_t anchor, const uint8_t *hash, const uint8_t *key,
                        char *err, size_t errlen)
{
    const uint8_t *keys[1] = {key}, *by = NULL;
    if (!key) {
        snprintf(err, errlen,
                 "the anchor (entry %llu) records no signing key in force, which a log of this "
                 "version must: the file was altered",
                 (unsigned long long)anchor);
        return -1;
    }
    s_bind(ks, key, anchor);
    if (!s_known_key(ks, key)) {
        char z[LT_Z85_KEY_LEN + 1];
        lt_keys_z85_encode(key, z);
        snprintf(err, errlen,
                 "the anchor (entry %llu) records key %s in force, which is not one of the "
                 "member's keys given",
                 (unsigned long long)anchor, z);
        return -1;
    }
    if (!s_check_point(ks, keys, 1, anchor, hash, NULL, &by) || !by) {
        s_unbound_why(ks, anchor, hash, err, errlen);
        return -1;
    }
    return 0;
}

/* A log that names no keys (version 1) whose anchor records one (records
 * set): only an exporter that names keys writes it (lt_auditarc), so the
 * file was passed off as the older format, whose checkpoints any of the
 * member's keys may sign (docs/ARCHITECTURE.md, "Keys and entries"). 0, or
 * -1 with err. */
static int s_anchor_unnamed(uint64_t anchor, int records, char *err, size_t errlen)
{
    if (!records)
        return 0;
    snprintf(err, errlen,
             "the log claims a version that names no signing keys, but its anchor (entry "
             "%llu) records a signing key, which only a later version writes: the file was "
             "passed off as the older format",
             (unsigned long long)anchor);
    return -1;
}

/* The anchor row read once: seq, hash and the signing key in force after
 * it, NULL in a log no gateway has opened since anchors named keys (no
 * column). NULL when there is no anchor table (a log no gateway has opened
 * since anchors exist). */
static sqlite3_stmt *s_anchor_stmt(sqlite3 *db)
{
    return s_prepare_with(db, "seq, hash", "signing_key", "anchor", "");
}

/* The anchor of a log whose older entries were exported: the chain goes on
 * from (seq, hash). An export keeps the anchor's checkpoint (lt_auditarc),
 * so an anchor without one is refused: inserted alone, it would stand for
 * a log of which nothing is signed. The checkpoint must verify under the
 * key the anchor records when the log binds keys there, else under any of
 * them; either way its key is then the one in force after the anchor
 * (s_tail_current). 0, or -1 with err. */
static int s_anchor(sqlite3 *db, s_keys_t *ks, lt_audit_report_t *rep, uint8_t head[LT_HASH_BYTES],
                    char *err, size_t errlen)
{
    sqlite3_stmt *st = s_anchor_stmt(db);
    const uint8_t *by = NULL;
    uint8_t key[LT_KEY_BYTES];
    int rc = 0, said = 0, step;
    if (!st)
        return 0; /* none */
    if ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE) {
        rc = -1; /* not "no anchor": the chain would start at entry 1 */
        snprintf(err, errlen, "cannot read the anchor: %s" S_UNREADABLE, sqlite3_errmsg(db));
    } else if (step == SQLITE_ROW) {
        int has_key = sqlite3_column_bytes(st, 2) == LT_KEY_BYTES;
        if (has_key)
            memcpy(key, sqlite3_column_blob(st, 2), LT_KEY_BYTES);
        rep->anchor = (uint64_t)sqlite3_column_int64(st, 0);
        rc = sqlite3_column_bytes(st, 1) == LT_HASH_BYTES ? 0 : -1;
        if (rc == 0)
            memcpy(head, sqlite3_column_blob(st, 1), LT_HASH_BYTES);
        memcpy(rep->anchor_hash, head, LT_HASH_BYTES);
        if (rc == 0 && ks->named == UINT64_MAX)
            rc = said = s_anchor_unnamed(rep->anchor, sqlite3_column_type(st, 2) != SQLITE_NULL,
                                         err, errlen);
        if (rc == 0 && rep->anchor > ks->named) {
            rc = said = s_anchor_key(ks, rep->anchor, head, has_key ? key : NULL, err, errlen);
            rep->anchor_bound = rc == 0;
            memcpy(rep->anchor_key, ks->key, LT_KEY_BYTES);
        } else if (rc == 0 &&
                   !s_check_point(ks, ks->pks, ks->n_pks, rep->anchor, head, NULL, &by)) {
            rc = -1;
        } else if (rc == 0 && !by) {
            rc = said = -1;
            snprintf(err, errlen,
                     "the anchor (entry %llu) comes without its signed checkpoint, which an "
                     "export keeps: the log was altered",
                     (unsigned long long)rep->anchor);
        } else if (rc == 0) {
            ks->last = by;
            ks->last_seq = rep->anchor;
            s_loose(ks, rep->anchor);
        }
        if (rc && !said)
            snprintf(err, errlen, "the anchor (entry %llu) does not match its signed checkpoint",
                     (unsigned long long)rep->anchor);
    }
    sqlite3_finalize(st);
    return rc;
}

static sqlite3_stmt *s_entries(sqlite3 *db, uint64_t after)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT seq, at_ms, event, peer, target, subject, fields, purpose, "
                           "case_ref, detail, application, officer, hash FROM audit "
                           "WHERE seq > ?1 ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK &&
        /* a log no gateway has opened since entries named applications */
        sqlite3_prepare_v2(db,
                           "SELECT seq, at_ms, event, peer, target, subject, fields, purpose, "
                           "case_ref, detail, NULL, NULL, hash FROM audit "
                           "WHERE seq > ?1 ORDER BY seq",
                           -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_int64(st, 1, (int64_t)after);
    return st;
}

/* The newest checkpoint: it must sign the last entry, else entries after
 * it were cut off (or the last ones lost their signature). */
static int s_tail(sqlite3 *db, lt_audit_report_t *rep, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = -1, step = SQLITE_ERROR;
    if (sqlite3_prepare_v2(db, "SELECT seq, at_ms FROM checkpoints ORDER BY seq DESC LIMIT 1", -1,
                           &st, NULL) != SQLITE_OK ||
        ((step = sqlite3_step(st)) != SQLITE_ROW && step != SQLITE_DONE)) {
        snprintf(err, errlen, "cannot read the newest checkpoint: %s", sqlite3_errmsg(db));
    } else if (step == SQLITE_DONE) {
        rc = rep->last == rep->anchor ? 0 : -1; /* nothing was ever signed */
        if (rc)
            snprintf(err, errlen, "no signed checkpoint covers the entries");
    } else if ((uint64_t)sqlite3_column_int64(st, 0) > rep->last) {
        snprintf(err, errlen, "audit entries after %llu were removed (a checkpoint covers more)",
                 (unsigned long long)rep->last);
    } else if ((uint64_t)sqlite3_column_int64(st, 0) < rep->last) {
        snprintf(err, errlen, "audit entries after %lld carry no signed checkpoint",
                 (long long)sqlite3_column_int64(st, 0));
    } else {
        rep->signed_at_ms = sqlite3_column_int64(st, 1);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

int lt_audit_check(const char *path, const uint8_t pk[LT_KEY_BYTES], lt_audit_report_t *rep,
                   char *err, size_t errlen)
{
    const uint8_t *pks[1] = {pk};
    return lt_audit_check_keys(path, pks, 1, rep, err, errlen);
}

/* The key in force after the last entry of the live log must be the
 * member's current key: entries after a rotation carry it, so a log
 * rewritten with an earlier key alone (one that may have leaked) fails.
 * It is the newest checkpoint's key, or the next key of a keys-switched
 * entry the log ends with (recorded by `keys promote` while the gateway
 * was stopped). 0, or -1 with err. */
static int s_tail_current(const s_keys_t *ks, const uint8_t *current, const lt_audit_report_t *rep,
                          char *err, size_t errlen)
{
    const uint8_t *in_force = ks->bound ? ks->key : ks->last;
    if (in_force && memcmp(in_force, current, LT_KEY_BYTES) == 0)
        return 0;
    snprintf(err, errlen,
             "the newest checkpoint (entry %llu) is not signed by the member's "
             "current signing key: the gateway has not switched to the promoted keys yet "
             "(reload it), or the log was rewritten with an earlier key",
             (unsigned long long)rep->last);
    return -1;
}

/* What the check found of the keys: the key in force after the last
 * entry, whether the log bound it, and which checkpoints it could not
 * bind. */
static void s_keys_report(const s_keys_t *ks, lt_audit_report_t *rep)
{
    const uint8_t *in_force = ks->bound ? ks->key : ks->last;
    rep->named = ks->named;
    rep->key_bound = ks->bound;
    if (in_force)
        memcpy(rep->key, in_force, LT_KEY_BYTES);
    rep->loose_first = ks->loose_first;
    rep->loose_last = ks->loose_last;
}

/* lt_audit_check_db, and when current is set, that the key in force after
 * the last entry is it: the newest checkpoint's, the anchor's when no
 * entry follows it (an anchor comes with its checkpoint, s_anchor). */
static int s_check(sqlite3 *db, const uint8_t *const *pks, size_t n_pks, const uint8_t *current,
                   lt_audit_report_t *rep, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const char *path = sqlite3_db_filename(db, "main");
    int rc = -1, step;
    uint8_t head[LT_HASH_BYTES] = {0};
    s_keys_t ks = {.pks = pks, .n_pks = n_pks, .point = s_point_stmt(db)};
    memset(rep, 0, sizeof *rep);
    path = path ? path : "audit log";
    if (s_named(db, &ks.named, err, errlen) != 0 || s_anchor(db, &ks, rep, head, err, errlen) != 0)
        goto out;
    if (!(st = s_entries(db, rep->anchor))) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        goto out;
    }
    uint64_t expect = rep->anchor + 1;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
        const char *text[N_TEXT];
        for (int t = 0; t < N_TEXT; t++)
            text[t] = (const char *)sqlite3_column_text(st, 2 + t);
        s_chain(head, seq, sqlite3_column_int64(st, 1), text, head);
        if (seq != expect || sqlite3_column_bytes(st, 12) != LT_HASH_BYTES ||
            memcmp(sqlite3_column_blob(st, 12), head, LT_HASH_BYTES) != 0) {
            snprintf(err, errlen, "audit chain broken at entry %llu", (unsigned long long)expect);
            goto out;
        }
        if (s_key_in_force(&ks, seq, head, text, err, errlen) != 0)
            goto out;
        rep->outages += text[0] && strcmp(text[0], "audit-outage") == 0;
        expect++;
    }
    rep->last = expect - 1;
    rep->entries = (long)(rep->last - rep->anchor);
    memcpy(rep->head, head, LT_HASH_BYTES);
    s_keys_report(&ks, rep);
    if (step != SQLITE_DONE)
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
    else if ((rc = s_tail(db, rep, err, errlen)) == 0 &&
             (rc = s_check_subjects(db, rep, err, errlen)) == 0 && current &&
             (rep->last > rep->anchor || ks.bound || ks.last))
        rc = s_tail_current(&ks, current, rep, err, errlen);
out:
    if (ks.unread[0]) {
        snprintf(err, errlen, "%s: %s" S_UNREADABLE, path, ks.unread);
        rc = -1;
    }
    sqlite3_finalize(st);
    sqlite3_finalize(ks.point);
    return rc;
}

int lt_audit_check_db(sqlite3 *db, const uint8_t *const *pks, size_t n_pks, lt_audit_report_t *rep,
                      char *err, size_t errlen)
{
    return s_check(db, pks, n_pks, NULL, rep, err, errlen);
}

int lt_audit_check_snapshot(sqlite3 *db, const char *path, const uint8_t *const *pks, size_t n_pks,
                            const uint8_t current[LT_KEY_BYTES], lt_audit_report_t *rep, char *err,
                            size_t errlen)
{
    /* One read snapshot for the whole check: an export removing entries
     * meanwhile must not move the anchor under it. */
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        return -1;
    }
    int rc = s_check(db, pks, n_pks, current, rep, err, errlen);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK && rc == 0) {
        snprintf(err, errlen, "%s: %s", path, sqlite3_errmsg(db));
        rc = -1;
    }
    return rc;
}

int lt_audit_check_live(const char *path, const uint8_t *const *pks, size_t n_pks,
                        const uint8_t current[LT_KEY_BYTES], lt_audit_report_t *rep, char *err,
                        size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = -1;
    memset(rep, 0, sizeof *rep);
    /* An exported segment may come from anywhere (lt_auditarc_verify). */
    if (lt_sqlopen_untrusted(path, SQLITE_OPEN_READONLY, &db) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", path, db ? sqlite3_errmsg(db) : "cannot open");
        goto out;
    }
    rc = lt_audit_check_snapshot(db, path, pks, n_pks, current, rep, err, errlen);
out:
    sqlite3_close(db);
    return rc;
}

int lt_audit_check_keys(const char *path, const uint8_t *const *pks, size_t n_pks,
                        lt_audit_report_t *rep, char *err, size_t errlen)
{
    return lt_audit_check_live(path, pks, n_pks, NULL, rep, err, errlen);
}

long lt_audit_verify(const char *path, const uint8_t pk[LT_KEY_BYTES], char *err, size_t errlen)
{
    const uint8_t *pks[1] = {pk};
    return lt_audit_verify_keys(path, pks, 1, err, errlen);
}

long lt_audit_verify_keys(const char *path, const uint8_t *const *pks, size_t n_pks, char *err,
                          size_t errlen)
{
    lt_audit_report_t rep;
    return lt_audit_check_keys(path, pks, n_pks, &rep, err, errlen) == 0 ? rep.entries : -1;
}

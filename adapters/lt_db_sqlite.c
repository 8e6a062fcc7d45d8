/* lt_db_sqlite: the SQLite backend of the database seam (lt_db.h,
 * lt_db_backend.h). The only file of the adapters that speaks SQLite.
 *
 * Change capture is trigger-based (adapters/README.md, "Change tracking"):
 * AFTER INSERT/UPDATE/DELETE triggers on the table append the table's name
 * and the row's key to lt_changes(id AUTOINCREMENT, row_key, table_name) in
 * the agency's own transaction, so a change is recorded if and only if the
 * agency's write commits, deletes are seen, and no application has to
 * change. AUTOINCREMENT keeps a change id from being reused after old
 * changes are pruned. SQLite has one writer at a time, so ids are issued in
 * commit order and readable under them at once.
 *
 * Connections: busy_timeout 5000 and synchronous=FULL; a sink also switches
 * to journal_mode=WAL, while a source leaves the agency's journal mode as
 * the agency set it. Statements used per change or per record are prepared
 * once; rare ones (recovery, requeue) are prepared when used. */
#include "lt_db_sqlite.h"
#include "lt_db_backend.h"
#include "lt_log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How long a connection waits for another one's lock, in ms. */
#define LT_DB_SQLITE_BUSY_MS 5000

typedef struct {
    sqlite3 *db;
    lt_db_role_t role;
    const lt_db_table_t *table; /* lt_db's copy */
    sqlite3_stmt *st_row;       /* current row by key */
    sqlite3_stmt *st_cursor;    /* cursor upsert */
    sqlite3_stmt *st_changes;   /* changes after a cursor and their rows (when first used) */
    sqlite3_stmt *st_upsert, *st_delete;
    /* A source's lt_rejects. */
    sqlite3_stmt *st_reject_put, *st_reject_kinds, *st_reject_clear;
    int installing; /* inside s_capture_install */
    int would;      /* LT_DB_WOULD_* (LT_DB_CHECK) */
} s_db_t;

/* A row being read: the mapped columns of a statement's current row,
 * from column `off` on; or the values of a row being written. */
typedef struct {
    lt_db_row_t base;
    sqlite3_stmt *st;
    int off;
} s_row_t;

typedef struct {
    lt_db_params_t base;
    sqlite3_stmt *st;
} s_params_t;

/* The cursor table of each role. */
static const struct {
    const char *table, *create, *load, *store;
} s_cursor[] = {
    [LT_DB_SOURCE] = {"lt_source_cursor",
                      "CREATE TABLE IF NOT EXISTS lt_source_cursor(dataset TEXT PRIMARY KEY, "
                      "change_id INTEGER NOT NULL, table_name TEXT, shift INTEGER NOT NULL "
                      "DEFAULT 0, acked_shift INTEGER)",
                      "SELECT change_id FROM lt_source_cursor WHERE dataset = ?1",
                      "INSERT INTO lt_source_cursor(dataset, change_id, table_name) "
                      "VALUES (?1, ?2, ?3) ON CONFLICT(dataset) DO UPDATE SET "
                      "change_id = excluded.change_id, table_name = excluded.table_name"},
    [LT_DB_SINK] = {"lt_sink_cursor",
                    "CREATE TABLE IF NOT EXISTS lt_sink_cursor("
                    "stream TEXT PRIMARY KEY, seq INTEGER NOT NULL, history TEXT)",
                    "SELECT seq FROM lt_sink_cursor WHERE stream = ?1",
                    "INSERT INTO lt_sink_cursor(stream, seq) VALUES (?1, ?2) "
                    "ON CONFLICT(stream) DO UPDATE SET seq = excluded.seq"},
};

/* A source's rejects (lt_db.h, PROTOCOL.md 5.7). */
#define S_REJECTS_CREATE                                                                           \
    "CREATE TABLE IF NOT EXISTS lt_rejects(dataset TEXT NOT NULL, row_key TEXT NOT NULL, "         \
    "kind TEXT NOT NULL, reasons TEXT NOT NULL, source_cursor TEXT NOT NULL DEFAULT '', "          \
    "first_seen TEXT NOT NULL, last_seen TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 1, "        \
    "PRIMARY KEY(dataset, row_key, kind))"
/* Prepared once: every refusal and mapping reject writes it (s_reject). */
#define S_REJECT_PUT                                                                               \
    "INSERT INTO lt_rejects(dataset, row_key, kind, reasons, source_cursor, first_seen, "          \
    "last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6) ON CONFLICT(dataset, row_key, kind) DO "       \
    "UPDATE SET reasons = excluded.reasons, source_cursor = excluded.source_cursor, "              \
    "last_seen = excluded.last_seen, count = count + 1"
/* The kinds of a row's rejects as a mask (lt_db.h): one row per kind. */
#define S_REJECT_KINDS                                                                             \
    "SELECT COALESCE(sum(" LT_DB_REJECT_BIT_SQL "), 0) FROM lt_rejects WHERE dataset = ?1 AND "    \
    "row_key = ?2"
/* The row's rejects of the kinds in mask ?3, in one statement: while a
 * dataset has rejects, every published change runs it (s_reject_clear). */
#define S_REJECT_CLEAR                                                                             \
    "DELETE FROM lt_rejects WHERE dataset = ?1 AND row_key = ?2 AND (" LT_DB_REJECT_BIT_SQL        \
    " & ?3) <> 0"

/* ---- helpers (also for the demo generator, lt_db_sqlite.h) ------------ */

int lt_db_sqlite_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    if (!sql) {
        snprintf(err, errlen, "%s: out of memory", what);
        return -1;
    }
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

int lt_db_sqlite_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    *st = NULL;
    if (!sql) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "%s (in: %.200s)", sqlite3_errmsg(db), sql);
    sqlite3_finalize(*st);
    *st = NULL;
    return -1;
}

/* One attempt at journal_mode=WAL: 0 when the database is in WAL mode. */
static int s_try_wal(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (lt_db_sqlite_prepare(db, "PRAGMA journal_mode=WAL", &st, err, errlen))
        return -2;
    const unsigned char *mode = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    if (mode && strcmp((const char *)mode, "wal") == 0)
        rc = 0;
    else
        snprintf(err, errlen, "cannot switch to WAL mode: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

/* Switching to WAL needs the database to itself, and SQLite reports a
 * concurrent reader or writer (e.g. another sink starting on the same file)
 * without waiting for busy_timeout: retry for as long as that timeout. */
static int s_check_wal(sqlite3 *db, char *err, size_t errlen)
{
    int rc = -1;
    for (int i = 0; i < LT_DB_SQLITE_BUSY_MS / 50; i++) {
        if ((rc = s_try_wal(db, err, errlen)) != -1)
            break;
        usleep(50 * 1000);
    }
    return rc == 0 ? 0 : -1;
}

static int s_pragmas(sqlite3 *db, int wal, char *why, size_t cap)
{
    if (sqlite3_busy_timeout(db, LT_DB_SQLITE_BUSY_MS) != SQLITE_OK) {
        snprintf(why, cap, "cannot set busy_timeout: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (wal && s_check_wal(db, why, cap) != 0)
        return -1;
    return lt_db_sqlite_exec(db, "PRAGMA synchronous=FULL", "cannot set synchronous=FULL", why,
                             cap);
}

sqlite3 *lt_db_sqlite_open(const char *path, int wal, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    char why[512] = "";
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, errlen, "cannot open database %s: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    if (s_pragmas(db, wal, why, sizeof why) == 0)
        return db;
    snprintf(err, errlen, "database %s: %s", path, why);
fail:
    sqlite3_close(db);
    return NULL;
}

/* Steps a statement that returns no row, then resets it and clears its
 * bindings. Returns 0, or -1 with err "what: sqlite message". */
static int s_step_done(sqlite3 *db, sqlite3_stmt *st, const char *what, char *err, size_t errlen)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Finishes SQL text built with sqlite3_str: the caller frees it with
 * sqlite3_free; NULL when out of memory. */
static char *s_sql_done(sqlite3_str *s)
{
    if (sqlite3_str_errcode(s) == SQLITE_OK)
        return sqlite3_str_finish(s);
    sqlite3_free(sqlite3_str_finish(s));
    return NULL;
}

/* ---- SQL text for the table --------------------------------------------- *
 * Identifiers are always in double quotes (%w doubles a quote inside), so
 * any table or column name the agency uses works. */

static const char *s_key(const lt_db_table_t *t)
{
    return t->columns[t->key];
}

/* "c1", "c2", ...: every mapped column in mapping order. */
static void s_add_columns(sqlite3_str *s, const lt_db_table_t *t)
{
    for (size_t i = 0; i < t->n_columns; i++)
        sqlite3_str_appendf(s, "%s\"%w\"", i ? ", " : "", t->columns[i]);
}

/* The row of a key. The columns are named through the table (t."c"): a
 * bare "c" that is no column is taken by SQLite for the string 'c' (its
 * double-quoted string misfeature), so a misspelt column would be read as
 * text, and pass --check, instead of being refused. */
static char *s_sql_select(sqlite3 *db, const lt_db_table_t *t)
{
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendall(s, "SELECT ");
    for (size_t i = 0; i < t->n_columns; i++)
        sqlite3_str_appendf(s, "%st.\"%w\"", i ? ", " : "", t->columns[i]);
    sqlite3_str_appendf(s, " FROM \"%w\" AS t WHERE t.\"%w\" = ?1", t->name, s_key(t));
    return s_sql_done(s);
}

/* INSERT ... ON CONFLICT(key) DO UPDATE SET c = excluded.c for every
 * column, so applying a record twice gives the same row. The key is set
 * too: under a key that ignores case (NOCASE), a key renamed only in case
 * conflicts with the row of its old spelling, which must take the new one
 * (adapters/README.md, "Keys that ignore case"). */
static char *s_sql_upsert(sqlite3 *db, const lt_db_table_t *t)
{
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendf(s, "INSERT INTO \"%w\" (", t->name);
    s_add_columns(s, t);
    sqlite3_str_appendall(s, ") VALUES (");
    for (size_t i = 0; i < t->n_columns; i++)
        sqlite3_str_appendf(s, "%s?%d", i ? ", " : "", (int)i + 1); /* no %zu in SQLite */
    sqlite3_str_appendf(s, ") ON CONFLICT(\"%w\") DO UPDATE SET ", s_key(t));
    for (size_t i = 0; i < t->n_columns; i++)
        sqlite3_str_appendf(s, "%s\"%w\" = excluded.\"%w\"", i ? ", " : "", t->columns[i],
                            t->columns[i]);
    return s_sql_done(s);
}

/* The key is matched under its own collation, for the index, and byte for
 * byte (BINARY): under NOCASE the tombstone of a key's old spelling would
 * delete the row of its new one. */
static char *s_sql_delete(sqlite3 *db, const lt_db_table_t *t)
{
    return sqlite3_mprintf("DELETE FROM \"%w\" WHERE \"%w\" = ?1 AND \"%w\" = ?1 COLLATE BINARY",
                           t->name, s_key(t), s_key(t));
}

static const char *s_type_name(lt_db_type_t type)
{
    switch (type) {
    case LT_DB_TEXT:
        return "TEXT";
    case LT_DB_BLOB:
        return "BLOB";
    case LT_DB_REAL:
        return "REAL";
    case LT_DB_UINT64:
        /* No declared type (BLOB affinity): an INTEGER, NUMERIC or REAL
         * column would turn the decimal text of a value above INT64_MAX
         * into a REAL and lose its last digits. */
        return "";
    default:
        return "INTEGER";
    }
}

static char *s_sql_create(sqlite3 *db, const lt_db_table_t *t)
{
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendf(s, "CREATE TABLE IF NOT EXISTS \"%w\" (", t->name);
    for (size_t i = 0; i < t->n_columns; i++)
        sqlite3_str_appendf(s, "%s\"%w\" %s%s", i ? ", " : "", t->columns[i],
                            s_type_name(t->types[i]), i == t->key ? " PRIMARY KEY NOT NULL" : "");
    sqlite3_str_appendall(s, ")");
    return s_sql_done(s);
}

/* CREATE of the three triggers (s_drop_triggers drops them first); new
 * changes go to lt_changes with the table's name. An update appends the
 * old key when the key changed, and nothing when only unmapped columns
 * changed (UPDATE OF the mapped columns). */
static char *s_sql_triggers(sqlite3 *db, const lt_db_table_t *t)
{
    const char *n = t->name, *k = s_key(t);
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendf(s,
                        "CREATE TRIGGER \"lt_insert(%w)\" AFTER INSERT ON \"%w\" BEGIN "
                        " INSERT INTO lt_changes(table_name, row_key) SELECT '%q', NEW.\"%w\""
                        " WHERE NEW.\"%w\" IS NOT NULL; END;"
                        "CREATE TRIGGER \"lt_update(%w)\" AFTER UPDATE OF ",
                        n, n, n, k, k, n);
    s_add_columns(s, t);
    sqlite3_str_appendf(
        s,
        " ON \"%w\" BEGIN "
        " INSERT INTO lt_changes(table_name, row_key) SELECT '%q', OLD.\"%w\""
        "  WHERE OLD.\"%w\" IS NOT NULL AND OLD.\"%w\" IS NOT NEW.\"%w\" COLLATE BINARY;"
        " INSERT INTO lt_changes(table_name, row_key) SELECT '%q', NEW.\"%w\""
        " WHERE NEW.\"%w\" IS NOT NULL; END;"
        "CREATE TRIGGER \"lt_delete(%w)\" AFTER DELETE ON \"%w\" BEGIN "
        " INSERT INTO lt_changes(table_name, row_key) SELECT '%q', OLD.\"%w\""
        " WHERE OLD.\"%w\" IS NOT NULL; END;",
        n, n, k, k, k, k, n, k, k, n, n, n, k, k);
    return s_sql_done(s);
}

/* ---- rows that REPLACE deletes ------------------------------------------ *
 * An INSERT OR REPLACE (or UPDATE OR REPLACE) that conflicts on a unique
 * index other than the key's deletes the other row without firing its
 * DELETE trigger (SQLite fires those only under the writer's
 * recursive_triggers), so its key would never be published as removed.
 * BEFORE triggers list the keys of the rows the statement conflicts with;
 * a row that stays (an INSERT OR IGNORE, a failed statement's rollback
 * takes the list too) is published again unchanged, which is harmless. */

/* One unique index's columns as "(o."a" = NEW."a" AND ...)" after sep;
 * 0 when appended, 1 when the index is skipped (the key's own, or on an
 * expression, which cannot be compared here), -1 on an error. */
static int s_conflict_index(sqlite3 *db, sqlite3_stmt *col, const char *index, const char *key,
                            sqlite3_str *s, const char *sep, char *err, size_t errlen)
{
    sqlite3_str *c = NULL;
    int n = 0, expr = 0, only_key = 1, step;
    /* Unbound (out of memory), the index would be NULL and have no
     * columns: skipped, its conflicts never published as removals. */
    if (!index || sqlite3_bind_text(col, 1, index, -1, SQLITE_TRANSIENT) != SQLITE_OK) {
        snprintf(err, errlen, "cannot read index %s: %s", index ? index : "(unnamed)",
                 sqlite3_errmsg(db));
        return -1;
    }
    c = sqlite3_str_new(db);
    while ((step = sqlite3_step(col)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(col, 0);
        const char *coll = (const char *)sqlite3_column_text(col, 1);
        expr |= name == NULL;
        /* The key's own index counts when it compares under another
         * collation than BINARY: a REPLACE through it deletes a row whose
         * key differs (in case, under NOCASE). */
        only_key &= name && strcmp(name, key) == 0 && (!coll || strcmp(coll, "BINARY") == 0);
        sqlite3_str_appendf(c, "%so.\"%w\" = NEW.\"%w\"", n++ ? " AND " : "", name ? name : "",
                            name ? name : "");
    }
    sqlite3_reset(col);
    char *text = s_sql_done(c);
    int rc = step != SQLITE_DONE || (n && !text) ? -1 : expr || only_key || n == 0 ? 1 : 0;
    if (rc == 0)
        sqlite3_str_appendf(s, "%s(%s)", sep, text);
    else if (rc < 0)
        snprintf(err, errlen, "cannot read index %s: %s", index, sqlite3_errmsg(db));
    sqlite3_free(text);
    return rc;
}

/* Appends to s the condition that row o conflicts with NEW on a unique
 * index other than the key's, or on the rowid; nothing when there is none. */
static int s_conflicts(sqlite3 *db, const lt_db_table_t *t, sqlite3_str *s, char *err,
                       size_t errlen)
{
    sqlite3_stmt *idx = NULL, *col = NULL, *rowid = NULL;
    int rc = -1, n = 0, step;
    if (lt_db_sqlite_prepare(db, "SELECT name FROM pragma_index_list(?1) WHERE \"unique\"", &idx,
                             err, errlen) ||
        lt_db_sqlite_prepare(db,
                             "SELECT name, coll FROM pragma_index_xinfo(?1) WHERE key "
                             "ORDER BY seqno",
                             &col, err, errlen) ||
        lt_db_sqlite_prepare(db, "SELECT 1 FROM pragma_table_list(?1) WHERE NOT wr", &rowid, err,
                             errlen))
        goto out;
    sqlite3_bind_text(idx, 1, t->name, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(idx)) == SQLITE_ROW) {
        int one = s_conflict_index(db, col, (const char *)sqlite3_column_text(idx, 0), s_key(t), s,
                                   n ? " OR " : "", err, errlen);
        if (one < 0)
            goto out;
        n += one == 0;
    }
    sqlite3_bind_text(rowid, 1, t->name, -1, SQLITE_STATIC);
    if (step != SQLITE_DONE || (step = sqlite3_step(rowid)) == SQLITE_ERROR) {
        snprintf(err, errlen, "cannot read the indexes of %s: %s", t->name, sqlite3_errmsg(db));
        goto out;
    }
    if (step == SQLITE_ROW && n) /* a rowid table: an explicit rowid may conflict too */
        sqlite3_str_appendf(s, " OR o.rowid = NEW.rowid");
    rc = 0;
out:
    sqlite3_finalize(idx);
    sqlite3_finalize(col);
    sqlite3_finalize(rowid);
    return rc;
}

/* The REPLACE triggers of the table into *out, NULL when it has no unique
 * index besides the key's (s_drop_triggers drops old ones first). */
static int s_sql_replace(sqlite3 *db, const lt_db_table_t *t, char **out, char *err, size_t errlen)
{
    const char *n = t->name, *k = s_key(t);
    sqlite3_str *c = sqlite3_str_new(db);
    int rc = s_conflicts(db, t, c, err, errlen);
    char *cond = s_sql_done(c);
    int none = rc == 0 && !(cond && *cond);
    sqlite3_str *s = sqlite3_str_new(db);
    if (rc == 0 && !none)
        sqlite3_str_appendf(
            s,
            "CREATE TRIGGER \"lt_replace_insert(%w)\" BEFORE INSERT ON \"%w\" BEGIN "
            " INSERT INTO lt_changes(table_name, row_key) SELECT '%q', o.\"%w\" FROM \"%w\" o"
            " WHERE o.\"%w\" IS NOT NULL AND o.\"%w\" IS NOT NEW.\"%w\" COLLATE BINARY AND (%s); "
            "END;"
            "CREATE TRIGGER \"lt_replace_update(%w)\" BEFORE UPDATE ON \"%w\" BEGIN "
            " INSERT INTO lt_changes(table_name, row_key) SELECT '%q', o.\"%w\" FROM \"%w\" o"
            " WHERE o.\"%w\" IS NOT NULL AND o.\"%w\" IS NOT NEW.\"%w\" COLLATE BINARY"
            " AND o.\"%w\" IS NOT OLD.\"%w\" COLLATE BINARY AND (%s); END;",
            n, n, n, k, n, k, k, k, cond, n, n, n, k, n, k, k, k, k, k, cond);
    sqlite3_free(cond);
    *out = s_sql_done(s);
    if (rc == 0 && !none && !*out) {
        snprintf(err, errlen, "out of memory");
        rc = -1;
    }
    return rc;
}

/* Lists every row of the table under new change ids, in key order, so that
 * the next run publishes the whole table. */
static char *s_sql_seed(const lt_db_table_t *t)
{
    const char *k = s_key(t);
    return sqlite3_mprintf("INSERT INTO lt_changes(table_name, row_key) SELECT '%q', \"%w\" "
                           "FROM \"%w\" WHERE \"%w\" IS NOT NULL ORDER BY \"%w\";",
                           t->name, k, t->name, k, k);
}

/* " FROM l LEFT JOIN the table AS t" on its key = l.row_key: how a
 * change's key finds its row, for reading changes and for finding keys
 * without one (s_sql_absent), which must agree. Under the key's own
 * collation for the index, and BINARY for the answer: under NOCASE a
 * renamed key's old spelling would find the row of the new one. */
static void s_add_row_join(sqlite3_str *s, const lt_db_table_t *t)
{
    sqlite3_str_appendf(s,
                        " FROM l LEFT JOIN \"%w\" AS t ON t.\"%w\" = l.row_key"
                        " AND t.\"%w\" = l.row_key COLLATE BINARY",
                        t->name, s_key(t), s_key(t));
}

/* The latest change of each key among the first ?2 changes of the table
 * after ?1, in id order, with whether its row exists and the row's mapped
 * columns (from column 3 on). */
static char *s_sql_changes(sqlite3 *db, const lt_db_table_t *t)
{
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendf(s,
                        "WITH b AS (SELECT id, row_key FROM lt_changes WHERE table_name = '%q' "
                        "AND id > ?1 ORDER BY id LIMIT ?2), "
                        "l AS (SELECT MAX(id) AS id, row_key FROM b GROUP BY row_key) "
                        "SELECT l.id, l.row_key, t.\"%w\" IS NOT NULL",
                        t->name, s_key(t));
    for (size_t i = 0; i < t->n_columns; i++)
        sqlite3_str_appendf(s, ", t.\"%w\"", t->columns[i]);
    s_add_row_join(s, t);
    sqlite3_str_appendall(s, " ORDER BY l.id");
    return s_sql_done(s);
}

/* 1 when s_add_row_join finds no row for key ?1 (lienthong source
 * --reconcile). CAST gives the key the affinity of lt_changes.row_key, so
 * that it compares with the key column exactly as a change's key does. */
static char *s_sql_absent(sqlite3 *db, const lt_db_table_t *t)
{
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendf(s, "WITH l AS (SELECT CAST(?1 AS TEXT) AS row_key) SELECT t.\"%w\" IS NULL",
                        s_key(t));
    s_add_row_join(s, t);
    sqlite3_str_appendall(s, " LIMIT 1");
    return s_sql_done(s);
}

/* ---- connection ------------------------------------------------------- */

static void s_close(void *impl)
{
    s_db_t *self = impl;
    sqlite3_finalize(self->st_row);
    sqlite3_finalize(self->st_cursor);
    sqlite3_finalize(self->st_changes);
    sqlite3_finalize(self->st_upsert);
    sqlite3_finalize(self->st_delete);
    sqlite3_finalize(self->st_reject_put);
    sqlite3_finalize(self->st_reject_kinds);
    sqlite3_finalize(self->st_reject_clear);
    sqlite3_close(self->db);
    free(self);
}

/* The sink's writes; a failure means the table does not fit the mapping. */
static int s_prepare_writes(s_db_t *self, char *err, size_t errlen)
{
    char *upsert = s_sql_upsert(self->db, self->table), *del = s_sql_delete(self->db, self->table);
    char why[768];
    int rc = 0;
    if (lt_db_sqlite_prepare(self->db, upsert, &self->st_upsert, why, sizeof why) ||
        lt_db_sqlite_prepare(self->db, del, &self->st_delete, why, sizeof why)) {
        snprintf(err, errlen,
                 "table %s cannot take the mapped columns (it needs each column and a PRIMARY "
                 "KEY or UNIQUE key_column, or create_table = true): %s",
                 self->table->name, why);
        rc = -1;
    }
    sqlite3_free(upsert);
    sqlite3_free(del);
    return rc;
}

/* 1 in *exists when the query `sql` with ?1 = arg returns a row. */
static int s_exists(s_db_t *self, const char *sql, const char *arg, int *exists, char *err,
                    size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (lt_db_sqlite_prepare(self->db, sql, &st, err, errlen))
        return -1;
    int rc = sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                           : SQLITE_ERROR;
    *exists = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        snprintf(err, errlen, "cannot read the schema: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int s_table_exists(s_db_t *self, const char *name, int *exists, char *err, size_t errlen)
{
    return s_exists(self, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", name,
                    exists, err, errlen);
}

/* *exists 1 when `table` exists, and then *has 1 when it has `column`. */
static int s_has_column(s_db_t *self, const char *table, const char *column, int *exists, int *has,
                        char *err, size_t errlen)
{
    char *has_col =
        sqlite3_mprintf("SELECT 1 FROM pragma_table_info(?1) WHERE name = '%q'", column);
    int rc = has_col ? 0 : -1;
    *exists = *has = 0;
    if (!has_col)
        snprintf(err, errlen, "out of memory");
    else if (s_table_exists(self, table, exists, err, errlen) ||
             (*exists && s_exists(self, has_col, table, has, err, errlen)))
        rc = -1;
    sqlite3_free(has_col);
    return rc;
}

static int s_begin(void *impl, int write, char *err, size_t errlen);
static int s_commit(void *impl, char *err, size_t errlen);
static void s_rollback(void *impl);

/* Adds `column` (declared `decl`) to `table` when the table exists without
 * it, then fills it with `fill` (an SQL expression, NULL: the default).
 * Both in one transaction, the column looked up again inside it: the
 * column counts as added once it exists, so one added but not filled (a
 * process killed, a full disk) would never be filled; SQLite's ALTER TABLE
 * is rolled back with the rest. */
static int s_add_column(s_db_t *self, const char *table, const char *column, const char *decl,
                        const char *fill, char *err, size_t errlen)
{
    int exists = 0, has = 0;
    int rc = s_has_column(self, table, column, &exists, &has, err, errlen);
    if (rc != 0 || !exists || has)
        return rc;
    /* Inside a transaction already (s_install's), that one makes it all or
     * nothing: SQLite refuses a BEGIN within it. */
    int own = sqlite3_get_autocommit(self->db) != 0;
    if (own && s_begin(self, 1, err, errlen))
        return -1;
    rc = s_has_column(self, table, column, &exists, &has, err, errlen);
    if (rc == 0 && exists && !has) {
        char *sql = fill
                        ? sqlite3_mprintf("ALTER TABLE %s ADD COLUMN %s %s; UPDATE %s SET %s = %s;",
                                          table, column, decl, table, column, fill)
                        : sqlite3_mprintf("ALTER TABLE %s ADD COLUMN %s %s;", table, column, decl);
        rc = lt_db_sqlite_exec(self->db, sql, "cannot add a column", err, errlen);
        sqlite3_free(sql);
    }
    if (own && rc == 0)
        rc = s_commit(self, err, errlen);
    if (own && rc != 0)
        s_rollback(self);
    return rc;
}

/* Databases from before the table column: lt_changes(id, row_key) and
 * lt_source_cursor(dataset, change_id) tracked one table, the one whose
 * lt_<table>_insert trigger exists. The column is added and filled with
 * that table's name (done at open, so that a source can store its cursor;
 * the old triggers stay until --install re-creates them, and until then
 * the capture counts as absent). Cursors from before epochs get shift 0,
 * and from before acked_shift none (NULL: acknowledged under shift). */
static int s_migrate(s_db_t *self, const char *table, char *err, size_t errlen)
{
    static const char *const old_table =
        "COALESCE((SELECT tbl_name FROM sqlite_master WHERE type = 'trigger' AND "
        "name = 'lt_' || tbl_name || '_insert' LIMIT 1), '')";
    int changes = strcmp(table, "lt_changes") == 0;
    if (s_add_column(self, table, "table_name", changes ? "TEXT NOT NULL DEFAULT ''" : "TEXT",
                     old_table, err, errlen))
        return -1;
    return changes ? 0
           : s_add_column(self, table, "shift", "INTEGER NOT NULL DEFAULT 0", NULL, err, errlen) ||
                   s_add_column(self, table, "acked_shift", "INTEGER", NULL, err, errlen)
               ? -1
               : 0;
}

/* Prepares what the role needs for the table (see lt_db_connect). */
/* 1 when declared type `type` gives a column no affinity (SQLite's rules:
 * nothing naming INT, CHAR, CLOB or TEXT, and BLOB or no type at all; ANY
 * in a STRICT table). */
static int s_no_affinity(const char *type, int strict)
{
    static const char *const typed[] = {"%INT%", "%CHAR%", "%CLOB%", "%TEXT%"};
    if (!type || !type[0])
        return 1;
    for (size_t i = 0; i < sizeof typed / sizeof typed[0]; i++)
        if (sqlite3_strlike(typed[i], type, 0) == 0) /* LIKE: without case */
            return 0;
    return sqlite3_strlike("%BLOB%", type, 0) == 0 || (strict && sqlite3_stricmp(type, "ANY") == 0);
}

/* A source finds each listed change's row by comparing the key column
 * with lt_changes.row_key, a text. A key column without affinity keeps an
 * integer key as an integer, which SQLite never finds equal to its text:
 * every change of such a row would read as a deletion and be published as
 * one. Such a table is refused, saying why. 0, or -1 with err. */
static int s_key_affinity(s_db_t *self, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (lt_db_sqlite_prepare(self->db,
                             "SELECT c.type, COALESCE(l.strict, 0) FROM pragma_table_info(?1) c "
                             "LEFT JOIN pragma_table_list(?1) l ON l.schema = 'main' "
                             "WHERE c.name = ?2 COLLATE NOCASE",
                             &st, err, errlen))
        return -1;
    int rc = sqlite3_bind_text(st, 1, self->table->name, -1, SQLITE_STATIC) == SQLITE_OK &&
                     sqlite3_bind_text(st, 2, s_key(self->table), -1, SQLITE_STATIC) == SQLITE_OK
                 ? 0
                 : -1;
    int step = rc == 0 ? sqlite3_step(st) : SQLITE_ERROR;
    if (step == SQLITE_ROW &&
        s_no_affinity((const char *)sqlite3_column_text(st, 0), sqlite3_column_int(st, 1))) {
        const char *type = (const char *)sqlite3_column_text(st, 0);
        snprintf(err, errlen,
                 "key column \"%s\" of table \"%s\" is declared '%s', which gives it "
                 "no type affinity: its integer keys would never match the change list's text "
                 "keys, and every change would be published as a deletion; declare it INTEGER "
                 "or TEXT",
                 s_key(self->table), self->table->name, type ? type : "");
        rc = -1;
    } else if (step != SQLITE_ROW && step != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read the columns of table \"%s\": %s", self->table->name,
                 sqlite3_errmsg(self->db));
        rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

static int s_use_table(s_db_t *self, int create, char *err, size_t errlen)
{
    const lt_db_table_t *t = self->table;
    int sink = self->role == LT_DB_SINK, rc = -1;
    char *create_sql = sink && create ? s_sql_create(self->db, t) : NULL;
    char *select = s_sql_select(self->db, t);
    if (sink && create &&
        lt_db_sqlite_exec(self->db, create_sql, "cannot create the table", err, errlen))
        goto out;
    char what[64];
    snprintf(what, sizeof what, "cannot create %s", s_cursor[self->role].table);
    if (!sink && (s_key_affinity(self, err, errlen) || s_migrate(self, "lt_changes", err, errlen) ||
                  s_migrate(self, "lt_source_cursor", err, errlen)))
        goto out;
    /* A sink's cursor from before histories were kept: NULL, unknown
     * (PROTOCOL.md 8.2). */
    if (lt_db_sqlite_exec(self->db, s_cursor[self->role].create, what, err, errlen) ||
        (sink && s_add_column(self, "lt_sink_cursor", "history", "TEXT", NULL, err, errlen)) ||
        (!sink &&
         (lt_db_sqlite_exec(self->db, S_REJECTS_CREATE, "cannot create lt_rejects", err, errlen) ||
          lt_db_sqlite_prepare(self->db, S_REJECT_PUT, &self->st_reject_put, err, errlen) ||
          lt_db_sqlite_prepare(self->db, S_REJECT_KINDS, &self->st_reject_kinds, err, errlen) ||
          lt_db_sqlite_prepare(self->db, S_REJECT_CLEAR, &self->st_reject_clear, err, errlen))) ||
        lt_db_sqlite_prepare(self->db, s_cursor[self->role].store, &self->st_cursor, err, errlen) ||
        (sink && s_prepare_writes(self, err, errlen)) ||
        lt_db_sqlite_prepare(self->db, select, &self->st_row, err, errlen))
        goto out;
    rc = 0;
out:
    sqlite3_free(create_sql);
    sqlite3_free(select);
    return rc;
}

/* A sink's --check (LT_DB_CHECK): what s_use_table would do, told, not
 * done. The table must take upserts by key when it exists; a missing one
 * is an error unless it would be created. */
static int s_check_sink(s_db_t *self, int create, char *err, size_t errlen)
{
    int exists = 0, has = 0;
    if (s_table_exists(self, self->table->name, &exists, err, errlen))
        return -1;
    if (!exists && !create) {
        snprintf(err, errlen, "%s has no table %s", sqlite3_db_filename(self->db, "main"),
                 self->table->name);
        return -1;
    }
    self->would |= exists ? 0 : LT_DB_WOULD_TABLE;
    if (exists && s_prepare_writes(self, err, errlen))
        return -1;
    if (s_has_column(self, "lt_sink_cursor", "history", &exists, &has, err, errlen))
        return -1;
    self->would |= !exists ? LT_DB_WOULD_CURSOR : !has ? LT_DB_WOULD_COLUMN : 0;
    return 0;
}

/* LT_DB_WOULD_COLUMN when `table` exists without one of `columns`
 * (NULL-terminated), LT_DB_WOULD_CURSOR when `missing` and it does not
 * exist. */
static int s_would_columns(s_db_t *self, const char *table, const char *const *columns, int missing,
                           int *would, char *err, size_t errlen)
{
    int exists = 0, has = 1;
    for (size_t i = 0; columns[i] && has; i++)
        if (s_has_column(self, table, columns[i], &exists, &has, err, errlen))
            return -1;
    *would |= !exists ? missing : !has ? LT_DB_WOULD_COLUMN : 0;
    return 0;
}

/* A source's --check (LT_DB_CHECK): what s_use_table would do, told, not
 * done. The table must have a key with affinity and every mapped column;
 * an lt_ table there already must take the source's statements. */
static int s_check_source(s_db_t *self, char *err, size_t errlen)
{
    static const char *const changes[] = {"table_name", NULL};
    static const char *const cursor[] = {"table_name", "shift", "acked_shift", NULL};
    int rejects = 0, c = 0;
    if (s_key_affinity(self, err, errlen) ||
        s_would_columns(self, "lt_changes", changes, 0, &c, err, errlen) ||
        s_would_columns(self, "lt_source_cursor", cursor, LT_DB_WOULD_CURSOR, &self->would, err,
                        errlen) ||
        s_table_exists(self, "lt_rejects", &rejects, err, errlen))
        return -1;
    self->would |= (c ? LT_DB_WOULD_CHANGES : 0) | (rejects ? 0 : LT_DB_WOULD_REJECTS);
    if ((rejects &&
         (lt_db_sqlite_prepare(self->db, S_REJECT_PUT, &self->st_reject_put, err, errlen) ||
          lt_db_sqlite_prepare(self->db, S_REJECT_CLEAR, &self->st_reject_clear, err, errlen))) ||
        (!(self->would & (LT_DB_WOULD_CURSOR | LT_DB_WOULD_COLUMN)) &&
         lt_db_sqlite_prepare(self->db, s_cursor[LT_DB_SOURCE].store, &self->st_cursor, err,
                              errlen)))
        return -1;
    char *select = s_sql_select(self->db, self->table);
    int rc = lt_db_sqlite_prepare(self->db, select, &self->st_row, err, errlen);
    sqlite3_free(select);
    return rc;
}

/* Read-only, in the journal mode the file has. */
static sqlite3 *s_open_check(const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK && sqlite3_busy_timeout(db, 5000) == SQLITE_OK)
        return db;
    snprintf(err, errlen, "cannot open database %s: %s", path,
             db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return NULL;
}

static int s_would(const void *impl)
{
    const s_db_t *self = impl;
    return self->would;
}

static void *s_open(const char *path, lt_db_role_t role, const lt_db_table_t *table, int create,
                    char *name, size_t name_cap, char *err, size_t errlen)
{
    s_db_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->role = role;
    self->table = table;
    snprintf(name, name_cap, "%s", path);
    int check = create & LT_DB_CHECK, rc = -1;
    self->db = check ? s_open_check(path, err, errlen)
                     : lt_db_sqlite_open(path, role == LT_DB_SINK, err, errlen);
    if (self->db)
        rc = !check               ? s_use_table(self, create & LT_DB_CREATE, err, errlen)
             : role == LT_DB_SINK ? s_check_sink(self, create & LT_DB_CREATE, err, errlen)
                                  : s_check_source(self, err, errlen);
    if (rc == 0)
        return self;
    s_close(self);
    return NULL;
}

/* ---- transactions ----------------------------------------------------- */

static int s_begin(void *impl, int write, char *err, size_t errlen)
{
    s_db_t *self = impl;
    /* IMMEDIATE takes the write lock now, waiting busy_timeout for it,
     * instead of failing at the first write. */
    return lt_db_sqlite_exec(self->db, write ? "BEGIN IMMEDIATE" : "BEGIN", "cannot begin", err,
                             errlen);
}

static int s_commit(void *impl, char *err, size_t errlen)
{
    s_db_t *self = impl;
    return lt_db_sqlite_exec(self->db, "COMMIT", "cannot commit", err, errlen);
}

static void s_rollback(void *impl)
{
    s_db_t *self = impl;
    char ignore[64];
    if (!sqlite3_get_autocommit(self->db))
        lt_db_sqlite_exec(self->db, "ROLLBACK", "rollback", ignore, sizeof ignore);
}

/* ---- change capture --------------------------------------------------- */

/* Present: the change table, and triggers of the table that name it (a
 * trigger from before the table column does not count). */
/* A capture installed before the REPLACE triggers, on a table that needs
 * them, is told to the operator: until --install runs again, rows such a
 * statement deletes stay at the consumers. */
static int s_replace_check(s_db_t *self, char *err, size_t errlen)
{
    int have = 0;
    sqlite3_str *c = sqlite3_str_new(self->db);
    int rc = s_conflicts(self->db, self->table, c, err, errlen);
    char *cond = s_sql_done(c);
    if (rc == 0 && cond && *cond)
        rc = s_exists(self,
                      "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1 "
                      "AND name IN ('lt_replace_insert(' || tbl_name || ')', "
                      "'lt_' || tbl_name || '_replace_insert')",
                      self->table->name, &have, err, errlen);
    if (rc == 0 && cond && *cond && !have)
        lt_warn("source",
                "table %s has a unique index besides its key (or a key that compares without "
                "case), and its change capture predates "
                "the triggers that list rows an INSERT or UPDATE OR REPLACE deletes through it: "
                "run the source with --install once",
                self->table->name);
    sqlite3_free(cond);
    return rc;
}

static int s_capture_present(void *impl, int *present, char *err, size_t errlen)
{
    s_db_t *self = impl;
    *present = 0;
    int changes = 0;
    if (s_table_exists(self, "lt_changes", &changes, err, errlen))
        return -1;
    if (!changes)
        return 0;
    if (s_exists(self,
                 "SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?1 "
                 "AND name IN ('lt_insert(' || tbl_name || ')', 'lt_' || tbl_name || '_insert') "
                 "AND sql LIKE '%table_name%'",
                 self->table->name, present, err, errlen))
        return -1;
    return *present && !self->installing ? s_replace_check(self, err, errlen) : 0;
}

/* Drops trigger `name` when it is one of `table`'s: a name from before
 * lt_insert(<table>) may be another table's too (adapters/README.md,
 * "Change tracking"). */
static int s_drop_trigger(s_db_t *self, const char *table, const char *name, char *err,
                          size_t errlen)
{
    int mine = 0, rc = -1;
    char *ask = sqlite3_mprintf("SELECT 1 FROM sqlite_master WHERE type = 'trigger' "
                                "AND name = ?1 AND tbl_name = %Q",
                                table);
    char *drop = sqlite3_mprintf("DROP TRIGGER \"%w\"", name);
    if (!ask || !drop)
        snprintf(err, errlen, "out of memory");
    else if (s_exists(self, ask, name, &mine, err, errlen) == 0)
        rc = mine ? lt_db_sqlite_exec(self->db, drop, "cannot remove the change capture", err,
                                      errlen)
                  : 0;
    sqlite3_free(ask);
    sqlite3_free(drop);
    return rc;
}

/* Drops the triggers s_sql_triggers and s_sql_replace make on `table`,
 * under their names lt_<kind>(<table>) and under the names from before,
 * lt_<table>_<kind>, which could clash: table a_replace's lt_a_replace_insert
 * was also table a's REPLACE trigger on INSERT. No kind holds a "(", so
 * the text up to the first one names the kind and the rest the table: the
 * new names cannot clash, and, ending in ")", match no old one either. */
static int s_drop_triggers(s_db_t *self, const char *table, char *err, size_t errlen)
{
    static const char *const kind[] = {"insert", "update", "delete", "replace_insert",
                                       "replace_update"};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < 2 * (sizeof kind / sizeof *kind); i++) {
        const char *k = kind[i / 2];
        char *name =
            i % 2 ? sqlite3_mprintf("lt_%s_%s", table, k) : sqlite3_mprintf("lt_%s(%s)", k, table);
        if (!name) {
            snprintf(err, errlen, "out of memory");
            rc = -1;
        } else
            rc = s_drop_trigger(self, table, name, err, errlen);
        sqlite3_free(name);
    }
    return rc;
}

/* Runs the installation in the open transaction: the change table (a new
 * one starts every cursor again), the triggers, and, when the table's
 * capture is new, every existing row listed. */
static int s_install(s_db_t *self, const char *triggers, const char *seed, int *created, char *err,
                     size_t errlen)
{
    int existed = 0, present = 0;
    if (s_table_exists(self, "lt_changes", &existed, err, errlen) ||
        s_migrate(self, "lt_changes", err, errlen) ||
        s_capture_present(self, &present, err, errlen) ||
        lt_db_sqlite_exec(
            self->db,
            "CREATE TABLE IF NOT EXISTS lt_changes("
            "id INTEGER PRIMARY KEY AUTOINCREMENT, row_key TEXT NOT NULL, "
            "table_name TEXT NOT NULL DEFAULT '');"
            "CREATE INDEX IF NOT EXISTS lt_changes_table ON lt_changes(table_name, id)",
            "cannot create lt_changes", err, errlen) ||
        s_drop_triggers(self, self->table->name, err, errlen) ||
        lt_db_sqlite_exec(self->db, triggers, "cannot create the triggers", err, errlen))
        return -1;
    char *replace = NULL;
    int rc = s_sql_replace(self->db, self->table, &replace, err, errlen) ||
             (replace && lt_db_sqlite_exec(self->db, replace, "cannot create the REPLACE triggers",
                                           err, errlen));
    sqlite3_free(replace);
    if (rc)
        return -1;
    if (!existed && lt_db_sqlite_exec(self->db, "UPDATE lt_source_cursor SET change_id = 0",
                                      "cannot reset lt_source_cursor", err, errlen))
        return -1;
    *created = !present;
    if (*created && lt_db_sqlite_exec(self->db, seed, "cannot list the existing rows", err, errlen))
        return -1;
    return 0;
}

static int s_capture_install(void *impl, int *created, char *err, size_t errlen)
{
    s_db_t *self = impl;
    int rc = -1;
    char *triggers = s_sql_triggers(self->db, self->table), *seed = s_sql_seed(self->table);
    if (!triggers || !seed) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (lt_db_sqlite_exec(self->db, "BEGIN IMMEDIATE", "cannot begin the installation", err,
                          errlen))
        goto out;
    self->installing = 1;
    int failed = s_install(self, triggers, seed, created, err, errlen);
    self->installing = 0;
    if (failed ||
        lt_db_sqlite_exec(self->db, "COMMIT", "cannot commit the installation", err, errlen)) {
        s_rollback(self);
        goto out;
    }
    rc = 0;
out:
    sqlite3_free(triggers);
    sqlite3_free(seed);
    return rc;
}

/* Calls fn for each row of the stepped statement (id, key, found, the
 * row's columns); returns the count or -1. */
static long s_each_change(s_db_t *self, sqlite3_stmt *st, lt_db_change_fn fn, void *arg, char *err,
                          size_t errlen)
{
    long n = 0;
    int step;
    s_row_t row = {{&lt_db_sqlite_ops}, st, 3};
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *key = (const char *)sqlite3_column_text(st, 1);
        if (!key) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (fn(arg, id, key, sqlite3_column_int(st, 2) ? &row.base : NULL, err, errlen) != 0)
            return -1;
        n++;
    }
    if (step != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read lt_changes: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    return n;
}

static long s_read_changes(void *impl, int64_t after, size_t limit, lt_db_change_fn fn, void *arg,
                           char *err, size_t errlen)
{
    s_db_t *self = impl;
    if (!self->st_changes) {
        char *sql = s_sql_changes(self->db, self->table);
        int rc = lt_db_sqlite_prepare(self->db, sql, &self->st_changes, err, errlen);
        sqlite3_free(sql);
        if (rc)
            return -1;
    }
    sqlite3_stmt *st = self->st_changes;
    long n = -1;
    if (sqlite3_bind_int64(st, 1, after) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, (sqlite3_int64)limit) != SQLITE_OK)
        snprintf(err, errlen, "cannot read lt_changes: %s", sqlite3_errmsg(self->db));
    else
        n = s_each_change(self, st, fn, arg, err, errlen);
    sqlite3_reset(st);
    return n;
}

/* Prepares sql, binds ?1 = a and ?2 = b and ?3 = the table's name when sql
 * has them (a statement using only ?3 still has slots 1 and 2), and steps
 * once. Returns the step's result code, or SQLITE_ERROR
 * with err set. */
static int s_once(s_db_t *self, const char *sql, int64_t a, int64_t b, sqlite3_stmt **st, char *err,
                  size_t errlen)
{
    if (lt_db_sqlite_prepare(self->db, sql, st, err, errlen))
        return SQLITE_ERROR;
    int params = sqlite3_bind_parameter_count(*st);
    if ((params >= 1 && sqlite3_bind_int64(*st, 1, a) != SQLITE_OK) ||
        (params >= 2 && sqlite3_bind_int64(*st, 2, b) != SQLITE_OK) ||
        (params >= 3 &&
         sqlite3_bind_text(*st, 3, self->table->name, -1, SQLITE_STATIC) != SQLITE_OK))
        return SQLITE_ERROR;
    return sqlite3_step(*st);
}

/* One integer from a query (s_once's parameters); `what` names it in err. */
static int s_int(s_db_t *self, const char *sql, int64_t a, int64_t b, int64_t *out,
                 const char *what, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = s_once(self, sql, a, b, &st, err, errlen);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    else if (st)
        snprintf(err, errlen, "cannot read %s: %s", what, sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int s_last_change(void *impl, int64_t *id, char *err, size_t errlen)
{
    return s_int(impl, "SELECT COALESCE(MAX(id), 0) FROM lt_changes WHERE table_name = ?3", 0, 0,
                 id, "lt_changes", err, errlen);
}

static int s_capture_high(void *impl, int64_t *id, char *err, size_t errlen)
{
    s_db_t *self = impl;
    int exists = 0;
    *id = 0;
    if (s_table_exists(self, "sqlite_sequence", &exists, err, errlen))
        return -1;
    return exists ? s_int(self,
                          "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence "
                          "WHERE name = 'lt_changes'",
                          0, 0, id, "sqlite_sequence", err, errlen)
                  : 0;
}

/* Runs a statement of s_once that returns no row. */
static int s_done(s_db_t *self, const char *sql, int64_t a, int64_t b, const char *what, char *err,
                  size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = s_once(self, sql, a, b, &st, err, errlen);
    if (rc != SQLITE_DONE && st)
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int s_requeue(void *impl, int64_t after, int64_t through, char *err, size_t errlen)
{
    return s_done(impl,
                  "INSERT INTO lt_changes(table_name, row_key) SELECT ?3, row_key FROM lt_changes"
                  " WHERE id > ?1 AND id <= ?2 AND table_name = ?3 GROUP BY row_key"
                  " ORDER BY MAX(id)",
                  after, through, "cannot queue the changes again", err, errlen);
}

static int s_capture_relist(void *impl, int64_t *base, char *err, size_t errlen)
{
    s_db_t *self = impl;
    char *seed = s_sql_seed(self->table);
    int rc = s_capture_high(self, base, err, errlen) ||
                     lt_db_sqlite_exec(self->db, seed, "cannot list the rows again", err, errlen)
                 ? -1
                 : 0;
    sqlite3_free(seed);
    return rc;
}

static int s_read_row(void *impl, const char *key, lt_db_row_fn fn, void *arg, char *err,
                      size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = self->st_row;
    int rc = -1;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
        snprintf(err, errlen, "cannot bind the key: %s", sqlite3_errmsg(self->db));
        goto out;
    }
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = 0;
    } else if (step == SQLITE_ROW) {
        s_row_t row = {{&lt_db_sqlite_ops}, st, 0};
        rc = fn(arg, &row.base, err, errlen) == 0 ? 1 : -1;
    } else
        snprintf(err, errlen, "cannot read table %s: %s", self->table->name,
                 sqlite3_errmsg(self->db));
out:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Looks for one key's row (st: s_sql_absent); 1 when it has none, 0 when
 * it has, -1 with err. */
static int s_absent_one(s_db_t *self, sqlite3_stmt *st, const char *key, char *err, size_t errlen)
{
    int rc = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                           : SQLITE_ERROR;
    int absent = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) != 0 : -1;
    if (absent < 0)
        snprintf(err, errlen, "cannot read table %s: %s", self->table->name,
                 sqlite3_errmsg(self->db));
    sqlite3_reset(st);
    return absent;
}

/* One lookup per key (and one insert per absent key), prepared once per
 * call: a page is a few thousand keys, run rarely (lienthong source
 * --reconcile). A key is never invalid here: SQLite compares any text with
 * any column. */
static int s_queue_absent(void *impl, const char *const *keys, size_t n, int append,
                          unsigned char *found, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = NULL, *ins = NULL;
    char *sql = s_sql_absent(self->db, self->table);
    char *add = sqlite3_mprintf("INSERT INTO lt_changes(table_name, row_key) VALUES ('%q', ?1)",
                                self->table->name);
    int rc = sql && add ? lt_db_sqlite_prepare(self->db, sql, &st, err, errlen) : -1;
    if (!sql || !add)
        snprintf(err, errlen, "out of memory");
    if (rc == 0 && append)
        rc = lt_db_sqlite_prepare(self->db, add, &ins, err, errlen);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        int absent = s_absent_one(self, st, keys[i], err, errlen);
        found[i] = absent == 1 ? LT_DB_KEY_ABSENT : LT_DB_KEY_HELD;
        if (absent < 0)
            rc = -1;
        else if (absent && append) {
            if (sqlite3_bind_text(ins, 1, keys[i], -1, SQLITE_STATIC) != SQLITE_OK ||
                sqlite3_step(ins) != SQLITE_DONE) {
                snprintf(err, errlen, "cannot append to lt_changes for table %s: %s",
                         self->table->name, sqlite3_errmsg(self->db));
                rc = -1;
            }
            sqlite3_reset(ins);
        }
    }
    sqlite3_finalize(st);
    sqlite3_finalize(ins);
    sqlite3_free(sql);
    sqlite3_free(add);
    return rc;
}

/* ---- cursors ---------------------------------------------------------- */

static int s_cursor_load(void *impl, const char *name, int64_t *value, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (lt_db_sqlite_prepare(self->db, s_cursor[self->role].load, &st, err, errlen))
        return -1;
    int step = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                              : SQLITE_ERROR;
    if (step == SQLITE_ROW || step == SQLITE_DONE) {
        *value = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        rc = 0;
    } else
        snprintf(err, errlen, "cannot read %s: %s", s_cursor[self->role].table,
                 sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return rc;
}

static int s_cursor_store(void *impl, const char *name, int64_t value, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = self->st_cursor;
    int source = self->role == LT_DB_SOURCE;
    char what[64];
    snprintf(what, sizeof what, "cannot update %s", s_cursor[self->role].table);
    if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, value) != SQLITE_OK ||
        (source && sqlite3_bind_text(st, 3, self->table->name, -1, SQLITE_STATIC) != SQLITE_OK)) {
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(self->db));
        sqlite3_clear_bindings(st);
        return -1;
    }
    if (s_step_done(self->db, st, what, err, errlen) != 0)
        return -1;
    if (!source)
        return 0;
    /* The table's changes that every dataset of the table has passed are
     * needed no more; other tables' datasets do not hold them back. */
    return s_done(self,
                  "DELETE FROM lt_changes WHERE table_name = ?3 AND id <= "
                  "(SELECT MIN(change_id) FROM lt_source_cursor WHERE table_name = ?3)",
                  0, 0, "cannot prune lt_changes", err, errlen);
}

static int s_shift_load(void *impl, const char *name, int64_t *shift, int64_t *acked, char *err,
                        size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = NULL;
    *shift = *acked = 0;
    if (lt_db_sqlite_prepare(self->db,
                             "SELECT shift, COALESCE(acked_shift, shift) FROM lt_source_cursor "
                             "WHERE dataset = ?1",
                             &st, err, errlen))
        return -1;
    int step = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                              : SQLITE_ERROR;
    if (step == SQLITE_ROW) {
        *shift = sqlite3_column_int64(st, 0);
        *acked = sqlite3_column_int64(st, 1);
    } else if (step != SQLITE_DONE)
        snprintf(err, errlen, "cannot read lt_source_cursor: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -1;
}

static int s_history_load(void *impl, const char *name, char *hex, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = NULL;
    if (lt_db_sqlite_prepare(self->db, "SELECT history FROM lt_sink_cursor WHERE stream = ?1", &st,
                             err, errlen))
        return -1;
    int step = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                              : SQLITE_ERROR;
    const unsigned char *v = step == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    if (v)
        snprintf(hex, LT_DB_HISTORY_HEX, "%s", (const char *)v);
    if (step != SQLITE_ROW && step != SQLITE_DONE)
        snprintf(err, errlen, "cannot read lt_sink_cursor: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return step == SQLITE_ROW || step == SQLITE_DONE ? 0 : -1;
}

static int s_history_store(void *impl, const char *name, const char *hex, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = NULL;
    if (lt_db_sqlite_prepare(self->db,
                             "INSERT INTO lt_sink_cursor(stream, seq, history) VALUES (?1, 0, ?2) "
                             "ON CONFLICT(stream) DO UPDATE SET history = excluded.history",
                             &st, err, errlen))
        return -1;
    int step = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK &&
                       (hex[0] ? sqlite3_bind_text(st, 2, hex, -1, SQLITE_STATIC)
                               : sqlite3_bind_null(st, 2)) == SQLITE_OK
                   ? sqlite3_step(st)
                   : SQLITE_ERROR;
    if (step != SQLITE_DONE)
        snprintf(err, errlen, "cannot update lt_sink_cursor: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : -1;
}

static int s_reject(void *impl, const lt_db_reject_t *r, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = self->st_reject_put;
    const char *v[6] = {r->dataset, r->key, r->kind, r->reasons, r->cursor, r->at};
    int ok = 1;
    for (int i = 0; ok && i < 6; i++)
        ok = sqlite3_bind_text(st, i + 1, v[i] ? v[i] : "", -1, SQLITE_STATIC) == SQLITE_OK;
    if (!ok) {
        snprintf(err, errlen, "cannot update lt_rejects: %s", sqlite3_errmsg(self->db));
        sqlite3_clear_bindings(st);
        return -1;
    }
    return s_step_done(self->db, st, "cannot update lt_rejects", err, errlen);
}

static int s_reject_kinds(void *impl, const char *dataset, const char *key, unsigned *kinds,
                          char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = self->st_reject_kinds;
    *kinds = 0;
    int step = sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC) == SQLITE_OK &&
                       sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC) == SQLITE_OK
                   ? sqlite3_step(st)
                   : SQLITE_ERROR;
    if (step == SQLITE_ROW)
        *kinds = (unsigned)sqlite3_column_int64(st, 0);
    else
        snprintf(err, errlen, "cannot read lt_rejects: %s", sqlite3_errmsg(self->db));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return step == SQLITE_ROW ? 0 : -1;
}

static int s_reject_clear(void *impl, const char *dataset, const char *key, unsigned kinds,
                          int *cleared, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = self->st_reject_clear;
    *cleared = 0;
    if (sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, (sqlite3_int64)kinds) != SQLITE_OK) {
        snprintf(err, errlen, "cannot update lt_rejects: %s", sqlite3_errmsg(self->db));
        sqlite3_clear_bindings(st);
        return -1;
    }
    if (s_step_done(self->db, st, "cannot update lt_rejects", err, errlen))
        return -1;
    *cleared = sqlite3_changes(self->db);
    return 0;
}

static int s_reject_count(void *impl, const char *dataset, int64_t *n, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = NULL;
    *n = 0;
    if (lt_db_sqlite_prepare(self->db, "SELECT count(*) FROM lt_rejects WHERE dataset = ?1", &st,
                             err, errlen))
        return -1;
    int step = sqlite3_bind_text(st, 1, dataset, -1, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                                 : SQLITE_ERROR;
    if (step == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else
        snprintf(err, errlen, "cannot read lt_rejects: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return step == SQLITE_ROW ? 0 : -1;
}

static int s_shift_store(void *impl, const char *name, int64_t shift, int64_t acked, char *err,
                         size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = NULL;
    if (lt_db_sqlite_prepare(self->db,
                             "UPDATE lt_source_cursor SET shift = ?2, acked_shift = ?3 "
                             "WHERE dataset = ?1",
                             &st, err, errlen))
        return -1;
    int step = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK &&
                       sqlite3_bind_int64(st, 2, shift) == SQLITE_OK &&
                       sqlite3_bind_int64(st, 3, acked) == SQLITE_OK
                   ? sqlite3_step(st)
                   : SQLITE_ERROR;
    if (step != SQLITE_DONE)
        snprintf(err, errlen, "cannot update lt_source_cursor: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : -1;
}

static const char *s_text0(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "";
}

static int s_cursor_list(void *impl, lt_db_cursor_fn fn, void *arg, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = NULL;
    if (lt_db_sqlite_prepare(self->db,
                             "SELECT dataset, table_name, change_id FROM lt_source_cursor "
                             "ORDER BY dataset",
                             &st, err, errlen))
        return -1;
    int step = SQLITE_DONE, rc = 0;
    while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
        lt_db_cursor_row_t r = {.dataset = s_text0(st, 0),
                                .table = s_text0(st, 1),
                                .change_id = sqlite3_column_int64(st, 2)};
        rc = fn(arg, &r);
    }
    if (rc == 0 && step != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read lt_source_cursor: %s", sqlite3_errmsg(self->db));
        rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Runs a statement with one text parameter; *changed the rows it changed. */
static int s_by_name(s_db_t *self, const char *sql, const char *name, int *changed,
                     const char *what, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (lt_db_sqlite_prepare(self->db, sql, &st, err, errlen))
        return -1;
    int step = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                              : SQLITE_ERROR;
    if (step != SQLITE_DONE)
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(self->db));
    else if (changed)
        *changed = sqlite3_changes(self->db);
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? 0 : -1;
}

static int s_cursor_forget(void *impl, const char *name, int *found, char *err, size_t errlen)
{
    s_db_t *self = impl;
    *found = 0;
    return s_by_name(self, "DELETE FROM lt_source_cursor WHERE dataset = ?1", name, found,
                     "cannot update lt_source_cursor", err, errlen) ||
                   s_by_name(self, "DELETE FROM lt_rejects WHERE dataset = ?1", name, NULL,
                             "cannot update lt_rejects", err, errlen)
               ? -1
               : 0;
}

/* The triggers s_sql_triggers and s_sql_replace make on `table`, and its
 * keys in lt_changes (lt_db_capture_drop). */
static int s_capture_drop(void *impl, const char *table, int *dropped, char *err, size_t errlen)
{
    s_db_t *self = impl;
    int named = 0, changes = 0;
    *dropped = 0;
    if (s_exists(self, "SELECT 1 FROM lt_source_cursor WHERE table_name = ?1", table, &named, err,
                 errlen) ||
        s_table_exists(self, "lt_changes", &changes, err, errlen))
        return -1;
    if (named)
        return 0;
    if (s_drop_triggers(self, table, err, errlen))
        return -1;
    if (changes && s_by_name(self, "DELETE FROM lt_changes WHERE table_name = ?1", table, NULL,
                             "cannot update lt_changes", err, errlen))
        return -1;
    *dropped = 1;
    return 0;
}

/* ---- writes ----------------------------------------------------------- */

static int s_upsert(void *impl, const lt_db_write_t *w, lt_db_fill_fn fill, void *ctx, char *err,
                    size_t errlen)
{
    s_db_t *self = impl;
    s_params_t p = {{&lt_db_sqlite_ops, NULL}, self->st_upsert};
    if (fill(ctx, w, &p.base, err, errlen) != 0) {
        sqlite3_clear_bindings(p.st);
        return -1;
    }
    if (s_step_done(self->db, p.st, "cannot upsert", err, errlen) == 0)
        return 0;
    /* Not the key's (ON CONFLICT takes it): what to do (adapters/README.md,
     * "Sink"). */
    size_t len = strlen(err);
    if (sqlite3_extended_errcode(self->db) == SQLITE_CONSTRAINT_UNIQUE && len + 1 < errlen)
        snprintf(err + len, errlen - len,
                 "; a sink table must have no UNIQUE constraint other than its key_column's: rows "
                 "that swap or pass on a value conflict while they are written (drop the "
                 "constraint)");
    return -1;
}

static int s_remove(void *impl, const char *key, char *err, size_t errlen)
{
    s_db_t *self = impl;
    if (sqlite3_bind_text(self->st_delete, 1, key, -1, SQLITE_STATIC) != SQLITE_OK) {
        snprintf(err, errlen, "cannot delete: %s", sqlite3_errmsg(self->db));
        return -1;
    }
    return s_step_done(self->db, self->st_delete, "cannot delete", err, errlen);
}

static int s_clear(void *impl, char *err, size_t errlen)
{
    s_db_t *self = impl;
    char *sql = sqlite3_mprintf("DELETE FROM \"%w\"", self->table->name);
    char *msg = NULL;
    int rc = sql && sqlite3_exec(self->db, sql, NULL, NULL, &msg) == SQLITE_OK ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "cannot empty table %s: %s", self->table->name,
                 msg ? msg : "out of memory");
    sqlite3_free(msg);
    sqlite3_free(sql);
    return rc;
}

/* ---- rows ------------------------------------------------------------- */

static sqlite3_stmt *s_row_st(const lt_db_row_t *row)
{
    return ((const s_row_t *)row)->st;
}

/* Column i of the row is column off + i of the statement. */
static int s_col(const lt_db_row_t *row, size_t i)
{
    return ((const s_row_t *)row)->off + (int)i;
}

static size_t s_row_count(const lt_db_row_t *row)
{
    return (size_t)(sqlite3_column_count(s_row_st(row)) - s_col(row, 0));
}

static const char *s_row_name(const lt_db_row_t *row, size_t i)
{
    return sqlite3_column_name(s_row_st(row), s_col(row, i));
}

static lt_db_type_t s_row_type(const lt_db_row_t *row, size_t i)
{
    switch (sqlite3_column_type(s_row_st(row), s_col(row, i))) {
    case SQLITE_INTEGER:
        return LT_DB_INTEGER;
    case SQLITE_FLOAT:
        return LT_DB_REAL;
    case SQLITE_TEXT:
        return LT_DB_TEXT;
    case SQLITE_BLOB:
        return LT_DB_BLOB;
    default:
        return LT_DB_NULL;
    }
}

static int64_t s_row_int(const lt_db_row_t *row, size_t i)
{
    return sqlite3_column_int64(s_row_st(row), s_col(row, i));
}

static double s_row_double(const lt_db_row_t *row, size_t i)
{
    return sqlite3_column_double(s_row_st(row), s_col(row, i));
}

static const char *s_row_text(const lt_db_row_t *row, size_t i)
{
    return (const char *)sqlite3_column_text(s_row_st(row), s_col(row, i));
}

static int s_row_blob(const lt_db_row_t *row, size_t i, const void **data, size_t *len)
{
    sqlite3_stmt *st = s_row_st(row);
    /* The pointer first, then its length (SQLite's documented order). A
     * NULL pointer is an empty value, or a failed conversion, which only
     * the connection's error code, read at once, tells apart. */
    *data = sqlite3_column_blob(st, s_col(row, i));
    if (!*data && sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM) {
        *len = 0;
        return -1;
    }
    *len = (size_t)sqlite3_column_bytes(st, s_col(row, i));
    return 0;
}

/* ---- parameters ------------------------------------------------------- */

static sqlite3_stmt *s_params_st(const lt_db_params_t *p)
{
    return ((const s_params_t *)p)->st;
}

/* Column i is parameter ?i+1; values are copied (SQLITE_TRANSIENT). */
static int s_bound(lt_db_params_t *p, int rc)
{
    if (rc == SQLITE_OK)
        return 0;
    p->why = sqlite3_errstr(rc);
    return -1;
}

static int s_param_null(lt_db_params_t *p, size_t i)
{
    return s_bound(p, sqlite3_bind_null(s_params_st(p), (int)i + 1));
}

static int s_param_int(lt_db_params_t *p, size_t i, int64_t v)
{
    return s_bound(p, sqlite3_bind_int64(s_params_st(p), (int)i + 1, v));
}

static int s_param_double(lt_db_params_t *p, size_t i, double v)
{
    /* SQLite stores a NaN bound as a double as NULL, which reads back as
     * absent (0): as text it stays a NaN (lt_rowmap reads it with strtod). */
    if (v != v)
        return s_bound(p, sqlite3_bind_text(s_params_st(p), (int)i + 1, "NaN", -1, SQLITE_STATIC));
    return s_bound(p, sqlite3_bind_double(s_params_st(p), (int)i + 1, v));
}

static int s_param_text(lt_db_params_t *p, size_t i, const char *s)
{
    return s_bound(p, sqlite3_bind_text(s_params_st(p), (int)i + 1, s, -1, SQLITE_TRANSIENT));
}

static int s_param_blob(lt_db_params_t *p, size_t i, const void *data, size_t len)
{
    return s_bound(p, sqlite3_bind_blob64(s_params_st(p), (int)i + 1, data, len, SQLITE_TRANSIENT));
}

const lt_db_ops_t lt_db_sqlite_ops = {
    .name = "sqlite",
    .open = s_open,
    .close = s_close,
    .would = s_would,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .capture_install = s_capture_install,
    .capture_present = s_capture_present,
    .capture_high = s_capture_high,
    .capture_relist = s_capture_relist,
    .read_changes = s_read_changes,
    .last_change = s_last_change,
    .requeue = s_requeue,
    .queue_absent = s_queue_absent,
    .read_row = s_read_row,
    .cursor_load = s_cursor_load,
    .cursor_store = s_cursor_store,
    .shift_load = s_shift_load,
    .shift_store = s_shift_store,
    .history_load = s_history_load,
    .history_store = s_history_store,
    .cursor_list = s_cursor_list,
    .cursor_forget = s_cursor_forget,
    .capture_drop = s_capture_drop,
    .reject = s_reject,
    .reject_count = s_reject_count,
    .reject_kinds = s_reject_kinds,
    .reject_clear = s_reject_clear,
    .upsert = s_upsert,
    .remove = s_remove,
    .clear = s_clear,
    .row_count = s_row_count,
    .row_name = s_row_name,
    .row_type = s_row_type,
    .row_int = s_row_int,
    .row_double = s_row_double,
    .row_text = s_row_text,
    .row_blob = s_row_blob,
    .param_null = s_param_null,
    .param_int = s_param_int,
    .param_double = s_param_double,
    .param_text = s_param_text,
    .param_blob = s_param_blob,
};

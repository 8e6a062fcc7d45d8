/* lt_db_sqlite: the SQLite backend of the database seam (lt_db.h,
 * lt_db_backend.h). The only file of the adapters that speaks SQLite.
 *
 * Change capture is trigger-based (adapters/README.md, "Change tracking"):
 * AFTER INSERT/UPDATE/DELETE triggers on the table append the row's key to
 * lt_changes(id AUTOINCREMENT, row_key) in the agency's own transaction, so
 * a change is recorded if and only if the agency's write commits, deletes
 * are seen, and no application has to change. AUTOINCREMENT keeps a change
 * id from being reused after old changes are pruned.
 *
 * Connections: busy_timeout 5000 and synchronous=FULL; a sink also switches
 * to journal_mode=WAL, while a source leaves the agency's journal mode as
 * the agency set it. Statements used per change or per record are prepared
 * once; rare ones (recovery, requeue) are prepared when used. */
#include "lt_db_sqlite.h"
#include "lt_db_backend.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    sqlite3 *db;
    lt_db_role_t role;
    const lt_db_table_t *table; /* lt_db's copy */
    sqlite3_stmt *st_row;       /* current row by key */
    sqlite3_stmt *st_cursor;    /* cursor upsert */
    sqlite3_stmt *st_changes;   /* changes after a cursor (prepared when first used) */
    sqlite3_stmt *st_upsert, *st_delete;
} s_db_t;

/* A row being read, or the values of a row being written: a statement. */
typedef struct {
    lt_db_row_t base;
    sqlite3_stmt *st;
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
                      "CREATE TABLE IF NOT EXISTS lt_source_cursor("
                      "dataset TEXT PRIMARY KEY, change_id INTEGER NOT NULL)",
                      "SELECT change_id FROM lt_source_cursor WHERE dataset = ?1",
                      "INSERT INTO lt_source_cursor(dataset, change_id) VALUES (?1, ?2) "
                      "ON CONFLICT(dataset) DO UPDATE SET change_id = excluded.change_id"},
    [LT_DB_SINK] = {"lt_sink_cursor",
                    "CREATE TABLE IF NOT EXISTS lt_sink_cursor("
                    "stream TEXT PRIMARY KEY, seq INTEGER NOT NULL)",
                    "SELECT seq FROM lt_sink_cursor WHERE stream = ?1",
                    "INSERT INTO lt_sink_cursor(stream, seq) VALUES (?1, ?2) "
                    "ON CONFLICT(stream) DO UPDATE SET seq = excluded.seq"},
};

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

static int s_check_wal(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (lt_db_sqlite_prepare(db, "PRAGMA journal_mode=WAL", &st, err, errlen))
        return -1;
    const unsigned char *mode = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    if (mode && strcmp((const char *)mode, "wal") == 0)
        rc = 0;
    else
        snprintf(err, errlen, "cannot switch to WAL mode: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

static int s_pragmas(sqlite3 *db, int wal, char *why, size_t cap)
{
    if (sqlite3_busy_timeout(db, 5000) != SQLITE_OK) {
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

static char *s_sql_select(sqlite3 *db, const lt_db_table_t *t)
{
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendall(s, "SELECT ");
    s_add_columns(s, t);
    sqlite3_str_appendf(s, " FROM \"%w\" WHERE \"%w\" = ?1", t->name, s_key(t));
    return s_sql_done(s);
}

/* INSERT ... ON CONFLICT(key) DO UPDATE SET c = excluded.c for every other
 * column, so applying a record twice gives the same row. */
static char *s_sql_upsert(sqlite3 *db, const lt_db_table_t *t)
{
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendf(s, "INSERT INTO \"%w\" (", t->name);
    s_add_columns(s, t);
    sqlite3_str_appendall(s, ") VALUES (");
    for (size_t i = 0; i < t->n_columns; i++)
        sqlite3_str_appendf(s, "%s?%d", i ? ", " : "", (int)i + 1); /* no %zu in SQLite */
    sqlite3_str_appendf(s, ") ON CONFLICT(\"%w\") DO ", s_key(t));
    if (t->n_columns == 1)
        sqlite3_str_appendall(s, "NOTHING");
    for (size_t i = 0, first = 1; i < t->n_columns; i++) {
        if (i == t->key)
            continue;
        sqlite3_str_appendf(s, "%s\"%w\" = excluded.\"%w\"", first ? "UPDATE SET " : ", ",
                            t->columns[i], t->columns[i]);
        first = 0;
    }
    return s_sql_done(s);
}

static char *s_sql_delete(sqlite3 *db, const lt_db_table_t *t)
{
    return sqlite3_mprintf("DELETE FROM \"%w\" WHERE \"%w\" = ?1", t->name, s_key(t));
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

/* DROP + CREATE of the three triggers; new changes go to lt_changes. An
 * update appends the old key when the key changed, and nothing when only
 * unmapped columns changed (UPDATE OF the mapped columns). */
static char *s_sql_triggers(sqlite3 *db, const lt_db_table_t *t)
{
    const char *n = t->name, *k = s_key(t);
    sqlite3_str *s = sqlite3_str_new(db);
    sqlite3_str_appendf(s,
                        "DROP TRIGGER IF EXISTS \"lt_%w_insert\";"
                        "DROP TRIGGER IF EXISTS \"lt_%w_update\";"
                        "DROP TRIGGER IF EXISTS \"lt_%w_delete\";"
                        "CREATE TRIGGER \"lt_%w_insert\" AFTER INSERT ON \"%w\" BEGIN "
                        " INSERT INTO lt_changes(row_key) SELECT NEW.\"%w\""
                        " WHERE NEW.\"%w\" IS NOT NULL; END;"
                        "CREATE TRIGGER \"lt_%w_update\" AFTER UPDATE OF ",
                        n, n, n, n, n, k, k, n);
    s_add_columns(s, t);
    sqlite3_str_appendf(s,
                        " ON \"%w\" BEGIN "
                        " INSERT INTO lt_changes(row_key) SELECT OLD.\"%w\""
                        "  WHERE OLD.\"%w\" IS NOT NULL AND OLD.\"%w\" IS NOT NEW.\"%w\";"
                        " INSERT INTO lt_changes(row_key) SELECT NEW.\"%w\""
                        " WHERE NEW.\"%w\" IS NOT NULL; END;"
                        "CREATE TRIGGER \"lt_%w_delete\" AFTER DELETE ON \"%w\" BEGIN "
                        " INSERT INTO lt_changes(row_key) SELECT OLD.\"%w\""
                        " WHERE OLD.\"%w\" IS NOT NULL; END;",
                        n, k, k, k, k, k, k, n, n, k, k);
    return s_sql_done(s);
}

/* A new change table starts every cursor again and lists every existing
 * row, so that the first run publishes the whole table. */
static char *s_sql_seed(const lt_db_table_t *t)
{
    const char *k = s_key(t);
    return sqlite3_mprintf("UPDATE lt_source_cursor SET change_id = 0;"
                           "INSERT INTO lt_changes(row_key) SELECT \"%w\" FROM \"%w\""
                           " WHERE \"%w\" IS NOT NULL ORDER BY \"%w\";",
                           k, t->name, k, k);
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

/* Prepares what the role needs for the table (see lt_db_connect). */
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
    if (lt_db_sqlite_exec(self->db, s_cursor[self->role].create, what, err, errlen) ||
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

static void *s_open(const char *path, lt_db_role_t role, const lt_db_table_t *table, int create,
                    char *err, size_t errlen)
{
    s_db_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->role = role;
    self->table = table;
    self->db = lt_db_sqlite_open(path, role == LT_DB_SINK, err, errlen);
    if (self->db && s_use_table(self, create, err, errlen) == 0)
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

static int s_table_exists(s_db_t *self, const char *name, int *exists, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (lt_db_sqlite_prepare(self->db,
                             "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", &st,
                             err, errlen))
        return -1;
    int rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                            : SQLITE_ERROR;
    *exists = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        snprintf(err, errlen, "cannot read the schema: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static int s_capture_present(void *impl, int *present, char *err, size_t errlen)
{
    return s_table_exists(impl, "lt_changes", present, err, errlen);
}

/* Runs the installation in the open transaction; *existed says whether the
 * change table was there before. */
static int s_install(s_db_t *self, const char *triggers, const char *seed, int *existed, char *err,
                     size_t errlen)
{
    if (s_table_exists(self, "lt_changes", existed, err, errlen) ||
        lt_db_sqlite_exec(self->db,
                          "CREATE TABLE IF NOT EXISTS lt_changes("
                          "id INTEGER PRIMARY KEY AUTOINCREMENT, row_key TEXT NOT NULL)",
                          "cannot create lt_changes", err, errlen) ||
        lt_db_sqlite_exec(self->db, triggers, "cannot create the triggers", err, errlen))
        return -1;
    if (!*existed &&
        lt_db_sqlite_exec(self->db, seed, "cannot list the existing rows", err, errlen))
        return -1;
    return 0;
}

static int s_capture_install(void *impl, int *created, char *err, size_t errlen)
{
    s_db_t *self = impl;
    int existed = 0, rc = -1;
    char *triggers = s_sql_triggers(self->db, self->table), *seed = s_sql_seed(self->table);
    if (!triggers || !seed) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (lt_db_sqlite_exec(self->db, "BEGIN IMMEDIATE", "cannot begin the installation", err,
                          errlen))
        goto out;
    if (s_install(self, triggers, seed, &existed, err, errlen) ||
        lt_db_sqlite_exec(self->db, "COMMIT", "cannot commit the installation", err, errlen)) {
        s_rollback(self);
        goto out;
    }
    *created = !existed;
    rc = 0;
out:
    sqlite3_free(triggers);
    sqlite3_free(seed);
    return rc;
}

/* Calls fn for each row of the stepped statement; returns the count or -1. */
static long s_each_change(s_db_t *self, sqlite3_stmt *st, lt_db_change_fn fn, void *arg, char *err,
                          size_t errlen)
{
    long n = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(st, 0);
        const char *key = (const char *)sqlite3_column_text(st, 1);
        if (!key) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (fn(arg, id, key, err, errlen) != 0)
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
    if (!self->st_changes &&
        lt_db_sqlite_prepare(self->db,
                             "WITH b AS (SELECT id, row_key FROM lt_changes WHERE id > ?1 "
                             "ORDER BY id LIMIT ?2) "
                             "SELECT MAX(id), row_key FROM b GROUP BY row_key ORDER BY 1",
                             &self->st_changes, err, errlen))
        return -1;
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

/* Prepares sql, binds ?1 = a and ?2 = b when sql has them, and steps once.
 * Returns the step's result code, or SQLITE_ERROR with err set. */
static int s_once(s_db_t *self, const char *sql, int64_t a, int64_t b, sqlite3_stmt **st, char *err,
                  size_t errlen)
{
    if (lt_db_sqlite_prepare(self->db, sql, st, err, errlen))
        return SQLITE_ERROR;
    int params = sqlite3_bind_parameter_count(*st);
    if ((params >= 1 && sqlite3_bind_int64(*st, 1, a) != SQLITE_OK) ||
        (params >= 2 && sqlite3_bind_int64(*st, 2, b) != SQLITE_OK))
        return SQLITE_ERROR;
    return sqlite3_step(*st);
}

static int s_last_change(void *impl, int64_t *id, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = NULL;
    int rc = s_once(self, "SELECT COALESCE(MAX(id), 0) FROM lt_changes", 0, 0, &st, err, errlen);
    if (rc == SQLITE_ROW)
        *id = sqlite3_column_int64(st, 0);
    else if (st)
        snprintf(err, errlen, "cannot read lt_changes: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int s_requeue(void *impl, int64_t after, int64_t through, char *err, size_t errlen)
{
    s_db_t *self = impl;
    sqlite3_stmt *st = NULL;
    int rc = s_once(self,
                    "INSERT INTO lt_changes(row_key) SELECT row_key FROM lt_changes"
                    " WHERE id > ?1 AND id <= ?2 GROUP BY row_key ORDER BY MAX(id)",
                    after, through, &st, err, errlen);
    if (rc != SQLITE_DONE && st)
        snprintf(err, errlen, "cannot queue the changes again: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
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
        s_row_t row = {{&lt_db_sqlite_ops}, st};
        rc = fn(arg, &row.base, err, errlen) == 0 ? 1 : -1;
    } else
        snprintf(err, errlen, "cannot read table %s: %s", self->table->name,
                 sqlite3_errmsg(self->db));
out:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
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
    char what[64];
    snprintf(what, sizeof what, "cannot update %s", s_cursor[self->role].table);
    if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, value) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(self->db));
        sqlite3_clear_bindings(st);
        return -1;
    }
    if (s_step_done(self->db, st, what, err, errlen) != 0)
        return -1;
    if (self->role != LT_DB_SOURCE)
        return 0;
    /* Changes every dataset's cursor has passed are needed no more. */
    return lt_db_sqlite_exec(self->db,
                             "DELETE FROM lt_changes WHERE id <= "
                             "(SELECT MIN(change_id) FROM lt_source_cursor)",
                             "cannot prune lt_changes", err, errlen);
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
    return s_step_done(self->db, p.st, "cannot upsert", err, errlen);
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

/* ---- rows ------------------------------------------------------------- */

static sqlite3_stmt *s_row_st(const lt_db_row_t *row)
{
    return ((const s_row_t *)row)->st;
}

static size_t s_row_count(const lt_db_row_t *row)
{
    return (size_t)sqlite3_column_count(s_row_st(row));
}

static const char *s_row_name(const lt_db_row_t *row, size_t i)
{
    return sqlite3_column_name(s_row_st(row), (int)i);
}

static lt_db_type_t s_row_type(const lt_db_row_t *row, size_t i)
{
    switch (sqlite3_column_type(s_row_st(row), (int)i)) {
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
    return sqlite3_column_int64(s_row_st(row), (int)i);
}

static double s_row_double(const lt_db_row_t *row, size_t i)
{
    return sqlite3_column_double(s_row_st(row), (int)i);
}

static const char *s_row_text(const lt_db_row_t *row, size_t i)
{
    return (const char *)sqlite3_column_text(s_row_st(row), (int)i);
}

static const void *s_row_blob(const lt_db_row_t *row, size_t i, size_t *len)
{
    /* The pointer first, then its length (SQLite's documented order). */
    const void *p = sqlite3_column_blob(s_row_st(row), (int)i);
    *len = (size_t)sqlite3_column_bytes(s_row_st(row), (int)i);
    return p;
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
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .capture_install = s_capture_install,
    .capture_present = s_capture_present,
    .read_changes = s_read_changes,
    .last_change = s_last_change,
    .requeue = s_requeue,
    .read_row = s_read_row,
    .cursor_load = s_cursor_load,
    .cursor_store = s_cursor_store,
    .upsert = s_upsert,
    .remove = s_remove,
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

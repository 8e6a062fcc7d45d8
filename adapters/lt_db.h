/* lt_db: the adapters' database seam. The source and sink adapters and the
 * row mapping reach an agency database only through this interface; each
 * backend is one file that fills a table of operations (lt_db_backend.h):
 * lt_db_sqlite.c and lt_db_pg.c (PostgreSQL, libpq).
 *
 * The backend is chosen by the form of the adapter's `database` setting:
 *   - a file path is a SQLite database (relative to the configuration
 *     file's directory);
 *   - a URI "postgresql://..." or "postgres://...", or a keyword=value
 *     connection string ("host=... dbname=..."), names a PostgreSQL
 *     database (libpq also reads the PG* environment variables and
 *     ~/.pgpass). (A SQLite file whose name looks like keyword=value can be
 *     written "./name".) The setting is never repeated in a message: it may
 *     hold a password.
 *
 * Rows are read through an accessor (lt_db_row_*) and written through
 * parameter setters (lt_db_param_*), so the row mapping never sees a
 * backend's statement type. Each value has one of five types; a backend
 * that returns text-format values (libpq) maps its column types onto them
 * and converts the text on access.
 *
 * Functions that can fail return 0 (or a count) on success and -1 with
 * err set to a message that names what failed, never a row's values. */
#ifndef LT_DB_H
#define LT_DB_H

#include <stddef.h>
#include <stdint.h>

#include "lt_err.h"

typedef struct lt_db_t lt_db_t;
/* One row being read (valid only inside the callback that receives it). */
typedef struct lt_db_row_t lt_db_row_t;
/* The values of one row being written (inside the fill callback). */
typedef struct lt_db_params_t lt_db_params_t;

/* 1 when `database` names a SQLite file, 0 when a PostgreSQL database
 * (see above). */
int lt_db_is_file(const char *database);

/* What the adapter does with the database: it decides the cursor table
 * (lt_source_cursor or lt_sink_cursor) and the connection settings (a SQLite
 * sink switches to WAL; a source leaves the agency's journal mode alone). */
typedef enum { LT_DB_SOURCE, LT_DB_SINK } lt_db_role_t;

/* The type of a value (SQLite's storage classes); LT_DB_UINT64 only as the
 * type a sink creates a column with, for an unsigned 64-bit field: a column
 * that keeps every value exactly (values above INT64_MAX go as decimal
 * text, which an integer column would round or refuse). */
typedef enum {
    LT_DB_NULL,
    LT_DB_INTEGER,
    LT_DB_REAL,
    LT_DB_TEXT,
    LT_DB_BLOB,
    LT_DB_UINT64
} lt_db_type_t;

/* The adapter's table: its mapped columns in mapping order, which of them
 * is the key (PRIMARY KEY or UNIQUE), and the type each column gets when
 * the sink creates the table. */
typedef struct {
    const char *name;
    size_t n_columns;
    const char *const *columns;
    const lt_db_type_t *types;
    size_t key; /* index into columns */
} lt_db_table_t;

/* ---- connection ---- */

/* lt_db_connect's `create`: a set of these flags. */
#define LT_DB_CREATE 1 /* a sink creates its table when it is missing */
/* A sink's or a source's --check: changes nothing. A SQLite file is opened
 * read-only (no switch to WAL, nothing created or added); PostgreSQL does
 * its setup in a transaction it rolls back. What would be created is told
 * by lt_db_would. */
#define LT_DB_CHECK 2

/* Connects to the database named by `database` (the setting as written;
 * see above), relative to the directory of `config_file` (NULL: the
 * working directory), and declares the adapter's table (copied). Prepares
 * what the role needs: creates the role's cursor table; for a sink, creates
 * the table first with LT_DB_CREATE, and checks that the table can take
 * upserts by key. NULL on failure with err set. */
lt_db_t *lt_db_connect(const char *database, const char *config_file, lt_db_role_t role,
                       const lt_db_table_t *table, int create, char *err, size_t errlen);

/* What a connection with LT_DB_CHECK found missing, that a real one
 * creates or adds (a set of these flags; 0 for any other connection).
 * COLUMN: the sink's history, or a source's table_name, shift or
 * acked_shift. */
#define LT_DB_WOULD_TABLE   1  /* a sink's table (LT_DB_CREATE) */
#define LT_DB_WOULD_CURSOR  2  /* the role's cursor table */
#define LT_DB_WOULD_COLUMN  4  /* a column of the cursor table */
#define LT_DB_WOULD_REJECTS 8  /* a source's lt_rejects */
#define LT_DB_WOULD_CHANGES 16 /* lt_changes' table_name column (SQLite) */
int lt_db_would(const lt_db_t *self);
/* Closes the connection and sets *self_p to NULL; safe on NULL or *NULL. */
void lt_db_destroy(lt_db_t **self_p);
/* The database for messages: a SQLite file's resolved path, or
 * "PostgreSQL database NAME on HOST:PORT as USER" (never a password). */
const char *lt_db_name(const lt_db_t *self);

/* ---- transactions ---- */

/* Begins a read transaction, or a write transaction that takes the write
 * lock at once (so it cannot fail half-way for a lock). */
int lt_db_begin(lt_db_t *self, int write, char *err, size_t errlen) LT_NODISCARD;
int lt_db_commit(lt_db_t *self, char *err, size_t errlen) LT_NODISCARD;
/* Rolls back the open transaction, if any. */
void lt_db_rollback(lt_db_t *self);

/* ---- change capture (source) ---- *
 * Every insert, update or delete of a mapped column of the table appends
 * the row's key, with the table's name, to a change list shared by every
 * tracked table of the database, in the agency's own transaction
 * (adapters/README.md, "Change tracking"). Change ids are positive, never
 * reused, and a reader that has seen id N never sees a smaller id appear
 * later: ids follow the order in which changes become readable. */

/* Installs change capture for the table in one transaction. Idempotent:
 * running it again re-creates the capture for the current columns and
 * lists nothing again. When the table's capture is new, every existing key
 * is listed under new ids (*created = 1), so the first run publishes the
 * whole table; when the change list itself is new, every stored cursor
 * starts again from 0. */
int lt_db_capture_install(lt_db_t *self, int *created, char *err, size_t errlen) LT_NODISCARD;
/* The installation as one idempotent SQL script, for a DBA to review and run
 * (malloc'd, the caller frees it); NULL with err when the backend installs
 * only itself (SQLite). */
char *lt_db_capture_script(lt_db_t *self, char *err, size_t errlen);
/* *present = 1 when change capture is installed for the table. */
int lt_db_capture_present(lt_db_t *self, int *present, char *err, size_t errlen) LT_NODISCARD;
/* The highest change id ever issued in the database (any table), including
 * pruned ones; 0 when none. */
int lt_db_capture_high(lt_db_t *self, int64_t *id, char *err, size_t errlen) LT_NODISCARD;
/* Makes committed changes readable under their ids when the backend numbers
 * them after commit (PostgreSQL, see lt_db_pg.c); at most `limit` of them
 * now. *moved is how many were numbered (0 for SQLite, which numbers them at
 * once). In its own transaction: call it outside any. */
int lt_db_capture_sync(lt_db_t *self, size_t limit, size_t *moved, char *err,
                       size_t errlen) LT_NODISCARD;
/* Lists every row of the table again, under new change ids above every id
 * issued; *base is the id just before the first one listed. Runs in the
 * caller's write transaction (lienthong source --resync). */
int lt_db_capture_relist(lt_db_t *self, int64_t *base, char *err, size_t errlen) LT_NODISCARD;

/* Called for each change read, with the table's current row for the key
 * (its mapped columns in mapping order), or NULL when there is no such row
 * (a delete: a tombstone). Returns 0, or -1 with err to stop. */
typedef int (*lt_db_change_fn)(void *arg, int64_t id, const char *key, const lt_db_row_t *row,
                               char *err, size_t errlen);
/* Reads the first `limit` changes of the table with an id above `after` and
 * calls fn for the latest change of each key among them, in id order, with
 * the key's current row, all read together (one statement). Returns the
 * number of calls, or -1. */
long lt_db_read_changes(lt_db_t *self, int64_t after, size_t limit, lt_db_change_fn fn, void *arg,
                        char *err, size_t errlen) LT_NODISCARD;
/* The highest change id of the table in the list (0 when empty). */
int lt_db_last_change(lt_db_t *self, int64_t *id, char *err, size_t errlen) LT_NODISCARD;
/* Lists again, under new change ids, the key of every change of the table
 * with an id in (after, through], once per key. Runs in the caller's
 * transaction. */
int lt_db_requeue(lt_db_t *self, int64_t after, int64_t through, char *err,
                  size_t errlen) LT_NODISCARD;

/* What lt_db_queue_absent found of each key. */
enum {
    LT_DB_KEY_HELD = 0,    /* the table has its row */
    LT_DB_KEY_ABSENT = 1,  /* no row: appended, or would be */
    LT_DB_KEY_INVALID = 2, /* no value of the key column's type: no row can
                            * hold it; never appended */
};

/* Source (`lienthong source --reconcile`, adapters/README.md "Reconcile"):
 * looks for the row of each of keys[0..n-1] as lt_db_read_changes looks for
 * a change's row, and sets found[i] (LT_DB_KEY_*). With append set, appends
 * to the change list, as the capture appends the key of a deleted row, the
 * absent keys, in keys order (so that reading the change then finds no row,
 * and publishes a tombstone). Runs in the caller's transaction (a write
 * transaction when append is set; a dry run rolls it back). */
int lt_db_queue_absent(lt_db_t *self, const char *const *keys, size_t n, int append,
                       unsigned char *found, char *err, size_t errlen) LT_NODISCARD;

/* Called with the current row; returns 0, or -1 with err. */
typedef int (*lt_db_row_fn)(void *arg, const lt_db_row_t *row, char *err, size_t errlen);
/* Reads the current row with this key: its mapped columns in mapping order.
 * Returns 1 after fn returned 0, 0 when there is no such row (fn not
 * called), -1 when reading failed or fn failed. */
int lt_db_read_row(lt_db_t *self, const char *key, lt_db_row_fn fn, void *arg, char *err,
                   size_t errlen) LT_NODISCARD;

/* ---- waiting and availability ---- */

/* A file descriptor that becomes readable when the database may have news
 * for the table (PostgreSQL: a NOTIFY from the change capture), or -1 when
 * the backend has none (poll instead). It may change after a reconnection:
 * ask again before each wait. */
int lt_db_wait_fd(lt_db_t *self);
/* Takes what made the descriptor readable; 1 when the table may have new
 * changes (or the connection needs attention), 0 otherwise. */
int lt_db_news(lt_db_t *self);
/* 1 when the last failure was the connection to the database (down,
 * restarting, unreachable): the next call tries to connect again, so the
 * caller should retry later with a back-off. */
int lt_db_lost(const lt_db_t *self);

/* ---- cursors ---- */

/* The stored cursor of a dataset (source) or stream (sink); 0 when none. */
int lt_db_cursor_load(lt_db_t *self, const char *name, int64_t *value, char *err,
                      size_t errlen) LT_NODISCARD;
/* Stores the cursor in the caller's transaction. For a source it also
 * deletes the table's changes that the cursor of every dataset of the
 * table has passed (PostgreSQL: at the first store of a connection, then
 * once the cursor moved 20,000 ids on). */
int lt_db_cursor_store(lt_db_t *self, const char *name, int64_t value, char *err,
                       size_t errlen) LT_NODISCARD;
/* Source: the dataset's epoch shift, added to every change id it publishes
 * (lt_source.c, "Epochs"), and the shift its stored cursor was
 * acknowledged under (the gateway holds cursor + acked); 0 when none is
 * stored, acked = shift for a row stored before the two were kept apart. */
int lt_db_shift_load(lt_db_t *self, const char *name, int64_t *shift, int64_t *acked, char *err,
                     size_t errlen) LT_NODISCARD;
/* Stores both in the caller's transaction, after the dataset's cursor. */
int lt_db_shift_store(lt_db_t *self, const char *name, int64_t shift, int64_t acked, char *err,
                      size_t errlen) LT_NODISCARD;

/* Sink: the history of the stream's cursor (PROTOCOL.md 6.9, 8.2), as
 * lower-case hex text of LT_DB_HISTORY_HEX - 1 digits, kept in the cursor
 * table's `history` column (added to a table from before it; NULL there:
 * unknown). "" when none is stored. */
#define LT_DB_HISTORY_HEX 33
int lt_db_history_load(lt_db_t *self, const char *name, char hex[LT_DB_HISTORY_HEX], char *err,
                       size_t errlen) LT_NODISCARD;
/* Stores it ("" as NULL: none) in the caller's transaction, with a cursor
 * row at 0 when the stream has none yet. */
int lt_db_history_store(lt_db_t *self, const char *name, const char *hex, char *err,
                        size_t errlen) LT_NODISCARD;

/* Source: one row of the cursor table, of any table's dataset. */
typedef struct {
    const char *dataset;
    const char *table; /* "" when a row of an old version names none */
    int64_t change_id;
} lt_db_cursor_row_t;
/* Called per row; nonzero stops the listing and is returned. */
typedef int (*lt_db_cursor_fn)(void *arg, const lt_db_cursor_row_t *row);
/* Source: every row of the cursor table, in dataset order. Outside a
 * transaction or in the caller's. */
int lt_db_cursor_list(lt_db_t *self, lt_db_cursor_fn fn, void *arg, char *err,
                      size_t errlen) LT_NODISCARD;
/* Source: deletes a dataset's cursor row and its rejects in the caller's
 * transaction, so that its table's changes are pruned without it;
 * *found 1 when it had a row. */
int lt_db_cursor_forget(lt_db_t *self, const char *name, int *found, char *err,
                        size_t errlen) LT_NODISCARD;
/* Source: once no cursor row names `table` (any table of the database, not
 * only this connection's), removes its change capture in the caller's write
 * transaction: its triggers (PostgreSQL: its trigger function, whose
 * triggers go with it) and its keys in the change list (PostgreSQL: and in
 * lt_pending), so that writes to a table no dataset reads no longer grow a
 * list that nothing prunes. *dropped 1 when removed, 0 when a cursor row
 * still names the table (nothing done). PostgreSQL: needs the rights of
 * the role that installed the capture. */
int lt_db_capture_drop(lt_db_t *self, const char *table, int *dropped, char *err,
                       size_t errlen) LT_NODISCARD;

/* ---- rejects (source, PROTOCOL.md 5.7) ---- */

/* The table lt_rejects keeps, per dataset, key and kind, the reasons the
 * row was last refused ("rule": by the owner's gateway; "reference": a
 * reference check failed; "mapping": the source could not convert the row
 * into a record), the change's source cursor, when it was first and last
 * refused and how many times. It is created with the cursor table. */
typedef struct {
    const char *dataset, *key;
    const char *kind;    /* "rule", "reference" or "mapping" */
    const char *reasons; /* why it was refused; never NULL */
    const char *cursor;  /* the change's source cursor */
    const char *at;      /* UTC time, "YYYY-MM-DDTHH:MM:SSZ" */
} lt_db_reject_t;

/* Records one reject, in the caller's write transaction. r->reasons must
 * not be NULL (a programmer error, asserted): a row that passed has its
 * rejects removed by lt_db_reject_clear. */
int lt_db_reject(lt_db_t *self, const lt_db_reject_t *r, char *err, size_t errlen) LT_NODISCARD;
/* The kinds of reject a row holds, as a mask of LT_DB_REJECT_* (a source
 * asks whether a row is a mapping reject already). */
#define LT_DB_REJECT_MAPPING   1u
#define LT_DB_REJECT_RULE      2u
#define LT_DB_REJECT_REFERENCE 4u
int lt_db_reject_kinds(lt_db_t *self, const char *dataset, const char *key, unsigned *kinds,
                       char *err, size_t errlen) LT_NODISCARD;
/* Removes the rejects of the kinds in mask `kinds` (LT_DB_REJECT_*) that
 * the row of key holds, in one statement in the caller's write
 * transaction: a row without any has nothing written. *cleared is the
 * number removed (0 to 3). */
int lt_db_reject_clear(lt_db_t *self, const char *dataset, const char *key, unsigned kinds,
                       int *cleared, char *err, size_t errlen) LT_NODISCARD;
/* The number of rejects kept for a dataset. */
int lt_db_reject_count(lt_db_t *self, const char *dataset, int64_t *n, char *err,
                       size_t errlen) LT_NODISCARD;

/* ---- writing (sink) ---- */

/* One row to write: the row with this key is deleted, or upserted with the
 * values that the fill callback sets from `arg`. */
typedef struct {
    const char *key;
    int deleted;
    const void *arg;
} lt_db_write_t;

/* Sets every column of one upsert (lt_db_param_*, column i in table
 * order). Returns 0, or -1 with err. */
typedef int (*lt_db_fill_fn)(void *ctx, const lt_db_write_t *w, lt_db_params_t *params, char *err,
                             size_t errlen);

/* In ONE write transaction: writes w[0..n-1] (the result is that of
 * writing them in order: a backend may collapse several writes of one key
 * into the last and write many rows per statement), then stores cursor
 * `name` = `value`, and commits; on any failure nothing is kept. *failed is
 * the index of the write that failed, or n when the failure was not one
 * write's (begin, a statement of several rows, cursor, commit). */
int lt_db_apply(lt_db_t *self, const lt_db_write_t *w, size_t n, lt_db_fill_fn fill, void *ctx,
                const char *name, int64_t value, size_t *failed, char *err,
                size_t errlen) LT_NODISCARD;

/* A replacement of the whole table (PROTOCOL.md 8.2), in a write
 * transaction the caller opened with lt_db_begin and ends with lt_db_commit
 * (or lt_db_rollback, which keeps the table as it was): lt_db_clear deletes
 * every row, then lt_db_write writes w[0..n-1] and stores cursor `name` =
 * `value` as lt_db_apply does, without committing. *failed as in
 * lt_db_apply. */
int lt_db_clear(lt_db_t *self, char *err, size_t errlen) LT_NODISCARD;
int lt_db_write(lt_db_t *self, const lt_db_write_t *w, size_t n, lt_db_fill_fn fill, void *ctx,
                const char *name, int64_t value, size_t *failed, char *err,
                size_t errlen) LT_NODISCARD;

/* ---- reading a row ---- *
 * Columns are numbered from 0. Call lt_db_row_type before the other
 * accessors of a column: they may convert the value. Text and blob
 * pointers are valid until the callback returns. */

size_t lt_db_row_count(const lt_db_row_t *row);
const char *lt_db_row_name(const lt_db_row_t *row, size_t i);
lt_db_type_t lt_db_row_type(const lt_db_row_t *row, size_t i);
int lt_db_row_null(const lt_db_row_t *row, size_t i);
int64_t lt_db_row_int(const lt_db_row_t *row, size_t i);
double lt_db_row_double(const lt_db_row_t *row, size_t i);
/* NUL-terminated text; NULL for a NULL value or when out of memory. */
const char *lt_db_row_text(const lt_db_row_t *row, size_t i);
/* The bytes of a BLOB (or TEXT) value in *data: NULL with *len 0 when
 * empty. Returns 0, or -1 when the backend could not produce them (out of
 * memory): an empty value and a failure must not look alike. */
int lt_db_row_blob(const lt_db_row_t *row, size_t i, const void **data, size_t *len) LT_NODISCARD;

/* ---- writing a row ---- *
 * Each setter copies its value and returns 0, or -1 (the reason is then
 * lt_db_params_error). */

int lt_db_param_null(lt_db_params_t *p, size_t i);
int lt_db_param_int(lt_db_params_t *p, size_t i, int64_t v);
int lt_db_param_double(lt_db_params_t *p, size_t i, double v);
int lt_db_param_text(lt_db_params_t *p, size_t i, const char *s);
int lt_db_param_blob(lt_db_params_t *p, size_t i, const void *data, size_t len);
/* Why the last setter failed. */
const char *lt_db_params_error(const lt_db_params_t *p);

#endif

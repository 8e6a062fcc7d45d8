/* lt_db_sqlite: the SQLite backend of the database seam (lt_db.h). The
 * adapters reach it through lt_db only; these helpers are for code that
 * speaks SQLite itself (the demo data generator), so that it opens agency
 * databases with the same settings as the adapters. */
#ifndef LT_DB_SQLITE_H
#define LT_DB_SQLITE_H

#include <stddef.h>

struct sqlite3;
struct sqlite3_stmt;

/* Opens (creating if missing) the database with busy_timeout 5000 and
 * synchronous=FULL; also journal_mode=WAL when `wal`. NULL with err. */
struct sqlite3 *lt_db_sqlite_open(const char *path, int wal, char *err, size_t errlen);
/* Runs SQL without results. Returns 0, or -1 with err "what: sqlite message". */
int lt_db_sqlite_exec(struct sqlite3 *db, const char *sql, const char *what, char *err,
                      size_t errlen);
/* Prepares a statement (sql NULL: out of memory). Returns 0, or -1 with err
 * set and *st NULL. */
int lt_db_sqlite_prepare(struct sqlite3 *db, const char *sql, struct sqlite3_stmt **st, char *err,
                         size_t errlen);

#endif

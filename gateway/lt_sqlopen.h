/* lt_sqlopen: opening an SQLite file that came from outside the gateway
 * (an exported audit segment given to `lienthong audit verify --file`, a
 * backup given to `lienthong restore`), so that reading it runs nothing the
 * file's author chose, and comparing its schema with the one the gateway
 * writes before the gateway opens it as its own.
 *
 * A database's schema is part of the file: a crafted one can replace a
 * table by a view, or add triggers, that call SQL functions when the
 * reader only means to SELECT. The connection is therefore defensive
 * (SQLITE_DBCONFIG_DEFENSIVE: the schema cannot be written around) and
 * does not trust the schema (PRAGMA trusted_schema = OFF: views and
 * triggers may call only functions that are harmless anywhere). A restored
 * store or audit log is then opened by the gateway trusting its schema, so
 * lt_store_schema_check and lt_audit_schema_check first hold each object
 * of the file (a row of sqlite_schema: type, name, table and text) against
 * a reference built in memory (lt_sqlopen_schema_diff). */
#ifndef LT_SQLOPEN_H
#define LT_SQLOPEN_H

#include <sqlite3.h>
#include <stddef.h>

#include "lt_err.h"

/* sqlite3_open_v2(path, db, flags, NULL), then hardened as above. Returns
 * an SQLite result code; like sqlite3_open_v2, *db may be set on failure
 * too (for sqlite3_errmsg), and the caller closes it either way. */
int lt_sqlopen_untrusted(const char *path, int flags, sqlite3 **db) LT_NODISCARD;

/* What lt_sqlopen_schema_diff found. */
#define LT_SQLOPEN_SCHEMA_FOREIGN 1 /* db holds an object no reference holds as it is */
#define LT_SQLOPEN_SCHEMA_LACKS   2 /* db lacks an object of refs[0] */

/* Compares the objects of db's schema with those of the n (1 or more)
 * reference databases refs: each object of db, in the order of type and
 * name, must be one of the references holds exactly (type, name, table,
 * text); when exact, each object of refs[0] must be one db holds too.
 * Returns 0 when so; LT_SQLOPEN_SCHEMA_FOREIGN or _LACKS, the first object
 * that is not, named in what as `index "extra"` (a type or name from the
 * file that is long or not plain text is not printed); -1 when a schema
 * cannot be read, with err. */
int lt_sqlopen_schema_diff(sqlite3 *db, sqlite3 *const *refs, size_t n, int exact, char *what,
                           size_t whatlen, char *err, size_t errlen) LT_NODISCARD;

/* The file's PRAGMA user_version into *version, the number of schema
 * steps applied to the store or the audit log (docs/ARCHITECTURE.md 4.1
 * and "Audit log"). 0, or -1 (sqlite3_errmsg(db)). */
int lt_sqlopen_user_version(sqlite3 *db, int *version) LT_NODISCARD;

/* 1 when db holds no object yet (a new file, not an old one from before
 * versioning), else 0. */
int lt_sqlopen_is_empty(sqlite3 *db);

/* One numbered schema step: run in one transaction that also sets
 * user_version to step. 0, or -1 with why. */
typedef int(lt_sqlopen_step_fn)(sqlite3 *db, int step, char *why, size_t len);

#define LT_SQLOPEN_NEWER (-2)

/* Runs the steps after the file's user_version up to latest, each with
 * step(); *from is the version found, -1 for a new, empty file. A file a
 * newer binary wrote is refused with LT_SQLOPEN_NEWER and "<noun> N is
 * newer than this lienthong supports (M)" in why, untouched. 0, or -1 with
 * why. Shared by the store and the audit log (docs/ARCHITECTURE.md 4.1 and
 * "Audit log"). */
int lt_sqlopen_migrate(sqlite3 *db, int latest, lt_sqlopen_step_fn *step, const char *noun,
                       int *from, char *why, size_t len) LT_NODISCARD;

#endif

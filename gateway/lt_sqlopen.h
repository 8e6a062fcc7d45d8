/* lt_sqlopen: opening an SQLite file that came from outside the gateway
 * (an exported audit segment given to `lienthong audit verify --file`, a
 * backup given to `lienthong restore`), so that reading it runs nothing the
 * file's author chose.
 *
 * A database's schema is part of the file: a crafted one can replace a
 * table by a view, or add triggers, that call SQL functions when the
 * reader only means to SELECT. The connection is therefore defensive
 * (SQLITE_DBCONFIG_DEFENSIVE: the schema cannot be written around) and
 * does not trust the schema (PRAGMA trusted_schema = OFF: views and
 * triggers may call only functions that are harmless anywhere). */
#ifndef LT_SQLOPEN_H
#define LT_SQLOPEN_H

#include <sqlite3.h>

/* sqlite3_open_v2(path, db, flags, NULL), then hardened as above. Returns
 * an SQLite result code; like sqlite3_open_v2, *db may be set on failure
 * too (for sqlite3_errmsg), and the caller closes it either way. */
int lt_sqlopen_untrusted(const char *path, int flags, sqlite3 **db)
    __attribute__((warn_unused_result));

#endif

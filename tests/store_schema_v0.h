/* store_schema_v0.h: the schema of the gateway's store.db as the versions
 * before schema versions created it (user_version 0), written out so that
 * tests can build an old store and open it with the current code
 * (tests/unit/test_store.c, tests/integration/test_crash.c). Never change it:
 * it is what old stores on disk hold. */
#ifndef LT_STORE_SCHEMA_V0_H
#define LT_STORE_SCHEMA_V0_H

#define LT_STORE_SCHEMA_V0                                                                         \
    "PRAGMA journal_mode = WAL;"                                                                   \
    "CREATE TABLE IF NOT EXISTS streams ("                                                         \
    "  id INTEGER PRIMARY KEY,"                                                                    \
    "  name TEXT UNIQUE NOT NULL,"                                                                 \
    "  last_seq INTEGER NOT NULL DEFAULT 0,"                                                       \
    "  last_hash BLOB,"                                                                            \
    "  source_cursor INTEGER NOT NULL DEFAULT 0);"                                                 \
    "CREATE TABLE IF NOT EXISTS log (id INTEGER PRIMARY KEY, record BLOB NOT NULL);"               \
    "CREATE TABLE IF NOT EXISTS state ("                                                           \
    "  stream INTEGER NOT NULL, key TEXT NOT NULL, seq INTEGER NOT NULL,"                          \
    "  deleted INTEGER NOT NULL, PRIMARY KEY (stream, key)) WITHOUT ROWID;"

#endif

/* unit_sqlite.h: SQLite helpers shared by the CUnit suites that look into
 * an agency database directly, beside the adapters' database seam
 * (test_db, test_rowmap): run SQL, read one number or one text; damage a
 * record of a gateway store behind its back. */
#ifndef LT_UNIT_SQLITE_H
#define LT_UNIT_SQLITE_H

#include "unit_util.h"

#include <sqlite3.h>

/* Runs SQL that must succeed (the test stops otherwise). */
static inline void ut_sql_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "sql failed: %s: %s\n", sql, msg ? msg : "");
    sqlite3_free(msg);
    CU_ASSERT_FATAL(rc == SQLITE_OK);
}

/* The first column of the one row of a query that must return a row. */
static inline int64_t ut_sql_count(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_step(st) == SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* The same as text, copied into out[cap] ("" for NULL). */
static inline void ut_sql_text(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st = NULL;
    CU_ASSERT_FATAL(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_step(st) == SQLITE_ROW);
    const unsigned char *v = sqlite3_column_text(st, 0);
    snprintf(out, cap, "%s", v ? (const char *)v : "");
    sqlite3_finalize(st);
}

/* Rewrites one byte of the record at seq of the store's stream row
 * `stream` (its id; log row ids are the id above 40 bits of seq) in the
 * store file at path, behind the store's back: its checksum fails, while
 * SQLite's own checks still pass. */
static inline void ut_sql_damage_record(const char *path, int64_t stream, uint64_t seq)
{
    sqlite3 *db = NULL;
    char sql[256];
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    snprintf(sql, sizeof sql,
             "UPDATE log SET record = substr(record, 1, 4) || x'58' || substr(record, 6) "
             "WHERE id = %lld",
             (long long)((stream << 40) | (int64_t)seq));
    ut_sql_exec(db, sql);
    CU_ASSERT_EQUAL(sqlite3_changes(db), 1);
    CU_ASSERT_EQUAL(ut_sql_count(db, "SELECT count(*) FROM pragma_integrity_check "
                                     "WHERE integrity_check = 'ok'"),
                    1);
    sqlite3_close(db);
}

#endif

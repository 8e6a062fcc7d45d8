/* unit_sqlite.h: SQLite helpers shared by the CUnit suites that look into
 * an agency database directly, beside the adapters' database seam
 * (test_db, test_rowmap): run SQL, read one number or one text. */
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

#endif

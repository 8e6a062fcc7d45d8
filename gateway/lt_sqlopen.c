/* lt_sqlopen: opens SQLite files from outside with a hardened connection,
 * and compares their schema with a reference (see lt_sqlopen.h). */
#include "lt_sqlopen.h"
#include "lt_valid.h"

#include <stdio.h>
#include <string.h>

int lt_sqlopen_untrusted(const char *path, int flags, sqlite3 **db)
{
    int rc = sqlite3_open_v2(path, db, flags, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = sqlite3_db_config(*db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
    if (rc != SQLITE_OK)
        return rc;
    return sqlite3_exec(*db, "PRAGMA trusted_schema = OFF", NULL, NULL, NULL);
}

/* ---- the schema of a file from outside ------------------------------------ */

/* 1 when db holds an object exactly as the current row of st (type, name,
 * table, text), 0 when not, -1 on failure. */
static int s_holds(sqlite3 *db, sqlite3_stmt *st)
{
    sqlite3_stmt *q = NULL;
    int rc = -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT 1 FROM sqlite_schema WHERE type = ?1 AND name = ?2 AND "
                           "coalesce(tbl_name, '') = ?3 AND coalesce(sql, '') = ?4",
                           -1, &q, NULL) == SQLITE_OK) {
        int bound = 1;
        for (int i = 0; i < 4; i++)
            bound &= sqlite3_bind_value(q, i + 1, sqlite3_column_value(st, i)) == SQLITE_OK;
        int step = bound ? sqlite3_step(q) : SQLITE_ERROR;
        rc = step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : -1;
    }
    sqlite3_finalize(q);
    return rc;
}

/* Column i of st as text for a message, or instead when it is long or not
 * plain: a name from outside may hold anything, a line feed included. */
static const char *s_shown(sqlite3_stmt *st, int i, const char *instead)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s && strlen(s) <= 64 && lt_valid_plain(s) ? s : instead;
}

/* The first object of from, in the order of type and name, that none of
 * in (n of them) holds: 1 with it named in what, 0 when there is none, -1
 * with err. */
static int s_first_missing(sqlite3 *from, sqlite3 *const *in, size_t n, char *what, size_t whatlen,
                           char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = -1, step, held = 0;
    if (sqlite3_prepare_v2(from,
                           "SELECT type, name, coalesce(tbl_name, ''), coalesce(sql, '') "
                           "FROM sqlite_schema ORDER BY type, name",
                           -1, &st, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot list the schema: %s", sqlite3_errmsg(from));
        return -1;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        held = 0;
        for (size_t i = 0; i < n && !held; i++)
            if ((held = s_holds(in[i], st)) < 0) {
                snprintf(err, errlen, "cannot compare the schema: %s", sqlite3_errmsg(in[i]));
                goto out;
            }
        if (!held)
            break;
    }
    if (step == SQLITE_ROW) {
        snprintf(what, whatlen, "%s \"%s\"", s_shown(st, 0, "an object"),
                 s_shown(st, 1, "(a name not shown)"));
        rc = 1;
    } else if (step != SQLITE_DONE) {
        snprintf(err, errlen, "cannot read the schema: %s", sqlite3_errmsg(from));
    } else {
        rc = 0;
    }
out:
    sqlite3_finalize(st);
    return rc;
}

int lt_sqlopen_schema_diff(sqlite3 *db, sqlite3 *const *refs, size_t n, int exact, char *what,
                           size_t whatlen, char *err, size_t errlen)
{
    int rc = s_first_missing(db, refs, n, what, whatlen, err, errlen);
    if (rc != 0)
        return rc < 0 ? -1 : LT_SQLOPEN_SCHEMA_FOREIGN;
    if (!exact)
        return 0;
    /* A schema that loads holds no two objects of one type and name, so
     * the two sets are equal once each holds the other's objects. */
    rc = s_first_missing(refs[0], &db, 1, what, whatlen, err, errlen);
    return rc < 0 ? -1 : rc ? LT_SQLOPEN_SCHEMA_LACKS : 0;
}

int lt_sqlopen_user_version(sqlite3 *db, int *version)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW)
        *version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

int lt_sqlopen_is_empty(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int empty =
        sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master LIMIT 1", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_DONE;
    sqlite3_finalize(st);
    return empty;
}

int lt_sqlopen_migrate(sqlite3 *db, int latest, lt_sqlopen_step_fn *step, const char *noun,
                       int *from, char *why, size_t len)
{
    int version = 0;
    if (lt_sqlopen_user_version(db, &version) != 0) {
        snprintf(why, len, "cannot read its %s: %s", noun, sqlite3_errmsg(db));
        return -1;
    }
    if (version < 0 || version > latest) {
        snprintf(why, len, "%s %d is newer than this lienthong supports (%d)", noun, version,
                 latest);
        return LT_SQLOPEN_NEWER;
    }
    *from = version == 0 && lt_sqlopen_is_empty(db) ? -1 : version;
    for (int n = version + 1; n <= latest; n++)
        if (step(db, n, why, len) != 0)
            return -1;
    return 0;
}

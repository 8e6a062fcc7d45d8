/* lt_sqlopen: opens SQLite files from outside with a hardened connection
 * (see lt_sqlopen.h). */
#include "lt_sqlopen.h"

#include <stddef.h>

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

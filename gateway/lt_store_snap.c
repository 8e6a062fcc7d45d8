/* lt_store_snap: a read transaction over one stream's state, joined with
 * the log rows holding each key's current version. */
#include "lt_store_snap.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>

struct _lt_store_snap_t {
    int64_t stream;
    sqlite3 *db;
    sqlite3_stmt *rows;
    uint64_t seq;
    int pending;      /* rows is on a row not yet handed out */
    uint64_t damaged; /* seq of the damaged record met, if any */
    int done;
};

/* The state walks its primary key (stream, key) in key order; each row
 * finds its record by the log's rowid. A state row whose log row is missing
 * (a page lost, docs/ARCHITECTURE.md 4.2) comes back with no record and no
 * checksum, so it is reported damaged rather than left out of the snapshot. */
static const char *s_rows_sql =
    "SELECT s.seq, l.record, l.sum FROM state s LEFT JOIN log l ON l.id = ((?1 << ?2) | s.seq) "
    "WHERE s.stream = ?1 AND s.deleted = 0 ORDER BY s.key";

static int s_start(lt_store_snap_t *self, int64_t stream)
{
    sqlite3_stmt *last = NULL;
    int rc = -1;
    /* BEGIN then a first read fixes the snapshot the transaction sees. The
     * walk looks each key's record up in the log: a cache as large as the
     * gateway's own keeps those lookups in memory. */
    if (sqlite3_exec(self->db, "PRAGMA cache_size = -65536", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(self->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, "SELECT last_seq FROM streams WHERE id = ?1", -1, &last,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(self->db, s_rows_sql, -1, &self->rows, NULL) != SQLITE_OK)
        goto out;
    sqlite3_bind_int64(last, 1, stream);
    if (sqlite3_step(last) != SQLITE_ROW)
        goto out;
    self->seq = (uint64_t)sqlite3_column_int64(last, 0);
    sqlite3_bind_int64(self->rows, 1, stream);
    sqlite3_bind_int(self->rows, 2, LT_STORE_SEQ_BITS);
    rc = 0;
out:
    sqlite3_finalize(last);
    return rc;
}

lt_store_snap_t *lt_store_snap_new(lt_store_t *store, int64_t stream, char *err, size_t errlen)
{
    lt_store_snap_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->stream = stream;
    /* Read-write only so that it may use the WAL index; it never writes. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(lt_store_path(store), &self->db, flags, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(self->db, 5000) != SQLITE_OK || s_start(self, stream) != 0) {
        snprintf(err, errlen, "cannot read the state: %s",
                 self->db ? sqlite3_errmsg(self->db) : "out of memory");
        lt_store_snap_destroy(&self);
    }
    return self;
}

void lt_store_snap_destroy(lt_store_snap_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_store_snap_t *self = *self_p;
    sqlite3_finalize(self->rows);
    /* Closing ends the read transaction (nothing was written). */
    sqlite3_close(self->db);
    free(self);
    *self_p = NULL;
}

uint64_t lt_store_snap_seq(const lt_store_snap_t *self)
{
    return self->seq;
}

uint64_t lt_store_snap_damaged(const lt_store_snap_t *self)
{
    return self->damaged;
}

int lt_store_snap_read(lt_store_snap_t *self, size_t max_n, size_t max_bytes, lt_store_rec_fn fn,
                       void *arg)
{
    int n = 0;
    size_t bytes = 0;
    while ((size_t)n < max_n && !self->done) {
        if (!self->pending) {
            int rc = sqlite3_step(self->rows);
            if (rc == SQLITE_DONE) {
                self->done = 1;
                break;
            }
            if (rc != SQLITE_ROW)
                return -1;
            self->pending = 1;
        }
        uint64_t seq = (uint64_t)sqlite3_column_int64(self->rows, 0);
        const void *rec = sqlite3_column_blob(self->rows, 1);
        size_t len = (size_t)sqlite3_column_bytes(self->rows, 1);
        if (n > 0 && bytes + len > max_bytes)
            break; /* kept for the next call */
        /* Checked as every read of the log is (lt_store_read). */
        uint8_t leaf[LT_HASH_BYTES];
        if (!lt_store_sum_ok(self->stream, seq, rec, len, sqlite3_column_blob(self->rows, 2),
                             (size_t)sqlite3_column_bytes(self->rows, 2), leaf)) {
            self->damaged = seq;
            if (n > 0)
                break; /* the sound records before it go first (PROTOCOL.md 6.10) */
            return LT_STORE_DAMAGED;
        }
        if (fn(arg, seq, rec, len, leaf) != 0)
            return -1;
        self->pending = 0;
        bytes += len;
        n++;
    }
    return n;
}

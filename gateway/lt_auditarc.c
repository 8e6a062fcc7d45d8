/* lt_auditarc: exports old audit segments to verifiable files and removes
 * them from the live log without breaking its chain (docs/operations.md,
 * "Audit retention"). */
#include "lt_auditarc.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_log.h"
#include "lt_sqlopen.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REMOVE_CHUNK 5000 /* entries removed per transaction */

static int s_fail(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
    return -1;
}

/* One integer from sql with ?1 = a and ?2 = b, those of them it has; dflt
 * when it yields NULL or no row. */
static int s_int2(sqlite3 *db, const char *sql, int64_t a, int64_t b, int64_t dflt, int64_t *out)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int n = sqlite3_bind_parameter_count(st), rc = SQLITE_OK;
    if (n >= 1)
        rc = sqlite3_bind_int64(st, 1, a);
    if (rc == SQLITE_OK && n >= 2)
        rc = sqlite3_bind_int64(st, 2, b);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL
               ? sqlite3_column_int64(st, 0)
               : dflt;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* One integer from sql with ?1 = a, or dflt when it yields NULL or no row. */
static int s_int(sqlite3 *db, const char *sql, int64_t a, int64_t dflt, int64_t *out)
{
    return s_int2(db, sql, a, 0, dflt, out);
}

/* The segment to export: after the anchor, the leading run of entries
 * older than before_ms, through the newest among them that carries a
 * checkpoint (so the segment's head is signed). The run stops at the
 * first entry not older: entry times are the writing gateway's clock, and
 * one that ran behind times later entries as older than earlier ones,
 * which must not take the earlier ones, recent, out of the live log
 * before the retention (docs/operations.md, "Clocks"). An entry timed
 * after now (beyond LT_AUDIT_CLOCK_STEP_MS) was written while the clock ran ahead:
 * its time is known wrong, so it does not stop the run, where it would
 * hold every later entry in the live log until that time came. *last <
 * *first when there is none. */
static int s_choose(sqlite3 *db, int64_t before_ms, uint64_t *first, uint64_t *last)
{
    int64_t anchor, stop, through, ahead = lt_clock_now_ms() + LT_AUDIT_CLOCK_STEP_MS;
    if (s_int(db, "SELECT seq FROM anchor", 0, 0, &anchor) != 0 ||
        s_int2(db,
               "SELECT seq FROM audit WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM anchor) "
               "AND at_ms >= ?1 AND at_ms <= ?2 ORDER BY seq LIMIT 1",
               before_ms, ahead, INT64_MAX, &stop) != 0 ||
        /* Not at a keys-switched entry: its checkpoint is the previous
         * key's, while the anchor records the next (s_remove). */
        s_int(db,
              "SELECT MAX(c.seq) FROM checkpoints c JOIN audit a ON a.seq = c.seq "
              "WHERE a.seq < ?1 AND a.event IS NOT 'keys-switched'",
              stop, 0, &through) != 0)
        return -1;
    *first = (uint64_t)anchor + 1;
    *last = through > anchor ? (uint64_t)through : (uint64_t)anchor;
    return 0;
}

/* Warns, naming the entry, when the times of the entries from last on go
 * back by more than LT_AUDIT_CLOCK_STEP_MS from one entry to the next: the clock
 * of the gateway that wrote them was wrong on one side of the step, and
 * exports, which stop at the first entry not older than the cut-off
 * (s_choose), keep the entries on both sides in the live log until the
 * later-timed are older than it too. */
static void s_warn_steps(sqlite3 *db, uint64_t last)
{
    char was[LT_CLOCK_UTC_LEN], now[LT_CLOCK_UTC_LEN];
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT b.seq, a.at_ms, b.at_ms FROM audit a JOIN audit b ON "
                           "b.seq = a.seq + 1 WHERE a.seq >= ?1 AND b.at_ms < a.at_ms - ?2 "
                           "ORDER BY b.seq LIMIT 1",
                           -1, &st, NULL) != SQLITE_OK) {
        lt_debug("audit", "audit export: cannot look for steps back of entry times: %s",
                 sqlite3_errmsg(db));
        return;
    }
    sqlite3_bind_int64(st, 1, (int64_t)last);
    sqlite3_bind_int64(st, 2, LT_AUDIT_CLOCK_STEP_MS);
    if (sqlite3_step(st) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0), a = sqlite3_column_int64(st, 1),
                b = sqlite3_column_int64(st, 2);
        lt_warn("audit",
                "audit export: entry %lld is timed %s, %lld s before entry %lld (%s): the "
                "gateway's clock was wrong on one side of that step; an export stops at the "
                "first entry not older than the retention, so the entries on both sides stay "
                "in the live log until the later-timed are older too (docs/operations.md, "
                "\"Clocks\")",
                (long long)seq, lt_clock_utc(b / 1000, now, sizeof now), (long long)(a - b) / 1000,
                (long long)seq - 1, lt_clock_utc(a / 1000, was, sizeof was));
    }
    sqlite3_finalize(st);
}

/* Creates out exclusively: an existing file (an earlier export) is never
 * overwritten. */
static int s_create(const char *out, char *err, size_t errlen)
{
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", out, strerror(errno));
        return -1;
    }
    close(fd);
    return lt_audit_create(out, err, errlen);
}

/* Copies the segment into the attached file x, in one transaction (one
 * consistent read of the live log; the file's commit is synced). */
static int s_copy(sqlite3 *db, const char *member, uint64_t first, uint64_t last, char *err,
                  size_t errlen)
{
    static const char *sql =
        "BEGIN;"
        "CREATE TABLE x.segment (member TEXT NOT NULL, first_seq INTEGER NOT NULL,"
        "  last_seq INTEGER NOT NULL, exported_at_ms INTEGER NOT NULL);"
        "INSERT INTO x.audit (seq, at_ms, event, peer, target, subject, fields, purpose, case_ref,"
        "  detail, hash, application, officer) SELECT seq, at_ms, event, peer, target, subject,"
        "  fields, purpose, case_ref, detail, hash, application, officer FROM main.audit"
        "  WHERE seq >= :first AND seq <= :last;"
        /* the anchor's checkpoint too: the file proves where it chains from */
        "INSERT INTO x.checkpoints SELECT * FROM main.checkpoints"
        "  WHERE seq >= :first - 1 AND seq <= :last;"
        "INSERT INTO x.anchor SELECT * FROM main.anchor;"
        /* from which entry the file binds checkpoints to keys, as the log */
        "INSERT OR REPLACE INTO x.keys_named SELECT * FROM main.keys_named;"
        "INSERT INTO x.segment VALUES (:member, :first, :last, :now);"
        "COMMIT;";
    const char *tail = sql;
    int rc = 0;
    while (rc == 0 && tail && *tail) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK)
            return s_fail(db, "exporting", err, errlen);
        if (!st)
            break;
        int i;
        if ((i = sqlite3_bind_parameter_index(st, ":first")))
            sqlite3_bind_int64(st, i, (int64_t)first);
        if ((i = sqlite3_bind_parameter_index(st, ":last")))
            sqlite3_bind_int64(st, i, (int64_t)last);
        if ((i = sqlite3_bind_parameter_index(st, ":member")))
            sqlite3_bind_text(st, i, member, -1, SQLITE_STATIC);
        if ((i = sqlite3_bind_parameter_index(st, ":now")))
            sqlite3_bind_int64(st, i, lt_clock_now_ms());
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : s_fail(db, "exporting", err, errlen);
        sqlite3_finalize(st);
    }
    if (rc)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Removes the entries at or below the anchor, and the checkpoints below it
 * (the anchor's own signs it), REMOVE_CHUNK at a time in short transactions
 * so that the gateway's commits are not held up. Run after an export
 * anchors, and before each export starts: an earlier removal cut short (a
 * kill, a full disk) is finished then, not left in the live log for good. */
static int s_remove_anchored(sqlite3 *db, char *err, size_t errlen)
{
    char sql[1024], subjects[400] = "";
    /* The subject index's rows of removed entries (lt_audit: the blocks
     * through the anchor's), when the log has the index. */
    sqlite3_stmt *has = NULL;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM subject_blocks, subject_indexed", -1, &has, NULL) ==
        SQLITE_OK)
        snprintf(subjects, sizeof subjects,
                 "DELETE FROM subject_blocks WHERE (block, subject, seq) IN (SELECT block, subject,"
                 "  seq FROM subject_blocks WHERE block <= ((SELECT seq FROM anchor) - 1) /"
                 "  (SELECT block_size FROM subject_indexed) AND seq <= (SELECT seq FROM anchor) "
                 "LIMIT %d);",
                 REMOVE_CHUNK);
    sqlite3_finalize(has);
    snprintf(sql, sizeof sql,
             "BEGIN IMMEDIATE;"
             "DELETE FROM audit WHERE seq IN (SELECT seq FROM audit WHERE seq <= "
             "  (SELECT seq FROM anchor) ORDER BY seq LIMIT %d);"
             "DELETE FROM checkpoints WHERE seq IN (SELECT seq FROM checkpoints WHERE seq < "
             "  (SELECT seq FROM anchor) ORDER BY seq LIMIT %d);"
             "%sCOMMIT;",
             REMOVE_CHUNK, REMOVE_CHUNK, subjects);
    int before;
    do {
        before = sqlite3_total_changes(db);
        if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
            s_fail(db, "removing exported entries (the next export finishes it)", err, errlen);
            sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
    } while (sqlite3_total_changes(db) != before);
    return 0;
}

/* Says in why where the anchor is now that another export moved it from
 * entry first - 1, while this one wrote entries first..last. */
static void s_moved(sqlite3 *db, uint64_t first, uint64_t last, char *why, size_t len)
{
    sqlite3_stmt *st = NULL;
    char now[PATH_MAX + 64] = "none", was[48] = "none";
    if (first > 1)
        snprintf(was, sizeof was, "entry %llu", (unsigned long long)first - 1);
    if (sqlite3_prepare_v2(db, "SELECT seq, exported_to FROM anchor", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
        /* The type asked first: after a conversion it is undefined. */
        int named = sqlite3_column_type(st, 1) == SQLITE_TEXT;
        const unsigned char *to = named ? sqlite3_column_text(st, 1) : NULL;
        snprintf(now, sizeof now, "entry %lld, exported to %s", sqlite3_column_int64(st, 0),
                 to      ? (const char *)to
                 : named ? "(out of memory)"
                         : "a file it does not name");
    }
    sqlite3_finalize(st);
    snprintf(why, len,
             "another export ran meanwhile: the live log's anchor is now %s, no longer %s, "
             "from which this export wrote entries %llu..%llu",
             now, was, (unsigned long long)first, (unsigned long long)last);
}

/* Moves the anchor to the file's signed head (and the key in force after
 * it, which signed its checkpoint), in one write transaction, only from
 * where the export chose its entries: entry first - 1 (none when first is
 * 1). Another export that anchored meanwhile (one that took no lock: an
 * older version) leaves it elsewhere, and moving it then would put it
 * back behind entries already removed, or make two files of the same
 * entries. 0; 1 when it moved, with why; -1 with why. */
static int s_anchor(sqlite3 *db, const char *out, uint64_t first, const lt_audit_report_t *rep,
                    char *why, size_t len)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(why, len, "anchoring: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT OR REPLACE INTO anchor (id, seq, hash, exported_to, at_ms, "
                           "signing_key) SELECT 1, ?1, ?2, ?3, ?4, ?5 "
                           "WHERE COALESCE((SELECT seq FROM anchor), 0) = ?6",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, (int64_t)rep->last);
        sqlite3_bind_blob(st, 2, rep->head, LT_HASH_BYTES, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, out, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, lt_clock_now_ms());
        sqlite3_bind_blob(st, 5, rep->key, LT_KEY_BYTES, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, (int64_t)first - 1);
        if (sqlite3_step(st) == SQLITE_DONE)
            rc = sqlite3_changes(db) == 1 ? 0 : 1;
    }
    sqlite3_finalize(st);
    if (rc == 1)
        s_moved(db, first, rep->last, why, len);
    else if (rc == 0 && sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = -1;
    if (rc == -1)
        snprintf(why, len, "anchoring: %s", sqlite3_errmsg(db));
    if (rc != 0)
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* Records the new anchor (s_anchor), then removes the exported entries and
 * checkpoints. An anchor that cannot be recorded (a full disk, a lock held
 * too long, another export that moved it) leaves the live log as it was,
 * so the file goes too: kept, it would overlap the next export's, which
 * starts from the same anchor, or the other export's, and the two would
 * not join. Once the anchor is recorded the file is the only copy of what
 * it holds, and stays. */
static int s_remove(sqlite3 *db, const char *out, uint64_t first, const lt_audit_report_t *rep,
                    char *err, size_t errlen)
{
    char why[PATH_MAX + 512];
    int rc = s_anchor(db, out, first, rep, why, sizeof why);
    if (rc == 0)
        return s_remove_anchored(db, err, errlen);
    const char *next = rc == 1 ? "export again for what is left older than the retention"
                               : "the next export writes its entries again";
    if (unlink(out) == 0)
        snprintf(err, errlen, "%s; nothing was removed from the live log, and %s was deleted: %s",
                 why, out, next);
    else
        snprintf(err, errlen,
                 "%s; nothing was removed from the live log, but %s could not be deleted (%s): "
                 "delete it, %s",
                 why, out, strerror(errno), next);
    if (rc == 1)
        lt_warn("audit", "audit export: %s", err);
    return -1;
}

/* Copies the segment to out and checks the file; fills rep. */
static int s_write_file(sqlite3 *db, const char *out, const char *member, uint64_t first,
                        uint64_t last, const uint8_t *const *pks, size_t n_pks,
                        lt_audit_report_t *rep, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (s_create(out, err, errlen) != 0)
        return -1;
    int rc = sqlite3_prepare_v2(db, "ATTACH DATABASE ?1 AS x", -1, &st, NULL) == SQLITE_OK &&
                     sqlite3_bind_text(st, 1, out, -1, SQLITE_STATIC) == SQLITE_OK &&
                     sqlite3_step(st) == SQLITE_DONE
                 ? 0
                 : s_fail(db, out, err, errlen);
    sqlite3_finalize(st);
    if (rc == 0) {
        rc = s_copy(db, member, first, last, err, errlen);
        sqlite3_exec(db, "DETACH DATABASE x", NULL, NULL, NULL);
    }
    if (rc == 0 && lt_auditarc_verify(out, pks, n_pks, rep, err, errlen) != 0)
        rc = -1;
    /* The file's name too must survive a crash before the entries leave the
     * live log: its commit synced its content, not the directory. */
    if (rc == 0 && lt_file_sync_dir(out) != 0) {
        snprintf(err, errlen, "cannot sync the directory of %s: %s", out, strerror(errno));
        rc = -1;
    }
    if (rc != 0)
        unlink(out); /* nothing was removed from the live log */
    return rc;
}

#ifdef LT_TEST_HOOKS
static void (*s_race_hook)(void *arg);
static void *s_race_arg;

void lt_auditarc_set_race_hook(void (*fn)(void *arg), void *arg)
{
    s_race_hook = fn;
    s_race_arg = arg;
}
#endif

/* Who holds the export lock at path, as it wrote there (s_lock), into buf;
 * "" when it cannot be read (it is only a hint: the lock decides). */
static void s_holder(const char *path, char *buf, size_t len)
{
    uint8_t *data = NULL;
    size_t size = 0;
    buf[0] = 0;
    if (lt_file_read(path, 1024, &data, &size) != 0)
        return;
    data[strcspn((char *)data, "\n")] = 0;
    if (data[0])
        snprintf(buf, len, " (%s)", (const char *)data);
    free(data);
}

/* The export lock of live (LT_AUDITARC_LOCK_NAME beside it, its path into
 * path[PATH_MAX]), held until s_unlock; it then says who holds it. -1 with
 * err when another export holds it or it cannot be taken. */
static int s_lock(const char *live, const char *out, char *path, char *err, size_t errlen)
{
    char holder[1100];
    if (lt_file_resolve(live, LT_AUDITARC_LOCK_NAME, path, PATH_MAX) != 0) {
        snprintf(err, errlen, "%s: the path of its export lock is too long", live);
        return -1;
    }
    int fd = lt_file_lock(path);
    if (fd < 0 && errno == EWOULDBLOCK) {
        s_holder(path, holder, sizeof holder);
        snprintf(err, errlen,
                 "another audit export of %s is running%s: it holds %s; nothing was exported, "
                 "run this one again once it has finished",
                 live, holder, path);
        lt_warn("audit", "audit export: %s", err);
        return -1;
    }
    if (fd < 0) {
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        return -1;
    }
    /* Names this export for one it refuses; the lock works without it. */
    int w = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (w >= 0) {
        if (dprintf(w, "pid %ld, exporting to %s\n", (long)getpid(), out) < 0)
            lt_debug("audit", "cannot name this export in %s: %s", path, strerror(errno));
        close(w);
    }
    return fd;
}

/* Releases the lock of s_lock, emptied first: what it names is true only
 * while it is held. */
static void s_unlock(int fd, const char *path)
{
    int w = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (w >= 0)
        close(w);
    close(fd);
}

/* One connection for the check and the export, hardened as the check
 * opens a log (lt_audit_check_live, lt_sqlopen.h). *db is set even on
 * failure, for the caller to close. 0, or -1 with err. */
static int s_open_live(const char *live, sqlite3 **db, char *err, size_t errlen)
{
    if (lt_sqlopen_untrusted(live, SQLITE_OPEN_READWRITE, db) != SQLITE_OK ||
        sqlite3_busy_timeout(*db, 5000) != SQLITE_OK) {
        snprintf(err, errlen, "%s: %s", live, *db ? sqlite3_errmsg(*db) : "cannot open");
        return -1;
    }
    return 0;
}

/* The live log db checked (rep) and brought to this version before any
 * entry is chosen, so that only a sound log is exported. 0, or -1 with
 * err. */
static int s_ready_live(sqlite3 *db, const char *live, const uint8_t *const *pks, size_t n_pks,
                        lt_audit_report_t *rep, char *err, size_t errlen)
{
    /* A broken live log is reported, never exported as if it were sound;
     * checked as it is, before it is brought to this version: bringing a
     * log that claims version 1 up binds keys only after its last entry,
     * and with that its anchor recording a key (a log passed off as
     * version 1, docs/ARCHITECTURE.md "Keys and entries") would pass. */
    if (lt_audit_check_snapshot(db, live, pks, n_pks, NULL, rep, err, errlen) != 0)
        return -1;
    /* Brought to this version as a start would, so that it records the
     * key in force at its anchor and the file the entries from which it
     * binds keys (docs/ARCHITECTURE.md, "Audit log"). */
    if (lt_audit_upgrade(db, live, err, errlen) != 0)
        return -1;
    return s_remove_anchored(db, err, errlen);
}

int lt_auditarc_export(const char *live, const char *out, const char *member, int64_t before_ms,
                       const uint8_t *const *pks, size_t n_pks, lt_auditarc_export_t *res,
                       char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    lt_audit_report_t rep;
    int rc = -1;
    memset(res, 0, sizeof *res);
    res->first = 1;
    /* Held from before the entries are chosen until they are removed. */
    char lock_path[PATH_MAX];
    int lock = s_lock(live, out, lock_path, err, errlen);
    if (lock < 0)
        goto out;
    if (s_open_live(live, &db, err, errlen) != 0 ||
        s_ready_live(db, live, pks, n_pks, &rep, err, errlen) != 0)
        goto out;
    if (s_choose(db, before_ms, &res->first, &res->last) != 0) {
        s_fail(db, live, err, errlen);
        goto out;
    }
    s_warn_steps(db, res->last);
    if (res->last < res->first) {
        rc = 0; /* nothing old enough */
        goto out;
    }
    if (s_write_file(db, out, member, res->first, res->last, pks, n_pks, &rep, err, errlen) != 0)
        goto out;
    res->entries = rep.entries;
#ifdef LT_TEST_HOOKS
    if (s_race_hook)
        s_race_hook(s_race_arg);
#endif
    rc = s_remove(db, out, res->first, &rep, err, errlen);
out:
    sqlite3_close(db);
    if (lock >= 0)
        s_unlock(lock, lock_path);
    return rc;
}

/* The segment row of file, open as db: member and the seqs it claims. The
 * file may come from anywhere (`audit verify --file`): db is opened
 * hardened (lt_sqlopen.h), and a row the export could not have written
 * (its columns are NOT NULL) is reported as damaged. */
static int s_segment(sqlite3 *db, const char *file, char *member, size_t len, uint64_t *first,
                     uint64_t *last, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *text;
    int rc = -1;
    if (sqlite3_prepare_v2(db, "SELECT member, first_seq, last_seq FROM segment", -1, &st, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "%s is not an exported audit segment: %s", file, sqlite3_errmsg(db));
    } else if (sqlite3_step(st) != SQLITE_ROW) {
        snprintf(err, errlen, "%s: no segment row", file);
    } else if (sqlite3_column_type(st, 0) != SQLITE_TEXT ||
               sqlite3_column_type(st, 1) != SQLITE_INTEGER ||
               sqlite3_column_type(st, 2) != SQLITE_INTEGER) {
        snprintf(err, errlen,
                 "%s: the segment row is damaged: member, first_seq and last_seq must be text, "
                 "integer and integer (the file was not written by an export, or was altered)",
                 file);
    } else if (!(text = sqlite3_column_text(st, 0))) { /* text, so SQLite ran out of memory */
        snprintf(err, errlen, "%s: cannot read the segment row: out of memory", file);
    } else {
        snprintf(member, len, "%s", (const char *)text);
        *first = (uint64_t)sqlite3_column_int64(st, 1);
        *last = (uint64_t)sqlite3_column_int64(st, 2);
        rc = 0;
    }
    sqlite3_finalize(st);
    return rc;
}

/* file opened read-only and hardened, in a read transaction (one snapshot
 * for all that is read through db). 0, or -1 with err; *db is set either
 * way, for the caller to close. */
static int s_open(const char *file, sqlite3 **db, char *err, size_t errlen)
{
    *db = NULL;
    if (lt_sqlopen_untrusted(file, SQLITE_OPEN_READONLY, db) == SQLITE_OK &&
        sqlite3_exec(*db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK)
        return 0;
    snprintf(err, errlen, "%s is not an exported audit segment: %s", file,
             *db ? sqlite3_errmsg(*db) : "cannot open");
    return -1;
}

int lt_auditarc_member(const char *file, char *member, size_t len, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    uint64_t first, last;
    int rc = s_open(file, &db, err, errlen) == 0 &&
                     s_segment(db, file, member, len, &first, &last, err, errlen) == 0
                 ? 0
                 : -1;
    sqlite3_close(db);
    return rc;
}

struct _lt_auditarc_t {
    sqlite3 *db; /* in the read transaction the check ran in */
};

lt_auditarc_t *lt_auditarc_open(const char *file, const uint8_t *const *pks, size_t n_pks,
                                lt_audit_report_t *rep, char *err, size_t errlen)
{
    char member[256];
    uint64_t first, last;
    sqlite3 *db = NULL;
    lt_auditarc_t *self = NULL;
    memset(rep, 0, sizeof *rep);
    if (s_open(file, &db, err, errlen) != 0 ||
        s_segment(db, file, member, sizeof member, &first, &last, err, errlen) != 0 ||
        lt_audit_check_db(db, pks, n_pks, rep, err, errlen) != 0)
        goto out;
    if (rep->anchor + 1 != first || rep->last != last || rep->entries <= 0) {
        snprintf(err, errlen, "%s claims entries %llu..%llu but holds %llu..%llu", file,
                 (unsigned long long)first, (unsigned long long)last,
                 (unsigned long long)rep->anchor + 1, (unsigned long long)rep->last);
        goto out;
    }
    if (!(self = calloc(1, sizeof *self))) {
        snprintf(err, errlen, "%s: out of memory", file);
        goto out;
    }
    self->db = db;
    db = NULL;
out:
    sqlite3_close(db);
    return self;
}

int lt_auditarc_by_subject(lt_auditarc_t *self, const char *subject, sqlite3_stmt **out)
{
    return lt_audit_by_subject(self->db, subject, out);
}

const char *lt_auditarc_errmsg(const lt_auditarc_t *self)
{
    return sqlite3_errmsg(self->db);
}

void lt_auditarc_destroy(lt_auditarc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    /* A statement still open keeps the connection until it is finalized. */
    sqlite3_close_v2((*self_p)->db);
    free(*self_p);
    *self_p = NULL;
}

int lt_auditarc_verify(const char *file, const uint8_t *const *pks, size_t n_pks,
                       lt_audit_report_t *rep, char *err, size_t errlen)
{
    lt_auditarc_t *arc = lt_auditarc_open(file, pks, n_pks, rep, err, errlen);
    int rc = arc ? 0 : -1;
    lt_auditarc_destroy(&arc);
    return rc;
}

/* A bound of s_keys as text: "entry N", or "none" for UINT64_MAX. */
static const char *s_named(uint64_t named, char *buf, size_t len)
{
    if (named == UINT64_MAX)
        return "none (the format of logs that did not name keys)";
    snprintf(buf, len, "after entry %llu", (unsigned long long)named);
    return buf;
}

int lt_auditarc_joins(const lt_audit_report_t *prev, const lt_audit_report_t *next, char *err,
                      size_t errlen)
{
    char a[80], b[80], zp[LT_Z85_KEY_LEN + 1], zn[LT_Z85_KEY_LEN + 1];
    if (next->anchor != prev->last || memcmp(next->anchor_hash, prev->head, LT_HASH_BYTES) != 0) {
        snprintf(err, errlen, "the chain does not continue: entries %llu..%llu, then %llu..%llu",
                 (unsigned long long)prev->anchor + 1, (unsigned long long)prev->last,
                 (unsigned long long)next->anchor + 1, (unsigned long long)next->last);
        return -1;
    }
    /* A log names keys from one entry on, for good, and every file
     * exported since carries that entry (docs/ARCHITECTURE.md, "Keys and
     * entries"): a later file that binds fewer entries was made to pass as
     * an older format; so was an earlier one that binds fewer than the
     * later says were written under named keys (its entries past next's
     * bound were exported by a log that named keys). */
    if (next->named > prev->named) {
        snprintf(err, errlen,
                 "the file before binds checkpoints to keys %s, this one %s: a log never stops "
                 "naming keys, so this file was altered",
                 s_named(prev->named, a, sizeof a), s_named(next->named, b, sizeof b));
        return -1;
    }
    if (prev->named > next->named && prev->last > next->named) {
        snprintf(err, errlen,
                 "the file before binds checkpoints to keys %s, but this one binds them %s and "
                 "the file before holds entries through %llu: those past entry %llu were "
                 "exported by a log that named keys, so the file before was passed off as an "
                 "older format",
                 s_named(prev->named, a, sizeof a), s_named(next->named, b, sizeof b),
                 (unsigned long long)prev->last, (unsigned long long)next->named);
        return -1;
    }
    if (prev->key_bound && next->anchor_bound &&
        memcmp(prev->key, next->anchor_key, LT_KEY_BYTES) != 0) {
        lt_keys_z85_encode(prev->key, zp);
        lt_keys_z85_encode(next->anchor_key, zn);
        snprintf(err, errlen,
                 "its anchor (entry %llu) records key %s in force, but the file before ends "
                 "with key %s in force",
                 (unsigned long long)next->anchor, zn, zp);
        return -1;
    }
    return 0;
}

int lt_auditarc_named_as_live(const lt_audit_report_t *file, const lt_audit_report_t *live,
                              char *err, size_t errlen)
{
    char a[80], b[80];
    if (file->named == live->named || (file->named > live->named && file->last <= live->named))
        return 0;
    if (file->named < live->named) {
        /* A log names keys from one entry on, and each export copies it. */
        snprintf(err, errlen,
                 "it claims checkpoints bound to keys %s, the live log %s: a log names keys "
                 "from one entry on, and copies that entry into every file it exports, so the "
                 "file or the live log was altered",
                 s_named(file->named, a, sizeof a), s_named(live->named, b, sizeof b));
        return -1;
    }
    uint64_t entry = file->anchor > live->named ? file->anchor + 1 : live->named + 1;
    snprintf(err, errlen,
             "entry %llu, which it holds, was exported by a log that binds checkpoints to keys "
             "%s (the live log's keys_named), but the file claims %s: it was passed off as an "
             "older format",
             (unsigned long long)entry, s_named(live->named, a, sizeof a),
             s_named(file->named, b, sizeof b));
    return -1;
}

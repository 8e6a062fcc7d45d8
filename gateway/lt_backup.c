/* lt_backup: consistent copies of the store and the audit log, and restoring
 * a store with new histories (see lt_backup.h). */
#include "lt_backup.h"
#include "lt_audit.h"
#include "lt_backdir.h"
#include "lt_backman.h"
#include "lt_client.h"
#include "lt_file.h"
#include "lt_history.h"
#include "lt_sqlopen.h"
#include "lt_store.h"
#include "lt_store_verify.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BUSY_MS       10000 /* a writer holds the database at most this long */
#define PAGES_AT_ONCE -1    /* the whole copy in one step: one read transaction */

/* Removes SQLite's -wal and -shm files beside path. */
static void s_unlink_wal(const char *path)
{
    char side[PATH_MAX + 64];
    snprintf(side, sizeof side, "%s-wal", path);
    (void)unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    (void)unlink(side);
}

/* Removes path and SQLite's -wal and -shm files beside it. */
static void s_unlink_db(const char *path)
{
    (void)unlink(path);
    s_unlink_wal(path);
}

/* Moves everything of the database at path into the file itself and
 * closes it, checking the close: a WAL is not renamed with its file.
 * Returns 0, or -1 with err. */
static int s_checkpoint(const char *path, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db, BUSY_MS) != SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot checkpoint %s: %s", path,
                 db ? sqlite3_errmsg(db) : "no memory");
        goto out;
    }
    rc = 0;
out:
    if (sqlite3_close(db) != SQLITE_OK && rc == 0) {
        snprintf(err, errlen, "cannot close %s: %s", path, sqlite3_errmsg(db));
        rc = -1;
    }
    return rc;
}

/* Copies the database src (the data directory's, in use) to dst (created
 * 0600, replaced when present) with the online backup API, in one step,
 * so that one read transaction of src covers the whole copy. The copy is a
 * rollback-journal file, one file with no -shm beside it, whatever mode
 * src is in: a restore reads it byte for byte (lt_backman_copy). Returns
 * 0, or -1 with err. */
static int s_copy_db(const char *src, const char *dst, char *err, size_t errlen)
{
    sqlite3 *from = NULL, *to = NULL;
    sqlite3_backup *b = NULL;
    int rc = -1;
    s_unlink_db(dst);
    mode_t old = umask(077);
    int opened = lt_sqlopen_untrusted(src, SQLITE_OPEN_READONLY, &from) == SQLITE_OK &&
                 sqlite3_busy_timeout(from, BUSY_MS) == SQLITE_OK;
    if (!opened) {
        snprintf(err, errlen, "cannot open %s: %s", src, from ? sqlite3_errmsg(from) : "no memory");
        goto out;
    }
    if (sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot create %s: %s", dst, to ? sqlite3_errmsg(to) : "no memory");
        goto out;
    }
    if (!(b = sqlite3_backup_init(to, "main", from, "main"))) {
        snprintf(err, errlen, "cannot copy %s: %s", src, sqlite3_errmsg(to));
        goto out;
    }
    int step;
    /* BUSY or LOCKED: a writer is checkpointing; the step can be retried. */
    for (int tries = 0; (step = sqlite3_backup_step(b, PAGES_AT_ONCE)) != SQLITE_DONE; tries++) {
        if ((step != SQLITE_BUSY && step != SQLITE_LOCKED) || tries * 50 > BUSY_MS)
            break;
        sqlite3_sleep(50);
    }
    if (sqlite3_backup_finish(b) != SQLITE_OK || step != SQLITE_DONE) {
        snprintf(err, errlen, "cannot copy %s to %s: %s", src, dst,
                 step == SQLITE_DONE ? sqlite3_errmsg(to) : sqlite3_errstr(step));
        goto out;
    }
    if (sqlite3_exec(to, "PRAGMA journal_mode = DELETE", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf(err, errlen, "cannot copy %s to %s: %s", src, dst, sqlite3_errmsg(to));
        goto out;
    }
    rc = 0;
out:
    umask(old);
    sqlite3_close(from);
    /* Closing the copy ends its journal; it is complete and synced on disk
     * (synchronous = FULL is SQLite's default for a new connection). */
    if (to && sqlite3_close(to) != SQLITE_OK && rc == 0) {
        snprintf(err, errlen, "cannot close %s", dst);
        rc = -1;
    }
    if (rc != 0)
        s_unlink_db(dst);
    return rc;
}

/* Moves the finished copy tmp over dst, durably. Returns 0, -1 when dst
 * is as it was, or -2 when the copy is in place but perhaps not durably;
 * with err. */
static int s_put_copy(const char *tmp, const char *dst, char *err, size_t errlen)
{
    /* SQLite would apply a WAL left beside dst to the new file. */
    s_unlink_wal(dst);
    if (rename(tmp, dst) != 0) {
        snprintf(err, errlen, "cannot rename %.400s to %.400s: %s", tmp, dst, strerror(errno));
        s_unlink_db(tmp);
        return -1;
    }
    /* The copy is in place, tmp gone: only its durability is in doubt. */
    if (lt_file_sync_dir(dst) != 0) {
        snprintf(err, errlen, "cannot sync the directory of %.400s: %s", dst, strerror(errno));
        return -2;
    }
    return 0;
}

/* The two copies of a backup and where they go. */
typedef struct {
    char store[PATH_MAX + 16], audit[PATH_MAX + 16]; /* the data directory's */
    char store_tmp[PATH_MAX + 32], audit_tmp[PATH_MAX + 48];
    char audit_dst[PATH_MAX + 32];
    int has_audit;
} s_pair_t;

/* Both copies are made before either replaces an earlier backup, so that
 * a copy that fails leaves the earlier pair as it was, never a new store
 * beside an old audit log. */
static int s_copy_pair(s_pair_t *p, char *err, size_t errlen)
{
    if (s_copy_db(p->store, p->store_tmp, err, errlen) != 0)
        return -1;
    if (p->has_audit && s_copy_db(p->audit, p->audit_tmp, err, errlen) != 0) {
        s_unlink_db(p->store_tmp);
        return -1;
    }
    return 0;
}

/* Drops the two temporary copies of an unfinished backup. */
static void s_drop_pair(const s_pair_t *p)
{
    s_unlink_db(p->store_tmp);
    if (p->has_audit)
        s_unlink_db(p->audit_tmp);
}

/* Where the two copies come from and go, from data_dir and `to`. */
static void s_pair_paths(s_pair_t *p, const lt_gwcfg_t *cfg, const char *to)
{
    snprintf(p->store, sizeof p->store, "%s/store.db", cfg->data_dir);
    snprintf(p->audit, sizeof p->audit, "%s/audit.db", cfg->data_dir);
    snprintf(p->store_tmp, sizeof p->store_tmp, "%s.tmp", to);
    snprintf(p->audit_dst, sizeof p->audit_dst, "%s" LT_BACKUP_AUDIT_SUFFIX, to);
    snprintf(p->audit_tmp, sizeof p->audit_tmp, "%s.tmp", p->audit_dst);
}

/* Everything a backup writes before its first rename: the two copies, the
 * directory files and the new manifest. Until then an earlier backup at
 * `to` is whole, so a failure only drops the copies. 0, or -1 with err. */
static int s_prepare(const lt_gwcfg_t *cfg, const char *to, s_pair_t *p, FILE *out, char *err,
                     size_t errlen)
{
    char manifest[LT_BACKMAN_MAX];
    if (s_copy_pair(p, err, errlen) != 0)
        return -1;
    /* The manifest lists the copies as they will be renamed. */
    if (lt_backman_measure(cfg, p->store_tmp, p->has_audit ? p->audit_tmp : NULL, manifest, err,
                           errlen) != 0) {
        s_drop_pair(p);
        return -1;
    }
    /* The directory files before the audit and store copies: a directory
     * newer than the store beside it is what a running gateway has after
     * every adoption, while a store copy whose directory is older may hold
     * batches of keys that directory does not list. */
    if (lt_backdir_save(cfg, to, out, err, errlen) != 0) {
        s_drop_pair(p);
        return -1;
    }
    /* The new manifest before either rename: a backup interrupted at any
     * point after leaves each copy matching the earlier manifest or this
     * one, which a restore accepts (lt_backman.h). */
    if (lt_backman_write(to, manifest, err, errlen) != 0) {
        s_drop_pair(p);
        return -1;
    }
    return 0;
}

/* The audit copy first: after a crash between the two renames it is
 * newer than the store copy, as any audit log beside a restored store
 * is (it is append-only). An earlier audit copy is not left beside a
 * store it does not belong to. On failure the store copy is dropped, and
 * the new manifest too when the earlier backup is as it was. 0, or -1. */
static int s_put_audit(const s_pair_t *p, const char *to, char *err, size_t errlen)
{
    int put = p->has_audit ? s_put_copy(p->audit_tmp, p->audit_dst, err, errlen)
                           : (unlink(p->audit_dst) != 0 && errno != ENOENT ? -1 : 0);
    if (put == 0)
        return 0;
    if (!p->has_audit)
        snprintf(err, errlen, "cannot remove the earlier %s: %s", p->audit_dst, strerror(errno));
    s_unlink_db(p->store_tmp);
    if (put == -1) /* no copy moved: the earlier backup is as it was */
        lt_backman_discard(to);
    return -1;
}

/* What a finished backup tells the operator. */
static void s_told(const lt_gwcfg_t *cfg, const s_pair_t *p, const char *to, FILE *out)
{
    fprintf(out, "store %s copied to %s\n", p->store, to);
    if (p->has_audit)
        fprintf(out, "audit log %s copied to %s\n", p->audit, p->audit_dst);
    else
        fprintf(out, "no audit log %s to copy\n", p->audit);
    fprintf(out, "manifest of member %s written to %s" LT_BACKMAN_SUFFIX "\n", cfg->member, to);
}

/* The backup itself, under the lock of `to` (lt_backup_run). */
static int s_backup(const lt_gwcfg_t *cfg, const char *to, FILE *out, char *err, size_t errlen)
{
    s_pair_t p;
    s_pair_paths(&p, cfg, to);
    if (access(p.store, R_OK) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", p.store, strerror(errno));
        return -1;
    }
    p.has_audit = access(p.audit, F_OK) == 0;
    if (s_prepare(cfg, to, &p, out, err, errlen) != 0 || s_put_audit(&p, to, err, errlen) != 0)
        return -1;
    /* Where tests/integration/test_restore.c kills a backup (test builds). */
    lt_file_test_pause("LT_TEST_PAUSE_BACKUP_AUDIT");
    if (s_put_copy(p.store_tmp, to, err, errlen) != 0)
        return -1;
    lt_file_test_pause("LT_TEST_PAUSE_BACKUP_STORE");
    if (lt_backman_commit(to, err, errlen) != 0)
        return -1;
    s_told(cfg, &p, to, out);
    return 0;
}

int lt_backup_run(const lt_gwcfg_t *cfg, const char *to, FILE *out, char *err, size_t errlen)
{
    char lock[PATH_MAX + 16];
    snprintf(lock, sizeof lock, "%s" LT_BACKUP_LOCK_SUFFIX, to);
    /* Two backups to the same place would share its temporary files: one
     * could rename the other's half-written copy into place. */
    int fd = lt_file_lock(lock);
    if (fd < 0) {
        if (errno == EWOULDBLOCK)
            snprintf(err, errlen,
                     "another lienthong backup to %s is running (it holds %s); wait for it to "
                     "finish, or back up to another file",
                     to, lock);
        else
            snprintf(err, errlen, "cannot lock %s: %s", lock, strerror(errno));
        return -1;
    }
    int rc = s_backup(cfg, to, out, err, errlen);
    close(fd);
    return rc;
}

/* ---- restore ----------------------------------------------------------------- */

/* A backup file is copied byte for byte (lt_backman_copy), which would
 * pass over commits in a -wal or a hot -journal beside it: 0 when there is neither,
 * else -1 with err naming it. */
static int s_alone(const char *from, char *err, size_t errlen)
{
    char side[PATH_MAX + 48];
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof side, "%s%s", from, i ? "-journal" : "-wal");
        if (access(side, F_OK) == 0) {
            snprintf(
                err, errlen,
                "%.800s lies beside the backup: it was copied from a database in use, "
                "and may hold commits the file lacks; take the backup with lienthong backup, or "
                "open the copy once with sqlite3 to fold them in",
                side);
            return -1;
        }
    }
    return 0;
}

/* PRAGMA quick_check of db is "ok"; else -1 with err naming what (the
 * backup the copy was made from). */
static int s_quick_check(sqlite3 *db, const char *what, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = 0;
    /* The text is NULL when SQLite runs out of memory converting it. */
    if (sqlite3_prepare_v2(db, "PRAGMA quick_check", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW || !sqlite3_column_text(st, 0) ||
        strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
        snprintf(err, errlen, "%s is not a sound SQLite database: %s", what,
                 st && sqlite3_column_text(st, 0) ? (const char *)sqlite3_column_text(st, 0)
                                                  : sqlite3_errmsg(db));
        rc = -1;
    }
    sqlite3_finalize(st);
    return rc;
}

/* The copy at path, made from the backup `from` into the data directory
 * (0700, locked), is a sound SQLite database holding a store with the
 * gateway's schema and nothing else (lt_store_schema_check). It is the
 * copy that is checked, read hardened (lt_sqlopen.h), before anything
 * opens it trusting its schema: the backup itself may be changed by anyone
 * who can write it, between a check and a copy too (docs/operations.md,
 * "Backup and restore"). */
static int s_check_copy(const char *path, const char *from, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char why[600];
    int rc = -1;
    if (lt_sqlopen_untrusted(path, SQLITE_OPEN_READONLY, &db) != SQLITE_OK) {
        snprintf(err, errlen, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        goto out;
    }
    if (s_quick_check(db, from, err, errlen) != 0)
        goto out;
    if (sqlite3_prepare_v2(db, "SELECT id, name, last_seq FROM streams LIMIT 0", -1, &st, NULL) !=
        SQLITE_OK) {
        snprintf(err, errlen, "%s is not a gateway store (no streams table)", from);
        goto out;
    }
    if (lt_store_schema_check(db, why, sizeof why) != 0) {
        snprintf(err, errlen, "%.400s is refused: %.600s", from, why);
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}

static void s_report(void *arg, const char *stream, uint64_t last_seq, const char *old_hex,
                     const char *new_hex)
{
    fprintf(arg, "stream %s: seq %" PRIu64 ", history %s -> %s\n", stream, last_seq, old_hex,
            new_hex);
}

/* What the checksum pass of a restored copy found (s_sound). */
typedef struct {
    const lt_gwcfg_t *cfg;
    lt_store_t *store;
    FILE *out;
    char owned[LT_STREAM_ID_MAX + 256]; /* the first damaged range of an owned stream */
    char why[512];                      /* a store error */
} sound_t;

static void s_damaged(void *arg, const char *stream, lt_store_finding_t kind, uint64_t first,
                      uint64_t last, const char *why)
{
    (void)kind; /* the records pass finds damage only */
    sound_t *s = arg;
    if (lt_history_owned(s->cfg, stream)) {
        if (!s->owned[0])
            snprintf(s->owned, sizeof s->owned, "%s records %" PRIu64 "..%" PRIu64 " (%s)", stream,
                     first, last, why);
        return;
    }
    fprintf(s->out,
            "damaged: %s records %" PRIu64 "..%" PRIu64 ": %s; the gateway fetches them again "
            "from the owner when it runs\n",
            stream, first, last, why);
}

static int s_sound_one(void *arg, const char *name, const lt_stream_t *st)
{
    sound_t *s = arg;
    return lt_store_verify_records(s->store, name, st, s_damaged, s, s->why, sizeof s->why) < 0 ? -1
                                                                                                : 0;
}

/* Every record of the copy against its checksum, before anything is put in
 * place (docs/operations.md, "Backup and restore"). A backup is the only
 * repair of a damaged record of a stream this member owns ("Damaged
 * store"): one that holds such a record is refused, naming it, while the
 * present store is kept. A replica's damaged range is named and restored:
 * the gateway fetches it again from its owner. Batch signatures are left
 * to the gateway and `lienthong store verify`, which check them with the
 * directory restored after the store. */
static int s_sound(const lt_gwcfg_t *cfg, lt_store_t *store, const char *from, FILE *out, char *err,
                   size_t errlen)
{
    sound_t s = {cfg, store, out, "", ""};
    if (lt_store_streams(store, s_sound_one, &s) != 0) {
        snprintf(err, errlen, "cannot verify the records of %.400s: %.512s", from,
                 s.why[0] ? s.why : lt_store_error(store));
        return -1;
    }
    if (!s.owned[0])
        return 0;
    snprintf(err, errlen,
             "%.400s is refused: %.400s are damaged in it, and no peer can send them again as "
             "this member owns the stream; restore an earlier backup",
             from, s.owned);
    return -1;
}

/* New histories for the owned streams of the store at path (migrated to
 * this version first) once its records are verified (s_sound), all of it
 * in the file itself when this returns. */
static int s_rotate(const lt_gwcfg_t *cfg, const char *path, const char *from, FILE *out, char *err,
                    size_t errlen)
{
    lt_store_t *store = lt_store_open(path, err, errlen);
    if (!store)
        return -1;
    int n = s_sound(cfg, store, from, out, err, errlen) == 0
                ? lt_history_rotate(store, cfg, s_report, out, err, errlen)
                : -1;
    lt_store_destroy(&store);
    return n >= 0 ? s_checkpoint(path, err, errlen) : -1;
}

/* The high-water file of the store now in place. A kill before it is
 * written is safe: at start the gateway finds its store behind the old
 * file, or on other histories, and gives new ones again. */
static int s_save_high_water(const lt_gwcfg_t *cfg, const char *path, char *err, size_t errlen)
{
    lt_store_t *store = lt_store_open(path, err, errlen);
    if (!store)
        return -1;
    int rc = lt_history_save(store, cfg, err, errlen);
    lt_store_destroy(&store);
    return rc;
}

/* The chain of the audit log db (a copy of the backup src) verifies under
 * this member's signing keys, current and earlier (lt_keys_signing_history):
 * an audit log of another gateway, or one altered, fails. */
static int s_audit_chain(const lt_gwcfg_t *cfg, sqlite3 *db, const char *src, char *err,
                         size_t errlen)
{
    uint8_t keys[LT_KEYS_HISTORY_MAX][LT_KEY_BYTES];
    const uint8_t *pks[LT_KEYS_HISTORY_MAX];
    size_t n = 0;
    char why[800];
    lt_audit_report_t rep;
    if (lt_keys_signing_history(cfg->key_file, keys, LT_KEYS_HISTORY_MAX, &n, why, sizeof why) !=
        0) {
        snprintf(err, errlen, "cannot check %.400s: %.600s", src, why);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        pks[i] = keys[i];
    if (lt_audit_check_snapshot(db, src, pks, n, NULL, &rep, why, sizeof why) != 0) {
        snprintf(err, errlen,
                 "%.250s is refused: %.400s; it is not an audit log this member's gateway "
                 "wrote (checked under the keys of %.200s)",
                 src, why, cfg->key_file);
        return -1;
    }
    return 0;
}

/* The copy tmp of the backup's audit log src holds nothing but an audit
 * log's tables, is a sound database, and its chain verifies (s_audit_chain):
 * the gateway opens it trusting its schema, and could not start on a
 * damaged one. */
static int s_audit_sound(const lt_gwcfg_t *cfg, const char *tmp, const char *src, char *err,
                         size_t errlen)
{
    sqlite3 *db = NULL;
    char why[600];
    int rc = -1;
    if (lt_sqlopen_untrusted(tmp, SQLITE_OPEN_READONLY, &db) != SQLITE_OK)
        snprintf(err, errlen, "cannot open %.800s: %.200s", tmp,
                 db ? sqlite3_errmsg(db) : "no memory");
    else if (lt_audit_schema_check(db, why, sizeof why) != 0)
        snprintf(err, errlen, "%.400s is refused: %.600s", src, why);
    else if (s_quick_check(db, src, err, errlen) == 0)
        rc = s_audit_chain(cfg, db, src, err, errlen);
    sqlite3_close(db);
    return rc;
}

/* audit.db from the backup's copy src, when the data directory has none:
 * read once, into a temporary name beside it, measured in that read and
 * matched against the manifests (lt_backman.h), checked there
 * (s_audit_sound), then renamed. A copy that is missing or does not match
 * costs the audit log only: the store is restored by then. */
static int s_restore_audit(const lt_gwcfg_t *cfg, const char *from, const lt_backman_set_t *set,
                           FILE *out, char *err, size_t errlen)
{
    char src[PATH_MAX + 16], dst[PATH_MAX + 16], tmp[PATH_MAX + 32];
    lt_backman_copy_t got;
    snprintf(src, sizeof src, "%s" LT_BACKUP_AUDIT_SUFFIX, from);
    snprintf(dst, sizeof dst, "%s/audit.db", cfg->data_dir);
    snprintf(tmp, sizeof tmp, "%s.restore", dst);
    /* A WAL alone holds audit entries too (SQLite would rebuild the log
     * from it): it is an audit log, and kept. */
    char wal[PATH_MAX + 32];
    snprintf(wal, sizeof wal, "%s-wal", dst);
    if (access(dst, F_OK) == 0 || access(wal, F_OK) == 0) {
        if (access(src, F_OK) == 0)
            fprintf(out, "kept %s: it is newer than %s and append-only\n", dst, src);
        return 0;
    }
    if (access(src, F_OK) != 0)
        return lt_backman_match(set, 1, src, NULL, err, errlen);
    if (s_alone(src, err, errlen) != 0 || lt_backman_copy(src, tmp, &got, err, errlen) != 0)
        return -1;
    if (lt_backman_match(set, 1, src, &got, err, errlen) != 0 ||
        s_audit_sound(cfg, tmp, src, err, errlen) != 0) {
        s_unlink_db(tmp);
        return -1;
    }
    if (s_put_copy(tmp, dst, err, errlen) != 0)
        return -1;
    fprintf(out, "audit log restored from %s\n", src);
    return 0;
}

/* The backup's own lock (LT_BACKUP_LOCK_SUFFIX), so that a backup to
 * `from` (a timer not stopped) does not replace it while it is read.
 * Returns the descriptor; -2 when the lock cannot be taken on media this
 * user may not write (said on out: the restore goes on, unguarded); or
 * -1 with err. */
static int s_lock_backup(const char *from, FILE *out, char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s" LT_BACKUP_LOCK_SUFFIX, from);
    int fd = lt_file_lock(path);
    if (fd >= 0)
        return fd;
    if (errno == EROFS || errno == EACCES || errno == EPERM) {
        fprintf(out,
                "note: cannot lock %s (%s): a backup to %s during this restore would not be "
                "kept out\n",
                path, strerror(errno), from);
        return -2;
    }
    if (errno == EWOULDBLOCK)
        snprintf(err, errlen,
                 "a lienthong backup to %s is running (it holds %s); wait for it to finish (and "
                 "stop its timer), then restore again",
                 from, path);
    else
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
    return -1;
}

/* The data directory's lock, which the gateway holds while it runs (from
 * before it opens the store, long before its socket answers). Returns the
 * descriptor, or -1 with err. */
static int s_lock(const lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    char path[PATH_MAX + 32], probe[1024];
    snprintf(path, sizeof path, "%s/" LT_GWCFG_LOCK_NAME, cfg->data_dir);
    int fd = lt_file_lock(path);
    if (fd >= 0)
        return fd;
    if (errno != EWOULDBLOCK) {
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
        return -1;
    }
    /* The probe only says more; the lock decides. */
    int answers = lt_client_probe(cfg->local_socket, probe, sizeof probe) == LT_CLIENT_OK;
    snprintf(err, errlen, "the gateway is running on %s (it holds %s%s%s); stop it first",
             cfg->data_dir, path, answers ? " and answers on " : "",
             answers ? cfg->local_socket : "");
    return -1;
}

/* Puts the checkpointed copy tmp in place of store in one rename, so that
 * there is a store at every moment. The old store's WAL must go first, as
 * SQLite would apply it to the new file; after a kill or a power loss it
 * still holds committed transactions, so it is folded into the old store
 * before (s_checkpoint): a restore that fails or is killed before the
 * rename leaves the old store whole. One that cannot be folded in (a
 * damaged old store) stops the restore, naming it. */
static int s_swap(const char *tmp, const char *store, char *err, size_t errlen)
{
    char wal[PATH_MAX + 32];
    snprintf(wal, sizeof wal, "%s-wal", store);
    if (access(wal, F_OK) == 0 && s_checkpoint(store, err, errlen) != 0) {
        snprintf(err + strlen(err), errlen - strlen(err),
                 "; %s holds commits of the old store: move %s and it aside to keep them, then "
                 "restore again",
                 wal, store);
        return -1;
    }
    s_unlink_wal(store);
    /* Where tests/integration/test_restore.c kills a restore (test builds). */
    lt_file_test_pause("LT_TEST_PAUSE_RESTORE_SWAP");
    if (rename(tmp, store) != 0) {
        snprintf(err, errlen, "cannot rename %s to %s: %s", tmp, store, strerror(errno));
        return -1;
    }
    if (lt_file_sync_dir(store) != 0) {
        snprintf(err, errlen, "cannot sync the directory of %s: %s", store, strerror(errno));
        return -1;
    }
    return 0;
}

/* The store from the backup `from`, with the data directory locked:
 * read once, into tmp, measured in that read and matched against the
 * manifests; every check runs on tmp, then it replaces the store. */
static int s_restore_store(const lt_gwcfg_t *cfg, const char *from, const lt_backman_set_t *set,
                           const char *tmp, const char *store, FILE *out, char *err, size_t errlen)
{
    lt_backman_copy_t got;
    if (lt_backman_copy(from, tmp, &got, err, errlen) != 0)
        return -1;
    /* Where tests/integration/test_restore.c replaces the backup (test builds). */
    lt_file_test_pause("LT_TEST_PAUSE_RESTORE_READ");
    if (lt_backman_match(set, 0, from, &got, err, errlen) != 0 ||
        s_check_copy(tmp, from, err, errlen) != 0 ||
        s_rotate(cfg, tmp, from, out, err, errlen) != 0 || s_swap(tmp, store, err, errlen) != 0) {
        s_unlink_db(tmp);
        return -1;
    }
    return 0;
}

int lt_restore_run(const lt_gwcfg_t *cfg, const char *from, FILE *out, char *err, size_t errlen)
{
    char store[PATH_MAX + 16], tmp[PATH_MAX + 32], why[1024];
    int lock = -1, rc = LT_RESTORE_FAILED;
    lt_backman_set_t set;
    int backup_lock = s_lock_backup(from, out, err, errlen);
    if (backup_lock == -1)
        return LT_RESTORE_FAILED;
    /* Another member's backup before anything else is read (lt_backman.h). */
    if (lt_backman_load(cfg, from, &set, out, err, errlen) != 0 || s_alone(from, err, errlen) != 0)
        goto out;
    /* A host rebuilt after a loss may not have its data directory yet. */
    if (lt_file_mkdirs(cfg->data_dir, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s: %s", cfg->data_dir, strerror(errno));
        goto out;
    }
    if ((lock = s_lock(cfg, err, errlen)) < 0)
        goto out;
    snprintf(store, sizeof store, "%s/store.db", cfg->data_dir);
    snprintf(tmp, sizeof tmp, "%s.restore", store);
    if (s_restore_store(cfg, from, &set, tmp, store, out, err, errlen) != 0)
        goto out;
    fprintf(out, "store %s restored from %s\n", store, from);
    rc = LT_RESTORE_PARTIAL;
    if (s_save_high_water(cfg, store, why, sizeof why) != 0) {
        snprintf(err, errlen, "store restored; high-water file not written: %s", why);
        goto out;
    }
    /* The audit log does not depend on the directory files: it is restored
     * when they are refused too, and both reasons are given. */
    char why_audit[1024];
    int dir_rc = lt_backdir_restore(cfg, from, out, why, sizeof why);
    int audit_rc = s_restore_audit(cfg, from, &set, out, why_audit, sizeof why_audit);
    if (dir_rc != 0 && audit_rc != 0)
        snprintf(err, errlen,
                 "store restored; directory files not restored: %s; audit log not restored: %s",
                 why, why_audit);
    else if (dir_rc != 0)
        snprintf(err, errlen, "store restored; directory files not restored: %s", why);
    else if (audit_rc != 0)
        snprintf(err, errlen, "store restored; audit log not restored: %s", why_audit);
    else
        rc = LT_RESTORE_OK;
out:
    if (lock >= 0)
        close(lock);
    if (backup_lock >= 0)
        close(backup_lock);
    return rc;
}

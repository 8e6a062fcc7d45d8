/* lt_backup: `lienthong backup` and `lienthong restore` of a gateway's data
 * directory (docs/operations.md, "Backup and restore").
 *
 * Backup copies store.db (and audit.db beside it, as FILE.audit) with the
 * SQLite online backup API from a read connection: one read transaction
 * covers the whole copy, so it is consistent while the gateway runs and
 * commits. Restore (gateway stopped) copies a backup over store.db, gives
 * every stream this gateway owns a new history (PROTOCOL.md 6.9: consumers
 * past the backup then resynchronise instead of resuming on reused
 * sequence numbers), and rewrites the high-water file. Both carry the
 * directory files too (lt_backdir): after a rotation they are what the
 * gateway starts with. */
#ifndef LT_BACKUP_H
#define LT_BACKUP_H

#include <stddef.h>
#include <stdio.h>

#include "lt_err.h"
#include "lt_gwcfg.h"

/* Suffix of the audit log's copy beside a store backup. */
#define LT_BACKUP_AUDIT_SUFFIX ".audit"

/* Suffix of the lock file beside a store backup, which lt_backup_run holds
 * (flock) while it runs. */
#define LT_BACKUP_LOCK_SUFFIX ".lock"

/* Writes consistent copies of cfg's store.db to `to` and of its audit.db
 * to `to`.audit (mode 0600), and of its directory files to `to`.directory/
 * (lt_backdir_save). Both databases are written to temporary files and
 * synced before either is renamed, the directory files first, then the
 * audit copy: a copy that fails leaves an earlier store backup at `to` as
 * it was. An earlier `to`.audit is removed when there is no audit log.
 * The manifest (lt_backman), naming cfg's member and the copies' sizes and
 * hashes, is written as `to`.manifest.new before the first rename and
 * renamed over `to`.manifest last: an interrupted backup leaves each copy
 * matching one of the two, which a restore accepts. Holds an exclusive flock on `to`.lock
 * throughout, and refuses when another backup to `to` holds it. Says what
 * it did on out. Returns 0, or -1 with err. */
int lt_backup_run(const lt_gwcfg_t *cfg, const char *to, FILE *out, char *err,
                  size_t errlen) LT_NODISCARD;

/* What lt_restore_run did. */
enum {
    LT_RESTORE_OK = 0,
    LT_RESTORE_FAILED = -1, /* nothing changed in the data directory */
    LT_RESTORE_PARTIAL = -2 /* the store is restored; the high-water file, the
                               directory files or the audit log are not (err
                               says which) */
};

/* Restores store.db of cfg's data directory from the backup `from`, with
 * new histories for every owned stream, replacing the old store in one
 * rename (its WAL folded into it first); then the high-water file, the
 * directory files of `from`.directory/ that are newer than the data
 * directory's (lt_backdir_restore), and audit.db from `from`.audit only
 * when the data directory has none (an existing audit log is newer and
 * append-only). Each backup file is read once, byte for byte, into the
 * data directory, measured in that read against the manifests read first
 * (lt_backman: a store copy that matches none refuses the restore, an audit
 * copy costs only the audit log), and the copy is checked before it is
 * used: SQLite's quick check, the schema (lt_store_schema_check, lt_audit_schema_check), the
 * store's records and the audit log's chain under the member's signing
 * keys.
 * Refuses while a gateway holds the data directory's lock
 * (LT_GWCFG_LOCK_NAME), or a backup to `from` holds `from`.lock, and holds
 * both itself meanwhile (the backup's not where it cannot be created:
 * read-only media; said on out). Says what it did on
 * out. Returns an LT_RESTORE_ value, with err unless LT_RESTORE_OK. */
int lt_restore_run(const lt_gwcfg_t *cfg, const char *from, FILE *out, char *err,
                   size_t errlen) LT_NODISCARD;

#endif

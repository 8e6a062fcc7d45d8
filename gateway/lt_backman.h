/* lt_backman: the manifest of a backup (docs/operations.md, "Backup and
 * restore"): which member's data directory a backup is of, and the size and
 * BLAKE2b-256 hash of each of its database copies, so that a restore refuses
 * another member's backup, and a copy that was cut short, swapped or
 * changed, before anything is put in place.
 *
 * The manifest is the text file TO.manifest beside the store copy TO:
 *
 *   lienthong-backup 1
 *   member MEMBER-ID
 *   store SIZE HASH        the copy TO
 *   audit SIZE HASH        the copy TO.audit, when there is one
 *
 * (HASH in 64 lower-case hex digits). lienthong backup writes it as
 * TO.manifest.new before it renames either copy into place, and renames it
 * over TO.manifest last: at every point a backup can be interrupted at,
 * each copy matches one of the two manifests, and a restore accepts a copy
 * that matches either (the audit copy is renamed first, so the pair is
 * then an older store beside a newer audit log, as after any restore). It
 * is no protection against whoever can write the backup (they can write
 * the manifest too): the restore's checks of the copies themselves stay. */
#ifndef LT_BACKMAN_H
#define LT_BACKMAN_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lt_crypto.h"
#include "lt_err.h"
#include "lt_gwcfg.h"

/* Suffix of the manifest beside a store backup. */
#define LT_BACKMAN_SUFFIX ".manifest"

/* Suffix of the manifest a backup writes before its renames. */
#define LT_BACKMAN_NEW_SUFFIX ".manifest.new"

/* Room for a manifest's text. */
#define LT_BACKMAN_MAX 1024

/* What a manifest says (lt_backman_parse): each copy's size and hash,
 * `listed` when the manifest has its line. */
typedef struct {
    int listed;
    uint64_t size;
    uint8_t hash[LT_HASH_BYTES];
} lt_backman_copy_t;

typedef struct {
    char member[LT_ID_MAX];
    lt_backman_copy_t store, audit;
} lt_backman_t;

/* Reads a manifest's text (NUL-terminated; cut into lines in place) into m:
 * the header line, then "member ID", "store SIZE HASH" and, when there is
 * an audit copy, "audit SIZE HASH", each once, the first two required.
 * path names the file in err. Returns 0, or -1 with err quoting the line
 * that is not one of these. */
int lt_backman_parse(const char *path, char *text, lt_backman_t *m, char *err,
                     size_t errlen) LT_NODISCARD;

/* Writes into text[LT_BACKMAN_MAX] the manifest of a backup of cfg's member
 * whose copies are, before their renames, store_copy and audit_copy (NULL
 * when the backup has no audit log). Reads both files whole. Returns 0, or
 * -1 with err. */
int lt_backman_measure(const lt_gwcfg_t *cfg, const char *store_copy, const char *audit_copy,
                       char text[LT_BACKMAN_MAX], char *err, size_t errlen) LT_NODISCARD;

/* Writes text as `to`.manifest.new (mode 0600): written to a temporary
 * file, synced, renamed, the directory synced. Returns 0, or -1 with err. */
int lt_backman_write(const char *to, const char *text, char *err, size_t errlen) LT_NODISCARD;

/* Renames `to`.manifest.new over `to`.manifest and syncs the directory.
 * Returns 0, or -1 with err. */
int lt_backman_commit(const char *to, char *err, size_t errlen) LT_NODISCARD;

/* Removes `to`.manifest.new, of a backup that renamed no copy. */
void lt_backman_discard(const char *to);

/* The manifests beside a backup: `from`.manifest and `from`.manifest.new,
 * those that are there (n of them; none for a backup taken before
 * backups had one). */
typedef struct {
    int n;
    lt_backman_t m[2];
    char path[2][PATH_MAX + 16];
} lt_backman_set_t;

/* Reads the manifests of the backup `from` into set; each must name cfg's
 * member. A backup with none is accepted with a warning on out and in the
 * log. Returns 0, or -1 with err naming the manifest and what is wrong. */
int lt_backman_load(const lt_gwcfg_t *cfg, const char *from, lt_backman_set_t *set, FILE *out,
                    char *err, size_t errlen) LT_NODISCARD;

/* Copies the file src to dst (created 0600, replacing dst; synced),
 * measuring it in the same read into got: what was copied is what was
 * measured. Returns 0, or -1 with err (dst then removed). */
int lt_backman_copy(const char *src, const char *dst, lt_backman_copy_t *got, char *err,
                    size_t errlen) LT_NODISCARD;

/* Whether the copy path of a backup, measured as got (NULL when it is not
 * there), is what one of set's manifests lists for it (its audit line
 * when audit, else its store line; a copy a manifest does not list must
 * not be there). Always 0 when set has no manifest. Returns 0, or -1 with
 * err naming path and what does not match. */
int lt_backman_match(const lt_backman_set_t *set, int audit, const char *path,
                     const lt_backman_copy_t *got, char *err, size_t errlen) LT_NODISCARD;

#endif

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
 * (HASH in 64 lower-case hex digits). lienthong backup writes it last, after
 * both copies are renamed into place: copies beside an earlier backup's
 * manifest do not match it. It is no protection against whoever can write
 * the backup (they can write the manifest too): the restore's checks of the
 * copies themselves stay. */
#ifndef LT_BACKMAN_H
#define LT_BACKMAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lt_crypto.h"
#include "lt_gwcfg.h"

/* Suffix of the manifest beside a store backup. */
#define LT_BACKMAN_SUFFIX ".manifest"

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
int lt_backman_parse(const char *path, char *text, lt_backman_t *m, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Writes into text[LT_BACKMAN_MAX] the manifest of a backup of cfg's member
 * whose copies are, before their renames, store_copy and audit_copy (NULL
 * when the backup has no audit log). Reads both files whole. Returns 0, or
 * -1 with err. */
int lt_backman_measure(const lt_gwcfg_t *cfg, const char *store_copy, const char *audit_copy,
                       char text[LT_BACKMAN_MAX], char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Puts text in place as `to`.manifest (mode 0600): written to a temporary
 * file, synced, renamed, the directory synced. Returns 0, or -1 with err. */
int lt_backman_write(const char *to, const char *text, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Checks the backup `from` against `from`.manifest: it must name cfg's
 * member, and `from` and `from`.audit must have the sizes and hashes it
 * lists (an audit copy it does not list must not be there). A backup with
 * no manifest (taken before backups had one) is accepted with a warning on
 * out and in the log. Reads both copies whole. Returns 0, or -1 with err
 * naming the file and what does not match. */
int lt_backman_check(const lt_gwcfg_t *cfg, const char *from, FILE *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

#endif

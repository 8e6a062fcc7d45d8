/* lt_backdir: the directory files of a gateway's data directory in a backup
 * (docs/operations.md, "Backup and restore"): the directory it adopted
 * (directory.signed, PROTOCOL.md 5.3), the authority keys it learned
 * (authority.learned, 5.5) and the directories it keeps as retired
 * (directory.retired-VERSION.signed, 6.10).
 *
 * They are what a gateway starts with after a rotation: its configured
 * directory is older, and lists keys it no longer holds, or is signed by an
 * authority key its peers' offers no longer prove. A backup keeps them in
 * the directory TO.directory beside the store copy TO, under the names they
 * have in data_dir; a restore puts them back unless data_dir holds a newer
 * directory (or one it cannot compare). */
#ifndef LT_BACKDIR_H
#define LT_BACKDIR_H

#include <stddef.h>
#include <stdio.h>

#include "lt_err.h"
#include "lt_gwcfg.h"

/* Suffix of the directory, beside a store backup, that holds the copies. */
#define LT_BACKDIR_SUFFIX ".directory"

/* Copies cfg's data_dir's directory files into to.directory (created
 * 0700), each file replaced atomically (0644, as the gateway writes them)
 * unless it holds the same bytes already: the retired ones, then the keys
 * that signed them (read after the copies, as the gateway writes a key
 * before its copy), then the learned keys, then the adopted directory, a
 * learned set and adopted directory read while the gateway kept the same
 * adopted one (so they belong together). Every retired copy is then opened
 * under cfg's pins and the keys backed up beside it; while one does not
 * (the gateway dropped its key in between), every file is read again, and
 * a copy that still does not open is warned about on out. One that does
 * not open in data_dir either is not read again for, and is warned about
 * (log and out) only by the backup that wrote it or its keys into the
 * backup, named on out (the log at debug level) by the later ones.
 * Copies an earlier backup holds of files data_dir no longer has are
 * removed. Says what it did on out. Returns 0, or -1 with err. */
int lt_backdir_save(const lt_gwcfg_t *cfg, const char *to, FILE *out, char *err,
                    size_t errlen) LT_NODISCARD;

/* Tests: fn(arg) runs in lt_backdir_save between reading the retired
 * copies and reading their keys, where the gateway may change both. NULL
 * to stop. */
void lt_backdir_set_race_hook(void (*fn)(void *arg), void *arg);

/* Puts back the directory files of the backup `from` into cfg's data
 * directory (the gateway stopped, its lock held by the caller): each
 * retired directory data_dir lacks, the authority keys that signed them
 * added to data_dir's authority.retired (bounded as the gateway bounds
 * it, lt_dirpick_retired_fit), and the adopted directory with the
 * keys it needs (lt_gwdir_persist) when data_dir has none or an older
 * version. Every copy is verified as the gateway verifies it; an adopted
 * directory in data_dir that does not open is left as it is (it may be
 * newer, signed by a key not pinned yet). A backup with no copies is
 * nothing to do. Says what it did on out. Returns 0, or -1 with err. */
int lt_backdir_restore(const lt_gwcfg_t *cfg, const char *from, FILE *out, char *err,
                       size_t errlen) LT_NODISCARD;

#endif

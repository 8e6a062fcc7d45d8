/* lt_backdir: the adopted directory, learned authority keys and retired
 * directories of a data directory, saved beside a store backup and put
 * back by a restore (see lt_backdir.h). */
#include "lt_backdir.h"
#include "lt_dir.h"
#include "lt_dirpick.h"
#include "lt_file.h"
#include "lt_gwdir.h"
#include "lt_limits.h"
#include "lt_log.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SNAPSHOT_TRIES 5 /* adoptions racing one backup: each is rare */
#define RETIRED_SEEN   64
#define PAIR_RETRIES   2 /* copies and their keys read again, when they do not match */

/* The contents of one file of data_dir, or its absence. */
typedef struct {
    uint8_t *data;
    size_t len;
    int has;
} s_file_t;

static void s_file_clear(s_file_t *f)
{
    free(f->data);
    memset(f, 0, sizeof *f);
}

/* Reads path into f; a missing file is f->has 0. Returns 0, or -1 with
 * errno. */
static int s_read(const char *path, s_file_t *f)
{
    memset(f, 0, sizeof *f);
    if (lt_file_read(path, LT_DIR_MAX_BYTES, &f->data, &f->len) == 0) {
        f->has = 1;
        return 0;
    }
    return errno == ENOENT ? 0 : -1;
}

static int s_same(const s_file_t *a, const s_file_t *b)
{
    return a->has == b->has && a->len == b->len &&
           (!a->has || memcmp(a->data, b->data, a->len) == 0);
}

/* The adopted directory and the learned keys as they stood together: the
 * gateway writes the keys a new directory needs before it, and settles
 * them after (lt_gwdir_persist), so a learned set read while the adopted
 * file held the same bytes before and after holds the keys that file
 * needs. Returns 0, or -1 with err. */
static int s_snapshot(const char *data_dir, s_file_t *adopted, s_file_t *learned, char *err,
                      size_t errlen)
{
    char a_path[PATH_MAX + 32], l_path[PATH_MAX + 32];
    lt_dirpick_adopted_path(data_dir, a_path, sizeof a_path);
    lt_dirpick_learned_path(data_dir, l_path, sizeof l_path);
    for (int i = 0; i < SNAPSHOT_TRIES; i++) {
        s_file_t again;
        const char *bad = s_read(a_path, adopted) != 0   ? a_path
                          : s_read(l_path, learned) != 0 ? l_path
                          : s_read(a_path, &again) != 0  ? a_path
                                                         : NULL;
        if (bad) {
            snprintf(err, errlen, "cannot read %s: %s", bad, strerror(errno));
            s_file_clear(adopted);
            s_file_clear(learned);
            return -1;
        }
        int same = s_same(adopted, &again);
        s_file_clear(&again);
        if (same)
            return 0;
        s_file_clear(adopted);
        s_file_clear(learned);
    }
    snprintf(err, errlen,
             "%s changed %d times while it was read: the gateway adopts directories "
             "without pause; try again",
             a_path, SNAPSHOT_TRIES);
    return -1;
}

/* Writes f to dir/name atomically, or removes dir/name when f has no
 * file. A file holding the same bytes already is left as it is (a
 * retired copy never changes: a backup rewrites none), its mode set. The
 * mode is 0644, the one the gateway writes these files with in data_dir:
 * they are signed directories and public keys, and the directory that
 * holds them (0700, as data_dir is) keeps them to the gateway's user
 * (docs/operations.md, "Backup and restore"). Returns 0, or -1 with err. */
static int s_put(const char *dir, const char *name, const s_file_t *f, char *err, size_t errlen)
{
    char path[PATH_MAX + 64];
    s_file_t had;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    if (f->has && s_read(path, &had) == 0) {
        int same = s_same(f, &had);
        s_file_clear(&had);
        /* Earlier versions wrote them 0600. */
        if (same && chmod(path, 0644) != 0) {
            snprintf(err, errlen, "cannot make %s mode 0644: %s", path, strerror(errno));
            return -1;
        }
        if (same)
            return 0;
    }
    if (f->has ? lt_file_write_atomic(path, f->data, f->len, 0644) != 0
               : unlink(path) != 0 && errno != ENOENT) {
        snprintf(err, errlen, "cannot %s %s: %s", f->has ? "write" : "remove", path,
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* Copies data_dir's retired directories into dir (their count in
 * *copied), and removes those dir holds that data_dir no longer has. A
 * retired file the gateway pruned meanwhile is passed over. */
static int s_save_retired(const char *data_dir, const char *dir, size_t *copied, char *err,
                          size_t errlen)
{
    uint64_t have[RETIRED_SEEN], old[RETIRED_SEEN];
    char path[PATH_MAX + 64];
    size_t n = lt_dirpick_retired_list(data_dir, have, RETIRED_SEEN);
    n = n < RETIRED_SEEN ? n : RETIRED_SEEN;
    *copied = 0;
    for (size_t i = 0; i < n; i++) {
        s_file_t f;
        lt_dirpick_retired_path(data_dir, have[i], path, sizeof path);
        if (s_read(path, &f) != 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            return -1;
        }
        const char *name = strrchr(path, '/') + 1;
        int rc = f.has ? s_put(dir, name, &f, err, errlen) : 0;
        *copied += f.has != 0;
        s_file_clear(&f);
        if (rc != 0)
            return -1;
    }
    size_t m = lt_dirpick_retired_list(dir, old, RETIRED_SEEN);
    for (size_t i = 0; i < m && i < RETIRED_SEEN; i++) {
        lt_dirpick_retired_path(data_dir, old[i], path, sizeof path);
        if (access(path, F_OK) == 0)
            continue;
        lt_dirpick_retired_path(dir, old[i], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot remove the earlier %s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}

static void (*s_race_hook)(void *arg);
static void *s_race_arg;

void lt_backdir_set_race_hook(void (*fn)(void *arg), void *arg)
{
    s_race_hook = fn;
    s_race_arg = arg;
}

/* Copies data_dir's retired directories into dir, then the keys that
 * signed them (authority.retired). In this order: the gateway writes a new
 * signer before the copy it signed, so every copy read has its key in the
 * signers read after it. A copy the gateway dropped meanwhile with its key
 * is what the caller checks for (s_unopened). Returns 0, or -1 with err. */
static int s_save_retired_pair(const char *data_dir, const char *dir, size_t *copied, char *err,
                               size_t errlen)
{
    char path[PATH_MAX + 32];
    s_file_t signers;
    if (s_save_retired(data_dir, dir, copied, err, errlen) != 0)
        return -1;
    if (s_race_hook)
        s_race_hook(s_race_arg);
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_RETIRED_SIGNERS, data_dir);
    if (s_read(path, &signers) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = s_put(dir, LT_DIRPICK_RETIRED_SIGNERS, &signers, err, errlen);
    s_file_clear(&signers);
    return rc;
}

/* The first retired copy in dir that does not open with the keys dir
 * holds beside it (as a restore opens it, lt_dirpick_retired_load), into
 * *version with the reason in why; 0 when every copy opens, 1 when one
 * does not. */
static int s_unopened(const lt_gwcfg_t *cfg, const char *dir, uint64_t *version, char *why,
                      size_t len)
{
    uint64_t v[RETIRED_SEEN];
    lt_dirpick_rtrust_t t;
    lt_dirpick_retired_trust(dir, &cfg->pins, &t);
    size_t n = lt_dirpick_retired_list(dir, v, RETIRED_SEEN);
    for (size_t i = 0; i < n && i < RETIRED_SEEN; i++) {
        lt_dir_t *d = lt_dirpick_retired_load(dir, v[i], &t, cfg->federation, why, len);
        int opened = d != NULL;
        lt_dir_destroy(&d);
        if (!opened) {
            *version = v[i];
            return 1;
        }
    }
    return 0;
}

int lt_backdir_save(const lt_gwcfg_t *cfg, const char *to, FILE *out, char *err, size_t errlen)
{
    char dir[PATH_MAX + 32], why[512];
    s_file_t adopted, learned;
    size_t retired = 0;
    uint64_t bad = 0;
    int rc = -1, unopened = 0;
    snprintf(dir, sizeof dir, "%s" LT_BACKDIR_SUFFIX, to);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    if (s_snapshot(cfg->data_dir, &adopted, &learned, err, errlen) != 0)
        return -1;
    /* The retired ones first and the adopted one last, as the gateway
     * writes them: a backup stopped part way holds no adopted directory
     * newer than the retired ones and keys beside it. */
    if (s_save_retired_pair(cfg->data_dir, dir, &retired, err, errlen) != 0 ||
        s_put(dir, LT_DIRPICK_LEARNED, &learned, err, errlen) != 0 ||
        s_put(dir, LT_DIRPICK_ADOPTED, &adopted, err, errlen) != 0)
        goto out;
    /* A copy whose key the gateway dropped between the two reads (pruning
     * the set, lt_dirpick_retired_fit) would be skipped by a restore: read
     * the pair again, the copy gone by then. */
    for (int i = 0; (unopened = s_unopened(cfg, dir, &bad, why, sizeof why)) && i < PAIR_RETRIES;
         i++)
        if (s_save_retired_pair(cfg->data_dir, dir, &retired, err, errlen) != 0)
            goto out;
    rc = 0;
    if (unopened) {
        lt_warn("backup",
                "the retired directory version %llu in %s does not open with the keys "
                "backed up beside it (%s): a restore skips it",
                (unsigned long long)bad, dir, why);
        fprintf(out,
                "warning: the retired directory version %llu in %s does not open with the "
                "keys backed up beside it (%s): a restore skips it\n",
                (unsigned long long)bad, dir, why);
    }
    if (adopted.has)
        fprintf(out,
                "adopted directory %s/" LT_DIRPICK_ADOPTED " copied to %s, with %zu "
                "retired directories%s\n",
                cfg->data_dir, dir, retired, learned.has ? " and the learned authority keys" : "");
    else
        fprintf(out, "no adopted directory in %s to copy (%zu retired directories copied to %s)\n",
                cfg->data_dir, retired, dir);
out:
    s_file_clear(&adopted);
    s_file_clear(&learned);
    return rc;
}

/* ---- restore ----------------------------------------------------------------- */

/* Adds to set the authority key that signed d, as t trusts it, unless
 * pinned or already there. 0, or -1 when set has no room. */
static int s_add_signer(lt_dir_pins_t *set, const lt_dir_t *d, const lt_dirpick_rtrust_t *t,
                        const lt_dir_pins_t *pins)
{
    uint8_t key[LT_KEY_BYTES];
    if (lt_dir_signer(d, pins, key) == 0 ||
        (lt_dir_signer(d, &t->signers, key) != 0 && lt_dir_signer(d, &t->base, key) != 0))
        return 0;
    for (size_t i = 0; i < set->count; i++)
        if (memcmp(set->keys[i], key, LT_KEY_BYTES) == 0)
            return 0;
    if (set->count == sizeof set->keys / sizeof set->keys[0])
        return -1;
    memcpy(set->keys[set->count++], key, LT_KEY_BYTES);
    return 0;
}

static int s_dropped(const uint64_t *drop, size_t n, uint64_t v)
{
    for (size_t i = 0; i < n; i++)
        if (drop[i] == v)
            return 1;
    return 0;
}

/* Of the retired directories of dir that open, picks into put those
 * data_dir lacks (a retired version's contents never change), and adds
 * the authority keys they need to set. Returns their count. */
static size_t s_restore_pick(const lt_gwcfg_t *cfg, const char *dir, const lt_dirpick_retired_t *r,
                             const lt_dir_t **put, lt_dir_pins_t *set, FILE *out)
{
    char path[PATH_MAX + 64];
    lt_dirpick_rtrust_t from;
    size_t n = 0;
    lt_dirpick_retired_trust(dir, &cfg->pins, &from);
    for (size_t i = 0; i < r->count; i++) {
        lt_dirpick_retired_path(cfg->data_dir, lt_dir_version(r->dirs[i]), path, sizeof path);
        if (access(path, F_OK) == 0)
            continue;
        if (s_add_signer(set, r->dirs[i], &from, &cfg->pins) == 0)
            put[n++] = r->dirs[i];
        else
            fprintf(out, "retired directory version %llu not restored: too many authority keys\n",
                    (unsigned long long)lt_dir_version(r->dirs[i]));
    }
    return n;
}

/* Removes the n_drop copies of data_dir that lt_dirpick_retired_fit gave
 * up (one being restored is not there), then writes set in place of
 * have, the keys data_dir had. 0, or -1 with err. */
static int s_restore_signers(const lt_gwcfg_t *cfg, const uint64_t *drop, size_t n_drop,
                             const lt_dir_pins_t *set, const lt_dir_pins_t *have, FILE *out,
                             char *err, size_t errlen)
{
    char path[PATH_MAX + 64];
    for (size_t i = 0; i < n_drop; i++) {
        lt_dirpick_retired_path(cfg->data_dir, drop[i], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot remove %s: %s", path, strerror(errno));
            return -1;
        }
        fprintf(out,
                "retired directory version %llu dropped, the oldest: its authority key would "
                "be one more than the %d kept\n",
                (unsigned long long)drop[i], LT_DIRPICK_MAX_RETIRED_SIGNERS);
    }
    if (set->count == have->count && memcmp(set->keys, have->keys, set->count * LT_KEY_BYTES) == 0)
        return 0;
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_RETIRED_SIGNERS, cfg->data_dir);
    if (lt_dirpick_retired_signers_write(cfg->data_dir, set) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    fprintf(out, "authority keys of the retired directories in %s: %zu\n", path, set->count);
    return 0;
}

/* Puts back each retired directory of dir that opens and that data_dir
 * lacks, with the authority keys that signed them merged into those
 * data_dir has (authority.retired), the set bounded as the gateway bounds
 * it (lt_dirpick_retired_fit): every copy kept, the host's and the
 * backup's, opens with the keys kept. The keys are written after the
 * copies that lost theirs are removed and before the copies that need
 * them, as the gateway does (PROTOCOL.md 5.5). */
static int s_restore_retired(const lt_gwcfg_t *cfg, const char *dir, FILE *out, char *err,
                             size_t errlen)
{
    lt_dirpick_retired_t r;
    lt_dirpick_rtrust_t have;
    const lt_dir_t *put[LT_DIRPICK_MAX_RETIRED];
    uint64_t drop[LT_DIRPICK_FIT_MAX];
    char path[PATH_MAX + 64];
    size_t n_drop;
    lt_dirpick_retired_open(&r, dir, &cfg->pins, cfg->federation);
    lt_dirpick_retired_trust(cfg->data_dir, &cfg->pins, &have);
    lt_dir_pins_t set = have.signers;
    size_t n_put = s_restore_pick(cfg, dir, &r, put, &set, out);
    lt_dirpick_retired_fit(cfg->data_dir, &cfg->pins, cfg->federation, put, n_put, &set, drop,
                           &n_drop);
    int rc = s_restore_signers(cfg, drop, n_drop, &set, &have.signers, out, err, errlen);
    for (size_t i = 0; rc == 0 && i < n_put; i++) {
        size_t len;
        const uint8_t *bytes = lt_dir_signed_bytes(put[i], &len);
        if (s_dropped(drop, n_drop, lt_dir_version(put[i])))
            continue;
        lt_dirpick_retired_path(cfg->data_dir, lt_dir_version(put[i]), path, sizeof path);
        if (lt_file_write_atomic(path, bytes, len, 0644) != 0) {
            snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            rc = -1;
        } else
            fprintf(out, "retired directory %s restored\n", path);
    }
    lt_dirpick_retired_clear(&r);
    return rc;
}

/* The backup's adopted directory b in place of data_dir's d, unless d is
 * as new, or there but unreadable (it may be the newer). */
static int s_restore_adopted(const lt_gwcfg_t *cfg, const char *dir, lt_dirpick_t *b,
                             lt_dirpick_t *d, FILE *out, char *err, size_t errlen)
{
    char adopted[PATH_MAX + 32], learned[PATH_MAX + 32];
    lt_dirpick_adopted_path(cfg->data_dir, adopted, sizeof adopted);
    lt_dirpick_learned_path(cfg->data_dir, learned, sizeof learned);
    if (!b->have_adopted) {
        fprintf(out, "no adopted directory in %s to restore\n", dir);
        return 0;
    }
    if (!b->adopted) {
        snprintf(err, errlen, "the backup's adopted directory is not restored: %s", b->why_adopted);
        return -1;
    }
    unsigned long long v = (unsigned long long)lt_dir_version(b->adopted);
    if (d->have_adopted && !d->adopted) {
        fprintf(out,
                "kept %s, which does not open (%s): it may be newer than version %llu of "
                "the backup\n",
                adopted, d->why_adopted, v);
        return 0;
    }
    if (d->adopted && lt_dir_version(d->adopted) >= lt_dir_version(b->adopted)) {
        fprintf(out, "kept %s: its version %llu is not older than version %llu of the backup\n",
                adopted, (unsigned long long)lt_dir_version(d->adopted), v);
        return 0;
    }
    if (lt_gwdir_persist(cfg, adopted, learned, d->adopted, b->adopted, &b->trust, err, errlen) !=
        0)
        return -1;
    fprintf(out, "adopted directory version %llu restored to %s\n", v, adopted);
    return 0;
}

int lt_backdir_restore(const lt_gwcfg_t *cfg, const char *from, FILE *out, char *err, size_t errlen)
{
    char dir[PATH_MAX + 32];
    struct stat st;
    lt_dirpick_t b, d;
    snprintf(dir, sizeof dir, "%s" LT_BACKDIR_SUFFIX, from);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(out,
                "no directory files beside %s (a backup taken before lienthong backup "
                "copied them)\n",
                from);
        return 0;
    }
    /* The retired ones first, as the gateway keeps them before it replaces
     * the adopted one. */
    if (s_restore_retired(cfg, dir, out, err, errlen) != 0)
        return -1;
    /* The backup's adopted directory as the gateway would open it were dir
     * its data directory, and data_dir's. */
    lt_dirpick_open_data_dir(&b, cfg->directory_file, dir, &cfg->pins, cfg->federation);
    lt_dirpick_open_data_dir(&d, cfg->directory_file, cfg->data_dir, &cfg->pins, cfg->federation);
    int rc = s_restore_adopted(cfg, dir, &b, &d, out, err, errlen);
    lt_dirpick_clear(&b);
    lt_dirpick_clear(&d);
    return rc;
}

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
#include <time.h>
#include <unistd.h>

#define SNAPSHOT_TRIES 5 /* adoptions racing one backup: each is rare */
#define RETIRED_SEEN   64
#define PAIR_RETRIES   2 /* every file read again, when a copy and its keys do not match */

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
 * (docs/operations.md, "Backup and restore"). Sets *changed when it wrote
 * or removed the file. Returns 0, or -1 with err. */
static int s_put(const char *dir, const char *name, const s_file_t *f, int *changed, char *err,
                 size_t errlen)
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
    int rc = f->has ? lt_file_write_atomic(path, f->data, f->len, 0644) : unlink(path);
    if (rc != 0 && (f->has || errno != ENOENT)) {
        snprintf(err, errlen, "cannot %s %s: %s", f->has ? "write" : "remove", path,
                 strerror(errno));
        return -1;
    }
    *changed |= rc == 0;
    return 0;
}

/* A retired copy of the backup that does not open with the keys beside
 * it, as s_unopened found it: why, and whether it does not open in
 * data_dir either (broken: no reading again makes it open). */
typedef struct {
    uint64_t version;
    int broken;
    char why[512];
} s_unopened_t;

/* What a backup read from data_dir and what it changed in dir: the adopted
 * directory and learned keys (s_snapshot), the retired copies copied, and
 * whether it wrote the keys or a copy, so that a copy that does not open
 * is warned about once per change of it or its keys (s_report); and the
 * copies the last check found unopened, reported as found. */
typedef struct {
    s_file_t adopted, learned;
    size_t retired;
    int keys_changed;               /* authority.retired or authority.learned */
    uint64_t changed[RETIRED_SEEN]; /* the retired copies it wrote */
    size_t n_changed;
    s_unopened_t unopened[RETIRED_SEEN];
    size_t n_unopened;
} s_save_t;

/* 1 when this save wrote the backup's retired copy `version`. */
static int s_copy_written(const s_save_t *s, uint64_t version)
{
    for (size_t i = 0; i < s->n_changed; i++)
        if (s->changed[i] == version)
            return 1;
    return 0;
}

/* 1 when this save wrote the backup's authority keys (retired or learned):
 * any retired copy may open, or not, otherwise than it did before. */
static int s_keys_changed(const s_save_t *s)
{
    return s->keys_changed;
}

/* Copies data_dir's retired directories into dir (their count in
 * s->retired), and removes those dir holds that data_dir no longer has. A
 * retired file the gateway pruned meanwhile is passed over. */
static int s_save_retired(const char *data_dir, const char *dir, s_save_t *s, char *err,
                          size_t errlen)
{
    uint64_t have[RETIRED_SEEN], old[RETIRED_SEEN];
    char path[PATH_MAX + 64];
    size_t n = lt_dirpick_retired_list(data_dir, have, RETIRED_SEEN);
    n = n < RETIRED_SEEN ? n : RETIRED_SEEN;
    s->retired = 0;
    for (size_t i = 0; i < n; i++) {
        s_file_t f;
        int wrote = 0;
        lt_dirpick_retired_path(data_dir, have[i], path, sizeof path);
        if (s_read(path, &f) != 0) {
            snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
            return -1;
        }
        const char *name = strrchr(path, '/') + 1;
        int rc = f.has ? s_put(dir, name, &f, &wrote, err, errlen) : 0;
        s->retired += f.has != 0;
        s_file_clear(&f);
        if (rc != 0)
            return -1;
        if (wrote && !s_copy_written(s, have[i]) && s->n_changed < RETIRED_SEEN)
            s->changed[s->n_changed++] = have[i];
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
static int s_save_retired_pair(const char *data_dir, const char *dir, s_save_t *s, char *err,
                               size_t errlen)
{
    char path[PATH_MAX + 32];
    s_file_t signers;
    if (s_save_retired(data_dir, dir, s, err, errlen) != 0)
        return -1;
    if (s_race_hook)
        s_race_hook(s_race_arg);
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_RETIRED_SIGNERS, data_dir);
    if (s_read(path, &signers) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    int rc = s_put(dir, LT_DIRPICK_RETIRED_SIGNERS, &signers, &s->keys_changed, err, errlen);
    s_file_clear(&signers);
    return rc;
}

/* One reading of every directory file of data_dir into dir: the adopted
 * directory and learned keys as they stood together, then the retired
 * copies and their keys, then the learned keys and the adopted directory
 * written last, as the gateway writes them: a backup stopped part way
 * holds no adopted directory newer than the retired ones and keys beside
 * it. Returns 0, or -1 with err. */
static int s_save_once(const char *data_dir, const char *dir, s_save_t *s, char *err, size_t errlen)
{
    int adopted_changed = 0;
    s_file_clear(&s->adopted);
    s_file_clear(&s->learned);
    if (s_snapshot(data_dir, &s->adopted, &s->learned, err, errlen) != 0)
        return -1;
    if (s_save_retired_pair(data_dir, dir, s, err, errlen) != 0 ||
        s_put(dir, LT_DIRPICK_LEARNED, &s->learned, &s->keys_changed, err, errlen) != 0 ||
        s_put(dir, LT_DIRPICK_ADOPTED, &s->adopted, &adopted_changed, err, errlen) != 0)
        return -1;
    return 0;
}

/* 1 when data_dir holds its retired copy `version` and it does not open
 * there either: the gateway ignores it too (lt_dirpick_retired_open), and
 * no reading again makes the backup's copy open. */
static int s_broken_here(const lt_gwcfg_t *cfg, uint64_t version)
{
    char path[PATH_MAX + 64], why[512];
    lt_dirpick_rtrust_t t;
    lt_dirpick_retired_trust(cfg->data_dir, &cfg->pins, &t);
    lt_dir_t *d =
        lt_dirpick_retired_load(cfg->data_dir, version, &t, cfg->federation, why, sizeof why);
    int opened = d != NULL;
    lt_dir_destroy(&d);
    lt_dirpick_retired_path(cfg->data_dir, version, path, sizeof path);
    return !opened && access(path, F_OK) == 0;
}

/* Names a retired copy of dir that does not open with the keys beside it.
 * One that opens in data_dir was dropped or re-signed there after every
 * reading: warned about at each backup. One that does not open in data_dir
 * either (broken) stays so until it or its keys change: warned about at
 * the backup that wrote it or its keys into dir, and at debug level by
 * the later ones, which find them there as they were (seen). */
static void s_report(const char *dir, uint64_t version, const char *why, int broken, int seen,
                     FILE *out)
{
    unsigned long long v = (unsigned long long)version;
    if (!broken) {
        lt_warn("backup",
                "the retired directory version %llu in %s does not open with the keys "
                "backed up beside it (%s): a restore skips it",
                v, dir, why);
        fprintf(out,
                "warning: the retired directory version %llu in %s does not open with the "
                "keys backed up beside it (%s): a restore skips it\n",
                v, dir, why);
    } else if (seen) {
        lt_debug("backup",
                 "the retired directory version %llu in %s does not open (%s), in the data "
                 "directory either; warned about at an earlier backup",
                 v, dir, why);
        fprintf(out,
                "retired directory version %llu in %s does not open (%s), in the data directory "
                "either: a restore skips it, as the gateway does (unchanged since the backup "
                "that warned of it)\n",
                v, dir, why);
    } else {
        lt_warn("backup",
                "the retired directory version %llu in %s does not open (%s), in the data "
                "directory either: the gateway ignores it, and a restore skips it",
                v, dir, why);
        fprintf(out,
                "warning: the retired directory version %llu in %s does not open (%s), in the "
                "data directory either: the gateway ignores it, and a restore skips it\n",
                v, dir, why);
    }
}

/* Finds the retired copies in dir that do not open with the keys dir holds
 * beside them (as a restore opens them, lt_dirpick_retired_load), into
 * s->unopened, each verified once: what s_report names. Returns how many
 * of them data_dir no longer holds, or holds opening: the gateway changed
 * them between the readings, and a reading again may find them right. */
static int s_unopened(const lt_gwcfg_t *cfg, const char *dir, s_save_t *s)
{
    uint64_t v[RETIRED_SEEN];
    int raced = 0;
    lt_dirpick_rtrust_t t;
    lt_dirpick_retired_trust(dir, &cfg->pins, &t);
    size_t n = lt_dirpick_retired_list(dir, v, RETIRED_SEEN);
    s->n_unopened = 0;
    for (size_t i = 0; i < n && i < RETIRED_SEEN; i++) {
        s_unopened_t *u = &s->unopened[s->n_unopened];
        lt_dir_t *d =
            lt_dirpick_retired_load(dir, v[i], &t, cfg->federation, u->why, sizeof u->why);
        int opened = d != NULL;
        lt_dir_destroy(&d);
        if (opened)
            continue;
        u->version = v[i];
        u->broken = s_broken_here(cfg, v[i]);
        raced += !u->broken;
        s->n_unopened++;
    }
    return raced;
}

/* Names on out the copies of dir the last s_unopened found, as it found
 * them: none is verified again for it. A copy is seen (warned of before)
 * unless this save wrote it or the keys beside it. */
static void s_report_unopened(const char *dir, const s_save_t *s, FILE *out)
{
    for (size_t i = 0; i < s->n_unopened; i++) {
        const s_unopened_t *u = &s->unopened[i];
        int seen = !s_copy_written(s, u->version) && !s_keys_changed(s);
        s_report(dir, u->version, u->why, u->broken, seen, out);
    }
}

int lt_backdir_save(const lt_gwcfg_t *cfg, const char *to, FILE *out, char *err, size_t errlen)
{
    char dir[PATH_MAX + 32];
    s_save_t s;
    int rc = -1;
    memset(&s, 0, sizeof s);
    snprintf(dir, sizeof dir, "%s" LT_BACKDIR_SUFFIX, to);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
        return -1;
    }
    /* A copy whose key the gateway dropped between the two reads (pruning
     * the set, lt_dirpick_retired_fit, as it retires the directory an
     * adoption replaced) would be skipped by a restore: everything is read
     * again, the copy gone by then, and with it the adopted directory and
     * learned keys that adoption wrote. A copy that does not open in
     * data_dir either is no reason: no reading makes it open. */
    for (int i = 0;; i++) {
        if (s_save_once(cfg->data_dir, dir, &s, err, errlen) != 0)
            goto out;
        if (!s_unopened(cfg, dir, &s) || i == PAIR_RETRIES)
            break;
    }
    s_report_unopened(dir, &s, out);
    rc = 0;
    if (s.adopted.has)
        fprintf(out,
                "adopted directory %s/" LT_DIRPICK_ADOPTED " copied to %s, with %zu "
                "retired directories%s\n",
                cfg->data_dir, dir, s.retired,
                s.learned.has ? " and the learned authority keys" : "");
    else
        fprintf(out, "no adopted directory in %s to copy (%zu retired directories copied to %s)\n",
                cfg->data_dir, s.retired, dir);
out:
    s_file_clear(&s.adopted);
    s_file_clear(&s.learned);
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
    return lt_dir_pins_add_key(set, key);
}

static int s_dropped(const uint64_t *drop, size_t n, uint64_t v)
{
    for (size_t i = 0; i < n; i++)
        if (drop[i] == v)
            return 1;
    return 0;
}

/* Opens path under *cur and, when it does and is newer than *after, takes
 * it as the gateway adopts a directory (PROTOCOL.md 5.5): *cur becomes the
 * pins, the key that signed it and the next keys it announces, as the
 * gateway then trusts only its current directory's signer
 * (lt_dir_learned_settle) and announcements; that signer joins *signers,
 * the keys of the retired copies, which only grows. The directory when it
 * was taken, else NULL. */
static lt_dir_t *s_walk_one(const char *path, const lt_dir_pins_t *pins, lt_dir_pins_t *cur,
                            lt_dir_pins_t *signers, uint64_t *after, const char *federation)
{
    char why[700];
    uint8_t key[LT_KEY_BYTES];
    lt_dir_pins_t base = *pins;
    lt_dir_t *d = lt_dir_load(path, cur, federation, 0, why, sizeof why);
    int taken = d && lt_dir_version(d) > *after && lt_dir_signer(d, cur, key) == 0;
    if (taken) {
        /* The pins leave room for one key: a set holds the learned ones too. */
        if (lt_dir_pins_add_key(&base, key) != 0 || lt_dir_pins_add_key(signers, key) != 0)
            lt_warn("restore",
                    "%s: more authority keys than a gateway holds; its signer is not kept "
                    "for the retired directories",
                    path);
        lt_dir_trust(&base, d, cur);
        *after = lt_dir_version(d);
        return d;
    }
    lt_dir_destroy(&d);
    return NULL;
}

/* The authority keys a restore trusts the backup's directories under
 * (docs/operations.md, "Backup and restore"): what the gateway on data_dir
 * trusts once running (the pins, the keys data_dir learned and the next
 * keys the directory it runs with, host->taken, announces), then, as if
 * the gateway had adopted them one after the other, the backup's retired
 * directories newer than the one the host runs with, oldest first: each
 * taken only when it verifies under the keys in force at that point, and
 * only the newest taken one's signer and announcements kept in *trust, as
 * the gateway keeps those of its current directory alone (PROTOCOL.md 5.5,
 * lt_dir_learned_settle). So a key that an old directory announced and a
 * later one withdrew is not trusted again, nor the signer of a directory a
 * later one replaced, and directories the host already went past teach it
 * nothing: the backup's adopted directory is verified under *trust. The
 * signers of all the directories taken go to *retired, with *trust, as a
 * gateway keeps the signers of the copies it retired (authority.retired):
 * every retired copy taken stays verifiable, and its key is found for
 * data_dir's authority.retired (s_restore_pick). The backup's
 * authority.learned and authority.retired are never read for it: anyone
 * who could write the backup wrote them. The newest LT_DIRPICK_MAX_RETIRED
 * retired ones the walk takes go to held, at their index in
 * lt_dirpick_retired_list's order, so that the restore does not verify
 * them again: each was signed by a key of *retired, which only grows, so
 * it opens under the final keys too. */
static void s_restore_trust(const lt_gwcfg_t *cfg, const char *dir, const lt_dirpick_t *host,
                            lt_dir_pins_t *trust, lt_dir_pins_t *retired,
                            lt_dir_t *held[LT_DIRPICK_MAX_RETIRED])
{
    char path[PATH_MAX + 64];
    uint64_t v[RETIRED_SEEN];
    size_t n = lt_dirpick_retired_list(dir, v, RETIRED_SEEN);
    n = n < RETIRED_SEEN ? n : RETIRED_SEEN;
    uint64_t after = host->taken ? lt_dir_version(host->taken) : 0;
    /* Not host->trust: it holds the next keys of both of the host's
     * candidates, the older one's too, which the gateway does not trust
     * once it runs with the newer (lt_gateway's s_adoptable). */
    char learned[PATH_MAX + 32];
    lt_dirpick_learned_path(cfg->data_dir, learned, sizeof learned);
    (void)lt_dir_learned_add(learned, &cfg->pins, retired); /* not keys: nothing added */
    if (host->taken)
        lt_dir_trust(retired, host->taken, trust);
    else
        *trust = *retired;
    for (size_t i = n; i-- > 0;) {
        lt_dirpick_retired_path(dir, v[i], path, sizeof path);
        lt_dir_t *d = s_walk_one(path, &cfg->pins, trust, retired, &after, cfg->federation);
        if (d && i < LT_DIRPICK_MAX_RETIRED)
            held[i] = d;
        else
            lt_dir_destroy(&d);
    }
    for (size_t i = 0; i < trust->count; i++)
        if (lt_dir_pins_add_key(retired, trust->keys[i]) != 0)
            break; /* full: the last announcements go, as lt_dir_trust drops them */
}

/* A retired directory of the backup that does not open: named on out (a
 * FILE *) and in the log, and not restored. */
static void s_restore_unopened(void *out, uint64_t version, const char *why)
{
    char msg[900];
    snprintf(msg, sizeof msg,
             "retired directory version %llu not restored: %s (trusted are authority_keys, "
             "the keys data_dir learned and those a directory that verifies announces, not "
             "the backup's authority files)",
             (unsigned long long)version, why);
    lt_warn("restore", "%s", msg);
    fprintf(out, "%s\n", msg);
}

/* Of the retired directories in r, picks into put those data_dir lacks (a
 * retired version's contents never change), and adds the authority keys
 * they need (from t) to set. Returns their count. */
static size_t s_restore_pick(const lt_gwcfg_t *cfg, const lt_dirpick_retired_t *r,
                             const lt_dirpick_rtrust_t *t, const lt_dir_t **put, lt_dir_pins_t *set,
                             FILE *out)
{
    char path[PATH_MAX + 64];
    size_t n = 0;
    for (size_t i = 0; i < r->count; i++) {
        lt_dirpick_retired_path(cfg->data_dir, lt_dir_version(r->dirs[i]), path, sizeof path);
        if (access(path, F_OK) == 0)
            continue;
        if (s_add_signer(set, r->dirs[i], t, &cfg->pins) == 0)
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

/* Puts back each retired directory of dir that opens under retired (or
 * the keys of data_dir's authority.retired) and that data_dir lacks, with
 * the authority keys that signed them merged into those data_dir has
 * (authority.retired), the set bounded as the gateway bounds it
 * (lt_dirpick_retired_fit): every copy kept, the host's and the backup's,
 * opens with the keys kept. The keys are written after the copies that
 * lost theirs are removed and before the copies that need them, as the
 * gateway does (PROTOCOL.md 5.5). */
static int s_restore_retired(const lt_gwcfg_t *cfg, const char *dir, const lt_dir_pins_t *retired,
                             lt_dir_t **held, FILE *out, char *err, size_t errlen)
{
    lt_dirpick_retired_t r;
    lt_dirpick_rtrust_t have, t;
    const lt_dir_t *put[LT_DIRPICK_MAX_RETIRED];
    uint64_t drop[LT_DIRPICK_FIT_MAX];
    char path[PATH_MAX + 64];
    size_t n_drop;
    lt_dirpick_retired_trust(cfg->data_dir, &cfg->pins, &have);
    /* The keys data_dir's own retired copies are trusted under, as the
     * gateway trusts them (lt_dirpick_retired_open), and those derived. */
    t.base = *retired;
    t.signers = have.signers;
    lt_dirpick_retired_open_under(&r, dir, &t, cfg->federation, held, s_restore_unopened, out);
    lt_dir_pins_t set = have.signers;
    size_t n_put = s_restore_pick(cfg, &r, &t, put, &set, out);
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
        snprintf(err, errlen,
                 "the backup's adopted directory is not restored: %s (trusted are "
                 "authority_keys, the keys data_dir learned and those a directory that "
                 "verifies announces, not the backup's authority.learned)",
                 b->why_adopted);
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
    char dir[PATH_MAX + 32], adopted[PATH_MAX + 64];
    struct stat st;
    lt_dirpick_t b, d;
    lt_dir_pins_t trust, retired;
    lt_dir_t *held[LT_DIRPICK_MAX_RETIRED] = {NULL};
    memset(&b, 0, sizeof b); /* opened only when the retired ones went back */
    snprintf(dir, sizeof dir, "%s" LT_BACKDIR_SUFFIX, from);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(out,
                "no directory files beside %s (a backup taken before lienthong backup "
                "copied them)\n",
                from);
        return 0;
    }
    /* data_dir's as the gateway opens it, and from what it trusts, the
     * keys the backup's directories are verified under. */
    lt_dirpick_open_data_dir(&d, cfg->directory_file, cfg->data_dir, &cfg->pins, cfg->federation);
    s_restore_trust(cfg, dir, &d, &trust, &retired, held);
    /* The retired ones first, as the gateway keeps them before it replaces
     * the adopted one. */
    int rc = s_restore_retired(cfg, dir, &retired, held, out, err, errlen);
    for (size_t i = 0; i < LT_DIRPICK_MAX_RETIRED; i++)
        lt_dir_destroy(&held[i]); /* none left, unless the list changed meanwhile */
    /* The backup's adopted directory as the gateway would open it were dir
     * its data directory, under the keys in force after the walk. */
    if (rc == 0) {
        lt_dirpick_adopted_path(dir, adopted, sizeof adopted);
        lt_dirpick_open(&b, cfg->directory_file, adopted, &trust, cfg->federation,
                        (int64_t)time(NULL));
        rc = s_restore_adopted(cfg, dir, &b, &d, out, err, errlen);
    }
    lt_dirpick_clear(&b);
    lt_dirpick_clear(&d);
    return rc;
}

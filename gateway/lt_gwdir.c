/* lt_gwdir: choosing the directory at start, persisting the one adopted
 * with the authority keys it needs, and watching its expiry (PROTOCOL.md
 * 5.3, 5.5, 5.6). */
#include "lt_gwdir.h"
#include "lt_clock.h"
#include "lt_crypto.h"
#include "lt_dirpick.h"
#include "lt_file.h"
#include "lt_gwstats.h"
#include "lt_log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DAY_S 86400

/* ---- start ------------------------------------------------------------------ */

/* "version 3, valid until T" or "version 3, EXPIRED at T". */
static void s_describe(const lt_dir_t *d, int64_t now, char *buf, size_t len)
{
    char ts[LT_CLOCK_UTC_LEN];
    lt_clock_utc(lt_dir_expires(d), ts, sizeof ts);
    snprintf(buf, len, "version %llu, %s %s", (unsigned long long)lt_dir_version(d),
             now >= lt_dir_expires(d) ? "EXPIRED at" : "valid until", ts);
}

/* Logs which of the two was taken and why. */
static void s_log_choice(const lt_dir_t *taken, const char *taken_path, const lt_dir_t *other,
                         const char *other_path, const char *other_why, int64_t now)
{
    char a[128], b[128];
    s_describe(taken, now, a, sizeof a);
    if (other)
        s_describe(other, now, b, sizeof b);
    if (!other && other_why)
        lt_info("directory", "starting with %s (%s); the other copy is not usable: %s", taken_path,
                a, other_why);
    else if (!other)
        lt_info("directory", "starting with %s (%s)", taken_path, a);
    else
        lt_info("directory", "starting with %s (%s): %s %s (%s)", taken_path, a,
                lt_dir_version(taken) == lt_dir_version(other) ? "the same version as"
                                                               : "newer than",
                other_path, b);
}

void lt_gwdir_base(const lt_gwcfg_t *cfg, const char *learned_path, lt_dir_pins_t *base,
                   int *warned)
{
    int bad = lt_dir_learned_add(learned_path, &cfg->pins, base) != 0;
    if (bad && warned && *warned)
        return;
    if (warned)
        *warned = bad;
    if (bad)
        lt_warn("directory",
                "%s does not hold authority keys; ignored (the gateway writes it when "
                "it adopts a directory signed by an announced key, PROTOCOL.md 5.5)",
                learned_path);
}

/* Writes conf, the configured directory taken at start, to adopted_path
 * before it is served, as an adoption is (5.3), so that a later start with
 * an older configured file keeps it rather than the copy it replaced; fails
 * as SIGHUP refuses a directory it cannot write. Nothing to write when the
 * copy holds the same bytes. A copy that does not open (have_adopted, no
 * adopted) is left as it is: it may be newer, signed by a key the operator
 * has yet to pin, and was warned about. */
static int s_keep_conf(const lt_gwcfg_t *cfg, const char *adopted_path, const char *learned_path,
                       const lt_dir_t *conf, const lt_dir_t *adopted, int have_adopted,
                       const lt_dir_pins_t *trust, char *err, size_t errlen)
{
    char why[700];
    size_t len, have_len = 0;
    const uint8_t *bytes = lt_dir_signed_bytes(conf, &len);
    const uint8_t *have = adopted ? lt_dir_signed_bytes(adopted, &have_len) : NULL;
    if ((have_adopted && !adopted) || (have && have_len == len && memcmp(have, bytes, len) == 0))
        return 0;
    if (lt_gwdir_persist(cfg, adopted_path, learned_path, adopted, conf, trust, why, sizeof why) !=
        0) {
        snprintf(err, errlen,
                 "%s: directory version %llu not used, as it cannot be kept for the "
                 "next start (PROTOCOL.md 5.3): %s",
                 cfg->directory_file, (unsigned long long)lt_dir_version(conf), why);
        return -1;
    }
    lt_info("directory", "version %llu of %s kept in %s for the next start",
            (unsigned long long)lt_dir_version(conf), cfg->directory_file, adopted_path);
    return 0;
}

lt_dir_t *lt_gwdir_load(const lt_gwcfg_t *cfg, const char *adopted_path, const char *learned_path,
                        const lt_dir_pins_t *base, char *err, size_t errlen)
{
    int64_t now = (int64_t)time(NULL);
    lt_dirpick_t p;
    lt_dirpick_open(&p, cfg->directory_file, adopted_path, base, cfg->federation, now);
    if (p.have_adopted && !p.adopted)
        lt_warn("directory", "ignoring the directory adopted earlier: %s", p.why_adopted);
    if (!p.taken) {
        snprintf(err, errlen, "%s", p.why_conf);
        lt_dirpick_clear(&p);
        return NULL;
    }
    int is_conf = p.taken == p.conf;
    s_log_choice(p.taken, is_conf ? cfg->directory_file : adopted_path,
                 is_conf ? p.adopted : p.conf, is_conf ? adopted_path : cfg->directory_file,
                 is_conf ? (p.have_adopted ? p.why_adopted : NULL) : (p.conf ? NULL : p.why_conf),
                 now);
    if (is_conf && s_keep_conf(cfg, adopted_path, learned_path, p.conf, p.adopted, p.have_adopted,
                               &p.trust, err, errlen) != 0) {
        lt_dirpick_clear(&p);
        return NULL;
    }
    return lt_dirpick_take(&p);
}

/* ---- persisting ------------------------------------------------------------- */

/* 1 when d no longer lists, for the same member, a signing key kept lists. */
static int s_drops_key(const lt_dir_t *kept, const lt_dir_t *d)
{
    const Lienthong__Directory *k = lt_dir_get(kept);
    for (size_t i = 0; i < k->n_members; i++) {
        const uint8_t *was[2], *now[2];
        size_t n_was = lt_dir_signing_keys(k->members[i], was), n_now = 0;
        const Lienthong__Member *m = lt_dir_member(d, k->members[i]->id);
        if (m)
            n_now = lt_dir_signing_keys(m, now);
        for (size_t a = 0; a < n_was; a++) {
            int listed = 0;
            for (size_t b = 0; b < n_now; b++)
                listed |= memcmp(was[a], now[b], LT_KEY_BYTES) == 0;
            if (!listed)
                return 1;
        }
    }
    return 0;
}

/* The members' signing keys some directory lists, each as the hash of the
 * member's id and the key: what the retired copies must go on proving. */
typedef struct {
    uint8_t (*h)[LT_HASH_BYTES];
    size_t n, cap;
} keyset_t;

/* Adds d's members' signing keys to set: 1 if any was new, 0 if none, -1
 * when out of memory. */
static int s_keyset_add(keyset_t *set, const lt_dir_t *d)
{
    const Lienthong__Directory *dir = lt_dir_get(d);
    int added = 0;
    for (size_t i = 0; i < dir->n_members; i++) {
        const uint8_t *keys[2];
        size_t n_keys = lt_dir_signing_keys(dir->members[i], keys);
        for (size_t k = 0; k < n_keys; k++) {
            uint8_t h[LT_HASH_BYTES];
            /* The id's NUL keeps (id, key) pairs apart. */
            const uint8_t *bufs[] = {(const uint8_t *)dir->members[i]->id, keys[k]};
            const size_t lens[] = {strlen(dir->members[i]->id) + 1, LT_KEY_BYTES};
            lt_crypto_hashv(bufs, lens, 2, h);
            size_t j = 0;
            while (j < set->n && memcmp(set->h[j], h, sizeof h) != 0)
                j++;
            if (j < set->n)
                continue;
            if (set->n == set->cap) {
                size_t cap = set->cap ? set->cap * 2 : 64;
                void *grown = realloc(set->h, cap * sizeof *set->h);
                if (!grown)
                    return -1;
                set->h = grown;
                set->cap = cap;
            }
            memcpy(set->h[set->n++], h, sizeof h);
            added = 1;
        }
    }
    return added;
}

/* Removes from dir the retired copies no longer needed: one whose every
 * signing key d or a newer copy lists proves nothing more, and beyond
 * LT_DIRPICK_MAX_RETIRED needed ones the oldest go. A copy that does not
 * open is left to the count (it is warned about where it is used). */
static void s_prune_retired(const char *dir, const lt_dir_t *d, const lt_dir_pins_t *pins,
                            const char *federation)
{
    char path[PATH_MAX + 64], why[700];
    uint64_t v[LT_DIRPICK_MAX_RETIRED * 2];
    keyset_t set = {NULL, 0, 0};
    lt_dirpick_rtrust_t t;
    size_t kept = 0;
    int none = s_keyset_add(&set, d) < 0; /* out of memory: the count alone */
    lt_dirpick_retired_trust(dir, pins, &t);
    size_t n = lt_dirpick_retired_list(dir, v, sizeof v / sizeof v[0]);
    for (size_t i = 0; i < n && i < sizeof v / sizeof v[0]; i++) {
        lt_dir_t *r =
            none ? NULL : lt_dirpick_retired_load(dir, v[i], &t, federation, why, sizeof why);
        int adds = r ? s_keyset_add(&set, r) : 1;
        lt_dir_destroy(&r);
        if (adds != 0 && kept < LT_DIRPICK_MAX_RETIRED) {
            kept++;
            continue;
        }
        lt_dirpick_retired_path(dir, v[i], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT)
            lt_warn("directory", "cannot remove %s: %s", path, strerror(errno));
    }
    free(set.h);
}

/* Keeps the authority key that signs kept, when pins lack it, in dir's
 * authority.retired: the copy then still opens once that key is no longer
 * pinned or learned (PROTOCOL.md 5.5). A full set makes room as
 * lt_dirpick_retired_fit says: a key no copy needs goes, else the oldest
 * copies go with their key, removed first. 0, 1 when kept itself is too
 * old to keep, or -1 with errno. */
static int s_keep_signer(const lt_gwcfg_t *cfg, const lt_dir_t *kept, const lt_dir_pins_t *trust)
{
    char path[PATH_MAX + 64];
    uint8_t key[LT_KEY_BYTES];
    uint64_t drop[LT_DIRPICK_FIT_MAX];
    size_t n_drop;
    int old = 0;
    lt_dirpick_rtrust_t t; /* the file read as the copies' readers read it */
    if (lt_dir_signer(kept, trust, key) != 0 || lt_dir_signer(kept, &cfg->pins, key) == 0)
        return 0; /* pinned, or not under trust: nothing to keep */
    lt_dirpick_retired_trust(cfg->data_dir, &cfg->pins, &t);
    lt_dir_pins_t *set = &t.signers;
    size_t had = set->count;
    if (lt_dir_pins_add_key(set, key) != 0) {
        /* Not reached while the file holds at most
         * LT_DIRPICK_MAX_RETIRED_SIGNERS keys, fewer than a set holds
         * (asserted below s_keep_signer). */
        lt_error("directory",
                 "cannot keep the authority key of directory version %llu: %zu keys "
                 "from %s/" LT_DIRPICK_RETIRED_SIGNERS " fill the set",
                 (unsigned long long)lt_dir_version(kept), had, cfg->data_dir);
        errno = ENOSPC;
        return -1;
    }
    if (set->count == had)
        return 0; /* already kept */
    lt_dirpick_retired_fit(cfg->data_dir, &cfg->pins, cfg->federation, &kept, 1, set, drop,
                           &n_drop);
    for (size_t i = 0; i < n_drop; i++) {
        old |= drop[i] == lt_dir_version(kept);
        lt_dirpick_retired_path(cfg->data_dir, drop[i], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT)
            return -1;
        lt_warn("directory",
                "dropped the retired directory version %llu, the oldest: its authority key "
                "would be one more than the %d kept in %s/" LT_DIRPICK_RETIRED_SIGNERS,
                (unsigned long long)drop[i], LT_DIRPICK_MAX_RETIRED_SIGNERS, cfg->data_dir);
    }
    if (lt_dirpick_retired_signers_write(cfg->data_dir, set) != 0)
        return -1;
    return old;
}

_Static_assert(LT_DIRPICK_MAX_RETIRED_SIGNERS <
                   sizeof((lt_dir_pins_t *)0)->keys / sizeof((lt_dir_pins_t *)0)->keys[0],
               "authority.retired read whole leaves room for one more key");

/* Keeps kept, which d replaces, in data_dir when d drops a member's
 * signing key: the batches that key signed, kept by a replica, are
 * verified under it at rest (PROTOCOL.md 6.10), by the feed and `store
 * verify`, which open the retired directories of data_dir
 * (lt_dirpick_retired_open); then prunes the copies no longer needed. A
 * failure is only warned about: those batches are then damage, fetched
 * again from their owner. */
static void s_keep_retired(const lt_gwcfg_t *cfg, const lt_dir_t *kept, const lt_dir_t *d,
                           const lt_dir_pins_t *trust)
{
    const char *dir = cfg->data_dir;
    char path[PATH_MAX + 64];
    size_t len;
    if (!kept || !s_drops_key(kept, d))
        return;
    lt_dirpick_retired_path(dir, lt_dir_version(kept), path, sizeof path);
    const uint8_t *bytes = lt_dir_signed_bytes(kept, &len);
    /* The signer first: a copy on disk always opens with the keys on disk. */
    int rc = s_keep_signer(cfg, kept, trust);
    if (rc == 1)
        return; /* older than the copies kept instead, and warned about */
    if (rc != 0 || lt_file_write_atomic(path, bytes, len, 0644) != 0) {
        lt_warn("directory",
                "cannot keep %s: %s; batches signed with the keys version %llu "
                "drops will be fetched again from their owners",
                path, strerror(errno), (unsigned long long)lt_dir_version(d));
        return;
    }
    s_prune_retired(dir, d, &cfg->pins, cfg->federation);
}

int lt_gwdir_persist(const lt_gwcfg_t *cfg, const char *adopted_path, const char *learned_path,
                     const lt_dir_t *kept, const lt_dir_t *d, const lt_dir_pins_t *trust, char *err,
                     size_t errlen)
{
    size_t len;
    const uint8_t *bytes = lt_dir_signed_bytes(d, &len);
    /* At every point a crash or a failed write may stop this, the
     * directory on disk verifies with the keys on disk (5.3 "a restart
     * keeps the newest", 5.5), each file being replaced by a rename:
     * - before the learned set is renamed: kept, with the keys it was
     *   written with;
     * - after it, before directory.signed is renamed: kept, with a set that
     *   only gained the key that signs d;
     * - after directory.signed is renamed, before the set is settled: d,
     *   with a set holding its signer (or d's signer is pinned);
     * - after the set is settled: d, with its signer alone or nothing. */
    if (lt_dir_learned_prepare(learned_path, kept, d, trust, &cfg->pins) != 0) {
        snprintf(err, errlen, "cannot persist %s: %s", learned_path, strerror(errno));
        return -1;
    }
    /* Before d replaces it: a crash between leaves one more kept. */
    s_keep_retired(cfg, kept, d, trust);
    if (lt_file_write_atomic(adopted_path, bytes, len, 0644) != 0) {
        snprintf(err, errlen, "cannot persist %s: %s", adopted_path, strerror(errno));
        return -1;
    }
    /* d is in place and verifies: a key left over is only trusted longer,
     * until the next directory settles the set. */
    if (lt_dir_learned_settle(learned_path, d, trust, &cfg->pins) != 0)
        lt_warn("directory", "%s keeps authority keys version %llu no longer needs: %s",
                learned_path, (unsigned long long)lt_dir_version(d), strerror(errno));
    return 0;
}

/* ---- expiry ------------------------------------------------------------------ */

int lt_gwdir_watch_init(lt_gwdir_watch_t *w, lt_stats_t *stats)
{
    static const lt_stats_def_t expired = {
        .name = "lienthong_directory_expired",
        .help = "1 while the directory in use has expired and no data is served to peers "
                "(PROTOCOL.md 5.6)",
        .kind = LT_STATS_GAUGE};
    memset(w, 0, sizeof *w);
    w->st_expired = lt_gwstats_series(stats, &expired, NULL);
    return w->st_expired ? 0 : -1;
}

/* The warning due `left` seconds before the expiry, once per threshold. */
static void s_warn(lt_gwdir_watch_t *w, const lt_dir_t *dir, int64_t left)
{
    int due = left < LT_DIR_WARN_DAYS_NEAR * DAY_S  ? LT_DIR_WARN_DAYS_NEAR
              : left < LT_DIR_WARN_DAYS_FAR * DAY_S ? LT_DIR_WARN_DAYS_FAR
                                                    : 0;
    if (!due || (w->warned && w->warned <= due))
        return;
    w->warned = due;
    char ts[LT_CLOCK_UTC_LEN];
    lt_clock_utc(lt_dir_expires(dir), ts, sizeof ts);
    lt_warn("directory",
            "directory version %llu expires at %s, in %lld h %lld min (less than %d "
            "day%s): ask the authority for a renewed directory; at expiry this gateway stops "
            "serving data to peers",
            (unsigned long long)lt_dir_version(dir), ts, (long long)(left / 3600),
            (long long)(left % 3600 / 60), due, due > 1 ? "s" : "");
}

int lt_gwdir_watch(lt_gwdir_watch_t *w, const lt_dir_t *dir, int64_t now)
{
    if (lt_dir_version(dir) != w->version) {
        /* A new directory: its own warnings, and the end of an expiry. */
        if (w->expired && now < lt_dir_expires(dir))
            lt_info("directory", "directory version %llu is valid: serving peers again",
                    (unsigned long long)lt_dir_version(dir));
        w->version = lt_dir_version(dir);
        w->warned = 0;
        w->expired = 0;
        w->said_expired_at = 0;
    }
    int64_t left = lt_dir_expires(dir) - now;
    if (left > 0) {
        s_warn(w, dir, left);
        lt_stats_set(w->st_expired, 0);
        return 0;
    }
    w->expired = 1;
    lt_stats_set(w->st_expired, 1);
    if (w->said_expired_at && now - w->said_expired_at < LT_DIR_EXPIRED_REPEAT_S)
        return 1;
    w->said_expired_at = now;
    char what[128];
    lt_dirpick_expired_text(dir, what, sizeof what);
    lt_error("directory",
             "%s: serving no data to peers (revocations can no longer be trusted) "
             "until a newer directory is adopted from a peer or by SIGHUP",
             what);
    return 1;
}

/* lt_dirpick: the choice of the directory a gateway runs with, shared by
 * the gateway and the commands that act on what it runs with (PROTOCOL.md
 * 5.3, 5.5, 5.6; see lt_dirpick.h). */
#include "lt_dirpick.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_log.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Opens path with every check of 5.3 but the expiry, which decides how the
 * gateway runs, not whether it starts. The adopted copy passed the bound on
 * issued_at when it was adopted: a clock set back since is warned about,
 * since refusing the copy would start on an older directory, which may
 * list a member revoked since. NULL with the reason in why. */
static lt_dir_t *s_open(const lt_dir_pins_t *trust, const char *federation, const char *path,
                        int adopted, int64_t now, char *why, size_t len)
{
    lt_dir_t *d = lt_dir_load(path, trust, federation, 0, why, len);
    if (!d || lt_dir_get(d)->issued_at <= now + LT_DIR_MAX_AHEAD_S)
        return d;
    char ts[LT_CLOCK_UTC_LEN];
    lt_clock_utc(lt_dir_get(d)->issued_at, ts, sizeof ts);
    snprintf(why, len, "%s: directory version %llu is issued in the future (%s); check the clock",
             path, (unsigned long long)lt_dir_version(d), ts);
    if (adopted)
        lt_warn("directory", "%s; kept, as it was adopted when the clock was right", why);
    else
        lt_dir_destroy(&d);
    return d;
}

void lt_dirpick_open(lt_dirpick_t *p, const char *conf_path, const char *adopted_path,
                     const lt_dir_pins_t *base, const char *federation, int64_t now)
{
    memset(p, 0, sizeof *p);
    p->conf = s_open(base, federation, conf_path, 0, now, p->why_conf, sizeof p->why_conf);
    p->have_adopted = access(adopted_path, F_OK) == 0;
    /* The adopted copy may be signed by a next authority key the configured
     * directory announces (PROTOCOL.md 5.5). */
    lt_dir_trust(base, p->conf, &p->trust);
    if (p->have_adopted)
        p->adopted = s_open(&p->trust, federation, adopted_path, 1, now, p->why_adopted,
                            sizeof p->why_adopted);
    /* And the configured file by one the adopted copy announces: the
     * authority may have signed it with its next key already. */
    lt_dir_trust(base, p->adopted, &p->trust);
    if (!p->conf && p->adopted && p->trust.count > base->count)
        p->conf = s_open(&p->trust, federation, conf_path, 0, now, p->why_conf, sizeof p->why_conf);
    /* The newest version wins even when expired: an older one may list a
     * member since revoked, and falling back on it silently is how a
     * revocation is undone. */
    p->taken = p->conf;
    if (p->adopted && (!p->conf || lt_dir_version(p->adopted) > lt_dir_version(p->conf)))
        p->taken = p->adopted;
}

lt_dir_t *lt_dirpick_take(lt_dirpick_t *p)
{
    lt_dir_t *taken = p->taken;
    if (taken == p->conf)
        p->conf = NULL;
    else
        p->adopted = NULL;
    lt_dirpick_clear(p);
    return taken;
}

void lt_dirpick_clear(lt_dirpick_t *p)
{
    lt_dir_destroy(&p->conf);
    lt_dir_destroy(&p->adopted);
    p->taken = NULL;
}

void lt_dirpick_expired_text(const lt_dir_t *dir, char *buf, size_t len)
{
    char ts[LT_CLOCK_UTC_LEN];
    lt_clock_utc(lt_dir_expires(dir), ts, sizeof ts);
    snprintf(buf, len, "directory version %llu expired at %s",
             (unsigned long long)lt_dir_version(dir), ts);
}

void lt_dirpick_adopted_path(const char *data_dir, char *buf, size_t len)
{
    snprintf(buf, len, "%s/" LT_DIRPICK_ADOPTED, data_dir);
}

void lt_dirpick_learned_path(const char *data_dir, char *buf, size_t len)
{
    snprintf(buf, len, "%s/" LT_DIRPICK_LEARNED, data_dir);
}

void lt_dirpick_open_data_dir(lt_dirpick_t *p, const char *conf_path, const char *data_dir,
                              const lt_dir_pins_t *pins, const char *federation)
{
    char adopted[PATH_MAX + 32], learned[PATH_MAX + 32];
    lt_dir_pins_t base;
    lt_dirpick_adopted_path(data_dir, adopted, sizeof adopted);
    lt_dirpick_learned_path(data_dir, learned, sizeof learned);
    /* A learned file that is not keys adds nothing: the gateway warns of
     * it, and what it should have proved does not open and says why. */
    (void)lt_dir_learned_add(learned, pins, &base);
    lt_dirpick_open(p, conf_path, adopted, &base, federation, (int64_t)time(NULL));
}

lt_dir_t *lt_dirpick_data_dir(const char *conf_path, const char *data_dir,
                              const lt_dir_pins_t *pins, const char *federation, char *err,
                              size_t errlen)
{
    lt_dirpick_t p;
    lt_dirpick_open_data_dir(&p, conf_path, data_dir, pins, federation);
    if (!p.taken)
        snprintf(err, errlen, "%s%s%s", p.why_conf, p.have_adopted ? "; " : "",
                 p.have_adopted ? p.why_adopted : "");
    return lt_dirpick_take(&p);
}

/* The version a retired directory's file name holds, or 0. */
static uint64_t s_retired_version(const char *name)
{
    size_t np = strlen(LT_DIRPICK_RETIRED_PREFIX), ns = strlen(LT_DIRPICK_RETIRED_SUFFIX);
    size_t n = strlen(name);
    if (n <= np + ns || strncmp(name, LT_DIRPICK_RETIRED_PREFIX, np) != 0 ||
        strcmp(name + n - ns, LT_DIRPICK_RETIRED_SUFFIX) != 0)
        return 0;
    char *end;
    unsigned long long v = strtoull(name + np, &end, 10);
    return end == name + n - ns && name[np] >= '1' && name[np] <= '9' ? (uint64_t)v : 0;
}

void lt_dirpick_retired_path(const char *data_dir, uint64_t version, char *buf, size_t len)
{
    snprintf(buf, len, "%s/" LT_DIRPICK_RETIRED_PREFIX "%llu" LT_DIRPICK_RETIRED_SUFFIX, data_dir,
             (unsigned long long)version);
}

size_t lt_dirpick_retired_list(const char *data_dir, uint64_t *versions, size_t cap)
{
    DIR *dh = opendir(data_dir);
    struct dirent *e;
    size_t n = 0;
    if (!dh)
        return 0;
    while ((e = readdir(dh)) != NULL) {
        uint64_t v = s_retired_version(e->d_name);
        if (!v)
            continue;
        /* Insertion, newest first: the smallest drops off when full. */
        size_t i = n < cap ? n : cap;
        while (i > 0 && versions[i - 1] < v) {
            if (i < cap)
                versions[i] = versions[i - 1];
            i--;
        }
        if (i < cap)
            versions[i] = v;
        n++;
    }
    closedir(dh);
    return n;
}

void lt_dirpick_retired_trust(const char *data_dir, const lt_dir_pins_t *pins,
                              lt_dirpick_rtrust_t *t)
{
    char path[PATH_MAX + 32];
    uint8_t *buf = NULL;
    size_t len = 0, cap = LT_DIRPICK_MAX_RETIRED_SIGNERS * LT_KEY_BYTES;
    lt_dirpick_learned_path(data_dir, path, sizeof path);
    /* A learned file that is not keys adds nothing; the gateway warns of it. */
    (void)lt_dir_learned_add(path, pins, &t->base);
    t->signers.count = 0;
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_RETIRED_SIGNERS, data_dir);
    if (lt_file_read(path, cap + 1, &buf, &len) != 0) {
        if (errno != ENOENT)
            lt_warn("directory", "cannot read %s: %s", path, strerror(errno));
        return;
    }
    if (len == 0 || len > cap || len % LT_KEY_BYTES != 0)
        lt_warn("directory", "ignoring %s: %zu bytes, not 1 to %d keys of %d bytes", path, len,
                LT_DIRPICK_MAX_RETIRED_SIGNERS, LT_KEY_BYTES);
    else {
        memcpy(t->signers.keys, buf, len);
        t->signers.count = len / LT_KEY_BYTES;
    }
    free(buf);
}

lt_dir_t *lt_dirpick_retired_load(const char *data_dir, uint64_t version,
                                  const lt_dirpick_rtrust_t *t, const char *federation, char *why,
                                  size_t len)
{
    char path[PATH_MAX + 64];
    lt_dirpick_retired_path(data_dir, version, path, sizeof path);
    /* Expired by now, as a directory replaced long ago is: its signature
     * and contents are what count. */
    lt_dir_t *d = lt_dir_load(path, &t->base, federation, 0, why, len);
    if (!d && t->signers.count)
        d = lt_dir_load(path, &t->signers, federation, 0, why, len);
    return d;
}

void lt_dirpick_retired_open_under(lt_dirpick_retired_t *r, const char *data_dir,
                                   const lt_dirpick_rtrust_t *t, const char *federation,
                                   lt_dir_t **held, lt_dirpick_unopened_fn *unopened, void *arg)
{
    char why[700];
    uint64_t v[LT_DIRPICK_MAX_RETIRED];
    memset(r, 0, sizeof *r);
    size_t n = lt_dirpick_retired_list(data_dir, v, LT_DIRPICK_MAX_RETIRED);
    for (size_t i = 0; i < n && i < LT_DIRPICK_MAX_RETIRED; i++) {
        /* A held copy is taken only for the version it was verified as:
         * the list may have changed since the caller read it. */
        lt_dir_t *d = NULL;
        if (held && held[i] && lt_dir_version(held[i]) == v[i])
            d = held[i];
        else {
            if (held)
                lt_dir_destroy(&held[i]);
            d = lt_dirpick_retired_load(data_dir, v[i], t, federation, why, sizeof why);
        }
        if (held)
            held[i] = NULL;
        if (d)
            r->dirs[r->count++] = d;
        else
            unopened(arg, v[i], why);
    }
}

/* The gateway's report of a retired copy that does not open. */
static void s_unopened_warn(void *arg, uint64_t version, const char *why)
{
    lt_warn("directory", "ignoring the retired directory version %llu in %s: %s",
            (unsigned long long)version, (const char *)arg, why);
}

void lt_dirpick_retired_open(lt_dirpick_retired_t *r, const char *data_dir,
                             const lt_dir_pins_t *pins, const char *federation)
{
    lt_dirpick_rtrust_t t;
    lt_dirpick_retired_trust(data_dir, pins, &t);
    lt_dirpick_retired_open_under(r, data_dir, &t, federation, NULL, s_unopened_warn,
                                  (void *)data_dir);
}

void lt_dirpick_retired_clear(lt_dirpick_retired_t *r)
{
    for (size_t i = 0; i < r->count; i++)
        lt_dir_destroy(&r->dirs[i]);
    r->count = 0;
}

/* One retired copy lt_dirpick_retired_fit weighs: its version and the
 * index in signers of the key it needs, or -1 when it needs none of them
 * (pinned, or it does not open). */
typedef struct {
    uint64_t version;
    int need;
} s_rcopy_t;

static int s_needs(const lt_dir_t *d, const lt_dir_pins_t *pins, const lt_dir_pins_t *signers)
{
    uint8_t key[LT_KEY_BYTES];
    if (!d || lt_dir_signer(d, pins, key) == 0 || lt_dir_signer(d, signers, key) != 0)
        return -1;
    for (size_t i = 0; i < signers->count; i++)
        if (memcmp(signers->keys[i], key, LT_KEY_BYTES) == 0)
            return (int)i;
    return -1;
}

/* Inserts c into the n copies of all, newest first. */
static void s_rcopy_insert(s_rcopy_t *all, size_t n, s_rcopy_t c)
{
    size_t i = n;
    while (i > 0 && all[i - 1].version < c.version) {
        all[i] = all[i - 1];
        i--;
    }
    all[i] = c;
}

void lt_dirpick_retired_fit(const char *data_dir, const lt_dir_pins_t *pins, const char *federation,
                            const lt_dir_t *const *more, size_t n_more, lt_dir_pins_t *signers,
                            uint64_t drop[LT_DIRPICK_FIT_MAX], size_t *n_drop)
{
    char why[700];
    uint64_t v[2 * LT_DIRPICK_MAX_RETIRED];
    s_rcopy_t all[LT_DIRPICK_FIT_MAX];
    int keep[sizeof signers->keys / sizeof signers->keys[0]] = {0};
    lt_dirpick_rtrust_t t;
    size_t n = 0, kept = 0;
    *n_drop = 0;
    if (signers->count <= LT_DIRPICK_MAX_RETIRED_SIGNERS)
        return;
    lt_dirpick_retired_trust(data_dir, pins, &t);
    t.signers = *signers;
    size_t listed = lt_dirpick_retired_list(data_dir, v, sizeof v / sizeof v[0]);
    for (size_t i = 0; i < listed && i < sizeof v / sizeof v[0]; i++) {
        lt_dir_t *d = lt_dirpick_retired_load(data_dir, v[i], &t, federation, why, sizeof why);
        s_rcopy_insert(all, n++, (s_rcopy_t){v[i], s_needs(d, pins, signers)});
        lt_dir_destroy(&d);
    }
    for (size_t i = 0; i < n_more && i < LT_DIRPICK_MAX_RETIRED; i++)
        s_rcopy_insert(all, n++,
                       (s_rcopy_t){lt_dir_version(more[i]), s_needs(more[i], pins, signers)});
    /* The newest copies keep their keys, as the newest copies are the ones
     * kept past LT_DIRPICK_MAX_RETIRED. */
    for (size_t i = 0; i < n; i++) {
        if (all[i].need < 0 || keep[all[i].need])
            continue;
        if (kept < LT_DIRPICK_MAX_RETIRED_SIGNERS) {
            keep[all[i].need] = 1;
            kept++;
        } else
            drop[(*n_drop)++] = all[i].version;
    }
    size_t w = 0;
    for (size_t i = 0; i < signers->count; i++)
        if (keep[i])
            memmove(signers->keys[w++], signers->keys[i], LT_KEY_BYTES);
    signers->count = w;
}

int lt_dirpick_retired_signers_write(const char *data_dir, const lt_dir_pins_t *signers)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_RETIRED_SIGNERS, data_dir);
    /* No key is no file: an empty one is warned about as not keys. */
    if (!signers->count)
        return unlink(path) != 0 && errno != ENOENT ? -1 : 0;
    return lt_file_write_atomic(path, signers->keys, signers->count * LT_KEY_BYTES, 0644);
}

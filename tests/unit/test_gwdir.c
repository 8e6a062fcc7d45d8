/* test_gwdir: CUnit suite for gateway/lt_gwdir (PROTOCOL.md 5.3, 5.6): the
 * directory taken at start is the newest that opens among the configured
 * file and the adopted copy, expired or not, and never an older one when
 * the newer is expired; unusable copies are skipped with the reason, but an
 * adopted copy issued ahead of a clock set back is kept; an
 * adopted copy signed by an announced authority key opens through the key
 * learned with it; the
 * expiry watch warns once at 7 days and once at 1 day, turns expired at
 * expires_at, repeats its error only once a minute, sets its gauge, and
 * starts afresh for a new directory. */
#include "unit_util.h"
#include "../owner_directory.h"

#include "lt_backdir.h"
#include "lt_dirpick.h"
#include "lt_file.h"
#include "lt_gwcfg.h"
#include "lt_gwdir.h"
#include "lt_gwstats.h"
#include "lt_log.h"

#include <errno.h>
#include <sodium.h>
#include <sys/stat.h>
#include <time.h>

#define DAY 86400

static char g_dir[512];
static lt_keys_t *g_auth, *g_next_auth, *g_a, *g_b, *g_a2;
static const lt_keys_t *g_owner; /* the first member's keys in the directories made */
static lt_gwcfg_t g_cfg;
static char g_adopted[600], g_learned[600];

static int suite_init(void)
{
    lt_log_set_level(LT_LOG_ERROR);
    if (sodium_init() < 0 || ut_mkdtemp(g_dir, sizeof g_dir, "gwdir") != 0)
        return -1;
    g_auth = lt_keys_new(LT_KEYS_AUTHORITY);
    g_next_auth = lt_keys_new(LT_KEYS_AUTHORITY);
    g_a = lt_keys_new(LT_KEYS_MEMBER);
    g_b = lt_keys_new(LT_KEYS_MEMBER);
    g_a2 = lt_keys_new(LT_KEYS_MEMBER);
    g_owner = g_a;
    if (!g_auth || !g_next_auth || !g_a || !g_b || !g_a2)
        return -1;
    snprintf(g_cfg.federation, sizeof g_cfg.federation, "VN");
    snprintf(g_cfg.directory_file, sizeof g_cfg.directory_file, "%s/conf.signed", g_dir);
    /* The gateway keeps its adopted copy and the retired ones in data_dir
     * (lt_dirpick). */
    snprintf(g_cfg.data_dir, sizeof g_cfg.data_dir, "%s", g_dir);
    snprintf(g_adopted, sizeof g_adopted, "%s/adopted.signed", g_dir);
    snprintf(g_learned, sizeof g_learned, "%s/authority.learned", g_dir);
    g_cfg.pins.count = 1;
    memcpy(g_cfg.pins.keys[0], lt_keys_signing_public(g_auth), LT_KEY_BYTES);
    return 0;
}

static int suite_clean(void)
{
    lt_keys_destroy(&g_auth);
    lt_keys_destroy(&g_next_auth);
    lt_keys_destroy(&g_a);
    lt_keys_destroy(&g_b);
    lt_keys_destroy(&g_a2);
    return ut_rmrf(g_dir);
}

/* Appends to the source at src the announcement of next's key; 0 or -1. */
static int s_announce(const char *src, const lt_keys_t *next)
{
    char z[LT_Z85_KEY_LEN + 1];
    FILE *f = fopen(src, "a");
    if (!f)
        return -1;
    lt_keys_z85_encode(lt_keys_signing_public(next), z);
    int ok = fprintf(f, "next_authority_keys = [\"%s\"];\n", z) > 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Signs version `v` expiring at `expires` with auth, announcing next's key
 * unless NULL, into path (NULL: only opened, under trust). */
static lt_dir_t *s_make_next(uint64_t v, int64_t expires, const char *path, const lt_keys_t *auth,
                             const lt_keys_t *next, const lt_dir_pins_t *trust)
{
    char src[600], err[512];
    uint8_t *raw = NULL, *sig = NULL;
    size_t raw_len = 0, sig_len = 0;
    lt_dir_t *d = NULL;
    int64_t issued = expires - 30 * DAY;
    snprintf(src, sizeof src, "%s/dir.src", g_dir);
    if (od_write_source(src, g_owner, g_b) == 0 && (!next || s_announce(src, next) == 0) &&
        lt_dir_compile(src, v, issued, expires, &raw, &raw_len, err, sizeof err) == 0 &&
        lt_dir_sign(raw, raw_len, auth, &sig, &sig_len) == 0 &&
        (!path || ut_write_file(path, sig, sig_len, 0644) == 0))
        d = lt_dir_open(sig, sig_len, trust, "VN", 0, err, sizeof err);
    free(raw);
    free(sig);
    return d;
}

static lt_dir_t *s_make_by(uint64_t v, int64_t expires, const char *path, const lt_keys_t *auth,
                           const lt_dir_pins_t *trust)
{
    return s_make_next(v, expires, path, auth, NULL, trust);
}

static lt_dir_t *s_make(uint64_t v, int64_t expires, const char *path)
{
    return s_make_by(v, expires, path, g_auth, &g_cfg.pins);
}

/* The configured directory: version 1, signed by the pinned key and
 * announcing next's. 0, or -1. */
static int s_conf_announcing(const lt_keys_t *next)
{
    lt_dir_t *d = s_make_next(1, (int64_t)time(NULL) + 10 * DAY, g_cfg.directory_file, g_auth, next,
                              &g_cfg.pins);
    int rc = d ? 0 : -1;
    lt_dir_destroy(&d);
    return rc;
}

static uint64_t s_load_version(char *err, size_t errlen)
{
    lt_dir_pins_t base;
    lt_gwdir_base(&g_cfg, g_learned, &base, NULL);
    lt_dir_t *d = lt_gwdir_load(&g_cfg, g_adopted, g_learned, &base, err, errlen);
    uint64_t v = d ? lt_dir_version(d) : 0;
    lt_dir_destroy(&d);
    return v;
}

static void s_put(uint64_t v, int64_t expires, const char *path)
{
    lt_dir_t *d = s_make(v, expires, path);
    CU_ASSERT_FATAL(d != NULL);
    lt_dir_destroy(&d);
}

static void test_load_newest(void)
{
    char err[1024];
    int64_t now = (int64_t)time(NULL);
    (void)unlink(g_adopted);
    s_put(3, now + 10 * DAY, g_cfg.directory_file);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 3); /* no adopted copy */
    s_put(4, now + 10 * DAY, g_adopted);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 4); /* adopted is newer */
    s_put(5, now + 10 * DAY, g_cfg.directory_file);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 5); /* configured is newer */
}

static void test_load_expired(void)
{
    char err[1024];
    int64_t now = (int64_t)time(NULL);
    /* The newer one expired: still taken, never the older valid one. */
    s_put(6, now + 10 * DAY, g_cfg.directory_file);
    s_put(7, now - DAY, g_adopted);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 7);
    /* Both expired: the newest. */
    s_put(8, now - 2 * DAY, g_cfg.directory_file);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 8);
}

static void test_load_unusable(void)
{
    char err[1024] = "";
    int64_t now = (int64_t)time(NULL);
    s_put(2, now + 10 * DAY, g_cfg.directory_file);
    CU_ASSERT_FATAL(ut_write_text(g_adopted, "not a directory") == 0);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 2); /* a broken adopted copy is skipped */
    CU_ASSERT_FATAL(ut_write_text(g_cfg.directory_file, "garbage") == 0);
    s_put(9, now + 10 * DAY, g_adopted);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 9); /* and a broken configured one */
    (void)unlink(g_adopted);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 0);
    CU_ASSERT(strstr(err, g_cfg.directory_file) != NULL);
    /* Issued more than 300 s ahead (a wrong clock): not usable. */
    s_put(10, now + 40 * DAY, g_cfg.directory_file); /* issued now + 10 days */
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 0);
    CU_ASSERT(strstr(err, "issued in the future") != NULL);
    /* But an adopted copy passed that check when it was adopted: with the
     * clock set back since, it is kept rather than the older configured
     * version, which may list a member revoked since. */
    s_put(3, now + 10 * DAY, g_cfg.directory_file);
    s_put(11, now + 40 * DAY, g_adopted);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 11);
    (void)unlink(g_adopted);
}

/* After the authority moved to a key the configured directory does not
 * announce (5.5: the gateway adopted it through a newer directory's
 * announcement), the adopted copy still opens at start through the key
 * learned with it; without that key the gateway would go back to the
 * configured, older version. */
static void test_load_learned(void)
{
    char err[1024] = "";
    int64_t now = (int64_t)time(NULL);
    (void)unlink(g_learned);
    s_put(20, now + 10 * DAY, g_cfg.directory_file);
    lt_dir_pins_t trust = g_cfg.pins;
    memcpy(trust.keys[trust.count++], lt_keys_signing_public(g_next_auth), LT_KEY_BYTES);
    lt_dir_t *d = s_make_by(22, now + 10 * DAY, g_adopted, g_next_auth, &trust);
    CU_ASSERT_FATAL(d != NULL);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 20); /* nothing learned */
    CU_ASSERT(lt_dir_learned_prepare(g_learned, NULL, d, &trust, &g_cfg.pins) == 0);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 22);
    CU_ASSERT(lt_dir_learned_settle(g_learned, d, &trust, &g_cfg.pins) == 0);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 22);
    /* A learned file that is not a key adds nothing. */
    CU_ASSERT_FATAL(ut_write_text(g_learned, "not a key") == 0);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 20);
    lt_dir_destroy(&d);
    /* A directory signed by a pinned key: nothing to learn, the file goes,
     * but only once that directory is in place (settled). */
    d = s_make(23, now + 10 * DAY, NULL);
    CU_ASSERT_FATAL(d != NULL);
    CU_ASSERT_FATAL(
        ut_write_file(g_learned, lt_keys_signing_public(g_next_auth), LT_KEY_BYTES, 0644) == 0);
    CU_ASSERT(lt_dir_learned_prepare(g_learned, NULL, d, &trust, &g_cfg.pins) == 0);
    CU_ASSERT(access(g_learned, F_OK) == 0);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 22);
    CU_ASSERT(lt_dir_learned_settle(g_learned, d, &trust, &g_cfg.pins) == 0);
    CU_ASSERT(access(g_learned, F_OK) != 0);
    lt_dir_destroy(&d);
    (void)unlink(g_adopted);
}

/* 1 if the learned file holds exactly the signing keys of k[0..n), in order. */
static int s_learned_is(lt_keys_t *const *k, size_t n)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (lt_file_read(g_learned, 1024, &buf, &len) != 0)
        return n == 0 && errno == ENOENT;
    int same = len == n * LT_KEY_BYTES;
    for (size_t i = 0; same && i < n; i++)
        same = memcmp(buf + i * LT_KEY_BYTES, lt_keys_signing_public(k[i]), LT_KEY_BYTES) == 0;
    free(buf);
    return same;
}

/* The learned keys around writes that fail (5.5): the key a directory
 * needs is added before it is written and the others go only after; each
 * write that fails in between leaves one key more, up to the bound, beyond
 * which the oldest that the directory on disk does not need is dropped. */
static void test_learned_set(void)
{
    enum { N = LT_DIR_MAX_LEARNED + 1 };
    lt_keys_t *k[N] = {NULL};
    lt_dir_t *d[N] = {NULL}, *pinned = NULL;
    lt_dir_pins_t trust = g_cfg.pins, base;
    int64_t exp = (int64_t)time(NULL) + 10 * DAY;
    (void)unlink(g_learned);
    for (size_t i = 0; i < N; i++) {
        k[i] = lt_keys_new(LT_KEYS_AUTHORITY);
        CU_ASSERT_FATAL(k[i] != NULL);
        memcpy(trust.keys[trust.count++], lt_keys_signing_public(k[i]), LT_KEY_BYTES);
    }
    for (size_t i = 0; i < N; i++) {
        d[i] = s_make_by(30 + i, exp, NULL, k[i], &trust);
        CU_ASSERT_FATAL(d[i] != NULL);
    }
    CU_ASSERT(lt_dir_learned_prepare(g_learned, NULL, d[0], &trust, &g_cfg.pins) == 0);
    CU_ASSERT(lt_dir_learned_settle(g_learned, d[0], &trust, &g_cfg.pins) == 0);
    CU_ASSERT(s_learned_is(k, 1));
    /* d[0] stays on disk while each next write fails after its prepare. */
    for (size_t i = 1; i < LT_DIR_MAX_LEARNED; i++) {
        CU_ASSERT(lt_dir_learned_prepare(g_learned, d[0], d[i], &trust, &g_cfg.pins) == 0);
        CU_ASSERT(s_learned_is(k, i + 1));
    }
    CU_ASSERT_EQUAL(lt_dir_learned_add(g_learned, &g_cfg.pins, &base), 0);
    CU_ASSERT_EQUAL(base.count, g_cfg.pins.count + LT_DIR_MAX_LEARNED);
    /* Full: k[1], the oldest d[0] does not need, makes room. */
    CU_ASSERT(lt_dir_learned_prepare(g_learned, d[0], d[N - 1], &trust, &g_cfg.pins) == 0);
    lt_keys_t *want[LT_DIR_MAX_LEARNED] = {k[0]};
    for (size_t i = 1; i < LT_DIR_MAX_LEARNED; i++)
        want[i] = k[i + 1];
    CU_ASSERT(s_learned_is(want, LT_DIR_MAX_LEARNED));
    /* Preparing a directory signed by a pinned key removes nothing yet. */
    pinned = s_make(40, exp, NULL);
    CU_ASSERT_FATAL(pinned != NULL);
    CU_ASSERT(lt_dir_learned_prepare(g_learned, d[0], pinned, &trust, &g_cfg.pins) == 0);
    CU_ASSERT(s_learned_is(want, LT_DIR_MAX_LEARNED));
    /* Written: its signer alone, or nothing. */
    CU_ASSERT(lt_dir_learned_settle(g_learned, d[2], &trust, &g_cfg.pins) == 0);
    CU_ASSERT(s_learned_is(&k[2], 1));
    CU_ASSERT(lt_dir_learned_settle(g_learned, pinned, &trust, &g_cfg.pins) == 0);
    CU_ASSERT(s_learned_is(NULL, 0));
    /* A file that is not keys is replaced by the key needed. */
    CU_ASSERT_FATAL(ut_write_text(g_learned, "not a key") == 0);
    CU_ASSERT_EQUAL(lt_dir_learned_add(g_learned, &g_cfg.pins, &base), 1);
    CU_ASSERT(lt_dir_learned_prepare(g_learned, pinned, d[3], &trust, &g_cfg.pins) == 0);
    CU_ASSERT(s_learned_is(&k[3], 1));
    (void)unlink(g_learned);
    lt_dir_destroy(&pinned);
    for (size_t i = 0; i < N; i++) {
        lt_dir_destroy(&d[i]);
        lt_keys_destroy(&k[i]);
    }
}

/* 1 if the file at path holds exactly the signed bytes of d. */
static int s_holds(const char *path, const lt_dir_t *d)
{
    uint8_t *buf = NULL;
    size_t len = 0, want_len;
    const uint8_t *want = lt_dir_signed_bytes(d, &want_len);
    int same = lt_file_read(path, 1u << 20, &buf, &len) == 0 && len == want_len &&
               memcmp(buf, want, len) == 0;
    free(buf);
    return same;
}

/* 5.3: a configured directory taken at start replaces the adopted copy
 * (or stands for a missing one), so that a start with an older configured
 * file keeps it; a copy with the same bytes is not written again; one that
 * does not open is left as it is; a configured directory that cannot be
 * written is not started with. */
static void test_load_keeps_configured(void)
{
    char err[1024] = "", bad[700];
    int64_t now = (int64_t)time(NULL);
    (void)unlink(g_adopted);
    (void)unlink(g_learned);
    lt_dir_t *v12 = s_make(12, now + 10 * DAY, g_cfg.directory_file);
    CU_ASSERT_FATAL(v12 != NULL);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 12); /* no adopted copy */
    CU_ASSERT(s_holds(g_adopted, v12));
    s_put(11, now + 10 * DAY, g_adopted);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 12); /* an older one */
    CU_ASSERT(s_holds(g_adopted, v12));
    struct stat before, after;
    CU_ASSERT_FATAL(stat(g_adopted, &before) == 0);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 12); /* the same bytes */
    CU_ASSERT_FATAL(stat(g_adopted, &after) == 0);
    CU_ASSERT_EQUAL(before.st_ino, after.st_ino);
    s_put(10, now + 10 * DAY, g_cfg.directory_file); /* the configured file goes back */
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 12);
    CU_ASSERT(s_holds(g_adopted, v12));
    /* Not a directory: left for the operator. */
    CU_ASSERT_FATAL(ut_write_text(g_adopted, "not a directory") == 0);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 10);
    CU_ASSERT(!s_holds(g_adopted, v12) && access(g_adopted, F_OK) == 0);
    /* Cannot be written: no directory, and why. */
    snprintf(bad, sizeof bad, "%s/missing/adopted.signed", g_dir);
    lt_dir_pins_t base;
    lt_gwdir_base(&g_cfg, g_learned, &base, NULL);
    lt_dir_t *d = lt_gwdir_load(&g_cfg, bad, g_learned, &base, err, sizeof err);
    CU_ASSERT(d == NULL);
    CU_ASSERT(strstr(err, "cannot persist") && strstr(err, bad) &&
              strstr(err, g_cfg.directory_file));
    lt_dir_destroy(&d);
    lt_dir_destroy(&v12);
    (void)unlink(g_adopted);
}

/* 5.5: a configured directory signed by a key that only the adopted copy
 * announces replaces that copy with the key learned, so that the next
 * start still opens it. */
static void test_load_keeps_configured_key(void)
{
    char err[1024] = "";
    int64_t now = (int64_t)time(NULL);
    lt_dir_pins_t trust = g_cfg.pins;
    memcpy(trust.keys[trust.count++], lt_keys_signing_public(g_next_auth), LT_KEY_BYTES);
    (void)unlink(g_learned);
    lt_dir_t *v13 = s_make_next(13, now + 10 * DAY, g_adopted, g_auth, g_next_auth, &trust);
    lt_dir_t *v14 = s_make_by(14, now + 10 * DAY, g_cfg.directory_file, g_next_auth, &trust);
    CU_ASSERT_FATAL(v13 && v14);
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 14);
    CU_ASSERT(s_holds(g_adopted, v14));
    lt_keys_t *want[1] = {g_next_auth};
    CU_ASSERT(s_learned_is(want, 1));
    CU_ASSERT_EQUAL(s_load_version(err, sizeof err), 14);
    lt_dir_destroy(&v13);
    lt_dir_destroy(&v14);
    (void)unlink(g_adopted);
    (void)unlink(g_learned);
}

static void test_watch(void)
{
    lt_stats_t *stats = lt_stats_new();
    lt_gwdir_watch_t w;
    CU_ASSERT_FATAL(stats && lt_gwdir_watch_init(&w, stats) == 0);
    int64_t exp = (int64_t)time(NULL) + 100 * DAY;
    lt_dir_t *d = s_make(1, exp, NULL), *d2 = s_make(2, exp + 30 * DAY, NULL);
    CU_ASSERT_FATAL(d && d2);
    CU_ASSERT_EQUAL(lt_gwdir_watch(&w, d, exp - 10 * DAY), 0);
    CU_ASSERT_EQUAL(w.warned, 0);
    CU_ASSERT_EQUAL(lt_gwdir_watch(&w, d, exp - 6 * DAY), 0);
    CU_ASSERT_EQUAL(w.warned, LT_DIR_WARN_DAYS_FAR);
    CU_ASSERT_EQUAL(lt_gwdir_watch(&w, d, exp - 5 * DAY), 0);
    CU_ASSERT_EQUAL(w.warned, LT_DIR_WARN_DAYS_FAR); /* once */
    CU_ASSERT_EQUAL(lt_gwdir_watch(&w, d, exp - 3600), 0);
    CU_ASSERT_EQUAL(w.warned, LT_DIR_WARN_DAYS_NEAR);
    CU_ASSERT_EQUAL(lt_gwstats_gauge(w.st_expired), 0);
    CU_ASSERT_EQUAL(lt_gwdir_watch(&w, d, exp - 1), 0);
    /* At expires_at: expired, said at once, then once a minute. */
    CU_ASSERT_EQUAL(lt_gwdir_watch(&w, d, exp), 1);
    CU_ASSERT_EQUAL(lt_gwstats_gauge(w.st_expired), 1);
    CU_ASSERT_EQUAL(w.said_expired_at, exp);
    CU_ASSERT_EQUAL(lt_gwdir_watch(&w, d, exp + LT_DIR_EXPIRED_REPEAT_S - 1), 1);
    CU_ASSERT_EQUAL(w.said_expired_at, exp);
    CU_ASSERT_EQUAL(lt_gwdir_watch(&w, d, exp + LT_DIR_EXPIRED_REPEAT_S), 1);
    CU_ASSERT_EQUAL(w.said_expired_at, exp + LT_DIR_EXPIRED_REPEAT_S);
    /* A newer directory ends the expiry and has its own warnings. */
    CU_ASSERT_EQUAL(lt_gwdir_watch(&w, d2, exp + 120), 0);
    CU_ASSERT_EQUAL(lt_gwstats_gauge(w.st_expired), 0);
    CU_ASSERT_EQUAL(w.warned, 0);
    CU_ASSERT_EQUAL(w.expired, 0);
    char text[128];
    lt_dirpick_expired_text(d, text, sizeof text);
    CU_ASSERT(strncmp(text, "directory version 1 expired at ", 31) == 0);
    lt_dir_destroy(&d);
    lt_dir_destroy(&d2);
    lt_stats_destroy(&stats);
}

/* The path of the retired directory of version v in g_dir. */
static void s_retired_path(uint64_t v, char *out, size_t len)
{
    snprintf(out, len, "%s/" LT_DIRPICK_RETIRED_PREFIX "%llu" LT_DIRPICK_RETIRED_SUFFIX, g_dir,
             (unsigned long long)v);
}

/* An lt_dirpick_unopened_fn: the version of the copy that did not open. */
static void s_note_unopened(void *arg, uint64_t version, const char *why)
{
    (void)why;
    *(uint64_t *)arg = version;
}

/* PROTOCOL.md 5.5, 6.10: persisting a directory that drops a member's
 * signing key keeps the one it replaces beside the adopted copy, as
 * retired; one that drops none keeps nothing; a copy whose every signing
 * key the new directory or a newer copy lists is removed.
 * lt_dirpick_retired_open opens them newest first and leaves out one the
 * trusted authority keys do not verify. */
static void test_persist_keeps_retired(void)
{
    char err[512] = "", path[700];
    int64_t now = (int64_t)time(NULL);
    lt_dir_t *d[8] = {NULL};
    (void)unlink(g_adopted);
    (void)unlink(g_learned);
    /* v1, v2 the first keys; then each version switches the first member's
     * between two keys: the newest copy lists the one dropped, and the
     * one before it lists the key in use again. */
    for (uint64_t v = 1; v <= 7; v++) {
        g_owner = v >= 3 && v % 2 ? g_a2 : g_a;
        d[v] = s_make(v, now + 10 * DAY, NULL);
        CU_ASSERT_FATAL(d[v] != NULL);
        CU_ASSERT_EQUAL(lt_gwdir_persist(&g_cfg, g_adopted, g_learned, d[v - 1], d[v], &g_cfg.pins,
                                         err, sizeof err),
                        0);
        s_retired_path(v - 1, path, sizeof path);
        /* v2 drops no key of v1; v3..v7 each drop one of the version before. */
        CU_ASSERT_EQUAL(access(path, F_OK) == 0, v >= 3);
        s_retired_path(v - 2, path, sizeof path);
        CU_ASSERT(access(path, F_OK) != 0); /* proves nothing v and v-1 do not */
    }
    g_owner = g_a;
    uint64_t versions[8];
    CU_ASSERT_EQUAL(lt_dirpick_retired_list(g_dir, versions, 8), 1);
    s_retired_path(6, path, sizeof path);
    CU_ASSERT(s_holds(path, d[6]));
    lt_dirpick_retired_t r;
    lt_dirpick_retired_open(&r, g_dir, &g_cfg.pins, "VN");
    CU_ASSERT_EQUAL(r.count, 1);
    CU_ASSERT(r.count && lt_dir_version(r.dirs[0]) == 6);
    lt_dirpick_retired_clear(&r);
    lt_dirpick_retired_clear(&r);
    CU_ASSERT_EQUAL(r.count, 0);
    /* One signed by a key neither pinned nor learned: left out. */
    s_retired_path(9, path, sizeof path);
    lt_dir_pins_t theirs = {.count = 1};
    memcpy(theirs.keys[0], lt_keys_signing_public(g_next_auth), LT_KEY_BYTES);
    lt_dir_t *alien = s_make_by(9, now + 10 * DAY, path, g_next_auth, &theirs);
    CU_ASSERT(alien != NULL);
    lt_dirpick_retired_open(&r, g_dir, &g_cfg.pins, "VN");
    CU_ASSERT_EQUAL(r.count, 1);
    CU_ASSERT(r.count && lt_dir_version(r.dirs[0]) == 6);
    lt_dirpick_retired_clear(&r);
    /* Under the same keys, each copy that does not open is told with its
     * version; one the caller verified already (held, as a restore does)
     * is taken as it is, not verified again. */
    lt_dirpick_rtrust_t t;
    lt_dirpick_retired_trust(g_dir, &g_cfg.pins, &t);
    uint64_t unopened = 0;
    lt_dirpick_retired_open_under(&r, g_dir, &t, "VN", NULL, s_note_unopened, &unopened);
    CU_ASSERT_EQUAL(r.count, 1);
    CU_ASSERT_EQUAL(unopened, 9);
    lt_dirpick_retired_clear(&r);
    lt_dir_t *held[LT_DIRPICK_MAX_RETIRED] = {alien}; /* 9, the newest */
    unopened = 0;
    lt_dirpick_retired_open_under(&r, g_dir, &t, "VN", held, s_note_unopened, &unopened);
    CU_ASSERT_EQUAL(r.count, 2);
    CU_ASSERT(r.count && r.dirs[0] == alien && held[0] == NULL);
    CU_ASSERT_EQUAL(unopened, 0);
    if (held[0] == NULL)
        alien = NULL; /* r's now */
    lt_dirpick_retired_clear(&r);
    (void)unlink(path);
    lt_dir_destroy(&alien);
    for (size_t i = 0; i < 8; i++)
        lt_dir_destroy(&d[i]);
    s_retired_path(6, path, sizeof path);
    (void)unlink(path);
    (void)unlink(g_adopted);
}

/* Each copy proving a key no other lists is kept, up to
 * LT_DIRPICK_MAX_RETIRED of them: the oldest beyond go. */
static void test_persist_retired_bound(void)
{
    enum { N = LT_DIRPICK_MAX_RETIRED + 3 };
    char err[512] = "", path[700];
    int64_t now = (int64_t)time(NULL);
    lt_dir_t *prev = NULL;
    (void)unlink(g_adopted);
    for (uint64_t v = 1; v <= N; v++) {
        lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
        CU_ASSERT_FATAL(k != NULL);
        g_owner = k;
        lt_dir_t *d = s_make(100 + v, now + 10 * DAY, NULL);
        g_owner = g_a;
        lt_keys_destroy(&k);
        CU_ASSERT_FATAL(d != NULL);
        CU_ASSERT_EQUAL(
            lt_gwdir_persist(&g_cfg, g_adopted, g_learned, prev, d, &g_cfg.pins, err, sizeof err),
            0);
        lt_dir_destroy(&prev);
        prev = d;
    }
    lt_dir_destroy(&prev);
    uint64_t versions[N];
    CU_ASSERT_EQUAL(lt_dirpick_retired_list(g_dir, versions, N), LT_DIRPICK_MAX_RETIRED);
    CU_ASSERT_EQUAL(versions[0], 100 + N - 1);
    CU_ASSERT_EQUAL(versions[LT_DIRPICK_MAX_RETIRED - 1], 100 + N - LT_DIRPICK_MAX_RETIRED);
    lt_dirpick_retired_t r;
    lt_dirpick_retired_open(&r, g_dir, &g_cfg.pins, "VN");
    CU_ASSERT_EQUAL(r.count, LT_DIRPICK_MAX_RETIRED);
    lt_dirpick_retired_clear(&r);
    for (uint64_t v = 1; v <= N; v++) {
        s_retired_path(100 + v, path, sizeof path);
        (void)unlink(path);
    }
    (void)unlink(g_adopted);
}

/* A copy signed by an authority key that is not pinned (learned, or
 * announced) still opens once that key is neither pinned nor learned: its
 * signer is kept in authority.retired, trusted for retired copies alone. */
static void test_persist_retired_signer(void)
{
    char err[512] = "", path[700], signers[700];
    int64_t now = (int64_t)time(NULL);
    lt_dir_pins_t trust = g_cfg.pins;
    memcpy(trust.keys[trust.count++], lt_keys_signing_public(g_next_auth), LT_KEY_BYTES);
    snprintf(signers, sizeof signers, "%s/" LT_DIRPICK_RETIRED_SIGNERS, g_dir);
    (void)unlink(g_adopted);
    (void)unlink(signers);
    g_owner = g_a2;
    lt_dir_t *kept = s_make_by(201, now + 10 * DAY, NULL, g_next_auth, &trust);
    g_owner = g_a;
    lt_dir_t *d = s_make(202, now + 10 * DAY, NULL);
    CU_ASSERT_FATAL(kept != NULL && d != NULL);
    CU_ASSERT_EQUAL(
        lt_gwdir_persist(&g_cfg, g_adopted, g_learned, kept, d, &trust, err, sizeof err), 0);
    CU_ASSERT(access(g_learned, F_OK) != 0); /* d's signer is pinned: nothing learned */
    CU_ASSERT(access(signers, F_OK) == 0);
    lt_dirpick_retired_t r;
    lt_dirpick_retired_open(&r, g_dir, &g_cfg.pins, "VN");
    CU_ASSERT_EQUAL(r.count, 1);
    CU_ASSERT(r.count && lt_dir_version(r.dirs[0]) == 201);
    lt_dirpick_retired_clear(&r);
    /* A backup carries the signers with the copy; a data_dir that lost
     * both gets them back from it. */
    char bk[700], bkdir[760], out[4096] = "";
    snprintf(bk, sizeof bk, "%s/store.bak", g_dir);
    snprintf(bkdir, sizeof bkdir, "%s" LT_BACKDIR_SUFFIX, bk);
    FILE *o = fmemopen(out, sizeof out - 1, "w");
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_EQUAL(lt_backdir_save(&g_cfg, bk, o, err, sizeof err), 0);
    s_retired_path(201, path, sizeof path);
    CU_ASSERT_EQUAL(unlink(path), 0);
    /* Without the signers file it does not open. */
    CU_ASSERT_EQUAL(unlink(signers), 0);
    lt_dirpick_retired_open(&r, bkdir, &g_cfg.pins, "VN");
    CU_ASSERT_EQUAL(r.count, 1); /* the backup's copy, under the backup's signers */
    lt_dirpick_retired_clear(&r);
    /* g_next_auth is trusted by a restore only as announced by a directory
     * that verifies (docs/operations.md, "Backup and restore"). */
    CU_ASSERT_EQUAL(lt_backdir_restore(&g_cfg, bk, o, err, sizeof err), 0);
    CU_ASSERT(access(signers, F_OK) != 0);
    CU_ASSERT_FATAL(s_conf_announcing(g_next_auth) == 0);
    CU_ASSERT_EQUAL(lt_backdir_restore(&g_cfg, bk, o, err, sizeof err), 0);
    fclose(o);
    CU_ASSERT(access(signers, F_OK) == 0);
    lt_dirpick_retired_open(&r, g_dir, &g_cfg.pins, "VN");
    CU_ASSERT_EQUAL(r.count, 1);
    lt_dirpick_retired_clear(&r);
    CU_ASSERT_EQUAL(unlink(signers), 0);
    lt_dirpick_retired_open(&r, g_dir, &g_cfg.pins, "VN");
    CU_ASSERT_EQUAL(r.count, 0);
    lt_dirpick_retired_clear(&r);
    (void)unlink(path);
    CU_ASSERT_EQUAL(ut_rmrf(bkdir), 0);
    (void)unlink(g_adopted);
    lt_dir_destroy(&kept);
    lt_dir_destroy(&d);
}

/* Removes g_dir's retired copies and authority.retired. */
static void s_clean_retired(void)
{
    char path[700];
    uint64_t v[2 * LT_DIRPICK_MAX_RETIRED];
    size_t n = lt_dirpick_retired_list(g_dir, v, 2 * LT_DIRPICK_MAX_RETIRED);
    for (size_t i = 0; i < n && i < 2 * LT_DIRPICK_MAX_RETIRED; i++) {
        s_retired_path(v[i], path, sizeof path);
        (void)unlink(path);
    }
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_RETIRED_SIGNERS, g_dir);
    (void)unlink(path);
}

/* Version v signed by auth, its first member with a signing key no other
 * directory lists (a retired copy of it proves that key), written to path
 * unless NULL. */
static lt_dir_t *s_make_own(uint64_t v, const lt_keys_t *auth, const char *path)
{
    lt_dir_pins_t trust = {.count = 1};
    memcpy(trust.keys[0], lt_keys_signing_public(auth), LT_KEY_BYTES);
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    if (!k)
        return NULL;
    g_owner = k;
    lt_dir_t *d = s_make_by(v, (int64_t)time(NULL) + 10 * DAY, path, auth, &trust);
    g_owner = g_a;
    lt_keys_destroy(&k);
    return d;
}

/* Writes the n signing keys of auth to g_dir's authority.retired. */
static int s_put_signers(lt_keys_t *const *auth, size_t n)
{
    char path[700];
    uint8_t keys[LT_DIRPICK_MAX_RETIRED_SIGNERS * 2][LT_KEY_BYTES];
    for (size_t i = 0; i < n; i++)
        memcpy(keys[i], lt_keys_signing_public(auth[i]), LT_KEY_BYTES);
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_RETIRED_SIGNERS, g_dir);
    return ut_write_file(path, keys, n * LT_KEY_BYTES, 0644);
}

/* Whether g_dir's authority.retired holds auth's signing key. */
static int s_signer_kept(const lt_keys_t *auth)
{
    lt_dirpick_rtrust_t t;
    lt_dirpick_retired_trust(g_dir, &g_cfg.pins, &t);
    for (size_t i = 0; i < t.signers.count; i++)
        if (memcmp(t.signers.keys[i], lt_keys_signing_public(auth), LT_KEY_BYTES) == 0)
            return 1;
    return 0;
}

/* The number of retired copies in g_dir; *opened of them open. */
static size_t s_retired_count(size_t *opened)
{
    uint64_t v[2 * LT_DIRPICK_MAX_RETIRED];
    lt_dirpick_retired_t r;
    lt_dirpick_retired_open(&r, g_dir, &g_cfg.pins, "VN");
    *opened = r.count;
    lt_dirpick_retired_clear(&r);
    return lt_dirpick_retired_list(g_dir, v, 2 * LT_DIRPICK_MAX_RETIRED);
}

/* Fills g_dir with authority.retired holding the n keys of auth and with
 * the retired copy 301 + i signed by each auth[i] of `signs`. 0, or -1. */
static int s_put_retired(lt_keys_t *const *auth, size_t n, const int *signs)
{
    char path[700];
    s_clean_retired();
    if (s_put_signers(auth, n) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        s_retired_path(301 + i, path, sizeof path);
        lt_dir_t *c = signs[i] ? s_make_own(301 + i, auth[i], path) : NULL;
        if (signs[i] && !c)
            return -1;
        lt_dir_destroy(&c);
    }
    return 0;
}

/* Persists version `keep` signed by auth[8] (announced, not pinned) then
 * 320 over it, with authority.retired holding auth[0..7] and each auth[i]
 * of `signs` signing the retired copy 301 + i. 0, or -1. */
static int s_keep_ninth(lt_keys_t *const *auth, const int *signs, uint64_t keep)
{
    char err[512] = "";
    int rc = -1;
    lt_dir_pins_t trust = g_cfg.pins;
    memcpy(trust.keys[trust.count++], lt_keys_signing_public(auth[8]), LT_KEY_BYTES);
    (void)unlink(g_adopted);
    if (s_put_retired(auth, 8, signs) != 0)
        return -1;
    lt_dir_t *kept = s_make_own(keep, auth[8], NULL), *d = s_make_own(320, g_auth, NULL);
    if (kept && d &&
        lt_gwdir_persist(&g_cfg, g_adopted, g_learned, kept, d, &trust, err, sizeof err) == 0)
        rc = 0;
    lt_dir_destroy(&kept);
    lt_dir_destroy(&d);
    return rc;
}

/* After the copies 301..308 signed by auth[0..7] made room for 310
 * signed by auth[8]: 301 went with auth[0], and each copy left opens. */
static void s_check_oldest_went(lt_keys_t *const *auth)
{
    char path[700];
    size_t opened;
    CU_ASSERT_EQUAL(s_retired_count(&opened), 8);
    CU_ASSERT_EQUAL(opened, 8);
    s_retired_path(301, path, sizeof path);
    CU_ASSERT(access(path, F_OK) != 0);
    s_retired_path(310, path, sizeof path);
    CU_ASSERT(access(path, F_OK) == 0);
    CU_ASSERT(!s_signer_kept(auth[0]) && s_signer_kept(auth[8]));
}

/* authority.retired is full (LT_DIRPICK_MAX_RETIRED_SIGNERS) when a copy
 * signed by one more key is kept: a key no kept copy needs goes, not the
 * oldest; when every one is needed, the oldest copies go with their key,
 * and no copy is left that does not open (docs/operations.md). */
static void test_persist_retired_signers_full(void)
{
    char path[700];
    lt_keys_t *auth[9] = {NULL};
    size_t opened;
    for (size_t i = 0; i < 9; i++) {
        auth[i] = lt_keys_new(LT_KEYS_AUTHORITY);
        CU_ASSERT_FATAL(auth[i] != NULL);
    }
    /* auth[1] signs no copy: it goes, and the oldest, auth[0], stays. */
    static const int one_unneeded[8] = {1, 0, 1, 1, 1, 1, 1, 1};
    CU_ASSERT_FATAL(s_keep_ninth(auth, one_unneeded, 310) == 0);
    CU_ASSERT_EQUAL(s_retired_count(&opened), 8);
    CU_ASSERT_EQUAL(opened, 8);
    CU_ASSERT(s_signer_kept(auth[0]) && s_signer_kept(auth[8]));
    CU_ASSERT(!s_signer_kept(auth[1]));
    /* Each signs a copy: the oldest copy goes with auth[0]. */
    static const int all_needed[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    CU_ASSERT_FATAL(s_keep_ninth(auth, all_needed, 310) == 0);
    s_check_oldest_went(auth);
    /* A copy older than all of them is the one that goes. */
    CU_ASSERT_FATAL(s_keep_ninth(auth, all_needed, 300) == 0);
    CU_ASSERT_EQUAL(s_retired_count(&opened), 8);
    CU_ASSERT_EQUAL(opened, 8);
    s_retired_path(300, path, sizeof path);
    CU_ASSERT(access(path, F_OK) != 0);
    CU_ASSERT(s_signer_kept(auth[0]) && !s_signer_kept(auth[8]));
    s_clean_retired();
    (void)unlink(g_adopted);
    for (size_t i = 0; i < 9; i++)
        lt_keys_destroy(&auth[i]);
}

/* A backup beside g_dir/store.bak holding authority.retired with auth's
 * key and the retired copy v signed by it; its path in bk. 0, or -1. */
static int s_backup_with(const lt_keys_t *auth, uint64_t v, char *bk, size_t len)
{
    char dir[760], path[800];
    uint8_t key[LT_KEY_BYTES];
    snprintf(bk, len, "%s/store.bak", g_dir);
    snprintf(dir, sizeof dir, "%s" LT_BACKDIR_SUFFIX, bk);
    memcpy(key, lt_keys_signing_public(auth), LT_KEY_BYTES);
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_RETIRED_SIGNERS, dir);
    if (mkdir(dir, 0700) != 0 || ut_write_file(path, key, sizeof key, 0644) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_RETIRED_PREFIX "%llu" LT_DIRPICK_RETIRED_SUFFIX,
             dir, (unsigned long long)v);
    lt_dir_t *d = s_make_own(v, auth, path);
    int rc = d ? 0 : -1;
    lt_dir_destroy(&d);
    return rc;
}

/* A restore merges the backup's authority.retired with the one data_dir
 * has: the copies of both open after it, the set bounded as the gateway
 * bounds it (the oldest copy goes with its key when all 8 are needed). */
static void test_restore_merges_signers(void)
{
    char err[512] = "", bk[700], bkdir[760], out[4096] = "";
    lt_keys_t *auth[9] = {NULL};
    size_t opened;
    for (size_t i = 0; i < 9; i++) {
        auth[i] = lt_keys_new(LT_KEYS_AUTHORITY);
        CU_ASSERT_FATAL(auth[i] != NULL);
    }
    (void)unlink(g_adopted);
    /* data_dir: copy 301 under auth[0]; the backup: 310 under auth[8]. */
    static const int first[1] = {1};
    CU_ASSERT_FATAL(s_put_retired(auth, 1, first) == 0);
    CU_ASSERT_FATAL(s_backup_with(auth[8], 310, bk, sizeof bk) == 0);
    snprintf(bkdir, sizeof bkdir, "%s" LT_BACKDIR_SUFFIX, bk);
    FILE *o = fmemopen(out, sizeof out - 1, "w");
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_FATAL(s_conf_announcing(auth[8]) == 0);
    CU_ASSERT_EQUAL(lt_backdir_restore(&g_cfg, bk, o, err, sizeof err), 0);
    CU_ASSERT_EQUAL(s_retired_count(&opened), 2);
    CU_ASSERT_EQUAL(opened, 2);
    CU_ASSERT(s_signer_kept(auth[0]) && s_signer_kept(auth[8]));
    /* data_dir: 8 keys, each signing a copy; the ninth's copy is newer. */
    static const int all_needed[8] = {1, 1, 1, 1, 1, 1, 1, 1};
    CU_ASSERT_FATAL(s_put_retired(auth, 8, all_needed) == 0);
    CU_ASSERT_EQUAL(lt_backdir_restore(&g_cfg, bk, o, err, sizeof err), 0);
    fclose(o);
    s_check_oldest_went(auth);
    CU_ASSERT(strstr(out, "retired directory version 301 dropped") != NULL);
    s_clean_retired();
    CU_ASSERT_EQUAL(ut_rmrf(bkdir), 0);
    for (size_t i = 0; i < 9; i++)
        lt_keys_destroy(&auth[i]);
}

/* The paths of data_dir's adopted copy and learned keys (lt_dirpick). */
static void s_data_files(char *adopted, char *learned, size_t len)
{
    lt_dirpick_adopted_path(g_dir, adopted, len);
    lt_dirpick_learned_path(g_dir, learned, len);
}

/* The learned keys in the file at path are exactly auth's. */
static int s_learned_only(const char *path, const lt_keys_t *auth)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (lt_file_read(path, 4096, &buf, &len) != 0)
        return 0;
    int same = len == LT_KEY_BYTES && memcmp(buf, lt_keys_signing_public(auth), len) == 0;
    free(buf);
    return same;
}

/* Empties data_dir of its adopted copy, learned keys and retired copies,
 * then makes a backup beside g_dir/store.bak whose retired copy `retired`,
 * adopted copy `adopted`, authority.retired and authority.learned all are
 * auth's, as s_backup_with; its path in bk. 0, or -1. */
static int s_backup_signed(const lt_keys_t *auth, uint64_t retired, uint64_t adopted, char *bk,
                           size_t len)
{
    char dir[760], path[900];
    s_data_files(path, dir, sizeof dir);
    (void)unlink(path);
    (void)unlink(dir);
    s_clean_retired();
    if (s_backup_with(auth, retired, bk, len) != 0)
        return -1;
    snprintf(dir, sizeof dir, "%s" LT_BACKDIR_SUFFIX, bk);
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_ADOPTED, dir);
    lt_dir_t *d = s_make_own(adopted, auth, path);
    int rc = d ? 0 : -1;
    lt_dir_destroy(&d);
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_LEARNED, dir);
    if (rc == 0 && ut_write_file(path, lt_keys_signing_public(auth), LT_KEY_BYTES, 0644) != 0)
        rc = -1;
    return rc;
}

/* A tampered backup: its adopted directory (version 9) and a retired one
 * (version 305) signed by a key nobody announced, that key written to the
 * backup's authority.learned and authority.retired. A restore trusts the
 * pins and what directories that verify announce, never the backup's key
 * files: it refuses the adopted copy, skips the retired one, and writes
 * neither the key nor the copies into data_dir. */
static void test_restore_refuses_forged(void)
{
    char err[1024] = "", bk[700], bkdir[760], path[900], out[8192] = "";
    char adopted[700], learned[700];
    lt_keys_t *evil = lt_keys_new(LT_KEYS_AUTHORITY);
    CU_ASSERT_FATAL(evil != NULL);
    s_data_files(adopted, learned, sizeof adopted);
    s_put(1, (int64_t)time(NULL) + 10 * DAY, g_cfg.directory_file);
    CU_ASSERT_FATAL(s_backup_signed(evil, 305, 9, bk, sizeof bk) == 0);
    snprintf(bkdir, sizeof bkdir, "%s" LT_BACKDIR_SUFFIX, bk);
    FILE *o = fmemopen(out, sizeof out - 1, "w");
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_EQUAL(lt_backdir_restore(&g_cfg, bk, o, err, sizeof err), -1);
    fclose(o);
    CU_ASSERT(strstr(err, "adopted directory is not restored") != NULL);
    CU_ASSERT(strstr(err, "no valid signature") != NULL);
    CU_ASSERT(strstr(out, "retired directory version 305 not restored") != NULL);
    CU_ASSERT(access(adopted, F_OK) != 0);
    CU_ASSERT(access(learned, F_OK) != 0);
    CU_ASSERT(!s_signer_kept(evil));
    s_retired_path(305, path, sizeof path);
    CU_ASSERT(access(path, F_OK) != 0);
    /* What store verify trusts at rest (lt_dirpick_retired_open). */
    size_t opened;
    CU_ASSERT_EQUAL(s_retired_count(&opened), 0);
    CU_ASSERT_EQUAL(ut_rmrf(bkdir), 0);
    lt_keys_destroy(&evil);
}

/* A genuine backup taken after an authority rotation: the pins hold the
 * old key, the configured directory (signed by it) announces the next,
 * and the backup's adopted directory and a retired one are signed by the
 * next. A restore into an emptied data_dir learns the next key through
 * that announcement and puts both back; without the announcement the
 * adopted copy is refused (the pins alone prove nothing of it). */
static void test_restore_after_authority_rotation(void)
{
    char err[1024] = "", bk[700], bkdir[760], out[8192] = "";
    char adopted[700], learned[700];
    s_data_files(adopted, learned, sizeof adopted);
    CU_ASSERT_FATAL(s_backup_signed(g_next_auth, 306, 307, bk, sizeof bk) == 0);
    snprintf(bkdir, sizeof bkdir, "%s" LT_BACKDIR_SUFFIX, bk);
    FILE *o = fmemopen(out, sizeof out - 1, "w");
    CU_ASSERT_FATAL(o != NULL);
    s_put(1, (int64_t)time(NULL) + 10 * DAY, g_cfg.directory_file);
    CU_ASSERT_EQUAL(lt_backdir_restore(&g_cfg, bk, o, err, sizeof err), -1);
    CU_ASSERT(access(adopted, F_OK) != 0 && access(learned, F_OK) != 0);
    CU_ASSERT_FATAL(s_conf_announcing(g_next_auth) == 0);
    CU_ASSERT_EQUAL(lt_backdir_restore(&g_cfg, bk, o, err, sizeof err), 0);
    fclose(o);
    CU_ASSERT(strstr(out, "adopted directory version 307 restored") != NULL);
    CU_ASSERT(s_learned_only(learned, g_next_auth));
    CU_ASSERT(s_signer_kept(g_next_auth));
    size_t opened;
    CU_ASSERT_EQUAL(s_retired_count(&opened), 1);
    CU_ASSERT_EQUAL(opened, 1);
    lt_dirpick_t p;
    lt_dirpick_open_data_dir(&p, g_cfg.directory_file, g_dir, &g_cfg.pins, "VN");
    CU_ASSERT(p.taken && lt_dir_version(p.taken) == 307);
    lt_dirpick_clear(&p);
    (void)unlink(adopted);
    (void)unlink(learned);
    s_clean_retired();
    CU_ASSERT_EQUAL(ut_rmrf(bkdir), 0);
}

/* Restores, on a host at version host_v, a backup whose retired copies are
 * versions 2 to 1 + n, copy i signed by by[i] and announcing next[i] (none
 * when NULL), and whose adopted copy is version 50 signed by adopted_by;
 * what the restore printed and its error into out. 0 or -1 as
 * lt_backdir_restore, -2 when the backup cannot be made. */
static int s_restore_walk(uint64_t host_v, size_t n, const lt_keys_t *const *by,
                          const lt_keys_t *const *next, const lt_keys_t *adopted_by, char *out,
                          size_t outlen)
{
    char err[1024] = "", bk[700], bkdir[760], path[900];
    int made = 1;
    s_clean_retired();
    s_put(host_v, (int64_t)time(NULL) + 10 * DAY, g_cfg.directory_file);
    snprintf(bk, sizeof bk, "%s/walk.bak", g_dir);
    snprintf(bkdir, sizeof bkdir, "%s" LT_BACKDIR_SUFFIX, bk);
    (void)ut_rmrf(bkdir);
    if (mkdir(bkdir, 0700) != 0)
        return -2;
    for (size_t i = 0; i < n; i++) {
        lt_dirpick_retired_path(bkdir, 2 + i, path, sizeof path);
        /* Written; one not signed by the pinned key does not open here. */
        lt_dir_t *d =
            s_make_next(2 + i, (int64_t)time(NULL) - DAY, path, by[i], next[i], &g_cfg.pins);
        made &= access(path, F_OK) == 0;
        lt_dir_destroy(&d);
    }
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_ADOPTED, bkdir);
    lt_dir_t *d =
        s_make_next(50, (int64_t)time(NULL) + 10 * DAY, path, adopted_by, NULL, &g_cfg.pins);
    lt_dir_destroy(&d);
    FILE *o = fmemopen(out, outlen - 1, "w");
    if (!made || access(path, F_OK) != 0 || !o)
        return -2;
    int rc = lt_backdir_restore(&g_cfg, bk, o, err, sizeof err);
    fprintf(o, "%s", err);
    fclose(o);
    (void)ut_rmrf(bkdir);
    return rc;
}

/* A backup holding directory 2 (signed by the pinned key, announcing k1)
 * among its retired copies and an adopted copy of version 50 signed by k1
 * alone, restored on a host whose configured directory is version 3: a
 * host at v3 without the announcement (k1 withdrawn) refuses it, as its
 * gateway would refuse v50 from a peer; a host at v1, which would have
 * adopted v2 and then v50, takes it and learns k1 (PROTOCOL.md 5.5). */
static int s_restore_over(uint64_t host_v, const lt_keys_t *k1, char *out, size_t outlen)
{
    const lt_keys_t *by[1] = {g_auth}, *next[1] = {k1};
    return s_restore_walk(host_v, 1, by, next, k1, out, outlen);
}

static void test_restore_withdrawn_key(void)
{
    char out[8192] = "", adopted[700], learned[700];
    lt_keys_t *k1 = lt_keys_new(LT_KEYS_AUTHORITY);
    CU_ASSERT_FATAL(k1 != NULL);
    s_data_files(adopted, learned, sizeof adopted);
    (void)unlink(adopted);
    (void)unlink(learned);
    CU_ASSERT_EQUAL(s_restore_over(3, k1, out, sizeof out), -1);
    CU_ASSERT(strstr(out, "the backup's adopted directory is not restored") != NULL);
    CU_ASSERT(access(adopted, F_OK) != 0 && access(learned, F_OK) != 0);
    lt_dirpick_t h;
    lt_dirpick_open_data_dir(&h, g_cfg.directory_file, g_dir, &g_cfg.pins, "VN");
    CU_ASSERT(h.taken && lt_dir_version(h.taken) == 3);
    lt_dirpick_clear(&h);
    memset(out, 0, sizeof out);
    CU_ASSERT_EQUAL(s_restore_over(1, k1, out, sizeof out), 0);
    CU_ASSERT(strstr(out, "adopted directory version 50 restored") != NULL);
    CU_ASSERT(s_learned_only(learned, k1));
    (void)unlink(adopted);
    (void)unlink(learned);
    s_clean_retired();
    lt_keys_destroy(&k1);
}

/* A gateway fed versions 2, 3 and 4 one by one trusts k2 at the end, and
 * k1 no more: it signed version 3, but version 4 was signed by k2 and
 * announces nothing (lt_dir_learned_settle keeps only the current
 * directory's signer). A restore walking the same copies refuses an
 * adopted copy signed by k1 and takes one signed by k2; every retired copy
 * it took is restored and opens with the keys beside it. */
static void test_restore_retired_signer(void)
{
    char out[8192] = "", adopted[700], learned[700];
    lt_keys_t *k1 = lt_keys_new(LT_KEYS_AUTHORITY), *k2 = lt_keys_new(LT_KEYS_AUTHORITY);
    CU_ASSERT_FATAL(k1 != NULL && k2 != NULL);
    s_data_files(adopted, learned, sizeof adopted);
    (void)unlink(adopted);
    (void)unlink(learned);
    const lt_keys_t *by[3] = {g_auth, k1, k2}, *next[3] = {k1, k2, NULL};
    CU_ASSERT_EQUAL(s_restore_walk(1, 3, by, next, k1, out, sizeof out), -1);
    CU_ASSERT(strstr(out, "the backup's adopted directory is not restored") != NULL);
    CU_ASSERT(access(adopted, F_OK) != 0 && access(learned, F_OK) != 0);
    size_t opened;
    CU_ASSERT_EQUAL(s_retired_count(&opened), 3);
    CU_ASSERT_EQUAL(opened, 3);
    (void)unlink(adopted);
    (void)unlink(learned);
    memset(out, 0, sizeof out);
    CU_ASSERT_EQUAL(s_restore_walk(1, 3, by, next, k2, out, sizeof out), 0);
    CU_ASSERT(strstr(out, "adopted directory version 50 restored") != NULL);
    CU_ASSERT(s_learned_only(learned, k2));
    CU_ASSERT_EQUAL(s_retired_count(&opened), 3);
    CU_ASSERT_EQUAL(opened, 3);
    (void)unlink(adopted);
    (void)unlink(learned);
    s_clean_retired();
    lt_keys_destroy(&k1);
    lt_keys_destroy(&k2);
}

/* The host's own adopted copy is version 2 (announcing k1) and its
 * configured file version 3, newer, announcing nothing: the gateway runs
 * with v3 and trusts no k1, so a backup whose adopted copy is v50 signed
 * by k1 is refused, as the gateway would refuse it from a peer. */
static void test_restore_stale_announcement(void)
{
    char out[8192] = "", err[1024] = "", adopted[700], learned[700], bk[700], bkdir[760];
    char path[900];
    lt_keys_t *k1 = lt_keys_new(LT_KEYS_AUTHORITY);
    CU_ASSERT_FATAL(k1 != NULL);
    s_data_files(adopted, learned, sizeof adopted);
    (void)unlink(learned);
    s_clean_retired();
    lt_dir_t *d = s_make_next(2, (int64_t)time(NULL) + 10 * DAY, adopted, g_auth, k1, &g_cfg.pins);
    CU_ASSERT_FATAL(d != NULL);
    lt_dir_destroy(&d);
    s_put(3, (int64_t)time(NULL) + 10 * DAY, g_cfg.directory_file);
    snprintf(bk, sizeof bk, "%s/stale.bak", g_dir);
    snprintf(bkdir, sizeof bkdir, "%s" LT_BACKDIR_SUFFIX, bk);
    (void)ut_rmrf(bkdir);
    CU_ASSERT_FATAL(mkdir(bkdir, 0700) == 0);
    snprintf(path, sizeof path, "%s/" LT_DIRPICK_ADOPTED, bkdir);
    d = s_make_next(50, (int64_t)time(NULL) + 10 * DAY, path, k1, NULL, &g_cfg.pins);
    lt_dir_destroy(&d); /* written; it does not open under the pins alone */
    FILE *o = fmemopen(out, sizeof out - 1, "w");
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_EQUAL(lt_backdir_restore(&g_cfg, bk, o, err, sizeof err), -1);
    fclose(o);
    CU_ASSERT(strstr(err, "the backup's adopted directory is not restored") != NULL);
    CU_ASSERT(access(learned, F_OK) != 0);
    lt_dirpick_t h;
    lt_dirpick_open_data_dir(&h, g_cfg.directory_file, g_dir, &g_cfg.pins, "VN");
    CU_ASSERT(h.taken && lt_dir_version(h.taken) == 3);
    lt_dirpick_clear(&h);
    (void)ut_rmrf(bkdir);
    (void)unlink(adopted);
    (void)unlink(learned);
    s_clean_retired();
    lt_keys_destroy(&k1);
}

/* The inode and mode of dir/name into st; 0, or -1. */
static int s_stat_in(const char *dir, const char *name, struct stat *st)
{
    char path[900];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return stat(path, st);
}

/* A backup writes the directory files 0644, as the gateway writes them in
 * data_dir, and leaves a copy holding the same bytes as it is: a second
 * backup rewrites no retired copy, and one an earlier version wrote 0600
 * only has its mode set. */
static void test_backup_keeps_copies(void)
{
    char err[512] = "", bk[700], bkdir[760], out[4096] = "";
    const char *copy = LT_DIRPICK_RETIRED_PREFIX "301" LT_DIRPICK_RETIRED_SUFFIX;
    lt_keys_t *auth[1] = {lt_keys_new(LT_KEYS_AUTHORITY)};
    struct stat st, again;
    static const int signs[1] = {1};
    CU_ASSERT_FATAL(auth[0] != NULL);
    CU_ASSERT_FATAL(s_put_retired(auth, 1, signs) == 0);
    snprintf(bk, sizeof bk, "%s/store.bak", g_dir);
    snprintf(bkdir, sizeof bkdir, "%s" LT_BACKDIR_SUFFIX, bk);
    FILE *o = fmemopen(out, sizeof out - 1, "w");
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_EQUAL(lt_backdir_save(&g_cfg, bk, o, err, sizeof err), 0);
    CU_ASSERT_FATAL(s_stat_in(bkdir, copy, &st) == 0);
    CU_ASSERT_EQUAL(st.st_mode & 07777, 0644);
    CU_ASSERT(s_stat_in(bkdir, LT_DIRPICK_RETIRED_SIGNERS, &again) == 0 &&
              (again.st_mode & 07777) == 0644);
    CU_ASSERT_EQUAL(lt_backdir_save(&g_cfg, bk, o, err, sizeof err), 0);
    CU_ASSERT(s_stat_in(bkdir, copy, &again) == 0 && again.st_ino == st.st_ino);
    char path[900];
    snprintf(path, sizeof path, "%s/%s", bkdir, copy);
    CU_ASSERT_EQUAL(chmod(path, 0600), 0);
    CU_ASSERT_EQUAL(lt_backdir_save(&g_cfg, bk, o, err, sizeof err), 0);
    fclose(o);
    CU_ASSERT(s_stat_in(bkdir, copy, &again) == 0 && again.st_ino == st.st_ino &&
              (again.st_mode & 07777) == 0644);
    s_clean_retired();
    CU_ASSERT_EQUAL(ut_rmrf(bkdir), 0);
    lt_keys_destroy(&auth[0]);
}

/* What the gateway does to data_dir while a backup reads it (hooked in
 * between reading the retired copies and reading their keys): keeps copy
 * 302 signed by a new key, the key written first (add), or drops copy 301
 * and its key (prune); once. */
typedef struct {
    lt_keys_t *const *auth;
    int prune, ran;
} s_race_t;

static void s_race(void *arg)
{
    s_race_t *r = arg;
    char path[700];
    if (r->ran++)
        return;
    if (r->prune) {
        s_retired_path(301, path, sizeof path);
        CU_ASSERT(unlink(path) == 0 && s_put_signers(r->auth + 1, 1) == 0);
        return;
    }
    s_retired_path(302, path, sizeof path);
    CU_ASSERT_FATAL(s_put_signers(r->auth, 2) == 0);
    lt_dir_t *c = s_make_own(302, r->auth[1], path);
    CU_ASSERT(c != NULL);
    lt_dir_destroy(&c);
}

/* The number of retired copies in dir; *opened of them open under the pins
 * and the keys beside them (as a restore opens them). */
static size_t s_backup_copies(const char *dir, size_t *opened)
{
    uint64_t v[2 * LT_DIRPICK_MAX_RETIRED];
    lt_dirpick_retired_t r;
    lt_dirpick_retired_open(&r, dir, &g_cfg.pins, "VN");
    *opened = r.count;
    lt_dirpick_retired_clear(&r);
    return lt_dirpick_retired_list(dir, v, 2 * LT_DIRPICK_MAX_RETIRED);
}

/* A backup holds every retired copy with the key that signed it, whatever
 * the gateway keeps or drops while it reads them: a copy kept with a new
 * key in between is left for the next backup (its key may come along), a
 * copy dropped with its key in between is read again and left out, and a
 * copy data_dir holds without its key is named in a warning. */
static void test_backup_retired_with_keys(void)
{
    char err[512] = "", bk[700], bkdir[760], out[4096] = "";
    lt_keys_t *auth[2] = {lt_keys_new(LT_KEYS_AUTHORITY), lt_keys_new(LT_KEYS_AUTHORITY)};
    static const int one[1] = {1}, two[2] = {1, 1};
    size_t opened;
    CU_ASSERT_FATAL(auth[0] != NULL && auth[1] != NULL);
    snprintf(bk, sizeof bk, "%s/store.bak", g_dir);
    snprintf(bkdir, sizeof bkdir, "%s" LT_BACKDIR_SUFFIX, bk);
    FILE *o = fmemopen(out, sizeof out - 1, "w");
    CU_ASSERT_FATAL(o != NULL);
    s_race_t add = {auth, 0, 0}, prune = {auth, 1, 0};
    CU_ASSERT_FATAL(s_put_retired(auth, 1, one) == 0);
    lt_backdir_set_race_hook(s_race, &add);
    CU_ASSERT_EQUAL(lt_backdir_save(&g_cfg, bk, o, err, sizeof err), 0);
    CU_ASSERT_EQUAL(add.ran, 1);
    size_t copies = s_backup_copies(bkdir, &opened);
    CU_ASSERT(copies == 1 && opened == 1); /* 302 is left for the next backup */
    CU_ASSERT_EQUAL(ut_rmrf(bkdir), 0);
    CU_ASSERT_FATAL(s_put_retired(auth, 2, two) == 0);
    lt_backdir_set_race_hook(s_race, &prune);
    CU_ASSERT_EQUAL(lt_backdir_save(&g_cfg, bk, o, err, sizeof err), 0);
    lt_backdir_set_race_hook(NULL, NULL);
    CU_ASSERT_EQUAL(s_backup_copies(bkdir, &opened), 1);
    CU_ASSERT_EQUAL(opened, 1);
    CU_ASSERT_EQUAL(ut_rmrf(bkdir), 0);
    fflush(o);
    CU_ASSERT(strstr(out, "warning") == NULL);
    /* A copy data_dir holds without its key. */
    CU_ASSERT_FATAL(s_put_retired(auth, 1, one) == 0);
    CU_ASSERT_FATAL(s_put_signers(auth + 1, 1) == 0);
    CU_ASSERT_EQUAL(lt_backdir_save(&g_cfg, bk, o, err, sizeof err), 0);
    fclose(o);
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "retired directory version 301 in"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out, "a restore skips it"));
    s_clean_retired();
    CU_ASSERT_EQUAL(ut_rmrf(bkdir), 0);
    lt_keys_destroy(&auth[0]);
    lt_keys_destroy(&auth[1]);
}

/* The gateway prunes copy 301 with its key as it retires the directory an
 * adoption replaced, and adopts `next` (hooked in between reading the
 * retired copies and their keys); once. */
typedef struct {
    lt_keys_t *const *auth;
    const char *next;
    int ran;
} s_adopt_t;

static void s_adopt(void *arg)
{
    s_adopt_t *r = arg;
    char path[700];
    if (r->ran++)
        return;
    s_retired_path(301, path, sizeof path);
    CU_ASSERT(unlink(path) == 0 && s_put_signers(r->auth + 1, 1) == 0);
    lt_dirpick_adopted_path(g_dir, path, sizeof path);
    CU_ASSERT(ut_write_file(path, r->next, strlen(r->next), 0644) == 0);
}

/* Whether dir's adopted directory holds exactly text. */
static int s_adopted_is(const char *dir, const char *text)
{
    char path[800];
    uint8_t *data = NULL;
    size_t len = 0;
    lt_dirpick_adopted_path(dir, path, sizeof path);
    int is = lt_file_read(path, 1 << 20, &data, &len) == 0 && len == strlen(text) &&
             memcmp(data, text, len) == 0;
    free(data);
    return is;
}

/* A backup that reads the retired copies again, one dropped with its key
 * meanwhile, reads the adopted directory again too: the change that
 * dropped it (an adoption) wrote a new one, and the backup holds the files
 * as they were after it, not the adopted directory from before it beside
 * the retired copies from after. */
static void test_backup_reads_all_again(void)
{
    char err[512] = "", bk[700], bkdir[760], out[4096] = "", adopted[700];
    lt_keys_t *auth[2] = {lt_keys_new(LT_KEYS_AUTHORITY), lt_keys_new(LT_KEYS_AUTHORITY)};
    static const int two[2] = {1, 1};
    size_t opened;
    CU_ASSERT_FATAL(auth[0] != NULL && auth[1] != NULL);
    snprintf(bk, sizeof bk, "%s/store.bak", g_dir);
    snprintf(bkdir, sizeof bkdir, "%s" LT_BACKDIR_SUFFIX, bk);
    lt_dirpick_adopted_path(g_dir, adopted, sizeof adopted);
    CU_ASSERT_FATAL(ut_write_file(adopted, "version 1", 9, 0644) == 0);
    CU_ASSERT_FATAL(s_put_retired(auth, 2, two) == 0);
    FILE *o = fmemopen(out, sizeof out - 1, "w");
    CU_ASSERT_FATAL(o != NULL);
    s_adopt_t race = {auth, "version 2", 0};
    lt_backdir_set_race_hook(s_adopt, &race);
    CU_ASSERT_EQUAL(lt_backdir_save(&g_cfg, bk, o, err, sizeof err), 0);
    lt_backdir_set_race_hook(NULL, NULL);
    fclose(o);
    CU_ASSERT_EQUAL(race.ran, 2); /* read again once */
    CU_ASSERT_EQUAL(s_backup_copies(bkdir, &opened), 1);
    CU_ASSERT_EQUAL(opened, 1);
    CU_ASSERT(s_adopted_is(bkdir, "version 2"));
    CU_ASSERT(strstr(out, "warning") == NULL);
    CU_ASSERT_EQUAL(unlink(adopted), 0);
    s_clean_retired();
    CU_ASSERT_EQUAL(ut_rmrf(bkdir), 0);
    lt_keys_destroy(&auth[0]);
    lt_keys_destroy(&auth[1]);
}

/* The number of times needle occurs in hay. */
static int s_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* A retired copy data_dir holds without its key does not open there either:
 * no reading again helps, and it is warned about at the backup that first
 * copies it, not at every later one, until it or its keys change. */
static void test_backup_warns_once(void)
{
    char err[512] = "", bk[700], bkdir[760], out[3][4096] = {"", "", ""};
    lt_keys_t *auth[2] = {lt_keys_new(LT_KEYS_AUTHORITY), lt_keys_new(LT_KEYS_AUTHORITY)};
    static const int one[1] = {1};
    CU_ASSERT_FATAL(auth[0] != NULL && auth[1] != NULL);
    snprintf(bk, sizeof bk, "%s/store.bak", g_dir);
    snprintf(bkdir, sizeof bkdir, "%s" LT_BACKDIR_SUFFIX, bk);
    CU_ASSERT_FATAL(s_put_retired(auth, 1, one) == 0);
    CU_ASSERT_FATAL(s_put_signers(auth + 1, 1) == 0);
    for (int i = 0; i < 3; i++) {
        FILE *o = fmemopen(out[i], sizeof out[i] - 1, "w");
        CU_ASSERT_FATAL(o != NULL);
        /* Before the third, the keys change and 301 still does not open. */
        if (i == 2) {
            lt_keys_t *other[1] = {lt_keys_new(LT_KEYS_AUTHORITY)};
            CU_ASSERT_FATAL(other[0] != NULL);
            CU_ASSERT_FATAL(s_put_signers(other, 1) == 0);
            lt_keys_destroy(&other[0]);
        }
        CU_ASSERT_EQUAL(lt_backdir_save(&g_cfg, bk, o, err, sizeof err), 0);
        fclose(o);
    }
    CU_ASSERT_EQUAL(s_count(out[0], "warning: the retired directory version 301 in"), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(out[0], "in the data directory either"));
    CU_ASSERT_PTR_NULL(strstr(out[1], "warning"));
    CU_ASSERT_PTR_NOT_NULL(strstr(out[1], "retired directory version 301 in"));
    CU_ASSERT_EQUAL(s_count(out[2], "warning: the retired directory version 301 in"), 1);
    s_clean_retired();
    CU_ASSERT_EQUAL(ut_rmrf(bkdir), 0);
    lt_keys_destroy(&auth[0]);
    lt_keys_destroy(&auth[1]);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"newest of configured and adopted", test_load_newest},
        {"newest even when expired", test_load_expired},
        {"unusable copies skipped with the reason", test_load_unusable},
        {"the adopted copy opens through the authority key learned with it", test_load_learned},
        {"learned keys: added before the directory, removed after, bounded", test_learned_set},
        {"a configured directory taken is kept in place of the adopted copy",
         test_load_keeps_configured},
        {"with the key only the adopted copy announced", test_load_keeps_configured_key},
        {"expiry watch: warnings, expiry, repeats, renewal", test_watch},
        {"a directory dropping a signing key keeps the one before as retired",
         test_persist_keeps_retired},
        {"every retired copy proving a key of its own is kept, up to the bound",
         test_persist_retired_bound},
        {"a retired copy opens under the authority key that signed it, once unpinned",
         test_persist_retired_signer},
        {"a full set of retired signers drops what no copy needs, else the oldest copies",
         test_persist_retired_signers_full},
        {"a restore merges the backup's retired signers with data_dir's, bounded",
         test_restore_merges_signers},
        {"a restore trusts no key of the backup's files: forged directories refused",
         test_restore_refuses_forged},
        {"a restore after an authority rotation learns the key through its announcement",
         test_restore_after_authority_rotation},
        {"a restore does not trust again a key a later directory withdrew",
         test_restore_withdrawn_key},
        {"a restore does not trust a key whose directory a later one replaced, unannounced",
         test_restore_retired_signer},
        {"a restore does not trust what the host's older adopted copy announces",
         test_restore_stale_announcement},
        {"a backup writes the directory files 0644 and rewrites no unchanged copy",
         test_backup_keeps_copies},
        {"a backup holds each retired copy with its key, whatever changes while it reads",
         test_backup_retired_with_keys},
        {"a backup read again for a dropped copy takes the adopted directory as it is then",
         test_backup_reads_all_again},
        {"a retired copy that does not open in data_dir either is warned about once",
         test_backup_warns_once},
        {NULL, NULL},
    };
    return ut_main("gwdir", suite_init, suite_clean, tests);
}

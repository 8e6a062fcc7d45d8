/* lt_backman: the manifest of a backup, written by lienthong backup and
 * checked by lienthong restore (see lt_backman.h). */
#include "lt_backman.h"
#include "lt_backup.h"
#include "lt_crypto.h"
#include "lt_file.h"
#include "lt_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEADER  "lienthong-backup 1"
#define HEX_LEN (2 * LT_HASH_BYTES)

/* Reads fd whole into c and, when out >= 0, writes it to out as it goes:
 * one read both hashes and copies. Returns 0, or -1 with errno set. */
static int s_read_copy(int fd, int out, lt_backman_copy_t *c)
{
    static uint8_t buf[1 << 16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, LT_HASH_BYTES);
    c->size = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        if (out >= 0 && lt_file_write_all(out, buf, (size_t)n) != 0)
            return -1;
        crypto_generichash_update(&st, buf, (size_t)n);
        c->size += (uint64_t)n;
    }
    crypto_generichash_final(&st, c->hash, LT_HASH_BYTES);
    c->listed = 1;
    return 0;
}

/* Reads path whole into c. Returns 0, or -1 with errno set. */
static int s_measure(const char *path, lt_backman_copy_t *c)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = s_read_copy(fd, -1, c), saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int lt_backman_copy(const char *src, const char *dst, lt_backman_copy_t *got, char *err,
                    size_t errlen)
{
    int rc = -1, out = -1, fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "cannot read %.400s: %s", src, strerror(errno));
        return -1;
    }
    (void)unlink(dst);
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (out < 0) {
        snprintf(err, errlen, "cannot create %.400s: %s", dst, strerror(errno));
        goto out;
    }
    if (s_read_copy(fd, out, got) != 0 || fsync(out) != 0) {
        snprintf(err, errlen, "cannot copy %.400s to %.400s: %s", src, dst, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    close(fd);
    if (out >= 0 && close(out) != 0 && rc == 0) {
        snprintf(err, errlen, "cannot close %.400s: %s", dst, strerror(errno));
        rc = -1;
    }
    if (rc != 0 && out >= 0)
        (void)unlink(dst);
    return rc;
}

/* Appends "KEY SIZE HASH\n" for the copy at path to text. */
static int s_line(const char *key, const char *path, char *text, char *err, size_t errlen)
{
    lt_backman_copy_t c;
    char hex[HEX_LEN + 1];
    if (s_measure(path, &c) != 0) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    sodium_bin2hex(hex, sizeof hex, c.hash, sizeof c.hash);
    size_t n = strlen(text);
    snprintf(text + n, LT_BACKMAN_MAX - n, "%s %" PRIu64 " %s\n", key, c.size, hex);
    return 0;
}

int lt_backman_measure(const lt_gwcfg_t *cfg, const char *store_copy, const char *audit_copy,
                       char text[LT_BACKMAN_MAX], char *err, size_t errlen)
{
    snprintf(text, LT_BACKMAN_MAX, HEADER "\nmember %s\n", cfg->member);
    if (s_line("store", store_copy, text, err, errlen) != 0)
        return -1;
    return audit_copy ? s_line("audit", audit_copy, text, err, errlen) : 0;
}

int lt_backman_write(const char *to, const char *text, char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s" LT_BACKMAN_NEW_SUFFIX, to);
    if (lt_file_write_atomic(path, text, strlen(text), 0600) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int lt_backman_commit(const char *to, char *err, size_t errlen)
{
    char path[PATH_MAX + 16], dst[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s" LT_BACKMAN_NEW_SUFFIX, to);
    snprintf(dst, sizeof dst, "%s" LT_BACKMAN_SUFFIX, to);
    if (rename(path, dst) != 0) {
        snprintf(err, errlen, "cannot rename %.400s to %.400s: %s", path, dst, strerror(errno));
        return -1;
    }
    if (lt_file_sync_dir(dst) != 0) {
        snprintf(err, errlen, "cannot sync the directory of %.400s: %s", dst, strerror(errno));
        return -1;
    }
    return 0;
}

void lt_backman_discard(const char *to)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s" LT_BACKMAN_NEW_SUFFIX, to);
    (void)unlink(path);
}

/* "SIZE HASH" (exactly: decimal digits, one space, 64 hex digits) into c. */
static int s_parse_copy(const char *v, lt_backman_copy_t *c)
{
    const char *sp = strchr(v, ' '), *end = NULL;
    size_t n = 0;
    if (!sp || sp == v || strspn(v, "0123456789") != (size_t)(sp - v) || sp - v > 19)
        return -1;
    c->size = strtoull(v, NULL, 10);
    const char *hex = sp + 1;
    if (strlen(hex) != HEX_LEN ||
        sodium_hex2bin(c->hash, sizeof c->hash, hex, HEX_LEN, NULL, &n, &end) != 0 ||
        n != LT_HASH_BYTES || end != hex + HEX_LEN)
        return -1;
    c->listed = 1;
    return 0;
}

/* One line "KEY VALUE" of the manifest at path into m. */
static int s_parse_line(const char *path, int no, char *line, lt_backman_t *m, char *err,
                        size_t errlen)
{
    char *v = strchr(line, ' ');
    if (v)
        *v++ = 0;
    lt_backman_copy_t *c = !strcmp(line, "store")   ? &m->store
                           : !strcmp(line, "audit") ? &m->audit
                                                    : NULL;
    if (v && !strcmp(line, "member") && !m->member[0] && *v && strlen(v) < sizeof m->member &&
        !strchr(v, ' ')) {
        snprintf(m->member, sizeof m->member, "%s", v);
        return 0;
    }
    if (v && c && !c->listed && s_parse_copy(v, c) == 0)
        return 0;
    if (v)
        v[-1] = ' '; /* the whole line in the error */
    snprintf(err, errlen,
             "%.400s line %d: '%.100s' is not a line of a backup manifest (expected 'member ID', "
             "'store SIZE HASH' or 'audit SIZE HASH', each once)",
             path, no, line);
    return -1;
}

int lt_backman_parse(const char *path, char *text, lt_backman_t *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    char *save = NULL, *line = strtok_r(text, "\n", &save);
    if (!line || strcmp(line, HEADER) != 0) {
        snprintf(err, errlen,
                 "%.400s is not a backup manifest this version reads: its first line is "
                 "'%.60s', expected '" HEADER "'",
                 path, line ? line : "");
        return -1;
    }
    int no = 1;
    while ((line = strtok_r(NULL, "\n", &save)))
        if (s_parse_line(path, ++no, line, m, err, errlen) != 0)
            return -1;
    if (!m->member[0] || !m->store.listed) {
        snprintf(err, errlen, "%.400s lacks its %s line", path, m->member[0] ? "store" : "member");
        return -1;
    }
    return 0;
}

/* got (NULL: the copy is not there) is what want lists. */
static int s_matches(const lt_backman_copy_t *want, const lt_backman_copy_t *got)
{
    if (!got)
        return !want->listed;
    return want->listed && got->size == want->size &&
           sodium_memcmp(got->hash, want->hash, LT_HASH_BYTES) == 0;
}

int lt_backman_match(const lt_backman_set_t *set, int audit, const char *path,
                     const lt_backman_copy_t *got, char *err, size_t errlen)
{
    if (set->n == 0)
        return 0; /* from before manifests: s_unlisted warned */
    for (int i = 0; i < set->n; i++)
        if (s_matches(audit ? &set->m[i].audit : &set->m[i].store, got))
            return 0;
    const lt_backman_copy_t *want = audit ? &set->m[0].audit : &set->m[0].store;
    if (set->n == 2)
        snprintf(err, errlen,
                 "%.400s %s %.400s %s %.400s (left by a backup that did not finish): the backup "
                 "is incomplete or was changed; restore another backup",
                 path, got ? "matches neither" : "is missing, listed in both", set->path[0],
                 got ? "nor" : "and", set->path[1]);
    else if (!got)
        snprintf(err, errlen,
                 "%.400s is missing, listed in %.400s: the backup is incomplete; restore "
                 "another backup",
                 path, set->path[0]);
    else if (!want->listed)
        snprintf(err, errlen,
                 "%.400s is there but not listed in %.400s: the backup is incomplete or was "
                 "changed; restore another backup",
                 path, set->path[0]);
    else if (got->size != want->size)
        snprintf(err, errlen,
                 "%.400s does not have the size listed in %.400s (%" PRIu64
                 " bytes, listed %" PRIu64
                 "): the backup is incomplete or was changed; restore another backup",
                 path, set->path[0], got->size, want->size);
    else
        snprintf(err, errlen,
                 "%.400s does not have the hash listed in %.400s: the backup is incomplete or "
                 "was changed; restore another backup",
                 path, set->path[0]);
    return -1;
}

/* A backup from before manifests: restored as before, with a warning. */
static void s_unlisted(const char *from, const char *path, FILE *out)
{
    lt_warn("restore",
            "%s has no manifest %s (a backup taken before lienthong recorded one): which "
            "member it is of and whether its copies are whole are not checked",
            from, path);
    fprintf(out,
            "warning: %s has no manifest %s (a backup taken before lienthong recorded one): "
            "which member it is of and whether its copies are whole are not checked\n",
            from, path);
}

/* The manifest at path, when there is one, into m, which must name cfg's
 * member: 1, 0 when there is none, or -1 with err. */
static int s_load_one(const lt_gwcfg_t *cfg, const char *from, const char *path, lt_backman_t *m,
                      char *err, size_t errlen)
{
    uint8_t *text = NULL;
    size_t size = 0;
    int rc = -1;
    if (lt_file_read(path, LT_BACKMAN_MAX, &text, &size) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "cannot read %.400s: %s", path,
                 errno == EFBIG ? "larger than a backup manifest" : strerror(errno));
        return -1;
    }
    if (strlen((char *)text) != size) {
        snprintf(err, errlen, "%.400s is not a backup manifest: it holds a NUL byte", path);
        goto out;
    }
    if (lt_backman_parse(path, (char *)text, m, err, errlen) != 0)
        goto out;
    if (strcmp(m->member, cfg->member) != 0) {
        snprintf(err, errlen,
                 "%.400s is a backup of member %s (%.400s), not of %s, this gateway's member: "
                 "restore it on %s's host, and restore a backup of %s here",
                 from, m->member, path, cfg->member, m->member, cfg->member);
        goto out;
    }
    rc = 1;
out:
    free(text);
    return rc;
}

int lt_backman_load(const lt_gwcfg_t *cfg, const char *from, lt_backman_set_t *set, FILE *out,
                    char *err, size_t errlen)
{
    static const char *suffix[2] = {LT_BACKMAN_SUFFIX, LT_BACKMAN_NEW_SUFFIX};
    memset(set, 0, sizeof *set);
    for (int i = 0; i < 2; i++) {
        char *path = set->path[set->n];
        snprintf(path, sizeof set->path[0], "%s%s", from, suffix[i]);
        int rc = s_load_one(cfg, from, path, &set->m[set->n], err, errlen);
        if (rc < 0)
            return -1;
        set->n += rc;
    }
    if (set->n == 0) {
        char path[PATH_MAX + 16];
        snprintf(path, sizeof path, "%s" LT_BACKMAN_SUFFIX, from);
        s_unlisted(from, path, out);
    }
    return 0;
}

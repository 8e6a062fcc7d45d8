/* lt_keys: generation, storage and use of secret keys.
 *
 * Secret file layout (binary, 73 bytes, mode 0600):
 *   "LTKEY1\0\0"  8-byte magic
 *   kind          1 byte (1 member, 2 authority)
 *   transport     32 bytes X25519 secret (zero for an authority)
 *   signing seed  32 bytes Ed25519 seed
 * The file is read straight into sodium_malloc'd memory so the secret never
 * passes through ordinary heap buffers.
 *
 * The retired file of a member's key file is text, one Z85 public signing
 * key a line (lt_keys.h); its writer and its reader are both here, so that
 * `keys promote` never writes what `audit --verify` would refuse. */
#include "lt_keys.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define FILE_MAGIC "LTKEY1\0\0"
#define FILE_BYTES (8 + 1 + 32 + 32)

struct _lt_keys_t {
    lt_keys_kind_t kind;
    uint8_t transport_pk[32];
    uint8_t signing_pk[32];
    /* Both in one sodium_malloc block: [transport_sk 32][signing_sk 64]. */
    uint8_t *secret;
};

#define TRANSPORT_SK(k) ((k)->secret)
#define SIGNING_SK(k)   ((k)->secret + 32)

static lt_keys_t *s_alloc(lt_keys_kind_t kind)
{
    if (sodium_init() < 0)
        return NULL;
    lt_keys_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->kind = kind;
    self->secret = sodium_malloc(32 + 64);
    if (!self->secret) {
        free(self);
        return NULL;
    }
    sodium_memzero(self->secret, 32 + 64);
    return self;
}

/* Derives the public halves from the secret material in `file`. */
static int s_expand(lt_keys_t *self, const uint8_t *transport_sk, const uint8_t *seed)
{
    if (self->kind == LT_KEYS_MEMBER) {
        memcpy(TRANSPORT_SK(self), transport_sk, 32);
        if (crypto_scalarmult_base(self->transport_pk, TRANSPORT_SK(self)) != 0)
            return -1;
    }
    return crypto_sign_seed_keypair(self->signing_pk, SIGNING_SK(self), seed);
}

lt_keys_t *lt_keys_new(lt_keys_kind_t kind)
{
    lt_keys_t *self = s_alloc(kind);
    if (!self)
        return NULL;
    uint8_t *tmp = sodium_malloc(64);
    if (!tmp) {
        lt_keys_destroy(&self);
        return NULL;
    }
    /* Two independent random draws: the keys are never derived from each other. */
    randombytes_buf(tmp, 32);
    randombytes_buf(tmp + 32, 32);
    if (s_expand(self, tmp, tmp + 32) != 0)
        lt_keys_destroy(&self);
    sodium_free(tmp);
    return self;
}

void lt_keys_destroy(lt_keys_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_keys_t *self = *self_p;
    sodium_free(self->secret); /* wipes before freeing */
    sodium_memzero(self, sizeof *self);
    free(self);
    *self_p = NULL;
}

static int s_read_exact(int fd, uint8_t *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

/* A key file must belong to the user that reads it (the gateway's, for
 * the packaged service: docs/operations.md): one of another user's could
 * have been put there by them. 0, or -1 with err naming both users. */
static int s_owner_refused(const char *path, const struct stat *st, char *err, size_t errlen)
{
    uid_t me = geteuid();
    if (st->st_uid == me)
        return 0;
    char owner[64], user[64];
    struct passwd *pw = getpwuid(st->st_uid);
    snprintf(owner, sizeof owner, "%s", pw ? pw->pw_name : "");
    pw = getpwuid(me);
    snprintf(user, sizeof user, "%s", pw ? pw->pw_name : "");
    snprintf(err, errlen,
             "%s: key file is owned by %s (uid %u), not by %s (uid %u), the user reading it; "
             "run as its owner, or: chown %s %s (keep mode 0600)",
             path, owner[0] ? owner : "another user", (unsigned)st->st_uid,
             user[0] ? user : "this user", (unsigned)me, user[0] ? user : "USER", path);
    return -1;
}

/* Opens a key file for reading: the descriptor, or -1 with err. Not
 * through a symbolic link: whoever may write the link's directory could
 * point it at secret keys of their own choosing. */
static int s_open_key_file(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0 && errno == ELOOP) {
        snprintf(err, errlen,
                 "%s: the key file is a symbolic link; a secret key file is read only where "
                 "it is: name the file itself",
                 path);
        return -1;
    }
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open key file: %s", path, strerror(errno));
        return -1;
    }
    return fd;
}

/* Checks what the open file is before a byte of it is read: a regular file
 * of the right size, ours, and unreadable by anyone else (a key others
 * could read is no longer secret). 0, or -1 with err. */
static int s_check_key_file(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size != FILE_BYTES) {
        snprintf(err, errlen, "%s: not a lienthong key file (expected a file of %d bytes)", path,
                 FILE_BYTES);
        return -1;
    }
    if (s_owner_refused(path, &st, err, errlen) != 0)
        return -1;
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen,
                 "%s: key file is accessible by group or others (mode %04o); "
                 "run: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 07777), path);
        return -1;
    }
    return 0;
}

/* Keys from a file's bytes, or NULL with err. The caller owns (and wipes)
 * file; the expanded secret lives in the keys' own sodium_malloc block. */
static lt_keys_t *s_decode(const uint8_t *file, const char *path, char *err, size_t errlen)
{
    if (memcmp(file, FILE_MAGIC, 8) != 0 ||
        (file[8] != LT_KEYS_MEMBER && file[8] != LT_KEYS_AUTHORITY)) {
        snprintf(err, errlen, "%s: not a lienthong key file (bad magic or kind)", path);
        return NULL;
    }
    lt_keys_t *self = s_alloc((lt_keys_kind_t)file[8]);
    if (!self || s_expand(self, file + 9, file + 41) != 0) {
        snprintf(err, errlen, "%s: cannot expand key material", path);
        lt_keys_destroy(&self);
    }
    return self;
}

lt_keys_t *lt_keys_load(const char *path, char *err, size_t errlen)
{
    lt_keys_t *self = NULL;
    uint8_t *file = NULL;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium cannot be initialised");
        return NULL;
    }
    int fd = s_open_key_file(path, err, errlen);
    if (fd < 0)
        return NULL;
    if (s_check_key_file(fd, path, err, errlen) != 0)
        goto out;
    /* Read straight into guarded memory, which sodium_free wipes. */
    file = sodium_malloc(FILE_BYTES);
    if (!file || s_read_exact(fd, file, FILE_BYTES) != 0) {
        snprintf(err, errlen, "%s: cannot read key file", path);
        goto out;
    }
    self = s_decode(file, path, err, errlen);
out:
    if (file)
        sodium_free(file);
    close(fd);
    return self;
}

/* Writes len bytes to fd, through short writes and signals. */
static int s_write_all(int fd, const uint8_t *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* fsyncs the directory of path: 0, or -1 with errno. */
static int s_sync_dir(const char *path)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1, saved = errno;
    if (dfd >= 0)
        close(dfd);
    errno = saved;
    return rc;
}

/* Replaces path with data: a fresh temporary file (O_EXCL and O_NOFOLLOW,
 * so a file or link planted at that name is never written through), `mode`
 * whatever the umask, fsync'd, renamed over path, and the directory fsync'd
 * so the new file survives a crash. This library stands below every other
 * one (docs/ARCHITECTURE.md), so it does its own file writing. */
static int s_write_file(const char *path, const uint8_t *data, size_t len, mode_t mode)
{
    char tmp[4096];
    int rc = -1;
    if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp)
        return errno = ENAMETOOLONG, -1;
    (void)unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    if (fchmod(fd, mode) != 0 || s_write_all(fd, data, len) != 0 || fsync(fd) != 0)
        goto out;
    if (rename(tmp, path) != 0)
        goto out;
    rc = s_sync_dir(path);
out:;
    int saved = errno;
    close(fd);
    if (rc != 0)
        (void)unlink(tmp);
    errno = saved;
    return rc;
}

int lt_keys_save(const lt_keys_t *self, const char *path)
{
    uint8_t *file = sodium_malloc(FILE_BYTES);
    if (!file)
        return -1;
    memcpy(file, FILE_MAGIC, 8);
    file[8] = (uint8_t)self->kind;
    memcpy(file + 9, TRANSPORT_SK(self), 32);
    /* libsodium's Ed25519 secret key is seed || public key. */
    memcpy(file + 41, SIGNING_SK(self), 32);
    int rc = s_write_file(path, file, FILE_BYTES, 0600);
    sodium_free(file);
    return rc;
}

int lt_keys_swap(lt_keys_t *a, lt_keys_t *b)
{
    if (a->kind != b->kind)
        return -1;
    lt_keys_t tmp = *a;
    *a = *b;
    *b = tmp;
    sodium_memzero(&tmp, sizeof tmp);
    return 0;
}

/* PREFIX.TAG.EXT for PREFIX.key, else KEYFILE.TAG. */
static int s_sibling(const char *key_file, const char *tag, const char *ext, char *out, size_t len)
{
    size_t n = strlen(key_file);
    int w;
    if (n > 4 && strcmp(key_file + n - 4, ".key") == 0)
        w = snprintf(out, len, "%.*s.%s.%s", (int)(n - 4), key_file, tag, ext);
    else
        w = snprintf(out, len, "%s.%s", key_file, tag);
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

int lt_keys_next_path(const char *key_file, char *out, size_t len)
{
    return s_sibling(key_file, "next", "key", out, len);
}

int lt_keys_old_path(const char *key_file, char *out, size_t len)
{
    return s_sibling(key_file, "old", "key", out, len);
}

int lt_keys_pub_path(const char *key_file, int next, char *out, size_t len)
{
    size_t n = strlen(key_file);
    if (n <= 4 || strcmp(key_file + n - 4, ".key") != 0)
        return -1;
    int w = snprintf(out, len, "%.*s%s.pub", (int)(n - 4), key_file, next ? ".next" : "");
    return w < 0 || (size_t)w >= len ? -1 : 0;
}

int lt_keys_switch_path(const char *key_file, char *out, size_t len)
{
    return s_sibling(key_file, "switch", "key", out, len);
}

int lt_keys_switch_remove(const char *key_file, char *err, size_t errlen)
{
    char path[4096];
    if (lt_keys_switch_path(key_file, path, sizeof path) != 0) {
        snprintf(err, errlen, "%.900s: key file path too long", key_file);
        errno = ENAMETOOLONG;
        return -1;
    }
    int rc = unlink(path) != 0 ? -1 : s_sync_dir(path) != 0 ? -2 : 1;
    int saved = errno;
    if (rc == -1 && saved == ENOENT)
        return 0;
    if (rc == -1)
        snprintf(err, errlen, "cannot remove %.900s: %s", path, strerror(saved));
    else if (rc == -2)
        snprintf(err, errlen,
                 "removed %.900s, but cannot sync its directory: %s (after a power loss the "
                 "file may come back)",
                 path, strerror(saved));
    errno = saved;
    return rc;
}

int lt_keys_leftovers_remove(const char *key_file, char *done, size_t donelen, char *err,
                             size_t errlen)
{
    char sw[4096], tmp[4096 + 8];
    const char *files[2] = {key_file, sw};
    int n = 0;
    done[0] = 0;
    if (lt_keys_switch_path(key_file, sw, sizeof sw) != 0) {
        snprintf(err, errlen, "%.900s: key file path too long", key_file);
        errno = ENAMETOOLONG;
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        if (snprintf(tmp, sizeof tmp, "%s.new", files[i]) >= (int)sizeof tmp) {
            snprintf(err, errlen, "%.900s: key file path too long", key_file);
            errno = ENAMETOOLONG;
            return -1;
        }
        if (unlink(tmp) == 0) {
            size_t used = strlen(done);
            snprintf(done + used, donelen - used, "%s%.900s", n++ ? ", " : "", tmp);
        } else if (errno != ENOENT) {
            int saved = errno;
            snprintf(err, errlen, "cannot remove %.900s: %s", tmp, strerror(saved));
            errno = saved;
            return -1;
        }
    }
    /* Synced, or a power loss could bring them back: secret keys again. */
    if (n > 0 && s_sync_dir(key_file) != 0) {
        int saved = errno;
        snprintf(err, errlen, "removed %.1900s, but cannot sync their directory: %s", done,
                 strerror(saved));
        errno = saved;
        return -1;
    }
    return n;
}

int lt_keys_promote_lock(const char *key_file, int wait_ms)
{
    char path[PATH_MAX + 32];
    if (s_sibling(key_file, "promote", "lock", path, sizeof path) != 0) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* Holds nothing: flock needs only a descriptor. */
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    for (int waited = 0; flock(fd, LOCK_EX | LOCK_NB) != 0; waited += 10) {
        int saved = errno;
        if (saved != EWOULDBLOCK || waited >= wait_ms) {
            close(fd);
            errno = saved;
            return -1;
        }
        (void)nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000L}, NULL);
    }
    return fd;
}

int lt_keys_retired_path(const char *key_file, char *out, size_t len)
{
    return s_sibling(key_file, "retired", "pub", out, len);
}

/* ---- public key files (.pub) ------------------------------------------------ */

/* A text file of public keys, the retired file or the previous keys' .old.pub,
 * read whole: its path and text. An absent file is read as empty (text
 * NULL, len 0). */
typedef struct {
    char path[4096];
    char *text; /* malloc'd, NUL-terminated (the text may hold NULs of its own) */
    size_t len;
} pubfile_t;

/* Reads f->path, at most max bytes, into f. 1 read, 0 absent, or -1 with
 * err. */
static int s_pub_read(pubfile_t *f, size_t max, char *err, size_t errlen)
{
    f->text = NULL;
    f->len = 0;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return 0;
    struct stat st;
    int rc = -1;
    if (fd < 0 || fstat(fd, &st) != 0)
        snprintf(err, errlen, "cannot read %.900s: %s", f->path, strerror(errno));
    else if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max)
        snprintf(err, errlen, "%.900s: not a file of at most %zu bytes", f->path, max);
    else if (!(f->text = malloc((size_t)st.st_size + 1)) ||
             s_read_exact(fd, (uint8_t *)f->text, (size_t)st.st_size) != 0)
        snprintf(err, errlen, "cannot read %.900s: %s", f->path,
                 f->text ? "short read" : "out of memory");
    else {
        f->len = (size_t)st.st_size;
        f->text[f->len] = 0;
        rc = 1;
    }
    if (fd >= 0)
        close(fd);
    if (rc < 0) {
        free(f->text);
        f->text = NULL;
    }
    return rc;
}

/* The next line of f from *pos that is neither empty nor a '#' comment,
 * without its end ("\n", or "\r\n" from a file edited elsewhere); *no
 * counts the lines read. 1 with the line in *l (*n bytes), 0 at the end. */
static int s_pub_next(const pubfile_t *f, size_t *pos, int *no, const char **l, size_t *n)
{
    while (*pos < f->len) {
        *l = f->text + *pos;
        const char *end = memchr(*l, '\n', f->len - *pos);
        *n = end ? (size_t)(end - *l) : f->len - *pos;
        *pos += *n + (end != NULL);
        (*no)++;
        if (*n > 0 && (*l)[*n - 1] == '\r')
            (*n)--;
        if (*n > 0 && (*l)[0] != '#')
            return 1;
    }
    return 0;
}

/* Decodes the n bytes at z, which must be exactly one Z85 key, into pk. 0
 * or -1. */
static int s_pub_key(const char *z, size_t n, uint8_t pk[LT_KEY_BYTES])
{
    char t[LT_Z85_KEY_LEN + 1] = "";
    if (n == LT_Z85_KEY_LEN)
        memcpy(t, z, n); /* a NUL inside makes it too short to decode */
    return lt_keys_z85_decode(t, pk);
}

/* Refuses f at line no: err is "PATH:LINE: what: 'TOKEN'", at most 60
 * bytes of the offending token (n bytes at tok), each byte that is not
 * printable ASCII as '?', so a bad file cannot garble the message.
 * Returns -1. */
static int s_pub_bad(const pubfile_t *f, int no, const char *what, const char *tok, size_t n,
                     char *err, size_t errlen)
{
    char q[61];
    size_t i;
    for (i = 0; i < n && i < 60; i++)
        q[i] = tok[i] >= 0x20 && tok[i] < 0x7f ? tok[i] : '?';
    q[i] = 0;
    snprintf(err, errlen, "%.900s:%d: %s: '%s'", f->path, no, what, q);
    return -1;
}

/* ---- the retired file ------------------------------------------------------- */

/* Reads the retired file of key_file into r. 0, or -1 with err. */
static int s_retired_read(const char *key_file, pubfile_t *r, char *err, size_t errlen)
{
    r->text = NULL;
    r->len = 0;
    if (lt_keys_retired_path(key_file, r->path, sizeof r->path) != 0) {
        snprintf(err, errlen, "%.900s: key file path too long", key_file);
        return -1;
    }
    return s_pub_read(r, LT_KEYS_RETIRED_MAX_BYTES, err, errlen) < 0 ? -1 : 0;
}

/* The next key of r from *pos; *line counts the lines read. 1 with the key
 * in pk, 0 at the end, or -1 with err naming the file and the line. */
static int s_retired_next(const pubfile_t *r, size_t *pos, int *line, uint8_t pk[LT_KEY_BYTES],
                          char *err, size_t errlen)
{
    const char *l;
    size_t n;
    if (!s_pub_next(r, pos, line, &l, &n))
        return 0;
    if (s_pub_key(l, n, pk) == 0)
        return 1;
    return s_pub_bad(r, *line, "not a Z85 public key", l, n, err, errlen);
}

/* Whether pk is one of pks[0..n). */
static int s_has(uint8_t (*pks)[LT_KEY_BYTES], size_t n, const uint8_t pk[LT_KEY_BYTES])
{
    for (size_t i = 0; i < n; i++)
        if (memcmp(pks[i], pk, LT_KEY_BYTES) == 0)
            return 1;
    return 0;
}

int lt_keys_retired_load(const char *key_file, uint8_t (*pks)[LT_KEY_BYTES], size_t cap, size_t *n,
                         char *err, size_t errlen)
{
    pubfile_t r;
    if (s_retired_read(key_file, &r, err, errlen) != 0)
        return -1;
    size_t pos = 0, had = *n;
    int line = 0, rc;
    uint8_t pk[LT_KEY_BYTES];
    while ((rc = s_retired_next(&r, &pos, &line, pk, err, errlen)) == 1) {
        if (s_has(pks, *n, pk))
            continue;
        if (*n >= cap) {
            snprintf(err, errlen, "%.900s:%d: more than %zu keys", r.path, line, cap);
            rc = -1;
            break;
        }
        memcpy(pks[(*n)++], pk, LT_KEY_BYTES);
    }
    if (rc != 0)
        *n = had;
    free(r.text);
    return rc == 0 ? 0 : -1;
}

/* Whether r holds pk: 1 or 0, or -1 with err when r has a bad line. */
static int s_retired_holds(const pubfile_t *r, const uint8_t pk[LT_KEY_BYTES], char *err,
                           size_t errlen)
{
    size_t pos = 0;
    int line = 0, rc, found = 0;
    uint8_t k[LT_KEY_BYTES];
    /* Every line is read, not only up to pk: a bad line is refused anywhere. */
    while ((rc = s_retired_next(r, &pos, &line, k, err, errlen)) == 1)
        found |= memcmp(k, pk, LT_KEY_BYTES) == 0;
    return rc < 0 ? -1 : found;
}

/* r's text with pk on a line of its own after it: malloc'd, *size bytes
 * and a NUL; NULL when out of memory. */
static char *s_retired_plus(const pubfile_t *r, const uint8_t pk[LT_KEY_BYTES], size_t *size)
{
    /* A file edited by hand may lack its last line end. */
    size_t nl = r->len > 0 && r->text[r->len - 1] != '\n';
    char *all = malloc(r->len + nl + LT_Z85_KEY_LEN + 2);
    if (!all)
        return NULL;
    if (r->len)
        memcpy(all, r->text, r->len);
    if (nl)
        all[r->len] = '\n';
    lt_keys_z85_encode(pk, all + r->len + nl);
    *size = r->len + nl + LT_Z85_KEY_LEN + 1;
    all[*size - 1] = '\n';
    all[*size] = 0;
    return all;
}

int lt_keys_retired_append(const char *key_file, const uint8_t pk[LT_KEY_BYTES], char *err,
                           size_t errlen)
{
    pubfile_t r;
    if (s_retired_read(key_file, &r, err, errlen) != 0)
        return -1;
    size_t size = 0;
    int rc = s_retired_holds(&r, pk, err, errlen), why = 0;
    char *all = rc == 0 ? s_retired_plus(&r, pk, &size) : NULL;
    if (rc == 0 && !all) {
        snprintf(err, errlen, "%.900s: out of memory", r.path);
        rc = -1;
    } else if (rc == 0 && size > LT_KEYS_RETIRED_MAX_BYTES) {
        snprintf(err, errlen, "%.900s: would grow past %d bytes", r.path,
                 LT_KEYS_RETIRED_MAX_BYTES);
        rc = -1;
    } else if (rc == 0 && s_write_file(r.path, (const uint8_t *)all, size, 0644) != 0) {
        why = errno;
        snprintf(err, errlen, "cannot write %.900s: %s", r.path, strerror(why));
        rc = -2;
    }
    free(all);
    free(r.text);
    if (rc == -2)
        errno = why; /* for the caller's explanation of a failed write */
    return rc;
}

/* ---- the previous keys' public file ---------------------------------------- */

#define OLD_PUB_MAX 4096 /* a comment and two key lines */

int lt_keys_old_pub_path(const char *key_file, char *out, size_t len)
{
    return s_sibling(key_file, "old", "pub", out, len);
}

int lt_keys_old_public_save(const char *key_file, const lt_keys_t *k, char *err, size_t errlen)
{
    return lt_keys_old_public_write(key_file, lt_keys_transport_public(k),
                                    lt_keys_signing_public(k), err, errlen);
}

int lt_keys_old_public_write(const char *key_file, const uint8_t transport[LT_KEY_BYTES],
                             const uint8_t signing[LT_KEY_BYTES], char *err, size_t errlen)
{
    char path[4096], zt[LT_Z85_KEY_LEN + 1], zs[LT_Z85_KEY_LEN + 1], text[256];
    if (lt_keys_old_pub_path(key_file, path, sizeof path) != 0) {
        snprintf(err, errlen, "%.900s: key file path too long", key_file);
        return -1;
    }
    lt_keys_z85_encode(transport, zt);
    lt_keys_z85_encode(signing, zs);
    int n = snprintf(text, sizeof text,
                     "# previous public keys of this member (lienthong keys promote)\n"
                     "transport_key = \"%s\";\nsigning_key = \"%s\";\n",
                     zt, zs);
    if (s_write_file(path, (const uint8_t *)text, (size_t)n, 0644) != 0) {
        snprintf(err, errlen, "cannot write %.900s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Reads one line of an .old.pub file (f, line no): `NAME = "Z85";` where
 * NAME is transport_key or signing_key, each once (have[0], have[1]).
 * 0, or -1 with err quoting the offending token. */
static int s_old_pub_line(const pubfile_t *f, int no, const char *l, size_t n, uint8_t *keys[2],
                          int have[2], char *err, size_t errlen)
{
    static const char *const names[2] = {"transport_key", "signing_key"};
    const char *sp = memchr(l, ' ', n);
    size_t w = sp ? (size_t)(sp - l) : n;
    int k = w == strlen(names[0]) && memcmp(l, names[0], w) == 0   ? 0
            : w == strlen(names[1]) && memcmp(l, names[1], w) == 0 ? 1
                                                                   : -1;
    if (k < 0)
        return s_pub_bad(f, no, "not transport_key or signing_key", l, w, err, errlen);
    if (have[k]++)
        return s_pub_bad(f, no, "given twice", l, w, err, errlen);
    if (n != w + 4 + LT_Z85_KEY_LEN + 2 || memcmp(l + w, " = \"", 4) != 0 ||
        memcmp(l + w + 4 + LT_Z85_KEY_LEN, "\";", 2) != 0)
        return s_pub_bad(f, no, "not NAME = \"KEY\";", l, n, err, errlen);
    const char *v = l + w + 4; /* the key between the quotes */
    if (s_pub_key(v, LT_Z85_KEY_LEN, keys[k]) != 0)
        return s_pub_bad(f, no, "not a Z85 public key", v, LT_Z85_KEY_LEN, err, errlen);
    return 0;
}

/* Parses the .old.pub file f: both keys, each once. 0, or -1 with err
 * naming the line and quoting the offending token. */
static int s_old_pub_parse(const pubfile_t *f, uint8_t transport[LT_KEY_BYTES],
                           uint8_t signing[LT_KEY_BYTES], char *err, size_t errlen)
{
    uint8_t *keys[2] = {transport, signing};
    int have[2] = {0, 0}, no = 0;
    size_t pos = 0, n;
    const char *l;
    while (s_pub_next(f, &pos, &no, &l, &n))
        if (s_old_pub_line(f, no, l, n, keys, have, err, errlen) != 0)
            return -1;
    if (have[0] && have[1])
        return 0;
    snprintf(err, errlen, "%.900s: lacks its %s", f->path,
             have[0] ? "signing_key" : "transport_key");
    return -1;
}

int lt_keys_old_public(const char *key_file, uint8_t transport[LT_KEY_BYTES],
                       uint8_t signing[LT_KEY_BYTES], char *from, size_t fromlen, char *err,
                       size_t errlen)
{
    pubfile_t f;
    if (lt_keys_old_pub_path(key_file, f.path, sizeof f.path) != 0) {
        snprintf(err, errlen, "%.900s: key file path too long", key_file);
        return -1;
    }
    if (from && fromlen)
        snprintf(from, fromlen, "%s", f.path);
    int rc = s_pub_read(&f, OLD_PUB_MAX, err, errlen);
    if (rc != 0) {
        if (rc > 0)
            rc = s_old_pub_parse(&f, transport, signing, err, errlen) == 0 ? 1 : -1;
        free(f.text);
        return rc;
    }
    /* An earlier version kept the whole previous keys (docs/operations.md,
     * "Rotating keys"): their public part is read, the secret not kept. */
    if (lt_keys_old_path(key_file, f.path, sizeof f.path) != 0 || access(f.path, F_OK) != 0)
        return 0;
    if (from && fromlen)
        snprintf(from, fromlen, "%s", f.path);
    lt_keys_t *old = lt_keys_load(f.path, err, errlen);
    if (!old)
        return -1;
    memcpy(transport, lt_keys_transport_public(old), LT_KEY_BYTES);
    memcpy(signing, lt_keys_signing_public(old), LT_KEY_BYTES);
    lt_keys_destroy(&old);
    return 1;
}

int lt_keys_signing_history(const char *key_file, uint8_t (*pks)[LT_KEY_BYTES], size_t cap,
                            size_t *n, char *err, size_t errlen)
{
    uint8_t transport[LT_KEY_BYTES], signing[LT_KEY_BYTES];
    int rc = -1, old;
    *n = 0;
    if (cap < 2) {
        snprintf(err, errlen, "no room for the signing keys of %.900s", key_file);
        return -1;
    }
    lt_keys_t *k = lt_keys_load(key_file, err, errlen);
    if (!k)
        return -1;
    if ((old = lt_keys_old_public(key_file, transport, signing, NULL, 0, err, errlen)) < 0)
        goto out;
    memcpy(pks[(*n)++], lt_keys_signing_public(k), LT_KEY_BYTES);
    if (old && !s_has(pks, *n, signing))
        memcpy(pks[(*n)++], signing, LT_KEY_BYTES);
    rc = lt_keys_retired_load(key_file, pks, cap, n, err, errlen);
out:
    lt_keys_destroy(&k);
    return rc;
}

lt_keys_kind_t lt_keys_kind(const lt_keys_t *self)
{
    return self->kind;
}

const uint8_t *lt_keys_transport_public(const lt_keys_t *self)
{
    return self->kind == LT_KEYS_MEMBER ? self->transport_pk : NULL;
}

const uint8_t *lt_keys_signing_public(const lt_keys_t *self)
{
    return self->signing_pk;
}

const uint8_t *lt_keys_transport_secret(const lt_keys_t *self)
{
    return self->kind == LT_KEYS_MEMBER ? TRANSPORT_SK(self) : NULL;
}

/* Feeds domain || 0x00 || msg through Ed25519ph-free signing: we build the
 * message in one buffer because Ed25519 signs the message, not a hash. */
static uint8_t *s_domain_msg(const char *domain, const uint8_t *msg, size_t len, size_t *out_len)
{
    size_t dl = strlen(domain);
    uint8_t *buf = malloc(dl + 1 + len);
    if (!buf)
        return NULL;
    memcpy(buf, domain, dl);
    buf[dl] = 0;
    if (len)
        memcpy(buf + dl + 1, msg, len);
    *out_len = dl + 1 + len;
    return buf;
}

int lt_keys_sign(const lt_keys_t *self, const char *domain, const uint8_t *msg, size_t len,
                 uint8_t sig[LT_SIG_BYTES])
{
    size_t n;
    uint8_t *buf = s_domain_msg(domain, msg, len, &n);
    if (!buf)
        return -1;
    int rc = crypto_sign_detached(sig, NULL, buf, n, SIGNING_SK(self));
    free(buf);
    return rc;
}

int lt_keys_verify(const uint8_t pk[LT_KEY_BYTES], const char *domain, const uint8_t *msg,
                   size_t len, const uint8_t sig[LT_SIG_BYTES])
{
    size_t n;
    uint8_t *buf = s_domain_msg(domain, msg, len, &n);
    if (!buf)
        return -1;
    int rc = crypto_sign_verify_detached(sig, buf, n, pk);
    free(buf);
    return rc == 0 ? 0 : -1;
}

void lt_keys_z85_encode(const uint8_t key[LT_KEY_BYTES], char out[LT_Z85_KEY_LEN + 1])
{
    zmq_z85_encode(out, key, LT_KEY_BYTES);
}

int lt_keys_z85_decode(const char *text, uint8_t key[LT_KEY_BYTES])
{
    if (!text || strlen(text) != LT_Z85_KEY_LEN)
        return -1;
    static const char alphabet[] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   ".-:+=^!/*?&<>()[]{}@%$#";
    for (const char *p = text; *p; p++)
        if (!strchr(alphabet, *p))
            return -1;
    return zmq_z85_decode(key, text) ? 0 : -1;
}

/* lt_keys: generation, storage and use of secret keys.
 *
 * Secret file layout (binary, 73 bytes, mode 0600):
 *   "LTKEY1\0\0"  8-byte magic
 *   kind          1 byte (1 member, 2 authority)
 *   transport     32 bytes X25519 secret (zero for an authority)
 *   signing seed  32 bytes Ed25519 seed
 * The file is read straight into sodium_malloc'd memory so the secret never
 * passes through ordinary heap buffers. */
#include "lt_keys.h"

#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
#define SIGNING_SK(k) ((k)->secret + 32)

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

lt_keys_t *lt_keys_load(const char *path, char *err, size_t errlen)
{
    lt_keys_t *self = NULL;
    uint8_t *file = NULL;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium cannot be initialised");
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot open key file: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size != FILE_BYTES) {
        snprintf(err, errlen, "%s: not a lienthong key file (expected %d bytes)", path,
                 FILE_BYTES);
        goto out;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf(err, errlen, "%s: key file is accessible by group or others (mode %04o); "
                 "run: chmod 600 %s", path, (unsigned)(st.st_mode & 07777), path);
        goto out;
    }
    file = sodium_malloc(FILE_BYTES);
    if (!file || s_read_exact(fd, file, FILE_BYTES) != 0) {
        snprintf(err, errlen, "%s: cannot read key file", path);
        goto out;
    }
    if (memcmp(file, FILE_MAGIC, 8) != 0 || (file[8] != LT_KEYS_MEMBER && file[8] != LT_KEYS_AUTHORITY)) {
        snprintf(err, errlen, "%s: not a lienthong key file (bad magic or kind)", path);
        goto out;
    }
    self = s_alloc((lt_keys_kind_t)file[8]);
    if (!self || s_expand(self, file + 9, file + 41) != 0) {
        snprintf(err, errlen, "%s: cannot expand key material", path);
        lt_keys_destroy(&self);
    }
out:
    if (file)
        sodium_free(file);
    close(fd);
    return self;
}

/* Writes a secret key file: a fresh temporary file (O_EXCL and O_NOFOLLOW,
 * so a file or link planted at that name is never written through), mode
 * 0600 whatever the umask, fsync'd, renamed over path, and the directory
 * fsync'd so the new key survives a crash. This library stands below every
 * other one (docs/ARCHITECTURE.md), so it does its own file writing. */
static int s_write_secret(const char *path, const uint8_t *data, size_t len)
{
    char tmp[4096], dir[4096];
    int dfd = -1, rc = -1;
    if (snprintf(tmp, sizeof tmp, "%s.new", path) >= (int)sizeof tmp)
        return errno = ENAMETOOLONG, -1;
    (void)unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (fchmod(fd, 0600) != 0 || write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
        goto out;
    if (rename(tmp, path) != 0)
        goto out;
    snprintf(dir, sizeof dir, "%s", path);
    dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    rc = dfd >= 0 && fsync(dfd) == 0 ? 0 : -1;
out:;
    int saved = errno;
    close(fd);
    if (dfd >= 0)
        close(dfd);
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
    int rc = s_write_secret(path, file, FILE_BYTES);
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

/* PREFIX.<tag>.key for PREFIX.key, else KEYFILE.<tag>. */
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

int lt_keys_retired_path(const char *key_file, char *out, size_t len)
{
    return s_sibling(key_file, "retired", "pub", out, len);
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

/* lt_file: bounded reads, atomic durable writes, path resolution, directories
 * (creation, permissions, locks), the descriptor limit; clocks are lt_clock's. */
#include "lt_file.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int lt_file_read(const char *path, size_t cap, uint8_t **data, size_t *size)
{
    int rc = -1;
    uint8_t *buf = NULL;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0)
        goto out;
    if ((size_t)st.st_size > cap) {
        errno = EFBIG;
        goto out;
    }
    buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        goto out;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            goto out;
        got += (size_t)n;
    }
    buf[got] = 0;
    *data = buf;
    *size = got;
    buf = NULL;
    rc = 0;
out:
    /* What a failed read got so far is wiped: the file may be a secret
     * (the API's tls_key), whose callers wipe only what they were given. */
    if (buf)
        sodium_memzero(buf, got);
    free(buf);
    close(fd);
    return rc;
}

int lt_file_sync_dir(const char *path)
{
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int lt_file_write_all(int fd, const void *data, size_t size)
{
    const uint8_t *p = data;
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        size -= (size_t)n;
    }
    return 0;
}

int lt_file_write_atomic(const char *path, const void *data, size_t size, mode_t mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp) {
        errno = ENAMETOOLONG;
        return -1;
    }
    /* Whatever is at tmp (a crashed run's file, or a link another user of
     * the directory planted there) goes first, and tmp is created anew
     * without following a link: written through one, the file's bytes
     * would land wherever it points, with this process's rights. */
    if (unlink(tmp) != 0 && errno != ENOENT)
        return -1;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    /* open() applies the umask; the mode must be exact for secret files. */
    if (fchmod(fd, mode) != 0)
        goto fail;
    if (lt_file_write_all(fd, data, size) != 0 || fsync(fd) != 0)
        goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    return lt_file_sync_dir(path);
fail:;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    errno = saved;
    return -1;
}

int lt_file_resolve(const char *base_file, const char *name, char *out, size_t cap)
{
    int n;
    if (name[0] == '/' || !base_file || !strchr(base_file, '/')) {
        n = snprintf(out, cap, "%s", name);
    } else {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", base_file);
        n = snprintf(out, cap, "%s/%s", dirname(copy), name);
    }
    return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

int lt_file_mkdirs(const char *path, mode_t mode)
{
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(buf, mode) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

void lt_file_whoami(char *out, size_t cap)
{
    const struct passwd *pw = getpwuid(geteuid());
    if (pw)
        snprintf(out, cap, "%s", pw->pw_name);
    else
        snprintf(out, cap, "uid %u", (unsigned)geteuid());
}

/* "PATH is owned by USER:GROUP with mode 0MMM" */
static void s_describe(const char *path, const struct stat *st, char *out, size_t cap)
{
    const struct passwd *pw = getpwuid(st->st_uid);
    const struct group *gr = getgrgid(st->st_gid);
    char u[64], g[64];
    snprintf(u, sizeof u, "%s", pw ? pw->pw_name : "?");
    snprintf(g, sizeof g, "%s", gr ? gr->gr_name : "?");
    if (!pw)
        snprintf(u, sizeof u, "%u", (unsigned)st->st_uid);
    if (!gr)
        snprintf(g, sizeof g, "%u", (unsigned)st->st_gid);
    snprintf(out, cap, "%s is owned by %s:%s with mode %04o", path, u, g,
             (unsigned)(st->st_mode & 07777));
}

void lt_file_explain(const char *path, int want, char *out, size_t cap)
{
    char buf[4096], me[64], what[4400];
    struct stat st;
    out[0] = '\0';
    if (access(path, want) == 0)
        return;
    int why = errno;
    lt_file_whoami(me, sizeof me);
    snprintf(buf, sizeof buf, "%s", path);
    /* The first directory on the way that this user may not search is
     * what stops us; a missing one ends the walk. */
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int exists = stat(buf, &st) == 0;
        if (exists && access(buf, X_OK) != 0) {
            s_describe(buf, &st, what, sizeof what);
            snprintf(out, cap, "%s and this process runs as %s", what, me);
            return;
        }
        *p = '/';
        if (!exists)
            break;
    }
    if (stat(path, &st) == 0) {
        s_describe(path, &st, what, sizeof what);
        snprintf(out, cap, "%s and this process runs as %s", what, me);
        return;
    }
    /* Missing: describe the nearest existing parent, where it would go. */
    char *slash;
    while ((slash = strrchr(buf, '/')) && slash != buf) {
        *slash = '\0';
        if (stat(buf, &st) == 0) {
            s_describe(buf, &st, what, sizeof what);
            snprintf(out, cap, "%s does not exist; %s and this process runs as %s", path, what, me);
            return;
        }
    }
    snprintf(out, cap, "%s: %s", path, strerror(why));
}

int lt_file_dir_usable(const char *path, mode_t mode, char *err, size_t errlen)
{
    struct stat st;
    char me[64], why[4600];
    lt_file_whoami(me, sizeof me);
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
            snprintf(err, errlen, "%s is not a directory", path);
            return -1;
        }
        if (st.st_uid == geteuid() && access(path, R_OK | W_OK | X_OK) == 0)
            return 0;
        lt_file_explain(path, R_OK | W_OK | X_OK, why, sizeof why);
        if (!why[0])
            s_describe(path, &st, why, sizeof why);
        snprintf(err, errlen, "%s, and it must belong to %s; run: chown %s %s", why, me, me, path);
        return -1;
    }
    /* Missing: it can be created when its nearest existing parent is
     * writable by us. */
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (;;) {
        char *slash = strrchr(buf, '/');
        if (!slash || slash == buf) {
            snprintf(buf, sizeof buf, "%s", slash ? "/" : ".");
            break;
        }
        *slash = '\0';
        if (stat(buf, &st) == 0)
            break;
    }
    if (access(buf, W_OK | X_OK) == 0)
        return 0;
    lt_file_explain(buf, W_OK | X_OK, why, sizeof why);
    snprintf(err, errlen,
             "%s does not exist and cannot be created (%s); create it: "
             "install -d -o %s -m %04o %s",
             path, why, me, (unsigned)mode, path);
    return -1;
}

int lt_file_dir_private(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if ((st.st_mode & 0077) == 0)
        return 0;
    snprintf(err, errlen,
             "%s has mode %04o: group or others may read or write it, and it holds records "
             "and keys; run: chmod 0700 %s",
             path, (unsigned)(st.st_mode & 07777), path);
    return -1;
}

int lt_file_private(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    /* open() keeps an existing file's mode: older versions made 0644 files. */
    int rc = fchmod(fd, 0600);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int lt_file_lock(const char *path)
{
    /* Opened for reading: all flock needs. What the file holds is the
     * callers' (an audit export writes its pid and file there, lt_auditarc). */
    int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

uint64_t lt_file_raise_nofile(uint64_t *hard, uint64_t *before, char *why, size_t len)
{
    struct rlimit rl;
    why[0] = 0;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        snprintf(why, len, "cannot read the file descriptor limit: %s", strerror(errno));
        *hard = 0;
        *before = 1024;
        return 1024;
    }
    uint64_t was = rl.rlim_cur;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            snprintf(why, len, "cannot raise the file descriptor limit from %llu to %llu: %s",
                     (unsigned long long)was, (unsigned long long)rl.rlim_max, strerror(errno));
            rl.rlim_cur = was;
        }
    }
    *hard = rl.rlim_max;
    *before = was;
    return rl.rlim_cur;
}

void lt_file_test_pause(const char *env)
{
#ifdef LT_TEST_HOOKS
    const char *f = getenv(env);
    char paused[PATH_MAX + 16];
    if (!f || !f[0] || snprintf(paused, sizeof paused, "%s.paused", f) >= (int)sizeof paused)
        return;
    FILE *fp = fopen(paused, "w");
    if (fp)
        (void)fclose(fp);
    for (int i = 0; i < 1000 && access(f, F_OK) != 0; i++)
        (void)nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000L}, NULL);
#else
    (void)env;
#endif
}

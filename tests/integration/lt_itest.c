/* lt_itest: temporary federations, gateway processes, log checks and CURVE
 * test peers for the integration tests. See lt_itest.h. */
#define _GNU_SOURCE
#include "lt_itest.h"
#include "lt_clock.h"

#include <CUnit/Basic.h>
#include "../cu_failures.h"
#include <sqlite3.h>
#include "lt_dir.h"
#include "lt_file.h"
#include "lt_sock.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_CHILDREN 64
#define MAX_SOCKS    64
#define MAX_DIRS     32

static char s_bin[PATH_MAX];
static void *s_ctx;
static pid_t s_children[MAX_CHILDREN];
static void *s_socks[MAX_SOCKS];
static char s_dirs[MAX_DIRS][PATH_MAX];
static int s_atexit_done;

/* ---- registries: whatever a failed test leaves behind is cleaned up ------ */

static void s_reg_add(void **slots, size_t n, void *v)
{
    for (size_t i = 0; i < n; i++)
        if (!slots[i]) {
            slots[i] = v;
            return;
        }
}

static void s_reg_del(void **slots, size_t n, void *v)
{
    for (size_t i = 0; i < n; i++)
        if (slots[i] == v)
            slots[i] = NULL;
}

static void s_child_add(pid_t pid)
{
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        if (!s_children[i]) {
            s_children[i] = pid;
            return;
        }
}

static void s_child_del(pid_t pid)
{
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        if (s_children[i] == pid)
            s_children[i] = 0;
}

static int s_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void s_rm_rf(const char *dir)
{
    if (dir[0] && nftw(dir, s_rm_one, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        fprintf(stderr, "itest: cannot remove %s: %s\n", dir, strerror(errno));
}

static void s_dir_del(const char *dir)
{
    for (size_t i = 0; i < MAX_DIRS; i++)
        if (strcmp(s_dirs[i], dir) == 0)
            s_dirs[i][0] = 0;
}

void lt_it_cleanup_all(void)
{
    for (size_t i = 0; i < MAX_CHILDREN; i++)
        if (s_children[i]) {
            kill(s_children[i], SIGKILL);
            (void)waitpid(s_children[i], NULL, 0);
            s_children[i] = 0;
        }
    for (size_t i = 0; i < MAX_SOCKS; i++)
        if (s_socks[i]) {
            zmq_close(s_socks[i]);
            s_socks[i] = NULL;
        }
    for (size_t i = 0; i < MAX_DIRS; i++)
        if (s_dirs[i][0]) {
            s_rm_rf(s_dirs[i]);
            s_dirs[i][0] = 0;
        }
}

void lt_it_shutdown(void)
{
    lt_it_cleanup_all();
    if (s_ctx) {
        zmq_ctx_term(s_ctx);
        s_ctx = NULL;
    }
}

/* ---- process-wide ---------------------------------------------------------- */

/* Made absolute: the CLI helper runs commands in other directories. */
void lt_it_set_binary(const char *path)
{
    char abs[PATH_MAX];
    if (path && realpath(path, abs))
        path = abs;
    snprintf(s_bin, sizeof s_bin, "%s", path ? path : "");
}

const char *lt_it_binary(void)
{
    if (!s_bin[0] && getenv("LIENTHONG_BIN"))
        lt_it_set_binary(getenv("LIENTHONG_BIN"));
    return s_bin[0] ? s_bin : NULL;
}

void *lt_it_ctx(void)
{
    if (!s_ctx)
        s_ctx = zmq_ctx_new();
    if (!s_atexit_done) {
        s_atexit_done = 1;
        atexit(lt_it_cleanup_all);
    }
    return s_ctx;
}

int64_t lt_it_ms(void)
{
    return lt_clock_mono_ms();
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static int s_left(int64_t deadline)
{
    int64_t left = deadline - lt_it_ms();
    return left > 0 ? (int)left : 0;
}

static int s_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Ports below the usual ephemeral range, so outgoing connections do not
 * take them, handed out from blocks of PORT_BLOCK. */
#define PORT_LO    20000
#define PORT_HI    32000
#define PORT_BLOCK 20

/* Makes block this process's for as long as it runs: 0, or -1 when another
 * test program holds it. A port free now may be given a gateway only later,
 * or be free again while its gateway restarts; two test programs side by
 * side (ctest -j) that both took it would fail a bind. The hold is an
 * abstract unix socket named after the block, never closed: the kernel
 * drops the name when the process ends, however it ends, and leaves no
 * file behind. */
static int s_port_block_take(int block)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    int n = snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "lienthong-itest-ports-%d", block);
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
    if (bind(fd, (struct sockaddr *)&a, len) != 0) {
        close(fd);
        return -1;
    }
    return 0;
}

/* The blocks tried start at one that depends on the pid, so that parallel
 * test programs seldom even try the same. */
int lt_it_free_port(void)
{
    enum { BLOCKS = (PORT_HI - PORT_LO) / PORT_BLOCK };
    static int block = -1, next, end;
    for (int tried = 0; tried <= BLOCKS;) {
        if (next >= end) {
            block = block < 0 ? (int)(getpid() % BLOCKS) : (block + 1) % BLOCKS;
            tried++;
            if (s_port_block_take(block) != 0)
                continue;
            next = PORT_LO + block * PORT_BLOCK;
            end = next + PORT_BLOCK;
        }
        int port = next++;
        if (s_port_free(port))
            return port;
    }
    return -1;
}

/* ---- files ------------------------------------------------------------------ */

int lt_it_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    int rc = fputs(text, f) < 0 ? -1 : 0;
    if (fclose(f) != 0)
        rc = -1;
    return rc;
}

int lt_it_write_fmt(const char *path, const char *fmt, ...)
{
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= sizeof text ? -1 : lt_it_write_file(path, text);
}

int lt_it_file_contains(const char *path, const char *s)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (lt_file_read(path, 64u << 20, &buf, &len) != 0)
        return 0;
    int found = memmem(buf, len, s, strlen(s)) != NULL;
    free(buf);
    return found;
}

int lt_it_api_token(const char *dir, const char *app, char token[65], char hash[65])
{
    char out[PATH_MAX], line[256];
    const char *args[] = {"api", "token", "--app", app, NULL};
    snprintf(out, sizeof out, "%.3000s/token-%.64s.txt", dir, app);
    if (lt_it_run_cli(dir, out, args, 10000) != 0)
        return -1;
    FILE *f = fopen(out, "r");
    int rc = -1;
    while (f && fgets(line, sizeof line, f)) {
        char *h = strstr(line, "token_hash = \"");
        if (strlen(line) == 65 && line[64] == '\n')
            snprintf(token, 65, "%.64s", line);
        if (h && snprintf(hash, 65, "%.64s", h + 14) == 64)
            rc = 0;
    }
    if (f)
        fclose(f);
    return rc;
}

int lt_it_mode(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (int)(st.st_mode & 07777) : -1;
}

int lt_it_mount_small(const char *dir)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return -1;
    if (mount("tmpfs", dir, "tmpfs", MS_NOSUID | MS_NODEV, "size=4m,mode=0700") != 0) {
        fprintf(stderr, "itest: cannot mount a tmpfs on %s: %s\n", dir, strerror(errno));
        return -1;
    }
    return 0;
}

void lt_it_unmount(const char *dir)
{
    if (umount2(dir, MNT_DETACH) != 0)
        fprintf(stderr, "itest: cannot unmount %s: %s\n", dir, strerror(errno));
}

int lt_it_fill_disk(const char *dir, char *path, size_t len)
{
    static char block[65536];
    snprintf(path, len, "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    ssize_t w;
    while ((w = write(fd, block, sizeof block)) > 0)
        ;
    int full = w < 0 && errno == ENOSPC;
    close(fd);
    return full ? 0 : -1;
}

/* ---- federation ------------------------------------------------------------ */

int lt_it_fed_init(lt_it_fed_t *f, const char *federation)
{
    memset(f, 0, sizeof *f);
    (void)lt_it_ctx();
    snprintf(f->federation, sizeof f->federation, "%s", federation);
    snprintf(f->dir, sizeof f->dir, "/tmp/ltit-XXXXXX");
    if (!mkdtemp(f->dir)) {
        f->dir[0] = 0;
        return -1;
    }
    for (size_t i = 0; i < MAX_DIRS; i++)
        if (!s_dirs[i][0]) {
            snprintf(s_dirs[i], PATH_MAX, "%s", f->dir);
            break;
        }
    f->authority = lt_keys_new(LT_KEYS_AUTHORITY);
    if (!f->authority)
        return -1;
    lt_keys_z85_encode(lt_keys_signing_public(f->authority), f->authority_z85);
    return 0;
}

void lt_it_fed_cleanup(lt_it_fed_t *f)
{
    for (size_t i = 0; i < f->n_gateways; i++)
        lt_it_gw_kill(&f->gateways[i]);
    for (size_t i = 0; i < f->n_members; i++) {
        lt_keys_destroy(&f->members[i].keys);
        lt_keys_destroy(&f->members[i].next);
    }
    lt_keys_destroy(&f->authority);
    if (f->dir[0]) {
        s_rm_rf(f->dir);
        s_dir_del(f->dir);
    }
    memset(f, 0, sizeof *f);
}

lt_it_member_t *lt_it_member_add(lt_it_fed_t *f, const char *id, int with_endpoint)
{
    if (f->n_members >= LT_IT_MAX_MEMBERS)
        return NULL;
    lt_it_member_t *m = &f->members[f->n_members];
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->slug, sizeof m->slug, "m%zu", f->n_members);
    snprintf(m->status, sizeof m->status, "active");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.4000s/m%zu.key", f->dir, f->n_members);
    memcpy(m->key_path, path, sizeof m->key_path);
    m->keys = lt_keys_new(LT_KEYS_MEMBER);
    if (!m->keys || lt_keys_save(m->keys, m->key_path) != 0) {
        lt_keys_destroy(&m->keys);
        return NULL;
    }
    if (with_endpoint) {
        m->port = lt_it_free_port();
        if (m->port < 0) {
            lt_keys_destroy(&m->keys);
            return NULL;
        }
        snprintf(m->endpoint, sizeof m->endpoint, "tcp://127.0.0.1:%d", m->port);
    }
    f->n_members++;
    return m;
}

static void s_member_source(FILE *out, const lt_it_member_t *m, int first)
{
    char tk[LT_Z85_KEY_LEN + 1], sk[LT_Z85_KEY_LEN + 1];
    lt_keys_z85_encode(lt_keys_transport_public(m->keys), tk);
    lt_keys_z85_encode(lt_keys_signing_public(m->keys), sk);
    fprintf(out, "%s  { id = \"%s\"; name = \"test member %s\";\n", first ? "" : ",\n", m->id,
            m->slug);
    if (m->endpoint[0] && m->endpoint2[0])
        fprintf(out, "    endpoints = [\"%s\", \"%s\"];\n", m->endpoint, m->endpoint2);
    else if (m->endpoint[0])
        fprintf(out, "    endpoints = [\"%s\"];\n", m->endpoint);
    fprintf(out, "    transport_key = \"%s\"; signing_key = \"%s\"; status = \"%s\";", tk, sk,
            m->status);
    if (m->next) {
        lt_keys_z85_encode(lt_keys_transport_public(m->next), tk);
        lt_keys_z85_encode(lt_keys_signing_public(m->next), sk);
        fprintf(out, "\n    next_transport_key = \"%s\"; next_signing_key = \"%s\";", tk, sk);
    }
    fprintf(out, " }");
}

int lt_it_dir_source(const lt_it_fed_t *f, uint64_t version, const char *path)
{
    FILE *out = fopen(path, "w");
    if (!out)
        return -1;
    fprintf(out, "# directory source written by lt_itest\nfederation = \"%s\";\nversion = %llu;\n",
            f->federation, (unsigned long long)version);
    fprintf(out, "members = (\n");
    int first = 1;
    for (size_t i = 0; i < f->n_members; i++) {
        if (strcmp(f->members[i].status, "absent") == 0)
            continue; /* not listed in this version */
        s_member_source(out, &f->members[i], first);
        first = 0;
    }
    fprintf(out, "\n);\n%s\n", f->extra_source ? f->extra_source : "");
    return fclose(out) == 0 ? 0 : -1;
}

int lt_it_dir_bytes(const lt_it_fed_t *f, uint64_t version, int64_t issued_at, int64_t expires_at,
                    const lt_keys_t *authority, uint8_t **out, size_t *out_len)
{
    static unsigned serial;
    char src[PATH_MAX + 64], err[1024];
    snprintf(src, sizeof src, "%s/dir-src-%u.conf", f->dir, serial++);
    if (lt_it_dir_source(f, version, src) != 0)
        return -1;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (lt_dir_compile(src, version, issued_at, expires_at, &raw, &raw_len, err, sizeof err) != 0) {
        fprintf(stderr, "itest: directory compile failed: %s\n", err);
        return -1;
    }
    int rc = lt_dir_sign(raw, raw_len, authority ? authority : f->authority, out, out_len);
    free(raw);
    return rc;
}

int lt_it_dir_sign(const lt_it_fed_t *f, uint64_t version, int64_t issued_at, int64_t expires_at,
                   const lt_keys_t *authority, const char *out_path)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (lt_it_dir_bytes(f, version, issued_at, expires_at, authority, &bytes, &len) != 0)
        return -1;
    int rc = lt_file_write_atomic(out_path, bytes, len, 0644);
    free(bytes);
    return rc;
}

/* ---- gateways -------------------------------------------------------------- */

static int s_gw_config(const lt_it_gw_t *g, const char *const *peers, const char *extra)
{
    FILE *out = fopen(g->conf_path, "w");
    if (!out)
        return -1;
    const lt_it_member_t *m = g->member;
    fprintf(out, "# gateway config written by lt_itest\nmember = \"%s\";\n", m->id);
    fprintf(out, "listen = \"%s\";\nkey_file = \"%s\";\n", m->endpoint, m->key_path);
    fprintf(out, "directory = \"%s\";\nauthority_keys = [\"%s\"];\n", g->dir_path,
            g->fed->authority_z85);
    fprintf(out, "data_dir = \"%s\";\nlocal_socket = \"%s\";\n", g->data_dir, g->sock_path);
    if (peers && peers[0]) {
        fprintf(out, "peers = [");
        for (size_t i = 0; peers[i]; i++)
            fprintf(out, "%s\"%s\"", i ? ", " : "", peers[i]);
        fprintf(out, "];\n");
    }
    fprintf(out, "heartbeat_ms = 500;\n%s\n", extra ? extra : "");
    return fclose(out) == 0 ? 0 : -1;
}

lt_it_gw_t *lt_it_gw_new(lt_it_fed_t *f, lt_it_member_t *m, uint64_t version,
                         const char *const *peers, const char *extra)
{
    if (!m || !m->endpoint[0] || f->n_gateways >= LT_IT_MAX_GATEWAYS)
        return NULL;
    lt_it_gw_t *g = &f->gateways[f->n_gateways];
    memset(g, 0, sizeof *g);
    g->fed = f;
    g->member = m;
    char home[PATH_MAX];
    snprintf(home, sizeof home, "%.4000s/%.15s", f->dir, m->slug);
    if (mkdir(home, 0700) != 0 && errno != EEXIST)
        return NULL;
    snprintf(g->conf_path, sizeof g->conf_path, "%.4000s/gw.conf", home);
    snprintf(g->dir_path, sizeof g->dir_path, "%.4000s/dir.signed", home);
    snprintf(g->data_dir, sizeof g->data_dir, "%.4000s/data", home);
    snprintf(g->sock_path, sizeof g->sock_path, "%.4000s/run/gw.sock", home);
    snprintf(g->log_path, sizeof g->log_path, "%.4000s.log", home);
    if (lt_it_dir_sign(f, version, 0, 0, NULL, g->dir_path) != 0 ||
        s_gw_config(g, peers, extra) != 0)
        return NULL;
    f->n_gateways++;
    return g;
}

int lt_it_owner_caller(lt_it_fed_t *f, const char *federation, const char *owner_id,
                       const char *caller_id, const char *source, lt_it_gw_t **owner,
                       lt_it_gw_t **caller)
{
    const char *peers[] = {owner_id, NULL};
    lt_it_member_t *mo, *mc;
    if (lt_it_fed_init(f, federation) != 0 || !(mo = lt_it_member_add(f, owner_id, 1)) ||
        !(mc = lt_it_member_add(f, caller_id, 1)))
        return -1;
    f->extra_source = source;
    *owner = lt_it_gw_new(f, mo, 1, NULL, NULL);
    *caller = lt_it_gw_new(f, mc, 1, peers, NULL);
    return *owner && *caller ? 0 : -1;
}

const uint8_t *lt_it_gw_key(const lt_it_gw_t *g)
{
    return lt_keys_transport_public(g->member->keys);
}

int lt_it_sql(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    /* The agency's adapters may hold the file for a moment: wait for them. */
    int rc = sqlite3_open(db_path, &db) == SQLITE_OK &&
                     sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
                     sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    if (rc != 0)
        fprintf(stderr, "agency: %s: %s\n", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
    return rc;
}

int64_t lt_it_sql_int(const char *db_path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

int lt_it_netns_enter(const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "/run/netns/%s", name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = setns(fd, CLONE_NEWNET);
    close(fd);
    return rc;
}

/* In the child: die with the parent, output to fd, stdin from /dev/null,
 * and, when nofile is not 0, that many file descriptors (soft and hard). */
static void s_child_exec(int out_fd, const char *cwd, rlim_t nofile, const char *netns,
                         char *const argv[])
{
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Before exec, so that the program's sockets live in the namespace. */
    if (netns && netns[0] && lt_it_netns_enter(netns) != 0)
        _exit(124);
    if (nofile && setrlimit(RLIMIT_NOFILE, &(struct rlimit){nofile, nofile}) != 0)
        _exit(126);
    int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(out_fd, 2) < 0)
        _exit(126);
    if (cwd && chdir(cwd) != 0)
        _exit(126);
    execv(argv[0], argv);
    _exit(127);
}

static pid_t s_spawn(const char *log_path, int append, const char *cwd, rlim_t nofile,
                     const char *netns, char *const argv[])
{
    int fd = open(log_path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0600);
    if (fd < 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        if (getppid() != parent)
            _exit(125);
        s_child_exec(fd, cwd, nofile, netns, argv);
    }
    close(fd);
    if (pid > 0)
        s_child_add(pid);
    return pid;
}

int lt_it_gw_start(lt_it_gw_t *g)
{
    const char *bin = lt_it_binary();
    if (!bin || g->pid > 0)
        return -1;
    char *argv[] = {(char *)bin, "gateway", "--config", g->conf_path, NULL};
    pid_t pid = s_spawn(g->log_path, 1, NULL, (rlim_t)g->nofile, g->netns, argv);
    if (pid < 0)
        return -1;
    g->pid = pid;
    return 0;
}

/* ---- a child's life: shared by gateways and other processes --------------- */

/* Reaps the child if it has exited; 1 if it is still running. */
static int s_alive(pid_t *pid, int *wstatus)
{
    if (*pid <= 0)
        return 0;
    int st = 0;
    pid_t r = waitpid(*pid, &st, WNOHANG);
    if (r == 0)
        return 1;
    if (r == *pid)
        *wstatus = st;
    s_child_del(*pid);
    *pid = 0;
    return 0;
}

static int s_wait_exit(pid_t *pid, int *wstatus, int timeout_ms, int *status)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    for (;;) {
        if (!s_alive(pid, wstatus)) {
            if (status)
                *status = *wstatus;
            return 0;
        }
        if (lt_it_ms() >= deadline)
            return -1;
        s_sleep_ms(10);
    }
}

static void s_kill(pid_t *pid, int *wstatus)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGKILL);
    int st = 0;
    if (waitpid(*pid, &st, 0) == *pid)
        *wstatus = st;
    s_child_del(*pid);
    *pid = 0;
}

static int s_stop(pid_t *pid, int *wstatus, int timeout_ms)
{
    int st = 0;
    if (*pid <= 0)
        return -1;
    if (kill(*pid, SIGTERM) != 0 || s_wait_exit(pid, wstatus, timeout_ms, &st) != 0) {
        s_kill(pid, wstatus);
        return -1;
    }
    return WIFEXITED(st) ? WEXITSTATUS(st) : -2;
}

int lt_it_gw_alive(lt_it_gw_t *g)
{
    return s_alive(&g->pid, &g->wstatus);
}

int lt_it_gw_wait_exit(lt_it_gw_t *g, int timeout_ms, int *status)
{
    return s_wait_exit(&g->pid, &g->wstatus, timeout_ms, status);
}

void lt_it_gw_kill(lt_it_gw_t *g)
{
    s_kill(&g->pid, &g->wstatus);
}

int lt_it_gw_signal(lt_it_gw_t *g, int sig)
{
    return g->pid > 0 ? kill(g->pid, sig) : -1;
}

int lt_it_gw_stop(lt_it_gw_t *g, int timeout_ms)
{
    return s_stop(&g->pid, &g->wstatus, timeout_ms);
}

/* ---- other processes of the binary ----------------------------------------- */

int lt_it_proc_start(lt_it_proc_t *p)
{
    const char *bin = lt_it_binary();
    char *argv[LT_IT_PROC_ARGS + 2];
    size_t n = 0;
    if (!bin || p->pid > 0)
        return -1;
    argv[n++] = (char *)bin;
    for (size_t i = 0; p->args[i] && n < LT_IT_PROC_ARGS + 1; i++)
        argv[n++] = (char *)p->args[i];
    argv[n] = NULL;
    pid_t pid = s_spawn(p->log_path, 1, NULL, 0, NULL, argv);
    if (pid < 0)
        return -1;
    p->pid = pid;
    return 0;
}

int lt_it_proc_alive(lt_it_proc_t *p)
{
    return s_alive(&p->pid, &p->wstatus);
}

int lt_it_proc_wait_exit(lt_it_proc_t *p, int timeout_ms, int *status)
{
    return s_wait_exit(&p->pid, &p->wstatus, timeout_ms, status);
}

void lt_it_proc_kill(lt_it_proc_t *p)
{
    s_kill(&p->pid, &p->wstatus);
}

int lt_it_proc_stop(lt_it_proc_t *p, int timeout_ms)
{
    return s_stop(&p->pid, &p->wstatus, timeout_ms);
}

int lt_it_gw_put_directory(lt_it_gw_t *g, const uint8_t *bytes, size_t len)
{
    return lt_file_write_atomic(g->dir_path, bytes, len, 0644);
}

/* ---- status over the local socket ------------------------------------------ */

Lienthong__Envelope *lt_it_recv_env(void *sock, int timeout_ms)
{
    zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) <= 0)
        return NULL;
    lt_wire_in_t in;
    char err[256];
    Lienthong__ErrorCode code;
    Lienthong__Envelope *env = NULL;
    if (lt_wire_recv(sock, 0, ZMQ_DONTWAIT, &in) == 0 && in.frames == 1)
        env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body), LT_LOCAL_MAX_MESSAGE,
                             &code, err, sizeof err);
    lt_wire_in_close(&in);
    return env;
}

/* Sends one local request with body and returns the reply if its body is
 * `want`, else NULL. */
/* want: the reply's body case, or BODY__NOT_SET for any reply. */
static Lienthong__Envelope *s_ask(lt_it_gw_t *g, Lienthong__Envelope__BodyCase body_case,
                                  const void *body, Lienthong__Envelope__BodyCase want,
                                  int timeout_ms)
{
    char err[512];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    void *s = lt_sock_local_client(lt_it_ctx(), g->sock_path, &o, err, sizeof err);
    if (!s)
        return NULL;
    Lienthong__Envelope *rep = NULL;
    if (lt_wire_send_body(s, NULL, 0, body_case, body) == 0)
        rep = lt_it_recv_env(s, timeout_ms);
    zmq_close(s);
    if (rep && want != LIENTHONG__ENVELOPE__BODY__NOT_SET && rep->body_case != want)
        lt_wire_free(&rep);
    return rep;
}

Lienthong__Envelope *lt_it_gw_status(lt_it_gw_t *g, int timeout_ms)
{
    Lienthong__StatusRequest req = LIENTHONG__STATUS_REQUEST__INIT;
    return s_ask(g, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &req,
                 LIENTHONG__ENVELOPE__BODY_STATUS_REPLY, timeout_ms);
}

Lienthong__Envelope *lt_it_gw_local(lt_it_gw_t *g, Lienthong__Envelope__BodyCase body_case,
                                    const void *body, int timeout_ms)
{
    return s_ask(g, body_case, body, LIENTHONG__ENVELOPE__BODY__NOT_SET, timeout_ms);
}

char *lt_it_gw_metrics(lt_it_gw_t *g, int timeout_ms)
{
    Lienthong__MetricsRequest req = LIENTHONG__METRICS_REQUEST__INIT;
    Lienthong__Envelope *rep = s_ask(g, LIENTHONG__ENVELOPE__BODY_METRICS_REQUEST, &req,
                                     LIENTHONG__ENVELOPE__BODY_METRICS_REPLY, timeout_ms);
    char *text = rep ? strdup(rep->metrics_reply->text) : NULL;
    lt_wire_free(&rep);
    return text;
}

double lt_it_metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
        if (strncmp(l, series, n) == 0 && l[n] == ' ')
            return strtod(l + n + 1, NULL);
    return -1;
}

double lt_it_gw_metric_wait(lt_it_gw_t *g, const char *series, double n, int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    for (;;) {
        char *text = lt_it_gw_metrics(g, timeout_ms);
        double v = text ? lt_it_metric(text, series) : -1;
        free(text);
        if (v >= n || lt_it_ms() >= deadline)
            return v;
        s_sleep_ms(50);
    }
}

int lt_it_metrics_undocumented(const char *text, const char *doc_path, char *missing, size_t cap)
{
    uint8_t *doc = NULL;
    size_t doc_len = 0, at = 0;
    int n = 0;
    if (lt_file_read(doc_path, 16u << 20, &doc, &doc_len) != 0)
        return -1;
    missing[0] = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "# TYPE ", 7) != 0)
            continue;
        size_t len = strcspn(l + 7, " \n");
        char row[256];
        snprintf(row, sizeof row, "| `%.*s` |", (int)len, l + 7);
        if (memmem(doc, doc_len, row, strlen(row)))
            continue;
        n++;
        if (at < cap)
            at += (size_t)snprintf(missing + at, cap - at, "%.*s ", (int)len, l + 7);
    }
    free(doc);
    return n;
}

/* The HELP text of l ("# HELP name text"), unescaped (\\ and \n), into out. */
static void s_help_text(const char *l, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = l; *p && *p != '\n' && n + 1 < cap; p++) {
        if (*p == '\\' && (p[1] == '\\' || p[1] == 'n'))
            out[n++] = *++p == 'n' ? '\n' : '\\';
        else
            out[n++] = *p;
    }
    out[n] = 0;
}

int lt_it_metrics_help_differs(const char *text, const char *doc_path, char *differ, size_t cap)
{
    uint8_t *doc = NULL;
    size_t doc_len = 0, at = 0;
    int n = 0;
    if (lt_file_read(doc_path, 16u << 20, &doc, &doc_len) != 0)
        return -1;
    differ[0] = 0;
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, "# HELP ", 7) != 0)
            continue;
        size_t len = strcspn(l + 7, " \n");
        char row[256], help[2048], cell[2048];
        snprintf(row, sizeof row, "| `%.*s` |", (int)len, l + 7);
        const char *r = memmem(doc, doc_len, row, strlen(row));
        if (!r)
            continue;
        /* The row's last cell: after its last " | ", up to " |" at its end. */
        const char *end = memchr(r, '\n', doc_len - (size_t)(r - (const char *)doc));
        const char *last = NULL;
        for (const char *p = r; p + 3 <= end; p++)
            if (memcmp(p, " | ", 3) == 0)
                last = p + 3;
        s_help_text(l + 7 + len + (l[7 + len] == ' '), help, sizeof help);
        int cell_len = last && end - last >= 2 ? (int)(end - last - 2) : 0;
        snprintf(cell, sizeof cell, "%.*s", cell_len, last ? last : "");
        if (strcmp(help, cell) == 0)
            continue;
        n++;
        if (at < cap)
            at += (size_t)snprintf(differ + at, cap - at, "%.*s\n    HELP: %s\n    doc:  %s\n",
                                   (int)len, l + 7, help, cell);
    }
    free(doc);
    return n;
}

/* Past a metric or label name at p; NULL when there is none. */
static const char *s_name_end(const char *p)
{
    if (!isalpha((unsigned char)*p) && *p != '_' && *p != ':')
        return NULL;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
        p++;
    return p;
}

/* Past {name="value",...} at p (escapes \\ \" \n in values); NULL if bad. */
static const char *s_labels_end(const char *p)
{
    if (*p != '{')
        return p;
    p++;
    while (*p != '}') {
        if (!(p = s_name_end(p)) || p[0] != '=' || p[1] != '"')
            return NULL;
        for (p += 2; *p != '"'; p++)
            if (!*p || *p == '\n' || (*p == '\\' && !*++p))
                return NULL;
        p++;
        if (*p == ',')
            p++;
        else if (*p != '}')
            return NULL;
    }
    return p + 1;
}

/* 1 if line (up to its newline) is `name{labels} value`. */
static int s_sample_ok(const char *line, size_t len)
{
    char buf[1024], *end;
    if (len >= sizeof buf)
        return 0;
    memcpy(buf, line, len);
    buf[len] = 0;
    const char *p = s_name_end(buf);
    if (!p || !(p = s_labels_end(p)) || *p != ' ')
        return 0;
    p++;
    if (strcmp(p, "+Inf") == 0 || strcmp(p, "-Inf") == 0 || strcmp(p, "NaN") == 0)
        return 1;
    (void)strtod(p, &end);
    return end != p && *end == 0;
}

int lt_it_metrics_parse(const char *text)
{
    while (*text) {
        const char *nl = strchr(text, '\n');
        size_t len = nl ? (size_t)(nl - text) : strlen(text);
        if (text[0] != '#' && !s_sample_ok(text, len)) {
            fprintf(stderr, "metrics: bad line: %.*s\n", (int)len, text);
            return 0;
        }
        text += len + (nl != NULL);
    }
    return 1;
}

int lt_it_gw_wait_ready(lt_it_gw_t *g, int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    while (lt_it_gw_alive(g)) {
        int left = s_left(deadline);
        Lienthong__Envelope *rep = lt_it_gw_status(g, left < 300 ? left : 300);
        if (rep) {
            lt_wire_free(&rep);
            return 0;
        }
        if (lt_it_ms() >= deadline)
            return -1;
        s_sleep_ms(20);
    }
    return -1;
}

int lt_it_gw_run(lt_it_gw_t *g, int timeout_ms)
{
    if (lt_it_gw_start(g) != 0)
        return -1;
    if (lt_it_gw_wait_ready(g, timeout_ms) != 0) {
        fprintf(stderr, "itest: gateway %s did not become ready (%s, wait status 0x%x)\n",
                g->member->id, g->pid > 0 ? "still running" : "exited", (unsigned)g->wstatus);
        lt_it_log_dump(g);
        return -1;
    }
    return 0;
}

static int s_has_peer(const Lienthong__StatusReply *r, const char *member)
{
    for (size_t i = 0; i < r->n_peers_connected; i++)
        if (strcmp(r->peers_connected[i], member) == 0)
            return 1;
    return 0;
}

int lt_it_gw_wait_peer(lt_it_gw_t *g, const char *member, int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    do {
        Lienthong__Envelope *rep = lt_it_gw_status(g, 500);
        int ok = rep && s_has_peer(rep->status_reply, member);
        lt_wire_free(&rep);
        if (ok)
            return 0;
        s_sleep_ms(50);
    } while (lt_it_ms() < deadline);
    return -1;
}

uint64_t lt_it_gw_version(lt_it_gw_t *g)
{
    Lienthong__Envelope *rep = lt_it_gw_status(g, 1000);
    uint64_t v = rep ? rep->status_reply->directory_version : 0;
    lt_wire_free(&rep);
    return v;
}

int lt_it_gw_wait_version(lt_it_gw_t *g, uint64_t version, int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    do {
        if (lt_it_gw_version(g) == version)
            return 0;
        s_sleep_ms(50);
    } while (lt_it_ms() < deadline);
    return -1;
}

/* ---- logs -------------------------------------------------------------------- */

long lt_it_log_mark(const lt_it_gw_t *g)
{
    struct stat st;
    return stat(g->log_path, &st) == 0 ? (long)st.st_size : 0;
}

int lt_it_file_count(const char *path, long mark, const char *a, const char *b)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int found = 0;
    char *line = NULL;
    size_t cap = 0;
    if (fseek(f, mark, SEEK_SET) == 0)
        while (getline(&line, &cap, f) >= 0)
            found += strstr(line, a) && (!b || strstr(line, b));
    free(line);
    fclose(f);
    return found;
}

int lt_it_log_has(const lt_it_gw_t *g, long mark, const char *a, const char *b)
{
    return lt_it_file_count(g->log_path, mark, a, b) > 0;
}

int lt_it_log_wait(const lt_it_gw_t *g, long mark, const char *a, const char *b, int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    do {
        if (lt_it_log_has(g, mark, a, b))
            return 0;
        s_sleep_ms(20);
    } while (lt_it_ms() < deadline);
    return lt_it_log_has(g, mark, a, b) ? 0 : -1;
}

void lt_it_file_dump(const char *path)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (lt_file_read(path, 64u << 20, &buf, &len) != 0)
        return;
    size_t from = len > 6000 ? len - 6000 : 0;
    fprintf(stderr, "---- %s (last %zu bytes) ----\n%s---- end ----\n", path, len - from,
            (char *)buf + from);
    free(buf);
}

void lt_it_log_dump(const lt_it_gw_t *g)
{
    lt_it_file_dump(g->log_path);
}

/* ---- test peers ------------------------------------------------------------ */

int lt_it_peer_open(lt_it_peer_t *p, const lt_it_member_t *member, const uint8_t *server_key,
                    const char *endpoint)
{
    char err[512];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    p->member = member;
    p->sock = lt_sock_client(lt_it_ctx(), member->keys, server_key, endpoint, &o, err, sizeof err);
    if (!p->sock) {
        fprintf(stderr, "itest: test peer: %s\n", err);
        return -1;
    }
    s_reg_add(s_socks, MAX_SOCKS, p->sock);
    return 0;
}

int lt_it_peer_open_gw(lt_it_peer_t *p, const lt_it_member_t *member, const lt_it_gw_t *g)
{
    return lt_it_peer_open(p, member, lt_it_gw_key(g), g->member->endpoint);
}

void lt_it_peer_close(lt_it_peer_t *p)
{
    if (p->sock) {
        s_reg_del(s_socks, MAX_SOCKS, p->sock);
        zmq_close(p->sock);
        p->sock = NULL;
    }
}

int lt_it_peer_send_frames(lt_it_peer_t *p, const void *const *data, const size_t *len, int n,
                           int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    do {
        zmq_pollitem_t item = {p->sock, 0, ZMQ_POLLOUT, 0};
        if (zmq_poll(&item, 1, s_left(deadline)) <= 0)
            continue;
        /* The first frame decides: once it is in, the rest follow. */
        if (zmq_send(p->sock, data[0], len[0], ZMQ_DONTWAIT | (n > 1 ? ZMQ_SNDMORE : 0)) < 0) {
            s_sleep_ms(5); /* the connection went away between poll and send */
            continue;
        }
        for (int i = 1; i < n; i++)
            if (zmq_send(p->sock, data[i], len[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
                return -1;
        return 0;
    } while (lt_it_ms() < deadline);
    return -1;
}

int lt_it_peer_send_raw(lt_it_peer_t *p, const void *data, size_t len, int timeout_ms)
{
    const void *d[1] = {data};
    size_t l[1] = {len};
    return lt_it_peer_send_frames(p, d, l, 1, timeout_ms);
}

int lt_it_peer_send_env(lt_it_peer_t *p, const Lienthong__Envelope *env, int timeout_ms)
{
    size_t len = lienthong__envelope__get_packed_size(env);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -1;
    lienthong__envelope__pack(env, buf);
    int rc = lt_it_peer_send_raw(p, buf, len, timeout_ms);
    free(buf);
    return rc;
}

Lienthong__Envelope *lt_it_peer_recv(lt_it_peer_t *p, int timeout_ms)
{
    return lt_it_recv_env(p->sock, timeout_ms);
}

Lienthong__Envelope *lt_it_peer_expect_any(lt_it_peer_t *p, uint64_t mask, int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    do {
        Lienthong__Envelope *env = lt_it_recv_env(p->sock, s_left(deadline));
        if (env && (mask & LT_IT_BODY(env->body_case)))
            return env;
        lt_wire_free(&env);
    } while (lt_it_ms() < deadline);
    return NULL;
}

Lienthong__Envelope *lt_it_peer_expect(lt_it_peer_t *p, Lienthong__Envelope__BodyCase want,
                                       int timeout_ms)
{
    return lt_it_peer_expect_any(p, LT_IT_BODY(want), timeout_ms);
}

uint8_t *lt_it_hello_bytes(const char *member, uint32_t proto_version, uint64_t dir_version,
                           size_t *len)
{
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.member = (char *)member;
    h.directory_version = dir_version;
    h.software = "lienthong integration test peer";
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = proto_version;
    env.body_case = LIENTHONG__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    *len = lienthong__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(*len);
    if (buf)
        lienthong__envelope__pack(&env, buf);
    return buf;
}

Lienthong__Envelope *lt_it_peer_hello(lt_it_peer_t *p, uint64_t dir_version, int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    size_t len = 0;
    uint8_t *buf = lt_it_hello_bytes(p->member->id, LT_PROTO_VERSION, dir_version, &len);
    int sent = buf && lt_it_peer_send_raw(p, buf, len, timeout_ms) == 0;
    free(buf);
    if (!sent)
        return NULL;
    return lt_it_peer_expect_any(p,
                                 LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_HELLO) |
                                     LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_ERROR),
                                 s_left(deadline));
}

Lienthong__Envelope *lt_it_peer_hello_retry(lt_it_peer_t *p, uint64_t dir_version, int attempt_ms,
                                            int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    do {
        int left = s_left(deadline);
        Lienthong__Envelope *env =
            lt_it_peer_hello(p, dir_version, left < attempt_ms ? left : attempt_ms);
        if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_HELLO)
            return env;
        lt_wire_free(&env);
    } while (lt_it_ms() < deadline);
    return NULL;
}

Lienthong__Envelope *lt_it_peer_offer(lt_it_peer_t *p, const uint8_t *bytes, size_t len,
                                      int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    Lienthong__DirectoryOffer o = LIENTHONG__DIRECTORY_OFFER__INIT;
    o.signed_directory.data = (uint8_t *)bytes;
    o.signed_directory.len = len;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER;
    env.directory_offer = &o;
    if (lt_it_peer_send_env(p, &env, timeout_ms) != 0)
        return NULL;
    return lt_it_peer_expect_any(p,
                                 LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_HELLO) |
                                     LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_ERROR),
                                 s_left(deadline));
}

/* ---- running the CLI ---------------------------------------------------------- */

const char *lt_it_popgen_binary(void)
{
    static char path[PATH_MAX];
    const char *bin = lt_it_binary();
    if (!bin)
        return NULL;
    if (!path[0])
        snprintf(path, sizeof path, "%.4000s-popgen", bin);
    return path;
}

int lt_it_run_cli(const char *cwd, const char *out_path, const char *const *args, int timeout_ms)
{
    return lt_it_run_prog(lt_it_binary(), cwd, out_path, args, timeout_ms);
}

int lt_it_run_prog(const char *bin, const char *cwd, const char *out_path, const char *const *args,
                   int timeout_ms)
{
    char *argv[32];
    int n = 0;
    if (!bin)
        return -1;
    argv[n++] = (char *)bin;
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid = s_spawn(out_path, 0, cwd, 0, NULL, argv);
    if (pid < 0)
        return -1;
    int64_t deadline = lt_it_ms() + timeout_ms;
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0 && lt_it_ms() < deadline)
        s_sleep_ms(10);
    if (r == 0) {
        kill(pid, SIGKILL);
        (void)waitpid(pid, &st, 0);
    }
    s_child_del(pid);
    return r == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the runner ---------------------------------------------------------------- */

static void s_default_teardown(void)
{
    lt_it_cleanup_all();
}

int lt_it_main(int argc, char **argv, const lt_it_suite_t *suite)
{
    if (argc > 1)
        lt_it_set_binary(argv[1]);
    const char *bin = lt_it_binary();
    if (!bin || access(bin, X_OK) != 0) {
        fprintf(stderr, "usage: %s /path/to/lienthong (or set LIENTHONG_BIN)\n", argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (sodium_init() < 0 || CU_initialize_registry() != CUE_SUCCESS)
        return 1;
    CU_pSuite s = CU_add_suite_with_setup_and_teardown(
        suite->name, suite->init, suite->clean, suite->setup,
        suite->teardown ? suite->teardown : s_default_teardown);
    /* LT_IT_ONLY=TEXT runs only the tests whose name holds TEXT: for a
     * developer after one case, never set by CTest. */
    const char *only = getenv("LT_IT_ONLY");
    for (const lt_it_test_t *t = suite->tests; s && t->name; t++)
        if ((!only || strstr(t->name, only)) && !CU_add_test(s, t->name, t->fn))
            s = NULL;
    if (!s) {
        CU_cleanup_registry();
        return 1;
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    lt_cu_print_failures();
    unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    lt_it_shutdown();
    return failed || run == 0 ? 1 : 0;
}

/* ---- lookup answers ---------------------------------------------------------------- */

int lt_it_released(const Lienthong__LookupAnswer *a, const char *field)
{
    for (size_t i = 0; i < a->n_released; i++)
        if (strcmp(a->released[i], field) == 0)
            return 1;
    return 0;
}

int lt_it_reason_is(const Lienthong__LookupAnswer *a, const char *field, const char *reason)
{
    const char *r = NULL;
    for (size_t i = 0; i < a->n_withheld && !r; i++)
        if (strcmp(a->withheld[i]->field, field) == 0)
            r = a->withheld[i]->reason;
    if (!r || strcmp(r, reason) != 0) {
        fprintf(stderr, "itest: %s withheld as \"%s\", want \"%s\"\n", field, r ? r : "(not)",
                reason);
        return 0;
    }
    return 1;
}

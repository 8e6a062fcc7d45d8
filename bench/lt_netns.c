/* lt_netns: namespaces, TUN links and the link emulator. See lt_netns.h. */
#define _GNU_SOURCE
#include "lt_netns.h"
#include "lt_err.h"
#include "lt_itest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PREFIX       "ltw"
#define QUEUE_CAP    8192 /* packets waiting per direction; beyond: tail drop */
#define PKT_MAX      2048 /* above the TUN MTU of 1500 */
#define READ_BURST   64
#define IDLE_WAIT_NS 20000000LL /* the emulator checks its stop flag this often */

extern char **environ;

typedef struct {
    int64_t due_ns;
    size_t len;
    uint8_t data[];
} pkt_t;

typedef struct {
    pkt_t **ring;
    size_t head, count;
    int64_t last_due;
} dirq_t;

typedef struct {
    int fd[2];   /* 0: the capital's wanN, 1: the province's wan0 */
    dirq_t q[2]; /* q[d]: read from fd[d], to be written to fd[1 - d] */
    lt_netns_link_t p;
} link_t;

struct lt_netns {
    int n;
    char names[LT_NETNS_MAX + 1][32]; /* [0] capital, [1 + i] province i */
    char addrs[LT_NETNS_MAX + 1][16];
    int made[LT_NETNS_MAX + 1];
    link_t links[LT_NETNS_MAX];
    uint64_t rng;
    pthread_t th;
    int running;
    volatile int stop;
    uint64_t carried, lost, refused;
};

/* ---- commands ------------------------------------------------------------- */

/* Runs `ip ARGS...` (NULL-terminated) with its output discarded; its exit
 * code, or -1. */
static int s_ip(const char *a0, ...)
{
    const char *argv[16] = {"ip"};
    int n = 1;
    va_list ap;
    va_start(ap, a0);
    for (const char *a = a0; a && n < 15; a = va_arg(ap, const char *))
        argv[n++] = a;
    va_end(ap);
    argv[n] = NULL;
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return -1;
    pid_t pid;
    int rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    if (rc == 0)
        rc = posix_spawnp(&pid, "ip", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A TUN device `ifname` in namespace ns, non-blocking; its fd or -1. Only
 * this thread changes namespace, and only for the ioctl. */
static int s_tun(const char *ns, const char *ifname)
{
    int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), fd = -1;
    if (home < 0)
        return -1;
    if (lt_it_netns_enter(ns) == 0) {
        fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
        struct ifreq ifr;
        memset(&ifr, 0, sizeof ifr);
        ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
        snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
        if (fd >= 0 && ioctl(fd, TUNSETIFF, &ifr) != 0) {
            close(fd);
            fd = -1;
        }
    }
    if (setns(home, CLONE_NEWNET) != 0) {
        /* This thread would stay in the wrong namespace: nothing after
         * this could be trusted. */
        fprintf(stderr, "lt_netns: cannot return to the original network namespace\n");
        abort();
    }
    close(home);
    return fd;
}

/* 1 when process pid no longer runs: absent, or a zombie not yet reaped
 * (a run killed with SIGKILL can stay one for a while). */
static int s_gone(long pid)
{
    if (kill((pid_t)pid, 0) != 0)
        return errno == ESRCH;
    char path[64], buf[256];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *fp = fopen(path, "r");
    size_t len = fp ? fread(buf, 1, sizeof buf - 1, fp) : 0;
    if (fp)
        fclose(fp);
    buf[len] = 0;
    const char *p = strrchr(buf, ')'); /* the state follows the command name */
    return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* Deletes namespaces PREFIX<pid>... of processes that no longer run. */
static void s_sweep(void)
{
    DIR *d = opendir("/run/netns");
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, PREFIX, strlen(PREFIX)) != 0)
            continue;
        char *end;
        long pid = strtol(e->d_name + strlen(PREFIX), &end, 10);
        if (end == e->d_name + strlen(PREFIX) || pid <= 0)
            continue;
        if (pid == (long)getpid() || s_gone(pid)) {
            fprintf(stderr, "lt_netns: removing namespace %s left by an earlier run\n", e->d_name);
            (void)s_ip("netns", "del", e->d_name, NULL);
        }
    }
    closedir(d);
}

int lt_netns_probe(char *why, size_t whylen)
{
    if (geteuid() != 0) {
        snprintf(why, whylen, "not root (network namespaces need CAP_SYS_ADMIN)");
        return -1;
    }
    if (access("/dev/net/tun", R_OK | W_OK) != 0) {
        snprintf(why, whylen, "no /dev/net/tun (%s)", strerror(errno));
        return -1;
    }
    char name[32];
    snprintf(name, sizeof name, PREFIX "%dprobe", (int)getpid());
    (void)s_ip("netns", "del", name, NULL);
    if (s_ip("netns", "add", name, NULL) != 0) {
        snprintf(why, whylen, "`ip netns add %s` failed (no iproute2, or namespaces not permitted)",
                 name);
        return -1;
    }
    int fd = s_tun(name, "wan0");
    (void)s_ip("netns", "del", name, NULL);
    if (fd < 0) {
        snprintf(why, whylen, "cannot make a TUN device in a namespace");
        return -1;
    }
    close(fd);
    return 0;
}

/* ---- the emulator ------------------------------------------------------------ */

static int64_t s_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static uint64_t s_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static double s_unit(uint64_t *s)
{
    return (double)(s_rand(s) >> 11) / 9007199254740992.0;
}

static void s_count(uint64_t *c)
{
    __atomic_add_fetch(c, 1, __ATOMIC_RELAXED);
}

/* One packet read from fd[d] of link l: dropped, or queued with its time. */
static void s_take(lt_netns_t *self, link_t *l, int d, const uint8_t *buf, size_t len)
{
    dirq_t *q = &l->q[d];
    if (s_unit(&self->rng) < l->p.loss) {
        s_count(&self->lost);
        return;
    }
    pkt_t *p = q->count < QUEUE_CAP ? malloc(sizeof *p + len) : NULL;
    if (!p) {
        s_count(&self->refused);
        return;
    }
    double jitter = l->p.jitter_ms ? (2 * s_unit(&self->rng) - 1) * l->p.jitter_ms : 0;
    double ms = (double)l->p.delay_ms + jitter;
    int64_t due = s_now_ns() + (int64_t)((ms < 0 ? 0 : ms) * 1e6);
    p->due_ns = due > q->last_due ? due : q->last_due;
    q->last_due = p->due_ns;
    p->len = len;
    memcpy(p->data, buf, len);
    q->ring[(q->head + q->count) % QUEUE_CAP] = p;
    q->count++;
}

/* Writes the packets that are due; returns the next due time or INT64_MAX. */
static int64_t s_deliver(lt_netns_t *self, int64_t now)
{
    int64_t next = INT64_MAX;
    for (int i = 0; i < self->n; i++)
        for (int d = 0; d < 2; d++) {
            link_t *l = &self->links[i];
            dirq_t *q = &l->q[d];
            while (q->count && q->ring[q->head]->due_ns <= now) {
                pkt_t *p = q->ring[q->head];
                /* A device that is down refuses the write (EIO): the
                 * packet is lost, as on a cut line. */
                if (write(l->fd[1 - d], p->data, p->len) != (ssize_t)p->len)
                    s_count(&self->refused);
                else
                    s_count(&self->carried);
                free(p);
                q->head = (q->head + 1) % QUEUE_CAP;
                q->count--;
            }
            if (q->count && q->ring[q->head]->due_ns < next)
                next = q->ring[q->head]->due_ns;
        }
    return next;
}

static void *s_run(void *arg)
{
    lt_netns_t *self = arg;
    struct pollfd pfd[2 * LT_NETNS_MAX];
    uint8_t buf[PKT_MAX];
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL); /* signals go to the benchmark's threads */
    while (!self->stop) {
        int64_t now = s_now_ns(), next = s_deliver(self, now);
        int64_t wait = next == INT64_MAX ? IDLE_WAIT_NS : next - now;
        if (wait > IDLE_WAIT_NS)
            wait = IDLE_WAIT_NS;
        if (wait < 0)
            wait = 0;
        for (int i = 0; i < self->n; i++)
            for (int d = 0; d < 2; d++)
                pfd[2 * i + d] = (struct pollfd){self->links[i].fd[d], POLLIN, 0};
        struct timespec ts = {(time_t)(wait / 1000000000LL), (long)(wait % 1000000000LL)};
        if (ppoll(pfd, (nfds_t)(2 * self->n), &ts, NULL) <= 0)
            continue;
        for (int i = 0; i < self->n; i++)
            for (int d = 0; d < 2; d++) {
                if (!(pfd[2 * i + d].revents & POLLIN))
                    continue;
                for (int k = 0; k < READ_BURST; k++) {
                    ssize_t len = read(self->links[i].fd[d], buf, sizeof buf);
                    if (len <= 0)
                        break;
                    s_take(self, &self->links[i], d, buf, (size_t)len);
                }
            }
    }
    return NULL;
}

/* ---- making and removing ------------------------------------------------------- */

/* Province i's link: two TUN devices, addresses, routes. */
static int s_link(lt_netns_t *self, int i, char *err, size_t errlen)
{
    link_t *l = &self->links[i];
    const char *cap = self->names[0], *prov = self->names[1 + i];
    char ifc[16], peer_c[32], peer_p[32];
    snprintf(ifc, sizeof ifc, "wan%d", i);
    snprintf(peer_c, sizeof peer_c, "%s/32", self->addrs[1 + i]);
    snprintf(peer_p, sizeof peer_p, "%s/32", self->addrs[0]);
    if ((l->fd[0] = s_tun(cap, ifc)) < 0 || (l->fd[1] = s_tun(prov, "wan0")) < 0)
        return lt_err_set(err, errlen, "cannot make the TUN devices of link %d", i);
    if (s_ip("-n", cap, "addr", "add", self->addrs[0], "peer", peer_c, "dev", ifc, NULL) != 0 ||
        s_ip("-n", prov, "addr", "add", self->addrs[1 + i], "peer", peer_p, "dev", "wan0", NULL) !=
            0 ||
        s_ip("-n", cap, "link", "set", ifc, "up", NULL) != 0 ||
        s_ip("-n", prov, "link", "set", "wan0", "up", NULL) != 0)
        return lt_err_set(err, errlen, "cannot address link %d (ip addr/link in %s and %s)", i, cap,
                          prov);
    for (int d = 0; d < 2; d++)
        if (!(l->q[d].ring = calloc(QUEUE_CAP, sizeof *l->q[d].ring)))
            return lt_err_set(err, errlen, "out of memory");
    return 0;
}

_Static_assert(LT_NETNS_MAX < 255, "a province's subnet is 10.213.(1 + i).0");
lt_netns_t *lt_netns_new(int n, const lt_netns_link_t *links, uint64_t seed, char *err,
                         size_t errlen)
{
    if (n < 1 || n > LT_NETNS_MAX) {
        lt_err_set(err, errlen, "%d provinces: between 1 and %d", n, LT_NETNS_MAX);
        return NULL;
    }
    lt_netns_t *self = calloc(1, sizeof *self);
    if (!self) {
        lt_err_set(err, errlen, "out of memory");
        return NULL;
    }
    self->n = n;
    self->rng = seed;
    for (int i = 0; i < n; i++) {
        self->links[i].fd[0] = self->links[i].fd[1] = -1;
        self->links[i].p = links[i];
    }
    s_sweep();
    snprintf(self->names[0], sizeof self->names[0], PREFIX "%dc", (int)getpid());
    snprintf(self->addrs[0], sizeof self->addrs[0], "10.213.0.1");
    for (int i = 0; i < n; i++) {
        snprintf(self->names[1 + i], sizeof self->names[1 + i], PREFIX "%dp%d", (int)getpid(), i);
        /* i + 1 is at most LT_NETNS_MAX; the modulo tells the compiler the
         * octet fits (-Wformat-truncation at -O1 and above). */
        snprintf(self->addrs[1 + i], sizeof self->addrs[1 + i], "10.213.%u.2",
                 (unsigned)(i + 1) % 256u);
    }
    for (int k = 0; k <= n; k++) {
        if (s_ip("netns", "add", self->names[k], NULL) != 0) {
            lt_err_set(err, errlen, "`ip netns add %s` failed", self->names[k]);
            goto fail;
        }
        self->made[k] = 1;
        if (s_ip("-n", self->names[k], "link", "set", "lo", "up", NULL) != 0) {
            lt_err_set(err, errlen, "cannot bring up lo in %s", self->names[k]);
            goto fail;
        }
    }
    for (int i = 0; i < n; i++)
        if (s_link(self, i, err, errlen) != 0)
            goto fail;
    if (pthread_create(&self->th, NULL, s_run, self) != 0) {
        lt_err_set(err, errlen, "cannot start the link emulator");
        goto fail;
    }
    self->running = 1;
    return self;
fail:
    lt_netns_destroy(&self);
    return NULL;
}

void lt_netns_destroy(lt_netns_t **pself)
{
    lt_netns_t *self = pself ? *pself : NULL;
    if (!self)
        return;
    if (self->running) {
        self->stop = 1;
        pthread_join(self->th, NULL);
    }
    for (int i = 0; i < self->n; i++) {
        link_t *l = &self->links[i];
        for (int d = 0; d < 2; d++) {
            if (l->fd[d] >= 0)
                close(l->fd[d]);
            for (size_t k = 0; l->q[d].ring && k < l->q[d].count; k++)
                free(l->q[d].ring[(l->q[d].head + k) % QUEUE_CAP]);
            free(l->q[d].ring);
        }
    }
    for (int k = 0; k <= self->n; k++)
        if (self->made[k] && s_ip("netns", "del", self->names[k], NULL) != 0)
            fprintf(stderr, "lt_netns: cannot delete namespace %s\n", self->names[k]);
    free(self);
    *pself = NULL;
}

const char *lt_netns_name(const lt_netns_t *self, int i)
{
    return self->names[i + 1];
}

const char *lt_netns_addr(const lt_netns_t *self, int i)
{
    return self->addrs[i + 1];
}

int lt_netns_link_set(lt_netns_t *self, int i, int up)
{
    if (i < 0 || i >= self->n)
        return -1;
    return s_ip("-n", self->names[1 + i], "link", "set", "wan0", up ? "up" : "down", NULL) == 0
               ? 0
               : -1;
}

void lt_netns_counts(const lt_netns_t *self, uint64_t *carried, uint64_t *lost, uint64_t *refused)
{
    *carried = __atomic_load_n(&self->carried, __ATOMIC_RELAXED);
    *lost = __atomic_load_n(&self->lost, __ATOMIC_RELAXED);
    *refused = __atomic_load_n(&self->refused, __ATOMIC_RELAXED);
}

/* test_fdspare: CUnit suite for gateway/lt_fdspare, the spare descriptors
 * behind the accept4 the gateway provides: at a Unix-domain listener that
 * meets EMFILE, a spare is closed and the client accepted; with no spare
 * left the accept reports ECONNABORTED (libzmq's ipc listener retries on
 * it; it aborts on EMFILE); a TCP listener still gets EMFILE. The limit is
 * lowered with setrlimit so that every descriptor is in use. */
#define _GNU_SOURCE
#include "unit_util.h"

#include "lt_fdspare.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

static char s_dir[256];
static struct rlimit s_saved;

static int suite_init(void)
{
    return ut_mkdtemp(s_dir, sizeof s_dir, "fdspare") != 0 ||
                   getrlimit(RLIMIT_NOFILE, &s_saved) != 0
               ? -1
               : 0;
}

static int suite_clean(void)
{
    lt_fdspare_release();
    return ut_rmrf(s_dir);
}

/* A Unix-domain listener with one client waiting in its backlog. */
static int s_unix_pair(int *client)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%.90s/sock", s_dir);
    unlink(a.sun_path);
    int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    *client = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(l >= 0 && *client >= 0);
    CU_ASSERT_FATAL(bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 8) == 0);
    CU_ASSERT_FATAL(connect(*client, (struct sockaddr *)&a, sizeof a) == 0);
    return l;
}

/* The same over TCP on 127.0.0.1. */
static int s_tcp_pair(int *client)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    *client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CU_ASSERT_FATAL(l >= 0 && *client >= 0);
    CU_ASSERT_FATAL(bind(l, (struct sockaddr *)&a, sizeof a) == 0 && listen(l, 8) == 0);
    CU_ASSERT_FATAL(getsockname(l, (struct sockaddr *)&a, &len) == 0);
    CU_ASSERT_FATAL(connect(*client, (struct sockaddr *)&a, sizeof a) == 0);
    return l;
}

/* Uses every descriptor left under a limit lowered to the ones open now
 * plus a few: fills[] gets them, *n how many. */
static void s_exhaust(int *fills, int cap, int *n)
{
    *n = 0;
    int fd;
    while (*n < cap && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        fills[(*n)++] = fd;
    CU_ASSERT_FATAL(*n < cap && errno == EMFILE);
}

static void s_restore(int *fills, int n)
{
    for (int i = 0; i < n; i++)
        close(fills[i]);
    CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &s_saved) == 0);
}

/* Lowers the soft limit to the highest descriptor in use + 1 + room. */
static void s_lower(int room)
{
    int top = open("/dev/null", O_RDONLY | O_CLOEXEC);
    CU_ASSERT_FATAL(top >= 0);
    close(top);
    struct rlimit rl = {(rlim_t)(top + room), s_saved.rlim_max};
    CU_ASSERT_FATAL(setrlimit(RLIMIT_NOFILE, &rl) == 0);
}

static void test_unix_accept_spared(void)
{
    static int fills[4096];
    int n, client, l = s_unix_pair(&client);
    s_lower(LT_FD_SPARE + 16);
    CU_ASSERT_EQUAL(lt_fdspare_fill(), LT_FD_SPARE);
    s_exhaust(fills, 4096, &n);
    uint64_t used = lt_fdspare_used();
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    CU_ASSERT(s >= 0); /* on a spare */
    CU_ASSERT_EQUAL(lt_fdspare_used(), used + 1);
    if (s >= 0)
        close(s);
    s_restore(fills, n);
    close(client);
    close(l);
}

static void test_unix_accept_deferred(void)
{
    static int fills[4096];
    int n, client, l = s_unix_pair(&client);
    lt_fdspare_release();
    s_lower(16);
    s_exhaust(fills, 4096, &n);
    uint64_t aborted = lt_fdspare_aborted();
    errno = 0;
    CU_ASSERT_EQUAL(accept4(l, NULL, NULL, SOCK_CLOEXEC), -1);
    CU_ASSERT_EQUAL(errno, ECONNABORTED); /* not EMFILE: libzmq tries again */
    CU_ASSERT_EQUAL(lt_fdspare_aborted(), aborted + 1);
    s_restore(fills, n);
    /* once descriptors are free the waiting client is accepted */
    int s = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    CU_ASSERT(s >= 0);
    if (s >= 0)
        close(s);
    close(client);
    close(l);
}

static void test_tcp_accept_untouched(void)
{
    static int fills[4096];
    int n, client, l = s_tcp_pair(&client);
    s_lower(LT_FD_SPARE + 16);
    CU_ASSERT_EQUAL(lt_fdspare_fill(), LT_FD_SPARE);
    s_exhaust(fills, 4096, &n);
    uint64_t used = lt_fdspare_used();
    errno = 0;
    CU_ASSERT_EQUAL(accept4(l, NULL, NULL, SOCK_CLOEXEC), -1);
    CU_ASSERT_EQUAL(errno, EMFILE);
    CU_ASSERT_EQUAL(lt_fdspare_used(), used); /* spares are for the local socket */
    s_restore(fills, n);
    CU_ASSERT_EQUAL(lt_fdspare_fill(), LT_FD_SPARE);
    close(client);
    close(l);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a Unix-domain accept at EMFILE takes a spare", test_unix_accept_spared},
        {"with no spare left it is deferred, not EMFILE", test_unix_accept_deferred},
        {"a TCP accept at EMFILE is left as it was", test_tcp_accept_untouched},
        {NULL, NULL},
    };
    return ut_main("lt_fdspare", suite_init, suite_clean, tests);
}

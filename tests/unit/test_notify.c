/* test_notify: CUnit suite for core/lt_notify: the datagrams a Type=notify
 * unit's manager receives (READY with STATUS, RELOADING, STOPPING, rate-
 * limited WATCHDOG, a long task's EXTEND_TIMEOUT_USEC), read from a socket this test binds as
 * $NOTIFY_SOCKET. */
#include "unit_util.h"

#include "lt_notify.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

static char g_dir[512];
static int g_fd = -1;

static int suite_init(void)
{
    if (ut_mkdtemp(g_dir, sizeof g_dir, "notify") != 0)
        return -1;
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%.90s/notify", g_dir);
    g_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (g_fd < 0 || bind(g_fd, (struct sockaddr *)&a, sizeof a) != 0)
        return -1;
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    setenv("NOTIFY_SOCKET", a.sun_path, 1);
    setenv("WATCHDOG_USEC", "400000", 1); /* 400 ms: one keep-alive per 100 ms at most */
    setenv("WATCHDOG_PID", pid, 1);
    return 0;
}

static int suite_clean(void)
{
    if (g_fd >= 0)
        close(g_fd);
    return ut_rmrf(g_dir);
}

/* The next datagram within 1 s into out, or "" when none came. */
static void next(char *out, size_t cap)
{
    struct pollfd p = {.fd = g_fd, .events = POLLIN};
    out[0] = '\0';
    if (poll(&p, 1, 1000) != 1)
        return;
    ssize_t n = recv(g_fd, out, cap - 1, 0);
    out[n > 0 ? n : 0] = '\0';
}

static int pending(void)
{
    struct pollfd p = {.fd = g_fd, .events = POLLIN};
    return poll(&p, 1, 50) == 1;
}

/* `call` sends exactly the datagram `want`. */
#define SENDS(call, want)                                                                          \
    do {                                                                                           \
        char m_[512];                                                                              \
        call;                                                                                      \
        next(m_, sizeof m_);                                                                       \
        CU_ASSERT_STRING_EQUAL(m_, want);                                                          \
    } while (0)

static void test_states(void)
{
    SENDS(lt_notify_ready("serving VN/PROV/38 on tcp://127.0.0.1:7400"),
          "READY=1\nSTATUS=serving VN/PROV/38 on tcp://127.0.0.1:7400");
    SENDS(lt_notify_reloading(), "RELOADING=1");
    SENDS(lt_notify_ready(NULL), "READY=1");
    SENDS(lt_notify_status("3 peers"), "STATUS=3 peers");
    SENDS(lt_notify_stopping(), "STOPPING=1");
}

static void test_watchdog_rate(void)
{
    SENDS(lt_notify_watchdog(), "WATCHDOG=1");
    /* a busy loop calling it on every turn sends nothing more for 100 ms */
    for (int i = 0; i < 1000; i++)
        lt_notify_watchdog();
    CU_ASSERT(!pending());
    usleep(120000);
    SENDS(lt_notify_watchdog(), "WATCHDOG=1");
}

/* A long task: keep-alives as the watchdog's, and EXTEND_TIMEOUT_USEC
 * only while the manager's start or reload timeout runs. */
static void test_progress(void)
{
    char m[512];
    usleep(120000); /* past the last keep-alive's quarter interval */
    SENDS(lt_notify_reloading(), "RELOADING=1");
    lt_notify_progress();
    next(m, sizeof m);
    CU_ASSERT_STRING_EQUAL(m, "WATCHDOG=1");
    next(m, sizeof m);
    CU_ASSERT_STRING_EQUAL(m, "EXTEND_TIMEOUT_USEC=30000000");
    /* each chunk calls it: nothing more within the intervals */
    for (int i = 0; i < 1000; i++)
        lt_notify_progress();
    CU_ASSERT(!pending());
    SENDS(lt_notify_ready(NULL), "READY=1");
    usleep(120000);
    /* serving: the keep-alive alone */
    SENDS(lt_notify_progress(), "WATCHDOG=1");
    CU_ASSERT(!pending());
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"READY, STATUS, RELOADING, STOPPING", test_states},
        {"WATCHDOG at most every quarter interval", test_watchdog_rate},
        {"a long task keeps the watchdog and the start timeout at bay", test_progress},
        {NULL, NULL},
    };
    return ut_main("lt_notify", suite_init, suite_clean, tests);
}

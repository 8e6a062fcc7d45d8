/* lt_fdspare: spare descriptors and the accept4 that uses them (see
 * lt_fdspare.h). accept4 runs on libzmq's I/O thread, the fill on the poll
 * loop's: each slot changes hands by one atomic exchange. */
#define _GNU_SOURCE
#include "lt_fdspare.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int s_slots[LT_FD_SPARE] = {[0 ... LT_FD_SPARE - 1] = -1};
static atomic_uint_fast64_t s_used, s_aborted;

int lt_fdspare_fill(void)
{
    int held = 0;
    for (int i = 0; i < LT_FD_SPARE; i++) {
        if (atomic_load(&s_slots[i]) >= 0) {
            held++;
            continue;
        }
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            break; /* no descriptor free now: next time */
        int none = -1;
        if (atomic_compare_exchange_strong(&s_slots[i], &none, fd))
            held++;
        else
            close(fd);
    }
    return held;
}

void lt_fdspare_release(void)
{
    for (int i = 0; i < LT_FD_SPARE; i++) {
        int fd = atomic_exchange(&s_slots[i], -1);
        if (fd >= 0)
            close(fd);
    }
}

uint64_t lt_fdspare_used(void)
{
    return atomic_load(&s_used);
}

uint64_t lt_fdspare_aborted(void)
{
    return atomic_load(&s_aborted);
}

/* Closes one spare; 0, or -1 when none is left. */
static int s_release_one(void)
{
    for (int i = 0; i < LT_FD_SPARE; i++) {
        int fd = atomic_exchange(&s_slots[i], -1);
        if (fd >= 0) {
            close(fd);
            return 0;
        }
    }
    return -1;
}

static int s_unix_listener(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    return getsockname(fd, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_UNIX;
}

static int s_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    return (int)syscall(SYS_accept4, fd, addr, len, flags);
}

/* Takes the place of the C library's for this program (libzmq's calls
 * included); behaves the same except on EMFILE at a Unix-domain listener. */
int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len, int flags)
{
    int s = s_accept4(fd, addr.__sockaddr__, len, flags);
    if (s >= 0 || errno != EMFILE || !s_unix_listener(fd))
        return s;
    while (s < 0 && errno == EMFILE && s_release_one() == 0) {
        atomic_fetch_add(&s_used, 1);
        s = s_accept4(fd, addr.__sockaddr__, len, flags);
    }
    if (s < 0 && errno == EMFILE) {
        /* libzmq's ipc listener asserts on EMFILE but tries again later
         * on ECONNABORTED: the client waits in the backlog meanwhile. */
        atomic_fetch_add(&s_aborted, 1);
        errno = ECONNABORTED;
    }
    return s;
}

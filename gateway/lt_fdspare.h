/* lt_fdspare: a few spare file descriptors kept so that the local socket's
 * listener always finds one (docs/operations.md, "File descriptors").
 *
 * libzmq 4.3.4 accepts on its I/O thread and treats EMFILE from accept on an
 * ipc listener as fatal (an assertion: the whole gateway aborts), while on
 * a TCP listener it only retries. A flood of connections to the peer port
 * can use up the descriptors for an instant faster than lt_guard closes
 * them. So the gateway holds LT_FD_SPARE descriptors (of /dev/null) and
 * provides accept4 itself, ahead of the C library's for the libzmq it is
 * linked with: when accepting on a Unix-domain listener fails with EMFILE,
 * it closes one spare and tries again; if that fails too, it reports
 * ECONNABORTED, which libzmq treats as "try later", so the local client
 * waits instead of the gateway aborting. Other listeners and other errors
 * are left as they were. lt_fdspare_fill replaces spares used, from the
 * poll loop. */
#ifndef LT_FDSPARE_H
#define LT_FDSPARE_H

#include <stdint.h>

/* Spare descriptors held (implementation, docs/operations.md). */
#define LT_FD_SPARE 8

/* Opens spares until LT_FD_SPARE are held (as many as descriptors allow).
 * Returns how many are held. Cheap when none is missing. */
int lt_fdspare_fill(void);
/* Closes every spare (at shutdown). */
void lt_fdspare_release(void);
/* Spares used so far by accepts on Unix-domain listeners, and accepts
 * reported as aborted because none was left. */
uint64_t lt_fdspare_used(void);
uint64_t lt_fdspare_aborted(void);

#endif

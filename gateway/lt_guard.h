/* lt_guard: bounds what peers that have not authenticated can hold of the
 * gateway's file descriptors (docs/operations.md, "File descriptors").
 *
 * Anyone who reaches the peer port can open TCP connections without a
 * key. Each holds a descriptor until libzmq closes it, and libzmq 4.3.4
 * aborts the whole process when its ipc listener (the local socket) meets
 * EMFILE. So, at creation, the guard raises the soft RLIMIT_NOFILE to the
 * hard limit and logs both; then it watches the peer ROUTER through a
 * socket monitor (ZMQ_EVENT_ACCEPTED names the new connection's
 * descriptor, ZMQ_EVENT_DISCONNECTED its end) and keeps every connection
 * in accept order. A connection counts as unauthenticated until the
 * gateway has sent it more than the ZMTP greeting, the CURVE WELCOME and
 * an ERROR (TCP_INFO: a READY, sent only after the ZAP handler admitted
 * the key, went out) or until it outlived LT_HANDSHAKE_MS (libzmq closes
 * those that did not finish their handshake in time). A connection whose
 * key the ZAP handler refused is shut down at once: libzmq sends it an
 * ERROR but keeps it open until LT_HANDSHAKE_MS, so each refusal reported
 * by the monitor (ZMQ_EVENT_HANDSHAKE_FAILED_AUTH, which does not say which
 * connection) makes the guard look, for a second, for unauthenticated
 * connections sent exactly up to an ERROR: LT_GUARD_SWEEP_BATCH per step,
 * newest first, until it found as many as were refused. When more than the cap are
 * unauthenticated, the oldest are shut down (shutdown(2): libzmq reads the
 * end of stream and cleans up on its own). The cap is half of what the
 * soft limit leaves after LT_FD_RESERVE descriptors kept for the local
 * socket, the stores, the ZeroMQ context and outgoing links. Closed
 * connections are logged per address through lt_refuse. Closing takes a
 * moment (libzmq's I/O thread may accept faster meanwhile), so the guard
 * also keeps the spare descriptors of lt_fdspare filled for the local
 * socket's accepts. */
#ifndef LT_GUARD_H
#define LT_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "lt_audit.h"
#include "lt_stats.h"

/* Bytes a CURVE server sends before the ZAP handler decided: the ZMTP 3
 * greeting (64) and the WELCOME command (2-byte frame header, 8-byte name,
 * 16-byte nonce, 144-byte box). */
#define LT_GUARD_PREAUTH_BYTES (64 + 170)
/* The ERROR command libzmq sends when the ZAP handler refuses a key: 2-byte
 * frame header, 6-byte name, 1-byte reason length and the reason, which is
 * the 3-digit ZAP status code (libzmq accepts no other reply, and lt_zap
 * answers 400). A READY (header, name, nonce and a box of metadata: more
 * than 60 bytes) is larger, so a connection sent more than greeting,
 * WELCOME and ERROR was admitted; one sent more than greeting and WELCOME,
 * but not more than that, was refused. */
#define LT_GUARD_ERROR_BYTES (2 + 6 + 1 + 3)
/* Unauthenticated connections looked at per step of that search. */
#define LT_GUARD_SWEEP_BATCH 64

typedef struct _lt_guard_t lt_guard_t;

/* Raises the soft fd limit to the hard one (logged, and reported as the
 * gauges lienthong_fd_limit{kind="soft"|"hard"}), computes the cap, and
 * registers its statistics in stats. cap 0 means the computed one (tests
 * pass their own). NULL when out of memory. */
lt_guard_t *lt_guard_new(void *zctx, lt_stats_t *stats, size_t cap);
void lt_guard_destroy(lt_guard_t **self_p);

/* Starts watching peer (a bound ROUTER); stops watching the previous one.
 * Returns 0, or -1 (logged). */
int lt_guard_attach(lt_guard_t *self, void *peer);
/* Stops watching before peer is closed, and forgets its connections. */
void lt_guard_detach(lt_guard_t *self, void *peer);

/* The monitor socket to poll for ZMQ_POLLIN; NULL when not attached. */
void *lt_guard_socket(lt_guard_t *self);
/* Handles the monitor's waiting events (bounded per call) and closes the
 * oldest unauthenticated connections over the cap. */
void lt_guard_on_events(lt_guard_t *self);
/* Once a second at most: connections past the handshake interval count as
 * authenticated; gauges are refreshed. Call every loop turn. */
void lt_guard_tick(lt_guard_t *self);

/* libzmq allows one monitor per socket: other modules see the peer
 * ROUTER's events through this observer (ZMQ_EVENT_ACCEPTED, _DISCONNECTED
 * and _HANDSHAKE_FAILED_PROTOCOL with their values), except the ends of
 * connections the guard closed itself. */
typedef void (*lt_guard_observer_t)(void *arg, uint16_t event, int32_t value);
void lt_guard_set_observer(lt_guard_t *self, lt_guard_observer_t fn, void *arg);

/* Audit entries for connections closed (may be NULL). */
void lt_guard_set_audit(lt_guard_t *self, lt_audit_t *audit);

/* Unauthenticated connections tracked now, and the cap. */
size_t lt_guard_pending(const lt_guard_t *self);
size_t lt_guard_cap(const lt_guard_t *self);
/* Connections closed for being over the cap so far. */
uint64_t lt_guard_closed(const lt_guard_t *self);
/* Connections closed after the ZAP handler refused their key, so far. */
uint64_t lt_guard_refused_closed(const lt_guard_t *self);
/* Connections the search for refused ones looked at so far (two system
 * calls each): at most LT_GUARD_SWEEP_BATCH per step, however many are
 * pending, and none once every refusal's connection was found. */
uint64_t lt_guard_swept(const lt_guard_t *self);

#endif

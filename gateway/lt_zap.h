/* lt_zap: the ZAP (RFC 27) handler that authenticates every incoming CURVE
 * connection against the current directory.
 *
 * libzmq 4.3.4 fails open: with no handler bound at inproc://zeromq.zap.01,
 * or with an empty ZAP domain, any CURVE client is admitted. The gateway
 * therefore creates this handler before it binds any other socket, and the
 * peer socket sets a non-empty ZMQ_ZAP_DOMAIN with ZMQ_ZAP_ENFORCE_DOMAIN=1.
 * The handler runs in the gateway's own poll loop, so it always sees the
 * directory the gateway is using, with no locks. */
#ifndef LT_ZAP_H
#define LT_ZAP_H

#include <stdint.h>

#include "lt_audit.h"
#include "lt_dir.h"
#include "lt_sock.h"
#include "lt_stats.h"

#define LT_ZAP_ENDPOINT "inproc://zeromq.zap.01"

typedef struct _lt_zap_t lt_zap_t;

/* Binds the handler socket in ctx; counts connections admitted and refused
 * in stats (lienthong_zap_admitted, lienthong_zap_refused). Returns NULL
 * on failure (for instance when another handler is already bound in this
 * context). */
lt_zap_t *lt_zap_new(void *ctx, lt_stats_t *stats);
void lt_zap_destroy(lt_zap_t **self_p);

/* The socket to poll for ZMQ_POLLIN. */
void *lt_zap_socket(lt_zap_t *self);

/* Answers one pending request against dir: 200 with User-Id = member id
 * for an active member's transport key, 400 otherwise. Refusals are
 * counted per address and reason (lt_refuse.h): the first of each is
 * logged with its reason at once, the rest by lt_zap_tick. Returns 0, or
 * -1 if nothing could be read. */
int lt_zap_handle(lt_zap_t *self, const lt_dir_t *dir);

/* Writes the refusal counts once per interval: call every loop turn. */
void lt_zap_tick(lt_zap_t *self);

/* Refusals are also written to this audit log (may be NULL). */
void lt_zap_set_audit(lt_zap_t *self, lt_audit_t *audit);

/* Connections refused so far (read from the registry). */
uint64_t lt_zap_refused(const lt_zap_t *self);

#endif

/* lt_gateway: the daemon. One poll loop owns every socket: the ZAP handler,
 * the CURVE peer ROUTER, the local ipc ROUTER, one DEALER per peer it talks
 * to, and a signalfd for SIGTERM (drain and exit), SIGINT and SIGHUP
 * (reload the whole configuration, then the directory: lt_gwreload). */
#ifndef LT_GATEWAY_H
#define LT_GATEWAY_H

#include "lt_gwcfg.h"

typedef struct _lt_gateway_t lt_gateway_t;

/* Loads keys and directory, then binds: ZAP handler first, then the peer
 * and local sockets. NULL on failure with the reason in err. */
lt_gateway_t *lt_gateway_new(const lt_gwcfg_t *cfg, char *err, size_t errlen);
void lt_gateway_destroy(lt_gateway_t **self_p);

/* Serves until SIGTERM or SIGINT. Returns 0 on a clean drain. */
int lt_gateway_run(lt_gateway_t *self);

/* Offers signed directory bytes as if received from `source`; adopts them
 * when valid and newer. Returns 0 when adopted, 1 when they are exactly the
 * directory already held (nothing to do, nothing refused), -1 when refused
 * with the reason. */
int lt_gateway_adopt(lt_gateway_t *self, const uint8_t *bytes, size_t len, const char *source,
                     char *err, size_t errlen);

#endif

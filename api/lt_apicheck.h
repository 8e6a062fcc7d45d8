/* lt_apicheck: what `lienthong api` needs to start, checked the same way by
 * the start itself and by `lienthong api --check`, so that a configuration
 * the check passes does not fail at start:
 *
 *   listen_address  a numeric IPv4 or IPv6 address
 *   port            free on that address (bound as libmicrohttpd binds, and
 *                   released at once); --check only: at start libmicrohttpd
 *                   binds it, and its failure is the error
 *   audit_file      can be opened for appending
 *   tls_cert/key    readable, and a pair GnuTLS loads (lt_apitls): a
 *                   certificate, a private key, the key the certificate's;
 *                   a warning when the certificate has expired or expires
 *                   within LT_APICHECK_TLS_WARN_DAYS days; without them, a
 *                   warning when listen_address is not a loopback address
 *                   (plain HTTP other hosts reach)
 *
 * Both also compare each application's grants (datasets, fields, purposes)
 * with the member's directory: warnings only, since the gateway enforces
 * the directory's policies whatever the API grants, the API starts without
 * a directory (/readyz then says why), and a dataset may be in the next
 * directory version. At start each is logged with the file and line of
 * its grant.
 *
 * Nothing here changes the system. Every problem says what to do. */
#ifndef LT_APICHECK_H
#define LT_APICHECK_H

#include <stdio.h>
#include <sys/socket.h>

#include "lt_apicfg.h"
#include "lt_check.h"
#include "lt_dir.h"
#include "lt_err.h"

#define LT_APICHECK_PEM_MAX       (1 << 20) /* bytes of a TLS certificate or key file */
#define LT_APICHECK_TLS_WARN_DAYS 30        /* a certificate expiring sooner is a warning */

/* listen_address and port as a socket address (v6 set for IPv6). -1 when
 * listen_address is not a numeric IP address. */
int lt_apicheck_address(const lt_apicfg_t *cfg, struct sockaddr_storage *ss, int *v6) LT_NODISCARD;

/* The checks of the start. With r (--check): every check is reported to r
 * and all run (the grants are lt_apicheck_run's). Without (the start):
 * stops at the first problem, logs the warnings, those of the grants too,
 * and leaves the port to libmicrohttpd's bind. Either way err gets
 * the first problem and its fix. Returns 0 when every check passes (warnings
 * pass), -1 otherwise. */
int lt_apicheck_start(const lt_apicfg_t *cfg, lt_check_t *r, char *err, size_t errlen);

/* --check: the checks of the start, the grants, then the summary on out.
 * Returns the exit code: 0 when the API can start, 1 otherwise. */
int lt_apicheck_run(const lt_apicfg_t *cfg, FILE *out);

/* The member's current directory: the one the gateway runs with
 * (lt_dirpick), expired or not. NULL with why. */
lt_dir_t *lt_apicheck_directory(const lt_apicfg_t *cfg, char *why, size_t len);

#endif

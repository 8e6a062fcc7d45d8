/* lt_api: the HTTP/JSON API server of `lienthong api` (docs/ARCHITECTURE.md,
 * "HTTP API"; docs/api/openapi.json).
 *
 * libmicrohttpd on a few threads that never block (a request waiting for
 * the gateway has its connection suspended: lt_apimux's watch or a
 * worker of lt_apiwork resumes it), TLS through GnuTLS when configured (1.3, or 1.2
 * with AEAD ciphers and ECDHE). Routes: POST /v1/lookup, POST /v1/verify,
 * POST /v1/profile, GET /v1/prefill/{id}, GET /v1/datasets, GET /v1/status
 * (with an application's bearer token, within its grants and rate), and,
 * without a token, GET /v1/openapi.json, /healthz, /readyz and /metrics.
 * Every answer is JSON (the metrics are Prometheus text). Its calls to the
 * gateway share one ZeroMQ context, and its connections are fitted to its
 * descriptor limit. */
#ifndef LT_API_H
#define LT_API_H

#include "lt_apicfg.h"

typedef struct _lt_api_t lt_api_t;

/* Starts serving cfg (which must outlive the server). NULL with err. */
lt_api_t *lt_api_new(const lt_apicfg_t *cfg, char *err, size_t errlen);
/* SIGHUP (docs/operations.md, "Reloading the HTTP API"): checks cfg as the
 * start does, then swaps in its applications (tokens, grants, rates) for
 * the requests that begin from now on; a request in progress finishes under
 * the applications it began with. An application that remains (same name)
 * keeps its rate bucket, in-flight count and refusal counts. Every other
 * setting is the start's: those cfg changes are logged as needing a
 * restart. Logs what changed. Takes cfg (malloc'd, loaded by
 * lt_apicfg_load) whatever it returns. 0, or -1 with err (the running
 * applications stay in force). Not thread-safe: one thread reloads. */
int lt_api_reload(lt_api_t *self, lt_apicfg_t *cfg, char *err, size_t errlen);
/* SIGHUP, before the configuration is re-read (docs/operations.md,
 * "Rotating the API's audit file"): opens audit_file again at its path (the
 * start's, 0600, appended to), so that once logrotate has renamed it the
 * lines go to a new file at the configured path; later lines go there,
 * those being written finish in the old one. Logs the reopening. 0 (also
 * without an audit_file), or -1 with err: the file open before stays in use.
 * Not thread-safe: one thread reopens (the one that reloads). */
int lt_api_reopen(lt_api_t *self, char *err, size_t errlen);
/* Stops taking connections and waits for the requests begun to be
 * answered, up to request_timeout_ms plus LT_API_DRAIN_GRACE_MS, at most
 * LT_API_DRAIN_MAX_MS (docs/operations.md, "Running under systemd": the
 * unit's TimeoutStopSec= exceeds it). Then lt_api_destroy. */
#define LT_API_DRAIN_GRACE_MS 1000
#define LT_API_DRAIN_MAX_MS   20000
void lt_api_drain(lt_api_t *self);
/* Stops serving: the workers end their jobs, what still waits is answered
 * 503, and libmicrohttpd stops once no connection is suspended. */
void lt_api_destroy(lt_api_t **self_p);

/* The OpenAPI document served at /v1/openapi.json (generated from
 * docs/api/openapi.json at build time). */
extern const char lt_api_openapi[];
extern const unsigned long lt_api_openapi_len;

#endif

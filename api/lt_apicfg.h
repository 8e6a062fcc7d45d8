/* lt_apicfg: the configuration of `lienthong api`, the HTTP/JSON API process
 * (docs/ARCHITECTURE.md, "HTTP API"), in libconfig syntax.
 *
 * It names the gateway's own configuration file, from which it takes only
 * what the API process needs (member, local socket, data directory,
 * directory file and pinned authority keys, peers), and lists the
 * applications: each one's name, the BLAKE2b hash of its token (the token
 * itself is never stored), its rate limit and its grants: for each dataset
 * or view, the fields it may see or claim there and the purposes it may
 * give. An application writes them either per dataset (grants = ( {
 * dataset; fields; purposes; }, ... )) or, as before, once for all
 * (datasets, fields, purposes: each dataset gets the same fields and
 * purposes); never both. Parsing is strict, as for every lienthong
 * configuration file: unknown settings, wrong types and an id named twice
 * in one list are errors of the form "FILE:LINE: problem". */
#ifndef LT_APICFG_H
#define LT_APICFG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "lt_dir.h"
#include "lt_err.h"
#include "lt_log.h"

#define LT_APICFG_NAME_MAX   64  /* application names */
#define LT_APICFG_ID_MAX     128 /* member, dataset, field and purpose ids */
#define LT_APICFG_MAX_APPS   256
#define LT_APICFG_MAX_GRANTS 64 /* grants of an application; fields or purposes of a grant */
#define LT_APICFG_MAX_PEERS  128
#define LT_APICFG_TOKEN_HASH 32 /* BLAKE2b-256 of the token */

typedef char lt_apicfg_id_t[LT_APICFG_ID_MAX];

/* What an application may do with one dataset or view. */
typedef struct {
    const char *dataset;          /* dataset or view id */
    const lt_apicfg_id_t *fields; /* record fields it may see or claim there (at least one) */
    size_t n_fields;
    const lt_apicfg_id_t *purposes;
    size_t n_purposes;
    int line; /* of the grant in the file (its datasets list in the shared form), 0 unknown */
} lt_apicfg_grant_t;

/* One application and what it may do. */
typedef struct {
    char name[LT_APICFG_NAME_MAX];
    uint8_t token_hash[LT_APICFG_TOKEN_HASH];
    lt_apicfg_grant_t *grants; /* n_grants, each of a dataset of its own */
    size_t n_grants;
    int per_dataset;     /* written as grants = (...), not datasets/fields/purposes */
    lt_apicfg_id_t *ids; /* owns the grants' dataset, field and purpose ids */
    double rate;         /* requests per second (also the burst) */
} lt_apicfg_app_t;

typedef struct {
    char path[PATH_MAX];
    /* from the gateway's configuration */
    char gateway_config[PATH_MAX];
    char member[LT_APICFG_ID_MAX];
    char federation[32];
    char local_socket[PATH_MAX];
    char data_dir[PATH_MAX];
    char directory_file[PATH_MAX];
    lt_dir_pins_t pins;
    lt_apicfg_id_t peers[LT_APICFG_MAX_PEERS];
    size_t n_peers;
    /* the HTTP side */
    char listen_address[64]; /* numeric IPv4 or IPv6 address; loopback by default */
    int port;
    char tls_cert[PATH_MAX]; /* PEM; TLS is on when both are set */
    char tls_key[PATH_MAX];
    int lookup_api;  /* serve /v1/...; false: only metrics and health */
    int metrics;     /* serve /metrics, /healthz and /readyz */
    size_t max_body; /* bytes of a request body */
    /* Deprecated, not used: set (seconds), or 0 when the file leaves it
     * out. receive_timeout bounds a connection's wait for a request, idle
     * or not (lt_apiconn), and libmicrohttpd's idle timeout is derived from
     * it (lt_api); --check and the start warn (lt_apicheck). */
    int connection_timeout;
    int receive_timeout;    /* seconds a request may take to arrive whole, headers and body */
    int summary_interval;   /* seconds between the summaries of repeated refusals */
    int request_timeout_ms; /* deadline of a lookup or verify: the default and the most */
    int max_connections;
    int max_connections_per_ip; /* from one client address (lt_apiconn_accept) */
    int max_in_flight;          /* requests of one application being served at once */
    char audit_file[PATH_MAX];  /* the API's own refusals (JSON lines), or "" */
    lt_log_level_t log_level;
    lt_log_format_t log_format;
    lt_apicfg_app_t *apps; /* n_apps of them */
    size_t n_apps;
} lt_apicfg_t;

/* Loads and checks path (and the gateway configuration it names). Returns
 * 0, or -1 with err set; free with lt_apicfg_free either way. */
int lt_apicfg_load(const char *path, lt_apicfg_t *cfg, char *err, size_t errlen) LT_NODISCARD;
void lt_apicfg_free(lt_apicfg_t *cfg);

/* The application whose token hashes to token's hash (constant-time
 * comparison), or NULL. */
const lt_apicfg_app_t *lt_apicfg_app_by_token(const lt_apicfg_t *cfg, const char *token);

/* lt_apicfg_app_by_token in two steps, so that a caller can hash outside a
 * lock it then looks up under: token's hash as token_hash holds one, 0;
 * -1 for NULL or an empty token, which no application has. */
int lt_apicfg_token_hash(const char *token, uint8_t out[32]);
/* The application whose token_hash is hash (each compared in constant
 * time), or NULL. */
const lt_apicfg_app_t *lt_apicfg_app_by_hash(const lt_apicfg_t *cfg, const uint8_t hash[32]);

/* Generates a token (`lienthong api token`; no object is made): 32 random
 * bytes as 64 hex digits into out[65], and its hash as 64 hex digits into
 * hash_hex[65], for the configuration file. */
void lt_apicfg_token_generate(char out[65], char hash_hex[65]);

/* 1 if id is in the list of n. */
int lt_apicfg_has(const lt_apicfg_id_t *list, size_t n, const char *id);

/* The application's grant on dataset (a dataset or view id), or NULL when
 * it may not use it. */
const lt_apicfg_grant_t *lt_apicfg_grant(const lt_apicfg_app_t *app, const char *dataset);

/* 1 if the application may use purpose with at least one dataset. */
int lt_apicfg_any_purpose(const lt_apicfg_app_t *app, const char *purpose);

/* ---- a reload (SIGHUP: docs/operations.md, "Reloading the HTTP API") ---- */

/* The application named name, or NULL. */
const lt_apicfg_app_t *lt_apicfg_app_by_name(const lt_apicfg_t *cfg, const char *name);
/* 1 when a and b are the same application with the same token, rate and
 * grants (in the same order). */
int lt_apicfg_app_same(const lt_apicfg_app_t *a, const lt_apicfg_app_t *b);
/* The settings other than apps that differ between the running
 * configuration and the next: how many, their names (comma-separated, cut
 * with "..." when out is full) in out. A running API changes none of them. */
size_t lt_apicfg_fixed_changed(const lt_apicfg_t *run, const lt_apicfg_t *next, char *out,
                               size_t len);
/* How many applications next names that run does not (the removed ones:
 * with run and next the other way round); their names, comma-separated
 * (cut with "..." when full), in out unless NULL. */
size_t lt_apicfg_apps_added(const lt_apicfg_t *run, const lt_apicfg_t *next, char *out, size_t len);
/* What next does to run's applications, for the log: "applications: N
 * added (names), N removed (names), N changed (names), N unchanged; N in
 * force". An application is the same one when its name is. */
void lt_apicfg_apps_changed(const lt_apicfg_t *run, const lt_apicfg_t *next, char *out, size_t len);

#endif

/* lt_gwcfg: the gateway's configuration file (libconfig syntax).
 *
 * Parsing is strict: unknown settings, wrong types and out-of-range values
 * are errors of the form "FILE:LINE: problem". Relative paths are resolved
 * against the directory of the configuration file. */
#ifndef LT_GWCFG_H
#define LT_GWCFG_H

#include <limits.h>
#include <stddef.h>

#include "lt_dir.h"
#include "lt_err.h"
#include "lt_limits.h"
#include "lt_log.h"

/* The file in data_dir that the running gateway holds an exclusive flock
 * on, from before it opens the store until it exits; `lienthong restore`
 * takes the same lock, so it never replaces a store a gateway has open. */
#define LT_GWCFG_LOCK_NAME "lock"

typedef struct {
    char stream[LT_STREAM_ID_MAX]; /* dataset or view id to replicate */
    int resync_auto;               /* resync = "auto": resynchronise by itself after a fork */
} lt_gwcfg_sub_t;

typedef struct {
    char path[PATH_MAX];                       /* the file this came from */
    char member[LT_ID_MAX];                    /* our member id */
    char federation[32];                       /* INSTANCE part of the member id unless set */
    char listen[256];                          /* CURVE ROUTER endpoint for peers */
    char local_socket[PATH_MAX];               /* ipc socket path for adapters and apps */
    char data_dir[PATH_MAX];                   /* store, audit log, adopted directory */
    char key_file[PATH_MAX];                   /* member secret keys, mode 0600 */
    char directory_file[PATH_MAX];             /* signed directory to start from */
    lt_dir_pins_t pins;                        /* pinned authority keys */
    char peers[LT_GWCFG_MAX_PEERS][LT_ID_MAX]; /* members to greet at start */
    size_t n_peers;
    lt_gwcfg_sub_t subs[LT_GWCFG_MAX_SUBS]; /* feeds to replicate */
    size_t n_subs;
    size_t max_message; /* bytes, ZMQ_MAXMSGSIZE and our own cap */
    int heartbeat_ms;
    int batch_max;            /* records per signed batch */
    int credit;               /* records of credit a consumer grants */
    long long retain_records; /* log tail kept per stream, records; 0: all */
    long long retain_days;    /* log tail kept per stream, days; 0: all */
    long long tail_batches;   /* owner's in-memory tail of batches; 0: none */
    long long tail_bytes;     /* its bound in bytes; 0: none */
    int store_cache_mb;       /* page cache of each store connection, MiB */
    int audit_retention_days; /* `audit export` default age; 0: none set */
    lt_log_level_t log_level;
    lt_log_format_t log_format; /* text, or json: one object per line */
} lt_gwcfg_t;

/* Loads and checks a configuration file. Returns 0, or -1 with err set. */
int lt_gwcfg_load(const char *path, lt_gwcfg_t *cfg, char *err, size_t errlen) LT_NODISCARD;

/* Logs a warning for each setting of a loaded configuration that does less
 * than it says (the gateway calls it at start and at each reload). Returns
 * how many it logged. */
int lt_gwcfg_warn(const lt_gwcfg_t *cfg);

#endif

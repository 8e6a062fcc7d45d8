/* lt_gwreload: what a reload of the gateway's configuration changes
 * (SIGHUP, or the service manager's reload; docs/operations.md).
 *
 * The gateway loads the file again with the same strict parser; a file that
 * does not load is refused and the running configuration kept. Otherwise
 * this module compares the two and logs every difference: subscriptions
 * and peers added or removed, the log level and format, and the limits
 * (batch_max, credit, tail_*), which the gateway then applies; the
 * identity, the places it has bound or opened (member, federation, listen,
 * local_socket, data_dir, key_file) and what its sockets and stores took
 * when they opened (max_message, heartbeat_ms, store_cache_mb) stay as they
 * are until a restart, which is logged too. */
#ifndef LT_GWRELOAD_H
#define LT_GWRELOAD_H

#include "lt_gwcfg.h"

typedef struct {
    const char *subs_added[LT_GWCFG_MAX_SUBS]; /* stream ids, pointing into the new config */
    size_t n_subs_added;
    const char *subs_removed[LT_GWCFG_MAX_SUBS]; /* pointing into the old config */
    size_t n_subs_removed;
    const char *peers_added[LT_GWCFG_MAX_PEERS]; /* member ids, into the new config */
    size_t n_peers_added;
    int log_changed;    /* log_level or log_format */
    int limits_changed; /* batch_max, credit, tail_* */
    int retain_changed; /* retain_records or retain_days (applied live) */
    size_t n_changes;   /* everything logged as changed, applied or not */
} lt_gwreload_diff_t;

/* Compares the running configuration `old` with `next` as loaded from the
 * file, logging each difference, and makes `next` the configuration to run:
 * what needs a restart is copied back from old into next. */
void lt_gwreload_diff(const lt_gwcfg_t *old, lt_gwcfg_t *next, lt_gwreload_diff_t *diff);

#endif

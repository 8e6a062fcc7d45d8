/* lt_gwcfg: strict loading of the gateway configuration. */
#include "lt_gwcfg.h"
#include "lt_cfgfile.h"
#include "lt_file.h"
#include "lt_log.h"
#include "lt_sock.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int s_pins(const config_t *c, lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    const config_setting_t *a = config_lookup(c, "authority_keys");
    if (!a)
        return lt_cfgfile_err(config_root_setting(c), cfg->path, err, errlen,
                              "missing required setting 'authority_keys' (Z85 public keys of the "
                              "directory authority)");
    if (!config_setting_is_array(a) || config_setting_length(a) == 0)
        return lt_cfgfile_err(a, cfg->path, err, errlen,
                              "'authority_keys' must be a non-empty list of "
                              "strings, e.g. [\"Z85...\"]");
    for (int i = 0; i < config_setting_length(a); i++) {
        const config_setting_t *e = config_setting_get_elem(a, (unsigned)i);
        const char *k = config_setting_get_string(e);
        char got[64];
        if (!k || lt_dir_pins_add(&cfg->pins, k) != 0)
            return lt_cfgfile_err(e, cfg->path, err, errlen,
                                  "authority key %d, %s, is not a "
                                  "40-character Z85 key in double quotes (or more than %d keys)",
                                  i + 1, lt_cfgfile_shown(e, got, sizeof got), LT_DIR_MAX_PINS);
    }
    return 0;
}

static int s_peers(const config_t *c, lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    const config_setting_t *a = config_lookup(c, "peers");
    if (!a)
        return 0;
    if (!config_setting_is_array(a) && !config_setting_is_list(a))
        return lt_cfgfile_err(a, cfg->path, err, errlen, "'peers' must be a list of member ids");
    for (int i = 0; i < config_setting_length(a); i++) {
        /* Each error at the line of the peer it is about. */
        const config_setting_t *e = config_setting_get_elem(a, (unsigned)i);
        const char *p = config_setting_get_string(e);
        char got[64];
        lt_cfgfile_shown(e, got, sizeof got);
        if (!p || !p[0])
            return lt_cfgfile_err(e, cfg->path, err, errlen,
                                  "peer %d must be a member id string, got %s", i + 1, got);
        if (strlen(p) >= LT_ID_MAX)
            return lt_cfgfile_err(e, cfg->path, err, errlen,
                                  "peer %d, %s, is longer than a member id may be (%d bytes)",
                                  i + 1, got, LT_ID_MAX - 1);
        if (cfg->n_peers >= LT_GWCFG_MAX_PEERS)
            return lt_cfgfile_err(e, cfg->path, err, errlen,
                                  "peer %d, %s, is one too many: 'peers' lists at most %d members",
                                  i + 1, got, LT_GWCFG_MAX_PEERS);
        if (!lt_dir_member_id_ok(p))
            return lt_cfgfile_err(e, cfg->path, err, errlen,
                                  "peer %d must be a member id INSTANCE/CLASS/CODE, got \"%s\"",
                                  i + 1, p);
        if (strcmp(p, cfg->member) == 0)
            return lt_cfgfile_err(e, cfg->path, err, errlen,
                                  "peer %d is \"%s\", this gateway's own member", i + 1, p);
        for (size_t k = 0; k < cfg->n_peers; k++)
            if (strcmp(cfg->peers[k], p) == 0)
                return lt_cfgfile_err(e, cfg->path, err, errlen, "peer %d, \"%s\", is listed twice",
                                      i + 1, p);
        snprintf(cfg->peers[cfg->n_peers++], LT_ID_MAX, "%s", p);
    }
    return 0;
}

/* A subscription's resync setting (PROTOCOL.md 6.9): "manual" (the
 * default: a forked feed waits for `lienthong resync`) or "auto". */
static int s_sub_resync(const config_setting_t *g, const lt_gwcfg_t *cfg, lt_gwcfg_sub_t *sub,
                        char *err, size_t errlen)
{
    const config_setting_t *r = config_setting_get_member(g, "resync");
    const char *v = r ? config_setting_get_string(r) : "manual";
    char got[64];
    if (!v || (strcmp(v, "manual") != 0 && strcmp(v, "auto") != 0))
        return lt_cfgfile_err(r, cfg->path, err, errlen,
                              "resync must be \"manual\" or \"auto\", got %s",
                              lt_cfgfile_shown(r, got, sizeof got));
    sub->resync_auto = strcmp(v, "auto") == 0;
    return 0;
}

static const char *const s_sub_known[] = {"stream", "resync", NULL};

/* The index of stream among the subscriptions read so far, or -1. */
static int s_sub_index(const lt_gwcfg_t *cfg, const char *stream)
{
    for (size_t k = 0; k < cfg->n_subs; k++)
        if (strcmp(cfg->subs[k].stream, stream) == 0)
            return (int)k;
    return -1;
}

static int s_subs(const config_t *c, lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    const config_setting_t *l = config_lookup(c, "subscribe");
    if (!l)
        return 0;
    if (!config_setting_is_list(l))
        return lt_cfgfile_err(l, cfg->path, err, errlen,
                              "'subscribe' must be a list of groups: ( { stream = \"...\"; } )");
    for (int i = 0; i < config_setting_length(l); i++) {
        const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
        const char *st = NULL;
        if (!config_setting_is_group(g) || !config_setting_lookup_string(g, "stream", &st))
            return lt_cfgfile_err(g, cfg->path, err, errlen,
                                  "each subscription needs stream = \"DATASET or "
                                  "VIEW id\";");
        char got[64];
        const config_setting_t *stream = config_setting_get_member(g, "stream");
        lt_cfgfile_shown(stream, got, sizeof got);
        if (!st[0])
            return lt_cfgfile_err(stream, cfg->path, err, errlen,
                                  "subscription %d: stream must name a dataset or view, got \"\"",
                                  i + 1);
        if (strlen(st) >= sizeof cfg->subs[0].stream)
            return lt_cfgfile_err(g, cfg->path, err, errlen,
                                  "subscription %d, %s, is longer than a stream id may be "
                                  "(%d bytes)",
                                  i + 1, got, (int)sizeof cfg->subs[0].stream - 1);
        if (cfg->n_subs >= LT_GWCFG_MAX_SUBS)
            return lt_cfgfile_err(g, cfg->path, err, errlen,
                                  "subscription %d, %s, is one too many: 'subscribe' lists at most "
                                  "%d streams",
                                  i + 1, got, LT_GWCFG_MAX_SUBS);
        /* A misspelt setting would be ignored, its intent lost. */
        if (lt_cfgfile_unknown_in(g, cfg->path, s_sub_known, err, errlen))
            return -1;
        /* Twice would open two replicas of one stream (lt_feed). */
        int dup = s_sub_index(cfg, st);
        if (dup >= 0)
            return lt_cfgfile_err(config_setting_get_member(g, "stream"), cfg->path, err, errlen,
                                  "subscription %d, \"%s\", is listed twice (first as "
                                  "subscription %d)",
                                  i + 1, st, dup + 1);
        lt_gwcfg_sub_t *sub = &cfg->subs[cfg->n_subs++];
        snprintf(sub->stream, sizeof sub->stream, "%s", st);
        if (s_sub_resync(g, cfg, sub, err, errlen) != 0)
            return -1;
    }
    return 0;
}

/* The member id before the settings that derive from it: "bca" is a
 * malformed id, not a missing federation. */
static int s_member(const config_t *c, lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    if (lt_cfgfile_string(c, cfg->path, "member", NULL, 0, cfg->member, sizeof cfg->member, err,
                          errlen))
        return -1;
    if (!lt_dir_member_id_ok(cfg->member))
        return lt_cfgfile_err(config_lookup(c, "member"), cfg->path, err, errlen,
                              "'member' must be INSTANCE/CLASS/CODE (upper-case letters, digits, "
                              "'_' or '-'), e.g. \"VN/GOV/BCA\", got \"%s\"",
                              cfg->member);
    return 0;
}

static int s_listen(const config_t *c, lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    char why[128];
    if (lt_cfgfile_string(c, cfg->path, "listen", NULL, 0, cfg->listen, sizeof cfg->listen, err,
                          errlen))
        return -1;
    if (lt_sock_endpoint_parse(cfg->listen, NULL, 0, NULL, why, sizeof why) != 0)
        return lt_cfgfile_err(config_lookup(c, "listen"), cfg->path, err, errlen,
                              "'listen' must be a tcp://HOST:PORT endpoint (%s), got \"%s\"", why,
                              cfg->listen);
    return 0;
}

static const char *const s_known[] = {"member",
                                      "federation",
                                      "listen",
                                      "local_socket",
                                      "data_dir",
                                      "key_file",
                                      "directory",
                                      "authority_keys",
                                      "peers",
                                      "subscribe",
                                      "max_message",
                                      "heartbeat_ms",
                                      "batch_max",
                                      "credit",
                                      "log_level",
                                      "log_format",
                                      "retain_records",
                                      "retain_days",
                                      "audit_retention_days",
                                      "tail_batches",
                                      "tail_bytes",
                                      "store_cache_mb",
                                      NULL};

static int s_numbers(const config_t *c, lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    long long v;
    if (lt_cfgfile_int(c, cfg->path, "max_message", LT_MAX_MESSAGE_DEFAULT, LT_MAX_MESSAGE_MIN,
                       LT_MAX_MESSAGE_MAX, &v, err, errlen))
        return -1;
    cfg->max_message = (size_t)v;
    if (lt_cfgfile_int(c, cfg->path, "heartbeat_ms", LT_HEARTBEAT_MS, LT_HEARTBEAT_MS_MIN,
                       LT_HEARTBEAT_MS_MAX, &v, err, errlen))
        return -1;
    cfg->heartbeat_ms = (int)v;
    if (lt_cfgfile_int(c, cfg->path, "batch_max", LT_CFG_BATCH_MAX_DEFAULT, 1, LT_CFG_BATCH_MAX_MAX,
                       &v, err, errlen))
        return -1;
    cfg->batch_max = (int)v;
    if (lt_cfgfile_int(c, cfg->path, "credit", LT_CFG_CREDIT_DEFAULT, 1, LT_CFG_CREDIT_MAX, &v, err,
                       errlen))
        return -1;
    cfg->credit = (int)v;
    /* The log tail each stream keeps (PROTOCOL.md 6.8); 0 keeps it all. */
    if (lt_cfgfile_int(c, cfg->path, "retain_records", 0, 0, LT_RETAIN_RECORDS_MAX,
                       &cfg->retain_records, err, errlen) ||
        lt_cfgfile_int(c, cfg->path, "retain_days", 0, 0, LT_RETAIN_DAYS_MAX, &cfg->retain_days,
                       err, errlen))
        return -1;
    /* The owner's in-memory tail of sent batches (docs/operations.md). */
    if (lt_cfgfile_int(c, cfg->path, "tail_batches", LT_TAIL_BATCHES_DEFAULT, 0,
                       LT_TAIL_BATCHES_MAX, &cfg->tail_batches, err, errlen) ||
        lt_cfgfile_int(c, cfg->path, "tail_bytes", LT_TAIL_BYTES_DEFAULT, 0, LT_TAIL_BYTES_MAX,
                       &cfg->tail_bytes, err, errlen))
        return -1;
    if (lt_cfgfile_int(c, cfg->path, "audit_retention_days", 0, 0, LT_AUDIT_RETENTION_DAYS_MAX, &v,
                       err, errlen))
        return -1;
    cfg->audit_retention_days = (int)v;
    /* SQLite's page cache per store connection (docs/performance.md "Memory"). */
    if (lt_cfgfile_int(c, cfg->path, "store_cache_mb", LT_STORE_CACHE_MB_DEFAULT,
                       LT_STORE_CACHE_MB_MIN, LT_STORE_CACHE_MB_MAX, &v, err, errlen))
        return -1;
    cfg->store_cache_mb = (int)v;
    return 0;
}

int lt_gwcfg_load(const char *path, lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    config_t c;
    config_init(&c);
    int rc = -1;
    if (lt_cfgfile_read(&c, path, err, errlen) != 0)
        goto out;
    if (lt_cfgfile_unknown(&c, cfg->path, s_known, err, errlen) || s_member(&c, cfg, err, errlen) ||
        s_listen(&c, cfg, err, errlen) ||
        lt_cfgfile_string(&c, cfg->path, "local_socket", "run/gateway.sock", 1, cfg->local_socket,
                          sizeof cfg->local_socket, err, errlen) ||
        lt_cfgfile_string(&c, cfg->path, "data_dir", "data", 1, cfg->data_dir, sizeof cfg->data_dir,
                          err, errlen) ||
        lt_cfgfile_string(&c, cfg->path, "key_file", NULL, 1, cfg->key_file, sizeof cfg->key_file,
                          err, errlen) ||
        lt_cfgfile_string(&c, cfg->path, "directory", NULL, 1, cfg->directory_file,
                          sizeof cfg->directory_file, err, errlen) ||
        s_pins(&c, cfg, err, errlen) || s_peers(&c, cfg, err, errlen) ||
        s_subs(&c, cfg, err, errlen) || s_numbers(&c, cfg, err, errlen) ||
        lt_cfgfile_log(&c, cfg->path, &cfg->log_level, &cfg->log_format, err, errlen))
        goto out;
    char dflt_fed[32] = {0};
    const char *slash = strchr(cfg->member, '/');
    snprintf(dflt_fed, sizeof dflt_fed, "%.*s", slash ? (int)(slash - cfg->member) : 0,
             cfg->member);
    if (lt_cfgfile_string(&c, cfg->path, "federation", dflt_fed[0] ? dflt_fed : NULL, 0,
                          cfg->federation, sizeof cfg->federation, err, errlen))
        goto out;
    rc = 0;
out:
    config_destroy(&c);
    return rc;
}

int lt_gwcfg_warn(const lt_gwcfg_t *cfg)
{
    int n = 0;
    /* Files written for older versions may hold up to LT_CFG_BATCH_MAX_MAX:
     * refusing them would stop a gateway at upgrade, so they load, and a
     * batch still holds at most the protocol's bound (PROTOCOL.md 6.2). */
    if (cfg->batch_max > LT_BATCH_MAX_RECORDS) {
        lt_warn("config",
                "%s: batch_max = %d acts as %d, the most records a batch may hold (PROTOCOL.md "
                "6.2); set it to %d or less to silence this",
                cfg->path, cfg->batch_max, LT_BATCH_MAX_RECORDS, LT_BATCH_MAX_RECORDS);
        n++;
    }
    return n;
}

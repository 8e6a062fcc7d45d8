/* lt_apicfg: strict loading of the HTTP API's configuration (see lt_apicfg.h). */
#include "lt_apicfg.h"
#include "lt_apicheck.h"
#include "lt_cfgfile.h"

#include <libconfig.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const s_known[] = {"gateway_config",
                                      "listen_address",
                                      "port",
                                      "tls_cert",
                                      "tls_key",
                                      "lookup_api",
                                      "metrics",
                                      "max_body",
                                      "connection_timeout",
                                      "receive_timeout",
                                      "request_timeout_ms",
                                      "max_connections",
                                      "max_connections_per_ip",
                                      "max_in_flight",
                                      "summary_interval",
                                      "audit_file",
                                      "log_level",
                                      "log_format",
                                      "apps",
                                      NULL};

/* Reads the string list `name` of group g into out (at most max ids); who
 * prefixes the messages ("application 'hr', grant 2: "). With unique, an id
 * named twice is refused, quoted. */
static int s_ids(const config_setting_t *g, const char *file, const char *who, const char *name,
                 int required, int unique, lt_apicfg_id_t *out, size_t max, size_t *n, char *err,
                 size_t errlen)
{
    const config_setting_t *a = config_setting_get_member(g, name);
    *n = 0;
    if (!a)
        return required
                   ? lt_cfgfile_err(g, file, err, errlen, "%smissing required list '%s'", who, name)
                   : 0;
    if (!config_setting_is_array(a) && !config_setting_is_list(a))
        return lt_cfgfile_err(a, file, err, errlen, "%s'%s' must be a list of strings", who, name);
    if ((size_t)config_setting_length(a) > max)
        return lt_cfgfile_err(a, file, err, errlen, "%s'%s' has more than %zu entries", who, name,
                              max);
    for (int i = 0; i < config_setting_length(a); i++) {
        /* Each error quotes the entry, at its line. */
        const config_setting_t *e = config_setting_get_elem(a, (unsigned)i);
        const char *s = config_setting_get_string(e);
        char got[64];
        if (!s || !s[0] || strlen(s) >= LT_APICFG_ID_MAX)
            return lt_cfgfile_err(e, file, err, errlen,
                                  "%sentry %d of '%s' must be a non-empty "
                                  "string of at most %d bytes, got %s",
                                  who, i + 1, name, LT_APICFG_ID_MAX - 1,
                                  lt_cfgfile_shown(e, got, sizeof got));
        if (unique && lt_apicfg_has(out, *n, s))
            return lt_cfgfile_err(e, file, err, errlen, "%s'%s' names \"%s\" twice", who, name, s);
        snprintf(out[(*n)++], LT_APICFG_ID_MAX, "%s", s);
    }
    return 0;
}

/* How many ids the list `name` of g may hold once read: a longer list, or
 * one that is not a list, is refused before anything is written. */
static size_t s_room(const config_setting_t *g, const char *name)
{
    const config_setting_t *a = config_setting_get_member(g, name);
    size_t n = a ? (size_t)config_setting_length(a) : 0;
    return n < LT_APICFG_MAX_GRANTS ? n : LT_APICFG_MAX_GRANTS;
}

/* What the API process takes from the gateway's own configuration. */
static int s_gateway(lt_apicfg_t *cfg, char *err, size_t errlen)
{
    config_t c;
    config_init(&c);
    const char *f = cfg->gateway_config;
    lt_apicfg_id_t keys[8];
    size_t n_keys = 0;
    int rc = -1;
    if (lt_cfgfile_read(&c, f, err, errlen) != 0 ||
        lt_cfgfile_string(&c, f, "member", NULL, 0, cfg->member, sizeof cfg->member, err, errlen) ||
        lt_cfgfile_string(&c, f, "local_socket", "run/gateway.sock", 1, cfg->local_socket,
                          sizeof cfg->local_socket, err, errlen) ||
        lt_cfgfile_string(&c, f, "data_dir", "data", 1, cfg->data_dir, sizeof cfg->data_dir, err,
                          errlen) ||
        lt_cfgfile_string(&c, f, "directory", NULL, 1, cfg->directory_file,
                          sizeof cfg->directory_file, err, errlen) ||
        s_ids(config_root_setting(&c), f, "", "authority_keys", 1, 0, keys, 8, &n_keys, err,
              errlen) ||
        s_ids(config_root_setting(&c), f, "", "peers", 0, 0, cfg->peers, LT_APICFG_MAX_PEERS,
              &cfg->n_peers, err, errlen))
        goto out;
    for (size_t i = 0; i < n_keys; i++)
        if (lt_dir_pins_add(&cfg->pins, keys[i]) != 0) {
            lt_cfgfile_err(
                config_setting_get_elem(config_lookup(&c, "authority_keys"), (unsigned)i), f, err,
                errlen, "authority key %zu, \"%s\", is not a 40-character Z85 key", i + 1, keys[i]);
            goto out;
        }
    const char *slash = strchr(cfg->member, '/');
    char dflt[32];
    snprintf(dflt, sizeof dflt, "%.*s", slash ? (int)(slash - cfg->member) : 0, cfg->member);
    rc = lt_cfgfile_string(&c, f, "federation", dflt, 0, cfg->federation, sizeof cfg->federation,
                           err, errlen);
out:
    config_destroy(&c);
    return rc;
}

static int s_hex32(const char *hex, uint8_t out[32])
{
    size_t n = 0;
    return hex && strlen(hex) == 64 && sodium_hex2bin(out, 32, hex, 64, NULL, &n, NULL) == 0 &&
                   n == 32
               ? 0
               : -1;
}

/* An application's string setting `key`, or NULL when it is absent or of
 * another type; got quotes what it is, for the error. */
static const char *s_app_string(const config_setting_t *g, const char *key, char *got, size_t cap)
{
    const config_setting_t *s = config_setting_get_member(g, key);
    if (!s) {
        snprintf(got, cap, "nothing");
        return NULL;
    }
    lt_cfgfile_shown(s, got, cap);
    return config_setting_get_string(s);
}

/* rate: requests per second, a whole or decimal number. Any other type is
 * refused: rate = "20" must not fall back to the default, looser limit. */
static int s_rate(const config_setting_t *g, const char *file, const char *name, double *rate,
                  char *err, size_t errlen)
{
    const config_setting_t *s = config_setting_get_member(g, "rate");
    char got[64];
    *rate = 50;
    if (!s)
        return 0;
    int type = config_setting_type(s);
    char who[LT_APICFG_NAME_MAX + 32];
    snprintf(who, sizeof who, "application '%s': ", name);
    long long whole;
    if (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64) {
        /* As written: libconfig keeps only the low 32 bits of 4294967346. */
        if (lt_cfgfile_int_of(s, file, who, &whole, err, errlen) != 0)
            return -1;
        *rate = (double)whole;
    } else if (type == CONFIG_TYPE_FLOAT) {
        *rate = config_setting_get_float(s);
    } else
        return lt_cfgfile_err(s, file, err, errlen,
                              "%s'rate' must be a number of requests per "
                              "second (e.g. rate = 20;), got %s",
                              who, lt_cfgfile_shown(s, got, sizeof got));
    if (!(*rate > 0 && *rate <= 100000))
        return lt_cfgfile_err(s, file, err, errlen,
                              "%s'rate' must be greater than 0 and at most "
                              "100000 requests per second, got %s",
                              who, lt_cfgfile_shown(s, got, sizeof got));
    return 0;
}

static const char *const s_app_keys[] = {"name",   "token_hash", "rate",   "datasets",
                                         "fields", "purposes",   "grants", NULL};
static const char *const s_grant_keys[] = {"dataset", "fields", "purposes", NULL};

/* Refuses a member of group g not in known; who prefixes the message. */
static int s_known_keys(const config_setting_t *g, const char *file, const char *who,
                        const char *const *known, char *err, size_t errlen)
{
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *k = config_setting_name(m);
        size_t j = 0;
        while (known[j] && strcmp(k, known[j]) != 0)
            j++;
        if (!known[j])
            return lt_cfgfile_err(m, file, err, errlen, "%sunknown setting '%s'", who, k);
    }
    return 0;
}

/* The room for n_ids ids and n_grants grants of app. */
static int s_app_alloc(const config_setting_t *g, const char *file, lt_apicfg_app_t *app,
                       size_t n_ids, size_t n_grants, char *err, size_t errlen)
{
    app->ids = calloc(n_ids ? n_ids : 1, sizeof *app->ids);
    app->grants = calloc(n_grants ? n_grants : 1, sizeof *app->grants);
    return app->ids && app->grants ? 0 : lt_cfgfile_err(g, file, err, errlen, "out of memory");
}

/* The form of one list for all: every dataset gets the same fields and
 * purposes. */
static int s_app_shared(const config_setting_t *g, const char *file, lt_apicfg_app_t *app,
                        char *err, size_t errlen)
{
    char who[LT_APICFG_NAME_MAX + 32];
    size_t nd, nf, np;
    snprintf(who, sizeof who, "application '%s': ", app->name);
    if (s_app_alloc(g, file, app,
                    s_room(g, "datasets") + s_room(g, "fields") + s_room(g, "purposes"),
                    s_room(g, "datasets"), err, errlen))
        return -1;
    lt_apicfg_id_t *ds = app->ids;
    if (s_ids(g, file, who, "datasets", 1, 1, ds, LT_APICFG_MAX_GRANTS, &nd, err, errlen))
        return -1;
    lt_apicfg_id_t *fields = ds + nd;
    if (s_ids(g, file, who, "fields", 1, 1, fields, LT_APICFG_MAX_GRANTS, &nf, err, errlen))
        return -1;
    lt_apicfg_id_t *purposes = fields + nf;
    if (s_ids(g, file, who, "purposes", 1, 1, purposes, LT_APICFG_MAX_GRANTS, &np, err, errlen))
        return -1;
    /* A lookup naming no field asks for every field (PROTOCOL.md 7.5): with
     * no field granted it would read all the agency's policy allows. */
    if (!nf)
        return lt_cfgfile_err(config_setting_get_member(g, "fields"), file, err, errlen,
                              "%sfields is empty; grant at least one field", who);
    int line = (int)config_setting_source_line(config_setting_get_member(g, "datasets"));
    for (size_t i = 0; i < nd; i++)
        app->grants[i] = (lt_apicfg_grant_t){ds[i], fields, nf, purposes, np, line};
    app->n_grants = nd;
    return 0;
}

/* Grant i of the list: { dataset = "..."; fields = [...]; purposes = [...]; },
 * its ids from *next on. */
static int s_grant(const config_setting_t *e, const char *file, lt_apicfg_app_t *app, size_t i,
                   lt_apicfg_id_t **next, char *err, size_t errlen)
{
    char who[LT_APICFG_NAME_MAX + LT_APICFG_ID_MAX + 48], got[64];
    lt_apicfg_grant_t *gr = &app->grants[i];
    const char *ds = NULL;
    if (config_setting_is_group(e))
        ds = s_app_string(e, "dataset", got, sizeof got);
    else
        lt_cfgfile_shown(e, got, sizeof got);
    if (!ds || !ds[0] || strlen(ds) >= LT_APICFG_ID_MAX)
        return lt_cfgfile_err(e, file, err, errlen,
                              "application '%s', grant %zu: each grant "
                              "needs dataset = \"...\" (a dataset or view id of at most %d "
                              "bytes) in { dataset = \"...\"; fields = [...]; purposes = [...]; "
                              "}, got %s",
                              app->name, i + 1, LT_APICFG_ID_MAX - 1, got);
    snprintf(who, sizeof who, "application '%s', grant %zu (%s): ", app->name, i + 1, ds);
    for (size_t j = 0; j < i; j++)
        if (strcmp(app->grants[j].dataset, ds) == 0)
            return lt_cfgfile_err(e, file, err, errlen,
                                  "application '%s': grants %zu and %zu "
                                  "both name dataset \"%s\"; write its fields and purposes in "
                                  "one grant",
                                  app->name, j + 1, i + 1, ds);
    if (s_known_keys(e, file, who, s_grant_keys, err, errlen))
        return -1;
    lt_apicfg_id_t *id = *next;
    snprintf(id[0], LT_APICFG_ID_MAX, "%s", ds);
    gr->dataset = id[0];
    gr->line = (int)config_setting_source_line(e);
    gr->fields = id + 1;
    if (s_ids(e, file, who, "fields", 1, 1, id + 1, LT_APICFG_MAX_GRANTS, &gr->n_fields, err,
              errlen))
        return -1;
    gr->purposes = id + 1 + gr->n_fields;
    if (s_ids(e, file, who, "purposes", 1, 1, id + 1 + gr->n_fields, LT_APICFG_MAX_GRANTS,
              &gr->n_purposes, err, errlen))
        return -1;
    /* No field: a lookup naming none would ask for every field (PROTOCOL.md
     * 7.5). No purpose: the grant could never be used. */
    if (!gr->n_fields || !gr->n_purposes)
        return lt_cfgfile_err(e, file, err, errlen, "%s%s is empty; grant at least one", who,
                              gr->n_fields ? "purposes" : "fields");
    *next = id + 1 + gr->n_fields + gr->n_purposes;
    return 0;
}

/* The form of grants per dataset; datasets, fields and purposes beside it
 * would leave unclear which fields go with which dataset. */
static int s_app_grants(const config_setting_t *g, const config_setting_t *l, const char *file,
                        lt_apicfg_app_t *app, char *err, size_t errlen)
{
    static const char *const shared[] = {"datasets", "fields", "purposes"};
    for (size_t i = 0; i < 3; i++)
        if (config_setting_get_member(g, shared[i]))
            return lt_cfgfile_err(config_setting_get_member(g, shared[i]), file, err, errlen,
                                  "application '%s': '%s' cannot stand beside 'grants'; write "
                                  "each dataset with its own fields and purposes in 'grants' "
                                  "(grants = ( { dataset = \"...\"; fields = [...]; purposes = "
                                  "[...]; } )), or drop 'grants' to give every dataset of "
                                  "'datasets' the same 'fields' and 'purposes'",
                                  app->name, shared[i]);
    if (!config_setting_is_list(l) || config_setting_length(l) > LT_APICFG_MAX_GRANTS)
        return lt_cfgfile_err(l, file, err, errlen,
                              "application '%s': 'grants' must be a list "
                              "of at most %d groups: ( { dataset = \"...\"; fields = [...]; "
                              "purposes = [...]; } )",
                              app->name, LT_APICFG_MAX_GRANTS);
    size_t n = (size_t)config_setting_length(l), room = 0;
    for (size_t i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
        room += 1 + s_room(e, "fields") + s_room(e, "purposes");
    }
    if (s_app_alloc(g, file, app, room, n, err, errlen))
        return -1;
    app->per_dataset = 1;
    lt_apicfg_id_t *next = app->ids;
    for (size_t i = 0; i < n; i++, app->n_grants++)
        if (s_grant(config_setting_get_elem(l, (unsigned)i), file, app, i, &next, err, errlen))
            return -1;
    return 0;
}

static int s_app(const config_setting_t *g, const char *file, lt_apicfg_app_t *app, char *err,
                 size_t errlen)
{
    char got[64], who[LT_APICFG_NAME_MAX + 32];
    const char *name = NULL;
    if (config_setting_is_group(g))
        name = s_app_string(g, "name", got, sizeof got);
    else
        lt_cfgfile_shown(g, got, sizeof got);
    if (!name || !name[0] || strlen(name) >= LT_APICFG_NAME_MAX)
        return lt_cfgfile_err(g, file, err, errlen,
                              "each application needs name = \"...\" "
                              "(at most %d bytes), got %s",
                              LT_APICFG_NAME_MAX - 1, got);
    snprintf(app->name, sizeof app->name, "%s", name);
    const char *hash = s_app_string(g, "token_hash", got, sizeof got);
    if (!hash || s_hex32(hash, app->token_hash))
        return lt_cfgfile_err(g, file, err, errlen,
                              "application '%s': token_hash must be the 64 "
                              "hex digits `lienthong api token` printed, in double quotes, got %s",
                              name, got);
    snprintf(who, sizeof who, "application '%s': ", name);
    if (s_rate(g, file, name, &app->rate, err, errlen) ||
        s_known_keys(g, file, who, s_app_keys, err, errlen))
        return -1;
    const config_setting_t *grants = config_setting_get_member(g, "grants");
    return grants ? s_app_grants(g, grants, file, app, err, errlen)
                  : s_app_shared(g, file, app, err, errlen);
}

static int s_apps(const config_t *c, lt_apicfg_t *cfg, char *err, size_t errlen)
{
    const config_setting_t *l = config_lookup(c, "apps");
    if (!l)
        return 0;
    if (!config_setting_is_list(l) || config_setting_length(l) > LT_APICFG_MAX_APPS)
        return lt_cfgfile_err(l, cfg->path, err, errlen,
                              "'apps' must be a list of at most %d "
                              "groups: ( { name = ...; token_hash = ...; ... } )",
                              LT_APICFG_MAX_APPS);
    size_t n = (size_t)config_setting_length(l);
    if (!(cfg->apps = calloc(n ? n : 1, sizeof *cfg->apps)))
        return lt_cfgfile_err(l, cfg->path, err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        cfg->n_apps++; /* counted first: lt_apicfg_free frees what a failed one holds */
        if (s_app(config_setting_get_elem(l, (unsigned)i), cfg->path, &cfg->apps[i], err, errlen))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(cfg->apps[j].name, cfg->apps[i].name) == 0 ||
                memcmp(cfg->apps[j].token_hash, cfg->apps[i].token_hash, 32) == 0)
                return lt_cfgfile_err(config_setting_get_elem(l, (unsigned)i), cfg->path, err,
                                      errlen,
                                      "application '%s' repeats the name or token of "
                                      "another",
                                      cfg->apps[i].name);
    }
    return 0;
}

/* A path setting that may be absent (out stays ""). */
static int s_optional_path(const config_t *c, const char *file, const char *name, char *out,
                           size_t cap, char *err, size_t errlen)
{
    out[0] = 0;
    return config_lookup(c, name) ? lt_cfgfile_string(c, file, name, NULL, 1, out, cap, err, errlen)
                                  : 0;
}

static int s_http(const config_t *c, lt_apicfg_t *cfg, char *err, size_t errlen)
{
    long long v[9];
    const char *f = cfg->path;
    if (lt_cfgfile_string(c, f, "listen_address", "127.0.0.1", 0, cfg->listen_address,
                          sizeof cfg->listen_address, err, errlen) ||
        lt_cfgfile_int(c, f, "port", 8480, 1, 65535, &v[0], err, errlen) ||
        lt_cfgfile_int(c, f, "max_body", 65536, 1024, 16 << 20, &v[1], err, errlen) ||
        lt_cfgfile_int(c, f, "connection_timeout", 30, 1, 3600, &v[2], err, errlen) ||
        lt_cfgfile_int(c, f, "request_timeout_ms", 5000, 100, 600000, &v[3], err, errlen) ||
        lt_cfgfile_int(c, f, "max_connections", 256, 1, 4096, &v[4], err, errlen) ||
        lt_cfgfile_int(c, f, "max_connections_per_ip", 32, 1, 4096, &v[5], err, errlen) ||
        lt_cfgfile_int(c, f, "max_in_flight", 64, 1, 4096, &v[6], err, errlen) ||
        lt_cfgfile_int(c, f, "receive_timeout", 10, 1, 3600, &v[7], err, errlen) ||
        lt_cfgfile_int(c, f, "summary_interval", 60, 1, 3600, &v[8], err, errlen) ||
        s_optional_path(c, f, "tls_cert", cfg->tls_cert, sizeof cfg->tls_cert, err, errlen) ||
        s_optional_path(c, f, "tls_key", cfg->tls_key, sizeof cfg->tls_key, err, errlen) ||
        s_optional_path(c, f, "audit_file", cfg->audit_file, sizeof cfg->audit_file, err, errlen) ||
        lt_cfgfile_bool(c, f, "lookup_api", 1, &cfg->lookup_api, err, errlen) ||
        lt_cfgfile_bool(c, f, "metrics", 1, &cfg->metrics, err, errlen) ||
        lt_cfgfile_log(c, f, &cfg->log_level, &cfg->log_format, err, errlen))
        return -1;
    if (!cfg->tls_cert[0] != !cfg->tls_key[0])
        return lt_cfgfile_err(config_lookup(c, cfg->tls_cert[0] ? "tls_cert" : "tls_key"), f, err,
                              errlen, "set both tls_cert and tls_key, or neither");
    cfg->port = (int)v[0];
    cfg->max_body = (size_t)v[1];
    /* Read, so that a bad value is still an error, but not used: see the
     * header. */
    cfg->connection_timeout = config_lookup(c, "connection_timeout") ? (int)v[2] : 0;
    cfg->request_timeout_ms = (int)v[3];
    cfg->max_connections = (int)v[4];
    cfg->max_connections_per_ip = (int)v[5];
    cfg->max_in_flight = (int)v[6];
    cfg->receive_timeout = (int)v[7];
    cfg->summary_interval = (int)v[8];
    /* Refused here, with its line, as a configuration that cannot be
     * loaded (exit 2): found only when the API starts, it was a runtime
     * failure that systemd restarts for ever. */
    struct sockaddr_storage ss;
    int v6;
    if (lt_apicheck_address(cfg, &ss, &v6) != 0)
        return lt_cfgfile_err(config_lookup(c, "listen_address"), f, err, errlen,
                              "'listen_address' must be a numeric IP address, e.g. "
                              "\"127.0.0.1\", \"0.0.0.0\" or \"::1\", got \"%s\"",
                              cfg->listen_address);
    return 0;
}

int lt_apicfg_load(const char *path, lt_apicfg_t *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->path, sizeof cfg->path, "%s", path);
    config_t c;
    config_init(&c);
    int rc = -1;
    if (lt_cfgfile_read(&c, path, err, errlen) != 0 ||
        lt_cfgfile_unknown(&c, path, s_known, err, errlen) ||
        lt_cfgfile_string(&c, path, "gateway_config", NULL, 1, cfg->gateway_config,
                          sizeof cfg->gateway_config, err, errlen) ||
        s_http(&c, cfg, err, errlen) || s_apps(&c, cfg, err, errlen) || s_gateway(cfg, err, errlen))
        goto out;
    rc = 0;
out:
    config_destroy(&c);
    return rc;
}

void lt_apicfg_free(lt_apicfg_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; cfg->apps && i < cfg->n_apps; i++) {
        free(cfg->apps[i].grants);
        free(cfg->apps[i].ids);
    }
    free(cfg->apps);
    cfg->apps = NULL;
    cfg->n_apps = 0;
}

static void s_token_hash(const char *token, uint8_t out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)token, strlen(token), NULL, 0);
}

int lt_apicfg_token_hash(const char *token, uint8_t out[32])
{
    if (!token || !token[0])
        return -1;
    s_token_hash(token, out);
    return 0;
}

const lt_apicfg_app_t *lt_apicfg_app_by_hash(const lt_apicfg_t *cfg, const uint8_t hash[32])
{
    const lt_apicfg_app_t *found = NULL;
    /* Every application is compared, in constant time each. */
    for (size_t i = 0; i < cfg->n_apps; i++)
        if (sodium_memcmp(hash, cfg->apps[i].token_hash, 32) == 0)
            found = &cfg->apps[i];
    return found;
}

const lt_apicfg_app_t *lt_apicfg_app_by_token(const lt_apicfg_t *cfg, const char *token)
{
    uint8_t h[32];
    return lt_apicfg_token_hash(token, h) == 0 ? lt_apicfg_app_by_hash(cfg, h) : NULL;
}

void lt_apicfg_token_generate(char out[65], char hash_hex[65])
{
    uint8_t raw[32], h[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, 65, raw, sizeof raw);
    s_token_hash(out, h);
    sodium_bin2hex(hash_hex, 65, h, sizeof h);
    sodium_memzero(raw, sizeof raw);
}

int lt_apicfg_has(const lt_apicfg_id_t *list, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], id) == 0)
            return 1;
    return 0;
}

const lt_apicfg_grant_t *lt_apicfg_grant(const lt_apicfg_app_t *app, const char *dataset)
{
    for (size_t i = 0; i < app->n_grants; i++)
        if (strcmp(app->grants[i].dataset, dataset) == 0)
            return &app->grants[i];
    return NULL;
}

int lt_apicfg_any_purpose(const lt_apicfg_app_t *app, const char *purpose)
{
    for (size_t i = 0; i < app->n_grants; i++)
        if (lt_apicfg_has(app->grants[i].purposes, app->grants[i].n_purposes, purpose))
            return 1;
    return 0;
}

/* ---- what a reload changes (SIGHUP, lt_api_reload) ---------------------------------------- */

const lt_apicfg_app_t *lt_apicfg_app_by_name(const lt_apicfg_t *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->n_apps; i++)
        if (strcmp(cfg->apps[i].name, name) == 0)
            return &cfg->apps[i];
    return NULL;
}

static int s_ids_same(const lt_apicfg_id_t *a, size_t na, const lt_apicfg_id_t *b, size_t nb)
{
    if (na != nb)
        return 0;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i], b[i]) != 0)
            return 0;
    return 1;
}

int lt_apicfg_app_same(const lt_apicfg_app_t *a, const lt_apicfg_app_t *b)
{
    if (strcmp(a->name, b->name) != 0 || sodium_memcmp(a->token_hash, b->token_hash, 32) != 0 ||
        a->rate != b->rate || a->n_grants != b->n_grants)
        return 0;
    for (size_t i = 0; i < a->n_grants; i++) {
        const lt_apicfg_grant_t *x = &a->grants[i], *y = &b->grants[i];
        if (strcmp(x->dataset, y->dataset) != 0 ||
            !s_ids_same(x->fields, x->n_fields, y->fields, y->n_fields) ||
            !s_ids_same(x->purposes, x->n_purposes, y->purposes, y->n_purposes))
            return 0;
    }
    return 1;
}

/* Appends ", " (unless first) and s to out; once full, out ends with "..."
 * and takes no more. */
static void s_append(char *out, size_t len, const char *s)
{
    size_t o = strlen(out);
    if (o >= 3 && strcmp(out + o - 3, "...") == 0)
        return;
    int n = snprintf(out + o, len - o, "%s%s", o ? ", " : "", s);
    if ((n < 0 || (size_t)n >= len - o) && len >= 4)
        memcpy(out + len - 4, "...", 4);
}

/* The settings a running API cannot change: each named as in the file
 * (or the gateway's, for what is taken from it). */
typedef struct {
    const char *name;
    size_t off, size;
    int is_text;
} fixed_t;

/* clang-format off */
#define TEXT(f, n) {n, offsetof(lt_apicfg_t, f), sizeof(((lt_apicfg_t *)0)->f), 1}
#define VALUE(f, n) {n, offsetof(lt_apicfg_t, f), sizeof(((lt_apicfg_t *)0)->f), 0}
/* clang-format on */
static const fixed_t s_fixed[] = {
    TEXT(gateway_config, "gateway_config"),
    TEXT(member, "member (of gateway_config)"),
    TEXT(federation, "federation (of gateway_config)"),
    TEXT(local_socket, "local_socket (of gateway_config)"),
    TEXT(data_dir, "data_dir (of gateway_config)"),
    TEXT(directory_file, "directory (of gateway_config)"),
    TEXT(listen_address, "listen_address"),
    VALUE(port, "port"),
    TEXT(tls_cert, "tls_cert"),
    TEXT(tls_key, "tls_key"),
    VALUE(lookup_api, "lookup_api"),
    VALUE(metrics, "metrics"),
    VALUE(max_body, "max_body"),
    VALUE(receive_timeout, "receive_timeout"),
    VALUE(summary_interval, "summary_interval"),
    VALUE(request_timeout_ms, "request_timeout_ms"),
    VALUE(max_connections, "max_connections"),
    VALUE(max_connections_per_ip, "max_connections_per_ip"),
    VALUE(max_in_flight, "max_in_flight"),
    TEXT(audit_file, "audit_file"),
    VALUE(log_level, "log_level"),
    VALUE(log_format, "log_format"),
};
#undef TEXT
#undef VALUE

size_t lt_apicfg_fixed_changed(const lt_apicfg_t *run, const lt_apicfg_t *next, char *out,
                               size_t len)
{
    size_t n = 0;
    out[0] = 0;
    for (size_t i = 0; i < sizeof s_fixed / sizeof s_fixed[0]; i++) {
        const char *a = (const char *)run + s_fixed[i].off,
                   *b = (const char *)next + s_fixed[i].off;
        if (s_fixed[i].is_text ? strcmp(a, b) == 0 : memcmp(a, b, s_fixed[i].size) == 0)
            continue;
        s_append(out, len, s_fixed[i].name);
        n++;
    }
    /* The peers and pins as sets in order: a reordered list counts as changed. */
    if (!s_ids_same(run->peers, run->n_peers, next->peers, next->n_peers) && ++n)
        s_append(out, len, "peers (of gateway_config)");
    if ((run->pins.count != next->pins.count ||
         memcmp(run->pins.keys, next->pins.keys, run->pins.count * sizeof run->pins.keys[0])) &&
        ++n)
        s_append(out, len, "authority_keys (of gateway_config)");
    return n;
}

size_t lt_apicfg_apps_added(const lt_apicfg_t *run, const lt_apicfg_t *next, char *out, size_t len)
{
    size_t n = 0;
    if (out && len)
        out[0] = 0;
    for (size_t i = 0; i < next->n_apps; i++)
        if (!lt_apicfg_app_by_name(run, next->apps[i].name) && ++n && out && len)
            s_append(out, len, next->apps[i].name);
    return n;
}

void lt_apicfg_apps_changed(const lt_apicfg_t *run, const lt_apicfg_t *next, char *out, size_t len)
{
    char added[512], removed[512], changed[512] = "";
    size_t n_added = lt_apicfg_apps_added(run, next, added, sizeof added);
    size_t n_removed = lt_apicfg_apps_added(next, run, removed, sizeof removed), n_changed = 0;
    for (size_t i = 0; i < next->n_apps; i++) {
        const lt_apicfg_app_t *was = lt_apicfg_app_by_name(run, next->apps[i].name);
        if (was && !lt_apicfg_app_same(was, &next->apps[i]) && ++n_changed)
            s_append(changed, sizeof changed, next->apps[i].name);
    }
    snprintf(out, len,
             "applications: %zu added%s%s%s, %zu removed%s%s%s, %zu changed%s%s%s, %zu unchanged; "
             "%zu in force",
             n_added, n_added ? " (" : "", added, n_added ? ")" : "", n_removed,
             n_removed ? " (" : "", removed, n_removed ? ")" : "", n_changed, n_changed ? " (" : "",
             changed, n_changed ? ")" : "", next->n_apps - n_added - n_changed, next->n_apps);
}

/* lt_apicheck: the start-up checks of `lienthong api`, shared by the start
 * and --check (see the header). */
#include "lt_apicheck.h"
#include "lt_apitls.h"
#include "lt_clock.h"
#include "lt_dirpick.h"
#include "lt_file.h"
#include "lt_log.h"
#include "lt_schema.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DETAIL_MAX 8192

/* One check: 0 passed (detail says what), -1 failed (detail says why, fix
 * what to do), 1 not applicable (nothing to report), 2 passed with a
 * warning (detail and fix as for a failure). */
typedef int (*probe_fn)(const lt_apicfg_t *cfg, char *detail, size_t cap, const char **fix);

static void s_check_grants(lt_check_t *r, const lt_apicfg_t *cfg);

int lt_apicheck_address(const lt_apicfg_t *cfg, struct sockaddr_storage *ss, int *v6)
{
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    memset(ss, 0, sizeof *ss);
    *v6 = 0;
    if (inet_pton(AF_INET, cfg->listen_address, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)cfg->port);
        return 0;
    }
    if (inet_pton(AF_INET6, cfg->listen_address, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)cfg->port);
        *v6 = 1;
        return 0;
    }
    return -1;
}

static int s_probe_address(const lt_apicfg_t *cfg, char *detail, size_t cap, const char **fix)
{
    struct sockaddr_storage ss;
    int v6;
    if (lt_apicheck_address(cfg, &ss, &v6) == 0) {
        snprintf(detail, cap, "%s", cfg->listen_address);
        return 0;
    }
    snprintf(detail, cap, "\"%s\" is not a numeric IP address", cfg->listen_address);
    *fix = "write the address itself, e.g. \"127.0.0.1\", \"10.0.0.5\", \"0.0.0.0\" or \"::1\" "
           "(no host name, no port: the port is the setting port)";
    return -1;
}

static const char *s_bind_fix(int e)
{
    if (e == EADDRINUSE)
        return "another process listens there: is this API already running (systemctl status "
               "lienthong-api)? otherwise choose another port";
    if (e == EACCES)
        return "ports below 1024 need privileges the service does not have: choose a port "
               "from 1024 up";
    if (e == EADDRNOTAVAIL)
        return "listen_address must be an address of this host, or 0.0.0.0 (or ::) for all";
    return "choose an address of this host and a free port";
}

/* Binds as libmicrohttpd will (SO_REUSEADDR; an IPv6 address for IPv6
 * only), then lets the port go. */
static int s_probe_port(const lt_apicfg_t *cfg, char *detail, size_t cap, const char **fix)
{
    struct sockaddr_storage ss;
    int v6, one = 1;
    if (lt_apicheck_address(cfg, &ss, &v6) != 0)
        return 1; /* listen_address said why */
    socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
             (!v6 || setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == 0) &&
             bind(fd, (struct sockaddr *)&ss, len) == 0 && listen(fd, 1) == 0;
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (ok) {
        snprintf(detail, cap, "%d is free on %s", cfg->port, cfg->listen_address);
        return 0;
    }
    snprintf(detail, cap, "cannot listen on %s port %d: %s", cfg->listen_address, cfg->port,
             strerror(e));
    *fix = s_bind_fix(e);
    return -1;
}

/* Opened for appending at start: the file, when it exists, must be
 * writable; otherwise its directory, to create it. */
static int s_probe_audit(const lt_apicfg_t *cfg, char *detail, size_t cap, const char **fix)
{
    char dir[PATH_MAX], why[4600] = "";
    struct stat st;
    if (!cfg->audit_file[0])
        return 1;
    snprintf(dir, sizeof dir, "%s", cfg->audit_file);
    if (stat(cfg->audit_file, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(why, sizeof why, "it is a directory");
    else if (stat(cfg->audit_file, &st) == 0)
        lt_file_explain(cfg->audit_file, W_OK, why, sizeof why);
    else
        lt_file_explain(dirname(dir), W_OK | X_OK, why, sizeof why);
    if (!why[0]) {
        snprintf(detail, cap, "%s", cfg->audit_file);
        return 0;
    }
    snprintf(detail, cap, "cannot open %s for appending: %s", cfg->audit_file, why);
    *fix = "audit_file must name a file in an existing directory the API's user may write "
           "(the packaged unit's StateDirectory= provides /var/lib/lienthong), or be removed";
    return -1;
}

/* One of the TLS files, read whole (NUL-terminated): 0, or -1 with why. */
static int s_tls_read(const char *name, const char *path, uint8_t **pem, size_t *n, char *detail,
                      size_t cap)
{
    char why[4600];
    if (lt_file_read(path, LT_APICHECK_PEM_MAX, pem, n) == 0)
        return 0;
    int e = errno;
    lt_file_explain(path, R_OK, why, sizeof why);
    snprintf(detail, cap, "cannot read %s %s: %s", name, path, why[0] ? why : strerror(e));
    return -1;
}

/* 0 when the certificate is valid past the warning's horizon; 2 (a warning)
 * when it has expired or expires within LT_APICHECK_TLS_WARN_DAYS. */
static int s_tls_expiry(const lt_apicfg_t *cfg, time_t not_after, char *detail, size_t cap,
                        const char **fix)
{
    char date[64] = "?";
    struct tm tm;
    time_t now = (time_t)(lt_clock_now_ms() / 1000);
    long days = (long)((not_after - now) / 86400);
    if (gmtime_r(&not_after, &tm))
        strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", &tm);
    if (not_after > now + (time_t)LT_APICHECK_TLS_WARN_DAYS * 86400) {
        snprintf(detail, cap, "certificate %s (valid until %s), key %s", cfg->tls_cert, date,
                 cfg->tls_key);
        return 0;
    }
    if (not_after <= now)
        snprintf(detail, cap, "the certificate in tls_cert %s expired on %s", cfg->tls_cert, date);
    else if (days < 1)
        snprintf(detail, cap, "the certificate in tls_cert %s expires on %s, within a day",
                 cfg->tls_cert, date);
    else
        snprintf(detail, cap, "the certificate in tls_cert %s expires on %s, in %ld day%s",
                 cfg->tls_cert, date, days, days == 1 ? "" : "s");
    *fix = "renew the certificate (with its key) and install both: clients refuse an expired "
           "certificate";
    return 2;
}

/* 1 when listen_address is a loopback address (127.0.0.0/8, ::1, or
 * 127.0.0.0/8 mapped into IPv6): only this host's clients reach it. */
static int s_loopback(const lt_apicfg_t *cfg)
{
    struct sockaddr_storage ss;
    int v6;
    if (lt_apicheck_address(cfg, &ss, &v6) != 0)
        return 1; /* listen_address says why */
    const struct in6_addr *a6 = &((const struct sockaddr_in6 *)&ss)->sin6_addr;
    if (!v6)
        return (ntohl(((const struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
    return IN6_IS_ADDR_LOOPBACK(a6) || (IN6_IS_ADDR_V4MAPPED(a6) && a6->s6_addr[12] == 127);
}

/* Without TLS: a warning when other hosts can reach the API, since the
 * applications' tokens and the records asked for would cross the network
 * in clear text. */
static int s_plaintext(const lt_apicfg_t *cfg, char *detail, size_t cap, const char **fix)
{
    if (s_loopback(cfg))
        return 1;
    snprintf(detail, cap,
             "plain HTTP on %s, which is not a loopback address: application tokens "
             "and the records they ask for cross the network unencrypted",
             cfg->listen_address);
    *fix = "set tls_cert and tls_key (docs/operations.md, \"Limits of the HTTP API\"), or listen "
           "on 127.0.0.1 behind a TLS proxy on this host";
    return 2;
}

/* The pair as libmicrohttpd loads it (lt_apitls), then its expiry. */
static int s_probe_tls(const lt_apicfg_t *cfg, char *detail, size_t cap, const char **fix)
{
    uint8_t *cert = NULL, *key = NULL;
    size_t n_cert = 0, n_key = 0;
    time_t not_after = 0;
    int rc = -1;
    if (!cfg->tls_cert[0])
        return s_plaintext(cfg, detail, cap, fix);
    *fix = "tls_cert and tls_key must name the PEM certificate and its private key, readable by "
           "the API's user (e.g. group lienthong, mode 0640)";
    if (s_tls_read("tls_cert", cfg->tls_cert, &cert, &n_cert, detail, cap) != 0 ||
        s_tls_read("tls_key", cfg->tls_key, &key, &n_key, detail, cap) != 0)
        goto out;
    lt_apitls_file_t c = {cfg->tls_cert, cert, n_cert}, k = {cfg->tls_key, key, n_key};
    if (lt_apitls_pair(&c, &k, &not_after, detail, cap, fix) != 0)
        goto out;
    rc = s_tls_expiry(cfg, not_after, detail, cap, fix);
out:
    free(cert);
    if (key) /* no private key left in freed memory */
        sodium_memzero(key, n_key);
    free(key);
    return rc;
}

/* connection_timeout is no longer used: a warning naming what replaced
 * it, so that an operator who tuned it knows the value has no effect. */
static int s_probe_deprecated(const lt_apicfg_t *cfg, char *detail, size_t cap, const char **fix)
{
    if (!cfg->connection_timeout)
        return 1;
    snprintf(detail, cap,
             "connection_timeout (%d s) is deprecated and has no effect: a "
             "connection that has not sent a whole request within receive_timeout (%d s) of its "
             "opening or of its previous answer is closed, idle or not",
             cfg->connection_timeout, cfg->receive_timeout);
    *fix = "remove connection_timeout; set receive_timeout instead (docs/operations.md, \"Limits "
           "of the HTTP API\")";
    return 2;
}

static const struct {
    const char *what;
    probe_fn probe;
    int check_only; /* not at start: libmicrohttpd's own bind reports the port */
} s_probes[] = {
    {"listen_address", s_probe_address, 0},
    {"port", s_probe_port, 1},
    {"audit_file", s_probe_audit, 0},
    {"tls", s_probe_tls, 0},
    {"connection_timeout", s_probe_deprecated, 0},
};

/* A warning: to the report of --check, or to the log at start. */
static void s_warn(const lt_apicfg_t *cfg, lt_check_t *r, const char *what, const char *detail,
                   const char *fix)
{
    if (r)
        lt_check_warn(r, what, fix, "%s", detail);
    else
        lt_warn("api", "%s: %s: %s; fix: %s", cfg->path, what, detail, fix);
}

int lt_apicheck_start(const lt_apicfg_t *cfg, lt_check_t *r, char *err, size_t errlen)
{
    char detail[DETAIL_MAX];
    int rc = 0;
    err[0] = 0;
    for (size_t i = 0; i < sizeof s_probes / sizeof s_probes[0] && (r || rc == 0); i++) {
        const char *fix = NULL;
        if (s_probes[i].check_only && !r)
            continue;
        int got = s_probes[i].probe(cfg, detail, sizeof detail, &fix);
        if (got == 0 && r)
            lt_check_ok(r, s_probes[i].what, "%s", detail);
        if (got == 2)
            s_warn(cfg, r, s_probes[i].what, detail, fix);
        if (got >= 0)
            continue;
        if (r)
            lt_check_error(r, s_probes[i].what, fix, "%s", detail);
        if (rc == 0)
            snprintf(err, errlen, "%s: %s: %s; fix: %s", cfg->path, s_probes[i].what, detail, fix);
        rc = -1;
    }
    /* At start the grants' problems are logged: the API still starts (see
     * the header), but an operator reading the log learns of a grant that
     * can never be used, not only one who runs --check. */
    if (!r && rc == 0)
        s_check_grants(NULL, cfg);
    return rc;
}

lt_dir_t *lt_apicheck_directory(const lt_apicfg_t *cfg, char *why, size_t len)
{
    return lt_dirpick_data_dir(cfg->directory_file, cfg->data_dir, &cfg->pins, cfg->federation, why,
                               len);
}

/* ---- the grants, for --check ------------------------------------------------------------- */

/* 1 when the member's replica of policy p's target, which p lets it
 * subscribe to, carries field: one of a view's fields, or a field of the
 * dataset's record type. A pre-fill shows it (PROTOCOL.md 8.8) though the
 * policy lists no field, fields being for lookups and verifies. */
static int s_replica_carries(const lt_dir_t *d, const Lienthong__Policy *p, const char *field)
{
    if (!lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_SUBSCRIBE))
        return 0;
    const Lienthong__View *v = lt_dir_view(d, p->target);
    for (size_t i = 0; v && i < v->n_fields; i++)
        if (strcmp(v->fields[i], field) == 0)
            return 1;
    const Lienthong__Dataset *ds = v ? NULL : lt_dir_dataset(d, p->target);
    const ProtobufCMessageDescriptor *t = ds ? lt_schema_find(ds->record_type) : NULL;
    return t && lt_schema_field(t, field);
}

/* 1 when the member's policy on the grant's dataset lists id among its
 * purposes (purposes set) or its fields, or its replica carries field id. */
static int s_policy_lists(const lt_dir_t *d, const char *member, const lt_apicfg_grant_t *g,
                          int purposes, const char *id)
{
    const Lienthong__Policy *p = lt_dir_policy(d, member, g->dataset);
    char **l = !p ? NULL : purposes ? p->purposes : p->fields;
    size_t n = !p ? 0 : purposes ? p->n_purposes : p->n_fields;
    for (size_t j = 0; j < n; j++)
        if (strcmp(l[j], id) == 0)
            return 1;
    return !purposes && p && s_replica_carries(d, p, id);
}

/* A grant's problem: to the report of --check, or at start to the log,
 * with the file and line of the grant (the API starts: the gateway
 * enforces the directory's policies whatever the grants say). */
static void s_grant_warn(lt_check_t *r, const lt_apicfg_t *cfg, const lt_apicfg_grant_t *g,
                         const char *fix, const char *detail)
{
    if (r)
        lt_check_warn(r, "grants", fix, "%s", detail);
    else if (g && g->line > 0)
        lt_warn("api", "%s:%d: grants: %s; fix: %s", cfg->path, g->line, detail, fix);
    else
        lt_warn("api", "%s: grants: %s; fix: %s", cfg->path, detail, fix);
}

/* The grant's dataset: in the directory, and granted to the member. */
static int s_check_dataset(lt_check_t *r, const lt_apicfg_t *cfg, const lt_dir_t *d,
                           const lt_apicfg_app_t *app, const lt_apicfg_grant_t *g)
{
    char detail[DETAIL_MAX];
    unsigned long long v = (unsigned long long)lt_dir_version(d);
    if (!lt_dir_dataset(d, g->dataset) && !lt_dir_view(d, g->dataset)) {
        snprintf(detail, sizeof detail,
                 "application '%s': '%s' is neither a dataset nor a view of directory "
                 "version %llu",
                 app->name, g->dataset, v);
        s_grant_warn(r, cfg, g,
                     "check the id (lienthong directory show), or remove its grant from the "
                     "application",
                     detail);
    } else if (!lt_dir_policy(d, cfg->member, g->dataset)) {
        snprintf(detail, sizeof detail,
                 "application '%s': no policy of directory version %llu lets %s use '%s'",
                 app->name, v, cfg->member, g->dataset);
        s_grant_warn(r, cfg, g,
                     "ask the authority for a policy, or remove its grant from the application",
                     detail);
    } else {
        return 0;
    }
    return 1;
}

/* Fields (purposes set: purposes) granted for a dataset the member's
 * policy on it does not list (the dataset itself is s_check_dataset's). */
static int s_check_ids(lt_check_t *r, const lt_apicfg_t *cfg, const lt_dir_t *d,
                       const lt_apicfg_app_t *app, const lt_apicfg_grant_t *g, int purposes)
{
    const lt_apicfg_id_t *ids = purposes ? g->purposes : g->fields;
    size_t n = purposes ? g->n_purposes : g->n_fields;
    const char *kind = purposes ? "purpose" : "field";
    char detail[DETAIL_MAX];
    int bad = 0;
    if (!lt_dir_policy(d, cfg->member, g->dataset))
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (s_policy_lists(d, cfg->member, g, purposes, ids[i]))
            continue;
        snprintf(detail, sizeof detail,
                 "application '%s': the policy of directory version %llu on '%s' does not "
                 "grant %s the %s '%s'",
                 app->name, (unsigned long long)lt_dir_version(d), g->dataset, cfg->member, kind,
                 ids[i]);
        s_grant_warn(r, cfg, g,
                     purposes ? "check the purpose code, or remove it from the application's "
                                "purposes for this dataset: the gateway refuses it"
                              : "check the field name, or remove it from the application's "
                                "fields for this dataset: the gateway never releases it",
                     detail);
        bad++;
    }
    return bad;
}

/* One line per application: what it is granted, per dataset, then each
 * grant compared with the directory. */
static void s_check_app(lt_check_t *r, const lt_apicfg_t *cfg, const lt_dir_t *d,
                        const lt_apicfg_app_t *app)
{
    int bad = 0;
    for (size_t i = 0; i < app->n_grants; i++) {
        const lt_apicfg_grant_t *g = &app->grants[i];
        bad += s_check_dataset(r, cfg, d, app, g) + s_check_ids(r, cfg, d, app, g, 0) +
               s_check_ids(r, cfg, d, app, g, 1);
    }
    if (bad == 0 && r)
        lt_check_ok(r, "grants", "application '%s': within directory version %llu", app->name,
                    (unsigned long long)lt_dir_version(d));
}

/* The grants against the member's current directory; r NULL: at start,
 * the problems logged. */
static void s_check_grants(lt_check_t *r, const lt_apicfg_t *cfg)
{
    char why[1200], detail[1400];
    if (!cfg->n_apps)
        return;
    lt_dir_t *d = lt_apicheck_directory(cfg, why, sizeof why);
    if (!d) {
        snprintf(detail, sizeof detail, "the applications' grants are not checked: %s", why);
        s_grant_warn(r, cfg, NULL,
                     "run lienthong gateway --config GATEWAY_CONFIG --check, which says what to "
                     "do about the directory",
                     detail);
        return;
    }
    for (size_t i = 0; i < cfg->n_apps; i++)
        s_check_app(r, cfg, d, &cfg->apps[i]);
    lt_dir_destroy(&d);
}

int lt_apicheck_run(const lt_apicfg_t *cfg, FILE *out)
{
    lt_check_t r = {.out = out};
    char err[DETAIL_MAX];
    lt_check_ok(&r, "config", "%zu application(s), gateway %s (%s)", cfg->n_apps, cfg->member,
                cfg->gateway_config);
    (void)lt_apicheck_start(cfg, &r, err, sizeof err); /* each problem is in r */
    s_check_grants(&r, cfg);
    return lt_check_summary(&r, cfg->path, "API");
}

/* lt_api: HTTP routing, authentication, grants, limits and metrics of the
 * HTTP API (see lt_api.h). */
#include "lt_api.h"
#include "lt_apicheck.h"
#include "lt_apiconn.h"
#include "lt_apisum.h"
#include "lt_apiwork.h"
#include "lt_clock.h"
#include "lt_dirpick.h"
#include "lt_apicall.h"
#include "lt_apireq.h"
#include "lt_file.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_stats.h"
#include "lt_stats_prom.h"
#include "lt_tally.h"
#include "lt_valid.h"
#include "lt_wire.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATUS_MS 3000 /* a local status call */
/* libmicrohttpd's threads at most (one per core up to it): each serves
 * many connections, and never waits for the gateway. */
#define LT_API_MAX_THREADS 4
/* Threads for the requests that wait for the gateway besides lookups and
 * verifies (lt_apiwork): profiles, which may wait up to request_timeout_ms
 * for owners; and, apart, so that none queues behind them, pre-fills, read
 * from this member's replicas while the owners are busy or unreachable
 * (docs/api/README.md), and status, readiness and metrics, local calls of
 * at most STATUS_MS that a readiness probe or a scrape makes. */
#define LT_API_PROFILERS    16
#define LT_API_PREFILLERS   4
#define LT_API_PROBERS      4
#define LT_API_POOL_THREADS (LT_API_PROFILERS + LT_API_PREFILLERS + LT_API_PROBERS)
typedef enum { POOL_NONE = -1, POOL_PROFILE, POOL_PREFILL, POOL_PROBE, POOLS } pool_t;
static const unsigned s_pool_threads[POOLS] = {LT_API_PROFILERS, LT_API_PREFILLERS, LT_API_PROBERS};
/* How long a stop waits for the suspended connections to be answered. */
#define LT_API_UNPARK_MS 2000
/* libmicrohttpd's idle timeout, in receive_timeouts: past the deadline of
 * lt_apiconn, which counts and logs each connection it cuts, so that it is
 * the watch that closes a client sending nothing; libmicrohttpd's only
 * ends an answer the client stops reading. */
#define IDLE_FACTOR 2
/* GnuTLS: TLS 1.3, and TLS 1.2 with AEAD ciphers and ephemeral key
 * exchange only (no TLS 1.0 or 1.1, no CBC, no RSA key transport). */
#define TLS_PRIORITIES                                                                             \
    "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:"         \
    "+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA"

/* The refusals a client can repeat in a loop without anyone's leave are
 * counted through lt_tally, so that a retry loop cannot fill the disk: an
 * application's by reason (429 and bad input), and requests without a
 * valid token by client address (docs/operations.md, "Limits of the HTTP
 * API"). */
static const struct {
    const char *reason;
    int status;
} s_summed[] = {
    {"rate_limited", 429}, {"in_flight", 429}, {"bad_request", 400},
    {"malformed", 400},    {"too_large", 413}, {"content_type", 415},
};
#define SUMMED (sizeof s_summed / sizeof s_summed[0])
/* The reasons a request of an application can be refused 403 or its
 * answer trimmed to its grant (s_outside, s_profile_outside,
 * s_prefill_streams, lt_apicall's by_owner ones, s_within_grant's
 * beyond_grant): the keys of the forbidden tally per application. */
#define FORBIDDEN_REASONS 6
/* Texts of libmicrohttpd's messages counted apart; beyond, one count. */
#define MHD_MESSAGES 16

/* A request refused 403, or an answer trimmed to the grant: its
 * particulars, for the log's reports (the forbidden tally). */
typedef struct {
    char app[LT_APICFG_NAME_MAX];
    char why[64];    /* "403 grant_field", or what was trimmed */
    char line[1024]; /* the event in full, logged when first of its key */
    int trimmed;     /* an answer trimmed, not a request refused */
} forbidden_t;

/* A counted refusal's particulars, for its reports. */
typedef struct {
    char app[LT_APICFG_ID_MAX]; /* "" without one */
    char endpoint[32];
    char addr[INET6_ADDRSTRLEN];
    char reason[32];
    char message[256];
    int status;
} refusal_t;

typedef struct {
    double tokens;
    int64_t at_ms;
} bucket_t;

/* One application's running state. Shared, by name, by the snapshots that
 * hold the application, so that a reload keeps an application's bucket and
 * in-flight count; freed with the last snapshot that holds it (a removed
 * application's once its last request has ended). The bucket and count
 * under the API's lock. */
typedef struct {
    bucket_t bucket;
    int in_flight;   /* requests being served */
    atomic_int refs; /* snapshots holding it */
} app_state_t;

/* The applications in force: a configuration's apps and their state (one
 * per app). Only the apps of cfg are read: every other setting is the
 * start's (self->cfg), which a reload does not change.
 *
 * A request uses its application (the name, the grants, the bucket) from its
 * headers until libmicrohttpd says it is complete, across a call to the
 * gateway of up to request_timeout_ms. So a request holds a reference to the
 * snapshot it began with, an atomic count: taken under the API's lock,
 * which keeps the pointer it reads alive until counted, and dropped
 * without it. A reload (SIGHUP, on the main thread) only swaps the pointer
 * under that lock: new requests see the new applications at once, a
 * request in progress finishes under the ones it began with, and the last
 * to drop the old snapshot frees it, holding no lock. A read-write lock
 * held for the request would instead keep the reload waiting for the
 * slowest request, and new requests behind the reload. */
typedef struct {
    const lt_apicfg_t *cfg;
    lt_apicfg_t *owned;  /* cfg when a reload's (freed with the snapshot); NULL: the start's */
    app_state_t **state; /* one per cfg->apps */
    atomic_int refs;     /* the API's, and one per request holding it */
} snap_t;

struct _lt_api_t {
    const lt_apicfg_t *cfg; /* the start's: everything but the applications */
    struct MHD_Daemon *mhd;
    lt_apicall_t *call;
    pthread_mutex_t lock; /* the snapshot in force, app states' counts and the audit file */
    snap_t *snap;         /* the applications in force */
    FILE *audit;
    /* Taken before lock (the reports write the audit file), never after. */
    pthread_mutex_t tally_lock;
    lt_apisum_t refused_sum, unauth_sum; /* how refused's and unauth's reports read */
    lt_tally_t *refused;                 /* by application (or none) and s_summed reason */
    lt_tally_t *unauth;                  /* requests without a valid token, by client address */
    lt_apisum_t forbidden_sum;
    lt_tally_t *forbidden;     /* 403s and trimmed answers, by reason and application: the log's */
    lt_tally_t *mhd_msgs;      /* libmicrohttpd's messages once serving, by their text */
    atomic_int serving;        /* MHD_start_daemon has returned: its messages are about clients */
    atomic_int begun;          /* requests begun (s_uri) and not yet done (s_completed) */
    atomic_int parked;         /* connections suspended: none may be when libmicrohttpd stops */
    atomic_int stopping;       /* past the drain: a worker's job not begun is answered 503 */
    lt_apiwork_t *pool[POOLS]; /* run the requests that block (lt_apiwork.h), by pool_t */
    lt_stats_t *stats;
    lt_stats_family_t *requests, *latency;
    lt_stats_series_t *in_flight;  /* the sum of the app states' in_flight, moved with them */
    lt_stats_series_t *gateway_up; /* 1 when the scrape being written got the gateway's part */
    /* Held from setting gateway_up to writing the exposition, so that two
     * scrapes at once each say what their own call to the gateway got. */
    pthread_mutex_t scrape_lock;
    lt_apiconn_t *conns; /* the deadline of a request's arrival */
    uint8_t *tls_cert, *tls_key;
    size_t tls_key_len;
    char mhd_said[512]; /* libmicrohttpd's last message, under lock: why a start failed */
};

typedef struct route route_t;

/* What a handler answers. */
typedef struct {
    int status;
    const char *reason;   /* for metrics and the audit file */
    json_t *body;         /* JSON answer, or NULL with text set */
    char *text;           /* Prometheus text (malloc'd) */
    const char *text_ptr; /* static text (the OpenAPI document) */
    size_t text_len;
    const char *allow; /* 405: the Allow header */
    int retry_after;   /* 429: seconds */
    int close;         /* the connection closes after the answer */
    char *json;        /* body written out (s_write_body), malloc'd */
} reply_t;

/* Where a request is: its answer is made on the first turn that has it
 * whole, or later, with its connection suspended meanwhile, when it waits
 * for the gateway (a lookup or verify, on lt_apimux's watch) or for a
 * worker (anything else that calls the gateway: lt_apiwork). */
typedef enum { STAGE_RECEIVE, STAGE_QUERY, STAGE_WORK } stage_t;

/* One HTTP request being received. */
typedef struct {
    struct MHD_Connection *conn;
    const char *url;            /* libmicrohttpd's, for a worker */
    const route_t *rt;          /* NULL: no such path */
    snap_t *snap;               /* the applications it began with, held; NULL: none needed */
    const lt_apicfg_app_t *app; /* the application its token names, of snap */
    int in_flight;              /* holds one of the application's in-flight places */
    char *body;
    size_t len;
    int too_large;
    int64_t start_us; /* monotonic: the request's latency */
    int begun;        /* the first call of s_handler is done */
    int nul_path;     /* the raw path has %00: the URL libmicrohttpd unescaped is cut there */
    stage_t stage;
    int parked;         /* suspended, counted in the API's parked */
    int64_t queued_ms;  /* monotonic: when it was handed to the workers */
    reply_t r;          /* the answer, once made */
    lt_apireq_t *q;     /* a lookup or verify under way: the request ... */
    lt_apicall_q_t *qc; /* ... and its call */
    lt_apicall_out_t out;
    char *granted[LT_APICFG_MAX_GRANTS]; /* the fields asked when none were: the grant's */
} req_t;

static void s_error(reply_t *r, int status, const char *reason, const char *code, const char *msg)
{
    r->status = status;
    r->reason = reason;
    r->body = lt_apicall_error(code, "%s", msg);
}

/* The body of a 500 when memory ran out even for lt_apicall_error's. */
static const char S_NOMEM_BODY[] = "{\"error\":\"INTERNAL\",\"message\":\"out of memory\"}";

/* A handler that could not build its answer (memory ran out): a 500 with
 * the usual error body, logged, never the status it meant with an empty
 * body or with parts of the answer missing. */
static void s_no_answer(reply_t *r, const char *endpoint)
{
    lt_error("api", "%s: the %d answer could not be built: out of memory; 500 INTERNAL sent",
             endpoint, r->status);
    s_error(r, 500, "internal", "INTERNAL", "out of memory");
    if (!r->body) {
        r->text_ptr = S_NOMEM_BODY;
        r->text_len = sizeof S_NOMEM_BODY - 1;
    }
}

/* The answer of a call to the gateway (or of its failure): its body taken. */
static void s_reply_out(reply_t *r, const lt_apicall_out_t *out)
{
    r->status = out->status;
    r->reason = out->reason;
    r->body = out->body;
}

/* ---- metrics ---------------------------------------------------------------------- */

static int s_stats_new(lt_api_t *self)
{
    static const lt_stats_def_t req = {.name = "lienthong_http_requests",
                                       .help = "HTTP API requests by endpoint, outcome and reason",
                                       .kind = LT_STATS_COUNTER,
                                       .n_labels = 3,
                                       .labels = {"endpoint", "outcome", "reason"},
                                       .max_series = 512};
    static const lt_stats_def_t lat = {.name = "lienthong_http_request_latency",
                                       .help = "HTTP API request latency by endpoint",
                                       .kind = LT_STATS_HISTOGRAM,
                                       .unit = LT_STATS_UNIT_SECONDS,
                                       .n_labels = 1,
                                       .labels = {"endpoint"},
                                       .max_series = 32};
    /* No application label, as the other lienthong_http_* families
     * (docs/operations.md, "Reloading the HTTP API"): the sum of the
     * counts max_in_flight limits, a removed application's requests with
     * them until they end. */
    static const lt_stats_def_t flight = {
        .name = "lienthong_http_requests_in_flight",
        .help = "HTTP API requests being served, each holding one of its application's "
                "max_in_flight places (given back once its answer is queued, or when its "
                "client goes away before)",
        .kind = LT_STATS_GAUGE};
    /* /metrics answers 200 whether or not the gateway answered, so that
     * Prometheus' `up` says whether the API answers: this says whether the
     * gateway's part is in the exposition, as an exporter's `mysql_up`
     * does (docs/operations.md, "Metrics reference"). */
    static const lt_stats_def_t up = {
        .name = "lienthong_gateway_up",
        .help = "1 when this scrape of the HTTP API got the gateway's statistics; 0 when the "
                "gateway did not answer in time (stopped, hung or not running)",
        .kind = LT_STATS_GAUGE};
    return (self->stats = lt_stats_new()) &&
                   lt_stats_register(self->stats, &req, &self->requests) == 0 &&
                   lt_stats_register(self->stats, &lat, &self->latency) == 0 &&
                   (self->in_flight = lt_stats_register_series(self->stats, &flight, NULL)) &&
                   (self->gateway_up = lt_stats_register_series(self->stats, &up, NULL))
               ? 0
               : -1;
}

static void s_count(lt_api_t *self, const char *endpoint, const reply_t *r, int64_t start_us)
{
    /* A key the owner does not hold is an answer, not a refusal: a
     * refusal-rate alert must not fire on ordinary misses
     * (docs/operations.md, "Metrics reference"). Only a signed answer, or
     * a pre-fill that found nothing, has reason not_found; a dataset the
     * directory does not list is unknown_dataset, a refusal. */
    int missed = r->reason && strcmp(r->reason, "not_found") == 0;
    const char *outcome = missed            ? "not_found"
                          : r->status < 300 ? "ok"
                          : r->status < 500 ? "refused"
                                            : "failed";
    const char *v[3] = {endpoint, outcome, r->reason ? r->reason : "ok"};
    lt_stats_inc(lt_stats_series(self->requests, v));
    /* In microseconds: most answers take under a millisecond, which whole
     * milliseconds put in the first bucket, 1 us. */
    int64_t us = lt_clock_mono_us() - start_us;
    lt_stats_observe_us(lt_stats_series(self->latency, v), (uint64_t)(us < 0 ? 0 : us));
}

/* ---- the API's own audit file ------------------------------------------------------- */

/* Opens the audit file for appending, mode 0600 whatever the umask: it
 * names personal ids, and an API started by hand under umask 022 would
 * make it world-readable. lt_file_private also narrows a file an older
 * version made, as the gateway does for its own files. NULL and errno on
 * failure. */
static FILE *s_audit_open(const char *path)
{
    return lt_file_private(path) == 0 ? fopen(path, "ae") : NULL;
}

/* Appends the JSON object j (consumed; NULL when memory ran out) to the
 * audit file as one line; a record lost is logged with what it was, the
 * refusal of endpoint answered status and reason. */
static void s_audit_line(lt_api_t *self, json_t *j, const char *endpoint, int status,
                         const char *reason)
{
    char *line = j ? json_dumps(j, JSON_COMPACT) : NULL;
    pthread_mutex_lock(&self->lock);
    if (self->audit && !line)
        lt_error("api",
                 "audit file %s: the record of a refusal of %s (%d %s) is lost: out of "
                 "memory",
                 self->cfg->audit_file, endpoint, status, reason ? reason : "");
    else if (self->audit && (fprintf(self->audit, "%s\n", line) < 0 || fflush(self->audit) != 0))
        lt_error("api", "cannot write the audit file %s", self->cfg->audit_file);
    pthread_mutex_unlock(&self->lock);
    free(line);
    json_decref(j);
}

/* One line of the audit file: a refusal (key is the record asked for,
 * when there is one), or with count the summary of as many. */
static void s_audit_json(lt_api_t *self, const char *app, const char *officer, const char *case_ref,
                         const char *endpoint, const char *dataset, const char *key, int status,
                         const char *reason, const char *msg)
{
    s_audit_line(self,
                 json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:s,s:s}", "at_ms",
                           (json_int_t)lt_clock_now_ms(), "application", app ? app : "", "officer",
                           officer ? officer : "", "case_ref", case_ref ? case_ref : "", "endpoint",
                           endpoint, "dataset", dataset ? dataset : "", "key", key ? key : "",
                           "status", status, "reason", reason ? reason : "", "message",
                           msg ? msg : ""),
                 endpoint, status, reason);
}

/* The words of a report of the forbidden tally (lt_apisum), under
 * tally_lock: the log's only; each refusal has its own audit line
 * (s_audit). */
static void s_forbidden_describe(void *arg, const lt_tally_report_t *rep, lt_apisum_text_t *x)
{
    const forbidden_t *f = rep->info;
    (void)arg;
    snprintf(x->first, sizeof x->first, "%s", f->line);
    if (rep->kind == LT_TALLY_OTHERS) {
        snprintf(x->what, sizeof x->what, "requests refused or answers trimmed to a grant");
        snprintf(x->last, sizeof x->last, "'%s', %s", f->app, f->why);
        return;
    }
    snprintf(x->what, sizeof x->what,
             f->trimmed ? "answers to application '%s' trimmed to its grant"
                        : "requests of application '%s' refused",
             f->app);
    snprintf(x->why, sizeof x->why, "%s", f->why);
}

/* Counts, per application and reason, a request refused 403 or an answer
 * trimmed, whose full text is line: the first logged, the others summed
 * up every summary_interval, as a 429 is (s_refused). An application
 * with a wrong grant retries at its rate, each answer alike: one WARN line
 * each would fill the journal with what its first says, and /metrics
 * counts each one. */
static void s_forbidden(lt_api_t *self, const char *app, const char *reason, const char *why,
                        int trimmed, const char *line)
{
    forbidden_t f = {.trimmed = trimmed};
    char key[LT_APICFG_NAME_MAX + 64];
    /* The reason first: names may hold '/'. */
    snprintf(key, sizeof key, "%s/%s", reason, app);
    snprintf(f.app, sizeof f.app, "%s", app);
    snprintf(f.why, sizeof f.why, "%s", why);
    snprintf(f.line, sizeof f.line, "%s", line);
    pthread_mutex_lock(&self->tally_lock);
    lt_tally_note(self->forbidden, key, &f);
    pthread_mutex_unlock(&self->tally_lock);
}

/* Requests the API refuses 403 never reach the gateway (or the owner
 * refused them), so they are recorded here, one JSON object per line of
 * the audit file (docs/ARCHITECTURE.md, "HTTP API"). Each one, unlike a
 * 429 or a bad request: an attempt at a record beyond the grant is what an
 * audit is read for, and only its own line says which officer, case and
 * key; its growth is bounded by the application's rate
 * (docs/operations.md, "Rotating the API's audit file"). The log, read
 * by the operator for what is wrong, gets them summed up (s_forbidden).
 * reason is the metrics' token; message, the answer's, names what was
 * refused (a field, a dataset). */
static void s_audit(lt_api_t *self, const char *app, const char *officer, const char *case_ref,
                    const char *endpoint, const char *dataset, const char *key, const reply_t *r)
{
    const char *msg = json_string_value(json_object_get(r->body, "message"));
    char line[1024], why[64];
    snprintf(line, sizeof line, "refused %s for application '%s' officer '%s': %d %s: %s", endpoint,
             app ? app : "", officer ? officer : "", r->status, r->reason ? r->reason : "",
             msg ? msg : "");
    snprintf(why, sizeof why, "%d %s", r->status, r->reason ? r->reason : "");
    s_forbidden(self, app ? app : "", r->reason ? r->reason : "", why, 0, line);
    s_audit_json(self, app, officer, case_ref, endpoint, dataset, key, r->status, r->reason, msg);
}

/* The summary line of the audit file: count refusals of status and reason,
 * of app or from addr (one of them ""). */
static void s_audit_count(lt_api_t *self, const char *app, const char *addr, int status,
                          const char *reason, uint64_t count)
{
    json_t *j = json_pack("{s:I,s:s,s:s,s:i,s:s,s:I}", "at_ms", (json_int_t)lt_clock_now_ms(),
                          "application", app, "endpoint", "*", "status", status, "reason", reason,
                          "count", (json_int_t)count);
    if (j && addr[0] && json_object_set_new(j, "address", json_string(addr)) != 0) {
        json_decref(j);
        j = NULL;
    }
    s_audit_line(self, j, "*", status, reason);
}

/* The words of a report of the requests without a valid token
 * (lt_apisum), under tally_lock: the first from an address in full, then
 * counts; each also in the audit file. */
static void s_unauth_describe(void *arg, const lt_tally_report_t *rep, lt_apisum_text_t *x)
{
    lt_api_t *self = arg;
    const refusal_t *f = rep->info;
    snprintf(x->first, sizeof x->first, "a request without a valid token from %s (%s)", f->addr,
             f->endpoint);
    snprintf(x->what, sizeof x->what, "requests without a valid token");
    snprintf(x->where, sizeof x->where, " from %s", f->addr);
    snprintf(x->last, sizeof x->last, "%s", f->addr);
    if (rep->kind == LT_TALLY_FIRST)
        s_audit_json(self, NULL, NULL, NULL, f->endpoint, NULL, NULL, f->status, f->reason,
                     f->message);
    else
        s_audit_count(self, "", rep->kind == LT_TALLY_OTHERS ? "others" : f->addr, f->status,
                      f->reason, rep->count);
}

/* A request without a valid token: counted per client address, the first
 * of an address logged and audited in full (the metrics count each one). */
static void s_unauthorized(lt_api_t *self, struct MHD_Connection *c, const char *endpoint,
                           const reply_t *r)
{
    const char *msg = json_string_value(json_object_get(r->body, "message"));
    refusal_t f = {.status = r->status};
    lt_apiconn_addr(c, f.addr);
    snprintf(f.endpoint, sizeof f.endpoint, "%s", endpoint);
    snprintf(f.reason, sizeof f.reason, "%s", r->reason ? r->reason : "");
    snprintf(f.message, sizeof f.message, "%s", msg ? msg : "");
    pthread_mutex_lock(&self->tally_lock);
    lt_tally_note(self->unauth, f.addr, &f);
    pthread_mutex_unlock(&self->tally_lock);
}

/* The words of a report of an application's refusals of one reason
 * (lt_apisum), under tally_lock: the first in full, with why, then counts;
 * each also in the audit file. The table is sized for every application
 * in force (s_refused_fit), but requests begun under an older
 * configuration may still refuse under its names: beyond the table, the
 * others are of any application and reason, so their count names neither
 * (the last one's are said as such). */
static void s_refused_describe(void *arg, const lt_tally_report_t *rep, lt_apisum_text_t *x)
{
    lt_api_t *self = arg;
    const refusal_t *f = rep->info;
    snprintf(x->first, sizeof x->first, "%d %s for application '%s': %s", f->status, f->reason,
             f->app, f->message);
    if (rep->kind == LT_TALLY_OTHERS) {
        snprintf(x->what, sizeof x->what, "refused requests");
        snprintf(x->last, sizeof x->last, "'%s', %d %s", f->app, f->status, f->reason);
        s_audit_count(self, "", "", 0, "others", rep->count);
        return;
    }
    snprintf(x->what, sizeof x->what, "requests of application '%s' refused", f->app);
    snprintf(x->why, sizeof x->why, "%d %s", f->status, f->reason);
    if (rep->kind == LT_TALLY_FIRST)
        s_audit_json(self, f->app, NULL, NULL, f->endpoint, NULL, NULL, f->status, f->reason,
                     f->message);
    else
        s_audit_count(self, f->app, "", f->status, f->reason, rep->count);
}

/* A request of app (NULL: none) refused with 429 or for bad input: counted
 * per application and reason, the first logged and audited in full (the
 * metrics count each one). Other answers pass. */
static void s_refused(lt_api_t *self, const lt_apicfg_app_t *app, const char *endpoint,
                      const reply_t *r)
{
    size_t kind = 0;
    while (kind < SUMMED && (!r->reason || strcmp(r->reason, s_summed[kind].reason) != 0))
        kind++;
    if (kind == SUMMED)
        return;
    const char *msg = json_string_value(json_object_get(r->body, "message"));
    refusal_t f = {.status = r->status};
    /* By name, not by place in a configuration: a reload keeps the counts
     * of an application that remains. The kind first: names may hold '/'. */
    char key[LT_APICFG_NAME_MAX + 32];
    snprintf(key, sizeof key, "%zu/%s", kind, app ? app->name : "");
    snprintf(f.app, sizeof f.app, "%s", app ? app->name : "");
    snprintf(f.endpoint, sizeof f.endpoint, "%s", endpoint);
    snprintf(f.reason, sizeof f.reason, "%s", r->reason);
    snprintf(f.message, sizeof f.message, "%s", msg ? msg : "");
    pthread_mutex_lock(&self->tally_lock);
    lt_tally_note(self->refused, key, &f);
    pthread_mutex_unlock(&self->tally_lock);
}

/* The watch's tick (lt_apiconn): the summaries due, so that a burst's is
 * written within an interval of its end, without waiting for more. */
static void s_tick(void *arg)
{
    lt_api_t *self = arg;
    pthread_mutex_lock(&self->tally_lock);
    lt_tally_tick(self->refused);
    lt_tally_tick(self->unauth);
    lt_tally_tick(self->forbidden);
    lt_tally_tick(self->mhd_msgs);
    pthread_mutex_unlock(&self->tally_lock);
    lt_apicall_tick(self->call);
}

/* ---- descriptors ------------------------------------------------------------------------- */

/* A connection holds its socket only: lookups and verifies share one
 * local connection (lt_apimux), and each worker holds at most one local
 * client (its socket and its signal) while it calls the gateway. The rest
 * (the listener, libmicrohttpd's threads' signals, libzmq's own, the log
 * and audit files) fits in FD_RESERVE. */
#define FDS_PER_CONNECTION 1
#define FD_RESERVE         (64 + 2 * LT_API_POOL_THREADS)
/* Connections libmicrohttpd may hold beyond max_connections (lt_api_new). */
#define MHD_BACKSTOP 8

/* max_connections, lowered to what the descriptor limit (raised to its
 * hard value first) holds: past it, a new socket fails anywhere, in
 * libmicrohttpd's accept as in libzmq. */
static unsigned s_fit_connections(int want)
{
    char why[256];
    uint64_t hard, before, soft = lt_file_raise_nofile(&hard, &before, why, sizeof why);
    if (why[0])
        lt_warn("api", "%s", why);
    uint64_t fit =
        soft > FD_RESERVE + FDS_PER_CONNECTION ? (soft - FD_RESERVE) / FDS_PER_CONNECTION : 1;
    if ((uint64_t)want <= fit)
        return (unsigned)want;
    lt_warn("api",
            "max_connections lowered from %d to %llu to fit the file descriptor limit "
            "(%llu): raise it (LimitNOFILE= in the service unit) to allow more",
            want, (unsigned long long)fit, (unsigned long long)soft);
    return (unsigned)fit;
}

/* ---- the applications in force ---------------------------------------------------------- */

/* The bucket holds a second of the application's rate, and at least one
 * request: a rate below 1/s would otherwise never fill it to one. */
static double s_burst(const lt_apicfg_app_t *app)
{
    return app->rate < 1.0 ? 1.0 : app->rate;
}

/* Drops the reference *snap_p holds (none: NULL); frees the snapshot,
 * and the states only it held, with the last. Needs no lock: a dropped
 * snapshot is no longer the one in force, so nobody takes it again. */
static void s_snap_drop(snap_t **snap_p)
{
    snap_t *snap = *snap_p;
    *snap_p = NULL;
    if (!snap || atomic_fetch_sub(&snap->refs, 1) > 1)
        return;
    for (size_t i = 0; snap->state && i < snap->cfg->n_apps; i++)
        if (snap->state[i] && atomic_fetch_sub(&snap->state[i]->refs, 1) == 1)
            free(snap->state[i]);
    free(snap->state);
    if (snap->owned) {
        lt_apicfg_free(snap->owned);
        free(snap->owned);
    }
    free(snap);
}

/* A snapshot of cfg's applications (owned: freed with it), held once,
 * each sharing the state of the application of the same name in was (NULL
 * at start; held by the caller, so its states stay), or with a full
 * bucket. NULL when out of memory (owned not taken). */
static snap_t *s_snap_new(const lt_apicfg_t *cfg, lt_apicfg_t *owned, const snap_t *was)
{
    snap_t *snap = calloc(1, sizeof *snap);
    if (!snap || !(snap->state = calloc(cfg->n_apps ? cfg->n_apps : 1, sizeof *snap->state))) {
        free(snap);
        return NULL;
    }
    snap->cfg = cfg;
    atomic_init(&snap->refs, 1);
    for (size_t i = 0; i < cfg->n_apps; i++) {
        const lt_apicfg_app_t *same =
            was ? lt_apicfg_app_by_name(was->cfg, cfg->apps[i].name) : NULL;
        app_state_t *st = same ? was->state[same - was->cfg->apps] : calloc(1, sizeof *st);
        if (!st) {
            s_snap_drop(&snap);
            return NULL;
        }
        if (!same)
            st->bucket = (bucket_t){s_burst(&cfg->apps[i]), lt_clock_mono_ms()};
        atomic_fetch_add(&st->refs, 1);
        snap->state[i] = st;
    }
    snap->owned = owned;
    return snap;
}

/* ---- authentication and rate ------------------------------------------------------------ */

/* The state of the request's application. */
static app_state_t *s_state(const req_t *rq)
{
    return rq->snap->state[rq->app - rq->snap->cfg->apps];
}

/* A request for an application, in one critical section: holds the
 * snapshot in force (rq->snap, s_snap_drop), finds the application its
 * token names there (rq->app) and takes one of that application's
 * in-flight places (rq->in_flight, 0 when all are taken). The lock keeps a
 * reload from dropping the snapshot between the read and the count, and
 * counts the places; the token is hashed before, outside it. 1 when the
 * token names an application, 0 (rq->app NULL) when not. */
static int s_admit(lt_api_t *self, struct MHD_Connection *c, req_t *rq)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    uint8_t hash[32];
    int token = h && strncmp(h, "Bearer ", 7) == 0 && lt_apicfg_token_hash(h + 7, hash) == 0;
    pthread_mutex_lock(&self->lock);
    rq->snap = self->snap;
    atomic_fetch_add(&rq->snap->refs, 1);
    rq->app = token ? lt_apicfg_app_by_hash(rq->snap->cfg, hash) : NULL;
    int *n = rq->app ? &s_state(rq)->in_flight : NULL;
    if (n && (rq->in_flight = *n < self->cfg->max_in_flight)) {
        (*n)++;
        lt_stats_shift(self->in_flight, 1);
    }
    pthread_mutex_unlock(&self->lock);
    return rq->app != NULL;
}

/* Token bucket of the request's application: 1 if the request may go now.
 * Not lt_bucket: an application's rate is configured per second and may be
 * fractional (0.5/s), which whole milliseconds per token do not express. */
static int s_rate_ok(lt_api_t *self, const req_t *rq)
{
    const lt_apicfg_app_t *app = rq->app;
    int64_t now = lt_clock_mono_ms();
    pthread_mutex_lock(&self->lock);
    bucket_t *b = &s_state(rq)->bucket;
    b->tokens += (double)(now - b->at_ms) * app->rate / 1000.0;
    if (b->tokens > s_burst(app))
        b->tokens = s_burst(app);
    b->at_ms = now;
    int ok = b->tokens >= 1.0;
    if (ok)
        b->tokens -= 1.0;
    pthread_mutex_unlock(&self->lock);
    return ok;
}

static void s_flight_give(lt_api_t *self, const req_t *rq)
{
    pthread_mutex_lock(&self->lock);
    s_state(rq)->in_flight--;
    lt_stats_shift(self->in_flight, -1);
    pthread_mutex_unlock(&self->lock);
}

/* ---- lookup and verify ---------------------------------------------------------------- */

/* A grant's check of the fields asked: the first not granted. */
typedef struct {
    const lt_apicfg_grant_t *grant;
    const char *refused;
} field_check_t;

/* 1 when the grant does not hold field (set as refused):
 * lt_apireq_each_field stops. */
static int s_field_not_granted(void *arg, const char *field)
{
    field_check_t *k = arg;
    if (lt_apicfg_has(k->grant->fields, k->grant->n_fields, field))
        return 0;
    k->refused = field;
    return 1;
}

/* The 403 message naming what is refused: "the application may not "
 * then fmt with the quoted tokens (cut), in buf; buf. */
__attribute__((format(printf, 3, 4))) static const char *s_refusal(char *buf, size_t len,
                                                                   const char *fmt, ...)
{
    int o = snprintf(buf, len, "the application may not ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + o, len - (size_t)o, fmt, ap);
    va_end(ap);
    return buf;
}

#define TOK(s) lt_valid_cut((s), 128), (s) /* a token for '%.*s' */

/* Why the request is outside the application's grant on its dataset (the
 * fields granted for one dataset are not granted for another), naming the
 * dataset, purpose or field refused, in buf; or NULL. *grant is that
 * grant. */
static const char *s_outside(const lt_apicfg_app_t *app, lt_apireq_t *q, const char **reason,
                             const lt_apicfg_grant_t **grant, char *buf, size_t len)
{
    Lienthong__LookupRequest *lq = lt_apireq_lookup(q);
    Lienthong__VerifyRequest *vq = lt_apireq_verify(q);
    const char *ds = lq ? lq->dataset : vq->dataset, *purpose = lq ? lq->purpose : vq->purpose;
    const lt_apicfg_grant_t *g = *grant = lt_apicfg_grant(app, ds);
    field_check_t k = {g, NULL};
    *reason = "grant_dataset";
    if (!g)
        return s_refusal(buf, len, "use dataset '%.*s'", TOK(ds));
    *reason = "grant_purpose";
    if (!lt_apicfg_has(g->purposes, g->n_purposes, purpose))
        return s_refusal(buf, len, "use purpose '%.*s' with dataset '%.*s'", TOK(purpose), TOK(ds));
    *reason = "grant_field";
    if (lt_apireq_each_field(q, s_field_not_granted, &k))
        return s_refusal(buf, len, "see or claim field '%.*s' of dataset '%.*s'", TOK(k.refused),
                         TOK(ds));
    /* No field named means every field (PROTOCOL.md 7.5): s_query puts the
     * grant's in their place, so there must be some (the configuration
     * refuses a grant without). */
    if (lq && !lq->n_fields && !g->n_fields)
        return s_refusal(buf, len, "see any field of dataset '%.*s': none is granted", TOK(ds));
    return NULL;
}

static int s_prefill_granted(void *arg, const char *stream, const char *field);

/* Keeps the answer within the application's grant, and says when it was
 * not (the owner or the gateway released more than was asked): summed up
 * as the 403s are, since every answer of the same grant is trimmed alike. */
static void s_within_grant(lt_api_t *self, const lt_apicfg_app_t *app, const char *endpoint,
                           const char *dataset, json_t *body)
{
    size_t n = lt_apicall_grant_filter(body, dataset, s_prefill_granted, (void *)app);
    char line[256];
    if (!n)
        return;
    snprintf(line, sizeof line, "%s for application '%s': %zu field(s) beyond its grant not shown",
             endpoint, app->name, n);
    s_forbidden(self, app->name, "beyond_grant", "fields beyond its grant not shown", 1, line);
}

/* The deadline of a query: the one asked for, never over the configured
 * request_timeout_ms, so that a connection (or a worker) is not held
 * longer. */
static int s_timeout(const lt_api_t *self, const lt_apireq_t *q)
{
    int t = lt_apireq_timeout_ms(q), max = self->cfg->request_timeout_ms;
    return t && t < max ? t : max;
}

/* The answer of the lookup or verify in rq, once its call is over. */
static void s_query_done(lt_api_t *self, req_t *rq)
{
    Lienthong__LookupRequest *lq = lt_apireq_lookup(rq->q);
    if (lq && rq->out.body)
        s_within_grant(self, rq->app, "lookup", lq->dataset, rq->out.body);
    s_reply_out(&rq->r, &rq->out);
    rq->out.body = NULL;
    lt_apireq_destroy(&rq->q);
}

/* Begins the lookup or verify in rq's body: 1 when it waits for the
 * gateway (rq->q and rq->qc set), 0 when r is its answer. */
static int s_query(lt_api_t *self, const lt_apicfg_app_t *app, req_t *rq, int is_verify, reply_t *r)
{
    char err[512], buf[512];
    const char *endpoint = is_verify ? "verify" : "lookup", *why, *reason;
    const lt_apicfg_grant_t *grant;
    lt_apireq_t *q =
        lt_apireq_decode(rq->body ? rq->body : "", rq->len, is_verify, err, sizeof err);
    if (!q) {
        s_error(r, 400, "bad_request", "BAD_REQUEST", err);
        return 0;
    }
    Lienthong__LookupRequest *lq = lt_apireq_lookup(q);
    Lienthong__VerifyRequest *vq = lt_apireq_verify(q);
    if ((why = s_outside(app, q, &reason, &grant, buf, sizeof buf))) {
        s_error(r, 403, reason, "FORBIDDEN", why);
        s_audit(self, app->name, lt_apireq_officer(q), lq ? lq->case_ref : vq->case_ref, endpoint,
                lq ? lq->dataset : vq->dataset, lq ? lq->key : NULL, r);
        lt_apireq_destroy(&q);
        return 0;
    }
    /* No fields asked: those granted for this dataset, not every field the
     * member may see (the owner would release all the policy allows). */
    if (lq && !lq->n_fields) {
        for (size_t i = 0; i < grant->n_fields; i++)
            rq->granted[i] = (char *)grant->fields[i];
        lq->fields = rq->granted;
        lq->n_fields = grant->n_fields;
    }
    Lienthong__OnBehalf who = LIENTHONG__ON_BEHALF__INIT;
    who.application = (char *)app->name;
    who.officer = (char *)lt_apireq_officer(q);
    rq->q = q;
    if (lt_apicall_query_begin(self->call, q, &who, s_timeout(self, q), &rq->qc, &rq->out))
        return 1;
    s_query_done(self, rq);
    return 0;
}

/* Takes what the gateway sent for rq's query: 1 while it waits, 0 when
 * rq->r is its answer. */
static int s_query_step(lt_api_t *self, req_t *rq)
{
    if (lt_apicall_query_step(self->call, rq->qc, &rq->out))
        return 1;
    lt_apicall_query_end(self->call, &rq->qc);
    s_query_done(self, rq);
    return 0;
}

/* ---- pre-fill from the replicas (PROTOCOL.md 8.8) ----------------------------------------- */

#define PREFILL_PATH "/v1/prefill/"

/* The query of GET /v1/prefill/{id}: officer (required), purpose
 * (required), case_ref, stream (repeated); anything else is refused. */
typedef struct {
    const char *officer, *purpose, *case_ref, *unknown, *empty, *control, *nul;
    char *streams[LT_PREFILL_MAX_STREAMS];
    size_t n_streams;
    int too_many, not_utf8;
} prefill_q_t;

static enum MHD_Result s_prefill_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    prefill_q_t *q = cls;
    (void)kind;
    /* Decoded from %XX escapes: any bytes at all. A %00 cuts the C string
     * libmicrohttpd gives: the sizes, the decoded lengths, tell. */
    if (strlen(key) != key_size || (value && strlen(value) != value_size))
        q->nul = key;
    else if (!lt_valid_text(key) || (value && !lt_valid_text(value)))
        q->not_utf8 = 1;
    else if (value && !lt_valid_plain(value))
        q->control = key;
    if (!value || !*value)
        q->empty = key;
    else if (strcmp(key, "officer") == 0)
        q->officer = value;
    else if (strcmp(key, "purpose") == 0)
        q->purpose = value;
    else if (strcmp(key, "case_ref") == 0)
        q->case_ref = value;
    else if (strcmp(key, "stream") == 0 && q->n_streams < LT_PREFILL_MAX_STREAMS)
        q->streams[q->n_streams++] = (char *)value;
    else if (strcmp(key, "stream") == 0)
        q->too_many = 1;
    else
        q->unknown = key;
    return MHD_YES;
}

/* Why the query is refused (400), or NULL. */
static const char *s_prefill_bad(const prefill_q_t *q, const char *id, char *buf, size_t len)
{
    if (!*id || strchr(id, '/') || strlen(id) > LT_RECORD_KEY_MAX)
        snprintf(buf, len, "the path must be %s{id}, id 1 to %d bytes", PREFILL_PATH,
                 LT_RECORD_KEY_MAX);
    else if (q->nul)
        snprintf(buf, len, "query parameter '%.*s' holds a NUL byte (%%00)",
                 lt_valid_cut(q->nul, 64), q->nul);
    else if (q->not_utf8 || !lt_valid_text(id))
        snprintf(buf, len, "the path and query must be UTF-8 text");
    else if (!lt_valid_plain(id))
        snprintf(buf, len, "the id must not hold control characters");
    else if (q->unknown)
        snprintf(buf, len, "unknown query parameter '%.*s'", lt_valid_cut(q->unknown, 64),
                 q->unknown);
    else if (q->empty)
        snprintf(buf, len, "query parameter '%.*s' is empty", lt_valid_cut(q->empty, 64), q->empty);
    else if (q->control)
        snprintf(buf, len, "query parameter '%.*s' must not hold control characters",
                 lt_valid_cut(q->control, 64), q->control);
    else if (q->too_many)
        snprintf(buf, len, "at most %d streams", LT_PREFILL_MAX_STREAMS);
    else if (!q->officer || !q->purpose)
        snprintf(buf, len, "the query must name the officer and the purpose");
    else if (strlen(q->officer) > LT_APIREQ_MAX_ID || strlen(q->purpose) > LT_APIREQ_MAX_ID ||
             (q->case_ref && strlen(q->case_ref) > LT_APIREQ_MAX_ID))
        snprintf(buf, len, "officer, purpose and case_ref are at most %d bytes", LT_APIREQ_MAX_ID);
    else
        return NULL;
    return buf;
}

/* 1 when the application's grant on stream lets it use purpose. */
static int s_stream_purpose(const lt_apicfg_app_t *app, const char *stream, const char *purpose)
{
    const lt_apicfg_grant_t *g = lt_apicfg_grant(app, stream);
    return g && lt_apicfg_has(g->purposes, g->n_purposes, purpose);
}

/* The application and purpose of a pre-fill, for s_stream_usable. */
typedef struct {
    const lt_apicfg_app_t *app;
    const char *purpose;
} stream_use_t;

/* 1 when the application may use stream for the purpose (arg, a
 * stream_use_t). */
static int s_stream_usable(void *arg, const char *stream)
{
    const stream_use_t *u = arg;
    return s_stream_purpose(u->app, stream, u->purpose);
}

/* The streams to read: those asked, each granted to the application for
 * the purpose, or else every stream the gateway replicates that is (its
 * status lists them), refused (413) when more than a pre-fill reads.
 * Returns 0 when it may go on, or -1 with the refusal in r. A failed status
 * call is answered as /v1/status answers it: each code with its one status
 * (docs/api/README.md): 504 ERR_TIMEOUT when the gateway took the call but
 * did not answer in time, 503 GATEWAY_UNAVAILABLE when it cannot be reached. */
static int s_prefill_streams(lt_api_t *self, const lt_apicfg_app_t *app, prefill_q_t *q,
                             Lienthong__Envelope **st, reply_t *r, char *buf, size_t len)
{
    lt_apicall_out_t out;
    for (size_t i = 0; i < q->n_streams; i++)
        if (!lt_apicfg_grant(app, q->streams[i])) {
            s_error(r, 403, "grant_dataset", "FORBIDDEN",
                    s_refusal(buf, len, "use stream '%.*s'", TOK(q->streams[i])));
            return -1;
        }
    for (size_t i = 0; i < q->n_streams; i++)
        if (!s_stream_purpose(app, q->streams[i], q->purpose)) {
            s_error(r, 403, "grant_purpose", "FORBIDDEN",
                    s_refusal(buf, len, "use purpose '%.*s' with stream '%.*s'", TOK(q->purpose),
                              TOK(q->streams[i])));
            return -1;
        }
    if (q->n_streams)
        return 0;
    if (!(*st = lt_apicall_status(self->call, STATUS_MS, &out))) {
        s_reply_out(r, &out);
        return -1;
    }
    stream_use_t use = {app, q->purpose};
    if (lt_apicall_prefill_streams((*st)->status_reply, s_stream_usable, &use, q->streams,
                                   &q->n_streams, buf, len) != 0) {
        s_error(r, 413, "too_large", "TOO_LARGE", buf);
        return -1;
    }
    if (q->n_streams)
        return 0;
    s_error(r, 403, "grant_dataset", "FORBIDDEN",
            "the application is granted no stream this member replicates");
    return -1;
}

/* 1 when the application (arg) may see field of stream: granted there. */
static int s_prefill_granted(void *arg, const char *stream, const char *field)
{
    const lt_apicfg_grant_t *g = lt_apicfg_grant(arg, stream);
    return g && lt_apicfg_has(g->fields, g->n_fields, field);
}

static void s_prefill(lt_api_t *self, const lt_apicfg_app_t *app, struct MHD_Connection *c,
                      const char *url, reply_t *r)
{
    prefill_q_t q = {0};
    char buf[512];
    const char *id = url + strlen(PREFILL_PATH), *why;
    Lienthong__Envelope *st = NULL, *env = NULL;
    MHD_get_connection_values_n(c, MHD_GET_ARGUMENT_KIND, s_prefill_arg, &q);
    if ((why = s_prefill_bad(&q, id, buf, sizeof buf))) {
        s_error(r, 400, "bad_request", "BAD_REQUEST", why);
        return;
    }
    if (!lt_apicfg_any_purpose(app, q.purpose)) {
        s_error(r, 403, "grant_purpose", "FORBIDDEN",
                s_refusal(buf, sizeof buf, "use purpose '%.*s'", TOK(q.purpose)));
    } else if (s_prefill_streams(self, app, &q, &st, r, buf, sizeof buf) == 0) {
        Lienthong__PrefillRequest pq = LIENTHONG__PREFILL_REQUEST__INIT;
        Lienthong__OnBehalf who = LIENTHONG__ON_BEHALF__INIT;
        lt_apicall_out_t out;
        size_t found = 0;
        pq.key = (char *)id;
        pq.streams = q.streams;
        pq.n_streams = q.n_streams;
        pq.purpose = (char *)q.purpose;
        pq.case_ref = (char *)(q.case_ref ? q.case_ref : "");
        who.application = (char *)app->name;
        who.officer = (char *)q.officer;
        env = lt_apicall_prefill(self->call, &pq, &who, self->cfg->request_timeout_ms, &out);
        int rc = 0;
        if (env)
            rc = lt_apicall_prefill_json(env->prefill_reply, self->cfg->member, s_prefill_granted,
                                         (void *)app, &found, &out.body, buf, sizeof buf);
        if (rc != 0) {
            char detail[sizeof buf + 128];
            snprintf(detail, sizeof detail, "pre-fill for application %s: %s", app->name, buf);
            lt_apicall_unshown(self->call, &out, rc, detail);
        } else if (env) {
            /* Like a lookup of an unknown key: 404, with the parts. */
            out.status = found ? 200 : 404;
            out.reason = found ? "ok" : "not_found";
        }
        s_reply_out(r, &out);
    }
    if (r->status == 403)
        s_audit(self, app->name, q.officer, q.case_ref, "prefill", NULL, id, r);
    lt_wire_free(&env);
    lt_wire_free(&st);
}

/* ---- profile (PROTOCOL.md 7.7) ------------------------------------------------------------ */

/* Why a profile is outside the application's grants (every part's dataset,
 * the purpose and the part's fields on it), or NULL; *dataset is the part
 * at fault. */
static const char *s_profile_outside(const lt_apicfg_app_t *app, lt_apireq_t *q,
                                     const char **reason, const char **dataset, char *buf,
                                     size_t len)
{
    Lienthong__ProfileRequest *pq = lt_apireq_profile(q);
    *reason = "grant_dataset";
    for (size_t i = 0; i < pq->n_parts; i++)
        if (!lt_apicfg_grant(app, (*dataset = pq->parts[i]->dataset)))
            return s_refusal(buf, len, "use dataset '%.*s'", TOK(*dataset));
    for (size_t i = 0; i < pq->n_parts; i++) {
        const Lienthong__ProfilePart *p = pq->parts[i];
        field_check_t k = {lt_apicfg_grant(app, (*dataset = p->dataset)), NULL};
        *reason = "grant_purpose";
        if (!lt_apicfg_has(k.grant->purposes, k.grant->n_purposes, pq->purpose))
            return s_refusal(buf, len, "use purpose '%.*s' with dataset '%.*s'", TOK(pq->purpose),
                             TOK(p->dataset));
        *reason = "grant_field";
        for (size_t f = 0; f < p->n_fields; f++)
            if (s_field_not_granted(&k, p->fields[f]))
                return s_refusal(buf, len, "see field '%.*s' of dataset '%.*s'", TOK(k.refused),
                                 TOK(p->dataset));
    }
    *dataset = NULL;
    return NULL;
}

static void s_profile(lt_api_t *self, const lt_apicfg_app_t *app, const req_t *rq, reply_t *r)
{
    char err[512], buf[512];
    const char *why, *reason, *dataset;
    lt_apireq_t *q =
        lt_apireq_decode(rq->body ? rq->body : "", rq->len, LT_APIREQ_PROFILE, err, sizeof err);
    if (!q) {
        s_error(r, 400, "bad_request", "BAD_REQUEST", err);
        return;
    }
    Lienthong__ProfileRequest *pq = lt_apireq_profile(q);
    if ((why = s_profile_outside(app, q, &reason, &dataset, buf, sizeof buf))) {
        s_error(r, 403, reason, "FORBIDDEN", why);
        s_audit(self, app->name, lt_apireq_officer(q), pq->case_ref, "profile", dataset, pq->key,
                r);
        lt_apireq_destroy(&q);
        return;
    }
    Lienthong__OnBehalf who = LIENTHONG__ON_BEHALF__INIT;
    who.application = (char *)app->name;
    who.officer = (char *)lt_apireq_officer(q);
    int timeout = s_timeout(self, q);
    lt_apicall_out_t out;
    if (timeout > LT_PROFILE_MAX_MS)
        timeout = LT_PROFILE_MAX_MS;
    /* Its deadline ran while it waited for a worker (lt_apiwork): a profile
     * answers by its timeout_ms (docs/api/README.md), not that long after a
     * worker took it; one left no time is answered at once, which also
     * empties a queue grown behind a slow gateway. */
    int64_t waited = lt_clock_mono_ms() - rq->queued_ms;
    if (waited >= timeout)
        lt_apicall_fail(self->call, &out, 504, "timeout", "ERR_TIMEOUT",
                        "a profile waited for a worker past its timeout_ms (the gateway or "
                        "the owners are slow to answer the API's other profiles)");
    else
        lt_apicall_profile(self->call, pq, &who, timeout - (int)waited, &out);
    if (out.body)
        s_within_grant(self, app, "profile", NULL, out.body);
    s_reply_out(r, &out);
    lt_apireq_destroy(&q);
}

/* ---- datasets, status, health ------------------------------------------------------------ */

static json_t *s_names(char **names, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(names[i]));
    return a;
}

/* The fields or purposes of an application's grant, as configured. */
static json_t *s_ids(const lt_apicfg_id_t *ids, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(ids[i]));
    return a;
}

/* What the member's policy p allows, and what of it the calling application
 * is granted on the same dataset or view (empty lists when not granted). */
static json_t *s_dataset_item(const lt_dir_t *dir, const Lienthong__Policy *p,
                              const lt_apicfg_app_t *app)
{
    const Lienthong__View *v = lt_dir_view(dir, p->target);
    const Lienthong__Dataset *d = lt_dir_dataset(dir, v ? v->dataset : p->target);
    const lt_apicfg_grant_t *g = lt_apicfg_grant(app, p->target);
    json_t *ops = json_array();
    for (size_t i = 0; i < p->n_operations; i++)
        json_array_append_new(ops, json_string(lt_dir_op_name(p->operations[i])));
    return json_pack("{s:s,s:s,s:s,s:s,s:o,s:o,s:o,s:b,s:o,s:o}", "id", p->target, "kind",
                     v ? "view" : "dataset", "owner", d ? d->owner : "", "record_type",
                     d ? d->record_type : "", "operations", ops, "fields",
                     s_names(p->fields, p->n_fields), "purposes",
                     s_names(p->purposes, p->n_purposes), "granted_to_application", g != NULL,
                     "granted_fields", s_ids(g ? g->fields : NULL, g ? g->n_fields : 0),
                     "granted_purposes", s_ids(g ? g->purposes : NULL, g ? g->n_purposes : 0));
}

static void s_datasets(lt_api_t *self, const lt_apicfg_app_t *app, reply_t *r)
{
    char why[512], detail[sizeof why + 16];
    lt_dir_t *dir = lt_apicheck_directory(self->cfg, why, sizeof why);
    if (!dir) { /* why names files of this host: the operator's, not the application's */
        lt_apicall_out_t out;
        snprintf(detail, sizeof detail, "datasets: %s", why);
        lt_apicall_fail(self->call, &out, 503, "directory", "DIRECTORY_UNAVAILABLE", detail);
        s_reply_out(r, &out);
        return;
    }
    const Lienthong__Directory *d = lt_dir_get(dir);
    json_t *items = json_array();
    for (size_t i = 0; i < d->n_policies; i++)
        if (strcmp(d->policies[i]->consumer, self->cfg->member) == 0)
            json_array_append_new(items, s_dataset_item(dir, d->policies[i], app));
    r->status = 200;
    r->reason = "ok";
    r->body = json_pack("{s:s,s:I,s:I,s:o}", "member", self->cfg->member, "directory_version",
                        (json_int_t)lt_dir_version(dir), "directory_expires_at",
                        (json_int_t)lt_dir_expires(dir), "datasets", items);
    lt_dir_destroy(&dir);
}

static void s_status(lt_api_t *self, reply_t *r)
{
    lt_apicall_out_t out;
    Lienthong__Envelope *env = lt_apicall_status(self->call, STATUS_MS, &out);
    if (!env) {
        s_reply_out(r, &out);
        return;
    }
    r->status = 200;
    r->reason = "ok";
    r->body = lt_apicall_status_json(env->status_reply);
    lt_wire_free(&env);
}

/* Writable by its owner (the gateway's user; a root caller's access()
 * would say yes to anything). */
static int s_writable(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && (st.st_mode & S_IWUSR);
}

/* The gateway's own readiness (PROTOCOL.md 8.7), as check "gateway": "ok",
 * or why it cannot serve (its audit log cannot be written). 1 when ready.
 * Not asked when the gateway did not answer the status call just before
 * (answered): a load balancer's probe then waits for one timeout, not two. */
static int s_gateway_ready(lt_api_t *self, json_t *checks, int answered)
{
    lt_apicall_out_t out = {0};
    Lienthong__Envelope *env = answered ? lt_apicall_ready(self->call, STATUS_MS, &out) : NULL;
    int ok = env && env->ready_reply->ready;
    char why[512];
    snprintf(why, sizeof why, "%s", env ? "not ready" : "the gateway does not answer");
    for (size_t i = 0, o = 0; env && i < env->ready_reply->n_problems && o < sizeof why; i++)
        o += (size_t)snprintf(why + o, sizeof why - o, "%s%s", i ? "; " : "",
                              env->ready_reply->problems[i]);
    json_object_set_new(checks, "gateway", json_string(ok ? "ok" : why));
    json_decref(out.body);
    lt_wire_free(&env);
    return ok;
}

static void s_ready(lt_api_t *self, reply_t *r)
{
    char why[512], store[PATH_MAX + 16];
    json_t *checks = json_object();
    int ok = 1;
    lt_dir_t *dir = lt_apicheck_directory(self->cfg, why, sizeof why);
    /* The gateway runs with an expired directory but serves no data to
     * peers (PROTOCOL.md 5.6): not ready. */
    int expired = dir && lt_clock_now_ms() / 1000 >= lt_dir_expires(dir);
    if (expired)
        lt_dirpick_expired_text(dir, why, sizeof why);
    ok &= dir && !expired;
    json_object_set_new(checks, "directory", json_string(dir && !expired ? "ok" : why));
    if (dir)
        json_object_set_new(checks, "directory_expires_in_s",
                            json_integer(lt_dir_expires(dir) - lt_clock_now_ms() / 1000));
    lt_dir_destroy(&dir);
    snprintf(store, sizeof store, "%s/store.db", self->cfg->data_dir);
    int w = s_writable(self->cfg->data_dir) && s_writable(store);
    ok &= w;
    json_object_set_new(checks, "store", json_string(w ? "ok" : "the store is not writable"));
    lt_apicall_out_t out;
    Lienthong__Envelope *env = lt_apicall_status(self->call, STATUS_MS, &out);
    size_t reach = 0;
    for (size_t i = 0; env && i < env->status_reply->n_peers_connected; i++)
        reach += lt_apicfg_has(self->cfg->peers, self->cfg->n_peers,
                               env->status_reply->peers_connected[i]);
    int peers = env && (self->cfg->n_peers == 0 || reach > 0);
    ok &= peers;
    json_object_set_new(checks, "peers",
                        json_string(!env    ? "the gateway does not answer"
                                    : peers ? "ok"
                                            : "no configured peer connected"));
    json_decref(out.body);
    int answered = env != NULL;
    lt_wire_free(&env);
    ok &= s_gateway_ready(self, checks, answered);
    r->status = ok ? 200 : 503;
    r->reason = ok ? "ok" : "unready";
    r->body = json_pack("{s:s,s:o}", "status", ok ? "ready" : "unready", "checks", checks);
}

/* One exposition: this process's HTTP statistics, then the gateway's whole
 * registry (its families never share a name with lienthong_http_*). When
 * the gateway does not answer, its part is left out and
 * lienthong_gateway_up is 0: /readyz says why. */
static void s_metrics(lt_api_t *self, reply_t *r)
{
    size_t len = 0, cap = 0, glen = 0;
    char *gw = NULL;
    lt_apicall_out_t out;
    if (lt_apicall_metrics(self->call, STATUS_MS, &gw, &glen, &out) != 0) {
        lt_debug("api", "no gateway metrics: %s", out.reason ? out.reason : "?");
        json_decref(out.body);
    }
    pthread_mutex_lock(&self->scrape_lock);
    lt_stats_set(self->gateway_up, gw != NULL);
    int rc = lt_stats_prom_write(self->stats, &r->text, &len, &cap);
    pthread_mutex_unlock(&self->scrape_lock);
    if (rc == 0 && gw && len + glen + 1 > cap) {
        char *bigger = realloc(r->text, len + glen + 1);
        rc = bigger ? 0 : -1;
        if (bigger)
            r->text = bigger;
    }
    if (rc == 0 && gw) {
        memcpy(r->text + len, gw, glen + 1);
        len += glen;
    }
    free(gw);
    if (rc != 0) {
        s_error(r, 500, "internal", "INTERNAL", "out of memory");
        return;
    }
    r->status = 200;
    r->reason = "ok";
    r->text_len = len;
}

/* ---- routing ------------------------------------------------------------------------------ */

typedef enum { NEEDS_NOTHING, NEEDS_APP } auth_t;

struct route {
    const char *path, *method, *endpoint;
    auth_t auth;
    int lookup_api; /* part of the lookup API (off when lookup_api = false) */
    int prefix;     /* path is a prefix: the rest of the URL is a parameter */
    pool_t pool;    /* calls the gateway and waits: the threads that serve it, or POOL_NONE */
};

static const route_t s_routes[] = {
    {"/v1/lookup", "POST", "lookup", NEEDS_APP, 1, 0, POOL_NONE},
    {"/v1/verify", "POST", "verify", NEEDS_APP, 1, 0, POOL_NONE},
    {"/v1/profile", "POST", "profile", NEEDS_APP, 1, 0, POOL_PROFILE},
    {"/v1/datasets", "GET", "datasets", NEEDS_APP, 1, 0, POOL_NONE},
    {"/v1/status", "GET", "status", NEEDS_APP, 1, 0, POOL_PROBE},
    {PREFILL_PATH, "GET", "prefill", NEEDS_APP, 1, 1, POOL_PREFILL},
    {"/v1/openapi.json", "GET", "openapi", NEEDS_NOTHING, 1, 0, POOL_NONE},
    {"/healthz", "GET", "healthz", NEEDS_NOTHING, 0, 0, POOL_NONE},
    {"/readyz", "GET", "readyz", NEEDS_NOTHING, 0, 0, POOL_PROBE},
    {"/metrics", "GET", "metrics", NEEDS_NOTHING, 0, 0, POOL_PROBE},
    {NULL, NULL, NULL, NEEDS_NOTHING, 0, 0, POOL_NONE},
};

static const route_t *s_route(const lt_api_t *self, const char *url)
{
    for (const route_t *rt = s_routes; rt->path; rt++)
        if ((rt->prefix ? strncmp(url, rt->path, strlen(rt->path)) == 0
                        : strcmp(url, rt->path) == 0) &&
            (rt->lookup_api ? self->cfg->lookup_api : self->cfg->metrics))
            return rt;
    return NULL;
}

/* Counts the Content-Length headers (cls, an int). */
static enum MHD_Result s_count_length(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    (void)value;
    *(int *)cls += strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0;
    return MHD_YES;
}

/* Why the request's body has no one boundary, or NULL: more than one
 * Content-Length header, which libmicrohttpd accepts, reading the first;
 * or Transfer-Encoding with Content-Length, where libmicrohttpd reads the
 * chunks. A proxy in front that reads the other would see another request
 * boundary (request smuggling): RFC 9112 6.3 makes such a request an error
 * after which the connection closes, as what follows is not known to be a
 * request (docs/operations.md, "Limits of the HTTP API"). */
static const char *s_framing(struct MHD_Connection *c)
{
    int n = 0;
    MHD_get_connection_values(c, MHD_HEADER_KIND, s_count_length, &n);
    if (n > 1)
        return "more than one Content-Length header";
    if (n && MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING))
        return "both Transfer-Encoding and Content-Length headers; send one";
    return NULL;
}

static void s_too_large(const lt_api_t *self, reply_t *r)
{
    char msg[96];
    snprintf(msg, sizeof msg, "the body is larger than %zu bytes", self->cfg->max_body);
    s_error(r, 413, "too_large", "TOO_LARGE", msg);
}

/* The first call, the headers complete: what can be answered before the
 * body is read is answered now (no such path, another method, no valid
 * token, the application's requests all in flight, a declared oversize
 * body), so that a client without a token cannot hold a connection and an
 * in-flight place by sending the body of a /v1 request slowly. (A slow
 * client holds its connection while it sends its headers, until
 * receive_timeout: lt_apiconn.) 1 when r is the answer. */
static int s_early(lt_api_t *self, struct MHD_Connection *c, const char *url, const char *method,
                   req_t *rq, reply_t *r)
{
    const route_t *rt = rq->rt = s_route(self, url);
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *framing = s_framing(c);
    if (rq->nul_path) /* the path routed would be another than the one sent */
        s_error(r, 400, "bad_request", "BAD_REQUEST", "the path holds a NUL byte (%00)");
    else if (framing) {
        s_error(r, 400, "bad_request", "BAD_REQUEST", framing);
        r->close = 1;
    } else if (!rt)
        s_error(r, 404, "no_route", "NOT_FOUND", "no such path; see /v1/openapi.json");
    else if (strcmp(method, rt->method) != 0) {
        s_error(r, 405, "method", "METHOD_NOT_ALLOWED", "this path takes another method");
        r->allow = rt->method;
    } else if (rt->auth == NEEDS_APP && !s_admit(self, c, rq)) {
        s_error(r, 401, "unauthorized", "UNAUTHORIZED",
                "send the application's token as 'Authorization: Bearer TOKEN'");
        s_unauthorized(self, c, rt->endpoint, r);
    } else if (rq->app && !rq->in_flight) {
        s_error(r, 429, "in_flight", "RATE_LIMITED",
                "the application has as many requests in flight as max_in_flight allows");
        r->retry_after = 1;
    } else if (cl && strtoull(cl, NULL, 10) > self->cfg->max_body)
        s_too_large(self, r);
    else
        return 0;
    return 1;
}

/* How s_serve left a request: answered, or waiting for the gateway or a
 * worker. */
typedef enum { SERVED, SERVE_QUERY, SERVE_WORK } serve_t;

/* The requests that block, on a worker's thread (lt_apiwork). */
static void s_serve_blocking(lt_api_t *self, req_t *rq)
{
    const char *e = rq->rt->endpoint;
    reply_t *r = &rq->r;
    if (strcmp(e, "profile") == 0)
        s_profile(self, rq->app, rq, r);
    else if (strcmp(e, "prefill") == 0)
        s_prefill(self, rq->app, rq->conn, rq->url, r);
    else if (strcmp(e, "status") == 0)
        s_status(self, r);
    else if (strcmp(e, "readyz") == 0)
        s_ready(self, r);
    else
        s_metrics(self, r);
}

static serve_t s_serve(lt_api_t *self, struct MHD_Connection *c, const route_t *rt, req_t *rq,
                       reply_t *r)
{
    const lt_apicfg_app_t *app = rq->app;
    if (app && !s_rate_ok(self, rq)) {
        s_error(r, 429, "rate_limited", "RATE_LIMITED", "the application's rate limit is exceeded");
        r->retry_after = 1;
        return SERVED;
    }
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (rt->method[0] == 'P' && (!ct || strncmp(ct, "application/json", 16) != 0)) {
        s_error(r, 415, "content_type", "UNSUPPORTED_MEDIA_TYPE",
                "the body must be JSON (Content-Type: application/json)");
        return SERVED;
    }
    if (strcmp(rt->endpoint, "lookup") == 0 || strcmp(rt->endpoint, "verify") == 0)
        return s_query(self, app, rq, rt->endpoint[0] == 'v', r) ? SERVE_QUERY : SERVED;
    if (rt->pool != POOL_NONE)
        return SERVE_WORK;
    if (strcmp(rt->endpoint, "datasets") == 0)
        s_datasets(self, app, r);
    else if (strcmp(rt->endpoint, "healthz") == 0) {
        r->status = 200;
        r->body = json_pack("{s:s}", "status", "alive");
    } else {
        r->status = 200;
        r->text_ptr = lt_api_openapi;
        r->text_len = lt_api_openapi_len;
    }
    return SERVED;
}

/* The answer's headers: 1, or 0 when libmicrohttpd could not add one. */
static int s_headers(struct MHD_Response *resp, const reply_t *r, const char *type)
{
    int ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type) == MHD_YES;
    ok = ok && MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES;
    if (ok && r->allow)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow) == MHD_YES;
    if (ok && r->retry_after)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1") == MHD_YES;
    if (ok && r->close)
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES;
    if (ok && r->status == 401) /* RFC 9110 15.5.2: a 401 names the scheme to use */
        ok = MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                     "Bearer realm=\"lienthong\"") == MHD_YES;
    return ok;
}

/* Writes the JSON body out before the answer is counted, so that one that
 * cannot be (out of memory) is counted as the 500 it becomes. */
static void s_write_body(reply_t *r)
{
    if (!r->body || (r->json = json_dumps(r->body, JSON_COMPACT)))
        return;
    lt_error("api", "cannot write the body of a %d answer: out of memory; 500 INTERNAL sent",
             r->status);
    json_decref(r->body);
    r->body = NULL;
    r->status = 500;
    r->reason = "internal";
    r->text_ptr = S_NOMEM_BODY;
    r->text_len = sizeof S_NOMEM_BODY - 1;
}

static enum MHD_Result s_send(struct MHD_Connection *c, reply_t *r)
{
    struct MHD_Response *resp;
    const char *type = "application/json";
    if (r->json) {
        resp = MHD_create_response_from_buffer(strlen(r->json), r->json, MHD_RESPMEM_MUST_FREE);
        if (resp)
            r->json = NULL;
    } else if (r->text) {
        type = "text/plain; version=0.0.4; charset=utf-8";
        resp = MHD_create_response_from_buffer(r->text_len, r->text, MHD_RESPMEM_MUST_FREE);
        if (resp)
            r->text = NULL;
    } else {
        resp = MHD_create_response_from_buffer(r->text_len, (void *)r->text_ptr,
                                               MHD_RESPMEM_PERSISTENT);
    }
    if (!resp)
        return MHD_NO;
    /* An answer without its headers would be wrong (a 429 without
     * Retry-After, JSON without its type): none, and the connection closes. */
    if (!s_headers(resp, r, type)) {
        lt_error("api", "cannot add the headers of a %d answer: out of memory", r->status);
        MHD_destroy_response(resp);
        return MHD_NO;
    }
    enum MHD_Result ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

/* Accumulates the body; 1 while more is coming. */
static int s_upload(lt_api_t *self, req_t *rq, const char *data, size_t *size)
{
    if (!*size)
        return 0;
    if (!rq->too_large && rq->len + *size <= self->cfg->max_body) {
        char *nb = realloc(rq->body, rq->len + *size + 1);
        if (nb) {
            memcpy(nb + rq->len, data, *size);
            rq->body = nb;
            rq->len += *size;
            nb[rq->len] = 0;
        } else
            rq->too_large = 1;
    } else
        rq->too_large = 1; /* the rest is read and dropped, then refused */
    *size = 0;
    return 1;
}

/* The answer made: written, counted and queued; the request's place given
 * back. */
static enum MHD_Result s_finish(lt_api_t *self, struct MHD_Connection *c, req_t *rq)
{
    reply_t *r = &rq->r;
    const route_t *rt = rq->rt;
    if (!r->body && !r->text && !r->text_ptr)
        s_no_answer(r, rt ? rt->endpoint : "other");
    s_write_body(r);
    s_count(self, rt ? rt->endpoint : "other", r, rq->start_us);
    s_refused(self, rq->app, rt ? rt->endpoint : "other", r);
    enum MHD_Result ok = s_send(c, r);
    /* Free the place once the answer is queued, not once libmicrohttpd has
     * sent it (as s_completed would): the client may ask again as soon as
     * it has it. */
    if (rq->in_flight)
        s_flight_give(self, rq);
    rq->in_flight = 0;
    json_decref(r->body);
    free(r->text);
    free(r->json);
    *r = (reply_t){0};
    return ok;
}

/* A watched query has something to take (lt_apimux's thread), or a
 * worker has made the answer: the connection is served again. */
static void s_resume(void *arg)
{
    MHD_resume_connection(((req_t *)arg)->conn);
}

/* A job still queued once the drain is over is answered at once: run one
 * round of workers after another, waiting for the gateway each, the jobs
 * queued would hold the stop well past its bound (lt_api_drain). */
/* The answer to a request that finds the API stopping. */
static void s_stopping(reply_t *r)
{
    s_error(r, 503, "stopping", "GATEWAY_UNAVAILABLE", "the HTTP API is stopping");
}

static void s_work(void *arg, void *job)
{
    lt_api_t *self = arg;
    req_t *rq = job;
    if (atomic_load(&self->stopping))
        s_stopping(&rq->r);
    else
        s_serve_blocking(self, rq);
    s_resume(rq);
}

static void s_unpark(lt_api_t *self, req_t *rq)
{
    if (!rq->parked)
        return;
    rq->parked = 0;
    atomic_fetch_sub(&self->parked, 1);
}

/* Suspends the connection until the query has something to take, or the
 * worker has answered. The suspension comes first: a resume may only
 * follow one, and the watch or the worker may fire at once. */
static void s_park(lt_api_t *self, struct MHD_Connection *c, req_t *rq, serve_t how)
{
    int now;
    rq->stage = how == SERVE_QUERY ? STAGE_QUERY : STAGE_WORK;
    rq->queued_ms = lt_clock_mono_ms();
    rq->parked = 1;
    atomic_fetch_add(&self->parked, 1);
    MHD_suspend_connection(c);
    if (how == SERVE_QUERY)
        now = lt_apicall_query_watch(self->call, rq->qc, s_resume, rq);
    else if ((now = lt_apiwork_put(self->pool[rq->rt->pool], rq) != 0))
        s_stopping(&rq->r);
    if (now)
        MHD_resume_connection(c);
}

/* Moves the request on: 1 while it waits (parked), 0 when rq->r is its
 * answer. */
static int s_advance(lt_api_t *self, struct MHD_Connection *c, const char *url, req_t *rq)
{
    if (rq->stage == STAGE_WORK) /* the worker has answered */
        return 0;
    if (rq->stage == STAGE_QUERY) {
        if (!s_query_step(self, rq))
            return 0;
        s_park(self, c, rq, SERVE_QUERY);
        return 1;
    }
    /* Whole, or answered before its body: the request's deadline stops. */
    lt_apiconn_arrived(self->conns, c);
    if (!rq->r.status && rq->too_large)
        s_too_large(self, &rq->r);
    if (rq->r.status)
        return 0;
    serve_t how = s_serve(self, c, rq->rt, rq, &rq->r);
    if (how == SERVED)
        return 0;
    rq->url = url;
    s_park(self, c, rq, how);
    return 1;
}

static enum MHD_Result s_handler(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version, const char *data,
                                 size_t *size, void **con_cls)
{
    lt_api_t *self = cls;
    req_t *rq = *con_cls;
    (void)version;
    if (!rq) /* s_uri had no memory */
        return MHD_NO;
    s_unpark(self, rq); /* called again after a resume */
    if (!rq->begun) {
        rq->begun = 1;
        if (!s_early(self, c, url, method, rq, &rq->r))
            return MHD_YES;
    } else if (s_upload(self, rq, data, size))
        return MHD_YES;
    if (s_advance(self, c, url, rq))
        return MHD_YES;
    return s_finish(self, c, rq);
}

/* The request as libmicrohttpd first sees it, before it unescapes the
 * URL: its state (*con_cls of s_handler), with whether the raw path has a
 * %00, which the unescaped URL no longer shows. NULL when out of memory. */
static void *s_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    req_t *rq = calloc(1, sizeof *rq);
    if (!rq)
        return NULL;
    rq->conn = c;
    rq->start_us = lt_clock_mono_us();
    atomic_fetch_add(&((lt_api_t *)cls)->begun, 1);
    for (const char *p = uri; *p && *p != '?' && !rq->nul_path; p++)
        rq->nul_path = strncmp(p, "%00", 3) == 0;
    return rq;
}

static void s_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                        enum MHD_RequestTerminationCode toe)
{
    lt_api_t *self = cls;
    req_t *rq = *con_cls;
    lt_apiconn_done(self->conns, c);
    if (rq && rq->in_flight) /* never answered: the client went away */
        s_flight_give(self, rq);
    if (rq) {
        s_unpark(self, rq);
        lt_apicall_query_end(self->call, &rq->qc); /* its watch fires no more */
        lt_apireq_destroy(&rq->q);
        json_decref(rq->out.body);
        json_decref(rq->r.body);
        free(rq->r.text);
        free(rq->r.json);
        s_snap_drop(&rq->snap); /* after the place given: it is the snapshot's */
        free(rq->body);
        atomic_fetch_sub(&self->begun, 1);
    }
    free(rq);
    *con_cls = NULL;
}

/* ---- life cycle -------------------------------------------------------------------------- */

static int s_tls(lt_api_t *self, char *err, size_t errlen)
{
    size_t n;
    if (!self->cfg->tls_cert[0])
        return 0;
    /* lt_file_read NUL-terminates: libmicrohttpd takes PEM strings. */
    if (lt_file_read(self->cfg->tls_cert, LT_APICHECK_PEM_MAX, &self->tls_cert, &n) != 0 ||
        lt_file_read(self->cfg->tls_key, LT_APICHECK_PEM_MAX, &self->tls_key, &self->tls_key_len) !=
            0) {
        snprintf(err, errlen, "cannot read the TLS certificate %s or key %s", self->cfg->tls_cert,
                 self->cfg->tls_key);
        return -1;
    }
    return 0;
}

/* A report of libmicrohttpd's messages once serving (lt_tally), under
 * tally_lock: the first of each text at once, then counts. */
static void s_mhd_report(void *arg, const lt_tally_report_t *rep)
{
    lt_api_t *self = arg;
    const char *msg = rep->kind == LT_TALLY_OTHERS ? "(other messages)" : rep->key;
    if (rep->kind == LT_TALLY_FIRST)
        lt_info("api", "libmicrohttpd: %s (more like it are summed up every %lld s)", msg,
                (long long)lt_tally_interval_ms(self->mhd_msgs) / 1000);
    else
        lt_info("api", "libmicrohttpd: %llu more in %lld s: %s", (unsigned long long)rep->count,
                (long long)rep->seconds, msg);
}

/* libmicrohttpd's messages become log lines of the API (member and program
 * named), at INFO. Before it serves, each is written: they say why a start
 * failed, and the last is kept for that error, where it names the system's
 * reason (a bind's errno text). Once it serves they are about clients (a
 * connection closed with its request incomplete, the connection limit, a
 * failed handshake), which any client can repeat in a loop without a
 * token: summed up by their text through lt_tally, as the 401s are, so
 * that they cannot fill the disk (docs/operations.md, "Limits of the HTTP
 * API"). The connections refused at the limits are counted by lt_apiconn,
 * not by these messages' wording. */
/* Its fmt is libmicrohttpd's own format string (checked as such). */
__attribute__((format(printf, 2, 0))) static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    lt_api_t *self = cls;
    char msg[sizeof self->mhd_said];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    if (!atomic_load(&self->serving)) {
        pthread_mutex_lock(&self->lock);
        memcpy(self->mhd_said, msg, sizeof msg);
        pthread_mutex_unlock(&self->lock);
        lt_info("api", "libmicrohttpd: %s", msg);
        return;
    }
    pthread_mutex_lock(&self->tally_lock);
    lt_tally_note(self->mhd_msgs, msg, NULL);
    pthread_mutex_unlock(&self->tally_lock);
}

/* The start's error when libmicrohttpd does not start: the address, and
 * libmicrohttpd's reason (the port is not probed before, docs/operations.md
 * "HTTP API"). */
static void s_mhd_failed(lt_api_t *self, char *err, size_t errlen)
{
    const lt_apicfg_t *cfg = self->cfg;
    pthread_mutex_lock(&self->lock);
    snprintf(err, errlen,
             "%s: cannot listen on %s port %d%s: %s; fix: is this API already running "
             "(systemctl status lienthong-api)? lienthong api --config %s --check says what to "
             "do about the address and port",
             cfg->path, cfg->listen_address, cfg->port, self->tls_cert ? " with TLS" : "",
             self->mhd_said[0] ? self->mhd_said : "libmicrohttpd gave no reason", cfg->path);
    pthread_mutex_unlock(&self->lock);
}

/* The reports of the three tallies through lt_apisum: an application's
 * refusals, the requests without a valid token, the requests outside an
 * application's grants. */
static void s_sums_init(lt_api_t *self, const lt_apicfg_t *cfg, int64_t summary_ms)
{
    self->refused_sum = (lt_apisum_t){.interval_ms = summary_ms,
                                      .max_keys = (cfg->n_apps + 1) * SUMMED,
                                      .others = "of it with this reason",
                                      .keys = "applications and reasons",
                                      .describe = s_refused_describe,
                                      .arg = self};
    self->unauth_sum = (lt_apisum_t){.interval_ms = summary_ms,
                                     .max_keys = LT_APICONN_ADDRS,
                                     .others = "from it",
                                     .keys = "addresses",
                                     .describe = s_unauth_describe,
                                     .arg = self};
    self->forbidden_sum = (lt_apisum_t){.interval_ms = summary_ms,
                                        .max_keys = (cfg->n_apps + 1) * FORBIDDEN_REASONS,
                                        .others = "of it with this reason",
                                        .keys = "applications and reasons",
                                        .describe = s_forbidden_describe,
                                        .arg = self};
}

/* What the API holds while it serves, made before libmicrohttpd starts:
 * the applications' snapshot, the tallies, the pool of calls to the
 * gateway, the statistics and the connection list (with its thread).
 * 0, or -1 when out of memory. */
static int s_parts_new(lt_api_t *self, const lt_apicfg_t *cfg, unsigned conns, int64_t summary_ms)
{
    s_sums_init(self, cfg, summary_ms);
    for (int p = 0; p < POOLS; p++)
        if (!(self->pool[p] =
                  lt_apiwork_new(s_pool_threads[p], conns + MHD_BACKSTOP, s_work, self)))
            return -1;
    if (!(self->snap = s_snap_new(cfg, NULL, NULL)) ||
        !(self->refused = lt_apisum_tally(&self->refused_sum, sizeof(refusal_t))) ||
        !(self->unauth = lt_apisum_tally(&self->unauth_sum, sizeof(refusal_t))) ||
        !(self->forbidden = lt_apisum_tally(&self->forbidden_sum, sizeof(forbidden_t))) ||
        !(self->mhd_msgs = lt_tally_new(summary_ms, MHD_MESSAGES, 0, s_mhd_report, self)) ||
        !(self->call = lt_apicall_new(cfg->local_socket, (int)conns, summary_ms)) ||
        s_stats_new(self) != 0 ||
        !(self->conns = lt_apiconn_new(cfg->receive_timeout * 1000, conns,
                                       (unsigned)cfg->max_connections_per_ip, summary_ms,
                                       self->stats, s_tick, self)))
        return -1;
    return 0;
}

/* libmicrohttpd's threads: one per core, up to LT_API_MAX_THREADS. */
static unsigned s_pool_size(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > LT_API_MAX_THREADS ? LT_API_MAX_THREADS : (unsigned)n;
}

/* Starts libmicrohttpd on the address ss (IPv6 when v6) with room for
 * conns connections. 0, or -1 with err saying why. */
static int s_mhd_start(lt_api_t *self, struct sockaddr_storage *ss, int v6, unsigned conns,
                       char *err, size_t errlen)
{
    const lt_apicfg_t *cfg = self->cfg;
    /* A few threads, each serving its connections in turn with poll()
     * (select() cannot watch a descriptor past FD_SETSIZE; with epoll,
     * libmicrohttpd says nothing of a client that left a request
     * incomplete), and never blocking: a request that
     * waits for the gateway is suspended (s_park). A thread per connection
     * woke twice per lookup and cost four times the CPU of the local API
     * (docs/performance.md, "HTTP API"). MHD_ALLOW_SUSPEND_RESUME brings
     * MHD_USE_ITC, which lt_api_drain's MHD_quiesce_daemon needs too. */
    unsigned flags = MHD_USE_POLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
                     (self->tls_cert ? MHD_USE_TLS : 0);
    /* The limits are lt_apiconn's (its accept policy); libmicrohttpd's
     * own, a few connections above, is a backstop for the moments a
     * connection closed is still its own (the CLOSED notice comes first),
     * within FD_RESERVE. */
    self->mhd = MHD_start_daemon(
        flags, (uint16_t)cfg->port, lt_apiconn_accept, self->conns, s_handler, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self, /* first: it also gets the options' errors */
        MHD_OPTION_SOCK_ADDR, ss, MHD_OPTION_THREAD_POOL_SIZE, s_pool_size(),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)(IDLE_FACTOR * cfg->receive_timeout),
        MHD_OPTION_CONNECTION_LIMIT, conns + MHD_BACKSTOP, MHD_OPTION_NOTIFY_COMPLETED, s_completed,
        self, MHD_OPTION_NOTIFY_CONNECTION, lt_apiconn_notify, self->conns,
        MHD_OPTION_URI_LOG_CALLBACK, s_uri, self,
        self->tls_cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, self->tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, self->tls_key, MHD_OPTION_HTTPS_PRIORITIES, TLS_PRIORITIES,
        MHD_OPTION_END);
    if (!self->mhd) {
        s_mhd_failed(self, err, errlen);
        return -1;
    }
    return 0;
}

/* The API's three mutexes: 0, or -1 with none left made. */
static int s_locks_init(lt_api_t *self)
{
    if (pthread_mutex_init(&self->lock, NULL) != 0)
        return -1;
    if (pthread_mutex_init(&self->tally_lock, NULL) != 0)
        goto lock;
    if (pthread_mutex_init(&self->scrape_lock, NULL) != 0)
        goto tally;
    return 0;
tally:
    pthread_mutex_destroy(&self->tally_lock);
lock:
    pthread_mutex_destroy(&self->lock);
    return -1;
}

lt_api_t *lt_api_new(const lt_apicfg_t *cfg, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    int v6;
    /* What --check checks, so that a configuration it passes starts. */
    if (lt_apicheck_start(cfg, NULL, err, errlen) != 0)
        return NULL;
    lt_api_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    if (s_locks_init(self) != 0) {
        free(self);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (lt_apicheck_address(cfg, &ss, &v6) != 0) {
        snprintf(err, errlen, "%s: listen_address \"%s\" is not a numeric IP address", cfg->path,
                 cfg->listen_address);
        goto fail;
    }
    unsigned conns = s_fit_connections(cfg->max_connections);
    if (s_parts_new(self, cfg, conns, (int64_t)cfg->summary_interval * 1000) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (cfg->audit_file[0] && !(self->audit = s_audit_open(cfg->audit_file))) {
        snprintf(err, errlen, "cannot open the audit file %s: %s", cfg->audit_file,
                 strerror(errno));
        goto fail;
    }
    if (s_tls(self, err, errlen) != 0 || s_mhd_start(self, &ss, v6, conns, err, errlen) != 0)
        goto fail;
    atomic_store(&self->serving, 1);
    return self;
fail:
    lt_api_destroy(&self);
    return NULL;
}

/* A tally's table replaced by one of keys, each with info_size bytes of
 * particulars, reporting through sum (both
 * report through it: the old one has nothing left to report once flushed,
 * and the count of keys it gives is the new table's, and back to the old
 * one's if that cannot be made), under tally_lock. */
static void s_tally_refit(lt_tally_t **t, lt_apisum_t *sum, size_t keys, size_t info_size,
                          size_t n_apps, const char *what)
{
    lt_tally_flush(*t);
    size_t was = sum->max_keys;
    sum->max_keys = keys;
    lt_tally_t *fresh = lt_apisum_tally(sum, info_size);
    if (fresh) {
        lt_tally_destroy(t);
        *t = fresh;
    } else {
        sum->max_keys = was;
        lt_warn("api",
                "out of memory for the %s of %zu applications: those beyond are "
                "summed up together",
                what, n_apps);
    }
}

/* The tables of refusals keep keys by application name until they are
 * idle for a whole interval, and are never emptied by a reload that keeps
 * the names: those of an application renamed or added would stay, and
 * its refusals fall in the others though the table's size was right. So a
 * reload that brings a name the running configuration lacks reports the
 * pending counts and starts new tables (docs/operations.md, "Reloading
 * the HTTP API"), sized for the applications of both configurations:
 * requests begun under the running one still refuse under its names. One
 * that does not bring a new name keeps the tables, whose size covers the
 * names since the last new one, and their counts. A table that cannot be
 * made leaves the old one: what overflows is counted as others. */
static void s_refused_fit(lt_api_t *self, const lt_apicfg_t *run, const lt_apicfg_t *next)
{
    if (!lt_apicfg_apps_added(run, next, NULL, 0))
        return;
    size_t apps = next->n_apps + run->n_apps + 1;
    pthread_mutex_lock(&self->tally_lock);
    s_tally_refit(&self->refused, &self->refused_sum, apps * SUMMED, sizeof(refusal_t),
                  next->n_apps, "refusals");
    s_tally_refit(&self->forbidden, &self->forbidden_sum, apps * FORBIDDEN_REASONS,
                  sizeof(forbidden_t), next->n_apps, "403s and trimmed answers");
    pthread_mutex_unlock(&self->tally_lock);
}

int lt_api_reload(lt_api_t *self, lt_apicfg_t *cfg, char *err, size_t errlen)
{
    char fixed[1024], apps[2048];
    int rc = -1;
    /* What the start checks, on the file as it is now (its grants logged). */
    if (lt_apicheck_start(cfg, NULL, err, errlen) != 0)
        goto out;
    /* Worded as the gateway's reload words its own (lt_gwreload), but by
     * names only: the values are paths, sizes, levels, with no one form. */
    if (lt_apicfg_fixed_changed(self->cfg, cfg, fixed, sizeof fixed))
        lt_warn("api",
                "%s: %s changed: takes effect at the next restart (systemctl restart "
                "lienthong-api); keeping the running value",
                cfg->path, fixed);
    /* Only this thread replaces self->snap, and the API's reference keeps
     * it alive: it is read, and the new one matched against it and built,
     * without the lock, which only the swap takes. */
    snap_t *was = self->snap;
    lt_apicfg_apps_changed(was->cfg, cfg, apps, sizeof apps);
    s_refused_fit(self, was->cfg, cfg);
    snap_t *snap = s_snap_new(cfg, cfg, was);
    if (!snap) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    cfg = NULL; /* the snapshot's */
    pthread_mutex_lock(&self->lock);
    self->snap = snap;
    pthread_mutex_unlock(&self->lock);
    /* The API's reference, outside the lock: the last one frees the old
     * configuration, which requests taking the new one need not wait for. */
    s_snap_drop(&was);
    lt_info("api", "reloaded %s: %s", snap->cfg->path, apps);
    rc = 0;
out:
    if (cfg) {
        lt_apicfg_free(cfg);
        free(cfg);
    }
    return rc;
}

/* The connection threads write the audit file a line at a time under
 * lock, each line flushed (s_audit_line): the new file is opened without
 * the lock, swapped in under it, and the old one closed after, when no
 * thread can hold it any more and nothing of it is left buffered. */
int lt_api_reopen(lt_api_t *self, char *err, size_t errlen)
{
    const char *path = self->cfg->audit_file;
    if (!self->audit) /* none configured; only this thread changes it */
        return 0;
    FILE *f = s_audit_open(path);
    if (!f) {
        snprintf(err, errlen,
                 "cannot reopen the audit file %s: %s; still writing to the file open before "
                 "(the rotated one, if it was renamed)",
                 path, strerror(errno));
        return -1;
    }
    pthread_mutex_lock(&self->lock);
    FILE *was = self->audit;
    self->audit = f;
    pthread_mutex_unlock(&self->lock);
    /* Its lines were flushed as written: a failure here loses none. */
    if (fclose(was) != 0)
        lt_warn("api", "closing the audit file open before %s was reopened: %s", path,
                strerror(errno));
    lt_info("api", "reopened the audit file %s", path);
    return 0;
}

/* MHD_stop_daemon shuts every connection down, a request being served
 * included: its client got no answer (a reset) while the stop waited for
 * the gateway's anyway. So the listener closes first, and the requests
 * begun are left to be answered and sent, within a bound. */
void lt_api_drain(lt_api_t *self)
{
    if (!self || !self->mhd)
        return;
    MHD_socket fd = MHD_quiesce_daemon(self->mhd);
    if (fd == MHD_INVALID_SOCKET)
        lt_warn("api", "cannot stop taking connections before stopping; requests being served "
                       "are cut");
    else
        close(fd);
    int max_ms = self->cfg->request_timeout_ms + LT_API_DRAIN_GRACE_MS;
    if (max_ms > LT_API_DRAIN_MAX_MS)
        max_ms = LT_API_DRAIN_MAX_MS;
    int64_t end = lt_clock_mono_ms() + max_ms;
    int n = atomic_load(&self->begun);
    if (n > 0)
        lt_info("api", "stopping: %d request(s) begun, waiting up to %d ms for their answers", n,
                max_ms);
    while ((n = atomic_load(&self->begun)) > 0 && lt_clock_mono_ms() < end)
        usleep(20000);
    if (n > 0)
        lt_warn("api", "stopping with %d request(s) unanswered after %d ms", n, max_ms);
}

/* No connection may be suspended when libmicrohttpd stops: the workers
 * finish the jobs they run, those queued and every call still waiting
 * fail, and their connections are answered (503) before it does. The workers' pool stays
 * until libmicrohttpd has stopped: a kept-alive connection may still ask
 * for a job until then, and is answered 503 (s_park). */
static void s_unpark_all(lt_api_t *self)
{
    atomic_store(&self->stopping, 1);
    for (int p = 0; p < POOLS; p++)
        lt_apiwork_stop(self->pool[p]);
    lt_apicall_close(self->call, "the HTTP API is stopping");
    int64_t end = lt_clock_mono_ms() + LT_API_UNPARK_MS;
    while (atomic_load(&self->parked) > 0 && lt_clock_mono_ms() < end)
        usleep(2000);
    if (atomic_load(&self->parked) > 0)
        lt_warn("api", "stopping with %d connection(s) still suspended after %d ms",
                atomic_load(&self->parked), LT_API_UNPARK_MS);
}

void lt_api_destroy(lt_api_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_api_t *self = *self_p;
    s_unpark_all(self);
    if (self->mhd)
        MHD_stop_daemon(self->mhd);
    for (int p = 0; p < POOLS; p++)
        lt_apiwork_destroy(&self->pool[p]);
    /* After the daemon (no connection, no refusal left) and the watch (no
     * tick): the summaries the next interval would have written. */
    lt_apiconn_destroy(&self->conns);
    if (self->refused)
        lt_tally_flush(self->refused);
    if (self->unauth)
        lt_tally_flush(self->unauth);
    if (self->forbidden)
        lt_tally_flush(self->forbidden);
    if (self->mhd_msgs)
        lt_tally_flush(self->mhd_msgs);
    lt_tally_destroy(&self->refused);
    lt_tally_destroy(&self->unauth);
    lt_tally_destroy(&self->forbidden);
    lt_tally_destroy(&self->mhd_msgs);
    lt_apicall_destroy(&self->call);
    lt_stats_destroy(&self->stats);
    if (self->audit)
        fclose(self->audit);
    s_snap_drop(&self->snap);
    free(self->tls_cert);
    if (self->tls_key) /* no private key left in freed memory */
        sodium_memzero(self->tls_key, self->tls_key_len);
    free(self->tls_key);
    pthread_mutex_destroy(&self->scrape_lock);
    pthread_mutex_destroy(&self->tally_lock);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

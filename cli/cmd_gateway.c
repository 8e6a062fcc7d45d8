/* cmd_gateway: `lienthong gateway` runs the daemon; `lienthong status`
 * asks the local gateway over its ipc socket (lt_client) for its status or,
 * with --metrics, its statistics as Prometheus text (PROTOCOL.md 8.6). */
#include "lt_cli.h"
#include "lt_client.h"
#include "lt_clock.h"
#include "lt_gwcfg.h"
#include "lt_gateway.h"
#include "lt_gwcheck.h"
#include "lt_log.h"
#include "lt_wire.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *USAGE_GW = "lienthong gateway --config FILE [--check]";
static const char *USAGE_ST = "lienthong status --config FILE [--metrics]";

/* Shared: parse --config FILE [--FLAG], FLAG being "check" or "metrics". */
static int s_config_arg(int argc, char **argv, const char *usage, const char **config,
                        const char *flag, int *check)
{
    const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                  {flag, no_argument, 0, 'k'},
                                  {"help", no_argument, 0, 'h'},
                                  {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":c:h", opts)) != -1) {
        if (c == 'c')
            *config = optarg;
        else if (c == 'k' && check)
            *check = 1;
        else if (c == 'h') {
            printf("usage: %s\n", usage);
            return 0;
        } else
            return lt_cli_bad_opt(argv[0], c, opts, argv, usage);
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], usage);
    if (!*config)
        return lt_cli_fail(2, argv[0], "missing --config FILE\nusage: %s", usage);
    return -1; /* go on */
}

int lt_cmd_gateway(int argc, char **argv)
{
    const char *config = NULL;
    int check = 0;
    int rc = s_config_arg(argc, argv, USAGE_GW, &config, "check", &check);
    if (rc >= 0)
        return rc;
    static lt_gwcfg_t cfg; /* large: keep it off the stack */
    char err[1024];
    if (lt_gwcfg_load(config, &cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, "gateway", "%s", err);
    lt_log_set_program("lienthong-gateway");
    lt_log_set_member(cfg.member);
    lt_log_set_level(cfg.log_level);
    lt_log_set_format(cfg.log_format);
    lt_gwcfg_warn(&cfg);
    if (check)
        return lt_gwcheck_run(&cfg, stdout);
    lt_gateway_t *gw = lt_gateway_new(&cfg, err, sizeof err);
    if (!gw) {
        lt_error("gateway", "cannot start: %s", err);
        return 1;
    }
    rc = lt_gateway_run(gw) == 0 ? 0 : 1;
    lt_gateway_destroy(&gw);
    return rc;
}

/* A stream's history (PROTOCOL.md 6.9) and, when not ok, its feed's state. */
static void s_print_history(const Lienthong__StreamHistory *h)
{
    if (!h)
        return;
    printf("    history ");
    for (size_t i = 0; i < h->id.len; i++)
        printf("%02x", h->id.data[i]);
    printf("%s", h->id.len ? "" : "none");
    if (h->state && h->state[0] && strcmp(h->state, "ok") != 0)
        printf(" %s: %s", h->state, h->detail ? h->detail : "");
    printf("\n");
}

/* "2026-01-31 00:00:00 UTC" for unix ms, or "never" for 0. */
static const char *s_when(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0)
        return "never";
    /* A time from the gateway may be past the calendar: lt_clock says so. */
    return lt_clock_utc_spaced(ms / 1000, buf, len);
}

static void s_print_directory(const Lienthong__StatusReply *r)
{
    char when[40];
    int64_t left = r->directory_expires_at - (int64_t)time(NULL);
    lt_clock_utc_spaced(r->directory_expires_at, when, sizeof when);
    /* Before the expiry: the first thing an operator must act on (5.4). */
    if (r->member_status && r->member_status[0])
        printf("member %s is %s %s directory version %" PRIu64 ": no data is served to peers "
               "and no requests are made until a directory lists it active\n",
               r->member, r->member_status,
               strcmp(r->member_status, "removed") == 0 ? "from" : "in", r->directory_version);
    if (r->directory_expired)
        printf("directory EXPIRED at %s: no data is served to peers until a newer directory is "
               "adopted\n",
               when);
    else if (r->directory_expires_at)
        printf("directory expires at %s (in %lld d %lld h)\n", when, (long long)(left / 86400),
               (long long)(left % 86400 / 3600));
}

#define STATUS_CLOCK_MS 1000

/* ", clock +2.4 s" after a peer whose clock is a second or more from the
 * gateway's (PROTOCOL.md 5.1, STATUS_CLOCK_MS): less is within what the estimate can tell
 * on a slow network, and would be noise on every line;
 * lienthong_peer_clock_offset_seconds has every figure. */
static void s_print_clock(const Lienthong__PeerStatus *p)
{
    int64_t ms = p->clock_offset_ms;
    if (p->clock_offset_known && (ms >= STATUS_CLOCK_MS || ms <= -STATUS_CLOCK_MS))
        printf(", clock %+.1f s", (double)ms / 1000.0);
}

static void s_print_peers(const Lienthong__StatusReply *r)
{
    char when[40];
    /* The list of connected members keeps its one-name lines: scripts wait
     * on them (docs/operations.md); the detail of every peer follows. */
    printf("peers connected: %zu\n", r->n_peers_connected);
    for (size_t i = 0; i < r->n_peers_connected; i++)
        printf("  %s\n", r->peers_connected[i]);
    for (size_t i = 0; i < r->n_peers; i++) {
        const Lienthong__PeerStatus *p = r->peers[i];
        printf("peer %s: %s %s, directory v%" PRIu64, p->member,
               p->connected ? "connected since" : "DISCONNECTED, last heard",
               s_when(p->since_ms, when, sizeof when), p->directory_version);
        s_print_clock(p);
        printf("\n");
    }
}

/* What adapters may use here (PROTOCOL.md 8.3): the datasets a source may
 * publish, and what else a sink may attach to. One name a line, as the
 * peers above. A gateway that predates the list sends none. */
static void s_print_list(const char *what, char *const *names, size_t n)
{
    printf("%s: %zu\n", what, n);
    for (size_t i = 0; i < n; i++)
        printf("  %s\n", names[i]);
}

static void s_print_grants(const Lienthong__LocalGrants *g)
{
    if (!g)
        return;
    s_print_list("datasets owned", g->datasets, g->n_datasets);
    s_print_list("views owned", g->views, g->n_views);
    s_print_list("streams replicated", g->replicated, g->n_replicated);
}

/* The quality figures of a stream: how complete and live it is
 * (PROTOCOL.md 8.9: its current records, the age of its newest change, per
 * field the share of the records holding a value) and how clean (5.7: the
 * changes each rule refused). */
static void s_print_quality(const Lienthong__StreamStatus *s)
{
    char when[40];
    const Lienthong__StreamCompleteness *c = s->completeness;
    int64_t age = s->newest_change_ms ? lt_clock_now_ms() - s->newest_change_ms : 0;
    printf("    records %" PRIu64 ", newest change %s", c ? c->records : 0,
           s_when(s->newest_change_ms, when, sizeof when));
    if (s->newest_change_ms)
        printf(" (%.1f s ago)", age > 0 ? (double)age / 1000.0 : 0.0);
    printf("\n");
    for (size_t i = 0; c && i < c->n_fields; i++) {
        const Lienthong__FieldPresence *f = c->fields[i];
        /* Tenths of a percent rounded down: 100.0% only when every record has it. */
        uint64_t tenths = c->records ? f->present * 1000 / c->records : 0;
        printf("      field %-24s present %" PRIu64 "/%" PRIu64 " (%" PRIu64 ".%" PRIu64 "%%)\n",
               f->field, f->present, c->records, tenths / 10, tenths % 10);
    }
    /* Clean: what the owner's rules refused (PROTOCOL.md 5.7). */
    for (size_t j = 0; j < s->n_refusals; j++)
        printf("    refused by rule %-28s %" PRIu64 "\n", s->refusals[j]->rule,
               s->refusals[j]->count);
}

static int s_print_status(const Lienthong__StatusReply *r)
{
    char when[40];
    printf("member %s, directory version %" PRIu64 ", refused messages %" PRIu64 "\n", r->member,
           r->directory_version, r->refused);
    s_print_directory(r);
    s_print_peers(r);
    s_print_grants(r->grants);
    for (size_t i = 0; i < r->n_streams; i++) {
        const Lienthong__StreamStatus *s = r->streams[i];
        printf("%s %s: last seq %" PRIu64 ", %.0f records/s, log kept from seq %" PRIu64 "\n",
               s->role, s->stream, s->last_seq, s->records_per_sec, s->retained_first);
        s_print_history(s->history);
        /* Damage known to the gateway (PROTOCOL.md 6.10): a replica repairs
         * it by itself, an owner's needs the operator. */
        if (s->damaged)
            printf("    DAMAGED records %" PRIu64 "..%" PRIu64 " in the store, not delivered: %s\n",
                   s->damaged->first_seq, s->damaged->last_seq,
                   strcmp(s->role, "replica") == 0 ? "awaiting repair from the owner"
                                                   : "see docs/operations.md \"Damaged store\"");
        s_print_quality(s);
        for (size_t j = 0; j < s->n_subscribers; j++) {
            const Lienthong__SubscriberStatus *sub = s->subscribers[j];
            printf("    subscriber %-16s cursor %" PRIu64 " lag %" PRIu64, sub->member, sub->cursor,
                   sub->lag);
            /* Negative: no record it lacks could be read (PROTOCOL.md 8.9). */
            if (sub->lag_seconds < 0)
                printf(" (age unknown)");
            else
                printf(" (%.1f s)", sub->lag_seconds);
            if (sub->disconnected)
                printf(" DISCONNECTED since %s (%s)",
                       s_when(sub->disconnected_since_ms, when, sizeof when), sub->reason);
            printf("\n");
        }
    }
    return 0;
}

/* Asks whether the gateway can serve (PROTOCOL.md 8.7) and prints why not.
 * 0 ready, 3 not ready, 1 when it cannot be asked. A gateway that predates
 * the question answers ERR_UNSUPPORTED: nothing to add then. */
static int s_print_ready(lt_client_t *c)
{
    Lienthong__ReadyRequest q = LIENTHONG__READY_REQUEST__INIT;
    Lienthong__Envelope *rep = NULL;
    char err[512];
    int rc = 1;
    if (lt_client_send(c, LIENTHONG__ENVELOPE__BODY_READY_REQUEST, &q, 3000, err, sizeof err) !=
            0 ||
        lt_client_recv(c, 3000, &rep, err, sizeof err) != 0) {
        lt_cli_fail(1, "status", "%s", err);
    } else if (rep->body_case == LIENTHONG__ENVELOPE__BODY_READY_REPLY) {
        printf("ready: %s\n", rep->ready_reply->ready ? "yes" : "NO");
        for (size_t i = 0; i < rep->ready_reply->n_problems; i++)
            printf("  %s\n", rep->ready_reply->problems[i]);
        rc = rep->ready_reply->ready ? 0 : 3;
    } else {
        rc = rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
                     rep->error->code == LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED
                 ? 0
                 : 1;
        if (rc)
            lt_cli_fail(1, "status", "unexpected %s from the gateway",
                        lt_wire_body_name(rep->body_case));
    }
    lt_wire_free(&rep);
    return rc;
}

int lt_cmd_status(int argc, char **argv)
{
    const char *config = NULL;
    int metrics = 0;
    int rc = s_config_arg(argc, argv, USAGE_ST, &config, "metrics", &metrics);
    if (rc >= 0)
        return rc;
    static lt_gwcfg_t cfg;
    char err[1024];
    if (lt_gwcfg_load(config, &cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, "status", "%s", err);
    lt_client_t *c = lt_client_new(cfg.local_socket, NULL, err, sizeof err);
    Lienthong__StatusRequest sreq = LIENTHONG__STATUS_REQUEST__INIT;
    Lienthong__MetricsRequest mreq = LIENTHONG__METRICS_REQUEST__INIT;
    Lienthong__Envelope *rep = NULL;
    rc = 1;
    if (!c ||
        lt_client_send(c,
                       metrics ? LIENTHONG__ENVELOPE__BODY_METRICS_REQUEST
                               : LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST,
                       metrics ? (void *)&mreq : (void *)&sreq, 3000, err, sizeof err) != 0 ||
        lt_client_recv(c, 3000, &rep, err, sizeof err) != 0)
        lt_cli_fail(1, "status", "%s", err);
    else if (rep->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY && !metrics)
        rc = s_print_status(rep->status_reply) ? 1 : s_print_ready(c);
    else if (rep->body_case == LIENTHONG__ENVELOPE__BODY_METRICS_REPLY && metrics)
        rc = fputs(rep->metrics_reply->text, stdout) < 0 ? 1 : 0;
    else if (rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        lt_cli_fail(1, "status", "the gateway answered %s: %s",
                    lt_wire_error_name(rep->error->code), rep->error->message);
    else
        lt_cli_fail(1, "status", "unexpected %s from the gateway",
                    lt_wire_body_name(rep->body_case));
    lt_wire_free(&rep);
    lt_client_destroy(&c);
    return rc;
}

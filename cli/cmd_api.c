/* cmd_api: `lienthong api`, the HTTP/JSON API for agency applications
 * (docs/ARCHITECTURE.md, "HTTP API"), and `lienthong api token`, which makes
 * an application's token: shown once, stored only as its hash. */
#include "lt_api.h"
#include "lt_apicheck.h"
#include "lt_apicfg.h"
#include "lt_cli.h"
#include "lt_log.h"
#include "lt_notify.h"

#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *USAGE = "lienthong api --config FILE [--check]\n"
                           "       lienthong api token --app NAME";

static volatile sig_atomic_t s_stop, s_hup;

static void s_on_signal(int sig)
{
    if (sig == SIGHUP)
        s_hup = 1;
    else
        s_stop = sig;
}

static int s_token(int argc, char **argv)
{
    static const struct option opts[] = {{"app", 1, 0, 'a'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *app = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":", opts)) != -1) {
        if (c == 'a')
            app = optarg;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE);
            return 0;
        } else
            return lt_cli_bad_opt("api token", c, opts, argv, USAGE);
    }
    if (optind < argc)
        return lt_cli_bad_arg("api token", argv[optind], USAGE);
    if (!app || !app[0] || strlen(app) >= LT_APICFG_NAME_MAX)
        return lt_cli_fail(2, "api token", "--app NAME is required (at most %d bytes)\nusage: %s",
                           LT_APICFG_NAME_MAX - 1, USAGE);
    if (sodium_init() < 0)
        return lt_cli_fail(1, "api token", "libsodium unavailable");
    char token[65], hash[65];
    lt_apicfg_token_generate(token, hash);
    printf("token for %s (give it to the application; it is not stored and not shown again):\n"
           "%s\n\nadd to the API configuration's apps:\n"
           "  { name = \"%s\"; token_hash = \"%s\"; rate = 50;\n"
           "    grants = ( { dataset = \"...\"; fields = [...]; purposes = [...]; } ); }\n",
           app, token, app, hash);
    sodium_memzero(token, sizeof token);
    return 0;
}

/* SIGHUP: the audit file reopened (after logrotate renamed it), then
 * config re-read and checked as at start; its applications swapped in, or,
 * when it does not load, the running ones kept and why logged
 * (docs/operations.md, "Reloading the HTTP API" and "Rotating the API's
 * audit file"). The reopening comes first and whatever the file holds: a
 * rotation must not wait for a configuration being edited to load. */
static void s_reload(lt_api_t *api, const char *config)
{
    static char err[10000];
    lt_info("api", "SIGHUP: re-reading %s", config);
    lt_notify_reloading();
    if (lt_api_reopen(api, err, sizeof err) != 0)
        lt_error("api", "SIGHUP: %s", err);
    lt_apicfg_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        snprintf(err, sizeof err, "out of memory");
    else if (lt_apicfg_load(config, cfg, err, sizeof err) != 0) {
        lt_apicfg_free(cfg);
        free(cfg);
        cfg = NULL;
    }
    if (!cfg || lt_api_reload(api, cfg, err, sizeof err) != 0)
        lt_error("api", "SIGHUP: %s not reloaded, the running configuration stays in force: %s",
                 config, err);
    lt_notify_ready(NULL);
}

static char s_err[10000]; /* a start-up problem quotes paths, owners and modes */

/* Loads config into cfg and sets the log up from it: 0, or the exit
 * status after saying why (1 no libsodium, 2 a bad configuration). */
static int s_configure(const char *config, lt_apicfg_t *cfg)
{
    if (sodium_init() < 0)
        return lt_cli_fail(1, "api", "libsodium unavailable");
    if (lt_apicfg_load(config, cfg, s_err, sizeof s_err) != 0) {
        lt_apicfg_free(cfg);
        return lt_cli_fail(2, "api", "%s", s_err);
    }
    /* member= is the gateway's member, as in every other program's lines,
     * so that a shipper filtering on member sees the API too. */
    lt_log_set_program("lienthong-api");
    lt_log_set_member(cfg->member);
    lt_log_set_level(cfg->log_level);
    lt_log_set_format(cfg->log_format);
    return 0;
}

/* The handlers, and the mask *wait to wait with: 0, or -1 after saying so. */
static int s_signals(sigset_t *wait)
{
    signal(SIGPIPE, SIG_IGN);
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    /* SIGHUP (`systemctl reload`) re-reads the configuration's applications
     * (s_reload), on this thread, between two waits. */
    sigaction(SIGHUP, &sa, NULL);
    /* SIGTERM, SIGINT and SIGHUP stay blocked but in sigsuspend (s_serve),
     * which unblocks them and waits in one step: a signal arriving between
     * the check of s_stop and the wait is kept pending, not lost. Blocked
     * before lt_api_new, its threads inherit the mask: the signal wakes this
     * one. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &stop, wait) != 0) {
        lt_cli_fail(1, "api", "cannot block SIGTERM, SIGINT and SIGHUP");
        return -1;
    }
    sigdelset(wait, SIGTERM);
    sigdelset(wait, SIGINT);
    sigdelset(wait, SIGHUP);
    return 0;
}

/* Serves until SIGTERM or SIGINT, reloading on SIGHUP; then drains the
 * requests in flight. 0, or 1 when the API cannot start. */
static int s_serve(lt_apicfg_t *cfg, const char *config, const sigset_t *wait)
{
    lt_api_t *api = lt_api_new(cfg, s_err, sizeof s_err);
    if (!api)
        return lt_cli_fail(1, "api", "%s", s_err);
    char status[300];
    snprintf(status, sizeof status, "serving %s on %s port %d%s for %zu application(s)",
             cfg->lookup_api ? "the lookup API" : "metrics and health", cfg->listen_address,
             cfg->port, cfg->tls_cert[0] ? " (TLS)" : "", cfg->n_apps);
    lt_info("api", "%s", status);
    lt_notify_ready(status); /* Type=notify: started once it listens */
    while (!s_stop) {
        sigsuspend(wait); /* returns -1 EINTR once a handler ran */
        if (s_hup) {
            s_hup = 0;
            s_reload(api, config);
        }
    }
    lt_info("api", "stopping");
    lt_notify_stopping();
    lt_api_drain(api);
    lt_api_destroy(&api);
    return 0;
}

static int s_run(const char *config, int check)
{
    static lt_apicfg_t cfg;
    sigset_t wait;
    int rc = s_configure(config, &cfg);
    if (rc != 0)
        return rc;
    if (check) {
        rc = lt_apicheck_run(&cfg, stdout);
        lt_apicfg_free(&cfg);
        return rc;
    }
    rc = s_signals(&wait) == 0 ? s_serve(&cfg, config, &wait) : 1;
    lt_apicfg_free(&cfg);
    return rc;
}

int lt_cmd_api(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", 1, 0, 'c'}, {"check", 0, 0, 'k'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *config = NULL;
    int check = 0, c;
    if (argc > 1 && strcmp(argv[1], "token") == 0)
        return s_token(argc - 1, argv + 1);
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":", opts)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 'k')
            check = 1;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE);
            return 0;
        } else
            return lt_cli_bad_opt("api", c, opts, argv, USAGE);
    }
    if (optind < argc)
        return lt_cli_bad_arg("api", argv[optind], USAGE);
    if (!config)
        return lt_cli_fail(2, "api", "--config FILE is required\nusage: %s", USAGE);
    return s_run(config, check);
}

/* cmd_gateway: `lienthong gateway` runs the daemon; `lienthong status`
 * asks the local gateway over its ipc socket. */
#include "lt_cli.h"
#include "lt_gwcfg.h"
#include "lt_gateway.h"
#include "lt_log.h"
#include "lt_sock.h"
#include "lt_wire.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

static const char *USAGE_GW = "lienthong gateway --config FILE [--check]";
static const char *USAGE_ST = "lienthong status --config FILE";

/* Shared: parse --config FILE [--check]. */
static int s_config_arg(int argc, char **argv, const char *usage, const char **config, int *check)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"check", no_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c')
            *config = optarg;
        else if (c == 'k' && check)
            *check = 1;
        else if (c == 'h') {
            printf("usage: %s\n", usage);
            return 0;
        } else
            return lt_cli_bad_arg(argv[0], argv[optind - 1], usage);
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
    int rc = s_config_arg(argc, argv, USAGE_GW, &config, &check);
    if (rc >= 0)
        return rc;
    static lt_gwcfg_t cfg; /* large: keep it off the stack */
    char err[1024];
    if (lt_gwcfg_load(config, &cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, "gateway", "%s", err);
    lt_log_set_ident(cfg.member);
    lt_log_set_level(cfg.log_level);
    if (check) {
        printf("%s: configuration is valid\n", config);
        return 0;
    }
    lt_gateway_t *gw = lt_gateway_new(&cfg, err, sizeof err);
    if (!gw) {
        lt_error("gateway", "cannot start: %s", err);
        return 1;
    }
    rc = lt_gateway_run(gw) == 0 ? 0 : 1;
    lt_gateway_destroy(&gw);
    return rc;
}

static int s_print_status(const Lienthong__StatusReply *r)
{
    printf("member %s, directory version %" PRIu64 ", refused messages %" PRIu64 "\n", r->member,
           r->directory_version, r->refused);
    printf("peers connected: %zu\n", r->n_peers_connected);
    for (size_t i = 0; i < r->n_peers_connected; i++)
        printf("  %s\n", r->peers_connected[i]);
    for (size_t i = 0; i < r->n_streams; i++) {
        const Lienthong__StreamStatus *s = r->streams[i];
        printf("%s %s: last seq %" PRIu64 ", %.0f records/s\n", s->role, s->stream, s->last_seq,
               s->records_per_sec);
        for (size_t j = 0; j < s->n_subscribers; j++)
            printf("    subscriber %-16s cursor %" PRIu64 " lag %" PRIu64 "\n",
                   s->subscribers[j]->member, s->subscribers[j]->cursor, s->subscribers[j]->lag);
    }
    return 0;
}

int lt_cmd_status(int argc, char **argv)
{
    const char *config = NULL;
    int rc = s_config_arg(argc, argv, USAGE_ST, &config, NULL);
    if (rc >= 0)
        return rc;
    static lt_gwcfg_t cfg;
    char err[1024];
    if (lt_gwcfg_load(config, &cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, "status", "%s", err);
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    void *ctx = zmq_ctx_new();
    void *s = ctx ? lt_sock_local_client(ctx, cfg.local_socket, &o, err, sizeof err) : NULL;
    rc = 1;
    if (!s) {
        lt_cli_fail(1, "status", "%s", ctx ? err : "cannot create ZeroMQ context");
        goto out;
    }
    Lienthong__StatusRequest req = LIENTHONG__STATUS_REQUEST__INIT;
    Lienthong__Envelope *rep = NULL;
    if (lt_wire_send_body(s, NULL, 0, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &req) != 0 ||
        lt_wire_recv_env(s, 3000, LT_LOCAL_MAX_MESSAGE, &rep, err, sizeof err) != 1) {
        lt_cli_fail(1, "status", "no answer from the gateway at %s", cfg.local_socket);
        goto out;
    }
    if (rep && rep->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY)
        rc = s_print_status(rep->status_reply);
    else
        lt_cli_fail(1, "status", "unexpected answer from the gateway");
    lt_wire_free(&rep);
out:
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}

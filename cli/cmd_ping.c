/* cmd_ping: `lienthong ping` checks that a gateway admits a key: it opens a
 * CURVE connection with the given member key file, sends Hello and reports
 * the answer. Operators use it to test connectivity and firewalls; since a
 * refused CURVE client simply gets no answer, "no answer" is the outcome an
 * outsider's key must produce. The answer's send time (PROTOCOL.md 5.1)
 * tells how far the gateway's clock is from this host's. */
#include "lt_cli.h"
#include "lt_clock.h"
#include "lt_keys.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_skew.h"
#include "lt_sock.h"
#include "lt_wire.h"

#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Room for a peer's string escaped; a longer one is cut (a gateway's own
 * are far shorter: member ids, version strings, error messages). */
#define LT_PING_SHOWN 2048

static const char *USAGE =
    "lienthong ping --key KEYFILE --server-key Z85 --endpoint tcp://HOST:PORT "
    "[--timeout MS]";

static int s_args(int argc, char **argv, const char **key, const char **server, const char **ep,
                  int *timeout)
{
    static const struct option opts[] = {
        {"key", required_argument, 0, 'k'},      {"server-key", required_argument, 0, 's'},
        {"endpoint", required_argument, 0, 'e'}, {"timeout", required_argument, 0, 't'},
        {"help", no_argument, 0, 'h'},           {0, 0, 0, 0}};
    int c;
    long l;
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":", opts)) != -1) {
        if (c == 'k')
            *key = optarg;
        else if (c == 's')
            *server = optarg;
        else if (c == 'e')
            *ep = optarg;
        else if (c == 't' &&
                 lt_cli_int_opt("ping", "--timeout", optarg, 1, INT_MAX, "whole milliseconds", &l))
            return 2;
        else if (c == 't')
            *timeout = (int)l;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE);
            return 0;
        } else
            return lt_cli_bad_opt("ping", c, opts, argv, USAGE);
    }
    if (optind < argc)
        return lt_cli_bad_arg("ping", argv[optind], USAGE);
    int rc = lt_cli_need("ping", USAGE, "--key", *key != NULL, "--server-key", *server != NULL,
                         "--endpoint", *ep != NULL, NULL);
    if (rc >= 0)
        return rc;
    /* A malformed endpoint is the caller's mistake, not an unreachable
     * gateway: said as such before any key file is read. */
    char host[256], why[128];
    if (lt_sock_endpoint_parse(*ep, host, sizeof host, NULL, why, sizeof why) != 0)
        return lt_cli_fail(2, "ping", "--endpoint: '%s' is not tcp://HOST:PORT: %s", *ep, why);
    /* '*' binds to every address; there is nothing to connect to. */
    if (strcmp(host, "*") == 0)
        return lt_cli_fail(2, "ping",
                           "--endpoint: '%s' names no host: '*' is for binding, give the "
                           "gateway's name or address",
                           *ep);
    return -1;
}

/* The clock line for a Hello sent at wall time sent_ms whose answer,
 * stamped sent_at_ms by the gateway, came rtt_us later: the gateway
 * stamped it about mid-way, within half the round trip (PROTOCOL.md 5.1).
 * Nothing for an answer without the field (a gateway of an earlier
 * release). */
static void s_say_clock(uint64_t sent_at_ms, int64_t sent_ms, int64_t rtt_us)
{
    if (sent_at_ms == 0)
        return;
    int64_t half_us = rtt_us > 0 ? rtt_us / 2 : 0;
    int64_t mid_ms;
    if (__builtin_add_overflow(sent_ms, half_us / 1000, &mid_ms))
        mid_ms = INT64_MAX;
    int64_t off = lt_skew_estimate(sent_at_ms, mid_ms); /* saturated */
    if (!lt_skew_plausible(off))
        printf("its clock reads %" PRIu64 " ms since 1970, more than %.0f years from this "
               "host's: no clock to compare\n",
               sent_at_ms, LT_SKEW_PLAUSIBLE_MS / (365.25 * 86400000.0));
    else
        printf("its clock is %+.1f s from this host's (+- %.1f ms)\n", (double)off / 1000.0,
               (double)half_us / 1000.0);
}

static int s_exchange(void *s, int timeout)
{
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.member = "";
    h.software = "lienthong " LT_VERSION " ping";
    /* ZMQ_IMMEDIATE: retry the send until the handshake completes. The
     * endpoint answered TCP (s_reachable), so no handshake means refused. */
    zmq_pollitem_t out = {s, 0, ZMQ_POLLOUT, 0};
    int polled = zmq_poll(&out, 1, timeout);
    /* Stamped once connected, for the gateway's estimate of this host's
     * clock and ours of the gateway's (5.1); 0 would read as absent. */
    int64_t sent_ms = lt_clock_now_ms(), sent_us = lt_clock_mono_us();
    h.sent_at_ms = sent_ms > 0 ? (uint64_t)sent_ms : 1;
    if (polled <= 0 || lt_wire_send_body(s, NULL, 0, LIENTHONG__ENVELOPE__BODY_HELLO, &h) != 0) {
        printf("no answer within %d ms: the endpoint accepts connections, but the CURVE "
               "handshake did not complete: the gateway does not admit this key (not in its "
               "directory, or not active), or --server-key is not its key\n",
               timeout);
        return 1;
    }
    char err[256];
    Lienthong__Envelope *rep = NULL;
    if (lt_wire_recv_env(s, timeout, LT_MAX_MESSAGE_DEFAULT, &rep, err, sizeof err) != 1) {
        printf("no answer within %d ms after connecting%s%s\n", timeout, err[0] ? ": " : "", err);
        return 1;
    }
    int64_t rtt_us = lt_clock_mono_us() - sent_us;
    int rc = 1;
    /* The answer's text is the peer's, whoever it is: escaped, so that it
     * cannot drive the terminal or forge a line of this report. */
    char a[LT_PING_SHOWN], b[LT_PING_SHOWN];
    if (rep && rep->body_case == LIENTHONG__ENVELOPE__BODY_HELLO) {
        printf("answered by %s (directory version %" PRIu64 ", %s)\n",
               lt_log_escape(a, sizeof a, rep->hello->member), rep->hello->directory_version,
               lt_log_escape(b, sizeof b, rep->hello->software));
        s_say_clock(rep->hello->sent_at_ms, sent_ms, rtt_us);
        rc = 0;
    } else if (rep && rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
        printf("refused: %s: %s\n", lt_wire_error_name(rep->error->code),
               lt_log_escape(a, sizeof a, rep->error->message));
    } else {
        printf("unexpected answer\n");
    }
    lt_wire_free(&rep);
    return rc;
}

int lt_cmd_ping(int argc, char **argv)
{
    const char *key = NULL, *server = NULL, *ep = NULL;
    int timeout = 2000;
    int rc = s_args(argc, argv, &key, &server, &ep, &timeout);
    if (rc >= 0)
        return rc;
    uint8_t server_key[LT_KEY_BYTES];
    if (lt_keys_z85_decode(server, server_key) != 0)
        return lt_cli_fail(2, "ping", "'%s' is not a 40-character Z85 key", server);
    char err[512];
    lt_keys_t *k = lt_keys_load(key, err, sizeof err);
    if (!k)
        return lt_cli_fail(1, "ping", "%s", err);
    if (lt_keys_kind(k) != LT_KEYS_MEMBER) {
        lt_keys_destroy(&k);
        return lt_cli_fail(1, "ping", "%s is not a member key", key);
    }
    if (lt_sock_tcp_probe(ep, timeout, err, sizeof err) != 0) {
        lt_keys_destroy(&k);
        printf("unreachable: %s: is the gateway running, is the endpoint in the directory right, "
               "and is the port open to this host?\n",
               err);
        return 1;
    }
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    void *ctx = zmq_ctx_new();
    void *s = ctx ? lt_sock_client(ctx, k, server_key, ep, &o, err, sizeof err) : NULL;
    rc = s ? s_exchange(s, timeout) : lt_cli_fail(1, "ping", "%s", err);
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
    lt_keys_destroy(&k);
    return rc;
}

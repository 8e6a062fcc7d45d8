/* lt_sock: socket factories. Every setsockopt is checked: a socket with a
 * missing security option must never be used. */
#include "lt_sock.h"
#include "lt_err.h"
#include "lt_file.h"
#include "lt_limits.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netdb.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

/* A draft option in libzmq 4.3.4's header, but built into Debian's library.
 * We set it and then read it back: a library that ignored it would fail open. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

void lt_sock_opts_default(lt_sock_opts_t *o)
{
    o->max_message = LT_MAX_MESSAGE_DEFAULT;
    o->heartbeat_ms = LT_HEARTBEAT_MS;
    o->hwm = 10000;
    o->sndhwm = 0;
}

static int s_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

static int s_common(void *s, const lt_sock_opts_t *o)
{
    /* Above the envelope cap by CURVE's framing, which libzmq counts: an
     * envelope of max_message bytes is legal (PROTOCOL.md 3.1), and one a
     * little larger must reach the gateway's own check and its Error
     * (4.2 #3) rather than silently cost the connection. */
    int64_t max = (int64_t)o->max_message + LT_CURVE_FRAME_SLACK;
    if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max) || s_int(s, ZMQ_LINGER, 0) ||
        s_int(s, ZMQ_SNDHWM, o->sndhwm > 0 ? o->sndhwm : o->hwm) || s_int(s, ZMQ_RCVHWM, o->hwm))
        return -1;
    return 0;
}

static int s_heartbeat(void *s, const lt_sock_opts_t *o)
{
    if (s_int(s, ZMQ_HEARTBEAT_IVL, o->heartbeat_ms) ||
        s_int(s, ZMQ_HEARTBEAT_TIMEOUT, o->heartbeat_ms * 5) ||
        s_int(s, ZMQ_HEARTBEAT_TTL, o->heartbeat_ms * 10))
        return -1;
    return 0;
}

static void *s_fail(void *s, char *err, size_t errlen, const char *what, const char *ep)
{
    snprintf(err, errlen, "%s %s: %s", what, ep, zmq_strerror(zmq_errno()));
    if (s)
        zmq_close(s);
    return NULL;
}

void *lt_sock_server(void *ctx, const lt_keys_t *keys, const char *endpoint,
                     const lt_sock_opts_t *o, char *err, size_t errlen)
{
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    if (!s)
        return s_fail(s, err, errlen, "cannot create peer socket for", endpoint);
    if (s_common(s, o) || s_heartbeat(s, o) || s_int(s, ZMQ_ROUTER_MANDATORY, 1) ||
        s_int(s, ZMQ_CURVE_SERVER, 1) || s_int(s, ZMQ_HANDSHAKE_IVL, LT_HANDSHAKE_MS) ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, lt_keys_transport_secret(keys), LT_KEY_BYTES) ||
        zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, LT_ZAP_DOMAIN, strlen(LT_ZAP_DOMAIN)) ||
        s_int(s, ZMQ_ZAP_ENFORCE_DOMAIN, 1))
        return s_fail(s, err, errlen, "cannot set security options on", endpoint);
    int enforced = 0;
    size_t sz = sizeof enforced;
    if (zmq_getsockopt(s, ZMQ_ZAP_ENFORCE_DOMAIN, &enforced, &sz) != 0 || enforced != 1)
        return s_fail(s, err, errlen, "libzmq does not enforce the ZAP domain on", endpoint);
    if (zmq_bind(s, endpoint) != 0)
        return s_fail(s, err, errlen, "cannot bind", endpoint);
    return s;
}

void *lt_sock_client(void *ctx, const lt_keys_t *keys, const uint8_t server_key[LT_KEY_BYTES],
                     const char *endpoint, const lt_sock_opts_t *o, char *err, size_t errlen)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    if (!s)
        return s_fail(s, err, errlen, "cannot create socket for", endpoint);
    /* IMMEDIATE: queue nothing until the CURVE handshake has completed, so a
     * refused or absent peer makes sends fail fast instead of piling up. */
    if (s_common(s, o) || s_heartbeat(s, o) || s_int(s, ZMQ_RECONNECT_IVL, 100) ||
        s_int(s, ZMQ_RECONNECT_IVL_MAX, 10000) || s_int(s, ZMQ_IMMEDIATE, 1) ||
        zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, server_key, LT_KEY_BYTES) ||
        zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, lt_keys_transport_public(keys), LT_KEY_BYTES) ||
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, lt_keys_transport_secret(keys), LT_KEY_BYTES))
        return s_fail(s, err, errlen, "cannot set CURVE options for", endpoint);
    if (zmq_connect(s, endpoint) != 0)
        return s_fail(s, err, errlen, "cannot connect to", endpoint);
    return s;
}

void *lt_sock_local(void *ctx, const char *path, const lt_sock_opts_t *o, char *err, size_t errlen)
{
    char dir[4096], ep[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *parent = dirname(dir);
    if (lt_file_mkdirs(parent, 0700) != 0 || chmod(parent, 0700) != 0) {
        char why[4600], me[64];
        int e = errno;
        lt_file_explain(parent, W_OK | X_OK, why, sizeof why);
        lt_file_whoami(me, sizeof me);
        snprintf(err, errlen,
                 "cannot create %s with mode 0700: %s%s%s%s; it must be a directory "
                 "of %s: under systemd the unit's RuntimeDirectory= creates it (the packaged "
                 "units do), otherwise run: install -d -o %s -m 0700 %s",
                 parent, strerror(e), why[0] ? " (" : "", why, why[0] ? ")" : "", me, me, parent);
        return NULL;
    }
    snprintf(ep, sizeof ep, "ipc://%s", path);
    void *s = zmq_socket(ctx, ZMQ_ROUTER);
    if (!s)
        return s_fail(s, err, errlen, "cannot create local socket", ep);
    if (s_common(s, o) || s_int(s, ZMQ_ROUTER_MANDATORY, 1))
        return s_fail(s, err, errlen, "cannot set options on", ep);
    if (zmq_bind(s, ep) != 0)
        return s_fail(s, err, errlen, "cannot bind", ep);
    return s;
}

void *lt_sock_local_client(void *ctx, const char *path, const lt_sock_opts_t *o, char *err,
                           size_t errlen)
{
    char ep[4200];
    snprintf(ep, sizeof ep, "ipc://%s", path);
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    if (!s)
        return s_fail(s, err, errlen, "cannot create socket for", ep);
    if (s_common(s, o) || s_int(s, ZMQ_RECONNECT_IVL, 100) || s_int(s, ZMQ_RECONNECT_IVL_MAX, 2000))
        return s_fail(s, err, errlen, "cannot set options on", ep);
    if (zmq_connect(s, ep) != 0)
        return s_fail(s, err, errlen, "cannot connect to", ep);
    return s;
}

/* One non-blocking connect to ai, waiting up to timeout_ms. 0 or an errno. */
static int s_connect_one(const struct addrinfo *ai, int timeout_ms)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0)
        return errno;
    int e = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        e = errno;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        socklen_t len = sizeof e;
        if (e == EINPROGRESS)
            e = poll(&p, 1, timeout_ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) == 0
                    ? e
                    : ETIMEDOUT;
    }
    close(fd);
    return e;
}

/* A host name or IPv4 address character; '*' is taken only alone. */
static int s_host_char(char c)
{
    return isalnum((unsigned char)c) || c == '.' || c == '-' || c == '_';
}

int lt_sock_endpoint_parse(const char *endpoint, char *host, size_t hostlen, int *port, char *why,
                           size_t whylen)
{
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return lt_err_set(why, whylen, "not a tcp:// endpoint");
    const char *hp = endpoint + 6, *colon = strrchr(hp, ':');
    if (!colon)
        return lt_err_set(why, whylen, "no :PORT");
    size_t hlen = (size_t)(colon - hp);
    if (hlen == 0)
        return lt_err_set(why, whylen, "no HOST before :PORT");
    if (hlen >= 256)
        return lt_err_set(why, whylen, "HOST is longer than 255 characters");
    int star = hlen == 1 && hp[0] == '*';
    for (size_t i = 0; i < hlen && !star; i++)
        if (!s_host_char(hp[i]))
            return lt_err_set(why, whylen, "%s",
                              hp[i] == ':' || hp[i] == '['
                                  ? "IPv6 addresses are not supported"
                                  : "HOST must be a name, an IPv4 address or *");
    long p = 0;
    const char *d = colon + 1;
    for (; isdigit((unsigned char)*d) && p <= 65535; d++)
        p = p * 10 + (*d - '0');
    if (d == colon + 1 || *d || p < 1 || p > 65535)
        return lt_err_set(why, whylen, "port '%s' is not a number 1..65535", colon + 1);
    if (host && hostlen)
        snprintf(host, hostlen, "%.*s", (int)(hlen < hostlen ? hlen : hostlen - 1), hp);
    if (port)
        *port = (int)p;
    return 0;
}

int lt_sock_tcp_probe(const char *endpoint, int timeout_ms, char *err, size_t errlen)
{
    char host[256], port[16], why[128];
    int p;
    if (lt_sock_endpoint_parse(endpoint, host, sizeof host, &p, why, sizeof why) != 0) {
        snprintf(err, errlen, "'%s' is not tcp://HOST:PORT: %s", endpoint, why);
        return -1;
    }
    snprintf(port, sizeof port, "%d", p);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return -1;
    }
    int e = ENOENT;
    for (const struct addrinfo *ai = res; ai && e; ai = ai->ai_next)
        e = s_connect_one(ai, timeout_ms);
    freeaddrinfo(res);
    if (e)
        snprintf(err, errlen, "cannot open a TCP connection to %s:%s: %s", host, port, strerror(e));
    return e ? -1 : 0;
}

void lt_sock_inproc_name(char *out, size_t len, const char *what)
{
    static atomic_uint s_next;
    snprintf(out, len, "inproc://lt-%s-%u", what, atomic_fetch_add(&s_next, 1) + 1);
}

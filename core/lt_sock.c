/* lt_sock: socket factories. Every setsockopt is checked: a socket with a
 * missing security option must never be used. */
#include "lt_sock.h"
#include "lt_file.h"
#include "lt_limits.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
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
}

static int s_int(void *s, int opt, int v)
{
    return zmq_setsockopt(s, opt, &v, sizeof v);
}

static int s_common(void *s, const lt_sock_opts_t *o)
{
    int64_t max = (int64_t)o->max_message;
    if (zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max, sizeof max) || s_int(s, ZMQ_LINGER, 0) ||
        s_int(s, ZMQ_SNDHWM, o->hwm) || s_int(s, ZMQ_RCVHWM, o->hwm))
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
        s_int(s, ZMQ_CURVE_SERVER, 1) ||
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

void *lt_sock_local(void *ctx, const char *path, const lt_sock_opts_t *o, char *err,
                    size_t errlen)
{
    char dir[4096], ep[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *parent = dirname(dir);
    if (lt_file_mkdirs(parent, 0700) != 0 || chmod(parent, 0700) != 0) {
        snprintf(err, errlen, "cannot create %s with mode 0700: %s", parent, strerror(errno));
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
    if (s_common(s, o) || s_int(s, ZMQ_RECONNECT_IVL, 100) ||
        s_int(s, ZMQ_RECONNECT_IVL_MAX, 2000))
        return s_fail(s, err, errlen, "cannot set options on", ep);
    if (zmq_connect(s, ep) != 0)
        return s_fail(s, err, errlen, "cannot connect to", ep);
    return s;
}

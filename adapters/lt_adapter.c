/* lt_adapter: shared plumbing of the source and sink adapters. */
#include "lt_adapter.h"
#include "lt_file.h"
#include "lt_log.h"
#include "lt_sock.h"
#include "lt_wire.h"

#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>


void lt_adapter_fmt(char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, cap, fmt, ap);
    va_end(ap);
}






/* ---- gateway connection --------------------------------------------- */

int lt_adapter_connect(lt_adapter_conn_t *conn, const char *path, char *err, size_t errlen)
{
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    o.max_message = LT_AD_MAX_MESSAGE;
    conn->sock = NULL;
    conn->ctx = zmq_ctx_new();
    if (!conn->ctx) {
        lt_adapter_fmt(err, errlen, "cannot create a ZeroMQ context: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    conn->sock = lt_sock_local_client(conn->ctx, path, &o, err, errlen);
    if (!conn->sock) {
        lt_adapter_disconnect(conn);
        return -1;
    }
    return 0;
}

void lt_adapter_disconnect(lt_adapter_conn_t *conn)
{
    if (conn->sock)
        zmq_close(conn->sock);
    if (conn->ctx)
        zmq_ctx_term(conn->ctx);
    conn->sock = conn->ctx = NULL;
}

int lt_adapter_recv(lt_adapter_conn_t *conn, int timeout_ms, Lienthong__Envelope **env)
{
    char err[256];
    int rc = lt_wire_recv_env(conn->sock, timeout_ms, LT_AD_MAX_MESSAGE, env, err, sizeof err);
    if (rc == 0 && err[0])
        lt_warn("adapter", "from the gateway: %s", err);
    return rc;
}

int lt_adapter_send(lt_adapter_conn_t *conn, Lienthong__Envelope__BodyCase body_case, void *body)
{
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = body_case;
    switch (body_case) {
    case LIENTHONG__ENVELOPE__BODY_PUBLISH:
        env.publish = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_SINK_ATTACH:
        env.sink_attach = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_DELIVER_ACK:
        env.deliver_ack = body;
        break;
    case LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST:
        env.status_request = body;
        break;
    default:
        errno = EINVAL;
        return -1;
    }
    return lt_wire_send(conn->sock, NULL, 0, &env);
}

/* ---- signals -------------------------------------------------------- */

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

int lt_adapter_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: zmq_poll returns EINTR */
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    return 0;
}

int lt_adapter_stopping(void)
{
    return s_stop != 0;
}

uint64_t lt_ad_random64(void)
{
    uint64_t v = 0;
    if (sodium_init() < 0)
        return (uint64_t)lt_clock_mono_ms() | 1; /* cannot happen on a sane system */
    while (v == 0)
        randombytes_buf(&v, sizeof v);
    return v;
}

/* lt_adapter: shared plumbing of the source and sink adapters. */
#include "lt_adapter.h"
#include "lt_file.h"
#include "lt_log.h"
#include "lt_wire.h"

#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>


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
    lt_client_opts_t o;
    lt_client_opts_default(&o);
    o.max_message = LT_AD_MAX_MESSAGE;
    /* An adapter may start before its gateway (or outlive a restart of
     * it): its messages wait in the queue until the gateway listens. */
    o.wait_for_gateway = 1;
    conn->client = lt_client_new(path, &o, err, errlen);
    if (!conn->client)
        return -1;
    if (err[0])
        lt_warn("adapter", "%s; waiting for it", err);
    return 0;
}

void lt_adapter_disconnect(lt_adapter_conn_t *conn)
{
    lt_client_destroy(&conn->client);
}

int lt_adapter_recv(lt_adapter_conn_t *conn, int timeout_ms, Lienthong__Envelope **env)
{
    char err[512];
    int rc = lt_client_recv(conn->client, timeout_ms, env, err, sizeof err);
    if (rc == LT_CLIENT_ERR_MALFORMED)
        lt_warn("adapter", "%s", err);
    if (rc == LT_CLIENT_OK)
        return 1;
    return rc == LT_CLIENT_ERR_SOCKET ? -1 : 0;
}

int lt_adapter_send(lt_adapter_conn_t *conn, Lienthong__Envelope__BodyCase body_case, void *body)
{
    char err[512];
    return lt_client_send(conn->client, body_case, body, 0, err, sizeof err) == 0 ? 0 : -1;
}

int lt_adapter_send_frame(lt_adapter_conn_t *conn, const uint8_t *frame, size_t len)
{
    char err[512];
    return lt_client_send_frame(conn->client, frame, len, 0, err, sizeof err) == 0 ? 0 : -1;
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

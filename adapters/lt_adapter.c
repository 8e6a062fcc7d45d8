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






/* ---- SQLite --------------------------------------------------------- */

int lt_adapter_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
        return 0;
    lt_adapter_fmt(err, errlen, "%s: %s", what, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
}

int lt_adapter_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
    if (!sql) {
        lt_adapter_fmt(err, errlen, "out of memory");
        return -1;
    }
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
        return 0;
    lt_adapter_fmt(err, errlen, "%s (in: %.200s)", sqlite3_errmsg(db), sql);
    *st = NULL;
    return -1;
}

static int s_check_wal(sqlite3 *db, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (lt_adapter_prepare(db, "PRAGMA journal_mode=WAL", &st, err, errlen))
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(st, 0), "wal") == 0)
        rc = 0;
    else
        lt_adapter_fmt(err, errlen, "cannot switch to WAL mode: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc;
}

static int s_pragmas(sqlite3 *db, int wal, char *why, size_t cap)
{
    if (sqlite3_busy_timeout(db, 5000) != SQLITE_OK) {
        lt_adapter_fmt(why, cap, "cannot set busy_timeout: %s", sqlite3_errmsg(db));
        return -1;
    }
    if (wal && s_check_wal(db, why, cap) != 0)
        return -1;
    return lt_adapter_exec(db, "PRAGMA synchronous=FULL", "cannot set synchronous=FULL", why, cap);
}

sqlite3 *lt_adapter_db_open(const char *path, int wal, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    char why[512] = "";
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        lt_adapter_fmt(err, errlen, "cannot open database %s: %s", path,
                 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        goto fail;
    }
    if (s_pragmas(db, wal, why, sizeof why) == 0)
        return db;
    lt_adapter_fmt(err, errlen, "database %s: %s", path, why);
fail:
    sqlite3_close(db);
    return NULL;
}

/* ---- gateway connection --------------------------------------------- */

int lt_adapter_connect(lt_adapter_conn_t *conn, const char *path, char *err, size_t errlen)
{
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    o.max_message = LT_LOCAL_MAX_MESSAGE;
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
    int rc = lt_wire_recv_env(conn->sock, timeout_ms, LT_LOCAL_MAX_MESSAGE, env, err, sizeof err);
    if (rc == 0 && err[0])
        lt_warn("adapter", "from the gateway: %s", err);
    return rc;
}

int lt_adapter_send(lt_adapter_conn_t *conn, Lienthong__Envelope__BodyCase body_case, void *body)
{
    return lt_wire_send_body(conn->sock, NULL, 0, body_case, body);
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

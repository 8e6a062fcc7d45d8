/* lt_adapter: shared plumbing of the source and sink adapters. */
#include "lt_adapter.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_log.h"
#include "lt_notify.h"
#include "lt_wire.h"

#include <libgen.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* ---- logging -------------------------------------------------------- */

int lt_adapter_log_setup(const config_t *c, const char *file, const char *program,
                         const char *dataset, int owned, char *err, size_t errlen)
{
    lt_log_level_t level;
    lt_log_format_t format;
    if (lt_cfgfile_log(c, file, &level, &format, err, errlen) != 0)
        return -1;
    lt_log_set_level(level);
    lt_log_set_format(format);
    lt_log_set_program(program);
    lt_log_set_dataset(dataset);
    /* A dataset id is OWNER/NAME and a member id INSTANCE/CLASS/CODE
     * (proto/PROTOCOL.md 2): the owner is the first three parts. */
    const char *p = dataset;
    for (int parts = 0; owned && p && parts < 3; parts++)
        p = strchr(p + (parts > 0), '/');
    if (owned && p) {
        char member[128];
        snprintf(member, sizeof member, "%.*s", (int)(p - dataset), dataset);
        lt_log_set_member(member);
    }
    return 0;
}

/* ---- --check ------------------------------------------------------- */

int lt_adapter_check_db(lt_check_t *c, const char *path, int must_exist)
{
    char dir[4096], why[4600], me[64];
    lt_file_whoami(me, sizeof me);
    if (access(path, F_OK) != 0 && must_exist) {
        lt_check_error(c, "database", "correct 'database', or create the table first",
                       "%s does not exist", path);
        return -1;
    }
    lt_file_explain(access(path, F_OK) == 0 ? path : ".", R_OK | W_OK, why, sizeof why);
    if (access(path, F_OK) == 0 && why[0]) {
        lt_check_error(c, "database",
                       "run the adapter as a user that may read and write the "
                       "database, or grant it (group membership and mode g+rw)",
                       "cannot open %s for reading and writing: %s", path, why);
        return -1;
    }
    snprintf(dir, sizeof dir, "%s", path);
    lt_file_explain(dirname(dir), W_OK | X_OK, why, sizeof why);
    if (why[0]) {
        lt_check_error(c, "database",
                       "SQLite writes its journal beside the database: the "
                       "directory must be writable by this user",
                       "the directory of %s is not writable: %s", path, why);
        return -1;
    }
    lt_check_ok(c, "database", "%s%s", path, access(path, F_OK) == 0 ? "" : " (will be created)");
    return 0;
}

/* --check used to send every failure to the table, even a connection
 * string that does not parse. The database seam starts its errors about a
 * PostgreSQL setting itself with "'database'" (too long, not a connection
 * string or URI); a server not reachable is lt_db_lost or "cannot
 * connect". A SQLite file that is missing or unreadable was reported by
 * lt_adapter_check_db already. */
const char *lt_adapter_db_hint(const lt_db_t *db, const char *err, const char *table_hint)
{
    if (strncmp(err, "'database'", 10) == 0)
        return "write 'database' as a PostgreSQL URI (postgresql://USER@HOST:PORT/DBNAME) or "
               "key=value pairs (host=... dbname=... user=...); see \"Connection settings\" in "
               "adapters/README.md";
    if ((db && lt_db_lost(db)) || strncmp(err, "cannot connect", 14) == 0)
        return "the database server must be running and accept this user (host, port, "
               "password, pg_hba.conf)";
    return table_hint;
}

int lt_adapter_check_gateway(lt_check_t *c, const char *path)
{
    char why[4600];
    if (access(path, F_OK) != 0) {
        lt_check_warn(c, "gateway_socket",
                      "start the gateway first (the adapter waits for it "
                      "meanwhile), or set gateway_socket to the gateway's local_socket",
                      "no gateway socket at %s", path);
        return -1;
    }
    lt_file_explain(path, W_OK, why, sizeof why);
    if (why[0]) {
        lt_check_error(c, "gateway_socket",
                       "run the adapter as the gateway's user (the "
                       "packaged units run both as lienthong)",
                       "cannot connect to %s: %s", path, why);
        return -1;
    }
    lt_check_ok(c, "gateway_socket", "%s", path);
    return 0;
}

/* ---- gateway connection --------------------------------------------- */

/* How long connecting waits for the gateway's status (the member's name). */
#define STATUS_WAIT_MS 1000

int lt_adapter_connect(lt_adapter_conn_t *conn, const char *path, char *err, size_t errlen)
{
    lt_client_opts_t o;
    lt_client_opts_default(&o);
    o.max_message = LT_LOCAL_MAX_MESSAGE;
    /* An adapter may start before its gateway (or outlive a restart of
     * it): its messages wait in the queue until the gateway listens. */
    o.wait_for_gateway = 1;
    conn->client = lt_client_new(path, &o, err, errlen);
    if (!conn->client)
        return -1;
    if (err[0])
        lt_warn("adapter", "%s; waiting for it", err);
    /* Queued until the gateway is there; the reply names our member. A
     * running gateway answers at once, so wait a little for it: then even
     * the first lines carry the member. A gateway not yet up answers later
     * (lt_adapter_recv takes the reply whenever it comes). */
    Lienthong__StatusRequest req = LIENTHONG__STATUS_REQUEST__INIT;
    Lienthong__Envelope *env = NULL;
    if (lt_adapter_send(conn, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &req) != 0)
        lt_debug("adapter", "cannot ask the gateway for its status");
    else if (lt_adapter_recv(conn, STATUS_WAIT_MS, &env) == 1)
        lt_wire_free(&env); /* nothing else is due before we ask for it */
    lt_notify_ready(NULL);
    return 0;
}

void lt_adapter_disconnect(lt_adapter_conn_t *conn)
{
    lt_client_destroy(&conn->client);
}

int lt_adapter_recv(lt_adapter_conn_t *conn, int timeout_ms, Lienthong__Envelope **env)
{
    char err[512];
    lt_notify_watchdog();
    int rc = lt_client_recv(conn->client, timeout_ms, env, err, sizeof err);
    if (rc == LT_CLIENT_ERR_MALFORMED)
        lt_warn("adapter", "from the gateway: %s", err);
    if (rc != LT_CLIENT_OK)
        return rc == LT_CLIENT_ERR_SOCKET ? -1 : 0;
    /* Every status reply names the member for the log; it is still handed
     * on, since a source reads its datasets' cursors from it. */
    if ((*env)->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY) {
        lt_log_set_member((*env)->status_reply->member);
        lt_debug("adapter", "the gateway serves member %s", (*env)->status_reply->member);
    }
    return 1;
}

int lt_adapter_send(lt_adapter_conn_t *conn, Lienthong__Envelope__BodyCase body_case, void *body)
{
    char err[512];
    return lt_client_send(conn->client, body_case, body, 0, err, sizeof err) == 0 ? 0 : -1;
}

void *lt_adapter_socket(lt_adapter_conn_t *conn)
{
    return lt_client_socket(conn->client);
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
    static int told;
    if (s_stop && !told) {
        told = 1;
        lt_notify_stopping();
    }
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

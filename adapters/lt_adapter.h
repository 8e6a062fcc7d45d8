/* lt_adapter: plumbing shared by the source and sink adapters (their
 * configuration goes through lt_cfgfile, their database through lt_db):
 * the connection to the gateway (through lt_client), receiving one decoded
 * envelope with a timeout, and SIGTERM/SIGINT handling. */
#ifndef LT_ADAPTER_H
#define LT_ADAPTER_H

#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"
#include "lt_cfgfile.h"
#include "lt_check.h"
#include "lt_client.h"
#include "lt_db.h"
#include "lt_err.h"

/* ---- logging ---- */

/* Applies log_level and log_format of an adapter's configuration and tags
 * every log line with `program` and `dataset` (the dataset or stream). The
 * member is the owner part of `dataset` when `owned` (a source publishes
 * only its own member's datasets); otherwise it is learned from the gateway
 * once connected (lt_adapter_connect asks for its status). */
int lt_adapter_log_setup(const config_t *c, const char *file, const char *program,
                         const char *dataset, int owned, char *err, size_t errlen) LT_NODISCARD;

/* ---- --check ---- */

/* A SQLite agency database file: reachable for reading and writing by this user,
 * with a writable directory (journal and WAL files); a missing file is an
 * error when must_exist, else its directory must allow creating it.
 * Returns 0 when the database can be opened. */
int lt_adapter_check_db(lt_check_t *c, const char *path, int must_exist);
/* How to fix a failed connection or a failed look at the table, from what
 * failed (err, and db when it connected): a PostgreSQL setting that does
 * not parse, a server not reachable, else `table_hint`. */
const char *lt_adapter_db_hint(const lt_db_t *db, const char *err, const char *table_hint);
/* The gateway's local socket: present (a warning when not: the gateway is
 * not running, or gateway_socket differs from its local_socket) and
 * writable by this user. Returns 0 when it is both (then the gateway can
 * be asked what it grants, lt_grants_check), else -1. */
int lt_adapter_check_gateway(lt_check_t *c, const char *path);

/* ---- gateway connection ---- */

/* The adapter's connection to its gateway (lt_client). */
typedef struct {
    lt_client_t *client;
} lt_adapter_conn_t;

/* Connects; a gateway not running yet is logged, not an error (messages
 * wait until it starts). Asks the gateway for its status to learn the
 * member for the log, and tells systemd the adapter is ready. -1 with err
 * when the socket cannot be reached (no permission, not a socket). */
int lt_adapter_connect(lt_adapter_conn_t *conn, const char *path, char *err, size_t errlen);
void lt_adapter_disconnect(lt_adapter_conn_t *conn);
/* Waits up to timeout_ms for one envelope. Returns 1 with *env set (free
 * with lt_wire_free), 0 on timeout, on a signal, after logging an
 * undecodable frame, or after taking the gateway's status reply, -1 on a
 * socket error. Keeps the systemd watchdog fed. */
int lt_adapter_recv(lt_adapter_conn_t *conn, int timeout_ms, Lienthong__Envelope **env);
/* Sends one envelope carrying `body` of type `body_case` without waiting.
 * Returns 0 or -1 (errno from libzmq: EAGAIN while the queue is full). */
int lt_adapter_send(lt_adapter_conn_t *conn, Lienthong__Envelope__BodyCase body_case, void *body);
/* Sends an already packed envelope as is, without waiting. Same results. */
int lt_adapter_send_frame(lt_adapter_conn_t *conn, const uint8_t *frame, size_t len);
/* The gateway connection's socket, for zmq_poll only. */
void *lt_adapter_socket(lt_adapter_conn_t *conn);

/* ---- signals ---- */

/* Installs SIGTERM/SIGINT handlers (without SA_RESTART, so polls return). */
int lt_adapter_signals(void);
/* 1 once SIGTERM or SIGINT arrived (then tells systemd it is stopping). */
int lt_adapter_stopping(void);

/* A 64-bit random, non-zero number (request ids). */
uint64_t lt_ad_random64(void);

#endif

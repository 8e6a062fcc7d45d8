/* lt_adapter: plumbing shared by the source and sink adapters (their
 * configuration goes through lt_cfgfile): opening the agency's
 * SQLite database, the local ZeroMQ connection to the gateway, receiving
 * one decoded envelope with a timeout, and SIGTERM/SIGINT handling. */
#ifndef LT_ADAPTER_H
#define LT_ADAPTER_H

#include <libconfig.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "lienthong.pb-c.h"
#include "lt_cfgfile.h"

/* snprintf into out[cap] that may truncate on purpose (messages). */
void lt_adapter_fmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- SQLite ---- */

/* Opens (creating if missing) the database with busy_timeout 5000 and
 * synchronous=FULL; also journal_mode=WAL when `wal`. NULL with err. */
sqlite3 *lt_adapter_db_open(const char *path, int wal, char *err, size_t errlen);
/* Runs SQL without results. Returns 0, or -1 with err "what: sqlite message". */
int lt_adapter_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen);
/* Prepares a statement. Returns 0, or -1 with err set. */
int lt_adapter_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen);

/* ---- gateway connection ---- */

/* ZeroMQ context and DEALER connected to the gateway's ipc socket. */
typedef struct {
    void *ctx;
    void *sock;
} lt_adapter_conn_t;

int lt_adapter_connect(lt_adapter_conn_t *conn, const char *path, char *err, size_t errlen);
void lt_adapter_disconnect(lt_adapter_conn_t *conn);
/* Waits up to timeout_ms for one envelope. Returns 1 with *env set (free
 * with lt_wire_free), 0 on timeout, on a signal, or after logging an
 * undecodable frame, -1 on a socket error. */
int lt_adapter_recv(lt_adapter_conn_t *conn, int timeout_ms, Lienthong__Envelope **env);
/* Sends one envelope carrying `body` of type `body_case` (the pointer is put
 * in the oneof). Returns 0 or -1 (errno from libzmq). */
int lt_adapter_send(lt_adapter_conn_t *conn, Lienthong__Envelope__BodyCase body_case, void *body);

/* ---- signals ---- */

/* Installs SIGTERM/SIGINT handlers (without SA_RESTART, so polls return). */
int lt_adapter_signals(void);
/* 1 once SIGTERM or SIGINT arrived. */
int lt_adapter_stopping(void);

/* A 64-bit random, non-zero number (request ids). */
uint64_t lt_ad_random64(void);

#endif

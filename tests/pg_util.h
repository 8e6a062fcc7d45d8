/* pg_util.h: the throwaway PostgreSQL cluster of the tests and benchmarks
 * (tests/pg-cluster, started by a CTest fixture): where it is, a fresh
 * database and role per test, SQL that must succeed, one value of a query,
 * and a restart (clean or a crash) of the server. The cluster's state file
 * is named by $LT_PG_STATE and the script by $LT_PG_CLUSTER.
 *
 * The tests' administrator connects over the cluster's unix socket (trust);
 * agencies' roles are ordinary roles with a password and connect over TCP
 * on 127.0.0.1 (scram-sha-256), as the adapters would in production. */
#ifndef LT_PG_UTIL_H
#define LT_PG_UTIL_H

#include <libpq-fe.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

typedef struct {
    char state[PATH_MAX];  /* the state file */
    char script[PATH_MAX]; /* tests/pg-cluster */
    char socket[PATH_MAX]; /* unix socket directory */
    char super[64];        /* the superuser (the cluster's owner) */
    int port;
} lt_pg_t;

/* Reads the state file named by $LT_PG_STATE; 0, or -1 with a message. */
static inline int lt_pg_load(lt_pg_t *c)
{
    const char *state = getenv("LT_PG_STATE"), *script = getenv("LT_PG_CLUSTER");
    memset(c, 0, sizeof *c);
    FILE *f = state ? fopen(state, "r") : NULL;
    if (!f) {
        fprintf(stderr,
                "pg: no cluster state (LT_PG_STATE=%s): run the tests through CTest, "
                "whose fixture starts tests/pg-cluster\n",
                state ? state : "");
        return -1;
    }
    snprintf(c->state, sizeof c->state, "%s", state);
    snprintf(c->script, sizeof c->script, "%s", script ? script : "tests/pg-cluster");
    char line[PATH_MAX + 32];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (strncmp(line, "LT_PG_PORT=", 11) == 0)
            c->port = atoi(line + 11);
        else if (strncmp(line, "LT_PG_SOCKET=", 13) == 0)
            snprintf(c->socket, sizeof c->socket, "%.4000s", line + 13);
        else if (strncmp(line, "LT_PG_SUPERUSER=", 16) == 0)
            snprintf(c->super, sizeof c->super, "%.63s", line + 16);
    }
    fclose(f);
    return c->port > 0 && c->socket[0] && c->super[0] ? 0 : -1;
}

/* The administrator's connection to database db (socket, trust). */
static inline PGconn *lt_pg_admin(const lt_pg_t *c, const char *db)
{
    char info[PATH_MAX + 256];
    snprintf(info, sizeof info, "host=%s port=%d user=%s dbname=%s", c->socket, c->port, c->super,
             db);
    PGconn *conn = PQconnectdb(info);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "pg: cannot connect as the administrator: %s", PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}

/* Connects as `user` over the unix socket (trust): the agency's own
 * applications in the tests. */
static inline PGconn *lt_pg_as(const lt_pg_t *c, const char *db, const char *user)
{
    char info[PATH_MAX + 256];
    snprintf(info, sizeof info, "host=%s port=%d user=%s dbname=%s", c->socket, c->port, user, db);
    PGconn *conn = PQconnectdb(info);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "pg: cannot connect as %s: %s", user, PQerrorMessage(conn));
        PQfinish(conn);
        return NULL;
    }
    PQclear(PQexec(conn, "SET client_min_messages = warning"));
    return conn;
}

/* Runs SQL; 0, or -1 after printing the error. */
static inline int lt_pg_exec(PGconn *conn, const char *sql)
{
    PGresult *r = PQexec(conn, sql);
    int ok = r && (PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK);
    if (!ok)
        fprintf(stderr, "pg: %s\n  in: %.300s\n", PQerrorMessage(conn), sql);
    PQclear(r);
    return ok ? 0 : -1;
}

/* The first value of a query as text into out ("" for NULL); 0 or -1. */
static inline int lt_pg_text(PGconn *conn, const char *sql, char *out, size_t cap)
{
    PGresult *r = PQexec(conn, sql);
    int ok = r && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) >= 1;
    if (!ok)
        fprintf(stderr, "pg: %s\n  in: %.300s\n", PQerrorMessage(conn), sql);
    snprintf(out, cap, "%s", ok ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return ok ? 0 : -1;
}

/* The first value of a query as a number; -1 on failure. */
static inline int64_t lt_pg_int(PGconn *conn, const char *sql)
{
    char v[64];
    return lt_pg_text(conn, sql, v, sizeof v) == 0 && v[0] ? strtoll(v, NULL, 10) : -1;
}

/* Creates login role `role` if missing (never a superuser) and, when
 * `password` is not NULL, sets its password. 0 or -1. */
static inline int lt_pg_role(const lt_pg_t *c, const char *role, const char *password)
{
    PGconn *a = lt_pg_admin(c, "postgres");
    char sql[1024];
    snprintf(sql, sizeof sql,
             "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '%s') THEN "
             "CREATE ROLE \"%s\" LOGIN NOSUPERUSER; END IF; END $$",
             role, role);
    int rc = a ? lt_pg_exec(a, sql) : -1;
    snprintf(sql, sizeof sql, "ALTER ROLE \"%s\" PASSWORD '%s'", role, password ? password : "");
    if (rc == 0 && password)
        rc = lt_pg_exec(a, sql);
    PQfinish(a);
    return rc;
}

/* A fresh database `db` owned by role `owner` (lt_pg_role), dropped first
 * if it exists. 0 or -1. */
static inline int lt_pg_fresh_db(const lt_pg_t *c, const char *db, const char *owner,
                                 const char *password)
{
    if (lt_pg_role(c, owner, password) != 0)
        return -1;
    PGconn *a = lt_pg_admin(c, "postgres");
    if (!a)
        return -1;
    char sql[1024];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", db);
    int rc = lt_pg_exec(a, sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE \"%s\" OWNER \"%s\"", db, owner);
    rc = rc ? rc : lt_pg_exec(a, sql);
    PQfinish(a);
    if (rc)
        return -1;
    /* The owner creates in the public schema (PostgreSQL 15 grants it to
     * the database owner only). */
    PGconn *o = lt_pg_admin(c, db);
    snprintf(sql, sizeof sql, "ALTER SCHEMA public OWNER TO \"%s\"", owner);
    rc = o ? lt_pg_exec(o, sql) : -1;
    PQfinish(o);
    return rc;
}

/* The adapters' setting for db as user with a password, over TCP. */
static inline void lt_pg_uri(const lt_pg_t *c, const char *db, const char *user,
                             const char *password, char *out, size_t cap)
{
    snprintf(out, cap, "postgresql://%s:%s@127.0.0.1:%d/%s", user, password, c->port, db);
}

/* Runs `tests/pg-cluster WHAT STATE [ARG]`; 0 or -1. */
static inline int lt_pg_script(const lt_pg_t *c, const char *what, const char *arg)
{
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "'%s' %s '%s' %s >/dev/null", c->script, what, c->state,
             arg ? arg : "");
    int st = system(cmd);
    return st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Restarts the server: cleanly, or as after a crash (immediate stop). */
static inline int lt_pg_restart(const lt_pg_t *c, int crash)
{
    return lt_pg_script(c, "restart", crash ? "--crash" : NULL);
}

/* Stops the server (down = 1) or starts it again (an outage). */
static inline int lt_pg_down(const lt_pg_t *c, int down)
{
    return lt_pg_script(c, down ? "down" : "up", NULL);
}

#endif

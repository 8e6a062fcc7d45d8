/* lt_db_pg: the PostgreSQL backend of the database seam (lt_db.h,
 * lt_db_backend.h), over libpq. The only file of the adapters that speaks
 * PostgreSQL.
 *
 * Change capture (adapters/README.md, "PostgreSQL"): statement-level AFTER
 * triggers with transition tables append the table's name and each changed
 * key to lt_pending, in the agency's own transaction, and NOTIFY channel
 * lt_changes with the table's name. They run as their owner (SECURITY
 * DEFINER), so the agency's applications need no grant and nobody needs to
 * be a superuser.
 *
 * Commit order. Rows appended by concurrent transactions become visible in
 * commit order, not in the order they were written: a sequence value taken
 * in the trigger could be committed after a higher one, and a reader whose
 * cursor passed the higher one would skip it for good. So change ids are
 * not taken in the trigger. The source numbers committed changes itself
 * (lt_db_capture_sync): under a row lock on lt_capture, which serialises
 * every numbering, it moves what lt_pending holds now into lt_changes with
 * ids above lt_capture.last_id, in the order of the writes (lt_pending.seq,
 * s_sync_tx), and commits. A numbering commits before the next one can
 * start, so a reader sees the ids of each numbering appear at once and
 * after all lower ids: nothing committed later can get an id below one
 * already readable. Unlike reading only below the oldest running
 * transaction's xmin, a long transaction elsewhere never holds the feed up.
 *
 * Connection loss: every call first makes sure the connection is up,
 * connecting again when it is not; a failure caused by the connection, or
 * a statement cancelled by the session's timeouts (core/lt_limits.h), sets
 * `lost`, so that the adapter retries later with a back-off (lt_db_lost).
 * Messages name the database, host, port and user from libpq, never the
 * setting (it may hold a password); a password libpq would echo from a
 * malformed setting is masked, and libpq's message about a setting it
 * cannot parse is left out when the setting holds one. Values of rows
 * never appear in messages: for data errors only the kind of error and the
 * column or constraint are kept. */
#include "lt_adapter.h"
#include "lt_err.h"
#include "lt_db_backend.h"
#include "lt_limits.h"
#include "lt_log.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Type oids (pg_type.dat; stable since PostgreSQL 7). */
#define OID_BOOL   16
#define OID_BYTEA  17
#define OID_INT8   20
#define OID_INT2   21
#define OID_INT4   23
#define OID_OID    26
#define OID_FLOAT4 700
#define OID_FLOAT8 701

/* The settings that shape a value's text, pinned in every session, in the
 * installation script and in the trigger function (adapters/README.md,
 * "Connection settings"): left to the server's defaults, a role's, PGTZ or
 * the writing application's session, the same timestamptz, interval, date
 * or float would have other text in another session, and a key listed by
 * the trigger would not be the key the source reads. */
#define S_PINNED(set, sep)                                                                         \
    set "DateStyle = 'ISO, YMD'" sep set "extra_float_digits = 3" sep set                          \
        "TimeZone = 'UTC'" sep set "IntervalStyle = 'iso_8601'"

#define NAME_MAX_LEN 512
#define PRUNE_EVERY  20000
/* The advisory lock that serialises creating the lt_ tables ("lienthon"). */
#define LOCK_KEY   "7811878306212950894"
#define SECRET_MAX 256
/* PostgreSQL's longest identifier (NAMEDATALEN - 1): a longer one is cut,
 * and two tables' trigger names could then be one. */
#define PG_IDENT_MAX 63
/* What change capture adds to a table's name, at most: lt_<table>_truncate. */
#define CAPTURE_AFFIX (sizeof "lt__truncate" - 1)

#define STR_(x) #x
#define STR(x)  STR_(x)

/* libpq's keywords the adapter sets when the setting does not
 * (s_conn_params), with the text of their values: the waits of
 * lt_limits.h. */
static const char *const s_conn_ours[][2] = {
    {"connect_timeout", STR(LT_PG_CONNECT_TIMEOUT_S)},
    {"keepalives", "1"},
    {"keepalives_idle", STR(LT_PG_KEEPALIVE_IDLE_S)},
    {"keepalives_interval", STR(LT_PG_KEEPALIVE_INTERVAL_S)},
    {"keepalives_count", STR(LT_PG_KEEPALIVE_COUNT)},
    {"tcp_user_timeout", STR(LT_PG_TCP_USER_TIMEOUT_MS)},
};
#define CONN_PARAMS (sizeof s_conn_ours / sizeof s_conn_ours[0])

/* Prepared statements, prepared on first use on each connection. */
enum { ST_READ, ST_ROW, ST_CURSOR_STORE, ST_APPLY, ST_DELETE, ST_N };

typedef struct {
    PGconn *conn;
    char *conninfo;          /* the setting: never printed */
    char secret[SECRET_MAX]; /* the password in it, masked in messages */
    char name[NAME_MAX_LEN]; /* for messages */
    lt_db_role_t role;
    const lt_db_table_t *table;
    int create;     /* LT_DB_CREATE, LT_DB_CHECK */
    int would;      /* LT_DB_WOULD_*: what the setup found missing */
    int lost;       /* the last failure was the connection */
    int ready;      /* the connection is set up for the role */
    int64_t pruned; /* source: the cursor at the last pruning (0: none yet) */
    int prepared[ST_N];
    int built;     /* the statements' text (sql, col_types) is complete */
    int stale;     /* the table changed under the statements: resolve it again */
    int has_seq;   /* source: lt_pending has seq, seen at start or set by --install */
    char state[6]; /* SQLSTATE of the last failed statement ("" if none) */
    /* Quoted identifiers, resolved when first connected. */
    char *q_table;    /* "schema"."table" */
    char *q_lt;       /* "schema" of the lt_ tables (current_schema) */
    char *q_key;      /* "key" */
    char *key_type;   /* type of the key column, without length (s_resolve) */
    int key_loose;    /* its = is not byte for byte: citext, or a nondeterministic collation */
    char **col_types; /* sink: type of each mapped column, likewise */
    char *sql[ST_N];  /* SQL of the prepared statements */
    /* What PQconnectdbParams gets: the timeouts (s_conn_params), then the
     * setting as "dbname", expanded by libpq, whose own values win; NULL
     * ends them. */
    const char *conn_kw[CONN_PARAMS + 2], *conn_val[CONN_PARAMS + 2];
} s_pg_t;

/* A growing string; NULL after an allocation failed (then it stays NULL). */
typedef struct {
    char *s;
    size_t len, cap;
} s_buf_t;

/* A bytea value unescaped on demand. */
typedef struct {
    unsigned char *data;
    size_t len;
} s_blob_t;

/* A row of a result: the mapped columns from column `off` on. Values of
 * bytea columns are unescaped on demand into `blobs`, freed once the
 * callback returned. */
typedef struct {
    lt_db_row_t base;
    PGresult *res;
    int row, off;
    s_blob_t *blobs;
} s_row_t;

/* The values of a batch's upserts, as one array literal per column being
 * written (see s_apply_batch): each setter appends the row's element. */
typedef struct {
    lt_db_params_t base;
    s_buf_t *cols;      /* [column] */
    unsigned char *set; /* [column]: set for the row being filled */
    int first;          /* the row is the first (no comma before it) */
} s_params_t;

/* ---- messages ------------------------------------------------------- */

/* Masks every occurrence of the password, and turns libpq's multi-line
 * messages into one line. */
static void s_clean(const s_pg_t *self, char *msg)
{
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = 0;
    for (char *c = msg; *c; c++)
        if (*c == '\n' || *c == '\t')
            *c = ' ';
    size_t k = strlen(self->secret);
    for (char *hit; k > 0 && (hit = strstr(msg, self->secret));)
        memset(hit, '*', k);
}

/* err = "what: libpq's message" (cleaned). */
static void s_conn_err(s_pg_t *self, const char *what, char *err, size_t errlen)
{
    lt_err_set(err, errlen, "%s: %s", what,
               self->conn ? PQerrorMessage(self->conn) : "out of memory");
    s_clean(self, err);
}

/* A failure of the connection rather than of the statement. */
static int s_is_lost(const s_pg_t *self, const PGresult *res)
{
    if (!self->conn || PQstatus(self->conn) != CONNECTION_OK)
        return 1;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    /* 08: connection exception; 57P01..03: shutdown, crash, cannot connect now. */
    return state && (strncmp(state, "08", 2) == 0 || strncmp(state, "57P0", 4) == 0);
}

/* A statement cancelled by the session's timeouts (lock_timeout 55P03,
 * statement_timeout or a cancel 57014, lt_limits.h): the database is busy,
 * not refusing the statement, so it is retried with the back-off as a lost
 * connection is (lt_db_lost). */
static int s_is_busy(const char *state)
{
    return state && (strcmp(state, "55P03") == 0 || strcmp(state, "57014") == 0);
}

/* err = "what: the server's message". For data and constraint errors the
 * message may quote a value (e.g. invalid input syntax for type integer:
 * "..."), so only its first part and the column or constraint are kept. */
static void s_res_err(s_pg_t *self, const PGresult *res, const char *what, char *err, size_t errlen)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!primary) {
        s_conn_err(self, what, err, errlen);
        return;
    }
    if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0)) {
        const char *col = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
        const char *con = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        const char *colon = strchr(primary, ':');
        int len = colon ? (int)(colon - primary) : (int)strlen(primary);
        lt_err_set(err, errlen, "%s: %.*s%s%s%s%s (SQLSTATE %s)", what, len, primary,
                   col ? ", column " : "", col ? col : "", con ? ", constraint " : "",
                   con ? con : "", state);
    } else
        lt_err_set(err, errlen, "%s: %s", what, primary);
    s_clean(self, err);
}

/* libpq prints notices (e.g. "relation already exists, skipping") on
 * stderr by default; they go to the debug log instead. */
static void s_notice(void *arg, const char *message)
{
    (void)arg;
    lt_debug("db", "PostgreSQL: %.*s", (int)strcspn(message, "\n"), message);
}

/* ---- running statements --------------------------------------------- */

/* A statement refused because the table changed under it (ALTER TABLE):
 * a prepared statement whose result type changed (0A000, "cached plan must
 * not change result type"), or SQL built for the old columns' types or
 * names (42804 datatype mismatch, 42703 undefined column, 42883 no such
 * operator). Preparing the same statement again would be refused
 * for ever: the table is looked up again instead (s_ensure). */
static int s_is_stale(const char *state)
{
    /* Those four only: the rest of class 42 (no privilege, no such table)
     * is not mended by looking the table up again at every retry. */
    static const char *const changed[] = {"0A000", "42804", "42703", "42883"};
    for (size_t i = 0; state && i < sizeof changed / sizeof *changed; i++)
        if (strcmp(state, changed[i]) == 0)
            return 1;
    return 0;
}

/* Checks a result: returns it when it is `want` (PGRES_COMMAND_OK or
 * PGRES_TUPLES_OK), else clears it, sets err, `lost` and `stale`, returns
 * NULL. */
static PGresult *s_check(s_pg_t *self, PGresult *res, ExecStatusType want, const char *what,
                         char *err, size_t errlen)
{
    if (res && PQresultStatus(res) == want) {
        self->lost = 0;
        self->state[0] = 0;
        return res;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    self->lost = s_is_lost(self, res) || s_is_busy(state);
    snprintf(self->state, sizeof self->state, "%s", state ? state : "");
    self->stale |= s_is_stale(state);
    if (res && PQresultStatus(res) != PGRES_FATAL_ERROR && PQresultStatus(res) != want)
        lt_err_set(err, errlen, "%s: unexpected result %s", what, PQresStatus(PQresultStatus(res)));
    else
        s_res_err(self, res, what, err, errlen);
    PQclear(res);
    return NULL;
}

/* Runs SQL without parameters that returns no rows. */
static int s_exec(s_pg_t *self, const char *sql, const char *what, char *err, size_t errlen)
{
    PGresult *res = s_check(self, PQexec(self->conn, sql), PGRES_COMMAND_OK, what, err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

/* Runs SQL with text parameters; returns the result of the wanted status,
 * or NULL with err. */
static PGresult *s_query(s_pg_t *self, const char *sql, int n, const char *const *vals,
                         ExecStatusType want, const char *what, char *err, size_t errlen)
{
    PGresult *res = PQexecParams(self->conn, sql, n, NULL, vals, NULL, NULL, 0);
    return s_check(self, res, want, what, err, errlen);
}

/* The server-side name of prepared statement `st` ("lt_N"), for every
 * use of it: PREPARE, EXECUTE (and its EXPLAIN), the pipeline's sends. */
static void s_stmt_name(int st, char name[16])
{
    snprintf(name, 16, "lt_%d", st);
}

/* Prepares statement `st` on this connection when it is not yet. */
static int s_prepare(s_pg_t *self, int st, int n_params, char *err, size_t errlen)
{
    if (self->prepared[st])
        return 0;
    char name[16];
    s_stmt_name(st, name);
    PGresult *res = s_check(self, PQprepare(self->conn, name, self->sql[st], n_params, NULL),
                            PGRES_COMMAND_OK, "cannot prepare a statement", err, errlen);
    PQclear(res);
    self->prepared[st] = res != NULL;
    return res ? 0 : -1;
}

/* Runs prepared statement `st` with text parameters. */
static PGresult *s_run(s_pg_t *self, int st, int n, const char *const *vals, ExecStatusType want,
                       const char *what, char *err, size_t errlen)
{
    if (s_prepare(self, st, n, err, errlen))
        return NULL;
    char name[16];
    s_stmt_name(st, name);
    PGresult *res = PQexecPrepared(self->conn, name, n, vals, NULL, NULL, 0);
    return s_check(self, res, want, what, err, errlen);
}

/* One bigint from a query with text parameters. */
static int s_int(s_pg_t *self, const char *sql, int n, const char *const *vals, int64_t *out,
                 const char *what, char *err, size_t errlen)
{
    PGresult *res = s_query(self, sql, n, vals, PGRES_TUPLES_OK, what, err, errlen);
    if (!res)
        return -1;
    int ok = PQntuples(res) == 1 && PQnfields(res) >= 1;
    *out = ok && !PQgetisnull(res, 0, 0) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    if (!ok)
        lt_err_set(err, errlen, "%s: no result", what);
    PQclear(res);
    return ok ? 0 : -1;
}

/* Columns of a source's rejects (lt_db.h, PROTOCOL.md 5.7). */
#define S_REJECTS_COLS                                                                             \
    "dataset text NOT NULL, row_key text NOT NULL, kind text NOT NULL, reasons text NOT NULL, "    \
    "source_cursor text NOT NULL DEFAULT '', first_seen text NOT NULL, last_seen text NOT NULL, "  \
    "count bigint NOT NULL DEFAULT 1, PRIMARY KEY (dataset, row_key, kind)"

/* ---- SQL text --------------------------------------------------------- */

static void s_add(s_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Room for n more bytes and a NUL; -1 (and the buffer dropped) when out
 * of memory. */
static int s_reserve(s_buf_t *b, size_t n)
{
    if (b->cap && !b->s)
        return -1;
    if (b->len + n + 1 <= b->cap)
        return 0;
    size_t cap = (b->len + n + 1) * 2;
    char *s = realloc(b->s, cap);
    if (!s) {
        free(b->s);
        b->s = NULL;
        b->cap = 1;
        return -1;
    }
    b->s = s;
    b->cap = cap;
    return 0;
}

static void s_add(s_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || s_reserve(b, (size_t)n) != 0) {
        free(b->s);
        b->s = NULL;
        b->cap = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* Appends n raw bytes (the hot path of s_add_element). */
static void s_cat(s_buf_t *b, const char *p, size_t n)
{
    if (s_reserve(b, n) != 0)
        return;
    memcpy(b->s + b->len, p, n);
    b->len += n;
    b->s[b->len] = 0;
}

/* A quoted identifier (PQescapeIdentifier), as a malloc'd string. */
static char *s_ident(s_pg_t *self, const char *name)
{
    char *q = PQescapeIdentifier(self->conn, name, strlen(name));
    char *copy = q ? strdup(q) : NULL;
    PQfreemem(q);
    return copy;
}

/* A quoted literal, as a malloc'd string. */
static char *s_literal(s_pg_t *self, const char *text)
{
    char *q = PQescapeLiteral(self->conn, text, strlen(text));
    char *copy = q ? strdup(q) : NULL;
    PQfreemem(q);
    return copy;
}

/* "t."c1", t."c2"...": the mapped columns, each quoted, prefixed. With
 * key_text, the key column is read as text, as the change capture lists
 * it (k::text): a char(n) key then comes without the padding its raw value
 * has, and the row's key field is the change's key. */
static int s_add_columns(s_pg_t *self, s_buf_t *b, const char *prefix, int key_text)
{
    for (size_t i = 0; i < self->table->n_columns; i++) {
        char *q = s_ident(self, self->table->columns[i]);
        if (!q)
            return -1;
        if (key_text && i == self->table->key)
            s_add(b, "%s%s%s::text AS %s", i ? ", " : "", prefix, q, q);
        else
            s_add(b, "%s%s%s", i ? ", " : "", prefix, q);
        free(q);
    }
    return 0;
}

/* ---- the change capture script ---------------------------------------- */

/* The trigger function: one per table, for INSERT, UPDATE, DELETE (from the
 * transition tables) and TRUNCATE (every key, read before the truncation).
 * An UPDATE lists a key when a mapped column changed (compared as text, so
 * that every type compares) or the key itself changed (then both keys, the
 * old one first, as the SQLite backend does: a consumer then deletes the
 * old spelling before it writes the new one, and even a sink whose key
 * ignores case and that matches the old spelling to the row keeps the
 * row). The function runs under the session's settings (S_PINNED), so
 * that a key's text is the one the source reads back, whatever the
 * writer's session. S_CAPTURE_MARK, a comment of the body, tells this body
 * from one installed before (s_capture_stale). */
#define S_CAPTURE_MARK "-- lienthong change capture 3 (adapters/README.md)"
static void s_script_function(s_pg_t *self, s_buf_t *b, const char *fn, const char *tname,
                              const char *tag)
{
    const char *k = self->q_key, *lt = self->q_lt;
    /* Keys are matched byte for byte where their own = is not (key_loose):
     * the old spelling of a key changed only in case must not match the
     * new one, or it is never listed. */
    const char *x = self->key_loose ? "::text COLLATE \"C\"" : "";
    s_add(b,
          "CREATE OR REPLACE FUNCTION %s.%s() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER\n"
          "  SET search_path = pg_catalog, pg_temp %s AS %s\n"
          "BEGIN\n"
          "  " S_CAPTURE_MARK "\n"
          "  IF TG_OP = 'INSERT' THEN\n"
          "    INSERT INTO %s.lt_pending (table_name, row_key)\n"
          "      SELECT %s, n.%s::text FROM lt_new n WHERE n.%s IS NOT NULL;\n"
          "  ELSIF TG_OP = 'DELETE' THEN\n"
          "    INSERT INTO %s.lt_pending (table_name, row_key)\n"
          "      SELECT %s, o.%s::text FROM lt_old o WHERE o.%s IS NOT NULL;\n"
          "  ELSIF TG_OP = 'UPDATE' THEN\n"
          "    INSERT INTO %s.lt_pending (table_name, row_key)\n"
          "      SELECT %s, o.%s::text FROM lt_old o WHERE o.%s IS NOT NULL\n"
          "       AND NOT EXISTS (SELECT 1 FROM lt_new n WHERE n.%s%s = o.%s%s)\n"
          "      UNION ALL\n"
          "      SELECT %s, n.%s::text FROM lt_new n LEFT JOIN lt_old o ON o.%s%s = n.%s%s\n"
          "       WHERE n.%s IS NOT NULL AND (o.%s IS NULL OR ROW(",
          lt, fn, S_PINNED("SET ", " "), tag, lt, tname, k, k, lt, tname, k, k, lt, tname, k, k, k,
          x, k, x, tname, k, k, x, k, x, k, k);
    s_add_columns(self, b, "n.", 0);
    s_add(b, ")::text IS DISTINCT FROM ROW(");
    s_add_columns(self, b, "o.", 0);
    s_add(b,
          ")::text);\n"
          "  ELSE\n"
          "    INSERT INTO %s.lt_pending (table_name, row_key)\n"
          "      SELECT %s, t.%s::text FROM %s t WHERE t.%s IS NOT NULL ORDER BY t.%s;\n"
          "  END IF;\n"
          "  IF FOUND THEN\n"
          "    PERFORM pg_notify('lt_changes', %s);\n"
          "  END IF;\n"
          "  RETURN NULL;\n"
          "END %s;\n",
          lt, tname, k, self->q_table, k, k, tname, tag);
}

/* Lists every existing row when the table's triggers are new. rel is the
 * table's name quoted as a literal, for regclass. */
static void s_script_seed(s_pg_t *self, s_buf_t *b, const char *trig_insert, const char *tname,
                          const char *rel, const char *tag)
{
    const char *k = self->q_key, *lt = self->q_lt;
    s_add(b,
          "DO %s DECLARE base bigint; n bigint; BEGIN\n"
          "  IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = %s::regclass\n"
          "                 AND tgname = %s) THEN\n"
          "    SELECT last_id INTO base FROM %s.lt_capture FOR UPDATE;\n"
          "    INSERT INTO %s.lt_changes (id, table_name, row_key)\n"
          "      SELECT base + row_number() OVER (ORDER BY t.%s), %s, t.%s::text\n"
          "      FROM %s t WHERE t.%s IS NOT NULL;\n"
          "    GET DIAGNOSTICS n = ROW_COUNT;\n"
          "    UPDATE %s.lt_capture SET last_id = base + n;\n"
          "  END IF;\n"
          "END %s;\n",
          tag, rel, trig_insert, lt, lt, k, tname, k, self->q_table, k, lt, tag);
}

static void s_script_triggers(s_pg_t *self, s_buf_t *b, const char *fn, const char *const trig[4])
{
    static const char *const when[4] = {"AFTER INSERT", "AFTER UPDATE", "AFTER DELETE",
                                        "BEFORE TRUNCATE"};
    static const char *const ref[4] = {"REFERENCING NEW TABLE AS lt_new ",
                                       "REFERENCING OLD TABLE AS lt_old NEW TABLE AS lt_new ",
                                       "REFERENCING OLD TABLE AS lt_old ", ""};
    for (int i = 0; i < 4; i++)
        s_add(b,
              "DROP TRIGGER IF EXISTS %s ON %s;\n"
              "CREATE TRIGGER %s %s ON %s %sFOR EACH STATEMENT EXECUTE FUNCTION %s.%s();\n",
              trig[i], self->q_table, trig[i], when[i], self->q_table, ref[i], self->q_lt, fn);
}

/* Whether a name pasted into the script's quoted bodies holds `tag`. */
static int s_tag_used(const s_pg_t *self, const char *tag)
{
    const lt_db_table_t *t = self->table;
    if (strstr(self->q_lt, tag) || strstr(self->q_table, tag))
        return 1;
    for (size_t i = 0; i < t->n_columns; i++)
        if (strstr(t->columns[i], tag))
            return 1;
    return 0;
}

/* The dollar-quote tag of the script's bodies: $lt$, or $lt1$, $lt2$...
 * when a name of the schema, table or columns holds it: such a name would
 * end a body early, and the rest of it would run as SQL. */
static void s_pick_tag(const s_pg_t *self, char *tag, size_t cap)
{
    snprintf(tag, cap, "$lt$");
    for (unsigned i = 1; s_tag_used(self, tag); i++)
        snprintf(tag, cap, "$lt%u$", i);
}

/* The names the script pastes in, each quoted once: the capture function,
 * the table (as a literal, and as a regclass literal), the lt_ tables
 * as literals for to_regclass, and the four triggers. */
typedef struct {
    char *fn, *tname, *ins, *rel, *cap, *pend, *trig[4];
} s_names_t;

static void s_names_free(s_names_t *n)
{
    free(n->pend);
    free(n->fn);
    free(n->tname);
    free(n->ins);
    free(n->rel);
    free(n->cap);
    for (int i = 0; i < 4; i++)
        free(n->trig[i]);
}

/* Fills n (freed by s_names_free whatever happens): 0, or -1 out of memory. */
static int s_names(s_pg_t *self, s_names_t *n)
{
    const char *t = self->table->name, *lt = self->q_lt;
    char names[5][300];
    snprintf(names[0], sizeof names[0], "lt_%s_capture", t);
    snprintf(names[1], sizeof names[1], "lt_%s_insert", t);
    snprintf(names[2], sizeof names[2], "lt_%s_update", t);
    snprintf(names[3], sizeof names[3], "lt_%s_delete", t);
    snprintf(names[4], sizeof names[4], "lt_%s_truncate", t);
    s_buf_t capture = {0}, pending = {0};
    s_add(&capture, "%s.lt_capture", lt);
    s_add(&pending, "%s.lt_pending", lt);
    n->fn = s_ident(self, names[0]);
    n->tname = s_literal(self, t);
    n->ins = s_literal(self, names[1]);
    n->rel = s_literal(self, self->q_table);
    n->cap = capture.s ? s_literal(self, capture.s) : NULL;
    n->pend = pending.s ? s_literal(self, pending.s) : NULL;
    for (int i = 0; i < 4; i++)
        n->trig[i] = s_ident(self, names[1 + i]);
    free(capture.s);
    free(pending.s);
    return n->fn && n->tname && n->ins && n->rel && n->cap && n->pend && n->trig[0] && n->trig[1] &&
                   n->trig[2] && n->trig[3]
               ? 0
               : -1;
}

/* The lock, then the tables of the lt_ schema, each made or brought up to
 * date only when it needs to be (the script is idempotent). */
static void s_script_tables(s_pg_t *self, s_buf_t *b, const s_names_t *n, const char *tag)
{
    const char *lt = self->q_lt;
    s_add(b,
          /* The name stays out of the comment: one holding a newline would end it. */
          "-- lienthong: change capture for the table locked below (adapters/README.md).\n"
          "-- Idempotent.\n"
          "SELECT pg_advisory_xact_lock(" LOCK_KEY ");\n"
          "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE;\n"
          "CREATE TABLE IF NOT EXISTS %s.lt_source_cursor (dataset text PRIMARY KEY,\n"
          "  change_id bigint NOT NULL, table_name text, shift bigint NOT NULL DEFAULT 0,\n"
          "  acked_shift bigint);\n"
          "ALTER TABLE %s.lt_source_cursor ADD COLUMN IF NOT EXISTS acked_shift bigint;\n"
          "DO %s BEGIN\n"
          "  IF to_regclass(%s) IS NULL THEN\n"
          "    CREATE TABLE %s.lt_capture (one boolean PRIMARY KEY DEFAULT true CHECK (one),\n"
          "                               last_id bigint NOT NULL DEFAULT 0);\n"
          "    INSERT INTO %s.lt_capture DEFAULT VALUES;\n"
          "    -- a new change list numbers from 1 again\n"
          "    UPDATE %s.lt_source_cursor SET change_id = 0;\n"
          "  END IF;\n"
          "END %s;\n"
          "CREATE TABLE IF NOT EXISTS %s.lt_pending (\n"
          "  seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n"
          "  table_name text NOT NULL, row_key text NOT NULL);\n"
          "DO %s BEGIN\n"
          "  -- a change list from before seq: the order of its writes\n"
          "  IF NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass(%s)\n"
          "                 AND attname = 'seq' AND NOT attisdropped) THEN\n"
          "    ALTER TABLE %s.lt_pending ADD COLUMN seq bigint GENERATED ALWAYS AS IDENTITY\n"
          "      PRIMARY KEY;\n"
          "  END IF;\n"
          "END %s;\n"
          "CREATE TABLE IF NOT EXISTS %s.lt_changes (\n"
          "  id bigint NOT NULL, table_name text NOT NULL, row_key text NOT NULL);\n"
          "CREATE INDEX IF NOT EXISTS lt_changes_table_id ON %s.lt_changes (table_name, id);\n"
          "CREATE TABLE IF NOT EXISTS %s.lt_rejects (" S_REJECTS_COLS ");\n",
          self->q_table, lt, lt, tag, n->cap, lt, lt, lt, tag, lt, tag, n->pend, lt, tag, lt, lt,
          lt);
}

/* The whole installation (without BEGIN/COMMIT). Names of the table, its
 * schema and the lt_ schema appear only quoted: as identifiers, or as
 * literals where SQL takes them as text (regclass). */
static char *s_script(s_pg_t *self)
{
    char tag[24];
    s_names_t n = {0};
    s_buf_t b = {0};
    s_pick_tag(self, tag, sizeof tag);
    if (s_names(self, &n) != 0)
        goto out;
    s_script_tables(self, &b, &n, tag);
    /* The keys the seed lists are text as the source reads them. */
    s_add(&b, "%s;\n", S_PINNED("SET LOCAL ", "; "));
    s_script_function(self, &b, n.fn, n.tname, tag);
    s_script_seed(self, &b, n.ins, n.tname, n.rel, tag);
    s_script_triggers(self, &b, n.fn, (const char *const *)n.trig);
    s_add(&b, "ANALYZE %s.lt_changes;\n", self->q_lt);
out:
    s_names_free(&n);
    return b.s;
}

/* ---- connecting --------------------------------------------------------- */

/* Wipes a string that may hold the password (the setting, libpq's values
 * and messages) before it is freed. */
static void s_wipe(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
}

void lt_db_pg_opts_wipe(PQconninfoOption *opts)
{
    /* Each value is libpq's own malloc'd copy, which PQconninfoFree frees
     * unwiped; the array is the caller's to write through. */
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        s_wipe(o->val);
}

/* libpq's options with their values wiped first: they hold the password
 * of the setting or of PGPASSWORD. */
static void s_opts_free(PQconninfoOption *opts)
{
    lt_db_pg_opts_wipe(opts);
    PQconninfoFree(opts);
}

/* The keywords for PQconnectdbParams: the waits of lt_limits.h that neither
 * the setting nor an environment variable (PGCONNECT_TIMEOUT) sets, those
 * this libpq knows, then the setting itself as "dbname", which libpq
 * expands and whose values override the ones before it. */
static void s_conn_params(s_pg_t *self)
{
    PQconninfoOption *known = PQconndefaults();
    size_t n = 0;
    /* Each keyword is libpq's once: at most CONN_PARAMS of them match. */
    for (size_t i = 0; i < CONN_PARAMS; i++)
        for (const PQconninfoOption *o = known; o && o->keyword && n < CONN_PARAMS; o++)
            if (strcmp(o->keyword, s_conn_ours[i][0]) == 0 &&
                !(o->envvar && getenv(o->envvar) && *getenv(o->envvar))) {
                self->conn_kw[n] = s_conn_ours[i][0];
                self->conn_val[n++] = s_conn_ours[i][1];
            }
    s_opts_free(known);
    self->conn_kw[n] = "dbname";
    self->conn_val[n++] = self->conninfo;
    self->conn_kw[n] = self->conn_val[n] = NULL;
}

/* The password of the setting, to mask it in messages. A setting libpq
 * cannot parse may still hold one: the text between ':' and '@' of a URI's
 * user part is taken then. */
static void s_find_secret(s_pg_t *self)
{
    PQconninfoOption *opts = PQconninfoParse(self->conninfo, NULL);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val)
            snprintf(self->secret, sizeof self->secret, "%s", o->val);
    s_opts_free(opts);
    const char *scheme = strstr(self->conninfo, "://");
    const char *at = scheme ? strchr(scheme + 3, '@') : NULL;
    const char *colon = scheme ? memchr(scheme + 3, ':', at ? (size_t)(at - scheme - 3) : 0) : NULL;
    if (!self->secret[0] && colon && at > colon + 1)
        snprintf(self->secret, sizeof self->secret, "%.*s", (int)(at - colon - 1), colon + 1);
}

static void s_set_name(s_pg_t *self)
{
    const char *db = self->conn ? PQdb(self->conn) : NULL;
    const char *host = self->conn ? PQhost(self->conn) : NULL;
    const char *port = self->conn ? PQport(self->conn) : NULL;
    const char *user = self->conn ? PQuser(self->conn) : NULL;
    lt_err_set(self->name, sizeof self->name, "PostgreSQL database %s on %s%s%s as %s",
               db && *db ? db : "?", host && *host ? host : "localhost", port && *port ? ":" : "",
               port ? port : "", user && *user ? user : "?");
    s_clean(self, self->name);
}

/* Identifiers and the key column's type, looked up once. Types are taken
 * without their length modifier (character varying, not character
 * varying(6)) for the casts of parameters: an explicit cast to the full
 * type cuts a text that is too long, where assigning it to the column
 * refuses it (SQLSTATE 22001), and a key compared after the cut matches
 * another row. The typmod -1, not NULL, keeps char(n) as bpchar and bit(n)
 * as "bit": plain character and bit mean a length of 1. */
/* The catalog's row of the table: current schema, the table's schema,
 * the key column's type (NULL: no such column) and whether its collation
 * is nondeterministic; none when there is no such table. NULL with err on
 * a failure. */
static PGresult *s_lookup_table(s_pg_t *self, char *err, size_t errlen)
{
    const lt_db_table_t *t = self->table;
    char *qt = s_ident(self, t->name);
    if (!qt) {
        lt_err_set(err, errlen, "out of memory");
        return NULL;
    }
    const char *vals[2] = {qt, t->columns[t->key]};
    PGresult *res = s_query(self,
                            "SELECT quote_ident(current_schema()), quote_ident(n.nspname), "
                            "format_type(a.atttypid, -1), COALESCE((SELECT NOT "
                            "co.collisdeterministic FROM pg_collation co WHERE co.oid = "
                            "a.attcollation), false) FROM pg_class c "
                            "JOIN pg_namespace n ON n.oid = c.relnamespace "
                            "LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = $2 "
                            "AND NOT a.attisdropped WHERE c.oid = to_regclass($1)",
                            2, vals, PGRES_TUPLES_OK, "cannot look the table up", err, errlen);
    free(qt);
    return res;
}

/* Keeps what the row res of s_lookup_table names: the quoted table and
 * schemas, the key's type and quoted name, and whether keys compare
 * loosely (a nondeterministic collation, or citext). 0, or -1 with err. */
static int s_keep_resolved(s_pg_t *self, PGresult *res, char *err, size_t errlen)
{
    const lt_db_table_t *t = self->table;
    char *tq = s_ident(self, t->name);
    size_t len = strlen(PQgetvalue(res, 0, 1)) + (tq ? strlen(tq) : 0) + 2;
    self->q_table = tq ? malloc(len) : NULL;
    if (self->q_table)
        snprintf(self->q_table, len, "%s.%s", PQgetvalue(res, 0, 1), tq);
    free(tq);
    self->q_lt = strdup(PQgetvalue(res, 0, 0));
    self->key_type = strdup(PQgetvalue(res, 0, 2));
    self->q_key = s_ident(self, t->columns[t->key]);
    size_t kl = self->key_type ? strlen(self->key_type) : 0;
    self->key_loose = strcmp(PQgetvalue(res, 0, 3), "t") == 0 ||
                      (kl >= 6 && strcmp(self->key_type + kl - 6, "citext") == 0);
    if (!self->q_table || !self->q_lt || !self->key_type || !self->q_key) {
        /* All or none: s_resolve takes q_table set as every name resolved. */
        free(self->q_table), self->q_table = NULL;
        free(self->q_lt), self->q_lt = NULL;
        free(self->key_type), self->key_type = NULL;
        free(self->q_key), self->q_key = NULL;
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

static int s_resolve(s_pg_t *self, char *err, size_t errlen)
{
    if (self->q_table)
        return 0;
    const lt_db_table_t *t = self->table;
    PGresult *res = s_lookup_table(self, err, errlen);
    if (!res)
        return -1;
    int rc = -1;
    if (PQntuples(res) != 1)
        lt_err_set(err, errlen, "%s has no table %s", self->name, t->name);
    else if (PQgetisnull(res, 0, 2))
        lt_err_set(err, errlen, "table %s has no column %s (key_column)", t->name,
                   t->columns[t->key]);
    else if (PQgetisnull(res, 0, 0))
        lt_err_set(err, errlen, "%s: no schema in the search_path to create the lt_ tables in",
                   self->name);
    else
        rc = s_keep_resolved(self, res, err, errlen);
    PQclear(res);
    return rc;
}

static const char *s_create_type(lt_db_type_t type)
{
    switch (type) {
    case LT_DB_TEXT:
        return "text";
    case LT_DB_BLOB:
        return "bytea";
    case LT_DB_REAL:
        return "double precision";
    case LT_DB_UINT64:
        return "numeric(20,0)"; /* every unsigned 64-bit value; bigint stops at 2^63 - 1 */
    default:
        return "bigint";
    }
}

/* create_table: the mapped columns, the key as PRIMARY KEY. */
static int s_create_table(s_pg_t *self, char *err, size_t errlen)
{
    const lt_db_table_t *t = self->table;
    s_buf_t b = {0};
    char *qt = s_ident(self, t->name);
    s_add(&b, "CREATE TABLE IF NOT EXISTS %s (", qt ? qt : "");
    for (size_t i = 0; i < t->n_columns; i++) {
        char *q = s_ident(self, t->columns[i]);
        s_add(&b, "%s%s %s%s", i ? ", " : "", q ? q : "", s_create_type(t->types[i]),
              i == t->key ? " PRIMARY KEY" : "");
        free(q);
    }
    s_add(&b, ")");
    int rc = -1;
    if (!qt || !b.s)
        lt_err_set(err, errlen, "out of memory");
    else
        rc = s_exec(self, b.s, "cannot create the table", err, errlen);
    free(qt);
    free(b.s);
    return rc;
}

/* Creates a table unless it exists (checked first, so that a role without
 * CREATE on the schema can use one a DBA created). */
static int s_lt_table(s_pg_t *self, const char *name, const char *cols, int *made, char *err,
                      size_t errlen)
{
    s_buf_t q = {0}, c = {0};
    s_add(&q, "%s.%s", self->q_lt, name);
    s_add(&c, "CREATE TABLE IF NOT EXISTS %s.%s (%s)", self->q_lt, name, cols);
    int64_t exists = 0;
    const char *vals[1] = {q.s};
    int rc = -1;
    if (!q.s || !c.s)
        lt_err_set(err, errlen, "out of memory");
    else if (s_int(self, "SELECT (to_regclass($1) IS NOT NULL)::int", 1, vals, &exists,
                   "cannot look a table up", err, errlen) == 0)
        rc = exists ? 0 : s_exec(self, c.s, "cannot create a table", err, errlen);
    if (made)
        *made = !exists;
    free(q.s);
    free(c.s);
    return rc;
}

/* A source's cursor table from before acked_shift gets it (NULL:
 * acknowledged under shift), looked up first so that a role that does not
 * own a table the DBA created is told to run the script again. */
static int s_acked_column(s_pg_t *self, char *err, size_t errlen)
{
    s_buf_t q = {0}, a = {0};
    s_add(&q, "%s.lt_source_cursor", self->q_lt);
    s_add(&a, "ALTER TABLE %s.lt_source_cursor ADD COLUMN IF NOT EXISTS acked_shift bigint",
          self->q_lt);
    int64_t has = 0;
    const char *vals[1] = {q.s};
    int rc = -1;
    if (!q.s || !a.s)
        lt_err_set(err, errlen, "out of memory");
    else if (s_int(self,
                   "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND "
                   "attname = 'acked_shift' AND NOT attisdropped",
                   1, vals, &has, "cannot look a column up", err, errlen) == 0)
        rc = has ? 0
                 : s_exec(self, a.s,
                          "cannot add column acked_shift to lt_source_cursor (run the script of "
                          "'lienthong source --print-install' as the table's owner)",
                          err, errlen);
    self->would |= has ? 0 : LT_DB_WOULD_COLUMN;
    free(q.s);
    free(a.s);
    return rc;
}

/* Creates a cursor table (and a source's rejects table) unless it exists. */
static int s_cursor_table(s_pg_t *self, char *err, size_t errlen)
{
    int made = 0;
    if (self->role == LT_DB_SOURCE &&
        s_lt_table(self, "lt_rejects", S_REJECTS_COLS, &made, err, errlen))
        return -1;
    self->would |= made ? LT_DB_WOULD_REJECTS : 0;
    const char *name = self->role == LT_DB_SOURCE ? "lt_source_cursor" : "lt_sink_cursor";
    const char *cols = self->role == LT_DB_SOURCE
                           ? "dataset text PRIMARY KEY, change_id bigint NOT NULL, table_name "
                             "text, shift bigint NOT NULL DEFAULT 0, acked_shift bigint"
                           : "stream text PRIMARY KEY, seq bigint NOT NULL, history text";
    if (s_lt_table(self, name, cols, &made, err, errlen))
        return -1;
    self->would |= made ? LT_DB_WOULD_CURSOR : 0;
    if (self->role == LT_DB_SOURCE)
        return made ? 0 : s_acked_column(self, err, errlen);
    if (made)
        return 0;
    /* A sink's cursor table from before histories were kept gets the column,
     * NULL: unknown (PROTOCOL.md 8.2). Looked up first: ALTER needs the
     * table's owner even when there is nothing to add. */
    s_buf_t q = {0}, a = {0};
    s_add(&q, "%s.lt_sink_cursor", self->q_lt);
    s_add(&a, "ALTER TABLE %s.lt_sink_cursor ADD COLUMN IF NOT EXISTS history text", self->q_lt);
    const char *vals[1] = {q.s};
    int64_t has = 0;
    int rc = -1;
    if (!q.s || !a.s)
        lt_err_set(err, errlen, "out of memory");
    else if (s_int(self,
                   "SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass($1) AND "
                   "attname = 'history' AND NOT attisdropped",
                   1, vals, &has, "cannot look a column up", err, errlen) == 0)
        rc = has ? 0 : s_exec(self, a.s, "cannot add lt_sink_cursor.history", err, errlen);
    self->would |= has ? 0 : LT_DB_WOULD_COLUMN;
    free(q.s);
    free(a.s);
    return rc;
}

static int s_role_sql(s_pg_t *self, char *err, size_t errlen);
static void s_rollback(void *impl);

/* Sets *exists to 1 when the adapter's table exists. */
static int s_table_exists(s_pg_t *self, int64_t *exists, char *err, size_t errlen)
{
    char *qt = s_ident(self, self->table->name);
    const char *vals[1] = {qt};
    int rc = qt ? s_int(self, "SELECT (to_regclass($1) IS NOT NULL)::int", 1, vals, exists,
                        "cannot look a table up", err, errlen)
                : lt_err_set(err, errlen, "out of memory");
    free(qt);
    return rc ? -1 : 0;
}

/* Creates what is missing (the sink's table with `create`, the cursor
 * table) and resolves the table, under a transaction-wide advisory lock:
 * CREATE TABLE IF NOT EXISTS is not safe against itself, and adapters of one
 * database often start together. Without `commit` (LT_DB_CHECK) the
 * transaction stays open, for the caller to roll back: self->would says
 * what it created. */
static int s_prepare_tables(s_pg_t *self, int create, int commit, char *err, size_t errlen)
{
    const char *key[1] = {LOCK_KEY};
    int64_t exists = 1;
    if (s_exec(self, "BEGIN", "cannot begin", err, errlen))
        return -1;
    PGresult *res = s_query(self, "SELECT pg_advisory_xact_lock($1::bigint)", 1, key,
                            PGRES_TUPLES_OK, "cannot lock", err, errlen);
    PQclear(res);
    self->would = 0;
    if (!res || (create && s_table_exists(self, &exists, err, errlen)) ||
        (create && s_create_table(self, err, errlen)) || s_resolve(self, err, errlen) ||
        s_cursor_table(self, err, errlen) ||
        (commit && s_exec(self, "COMMIT", "cannot commit", err, errlen))) {
        s_rollback(self);
        return -1;
    }
    self->would |= exists ? 0 : LT_DB_WOULD_TABLE;
    return 0;
}

/* statement_timeout and lock_timeout (lt_limits.h), unless the connection
 * has its own: from the setting's options (-c ...), PGOPTIONS, or the
 * role's or the database's (ALTER ROLE ... SET), which are how an operator
 * gives a longer one (adapters/README.md, "Connection settings"). The
 * server's defaults and postgresql.conf are for every application, not
 * this one: they are replaced. */
static int s_timeouts(s_pg_t *self, char *err, size_t errlen)
{
    PGresult *res = s_query(
        self,
        "SELECT set_config(name, CASE name WHEN 'lock_timeout' THEN $1 ELSE $2 END, false) "
        "FROM pg_settings WHERE name IN ('lock_timeout', 'statement_timeout') AND source NOT IN "
        "('client', 'user', 'database', 'database user', 'session')",
        2, (const char *const[]){STR(LT_PG_LOCK_TIMEOUT_MS), STR(LT_PG_STATEMENT_TIMEOUT_MS)},
        PGRES_TUPLES_OK, "cannot set the session's timeouts", err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

/* Sets the session up for the role after each (re)connection. */
static int s_setup(s_pg_t *self, char *err, size_t errlen)
{
    memset(self->prepared, 0, sizeof self->prepared);
    PQsetNoticeProcessor(self->conn, s_notice, NULL);
    if (PQsetClientEncoding(self->conn, "UTF8") != 0) {
        s_conn_err(self, "cannot use UTF-8", err, errlen);
        return -1;
    }
    /* DEALLOCATE: a setup again on the same connection (after one failed
     * part way) prepares its statements again. The settings are pinned
     * (S_PINNED): the same value is published with the same text after a
     * change of the server's configuration, and a sink reads a time
     * without an offset in the same zone. */
    if (s_exec(self, "DEALLOCATE ALL; " S_PINNED("SET ", "; "), "cannot set the session up", err,
               errlen) ||
        s_timeouts(self, err, errlen))
        return -1;
    int sink = self->role == LT_DB_SINK, check = self->create & LT_DB_CHECK;
    if (s_prepare_tables(self, sink && (self->create & LT_DB_CREATE), !check, err, errlen))
        return -1;
    /* The statements' text depends only on the table: built once, and
     * again after a setup that failed part way (e.g. the server went away
     * between the column queries). A check reads the table it would create
     * inside the transaction, then rolls everything back. */
    int rc = !self->built && s_role_sql(self, err, errlen) ? -1 : 0;
    if (check)
        s_rollback(self);
    if (rc || check)
        return rc;
    if (!sink)
        return s_exec(self, "LISTEN lt_changes", "cannot listen for changes", err, errlen);
    return 0;
}

/* Connects (again). On failure, `lost` tells whether the server is down
 * (worth retrying) rather than refusing us or misconfigured. */
static int s_connect(s_pg_t *self, char *err, size_t errlen)
{
    self->ready = 0;
    PGPing ping = PQPING_OK;
    /* A server leaving recovery refuses a connection ("not yet accepting
     * connections") and may answer the ping just after: a refusal with the
     * server up is believed (password, database) only when it repeats. */
    for (int attempt = 0; attempt < 2 && ping == PQPING_OK; attempt++) {
        PQfinish(self->conn);
        self->conn = PQconnectdbParams(self->conn_kw, self->conn_val, 1);
        s_set_name(self);
        if (self->conn && PQstatus(self->conn) == CONNECTION_OK) {
            self->lost = 0;
            return 0;
        }
        ping = PQpingParams(self->conn_kw, self->conn_val, 1);
    }
    self->lost = ping == PQPING_REJECT || ping == PQPING_NO_RESPONSE;
    char what[NAME_MAX_LEN + 64];
    snprintf(what, sizeof what, "cannot connect to %s", self->name);
    s_conn_err(self, what, err, errlen);
    return -1;
}

static void s_free_sql(s_pg_t *self);

/* Drops what was resolved from the table (identifiers, types, the
 * statements' text) and the session's setup, so that the next call looks
 * the table up and prepares its statements again. */
static void s_forget_table(s_pg_t *self)
{
    free(self->q_table);
    free(self->q_lt);
    free(self->q_key);
    free(self->key_type);
    self->q_table = self->q_lt = self->q_key = self->key_type = NULL;
    s_free_sql(self);
    self->stale = 0;
    self->ready = 0;
    self->has_seq = 0; /* of the lt_ schema resolved again */
}

/* Makes sure the connection is up and set up; connects again if not, and
 * sets it up again after the table changed under the statements (`stale`:
 * s_setup deallocates them). */
static int s_ensure(s_pg_t *self, char *err, size_t errlen)
{
    if (self->stale)
        s_forget_table(self);
    if (self->conn && PQstatus(self->conn) == CONNECTION_OK && self->ready)
        return 0;
    if (!self->conn || PQstatus(self->conn) != CONNECTION_OK)
        if (s_connect(self, err, errlen))
            return -1;
    if (s_setup(self, err, errlen)) {
        self->lost = s_is_lost(self, NULL) || s_is_busy(self->state);
        return -1;
    }
    self->ready = 1;
    return 0;
}

/* ---- opening ------------------------------------------------------------ */

/* Drops the statements' text and the sink's column types. */
static void s_free_sql(s_pg_t *self)
{
    for (size_t i = 0; self->col_types && i < self->table->n_columns; i++)
        free(self->col_types[i]);
    free(self->col_types);
    self->col_types = NULL;
    for (int i = 0; i < ST_N; i++) {
        free(self->sql[i]);
        self->sql[i] = NULL;
    }
    self->built = 0;
}

static void s_close(void *impl)
{
    s_pg_t *self = impl;
    PQfinish(self->conn);
    s_forget_table(self);
    s_wipe(self->conninfo);
    free(self->conninfo);
    sodium_memzero(self->secret, sizeof self->secret);
    free(self);
}

/* sink: the type of each mapped column, without length (see s_resolve);
 * also: each must exist. */
static int s_column_types(s_pg_t *self, char *err, size_t errlen)
{
    const lt_db_table_t *t = self->table;
    self->col_types = calloc(t->n_columns, sizeof *self->col_types);
    if (!self->col_types) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < t->n_columns; i++) {
        const char *vals[2] = {self->q_table, t->columns[i]};
        PGresult *res =
            s_query(self,
                    "SELECT format_type(atttypid, -1) FROM pg_attribute "
                    "WHERE attrelid = to_regclass($1) AND attname = $2 "
                    "AND NOT attisdropped",
                    2, vals, PGRES_TUPLES_OK, "cannot read the table's columns", err, errlen);
        if (!res)
            return -1;
        int found = PQntuples(res) == 1;
        if (found)
            self->col_types[i] = strdup(PQgetvalue(res, 0, 0));
        PQclear(res);
        if (!found) {
            lt_err_set(err, errlen,
                       "table %s cannot take the mapped columns: it has no column %s (add it, or "
                       "create_table = true for a new table)",
                       t->name, t->columns[i]);
            return -1;
        }
        if (!self->col_types[i]) {
            lt_err_set(err, errlen, "out of memory");
            return -1;
        }
    }
    return 0;
}

/* Plans the prepared upsert: PREPARE only parses, and the planner is what
 * finds (or not) the unique index that ON CONFLICT (key) needs. */
static int s_explain_apply(s_pg_t *self, char *err, size_t errlen)
{
    s_buf_t b = {0};
    char name[16];
    s_stmt_name(ST_APPLY, name);
    s_add(&b, "EXPLAIN (COSTS OFF) EXECUTE %s(", name);
    for (size_t i = 0; i < self->table->n_columns; i++)
        s_add(&b, "%sNULL", i ? ", " : "");
    s_add(&b, ")");
    PGresult *res =
        b.s ? s_query(self, b.s, 0, NULL, PGRES_TUPLES_OK, "cannot plan the upsert", err, errlen)
            : NULL;
    if (!b.s)
        lt_err_set(err, errlen, "out of memory");
    PQclear(res);
    free(b.s);
    return res ? 0 : -1;
}

/* sink: the statements of a batch (s_apply_batch), rows parsed in bulk:
 * DELETE of every key of an array ($1), and INSERT ... SELECT FROM
 * unnest(one array per column, $1..$k) ON CONFLICT (key) DO UPDATE. Two
 * statements, not one with data-modifying CTEs: the parts of one statement
 * run on one snapshot in no set order, and an upsert that reuses a UNIQUE
 * value of a row deleted in the same batch would meet the row still there.
 * Preparing and planning them checks that the table fits. */
static int s_sink_sql(s_pg_t *self, char *err, size_t errlen)
{
    const lt_db_table_t *t = self->table;
    size_t k = t->n_columns;
    s_buf_t u = {0}, d = {0};
    /* A key whose = ignores case (key_loose) is deleted only when its text
     * is the tombstone's byte for byte, as the source reads it
     * (s_source_sql): the tombstone of a key's old spelling must not
     * delete the row of the new one. */
    s_add(&d, "DELETE FROM %s WHERE %s = ANY($1::%s[])", self->q_table, self->q_key,
          self->key_type);
    if (self->key_loose)
        s_add(&d, " AND %s::text COLLATE \"C\" = ANY($1::text[])", self->q_key);
    s_add(&u, "INSERT INTO %s (", self->q_table);
    s_add_columns(self, &u, "", 0);
    s_add(&u, ") SELECT * FROM unnest(");
    for (size_t i = 0; i < k; i++)
        s_add(&u, "%s$%zu::%s[]", i ? ", " : "", i + 1, self->col_types[i]);
    /* Every column, the key too: under a key whose = ignores case, a key
     * renamed only in case conflicts with the row of its old spelling,
     * which must take the new one. */
    s_add(&u, ") ON CONFLICT (%s) DO UPDATE SET ", self->q_key);
    for (size_t i = 0; i < k; i++) {
        char *q = s_ident(self, t->columns[i]);
        s_add(&u, "%s%s = EXCLUDED.%s", i ? ", " : "", q ? q : "", q ? q : "");
        free(q);
    }
    self->sql[ST_APPLY] = u.s;
    if (!(self->sql[ST_DELETE] = d.s) || !u.s) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    char why[768];
    if (s_prepare(self, ST_DELETE, 1, why, sizeof why) == 0 &&
        s_prepare(self, ST_APPLY, (int)k, why, sizeof why) == 0 &&
        s_explain_apply(self, why, sizeof why) == 0)
        return 0;
    lt_err_set(err, errlen,
               "table %s cannot take the mapped columns (it needs each column and a PRIMARY KEY or "
               "UNIQUE key_column, or create_table = true): %s",
               t->name, why);
    return -1;
}

/* " FROM l LEFT JOIN LATERAL (the row of l.row_key) t": how a change's
 * key (text) finds its row, for reading changes (ST_READ) and for finding
 * keys without one (s_queue_absent), which must agree. LATERAL ... LIMIT 1
 * keeps the row lookup a nested loop of index probes: a plain join lets
 * the planner hash the whole table for every batch. A key whose = ignores
 * case (key_loose): a renamed key's old spelling would find the row of the
 * new one and be published live. Its text is compared too, byte for byte
 * (for other types ::text may depend on the session's settings, and = is
 * exact already). */
static void s_add_row_join(s_pg_t *self, s_buf_t *b)
{
    const char *exact = self->key_loose ? "::text COLLATE \"C\" = " : "";
    s_add(b,
          " FROM l LEFT JOIN LATERAL (SELECT * FROM %s c WHERE c.%s = l.row_key::%s%s%s%s%s "
          "LIMIT 1) t ON true",
          self->q_table, self->q_key, self->key_type, self->key_loose ? " AND c." : "",
          self->key_loose ? self->q_key : "", exact, self->key_loose ? "l.row_key" : "");
}

/* source: the latest change of each key among the first $3 changes of the
 * table after $2, with whether the row exists and its mapped columns (from
 * column 3 on); and the row of one key. */
static int s_source_sql(s_pg_t *self, char *err, size_t errlen)
{
    s_buf_t r = {0}, one = {0};
    char *tname = s_literal(self, self->table->name);
    s_add(&r,
          "WITH b AS (SELECT id, row_key FROM %s.lt_changes WHERE table_name = %s AND id > $1 "
          "ORDER BY id LIMIT $2), l AS (SELECT max(id) AS id, row_key FROM b GROUP BY row_key) "
          "SELECT l.id, l.row_key, t.%s IS NOT NULL, ",
          self->q_lt, tname ? tname : "''", self->q_key);
    s_add_columns(self, &r, "t.", 1);
    s_add_row_join(self, &r);
    s_add(&r, " ORDER BY l.id");
    const char *exact = self->key_loose ? "::text COLLATE \"C\" = " : "";
    s_add(&one, "SELECT ");
    s_add_columns(self, &one, "", 1);
    s_add(&one, " FROM %s WHERE %s = $1::%s%s%s%s%s", self->q_table, self->q_key, self->key_type,
          self->key_loose ? " AND " : "", self->key_loose ? self->q_key : "", exact,
          self->key_loose ? "$1" : "");
    free(tname);
    self->sql[ST_READ] = r.s;
    self->sql[ST_ROW] = one.s;
    if (r.s && one.s)
        return 0;
    lt_err_set(err, errlen, "out of memory");
    return -1;
}

/* The role's statements (and a sink's column types). Complete or none:
 * what a failed attempt built is dropped, and `built` is set only at the
 * end, so that the next setup builds everything again. */
static int s_role_sql(s_pg_t *self, char *err, size_t errlen)
{
    s_buf_t c = {0};
    int rc = -1;
    s_free_sql(self);
    if (self->role == LT_DB_SOURCE)
        s_add(&c,
              "INSERT INTO %s.lt_source_cursor (dataset, change_id, table_name) "
              "VALUES ($1, $2, $3) ON CONFLICT (dataset) DO UPDATE SET "
              "change_id = EXCLUDED.change_id, table_name = EXCLUDED.table_name",
              self->q_lt);
    else
        s_add(&c,
              "INSERT INTO %s.lt_sink_cursor (stream, seq) VALUES ($1, $2) "
              "ON CONFLICT (stream) DO UPDATE SET seq = EXCLUDED.seq",
              self->q_lt);
    if (!(self->sql[ST_CURSOR_STORE] = c.s)) {
        lt_err_set(err, errlen, "out of memory");
        goto out;
    }
    if (self->role == LT_DB_SOURCE)
        rc = s_source_sql(self, err, errlen);
    else
        rc = s_column_types(self, err, errlen) || s_sink_sql(self, err, errlen) ? -1 : 0;
out:
    if (rc)
        s_free_sql(self);
    self->built = rc == 0;
    return rc;
}

static int s_would(const void *impl)
{
    const s_pg_t *self = impl;
    return self->create & LT_DB_CHECK ? self->would : 0;
}

/* A source's table name leaves room for the names of its capture
 * triggers. 0, or -1 with err. */
static int s_name_fits(const lt_db_table_t *table, lt_db_role_t role, char *err, size_t errlen)
{
    if (role == LT_DB_SOURCE && strlen(table->name) + CAPTURE_AFFIX > PG_IDENT_MAX) {
        lt_err_set(err, errlen,
                   "table %s: its name is too long for change capture (%zu bytes, at most "
                   "%zu: the trigger names lt_<table>_truncate... must fit PostgreSQL's "
                   "%d-byte identifiers, NAMEDATALEN-1)",
                   table->name, strlen(table->name), PG_IDENT_MAX - CAPTURE_AFFIX, PG_IDENT_MAX);
        return -1;
    }
    return 0;
}

/* The setting parses as libpq's, checked before any connection so that a
 * typo is an error now, not a server taken for down. 0, or -1 with err
 * (the password masked). */
static int s_target_parses(s_pg_t *self, const char *target, char *err, size_t errlen)
{
    char *why = NULL;
    PQconninfoOption *opts = PQconninfoParse(target, &why);
    s_opts_free(opts);
    if (opts)
        return 0;
    /* libpq's message quotes the text it stopped at, which may be part
     * of a password it could not parse out and so cannot be masked
     * (password=Abc def: missing "=" after "def"): it is repeated only
     * for a setting that holds none. */
    if (self->secret[0] || strstr(target, "password"))
        lt_err_set(err, errlen,
                   "'database' is not a valid PostgreSQL connection string or URI (libpq's "
                   "message is not repeated, as it may quote the password): a value with "
                   "spaces, quotes or backslashes is written in single quotes, with \\' "
                   "and \\\\ inside, or percent-encoded in a URI");
    else
        lt_err_set(err, errlen, "'database' is not a valid PostgreSQL connection string or URI: %s",
                   why ? why : "out of memory");
    s_wipe(why); /* it may quote the password */
    PQfreemem(why);
    s_clean(self, err);
    return -1;
}

static void *s_open(const char *target, lt_db_role_t role, const lt_db_table_t *table, int create,
                    char *name, size_t name_cap, char *err, size_t errlen)
{
    s_pg_t *self = calloc(1, sizeof *self);
    if (!self || !(self->conninfo = strdup(target))) {
        lt_err_set(err, errlen, "out of memory");
        free(self);
        return NULL;
    }
    self->role = role;
    self->table = table;
    self->create = create;
    s_find_secret(self);
    s_conn_params(self);
    if (s_name_fits(table, role, err, errlen) != 0 ||
        s_target_parses(self, target, err, errlen) != 0)
        goto fail;
    /* A server that is down is waited for: the adapter's first call fails
     * with lt_db_lost and it retries. One that refuses us (password,
     * database, role) or a wrong table is an error now. */
    if (s_ensure(self, err, errlen) == 0 || self->lost) {
        snprintf(name, name_cap, "%s", self->name);
        return self;
    }
fail:
    s_close(self);
    return NULL;
}

/* ---- transactions ----------------------------------------------------- */

static int s_begin(void *impl, int write, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    (void)write; /* rows are locked as they are written; nothing to take first */
    if (s_ensure(self, err, errlen))
        return -1;
    return s_exec(self, "BEGIN", "cannot begin", err, errlen);
}

static int s_commit(void *impl, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    PGresult *res =
        s_check(self, PQexec(self->conn, "COMMIT"), PGRES_COMMAND_OK, "cannot commit", err, errlen);
    /* COMMIT of a failed transaction "succeeds" as a ROLLBACK. */
    int rc = res && strcmp(PQcmdStatus(res), "COMMIT") == 0 ? 0 : -1;
    if (res && rc)
        lt_err_set(err, errlen, "cannot commit: the transaction was rolled back");
    PQclear(res);
    return rc;
}

static void s_rollback(void *impl)
{
    s_pg_t *self = impl;
    if (self->conn && PQstatus(self->conn) == CONNECTION_OK &&
        PQtransactionStatus(self->conn) != PQTRANS_IDLE)
        PQclear(PQexec(self->conn, "ROLLBACK"));
}

/* ---- change capture --------------------------------------------------- */

static char *s_capture_script(void *impl, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    if (s_ensure(self, err, errlen))
        return NULL;
    char *body = s_script(self);
    s_buf_t b = {0};
    if (body)
        s_add(&b, "BEGIN;\n%sCOMMIT;\n", body);
    free(body);
    if (!b.s)
        lt_err_set(err, errlen, "out of memory");
    return b.s;
}

static int s_capture_exists(s_pg_t *self, int *present, char *err, size_t errlen)
{
    if (s_ensure(self, err, errlen))
        return -1;
    char trig[300], changes[600];
    snprintf(trig, sizeof trig, "lt_%s_insert", self->table->name);
    snprintf(changes, sizeof changes, "%s.lt_changes", self->q_lt);
    const char *vals[3] = {self->q_table, trig, changes};
    int64_t v = 0;
    int rc = s_int(self,
                   "SELECT (to_regclass($3) IS NOT NULL AND EXISTS (SELECT 1 FROM pg_trigger "
                   "WHERE tgrelid = to_regclass($1) AND tgname = $2))::int",
                   3, vals, &v, "cannot look for the change capture", err, errlen);
    *present = v == 1;
    return rc;
}

/* The condition that lt_pending has seq, whose name is $1 (s_sync_tx). */
#define S_HAS_SEQ                                                                                  \
    "EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'seq' "     \
    "AND NOT attisdropped)"

/* A capture installed by an older version is told to the operator, as
 * --install replaces it (CREATE OR REPLACE, adapters/README.md). Under a
 * key whose = ignores case, triggers that do not match keys byte for byte
 * lose a key's old spelling. Triggers from before S_CAPTURE_MARK list a
 * key's text under the writer's settings, which the source may not read
 * back (a date written under DateStyle DMY stops the feed), and a changed
 * key's new spelling before its old one, which an older sink whose key
 * ignores case answers by deleting the row. A change list from before
 * lt_pending.seq is numbered in its rows' physical order (s_sync_tx). */
static int s_capture_stale(s_pg_t *self, char *err, size_t errlen)
{
    char trig[300];
    snprintf(trig, sizeof trig, "lt_%s_update", self->table->name);
    const char *vals[3] = {self->q_table, trig, S_CAPTURE_MARK};
    static const char sql[] =
        "SELECT COALESCE(max(CASE WHEN position($3 in p.prosrc) > 0 THEN 2 ELSE 0 END + "
        "CASE WHEN position('COLLATE \"C\"' in p.prosrc) > 0 THEN 1 ELSE 0 END), 3) "
        "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
        "WHERE t.tgrelid = to_regclass($1) AND t.tgname = $2";
    int64_t has = 0, seq = 0;
    char pending[600];
    snprintf(pending, sizeof pending, "%s.lt_pending", self->q_lt);
    const char *pvals[1] = {pending};
    if (s_int(self, sql, 3, vals, &has, "cannot read the change capture", err, errlen) ||
        s_int(self, "SELECT (" S_HAS_SEQ ")::int", 1, pvals, &seq, "cannot read lt_pending", err,
              errlen))
        return -1;
    self->has_seq = seq == 1;
    if (self->key_loose && !(has & 1))
        lt_warn("source",
                "the key of table %s compares without case (citext, or a nondeterministic "
                "collation), and its change capture predates the triggers that match keys byte "
                "for byte: a key changed only in case would leave its old spelling at the "
                "consumers; run the source with --install once",
                self->table->name);
    else if (!(has & 2))
        lt_warn("source",
                "the change capture of table %s predates the triggers that list each key's text "
                "under fixed settings (a date or time key written under other settings might "
                "not be read back) and a changed key's old spelling before its new one; run "
                "the source with --install once",
                self->table->name);
    else if (!seq)
        lt_warn("source",
                "the change list of table %s (lt_pending) predates the column that numbers "
                "changes in the order they were written (changes of several rows committed "
                "together might be read in another order); run the source with --install once",
                self->table->name);
    return 0;
}

static int s_capture_present(void *impl, int *present, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    if (s_capture_exists(self, present, err, errlen))
        return -1;
    return *present ? s_capture_stale(self, err, errlen) : 0;
}

static int s_capture_install(void *impl, int *created, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    int present = 0, rc = -1;
    char *script = NULL;
    if (s_begin(self, 1, err, errlen))
        return -1;
    s_buf_t lock = {0};
    s_add(&lock, "LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE", self->q_table);
    if (!lock.s || !(script = s_script(self))) {
        lt_err_set(err, errlen, "out of memory");
        goto out;
    }
    /* Locked first, so that whether the capture is new and the listing of
     * the existing rows see the same table. Listing a large table may take
     * longer than statement_timeout (lt_limits.h), which bounds the calls
     * of a running adapter: an installation is run by hand. Waiting for
     * the lock keeps lock_timeout, as the agency's writers queue behind it. */
    if (s_exec(self, "SET LOCAL statement_timeout = 0", "cannot begin", err, errlen) ||
        s_exec(self, lock.s, "cannot lock the table", err, errlen) ||
        s_capture_exists(self, &present, err, errlen) ||
        s_exec(self, script, "cannot install the change capture", err, errlen) ||
        s_commit(self, err, errlen))
        goto out;
    *created = !present;
    self->has_seq = 1; /* the script adds it */
    rc = 0;
out:
    if (rc)
        s_rollback(self);
    free(lock.s);
    free(script);
    return rc;
}

static int s_capture_high(void *impl, int64_t *id, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char capture[600];
    *id = 0;
    if (s_ensure(self, err, errlen))
        return -1;
    snprintf(capture, sizeof capture, "%s.lt_capture", self->q_lt);
    const char *vals[1] = {capture};
    int64_t exists = 0;
    if (s_int(self, "SELECT (to_regclass($1) IS NOT NULL)::int", 1, vals, &exists,
              "cannot look for lt_capture", err, errlen))
        return -1;
    if (!exists)
        return 0;
    char sql[700];
    snprintf(sql, sizeof sql, "SELECT last_id FROM %s.lt_capture", self->q_lt);
    return s_int(self, sql, 0, NULL, id, "cannot read lt_capture", err, errlen);
}

/* Numbers up to `limit` committed changes of lt_pending (see the top of
 * this file), in one transaction; among them in the order they were
 * written to lt_pending: by seq, which each write takes. Not by the rows'
 * physical order: once deletes and vacuum free space in earlier pages, a
 * later write may land before an earlier one. A change list from before
 * seq (`seq` 0, until --install adds it, s_capture_stale) has only that
 * order. */
static int s_sync_tx(s_pg_t *self, size_t limit, int seq, size_t *moved, char *err, size_t errlen)
{
    char sql[1024], lim[24], base_s[24];
    int64_t base = 0;
    snprintf(sql, sizeof sql, "SELECT last_id FROM %s.lt_capture FOR UPDATE", self->q_lt);
    if (s_int(self, sql, 0, NULL, &base, "cannot lock lt_capture", err, errlen))
        return -1;
    snprintf(lim, sizeof lim, "%zu", limit);
    snprintf(base_s, sizeof base_s, "%" PRId64, base);
    const char *vals[2] = {lim, base_s};
    const char *order = seq ? "seq" : "ctid";
    snprintf(sql, sizeof sql,
             "WITH m AS (DELETE FROM %s.lt_pending WHERE ctid = ANY(ARRAY("
             "SELECT ctid FROM %s.lt_pending ORDER BY %s LIMIT $1)) "
             "RETURNING %s AS c, table_name, row_key) "
             "INSERT INTO %s.lt_changes (id, table_name, row_key) "
             "SELECT $2::bigint + row_number() OVER (ORDER BY c), table_name, row_key FROM m",
             self->q_lt, self->q_lt, order, order, self->q_lt);
    PGresult *res =
        s_query(self, sql, 2, vals, PGRES_COMMAND_OK, "cannot number the changes", err, errlen);
    if (!res)
        return -1;
    *moved = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
    PQclear(res);
    if (*moved == 0)
        return 0;
    snprintf(sql, sizeof sql, "UPDATE %s.lt_capture SET last_id = $2::bigint + $1::bigint",
             self->q_lt);
    snprintf(lim, sizeof lim, "%zu", *moved);
    res = s_query(self, sql, 2, vals, PGRES_COMMAND_OK, "cannot update lt_capture", err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

static int s_capture_sync(void *impl, size_t limit, size_t *moved, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[600], pending_name[600];
    int64_t pending = 0;
    *moved = 0;
    if (s_ensure(self, err, errlen))
        return -1;
    /* A read first: an idle source asks often, and locking lt_capture is a
     * write (a commit to flush) even when there is nothing to number. It
     * tells whether lt_pending has seq too (2) only while has_seq is not
     * set: a change list from before seq is looked at again at each poll,
     * so that the column a newer version's --install adds meanwhile is
     * used from the next one on. A column dropped by hand fails the
     * ordering (42703), which makes the connection stale and so forgets
     * has_seq (s_forget_table). */
    snprintf(pending_name, sizeof pending_name, "%s.lt_pending", self->q_lt);
    if (self->has_seq)
        snprintf(sql, sizeof sql, "SELECT EXISTS (SELECT 1 FROM %s.lt_pending)::int + 2",
                 self->q_lt);
    else
        snprintf(sql, sizeof sql,
                 "SELECT EXISTS (SELECT 1 FROM %s.lt_pending)::int + 2 * (" S_HAS_SEQ ")::int",
                 self->q_lt);
    const char *vals[1] = {pending_name};
    if (s_int(self, sql, self->has_seq ? 0 : 1, vals, &pending, "cannot read lt_pending", err,
              errlen))
        return -1;
    self->has_seq = (pending & 2) != 0;
    if (!(pending & 1))
        return 0;
    if (s_begin(self, 1, err, errlen))
        return -1;
    if (s_sync_tx(self, limit, (pending & 2) != 0, moved, err, errlen) == 0 &&
        s_commit(self, err, errlen) == 0)
        return 0;
    s_rollback(self);
    *moved = 0;
    return -1;
}

static int s_capture_relist(void *impl, int64_t *base, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[2048];
    snprintf(sql, sizeof sql, "SELECT last_id FROM %s.lt_capture FOR UPDATE", self->q_lt);
    if (s_int(self, sql, 0, NULL, base, "cannot lock lt_capture", err, errlen))
        return -1;
    snprintf(sql, sizeof sql,
             "WITH i AS (INSERT INTO %s.lt_changes (id, table_name, row_key) "
             "SELECT $1::bigint + row_number() OVER (ORDER BY t.%s), $2, t.%s::text FROM %s t "
             "WHERE t.%s IS NOT NULL RETURNING id) "
             "UPDATE %s.lt_capture SET last_id = $1::bigint + (SELECT count(*) FROM i)",
             self->q_lt, self->q_key, self->q_key, self->q_table, self->q_key, self->q_lt);
    char base_s[24];
    snprintf(base_s, sizeof base_s, "%" PRId64, *base);
    const char *vals[2] = {base_s, self->table->name};
    PGresult *res =
        s_query(self, sql, 2, vals, PGRES_COMMAND_OK, "cannot list the rows again", err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

/* ---- reading ---------------------------------------------------------- */

static void s_row_free(s_row_t *r)
{
    for (int i = 0; r->blobs && r->off + i < PQnfields(r->res); i++)
        PQfreemem(r->blobs[i].data);
    free(r->blobs);
    r->blobs = NULL;
}

static long s_read_changes(void *impl, int64_t after, size_t limit, lt_db_change_fn fn, void *arg,
                           char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char a[24], l[24];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(l, sizeof l, "%zu", limit);
    const char *vals[2] = {a, l};
    if (s_ensure(self, err, errlen))
        return -1;
    PGresult *res =
        s_run(self, ST_READ, 2, vals, PGRES_TUPLES_OK, "cannot read lt_changes", err, errlen);
    if (!res)
        return -1;
    long n = 0;
    for (int i = 0; i < PQntuples(res) && n >= 0; i++, n++) {
        s_row_t row = {{&lt_db_pg_ops}, res, i, 3, NULL};
        int found = PQgetvalue(res, i, 2)[0] == 't';
        int64_t id = strtoll(PQgetvalue(res, i, 0), NULL, 10);
        if (fn(arg, id, PQgetvalue(res, i, 1), found ? &row.base : NULL, err, errlen) != 0)
            n = -2;
        s_row_free(&row);
    }
    PQclear(res);
    return n < 0 ? -1 : n;
}

static int s_last_change(void *impl, int64_t *id, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700];
    if (s_ensure(self, err, errlen))
        return -1;
    snprintf(sql, sizeof sql,
             "SELECT COALESCE(max(id), 0) FROM %s.lt_changes WHERE table_name = $1", self->q_lt);
    const char *vals[1] = {self->table->name};
    return s_int(self, sql, 1, vals, id, "cannot read lt_changes", err, errlen);
}

/* In the order of each key's latest change, which lt_pending.seq keeps. */
static int s_requeue(void *impl, int64_t after, int64_t through, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[1024], a[24], t[24];
    snprintf(a, sizeof a, "%" PRId64, after);
    snprintf(t, sizeof t, "%" PRId64, through);
    const char *vals[3] = {self->table->name, a, t};
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.lt_pending (table_name, row_key) SELECT table_name, row_key "
             "FROM %s.lt_changes WHERE table_name = $1 AND id > $2::bigint AND id <= $3::bigint "
             "GROUP BY table_name, row_key ORDER BY max(id)",
             self->q_lt, self->q_lt);
    PGresult *res = s_query(self, sql, 3, vals, PGRES_COMMAND_OK, "cannot queue the changes again",
                            err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

static int s_read_row(void *impl, const char *key, lt_db_row_fn fn, void *arg, char *err,
                      size_t errlen)
{
    s_pg_t *self = impl;
    const char *vals[1] = {key};
    if (s_ensure(self, err, errlen))
        return -1;
    char what[300];
    snprintf(what, sizeof what, "cannot read table %s", self->table->name);
    PGresult *res = s_run(self, ST_ROW, 1, vals, PGRES_TUPLES_OK, what, err, errlen);
    if (!res)
        return -1;
    int rc = 0;
    if (PQntuples(res) > 0) {
        s_row_t row = {{&lt_db_pg_ops}, res, 0, 0, NULL};
        rc = fn(arg, &row.base, err, errlen) == 0 ? 1 : -1;
        s_row_free(&row);
    }
    PQclear(res);
    return rc;
}

static void s_add_element(s_buf_t *b, const char *v, int first);

/* keys[0..n-1] as one text array literal (NULL when out of memory). */
static char *s_text_array(const char *const *keys, size_t n)
{
    s_buf_t arr = {0};
    s_add(&arr, "{");
    for (size_t i = 0; i < n; i++)
        s_add_element(&arr, keys[i], i == 0);
    s_add(&arr, "}");
    return arr.s;
}

/* Sets found[] of keys[0..n-1] with `sql` (the ordinals of the keys without
 * a row), under a savepoint. PostgreSQL casts the whole array to the key
 * column's type at once: one key that is no value of it (class 22, data
 * exception, as "abc" of an integer key) fails the lot. Such a batch is
 * split in halves until the key is alone, which is then invalid: no row can
 * hold it, and it is never appended. */
static int s_absent_find(s_pg_t *self, const char *sql, const char *const *keys, size_t n,
                         unsigned char *found, char *err, size_t errlen)
{
    char *arr = s_text_array(keys, n);
    if (!arr) {
        lt_err_set(err, errlen, "out of memory for %zu keys", n);
        return -1;
    }
    PGresult *res = NULL;
    if (s_exec(self, "SAVEPOINT lt_absent", "cannot set a savepoint", err, errlen) == 0)
        res = s_query(self, sql, 1, (const char *const *)&arr, PGRES_TUPLES_OK,
                      "cannot read the keys' rows", err, errlen);
    free(arr);
    if (res) {
        memset(found, LT_DB_KEY_HELD, n);
        for (int r = 0; r < PQntuples(res); r++) {
            unsigned long long o = strtoull(PQgetvalue(res, r, 0), NULL, 10);
            if (o >= 1 && o <= n)
                found[o - 1] = LT_DB_KEY_ABSENT;
        }
        PQclear(res);
        return s_exec(self, "RELEASE SAVEPOINT lt_absent", "cannot release a savepoint", err,
                      errlen);
    }
    if (strncmp(self->state, "22", 2) != 0 ||
        s_exec(self, "ROLLBACK TO SAVEPOINT lt_absent; RELEASE SAVEPOINT lt_absent",
               "cannot roll back to a savepoint", err, errlen))
        return -1;
    if (n == 1) {
        found[0] = LT_DB_KEY_INVALID;
        return 0;
    }
    size_t h = n / 2;
    return s_absent_find(self, sql, keys, h, found, err, errlen) ||
                   s_absent_find(self, sql, keys + h, n - h, found + h, err, errlen)
               ? -1
               : 0;
}

/* Appends the absent keys to lt_pending as the capture's triggers write
 * them (numbered by the next lt_db_capture_sync), in keys order, with the
 * triggers' NOTIFY. */
static int s_absent_append(s_pg_t *self, const char *const *keys, size_t n,
                           const unsigned char *found, char *err, size_t errlen)
{
    const char **absent = calloc(n, sizeof *absent);
    size_t m = 0;
    for (size_t i = 0; absent && i < n; i++)
        if (found[i] == LT_DB_KEY_ABSENT)
            absent[m++] = keys[i];
    char *arr = absent ? s_text_array(absent, m) : NULL;
    s_buf_t sql = {0};
    s_add(&sql,
          "INSERT INTO %s.lt_pending (table_name, row_key) SELECT $2, u.k "
          "FROM unnest($1::text[]) WITH ORDINALITY AS u(k, o) ORDER BY u.o",
          self->q_lt);
    int rc = -1;
    const char *vals[2] = {arr, self->table->name};
    if (!arr || !sql.s)
        lt_err_set(err, errlen, "out of memory for %zu keys", n);
    else if (m == 0)
        rc = 0;
    else {
        char what[300];
        snprintf(what, sizeof what, "cannot append to lt_pending for table %s", self->table->name);
        PGresult *res = s_query(self, sql.s, 2, vals, PGRES_COMMAND_OK, what, err, errlen);
        PQclear(res);
        /* As the triggers do: a running source learns of them at the commit. */
        if (res)
            res = s_query(self, "SELECT pg_notify('lt_changes', $1)", 1, &vals[1], PGRES_TUPLES_OK,
                          "cannot notify the source", err, errlen);
        PQclear(res);
        rc = res ? 0 : -1;
    }
    free(absent);
    free(arr);
    free(sql.s);
    return rc;
}

static int s_queue_absent(void *impl, const char *const *keys, size_t n, int append,
                          unsigned char *found, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    s_buf_t sql = {0};
    int rc = -1;
    if (s_ensure(self, err, errlen))
        return -1;
    s_add(&sql, "WITH l AS (SELECT u.row_key, u.o FROM unnest($1::text[]) WITH ORDINALITY "
                "AS u(row_key, o)) SELECT l.o");
    s_add_row_join(self, &sql);
    s_add(&sql, " WHERE t.%s IS NULL", self->q_key);
    if (!sql.s)
        lt_err_set(err, errlen, "out of memory for %zu keys", n);
    else
        rc = s_absent_find(self, sql.s, keys, n, found, err, errlen) ||
                     (append && s_absent_append(self, keys, n, found, err, errlen))
                 ? -1
                 : 0;
    free(sql.s);
    return rc;
}

/* ---- waiting ------------------------------------------------------------ */

static int s_wait_fd(void *impl)
{
    s_pg_t *self = impl;
    return self->conn && PQstatus(self->conn) == CONNECTION_OK ? PQsocket(self->conn) : -1;
}

static int s_news(void *impl)
{
    s_pg_t *self = impl;
    if (!self->conn || PQstatus(self->conn) != CONNECTION_OK || !PQconsumeInput(self->conn))
        return 1; /* the next call connects again */
    int news = 0;
    PGnotify *n;
    while ((n = PQnotifies(self->conn))) {
        news |= strcmp(n->extra, self->table->name) == 0;
        PQfreemem(n);
    }
    return news;
}

static int s_lost(const void *impl)
{
    const s_pg_t *self = impl;
    return self->lost;
}

/* ---- cursors ---------------------------------------------------------- */

static int s_cursor_load(void *impl, const char *name, int64_t *value, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700];
    if (s_ensure(self, err, errlen))
        return -1;
    snprintf(sql, sizeof sql,
             self->role == LT_DB_SOURCE
                 ? "SELECT COALESCE(max(change_id), 0) FROM %s.lt_source_cursor WHERE dataset = $1"
                 : "SELECT COALESCE(max(seq), 0) FROM %s.lt_sink_cursor WHERE stream = $1",
             self->q_lt);
    const char *vals[1] = {name};
    return s_int(self, sql, 1, vals, value, "cannot read the cursor", err, errlen);
}

static int s_cursor_store(void *impl, const char *name, int64_t value, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char v[24];
    snprintf(v, sizeof v, "%" PRId64, value);
    int source = self->role == LT_DB_SOURCE;
    const char *vals[3] = {name, v, self->table->name};
    PGresult *res = s_run(self, ST_CURSOR_STORE, source ? 3 : 2, vals, PGRES_COMMAND_OK,
                          "cannot store the cursor", err, errlen);
    PQclear(res);
    if (!res || !source ||
        (self->pruned && value - self->pruned < PRUNE_EVERY && value >= self->pruned))
        return res ? 0 : -1;
    self->pruned = value ? value : 1;
    /* The table's changes that every dataset of the table has passed are
     * needed no more; other tables' datasets do not hold them back. Done
     * every PRUNE_EVERY ids rather than at each cursor: each DELETE leaves
     * dead rows that the next reads step over until vacuumed. */
    char sql[1024];
    snprintf(sql, sizeof sql,
             "DELETE FROM %s.lt_changes WHERE table_name = $1 AND id <= (SELECT min(change_id) "
             "FROM %s.lt_source_cursor WHERE table_name = $1)",
             self->q_lt, self->q_lt);
    res = s_query(self, sql, 1, vals + 2, PGRES_COMMAND_OK, "cannot prune lt_changes", err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

static int s_shift_load(void *impl, const char *name, int64_t *shift, int64_t *acked, char *err,
                        size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700], sql2[700];
    if (s_ensure(self, err, errlen))
        return -1;
    snprintf(sql, sizeof sql,
             "SELECT COALESCE(max(shift), 0) FROM %s.lt_source_cursor WHERE dataset = $1",
             self->q_lt);
    snprintf(sql2, sizeof sql2,
             "SELECT COALESCE(max(COALESCE(acked_shift, shift)), 0) FROM %s.lt_source_cursor "
             "WHERE dataset = $1",
             self->q_lt);
    const char *vals[1] = {name};
    return s_int(self, sql, 1, vals, shift, "cannot read the cursor", err, errlen) ||
                   s_int(self, sql2, 1, vals, acked, "cannot read the cursor", err, errlen)
               ? -1
               : 0;
}

static int s_history_load(void *impl, const char *name, char *hex, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700];
    if (s_ensure(self, err, errlen))
        return -1;
    snprintf(sql, sizeof sql, "SELECT history FROM %s.lt_sink_cursor WHERE stream = $1",
             self->q_lt);
    const char *vals[1] = {name};
    PGresult *res =
        s_query(self, sql, 1, vals, PGRES_TUPLES_OK, "cannot read the cursor", err, errlen);
    if (res && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
        snprintf(hex, LT_DB_HISTORY_HEX, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
    return res ? 0 : -1;
}

static int s_history_store(void *impl, const char *name, const char *hex, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.lt_sink_cursor (stream, seq, history) VALUES ($1, 0, $2) "
             "ON CONFLICT (stream) DO UPDATE SET history = EXCLUDED.history",
             self->q_lt);
    const char *vals[2] = {name, hex[0] ? hex : NULL};
    PGresult *res =
        s_query(self, sql, 2, vals, PGRES_COMMAND_OK, "cannot store the cursor", err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

static int s_reject(void *impl, const lt_db_reject_t *r, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO %s.lt_rejects AS r (dataset, row_key, kind, reasons, source_cursor, "
             "first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $6) "
             "ON CONFLICT (dataset, row_key, kind) DO UPDATE SET reasons = excluded.reasons, "
             "source_cursor = excluded.source_cursor, last_seen = excluded.last_seen, "
             "count = r.count + 1",
             self->q_lt);
    const char *vals[6] = {
        r->dataset, r->key, r->kind, r->reasons, r->cursor ? r->cursor : "", r->at ? r->at : ""};
    PGresult *res =
        s_query(self, sql, 6, vals, PGRES_COMMAND_OK, "cannot update lt_rejects", err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

static int s_reject_kinds(void *impl, const char *dataset, const char *key, unsigned *kinds,
                          char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700];
    int64_t mask = 0;
    snprintf(sql, sizeof sql,
             "SELECT COALESCE(sum(" LT_DB_REJECT_BIT_SQL "), 0) FROM %s.lt_rejects "
             "WHERE dataset = $1 AND row_key = $2",
             self->q_lt);
    const char *vals[2] = {dataset, key};
    int rc = s_int(self, sql, 2, vals, &mask, "cannot read lt_rejects", err, errlen);
    *kinds = rc == 0 ? (unsigned)mask : 0;
    return rc;
}

/* One statement, so that a row without a reject costs one indexed look
 * in the transaction that stores the cursor. */
static int s_reject_clear(void *impl, const char *dataset, const char *key, unsigned kinds,
                          int *cleared, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700], mask[16];
    *cleared = 0;
    snprintf(mask, sizeof mask, "%u", kinds);
    snprintf(sql, sizeof sql,
             "DELETE FROM %s.lt_rejects WHERE dataset = $1 AND row_key = $2 AND "
             "(" LT_DB_REJECT_BIT_SQL " & $3::integer) <> 0",
             self->q_lt);
    const char *vals[3] = {dataset, key, mask};
    PGresult *res =
        s_query(self, sql, 3, vals, PGRES_COMMAND_OK, "cannot update lt_rejects", err, errlen);
    if (!res)
        return -1;
    *cleared = atoi(PQcmdTuples(res));
    PQclear(res);
    return 0;
}

static int s_reject_count(void *impl, const char *dataset, int64_t *n, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700];
    if (s_ensure(self, err, errlen))
        return -1;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.lt_rejects WHERE dataset = $1", self->q_lt);
    const char *vals[1] = {dataset};
    return s_int(self, sql, 1, vals, n, "cannot read lt_rejects", err, errlen);
}

static int s_shift_store(void *impl, const char *name, int64_t shift, int64_t acked, char *err,
                         size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700], v[24], a[24];
    snprintf(v, sizeof v, "%" PRId64, shift);
    snprintf(a, sizeof a, "%" PRId64, acked);
    snprintf(sql, sizeof sql,
             "UPDATE %s.lt_source_cursor SET shift = $2, acked_shift = $3 WHERE dataset = $1",
             self->q_lt);
    const char *vals[3] = {name, v, a};
    PGresult *res =
        s_query(self, sql, 3, vals, PGRES_COMMAND_OK, "cannot store the cursor", err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

static int s_cursor_list(void *impl, lt_db_cursor_fn fn, void *arg, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700];
    if (s_ensure(self, err, errlen))
        return -1;
    snprintf(sql, sizeof sql,
             "SELECT dataset, COALESCE(table_name, ''), change_id FROM %s.lt_source_cursor "
             "ORDER BY dataset",
             self->q_lt);
    PGresult *res =
        s_query(self, sql, 0, NULL, PGRES_TUPLES_OK, "cannot read the cursors", err, errlen);
    if (!res)
        return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        lt_db_cursor_row_t r = {.dataset = PQgetvalue(res, i, 0),
                                .table = PQgetvalue(res, i, 1),
                                .change_id = strtoll(PQgetvalue(res, i, 2), NULL, 10)};
        rc = fn(arg, &r);
    }
    PQclear(res);
    return rc;
}

static int s_cursor_forget(void *impl, const char *name, int *found, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    char sql[700];
    const char *vals[1] = {name};
    *found = 0;
    snprintf(sql, sizeof sql, "DELETE FROM %s.lt_source_cursor WHERE dataset = $1", self->q_lt);
    PGresult *res =
        s_query(self, sql, 1, vals, PGRES_COMMAND_OK, "cannot forget the cursor", err, errlen);
    if (!res)
        return -1;
    *found = atoi(PQcmdTuples(res)) > 0;
    PQclear(res);
    snprintf(sql, sizeof sql, "DELETE FROM %s.lt_rejects WHERE dataset = $1", self->q_lt);
    res = s_query(self, sql, 1, vals, PGRES_COMMAND_OK, "cannot update lt_rejects", err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

/* DELETE FROM the lt_ table `lt` of every row of table vals[0]. */
static int s_delete_of(s_pg_t *self, const char *lt, const char *const *vals, char *err,
                       size_t errlen)
{
    char sql[700], what[64];
    snprintf(sql, sizeof sql, "DELETE FROM %s.%s WHERE table_name = $1", self->q_lt, lt);
    snprintf(what, sizeof what, "cannot update %s", lt);
    PGresult *res = s_query(self, sql, 1, vals, PGRES_COMMAND_OK, what, err, errlen);
    PQclear(res);
    return res ? 0 : -1;
}

/* Completes err, "what: the server's message", of a capture of table that
 * was not removed with why: the role's rights (42501) or another session
 * holding the table past lock_timeout (55P03), which waiting more mends,
 * not another role (adapters/README.md, "Change tracking"). */
static void s_drop_failed(const s_pg_t *self, const char *table, char *err, size_t errlen)
{
    size_t n = strnlen(err, errlen);
    if (n + 1 >= errlen)
        return;
    if (strcmp(self->state, "55P03") == 0)
        snprintf(err + n, errlen - n,
                 " (SQLSTATE 55P03: lock_timeout ran out waiting for table %s, which another "
                 "session holds; run --forget again once it is done)",
                 table);
    else if (strcmp(self->state, "42501") == 0)
        snprintf(err + n, errlen - n,
                 " (SQLSTATE 42501: --forget needs the rights of the role that installed it)");
}

/* The trigger function of the table's capture is dropped with CASCADE: its
 * four triggers depend on it and go with it, so the role that installed
 * them (the function's owner) can remove them. Then the table's keys, in
 * lt_pending before lt_changes: a numbering that commits in between moves
 * them from the one to the other (lt_db_capture_drop). */
static int s_capture_drop(void *impl, const char *table, int *dropped, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    const char *vals[1] = {table};
    char sql[700];
    int64_t named = 0;
    *dropped = 0;
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.lt_source_cursor WHERE table_name = $1",
             self->q_lt);
    if (s_ensure(self, err, errlen) ||
        s_int(self, sql, 1, vals, &named, "cannot read the cursors", err, errlen))
        return -1;
    if (named)
        return 0;
    s_buf_t fn = {0}, drop = {0}, what = {0};
    s_add(&fn, "lt_%s_capture", table);
    char *q_fn = fn.s ? s_ident(self, fn.s) : NULL;
    if (q_fn)
        s_add(&drop, "DROP FUNCTION IF EXISTS %s.%s() CASCADE", self->q_lt, q_fn);
    s_add(&what, "cannot remove the change capture of table %s, which no dataset reads any more",
          table);
    int rc = -1;
    if (!drop.s || !what.s)
        lt_err_set(err, errlen, "out of memory");
    else if (s_exec(self, drop.s, what.s, err, errlen) != 0)
        s_drop_failed(self, table, err, errlen);
    else if (s_delete_of(self, "lt_pending", vals, err, errlen) == 0 &&
             s_delete_of(self, "lt_changes", vals, err, errlen) == 0)
        rc = 0;
    free(fn.s);
    free(q_fn);
    free(drop.s);
    free(what.s);
    *dropped = rc == 0;
    return rc;
}

/* ---- writing ---------------------------------------------------------- *
 * Values travel as text inside array literals: each element double-quoted,
 * with '"' and '\\' escaped (PostgreSQL's array input), NULL unquoted. */

static void s_add_element(s_buf_t *b, const char *v, int first)
{
    if (!first)
        s_cat(b, ",", 1);
    if (!v) {
        s_cat(b, "NULL", 4);
        return;
    }
    s_cat(b, "\"", 1);
    for (const char *c = v; *c;) {
        size_t plain = strcspn(c, "\"\\");
        s_cat(b, c, plain);
        c += plain;
        if (*c) {
            s_cat(b, "\\", 1);
            s_cat(b, c++, 1);
        }
    }
    s_cat(b, "\"", 1);
}

/* Fills the upserts into the column arrays and lists the deletes' keys. */
static int s_fill_batch(s_params_t *p, s_buf_t *del, size_t k, const lt_db_write_t *w, size_t n,
                        lt_db_fill_fn fill, void *ctx, size_t *failed, char *err, size_t errlen)
{
    int first_del = 1;
    for (size_t r = 0; r < n; r++) {
        if (w[r].deleted) {
            s_add_element(del, w[r].key, first_del);
            first_del = 0;
            continue;
        }
        memset(p->set, 0, k);
        if (fill(ctx, &w[r], &p->base, err, errlen) != 0) {
            *failed = r;
            return -1;
        }
        for (size_t c = 0; c < k; c++) /* a column the fill left out is NULL */
            if (!p->set[c])
                s_add_element(&p->cols[c], NULL, p->first);
        p->first = 0;
    }
    return 0;
}

/* One statement of a round trip (s_pipeline): `sql` without parameters
 * (BEGIN, COMMIT), or else prepared statement `st` with n text values. */
typedef struct {
    const char *sql;
    int st, n;
    const char *const *vals;
    const char *what; /* for messages */
} s_step_t;

static int s_send(s_pg_t *self, const s_step_t *s)
{
    char name[16];
    if (s->sql)
        return PQsendQueryParams(self->conn, s->sql, 0, NULL, NULL, NULL, NULL, 0);
    s_stmt_name(s->st, name);
    return PQsendQueryPrepared(self->conn, name, s->n, s->vals, NULL, NULL, 0);
}

/* Reads the results of the sent steps, then the Sync's. Keeps the first
 * that is not PGRES_COMMAND_OK in *fail (NULL when none came: the
 * connection failed) and its step in *at. A COMMIT never ends a failed
 * transaction here: after a failure the server skips every step up to the
 * Sync, COMMIT included (PGRES_PIPELINE_ABORTED). Returns -1
 * when the results do not come as pipeline mode says (each result, then
 * NULL; the Sync's last), which only a failed connection does. */
static int s_pipe_read(s_pg_t *self, int sent, PGresult **fail, int *at)
{
    PGresult *res, *end;
    for (int i = 0; i < sent; i++) {
        res = PQgetResult(self->conn);
        end = res ? PQgetResult(self->conn) : NULL;
        int ok = res && PQresultStatus(res) == PGRES_COMMAND_OK;
        if (*at < 0 && !ok) {
            *at = i;
            *fail = res;
        } else
            PQclear(res);
        PQclear(end);
        if (!res || end)
            return -1;
    }
    res = PQgetResult(self->conn);
    int rc = res && PQresultStatus(res) == PGRES_PIPELINE_SYNC ? 0 : -1;
    PQclear(res);
    return rc;
}

/* Runs steps[0..m-1] in one round trip (libpq's pipeline mode): sent
 * together with one Sync, their results read up to the Sync's. The server
 * stops at the first failure and skips the rest up to the Sync (their
 * results are PGRES_PIPELINE_ABORTED), leaving a transaction that the
 * steps began, or the caller's, failed, as a statement of it failing one
 * at a time would: that first failure is reported as s_check does, with
 * `lost`, `stale` and the SQLSTATE. A connection left in pipeline mode
 * (results not as expected) is closed: the next call connects again. The
 * statements are prepared first, by s_prepare, in round trips of their
 * own (once per connection). */
static int s_pipeline(s_pg_t *self, const s_step_t *steps, int m, char *err, size_t errlen)
{
    PGresult *fail = NULL;
    int at = -1, sent = 0;
    for (int i = 0; i < m; i++)
        if (!steps[i].sql && s_prepare(self, steps[i].st, steps[i].n, err, errlen))
            return -1;
    if (PQenterPipelineMode(self->conn) != 1) {
        self->lost = s_is_lost(self, NULL);
        s_conn_err(self, steps[0].what, err, errlen);
        return -1;
    }
    while (sent < m && s_send(self, &steps[sent]) == 1)
        sent++;
    int broken = PQpipelineSync(self->conn) != 1 || s_pipe_read(self, sent, &fail, &at) ||
                 PQexitPipelineMode(self->conn) != 1;
    if (at < 0 && sent < m)
        at = sent; /* not sent: libpq says why */
    if (broken && at < 0) {
        self->lost = 1;
        self->state[0] = 0;
        s_conn_err(self, steps[0].what, err, errlen);
    } else if (at >= 0)
        s_check(self, fail, PGRES_COMMAND_OK, steps[at].what, err, errlen);
    if (broken) { /* still in pipeline mode, where PQexec is refused */
        PQfinish(self->conn);
        self->conn = NULL;
        self->ready = 0;
        self->lost = 1;
    }
    if (at >= 0 || broken)
        return -1;
    self->lost = 0;
    self->state[0] = 0;
    return 0;
}

/* The statements of a batch, in their order, into steps (room for 5):
 * the deletes' keys in dels and the upserts' columns in ups, either NULL
 * when the batch has none, then the cursor; between BEGIN and COMMIT when
 * alone. Their number. */
static int s_batch_steps(s_step_t *steps, int alone, const char **dels, const char **ups, size_t k,
                         const char **cursor)
{
    int m = 0;
    if (alone)
        steps[m++] = (s_step_t){"BEGIN", 0, 0, NULL, "cannot begin"};
    if (dels)
        steps[m++] = (s_step_t){NULL, ST_DELETE, 1, dels, "cannot apply"};
    if (ups)
        steps[m++] = (s_step_t){NULL, ST_APPLY, (int)k, ups, "cannot apply"};
    steps[m++] = (s_step_t){NULL, ST_CURSOR_STORE, 2, cursor, "cannot store the cursor"};
    if (alone)
        steps[m++] = (s_step_t){"COMMIT", 0, 0, NULL, "cannot commit"};
    return m;
}

/* Writes w[0..n-1] and the cursor in one round trip (s_pipeline): the
 * deletes of the batch in one statement, then its upserts in another, in
 * their order, then the cursor; between BEGIN and COMMIT when `alone`,
 * else inside the transaction open. The writes are of distinct keys (the
 * last write of each, lt_db.c), so the order changes only what UNIQUE
 * columns other than the key see on the way: deleted first, a row frees
 * its values for the upserts (a tombstone, then its value given to
 * another key). Nothing is sent when a fill fails. */
static int s_apply_batch(s_pg_t *self, const lt_db_write_t *w, size_t n, lt_db_fill_fn fill,
                         void *ctx, const char *name, int64_t value, int alone, size_t *failed,
                         char *err, size_t errlen)
{
    size_t k = self->table->n_columns;
    s_buf_t *bufs = calloc(k + 1, sizeof *bufs), *del = bufs ? &bufs[k] : NULL;
    s_params_t p = {{&lt_db_pg_ops, NULL}, bufs, calloc(k, 1), 1};
    const char **vals = calloc(k + 1, sizeof *vals);
    int rc = -1;
    *failed = n;
    /* A fill that fails sends nothing: what the last call left must not
     * tell the caller to retry (lost) or add the unique hint (s_apply). */
    self->lost = 0;
    self->state[0] = 0;
    if (!bufs || !p.set || !vals) {
        lt_err_set(err, errlen, "out of memory for %zu writes", n);
        goto out;
    }
    for (size_t c = 0; c <= k; c++)
        s_add(&bufs[c], "{");
    if (s_fill_batch(&p, del, k, w, n, fill, ctx, failed, err, errlen))
        goto out;
    int deletes = del->s && del->len > 1, upserts = !p.first;
    for (size_t c = 0; c <= k; c++) {
        s_add(&bufs[c], "}");
        if (!(vals[c] = bufs[c].s)) {
            lt_err_set(err, errlen, "out of memory for %zu writes", n);
            goto out;
        }
    }
    char v[24];
    snprintf(v, sizeof v, "%" PRId64, value);
    const char *cursor[2] = {name, v};
    s_step_t steps[5];
    int m =
        s_batch_steps(steps, alone, deletes ? &vals[k] : NULL, upserts ? vals : NULL, k, cursor);
    rc = s_pipeline(self, steps, m, err, errlen);
out:
    for (size_t c = 0; bufs && c <= k; c++)
        free(bufs[c].s);
    free(bufs);
    free(p.set);
    free(vals);
    return rc;
}

/* The last statement was refused for a value: a data exception or an
 * integrity constraint (SQLSTATE classes 22 and 23). */
static int s_data_error(const s_pg_t *self)
{
    return !self->lost &&
           (strncmp(self->state, "22", 2) == 0 || strncmp(self->state, "23", 2) == 0);
}

/* A batch refused for a value, in a transaction of its own: its writes are
 * applied again one at a time, in their order, in one transaction. The
 * server does not say which row of a batch it refused: the first write
 * refused is the one named, and the transaction rolled back. When none is,
 * the batch failed only for its order (deletes first: a row deleted while
 * another still refers to it, until that one's upsert); the writes one by
 * one are the batch applied, and are committed, rather than the same batch
 * refused again at every attempt. Returns 0 when committed. */
static int s_find_failed(s_pg_t *self, const lt_db_write_t *w, size_t n, lt_db_fill_fn fill,
                         void *ctx, const char *name, int64_t value, size_t *failed, char *err,
                         size_t errlen)
{
    char why[768];
    size_t one = 1;
    if (s_exec(self, "BEGIN", "cannot begin", why, sizeof why))
        return -1;
    for (size_t r = 0; r < n; r++)
        if (s_apply_batch(self, &w[r], 1, fill, ctx, name, value, 0, &one, why, sizeof why)) {
            if (s_data_error(self)) {
                *failed = r;
                lt_err_set(err, errlen, "%s", why);
            }
            s_rollback(self);
            return -1;
        }
    /* A DEFERRABLE INITIALLY DEFERRED constraint is checked only here. */
    if (s_commit(self, why, sizeof why) == 0) {
        lt_warn("sink", "%s: a batch of %zu writes, refused as a whole (%s), applied one by one",
                self->name, n, err);
        return 0;
    }
    s_rollback(self);
    if (s_data_error(self))
        lt_err_set(err, errlen, "%s", why);
    return -1;
}

/* After a unique violation (SQLSTATE 23505: not of the key, which ON
 * CONFLICT takes): what to do (adapters/README.md, "Sink"). */
static void s_unique_hint(char *err, size_t errlen)
{
    size_t len = strlen(err);
    if (len + 1 < errlen)
        snprintf(err + len, errlen - len,
                 "; a sink table must have no UNIQUE constraint other than its key_column's "
                 "unless it is DEFERRABLE INITIALLY DEFERRED: rows of a batch that swap or pass on "
                 "a value conflict while they are written (drop the constraint or make it so)");
}

/* A batch in one transaction with the cursor: its own, or the caller's
 * (lt_db_write, for a replacement). A batch refused for a value names its
 * record (lt_sink.c), with the message of that record's own failure: a
 * batch of one at once; a larger one that ran as a transaction of its own
 * by trying its rows (s_find_failed; inside the caller's transaction, the
 * failure spoilt it). */
static int s_apply(void *impl, const lt_db_write_t *w, size_t n, lt_db_fill_fn fill, void *ctx,
                   const char *name, int64_t value, size_t *failed, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    *failed = n;
    if (s_ensure(self, err, errlen))
        return -1;
    int alone = PQtransactionStatus(self->conn) == PQTRANS_IDLE;
    if (s_apply_batch(self, w, n, fill, ctx, name, value, alone, failed, err, errlen) == 0)
        return 0;
    if (alone)
        s_rollback(self);
    if (*failed == n && s_data_error(self)) {
        if (n == 1)
            *failed = 0;
        else if (alone &&
                 s_find_failed(self, w, n, fill, ctx, name, value, failed, err, errlen) == 0)
            return 0;
    }
    if (strcmp(self->state, "23505") == 0)
        s_unique_hint(err, errlen);
    return -1;
}

static int s_clear(void *impl, char *err, size_t errlen)
{
    s_pg_t *self = impl;
    if (s_ensure(self, err, errlen))
        return -1;
    s_buf_t b = {0};
    s_add(&b, "DELETE FROM %s", self->q_table);
    int rc = b.s ? s_exec(self, b.s, "cannot empty the table", err, errlen) : -1;
    if (!b.s)
        lt_err_set(err, errlen, "out of memory");
    free(b.s);
    return rc;
}

/* ---- rows ------------------------------------------------------------- */

static const s_row_t *s_r(const lt_db_row_t *row)
{
    return (const s_row_t *)row;
}

static size_t s_row_count(const lt_db_row_t *row)
{
    return (size_t)(PQnfields(s_r(row)->res) - s_r(row)->off);
}

static const char *s_row_name(const lt_db_row_t *row, size_t i)
{
    return PQfname(s_r(row)->res, s_r(row)->off + (int)i);
}

static lt_db_type_t s_row_type(const lt_db_row_t *row, size_t i)
{
    const s_row_t *r = s_r(row);
    int c = r->off + (int)i;
    if (PQgetisnull(r->res, r->row, c))
        return LT_DB_NULL;
    switch (PQftype(r->res, c)) {
    case OID_BOOL:
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID:
        return LT_DB_INTEGER;
    case OID_FLOAT4:
    case OID_FLOAT8:
        return LT_DB_REAL;
    case OID_BYTEA:
        return LT_DB_BLOB;
    default: /* text, dates, numeric (exact, as text), ... */
        return LT_DB_TEXT;
    }
}

static const char *s_value(const lt_db_row_t *row, size_t i)
{
    const s_row_t *r = s_r(row);
    return PQgetvalue(r->res, r->row, r->off + (int)i);
}

/* A float column read as an integer, as SQLite's sqlite3_column_int64
 * does: toward zero, clamped to the 64-bit range (a NaN, which SQLite
 * stores as NULL, is 0). Converting a NaN, an infinity or a value out of
 * range with a plain cast would be undefined behaviour. The row mapping
 * never asks: a REAL column for an integer field is a mapping error
 * naming it (lt_rowmap.c). */
static int64_t s_float_int(const char *v)
{
    double d = strtod(v, NULL);
    if (d != d)
        return 0;
    if (d >= 9223372036854775808.0) /* 2^63 */
        return INT64_MAX;
    if (d <= -9223372036854775808.0)
        return INT64_MIN;
    return (int64_t)d;
}

static int64_t s_row_int(const lt_db_row_t *row, size_t i)
{
    const char *v = s_value(row, i);
    Oid type = PQftype(s_r(row)->res, s_r(row)->off + (int)i);
    if (type == OID_BOOL)
        return v[0] == 't';
    if (type == OID_FLOAT4 || type == OID_FLOAT8)
        return s_float_int(v);
    return strtoll(v, NULL, 10);
}

static double s_row_double(const lt_db_row_t *row, size_t i)
{
    if (PQftype(s_r(row)->res, s_r(row)->off + (int)i) == OID_BOOL)
        return s_value(row, i)[0] == 't';
    return strtod(s_value(row, i), NULL);
}

static const char *s_row_text(const lt_db_row_t *row, size_t i)
{
    const s_row_t *r = s_r(row);
    return PQgetisnull(r->res, r->row, r->off + (int)i) ? NULL : s_value(row, i);
}

static int s_row_blob(const lt_db_row_t *row, size_t i, const void **data, size_t *len)
{
    s_row_t *r = (s_row_t *)s_r(row); /* the unescaped copies are the row's cache */
    int c = r->off + (int)i;
    *data = NULL;
    *len = 0;
    if (PQgetisnull(r->res, r->row, c))
        return 0;
    if (PQftype(r->res, c) != OID_BYTEA) {
        *len = (size_t)PQgetlength(r->res, r->row, c);
        *data = *len ? PQgetvalue(r->res, r->row, c) : NULL;
        return 0;
    }
    size_t n = (size_t)(PQnfields(r->res) - r->off);
    if (!r->blobs && !(r->blobs = calloc(n, sizeof *r->blobs)))
        return -1;
    s_blob_t *b = &r->blobs[i];
    /* NULL from libpq is a failure (out of memory), never an empty bytea. */
    if (!b->data &&
        !(b->data = PQunescapeBytea((const unsigned char *)PQgetvalue(r->res, r->row, c), &b->len)))
        return -1;
    *len = b->len;
    *data = *len ? b->data : NULL;
    return 0;
}

/* ---- parameters ------------------------------------------------------- */

/* Appends column i's element for the row being filled (text, NULL for
 * NULL); a column set twice is refused. */
static int s_set(lt_db_params_t *p, size_t i, const char *v)
{
    s_params_t *sp = (s_params_t *)p;
    if (sp->set[i]) {
        p->why = "a column set twice";
        return -1;
    }
    sp->set[i] = 1;
    s_add_element(&sp->cols[i], v, sp->first);
    return 0;
}

static int s_param_null(lt_db_params_t *p, size_t i)
{
    return s_set(p, i, NULL);
}

static int s_param_int(lt_db_params_t *p, size_t i, int64_t v)
{
    char text[24];
    snprintf(text, sizeof text, "%" PRId64, v);
    return s_set(p, i, text);
}

static int s_param_double(lt_db_params_t *p, size_t i, double v)
{
    char text[32];
    if (v != v)
        snprintf(text, sizeof text, "NaN");
    else if (v > 1.7976931348623157e308 || v < -1.7976931348623157e308)
        snprintf(text, sizeof text, "%sInfinity", v < 0 ? "-" : "");
    else
        snprintf(text, sizeof text, "%.17g", v);
    return s_set(p, i, text);
}

static int s_param_text(lt_db_params_t *p, size_t i, const char *text)
{
    return s_set(p, i, text);
}

/* bytea in its hex text form: \\x and two digits per byte. */
static int s_param_blob(lt_db_params_t *p, size_t i, const void *data, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    char *v = len < (SIZE_MAX - 3) / 2 ? malloc(2 * len + 3) : NULL;
    if (!v) {
        p->why = "out of memory";
        return -1;
    }
    const unsigned char *d = data;
    v[0] = '\\';
    v[1] = 'x';
    for (size_t k = 0; k < len; k++) {
        v[2 + 2 * k] = hex[d[k] >> 4];
        v[3 + 2 * k] = hex[d[k] & 15];
    }
    v[2 + 2 * len] = 0;
    int rc = s_set(p, i, v);
    free(v);
    return rc;
}

const lt_db_ops_t lt_db_pg_ops = {
    .name = "postgresql",
    .open = s_open,
    .close = s_close,
    .begin = s_begin,
    .commit = s_commit,
    .rollback = s_rollback,
    .capture_install = s_capture_install,
    .capture_script = s_capture_script,
    .capture_present = s_capture_present,
    .capture_high = s_capture_high,
    .capture_sync = s_capture_sync,
    .capture_relist = s_capture_relist,
    .read_changes = s_read_changes,
    .last_change = s_last_change,
    .requeue = s_requeue,
    .queue_absent = s_queue_absent,
    .read_row = s_read_row,
    .wait_fd = s_wait_fd,
    .news = s_news,
    .lost = s_lost,
    .would = s_would,
    .cursor_load = s_cursor_load,
    .cursor_store = s_cursor_store,
    .shift_load = s_shift_load,
    .shift_store = s_shift_store,
    .history_load = s_history_load,
    .history_store = s_history_store,
    .cursor_list = s_cursor_list,
    .cursor_forget = s_cursor_forget,
    .capture_drop = s_capture_drop,
    .reject = s_reject,
    .reject_count = s_reject_count,
    .reject_kinds = s_reject_kinds,
    .reject_clear = s_reject_clear,
    .apply = s_apply,
    .clear = s_clear,
    .row_count = s_row_count,
    .row_name = s_row_name,
    .row_type = s_row_type,
    .row_int = s_row_int,
    .row_double = s_row_double,
    .row_text = s_row_text,
    .row_blob = s_row_blob,
    .param_null = s_param_null,
    .param_int = s_param_int,
    .param_double = s_param_double,
    .param_text = s_param_text,
    .param_blob = s_param_blob,
};

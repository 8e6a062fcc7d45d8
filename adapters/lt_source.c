/* lt_source: the source adapter (see lt_source.h and adapters/README.md).
 *
 * Change tracking is trigger-based: AFTER INSERT/UPDATE/DELETE triggers
 * append the row's key to lt_changes in the agency's own transaction, so a
 * change is recorded if and only if the agency's write commits, and no
 * application has to be modified. We chose this over timestamp columns
 * (which miss deletes and depend on clocks) and over reading the WAL (an
 * internal format). The adapter publishes the CURRENT row of each changed
 * key, so several changes of one key collapse into its latest version and
 * resending after a crash or lost ack is harmless: the gateway treats a
 * source_cursor at or below its durable one as already stored, and applying
 * a row version twice gives the same state.
 *
 * source_cursor is the change id in decimal; the gateway compares it as a
 * number and echoes its durable one in the PublishAck. */
#include "lt_source.h"
#include "lt_adapter.h"
#include "lt_file.h"
#include "lt_log.h"
#include "lt_rowmap.h"
#include "lt_schema.h"
#include "lt_wire.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define MAX_FLIGHT 4           /* Publish messages awaiting their ack */
#define ACK_TIMEOUT_MS 10000   /* resend when the head is not acked by then */
#define STOP_WAIT_MS 10000     /* bounded wait for acks after SIGTERM */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define REPORT_MS 10000        /* progress line interval */
#define CURSOR_LEN LT_CURSOR_TEXT_MAX

typedef struct {
    uint64_t request_id;
    int64_t first_id, last_id; /* change ids covered */
    size_t n_changes;
    uint8_t *frame;            /* the packed Envelope, resent as is */
    size_t frame_len;
    int64_t sent_ms;
    int acked;                 /* stored by the gateway, or queued again */
    int failed;                /* waiting to be sent again (retry_at) */
    int requeued;              /* done because its keys were queued again */
} s_flight_t;

/* One change read from the database, before packing. */
typedef struct {
    int64_t id;
    char *key;
    uint8_t *payload;
    size_t len;
    int deleted;
} s_change_t;

struct lt_source_t {
    char path[PATH_MAX];
    char socket[PATH_MAX];
    char dataset[256];
    char record_type[256];
    char database[PATH_MAX];
    char table[256];
    char key_column[256];
    char key_field[256];
    int batch;
    int poll_ms;
    int limit;                 /* changes per Publish now (halved if a frame is too big) */
    lt_rowmap_t *map;
    sqlite3 *db;
    sqlite3_stmt *st_changes, *st_row, *st_cursor;
    lt_adapter_conn_t conn;
    int64_t cursor;            /* last acknowledged change id, durable */
    int64_t next;              /* last change id put into a Publish */
    s_flight_t flights[MAX_FLIGHT];
    size_t n_flight;
    size_t max_flight;         /* MAX_FLIGHT, or 1 after a failure until an ack */
    uint64_t req_base, req_count;
    int backoff_ms;
    int64_t retry_at;          /* resend failed flights then (0: none) */
    int64_t read_at;           /* earliest next read of lt_changes */
    uint64_t acked_total, acked_since, requeued;
    int64_t report_at;
};

static const char *const s_known[] = {"gateway_socket", "dataset", "record_type", "database",
                                      "table", "key_column", "key_field", "columns", "batch",
                                      "poll_ms", NULL};

/* ---- configuration -------------------------------------------------- */

static int s_strings(lt_source_t *self, const config_t *c, char *err, size_t errlen)
{
    const char *f = self->path;
    if (lt_cfgfile_string(c, f, "gateway_socket", NULL, 1, self->socket, sizeof self->socket, err,
                     errlen) ||
        lt_cfgfile_string(c, f, "dataset", NULL, 0, self->dataset, sizeof self->dataset, err, errlen) ||
        lt_cfgfile_string(c, f, "record_type", NULL, 0, self->record_type, sizeof self->record_type,
                     err, errlen) ||
        lt_cfgfile_string(c, f, "database", NULL, 1, self->database, sizeof self->database, err,
                     errlen) ||
        lt_cfgfile_string(c, f, "table", NULL, 0, self->table, sizeof self->table, err, errlen) ||
        lt_cfgfile_string(c, f, "key_column", NULL, 0, self->key_column, sizeof self->key_column, err,
                     errlen) ||
        lt_cfgfile_string(c, f, "key_field", NULL, 0, self->key_field, sizeof self->key_field, err,
                     errlen))
        return -1;
    return 0;
}

static int s_numbers(lt_source_t *self, const config_t *c, char *err, size_t errlen)
{
    long long v;
    if (lt_cfgfile_int(c, self->path, "batch", 1000, 1, 100000, &v, err, errlen))
        return -1;
    self->batch = self->limit = (int)v;
    if (lt_cfgfile_int(c, self->path, "poll_ms", 100, 1, 60000, &v, err, errlen))
        return -1;
    self->poll_ms = (int)v;
    return 0;
}

static int s_load(lt_source_t *self, const char *path, char *err, size_t errlen)
{
    config_t c;
    config_init(&c);
    int rc = -1;
    snprintf(self->path, sizeof self->path, "%s", path);
    if (lt_cfgfile_read(&c, path, err, errlen) || lt_cfgfile_unknown(&c, path, s_known, err, errlen) ||
        s_strings(self, &c, err, errlen) || s_numbers(self, &c, err, errlen))
        goto out;
    const ProtobufCMessageDescriptor *desc = lt_schema_find(self->record_type);
    if (!desc) {
        lt_cfgfile_err(config_lookup(&c, "record_type"), path, err, errlen,
                  "unknown record type '%s' (e.g. \"lienthong.records.Population\")",
                  self->record_type);
        goto out;
    }
    const config_setting_t *cols = config_lookup(&c, "columns");
    if (!cols) {
        lt_cfgfile_err(config_root_setting(&c), path, err, errlen,
                  "missing required group 'columns = { field = \"column\"; ... };'");
        goto out;
    }
    self->map = lt_rowmap_new(desc, cols, path, self->key_column, self->key_field, err, errlen);
    rc = self->map ? 0 : -1;
out:
    config_destroy(&c);
    return rc;
}

/* ---- database ------------------------------------------------------- */

static int s_prepare(lt_source_t *self, char *err, size_t errlen)
{
    char *row = lt_rowmap_sql_select(self->map, self->table);
    int rc = -1;
    if (lt_adapter_exec(self->db,
                   "CREATE TABLE IF NOT EXISTS lt_source_cursor("
                   "dataset TEXT PRIMARY KEY, change_id INTEGER NOT NULL)",
                   "cannot create lt_source_cursor", err, errlen) ||
        lt_adapter_prepare(self->db, row, &self->st_row, err, errlen) ||
        lt_adapter_prepare(self->db,
                      "INSERT INTO lt_source_cursor(dataset, change_id) VALUES (?1, ?2) "
                      "ON CONFLICT(dataset) DO UPDATE SET change_id = excluded.change_id",
                      &self->st_cursor, err, errlen))
        goto out;
    rc = 0;
out:
    free(row);
    return rc;
}

lt_source_t *lt_source_new(const char *config_path, char *err, size_t errlen)
{
    lt_source_t *self = calloc(1, sizeof *self);
    if (!self) {
        lt_adapter_fmt(err, errlen, "out of memory");
        return NULL;
    }
    self->backoff_ms = BACKOFF_MIN_MS;
    self->max_flight = MAX_FLIGHT;
    if (s_load(self, config_path, err, errlen))
        goto fail;
    self->db = lt_adapter_db_open(self->database, 0, err, errlen);
    if (!self->db || s_prepare(self, err, errlen))
        goto fail;
    return self;
fail:
    lt_source_destroy(&self);
    return NULL;
}

static void s_flight_free(s_flight_t *fl)
{
    free(fl->frame);
    memset(fl, 0, sizeof *fl);
}

void lt_source_destroy(lt_source_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_source_t *self = *self_p;
    for (size_t i = 0; i < self->n_flight; i++)
        s_flight_free(&self->flights[i]);
    sqlite3_finalize(self->st_changes);
    sqlite3_finalize(self->st_row);
    sqlite3_finalize(self->st_cursor);
    sqlite3_close(self->db);
    lt_adapter_disconnect(&self->conn);
    lt_rowmap_destroy(&self->map);
    free(self);
    *self_p = NULL;
}

static int s_table_exists(sqlite3 *db, const char *name, int *exists, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    if (lt_adapter_prepare(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", &st,
                      err, errlen))
        return -1;
    int rc = sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK ? sqlite3_step(st)
                                                                           : SQLITE_ERROR;
    *exists = rc == SQLITE_ROW;
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        lt_adapter_fmt(err, errlen, "cannot read the schema: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* The column list for UPDATE OF: every mapped column. */
static char *s_update_of(const lt_source_t *self)
{
    char *list = sqlite3_mprintf("%s", "");
    for (size_t i = 0; list && i < lt_rowmap_size(self->map); i++) {
        char *next = sqlite3_mprintf("%s%s\"%w\"", list, i ? ", " : "",
                                     lt_rowmap_column_name(self->map, i));
        sqlite3_free(list);
        list = next;
    }
    return list;
}

/* DROP + CREATE of the three triggers; new changes go to lt_changes. */
static char *s_trigger_sql(const lt_source_t *self)
{
    char *cols = s_update_of(self);
    if (!cols)
        return NULL;
    const char *t = self->table, *k = self->key_column;
    char *sql = sqlite3_mprintf(
        "DROP TRIGGER IF EXISTS \"lt_%w_insert\";"
        "DROP TRIGGER IF EXISTS \"lt_%w_update\";"
        "DROP TRIGGER IF EXISTS \"lt_%w_delete\";"
        "CREATE TRIGGER \"lt_%w_insert\" AFTER INSERT ON \"%w\" BEGIN "
        " INSERT INTO lt_changes(row_key) SELECT NEW.\"%w\" WHERE NEW.\"%w\" IS NOT NULL; END;"
        "CREATE TRIGGER \"lt_%w_update\" AFTER UPDATE OF %s ON \"%w\" BEGIN "
        " INSERT INTO lt_changes(row_key) SELECT OLD.\"%w\""
        "  WHERE OLD.\"%w\" IS NOT NULL AND OLD.\"%w\" IS NOT NEW.\"%w\";"
        " INSERT INTO lt_changes(row_key) SELECT NEW.\"%w\" WHERE NEW.\"%w\" IS NOT NULL; END;"
        "CREATE TRIGGER \"lt_%w_delete\" AFTER DELETE ON \"%w\" BEGIN "
        " INSERT INTO lt_changes(row_key) SELECT OLD.\"%w\" WHERE OLD.\"%w\" IS NOT NULL; END;",
        t, t, t, t, t, k, k, t, cols, t, k, k, k, k, k, k, t, t, k, k);
    sqlite3_free(cols);
    return sql;
}

/* A new change table starts every cursor again and lists every existing
 * row, so that the first run publishes the whole table. */
static char *s_seed_sql(const lt_source_t *self)
{
    return sqlite3_mprintf("UPDATE lt_source_cursor SET change_id = 0;"
                           "INSERT INTO lt_changes(row_key) SELECT \"%w\" FROM \"%w\""
                           " WHERE \"%w\" IS NOT NULL ORDER BY \"%w\";",
                           self->key_column, self->table, self->key_column, self->key_column);
}

int lt_source_install(lt_source_t *self, char *err, size_t errlen)
{
    int existed = 0, rc = -1;
    char *triggers = s_trigger_sql(self), *seed = s_seed_sql(self);
    if (!triggers || !seed) {
        lt_adapter_fmt(err, errlen, "out of memory");
        goto out;
    }
    if (lt_adapter_exec(self->db, "BEGIN IMMEDIATE", "cannot begin the installation", err, errlen))
        goto out;
    if (s_table_exists(self->db, "lt_changes", &existed, err, errlen) ||
        lt_adapter_exec(self->db,
                   "CREATE TABLE IF NOT EXISTS lt_changes("
                   "id INTEGER PRIMARY KEY AUTOINCREMENT, row_key TEXT NOT NULL)",
                   "cannot create lt_changes", err, errlen) ||
        lt_adapter_exec(self->db, triggers, "cannot create the triggers", err, errlen) ||
        (!existed && lt_adapter_exec(self->db, seed, "cannot list the existing rows", err, errlen)) ||
        lt_adapter_exec(self->db, "COMMIT", "cannot commit the installation", err, errlen)) {
        char ignore[64];
        lt_adapter_exec(self->db, "ROLLBACK", "rollback", ignore, sizeof ignore);
        goto out;
    }
    lt_info("source", "installed change tracking on table %s%s", self->table,
            existed ? "" : " (new change table, existing rows listed)");
    rc = 0;
out:
    sqlite3_free(triggers);
    sqlite3_free(seed);
    return rc;
}

static int s_load_cursor(lt_source_t *self, char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (lt_adapter_prepare(self->db, "SELECT change_id FROM lt_source_cursor WHERE dataset = ?1", &st,
                      err, errlen))
        return -1;
    int step = sqlite3_bind_text(st, 1, self->dataset, -1, SQLITE_STATIC) == SQLITE_OK
                   ? sqlite3_step(st)
                   : SQLITE_ERROR;
    if (step == SQLITE_ROW || step == SQLITE_DONE) {
        self->cursor = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
        self->next = self->cursor;
        rc = 0;
    } else
        lt_adapter_fmt(err, errlen, "cannot read lt_source_cursor: %s", sqlite3_errmsg(self->db));
    sqlite3_finalize(st);
    return rc;
}

/* Crash recovery, before the first Publish of a run. The previous run may
 * have had several Publish messages in flight when it stopped (kill -9, or
 * SIGTERM with acks outstanding), and the gateway may have stored a later
 * one but not an earlier one (lost with a crashed gateway). The gateway
 * skips a change at or below its durable source_cursor, so sending the
 * earlier changes again under their old ids would skip them for good. So,
 * in one transaction, every key changed after the durable cursor is queued
 * again under new ids, above every id ever sent, and the cursor moves past
 * the old ones. At worst a row version is published twice; applying is
 * idempotent. */
static int s_recover(lt_source_t *self, char *err, size_t errlen)
{
    int64_t last = self->cursor;
    sqlite3_stmt *st = NULL;
    char ignore[64];
    if (lt_adapter_exec(self->db, "BEGIN IMMEDIATE", "cannot begin the recovery", err, errlen))
        return -1;
    if (lt_adapter_prepare(self->db, "SELECT COALESCE(MAX(id), 0) FROM lt_changes", &st, err, errlen))
        goto fail;
    if (sqlite3_step(st) == SQLITE_ROW)
        last = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (last <= self->cursor) {
        lt_adapter_exec(self->db, "COMMIT", "end of recovery", ignore, sizeof ignore);
        return 0;
    }
    char *sql = sqlite3_mprintf(
        "INSERT INTO lt_changes(row_key) SELECT row_key FROM lt_changes"
        " WHERE id > %lld AND id <= %lld GROUP BY row_key ORDER BY MAX(id);",
        (long long)self->cursor, (long long)last);
    int rc = lt_adapter_exec(self->db, sql ? sql : "", "cannot queue the pending changes again", err,
                        errlen);
    sqlite3_free(sql);
    sqlite3_stmt *cur = self->st_cursor;
    if (rc || sqlite3_bind_text(cur, 1, self->dataset, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(cur, 2, last) != SQLITE_OK || sqlite3_step(cur) != SQLITE_DONE) {
        if (!rc)
            lt_adapter_fmt(err, errlen, "cannot update lt_source_cursor: %s", sqlite3_errmsg(self->db));
        sqlite3_reset(cur);
        goto fail;
    }
    sqlite3_reset(cur);
    if (lt_adapter_exec(self->db, "DELETE FROM lt_changes WHERE id <= "
                   "(SELECT MIN(change_id) FROM lt_source_cursor)",
                   "cannot prune lt_changes", err, errlen) ||
        lt_adapter_exec(self->db, "COMMIT", "cannot commit the recovery", err, errlen))
        goto fail;
    lt_info("source", "changes %" PRId64 "..%" PRId64 " queued again under new change ids "
            "(the previous run may have left publishes unacknowledged)", self->cursor + 1, last);
    self->cursor = self->next = last;
    return 0;
fail:
    lt_adapter_exec(self->db, "ROLLBACK", "rollback", ignore, sizeof ignore);
    return -1;
}

static int s_start(lt_source_t *self, char *err, size_t errlen)
{
    int exists = 0;
    if (s_table_exists(self->db, "lt_changes", &exists, err, errlen))
        return -1;
    if (!exists) {
        lt_adapter_fmt(err, errlen, "%s has no change table lt_changes: run 'lienthong source --config "
                 "%s --install' once", self->database, self->path);
        return -1;
    }
    if (lt_adapter_prepare(self->db,
                      "WITH b AS (SELECT id, row_key FROM lt_changes WHERE id > ?1 "
                      "ORDER BY id LIMIT ?2) "
                      "SELECT MAX(id), row_key FROM b GROUP BY row_key ORDER BY 1",
                      &self->st_changes, err, errlen) ||
        s_load_cursor(self, err, errlen) || s_recover(self, err, errlen) ||
        lt_adapter_connect(&self->conn, self->socket, err, errlen))
        return -1;
    self->req_base = lt_ad_random64();
    return 0;
}

/* ---- reading a batch ------------------------------------------------ */

static void s_changes_free(s_change_t *ch, size_t n)
{
    for (size_t i = 0; ch && i < n; i++) {
        free(ch[i].key);
        free(ch[i].payload);
    }
    free(ch);
}

/* Reads the current row for one change: payload, or a tombstone. */
static int s_read_row(lt_source_t *self, s_change_t *c, char *err, size_t errlen)
{
    sqlite3_stmt *st = self->st_row;
    int rc = -1;
    if (sqlite3_bind_text(st, 1, c->key, -1, SQLITE_STATIC) != SQLITE_OK) {
        lt_adapter_fmt(err, errlen, "cannot bind the key: %s", sqlite3_errmsg(self->db));
        goto out;
    }
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        c->deleted = 1;
        rc = 0;
    } else if (step == SQLITE_ROW) {
        char why[256];
        rc = lt_rowmap_pack_row(self->map, st, 0, &c->payload, &c->len, why, sizeof why);
        if (rc)
            lt_adapter_fmt(err, errlen, "change %" PRId64 " (table %s): %s", c->id, self->table, why);
    } else
        lt_adapter_fmt(err, errlen, "cannot read table %s: %s", self->table, sqlite3_errmsg(self->db));
out:
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Reads up to `limit` changes after `self->next` (latest per key) and
 * their current rows. Call inside a read transaction. */
static int s_collect(lt_source_t *self, s_change_t *ch, size_t *n, char *err, size_t errlen)
{
    sqlite3_stmt *st = self->st_changes;
    int step = SQLITE_ERROR;
    *n = 0;
    if (sqlite3_bind_int64(st, 1, self->next) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, self->limit) != SQLITE_OK)
        goto out;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *key = (const char *)sqlite3_column_text(st, 1);
        ch[*n].id = sqlite3_column_int64(st, 0);
        ch[*n].key = key ? strdup(key) : NULL;
        if (!ch[*n].key) {
            lt_adapter_fmt(err, errlen, "out of memory");
            sqlite3_reset(st);
            return -1;
        }
        (*n)++;
    }
out:
    if (step != SQLITE_DONE) {
        lt_adapter_fmt(err, errlen, "cannot read lt_changes: %s", sqlite3_errmsg(self->db));
        sqlite3_reset(st);
        return -1;
    }
    sqlite3_reset(st);
    for (size_t i = 0; i < *n; i++)
        if (s_read_row(self, &ch[i], err, errlen))
            return -1;
    return 0;
}

/* Packs a Publish envelope for the changes into fl. Returns 0, -1 on
 * error, -2 when the frame would exceed the gateway's default cap. */
static int s_pack(lt_source_t *self, const s_change_t *ch, size_t n, s_flight_t *fl, char *err,
                  size_t errlen)
{
    int rc = -1;
    Lienthong__Change *cs = calloc(n, sizeof *cs);
    Lienthong__Change **pp = calloc(n, sizeof *pp);
    char(*cur)[CURSOR_LEN] = calloc(n, sizeof *cur);
    if (!cs || !pp || !cur) {
        lt_adapter_fmt(err, errlen, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        lienthong__change__init(&cs[i]);
        snprintf(cur[i], CURSOR_LEN, "%" PRId64, ch[i].id);
        cs[i].key = ch[i].key;
        cs[i].deleted = ch[i].deleted;
        cs[i].payload.data = ch[i].payload;
        cs[i].payload.len = ch[i].len;
        cs[i].source_cursor = cur[i];
        pp[i] = &cs[i];
    }
    if (++self->req_count + self->req_base == 0)
        ++self->req_count; /* request ids are never 0 */
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT;
    pub.request_id = self->req_base + self->req_count;
    pub.dataset = self->dataset;
    pub.n_changes = n;
    pub.changes = pp;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_PUBLISH;
    env.publish = &pub;
    size_t size = lienthong__envelope__get_packed_size(&env);
    if (size > LT_MAX_MESSAGE_DEFAULT) {
        rc = -2;
        goto out;
    }
    fl->frame = malloc(size);
    if (!fl->frame) {
        lt_adapter_fmt(err, errlen, "out of memory");
        goto out;
    }
    fl->frame_len = lienthong__envelope__pack(&env, fl->frame);
    fl->request_id = pub.request_id;
    fl->first_id = ch[0].id;
    fl->last_id = ch[n - 1].id;
    fl->n_changes = n;
    rc = 0;
out:
    free(cs);
    free(pp);
    free(cur);
    return rc;
}

/* One attempt at reading and packing `self->limit` changes: 1 when fl
 * holds a Publish, 0 when no change is waiting, -1 on error, -2 when the
 * Publish would be too big. */
static int s_try_batch(lt_source_t *self, s_flight_t *fl, char *err, size_t errlen)
{
    size_t n = 0;
    int rc = -1;
    s_change_t *ch = calloc((size_t)self->limit, sizeof *ch);
    if (!ch) {
        lt_adapter_fmt(err, errlen, "out of memory reading a batch of %d changes", self->limit);
        return -1;
    }
    if (lt_adapter_exec(self->db, "BEGIN", "cannot begin a read", err, errlen) == 0) {
        rc = s_collect(self, ch, &n, err, errlen);
        char ignore[64];
        lt_adapter_exec(self->db, "COMMIT", "end of read", ignore, sizeof ignore);
    }
    if (rc == 0 && n > 0)
        rc = s_pack(self, ch, n, fl, err, errlen);
    if (rc == -2 && n == 1)
        lt_adapter_fmt(err, errlen, "change %" PRId64 " alone exceeds %u bytes", ch[0].id,
                       LT_MAX_MESSAGE_DEFAULT);
    s_changes_free(ch, (size_t)self->limit);
    if (rc == -2)
        return n == 1 ? -1 : -2;
    return rc < 0 ? -1 : n > 0 ? 1 : 0;
}

/* Reads and packs the next batch, halving the batch while a Publish would
 * exceed the gateway's default frame cap. Returns 1 when fl holds a
 * Publish, 0 when no change is waiting, -1 on error (logged). */
static int s_read_batch(lt_source_t *self, s_flight_t *fl)
{
    char err[512];
    int r;
    while ((r = s_try_batch(self, fl, err, sizeof err)) == -2) {
        self->limit = self->limit > 1 ? self->limit / 2 : 1;
        lt_warn("source", "a Publish would exceed %u bytes; now %d changes per Publish",
                LT_MAX_MESSAGE_DEFAULT, self->limit);
    }
    if (r < 0)
        lt_error("source", "cannot publish the next changes: %s", err);
    return r;
}

/* ---- the pipeline --------------------------------------------------- *
 *
 * Retrying safely. The gateway skips a change whose source_cursor is at or
 * below its durable one. With several Publish in flight, publish k may fail
 * (Error, or no ack in time) while a later one is stored: resending k would
 * then be skipped as "already stored" and k's changes lost. So when k fails
 * and a later Publish was sent, k's keys are queued again in lt_changes
 * under new (higher) change ids, in the agency database, and k counts as
 * done; when k is the newest Publish, nothing can hide it and the same
 * bytes are sent again after a back-off. After any failure one Publish at a
 * time is sent until the next ack. Either way a change is never skipped; at
 * worst a row version is published twice, and applying is idempotent. */

static void s_backoff_up(lt_source_t *self)
{
    self->backoff_ms = self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : self->backoff_ms * 2;
}

/* Queues the keys of a failed Publish again under new change ids. */
static int s_requeue(lt_source_t *self, const s_flight_t *fl)
{
    char err[512], *sql = sqlite3_mprintf(
        "BEGIN IMMEDIATE;"
        "INSERT INTO lt_changes(row_key) SELECT row_key FROM lt_changes"
        " WHERE id BETWEEN %lld AND %lld GROUP BY row_key ORDER BY MAX(id);"
        "COMMIT;", (long long)fl->first_id, (long long)fl->last_id);
    int rc = lt_adapter_exec(self->db, sql ? sql : "", "cannot queue the changes again", err,
                        sizeof err);
    sqlite3_free(sql);
    if (rc == 0) {
        lt_info("source", "changes %" PRId64 "..%" PRId64 " queued again under new change ids "
                "(a later publish may already be stored)", fl->first_id, fl->last_id);
        return 0;
    }
    char ignore[64];
    lt_adapter_exec(self->db, "ROLLBACK", "rollback", ignore, sizeof ignore);
    lt_error("source", "%s", err);
    return -1;
}

/* Publish i failed: queue its keys again, or resend it after a back-off. */
static void s_fail(lt_source_t *self, size_t i, int64_t now)
{
    s_flight_t *fl = &self->flights[i];
    self->max_flight = 1;
    if (i + 1 < self->n_flight && s_requeue(self, fl) == 0) {
        fl->acked = fl->requeued = 1; /* done: its keys are in lt_changes again */
        return;
    }
    fl->failed = 1;
    if (self->retry_at)
        return;
    self->retry_at = now + self->backoff_ms;
    lt_info("source", "resending request_id=%016" PRIx64 " in %d ms", fl->request_id,
            self->backoff_ms);
    s_backoff_up(self);
}

static int s_send(lt_source_t *self, size_t i, int64_t now)
{
    s_flight_t *fl = &self->flights[i];
    fl->sent_ms = now;
    fl->failed = 0;
    if (zmq_send(self->conn.sock, fl->frame, fl->frame_len, ZMQ_DONTWAIT) != (int)fl->frame_len) {
        lt_warn("source", "cannot send a publish to the gateway: %s", zmq_strerror(zmq_errno()));
        s_fail(self, i, now);
        return -1;
    }
    return 0;
}

static void s_resend(lt_source_t *self, int64_t now)
{
    self->retry_at = 0;
    for (size_t i = 0; i < self->n_flight; i++)
        if (self->flights[i].failed && !self->flights[i].acked && s_send(self, i, now) != 0)
            return;
}

/* Fills the pipeline. Returns 0 when every change is in flight (nothing
 * left to read now), 1 when the pipeline is full, -1 after a read error. */
static int s_fill(lt_source_t *self, int64_t now)
{
    while (self->n_flight < self->max_flight) {
        s_flight_t *fl = &self->flights[self->n_flight];
        int r = s_read_batch(self, fl);
        if (r <= 0) {
            self->read_at = now + (r < 0 ? self->backoff_ms : self->poll_ms);
            if (r < 0)
                s_backoff_up(self);
            return r;
        }
        self->n_flight++;
        self->next = fl->last_id;
        lt_debug("source", "publish request_id=%016" PRIx64 " changes=%zu ids=%" PRId64
                 "..%" PRId64, fl->request_id, fl->n_changes, fl->first_id, fl->last_id);
        if (s_send(self, self->n_flight - 1, now) != 0)
            return 1;
    }
    return 1;
}

/* Stores the cursor of the acked prefix of the pipeline and prunes the
 * change table below the slowest dataset's cursor, in one transaction. */
static int s_commit_acked(lt_source_t *self)
{
    size_t k = 0;
    while (k < self->n_flight && self->flights[k].acked)
        k++;
    if (k == 0)
        return 0;
    int64_t last = self->flights[k - 1].last_id;
    char err[512];
    sqlite3_stmt *st = self->st_cursor;
    int step = SQLITE_ERROR;
    if (lt_adapter_exec(self->db, "BEGIN IMMEDIATE", "cannot begin", err, sizeof err))
        goto fail;
    if (sqlite3_bind_text(st, 1, self->dataset, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_bind_int64(st, 2, last) == SQLITE_OK)
        step = sqlite3_step(st);
    sqlite3_reset(st);
    if (step != SQLITE_DONE) {
        lt_adapter_fmt(err, sizeof err, "cannot update lt_source_cursor: %s", sqlite3_errmsg(self->db));
        goto rollback;
    }
    if (lt_adapter_exec(self->db, "DELETE FROM lt_changes WHERE id <= "
                   "(SELECT MIN(change_id) FROM lt_source_cursor)",
                   "cannot prune lt_changes", err, sizeof err) ||
        lt_adapter_exec(self->db, "COMMIT", "cannot commit the cursor", err, sizeof err))
        goto rollback;
    for (size_t i = 0; i < k; i++) {
        if (self->flights[i].requeued)
            self->requeued += self->flights[i].n_changes;
        else
            self->acked_since += self->flights[i].n_changes;
        s_flight_free(&self->flights[i]);
    }
    memmove(self->flights, self->flights + k, (self->n_flight - k) * sizeof self->flights[0]);
    memset(self->flights + self->n_flight - k, 0, k * sizeof self->flights[0]);
    self->n_flight -= k;
    self->cursor = last;
    return 0;
rollback:;
    char ignore[64];
    lt_adapter_exec(self->db, "ROLLBACK", "rollback", ignore, sizeof ignore);
fail:
    lt_error("source", "%s", err);
    return -1;
}

/* Index of the in-flight Publish with this request id, or -1. */
static long s_find(const lt_source_t *self, uint64_t request_id)
{
    for (size_t i = 0; i < self->n_flight; i++)
        if (self->flights[i].request_id == request_id)
            return (long)i;
    return -1;
}

static void s_on_ack(lt_source_t *self, const Lienthong__PublishAck *a)
{
    long i = s_find(self, a->request_id);
    if (i < 0 || self->flights[i].acked) {
        lt_debug("source", "ignored a stale PublishAck request_id=%016" PRIx64, a->request_id);
        return;
    }
    s_flight_t *fl = &self->flights[i];
    char *end = NULL;
    unsigned long long durable =
        a->source_cursor && a->source_cursor[0] ? strtoull(a->source_cursor, &end, 10) : 0;
    if (!end || *end || durable < (unsigned long long)fl->last_id)
        lt_warn("source", "PublishAck request_id=%016" PRIx64 " names source_cursor \"%s\", "
                "expected %" PRId64, a->request_id, a->source_cursor ? a->source_cursor : "",
                fl->last_id);
    lt_debug("source", "ack request_id=%016" PRIx64 " seq=%" PRIu64 "..%" PRIu64, a->request_id,
             a->first_seq, a->last_seq);
    fl->acked = 1;
    fl->failed = 0;
    self->max_flight = MAX_FLIGHT;
    self->backoff_ms = BACKOFF_MIN_MS;
}

static void s_on_error(lt_source_t *self, const Lienthong__Error *e, int64_t now)
{
    long i = s_find(self, e->request_id);
    if (i < 0 || self->flights[i].acked || self->flights[i].failed) {
        /* Not attributable, or about an old attempt: the ack timeout
         * decides for the Publish in flight. */
        lt_warn("source", "gateway error request_id=%016" PRIx64 " code=%s: %s", e->request_id,
                lt_wire_error_name(e->code), e->message ? e->message : "");
        return;
    }
    lt_warn("source", "gateway refused a publish request_id=%016" PRIx64 " code=%s: %s",
            e->request_id, lt_wire_error_name(e->code), e->message ? e->message : "");
    s_fail(self, (size_t)i, now);
}

static void s_handle(lt_source_t *self, const Lienthong__Envelope *env, int64_t now)
{
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK)
        s_on_ack(self, env->publish_ack);
    else if (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        s_on_error(self, env->error, now);
    else
        lt_warn("source", "ignored an unexpected %s from the gateway",
                lt_wire_body_name(env->body_case));
}

/* 1 when flight i waits for an ack (sent, neither acked nor failed). */
static int s_waiting(const lt_source_t *self, size_t i)
{
    return !self->flights[i].acked && !self->flights[i].failed;
}

/* Fails every Publish that has waited too long for its ack. */
static void s_check_timeout(lt_source_t *self, int64_t now)
{
    for (size_t i = 0; i < self->n_flight; i++) {
        const s_flight_t *fl = &self->flights[i];
        if (!s_waiting(self, i) || now - fl->sent_ms < ACK_TIMEOUT_MS)
            continue;
        lt_warn("source", "no PublishAck within %d ms for request_id=%016" PRIx64
                " (changes %" PRId64 "..%" PRId64 ")", ACK_TIMEOUT_MS, fl->request_id,
                fl->first_id, fl->last_id);
        s_fail(self, i, now);
    }
}

/* Milliseconds to wait for the gateway before the next thing to do. */
static int s_timeout(const lt_source_t *self, int64_t now, int64_t stop_at)
{
    int64_t until = now + 1000;
    if (!stop_at && !self->retry_at && self->n_flight < self->max_flight &&
        self->read_at < until)
        until = self->read_at;
    if (self->retry_at && self->retry_at < until)
        until = self->retry_at;
    for (size_t i = 0; i < self->n_flight; i++)
        if (s_waiting(self, i) && self->flights[i].sent_ms + ACK_TIMEOUT_MS < until)
            until = self->flights[i].sent_ms + ACK_TIMEOUT_MS;
    if (stop_at && stop_at < until)
        until = stop_at;
    return until <= now ? 0 : (int)(until - now);
}

static void s_report(lt_source_t *self, int64_t now, int force)
{
    if (now < self->report_at && !force)
        return;
    if (self->acked_since > 0 || force)
        lt_info("source", "dataset=%s cursor=%" PRId64 " published=%" PRIu64 " requeued=%" PRIu64
                " in_flight=%zu", self->dataset, self->cursor,
                self->acked_total + self->acked_since, self->requeued, self->n_flight);
    self->acked_total += self->acked_since;
    self->acked_since = 0;
    self->report_at = now + REPORT_MS;
}

/* One turn of the loop. Returns 1 to go on, 0 when done, -1 on error. */
static int s_turn(lt_source_t *self, int once, int64_t *stop_at)
{
    int64_t now = lt_clock_mono_ms();
    if (lt_adapter_stopping() && !*stop_at) {
        *stop_at = now + STOP_WAIT_MS;
        lt_info("source", "stopping: waiting up to %d ms for %zu publish(es) in flight",
                STOP_WAIT_MS, self->n_flight);
    }
    if (*stop_at && (self->n_flight == 0 || now >= *stop_at))
        return 0;
    if (self->retry_at && now >= self->retry_at)
        s_resend(self, now);
    if (!*stop_at && !self->retry_at && (now >= self->read_at || (once && !self->n_flight))) {
        int r = s_fill(self, now);
        if (once && r == 0 && self->n_flight == 0)
            return 0;
    }
    /* Wait for one message, then take what else is already there, so that
     * several acks are stored in one transaction. */
    int timeout = s_timeout(self, now, *stop_at);
    for (int i = 0; i < 2 * MAX_FLIGHT; i++, timeout = 0) {
        Lienthong__Envelope *env = NULL;
        int r = lt_adapter_recv(&self->conn, timeout, &env);
        if (r < 0) {
            lt_error("source", "gateway socket failed: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        if (r == 0)
            break;
        s_handle(self, env, lt_clock_mono_ms());
        lt_wire_free(&env);
    }
    now = lt_clock_mono_ms();
    s_check_timeout(self, now);
    if (s_commit_acked(self) != 0)
        return -1;
    s_report(self, now, 0);
    return 1;
}

int lt_source_run(lt_source_t *self, int once)
{
    char err[1024];
    if (lt_adapter_signals() != 0 || s_start(self, err, sizeof err) != 0) {
        lt_error("source", "cannot start: %s", err);
        return 1;
    }
    lt_info("source", "started dataset=%s table=%s cursor=%" PRId64 " gateway=%s", self->dataset,
            self->table, self->cursor, self->socket);
    self->report_at = lt_clock_mono_ms() + REPORT_MS;
    int64_t stop_at = 0;
    int r;
    while ((r = s_turn(self, once, &stop_at)) > 0)
        ;
    s_report(self, lt_clock_mono_ms(), 1);
    if (r == 0 && self->n_flight > 0)
        lt_warn("source", "stopped with %zu publish(es) unacknowledged; they are sent again at "
                "the next start", self->n_flight);
    return r < 0 ? 1 : 0;
}

/* lt_sink: the sink adapter (see lt_sink.h and adapters/README.md).
 *
 * Exactly-once effect without distributed transactions: the records of a
 * Deliver and the new cursor are committed together, and the ack is sent
 * after the commit. A crash before the commit loses nothing (the gateway
 * delivers again from the old cursor); a crash after it, before the ack,
 * makes the gateway deliver records again that are then skipped because
 * their seq is at or below the cursor. */
#include "lt_sink.h"
#include "lt_err.h"
#include "lt_clock.h"
#include "lt_adapter.h"
#include "lt_db.h"
#include "lt_file.h"
#include "lt_grants.h"
#include "lt_log.h"
#include "lt_rowmap.h"
#include "lt_schema.h"
#include "lt_wire.h"

#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define SILENCE_MS     5000 /* attach again after this long without a message */
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
#define REPORT_MS      10000

struct lt_sink_t {
    char path[PATH_MAX];
    char socket[PATH_MAX];
    char stream[256];
    char record_type[256];
    char database[PATH_MAX];
    char table[256];
    char key_column[256];
    int credit;
    int create_table;
    lt_rowmap_t *map;
    lt_db_t *db;
    lt_adapter_conn_t conn;
    uint64_t cursor; /* last seq applied, durable */
    /* The history of the cursor (PROTOCOL.md 8.2), stored with it: hex, ""
     * unknown (a cursor from before it was kept, or a gateway that sends
     * none). */
    char history[LT_DB_HISTORY_HEX];
    int have_cursor;    /* loaded (the database may be down at start) */
    int db_down;        /* "unavailable" was logged; "again" not yet */
    int64_t last_rx;    /* when the gateway last sent something */
    int64_t hold_until; /* after an error: ignore deliveries, then attach */
    int resync;         /* attached: drop deliveries of the replaced attachment */
    int replacing;      /* a replacement's transaction is open (PROTOCOL.md 8.2) */
    uint64_t replace_seq;
    int backoff_ms;
    uint64_t applied_since;
    int64_t report_at;
    int ask_grant; /* refused as not found: the next status says why */
    lt_grants_state_t grant;
};

static const char *const s_known[] = {"gateway_socket", "stream",     "record_type", "database",
                                      "table",          "key_column", "columns",     "credit",
                                      "create_table",   "log_level",  "log_format",  NULL};

/* ---- configuration -------------------------------------------------- */

static int s_settings(lt_sink_t *self, const config_t *c, char *err, size_t errlen)
{
    const char *f = self->path;
    long long credit;
    if (lt_cfgfile_string(c, f, "gateway_socket", NULL, 1, self->socket, sizeof self->socket, err,
                          errlen) ||
        lt_cfgfile_string(c, f, "stream", NULL, 0, self->stream, sizeof self->stream, err,
                          errlen) ||
        lt_cfgfile_string(c, f, "record_type", NULL, 0, self->record_type, sizeof self->record_type,
                          err, errlen) ||
        lt_cfgfile_string(c, f, "database", NULL, 0, self->database, sizeof self->database, err,
                          errlen) ||
        lt_cfgfile_string(c, f, "table", NULL, 0, self->table, sizeof self->table, err, errlen) ||
        lt_cfgfile_string(c, f, "key_column", NULL, 0, self->key_column, sizeof self->key_column,
                          err, errlen) ||
        lt_cfgfile_int(c, f, "credit", 4096, 1, 1 << 22, &credit, err, errlen) ||
        lt_cfgfile_bool(c, f, "create_table", 0, &self->create_table, err, errlen))
        return -1;
    self->credit = (int)credit;
    return 0;
}

static int s_load(lt_sink_t *self, const char *path, char *err, size_t errlen)
{
    config_t c;
    config_init(&c);
    int rc = -1;
    snprintf(self->path, sizeof self->path, "%s", path);
    if (lt_cfgfile_read(&c, path, err, errlen) ||
        lt_cfgfile_unknown(&c, path, s_known, err, errlen) || s_settings(self, &c, err, errlen) ||
        lt_adapter_log_setup(&c, path, "lienthong-sink", self->stream, 0, err, errlen))
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
    self->map = lt_rowmap_new(desc, cols, path, self->key_column, NULL, err, errlen);
    rc = self->map ? 0 : -1;
out:
    lt_cfgfile_wipe(&c, "database"); /* it may hold a password */
    config_destroy(&c);
    return rc;
}

/* ---- database ------------------------------------------------------- */

static int s_load_cursor(lt_sink_t *self, char *err, size_t errlen)
{
    int64_t seq = 0;
    if (lt_db_cursor_load(self->db, self->stream, &seq, err, errlen))
        return -1;
    if (seq < 0) {
        lt_err_set(err, errlen, "lt_sink_cursor holds a negative seq for %s", self->stream);
        return -1;
    }
    self->cursor = (uint64_t)seq;
    return lt_db_history_load(self->db, self->stream, self->history, err, errlen);
}

/* The history a Deliver names, as the cursor table keeps it: hex, "" for
 * none. */
static void s_history_hex(const ProtobufCBinaryData *id, char hex[LT_DB_HISTORY_HEX])
{
    hex[0] = '\0';
    if (id->len == LT_HISTORY_BYTES)
        sodium_bin2hex(hex, LT_DB_HISTORY_HEX, id->data, id->len);
}

/* A database call failed: while the database is down it says so once (not
 * once per retry); other failures are errors each time. */
static void s_db_failed(lt_sink_t *self, const char *err)
{
    if (!lt_db_lost(self->db))
        lt_error("sink", "stream=%s %s; rolled back, retrying from %" PRIu64, self->stream, err,
                 self->cursor + 1);
    else if (!self->db_down)
        lt_warn("sink", "stream=%s %s; retrying with a back-off up to %d ms until it is back",
                self->stream, err, BACKOFF_MAX_MS);
    self->db_down |= lt_db_lost(self->db);
}

static void s_db_ok(lt_sink_t *self)
{
    if (self->db_down)
        lt_info("sink", "stream=%s %s is reachable again", self->stream, lt_db_name(self->db));
    self->db_down = 0;
}

lt_sink_t *lt_sink_new(const char *config_path, char *err, size_t errlen)
{
    lt_db_table_t table;
    lt_sink_t *self = calloc(1, sizeof *self);
    if (!self) {
        lt_err_set(err, errlen, "out of memory");
        return NULL;
    }
    self->backoff_ms = BACKOFF_MIN_MS;
    if (s_load(self, config_path, err, errlen))
        goto fail;
    /* Also creates the cursor table (and with create_table the table) and
     * checks that the table can take the mapped columns. */
    lt_rowmap_table(self->map, self->table, &table);
    self->db = lt_db_connect(self->database, self->path, LT_DB_SINK, &table,
                             self->create_table ? LT_DB_CREATE : 0, err, errlen);
    if (!self->db)
        goto fail;
    /* A database that is down now is waited for in lt_sink_run. */
    self->have_cursor = s_load_cursor(self, err, errlen) == 0;
    if (!self->have_cursor && !lt_db_lost(self->db))
        goto fail;
    return self;
fail:
    lt_sink_destroy(&self);
    return NULL;
}

/* The table and the cursor table, as the sink would find them; a check
 * changes nothing (LT_DB_CHECK): a SQLite file keeps its journal mode and
 * gets no table, what the sink would create is only told. `absent`: the
 * SQLite file is not there yet (it would be created). */
static void s_check_table(lt_sink_t *self, lt_check_t *r, int absent)
{
    char err[1024];
    lt_db_table_t table;
    if (absent) {
        lt_check_ok(r, "table", "%s would be created, with lt_sink_cursor", self->table);
        return;
    }
    lt_rowmap_table(self->map, self->table, &table);
    self->db =
        lt_db_connect(self->database, self->path, LT_DB_SINK, &table,
                      LT_DB_CHECK | (self->create_table ? LT_DB_CREATE : 0), err, sizeof err);
    if (!self->db) {
        lt_check_error(r, "table",
                       lt_adapter_db_hint(NULL, err,
                                          "the table needs every mapped column and key_column "
                                          "as its PRIMARY KEY or UNIQUE (or set create_table "
                                          "= true)"),
                       "%s", err);
        return;
    }
    int would = lt_db_would(self->db);
    lt_check_ok(r, "table", "%s%s", self->table,
                would & LT_DB_WOULD_TABLE ? " would be created (create_table = true)" : "");
    if (would & (LT_DB_WOULD_CURSOR | LT_DB_WOULD_COLUMN))
        lt_check_ok(r, "cursor table", "lt_sink_cursor would be %s when the sink starts",
                    would & LT_DB_WOULD_CURSOR ? "created" : "given its history column");
}

int lt_sink_check(const char *config_path, FILE *out)
{
    lt_check_t r = {.out = out};
    char err[1024];
    lt_sink_t *self = calloc(1, sizeof *self);
    if (!self || s_load(self, config_path, err, sizeof err) != 0) {
        lt_check_error(&r, "configuration", NULL, "%s", self ? err : "out of memory");
        goto out;
    }
    lt_check_ok(&r, "configuration", "stream %s into table %s", self->stream, self->table);
    /* A PostgreSQL connection string is checked by connecting, not as a
     * file (as the source does). */
    int file = lt_db_is_file(self->database) == 1;
    char path[4096];
    if (file && lt_file_resolve(self->path, self->database, path, sizeof path) != 0)
        lt_check_error(&r, "database", NULL, "database path too long");
    else if (!file || lt_adapter_check_db(&r, path, !self->create_table) == 0)
        s_check_table(self, &r, file && access(path, F_OK) != 0);
    /* A stream the gateway neither owns nor replicates is refused for ever
     * (PROTOCOL.md 8.2): most often a misspelt `stream`. */
    const char *stream = self->stream;
    if (lt_adapter_check_gateway(&r, self->socket) == 0)
        lt_grants_check(&r, self->socket, self->path, LT_GRANTS_SINK, &stream, NULL, 1);
out:
    lt_sink_destroy(&self);
    return lt_check_summary(&r, config_path, "sink adapter");
}

void lt_sink_destroy(lt_sink_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_sink_t *self = *self_p;
    lt_db_destroy(&self->db);
    lt_adapter_disconnect(&self->conn);
    lt_rowmap_destroy(&self->map);
    sodium_memzero(self->database, sizeof self->database); /* it may hold a password */
    free(self);
    *self_p = NULL;
}

uint64_t lt_sink_cursor(const lt_sink_t *self)
{
    return self->cursor;
}

/* ---- applying ------------------------------------------------------- */

/* Sets the values of one record's upsert (lt_db_fill_fn). */
static int s_fill(void *ctx, const lt_db_write_t *w, lt_db_params_t *params, char *err,
                  size_t errlen)
{
    const lt_sink_t *self = ctx;
    const Lienthong__Record *r = w->arg;
    return lt_rowmap_bind_record(self->map, params, r->payload.data, r->payload.len, r->key, err,
                                 errlen);
}

/* Lists the new records of a Deliver as writes, in order: those after the
 * cursor, which must follow on exactly. Returns the count, or -1 with *gap
 * or err (naming the record). */
static long s_writes(const lt_sink_t *self, const Lienthong__Deliver *d, lt_db_write_t *w, int *gap,
                     char *err, size_t errlen)
{
    uint64_t cur = self->cursor;
    long n = 0;
    for (size_t i = 0; i < d->n_records; i++) {
        const Lienthong__Record *r = d->records[i];
        if (r->seq <= cur)
            continue; /* already applied */
        if (r->seq != cur + 1) {
            lt_err_set(err, errlen, "sequence gap: expected %" PRIu64 ", got %" PRIu64, cur + 1,
                       r->seq);
            *gap = 1;
            return -1;
        }
        if (!r->key || !r->key[0]) {
            lt_err_set(err, errlen,
                       "cannot apply record %" PRIu64 ": record %" PRIu64 " has no key", r->seq,
                       r->seq);
            return -1;
        }
        w[n++] = (lt_db_write_t){r->key, r->deleted, r};
        cur = r->seq;
    }
    return n;
}

/* Writes the records listed in w[0..n-1] (n > 0) and the cursor in one
 * transaction. Returns 0, or -1 with err naming the record that failed. */
static int s_write(lt_sink_t *self, const lt_db_write_t *w, size_t n, char *err, size_t errlen)
{
    const Lienthong__Record *end = w[n - 1].arg;
    size_t failed = 0;
    char why[768];
    if (lt_db_apply(self->db, w, n, s_fill, self, self->stream, (int64_t)end->seq, &failed, why,
                    sizeof why) == 0)
        return 0;
    if (failed < n)
        lt_err_set(err, errlen, "cannot apply record %" PRIu64 ": %s",
                   ((const Lienthong__Record *)w[failed].arg)->seq, why);
    else
        lt_err_set(err, errlen, "%s", why);
    return -1;
}

/* Applies a Deliver in one transaction with the cursor. Returns 0 (applied
 * or nothing new), 1 on a gap, -1 on an error; rolled back unless 0. */
static int s_apply(lt_sink_t *self, const Lienthong__Deliver *d)
{
    char err[1024];
    int gap = 0, rc = -1;
    lt_db_write_t *w = calloc(d->n_records ? d->n_records : 1, sizeof *w);
    if (!w) {
        lt_error("sink", "stream=%s out of memory for %zu records", self->stream, d->n_records);
        return -1;
    }
    long n = s_writes(self, d, w, &gap, err, sizeof err);
    if (n == 0)
        rc = 0; /* nothing new */
    else if (n > 0 && s_write(self, w, (size_t)n, err, sizeof err) == 0) {
        uint64_t last = ((const Lienthong__Record *)w[n - 1].arg)->seq;
        self->applied_since += last - self->cursor;
        self->cursor = last;
        rc = 0;
    } else if (gap) {
        lt_warn("sink", "stream=%s %s; rolled back, attaching again from %" PRIu64, self->stream,
                err, self->cursor + 1);
        rc = 1;
    } else
        s_db_failed(self, err);
    if (rc == 0)
        s_db_ok(self);
    free(w);
    return rc;
}

/* ---- talking to the gateway ----------------------------------------- */

static int s_attach(lt_sink_t *self, int64_t now, int loud)
{
    Lienthong__SinkAttach a = LIENTHONG__SINK_ATTACH__INIT;
    a.stream = self->stream;
    a.from_seq = self->cursor + 1;
    a.credit = (uint32_t)self->credit;
    a.replace = 1; /* behind the gateway's log tail, take its state (8.2) */
    /* The gateway replaces the table of a cursor on another history than
     * the stream's, or on an unknown one (8.2). A stored history that does
     * not read back as one counts as unknown. */
    uint8_t history[LT_HISTORY_BYTES];
    size_t len = 0;
    a.keeps_history = 1;
    if (self->cursor > 0 && self->history[0] &&
        sodium_hex2bin(history, sizeof history, self->history, strlen(self->history), NULL, &len,
                       NULL) == 0 &&
        len == sizeof history) {
        a.history_id.data = history;
        a.history_id.len = len;
    }
    if (self->replacing) {
        /* The gateway starts any replacement again for the new attach. */
        lt_db_rollback(self->db);
        self->replacing = 0;
    }
    self->last_rx = now;
    self->resync = 1;
    if (lt_adapter_send(&self->conn, LIENTHONG__ENVELOPE__BODY_SINK_ATTACH, &a) != 0) {
        lt_warn("sink", "cannot send SinkAttach to the gateway: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    if (loud)
        lt_info("sink", "attached stream=%s from_seq=%" PRIu64 " credit=%d", self->stream,
                a.from_seq, self->credit);
    else
        lt_debug("sink", "attached again stream=%s from_seq=%" PRIu64, self->stream, a.from_seq);
    return 0;
}

static void s_ack_through(lt_sink_t *self, uint64_t seq)
{
    Lienthong__DeliverAck a = LIENTHONG__DELIVER_ACK__INIT;
    a.stream = self->stream;
    a.through_seq = seq;
    if (lt_adapter_send(&self->conn, LIENTHONG__ENVELOPE__BODY_DELIVER_ACK, &a) != 0)
        lt_warn("sink", "cannot send DeliverAck through %" PRIu64 ": %s (attaching again later)",
                seq, zmq_strerror(zmq_errno()));
}

static void s_ack(lt_sink_t *self)
{
    s_ack_through(self, self->cursor);
}

/* After an error: drop deliveries for a while, then attach again. */
static void s_hold(lt_sink_t *self, int64_t now)
{
    self->hold_until = now + self->backoff_ms;
    self->backoff_ms =
        self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : self->backoff_ms * 2;
}

/* ---- replacement (PROTOCOL.md 8.2) ------------------------------------ */

/* Why the gateway replaces the table, as the sink can tell from its own
 * cursor and the replacement's history `hex` (PROTOCOL.md 8.2): the
 * gateway replaces a cursor on another history than the stream's, on an
 * unknown one (stored before the sink kept one), or older than its
 * retained log; the Deliver does not say which. */
static void s_replace_why(const lt_sink_t *self, const char *hex, char *why, size_t len)
{
    if (self->cursor > 0 && !self->history[0])
        snprintf(why, len,
                 "cursor %" PRIu64 " is on an unknown history, stored before the sink "
                 "kept one",
                 self->cursor);
    else if (self->cursor > 0 && strcmp(self->history, hex) != 0)
        snprintf(why, len, "cursor %" PRIu64 " is on history %s, the stream on %s", self->cursor,
                 self->history, hex[0] ? hex : "none");
    else
        snprintf(why, len, "cursor %" PRIu64 " is older than the gateway's retained log",
                 self->cursor);
}

/* Opens the replacement's transaction and empties the table; hex is the
 * replacement's history. */
static int s_replace_begin(lt_sink_t *self, uint64_t seq, const char *hex, char *err, size_t errlen)
{
    if (self->replacing)
        lt_db_rollback(self->db); /* a replacement started again */
    self->replacing = 0;
    if (lt_db_begin(self->db, 1, err, errlen) != 0)
        return -1;
    if (lt_db_clear(self->db, err, errlen) != 0) {
        lt_db_rollback(self->db);
        return -1;
    }
    char why[LT_DB_HISTORY_HEX * 2 + 96];
    s_replace_why(self, hex, why, sizeof why);
    lt_info("sink", "stream=%s replacing table %s by the gateway's state at seq %" PRIu64 " (%s)",
            self->stream, self->table, seq, why);
    self->replacing = 1;
    self->replace_seq = seq;
    return 0;
}

/* Writes one part's records in the open transaction; commits at the last
 * part with cursor = S and the replacement's history (hex). */
static int s_replace_part(lt_sink_t *self, const Lienthong__Deliver *d, const char *hex, char *err,
                          size_t errlen)
{
    size_t failed = 0;
    lt_db_write_t *w = calloc(d->n_records ? d->n_records : 1, sizeof *w);
    if (!w) {
        lt_err_set(err, errlen, "out of memory for %zu records", d->n_records);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < d->n_records; i++) {
        const Lienthong__Record *r = d->records[i];
        if (!r->key || !r->key[0] || r->deleted || r->seq > d->replace_seq) {
            lt_err_set(err, errlen,
                       "replacement record %" PRIu64 " is not a live record of "
                       "the state at %" PRIu64,
                       r->seq, d->replace_seq);
            rc = -1;
        }
        w[i] = (lt_db_write_t){r->key, 0, r};
    }
    if (rc == 0 && d->n_records > 0)
        rc = lt_db_write(self->db, w, d->n_records, s_fill, self, self->stream,
                         (int64_t)d->replace_seq, &failed, err, errlen);
    if (rc == 0 && d->replace_last)
        rc = lt_db_cursor_store(self->db, self->stream, (int64_t)d->replace_seq, err, errlen) ||
             lt_db_history_store(self->db, self->stream, hex, err, errlen) ||
             lt_db_commit(self->db, err, errlen);
    free(w);
    return rc;
}

static void s_on_replace(lt_sink_t *self, const Lienthong__Deliver *d, int64_t now)
{
    char err[1024], hex[LT_DB_HISTORY_HEX];
    if (!d->replace_first && (!self->replacing || d->replace_seq != self->replace_seq))
        return; /* a part of a replacement given up (or of an earlier attach) */
    self->resync = 0;
    s_history_hex(&d->history_id, hex);
    if ((d->replace_first && s_replace_begin(self, d->replace_seq, hex, err, sizeof err) != 0) ||
        s_replace_part(self, d, hex, err, sizeof err) != 0) {
        if (self->replacing)
            lt_db_rollback(self->db);
        self->replacing = 0;
        s_db_failed(self, err);
        s_hold(self, now);
        return;
    }
    if (d->replace_last) {
        self->replacing = 0;
        self->cursor = d->replace_seq;
        snprintf(self->history, sizeof self->history, "%s", hex);
        lt_info("sink", "stream=%s table %s replaced; cursor=%" PRIu64 " history=%s", self->stream,
                self->table, self->cursor, hex[0] ? hex : "none");
    }
    s_db_ok(self);
    s_ack_through(self, d->replace_seq);
}

/* Records of another history than the cursor's are never applied on it
 * (PROTOCOL.md 8.2): 1, attach again (the gateway replaces the table). A
 * cursor at 0 or on an unknown history takes the Deliver's, stored before
 * its records: the gateway sent them for it. 0, or -1 (database). */
static int s_history_check(lt_sink_t *self, const Lienthong__Deliver *d)
{
    char hex[LT_DB_HISTORY_HEX], err[1024];
    s_history_hex(&d->history_id, hex);
    if (!hex[0] || strcmp(hex, self->history) == 0 || d->n_records == 0)
        return 0;
    if (self->cursor > 0 && self->history[0]) {
        lt_warn("sink",
                "stream=%s a Deliver of history %s, cursor %" PRIu64 " is on %s: "
                "applying nothing, attaching again",
                self->stream, hex, self->cursor, self->history);
        return 1;
    }
    if (lt_db_begin(self->db, 1, err, sizeof err) != 0 ||
        lt_db_history_store(self->db, self->stream, hex, err, sizeof err) != 0 ||
        lt_db_commit(self->db, err, sizeof err) != 0) {
        lt_db_rollback(self->db);
        s_db_failed(self, err);
        return -1;
    }
    lt_info("sink", "stream=%s cursor %" PRIu64 " is on history %s", self->stream, self->cursor,
            hex);
    snprintf(self->history, sizeof self->history, "%s", hex);
    return 0;
}

static void s_on_deliver(lt_sink_t *self, const Lienthong__Deliver *d, int64_t now)
{
    if (!d->stream || strcmp(d->stream, self->stream) != 0) {
        lt_warn("sink", "ignored a Deliver for stream %s", d->stream ? d->stream : "");
        return;
    }
    if (self->hold_until)
        return;
    /* A replacement's state may be empty at S = 0 (a view whose where
     * matches nothing): either flag marks it as one too (PROTOCOL.md 8.2). */
    if (d->replace_seq || d->replace_first || d->replace_last) {
        s_on_replace(self, d, now);
        return;
    }
    if (d->n_records > 0 && d->records[0]->seq > self->cursor + 1 && self->resync) {
        lt_debug("sink", "dropped a Deliver from %" PRIu64 " sent before the last attach",
                 d->records[0]->seq);
        return;
    }
    if (d->n_records > 0 && d->records[0]->seq <= self->cursor + 1 &&
        d->records[d->n_records - 1]->seq > self->cursor)
        self->resync = 0; /* the new attachment's first records */
    uint64_t before = self->cursor;
    int r = s_history_check(self, d);
    if (r == 0)
        r = s_apply(self, d);
    if (r == 1)
        s_attach(self, now, 1);
    else if (r < 0)
        s_hold(self, now);
    else if (self->cursor > before) {
        s_ack(self);
        self->backoff_ms = BACKOFF_MIN_MS;
    }
}

/* A stream refused as not found: the gateway's status tells whether it is
 * one this member may attach to at all (PROTOCOL.md 8.2, 8.3). */
static void s_ask_grant(lt_sink_t *self)
{
    Lienthong__StatusRequest r = LIENTHONG__STATUS_REQUEST__INIT;
    self->ask_grant = 1;
    if (lt_adapter_send(&self->conn, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &r) != 0)
        lt_warn("sink", "cannot ask the gateway's status: %s", zmq_strerror(zmq_errno()));
}

/* When the stream is not granted: one error line per directory version,
 * and attaching again only every LT_GRANTS_RETRY_MS (a newer directory or a
 * subscription added to the gateway may grant it). */
static void s_on_status(lt_sink_t *self, const Lienthong__StatusReply *r, int64_t now)
{
    char then[128];
    if (!self->ask_grant)
        return; /* the one asked when connecting */
    self->ask_grant = 0;
    snprintf(then, sizeof then, "attaching again every %d s until it is granted",
             LT_GRANTS_RETRY_MS / 1000);
    if (lt_grants_on_status(&self->grant, r, LT_GRANTS_SINK, self->stream, "sink", self->path,
                            then) &&
        self->hold_until)
        self->hold_until = now + LT_GRANTS_RETRY_MS;
}

static void s_on_error(lt_sink_t *self, const Lienthong__Error *e, int64_t now)
{
    int not_found = e->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    if (not_found && self->grant.refused)
        lt_debug("sink", "stream=%s still not granted: %s", self->stream,
                 e->message ? e->message : "");
    else
        lt_warn("sink", "gateway error for stream=%s code=%s: %s; attaching again in %d ms",
                self->stream, lt_wire_error_name(e->code), e->message ? e->message : "",
                self->backoff_ms);
    s_hold(self, now);
    if (not_found && self->grant.refused)
        self->hold_until = now + LT_GRANTS_RETRY_MS;
    if (not_found)
        s_ask_grant(self);
}

static void s_handle(lt_sink_t *self, const Lienthong__Envelope *env, int64_t now)
{
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_DELIVER) {
        if (self->grant.refused)
            lt_info("sink", "stream=%s is granted now: delivered", self->stream);
        memset(&self->grant, 0, sizeof self->grant);
        s_on_deliver(self, env->deliver, now);
    } else if (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        s_on_error(self, env->error, now);
    else if (env->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY)
        s_on_status(self, env->status_reply, now);
    else
        lt_warn("sink", "ignored an unexpected %s from the gateway",
                lt_wire_body_name(env->body_case));
}

static void s_report(lt_sink_t *self, int64_t now, int force)
{
    if (now < self->report_at && !force)
        return;
    if (self->applied_since > 0 || force)
        lt_info("sink", "stream=%s cursor=%" PRIu64 " applied=%" PRIu64, self->stream, self->cursor,
                self->applied_since);
    self->applied_since = 0;
    self->report_at = now + REPORT_MS;
}

/* Timers: end of a hold, or silence. */
static void s_timers(lt_sink_t *self, int64_t now)
{
    if (self->hold_until && now >= self->hold_until) {
        self->hold_until = 0;
        s_attach(self, now, 1);
    } else if (!self->hold_until && now - self->last_rx >= SILENCE_MS)
        s_attach(self, now, 0);
}

/* Loads the cursor once the database is reachable (it may be down when the
 * sink starts), retrying with a back-off. 0, or -1 when stopped or on an
 * error that is not the database being down. */
static int s_wait_cursor(lt_sink_t *self)
{
    char err[1024];
    while (!self->have_cursor && !lt_adapter_stopping()) {
        if (s_load_cursor(self, err, sizeof err) == 0) {
            self->have_cursor = 1;
            s_db_ok(self);
            break;
        }
        if (!lt_db_lost(self->db)) {
            lt_error("sink", "cannot start: %s", err);
            return -1;
        }
        if (!self->db_down)
            lt_warn("sink", "stream=%s %s; retrying with a back-off up to %d ms until it is back",
                    self->stream, err, BACKOFF_MAX_MS);
        self->db_down = 1;
        (void)zmq_poll(NULL, 0, self->backoff_ms); /* returns early on a signal */
        self->backoff_ms =
            self->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : self->backoff_ms * 2;
    }
    self->backoff_ms = BACKOFF_MIN_MS;
    return self->have_cursor ? 0 : -1;
}

int lt_sink_run(lt_sink_t *self, int once, uint64_t through)
{
    char err[1024];
    if (lt_adapter_signals() != 0 ||
        lt_adapter_connect(&self->conn, self->socket, err, sizeof err) != 0) {
        lt_error("sink", "cannot start: %s", err);
        return 1;
    }
    if (s_wait_cursor(self) != 0)
        return lt_adapter_stopping() ? 0 : 1;
    lt_info("sink", "started stream=%s table=%s cursor=%" PRIu64 " gateway=%s", self->stream,
            self->table, self->cursor, self->socket);
    int64_t now = lt_clock_mono_ms();
    self->report_at = now + REPORT_MS;
    s_attach(self, now, 1);
    int rc = 0;
    while (!lt_adapter_stopping() && !(once && self->cursor >= through)) {
        Lienthong__Envelope *env = NULL;
        int r = lt_adapter_recv(&self->conn, 1000, &env);
        if (r < 0) {
            lt_error("sink", "gateway socket failed: %s", zmq_strerror(zmq_errno()));
            rc = 1;
            break;
        }
        now = lt_clock_mono_ms();
        if (r > 0) {
            self->last_rx = now;
            s_handle(self, env, now);
        }
        lt_wire_free(&env);
        s_timers(self, now);
        s_report(self, now, 0);
    }
    s_report(self, lt_clock_mono_ms(), 1);
    return rc;
}

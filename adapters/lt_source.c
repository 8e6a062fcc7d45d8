/* lt_source: the source adapter (see lt_source.h and adapters/README.md).
 *
 * The agency database is reached through the database seam (lt_db.h). Its
 * change capture appends the key of every changed row to a change list in
 * the agency's own transaction, so a change is recorded if and only if the
 * agency's write commits, and no application has to be modified (for
 * SQLite: triggers, see lt_db_sqlite.c). We chose this over timestamp
 * columns (which miss deletes and depend on clocks) and over reading the
 * write-ahead log (an internal format). The adapter publishes the CURRENT
 * row of each changed key, so several changes of one key collapse into its
 * latest version and resending after a crash or lost ack is harmless: the
 * gateway treats a source_cursor at or below its durable one as already
 * stored, and applying a row version twice gives the same state.
 *
 * source_cursor is the change id in decimal; the gateway compares it as a
 * number and echoes its durable one in the PublishAck. */
#include "lt_source.h"
#include "lt_clock.h"
#include "lt_adapter.h"
#include "lt_db.h"
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

/* The changes of one batch, as lt_db_read_changes hands them over. */
typedef struct {
    s_change_t *ch;
    size_t n, cap;
} s_batch_t;

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
    lt_db_t *db;
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

/* One change whose current row is being read. */
typedef struct {
    const lt_source_t *self;
    s_change_t *c;
} s_read_t;

static const char *const s_known[] = {"gateway_socket", "dataset", "record_type", "database",
                                      "table", "key_column", "key_field", "columns", "batch",
                                      "poll_ms", "log_level", "log_format", NULL};

/* ---- configuration -------------------------------------------------- */

static int s_strings(lt_source_t *self, const config_t *c, char *err, size_t errlen)
{
    const char *f = self->path;
    if (lt_cfgfile_string(c, f, "gateway_socket", NULL, 1, self->socket, sizeof self->socket, err,
                          errlen) ||
        lt_cfgfile_string(c, f, "dataset", NULL, 0, self->dataset, sizeof self->dataset, err,
                          errlen) ||
        lt_cfgfile_string(c, f, "record_type", NULL, 0, self->record_type, sizeof self->record_type,
                          err, errlen) ||
        lt_cfgfile_string(c, f, "database", NULL, 0, self->database, sizeof self->database, err,
                          errlen) ||
        lt_cfgfile_string(c, f, "table", NULL, 0, self->table, sizeof self->table, err, errlen) ||
        lt_cfgfile_string(c, f, "key_column", NULL, 0, self->key_column, sizeof self->key_column,
                          err, errlen) ||
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
        s_strings(self, &c, err, errlen) || s_numbers(self, &c, err, errlen) ||
        lt_adapter_log_setup(&c, path, "lienthong-source", self->dataset, 1, err, errlen))
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

lt_source_t *lt_source_new(const char *config_path, char *err, size_t errlen)
{
    lt_db_table_t table;
    lt_source_t *self = calloc(1, sizeof *self);
    if (!self) {
        lt_adapter_fmt(err, errlen, "out of memory");
        return NULL;
    }
    self->backoff_ms = BACKOFF_MIN_MS;
    self->max_flight = MAX_FLIGHT;
    if (s_load(self, config_path, err, errlen))
        goto fail;
    lt_rowmap_table(self->map, self->table, &table);
    self->db = lt_db_connect(self->database, self->path, LT_DB_SOURCE, &table, 0, err, errlen);
    if (!self->db)
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
    lt_db_destroy(&self->db);
    lt_adapter_disconnect(&self->conn);
    lt_rowmap_destroy(&self->map);
    free(self);
    *self_p = NULL;
}

int lt_source_install(lt_source_t *self, char *err, size_t errlen)
{
    int created = 0;
    if (lt_db_capture_install(self->db, &created, err, errlen))
        return -1;
    lt_info("source", "installed change tracking on table %s%s", self->table,
            created ? " (new change table, existing rows listed)" : "");
    return 0;
}

static int s_load_cursor(lt_source_t *self, char *err, size_t errlen)
{
    if (lt_db_cursor_load(self->db, self->dataset, &self->cursor, err, errlen))
        return -1;
    self->next = self->cursor;
    return 0;
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
    int64_t last = 0;
    if (lt_db_begin(self->db, 1, err, errlen))
        return -1;
    if (lt_db_last_change(self->db, &last, err, errlen))
        goto fail;
    if (last <= self->cursor) {
        if (lt_db_commit(self->db, err, errlen))
            goto fail;
        return 0;
    }
    if (lt_db_requeue(self->db, self->cursor, last, err, errlen) ||
        lt_db_cursor_store(self->db, self->dataset, last, err, errlen) ||
        lt_db_commit(self->db, err, errlen))
        goto fail;
    lt_info("source", "changes %" PRId64 "..%" PRId64 " queued again under new change ids "
            "(the previous run may have left publishes unacknowledged)", self->cursor + 1, last);
    self->cursor = self->next = last;
    return 0;
fail:
    lt_db_rollback(self->db);
    return -1;
}

/* The database setting is resolved against the configuration file, as
 * lt_db_connect does. */
static int s_check_db(lt_check_t *r, const lt_source_t *self, int must_exist)
{
    char path[4096];
    if (lt_file_resolve(self->path, self->database, path, sizeof path) != 0) {
        lt_check_error(r, "database", NULL, "database path too long");
        return -1;
    }
    return lt_adapter_check_db(r, path, must_exist);
}

int lt_source_check(const char *config_path, FILE *out)
{
    lt_check_t r = {.out = out};
    char err[1024];
    int exists = 0;
    lt_source_t *self = calloc(1, sizeof *self);
    if (!self || s_load(self, config_path, err, sizeof err) != 0) {
        lt_check_error(&r, "configuration", NULL, "%s", self ? err : "out of memory");
        goto out;
    }
    lt_check_ok(&r, "configuration", "dataset %s from table %s", self->dataset, self->table);
    if (s_check_db(&r, self, 1) != 0)
        goto socket;
    lt_db_table_t table;
    lt_rowmap_table(self->map, self->table, &table);
    self->db = lt_db_connect(self->database, self->path, LT_DB_SOURCE, &table, 0, err, sizeof err);
    if (!self->db || lt_db_capture_present(self->db, &exists, err, sizeof err))
        lt_check_error(&r, "table", "the table and every mapped column must exist", "%s", err);
    else if (!exists)
        lt_check_error(&r, "change tracking", "run once: lienthong source --config FILE --install",
                       "%s has no change table lt_changes", lt_db_name(self->db));
    else
        lt_check_ok(&r, "table", "%s, change tracking installed", self->table);
socket:
    lt_adapter_check_gateway(&r, self->socket);
out:
    lt_source_destroy(&self);
    return lt_check_summary(&r, config_path, "source adapter");
}

static int s_start(lt_source_t *self, char *err, size_t errlen)
{
    int exists = 0;
    if (lt_db_capture_present(self->db, &exists, err, errlen))
        return -1;
    if (!exists) {
        lt_adapter_fmt(err, errlen,
                       "%s has no change table lt_changes: run 'lienthong source --config "
                       "%s --install' once",
                       lt_db_name(self->db), self->path);
        return -1;
    }
    if (s_load_cursor(self, err, errlen) || s_recover(self, err, errlen) ||
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

/* Packs the current row of change c (lt_db_row_fn). */
static int s_on_row(void *arg, const lt_db_row_t *row, char *err, size_t errlen)
{
    s_read_t *r = arg;
    char why[256];
    if (lt_rowmap_pack_row(r->self->map, row, &r->c->payload, &r->c->len, why, sizeof why) == 0)
        return 0;
    lt_adapter_fmt(err, errlen, "change %" PRId64 " (table %s): %s", r->c->id, r->self->table, why);
    return -1;
}

/* Reads the current row for one change: payload, or a tombstone. */
static int s_read_row(lt_source_t *self, s_change_t *c, char *err, size_t errlen)
{
    s_read_t r = {self, c};
    int found = lt_db_read_row(self->db, c->key, s_on_row, &r, err, errlen);
    c->deleted = found == 0;
    return found < 0 ? -1 : 0;
}

/* Takes one change into the batch (lt_db_change_fn). */
static int s_on_change(void *arg, int64_t id, const char *key, char *err, size_t errlen)
{
    s_batch_t *b = arg;
    if (b->n >= b->cap) {
        lt_adapter_fmt(err, errlen, "the database returned more than %zu changes", b->cap);
        return -1;
    }
    s_change_t *c = &b->ch[b->n];
    c->id = id;
    if (!(c->key = strdup(key))) {
        lt_adapter_fmt(err, errlen, "out of memory");
        return -1;
    }
    b->n++;
    return 0;
}

/* Reads up to `limit` changes after `self->next` (latest per key) and
 * their current rows. Call inside a read transaction. */
static int s_collect(lt_source_t *self, s_change_t *ch, size_t *n, char *err, size_t errlen)
{
    s_batch_t b = {ch, 0, (size_t)self->limit};
    long got =
        lt_db_read_changes(self->db, self->next, (size_t)self->limit, s_on_change, &b, err, errlen);
    *n = b.n;
    if (got < 0)
        return -1;
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
    if (lt_db_begin(self->db, 0, err, errlen) == 0) {
        rc = s_collect(self, ch, &n, err, errlen);
        char ignore[64];
        if (lt_db_commit(self->db, ignore, sizeof ignore) != 0)
            lt_db_rollback(self->db); /* a read: nothing to lose */
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
    char err[512];
    if (lt_db_begin(self->db, 1, err, sizeof err) == 0) {
        if (lt_db_requeue(self->db, fl->first_id - 1, fl->last_id, err, sizeof err) == 0 &&
            lt_db_commit(self->db, err, sizeof err) == 0) {
            lt_info("source",
                    "changes %" PRId64 "..%" PRId64 " queued again under new change ids "
                    "(a later publish may already be stored)",
                    fl->first_id, fl->last_id);
            return 0;
        }
        lt_db_rollback(self->db);
    }
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
    if (lt_adapter_send_frame(&self->conn, fl->frame, fl->frame_len) != 0) {
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
    if (lt_db_begin(self->db, 1, err, sizeof err))
        goto fail;
    /* Storing the cursor also prunes the changes every dataset passed. */
    if (lt_db_cursor_store(self->db, self->dataset, last, err, sizeof err) ||
        lt_db_commit(self->db, err, sizeof err))
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
rollback:
    lt_db_rollback(self->db);
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

/* lt_source: the source adapter (see lt_source.h and adapters/README.md).
 *
 * The agency database is reached through the database seam (lt_db.h). Its
 * change capture appends the key of every changed row to a change list in
 * the agency's own transaction, so a change is recorded if and only if the
 * agency's write commits, and no application has to be modified (SQLite:
 * triggers, see lt_db_sqlite.c; PostgreSQL: triggers and NOTIFY, numbered
 * in commit order, see lt_db_pg.c). We chose this over timestamp columns
 * (which miss deletes and depend on clocks) and over reading the
 * write-ahead log (an internal format, or for PostgreSQL logical decoding,
 * which needs a replication role and a slot that holds WAL while the
 * adapter is down). The adapter publishes the CURRENT row of each changed
 * key, so several changes of one key collapse into its latest version and
 * resending after a crash or lost ack is harmless: the gateway treats a
 * source_cursor at or below its durable one as already stored, and
 * applying a row version twice gives the same state.
 *
 * One process publishes several tables as several datasets: each dataset is
 * a `feed` with its own database connection, cursor and pipeline of
 * Publish messages; they share the gateway connection (acks are matched by
 * request id) and one poll, which also waits on each database's
 * notification descriptor (PostgreSQL), so a change is published as soon as
 * it is committed rather than at the next poll.
 *
 * source_cursor is the change id in decimal; the gateway compares it as a
 * number and echoes its durable one in the PublishAck. */
#include "lt_source.h"
#include "lt_err.h"
#include "lt_clock.h"
#include "lt_adapter.h"
#include "lt_reconcile.h"
#include "lt_db.h"
#include "lt_file.h"
#include "lt_grants.h"
#include "lt_log.h"
#include "lt_refcheck.h"
#include "lt_retrylog.h"
#include "lt_rules.h"
#include "lt_rowmap.h"
#include "lt_schema.h"
#include "lt_limits.h"
#include "lt_valid.h"
#include "lt_wire.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_FLIGHT      4     /* Publish messages awaiting their ack, per dataset */
#define MAX_FEEDS       64    /* datasets per source */
#define ACK_TIMEOUT_MS  10000 /* resend when the head is not acked by then */
#define STOP_WAIT_MS    10000 /* bounded wait for acks after SIGTERM */
#define STATUS_RETRY_MS 2000  /* ask the gateway's status again */
#define UNLISTED_ASKS   5     /* statuses without a dataset before it counts as absent */
#define BACKOFF_MIN_MS  100
#define BACKOFF_MAX_MS  5000
#define REPORT_MS       10000 /* progress line interval */
#define CURSOR_LEN      LT_CURSOR_TEXT_MAX
#define SYNC_CHUNK      50000 /* changes numbered at once (PostgreSQL) */
#define REFUSALS_LOGGED 20    /* refusals logged one by one per report interval */
/* Changes refused alone as malformed in a row, with no record acknowledged
 * between, that hold a dataset (s_breaker_holds). */
#define BREAKER_K 3

/* One change read from the database, before packing. */
typedef struct {
    int64_t id;
    char *key;
    uint8_t *payload;
    size_t len;
    int deleted;
    char *why; /* the row cannot be mapped (a mapping reject): why; else NULL */
} s_change_t;

/* What the ack needs of one change in a frame (s_rejects), kept when it was
 * packed so that the frame need not be read back: its source cursor (the
 * frame's text, formatted once), whether it is a deletion, and where its
 * key starts in the flight's `keys`. A Publish of one change refused alone
 * finds its key there too (s_refused_alone). */
typedef struct {
    char cursor[CURSOR_LEN];
    uint32_t key_at;
    int deleted;
} s_sent_t;

typedef struct {
    uint64_t request_id;
    int64_t first_id, last_id; /* change ids covered */
    int64_t sent_last_id;      /* the last one in the frame (0: none) */
    size_t n_changes;
    size_t n_records; /* changes carrying a record (not deletions) */
    uint8_t *frame;   /* the packed Envelope, resent as is; NULL when nothing to send */
    size_t frame_len;
    s_sent_t *sent; /* the n_changes changes in the frame, in its order */
    char *keys;     /* their keys, each ended by a NUL */
    int64_t sent_ms;
    int acked;                  /* stored by the gateway, or queued again */
    int failed;                 /* waiting to be sent, or queued, again (retry_at) */
    int requeue;                /* a later Publish exists: queue again, never resend */
    int requeued;               /* done because its keys were queued again */
    Lienthong__PublishAck *ack; /* the ack, kept when it lists refusals */
    s_change_t *unmapped;       /* changes left out: mapping rejects (id, key, why) */
    size_t n_unmapped;
} s_flight_t;

typedef struct lt_source_feed s_feed_t;

/* The changes of one batch, as lt_db_read_changes hands them over. */
typedef struct {
    const s_feed_t *feed;
    s_change_t *ch;
    size_t n, cap;
} s_batch_t;

/* One dataset: a table, its mapping, connection, cursor and pipeline. */
struct lt_source_feed {
    lt_source_t *src;
    char dataset[256];
    char record_type[256];
    char table[256];
    char key_column[256];
    char key_field[256];
    int limit;         /* changes per Publish now (halved if a frame is too big) */
    int narrow;        /* changes per Publish while a malformed one is looked for (0: limit) */
    int64_t narrow_to; /* ... until the changes up to this id are read again */
    lt_rowmap_t *map;
    lt_db_t *db;
    int started;         /* cursor loaded, epoch set */
    int64_t cursor;      /* last acknowledged change id, durable */
    int64_t shift;       /* added to change ids to make source cursors (epochs) */
    int64_t acked_shift; /* the shift `cursor` was acknowledged under (stored) */
    int shift_unsaved;   /* shift is not stored yet: store before the first Publish */
    int64_t next;        /* last change id put into a Publish */
    int short_read;      /* the last read found fewer changes than asked */
    int reread;          /* a refused Publish is read again at read_at (not sooner) */
    s_flight_t flights[MAX_FLIGHT];
    size_t n_flight;
    size_t max_flight; /* MAX_FLIGHT, or 1 after a failure until an ack */
    int backoff_ms;
    int64_t retry_at; /* resend failed flights then (0: none) */
    int64_t read_at;  /* earliest next read of lt_changes */
    int db_down;      /* "unavailable" was logged; "again" not yet */
    int unlisted;     /* statuses that did not list it, at start (s_unlisted) */
    uint64_t acked_total, acked_since, requeued;
    lt_refcheck_t *refs; /* reference checks, or NULL when none */
    uint64_t ref_failed; /* reference checks failed */
    int64_t rejects;     /* rows in lt_rejects for the dataset */
    uint64_t refused;    /* changes the owner's rules refused */
    uint64_t unmapped;   /* changes the mapping could not convert */
    unsigned logged;     /* refusals logged one by one this report interval */
    int ask_grant;       /* refused as not found: the next status says why */
    int accepted;        /* a Publish holding a record was acknowledged this run */
    int alone_run;       /* malformed-alone rejects made since that ack (s_breaker_holds) */
    int held;            /* the breaker holds the dataset; its error line was logged */
    char held_why[640];  /* why it is held (s_hold_type); "" for the breaker */
    int type_told;       /* held by the status: it gives another record type (s_on_types) */
    lt_grants_state_t grant;
    lt_retrylog_run_t refusing; /* refusals resent as they are, since the last ack */
};

struct lt_source_t {
    char path[PATH_MAX];
    char socket[PATH_MAX];
    char database[PATH_MAX];
    int batch;
    int poll_ms;
    int resync;
    s_feed_t *feeds;
    size_t n_feeds;
    lt_adapter_conn_t conn;
    int have_status; /* every dataset started with the gateway's cursors */
    uint64_t req_base, req_count;
    int64_t report_at;
    char directory_file[PATH_MAX]; /* for reference checks; "" none */
    char ref_purpose[128];
    char **stale; /* datasets whose stale cursor row was named this run */
    size_t n_stale;
    lt_retrylog_t *retrylog; /* refusals resent as they are, said once a minute */
};

static const char *const s_known[] = {"gateway_socket",
                                      "database",
                                      "batch",
                                      "poll_ms",
                                      "datasets",
                                      "dataset",
                                      "record_type",
                                      "table",
                                      "key_column",
                                      "key_field",
                                      "columns",
                                      "log_level",
                                      "log_format",
                                      "directory_file",
                                      "reference_purpose",
                                      NULL};
static const char *const s_known_feed[] = {"dataset",   "record_type", "table", "key_column",
                                           "key_field", "columns",     NULL};

/* ---- configuration -------------------------------------------------- */

/* A string setting of a dataset: `prefix` is "" for the single-dataset form
 * or "datasets.[i]." for an element of the list. */
static int s_feed_string(const config_t *c, const char *file, const char *prefix, const char *name,
                         char *out, size_t cap, char *err, size_t errlen)
{
    char path[64];
    snprintf(path, sizeof path, "%s%s", prefix, name);
    return lt_cfgfile_string(c, file, path, NULL, 0, out, cap, err, errlen);
}

static int s_feed_load(s_feed_t *f, const config_t *c, const char *prefix, char *err, size_t errlen)
{
    const char *p = f->src->path;
    if (s_feed_string(c, p, prefix, "dataset", f->dataset, sizeof f->dataset, err, errlen) ||
        s_feed_string(c, p, prefix, "record_type", f->record_type, sizeof f->record_type, err,
                      errlen) ||
        s_feed_string(c, p, prefix, "table", f->table, sizeof f->table, err, errlen) ||
        s_feed_string(c, p, prefix, "key_column", f->key_column, sizeof f->key_column, err,
                      errlen) ||
        s_feed_string(c, p, prefix, "key_field", f->key_field, sizeof f->key_field, err, errlen))
        return -1;
    char path[64];
    snprintf(path, sizeof path, "%srecord_type", prefix);
    const ProtobufCMessageDescriptor *desc = lt_schema_find(f->record_type);
    if (!desc)
        return lt_cfgfile_err(config_lookup(c, path), p, err, errlen,
                              "unknown record type '%s' (e.g. \"lienthong.records.Population\")",
                              f->record_type);
    snprintf(path, sizeof path, "%scolumns", prefix);
    const config_setting_t *cols = config_lookup(c, path);
    if (!cols)
        return lt_cfgfile_err(prefix[0] ? config_lookup(c, "datasets") : config_root_setting(c), p,
                              err, errlen,
                              "missing required group 'columns = { field = \"column\"; ... };'");
    f->map = lt_rowmap_new(desc, cols, p, f->key_column, f->key_field, err, errlen);
    f->limit = f->src->batch;
    f->max_flight = MAX_FLIGHT;
    f->backoff_ms = BACKOFF_MIN_MS;
    return f->map ? 0 : -1;
}

/* Either the single-dataset settings at the top, or `datasets = ( {...},
 * ... )`, never both. Two datasets may not share a name. */
static int s_feeds_load(lt_source_t *self, const config_t *c, char *err, size_t errlen)
{
    const config_setting_t *list = config_lookup(c, "datasets");
    size_t n = list ? (size_t)config_setting_length(list) : 1;
    if (list && (!config_setting_is_list(list) || n == 0 || n > MAX_FEEDS))
        return lt_cfgfile_err(list, self->path, err, errlen,
                              "'datasets' must be a list of 1 to %d groups: datasets = ( { "
                              "dataset = \"...\"; table = \"...\"; ... }, ... );",
                              MAX_FEEDS);
    for (int k = 0; list && s_known_feed[k]; k++)
        if (config_lookup(c, s_known_feed[k]))
            return lt_cfgfile_err(config_lookup(c, s_known_feed[k]), self->path, err, errlen,
                                  "'%s' belongs inside an element of 'datasets' when "
                                  "'datasets' is given",
                                  s_known_feed[k]);
    if (!(self->feeds = calloc(n, sizeof *self->feeds)))
        return lt_cfgfile_err(NULL, self->path, err, errlen, "out of memory");
    for (size_t i = 0; i < n; i++) {
        s_feed_t *f = &self->feeds[self->n_feeds++];
        f->src = self;
        char prefix[48] = "";
        const config_setting_t *g = list ? config_setting_get_elem(list, (unsigned)i) : NULL;
        if (g && !config_setting_is_group(g))
            return lt_cfgfile_err(g, self->path, err, errlen,
                                  "each element of 'datasets' must be a group { ... }");
        if (g && lt_cfgfile_unknown_in(g, self->path, s_known_feed, err, errlen))
            return -1;
        if (g)
            snprintf(prefix, sizeof prefix, "datasets.[%zu].", i);
        if (s_feed_load(f, c, prefix, err, errlen))
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(self->feeds[j].dataset, f->dataset) == 0)
                return lt_cfgfile_err(g, self->path, err, errlen, "dataset '%s' is listed twice",
                                      f->dataset);
    }
    return 0;
}

static int s_settings(lt_source_t *self, const config_t *c, char *err, size_t errlen)
{
    const char *f = self->path;
    long long v;
    if (lt_cfgfile_string(c, f, "gateway_socket", NULL, 1, self->socket, sizeof self->socket, err,
                          errlen) ||
        lt_cfgfile_string(c, f, "database", NULL, 0, self->database, sizeof self->database, err,
                          errlen) ||
        lt_cfgfile_int(c, f, "batch", 1000, 1, 100000, &v, err, errlen))
        return -1;
    self->batch = (int)v;
    if (lt_cfgfile_int(c, f, "poll_ms", 100, 1, 60000, &v, err, errlen) ||
        (config_lookup(c, "directory_file") &&
         lt_cfgfile_string(c, f, "directory_file", NULL, 1, self->directory_file,
                           sizeof self->directory_file, err, errlen)) ||
        lt_cfgfile_string(c, f, "reference_purpose", "DATA-QUALITY", 0, self->ref_purpose,
                          sizeof self->ref_purpose, err, errlen))
        return -1;
    self->poll_ms = (int)v;
    return 0;
}

static int s_load(lt_source_t *self, const char *path, char *err, size_t errlen)
{
    config_t c;
    config_init(&c);
    snprintf(self->path, sizeof self->path, "%s", path);
    int rc = lt_cfgfile_read(&c, path, err, errlen) ||
                     lt_cfgfile_unknown(&c, path, s_known, err, errlen) ||
                     s_settings(self, &c, err, errlen) || s_feeds_load(self, &c, err, errlen)
                 ? -1
                 : 0;
    /* Lines are tagged with the member (the owner of every dataset a source
     * publishes) and, for a single dataset, with it; with several, each
     * line about one names it itself ("dataset=..."). */
    if (rc == 0 &&
        lt_adapter_log_setup(&c, path, "lienthong-source", self->feeds[0].dataset, 1, err, errlen))
        rc = -1;
    if (rc == 0 && self->n_feeds > 1)
        lt_log_set_dataset(NULL);
    lt_cfgfile_wipe(&c, "database"); /* it may hold a password */
    config_destroy(&c);
    return rc;
}

/* ---- construction ------------------------------------------------------ */

static void s_on_ref(void *arg, const lt_refcheck_result_t *r, size_t n);

/* The dataset's record_type and key_field against its entry in the
 * directory file (r): a source publishing another record type, or keying
 * it by another field, has every row refused by the owner's gateway as
 * malformed (PROTOCOL.md 8.1), a configuration fault that must not reach
 * the rows. Without `directory_file` the gateway's status tells the record
 * type, when the gateway is recent enough (PROTOCOL.md 8.3, s_on_types),
 * but not the key field. 0, or -1 with err naming both. */
static int s_matches_directory(const s_feed_t *f, const lt_refcheck_t *r, char *err, size_t errlen)
{
    const struct {
        const char *setting, *ours, *what, *theirs, *fix;
    } v[] = {{"record_type", f->record_type, "record type", lt_refcheck_record_type(r),
              "and map 'columns' to its fields"},
             {"key_field", f->key_field, "key field", lt_refcheck_key_field(r),
              "and map it to key_column"}};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (strcmp(v[i].ours, v[i].theirs) != 0) {
            lt_err_set(err, errlen,
                       "%s: dataset '%s' has %s '%s', but the directory (directory_file '%s') "
                       "gives it %s '%s': the owner's gateway would refuse every row as "
                       "malformed; set %s to '%s' %s",
                       f->src->path, f->dataset, v[i].setting, v[i].ours, f->src->directory_file,
                       v[i].what, v[i].theirs, v[i].setting, v[i].theirs, v[i].fix);
            return -1;
        }
    return 0;
}

lt_source_t *lt_source_new(const char *config_path, char *err, size_t errlen)
{
    lt_source_t *self = calloc(1, sizeof *self);
    if (!self) {
        lt_err_set(err, errlen, "out of memory");
        return NULL;
    }
    if (s_load(self, config_path, err, errlen))
        goto fail;
    if (!(self->retrylog = lt_retrylog_new(0, self->n_feeds))) {
        lt_err_set(err, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < self->n_feeds; i++) {
        s_feed_t *f = &self->feeds[i];
        lt_db_table_t table;
        lt_rowmap_table(f->map, f->table, &table);
        f->db = lt_db_connect(self->database, self->path, LT_DB_SOURCE, &table, 0, err, errlen);
        if (!f->db)
            goto fail;
        if (self->directory_file[0] &&
            (!(f->refs = lt_refcheck_new(self->directory_file, f->dataset, self->ref_purpose,
                                         s_on_ref, f, err, errlen)) ||
             s_matches_directory(f, f->refs, err, errlen) != 0))
            goto fail;
        if (f->refs && lt_refcheck_rules(f->refs) == 0)
            lt_refcheck_destroy(&f->refs);
    }
    return self;
fail:
    lt_source_destroy(&self);
    return NULL;
}

static void s_changes_free(s_change_t *ch, size_t n);

static void s_flight_free(s_flight_t *fl)
{
    free(fl->frame);
    free(fl->sent);
    free(fl->keys);
    s_changes_free(fl->unmapped, fl->n_unmapped);
    if (fl->ack)
        lienthong__publish_ack__free_unpacked(fl->ack, NULL);
    memset(fl, 0, sizeof *fl);
}

void lt_source_destroy(lt_source_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_source_t *self = *self_p;
    for (size_t i = 0; i < self->n_feeds; i++) {
        s_feed_t *f = &self->feeds[i];
        for (size_t k = 0; k < f->n_flight; k++)
            s_flight_free(&f->flights[k]);
        lt_db_destroy(&f->db);
        lt_rowmap_destroy(&f->map);
        lt_refcheck_destroy(&f->refs);
    }
    free(self->feeds);
    for (size_t i = 0; i < self->n_stale; i++)
        free(self->stale[i]);
    free(self->stale);
    lt_adapter_disconnect(&self->conn);
    lt_retrylog_destroy(&self->retrylog);
    sodium_memzero(self->database, sizeof self->database); /* it may hold a password */
    free(self);
    *self_p = NULL;
}

void lt_source_set_resync(lt_source_t *self, int resync)
{
    self->resync = resync;
}

/* ---- the cursor table: a dataset new on a tracked table, one gone ------ *
 * A table's changes are pruned below the lowest cursor of its datasets
 * (lt_db_cursor_store). So a dataset added to a table that another dataset
 * already reads finds the changes before that one's cursor gone: it starts
 * with the whole table listed again. And a dataset removed from the
 * configuration keeps its row, which holds every later change of the table
 * back from pruning: it is named once per run (a dataset started again after
 * its database came back does not name it again) and in --check, with the
 * command that lets it go (lt_source_forget). A row is not deleted by
 * itself: two sources may share a database, each with datasets of its own. */

typedef struct {
    const s_feed_t *f;
    int own;           /* the dataset has a row */
    char ahead[256];   /* a dataset of the same table that has passed changes */
    lt_check_t *check; /* --check: stale rows are reported here, else logged */
} s_scan_t;

static int s_configured(const lt_source_t *src, const char *dataset)
{
    for (size_t i = 0; i < src->n_feeds; i++)
        if (strcmp(src->feeds[i].dataset, dataset) == 0)
            return 1;
    return 0;
}

/* The first dataset of its table in the configuration speaks for the
 * table, so that a row gone stale is named once. */
static int s_first_of_table(const s_feed_t *f)
{
    for (const s_feed_t *g = f->src->feeds; g < f; g++)
        if (strcmp(g->table, f->table) == 0)
            return 0;
    return 1;
}

/* 1 the first time this run the stale row of dataset is to be named
 * (noted, when memory allows, so that it is not named again), else 0. */
static int s_stale_first(lt_source_t *src, const char *dataset)
{
    for (size_t i = 0; i < src->n_stale; i++)
        if (strcmp(src->stale[i], dataset) == 0)
            return 0;
    char **grown = realloc(src->stale, (src->n_stale + 1) * sizeof *grown);
    if (grown) {
        src->stale = grown;
        if ((grown[src->n_stale] = strdup(dataset)))
            src->n_stale++;
    }
    return 1;
}

static void s_stale(s_scan_t *sc, const lt_db_cursor_row_t *r)
{
    const s_feed_t *f = sc->f;
    if (!sc->check && !s_stale_first(f->src, r->dataset))
        return;
    char fix[PATH_MAX + 300];
    snprintf(fix, sizeof fix, "if it was removed: lienthong source --config %s --forget %s",
             f->src->path, r->dataset);
    if (sc->check)
        lt_check_warn(sc->check, "cursors", fix,
                      "dataset %s is not in this configuration, and its cursor (change %" PRId64
                      ") keeps every later change of table %s from being pruned",
                      r->dataset, r->change_id, f->table);
    else
        lt_warn("source",
                "dataset=%s is not in this configuration, and its cursor (change %" PRId64
                ") keeps every later change of table %s in lt_changes; %s",
                r->dataset, r->change_id, f->table, fix);
}

static int s_scan_row(void *arg, const lt_db_cursor_row_t *r)
{
    s_scan_t *sc = arg;
    const s_feed_t *f = sc->f;
    if (strcmp(r->dataset, f->dataset) == 0) {
        sc->own = 1;
        return 0;
    }
    if (strcmp(r->table, f->table) != 0)
        return 0;
    if (!s_configured(f->src, r->dataset) && s_first_of_table(f))
        s_stale(sc, r);
    if (r->change_id > 0 && !sc->ahead[0])
        snprintf(sc->ahead, sizeof sc->ahead, "%s", r->dataset);
    return 0;
}

static int s_scan(s_feed_t *f, s_scan_t *sc, lt_check_t *check, char *err, size_t errlen)
{
    memset(sc, 0, sizeof *sc);
    sc->f = f;
    sc->check = check;
    return lt_db_cursor_list(f->db, s_scan_row, sc, err, errlen);
}

/* A dataset without a cursor row, on a table whose changes another
 * dataset has passed (and so may have pruned). */
static int s_new_on_tracked(s_feed_t *f, int *relist, char *err, size_t errlen)
{
    s_scan_t sc;
    if (s_scan(f, &sc, NULL, err, errlen))
        return -1;
    if (sc.own || !sc.ahead[0])
        return 0;
    lt_info("source",
            "dataset=%s is new on table %s, whose changes dataset %s has already read and "
            "may have pruned: every row of the table is listed again, so that it gets the "
            "rows already there (the table's other datasets publish them again too)",
            f->dataset, f->table, sc.ahead);
    *relist = 1;
    return 0;
}

int lt_source_install(lt_source_t *self, char *err, size_t errlen)
{
    for (size_t i = 0; i < self->n_feeds; i++) {
        const s_feed_t *f = &self->feeds[i];
        int created = 0;
        if (lt_db_capture_install(f->db, &created, err, errlen))
            return -1;
        lt_info("source", "installed change tracking on table %s%s", f->table,
                created ? " (new, existing rows listed)" : "");
    }
    return 0;
}

/* The database setting is resolved against the configuration file, as
 * lt_db_connect does. A PostgreSQL connection string is checked by
 * connecting, not as a file. */
static int s_check_db(lt_check_t *r, const lt_source_t *self)
{
    char path[4096];
    if (lt_db_is_file(self->database) != 1)
        return 0;
    if (lt_file_resolve(self->path, self->database, path, sizeof path) != 0) {
        lt_check_error(r, "database", NULL, "database path too long");
        return -1;
    }
    return lt_adapter_check_db(r, path, 1);
}

#define S_TABLE_HINT "the table and every mapped column must exist"

/* What the source would create or add in the database when it starts
 * (LT_DB_CHECK changes nothing), told once: it is the same for every
 * dataset. */
static void s_check_would(lt_check_t *r, int would)
{
    if (would & LT_DB_WOULD_CURSOR)
        lt_check_ok(r, "cursor table", "lt_source_cursor would be created when the source starts");
    else if (would & LT_DB_WOULD_COLUMN)
        lt_check_ok(r, "cursor table",
                    "lt_source_cursor would be given its missing columns when the source starts");
    if (would & LT_DB_WOULD_REJECTS)
        lt_check_ok(r, "rejects table", "lt_rejects would be created when the source starts");
    if (would & LT_DB_WOULD_CHANGES)
        lt_check_ok(r, "change table",
                    "lt_changes would be given its table_name column when the source starts");
}

/* One dataset's table and change capture. The check changes nothing in
 * the database (LT_DB_CHECK). */
static void s_check_feed(lt_check_t *r, lt_source_t *self, s_feed_t *f)
{
    char err[1024];
    int exists = 0;
    lt_db_table_t table;
    lt_rowmap_table(f->map, f->table, &table);
    f->db = lt_db_connect(self->database, self->path, LT_DB_SOURCE, &table, LT_DB_CHECK, err,
                          sizeof err);
    int would = f->db ? lt_db_would(f->db) : 0;
    if (!f->db || lt_db_capture_present(f->db, &exists, err, sizeof err))
        lt_check_error(r, "table", lt_adapter_db_hint(f->db, err, S_TABLE_HINT), "%s: %s", f->table,
                       err);
    else if (!exists)
        lt_check_error(r, "change tracking", "run once: lienthong source --config FILE --install",
                       "%s has no change capture for table %s", lt_db_name(f->db), f->table);
    else {
        lt_check_ok(r, "table", "%s (dataset %s), change tracking installed", f->table, f->dataset);
        /* A cursor table still to be created or migrated holds no row to
         * tell, or not in the form the scan reads. */
        s_scan_t sc;
        if (!(would & (LT_DB_WOULD_CURSOR | LT_DB_WOULD_COLUMN)) &&
            s_scan(f, &sc, r, err, sizeof err))
            lt_check_error(r, "cursors", NULL, "%s", err);
    }
    if (f->db && f == self->feeds)
        s_check_would(r, would);
}

/* With directory_file: the dataset is in it, with the record type and key
 * field configured, and its reference rules can be read, as at start. */
static void s_check_directory(lt_check_t *r, const lt_source_t *self, const s_feed_t *f)
{
    char err[2048];
    lt_refcheck_t *rc = lt_refcheck_new(self->directory_file, f->dataset, self->ref_purpose, NULL,
                                        NULL, err, sizeof err);
    if (!rc)
        lt_check_error(r, "directory",
                       "directory_file must be the signed directory the gateway "
                       "runs, listing the dataset",
                       "%s", err);
    else if (s_matches_directory(f, rc, err, sizeof err) != 0)
        lt_check_error(r, "directory", NULL, "%s", err);
    else
        lt_check_ok(r, "directory", "dataset %s is a %s keyed by %s, as configured", f->dataset,
                    f->record_type, f->key_field);
    lt_refcheck_destroy(&rc);
}

/* Every dataset against what the gateway's directory lets this member
 * publish, and its record_type against the one the directory gives it:
 * a misspelt dataset, or another type, would be refused for ever
 * (PROTOCOL.md 8.1, 8.3). */
static void s_check_grants(lt_check_t *r, const lt_source_t *self)
{
    const char *names[MAX_FEEDS], *types[MAX_FEEDS];
    for (size_t i = 0; i < self->n_feeds; i++) {
        names[i] = self->feeds[i].dataset;
        types[i] = self->feeds[i].record_type;
    }
    lt_grants_check(r, self->socket, self->path, LT_GRANTS_SOURCE, names, types, self->n_feeds);
}

int lt_source_check(const char *config_path, FILE *out)
{
    lt_check_t r = {.out = out};
    char err[1024];
    lt_source_t *self = calloc(1, sizeof *self);
    if (!self || s_load(self, config_path, err, sizeof err) != 0) {
        lt_check_error(&r, "configuration", NULL, "%s", self ? err : "out of memory");
        goto out;
    }
    lt_check_ok(&r, "configuration", "%zu dataset(s), first %s from table %s", self->n_feeds,
                self->feeds[0].dataset, self->feeds[0].table);
    for (size_t i = 0; self->directory_file[0] && i < self->n_feeds; i++)
        s_check_directory(&r, self, &self->feeds[i]);
    if (s_check_db(&r, self) == 0)
        for (size_t i = 0; i < self->n_feeds; i++)
            s_check_feed(&r, self, &self->feeds[i]);
    if (lt_adapter_check_gateway(&r, self->socket) == 0)
        s_check_grants(&r, self);
out:
    lt_source_destroy(&self);
    return lt_check_summary(&r, config_path, "source adapter");
}

/* The table of a dataset's cursor row (lt_source_forget). */
typedef struct {
    const char *dataset;
    char table[256];
} s_forgot_t;

static int s_forgot_row(void *arg, const lt_db_cursor_row_t *r)
{
    s_forgot_t *fg = arg;
    if (strcmp(r->dataset, fg->dataset) == 0)
        snprintf(fg->table, sizeof fg->table, "%s", r->table);
    return 0;
}

static int s_table_configured(const lt_source_t *src, const char *table)
{
    for (size_t i = 0; i < src->n_feeds; i++)
        if (strcmp(src->feeds[i].table, table) == 0)
            return 1;
    return 0;
}

/* What --forget did, on `out` and in the log. */
static void s_forgot(const lt_source_t *self, const char *dataset, const s_forgot_t *fg,
                     int dropped, FILE *out)
{
    lt_db_t *db = self->feeds[0].db;
    fprintf(out, "forgot dataset %s\n", dataset);
    if (dropped) {
        fprintf(out,
                "no dataset reads table %s any more: its change capture is removed (its "
                "triggers and its changes); a dataset of the table configured later needs "
                "--install again, which lists every row\n",
                fg->table);
        lt_info("source",
                "dataset=%s forgotten: its cursor and its rejects deleted from %s; it was the "
                "last dataset of table %s, whose change capture is removed",
                dataset, lt_db_name(db), fg->table);
    } else {
        if (!fg->table[0])
            fprintf(out, "its cursor row named no table (an older version wrote it): the "
                         "change capture of its table stays, even if no dataset reads that "
                         "table any more\n");
        lt_info("source",
                "dataset=%s forgotten: its cursor and its rejects deleted from %s; the changes "
                "it held back are pruned as the table's other datasets acknowledge",
                dataset, lt_db_name(db));
    }
}

/* The cursor row and rejects of a dataset no longer configured, and, when
 * it was the last dataset of its table (no other cursor row names the
 * table, no dataset of this configuration reads it), the table's change
 * capture: nothing would prune the changes of a table nobody reads, and
 * the triggers would go on listing them (adapters/README.md, "Change
 * tracking"). All in one transaction. */
int lt_source_forget(lt_source_t *self, const char *dataset, FILE *out, char *err, size_t errlen)
{
    if (s_configured(self, dataset)) {
        lt_err_set(err, errlen, "dataset '%s' is in %s: remove it from the configuration first",
                   dataset, self->path);
        return -1;
    }
    lt_db_t *db = self->feeds[0].db; /* every dataset's: one database */
    s_forgot_t fg = {.dataset = dataset};
    int found = 0, dropped = 0;
    if (lt_db_begin(db, 1, err, errlen))
        return -1;
    if (lt_db_cursor_list(db, s_forgot_row, &fg, err, errlen) ||
        lt_db_cursor_forget(db, dataset, &found, err, errlen) ||
        (found && fg.table[0] && !s_table_configured(self, fg.table) &&
         lt_db_capture_drop(db, fg.table, &dropped, err, errlen)) ||
        lt_db_commit(db, err, errlen)) {
        lt_db_rollback(db);
        return -1;
    }
    if (!found) {
        lt_err_set(err, errlen, "%s has no cursor of a dataset '%s'", lt_db_name(db), dataset);
        return -1;
    }
    s_forgot(self, dataset, &fg, dropped, out);
    return 0;
}

/* Names the first keys of a kind (at most LT_RECONCILE_SHOW). */
static void s_name_keys(FILE *out, const char *dataset, const char *what,
                        char (*keys)[LT_RECORD_KEY_MAX + 1], size_t n)
{
    if (n == 0)
        return;
    fprintf(out, "dataset %s: %s:", dataset, what);
    for (size_t i = 0; i < n; i++)
        fprintf(out, "%s %s", i ? "," : "", keys[i]);
    fputc('\n', out);
}

/* What one dataset's reconcile found, to out and the log. */
static void s_reconciled(const s_feed_t *f, lt_reconcile_mode_t mode, lt_reconcile_counts_t *n,
                         int64_t ms, FILE *out)
{
    lt_info("source",
            "reconciled dataset=%s table=%s checked=%zu absent=%zu appended=%zu invalid=%zu "
            "dry=%d ms=%" PRId64,
            f->dataset, f->table, n->checked, n->absent, n->appended, n->invalid,
            mode == LT_RECONCILE_DRY, ms);
    if (mode == LT_RECONCILE_DRY)
        fprintf(out, "dataset %s: %zu key(s) checked, %zu would be appended (dry run)\n",
                f->dataset, n->checked, n->absent);
    else
        fprintf(out, "dataset %s: %zu key(s) checked, %zu appended to lt_changes%s\n", f->dataset,
                n->checked, n->appended,
                n->appended ? ": the next run publishes them as deleted" : "");
    s_name_keys(out, f->dataset, "the first keys without a row", n->shown, n->n_shown);
    for (size_t i = 0; i < n->n_bad; i++)
        lt_warn("source", "reconcile skipped dataset=%s table=%s key=%s: not a key of the table",
                f->dataset, f->table, n->bad[i]);
    if (n->invalid)
        fprintf(out,
                "dataset %s: %zu key(s) skipped, no value of the key column's type (no row "
                "can hold them; published another way?)\n",
                f->dataset, n->invalid);
    s_name_keys(out, f->dataset, "the first keys skipped", n->bad, n->n_bad);
}

int lt_source_reconcile(lt_source_t *self, lt_reconcile_mode_t mode, FILE *out, char *err,
                        size_t errlen)
{
    if (lt_adapter_signals() != 0 || lt_adapter_connect(&self->conn, self->socket, err, errlen))
        return -1;
    self->req_base = lt_ad_random64();
    size_t refused = 0;
    lt_reconcile_counts_t *n = malloc(sizeof *n);
    if (!n) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < self->n_feeds; i++) {
        const s_feed_t *f = &self->feeds[i];
        int64_t t0 = lt_clock_mono_ms();
        int rc = lt_reconcile_dataset(&self->conn, f->dataset, f->db, mode, &self->req_base, n, err,
                                      errlen);
        if (rc < 0) {
            free(n);
            return -1;
        }
        if (rc == 1) {
            /* The other datasets are still reconciled; the exit says one was not. */
            lt_warn("source", "reconcile refused: %s", err);
            fprintf(out, "%s\n", err);
            s_name_keys(out, f->dataset, "the first keys without a row", n->shown, n->n_shown);
            refused++;
            continue;
        }
        s_reconciled(f, mode, n, lt_clock_mono_ms() - t0, out);
    }
    free(n);
    if (refused)
        lt_err_set(err, errlen, "%zu dataset(s) not reconciled: too many keys without a row",
                   refused);
    return refused ? -1 : 0;
}

int lt_source_print_install(lt_source_t *self, FILE *out, char *err, size_t errlen)
{
    for (size_t i = 0; i < self->n_feeds; i++) {
        char *sql = lt_db_capture_script(self->feeds[i].db, err, errlen);
        if (!sql)
            return -1;
        int ok = fputs(sql, out) >= 0;
        free(sql);
        if (!ok) {
            lt_err_set(err, errlen, "cannot write the script: %s", strerror(errno));
            return -1;
        }
    }
    return fflush(out) == 0 ? 0 : -1;
}

/* ---- the database: failures and back-off ------------------------------ */

static void s_backoff_up(s_feed_t *f)
{
    f->backoff_ms = f->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : f->backoff_ms * 2;
}

/* A database call of the feed failed: while the database is down it says
 * so once (not once per retry); other failures are errors each time. */
static void s_db_failed(s_feed_t *f, const char *what, const char *err)
{
    if (!lt_db_lost(f->db))
        lt_error("source", "dataset=%s %s: %s", f->dataset, what, err);
    else if (!f->db_down)
        lt_warn("source",
                "dataset=%s %s: %s; retrying with a back-off up to %d ms until it is "
                "back",
                f->dataset, what, err, BACKOFF_MAX_MS);
    f->db_down |= lt_db_lost(f->db);
}

static void s_db_ok(s_feed_t *f)
{
    if (!f->db_down)
        return;
    lt_info("source", "dataset=%s %s is reachable again", f->dataset, lt_db_name(f->db));
    f->db_down = 0;
    f->backoff_ms = BACKOFF_MIN_MS;
}

/* ---- starting a dataset: epochs --------------------------------------- *
 *
 * The gateway skips a change whose source_cursor is at or below its durable
 * one. When a run starts, publishes of an earlier run may be beyond the
 * agency's durable cursor C: sent before a kill -9 or a SIGTERM with acks
 * outstanding, stored by the gateway, or still queued in it and stored
 * later, in any order with a failed one (a Publish lost with a crashed
 * gateway while a later one was stored). Sending those changes again under
 * their old ids would have them skipped. The change list may also have been
 * re-created (capture re-installed) or the database restored from an older
 * backup: its ids then start again below what the gateway holds.
 *
 * So each run publishes change id i as source_cursor i + S, with the
 * dataset's shift S chosen at start above anything the gateway can hold:
 *   S = max(S_prev, G - C, S_prev + H - C)
 * where G is the gateway's durable cursor (status), H the highest change id
 * ever issued in this database and S_prev the previous run's shift. Every
 * id this run publishes is above C, so its source_cursor is above G and
 * above H + S_prev, the highest an earlier run can have sent. S is stored
 * with the cursor before the first Publish: at start when the table is
 * listed again, else just before this run sends its first Publish
 * (s_save_shift; a run that sends nothing, its changes after C all mapping
 * rejects read again at each start, does not raise it).
 *
 * The shift C was acknowledged under, A, is stored apart from S: the
 * gateway holds at least C + A, and one holding less was restored from a
 * backup (s_gateway_behind). So C is only ever a change the gateway
 * acknowledged, never the end of a Publish whose keys were queued again
 * (s_acked_cursor). A run killed after storing a raised S and
 * before its first ack leaves A as it was, so the next start does not take
 * the gateway for a restored one and publish the whole table again; the
 * commit that stores the first cursor acknowledged under S stores A = S
 * with it. Shifting, rather than listing
 * every change after C again under new ids, costs nothing however large
 * the backlog. A source_cursor is never used twice, so a change resent
 * after a crash is stored again rather than skipped; at worst a row version
 * is published twice, and applying is idempotent. */

/* Stores the cursor and the shifts (and with relist lists the table again)
 * in one transaction; a new shift without relist is stored later, before
 * the first Publish (s_save_shift). The acknowledged shift stays: nothing
 * is acknowledged under the new one yet. */
static int s_store_epoch(s_feed_t *f, int64_t prev, int64_t shift, int relist, char *err,
                         size_t errlen)
{
    int64_t base = 0;
    if (lt_db_begin(f->db, 1, err, errlen))
        return -1;
    if ((relist && lt_db_capture_relist(f->db, &base, err, errlen)) ||
        lt_db_cursor_store(f->db, f->dataset, f->cursor, err, errlen) ||
        lt_db_shift_store(f->db, f->dataset, relist ? shift : prev, f->acked_shift, err, errlen) ||
        lt_db_commit(f->db, err, errlen)) {
        lt_db_rollback(f->db);
        return -1;
    }
    f->shift_unsaved = !relist && shift != prev;
    if (relist)
        lt_info("source",
                "dataset=%s every row of table %s listed again under change ids above %" PRId64
                "%s",
                f->dataset, f->table, base, f->src->resync ? " (--resync)" : "");
    f->shift = shift;
    return 0;
}

/* The gateway holds less than it acknowledged to us (the cursor under
 * the acknowledged shift): its store was restored from a backup
 * (PROTOCOL.md 6.9). The changes acknowledged since are pruned from the
 * change list, so the whole table is listed again: every current row is
 * published again, and the dataset converges. */
static int s_gateway_behind(const s_feed_t *f, int64_t gw)
{
    int64_t prev = f->acked_shift;
    if (f->cursor == 0 || gw >= f->cursor + prev)
        return 0;
    lt_warn("source",
            "dataset=%s the gateway's durable source cursor is %" PRId64 ", below %" PRId64
            " which it acknowledged: its store was restored from a backup; publishing every "
            "row of table %s again",
            f->dataset, gw, f->cursor + prev, f->table);
    return 1;
}

/* The shift of this run (see above); says so when the gateway holds
 * source cursors this database cannot have published. */
static int s_epoch(s_feed_t *f, int64_t gw, char *err, size_t errlen)
{
    int64_t high = 0, prev = 0;
    if (lt_db_capture_high(f->db, &high, err, errlen) ||
        lt_db_shift_load(f->db, f->dataset, &prev, &f->acked_shift, err, errlen))
        return -1;
    int64_t shift = prev;
    if (gw - f->cursor > shift)
        shift = gw - f->cursor;
    if (prev + high - f->cursor > shift)
        shift = prev + high - f->cursor;
    if (gw > prev + high)
        lt_warn("source",
                "dataset=%s the gateway has stored source cursors up to %" PRId64
                ", above every change id %s has published (up to %" PRId64
                "): its change capture was re-installed or it was restored from an older "
                "backup; publishing change %" PRId64 " on under a new epoch (source cursors "
                "above %" PRId64 ")",
                f->dataset, gw, lt_db_name(f->db), prev + high, f->cursor + 1, gw);
    int relist = f->src->resync || s_gateway_behind(f, gw);
    if (s_new_on_tracked(f, &relist, err, errlen))
        return -1;
    return s_store_epoch(f, prev, shift, relist, err, errlen);
}

/* A dataset the gateway's status does not list, though the gateway
 * acknowledged changes of it: its store could not be read just then, or its
 * directory does not list the dataset yet, as likely as a store restored
 * from a backup taken before the dataset's first record. Taken for a
 * durable cursor of 0 at once, it would have the whole table listed again
 * (s_gateway_behind): the status is asked again first, UNLISTED_ASKS
 * times. 1 while it is to be asked again. */
static int s_unlisted(s_feed_t *f, int listed)
{
    if (listed || f->cursor == 0 || f->unlisted >= UNLISTED_ASKS)
        return 0;
    if (f->unlisted++ == 0)
        lt_warn("source",
                "dataset=%s the gateway's status does not list it, though it acknowledged "
                "change %" PRId64 ": asking again (%d times, every %d ms) before taking its "
                "store for one restored from a backup",
                f->dataset, f->cursor, UNLISTED_ASKS, STATUS_RETRY_MS);
    return 1;
}

/* Starts one dataset: capture present, cursor, epoch; `listed`: the
 * status lists it, with durable cursor gw. Returns 0, -1 when fatal (err),
 * -2 to try again later (the database is down), -3 to ask the status
 * again (s_unlisted). */
static int s_feed_start(s_feed_t *f, int64_t gw, int listed, char *err, size_t errlen)
{
    int present = 0;
    if (lt_db_capture_present(f->db, &present, err, errlen))
        return lt_db_lost(f->db) ? -2 : -1;
    if (!present) {
        lt_err_set(err, errlen,
                   "%s has no change capture for table %s: run 'lienthong source --config "
                   "%s --install' once",
                   lt_db_name(f->db), f->table, f->src->path);
        return -1;
    }
    if (lt_db_cursor_load(f->db, f->dataset, &f->cursor, err, errlen) ||
        lt_db_reject_count(f->db, f->dataset, &f->rejects, err, errlen))
        return lt_db_lost(f->db) ? -2 : -1;
    if (s_unlisted(f, listed))
        return -3;
    if (s_epoch(f, gw, err, errlen))
        return lt_db_lost(f->db) ? -2 : -1;
    f->next = f->cursor;
    return 0;
}

/* ---- reading a batch ------------------------------------------------ */

static void s_changes_free(s_change_t *ch, size_t n)
{
    for (size_t i = 0; ch && i < n; i++) {
        free(ch[i].key);
        free(ch[i].payload);
        free(ch[i].why);
    }
    free(ch);
}

/* Why the change's key cannot be published, or NULL. The owner's gateway
 * refuses a whole Publish for a key that is not UTF-8 (PROTOCOL.md 4.5),
 * empty or over LT_RECORD_KEY_MAX bytes (8.1); a deletion has no row to be
 * refused with. */
static const char *s_bad_key(const s_feed_t *f, const char *key, char *why, size_t cap)
{
    if (!lt_valid_key(key))
        snprintf(why, cap, "column '%s': the key is empty or over %d bytes", f->key_column,
                 LT_RECORD_KEY_MAX);
    else if (!lt_valid_text(key))
        snprintf(why, cap,
                 "column '%s': the key is not valid UTF-8 (a legacy encoding such as TCVN3, "
                 "VNI or Windows-1258?)",
                 f->key_column);
    else
        return NULL;
    return why;
}

/* Takes one change and packs its current row, or notes a tombstone
 * (lt_db_change_fn). A row the mapping cannot convert (LT_ROWMAP_BAD_VALUE)
 * is kept with the reason, to be left out of the Publish and recorded as a
 * mapping reject: it fails again until the row is changed, and must not
 * hold back the dataset's other changes. */
static int s_on_change(void *arg, int64_t id, const char *key, const lt_db_row_t *row, char *err,
                       size_t errlen)
{
    s_batch_t *b = arg;
    if (b->n >= b->cap) {
        lt_err_set(err, errlen, "the database returned more than %zu changes", b->cap);
        return -1;
    }
    s_change_t *c = &b->ch[b->n];
    c->id = id;
    c->deleted = row == NULL;
    if (!(c->key = strdup(key))) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    b->n++;
    char why[512];
    int rc = s_bad_key(b->feed, key, why, sizeof why) ? LT_ROWMAP_BAD_VALUE : 0;
    if (rc == 0 && row)
        rc = lt_rowmap_pack_row(b->feed->map, row, &c->payload, &c->len, why, sizeof why);
    if (rc == LT_ROWMAP_BAD_VALUE && !(c->why = strdup(why))) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    if (rc == -1) {
        lt_err_set(err, errlen, "change %" PRId64 " (table %s): %s", id, b->feed->table, why);
        return -1;
    }
    return 0;
}

/* Reads up to `want` changes after `next` (latest per key) with their
 * current rows, in one read transaction. */
static int s_collect(s_feed_t *f, s_change_t *ch, size_t want, size_t *n, char *err, size_t errlen)
{
    s_batch_t b = {f, ch, 0, want};
    if (lt_db_begin(f->db, 0, err, errlen))
        return -1;
    long got = lt_db_read_changes(f->db, f->next, want, s_on_change, &b, err, errlen);
    char ignore[64];
    if (lt_db_commit(f->db, ignore, sizeof ignore) != 0)
        lt_db_rollback(f->db); /* a read: nothing to lose */
    *n = b.n;
    return got < 0 ? -1 : 0;
}

/* The next request id of this adapter's Publish and VerifyRequest
 * messages: random base, counted up, never 0. */
static uint64_t s_request_id(lt_source_t *self)
{
    if (++self->req_count + self->req_base == 0)
        ++self->req_count;
    return self->req_base + self->req_count;
}

/* Moves the changes the mapping could not convert from ch into fl, to be
 * recorded as mapping rejects when the cursor passes them. */
static int s_take_unmapped(s_change_t *ch, size_t n, s_flight_t *fl, char *err, size_t errlen)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad += ch[i].why != NULL;
    if (bad == 0)
        return 0;
    if (!(fl->unmapped = calloc(bad, sizeof *fl->unmapped))) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (ch[i].why) {
            fl->unmapped[fl->n_unmapped++] = ch[i];
            memset(&ch[i], 0, sizeof ch[i]);
        }
    return 0;
}

/* The keys of a flight's changes, one after the other, each ended by a
 * NUL (s_flight_t's `keys`), grown as the frame is packed. */
typedef struct {
    char *s;
    size_t len, cap;
} s_keys_t;

/* Appends key to k; its offset in *at. 0, or -1 out of memory. */
static int s_keep_key(s_keys_t *k, const char *key, uint32_t *at)
{
    size_t len = strlen(key) + 1;
    /* Keys are at most LT_RECORD_KEY_MAX bytes (s_on_change), a batch at
     * most 100,000 changes: offsets fit. */
    if (k->len + len > UINT32_MAX)
        return -1;
    if (k->len + len > k->cap) {
        size_t cap = k->cap ? k->cap : 1024;
        while (cap < k->len + len)
            cap *= 2;
        char *s = realloc(k->s, cap);
        if (!s)
            return -1;
        k->s = s;
        k->cap = cap;
    }
    memcpy(k->s + k->len, key, len);
    *at = (uint32_t)k->len;
    k->len += len;
    return 0;
}

/* A Publish being packed: its changes point into the batch read, and what
 * the ack will need of each is kept beside them until fl takes it. */
typedef struct {
    Lienthong__Change *cs;
    Lienthong__Change **pp;
    s_sent_t *sent;
    s_keys_t keys;
    size_t k, records;
    /* The last change in the frame: set in fl only once the frame is
     * made. An attempt over the cap (-2) is followed by one of fewer
     * changes into the same flight; if all of those are mapping rejects,
     * a value left from the bigger attempt would name a change not sent,
     * and the stored cursor would pass it (s_acked_cursor). */
    int64_t sent_last;
} s_packing_t;

/* Frees what pk still owns (fl took the rest). */
static void s_packing_free(s_packing_t *pk)
{
    free(pk->cs);
    free(pk->pp);
    free(pk->sent);
    free(pk->keys.s);
}

/* Turns the changes the mapping converted into wire changes, noting for
 * each what its ack will need. 0, or -1 out of memory. */
static int s_packing_add(s_packing_t *pk, const s_feed_t *f, s_change_t *ch, size_t n, char *err,
                         size_t errlen)
{
    if (!(pk->cs = calloc(n, sizeof *pk->cs)) || !(pk->pp = calloc(n, sizeof *pk->pp)) ||
        !(pk->sent = calloc(n, sizeof *pk->sent))) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (ch[i].why)
            continue;
        s_sent_t *sent = &pk->sent[pk->k];
        if (s_keep_key(&pk->keys, ch[i].key, &sent->key_at) != 0) {
            lt_err_set(err, errlen, "out of memory");
            return -1;
        }
        snprintf(sent->cursor, CURSOR_LEN, "%" PRId64, ch[i].id + f->shift);
        sent->deleted = ch[i].deleted;
        Lienthong__Change *c = &pk->cs[pk->k];
        lienthong__change__init(c);
        c->key = ch[i].key;
        c->deleted = ch[i].deleted;
        c->payload.data = ch[i].payload;
        c->payload.len = ch[i].len;
        c->source_cursor = sent->cursor;
        pk->pp[pk->k++] = c;
        pk->records += !ch[i].deleted;
        pk->sent_last = ch[i].id;
    }
    return 0;
}

/* Makes fl the flight of the packed Publish env (size bytes): its frame,
 * the batch's ids, its mapping rejects and what the ack needs, taken from
 * pk. 0, or -1 with err set. */
static int s_packing_fly(s_packing_t *pk, const Lienthong__Envelope *env, size_t size,
                         s_change_t *ch, size_t n, s_flight_t *fl, char *err, size_t errlen)
{
    if (pk->k > 0 && !(fl->frame = malloc(size))) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    fl->first_id = ch[0].id; /* before the unmapped changes are taken */
    fl->last_id = ch[n - 1].id;
    if (s_take_unmapped(ch, n, fl, err, errlen) != 0) {
        s_flight_free(fl);
        return -1;
    }
    fl->frame_len = pk->k > 0 ? lienthong__envelope__pack(env, fl->frame) : 0;
    if (pk->k > 0) {
        fl->sent = pk->sent;
        fl->keys = pk->keys.s;
        pk->sent = NULL;
        pk->keys.s = NULL;
    }
    fl->request_id = env->publish->request_id;
    fl->sent_last_id = pk->sent_last;
    fl->n_changes = pk->k;
    fl->n_records = pk->records;
    return 0;
}

/* Packs a Publish envelope for the changes into fl, leaving out those the
 * mapping could not convert (their Publish may be empty: fl->frame NULL).
 * What the ack needs of each change packed is kept in fl as it goes
 * (s_sent_t, about the size of their keys, where reading the frame back
 * would copy each record too). Returns 0, -1 on error, -2 when the frame
 * would exceed the gateway's default cap (its size in *over). */
static int s_pack(s_feed_t *f, s_change_t *ch, size_t n, s_flight_t *fl, size_t *over, char *err,
                  size_t errlen)
{
    s_packing_t pk = {0};
    int rc = -1;
    if (s_packing_add(&pk, f, ch, n, err, errlen) != 0)
        goto out;
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT;
    pub.request_id = s_request_id(f->src);
    pub.dataset = f->dataset;
    /* So that the owner's gateway refuses a record_type that is not the
     * dataset's before decoding a row (PROTOCOL.md 8.1). */
    pub.record_type = f->record_type;
    pub.n_changes = pk.k;
    pub.changes = pk.pp;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_PUBLISH;
    env.publish = &pub;
    size_t size = lienthong__envelope__get_packed_size(&env);
    if (size > LT_MAX_MESSAGE_DEFAULT) {
        *over = size;
        rc = -2;
        goto out;
    }
    rc = s_packing_fly(&pk, &env, size, ch, n, fl, err, errlen);
out:
    s_packing_free(&pk);
    return rc;
}

/* Sets the reason change c is a mapping reject, from fmt. 0, or -1 out of
 * memory. */
static int s_set_why(s_change_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int s_set_why(s_change_t *c, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    free(c->why);
    return (c->why = strdup(why)) ? 0 : -1;
}

/* Makes change c, too large to publish even alone, a mapping reject: it
 * would be refused for ever, and must not hold back the dataset's other
 * changes. `said` is the gateway's ERR_TOO_LARGE message, or NULL when its
 * Publish (`size` bytes) is over the cap this source packs to. The reason
 * names the sizes and the limit, never the value (docs/operations.md,
 * "Records refused by the dataset's rules"). 0, or -1 out of memory. */
static int s_too_big(s_change_t *c, size_t size, const char *said)
{
    if (said)
        return s_set_why(c,
                         "the row is %zu bytes as a record, a Publish of it alone %zu bytes: over "
                         "the gateway's max_message (a record may have about half of it); the "
                         "gateway said: %.600s",
                         c->len, size, said);
    return s_set_why(c,
                     "the row is %zu bytes as a record, a Publish of it alone %zu bytes: over the "
                     "%u bytes a Publish may have",
                     c->len, size, LT_MAX_MESSAGE_DEFAULT);
}

/* The changes read into one Publish now: the limit, or fewer while a
 * change the gateway refuses as malformed is looked for (s_narrow). */
static int s_batch_size(const s_feed_t *f)
{
    return f->narrow > 0 && f->narrow < f->limit ? f->narrow : f->limit;
}

/* One attempt at reading and packing s_batch_size changes: 1 when fl holds
 * a Publish, 0 when no change is waiting, -1 on error, -2 when the Publish
 * would be too big. */
static int s_try_batch(s_feed_t *f, s_flight_t *fl, char *err, size_t errlen)
{
    size_t n = 0, size = 0, want = (size_t)s_batch_size(f);
    s_change_t *ch = calloc(want, sizeof *ch);
    if (!ch) {
        lt_err_set(err, errlen, "out of memory reading a batch of %zu changes", want);
        return -1;
    }
    int rc = s_collect(f, ch, want, &n, err, errlen);
    f->short_read = rc == 0 && n < want;
    if (rc == 0 && n > 0)
        rc = s_pack(f, ch, n, fl, &size, err, errlen);
    if (rc == -2 && n == 1) {
        /* Too big alone: a reject, so that the dataset goes on. */
        rc = s_too_big(&ch[0], size, NULL);
        if (rc == 0)
            rc = s_pack(f, ch, n, fl, &size, err, errlen);
        else
            lt_err_set(err, errlen, "out of memory");
    }
    s_changes_free(ch, want);
    if (rc == -2)
        return -2;
    return rc < 0 ? -1 : n > 0 ? 1 : 0;
}

/* Numbers the committed changes that wait to be (PostgreSQL), when the
 * last read found the list drained or a notification came. */
static int s_sync(s_feed_t *f, char *err, size_t errlen)
{
    size_t moved = 0;
    if (lt_db_capture_sync(f->db, SYNC_CHUNK, &moved, err, errlen))
        return -1;
    if (moved)
        lt_debug("source", "dataset=%s numbered %zu committed changes", f->dataset, moved);
    return 0;
}

/* A Publish of s_batch_size changes would exceed the gateway's default
 * frame cap: half as many. While a malformed change is looked for, the
 * narrowed batch is halved, not the limit, which applies again once the
 * refused changes are read (s_narrow). */
static void s_halve(s_feed_t *f)
{
    int size = s_batch_size(f), half = size > 1 ? size / 2 : 1;
    int narrowing = f->narrow > 0 && f->narrow < f->limit;
    if (narrowing)
        f->narrow = half;
    else
        f->limit = half;
    lt_warn("source", "dataset=%s a Publish would exceed %u bytes; now %d changes per Publish%s",
            f->dataset, LT_MAX_MESSAGE_DEFAULT, half,
            narrowing ? " while the change at fault is looked for" : "");
}

/* Reads and packs the next batch, halving the batch while a Publish would
 * exceed the gateway's default frame cap. Returns 1 when fl holds a
 * Publish, 0 when no change is waiting, -1 on error (logged). */
static int s_read_batch(s_feed_t *f, s_flight_t *fl)
{
    char err[1024];
    int r = f->short_read && s_sync(f, err, sizeof err) ? -1 : s_try_batch(f, fl, err, sizeof err);
    while (r == -2) {
        s_halve(f);
        r = s_try_batch(f, fl, err, sizeof err);
    }
    if (r < 0)
        s_db_failed(f, "cannot publish the next changes", err);
    else
        s_db_ok(f);
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
 * done; while that fails (the database down) k is never resent but queued
 * again after a back-off. Either way the stored cursor passes k's changes
 * only with a later Publish acknowledged (s_acked_cursor). When k is the
 * newest Publish, nothing can hide it and the same bytes are sent again
 * after a back-off, unless the gateway refused them for what they hold
 * (ERR_MALFORMED, ERR_TOO_LARGE): they would be refused for ever, so k's
 * changes are read again from the database instead, where a row fixed
 * meanwhile is read as it is now (s_reread), fewer at a time until a
 * change refused alone is made a reject (s_narrow, s_refused_alone), or
 * its dataset held when the gateway accepts none of its rows (the breaker,
 * s_breaker_holds). After
 * any failure one Publish at a time is sent until the next ack. Either way a change is
 * never skipped; at worst a row version is published twice, and applying
 * is idempotent. */

/* Queues the keys of a failed Publish again under new change ids. */
static int s_requeue(s_feed_t *f, const s_flight_t *fl)
{
    char err[1024];
    if (lt_db_begin(f->db, 1, err, sizeof err) == 0) {
        if (lt_db_requeue(f->db, fl->first_id - 1, fl->last_id, err, sizeof err) == 0 &&
            lt_db_commit(f->db, err, sizeof err) == 0) {
            lt_info("source",
                    "dataset=%s changes %" PRId64 "..%" PRId64 " queued again under "
                    "new change ids (a later publish may already be stored)",
                    f->dataset, fl->first_id, fl->last_id);
            f->short_read = 1; /* PostgreSQL numbers them at the next read */
            return 0;
        }
        lt_db_rollback(f->db);
    }
    s_db_failed(f, "cannot queue a failed publish again", err);
    return -1;
}

/* Queues the keys of failed Publish fl again; 0 when done. */
static int s_requeue_done(s_feed_t *f, s_flight_t *fl)
{
    if (s_requeue(f, fl) != 0)
        return -1;
    fl->acked = fl->requeued = 1; /* done: its keys are in lt_changes again */
    fl->failed = 0;
    return 0;
}

/* Retries failed Publish fl after a back-off (f->retry_at): sent again, or
 * when fl->requeue queued again. */
static void s_retry_later(s_feed_t *f, const s_flight_t *fl, int64_t now)
{
    if (f->retry_at)
        return;
    /* A dataset the directory does not grant us waits for a newer one:
     * retried slowly, and quietly since its error line was logged; so
     * does a refusal after the first of its run (lt_retrylog). */
    int wait = f->grant.refused ? LT_GRANTS_RETRY_MS : f->backoff_ms;
    f->retry_at = now + wait;
    if (fl->requeue)
        lt_info("source",
                "dataset=%s queueing changes %" PRId64 "..%" PRId64 " again in %d ms (never "
                "resent: a later publish may be stored)",
                f->dataset, fl->first_id, fl->last_id, wait);
    else if (f->grant.refused || f->refusing.refused > 1)
        lt_debug("source", "dataset=%s resending request_id=%016" PRIx64 " in %d ms", f->dataset,
                 fl->request_id, wait);
    else
        lt_info("source", "dataset=%s resending request_id=%016" PRIx64 " in %d ms", f->dataset,
                fl->request_id, wait);
    s_backoff_up(f);
}

/* Publish i failed: queue its keys again, or resend it after a back-off.
 * Once a later Publish exists, resending i could have it skipped as
 * already stored (PROTOCOL.md 8.1): it stays to be queued again, however
 * long that takes. */
static void s_fail(s_feed_t *f, size_t i, int64_t now)
{
    s_flight_t *fl = &f->flights[i];
    f->max_flight = 1;
    fl->failed = 1;
    fl->requeue |= i + 1 < f->n_flight;
    if (fl->requeue && s_requeue_done(f, fl) == 0)
        return;
    s_retry_later(f, fl, now);
}

static int s_send(s_feed_t *f, size_t i, int64_t now)
{
    s_flight_t *fl = &f->flights[i];
    fl->sent_ms = now;
    fl->failed = 0;
    if (lt_adapter_send_frame(&f->src->conn, fl->frame, fl->frame_len) != 0) {
        lt_warn("source", "cannot send a publish to the gateway: %s", zmq_strerror(zmq_errno()));
        s_fail(f, i, now);
        return -1;
    }
    return 0;
}

static void s_resend(s_feed_t *f, int64_t now)
{
    f->retry_at = 0;
    for (size_t i = 0; i < f->n_flight; i++) {
        s_flight_t *fl = &f->flights[i];
        if (!fl->failed || fl->acked)
            continue;
        if (fl->requeue ? s_requeue_done(f, fl) != 0 : s_send(f, i, now) != 0) {
            s_retry_later(f, fl, now);
            return;
        }
    }
}

/* The gateway refused Publish i for its contents: the same bytes would be
 * refused again for ever. When it is the newest, its changes are read
 * again from the database after a back-off, under the same change ids
 * (safe as a resend is: no later Publish exists, PROTOCOL.md 8.1), so that
 * a row fixed meanwhile is published; else it is queued again (s_fail). */
static void s_reread(s_feed_t *f, size_t i, int64_t now)
{
    if (i + 1 < f->n_flight) {
        s_fail(f, i, now);
        return;
    }
    s_flight_t *fl = &f->flights[i];
    lt_info("source", "dataset=%s reading changes %" PRId64 "..%" PRId64 " again in %d ms",
            f->dataset, fl->first_id, fl->last_id, f->backoff_ms);
    f->next = fl->first_id - 1;
    s_flight_free(fl);
    f->n_flight--;
    f->max_flight = 1;
    f->reread = 1;
    f->read_at = now + f->backoff_ms;
    s_backoff_up(f);
}

/* For the tests of crashes at a given point (tests/integration): with
 * LT_SOURCE_TEST_EXIT set to `point`, the process ends there at once, as
 * a kill -9 would end it. Never set in operation. */
static void s_test_exit(const char *point)
{
    const char *at = getenv("LT_SOURCE_TEST_EXIT");
    if (at && strcmp(at, point) == 0) {
        lt_warn("source", "LT_SOURCE_TEST_EXIT: exiting at %s", point);
        _exit(70);
    }
}

/* Stores the run's shift, when new, before its first Publish goes out
 * (see "starting a dataset: epochs"). Returns 0, or -1 (logged). */
static int s_save_shift(s_feed_t *f)
{
    char err[1024];
    if (!f->shift_unsaved)
        return 0;
    if (lt_db_begin(f->db, 1, err, sizeof err) == 0) {
        if (lt_db_shift_store(f->db, f->dataset, f->shift, f->acked_shift, err, sizeof err) == 0 &&
            lt_db_commit(f->db, err, sizeof err) == 0) {
            f->shift_unsaved = 0;
            s_test_exit("shift_stored");
            return 0;
        }
        lt_db_rollback(f->db);
    }
    s_db_failed(f, "cannot store the epoch shift", err);
    return -1;
}

/* Fills the pipeline. Returns 0 when every change is in flight (nothing
 * left to read now), 1 when the pipeline is full, -1 after a read error. */
static int s_fill(s_feed_t *f, int64_t now)
{
    f->reread = 0;
    while (f->n_flight < f->max_flight) {
        s_flight_t *fl = &f->flights[f->n_flight];
        int r = s_read_batch(f, fl);
        if (r > 0 && fl->frame && s_save_shift(f) != 0) {
            s_flight_free(fl); /* read again after the back-off */
            r = -1;
        }
        if (r <= 0) {
            f->read_at = now + (r < 0 ? f->backoff_ms : f->src->poll_ms);
            if (r < 0)
                s_backoff_up(f);
            return r;
        }
        f->n_flight++;
        f->next = fl->last_id;
        if (f->narrow && f->next >= f->narrow_to)
            f->narrow = 0; /* the refused changes are all read again */
        if (!fl->frame) {
            /* Every change of the batch is a mapping reject: nothing to
             * send, their rejects are stored with the flights before. */
            fl->acked = 1;
            continue;
        }
        lt_debug("source",
                 "publish request_id=%016" PRIx64 " changes=%zu ids=%" PRId64 "..%" PRId64,
                 fl->request_id, fl->n_changes, fl->first_id, fl->last_id);
        if (s_send(f, f->n_flight - 1, now) != 0)
            return 1;
    }
    return 1;
}

/* ---- rejects (PROTOCOL.md 5.7) ----------------------------------------- */

static const Lienthong__Refusal *s_refusal_of(const Lienthong__PublishAck *a, const char *cursor)
{
    for (size_t i = 0; a && i < a->n_refusals; i++)
        if (strcmp(a->refusals[i]->source_cursor, cursor) == 0)
            return a->refusals[i];
    return NULL;
}

/* "rule: reason; rule: reason" into out. */
static void s_reasons(const Lienthong__Refusal *r, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < r->n_rules && o < cap; i++) {
        int n = snprintf(out + o, cap - o, "%s%s: %s", i ? "; " : "", r->rules[i],
                         i < r->n_reasons ? r->reasons[i] : "");
        if (n < 0)
            break;
        o += (size_t)n;
    }
}

/* The changes of a flight the mapping could not convert go into
 * lt_rejects, kind "mapping" (the reason names the column, never the
 * value). Returns 0 or -1. */
static int s_unmapped(s_feed_t *f, const s_flight_t *fl, const char *at, char *err, size_t errlen)
{
    for (size_t i = 0; i < fl->n_unmapped; i++) {
        const s_change_t *c = &fl->unmapped[i];
        char cursor[CURSOR_LEN], key[LT_RECORD_KEY_MAX + 1];
        snprintf(cursor, sizeof cursor, "%" PRId64, c->id + f->shift);
        lt_db_reject_t rj = {.dataset = f->dataset,
                             .key = c->key,
                             .kind = "mapping",
                             .reasons = c->why,
                             .cursor = cursor,
                             .at = at};
        if (f->logged++ < REFUSALS_LOGGED) {
            /* The key may be the text at fault: logged made valid. */
            snprintf(key, sizeof key, "%.*s", lt_valid_cut(c->key, LT_RECORD_KEY_MAX), c->key);
            lt_warn("source",
                    "dataset=%s key=%s change %" PRId64 " (table %s) cannot be published: %s; "
                    "kept in lt_rejects until the row is changed",
                    f->dataset, lt_valid_sanitise(key), c->id, f->table, c->why);
        }
        if (lt_db_reject(f->db, &rj, err, errlen) != 0)
            return -1;
        f->rejects++; /* a later change of the row must find it to clear */
    }
    return 0;
}

/* Clears the rejects of kinds `clear` (LT_DB_REJECT_*) that the row of key
 * holds, in one statement: none written when it holds none, the usual
 * case (lt_rejects is written only when a reject is added, changed or
 * cleared). Returns 1 when one went, 0 none, -1 on error. */
static int s_clear(s_feed_t *f, const char *key, unsigned clear, char *err, size_t errlen)
{
    int cleared = 0;
    if (lt_db_reject_clear(f->db, f->dataset, key, clear, &cleared, err, errlen) != 0)
        return -1;
    return cleared > 0;
}

/* The records of a Publish sent, read back from its frame: only reference
 * checks need them (the rest is in fl->sent). NULL on error. */
static Lienthong__Envelope *s_read_back(const s_flight_t *fl, char *err, size_t errlen)
{
    Lienthong__Envelope *env = lienthong__envelope__unpack(NULL, fl->frame_len, fl->frame);
    if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH &&
        env->publish->n_changes == fl->n_changes)
        return env;
    if (env)
        lienthong__envelope__free_unpacked(env, NULL);
    lt_err_set(err, errlen, "cannot read back a Publish sent");
    return NULL;
}

/* The refusals of an acked Publish go into lt_rejects, and every row it
 * published clears the row's reject, if any (a deletion its reference
 * reject too: the row is gone; a version the mapping could not convert is
 * gone too): in the transaction that stores the cursor, so that the table
 * never disagrees with it. Returns the number of rejects cleared, or -1. */
static long s_rejects(s_feed_t *f, const s_flight_t *fl, const char *at, char *err, size_t errlen)
{
    if (fl->requeued)
        return 0; /* its keys are read again, its unmapped rows with them */
    if (s_unmapped(f, fl, at, err, errlen) != 0)
        return -1;
    if (!fl->frame || ((!fl->ack || fl->ack->n_refusals == 0) && f->rejects == 0 && !f->refs))
        return 0;
    Lienthong__Envelope *env = f->refs ? s_read_back(fl, err, errlen) : NULL;
    if (f->refs && !env)
        return -1;
    long cleared = 0;
    int rc = 0;
    for (size_t i = 0; rc >= 0 && i < fl->n_changes; i++) {
        const s_sent_t *c = &fl->sent[i];
        const char *key = fl->keys + c->key_at;
        char reasons[2048];
        const Lienthong__Refusal *r = s_refusal_of(fl->ack, c->cursor);
        lt_db_reject_t rj = {
            .dataset = f->dataset, .key = key, .kind = "rule", .cursor = c->cursor, .at = at};
        if (r) {
            s_reasons(r, reasons, sizeof reasons);
            rj.reasons = reasons;
            if (f->logged++ < REFUSALS_LOGGED)
                lt_warn("source", "dataset=%s key=%s refused by the owner's rules: %s", f->dataset,
                        key, reasons);
            /* A later Publish committed with this one may carry the row
             * fixed: it must find a reject to clear (recounted after). */
            f->rejects++;
            rc = lt_db_reject(f->db, &rj, err, errlen);
            continue;
        }
        /* Acknowledged: its references are checked from now on. */
        const ProtobufCBinaryData *rec = env ? &env->publish->changes[i]->payload : NULL;
        if (rec && !c->deleted &&
            lt_refcheck_queue(f->refs, key, c->cursor, rec->data, rec->len) != 0)
            lt_warn("source", "dataset=%s key=%s: cannot queue its reference checks", f->dataset,
                    key);
        if (f->rejects == 0)
            continue;
        rc = s_clear(f, key,
                     LT_DB_REJECT_MAPPING | LT_DB_REJECT_RULE |
                         (c->deleted ? LT_DB_REJECT_REFERENCE : 0),
                     err, errlen);
        cleared += rc > 0;
    }
    if (env)
        lienthong__envelope__free_unpacked(env, NULL);
    return rc >= 0 ? cleared : -1;
}

static void s_utc_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(out, 32, "%lld", (long long)t);
}

/* The cursor the acked prefix of k flights lets the dataset store: the
 * last change the gateway acknowledged, so that its durable source cursor
 * is never below ours under the acknowledged shift, which would read as a
 * restored store at the next start (s_gateway_behind). A flight queued
 * again does not move it: the gateway does not hold its changes (a run
 * killed before the next ack would otherwise take the gateway for a
 * restored one); they are read again after a restart, and published again
 * under new ids, as harmless as any resend. Mapping rejects after it are
 * read, and rejected, again after a restart too. */
static int64_t s_acked_cursor(const s_feed_t *f, size_t k)
{
    int64_t last = f->cursor;
    for (size_t i = 0; i < k; i++) {
        const s_flight_t *fl = &f->flights[i];
        if (!fl->requeued && fl->sent_last_id > last)
            last = fl->sent_last_id;
    }
    return last;
}

/* 1 when the acked prefix of k flights holds the first changes the
 * gateway stored under this run's shift: the stored cursor is then
 * acknowledged under it (see "starting a dataset: epochs"). */
static int s_acked_now(const s_feed_t *f, size_t k)
{
    for (size_t i = 0; f->acked_shift != f->shift && i < k; i++)
        if (!f->flights[i].requeued && f->flights[i].sent_last_id > 0)
            return 1;
    return 0;
}

/* What the acked prefix of the pipeline leaves to count. */
typedef struct {
    long cleared, refused, unmapped; /* cleared < 0: a reject not stored */
    int requeued;
} s_acked_t;

/* The rejects of the acked prefix of k flights, stored in the transaction
 * under way (stopping at the first that fails, with err), and what they
 * count. */
static s_acked_t s_acked_rejects(s_feed_t *f, size_t k, const char *at, char *err, size_t errlen)
{
    s_acked_t t = {0};
    for (size_t i = 0; i < k && t.cleared >= 0; i++) {
        t.requeued |= f->flights[i].requeued;
        long c = s_rejects(f, &f->flights[i], at, err, errlen);
        t.cleared = c < 0 ? -1 : t.cleared + c;
        t.refused += f->flights[i].ack ? (long)f->flights[i].ack->n_refusals : 0;
        t.unmapped += f->flights[i].requeued ? 0 : (long)f->flights[i].n_unmapped;
    }
    return t;
}

/* The acked prefix of k flights, committed up to last: counted, freed and
 * shifted out of the pipeline. */
static void s_drop_acked(s_feed_t *f, size_t k, int64_t last)
{
    for (size_t i = 0; i < k; i++) {
        if (f->flights[i].requeued)
            f->requeued += f->flights[i].n_changes;
        else
            f->acked_since += f->flights[i].n_changes;
        s_flight_free(&f->flights[i]);
    }
    memmove(f->flights, f->flights + k, (f->n_flight - k) * sizeof f->flights[0]);
    memset(f->flights + f->n_flight - k, 0, k * sizeof f->flights[0]);
    f->n_flight -= k;
    f->cursor = last;
}

/* Stores the cursor of the acked prefix of the pipeline and prunes the
 * change list below the table's slowest dataset, in one transaction. A
 * failure keeps the acked flights, to be stored at the next turn. */
static void s_commit_acked(s_feed_t *f)
{
    size_t k = 0;
    while (k < f->n_flight && f->flights[k].acked)
        k++;
    if (k == 0)
        return;
    int64_t last = s_acked_cursor(f, k);
    char err[1024], at[32];
    s_utc_now(at);
    if (lt_db_begin(f->db, 1, err, sizeof err))
        goto fail;
    s_acked_t t = s_acked_rejects(f, k, at, err, sizeof err);
    int acked_now = s_acked_now(f, k);
    if (t.cleared < 0 || lt_db_cursor_store(f->db, f->dataset, last, err, sizeof err) ||
        (acked_now && lt_db_shift_store(f->db, f->dataset, f->shift, f->shift, err, sizeof err)) ||
        lt_db_commit(f->db, err, sizeof err)) {
        lt_db_rollback(f->db);
        goto fail;
    }
    if (t.requeued)
        s_test_exit("requeue_committed");
    if (acked_now)
        f->acked_shift = f->shift;
    s_db_ok(f);
    f->refused += (uint64_t)t.refused;
    f->unmapped += (uint64_t)t.unmapped;
    /* Counted again rather than tracked: a row refused twice or cleared
     * without a reject changes nothing. */
    if ((t.cleared > 0 || t.refused > 0 || t.unmapped > 0) &&
        lt_db_reject_count(f->db, f->dataset, &f->rejects, err, sizeof err) != 0)
        f->rejects = 1; /* unknown: keep clearing */
    s_drop_acked(f, k, last);
    return;
fail:
    s_db_failed(f, "cannot store the cursor", err);
}

/* The feed and index of the in-flight Publish with this request id. */
static s_feed_t *s_find(lt_source_t *self, uint64_t request_id, size_t *index)
{
    for (size_t k = 0; k < self->n_feeds; k++)
        for (size_t i = 0; i < self->feeds[k].n_flight; i++)
            if (self->feeds[k].flights[i].request_id == request_id) {
                *index = i;
                return &self->feeds[k];
            }
    return NULL;
}

/* ---- the breaker: a configuration fault is not bad rows -------------- *
 * A change the gateway refuses as malformed even alone becomes a mapping
 * reject (s_refused_alone) only while the gateway is seen accepting the
 * dataset's other rows. When the source's configuration does not match the
 * directory (a record_type other than the dataset's, a `columns` mapping
 * that spoils a field of every row), the gateway refuses EVERY row so: made
 * rejects, the whole table would go into lt_rejects and the cursor past it
 * with the first deletion acknowledged, and only --resync would publish it
 * again once the configuration is fixed. So the dataset is held instead
 * (nothing rejected, its changes read again after a back-off) while no
 * Publish holding a record was acknowledged since the source started, or
 * after BREAKER_K - 1 such rejects in a row with no such ack between; such
 * an ack releases it (docs/operations.md, "Records refused by the
 * dataset's rules"). A deletion carries no record, so its ack says nothing
 * about the mapping. */

/* A Publish holding a record was acknowledged: the gateway decodes the
 * dataset's rows as the source makes them. */
static void s_breaker_reset(s_feed_t *f)
{
    f->accepted = 1;
    f->alone_run = 0;
    /* A late ack of an earlier Publish does not release a hold the status
     * made: only a status giving the dataset its type does (s_on_types). */
    if (f->type_told)
        return;
    if (f->held)
        lt_info("source", "dataset=%s the owner's gateway accepts its rows again: publishing",
                f->dataset);
    f->held = 0;
    f->held_why[0] = '\0';
}

/* 1 when change id (key) that the gateway refuses as malformed alone
 * (`said`) is to be held rather than made a reject, the error line logged
 * once while held. A row that is a mapping reject already was made one
 * while the breaker let it: rejecting it again changes nothing, and a
 * source started again with it after its cursor (where it stays, see
 * s_acked_cursor) must not hold its dataset for it. */
static int s_breaker_holds(s_feed_t *f, int64_t id, const char *key, const char *said)
{
    char err[1024];
    unsigned kinds = 0;
    if (f->accepted && f->alone_run + 1 < BREAKER_K)
        return 0;
    if (lt_db_reject_kinds(f->db, f->dataset, key, &kinds, err, sizeof err) == 0 &&
        (kinds & LT_DB_REJECT_MAPPING))
        return 0;
    if (f->held++)
        return 1;
    char since[128];
    if (f->accepted)
        snprintf(since, sizeof since,
                 "so were the %d changes before it (made rejects), with no row accepted between",
                 f->alone_run);
    else
        snprintf(since, sizeof since,
                 "no row of the dataset was accepted since the source started");
    lt_error("source",
             "dataset=%s the owner's gateway refuses change %" PRId64 " (key=%s) alone as "
             "ERR_MALFORMED (it said: %.400s), and %s: most likely the configuration does not "
             "match the directory, not the rows: a record_type ('%s') other than the dataset's, "
             "or a 'columns' mapping (key_field '%s') that gives every row a bad field. The "
             "dataset is held: nothing is made a reject, the cursor stays, and its changes are "
             "read again with a back-off up to %d ms. Fix %s and restart the source (if the "
             "rows really are at fault, fix the rows)",
             f->dataset, id, key, said, since, f->record_type, f->key_field, BACKOFF_MAX_MS,
             f->src->path);
    return 1;
}

/* The owner's refusal of a Publish whose record_type is not the dataset's,
 * in the form PROTOCOL.md 8.1 fixes so that a publisher can tell it from a
 * row at fault: "record_type 'T' is not the record type 'U' of dataset 'D'",
 * each name cut at TYPE_CUT bytes. */
#define TYPE_REFUSED_A "record_type '"
#define TYPE_REFUSED_B "' is not the record type '"
#define TYPE_CUT       64

/* 1 when e refuses a Publish of f because f's record_type is not the
 * dataset's in the directory, which gives it `theirs`. No Error field says
 * so (PROTOCOL.md 9): the message names ours as the gateway read it from
 * the Publish. What a gateway that does not tell the record type in its
 * status (8.3, s_on_types) leaves to learn it by. */
static int s_wrong_type(const s_feed_t *f, const Lienthong__Error *e, char *theirs, size_t cap)
{
    const char *m = e->message, *t = m ? m + strlen(TYPE_REFUSED_A) : NULL;
    if (e->code != LIENTHONG__ERROR_CODE__ERR_MALFORMED || !m ||
        strncmp(m, TYPE_REFUSED_A, strlen(TYPE_REFUSED_A)) != 0)
        return 0;
    const char *b = strstr(t, TYPE_REFUSED_B);
    size_t ours = strnlen(f->record_type, TYPE_CUT);
    if (!b || (size_t)(b - t) != ours || strncmp(t, f->record_type, ours) != 0)
        return 0;
    const char *u = b + strlen(TYPE_REFUSED_B), *end = strchr(u, '\'');
    if (!end || end == u)
        return 0;
    snprintf(theirs, cap, "%.*s", (int)(end - u), u);
    return 1;
}

/* The owner's gateway refuses (or, as its status tells, would refuse)
 * every Publish of f as of another record type (`theirs`): a fault of the
 * configuration, never of a row, so the dataset is held at once, with no
 * Publish narrowed to find a row at fault and nothing made a reject; one
 * error line, saying `how` it is known and `then` what the source does
 * meanwhile, the retries at debug (s_on_error). An ack of a record
 * releases it (s_breaker_reset), as does a status giving it f's type
 * (s_on_types). */
static void s_hold_type(s_feed_t *f, const char *theirs, const char *how, const char *then)
{
    if (f->held)
        return;
    f->held = 1;
    snprintf(f->held_why, sizeof f->held_why,
             "its record_type '%s' is not the record type '%s' the directory gives it",
             f->record_type, theirs);
    lt_error("source",
             "dataset=%s the owner's gateway %s: %s. The dataset is held: nothing is made a "
             "reject, the cursor stays, and %s. Set record_type to '%s' in %s, map 'columns' to "
             "its fields, and restart the source; or, if the directory changed, ask the "
             "authority whether the directory is wrong",
             f->dataset, how, f->held_why, then, theirs, f->src->path);
}

static void s_on_ack(lt_source_t *self, const Lienthong__PublishAck *a)
{
    size_t i = 0;
    s_feed_t *f = s_find(self, a->request_id, &i);
    if (!f || f->flights[i].acked) {
        lt_debug("source", "ignored a stale PublishAck request_id=%016" PRIx64, a->request_id);
        return;
    }
    s_flight_t *fl = &f->flights[i];
    char *end = NULL;
    unsigned long long durable =
        a->source_cursor && a->source_cursor[0] ? strtoull(a->source_cursor, &end, 10) : 0;
    if (!end || *end || durable < (unsigned long long)(fl->sent_last_id + f->shift))
        lt_warn("source",
                "PublishAck request_id=%016" PRIx64 " names source_cursor \"%s\", "
                "expected %" PRId64,
                a->request_id, a->source_cursor ? a->source_cursor : "",
                fl->sent_last_id + f->shift);
    lt_debug("source", "ack request_id=%016" PRIx64 " seq=%" PRIu64 "..%" PRIu64, a->request_id,
             a->first_seq, a->last_seq);
    if (a->n_refusals && !fl->ack) {
        /* Kept until the cursor is stored (s_rejects): a copy, as the
         * envelope goes when this returns. */
        size_t len = lienthong__publish_ack__get_packed_size(a);
        uint8_t *buf = malloc(len ? len : 1);
        if (buf) {
            lienthong__publish_ack__pack(a, buf);
            fl->ack = lienthong__publish_ack__unpack(NULL, len, buf);
            free(buf);
        }
        if (!fl->ack) {
            lt_error("source",
                     "dataset=%s out of memory keeping %zu refusals; the Publish "
                     "will be sent again",
                     f->dataset, a->n_refusals);
            return;
        }
    }
    fl->acked = 1;
    fl->failed = 0;
    lt_retrylog_accepted(self->retrylog, &f->refusing, f->dataset);
    if (fl->n_records)
        s_breaker_reset(f);
    if (f->grant.refused)
        lt_info("source", "dataset=%s is granted now: published", f->dataset);
    memset(&f->grant, 0, sizeof f->grant);
    f->max_flight = MAX_FLIGHT;
    f->backoff_ms = BACKOFF_MIN_MS;
}

static void s_ask_grant(lt_source_t *self, s_feed_t *f);

/* The gateway's max_message may be below the default frame cap s_read_batch
 * packs to: a Publish of several changes it refuses as too large is split,
 * half as many changes per Publish from now on, so that the read again
 * fits. */
static void s_smaller(s_feed_t *f, const s_flight_t *fl)
{
    int half = (int)(fl->n_changes / 2);
    if (half < f->limit)
        f->limit = half;
    lt_warn("source",
            "dataset=%s a Publish of %zu changes (%zu bytes) exceeds the gateway's "
            "max_message; now %d changes per Publish",
            f->dataset, fl->n_changes, fl->frame_len, f->limit);
}

/* 1 when the gateway's error e is about what the Publish holds, so that
 * the same changes would be refused for ever: ERR_MALFORMED (a payload
 * that is not a record of the dataset's type, a key that differs from the
 * record's, a source_cursor, PROTOCOL.md 4.2 check 10, 8.1) and
 * ERR_TOO_LARGE. Every other code is about the link, the gateway's state
 * or this member's rights (ERR_INTERNAL, ERR_UNAVAILABLE, ERR_NOT_FOUND,
 * ERR_FORBIDDEN, ERR_REVOKED, ...): passes once the gateway is well again,
 * so the Publish is retried and its changes are never made rejects. */
static int s_about_content(const Lienthong__Error *e)
{
    return e->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED ||
           e->code == LIENTHONG__ERROR_CODE__ERR_TOO_LARGE;
}

/* The reason of change c, which the gateway refuses as malformed even
 * alone: its message names the field at fault, never the value
 * (PROTOCOL.md 4.4). 0, or -1 out of memory. */
static int s_malformed(s_change_t *c, const char *said)
{
    return s_set_why(c,
                     "the owner's gateway refuses a Publish of this change alone as "
                     "ERR_MALFORMED; it said: %.800s",
                     said);
}

/* The record size of Publish fl of one change, for the reason of one too
 * large (s_too_big): read back from its frame, as the flight keeps no
 * record sizes for this one rare refusal. 0, or -1 out of memory. */
static int s_alone_len(const s_flight_t *fl, size_t *len)
{
    char err[64];
    Lienthong__Envelope *env = s_read_back(fl, err, sizeof err);
    if (!env)
        return -1;
    *len = env->publish->changes[0]->payload.len;
    lienthong__envelope__free_unpacked(env, NULL);
    return 0;
}

/* The gateway refused Publish fl of one change for what it holds (e, see
 * s_about_content): it would be refused for ever, so the change becomes a
 * mapping reject (s_too_big, s_malformed), recorded when the cursor passes
 * it, and the flight counts as done with nothing sent (the change is read,
 * and rejected, again after a restart, as other mapping rejects are);
 * unless, refused as malformed, the breaker holds its dataset
 * (s_breaker_holds). 0, 1 held, or -1 (then it is read again too). */
static int s_refused_alone(s_feed_t *f, s_flight_t *fl, const Lienthong__Error *e)
{
    const char *said = e->message ? e->message : "";
    /* The flight's one change, kept when it was packed. */
    const char *key = fl->n_changes == 1 && fl->sent ? fl->keys + fl->sent[0].key_at : NULL;
    s_change_t *c = calloc(1, sizeof *c);
    int rc = -1;
    if (!key || !c)
        goto out;
    c->id = fl->sent_last_id;
    int malformed = e->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    if (malformed && s_breaker_holds(f, c->id, key, said)) {
        rc = 1;
        goto out;
    }
    if (!malformed && s_alone_len(fl, &c->len) != 0)
        goto out;
    if ((malformed ? s_malformed(c, said) : s_too_big(c, fl->frame_len, said)) != 0 ||
        !(c->key = strdup(key)))
        goto out;
    /* With the flight's other mapping rejects, if any. */
    s_change_t *all = realloc(fl->unmapped, (fl->n_unmapped + 1) * sizeof *all);
    if (!all)
        goto out;
    all[fl->n_unmapped++] = *c;
    fl->unmapped = all;
    free(c);
    c = NULL;
    free(fl->frame);
    fl->frame = NULL;
    fl->frame_len = 0;
    fl->n_changes = 0;
    fl->sent_last_id = 0;
    fl->acked = 1;
    fl->failed = 0;
    f->alone_run += malformed;
    rc = 0;
out:
    s_changes_free(c, c ? 1 : 0);
    if (rc < 0)
        lt_error("source",
                 "dataset=%s change %" PRId64 " alone is refused by the gateway (%s) and "
                 "cannot be kept as a reject (out of memory): read again",
                 f->dataset, fl->first_id, lt_wire_error_name(e->code));
    return rc;
}

/* The gateway refused Publish fl, the newest, of several changes as
 * malformed: one of them may be at fault, and the whole Publish is refused
 * for it. Its changes are read again fewer at a time, half as many at each
 * refusal, until the one at fault is alone (then a reject,
 * s_refused_alone) and the others are published; then the limit again. */
static void s_narrow(s_feed_t *f, const s_flight_t *fl)
{
    f->narrow = fl->n_changes / 2 > 0 ? (int)(fl->n_changes / 2) : 1;
    f->narrow_to = fl->last_id;
    lt_log(f->held ? LT_LOG_DEBUG : LT_LOG_WARN, "source",
           "dataset=%s a Publish of %zu changes (%" PRId64 "..%" PRId64 ") is refused as "
           "malformed; reading them again %d at a time to find the change at fault",
           f->dataset, fl->n_changes, fl->first_id, fl->last_id, f->narrow);
}

/* The line a refused Publish of f gets (or the count it joins). */
static void s_say_refused(lt_source_t *self, s_feed_t *f, const Lienthong__Error *e, int not_found,
                          int wrong_type)
{
    /* A dataset the breaker holds had its error line once (s_breaker_holds,
     * s_hold_type): the refusals of each retry of it are not news. */
    int held = f->held && e->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    if ((not_found && f->grant.refused) || held)
        lt_debug("source", "dataset=%s %s: %s", f->dataset,
                 held ? "held, refused again" : "still not granted", e->message ? e->message : "");
    else if (!s_about_content(e) && !not_found && !wrong_type)
        /* Resent as it is until the gateway is well again (a full disk):
         * the first said at once, the rest counted once a minute. */
        lt_retrylog_refused(self->retrylog, &f->refusing, f->dataset, e->request_id,
                            lt_wire_error_name(e->code), e->message);
    else
        lt_warn("source",
                "gateway refused a publish of dataset=%s request_id=%016" PRIx64 " code=%s: %s",
                f->dataset, e->request_id, lt_wire_error_name(e->code),
                e->message ? e->message : "");
}

/* What becomes of flight i, refused for something other than the
 * dataset's type: a lone change refused for its content is kept as a
 * reject; otherwise the flight is made smaller or narrowed as the error
 * says, then read again (its content refused) or failed (retried as it
 * is), and a grant asked for again when the dataset was not found. */
static void s_retry_refused(lt_source_t *self, s_feed_t *f, size_t i, const Lienthong__Error *e,
                            int64_t now, int not_found)
{
    s_flight_t *fl = &f->flights[i];
    if (s_about_content(e) && fl->n_changes == 1 && s_refused_alone(f, fl, e) == 0)
        return;
    if (e->code == LIENTHONG__ERROR_CODE__ERR_TOO_LARGE && fl->n_changes > 1)
        s_smaller(f, fl);
    else if (e->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED && fl->n_changes > 1 &&
             i + 1 == f->n_flight)
        s_narrow(f, fl);
    if (s_about_content(e))
        s_reread(f, i, now);
    else
        s_fail(f, i, now);
    if (not_found)
        s_ask_grant(self, f);
}

static void s_on_error(lt_source_t *self, const Lienthong__Error *e, int64_t now)
{
    size_t i = 0;
    s_feed_t *f = s_find(self, e->request_id, &i);
    if (!f || f->flights[i].acked || f->flights[i].failed) {
        /* Not attributable, or about an old attempt: the ack timeout
         * decides for the Publish in flight. */
        lt_warn("source", "gateway error request_id=%016" PRIx64 " code=%s: %s", e->request_id,
                lt_wire_error_name(e->code), e->message ? e->message : "");
        return;
    }
    int not_found = e->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    char theirs[TYPE_CUT + 1];
    int wrong_type = s_wrong_type(f, e, theirs, sizeof theirs);
    if (wrong_type) {
        char then[128];
        snprintf(then, sizeof then, "its changes are read again with a back-off up to %d ms",
                 BACKOFF_MAX_MS);
        s_hold_type(f, theirs, "refuses every Publish of it", then);
    }
    s_say_refused(self, f, e, not_found, wrong_type);
    if (wrong_type) {
        s_reread(f, i, now); /* every row would be refused: none is looked for */
        return;
    }
    s_retry_refused(self, f, i, e, now, not_found);
}

/* ---- the gateway's cursors ------------------------------------------- */

static void s_ask_status(lt_source_t *self)
{
    Lienthong__StatusRequest r = LIENTHONG__STATUS_REQUEST__INIT;
    if (lt_adapter_send(&self->conn, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &r) != 0)
        lt_warn("source", "cannot ask the gateway's status: %s", zmq_strerror(zmq_errno()));
}

/* ---- datasets the directory does not grant (PROTOCOL.md 8.1, 8.3) ------ *
 * A Publish refused as not found is most often a misspelt `dataset`: the
 * gateway's status tells whether the directory lists it as this member's.
 * If not, one error line per directory version says so, and the dataset is
 * retried every LT_GRANTS_RETRY_MS (a newer directory may grant it) while the
 * other datasets go on. */

static void s_ask_grant(lt_source_t *self, s_feed_t *f)
{
    f->ask_grant = 1;
    s_ask_status(self);
}

static void s_on_grants(lt_source_t *self, const Lienthong__StatusReply *r)
{
    char then[128];
    snprintf(then, sizeof then, "publishing it again every %d s until a directory grants it",
             LT_GRANTS_RETRY_MS / 1000);
    for (size_t i = 0; i < self->n_feeds; i++) {
        s_feed_t *f = &self->feeds[i];
        if (!f->ask_grant)
            continue;
        f->ask_grant = 0;
        if (lt_grants_on_status(&f->grant, r, LT_GRANTS_SOURCE, f->dataset, "source", self->path,
                                then) &&
            f->retry_at)
            f->retry_at = lt_clock_mono_ms() + LT_GRANTS_RETRY_MS;
    }
}

/* Each dataset's record type against the one the status gives it
 * (LocalGrants.types, PROTOCOL.md 8.1, 8.3), before its first Publish and
 * at each status: another one holds it (s_hold_type), with nothing
 * published and the status asked again every LT_GRANTS_RETRY_MS (s_turn)
 * until a directory gives it this one. A status that does not tell (a
 * gateway that predates the field) leaves the refusal to tell
 * (s_wrong_type), and releases a dataset it held. */
static void s_on_types(lt_source_t *self, const Lienthong__StatusReply *r)
{
    char then[128];
    snprintf(then, sizeof then,
             "nothing is published until its status gives this record type (asked every %d s)",
             LT_GRANTS_RETRY_MS / 1000);
    for (size_t i = 0; i < self->n_feeds; i++) {
        s_feed_t *f = &self->feeds[i];
        const char *theirs = lt_grants_record_type(r, f->dataset);
        if (theirs && strcmp(theirs, f->record_type) != 0) {
            /* Only a hold the status made is the status's to release: one
             * the breaker made for another fault stays its own. */
            int was = f->held;
            s_hold_type(f, theirs, "would refuse every Publish of it, as its status tells", then);
            f->type_told |= !was;
        } else if (f->type_told) {
            lt_info("source", "dataset=%s the gateway's status %s: publishing", f->dataset,
                    theirs ? "gives it its record type now" : "no longer tells its record type");
            f->held = f->type_told = 0;
            f->held_why[0] = '\0';
        }
    }
}

/* 1 while a dataset waits for a status that gives it its record type. */
static int s_any_told(const lt_source_t *self)
{
    for (size_t i = 0; i < self->n_feeds; i++)
        if (self->feeds[i].type_told)
            return 1;
    return 0;
}

/* The gateway's durable source cursor of a dataset in *gw (0 when it has
 * none); 1 when the status lists the dataset, 0 when it does not. */
static int s_gateway_cursor(const Lienthong__StatusReply *r, const char *dataset, int64_t *gw)
{
    *gw = 0;
    for (size_t i = 0; i < r->n_streams; i++)
        if (strcmp(r->streams[i]->stream, dataset) == 0) {
            if (r->streams[i]->source_cursor)
                *gw = strtoll(r->streams[i]->source_cursor, NULL, 10);
            return 1;
        }
    return 0;
}

/* Starts every dataset not started yet, with the gateway's cursors. A
 * dataset whose database is down, or that the status does not list
 * (s_unlisted), is tried again with the next status (asked every
 * STATUS_RETRY_MS until every dataset started). Returns 0, or
 * -1 after a fatal error (logged). */
static int s_on_status(lt_source_t *self, const Lienthong__StatusReply *r)
{
    char err[2048];
    self->have_status = 1;
    for (size_t i = 0; i < self->n_feeds; i++) {
        s_feed_t *f = &self->feeds[i];
        if (f->started)
            continue;
        int64_t gw = 0;
        int listed = s_gateway_cursor(r, f->dataset, &gw);
        int rc = s_feed_start(f, gw, listed, err, sizeof err);
        if (rc == -3) {
            self->have_status = 0; /* asked again in STATUS_RETRY_MS */
            continue;
        }
        if (rc == -1) {
            lt_error("source", "cannot start: %s", err);
            return -1;
        }
        if (rc == -2) {
            s_db_failed(f, "cannot start", err);
            self->have_status = 0;
            continue;
        }
        s_db_ok(f);
        f->started = 1;
        f->short_read = 1;
        lt_info("source",
                "started dataset=%s table=%s cursor=%" PRId64 " shift=%" PRId64 " database=%s",
                f->dataset, f->table, f->cursor, f->shift, lt_db_name(f->db));
    }
    return 0;
}

/* ---- reference checks (PROTOCOL.md 5.7) ------------------------------- */

/* The outcomes of one reference request: a failed check goes into
 * lt_rejects (kind "reference"), a passed one removes the row's reference
 * reject, all in one transaction of their own (the checks came after the
 * cursor was stored). */
static void s_on_ref(void *arg, const lt_refcheck_result_t *r, size_t n)
{
    s_feed_t *f = arg;
    char at[32], err[1024] = "";
    s_utc_now(at);
    int begun = lt_db_begin(f->db, 1, err, sizeof err) == 0, rc = begun ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char reasons[LT_RULES_REASON_MAX + 160];
        snprintf(reasons, sizeof reasons, "%s: %s", r[i].rule, r[i].reason);
        lt_db_reject_t rj = {.dataset = f->dataset,
                             .key = r[i].key,
                             .kind = "reference",
                             .reasons = reasons,
                             .cursor = r[i].cursor,
                             .at = at};
        /* The reason quotes the value looked for, a record's content: it
         * stays in lt_rejects, the log names the rule and the dataset
         * (adapters/README.md: the adapters never log record contents). */
        if (!r[i].found && f->logged++ < REFUSALS_LOGGED)
            lt_warn("source",
                    "dataset=%s key=%s failed a reference check: %s: no such record in %s (the "
                    "value is in lt_rejects)",
                    f->dataset, r[i].key, r[i].rule, r[i].target);
        if (!r[i].found)
            rc = lt_db_reject(f->db, &rj, err, sizeof err);
        else if (f->rejects > 0) /* a check passed: its reject goes, if any */
            rc = s_clear(f, r[i].key, LT_DB_REJECT_REFERENCE, err, sizeof err) < 0 ? -1 : 0;
    }
    if (rc == 0 && lt_db_commit(f->db, err, sizeof err) == 0) {
        for (size_t i = 0; i < n; i++)
            f->ref_failed += !r[i].found;
        /* Counted again rather than tracked, as s_commit_acked does. */
        if (lt_db_reject_count(f->db, f->dataset, &f->rejects, err, sizeof err) != 0)
            f->rejects = 1; /* unknown: keep clearing */
        return;
    }
    if (begun)
        lt_db_rollback(f->db);
    lt_warn("source", "dataset=%s %zu reference checks not recorded: %s", f->dataset, n, err);
}

/* 1 when env answers a reference check in flight. */
static int s_ref_answer(lt_source_t *self, const Lienthong__Envelope *env)
{
    for (size_t i = 0; i < self->n_feeds; i++)
        if (self->feeds[i].refs && lt_refcheck_answer(self->feeds[i].refs, env))
            return 1;
    return 0;
}

/* Sends the next reference checks of each dataset, one request at a time. */
static int s_ref_send(lt_source_t *self, int64_t now)
{
    int busy = 0;
    for (size_t i = 0; i < self->n_feeds; i++) {
        lt_refcheck_t *r = self->feeds[i].refs;
        if (!r)
            continue;
        lt_refcheck_tick(r, now);
        const Lienthong__VerifyRequest *q = NULL;
        if (lt_refcheck_next(r, s_request_id(self), now, &q) &&
            lt_adapter_send(&self->conn, LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST, (void *)q) != 0)
            lt_warn("source", "cannot send reference checks: %s", zmq_strerror(zmq_errno()));
        busy |= lt_refcheck_busy(r);
    }
    return busy;
}

static int s_handle(lt_source_t *self, const Lienthong__Envelope *env, int64_t now)
{
    if ((env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY ||
         env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) &&
        s_ref_answer(self, env))
        return 0;
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK)
        s_on_ack(self, env->publish_ack);
    else if (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        s_on_error(self, env->error, now);
    else if (env->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY) {
        s_on_grants(self, env->status_reply);
        s_on_types(self, env->status_reply);
        return self->have_status ? 0 : s_on_status(self, env->status_reply);
    } else
        lt_warn("source", "ignored an unexpected %s from the gateway",
                lt_wire_body_name(env->body_case));
    return 0;
}

/* ---- the loop --------------------------------------------------------- */

/* 1 when flight i waits for an ack (sent, neither acked nor failed). */
static int s_waiting(const s_feed_t *f, size_t i)
{
    return !f->flights[i].acked && !f->flights[i].failed;
}

/* Fails every Publish that has waited too long for its ack. */
static void s_check_timeout(s_feed_t *f, int64_t now)
{
    for (size_t i = 0; i < f->n_flight; i++) {
        const s_flight_t *fl = &f->flights[i];
        if (!s_waiting(f, i) || now - fl->sent_ms < ACK_TIMEOUT_MS)
            continue;
        lt_warn("source",
                "no PublishAck within %d ms for request_id=%016" PRIx64
                " (dataset %s, changes %" PRId64 "..%" PRId64 ")",
                ACK_TIMEOUT_MS, fl->request_id, f->dataset, fl->first_id, fl->last_id);
        s_fail(f, i, now);
    }
}

/* The earliest moment the feed has something to do (a dataset not started
 * waits for the next status reply). */
static int64_t s_feed_due(const s_feed_t *f, int64_t until, int stopping)
{
    if (!f->started || f->type_told)
        return until;
    if (!stopping && !f->retry_at && f->n_flight < f->max_flight && f->read_at < until)
        until = f->read_at;
    if (f->retry_at && f->retry_at < until)
        until = f->retry_at;
    for (size_t i = 0; i < f->n_flight; i++)
        if (s_waiting(f, i) && f->flights[i].sent_ms + ACK_TIMEOUT_MS < until)
            until = f->flights[i].sent_ms + ACK_TIMEOUT_MS;
    return until;
}

/* Milliseconds to wait before the next thing to do. */
static int s_timeout(const lt_source_t *self, int64_t now, int64_t stop_at, int64_t status_at)
{
    int64_t until = now + 1000;
    if ((!self->have_status || s_any_told(self)) && status_at < until)
        until = status_at;
    for (size_t i = 0; i < self->n_feeds; i++)
        until = s_feed_due(&self->feeds[i], until, stop_at != 0);
    if (stop_at && stop_at < until)
        until = stop_at;
    return until <= now ? 0 : (int)(until - now);
}

static void s_report(lt_source_t *self, int64_t now, int force)
{
    if (now < self->report_at && !force)
        return;
    for (size_t i = 0; i < self->n_feeds; i++) {
        s_feed_t *f = &self->feeds[i];
        if (f->acked_since > 0 || force)
            lt_info("source",
                    "dataset=%s cursor=%" PRId64 " published=%" PRIu64 " requeued=%" PRIu64
                    " refused=%" PRIu64 " unmapped=%" PRIu64 " references_failed=%" PRIu64
                    " references_unknown=%" PRIu64 " rejects=%" PRId64 " in_flight=%zu",
                    f->dataset, f->cursor, f->acked_total + f->acked_since, f->requeued, f->refused,
                    f->unmapped, f->ref_failed, f->refs ? lt_refcheck_unknown(f->refs) : 0,
                    f->rejects, f->n_flight);
        if (f->logged > REFUSALS_LOGGED)
            lt_warn("source", "dataset=%s %u more refusals not logged one by one: see lt_rejects",
                    f->dataset, f->logged - REFUSALS_LOGGED);
        f->logged = 0;
        f->acked_total += f->acked_since;
        f->acked_since = 0;
    }
    self->report_at = now + REPORT_MS;
}

/* ---- --once: datasets that cannot be published ----------------------- *
 * A dataset the breaker holds, or the directory does not grant, waits for
 * a fixed configuration or a newer directory: it would be retried for
 * ever, so `--once` leaves it once the other datasets are published, and
 * ends with an error naming it (docs/operations.md, "Records refused
 * by the dataset's rules"; man/lienthong-source.1.scd). */

/* Why f cannot be published this run, or NULL when it can. */
static const char *s_stuck(const s_feed_t *f)
{
    if (f->held)
        return f->held_why[0] ? f->held_why
                              : "the owner's gateway refuses its rows as malformed, even alone, "
                                "and the breaker holds it (see its error line)";
    if (f->grant.refused)
        return "the owner's directory does not grant it to this member (see its error line)";
    return NULL;
}

/* After `--once`: 1, each dataset it left named with why, or 0 when none. */
static int s_once_left(const lt_source_t *self)
{
    int left = 0;
    for (size_t i = 0; i < self->n_feeds; i++) {
        const char *why = s_stuck(&self->feeds[i]);
        if (!why)
            continue;
        lt_error("source", "dataset=%s is not published: %s; --once ends without it",
                 self->feeds[i].dataset, why);
        left = 1;
    }
    return left;
}

/* Reads and sends what each started dataset has. Returns 1 while any
 * dataset has changes waiting or publishes in flight (with `once`, but
 * one that cannot be published, s_stuck). */
static int s_work(lt_source_t *self, int once, int64_t now, int stopping)
{
    int busy = !self->have_status;
    for (size_t i = 0; i < self->n_feeds; i++) {
        s_feed_t *f = &self->feeds[i];
        if (!f->started) {
            busy = 1;
            continue;
        }
        /* A dataset of another record type than its status gives waits
         * for a status that gives this one (s_on_types). */
        if ((once && s_stuck(f)) || f->type_told)
            continue;
        if (f->retry_at && now >= f->retry_at)
            s_resend(f, now);
        if (!stopping && !f->retry_at &&
            (now >= f->read_at || (once && !f->n_flight && !f->reread))) {
            int r = s_fill(f, now);
            busy |= r != 0;
        }
        /* Changes to be read again (s_reread) are waiting too. */
        busy |= f->n_flight > 0 || f->retry_at != 0 || f->reread;
    }
    return busy;
}

/* Waits for the gateway and the databases' notifications, then handles
 * what came. Returns 0, or -1 on a fatal error. */
static int s_wait(lt_source_t *self, int timeout)
{
    zmq_pollitem_t items[1 + MAX_FEEDS];
    s_feed_t *of[1 + MAX_FEEDS] = {NULL};
    size_t n = 0;
    items[n++] = (zmq_pollitem_t){lt_adapter_socket(&self->conn), 0, ZMQ_POLLIN, 0};
    for (size_t i = 0; i < self->n_feeds; i++) {
        int fd = self->feeds[i].started ? lt_db_wait_fd(self->feeds[i].db) : -1;
        if (fd < 0)
            continue;
        of[n] = &self->feeds[i];
        items[n++] = (zmq_pollitem_t){NULL, fd, ZMQ_POLLIN, 0};
    }
    if (zmq_poll(items, (int)n, timeout) < 0 && zmq_errno() != EINTR) {
        lt_error("source", "cannot poll: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    int64_t now = lt_clock_mono_ms();
    for (size_t i = 1; i < n; i++)
        if ((items[i].revents & ZMQ_POLLIN) && lt_db_news(of[i]->db)) {
            of[i]->read_at = now; /* committed changes: publish them now */
            of[i]->short_read = 1;
        }
    /* Take every message already there, so that several acks are stored
     * in one transaction. */
    for (int k = 0; k < 2 * MAX_FLIGHT * (int)self->n_feeds + 2; k++) {
        Lienthong__Envelope *env = NULL;
        int r = lt_adapter_recv(&self->conn, 0, &env);
        if (r < 0) {
            lt_error("source", "gateway socket failed: %s", zmq_strerror(zmq_errno()));
            return -1;
        }
        if (r == 0)
            break;
        r = s_handle(self, env, lt_clock_mono_ms());
        lt_wire_free(&env);
        if (r < 0)
            return -1;
    }
    return 0;
}

static size_t s_in_flight(const lt_source_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n_feeds; i++)
        n += self->feeds[i].n_flight;
    return n;
}

/* One turn of the loop. Returns 1 to go on, 0 when done, -1 on error. */
static int s_turn(lt_source_t *self, int once, int64_t *stop_at, int64_t *status_at)
{
    int64_t now = lt_clock_mono_ms();
    if (lt_adapter_stopping() && !*stop_at) {
        *stop_at = now + STOP_WAIT_MS;
        lt_info("source", "stopping: waiting up to %d ms for %zu publish(es) in flight",
                STOP_WAIT_MS, s_in_flight(self));
    }
    if (*stop_at && (s_in_flight(self) == 0 || now >= *stop_at))
        return 0;
    if ((!self->have_status || s_any_told(self)) && now >= *status_at && !*stop_at) {
        s_ask_status(self);
        *status_at = now + (self->have_status ? LT_GRANTS_RETRY_MS : STATUS_RETRY_MS);
    }
    int busy = s_work(self, once, now, *stop_at != 0);
    busy |= s_ref_send(self, now);
    if (once && !busy)
        return 0;
    if (s_wait(self, s_timeout(self, now, *stop_at, *status_at)) != 0)
        return -1;
    now = lt_clock_mono_ms();
    for (size_t i = 0; i < self->n_feeds; i++) {
        s_check_timeout(&self->feeds[i], now);
        s_commit_acked(&self->feeds[i]);
    }
    lt_retrylog_tick(self->retrylog);
    s_report(self, now, 0);
    return 1;
}

int lt_source_run(lt_source_t *self, int once)
{
    char err[1024];
    if (lt_adapter_signals() != 0 ||
        lt_adapter_connect(&self->conn, self->socket, err, sizeof err) != 0) {
        lt_error("source", "cannot start: %s", err);
        return 1;
    }
    self->req_base = lt_ad_random64();
    lt_info("source", "starting %zu dataset(s) gateway=%s", self->n_feeds, self->socket);
    self->report_at = lt_clock_mono_ms() + REPORT_MS;
    int64_t stop_at = 0, status_at = 0;
    int r;
    while ((r = s_turn(self, once, &stop_at, &status_at)) > 0)
        ;
    s_report(self, lt_clock_mono_ms(), 1);
    if (r == 0 && s_in_flight(self) > 0)
        lt_warn("source",
                "stopped with %zu publish(es) unacknowledged; they are sent again at "
                "the next start",
                s_in_flight(self));
    if (r == 0 && once && s_once_left(self))
        return 1;
    return r < 0 ? 1 : 0;
}

/* cmd_import: `lienthong import csv`, which bulk-publishes CSV exports into
 * a dataset the member owns, through its gateway's local API (PROTOCOL.md
 * 8.1), with the adapters' column <-> field mapping (adapters/lt_csv.h).
 *
 * The file is streamed (read in pieces, parsed as it comes, a row kept only
 * until it is checked), so its size does not matter. Good rows go out in
 * Publish messages of `batch` records, several in flight; a bad row is
 * written to the report as "FILE:LINE: column NAME: reason" and the import
 * goes on. Publishes carry no source cursor, so a Publish resent after a
 * lost ack or an error is stored again, as is a file imported twice: each
 * record replaces its key's record with the same values, and the dataset
 * ends the same (the import is idempotent). The import ends when every
 * Publish is acknowledged, i.e. durable at the owner.
 *
 * Progress: a bar with rows/s and the time left on a terminal, a plain line
 * every 10 s otherwise. Exit: 0 every row published, 3 some rows rejected
 * (the others published), 1 failure, 2 usage or configuration error, 4 the
 * report could not be written whole (a full disk): the rows went as with 0
 * or 3, but which were rejected is not all told. */
#include "lt_adapter.h"
#include "lt_clock.h"
#include "lt_cli.h"
#include "lt_csv.h"
#include "lt_file.h"
#include "lt_wire.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define MAX_FLIGHT     32
#define ACK_TIMEOUT_MS 10000 /* resend a Publish not acknowledged by then */
#define SILENCE_MS     60000 /* give up when the gateway says nothing for so long */
#define BACKOFF_MAX_MS 5000
#define READ_CHUNK     (1u << 20)
#define BAR_MS         200
#define LINE_MS        10000

static const char *USAGE =
    "lienthong import csv --config FILE [--delimiter C] [--report FILE] [--dry-run] CSV...\n"
    "exit status: 0 every row published, 3 some rows rejected (the others published),\n"
    "             1 a failure, 2 a usage error, 4 the report could not be written whole";

typedef struct {
    uint64_t request_id;
    uint8_t *frame;
    size_t len, records;
    int64_t sent_at;
    int64_t resend_at; /* 0: waiting for its ack */
} s_flight_t;

typedef struct {
    lt_csv_t *csv;
    lt_adapter_conn_t conn;
    int dry_run;
    FILE *report;
    const char *report_name; /* --report, or NULL: standard output */
    int report_errno;        /* the report's first write error, 0: none */
    const char *file;
    /* the Publish being filled */
    Lienthong__Change *changes, **ptrs;
    size_t n, cap;
    s_flight_t flights[MAX_FLIGHT];
    size_t n_flight;
    uint64_t req_base, req_count;
    int backoff_ms;
    int64_t heard_at; /* the gateway's last message */
    char err[1024];
    /* progress */
    int tty;
    int64_t t0, shown_at;
    uint64_t bytes_total, bytes_done, acked;
} s_import_t;

/* ---- publishing ------------------------------------------------------ */

static void s_batch_clear(s_import_t *im)
{
    for (size_t i = 0; i < im->n; i++) {
        free(im->changes[i].key);
        free(im->changes[i].payload.data);
    }
    im->n = 0;
}

static void s_flight_done(s_import_t *im, size_t i)
{
    free(im->flights[i].frame);
    im->flights[i] = im->flights[--im->n_flight];
}

/* Index of the flight with this request id, or -1. */
static long s_find(const s_import_t *im, uint64_t id)
{
    for (size_t i = 0; i < im->n_flight; i++)
        if (im->flights[i].request_id == id)
            return (long)i;
    return -1;
}

static void s_send(s_import_t *im, s_flight_t *fl, int64_t now)
{
    fl->sent_at = now;
    fl->resend_at = 0;
    if (lt_adapter_send_frame(&im->conn, fl->frame, fl->len) != 0) {
        fl->resend_at = now + im->backoff_ms; /* the socket will be back */
        im->backoff_ms = im->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : im->backoff_ms * 2;
    }
}

/* A retryable refusal resends after a back-off; any other stops the
 * import (the dataset is not ours, a record does not fit...). */
static int s_on_error(s_import_t *im, const Lienthong__Error *e, int64_t now)
{
    long i = s_find(im, e->request_id);
    if (i < 0)
        return 0;
    if (e->code == LIENTHONG__ERROR_CODE__ERR_INTERNAL ||
        e->code == LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE ||
        e->code == LIENTHONG__ERROR_CODE__ERR_TIMEOUT) {
        im->flights[i].resend_at = now + im->backoff_ms;
        im->backoff_ms = im->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : im->backoff_ms * 2;
        return 0;
    }
    snprintf(im->err, sizeof im->err, "the gateway refused a publish to %s: %s: %s%s",
             lt_csv_dataset(im->csv), lt_wire_error_name(e->code), e->message ? e->message : "",
             e->code == LIENTHONG__ERROR_CODE__ERR_TOO_LARGE
                 ? " (a smaller `batch` in the import's configuration sends fewer rows at a time)"
                 : "");
    return -1;
}

/* Waits up to timeout_ms for the gateway, handles what came, resends what
 * is due. 0, or -1 with im->err. */
static int s_pump(s_import_t *im, int timeout_ms)
{
    Lienthong__Envelope *env = NULL;
    int r = lt_adapter_recv(&im->conn, timeout_ms, &env);
    int64_t now = lt_clock_mono_ms();
    if (r < 0) {
        snprintf(im->err, sizeof im->err, "gateway socket failed: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    int rc = 0;
    if (r > 0) {
        im->heard_at = now;
        long i = env->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK
                     ? s_find(im, env->publish_ack->request_id)
                     : -1;
        if (i >= 0) {
            im->acked += im->flights[i].records;
            im->backoff_ms = 100;
            s_flight_done(im, (size_t)i);
        } else if (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
            rc = s_on_error(im, env->error, now);
        lt_wire_free(&env);
    }
    for (size_t i = 0; rc == 0 && i < im->n_flight; i++) {
        s_flight_t *fl = &im->flights[i];
        if ((fl->resend_at && now >= fl->resend_at) ||
            (!fl->resend_at && now - fl->sent_at >= ACK_TIMEOUT_MS))
            s_send(im, fl, now);
    }
    if (rc == 0 && im->n_flight && now - im->heard_at > SILENCE_MS) {
        snprintf(im->err, sizeof im->err, "the gateway at %s has not answered for %d s",
                 lt_csv_socket(im->csv), SILENCE_MS / 1000);
        rc = -1;
    }
    return rc;
}

/* Packs the filled Publish into a flight and sends it, after waiting for a
 * free place. */
static int s_flush(s_import_t *im)
{
    if (im->n == 0 || im->dry_run) {
        s_batch_clear(im);
        return 0;
    }
    while (im->n_flight >= MAX_FLIGHT)
        if (s_pump(im, 1000) != 0)
            return -1;
    if (++im->req_count + im->req_base == 0)
        ++im->req_count; /* request ids are never 0 */
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT;
    pub.request_id = im->req_base + im->req_count;
    pub.dataset = (char *)lt_csv_dataset(im->csv);
    pub.n_changes = im->n;
    pub.changes = im->ptrs;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_PUBLISH;
    env.publish = &pub;
    s_flight_t *fl = &im->flights[im->n_flight];
    fl->len = lienthong__envelope__get_packed_size(&env);
    if (!(fl->frame = malloc(fl->len))) {
        snprintf(im->err, sizeof im->err, "out of memory");
        return -1;
    }
    lienthong__envelope__pack(&env, fl->frame);
    fl->request_id = pub.request_id;
    fl->records = im->n;
    im->n_flight++;
    s_send(im, fl, lt_clock_mono_ms());
    s_batch_clear(im);
    return 0;
}

/* A good row (lt_csv_record_fn): into the Publish being filled. */
static int s_on_record(void *arg, const char *key, const uint8_t *payload, size_t len, long line)
{
    s_import_t *im = arg;
    (void)line;
    Lienthong__Change *c = &im->changes[im->n];
    lienthong__change__init(c);
    c->key = strdup(key);
    c->payload.data = malloc(len ? len : 1);
    if (!c->key || !c->payload.data) {
        free(c->key);
        free(c->payload.data);
        snprintf(im->err, sizeof im->err, "out of memory");
        return -1;
    }
    memcpy(c->payload.data, payload, len);
    c->payload.len = len;
    im->ptrs[im->n++] = c;
    return im->n == im->cap ? s_flush(im) : 0;
}

/* A bad row (lt_csv_reject_fn): one line of the report. */
static void s_on_reject(void *arg, long line, const char *column, const char *reason)
{
    s_import_t *im = arg;
    errno = 0;
    if (fprintf(im->report, "%s:%ld: column %s: %s\n", im->file, line, column, reason) < 0 &&
        !im->report_errno)
        im->report_errno = errno ? errno : EIO;
}

/* Closes the report (flushes standard output); 0, or -1 when a line of it
 * was not written: a full disk shows only when a buffer is flushed, so
 * the report's last write is checked as its first. */
static int s_report_close(s_import_t *im)
{
    if (!im->report)
        return 0;
    errno = 0;
    if ((ferror(im->report) || fflush(im->report) != 0) && !im->report_errno)
        im->report_errno = errno ? errno : EIO;
    errno = 0;
    if (im->report != stdout && fclose(im->report) != 0 && !im->report_errno)
        im->report_errno = errno ? errno : EIO;
    im->report = NULL;
    return im->report_errno ? -1 : 0;
}

/* ---- progress --------------------------------------------------------- */

static void s_progress(s_import_t *im, int last)
{
    int64_t now = lt_clock_mono_ms();
    if (!last && now - im->shown_at < (im->tty ? BAR_MS : LINE_MS))
        return;
    im->shown_at = now;
    uint64_t rows, good, bad;
    lt_csv_counts(im->csv, &rows, &good, &bad);
    double secs = (double)(now - im->t0) / 1000.0, rate = secs > 0 ? (double)rows / secs : 0;
    double part = im->bytes_total ? (double)im->bytes_done / (double)im->bytes_total : 0;
    long left = part > 0.001 && part < 1 ? (long)(secs / part - secs) : 0;
    if (im->tty) {
        char bar[31];
        int fill = (int)(part * 30);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = 0;
        fprintf(stderr, "\r[%s] %3d%% %" PRIu64 " rows %.0f rows/s ETA %ld:%02ld %s", bar,
                (int)(part * 100), rows, rate, left / 60, left % 60, last ? "\n" : "");
    } else
        fprintf(stderr,
                "import: %s: %d%% %" PRIu64 " rows (%" PRIu64
                " rejected), %.0f rows/s, %ld s left\n",
                im->file, (int)(part * 100), rows, bad, rate, left);
    fflush(stderr);
}

/* ---- one file ------------------------------------------------------- */

static int s_file(s_import_t *im, const char *path)
{
    char err[1024];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0) {
        snprintf(im->err, sizeof im->err, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    im->file = path;
    im->bytes_total = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
    im->bytes_done = 0;
    char *buf = malloc(READ_CHUNK);
    int rc = buf && lt_csv_begin(im->csv, path, s_on_record, s_on_reject, im, err, sizeof err) == 0
                 ? 0
                 : -1;
    if (rc)
        snprintf(im->err, sizeof im->err, "%s", buf ? err : "out of memory");
    ssize_t got;
    while (rc == 0 && (got = read(fd, buf, READ_CHUNK)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            snprintf(im->err, sizeof im->err, "cannot read %s: %s", path, strerror(errno));
            rc = -1;
        } else if (lt_csv_feed(im->csv, buf, (size_t)got, err, sizeof err) != 0) {
            if (!im->err[0])
                snprintf(im->err, sizeof im->err, "%s", err);
            rc = -1;
        }
        im->bytes_done += got > 0 ? (uint64_t)got : 0;
        s_progress(im, 0);
    }
    if (rc == 0 && lt_csv_end(im->csv, err, sizeof err) != 0) {
        if (!im->err[0])
            snprintf(im->err, sizeof im->err, "%s", err);
        rc = -1;
    }
    free(buf);
    close(fd);
    return rc;
}

/* ---- the command ------------------------------------------------------- */

static int s_run(s_import_t *im, char **files, int n_files)
{
    for (int i = 0; i < n_files; i++)
        if (s_file(im, files[i]) != 0)
            return -1;
    if (s_flush(im) != 0)
        return -1;
    while (im->n_flight > 0)
        if (s_pump(im, 1000) != 0)
            return -1;
    return 0;
}

static int s_setup(s_import_t *im, const char *config, int delimiter, const char *report, char *err,
                   size_t errlen)
{
    if (!(im->csv = lt_csv_new(config, err, errlen)))
        return 2;
    if (delimiter)
        lt_csv_set_delimiter(im->csv, (char)delimiter);
    im->cap = (size_t)lt_csv_batch(im->csv);
    im->changes = calloc(im->cap, sizeof *im->changes);
    im->ptrs = calloc(im->cap, sizeof *im->ptrs);
    im->report = report ? fopen(report, "w") : stdout;
    im->report_name = report;
    if (!im->changes || !im->ptrs || !im->report) {
        snprintf(err, errlen, "%s%s%s", report && !im->report ? "cannot write " : "out of memory",
                 report && !im->report ? report : "", report && !im->report ? "" : "");
        return 1;
    }
    /* A one-shot command: no gateway is an error now, not a wait. */
    struct stat st;
    if (!im->dry_run && stat(lt_csv_socket(im->csv), &st) != 0) {
        snprintf(err, errlen, "no gateway socket at %s (is the gateway running?): %s",
                 lt_csv_socket(im->csv), strerror(errno));
        return 1;
    }
    if (!im->dry_run && lt_adapter_connect(&im->conn, lt_csv_socket(im->csv), err, errlen) != 0)
        return 1;
    im->req_base = lt_ad_random64();
    im->backoff_ms = 100;
    im->tty = isatty(2);
    im->t0 = im->heard_at = im->shown_at = lt_clock_mono_ms();
    return 0;
}

static void s_teardown(s_import_t *im)
{
    s_batch_clear(im);
    while (im->n_flight)
        s_flight_done(im, 0);
    (void)s_report_close(im); /* after a setup error: nothing written to lose */
    free(im->changes);
    free(im->ptrs);
    lt_adapter_disconnect(&im->conn);
    lt_csv_destroy(&im->csv);
}

/* "," or "\t" or "tab": one character. */
static int s_delimiter(const char *text)
{
    if (strcmp(text, "\\t") == 0 || strcmp(text, "tab") == 0)
        return '\t';
    return strlen(text) == 1 && text[0] != '"' && text[0] != '\n' && text[0] != '\r' ? text[0] : -1;
}

static int s_summary(s_import_t *im, int rc)
{
    s_progress(im, 1);
    uint64_t rows, good, bad;
    lt_csv_counts(im->csv, &rows, &good, &bad);
    double secs = (double)(lt_clock_mono_ms() - im->t0) / 1000.0;
    fprintf(stderr,
            "import: %" PRIu64 " rows, %" PRIu64 " %s, %" PRIu64
            " rejected in %.1f s (%.0f rows/s)\n",
            rows, im->dry_run ? good : im->acked, im->dry_run ? "valid (dry run)" : "published",
            bad, secs, secs > 0 ? (double)rows / secs : 0);
    if (rc != 0)
        return lt_cli_fail(1, "import", "%s", im->err);
    return bad ? 3 : 0;
}

/* The options after "csv": -1 when the import is to go on, or the exit
 * status to return at once (0 after --help, 2 for a bad option). */
static int s_options(int argc, char **argv, const char **config, const char **report,
                     int *delimiter, s_import_t *im)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'}, {"delimiter", required_argument, 0, 'd'},
        {"report", required_argument, 0, 'r'}, {"dry-run", no_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    int c;
    while ((c = lt_cli_getopt(argc, argv, ":c:h", opts)) != -1) {
        if (c == 'c')
            *config = optarg;
        else if (c == 'd' && (*delimiter = s_delimiter(optarg)) < 0)
            return lt_cli_fail(2, "import", "--delimiter takes one character or \\t, got '%s'",
                               optarg);
        else if (c == 'r')
            *report = optarg;
        else if (c == 'n')
            im->dry_run = 1;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE);
            return 0;
        } else if (c != 'd')
            return lt_cli_bad_opt("import csv", c, opts, argv, USAGE);
    }
    return -1;
}

/* The import proper, once the arguments are good: its exit status (the
 * summary's, or 4 for a report that could not be written, or setup's). */
static int s_import(s_import_t *im, const char *config, int delimiter, const char *report,
                    char **files, int n_files)
{
    char err[1024];
    int rc = s_setup(im, config, delimiter, report, err, sizeof err);
    if (rc != 0)
        return lt_cli_fail(rc, "import", "%s", err);
    rc = s_summary(im, s_run(im, files, n_files));
    /* The rows went (or were checked) whatever became of the report:
     * its own exit status, 4, unless the import failed too. */
    if (s_report_close(im) != 0)
        rc = lt_cli_fail(rc == 1 ? 1 : 4, "import",
                         "cannot write the report of rejected rows to %s: %s; it may lack "
                         "some of them (--dry-run with another --report lists them again)",
                         im->report_name ? im->report_name : "standard output",
                         strerror(im->report_errno));
    return rc;
}

int lt_cmd_import(int argc, char **argv)
{
    const char *config = NULL, *report = NULL;
    int delimiter = 0;
    s_import_t im;
    memset(&im, 0, sizeof im);
    optind = 1;
    opterr = 0;
    if (argc < 2 || strcmp(argv[1], "csv") != 0)
        return argc >= 2 && strcmp(argv[1], "--help") == 0
                   ? (printf("usage: %s\n", USAGE), 0)
                   : lt_cli_bad_word("import", "format", argc < 2 ? NULL : argv[1], "'csv'", USAGE);
    argc--, argv++;
    int rc = s_options(argc, argv, &config, &report, &delimiter, &im);
    if (rc >= 0)
        return rc;
    if (!config || optind >= argc)
        return lt_cli_fail(2, "import", "missing %s\nusage: %s",
                           config ? "a CSV file" : "--config FILE", USAGE);
    if (lt_cli_no_empty_args("import", "CSV file", argc, argv, optind, USAGE))
        return 2;
    rc = s_import(&im, config, delimiter, report, argv + optind, argc - optind);
    s_teardown(&im);
    return rc;
}

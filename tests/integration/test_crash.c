/* test_crash: the crash rule of docs/ARCHITECTURE.md ("Durability") with real processes on
 * 127.0.0.1.
 *
 * The owner VN/GOV/BCA publishes VN/GOV/BCA/population from its agency
 * database (`lienthong-popgen --citizens 20000`, tracked by `lienthong source
 * --install`) and derives the view population.p38 (personal_id, full_name,
 * date_of_birth, current_province, status where current_province = "38").
 * VN/PROV/38 replicates the view and its sink writes it into a table of its
 * own database; VN/GOV/BHXH replicates the whole dataset.
 *
 * While the agency database keeps changing (popgen --changes rounds, and the
 * test's own small transactions: deletes, inserts, re-inserts of deleted
 * keys, key changes, moves into and out of province 38, renames), a killer
 * picks at random (fixed seed, printed) among the owner gateway, the consumer
 * gateway, the source and the sink, SIGKILLs it 100..700 ms after the
 * previous kill (half of the time after stopping it for 50..300 ms first, so
 * that what its peers send it piles up unprocessed) and restarts it after a
 * short random delay.
 *
 * At every kill, while the killed process is down, the test checks what that
 * crash must not have broken:
 * - owner gateway: every row of the agency table whose last change the source
 *   has acknowledged (id <= lt_source_cursor, no later change pending) is in
 *   the owner's store with its current column values, in the dataset and in
 *   the view; no key is live there that the agency no longer has; both logs
 *   are exactly 1..last_seq and the state matches them;
 * - consumer gateway: its log of the view is exactly 1..last_seq, its state
 *   matches it, and it is byte-identical to the owner's prefix;
 * - sink: its table is exactly the replay of the consumer's log through its
 *   cursor (the cursor and the table never disagree).
 * Then the changes stop, everything converges (bounded wait), every process
 * stops cleanly on SIGTERM, and the final state must satisfy:
 * (1) the consumer's table equals the owner's view computed from the owner's
 *     agency database (all columns, ordered by key);
 * (2) every row of the agency table is in the owner's store with its current
 *     values, and no deleted key is live there;
 * (3) every log (owner: dataset and view; consumers: their stream) holds
 *     exactly seq 1..last_seq, and the consumers' logs are byte-identical to
 *     the owner's;
 * (4) the sink's cursor equals the consumer's last seq.
 *
 * A second test kills a gateway while it migrates a store written before
 * schema versions (300,000 records; docs/ARCHITECTURE.md 4.1) at random
 * moments: after each kill the store is either before or after each step
 * (never a checksum column without every checksum), every record is
 * unchanged, and the next start completes the migration; `lienthong store
 * verify` then exits 0.
 *
 * LT_CRASH_SEED=N picks another seed; LT_CRASH_KEEP=1 keeps the temporary
 * directory of a failed run (LT_CRASH_KEEP=always: of any run). Usage: test_crash
 * /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_itest.h"
#include "lt_err.h"
#include "lt_store.h"
#include "records/population.pb-c.h"
#include "../store_schema_v0.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FED      "VN"
#define ID_OWNER "VN/GOV/BCA"
#define ID_P38   "VN/PROV/38"
#define ID_BHXH  "VN/GOV/BHXH"
#define DS       "VN/GOV/BCA/population"
#define V38      DS ".p38"

#define CITIZENS       "20000"
#define DEFAULT_SEED   20260038ULL
#define CHAOS_MS       50000 /* the kill phase, once the quotas are met */
#define CHAOS_MAX_MS   70000 /* hard bound of the kill phase */
#define KILL_MIN_MS    100
#define KILL_MAX_MS    700
#define RESTART_MIN_MS 30
#define RESTART_MAX_MS 400
#define STALL_MIN_MS   50
#define STALL_MAX_MS   300
#define MIN_KILLS      20
#define MIN_EACH       5 /* owner gateway, consumer gateway, source */
#define READY_MS       30000
#define CONVERGE_MS    180000
#define STOP_MS        20000
#define SEQ_BITS       40
#define KEY_MAX        40

/* ---- failures ------------------------------------------------------------------------------- */

static int s_failures;

__attribute__((format(printf, 1, 2))) static void s_failf(const char *fmt, ...)
{
    if (++s_failures > 40)
        return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "crash: FAILED: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- randomness: splitmix64, one stream for kills and one for changes ----------------------- */

static uint64_t s_rng_kill, s_rng_change;

static uint64_t s_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int s_between(uint64_t *state, int lo, int hi)
{
    return lo + (int)(s_next(state) % (uint64_t)(hi - lo + 1));
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* ---- adapter processes (gateways go through lt_itest) --------------------------------------- */

#define MAX_PIDS 16
static pid_t s_pids[MAX_PIDS];

static void s_pid_track(pid_t pid, int add)
{
    for (size_t i = 0; i < MAX_PIDS; i++)
        if (add ? s_pids[i] == 0 : s_pids[i] == pid) {
            s_pids[i] = add ? pid : 0;
            return;
        }
}

static void s_kill_all(void)
{
    for (size_t i = 0; i < MAX_PIDS; i++)
        if (s_pids[i] > 0) {
            kill(s_pids[i], SIGKILL);
            (void)waitpid(s_pids[i], NULL, 0);
            s_pids[i] = 0;
        }
}

/* Spawns argv with stdout and stderr appended to log; dies with us. */
static pid_t s_spawn(const char *log, char *const argv[])
{
    int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(125);
        int null_fd = open("/dev/null", O_RDONLY);
        if (null_fd < 0 || dup2(null_fd, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fd);
    if (pid > 0)
        s_pid_track(pid, 1);
    return pid;
}

static void s_tail(const char *path, size_t bytes)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && (size_t)st.st_size > bytes)
        (void)fseek(f, (long)((size_t)st.st_size - bytes), SEEK_SET);
    fprintf(stderr, "---- %s (tail) ----\n", path);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end ----\n");
    fclose(f);
}

typedef enum { K_OWNER, K_CONSUMER, K_SOURCE, K_SINK, K_N } kind_t;
static const char *const s_kind[K_N] = {"owner-gateway", "consumer-gateway", "source", "sink"};

/* One process the killer may kill: a gateway (gw) or an adapter (argv). */
typedef struct {
    kind_t kind;
    lt_it_gw_t *gw;
    char *argv[8];
    char log[PATH_MAX];
    pid_t pid;          /* adapters; gateways keep theirs in gw->pid */
    int status;         /* wait status of the last run that ended */
    int64_t restart_at; /* 0: not waiting for a restart */
    int64_t kill_at;    /* stopped (SIGSTOP) until its SIGKILL then; 0: not */
    int stall_ms;       /* how long it has been stopped before that kill */
    int kills, unexpected;
} proc_t;

static pid_t s_proc_pid(const proc_t *p)
{
    return p->gw ? p->gw->pid : p->pid;
}

static int s_proc_start(proc_t *p)
{
    if (p->gw)
        return lt_it_gw_start(p->gw);
    p->pid = s_spawn(p->log, p->argv);
    return p->pid > 0 ? 0 : -1;
}

/* 1 while running; reaps (and keeps the status) once it has exited. */
static int s_proc_alive(proc_t *p)
{
    if (p->gw) {
        int alive = lt_it_gw_alive(p->gw);
        if (!alive)
            p->status = p->gw->wstatus;
        return alive;
    }
    if (p->pid <= 0)
        return 0;
    int st = 0;
    pid_t r = waitpid(p->pid, &st, WNOHANG);
    if (r == 0)
        return 1;
    p->status = st;
    s_pid_track(p->pid, 0);
    p->pid = 0;
    return 0;
}

static void s_proc_kill(proc_t *p)
{
    if (p->gw) {
        lt_it_gw_kill(p->gw);
        return;
    }
    if (p->pid <= 0)
        return;
    kill(p->pid, SIGKILL);
    (void)waitpid(p->pid, &p->status, 0);
    s_pid_track(p->pid, 0);
    p->pid = 0;
}

/* SIGTERM and wait: the exit code, -1 on timeout (then killed), -2 signal. */
static int s_proc_stop(proc_t *p, int timeout_ms)
{
    if (p->gw)
        return lt_it_gw_stop(p->gw, timeout_ms);
    if (p->pid <= 0)
        return -1;
    kill(p->pid, SIGTERM);
    int64_t deadline = lt_it_ms() + timeout_ms;
    while (s_proc_alive(p)) {
        if (lt_it_ms() >= deadline) {
            s_proc_kill(p);
            return -1;
        }
        s_sleep_ms(10);
    }
    return WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -2;
}

/* ---- the federation ------------------------------------------------------------------------- */

static const char *s_dir_extra =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "views = ( { id = \"" V38 "\"; dataset = \"" DS "\";\n"
    "  fields = [\"personal_id\", \"full_name\", \"date_of_birth\", \"current_province\", "
    "\"status\"];\n"
    "  where = { current_province = \"38\"; }; } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_P38 "\"; target = \"" V38 "\"; allow = [\"subscribe\"]; },\n"
    "  { consumer = \"" ID_BHXH "\"; target = \"" DS "\"; allow = [\"subscribe\"]; } );\n";

/* The test's own writer of the agency database. */
typedef struct {
    sqlite3 *db;
    sqlite3_stmt *maxrow, *pick, *del, *copy, *rekey, *move, *rename, *status;
    char deleted[512][KEY_MAX]; /* keys deleted, candidates for a re-insert */
    size_t n_deleted;
    uint64_t next_key;
    uint64_t txns, ops, busy, popgen_rounds, popgen_changes;
} changer_t;

typedef struct {
    lt_it_fed_t f;
    lt_it_gw_t *owner, *p38, *bhxh;
    char agency_db[PATH_MAX], sink_db[PATH_MAX];
    char source_conf[PATH_MAX], sink_conf[PATH_MAX];
    char owner_store[PATH_MAX], p38_store[PATH_MAX], bhxh_store[PATH_MAX];
    char source_log[PATH_MAX], sink_log[PATH_MAX], popgen_log[PATH_MAX];
    proc_t procs[K_N];
    changer_t ch;
    pid_t popgen;
    char popgen_seed[32], popgen_n[32];
    char *popgen_argv[10];
    uint64_t checks[K_N];
} world_t;

static world_t s_w;

/* ---- SQLite helpers ------------------------------------------------------------------------- */

static sqlite3 *s_db_open(const char *path)
{
    sqlite3 *db = NULL;
    if (access(path, F_OK) != 0)
        return NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 20000);
    return db;
}

static int s_exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "crash: sqlite: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return rc == SQLITE_OK ? 0 : -1;
}

static int s_table_exists(sqlite3 *db, const char *name)
{
    sqlite3_stmt *st = NULL;
    int found = 0;
    if (sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) == SQLITE_OK)
        found = sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return found;
}

/* One integer from a query with an optional text ?1; dflt when no row. */
static int s_int64(sqlite3 *db, const char *sql, const char *arg, int64_t dflt, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    *out = dflt;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        *out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

static const char *s_text(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return t ? (const char *)t : "";
}

static const char *s_str(const char *s)
{
    return s ? s : "";
}

/* ---- gateway stores ------------------------------------------------------------------------- */

typedef struct {
    int found;
    int64_t id;
    uint64_t last_seq, source_cursor;
} sinfo_t;

static int s_stream_info(sqlite3 *db, const char *name, sinfo_t *out)
{
    memset(out, 0, sizeof *out);
    if (!db || !s_table_exists(db, "streams"))
        return 0;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, last_seq, source_cursor FROM streams WHERE name = ?1",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->found = 1;
        out->id = sqlite3_column_int64(st, 0);
        out->last_seq = (uint64_t)sqlite3_column_int64(st, 1);
        out->source_cursor = (uint64_t)sqlite3_column_int64(st, 2);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : -1;
}

/* One record of a log, with its exact bytes. */
typedef struct {
    char key[KEY_MAX];
    uint64_t seq;
    int deleted;
    uint8_t *bytes;
    size_t len;
} lrec_t;

typedef struct {
    lrec_t *r;
    size_t n;
} llog_t;

static void s_log_free(llog_t *l)
{
    for (size_t i = 0; l->r && i < l->n; i++)
        free(l->r[i].bytes);
    free(l->r);
    memset(l, 0, sizeof *l);
}

/* Loads records 1..upto of stream sid and checks that exactly these exist,
 * in order, each decoding as a Record with that seq and a key. */
static int s_log_load(sqlite3 *db, const char *what, int64_t sid, uint64_t upto, llog_t *out,
                      char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (upto == 0)
        return 0;
    out->r = calloc(upto, sizeof *out->r);
    if (!out->r)
        return lt_err_set(err, errlen, "out of memory");
    int64_t base = sid << SEQ_BITS;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT id, record FROM log WHERE id >= ?1 AND id < ?2 ORDER BY id",
                           -1, &st, NULL) != SQLITE_OK)
        return lt_err_set(err, errlen, "%s: cannot read the log: %s", what, sqlite3_errmsg(db));
    /* The whole key range of the stream: a record beyond upto is checked by
     * the caller (it only asks for upto = last_seq or a prefix). */
    sqlite3_bind_int64(st, 1, base);
    sqlite3_bind_int64(st, 2, base + (int64_t)upto + 1);
    int rc, bad = 0;
    uint64_t expect = 0;
    while (!bad && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        uint64_t seq = (uint64_t)(sqlite3_column_int64(st, 0) - base);
        if (seq != expect + 1) {
            bad = lt_err_set(err, errlen,
                             "%s: log holds seq %" PRIu64 " after %" PRIu64 " (a gap or seq 0)",
                             what, seq, expect);
            break;
        }
        lrec_t *r = &out->r[out->n];
        r->len = (size_t)sqlite3_column_bytes(st, 1);
        r->bytes = malloc(r->len ? r->len : 1);
        if (!r->bytes) {
            bad = lt_err_set(err, errlen, "out of memory");
            break;
        }
        if (r->len)
            memcpy(r->bytes, sqlite3_column_blob(st, 1), r->len);
        out->n++;
        Lienthong__Record *rec = lienthong__record__unpack(NULL, r->len, r->bytes);
        if (!rec || rec->seq != seq || !rec->key || !rec->key[0] || strlen(rec->key) >= KEY_MAX)
            bad = lt_err_set(err, errlen, "%s: log record %" PRIu64 " %s", what, seq,
                             !rec              ? "does not decode"
                             : rec->seq != seq ? "carries another seq"
                                               : "has no usable key");
        else {
            snprintf(r->key, sizeof r->key, "%s", rec->key);
            r->seq = seq;
            r->deleted = rec->deleted;
        }
        if (rec)
            lienthong__record__free_unpacked(rec, NULL);
        expect = seq;
    }
    sqlite3_finalize(st);
    if (!bad && expect != upto)
        bad = lt_err_set(err, errlen, "%s: log ends at seq %" PRIu64 ", expected %" PRIu64, what,
                         expect, upto);
    if (bad)
        s_log_free(out);
    return bad ? -1 : 0;
}

/* Number of log rows of stream sid and its largest seq. */
static int s_log_extent(sqlite3 *db, int64_t sid, int64_t *count, int64_t *max_seq)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "SELECT COUNT(*), COALESCE(MAX(id), ?1) - ?1 FROM log "
                           "WHERE id >= ?1 AND id < ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_int64(st, 1, sid << SEQ_BITS);
    sqlite3_bind_int64(st, 2, (sid + 1) << SEQ_BITS);
    int rc = sqlite3_step(st);
    *count = sqlite3_column_int64(st, 0);
    *max_seq = sqlite3_column_int64(st, 1);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? 0 : -1;
}

static int s_cmp_key_seq(const void *a, const void *b)
{
    const lrec_t *x = *(lrec_t *const *)a, *y = *(lrec_t *const *)b;
    int c = strcmp(x->key, y->key);
    return c ? c : x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The latest record of each key, sorted by key (pointers into l). */
static lrec_t **s_replay(const llog_t *l, size_t *n_out)
{
    *n_out = 0;
    lrec_t **all = malloc((l->n ? l->n : 1) * sizeof *all);
    if (!all)
        return NULL;
    for (size_t i = 0; i < l->n; i++)
        all[i] = &l->r[i];
    qsort(all, l->n, sizeof *all, s_cmp_key_seq);
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (k > 0 && strcmp(all[k - 1]->key, all[i]->key) == 0)
            all[k - 1] = all[i];
        else
            all[k++] = all[i];
    }
    *n_out = k;
    return all;
}

/* The stream's log is exactly 1..last_seq (streams.last_seq) and its state
 * rows are exactly the replay of the log: the latest seq and deleted flag of
 * every key. Fills the log when out is non-NULL. */
static int s_check_stream(sqlite3 *db, const char *what, const char *stream, llog_t *out,
                          uint64_t *last, char *err, size_t errlen)
{
    sinfo_t si;
    llog_t l = {0};
    if (out)
        memset(out, 0, sizeof *out);
    *last = 0;
    if (s_stream_info(db, stream, &si) != 0)
        return lt_err_set(err, errlen, "%s: cannot read streams", what);
    if (!si.found)
        return 0;
    int64_t count = 0, max_seq = 0;
    if (s_log_extent(db, si.id, &count, &max_seq) != 0)
        return lt_err_set(err, errlen, "%s: cannot read the log extent", what);
    if ((uint64_t)count != si.last_seq || (uint64_t)max_seq != si.last_seq)
        return lt_err_set(err, errlen,
                          "%s %s: last_seq %" PRIu64 " but the log holds %" PRId64
                          " records up to seq %" PRId64,
                          what, stream, si.last_seq, count, max_seq);
    if (s_log_load(db, what, si.id, si.last_seq, &l, err, errlen) != 0)
        return -1;
    size_t n = 0;
    lrec_t **latest = s_replay(&l, &n);
    int rc = latest ? 0 : lt_err_set(err, errlen, "out of memory");
    sqlite3_stmt *st = NULL;
    if (rc == 0 && sqlite3_prepare_v2(db,
                                      "SELECT key, seq, deleted FROM state WHERE stream = ?1 "
                                      "ORDER BY key",
                                      -1, &st, NULL) != SQLITE_OK)
        rc = lt_err_set(err, errlen, "%s: cannot read the state", what);
    size_t i = 0;
    if (rc == 0) {
        sqlite3_bind_int64(st, 1, si.id);
        while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
            const char *key = s_text(st, 0);
            uint64_t seq = (uint64_t)sqlite3_column_int64(st, 1);
            int del = sqlite3_column_int(st, 2);
            if (i >= n || strcmp(latest[i]->key, key) != 0)
                rc = lt_err_set(err, errlen, "%s %s: state row for key %s %s", what, stream, key,
                                i >= n || strcmp(latest[i]->key, key) > 0
                                    ? "has no record in the log"
                                    : "is missing");
            else if (latest[i]->seq != seq || latest[i]->deleted != del)
                rc = lt_err_set(err, errlen,
                                "%s %s: state of key %s is seq %" PRIu64 " deleted %d, "
                                "the log's latest is seq %" PRIu64 " deleted %d",
                                what, stream, key, seq, del, latest[i]->seq, latest[i]->deleted);
            i++;
        }
        if (rc == 0 && i != n)
            rc = lt_err_set(err, errlen, "%s %s: %zu keys in the log but %zu state rows", what,
                            stream, n, i);
    }
    sqlite3_finalize(st);
    free(latest);
    *last = si.last_seq;
    if (rc == 0 && out)
        *out = l;
    else
        s_log_free(&l);
    return rc;
}

/* Records 1..n of b are byte-identical to those of a. */
static int s_same_prefix(const llog_t *a, const llog_t *b, size_t n, const char *what, char *err,
                         size_t errlen)
{
    if (a->n < n || b->n < n)
        return lt_err_set(err, errlen, "%s: only %zu and %zu records to compare %zu", what, a->n,
                          b->n, n);
    for (size_t i = 0; i < n; i++)
        if (a->r[i].len != b->r[i].len || memcmp(a->r[i].bytes, b->r[i].bytes, a->r[i].len) != 0)
            return lt_err_set(err, errlen, "%s: record %zu differs from the owner's", what, i + 1);
    return 0;
}

/* ---- comparing agency rows with records ----------------------------------------------------- */

/* The agency table's columns, in Population field order. */
#define AGENCY_COLS                                                                                \
    "personal_id, full_name, date_of_birth, sex, place_of_birth, home_town, ethnicity, "           \
    "nationality, permanent_province, permanent_address, current_province, current_address, "      \
    "id_card_number, id_card_issued, status, date_of_death"

/* Compares row (AGENCY_COLS) with a Population payload; view: only the
 * view's fields, the others must be unset. */
static int s_row_matches(sqlite3_stmt *row, const Lienthong__Records__Population *p, int view,
                         char *why, size_t cap)
{
    const char *strs[16] = {p->personal_id,
                            p->full_name,
                            p->date_of_birth,
                            NULL,
                            p->place_of_birth,
                            p->home_town,
                            p->ethnicity,
                            p->nationality,
                            p->permanent_province,
                            p->permanent_address,
                            p->current_province,
                            p->current_address,
                            p->id_card_number,
                            p->id_card_issued,
                            NULL,
                            p->date_of_death};
    static const char *const names[16] = {
        "personal_id",        "full_name",         "date_of_birth",    "sex",
        "place_of_birth",     "home_town",         "ethnicity",        "nationality",
        "permanent_province", "permanent_address", "current_province", "current_address",
        "id_card_number",     "id_card_issued",    "status",           "date_of_death"};
    static const int in_view[16] = {1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0};
    for (int c = 0; c < 16; c++) {
        int expect_int = c == 3 || c == 14;
        int wanted = !view || in_view[c];
        if (expect_int) {
            int64_t col = wanted ? sqlite3_column_int64(row, c) : 0;
            int64_t got = c == 3 ? (int64_t)p->sex : (int64_t)p->status;
            if (col != got)
                return lt_err_set(why, cap,
                                  "%s is %" PRId64 " in the record, %" PRId64 " in the row",
                                  names[c], got, col);
        } else {
            const char *col = wanted ? s_text(row, c) : "";
            if (strcmp(col, s_str(strs[c])) != 0)
                return lt_err_set(why, cap, "%s differs (record \"%s\", row \"%s\")", names[c],
                                  s_str(strs[c]), col);
        }
    }
    return 0;
}

/* The log record at seq of stream sid, decoded; NULL when absent/bad. */
static Lienthong__Record *s_get_record(sqlite3_stmt *get, int64_t sid, uint64_t seq)
{
    sqlite3_bind_int64(get, 1, (sid << SEQ_BITS) | (int64_t)seq);
    Lienthong__Record *r = NULL;
    if (sqlite3_step(get) == SQLITE_ROW)
        r = lienthong__record__unpack(NULL, (size_t)sqlite3_column_bytes(get, 0),
                                      sqlite3_column_blob(get, 0));
    sqlite3_reset(get);
    return r;
}

/* State of key in stream sid: 1 found, 0 not. */
static int s_get_state(sqlite3_stmt *state, int64_t sid, const char *key, uint64_t *seq, int *del)
{
    sqlite3_bind_int64(state, 1, sid);
    sqlite3_bind_text(state, 2, key, -1, SQLITE_TRANSIENT);
    int found = sqlite3_step(state) == SQLITE_ROW;
    if (found) {
        *seq = (uint64_t)sqlite3_column_int64(state, 0);
        *del = sqlite3_column_int(state, 1);
    }
    sqlite3_reset(state);
    return found;
}

/* Key row of stream sid in the owner's store holds exactly the row (live) or
 * is absent or a tombstone (when want_live is 0). */
static int s_check_key(sqlite3_stmt *state, sqlite3_stmt *get, const sinfo_t *si, const char *key,
                       sqlite3_stmt *row, int want_live, int view, char *why, size_t cap)
{
    uint64_t seq = 0;
    int del = 0;
    int found = si->found && s_get_state(state, si->id, key, &seq, &del);
    if (!want_live) {
        if (found && !del)
            return lt_err_set(why, cap, "is live (seq %" PRIu64 ") but must not be", seq);
        return 0;
    }
    if (!found)
        return lt_err_set(why, cap, "is missing");
    if (del)
        return lt_err_set(why, cap, "is a tombstone (seq %" PRIu64 ") but the row exists", seq);
    Lienthong__Record *r = s_get_record(get, si->id, seq);
    int rc = 0;
    if (!r || r->deleted || strcmp(s_str(r->key), key) != 0)
        rc = lt_err_set(why, cap, "state points at seq %" PRIu64 ", which is %s", seq,
                        !r           ? "not in the log"
                        : r->deleted ? "a tombstone"
                                     : "another key");
    Lienthong__Records__Population *p =
        rc ? NULL : lienthong__records__population__unpack(NULL, r->payload.len, r->payload.data);
    if (!rc && !p)
        rc = lt_err_set(why, cap, "payload of seq %" PRIu64 " does not decode", seq);
    if (!rc && s_row_matches(row, p, view, why, cap) != 0)
        rc = -1;
    if (rc && r && strncmp(why, "seq", 3) != 0) {
        char more[300];
        snprintf(more, sizeof more, " (seq %" PRIu64 ")", seq);
        strncat(why, more, cap - strlen(why) - 1);
    }
    if (p)
        lienthong__records__population__free_unpacked(p, NULL);
    if (r)
        lienthong__record__free_unpacked(r, NULL);
    return rc;
}

typedef struct {
    char key[KEY_MAX];
    int in38;
} akey_t;

static int s_cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* bsearch in an array sorted by a leading key string (none when empty). */
static void *s_find(const char *key, void *base, size_t n, size_t size)
{
    return n ? bsearch(key, base, n, size, s_cmp_str) : NULL;
}

/* The owner's store against its agency database (PROTOCOL.md 8.1, docs/ARCHITECTURE.md
 * "Durability"): for every agency row whose changes are all acknowledged by the source
 * (no change after lt_source_cursor pending), the dataset and the view hold
 * its current values; keys live in the store are rows of the agency or
 * pending. Final: nothing may be pending. Only call while the owner's
 * gateway is not running (its store must not move underneath). */
static int s_check_owner(world_t *w, int final, uint64_t *checked, char *err, size_t errlen)
{
    sqlite3 *ag = w->ch.db;
    sqlite3 *st = s_db_open(w->owner_store);
    char(*pending)[KEY_MAX] = NULL;
    akey_t *keys = NULL;
    size_t n_pending = 0, cap_pending = 0, n_keys = 0, cap_keys = 0;
    sqlite3_stmt *q = NULL, *state = NULL, *get = NULL;
    int rc = 0, in_txn = 0;
    *checked = 0;
    sinfo_t ds, vw;
    if (s_stream_info(st, DS, &ds) != 0 || s_stream_info(st, V38, &vw) != 0) {
        rc = lt_err_set(err, errlen, "owner store: cannot read streams");
        goto out;
    }
    if (s_exec(ag, "BEGIN") != 0) {
        rc = lt_err_set(err, errlen, "agency: cannot begin a read");
        goto out;
    }
    in_txn = 1;
    if (!s_table_exists(ag, "lt_changes")) {
        if (final)
            rc = lt_err_set(err, errlen, "agency: no lt_changes table: the source never installed");
        goto out; /* nothing tracked yet, nothing acknowledged */
    }
    int64_t cursor = 0;
    if (s_table_exists(ag, "lt_source_cursor") &&
        s_int64(ag, "SELECT change_id FROM lt_source_cursor WHERE dataset = ?1", DS, 0, &cursor) !=
            0) {
        rc = lt_err_set(err, errlen, "agency: cannot read lt_source_cursor");
        goto out;
    }
    if (ds.found && ds.source_cursor < (uint64_t)cursor && final)
        rc = lt_err_set(err, errlen,
                        "the source's cursor %" PRId64 " is beyond the gateway's %" PRIu64, cursor,
                        ds.source_cursor);
    /* Keys with a change the source has not had acknowledged. */
    if (sqlite3_prepare_v2(ag, "SELECT DISTINCT row_key FROM lt_changes WHERE id > ?1 ORDER BY 1",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = lt_err_set(err, errlen, "agency: %s", sqlite3_errmsg(ag));
        goto out;
    }
    sqlite3_bind_int64(q, 1, cursor);
    while (sqlite3_step(q) == SQLITE_ROW) {
        if (n_pending == cap_pending) {
            cap_pending = cap_pending ? cap_pending * 2 : 1024;
            void *np = realloc(pending, cap_pending * sizeof *pending);
            if (!np) {
                rc = lt_err_set(err, errlen, "out of memory");
                goto out;
            }
            pending = np;
        }
        snprintf(pending[n_pending++], KEY_MAX, "%s", s_text(q, 0));
    }
    sqlite3_finalize(q);
    q = NULL;
    if (final && n_pending) {
        rc = lt_err_set(err, errlen, "%zu keys still have unacknowledged changes", n_pending);
        goto out;
    }
    if (!st) {
        /* No store yet: only acceptable while nothing was acknowledged. */
        if (cursor > 0)
            rc =
                lt_err_set(err, errlen,
                           "the source's cursor is %" PRId64 " but the owner has no store", cursor);
        goto out;
    }
    if (sqlite3_prepare_v2(st, "SELECT seq, deleted FROM state WHERE stream = ?1 AND key = ?2", -1,
                           &state, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(st, "SELECT record FROM log WHERE id = ?1", -1, &get, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(ag, "SELECT " AGENCY_COLS " FROM citizens ORDER BY personal_id", -1, &q,
                           NULL) != SQLITE_OK) {
        /* A store killed while it created its schema has no state table yet. */
        if (cursor > 0)
            rc = lt_err_set(err, errlen, "owner store unreadable: %s", sqlite3_errmsg(st));
        goto out;
    }
    int bad = 0;
    while (sqlite3_step(q) == SQLITE_ROW) {
        const char *key = s_text(q, 0);
        if (n_keys == cap_keys) {
            cap_keys = cap_keys ? cap_keys * 2 : 32768;
            void *nk = realloc(keys, cap_keys * sizeof *keys);
            if (!nk) {
                rc = lt_err_set(err, errlen, "out of memory");
                goto out;
            }
            keys = nk;
        }
        snprintf(keys[n_keys].key, KEY_MAX, "%s", key);
        keys[n_keys].in38 = strcmp(s_text(q, 10), "38") == 0;
        n_keys++;
        if (s_find(key, pending, n_pending, sizeof *pending))
            continue;
        (*checked)++;
        char why[512];
        if (s_check_key(state, get, &ds, key, q, 1, 0, why, sizeof why) != 0) {
            if (!bad++)
                rc = lt_err_set(err, errlen, "acknowledged row %s: in the dataset it %s", key, why);
        } else if (s_check_key(state, get, &vw, key, q, keys[n_keys - 1].in38, 1, why,
                               sizeof why) != 0) {
            if (!bad++)
                rc = lt_err_set(err, errlen, "acknowledged row %s (province %s): in the view it %s",
                                key, s_text(q, 10), why);
        }
    }
    sqlite3_finalize(q);
    q = NULL;
    if (bad > 1) {
        char more[64];
        snprintf(more, sizeof more, " (and %d more rows)", bad - 1);
        strncat(err, more, errlen - strlen(err) - 1);
    }
    /* No ghost: every live key of the store is a row (of province 38 for the
     * view) or pending. */
    const sinfo_t *streams[2] = {&ds, &vw};
    for (int s = 0; rc == 0 && s < 2; s++) {
        if (!streams[s]->found)
            continue;
        if (sqlite3_prepare_v2(st, "SELECT key FROM state WHERE stream = ?1 AND deleted = 0", -1,
                               &q, NULL) != SQLITE_OK) {
            rc = lt_err_set(err, errlen, "owner store: %s", sqlite3_errmsg(st));
            break;
        }
        sqlite3_bind_int64(q, 1, streams[s]->id);
        while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
            const char *key = s_text(q, 0);
            if (s_find(key, pending, n_pending, sizeof *pending))
                continue;
            akey_t *k = s_find(key, keys, n_keys, sizeof *keys);
            if (!k || (s == 1 && !k->in38))
                rc =
                    lt_err_set(err, errlen, "key %s is live in the owner's %s but %s", key,
                               s ? "view" : "dataset",
                               !k ? "the agency has no such row" : "the row is not in province 38");
        }
        sqlite3_finalize(q);
        q = NULL;
    }
out:
    sqlite3_finalize(q);
    sqlite3_finalize(state);
    sqlite3_finalize(get);
    if (in_txn)
        (void)s_exec(ag, "COMMIT");
    sqlite3_close(st);
    free(pending);
    free(keys);
    return rc;
}

/* ---- the other checks ----------------------------------------------------------------------- */

/* Owner's own logs: dataset and view gapless, state = replay. */
static int s_check_owner_logs(world_t *w, uint64_t *ds_last, uint64_t *v_last, char *err,
                              size_t errlen)
{
    sqlite3 *db = s_db_open(w->owner_store);
    *ds_last = *v_last = 0;
    if (!db)
        return 0;
    int rc = s_check_stream(db, "owner", DS, NULL, ds_last, err, errlen);
    if (rc == 0)
        rc = s_check_stream(db, "owner", V38, NULL, v_last, err, errlen);
    sqlite3_close(db);
    return rc;
}

/* A consumer's replica of stream: gapless, state = replay, byte-identical
 * to the owner's prefix. */
static int s_check_replica(world_t *w, const char *store, const char *what, const char *stream,
                           uint64_t *last, char *err, size_t errlen)
{
    sqlite3 *cdb = s_db_open(store), *odb = NULL;
    llog_t cl = {0}, ol = {0};
    uint64_t olast = 0;
    int rc = 0;
    *last = 0;
    if (!cdb)
        return 0;
    rc = s_check_stream(cdb, what, stream, &cl, last, err, errlen);
    if (rc == 0 && *last > 0) {
        sinfo_t si;
        odb = s_db_open(w->owner_store);
        if (!odb || s_stream_info(odb, stream, &si) != 0 || !si.found)
            rc = lt_err_set(err, errlen, "%s holds %" PRIu64 " records of %s the owner has not",
                            what, *last, stream);
        else if ((olast = si.last_seq) < *last)
            rc = lt_err_set(err, errlen,
                            "%s holds %" PRIu64 " records of %s, the owner only %" PRIu64, what,
                            *last, stream, olast);
        else if (s_log_load(odb, "owner", si.id, *last, &ol, err, errlen) == 0)
            rc = s_same_prefix(&ol, &cl, (size_t)*last, what, err, errlen);
        else
            rc = -1;
    }
    s_log_free(&cl);
    s_log_free(&ol);
    sqlite3_close(odb);
    sqlite3_close(cdb);
    return rc;
}

/* The sink's table is exactly the replay of the consumer's log through the
 * sink's cursor. */
static int s_check_sink(world_t *w, uint64_t *cursor_out, uint64_t *rows_out, char *err,
                        size_t errlen)
{
    sqlite3 *sdb = s_db_open(w->sink_db), *cdb = NULL;
    llog_t l = {0};
    lrec_t **latest = NULL;
    sqlite3_stmt *q = NULL;
    int rc = 0, in_txn = 0;
    *cursor_out = *rows_out = 0;
    if (!sdb || !s_table_exists(sdb, "lt_sink_cursor"))
        goto out;
    if (s_exec(sdb, "BEGIN") != 0) {
        rc = lt_err_set(err, errlen, "sink db: cannot begin");
        goto out;
    }
    in_txn = 1;
    int64_t cursor = 0;
    if (s_int64(sdb, "SELECT seq FROM lt_sink_cursor WHERE stream = ?1", V38, 0, &cursor) != 0) {
        rc = lt_err_set(err, errlen, "sink db: cannot read lt_sink_cursor");
        goto out;
    }
    *cursor_out = (uint64_t)cursor;
    sinfo_t si;
    cdb = s_db_open(w->p38_store);
    if (cursor > 0 && (!cdb || s_stream_info(cdb, V38, &si) != 0 || !si.found ||
                       si.last_seq < (uint64_t)cursor)) {
        rc = lt_err_set(err, errlen, "the sink's cursor %" PRId64 " is beyond the consumer's log",
                        cursor);
        goto out;
    }
    if (cursor > 0 && s_log_load(cdb, "consumer", si.id, (uint64_t)cursor, &l, err, errlen) != 0) {
        rc = -1;
        goto out;
    }
    size_t n = 0;
    latest = s_replay(&l, &n);
    if (!latest) {
        rc = lt_err_set(err, errlen, "out of memory");
        goto out;
    }
    if (sqlite3_prepare_v2(sdb,
                           "SELECT personal_id, full_name, date_of_birth, current_province, "
                           "status FROM residents ORDER BY personal_id",
                           -1, &q, NULL) != SQLITE_OK) {
        rc = cursor > 0 ? lt_err_set(err, errlen, "sink db: %s", sqlite3_errmsg(sdb)) : 0;
        goto out;
    }
    size_t i = 0;
    while (rc == 0 && sqlite3_step(q) == SQLITE_ROW) {
        const char *key = s_text(q, 0);
        (*rows_out)++;
        while (i < n && latest[i]->deleted && strcmp(latest[i]->key, key) < 0)
            i++;
        if (i >= n || strcmp(latest[i]->key, key) != 0 || latest[i]->deleted) {
            rc = lt_err_set(err, errlen,
                            "sink table holds key %s, which the consumer's log through "
                            "seq %" PRId64 " does not have live",
                            key, cursor);
            break;
        }
        Lienthong__Record *r = lienthong__record__unpack(NULL, latest[i]->len, latest[i]->bytes);
        Lienthong__Records__Population *p =
            r ? lienthong__records__population__unpack(NULL, r->payload.len, r->payload.data)
              : NULL;
        if (!p)
            rc = lt_err_set(err, errlen, "consumer record %" PRIu64 " does not decode",
                            latest[i]->seq);
        else if (strcmp(s_text(q, 1), s_str(p->full_name)) != 0 ||
                 strcmp(s_text(q, 2), s_str(p->date_of_birth)) != 0 ||
                 strcmp(s_text(q, 3), s_str(p->current_province)) != 0 ||
                 sqlite3_column_int64(q, 4) != (int64_t)p->status)
            rc = lt_err_set(err, errlen,
                            "sink row %s differs from the consumer's record %" PRIu64
                            " (name \"%s\" vs \"%s\", province \"%s\" vs \"%s\")",
                            key, latest[i]->seq, s_text(q, 1), s_str(p->full_name), s_text(q, 3),
                            s_str(p->current_province));
        if (p)
            lienthong__records__population__free_unpacked(p, NULL);
        if (r)
            lienthong__record__free_unpacked(r, NULL);
        i++;
    }
    while (rc == 0 && i < n) {
        if (!latest[i]->deleted)
            rc = lt_err_set(err, errlen,
                            "key %s is live in the consumer's log through seq %" PRId64
                            " but not in the sink table",
                            latest[i]->key, cursor);
        i++;
    }
out:
    sqlite3_finalize(q);
    if (in_txn)
        (void)s_exec(sdb, "COMMIT");
    free(latest);
    s_log_free(&l);
    sqlite3_close(cdb);
    sqlite3_close(sdb);
    return rc;
}

/* (1): the consumer's table equals the owner's view computed from the
 * owner's agency database, all columns, ordered by key. */
static int s_check_table(world_t *w, uint64_t *rows, char *err, size_t errlen)
{
    sqlite3 *sdb = s_db_open(w->sink_db);
    sqlite3_stmt *a = NULL, *b = NULL;
    int rc = 0;
    *rows = 0;
    if (!sdb)
        return lt_err_set(err, errlen, "no sink database");
    static const char *cols = "personal_id, COALESCE(full_name, ''), COALESCE(date_of_birth, ''), "
                              "COALESCE(current_province, ''), COALESCE(status, 0)";
    char qa[512], qb[512];
    snprintf(qa, sizeof qa,
             "SELECT %s FROM citizens WHERE current_province = '38' "
             "ORDER BY personal_id",
             cols);
    snprintf(qb, sizeof qb, "SELECT %s FROM residents ORDER BY personal_id", cols);
    if (sqlite3_prepare_v2(w->ch.db, qa, -1, &a, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(sdb, qb, -1, &b, NULL) != SQLITE_OK) {
        rc = lt_err_set(err, errlen, "cannot query the tables");
        goto out;
    }
    for (;;) {
        int ra = sqlite3_step(a), rb = sqlite3_step(b);
        if (ra != SQLITE_ROW || rb != SQLITE_ROW) {
            if (ra != rb)
                rc = lt_err_set(err, errlen, "the %s table has more rows (from %s)",
                                ra == SQLITE_ROW ? "owner's view of the agency" : "consumer's",
                                ra == SQLITE_ROW ? s_text(a, 0) : s_text(b, 0));
            break;
        }
        for (int c = 0; c < 5; c++)
            if (strcmp(s_text(a, c), s_text(b, c)) != 0) {
                rc = lt_err_set(err, errlen,
                                "row %zu: owner (%s, %s, %s, %s, %s) vs consumer (%s, %s, "
                                "%s, %s, %s)",
                                (size_t)*rows, s_text(a, 0), s_text(a, 1), s_text(a, 2),
                                s_text(a, 3), s_text(a, 4), s_text(b, 0), s_text(b, 1),
                                s_text(b, 2), s_text(b, 3), s_text(b, 4));
                goto out;
            }
        (*rows)++;
    }
out:
    sqlite3_finalize(a);
    sqlite3_finalize(b);
    sqlite3_close(sdb);
    return rc;
}

/* The check that goes with a crash of kind k (the process is down). */
static void s_crash_check(world_t *w, kind_t k)
{
    char err[1024] = "";
    uint64_t a = 0, b = 0;
    int rc = 0;
    switch (k) {
    case K_OWNER:
        rc = s_check_owner(w, 0, &a, err, sizeof err);
        if (rc == 0)
            rc = s_check_owner_logs(w, &a, &b, err, sizeof err);
        break;
    case K_CONSUMER:
        rc = s_check_replica(w, w->p38_store, "consumer " ID_P38, V38, &a, err, sizeof err);
        break;
    case K_SINK:
        rc = s_check_sink(w, &a, &b, err, sizeof err);
        break;
    default:
        return;
    }
    w->checks[k]++;
    if (rc != 0)
        s_failf("after a kill of the %s: %s", s_kind[k], err);
}

/* ---- the changes ---------------------------------------------------------------------------- */

static const char *const s_given[] = {"An",   "Bình", "Cường", "Dung", "Giang", "Huy", "Lan",
                                      "Khoa", "Mai",  "Ngọc",  "Phúc", "Quỳnh", "Sơn", "Thảo"};

static int s_changer_open(changer_t *c, const char *path)
{
    memset(c, 0, sizeof *c);
    c->db = s_db_open(path);
    c->next_key = 1;
    if (!c->db || s_exec(c->db, "PRAGMA journal_mode=WAL") != 0)
        return -1;
    static const char *copy_sql =
        "INSERT INTO citizens(" AGENCY_COLS ") SELECT ?1, full_name, date_of_birth, sex, "
        "place_of_birth, home_town, ethnicity, nationality, permanent_province, permanent_address, "
        "?2, current_address, id_card_number, id_card_issued, status, date_of_death "
        "FROM citizens WHERE personal_id = ?3";
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } s[] = {
        {&c->maxrow, "SELECT COALESCE(MAX(rowid), 0) FROM citizens"},
        {&c->pick, "SELECT personal_id, current_province FROM citizens WHERE rowid >= ?1 "
                   "ORDER BY rowid LIMIT 1"},
        {&c->del, "DELETE FROM citizens WHERE personal_id = ?1"},
        {&c->copy, copy_sql},
        {&c->rekey, "UPDATE citizens SET personal_id = ?2 WHERE personal_id = ?1"},
        {&c->move, "UPDATE citizens SET current_province = ?2 WHERE personal_id = ?1"},
        {&c->rename, "UPDATE citizens SET full_name = ?2 WHERE personal_id = ?1"},
        {&c->status, "UPDATE citizens SET status = ?2 WHERE personal_id = ?1"},
    };
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        if (sqlite3_prepare_v2(c->db, s[i].sql, -1, s[i].st, NULL) != SQLITE_OK) {
            fprintf(stderr, "crash: %s: %s\n", s[i].sql, sqlite3_errmsg(c->db));
            return -1;
        }
    return 0;
}

static void s_changer_close(changer_t *c)
{
    sqlite3_stmt *all[] = {c->maxrow, c->pick, c->del,    c->copy,
                           c->rekey,  c->move, c->rename, c->status};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(c->db);
    memset(c, 0, sizeof *c);
}

/* Steps st with text binds (NULL-terminated), then resets it. */
static int s_run(sqlite3_stmt *st, ...)
{
    va_list ap;
    va_start(ap, st);
    const char *v;
    for (int i = 1; (v = va_arg(ap, const char *)); i++)
        sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT);
    va_end(ap);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* A random existing row: its key and province. */
static int s_pick(changer_t *c, int64_t max_rowid, char *key, char *prov)
{
    int64_t from = 1 + (int64_t)(s_next(&s_rng_change) % (uint64_t)(max_rowid > 0 ? max_rowid : 1));
    for (int pass = 0; pass < 2; pass++, from = 1) {
        sqlite3_bind_int64(c->pick, 1, from);
        int rc = sqlite3_step(c->pick);
        if (rc == SQLITE_ROW) {
            snprintf(key, KEY_MAX, "%s", s_text(c->pick, 0));
            snprintf(prov, 8, "%s", s_text(c->pick, 1));
        }
        sqlite3_reset(c->pick);
        if (rc == SQLITE_ROW)
            return 0;
    }
    return -1;
}

static void s_new_key(changer_t *c, char *key)
{
    snprintf(key, KEY_MAX, "99%010" PRIu64, c->next_key++);
}

static void s_remember_deleted(changer_t *c, const char *key)
{
    if (c->n_deleted < sizeof c->deleted / sizeof c->deleted[0])
        snprintf(c->deleted[c->n_deleted++], KEY_MAX, "%s", key);
}

/* One small agency transaction of 1..6 changes of every kind. */
static int s_change_txn(changer_t *c)
{
    int64_t max_rowid = 0;
    /* Never wait long for the write lock: a stalled (SIGSTOPped) adapter may
     * hold it until the killer, this very loop, kills it. Busy: next time. */
    sqlite3_busy_timeout(c->db, 50);
    int begin = sqlite3_exec(c->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    sqlite3_busy_timeout(c->db, 20000);
    if (begin == SQLITE_BUSY) {
        c->busy++;
        return 0;
    }
    if (begin != SQLITE_OK) {
        fprintf(stderr, "crash: cannot begin an agency transaction: %s\n", sqlite3_errmsg(c->db));
        return -1;
    }
    sqlite3_step(c->maxrow);
    max_rowid = sqlite3_column_int64(c->maxrow, 0);
    sqlite3_reset(c->maxrow);
    int n = s_between(&s_rng_change, 1, 6), rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        char key[KEY_MAX], prov[8], name[128], nk[KEY_MAX];
        if (s_pick(c, max_rowid, key, prov) != 0) {
            rc = -1;
            break;
        }
        int r = s_between(&s_rng_change, 0, 99);
        const char *to = s_between(&s_rng_change, 0, 1) ? "38" : (r & 1) ? "01" : "79";
        if (r < 12) { /* delete */
            rc = s_run(c->del, key, NULL);
            s_remember_deleted(c, key);
        } else if (r < 22) { /* a new citizen, a copy of another */
            s_new_key(c, nk);
            rc = s_run(c->copy, nk, to, key, NULL);
        } else if (r < 30 && c->n_deleted > 0) { /* a deleted key comes back */
            size_t j = (size_t)(s_next(&s_rng_change) % c->n_deleted);
            snprintf(nk, sizeof nk, "%s", c->deleted[j]);
            memmove(c->deleted[j], c->deleted[c->n_deleted - 1], KEY_MAX);
            c->n_deleted--;
            rc = s_run(c->copy, nk, to, key, NULL);
        } else if (r < 38) { /* the key itself changes */
            s_new_key(c, nk);
            rc = s_run(c->rekey, key, nk, NULL);
            s_remember_deleted(c, key);
        } else if (r < 70) { /* into or out of province 38 */
            rc = s_run(c->move, key, strcmp(prov, "38") == 0 ? "01" : "38", NULL);
        } else if (r < 90) { /* a corrected name */
            snprintf(name, sizeof name, "Nguyễn Văn %s %" PRIu64,
                     s_given[s_next(&s_rng_change) % (sizeof s_given / sizeof s_given[0])], c->ops);
            rc = s_run(c->rename, key, name, NULL);
        } else { /* a status change */
            char stv[4];
            snprintf(stv, sizeof stv, "%d", s_between(&s_rng_change, 1, 3));
            rc = s_run(c->status, key, stv, NULL);
        }
        c->ops++;
    }
    if (rc != 0) {
        fprintf(stderr, "crash: agency change failed: %s\n", sqlite3_errmsg(c->db));
        (void)s_exec(c->db, "ROLLBACK");
        return -1;
    }
    c->txns++;
    return s_exec(c->db, "COMMIT");
}

static void s_popgen_start(world_t *w)
{
    const char *bin = lt_it_popgen_binary();
    snprintf(w->popgen_seed, sizeof w->popgen_seed, "%" PRIu64, s_next(&s_rng_change) % 1000000);
    int n = s_between(&s_rng_change, 50, 250);
    snprintf(w->popgen_n, sizeof w->popgen_n, "%d", n);
    char **a = w->popgen_argv;
    a[0] = (char *)bin;
    a[1] = "--db";
    a[2] = w->agency_db;
    a[3] = "--changes";
    a[4] = w->popgen_n;
    a[5] = "--seed";
    a[6] = w->popgen_seed;
    a[7] = NULL;
    w->popgen = s_spawn(w->popgen_log, a);
    if (w->popgen > 0) {
        w->ch.popgen_rounds++;
        w->ch.popgen_changes += (uint64_t)n;
    }
}

/* Reaps a finished popgen round: 1 finished (or none running), 0 running. */
static int s_popgen_reap(world_t *w, int wait)
{
    if (w->popgen <= 0)
        return 1;
    int st = 0;
    pid_t r = waitpid(w->popgen, &st, wait ? 0 : WNOHANG);
    if (r == 0)
        return 0;
    s_pid_track(w->popgen, 0);
    w->popgen = 0;
    if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        s_failf("popgen --changes failed (wait status 0x%x)", (unsigned)st);
        s_tail(w->popgen_log, 1500);
    }
    return 1;
}

/* ---- convergence ---------------------------------------------------------------------------- */

typedef struct {
    int64_t pending;
    uint64_t own_ds, own_v, p38_v, bhxh_ds, sink;
} prog_t;

static uint64_t s_last(const char *store, const char *stream)
{
    sqlite3 *db = s_db_open(store);
    sinfo_t si;
    uint64_t v = db && s_stream_info(db, stream, &si) == 0 ? si.last_seq : 0;
    sqlite3_close(db);
    return v;
}

static void s_progress(world_t *w, prog_t *p)
{
    memset(p, 0, sizeof *p);
    p->pending = -1;
    if (s_table_exists(w->ch.db, "lt_changes") && s_table_exists(w->ch.db, "lt_source_cursor"))
        (void)s_int64(w->ch.db,
                      "SELECT COUNT(*) FROM lt_changes WHERE id > COALESCE((SELECT "
                      "change_id FROM lt_source_cursor WHERE dataset = ?1), 0)",
                      DS, -1, &p->pending);
    p->own_ds = s_last(w->owner_store, DS);
    p->own_v = s_last(w->owner_store, V38);
    p->p38_v = s_last(w->p38_store, V38);
    p->bhxh_ds = s_last(w->bhxh_store, DS);
    sqlite3 *sdb = s_db_open(w->sink_db);
    int64_t v = 0;
    if (sdb && s_table_exists(sdb, "lt_sink_cursor"))
        (void)s_int64(sdb, "SELECT seq FROM lt_sink_cursor WHERE stream = ?1", V38, 0, &v);
    sqlite3_close(sdb);
    p->sink = (uint64_t)v;
}

static int s_converged(const prog_t *p)
{
    return p->pending == 0 && p->own_ds > 0 && p->own_v > 0 && p->p38_v == p->own_v &&
           p->sink == p->own_v && p->bhxh_ds == p->own_ds;
}

/* Restarts whatever died on its own (a failure) or is due for a restart. */
static void s_supervise(world_t *w, int64_t now)
{
    for (int k = 0; k < K_N; k++) {
        proc_t *p = &w->procs[k];
        if (!p->restart_at && !s_proc_alive(p)) {
            p->unexpected++;
            s_failf("the %s exited on its own (wait status 0x%x)", s_kind[k], (unsigned)p->status);
            if (p->gw)
                lt_it_log_dump(p->gw);
            else
                s_tail(p->log, 4000);
            p->restart_at = now + 200;
        }
        if (p->restart_at && now >= p->restart_at) {
            p->restart_at = 0;
            if (s_proc_start(p) != 0)
                s_failf("cannot restart the %s", s_kind[k]);
        }
    }
}

/* ---- set-up
 * -------------------------------------------------------------------------------------- */

#define SOURCE_CONF                                                                                \
    "gateway_socket = \"%s\";\n"                                                                   \
    "dataset = \"" DS "\";\n"                                                                      \
    "record_type = \"lienthong.records.Population\";\n"                                            \
    "database = \"%s\";\n"                                                                         \
    "table = \"citizens\";\n"                                                                      \
    "key_column = \"personal_id\";\n"                                                              \
    "key_field = \"personal_id\";\n"                                                               \
    "columns = { personal_id = \"personal_id\"; full_name = \"full_name\";\n"                      \
    "  date_of_birth = \"date_of_birth\"; sex = \"sex\"; place_of_birth = \"place_of_birth\";\n"   \
    "  home_town = \"home_town\"; ethnicity = \"ethnicity\"; nationality = \"nationality\";\n"     \
    "  permanent_province = \"permanent_province\"; permanent_address = \"permanent_address\";\n"  \
    "  current_province = \"current_province\"; current_address = \"current_address\";\n"          \
    "  id_card_number = \"id_card_number\"; id_card_issued = \"id_card_issued\";\n"                \
    "  status = \"status\"; date_of_death = \"date_of_death\"; };\n"                               \
    "batch = 500;\n"                                                                               \
    "poll_ms = 50;\n"

#define SINK_CONF                                                                                  \
    "gateway_socket = \"%s\";\n"                                                                   \
    "stream = \"" V38 "\";\n"                                                                      \
    "record_type = \"lienthong.records.Population\";\n"                                            \
    "database = \"%s\";\n"                                                                         \
    "table = \"residents\";\n"                                                                     \
    "key_column = \"personal_id\";\n"                                                              \
    "create_table = true;\n"                                                                       \
    "columns = { personal_id = \"personal_id\"; full_name = \"full_name\";\n"                      \
    "  date_of_birth = \"date_of_birth\"; current_province = \"current_province\";\n"              \
    "  status = \"status\"; };\n"

static int s_setup(world_t *w, uint64_t seed)
{
    memset(w, 0, sizeof *w);
    if (lt_it_fed_init(&w->f, FED) != 0)
        return -1;
    w->f.extra_source = s_dir_extra;
    lt_it_member_t *mo = lt_it_member_add(&w->f, ID_OWNER, 1);
    lt_it_member_t *mp = lt_it_member_add(&w->f, ID_P38, 1);
    lt_it_member_t *mb = lt_it_member_add(&w->f, ID_BHXH, 1);
    if (!mo || !mp || !mb)
        return -1;
    static const char *const peers[] = {ID_OWNER, NULL};
    w->owner = lt_it_gw_new(&w->f, mo, 1, NULL, NULL);
    w->p38 = lt_it_gw_new(&w->f, mp, 1, peers, "subscribe = ( { stream = \"" V38 "\"; } );");
    w->bhxh = lt_it_gw_new(&w->f, mb, 1, peers, "subscribe = ( { stream = \"" DS "\"; } );");
    if (!w->owner || !w->p38 || !w->bhxh)
        return -1;
    const char *d = w->f.dir;
    snprintf(w->agency_db, sizeof w->agency_db, "%.4000s/bca-agency.db", d);
    snprintf(w->sink_db, sizeof w->sink_db, "%.4000s/p38-residents.db", d);
    snprintf(w->source_conf, sizeof w->source_conf, "%.4000s/source.conf", d);
    snprintf(w->sink_conf, sizeof w->sink_conf, "%.4000s/sink.conf", d);
    snprintf(w->source_log, sizeof w->source_log, "%.4000s/source.log", d);
    snprintf(w->sink_log, sizeof w->sink_log, "%.4000s/sink.log", d);
    snprintf(w->popgen_log, sizeof w->popgen_log, "%.4000s/popgen.log", d);
    snprintf(w->owner_store, sizeof w->owner_store, "%.4000s/store.db", w->owner->data_dir);
    snprintf(w->p38_store, sizeof w->p38_store, "%.4000s/store.db", w->p38->data_dir);
    snprintf(w->bhxh_store, sizeof w->bhxh_store, "%.4000s/store.db", w->bhxh->data_dir);
    if (lt_it_write_fmt(w->source_conf, SOURCE_CONF, w->owner->sock_path, w->agency_db) != 0 ||
        lt_it_write_fmt(w->sink_conf, SINK_CONF, w->p38->sock_path, w->sink_db) != 0)
        return -1;

    char seed_s[32], out[PATH_MAX + 32];
    snprintf(seed_s, sizeof seed_s, "%" PRIu64, (uint64_t)(seed % 1000000007ULL));
    snprintf(out, sizeof out, "%s/popgen-citizens.log", d);
    const char *gen[] = {"--db", w->agency_db, "--citizens", CITIZENS, "--seed", seed_s, NULL};
    if (lt_it_run_prog(lt_it_popgen_binary(), d, out, gen, 120000) != 0) {
        s_tail(out, 2000);
        return -1;
    }
    if (s_changer_open(&w->ch, w->agency_db) != 0)
        return -1;

    const char *bin = lt_it_binary();
    proc_t *p = w->procs;
    p[K_OWNER] = (proc_t){.kind = K_OWNER, .gw = w->owner};
    p[K_CONSUMER] = (proc_t){.kind = K_CONSUMER, .gw = w->p38};
    p[K_SOURCE] =
        (proc_t){.kind = K_SOURCE,
                 .argv = {(char *)bin, "source", "--config", w->source_conf, "--install", NULL}};
    p[K_SINK] =
        (proc_t){.kind = K_SINK, .argv = {(char *)bin, "sink", "--config", w->sink_conf, NULL}};
    memcpy(p[K_SOURCE].log, w->source_log, sizeof p[K_SOURCE].log);
    memcpy(p[K_SINK].log, w->sink_log, sizeof p[K_SINK].log);
    memcpy(p[K_OWNER].log, w->owner->log_path, sizeof p[K_OWNER].log);
    memcpy(p[K_CONSUMER].log, w->p38->log_path, sizeof p[K_CONSUMER].log);
    if (lt_it_gw_run(w->owner, READY_MS) != 0 || lt_it_gw_run(w->p38, READY_MS) != 0 ||
        lt_it_gw_run(w->bhxh, READY_MS) != 0)
        return -1;
    if (s_proc_start(&p[K_SOURCE]) != 0 || s_proc_start(&p[K_SINK]) != 0)
        return -1;
    return 0;
}

static void s_dump(world_t *w)
{
    lt_it_log_dump(w->owner);
    lt_it_log_dump(w->p38);
    lt_it_log_dump(w->bhxh);
    s_tail(w->source_log, 6000);
    s_tail(w->sink_log, 4000);
}

/* ---- the test ------------------------------------------------------------------------------- */

/* SIGKILLs p (stopped or running), checks what its crash must not break,
 * and schedules its restart. */
static void s_kill_now(world_t *w, proc_t *p, int64_t elapsed, int *total_kills)
{
    pid_t pid = s_proc_pid(p);
    s_proc_kill(p);
    p->kill_at = 0;
    p->kills++;
    (*total_kills)++;
    int delay = s_between(&s_rng_kill, RESTART_MIN_MS, RESTART_MAX_MS);
    p->restart_at = lt_it_ms() + delay;
    char stall[48] = "";
    if (p->stall_ms)
        snprintf(stall, sizeof stall, " after a %d ms stall", p->stall_ms);
    printf("crash: %6.2f s kill #%d: %s (pid %d)%s, restart in %d ms\n", (double)elapsed / 1000.0,
           *total_kills, s_kind[p->kind], (int)pid, stall, delay);
    fflush(stdout);
    s_crash_check(w, p->kind);
}

static uint64_t s_seed(void)
{
    const char *e = getenv("LT_CRASH_SEED");
    return e && *e ? strtoull(e, NULL, 0) : DEFAULT_SEED;
}

static void test_crash_rule(void)
{
    world_t *w = &s_w;
    uint64_t seed = s_seed();
    int64_t t0 = lt_it_ms();
    s_rng_kill = seed;
    s_rng_change = seed ^ 0x5deece66dULL;
    printf("\ncrash: seed %" PRIu64 " (set LT_CRASH_SEED to change it)\n", seed);
    fflush(stdout);
    int setup = s_setup(w, seed);
    if (setup != 0)
        s_dump(w);
    LT_IT_REQUIRE(setup == 0);
    int64_t t_setup = lt_it_ms();

    /* ---- chaos: changes, kills and restarts ---- */
    int64_t start = lt_it_ms(),
            next_kill = start + s_between(&s_rng_kill, KILL_MIN_MS, KILL_MAX_MS);
    int64_t next_txn = start, next_popgen = start;
    int total_kills = 0;
    for (;;) {
        int64_t now = lt_it_ms(), elapsed = now - start;
        int quotas = total_kills >= MIN_KILLS && w->procs[K_OWNER].kills >= MIN_EACH &&
                     w->procs[K_CONSUMER].kills >= MIN_EACH && w->procs[K_SOURCE].kills >= MIN_EACH;
        if ((elapsed >= CHAOS_MS && quotas) || elapsed >= CHAOS_MAX_MS)
            break;
        s_supervise(w, now);
        for (int k = 0; k < K_N; k++)
            if (w->procs[k].kill_at && now >= w->procs[k].kill_at)
                s_kill_now(w, &w->procs[k], elapsed, &total_kills);
        /* One stall at a time, and no check while a process is stopped: it
         * may hold a lock on a database the check reads. */
        int stalled = 0;
        for (int k = 0; k < K_N; k++)
            stalled |= w->procs[k].kill_at != 0;
        if (now >= next_kill && !stalled) {
            proc_t *cand[K_N];
            int n = 0;
            for (int k = 0; k < K_N; k++) {
                proc_t *p = &w->procs[k];
                /* Late in the phase, only what is still short of its quota. */
                int short_of = k != K_SINK && p->kills < MIN_EACH;
                if (s_proc_pid(p) > 0 && !p->restart_at && !p->kill_at &&
                    (elapsed < CHAOS_MS || short_of))
                    cand[n++] = p;
            }
            if (n > 0) {
                proc_t *p = cand[s_next(&s_rng_kill) % (uint64_t)n];
                /* Half of the kills hit a process that stalled first (as in a
                 * slow fsync or a descheduled process): whatever its peers
                 * sent it meanwhile is in its queues, unprocessed, when it dies. */
                if (s_next(&s_rng_kill) & 1) {
                    p->stall_ms = s_between(&s_rng_kill, STALL_MIN_MS, STALL_MAX_MS);
                    p->kill_at = now + p->stall_ms;
                    kill(s_proc_pid(p), SIGSTOP);
                } else {
                    p->stall_ms = 0;
                    s_kill_now(w, p, elapsed, &total_kills);
                }
            }
            /* Kills are 100..700 ms apart, counted from this one's SIGKILL. */
            next_kill = lt_it_ms() + s_between(&s_rng_kill, KILL_MIN_MS, KILL_MAX_MS);
            for (int k = 0; k < K_N; k++)
                if (w->procs[k].kill_at)
                    next_kill += w->procs[k].kill_at - now;
        }
        if (s_popgen_reap(w, 0) && lt_it_ms() >= next_popgen && w->popgen <= 0) {
            s_popgen_start(w);
            next_popgen = lt_it_ms() + s_between(&s_rng_change, 100, 600);
        }
        if (lt_it_ms() >= next_txn) {
            if (s_change_txn(&w->ch) != 0)
                s_failf("the test's own agency transaction failed");
            next_txn = lt_it_ms() + s_between(&s_rng_change, 20, 80);
        }
        s_sleep_ms(5);
    }
    for (int k = 0; k < K_N; k++) /* nothing stays stopped */
        if (w->procs[k].kill_at)
            s_kill_now(w, &w->procs[k], lt_it_ms() - start, &total_kills);
    int64_t t_chaos = lt_it_ms();
    CU_ASSERT(total_kills >= MIN_KILLS);
    CU_ASSERT(w->procs[K_OWNER].kills >= MIN_EACH);
    CU_ASSERT(w->procs[K_CONSUMER].kills >= MIN_EACH);
    CU_ASSERT(w->procs[K_SOURCE].kills >= MIN_EACH);

    /* ---- the changes stop; everything converges ---- */
    (void)s_popgen_reap(w, 1);
    prog_t prev, p;
    memset(&prev, 0, sizeof prev);
    int converged = 0;
    int64_t deadline = lt_it_ms() + CONVERGE_MS, last_report = 0;
    while (lt_it_ms() < deadline) {
        int64_t now = lt_it_ms();
        s_supervise(w, now);
        s_progress(w, &p);
        if (s_converged(&p) && memcmp(&p, &prev, sizeof p) == 0) {
            converged = 1;
            break;
        }
        if (now - last_report >= 10000) {
            printf("crash: converging: pending changes %" PRId64 ", owner %" PRIu64 "/%" PRIu64
                   ", consumer %" PRIu64 ", sink %" PRIu64 ", " ID_BHXH " %" PRIu64 "\n",
                   p.pending, p.own_ds, p.own_v, p.p38_v, p.sink, p.bhxh_ds);
            fflush(stdout);
            last_report = now;
        }
        prev = p;
        s_sleep_ms(1000);
    }
    int64_t t_conv = lt_it_ms();
    if (!converged) {
        s_failf("no convergence within %d s: pending %" PRId64 ", owner %" PRIu64 "/%" PRIu64
                ", consumer %" PRIu64 ", sink %" PRIu64 ", bhxh %" PRIu64,
                CONVERGE_MS / 1000, p.pending, p.own_ds, p.own_v, p.p38_v, p.sink, p.bhxh_ds);
        s_dump(w);
    }

    /* ---- every process drains and stops cleanly ---- */
    static const kind_t order[] = {K_SOURCE, K_SINK, K_CONSUMER};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        int rc = s_proc_stop(&w->procs[order[i]], STOP_MS);
        if (rc != 0)
            s_failf("the %s did not stop cleanly on SIGTERM (%d)", s_kind[order[i]], rc);
    }
    int rc_b = lt_it_gw_stop(w->bhxh, STOP_MS), rc_o = lt_it_gw_stop(w->owner, STOP_MS);
    if (rc_b != 0 || rc_o != 0)
        s_failf("gateways did not stop cleanly on SIGTERM (bhxh %d, owner %d)", rc_b, rc_o);

    /* ---- (1)..(4) at rest ---- */
    char err[1024];
    uint64_t rows = 0, checked = 0, ds_last = 0, v_last = 0, c_last = 0, b_last = 0, sink = 0,
             sink_rows = 0;
    if (s_check_table(w, &rows, err, sizeof err) != 0)
        s_failf("(1) the consumer's table is not the owner's view: %s", err);
    if (s_check_owner(w, 1, &checked, err, sizeof err) != 0)
        s_failf("(2) the owner's store lacks acknowledged data: %s", err);
    if (s_check_owner_logs(w, &ds_last, &v_last, err, sizeof err) != 0)
        s_failf("(3) owner log: %s", err);
    if (s_check_replica(w, w->p38_store, "consumer " ID_P38, V38, &c_last, err, sizeof err) != 0)
        s_failf("(3) consumer log: %s", err);
    if (s_check_replica(w, w->bhxh_store, "consumer " ID_BHXH, DS, &b_last, err, sizeof err) != 0)
        s_failf("(3) second consumer log: %s", err);
    if (c_last != v_last || b_last != ds_last)
        s_failf("(3) replicas end at %" PRIu64 " (view) and %" PRIu64
                " (dataset), the owner at %" PRIu64 " and %" PRIu64,
                c_last, b_last, v_last, ds_last);
    if (s_check_sink(w, &sink, &sink_rows, err, sizeof err) != 0)
        s_failf("(4) sink: %s", err);
    if (sink != c_last)
        s_failf("(4) the sink's cursor is %" PRIu64 ", the consumer's last seq %" PRIu64, sink,
                c_last);
    CU_ASSERT(rows > 0);
    CU_ASSERT_EQUAL(sink_rows, rows);
    CU_ASSERT(checked > 15000);

    int64_t t_end = lt_it_ms();
    printf("crash: SUMMARY seed=%" PRIu64 " kills=%d (owner-gateway %d, consumer-gateway %d, "
           "source %d, sink %d) unexpected-exits=%d crash-checks=%" PRIu64 "/%" PRIu64 "/%" PRIu64
           " records: dataset %" PRIu64 ", view %" PRIu64 " (consumer %" PRIu64
           ", sink cursor %" PRIu64 ", " ID_BHXH " %" PRIu64 "), rows: agency checked %" PRIu64
           ", view %" PRIu64 "; changes: %" PRIu64 " popgen in %" PRIu64 " rounds + %" PRIu64
           " direct in %" PRIu64 " txns (%" PRIu64
           " skipped: lock busy); seconds: setup %.1f, chaos %.1f, converge %.1f, total %.1f\n",
           seed, total_kills, w->procs[K_OWNER].kills, w->procs[K_CONSUMER].kills,
           w->procs[K_SOURCE].kills, w->procs[K_SINK].kills,
           w->procs[0].unexpected + w->procs[1].unexpected + w->procs[2].unexpected +
               w->procs[3].unexpected,
           w->checks[K_OWNER], w->checks[K_CONSUMER], w->checks[K_SINK], ds_last, v_last, c_last,
           sink, b_last, checked, rows, w->ch.popgen_changes, w->ch.popgen_rounds, w->ch.ops,
           w->ch.txns, w->ch.busy, (double)(t_setup - t0) / 1000.0,
           (double)(t_chaos - start) / 1000.0, (double)(t_conv - t_chaos) / 1000.0,
           (double)(t_end - t0) / 1000.0);
    fflush(stdout);
    if (s_failures)
        s_dump(w);
    CU_ASSERT_EQUAL(s_failures, 0);
out:
    s_kill_all();
    if (w->popgen > 0)
        w->popgen = 0;
    s_changer_close(&w->ch);
    const char *keep = getenv("LT_CRASH_KEEP");
    if (keep && w->f.dir[0] &&
        (s_failures || CU_get_number_of_failures() || strcmp(keep, "always") == 0)) {
        char kept[PATH_MAX + 8];
        for (size_t i = 0; i < w->f.n_gateways; i++)
            lt_it_gw_kill(&w->f.gateways[i]);
        snprintf(kept, sizeof kept, "%.4000s-kept", w->f.dir);
        if (rename(w->f.dir, kept) == 0)
            printf("crash: kept the temporary directory as %s\n", kept);
    }
    lt_it_fed_cleanup(&w->f);
}

/* ---- kills during a schema migration (docs/ARCHITECTURE.md 4.1) ------------------------------ */

#define MIG_RECORDS       300000
#define MIG_MIN_MID       3 /* kills that must land while the migration is under way */
#define MIG_ATTEMPTS      40
#define MIG_SUM_STEP      2    /* the step that adds the log rows' checksums */
#define MIG_TAILS_STEP    4    /* the step that adds the retained tails (PROTOCOL.md 6.8) */
#define MIG_PRESENCE_STEP 6    /* the step that adds the completeness counts (PROTOCOL.md 8.9) */
#define MIG_KEYS          3000 /* live keys of the old store's state */

/* What a store holds: schema version, log rows, rows with a checksum, and
 * a digest of every (id, record) in id order. */
typedef struct {
    int version, has_sum, has_tails, has_presence;
    int64_t rows, sums, counted; /* counted: current records in the completeness counts */
    uint8_t digest[32];
} mig_view_t;

static int s_mig_view(const char *path, mig_view_t *v, char *err, size_t errlen)
{
    sqlite3 *db = s_db_open(path);
    sqlite3_stmt *st = NULL;
    int64_t x = 0;
    memset(v, 0, sizeof *v);
    if (!db)
        return lt_err_set(err, errlen, "cannot open %s", path);
    int rc = s_int64(db, "PRAGMA user_version", NULL, -1, &x);
    v->version = (int)x;
    if (rc == 0)
        rc = s_int64(db, "SELECT count(*) FROM pragma_table_info('log') WHERE name = 'sum'", NULL,
                     -1, &x);
    v->has_sum = x > 0;
    if (rc == 0)
        rc = s_int64(db, "SELECT count(*) FROM sqlite_master WHERE name = 'tails'", NULL, -1, &x);
    v->has_tails = x > 0;
    if (rc == 0)
        rc =
            s_int64(db, "SELECT count(*) FROM sqlite_master WHERE name = 'presence'", NULL, -1, &x);
    v->has_presence = x > 0;
    if (rc == 0 && v->has_presence)
        rc = s_int64(db, "SELECT coalesce(sum(n), 0) FROM presence WHERE field = 0", NULL, -1,
                     &v->counted);
    if (rc == 0)
        rc = s_int64(db, "SELECT count(*) FROM log", NULL, -1, &v->rows);
    if (rc == 0 && v->has_sum)
        rc = s_int64(db, "SELECT count(*) FROM log WHERE length(sum) = 24", NULL, -1, &v->sums);
    if (rc == 0)
        rc =
            s_int64(db, "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check != 'ok'",
                    NULL, -1, &x) == 0 &&
                    x == 0
                ? 0
                : -1;
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, sizeof v->digest);
    if (rc == 0 && sqlite3_prepare_v2(db, "SELECT id, record FROM log ORDER BY id", -1, &st,
                                      NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW) {
            int64_t id = sqlite3_column_int64(st, 0);
            crypto_generichash_update(&h, (const uint8_t *)&id, sizeof id);
            crypto_generichash_update(&h, sqlite3_column_blob(st, 1),
                                      (size_t)sqlite3_column_bytes(st, 1));
        }
    crypto_generichash_final(&h, v->digest, sizeof v->digest);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc == 0
               ? 0
               : lt_err_set(err, errlen, "%s: cannot read it, or SQLite finds it corrupt", path);
}

/* s_mig_view counts the rows holding a checksum as written now. */
_Static_assert(LT_STORE_SUM_BYTES == 24, "the checksum length s_mig_view counts");

/* A store as the versions before schema versions wrote it, with n records
 * of one stream. */
static int s_mig_old_store(const char *path, int n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        sqlite3_close(db);
        return -1;
    }
    int rc = s_exec(db, LT_STORE_SCHEMA_V0) == 0 &&
                     s_exec(db, "INSERT INTO streams(id, name, last_seq) VALUES (1, '" DS
                                "', 300000); BEGIN") == 0 &&
                     sqlite3_prepare_v2(db, "INSERT INTO log(id, record) VALUES (?1, ?2)", -1, &st,
                                        NULL) == SQLITE_OK
                 ? 0
                 : -1;
    char rec[160];
    for (int i = 1; rc == 0 && i <= n; i++) {
        int len = snprintf(rec, sizeof rec, "record %d of " DS ": Nguyễn Thị Hoa, 1970-01-%02d", i,
                           1 + i % 28);
        sqlite3_bind_int64(st, 1, ((int64_t)1 << SEQ_BITS) | i);
        sqlite3_bind_blob(st, 2, rec, len, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    /* Live keys in the state, which step 6 counts. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < %d) "
             "INSERT INTO state SELECT 1, printf('%%012d', i), i * 100, 0 FROM k",
             MIG_KEYS);
    if (rc == 0)
        rc = s_exec(db, sql);
    if (rc == 0)
        rc = s_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE)");
    sqlite3_close(db);
    return rc;
}

/* Copies the template over data_dir/store.db, without WAL files. */
static int s_mig_reset(const char *tmpl, const char *store)
{
    char side[2 * PATH_MAX], cmd[3 * PATH_MAX];
    snprintf(side, sizeof side, "%s-wal", store);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", store);
    unlink(side);
    snprintf(cmd, sizeof cmd, "cp '%s' '%s'", tmpl, store);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_migration_kills(void)
{
    lt_it_fed_t f;
    char tmpl[PATH_MAX + 16], store[PATH_MAX + 16], wal[PATH_MAX + 32], err[512] = "";
    mig_view_t want, got;
    uint64_t rng = DEFAULT_SEED;
    int mid = 0, done = 0, failures0 = s_failures;
    memset(&f, 0, sizeof f);
    LT_IT_REQUIRE(lt_it_fed_init(&f, FED) == 0);
    lt_it_member_t *m = lt_it_member_add(&f, ID_OWNER, 1);
    lt_it_gw_t *g = m ? lt_it_gw_new(&f, m, 1, NULL, NULL) : NULL;
    LT_IT_REQUIRE(g && mkdir(g->data_dir, 0700) == 0);
    snprintf(tmpl, sizeof tmpl, "%s/old-store.db", f.dir);
    snprintf(store, sizeof store, "%s/store.db", g->data_dir);
    snprintf(wal, sizeof wal, "%s-wal", store);
    LT_IT_REQUIRE(s_mig_old_store(tmpl, MIG_RECORDS) == 0);
    LT_IT_REQUIRE(s_mig_view(tmpl, &want, err, sizeof err) == 0);
    LT_IT_REQUIRE(want.version == 0 && !want.has_sum && want.rows == MIG_RECORDS);

    /* How long a start with the whole migration takes here, to aim the kills. */
    LT_IT_REQUIRE(s_mig_reset(tmpl, store) == 0);
    int64_t t0 = lt_it_ms();
    LT_IT_REQUIRE(lt_it_gw_run(g, READY_MS) == 0);
    int full_ms = (int)(lt_it_ms() - t0);
    LT_IT_REQUIRE(lt_it_gw_stop(g, STOP_MS) == 0);

    for (int i = 0; i < MIG_ATTEMPTS && mid < MIG_MIN_MID; i++) {
        LT_IT_REQUIRE(s_mig_reset(tmpl, store) == 0);
        LT_IT_REQUIRE(lt_it_gw_start(g) == 0);
        s_sleep_ms(s_between(&rng, full_ms / 10, full_ms));
        lt_it_gw_kill(g);
        /* Either the step is done or not begun: never a half-migrated store. */
        int opened = access(wal, F_OK) == 0;
        if (s_mig_view(store, &got, err, sizeof err) != 0) {
            s_failf("migration kill %d: %s", i, err);
            break;
        }
        int latest = lt_store_schema_version();
        int ok = got.rows == want.rows && memcmp(got.digest, want.digest, 32) == 0 &&
                 got.version <= latest &&
                 (got.version >= MIG_SUM_STEP ? got.has_sum && got.sums == got.rows
                                              : got.version >= 0 && !got.has_sum) &&
                 got.has_tails == (got.version >= MIG_TAILS_STEP) &&
                 got.has_presence == (got.version >= MIG_PRESENCE_STEP) &&
                 (!got.has_presence || got.counted == MIG_KEYS);
        if (!ok)
            s_failf("migration kill %d: version %d, sum column %d, %" PRId64 " rows (%" PRId64
                    " with a checksum), records %s, counts table %d with %" PRId64 " records",
                    i, got.version, got.has_sum, got.rows, got.sums,
                    memcmp(got.digest, want.digest, 32) ? "changed" : "intact", got.has_presence,
                    got.counted);
        mid += opened && got.version < latest;
        done += got.version == latest;
    }
    printf("crash: migration of %d records takes %d ms to ready; %d kills during it, %d after it\n",
           MIG_RECORDS, full_ms, mid, done);
    CU_ASSERT(mid >= MIG_MIN_MID);
    /* The next start after the last kill finishes the migration. */
    LT_IT_REQUIRE(lt_it_gw_run(g, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(g, STOP_MS) == 0);
    LT_IT_REQUIRE(s_mig_view(store, &got, err, sizeof err) == 0);
    CU_ASSERT(got.version == lt_store_schema_version() && got.sums == want.rows && got.has_tails);
    CU_ASSERT(got.has_presence && got.counted == MIG_KEYS);
    CU_ASSERT(memcmp(got.digest, want.digest, 32) == 0);
    const char *args[] = {"store", "verify", "--config", g->conf_path, NULL};
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/verify.out", f.dir);
    CU_ASSERT_EQUAL(lt_it_run_cli(f.dir, out, args, 60000), 0);
    CU_ASSERT_EQUAL(s_failures, failures0);
out:
    if (err[0])
        fprintf(stderr, "crash: %s\n", err);
    lt_it_fed_cleanup(&f);
}

static void s_teardown(void)
{
    s_kill_all();
    lt_it_cleanup_all();
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"kill -9 of any process at any moment loses nothing acknowledged", test_crash_rule},
        {"kill -9 during a store schema migration leaves each step done or not begun",
         test_migration_kills},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"crash", NULL, NULL, NULL, s_teardown, tests};
    return lt_it_main(argc, argv, &suite);
}

/* test_integrity: integration tests of stores that prove their content
 * (docs/ARCHITECTURE.md 4.2, PROTOCOL.md 6.10) and of the data directory's
 * modes, with real `lienthong gateway` processes on 127.0.0.1.
 *
 * Proves: a replica whose store was damaged while it was stopped (one byte
 * edited inside a record, SQLite's integrity_check still ok; 32 bytes
 * flipped; a page of the file zeroed) never delivers the damaged records:
 * a sink gets an Error naming the damaged range instead of data or a stall,
 * the gateway logs the damage at error level once, `lienthong store verify`
 * names the range and exits 1; the replica fetches the range from the owner
 * again by itself, verifies it against the signed batch header it kept (for
 * the zeroed page after rebuilding the file from what SQLite can still
 * read), and afterwards delivers exactly the owner's bytes and verifies with
 * exit 0. `lienthong status` shows the damage while it awaits repair.
 * When the owner no longer keeps the damaged range (its retained tail is
 * past it), its refusal of the Range leaves the live feed alone and the
 * replica resynchronises by snapshot, once: it ends equal to the owner and
 * takes new records again.
 * Store and audit files are created 0600, and a data directory open to
 * others is refused with a clear error.
 * A full store disk (a small tmpfs on the data directory, mounted by the
 * test, which needs root) refuses each Publish with ERR_UNAVAILABLE naming
 * SQLite's cause, logs it once however often it is resent, reads 0 in
 * lienthong_store_writable, and once there is room stores the resent
 * Publish by itself with every acknowledged change kept.
 *
 * Usage: test_integrity /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_feedtest.h"
#include "lt_itest.h"
#include "lt_sock.h"
#include "records/population.pb-c.h"

#include <CUnit/Basic.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define FED         "VN"
#define ID_OWNER    "VN/GOV/BCA"
#define ID_BHXH     "VN/GOV/BHXH"
#define DS          "VN/GOV/BCA/population"
#define N_CITIZENS  1500
#define N_MORE      5   /* published after a repair by snapshot */
#define DAMAGED_SEQ 700 /* inside the batch 513..768 (batch_max 256) */

#define READY_MS    10000
#define PUBLISH_MS  10000
#define CONVERGE_MS 30000
#define REPLY_MS    5000
#define STOP_MS     5000

#define ALIVE LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE

static const char *s_source =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_BHXH "\"; target = \"" DS "\"; allow = [\"subscribe\"]; } );\n";

typedef struct {
    lt_it_fed_t f;
    lt_it_member_t *owner, *bhxh;
    lt_it_gw_t *gw_owner, *gw_rep;
    lt_ft_model_t m;
} fed_t;

/* An owner and one replica of the dataset, both running, the replica equal
 * to the owner after N_CITIZENS records in batches of 256. */
static int s_setup(fed_t *x)
{
    static const char *peers[] = {ID_OWNER, NULL};
    memset(x, 0, sizeof *x);
    if (lt_it_fed_init(&x->f, FED) != 0)
        return -1;
    x->f.extra_source = s_source;
    x->owner = lt_it_member_add(&x->f, ID_OWNER, 1);
    x->bhxh = lt_it_member_add(&x->f, ID_BHXH, 1);
    if (!x->owner || !x->bhxh)
        return -1;
    x->gw_owner = lt_it_gw_new(&x->f, x->owner, 1, NULL, "batch_max = 256;");
    x->gw_rep = lt_it_gw_new(&x->f, x->bhxh, 1, peers, "subscribe = ( { stream = \"" DS "\"; } );");
    if (!x->gw_owner || !x->gw_rep || lt_it_gw_run(x->gw_owner, READY_MS) != 0 ||
        lt_it_gw_run(x->gw_rep, READY_MS) != 0 ||
        lt_ft_model_init(&x->m, N_CITIZENS + N_MORE, 79000000000ULL) != 0)
        return -1;
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    int rc = p ? 0 : -1;
    if (p)
        lt_ft_pub_init(p, DS);
    for (size_t i = 0; rc == 0 && i < N_CITIZENS; i++) {
        rc = lt_ft_put(p, &x->m, i, i % 2 ? "Đặng Văn Long" : "Nguyễn Thị Hoa", "79", ALIVE);
        if (rc == 0 && (p->n == 500 || i + 1 == N_CITIZENS))
            rc = lt_ft_pub_send(p, x->gw_owner, NULL, NULL, PUBLISH_MS);
    }
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    return rc == 0 ? lt_ft_wait_same(x->gw_owner, x->gw_rep, DS, CONVERGE_MS) : -1;
}

static void s_teardown_fed(fed_t *x)
{
    for (size_t i = 0; i < x->f.n_gateways; i++) {
        lt_it_gw_t *g = &x->f.gateways[i];
        if (g->pid > 0)
            CU_ASSERT_EQUAL(lt_it_gw_stop(g, STOP_MS), 0);
        CU_ASSERT(!lt_it_file_contains(g->log_path, "Sanitizer"));
        CU_ASSERT(!lt_it_file_contains(g->log_path, "runtime error:"));
    }
    lt_ft_model_free(&x->m);
    lt_it_fed_cleanup(&x->f);
}

/* The gateways' logs when something failed (or LT_IT_DUMP is set), then
 * the teardown. */
static void s_finish(fed_t *x)
{
    if (CU_get_number_of_failures() || getenv("LT_IT_DUMP"))
        for (size_t i = 0; i < x->f.n_gateways; i++)
            lt_it_log_dump(&x->f.gateways[i]);
    s_teardown_fed(x);
}

/* ---- damaging a stopped replica's store ------------------------------------------ */

static sqlite3 *s_open_db(const lt_it_gw_t *g)
{
    char path[PATH_MAX + 16];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/store.db", g->data_dir);
    if (sqlite3_open(path, &db) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

/* Rewrites the record at seq of the stream with `len` bytes from `off`
 * changed by f (xor mask 0 means: set to 'x'), behind the store's back. */
static int s_rewrite(const lt_it_gw_t *g, uint64_t seq, size_t off, size_t len, uint8_t mask)
{
    uint8_t *rec = NULL;
    size_t n = 0;
    if (lt_ft_record(g, DS, seq, &rec, &n) != 1 || off + len > n) {
        free(rec);
        return -1;
    }
    for (size_t i = off; i < off + len; i++)
        rec[i] = mask ? (uint8_t)(rec[i] ^ mask) : (uint8_t)'x';
    sqlite3 *db = s_open_db(g);
    sqlite3_stmt *st = NULL;
    int rc = -1;
    if (db && sqlite3_prepare_v2(db,
                                 "UPDATE log SET record = ?1 WHERE id = ((SELECT id FROM streams "
                                 "WHERE name = ?2) << 40) | ?3",
                                 -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_blob(st, 1, rec, (int)n, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, DS, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)seq);
        rc = sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db) == 1 ? 0 : -1;
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    free(rec);
    return rc;
}

/* 1 when SQLite's own integrity check still passes. */
static int s_sqlite_ok(const lt_it_gw_t *g)
{
    sqlite3 *db = s_open_db(g);
    sqlite3_stmt *st = NULL;
    int ok = db && sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    sqlite3_close(db);
    return ok;
}

/* Zeroes the page of the file that holds the record at seq. */
static int s_zero_page(const lt_it_gw_t *g, uint64_t seq)
{
    uint8_t *rec = NULL, *file = NULL;
    size_t n = 0;
    char path[PATH_MAX + 16];
    int rc = -1, fd = -1;
    sqlite3 *db = s_open_db(g);
    int64_t page = db ? 0 : -1;
    /* Everything in the main file first, so the record lives there. */
    if (db && sqlite3_exec(db, "PRAGMA wal_checkpoint(TRUNCATE)", NULL, NULL, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            page = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    snprintf(path, sizeof path, "%s/store.db", g->data_dir);
    struct stat sb;
    if (page <= 0 || lt_ft_record(g, DS, seq, &rec, &n) != 1 || stat(path, &sb) != 0 ||
        !(file = malloc((size_t)sb.st_size)) || (fd = open(path, O_RDWR)) < 0 ||
        pread(fd, file, (size_t)sb.st_size, 0) != sb.st_size)
        goto out;
    uint8_t *hit = memmem(file, (size_t)sb.st_size, rec, n);
    if (hit) {
        off_t at = (off_t)((hit - file) / page * page);
        uint8_t *zeros = calloc(1, (size_t)page);
        rc = zeros && pwrite(fd, zeros, (size_t)page, at) == page && fsync(fd) == 0 ? 0 : -1;
        free(zeros);
    }
out:
    if (fd >= 0)
        close(fd);
    free(file);
    free(rec);
    return rc;
}

/* ---- a sink on the local socket ----------------------------------------------------- */

/* What a sink attached from seq 1 received: either every record through
 * last (checked byte for byte against the owner), or an Error. */
typedef struct {
    uint64_t delivered;
    int error;
    Lienthong__ErrorCode code;
    uint64_t damaged_first, damaged_last;
    int mismatch;
} sink_t;

static int s_on_deliver(const fed_t *x, const Lienthong__Deliver *d, sink_t *out)
{
    for (size_t i = 0; i < d->n_records; i++) {
        uint8_t *want = NULL, *got = NULL;
        size_t wl = 0, gl = lienthong__record__get_packed_size(d->records[i]);
        uint64_t seq = out->delivered + 1;
        got = malloc(gl ? gl : 1);
        if (!got || lt_ft_record(x->gw_owner, DS, seq, &want, &wl) != 1 ||
            d->records[i]->seq != seq || lienthong__record__pack(d->records[i], got) != gl ||
            gl != wl || memcmp(got, want, wl) != 0)
            out->mismatch = 1;
        free(got);
        free(want);
        out->delivered++;
    }
    return 0;
}

static int s_sink(const fed_t *x, uint64_t last, sink_t *out)
{
    char err[512];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    memset(out, 0, sizeof *out);
    void *s = lt_sock_local_client(lt_it_ctx(), x->gw_rep->sock_path, &o, err, sizeof err);
    if (!s)
        return -1;
    Lienthong__SinkAttach a = LIENTHONG__SINK_ATTACH__INIT;
    a.stream = DS;
    a.from_seq = 1;
    a.credit = 100000;
    int rc = lt_wire_send_body(s, NULL, 0, LIENTHONG__ENVELOPE__BODY_SINK_ATTACH, &a);
    int64_t deadline = lt_it_ms() + REPLY_MS;
    while (rc == 0 && out->delivered < last && !out->error && lt_it_ms() < deadline) {
        zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 200) <= 0)
            continue;
        lt_wire_in_t in;
        Lienthong__ErrorCode code;
        Lienthong__Envelope *env = NULL;
        if (lt_wire_recv(s, 0, ZMQ_DONTWAIT, &in) == 0 && in.frames == 1)
            env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                 LT_LOCAL_MAX_MESSAGE, &code, err, sizeof err);
        lt_wire_in_close(&in);
        if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_DELIVER)
            s_on_deliver(x, env->deliver, out);
        else if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
            out->error = 1;
            out->code = env->error->code;
            if (env->error->damaged) {
                out->damaged_first = env->error->damaged->first_seq;
                out->damaged_last = env->error->damaged->last_seq;
            }
        }
        lt_wire_free(&env);
    }
    zmq_close(s);
    return rc;
}

/* `lienthong store verify` on the replica: its exit status, its output in
 * out_path. */
static int s_verify_cli(const fed_t *x, const char *out_path)
{
    const char *args[] = {"store", "verify", "--config", x->gw_rep->conf_path, NULL};
    return lt_it_run_cli(x->f.dir, out_path, args, 30000);
}

/* `lienthong status` on the replica, its output in out_path. */
static void s_status_cli(const fed_t *x, const char *out_path)
{
    const char *args[] = {"status", "--config", x->gw_rep->conf_path, NULL};
    (void)lt_it_run_cli(x->f.dir, out_path, args, 30000);
}

/* ---- the scenario ------------------------------------------------------------------------ */

typedef enum { EDIT_BYTE, FLIP_32, ZERO_PAGE } damage_t;

static int s_damage(fed_t *x, damage_t kind)
{
    switch (kind) {
    case EDIT_BYTE:
        /* A byte of the payload text: the record still decodes. */
        return s_rewrite(x->gw_rep, DAMAGED_SEQ, 30, 1, 0) == 0 && s_sqlite_ok(x->gw_rep) ? 0 : -1;
    case FLIP_32:
        return s_rewrite(x->gw_rep, DAMAGED_SEQ, 0, 32, 0xff) == 0 && s_sqlite_ok(x->gw_rep) ? 0
                                                                                             : -1;
    case ZERO_PAGE:
        return s_zero_page(x->gw_rep, DAMAGED_SEQ);
    }
    return -1;
}

static void s_scenario(damage_t kind)
{
    fed_t x;
    sink_t got;
    char out[PATH_MAX + 32];
    LT_IT_REQUIRE(s_setup(&x) == 0);
    uint64_t last = lt_ft_last_seq(x.gw_owner, DS);
    LT_IT_REQUIRE(last == N_CITIZENS);
    snprintf(out, sizeof out, "%s/verify.out", x.f.dir);
    CU_ASSERT_EQUAL(s_verify_cli(&x, out), 0);

    /* The owner stops too, so the replica cannot repair before we look. */
    LT_IT_REQUIRE(lt_it_gw_stop(x.gw_rep, STOP_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_stop(x.gw_owner, STOP_MS) == 0);
    LT_IT_REQUIRE(s_damage(&x, kind) == 0);
    CU_ASSERT_EQUAL(s_verify_cli(&x, out), 1);
    CU_ASSERT(lt_it_file_contains(out, "damaged: " DS " records "));
    long mark = lt_it_log_mark(x.gw_rep);
    LT_IT_REQUIRE(lt_it_gw_run(x.gw_rep, READY_MS) == 0);

    /* Never delivered: the sink gets everything before it, then an Error
     * naming the damaged range; not a stall, not wrong data. */
    LT_IT_REQUIRE(s_sink(&x, last, &got) == 0);
    CU_ASSERT(got.error && got.code == LIENTHONG__ERROR_CODE__ERR_INTERNAL);
    CU_ASSERT(got.damaged_first >= 513 && got.damaged_first <= DAMAGED_SEQ);
    CU_ASSERT(got.damaged_last >= DAMAGED_SEQ || kind == ZERO_PAGE);
    CU_ASSERT_EQUAL(got.delivered, got.damaged_first - 1);
    CU_ASSERT(!got.mismatch);
    /* Logged at error level, once, however often it is read. */
    LT_IT_REQUIRE(s_sink(&x, last, &got) == 0);
    CU_ASSERT(got.error);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(x.gw_rep, mark, "ERROR", "are damaged in the store"), 1);
    s_status_cli(&x, out);
    CU_ASSERT(lt_it_file_contains(out, "DAMAGED records "));
    CU_ASSERT(lt_it_file_contains(out, "awaiting repair from the owner"));

    /* The owner comes back: the replica repairs the range by itself. */
    LT_IT_REQUIRE(lt_it_gw_run(x.gw_owner, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(x.gw_rep, mark, "repaired records", "from " ID_OWNER, CONVERGE_MS) ==
              0);
    LT_IT_REQUIRE(s_sink(&x, last, &got) == 0);
    CU_ASSERT(!got.error);
    CU_ASSERT_EQUAL(got.delivered, last);
    CU_ASSERT(!got.mismatch);
    char err[512] = "";
    CU_ASSERT_EQUAL(lt_ft_compare(x.gw_owner, x.gw_rep, DS, err, sizeof err), 0);
    if (err[0])
        fprintf(stderr, "\n  compare: %s\n", err);
    CU_ASSERT_EQUAL(s_verify_cli(&x, out), 0);
out:
    s_finish(&x);
}

/* ---- the owner no longer keeps the damaged range ------------------------------------------- */

/* The first seq of the retained log tail of the dataset in g's store. */
static uint64_t s_tail_first(const lt_it_gw_t *g)
{
    sqlite3 *db = s_open_db(g);
    sqlite3_stmt *st = NULL;
    uint64_t first = 1;
    if (db && sqlite3_prepare_v2(db,
                                 "SELECT first_seq FROM tails WHERE stream = (SELECT id FROM "
                                 "streams WHERE name = ?1)",
                                 -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, DS, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            first = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return first;
}

/* Adds text to g's configuration, for its next start. */
static int s_conf_add(const lt_it_gw_t *g, const char *text)
{
    FILE *fp = fopen(g->conf_path, "a");
    int rc = fp && fputs(text, fp) >= 0 ? 0 : -1;
    if (fp && fclose(fp) != 0)
        rc = -1;
    return rc;
}

static void test_pruned_range(void)
{
    fed_t x;
    char out[PATH_MAX + 32];
    LT_IT_REQUIRE(s_setup(&x) == 0);
    snprintf(out, sizeof out, "%s/verify.out", x.f.dir);
    LT_IT_REQUIRE(lt_it_gw_stop(x.gw_rep, STOP_MS) == 0);
    LT_IT_REQUIRE(s_damage(&x, EDIT_BYTE) == 0);
    CU_ASSERT_EQUAL(s_verify_cli(&x, out), 1);
    /* The owner keeps a short tail from now on, far past the damage. */
    LT_IT_REQUIRE(lt_it_gw_stop(x.gw_owner, STOP_MS) == 0);
    LT_IT_REQUIRE(s_conf_add(x.gw_owner, "retain_records = 10;\n") == 0);
    LT_IT_REQUIRE(lt_it_gw_run(x.gw_owner, READY_MS) == 0);
    int64_t deadline = lt_it_ms() + CONVERGE_MS;
    while (s_tail_first(x.gw_owner) <= DAMAGED_SEQ && lt_it_ms() < deadline)
        usleep(100000);
    LT_IT_REQUIRE(s_tail_first(x.gw_owner) > DAMAGED_SEQ);

    /* The Range is refused; the replica resynchronises by snapshot, once,
     * and its live feed is never dropped for the refusal. */
    long mark = lt_it_log_mark(x.gw_rep);
    LT_IT_REQUIRE(lt_it_gw_run(x.gw_rep, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(x.gw_rep, mark, "resynchronising the replica by snapshot",
                             "ERR_SEQUENCE", CONVERGE_MS) == 0);
    CU_ASSERT(lt_it_log_wait(x.gw_rep, mark, "resynchronised from " ID_OWNER "'s snapshot",
                             "now seq", CONVERGE_MS) == 0);
    uint64_t first = 0, last = 0;
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    LT_IT_REQUIRE(p);
    lt_ft_pub_init(p, DS);
    int rc = 0;
    for (size_t i = N_CITIZENS; rc == 0 && i < N_CITIZENS + N_MORE; i++)
        rc = lt_ft_put(p, &x.m, i, "Lê Thị Mai", "38", ALIVE);
    if (rc == 0)
        rc = lt_ft_pub_send(p, x.gw_owner, &first, &last, PUBLISH_MS);
    lt_ft_pub_clear(p);
    free(p);
    LT_IT_REQUIRE(rc == 0 && last == N_CITIZENS + N_MORE);
    CU_ASSERT_EQUAL(lt_ft_wait_same(x.gw_owner, x.gw_rep, DS, CONVERGE_MS), 0);
    char err[512] = "";
    CU_ASSERT_EQUAL(lt_ft_compare(x.gw_owner, x.gw_rep, DS, err, sizeof err), 0);
    if (err[0])
        fprintf(stderr, "\n  compare: %s\n", err);
    CU_ASSERT_EQUAL(
        lt_ft_log_count_lines(x.gw_rep, mark, "resynchronising the replica by snapshot", NULL), 1);
    CU_ASSERT(!lt_it_log_has(x.gw_rep, mark, "owner refused", NULL));
    CU_ASSERT(!lt_it_log_has(x.gw_rep, mark, "stopped at seq", NULL));
    CU_ASSERT_EQUAL(s_verify_cli(&x, out), 0);
out:
    s_finish(&x);
}

static void test_edited_byte(void)
{
    s_scenario(EDIT_BYTE);
}

static void test_flipped_bytes(void)
{
    s_scenario(FLIP_32);
}

static void test_zeroed_page(void)
{
    s_scenario(ZERO_PAGE);
}

/* ---- file modes --------------------------------------------------------------------------- */

static void test_file_modes(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    LT_IT_REQUIRE(lt_it_fed_init(&x.f, FED) == 0);
    x.f.extra_source = s_source;
    x.owner = lt_it_member_add(&x.f, ID_OWNER, 1);
    x.bhxh = lt_it_member_add(&x.f, ID_BHXH, 1);
    LT_IT_REQUIRE(x.owner && x.bhxh);
    x.gw_owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, NULL);
    LT_IT_REQUIRE(x.gw_owner);
    lt_it_gw_t *g = x.gw_owner;
    /* An operator-made data directory readable by others is refused. */
    LT_IT_REQUIRE(mkdir(g->data_dir, 0755) == 0 && chmod(g->data_dir, 0755) == 0);
    long mark = lt_it_log_mark(g);
    LT_IT_REQUIRE(lt_it_gw_start(g) == 0);
    int status = 0;
    CU_ASSERT_EQUAL(lt_it_gw_wait_exit(g, READY_MS, &status), 0);
    CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) != 0);
    CU_ASSERT(lt_it_log_has(g, mark, "has mode 0755", "chmod 0700"));
    /* Fixed, it starts, and what it creates is for its user only. */
    LT_IT_REQUIRE(chmod(g->data_dir, 0700) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(g, READY_MS) == 0);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/store.db", g->data_dir);
    CU_ASSERT_EQUAL(lt_it_mode(path), 0600);
    snprintf(path, sizeof path, "%s/audit.db", g->data_dir);
    CU_ASSERT_EQUAL(lt_it_mode(path), 0600);
    snprintf(path, sizeof path, "%s/store.db-wal", g->data_dir);
    CU_ASSERT(access(path, F_OK) != 0 || lt_it_mode(path) == 0600);
    CU_ASSERT_EQUAL(lt_it_mode(g->data_dir), 0700);
    CU_ASSERT_EQUAL(lt_it_gw_stop(g, STOP_MS), 0);
    /* A store an older version left 0644 is made 0600 at the next start. */
    snprintf(path, sizeof path, "%s/store.db", g->data_dir);
    LT_IT_REQUIRE(chmod(path, 0644) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(g, READY_MS) == 0);
    CU_ASSERT_EQUAL(lt_it_mode(path), 0600);
out:
    s_teardown_fed(&x);
}

/* ---- a full store disk ----------------------------------------------------------------- */

#define FULL_BATCH    200 /* citizens per Publish while the disk fills */
#define FULL_MAX      300 /* Publish messages at most before one is refused */
#define FULL_RETRIES  20  /* the refused Publish resent, as an adapter would */
#define FULL_CITIZENS (FULL_BATCH * FULL_MAX)

/* The gateway's lienthong_store_writable, or -1. */
static double s_writable(lt_it_gw_t *g)
{
    char *text = lt_it_gw_metrics(g, REPLY_MS);
    double v = text ? lt_it_metric(text, "lienthong_store_writable") : -1;
    free(text);
    return v;
}

/* Publishes FULL_BATCH new citizens at a time until a Publish is refused;
 * p keeps the refused one, *acked counts the changes acknowledged. 0 with
 * the refusal in *code and msg, or -1. */
static int s_until_refused_pub(fed_t *x, lt_ft_pub_t *p, size_t *acked, Lienthong__ErrorCode *code,
                               char *msg, size_t len)
{
    for (size_t b = 0; b < FULL_MAX; b++) {
        for (size_t i = 0; i < FULL_BATCH; i++)
            if (lt_ft_put(p, &x->m, *acked + i, "Nguyễn Thị Hoa", "79", ALIVE) != 0)
                return -1;
        int rc = lt_ft_pub_try(p, x->gw_owner, NULL, NULL, PUBLISH_MS, code, msg, len);
        if (rc != 0)
            return rc == 1 ? 0 : -1;
        *acked += p->n;
        lt_ft_pub_clear(p);
    }
    return -1;
}

/* The Publish in p resent every 100 ms until acknowledged, within timeout_ms. */
static int s_until_acked(fed_t *x, lt_ft_pub_t *p, int timeout_ms)
{
    for (int64_t end = lt_it_ms() + timeout_ms; lt_it_ms() < end; usleep(100000))
        if (lt_ft_pub_try(p, x->gw_owner, NULL, NULL, PUBLISH_MS, NULL, NULL, 0) == 0)
            return 0;
    return -1;
}

/* A full store disk refuses publishes with ERR_UNAVAILABLE naming the
 * cause, logs it once however often adapters resend, reads 0 in
 * lienthong_store_writable, and recovers by itself once there is room,
 * with every acknowledged change stored and the refused one too. */
static void test_full_disk(void)
{
    fed_t x;
    char filler[PATH_MAX + 16], msg[512], mounted[PATH_MAX] = "";
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    size_t acked = 0;
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    memset(&x, 0, sizeof x);
    if (geteuid() != 0) {
        fprintf(stderr, "test_integrity: the full-disk test needs root (to mount a tmpfs); not "
                        "run\n");
        goto out;
    }
    LT_IT_REQUIRE(p && lt_it_fed_init(&x.f, FED) == 0);
    x.f.extra_source = s_source;
    x.owner = lt_it_member_add(&x.f, ID_OWNER, 1);
    x.bhxh = lt_it_member_add(&x.f, ID_BHXH, 1);
    LT_IT_REQUIRE(x.owner && x.bhxh && (x.gw_owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, NULL)));
    LT_IT_REQUIRE(lt_it_mount_small(x.gw_owner->data_dir) == 0);
    snprintf(mounted, sizeof mounted, "%s", x.gw_owner->data_dir);
    LT_IT_REQUIRE(lt_it_gw_run(x.gw_owner, READY_MS) == 0);
    LT_IT_REQUIRE(lt_ft_model_init(&x.m, FULL_CITIZENS, 80000000000ULL) == 0);
    lt_ft_pub_init(p, DS);
    /* Some stored before the disk fills. */
    for (size_t i = 0; i < FULL_BATCH; i++)
        LT_IT_REQUIRE(lt_ft_put(p, &x.m, i, "Nguyễn Thị Hoa", "79", ALIVE) == 0);
    LT_IT_REQUIRE(lt_ft_pub_send(p, x.gw_owner, NULL, NULL, PUBLISH_MS) == 0);
    acked = FULL_BATCH;
    CU_ASSERT_EQUAL(s_writable(x.gw_owner), 1);
    long mark = lt_it_log_mark(x.gw_owner);
    LT_IT_REQUIRE(lt_it_fill_disk(x.gw_owner->data_dir, filler, sizeof filler) == 0);
    /* The write-ahead log fills what room it had. */
    LT_IT_REQUIRE(s_until_refused_pub(&x, p, &acked, &code, msg, sizeof msg) == 0);
    fprintf(stderr, "test_integrity: refused after %zu changes on the full disk: %s\n", acked, msg);
    CU_ASSERT_EQUAL(code, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(msg, "the gateway's store cannot write: database or disk is full"));
    /* Resent as an adapter does: refused the same, said once in the log. */
    for (int i = 0; i < FULL_RETRIES; i++) {
        CU_ASSERT_EQUAL(
            lt_ft_pub_try(p, x.gw_owner, NULL, NULL, PUBLISH_MS, &code, msg, sizeof msg), 1);
        CU_ASSERT_EQUAL(code, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
    }
    CU_ASSERT_EQUAL(s_writable(x.gw_owner), 0);
    const char *log = x.gw_owner->log_path;
    CU_ASSERT_EQUAL(lt_it_file_count(log, mark, "the store cannot write", "disk is full"), 1);
    CU_ASSERT_EQUAL(lt_it_file_count(log, mark, "nothing acknowledged", NULL), 1);
    CU_ASSERT_EQUAL(lt_it_file_count(log, mark, "refused publish", NULL), 0);
    CU_ASSERT_EQUAL(lt_it_file_count(log, mark, "was not stored", NULL), 0);
    /* Room again: the resent Publish is stored, and nothing was lost. */
    LT_IT_REQUIRE(unlink(filler) == 0);
    CU_ASSERT_EQUAL(s_until_acked(&x, p, 10000), 0);
    acked += p->n;
    CU_ASSERT_EQUAL(s_writable(x.gw_owner), 1);
    CU_ASSERT(lt_it_log_has(x.gw_owner, mark, "the store takes publishes again", NULL));
    CU_ASSERT_EQUAL(lt_ft_last_seq(x.gw_owner, DS), acked);
    uint64_t seq;
    int deleted;
    for (size_t i = 0; i < acked; i += 97)
        CU_ASSERT_EQUAL(lt_ft_state(x.gw_owner, DS, x.m.c[i].key, &seq, &deleted), 1);
out:
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    if (CU_get_number_of_failures())
        lt_it_log_dump(x.gw_owner);
    if (x.gw_owner)
        lt_it_gw_kill(x.gw_owner);
    if (mounted[0])
        lt_it_unmount(mounted);
    lt_ft_model_free(&x.m);
    lt_it_fed_cleanup(&x.f);
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"one byte edited in a stored record: detected, reported, repaired", test_edited_byte},
        {"32 flipped bytes in a stored record: detected, reported, repaired", test_flipped_bytes},
        {"a zeroed page of the store: detected, reported, repaired", test_zeroed_page},
        {"damage the owner no longer keeps: repaired by snapshot, the live feed untouched",
         test_pruned_range},
        {"store and audit files 0600; a data directory open to others is refused", test_file_modes},
        {"a full store disk refuses publishes as unavailable, says so once, and recovers",
         test_full_disk},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"store", NULL, NULL, NULL, NULL, tests};
    return lt_it_main(argc, argv, &suite);
}

/* test_feeds: integration tests of feeds (PROTOCOL.md 6 and 8.1) with real
 * `lienthong gateway` processes on 127.0.0.1.
 *
 * Proves: an owner's dataset and its views converge on their consumers with
 * byte-identical logs and state, and each view replica holds exactly the
 * projection and rows the published data implies; a row that leaves a view
 * becomes a tombstone there and appears in the other view; subscriptions
 * without a policy are refused (ERR_FORBIDDEN, ERR_NOT_FOUND, the stream id
 * first) and the refused replica stays empty; a man in the middle holding
 * the owner's transport key cannot get a flipped, re-signed or dropped batch
 * applied: the consumer rejects, backs off, re-subscribes and converges; a
 * restarted consumer resumes from its durable cursor, and a late joiner
 * catches up from seq 1 and follows live with no gap; consumers on one
 * chain are sent byte-identical batches, mostly from the owner's in-memory
 * tail, and one resuming below that tail is served gap-free from the store;
 * a consumer that adopts a directory suspending its owner closes the link
 * at once, applies nothing the owner sends after that, and ends a lookup
 * outstanding to it with ERR_UNAVAILABLE (PROTOCOL.md 5.4); a consumer the
 * owner refused while it was suspended dials again once reinstated, without
 * a restart, catches up and is answered.
 *
 * Usage: test_feeds /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_feedtest.h"
#include "lt_batch.h"
#include "lt_clock.h"
#include "lt_itest.h"
#include "lt_sock.h"
#include "records/population.pb-c.h"

#include <CUnit/Basic.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FED      "VN"
#define ID_OWNER "VN/GOV/BCA"
#define ID_P38   "VN/PROV/38"
#define ID_P01   "VN/PROV/01"
#define ID_BHXH  "VN/GOV/BHXH"
#define ID_BHYT  "VN/GOV/BHYT"
#define ID_NOPOL "VN/TEST/NOPOLICY"
#define DS       "VN/GOV/BCA/population"
#define V38      DS ".p38"
#define V01      DS ".p01"

#define READY_MS    10000 /* a gateway answers status (generous for ASan) */
#define PUBLISH_MS  10000 /* a PublishAck */
#define CONVERGE_MS 30000 /* a replica catches up */
#define REPLY_MS    10000 /* a reply that must come (generous for ASan on a loaded machine) */
#define STOP_MS     5000  /* SIGTERM to exit */

#define ALIVE    LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE
#define DECEASED LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_DECEASED

#define VIEW_FIELDS                                                                                \
    "fields = [\"personal_id\", \"full_name\", \"date_of_birth\", "                                \
    "\"current_province\", \"status\"]; "

/* The directory's source around p38's entry, which version 2 narrows. */
#define SOURCE_BEFORE_P38                                                                          \
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"                                  \
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"                     \
    "views = (\n"
#define SOURCE_AFTER_P38                                                                           \
    "  { id = \"" V01 "\"; dataset = \"" DS "\"; " VIEW_FIELDS                                     \
    "where = { current_province = \"01\"; }; } );\n"                                               \
    "policies = (\n"                                                                               \
    "  { consumer = \"" ID_P38 "\"; target = \"" V38 "\"; allow = [\"subscribe\"]; },\n"           \
    "  { consumer = \"" ID_P01 "\"; target = \"" V01 "\"; allow = [\"subscribe\"]; },\n"           \
    "  { consumer = \"" ID_BHXH "\"; target = \"" DS "\"; allow = [\"subscribe\"]; },\n"           \
    "  { consumer = \"" ID_BHYT "\"; target = \"" DS "\"; allow = [\"subscribe\"]; } );\n"

static const char *s_source =
    SOURCE_BEFORE_P38 "  { id = \"" V38 "\"; dataset = \"" DS "\"; " VIEW_FIELDS
                      "where = { current_province = \"38\"; }; },\n" SOURCE_AFTER_P38;

/* Version 2 of the directory: the authority narrows p38 to living
 * citizens and drops their date of birth. */
static const char *s_source_narrowed = SOURCE_BEFORE_P38
    "  { id = \"" V38 "\"; dataset = \"" DS "\"; "
    "fields = [\"personal_id\", \"full_name\", \"current_province\", \"status\"]; "
    "where = { current_province = \"38\"; status = \"CITIZEN_ALIVE\"; }; },\n" SOURCE_AFTER_P38;

/* Version 2 of the directory, emptied: p38's where matches no citizen,
 * so the view is rebuilt with no records (PROTOCOL.md 6.9). */
static const char *s_source_emptied =
    SOURCE_BEFORE_P38 "  { id = \"" V38 "\"; dataset = \"" DS "\"; " VIEW_FIELDS
                      "where = { current_province = \"99\"; }; },\n" SOURCE_AFTER_P38;

static const char *const s_names[] = {
    "Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", "Phạm Thị Dung", "Hoàng Văn Em",
    "Vũ Thị Giang",  "Đặng Quốc Huy", "Bùi Thị Lan",    "Đỗ Minh Khoa",  "Ngô Thị Mai",
};
static const char *const s_provinces[] = {"38", "01", "79"};

/* ---- shared steps ------------------------------------------------------------------ */

typedef struct {
    lt_it_fed_t f;
    lt_it_member_t *owner, *p38, *p01, *bhxh, *bhyt, *nopol;
} fed_t;

/* The federation every test uses: the owner, four consumers with policies
 * and one member without any. */
static int s_fed(fed_t *x)
{
    memset(x, 0, sizeof *x);
    if (lt_it_fed_init(&x->f, FED) != 0)
        return -1;
    x->f.extra_source = s_source;
    x->owner = lt_it_member_add(&x->f, ID_OWNER, 1);
    x->p38 = lt_it_member_add(&x->f, ID_P38, 1);
    x->p01 = lt_it_member_add(&x->f, ID_P01, 1);
    x->bhxh = lt_it_member_add(&x->f, ID_BHXH, 1);
    x->bhyt = lt_it_member_add(&x->f, ID_BHYT, 1);
    x->nopol = lt_it_member_add(&x->f, ID_NOPOL, 0);
    return x->owner && x->p38 && x->p01 && x->bhxh && x->bhyt && x->nopol ? 0 : -1;
}

/* A consumer gateway replicating the given streams (NULL-terminated). */
static lt_it_gw_t *s_consumer(fed_t *x, lt_it_member_t *m, const char *const *streams,
                              const char *extra)
{
    static const char *peers[] = {ID_OWNER, NULL};
    char conf[2048];
    size_t n = (size_t)snprintf(conf, sizeof conf, "subscribe = (");
    for (size_t i = 0; streams[i]; i++)
        n += (size_t)snprintf(conf + n, sizeof conf - n, "%s { stream = \"%s\"; }", i ? "," : "",
                              streams[i]);
    snprintf(conf + n, sizeof conf - n, " );\n%s", extra ? extra : "");
    return lt_it_gw_new(&x->f, m, 1, peers, conf);
}

static void s_model(lt_ft_model_t *m, size_t n)
{
    (void)lt_ft_model_init(m, n, 38000000000ULL);
    lt_ft_model_add_view(m, V38, "38");
    lt_ft_model_add_view(m, V01, "01");
}

static const char *s_name(size_t i, const char *suffix)
{
    static _Thread_local char buf[128]; /* test_view_narrowed_live publishes on two threads */
    snprintf(buf, sizeof buf, "%s%s", s_names[i % 10], suffix ? suffix : "");
    return buf;
}

/* Upserts citizens [from, to) in Publish messages of `per` changes; with
 * no_cursor, the changes carry no source cursor (a dataset has one, so
 * only one of several publishers at a time may give it). */
static int s_publish_range_as(lt_it_gw_t *owner, lt_ft_model_t *m, size_t from, size_t to,
                              size_t per, const char *suffix, int no_cursor)
{
    lt_ft_pub_t *p = malloc(sizeof *p);
    int rc = p ? 0 : -1;
    if (p)
        lt_ft_pub_init(p, DS);
    for (size_t i = from; rc == 0 && i < to; i++) {
        rc = lt_ft_put(p, m, i, s_name(i, suffix), s_provinces[i % 3], ALIVE);
        if (rc != 0 || (p->n < per && i + 1 < to))
            continue;
        for (size_t k = 0; no_cursor && k < p->n; k++)
            p->cursors[k][0] = '\0';
        rc = lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS);
    }
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    return rc;
}

static int s_publish_range(lt_it_gw_t *owner, lt_ft_model_t *m, size_t from, size_t to, size_t per,
                           const char *suffix)
{
    return s_publish_range_as(owner, m, from, to, per, suffix, 0);
}

static void s_dump_all(fed_t *x)
{
    for (size_t i = 0; i < x->f.n_gateways; i++)
        lt_it_log_dump(&x->f.gateways[i]);
}

#define CHECK(call) CU_ASSERT(lt_ft_ok((call), #call, err))

/* Failures of the running test only (CUnit counts for the whole run). */
static unsigned s_failures0;
static void s_test_start(void)
{
    s_failures0 = CU_get_number_of_failures();
}
static int s_test_failed(void)
{
    return CU_get_number_of_failures() != s_failures0;
}

/* Stops every gateway still running with SIGTERM (each must exit 0), and
 * checks that no sanitizer report reached any gateway log. */
static void s_finish(fed_t *x)
{
    for (size_t i = 0; i < x->f.n_gateways; i++) {
        lt_it_gw_t *g = &x->f.gateways[i];
        if (g->pid > 0) {
            int rc = lt_it_gw_stop(g, STOP_MS);
            if (rc != 0)
                fprintf(stderr, "gateway %s stopped with %d\n", g->member->id, rc);
            CU_ASSERT_EQUAL(rc, 0);
        }
        CU_ASSERT(!lt_it_file_contains(g->log_path, "Sanitizer"));
        CU_ASSERT(!lt_it_file_contains(g->log_path, "runtime error:"));
    }
}

static int s_stop_ok(lt_it_gw_t *g)
{
    int rc = lt_it_gw_stop(g, STOP_MS);
    if (rc != 0)
        fprintf(stderr, "gateway %s stopped with %d\n", g->member->id, rc);
    return rc == 0;
}

/* ---- 1. convergence ------------------------------------------------------------------ */

static void test_convergence(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    char err[1024] = "";
    int ok = 0;
    LT_IT_REQUIRE(p && s_fed(&x) == 0);
    s_model(&m, 3000);
    lt_ft_pub_init(p, DS);
    /* The smallest page cache (store_cache_mb) on the owner: its store and
     * views stay exact when SQLite must evict pages all the time. */
    lt_it_gw_t *owner =
        lt_it_gw_new(&x.f, x.owner, 1, NULL, "batch_max = 256;\nstore_cache_mb = 2;");
    const char *s38[] = {V38, NULL}, *s01[] = {V01, NULL}, *sds[] = {DS, NULL};
    /* Small credit on one consumer: the owner must wait for Credit messages. */
    lt_it_gw_t *g38 = s_consumer(&x, x.p38, s38, "credit = 300;");
    lt_it_gw_t *g01 = s_consumer(&x, x.p01, s01, NULL);
    lt_it_gw_t *gbh = s_consumer(&x, x.bhxh, sds, "credit = 2000;");
    LT_IT_REQUIRE(owner && g38 && g01 && gbh);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(g38, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(g01, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(gbh, READY_MS) == 0);

    /* A: 3000 citizens in provinces 38, 01 and 79, six Publish messages. */
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 3000, 500, NULL) == 0);
    /* B: every fifth citizen moves province and is renamed; citizen 3 moves
     * out of p38 and back within one Publish. */
    for (size_t i = 0; i < 3000; i += 5) {
        LT_IT_REQUIRE(
            lt_ft_put(p, &m, i, s_name(i, " (đã cập nhật)"), s_provinces[(i + 1) % 3], ALIVE) == 0);
        if (i == 1500) {
            LT_IT_REQUIRE(lt_ft_put(p, &m, 3, s_name(3, " tạm"), "01", ALIVE) == 0);
            LT_IT_REQUIRE(lt_ft_put(p, &m, 3, s_name(3, " về"), "38", ALIVE) == 0);
        }
        if (p->n >= 300)
            LT_IT_REQUIRE(lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) == 0);
    }
    if (p->n)
        LT_IT_REQUIRE(lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) == 0);
    /* C: tombstones for every seventh citizen. */
    for (size_t i = 0; i < 3000; i += 7)
        LT_IT_REQUIRE(lt_ft_del(p, &m, i) == 0);
    LT_IT_REQUIRE(lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) == 0);
    /* D: some come back (in p38), some die (status is in the views), one is
     * deleted twice, and a key never published is deleted. */
    for (size_t i = 0; i < 3000; i += 49)
        LT_IT_REQUIRE(lt_ft_put(p, &m, i, s_name(i, " (khôi phục)"), "38", ALIVE) == 0);
    for (size_t i = 1; i < 3000; i += 11)
        if (m.c[i].live)
            LT_IT_REQUIRE(lt_ft_put(p, &m, i, m.c[i].name, m.c[i].province, DECEASED) == 0);
    LT_IT_REQUIRE(lt_ft_del(p, &m, 14) == 0);
    LT_IT_REQUIRE(lt_ft_del_unknown(p, &m, "000000000001") == 0);
    uint64_t first = 0, last = 0;
    LT_IT_REQUIRE(lt_ft_pub_send(p, owner, &first, &last, PUBLISH_MS) == 0);
    CU_ASSERT(last > 4000);

    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g01, V01, CONVERGE_MS) == 0);
    CU_ASSERT_EQUAL(lt_ft_last_seq(gbh, DS), last);

    /* The owner's own streams: no gaps, state = fold of the log, and equal
     * to what the test published. */
    CHECK(lt_ft_check_log(owner, DS, err, sizeof err));
    CHECK(lt_ft_check_log(owner, V38, err, sizeof err));
    CHECK(lt_ft_check_log(g38, V38, err, sizeof err));
    CHECK(lt_ft_check_log(owner, V01, err, sizeof err));
    CHECK(lt_ft_check_dataset(owner, DS, &m, err, sizeof err));
    CHECK(lt_ft_check_view(owner, &m, 0, err, sizeof err));
    CHECK(lt_ft_check_view(owner, &m, 1, err, sizeof err));
    /* Each replica: byte-identical to the owner, and independently right. */
    CHECK(lt_ft_compare(owner, gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_log(gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(gbh, DS, &m, err, sizeof err));
    CHECK(lt_ft_compare(owner, g38, V38, err, sizeof err));
    CHECK(lt_ft_check_log(g38, V38, err, sizeof err));
    CHECK(lt_ft_check_view(g38, &m, 0, err, sizeof err));
    CHECK(lt_ft_compare(owner, g01, V01, err, sizeof err));
    CHECK(lt_ft_check_log(g01, V01, err, sizeof err));
    CHECK(lt_ft_check_view(g01, &m, 1, err, sizeof err));
    /* A consumer holds only what it subscribed to. */
    CU_ASSERT_EQUAL(lt_ft_log_count(g38, DS), 0);
    CU_ASSERT_EQUAL(lt_ft_log_count(g38, V01), 0);
    CU_ASSERT_EQUAL(lt_ft_log_count(g01, V38), 0);
    /* The data did exercise tombstones in both views and citizen 3's round
     * trip (p38 live, p01 tombstone). */
    uint64_t seq;
    int del = -1;
    CU_ASSERT(lt_ft_state(g38, V38, m.c[3].key, &seq, &del) == 1 && del == 0);
    CU_ASSERT(lt_ft_state(g01, V01, m.c[3].key, &seq, &del) == 1 && del == 1);
    size_t gone = 0; /* a citizen that left p38 by a tombstone */
    while (gone < m.n && !(m.c[gone].ever[0] && !m.c[gone].live))
        gone++;
    LT_IT_REQUIRE(gone < m.n);
    CU_ASSERT(lt_ft_state(g38, V38, m.c[gone].key, &seq, &del) == 1 && del == 1);
    CU_ASSERT(lt_ft_state(gbh, DS, "000000000001", &seq, &del) == 1 && del == 1);
    CU_ASSERT(lt_ft_state(g38, V38, "000000000001", &seq, &del) == 0);
    /* Nothing tampered with the feeds: an owner's stream has no gap. A batch
     * the old subscription sent before the idle re-subscribe of a live feed
     * is stale, never a broken feed (PROTOCOL.md 6.6). Not deterministic: it
     * fails only when a re-subscribe raced a batch in flight. */
    CU_ASSERT(!lt_it_file_contains(g38->log_path, "does not follow on"));
    CU_ASSERT(!lt_it_file_contains(g01->log_path, "does not follow on"));
    CU_ASSERT(!lt_it_file_contains(gbh->log_path, "does not follow on"));

    CU_ASSERT(s_stop_ok(g38));
    CU_ASSERT(s_stop_ok(g01));
    CU_ASSERT(s_stop_ok(gbh));
    CU_ASSERT(s_stop_ok(owner));
    ok = 1;
    s_finish(&x);
out:
    if (!ok || s_test_failed())
        s_dump_all(&x);
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* ---- 2. row predicate ------------------------------------------------------------------ */

/* Polls until key's state in stream at g has the wanted deleted flag. */
static int s_wait_state(lt_it_gw_t *g, const char *stream, const char *key, int deleted,
                        int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    do {
        uint64_t seq;
        int d;
        if (lt_ft_state(g, stream, key, &seq, &d) == 1 && d == deleted)
            return 0;
        usleep(20000);
    } while (lt_it_ms() < deadline);
    fprintf(stderr, "%s: %s never became %s in %s\n", g->member->id, key,
            deleted ? "a tombstone" : "live", stream);
    return -1;
}

/* The record key's state points to at g, decoded (free with
 * lienthong__record__free_unpacked). */
static Lienthong__Record *s_current(lt_it_gw_t *g, const char *stream, const char *key)
{
    uint64_t seq;
    int d;
    uint8_t *rec = NULL;
    size_t len = 0;
    if (lt_ft_state(g, stream, key, &seq, &d) != 1 || lt_ft_record(g, stream, seq, &rec, &len) != 1)
        return NULL;
    Lienthong__Record *r = lienthong__record__unpack(NULL, len, rec);
    free(rec);
    return r;
}

static void test_row_predicate(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    Lienthong__Record *r = NULL;
    Lienthong__Records__Population *pop = NULL;
    char err[1024] = "";
    LT_IT_REQUIRE(p && s_fed(&x) == 0);
    s_model(&m, 4);
    lt_ft_pub_init(p, DS);
    lt_it_gw_t *owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, NULL);
    const char *s38[] = {V38, NULL}, *s01[] = {V01, NULL};
    lt_it_gw_t *g38 = s_consumer(&x, x.p38, s38, NULL);
    lt_it_gw_t *g01 = s_consumer(&x, x.p01, s01, NULL);
    LT_IT_REQUIRE(owner && g38 && g01);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(g38, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(g01, READY_MS) == 0);
    const char *key = m.c[0].key;

    /* In Thanh Hóa (38): live in p38, absent from p01. */
    LT_IT_REQUIRE(lt_ft_put(p, &m, 0, "Nguyễn Văn An", "38", ALIVE) == 0);
    LT_IT_REQUIRE(lt_ft_put(p, &m, 1, "Lê Thị Hoa", "01", ALIVE) == 0);
    LT_IT_REQUIRE(lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) == 0);
    LT_IT_REQUIRE(s_wait_state(g38, V38, key, 0, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(s_wait_state(g01, V01, m.c[1].key, 0, CONVERGE_MS) == 0);
    uint64_t seq;
    int del;
    CU_ASSERT_EQUAL(lt_ft_state(g01, V01, key, &seq, &del), 0);

    /* Moves to Hà Nội (01): a tombstone in p38, live with new fields in p01. */
    LT_IT_REQUIRE(lt_ft_put(p, &m, 0, "Nguyễn Văn An (Hà Nội)", "01", ALIVE) == 0);
    LT_IT_REQUIRE(lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) == 0);
    LT_IT_REQUIRE(s_wait_state(g38, V38, key, 1, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(s_wait_state(g01, V01, key, 0, CONVERGE_MS) == 0);
    r = s_current(g38, V38, key);
    CU_ASSERT(r && r->deleted && strcmp(r->key, key) == 0 && r->payload.len == 0);
    if (r)
        lienthong__record__free_unpacked(r, NULL);
    r = s_current(g01, V01, key);
    LT_IT_REQUIRE(r && !r->deleted && strcmp(r->key, key) == 0);
    pop = lienthong__records__population__unpack(NULL, r->payload.len, r->payload.data);
    LT_IT_REQUIRE(pop);
    CU_ASSERT_STRING_EQUAL(pop->personal_id, key);
    CU_ASSERT_STRING_EQUAL(pop->full_name, "Nguyễn Văn An (Hà Nội)");
    CU_ASSERT_STRING_EQUAL(pop->current_province, "01");
    CU_ASSERT_STRING_EQUAL(pop->date_of_birth, m.c[0].dob);
    CU_ASSERT_EQUAL(pop->status, ALIVE);
    CU_ASSERT_STRING_EQUAL(pop->current_address, ""); /* not a view field */
    CHECK(lt_ft_check_view(g38, &m, 0, err, sizeof err));
    CHECK(lt_ft_check_view(g01, &m, 1, err, sizeof err));

    /* And back to 38: live again in p38 (latest fields), tombstone in p01. */
    LT_IT_REQUIRE(lt_ft_put(p, &m, 0, "Nguyễn Văn An (về quê)", "38", ALIVE) == 0);
    LT_IT_REQUIRE(lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) == 0);
    LT_IT_REQUIRE(s_wait_state(g38, V38, key, 0, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(s_wait_state(g01, V01, key, 1, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g01, V01, CONVERGE_MS) == 0);
    CHECK(lt_ft_check_view(g38, &m, 0, err, sizeof err));
    CHECK(lt_ft_check_view(g01, &m, 1, err, sizeof err));
    CHECK(lt_ft_compare(owner, g38, V38, err, sizeof err));
    CHECK(lt_ft_compare(owner, g01, V01, err, sizeof err));
    /* p38: An in, An out, An in; p01: Hoa in, An in, An out. */
    CU_ASSERT_EQUAL(lt_ft_last_seq(g38, V38), 3);
    CU_ASSERT_EQUAL(lt_ft_last_seq(g01, V01), 3);
    s_finish(&x);
out:
    if (s_test_failed())
        s_dump_all(&x);
    if (pop)
        lienthong__records__population__free_unpacked(pop, NULL);
    if (r)
        lienthong__record__free_unpacked(r, NULL);
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* ---- 2b. a view narrowed by the directory ------------------------------------------------ */

/* g's p38 holds exactly the narrowed view of the model: every living
 * citizen of 38, without a date of birth, and nothing else but, when
 * tombstones is set, tombstones (none after a rebuild or a fresh copy). */
static int s_narrowed_ok(lt_it_gw_t *g, const lt_ft_model_t *m, int tombstones)
{
    int bad = 0;
    for (size_t i = 0; i < m->n && !bad; i++) {
        const lt_ft_citizen_t *c = &m->c[i];
        int in = c->live && strcmp(c->province, "38") == 0 && c->status == ALIVE;
        Lienthong__Record *r = s_current(g, V38, c->key);
        Lienthong__Records__Population *pop =
            r && !r->deleted
                ? lienthong__records__population__unpack(NULL, r->payload.len, r->payload.data)
                : NULL;
        int out_ok = !r || (tombstones && r->deleted);
        if (in ? !pop || strcmp(pop->full_name, c->name) != 0 || pop->date_of_birth[0] : !out_ok) {
            fprintf(stderr, "%s in %s at %s: expected %s\n", c->key, V38, g->member->id,
                    in ? "its narrowed record" : "nothing");
            bad = 1;
        }
        if (pop)
            lienthong__records__population__free_unpacked(pop, NULL);
        if (r)
            lienthong__record__free_unpacked(r, NULL);
    }
    return bad ? -1 : 0;
}

/* The owner and p38 replicating its view with resync = "auto", running. */
static int s_owner_and_p38(fed_t *x, lt_it_gw_t **owner, lt_it_gw_t **g38)
{
    static const char *peers[] = {ID_OWNER, NULL};
    *owner = lt_it_gw_new(&x->f, x->owner, 1, NULL, NULL);
    *g38 = lt_it_gw_new(&x->f, x->p38, 1, peers,
                        "subscribe = ( { stream = \"" V38 "\"; resync = \"auto\"; } );");
    if (!*owner || !*g38 || lt_it_gw_run(*owner, READY_MS) != 0)
        return -1;
    return lt_it_gw_run(*g38, READY_MS);
}

/* 30 living citizens, a third of them in 38; two of those die; p38 holds
 * the owner's view. 0 or -1. */
static int s_p38_with_dead(lt_it_gw_t *owner, lt_it_gw_t *g38, lt_ft_model_t *m, lt_ft_pub_t *p)
{
    if (s_publish_range(owner, m, 0, 30, 30, NULL) != 0 ||
        lt_ft_put(p, m, 0, m->c[0].name, "38", DECEASED) != 0 ||
        lt_ft_put(p, m, 3, m->c[3].name, "38", DECEASED) != 0 ||
        lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) != 0)
        return -1;
    return lt_ft_wait_same(owner, g38, V38, CONVERGE_MS);
}

/* Version 2 of the directory narrows p38; the owner adopts it (file and
 * SIGHUP) and rebuilds the view; p38 resynchronises. *v2 is malloc'd. */
static int s_narrow_p38(fed_t *x, lt_it_gw_t *owner, lt_it_gw_t *g38, uint8_t **v2, size_t *v2_len)
{
    long mark = lt_it_log_mark(g38);
    x->f.extra_source = s_source_narrowed;
    if (lt_it_dir_bytes(&x->f, 2, 0, 0, NULL, v2, v2_len) != 0 ||
        lt_it_gw_put_directory(owner, *v2, *v2_len) != 0 || lt_it_gw_signal(owner, SIGHUP) != 0 ||
        lt_it_gw_wait_version(owner, 2, REPLY_MS) != 0)
        return -1;
    return lt_it_log_wait(g38, mark, "replica of " V38, "resynchronised", CONVERGE_MS);
}

/* PROTOCOL.md 6.1, 6.9: a directory that narrows a view's fields and rows
 * makes its owner rebuild the view on a new history; the consumer
 * resynchronises (resync = "auto") and ends up with exactly the narrowed
 * view, which then follows new changes. */
static void test_view_narrowed(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    uint8_t *v2 = NULL;
    size_t v2_len = 0;
    char err[1024] = "";
    LT_IT_REQUIRE(p && s_fed(&x) == 0);
    s_model(&m, 30);
    lt_ft_pub_init(p, DS);
    lt_it_gw_t *owner = NULL, *g38 = NULL;
    LT_IT_REQUIRE(s_owner_and_p38(&x, &owner, &g38) == 0);

    /* 30 living citizens, a third of them in 38; two of those die. */
    LT_IT_REQUIRE(s_p38_with_dead(owner, g38, &m, p) == 0);
    CHECK(lt_ft_check_view(g38, &m, 0, err, sizeof err));

    /* Version 2 narrows p38: the owner rebuilds it, the consumer is told,
     * resynchronises, and holds the narrowed view. */
    LT_IT_REQUIRE(s_narrow_p38(&x, owner, g38, &v2, &v2_len) == 0);
    CU_ASSERT(
        lt_it_file_contains(owner->log_path, "view definition changed in directory version 2"));
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, g38, V38, err, sizeof err));
    CU_ASSERT(s_narrowed_ok(owner, &m, 0) == 0);
    CU_ASSERT(s_narrowed_ok(g38, &m, 0) == 0);

    /* New changes follow the narrowed definition. */
    LT_IT_REQUIRE(lt_ft_put(p, &m, 6, "Vũ Thị Giang (mới)", "38", ALIVE) == 0);
    LT_IT_REQUIRE(lt_ft_put(p, &m, 9, m.c[9].name, "38", DECEASED) == 0);
    LT_IT_REQUIRE(lt_ft_put(p, &m, 0, m.c[0].name, "38", ALIVE) == 0);
    LT_IT_REQUIRE(lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) == 0);
    LT_IT_REQUIRE(s_wait_state(g38, V38, m.c[0].key, 0, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, g38, V38, err, sizeof err));
    uint64_t seq;
    int del = -1;
    CU_ASSERT(lt_ft_state(g38, V38, m.c[9].key, &seq, &del) == 1 && del == 1); /* it died */
    CU_ASSERT(s_narrowed_ok(g38, &m, 1) == 0);
    s_finish(&x);
out:
    if (s_test_failed())
        s_dump_all(&x);
    free(v2);
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* A publisher of test_view_narrowed_live: citizens [from, m->n) of its
 * own model in groups of 500, on its own thread (lt_ft_pub_send opens its
 * own socket). */
typedef struct {
    lt_it_gw_t *owner;
    lt_ft_model_t *m;
    size_t from;
    int no_cursor;
    pthread_t thread;
    int started, rc;
} s_burst_t;

static void *s_burst(void *arg)
{
    s_burst_t *b = arg;
    b->rc = s_publish_range_as(b->owner, b->m, b->from, b->m->n, 500, NULL, b->no_cursor);
    return NULL;
}

static int s_bursts_join(s_burst_t *b, size_t n)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (b[i].started && pthread_join(b[i].thread, NULL) != 0)
            rc = -1;
        if (b[i].started && b[i].rc != 0)
            rc = -1;
        b[i].started = 0;
    }
    return rc;
}

/* docs/ARCHITECTURE.md 6: a directory adopted from a peer while the writer
 * thread commits a publish group. The group is answered under the
 * directory it was committed with, before the view is rebuilt; answered
 * after, its sequence numbers and records of the old definition were served
 * on the rebuilt view's new history (a consumer got the date of birth the
 * new definition withholds). Three versions, narrowed, wide and narrowed
 * again, are offered while two publishers keep the writer busy (each
 * offer lands beside a commit about half the time). The consumer must end
 * up with exactly the narrowed view, the owner's stream byte for byte. */
static void test_view_narrowed_live(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m[2] = {{0}};
    uint8_t *v[3] = {NULL, NULL, NULL};
    size_t v_len[3] = {0, 0, 0};
    char err[1024] = "";
    s_burst_t b[2] = {{0}};
    int opened = 0;
    lt_it_peer_t peer;
    Lienthong__Envelope *e = NULL;
    LT_IT_REQUIRE(s_fed(&x) == 0);
    s_model(&m[0], 12030);
    (void)lt_ft_model_init(&m[1], 12000, 39000000000ULL);
    lt_ft_model_add_view(&m[1], V38, "38");
    lt_ft_model_add_view(&m[1], V01, "01");
    lt_it_gw_t *owner = NULL, *g38 = NULL;
    LT_IT_REQUIRE(s_owner_and_p38(&x, &owner, &g38) == 0);
    /* Each of the first 30 changed once: the rebuilt view numbers fewer
     * records than the old one had. */
    LT_IT_REQUIRE(s_publish_range(owner, &m[0], 0, 30, 30, NULL) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m[0], 0, 30, 30, " (đã sửa)") == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);

    for (size_t i = 0; i < 3; i++) {
        x.f.extra_source = i == 1 ? s_source : s_source_narrowed;
        LT_IT_REQUIRE(lt_it_dir_bytes(&x.f, 2 + i, 0, 0, NULL, &v[i], &v_len[i]) == 0);
    }
    LT_IT_REQUIRE(lt_it_peer_open_gw(&peer, x.p01, owner) == 0);
    opened = 1;
    e = lt_it_peer_hello_retry(&peer, 1, REPLY_MS, CONVERGE_MS);
    LT_IT_REQUIRE(e && e->body_case == LIENTHONG__ENVELOPE__BODY_HELLO);
    lt_wire_free(&e);
    /* Two publishers, so that the writer thread is rarely idle. */
    for (size_t i = 0; i < 2; i++) {
        b[i] = (s_burst_t){.owner = owner, .m = &m[i], .from = i ? 0 : 30, .no_cursor = i};
        LT_IT_REQUIRE(pthread_create(&b[i].thread, NULL, s_burst, &b[i]) == 0);
        b[i].started = 1;
    }
    /* Offered by a peer: adopted between two turns of the poll loop. */
    for (size_t i = 0; i < 3; i++) {
        LT_IT_REQUIRE(lt_ft_wait_seq(owner, DS, 4000 * (i + 1), CONVERGE_MS) == 0);
        e = lt_it_peer_offer(&peer, v[i], v_len[i], REPLY_MS);
        LT_IT_REQUIRE(e && e->body_case == LIENTHONG__ENVELOPE__BODY_HELLO);
        lt_wire_free(&e);
        LT_IT_REQUIRE(lt_it_gw_wait_version(owner, 2 + i, REPLY_MS) == 0);
    }
    LT_IT_REQUIRE(s_bursts_join(b, 2) == 0);
    CU_ASSERT(lt_ft_last_seq(owner, DS) == m[0].n + 30 + m[1].n);

    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, g38, V38, err, sizeof err));
    CHECK(lt_ft_check_log(owner, V38, err, sizeof err));
    CHECK(lt_ft_check_log(g38, V38, err, sizeof err));
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT(s_narrowed_ok(owner, &m[i], 1) == 0);
        CU_ASSERT(s_narrowed_ok(g38, &m[i], 1) == 0);
    }
    s_finish(&x);
out:
    (void)s_bursts_join(b, 2);
    lt_wire_free(&e);
    if (opened)
        lt_it_peer_close(&peer);
    if (s_test_failed())
        s_dump_all(&x);
    for (size_t i = 0; i < 3; i++)
        free(v[i]);
    lt_ft_model_free(&m[0]);
    lt_ft_model_free(&m[1]);
    lt_it_fed_cleanup(&x.f);
}

/* ---- 3. unauthorised subscriptions -------------------------------------------------------- */

static int s_send_subscribe(lt_it_peer_t *peer, const char *stream, uint64_t from, uint32_t credit)
{
    Lienthong__Subscribe s = LIENTHONG__SUBSCRIBE__INIT;
    s.stream = (char *)stream;
    s.from_seq = from;
    s.credit = credit;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &s;
    return lt_it_peer_send_env(peer, &env, REPLY_MS);
}

/* Subscribe must be refused with code, the message starting "STREAM: ",
 * and no batch may come first. */
static int s_refused(lt_it_peer_t *peer, const char *stream, Lienthong__ErrorCode code)
{
    if (s_send_subscribe(peer, stream, 1, 1000) != 0)
        return 0;
    Lienthong__Envelope *e = lt_it_peer_expect_any(peer,
                                                   LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_ERROR) |
                                                       LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_BATCH),
                                                   REPLY_MS);
    size_t sl = strlen(stream);
    int ok = e && e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR && e->error->code == code &&
             strncmp(e->error->message, stream, sl) == 0 &&
             strncmp(e->error->message + sl, ": ", 2) == 0;
    if (!ok)
        fprintf(stderr, "subscribe %s: expected %s, got %s%s%s\n", stream, lt_wire_error_name(code),
                e ? lt_wire_body_name(e->body_case) : "nothing",
                e && e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? " " : "",
                e && e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? e->error->message : "");
    lt_wire_free(&e);
    return ok;
}

static void test_unauthorised(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_it_peer_t outsider = {0}, allowed = {0};
    Lienthong__Envelope *e = NULL;
    char err[1024] = "";
    LT_IT_REQUIRE(s_fed(&x) == 0);
    s_model(&m, 300);
    lt_it_gw_t *owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, NULL);
    /* VN/PROV/38 may subscribe to p38 only, but asks for the dataset too. */
    const char *both[] = {V38, DS, NULL};
    lt_it_gw_t *g38 = s_consumer(&x, x.p38, both, NULL);
    LT_IT_REQUIRE(owner && g38);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 300, 300, NULL) == 0);
    long mark = lt_it_log_mark(g38), omark = lt_it_log_mark(owner);
    LT_IT_REQUIRE(lt_it_gw_run(g38, READY_MS) == 0);

    /* A listed member with no policy at all. */
    LT_IT_REQUIRE(lt_it_peer_open_gw(&outsider, x.nopol, owner) == 0);
    CU_ASSERT(s_refused(&outsider, DS, LIENTHONG__ERROR_CODE__ERR_FORBIDDEN));
    CU_ASSERT(s_refused(&outsider, V38, LIENTHONG__ERROR_CODE__ERR_FORBIDDEN));
    CU_ASSERT(s_refused(&outsider, "VN/GOV/BCA/nosuch", LIENTHONG__ERROR_CODE__ERR_NOT_FOUND));
    CU_ASSERT(s_refused(&outsider, "VN/GOV/BHXH/claims", LIENTHONG__ERROR_CODE__ERR_NOT_FOUND));
    /* Credit without a subscription is not a way in either. */
    Lienthong__Credit c = LIENTHONG__CREDIT__INIT;
    c.stream = DS;
    c.credit = 1000;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_CREDIT;
    env.credit = &c;
    LT_IT_REQUIRE(lt_it_peer_send_env(&outsider, &env, REPLY_MS) == 0);
    e = lt_it_peer_expect_any(&outsider,
                              LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_ERROR) |
                                  LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_BATCH),
                              REPLY_MS);
    CU_ASSERT(e && e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              e->error->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND);
    lt_wire_free(&e);
    /* Nothing ever streams to the outsider. */
    e = lt_it_peer_expect(&outsider, LIENTHONG__ENVELOPE__BODY_BATCH, 1000);
    CU_ASSERT_PTR_NULL(e);
    lt_wire_free(&e);
    CU_ASSERT(lt_it_log_has(owner, omark, "refused subscribe from " ID_NOPOL, DS));

    /* Control: the same request with an allowed member's key is served, and
     * the batch verifies under the owner's signing key. */
    LT_IT_REQUIRE(lt_it_peer_open_gw(&allowed, x.bhxh, owner) == 0);
    LT_IT_REQUIRE(s_send_subscribe(&allowed, DS, 1, 1000) == 0);
    e = lt_it_peer_expect_any(&allowed,
                              LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_ERROR) |
                                  LT_IT_BODY(LIENTHONG__ENVELOPE__BODY_BATCH),
                              REPLY_MS);
    LT_IT_REQUIRE(e && e->body_case == LIENTHONG__ENVELOPE__BODY_BATCH);
    uint8_t zero[LT_HASH_BYTES] = {0}, hash[LT_HASH_BYTES];
    CU_ASSERT_EQUAL(e->batch->first_seq, 1);
    CU_ASSERT_EQUAL(lt_batch_verify(e->batch, DS, 1, zero, lt_keys_signing_public(x.owner->keys),
                                    hash, err, sizeof err),
                    0);
    lt_wire_free(&e);

    /* The consumer gateway: p38 converges, the dataset is refused and empty. */
    CU_ASSERT(lt_it_log_wait(g38, mark, "owner refused", DS, CONVERGE_MS) == 0);
    CU_ASSERT(lt_it_log_has(g38, mark, "owner refused (ERR_FORBIDDEN): " DS ": ", NULL));
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, g38, V38, err, sizeof err));
    CHECK(lt_ft_check_view(g38, &m, 0, err, sizeof err));
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 30, 30, " (2)") == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    usleep(500000);
    CU_ASSERT(lt_ft_last_seq(owner, DS) == 330);
    CU_ASSERT_EQUAL(lt_ft_last_seq(g38, DS), 0);
    CU_ASSERT_EQUAL(lt_ft_log_count(g38, DS), 0);
    CU_ASSERT(lt_it_log_has(owner, omark, "refused subscribe from " ID_P38, DS));
    CU_ASSERT(lt_it_gw_alive(owner));
    s_finish(&x);
out:
    if (s_test_failed())
        s_dump_all(&x);
    lt_wire_free(&e);
    lt_it_peer_close(&outsider);
    lt_it_peer_close(&allowed);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* ---- 4. tampering in transit ----------------------------------------------------------- */

/* Points the owner's config at another port than the one its directory
 * entry lists (where the proxy listens). */
static int s_move_listen(lt_it_gw_t *g, int port)
{
    FILE *f = fopen(g->conf_path, "r");
    if (!f)
        return -1;
    char text[16384], line[4096], from[96];
    size_t n = 0;
    int found = 0;
    snprintf(from, sizeof from, "listen = \"%s\";", g->member->endpoint);
    text[0] = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, from, strlen(from)) == 0) {
            snprintf(line, sizeof line, "listen = \"tcp://127.0.0.1:%d\";\n", port);
            found = 1;
        }
        n += (size_t)snprintf(text + n, sizeof text - n, "%s", line);
    }
    fclose(f);
    return found && n < sizeof text ? lt_it_write_file(g->conf_path, text) : -1;
}

/* The owner running behind a proxy in `mode` (lt_ft_mitm_start): the
 * owner listens on a free port, the proxy on the owner's directory
 * endpoint; BHXH, a consumer of DS, is made but not started. 0 or -1. */
static int s_behind_mitm(fed_t *x, const char *owner_extra, lt_ft_mitm_mode_t mode, int k,
                         lt_it_gw_t **owner, lt_it_gw_t **gbh, lt_ft_mitm_t **mitm)
{
    char back[64];
    int port = lt_it_free_port();
    if (port <= 0)
        return -1;
    snprintf(back, sizeof back, "tcp://127.0.0.1:%d", port);
    const char *sds[] = {DS, NULL};
    *owner = lt_it_gw_new(&x->f, x->owner, 1, NULL, owner_extra);
    *gbh = s_consumer(x, x->bhxh, sds, NULL);
    if (!*owner || !*gbh || s_move_listen(*owner, port) != 0 || lt_it_gw_run(*owner, READY_MS) != 0)
        return -1;
    *mitm = lt_ft_mitm_start(x->owner->endpoint, x->owner->keys, back, x->bhxh->keys, mode, k);
    return *mitm ? 0 : -1;
}

/* s_behind_mitm with the model's first `publish` citizens published (in
 * groups of up to 500) before BHXH starts; *mark is BHXH's log before it
 * started. 0 or -1. */
static int s_mitm_started(fed_t *x, lt_ft_model_t *m, size_t n, const char *owner_extra,
                          lt_ft_mitm_mode_t mode, int k, size_t publish, lt_it_gw_t **owner,
                          lt_it_gw_t **gbh, lt_ft_mitm_t **mitm, long *mark)
{
    if (s_fed(x) != 0)
        return -1;
    s_model(m, n);
    if (s_behind_mitm(x, owner_extra, mode, k, owner, gbh, mitm) != 0 ||
        s_publish_range(*owner, m, 0, publish, publish < 500 ? publish : 500, NULL) != 0)
        return -1;
    *mark = lt_it_log_mark(*gbh);
    return lt_it_gw_run(*gbh, READY_MS);
}

/* Reads the proxy's counters into *st until *count (one of them) reaches
 * want or ms pass. */
static void s_mitm_wait(lt_ft_mitm_t *mitm, lt_ft_mitm_stats_t *st, const int *count, int want,
                        int ms)
{
    int64_t deadline = lt_it_ms() + ms;
    do {
        lt_ft_mitm_stats(mitm, st);
        usleep(20000);
    } while (*count < want && lt_it_ms() < deadline);
}

static void s_mitm_case(lt_ft_mitm_mode_t mode, int k)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_ft_mitm_t *mitm = NULL;
    lt_ft_mitm_stats_t st = {0};
    char err[1024] = "";
    lt_it_gw_t *owner = NULL, *gbh = NULL;
    long mark = 0;
    LT_IT_REQUIRE(s_mitm_started(&x, &m, 1500, "batch_max = 100;", mode, k, 1000, &owner, &gbh,
                                 &mitm, &mark) == 0);

    if (mode == LT_FT_MITM_DROP) {
        /* A batch lost mid-stream: the next one does not follow on. */
        LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
        CU_ASSERT(lt_ft_log_count_lines(gbh, mark, "does not follow on", NULL) >= 1);
        /* The last batch lost: only the idle re-subscribe can notice. */
        lt_ft_mitm_drop_next(mitm);
        LT_IT_REQUIRE(s_publish_range(owner, &m, 1000, 1050, 50, " (mới)") == 0);
        LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
        lt_ft_mitm_stats(mitm, &st);
        CU_ASSERT_EQUAL(st.dropped, 2);
    } else {
        s_mitm_wait(mitm, &st, &st.tampered, k, CONVERGE_MS);
        CU_ASSERT_EQUAL(st.tampered, k);
        LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
        /* Said once, with the cause; the stops after it with nothing
         * applied between are counted (below). */
        CU_ASSERT(lt_ft_log_count_lines(
                      gbh, mark, mode == LT_FT_MITM_LONGKEY ? "over-long key" : "bad signature",
                      NULL) >= 1);
        /* The tampered record never reached the replica. */
        for (int i = 0; i < st.tampered; i++) {
            char stream[256];
            uint64_t first = 0;
            uint8_t *bad = NULL, *rec = NULL;
            size_t bad_len = 0, len = 0;
            CU_ASSERT_EQUAL(
                lt_ft_mitm_tampered(mitm, i, stream, sizeof stream, &first, &bad, &bad_len), 0);
            if (!bad)
                continue;
            CU_ASSERT_STRING_EQUAL(stream, DS);
            CU_ASSERT_EQUAL(lt_ft_record(gbh, DS, first, &rec, &len), 1);
            if (mode == LT_FT_MITM_FLIP || mode == LT_FT_MITM_LONGKEY)
                CU_ASSERT(rec && (len != bad_len || memcmp(rec, bad, len) != 0));
            free(bad);
            free(rec);
        }
    }
    /* Each rejected batch backs off and re-subscribes (the batch lost last
     * is recovered by the idle re-subscribe of a live feed, which backs off
     * nothing). Stops in a row are logged once, then counted; each run
     * ends with its count once a batch is applied again, as is done by
     * now. The subscribes after the first of a run are at debug. */
    int backoffs = mode == LT_FT_MITM_DROP ? 1 : k;
    CU_ASSERT(lt_ft_log_count_lines(gbh, mark, "re-subscribing in", NULL) >= 1);
    CU_ASSERT(lt_it_log_wait(gbh, mark, "replica of " DS " applying again after", NULL,
                             CONVERGE_MS) == 0);
    CU_ASSERT(lt_ft_log_sum(gbh, mark, "replica of " DS " applying again after ") >=
              (unsigned long long)backoffs);
    CU_ASSERT(lt_ft_log_count_lines(gbh, mark, "subscribing to " DS, NULL) >= 2);
    CHECK(lt_ft_compare(owner, gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_log(gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(gbh, DS, &m, err, sizeof err));

    /* After the attack the feed is healthy: live records flow. */
    LT_IT_REQUIRE(s_publish_range(owner, &m, 1050, 1500, 150, NULL) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(gbh, DS, &m, err, sizeof err));
    lt_ft_mitm_stats(mitm, &st);
    CU_ASSERT(st.batches > 10);
    if (mode != LT_FT_MITM_DROP)
        CU_ASSERT_EQUAL(st.tampered, k);
    s_finish(&x);
out:
    if (s_test_failed())
        s_dump_all(&x);
    lt_it_fed_cleanup(&x.f);
    lt_ft_mitm_stop(&mitm);
    lt_ft_model_free(&m);
}

static void test_mitm_flip(void)
{
    s_mitm_case(LT_FT_MITM_FLIP, 3);
}

static void test_mitm_resign(void)
{
    s_mitm_case(LT_FT_MITM_RESIGN, 2);
}

/* An owner's key signs a record whose key is over the limit: the replica
 * refuses the batch, as the owner's own checks and a snapshot's would, so
 * that no key is ever cut short where it is copied (pruning keeps keys in
 * buffers of LT_RECORD_KEY_MAX + 1 bytes), and takes the honest batch again. */
static void test_mitm_longkey(void)
{
    s_mitm_case(LT_FT_MITM_LONGKEY, 1);
}

/* PROTOCOL.md 6.2: ERR_NOT_FOUND "no subscription" answers a Credit the
 * consumer sent for a subscription the owner had ended (a view rebuilt,
 * HistoryChanged) and reaches it after its new Subscribe. It is no refusal:
 * the consumer subscribes again after its short back-off (500 ms), where a
 * refusal waits 30 s, and the replica converges. */
static void test_stale_credit_error(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_ft_mitm_t *mitm = NULL;
    lt_ft_mitm_stats_t st = {0};
    char err[1024] = "";
    lt_it_gw_t *owner = NULL, *gbh = NULL;
    long mark = 0;
    LT_IT_REQUIRE(s_mitm_started(&x, &m, 1000, NULL, LT_FT_MITM_STALE, 1, 1000, &owner, &gbh, &mitm,
                                 &mark) == 0);
    /* Well before the 30 s of a refusal: a second Subscribe. */
    s_mitm_wait(mitm, &st, &st.subscribes, 2, 10000);
    CU_ASSERT(st.subscribes >= 2);
    CU_ASSERT(lt_ft_log_count_lines(gbh, mark, DS ": no subscription; re-subscribing in 500 ms",
                                    NULL) == 1);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(gbh, DS, &m, err, sizeof err));
    s_finish(&x);
out:
    if (s_test_failed())
        s_dump_all(&x);
    lt_it_fed_cleanup(&x.f);
    lt_ft_mitm_stop(&mitm);
    lt_ft_model_free(&m);
}

static void test_mitm_drop(void)
{
    s_mitm_case(LT_FT_MITM_DROP, 2);
}

/* The seq the owner has sent to member on stream (its subscriber cursor),
 * from its status; 0 when it has no such subscriber. */
static uint64_t s_sent_to(lt_it_gw_t *owner, const char *stream, const char *member)
{
    uint64_t sent = 0;
    Lienthong__Envelope *env = lt_it_gw_status(owner, READY_MS);
    for (size_t i = 0; env && i < env->status_reply->n_streams; i++) {
        const Lienthong__StreamStatus *st = env->status_reply->streams[i];
        for (size_t j = 0; strcmp(st->stream, stream) == 0 && j < st->n_subscribers; j++)
            if (strcmp(st->subscribers[j]->member, member) == 0)
                sent = st->subscribers[j]->cursor;
    }
    if (env)
        lienthong__envelope__free_unpacked(env, NULL);
    return sent;
}

/* A replica's batches commit on the writer thread (docs/ARCHITECTURE.md 6):
 * while another connection holds the replica's store write lock, the owner
 * sends it a batch, which cannot commit, and the replica's gateway still
 * answers a local request (it used to wait in the commit for the store's
 * 5 s busy timeout, and then give the batch up). The order is what is
 * checked: the answer comes while the replica's cursor is still behind.
 * Once the lock goes, the batch commits, with no retry. */
static void test_replica_commit_off_loop(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    char path[PATH_MAX + 16], err[1024] = "";
    sqlite3 *db = NULL;
    Lienthong__Envelope *status = NULL;
    LT_IT_REQUIRE(s_fed(&x) == 0);
    s_model(&m, 400);
    const char *sds[] = {DS, NULL};
    lt_it_gw_t *owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, NULL);
    lt_it_gw_t *gbh = s_consumer(&x, x.bhxh, sds, NULL);
    LT_IT_REQUIRE(owner && gbh && lt_it_gw_run(owner, READY_MS) == 0 &&
                  lt_it_gw_run(gbh, READY_MS) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 200, 200, NULL) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    uint64_t before = lt_ft_last_seq(gbh, DS);

    snprintf(path, sizeof path, "%s/store.db", gbh->data_dir);
    LT_IT_REQUIRE(sqlite3_open(path, &db) == SQLITE_OK &&
                  sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    long mark = lt_it_log_mark(gbh);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 200, 400, 200, NULL) == 0);
    uint64_t last = lt_ft_last_seq(owner, DS);
    int64_t deadline = lt_it_ms() + CONVERGE_MS;
    while (s_sent_to(owner, DS, ID_BHXH) < last && lt_it_ms() < deadline)
        usleep(20000);
    LT_IT_REQUIRE(s_sent_to(owner, DS, ID_BHXH) == last); /* the batch is on its way */
    usleep(200000); /* and, on loopback, taken by the replica's poll loop */
    status = lt_it_gw_status(gbh, 3000);
    CU_ASSERT(status != NULL);
    CU_ASSERT_EQUAL(lt_ft_last_seq(gbh, DS), before); /* not committed: the lock is held */
    CU_ASSERT(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    db = NULL;
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(gbh, mark, "stopped at seq", NULL), 0);
    CHECK(lt_ft_compare(owner, gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(gbh, DS, &m, err, sizeof err));
    s_finish(&x);
out:
    if (db) {
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    if (status)
        lienthong__envelope__free_unpacked(status, NULL);
    if (s_test_failed())
        s_dump_all(&x);
    lt_it_fed_cleanup(&x.f);
    lt_ft_model_free(&m);
}

/* A live feed's idle re-subscribe races batches in flight (PROTOCOL.md
 * 6.6): the proxy lets the first subscription have 50 credit and holds its
 * batch of records 1-50 back until the consumer, seeing nothing, subscribes
 * again from seq 1; the batch then arrives first and is applied, and the
 * owner, restarted from seq 1 with full credit, sends records 1-100: a batch
 * that starts below the cursor and ends past it. The replica must neither
 * take the owner's next batch (from 101) for a gap in the stream nor skip
 * anything: it subscribes again from 51 at once and converges. */
static void test_resubscribe_race(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_ft_mitm_t *mitm = NULL;
    lt_ft_mitm_stats_t st = {0};
    char err[1024] = "";
    lt_it_gw_t *owner = NULL, *gbh = NULL;
    long mark = 0;
    LT_IT_REQUIRE(s_mitm_started(&x, &m, 300, NULL, LT_FT_MITM_HOLD, 50, 100, &owner, &gbh, &mitm,
                                 &mark) == 0);
    /* The idle re-subscribe delivered the held batch: publish at once, while
     * the owner streams from past 100, before another idle re-subscribe
     * (2 s) could hide a replica stuck at 50. */
    int64_t deadline = lt_it_ms() + CONVERGE_MS;
    do {
        lt_ft_mitm_stats(mitm, &st);
        usleep(5000);
    } while (st.subscribes < 2 && lt_it_ms() < deadline);
    LT_IT_REQUIRE(st.subscribes >= 2);
    LT_IT_REQUIRE(lt_ft_wait_seq(gbh, DS, 50, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 100, 200, 100, NULL) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 200, 300, 100, NULL) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    lt_ft_mitm_stats(mitm, &st);
    CU_ASSERT_EQUAL(st.held, 1);
    CU_ASSERT(st.subscribes >= 3);
    CU_ASSERT(lt_ft_log_count_lines(gbh, mark, "overlaps the replica at seq 50", NULL) >= 1);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(gbh, mark, "does not follow on", NULL), 0);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(gbh, mark, "re-subscribing in", NULL), 0);
    CHECK(lt_ft_compare(owner, gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_log(gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(gbh, DS, &m, err, sizeof err));
    s_finish(&x);
out:
    if (s_test_failed())
        s_dump_all(&x);
    lt_it_fed_cleanup(&x.f);
    lt_ft_mitm_stop(&mitm);
    lt_ft_model_free(&m);
}

/* ---- 5. restart, resume, late joiner ---------------------------------------------------- */

static void test_restart_and_late_joiner(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    char err[1024] = "", line[256];
    LT_IT_REQUIRE(s_fed(&x) == 0);
    s_model(&m, 6000);
    lt_it_gw_t *owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, "batch_max = 50;");
    const char *sds[] = {DS, NULL};
    lt_it_gw_t *gbh = s_consumer(&x, x.bhxh, sds, "credit = 200;");
    lt_it_gw_t *late = s_consumer(&x, x.bhyt, sds, NULL);
    LT_IT_REQUIRE(owner && gbh && late);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 2000, 500, NULL) == 0);
    long mark = lt_it_log_mark(gbh);
    LT_IT_REQUIRE(lt_it_gw_run(gbh, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(gbh, mark, "subscribing to " DS " from " ID_OWNER " at seq 1", NULL,
                             REPLY_MS) == 0);

    /* Stopped midway (as soon as it holds anything). */
    LT_IT_REQUIRE(lt_ft_wait_seq(gbh, DS, 1, CONVERGE_MS) == 0);
    CU_ASSERT(s_stop_ok(gbh));
    uint64_t n = lt_ft_last_seq(gbh, DS);
    fprintf(stderr, "[consumer stopped at seq %llu of 2000] ", (unsigned long long)n);
    LT_IT_REQUIRE(n > 0 && n <= 2000);
    CHECK(lt_ft_compare_prefix(owner, gbh, DS, n, err, sizeof err));
    CHECK(lt_ft_check_log(gbh, DS, err, sizeof err));

    /* More data while it is down; it resumes from its durable cursor. */
    LT_IT_REQUIRE(s_publish_range(owner, &m, 2000, 4000, 500, NULL) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 500, 500, " (sửa)") == 0);
    mark = lt_it_log_mark(gbh);
    LT_IT_REQUIRE(lt_it_gw_run(gbh, READY_MS) == 0);
    snprintf(line, sizeof line, "subscribing to " DS " from " ID_OWNER " at seq %llu\n",
             (unsigned long long)(n + 1));
    CU_ASSERT(lt_it_log_wait(gbh, mark, line, NULL, REPLY_MS) == 0);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(gbh, mark, "at seq 1\n", NULL), 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    CU_ASSERT_EQUAL(lt_ft_last_seq(gbh, DS), 4500);
    CHECK(lt_ft_compare(owner, gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_log(gbh, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(gbh, DS, &m, err, sizeof err));

    /* A late joiner after 5000 records: from seq 1, then live. */
    LT_IT_REQUIRE(s_publish_range(owner, &m, 4000, 4500, 500, NULL) == 0);
    CU_ASSERT_EQUAL(lt_ft_last_seq(owner, DS), 5000);
    long lmark = lt_it_log_mark(late);
    LT_IT_REQUIRE(lt_it_gw_run(late, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(late, lmark, "subscribing to " DS " from " ID_OWNER " at seq 1\n",
                             NULL, REPLY_MS) == 0);
    for (size_t i = 4500; i < 6000; i += 150) {
        LT_IT_REQUIRE(s_publish_range(owner, &m, i, i + 150, 150, NULL) == 0);
        usleep(20000);
    }
    LT_IT_REQUIRE(lt_ft_wait_same(owner, late, DS, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    CU_ASSERT_EQUAL(lt_ft_last_seq(late, DS), 6500);
    CHECK(lt_ft_compare(owner, late, DS, err, sizeof err));
    CHECK(lt_ft_check_log(late, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(late, DS, &m, err, sizeof err));
    CHECK(lt_ft_compare(owner, gbh, DS, err, sizeof err));
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(late, lmark, "stopped at seq", NULL), 0);
    CU_ASSERT(s_stop_ok(late));
    CU_ASSERT(s_stop_ok(gbh));
    CU_ASSERT(s_stop_ok(owner));
    s_finish(&x);
out:
    if (s_test_failed())
        s_dump_all(&x);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* ---- retention and snapshots (PROTOCOL.md 6.7, 6.8, 8.2) ---------------------------------- */

/* StreamStatus.retained_first of stream in g's status; 0 when unknown. */
static uint64_t s_retained_first(lt_it_gw_t *g, const char *stream)
{
    uint64_t first = 0;
    Lienthong__Envelope *env = lt_it_gw_status(g, REPLY_MS);
    for (size_t i = 0; env && i < env->status_reply->n_streams; i++)
        if (strcmp(env->status_reply->streams[i]->stream, stream) == 0)
            first = env->status_reply->streams[i]->retained_first;
    lt_wire_free(&env);
    return first;
}

/* Polls until g keeps stream's log from seq `first` (pruning is stepwise). */
static int s_wait_retained(lt_it_gw_t *g, const char *stream, uint64_t first, int timeout_ms)
{
    int64_t end = lt_it_ms() + timeout_ms;
    while (s_retained_first(g, stream) != first)
        if (lt_it_ms() > end || usleep(20000) != 0)
            return -1;
    return 0;
}

/* Polls until stream's log in g has exactly n rows: versions kept below
 * the tail while current and superseded since go with a later sweep. */
static int s_wait_log_count(lt_it_gw_t *g, const char *stream, long n, int timeout_ms)
{
    int64_t end = lt_it_ms() + timeout_ms;
    long have;
    while ((have = lt_ft_log_count(g, stream)) != n)
        if (lt_it_ms() > end || usleep(50000) != 0) {
            fprintf(stderr, "\n  %s: %ld log rows, expected %ld\n", stream, have, n);
            return -1;
        }
    return 0;
}

/* Deletes citizens [from, to) in one Publish. */
static int s_delete_range(lt_it_gw_t *owner, lt_ft_model_t *m, size_t from, size_t to)
{
    lt_ft_pub_t *p = malloc(sizeof *p);
    int rc = p ? 0 : -1;
    if (p)
        lt_ft_pub_init(p, DS);
    for (size_t i = from; rc == 0 && i < to; i++)
        rc = lt_ft_del(p, m, i);
    if (rc == 0)
        rc = lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS);
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    return rc;
}

#define SNAP_LINE "receiving a snapshot of " DS " at seq "

/* The federation, a model of n citizens, an owner and the consumer BHXH
 * of the dataset with these settings, both running; citizens [0, first)
 * published and replicated, then the consumer stopped. 0 or -1. */
static int s_retention_start(fed_t *x, lt_ft_model_t *m, size_t n, const char *owner_conf,
                             const char *consumer_conf, size_t first, lt_it_gw_t **owner,
                             lt_it_gw_t **gbh)
{
    const char *sds[] = {DS, NULL};
    if (s_fed(x) != 0)
        return -1;
    s_model(m, n);
    *owner = lt_it_gw_new(&x->f, x->owner, 1, NULL, owner_conf);
    *gbh = s_consumer(x, x->bhxh, sds, consumer_conf);
    if (!*owner || !*gbh || lt_it_gw_run(*owner, READY_MS) != 0 ||
        lt_it_gw_run(*gbh, READY_MS) != 0 || s_publish_range(*owner, m, 0, first, 250, NULL) != 0 ||
        lt_ft_wait_same(*owner, *gbh, DS, CONVERGE_MS) != 0)
        return -1;
    return s_stop_ok(*gbh) ? 0 : -1;
}

static void test_retention_snapshot(void)
{
    fed_t x;
    lt_ft_model_t m = {0};
    char err[1024] = "";
    lt_it_gw_t *owner = NULL, *gbh = NULL, *late = NULL;
    LT_IT_REQUIRE(s_retention_start(&x, &m, 1000, "batch_max = 50;\nretain_records = 300;",
                                    "credit = 200;", 1000, &owner, &gbh) == 0);
    const char *sds[] = {DS, NULL};
    LT_IT_REQUIRE((late = s_consumer(&x, x.bhyt, sds, NULL)) != NULL);

    /* Two more versions of every citizen, then 100 deletions: seq 3100,
     * the log kept from 2801 (the last 300). */
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 1000, 250, " (2)") == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 1000, 250, " (3)") == 0);
    LT_IT_REQUIRE(s_delete_range(owner, &m, 0, 100) == 0);
    CU_ASSERT_EQUAL(lt_ft_last_seq(owner, DS), 3100);
    CU_ASSERT(s_wait_retained(owner, DS, 2801, CONVERGE_MS) == 0);
    /* The tail, plus the current versions older than it (keys 100..799,
     * seq 2101..2800): the state is whole, the deleted keys are gone. */
    CU_ASSERT(s_wait_log_count(owner, DS, 300 + 700, CONVERGE_MS) == 0);
    CHECK(lt_ft_check_live(owner, DS, &m, err, sizeof err));

    /* The consumer behind the tail (cursor 1000) and a new consumer each
     * receive the state at 3100, then the tail, and converge exactly. */
    long mark = lt_it_log_mark(gbh), lmark = lt_it_log_mark(late);
    LT_IT_REQUIRE(lt_it_gw_run(gbh, READY_MS) == 0 && lt_it_gw_run(late, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(gbh, mark, SNAP_LINE "3100", "replica at seq 1000", CONVERGE_MS) == 0);
    CU_ASSERT(lt_it_log_wait(late, lmark, SNAP_LINE "3100", "replica at seq 0", CONVERGE_MS) == 0);
    for (size_t i = 100; i < 400; i += 100)
        LT_IT_REQUIRE(s_publish_range(owner, &m, i, i + 100, 100, " (4)") == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, late, DS, CONVERGE_MS) == 0);
    CU_ASSERT_EQUAL(lt_ft_last_seq(late, DS), 3400);
    CHECK(lt_ft_check_live(gbh, DS, &m, err, sizeof err));
    CHECK(lt_ft_check_live(late, DS, &m, err, sizeof err));
    CHECK(lt_ft_check_live(owner, DS, &m, err, sizeof err));
    /* One snapshot each, no feed dropped, and the replicas keep their log
     * from S + 1. */
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(gbh, mark, SNAP_LINE, NULL), 1);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(late, lmark, SNAP_LINE, NULL), 1);
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(late, lmark, "stopped at seq", NULL), 0);
    CU_ASSERT_EQUAL(s_retained_first(late, DS), 3101);
    s_finish(&x);
out:
    if (s_test_failed())
        s_dump_all(&x);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* Polls the consumer's store until a snapshot of DS has records staged;
 * 0 once it has, -1 at the deadline. */
static int s_wait_staged(const lt_it_gw_t *g, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited++) {
        if (lt_ft_log_count(g, "\x02snapshot " DS) > 0)
            return 0;
        usleep(1000);
    }
    return -1;
}

/* A consumer killed while it receives a snapshot keeps its old replica
 * whole; started again, it receives a new snapshot and converges. */
static void test_kill_during_snapshot(void)
{
    fed_t x;
    lt_ft_model_t m = {0};
    char err[1024] = "";
    lt_it_gw_t *owner = NULL, *gbh = NULL;
    LT_IT_REQUIRE(s_retention_start(&x, &m, 5000, "batch_max = 10;\nretain_records = 100;",
                                    "credit = 10;", 300, &owner, &gbh) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 300, 5000, 500, NULL) == 0);
    CU_ASSERT(s_wait_retained(owner, DS, 4901, CONVERGE_MS) == 0);

    /* Killed during the transfer (10 records a round trip). */
    long mark = lt_it_log_mark(gbh);
    LT_IT_REQUIRE(lt_it_gw_run(gbh, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(gbh, mark, SNAP_LINE "5000", "replica at seq 300", CONVERGE_MS) == 0);
    /* Killed as soon as the first records are staged, not after a fixed
     * sleep: a fast machine moves all 5000 in under 300 ms. */
    CU_ASSERT(s_wait_staged(gbh, CONVERGE_MS) == 0);
    lt_it_gw_kill(gbh);
    long staged = lt_ft_log_count(gbh, "\x02snapshot " DS);
    fprintf(stderr, "[killed with %ld of 5000 records staged] ", staged);
    CU_ASSERT(staged > 0 && staged < 5000);
    CU_ASSERT_EQUAL(lt_ft_last_seq(gbh, DS), 300);
    CU_ASSERT_EQUAL(lt_ft_live_count(gbh, DS), 300);
    CHECK(lt_ft_check_log(gbh, DS, err, sizeof err));

    /* Started again: the transfer restarts from the beginning. */
    mark = lt_it_log_mark(gbh);
    LT_IT_REQUIRE(lt_it_gw_run(gbh, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(gbh, mark, SNAP_LINE "5000", "replica at seq 300", CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    CHECK(lt_ft_check_live(gbh, DS, &m, err, sizeof err));
    CU_ASSERT_EQUAL(lt_ft_log_count(gbh, "\x02snapshot " DS), 0); /* nothing left staged */
    s_finish(&x);
out:
    if (s_test_failed())
        s_dump_all(&x);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

static void test_retention_bounded(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_it_proc_t sink = {0};
    char err[1024] = "", conf[PATH_MAX], db[PATH_MAX];
    LT_IT_REQUIRE(s_fed(&x) == 0);
    s_model(&m, 50);
    lt_it_gw_t *owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, "retain_records = 100;");
    LT_IT_REQUIRE(owner && lt_it_gw_run(owner, READY_MS) == 0);

    /* A steady change rate on 50 keys: the log stays within the tail and
     * the state, and the store stops growing. */
    long pages[2] = {0, 0};
    for (int phase = 0; phase < 2; phase++) {
        for (int round = 0; round < 60; round++)
            LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 50, 50, round % 2 ? " (b)" : " (a)") == 0);
        uint64_t last = lt_ft_last_seq(owner, DS);
        CU_ASSERT_EQUAL(last, (uint64_t)(phase + 1) * 3000);
        CU_ASSERT(s_wait_retained(owner, DS, last - 99, CONVERGE_MS) == 0);
        CU_ASSERT(s_wait_log_count(owner, DS, 100, CONVERGE_MS) == 0);
        pages[phase] = lt_ft_used_pages(owner);
    }
    fprintf(stderr, "[store pages in use after 3000 and 6000 changes: %ld, %ld] ", pages[0],
            pages[1]);
    CU_ASSERT(pages[0] > 0 && pages[1] <= pages[0] + pages[0] / 10);
    CHECK(lt_ft_check_live(owner, DS, &m, err, sizeof err));

    /* A new sink is behind the log: its table is replaced by the state,
     * then it follows the tail. */
    LT_IT_REQUIRE(s_delete_range(owner, &m, 0, 5) == 0);
    LT_IT_REQUIRE(lt_ft_sink_start(&sink, owner->sock_path, DS, x.f.dir, "sink", conf, db) == 0);
    CU_ASSERT(lt_ft_sink_wait(db, 6005, CONVERGE_MS) == 0);
    CU_ASSERT(lt_it_file_count(sink.log_path, 0, "replaced; cursor=6005", NULL) == 1);
    CHECK(lt_ft_sink_check(db, &m, err, sizeof err));
    LT_IT_REQUIRE(s_publish_range(owner, &m, 10, 20, 10, " (c)") == 0);
    LT_IT_REQUIRE(s_delete_range(owner, &m, 20, 22) == 0);
    CU_ASSERT(lt_ft_sink_wait(db, 6017, CONVERGE_MS) == 0);
    CHECK(lt_ft_sink_check(db, &m, err, sizeof err));
    CU_ASSERT(lt_it_file_count(sink.log_path, 0, "replacing table", NULL) == 1);
    CU_ASSERT(lt_it_file_count(sink.log_path, 0,
                               "(cursor 0 is older than the gateway's retained log)", NULL) == 1);
    CU_ASSERT_EQUAL(lt_it_proc_stop(&sink, STOP_MS), 0);

    /* A cursor stored before the sink kept its history (an upgrade): the
     * gateway replaces the table, and the sink says so, not that its
     * cursor is behind the log (PROTOCOL.md 8.2). */
    LT_IT_REQUIRE(lt_it_sql(db, "UPDATE lt_sink_cursor SET history = NULL") == 0);
    LT_IT_REQUIRE(lt_ft_sink_start(&sink, owner->sock_path, DS, x.f.dir, "sink", conf, db) == 0);
    const char *const unknown[] = {"(cursor 6017 is on an unknown history, stored before the "
                                   "sink kept one)",
                                   "replaced; cursor=6017"};
    CU_ASSERT(lt_ft_file_wait_order(sink.log_path, unknown, 2, CONVERGE_MS) == 0);
    CHECK(lt_ft_sink_check(db, &m, err, sizeof err));
    CU_ASSERT_EQUAL(lt_it_proc_stop(&sink, STOP_MS), 0);
    s_finish(&x);
out:
    if (s_test_failed()) {
        s_dump_all(&x);
        lt_it_file_dump(sink.log_path);
    }
    lt_it_proc_kill(&sink);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* ---- 6b. a sink's table across a replaced history (PROTOCOL.md 8.2) ------------------------ */

/* The sink's table holds exactly p38 of the model (its citizens of 38,
 * only the living ones when narrowed, with their last names), at cursor
 * `seq`. */
static int s_check_sink_p38(const char *path, const lt_ft_model_t *m, uint64_t seq, int narrowed,
                            char *err, size_t errlen)
{
    lt_ft_model_t n = *m;
    lt_ft_citizen_t *c = calloc(m->n ? m->n : 1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < m->n; i++) {
        c[i] = m->c[i];
        c[i].live = m->c[i].live && strcmp(m->c[i].province, "38") == 0 &&
                    (!narrowed || m->c[i].status == ALIVE);
    }
    n.c = c;
    int rc = lt_ft_sink_check(path, &n, err, errlen);
    free(c);
    if (rc == 0 && lt_ft_sink_wait(path, seq, 0) != 0) {
        snprintf(err, errlen, "sink cursor is not %llu", (unsigned long long)seq);
        rc = -1;
    }
    return rc;
}

/* The federation, the owner and p38 running (s_owner_and_p38), and p38's
 * first history (s_p38_with_dead) in m; p publishes DS. 0 or -1. */
static int s_p38_history(fed_t *x, lt_ft_model_t *m, lt_ft_pub_t *p, lt_it_gw_t **owner,
                         lt_it_gw_t **g38)
{
    if (s_fed(x) != 0)
        return -1;
    s_model(m, 30);
    lt_ft_pub_init(p, DS);
    if (s_owner_and_p38(x, owner, g38) != 0)
        return -1;
    return s_p38_with_dead(*owner, *g38, m, p);
}

/* A sink's cursor on a view's old history is never continued on the new
 * one, even after the gateway restarted and forgot that it was replaced:
 * its table is replaced by the stream's state. One sink of the owner's
 * view (rebuilt on a new history, PROTOCOL.md 6.9) is stopped meanwhile;
 * one of p38's replica (resynchronised) stays attached. Both gateways
 * restart before the sinks attach again, on logs longer than their
 * cursors. Before, they went on from their old cursors: the rows of the
 * old history (the dead of 38) stayed in their tables. */
static void test_sink_history(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    lt_it_proc_t ko = {0}, kr = {0};
    uint8_t *v2 = NULL;
    size_t v2_len = 0;
    char err[1024] = "", co[PATH_MAX], dbo[PATH_MAX], cr[PATH_MAX], dbr[PATH_MAX];
    lt_it_gw_t *owner = NULL, *g38 = NULL;
    /* p38's old history: ten citizens of 38, then two of them die. */
    LT_IT_REQUIRE(p && s_p38_history(&x, &m, p, &owner, &g38) == 0);
    uint64_t old = lt_ft_last_seq(owner, V38);
    LT_IT_REQUIRE(lt_ft_sink_start(&ko, owner->sock_path, V38, x.f.dir, "sink-owner", co, dbo) ==
                  0);
    LT_IT_REQUIRE(lt_ft_sink_start(&kr, g38->sock_path, V38, x.f.dir, "sink-p38", cr, dbr) == 0);
    LT_IT_REQUIRE(lt_ft_sink_wait(dbo, old, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_sink_wait(dbr, old, CONVERGE_MS) == 0);
    CU_ASSERT_EQUAL(lt_it_proc_stop(&ko, STOP_MS), 0);

    /* The view is narrowed: rebuilt on a new history at the owner, p38
     * resynchronised; then more changes than the old history had. */
    LT_IT_REQUIRE(s_narrow_p38(&x, owner, g38, &v2, &v2_len) == 0);
    for (int round = 0; round < 2; round++) {
        char name[128];
        for (size_t i = 6; i < m.n; i += 3) {
            snprintf(name, sizeof name, "%s (%d)", s_names[i % 10], round);
            LT_IT_REQUIRE(lt_ft_put(p, &m, i, name, "38", ALIVE) == 0);
        }
        LT_IT_REQUIRE(lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) == 0);
    }
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    uint64_t now = lt_ft_last_seq(owner, V38);
    LT_IT_REQUIRE(now > old);

    /* Both gateways restart (what they knew in memory is gone), then the
     * owner's sink starts again. */
    LT_IT_REQUIRE(s_stop_ok(g38) && s_stop_ok(owner));
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0 && lt_it_gw_run(g38, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_proc_start(&ko) == 0);
    CU_ASSERT(lt_ft_sink_wait(dbo, now, CONVERGE_MS) == 0);
    CU_ASSERT(lt_ft_sink_wait(dbr, now, CONVERGE_MS) == 0);
    CHECK(s_check_sink_p38(dbo, &m, now, 1, err, sizeof err));
    CHECK(s_check_sink_p38(dbr, &m, now, 1, err, sizeof err));
    CU_ASSERT(lt_it_file_count(ko.log_path, 0, "replaced; cursor=", NULL) == 1);
    CU_ASSERT(lt_it_file_count(kr.log_path, 0, "replaced; cursor=", NULL) == 1);

    /* They follow the new history from there. */
    LT_IT_REQUIRE(lt_ft_put(p, &m, 9, m.c[9].name, "38", DECEASED) == 0);
    LT_IT_REQUIRE(lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    now = lt_ft_last_seq(owner, V38);
    CU_ASSERT(lt_ft_sink_wait(dbo, now, CONVERGE_MS) == 0);
    CU_ASSERT(lt_ft_sink_wait(dbr, now, CONVERGE_MS) == 0);
    CHECK(s_check_sink_p38(dbo, &m, now, 1, err, sizeof err));
    CHECK(s_check_sink_p38(dbr, &m, now, 1, err, sizeof err));
    CU_ASSERT_EQUAL(lt_it_proc_stop(&ko, STOP_MS), 0);
    CU_ASSERT_EQUAL(lt_it_proc_stop(&kr, STOP_MS), 0);
    CU_ASSERT(!lt_it_file_contains(ko.log_path, "Sanitizer"));
    CU_ASSERT(!lt_it_file_contains(kr.log_path, "Sanitizer"));
    s_finish(&x);
out:
    if (s_test_failed()) {
        s_dump_all(&x);
        lt_it_file_dump(ko.log_path);
        lt_it_file_dump(kr.log_path);
    }
    lt_it_proc_kill(&ko);
    lt_it_proc_kill(&kr);
    free(v2);
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* A sink of a view rebuilt so that its where matches nothing takes the
 * empty replacement (PROTOCOL.md 8.2: S = 0, one part with both flags):
 * its table emptied, its cursor 0 on the new history, and it stays
 * attached. Before, the sink took that Deliver (replace_seq 0) for an
 * ordinary empty one and never acknowledged it: detached after
 * LT_SNAP_IDLE_MS, attached again, for ever, its rows kept. */
static void test_sink_empty_replacement(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    lt_it_proc_t ko = {0};
    uint8_t *v2 = NULL;
    size_t v2_len = 0;
    char err[1024] = "", co[PATH_MAX], dbo[PATH_MAX];
    lt_it_gw_t *owner = NULL, *g38 = NULL;
    LT_IT_REQUIRE(p && s_p38_history(&x, &m, p, &owner, &g38) == 0);
    uint64_t old = lt_ft_last_seq(owner, V38);
    LT_IT_REQUIRE(old > 0);
    LT_IT_REQUIRE(lt_ft_sink_start(&ko, owner->sock_path, V38, x.f.dir, "sink-owner", co, dbo) ==
                  0);
    LT_IT_REQUIRE(lt_ft_sink_wait(dbo, old, CONVERGE_MS) == 0);
    CHECK(s_check_sink_p38(dbo, &m, old, 0, err, sizeof err));

    /* Version 2 empties p38: the owner rebuilds it with no records. */
    long mark = lt_it_log_mark(owner);
    x.f.extra_source = s_source_emptied;
    LT_IT_REQUIRE(lt_it_dir_bytes(&x.f, 2, 0, 0, NULL, &v2, &v2_len) == 0);
    LT_IT_REQUIRE(lt_it_gw_put_directory(owner, v2, v2_len) == 0 &&
                  lt_it_gw_signal(owner, SIGHUP) == 0 &&
                  lt_it_gw_wait_version(owner, 2, REPLY_MS) == 0);
    LT_IT_REQUIRE(lt_it_log_wait(owner, mark, "view definition changed in directory version 2",
                                 NULL, CONVERGE_MS) == 0);
    CU_ASSERT_EQUAL(lt_ft_last_seq(owner, V38), 0);

    /* The sink's table is emptied, its cursor 0, well before the 60 s a
     * replacement without progress lasts. */
    int64_t end = lt_it_ms() + CONVERGE_MS;
    while (lt_it_file_count(ko.log_path, 0, "replaced; cursor=0 ", NULL) < 1 && lt_it_ms() < end)
        usleep(50 * 1000);
    CU_ASSERT_EQUAL(lt_it_file_count(ko.log_path, 0, "replaced; cursor=0 ", NULL), 1);
    for (size_t i = 0; i < m.n; i++)
        m.c[i].live = 0;
    CHECK(lt_ft_sink_check(dbo, &m, err, sizeof err));
    CU_ASSERT(lt_ft_sink_wait(dbo, 0, 0) == 0);
    CU_ASSERT(!lt_it_file_contains(owner->log_path, "made no progress"));
    CU_ASSERT_EQUAL(lt_it_proc_stop(&ko, STOP_MS), 0);
    CU_ASSERT(!lt_it_file_contains(ko.log_path, "Sanitizer"));
    s_finish(&x);
out:
    if (s_test_failed()) {
        s_dump_all(&x);
        lt_it_file_dump(ko.log_path);
    }
    lt_it_proc_kill(&ko);
    free(v2);
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* A sink attached to p38's replica and live while its owner rebuilds the
 * view on a new history (PROTOCOL.md 6.9) stays attached through the fork
 * and the copy, and is detached with "replaced" by the swap
 * (lt_feed_history_resynced); it attaches again and its table is replaced
 * by the new history's rows, without a restart of anything. The new history
 * is shorter than the sink's cursor, so nothing else would move it: left
 * attached, it waited beyond the log with the dead of 38 in its table, and
 * missed the records published after the swap. */
static void test_sink_through_fork(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    lt_it_proc_t kr = {0};
    uint8_t *v2 = NULL;
    size_t v2_len = 0;
    char err[1024] = "", cr[PATH_MAX], dbr[PATH_MAX];
    lt_it_gw_t *owner = NULL, *g38 = NULL;
    /* The old history: ten citizens of 38, two of whom die; the sink holds
     * all ten, the dead too. */
    LT_IT_REQUIRE(p && s_p38_history(&x, &m, p, &owner, &g38) == 0);
    uint64_t old = lt_ft_last_seq(owner, V38);
    LT_IT_REQUIRE(lt_ft_sink_start(&kr, g38->sock_path, V38, x.f.dir, "sink-p38", cr, dbr) == 0);
    LT_IT_REQUIRE(lt_ft_sink_wait(dbr, old, CONVERGE_MS) == 0);
    CHECK(s_check_sink_p38(dbr, &m, old, 0, err, sizeof err));

    /* Narrowed: the owner rebuilds p38 without its dead, p38 forks and
     * resynchronises while the sink stays attached. */
    long mark = lt_it_log_mark(g38);
    LT_IT_REQUIRE(s_narrow_p38(&x, owner, g38, &v2, &v2_len) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    uint64_t now = lt_ft_last_seq(owner, V38);
    LT_IT_REQUIRE(now > 0 && now < old);
    /* Detached by the swap, the sink attaches again after its back-off,
     * loudly ("attached stream="), and that attach has its table replaced.
     * Its own timer after 5 s of silence (adapters/lt_sink.c) would repair
     * a sink left attached too, but with no detach before it and a quiet
     * attach (debug): the order of the sink's lines tells the two apart
     * however slow the machine, where a time bound under 5 s did not. */
    char done[128];
    snprintf(done, sizeof done, "table citizens replaced; cursor=%" PRIu64 " ", now);
    const char *const detached[] = {"the stream was replaced by another history",
                                    "attached stream=" V38 " from_seq=", done};
    CU_ASSERT(lt_ft_log_count_lines(g38, mark, "sink of " V38 " refused at seq", "replaced") == 1);
    LT_IT_REQUIRE(lt_ft_sink_wait(dbr, now, CONVERGE_MS) == 0);
    CU_ASSERT(lt_ft_file_wait_order(kr.log_path, detached, 3, REPLY_MS) == 0);
    CHECK(s_check_sink_p38(dbr, &m, now, 1, err, sizeof err));
    CU_ASSERT(
        lt_it_file_count(kr.log_path, 0, "the stream was replaced by another history", NULL) == 1);
    /* The message says what happens by itself, not to rebuild by hand. */
    CU_ASSERT(
        lt_it_file_count(kr.log_path, 0, "the gateway then replaces the sink's table", NULL) == 1);
    CU_ASSERT(lt_it_file_count(kr.log_path, 0, "replaced; cursor=", NULL) == 1);
    CU_ASSERT(lt_it_proc_alive(&kr));

    /* A change after the swap reaches the sink. */
    LT_IT_REQUIRE(lt_ft_put(p, &m, 6, "Đặng Quốc Huy (sau)", "38", ALIVE) == 0);
    LT_IT_REQUIRE(lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, g38, V38, CONVERGE_MS) == 0);
    CU_ASSERT_EQUAL(lt_ft_last_seq(g38, V38), now + 1);
    CU_ASSERT(lt_ft_sink_wait(dbr, now + 1, CONVERGE_MS) == 0);
    CHECK(s_check_sink_p38(dbr, &m, now + 1, 1, err, sizeof err));
    CU_ASSERT_EQUAL(lt_it_proc_stop(&kr, STOP_MS), 0);
    CU_ASSERT(!lt_it_file_contains(kr.log_path, "Sanitizer"));
    s_finish(&x);
out:
    if (s_test_failed()) {
        s_dump_all(&x);
        lt_it_file_dump(kr.log_path);
    }
    lt_it_proc_kill(&kr);
    free(v2);
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* ---- 8. fan-out from the owner's in-memory tail (docs/ARCHITECTURE.md 3.1) ----------------- */

/* The signed batch headers g kept for DS (PROTOCOL.md 6.3: first, last,
 * prev hash, Merkle root, signature, history), concatenated in seq order
 * into a malloc'd buffer; *n rows. NULL on failure. */
static uint8_t *s_headers(const lt_it_gw_t *g, size_t *len, long *n)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/store.db", g->data_dir);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    uint8_t *buf = NULL;
    *len = 0;
    *n = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT b.first_seq, b.last_seq, b.prev_hash, b.root, b.signature, "
                           "b.history FROM batches b JOIN streams s ON s.id = b.stream "
                           "WHERE s.name = ?1 ORDER BY b.last_seq",
                           -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, DS, -1, SQLITE_STATIC) != SQLITE_OK)
        goto out;
    while (sqlite3_step(st) == SQLITE_ROW) {
        size_t row = 16;
        for (int c = 2; c < 6; c++)
            row += (size_t)sqlite3_column_bytes(st, c);
        uint8_t *nb = realloc(buf, *len + row);
        if (!nb)
            goto out;
        buf = nb;
        int64_t seqs[2] = {sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)};
        memcpy(buf + *len, seqs, sizeof seqs);
        *len += sizeof seqs;
        for (int c = 2; c < 6; c++) {
            size_t l = (size_t)sqlite3_column_bytes(st, c);
            if (l)
                memcpy(buf + *len, sqlite3_column_blob(st, c), l);
            *len += l;
        }
        (*n)++;
    }
out:
    sqlite3_finalize(st);
    sqlite3_close(db);
    return buf;
}

/* 1 when a and b kept the same signed headers for DS: they were sent the
 * same batches, byte for byte (records by lt_ft_compare). */
static int s_same_headers(const lt_it_gw_t *a, const lt_it_gw_t *b, long *rows)
{
    size_t la, lb;
    long na, nb;
    uint8_t *ha = s_headers(a, &la, &na), *hb = s_headers(b, &lb, &nb);
    int same = ha && hb && na > 0 && na == nb && la == lb && memcmp(ha, hb, la) == 0;
    if (!same)
        fprintf(stderr, "\n  kept headers differ: %ld rows (%zu bytes) and %ld (%zu)\n", na, la, nb,
                lb);
    free(ha);
    free(hb);
    *rows = na;
    return same;
}

/* The owner's counter lienthong_tail_NAME_total; -1 when unknown. */
static double s_tail_counter(lt_it_gw_t *owner, const char *name)
{
    char series[128];
    snprintf(series, sizeof series, "lienthong_tail_%s_total", name);
    char *text = lt_it_gw_metrics(owner, REPLY_MS);
    double v = text ? lt_it_metric(text, series) : -1;
    free(text);
    return v;
}

static void test_tail_fanout(void)
{
    fed_t x;
    lt_ft_model_t m = {0};
    char err[1024] = "";
    long rows = 0;
    LT_IT_REQUIRE(s_fed(&x) == 0);
    s_model(&m, 3000);
    /* A tail of 8 batches of 50: the consumer stopped below it catches up
     * from the store. */
    lt_it_gw_t *owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, "batch_max = 50;\ntail_batches = 8;");
    const char *sds[] = {DS, NULL};
    lt_it_gw_t *gbh = s_consumer(&x, x.bhxh, sds, NULL), *gyt = s_consumer(&x, x.bhyt, sds, NULL);
    LT_IT_REQUIRE(owner && gbh && gyt);
    long mark = lt_it_log_mark(owner);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(gbh, READY_MS) == 0 && lt_it_gw_run(gyt, READY_MS) == 0);
    /* Both subscribed before anything is published: the same cursor and
     * chain, so each batch is read and signed once for both. */
    CU_ASSERT(lt_it_log_wait(owner, mark, "feed " DS " to " ID_BHXH " starts at seq 1", NULL,
                             REPLY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(owner, mark, "feed " DS " to " ID_BHYT " starts at seq 1", NULL,
                             REPLY_MS) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 1000, 100, NULL) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gyt, DS, CONVERGE_MS) == 0);
    CHECK(lt_ft_compare(owner, gbh, DS, err, sizeof err));
    CHECK(lt_ft_compare(owner, gyt, DS, err, sizeof err));
    CU_ASSERT(s_same_headers(gbh, gyt, &rows));
    double hits = s_tail_counter(owner, "hits"), misses = s_tail_counter(owner, "misses");
    fprintf(stderr, "[%ld batches each; tail hits %.0f, misses %.0f] ", rows, hits, misses);
    /* Every batch was sent twice: at least one of the two from the tail. */
    CU_ASSERT(rows >= 20 && hits >= rows && misses <= rows);
    CU_ASSERT_EQUAL(s_tail_counter(owner, "resigned"), 0);

    /* BHYT stops; 40 batches later its cursor is far below the tail. */
    CU_ASSERT(s_stop_ok(gyt));
    LT_IT_REQUIRE(s_publish_range(owner, &m, 1000, 3000, 100, NULL) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    double misses0 = s_tail_counter(owner, "misses");
    long ymark = lt_it_log_mark(gyt);
    LT_IT_REQUIRE(lt_it_gw_run(gyt, READY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(gyt, ymark, "subscribing to " DS " from " ID_OWNER " at seq 1001\n",
                             NULL, REPLY_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gyt, DS, CONVERGE_MS) == 0);
    /* Gap-free, byte for byte, with batches read from the store. */
    CU_ASSERT_EQUAL(lt_ft_last_seq(gyt, DS), 3000);
    CHECK(lt_ft_compare(owner, gyt, DS, err, sizeof err));
    CHECK(lt_ft_check_log(gyt, DS, err, sizeof err));
    CHECK(lt_ft_check_dataset(gyt, DS, &m, err, sizeof err));
    CU_ASSERT_EQUAL(lt_ft_log_count_lines(gyt, ymark, "stopped at seq", NULL), 0);
    CU_ASSERT(s_tail_counter(owner, "misses") >= misses0 + 20);
    /* The same chain as BHXH's, so the same signed batches in the end too. */
    CU_ASSERT(s_same_headers(gbh, gyt, &rows));
    CU_ASSERT_EQUAL(rows, 60);
    s_finish(&x);
out:
    if (s_test_failed())
        s_dump_all(&x);
    lt_ft_model_free(&m);
    lt_it_fed_cleanup(&x.f);
}

/* ---- 9. an owner suspended ------------------------------------------------------------- */

/* Sends a lookup of citizen 0 in DS on the application's socket app. */
static int s_lookup_send(void *app, uint64_t id)
{
    char *fields[] = {"full_name"};
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = id;
    q.dataset = DS;
    q.key = "038000000000";
    q.fields = fields;
    q.n_fields = 1;
    q.purpose = "KYC";
    q.deadline_ms = lt_clock_now_ms() + 30000; /* far: an early end is the gateway's doing */
    return lt_wire_send_body(app, NULL, 0, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q);
}

/* 1 when env is an Error ERR_UNAVAILABLE for request id that says why. */
static int s_ended_unavailable(const Lienthong__Envelope *env, uint64_t id, const char *why)
{
    int ok = env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
             env->error->request_id == id &&
             env->error->code == LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE &&
             strstr(env->error->message, why);
    if (!ok)
        fprintf(stderr, "\n  request %llu: %s %s\n", (unsigned long long)id,
                !env ? "no reply" : lt_wire_body_name(env->body_case),
                env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? env->error->message
                                                                         : "");
    return ok;
}

/* 1 when status of g lists member among its connected peers. */
static int s_connected_to(lt_it_gw_t *g, const char *member)
{
    Lienthong__Envelope *env = lt_it_gw_status(g, REPLY_MS);
    int found = 0;
    for (size_t i = 0; env && i < env->status_reply->n_peers_connected; i++)
        found |= strcmp(env->status_reply->peers_connected[i], member) == 0;
    lt_wire_free(&env);
    return found;
}

/* A replica follows the owner, then adopts a directory that suspends it
 * (PROTOCOL.md 5.4). Only the replica is given it (the owner, which would
 * adopt it too and stop serving, is stopped meanwhile and then answers
 * what it was asked). The replica must close its link
 * at once: a lookup it forwarded before ends with ERR_UNAVAILABLE saying
 * why, though the owner (stopped meanwhile) answers it later, and the
 * records the owner publishes after that never reach the replica. */
static void test_owner_suspended(void)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    uint8_t *v2 = NULL;
    size_t v2_len = 0;
    void *app = NULL;
    int stopped = 0;
    char err[512] = "";
    Lienthong__Envelope *reply = NULL;
    lt_it_gw_t *owner = NULL, *gbh = NULL;
    const char *sds[] = {DS, NULL};
    LT_IT_REQUIRE(s_fed(&x) == 0);
    s_model(&m, 200);
    owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, NULL);
    gbh = s_consumer(&x, x.bhxh, sds, NULL);
    LT_IT_REQUIRE(owner && gbh && lt_it_gw_run(owner, READY_MS) == 0 &&
                  lt_it_gw_run(gbh, READY_MS) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 100, 100, NULL) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    uint64_t before = lt_ft_last_seq(gbh, DS);
    CU_ASSERT(s_connected_to(gbh, ID_OWNER));

    /* A lookup on its way to the owner, which cannot answer yet. */
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    o.max_message = LT_LOCAL_MAX_MESSAGE;
    LT_IT_REQUIRE((app = lt_sock_local_client(lt_it_ctx(), gbh->sock_path, &o, err, sizeof err)));
    LT_IT_REQUIRE(lt_it_gw_signal(owner, SIGSTOP) == 0);
    stopped = 1;
    LT_IT_REQUIRE(s_lookup_send(app, 901) == 0);
    /* Forwarded before the directory changes (a loaded machine may take
     * longer than any fixed pause): else it is refused as not active. */
    LT_IT_REQUIRE(
        lt_it_gw_metric_wait(gbh, "lienthong_query_made_total{op=\"lookup\"}", 1, REPLY_MS) == 1);

    /* Version 2 suspends the owner; the replica adopts it by SIGHUP. */
    long mark = lt_it_log_mark(gbh);
    snprintf(x.owner->status, sizeof x.owner->status, "suspended");
    LT_IT_REQUIRE(lt_it_dir_bytes(&x.f, 2, 0, 0, NULL, &v2, &v2_len) == 0);
    LT_IT_REQUIRE(lt_it_gw_put_directory(gbh, v2, v2_len) == 0);
    LT_IT_REQUIRE(lt_it_gw_signal(gbh, SIGHUP) == 0);
    LT_IT_REQUIRE(lt_it_gw_wait_version(gbh, 2, REPLY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(gbh, mark, "closing the link to " ID_OWNER,
                             ID_OWNER " is suspended in directory version 2", REPLY_MS) == 0);
    CU_ASSERT(lt_it_log_wait(gbh, mark, "replica of " DS " stopped",
                             "the owner " ID_OWNER " is suspended", REPLY_MS) == 0);

    /* The lookup ends now, not at its deadline, and not with the answer
     * the owner sends once it runs again. */
    reply = lt_it_recv_env(app, REPLY_MS);
    CU_ASSERT(s_ended_unavailable(reply, 901, ID_OWNER " is suspended"));
    lt_wire_free(&reply);
    LT_IT_REQUIRE(lt_it_gw_signal(owner, SIGCONT) == 0);
    stopped = 0;
    reply = lt_it_recv_env(app, 1500);
    CU_ASSERT_PTR_NULL(reply); /* nothing more for 901 */
    lt_wire_free(&reply);
    /* A new one is refused at once. */
    LT_IT_REQUIRE(s_lookup_send(app, 902) == 0);
    reply = lt_it_recv_env(app, REPLY_MS);
    CU_ASSERT(s_ended_unavailable(reply, 902, "not active"));
    lt_wire_free(&reply);

    /* The owner publishes on; past an idle re-subscribe (2 s), nothing of
     * it reaches the replica, which no longer counts it as connected. */
    LT_IT_REQUIRE(s_publish_range(owner, &m, 100, 200, 100, NULL) == 0);
    int64_t t0 = lt_it_ms();
    int connected = 1;
    for (int64_t end = t0 + REPLY_MS; connected && lt_it_ms() < end; usleep(100 * 1000))
        connected = s_connected_to(gbh, ID_OWNER);
    CU_ASSERT(!connected); /* however late a loaded machine makes it */
    while (lt_it_ms() < t0 + 3000)
        usleep(100 * 1000);
    CU_ASSERT_EQUAL(lt_ft_last_seq(gbh, DS), before);
    CU_ASSERT(!s_connected_to(gbh, ID_OWNER)); /* and it stays so */
    CU_ASSERT(lt_it_gw_alive(owner) && lt_it_gw_alive(gbh));
    s_finish(&x);
out:
    if (stopped)
        (void)lt_it_gw_signal(owner, SIGCONT);
    lt_wire_free(&reply);
    if (app)
        zmq_close(app);
    free(v2);
    if (s_test_failed())
        s_dump_all(&x);
    lt_it_fed_cleanup(&x.f);
    lt_ft_model_free(&m);
}

/* ---- 10. a consumer suspended, then reinstated --------------------------------------- */

/* The federation's source with one policy: BHXH subscribes to and looks
 * up DS. */
static const char *s_source_bhxh =
    SOURCE_BEFORE_P38 "  { id = \"" V38 "\"; dataset = \"" DS "\"; " VIEW_FIELDS
                      "where = { current_province = \"38\"; }; },\n"
                      "  { id = \"" V01 "\"; dataset = \"" DS "\"; " VIEW_FIELDS
                      "where = { current_province = \"01\"; }; } );\n"
                      "policies = ( { consumer = \"" ID_BHXH "\"; target = \"" DS "\"; "
                      "allow = [\"subscribe\", \"lookup\"]; } );\n";

/* Gives the owner `version` of the directory, with BHXH's status, by
 * SIGHUP. */
static int s_owner_dir(fed_t *x, lt_it_gw_t *owner, uint64_t version, const char *status)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    snprintf(x->bhxh->status, sizeof x->bhxh->status, "%s", status);
    int rc = lt_it_dir_bytes(&x->f, version, 0, 0, NULL, &bytes, &len) == 0 &&
                     lt_it_gw_put_directory(owner, bytes, len) == 0 &&
                     lt_it_gw_signal(owner, SIGHUP) == 0 &&
                     lt_it_gw_wait_version(owner, version, REPLY_MS) == 0
                 ? 0
                 : -1;
    free(bytes);
    return rc;
}

/* The owner suspends (or revokes) a consumer (directory version 2, given to the owner
 * alone: the consumer, cut off, cannot learn it) and refuses its link's
 * handshake; libzmq then dials no more. The owner reinstates it (version
 * 3): the consumer, not restarted, must dial again on its own (its
 * back-off), be offered version 3, catch up on what was published
 * meanwhile and have a lookup answered (PROTOCOL.md 5.4). */
static void s_consumer_reinstated(const char *status)
{
    fed_t x;
    memset(&x, 0, sizeof x);
    lt_ft_model_t m = {0};
    void *app = NULL;
    char err[512] = "";
    Lienthong__Envelope *reply = NULL;
    lt_it_gw_t *owner = NULL, *gbh = NULL;
    const char *sds[] = {DS, NULL};
    LT_IT_REQUIRE(s_fed(&x) == 0);
    x.f.extra_source = s_source_bhxh;
    s_model(&m, 200);
    owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, NULL);
    gbh = s_consumer(&x, x.bhxh, sds, NULL);
    LT_IT_REQUIRE(owner && gbh && lt_it_gw_run(owner, READY_MS) == 0 &&
                  lt_it_gw_run(gbh, READY_MS) == 0);
    LT_IT_REQUIRE(s_publish_range(owner, &m, 0, 100, 100, NULL) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);

    long mark = lt_it_log_mark(gbh);
    LT_IT_REQUIRE(s_owner_dir(&x, owner, 2, status) == 0);
    CU_ASSERT(lt_it_log_wait(gbh, mark, "refused this gateway's keys",
                             "may be suspended or revoked in the peer's directory",
                             CONVERGE_MS) == 0);
    CU_ASSERT(!s_connected_to(gbh, ID_OWNER));
    LT_IT_REQUIRE(s_publish_range(owner, &m, 100, 200, 100, NULL) == 0);

    LT_IT_REQUIRE(s_owner_dir(&x, owner, 3, "active") == 0);
    /* Back-off: refused for a few seconds, so a few seconds more. */
    CU_ASSERT(lt_it_gw_wait_version(gbh, 3, CONVERGE_MS) == 0);
    CU_ASSERT(lt_ft_wait_same(owner, gbh, DS, CONVERGE_MS) == 0);
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    o.max_message = LT_LOCAL_MAX_MESSAGE;
    LT_IT_REQUIRE((app = lt_sock_local_client(lt_it_ctx(), gbh->sock_path, &o, err, sizeof err)));
    LT_IT_REQUIRE(s_lookup_send(app, 1001) == 0);
    reply = lt_it_recv_env(app, REPLY_MS);
    CU_ASSERT(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY);
    if (reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        fprintf(stderr, "\n  lookup: %s\n", reply->error->message);
    CU_ASSERT(lt_it_gw_alive(owner) && lt_it_gw_alive(gbh));
    s_finish(&x);
out:
    lt_wire_free(&reply);
    if (app)
        zmq_close(app);
    if (s_test_failed())
        s_dump_all(&x);
    lt_it_fed_cleanup(&x.f);
    lt_ft_model_free(&m);
}

static void test_consumer_reinstated(void)
{
    s_consumer_reinstated("suspended");
}

static void test_consumer_unrevoked(void)
{
    s_consumer_reinstated("revoked");
}

/* ---- runner ----------------------------------------------------------------------------- */

static void s_teardown(void)
{
    lt_it_cleanup_all();
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"1 dataset and views converge, full contents", test_convergence},
        {"2 row predicate: leaving a view is a tombstone", test_row_predicate},
        {"2 a view narrowed by the directory: rebuilt, replica resynchronised", test_view_narrowed},
        {"2 a view narrowed while groups are committed: the old group answered first",
         test_view_narrowed_live},
        {"3 subscriptions without a policy are refused", test_unauthorised},
        {"4 MITM: flipped byte rejected, then converges", test_mitm_flip},
        {"4 MITM: wrong signing key rejected, then converges", test_mitm_resign},
        {"4 MITM: an owner-signed over-long key rejected, then converges", test_mitm_longkey},
        {"4 MITM: dropped batches detected, never skipped", test_mitm_drop},
        {"4 an owner's answer to a stale credit: subscribed again soon, not refused",
         test_stale_credit_error},
        {"4 re-subscribe racing batches in flight: no gap, nothing skipped", test_resubscribe_race},
        {"4 a batch waiting to commit does not hold the replica's gateway up",
         test_replica_commit_off_loop},
        {"5 restart resumes from cursor; late joiner catches up", test_restart_and_late_joiner},
        {"6 retention: behind the tail and late joiner get a snapshot", test_retention_snapshot},
        {"6 retention: bounded log under steady change; sink replaced", test_retention_bounded},
        {"6 a sink across a view rebuilt and a replica resynchronised, gateways restarted: "
         "its table replaced",
         test_sink_history},
        {"6 a sink of a view rebuilt to match nothing: its table emptied by the empty "
         "replacement",
         test_sink_empty_replacement},
        {"6 a sink attached to a replica through its owner's fork and the swap: its table "
         "replaced, then live",
         test_sink_through_fork},
        {"7 kill during a snapshot: old replica intact, then converges", test_kill_during_snapshot},
        {"8 fan-out from the owner's tail: identical batches; old cursor from the store",
         test_tail_fanout},
        {"9 an owner suspended: its link closed, its lookups ended, its batches not taken",
         test_owner_suspended},
        {"10 a consumer suspended, then reinstated: it dials again, catches up, is answered",
         test_consumer_reinstated},
        {"10 a consumer revoked, then listed active again: it dials again, catches up, is "
         "answered",
         test_consumer_unrevoked},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"feeds", NULL, NULL, s_test_start, s_teardown, tests};
    return lt_it_main(argc, argv, &suite);
}

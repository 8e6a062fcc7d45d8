/* test_quality: integration test of the quality figures of each stream
 * (PROTOCOL.md 8.9, issue 13 item 5) with real `lienthong gateway`
 * processes on 127.0.0.1.
 *
 * Proves: an owner's dataset, its view and a consumer's replica report the
 * exact number of current records and, per field, how many hold a value,
 * equal to a count made here from each store's SQLite file (every live
 * record decoded, each field checked against proto3's default); they stay
 * exact after updates and deletes and after the owner restarts, and in a
 * replica that started from a snapshot of the pruned log; the age of
 * the newest change grows while nothing is published; a stopped consumer's
 * lag in records and seconds grows, across a restart of the owner too,
 * and returns to 0 once it caught up; the
 * metrics exposition carries the same figures, and `lienthong status`
 * prints them.
 *
 * Usage: test_quality /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_feedtest.h"
#include "lt_itest.h"
#include "lt_schema.h"
#include "records/population.pb-c.h"

#include <CUnit/Basic.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FED      "VN"
#define ID_OWNER "VN/GOV/BCA"
#define ID_BHXH  "VN/GOV/BHXH"
#define ID_BYT   "VN/GOV/BYT"
#define DS       "VN/GOV/BCA/population"
#define V79      "VN/GOV/BCA/population.p79"

#define READY_MS    10000 /* a gateway answers status (generous for ASan) */
#define PUBLISH_MS  10000 /* a PublishAck */
#define CONVERGE_MS 20000 /* a replica catches up */
#define REPLY_MS    10000 /* a reply that must come (generous for ASan on a loaded machine) */
#define STOP_MS     5000  /* SIGTERM to exit */
#define CITIZENS    400

#define ALIVE    LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE
#define DECEASED LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_DECEASED

static const char *s_source =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "views = ( { id = \"" V79 "\"; dataset = \"" DS "\";\n"
    "  fields = [\"full_name\", \"status\", \"date_of_death\"];\n"
    "  where = { current_province = \"79\"; }; } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_BHXH "\"; target = \"" DS "\"; allow = [\"subscribe\"]; },\n"
    "  { consumer = \"" ID_BYT "\"; target = \"" DS "\"; allow = [\"subscribe\"]; } );\n";

static const char *const s_names[] = {"Nguyễn Văn An", "Trần Thị Bình", "Lê Hoàng Cường", ""};

typedef struct {
    lt_it_fed_t f;
    lt_it_member_t *owner, *bhxh, *byt;
    lt_ft_model_t m;
} fed_t;

#define CHECK(call) CU_ASSERT(lt_ft_ok((call), #call, err))

/* Upserts citizens [from, to) in one Publish, `round` varying which fields
 * are left empty; every `del`-th citizen (0: none) is deleted instead. */
static int s_publish(lt_it_gw_t *owner, fed_t *x, size_t from, size_t to, size_t round, size_t del)
{
    lt_ft_pub_t *p = malloc(sizeof *p);
    int rc = p ? 0 : -1;
    if (p)
        lt_ft_pub_init(p, DS);
    for (size_t i = from; rc == 0 && i < to; i++) {
        size_t k = i + round;
        if (del && i % del == 0) {
            rc = lt_ft_del(p, &x->m, i);
            continue;
        }
        /* Empty name, province or status (proto3 defaults: not present). */
        const char *province = k % 5 == 0 ? "" : k % 2 ? "79" : "38";
        int status = k % 7 == 0 ? 0 : k % 11 == 0 ? DECEASED : ALIVE;
        rc = lt_ft_put(p, &x->m, i, s_names[k % 4], province, status);
    }
    if (rc == 0)
        rc = lt_ft_pub_send(p, owner, NULL, NULL, PUBLISH_MS);
    if (p)
        lt_ft_pub_clear(p);
    free(p);
    return rc;
}

/* Counts, from g's SQLite file, the current records of stream and per
 * field number how many hold a value. 0, or -1 with err. */
static int s_db_count(const lt_it_gw_t *g, const char *stream, uint64_t *records,
                      uint64_t present[64], char *err, size_t errlen)
{
    char path[PATH_MAX + 16];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    *records = 0;
    memset(present, 0, 64 * sizeof *present);
    snprintf(path, sizeof path, "%s/store.db", g->data_dir);
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
                     sqlite3_prepare_v2(db,
                                        "SELECT l.record FROM state s JOIN streams t ON "
                                        "t.id = s.stream JOIN log l ON l.id = "
                                        "(s.stream << 40) + s.seq WHERE t.name = ?1 AND "
                                        "s.deleted = 0",
                                        -1, &st, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    if (rc == 0)
        sqlite3_bind_text(st, 1, stream, -1, SQLITE_STATIC);
    while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
        Lienthong__Record *r = lienthong__record__unpack(NULL, (size_t)sqlite3_column_bytes(st, 0),
                                                         sqlite3_column_blob(st, 0));
        ProtobufCMessage *m =
            r ? protobuf_c_message_unpack(&lienthong__records__population__descriptor, NULL,
                                          r->payload.len, r->payload.data)
              : NULL;
        if (!m) {
            snprintf(err, errlen, "%.600s: a live record of %.200s does not decode", path, stream);
            rc = -1;
        }
        for (unsigned i = 0; m && i < m->descriptor->n_fields; i++) {
            const ProtobufCFieldDescriptor *fd = &m->descriptor->fields[i];
            if (fd->id < 64 && lt_schema_set(m, fd))
                present[fd->id]++;
        }
        (*records)++;
        if (m)
            protobuf_c_message_free_unpacked(m, NULL);
        if (r)
            lienthong__record__free_unpacked(r, NULL);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (rc != 0 && !err[0])
        snprintf(err, errlen, "%.900s: cannot read it", path);
    return rc;
}

/* The status entry of stream in r, or NULL. */
static const Lienthong__StreamStatus *s_stream(const Lienthong__StatusReply *r, const char *stream)
{
    for (size_t i = 0; r && i < r->n_streams; i++)
        if (strcmp(r->streams[i]->stream, stream) == 0)
            return r->streams[i];
    return NULL;
}

/* The figures of stream in g's status and metrics equal the count from its
 * store; `partial` asks that some field be neither always nor never there. */
static int s_check(lt_it_gw_t *g, const char *stream, int partial, char *err, size_t errlen)
{
    uint64_t records, present[64];
    err[0] = '\0';
    if (s_db_count(g, stream, &records, present, err, errlen) != 0)
        return -1;
    Lienthong__Envelope *env = lt_it_gw_status(g, REPLY_MS);
    char *text = lt_it_gw_metrics(g, REPLY_MS);
    const Lienthong__StreamStatus *s =
        env && env->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY
            ? s_stream(env->status_reply, stream)
            : NULL;
    const Lienthong__StreamCompleteness *c = s ? s->completeness : NULL;
    int rc = -1, some = 0;
    char series[512];
    snprintf(series, sizeof series, "lienthong_stream_records{stream=\"%s\"}", stream);
    if (!c || !text)
        snprintf(err, errlen, "%s: no status entry with completeness, or no metrics", stream);
    else if (c->records != records || lt_it_metric(text, series) != (double)records)
        snprintf(err, errlen,
                 "%s: %llu current records in the store, status says %llu, "
                 "metrics %.0f",
                 stream, (unsigned long long)records, (unsigned long long)c->records,
                 lt_it_metric(text, series));
    else
        rc = 0;
    uint64_t seen = 0;
    for (size_t i = 0; rc == 0 && i < c->n_fields; i++) {
        const Lienthong__FieldPresence *f = c->fields[i];
        snprintf(series, sizeof series,
                 "lienthong_stream_field_present{stream=\"%s\",field=\"%s\"}", stream, f->field);
        if (f->number >= 64 || f->present != present[f->number] ||
            lt_it_metric(text, series) != (double)f->present) {
            snprintf(err, errlen,
                     "%s field %s: %llu present in the store, status says %llu, "
                     "metrics %.0f",
                     stream, f->field,
                     (unsigned long long)(f->number < 64 ? present[f->number] : 0),
                     (unsigned long long)f->present, lt_it_metric(text, series));
            rc = -1;
        }
        seen |= 1ULL << f->number;
        some |= f->present > 0 && f->present < records;
    }
    for (unsigned n = 1; rc == 0 && n < 64; n++)
        if (present[n] && !(seen & (1ULL << n))) {
            snprintf(err, errlen, "%s: field %u has values in %llu records but is not reported",
                     stream, n, (unsigned long long)present[n]);
            rc = -1;
        }
    if (rc == 0 && partial && !some) {
        snprintf(err, errlen, "%s: no field is partly present; the test data is wrong", stream);
        rc = -1;
    }
    if (rc == 0 && !lt_it_metrics_parse(text)) {
        snprintf(err, errlen, "the metrics text does not parse");
        rc = -1;
    }
    free(text);
    lt_wire_free(&env);
    return rc;
}

/* changed_at_ms of the record at seq of stream in g's store, 0 if none. */
static int64_t s_changed_at(const lt_it_gw_t *g, const char *stream, uint64_t seq)
{
    uint8_t *rec = NULL;
    size_t len = 0;
    int64_t at = 0;
    if (lt_ft_record(g, stream, seq, &rec, &len) != 1)
        return 0;
    Lienthong__Record *r = lienthong__record__unpack(NULL, len, rec);
    if (r)
        at = r->changed_at_ms;
    lienthong__record__free_unpacked(r, NULL);
    free(rec);
    return at;
}

/* The owner's line for member on DS in a fresh status (free *env). */
static const Lienthong__SubscriberStatus *s_sub(lt_it_gw_t *g, const char *member,
                                                Lienthong__Envelope **env)
{
    *env = lt_it_gw_status(g, REPLY_MS);
    const Lienthong__StreamStatus *s =
        *env && (*env)->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY
            ? s_stream((*env)->status_reply, DS)
            : NULL;
    const Lienthong__SubscriberStatus *line = NULL;
    /* A live line wins over the line of an ended subscription. */
    for (size_t j = 0; s && j < s->n_subscribers; j++)
        if (strcmp(s->subscribers[j]->member, member) == 0 &&
            (!line || !s->subscribers[j]->disconnected))
            line = s->subscribers[j];
    return line;
}

/* The value of one series of g's metrics (-1 when absent). */
static double s_metric_of(lt_it_gw_t *g, const char *series)
{
    char *text = lt_it_gw_metrics(g, REPLY_MS);
    double v = text ? lt_it_metric(text, series) : -1;
    free(text);
    return v;
}

#define AGE_SERIES "lienthong_stream_newest_change_age_seconds{stream=\"" DS "\"}"
#define LAG_SERIES "lienthong_subscriber_lag{stream=\"" DS "\",subscriber=\"" ID_BHXH "\"}"
#define LAG_TIME_SERIES                                                                            \
    "lienthong_subscriber_lag_time_seconds{stream=\"" DS "\",subscriber=\"" ID_BHXH "\"}"

static void test_quality(void)
{
    fed_t x;
    char err[1024] = "", out[PATH_MAX];
    Lienthong__Envelope *env = NULL;
    unsigned failures0 = CU_get_number_of_failures();
    memset(&x, 0, sizeof x);
    LT_IT_REQUIRE(lt_it_fed_init(&x.f, FED) == 0);
    LT_IT_REQUIRE(lt_ft_model_init(&x.m, CITIZENS, 79100000000ULL) == 0);
    x.f.extra_source = s_source;
    LT_IT_REQUIRE((x.owner = lt_it_member_add(&x.f, ID_OWNER, 1)) != NULL);
    LT_IT_REQUIRE((x.bhxh = lt_it_member_add(&x.f, ID_BHXH, 1)) != NULL);
    LT_IT_REQUIRE((x.byt = lt_it_member_add(&x.f, ID_BYT, 1)) != NULL);
    static const char *peers[] = {ID_OWNER, NULL};
    /* A short log: a late consumer starts from a snapshot (PROTOCOL.md 6.7). */
    lt_it_gw_t *owner = lt_it_gw_new(&x.f, x.owner, 1, NULL, "retain_records = 50;");
    lt_it_gw_t *cons =
        lt_it_gw_new(&x.f, x.bhxh, 1, peers, "subscribe = ( { stream = \"" DS "\"; } );");
    LT_IT_REQUIRE(owner && cons);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(cons, READY_MS) == 0);

    /* Records with some fields left empty: exact in dataset, view, replica. */
    LT_IT_REQUIRE(s_publish(owner, &x, 0, 300, 0, 0) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    CHECK(s_check(owner, DS, 1, err, sizeof err));
    CHECK(s_check(owner, V79, 1, err, sizeof err));
    CHECK(s_check(cons, DS, 1, err, sizeof err));

    /* Updates that fill and empty fields, and deletes. */
    LT_IT_REQUIRE(s_publish(owner, &x, 0, 150, 1, 0) == 0);
    LT_IT_REQUIRE(s_publish(owner, &x, 100, 260, 3, 4) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    CHECK(s_check(owner, DS, 1, err, sizeof err));
    CHECK(s_check(owner, V79, 1, err, sizeof err));
    CHECK(s_check(cons, DS, 1, err, sizeof err));

    /* A consumer that starts once the log is pruned gets a snapshot, staged
     * and swapped in: its counts come with it. */
    int pruned = 0;
    for (int64_t end = lt_it_ms() + CONVERGE_MS; !pruned && lt_it_ms() < end; usleep(100 * 1000)) {
        Lienthong__Envelope *e = lt_it_gw_status(owner, REPLY_MS);
        const Lienthong__StreamStatus *ds = e ? s_stream(e->status_reply, DS) : NULL;
        pruned = ds && ds->retained_first > 1;
        lt_wire_free(&e);
    }
    LT_IT_REQUIRE(pruned);
    lt_it_gw_t *late =
        lt_it_gw_new(&x.f, x.byt, 1, peers, "subscribe = ( { stream = \"" DS "\"; } );");
    LT_IT_REQUIRE(late && lt_it_gw_run(late, READY_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, late, DS, CONVERGE_MS) == 0);
    CU_ASSERT(lt_it_log_has(late, 0, "snapshot", NULL));
    CHECK(s_check(late, DS, 1, err, sizeof err));
    LT_IT_REQUIRE(lt_it_gw_stop(late, STOP_MS) == 0);

    /* The counts are the store's: a restart keeps them exact. */
    LT_IT_REQUIRE(lt_it_gw_stop(owner, STOP_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    CHECK(s_check(owner, DS, 1, err, sizeof err));
    CHECK(s_check(owner, V79, 1, err, sizeof err));

    /* While idle the newest change keeps its time and grows older. */
    uint64_t last = lt_ft_last_seq(owner, DS);
    int64_t newest = s_changed_at(owner, DS, last);
    double age1 = s_metric_of(owner, AGE_SERIES);
    usleep(1200 * 1000);
    double age2 = s_metric_of(owner, AGE_SERIES);
    fprintf(stderr, "[newest change age %.3f s, then %.3f s] ", age1, age2);
    CU_ASSERT(newest > 0 && age1 > 0 && age2 > age1);
    LT_IT_REQUIRE((env = lt_it_gw_status(owner, REPLY_MS)) != NULL);
    const Lienthong__StreamStatus *s = s_stream(env->status_reply, DS);
    CU_ASSERT(s && s->newest_change_ms == newest);
    lt_wire_free(&env);

    /* A stopped consumer: its lag in records and seconds grows. First its
     * feed is back on the restarted owner. */
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    int live = 0;
    for (int64_t end = lt_it_ms() + CONVERGE_MS; !live && lt_it_ms() < end; usleep(100 * 1000)) {
        const Lienthong__SubscriberStatus *l = s_sub(owner, ID_BHXH, &env);
        live = l && !l->disconnected;
        lt_wire_free(&env);
    }
    LT_IT_REQUIRE(live);
    LT_IT_REQUIRE(lt_it_gw_stop(cons, STOP_MS) == 0);
    int64_t t0 = (int64_t)time(NULL) * 1000;
    LT_IT_REQUIRE(s_publish(owner, &x, 300, 340, 0, 0) == 0);
    uint64_t behind = lt_ft_last_seq(owner, DS) - lt_ft_last_seq(cons, DS);
    const Lienthong__SubscriberStatus *sub = s_sub(owner, ID_BHXH, &env);
    if (sub)
        fprintf(stderr, "[%llu behind; line: cursor %llu lag %llu, %.3f s, %s] ",
                (unsigned long long)behind, (unsigned long long)sub->cursor,
                (unsigned long long)sub->lag, sub->lag_seconds,
                sub->disconnected ? "disconnected" : "live");
    CU_ASSERT(behind == 40 && sub && sub->lag == behind && sub->lag_seconds >= 0);
    double lag1 = sub ? sub->lag_seconds : -1;
    lt_wire_free(&env);
    usleep(1200 * 1000);
    sub = s_sub(owner, ID_BHXH, &env);
    int64_t t1 = (int64_t)time(NULL) * 1000;
    fprintf(stderr, "[stopped consumer %.3f s behind, then %.3f s] ", lag1,
            sub ? sub->lag_seconds : -1);
    CU_ASSERT(sub && sub->lag == behind && sub->lag_seconds > lag1 &&
              sub->lag_seconds <= (double)(t1 - t0) / 1000.0 + 2.0);
    lt_wire_free(&env);
    CU_ASSERT(s_metric_of(owner, LAG_SERIES) == (double)behind);
    CU_ASSERT(s_metric_of(owner, LAG_TIME_SERIES) > lag1);
    snprintf(out, sizeof out, "%.4000s/status.out", x.f.dir);
    const char *args[] = {"status", "--config", owner->conf_path, NULL};
    CU_ASSERT_EQUAL(lt_it_run_cli(x.f.dir, out, args, 10000), 0);
    CU_ASSERT(lt_it_file_contains(out, "field full_name"));
    CU_ASSERT(lt_it_file_contains(out, "newest change"));
    CU_ASSERT(lt_it_file_contains(out, "lag 40 ("));

    /* The owner restarts while the consumer is down: the line is in the
     * owner's store (schema step 12), so status and the statistics still
     * show it, and its lag grows as the owner publishes. Killed, not
     * stopped: the line written while it ran is what is read back (the
     * subscription's end is written at once, its cursor within
     * LT_FEED_LINES_MS). */
    usleep(6000 * 1000);
    lt_it_gw_kill(owner);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    sub = s_sub(owner, ID_BHXH, &env);
    if (sub)
        fprintf(stderr, "[after the owner's restart: cursor %llu lag %llu, %.3f s, %s: %s] ",
                (unsigned long long)sub->cursor, (unsigned long long)sub->lag, sub->lag_seconds,
                sub->disconnected ? "disconnected" : "live", sub->reason ? sub->reason : "");
    CU_ASSERT(sub && sub->disconnected && sub->lag == behind &&
              sub->cursor == lt_ft_last_seq(cons, DS) && sub->disconnected_since_ms >= t0 - 60000 &&
              sub->disconnected_since_ms <= (int64_t)time(NULL) * 1000);
    double lag2 = sub ? sub->lag_seconds : -1;
    lt_wire_free(&env);
    CU_ASSERT(lag2 > lag1);
    CU_ASSERT(s_metric_of(owner, LAG_SERIES) == (double)behind);
    LT_IT_REQUIRE(s_publish(owner, &x, 340, 350, 0, 0) == 0);
    behind += 10;
    sub = s_sub(owner, ID_BHXH, &env);
    CU_ASSERT(sub && sub->disconnected && sub->lag == behind && sub->lag_seconds >= lag2);
    lt_wire_free(&env);
    CU_ASSERT(s_metric_of(owner, LAG_SERIES) == (double)behind);
    CU_ASSERT(s_metric_of(owner, LAG_TIME_SERIES) >= lag2);
    CU_ASSERT_EQUAL(lt_it_run_cli(x.f.dir, out, args, 10000), 0);
    CU_ASSERT(lt_it_file_contains(out, "lag 50 ("));
    CU_ASSERT(lt_it_file_contains(out, "DISCONNECTED since"));
    /* A clean stop and start keeps it too. */
    LT_IT_REQUIRE(lt_it_gw_stop(owner, STOP_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(owner, READY_MS) == 0);
    CU_ASSERT(s_metric_of(owner, LAG_SERIES) == (double)behind);

    /* Back and caught up: 0 in records and seconds. */
    LT_IT_REQUIRE(lt_it_gw_run(cons, READY_MS) == 0);
    LT_IT_REQUIRE(lt_ft_wait_same(owner, cons, DS, CONVERGE_MS) == 0);
    int caught = 0;
    for (int64_t end = lt_it_ms() + CONVERGE_MS; !caught && lt_it_ms() < end; usleep(100 * 1000)) {
        sub = s_sub(owner, ID_BHXH, &env);
        caught = sub && !sub->disconnected && sub->lag == 0 && sub->lag_seconds == 0.0;
        lt_wire_free(&env);
    }
    CU_ASSERT(caught);
    CU_ASSERT(s_metric_of(owner, LAG_SERIES) == 0);
    CU_ASSERT(s_metric_of(owner, LAG_TIME_SERIES) == 0);
    CHECK(s_check(cons, DS, 1, err, sizeof err));

    for (size_t i = 0; i < x.f.n_gateways; i++) {
        lt_it_gw_t *g = &x.f.gateways[i];
        if (g->pid > 0)
            CU_ASSERT_EQUAL(lt_it_gw_stop(g, STOP_MS), 0);
        CU_ASSERT(!lt_it_file_contains(g->log_path, "Sanitizer"));
        CU_ASSERT(!lt_it_file_contains(g->log_path, "runtime error:"));
    }
    if (CU_get_number_of_failures() != failures0)
        for (size_t i = 0; i < x.f.n_gateways; i++)
            lt_it_log_dump(&x.f.gateways[i]);
out:
    lt_wire_free(&env);
    lt_ft_model_free(&x.m);
    lt_it_fed_cleanup(&x.f);
}

static void s_teardown(void)
{
    lt_it_cleanup_all();
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"completeness and liveness of streams in status and metrics", test_quality},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"quality", NULL, NULL, NULL, s_teardown, tests};
    return lt_it_main(argc, argv, &suite);
}

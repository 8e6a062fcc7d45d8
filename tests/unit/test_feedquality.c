/* test_feedquality: CUnit suite for gateway/lt_feed_quality and the
 * owner's status lines (PROTOCOL.md 8.3, 8.9) where a view is rebuilt
 * (6.9) or a record cannot be read: the newest change of a view numbered
 * in key order, the lag of subscriptions that ended before its history
 * was replaced, and the lag in seconds of a consumer whose next record is
 * damaged. test_feed.c covers the feed itself. */
#include "unit_gw.h"
#include "lt_clock.h"
#include "lt_feed.h"
#include "lt_feed_int.h"
#include "unit_sqlite.h"

#include <sqlite3.h>
#include <unistd.h>

static ug_t g;
static lt_feed_t *g_feed;

#define OD_V    OD_POP ".v"
#define V_ENTRY ",\n  { id = \"" OD_V "\"; dataset = \"" OD_POP "\"; "
#define V_POLICY                                                                                   \
    ",\n  { consumer = \"" UG_CALLER "\"; target = \"" OD_V "\"; allow = [\"subscribe\"]; }"

/* Unix ms just before "100" was published, after "900" was. */
static int64_t g_before_100;

/* "900" first, then, later, "100" to "104": in key order the view's last
 * record is the oldest change. */
static int suite_init(void)
{
    if (ug_open(&g, "feedq") != 0 || !(g_feed = lt_feed_new(&g.ctx)) ||
        ug_publish(&g, "900", "Z", lt_feed_advanced, g_feed) != 0)
        return -1;
    usleep(50 * 1000);
    g_before_100 = lt_clock_now_ms();
    const char *keys[] = {"100", "101", "102", "103", "104"};
    for (size_t i = 0; i < 5; i++)
        if (ug_publish(&g, keys[i], i == 2 ? "Le Van C" : "An", lt_feed_advanced, g_feed) != 0)
            return -1;
    return 0;
}

static int suite_clean(void)
{
    lt_feed_destroy(&g_feed);
    ug_close(&g);
    return 0;
}

static lt_dir_t *s_view_dir(const char *entry)
{
    char err[1024];
    lt_dir_t *d = od_directory_policies(g.tmp, entry, "", V_POLICY, err, sizeof err);
    if (!d)
        fprintf(stderr, "directory: %s\n", err);
    return d;
}

/* Adopts d in place of the directory in use (destroyed). */
static void s_adopt(lt_dir_t *d)
{
    CU_ASSERT_FATAL(d != NULL);
    lt_dir_destroy(&g.ctx.dir);
    g.ctx.dir = d;
    lt_feed_dir_changed(g_feed, g.router);
}

static void s_drain(void)
{
    Lienthong__Envelope *env;
    while ((env = ug_recv(&g)) != NULL)
        lt_wire_free(&env);
}

static void s_send(Lienthong__Envelope__BodyCase c, const void *body)
{
    lt_wire_in_t in;
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_FATAL(ug_send(&g, c, body, &in, &env) == 0);
    if (c == LIENTHONG__ENVELOPE__BODY_SUBSCRIBE)
        lt_feed_on_subscribe(g_feed, g.router, &in, env->subscribe);
    else
        lt_feed_on_unsubscribe(g_feed, g.router, &in, env->unsubscribe);
    lt_wire_free(&env);
    lt_wire_in_close(&in);
}

/* Subscribes to stream from seq 1 (no cursor) with credit. */
static void s_subscribe(const char *stream, uint32_t credit)
{
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = (char *)stream;
    m.from_seq = 1;
    m.credit = credit;
    s_send(LIENTHONG__ENVELOPE__BODY_SUBSCRIBE, &m);
}

static void s_unsubscribe(const char *stream)
{
    Lienthong__Unsubscribe m = LIENTHONG__UNSUBSCRIBE__INIT;
    m.stream = (char *)stream;
    s_send(LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE, &m);
}

/* A copy of what status says of stream and of UG_CALLER's line on it. */
typedef struct {
    uint64_t last_seq;
    int64_t newest_ms;
    int has_line;
    Lienthong__SubscriberStatus line;
    char reason[160];
} s_status_t;

static s_status_t s_status(const char *stream)
{
    s_status_t out;
    memset(&out, 0, sizeof out);
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    lt_feed_status(g_feed, &r);
    for (size_t i = 0; i < r.n_streams; i++) {
        const Lienthong__StreamStatus *s = r.streams[i];
        if (strcmp(s->stream, stream) != 0)
            continue;
        out.last_seq = s->last_seq;
        out.newest_ms = s->newest_change_ms;
        for (size_t j = 0; j < s->n_subscribers; j++)
            if (strcmp(s->subscribers[j]->member, UG_CALLER) == 0) {
                out.has_line = 1;
                out.line = *s->subscribers[j];
                snprintf(out.reason, sizeof out.reason, "%s", s->subscribers[j]->reason);
            }
    }
    lt_feed_status_free(&r);
    out.line.member = out.line.reason = NULL; /* freed with the reply */
    return out;
}

/* The value of the series of family name (registered name) for stream and,
 * when set, UG_CALLER, as a double; NAN when there is none. */
typedef struct {
    const char *name, *stream;
    int sub;
    double value;
} s_find_t;

static int s_visit(void *arg, const lt_stats_def_t *def, const lt_stats_sample_t *s)
{
    s_find_t *f = arg;
    if (strcmp(def->name, f->name) != 0 || strcmp(s->values[0], f->stream) != 0 ||
        (f->sub && strcmp(s->values[1], UG_CALLER) != 0))
        return 0;
    f->value = def->kind == LT_STATS_GAUGE_DOUBLE ? s->gauge_double : (double)s->gauge;
    return 1;
}

static double s_metric(const char *name, const char *stream, int sub)
{
    lt_feed_quality_refresh(g_feed);
    s_find_t f = {.name = name, .stream = stream, .sub = sub, .value = NAN};
    lt_stats_visitor_t v = {.family = ug_family_any, .series = s_visit};
    (void)lt_stats_visit(g.ctx.stats, &v, &f);
    return f.value;
}

/* PROTOCOL.md 8.9: a view rebuilt from its dataset is numbered in key
 * order; its newest change is that of "100".."104", published after its
 * last record "900", and stays so once the gateway restarts. */
static void test_rebuilt_newest(void)
{
    s_adopt(s_view_dir(V_ENTRY "fields = [\"full_name\", \"date_of_birth\"]; }"));
    s_status_t st = s_status(OD_V);
    CU_ASSERT_EQUAL(st.last_seq, 6);
    CU_ASSERT(st.newest_ms >= g_before_100);
    CU_ASSERT(s_metric("lienthong_stream_newest_change_age", OD_V, 0) <
              s_metric("lienthong_stream_newest_change_age", OD_POP, 0) + 0.04);

    /* Narrowed: rebuilt on a new history, after the stream held records. */
    s_adopt(s_view_dir(V_ENTRY "fields = [\"full_name\"]; }"));
    st = s_status(OD_V);
    CU_ASSERT_EQUAL(st.last_seq, 6);
    CU_ASSERT(st.newest_ms >= g_before_100);

    lt_feed_destroy(&g_feed); /* a restart */
    g_feed = lt_feed_new(&g.ctx);
    CU_ASSERT_FATAL(g_feed != NULL);
    CU_ASSERT(s_status(OD_V).newest_ms >= g_before_100);

    /* A record published later is the newest again. */
    int64_t before = lt_clock_now_ms();
    CU_ASSERT_FATAL(ug_publish(&g, "050", "An", lt_feed_advanced, g_feed) == 0);
    st = s_status(OD_V);
    CU_ASSERT_EQUAL(st.last_seq, 7);
    CU_ASSERT(st.newest_ms >= before);
}

/* PROTOCOL.md 8.3, 6.9: an ended subscription's cursor counts on the
 * numbering of the history it followed. Once the view is rebuilt on
 * fewer records, its line has cursor 0 and lacks the whole new log,
 * never a wrapped count; so does the line of a subscription the rebuild
 * ended itself. */
static void test_rebuilt_lines(void)
{
    s_subscribe(OD_V, 100);
    CU_ASSERT(lt_feed_pump(g_feed, g.router, NULL) >= 1);
    s_status_t st = s_status(OD_V);
    CU_ASSERT(st.has_line && st.line.cursor == 7 && st.line.lag == 0);
    s_unsubscribe(OD_V);
    s_drain();

    /* Only Le Van C's record: 1 record where the consumer was at 7. */
    s_adopt(s_view_dir(V_ENTRY "fields = [\"full_name\"]; "
                               "where = { full_name = \"Le Van C\"; }; }"));
    s_drain();
    st = s_status(OD_V);
    CU_ASSERT_EQUAL(st.last_seq, 1);
    CU_ASSERT_FATAL(st.has_line);
    CU_ASSERT(st.line.disconnected);
    CU_ASSERT_EQUAL(st.line.cursor, 0);
    CU_ASSERT_EQUAL(st.line.lag, 1);
    CU_ASSERT(st.line.lag_seconds >= 0);
    CU_ASSERT_STRING_EQUAL(st.reason, "unsubscribed; history replaced since");
    CU_ASSERT_EQUAL(s_metric("lienthong_subscriber_lag", OD_V, 1), 1);
    CU_ASSERT_EQUAL(s_metric("lienthong_subscriber_cursor", OD_V, 1), 0);

    /* Caught up on the new history, then the rebuild ends it. */
    s_subscribe(OD_V, 100);
    CU_ASSERT(lt_feed_pump(g_feed, g.router, NULL) >= 1);
    CU_ASSERT_EQUAL(s_status(OD_V).line.cursor, 1);
    s_adopt(s_view_dir(V_ENTRY "fields = [\"full_name\"]; }"));
    s_drain();
    st = s_status(OD_V);
    CU_ASSERT_EQUAL(st.last_seq, 7);
    CU_ASSERT(st.has_line && st.line.disconnected);
    CU_ASSERT_EQUAL(st.line.cursor, 0);
    CU_ASSERT_EQUAL(st.line.lag, 7);
    CU_ASSERT(strstr(st.reason, "rebuilt") && !strstr(st.reason, "since"));
    CU_ASSERT_EQUAL(s_metric("lienthong_subscriber_lag", OD_V, 1), 7);
}

/* Deletes the log rows of stream from seq to to (a damaged store). */
static void s_damage(const char *stream, uint64_t from, uint64_t to)
{
    lt_stream_t row;
    CU_ASSERT_FATAL(lt_store_stream_find(g.ctx.store, stream, &row) == 1);
    char path[300], sql[200];
    snprintf(path, sizeof path, "%s/store.db", g.tmp);
    snprintf(sql, sizeof sql, "DELETE FROM log WHERE id BETWEEN %lld AND %lld",
             (long long)(((uint64_t)row.id << LT_STORE_SEQ_BITS) | from),
             (long long)(((uint64_t)row.id << LT_STORE_SEQ_BITS) | to));
    sqlite3 *db = NULL;
    CU_ASSERT_FATAL(sqlite3_open(path, &db) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    CU_ASSERT_FATAL(sqlite3_changes(db) == (int)(to - from + 1));
    sqlite3_close(db);
}

/* 8.9: 0 says caught up. A consumer whose next record cannot be read
 * gets the age of the next one that can; with none, an unknown lag
 * (negative), never 0. Last: the store stays damaged. */
static void test_lag_unreadable(void)
{
    uint64_t last = s_status(OD_POP).last_seq;
    CU_ASSERT_FATAL(last == 7);
    s_subscribe(OD_POP, 1); /* record 1 sent, then no credit */
    CU_ASSERT(lt_feed_pump(g_feed, g.router, NULL) == 1);
    s_drain();
    s_status_t st = s_status(OD_POP);
    CU_ASSERT_FATAL(st.has_line && st.line.cursor == 1);
    double whole = st.line.lag_seconds;
    CU_ASSERT(whole > 0);
    s_damage(OD_POP, 2, 2); /* "100" */
    st = s_status(OD_POP);
    CU_ASSERT(st.line.lag_seconds > 0 && st.line.lag_seconds < whole + 5);
    CU_ASSERT(s_metric("lienthong_subscriber_lag_time", OD_POP, 1) > 0);
    s_damage(OD_POP, 3, last);
    st = s_status(OD_POP);
    CU_ASSERT_EQUAL(st.line.lag, last - 1);
    CU_ASSERT(st.line.lag_seconds < 0);
    CU_ASSERT(s_metric("lienthong_subscriber_lag_time", OD_POP, 1) < 0);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a rebuilt view's newest change is its newest record's, not its last's",
         test_rebuilt_newest},
        {"ended lines of a rebuilt view: cursor 0, the whole new log behind, never wrapped",
         test_rebuilt_lines},
        {"a lag in seconds past an unreadable record: the next readable one's, else unknown",
         test_lag_unreadable},
        {NULL, NULL},
    };
    return ut_main("lt_feed_quality", suite_init, suite_clean, tests);
}

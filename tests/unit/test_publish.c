/* test_publish: CUnit suite for gateway/lt_publish, the owner's write path
 * (PROTOCOL.md 6.1 and 8.1), on a real store in a temporary directory:
 * a group of Publish messages commits log, state and views in one
 * transaction (or nothing, each Publish refused, when the store fails
 * part way or at the commit); view records keep the view's fields, a key
 * that leaves a view becomes one tombstone there, and a change that
 * leaves a view's fields as they were writes nothing there; durable
 * source cursors make resends no-ops; refused and too-large publishes
 * store nothing; reopening the store continues every stream where it was;
 * refusals by rules logged in summary, their last counts at shutdown. */
#include "unit_util.h"
#include "lt_clock.h"

#include "lt_dir.h"
#include "lt_file.h"
#include "lt_gwctx.h"
#include "lt_gwstats.h"
#include "lt_log.h"
#include "lt_publish.h"
#include "lt_stats.h"
#include "lt_store.h"
#include "lt_viewset.h"
#include "lt_wire.h"
#include "owner_directory.h"
#include "records/population.pb-c.h"
#include "records/subscriber.pb-c.h"

#include <fcntl.h>
#include <sodium.h>
#include <sqlite3.h>
#include <zmq.h>

#define OWNER   OD_OWNER
#define POP     OD_POP
#define P38     OD_P38
#define ALIVE38 OD_ALIVE38
#define PHONES  OD_PHONES
#define ACTIVE  OD_ACTIVE
#define FOREIGN OD_FOREIGN

#define ALIVE LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE
#define DEAD  LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_DECEASED

/* More population views for the view index: p01, p79 and p38b test the
 * field p38 tests (p38b with p38's value), so the index finds them by
 * value; all (no predicate) and dead (another field) are tested one by
 * one. */
#define V01   OD_POP ".p01"
#define V79   OD_POP ".p79"
#define V38B  OD_POP ".p38b"
#define VALL  OD_POP ".all"
#define VDEAD OD_POP ".dead"
#define MORE_VIEW(id, where)                                                                       \
    ",\n  { id = \"" id "\"; dataset = \"" OD_POP "\"; fields = [\"full_name\"];" where " }"
static const char g_more_views[] = MORE_VIEW(V01, " where = { current_province = \"01\"; };")
    MORE_VIEW(V79, " where = { current_province = \"79\"; };")
        MORE_VIEW(V38B, " where = { current_province = \"38\"; };") MORE_VIEW(VALL, "")
            MORE_VIEW(VDEAD, " where = { status = \"CITIZEN_DECEASED\"; };");

static char g_tmp[256], g_path[300];
static lt_dir_t *g_dir, *g_dir_more, *g_dir_rules, *g_pub_dir;
static lt_store_t *g_store;

static int suite_init(void)
{
    if (sodium_init() < 0 || ut_mkdtemp(g_tmp, sizeof g_tmp, "publish") != 0)
        return -1;
    snprintf(g_path, sizeof g_path, "%s/store.db", g_tmp);
    lt_log_set_level(LT_LOG_ERROR);
    char err[1024] = "";
    if (!(g_dir = od_directory(g_tmp, err, sizeof err)) ||
        !(g_dir_more = od_directory_views(g_tmp, g_more_views, err, sizeof err)) ||
        !(g_dir_rules = od_directory_rules(g_tmp, "",
                                           "rules = ( { field = \"personal_id\"; check = "
                                           "\"citizen_id\"; }, { field = \"full_name\"; "
                                           "check = \"required\"; } );",
                                           err, sizeof err)))
        fprintf(stderr, "test_publish: directory: %s\n", err);
    return g_dir && g_dir_more && g_dir_rules ? 0 : -1;
}

static int suite_clean(void)
{
    lt_store_destroy(&g_store);
    lt_dir_destroy(&g_dir);
    lt_dir_destroy(&g_dir_more);
    lt_dir_destroy(&g_dir_rules);
    return g_tmp[0] ? ut_rmrf(g_tmp) : 0;
}

static void s_reopen(void)
{
    char err[512] = "";
    lt_store_destroy(&g_store);
    g_store = lt_store_open(g_path, err, sizeof err);
    if (!g_store)
        fprintf(stderr, "\n    store: %s\n", err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_store);
}

/* A new, empty store for each test. */
static void s_fresh(void)
{
    lt_store_destroy(&g_store);
    static const char *const suffix[] = {"", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char p[400];
        snprintf(p, sizeof p, "%s%s", g_path, suffix[i]);
        (void)unlink(p);
    }
    s_reopen();
    g_pub_dir = g_dir;
}

/* ---- building publishes ------------------------------------------------------------------ */

typedef struct {
    Lienthong__Change c;
    uint8_t payload[2048];
    char key[64], cursor[24];
} change_t;

/* A Population change; name may be NULL for a default. */
static void s_citizen(change_t *ch, const char *id, const char *province, int status,
                      const char *name, const char *cursor)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    snprintf(ch->key, sizeof ch->key, "%s", id);
    p.personal_id = ch->key;
    p.full_name = (char *)(name ? name : "Nguy\xe1\xbb\x85n V\xc4\x83n An");
    p.date_of_birth = "1980-02-29";
    p.current_province = (char *)province;
    p.status = (Lienthong__Records__CitizenStatus)status;
    lienthong__change__init(&ch->c);
    ch->c.key = ch->key;
    ch->c.payload.len = lienthong__records__population__get_packed_size(&p);
    CU_ASSERT_FATAL(ch->c.payload.len <= sizeof ch->payload);
    ch->c.payload.data = ch->payload;
    lienthong__records__population__pack(&p, ch->payload);
    snprintf(ch->cursor, sizeof ch->cursor, "%s", cursor ? cursor : "");
    ch->c.source_cursor = ch->cursor;
}

static void s_tombstone(change_t *ch, const char *id, const char *cursor)
{
    lienthong__change__init(&ch->c);
    snprintf(ch->key, sizeof ch->key, "%s", id);
    snprintf(ch->cursor, sizeof ch->cursor, "%s", cursor ? cursor : "");
    ch->c.key = ch->key;
    ch->c.deleted = 1;
    ch->c.source_cursor = ch->cursor;
}

static void s_phone(change_t *ch, const char *number, const char *cursor)
{
    Lienthong__Records__Subscriber s = LIENTHONG__RECORDS__SUBSCRIBER__INIT;
    snprintf(ch->key, sizeof ch->key, "%s", number);
    s.phone_number = ch->key;
    s.owner_personal_id = "001080000001";
    s.status = LIENTHONG__RECORDS__SUBSCRIBER_STATUS__SUBSCRIBER_ACTIVE;
    lienthong__change__init(&ch->c);
    ch->c.key = ch->key;
    ch->c.payload.data = ch->payload;
    ch->c.payload.len = lienthong__records__subscriber__pack(&s, ch->payload);
    snprintf(ch->cursor, sizeof ch->cursor, "%s", cursor ? cursor : "");
    ch->c.source_cursor = ch->cursor;
}

/* A Publish of dataset over chs[0..n); ptrs must hold n pointers. */
static Lienthong__Publish s_pub(const char *dataset, change_t *chs, size_t n,
                                Lienthong__Change **ptrs)
{
    Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &chs[i].c;
    p.request_id = 1;
    p.dataset = (char *)dataset;
    p.changes = ptrs;
    p.n_changes = n;
    return p;
}

/* What the advanced callback saw; checked against a second connection. */
typedef struct {
    char stream[8][80];
    uint64_t last[8];
    int n;
    lt_store_t *other;
} advanced_t;

static advanced_t g_adv;

static void s_on_advanced(void *arg, const char *stream, uint64_t last_seq, uint64_t appended,
                          lt_fresh_run_t **fresh)
{
    (void)appended, (void)fresh;
    advanced_t *a = arg;
    CU_ASSERT_FATAL(a->n < 8);
    snprintf(a->stream[a->n], sizeof a->stream[0], "%s", stream);
    a->last[a->n++] = last_seq;
    /* Called after the commit: another connection already sees it. */
    lt_stream_t st;
    if (a->other) {
        CU_ASSERT_EQUAL(lt_store_stream_find(a->other, stream, &st), 1);
        CU_ASSERT_EQUAL(st.last_seq, last_seq);
    }
}

/* Last seq the callback reported for stream, or 0 if it did not. */
static uint64_t s_adv(const char *stream)
{
    for (int i = 0; i < g_adv.n; i++)
        if (strcmp(g_adv.stream[i], stream) == 0)
            return g_adv.last[i];
    return 0;
}

static int s_apply_max(Lienthong__Publish *const *pubs, size_t n, size_t max_record,
                       lt_publish_result_t *res)
{
    lt_store_t *other = g_adv.other;
    memset(&g_adv, 0, sizeof g_adv);
    g_adv.other = other;
    memset(res, 0, n * sizeof *res);
    return lt_publish_apply(g_store, g_pub_dir, OWNER, pubs, n, max_record, res, s_on_advanced,
                            &g_adv);
}

static int s_apply(Lienthong__Publish *const *pubs, size_t n, lt_publish_result_t *res)
{
    return s_apply_max(pubs, n, LT_PUBLISH_MAX_RECORD, res);
}

/* One Publish of dataset; asserts it is acknowledged. */
static lt_publish_result_t s_publish_ok(const char *dataset, change_t *chs, size_t n)
{
    Lienthong__Change *ptrs[16];
    CU_ASSERT_FATAL(n <= 16);
    Lienthong__Publish p = s_pub(dataset, chs, n, ptrs), *pp = &p;
    lt_publish_result_t res;
    CU_ASSERT_EQUAL(s_apply(&pp, 1, &res), 0);
    CU_ASSERT_EQUAL(res.code, LIENTHONG__ERROR_CODE__ERR_NONE);
    return res;
}

/* ---- reading the store back -------------------------------------------------------------- */

static uint64_t s_last_seq(const char *stream)
{
    lt_stream_t st;
    int rc = lt_store_stream_find(g_store, stream, &st);
    CU_ASSERT(rc >= 0);
    return rc == 1 ? st.last_seq : 0;
}

static uint64_t s_cursor_of(const char *stream)
{
    lt_stream_t st;
    return lt_store_stream_find(g_store, stream, &st) == 1 ? st.source_cursor : 0;
}

/* The logged record at seq of stream, or NULL. */
static Lienthong__Record *s_record(const char *stream, uint64_t seq)
{
    lt_stream_t st;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (lt_store_stream_find(g_store, stream, &st) != 1 ||
        lt_store_get(g_store, st.id, seq, &bytes, &len) != 1)
        return NULL;
    Lienthong__Record *r = lienthong__record__unpack(NULL, len, bytes);
    free(bytes);
    CU_ASSERT_PTR_NOT_NULL(r);
    return r;
}

/* State of key in stream: 1 live, 0 tombstone, -1 absent; *seq filled. */
static int s_state(const char *stream, const char *key, uint64_t *seq)
{
    lt_stream_t st;
    int deleted = 0;
    *seq = 0;
    if (lt_store_stream_find(g_store, stream, &st) != 1)
        return -1;
    int rc = lt_store_state_get(g_store, st.id, key, seq, &deleted);
    CU_ASSERT(rc >= 0);
    return rc == 1 ? !deleted : -1;
}

/* Asserts that the record at seq of stream is key, live or not, and
 * (for a live dataset record) holds exactly payload. */
static void s_expect_record(const char *stream, uint64_t seq, const char *key, int deleted,
                            const ProtobufCBinaryData *payload)
{
    Lienthong__Record *r = s_record(stream, seq);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(r->seq, seq);
    CU_ASSERT_STRING_EQUAL(r->key, key);
    CU_ASSERT_EQUAL(r->deleted, deleted);
    if (deleted)
        CU_ASSERT_EQUAL(r->payload.len, 0);
    if (payload)
        CU_ASSERT(r->payload.len == payload->len &&
                  memcmp(r->payload.data, payload->data, payload->len) == 0);
    lienthong__record__free_unpacked(r, NULL);
}

/* The Population in the view record at seq of stream (caller frees). */
static Lienthong__Records__Population *s_view_citizen(const char *stream, uint64_t seq)
{
    Lienthong__Record *r = s_record(stream, seq);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    Lienthong__Records__Population *p =
        lienthong__records__population__unpack(NULL, r->payload.len, r->payload.data);
    lienthong__record__free_unpacked(r, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    return p;
}

/* ---- tests ------------------------------------------------------------------------------- */

static void test_group_writes_log_state_views(void)
{
    s_fresh();
    change_t ch[3];
    s_citizen(&ch[0], "038090000001", "38", ALIVE, NULL, NULL);
    s_citizen(&ch[1], "001080000002", "01", ALIVE, NULL, NULL);
    s_citizen(&ch[2], "038090000003", "38", DEAD, "L\xc3\xaa Th\xe1\xbb\x8b Hoa", NULL);
    char err[512] = "";
    g_adv.other = lt_store_open(g_path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_adv.other);
    int64_t before = lt_clock_now_ms();
    lt_publish_result_t res = s_publish_ok(POP, ch, 3);
    int64_t after = lt_clock_now_ms();
    lt_store_destroy(&g_adv.other);
    CU_ASSERT(res.first_seq == 1 && res.last_seq == 3 && res.source_cursor == 0);

    /* The dataset log holds the exact payloads in order, the state points
     * at them. */
    uint64_t seq;
    for (uint64_t i = 0; i < 3; i++) {
        s_expect_record(POP, i + 1, ch[i].key, 0, &ch[i].c.payload);
        CU_ASSERT_EQUAL(s_state(POP, ch[i].key, &seq), 1);
        CU_ASSERT_EQUAL(seq, i + 1);
        Lienthong__Record *r = s_record(POP, i + 1);
        CU_ASSERT(r && r->changed_at_ms >= before && r->changed_at_ms <= after);
        lienthong__record__free_unpacked(r, NULL);
    }
    CU_ASSERT_EQUAL(s_last_seq(POP), 3);

    /* Views: own sequence numbers, only matching keys, only their fields
     * (and the key field). */
    CU_ASSERT_EQUAL(s_last_seq(P38), 2);
    CU_ASSERT_EQUAL(s_last_seq(ALIVE38), 1);
    s_expect_record(P38, 1, "038090000001", 0, NULL);
    s_expect_record(P38, 2, "038090000003", 0, NULL);
    s_expect_record(ALIVE38, 1, "038090000001", 0, NULL);
    CU_ASSERT_EQUAL(s_state(P38, "001080000002", &seq), -1);
    CU_ASSERT_EQUAL(s_state(ALIVE38, "038090000003", &seq), -1);
    Lienthong__Records__Population *p = s_view_citizen(P38, 2);
    CU_ASSERT_STRING_EQUAL(p->personal_id, "038090000003");
    CU_ASSERT_STRING_EQUAL(p->full_name, "L\xc3\xaa Th\xe1\xbb\x8b Hoa");
    CU_ASSERT_STRING_EQUAL(p->date_of_birth, "");
    CU_ASSERT_STRING_EQUAL(p->current_province, "");
    CU_ASSERT_EQUAL(p->status, 0);
    lienthong__records__population__free_unpacked(p, NULL);

    /* Each advanced stream reported once, with its last seq. */
    CU_ASSERT_EQUAL(g_adv.n, 3);
    CU_ASSERT_EQUAL(s_adv(POP), 3);
    CU_ASSERT_EQUAL(s_adv(P38), 2);
    CU_ASSERT_EQUAL(s_adv(ALIVE38), 1);
}

/* Runs sql on the store file through a connection of its own. */
static void s_sql(const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    CU_ASSERT_EQUAL_FATAL(sqlite3_open(g_path, &db), SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "\n    sql: %s\n", msg ? msg : "?");
    sqlite3_free(msg);
    sqlite3_close(db);
    CU_ASSERT_EQUAL_FATAL(rc, SQLITE_OK);
}

static void test_group_is_one_transaction(void)
{
    s_fresh();
    /* The store fails when the group's last change reaches the state
     * table: everything before it in the group must go too. */
    s_sql("CREATE TRIGGER fail_inject BEFORE INSERT ON state WHEN NEW.key = '038090000009' "
          "BEGIN SELECT RAISE(ABORT, 'injected failure'); END;");
    change_t a[2], b[2], c[1];
    s_citizen(&a[0], "038090000001", "38", ALIVE, NULL, "10");
    s_citizen(&a[1], "038090000002", "38", ALIVE, NULL, "11");
    s_phone(&b[0], "84912345678", "5");
    s_phone(&b[1], "84912345679", "6");
    s_citizen(&c[0], "038090000009", "38", ALIVE, NULL, "12");
    Lienthong__Change *pa[2], *pb[2], *pc[1];
    Lienthong__Publish p[3] = {s_pub(POP, a, 2, pa), s_pub(PHONES, b, 2, pb), s_pub(POP, c, 1, pc)};
    Lienthong__Publish *pp[3] = {&p[0], &p[1], &p[2]};
    lt_publish_result_t res[3];
    CU_ASSERT_EQUAL(s_apply(pp, 3, res), -1);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(res[i].code, LIENTHONG__ERROR_CODE__ERR_INTERNAL);
        CU_ASSERT(res[i].err[0] != 0);
    }
    CU_ASSERT_EQUAL(g_adv.n, 0);
    static const char *const streams[] = {POP, P38, ALIVE38, PHONES, ACTIVE};
    for (int i = 0; i < 5; i++) {
        CU_ASSERT_EQUAL(s_last_seq(streams[i]), 0);
        CU_ASSERT_PTR_NULL(s_record(streams[i], 1));
        CU_ASSERT_EQUAL(s_cursor_of(streams[i]), 0);
    }
    uint64_t seq;
    CU_ASSERT_EQUAL(s_state(POP, "038090000001", &seq), -1);
    CU_ASSERT_EQUAL(s_state(P38, "038090000001", &seq), -1);

    /* Once the store works again the same group goes through with the same
     * sequence numbers: none were used up, no cursor was advanced. */
    s_sql("DROP TRIGGER fail_inject;");
    CU_ASSERT_EQUAL(s_apply(pp, 3, res), 0);
    CU_ASSERT(res[0].code == LIENTHONG__ERROR_CODE__ERR_NONE && res[0].first_seq == 1 &&
              res[0].last_seq == 2 && res[0].source_cursor == 11);
    CU_ASSERT(res[1].code == LIENTHONG__ERROR_CODE__ERR_NONE && res[1].first_seq == 1 &&
              res[1].last_seq == 2 && res[1].source_cursor == 6);
    /* Later publishes of a dataset in the group run on its numbers. */
    CU_ASSERT(res[2].code == LIENTHONG__ERROR_CODE__ERR_NONE && res[2].first_seq == 3 &&
              res[2].last_seq == 3 && res[2].source_cursor == 12);
    CU_ASSERT_EQUAL(s_last_seq(P38), 3);
    CU_ASSERT_EQUAL(s_last_seq(PHONES), 2);
    CU_ASSERT_EQUAL(s_last_seq(ACTIVE), 2);
    CU_ASSERT_EQUAL(g_adv.n, 5);
    CU_ASSERT(s_adv(POP) == 3 && s_adv(P38) == 3 && s_adv(ALIVE38) == 3 && s_adv(PHONES) == 2 &&
              s_adv(ACTIVE) == 2);
}

/* While set, lt_store_commit fails without committing, as a COMMIT that
 * could not be synced (a full disk) does (linked with --wrap, CMakeLists). */
static int g_commit_fail;
int __real_lt_store_commit(lt_store_t *self);
int __wrap_lt_store_commit(lt_store_t *self);
int __wrap_lt_store_commit(lt_store_t *self)
{
    return g_commit_fail ? -1 : __real_lt_store_commit(self);
}

/* A group whose commit fails is refused, each Publish with an error, none
 * acknowledged and no stream reported advanced: nothing of it is durable.
 * Sent again, it takes the same sequence numbers. */
static void test_commit_failure_refused(void)
{
    s_fresh();
    change_t a[2];
    s_citizen(&a[0], "038090000001", "38", ALIVE, NULL, "10");
    s_citizen(&a[1], "038090000002", "38", ALIVE, NULL, "11");
    Lienthong__Change *pa[2];
    Lienthong__Publish p = s_pub(POP, a, 2, pa), *pp = &p;
    lt_publish_result_t res;
    g_commit_fail = 1;
    CU_ASSERT_EQUAL(s_apply(&pp, 1, &res), -1);
    g_commit_fail = 0;
    CU_ASSERT_EQUAL(res.code, LIENTHONG__ERROR_CODE__ERR_INTERNAL);
    CU_ASSERT(res.err[0] != 0);
    CU_ASSERT_EQUAL(g_adv.n, 0);
    CU_ASSERT_EQUAL(s_last_seq(POP), 0);
    CU_ASSERT_EQUAL(s_cursor_of(POP), 0);
    CU_ASSERT_EQUAL(s_apply(&pp, 1, &res), 0);
    CU_ASSERT(res.code == LIENTHONG__ERROR_CODE__ERR_NONE && res.first_seq == 1 &&
              res.last_seq == 2 && res.source_cursor == 11);
    CU_ASSERT_EQUAL(s_last_seq(POP), 2);
}

static void test_refusals_store_nothing(void)
{
    s_fresh();
    change_t good[2], foreign[1], empty_key[1], bad[2], mismatch[1], more[1];
    s_citizen(&good[0], "038090000001", "38", ALIVE, NULL, NULL);
    s_citizen(&good[1], "038090000002", "01", ALIVE, NULL, NULL);
    s_phone(&foreign[0], "84912345678", NULL);
    s_citizen(&empty_key[0], "", "38", ALIVE, NULL, NULL);
    /* A good change then an undecodable one: the whole Publish is refused. */
    s_citizen(&bad[0], "038090000007", "38", ALIVE, NULL, NULL);
    s_citizen(&bad[1], "038090000008", "38", ALIVE, NULL, NULL);
    bad[1].payload[0] = 0xff;
    bad[1].payload[1] = 0xff;
    s_citizen(&mismatch[0], "038090000004", "38", ALIVE, NULL, NULL);
    mismatch[0].c.key = "038090000005";
    s_citizen(&more[0], "038090000006", "38", ALIVE, NULL, NULL);
    Lienthong__Change *p0[2], *p1[1], *p2[1], *p3[1], *p4[2], *p5[1], *p6[1];
    Lienthong__Publish p[7] = {
        s_pub(POP, good, 2, p0),
        s_pub(FOREIGN, foreign, 1, p1),
        s_pub("VN/GOV/XX/none", good, 1, p2),
        s_pub(POP, empty_key, 1, p3),
        s_pub(POP, bad, 2, p4),
        s_pub(POP, mismatch, 1, p5),
        s_pub(POP, more, 1, p6),
    };
    Lienthong__Publish nothing = LIENTHONG__PUBLISH__INIT;
    nothing.dataset = POP;
    Lienthong__Publish *pp[8] = {&p[0], &p[1], &p[2], &p[3], &p[4], &p[5], &nothing, &p[6]};
    lt_publish_result_t res[8];
    CU_ASSERT_EQUAL_FATAL(s_apply(pp, 8, res), 0);
    CU_ASSERT(res[0].code == LIENTHONG__ERROR_CODE__ERR_NONE && res[0].first_seq == 1 &&
              res[0].last_seq == 2);
    /* Each refusal has its code and says what was wrong. */
    static const struct {
        Lienthong__ErrorCode code;
        const char *says;
    } refused[] = {
        {LIENTHONG__ERROR_CODE__ERR_FORBIDDEN, "another member"},
        {LIENTHONG__ERROR_CODE__ERR_NOT_FOUND, "VN/GOV/XX/none"},
        {LIENTHONG__ERROR_CODE__ERR_MALFORMED, "key"},
        {LIENTHONG__ERROR_CODE__ERR_MALFORMED, "038090000008"},
        {LIENTHONG__ERROR_CODE__ERR_MALFORMED, "038090000005"},
        {LIENTHONG__ERROR_CODE__ERR_MALFORMED, "no change"},
    };
    for (size_t i = 0; i < 6; i++) {
        CU_ASSERT_EQUAL(res[i + 1].code, refused[i].code);
        CU_ASSERT_PTR_NOT_NULL(strstr(res[i + 1].err, refused[i].says));
    }
    /* The refused ones used no sequence number. */
    CU_ASSERT(res[7].code == LIENTHONG__ERROR_CODE__ERR_NONE && res[7].first_seq == 3 &&
              res[7].last_seq == 3);
    CU_ASSERT_EQUAL(s_last_seq(POP), 3);
    CU_ASSERT_EQUAL(s_last_seq(FOREIGN), 0);
    uint64_t seq;
    CU_ASSERT_EQUAL(s_state(POP, "038090000007", &seq), -1);
    CU_ASSERT_EQUAL(s_state(POP, "038090000004", &seq), -1);
    CU_ASSERT_EQUAL(s_state(POP, "038090000005", &seq), -1);
    CU_ASSERT_EQUAL(s_state(P38, "038090000007", &seq), -1);
    CU_ASSERT_EQUAL(s_last_seq(P38), 2); /* 038090000001 and 038090000006 */

    /* The owner is the only member that may publish its datasets. */
    Lienthong__Publish *own = &p[6];
    CU_ASSERT_EQUAL(lt_publish_apply(g_store, g_dir, "VN/COM/VIETTEL", &own, 1,
                                     LT_PUBLISH_MAX_RECORD, res, NULL, NULL),
                    0);
    CU_ASSERT_EQUAL(res[0].code, LIENTHONG__ERROR_CODE__ERR_FORBIDDEN);
    CU_ASSERT_EQUAL(s_last_seq(POP), 3);
}

/* A Publish naming a record type other than its dataset's is refused
 * whole before any payload is decoded, naming both types, even when its
 * payloads would decode as the dataset's and when it holds only a
 * deletion (PROTOCOL.md 8.1); one naming the dataset's, or none, is
 * stored. */
static void test_record_type_checked(void)
{
    s_fresh();
    change_t ch[3];
    s_citizen(&ch[0], "038090000001", "38", ALIVE, NULL, "1");
    s_tombstone(&ch[1], "038090000002", "2");
    s_citizen(&ch[2], "038090000003", "38", ALIVE, NULL, "3");
    Lienthong__Change *p0[1], *p1[1], *p2[1], *p3[1];
    Lienthong__Publish p[4] = {s_pub(POP, &ch[0], 1, p0), s_pub(POP, &ch[1], 1, p1),
                               s_pub(POP, &ch[0], 1, p2), s_pub(POP, &ch[2], 1, p3)};
    p[0].record_type = "lienthong.records.InsuranceCard";
    p[1].record_type = "lienthong.records.InsuranceCard";
    p[2].record_type = "lienthong.records.Population";
    Lienthong__Publish *pp[4] = {&p[0], &p[1], &p[2], &p[3]};
    lt_publish_result_t res[4];
    CU_ASSERT_EQUAL_FATAL(s_apply(pp, 4, res), 0);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(res[i].code, LIENTHONG__ERROR_CODE__ERR_MALFORMED);
        CU_ASSERT_PTR_NOT_NULL(strstr(res[i].err, "record_type 'lienthong.records.InsuranceCard'"));
        CU_ASSERT_PTR_NOT_NULL(strstr(res[i].err, "record type 'lienthong.records.Population'"));
        CU_ASSERT_PTR_NOT_NULL(strstr(res[i].err, POP));
    }
    CU_ASSERT(res[2].code == LIENTHONG__ERROR_CODE__ERR_NONE && res[2].first_seq == 1);
    CU_ASSERT(res[3].code == LIENTHONG__ERROR_CODE__ERR_NONE && res[3].first_seq == 2);
    CU_ASSERT_EQUAL(s_last_seq(POP), 2);
    CU_ASSERT_EQUAL(s_cursor_of(POP), 3);
}

/* A view derived again from a dataset whose records are not of the
 * record type the directory now gives it says so, naming the dataset, the
 * type and the directory version; it said "cannot derive ...: not an
 * error", the store's empty message, which sent the operator to look for
 * damage in the store. */
static void test_view_fill_other_type(void)
{
    s_fresh();
    change_t ch;
    s_citizen(&ch, "001090000001", "01", ALIVE, NULL, "1");
    Lienthong__Change *p0[1];
    Lienthong__Publish p = s_pub(POP, &ch, 1, p0), *pp = &p;
    lt_publish_result_t res;
    CU_ASSERT_EQUAL_FATAL(s_apply(&pp, 1, &res), 0);
    CU_ASSERT_EQUAL_FATAL(res.code, LIENTHONG__ERROR_CODE__ERR_NONE);
    /* The directory now gives the dataset another record type. */
    Lienthong__Dataset ds = *lt_dir_dataset(g_dir_more, POP);
    ds.record_type = "lienthong.records.Vaccination";
    const Lienthong__View *v = lt_dir_view(g_dir_more, V01);
    CU_ASSERT_FATAL(v != NULL);
    lt_stream_t row;
    int64_t newest = 0;
    char err[512] = "";
    CU_ASSERT_EQUAL_FATAL(lt_store_begin(g_store), 0);
    CU_ASSERT_NOT_EQUAL(lt_publish_view_fill(g_store, &ds, v, 9, &row, &newest, err, sizeof err),
                        0);
    lt_store_rollback(g_store);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "records of " POP " do not decode as record type "
                                       "lienthong.records.Vaccination of the directory v9"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "the directory's record type may be wrong, or the source "
                                       "publishes another type"));
    CU_ASSERT_PTR_NULL(strstr(err, "not an error"));
}

static void test_too_large(void)
{
    s_fresh();
    char name[600];
    change_t ch[1];
    /* A record of at least 400 bytes; its exact size is the limit below. */
    size_t n = 380;
    memset(name, 'A', sizeof name);
    do {
        name[n] = 0;
        s_citizen(&ch[0], "038090000001", "38", ALIVE, name, NULL);
        name[n] = 'A';
    } while (ch[0].c.payload.len < 400 && ++n < sizeof name - 1);
    size_t len = ch[0].c.payload.len;
    CU_ASSERT_FATAL(len >= 400 && len < 420);
    Lienthong__Change *ptr[1];
    Lienthong__Publish p = s_pub(POP, ch, 1, ptr), *pp = &p;
    lt_publish_result_t res;
    CU_ASSERT_EQUAL(s_apply_max(&pp, 1, len - 1, &res), 0);
    CU_ASSERT_EQUAL(res.code, LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, "038090000001"));
    /* The message names the record's size and the limit, in bytes. */
    char said[160];
    snprintf(said, sizeof said, "is %zu bytes, over this gateway's limit of %zu bytes", len,
             len - 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(res.err, said));
    CU_ASSERT_EQUAL(s_last_seq(POP), 0);
    CU_ASSERT_EQUAL(g_adv.n, 0);
    /* At the limit it is accepted; a tombstone carries no payload. */
    CU_ASSERT_EQUAL(s_apply_max(&pp, 1, len, &res), 0);
    CU_ASSERT(res.code == LIENTHONG__ERROR_CODE__ERR_NONE && res.last_seq == 1);
    s_tombstone(&ch[0], "038090000001", NULL);
    CU_ASSERT_EQUAL(s_apply_max(&pp, 1, 1, &res), 0);
    CU_ASSERT(res.code == LIENTHONG__ERROR_CODE__ERR_NONE && res.last_seq == 2);

    /* The limit follows the frame cap: a batch of one record must fit in
     * half of it (PROTOCOL.md 8.1), and never exceeds 1 MiB (6.2). */
    CU_ASSERT_EQUAL(lt_publish_max_record(4u << 20), LT_PUBLISH_MAX_RECORD);
    CU_ASSERT_EQUAL(lt_publish_max_record(2u << 20), LT_PUBLISH_MAX_RECORD - 1024);
    CU_ASSERT_EQUAL(lt_publish_max_record(1u << 20), (512u << 10) - 1024);
    CU_ASSERT_EQUAL(lt_publish_max_record(4096), 1024);
    CU_ASSERT_EQUAL(lt_publish_max_record(2048), 0);
    CU_ASSERT_EQUAL(lt_publish_max_record(0), 0);
}

static void test_source_cursors(void)
{
    s_fresh();
    change_t ch[3];
    s_citizen(&ch[0], "038090000001", "38", ALIVE, NULL, "1");
    s_citizen(&ch[1], "038090000002", "38", ALIVE, NULL, "2");
    s_citizen(&ch[2], "038090000003", "38", ALIVE, NULL, "3");
    lt_publish_result_t r = s_publish_ok(POP, ch, 3);
    CU_ASSERT(r.first_seq == 1 && r.last_seq == 3 && r.source_cursor == 3);
    CU_ASSERT_EQUAL(s_cursor_of(POP), 3);

    /* A resend after a lost acknowledgement stores nothing, says so, and
     * advances no stream. */
    r = s_publish_ok(POP, ch, 3);
    CU_ASSERT(r.first_seq == 0 && r.last_seq == 0 && r.source_cursor == 3);
    CU_ASSERT_EQUAL(s_last_seq(POP), 3);
    CU_ASSERT_EQUAL(s_last_seq(P38), 3);
    CU_ASSERT_EQUAL(g_adv.n, 0);

    /* Overlapping: only the change above the durable cursor is stored. */
    s_citizen(&ch[0], "038090000002", "38", ALIVE, NULL, "2");
    s_citizen(&ch[1], "038090000003", "38", ALIVE, NULL, "3");
    s_citizen(&ch[2], "038090000004", "38", ALIVE, NULL, "4");
    r = s_publish_ok(POP, ch, 3);
    CU_ASSERT(r.first_seq == 4 && r.last_seq == 4 && r.source_cursor == 4);
    s_expect_record(POP, 4, "038090000004", 0, &ch[2].c.payload);

    /* A change without a cursor (empty, or 0) is always stored and leaves
     * the cursor where it was. */
    s_citizen(&ch[0], "038090000001", "38", ALIVE, NULL, "");
    s_citizen(&ch[1], "038090000001", "38", ALIVE, NULL, "0");
    r = s_publish_ok(POP, ch, 2);
    CU_ASSERT(r.first_seq == 5 && r.last_seq == 6 && r.source_cursor == 4);
    r = s_publish_ok(POP, ch, 1);
    CU_ASSERT(r.first_seq == 7 && r.last_seq == 7 && r.source_cursor == 4);

    /* A cursor that is not a decimal number of 0 to 2^63 - 1 refuses the
     * whole Publish, naming it: "-1" once read as 2^64 - 1, after which every
     * later change of the dataset was acknowledged and skipped. */
    static const char *const bad[] = {
        "-1", "x7", "+7", " 7", "7 ", "1e3", "0x10", "9223372036854775808", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s_citizen(&ch[0], "038090000009", "38", ALIVE, NULL, "5");
        s_citizen(&ch[1], "038090000010", "38", ALIVE, NULL, bad[i]);
        Lienthong__Change *bp[2];
        Lienthong__Publish bpub = s_pub(POP, ch, 2, bp), *bpp = &bpub;
        lt_publish_result_t br;
        CU_ASSERT_EQUAL(s_apply(&bpp, 1, &br), 0);
        CU_ASSERT_EQUAL(br.code, LIENTHONG__ERROR_CODE__ERR_MALFORMED);
        CU_ASSERT_PTR_NOT_NULL(strstr(br.err, "038090000010"));
        CU_ASSERT_PTR_NOT_NULL(strstr(br.err, "source_cursor"));
        CU_ASSERT_EQUAL(s_last_seq(POP), 7);
        CU_ASSERT_EQUAL(s_cursor_of(POP), 4);
    }

    /* The same Publish twice in one group: the second is a resend. */
    s_citizen(&ch[0], "038090000005", "38", ALIVE, NULL, "5");
    s_citizen(&ch[1], "038090000006", "38", ALIVE, NULL, "6");
    Lienthong__Change *ptrs[2];
    Lienthong__Publish p = s_pub(POP, ch, 2, ptrs);
    Lienthong__Publish *twice[2] = {&p, &p};
    lt_publish_result_t res[2];
    CU_ASSERT_EQUAL(s_apply(twice, 2, res), 0);
    CU_ASSERT(res[0].first_seq == 8 && res[0].last_seq == 9 && res[0].source_cursor == 6);
    CU_ASSERT(res[1].code == LIENTHONG__ERROR_CODE__ERR_NONE && res[1].first_seq == 0 &&
              res[1].source_cursor == 6);
    CU_ASSERT_EQUAL(s_last_seq(POP), 9);

    /* Cursors are per dataset. */
    change_t ph[1];
    s_phone(&ph[0], "84912345678", "1");
    r = s_publish_ok(PHONES, ph, 1);
    CU_ASSERT(r.first_seq == 1 && r.source_cursor == 1);

    /* The cursor is durable: after reopening, the resend is still known. */
    s_reopen();
    CU_ASSERT_EQUAL(s_cursor_of(POP), 6);
    r = s_publish_ok(POP, ch, 2);
    CU_ASSERT(r.first_seq == 0 && r.last_seq == 0 && r.source_cursor == 6);
    CU_ASSERT_EQUAL(s_last_seq(POP), 9);
}

/* The largest cursor the store keeps exactly is taken, and kept. */
static void test_source_cursor_range(void)
{
    s_fresh();
    change_t ch[1];
    s_citizen(&ch[0], "038090000001", "38", ALIVE, NULL, "9223372036854775807");
    lt_publish_result_t r = s_publish_ok(POP, ch, 1);
    CU_ASSERT(r.first_seq == 1 && r.source_cursor == 9223372036854775807ULL);
    s_reopen();
    CU_ASSERT_EQUAL(s_cursor_of(POP), 9223372036854775807ULL);
    r = s_publish_ok(POP, ch, 1);
    CU_ASSERT(r.first_seq == 0 && r.source_cursor == 9223372036854775807ULL);
}

/* Asserts the last records of P38 and ALIVE38 and the key's state there
 * (1 live, 0 tombstone, -1 never). */
static void s_expect_views(const char *key, uint64_t p38_last, int p38_state, uint64_t alive_last,
                           int alive_state)
{
    uint64_t seq;
    CU_ASSERT_EQUAL(s_last_seq(P38), p38_last);
    CU_ASSERT_EQUAL(s_last_seq(ALIVE38), alive_last);
    CU_ASSERT_EQUAL(s_state(P38, key, &seq), p38_state);
    if (p38_state >= 0)
        s_expect_record(P38, seq, key, !p38_state, NULL);
    CU_ASSERT_EQUAL(s_state(ALIVE38, key, &seq), alive_state);
    if (alive_state >= 0)
        s_expect_record(ALIVE38, seq, key, !alive_state, NULL);
}

static void test_tombstones_when_leaving_a_view(void)
{
    s_fresh();
    const char *k = "038090000001";
    change_t ch[1];
    s_citizen(&ch[0], k, "38", ALIVE, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views(k, 1, 1, 1, 1);
    /* Dies, renamed: stays in p38 (updated), leaves alive38 (one tombstone). */
    s_citizen(&ch[0], k, "38", DEAD, "Nguy\xe1\xbb\x85n V\xc4\x83n C", NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views(k, 2, 1, 2, 0);
    CU_ASSERT_EQUAL(s_adv(ALIVE38), 2);
    /* Moves away: leaves p38; alive38 gets no second tombstone. */
    s_citizen(&ch[0], k, "01", DEAD, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views(k, 3, 0, 2, 0);
    CU_ASSERT_EQUAL(s_adv(ALIVE38), 0);
    /* Changes outside both views add nothing to them. */
    s_citizen(&ch[0], k, "01", ALIVE, "Nguy\xe1\xbb\x85n V\xc4\x83n B", NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views(k, 3, 0, 2, 0);
    CU_ASSERT_EQUAL(g_adv.n, 1); /* only the dataset advanced */
    /* Comes back: live again in both. */
    s_citizen(&ch[0], k, "38", ALIVE, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views(k, 4, 1, 3, 1);
    /* Deleted from the dataset: a tombstone in the dataset and each view. */
    s_tombstone(&ch[0], k, NULL);
    lt_publish_result_t r = s_publish_ok(POP, ch, 1);
    CU_ASSERT_EQUAL(r.last_seq, 6);
    s_expect_record(POP, 6, k, 1, NULL);
    uint64_t seq;
    CU_ASSERT_EQUAL(s_state(POP, k, &seq), 0);
    CU_ASSERT_EQUAL(seq, 6);
    s_expect_views(k, 5, 0, 4, 0);
    /* Deleting a key that was never in a view touches no view. */
    s_citizen(&ch[0], "001080000002", "01", ALIVE, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_tombstone(&ch[0], "001080000002", NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views("001080000002", 5, -1, 4, -1);
    /* Deleting again adds a dataset tombstone but no view tombstone. */
    s_tombstone(&ch[0], k, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views(k, 5, 0, 4, 0);
}

/* p38's state of key k: its seq, asserting the key is live there. */
static uint64_t s_p38_seq(const char *k)
{
    uint64_t seq;
    CU_ASSERT_EQUAL(s_state(P38, k, &seq), 1);
    return seq;
}

/* A change that leaves a key in a view with the view's fields as they were
 * writes nothing there: no sequence number, no record for the feed; the
 * view's record_seq of the key stays (PROTOCOL.md 6.1, 7.5). A change of
 * a field the view holds moves it, as does entering or leaving. */
static void test_unchanged_projection_writes_nothing(void)
{
    s_fresh();
    const char *k = "038090000001", *b = "Nguy\xe1\xbb\x85n V\xc4\x83n B";
    change_t ch[3];
    s_citizen(&ch[0], k, "38", DEAD, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views(k, 1, 1, 0, -1);
    /* The same record again: the dataset has a new version, p38 none. */
    s_publish_ok(POP, ch, 1);
    CU_ASSERT_EQUAL(s_last_seq(POP), 2);
    s_expect_views(k, 1, 1, 0, -1);
    CU_ASSERT_EQUAL(s_p38_seq(k), 1);
    CU_ASSERT_EQUAL(g_adv.n, 1);
    CU_ASSERT_EQUAL(s_adv(P38), 0);
    /* Status, outside p38's fields: p38 unchanged; the key enters alive38. */
    s_citizen(&ch[0], k, "38", ALIVE, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views(k, 1, 1, 1, 1);
    CU_ASSERT_EQUAL(s_p38_seq(k), 1);
    CU_ASSERT_EQUAL(s_adv(P38), 0);
    CU_ASSERT_EQUAL(s_adv(ALIVE38), 1);
    /* The name, a field of both: each gets the new projection. */
    s_citizen(&ch[0], k, "38", ALIVE, b, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views(k, 2, 1, 2, 1);
    CU_ASSERT_EQUAL(s_p38_seq(k), 2);
    Lienthong__Records__Population *p = s_view_citizen(P38, 2);
    CU_ASSERT_STRING_EQUAL(p->full_name, b);
    lienthong__records__population__free_unpacked(p, NULL);
    /* In one group: the name back, then the status, then the status back.
     * Only the first changes what the views hold; the second takes the key
     * out of alive38, the third brings it back. */
    s_citizen(&ch[0], k, "38", ALIVE, NULL, NULL);
    s_citizen(&ch[1], k, "38", DEAD, NULL, NULL);
    s_citizen(&ch[2], k, "38", ALIVE, NULL, NULL);
    s_publish_ok(POP, ch, 3);
    s_expect_views(k, 3, 1, 5, 1);
    CU_ASSERT_EQUAL(s_adv(P38), 3);
    CU_ASSERT_EQUAL(s_adv(ALIVE38), 5);
    /* A damaged current record of the view cannot be compared: the
     * projection is written anew, which replaces it. */
    lt_stream_t st;
    CU_ASSERT_EQUAL_FATAL(lt_store_stream_find(g_store, P38, &st), 1);
    char sql[200];
    snprintf(sql, sizeof sql, "UPDATE log SET sum = zeroblob(24) WHERE id = %lld",
             (long long)st.id * 1099511627776LL + 3);
    s_sql(sql);
    s_citizen(&ch[0], k, "38", DEAD, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_views(k, 4, 1, 6, 0);
    CU_ASSERT_EQUAL(s_p38_seq(k), 4);
}

static void test_reopen_continues(void)
{
    s_fresh();
    change_t ch[2];
    s_citizen(&ch[0], "038090000001", "38", ALIVE, NULL, "100");
    s_citizen(&ch[1], "038090000002", "38", ALIVE, NULL, "101");
    s_publish_ok(POP, ch, 2);
    s_reopen();
    CU_ASSERT_EQUAL(s_last_seq(POP), 2);
    CU_ASSERT_EQUAL(s_last_seq(P38), 2);
    s_expect_record(POP, 1, "038090000001", 0, &ch[0].c.payload);
    s_expect_record(POP, 2, "038090000002", 0, &ch[1].c.payload);
    /* Numbers run on, and the persisted view state still drives the
     * tombstone of a key that leaves. */
    s_citizen(&ch[0], "038090000002", "01", ALIVE, NULL, "102");
    lt_publish_result_t r = s_publish_ok(POP, ch, 1);
    CU_ASSERT(r.first_seq == 3 && r.last_seq == 3 && r.source_cursor == 102);
    s_expect_views("038090000002", 3, 0, 3, 0);
    s_reopen();
    s_expect_views("038090000002", 3, 0, 3, 0);
    s_expect_views("038090000001", 3, 1, 3, 1);
    CU_ASSERT_EQUAL(s_cursor_of(POP), 102);
}

static void test_view_match(void)
{
    const Lienthong__View *p38 = lt_dir_view(g_dir, P38), *alive = lt_dir_view(g_dir, ALIVE38);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p38);
    CU_ASSERT_PTR_NOT_NULL_FATAL(alive);
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.personal_id = "038090000001";
    p.current_province = "38";
    p.status = ALIVE;
    CU_ASSERT_EQUAL(lt_publish_view_match(p38, &p.base), 1);
    CU_ASSERT_EQUAL(lt_publish_view_match(alive, &p.base), 1);
    p.status = DEAD; /* every predicate must hold */
    CU_ASSERT_EQUAL(lt_publish_view_match(p38, &p.base), 1);
    CU_ASSERT_EQUAL(lt_publish_view_match(alive, &p.base), 0);
    p.current_province = "380"; /* whole values, not prefixes */
    CU_ASSERT_EQUAL(lt_publish_view_match(p38, &p.base), 0);
    p.current_province = "";
    CU_ASSERT_EQUAL(lt_publish_view_match(p38, &p.base), 0);
}

/* ---- the index of the views a key is in -------------------------------------------------- */

/* The population views of g_dir_more, in the order the expectations use. */
static const char *const g_pop_views[] = {P38, ALIVE38, V01, V79, V38B, VALL, VDEAD};
#define N_POP_VIEWS (sizeof g_pop_views / sizeof g_pop_views[0])

typedef struct {
    int64_t ids[16];
    size_t n;
} held_t;

static int s_on_held(void *arg, int64_t stream)
{
    held_t *h = arg;
    CU_ASSERT_FATAL(h->n < 16);
    h->ids[h->n++] = stream;
    return 0;
}

static int s_held_has(const held_t *h, const char *stream)
{
    lt_stream_t st;
    if (lt_store_stream_find(g_store, stream, &st) != 1)
        return 0;
    for (size_t i = 0; i < h->n; i++)
        if (h->ids[i] == st.id)
            return 1;
    return 0;
}

/* Asserts, per population view, the state of key (1 live, 0 tombstone,
 * -1 absent) and the view's last seq; and that the store's index of the
 * streams holding key names exactly the dataset (when live) and the views
 * the key is live in. */
static void s_expect_index(const char *key, int in_dataset, const int state[N_POP_VIEWS],
                           const uint64_t last[N_POP_VIEWS])
{
    held_t h = {.n = 0};
    CU_ASSERT_EQUAL_FATAL(lt_store_state_held(g_store, key, s_on_held, &h), 0);
    size_t live = 0;
    uint64_t ds_seq;
    /* The dataset's own rows are never in the index (schema step 7). */
    CU_ASSERT_EQUAL(s_held_has(&h, POP), 0);
    CU_ASSERT_EQUAL(s_state(POP, key, &ds_seq) == 1, in_dataset);
    for (size_t v = 0; v < N_POP_VIEWS; v++) {
        uint64_t seq;
        int got = s_state(g_pop_views[v], key, &seq);
        if (got != state[v] || s_last_seq(g_pop_views[v]) != last[v])
            fprintf(stderr, "\n    %s: state %d (want %d), last seq %llu (want %llu)\n",
                    g_pop_views[v], got, state[v], (unsigned long long)s_last_seq(g_pop_views[v]),
                    (unsigned long long)last[v]);
        CU_ASSERT_EQUAL(got, state[v]);
        CU_ASSERT_EQUAL(s_last_seq(g_pop_views[v]), last[v]);
        CU_ASSERT_EQUAL(s_held_has(&h, g_pop_views[v]), state[v] == 1);
        live += state[v] == 1;
    }
    /* The same key in the other dataset's view is held there, not here. */
    CU_ASSERT_EQUAL(s_held_has(&h, PHONES), 0);
    CU_ASSERT_EQUAL(h.n, live + (size_t)s_held_has(&h, ACTIVE));
}

static void s_fresh_more(void)
{
    s_fresh();
    g_pub_dir = g_dir_more;
}

/* One key enters views, moves between them, is in several at once, leaves
 * them and is deleted: each view gets exactly the records it got when
 * every view was read for every change, none where its projection of the
 * key stays the same (all, p38b and p38 see only full_name and the key). */
static void test_index_enter_move_leave(void)
{
    s_fresh_more();
    const char *k = "001080000001";
    change_t ch[1];
    /* Enters p01 (found by value) and all (tested alone). */
    s_citizen(&ch[0], k, "01", ALIVE, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_index(k, 1, (int[]){-1, -1, 1, -1, -1, 1, -1}, (uint64_t[]){0, 0, 1, 0, 0, 1, 0});
    /* Moves from p01 to p79: one tombstone in p01; all keeps its record. */
    s_citizen(&ch[0], k, "79", ALIVE, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_index(k, 1, (int[]){-1, -1, 0, 1, -1, 1, -1}, (uint64_t[]){0, 0, 2, 1, 0, 1, 0});
    /* Moves to 38: in four views at once, two of them with one value. */
    s_citizen(&ch[0], k, "38", ALIVE, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_index(k, 1, (int[]){1, 1, 0, 0, 1, 1, -1}, (uint64_t[]){1, 1, 2, 2, 1, 1, 0});
    /* Dies: leaves alive38 only, enters dead; the views it stays in see
     * no field of the change. */
    s_citizen(&ch[0], k, "38", DEAD, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_index(k, 1, (int[]){1, 0, 0, 0, 1, 1, 1}, (uint64_t[]){1, 2, 2, 2, 1, 1, 1});
    /* Deleted: a tombstone in each view it was in, none elsewhere. */
    s_tombstone(&ch[0], k, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_index(k, 0, (int[]){0, 0, 0, 0, 0, 0, 0}, (uint64_t[]){2, 2, 2, 2, 2, 2, 2});
    /* Deleted again: no view changes. */
    s_publish_ok(POP, ch, 1);
    s_expect_index(k, 0, (int[]){0, 0, 0, 0, 0, 0, 0}, (uint64_t[]){2, 2, 2, 2, 2, 2, 2});
    /* Back after its deletion, in p01 again. */
    s_citizen(&ch[0], k, "01", ALIVE, NULL, NULL);
    s_publish_ok(POP, ch, 1);
    s_expect_index(k, 1, (int[]){0, 0, 1, 0, 0, 1, 0}, (uint64_t[]){2, 2, 3, 2, 2, 3, 2});
    s_reopen(); /* the index is in the store, not in memory */
    s_expect_index(k, 1, (int[]){0, 0, 1, 0, 0, 1, 0}, (uint64_t[]){2, 2, 3, 2, 2, 3, 2});
}

/* Within one group a key's later change sees its earlier one; other keys
 * and a key in no view are left alone. */
static void test_index_within_a_group(void)
{
    s_fresh_more();
    change_t ch[4];
    s_citizen(&ch[0], "001080000002", "01", ALIVE, NULL, NULL);
    s_citizen(&ch[1], "079080000003", "79", ALIVE, NULL, NULL);
    s_citizen(&ch[2], "001080000002", "79", ALIVE, NULL, NULL);
    s_tombstone(&ch[3], "079080000003", NULL);
    s_publish_ok(POP, ch, 4);
    /* p79 got the second key, then the first, then the second's tombstone;
     * all got no record when the first moved (its one field unchanged). */
    s_expect_index("001080000002", 1, (int[]){-1, -1, 0, 1, -1, 1, -1},
                   (uint64_t[]){0, 0, 2, 3, 0, 3, 0});
    s_expect_index("079080000003", 0, (int[]){-1, -1, -1, 0, -1, 0, -1},
                   (uint64_t[]){0, 0, 2, 3, 0, 3, 0});
    /* A phone number of the same spelling as a citizen's key: the other
     * dataset's view is not the population's. */
    change_t ph[1];
    s_phone(&ph[0], "001080000002", NULL);
    s_publish_ok(PHONES, ph, 1);
    s_expect_index("001080000002", 1, (int[]){-1, -1, 0, 1, -1, 1, -1},
                   (uint64_t[]){0, 0, 2, 3, 0, 3, 0});
    CU_ASSERT_EQUAL(s_last_seq(ACTIVE), 1);
    held_t h = {.n = 0};
    CU_ASSERT_EQUAL(lt_store_state_held(g_store, "001080000002", s_on_held, &h), 0);
    CU_ASSERT(!s_held_has(&h, PHONES) && s_held_has(&h, ACTIVE));
}

/* The value lookup finds exactly the views lt_publish_view_match accepts. */
static void test_viewset_matches_like_each_view(void)
{
    const Lienthong__Directory *d = lt_dir_get(g_dir_more);
    const Lienthong__View *views[16];
    int64_t ids[16];
    size_t n = 0;
    for (size_t i = 0; i < d->n_views; i++)
        if (strcmp(d->views[i]->dataset, POP) == 0) {
            CU_ASSERT_FATAL(n < 16);
            ids[n] = 100 + 7 * (int64_t)(n % 3) + (int64_t)n; /* not in view order */
            views[n++] = d->views[i];
        }
    CU_ASSERT_EQUAL_FATAL(n, N_POP_VIEWS);
    lt_viewset_t *set = lt_viewset_new(views, ids, n, &lienthong__records__population__descriptor);
    CU_ASSERT_PTR_NOT_NULL_FATAL(set);
    for (size_t i = 0; i < n; i++)
        CU_ASSERT_EQUAL(lt_viewset_find(set, ids[i]), (long)i);
    CU_ASSERT_EQUAL(lt_viewset_find(set, 99), -1);
    CU_ASSERT_EQUAL(lt_viewset_find(set, 1000), -1);
    static const char *const provinces[] = {"01", "38", "79", "380", "3", ""};
    for (size_t p = 0; p < sizeof provinces / sizeof *provinces; p++)
        for (int status = ALIVE; status <= DEAD; status++) {
            Lienthong__Records__Population m = LIENTHONG__RECORDS__POPULATION__INIT;
            m.personal_id = "038090000001";
            m.current_province = (char *)provinces[p];
            m.status = (Lienthong__Records__CitizenStatus)status;
            size_t hits = lt_viewset_match(set, &m.base), want = 0;
            for (size_t v = 0; v < n; v++) {
                int match = lt_publish_view_match(views[v], &m.base);
                CU_ASSERT_EQUAL(lt_viewset_is_hit(set, v), match);
                want += (size_t)match;
            }
            CU_ASSERT_EQUAL(hits, want);
            for (size_t i = 0; i < hits; i++)
                CU_ASSERT(lt_publish_view_match(views[lt_viewset_hit(set, i)], &m.base));
        }
    CU_ASSERT_EQUAL(lt_viewset_match(set, NULL), 0); /* a deletion matches no view */
    for (size_t v = 0; v < n; v++)
        CU_ASSERT_FALSE(lt_viewset_is_hit(set, v));
    lt_viewset_destroy(&set);
    lt_viewset_destroy(&set);
    CU_ASSERT_PTR_NULL(set);
}

/* lt_viewset_destroy is idempotent (CZMQ CLASS): no set, or no pointer at
 * all, is nothing to do. */
static void test_viewset_destroy_null(void)
{
    lt_viewset_destroy(NULL);
    lt_viewset_t *set = NULL;
    lt_viewset_destroy(&set);
    CU_ASSERT_PTR_NULL(set);
}

/* A dataset's rules (PROTOCOL.md 5.7): a failing change is left out with
 * its reasons, its cursor consumed; the rest of the Publish is stored;
 * deletions are not checked; a resend reports the refusal again, marked
 * as resent so that it is not counted twice. */
static void test_rules_refuse_changes(void)
{
    s_fresh();
    g_pub_dir = g_dir_rules;
    change_t ch[4];
    s_citizen(&ch[0], "038085012345", "38", 1, NULL, "1");
    s_citizen(&ch[1], "099085012345", "38", 1, NULL, "2"); /* no province 99 */
    s_citizen(&ch[2], "001080000002", "01", 1, NULL, "3");
    s_tombstone(&ch[3], "099000000000", "4"); /* a deletion: nothing to check */
    Lienthong__Change *ptrs[4];
    Lienthong__Publish p = s_pub(POP, ch, 4, ptrs), *pp = &p;
    lt_publish_result_t res;
    CU_ASSERT_EQUAL_FATAL(s_apply(&pp, 1, &res), 0);
    CU_ASSERT_EQUAL(res.code, LIENTHONG__ERROR_CODE__ERR_NONE);
    CU_ASSERT(res.first_seq == 1 && res.last_seq == 3 && res.source_cursor == 4);
    CU_ASSERT_EQUAL_FATAL(res.n_refusals, 1);
    const Lienthong__Refusal *r = res.refusals[0];
    CU_ASSERT_STRING_EQUAL(r->key, "099085012345");
    CU_ASSERT_STRING_EQUAL(r->source_cursor, "2");
    CU_ASSERT(r->n_rules == 1 && r->n_reasons == 1);
    CU_ASSERT_STRING_EQUAL(r->rules[0], "personal_id:citizen_id");
    CU_ASSERT(strstr(r->reasons[0], "province code 099") != NULL);
    CU_ASSERT(!lt_publish_refusal_resent(&res, 0));
    uint64_t seq;
    CU_ASSERT_EQUAL(s_state(POP, "038085012345", &seq), 1);
    CU_ASSERT_EQUAL(s_state(POP, "099085012345", &seq), -1);
    CU_ASSERT_EQUAL(s_state(P38, "099085012345", &seq), -1);
    lt_publish_results_free(&res, 1);
    CU_ASSERT(res.refusals == NULL && res.n_refusals == 0);
    /* Every change refused: nothing stored, the cursor durable all the
     * same; two rules failed, both reported. */
    s_citizen(&ch[0], "12345", "38", 1, "  ", "5");
    p = s_pub(POP, ch, 1, ptrs);
    CU_ASSERT_EQUAL_FATAL(s_apply(&pp, 1, &res), 0);
    CU_ASSERT(res.code == LIENTHONG__ERROR_CODE__ERR_NONE && res.first_seq == 0 &&
              res.last_seq == 0 && res.source_cursor == 5);
    CU_ASSERT_FATAL(res.n_refusals == 1 && res.refusals[0]->n_rules == 2);
    CU_ASSERT_STRING_EQUAL(res.refusals[0]->rules[1], "full_name:required");
    CU_ASSERT(!lt_publish_refusal_resent(&res, 0)); /* new: counted */
    lt_publish_results_free(&res, 1);
    s_reopen();
    lt_stream_t st;
    CU_ASSERT(lt_store_stream_find(g_store, POP, &st) == 1 && st.source_cursor == 5 &&
              st.last_seq == 3);
    /* Resent after a lost ack: stored nothing, reports the refusal again. */
    CU_ASSERT_EQUAL_FATAL(s_apply(&pp, 1, &res), 0);
    CU_ASSERT(res.code == LIENTHONG__ERROR_CODE__ERR_NONE && res.n_refusals == 1 &&
              res.source_cursor == 5 && res.last_seq == 0);
    CU_ASSERT(lt_publish_refusal_resent(&res, 0)); /* not counted twice */
    lt_publish_results_free(&res, 1);
    CU_ASSERT_EQUAL(s_last_seq(POP), 3);
}

/* A local client's end (cli) and the gateway's (srv) of an inproc pair. */
typedef struct {
    void *zctx, *cli, *srv;
} pair_t;

static void s_pair_open(pair_t *x)
{
    memset(x, 0, sizeof *x);
    int zero = 0;
    CU_ASSERT_FATAL((x->zctx = zmq_ctx_new()) && (x->srv = zmq_socket(x->zctx, ZMQ_PAIR)) &&
                    (x->cli = zmq_socket(x->zctx, ZMQ_PAIR)) &&
                    zmq_setsockopt(x->cli, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
                    zmq_setsockopt(x->srv, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
                    zmq_bind(x->srv, "inproc://unit-publish") == 0 &&
                    zmq_connect(x->cli, "inproc://unit-publish") == 0);
}

static void s_pair_close(pair_t *x)
{
    zmq_close(x->cli);
    zmq_close(x->srv);
    zmq_ctx_term(x->zctx);
}

/* p, sent by the client, received into job as the poll loop does. */
static void s_gather(lt_publish_job_t *job, const pair_t *x, const Lienthong__Publish *p)
{
    Lienthong__ErrorCode code;
    char err[256];
    lt_publish_pending_t *slot = lt_publish_job_slot(job);
    CU_ASSERT_FATAL(slot != NULL);
    CU_ASSERT_FATAL(lt_wire_send_body(x->cli, NULL, 0, LIENTHONG__ENVELOPE__BODY_PUBLISH, p) == 0);
    CU_ASSERT_FATAL(lt_wire_recv(x->srv, 0, 0, &slot->in) == 0);
    slot->env = lt_wire_decode(zmq_msg_data(&slot->in.body), zmq_msg_size(&slot->in.body), 1u << 20,
                               &code, err, sizeof err);
    CU_ASSERT_FATAL(slot->env && slot->env->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH);
    lt_publish_job_keep(job);
}

/* The refusals of the write path are logged through lt_refuse (docs/
 * operations.md, "Refusals"): the first of a dataset and rule at once,
 * later ones counted per interval. The count of the last, partial interval
 * is written when the gateway shuts down (lt_publish_obs_destroy), not
 * lost. A group that commits sets lienthong_store_writable to 1, also
 * after replica batches the store could not write. */
static void test_refusals_flushed_at_shutdown(void)
{
    s_fresh();
    g_pub_dir = g_dir_rules;
    lt_gwcfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    snprintf(cfg.member, sizeof cfg.member, "%s", OWNER);
    cfg.max_message = 1u << 20;
    lt_gwctx_t ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.cfg = &cfg;
    ctx.dir = g_dir_rules;
    ctx.store = g_store;
    lt_stats_t *stats = lt_stats_new();
    lt_publish_obs_t *obs = stats ? lt_publish_obs_new(stats) : NULL;
    lt_publish_job_t *job = lt_publish_job_new();
    CU_ASSERT_FATAL(obs && job);
    pair_t x;
    s_pair_open(&x);
    /* Three changes failing the same rule (no province 099), in one
     * Publish: one refusal logged at once, two counted. */
    change_t ch[3];
    s_citizen(&ch[0], "099085000001", "38", 1, NULL, "1");
    s_citizen(&ch[1], "099085000002", "38", 1, NULL, "2");
    s_citizen(&ch[2], "099085000003", "38", 1, NULL, "3");
    Lienthong__Change *ptrs[3];
    Lienthong__Publish p = s_pub(POP, ch, 3, ptrs);
    s_gather(job, &x, &p);
    lt_publish_job_prepare(job, &ctx);
    lt_publish_job_run(job, g_store);
    /* A group of replica batches found the store full meanwhile (lt_feed):
     * this group commits, so the store can be written again. */
    lt_stats_series_t *writable = lt_gwstats_store_writable(stats);
    CU_ASSERT_FATAL(writable != NULL);
    lt_stats_set(writable, 0);
    char path[400];
    snprintf(path, sizeof path, "%s/refusals.log", g_tmp);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    lt_log_set_level(LT_LOG_WARN);
    lt_publish_job_finish(job, x.srv, obs, NULL, NULL);
    CU_ASSERT_EQUAL(lt_gwstats_gauge(writable), 1);
    lt_publish_obs_tick(obs);     /* nothing due within the interval */
    lt_publish_obs_destroy(&obs); /* the gateway shuts down */
    lt_log_set_level(LT_LOG_ERROR);
    static char out[16384];
    ut_captured(saved, path, out, sizeof out);
    close(saved);
    Lienthong__ErrorCode code;
    char err[256];
    zmq_msg_t m;
    zmq_msg_init(&m);
    CU_ASSERT_FATAL(zmq_msg_recv(&m, x.cli, 0) >= 0);
    Lienthong__Envelope *env =
        lt_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), 1u << 20, &code, err, sizeof err);
    zmq_msg_close(&m);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK &&
              env->publish_ack->n_refusals == 3);
    lt_wire_free(&env);
    if (ut_lines(out, NULL) != 2)
        fprintf(stderr, "\n  logged:\n%s", out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 2);
    CU_ASSERT_EQUAL(ut_lines(out, "publish: refused record from " POP " key=099085000001"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "publish: refused 2 more records from " POP " in "), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "personal_id:citizen_id (last key=099085000003"), 1);
    s_pair_close(&x);
    lt_publish_job_destroy(&job);
    lt_stats_destroy(&stats);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a group writes log, state and views, then reports each stream",
         test_group_writes_log_state_views},
        {"a group is one transaction: a store failure leaves nothing",
         test_group_is_one_transaction},
        {"a group whose commit fails is refused, none acknowledged, nothing kept",
         test_commit_failure_refused},
        {"refused publishes store nothing and use no sequence number", test_refusals_store_nothing},
        {"a Publish naming another record type is refused whole, naming both",
         test_record_type_checked},
        {"a view derived from records of another type says the directory's type may be wrong",
         test_view_fill_other_type},
        {"a record over the limit is refused; the limit follows the frame cap", test_too_large},
        {"durable source cursors make resends store nothing", test_source_cursors},
        {"a source cursor up to 2^63 - 1 is kept exactly", test_source_cursor_range},
        {"a key that leaves a view becomes one tombstone there",
         test_tombstones_when_leaving_a_view},
        {"a change that leaves a view's fields as they were writes nothing to it",
         test_unchanged_projection_writes_nothing},
        {"reopening the store continues every stream", test_reopen_continues},
        {"view predicates all hold, on whole values", test_view_match},
        {"the view index: a key enters, moves between, leaves views and is deleted",
         test_index_enter_move_leave},
        {"the view index within one group, and keys of another dataset", test_index_within_a_group},
        {"the view lookup by value matches as each view's predicates do",
         test_viewset_matches_like_each_view},
        {"the view lookup's destroy of NULL, and of a pointer to NULL, does nothing",
         test_viewset_destroy_null},
        {"dataset rules refuse failing changes, the rest is stored", test_rules_refuse_changes},
        {"refusals counted in the last interval are logged at shutdown",
         test_refusals_flushed_at_shutdown},
        {NULL, NULL},
    };
    return ut_main("lt_publish", suite_init, suite_clean, tests);
}

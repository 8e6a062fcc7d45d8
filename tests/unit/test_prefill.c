/* test_prefill: CUnit suite for gateway/lt_prefill (PROTOCOL.md 8.8): a
 * pre-fill reads the key's record in each replica exactly as stored, a key
 * absent from a stream is a not-found part, the streams are chosen as asked
 * (named, all, by key field), a stream not replicated is ERR_NOT_FOUND and
 * a malformed request ERR_MALFORMED, only streams the member's policy
 * grants for the purpose are read (ERR_PURPOSE, ERR_FORBIDDEN), every
 * stream read is one audit entry committed before the answer (none when a
 * part cannot be read), a part's freshness is read with its record, and
 * the statistics count the outcomes. The gateway, VN/COM/VIETTEL, replicates
 * the owner directory's population dataset (purpose KYC), its p38 view
 * (KYC and PREFILL_FORM) and its alive38 view (no policy) (no peers: every
 * replica is "behind"). The integration suite test_portal.c covers real
 * replicas of three owners. */
#include "unit_gw.h"
#include "lt_audit.h"
#include "lt_feed.h"
#include "lt_prefill.h"

#include <sqlite3.h>

static ug_t g;
static lt_feed_t *g_feed;
static lt_prefill_t *g_pf;
static char g_audit[300];

static int suite_init(void)
{
    char err[1024]; /* od_directory_policies says "cannot write PATH" in it */
    if (ug_open(&g, "prefill") != 0)
        return -1;
    lt_dir_destroy(&g.ctx.dir);
    if (!(g.ctx.dir =
              od_directory_policies(g.tmp, "", "",
                                    ",\n  { consumer = \"" UG_CALLER "\"; target = \"" OD_P38
                                    "\"; allow = [\"subscribe\"]; purposes = [\"KYC\", "
                                    "\"PREFILL_FORM\"]; }",
                                    err, sizeof err))) {
        fprintf(stderr, "test_prefill: %s\n", err);
        return -1;
    }
    snprintf(g.cfg.member, sizeof g.cfg.member, "%s", UG_CALLER);
    snprintf(g.cfg.subs[0].stream, sizeof g.cfg.subs[0].stream, "%s", OD_POP);
    snprintf(g.cfg.subs[1].stream, sizeof g.cfg.subs[1].stream, "%s", OD_P38);
    snprintf(g.cfg.subs[2].stream, sizeof g.cfg.subs[2].stream, "%s", OD_ALIVE38);
    g.cfg.n_subs = 3;
    snprintf(g_audit, sizeof g_audit, "%s/audit.db", g.tmp);
    if (!(g.ctx.audit = lt_audit_open(g_audit, g.ctx.keys, err, sizeof err)) ||
        !(g_feed = lt_feed_new(&g.ctx)) || !(g_pf = lt_prefill_new(&g.ctx, g_feed)))
        return -1;
    const char *keys[] = {"079201000001", "079201000002", "079201000003"};
    for (size_t i = 0; i < 3; i++)
        if (ug_publish(&g, keys[i], i == 1 ? "Trần Thị Bình" : "Nguyễn Văn An", lt_feed_advanced,
                       g_feed) != 0)
            return -1;
    return 0;
}

static int suite_clean(void)
{
    lt_prefill_destroy(&g_pf);
    lt_prefill_destroy(&g_pf); /* idempotent */
    lt_feed_destroy(&g_feed);
    lt_audit_destroy(&g.ctx.audit);
    ug_close(&g);
    return 0;
}

/* Sends a pre-fill for purpose and returns the answer (free with
 * lt_wire_free). */
static Lienthong__Envelope *s_prefill_for(uint64_t id, const char *key, char **streams, size_t n,
                                          const char *key_field, const char *purpose)
{
    Lienthong__PrefillRequest q = LIENTHONG__PREFILL_REQUEST__INIT;
    q.request_id = id;
    q.key = (char *)key;
    q.streams = streams;
    q.n_streams = n;
    q.key_field = (char *)key_field;
    q.purpose = (char *)purpose;
    lt_wire_in_t in;
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_FATAL(ug_send(&g, LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST, &q, &in, &env) == 0);
    lt_prefill_on_local(g_pf, g.router, &in, env);
    lt_wire_free(&env);
    lt_wire_in_close(&in);
    return ug_recv(&g);
}

/* The same for purpose KYC, which every replica but alive38 grants. */
static Lienthong__Envelope *s_prefill(uint64_t id, const char *key, char **streams, size_t n,
                                      const char *key_field)
{
    return s_prefill_for(id, key, streams, n, key_field, "KYC");
}

/* Audit entries of event prefill-read for subject, committed. */
static int s_audited(const char *subject)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_open_v2(g_audit, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db,
                           "SELECT count(*) FROM audit WHERE event = 'prefill-read' "
                           "AND subject = ?1",
                           -1, &st, NULL) == SQLITE_OK &&
        sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

static const Lienthong__PrefillPart *s_part(const Lienthong__Envelope *env, const char *stream)
{
    for (size_t i = 0; env && i < env->prefill_reply->n_parts; i++)
        if (strcmp(env->prefill_reply->parts[i]->stream, stream) == 0)
            return env->prefill_reply->parts[i];
    return NULL;
}

/* The part of the dataset is its stored record, byte for byte; the view
 * (which the citizen, outside province 38, is not in) says not found. */
static void test_reads_the_stored_record(void)
{
    Lienthong__Envelope *env = s_prefill(11, "079201000002", NULL, 0, "");
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY);
    CU_ASSERT_EQUAL(env->prefill_reply->request_id, 11);
    CU_ASSERT_STRING_EQUAL(env->prefill_reply->key, "079201000002");
    CU_ASSERT_EQUAL(env->prefill_reply->n_parts, 2);
    const Lienthong__PrefillPart *pop = s_part(env, OD_POP), *p38 = s_part(env, OD_P38);
    CU_ASSERT_FATAL(pop && p38);
    lt_stream_t st;
    uint64_t seq = 0;
    int deleted = 1;
    uint8_t *rec = NULL;
    size_t len = 0;
    CU_ASSERT_FATAL(lt_store_stream_find(g.ctx.store, OD_POP, &st) == 1);
    CU_ASSERT_FATAL(lt_store_state_get(g.ctx.store, st.id, "079201000002", &seq, &deleted) == 1);
    CU_ASSERT_FATAL(lt_store_get(g.ctx.store, st.id, seq, &rec, &len) == 1);
    Lienthong__Record *r = lienthong__record__unpack(NULL, len, rec);
    CU_ASSERT_FATAL(r != NULL);
    CU_ASSERT(pop->found);
    CU_ASSERT_EQUAL(pop->seq, 2);
    CU_ASSERT_EQUAL(pop->changed_at_ms, r->changed_at_ms);
    CU_ASSERT(pop->payload.len == r->payload.len &&
              memcmp(pop->payload.data, r->payload.data, r->payload.len) == 0);
    CU_ASSERT_STRING_EQUAL(pop->dataset, OD_POP);
    CU_ASSERT_STRING_EQUAL(pop->owner, OD_OWNER);
    CU_ASSERT_STRING_EQUAL(pop->record_type, "lienthong.records.Population");
    CU_ASSERT_EQUAL(pop->replica_seq, st.last_seq);
    CU_ASSERT(pop->replica_changed_at_ms > 0);
    /* No link to any owner: the replica cannot be known to be current. */
    CU_ASSERT_STRING_EQUAL(pop->state, "behind");
    CU_ASSERT_PTR_NOT_NULL(strstr(pop->detail, "not connected"));
    CU_ASSERT(!p38->found);
    CU_ASSERT_EQUAL(p38->payload.len, 0);
    CU_ASSERT_STRING_EQUAL(p38->dataset, OD_POP);
    lienthong__record__free_unpacked(r, NULL);
    free(rec);
    lt_wire_free(&env);
    /* One entry per stream read, durable before the answer. */
    CU_ASSERT_EQUAL(s_audited("079201000002"), 2);
}

/* Streams named, and chosen by the key field of their dataset. */
static void test_selects_streams(void)
{
    char *one[] = {OD_P38};
    Lienthong__Envelope *env = s_prefill(12, "079201000001", one, 1, "");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY &&
              env->prefill_reply->n_parts == 1 && s_part(env, OD_P38));
    lt_wire_free(&env);
    env = s_prefill(13, "079201000001", NULL, 0, "personal_id");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY &&
              env->prefill_reply->n_parts == 2);
    lt_wire_free(&env);
    env = s_prefill(14, "079201000001", NULL, 0, "phone_number");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY &&
              env->prefill_reply->n_parts == 0);
    lt_wire_free(&env);
    /* A key nobody holds: parts, none found. */
    env = s_prefill(15, "079299999999", NULL, 0, "");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY &&
              env->prefill_reply->n_parts == 2 && !env->prefill_reply->parts[0]->found &&
              !env->prefill_reply->parts[1]->found);
    lt_wire_free(&env);
}

/* Refusals name what is wrong; nothing is read or audited. */
static void test_refusals(void)
{
    char *stray[] = {OD_POP, OD_PHONES};
    Lienthong__Envelope *env = s_prefill(21, "079201000003", stray, 2, "");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND &&
              env->error->request_id == 21 && strstr(env->error->message, OD_PHONES));
    lt_wire_free(&env);
    env = s_prefill(0, "079201000003", NULL, 0, "");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    lt_wire_free(&env);
    env = s_prefill(22, "", NULL, 0, "");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(s_audited("079201000003"), 0);
}

/* 1 when env is an Error of code, for request id, whose message holds text. */
static int s_refused(const Lienthong__Envelope *env, Lienthong__ErrorCode code, uint64_t id,
                     const char *text)
{
    int ok = env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR && env->error->code == code &&
             env->error->request_id == id && strstr(env->error->message, text);
    if (!ok && env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        fprintf(stderr, "\n  got %s: %s\n", lt_wire_error_name(env->error->code),
                env->error->message);
    return ok;
}

/* A replica is read only for the purposes the member's policy on it lists
 * (PROTOCOL.md 8.8), as an owner answers a lookup (7.5): a stream named
 * that the purpose may not read refuses the whole request, with nothing
 * read or audited; with none named, the replicas the purpose may read are,
 * and a purpose none of them grants is refused. */
static void test_purpose(void)
{
    char *both[] = {OD_P38, OD_POP}, *p38[] = {OD_P38}, *alive[] = {OD_ALIVE38};
    Lienthong__Envelope *env = s_prefill_for(31, "079201000003", both, 2, "", "PREFILL_FORM");
    CU_ASSERT(s_refused(env, LIENTHONG__ERROR_CODE__ERR_PURPOSE, 31,
                        OD_POP ": purpose \"PREFILL_FORM\" is not among those"));
    lt_wire_free(&env);
    /* A stream no policy lets the member subscribe to any more. */
    env = s_prefill_for(32, "079201000003", alive, 1, "", "KYC");
    CU_ASSERT(s_refused(env, LIENTHONG__ERROR_CODE__ERR_FORBIDDEN, 32, OD_ALIVE38 ": no policy"));
    lt_wire_free(&env);
    /* A purpose no replica grants; an empty one. */
    env = s_prefill_for(33, "079201000003", NULL, 0, "", "MARKETING");
    CU_ASSERT(s_refused(env, LIENTHONG__ERROR_CODE__ERR_PURPOSE, 33,
                        "none of the 3 replicated stream(s) chosen may be read for this purpose"));
    lt_wire_free(&env);
    env = s_prefill_for(34, "079201000003", p38, 1, "", "");
    CU_ASSERT(s_refused(env, LIENTHONG__ERROR_CODE__ERR_PURPOSE, 34, OD_P38 ": purpose \"\""));
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(s_audited("079201000003"), 0);
    /* None named: only the view granted for the purpose, also by key field. */
    env = s_prefill_for(35, "079201000003", NULL, 0, "", "PREFILL_FORM");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY &&
              env->prefill_reply->n_parts == 1 && s_part(env, OD_P38));
    lt_wire_free(&env);
    env = s_prefill_for(36, "079201000003", NULL, 0, "personal_id", "PREFILL_FORM");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY &&
              env->prefill_reply->n_parts == 1 && s_part(env, OD_P38));
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(s_audited("079201000003"), 2);
}

/* The plan SQLite makes for a statement on the store, concatenated. */
static void s_plan(const char *sql, char *out, size_t len)
{
    char path[300], q[512];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    size_t o = 0;
    out[0] = 0;
    snprintf(path, sizeof path, "%s/store.db", g.tmp);
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK)
        while (sqlite3_step(st) == SQLITE_ROW && o < len)
            o += (size_t)snprintf(out + o, len - o, "%s; ", sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A pre-fill's reads are the store's lookups by key (lt_store_state_get)
 * and by row id (lt_store_get): each a search of one index, never a scan,
 * whatever the size of the replica. The statements are those of
 * gateway/lt_store.c. */
static void test_reads_are_indexed(void)
{
    char plan[512];
    s_plan("SELECT seq, deleted FROM state WHERE stream = ?1 AND key = ?2", plan, sizeof plan);
    CU_ASSERT_PTR_NOT_NULL(strstr(plan, "SEARCH state USING PRIMARY KEY (stream=? AND key=?)"));
    CU_ASSERT_PTR_NULL(strstr(plan, "SCAN"));
    s_plan("SELECT id, record, sum FROM log WHERE id = ?1", plan, sizeof plan);
    CU_ASSERT_PTR_NOT_NULL(strstr(plan, "SEARCH log USING INTEGER PRIMARY KEY (rowid=?)"));
    CU_ASSERT_PTR_NULL(strstr(plan, "SCAN"));
    if (!strstr(plan, "SEARCH"))
        fprintf(stderr, "plan: %s\n", plan);
}

/* The statistics count answers, refusals and parts. */
static void test_statistics(void)
{
    const char *ok[] = {"ERR_NONE"}, *nf[] = {"ERR_NOT_FOUND"}, *found[] = {"found"};
    const char *purpose[] = {"ERR_PURPOSE"}, *forbidden[] = {"ERR_FORBIDDEN"};
    CU_ASSERT(ug_stat(g.ctx.stats, "lienthong_prefill_requests", ok, 1) >= 5);
    CU_ASSERT(ug_stat(g.ctx.stats, "lienthong_prefill_requests", nf, 1) >= 1);
    CU_ASSERT(ug_stat(g.ctx.stats, "lienthong_prefill_requests", purpose, 1) == 3);
    CU_ASSERT(ug_stat(g.ctx.stats, "lienthong_prefill_requests", forbidden, 1) == 1);
    CU_ASSERT(ug_stat(g.ctx.stats, "lienthong_prefill_parts", found, 1) >= 2);
}

/* Runs sql on the store through a connection of its own, as the writer
 * thread's is; 0 or -1. */
static int s_store_sql(const char *sql)
{
    char path[300];
    sqlite3 *db = NULL;
    snprintf(path, sizeof path, "%s/store.db", g.tmp);
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
                     sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
                 ? 0
                 : -1;
    sqlite3_close(db);
    return rc;
}

/* A part that cannot be read (the state of the key in the second stream
 * read points at a log row that is not there) refuses the whole request
 * with ERR_INTERNAL, and no stream is audited as read: not the first
 * either, whose entry would otherwise wait in the audit log's buffer and
 * be committed with the next ones, a read never delivered. Nor is any
 * counted in the statistics of parts found and not found. */
static void test_store_fault_audits_nothing(void)
{
    char *both[] = {OD_POP, OD_P38}, sql[256];
    lt_stream_t st;
    CU_ASSERT_FATAL(lt_store_stream_find(g.ctx.store, OD_P38, &st) == 1);
    snprintf(sql, sizeof sql,
             "INSERT INTO state(stream, key, seq, deleted) VALUES (%lld, '079201000077', 99999, 0)",
             (long long)st.id);
    CU_ASSERT_FATAL(s_store_sql(sql) == 0);
    const char *found[] = {"found"}, *missing[] = {"not_found"};
    int64_t was_found = ug_stat(g.ctx.stats, "lienthong_prefill_parts", found, 1);
    int64_t was_missing = ug_stat(g.ctx.stats, "lienthong_prefill_parts", missing, 1);
    Lienthong__Envelope *env = s_prefill(41, "079201000077", both, 2, "");
    CU_ASSERT(s_refused(env, LIENTHONG__ERROR_CODE__ERR_INTERNAL, 41,
                        OD_P38 ": the replica cannot be read"));
    lt_wire_free(&env);
    /* No part was answered: none is counted found or not found. */
    CU_ASSERT_EQUAL(ug_stat(g.ctx.stats, "lienthong_prefill_parts", found, 1), was_found);
    CU_ASSERT_EQUAL(ug_stat(g.ctx.stats, "lienthong_prefill_parts", missing, 1), was_missing);
    CU_ASSERT(lt_audit_flush(g.ctx.audit, 1) == 0);
    CU_ASSERT_EQUAL(s_audited("079201000077"), 0);
    CU_ASSERT(s_store_sql("DELETE FROM state WHERE key = '079201000077'") == 0);
}

/* Streams advanced by a publish, held back from the feed as a commit of the
 * writer thread is until the poll loop takes the job back. */
static struct {
    char stream[256];
    uint64_t last_seq, appended;
} g_held[4];
static size_t g_n_held;

static void s_hold(void *arg, const char *stream, uint64_t last_seq, uint64_t appended,
                   lt_fresh_run_t **fresh)
{
    (void)arg;
    (void)fresh;
    if (g_n_held < sizeof g_held / sizeof *g_held) {
        snprintf(g_held[g_n_held].stream, sizeof g_held[0].stream, "%s", stream);
        g_held[g_n_held].last_seq = last_seq;
        g_held[g_n_held++].appended = appended;
    }
}

/* A record committed to a replica before the feed heard of it (the writer
 * thread's commit, not yet taken back by the poll loop): the part and its
 * replica's freshness are read from the same snapshot, so the record's seq
 * is never above replica_seq, and replica_changed_at_ms is its time. */
static void test_fresh_with_the_record(void)
{
    CU_ASSERT_FATAL(ug_publish(&g, "079201000001", "Nguyễn Văn Anh", s_hold, NULL) == 0);
    CU_ASSERT_FATAL(g_n_held > 0);
    char *pop[] = {OD_POP};
    Lienthong__Envelope *env = s_prefill(51, "079201000001", pop, 1, "");
    const Lienthong__PrefillPart *p = s_part(env, OD_POP);
    CU_ASSERT_FATAL(p != NULL);
    CU_ASSERT(p->found);
    CU_ASSERT(p->seq <= p->replica_seq);
    CU_ASSERT_EQUAL(p->replica_seq, g_held[0].last_seq);
    CU_ASSERT_EQUAL(p->replica_changed_at_ms, p->changed_at_ms);
    lt_wire_free(&env);
    /* The poll loop takes the job back. */
    for (size_t i = 0; i < g_n_held; i++)
        lt_feed_advanced(g_feed, g_held[i].stream, g_held[i].last_seq, g_held[i].appended, NULL);
    g_n_held = 0;
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"the record as stored; not found in a view the key is not in; audited",
         test_reads_the_stored_record},
        {"streams named, all, or by key field; a key nobody holds", test_selects_streams},
        {"a stream not replicated, a malformed request: refused", test_refusals},
        {"only the replicas the policy grants for the purpose are read", test_purpose},
        {"statistics of requests and parts", test_statistics},
        {"each read is an index search, never a scan", test_reads_are_indexed},
        {"a part that cannot be read: ERR_INTERNAL, no stream audited as read",
         test_store_fault_audits_nothing},
        {"freshness is read with the record, not behind it", test_fresh_with_the_record},
        {NULL, NULL},
    };
    return ut_main("lt_prefill", suite_init, suite_clean, tests);
}

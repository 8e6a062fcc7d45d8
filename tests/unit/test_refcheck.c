/* test_refcheck: CUnit suite for adapters/lt_refcheck, a source adapter's
 * reference checks (PROTOCOL.md 5.7): a dataset referring to two others
 * gets one VerifyRequest per target carrying every waiting value of it
 * (not one value per request when a record's checks alternate); the
 * outcomes of a request reach the caller together, once it is done; a
 * matching claim passes, ERR_NOT_FOUND fails, CLAIM_NOT_ALLOWED and the
 * values left unanswered at an Error are unknown; a value that is not a
 * key fails at once, in no request, and no request is built for it. */
#include "unit_util.h"

#include "lt_refcheck.h"
#include "lt_rules.h"
#include "records/population.pb-c.h"

#include "directory.pb-c.h"

#include <stdlib.h>
#include <string.h>

#define DS   "VN/GOV/BCA/population"
#define DS_A "VN/GOV/A/people"
#define DS_B "VN/GOV/B/names"

static char g_dir[256], g_file[300];

/* The test binary is linked with --wrap=calloc (CMakeLists.txt): a calloc
 * of elements of g_calloc_fail bytes fails while it is not 0, to find
 * which batches build a request. */
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
static size_t g_calloc_fail;

void *__wrap_calloc(size_t n, size_t size)
{
    return g_calloc_fail && size == g_calloc_fail ? NULL : __real_calloc(n, size);
}

static int suite_init(void)
{
    return ut_mkdtemp(g_dir, sizeof g_dir, "refcheck");
}

static int suite_clean(void)
{
    return ut_rmrf(g_dir);
}

/* A signed directory file (unsigned: lt_refcheck does not verify) where
 * the population refers by personal_id to A and by full_name to B. */
static void write_directory(void)
{
    Lienthong__Rule r[2], *rp[2] = {&r[0], &r[1]};
    lienthong__rule__init(&r[0]);
    r[0].field = "personal_id";
    r[0].check = "reference";
    r[0].dataset = DS_A;
    lienthong__rule__init(&r[1]);
    r[1].field = "full_name";
    r[1].check = "reference";
    r[1].dataset = DS_B;
    Lienthong__Dataset ds[3], *dp[3] = {&ds[0], &ds[1], &ds[2]};
    const char *ids[3] = {DS, DS_A, DS_B};
    for (size_t i = 0; i < 3; i++) {
        lienthong__dataset__init(&ds[i]);
        ds[i].id = (char *)ids[i];
        ds[i].owner = "VN/GOV/BCA";
        ds[i].record_type = "lienthong.records.Population";
        ds[i].key_field = i == 2 ? "full_name" : "personal_id";
    }
    ds[0].rules = rp;
    ds[0].n_rules = 2;
    Lienthong__Directory d = LIENTHONG__DIRECTORY__INIT;
    d.federation = "VN";
    d.version = 1;
    d.datasets = dp;
    d.n_datasets = 3;
    uint8_t dbuf[4096], sbuf[4200];
    CU_ASSERT_FATAL(lienthong__directory__get_packed_size(&d) <= sizeof dbuf);
    Lienthong__SignedDirectory sd = LIENTHONG__SIGNED_DIRECTORY__INIT;
    sd.directory.len = lienthong__directory__pack(&d, dbuf);
    sd.directory.data = dbuf;
    size_t len = lienthong__signed_directory__pack(&sd, sbuf);
    snprintf(g_file, sizeof g_file, "%s/directory.signed", g_dir);
    CU_ASSERT_FATAL(ut_write_file(g_file, sbuf, len, 0600) == 0);
}

typedef struct {
    size_t calls, n, found;
    char keys[8][16];
} outcomes_t;

static void on_outcomes(void *arg, const lt_refcheck_result_t *r, size_t n)
{
    outcomes_t *o = arg;
    o->calls++;
    for (size_t i = 0; i < n && o->n < 8; i++, o->n++) {
        snprintf(o->keys[o->n], sizeof o->keys[o->n], "%s", r[i].key);
        o->found += r[i].found;
    }
}

static void queue_person(lt_refcheck_t *rc, const char *id, const char *name)
{
    Lienthong__Records__Population p;
    lienthong__records__population__init(&p);
    p.personal_id = (char *)id;
    p.full_name = (char *)name;
    uint8_t buf[1024];
    size_t len = lienthong__records__population__pack(&p, buf);
    CU_ASSERT(lt_refcheck_queue(rc, id, "1", buf, len) == 0);
}

/* Feeds rc one VerifyAnswer. */
static int answer(lt_refcheck_t *rc, uint64_t id, const char *key, uint32_t index,
                  Lienthong__ErrorCode code, Lienthong__ClaimResult result, int last)
{
    Lienthong__VerifyAnswer a = LIENTHONG__VERIFY_ANSWER__INIT;
    a.request_id = id;
    a.key = (char *)key;
    a.index = index;
    a.code = code;
    a.results = &result;
    a.n_results = code == LIENTHONG__ERROR_CODE__ERR_NONE;
    a.last = last;
    uint8_t buf[256];
    Lienthong__SignedAnswer reply = LIENTHONG__SIGNED_ANSWER__INIT;
    reply.answer.len = lienthong__verify_answer__pack(&a, buf);
    reply.answer.data = buf;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.body_case = LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY;
    env.verify_reply = &reply;
    return lt_refcheck_answer(rc, &env);
}

static void test_one_request_per_target(void)
{
    write_directory();
    outcomes_t o;
    memset(&o, 0, sizeof o);
    char err[512] = "";
    lt_refcheck_t *rc =
        lt_refcheck_new(g_file, DS, "DATA-QUALITY", on_outcomes, &o, err, sizeof err);
    CU_ASSERT_FATAL(rc != NULL);
    CU_ASSERT(lt_refcheck_rules(rc) == 2);
    queue_person(rc, "001", "An");
    queue_person(rc, "002", "Binh");
    queue_person(rc, "003", "Chi");
    /* The three personal ids to A in one request, not one at a time. */
    const Lienthong__VerifyRequest *q = NULL;
    CU_ASSERT_FATAL(lt_refcheck_next(rc, 41, 0, &q) == 1);
    CU_ASSERT_STRING_EQUAL(q->dataset, DS_A);
    CU_ASSERT_FATAL(q->n_subjects == 3);
    CU_ASSERT_STRING_EQUAL(q->subjects[1]->key, "002");
    CU_ASSERT_STRING_EQUAL(q->subjects[1]->claims[0]->field, "personal_id");
    CU_ASSERT(lt_refcheck_next(rc, 42, 0, &q) == 0); /* one in flight */
    /* Nothing is reported before the request is done. */
    CU_ASSERT(answer(rc, 41, "001", 0, LIENTHONG__ERROR_CODE__ERR_NONE,
                     LIENTHONG__CLAIM_RESULT__CLAIM_MATCH, 0) == 1);
    CU_ASSERT(answer(rc, 41, "002", 1, LIENTHONG__ERROR_CODE__ERR_NOT_FOUND,
                     LIENTHONG__CLAIM_RESULT__CLAIM_UNKNOWN, 0) == 1);
    CU_ASSERT(answer(rc, 99, "003", 2, LIENTHONG__ERROR_CODE__ERR_NONE,
                     LIENTHONG__CLAIM_RESULT__CLAIM_MATCH, 1) == 0); /* another request */
    CU_ASSERT(o.calls == 0);
    /* A claim the policy does not release proves nothing: unknown. */
    CU_ASSERT(answer(rc, 41, "003", 2, LIENTHONG__ERROR_CODE__ERR_NONE,
                     LIENTHONG__CLAIM_RESULT__CLAIM_NOT_ALLOWED, 1) == 1);
    CU_ASSERT(o.calls == 1 && o.n == 2 && o.found == 1);
    CU_ASSERT_STRING_EQUAL(o.keys[0], "001");
    CU_ASSERT_STRING_EQUAL(o.keys[1], "002");
    CU_ASSERT(lt_refcheck_unknown(rc) == 1);
    /* Then the three names to B, keyed by full_name. */
    CU_ASSERT_FATAL(lt_refcheck_next(rc, 43, 0, &q) == 1);
    CU_ASSERT_STRING_EQUAL(q->dataset, DS_B);
    CU_ASSERT_FATAL(q->n_subjects == 3);
    CU_ASSERT_STRING_EQUAL(q->subjects[2]->key, "Chi");
    CU_ASSERT_STRING_EQUAL(q->subjects[0]->claims[0]->field, "full_name");
    /* An Error after one answer: that answer is reported, two unknown. */
    CU_ASSERT(answer(rc, 43, "Binh", 1, LIENTHONG__ERROR_CODE__ERR_NONE,
                     LIENTHONG__CLAIM_RESULT__CLAIM_MATCH, 0) == 1);
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    e.request_id = 43;
    e.message = "owner unreachable";
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.body_case = LIENTHONG__ENVELOPE__BODY_ERROR;
    env.error = &e;
    CU_ASSERT(lt_refcheck_answer(rc, &env) == 1);
    CU_ASSERT(o.calls == 2 && o.n == 3 && o.found == 2);
    CU_ASSERT_STRING_EQUAL(o.keys[2], "002");
    CU_ASSERT(lt_refcheck_unknown(rc) == 3);
    CU_ASSERT(!lt_refcheck_busy(rc));
    CU_ASSERT(lt_refcheck_next(rc, 44, 0, &q) == 0);
    lt_refcheck_destroy(&rc);
    CU_ASSERT(rc == NULL);
}

#define BIG 300

/* The directory written, a refcheck of DS telling o, and in big a value
 * over 256 bytes (no record's key, PROTOCOL.md 7.1). */
static lt_refcheck_t *start_big(outcomes_t *o, char big[BIG])
{
    char err[512] = "";
    write_directory();
    memset(o, 0, sizeof *o);
    memset(big, 'x', BIG - 1);
    big[BIG - 1] = 0;
    lt_refcheck_t *rc =
        lt_refcheck_new(g_file, DS, "DATA-QUALITY", on_outcomes, o, err, sizeof err);
    CU_ASSERT_FATAL(rc != NULL);
    return rc;
}

/* A value over 256 bytes (no record's key, PROTOCOL.md 7.1) fails its
 * check at once, "not a key", and is never sent: the other values of the
 * target go in a request the owner can take. Before, it went in the
 * request, which the gateway refused whole (ERR_MALFORMED), and every
 * check of it stayed unknown. */
static void test_value_not_a_key_fails(void)
{
    outcomes_t o;
    char big[BIG];
    lt_refcheck_t *rc = start_big(&o, big);
    queue_person(rc, "001", big); /* its name to B: not a key */
    queue_person(rc, "002", "Binh");
    const Lienthong__VerifyRequest *q = NULL;
    CU_ASSERT_FATAL(lt_refcheck_next(rc, 51, 0, &q) == 1);
    CU_ASSERT_STRING_EQUAL(q->dataset, DS_A);
    CU_ASSERT(q->n_subjects == 2);
    CU_ASSERT(answer(rc, 51, "001", 0, LIENTHONG__ERROR_CODE__ERR_NONE,
                     LIENTHONG__CLAIM_RESULT__CLAIM_MATCH, 0) == 1);
    CU_ASSERT(answer(rc, 51, "002", 1, LIENTHONG__ERROR_CODE__ERR_NONE,
                     LIENTHONG__CLAIM_RESULT__CLAIM_MATCH, 1) == 1);
    CU_ASSERT(o.calls == 1 && o.n == 2 && o.found == 2);
    /* The long name fails without a request; "Binh" alone goes to B. */
    CU_ASSERT_FATAL(lt_refcheck_next(rc, 52, 0, &q) == 1);
    CU_ASSERT(o.calls == 2 && o.n == 3 && o.found == 2);
    CU_ASSERT_STRING_EQUAL(o.keys[2], "001");
    CU_ASSERT_STRING_EQUAL(q->dataset, DS_B);
    CU_ASSERT_FATAL(q->n_subjects == 1);
    CU_ASSERT_STRING_EQUAL(q->subjects[0]->key, "Binh");
    CU_ASSERT(lt_refcheck_unknown(rc) == 0);
    lt_refcheck_destroy(&rc);
}

/* Values that are not keys fail without a request, and so without the
 * memory of one: while a request's claims cannot be allocated, a record
 * whose two references are not keys still gets both failures. Before, a
 * batch of them allocated a request it never sent, and failed with it. */
static void test_not_a_key_builds_no_request(void)
{
    outcomes_t o;
    char big[BIG];
    lt_refcheck_t *rc = start_big(&o, big);
    queue_person(rc, big, big); /* neither its id to A nor its name to B is a key */
    /* Only the claims fail: the outcomes' arrays have other sizes. */
    CU_ASSERT_FATAL(sizeof(Lienthong__Claim) != sizeof(lt_refcheck_result_t) &&
                    sizeof(Lienthong__Claim) != LT_RULES_REASON_MAX);
    const Lienthong__VerifyRequest *q = NULL;
    g_calloc_fail = sizeof(Lienthong__Claim);
    int next = lt_refcheck_next(rc, 61, 0, &q);
    g_calloc_fail = 0;
    CU_ASSERT(next == 0);
    CU_ASSERT(o.calls == 2 && o.n == 2 && o.found == 0);
    CU_ASSERT(lt_refcheck_unknown(rc) == 0);
    /* Nothing waits: the queue is empty. */
    CU_ASSERT(lt_refcheck_next(rc, 62, 0, &q) == 0);
    CU_ASSERT(o.calls == 2);
    lt_refcheck_destroy(&rc);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"one request per target; outcomes together when done", test_one_request_per_target},
        {"a value over 256 bytes fails at once, never sent", test_value_not_a_key_fails},
        {"values that are not keys build no request", test_not_a_key_builds_no_request},
        {NULL, NULL},
    };
    return ut_main("lt_refcheck", suite_init, suite_clean, tests);
}

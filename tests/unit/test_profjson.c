/* test_profjson: CUnit suite for what the HTTP API and the command line
 * show of a verified answer (core/lt_profjson, and api/lt_apicall's
 * profile call, against a stand-in gateway, and pre-fill JSON): an answer
 * that released fields is shown with their values, an empty payload as the
 * defaults it stands for, and a payload that does not decode as its record
 * type (or a record type unknown to this program) is an error naming it,
 * never an answer "verified" with its fields missing: a profile's part
 * alone, the other parts kept. Also lt_apicall's failed calls, summed up
 * in the log; and that memory running out at any allocation of jansson's
 * gives an error, never an answer with a field, a part or a stream left
 * out. */
#include "unit_util.h"

#include "lt_apicall.h"
#include "lt_profjson.h"
#include "lt_wire.h"
#include "records/population.pb-c.h"

#include <pthread.h>
#include <zmq.h>

#define POPULATION "lienthong.records.Population"

/* Field 1 (length-delimited) says 5 bytes and has 2. */
static uint8_t g_truncated[] = {0x0a, 0x05, 'a', 'b'};

static char *g_released[] = {"full_name", "home_town"};

/* A Population with full_name set, packed into buf; its length. */
static size_t pack_person(uint8_t *buf, size_t cap)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.full_name = "Nguyễn Văn An";
    CU_ASSERT_FATAL(lienthong__records__population__get_packed_size(&p) <= cap);
    return lienthong__records__population__pack(&p, buf);
}

static void answer_of(Lienthong__LookupAnswer *a, const uint8_t *payload, size_t len)
{
    lienthong__lookup_answer__init(a);
    a->owner = "VN/GOV/BCA";
    a->released = g_released;
    a->n_released = 2;
    a->payload.data = (uint8_t *)payload;
    a->payload.len = len;
}

/* lt_profjson_answer's result into a fresh object; *j is it. */
static int show(const Lienthong__LookupAnswer *a, const char *type, json_t **j, char *err,
                size_t errlen)
{
    *j = json_object();
    CU_ASSERT_FATAL(*j != NULL);
    err[0] = 0;
    return lt_profjson_answer(*j, a, type, err, errlen);
}

static void test_answer_decoded(void)
{
    uint8_t buf[256];
    char err[512];
    json_t *j;
    Lienthong__LookupAnswer a;
    answer_of(&a, buf, pack_person(buf, sizeof buf));
    CU_ASSERT_FATAL(show(&a, POPULATION, &j, err, sizeof err) == 0);
    json_t *f = json_object_get(j, "fields");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "full_name")), "Nguyễn Văn An");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "home_town")), "");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(j, "signature")), "verified");
    json_decref(j);
}

/* Released fields that all hold their defaults pack to no bytes at all. */
static void test_empty_payload_is_defaults(void)
{
    char err[512];
    json_t *j;
    Lienthong__LookupAnswer a;
    answer_of(&a, NULL, 0);
    CU_ASSERT_FATAL(show(&a, POPULATION, &j, err, sizeof err) == 0);
    json_t *f = json_object_get(j, "fields");
    CU_ASSERT(json_object_size(f) == 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(f, "full_name")), "");
    json_decref(j);
}

static void test_undecodable_payload(void)
{
    char err[512];
    json_t *j;
    Lienthong__LookupAnswer a;
    answer_of(&a, g_truncated, sizeof g_truncated);
    CU_ASSERT(show(&a, POPULATION, &j, err, sizeof err) == LT_PROFJSON_UNDECODABLE);
    CU_ASSERT(strstr(err, "answer payload does not decode as " POPULATION) != NULL);
    CU_ASSERT(json_object_get(j, "signature") == NULL);
    json_decref(j);
}

static void test_unknown_record_type(void)
{
    uint8_t buf[256];
    char err[512];
    json_t *j;
    Lienthong__LookupAnswer a;
    answer_of(&a, buf, pack_person(buf, sizeof buf));
    CU_ASSERT(show(&a, "lienthong.records.Nothing", &j, err, sizeof err) ==
              LT_PROFJSON_UNDECODABLE);
    CU_ASSERT(strstr(err, "answer payload does not decode") != NULL);
    CU_ASSERT(strstr(err, "lienthong.records.Nothing unknown to this program") != NULL);
    json_decref(j);
    /* Nothing released (a key not found): nothing to decode. */
    a.n_released = 0;
    CU_ASSERT(show(&a, "lienthong.records.Nothing", &j, err, sizeof err) == 0);
    CU_ASSERT(json_object_size(json_object_get(j, "fields")) == 0);
    json_decref(j);
}

static void test_released_field_not_in_type(void)
{
    uint8_t buf[256];
    char err[512];
    json_t *j;
    Lienthong__LookupAnswer a;
    char *released[] = {"full_name", "shoe_size"};
    answer_of(&a, buf, pack_person(buf, sizeof buf));
    a.released = released;
    CU_ASSERT(show(&a, POPULATION, &j, err, sizeof err) == LT_PROFJSON_UNDECODABLE);
    CU_ASSERT(strstr(err, "shoe_size is not a field of " POPULATION) != NULL);
    json_decref(j);
}

/* part as a released part of dataset with a signed answer of payload. */
static void part_of(Lienthong__ProfilePartReply *part, Lienthong__SignedAnswer *sa,
                    const char *dataset, const uint8_t *payload, size_t len, uint8_t *packed,
                    size_t cap)
{
    Lienthong__LookupAnswer a;
    answer_of(&a, payload, len);
    CU_ASSERT_FATAL(lienthong__lookup_answer__get_packed_size(&a) <= cap);
    lienthong__signed_answer__init(sa);
    sa->answer.data = packed;
    sa->answer.len = lienthong__lookup_answer__pack(&a, packed);
    lienthong__profile_part_reply__init(part);
    part->dataset = (char *)dataset;
    part->outcome = LIENTHONG__PROFILE_OUTCOME__PART_RELEASED;
    part->answer = sa;
    part->record_type = POPULATION;
    part->detail = "";
}

/* A profile part whose signed answer (or its payload) does not decode is
 * shown as an error saying why, without fields; the other parts keep their
 * verified answers (PROTOCOL.md 7.7: one bad owner holds back nobody). */
static void test_profile_part_undecodable(void)
{
    uint8_t person[256], packed[3][512];
    Lienthong__SignedAnswer sa[3];
    Lienthong__ProfilePartReply part[3], *parts[] = {&part[0], &part[1], &part[2]};
    part_of(&part[0], &sa[0], "VN/GOV/BHXH/insurance", g_truncated, sizeof g_truncated, packed[0],
            sizeof packed[0]);
    part_of(&part[1], &sa[1], "VN/GOV/BCA/population", person, pack_person(person, sizeof person),
            packed[1], sizeof packed[1]);
    part_of(&part[2], &sa[2], "VN/GOV/BYT/vaccinations", NULL, 0, packed[2], sizeof packed[2]);
    sa[2].answer.data = g_truncated; /* not a LookupAnswer */
    sa[2].answer.len = sizeof g_truncated;
    Lienthong__ProfileReply r = LIENTHONG__PROFILE_REPLY__INIT;
    r.parts = parts;
    r.n_parts = 3;
    char err[512] = "";
    json_t *j = NULL;
    CU_ASSERT_FATAL(lt_profjson_reply(&r, "038090001234", "KYC", &j, err, sizeof err) == 0);
    CU_ASSERT_FATAL(j != NULL);
    json_t *bad = json_array_get(json_object_get(j, "parts"), 0);
    json_t *good = json_array_get(json_object_get(j, "parts"), 1);
    json_t *junk = json_array_get(json_object_get(j, "parts"), 2);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(bad, "outcome")), "error");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(bad, "detail")),
                           "answer payload does not decode as " POPULATION);
    CU_ASSERT(json_object_get(bad, "fields") == NULL);
    CU_ASSERT(json_object_get(bad, "signature") == NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(good, "outcome")), "released");
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(json_object_get(good, "fields"), "full_name")),
        "Nguyễn Văn An");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(good, "signature")), "verified");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(junk, "outcome")), "error");
    CU_ASSERT(strstr(json_string_value(json_object_get(junk, "detail")), "does not decode") !=
              NULL);
    CU_ASSERT(json_object_get(junk, "signature") == NULL);
    /* `lienthong profile` exits 1: not every part was released. */
    CU_ASSERT(lt_profjson_not_released(j) == 2);
    json_decref(j);
    /* A record type unknown to this program: the part alone. */
    part[0].record_type = "lienthong.records.Nothing";
    CU_ASSERT_FATAL(lt_profjson_reply(&r, "038090001234", "KYC", &j, err, sizeof err) == 0);
    bad = json_array_get(json_object_get(j, "parts"), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(bad, "outcome")), "error");
    CU_ASSERT(strstr(json_string_value(json_object_get(bad, "detail")),
                     "lienthong.records.Nothing unknown to this program") != NULL);
    json_decref(j);
}

/* A Population whose full_name holds name, with each '#' of it made
 * the byte b once packed (a NUL cannot be given in a C string); its
 * length. */
static size_t pack_named(uint8_t *buf, size_t cap, const char *name, uint8_t b)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.full_name = (char *)name;
    CU_ASSERT_FATAL(lienthong__records__population__get_packed_size(&p) <= cap);
    size_t len = lienthong__records__population__pack(&p, buf);
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '#')
            buf[i] = b;
    return len;
}

/* A signed payload whose string is not UTF-8, or holds a NUL (PROTOCOL.md
 * 4.5: a record payload is checked when decoded): an error naming the
 * field, for a lookup; a profile's part alone, the others kept. Before,
 * jansson refused the text and the caller said "out of memory", losing a
 * profile's every part, and a NUL cut the value short, shown as signed. */
static void test_payload_not_utf8(void)
{
    static const uint8_t bad[] = {0xff, 0xc3, 0x00};
    uint8_t person[256], odd[256], packed[2][512];
    char err[512];
    json_t *j;
    Lienthong__LookupAnswer a;
    for (size_t k = 0; k < sizeof bad; k++) {
        answer_of(&a, odd, pack_named(odd, sizeof odd, "Nguy#n", bad[k]));
        CU_ASSERT(show(&a, POPULATION, &j, err, sizeof err) == LT_PROFJSON_UNDECODABLE);
        CU_ASSERT(strstr(err, "answer payload does not decode as " POPULATION
                              ": full_name is not valid UTF-8 (or holds a NUL)") != NULL);
        CU_ASSERT(json_object_get(j, "signature") == NULL);
        json_decref(j);
    }
    Lienthong__SignedAnswer sa[2];
    Lienthong__ProfilePartReply part[2], *parts[] = {&part[0], &part[1]};
    part_of(&part[0], &sa[0], "VN/GOV/BHXH/insurance", odd, pack_named(odd, sizeof odd, "#", 0xff),
            packed[0], sizeof packed[0]);
    part_of(&part[1], &sa[1], "VN/GOV/BCA/population", person, pack_person(person, sizeof person),
            packed[1], sizeof packed[1]);
    Lienthong__ProfileReply r = LIENTHONG__PROFILE_REPLY__INIT;
    r.parts = parts;
    r.n_parts = 2;
    j = NULL;
    CU_ASSERT_FATAL(lt_profjson_reply(&r, "038090001234", "KYC", &j, err, sizeof err) == 0);
    json_t *p0 = json_array_get(json_object_get(j, "parts"), 0);
    json_t *p1 = json_array_get(json_object_get(j, "parts"), 1);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p0, "outcome")), "error");
    CU_ASSERT(strstr(json_string_value(json_object_get(p0, "detail")),
                     "full_name is not valid UTF-8") != NULL);
    CU_ASSERT(json_object_get(p0, "fields") == NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(p1, "outcome")), "released");
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(json_object_get(p1, "fields"), "full_name")),
        "Nguyễn Văn An");
    json_decref(j);
}

/* A gateway that answers one ProfileRequest on its local socket with
 * reply (the request's id set), from its own thread. */
typedef struct {
    void *router;
    Lienthong__ProfileReply *reply;
} fake_gw_t;

static void *fake_gateway(void *arg)
{
    fake_gw_t *f = arg;
    lt_wire_in_t in;
    zmq_pollitem_t it = {f->router, 0, ZMQ_POLLIN, 0};
    Lienthong__ErrorCode code;
    char err[256];
    if (zmq_poll(&it, 1, 5000) != 1 || lt_wire_recv(f->router, 1, 0, &in) != 0)
        return NULL;
    Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                              1u << 20, &code, err, sizeof err);
    if (env && env->body_case == LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST) {
        f->reply->request_id = env->profile_request->request_id;
        (void)lt_wire_send_body(f->router, in.rid, in.rid_len,
                                LIENTHONG__ENVELOPE__BODY_PROFILE_REPLY, f->reply);
    }
    lt_wire_free(&env);
    lt_wire_in_close(&in);
    return NULL;
}

/* POST /v1/profile's call (lt_apicall_profile) with a part whose payload
 * does not decode beside one that does: 200 with both parts, the first an
 * error, never 502 with every part lost. */
static void test_apicall_profile_part_undecodable(void)
{
    uint8_t person[256], packed[2][512];
    char dir[256], path[300], ep[320];
    Lienthong__SignedAnswer sa[2];
    Lienthong__ProfilePartReply part[2], *parts[] = {&part[0], &part[1]};
    part_of(&part[0], &sa[0], "VN/GOV/BHXH/insurance", g_truncated, sizeof g_truncated, packed[0],
            sizeof packed[0]);
    part_of(&part[1], &sa[1], "VN/GOV/BCA/population", person, pack_person(person, sizeof person),
            packed[1], sizeof packed[1]);
    Lienthong__ProfileReply r = LIENTHONG__PROFILE_REPLY__INIT;
    r.parts = parts;
    r.n_parts = 2;
    CU_ASSERT_FATAL(ut_mkdtemp(dir, sizeof dir, "profjson") == 0);
    snprintf(path, sizeof path, "%s/local.sock", dir);
    snprintf(ep, sizeof ep, "ipc://%s", path);
    void *zctx = zmq_ctx_new(), *router = zctx ? zmq_socket(zctx, ZMQ_ROUTER) : NULL;
    int zero = 0;
    CU_ASSERT_FATAL(router && zmq_setsockopt(router, ZMQ_LINGER, &zero, sizeof zero) == 0 &&
                    zmq_bind(router, ep) == 0);
    fake_gw_t f = {router, &r};
    pthread_t th;
    CU_ASSERT_FATAL(pthread_create(&th, NULL, fake_gateway, &f) == 0);
    lt_apicall_t *call = lt_apicall_new(path, 4, 60000);
    CU_ASSERT_FATAL(call != NULL);
    Lienthong__ProfilePart ask = LIENTHONG__PROFILE_PART__INIT, *asks[] = {&ask, &ask};
    ask.dataset = "VN/GOV/BCA/population";
    Lienthong__ProfileRequest q = LIENTHONG__PROFILE_REQUEST__INIT;
    q.key = "038090001234";
    q.purpose = "KYC";
    q.parts = asks;
    q.n_parts = 2;
    lt_apicall_out_t out;
    lt_apicall_profile(call, &q, NULL, 3000, &out);
    pthread_join(th, NULL);
    CU_ASSERT_EQUAL(out.status, 200);
    json_t *p = json_object_get(out.body, "parts");
    CU_ASSERT(json_array_size(p) == 2);
    const char *o = json_string_value(json_object_get(json_array_get(p, 0), "outcome"));
    const char *sig = json_string_value(json_object_get(json_array_get(p, 1), "signature"));
    CU_ASSERT(o && strcmp(o, "error") == 0);
    CU_ASSERT(sig && strcmp(sig, "verified") == 0);
    if (out.status != 200) {
        char *s = json_dumps(out.body, JSON_COMPACT);
        fprintf(stderr, "\n  got %d: %s\n", out.status, s ? s : "");
        free(s);
    }
    json_decref(out.body);
    lt_apicall_destroy(&call);
    zmq_close(router);
    zmq_ctx_term(zctx);
    ut_rmrf(dir);
}

/* Calls to a gateway that is not running (no socket) each fail at once:
 * the log gets the first in full and the others in one count, written at
 * the destroy when no interval passed (docs/operations.md, "Limits of the
 * HTTP API"), not one line each. */
static void test_apicall_failures_summed(void)
{
    char dir[256], path[300], log[300], out[16384];
    CU_ASSERT_FATAL(ut_mkdtemp(dir, sizeof dir, "apicall") == 0);
    snprintf(path, sizeof path, "%s/nowhere.sock", dir);
    snprintf(log, sizeof log, "%s/log", dir);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
    CU_ASSERT_FATAL(dup2(fd, 2) == 2);
    close(fd);
    lt_apicall_t *call = lt_apicall_new(path, 4, 60000);
    CU_ASSERT_FATAL(call != NULL);
    int failed = 0;
    for (int i = 0; i < 50; i++) {
        lt_apicall_out_t o;
        Lienthong__Envelope *env = lt_apicall_status(call, 1000, &o);
        failed += !env && o.status == 503;
        lt_wire_free(&env);
        json_decref(o.body);
    }
    lt_apicall_tick(call); /* no interval has passed: nothing yet */
    lt_apicall_destroy(&call);
    CU_ASSERT_PTR_NULL(call);
    ut_captured(saved, log, out, sizeof out);
    close(saved);
    CU_ASSERT_EQUAL(failed, 50);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 2);
    CU_ASSERT_EQUAL(ut_lines(out, "503 GATEWAY_UNAVAILABLE: the gateway is not running"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "49 more calls failed with 503 GATEWAY_UNAVAILABLE in "), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "nowhere.sock"), 2);
    if (ut_lines(out, NULL) != 2)
        fprintf(stderr, "\n  logged:\n%s", out);
    ut_rmrf(dir);
}

static int all_granted(void *arg, const char *stream, const char *field)
{
    (void)arg;
    (void)stream;
    (void)field;
    return 1;
}

static int prefill(const Lienthong__PrefillReply *r, size_t *found, json_t **out, char *err,
                   size_t errlen)
{
    return lt_apicall_prefill_json(r, "VN/GOV/BYT", all_granted, NULL, found, out, err, errlen);
}

/* Pre-fill: a part found must show its record; one not found has none. */
static void test_prefill_part_undecodable(void)
{
    Lienthong__PrefillPart found = LIENTHONG__PREFILL_PART__INIT, absent = found;
    Lienthong__PrefillPart *parts[] = {&absent, &found};
    absent.stream = found.stream = "VN/GOV/BCA/population";
    absent.record_type = found.record_type = POPULATION;
    found.found = 1;
    found.payload.data = g_truncated;
    found.payload.len = sizeof g_truncated;
    Lienthong__PrefillReply r = LIENTHONG__PREFILL_REPLY__INIT;
    r.key = "038090001234";
    r.parts = parts;
    r.n_parts = 1;
    char err[512] = "";
    size_t n = 9;
    json_t *j = NULL;
    CU_ASSERT(prefill(&r, &n, &j, err, sizeof err) == 0);
    CU_ASSERT(j != NULL && n == 0);
    json_decref(j);
    r.n_parts = 2;
    CU_ASSERT(prefill(&r, &n, &j, err, sizeof err) == LT_PROFJSON_UNDECODABLE);
    CU_ASSERT(j == NULL);
    CU_ASSERT(
        strstr(err,
               "stream VN/GOV/BCA/population: answer payload does not decode as " POPULATION) !=
        NULL);
    json_decref(j);
    found.record_type = "lienthong.records.Nothing";
    CU_ASSERT(prefill(&r, &n, &j, err, sizeof err) == LT_PROFJSON_UNDECODABLE);
    CU_ASSERT(j == NULL);
    CU_ASSERT(strstr(err, "lienthong.records.Nothing unknown to this program") != NULL);
    json_decref(j);
}

/* Pre-fill: a replica's payload string that is not UTF-8, or holds a NUL,
 * fails the pre-fill naming the stream and the field, never as "out of
 * memory" nor with the value cut short. */
static void test_prefill_payload_not_utf8(void)
{
    static const uint8_t bad[] = {0xff, 0xc3, 0x00};
    uint8_t odd[256];
    Lienthong__PrefillPart part = LIENTHONG__PREFILL_PART__INIT, *parts[] = {&part};
    part.stream = "VN/GOV/BCA/population";
    part.record_type = POPULATION;
    part.found = 1;
    Lienthong__PrefillReply r = LIENTHONG__PREFILL_REPLY__INIT;
    r.key = "038090001234";
    r.parts = parts;
    r.n_parts = 1;
    for (size_t k = 0; k < sizeof bad; k++) {
        char err[512] = "";
        size_t n = 0;
        json_t *j = NULL;
        part.payload.data = odd;
        part.payload.len = pack_named(odd, sizeof odd, "Nguy#n", bad[k]);
        CU_ASSERT(prefill(&r, &n, &j, err, sizeof err) == LT_PROFJSON_UNDECODABLE);
        CU_ASSERT(j == NULL);
        CU_ASSERT(
            strstr(err,
                   "stream VN/GOV/BCA/population: answer payload does not decode as " POPULATION
                   ": full_name is not valid UTF-8 (or holds a NUL)") != NULL);
        json_decref(j);
    }
}

/* The application is granted full_name only. */
static int name_granted(void *arg, const char *stream, const char *field)
{
    (void)arg;
    (void)stream;
    return strcmp(field, "full_name") == 0;
}

/* Part i's withheld fields of the reply j, joined with spaces, in buf. */
static const char *withheld_of(json_t *j, size_t i, char *buf, size_t len)
{
    json_t *w = json_object_get(json_array_get(json_object_get(j, "parts"), i), "withheld"), *v;
    size_t k, o = 0;
    buf[0] = 0;
    json_array_foreach(w, k, v)
    {
        if (o < len)
            o += (size_t)snprintf(buf + o, len - o, "%s%s", k ? " " : "",
                                  json_string_value(json_object_get(v, "field")));
    }
    return buf;
}

/* Pre-fill: withheld lists every field of the stream not granted, set or
 * not, found or not, so that it never tells whether a citizen has a date
 * of death; a view's fields only. */
static void test_prefill_withheld_whatever_set(void)
{
    uint8_t alive_b[256], dead_b[256];
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.full_name = "Nguyễn Văn An";
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    size_t alive_n = lienthong__records__population__pack(&p, alive_b);
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_DECEASED;
    p.date_of_death = "2024-02-03";
    size_t dead_n = lienthong__records__population__pack(&p, dead_b);
    Lienthong__PrefillPart alive = LIENTHONG__PREFILL_PART__INIT, dead = alive, absent = alive;
    Lienthong__PrefillPart *parts[] = {&alive, &dead, &absent};
    alive.stream = dead.stream = absent.stream = "VN/GOV/BCA/population";
    alive.record_type = dead.record_type = absent.record_type = POPULATION;
    alive.found = dead.found = 1;
    alive.payload = (ProtobufCBinaryData){alive_n, alive_b};
    dead.payload = (ProtobufCBinaryData){dead_n, dead_b};
    Lienthong__PrefillReply r = LIENTHONG__PREFILL_REPLY__INIT;
    r.key = "038090001234";
    r.parts = parts;
    r.n_parts = 3;
    char err[512] = "", w[3][512];
    size_t n;
    json_t *j = NULL;
    CU_ASSERT_FATAL(lt_apicall_prefill_json(&r, "VN/GOV/DVCQG", name_granted, NULL, &n, &j, err,
                                            sizeof err) == 0);
    CU_ASSERT(n == 2);
    for (size_t i = 0; i < 3; i++)
        withheld_of(j, i, w[i], sizeof w[i]);
    CU_ASSERT_STRING_EQUAL(w[0], w[1]);
    CU_ASSERT_STRING_EQUAL(w[0], w[2]);
    CU_ASSERT(strstr(w[0], "date_of_death") && strstr(w[0], "status") &&
              !strstr(w[0], "full_name"));
    json_decref(j);
    /* A view: its fields only. */
    char *view[] = {"personal_id", "full_name", "date_of_death"};
    for (size_t i = 0; i < 3; i++) {
        parts[i]->stream = "VN/GOV/BCA/population.dvcqg";
        parts[i]->fields = view;
        parts[i]->n_fields = 3;
    }
    CU_ASSERT_FATAL(lt_apicall_prefill_json(&r, "VN/GOV/DVCQG", name_granted, NULL, &n, &j, err,
                                            sizeof err) == 0);
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT_STRING_EQUAL(withheld_of(j, i, w[i], sizeof w[i]), "personal_id date_of_death");
    json_decref(j);
}

/* Granted: full_name of dataset A, everything of dataset B. */
static int grant_ab(void *arg, const char *stream, const char *field)
{
    (void)arg;
    return strcmp(stream, "B") == 0 || (strcmp(stream, "A") == 0 && !strcmp(field, "full_name"));
}

/* A lookup answer or a profile part releasing more than the grant: the rest
 * is dropped from "fields" and "released", per part's own dataset. */
static void test_grant_filter(void)
{
    uint8_t buf[256];
    char err[512];
    json_t *j, *k;
    Lienthong__LookupAnswer a;
    answer_of(&a, buf, pack_person(buf, sizeof buf));
    CU_ASSERT_FATAL(show(&a, POPULATION, &j, err, sizeof err) == 0);
    CU_ASSERT(lt_apicall_grant_filter(j, "A", grant_ab, NULL) == 2);
    char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    CU_ASSERT(strstr(s, "\"fields\":{\"full_name\":\"Nguyễn Văn An\"}") != NULL);
    CU_ASSERT(strstr(s, "\"released\":[\"full_name\"]") != NULL);
    CU_ASSERT(strstr(s, "home_town") == NULL);
    free(s);
    /* a profile: part A filtered, part B (all granted) untouched */
    CU_ASSERT_FATAL(show(&a, POPULATION, &k, err, sizeof err) == 0);
    json_object_set_new(j, "dataset", json_string("A"));
    json_object_set_new(k, "dataset", json_string("B"));
    json_object_del(j, "fields");
    json_object_set_new(j, "fields", json_pack("{s:s,s:s}", "full_name", "x", "home_town", "y"));
    json_t *body = json_pack("{s:[o,o]}", "parts", j, k);
    CU_ASSERT_FATAL(body != NULL);
    CU_ASSERT(lt_apicall_grant_filter(body, NULL, grant_ab, NULL) == 1);
    CU_ASSERT(json_object_get(json_object_get(j, "fields"), "home_town") == NULL);
    CU_ASSERT(json_object_get(json_object_get(k, "fields"), "home_town") != NULL);
    CU_ASSERT(json_array_size(json_object_get(k, "released")) == 2);
    json_decref(body);
}

/* Every stream is usable but those named "no". */
static int usable(void *arg, const char *stream)
{
    (void)arg;
    return strcmp(stream, "no") != 0;
}

/* Pre-fill with no stream named: the replicas the application may use, and
 * more than a pre-fill reads refused, never some silently left out. */
static void test_prefill_streams(void)
{
    enum { N = LT_PREFILL_MAX_STREAMS + 1 };
    static char names[N + 2][32];
    Lienthong__StreamStatus ss[N + 2], *sp[N + 2];
    for (size_t i = 0; i < N + 2; i++) {
        lienthong__stream_status__init(&ss[i]);
        snprintf(names[i], sizeof names[i], "VN/GOV/X%zu/records", i);
        ss[i].stream = names[i];
        ss[i].role = "replica";
        sp[i] = &ss[i];
    }
    ss[0].role = "owner";
    ss[1].stream = "no";
    Lienthong__StatusReply st = LIENTHONG__STATUS_REPLY__INIT;
    st.streams = sp;
    st.n_streams = LT_PREFILL_MAX_STREAMS + 2; /* 64 usable replicas */
    char *streams[LT_PREFILL_MAX_STREAMS], err[512] = "";
    size_t n = 0;
    CU_ASSERT_FATAL(lt_apicall_prefill_streams(&st, usable, NULL, streams, &n, err, sizeof err) ==
                    0);
    CU_ASSERT(n == LT_PREFILL_MAX_STREAMS);
    CU_ASSERT_STRING_EQUAL(streams[0], names[2]);
    CU_ASSERT_STRING_EQUAL(streams[n - 1], names[LT_PREFILL_MAX_STREAMS + 1]);
    st.n_streams = N + 2; /* 65 */
    n = 0;
    CU_ASSERT(lt_apicall_prefill_streams(&st, usable, NULL, streams, &n, err, sizeof err) == -1);
    CU_ASSERT(n == 0);
    CU_ASSERT(strstr(err, "65 replicated streams") != NULL);
    CU_ASSERT(strstr(err, "more than the 64 a pre-fill reads; name the streams") != NULL);
}

/* ---- memory running out ------------------------------------------------------ */

/* jansson's allocations to pass before one fails; -1: none fails. Only
 * that one: memory another thread frees lets the next succeed, and a
 * builder that missed the failure would go on with a part left out. */
static long g_allocs_left = -1;

static void *failing_malloc(size_t n)
{
    if (g_allocs_left == 0) {
        g_allocs_left = -2; /* failed */
        return NULL;
    }
    if (g_allocs_left > 0)
        g_allocs_left--;
    return malloc(n);
}

/* Builds arg's JSON: the whole of it, or NULL after an error of its own. */
typedef json_t *(*build_fn)(const void *arg);

/* Builds once as it should, then again with jansson's n-th allocation
 * failing, for every n until the build needs fewer: each is the error
 * (NULL) or the whole answer, never one with something left out. */
static void sweep(const char *what, build_fn build, const void *arg)
{
    json_t *whole = build(arg);
    CU_ASSERT_FATAL(whole != NULL);
    int partial = 0;
    for (long n = 0; n < 100000; n++) {
        g_allocs_left = n;
        json_set_alloc_funcs(failing_malloc, free);
        json_t *j = build(arg);
        json_set_alloc_funcs(malloc, free);
        int none_failed = g_allocs_left != -2;
        g_allocs_left = -1;
        if (j && !json_equal(j, whole) && !partial++) {
            char *a = json_dumps(j, JSON_COMPACT), *b = json_dumps(whole, JSON_COMPACT);
            fprintf(stderr, "\n  %s, allocation %ld failing: got %.400s\n  want %.400s\n", what, n,
                    a ? a : "", b ? b : "");
            free(a);
            free(b);
        }
        json_decref(j);
        if (none_failed)
            break;
    }
    CU_ASSERT_EQUAL(partial, 0);
    json_decref(whole);
}

static json_t *build_answer(const void *arg)
{
    char err[512];
    json_t *j = json_object();
    int rc = j ? lt_profjson_answer(j, arg, POPULATION, err, sizeof err) : LT_PROFJSON_NOMEM;
    if (rc != 0) {
        CU_ASSERT_EQUAL(rc, LT_PROFJSON_NOMEM);
        CU_ASSERT(!j || strstr(err, "out of memory") != NULL);
        json_decref(j);
        return NULL;
    }
    return j;
}

static json_t *build_reply(const void *arg)
{
    char err[512];
    json_t *j = (json_t *)1;
    int rc = lt_profjson_reply(arg, "038090001234", "KYC", &j, err, sizeof err);
    CU_ASSERT(rc == 0 ? j != NULL : rc == LT_PROFJSON_NOMEM && j == NULL);
    return j;
}

static json_t *build_prefill(const void *arg)
{
    char err[512];
    size_t n;
    json_t *j = (json_t *)1;
    int rc =
        lt_apicall_prefill_json(arg, "VN/GOV/DVCQG", name_granted, NULL, &n, &j, err, sizeof err);
    CU_ASSERT(rc == 0 ? j != NULL : rc == LT_PROFJSON_NOMEM && j == NULL);
    return j;
}

static json_t *build_status(const void *arg)
{
    return lt_apicall_status_json(arg);
}

/* A lookup answer, a profile, a pre-fill and a status (the HTTP API's
 * answers), each with memory running out at every allocation in turn. */
static void test_out_of_memory_never_partial(void)
{
    uint8_t person[256], packed[2][512];
    Lienthong__Withheld wh[2], *whp[] = {&wh[0], &wh[1]};
    for (size_t i = 0; i < 2; i++) {
        lienthong__withheld__init(&wh[i]);
        wh[i].field = i ? "date_of_death" : "current_address";
        wh[i].reason = "not granted by policy";
    }
    Lienthong__LookupAnswer a;
    answer_of(&a, person, pack_person(person, sizeof person));
    a.withheld = whp;
    a.n_withheld = 2;
    sweep("lookup answer", build_answer, &a);

    Lienthong__SignedAnswer sa[2];
    Lienthong__ProfilePartReply part[2], *parts[] = {&part[0], &part[1]};
    for (size_t i = 0; i < 2; i++)
        part_of(&part[i], &sa[i], i ? "VN/GOV/BHXH/insurance" : "VN/GOV/BCA/population", person,
                a.payload.len, packed[i], sizeof packed[i]);
    Lienthong__ProfileReply r = LIENTHONG__PROFILE_REPLY__INIT;
    r.parts = parts;
    r.n_parts = 2;
    sweep("profile", build_reply, &r);

    Lienthong__PrefillPart pp = LIENTHONG__PREFILL_PART__INIT, *pps[] = {&pp, &pp};
    pp.stream = "VN/GOV/BCA/population";
    pp.record_type = POPULATION;
    pp.found = 1;
    pp.payload = a.payload;
    Lienthong__PrefillReply pr = LIENTHONG__PREFILL_REPLY__INIT;
    pr.key = "038090001234";
    pr.parts = pps;
    pr.n_parts = 2;
    sweep("pre-fill", build_prefill, &pr);

    Lienthong__SubscriberStatus sub = LIENTHONG__SUBSCRIBER_STATUS__INIT, *subs[] = {&sub, &sub};
    sub.member = "VN/GOV/BHXH";
    sub.disconnected = 1;
    sub.reason = "gone";
    Lienthong__FieldPresence fp = LIENTHONG__FIELD_PRESENCE__INIT, *fps[] = {&fp, &fp};
    fp.field = "full_name";
    Lienthong__StreamCompleteness comp = LIENTHONG__STREAM_COMPLETENESS__INIT;
    comp.fields = fps;
    comp.n_fields = 2;
    Lienthong__StreamStatus ss = LIENTHONG__STREAM_STATUS__INIT, *sss[] = {&ss, &ss};
    ss.stream = "VN/GOV/BCA/population";
    ss.role = "owner";
    ss.subscribers = subs;
    ss.n_subscribers = 2;
    ss.completeness = &comp;
    Lienthong__PeerStatus peer = LIENTHONG__PEER_STATUS__INIT, *peers[] = {&peer, &peer};
    peer.member = "VN/GOV/BHXH";
    char *connected[] = {"VN/GOV/BHXH", "VN/GOV/BYT"};
    Lienthong__StatusReply st = LIENTHONG__STATUS_REPLY__INIT;
    st.member = "VN/GOV/BCA";
    st.streams = sss;
    st.n_streams = 2;
    st.peers = peers;
    st.n_peers = 2;
    st.peers_connected = connected;
    st.n_peers_connected = 2;
    sweep("status", build_status, &st);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"an answer's released fields are shown", test_answer_decoded},
        {"an empty payload is a record of defaults", test_empty_payload_is_defaults},
        {"a payload that does not decode is an error", test_undecodable_payload},
        {"a record type unknown to this program is an error", test_unknown_record_type},
        {"a released field the record type lacks is an error", test_released_field_not_in_type},
        {"profile: a part that does not decode is an error, the others kept",
         test_profile_part_undecodable},
        {"a payload string not UTF-8 or holding a NUL is an error naming the field",
         test_payload_not_utf8},
        {"HTTP API: a profile part that does not decode is an error in a 200, the others kept",
         test_apicall_profile_part_undecodable},
        {"HTTP API: failed calls are logged once, then summed up", test_apicall_failures_summed},
        {"pre-fill: a part found that does not decode fails", test_prefill_part_undecodable},
        {"pre-fill: a payload string not UTF-8 or holding a NUL names the field",
         test_prefill_payload_not_utf8},
        {"pre-fill: withheld lists the fields not granted, set or not",
         test_prefill_withheld_whatever_set},
        {"lookup and profile: fields beyond the grant are dropped", test_grant_filter},
        {"pre-fill: more replicas than a pre-fill reads are refused, not cut",
         test_prefill_streams},
        {"out of memory: an error, never an answer with parts left out",
         test_out_of_memory_never_partial},
        {NULL, NULL},
    };
    return ut_main("lt_profjson", NULL, NULL, tests);
}

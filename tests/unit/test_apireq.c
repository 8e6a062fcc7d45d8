/* test_apireq: CUnit suite for api/lt_apireq, the strict decoding of the
 * HTTP API's lookup and verify bodies (docs/api/openapi.json): valid
 * bodies become the local API's requests (PROTOCOL.md 7.1, 8.3), and every
 * refusal names the member at fault. */
#include "unit_util.h"

#include "lt_apireq.h"
#include "lt_valid.h"

#include <jansson.h>
#include <malloc.h>

#if defined(__SANITIZE_ADDRESS__)
#define LT_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LT_UNDER_ASAN 1
#endif
#endif
#ifndef LT_UNDER_ASAN
#define LT_UNDER_ASAN 0
#endif
#if LT_UNDER_ASAN
/* The sanitizer runtime's interface (gcc ships no header for it). */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

#define COMMON                                                                                     \
    "\"dataset\":\"VN/GOV/BCA/population\",\"purpose\":\"KYC\","                                   \
    "\"officer\":\"officer-17\",\"case_ref\":\"HS-1\""

static char g_err[512];

static lt_apireq_t *decode(const char *body, int is_verify)
{
    g_err[0] = 0;
    return lt_apireq_decode(body, strlen(body), is_verify, g_err, sizeof g_err);
}

/* body is accepted as a request of the right kind (only). */
static lt_apireq_t *decode_ok(const char *body, int is_verify)
{
    lt_apireq_t *r = decode(body, is_verify);
    if (!r)
        fprintf(stderr, "\n  refused: %s\n", g_err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT((lt_apireq_lookup(r) == NULL) == (is_verify != 0));
    CU_ASSERT((lt_apireq_verify(r) == NULL) == (is_verify == 0));
    return r;
}

/* body is refused, and the message starts with want. */
static void expect_refused(const char *body, int is_verify, const char *want)
{
    lt_apireq_t *r = decode(body, is_verify);
    CU_ASSERT_PTR_NULL(r);
    lt_apireq_destroy(&r);
    if (strncmp(g_err, want, strlen(want)) != 0)
        fprintf(stderr, "\n  body %.80s\n  got  \"%s\"\n  want \"%s...\"\n", body, g_err, want);
    CU_ASSERT(strncmp(g_err, want, strlen(want)) == 0);
}

typedef struct {
    const char *body;
    int is_verify;
    const char *want; /* how the message starts */
} refusal_t;

static void expect_all_refused(const refusal_t *cases)
{
    for (const refusal_t *c = cases; c->body; c++)
        expect_refused(c->body, c->is_verify, c->want);
}

static int collect(void *arg, const char *field)
{
    char *out = arg;
    strncat(out, field, 255 - strlen(out));
    strncat(out, ",", 255 - strlen(out));
    return 0;
}

/* lt_apireq_each_field gives want ("a,b,"), then r is destroyed. */
static void expect_fields_and_destroy(lt_apireq_t **r, const char *want)
{
    char seen[256] = "";
    CU_ASSERT(lt_apireq_each_field(*r, collect, seen) == 0);
    CU_ASSERT_STRING_EQUAL(seen, want);
    lt_apireq_destroy(r);
    CU_ASSERT_PTR_NULL(*r);
}

static void test_lookup(void)
{
    lt_apireq_t *r = decode_ok("{" COMMON ",\"key\":\"038090000002\",\"fields\":[\"full_name\","
                               "\"date_of_birth\"],\"timeout_ms\":2500}",
                               0);
    Lienthong__LookupRequest *q = lt_apireq_lookup(r);
    CU_ASSERT_STRING_EQUAL(q->dataset, "VN/GOV/BCA/population");
    CU_ASSERT_STRING_EQUAL(q->key, "038090000002");
    CU_ASSERT_STRING_EQUAL(q->purpose, "KYC");
    CU_ASSERT_STRING_EQUAL(q->case_ref, "HS-1");
    CU_ASSERT(q->request_id == 0 && q->deadline_ms == 0);
    CU_ASSERT_FATAL(q->n_fields == 2);
    CU_ASSERT_STRING_EQUAL(q->fields[1], "date_of_birth");
    CU_ASSERT_STRING_EQUAL(lt_apireq_officer(r), "officer-17");
    CU_ASSERT(lt_apireq_timeout_ms(r) == 2500);
    expect_fields_and_destroy(&r, "full_name,date_of_birth,");
    lt_apireq_destroy(&r);
    lt_apireq_destroy(NULL);
    /* fields and timeout_ms are optional */
    r = decode_ok("{" COMMON ",\"key\":\"k\"}", 0);
    CU_ASSERT(lt_apireq_lookup(r)->n_fields == 0);
    CU_ASSERT(lt_apireq_timeout_ms(r) == 0);
    lt_apireq_destroy(&r);
}

static void test_verify_keys(void)
{
    lt_apireq_t *r =
        decode_ok("{" COMMON ",\"keys\":[\"a\",\"b\",\"c\"],\"claims\":[{\"field\":"
                  "\"date_of_birth\",\"value\":\"1990-01-02\"},{\"field\":\"full_name\","
                  "\"value\":\"\"}]}",
                  1);
    Lienthong__VerifyRequest *q = lt_apireq_verify(r);
    CU_ASSERT_FATAL(q->n_keys == 3 && q->n_claims == 2 && q->n_subjects == 0);
    CU_ASSERT_STRING_EQUAL(q->keys[2], "c");
    CU_ASSERT_STRING_EQUAL(q->claims[0]->value, "1990-01-02");
    CU_ASSERT_STRING_EQUAL(q->claims[1]->value, ""); /* claiming the field is empty */
    CU_ASSERT_STRING_EQUAL(lt_apireq_claim_field(r, 2, 1), "full_name");
    CU_ASSERT_STRING_EQUAL(lt_apireq_claim_field(r, 0, 2), "?");
    expect_fields_and_destroy(&r, "date_of_birth,full_name,");
}

static void test_verify_subjects(void)
{
    lt_apireq_t *r =
        decode_ok("{" COMMON ",\"subjects\":[{\"key\":\"a\",\"claims\":[{\"field\":"
                  "\"full_name\",\"value\":\"X\"}]},{\"key\":\"b\",\"claims\":[{\"field\":"
                  "\"date_of_birth\",\"value\":\"1\"},{\"field\":\"full_name\","
                  "\"value\":\"Y\"}]}]}",
                  1);
    Lienthong__VerifyRequest *q = lt_apireq_verify(r);
    CU_ASSERT_FATAL(q->n_subjects == 2 && q->n_keys == 0 && q->n_claims == 0);
    CU_ASSERT_STRING_EQUAL(q->subjects[1]->key, "b");
    CU_ASSERT_FATAL(q->subjects[1]->n_claims == 2);
    CU_ASSERT_STRING_EQUAL(q->subjects[1]->claims[1]->value, "Y");
    CU_ASSERT_STRING_EQUAL(lt_apireq_claim_field(r, 1, 0), "date_of_birth");
    CU_ASSERT_STRING_EQUAL(lt_apireq_claim_field(r, 0, 1), "?");
    CU_ASSERT_STRING_EQUAL(lt_apireq_claim_field(r, 2, 0), "?");
    expect_fields_and_destroy(&r, "full_name,date_of_birth,full_name,");
}

#define PCOMMON                                                                                    \
    "\"key\":\"038090000002\",\"purpose\":\"PREFILL\",\"officer\":\"o\",\"case_ref\":\"c\""

/* A profile body (PROTOCOL.md 7.7): parts with their fields, in order. */
static void test_profile(void)
{
    lt_apireq_t *r = decode("{" PCOMMON ",\"timeout_ms\":3000,\"parts\":[{\"dataset\":\"A\","
                            "\"fields\":[\"f1\",\"f2\"]},{\"dataset\":\"B\",\"fields\":[\"g\"]}]}",
                            LT_APIREQ_PROFILE);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_PTR_NULL(lt_apireq_lookup(r));
    CU_ASSERT_PTR_NULL(lt_apireq_verify(r));
    Lienthong__ProfileRequest *q = lt_apireq_profile(r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    CU_ASSERT_STRING_EQUAL(q->key, "038090000002");
    CU_ASSERT_EQUAL(q->n_parts, 2);
    CU_ASSERT_STRING_EQUAL(q->parts[1]->dataset, "B");
    CU_ASSERT_EQUAL(lt_apireq_timeout_ms(r), 3000);
    expect_fields_and_destroy(&r, "f1,f2,g,");
    static const refusal_t cases[] = {
        {"{" PCOMMON "}", LT_APIREQ_PROFILE, "parts: required"},
        {"{" PCOMMON ",\"parts\":[]}", LT_APIREQ_PROFILE, "parts: must be an array of 1 to 16"},
        {"{" PCOMMON ",\"parts\":[{\"dataset\":\"A\"}]}", LT_APIREQ_PROFILE,
         "parts[0].fields: required"},
        {"{" PCOMMON ",\"parts\":[{\"dataset\":\"A\",\"fields\":[\"f\"]},{\"dataset\":\"A\","
         "\"fields\":[\"f\"]}]}",
         LT_APIREQ_PROFILE, "parts[1].dataset: \"A\" named twice"},
        {"{" PCOMMON ",\"parts\":[{\"dataset\":\"A\",\"fields\":[7]}]}", LT_APIREQ_PROFILE,
         "parts[0].fields[0]: must be a string"},
        {"{" PCOMMON ",\"parts\":[{\"dataset\":\"A\",\"fields\":[\"f\"],\"x\":1}]}",
         LT_APIREQ_PROFILE, "parts[0].x: unknown member"},
        {"{" PCOMMON ",\"dataset\":\"A\",\"parts\":[{\"dataset\":\"A\",\"fields\":[\"f\"]}]}",
         LT_APIREQ_PROFILE, "dataset: unknown member"},
        {"{" PCOMMON ",\"timeout_ms\":60001,\"parts\":[{\"dataset\":\"A\",\"fields\":[\"f\"]}]}",
         LT_APIREQ_PROFILE, "timeout_ms: must be a whole number from 1 to 60000"},
        {NULL, 0, NULL}};
    expect_all_refused(cases);
}

static void test_malformed(void)
{
    expect_refused("{\"dataset\": ", 0, "malformed JSON at line 1");
    expect_refused("", 1, "malformed JSON");
    expect_refused("{" COMMON ",\"key\":\"k\"} trailing", 0, "malformed JSON");
    expect_refused("[1]", 0, "body: must be a JSON object");
    expect_refused("{\"a\":1} {}", 1, "malformed JSON"); /* one document only */
    /* a repeated member is refused, not silently overwritten */
    lt_apireq_t *r = decode("{" COMMON ",\"key\":\"a\",\"key\":\"b\"}", 0);
    CU_ASSERT_PTR_NULL(r);
    CU_ASSERT(strstr(g_err, "duplicate") != NULL && strstr(g_err, "key") != NULL);
}

static void test_members(void)
{
    static const refusal_t cases[] = {
        {"{" COMMON ",\"key\":\"k\",\"colour\":\"red\"}", 0, "colour: unknown member"},
        {"{" COMMON ",\"key\":\"k\",\"keys\":[\"k\"]}", 0, "keys: unknown member"},
        {"{" COMMON ",\"key\":\"k\"}", 1, "key: unknown member"},
        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"case_ref\":\"c\",\"key\":\"k\"}", 0,
         "officer: required"},
        {"{\"dataset\":\"d\",\"purpose\":\"p\",\"officer\":\"o\",\"key\":\"k\"}", 0,
         "case_ref: required"},
        {"{" COMMON "}", 0, "key: required"},
        {"{" COMMON ",\"keys\":[\"k\"]}", 1, "give either keys and claims, or subjects"},
        {"{" COMMON ",\"claims\":[{\"field\":\"f\",\"value\":\"v\"}],\"subjects\":"
         "[{\"key\":\"k\",\"claims\":[{\"field\":\"f\",\"value\":\"v\"}]}]}",
         1, "give either keys and claims, or subjects"},
        {"{" COMMON ",\"subjects\":[{\"key\":\"k\",\"colour\":1}]}", 1,
         "subjects[0].colour: unknown member"},
        {"{" COMMON ",\"subjects\":[{\"key\":\"k\"}]}", 1, "subjects[0].claims: required"},
        {"{" COMMON ",\"keys\":[\"k\"],\"claims\":[{\"field\":\"f\",\"value\":\"v\","
         "\"op\":\"eq\"}]}",
         1, "claims[0].op: unknown member"},
        {NULL, 0, NULL},
    };
    expect_all_refused(cases);
}

static void test_types(void)
{
    static const refusal_t cases[] = {
        {"{\"dataset\":7,\"purpose\":\"p\",\"officer\":\"o\",\"case_ref\":\"c\","
         "\"key\":\"k\"}",
         0, "dataset: must be a string"},
        {"{" COMMON ",\"key\":[\"k\"]}", 0, "key: must be a string"},
        {"{" COMMON ",\"key\":\"k\",\"fields\":\"full_name\"}", 0, "fields: must be an array"},
        {"{" COMMON ",\"key\":\"k\",\"fields\":[\"a\",2]}", 0, "fields[1]: must be a string"},
        {"{" COMMON ",\"key\":\"k\",\"timeout_ms\":\"5\"}", 0, "timeout_ms: must be"},
        {"{" COMMON ",\"key\":\"k\",\"timeout_ms\":1.5}", 0, "timeout_ms: must be"},
        {"{" COMMON ",\"key\":\"k\",\"timeout_ms\":0}", 0, "timeout_ms: must be"},
        {"{" COMMON ",\"key\":\"k\",\"timeout_ms\":600001}", 0, "timeout_ms: must be"},
        {"{" COMMON ",\"keys\":[\"a\",\"b\",\"c\",null],\"claims\":[{\"field\":\"f\","
         "\"value\":\"v\"}]}",
         1, "keys[3]: must be a string"},
        {"{" COMMON ",\"keys\":[\"a\"],\"claims\":[\"f\"]}", 1, "claims[0]: must be an object"},
        {"{" COMMON ",\"keys\":[\"a\"],\"claims\":[{\"field\":\"f\",\"value\":\"v\"},"
         "{\"field\":\"g\",\"value\":3}]}",
         1, "claims[1].value: required, a string"},
        {"{" COMMON ",\"keys\":[\"a\"],\"claims\":[{\"value\":\"v\"}]}", 1,
         "claims[0].field: required"},
        {"{" COMMON ",\"subjects\":[{\"key\":\"k\",\"claims\":{}}]}", 1,
         "subjects[0].claims: must be an array"},
        {"{" COMMON ",\"subjects\":[{\"key\":\"k\",\"claims\":[{\"field\":\"f\","
         "\"value\":\"v\"}]},{\"key\":\"j\",\"claims\":[{\"field\":true,\"value\":\"v\"}]}]}",
         1, "subjects[1].claims[0].field: must be a string"},
        {"{" COMMON ",\"subjects\":[[]]}", 1, "subjects[0]: must be an object"},
        {NULL, 0, NULL},
    };
    expect_all_refused(cases);
}

/* Text that goes into the audit entries, printed a line each: a control
 * character could forge a line, so it is refused naming the member. */
static void test_control_characters(void)
{
    static const refusal_t cases[] = {
        {"{\"dataset\":\"d\",\"purpose\":\"KYC\",\"case_ref\":\"HS-1\",\"key\":\"k\","
         "\"officer\":\"x\\n    by application court-order-app, officer judge-7\"}",
         0, "officer: must not hold control characters"},
        {"{\"dataset\":\"d\",\"purpose\":\"KYC\",\"officer\":\"o\",\"key\":\"k\","
         "\"case_ref\":\"HS\\u007f1\"}",
         0, "case_ref: must not hold control characters"},
        {"{\"dataset\":\"d\",\"officer\":\"o\",\"case_ref\":\"c\",\"key\":\"k\","
         "\"purpose\":\"K\\tYC\"}",
         0, "purpose: must not hold control characters"},
        {"{" COMMON ",\"keys\":[\"a\\r\"],\"claims\":[{\"field\":\"f\",\"value\":\"v\"}]}", 1,
         "keys[0]: must not hold control characters"},
        {NULL, 0, NULL},
    };
    expect_all_refused(cases);
    /* A claim's value is compared, never printed: it may hold a line feed. */
    lt_apireq_t *r = decode_ok("{" COMMON ",\"keys\":[\"a\"],\"claims\":[{\"field\":\"address\","
                               "\"value\":\"1 Main St\\nHanoi\"}]}",
                               1);
    lt_apireq_destroy(&r);
}

/* Messages that quote the request stay valid UTF-8 when cut, so that the
 * answer can be encoded as JSON. */
static void test_messages_utf8(void)
{
    char body[2048], name[64];
    /* 63 ASCII bytes then a 2-byte character: a cut at 64 bytes splits it. */
    memset(name, 'a', sizeof name - 1);
    name[sizeof name - 1] = 0;
    snprintf(body, sizeof body, "{\"%s\xc3\xa9\":1}", name);
    lt_apireq_t *r = decode(body, 0);
    CU_ASSERT_PTR_NULL(r);
    CU_ASSERT(strstr(g_err, "unknown member") != NULL);
    CU_ASSERT(lt_valid_text(g_err));
    /* An unterminated string: jansson quotes the text near it, cut anywhere. */
    size_t at = (size_t)snprintf(body, sizeof body, "{\"dataset\":\"");
    for (int i = 0; i < 200; i++)
        at += (size_t)snprintf(body + at, sizeof body - at, "\xc3\xa9");
    r = decode(body, 0);
    CU_ASSERT_PTR_NULL(r);
    CU_ASSERT(strstr(g_err, "malformed JSON") != NULL);
    CU_ASSERT(lt_valid_text(g_err));
}

/* A JSON array of n strings "k0", "k1", ... into a fresh buffer. */
static char *string_array(size_t n)
{
    char *a = malloc(n * 12 + 3);
    CU_ASSERT_FATAL(a != NULL);
    size_t at = 0;
    a[at++] = '[';
    for (size_t i = 0; i < n; i++)
        at += (size_t)sprintf(a + at, "%s\"k%zu\"", i ? "," : "", i);
    a[at++] = ']';
    a[at] = 0;
    return a;
}

/* n bytes of 'x' in buf (of at least n + 1). */
static const char *xs(char *buf, size_t n)
{
    memset(buf, 'x', n);
    buf[n] = 0;
    return buf;
}

/* The limits are the protocol's (PROTOCOL.md Appendix B), written out here
 * so that a change of them shows: a claim's value 1024 bytes, a field name
 * 127, a dataset id 255. */
static void test_protocol_limits(void)
{
    char body[4096], x[1100];
    lt_apireq_t *r;
#define CLAIM_BODY(field, value)                                                                   \
    (snprintf(body, sizeof body,                                                                   \
              "{" COMMON ",\"keys\":[\"k\"],\"claims\":[{\"field\":\"%s\",\"value\":\"%s\"}]}",    \
              field, value),                                                                       \
     body)
    r = decode_ok(CLAIM_BODY("f", xs(x, 1024)), 1);
    lt_apireq_destroy(&r);
    expect_refused(CLAIM_BODY("f", xs(x, 1025)), 1,
                   "claims[0].value: required, a string of at most 1024 bytes");
    r = decode_ok(CLAIM_BODY(xs(x, 127), "v"), 1);
    lt_apireq_destroy(&r);
    expect_refused(CLAIM_BODY(xs(x, 128), "v"), 1, "claims[0].field: must be 1 to 127 bytes");
#undef CLAIM_BODY
    snprintf(body, sizeof body, "{" COMMON ",\"key\":\"k\",\"fields\":[\"%s\"]}", xs(x, 127));
    r = decode_ok(body, 0);
    lt_apireq_destroy(&r);
    snprintf(body, sizeof body, "{" COMMON ",\"key\":\"k\",\"fields\":[\"%s\"]}", xs(x, 128));
    expect_refused(body, 0, "fields[0]: must be a string of 1 to 127 bytes");
    snprintf(body, sizeof body,
             "{\"key\":\"k\",\"purpose\":\"p\",\"officer\":\"o\",\"case_ref\":\"c\","
             "\"parts\":[{\"dataset\":\"d\",\"fields\":[\"%s\"]}]}",
             xs(x, 128));
    expect_refused(body, LT_APIREQ_PROFILE, "parts[0].fields[0]: must be a string of 1 to 127");
    snprintf(body, sizeof body,
             "{\"dataset\":\"%s\",\"purpose\":\"p\",\"officer\":\"o\",\"case_ref\":\"c\","
             "\"key\":\"k\"}",
             xs(x, 255));
    r = decode_ok(body, 0);
    lt_apireq_destroy(&r);
    snprintf(body, sizeof body,
             "{\"dataset\":\"%s\",\"purpose\":\"p\",\"officer\":\"o\",\"case_ref\":\"c\","
             "\"key\":\"k\"}",
             xs(x, 256));
    expect_refused(body, 0, "dataset: must be 1 to 255 bytes");
}

static void test_limits(void)
{
    char body[16384], big[LT_APIREQ_MAX_KEY + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    snprintf(body, sizeof body, "{" COMMON ",\"key\":\"%s\"}", big);
    expect_refused(body, 0, "key: must be 1 to 256 bytes");
    big[LT_APIREQ_MAX_KEY] = 0; /* exactly the limit is fine */
    snprintf(body, sizeof body, "{" COMMON ",\"key\":\"%s\"}", big);
    lt_apireq_t *r = decode(body, 0);
    CU_ASSERT_PTR_NOT_NULL(r);
    lt_apireq_destroy(&r);
    big[LT_APIREQ_MAX_ID + 1] = 0;
    snprintf(body, sizeof body,
             "{\"dataset\":\"d\",\"purpose\":\"p\",\"officer\":\"%s\","
             "\"case_ref\":\"c\",\"key\":\"k\"}",
             big);
    expect_refused(body, 0, "officer: must be 1 to 128 bytes");
    expect_refused("{" COMMON ",\"key\":\"\"}", 0, "key: must be 1 to");
    /* NUL inside a string is refused by the parser, before any member is read */
    expect_refused("{" COMMON ",\"key\":\"a\\u0000b\"}", 0, "malformed JSON");
    expect_refused("{" COMMON ",\"key\":\"k\",\"fields\":[]}", 0,
                   "fields: must be an array of 1 to 64 elements");
    expect_refused("{" COMMON
                   ",\"keys\":[\"a\"],\"claims\":[{\"field\":\"f\",\"value\":\"v\\u0000\"}]}",
                   1, "malformed JSON");
    char *keys = string_array(LT_APIREQ_MAX_KEYS + 1);
    char *many = malloc(strlen(keys) + 256);
    CU_ASSERT_FATAL(many != NULL);
    sprintf(many, "{" COMMON ",\"keys\":%s,\"claims\":[{\"field\":\"f\",\"value\":\"v\"}]}", keys);
    expect_refused(many, 1, "keys: must be an array of 1 to 1024 elements");
    free(keys);
    keys = string_array(LT_APIREQ_MAX_KEYS);
    sprintf(many, "{" COMMON ",\"keys\":%s,\"claims\":[{\"field\":\"f\",\"value\":\"v\"}]}", keys);
    r = decode(many, 1);
    CU_ASSERT_PTR_NOT_NULL(r);
    if (r)
        CU_ASSERT(lt_apireq_verify(r)->n_keys == LT_APIREQ_MAX_KEYS);
    lt_apireq_destroy(&r);
    free(keys);
    free(many);
    char *fields = string_array(LT_APIREQ_MAX_CLAIMS + 1);
    snprintf(body, sizeof body, "{" COMMON ",\"key\":\"k\",\"fields\":%s}", fields);
    expect_refused(body, 0, "fields: must be an array of 1 to 64 elements");
    free(fields);
}

/* Bytes the process has allocated now. AddressSanitizer's allocator does
 * not fill mallinfo2, so under it the count comes from the sanitizer's own
 * interface: the bound below is checked in both builds. */
static size_t in_use(void)
{
#if LT_UNDER_ASAN
    return __sanitizer_get_current_allocated_bytes();
#else
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
#endif
}

/* A verify with subjects takes room for the claims it holds: 1,024
 * subjects of one claim each took room for 64 claims each (65,536 claims,
 * about 3 MB a request); their claims are each subject's own. */
static void test_subject_claims_room(void)
{
    size_t cap = (size_t)LT_APIREQ_MAX_KEYS * 64 + 256, at = 0;
    char *body = malloc(cap);
    CU_ASSERT_FATAL(body != NULL);
    at += (size_t)snprintf(body, cap, "{" COMMON ",\"subjects\":[");
    for (size_t i = 0; i < LT_APIREQ_MAX_KEYS; i++)
        at += (size_t)snprintf(
            body + at, cap - at,
            "%s{\"key\":\"k%zu\",\"claims\":[{\"field\":\"f\",\"value\":\"v%zu\"}]}", i ? "," : "",
            i, i);
    snprintf(body + at, cap - at, "]}");
    /* what the JSON tree alone takes, then the whole request */
    size_t before = in_use();
    json_t *tree = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
    size_t json_bytes = in_use() - before;
    json_decref(tree);
    before = in_use();
    lt_apireq_t *r = decode(body, 1);
    size_t request_bytes = in_use() - before;
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    Lienthong__VerifyRequest *q = lt_apireq_verify(r);
    CU_ASSERT_FATAL(q->n_subjects == LT_APIREQ_MAX_KEYS);
    CU_ASSERT(q->subjects[1023]->n_claims == 1);
    CU_ASSERT_STRING_EQUAL(q->subjects[1023]->claims[0]->value, "v1023");
    size_t room = request_bytes > json_bytes ? request_bytes - json_bytes : 0;
    if (room >= 512 * 1024)
        fprintf(stderr, "\n  the request took %zu bytes beside its JSON\n", room);
    CU_ASSERT(room < 512 * 1024);
    lt_apireq_destroy(&r);
    free(body);
    /* subjects of 1, 3 and 2 claims: each sees its own */
    r = decode_ok("{" COMMON ",\"subjects\":[{\"key\":\"a\",\"claims\":[{\"field\":\"f\","
                  "\"value\":\"a1\"}]},{\"key\":\"b\",\"claims\":[{\"field\":\"f\",\"value\":"
                  "\"b1\"},{\"field\":\"g\",\"value\":\"b2\"},{\"field\":\"h\",\"value\":\"b3\"}]},"
                  "{\"key\":\"c\",\"claims\":[{\"field\":\"f\",\"value\":\"c1\"},{\"field\":"
                  "\"g\",\"value\":\"c2\"}]}]}",
                  1);
    q = lt_apireq_verify(r);
    CU_ASSERT_FATAL(q->n_subjects == 3);
    CU_ASSERT(q->subjects[0]->n_claims == 1 && q->subjects[1]->n_claims == 3 &&
              q->subjects[2]->n_claims == 2);
    CU_ASSERT_STRING_EQUAL(q->subjects[0]->claims[0]->value, "a1");
    CU_ASSERT_STRING_EQUAL(q->subjects[1]->claims[2]->value, "b3");
    CU_ASSERT_STRING_EQUAL(q->subjects[2]->key, "c");
    CU_ASSERT_STRING_EQUAL(q->subjects[2]->claims[0]->value, "c1");
    CU_ASSERT_STRING_EQUAL(q->subjects[2]->claims[1]->field, "g");
    CU_ASSERT_STRING_EQUAL(lt_apireq_claim_field(r, 1, 1), "g");
    lt_apireq_destroy(&r);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"lookup body, optional members", test_lookup},
        {"verify with keys and claims", test_verify_keys},
        {"verify with subjects", test_verify_subjects},
        {"verify with subjects: room for the claims they hold", test_subject_claims_room},
        {"malformed JSON, not an object, duplicate member", test_malformed},
        {"unknown and missing members are named", test_members},
        {"wrong types are named with their index", test_types},
        {"sizes, NUL and list limits", test_limits},
        {"the protocol's limits: claim value 1024, field name 127, dataset 255 bytes",
         test_protocol_limits},
        {"profile body: parts, fields, refusals", test_profile},
        {"control characters in audited text are refused", test_control_characters},
        {"messages quoting the request stay valid UTF-8", test_messages_utf8},
        {NULL, NULL},
    };
    return ut_main("lt_apireq", NULL, NULL, tests);
}

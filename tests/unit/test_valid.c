/* test_valid: CUnit suite for core/lt_valid, the field checks of received
 * messages (PROTOCOL.md 4.2 checks 8 and 10, 4.5, 6.2, 7.1, 7.5, 7.6, 8.5): the
 * UTF-8 walk over exact bytes at every depth, sanitising outgoing text,
 * and one check per request body with the code it answers. */
#include "unit_util.h"
#include "lt_limits.h"
#include "lt_valid.h"
#include "lt_wire.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <unistr.h>

static int suite_init(void)
{
    return 0;
}

static int suite_clean(void)
{
    return 0;
}

/* Packs env and runs the UTF-8 walk over it; where gets the path. */
static int s_walk(const Lienthong__Envelope *env, char *where, size_t wlen)
{
    size_t len = lienthong__envelope__get_packed_size(env);
    uint8_t *buf = malloc(len ? len : 1);
    CU_ASSERT_FATAL(buf != NULL);
    lienthong__envelope__pack(env, buf);
    int rc = lt_valid_utf8(&lienthong__envelope__descriptor, buf, len, where, wlen);
    free(buf);
    return rc;
}

static void test_utf8_valid_text_passes(void)
{
    char where[64];
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = "VN/GOV/BCA/d\xc3\xa2n c\xc6\xb0"; /* "dân cư" */
    m.from_seq = 1;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_SUBSCRIBE;
    env.subscribe = &m;
    CU_ASSERT(s_walk(&env, where, sizeof where) == 0);
    CU_ASSERT_STRING_EQUAL(where, "");
}

static void test_utf8_names_the_field(void)
{
    static const char *bad[] = {"\xff", "\xc3(", "\xe1\xbb", "\xed\xa0\x80" /* surrogate */,
                                "\xc0\xaf" /* overlong */};
    char where[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
        m.stream = (char *)bad[i];
        Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
        env.version = 1;
        env.body_case = LIENTHONG__ENVELOPE__BODY_SUBSCRIBE;
        env.subscribe = &m;
        CU_ASSERT(s_walk(&env, where, sizeof where) == -1);
        CU_ASSERT_STRING_EQUAL(where, "subscribe.stream");
    }
}

/* Nested messages, repeated fields, and the first bad one named. */
static void test_utf8_nested_and_repeated(void)
{
    char where[64];
    Lienthong__Claim c0 = LIENTHONG__CLAIM__INIT, c1 = LIENTHONG__CLAIM__INIT;
    Lienthong__Claim *claims[] = {&c0, &c1};
    c0.field = "full_name";
    c0.value = "An";
    c1.field = "date_of_birth";
    c1.value = "19\xff";
    Lienthong__Subject s = LIENTHONG__SUBJECT__INIT, *sp = &s;
    s.key = "001";
    s.claims = claims;
    s.n_claims = 2;
    Lienthong__VerifyRequest q = LIENTHONG__VERIFY_REQUEST__INIT;
    q.request_id = 1;
    q.dataset = "VN/GOV/BCA/population";
    q.subjects = &sp;
    q.n_subjects = 1;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    env.verify_request = &q;
    CU_ASSERT(s_walk(&env, where, sizeof where) == -1);
    CU_ASSERT_STRING_EQUAL(where, "verify_request.subjects.claims.value");
    c1.value = "1990-01-02";
    Lienthong__OnBehalf who = LIENTHONG__ON_BEHALF__INIT;
    who.application = "hr";
    who.officer = "c\xe1"; /* cut in the middle of a character */
    env.on_behalf = &who;
    CU_ASSERT(s_walk(&env, where, sizeof where) == -1);
    CU_ASSERT_STRING_EQUAL(where, "on_behalf.officer");
    who.officer = "c\xc3\xa1";
    CU_ASSERT(s_walk(&env, where, sizeof where) == 0);
}

/* A NUL would cut the string for C receivers only (4.5); bytes fields are
 * not strings; unknown fields are skipped; a broken encoding fails. */
static void test_utf8_nul_bytes_unknown_broken(void)
{
    char where[64];
    const uint8_t nul[] = {0x08, 0x01, 0xa2, 0x01, 0x05, 0x0a, 0x03, 'a', 0x00, 'b'};
    CU_ASSERT(lt_valid_utf8(&lienthong__envelope__descriptor, nul, sizeof nul, where,
                            sizeof where) == -1);
    CU_ASSERT_STRING_EQUAL(where, "subscribe.stream");
    /* prev_hash (bytes) may hold anything */
    const uint8_t hash[] = {0x08, 0x01, 0xa2, 0x01, 0x06, 0x0a, 0x01, 'a', 0x22, 0x01, 0xff};
    CU_ASSERT(lt_valid_utf8(&lienthong__envelope__descriptor, hash, sizeof hash, where,
                            sizeof where) == 0);
    /* field 99 of Subscribe is unknown: skipped, whatever it holds */
    const uint8_t unknown[] = {0x08, 0x01, 0xa2, 0x01, 0x04, 0x9a, 0x06, 0x01, 0xff};
    CU_ASSERT(lt_valid_utf8(&lienthong__envelope__descriptor, unknown, sizeof unknown, where,
                            sizeof where) == 0);
    const uint8_t cut[] = {0x08, 0x01, 0xa2, 0x01, 0x09, 0x0a};
    CU_ASSERT(lt_valid_utf8(&lienthong__envelope__descriptor, cut, sizeof cut, where,
                            sizeof where) == -1);
    /* Inside Subscribe, a length that runs past the end: the path names
     * where the encoding broke; a short buffer holds the path cut, ended. */
    const uint8_t deep[] = {0x08, 0x01, 0xa2, 0x01, 0x02, 0x0a, 0x05};
    CU_ASSERT(lt_valid_utf8(&lienthong__envelope__descriptor, deep, sizeof deep, where,
                            sizeof where) == -1);
    CU_ASSERT_STRING_EQUAL(where, "subscribe.(encoding)");
    char small[8];
    CU_ASSERT(lt_valid_utf8(&lienthong__envelope__descriptor, nul, sizeof nul, small,
                            sizeof small) == -1);
    CU_ASSERT_STRING_EQUAL(small, "subscri");
    CU_ASSERT(lt_valid_utf8(&lienthong__envelope__descriptor, nul, sizeof nul, small, 0) == -1);
}

/* 1 when the walk takes text as Subscribe.stream, which must agree with
 * libunistring's check of the whole text plus "no NUL". */
static int s_stream_ok(const uint8_t *text, size_t n)
{
    uint8_t msg[2 + 64];
    char where[64];
    CU_ASSERT_FATAL(n <= 64);
    msg[0] = 0x0a; /* field 1, length-delimited */
    msg[1] = (uint8_t)n;
    memcpy(msg + 2, text, n);
    int got =
        lt_valid_utf8(&lienthong__subscribe__descriptor, msg, n + 2, where, sizeof where) == 0;
    int want = memchr(text, 0, n) == NULL && u8_check(text, n) == NULL;
    CU_ASSERT_EQUAL(got, want);
    return got;
}

/* The ASCII fast path (eight bytes at a time, then byte by byte) hands
 * over to libunistring at the right byte: a NUL, a stray byte >= 0x80, a
 * cut sequence or a valid one at every offset of texts of 0 to 40 bytes. */
static void test_utf8_ascii_prefixes(void)
{
    static const char *tails[] = {"",
                                  "\x00",
                                  "\x80",
                                  "\xc3",
                                  "\xc3\xa2",
                                  "\xe1\xbb\x85",
                                  "\xff",
                                  "\xf0\x9f\x98\x80",
                                  "\xed\xa0\x80"};
    uint8_t text[64];
    int accepted = 0, refused = 0;
    for (size_t len = 0; len <= 40; len++)
        for (size_t t = 0; t < sizeof tails / sizeof *tails; t++) {
            size_t tl = t == 1 ? 1 : strlen(tails[t]);
            for (size_t at = 0; at + tl <= len; at++) {
                memset(text, 'a' + (int)(len % 26), len);
                memcpy(text + at, tails[t], tl);
                if (s_stream_ok(text, len))
                    accepted++;
                else
                    refused++;
            }
        }
    CU_ASSERT(accepted > 0 && refused > 0);
}

static void test_sanitise(void)
{
    char s[] = "ok \xc3\xa0 \xff\xfe end \xe1\xbb";
    CU_ASSERT_STRING_EQUAL(lt_valid_sanitise(s), "ok \xc3\xa0 ?? end ??");
    CU_ASSERT(lt_valid_text(s));
    CU_ASSERT(!lt_valid_text("\xc3("));
}

/* Text for an audit entry (a purpose, a case reference, an officer): no C0
 * control, DEL or C1 control; other characters, Vietnamese included, pass
 * (PROTOCOL.md 7.1). */
static void test_plain(void)
{
    CU_ASSERT_TRUE(lt_valid_plain("HS-2026/0815 h\xe1\xbb\x93 s\xc6\xa1"));
    CU_ASSERT_TRUE(lt_valid_plain(""));
    CU_ASSERT_TRUE(lt_valid_plain("\xc2\xa0 \xc2\xa9")); /* NBSP and (c) are text */
    CU_ASSERT_FALSE(lt_valid_plain("line\nforged"));
    CU_ASSERT_FALSE(lt_valid_plain("del\x7f"));
    CU_ASSERT_FALSE(lt_valid_plain("csi \xc2\x9b"
                                   "2J"));
    CU_ASSERT_FALSE(lt_valid_plain("\xc2\x80"));
    CU_ASSERT_FALSE(lt_valid_plain("end \xc2\x9f"));
}

static void test_record_key(void)
{
    char key[LT_RECORD_KEY_MAX + 2];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = 0; /* LT_RECORD_KEY_MAX + 1 bytes */
    CU_ASSERT_FALSE(lt_valid_key(key));
    key[LT_RECORD_KEY_MAX] = 0;
    CU_ASSERT_TRUE(lt_valid_key(key));
    CU_ASSERT_TRUE(lt_valid_key("0"));
    CU_ASSERT_FALSE(lt_valid_key(""));
}

/* Source cursors (PROTOCOL.md 8.1): digits only, 0 to 2^63 - 1. */
static void test_source_cursor(void)
{
    static const struct {
        const char *text;
        int rc;
        uint64_t v;
    } cases[] = {
        {"", 0, 0},
        {"0", 0, 0},
        {"7", 0, 7},
        {"0007", 0, 7},
        {"9223372036854775807", 0, 9223372036854775807ULL},
        {"9223372036854775808", -1, 0},
        {"18446744073709551615", -1, 0},
        {"99999999999999999999", -1, 0},
        {"-1", -1, 0},
        {"+7", -1, 0},
        {" 7", -1, 0},
        {"7 ", -1, 0},
        {"7x", -1, 0},
        {"0x10", -1, 0},
        {"1e3", -1, 0},
        {"\xd9\xa3", -1, 0}, /* ARABIC-INDIC DIGIT THREE is not a digit here */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint64_t v = 12345;
        int rc = lt_valid_cursor(cases[i].text, &v);
        CU_ASSERT_EQUAL(rc, cases[i].rc);
        CU_ASSERT_EQUAL(v, cases[i].v);
        if (rc != cases[i].rc || v != cases[i].v)
            fprintf(stderr, "cursor '%s': %d %llu\n", cases[i].text, rc, (unsigned long long)v);
    }
    uint64_t v = 1;
    CU_ASSERT_EQUAL(lt_valid_cursor(NULL, &v), 0);
    CU_ASSERT_EQUAL(v, 0);
}

static void test_subscribe_fields(void)
{
    char err[256];
    uint8_t h[33] = {0};
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = "VN/GOV/BCA/population";
    m.from_seq = 1;
    CU_ASSERT_EQUAL(lt_valid_subscribe(&m, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    m.from_seq = 0;
    CU_ASSERT_EQUAL(lt_valid_subscribe(&m, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strncmp(err, "VN/GOV/BCA/population: ", 23) == 0); /* 4.4: stream first */
    m.from_seq = 1;
    m.prev_hash = (ProtobufCBinaryData){32, h};
    CU_ASSERT_EQUAL(lt_valid_subscribe(&m, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    m.from_seq = 5;
    CU_ASSERT_EQUAL(lt_valid_subscribe(&m, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    size_t lens[] = {0, 5, 33};
    for (size_t i = 0; i < 3; i++) {
        m.prev_hash.len = lens[i];
        CU_ASSERT_EQUAL(lt_valid_subscribe(&m, err, sizeof err),
                        LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    }
    m.stream = "";
    CU_ASSERT_EQUAL(lt_valid_subscribe(&m, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "subscribe.stream") != NULL);
}

static void test_snapshot_fields(void)
{
    char err[256];
    uint8_t sig[65] = {0}, root[33] = {0};
    ProtobufCBinaryData rec = {3, (uint8_t *)"abc"};
    Lienthong__SnapshotChunk c = LIENTHONG__SNAPSHOT_CHUNK__INIT;
    c.stream = "VN/GOV/BCA/population";
    c.n_records = 1;
    c.records = &rec;
    c.signature = (ProtobufCBinaryData){64, sig};
    CU_ASSERT_EQUAL(lt_valid_snapshot_chunk(&c, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    c.signature.len = 65;
    CU_ASSERT_EQUAL(lt_valid_snapshot_chunk(&c, err, sizeof err),
                    LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strncmp(err, "VN/GOV/BCA/population: ", 23) == 0);
    c.signature.len = 64;
    c.n_records = 0;
    CU_ASSERT_EQUAL(lt_valid_snapshot_chunk(&c, err, sizeof err),
                    LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    c.n_records = 1025;
    CU_ASSERT_EQUAL(lt_valid_snapshot_chunk(&c, err, sizeof err),
                    LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
    c.n_records = 1;
    c.stream = "";
    CU_ASSERT_EQUAL(lt_valid_snapshot_chunk(&c, err, sizeof err),
                    LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "snapshot_chunk.stream") != NULL);

    Lienthong__SnapshotEnd e = LIENTHONG__SNAPSHOT_END__INIT;
    e.stream = "VN/GOV/BCA/population";
    e.signature = (ProtobufCBinaryData){64, sig};
    e.state_root = (ProtobufCBinaryData){32, root};
    CU_ASSERT_EQUAL(lt_valid_snapshot_end(&e, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    e.state_root.len = 33;
    CU_ASSERT_EQUAL(lt_valid_snapshot_end(&e, err, sizeof err),
                    LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "state_root") != NULL);
    e.state_root.len = 32;
    e.signature.len = 0;
    CU_ASSERT_EQUAL(lt_valid_snapshot_end(&e, err, sizeof err),
                    LIENTHONG__ERROR_CODE__ERR_MALFORMED);
}

static void test_lookup_fields(void)
{
    char err[256], *fields[LT_QUERY_MAX_FIELDS + 1];
    for (size_t i = 0; i <= LT_QUERY_MAX_FIELDS; i++)
        fields[i] = "full_name";
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = 7;
    q.dataset = "VN/GOV/BCA/population";
    q.key = "001";
    q.fields = fields;
    q.n_fields = LT_QUERY_MAX_FIELDS;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.n_fields++;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
    q.n_fields = 0; /* every field (7.5) */
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.request_id = 0;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "request_id") != NULL);
    q.request_id = 7;
    q.key = "";
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    q.key = "001";
    q.dataset = "";
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
}

/* timeout_ms of a lookup or a verify (PROTOCOL.md 7.1): 0 (absent) to 10
 * minutes, which the owner's deduplication covers; over it ERR_MALFORMED
 * naming the field and the value. */
static void test_query_timeout(void)
{
    char err[256], *keys[] = {"001"};
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = 7;
    q.dataset = "VN/GOV/BCA/population";
    q.key = "001";
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *claims[] = {&c};
    c.field = "full_name";
    c.value = "x";
    Lienthong__VerifyRequest v = LIENTHONG__VERIFY_REQUEST__INIT;
    v.request_id = 9;
    v.dataset = "VN/GOV/BCA/population";
    v.keys = keys;
    v.n_keys = 1;
    v.claims = claims;
    v.n_claims = 1;
    uint32_t ok[] = {0, 1, 5000, LT_QUERY_MAX_AHEAD_MS};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        q.timeout_ms = v.timeout_ms = ok[i];
        CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
        CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    }
    q.timeout_ms = v.timeout_ms = LT_QUERY_MAX_AHEAD_MS + 1;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "lookup_request.timeout_ms 600001 is over 600000") != NULL);
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "verify_request.timeout_ms 600001 is over 600000") != NULL);
    q.timeout_ms = v.timeout_ms = UINT32_MAX;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "4294967295") != NULL);
}

/* A profile (PROTOCOL.md 7.7): id, key, deadline, 1 to 16 distinct parts. */
static void test_profile_fields(void)
{
    char err[256];
    Lienthong__ProfilePart parts[LT_PROFILE_MAX_PARTS + 1], *ptrs[LT_PROFILE_MAX_PARTS + 1];
    static char names[LT_PROFILE_MAX_PARTS + 1][16];
    for (size_t i = 0; i <= LT_PROFILE_MAX_PARTS; i++) {
        lienthong__profile_part__init(&parts[i]);
        snprintf(names[i], sizeof names[i], "DS%zu", i);
        parts[i].dataset = names[i];
        ptrs[i] = &parts[i];
    }
    Lienthong__ProfileRequest q = LIENTHONG__PROFILE_REQUEST__INIT;
    q.request_id = 9;
    q.key = "001";
    q.parts = ptrs;
    q.n_parts = LT_PROFILE_MAX_PARTS;
    q.deadline_ms = LT_PROFILE_MAX_MS;
    CU_ASSERT_EQUAL(lt_valid_profile(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.n_parts++;
    CU_ASSERT_EQUAL(lt_valid_profile(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
    q.n_parts = 0;
    CU_ASSERT_EQUAL(lt_valid_profile(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    q.n_parts = 2;
    q.deadline_ms++;
    CU_ASSERT_EQUAL(lt_valid_profile(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "60001") != NULL);
    q.deadline_ms = 0; /* the default */
    parts[1].dataset = names[0];
    CU_ASSERT_EQUAL(lt_valid_profile(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "\"DS0\" named twice") != NULL);
    parts[1].dataset = "";
    CU_ASSERT_EQUAL(lt_valid_profile(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    parts[1].dataset = names[1];
    q.key = "";
    CU_ASSERT_EQUAL(lt_valid_profile(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    q.key = "001";
    q.request_id = 0;
    CU_ASSERT_EQUAL(lt_valid_profile(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
}

static void test_verify_fields(void)
{
    char err[256];
    static char *keys[LT_QUERY_MAX_KEYS + 1], key_text[LT_QUERY_MAX_KEYS + 1][8];
    static char field_text[LT_QUERY_MAX_CLAIMS + 1][8];
    static Lienthong__Claim c[LT_QUERY_MAX_CLAIMS + 1], *claims[LT_QUERY_MAX_CLAIMS + 1];
    for (size_t i = 0; i <= LT_QUERY_MAX_KEYS; i++) { /* each key once (7.6) */
        snprintf(key_text[i], sizeof key_text[i], "%04zu", i);
        keys[i] = key_text[i];
    }
    for (size_t i = 0; i <= LT_QUERY_MAX_CLAIMS; i++) { /* each field once */
        lienthong__claim__init(&c[i]);
        snprintf(field_text[i], sizeof field_text[i], "f%zu", i);
        c[i].field = field_text[i];
        claims[i] = &c[i];
    }
    Lienthong__Subject s = LIENTHONG__SUBJECT__INIT, *sp = &s;
    s.key = "001";
    s.claims = claims;
    s.n_claims = 1;
    Lienthong__VerifyRequest q = LIENTHONG__VERIFY_REQUEST__INIT;
    q.request_id = 9;
    q.dataset = "VN/GOV/BCA/population";
    q.keys = keys;
    q.n_keys = LT_QUERY_MAX_KEYS;
    q.claims = claims;
    q.n_claims = LT_QUERY_MAX_CLAIMS;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.n_keys++;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
    q.n_keys = 1;
    q.n_claims++;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
    q.n_claims = 0;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    q.n_claims = 1;
    q.n_keys = 0;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    q.subjects = &sp;
    q.n_subjects = 1;
    q.n_claims = 0;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.n_keys = 1; /* both forms */
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    q.n_keys = 0;
    s.n_claims = 0;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    s.n_claims = LT_QUERY_MAX_CLAIMS + 1;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
}

/* Two claims on one field of a key (the shared claims, or one subject's)
 * are refused (7.6); a key named again, in keys or in another subject with
 * its own claims, is not: the owner's budget counts each claim. */
static void test_verify_repeats(void)
{
    char err[256];
    char *keys[] = {"001", "002", "003", "002"};
    Lienthong__Claim c[3], *claims[3];
    const char *fields[] = {"full_name", "date_of_birth", "date_of_birth"};
    for (size_t i = 0; i < 3; i++) {
        lienthong__claim__init(&c[i]);
        c[i].field = (char *)fields[i];
        c[i].value = "1990-01-01";
        claims[i] = &c[i];
    }
    Lienthong__VerifyRequest q = LIENTHONG__VERIFY_REQUEST__INIT;
    q.request_id = 9;
    q.dataset = "VN/GOV/BCA/population";
    q.keys = keys;
    q.n_keys = 3;
    q.claims = claims;
    q.n_claims = 2;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.n_keys = 4; /* "002" again */
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.n_keys = 3;
    q.n_claims = 3;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "verify_request: two claims on field \"date_of_birth\"");

    /* The same with subjects: a key in two subjects, a field twice in one. */
    Lienthong__Subject s[2], *sp[2];
    for (size_t i = 0; i < 2; i++) {
        lienthong__subject__init(&s[i]);
        s[i].key = keys[1 + 2 * i]; /* "002" twice */
        s[i].claims = claims;
        s[i].n_claims = 2;
        sp[i] = &s[i];
    }
    q.n_keys = q.n_claims = 0;
    q.subjects = sp;
    q.n_subjects = 2; /* two subscribers giving one citizen's id */
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    s[1].key = "004";
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    s[1].claims = claims + 1; /* date_of_birth twice */
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err,
                           "verify_request: subjects[1] has two claims on field \"date_of_birth\"");
    /* A field in two subjects, each on another key, is one guess per key. */
    s[1].claims = claims;
    s[1].n_claims = 3;
    s[1].claims = claims + 1;
    s[1].n_claims = 1;
    CU_ASSERT_EQUAL(lt_valid_verify(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
}

/* A field name is a record field's: letters, digits and '_' (PROTOCOL.md
 * 7.5, 7.6). Before, only its length was checked, and a claim on the
 * unknown field "date_of_birth,full_name" was audited as two fields. */
static void test_field_name_characters(void)
{
    char err[256], *fields[] = {"full_name", "date_of_birth,full_name"}, *keys[] = {"001"};
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = 9;
    q.dataset = "VN/GOV/BCA/population";
    q.key = "001";
    q.fields = fields;
    q.n_fields = 1;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.n_fields = 2;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "lookup_request.fields[1] holds byte 0x2c at offset 13"));
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *cp = &c;
    c.field = "Date_of_birth_2";
    c.value = "1990-01-02";
    Lienthong__VerifyRequest v = LIENTHONG__VERIFY_REQUEST__INIT;
    v.request_id = 9;
    v.dataset = "VN/GOV/BCA/population";
    v.keys = keys;
    v.n_keys = 1;
    v.claims = &cp;
    v.n_claims = 1;
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    c.field = "date_of_birth,full_name";
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "verify_request.claims[0].field holds byte 0x2c"));
    c.field = "full name";
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    Lienthong__Subject s = LIENTHONG__SUBJECT__INIT, *sp = &s;
    s.key = "001";
    s.claims = &cp;
    s.n_claims = 1;
    v.n_keys = v.n_claims = 0;
    v.subjects = &sp;
    v.n_subjects = 1;
    c.field = "full-name";
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(err, "verify_request.subjects[0].claims[0].field holds byte 0x2d"));
    /* No field is named "": before, a claim or a field asked for on it
     * passed. */
    c.field = "";
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "verify_request.subjects[0].claims[0].field must not be empty");
    v.n_subjects = 0;
    v.n_keys = v.n_claims = 1;
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "verify_request.claims[0].field must not be empty");
    fields[1] = "";
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "lookup_request.fields[1] must not be empty");
}

/* A text of n bytes of c, for the length limits (free it). */
static char *s_text(size_t n, char c)
{
    char *t = malloc(n + 1);
    CU_ASSERT_FATAL(t != NULL);
    memset(t, c, n);
    t[n] = 0;
    return t;
}

/* The lengths of what a lookup, verify or profile carries into the audit
 * log and the deduplication (PROTOCOL.md 7.1, 7.6, 7.7): a key is a record
 * key, a dataset a stream id, purpose and case_ref 128 bytes, a claim's
 * value 1024; past each, ERR_MALFORMED naming the field, its length and
 * the limit. */
static void test_query_lengths(void)
{
    char err[256];
    char *key = s_text(LT_RECORD_KEY_MAX, '7'), *big = s_text(4u << 20, 'A');
    char *text = s_text(LT_QUERY_MAX_TEXT, 'p'), *ds = s_text(LT_STREAM_ID_MAX - 1, 'd');
    char *value = s_text(LT_QUERY_MAX_CLAIM_VALUE, 'v');
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = 7;
    q.dataset = ds;
    q.key = key; /* each exactly at its limit */
    q.purpose = text;
    q.case_ref = text;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.key = big;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "lookup_request.key is 4194304 bytes; at most 256");
    q.key = key;
    q.dataset = big + 1;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "lookup_request.dataset is 4194303 bytes; at most 255");
    q.dataset = ds;
    q.purpose = big;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "lookup_request.purpose is 4194304 bytes; at most 128") != NULL);
    q.purpose = text;
    q.case_ref = big;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "lookup_request.case_ref") != NULL);

    /* Each key at its limit and each once (7.6): the key's first bytes
     * its index. */
    static char *keys[LT_QUERY_MAX_KEYS], key_text[LT_QUERY_MAX_KEYS][LT_RECORD_KEY_MAX + 1];
    for (size_t i = 0; i < LT_QUERY_MAX_KEYS; i++) {
        memcpy(key_text[i], key, LT_RECORD_KEY_MAX + 1);
        snprintf(key_text[i], 5, "%04zu", i);
        key_text[i][4] = '7'; /* where snprintf put its NUL */
        keys[i] = key_text[i];
    }
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *cp = &c;
    c.field = "full_name";
    c.value = value;
    Lienthong__VerifyRequest v = LIENTHONG__VERIFY_REQUEST__INIT;
    v.request_id = 9;
    v.dataset = ds;
    v.keys = keys;
    v.n_keys = LT_QUERY_MAX_KEYS;
    v.claims = &cp;
    v.n_claims = 1;
    v.purpose = text;
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    c.value = big; /* shared by 1024 keys: refused once */
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "verify_request.claims[0].value is 4194304 bytes; at most 1024");
    c.value = value;
    keys[3] = big;
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "verify_request.key 3 is 4194304 bytes; at most 256");
    keys[3] = key_text[3];
    v.case_ref = big;
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "verify_request.case_ref") != NULL);
    v.case_ref = "";
    Lienthong__Subject s[2], *sp[2] = {&s[0], &s[1]};
    Lienthong__Claim c2 = LIENTHONG__CLAIM__INIT, *c2p = &c2;
    c2.field = "full_name";
    c2.value = big;
    for (size_t i = 0; i < 2; i++) {
        lienthong__subject__init(&s[i]);
        s[i].key = keys[i];
        s[i].claims = &c2p;
        s[i].n_claims = 1;
    }
    v.n_keys = v.n_claims = 0;
    v.subjects = sp;
    v.n_subjects = 2;
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "verify_request.subjects[0].claims[0].value is 4194304 bytes; "
                                "at most 1024");
    c2.value = value;
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);

    Lienthong__ProfilePart part = LIENTHONG__PROFILE_PART__INIT, *pp = &part;
    part.dataset = ds;
    Lienthong__ProfileRequest p = LIENTHONG__PROFILE_REQUEST__INIT;
    p.request_id = 11;
    p.key = key;
    p.purpose = text;
    p.parts = &pp;
    p.n_parts = 1;
    CU_ASSERT_EQUAL(lt_valid_profile(&p, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    p.key = big;
    CU_ASSERT_EQUAL(lt_valid_profile(&p, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT(strstr(err, "profile_request.key is 4194304 bytes") != NULL);
    p.key = key;
    p.purpose = big;
    CU_ASSERT_EQUAL(lt_valid_profile(&p, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    p.purpose = text;
    part.dataset = big + 1;
    CU_ASSERT_EQUAL(lt_valid_profile(&p, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "profile_request: part 0's dataset is 4194303 bytes; at most 255");
    part.dataset = ds;

    /* Field names: a record field's, at most LT_QUERY_MAX_FIELD_NAME bytes,
     * in a lookup, a profile part and a claim. */
    char *name = s_text(LT_QUERY_MAX_FIELD_NAME, 'f'), *names[2] = {name, big};
    q.case_ref = text;
    q.fields = names;
    q.n_fields = 1;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.n_fields = 2;
    CU_ASSERT_EQUAL(lt_valid_lookup(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "lookup_request.fields[1] is 4194304 bytes; at most 127");
    part.fields = names;
    part.n_fields = 2;
    CU_ASSERT_EQUAL(lt_valid_profile(&p, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, "profile_request.parts.fields[1] is 4194304 bytes; at most 127");
    c2.field = big;
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(
        err, "verify_request.subjects[0].claims[0].field is 4194304 bytes; at most 127");
    c2.field = name;
    CU_ASSERT_EQUAL(lt_valid_verify(&v, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    free(name);
    free(key);
    free(big);
    free(text);
    free(ds);
    free(value);
}

static void test_on_behalf_and_request_id(void)
{
    char err[256], longer[LT_ON_BEHALF_MAX + 2];
    memset(longer, 'a', sizeof longer - 1);
    longer[sizeof longer - 1] = 0;
    Lienthong__OnBehalf w = LIENTHONG__ON_BEHALF__INIT;
    w.application = "hr";
    w.officer = longer + 1; /* exactly the limit */
    CU_ASSERT_EQUAL(lt_valid_on_behalf(&w, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    CU_ASSERT_EQUAL(lt_valid_on_behalf(NULL, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    w.officer = longer;
    CU_ASSERT_EQUAL(lt_valid_on_behalf(&w, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
    p.request_id = 42;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.body_case = LIENTHONG__ENVELOPE__BODY_PUBLISH;
    env.publish = &p;
    CU_ASSERT_EQUAL(lt_valid_request_id(&env), 42);
    /* A repair's Range: its refusal echoes the id (PROTOCOL.md 6.10). */
    Lienthong__Range r = LIENTHONG__RANGE__INIT;
    r.request_id = 43;
    env.body_case = LIENTHONG__ENVELOPE__BODY_RANGE;
    env.range = &r;
    CU_ASSERT_EQUAL(lt_valid_request_id(&env), 43);
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    env.body_case = LIENTHONG__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    CU_ASSERT_EQUAL(lt_valid_request_id(&env), 0);
}

/* code is ERR_MALFORMED with the message want. */
static void expect_malformed(Lienthong__ErrorCode code, const char *err, const char *want)
{
    CU_ASSERT_EQUAL(code, LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_STRING_EQUAL(err, want);
}

/* A line feed, or any control character, in the text a request carries
 * into the audit log could forge a line of `lienthong audit` output: the
 * gateway refuses it from a local client, naming the field. */
static void test_control_characters(void)
{
    char err[256];
    Lienthong__OnBehalf w = LIENTHONG__ON_BEHALF__INIT;
    w.application = "hr";
    w.officer = "x\n    by application court-order-app, officer judge-7";
    expect_malformed(lt_valid_on_behalf(&w, err, sizeof err), err,
                     "on_behalf.officer holds a control character");
    w.officer = "can-bo-42";
    w.application = "hr\x7f";
    expect_malformed(lt_valid_on_behalf(&w, err, sizeof err), err,
                     "on_behalf.application holds a control character");
    w.application = "Ph\xc3\xb2ng h\xe1\xbb\x99 t\xe1\xbb\x8b ch"; /* UTF-8 is fine */
    CU_ASSERT_EQUAL(lt_valid_on_behalf(&w, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = 1;
    q.dataset = "VN/GOV/BCA/population";
    q.key = "079201000001";
    q.purpose = "KYC";
    q.case_ref = "HS-1\r";
    expect_malformed(lt_valid_lookup(&q, err, sizeof err), err,
                     "lookup_request.case_ref holds a control character");
    q.case_ref = "HS-1";
    q.purpose = "K\tYC";
    expect_malformed(lt_valid_lookup(&q, err, sizeof err), err,
                     "lookup_request.purpose holds a control character");
    char *streams[] = {"VN/GOV/BCA/population.portal"};
    Lienthong__PrefillRequest p = LIENTHONG__PREFILL_REQUEST__INIT;
    p.request_id = 5;
    p.key = "079201000001";
    p.streams = streams;
    p.n_streams = 1;
    p.purpose = "KYC";
    p.case_ref = "a\nb";
    expect_malformed(lt_valid_prefill(&p, err, sizeof err), err,
                     "prefill_request.case_ref holds a control character");
}

/* Cutting text for a message never splits a UTF-8 character. */
static void test_cut(void)
{
    const char *s = "ab\xc3\xa9z"; /* a, b, e acute, z */
    CU_ASSERT_EQUAL(lt_valid_cut(s, 2), 2);
    CU_ASSERT_EQUAL(lt_valid_cut(s, 3), 2);
    CU_ASSERT_EQUAL(lt_valid_cut(s, 4), 4);
    CU_ASSERT_EQUAL(lt_valid_cut(s, 64), 5);
    CU_ASSERT_EQUAL(lt_valid_cut("", 64), 0);
}

/* A pre-fill (PROTOCOL.md 8.8): id, key length, streams, text lengths. */
static void test_prefill_fields(void)
{
    char err[256], key[LT_RECORD_KEY_MAX + 2], text[LT_PREFILL_MAX_TEXT + 2];
    char *streams[LT_PREFILL_MAX_STREAMS + 1];
    memset(key, '7', sizeof key - 1);
    key[sizeof key - 1] = 0;
    memset(text, 'p', sizeof text - 1);
    text[sizeof text - 1] = 0;
    for (size_t i = 0; i <= LT_PREFILL_MAX_STREAMS; i++)
        streams[i] = "VN/GOV/BCA/population.portal";
    Lienthong__PrefillRequest q = LIENTHONG__PREFILL_REQUEST__INIT;
    q.request_id = 5;
    q.key = key + 1; /* exactly the limit */
    q.streams = streams;
    q.n_streams = LT_PREFILL_MAX_STREAMS;
    q.purpose = text + 1;
    CU_ASSERT_EQUAL(lt_valid_prefill(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.n_streams = LT_PREFILL_MAX_STREAMS + 1;
    CU_ASSERT_EQUAL(lt_valid_prefill(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
    q.n_streams = 1;
    q.key = key;
    CU_ASSERT_EQUAL(lt_valid_prefill(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "prefill_request.key"));
    q.key = "";
    CU_ASSERT_EQUAL(lt_valid_prefill(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    q.key = "079201000001";
    streams[0] = "";
    CU_ASSERT_EQUAL(lt_valid_prefill(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    streams[0] = "VN/GOV/BCA/population.portal";
    q.case_ref = text;
    CU_ASSERT_EQUAL(lt_valid_prefill(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "prefill_request.case_ref is 129 bytes; at most 128"));
    q.case_ref = "";
    /* key_field names a record field: 127 bytes, as a lookup's field names. */
    char field[LT_ID_MAX + 1];
    memset(field, 'f', sizeof field - 1);
    field[sizeof field - 1] = 0;
    q.key_field = field + 1; /* 127 bytes */
    CU_ASSERT_EQUAL(lt_valid_prefill(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_NONE);
    q.key_field = field; /* 128 bytes */
    CU_ASSERT_EQUAL(lt_valid_prefill(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "prefill_request.key_field is 128 bytes; at most 127"));
    q.key_field = "";
    q.request_id = 0;
    CU_ASSERT_EQUAL(lt_valid_prefill(&q, err, sizeof err), LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    q.request_id = 77;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.body_case = LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST;
    env.prefill_request = &q;
    CU_ASSERT_EQUAL(lt_valid_request_id(&env), 77);
}

/* lt_wire_decode_id applies the walk to every envelope and keeps the
 * request_id for the Error (4.4); the version text names what is supported. */
static void test_decode_applies_it(void)
{
    char err[256], *fields[] = {"\xff"};
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = 77;
    q.dataset = "VN/GOV/BCA/population";
    q.key = "001";
    q.fields = fields;
    q.n_fields = 1;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    env.lookup_request = &q;
    uint8_t buf[256];
    size_t len = lienthong__envelope__pack(&env, buf);
    Lienthong__ErrorCode code;
    uint64_t id = 0;
    CU_ASSERT(lt_wire_decode_id(buf, len, sizeof buf, &code, &id, err, sizeof err) == NULL);
    CU_ASSERT(code == LIENTHONG__ERROR_CODE__ERR_MALFORMED && id == 77);
    CU_ASSERT(strstr(err, "lookup_request.fields") != NULL && !strchr(err, 0xff));
    fields[0] = "full_name";
    len = lienthong__envelope__pack(&env, buf);
    Lienthong__Envelope *ok = lt_wire_decode_id(buf, len, sizeof buf, &code, &id, err, sizeof err);
    CU_ASSERT(ok != NULL);
    lt_wire_free(&ok);
    env.version = 2;
    len = lienthong__envelope__pack(&env, buf);
    CU_ASSERT(lt_wire_decode(buf, len, sizeof buf, &code, err, sizeof err) == NULL);
    CU_ASSERT(code == LIENTHONG__ERROR_CODE__ERR_VERSION && strstr(err, "supported: 1"));
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"UTF-8: valid text passes", test_utf8_valid_text_passes},
        {"UTF-8: each invalid sequence names the field", test_utf8_names_the_field},
        {"UTF-8: nested and repeated fields, on_behalf", test_utf8_nested_and_repeated},
        {"UTF-8: NUL, bytes fields, unknown fields, broken encoding",
         test_utf8_nul_bytes_unknown_broken},
        {"UTF-8: the ASCII fast path agrees with libunistring at every offset",
         test_utf8_ascii_prefixes},
        {"sanitise: invalid bytes become '?'", test_sanitise},
        {"plain text: no C0, DEL or C1 control", test_plain},
        {"record key: 1 to LT_RECORD_KEY_MAX bytes", test_record_key},
        {"source cursor: digits only, 0 to 2^63 - 1", test_source_cursor},
        {"subscribe: stream, from_seq, prev_hash", test_subscribe_fields},
        {"snapshot chunk and end: stream, record count, signature, state root",
         test_snapshot_fields},
        {"lookup: id, dataset, key, at most 64 fields", test_lookup_fields},
        {"verify: keys, claims, subjects, limits", test_verify_fields},
        {"lookup, verify: timeout_ms at most 10 minutes", test_query_timeout},
        {"verify: two claims on one field of a key refused, a key again allowed",
         test_verify_repeats},
        {"profile: id, key, deadline, parts", test_profile_fields},
        {"lookup, verify, profile: lengths of key, dataset, texts, claims", test_query_lengths},
        {"on_behalf lengths; request_id echoed", test_on_behalf_and_request_id},
        {"prefill: id, key, at most 64 streams, text lengths", test_prefill_fields},
        {"control characters in audited text are refused", test_control_characters},
        {"cut at a UTF-8 character boundary", test_cut},
        {"lt_wire_decode applies it, keeps the request_id", test_decode_applies_it},
        {"a field name is letters, digits and '_', not empty", test_field_name_characters},
        {NULL, NULL},
    };
    return ut_main("lt_valid", suite_init, suite_clean, tests);
}

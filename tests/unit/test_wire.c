/* test_wire: CUnit suite for core/lt_wire: the Envelope codec (size cap
 * before unpack, version, body presence), names, and framed send/receive on
 * real inproc ZeroMQ sockets (PAIR and DEALER/ROUTER), including the
 * envelope-with-body helpers. */
#include "unit_util.h"

#include "lt_wire.h"

#include <errno.h>

#define CAP 4096

static void *g_ctx;

static int suite_init(void)
{
    g_ctx = zmq_ctx_new();
    return g_ctx ? 0 : -1;
}

static int suite_clean(void)
{
    return zmq_ctx_term(g_ctx);
}

/* Packs a version-1 Hello envelope into a malloc'd buffer. */
static uint8_t *pack_hello(uint32_t version, const char *member, uint64_t dv, size_t *len)
{
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.member = (char *)member;
    h.directory_version = dv;
    h.software = (char *)"lienthong test";
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = version;
    env.body_case = LIENTHONG__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    *len = lienthong__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(*len);
    if (buf)
        lienthong__envelope__pack(&env, buf);
    return buf;
}

static void test_hello_round_trip(void)
{
    size_t len;
    uint8_t *buf = pack_hello(1, "VN/GOV/BCA", 42, &len);
    CU_ASSERT_FATAL(buf != NULL);
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    char err[256] = "";
    Lienthong__Envelope *env = lt_wire_decode(buf, len, CAP, &code, err, sizeof err);
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT(env->version == 1);
    CU_ASSERT_FATAL(env->body_case == LIENTHONG__ENVELOPE__BODY_HELLO);
    CU_ASSERT_STRING_EQUAL(env->hello->member, "VN/GOV/BCA");
    CU_ASSERT(env->hello->directory_version == 42);
    CU_ASSERT_STRING_EQUAL(env->hello->software, "lienthong test");
    lt_wire_free(&env);
    CU_ASSERT(env == NULL);
    lt_wire_free(&env);
    /* Exactly at the cap is accepted. */
    env = lt_wire_decode(buf, len, len, &code, err, sizeof err);
    CU_ASSERT(env != NULL);
    lt_wire_free(&env);
    free(buf);
}

static void test_too_large_before_unpack(void)
{
    size_t len;
    uint8_t *buf = pack_hello(1, "VN/GOV/BCA", 1, &len);
    CU_ASSERT_FATAL(buf != NULL);
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    char err[256] = "";
    CU_ASSERT(lt_wire_decode(buf, len, len - 1, &code, err, sizeof err) == NULL);
    CU_ASSERT(code == LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
    CU_ASSERT(strstr(err, "cap") != NULL);
    free(buf);
    /* A NULL buffer with an over-cap length proves nothing is read before
     * the size check: an unpack attempt would crash here. */
    code = LIENTHONG__ERROR_CODE__ERR_NONE;
    CU_ASSERT(lt_wire_decode(NULL, (size_t)1 << 40, CAP, &code, err, sizeof err) == NULL);
    CU_ASSERT(code == LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
}

static void expect_decode_error(const uint8_t *buf, size_t len, Lienthong__ErrorCode want)
{
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    char err[256] = "";
    Lienthong__Envelope *env = lt_wire_decode(buf, len, CAP, &code, err, sizeof err);
    CU_ASSERT(env == NULL);
    CU_ASSERT(code == want);
    CU_ASSERT(err[0] != 0);
    lt_wire_free(&env);
}

static void test_garbage_is_malformed(void)
{
    static const uint8_t ff[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    expect_decode_error(ff, sizeof ff, LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    /* Field 11 (hello) claims 100 bytes but only 2 follow. */
    static const uint8_t trunc[] = {0x08, 0x01, 0x5a, 0x64, 0x0a, 0x00};
    expect_decode_error(trunc, sizeof trunc, LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    /* A truncated real envelope. */
    size_t len;
    uint8_t *buf = pack_hello(1, "VN/GOV/BCA", 7, &len);
    CU_ASSERT_FATAL(buf != NULL);
    expect_decode_error(buf, len - 1, LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    free(buf);
}

static void test_version_checked(void)
{
    size_t len;
    uint8_t *buf = pack_hello(2, "VN/GOV/BCA", 7, &len);
    CU_ASSERT_FATAL(buf != NULL);
    expect_decode_error(buf, len, LIENTHONG__ERROR_CODE__ERR_VERSION);
    free(buf);
    buf = pack_hello(0, "VN/GOV/BCA", 7, &len);
    CU_ASSERT_FATAL(buf != NULL);
    expect_decode_error(buf, len, LIENTHONG__ERROR_CODE__ERR_VERSION);
    free(buf);
}

/* An ERR_VERSION echoes the request_id its body holds (PROTOCOL.md 4.4),
 * as every other refusal does, so that the client can match it. */
static void test_version_error_keeps_request_id(void)
{
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    q.request_id = 4242;
    q.dataset = "VN/GOV/BCA/population";
    q.key = "001";
    env.version = 2;
    env.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    env.lookup_request = &q;
    size_t len = lienthong__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(len);
    CU_ASSERT_FATAL(buf != NULL);
    lienthong__envelope__pack(&env, buf);
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    uint64_t id = 0;
    char err[256] = "";
    Lienthong__Envelope *got = lt_wire_decode_id(buf, len, CAP, &code, &id, err, sizeof err);
    CU_ASSERT(got == NULL);
    CU_ASSERT(code == LIENTHONG__ERROR_CODE__ERR_VERSION);
    CU_ASSERT(id == 4242);
    lt_wire_free(&got);
    free(buf);
}

/* The version is read before the body (PROTOCOL.md 4.2): a version-2
 * envelope whose lookup_request holds field 1 as a string, which version
 * 1 cannot unpack, is ERR_VERSION, with no id to echo; the same bytes as
 * version 1 are ERR_MALFORMED. Before, both were ERR_MALFORMED. */
static void test_version_before_body(void)
{
    /* version = 2; field 30 (lookup_request) of 3 bytes: field 1 as "x". */
    uint8_t buf[] = {0x08, 0x02, 0xf2, 0x01, 0x03, 0x0a, 0x01, 'x'};
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    uint64_t id = 1;
    char err[256] = "";
    Lienthong__Envelope *got = lt_wire_decode_id(buf, sizeof buf, CAP, &code, &id, err, sizeof err);
    CU_ASSERT(got == NULL && code == LIENTHONG__ERROR_CODE__ERR_VERSION && id == 0);
    CU_ASSERT(strstr(err, "protocol version 2") != NULL);
    lt_wire_free(&got);
    buf[1] = 0x01;
    expect_decode_error(buf, sizeof buf, LIENTHONG__ERROR_CODE__ERR_MALFORMED);
    /* Field 1 that is not a varint: no version to read. */
    static const uint8_t odd[] = {0x0a, 0x01, 'x', 0x5a, 0x00};
    expect_decode_error(odd, sizeof odd, LIENTHONG__ERROR_CODE__ERR_MALFORMED);
}

/* PROTOCOL.md 4.2 check 6 and the error table: "no body set (including body
 * types unknown here)" is ERR_UNSUPPORTED. */
static void test_no_body(void)
{
    static const uint8_t version_only[] = {0x08, 0x01};
    expect_decode_error(version_only, sizeof version_only, LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED);
    /* Field 99, length-delimited: a body from a later protocol version. */
    static const uint8_t future[] = {0x08, 0x01, 0x9a, 0x06, 0x02, 0x08, 0x01};
    expect_decode_error(future, sizeof future, LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED);
    /* An empty frame decodes to version 0 before anything else. */
    static const uint8_t empty[1] = {0};
    expect_decode_error(empty, 0, LIENTHONG__ERROR_CODE__ERR_VERSION);
}

static void test_names(void)
{
    CU_ASSERT_STRING_EQUAL(lt_wire_body_name(LIENTHONG__ENVELOPE__BODY_HELLO), "hello");
    CU_ASSERT_STRING_EQUAL(lt_wire_body_name(LIENTHONG__ENVELOPE__BODY_BATCH), "batch");
    CU_ASSERT_STRING_EQUAL(lt_wire_body_name(LIENTHONG__ENVELOPE__BODY_ERROR), "error");
    CU_ASSERT_STRING_EQUAL(lt_wire_body_name(LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY),
                           "lookup_reply");
    CU_ASSERT_STRING_EQUAL(lt_wire_body_name(LIENTHONG__ENVELOPE__BODY__NOT_SET), "none");
    CU_ASSERT_STRING_EQUAL(lt_wire_body_name((Lienthong__Envelope__BodyCase)999), "none");
    /* The header documents ERR_FORBIDDEN's name as "forbidden" while the code
     * returns the enum name; accept either spelling of the same code. */
    const char *n = lt_wire_error_name(LIENTHONG__ERROR_CODE__ERR_FORBIDDEN);
    CU_ASSERT_FATAL(n != NULL);
    CU_ASSERT(strcasecmp(n, "forbidden") == 0 || strcmp(n, "ERR_FORBIDDEN") == 0);
    n = lt_wire_error_name(LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
    CU_ASSERT(strcasecmp(n, "too_large") == 0 || strcmp(n, "ERR_TOO_LARGE") == 0);
    CU_ASSERT(strcmp(lt_wire_error_name(LIENTHONG__ERROR_CODE__ERR_MALFORMED),
                     lt_wire_error_name(LIENTHONG__ERROR_CODE__ERR_VERSION)) != 0);
    n = lt_wire_error_name((Lienthong__ErrorCode)999);
    CU_ASSERT_FATAL(n != NULL);
    CU_ASSERT(strstr(n, "UNKNOWN") != NULL || strstr(n, "unknown") != NULL);
}

/* ---- ZeroMQ ----------------------------------------------------------------- */

static void *make_sock(int type)
{
    void *s = zmq_socket(g_ctx, type);
    int timeout = 2000, linger = 0;
    if (s) {
        zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
        zmq_setsockopt(s, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    }
    return s;
}

static Lienthong__Envelope *decode_in(lt_wire_in_t *in)
{
    Lienthong__ErrorCode code;
    char err[256];
    return lt_wire_decode(zmq_msg_data(&in->body), zmq_msg_size(&in->body), CAP, &code, err,
                          sizeof err);
}

static void test_pair_send_recv(void)
{
    void *a = make_sock(ZMQ_PAIR), *b = make_sock(ZMQ_PAIR);
    CU_ASSERT_FATAL(a && b);
    CU_ASSERT_FATAL(zmq_bind(a, "inproc://wire-pair") == 0);
    CU_ASSERT_FATAL(zmq_connect(b, "inproc://wire-pair") == 0);
    lt_wire_in_t in;
    CU_ASSERT(lt_wire_recv(b, 0, ZMQ_DONTWAIT, &in) == -1);
    CU_ASSERT(errno == EAGAIN);
    lt_wire_in_close(&in);
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.member = (char *)"VN/PROV/38";
    h.directory_version = 9;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    CU_ASSERT_FATAL(lt_wire_send(a, NULL, 0, &env) == 0);
    CU_ASSERT_FATAL(lt_wire_recv(b, 0, 0, &in) == 0);
    CU_ASSERT(in.frames == 1);
    CU_ASSERT(in.rid_len == 0);
    CU_ASSERT(in.user_id[0] == 0);
    Lienthong__Envelope *got = decode_in(&in);
    CU_ASSERT_FATAL(got != NULL);
    CU_ASSERT(got->body_case == LIENTHONG__ENVELOPE__BODY_HELLO);
    CU_ASSERT_STRING_EQUAL(got->hello->member, "VN/PROV/38");
    CU_ASSERT(got->hello->directory_version == 9);
    lt_wire_free(&got);
    lt_wire_in_close(&in);
    zmq_close(a);
    zmq_close(b);
}

/* Sends `n` raw frames from a DEALER. */
static int send_frames(void *s, int n)
{
    for (int i = 0; i < n; i++)
        if (zmq_send(s, "xyz", 3, i + 1 < n ? ZMQ_SNDMORE : 0) != 3)
            return -1;
    return 0;
}

static void test_dealer_router(void)
{
    void *r = make_sock(ZMQ_ROUTER), *d = make_sock(ZMQ_DEALER);
    CU_ASSERT_FATAL(r && d);
    CU_ASSERT_FATAL(zmq_setsockopt(d, ZMQ_ROUTING_ID, "peer-1", 6) == 0);
    CU_ASSERT_FATAL(zmq_bind(r, "inproc://wire-router") == 0);
    CU_ASSERT_FATAL(zmq_connect(d, "inproc://wire-router") == 0);
    Lienthong__Credit c = LIENTHONG__CREDIT__INIT;
    c.stream = (char *)"VN/GOV/BCA/population";
    c.credit = 77;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_CREDIT;
    env.credit = &c;
    CU_ASSERT_FATAL(lt_wire_send(d, NULL, 0, &env) == 0);
    lt_wire_in_t in;
    CU_ASSERT_FATAL(lt_wire_recv(r, 1, 0, &in) == 0);
    CU_ASSERT(in.frames == 1);
    CU_ASSERT_FATAL(in.rid_len == 6);
    CU_ASSERT(memcmp(in.rid, "peer-1", 6) == 0);
    Lienthong__Envelope *got = decode_in(&in);
    CU_ASSERT_FATAL(got != NULL);
    CU_ASSERT(got->body_case == LIENTHONG__ENVELOPE__BODY_CREDIT);
    CU_ASSERT(got->credit->credit == 77);
    lt_wire_free(&got);
    lt_wire_in_close(&in);

    /* Reply through the routing id with a typed error. */
    CU_ASSERT_FATAL(lt_wire_send_error(r, (const uint8_t *)"peer-1", 6,
                                       LIENTHONG__ERROR_CODE__ERR_FORBIDDEN, 1234,
                                       "no policy for %s", "you") == 0);
    CU_ASSERT_FATAL(lt_wire_recv(d, 0, 0, &in) == 0);
    CU_ASSERT(in.frames == 1);
    got = decode_in(&in);
    CU_ASSERT_FATAL(got != NULL);
    CU_ASSERT_FATAL(got->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
    CU_ASSERT(got->error->code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN);
    CU_ASSERT(got->error->request_id == 1234);
    CU_ASSERT_STRING_EQUAL(got->error->message, "no policy for you");
    lt_wire_free(&got);
    lt_wire_in_close(&in);

    /* A 3-frame message is read whole and counted; the next one is clean. */
    CU_ASSERT_FATAL(send_frames(d, 3) == 0);
    CU_ASSERT_FATAL(send_frames(d, 1) == 0);
    CU_ASSERT_FATAL(lt_wire_recv(r, 1, 0, &in) == 0);
    CU_ASSERT(in.frames == 3);
    CU_ASSERT(in.rid_len == 6);
    CU_ASSERT(zmq_msg_size(&in.body) == 3);
    lt_wire_in_close(&in);
    CU_ASSERT_FATAL(lt_wire_recv(r, 1, ZMQ_DONTWAIT, &in) == 0);
    CU_ASSERT(in.frames == 1);
    lt_wire_in_close(&in);
    CU_ASSERT(lt_wire_recv(r, 1, ZMQ_DONTWAIT, &in) == -1);
    CU_ASSERT(errno == EAGAIN);
    lt_wire_in_close(&in);
    zmq_close(r);
    zmq_close(d);
}

/* Packs a lookup_request envelope, with an empty context when ask. */
static uint8_t *pack_lookup(int ask, size_t *len)
{
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    Lienthong__AnswerContext ctx = LIENTHONG__ANSWER_CONTEXT__INIT;
    q.request_id = 77;
    q.dataset = (char *)"VN/GOV/BCA/population";
    q.key = (char *)"038084915725";
    q.purpose = (char *)"KYC";
    Lienthong__Envelope env;
    lt_wire_env_init(&env);
    env.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    env.lookup_request = &q;
    env.context = ask ? &ctx : NULL;
    *len = lienthong__envelope__get_packed_size(&env);
    uint8_t *buf = malloc(*len);
    if (buf)
        lienthong__envelope__pack(&env, buf);
    return buf;
}

/* The body's exact bytes survive; the context is dropped or replaced. */
static void test_reframe(void)
{
    size_t len, plain_len, blen, rlen;
    uint8_t *asked = pack_lookup(1, &len), *plain = pack_lookup(0, &plain_len);
    CU_ASSERT_FATAL(asked != NULL && plain != NULL);
    CU_ASSERT(len > plain_len); /* the empty context is on the wire */
    const uint8_t *body, *rbody;
    CU_ASSERT_FATAL(lt_wire_body_bytes(asked, len, &body, &blen) == 0);

    zmq_msg_t out;
    CU_ASSERT_FATAL(lt_wire_reframe(asked, len, NULL, &out) == 0);
    /* Without context: what the application would have sent without asking. */
    CU_ASSERT(zmq_msg_size(&out) == plain_len && memcmp(zmq_msg_data(&out), plain, plain_len) == 0);
    zmq_msg_close(&out);

    Lienthong__AnswerContext ctx = LIENTHONG__ANSWER_CONTEXT__INIT;
    ctx.record_type = (char *)"lienthong.records.Population";
    CU_ASSERT_FATAL(lt_wire_reframe(asked, len, &ctx, &out) == 0);
    Lienthong__ErrorCode code;
    char err[256];
    Lienthong__Envelope *env =
        lt_wire_decode(zmq_msg_data(&out), zmq_msg_size(&out), CAP, &code, err, sizeof err);
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT(env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST);
    CU_ASSERT(env->lookup_request->request_id == 77);
    CU_ASSERT_FATAL(env->context != NULL);
    CU_ASSERT_STRING_EQUAL(env->context->record_type, "lienthong.records.Population");
    CU_ASSERT(lt_wire_body_bytes(zmq_msg_data(&out), zmq_msg_size(&out), &rbody, &rlen) == 0);
    CU_ASSERT(rlen == blen && memcmp(rbody, body, blen) == 0);
    lt_wire_free(&env);
    zmq_msg_close(&out);

    /* No body, or two: refused, and *out is still safe to close. */
    static const uint8_t none[] = {0x08, 0x01};
    CU_ASSERT(lt_wire_reframe(none, sizeof none, &ctx, &out) == -1);
    CU_ASSERT(zmq_msg_size(&out) == 0);
    zmq_msg_close(&out);
    uint8_t twice[512];
    CU_ASSERT_FATAL(plain_len + (plain_len - 2) <= sizeof twice);
    memcpy(twice, plain, plain_len);
    memcpy(twice + plain_len, plain + 2, plain_len - 2); /* the body field again */
    CU_ASSERT(lt_wire_reframe(twice, 2 * plain_len - 2, NULL, &out) == -1);
    zmq_msg_close(&out);
    free(asked);
    free(plain);
}

/* lt_wire_send_body puts the body in the envelope field of its type, on
 * either side of a DEALER/ROUTER pair; lt_wire_pack_body packs the same
 * bytes for a stored copy, which lt_wire_send_copy sends again. A type
 * with no message field, or a body of another type, is EINVAL. */
static void test_send_body(void)
{
    void *r = make_sock(ZMQ_ROUTER), *d = make_sock(ZMQ_DEALER);
    CU_ASSERT_FATAL(r && d);
    CU_ASSERT_FATAL(zmq_setsockopt(d, ZMQ_ROUTING_ID, "peer-2", 6) == 0);
    CU_ASSERT_FATAL(zmq_bind(r, "inproc://wire-body") == 0);
    CU_ASSERT_FATAL(zmq_connect(d, "inproc://wire-body") == 0);
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = (char *)"VN/GOV/BCA/population";
    m.from_seq = 5;
    m.credit = 64;
    CU_ASSERT_FATAL(lt_wire_send_body(d, NULL, 0, LIENTHONG__ENVELOPE__BODY_SUBSCRIBE, &m) == 0);
    lt_wire_in_t in;
    CU_ASSERT_FATAL(lt_wire_recv(r, 1, 0, &in) == 0);
    Lienthong__Envelope *got = decode_in(&in);
    CU_ASSERT_FATAL(got != NULL);
    CU_ASSERT(got->version == 1);
    CU_ASSERT_FATAL(got->body_case == LIENTHONG__ENVELOPE__BODY_SUBSCRIBE);
    CU_ASSERT_STRING_EQUAL(got->subscribe->stream, "VN/GOV/BCA/population");
    CU_ASSERT(got->subscribe->from_seq == 5 && got->subscribe->credit == 64);
    lt_wire_free(&got);
    lt_wire_in_close(&in);

    /* Packed once, sent twice through the routing id. */
    Lienthong__Credit c = LIENTHONG__CREDIT__INIT;
    c.stream = (char *)"VN/GOV/BCA/population";
    c.credit = 9;
    zmq_msg_t msg;
    CU_ASSERT_FATAL(lt_wire_pack_body(&msg, LIENTHONG__ENVELOPE__BODY_CREDIT, &c) == 0);
    CU_ASSERT(lt_wire_send_copy(r, (const uint8_t *)"peer-2", 6, &msg) == 0);
    CU_ASSERT(lt_wire_send_msg(r, (const uint8_t *)"peer-2", 6, &msg) == 0);
    for (int i = 0; i < 2; i++) {
        CU_ASSERT_FATAL(lt_wire_recv(d, 0, 0, &in) == 0);
        got = decode_in(&in);
        CU_ASSERT_FATAL(got != NULL);
        CU_ASSERT(got->body_case == LIENTHONG__ENVELOPE__BODY_CREDIT);
        CU_ASSERT(got->credit->credit == 9);
        lt_wire_free(&got);
        lt_wire_in_close(&in);
    }

    /* Wrong type for the body, or no body field at all: nothing is sent. */
    errno = 0;
    CU_ASSERT(lt_wire_send_body(d, NULL, 0, LIENTHONG__ENVELOPE__BODY_CREDIT, &m) == -1);
    CU_ASSERT(errno == EINVAL);
    errno = 0;
    CU_ASSERT(lt_wire_send_body(d, NULL, 0, LIENTHONG__ENVELOPE__BODY__NOT_SET, &m) == -1);
    CU_ASSERT(errno == EINVAL);
    CU_ASSERT(lt_wire_recv(r, 1, ZMQ_DONTWAIT, &in) == -1);
    CU_ASSERT(errno == EAGAIN);
    lt_wire_in_close(&in);
    zmq_close(r);
    zmq_close(d);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"hello envelope round trip", test_hello_round_trip},
        {"size cap checked before unpack", test_too_large_before_unpack},
        {"garbage and truncation are ERR_MALFORMED", test_garbage_is_malformed},
        {"version other than 1 is ERR_VERSION", test_version_checked},
        {"an ERR_VERSION echoes the body's request_id", test_version_error_keeps_request_id},
        {"the version is read before the body is unpacked", test_version_before_body},
        {"no (known) body is ERR_UNSUPPORTED", test_no_body},
        {"body and error names", test_names},
        {"inproc PAIR send/recv", test_pair_send_recv},
        {"inproc DEALER/ROUTER, error reply, 3 frames", test_dealer_router},
        {"reframe keeps exact body bytes, sets or drops the context", test_reframe},
        {"send_body, pack_body, send_copy and send_msg", test_send_body},
        {NULL, NULL},
    };
    return ut_main("lt_wire", suite_init, suite_clean, tests);
}

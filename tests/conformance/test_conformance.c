/* test_conformance: the lienthong/1 conformance suite (proto/PROTOCOL.md).
 *
 * One real gateway (the owner VN/GOV/BCA) runs on 127.0.0.1 in a temporary
 * federation. The suite joins it as members with their own CURVE keys and
 * drives it with frames it builds itself, one CUnit test per MUST or error
 * code, each named after the section it checks. The checks on what comes
 * back are written from the specification, not from the gateway's code:
 * signatures, Merkle paths and request hashes are recomputed here with
 * libsodium, and every reply is decoded with protobuf-c and then walked
 * with a strict UTF-8 check on every string field, at every depth,
 * including answers, records and record payloads nested as bytes (4.5). */
#include "lt_dir.h"
#include "lt_itest.h"
#include "lt_limits.h"
#include "lt_sock.h"
#include "records/population.pb-c.h"

#include <CUnit/Basic.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <unistr.h>
#include <zmq.h>

#define ID_OWNER "VN/GOV/BCA"
#define ID_CONF  "VN/COM/CONF"  /* lookup, verify and subscribe on the dataset */
#define ID_PROV  "VN/PROV/38"   /* lookup and verify on the view only */
#define ID_FLOOD "VN/COM/FLOOD" /* no policy: sends garbage (4.4 rate) */
#define ID_SUSP  "VN/GOV/OLD"   /* suspended */
#define DS       ID_OWNER "/population"
#define VIEW     DS ".p38"
#define K1       "001080000001" /* province 01: outside the view */
#define K2       "038090000002" /* province 38 */
#define NAME2    "\xc4\x90\xe1\xba\xb7ng Th\xe1\xbb\x8b H\xe1\xba\xa1"
#define MAX_MSG  65536

#define READY_MS 15000
#define REPLY_MS 5000
#define QUIET_MS 700

static const char *s_source =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "views = ( { id = \"" VIEW "\"; dataset = \"" DS "\";\n"
    "  fields = [\"personal_id\", \"full_name\", \"date_of_birth\"];\n"
    "  where = { current_province = \"38\"; }; } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_CONF "\"; target = \"" DS "\";\n"
    "    allow = [\"lookup\", \"verify\", \"subscribe\"];\n"
    "    fields = [\"full_name\", \"date_of_birth\"]; purposes = [\"KYC\"]; },\n"
    "  { consumer = \"" ID_PROV "\"; target = \"" VIEW "\"; allow = [\"lookup\", \"verify\"];\n"
    "    fields = [\"full_name\", \"sex\"]; purposes = [\"SERVICE\"]; } );\n";

static lt_it_fed_t g_fed;
static lt_it_gw_t *g_gw;
static lt_it_member_t *g_m_owner, *g_m_conf, *g_m_prov, *g_m_flood, *g_m_susp;
static lt_it_peer_t g_conf, g_prov;
static uint64_t g_next_id = 1000;

/* ---- the strict reader (4.5) ------------------------------------------------------ */

/* A failed check of a reply: the running test fails; outside a test (the
 * suite's set-up) it is reported and the set-up fails on its own. */
static void s_bad(const char *what)
{
    if (CU_get_current_test())
        CU_assertImplementation(CU_FALSE, __LINE__, what, __FILE__, "", CU_FALSE);
    else
        fprintf(stderr, "conformance: %s\n", what);
}

/* 0 when every string field of m, at every depth, is valid UTF-8; else -1
 * with the field's name in where. Walks the decoded message by its
 * descriptor, independently of the gateway's own check of raw bytes. */
static int s_strict(const ProtobufCMessage *m, char *where, size_t wlen)
{
    const ProtobufCMessageDescriptor *d = m->descriptor;
    const char *base = (const char *)m;
    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        if (f->type != PROTOBUF_C_TYPE_STRING && f->type != PROTOBUF_C_TYPE_MESSAGE)
            continue;
        if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
            *(const uint32_t *)(base + f->quantifier_offset) != f->id)
            continue;
        size_t n = 1;
        void *const *items = (void *const *)(base + f->offset);
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            n = *(const size_t *)(base + f->quantifier_offset);
            items = *(void *const *const *)(base + f->offset);
        }
        for (size_t k = 0; k < n; k++) {
            const void *v = items[k];
            int bad = !v ? 0
                      : f->type == PROTOBUF_C_TYPE_STRING
                          ? u8_check((const uint8_t *)v, strlen(v)) != NULL
                          : s_strict(v, where, wlen) != 0;
            if (bad) {
                if (f->type == PROTOBUF_C_TYPE_STRING)
                    snprintf(where, wlen, "%s.%s", d->name, f->name);
                return -1;
            }
        }
    }
    return 0;
}

/* Unpacks bytes as desc and checks them strictly; NULL (test failed) when
 * they do not decode or hold invalid UTF-8. */
static ProtobufCMessage *s_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                  size_t len)
{
    char where[128] = "";
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, data);
    if (!m) {
        s_bad("a reply of the gateway does not decode");
        return NULL;
    }
    if (s_strict(m, where, sizeof where) != 0) {
        fprintf(stderr, "\n    invalid UTF-8 in %s\n", where);
        s_bad("the gateway sent a string field that is not valid UTF-8 (4.5)");
        protobuf_c_message_free_unpacked(m, NULL);
        return NULL;
    }
    return m;
}

/* The nested messages of a reply, decoded and checked in turn. */
static int s_check_nested(const Lienthong__Envelope *env)
{
    ProtobufCMessage *m = NULL;
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY)
        m = s_unpack(&lienthong__lookup_answer__descriptor, env->lookup_reply->answer.data,
                     env->lookup_reply->answer.len);
    else if (env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY)
        m = s_unpack(&lienthong__verify_answer__descriptor, env->verify_reply->answer.data,
                     env->verify_reply->answer.len);
    else if (env->body_case == LIENTHONG__ENVELOPE__BODY_BATCH) {
        for (size_t i = 0; i < env->batch->n_records; i++) {
            Lienthong__Record *r = (Lienthong__Record *)s_unpack(&lienthong__record__descriptor,
                                                                 env->batch->records[i].data,
                                                                 env->batch->records[i].len);
            if (!r)
                return -1;
            ProtobufCMessage *p = r->payload.len
                                      ? s_unpack(&lienthong__records__population__descriptor,
                                                 r->payload.data, r->payload.len)
                                      : NULL;
            int bad = r->payload.len && !p;
            if (p)
                protobuf_c_message_free_unpacked(p, NULL);
            lienthong__record__free_unpacked(r, NULL);
            if (bad)
                return -1;
        }
        return 0;
    } else
        return 0;
    if (!m)
        return -1;
    protobuf_c_message_free_unpacked(m, NULL);
    return 0;
}

/* One reply within timeout_ms: the exact frame (free it) and the envelope,
 * decoded strictly; NULL when none came or it failed the strict reader. */
static Lienthong__Envelope *s_recv(void *sock, int timeout_ms, uint8_t **frame, size_t *len)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (frame)
        *frame = NULL;
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return NULL;
    zmq_msg_t z;
    zmq_msg_init(&z);
    Lienthong__Envelope *env = NULL;
    if (zmq_msg_recv(&z, sock, ZMQ_DONTWAIT) >= 0) {
        if (zmq_msg_more(&z))
            s_bad("a reply of more than one frame (4.1)");
        env = (Lienthong__Envelope *)s_unpack(&lienthong__envelope__descriptor, zmq_msg_data(&z),
                                              zmq_msg_size(&z));
        if (env && (env->version != 1 || s_check_nested(env) != 0)) {
            s_bad("reply is not a version-1 envelope with valid nested messages");
            lienthong__envelope__free_unpacked(env, NULL);
            env = NULL;
        }
        if (env && frame && (*frame = malloc(zmq_msg_size(&z)))) {
            memcpy(*frame, zmq_msg_data(&z), zmq_msg_size(&z));
            *len = zmq_msg_size(&z);
        }
    }
    zmq_msg_close(&z);
    return env;
}

static void s_free(Lienthong__Envelope **env)
{
    if (*env)
        lienthong__envelope__free_unpacked(*env, NULL);
    *env = NULL;
}

/* Drops whatever is still waiting, e.g. Hello replies. */
static void s_drain(void *sock)
{
    Lienthong__Envelope *e;
    while ((e = s_recv(sock, 50, NULL, NULL)))
        s_free(&e);
}

/* ---- frames built here ---------------------------------------------------------- */

static uint8_t *s_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len ? *len : 1);
    if (b)
        protobuf_c_message_pack(m, b);
    return b;
}

/* Appends a varint; returns bytes written. */
static size_t s_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    return n;
}

/* An envelope of version ver holding body bytes in field, by hand. */
static uint8_t *s_envelope(uint32_t ver, uint32_t field, const uint8_t *body, size_t body_len,
                           size_t *len)
{
    uint8_t *b = malloc(body_len + 32);
    if (!b)
        return NULL;
    size_t o = 0;
    b[o++] = 0x08;
    o += s_varint(b + o, ver);
    o += s_varint(b + o, ((uint64_t)field << 3) | 2);
    o += s_varint(b + o, body_len);
    memcpy(b + o, body, body_len);
    *len = o + body_len;
    return b;
}

static int s_send_raw(lt_it_peer_t *p, const uint8_t *b, size_t len)
{
    return lt_it_peer_send_raw(p, b, len, REPLY_MS);
}

/* Sends body (a message of the body field) in a version-1 envelope; the
 * packed body is kept in *body_out when asked (for request hashes). */
static int s_send(lt_it_peer_t *p, uint32_t field, const ProtobufCMessage *body, uint8_t **body_out,
                  size_t *body_len)
{
    size_t bl, el;
    uint8_t *bb = s_pack(body, &bl), *env = bb ? s_envelope(1, field, bb, bl, &el) : NULL;
    int rc = env ? s_send_raw(p, env, el) : -1;
    free(env);
    if (body_out) {
        *body_out = bb;
        *body_len = bl;
    } else
        free(bb);
    return rc;
}

/* Expects an Error with code (and request_id; message containing text,
 * when given) within REPLY_MS. */
static int s_expect_error(lt_it_peer_t *p, Lienthong__ErrorCode code, uint64_t request_id,
                          const char *text)
{
    Lienthong__Envelope *e = s_recv(p->sock, REPLY_MS, NULL, NULL);
    int ok = e && e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR && e->error->code == code &&
             e->error->request_id == request_id && (!text || strstr(e->error->message, text));
    if (!ok)
        fprintf(stderr, "\n    want %d (id %llu, \"%s\"), got %s %d (id %llu): %s\n", (int)code,
                (unsigned long long)request_id, text ? text : "",
                e ? (e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? "Error" : "other body")
                  : "nothing",
                e && e->error && e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR
                    ? (int)e->error->code
                    : -1,
                e && e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR
                    ? (unsigned long long)e->error->request_id
                    : 0ull,
                e && e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? e->error->message : "");
    s_free(&e);
    return ok;
}

static uint64_t s_id(void)
{
    return ++g_next_id;
}

static int64_t s_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- hashes, Merkle paths and signatures, from the specification (6.3, 6.4, 7.3) -- */

static void s_h32(const void *a, size_t al, const void *b, size_t bl, const void *c, size_t cl,
                  uint8_t out[32])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, 32);
    crypto_generichash_update(&st, a, al);
    if (bl)
        crypto_generichash_update(&st, b, bl);
    if (cl)
        crypto_generichash_update(&st, c, cl);
    crypto_generichash_final(&st, out, 32);
}

static void s_leaf(const uint8_t *x, size_t len, uint8_t out[32])
{
    s_h32("\x00", 1, x, len, NULL, 0, out);
}

static void s_parent(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
    s_h32("\x01", 1, l, 32, r, 32, out);
}

/* Root over n leaves (6.4): pairs left to right, an odd last node carried up. */
static void s_root(uint8_t (*level)[32], size_t n, uint8_t out[32])
{
    while (n > 1) {
        size_t m = 0;
        for (size_t i = 0; i < n; i += 2, m++) {
            if (i + 1 < n)
                s_parent(level[i], level[i + 1], level[m]);
            else
                memcpy(level[m], level[i], 32);
        }
        n = m;
    }
    memcpy(out, level[0], 32);
}

/* 0 when signature verifies over "ctx" NUL msg under the owner's key. */
static int s_sig_ok(const char *ctx, const uint8_t *msg, size_t len, const uint8_t *sig,
                    size_t sig_len)
{
    size_t cl = strlen(ctx) + 1;
    uint8_t *m = malloc(cl + len);
    if (!m || sig_len != 64)
        return free(m), -1;
    memcpy(m, ctx, cl);
    memcpy(m + cl, msg, len);
    int rc = crypto_sign_verify_detached(sig, m, cl + len, lt_keys_signing_public(g_m_owner->keys));
    free(m);
    return rc;
}

/* 7.3, 7.4: the path from leaf(answer) leads to a root signed by the owner. */
static int s_answer_signed(const Lienthong__SignedAnswer *sa)
{
    uint8_t h[32];
    s_leaf(sa->answer.data, sa->answer.len, h);
    size_t i = sa->proof_index, n = sa->proof_count, k = 0;
    if (i >= n || n == 0 || n > 256)
        return -1;
    while (n > 1) {
        if ((i & 1) || i + 1 < n) {
            if (k >= sa->n_proof || sa->proof[k].len != 32)
                return -1;
            if (i & 1)
                s_parent(sa->proof[k].data, h, h);
            else
                s_parent(h, sa->proof[k].data, h);
            k++;
        }
        i /= 2;
        n = (n + 1) / 2;
    }
    if (k != sa->n_proof)
        return -1;
    return s_sig_ok("lienthong/1 answers", h, 32, sa->root_signature.data, sa->root_signature.len);
}

/* ---- publishing the records (8.1) ------------------------------------------------ */

static uint8_t *s_person(const char *key, const char *name, const char *province, size_t *len)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.personal_id = (char *)key;
    p.full_name = (char *)name;
    p.date_of_birth = "1990-01-02";
    p.sex = LIENTHONG__RECORDS__SEX__SEX_FEMALE;
    p.current_province = (char *)province;
    p.permanent_province = (char *)province;
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    return s_pack(&p.base, len);
}

static void *s_local(void)
{
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    void *s = lt_sock_local_client(lt_it_ctx(), g_gw->sock_path, &o, err, sizeof err);
    if (!s)
        fprintf(stderr, "conformance: local socket: %s\n", err);
    return s;
}

static int s_publish(void)
{
    Lienthong__Change c[2] = {LIENTHONG__CHANGE__INIT, LIENTHONG__CHANGE__INIT};
    Lienthong__Change *cp[2] = {&c[0], &c[1]};
    c[0].key = K1;
    c[0].payload.data = s_person(K1, "Nguy\xe1\xbb\x85n V\xc4\x83n An", "01", &c[0].payload.len);
    c[1].key = K2;
    c[1].payload.data = s_person(K2, NAME2, "38", &c[1].payload.len);
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT;
    pub.request_id = s_id();
    pub.dataset = DS;
    pub.changes = cp;
    pub.n_changes = 2;
    lt_it_peer_t local = {s_local(), NULL};
    Lienthong__Envelope *e = NULL;
    int rc = -1;
    if (local.sock && c[0].payload.data && c[1].payload.data &&
        s_send(&local, 40, &pub.base, NULL, NULL) == 0 &&
        (e = s_recv(local.sock, 30000, NULL, NULL)) &&
        e->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK)
        rc = 0;
    s_free(&e);
    free(c[0].payload.data);
    free(c[1].payload.data);
    if (local.sock)
        zmq_close(local.sock);
    return rc;
}

/* ---- the suite's federation ---------------------------------------------------- */

static int suite_init(void)
{
    if (sodium_init() < 0 || lt_it_fed_init(&g_fed, "VN") != 0 ||
        !(g_m_owner = lt_it_member_add(&g_fed, ID_OWNER, 1)) ||
        !(g_m_conf = lt_it_member_add(&g_fed, ID_CONF, 0)) ||
        !(g_m_prov = lt_it_member_add(&g_fed, ID_PROV, 0)) ||
        !(g_m_flood = lt_it_member_add(&g_fed, ID_FLOOD, 0)) ||
        !(g_m_susp = lt_it_member_add(&g_fed, ID_SUSP, 0)))
        return -1;
    snprintf(g_m_susp->status, sizeof g_m_susp->status, "suspended");
    g_fed.extra_source = s_source;
    char extra[64];
    snprintf(extra, sizeof extra, "max_message = %d;", MAX_MSG);
    if (!(g_gw = lt_it_gw_new(&g_fed, g_m_owner, 1, NULL, extra)) ||
        lt_it_gw_run(g_gw, READY_MS) != 0 || s_publish() != 0 ||
        lt_it_peer_open_gw(&g_conf, g_m_conf, g_gw) != 0 ||
        lt_it_peer_open_gw(&g_prov, g_m_prov, g_gw) != 0) {
        if (g_gw)
            lt_it_log_dump(g_gw);
        return -1;
    }
    Lienthong__Envelope *h1 = lt_it_peer_hello_retry(&g_conf, 1, 500, READY_MS);
    Lienthong__Envelope *h2 = lt_it_peer_hello_retry(&g_prov, 1, 500, READY_MS);
    int ok = h1 && h2;
    lt_wire_free(&h1);
    lt_wire_free(&h2);
    s_drain(g_conf.sock);
    s_drain(g_prov.sock);
    return ok ? 0 : -1;
}

static int suite_clean(void)
{
    lt_it_peer_close(&g_conf);
    lt_it_peer_close(&g_prov);
    lt_it_fed_cleanup(&g_fed);
    return 0;
}

/* Keeps the gateway between tests; drains what a test left behind. */
static void s_teardown(void)
{
    s_drain(g_conf.sock);
    s_drain(g_prov.sock);
}

/* ---- 3.2 authentication -------------------------------------------------------- */

/* A key the directory does not list, or one of a suspended member, never
 * completes a handshake: nothing is answered. */
static void s_no_handshake(lt_it_member_t *m)
{
    lt_it_peer_t p = {0};
    Lienthong__Envelope *e = NULL;
    LT_IT_REQUIRE(lt_it_peer_open_gw(&p, m, g_gw) == 0);
    /* ZMQ_IMMEDIATE: the Hello cannot even be queued without a handshake. */
    if (lt_it_peer_send_raw(&p, "\x08\x01", 2, QUIET_MS) == 0)
        e = s_recv(p.sock, QUIET_MS, NULL, NULL);
    CU_ASSERT(e == NULL);
out:
    s_free(&e);
    lt_it_peer_close(&p);
}

static void test_3_2_unlisted_key(void)
{
    lt_it_member_t *m = lt_it_member_add(&g_fed, "VN/COM/UNLISTED", 0);
    CU_ASSERT_FATAL(m != NULL);
    s_no_handshake(m);
}

static void test_3_2_suspended_member(void)
{
    s_no_handshake(g_m_susp);
}

/* ---- 4.1, 4.2 framing and checks on receipt -------------------------------------- */

static void test_4_1_extra_frame(void)
{
    const void *d[] = {"\x08\x01\x5a\x00", "\x08\x01\x5a\x00"};
    size_t l[] = {4, 4};
    CU_ASSERT(lt_it_peer_send_frames(&g_conf, d, l, 2, REPLY_MS) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0, NULL));
}

/* An envelope of exactly n bytes holding a Hello padded in `software`. */
static uint8_t *s_hello_of(size_t n, size_t *len)
{
    for (size_t pad = n; pad > 0; pad--) {
        char *sw = malloc(pad + 1);
        if (!sw)
            return NULL;
        memset(sw, 'x', pad);
        sw[pad] = 0;
        Lienthong__Hello h = LIENTHONG__HELLO__INIT;
        h.member = ID_CONF;
        h.directory_version = 1;
        h.software = sw;
        size_t bl;
        uint8_t *b = s_pack(&h.base, &bl), *env = b ? s_envelope(1, 11, b, bl, len) : NULL;
        free(sw);
        free(b);
        if (!env || *len == n)
            return env;
        free(env);
    }
    return NULL;
}

/* 3.1, 4.1: an envelope of max_message bytes is legal, also under CURVE. */
static void test_4_1_envelope_of_max_message(void)
{
    size_t len = 0;
    uint8_t *b = s_hello_of(MAX_MSG, &len);
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT(s_send_raw(&g_conf, b, len) == 0);
    Lienthong__Envelope *e = s_recv(g_conf.sock, REPLY_MS, NULL, NULL);
    CU_ASSERT(e && e->body_case == LIENTHONG__ENVELOPE__BODY_HELLO);
    s_free(&e);
    free(b);
}

/* 4.2 #3: a frame a little over max_message reaches the gateway's own
 * check and is answered, and the connection lives on. */
static void test_4_2_3_frame_over_max_message(void)
{
    size_t len = 0;
    uint8_t *b = s_hello_of(MAX_MSG + 20, &len);
    CU_ASSERT_FATAL(b != NULL);
    CU_ASSERT(s_send_raw(&g_conf, b, len) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_TOO_LARGE, 0, NULL));
    free(b);
    Lienthong__Envelope *e = lt_it_peer_hello(&g_conf, 1, REPLY_MS);
    CU_ASSERT(e && e->body_case == LIENTHONG__ENVELOPE__BODY_HELLO);
    lt_wire_free(&e);
}

/* Sends the hand-built envelope and expects an Error with code. */
static int s_raw_refused(const char *bytes, size_t len, Lienthong__ErrorCode code, const char *text)
{
    return s_send_raw(&g_conf, (const uint8_t *)bytes, len) == 0 &&
           s_expect_error(&g_conf, code, 0, text);
}

static void test_4_2_7_repeated_body(void)
{
    /* hello twice, then hello and directory_request */
    CU_ASSERT(
        s_raw_refused("\x08\x01\x5a\x00\x5a\x00", 6, LIENTHONG__ERROR_CODE__ERR_MALFORMED, NULL));
    CU_ASSERT(
        s_raw_refused("\x08\x01\x5a\x00\x6a\x00", 6, LIENTHONG__ERROR_CODE__ERR_MALFORMED, NULL));
}

static void test_4_2_5_undecodable(void)
{
    CU_ASSERT(s_raw_refused("\x08\x01\x5a\x05\x0a", 5, LIENTHONG__ERROR_CODE__ERR_MALFORMED, NULL));
    CU_ASSERT(s_raw_refused("\xff\xff\xff", 3, LIENTHONG__ERROR_CODE__ERR_MALFORMED, NULL));
}

static void test_4_2_4_version(void)
{
    CU_ASSERT(
        s_raw_refused("\x08\x02\x5a\x00", 4, LIENTHONG__ERROR_CODE__ERR_VERSION, "supported: 1"));
    /* The version comes before the body: two body fields are no
     * ERR_MALFORMED under another version. */
    CU_ASSERT(s_raw_refused("\x08\x02\x5a\x00\x6a\x00", 6, LIENTHONG__ERROR_CODE__ERR_VERSION,
                            "supported: 1"));
    /* Nor a body version 1 cannot unpack: a lookup_request whose field 1
     * is a string. */
    CU_ASSERT(s_raw_refused("\x08\x02\xf2\x01\x03\x0a\x01x", 8, LIENTHONG__ERROR_CODE__ERR_VERSION,
                            "supported: 1"));
}

static void test_4_2_6_no_body(void)
{
    /* version 1 alone, and with a body field number no revision uses yet */
    CU_ASSERT(s_raw_refused("\x08\x01", 2, LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED, NULL));
    CU_ASSERT(
        s_raw_refused("\x08\x01\xfa\x07\x00", 5, LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED, NULL));
}

/* 4.3: local bodies and owner-to-consumer bodies are refused on the peer ROUTER. */
static void test_4_3_direction(void)
{
    Lienthong__StatusRequest st = LIENTHONG__STATUS_REQUEST__INIT;
    CU_ASSERT(s_send(&g_conf, 45, &st.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED, 0, NULL));
    Lienthong__Batch b = LIENTHONG__BATCH__INIT;
    b.stream = DS;
    CU_ASSERT(s_send(&g_conf, 22, &b.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED, 0, NULL));
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT;
    pub.request_id = s_id();
    pub.dataset = DS;
    CU_ASSERT(s_send(&g_conf, 40, &pub.base, NULL, NULL) == 0);
    CU_ASSERT(
        s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED, pub.request_id, NULL));
    /* A profile is local only (7.7): a peer asks each owner with lookups. */
    Lienthong__ProfilePart part = LIENTHONG__PROFILE_PART__INIT, *parts[] = {&part};
    Lienthong__ProfileRequest pq = LIENTHONG__PROFILE_REQUEST__INIT;
    part.dataset = DS;
    pq.request_id = s_id();
    pq.key = "001";
    pq.purpose = "KYC";
    pq.parts = parts;
    pq.n_parts = 1;
    CU_ASSERT(s_send(&g_conf, 34, &pq.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED, pq.request_id, NULL));
}

/* 4.4: an Error is never answered with an Error. */
static void test_4_4_error_not_answered(void)
{
    Lienthong__Error err = LIENTHONG__ERROR__INIT;
    err.code = LIENTHONG__ERROR_CODE__ERR_INTERNAL;
    err.message = "conformance";
    CU_ASSERT(s_send(&g_conf, 10, &err.base, NULL, NULL) == 0);
    Lienthong__Envelope *e = s_recv(g_conf.sock, QUIET_MS, NULL, NULL);
    CU_ASSERT(e == NULL);
    s_free(&e);
    /* Nor on the local socket, where a client's Error is logged only. */
    lt_it_peer_t local = {s_local(), NULL};
    CU_ASSERT_FATAL(local.sock != NULL);
    CU_ASSERT(s_send(&local, 10, &err.base, NULL, NULL) == 0);
    e = s_recv(local.sock, QUIET_MS, NULL, NULL);
    CU_ASSERT(e == NULL);
    s_free(&e);
    zmq_close(local.sock);
}

/* ---- 4.5 UTF-8 ---------------------------------------------------------------------- */

#define BAD_UTF8 "\xff\xfe\xc3("

/* The Error names the field and never echoes the bytes. */
static int s_expect_utf8_error(uint64_t request_id, const char *field)
{
    Lienthong__Envelope *e = s_recv(g_conf.sock, REPLY_MS, NULL, NULL);
    int ok = e && e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
             e->error->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED &&
             e->error->request_id == request_id && strstr(e->error->message, field) &&
             !strstr(e->error->message, "\xfe");
    if (!ok && e && e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        fprintf(stderr, "\n    got %d: %s\n", (int)e->error->code, e->error->message);
    s_free(&e);
    return ok;
}

static void test_4_5_subscribe_stream_not_utf8(void)
{
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = ID_OWNER "/" BAD_UTF8;
    m.from_seq = 1;
    CU_ASSERT(s_send(&g_conf, 20, &m.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_utf8_error(0, "subscribe.stream"));
}

/* The bad field name must never come back inside a signed Withheld. */
static void test_4_5_lookup_field_not_utf8(void)
{
    char *fields[] = {"full_name", BAD_UTF8};
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = s_id();
    q.dataset = DS;
    q.key = K2;
    q.fields = fields;
    q.n_fields = 2;
    q.purpose = "KYC";
    q.deadline_ms = s_now_ms() + 10000;
    CU_ASSERT(s_send(&g_conf, 30, &q.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_utf8_error(q.request_id, "lookup_request.fields"));
}

static void test_4_5_nested_claim_not_utf8(void)
{
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *cp = &c;
    c.field = "full_name";
    c.value = "Nguy" BAD_UTF8;
    Lienthong__Subject sub = LIENTHONG__SUBJECT__INIT, *sp = &sub;
    sub.key = K2;
    sub.claims = &cp;
    sub.n_claims = 1;
    Lienthong__VerifyRequest q = LIENTHONG__VERIFY_REQUEST__INIT;
    q.request_id = s_id();
    q.dataset = DS;
    q.subjects = &sp;
    q.n_subjects = 1;
    q.purpose = "KYC";
    q.deadline_ms = s_now_ms() + 10000;
    CU_ASSERT(s_send(&g_conf, 32, &q.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_utf8_error(q.request_id, "verify_request.subjects.claims.value"));
}

/* A NUL would cut the string short for a C receiver only. */
static void test_4_5_nul_in_string(void)
{
    static const char stream[] = DS "\0x";
    uint8_t body[64];
    size_t o = 0;
    body[o++] = 0x0a;
    body[o++] = (uint8_t)(sizeof stream - 1);
    memcpy(body + o, stream, sizeof stream - 1);
    o += sizeof stream - 1;
    body[o++] = 0x10; /* from_seq 1 */
    body[o++] = 0x01;
    size_t len;
    uint8_t *env = s_envelope(1, 20, body, o, &len);
    CU_ASSERT_FATAL(env != NULL);
    CU_ASSERT(s_send_raw(&g_conf, env, len) == 0);
    CU_ASSERT(s_expect_utf8_error(0, "subscribe.stream"));
    free(env);
}

/* A record is served as stored: its strings are checked at Publish (8.1). */
static void test_4_5_publish_payload_not_utf8(void)
{
    lt_it_peer_t local = {s_local(), NULL};
    CU_ASSERT_FATAL(local.sock != NULL);
    Lienthong__Change c = LIENTHONG__CHANGE__INIT, *cp = &c;
    c.key = "038000000009";
    c.payload.data = s_person(c.key, "Nguy" BAD_UTF8, "38", &c.payload.len);
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT;
    pub.request_id = s_id();
    pub.dataset = DS;
    pub.changes = &cp;
    pub.n_changes = 1;
    CU_ASSERT(c.payload.data && s_send(&local, 40, &pub.base, NULL, NULL) == 0);
    CU_ASSERT(
        s_expect_error(&local, LIENTHONG__ERROR_CODE__ERR_MALFORMED, pub.request_id, "full_name"));
    free(c.payload.data);
    zmq_close(local.sock);
}

/* ---- 4.4 rejected input: logged, audited, counted, rate limited ------------------- */

static void test_4_4_rejected_logged_and_audited(void)
{
    long mark = lt_it_log_mark(g_gw);
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = s_id();
    q.dataset = DS;
    q.key = K2;
    q.purpose = "KYC";
    q.deadline_ms = s_now_ms() - 1000;
    CU_ASSERT(s_send(&g_conf, 30, &q.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_TIMEOUT, q.request_id, NULL));
    CU_ASSERT(lt_it_log_wait(g_gw, mark, "refused request from " ID_CONF, "deadline", 3000) == 0);
    char out[PATH_MAX + 16];
    snprintf(out, sizeof out, "%s/audit.json", g_fed.dir);
    const char *args[] = {"audit", "--config", g_gw->conf_path, "--last", "100", "--json", NULL};
    int found = 0;
    for (int i = 0; i < 20 && !found; i++) {
        found = lt_it_run_cli(g_fed.dir, out, args, 10000) == 0 &&
                lt_it_file_contains(out, "deadline passed") && lt_it_file_contains(out, ID_CONF);
        if (!found)
            usleep(250000);
    }
    CU_ASSERT(found);
}

static void test_4_4_error_rate_limited(void)
{
    lt_it_peer_t p = {0};
    char *text = NULL;
    Lienthong__Envelope *st = NULL;
    enum { N = 200 };
    LT_IT_REQUIRE(lt_it_peer_open_gw(&p, g_m_flood, g_gw) == 0);
    int64_t t0 = lt_it_ms();
    for (int i = 0; i < N; i++)
        LT_IT_REQUIRE(s_send_raw(&p, (const uint8_t *)"\xff\xff", 2) == 0);
    int errors = 0;
    Lienthong__Envelope *e;
    while ((e = s_recv(p.sock, 800, NULL, NULL))) {
        errors += e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR;
        s_free(&e);
    }
    double secs = (double)(lt_it_ms() - t0) / 1000.0;
    CU_ASSERT(errors >= 1);
    CU_ASSERT(errors <= LT_REJECT_BURST + (int)(secs * LT_REJECT_RATE_PER_S) + 1);
    /* counting continues past the rate, also in the status reply */
    text = lt_it_gw_metrics(g_gw, REPLY_MS);
    LT_IT_REQUIRE(text != NULL);
    CU_ASSERT(lt_it_metric(text, "lienthong_rejected_inputs_total{member=\"" ID_FLOOD
                                 "\",reason=\"ERR_MALFORMED\"}") == N);
    st = lt_it_gw_status(g_gw, REPLY_MS);
    CU_ASSERT(st && st->status_reply->refused >= N);
out:
    lt_wire_free(&st);
    free(text);
    lt_it_peer_close(&p);
}

/* ---- 5.1 Hello ----------------------------------------------------------------------- */

static void test_5_1_hello_answered(void)
{
    Lienthong__Envelope *e = lt_it_peer_hello(&g_conf, 1, REPLY_MS);
    CU_ASSERT(e && e->body_case == LIENTHONG__ENVELOPE__BODY_HELLO &&
              strcmp(e->hello->member, ID_OWNER) == 0 && e->hello->directory_version == 1);
    lt_wire_free(&e);
}

/* 5.1: DirectoryRequest from an older version gets the exact signed
 * directory; offering those same bytes back is silent; garbage is
 * ERR_DIRECTORY with the reason. */
static void test_5_1_directory_exchange(void)
{
    Lienthong__DirectoryRequest rq = LIENTHONG__DIRECTORY_REQUEST__INIT;
    rq.have_version = 0;
    CU_ASSERT(s_send(&g_conf, 13, &rq.base, NULL, NULL) == 0);
    Lienthong__Envelope *e = s_recv(g_conf.sock, REPLY_MS, NULL, NULL);
    LT_IT_REQUIRE(e && e->body_case == LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER);
    Lienthong__DirectoryOffer same = LIENTHONG__DIRECTORY_OFFER__INIT;
    same.signed_directory = e->directory_offer->signed_directory;
    CU_ASSERT(s_send(&g_conf, 12, &same.base, NULL, NULL) == 0);
    Lienthong__Envelope *quiet = s_recv(g_conf.sock, QUIET_MS, NULL, NULL);
    CU_ASSERT(quiet == NULL);
    s_free(&quiet);
    Lienthong__DirectoryOffer junk = LIENTHONG__DIRECTORY_OFFER__INIT;
    junk.signed_directory.data = (uint8_t *)"\x0a\x03"
                                            "abc";
    junk.signed_directory.len = 5;
    CU_ASSERT(s_send(&g_conf, 12, &junk.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_DIRECTORY, 0, "directory"));
out:
    s_free(&e);
}

/* ---- 6.2 Subscribe -------------------------------------------------------------------- */

static int s_subscribe(lt_it_peer_t *p, const char *stream, uint64_t from, const uint8_t *prev,
                       size_t prev_len, uint32_t credit)
{
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = (char *)stream;
    m.from_seq = from;
    m.credit = credit;
    m.prev_hash.data = (uint8_t *)prev;
    m.prev_hash.len = prev_len;
    return s_send(p, 20, &m.base, NULL, NULL);
}

static void test_6_2_from_seq_zero(void)
{
    CU_ASSERT(s_subscribe(&g_conf, DS, 0, NULL, 0, 10) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0, DS ": "));
}

static void test_6_2_prev_hash_length(void)
{
    uint8_t h[33] = {0};
    size_t lens[] = {0, 5, 33};
    for (size_t i = 0; i < 3; i++) {
        CU_ASSERT(s_subscribe(&g_conf, DS, 2, h, lens[i], 10) == 0);
        CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0, DS ": "));
    }
    CU_ASSERT(s_subscribe(&g_conf, DS, 1, h, 32, 10) == 0); /* empty at from_seq 1 */
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0, DS ": "));
}

static void test_6_2_empty_stream(void)
{
    CU_ASSERT(s_subscribe(&g_conf, "", 1, NULL, 0, 10) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0, "stream"));
}

static void test_6_2_1_not_owned(void)
{
    CU_ASSERT(s_subscribe(&g_conf, "VN/COM/CONF/other", 1, NULL, 0, 10) == 0);
    CU_ASSERT(
        s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_NOT_FOUND, 0, "VN/COM/CONF/other: "));
}

static void test_6_2_2_no_policy(void)
{
    CU_ASSERT(s_subscribe(&g_prov, DS, 1, NULL, 0, 10) == 0);
    CU_ASSERT(s_expect_error(&g_prov, LIENTHONG__ERROR_CODE__ERR_FORBIDDEN, 0, DS ": "));
}

static void test_6_2_3_beyond_stream(void)
{
    uint8_t h[32] = {0};
    CU_ASSERT(s_subscribe(&g_conf, DS, 99, h, 32, 10) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_SEQUENCE, 0, DS ": "));
}

static void test_6_2_credit_without_subscription(void)
{
    Lienthong__Credit c = LIENTHONG__CREDIT__INIT;
    c.stream = VIEW;
    c.credit = 5;
    CU_ASSERT(s_send(&g_conf, 21, &c.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_NOT_FOUND, 0, VIEW ": "));
    Lienthong__Unsubscribe u = LIENTHONG__UNSUBSCRIBE__INIT;
    u.stream = VIEW;
    CU_ASSERT(s_send(&g_conf, 23, &u.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_NOT_FOUND, 0, VIEW ": "));
}

/* 6.2, 6.3, 6.4: a batch of credit-bounded size whose header the consumer
 * rebuilds from its own state (and the batch's history id, 6.9) verifies
 * under the owner's signing key. */
static void test_6_3_batch_signed(void)
{
    Lienthong__Envelope *e = NULL;
    CU_ASSERT(s_subscribe(&g_conf, DS, 1, NULL, 0, 1) == 0);
    e = s_recv(g_conf.sock, REPLY_MS, NULL, NULL);
    LT_IT_REQUIRE(e && e->body_case == LIENTHONG__ENVELOPE__BODY_BATCH);
    const Lienthong__Batch *b = e->batch;
    CU_ASSERT(b->n_records == 1); /* n never exceeds the credit */
    CU_ASSERT(b->first_seq == 1 && strcmp(b->stream, DS) == 0);
    uint8_t leaves[1][32], root[32], hdr[256], h[32];
    s_leaf(b->records[0].data, b->records[0].len, leaves[0]);
    s_root(leaves, 1, root);
    size_t o = 0, sl = strlen(DS);
    hdr[o++] = (uint8_t)(sl >> 8);
    hdr[o++] = (uint8_t)sl;
    memcpy(hdr + o, DS, sl);
    o += sl;
    /* 6.3, 6.9: the stream's history id, which the batch carries */
    CU_ASSERT(b->history_id.len == 16);
    if (b->history_id.len == 16) {
        memcpy(hdr + o, b->history_id.data, 16);
        o += 16;
    }
    for (int k = 0; k < 2; k++)
        for (int i = 7; i >= 0; i--)
            hdr[o++] = i == 0 ? 1 : 0; /* first = last = 1 */
    memset(hdr + o, 0, 32);            /* prev: zeros at seq 1 */
    o += 32;
    memcpy(hdr + o, root, 32);
    o += 32;
    CU_ASSERT(s_sig_ok("lienthong/1 batch", hdr, o, b->signature.data, b->signature.len) == 0);
    /* the chain: the next batch continues from H32(H) */
    s_h32("lienthong/1 batch", sizeof "lienthong/1 batch", hdr, o, NULL, 0, h);
    Lienthong__Credit c = LIENTHONG__CREDIT__INIT;
    c.stream = DS;
    c.credit = 10;
    CU_ASSERT(s_send(&g_conf, 21, &c.base, NULL, NULL) == 0);
    s_free(&e);
    e = s_recv(g_conf.sock, REPLY_MS, NULL, NULL);
    LT_IT_REQUIRE(e && e->body_case == LIENTHONG__ENVELOPE__BODY_BATCH);
    CU_ASSERT(e->batch->first_seq == 2 && e->batch->n_records == 1);
    Lienthong__Unsubscribe u = LIENTHONG__UNSUBSCRIBE__INIT;
    u.stream = DS;
    CU_ASSERT(s_send(&g_conf, 23, &u.base, NULL, NULL) == 0);
    /* resume from the cursor with the chained hash: the feed continues at 2 */
    s_free(&e);
    CU_ASSERT(s_subscribe(&g_conf, DS, 2, h, 32, 10) == 0);
    e = s_recv(g_conf.sock, REPLY_MS, NULL, NULL);
    CU_ASSERT(e && e->body_case == LIENTHONG__ENVELOPE__BODY_BATCH && e->batch->first_seq == 2);
    CU_ASSERT(s_send(&g_conf, 23, &u.base, NULL, NULL) == 0);
out:
    s_free(&e);
}

/* 6.2 check 3, 6.9: a Subscribe whose cursor names another history gets
 * HistoryChanged (the stream's history and last seq, the history named),
 * never a batch; a history id neither empty nor 16 bytes is ERR_MALFORMED. */
static void test_6_9_history(void)
{
    uint8_t prev[32] = {0}, other[16];
    memset(other, 0xee, sizeof other);
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = DS;
    m.from_seq = 2;
    m.credit = 10;
    m.prev_hash.data = prev;
    m.prev_hash.len = sizeof prev;
    m.history_id.data = other;
    m.history_id.len = sizeof other;
    CU_ASSERT(s_send(&g_conf, 20, &m.base, NULL, NULL) == 0);
    Lienthong__Envelope *e = s_recv(g_conf.sock, REPLY_MS, NULL, NULL);
    LT_IT_REQUIRE(e && e->body_case == LIENTHONG__ENVELOPE__BODY_HISTORY_CHANGED);
    const Lienthong__HistoryChanged *h = e->history_changed;
    CU_ASSERT(strcmp(h->stream, DS) == 0 && h->history_id.len == 16 && h->last_seq >= 1);
    CU_ASSERT(h->history_id.len == 16 && memcmp(h->history_id.data, other, 16) != 0);
    CU_ASSERT(h->cursor_history_id.len == 16 && memcmp(h->cursor_history_id.data, other, 16) == 0);
    s_free(&e);
    /* Nothing streams after it. */
    e = s_recv(g_conf.sock, 500, NULL, NULL);
    CU_ASSERT_PTR_NULL(e);
    m.history_id.len = 5;
    CU_ASSERT(s_send(&g_conf, 20, &m.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0, DS ": "));
out:
    s_free(&e);
}

/* ---- 7 lookup and verify ---------------------------------------------------------------- */

static void s_lookup_init(Lienthong__LookupRequest *q, const char *target, const char *key,
                          const char *purpose)
{
    lienthong__lookup_request__init(q);
    q->request_id = s_id();
    q->dataset = (char *)target;
    q->key = (char *)key;
    q->purpose = (char *)purpose;
    q->deadline_ms = s_now_ms() + 10000;
}

/* Sends q from p and returns its signed LookupAnswer (free it), after
 * checking the signature, the request hash and the request id (7.3, 7.4). */
static Lienthong__LookupAnswer *s_lookup(lt_it_peer_t *p, const Lienthong__LookupRequest *q,
                                         uint8_t **frame, size_t *frame_len)
{
    uint8_t *body = NULL, hash[32];
    size_t body_len = 0;
    Lienthong__LookupAnswer *a = NULL;
    Lienthong__Envelope *e = NULL;
    if (s_send(p, 30, &q->base, &body, &body_len) != 0)
        goto out;
    s_h32(body, body_len, NULL, 0, NULL, 0, hash);
    e = s_recv(p->sock, REPLY_MS, frame, frame_len);
    if (!e || e->body_case != LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY) {
        CU_FAIL("no signed lookup answer");
        goto out;
    }
    CU_ASSERT(s_answer_signed(e->lookup_reply) == 0);
    a = lienthong__lookup_answer__unpack(NULL, e->lookup_reply->answer.len,
                                         e->lookup_reply->answer.data);
    CU_ASSERT(a && a->request_id == q->request_id && a->request_hash.len == 32 &&
              memcmp(a->request_hash.data, hash, 32) == 0 && strcmp(a->owner, ID_OWNER) == 0);
out:
    s_free(&e);
    free(body);
    return a;
}

static void test_7_5_lookup_releases_policy_fields(void)
{
    char *fields[] = {"full_name", "sex", "no_such_field"};
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "KYC");
    q.fields = fields;
    q.n_fields = 3;
    Lienthong__LookupAnswer *a = s_lookup(&g_conf, &q, NULL, NULL);
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NONE && a->record_seq == 2);
    CU_ASSERT(a->n_released == 1 && strcmp(a->released[0], "full_name") == 0);
    CU_ASSERT(lt_it_reason_is(a, "sex", "not allowed by policy"));
    CU_ASSERT(lt_it_reason_is(a, "no_such_field", "unknown field"));
    Lienthong__Records__Population *r =
        lienthong__records__population__unpack(NULL, a->payload.len, a->payload.data);
    CU_ASSERT(r && strcmp(r->full_name, NAME2) == 0 && r->personal_id[0] == 0);
    if (r)
        lienthong__records__population__free_unpacked(r, NULL);
    lienthong__lookup_answer__free_unpacked(a, NULL);
}

/* 7.5: an empty `fields` asks for every field of the record type; those the
 * policy does not allow, the key field among them, come back withheld. */
static void test_7_5_empty_fields(void)
{
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "KYC");
    Lienthong__LookupAnswer *a = s_lookup(&g_conf, &q, NULL, NULL);
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT(a->n_released == 2 && lt_it_released(a, "full_name") &&
              lt_it_released(a, "date_of_birth"));
    CU_ASSERT(a->n_released + a->n_withheld == lienthong__records__population__descriptor.n_fields);
    CU_ASSERT(lt_it_reason_is(a, "personal_id", "not allowed by policy"));
    lienthong__lookup_answer__free_unpacked(a, NULL);
}

/* 7.5 on a view target: only the view's fields, only its rows. */
static void test_7_5_lookup_on_view(void)
{
    char *fields[] = {"full_name", "sex", "date_of_birth"};
    Lienthong__LookupRequest q;
    s_lookup_init(&q, VIEW, K2, "SERVICE");
    q.fields = fields;
    q.n_fields = 3;
    Lienthong__LookupAnswer *a = s_lookup(&g_prov, &q, NULL, NULL);
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NONE);
    CU_ASSERT(a->n_released == 1 && strcmp(a->released[0], "full_name") == 0);
    CU_ASSERT(lt_it_reason_is(a, "sex", "not in view"));
    CU_ASSERT(lt_it_reason_is(a, "date_of_birth", "not allowed by policy"));
    lienthong__lookup_answer__free_unpacked(a, NULL);
    s_lookup_init(&q, VIEW, K1, "SERVICE"); /* outside the view's where */
    q.fields = fields;
    q.n_fields = 1;
    a = s_lookup(&g_prov, &q, NULL, NULL);
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND && a->n_released == 0);
    lienthong__lookup_answer__free_unpacked(a, NULL);
    s_lookup_init(&q, DS, K2, "SERVICE"); /* the policy is on the view only */
    a = s_lookup(&g_prov, &q, NULL, NULL);
    CU_ASSERT_FATAL(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN);
    lienthong__lookup_answer__free_unpacked(a, NULL);
}

static void test_7_2_signed_refusals(void)
{
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "MARKETING");
    Lienthong__LookupAnswer *a = s_lookup(&g_conf, &q, NULL, NULL);
    CU_ASSERT(a && a->code == LIENTHONG__ERROR_CODE__ERR_PURPOSE);
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    s_lookup_init(&q, ID_OWNER "/nothing", K2, "KYC");
    a = s_lookup(&g_conf, &q, NULL, NULL);
    CU_ASSERT(a && a->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND);
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    s_lookup_init(&q, DS, "099999999999", "KYC");
    a = s_lookup(&g_conf, &q, NULL, NULL);
    CU_ASSERT(a && a->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND);
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
}

/* 7.2: a retry of (caller, request_id) gets the stored answer, byte for byte. */
static void test_7_2_retry_replayed(void)
{
    uint8_t *f1 = NULL, *f2 = NULL;
    size_t l1 = 0, l2 = 0;
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "KYC");
    Lienthong__LookupAnswer *a1 = s_lookup(&g_conf, &q, &f1, &l1);
    Lienthong__LookupAnswer *a2 = s_lookup(&g_conf, &q, &f2, &l2);
    CU_ASSERT(a1 && a2 && f1 && f2 && l1 == l2 && memcmp(f1, f2, l1) == 0);
    if (a1)
        lienthong__lookup_answer__free_unpacked(a1, NULL);
    if (a2)
        lienthong__lookup_answer__free_unpacked(a2, NULL);
    free(f1);
    free(f2);
}

static void test_7_1_request_id_zero(void)
{
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "KYC");
    q.request_id = 0;
    CU_ASSERT(s_send(&g_conf, 30, &q.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0, "request_id"));
}

static void test_7_1_deadline_far(void)
{
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "KYC");
    q.deadline_ms = s_now_ms() + 11 * 60 * 1000;
    CU_ASSERT(s_send(&g_conf, 30, &q.base, NULL, NULL) == 0);
    /* Without timeout_ms, the two gateways' clocks are compared: the
     * refusal names the gap and the likely cause. */
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, q.request_id,
                             "s ahead of this gateway's clock; check the clocks (NTP)"));
}

static void test_7_1_deadline_passed(void)
{
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "KYC");
    q.deadline_ms = s_now_ms() - 1;
    CU_ASSERT(s_send(&g_conf, 30, &q.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_TIMEOUT, q.request_id,
                             "s behind this gateway's clock"));
    /* The ends of the range: the gap is named, not overflowed. */
    s_lookup_init(&q, DS, K2, "KYC");
    q.deadline_ms = INT64_MIN;
    CU_ASSERT(s_send(&g_conf, 30, &q.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_TIMEOUT, q.request_id,
                             "s behind this gateway's clock"));
    s_lookup_init(&q, DS, K2, "KYC");
    q.deadline_ms = INT64_MAX;
    CU_ASSERT(s_send(&g_conf, 30, &q.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, q.request_id,
                             "s ahead of this gateway's clock"));
}

/* timeout_ms counts on the owner's clock: set, deadline_ms (the caller's
 * clock) is not looked at, even an hour behind or ahead. */
static void test_7_1_timeout_over_deadline(void)
{
    int64_t skew[] = {-3600 * 1000, 3600 * 1000};
    for (size_t i = 0; i < 2; i++) {
        Lienthong__LookupRequest q;
        s_lookup_init(&q, DS, K2, "KYC");
        q.deadline_ms = s_now_ms() + skew[i];
        q.timeout_ms = 5000;
        Lienthong__LookupAnswer *a = s_lookup(&g_conf, &q, NULL, NULL);
        CU_ASSERT(a && a->code == LIENTHONG__ERROR_CODE__ERR_NONE);
        if (a)
            lienthong__lookup_answer__free_unpacked(a, NULL);
    }
}

static void test_7_1_timeout_far(void)
{
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "KYC");
    q.timeout_ms = 10 * 60 * 1000 + 1;
    CU_ASSERT(s_send(&g_conf, 30, &q.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, q.request_id,
                             "timeout_ms 600001"));
}

static void test_7_5_too_many_fields(void)
{
    char *fields[LT_QUERY_MAX_FIELDS + 1];
    for (size_t i = 0; i <= LT_QUERY_MAX_FIELDS; i++)
        fields[i] = "full_name";
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "KYC");
    q.fields = fields;
    q.n_fields = LT_QUERY_MAX_FIELDS + 1;
    CU_ASSERT(s_send(&g_conf, 30, &q.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_TOO_LARGE, q.request_id, NULL));
}

/* A verify request of n keys (one claim each), or of subjects. */
static void s_verify_send(size_t n_keys, size_t n_claims, int subjects, int both, uint64_t *id)
{
    static char *keys[LT_QUERY_MAX_KEYS + 1];
    static Lienthong__Claim claim, *claims[LT_QUERY_MAX_CLAIMS + 1];
    static Lienthong__Subject sub, *subs[1];
    lienthong__claim__init(&claim);
    claim.field = "full_name";
    claim.value = NAME2;
    for (size_t i = 0; i <= LT_QUERY_MAX_KEYS; i++)
        keys[i] = K2;
    for (size_t i = 0; i <= LT_QUERY_MAX_CLAIMS; i++)
        claims[i] = &claim;
    lienthong__subject__init(&sub);
    sub.key = K2;
    sub.claims = claims;
    sub.n_claims = n_claims;
    subs[0] = &sub;
    Lienthong__VerifyRequest q = LIENTHONG__VERIFY_REQUEST__INIT;
    q.request_id = *id = s_id();
    q.dataset = DS;
    q.purpose = "KYC";
    q.deadline_ms = s_now_ms() + 10000;
    if (!subjects || both) {
        q.keys = keys;
        q.n_keys = n_keys;
        q.claims = claims;
        q.n_claims = n_claims;
    }
    if (subjects) {
        q.subjects = subs;
        q.n_subjects = 1;
    }
    CU_ASSERT(s_send(&g_conf, 32, &q.base, NULL, NULL) == 0);
}

static void test_7_6_too_many_keys(void)
{
    uint64_t id;
    s_verify_send(LT_QUERY_MAX_KEYS + 1, 1, 0, 0, &id);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_TOO_LARGE, id, NULL));
}

static void test_7_6_too_many_claims(void)
{
    uint64_t id;
    s_verify_send(1, LT_QUERY_MAX_CLAIMS + 1, 0, 0, &id);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_TOO_LARGE, id, NULL));
}

static void test_7_6_both_forms(void)
{
    uint64_t id;
    s_verify_send(1, 1, 1, 1, &id);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, id, NULL));
}

static void test_7_6_no_claims(void)
{
    uint64_t id;
    s_verify_send(1, 0, 0, 0, &id);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, id, "claims"));
    s_verify_send(0, 1, 0, 0, &id);
    CU_ASSERT(s_expect_error(&g_conf, LIENTHONG__ERROR_CODE__ERR_MALFORMED, id, "key"));
}

/* 7.6: one signed answer per key, the last with `last`, results in claim order. */
static void test_7_6_verify_on_view(void)
{
    Lienthong__Claim c1 = LIENTHONG__CLAIM__INIT, c2 = LIENTHONG__CLAIM__INIT;
    Lienthong__Claim *claims[] = {&c1, &c2};
    c1.field = "full_name";
    c1.value = "\xc4\x90\xe1\xba\xb6NG TH\xe1\xbb\x8a H\xe1\xba\xa0"; /* upper case */
    c2.field = "date_of_birth";
    c2.value = "1990-01-02";
    char *keys[] = {K2, K1};
    Lienthong__VerifyRequest q = LIENTHONG__VERIFY_REQUEST__INIT;
    q.request_id = s_id();
    q.dataset = VIEW;
    q.keys = keys;
    q.n_keys = 2;
    q.claims = claims;
    q.n_claims = 2;
    q.purpose = "SERVICE";
    q.deadline_ms = s_now_ms() + 10000;
    CU_ASSERT_FATAL(s_send(&g_prov, 32, &q.base, NULL, NULL) == 0);
    int seen[2] = {0, 0}, last = 0;
    for (int i = 0; i < 2; i++) {
        Lienthong__Envelope *e = s_recv(g_prov.sock, REPLY_MS, NULL, NULL);
        if (!e || e->body_case != LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY) {
            CU_FAIL("no signed verify answer");
            s_free(&e);
            break;
        }
        CU_ASSERT(s_answer_signed(e->verify_reply) == 0);
        Lienthong__VerifyAnswer *a = lienthong__verify_answer__unpack(
            NULL, e->verify_reply->answer.len, e->verify_reply->answer.data);
        CU_ASSERT_FATAL(a && a->index < 2);
        seen[a->index]++;
        last += a->last;
        if (a->index == 0) {
            CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NONE && a->n_results == 2 &&
                      a->results[0] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH &&
                      a->results[1] == LIENTHONG__CLAIM_RESULT__CLAIM_NOT_ALLOWED);
        } else {
            CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND && a->n_results == 0);
        }
        lienthong__verify_answer__free_unpacked(a, NULL);
        s_free(&e);
    }
    CU_ASSERT(seen[0] == 1 && seen[1] == 1 && last == 1);
}

/* ---- 8 local API ---------------------------------------------------------------------- */

static void test_8_3_local_request_id_zero(void)
{
    lt_it_peer_t local = {s_local(), NULL};
    CU_ASSERT_FATAL(local.sock != NULL);
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "KYC");
    q.request_id = 0;
    CU_ASSERT(s_send(&local, 30, &q.base, NULL, NULL) == 0);
    CU_ASSERT(s_expect_error(&local, LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0, "request_id"));
    zmq_close(local.sock);
}

static void test_8_5_on_behalf_too_long(void)
{
    lt_it_peer_t local = {s_local(), NULL};
    CU_ASSERT_FATAL(local.sock != NULL);
    char officer[LT_ON_BEHALF_MAX + 2];
    memset(officer, 'o', sizeof officer - 1);
    officer[sizeof officer - 1] = 0;
    Lienthong__OnBehalf who = LIENTHONG__ON_BEHALF__INIT;
    who.application = "conformance";
    who.officer = officer;
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "KYC");
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.on_behalf = &who;
    env.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    env.lookup_request = &q;
    size_t len;
    uint8_t *b = s_pack(&env.base, &len);
    CU_ASSERT(b && s_send_raw(&local, b, len) == 0);
    CU_ASSERT(
        s_expect_error(&local, LIENTHONG__ERROR_CODE__ERR_MALFORMED, q.request_id, "on_behalf"));
    free(b);
    zmq_close(local.sock);
}

/* 8.11: a local DirectoryRequest gets the signed directory in use, the
 * bytes peers are offered, and they verify under the authority key the
 * client pins itself (5.2), whatever have_version says. */
static void test_8_11_local_directory(void)
{
    lt_it_peer_t local = {s_local(), NULL};
    CU_ASSERT_FATAL(local.sock != NULL);
    Lienthong__DirectoryRequest rq = LIENTHONG__DIRECTORY_REQUEST__INIT;
    rq.have_version = 1; /* the version in use: a peer would get nothing */
    CU_ASSERT(s_send(&local, 13, &rq.base, NULL, NULL) == 0);
    Lienthong__Envelope *e = s_recv(local.sock, REPLY_MS, NULL, NULL);
    lt_dir_t *d = NULL;
    LT_IT_REQUIRE(e && e->body_case == LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER);
    lt_dir_pins_t pins = {.count = 1};
    memcpy(pins.keys[0], lt_keys_signing_public(g_fed.authority), LT_KEY_BYTES);
    char err[256] = "";
    const ProtobufCBinaryData *b = &e->directory_offer->signed_directory;
    d = lt_dir_open(b->data, b->len, &pins, "VN", time(NULL), err, sizeof err);
    CU_ASSERT(d != NULL);
    if (!d)
        fprintf(stderr, "conformance: local directory: %s\n", err);
    CU_ASSERT(d && lt_dir_version(d) == 1 && lt_dir_dataset(d, DS) &&
              strcmp(lt_dir_dataset(d, DS)->owner, ID_OWNER) == 0);
out:
    lt_dir_destroy(&d);
    s_free(&e);
    zmq_close(local.sock);
}

/* 8.3: the member's own applications look up and verify its own data
 * through its own gateway: signed answers, no policy, every field. */
static void test_8_3_own_dataset(void)
{
    lt_it_peer_t local = {s_local(), NULL};
    CU_ASSERT_FATAL(local.sock != NULL);
    Lienthong__LookupRequest q;
    s_lookup_init(&q, DS, K2, "SERVICE");
    Lienthong__AnswerContext ctx = LIENTHONG__ANSWER_CONTEXT__INIT;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.context = &ctx;
    env.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    env.lookup_request = &q;
    size_t len;
    uint8_t *b = s_pack(&env.base, &len);
    CU_ASSERT(b && s_send_raw(&local, b, len) == 0);
    free(b);
    Lienthong__Envelope *e = s_recv(local.sock, REPLY_MS, NULL, NULL);
    Lienthong__LookupAnswer *a = NULL;
    LT_IT_REQUIRE(e && e->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY);
    CU_ASSERT(e->context && strcmp(e->context->record_type, "lienthong.records.Population") == 0);
    CU_ASSERT(s_answer_signed(e->lookup_reply) == 0);
    a = lienthong__lookup_answer__unpack(NULL, e->lookup_reply->answer.len,
                                         e->lookup_reply->answer.data);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NONE && a->request_id == q.request_id);
    CU_ASSERT(a->n_withheld == 0 &&
              a->n_released == lienthong__records__population__descriptor.n_fields);
    s_free(&e);
    /* and verify on the view, where the view still bounds fields and rows */
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *cp = &c;
    c.field = "sex";
    c.value = "SEX_FEMALE";
    char *keys[] = {K2};
    Lienthong__VerifyRequest v = LIENTHONG__VERIFY_REQUEST__INIT;
    v.request_id = s_id();
    v.dataset = VIEW;
    v.keys = keys;
    v.n_keys = 1;
    v.claims = &cp;
    v.n_claims = 1;
    v.purpose = "SERVICE";
    v.deadline_ms = s_now_ms() + 10000;
    CU_ASSERT(s_send(&local, 32, &v.base, NULL, NULL) == 0);
    e = s_recv(local.sock, REPLY_MS, NULL, NULL);
    LT_IT_REQUIRE(e && e->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY);
    CU_ASSERT(s_answer_signed(e->verify_reply) == 0);
    Lienthong__VerifyAnswer *va = lienthong__verify_answer__unpack(
        NULL, e->verify_reply->answer.len, e->verify_reply->answer.data);
    CU_ASSERT(va && va->last && va->code == LIENTHONG__ERROR_CODE__ERR_NONE && va->n_results == 1 &&
              va->results[0] == LIENTHONG__CLAIM_RESULT__CLAIM_NOT_ALLOWED);
    if (va)
        lienthong__verify_answer__free_unpacked(va, NULL);
out:
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    s_free(&e);
    zmq_close(local.sock);
}

/* ---- the runner ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"3.2 an unlisted key cannot complete a handshake", test_3_2_unlisted_key},
        {"3.2 a suspended member cannot complete a handshake", test_3_2_suspended_member},
        {"4.1 an extra frame: ERR_MALFORMED", test_4_1_extra_frame},
        {"4.1 an envelope of max_message bytes is served", test_4_1_envelope_of_max_message},
        {"4.2 #3 a frame over max_message: ERR_TOO_LARGE", test_4_2_3_frame_over_max_message},
        {"4.2 #7 a repeated body field: ERR_MALFORMED", test_4_2_7_repeated_body},
        {"4.2 #4 another version: ERR_VERSION, supported: 1", test_4_2_4_version},
        {"4.2 #5 an undecodable envelope: ERR_MALFORMED", test_4_2_5_undecodable},
        {"4.2 #6 no known body: ERR_UNSUPPORTED", test_4_2_6_no_body},
        {"4.3 a body in the wrong direction: ERR_UNSUPPORTED", test_4_3_direction},
        {"4.4 an Error is never answered", test_4_4_error_not_answered},
        {"4.5 subscribe.stream not UTF-8: ERR_MALFORMED naming it",
         test_4_5_subscribe_stream_not_utf8},
        {"4.5 a lookup field not UTF-8: ERR_MALFORMED, never signed",
         test_4_5_lookup_field_not_utf8},
        {"4.5 a nested claim value not UTF-8: ERR_MALFORMED", test_4_5_nested_claim_not_utf8},
        {"4.5 a NUL inside a string: ERR_MALFORMED", test_4_5_nul_in_string},
        {"4.5 a Publish payload string not UTF-8: ERR_MALFORMED",
         test_4_5_publish_payload_not_utf8},
        {"4.4 rejected input is logged and audited", test_4_4_rejected_logged_and_audited},
        {"4.4 Error replies are rate limited, counting continues", test_4_4_error_rate_limited},
        {"5.1 Hello is answered with Hello", test_5_1_hello_answered},
        {"5.1 DirectoryRequest, the same offer back, a bad offer: ERR_DIRECTORY",
         test_5_1_directory_exchange},
        {"6.2 from_seq 0: ERR_MALFORMED", test_6_2_from_seq_zero},
        {"6.2 prev_hash of the wrong length: ERR_MALFORMED", test_6_2_prev_hash_length},
        {"6.2 an empty stream: ERR_MALFORMED", test_6_2_empty_stream},
        {"6.2 #1 a stream not owned here: ERR_NOT_FOUND", test_6_2_1_not_owned},
        {"6.2 #2 no subscribe policy: ERR_FORBIDDEN", test_6_2_2_no_policy},
        {"6.2 #3 from_seq beyond the stream: ERR_SEQUENCE", test_6_2_3_beyond_stream},
        {"6.2 Credit, Unsubscribe without a subscription: ERR_NOT_FOUND",
         test_6_2_credit_without_subscription},
        {"6.3 batches within credit, signed over the rebuilt header", test_6_3_batch_signed},
        {"6.9 a cursor on another history: HistoryChanged, never a batch", test_6_9_history},
        {"7.1 request_id 0: ERR_MALFORMED", test_7_1_request_id_zero},
        {"7.1 a deadline over 10 minutes ahead: ERR_MALFORMED", test_7_1_deadline_far},
        {"7.1 a deadline passed: ERR_TIMEOUT", test_7_1_deadline_passed},
        {"7.1 timeout_ms set: deadline_ms not looked at", test_7_1_timeout_over_deadline},
        {"7.1 timeout_ms over 10 minutes: ERR_MALFORMED", test_7_1_timeout_far},
        {"7.2 purpose, dataset and key refusals are signed answers", test_7_2_signed_refusals},
        {"7.2 a retry gets the stored answer byte for byte", test_7_2_retry_replayed},
        {"7.5 lookup releases the policy's fields, withholds the rest",
         test_7_5_lookup_releases_policy_fields},
        {"7.5 empty fields: every field asked", test_7_5_empty_fields},
        {"7.5 lookup on a view: its fields and rows only", test_7_5_lookup_on_view},
        {"7.5 more than 64 fields: ERR_TOO_LARGE", test_7_5_too_many_fields},
        {"7.6 more than 1024 keys: ERR_TOO_LARGE", test_7_6_too_many_keys},
        {"7.6 more than 64 claims per key: ERR_TOO_LARGE", test_7_6_too_many_claims},
        {"7.6 keys and subjects together: ERR_MALFORMED", test_7_6_both_forms},
        {"7.6 no claims or no keys: ERR_MALFORMED", test_7_6_no_claims},
        {"7.6 verify on a view: one signed answer per key", test_7_6_verify_on_view},
        {"8.3 local request_id 0: ERR_MALFORMED", test_8_3_local_request_id_zero},
        {"8.5 on_behalf over 128 bytes: ERR_MALFORMED", test_8_5_on_behalf_too_long},
        {"8.3 the member's own applications query its own data", test_8_3_own_dataset},
        {"8.11 a local DirectoryRequest: the signed directory, under the authority key",
         test_8_11_local_directory},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"conformance", suite_init, suite_clean,
                                        NULL,          s_teardown, tests};
    return lt_it_main(argc, argv, &suite);
}

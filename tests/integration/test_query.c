/* test_query: integration tests of lookup and verify (PROTOCOL.md 7, 8.3)
 * with real `lienthong gateway` processes on 127.0.0.1.
 *
 * The federation: owner VN/GOV/BCA (population dataset and a view of
 * province 38), caller VN/COM/VIETTEL (lookup + verify on the dataset,
 * subscribe on the view), VN/COM/MOBI (lookup only) and VN/PROV/38 (no policy).
 * An "application" is a DEALER on the caller's local socket; "direct peers"
 * are CURVE DEALERs holding a member's keys, talking to the owner itself.
 *
 * Proves: field-level policy (withheld fields never leave the owner, reasons
 * listed); purpose enforcement; verify never returns data and normalises
 * Vietnamese claims; batch verify streams one answer per key with exactly one
 * `last`; members without a policy or without the operation are refused;
 * the caller's gateway drops answers that are wrongly signed, bound to
 * another request, replayed, or naming another member as their owner (a
 * fake owner holding the owner's transport key sends them), and delivers a
 * correct one; a retry is executed once (the
 * stored answer comes back byte for byte after the record changed); an id
 * reused with other bytes by another of the member's own applications is
 * refused, never answered with the first one's answer, and an application's
 * identical request while its id is outstanding is a retry; an owner
 * started late still answers once; a dead owner yields ERR_UNAVAILABLE
 * naming it at the deadline, one that answers only forgeries ERR_TIMEOUT; a lookup is answered
 * while a publish group waits to commit; `lookup --json` and `verify --json` print valid JSON;
 * lookups and verifies are answered by an owner whose clock is a minute
 * ahead or 20 minutes behind the caller's (timeout_ms, 7.1); an owner two
 * minutes ahead shows in both gateways' lienthong_peer_clock_offset_seconds,
 * the caller's status and log, from the Hellos' sent_at_ms (5.1), and in
 * the clock line of `lienthong ping`, which otherwise names the gateway and
 * its directory version for a listed member's key and says a key the
 * directory does not list gets no answer (exit 1). Of a fake gateway's
 * answers, ping prints the peer's text with its controls escaped (no
 * escape sequence or line of the peer's reaches the terminal), no clock
 * line for a Hello without sent_at_ms and no figure for one more than 100
 * years away.
 *
 * Usage: test_query /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_itest.h"
#include "lt_clock.h"
#include "lt_client.h"
#include "lt_crypto.h"
#include "lt_file.h"
#include "lt_query.h"
#include "lt_sock.h"
#include "records/population.pb-c.h"

#include <CUnit/Basic.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sqlite3.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define ID_OWNER    "VN/GOV/BCA"
#define ID_CALLER   "VN/COM/VIETTEL"
#define ID_LOOKONLY "VN/COM/MOBI"
#define ID_NOPOLICY "VN/PROV/38"
#define ID_OUTSIDER "VN/PROV/99" /* keys on disk, not in the directory */
#define DS          "VN/GOV/BCA/population"
#define VIEW        DS ".p38"

#define READY_MS 15000 /* a gateway answers status (generous for ASan) */
#define REPLY_MS 5000  /* an answer that must come */
#define QUIET_MS 700   /* an answer that must not come */

/* Citizens. K1 lives in province 01 (outside the view), K2 and K3 in 38. */
#define K1        "001080000001"
#define K2        "038090000002"
#define K3        "038075000003"
#define KX        "099999999999" /* never published */
#define BULK_KEYS 2000

/* Stored values, NFC. "Nguyễn Văn An", "Đặng Thị Hạ", "Lê Thị Hà". */
#define NAME1     "Nguy\xe1\xbb\x85n V\xc4\x83n An"
#define NAME2     "\xc4\x90\xe1\xba\xb7ng Th\xe1\xbb\x8b H\xe1\xba\xa1"
#define NAME3     "L\xc3\xaa Th\xe1\xbb\x8b H\xc3\xa0"
#define NAME3_NEW "L\xc3\xaa Th\xe1\xbb\x8b H\xc3\xa0 Ph\xc6\xb0\xc6\xa1ng"
#define DOB1      "1980-02-29"
#define DOB2      "1990-01-02"
#define ADDR1                                                                                      \
    "S\xe1\xbb\x91 12 ph\xe1\xbb\x91 H\xc3\xa0ng B\xe1\xba\xa1"                                    \
    "c, H\xc3\xa0 N\xe1\xbb\x99i"
#define ADDR2                                                                                      \
    "Th\xc3\xb4n \xc4\x90\xc3\xb4ng, Ho\xe1\xba\xb1ng H\xc3\xb3"                                   \
    "a, Thanh H\xc3\xb3"                                                                           \
    "a"
/* Claims: NAME1 in upper case with combining marks and odd spacing
 * ("  NGUYỄN \t VĂN AN "), NAME2 in upper case ("ĐẶNG THỊ HẠ"), and the
 * same with a plain D (which must not match). */
#define CLAIM1_UPPER_NFD                                                                           \
    "  NGUYE\xcc\x82\xcc\x83N \t VA\xcc\x86N\xc2\xa0"                                              \
    "AN "
#define CLAIM2_UPPER   "\xc4\x90\xe1\xba\xb6NG TH\xe1\xbb\x8a H\xe1\xba\xa0"
#define CLAIM2_PLAIN_D "D\xe1\xba\xb7ng Th\xe1\xbb\x8b H\xe1\xba\xa1"

static const char *s_source =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "views = ( { id = \"" VIEW "\"; dataset = \"" DS "\";\n"
    "  fields = [\"personal_id\", \"full_name\", \"date_of_birth\"];\n"
    "  where = { current_province = \"38\"; }; } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_CALLER "\"; target = \"" DS "\"; allow = [\"lookup\", \"verify\"];\n"
    "    fields = [\"full_name\", \"date_of_birth\", \"sex\"]; purposes = [\"KYC\", \"AUDIT\"]; "
    "},\n"
    "  { consumer = \"" ID_CALLER "\"; target = \"" VIEW "\"; allow = [\"subscribe\"]; },\n"
    "  { consumer = \"" ID_LOOKONLY "\"; target = \"" DS "\"; allow = [\"lookup\"];\n"
    "    fields = [\"full_name\"]; purposes = [\"KYC\"]; },\n"
    "  { consumer = \"" ID_LOOKONLY "\"; target = \"" VIEW "\"; allow = [\"lookup\"];\n"
    "    fields = [\"full_name\"]; purposes = [\"KYC\"]; } );\n";

static lt_it_fed_t g_fed;
static lt_it_gw_t *g_owner, *g_caller;
static lt_it_member_t *g_m_owner, *g_m_caller, *g_m_lookonly, *g_m_nopolicy, *g_m_outsider;
static lt_it_peer_t g_app; /* DEALER on the caller's local socket */
static uint8_t *g_genuine; /* a genuine owner answer, replayed later */
static size_t g_genuine_len;

/* ---- small helpers ------------------------------------------------------------ */

static uint64_t s_id(void)
{
    uint64_t id = 0;
    while (!id)
        randombytes_buf(&id, sizeof id);
    return id;
}

static uint8_t *s_dup(const void *p, size_t len)
{
    uint8_t *c = malloc(len ? len : 1);
    if (c && len)
        memcpy(c, p, len);
    return c;
}

/* Any message, packed (an answer the tests sign themselves). */
static uint8_t *s_pack_msg(const ProtobufCMessage *msg, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        protobuf_c_message_pack(msg, buf);
    return buf;
}

static uint8_t *s_pack_env(const Lienthong__Envelope *env, size_t *len)
{
    *len = lienthong__envelope__get_packed_size(env);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        lienthong__envelope__pack(env, buf);
    return buf;
}

static int s_contains(const uint8_t *hay, size_t len, const char *needle)
{
    return memmem(hay, len, needle, strlen(needle)) != NULL;
}

/* H32 of the exact body bytes of a packed request envelope. */
static int s_request_hash(const uint8_t *env, size_t len, uint8_t out[LT_HASH_BYTES])
{
    const uint8_t *body;
    size_t body_len;
    if (lt_wire_body_bytes(env, len, &body, &body_len) != 0)
        return -1;
    lt_crypto_hash(body, body_len, out);
    return 0;
}

/* A Population record, packed. */
static uint8_t *s_person(const char *key, const char *name, const char *dob, int sex,
                         const char *province, const char *address, size_t *len)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.personal_id = (char *)key;
    p.full_name = (char *)name;
    p.date_of_birth = (char *)dob;
    p.sex = (Lienthong__Records__Sex)sex;
    p.place_of_birth = "Thanh H\xc3\xb3"
                       "a";
    p.ethnicity = "Kinh";
    p.nationality = "VN";
    p.permanent_province = (char *)province;
    p.current_province = (char *)province;
    p.current_address = (char *)address;
    p.id_card_number = (char *)key;
    p.id_card_issued = "2021-06-01";
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    *len = lienthong__records__population__get_packed_size(&p);
    uint8_t *buf = malloc(*len);
    if (buf)
        lienthong__records__population__pack(&p, buf);
    return buf;
}

/* ---- receiving ----------------------------------------------------------------- */

typedef struct {
    uint8_t *frame; /* exact bytes received */
    size_t len;
    Lienthong__Envelope *env;
} msg_t;

static void s_msg_free(msg_t *m)
{
    free(m->frame);
    lt_wire_free(&m->env);
    memset(m, 0, sizeof *m);
}

/* One single-frame message from a DEALER within timeout_ms. */
static int s_recv(void *sock, int timeout_ms, msg_t *m)
{
    memset(m, 0, sizeof *m);
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return -1;
    zmq_msg_t z;
    zmq_msg_init(&z);
    if (zmq_msg_recv(&z, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&z);
        return -1;
    }
    int more = zmq_msg_more(&z);
    m->len = zmq_msg_size(&z);
    m->frame = s_dup(zmq_msg_data(&z), m->len);
    zmq_msg_close(&z);
    while (more) { /* never expected: drained, then refused below */
        zmq_msg_init(&z);
        (void)zmq_msg_recv(&z, sock, 0);
        more = zmq_msg_more(&z);
        zmq_msg_close(&z);
        free(m->frame);
        m->frame = NULL;
    }
    Lienthong__ErrorCode code;
    char err[256];
    if (m->frame)
        m->env = lt_wire_decode(m->frame, m->len, LT_LOCAL_MAX_MESSAGE, &code, err, sizeof err);
    if (!m->env) {
        fprintf(stderr, "test_query: undecodable message of %zu bytes\n", m->len);
        s_msg_free(m);
        return -1;
    }
    return 0;
}

/* request_id a reply is about (0 when it has none). */
static uint64_t s_msg_id(const msg_t *m)
{
    const Lienthong__Envelope *e = m->env;
    uint64_t id = 0;
    if (e->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        return e->error->request_id;
    if (e->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY) {
        Lienthong__LookupAnswer *a = lienthong__lookup_answer__unpack(
            NULL, e->lookup_reply->answer.len, e->lookup_reply->answer.data);
        id = a ? a->request_id : 0;
        if (a)
            lienthong__lookup_answer__free_unpacked(a, NULL);
    } else if (e->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY) {
        Lienthong__VerifyAnswer *a = lienthong__verify_answer__unpack(
            NULL, e->verify_reply->answer.len, e->verify_reply->answer.data);
        id = a ? a->request_id : 0;
        if (a)
            lienthong__verify_answer__free_unpacked(a, NULL);
    }
    return id;
}

/* The next message about request id; others are dropped (and reported). */
static int s_await(void *sock, uint64_t id, int timeout_ms, msg_t *m)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    for (;;) {
        int64_t left = deadline - lt_it_ms();
        if (left <= 0 || s_recv(sock, (int)left, m) != 0)
            return -1;
        if (s_msg_id(m) == id)
            return 0;
        fprintf(stderr, "test_query: stray %s for request %llu dropped\n",
                lt_wire_body_name(m->env->body_case), (unsigned long long)s_msg_id(m));
        s_msg_free(m);
    }
}

/* 1 when nothing about request id arrives within ms. */
static int s_quiet(void *sock, uint64_t id, int ms)
{
    msg_t m;
    if (s_await(sock, id, ms, &m) != 0)
        return 1;
    fprintf(stderr, "test_query: unexpected %s for request %llu\n",
            lt_wire_body_name(m.env->body_case), (unsigned long long)id);
    s_msg_free(&m);
    return 0;
}

/* Independent check of a SignedAnswer (PROTOCOL.md 6.4, 7.3): the Merkle
 * path from leaf(answer) and the root signature under pk. 0 when valid. */
static int s_answer_signed_by(const Lienthong__SignedAnswer *sa, const uint8_t pk[LT_KEY_BYTES])
{
    if (sa->root_signature.len != LT_SIG_BYTES || sa->proof_count == 0 ||
        sa->proof_index >= sa->proof_count)
        return -1;
    uint8_t h[LT_HASH_BYTES], buf[1 + 2 * LT_HASH_BYTES];
    lt_crypto_merkle_leaf(sa->answer.data, sa->answer.len, h);
    size_t i = sa->proof_index, n = sa->proof_count, k = 0;
    while (n > 1) {
        if ((i & 1) || i + 1 < n) {
            if (k >= sa->n_proof || sa->proof[k].len != LT_HASH_BYTES)
                return -1;
            buf[0] = 0x01;
            memcpy(buf + 1, (i & 1) ? sa->proof[k].data : h, LT_HASH_BYTES);
            memcpy(buf + 1 + LT_HASH_BYTES, (i & 1) ? h : sa->proof[k].data, LT_HASH_BYTES);
            lt_crypto_hash(buf, sizeof buf, h);
            k++;
        }
        i /= 2;
        n = (n + 1) / 2;
    }
    if (k != sa->n_proof)
        return -1;
    return lt_keys_verify(pk, LT_ANSWERS_DOMAIN, h, LT_HASH_BYTES, sa->root_signature.data);
}

static const uint8_t *s_owner_pk(void)
{
    return lt_keys_signing_public(g_m_owner->keys);
}

/* ---- requests -------------------------------------------------------------------- */

typedef struct {
    uint8_t *bytes; /* exact envelope sent */
    size_t len;
    uint8_t hash[LT_HASH_BYTES];
} sent_t;

static void s_sent_free(sent_t *s)
{
    free(s->bytes);
    memset(s, 0, sizeof *s);
}

static int s_send_env(lt_it_peer_t *p, const Lienthong__Envelope *env, sent_t *out)
{
    memset(out, 0, sizeof *out);
    out->bytes = s_pack_env(env, &out->len);
    if (!out->bytes || s_request_hash(out->bytes, out->len, out->hash) != 0)
        return -1;
    return lt_it_peer_send_raw(p, out->bytes, out->len, REPLY_MS);
}

/* A lookup sent for the application named in who (PROTOCOL.md 8.5; NULL:
 * none), which a local socket takes. */
static int s_send_lookup_as(lt_it_peer_t *p, uint64_t id, const char *target, const char *key,
                            char **fields, size_t n_fields, const char *purpose, int ahead_ms,
                            Lienthong__OnBehalf *who, sent_t *out)
{
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = id;
    q.dataset = (char *)target;
    q.key = (char *)key;
    q.fields = fields;
    q.n_fields = n_fields;
    q.purpose = (char *)purpose;
    q.case_ref = "HS-2025-0042";
    q.deadline_ms = lt_clock_now_ms() + ahead_ms;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    env.lookup_request = &q;
    env.on_behalf = who;
    return s_send_env(p, &env, out);
}

static int s_send_lookup(lt_it_peer_t *p, uint64_t id, const char *target, const char *key,
                         char **fields, size_t n_fields, const char *purpose, int ahead_ms,
                         sent_t *out)
{
    return s_send_lookup_as(p, id, target, key, fields, n_fields, purpose, ahead_ms, NULL, out);
}

static int s_send_verify(lt_it_peer_t *p, uint64_t id, const char *target, char **keys,
                         size_t n_keys, Lienthong__Claim **claims, size_t n_claims,
                         Lienthong__Subject **subjects, size_t n_subjects, const char *purpose,
                         int ahead_ms, sent_t *out)
{
    Lienthong__VerifyRequest q = LIENTHONG__VERIFY_REQUEST__INIT;
    q.request_id = id;
    q.dataset = (char *)target;
    q.keys = keys;
    q.n_keys = n_keys;
    q.claims = claims;
    q.n_claims = n_claims;
    q.subjects = subjects;
    q.n_subjects = n_subjects;
    q.purpose = (char *)purpose;
    q.case_ref = "HS-2025-0043";
    q.deadline_ms = lt_clock_now_ms() + ahead_ms;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    env.verify_request = &q;
    return s_send_env(p, &env, out);
}

/* Checks a lookup reply's signature and binding; returns the decoded answer. */
static Lienthong__LookupAnswer *s_lookup_answer(const msg_t *m, uint64_t id, const sent_t *sent)
{
    if (m->env->body_case != LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY) {
        fprintf(stderr, "test_query: expected a lookup_reply, got %s",
                lt_wire_body_name(m->env->body_case));
        if (m->env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
            fprintf(stderr, " %s: %s", lt_wire_error_name(m->env->error->code),
                    m->env->error->message);
        fprintf(stderr, "\n");
        return NULL;
    }
    const Lienthong__SignedAnswer *sa = m->env->lookup_reply;
    if (s_answer_signed_by(sa, s_owner_pk()) != 0) {
        fprintf(stderr, "test_query: lookup answer not signed by the owner\n");
        return NULL;
    }
    Lienthong__LookupAnswer *a =
        lienthong__lookup_answer__unpack(NULL, sa->answer.len, sa->answer.data);
    if (!a || a->request_id != id || a->request_hash.len != LT_HASH_BYTES ||
        memcmp(a->request_hash.data, sent->hash, LT_HASH_BYTES) != 0 ||
        strcmp(a->owner, ID_OWNER) != 0) {
        fprintf(stderr, "test_query: lookup answer not bound to request %llu\n",
                (unsigned long long)id);
        if (a)
            lienthong__lookup_answer__free_unpacked(a, NULL);
        return NULL;
    }
    return a;
}

/* Same for one verify reply. */
static Lienthong__VerifyAnswer *s_verify_answer(const msg_t *m, uint64_t id, const sent_t *sent)
{
    if (m->env->body_case != LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY) {
        fprintf(stderr, "test_query: expected a verify_reply, got %s\n",
                lt_wire_body_name(m->env->body_case));
        return NULL;
    }
    const Lienthong__SignedAnswer *sa = m->env->verify_reply;
    if (s_answer_signed_by(sa, s_owner_pk()) != 0)
        return NULL;
    Lienthong__VerifyAnswer *a =
        lienthong__verify_answer__unpack(NULL, sa->answer.len, sa->answer.data);
    if (!a || a->request_id != id || a->request_hash.len != LT_HASH_BYTES ||
        memcmp(a->request_hash.data, sent->hash, LT_HASH_BYTES) != 0 ||
        strcmp(a->owner, ID_OWNER) != 0) {
        if (a)
            lienthong__verify_answer__free_unpacked(a, NULL);
        return NULL;
    }
    return a;
}

/* A lookup through p (application or direct peer) answered within REPLY_MS. */
static Lienthong__LookupAnswer *s_lookup(lt_it_peer_t *p, const char *target, const char *key,
                                         char **fields, size_t n_fields, const char *purpose,
                                         msg_t *m)
{
    uint64_t id = s_id();
    sent_t sent;
    Lienthong__LookupAnswer *a = NULL;
    memset(m, 0, sizeof *m);
    if (s_send_lookup(p, id, target, key, fields, n_fields, purpose, 10000, &sent) == 0 &&
        s_await(p->sock, id, REPLY_MS, m) == 0)
        a = s_lookup_answer(m, id, &sent);
    s_sent_free(&sent);
    return a;
}

/* Verify answers of one request: every one received until `last` or the
 * time runs out; n_after_last counts messages after the `last` one.
 * s_collect_verify returns 0 when a `last` came, 1 when an Error came
 * instead (kept in err), -1 otherwise. */
typedef struct {
    Lienthong__VerifyAnswer **a;
    size_t n, cap;
    size_t n_last, n_bad, n_after_last;
    msg_t err;  /* an Error instead of answers */
    int leaked; /* some answer's bytes held a stored value */
} vresult_t;

static void s_vresult_free(vresult_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        lienthong__verify_answer__free_unpacked(r->a[i], NULL);
    free(r->a);
    s_msg_free(&r->err);
    memset(r, 0, sizeof *r);
}

static const char *const s_stored_values[] = {
    NAME1, NAME2, NAME3, NAME3_NEW, ADDR1, ADDR2, "nguy\xe1\xbb\x85n v\xc4\x83n an", NULL};

static int s_collect_verify(lt_it_peer_t *p, uint64_t id, const sent_t *sent, int timeout_ms,
                            vresult_t *r)
{
    memset(r, 0, sizeof *r);
    int64_t deadline = lt_it_ms() + timeout_ms;
    while (lt_it_ms() < deadline) {
        msg_t m;
        int left = (int)(deadline - lt_it_ms());
        if (r->n_last)
            left = left < QUIET_MS ? left : QUIET_MS; /* nothing may follow `last` */
        if (left <= 0 || s_await(p->sock, id, left, &m) != 0)
            break;
        if (r->n_last) {
            r->n_after_last++;
            s_msg_free(&m);
            continue;
        }
        if (m.env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
            r->err = m;
            return 1; /* an Error instead of answers */
        }
        for (size_t i = 0; s_stored_values[i]; i++)
            r->leaked |= s_contains(m.frame, m.len, s_stored_values[i]);
        Lienthong__VerifyAnswer *a = s_verify_answer(&m, id, sent);
        s_msg_free(&m);
        if (!a) {
            r->n_bad++;
            continue;
        }
        if (r->n == r->cap) {
            size_t cap = r->cap ? 2 * r->cap : 64;
            Lienthong__VerifyAnswer **grown = realloc(r->a, cap * sizeof *grown);
            if (!grown) {
                lienthong__verify_answer__free_unpacked(a, NULL);
                return -1;
            }
            r->a = grown;
            r->cap = cap;
        }
        r->a[r->n++] = a;
        r->n_last += a->last;
    }
    return r->n_last ? 0 : -1;
}

/* The answer for index i, or NULL. */
static const Lienthong__VerifyAnswer *s_vindex(const vresult_t *r, uint32_t i)
{
    for (size_t k = 0; k < r->n; k++)
        if (r->a[k]->index == i)
            return r->a[k];
    return NULL;
}

static Lienthong__Records__Population *s_payload(const Lienthong__LookupAnswer *a)
{
    return lienthong__records__population__unpack(NULL, a->payload.len, a->payload.data);
}

/* ---- publishing on the owner ------------------------------------------------------ */

/* Sends a Publish of n changes to the owner's local socket without waiting:
 * the socket to read its answer on (closed by the caller), or NULL. */
/* Sends an envelope holding body, of the envelope field type, on a local
 * client socket (waiting for it to connect): 0 when sent. */
static int s_send_body(void *sock, Lienthong__Envelope__BodyCase type, const void *body)
{
    zmq_msg_t msg;
    if (lt_wire_pack_body(&msg, type, body) != 0)
        return -1;
    lt_it_peer_t p = {sock, NULL};
    int rc = lt_it_peer_send_raw(&p, zmq_msg_data(&msg), zmq_msg_size(&msg), REPLY_MS);
    zmq_msg_close(&msg);
    return rc;
}

static void *s_publish_send(Lienthong__Change **changes, size_t n, uint64_t *request_id)
{
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    lt_it_peer_t p = {lt_sock_local_client(lt_it_ctx(), g_owner->sock_path, &o, err, sizeof err),
                      NULL};
    if (!p.sock)
        return NULL;
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT;
    pub.request_id = *request_id = s_id();
    pub.dataset = DS;
    pub.changes = changes;
    pub.n_changes = n;
    if (s_send_body(p.sock, LIENTHONG__ENVELOPE__BODY_PUBLISH, &pub) != 0) {
        zmq_close(p.sock);
        p.sock = NULL;
    }
    return p.sock;
}

/* Waits for the PublishAck of request_id on sock: 0 when it came. */
static int s_publish_ack(void *sock, uint64_t request_id, int timeout_ms)
{
    msg_t m = {0};
    int rc = -1;
    if (s_recv(sock, timeout_ms, &m) == 0) {
        if (m.env->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK &&
            m.env->publish_ack->request_id == request_id)
            rc = 0;
        else if (m.env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
            fprintf(stderr, "test_query: publish refused: %s\n", m.env->error->message);
    }
    s_msg_free(&m);
    return rc;
}

/* Publishes n changes through the owner's local socket and waits for the ack. */
static int s_publish(Lienthong__Change **changes, size_t n)
{
    uint64_t id;
    void *sock = s_publish_send(changes, n, &id);
    int rc = sock ? s_publish_ack(sock, id, 30000) : -1;
    if (sock)
        zmq_close(sock);
    return rc;
}

static int s_publish_one(const char *key, const char *name, const char *dob, int sex,
                         const char *province, const char *address)
{
    Lienthong__Change c = LIENTHONG__CHANGE__INIT, *cp = &c;
    c.key = (char *)key;
    c.payload.data = s_person(key, name, dob, sex, province, address, &c.payload.len);
    int rc = c.payload.data ? s_publish(&cp, 1) : -1;
    free(c.payload.data);
    return rc;
}

/* Twelve digits: i is below BULK_KEYS, so eight of its own always do; the
 * modulo tells the compiler so (-Wformat-truncation at -O1 and above). */
_Static_assert(BULK_KEYS <= 100000000, "a bulk key has eight digits of its number");
static void s_bulk_key(size_t i, char out[16])
{
    snprintf(out, 16, "0770%08u", (unsigned)(i % 100000000u));
}

static int s_publish_bulk(void)
{
    static Lienthong__Change changes[BULK_KEYS], *ptrs[BULK_KEYS];
    static char keys[BULK_KEYS][16];
    int rc = 0;
    for (size_t i = 0; i < BULK_KEYS; i++) {
        lienthong__change__init(&changes[i]);
        s_bulk_key(i, keys[i]);
        changes[i].key = keys[i];
        changes[i].payload.data =
            s_person(keys[i], NAME2, DOB2, 2, "38", ADDR2, &changes[i].payload.len);
        if (!changes[i].payload.data)
            rc = -1;
        ptrs[i] = &changes[i];
    }
    if (rc == 0)
        rc = s_publish(ptrs, BULK_KEYS);
    for (size_t i = 0; i < BULK_KEYS; i++)
        free(changes[i].payload.data);
    return rc;
}

/* ---- the suite's federation ----------------------------------------------------------- */

/* An application: a DEALER on gw's local socket in p. 0, or -1. */
static int s_local_open(const lt_it_gw_t *gw, lt_it_peer_t *p)
{
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    p->sock = lt_sock_local_client(lt_it_ctx(), gw->sock_path, &o, err, sizeof err);
    p->member = NULL;
    if (!p->sock)
        fprintf(stderr, "test_query: application socket: %s\n", err);
    return p->sock ? 0 : -1;
}

static int s_open_app(void)
{
    int rc = s_local_open(g_caller, &g_app);
    g_app.member = g_m_caller;
    return rc;
}

static int suite_init(void)
{
    static const char *peers[] = {ID_OWNER, NULL};
    if (lt_it_fed_init(&g_fed, "VN") != 0 || !(g_m_owner = lt_it_member_add(&g_fed, ID_OWNER, 1)) ||
        !(g_m_caller = lt_it_member_add(&g_fed, ID_CALLER, 1)) ||
        !(g_m_lookonly = lt_it_member_add(&g_fed, ID_LOOKONLY, 0)) ||
        !(g_m_nopolicy = lt_it_member_add(&g_fed, ID_NOPOLICY, 0)) ||
        !(g_m_outsider = lt_it_member_add(&g_fed, ID_OUTSIDER, 0)))
        return -1;
    snprintf(g_m_outsider->status, sizeof g_m_outsider->status, "absent");
    g_fed.extra_source = s_source;
    g_owner = lt_it_gw_new(&g_fed, g_m_owner, 1, NULL, NULL);
    g_caller = lt_it_gw_new(&g_fed, g_m_caller, 1, peers, NULL);
    if (!g_owner || !g_caller || lt_it_gw_run(g_owner, READY_MS) != 0 ||
        lt_it_gw_run(g_caller, READY_MS) != 0)
        return -1;
    if (s_publish_one(K1, NAME1, DOB1, 1, "01", ADDR1) != 0 ||
        s_publish_one(K2, NAME2, DOB2, 2, "38", ADDR2) != 0 ||
        s_publish_one(K3, NAME3, DOB2, 2, "38", ADDR2) != 0 || s_publish_bulk() != 0) {
        fprintf(stderr, "test_query: publishing the test records failed\n");
        lt_it_log_dump(g_owner);
        return -1;
    }
    if (lt_it_gw_wait_peer(g_caller, ID_OWNER, READY_MS) != 0 || s_open_app() != 0) {
        lt_it_log_dump(g_caller);
        return -1;
    }
    return 0;
}

static int suite_clean(void)
{
    if (g_app.sock)
        zmq_close(g_app.sock);
    g_app.sock = NULL;
    free(g_genuine);
    g_genuine = NULL;
    lt_it_fed_cleanup(&g_fed);
    return 0;
}

static void s_dump_logs(void)
{
    if (CU_get_number_of_failures() == 0)
        return;
    lt_it_log_dump(g_owner);
    lt_it_log_dump(g_caller);
}

/* ---- field-level policy ------------------------------------------------------------------ */

static void test_lookup_fields(void)
{
    msg_t m = {0};
    Lienthong__LookupAnswer *a = NULL;
    Lienthong__Records__Population *p = NULL;

    /* Asked: two allowed fields, two outside the policy, one unknown. */
    char *ask[] = {"full_name", "date_of_birth", "current_address", "personal_id", "no_such_field"};
    a = s_lookup(&g_app, DS, K1, ask, 5, "KYC", &m);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NONE);
    CU_ASSERT(a->record_seq >= 1);
    CU_ASSERT(a->n_released == 2 && lt_it_released(a, "full_name") &&
              lt_it_released(a, "date_of_birth"));
    CU_ASSERT(a->n_withheld == 3);
    CU_ASSERT(lt_it_reason_is(a, "current_address", "not allowed by policy"));
    CU_ASSERT(lt_it_reason_is(a, "personal_id", "not allowed by policy"));
    CU_ASSERT(lt_it_reason_is(a, "no_such_field", "unknown field"));
    LT_IT_REQUIRE((p = s_payload(a)) != NULL);
    CU_ASSERT_STRING_EQUAL(p->full_name, NAME1);
    CU_ASSERT_STRING_EQUAL(p->date_of_birth, DOB1);
    CU_ASSERT_STRING_EQUAL(p->current_address, "");
    CU_ASSERT_STRING_EQUAL(p->personal_id, "");
    CU_ASSERT_STRING_EQUAL(p->id_card_number, "");
    CU_ASSERT(p->sex == 0 && p->status == 0);
    CU_ASSERT(p->base.n_unknown_fields == 0);
    /* Not in the payload, nor anywhere else in the frame. */
    CU_ASSERT(!s_contains(m.frame, m.len, ADDR1));
    CU_ASSERT(!s_contains(m.frame, m.len, "Thanh H"));
    CU_ASSERT(s_contains(m.frame, m.len, NAME1));
    lienthong__records__population__free_unpacked(p, NULL);
    p = NULL;
    lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m);

    /* Only refused fields: nothing released, no payload. */
    char *refused[] = {"current_address", "home_town"};
    a = s_lookup(&g_app, DS, K1, refused, 2, "KYC", &m);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NONE);
    CU_ASSERT(a->n_released == 0 && a->payload.len == 0 && a->n_withheld == 2);
    CU_ASSERT(!s_contains(m.frame, m.len, ADDR1));
    lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m);

    /* No field asked: exactly the policy's fields, every other withheld. */
    a = s_lookup(&g_app, DS, K1, NULL, 0, "AUDIT", &m);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NONE);
    CU_ASSERT(a->n_released == 3 && lt_it_released(a, "full_name") &&
              lt_it_released(a, "date_of_birth") && lt_it_released(a, "sex"));
    CU_ASSERT(a->n_withheld == lienthong__records__population__descriptor.n_fields - 3);
    for (size_t i = 0; i < a->n_withheld; i++)
        CU_ASSERT_STRING_EQUAL(a->withheld[i]->reason, "not allowed by policy");
    LT_IT_REQUIRE((p = s_payload(a)) != NULL);
    CU_ASSERT_STRING_EQUAL(p->full_name, NAME1);
    CU_ASSERT_STRING_EQUAL(p->date_of_birth, DOB1);
    CU_ASSERT(p->sex == LIENTHONG__RECORDS__SEX__SEX_MALE);
    CU_ASSERT_STRING_EQUAL(p->personal_id, "");
    CU_ASSERT_STRING_EQUAL(p->current_address, "");
    CU_ASSERT_STRING_EQUAL(p->nationality, "");
    CU_ASSERT(!s_contains(m.frame, m.len, ADDR1));
    lienthong__records__population__free_unpacked(p, NULL);
    p = NULL;
    lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m);

    /* A view: the directory grants lookup and verify on datasets only, so
     * the caller's subscribe-only policy on the view refuses a lookup. */
    a = s_lookup(&g_app, VIEW, K2, NULL, 0, "KYC", &m);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN);
    CU_ASSERT(a->payload.len == 0 && a->n_released == 0);
    CU_ASSERT(!s_contains(m.frame, m.len, NAME2));
    lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m);

    /* An unknown key: a signed ERR_NOT_FOUND without data. */
    a = s_lookup(&g_app, DS, KX, ask, 2, "KYC", &m);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND);
    CU_ASSERT(a->payload.len == 0 && a->n_released == 0);
out:
    if (p)
        lienthong__records__population__free_unpacked(p, NULL);
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m);
    s_dump_logs();
}

/* ---- purpose ------------------------------------------------------------------------------ */

/* The metrics of both gateways parse, and their lookup counters moved by
 * exactly the lookups made (PROTOCOL.md 8.6). */
#define METRIC_LOOKUPS 5
static void test_metrics(void)
{
    static const char *made = "lienthong_query_made_total{op=\"lookup\"}";
    static const char *answered = "lienthong_query_answered_total{op=\"lookup\"}";
    static const char *executed =
        "lienthong_query_served_total{op=\"lookup\",outcome=\"executed\"}";
    static const char *refused =
        "lienthong_query_refused_total{op=\"lookup\",reason=\"ERR_PURPOSE\"}";
    char *ask[] = {"full_name"};
    char *c0 = lt_it_gw_metrics(g_caller, REPLY_MS), *o0 = lt_it_gw_metrics(g_owner, REPLY_MS);
    CU_ASSERT_FATAL(c0 && o0);
    CU_ASSERT(lt_it_metrics_parse(c0) && lt_it_metrics_parse(o0));
    for (int i = 0; i < METRIC_LOOKUPS; i++) {
        msg_t m;
        Lienthong__LookupAnswer *a = s_lookup(&g_app, DS, K1, ask, 1, "KYC", &m);
        CU_ASSERT(a && a->code == LIENTHONG__ERROR_CODE__ERR_NONE);
        if (a)
            lienthong__lookup_answer__free_unpacked(a, NULL);
        s_msg_free(&m);
    }
    msg_t m; /* one refused for its purpose: counted under its reason only */
    Lienthong__LookupAnswer *a = s_lookup(&g_app, DS, K1, ask, 1, "MARKETING", &m);
    CU_ASSERT(a && a->code == LIENTHONG__ERROR_CODE__ERR_PURPOSE);
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m);
    char *c1 = lt_it_gw_metrics(g_caller, REPLY_MS), *o1 = lt_it_gw_metrics(g_owner, REPLY_MS);
    CU_ASSERT_FATAL(c1 && o1);
    CU_ASSERT(lt_it_metrics_parse(c1) && lt_it_metrics_parse(o1));
    CU_ASSERT_EQUAL(lt_it_metric(c1, made) - lt_it_metric(c0, made), METRIC_LOOKUPS + 1);
    CU_ASSERT_EQUAL(lt_it_metric(c1, answered) - lt_it_metric(c0, answered), METRIC_LOOKUPS + 1);
    CU_ASSERT_EQUAL(lt_it_metric(o1, executed) - lt_it_metric(o0, executed), METRIC_LOOKUPS);
    double r0 = lt_it_metric(o0, refused);
    CU_ASSERT_EQUAL(lt_it_metric(o1, refused) - (r0 < 0 ? 0 : r0), 1);
    CU_ASSERT(lt_it_metric(o1, "lienthong_query_latency_seconds_count{op=\"lookup\"}") >=
              METRIC_LOOKUPS + 1);
    CU_ASSERT(lt_it_metric(c1, "lienthong_peers_connected") >= 1);
    CU_ASSERT(lt_it_metric(o1, "lienthong_stream_last_seq{stream=\"" DS "\"}") >= 3);
    free(c0);
    free(o0);
    free(c1);
    free(o1);
}

static void test_purpose(void)
{
    msg_t m = {0};
    sent_t sent = {0};
    vresult_t r = {0};
    char *ask[] = {"full_name"};
    Lienthong__LookupAnswer *a = s_lookup(&g_app, DS, K1, ask, 1, "MARKETING", &m);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_PURPOSE);
    CU_ASSERT(a->payload.len == 0 && a->n_released == 0 && a->record_seq == 0);
    CU_ASSERT(!s_contains(m.frame, m.len, NAME1));
    lienthong__lookup_answer__free_unpacked(a, NULL);
    a = NULL;
    s_msg_free(&m);
    /* Purpose codes are compared exactly. */
    a = s_lookup(&g_app, DS, K1, ask, 1, "kyc", &m);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_PURPOSE && a->payload.len == 0);
    lienthong__lookup_answer__free_unpacked(a, NULL);
    a = NULL;
    s_msg_free(&m);

    /* Verify with a wrong purpose: one refusal, last, no key, no results. */
    char *keys[] = {K1, K2};
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *cp[] = {&c};
    c.field = "full_name";
    c.value = NAME1;
    uint64_t id = s_id();
    LT_IT_REQUIRE(
        s_send_verify(&g_app, id, DS, keys, 2, cp, 1, NULL, 0, "MARKETING", 10000, &sent) == 0);
    LT_IT_REQUIRE(s_collect_verify(&g_app, id, &sent, REPLY_MS, &r) == 0);
    CU_ASSERT(r.n == 1 && r.n_bad == 0 && r.n_after_last == 0);
    CU_ASSERT(r.a[0]->code == LIENTHONG__ERROR_CODE__ERR_PURPOSE);
    CU_ASSERT(r.a[0]->last && r.a[0]->index == 0 && r.a[0]->key[0] == 0 && r.a[0]->n_results == 0);
out:
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m);
    s_sent_free(&sent);
    s_vresult_free(&r);
    s_dump_logs();
}

/* ---- verify -------------------------------------------------------------------------------- */

static void test_verify(void)
{
    sent_t sent = {0};
    vresult_t r = {0};
    /* VerifyAnswer has no field that could carry a record. */
    CU_ASSERT(protobuf_c_message_descriptor_get_field_by_name(&lienthong__verify_answer__descriptor,
                                                              "payload") == NULL);
    char *keys[] = {K1, K2, KX};
    Lienthong__Claim c[6], *cp[6];
    static const char *const claims[6][2] = {
        {"full_name", CLAIM1_UPPER_NFD}, /* K1: match (case, NFD, spaces) */
        {"date_of_birth", "19800229"},   /* K1: match (as a date) */
        {"current_address", "x"},        /* outside the policy */
        {"sex", "sex_male"},             /* enums by value name */
        {"full_name", "Nguyen Van An"},  /* no diacritics: no match */
        {"date_of_birth", "1980-2-29"}}; /* unparsable: no match */
    for (size_t i = 0; i < 6; i++) {
        lienthong__claim__init(&c[i]);
        c[i].field = (char *)claims[i][0];
        c[i].value = (char *)claims[i][1];
        cp[i] = &c[i];
    }
    /* Each field once per request (7.6): the last two claims in one of
     * their own, their results put after the first four's. */
    uint64_t id = s_id();
    LT_IT_REQUIRE(s_send_verify(&g_app, id, DS, keys, 3, cp + 4, 2, NULL, 0, "KYC", 10000, &sent) ==
                  0);
    LT_IT_REQUIRE(s_collect_verify(&g_app, id, &sent, REPLY_MS, &r) == 0);
    CU_ASSERT(r.n == 3 && r.n_last == 1 && r.n_bad == 0 && !r.leaked);
    Lienthong__ClaimResult later[2] = {0, 0};
    const Lienthong__VerifyAnswer *w1 = s_vindex(&r, 0);
    LT_IT_REQUIRE(w1 && w1->n_results == 2);
    memcpy(later, w1->results, sizeof later);
    s_vresult_free(&r);
    s_sent_free(&sent);
    id = s_id();
    LT_IT_REQUIRE(s_send_verify(&g_app, id, DS, keys, 3, cp, 4, NULL, 0, "KYC", 10000, &sent) == 0);
    LT_IT_REQUIRE(s_collect_verify(&g_app, id, &sent, REPLY_MS, &r) == 0);
    CU_ASSERT(r.n == 3 && r.n_last == 1 && r.n_bad == 0 && r.n_after_last == 0 && !r.leaked);
    CU_ASSERT(r.n >= 1 && r.a[r.n - 1]->last); /* the final one */
    const Lienthong__VerifyAnswer *v1 = s_vindex(&r, 0), *v2 = s_vindex(&r, 1),
                                  *vx = s_vindex(&r, 2);
    LT_IT_REQUIRE(v1 && v2 && vx);
    CU_ASSERT_STRING_EQUAL(v1->key, K1);
    CU_ASSERT(v1->code == LIENTHONG__ERROR_CODE__ERR_NONE);
    LT_IT_REQUIRE(v1->n_results == 4 && v2->n_results == 4);
    CU_ASSERT(v1->results[0] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH);
    CU_ASSERT(v1->results[1] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH);
    CU_ASSERT(v1->results[2] == LIENTHONG__CLAIM_RESULT__CLAIM_NOT_ALLOWED);
    CU_ASSERT(v1->results[3] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH);
    CU_ASSERT(later[0] == LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH);
    CU_ASSERT(later[1] == LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH);
    CU_ASSERT_STRING_EQUAL(v2->key, K2);
    CU_ASSERT(v2->results[0] == LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH);
    CU_ASSERT(v2->results[1] == LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH);
    CU_ASSERT(v2->results[2] == LIENTHONG__CLAIM_RESULT__CLAIM_NOT_ALLOWED);
    CU_ASSERT(v2->results[3] == LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH);
    CU_ASSERT_STRING_EQUAL(vx->key, KX);
    CU_ASSERT(vx->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND && vx->n_results == 0);
    for (size_t i = 0; i < r.n; i++)
        CU_ASSERT(r.a[i]->base.n_unknown_fields == 0);
    s_vresult_free(&r);
    s_sent_free(&sent);

    /* Subjects, each with its own claims: đ matches Đ, never D. */
    Lienthong__Claim s1c = LIENTHONG__CLAIM__INIT, s2c = LIENTHONG__CLAIM__INIT,
                     s3c = LIENTHONG__CLAIM__INIT, s3d = LIENTHONG__CLAIM__INIT;
    Lienthong__Claim *s1cp[] = {&s1c}, *s2cp[] = {&s2c}, *s3cp[] = {&s3c, &s3d};
    s1c.field = "full_name";
    s1c.value = "nguy\xe1\xbb\x85n v\xc4\x83n an";
    s2c.field = "full_name";
    s2c.value = CLAIM2_UPPER;
    s3c.field = "full_name";
    s3c.value = CLAIM2_PLAIN_D;
    s3d.field = "date_of_birth";
    s3d.value = " 1990-01-02 ";
    Lienthong__Subject sj[3], *sjp[3];
    for (size_t i = 0; i < 3; i++) {
        lienthong__subject__init(&sj[i]);
        sjp[i] = &sj[i];
    }
    sj[0].key = K1, sj[0].claims = s1cp, sj[0].n_claims = 1;
    sj[1].key = K2, sj[1].claims = s2cp, sj[1].n_claims = 1;
    sj[2].key = K2, sj[2].claims = s3cp, sj[2].n_claims = 2;
    id = s_id();
    LT_IT_REQUIRE(s_send_verify(&g_app, id, DS, NULL, 0, NULL, 0, sjp, 2, "KYC", 10000, &sent) ==
                  0);
    LT_IT_REQUIRE(s_collect_verify(&g_app, id, &sent, REPLY_MS, &r) == 0);
    CU_ASSERT(r.n == 2 && r.n_last == 1 && r.n_bad == 0 && !r.leaked);
    v1 = s_vindex(&r, 0), v2 = s_vindex(&r, 1);
    LT_IT_REQUIRE(v1 && v2 && v1->n_results == 1 && v2->n_results == 1);
    CU_ASSERT(v1->results[0] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH);
    CU_ASSERT(v2->results[0] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH);
    s_vresult_free(&r);
    s_sent_free(&sent);
    /* K2 again, in a request of its own: a key once per request (7.6). */
    id = s_id();
    LT_IT_REQUIRE(
        s_send_verify(&g_app, id, DS, NULL, 0, NULL, 0, sjp + 2, 1, "KYC", 10000, &sent) == 0);
    LT_IT_REQUIRE(s_collect_verify(&g_app, id, &sent, REPLY_MS, &r) == 0);
    CU_ASSERT(r.n == 1 && r.n_last == 1 && r.n_bad == 0 && !r.leaked);
    vx = s_vindex(&r, 0);
    LT_IT_REQUIRE(vx && vx->n_results == 2);
    CU_ASSERT(vx->results[0] == LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH);
    CU_ASSERT(vx->results[1] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH);
out:
    s_vresult_free(&r);
    s_sent_free(&sent);
    s_dump_logs();
}

/* n keys of the bulk set with one shared claim; every answer checked. */
static void s_batch(size_t n, int expect_refusal)
{
    static char keys[BULK_KEYS][16];
    static char *kp[BULK_KEYS];
    sent_t sent = {0};
    vresult_t r = {0};
    uint8_t *seen = calloc(n, 1);
    LT_IT_REQUIRE(seen != NULL && n <= BULK_KEYS);
    for (size_t i = 0; i < n; i++) {
        s_bulk_key(i, keys[i]);
        kp[i] = keys[i];
    }
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *cp[] = {&c};
    c.field = "full_name";
    c.value = CLAIM2_UPPER;
    uint64_t id = s_id();
    int64_t t0 = lt_it_ms();
    LT_IT_REQUIRE(s_send_verify(&g_app, id, DS, kp, n, cp, 1, NULL, 0, "KYC", 20000, &sent) == 0);
    int rc = s_collect_verify(&g_app, id, &sent, 20000, &r);
    if (expect_refusal) {
        /* Over the owner's cap: an unsigned ERR_TOO_LARGE, passed on. */
        CU_ASSERT(rc == 1 && r.n == 0);
        CU_ASSERT(r.err.env && r.err.env->error->code == LIENTHONG__ERROR_CODE__ERR_TOO_LARGE);
        goto out;
    }
    LT_IT_REQUIRE(rc == 0);
    fprintf(stderr, "test_query: %zu verify answers in %lld ms\n", r.n,
            (long long)(lt_it_ms() - t0));
    CU_ASSERT(r.n == n && r.n_last == 1 && r.n_bad == 0 && r.n_after_last == 0 && !r.leaked);
    CU_ASSERT(r.n > 0 && r.a[r.n - 1]->last);
    size_t distinct = 0, match = 0, key_ok = 0;
    for (size_t i = 0; i < r.n; i++) {
        const Lienthong__VerifyAnswer *a = r.a[i];
        if (a->index < n && !seen[a->index]) {
            seen[a->index] = 1;
            distinct++;
            key_ok += strcmp(a->key, keys[a->index]) == 0;
        }
        match += a->code == 0 && a->n_results == 1 &&
                 a->results[0] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH;
    }
    CU_ASSERT(distinct == n);
    CU_ASSERT(key_ok == n);
    CU_ASSERT(match == n);
out:
    free(seen);
    s_vresult_free(&r);
    s_sent_free(&sent);
}

static void test_verify_batch(void)
{
    /* 2000 keys in one request. The owner streams them if its cap allows;
     * the protocol lets it refuse more than 1024 (7.6), and this one does
     * (LT_QUERY_MAX_KEYS): then the largest allowed batch must stream. */
    s_batch(BULK_KEYS, LT_QUERY_MAX_KEYS < BULK_KEYS);
    if (LT_QUERY_MAX_KEYS < BULK_KEYS)
        s_batch(LT_QUERY_MAX_KEYS, 0);
    s_dump_logs();
}

/* ---- who may ask ---------------------------------------------------------------------------- */

/* A member that may look up only a view learns nothing of the keys
 * outside it: a key of another province answers as one that never
 * existed, record_seq 0 included (PROTOCOL.md 7.5). */
static void test_view_hides_outside(void)
{
    lt_it_peer_t v = {0};
    msg_t m = {0};
    char *ask[] = {"full_name"};
    LT_IT_REQUIRE(lt_it_peer_open_gw(&v, g_m_lookonly, g_owner) == 0);
    const char *keys[] = {K2, K1, KX};
    for (int i = 0; i < 3; i++) {
        Lienthong__LookupAnswer *a = s_lookup(&v, VIEW, keys[i], ask, 1, "KYC", &m);
        LT_IT_REQUIRE(a != NULL);
        int found = i == 0;
        CU_ASSERT(!found || (a->code == LIENTHONG__ERROR_CODE__ERR_NONE && a->record_seq >= 1 &&
                             a->n_released == 1));
        CU_ASSERT(found || (a->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND && a->record_seq == 0 &&
                            a->n_released == 0 && a->payload.len == 0));
        CU_ASSERT(i != 1 || !s_contains(m.frame, m.len, NAME1));
        lienthong__lookup_answer__free_unpacked(a, NULL);
        s_msg_free(&m);
    }
out:
    s_msg_free(&m);
    lt_it_peer_close(&v);
}

static void test_forbidden(void)
{
    lt_it_peer_t nopol = {0}, lookonly = {0};
    msg_t m = {0};
    sent_t sent = {0};
    vresult_t r = {0};
    Lienthong__LookupAnswer *a = NULL;
    char *ask[] = {"full_name"};
    char *keys[] = {K1};
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *cp[] = {&c};
    c.field = "full_name";
    c.value = NAME1;
    LT_IT_REQUIRE(lt_it_peer_open_gw(&nopol, g_m_nopolicy, g_owner) == 0);
    LT_IT_REQUIRE(lt_it_peer_open_gw(&lookonly, g_m_lookonly, g_owner) == 0);

    /* No policy at all: lookup and verify refused, signed, no data. */
    a = s_lookup(&nopol, DS, K1, ask, 1, "KYC", &m);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN);
    CU_ASSERT(a->payload.len == 0 && a->n_released == 0);
    CU_ASSERT(!s_contains(m.frame, m.len, NAME1));
    lienthong__lookup_answer__free_unpacked(a, NULL);
    a = NULL;
    s_msg_free(&m);
    uint64_t id = s_id();
    LT_IT_REQUIRE(s_send_verify(&nopol, id, DS, keys, 1, cp, 1, NULL, 0, "KYC", 10000, &sent) == 0);
    LT_IT_REQUIRE(s_collect_verify(&nopol, id, &sent, REPLY_MS, &r) == 0);
    CU_ASSERT(r.n == 1 && r.a[0]->code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN && r.a[0]->last &&
              r.a[0]->n_results == 0 && r.a[0]->key[0] == 0);
    s_vresult_free(&r);
    s_sent_free(&sent);

    /* Lookup only: lookup works, verify is refused. */
    a = s_lookup(&lookonly, DS, K1, ask, 1, "KYC", &m);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NONE && lt_it_released(a, "full_name"));
    lienthong__lookup_answer__free_unpacked(a, NULL);
    a = NULL;
    s_msg_free(&m);
    id = s_id();
    LT_IT_REQUIRE(s_send_verify(&lookonly, id, DS, keys, 1, cp, 1, NULL, 0, "KYC", 10000, &sent) ==
                  0);
    LT_IT_REQUIRE(s_collect_verify(&lookonly, id, &sent, REPLY_MS, &r) == 0);
    CU_ASSERT(r.n == 1 && r.a[0]->code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN && r.a[0]->last &&
              r.a[0]->n_results == 0);
    s_vresult_free(&r);
    s_sent_free(&sent);

    /* Through the caller's gateway: its policy on the view has no verify. */
    id = s_id();
    LT_IT_REQUIRE(s_send_verify(&g_app, id, VIEW, keys, 1, cp, 1, NULL, 0, "KYC", 10000, &sent) ==
                  0);
    LT_IT_REQUIRE(s_collect_verify(&g_app, id, &sent, REPLY_MS, &r) == 0);
    CU_ASSERT(r.n == 1 && r.a[0]->code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN && r.a[0]->last);
out:
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m);
    s_vresult_free(&r);
    s_sent_free(&sent);
    lt_it_peer_close(&nopol);
    lt_it_peer_close(&lookonly);
    s_dump_logs();
}

/* ---- executed once -----------------------------------------------------------------------------
 */

static void test_retry_executed_once(void)
{
    lt_it_peer_t peer = {0};
    msg_t m1 = {0}, m2 = {0}, m3 = {0};
    sent_t sent = {0}, other = {0};
    uint8_t *first[3] = {0}; /* a verify's answers, as first received */
    size_t first_len[3] = {0};
    Lienthong__LookupAnswer *a = NULL;
    Lienthong__Records__Population *p = NULL;
    char *ask[] = {"full_name"};
    /* The caller's keys, straight to the owner. */
    LT_IT_REQUIRE(lt_it_peer_open_gw(&peer, g_m_caller, g_owner) == 0);
    uint64_t id = s_id();
    LT_IT_REQUIRE(s_send_lookup(&peer, id, DS, K3, ask, 1, "KYC", 60000, &sent) == 0);
    LT_IT_REQUIRE(s_await(peer.sock, id, REPLY_MS, &m1) == 0);
    LT_IT_REQUIRE((a = s_lookup_answer(&m1, id, &sent)) != NULL);
    LT_IT_REQUIRE((p = s_payload(a)) != NULL);
    CU_ASSERT_STRING_EQUAL(p->full_name, NAME3);
    uint64_t seq = a->record_seq;
    lienthong__records__population__free_unpacked(p, NULL);
    p = NULL;
    lienthong__lookup_answer__free_unpacked(a, NULL);
    a = NULL;

    /* The owner's state changes... */
    LT_IT_REQUIRE(s_publish_one(K3, NAME3_NEW, DOB2, 2, "38", ADDR2) == 0);
    /* ...and the same bytes again get the stored answer, byte for byte. */
    LT_IT_REQUIRE(lt_it_peer_send_raw(&peer, sent.bytes, sent.len, REPLY_MS) == 0);
    LT_IT_REQUIRE(s_await(peer.sock, id, REPLY_MS, &m2) == 0);
    CU_ASSERT(m2.len == m1.len && memcmp(m2.frame, m1.frame, m1.len) == 0);
    CU_ASSERT(s_contains(m2.frame, m2.len, NAME3) && !s_contains(m2.frame, m2.len, NAME3_NEW));
    CU_ASSERT(s_quiet(peer.sock, id, 300)); /* one answer per retry */

    /* The same id with other bytes also gets the stored answer (which a
     * caller would reject: its hash is not of these bytes). */
    LT_IT_REQUIRE(s_send_lookup(&peer, id, DS, K1, ask, 1, "KYC", 60000, &other) == 0);
    LT_IT_REQUIRE(s_await(peer.sock, id, REPLY_MS, &m3) == 0);
    CU_ASSERT(m3.len == m1.len && memcmp(m3.frame, m1.frame, m1.len) == 0);
    s_msg_free(&m3);

    /* A new request sees the new state. */
    a = s_lookup(&peer, DS, K3, ask, 1, "KYC", &m3);
    LT_IT_REQUIRE(a != NULL && (p = s_payload(a)) != NULL);
    CU_ASSERT_STRING_EQUAL(p->full_name, NAME3_NEW);
    CU_ASSERT(a->record_seq > seq);

    /* Kept for the replay test below: a genuine answer for another id. */
    free(g_genuine);
    g_genuine = s_dup(m1.frame, m1.len);
    g_genuine_len = m1.len;

    /* A verify retry replays all its answers, identical and in order. */
    s_msg_free(&m1);
    s_msg_free(&m2);
    s_sent_free(&sent);
    char *keys[] = {K1, K2, KX};
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *cp[] = {&c};
    c.field = "full_name";
    c.value = NAME1;
    id = s_id();
    LT_IT_REQUIRE(s_send_verify(&peer, id, DS, keys, 3, cp, 1, NULL, 0, "KYC", 60000, &sent) == 0);
    int same = 1;
    for (int round = 0; round < 2; round++) {
        if (round)
            LT_IT_REQUIRE(lt_it_peer_send_raw(&peer, sent.bytes, sent.len, REPLY_MS) == 0);
        for (int k = 0; k < 3; k++) {
            msg_t v;
            LT_IT_REQUIRE(s_await(peer.sock, id, REPLY_MS, &v) == 0);
            if (!round) {
                first[k] = s_dup(v.frame, v.len);
                first_len[k] = v.len;
            } else {
                same &= v.len == first_len[k] && memcmp(v.frame, first[k], v.len) == 0;
            }
            s_msg_free(&v);
        }
    }
    CU_ASSERT(same);
    CU_ASSERT(s_quiet(peer.sock, id, 300));
out:
    for (int k = 0; k < 3; k++)
        free(first[k]);
    if (p)
        lienthong__records__population__free_unpacked(p, NULL);
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m1);
    s_msg_free(&m2);
    s_msg_free(&m3);
    s_sent_free(&sent);
    s_sent_free(&other);
    lt_it_peer_close(&peer);
    s_dump_logs();
}

/* ---- the CLI's JSON ---------------------------------------------------------------------------
 */

/* Runs the binary with stdout and stderr to separate strings. Exit code or -1. */
static int s_cli(const char *const *args, char **out, char **err)
{
    char out_path[PATH_MAX], err_path[PATH_MAX];
    snprintf(out_path, sizeof out_path, "%.4000s/cli.out", g_fed.dir);
    snprintf(err_path, sizeof err_path, "%.4000s/cli.err", g_fed.dir);
    char *argv[32];
    int n = 0;
    argv[n++] = (char *)lt_it_binary();
    for (size_t i = 0; args[i] && n < 31; i++)
        argv[n++] = (char *)args[i];
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid == 0) {
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
            _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    int64_t deadline = lt_it_ms() + 20000;
    int st = 0;
    pid_t r;
    while ((r = waitpid(pid, &st, WNOHANG)) == 0 && lt_it_ms() < deadline)
        usleep(10000);
    if (r == 0) {
        kill(pid, SIGKILL);
        (void)waitpid(pid, &st, 0);
    }
    size_t len;
    *out = *err = NULL;
    if (lt_file_read(out_path, 16u << 20, (uint8_t **)out, &len) != 0)
        *out = strdup("");
    if (lt_file_read(err_path, 16u << 20, (uint8_t **)err, &len) != 0)
        *err = strdup("");
    return r == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *s_json(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);
    if (!j)
        fprintf(stderr, "test_query: not JSON (%s at line %d): %s\n", e.text, e.line, text);
    return j;
}

static const char *s_jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : "";
}

static void test_cli_json(void)
{
    char *out = NULL, *err = NULL;
    json_t *j = NULL;
    const char *lookup[] = {"lookup",
                            "--config",
                            g_caller->conf_path,
                            "--dataset",
                            DS,
                            "--key",
                            K1,
                            "--purpose",
                            "KYC",
                            "--field",
                            "full_name",
                            "--field",
                            "date_of_birth",
                            "--field",
                            "current_address",
                            "--case",
                            "HS-1",
                            "--json",
                            NULL};
    int rc = s_cli(lookup, &out, &err);
    CU_ASSERT(rc == 0);
    LT_IT_REQUIRE((j = s_json(out)) != NULL && json_is_object(j));
    CU_ASSERT_STRING_EQUAL(s_jstr(j, "code"), "OK");
    CU_ASSERT_STRING_EQUAL(s_jstr(j, "dataset"), DS);
    CU_ASSERT_STRING_EQUAL(s_jstr(j, "key"), K1);
    CU_ASSERT_STRING_EQUAL(s_jstr(j, "owner"), ID_OWNER);
    CU_ASSERT_STRING_EQUAL(s_jstr(j, "signature"), "verified");
    CU_ASSERT(json_is_integer(json_object_get(j, "record_seq")) &&
              json_integer_value(json_object_get(j, "record_seq")) >= 1);
    json_t *fields = json_object_get(j, "fields"), *wh = json_object_get(j, "withheld");
    LT_IT_REQUIRE(json_is_object(fields) && json_is_array(wh));
    CU_ASSERT(json_object_size(fields) == 2);
    CU_ASSERT_STRING_EQUAL(s_jstr(fields, "full_name"), NAME1);
    CU_ASSERT_STRING_EQUAL(s_jstr(fields, "date_of_birth"), DOB1);
    CU_ASSERT(json_object_get(fields, "current_address") == NULL);
    LT_IT_REQUIRE(json_array_size(wh) == 1);
    CU_ASSERT_STRING_EQUAL(s_jstr(json_array_get(wh, 0), "field"), "current_address");
    CU_ASSERT_STRING_EQUAL(s_jstr(json_array_get(wh, 0), "reason"), "not allowed by policy");
    CU_ASSERT(strstr(out, "S\xe1\xbb\x91 12") == NULL);
    json_decref(j);
    j = NULL;
    free(out);
    free(err);
    out = err = NULL;

    const char *verify[] = {"verify",
                            "--config",
                            g_caller->conf_path,
                            "--dataset",
                            DS,
                            "--key",
                            K1,
                            "--key",
                            KX,
                            "--claim",
                            "full_name=" CLAIM1_UPPER_NFD,
                            "--claim",
                            "date_of_birth=19800229",
                            "--claim",
                            "current_address=x",
                            "--purpose",
                            "KYC",
                            "--json",
                            NULL};
    rc = s_cli(verify, &out, &err);
    CU_ASSERT(rc == 1); /* a claim not allowed and an unknown key: not every claim matches */
    LT_IT_REQUIRE((j = s_json(out)) != NULL && json_is_array(j));
    CU_ASSERT(json_array_size(j) == 2);
    int seen_k1 = 0, seen_kx = 0;
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *o = json_array_get(j, i), *cl = json_object_get(o, "claims");
        LT_IT_REQUIRE(json_is_object(o) && json_is_object(cl));
        if (strcmp(s_jstr(o, "key"), K1) == 0) {
            seen_k1++;
            CU_ASSERT_STRING_EQUAL(s_jstr(o, "code"), "OK");
            CU_ASSERT_STRING_EQUAL(s_jstr(cl, "full_name"), "match");
            CU_ASSERT_STRING_EQUAL(s_jstr(cl, "date_of_birth"), "match");
            CU_ASSERT_STRING_EQUAL(s_jstr(cl, "current_address"), "not-allowed");
        } else if (strcmp(s_jstr(o, "key"), KX) == 0) {
            seen_kx++;
            CU_ASSERT_STRING_EQUAL(s_jstr(o, "code"), "ERR_NOT_FOUND");
            CU_ASSERT(json_object_size(cl) == 0);
        }
    }
    CU_ASSERT(seen_k1 == 1 && seen_kx == 1);
    CU_ASSERT(strstr(out, NAME1) == NULL);
    json_decref(j);
    j = NULL;
    free(out);
    free(err);
    out = err = NULL;

    /* verify's exit status: 0 when every claim matches, 2 when the owner
     * refuses the whole request (nothing was compared). */
    const char *all_match[] = {"verify",
                               "--config",
                               g_caller->conf_path,
                               "--dataset",
                               DS,
                               "--key",
                               K1,
                               "--claim",
                               "full_name=" CLAIM1_UPPER_NFD,
                               "--claim",
                               "date_of_birth=19800229",
                               "--purpose",
                               "KYC",
                               NULL};
    CU_ASSERT_EQUAL(s_cli(all_match, &out, &err), 0);
    free(out);
    free(err);
    out = err = NULL;
    const char *no_purpose[] = {
        "verify",  "--config",    g_caller->conf_path, "--dataset",       DS,  "--key", K1,
        "--claim", "full_name=x", "--purpose",         "NO-SUCH-PURPOSE", NULL};
    CU_ASSERT_EQUAL(s_cli(no_purpose, &out, &err), 2);
    free(out);
    free(err);
    out = err = NULL;

    /* A refusal with --json is still JSON on stdout. */
    const char *bad[] = {
        "lookup", "--config", g_caller->conf_path, "--dataset", "VN/GOV/BCA/nothing",
        "--key",  K1,         "--purpose",         "KYC",       "--json",
        NULL};
    rc = s_cli(bad, &out, &err);
    CU_ASSERT(rc == 1);
    LT_IT_REQUIRE((j = s_json(out)) != NULL && json_is_object(j));
    CU_ASSERT_STRING_EQUAL(s_jstr(j, "code"), "ERR_NOT_FOUND");
out:
    json_decref(j);
    free(out);
    free(err);
    s_dump_logs();
}

/* ---- the member's own applications (PROTOCOL.md 8.3) ------------------------------------------
 */

/* Entries of gw's audit log (about subject, or the last 500 when NULL)
 * whose event is event and whose column col holds has; -1 when the log
 * cannot be read. */
static int s_audit_count(const lt_it_gw_t *gw, const char *subject, const char *event,
                         const char *col, const char *has)
{
    const char *about[] = {"audit", "--config", gw->conf_path, "--subject",
                           subject, "--json",   NULL};
    const char *last[] = {"audit", "--config", gw->conf_path, "--last", "500", "--json", NULL};
    char *out = NULL, *err = NULL;
    json_t *j = NULL, *e;
    size_t i;
    int n = -1;
    if (s_cli(subject ? about : last, &out, &err) == 0 && (j = s_json(out)) && json_is_array(j)) {
        n = 0;
        json_array_foreach(j, i, e) n +=
            strcmp(s_jstr(e, "event"), event) == 0 && strstr(s_jstr(e, col), has) != NULL;
    }
    json_decref(j);
    free(out);
    free(err);
    return n;
}

/* Two applications on the owner's own local socket share the caller
 * "local": an id one used is not the other's to reuse. B, reusing A's id
 * for another citizen, is refused with the id named, not handed A's
 * signed answer about A's citizen (which no entry would show B had); A's
 * identical resend is a retry and gets its answer again. */
static void test_own_id_reused(void)
{
    lt_it_peer_t a = {0}, b = {0};
    sent_t sa = {0}, sb = {0};
    msg_t m1 = {0}, m2 = {0}, mb = {0};
    Lienthong__LookupAnswer *ans = NULL;
    Lienthong__Records__Population *p = NULL;
    Lienthong__OnBehalf wa = LIENTHONG__ON_BEHALF__INIT, wb = LIENTHONG__ON_BEHALF__INIT;
    char *ask[] = {"personal_id", "full_name"};
    char ka[16], kb[16], idtext[32];
    s_bulk_key(101, ka);
    s_bulk_key(102, kb);
    wa.application = "app-a";
    wa.officer = "can-bo-1";
    wb.application = "app-b";
    wb.officer = "can-bo-2";
    LT_IT_REQUIRE(g_owner->pid > 0);
    LT_IT_REQUIRE(s_local_open(g_owner, &a) == 0 && s_local_open(g_owner, &b) == 0);
    uint64_t id = s_id();
    snprintf(idtext, sizeof idtext, "%llu", (unsigned long long)id);
    LT_IT_REQUIRE(s_send_lookup_as(&a, id, DS, ka, ask, 2, "KYC", 60000, &wa, &sa) == 0);
    LT_IT_REQUIRE(s_await(a.sock, id, REPLY_MS, &m1) == 0);
    LT_IT_REQUIRE((ans = s_lookup_answer(&m1, id, &sa)) != NULL && (p = s_payload(ans)) != NULL);
    CU_ASSERT_STRING_EQUAL(p->personal_id, ka);

    LT_IT_REQUIRE(s_send_lookup_as(&b, id, DS, kb, ask, 2, "KYC", 60000, &wb, &sb) == 0);
    LT_IT_REQUIRE(s_await(b.sock, id, REPLY_MS, &mb) == 0);
    CU_ASSERT(!s_contains(mb.frame, mb.len, ka));
    CU_ASSERT_EQUAL(mb.env->body_case, LIENTHONG__ENVELOPE__BODY_ERROR);
    if (mb.env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
        CU_ASSERT_EQUAL(mb.env->error->code, LIENTHONG__ERROR_CODE__ERR_MALFORMED);
        CU_ASSERT_PTR_NOT_NULL(strstr(mb.env->error->message, idtext));
    }

    LT_IT_REQUIRE(lt_it_peer_send_raw(&a, sa.bytes, sa.len, REPLY_MS) == 0);
    LT_IT_REQUIRE(s_await(a.sock, id, REPLY_MS, &m2) == 0);
    CU_ASSERT(m2.len == m1.len && memcmp(m2.frame, m1.frame, m1.len) == 0);

    /* Answers leave only audited (7.3): A's lookup once, for A; nothing
     * answered about B's citizen or to B; B's refusal, naming the id. */
    CU_ASSERT_EQUAL(s_audit_count(g_owner, ka, "lookup", "application", "app-a"), 1);
    CU_ASSERT_EQUAL(s_audit_count(g_owner, ka, "lookup", "application", "app-b"), 0);
    CU_ASSERT_EQUAL(s_audit_count(g_owner, kb, "lookup", "application", ""), 0);
    int refused = 0;
    for (int64_t until = lt_it_ms() + REPLY_MS; !refused && lt_it_ms() < until; usleep(100000))
        refused = s_audit_count(g_owner, NULL, "refused", "detail", idtext) == 1;
    CU_ASSERT(refused);
out:
    if (p)
        lienthong__records__population__free_unpacked(p, NULL);
    if (ans)
        lienthong__lookup_answer__free_unpacked(ans, NULL);
    s_msg_free(&m1);
    s_msg_free(&m2);
    s_msg_free(&mb);
    s_sent_free(&sa);
    s_sent_free(&sb);
    lt_it_peer_close(&a);
    lt_it_peer_close(&b);
    s_dump_logs();
}

/* ---- a dead owner ------------------------------------------------------------------------------
 */

/* Sends a StatusRequest on sock and waits for the StatusReply: 0. */
static int s_status_on(void *sock)
{
    Lienthong__StatusRequest req = LIENTHONG__STATUS_REQUEST__INIT;
    msg_t m = {0};
    int rc = s_send_body(sock, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &req) == 0 &&
                     s_recv(sock, REPLY_MS, &m) == 0 &&
                     m.env->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY
                 ? 0
                 : -1;
    s_msg_free(&m);
    return rc;
}

/* Lookups never wait behind writes (docs/ARCHITECTURE.md 6): while the
 * owner's writer thread cannot commit a publish group (another connection
 * holds the store's write lock), the owner still answers a lookup, and the
 * group is acknowledged, and visible, once the lock is released. The order
 * is what is checked: the lookup's answer comes while the Publish has no
 * answer yet. */
#define K_LATE "001070000009"
static void test_lookup_during_commit(void)
{
    msg_t m = {0};
    Lienthong__LookupAnswer *a = NULL;
    Lienthong__Records__Population *p = NULL;
    Lienthong__Change c = LIENTHONG__CHANGE__INIT, *cp = &c;
    char *ask[] = {"full_name"};
    void *pub = NULL;
    uint64_t pub_id = 0;
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/store.db", g_owner->data_dir);
    sqlite3 *db = NULL;
    LT_IT_REQUIRE(sqlite3_open(path, &db) == SQLITE_OK &&
                  sqlite3_busy_timeout(db, 5000) == SQLITE_OK &&
                  sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    c.key = K_LATE;
    c.payload.data = s_person(K_LATE, NAME3, DOB2, 2, "01", ADDR1, &c.payload.len);
    LT_IT_REQUIRE(c.payload.data && (pub = s_publish_send(&cp, 1, &pub_id)) != NULL);
    /* A status request behind it on the same connection: its reply says the
     * owner's poll loop has taken the Publish and moved on. */
    LT_IT_REQUIRE(s_status_on(pub) == 0);
    a = s_lookup(&g_app, DS, K1, ask, 1, "KYC", &m);
    LT_IT_REQUIRE(a != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NONE && lt_it_released(a, "full_name"));
    zmq_pollitem_t it = {pub, 0, ZMQ_POLLIN, 0};
    CU_ASSERT(zmq_poll(&it, 1, 0) == 0); /* the publish is still waiting for the lock */
    CU_ASSERT(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);
    db = NULL;
    CU_ASSERT(s_publish_ack(pub, pub_id, 30000) == 0);
    lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m);
    a = s_lookup(&g_app, DS, K_LATE, ask, 1, "KYC", &m);
    LT_IT_REQUIRE(a != NULL && a->code == LIENTHONG__ERROR_CODE__ERR_NONE);
    LT_IT_REQUIRE((p = s_payload(a)) != NULL);
    CU_ASSERT_STRING_EQUAL(p->full_name, NAME3);
out:
    if (db) {
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        sqlite3_close(db);
    }
    if (p)
        lienthong__records__population__free_unpacked(p, NULL);
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    if (pub)
        zmq_close(pub);
    free(c.payload.data);
    s_msg_free(&m);
}

/* A subjects line with more claims than the protocol allows per key fails
 * the command, naming the line, before anything is asked: dropping the
 * extra claims would print a result as if they had been checked. */
static void test_cli_subjects_over_limit(void)
{
    char path[PATH_MAX], *out = NULL, *err = NULL;
    snprintf(path, sizeof path, "%.4000s/subjects.tsv", g_fed.dir);
    FILE *f = fopen(path, "w");
    LT_IT_REQUIRE(f != NULL);
    fprintf(f, "%s\tfull_name=x\n%s", K1, K1);
    for (int i = 0; i <= LT_QUERY_MAX_CLAIMS; i++)
        fprintf(f, "\tfull_name=x");
    fprintf(f, "\n");
    LT_IT_REQUIRE(fclose(f) == 0);
    const char *verify[] = {"verify",    "--config", g_caller->conf_path, "--dataset", DS,
                            "--purpose", "KYC",      "--subjects-file",   path,        NULL};
    CU_ASSERT_EQUAL(s_cli(verify, &out, &err), 2);
    CU_ASSERT(strstr(err, "subjects.tsv:2: more than 64 claims") != NULL);
    CU_ASSERT_STRING_EQUAL(out, "");
out:
    free(out);
    free(err);
}

/* The caller's subject-access report on key, in text, into *out (malloc'd)
 * once it holds the lookup-made entry, which a caller's gateway commits
 * within 200 ms. 0, or -1 when it never did. */
static int s_made_report(const char *key, char **out)
{
    const char *audit[] = {"audit", "--config", g_caller->conf_path, "--subject", key, NULL};
    char *err = NULL;
    int found = 0;
    *out = NULL;
    for (int64_t until = lt_it_ms() + REPLY_MS; !found && lt_it_ms() < until; usleep(100000)) {
        free(*out);
        free(err);
        *out = err = NULL;
        found = s_cli(audit, out, &err) == 0 && strstr(*out, "lookup-made") != NULL;
    }
    free(err);
    return found ? 0 : -1;
}

/* A key of 200 bytes is audited whole at the caller's gateway (before, its
 * lookup-made entry kept 63 bytes of it), so that the subject-access report
 * finds it; a key over the record key limit is refused there, before it
 * travels, with the field, its length and the limit (PROTOCOL.md 7.1). */
static void test_long_keys(void)
{
    char key[LT_RECORD_KEY_MAX + 2], *out = NULL, *err = NULL;
    memset(key, '9', 200);
    key[200] = 0;
    const char *lookup[] = {"lookup", "--config", g_caller->conf_path, "--dataset", DS,
                            "--key",  key,        "--purpose",         "KYC",       NULL};
    CU_ASSERT_EQUAL(s_cli(lookup, &out, &err), 1); /* a signed ERR_NOT_FOUND */
    CU_ASSERT(strstr(out, "ERR_NOT_FOUND") != NULL || strstr(err, "ERR_NOT_FOUND") != NULL);
    free(out);
    free(err);
    out = err = NULL;
    CU_ASSERT(s_made_report(key, &out) == 0);
    free(out);
    out = NULL;

    memset(key, '9', LT_RECORD_KEY_MAX + 1);
    key[LT_RECORD_KEY_MAX + 1] = 0;
    CU_ASSERT_NOT_EQUAL(s_cli(lookup, &out, &err), 0);
    CU_ASSERT(strstr(err, "ERR_MALFORMED: lookup_request.key is 257 bytes; at most 256") != NULL);
    free(out);
    free(err);
    out = err = NULL;
    const char *verify[] = {"verify", "--config", g_caller->conf_path, "--dataset", DS,    "--key",
                            key,      "--claim",  "full_name=x",       "--purpose", "KYC", NULL};
    CU_ASSERT_NOT_EQUAL(s_cli(verify, &out, &err), 0);
    CU_ASSERT(strstr(err, "verify_request.key 0 is 257 bytes; at most 256") != NULL);
    free(out);
    free(err);
    s_dump_logs();
}

/* The fields and detail of gw's entry with event and case reference
 * case_ref about subject, into fields and detail; 1 when found, waiting
 * for the caller's commit (at most every 200 ms), else 0. */
static int s_made_entry(const lt_it_gw_t *gw, const char *subject, const char *event,
                        const char *case_ref, char *fields, char *detail, size_t len)
{
    const char *about[] = {"audit", "--config", gw->conf_path, "--subject",
                           subject, "--json",   NULL};
    int found = 0;
    for (int64_t until = lt_it_ms() + REPLY_MS; !found && lt_it_ms() < until; usleep(100000)) {
        char *out = NULL, *err = NULL;
        json_t *j = NULL, *e;
        size_t i;
        if (s_cli(about, &out, &err) == 0 && (j = s_json(out)) && json_is_array(j))
            json_array_foreach(j, i, e)
            {
                if (strcmp(s_jstr(e, "event"), event) != 0 ||
                    strcmp(s_jstr(e, "case_ref"), case_ref) != 0)
                    continue;
                snprintf(fields, len, "%s", s_jstr(e, "fields"));
                snprintf(detail, len, "%s", s_jstr(e, "detail"));
                found = 1;
            }
        json_decref(j);
        free(out);
        free(err);
    }
    return found;
}

/* The caller's own subject-access report is complete (ARCHITECTURE.md 5):
 * a verify of several keys, or subjects, is audited at the caller once per
 * key with the fields its claims name (before, one entry "3 subject(s)"
 * that no report about a key found). */
static void test_made_verify(void)
{
    char path[PATH_MAX], fields[512], detail[512], *out = NULL, *err = NULL;
    const char *verify[] = {"verify",
                            "--config",
                            g_caller->conf_path,
                            "--dataset",
                            DS,
                            "--key",
                            K1,
                            "--key",
                            K2,
                            "--key",
                            KX,
                            "--claim",
                            "full_name=" CLAIM1_UPPER_NFD,
                            "--claim",
                            "date_of_birth=19800229",
                            "--purpose",
                            "KYC",
                            "--case",
                            "SAR-KEYS",
                            NULL};
    CU_ASSERT_EQUAL(s_cli(verify, &out, &err), 1); /* KX is not found */
    const char *keys[] = {K1, K2, KX}, *nth[] = {"key 1 of 3", "key 2 of 3", "key 3 of 3"};
    for (int k = 0; k < 3; k++) {
        LT_IT_REQUIRE(s_made_entry(g_caller, keys[k], "verify-made", "SAR-KEYS", fields, detail,
                                   sizeof fields));
        CU_ASSERT_STRING_EQUAL(fields, "full_name,date_of_birth");
        CU_ASSERT_STRING_EQUAL(detail, nth[k]);
    }
    free(out);
    free(err);
    out = err = NULL;

    snprintf(path, sizeof path, "%.4000s/made.tsv", g_fed.dir);
    FILE *f = fopen(path, "w");
    LT_IT_REQUIRE(f != NULL);
    fprintf(f, "%s\tfull_name=x\n%s\tdate_of_birth=1975-01-01\tsex=sex_female\n", K2, K3);
    LT_IT_REQUIRE(fclose(f) == 0);
    const char *subjects[] = {
        "verify",          "--config", g_caller->conf_path, "--dataset", DS,
        "--subjects-file", path,       "--purpose",         "KYC",       "--case",
        "SAR-SUBJECTS",    NULL};
    (void)s_cli(subjects, &out, &err);
    LT_IT_REQUIRE(
        s_made_entry(g_caller, K2, "verify-made", "SAR-SUBJECTS", fields, detail, sizeof fields));
    CU_ASSERT_STRING_EQUAL(fields, "full_name");
    LT_IT_REQUIRE(
        s_made_entry(g_caller, K3, "verify-made", "SAR-SUBJECTS", fields, detail, sizeof fields));
    CU_ASSERT_STRING_EQUAL(fields, "date_of_birth,sex");
    CU_ASSERT_STRING_EQUAL(detail, "key 2 of 2");
out:
    free(out);
    free(err);
    s_dump_logs();
}

/* A lookup made is audited at the caller with the fields it asks (before,
 * with none: the report said nothing of what was asked). */
static void test_made_fields(void)
{
    char fields[512], detail[512], *out = NULL, *err = NULL;
    const char *lookup[] = {"lookup",
                            "--config",
                            g_caller->conf_path,
                            "--dataset",
                            DS,
                            "--key",
                            K3,
                            "--field",
                            "full_name",
                            "--field",
                            "date_of_birth",
                            "--purpose",
                            "KYC",
                            "--case",
                            "SAR-LOOKUP",
                            NULL};
    CU_ASSERT_EQUAL(s_cli(lookup, &out, &err), 0);
    LT_IT_REQUIRE(
        s_made_entry(g_caller, K3, "lookup-made", "SAR-LOOKUP", fields, detail, sizeof fields));
    CU_ASSERT_STRING_EQUAL(fields, "full_name,date_of_birth");
out:
    free(out);
    free(err);
    s_dump_logs();
}

/* A stopped owner: the lookup is retried until its deadline, then
 * answered ERR_UNAVAILABLE naming the owner whose gateway is not connected
 * (PROTOCOL.md 7.4, 8.3), to an application and to the CLI, and counted
 * apart from the timeouts (before, ERR_TIMEOUT said only that no answer
 * came). */
static void test_dead_owner_unavailable(void)
{
    static const char *unreachable = "lienthong_query_unreachable_total{op=\"lookup\"}";
    static const char *timeouts = "lienthong_query_timeouts_total{op=\"lookup\"}";
    msg_t m = {0};
    sent_t sent = {0};
    char *ask[] = {"full_name"}, *out = NULL, *err = NULL, *c0 = NULL, *c1 = NULL;
    const char *lookup[] = {"lookup", "--config", g_caller->conf_path, "--dataset", DS,
                            "--key",  K1,         "--purpose",         "KYC",       "--timeout",
                            "1500",   NULL};
    LT_IT_REQUIRE(lt_it_gw_stop(g_owner, 5000) == 0);
    LT_IT_REQUIRE((c0 = lt_it_gw_metrics(g_caller, REPLY_MS)) && lt_it_metrics_parse(c0));
    uint64_t id = s_id();
    int64_t t0 = lt_it_ms();
    LT_IT_REQUIRE(s_send_lookup(&g_app, id, DS, K1, ask, 1, "KYC", 1500, &sent) == 0);
    LT_IT_REQUIRE(s_await(g_app.sock, id, 6000, &m) == 0);
    int64_t took = lt_it_ms() - t0;
    LT_IT_REQUIRE(m.env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
    fprintf(stderr, "test_query: dead owner: %s after %lld ms: %s\n",
            lt_wire_error_name(m.env->error->code), (long long)took, m.env->error->message);
    CU_ASSERT(m.env->error->code == LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
    CU_ASSERT(strstr(m.env->error->message, "the owner " ID_OWNER " is not reachable") != NULL);
    CU_ASSERT(strstr(m.env->error->message, "not connected to this one") != NULL);
    CU_ASSERT(strstr(m.env->error->message, "retried until its deadline") != NULL);
    CU_ASSERT(took >= 1200 && took <= 3000);
    CU_ASSERT(s_quiet(g_app.sock, id, 300));
    LT_IT_REQUIRE((c1 = lt_it_gw_metrics(g_caller, REPLY_MS)) && lt_it_metrics_parse(c1));
    CU_ASSERT_EQUAL(lt_it_metric(c1, unreachable) - lt_it_metric(c0, unreachable), 1);
    CU_ASSERT_EQUAL(lt_it_metric(c1, timeouts), lt_it_metric(c0, timeouts));
    /* The CLI prints the code and the owner's name. */
    CU_ASSERT_NOT_EQUAL(s_cli(lookup, &out, &err), 0);
    CU_ASSERT(strstr(err, "ERR_UNAVAILABLE") != NULL);
    CU_ASSERT(strstr(err, ID_OWNER " is not reachable") != NULL);
    if (!strstr(err, "ERR_UNAVAILABLE"))
        fprintf(stderr, "test_query: dead owner: the CLI said: %s%s\n", out, err);
out:
    free(out);
    free(err);
    free(c0);
    free(c1);
    s_msg_free(&m);
    s_sent_free(&sent);
    s_dump_logs();
}

/* ---- a fake owner: forged and replayed answers
 * ---------------------------------------------------- */

typedef struct {
    void *ctx, *sock;
    uint8_t rid[256];
    size_t rid_len;
} fake_t;

static void s_fake_close(fake_t *f)
{
    if (f->sock)
        zmq_close(f->sock);
    if (f->ctx)
        zmq_ctx_term(f->ctx);
    memset(f, 0, sizeof *f);
}

/* A ROUTER at the owner's endpoint with the owner's transport key, in a
 * context of its own (no ZAP handler: it admits the caller). */
static int s_fake_open(fake_t *f)
{
    int zero = 0, one = 1;
    memset(f, 0, sizeof *f);
    f->ctx = zmq_ctx_new();
    f->sock = f->ctx ? zmq_socket(f->ctx, ZMQ_ROUTER) : NULL;
    if (!f->sock || zmq_setsockopt(f->sock, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(f->sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
        zmq_setsockopt(f->sock, ZMQ_CURVE_SECRETKEY, lt_keys_transport_secret(g_m_owner->keys),
                       LT_KEY_BYTES))
        return -1;
    int64_t deadline = lt_it_ms() + 5000;
    while (zmq_bind(f->sock, g_m_owner->endpoint) != 0) {
        if (zmq_errno() != EADDRINUSE || lt_it_ms() > deadline) {
            fprintf(stderr, "test_query: fake owner cannot bind %s: %s\n", g_m_owner->endpoint,
                    zmq_strerror(zmq_errno()));
            return -1;
        }
        usleep(50000);
    }
    return 0;
}

/* Receives one message on the fake owner: 0 with the routing id kept. */
static int s_fake_recv(fake_t *f, int timeout_ms, msg_t *m)
{
    memset(m, 0, sizeof *m);
    zmq_pollitem_t it = {f->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return -1;
    int n = zmq_recv(f->sock, f->rid, sizeof f->rid, ZMQ_DONTWAIT);
    if (n < 0)
        return -1;
    f->rid_len = (size_t)n < sizeof f->rid ? (size_t)n : sizeof f->rid;
    return s_recv(f->sock, 1000, m);
}

static int s_fake_send(fake_t *f, const uint8_t *bytes, size_t len)
{
    if (zmq_send(f->sock, f->rid, f->rid_len, ZMQ_SNDMORE) < 0 ||
        zmq_send(f->sock, bytes, len, 0) < 0)
        return -1;
    return 0;
}

static int s_fake_hello(fake_t *f)
{
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.member = ID_OWNER;
    h.directory_version = 1;
    h.software = "fake owner";
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_HELLO;
    env.hello = &h;
    size_t len;
    uint8_t *buf = s_pack_env(&env, &len);
    int rc = buf ? s_fake_send(f, buf, len) : -1;
    free(buf);
    return rc;
}

/* Stops the real owner and puts a fake one in its place, greeted by the
 * caller: 0, or -1. */
static int s_fake_start(fake_t *f)
{
    msg_t m;
    if ((g_owner->pid > 0 && lt_it_gw_stop(g_owner, 5000) != 0) || s_fake_open(f) != 0)
        return -1;
    /* The caller reconnects (back-off) and greets the "owner". */
    for (int64_t until = lt_it_ms() + 20000; lt_it_ms() < until;) {
        if (s_fake_recv(f, 200, &m) != 0)
            continue;
        int hello = m.env->body_case == LIENTHONG__ENVELOPE__BODY_HELLO;
        s_msg_free(&m);
        if (hello)
            return s_fake_hello(f);
    }
    fprintf(stderr, "test_query: the caller never greeted the fake owner\n");
    return -1;
}

/* The fake owner's next request of kind want (a lookup or verify) with
 * id (0: any), greeting Hellos on the way: 0 with it in m, or -1 after ms. */
static int s_fake_next(fake_t *f, Lienthong__Envelope__BodyCase want, uint64_t id, int ms, msg_t *m)
{
    for (int64_t until = lt_it_ms() + ms; lt_it_ms() < until;) {
        if (s_fake_recv(f, 100, m) != 0)
            continue;
        const Lienthong__Envelope *e = m->env;
        if (e->body_case == LIENTHONG__ENVELOPE__BODY_HELLO)
            (void)s_fake_hello(f);
        else if (e->body_case == want && (!id || (want == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST
                                                      ? e->lookup_request->request_id
                                                      : e->verify_request->request_id) == id))
            return 0;
        s_msg_free(m);
    }
    return -1;
}

/* A LookupAnswer releasing full_name = name, bound to (id, hash), naming
 * owner as the member that answered. */
static uint8_t *s_answer_bytes_by(uint64_t id, const uint8_t hash[LT_HASH_BYTES], const char *name,
                                  const char *owner, size_t *len)
{
    size_t plen;
    uint8_t *payload = s_person("", name, "", 0, "", "", &plen);
    char *released[] = {"full_name"};
    Lienthong__LookupAnswer a = LIENTHONG__LOOKUP_ANSWER__INIT;
    a.request_id = id;
    a.request_hash.data = (uint8_t *)hash;
    a.request_hash.len = LT_HASH_BYTES;
    a.payload.data = payload;
    a.payload.len = payload ? plen : 0;
    a.released = released;
    a.n_released = 1;
    a.record_seq = 1;
    a.answered_at_ms = lt_clock_now_ms();
    a.owner = (char *)owner;
    uint8_t *buf = s_pack_msg(&a.base, len);
    free(payload);
    return buf;
}

/* The same, from the owner. */
static uint8_t *s_answer_bytes(uint64_t id, const uint8_t hash[LT_HASH_BYTES], const char *name,
                               size_t *len)
{
    return s_answer_bytes_by(id, hash, name, ID_OWNER, len);
}

/* A reply envelope (lookup_reply, or verify_reply when is_verify) carrying
 * answer `index` of a signing batch of n answers, its Merkle root signed by
 * `signer`. */
static uint8_t *s_signed_reply_of(uint8_t *const *answers, const size_t *lens, size_t n,
                                  size_t index, const lt_keys_t *signer, int is_verify, size_t *len)
{
    uint8_t leaves[8 * LT_HASH_BYTES], tree[16 * LT_HASH_BYTES], sig[LT_SIG_BYTES];
    uint8_t path[64][LT_HASH_BYTES];
    size_t path_len = 0;
    ProtobufCBinaryData proof[64];
    if (n == 0 || n > 8 || index >= n)
        return NULL;
    for (size_t i = 0; i < n; i++)
        lt_crypto_merkle_leaf(answers[i], lens[i], leaves + i * LT_HASH_BYTES);
    if (lt_crypto_merkle_tree(leaves, n, tree) != 0 ||
        lt_keys_sign(signer, LT_ANSWERS_DOMAIN, lt_crypto_merkle_tree_root(tree, n), LT_HASH_BYTES,
                     sig) != 0 ||
        lt_crypto_merkle_tree_path(tree, n, index, path, &path_len) != 0)
        return NULL;
    for (size_t i = 0; i < path_len; i++)
        proof[i] = (ProtobufCBinaryData){LT_HASH_BYTES, path[i]};
    Lienthong__SignedAnswer sa = LIENTHONG__SIGNED_ANSWER__INIT;
    sa.answer.data = answers[index];
    sa.answer.len = lens[index];
    sa.root_signature.data = sig;
    sa.root_signature.len = LT_SIG_BYTES;
    sa.proof = proof;
    sa.n_proof = path_len;
    sa.proof_index = (uint32_t)index;
    sa.proof_count = (uint32_t)n;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case =
        is_verify ? LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY : LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY;
    if (is_verify)
        env.verify_reply = &sa;
    else
        env.lookup_reply = &sa;
    return s_pack_env(&env, len);
}

static uint8_t *s_signed_reply(uint8_t *const *answers, const size_t *lens, size_t n, size_t index,
                               const lt_keys_t *signer, size_t *len)
{
    return s_signed_reply_of(answers, lens, n, index, signer, 0, len);
}

/* One answer alone in its signing batch. */
static uint8_t *s_signed_one(uint64_t id, const uint8_t hash[LT_HASH_BYTES], const char *name,
                             const lt_keys_t *signer, size_t *len)
{
    size_t alen;
    uint8_t *ans = s_answer_bytes(id, hash, name, &alen);
    uint8_t *out = ans ? s_signed_reply(&ans, &alen, 1, 0, signer, len) : NULL;
    free(ans);
    return out;
}

#define FORGED_NAME "Gi\xe1\xba\xa3 M\xe1\xba\xa1o" /* "Giả Mạo" */

static void test_forged_answers(void)
{
    fake_t f = {0};
    lt_keys_t *real = NULL, *wrong = NULL;
    sent_t sent[3] = {{0}}, sd = {0};
    msg_t m = {0};
    uint8_t *good = NULL;
    size_t good_len = 0;
    char err[256];
    char *ask[] = {"full_name"};
    uint64_t ids[3] = {s_id(), s_id(), s_id()};
    int64_t timed_out[3] = {0, 0, 0};
    int exact[3] = {0, 0, 0}, answered[3] = {0, 0, 0}, delivered = 0;

    LT_IT_REQUIRE(g_genuine != NULL);
    LT_IT_REQUIRE((real = lt_keys_load(g_m_owner->key_path, err, sizeof err)) != NULL);
    LT_IT_REQUIRE((wrong = lt_keys_new(LT_KEYS_MEMBER)) != NULL);
    LT_IT_REQUIRE(s_fake_start(&f) == 0);
    long mark = lt_it_log_mark(g_caller);

    /* (a) wrong key, (b) another request's hash, (c) replays. */
    int64_t t0 = lt_it_ms();
    for (int i = 0; i < 3; i++)
        LT_IT_REQUIRE(s_send_lookup(&g_app, ids[i], DS, K1, ask, 1, "KYC", 1500, &sent[i]) == 0);
    while (lt_it_ms() - t0 < 4000 && !(timed_out[0] && timed_out[1] && timed_out[2])) {
        if (s_fake_recv(&f, 20, &m) == 0) {
            Lienthong__Envelope *e = m.env;
            if (e->body_case == LIENTHONG__ENVELOPE__BODY_HELLO)
                (void)s_fake_hello(&f);
            for (int i = 0; i < 3 && e->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
                 i++) {
                if (e->lookup_request->request_id != ids[i])
                    continue;
                /* The caller forwards the application's exact frame. */
                exact[i] = m.len == sent[i].len && memcmp(m.frame, sent[i].bytes, m.len) == 0;
                size_t len = 0;
                uint8_t *fr = NULL;
                if (i == 0) {
                    fr = s_signed_one(ids[0], sent[0].hash, FORGED_NAME, wrong, &len);
                } else if (i == 1) {
                    fr = s_signed_one(ids[1], sent[0].hash, FORGED_NAME, real, &len);
                } else {
                    /* A genuine answer to another request, then a freshly
                     * signed one for an id that is not outstanding. */
                    (void)s_fake_send(&f, g_genuine, g_genuine_len);
                    fr =
                        s_signed_one(ids[2] ^ 0x5a5a5a5aull, sent[2].hash, FORGED_NAME, real, &len);
                }
                answered[i] += fr && s_fake_send(&f, fr, len) == 0;
                free(fr);
            }
            s_msg_free(&m);
        }
        if (s_recv(g_app.sock, 0, &m) == 0) {
            uint64_t id = s_msg_id(&m);
            for (int i = 0; i < 3; i++)
                if (id == ids[i] && m.env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
                    m.env->error->code == LIENTHONG__ERROR_CODE__ERR_TIMEOUT)
                    timed_out[i] = lt_it_ms() - t0;
            delivered += m.env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY;
            s_msg_free(&m);
        }
    }
    fprintf(stderr, "test_query: forged answers: ERR_TIMEOUT after %lld, %lld, %lld ms\n",
            (long long)timed_out[0], (long long)timed_out[1], (long long)timed_out[2]);
    CU_ASSERT(delivered == 0);
    for (int i = 0; i < 3; i++) {
        CU_ASSERT(exact[i]);
        CU_ASSERT(answered[i] >= 1);
        CU_ASSERT(timed_out[i] >= 1200 && timed_out[i] <= 3000);
    }
    CU_ASSERT(lt_it_log_wait(g_caller, mark, "dropped an answer", "signature", 2000) == 0);
    CU_ASSERT(lt_it_log_has(g_caller, mark, "dropped an answer", "hash mismatch"));
    CU_ASSERT(lt_it_log_has(g_caller, mark, "dropped an answer", "no outstanding request"));
    /* Audited too, as every rejected input (PROTOCOL.md 4.4, 7.4). */
    CU_ASSERT(s_audit_count(g_caller, NULL, "refused", "detail", "dropped an answer") >= 3);

    /* (d) a correct answer, second of a signing batch of three, is
     * delivered unchanged; a duplicate of it afterwards is not. */
    uint64_t idd = s_id();
    mark = lt_it_log_mark(g_caller);
    LT_IT_REQUIRE(s_send_lookup(&g_app, idd, DS, K1, ask, 1, "KYC", 5000, &sd) == 0);
    int64_t until_d = lt_it_ms() + 4000;
    int sent_good = 0;
    while (!sent_good && lt_it_ms() < until_d) {
        if (s_fake_recv(&f, 100, &m) != 0)
            continue;
        if (m.env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST &&
            m.env->lookup_request->request_id == idd) {
            uint8_t *ans[3];
            size_t lens[3];
            uint8_t other_hash[LT_HASH_BYTES] = {7};
            ans[0] = s_answer_bytes(11, other_hash, "A", &lens[0]);
            ans[1] = s_answer_bytes(idd, sd.hash, FORGED_NAME, &lens[1]);
            ans[2] = s_answer_bytes(12, other_hash, "B", &lens[2]);
            if (ans[0] && ans[1] && ans[2])
                good = s_signed_reply(ans, lens, 3, 1, real, &good_len);
            for (int i = 0; i < 3; i++)
                free(ans[i]);
            sent_good = good && s_fake_send(&f, good, good_len) == 0 &&
                        s_fake_send(&f, good, good_len) == 0;
        } else if (m.env->body_case == LIENTHONG__ENVELOPE__BODY_HELLO) {
            (void)s_fake_hello(&f);
        }
        s_msg_free(&m);
    }
    LT_IT_REQUIRE(sent_good);
    LT_IT_REQUIRE(s_await(g_app.sock, idd, REPLY_MS, &m) == 0);
    LT_IT_REQUIRE(m.env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY);
    CU_ASSERT(m.len == good_len && memcmp(m.frame, good, good_len) == 0);
    CU_ASSERT(s_contains(m.frame, m.len, FORGED_NAME));
    s_msg_free(&m);
    CU_ASSERT(s_quiet(g_app.sock, idd, QUIET_MS));
    /* Reported at once or, the same owner's and code's within 10 s, in the
     * interval's one line (lt_refuse). */
    CU_ASSERT(
        lt_it_log_wait(g_caller, mark, "dropped an answer", "no outstanding request", 12000) == 0);
out:
    free(good);
    s_msg_free(&m);
    for (int i = 0; i < 3; i++)
        s_sent_free(&sent[i]);
    s_sent_free(&sd);
    lt_keys_destroy(&real);
    lt_keys_destroy(&wrong);
    s_fake_close(&f);
    s_dump_logs();
}

/* A VerifyAnswer: claims matched on key (index 0, the last), bound to
 * (id, hash), naming owner as the member that answered. */
static uint8_t *s_vanswer_bytes_by(uint64_t id, const uint8_t hash[LT_HASH_BYTES], const char *key,
                                   const char *owner, size_t *len)
{
    Lienthong__ClaimResult results[] = {LIENTHONG__CLAIM_RESULT__CLAIM_MATCH};
    Lienthong__VerifyAnswer a = LIENTHONG__VERIFY_ANSWER__INIT;
    a.request_id = id;
    a.request_hash.data = (uint8_t *)hash;
    a.request_hash.len = LT_HASH_BYTES;
    a.key = (char *)key;
    a.last = 1;
    a.results = results;
    a.n_results = 1;
    a.answered_at_ms = lt_clock_now_ms();
    a.owner = (char *)owner;
    return s_pack_msg(&a.base, len);
}

/* The fake owner sends answer, alone in a batch signed by signer, to the
 * caller; the application's next message about id goes in m. 0, or -1. */
static int s_fake_reply(fake_t *f, uint8_t *answer, size_t answer_len, const lt_keys_t *signer,
                        int is_verify, uint64_t id, msg_t *m)
{
    size_t len = 0;
    uint8_t *fr =
        answer ? s_signed_reply_of(&answer, &answer_len, 1, 0, signer, is_verify, &len) : NULL;
    int rc =
        fr && s_fake_send(f, fr, len) == 0 && s_await(g_app.sock, id, REPLY_MS, m) == 0 ? 0 : -1;
    free(fr);
    return rc;
}

/* 1 when m is an ERR_TIMEOUT. */
static int s_is_timeout(const msg_t *m)
{
    return m->env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
           m->env->error->code == LIENTHONG__ERROR_CODE__ERR_TIMEOUT;
}

/* Answers signed with the owner's real key but naming another member as
 * their owner are dropped (PROTOCOL.md 7.4 step 2): the application would
 * show that member beside "signature verified". The requests end with
 * ERR_TIMEOUT. */
static void test_answer_names_other_owner(void)
{
    fake_t f = {0};
    lt_keys_t *real = NULL;
    sent_t sl = {0}, sv = {0};
    msg_t m = {0};
    uint8_t *ans = NULL;
    size_t alen = 0;
    char err[256], *ask[] = {"full_name"}, *keys[] = {K1};
    Lienthong__Claim c = LIENTHONG__CLAIM__INIT, *cp[] = {&c};
    c.field = "full_name";
    c.value = NAME1;
    uint64_t il = s_id(), iv = s_id();
    LT_IT_REQUIRE((real = lt_keys_load(g_m_owner->key_path, err, sizeof err)) != NULL);
    LT_IT_REQUIRE(s_fake_start(&f) == 0);
    long mark = lt_it_log_mark(g_caller);

    LT_IT_REQUIRE(s_send_lookup(&g_app, il, DS, K1, ask, 1, "KYC", 1500, &sl) == 0);
    LT_IT_REQUIRE(s_fake_next(&f, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, il, REPLY_MS, &m) == 0);
    s_msg_free(&m);
    ans = s_answer_bytes_by(il, sl.hash, NAME1, ID_CALLER, &alen);
    LT_IT_REQUIRE(s_fake_reply(&f, ans, alen, real, 0, il, &m) == 0);
    CU_ASSERT(s_is_timeout(&m));
    s_msg_free(&m);
    free(ans);

    LT_IT_REQUIRE(s_send_verify(&g_app, iv, DS, keys, 1, cp, 1, NULL, 0, "KYC", 1500, &sv) == 0);
    LT_IT_REQUIRE(s_fake_next(&f, LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST, iv, REPLY_MS, &m) == 0);
    s_msg_free(&m);
    ans = s_vanswer_bytes_by(iv, sv.hash, K1, ID_CALLER, &alen);
    LT_IT_REQUIRE(s_fake_reply(&f, ans, alen, real, 1, iv, &m) == 0);
    CU_ASSERT(s_is_timeout(&m));
    CU_ASSERT(lt_it_log_wait(g_caller, mark, "dropped an answer", "another member as its owner",
                             12000) == 0);
out:
    free(ans);
    s_msg_free(&m);
    s_sent_free(&sl);
    s_sent_free(&sv);
    lt_keys_destroy(&real);
    s_fake_close(&f);
    s_dump_logs();
}

/* The owner's last transient Error, repeated in a profile part's detail
 * when the part times out, is cut on a character boundary (PROTOCOL.md
 * 4.5, 7.3): a character cut in two there made the whole ProfileReply
 * undecodable, every part lost (7.7). */
static void test_owner_said_cut(void)
{
    fake_t f = {0};
    msg_t m = {0};
    char said[901] = "", *ask[] = {"full_name"};
    uint8_t *bytes = NULL;
    size_t len = 0;
    for (size_t o = 0; o + 3 < sizeof said; o += 3)
        memcpy(said + o, "\xe1\xbb\x87", 4); /* ệ, 300 times */
    LT_IT_REQUIRE(s_fake_start(&f) == 0);
    Lienthong__ProfilePart part = LIENTHONG__PROFILE_PART__INIT, *pp = &part;
    part.dataset = DS;
    part.fields = ask;
    part.n_fields = 1;
    Lienthong__ProfileRequest q = LIENTHONG__PROFILE_REQUEST__INIT;
    q.request_id = s_id();
    q.key = K1;
    q.purpose = "KYC";
    q.deadline_ms = 1500;
    q.parts = &pp;
    q.n_parts = 1;
    LT_IT_REQUIRE(s_send_body(g_app.sock, LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST, &q) == 0);
    /* The part's lookup, under an id the caller's gateway drew. */
    LT_IT_REQUIRE(s_fake_next(&f, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, 0, REPLY_MS, &m) == 0);
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    e.code = LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE;
    e.request_id = m.env->lookup_request->request_id;
    e.message = said;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_ERROR;
    env.error = &e;
    s_msg_free(&m);
    LT_IT_REQUIRE((bytes = s_pack_env(&env, &len)) != NULL && s_fake_send(&f, bytes, len) == 0);
    /* The reply decodes (s_recv checks it as an application would);
     * a stray answer of an earlier case is passed over. */
    for (int64_t until = lt_it_ms() + REPLY_MS, left; (left = until - lt_it_ms()) > 0;) {
        if (s_recv(g_app.sock, (int)left, &m) != 0 ||
            m.env->body_case == LIENTHONG__ENVELOPE__BODY_PROFILE_REPLY)
            break;
        s_msg_free(&m);
    }
    LT_IT_REQUIRE(m.env && m.env->body_case == LIENTHONG__ENVELOPE__BODY_PROFILE_REPLY &&
                  m.env->profile_reply->n_parts == 1);
    const Lienthong__ProfilePartReply *p = m.env->profile_reply->parts[0];
    CU_ASSERT_EQUAL(p->outcome, LIENTHONG__PROFILE_OUTCOME__PART_TIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(p->detail, "the owner last said ERR_UNAVAILABLE: \xe1\xbb\x87"));
    CU_ASSERT_PTR_NULL(strchr(p->detail, '?')); /* cut, not mended */
out:
    free(bytes);
    s_msg_free(&m);
    s_fake_close(&f);
    s_dump_logs();
}

/* An application's request whose id is outstanding (PROTOCOL.md 8.3): other
 * bytes are refused with the id named; the same bytes, from another
 * socket, are a retry, and the answer goes to where the retry came from. */
static void test_retry_while_outstanding(void)
{
    fake_t f = {0};
    lt_keys_t *real = NULL;
    lt_it_peer_t b = {0};
    sent_t sa = {0}, sb = {0};
    msg_t m = {0};
    uint8_t *good = NULL;
    size_t good_len = 0;
    char err[256], idtext[32], *ask[] = {"full_name"};
    uint64_t id = s_id();
    snprintf(idtext, sizeof idtext, "%llu", (unsigned long long)id);
    LT_IT_REQUIRE((real = lt_keys_load(g_m_owner->key_path, err, sizeof err)) != NULL);
    LT_IT_REQUIRE(s_fake_start(&f) == 0);
    LT_IT_REQUIRE(s_local_open(g_caller, &b) == 0);
    LT_IT_REQUIRE(s_send_lookup(&g_app, id, DS, K1, ask, 1, "KYC", 15000, &sa) == 0);
    LT_IT_REQUIRE(s_fake_next(&f, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, id, REPLY_MS, &m) == 0);
    s_msg_free(&m);

    LT_IT_REQUIRE(s_send_lookup(&b, id, DS, K2, ask, 1, "KYC", 15000, &sb) == 0);
    LT_IT_REQUIRE(s_await(b.sock, id, REPLY_MS, &m) == 0);
    CU_ASSERT(m.env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              m.env->error->code == LIENTHONG__ERROR_CODE__ERR_MALFORMED &&
              strstr(m.env->error->message, idtext) != NULL);
    s_msg_free(&m);

    LT_IT_REQUIRE(lt_it_peer_send_raw(&b, sa.bytes, sa.len, REPLY_MS) == 0);
    CU_ASSERT(s_quiet(b.sock, id, 300)); /* nothing yet: no refusal */
    LT_IT_REQUIRE((good = s_signed_one(id, sa.hash, NAME1, real, &good_len)) != NULL);
    LT_IT_REQUIRE(s_fake_send(&f, good, good_len) == 0);
    LT_IT_REQUIRE(s_await(b.sock, id, REPLY_MS, &m) == 0);
    CU_ASSERT(m.len == good_len && memcmp(m.frame, good, good_len) == 0);
    CU_ASSERT(s_quiet(g_app.sock, id, 300));
out:
    free(good);
    s_msg_free(&m);
    s_sent_free(&sa);
    s_sent_free(&sb);
    lt_it_peer_close(&b);
    lt_keys_destroy(&real);
    s_fake_close(&f);
    s_dump_logs();
}

/* ---- answer context (PROTOCOL.md 8.4)
 * ------------------------------------------------------------- */

/* A client that asks for the answer context: the owner receives the request
 * exactly as if it had not asked, and the client receives the owner's
 * SignedAnswer unchanged, with the dataset's record type beside it. */
static void test_answer_context(void)
{
    fake_t f = {0};
    lt_keys_t *real = NULL;
    lt_client_t *c = NULL;
    msg_t m = {0};
    Lienthong__Envelope *env = NULL;
    Lienthong__SignedAnswer *owner_sa = NULL;
    uint8_t *good = NULL, *plain = NULL;
    size_t good_len = 0, plain_len = 0;
    char err[1024];
    char *ask[] = {"full_name"};
    int answered = 0;

    LT_IT_REQUIRE(g_owner->pid <= 0); /* stopped by the tests above */
    LT_IT_REQUIRE((real = lt_keys_load(g_m_owner->key_path, err, sizeof err)) != NULL);
    LT_IT_REQUIRE(s_fake_open(&f) == 0);
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = s_id();
    q.dataset = DS;
    q.key = K1;
    q.fields = ask;
    q.n_fields = 1;
    q.purpose = "KYC";
    q.case_ref = "HS-2025-0044";
    q.deadline_ms = lt_clock_now_ms() + 15000;
    Lienthong__Envelope bare = LIENTHONG__ENVELOPE__INIT;
    bare.version = LT_PROTO_VERSION;
    bare.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    bare.lookup_request = &q;
    LT_IT_REQUIRE((plain = s_pack_env(&bare, &plain_len)) != NULL);
    LT_IT_REQUIRE((c = lt_client_new(g_caller->sock_path, NULL, err, sizeof err)) != NULL);
    LT_IT_REQUIRE(lt_client_send(c, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q, REPLY_MS, err,
                                 sizeof err) == 0);
    int64_t until = lt_it_ms() + 20000;
    while (!answered && lt_it_ms() < until) {
        if (s_fake_recv(&f, 100, &m) != 0)
            continue;
        if (m.env->body_case == LIENTHONG__ENVELOPE__BODY_HELLO) {
            (void)s_fake_hello(&f);
        } else if (m.env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST &&
                   m.env->lookup_request->request_id == q.request_id) {
            CU_ASSERT(m.env->context == NULL);
            CU_ASSERT(m.len == plain_len && memcmp(m.frame, plain, plain_len) == 0);
            uint8_t hash[LT_HASH_BYTES];
            good = s_request_hash(m.frame, m.len, hash) == 0
                       ? s_signed_one(q.request_id, hash, NAME1, real, &good_len)
                       : NULL;
            answered = good && s_fake_send(&f, good, good_len) == 0;
        }
        s_msg_free(&m);
    }
    LT_IT_REQUIRE(answered);
    LT_IT_REQUIRE(lt_client_recv(c, REPLY_MS, &env, err, sizeof err) == 0);
    LT_IT_REQUIRE(env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY);
    CU_ASSERT(env->context != NULL &&
              strcmp(env->context->record_type, "lienthong.records.Population") == 0);
    Lienthong__Envelope *owner_env = lienthong__envelope__unpack(NULL, good_len, good);
    LT_IT_REQUIRE(owner_env != NULL);
    owner_sa = owner_env->lookup_reply;
    const Lienthong__SignedAnswer *sa = env->lookup_reply;
    CU_ASSERT(sa->answer.len == owner_sa->answer.len &&
              memcmp(sa->answer.data, owner_sa->answer.data, sa->answer.len) == 0);
    CU_ASSERT(sa->root_signature.len == LT_SIG_BYTES &&
              memcmp(sa->root_signature.data, owner_sa->root_signature.data, LT_SIG_BYTES) == 0);
    CU_ASSERT(s_answer_signed_by(sa, s_owner_pk()) == 0);
    lienthong__envelope__free_unpacked(owner_env, NULL);
out:
    lt_wire_free(&env);
    lt_client_destroy(&c);
    s_msg_free(&m);
    free(good);
    free(plain);
    lt_keys_destroy(&real);
    s_fake_close(&f);
    s_dump_logs();
}

/* ---- an owner that starts late
 * ------------------------------------------------------------------- */

static void test_owner_starts_late(void)
{
    msg_t m = {0};
    sent_t sent = {0};
    Lienthong__LookupAnswer *a = NULL;
    Lienthong__Records__Population *p = NULL;
    char *ask[] = {"full_name"};
    LT_IT_REQUIRE(g_owner->pid <= 0); /* stopped by the tests above */
    uint64_t id = s_id();
    int64_t t0 = lt_it_ms();
    LT_IT_REQUIRE(s_send_lookup(&g_app, id, DS, K1, ask, 1, "KYC", 10000, &sent) == 0);
    CU_ASSERT(s_quiet(g_app.sock, id, 800)); /* the caller keeps trying */
    LT_IT_REQUIRE(lt_it_gw_run(g_owner, READY_MS) == 0);
    int64_t left = 10000 - (lt_it_ms() - t0);
    LT_IT_REQUIRE(left > 0 && s_await(g_app.sock, id, (int)left, &m) == 0);
    fprintf(stderr, "test_query: late owner: answered after %lld ms\n",
            (long long)(lt_it_ms() - t0));
    LT_IT_REQUIRE((a = s_lookup_answer(&m, id, &sent)) != NULL);
    CU_ASSERT(a->code == LIENTHONG__ERROR_CODE__ERR_NONE);
    LT_IT_REQUIRE((p = s_payload(a)) != NULL);
    CU_ASSERT_STRING_EQUAL(p->full_name, NAME1);
    /* Exactly one: retries are deduplicated and late copies dropped. */
    CU_ASSERT(s_quiet(g_app.sock, id, 1500));
out:
    if (p)
        lienthong__records__population__free_unpacked(p, NULL);
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    s_msg_free(&m);
    s_sent_free(&sent);
    s_dump_logs();
}

/* ---- clocks that disagree (PROTOCOL.md 7.1) ------------------------------------- */

/* Restarts the owner with its wall clock moved by offset_ms (the test hook
 * LT_TEST_CLOCK_OFFSET_MS of core/lt_clock.c; "" for none), then waits
 * until the caller is connected to it again. 0 or -1. */
static int s_owner_skewed(const char *offset_ms)
{
    if (g_owner->pid > 0 && lt_it_gw_stop(g_owner, 5000) != 0)
        return -1;
    if (offset_ms[0] && setenv("LT_TEST_CLOCK_OFFSET_MS", offset_ms, 1) != 0)
        return -1;
    int rc = lt_it_gw_run(g_owner, READY_MS); /* the child took the variable: ours goes */
    (void)unsetenv("LT_TEST_CLOCK_OFFSET_MS");
    return rc == 0 ? lt_it_gw_wait_peer(g_caller, ID_OWNER, READY_MS) : -1;
}

/* A lookup and a verify through the caller's CLI, which send timeout_ms:
 * both answered, whatever the owner's clock says. */
static void s_answered_skewed(void)
{
    char *out = NULL, *err = NULL;
    const char *lookup[] = {
        "lookup", "--config", g_caller->conf_path, "--dataset", DS,      "--key",  K1,  "--purpose",
        "KYC",    "--field",  "full_name",         "--timeout", "10000", "--json", NULL};
    CU_ASSERT(s_cli(lookup, &out, &err) == 0);
    CU_ASSERT(strstr(out, NAME1) != NULL);
    if (!strstr(out, NAME1))
        fprintf(stderr, "test_query: skewed owner: lookup said: %s%s\n", out, err);
    free(out);
    free(err);
    const char *verify[] = {"verify",    "--config", g_caller->conf_path,
                            "--dataset", DS,         "--key",
                            K1,          "--claim",  "date_of_birth=19800229",
                            "--purpose", "KYC",      "--timeout",
                            "10000",     "--json",   NULL};
    CU_ASSERT(s_cli(verify, &out, &err) == 0); /* every claim matches */
    CU_ASSERT(strstr(out, "\"date_of_birth\": \"match\"") != NULL);
    if (!strstr(out, "\"match\""))
        fprintf(stderr, "test_query: skewed owner: verify said: %s%s\n", out, err);
    free(out);
    free(err);
}

/* An application that sends only deadline_ms (of an earlier release) to
 * the skewed owner: refused with code, the reason naming the gap and the
 * clocks (words), and at the caller counted as a timeout when the owner
 * said ERR_TIMEOUT. */
static void s_refused_skewed(Lienthong__ErrorCode code, const char *words)
{
    static const char *timeouts = "lienthong_query_timeouts_total{op=\"lookup\"}";
    msg_t m = {0};
    sent_t sent = {0};
    char *ask[] = {"full_name"}, *c0 = lt_it_gw_metrics(g_caller, REPLY_MS), *c1 = NULL;
    uint64_t id = s_id();
    LT_IT_REQUIRE(c0 && lt_it_metrics_parse(c0));
    LT_IT_REQUIRE(s_send_lookup(&g_app, id, DS, K1, ask, 1, "KYC", 10000, &sent) == 0);
    LT_IT_REQUIRE(s_await(g_app.sock, id, REPLY_MS, &m) == 0);
    LT_IT_REQUIRE(m.env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
    CU_ASSERT(m.env->error->code == code);
    CU_ASSERT(strstr(m.env->error->message, words) != NULL);
    CU_ASSERT(strstr(m.env->error->message, "check the clocks (NTP) of both gateways") != NULL);
    fprintf(stderr, "test_query: skewed owner, no timeout_ms: %s\n", m.env->error->message);
    LT_IT_REQUIRE((c1 = lt_it_gw_metrics(g_caller, REPLY_MS)) && lt_it_metrics_parse(c1));
    double t0 = lt_it_metric(c0, timeouts), t1 = lt_it_metric(c1, timeouts);
    CU_ASSERT_EQUAL(t1 - (t0 < 0 ? 0 : t0), code == LIENTHONG__ERROR_CODE__ERR_TIMEOUT ? 1 : 0);
out:
    free(c0);
    free(c1);
    s_msg_free(&m);
    s_sent_free(&sent);
}

/* The owner's clock a minute ahead of the caller's, then 20 minutes
 * behind: lookups and verifies carrying timeout_ms are answered, since the
 * owner counts their time on its own clock; a request with only the
 * caller's deadline_ms is refused with the gap named. */
static void test_skewed_owner(void)
{
    LT_IT_REQUIRE(s_owner_skewed("60000") == 0);
    s_answered_skewed();
    s_refused_skewed(LIENTHONG__ERROR_CODE__ERR_TIMEOUT, "s behind this gateway's clock");
    LT_IT_REQUIRE(s_owner_skewed("-1200000") == 0);
    s_answered_skewed();
    s_refused_skewed(LIENTHONG__ERROR_CODE__ERR_MALFORMED, "s ahead of this gateway's clock");
out:
    CU_ASSERT(s_owner_skewed("") == 0);
    s_dump_logs();
}

/* The clock offset gateway g estimates for member (PROTOCOL.md 5.1), in
 * seconds, into *v: 1, or 0 when g exports no such series. */
static int s_clock_offset(lt_it_gw_t *g, const char *member, double *v)
{
    char series[256], *text = lt_it_gw_metrics(g, REPLY_MS);
    snprintf(series, sizeof series, "lienthong_peer_clock_offset_seconds{member=\"%s\"} ", member);
    const char *at = text ? strstr(text, series) : NULL;
    int found = at != NULL;
    *v = at ? strtod(at + strlen(series), NULL) : 0;
    free(text);
    return found;
}

/* Waits until g's offset for member is within [lo, hi] s. 0 or -1 (said). */
static int s_clock_offset_wait(lt_it_gw_t *g, const char *member, double lo, double hi)
{
    int64_t deadline = lt_it_ms() + READY_MS;
    double v = 0;
    int found = 0;
    while (!((found = s_clock_offset(g, member, &v)) && v >= lo && v <= hi)) {
        if (lt_it_ms() >= deadline) {
            fprintf(stderr, "test_query: offset of %s: %s %.3f s, not within [%.1f, %.1f]\n",
                    member, found ? "at" : "absent,", v, lo, hi);
            return -1;
        }
        usleep(100000);
    }
    return 0;
}

/* The figure after ", clock " on the line of peer member in the caller's
 * `lienthong status`, into *v: 1, or 0 when the line has none (the output
 * is shown when that is not want). */
static int s_status_clock(const char *member, int want, double *v)
{
    char *out = NULL, *err = NULL, head[160];
    const char *args[] = {"status", "--config", g_caller->conf_path, NULL};
    snprintf(head, sizeof head, "peer %s: ", member);
    int rc = s_cli(args, &out, &err);
    const char *line = rc == 0 ? strstr(out, head) : NULL;
    const char *end = line ? strchr(line, '\n') : NULL;
    const char *clock = line ? strstr(line, ", clock ") : NULL;
    int found = clock && (!end || clock < end);
    *v = found ? strtod(clock + strlen(", clock "), NULL) : 0;
    if (found != want)
        fprintf(stderr, "test_query: status (%d) said: %s%s\n", rc, out, err);
    free(out);
    free(err);
    return found;
}

/* `lienthong ping` of the owner with member m's key file: its exit code,
 * and its output in *out and *err (malloc'd). */
static int s_ping(const lt_it_member_t *m, char **out, char **err)
{
    char server[LT_Z85_KEY_LEN + 1];
    lt_keys_z85_encode(lt_keys_transport_public(g_m_owner->keys), server);
    const char *args[] = {"ping", "--key",      m->key_path,         "--server-key",
                          server, "--endpoint", g_m_owner->endpoint, "--timeout",
                          "1500", NULL};
    return s_cli(args, out, err);
}

/* The figure of ping's clock line ("its clock is +S s from this host's (+-
 * H ms)") in *s and *half_ms: 1, or 0 when out has none. */
static int s_ping_clock(const char *out, double *s, double *half_ms)
{
    static const char *head = "its clock is ";
    const char *at = strstr(out, head);
    const char *pm = at ? strstr(at, " from this host's (+- ") : NULL;
    *s = at ? strtod(at + strlen(head), NULL) : 0;
    *half_ms = pm ? strtod(pm + strlen(" from this host's (+- "), NULL) : 0;
    return pm != NULL;
}

/* ---- ping of a fake gateway ------------------------------------------------------------------ */

/* A ROUTER with a key of its own on 127.0.0.1, in a context of its own (no
 * ZAP handler: it admits any key), that answers the first message it gets
 * with the envelope bytes `answer`, from a thread while ping runs. */
typedef struct {
    void *ctx, *sock;
    uint8_t pub[LT_KEY_BYTES];
    char endpoint[64];
    const uint8_t *answer;
    size_t answer_len;
    int answered;
} pingpeer_t;

static void s_pingpeer_close(pingpeer_t *p)
{
    if (p->sock)
        zmq_close(p->sock);
    if (p->ctx)
        zmq_ctx_term(p->ctx);
    memset(p, 0, sizeof *p);
}

static int s_pingpeer_open(pingpeer_t *p)
{
    int zero = 0, one = 1;
    uint8_t sec[LT_KEY_BYTES];
    size_t eplen = sizeof p->endpoint;
    memset(p, 0, sizeof *p);
    crypto_box_keypair(p->pub, sec);
    p->ctx = zmq_ctx_new();
    p->sock = p->ctx ? zmq_socket(p->ctx, ZMQ_ROUTER) : NULL;
    int rc = !p->sock || zmq_setsockopt(p->sock, ZMQ_LINGER, &zero, sizeof zero) ||
                     zmq_setsockopt(p->sock, ZMQ_CURVE_SERVER, &one, sizeof one) ||
                     zmq_setsockopt(p->sock, ZMQ_CURVE_SECRETKEY, sec, sizeof sec) ||
                     zmq_bind(p->sock, "tcp://127.0.0.1:*") ||
                     zmq_getsockopt(p->sock, ZMQ_LAST_ENDPOINT, p->endpoint, &eplen)
                 ? -1
                 : 0;
    sodium_memzero(sec, sizeof sec);
    return rc;
}

/* The thread: ping's Hello (its routing id and body), then the answer. */
static void *s_pingpeer_run(void *arg)
{
    pingpeer_t *p = arg;
    uint8_t rid[256];
    zmq_pollitem_t it = {p->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 15000) <= 0)
        return NULL;
    int n = zmq_recv(p->sock, rid, sizeof rid, 0), more = 1;
    size_t ml = sizeof more;
    while (n >= 0 && zmq_getsockopt(p->sock, ZMQ_RCVMORE, &more, &ml) == 0 && more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        int got = zmq_msg_recv(&m, p->sock, 0);
        zmq_msg_close(&m);
        if (got < 0)
            return NULL;
    }
    size_t rlen = n > 0 && (size_t)n < sizeof rid ? (size_t)n : 0;
    p->answered = rlen && zmq_send(p->sock, rid, rlen, ZMQ_SNDMORE) >= 0 &&
                  zmq_send(p->sock, p->answer, p->answer_len, 0) >= 0;
    return NULL;
}

/* `lienthong ping` of a fake gateway answering its Hello with a Hello (h)
 * or an Error (e): ping's exit code, its output in *out and *err. */
static int s_ping_fake(Lienthong__Hello *h, Lienthong__Error *e, char **out, char **err)
{
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = h ? LIENTHONG__ENVELOPE__BODY_HELLO : LIENTHONG__ENVELOPE__BODY_ERROR;
    if (h) /* one member of a union: set only that one */
        env.hello = h;
    else
        env.error = e;
    pingpeer_t p = {0};
    pthread_t t;
    int rc = -1;
    size_t len = 0;
    uint8_t *buf = s_pack_env(&env, &len);
    if (!buf || s_pingpeer_open(&p) != 0) {
        fprintf(stderr, "test_query: the fake gateway cannot start\n");
        goto out;
    }
    p.answer = buf;
    p.answer_len = len;
    if (pthread_create(&t, NULL, s_pingpeer_run, &p) != 0)
        goto out;
    char server[LT_Z85_KEY_LEN + 1];
    lt_keys_z85_encode(p.pub, server);
    const char *args[] = {"ping",
                          "--key",
                          g_m_lookonly->key_path,
                          "--server-key",
                          server,
                          "--endpoint",
                          p.endpoint,
                          "--timeout",
                          "5000",
                          NULL};
    rc = s_cli(args, out, err);
    pthread_join(t, NULL);
    if (!p.answered)
        fprintf(stderr, "test_query: the fake gateway never answered ping\n");
    fprintf(stderr, "test_query: ping of the fake gateway said: %s%s", *out ? *out : "",
            *err ? *err : "");
out:
    s_pingpeer_close(&p);
    free(buf);
    return rc;
}

/* 1 when s holds no control character but newlines, and n lines. */
static int s_lines_plain(const char *s, int n)
{
    int lines = 0;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c < 0x20 && *c != '\n') || *c == 0x7f ||
            (c[0] == 0xc2 && c[1] >= 0x80 && c[1] <= 0x9f))
            return 0;
        lines += *c == '\n';
    }
    return lines == n;
}

/* A gateway's member id, software and error message are its own words:
 * escape sequences, bells, carriage returns and newlines in them reach the
 * terminal as \xNN, never raw, and no answer adds a line of its own. */
static void test_ping_escapes_peer_text(void)
{
    char *out = NULL, *err = NULL;
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.member = "VN/GOV/BCA\x1b[31m\nits clock is +0.0 s";
    h.directory_version = 7;
    h.software = "evil\x07\r\x1b]0;title\x07 \xc2\x9b"
                 "2J";
    h.sent_at_ms = (uint64_t)lt_clock_now_ms();
    CU_ASSERT(s_ping_fake(&h, NULL, &out, &err) == 0);
    CU_ASSERT(out && strstr(out, "answered by VN/GOV/BCA\\x1b[31m\\x0aits clock is +0.0 s "
                                 "(directory version 7, evil\\x07\\x0d\\x1b]0;title\\x07 "
                                 "\\xc2\\x9b2J)\n") != NULL);
    CU_ASSERT(out && s_lines_plain(out, 2));
    free(out);
    free(err);
    out = err = NULL;
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    e.code = LIENTHONG__ERROR_CODE__ERR_FORBIDDEN;
    e.message = "go away\x1b[2J\r\nanswered by VN/GOV/BCA";
    CU_ASSERT(s_ping_fake(NULL, &e, &out, &err) == 1);
    CU_ASSERT(out && strcmp(out, "refused: ERR_FORBIDDEN: go away\\x1b[2J\\x0d\\x0aanswered by "
                                 "VN/GOV/BCA\n") == 0);
    CU_ASSERT(out && s_lines_plain(out, 1));
    free(out);
    free(err);
}

/* The clock line's other cases (PROTOCOL.md 5.1): a gateway of a release
 * before Hello.sent_at_ms (the field absent) gives none; one whose clock
 * reads 1 ms into 1970 is some 56 years behind, still a figure; one more
 * than 100 years away gives no figure but says so. */
static void test_ping_clock_cases(void)
{
    char *out = NULL, *err = NULL;
    double s = 0, half = 0;
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.member = ID_OWNER;
    h.directory_version = 1;
    h.software = "lienthong 0.9";
    CU_ASSERT(s_ping_fake(&h, NULL, &out, &err) == 0);
    CU_ASSERT(out &&
              strcmp(out, "answered by " ID_OWNER " (directory version 1, lienthong 0.9)\n") == 0);
    free(out);
    free(err);
    out = err = NULL;
    h.sent_at_ms = 1;
    double behind = -(double)lt_clock_now_ms() / 1000.0;
    CU_ASSERT(s_ping_fake(&h, NULL, &out, &err) == 0);
    CU_ASSERT(out && s_ping_clock(out, &s, &half) == 1 && s > behind - 60 && s < behind + 60);
    CU_ASSERT(out && s_lines_plain(out, 2));
    free(out);
    free(err);
    out = err = NULL;
    h.sent_at_ms = UINT64_MAX;
    CU_ASSERT(s_ping_fake(&h, NULL, &out, &err) == 0);
    CU_ASSERT(out && strstr(out, "\nits clock reads 18446744073709551615 ms since 1970, more than "
                                 "100 years from this host's: no clock to compare\n") != NULL);
    CU_ASSERT(out && strstr(out, "its clock is") == NULL && s_lines_plain(out, 2));
    free(out);
    free(err);
}

/* A listed member's key: answered by the owner, naming it and its
 * directory version, with its clock within a second of ours (one host)
 * and half a round trip of at most a second on 127.0.0.1. A key the
 * directory does not list: no answer, exit 1, said as a refusal. */
static void test_ping(void)
{
    char *out = NULL, *err = NULL;
    double s = 0, half = 0;
    CU_ASSERT(s_ping(g_m_lookonly, &out, &err) == 0);
    CU_ASSERT(strstr(out, "answered by " ID_OWNER " (directory version 1, lienthong ") != NULL);
    CU_ASSERT(s_ping_clock(out, &s, &half) == 1);
    CU_ASSERT(s > -1.0 && s < 1.0 && half >= 0.0 && half < 1000.0);
    fprintf(stderr, "test_query: ping said: %s%s", out, err);
    free(out);
    free(err);
    out = err = NULL;
    CU_ASSERT(s_ping(g_m_outsider, &out, &err) == 1);
    CU_ASSERT(strstr(out, "the gateway does not admit this key") != NULL);
    CU_ASSERT(strstr(out, "answered by") == NULL && strstr(out, "its clock") == NULL);
    fprintf(stderr, "test_query: ping with an unlisted key said: %s%s", out, err);
    free(out);
    free(err);
}

/* The owner's clock two minutes ahead: the caller's gauge and status show
 * it near +120 s (a little less: the Hello's transit), the owner's show
 * the caller near -120 s, the caller warns once; back in step, the caller
 * says so and the figure comes back near 0. */
static void test_clock_offset_shown(void)
{
    double v = 0;
    int skewed = 0;
    /* From a test before: the caller's figure may still show another skew. */
    LT_IT_REQUIRE(!s_clock_offset(g_caller, ID_OWNER, &v) ||
                  s_clock_offset_wait(g_caller, ID_OWNER, -2.5, 2.5) == 0);
    long mark = lt_it_log_mark(g_caller);
    skewed = 1;
    LT_IT_REQUIRE(s_owner_skewed("120000") == 0);
    CU_ASSERT(s_clock_offset_wait(g_caller, ID_OWNER, 119.0, 120.5) == 0);
    CU_ASSERT(s_clock_offset_wait(g_owner, ID_CALLER, -120.5, -119.0) == 0);
    CU_ASSERT(s_status_clock(ID_OWNER, 1, &v) == 1 && v >= 119.0 && v <= 120.5);
    /* ping's estimate is mid-way through the round trip: near +120 s. */
    char *out = NULL, *err = NULL;
    double half = 0;
    CU_ASSERT(s_ping(g_m_lookonly, &out, &err) == 0);
    CU_ASSERT(s_ping_clock(out, &v, &half) == 1 && v >= 119.0 && v <= 121.0);
    if (!(v >= 119.0 && v <= 121.0))
        fprintf(stderr, "test_query: ping of the skewed owner said: %s%s", out, err);
    free(out);
    free(err);
    CU_ASSERT(lt_it_log_wait(g_caller, mark, "the clock of " ID_OWNER " is 1",
                             "s ahead of this gateway's", REPLY_MS) == 0);
    mark = lt_it_log_mark(g_caller);
    skewed = 0;
    LT_IT_REQUIRE(s_owner_skewed("") == 0);
    CU_ASSERT(s_clock_offset_wait(g_caller, ID_OWNER, -1.0, 1.0) == 0);
    CU_ASSERT(lt_it_log_wait(g_caller, mark, "the clock of " ID_OWNER " is within 2.5 s", "again",
                             REPLY_MS) == 0);
    CU_ASSERT(s_status_clock(ID_OWNER, 0, &v) == 0); /* within a second: not shown */
out:
    if (skewed || g_owner->pid <= 0)
        CU_ASSERT(s_owner_skewed("") == 0);
    s_dump_logs();
}

/* The suite's gateways live from suite_init to suite_clean: nothing to do
 * between tests. */
static void s_keep_gateways(void)
{
}

#define EVIL_NAME "Evil\x1b[31m red\nforged: line \\x1b"

/* Publishes key with full_name EVIL_NAME, runs argv in text (it must print
 * lines lines) and checks that the name is printed escaped on its own line
 * (no raw ESC, the text "\x1b" not passing for an ESC); then with
 * argv[json_at] "--json", its reply parsed into *j. 0, or -1 with an
 * assertion failed. */
static int s_text_escaped(const char *key, const char **argv, size_t json_at, int lines, json_t **j)
{
    char *out = NULL, *err = NULL;
    int rc = -1;
    *j = NULL;
    LT_IT_REQUIRE(s_publish_one(key, EVIL_NAME, DOB1, 1, "01", ADDR1) == 0);
    CU_ASSERT(s_cli(argv, &out, &err) == 0);
    CU_ASSERT(out && strchr(out, '\x1b') == NULL);
    CU_ASSERT(out && s_lines_plain(out, lines));
    CU_ASSERT(out && strstr(out, "\n  full_name            Evil\\x1b[31m red\\x0aforged: line "
                                 "\\\\x1b\n") != NULL);
    free(out);
    free(err);
    out = err = NULL;
    argv[json_at] = "--json";
    CU_ASSERT(s_cli(argv, &out, &err) == 0);
    LT_IT_REQUIRE((*j = s_json(out)) != NULL);
    rc = 0;
out:
    free(out);
    free(err);
    return rc;
}

/* An owner's record holding an escape sequence, a newline and a backslash
 * that spells an escape: `lookup` in text prints them as \xNN and \\, one
 * field a line; --json keeps the value as published. */
static void test_lookup_text_escaped(void)
{
    static const char *key = "001080000005";
    json_t *j = NULL;
    const char *lookup[] = {
        "lookup",    "--config", g_caller->conf_path, "--dataset", DS,   "--key", key,
        "--purpose", "KYC",      "--field",           "full_name", NULL, NULL};
    if (s_text_escaped(key, lookup, 11, 3, &j) == 0)
        CU_ASSERT_STRING_EQUAL(s_jstr(json_object_get(j, "fields"), "full_name"), EVIL_NAME);
    json_decref(j);
}

/* The same owner's words in a profile part: `profile` in text prints them
 * escaped, one field a line (heading, part, field, signer); --json keeps
 * the value as published. */
static void test_profile_text_escaped(void)
{
    static const char *key = "001080000006";
    json_t *j = NULL;
    const char *profile[] = {"profile", "--config",  g_caller->conf_path, "--key", key, "--purpose",
                             "KYC",     "--dataset", DS ":full_name",     NULL,    NULL};
    if (s_text_escaped(key, profile, 9, 4, &j) == 0) {
        json_t *part = json_array_get(json_object_get(j, "parts"), 0);
        CU_ASSERT_STRING_EQUAL(s_jstr(json_object_get(part, "fields"), "full_name"), EVIL_NAME);
    }
    json_decref(j);
}

/* A case reference holding a C1 control (CSI) is refused like one holding
 * a C0 control (PROTOCOL.md 7.1). A key may hold one: `audit` in text
 * prints the lookup's entry with it as \xc2\x9b, never the CSI a terminal
 * would act on, and the entry stays on its two lines. */
static void test_audit_text_escapes_c1(void)
{
    static const char key[] = "001080000007\xc2\x9b"
                              "2J";
    char *out = NULL, *err = NULL;
    const char *refused[] = {"lookup",
                             "--config",
                             g_caller->conf_path,
                             "--dataset",
                             DS,
                             "--key",
                             "001080000007",
                             "--purpose",
                             "KYC",
                             "--case",
                             "HS-1\xc2\x9b"
                             "2J",
                             NULL};
    CU_ASSERT_NOT_EQUAL(s_cli(refused, &out, &err), 0);
    CU_ASSERT(err && strstr(err, "case_ref") != NULL);
    free(out);
    free(err);
    out = err = NULL;
    const char *lookup[] = {"lookup", "--config", g_caller->conf_path, "--dataset", DS,
                            "--key",  key,        "--purpose",         "KYC",       "--case",
                            "HS-1",   NULL};
    CU_ASSERT_EQUAL(s_cli(lookup, &out, &err), 1); /* a signed ERR_NOT_FOUND */
    free(out);
    LT_IT_REQUIRE(s_made_report(key, &out) == 0);
    CU_ASSERT(strstr(out, "001080000007\\xc2\\x9b2J") != NULL);
    CU_ASSERT(strstr(out, "\xc2\x9b") == NULL);
    CU_ASSERT(s_lines_plain(out, 4)); /* heading, the entry's two lines, the count */
out:
    free(out);
    free(err);
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"lookup: field-level policy", test_lookup_fields},
        {"lookup on a view: a key outside it answers as one never published",
         test_view_hides_outside},
        {"lookup and verify: purpose", test_purpose},
        {"metrics: text parses, lookup counters move", test_metrics},
        {"verify: no data, Vietnamese normalisation", test_verify},
        {"verify: batch streams one answer per key", test_verify_batch},
        {"no policy / no verify op: ERR_FORBIDDEN", test_forbidden},
        {"a retried request is executed once", test_retry_executed_once},
        {"own data: an id reused by another application is refused", test_own_id_reused},
        {"a lookup is answered while a publish waits to commit", test_lookup_during_commit},
        {"lookup --json and verify --json", test_cli_json},
        {"verify --subjects-file: over the claim limit fails", test_cli_subjects_over_limit},
        {"long keys: audited whole, past the limit refused", test_long_keys},
        {"caller's audit: each key of a verify", test_made_verify},
        {"caller's audit: the fields of a lookup", test_made_fields},
        {"dead owner: ERR_UNAVAILABLE naming it at the deadline", test_dead_owner_unavailable},
        {"forged and replayed answers dropped", test_forged_answers},
        {"an application's retry while outstanding is a retry", test_retry_while_outstanding},
        {"an answer naming another member as its owner is dropped", test_answer_names_other_owner},
        {"a profile part's timeout repeats the owner's words cut on a character boundary",
         test_owner_said_cut},
        {"answer context: record type for the client only", test_answer_context},
        {"owner started late answers once", test_owner_starts_late},
        {"owner's clock ahead or behind: lookup and verify answered", test_skewed_owner},
        {"a peer's clock offset: gauge, status and log", test_clock_offset_shown},
        {"ping: the gateway, its directory version and clock; an unlisted key refused", test_ping},
        {"ping: a gateway's text escaped, no line of its own", test_ping_escapes_peer_text},
        {"ping: no clock line from an older gateway, none past 100 years", test_ping_clock_cases},
        {"lookup in text: an owner's escape sequence and newline escaped, one field a line",
         test_lookup_text_escaped},
        {"profile in text: an owner's escape sequence and newline escaped, one field a line",
         test_profile_text_escaped},
        {"audit in text: a key's C1 control escaped; a case reference's refused",
         test_audit_text_escapes_c1},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"query", suite_init,      suite_clean,
                                        NULL,    s_keep_gateways, tests};
    return lt_it_main(argc, argv, &suite);
}

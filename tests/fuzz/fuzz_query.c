/* fuzz_query: libFuzzer target for lookup and verify (gateway/lt_query,
 * PROTOCOL.md 7), both sides, in process.
 *
 * Set-up (once): fixed member keys, a directory compiled, signed and opened
 * in process (owner VN/GOV/BCA with the population dataset and a view, a
 * caller VN/COM/VIETTEL with lookup + verify, VN/PROV/38 with verify only, a
 * suspended owner, a dataset the caller owns), a store in a temporary
 * directory holding a few citizens published with lt_publish_apply, and
 * ZeroMQ inproc pairs: the owner's peer ROUTER with the caller's link DEALER
 * ("callr"), and the caller's local ROUTER with an application DEALER ("app").
 * What arrives on the caller's link is handed to the gateway's dispatch of
 * its links (gateway/lt_linkrx, with a feed that replicates nothing): it
 * must be dropped exactly when it does not decode, and be an answer
 * exactly when it holds a LookupReply or VerifyReply.
 *
 * Each input, with a fresh owner and a fresh caller lt_query:
 *  1. If it decodes as an Envelope holding a LookupRequest or VerifyRequest:
 *     - round trip: a copy with the deadline moved to now + 60 s and a
 *       timeout_ms of 60 s (PROTOCOL.md 7.1) is given to
 *       the caller as an application's request (lt_query_on_local); what the
 *       caller forwards is executed by the owner (lt_query_on_request with
 *       User-Id VN/COM/VIETTEL), signed (lt_query_flush), checked by the
 *       caller (lt_query_on_answer) and forwarded to the application; then
 *       every answer is fed to the caller again (replays);
 *     - the exact input bytes go to the owner directly, as VN/COM/VIETTEL
 *       and as VN/PROV/38, and its answers to the caller.
 *  2. The bytes are fed to the caller's answer check path, with a lookup
 *     (id 7) and a verify (id 8) outstanding: as an Envelope (when it holds a
 *     lookup_reply or verify_reply), as the body of a lookup_reply and of a
 *     verify_reply (bytes = a SignedAnswer), and as answer bytes that the
 *     harness signs with the owner's key (so that the checks after the
 *     signature are reached).
 *
 * Invariants (abort): whatever the caller forwards to the application is an
 * Error, or a SignedAnswer whose Merkle path and root signature verify under
 * the owner's key and whose request_id and request_hash are those of a
 * request the application sent (and, for verify, key = keys[index]); a
 * lookup answer never releases a field outside the caller's policy, and its
 * payload has only released fields set; a verify answer carries a result
 * per claim, CLAIM_NOT_ALLOWED for fields outside the policy, and no
 * results when the key was not found.
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. */
#define _GNU_SOURCE
#include "fuzz_common.h"
#include "lt_clock.h"
#include "lt_crypto.h"
#include "lt_dir.h"
#include "lt_feed.h"
#include "lt_file.h"
#include "lt_linkrx.h"
#include "lt_log.h"
#include "lt_peers.h"
#include "lt_publish.h"
#include "lt_query.h"
#include "lt_schema.h"
#include "lt_store.h"
#include "lt_wire.h"
#include "records/population.pb-c.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define OWNER          "VN/GOV/BCA"
#define CALLER         "VN/COM/VIETTEL"
#define OTHER          "VN/PROV/38"
#define DS             "VN/GOV/BCA/population"
#define K1             "001080000001"
#define K2             "038090000002"
#define KX             "099999999999"
#define FIXED_DEADLINE ((int64_t)4102444800000) /* 2100-01-01: clamped by the caller */
#define LOOKUP_ID      7
#define VERIFY_ID      8
#define MAX_FRAMES     4096

static const char *const s_policy_fields[] = {"full_name", "date_of_birth", "sex", "status", NULL};

static struct {
    int ready;
    char tmp[256];
    lt_keys_t *owner_keys, *caller_keys, *other_keys, *old_keys, *auth;
    lt_dir_t *dir;
    lt_store_t *store;
    lt_gwcfg_t owner_cfg, caller_cfg;
    lt_gwctx_t owner, caller; /* what each side's lt_query shares */
    lt_peers_t *peers;        /* the caller's, holding the link to the owner */
    lt_feed_t *feed;          /* the caller's: no replica, errors on its link go there too */
    lt_stats_t *stats;        /* both sides' statistics, kept across inputs */
    void *ctx, *peer, *link, *local, *app;
    /* the fixed outstanding requests of step 2 */
    uint8_t *fixed[2];
    size_t fixed_len[2];
    uint8_t fixed_hash[2][LT_HASH_BYTES];
    Lienthong__Envelope *fixed_env[2];
} G;

/* What the application may legitimately receive answers to. */
typedef struct {
    uint64_t id;
    uint8_t hash[LT_HASH_BYTES];
    int is_verify;
    const Lienthong__VerifyRequest *vq; /* for the key and claim checks */
    int owner_made;                     /* answers come from the owner (privacy checked) */
} expect_t;

/* ---- set-up ------------------------------------------------------------------- */

static void s_cleanup(void)
{
    fuzz_rmtree(G.tmp);
}

static void s_member_src(FILE *f, const char *id, const lt_keys_t *k, const char *status, int ep)
{
    char tk[LT_Z85_KEY_LEN + 1], sk[LT_Z85_KEY_LEN + 1];
    lt_keys_z85_encode(lt_keys_transport_public(k), tk);
    lt_keys_z85_encode(lt_keys_signing_public(k), sk);
    fprintf(f,
            "  { id = \"%s\"; name = \"%s\";%s transport_key = \"%s\"; signing_key = \"%s\";"
            " status = \"%s\"; }",
            id, id, ep ? " endpoints = [\"tcp://127.0.0.1:7400\"];" : "", tk, sk, status);
}

static lt_dir_t *s_directory(void)
{
    char path[512], err[1024];
    snprintf(path, sizeof path, "%s/dir.src", G.tmp);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fprintf(f, "federation = \"VN\";\nversion = 3;\nmembers = (\n");
    s_member_src(f, OWNER, G.owner_keys, "active", 1);
    fprintf(f, ",\n");
    s_member_src(f, CALLER, G.caller_keys, "active", 1);
    fprintf(f, ",\n");
    s_member_src(f, OTHER, G.other_keys, "active", 0);
    fprintf(f, ",\n");
    s_member_src(f, "VN/GOV/OLD", G.old_keys, "suspended", 1);
    fprintf(
        f, ");\n"
           "datasets = (\n"
           "  { id = \"" DS "\"; owner = \"" OWNER "\";\n"
           "    type = \"lienthong.records.Population\"; key = \"personal_id\"; },\n"
           "  { id = \"VN/GOV/OLD/archive\"; owner = \"VN/GOV/OLD\";\n"
           "    type = \"lienthong.records.Population\"; key = \"personal_id\"; },\n"
           "  { id = \"VN/COM/VIETTEL/subscribers\"; owner = \"" CALLER "\";\n"
           "    type = \"lienthong.records.Subscriber\"; key = \"phone_number\"; } );\n"
           "views = ( { id = \"" DS ".p38\"; dataset = \"" DS "\";\n"
           "  fields = [\"personal_id\", \"full_name\"]; where = { current_province = \"38\"; }; } "
           ");\n"
           "policies = (\n"
           "  { consumer = \"" CALLER "\"; target = \"" DS "\"; allow = [\"lookup\", \"verify\"];\n"
           "    fields = [\"full_name\", \"date_of_birth\", \"sex\", \"status\"];\n"
           "    purposes = [\"KYC\", \"AUDIT\"]; },\n"
           "  { consumer = \"" CALLER "\"; target = \"" DS ".p38\"; allow = [\"subscribe\"]; },\n"
           "  { consumer = \"" CALLER "\"; target = \"VN/GOV/OLD/archive\"; allow = [\"lookup\"];\n"
           "    fields = [\"full_name\"]; purposes = [\"KYC\"]; },\n"
           "  { consumer = \"" OTHER "\"; target = \"" DS "\"; allow = [\"verify\"];\n"
           "    fields = [\"full_name\"]; purposes = [\"KYC\"]; } );\n");
    if (fclose(f) != 0)
        return NULL;
    uint8_t *raw = NULL, *sig = NULL;
    size_t raw_len = 0, sig_len = 0;
    lt_dir_t *d = NULL;
    lt_dir_pins_t pins = {.count = 1};
    memcpy(pins.keys[0], lt_keys_signing_public(G.auth), LT_KEY_BYTES);
    if (lt_dir_compile(path, 0, 0, 0, &raw, &raw_len, err, sizeof err) == 0 &&
        lt_dir_sign(raw, raw_len, G.auth, &sig, &sig_len) == 0)
        d = lt_dir_open(sig, sig_len, &pins, "VN", 0, err, sizeof err);
    if (!d)
        fprintf(stderr, "fuzz_query: directory: %s\n", err);
    free(raw);
    free(sig);
    unlink(path);
    return d;
}

static uint8_t *s_person(const char *key, const char *name, const char *dob, int sex,
                         const char *province, size_t *len)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.personal_id = (char *)key;
    p.full_name = (char *)name;
    p.date_of_birth = (char *)dob;
    p.sex = (Lienthong__Records__Sex)sex;
    p.current_province = (char *)province;
    p.current_address = "S\xe1\xbb\x91 12 ph\xe1\xbb\x91 H\xc3\xa0ng B\xe1\xba\xa1"
                        "c";
    p.id_card_number = (char *)key;
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    *len = lienthong__records__population__get_packed_size(&p);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (buf)
        lienthong__records__population__pack(&p, buf);
    return buf;
}

static int s_seed_store(void)
{
    static const struct {
        const char *key, *name, *dob, *province;
        int sex, deleted;
    } rows[] = {
        {K1, "Nguy\xe1\xbb\x85n V\xc4\x83n An", "1980-02-29", "01", 1, 0},
        {K2, "\xc4\x90\xe1\xba\xb7ng Th\xe1\xbb\x8b H\xe1\xba\xa1", "19900102", "38", 2, 0},
        {"038075000003", "L\xc3\xaa Th\xe1\xbb\x8b H\xc3\xa0", "not a date", "38", 2, 0},
        {"038075000004", "  ", "", "38", 0, 0},
        {"038075000005", "Tr\xe1\xba\xa7n B\xc3\xacnh", "2000-01-01", "38", 1, 0},
        {"038075000005", NULL, NULL, NULL, 0, 1}, /* then deleted */
    };
    enum { N = sizeof rows / sizeof rows[0] };
    Lienthong__Change c[N], *cp[N];
    for (size_t i = 0; i < N; i++) {
        lienthong__change__init(&c[i]);
        c[i].key = (char *)rows[i].key;
        c[i].deleted = rows[i].deleted;
        if (!rows[i].deleted)
            c[i].payload.data = s_person(rows[i].key, rows[i].name, rows[i].dob, rows[i].sex,
                                         rows[i].province, &c[i].payload.len);
        cp[i] = &c[i];
    }
    Lienthong__Publish p = LIENTHONG__PUBLISH__INIT, *pp = &p;
    p.request_id = 1;
    p.dataset = DS;
    p.changes = cp;
    p.n_changes = N;
    lt_publish_result_t res;
    int rc = lt_publish_apply(G.store, G.dir, OWNER, &pp, 1, LT_PUBLISH_MAX_RECORD, &res, NULL,
                              NULL) == 0 &&
                     res.code == LIENTHONG__ERROR_CODE__ERR_NONE
                 ? 0
                 : -1;
    for (size_t i = 0; i < N; i++)
        free(c[i].payload.data);
    return rc;
}

static void *s_sock(int type, const char *rid, const char *bind, const char *connect)
{
    void *s = zmq_socket(G.ctx, type);
    int zero = 0;
    if (!s || zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &zero, sizeof zero) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &zero, sizeof zero) ||
        (rid && zmq_setsockopt(s, ZMQ_ROUTING_ID, rid, strlen(rid))) ||
        (bind && zmq_bind(s, bind)) || (connect && zmq_connect(s, connect)))
        abort();
    return s;
}

/* Packs a request envelope. */
static uint8_t *s_pack(const Lienthong__Envelope *env, size_t *len)
{
    *len = lienthong__envelope__get_packed_size(env);
    uint8_t *buf = malloc(*len ? *len : 1);
    if (!buf)
        abort();
    lienthong__envelope__pack(env, buf);
    return buf;
}

static void s_body_hash(const uint8_t *env, size_t len, uint8_t out[LT_HASH_BYTES])
{
    const uint8_t *body;
    size_t body_len;
    if (lt_wire_body_bytes(env, len, &body, &body_len) != 0)
        abort();
    lt_crypto_hash(body, body_len, out);
}

static char *s_fixed_keys_list[] = {K1, K2, KX};

/* The fixed requests of step 2: a lookup (7) and a verify (8). */
static void s_fixed_requests(void)
{
    char *fields[] = {"full_name", "date_of_birth", "current_address", "no_such_field"};
    Lienthong__LookupRequest lq = LIENTHONG__LOOKUP_REQUEST__INIT;
    lq.request_id = LOOKUP_ID;
    lq.dataset = DS;
    lq.key = K1;
    lq.fields = fields;
    lq.n_fields = 4;
    lq.purpose = "KYC";
    lq.case_ref = "HS-1";
    lq.deadline_ms = FIXED_DEADLINE;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = LT_PROTO_VERSION;
    env.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    env.lookup_request = &lq;
    G.fixed[0] = s_pack(&env, &G.fixed_len[0]);
    Lienthong__Claim c[3], *cp[3];
    static const char *const cv[3][2] = {{"full_name", "NGUYE\xcc\x82\xcc\x83N V\xc4\x82N AN"},
                                         {"date_of_birth", "19800229"},
                                         {"current_address", "x"}};
    for (int i = 0; i < 3; i++) {
        lienthong__claim__init(&c[i]);
        c[i].field = (char *)cv[i][0];
        c[i].value = (char *)cv[i][1];
        cp[i] = &c[i];
    }
    Lienthong__VerifyRequest vq = LIENTHONG__VERIFY_REQUEST__INIT;
    vq.request_id = VERIFY_ID;
    vq.dataset = DS;
    vq.keys = s_fixed_keys_list;
    vq.n_keys = 3;
    vq.claims = cp;
    vq.n_claims = 3;
    vq.purpose = "KYC";
    vq.deadline_ms = FIXED_DEADLINE;
    env.body_case = LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    env.verify_request = &vq;
    G.fixed[1] = s_pack(&env, &G.fixed_len[1]);
    for (int i = 0; i < 2; i++) {
        Lienthong__ErrorCode code;
        char err[256];
        s_body_hash(G.fixed[i], G.fixed_len[i], G.fixed_hash[i]);
        if (!(G.fixed_env[i] = lt_wire_decode(G.fixed[i], G.fixed_len[i], FUZZ_ENVELOPE_CAP, &code,
                                              err, sizeof err)))
            abort();
    }
}

static void s_write_seeds(const char *dir);

/* Each side's shared objects; the caller's only link is the one DEALER to
 * the owner. */
static void s_shared(void)
{
    if (!(G.stats = lt_stats_new()))
        abort();
    G.owner = (lt_gwctx_t){.cfg = &G.owner_cfg,
                           .keys = G.owner_keys,
                           .dir = G.dir,
                           .store = G.store,
                           .stats = G.stats};
    G.caller = (lt_gwctx_t){.cfg = &G.caller_cfg,
                            .keys = G.caller_keys,
                            .dir = G.dir,
                            .store = G.store,
                            .stats = G.stats};
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    if (!(G.peers = lt_peers_new(&G.caller, G.ctx, &so)) ||
        lt_peers_attach(G.peers, OWNER, G.link) != 0)
        abort();
    G.caller.peers = G.peers;
    if (!(G.feed = lt_feed_new(&G.caller)))
        abort();
}

static void s_init(void)
{
    if (G.ready)
        return;
    G.ready = 1;
    if (sodium_init() < 0)
        abort();
    lt_log_set_level(LT_LOG_ERROR);
    fuzz_tmpdir(G.tmp, sizeof G.tmp, "fuzz-query");
    atexit(s_cleanup);
    G.auth = fuzz_fixed_keys(G.tmp, LT_KEYS_AUTHORITY, 0, 3);
    G.owner_keys = fuzz_fixed_keys(G.tmp, LT_KEYS_MEMBER, 100, 3);
    G.caller_keys = fuzz_fixed_keys(G.tmp, LT_KEYS_MEMBER, 50, 3);
    G.other_keys = fuzz_fixed_keys(G.tmp, LT_KEYS_MEMBER, 20, 3);
    G.old_keys = fuzz_fixed_keys(G.tmp, LT_KEYS_MEMBER, 200, 3);
    if (!G.auth || !G.owner_keys || !G.caller_keys || !G.other_keys || !G.old_keys ||
        !(G.dir = s_directory()))
        abort();
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/store.db", G.tmp);
    if (!(G.store = lt_store_open(path, err, sizeof err)) || s_seed_store() != 0) {
        fprintf(stderr, "fuzz_query: store: %s\n", err);
        abort();
    }
    snprintf(G.owner_cfg.member, sizeof G.owner_cfg.member, "%s", OWNER);
    snprintf(G.caller_cfg.member, sizeof G.caller_cfg.member, "%s", CALLER);
    G.owner_cfg.max_message = G.caller_cfg.max_message = FUZZ_ENVELOPE_CAP;
    G.ctx = zmq_ctx_new();
    G.peer = s_sock(ZMQ_ROUTER, NULL, "inproc://fq-peer", NULL);
    G.link = s_sock(ZMQ_DEALER, "callr", NULL, "inproc://fq-peer");
    G.local = s_sock(ZMQ_ROUTER, NULL, "inproc://fq-local", NULL);
    G.app = s_sock(ZMQ_DEALER, "app", NULL, "inproc://fq-local");
    s_shared();
    s_fixed_requests();
    const char *seeds = getenv("FUZZ_WRITE_SEEDS");
    if (seeds && seeds[0])
        s_write_seeds(seeds);
}

/* ---- message plumbing ---------------------------------------------------------- */

static void s_in_init(lt_wire_in_t *in, const char *rid, const char *user, const uint8_t *buf,
                      size_t len)
{
    memset(in, 0, sizeof *in);
    in->rid_len = strlen(rid);
    memcpy(in->rid, rid, in->rid_len);
    snprintf(in->user_id, sizeof in->user_id, "%s", user);
    if (zmq_msg_init_size(&in->body, len) != 0)
        abort();
    if (len)
        memcpy(zmq_msg_data(&in->body), buf, len);
    in->frames = 1;
}

/* Receives one frame (ROUTER: the routing id is skipped) into a fresh
 * message; 0, or -1 when none is waiting. */
static int s_take(void *sock, int is_router, zmq_msg_t *msg)
{
    if (is_router) {
        zmq_msg_t rid;
        zmq_msg_init(&rid);
        int rc = zmq_msg_recv(&rid, sock, ZMQ_DONTWAIT);
        zmq_msg_close(&rid);
        if (rc < 0)
            return -1;
    }
    zmq_msg_init(msg);
    if (zmq_msg_recv(msg, sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(msg);
        return -1;
    }
    return 0;
}

static Lienthong__Envelope *s_decode(const void *buf, size_t len)
{
    Lienthong__ErrorCode code;
    char err[256];
    return lt_wire_decode(buf, len, FUZZ_ENVELOPE_CAP, &code, err, sizeof err);
}

/* The owner handles every request waiting on its peer socket (as User-Id
 * user), then signs what it produced. */
static void s_owner_pump(lt_query_t *owner, const char *user)
{
    lt_wire_in_t in;
    while (lt_wire_recv(G.peer, 1, ZMQ_DONTWAIT, &in) == 0) {
        snprintf(in.user_id, sizeof in.user_id, "%s", user);
        Lienthong__Envelope *env =
            in.frames == 1 ? s_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body)) : NULL;
        if (env && (env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST ||
                    env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST))
            lt_query_on_request(owner, G.peer, &in, env);
        lt_wire_free(&env);
        lt_wire_in_close(&in);
    }
    lt_wire_in_close(&in);
    lt_query_flush(owner);
}

/* Frames the owner sent, kept to be fed to the caller (again). */
typedef struct {
    zmq_msg_t m[MAX_FRAMES];
    size_t n;
} frames_t;

static void s_frames_free(frames_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        zmq_msg_close(&f->m[i]);
    f->n = 0;
}

/* Collects what arrived on the caller's link (the owner's answers). */
static void s_link_collect(frames_t *f)
{
    zmq_msg_t m;
    while (s_take(G.link, 0, &m) == 0) {
        if (f && f->n < MAX_FRAMES)
            f->m[f->n++] = m;
        else
            zmq_msg_close(&m);
    }
}

/* Discards what the caller sent towards the owner. */
static void s_peer_drain(void)
{
    zmq_msg_t m;
    while (s_take(G.peer, 1, &m) == 0)
        zmq_msg_close(&m);
}

/* Hands one frame from the owner to the caller through the gateway's
 * dispatch of its links, as received on the link to the owner (the only
 * one, index 0). */
static void s_caller_feed(lt_query_t *caller, const zmq_msg_t *frame)
{
    Lienthong__Envelope *env =
        s_decode(zmq_msg_data((zmq_msg_t *)frame), zmq_msg_size((zmq_msg_t *)frame));
    int expect = !env ? -1
                 : env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY ||
                         env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY
                     ? LT_LINKRX_ANSWER
                     : 0;
    lt_wire_free(&env);
    lt_linkrx_t rx = {.ctx = &G.caller, .feed = G.feed, .query = caller, .local = G.local};
    lt_wire_in_t in;
    memset(&in, 0, sizeof in);
    zmq_msg_init(&in.body);
    if (zmq_msg_copy(&in.body, (zmq_msg_t *)frame) != 0)
        abort();
    in.frames = 1;
    if (lt_linkrx_on_message(&rx, 0, &in) != expect)
        abort(); /* dropped, or taken for an answer, against what the frame holds */
    lt_wire_in_close(&in);
}

static void s_caller_feed_all(lt_query_t *caller, const frames_t *f)
{
    for (size_t i = 0; i < f->n; i++)
        s_caller_feed(caller, &f->m[i]);
}

/* ---- invariants ------------------------------------------------------------------- */

static int s_allowed(const char *field)
{
    for (size_t i = 0; s_policy_fields[i]; i++)
        if (strcmp(s_policy_fields[i], field) == 0)
            return 1;
    return 0;
}

static int s_verify_path(const Lienthong__SignedAnswer *sa, const uint8_t pk[LT_KEY_BYTES])
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

/* A released lookup never holds more than the policy allows. */
static void s_check_lookup(const Lienthong__LookupAnswer *a)
{
    if (a->code != LIENTHONG__ERROR_CODE__ERR_NONE && (a->payload.len || a->n_released))
        abort();
    for (size_t i = 0; i < a->n_released; i++)
        if (!s_allowed(a->released[i]))
            abort();
    if (!a->payload.len)
        return;
    Lienthong__Records__Population *p =
        lienthong__records__population__unpack(NULL, a->payload.len, a->payload.data);
    if (!p || p->base.n_unknown_fields)
        abort();
    const ProtobufCMessageDescriptor *d = p->base.descriptor;
    for (unsigned f = 0; f < d->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &d->fields[f];
        int released = 0;
        for (size_t i = 0; i < a->n_released; i++)
            released |= strcmp(a->released[i], fd->name) == 0;
        if (released)
            continue;
        const char *base = (const char *)p + fd->offset;
        if (fd->type == PROTOBUF_C_TYPE_STRING && (*(char *const *)base)[0])
            abort(); /* a withheld string left the owner */
        if (fd->type == PROTOBUF_C_TYPE_ENUM && *(const int *)base != 0)
            abort();
    }
    lienthong__records__population__free_unpacked(p, NULL);
}

static void s_check_verify(const Lienthong__VerifyAnswer *a, const Lienthong__VerifyRequest *q)
{
    if (a->base.n_unknown_fields)
        abort();
    if (a->code != LIENTHONG__ERROR_CODE__ERR_NONE) {
        if (a->n_results)
            abort();
        return;
    }
    if (!q)
        return;
    size_t n = q->n_subjects ? q->n_subjects : q->n_keys;
    if (a->index >= n)
        abort();
    Lienthong__Claim **claims = q->n_subjects ? q->subjects[a->index]->claims : q->claims;
    size_t n_claims = q->n_subjects ? q->subjects[a->index]->n_claims : q->n_claims;
    if (a->n_results != n_claims)
        abort();
    for (size_t c = 0; c < n_claims; c++) {
        Lienthong__ClaimResult r = a->results[c];
        if (r != LIENTHONG__CLAIM_RESULT__CLAIM_MATCH &&
            r != LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH &&
            r != LIENTHONG__CLAIM_RESULT__CLAIM_NOT_ALLOWED)
            abort();
        if (!s_allowed(claims[c]->field) && r != LIENTHONG__CLAIM_RESULT__CLAIM_NOT_ALLOWED)
            abort();
    }
}

/* Everything the caller forwarded to the application obeys 7.4. */
static void s_app_check(const expect_t *ex, size_t n_ex)
{
    zmq_msg_t m;
    while (s_take(G.app, 0, &m) == 0) {
        Lienthong__Envelope *env = s_decode(zmq_msg_data(&m), zmq_msg_size(&m));
        if (!env)
            abort(); /* the caller forwards only what it decoded */
        int is_verify = env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY;
        if (is_verify || env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY) {
            const Lienthong__SignedAnswer *sa = is_verify ? env->verify_reply : env->lookup_reply;
            if (s_verify_path(sa, lt_keys_signing_public(G.owner_keys)) != 0)
                abort(); /* forwarded without a valid owner signature */
            uint64_t id;
            ProtobufCBinaryData hash;
            Lienthong__LookupAnswer *la = NULL;
            Lienthong__VerifyAnswer *va = NULL;
            if (is_verify) {
                if (!(va = lienthong__verify_answer__unpack(NULL, sa->answer.len, sa->answer.data)))
                    abort();
                id = va->request_id;
                hash = va->request_hash;
            } else {
                if (!(la = lienthong__lookup_answer__unpack(NULL, sa->answer.len, sa->answer.data)))
                    abort();
                id = la->request_id;
                hash = la->request_hash;
            }
            const expect_t *e = NULL;
            for (size_t i = 0; i < n_ex && !e; i++)
                if (ex[i].id == id && ex[i].is_verify == is_verify)
                    e = &ex[i];
            if (!e || hash.len != LT_HASH_BYTES || memcmp(hash.data, e->hash, LT_HASH_BYTES) != 0)
                abort(); /* bound to no request the application sent */
            if (va && e->vq) {
                size_t n = e->vq->n_subjects ? e->vq->n_subjects : e->vq->n_keys;
                const char *key = va->index < n
                                      ? (e->vq->n_subjects ? e->vq->subjects[va->index]->key
                                                           : e->vq->keys[va->index])
                                      : NULL;
                if (va->key[0] ? !key || strcmp(key, va->key) != 0 : va->code == 0)
                    abort(); /* names a key that was not asked */
            }
            /* Privacy is checked on the owner's own answers only: the
             * harness-signed ones of step 2 carry whatever the input says. */
            if (la && e->owner_made)
                s_check_lookup(la);
            if (va && e->owner_made)
                s_check_verify(va, e->vq);
            if (la)
                lienthong__lookup_answer__free_unpacked(la, NULL);
            if (va)
                lienthong__verify_answer__free_unpacked(va, NULL);
        } else if (env->body_case != LIENTHONG__ENVELOPE__BODY_ERROR) {
            abort(); /* nothing else is ever sent to an application here */
        }
        lt_wire_free(&env);
        zmq_msg_close(&m);
    }
}

/* ---- step 1: requests --------------------------------------------------------------- */

/* A copy of a request envelope whose deadline is now + 60 s and whose
 * timeout_ms is 60 s, or NULL: the input's own budget (which may be over
 * the limit) goes to the owner with the exact bytes. */
static uint8_t *s_fresh_copy(Lienthong__Envelope *env, size_t *len)
{
    int is_lookup = env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST;
    int64_t *deadline =
        is_lookup ? &env->lookup_request->deadline_ms : &env->verify_request->deadline_ms;
    uint32_t *budget =
        is_lookup ? &env->lookup_request->timeout_ms : &env->verify_request->timeout_ms;
    int64_t saved = *deadline;
    uint32_t saved_budget = *budget;
    *deadline = lt_clock_now_ms() + 60000;
    *budget = 60000;
    uint8_t *buf = s_pack(env, len);
    *deadline = saved;
    *budget = saved_budget;
    return buf;
}

static lt_query_t *s_owner_new(void)
{
    lt_query_t *q = lt_query_new(&G.owner);
    if (!q)
        abort();
    return q;
}

static lt_query_t *s_caller_new(void)
{
    lt_query_t *q = lt_query_new(&G.caller);
    if (!q)
        abort();
    return q;
}

static void s_requests(const uint8_t *data, size_t size, Lienthong__Envelope *env)
{
    static frames_t frames;
    lt_query_t *owner = s_owner_new(), *caller = s_caller_new();
    lt_wire_in_t in;
    expect_t ex[1];
    size_t n_ex = 0;

    /* Round trip: application -> caller -> owner -> caller -> application. */
    size_t len = 0;
    uint8_t *fresh = s_fresh_copy(env, &len);
    Lienthong__Envelope *fenv = s_decode(fresh, len);
    if (fenv) {
        int is_verify = fenv->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
        ex[0].id = is_verify ? fenv->verify_request->request_id : fenv->lookup_request->request_id;
        ex[0].is_verify = is_verify;
        ex[0].vq = is_verify ? fenv->verify_request : NULL;
        ex[0].owner_made = 1;
        s_body_hash(fresh, len, ex[0].hash);
        n_ex = 1;
        s_in_init(&in, "app", "", fresh, len);
        lt_query_on_local(caller, G.local, &in, fenv);
        lt_wire_in_close(&in);
        s_owner_pump(owner, CALLER);
        s_link_collect(&frames);
        s_caller_feed_all(caller, &frames);
        lt_query_tick(caller, G.local);
        s_app_check(ex, n_ex);
        /* Every answer again: replays of what was already delivered. */
        s_caller_feed_all(caller, &frames);
        s_app_check(ex, n_ex);
        s_frames_free(&frames);
        /* The same bytes straight to the owner: its stored answers. */
        s_in_init(&in, "callr", CALLER, fresh, len);
        lt_query_on_request(owner, G.peer, &in, fenv);
        lt_wire_in_close(&in);
        lt_query_flush(owner);
        s_link_collect(NULL);
    }

    /* The exact input bytes, straight to the owner, as two members. */
    static const char *const users[] = {CALLER, OTHER};
    for (size_t u = 0; u < 2; u++) {
        s_in_init(&in, "callr", users[u], data, size);
        lt_query_on_request(owner, G.peer, &in, env);
        lt_wire_in_close(&in);
        lt_query_flush(owner);
        s_link_collect(&frames);
        s_caller_feed_all(caller, &frames);
        s_frames_free(&frames);
        s_app_check(ex, n_ex);
    }
    lt_query_tick(caller, G.local);
    s_app_check(ex, n_ex);
    lt_query_destroy(&owner);
    lt_query_destroy(&caller);
    s_link_collect(NULL);
    s_app_check(ex, n_ex);
    s_peer_drain();
    lt_wire_free(&fenv);
    free(fresh);
}

/* ---- step 2: answers ------------------------------------------------------------------ */

/* An envelope of body `field` (31 lookup_reply, 33 verify_reply) around
 * body bytes, as a frame. */
static int s_wrap(uint32_t field, const uint8_t *body, size_t len, zmq_msg_t *frame)
{
    uint8_t hdr[16];
    size_t h = 0;
    hdr[h++] = 0x08;
    hdr[h++] = 0x01;
    uint64_t tag = ((uint64_t)field << 3) | 2;
    for (uint64_t v = tag;; v >>= 7) {
        hdr[h++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    for (uint64_t v = len;; v >>= 7) {
        hdr[h++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
        if (v < 0x80)
            break;
    }
    if (zmq_msg_init_size(frame, h + len) != 0)
        return -1;
    memcpy(zmq_msg_data(frame), hdr, h);
    if (len)
        memcpy((uint8_t *)zmq_msg_data(frame) + h, body, len);
    return 0;
}

/* SignedAnswer bytes over `answer`, leaf `index` of n (the other leaves
 * are fixed filler), signed with the owner's key. */
static uint8_t *s_sign_answer(const uint8_t *answer, size_t len, size_t n, size_t index,
                              size_t *out_len)
{
    uint8_t leaves[4 * LT_HASH_BYTES], tree[8 * LT_HASH_BYTES], sig[LT_SIG_BYTES];
    uint8_t path[64][LT_HASH_BYTES];
    size_t path_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == index)
            lt_crypto_merkle_leaf(answer, len, leaves + i * LT_HASH_BYTES);
        else
            lt_crypto_merkle_leaf((const uint8_t *)"filler", 6, leaves + i * LT_HASH_BYTES);
    }
    if (lt_crypto_merkle_tree(leaves, n, tree) != 0 ||
        lt_keys_sign(G.owner_keys, LT_ANSWERS_DOMAIN, lt_crypto_merkle_tree_root(tree, n),
                     LT_HASH_BYTES, sig) != 0 ||
        lt_crypto_merkle_tree_path(tree, n, index, path, &path_len) != 0)
        abort();
    ProtobufCBinaryData proof[64];
    for (size_t i = 0; i < path_len; i++)
        proof[i] = (ProtobufCBinaryData){LT_HASH_BYTES, path[i]};
    Lienthong__SignedAnswer sa = LIENTHONG__SIGNED_ANSWER__INIT;
    sa.answer.data = (uint8_t *)answer;
    sa.answer.len = len;
    sa.root_signature.data = sig;
    sa.root_signature.len = LT_SIG_BYTES;
    sa.proof = proof;
    sa.n_proof = path_len;
    sa.proof_index = (uint32_t)index;
    sa.proof_count = (uint32_t)n;
    *out_len = lienthong__signed_answer__get_packed_size(&sa);
    uint8_t *buf = malloc(*out_len ? *out_len : 1);
    if (!buf)
        abort();
    lienthong__signed_answer__pack(&sa, buf);
    return buf;
}

static void s_feed_frame(lt_query_t *caller, zmq_msg_t *frame)
{
    s_caller_feed(caller, frame);
    zmq_msg_close(frame);
}

static void s_answers(const uint8_t *data, size_t size, const Lienthong__Envelope *env)
{
    lt_query_t *caller = s_caller_new();
    expect_t ex[2];
    lt_wire_in_t in;
    for (int i = 0; i < 2; i++) {
        ex[i].id = i ? VERIFY_ID : LOOKUP_ID;
        ex[i].is_verify = i;
        ex[i].vq = i ? G.fixed_env[1]->verify_request : NULL;
        ex[i].owner_made = 0;
        memcpy(ex[i].hash, G.fixed_hash[i], LT_HASH_BYTES);
        s_in_init(&in, "app", "", G.fixed[i], G.fixed_len[i]);
        lt_query_on_local(caller, G.local, &in, G.fixed_env[i]);
        lt_wire_in_close(&in);
    }
    s_link_collect(NULL);
    zmq_msg_t frame;
    /* The input as a whole envelope. */
    if (env && (env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY ||
                env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY)) {
        if (zmq_msg_init_size(&frame, size) != 0)
            abort();
        if (size)
            memcpy(zmq_msg_data(&frame), data, size);
        s_feed_frame(caller, &frame);
    }
    /* The input as a SignedAnswer. */
    if (s_wrap(31, data, size, &frame) == 0)
        s_feed_frame(caller, &frame);
    if (s_wrap(33, data, size, &frame) == 0)
        s_feed_frame(caller, &frame);
    /* The input as answer bytes, validly signed: single, and leaf 2 of 3. */
    for (int shape = 0; shape < 2; shape++) {
        size_t len;
        uint8_t *sa = s_sign_answer(data, size, shape ? 3 : 1, shape ? 2 : 0, &len);
        if (s_wrap(31, sa, len, &frame) == 0)
            s_feed_frame(caller, &frame);
        if (s_wrap(33, sa, len, &frame) == 0)
            s_feed_frame(caller, &frame);
        free(sa);
    }
    s_app_check(ex, 2);
    lt_query_tick(caller, G.local);
    lt_query_destroy(&caller);
    s_app_check(ex, 2);
    s_link_collect(NULL);
    s_peer_drain();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    Lienthong__Envelope *env = s_decode(data, size);
    if (env && (env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST ||
                env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST))
        s_requests(data, size, env);
    s_answers(data, size, env);
    lt_wire_free(&env);
    return 0;
}

/* ---- seeds ------------------------------------------------------------------------------ */

static void s_write_seeds(const char *dir)
{
    (void)mkdir(dir, 0755);
    /* Requests: the fixed ones, whose deadlines the harness refreshes. */
    fuzz_write_seed(dir, "lookup-request", G.fixed[0], G.fixed_len[0]);
    fuzz_write_seed(dir, "verify-request", G.fixed[1], G.fixed_len[1]);
    /* The lookup asking for the answer context (PROTOCOL.md 8.4): an empty
     * Envelope.context (field 2) after the body. */
    uint8_t with_ctx[4096];
    if (G.fixed_len[0] + 2 <= sizeof with_ctx) {
        memcpy(with_ctx, G.fixed[0], G.fixed_len[0]);
        with_ctx[G.fixed_len[0]] = 0x12;
        with_ctx[G.fixed_len[0] + 1] = 0x00;
        fuzz_write_seed(dir, "lookup-request-context", with_ctx, G.fixed_len[0] + 2);
    }
    Lienthong__Claim c1 = LIENTHONG__CLAIM__INIT, c2 = LIENTHONG__CLAIM__INIT,
                     c3 = LIENTHONG__CLAIM__INIT;
    Lienthong__Claim *s1[] = {&c1}, *s2[] = {&c2, &c3};
    c1.field = "full_name";
    c1.value = "nguy\xe1\xbb\x85n v\xc4\x83n an";
    c2.field = "date_of_birth";
    c2.value = " 1990-01-02 ";
    c3.field = "sex";
    c3.value = "SEX_FEMALE";
    Lienthong__Subject sj[2] = {LIENTHONG__SUBJECT__INIT, LIENTHONG__SUBJECT__INIT};
    Lienthong__Subject *sjp[] = {&sj[0], &sj[1]};
    sj[0].key = K1, sj[0].claims = s1, sj[0].n_claims = 1;
    sj[1].key = K2, sj[1].claims = s2, sj[1].n_claims = 2;
    Lienthong__VerifyRequest vq = LIENTHONG__VERIFY_REQUEST__INIT;
    vq.request_id = 9;
    vq.dataset = DS;
    vq.subjects = sjp;
    vq.n_subjects = 2;
    vq.purpose = "AUDIT";
    vq.deadline_ms = FIXED_DEADLINE;
    Lienthong__Envelope env = LIENTHONG__ENVELOPE__INIT;
    env.version = 1;
    env.body_case = LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    env.verify_request = &vq;
    size_t len;
    uint8_t *buf = s_pack(&env, &len);
    fuzz_write_seed(dir, "verify-subjects", buf, len);
    free(buf);

    /* Answers bound to the fixed outstanding requests (harness-signed). */
    char *released[] = {"full_name"};
    size_t plen;
    uint8_t *payload = s_person("", "Nguy\xe1\xbb\x85n V\xc4\x83n An", "", 0, "", &plen);
    Lienthong__LookupAnswer la = LIENTHONG__LOOKUP_ANSWER__INIT;
    la.request_id = LOOKUP_ID;
    la.request_hash.data = G.fixed_hash[0];
    la.request_hash.len = LT_HASH_BYTES;
    la.payload.data = payload;
    la.payload.len = plen;
    la.released = released;
    la.n_released = 1;
    la.record_seq = 1;
    la.owner = OWNER;
    len = lienthong__lookup_answer__get_packed_size(&la);
    buf = malloc(len);
    lienthong__lookup_answer__pack(&la, buf);
    fuzz_write_seed(dir, "lookup-answer", buf, len);
    /* The same, signed, as a whole envelope and as a SignedAnswer. */
    size_t sa_len;
    uint8_t *sa = s_sign_answer(buf, len, 1, 0, &sa_len);
    zmq_msg_t frame;
    if (s_wrap(31, sa, sa_len, &frame) == 0) {
        fuzz_write_seed(dir, "lookup-reply", zmq_msg_data(&frame), zmq_msg_size(&frame));
        zmq_msg_close(&frame);
    }
    fuzz_write_seed(dir, "signed-answer", sa, sa_len);
    free(sa);
    free(buf);
    free(payload);
    Lienthong__ClaimResult results[] = {LIENTHONG__CLAIM_RESULT__CLAIM_MATCH,
                                        LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH,
                                        LIENTHONG__CLAIM_RESULT__CLAIM_NOT_ALLOWED};
    Lienthong__VerifyAnswer va = LIENTHONG__VERIFY_ANSWER__INIT;
    va.request_id = VERIFY_ID;
    va.request_hash.data = G.fixed_hash[1];
    va.request_hash.len = LT_HASH_BYTES;
    va.key = K2;
    va.index = 1;
    va.results = results;
    va.n_results = 3;
    va.last = 1;
    va.owner = OWNER;
    len = lienthong__verify_answer__get_packed_size(&va);
    buf = malloc(len);
    lienthong__verify_answer__pack(&va, buf);
    fuzz_write_seed(dir, "verify-answer", buf, len);
    free(buf);
}

/* test_portal: the public-service portal pre-fills a form from its
 * replicas (PROTOCOL.md 8.8, issue 13 item 2), with real gateways on
 * 127.0.0.1.
 *
 * Three owners publish their registers: the population register (VN/GOV/BCA),
 * the health-insurance cards (VN/GOV/BHXH) and the immunisation register
 * (VN/GOV/BYT); the portal (VN/GOV/DVCQG) replicates one view of each. After
 * convergence a pre-fill for every citizen returns, per view, exactly the
 * record the portal's replica holds, which is byte for byte the owner's view
 * record, and field for field what the test published projected to the view:
 * fields outside the view are never in the answer. A citizen absent from a
 * register (never published, or deleted) gets a not-found part. When the
 * population register's store is lost and rebuilt (a new history), the
 * portal's replica forks: the pre-fill still answers from it, marked
 * "forked", and after `lienthong resync` from the new history. Then every
 * owner is stopped and the pre-fill answers the same, its replicas now shown
 * "behind" with the owner last heard: no owner is asked. The CLI prints the
 * form (exit 0 found, 1 nothing, 2 error) and every read is in the portal's
 * audit log under the citizen's id. A stream the portal does not replicate
 * is refused with ERR_NOT_FOUND, a peer's pre-fill with ERR_UNSUPPORTED. The
 * directory grants the portal its replicas for PREFILL_FORM, and the
 * immunisation view also for IMMUNISATION: a pre-fill naming a stream whose
 * policy does not list its purpose, or for a purpose no replica is granted
 * for, is refused with ERR_PURPOSE (counted, logged, audited); one naming
 * none reads the replicas granted for its purpose. The
 * HTTP API's GET /v1/prefill/{id} is driven with Python's standard library
 * (prefill_client.py): only the streams and fields granted to the
 * application, 403 outside the grants, 404 for a key nobody holds.
 *
 * Usage: test_portal /path/to/lienthong (or LIENTHONG_BIN=...). */
#define _GNU_SOURCE
#include "lt_client.h"
#include "lt_feedtest.h"
#include "lt_itest.h"
#include "lt_schema.h"
#include "records/health.pb-c.h"
#include "records/insurance.pb-c.h"
#include "records/population.pb-c.h"

#include <CUnit/Basic.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FED       "VN"
#define ID_BCA    "VN/GOV/BCA"
#define ID_BHXH   "VN/GOV/BHXH"
#define ID_BYT    "VN/GOV/BYT"
#define ID_PORTAL "VN/GOV/DVCQG"
#define DS_POP    ID_BCA "/population"
#define DS_INS    ID_BHXH "/insurance_cards"
#define DS_VAC    ID_BYT "/vaccinations"
#define V_POP     DS_POP ".dvcqg"
#define V_INS     DS_INS ".dvcqg"
#define V_VAC     DS_VAC ".dvcqg"

#define N_CITIZENS  24
#define READY_MS    10000
#define PUBLISH_MS  10000
#define CONVERGE_MS 30000
#define REPLY_MS    5000
#define STOP_MS     5000
#define BEHIND_MS   20000 /* heartbeat timeout (5 x 500 ms) and then some */

static const char *s_source =
    "datasets = (\n"
    "  { id = \"" DS_POP "\"; owner = \"" ID_BCA "\"; type = \"lienthong.records.Population\";"
    " key = \"personal_id\"; },\n"
    "  { id = \"" DS_INS "\"; owner = \"" ID_BHXH "\"; type = \"lienthong.records.InsuranceCard\";"
    " key = \"personal_id\"; },\n"
    "  { id = \"" DS_VAC "\"; owner = \"" ID_BYT "\"; type = \"lienthong.records.Vaccination\";"
    " key = \"personal_id\"; } );\n"
    "views = (\n"
    "  { id = \"" V_POP "\"; dataset = \"" DS_POP "\"; fields = [\"personal_id\", \"full_name\","
    " \"date_of_birth\", \"sex\", \"permanent_address\", \"current_address\"]; },\n"
    "  { id = \"" V_INS "\"; dataset = \"" DS_INS "\"; fields = [\"personal_id\","
    " \"card_number\", \"valid_to\", \"hospital_name\", \"status\"]; },\n"
    "  { id = \"" V_VAC "\"; dataset = \"" DS_VAC "\"; fields = [\"personal_id\", \"vaccine\","
    " \"doses\", \"last_dose_date\"]; } );\n"
    "policies = (\n"
    "  { consumer = \"" ID_PORTAL "\"; target = \"" V_POP "\"; allow = [\"subscribe\"];"
    " purposes = [\"PREFILL_FORM\"]; },\n"
    "  { consumer = \"" ID_PORTAL "\"; target = \"" V_INS "\"; allow = [\"subscribe\"];"
    " purposes = [\"PREFILL_FORM\"]; },\n"
    "  { consumer = \"" ID_PORTAL "\"; target = \"" V_VAC "\"; allow = [\"subscribe\"];"
    " purposes = [\"PREFILL_FORM\", \"IMMUNISATION\"]; } );\n";

/* The fields each view keeps, as in s_source. */
static const char *const s_pop_fields[] = {"personal_id", "full_name",         "date_of_birth",
                                           "sex",         "permanent_address", "current_address",
                                           NULL};
static const char *const s_ins_fields[] = {"personal_id",   "card_number", "valid_to",
                                           "hospital_name", "status",      NULL};
static const char *const s_vac_fields[] = {"personal_id", "vaccine", "doses", "last_dose_date",
                                           NULL};

/* One register as the test published it: what its owner's database holds. */
typedef struct {
    const char *dataset, *view, *record_type;
    const char *const *view_fields;
    lt_it_gw_t *owner;
    uint8_t *bytes[N_CITIZENS]; /* last payload published, NULL: absent or deleted */
    size_t len[N_CITIZENS];
    uint64_t cursor; /* source cursor of the last change published */
} reg_t;

typedef struct {
    lt_it_fed_t f;
    reg_t regs[3];
    lt_it_gw_t *portal;
} fed_t;

static const char *s_key(size_t i)
{
    static char buf[4][16];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "0792%08zu", i + 1);
    return buf[k];
}

/* ---- what the owners publish -------------------------------------------------------- */

static uint8_t *s_pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len ? *len : 1);
    if (b)
        protobuf_c_message_pack(m, b);
    return b;
}

/* Every field set, so that a field leaking past a view would show. */
static uint8_t *s_population(size_t i, const char *address, size_t *len)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    char name[64], dob[16], card[16];
    snprintf(name, sizeof name, "Nguyễn Văn %zu", i);
    snprintf(dob, sizeof dob, "19%02zu-0%zu-1%zu", 50 + i, 1 + i % 9, i % 10);
    snprintf(card, sizeof card, "0792%08zu", 900 + i);
    p.personal_id = (char *)s_key(i);
    p.full_name = name;
    p.date_of_birth = dob;
    p.sex = i % 2 ? LIENTHONG__RECORDS__SEX__SEX_FEMALE : LIENTHONG__RECORDS__SEX__SEX_MALE;
    p.place_of_birth = "Thành phố Hồ Chí Minh";
    p.home_town = "Huế";
    p.ethnicity = "Kinh";
    p.nationality = "VN";
    p.permanent_province = "79";
    p.permanent_address = "12 Lê Lợi, Quận 1";
    p.current_province = "79";
    p.current_address = (char *)address;
    p.id_card_number = card;
    p.id_card_issued = "2021-05-01";
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    return s_pack(&p.base, len);
}

static uint8_t *s_insurance(size_t i, size_t *len)
{
    Lienthong__Records__InsuranceCard c = LIENTHONG__RECORDS__INSURANCE_CARD__INIT;
    char number[24];
    snprintf(number, sizeof number, "DN479%010zu", 7000 + i);
    c.personal_id = (char *)s_key(i);
    c.card_number = number;
    c.valid_from = "2025-01-01";
    c.valid_to = "2025-12-31";
    c.hospital_code = "79024";
    c.hospital_name = "Bệnh viện Chợ Rẫy";
    c.benefit_level = "4";
    c.status = LIENTHONG__RECORDS__CARD_STATUS__CARD_VALID;
    return s_pack(&c.base, len);
}

static uint8_t *s_vaccination(size_t i, size_t *len)
{
    Lienthong__Records__Vaccination v = LIENTHONG__RECORDS__VACCINATION__INIT;
    v.personal_id = (char *)s_key(i);
    v.vaccine = i % 3 ? "COVID-19" : "MMR";
    v.doses = (uint32_t)(1 + i % 3);
    v.first_dose_date = "2021-08-01";
    v.last_dose_date = "2022-02-01";
    v.facility = "Trạm y tế phường Bến Nghé";
    v.facility_province = "79";
    return s_pack(&v.base, len);
}

/* Adds the change of citizen i to p (bytes NULL: a deletion) and keeps it
 * in the register's model. */
static int s_change(reg_t *r, lt_ft_pub_t *p, size_t i, uint8_t *bytes, size_t len)
{
    if (p->n >= LT_FT_PUB_MAX)
        return -1;
    size_t k = p->n++;
    snprintf(p->keys[k], sizeof p->keys[k], "%s", s_key(i));
    snprintf(p->cursors[k], sizeof p->cursors[k], "%" PRIu64, ++r->cursor);
    p->deleted[k] = !bytes;
    p->payloads[k] = NULL;
    p->lens[k] = 0;
    if (bytes) {
        if (!(p->payloads[k] = malloc(len)))
            return -1;
        memcpy(p->payloads[k], bytes, len);
        p->lens[k] = len;
    }
    free(r->bytes[i]);
    r->bytes[i] = bytes;
    r->len[i] = len;
    return 0;
}

/* First round: everyone in the population register, three in four with an
 * insurance card, every second with a vaccination. */
static int s_publish_first(fed_t *x)
{
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    int rc = p ? 0 : -1;
    for (size_t r = 0; rc == 0 && r < 3; r++) {
        reg_t *g = &x->regs[r];
        lt_ft_pub_init(p, g->dataset);
        for (size_t i = 0; rc == 0 && i < N_CITIZENS; i++) {
            size_t len = 0;
            uint8_t *b = r == 0   ? s_population(i, "45 Nguyễn Huệ, Quận 1", &len)
                         : r == 1 ? (i % 4 != 3 ? s_insurance(i, &len) : NULL)
                                  : (i % 2 == 0 ? s_vaccination(i, &len) : NULL);
            if (b)
                rc = s_change(g, p, i, b, len);
        }
        if (rc == 0)
            rc = lt_ft_pub_send(p, g->owner, NULL, NULL, PUBLISH_MS);
        lt_ft_pub_clear(p);
    }
    free(p);
    return rc;
}

/* Second round: citizen 0 moves house, citizen 4's card is withdrawn
 * (deleted), citizen 1 gets vaccinated. */
static int s_publish_second(fed_t *x)
{
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    size_t len = 0;
    int rc = p ? 0 : -1;
    uint8_t *b;
    if (rc == 0) {
        lt_ft_pub_init(p, DS_POP);
        b = s_population(0, "7 Hai Bà Trưng, Quận 3", &len);
        rc = b && s_change(&x->regs[0], p, 0, b, len) == 0
                 ? lt_ft_pub_send(p, x->regs[0].owner, NULL, NULL, PUBLISH_MS)
                 : -1;
        lt_ft_pub_clear(p);
    }
    if (rc == 0) {
        lt_ft_pub_init(p, DS_INS);
        rc = s_change(&x->regs[1], p, 4, NULL, 0) == 0
                 ? lt_ft_pub_send(p, x->regs[1].owner, NULL, NULL, PUBLISH_MS)
                 : -1;
        lt_ft_pub_clear(p);
    }
    if (rc == 0) {
        lt_ft_pub_init(p, DS_VAC);
        b = s_vaccination(1, &len);
        rc = b && s_change(&x->regs[2], p, 1, b, len) == 0
                 ? lt_ft_pub_send(p, x->regs[2].owner, NULL, NULL, PUBLISH_MS)
                 : -1;
        lt_ft_pub_clear(p);
    }
    free(p);
    return rc;
}

/* ---- the federation -------------------------------------------------------------------- */

static int s_fed(fed_t *x)
{
    static const char *const peers[] = {ID_BCA, ID_BHXH, ID_BYT, NULL};
    static const char *const ids[] = {ID_BCA, ID_BHXH, ID_BYT};
    static const char *const ds[] = {DS_POP, DS_INS, DS_VAC}, *const views[] = {V_POP, V_INS,
                                                                                V_VAC};
    static const char *const types[] = {"lienthong.records.Population",
                                        "lienthong.records.InsuranceCard",
                                        "lienthong.records.Vaccination"};
    static const char *const *const fields[] = {s_pop_fields, s_ins_fields, s_vac_fields};
    lt_it_member_t *m[3], *portal;
    memset(x, 0, sizeof *x);
    if (lt_it_fed_init(&x->f, FED) != 0)
        return -1;
    x->f.extra_source = s_source;
    for (size_t i = 0; i < 3; i++)
        if (!(m[i] = lt_it_member_add(&x->f, ids[i], 1)))
            return -1;
    if (!(portal = lt_it_member_add(&x->f, ID_PORTAL, 1)))
        return -1;
    for (size_t i = 0; i < 3; i++) {
        reg_t *r = &x->regs[i];
        r->dataset = ds[i];
        r->view = views[i];
        r->record_type = types[i];
        r->view_fields = fields[i];
        if (!(r->owner = lt_it_gw_new(&x->f, m[i], 1, NULL, NULL)))
            return -1;
    }
    x->portal = lt_it_gw_new(&x->f, portal, 1, peers,
                             "subscribe = ( { stream = \"" V_POP "\"; }, { stream = \"" V_INS
                             "\"; }, { stream = \"" V_VAC "\"; } );");
    return x->portal ? 0 : -1;
}

static void s_fed_free(fed_t *x)
{
    for (size_t r = 0; r < 3; r++)
        for (size_t i = 0; i < N_CITIZENS; i++)
            free(x->regs[r].bytes[i]);
    lt_it_fed_cleanup(&x->f);
}

/* ---- asking the portal ------------------------------------------------------------------ */

/* A pre-fill of key on g's local socket for purpose (streams
 * NULL-terminated or NULL: every replica). The reply or Error envelope, or
 * NULL. */
static Lienthong__Envelope *s_prefill_for(lt_it_gw_t *g, const char *key,
                                          const char *const *streams, const char *purpose)
{
    char err[512];
    static uint64_t id = 7000;
    Lienthong__PrefillRequest q = LIENTHONG__PREFILL_REQUEST__INIT;
    Lienthong__OnBehalf who = LIENTHONG__ON_BEHALF__INIT;
    Lienthong__Envelope *env = NULL;
    size_t n = 0;
    while (streams && streams[n])
        n++;
    q.request_id = ++id;
    q.key = (char *)key;
    q.streams = (char **)streams;
    q.n_streams = n;
    q.purpose = (char *)purpose;
    q.case_ref = "HS-2026-0001";
    who.application = "dvc-portal";
    who.officer = "citizen-session-42";
    lt_client_t *c = lt_client_new(g->sock_path, NULL, err, sizeof err);
    if (!c || lt_client_send_for(c, LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST, &q, &who, REPLY_MS,
                                 err, sizeof err) != 0) {
        fprintf(stderr, "prefill: %s\n", err);
        lt_client_destroy(&c);
        return NULL;
    }
    if (lt_client_recv(c, REPLY_MS, &env, err, sizeof err) != 0)
        fprintf(stderr, "prefill: %s\n", err);
    lt_client_destroy(&c);
    return env;
}

/* The same for PREFILL_FORM, which the directory grants on every replica. */
static Lienthong__Envelope *s_prefill(lt_it_gw_t *g, const char *key, const char *const *streams)
{
    return s_prefill_for(g, key, streams, "PREFILL_FORM");
}

static const Lienthong__PrefillPart *s_part(const Lienthong__PrefillReply *r, const char *stream)
{
    for (size_t i = 0; i < r->n_parts; i++)
        if (strcmp(r->parts[i]->stream, stream) == 0)
            return r->parts[i];
    return NULL;
}

static int s_in(const char *const *list, const char *name)
{
    for (size_t i = 0; list[i]; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* The part's record, field for field, is what was published projected to
 * the view: the view's fields equal, every other field unset. */
static int s_projected(const reg_t *r, size_t i, const Lienthong__PrefillPart *p, char *err,
                       size_t errlen)
{
    const ProtobufCMessageDescriptor *t = lt_schema_find(r->record_type);
    ProtobufCMessage *got =
        t ? protobuf_c_message_unpack(t, NULL, p->payload.len, p->payload.data) : NULL;
    ProtobufCMessage *want = t ? protobuf_c_message_unpack(t, NULL, r->len[i], r->bytes[i]) : NULL;
    ProtobufCMessage *none = t ? protobuf_c_message_unpack(t, NULL, 0, NULL) : NULL;
    int rc = got && want && none ? 0 : -1;
    if (rc)
        snprintf(err, errlen, "%s: the record does not decode as %s", r->view, r->record_type);
    for (unsigned f = 0; rc == 0 && f < t->n_fields; f++) {
        const ProtobufCFieldDescriptor *fd = &t->fields[f];
        char b1[256], b2[256];
        int kept = s_in(r->view_fields, fd->name);
        const char *g = lt_schema_text(got, fd, b1, sizeof b1);
        const char *w = lt_schema_text(kept ? want : none, fd, b2, sizeof b2);
        if (!g || !w || strcmp(g, w) != 0) {
            snprintf(err, errlen, "%s key %s field %s: got \"%s\", expected \"%s\"%s", r->view,
                     s_key(i), fd->name, g ? g : "?", w ? w : "?",
                     kept ? "" : " (not in the view)");
            rc = -1;
        }
    }
    if (got)
        protobuf_c_message_free_unpacked(got, NULL);
    if (want)
        protobuf_c_message_free_unpacked(want, NULL);
    if (none)
        protobuf_c_message_free_unpacked(none, NULL);
    return rc;
}

/* The part is exactly the record stored for key in g's copy of the view
 * (its state row and log record): payload, seq and change time. */
static int s_stored(const lt_it_gw_t *g, const char *view, const char *key,
                    const Lienthong__PrefillPart *p, char *err, size_t errlen)
{
    uint64_t seq = 0;
    int deleted = 0;
    uint8_t *bytes = NULL;
    size_t len = 0;
    int rc = -1;
    Lienthong__Record *rec = NULL;
    if (lt_ft_state(g, view, key, &seq, &deleted) != 1 || deleted ||
        lt_ft_record(g, view, seq, &bytes, &len) != 1 ||
        !(rec = lienthong__record__unpack(NULL, len, bytes)))
        snprintf(err, errlen, "%s: %s has no live record for %s", g->member->id, view, key);
    else if (rec->seq != p->seq || rec->changed_at_ms != p->changed_at_ms ||
             rec->payload.len != p->payload.len ||
             memcmp(rec->payload.data, p->payload.data, p->payload.len) != 0)
        snprintf(err, errlen,
                 "%s key %s: the part (seq %" PRIu64 ") differs from %s's record "
                 "(seq %" PRIu64 ")",
                 view, key, p->seq, g->member->id, rec->seq);
    else
        rc = 0;
    if (rec)
        lienthong__record__free_unpacked(rec, NULL);
    free(bytes);
    return rc;
}

/* Every citizen's pre-fill against the registers, the portal's replicas and
 * the owners' views (owners_up: the owners' stores are compared too, by
 * file, which they allow while running or stopped). */
static int s_check_all(fed_t *x, char *err, size_t errlen)
{
    for (size_t i = 0; i < N_CITIZENS; i++) {
        const char *key = s_key(i);
        Lienthong__Envelope *env = s_prefill(x->portal, key, NULL);
        int rc = 0;
        if (!env || env->body_case != LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY) {
            snprintf(err, errlen, "key %s: %s", key,
                     env ? (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? env->error->message
                                                                              : "unexpected reply")
                         : "no reply");
            rc = -1;
        } else if (env->prefill_reply->n_parts != 3 || strcmp(env->prefill_reply->key, key) != 0) {
            snprintf(err, errlen, "key %s: %zu parts for key %s", key, env->prefill_reply->n_parts,
                     env->prefill_reply->key);
            rc = -1;
        }
        for (size_t r = 0; rc == 0 && r < 3; r++) {
            const reg_t *g = &x->regs[r];
            const Lienthong__PrefillPart *p = s_part(env->prefill_reply, g->view);
            if (!p || strcmp(p->dataset, g->dataset) != 0 ||
                strcmp(p->owner, g->owner->member->id) != 0 ||
                strcmp(p->record_type, g->record_type) != 0) {
                snprintf(err, errlen, "key %s: no part for %s, or not described as its dataset",
                         key, g->view);
                rc = -1;
            } else if (!g->bytes[i] != !p->found) {
                snprintf(err, errlen, "key %s: %s %s, but the owner %s it", key, g->view,
                         p->found ? "found" : "not found", g->bytes[i] ? "holds" : "does not hold");
                rc = -1;
            } else if (p->found && (s_projected(g, i, p, err, errlen) != 0 ||
                                    s_stored(x->portal, g->view, key, p, err, errlen) != 0 ||
                                    s_stored(g->owner, g->view, key, p, err, errlen) != 0)) {
                rc = -1;
            } else if (!p->found && p->payload.len) {
                snprintf(err, errlen, "key %s: a not-found part of %s carries a payload", key,
                         g->view);
                rc = -1;
            } else if (p->replica_seq != lt_ft_last_seq(x->portal, g->view) ||
                       p->replica_changed_at_ms <= 0) {
                snprintf(err, errlen,
                         "%s: replica_seq %" PRIu64 " (changed at %" PRId64
                         "), the portal's store is at %" PRIu64,
                         g->view, p->replica_seq, p->replica_changed_at_ms,
                         lt_ft_last_seq(x->portal, g->view));
                rc = -1;
            }
        }
        lt_wire_free(&env);
        if (rc)
            return -1;
    }
    return 0;
}

/* The state of every part of key's pre-fill is `state`. */
static int s_all_state(lt_it_gw_t *portal, const char *key, const char *state)
{
    Lienthong__Envelope *env = s_prefill(portal, key, NULL);
    int ok = env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY &&
             env->prefill_reply->n_parts == 3;
    for (size_t i = 0; ok && i < env->prefill_reply->n_parts; i++)
        ok = strcmp(env->prefill_reply->parts[i]->state, state) == 0;
    lt_wire_free(&env);
    return ok;
}

static int s_wait_state(lt_it_gw_t *portal, const char *key, const char *state, int ms)
{
    int64_t until = lt_it_ms() + ms;
    while (!s_all_state(portal, key, state))
        if (lt_it_ms() > until)
            return -1;
        else
            usleep(200 * 1000);
    return 0;
}

/* The V_POP part of key's pre-fill: its state and whether its payload is
 * bytes (len). 1 when both hold. */
static int s_pop_is(lt_it_gw_t *portal, const char *key, const char *state, const uint8_t *bytes,
                    size_t len)
{
    const char *one[] = {V_POP, NULL};
    Lienthong__Envelope *env = s_prefill(portal, key, one);
    const Lienthong__PrefillPart *p =
        env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY
            ? s_part(env->prefill_reply, V_POP)
            : NULL;
    int ok =
        p && strcmp(p->state, state) == 0 && (bytes ? p->found && p->payload.len > 0 : !p->found);
    /* The view keeps the fields the population record's projection has:
     * compare the view's name field, which every version sets. */
    if (ok && bytes) {
        Lienthong__Records__Population *got =
            lienthong__records__population__unpack(NULL, p->payload.len, p->payload.data);
        Lienthong__Records__Population *want =
            lienthong__records__population__unpack(NULL, len, bytes);
        ok = got && want && strcmp(got->current_address, want->current_address) == 0;
        if (got)
            lienthong__records__population__free_unpacked(got, NULL);
        if (want)
            lienthong__records__population__free_unpacked(want, NULL);
    }
    lt_wire_free(&env);
    return ok;
}

static int s_wait_pop(lt_it_gw_t *portal, const char *key, const char *state, const uint8_t *bytes,
                      size_t len, int ms)
{
    int64_t until = lt_it_ms() + ms;
    while (!s_pop_is(portal, key, state, bytes, len))
        if (lt_it_ms() > until)
            return -1;
        else
            usleep(200 * 1000);
    return 0;
}

/* The population register's store is lost and rebuilt (a new history,
 * PROTOCOL.md 6.9) with ten citizens at new addresses: the portal's
 * replica forks and keeps its content, which the pre-fill still shows,
 * marked "forked"; after `lienthong resync` it shows the new history. */
static void s_check_fork(fed_t *x)
{
    reg_t *r = &x->regs[0];
    size_t old_len = r->len[0], len15 = r->len[15], len = 0;
    uint8_t *old = malloc(old_len), *old15 = malloc(len15);
    lt_ft_pub_t *p = calloc(1, sizeof *p);
    char cmd[PATH_MAX + 32], out[PATH_MAX];
    const char *resync[] = {"resync", "--config", x->portal->conf_path, V_POP, NULL};
    CU_ASSERT_FATAL(old && old15 && p);
    memcpy(old, r->bytes[0], old_len);
    memcpy(old15, r->bytes[15], len15);
    CU_ASSERT_EQUAL(lt_it_gw_stop(r->owner, STOP_MS), 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", r->owner->data_dir);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT_FATAL(lt_it_gw_run(r->owner, READY_MS) == 0);
    lt_ft_pub_init(p, DS_POP);
    for (size_t i = 0; i < N_CITIZENS; i++) {
        uint8_t *b = i < 10 ? s_population(i, "1 Tràng Tiền, Hoàn Kiếm", &len) : NULL;
        if (b) {
            CU_ASSERT(s_change(r, p, i, b, len) == 0);
        } else {
            free(r->bytes[i]); /* not in the rebuilt register */
            r->bytes[i] = NULL;
        }
    }
    CU_ASSERT(lt_ft_pub_send(p, r->owner, NULL, NULL, PUBLISH_MS) == 0);
    lt_ft_pub_clear(p);
    free(p);
    CU_ASSERT(s_wait_pop(x->portal, s_key(0), "forked", old, old_len, CONVERGE_MS) == 0);
    /* A citizen the rebuilt register lacks: still the old record. */
    CU_ASSERT(s_pop_is(x->portal, s_key(15), "forked", old15, len15));
    snprintf(out, sizeof out, "%.3000s/resync.out", x->f.dir);
    CU_ASSERT_EQUAL(lt_it_run_cli(x->f.dir, out, resync, 10000), 0);
    CU_ASSERT(s_wait_pop(x->portal, s_key(0), "ok", r->bytes[0], r->len[0], CONVERGE_MS) == 0);
    CU_ASSERT(s_pop_is(x->portal, s_key(15), "ok", NULL, 0));
    free(old);
    free(old15);
}

/* ---- the CLI and the audit log ------------------------------------------------------------- */

static int s_cli(fed_t *x, const char *out, const char *const *args)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.3000s/%s", x->f.dir, out);
    return lt_it_run_cli(x->f.dir, path, args, 20000);
}

static int s_out_has(fed_t *x, const char *out, const char *s)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.3000s/%s", x->f.dir, out);
    int ok = lt_it_file_contains(path, s);
    if (!ok) {
        fprintf(stderr, "%s does not contain \"%s\":\n", out, s);
        lt_it_file_dump(path);
    }
    return ok;
}

/* `lienthong prefill` prints the form; --json is valid JSON with the
 * parts; exit 1 for a key nobody holds, 2 for a stream not replicated. */
static void s_check_cli(fed_t *x)
{
    const char *conf = x->portal->conf_path;
    char k0[16], k1[16], k4[16]; /* s_key's buffers are reused by the fifth call */
    snprintf(k0, sizeof k0, "%s", s_key(0));
    snprintf(k1, sizeof k1, "%s", s_key(1));
    snprintf(k4, sizeof k4, "%s", s_key(4));
    const char *text[] = {"prefill", "--config",  conf,           "--key",
                          k0,        "--purpose", "PREFILL_FORM", NULL};
    const char *json[] = {"prefill",   "--config",     conf,     "--key", k4,
                          "--purpose", "PREFILL_FORM", "--json", NULL};
    const char *nobody[] = {"prefill",      "--config",  conf,           "--key",
                            "079299999999", "--purpose", "PREFILL_FORM", NULL};
    const char *stray[] = {"prefill",
                           "--config",
                           conf,
                           "--key",
                           k0,
                           "--purpose",
                           "PREFILL_FORM",
                           "--stream",
                           "VN/GOV/BCA/population",
                           NULL};
    const char *one[] = {"prefill",   "--config",     conf,       "--key", k1,
                         "--purpose", "IMMUNISATION", "--stream", V_VAC,   NULL};
    /* A purpose the directory grants on no replica; one not granted on a
     * stream named. */
    const char *unlisted[] = {"prefill", "--config",  conf,        "--key",
                              k1,        "--purpose", "MARKETING", NULL};
    const char *narrow[] = {"prefill",   "--config",     conf,       "--key", k1,
                            "--purpose", "IMMUNISATION", "--stream", V_POP,   NULL};
    CU_ASSERT_EQUAL(s_cli(x, "cli-text.out", text), 0);
    CU_ASSERT(s_out_has(x, "cli-text.out", "Nguyễn Văn 0"));
    CU_ASSERT(s_out_has(x, "cli-text.out", "7 Hai Bà Trưng, Quận 3"));
    CU_ASSERT(s_out_has(x, "cli-text.out", "Bệnh viện Chợ Rẫy"));
    CU_ASSERT(s_out_has(x, "cli-text.out", "owner " ID_BHXH));
    CU_ASSERT(s_out_has(x, "cli-text.out", "found in 3 of 3 stream(s)"));
    /* Outside the views: never printed. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%.3000s/cli-text.out", x->f.dir);
    CU_ASSERT(!lt_it_file_contains(path, "Huế"));
    CU_ASSERT(!lt_it_file_contains(path, "Trạm y tế"));
    CU_ASSERT(!lt_it_file_contains(path, "id_card_number"));

    CU_ASSERT_EQUAL(s_cli(x, "cli-json.out", json), 0);
    snprintf(path, sizeof path, "%.3000s/cli-json.out", x->f.dir);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    CU_ASSERT_PTR_NOT_NULL(j);
    json_t *parts = json_object_get(j, "parts");
    CU_ASSERT_EQUAL(json_array_size(parts), 3);
    for (size_t i = 0; i < json_array_size(parts); i++) {
        json_t *p = json_array_get(parts, i);
        const char *stream = json_string_value(json_object_get(p, "stream"));
        int found = json_is_true(json_object_get(p, "found"));
        /* Citizen 4's insurance card was withdrawn (deleted). */
        CU_ASSERT_EQUAL(found, !(stream && strcmp(stream, V_INS) == 0));
        const char *state =
            json_string_value(json_object_get(json_object_get(p, "replica"), "state"));
        CU_ASSERT(state && strcmp(state, "ok") == 0);
    }
    json_decref(j);

    CU_ASSERT_EQUAL(s_cli(x, "cli-nobody.out", nobody), 1);
    CU_ASSERT(s_out_has(x, "cli-nobody.out", "found in 0 of 3 stream(s)"));
    CU_ASSERT_EQUAL(s_cli(x, "cli-stray.out", stray), 2);
    CU_ASSERT(s_out_has(x, "cli-stray.out", "ERR_NOT_FOUND"));
    CU_ASSERT(s_out_has(x, "cli-stray.out", "VN/GOV/BCA/population: not a stream"));
    CU_ASSERT_EQUAL(s_cli(x, "cli-one.out", one), 0);
    CU_ASSERT(s_out_has(x, "cli-one.out", "found in 1 of 1 stream(s)"));
    CU_ASSERT_EQUAL(s_cli(x, "cli-unlisted.out", unlisted), 2);
    CU_ASSERT(s_out_has(x, "cli-unlisted.out", "ERR_PURPOSE"));
    CU_ASSERT(s_out_has(x, "cli-unlisted.out", "purpose \"MARKETING\" is not among those"));
    CU_ASSERT_EQUAL(s_cli(x, "cli-narrow.out", narrow), 2);
    CU_ASSERT(s_out_has(x, "cli-narrow.out", V_POP ": purpose \"IMMUNISATION\""));
}

/* Every read is in the portal's own audit log under the citizen. */
static void s_check_audit(fed_t *x)
{
    const char *args[] = {"audit", "--config", x->portal->conf_path, "--subject", s_key(5), NULL};
    CU_ASSERT_EQUAL(s_cli(x, "audit.out", args), 0);
    CU_ASSERT(s_out_has(x, "audit.out", "prefill-read"));
    CU_ASSERT(s_out_has(x, "audit.out", V_POP));
    CU_ASSERT(s_out_has(x, "audit.out", V_INS));
    CU_ASSERT(s_out_has(x, "audit.out", V_VAC));
    CU_ASSERT(s_out_has(x, "audit.out", "PREFILL_FORM"));
    CU_ASSERT(s_out_has(x, "audit.out", "citizen-session-42"));
}

/* ---- the HTTP API (GET /v1/prefill/{id}) -------------------------------------------------- */

typedef struct {
    lt_it_proc_t proc;
    char url[64], token[65];
} api_t;

/* `lienthong api` beside the portal: the application dvc-forms may read the
 * population and immunisation views (not the insurance cards), and of their
 * fields not current_address; personal_id is granted for the immunisation
 * view only. Ready when /healthz answers. */
static int s_api_start(fed_t *x, api_t *a)
{
    char hash[65], conf[PATH_MAX], log[PATH_MAX], cmd[PATH_MAX + 128];
    int port = lt_it_free_port();
    snprintf(a->url, sizeof a->url, "http://127.0.0.1:%d", port);
    snprintf(conf, sizeof conf, "%.3000s/api.conf", x->f.dir);
    snprintf(log, sizeof log, "%.3000s/api.log", x->f.dir);
    if (lt_it_api_token(x->f.dir, "dvc-forms", a->token, hash) != 0 ||
        lt_it_write_fmt(
            conf,
            "gateway_config = \"%s\";\nport = %d;\n"
            "apps = ( { name = \"dvc-forms\"; token_hash = \"%s\"; rate = 500;\n"
            "  grants = (\n"
            "    { dataset = \"" V_POP "\"; fields = [\"full_name\", "
            "\"date_of_birth\", \"sex\"]; purposes = [\"PREFILL_FORM\"]; },\n"
            "    { dataset = \"" V_VAC "\"; fields = [\"personal_id\", \"vaccine\", "
            "\"doses\", \"last_dose_date\"]; purposes = [\"PREFILL_FORM\"]; } ); } );\n",
            x->portal->conf_path, port, hash) != 0)
        return -1;
    const char *args[] = {"api", "--config", conf, NULL};
    snprintf(a->proc.log_path, sizeof a->proc.log_path, "%s", log);
    for (size_t i = 0; args[i]; i++)
        a->proc.args[i] = args[i];
    if (lt_it_proc_start(&a->proc) != 0)
        return -1;
    snprintf(cmd, sizeof cmd, "curl -sf -o /dev/null %s/healthz", a->url);
    for (int64_t end = lt_it_ms() + READY_MS; lt_it_ms() < end; usleep(100000))
        if (system(cmd) == 0)
            return 0;
    lt_it_file_dump(log);
    return -1;
}

/* The API's start logged no grant problem: its grants are fields the
 * portal's replicas carry (its policies list none, being for subscribe
 * only: a pre-fill shows the view's fields) and purposes they grant. */
static int s_api_grants_backed(fed_t *x)
{
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%.3000s/api.log", x->f.dir);
    int ok = !lt_it_file_contains(log, "grants: ");
    if (!ok)
        lt_it_file_dump(log);
    return ok;
}

/* prefill_client.py (Python's standard library) against the API, every
 * replica in `state`. */
static int s_api_client(const api_t *a, const char *state)
{
    char cmd[PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd,
             "LT_API_URL=%s LT_TOKEN=%s LT_KEY=%s LT_NOBODY=079299999999 LT_V_POP=" V_POP
             " LT_V_INS=" V_INS " LT_V_VAC=" V_VAC " LT_STATE=%s python3 %s/prefill_client.py",
             a->url, a->token, s_key(2), state, LT_IT_SRC_DIR);
    return system(cmd);
}

/* Refusals: a stream not replicated here; a stream named whose policy
 * does not grant the purpose (the whole request: nothing read, counted,
 * logged, audited); a peer asking. Without streams named, the replicas the
 * purpose is granted for are read. */
static void s_check_refusals(fed_t *x)
{
    const char *stray[] = {V_POP, "VN/GOV/BCA/population", NULL};
    const char *both[] = {V_VAC, V_INS, NULL};
    Lienthong__Envelope *env = s_prefill(x->portal, s_key(0), stray);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND &&
              strstr(env->error->message, "VN/GOV/BCA/population"));
    lt_wire_free(&env);
    env = s_prefill_for(x->portal, s_key(20), both, "IMMUNISATION");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              env->error->code == LIENTHONG__ERROR_CODE__ERR_PURPOSE &&
              strstr(env->error->message, V_INS ": purpose \"IMMUNISATION\" is not among"));
    lt_wire_free(&env);
    env = s_prefill_for(x->portal, s_key(20), NULL, "IMMUNISATION");
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY &&
              env->prefill_reply->n_parts == 1 && s_part(env->prefill_reply, V_VAC));
    lt_wire_free(&env);
    const char *audit[] = {"audit", "--config", x->portal->conf_path, "--last", "500", NULL};
    CU_ASSERT_EQUAL(s_cli(x, "audit-refused.out", audit), 0);
    CU_ASSERT(s_out_has(x, "audit-refused.out", "prefill refused: ERR_PURPOSE"));
    CU_ASSERT(lt_it_file_contains(x->portal->log_path, "refused prefill from local"));
    char *metrics = lt_it_gw_metrics(x->portal, REPLY_MS);
    CU_ASSERT(metrics && lt_it_metric(metrics, "lienthong_prefill_requests_total{reason="
                                               "\"ERR_PURPOSE\"}") >= 1);
    free(metrics);

    lt_it_peer_t peer = {0};
    Lienthong__PrefillRequest q = LIENTHONG__PREFILL_REQUEST__INIT;
    Lienthong__Envelope out = LIENTHONG__ENVELOPE__INIT;
    Lienthong__Envelope *hello = NULL;
    q.request_id = 99;
    q.key = (char *)s_key(0);
    out.version = 1;
    out.body_case = LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST;
    out.prefill_request = &q;
    CU_ASSERT(lt_it_peer_open_gw(&peer, x->regs[0].owner->member, x->portal) == 0);
    CU_ASSERT_PTR_NOT_NULL(hello = lt_it_peer_hello_retry(&peer, 1, 1000, 10000));
    lt_wire_free(&hello);
    CU_ASSERT(lt_it_peer_send_env(&peer, &out, REPLY_MS) == 0);
    env = lt_it_peer_expect(&peer, LIENTHONG__ENVELOPE__BODY_ERROR, REPLY_MS);
    CU_ASSERT(env && env->error->code == LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED);
    lt_wire_free(&env);
    lt_it_peer_close(&peer);
}

static void test_prefill(void)
{
    api_t api = {0};
    fed_t x;
    char err[1024] = "";
    int ok = 0;
    LT_IT_REQUIRE(s_fed(&x) == 0);
    for (size_t r = 0; r < 3; r++)
        LT_IT_REQUIRE(lt_it_gw_run(x.regs[r].owner, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_gw_run(x.portal, READY_MS) == 0);
    LT_IT_REQUIRE(s_publish_first(&x) == 0);
    LT_IT_REQUIRE(s_publish_second(&x) == 0);
    for (size_t r = 0; r < 3; r++)
        LT_IT_REQUIRE(lt_ft_wait_same(x.regs[r].owner, x.portal, x.regs[r].view, CONVERGE_MS) == 0);

    /* Converged: every citizen's form is the owners' views. */
    LT_IT_REQUIRE(lt_ft_ok(s_check_all(&x, err, sizeof err), "pre-fill with the owners up", err));
    CU_ASSERT(s_all_state(x.portal, s_key(2), "ok"));
    s_check_cli(&x);
    s_check_audit(&x);
    s_check_refusals(&x);
    LT_IT_REQUIRE(s_api_start(&x, &api) == 0);
    CU_ASSERT(s_api_grants_backed(&x));
    CU_ASSERT_EQUAL(s_api_client(&api, "ok"), 0);
    s_check_fork(&x);
    LT_IT_REQUIRE(lt_ft_wait_same(x.regs[0].owner, x.portal, V_POP, CONVERGE_MS) == 0);
    LT_IT_REQUIRE(lt_ft_ok(s_check_all(&x, err, sizeof err), "pre-fill after the resync", err));

    /* Every owner stopped: the same answers, from the replicas alone. */
    for (size_t r = 0; r < 3; r++)
        CU_ASSERT_EQUAL(lt_it_gw_stop(x.regs[r].owner, STOP_MS), 0);
    LT_IT_REQUIRE(
        lt_ft_ok(s_check_all(&x, err, sizeof err), "pre-fill with every owner stopped", err));
    CU_ASSERT(s_wait_state(x.portal, s_key(2), "behind", BEHIND_MS) == 0);
    LT_IT_REQUIRE(lt_ft_ok(s_check_all(&x, err, sizeof err), "pre-fill, replicas behind", err));
    Lienthong__Envelope *env = s_prefill(x.portal, s_key(2), NULL);
    CU_ASSERT(env && env->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY &&
              env->prefill_reply->n_parts == 3 &&
              strstr(env->prefill_reply->parts[0]->detail, "not connected") &&
              env->prefill_reply->parts[0]->owner_heard_at_ms > 0);
    lt_wire_free(&env);
    CU_ASSERT_EQUAL(s_api_client(&api, "behind"), 0);
    ok = 1;
    CU_ASSERT_EQUAL(lt_it_gw_stop(x.portal, STOP_MS), 0);
out:
    if (!ok)
        for (size_t i = 0; i < x.f.n_gateways; i++)
            lt_it_log_dump(&x.f.gateways[i]);
    for (size_t i = 0; i < x.f.n_gateways; i++)
        CU_ASSERT(!lt_it_file_contains(x.f.gateways[i].log_path, "Sanitizer"));
    if (api.proc.pid > 0)
        CU_ASSERT_EQUAL(lt_it_proc_stop(&api.proc, STOP_MS), 0);
    s_fed_free(&x);
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"the portal pre-fills a form from its replicas, owners up and stopped", test_prefill},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"prefill", NULL, NULL, NULL, NULL, tests};
    return lt_it_main(argc, argv, &suite);
}

/* fuzz_apireq: libFuzzer target for the HTTP API's strict JSON request
 * decoding (api/lt_apireq: POST /v1/lookup and POST /v1/verify bodies,
 * docs/api/openapi.json) before anything reaches the local API
 * (PROTOCOL.md 7.1, 8.3), and POST /v1/profile bodies (7.7).
 *
 * Each input is decoded as a lookup, a verify and a profile body. A refusal
 * must say why (a non-empty message). An accepted request must keep the
 * decoder's promises: exactly one of lookup/verify, every string within its
 * limit and without NUL, lists within the local API's limits, either keys
 * and claims or subjects for a verify; it must pack as the protobuf request
 * the gateway receives and unpack to the same thing; and every field it
 * asks for or claims is enumerated by lt_apireq_each_field.
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. */
#define _GNU_SOURCE
#include "lt_apireq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void s_write_seeds(const char *dir);

static void s_init(void)
{
    static int done;
    if (done)
        return;
    done = 1;
    const char *seeds = getenv("FUZZ_WRITE_SEEDS");
    if (seeds && seeds[0])
        s_write_seeds(seeds);
}

/* A decoded string: present, 1..max bytes (0..max when may_be_empty). */
static void s_check_text(const char *s, size_t max, int may_be_empty)
{
    if (!s)
        abort();
    size_t n = strlen(s);
    if (n > max || (n == 0 && !may_be_empty))
        abort();
}

static void s_check_claims(Lienthong__Claim *const *claims, size_t n)
{
    if (n == 0 || n > LT_APIREQ_MAX_CLAIMS)
        abort();
    for (size_t i = 0; i < n; i++) {
        s_check_text(claims[i]->field, LT_APIREQ_MAX_FIELD, 0);
        s_check_text(claims[i]->value, LT_APIREQ_MAX_VALUE, 1);
    }
}

static void s_check_common(const lt_apireq_t *r, const char *dataset, const char *purpose,
                           const char *case_ref)
{
    if (dataset)
        s_check_text(dataset, LT_APIREQ_MAX_DATASET, 0);
    s_check_text(purpose, LT_APIREQ_MAX_ID, 0);
    s_check_text(case_ref, LT_APIREQ_MAX_ID, 0);
    s_check_text(lt_apireq_officer(r), LT_APIREQ_MAX_ID, 0);
    int t = lt_apireq_timeout_ms(r);
    if (t < 0 || t > 600000)
        abort();
}

/* Returns the number of fields the request asks for or claims. */
static size_t s_check_lookup(const lt_apireq_t *r, const Lienthong__LookupRequest *q)
{
    s_check_common(r, q->dataset, q->purpose, q->case_ref);
    s_check_text(q->key, LT_APIREQ_MAX_KEY, 0);
    if (q->n_fields > LT_APIREQ_MAX_CLAIMS || (q->n_fields && !q->fields))
        abort();
    for (size_t i = 0; i < q->n_fields; i++)
        s_check_text(q->fields[i], LT_APIREQ_MAX_FIELD, 0);
    return q->n_fields;
}

static size_t s_check_verify(const lt_apireq_t *r, const Lienthong__VerifyRequest *q)
{
    s_check_common(r, q->dataset, q->purpose, q->case_ref);
    size_t fields = 0;
    /* Either keys and claims, or subjects (PROTOCOL.md 7.6). */
    if (!q->n_subjects == !q->n_keys)
        abort();
    if (q->n_subjects) {
        if (q->n_claims || q->n_subjects > LT_APIREQ_MAX_KEYS)
            abort();
        for (size_t s = 0; s < q->n_subjects; s++) {
            s_check_text(q->subjects[s]->key, LT_APIREQ_MAX_KEY, 0);
            s_check_claims(q->subjects[s]->claims, q->subjects[s]->n_claims);
            fields += q->subjects[s]->n_claims;
            if (strcmp(lt_apireq_claim_field(r, s, 0), q->subjects[s]->claims[0]->field) != 0)
                abort();
        }
        if (strcmp(lt_apireq_claim_field(r, q->n_subjects, 0), "?") != 0)
            abort();
        return fields;
    }
    if (q->n_keys > LT_APIREQ_MAX_KEYS)
        abort();
    for (size_t i = 0; i < q->n_keys; i++)
        s_check_text(q->keys[i], LT_APIREQ_MAX_KEY, 0);
    s_check_claims(q->claims, q->n_claims);
    if (strcmp(lt_apireq_claim_field(r, 0, q->n_claims), "?") != 0)
        abort();
    return q->n_claims;
}

/* A profile: key, parts within the limits, each with 1..64 fields, no
 * dataset twice, a deadline the gateway accepts (PROTOCOL.md 7.7). */
static size_t s_check_profile(const lt_apireq_t *r, const Lienthong__ProfileRequest *q)
{
    s_check_common(r, NULL, q->purpose, q->case_ref);
    s_check_text(q->key, LT_APIREQ_MAX_KEY, 0);
    if (q->n_parts == 0 || q->n_parts > LT_APIREQ_MAX_PARTS || lt_apireq_timeout_ms(r) > 60000)
        abort();
    size_t fields = 0;
    for (size_t i = 0; i < q->n_parts; i++) {
        s_check_text(q->parts[i]->dataset, LT_APIREQ_MAX_DATASET, 0);
        if (q->parts[i]->n_fields == 0 || q->parts[i]->n_fields > LT_APIREQ_MAX_CLAIMS)
            abort();
        for (size_t k = 0; k < q->parts[i]->n_fields; k++)
            s_check_text(q->parts[i]->fields[k], LT_APIREQ_MAX_FIELD, 0);
        for (size_t k = 0; k < i; k++)
            if (strcmp(q->parts[k]->dataset, q->parts[i]->dataset) == 0)
                abort();
        fields += q->parts[i]->n_fields;
    }
    return fields;
}

/* The request as the gateway receives it: packs, and unpacks again. */
static void s_pack(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        abort();
    if (protobuf_c_message_pack(m, buf) != len)
        abort();
    ProtobufCMessage *back = protobuf_c_message_unpack(m->descriptor, NULL, len, buf);
    if (!back || protobuf_c_message_get_packed_size(back) != len)
        abort();
    protobuf_c_message_free_unpacked(back, NULL);
    free(buf);
}

static int s_count(void *arg, const char *field)
{
    if (!field || !field[0])
        abort();
    ++*(size_t *)arg;
    return 0;
}

static void s_one(const uint8_t *data, size_t size, int is_verify)
{
    char err[512];
    err[0] = 0;
    lt_apireq_t *r = lt_apireq_decode((const char *)data, size, is_verify, err, sizeof err);
    if (!r) {
        if (!err[0])
            abort(); /* every refusal names the problem */
        return;
    }
    Lienthong__LookupRequest *lq = lt_apireq_lookup(r);
    Lienthong__VerifyRequest *vq = lt_apireq_verify(r);
    Lienthong__ProfileRequest *pq = lt_apireq_profile(r);
    /* Exactly one, of the kind asked. */
    if (!!lq + !!vq + !!pq != 1 || !lq != (is_verify != LT_APIREQ_LOOKUP) ||
        !vq != (is_verify != LT_APIREQ_VERIFY))
        abort();
    size_t want = lq ? s_check_lookup(r, lq) : vq ? s_check_verify(r, vq) : s_check_profile(r, pq);
    size_t seen = 0;
    if (lt_apireq_each_field(r, s_count, &seen) != 0 || seen != want)
        abort();
    s_pack(lq ? &lq->base : vq ? &vq->base : &pq->base);
    lt_apireq_destroy(&r);
    lt_apireq_destroy(&r); /* idempotent */
    if (r)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    s_one(data, size, LT_APIREQ_LOOKUP);
    s_one(data, size, LT_APIREQ_VERIFY);
    s_one(data, size, LT_APIREQ_PROFILE);
    return 0;
}

/* ---- seeds -------------------------------------------------------------------------- */

static const char *const s_seeds[][2] = {
    {"lookup", "{\"dataset\":\"VN/GOV/BCA/population\",\"key\":\"038090000002\","
               "\"fields\":[\"full_name\",\"date_of_birth\"],\"purpose\":\"KYC\","
               "\"officer\":\"officer-17\",\"case_ref\":\"HS-2024-001\",\"timeout_ms\":2000}"},
    {"verify-keys", "{\"dataset\":\"VN/GOV/BCA/population\",\"keys\":[\"038090000002\","
                    "\"038090000003\"],\"claims\":[{\"field\":\"date_of_birth\",\"value\":"
                    "\"1990-01-02\"},{\"field\":\"full_name\",\"value\":\"\"}],\"purpose\":"
                    "\"KYC\",\"officer\":\"officer-17\",\"case_ref\":\"HS-2024-002\"}"},
    {"verify-subjects", "{\"dataset\":\"VN/GOV/BCA/population\",\"subjects\":[{\"key\":"
                        "\"038090000002\",\"claims\":[{\"field\":\"date_of_birth\",\"value\":"
                        "\"1990-01-02\"}]},{\"key\":\"038090000003\",\"claims\":[{\"field\":"
                        "\"full_name\",\"value\":\"L\xc3\xaa Th\xe1\xbb\x8b H\xc3\xa0\"}]}],"
                        "\"purpose\":\"AUDIT\",\"officer\":\"u\\u0041\",\"case_ref\":\"c\"}"},
    {"unknown-member", "{\"dataset\":\"d\",\"key\":\"k\",\"purpose\":\"p\",\"officer\":\"o\","
                       "\"case_ref\":\"c\",\"extra\":1}"},
    {"duplicate-member", "{\"dataset\":\"d\",\"dataset\":\"e\",\"key\":\"k\"}"},
    {"nul-in-string", "{\"dataset\":\"d\\u0000x\",\"key\":\"k\",\"purpose\":\"p\","
                      "\"officer\":\"o\",\"case_ref\":\"c\"}"},
    {"wrong-types", "{\"dataset\":1,\"keys\":\"k\",\"claims\":{},\"timeout_ms\":1.5}"},
    {"not-object", "[1,2,3]"},
    {"profile", "{\"key\":\"038090000002\",\"purpose\":\"PREFILL\",\"officer\":\"o-1\","
                "\"case_ref\":\"HS-1\",\"timeout_ms\":3000,\"parts\":[{\"dataset\":"
                "\"VN/GOV/BCA/population\",\"fields\":[\"full_name\"]},{\"dataset\":"
                "\"VN/GOV/BHXH/insurance_cards\",\"fields\":[\"card_number\",\"valid_to\"]}]}"},
    {"profile-twice", "{\"key\":\"k\",\"purpose\":\"p\",\"officer\":\"o\",\"case_ref\":\"c\","
                      "\"parts\":[{\"dataset\":\"d\",\"fields\":[\"f\"]},{\"dataset\":\"d\","
                      "\"fields\":[\"f\"]}]}"},
};

static void s_write_seeds(const char *dir)
{
    char path[1024];
    (void)mkdir(dir, 0755);
    for (size_t i = 0; i < sizeof s_seeds / sizeof s_seeds[0]; i++) {
        snprintf(path, sizeof path, "%s/%s.json", dir, s_seeds[i][0]);
        FILE *f = fopen(path, "wb");
        size_t n = strlen(s_seeds[i][1]);
        if (!f || fwrite(s_seeds[i][1], 1, n, f) != n || fclose(f) != 0)
            fprintf(stderr, "fuzz_apireq: cannot write %s\n", path);
    }
}

/* lt_apireq: strict JSON request decoding (see lt_apireq.h). */
#include "lt_apireq.h"
#include "lt_err.h"
#include "lt_valid.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _lt_apireq_t {
    json_t *root;  /* owns every string below */
    int is_verify; /* the kind: LT_APIREQ_LOOKUP, _VERIFY, _PROFILE */
    const char *officer;
    int timeout_ms;
    Lienthong__LookupRequest lookup;
    Lienthong__VerifyRequest verify;
    char *fields[LT_APIREQ_MAX_CLAIMS];
    char **keys;
    Lienthong__Claim claims[LT_APIREQ_MAX_CLAIMS], *claim_ptrs[LT_APIREQ_MAX_CLAIMS];
    Lienthong__Subject *subjects, **subject_ptrs;
    Lienthong__Claim *subject_claims, **subject_claim_ptrs; /* all subjects' claims */
    Lienthong__ProfileRequest profile;
    Lienthong__ProfilePart parts[LT_APIREQ_MAX_PARTS], *part_ptrs[LT_APIREQ_MAX_PARTS];
    char *part_fields[LT_APIREQ_MAX_PARTS][LT_APIREQ_MAX_CLAIMS];
};

/* A required (or optional, when !required) string member of o, 1..max bytes. */
static int s_string(const json_t *o, const char *name, const char *where, size_t max, int required,
                    const char **out, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, name);
    *out = "";
    if (!v)
        return required ? lt_err_set(err, errlen, "%s%s: required", where, name) : 0;
    if (!json_is_string(v))
        return lt_err_set(err, errlen, "%s%s: must be a string", where, name);
    size_t len = json_string_length(v);
    if (len == 0 || len > max || strlen(json_string_value(v)) != len)
        return lt_err_set(err, errlen, "%s%s: must be 1 to %zu bytes of text without NUL", where,
                          name, max);
    /* Ids, keys, purposes, officers and case references go into audit
     * entries printed a line each: a line feed could forge one. */
    if (!lt_valid_plain(json_string_value(v)))
        return lt_err_set(err, errlen, "%s%s: must not hold control characters", where, name);
    *out = json_string_value(v);
    return 0;
}

/* Refuses members of o not in known. */
static int s_known(const json_t *o, const char *const *known, const char *where, char *err,
                   size_t errlen)
{
    const char *k;
    const json_t *v;
    /* where ends in '.' ("claims[1]."); the object itself is named without it. */
    size_t wl = strlen(where);
    if (!json_is_object(o))
        return wl ? lt_err_set(err, errlen, "%.*s: must be an object", (int)(wl - 1), where)
                  : lt_err_set(err, errlen, "body: must be an object");
    json_object_foreach((json_t *)o, k, v)
    {
        int ok = 0;
        for (size_t i = 0; known[i] && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (!ok)
            return lt_err_set(err, errlen, "%s%.*s: unknown member", where, lt_valid_cut(k, 64), k);
    }
    return 0;
}

/* An array member of o holding 1..max elements (absent: *n = 0); where
 * prefixes the member's name in the message ("subjects[2]."). */
static const json_t *s_array(const json_t *o, const char *where, const char *name, size_t max,
                             size_t *n, char *err, size_t errlen, int *bad)
{
    const json_t *a = json_object_get(o, name);
    *n = 0;
    *bad = 0;
    if (!a)
        return NULL;
    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > max) {
        *bad = lt_err_set(err, errlen, "%s%s: must be an array of 1 to %zu elements", where, name,
                          max);
        return NULL;
    }
    *n = json_array_size(a);
    return a;
}

/* Element i of a string array, 1 to max bytes, with a message naming it. */
static int s_elem_string(const json_t *a, const char *name, size_t i, size_t max, char **out,
                         char *err, size_t errlen)
{
    const json_t *v = json_array_get(a, i);
    size_t len = json_is_string(v) ? json_string_length(v) : 0;
    if (len == 0 || len > max || strlen(json_string_value(v)) != len)
        return lt_err_set(err, errlen, "%s[%zu]: must be a string of 1 to %zu bytes", name, i, max);
    if (!lt_valid_plain(json_string_value(v)))
        return lt_err_set(err, errlen, "%s[%zu]: must not hold control characters", name, i);
    *out = (char *)json_string_value(v);
    return 0;
}

static const char *const s_claim_members[] = {"field", "value", NULL};

static int s_claim(const json_t *c, const char *where, Lienthong__Claim *out, char *err,
                   size_t errlen)
{
    const char *field, *value;
    if (s_known(c, s_claim_members, where, err, errlen) ||
        s_string(c, "field", where, LT_APIREQ_MAX_FIELD, 1, &field, err, errlen))
        return -1;
    /* A value may be empty (claiming a field is empty) but must be a string. */
    const json_t *v = json_object_get(c, "value");
    if (!json_is_string(v) || json_string_length(v) > LT_APIREQ_MAX_VALUE ||
        strlen(json_string_value(v)) != json_string_length(v))
        return lt_err_set(err, errlen, "%svalue: required, a string of at most %d bytes", where,
                          LT_APIREQ_MAX_VALUE);
    value = json_string_value(v);
    lienthong__claim__init(out);
    out->field = (char *)field;
    out->value = (char *)value;
    return 0;
}

/* The members every kind shares (a profile has no dataset: dataset NULL). */
static int s_common(lt_apireq_t *r, const char **dataset, const char **purpose,
                    const char **case_ref, char *err, size_t errlen)
{
    const json_t *t = json_object_get(r->root, "timeout_ms");
    int max = r->is_verify == LT_APIREQ_PROFILE ? LT_PROFILE_MAX_MS : 600000; /* PROTOCOL.md 7.7 */
    if ((dataset &&
         s_string(r->root, "dataset", "", LT_APIREQ_MAX_DATASET, 1, dataset, err, errlen)) ||
        s_string(r->root, "purpose", "", LT_APIREQ_MAX_ID, 1, purpose, err, errlen) ||
        s_string(r->root, "officer", "", LT_APIREQ_MAX_ID, 1, &r->officer, err, errlen) ||
        s_string(r->root, "case_ref", "", LT_APIREQ_MAX_ID, 1, case_ref, err, errlen))
        return -1;
    if (t && (!json_is_integer(t) || json_integer_value(t) < 1 || json_integer_value(t) > max))
        return lt_err_set(err, errlen, "timeout_ms: must be a whole number from 1 to %d", max);
    r->timeout_ms = t ? (int)json_integer_value(t) : 0;
    return 0;
}

static const char *const s_lookup_members[] = {"dataset", "key",      "fields",     "purpose",
                                               "officer", "case_ref", "timeout_ms", NULL};

static int s_lookup(lt_apireq_t *r, char *err, size_t errlen)
{
    Lienthong__LookupRequest *q = &r->lookup;
    const char *ds, *key, *purpose, *case_ref;
    size_t n;
    int bad;
    lienthong__lookup_request__init(q);
    if (s_known(r->root, s_lookup_members, "", err, errlen) ||
        s_common(r, &ds, &purpose, &case_ref, err, errlen) ||
        s_string(r->root, "key", "", LT_APIREQ_MAX_KEY, 1, &key, err, errlen))
        return -1;
    const json_t *a = s_array(r->root, "", "fields", LT_APIREQ_MAX_CLAIMS, &n, err, errlen, &bad);
    for (size_t i = 0; !bad && i < n; i++)
        bad = s_elem_string(a, "fields", i, LT_APIREQ_MAX_FIELD, &r->fields[i], err, errlen);
    if (bad)
        return -1;
    q->dataset = (char *)ds;
    q->key = (char *)key;
    q->purpose = (char *)purpose;
    q->case_ref = (char *)case_ref;
    q->fields = r->fields;
    q->n_fields = n;
    return 0;
}

static int s_claims(const json_t *a, size_t n, const char *name, Lienthong__Claim *claims,
                    Lienthong__Claim **ptrs, char *err, size_t errlen)
{
    char where[64];
    for (size_t i = 0; i < n; i++) {
        snprintf(where, sizeof where, "%s[%zu].", name, i);
        if (s_claim(json_array_get(a, i), where, &claims[i], err, errlen))
            return -1;
        ptrs[i] = &claims[i];
    }
    return 0;
}

static const char *const s_subject_members[] = {"key", "claims", NULL};

/* Subject i's members and claims array (checked); *nc its claims. */
static const json_t *s_subject_claims(const json_t *s, size_t i, size_t *nc, char *err,
                                      size_t errlen)
{
    char where[64];
    const char *key;
    int bad;
    snprintf(where, sizeof where, "subjects[%zu].", i);
    if (s_known(s, s_subject_members, where, err, errlen) ||
        s_string(s, "key", where, LT_APIREQ_MAX_KEY, 1, &key, err, errlen))
        return NULL;
    const json_t *ca = s_array(s, where, "claims", LT_APIREQ_MAX_CLAIMS, nc, err, errlen, &bad);
    if (!bad && !ca)
        lt_err_set(err, errlen, "%sclaims: required", where);
    return ca;
}

static int s_subjects(lt_apireq_t *r, const json_t *a, size_t n, char *err, size_t errlen)
{
    /* Room for the claims the subjects hold, not for the most each may:
     * 1,024 subjects of one claim each took 65,536 claims' room. */
    size_t total = 0, nc;
    for (size_t i = 0; i < n; i++) {
        if (!s_subject_claims(json_array_get(a, i), i, &nc, err, errlen))
            return -1;
        total += nc;
    }
    r->subjects = calloc(n, sizeof *r->subjects);
    r->subject_ptrs = calloc(n, sizeof *r->subject_ptrs);
    r->subject_claims = calloc(total, sizeof *r->subject_claims);
    r->subject_claim_ptrs = calloc(total, sizeof *r->subject_claim_ptrs);
    if (!r->subjects || !r->subject_ptrs || !r->subject_claims || !r->subject_claim_ptrs)
        return lt_err_set(err, errlen, "out of memory");
    Lienthong__Claim *cl = r->subject_claims;
    Lienthong__Claim **cp = r->subject_claim_ptrs;
    for (size_t i = 0; i < n; i++) {
        const json_t *s = json_array_get(a, i);
        const json_t *ca = s_subject_claims(s, i, &nc, err, errlen);
        Lienthong__Subject *sj = &r->subjects[i];
        char where[64];
        snprintf(where, sizeof where, "subjects[%zu].claims", i);
        lienthong__subject__init(sj);
        if (!ca || s_claims(ca, nc, where, cl, cp, err, errlen))
            return -1;
        sj->key = (char *)json_string_value(json_object_get(s, "key"));
        sj->claims = cp;
        sj->n_claims = nc;
        r->subject_ptrs[i] = sj;
        cl += nc;
        cp += nc;
    }
    r->verify.subjects = r->subject_ptrs;
    r->verify.n_subjects = n;
    return 0;
}

static const char *const s_verify_members[] = {
    "dataset", "keys", "claims", "subjects", "purpose", "officer", "case_ref", "timeout_ms", NULL};

static int s_verify(lt_apireq_t *r, char *err, size_t errlen)
{
    Lienthong__VerifyRequest *q = &r->verify;
    const char *ds, *purpose, *case_ref;
    size_t nk, nc, ns;
    int bk, bc, bs;
    lienthong__verify_request__init(q);
    if (s_known(r->root, s_verify_members, "", err, errlen) ||
        s_common(r, &ds, &purpose, &case_ref, err, errlen))
        return -1;
    const json_t *ka = s_array(r->root, "", "keys", LT_APIREQ_MAX_KEYS, &nk, err, errlen, &bk);
    const json_t *ca =
        bk ? NULL : s_array(r->root, "", "claims", LT_APIREQ_MAX_CLAIMS, &nc, err, errlen, &bc);
    const json_t *sa =
        bk || bc ? NULL
                 : s_array(r->root, "", "subjects", LT_APIREQ_MAX_KEYS, &ns, err, errlen, &bs);
    if (bk || bc || bs)
        return -1;
    if (!sa == !(ka && ca) || (sa && (ka || ca)))
        return lt_err_set(err, errlen,
                          "give either keys and claims, or subjects (PROTOCOL.md 7.6)");
    q->dataset = (char *)ds;
    q->purpose = (char *)purpose;
    q->case_ref = (char *)case_ref;
    if (sa)
        return s_subjects(r, sa, ns, err, errlen);
    if (!(r->keys = calloc(nk, sizeof *r->keys)))
        return lt_err_set(err, errlen, "out of memory");
    for (size_t i = 0; i < nk; i++)
        if (s_elem_string(ka, "keys", i, LT_APIREQ_MAX_KEY, &r->keys[i], err, errlen))
            return -1;
    if (s_claims(ca, nc, "claims", r->claims, r->claim_ptrs, err, errlen))
        return -1;
    q->keys = r->keys;
    q->n_keys = nk;
    q->claims = r->claim_ptrs;
    q->n_claims = nc;
    return 0;
}

static const char *const s_part_members[] = {"dataset", "fields", NULL};

/* Part i of a profile: a dataset and its fields (required, so that the
 * application's grants bound what is asked). */
static int s_part(lt_apireq_t *r, const json_t *p, size_t i, char *err, size_t errlen)
{
    char where[32], name[48];
    const char *ds;
    size_t n;
    int bad;
    snprintf(where, sizeof where, "parts[%zu].", i);
    if (s_known(p, s_part_members, where, err, errlen) ||
        s_string(p, "dataset", where, LT_APIREQ_MAX_DATASET, 1, &ds, err, errlen))
        return -1;
    const json_t *a = s_array(p, where, "fields", LT_APIREQ_MAX_CLAIMS, &n, err, errlen, &bad);
    if (!bad && !a)
        return lt_err_set(err, errlen, "%sfields: required", where);
    snprintf(name, sizeof name, "parts[%zu].fields", i);
    for (size_t k = 0; !bad && k < n; k++)
        bad = s_elem_string(a, name, k, LT_APIREQ_MAX_FIELD, &r->part_fields[i][k], err, errlen);
    if (bad)
        return -1;
    for (size_t k = 0; k < i; k++)
        if (strcmp(r->parts[k].dataset, ds) == 0)
            return lt_err_set(err, errlen, "%sdataset: \"%.*s\" named twice", where,
                              lt_valid_cut(ds, 64), ds);
    lienthong__profile_part__init(&r->parts[i]);
    r->parts[i].dataset = (char *)ds;
    r->parts[i].fields = r->part_fields[i];
    r->parts[i].n_fields = n;
    r->part_ptrs[i] = &r->parts[i];
    return 0;
}

static const char *const s_profile_members[] = {"key",        "purpose", "officer", "case_ref",
                                                "timeout_ms", "parts",   NULL};

static int s_profile(lt_apireq_t *r, char *err, size_t errlen)
{
    Lienthong__ProfileRequest *q = &r->profile;
    const char *key, *purpose, *case_ref;
    size_t n;
    int bad;
    lienthong__profile_request__init(q);
    if (s_known(r->root, s_profile_members, "", err, errlen) ||
        s_common(r, NULL, &purpose, &case_ref, err, errlen) ||
        s_string(r->root, "key", "", LT_APIREQ_MAX_KEY, 1, &key, err, errlen))
        return -1;
    const json_t *a = s_array(r->root, "", "parts", LT_APIREQ_MAX_PARTS, &n, err, errlen, &bad);
    if (!bad && !a)
        return lt_err_set(err, errlen, "parts: required");
    for (size_t i = 0; !bad && i < n; i++)
        bad = s_part(r, json_array_get(a, i), i, err, errlen);
    if (bad)
        return -1;
    q->key = (char *)key;
    q->purpose = (char *)purpose;
    q->case_ref = (char *)case_ref;
    q->parts = r->part_ptrs;
    q->n_parts = n;
    return 0;
}

lt_apireq_t *lt_apireq_decode(const char *body, size_t len, int is_verify, char *err, size_t errlen)
{
    json_error_t je;
    lt_apireq_t *r = calloc(1, sizeof *r);
    if (!r) {
        lt_err_set(err, errlen, "out of memory");
        return NULL;
    }
    r->is_verify = is_verify;
    r->root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!r->root) /* jansson quotes the text near the fault, cut anywhere */
        lt_valid_sanitise((lt_err_set(err, errlen, "malformed JSON at line %d column %d: %s",
                                      je.line, je.column, je.text),
                           err));
    else if (!json_is_object(r->root))
        lt_err_set(err, errlen, "body: must be a JSON object");
    else if ((is_verify == LT_APIREQ_PROFILE  ? s_profile
              : is_verify == LT_APIREQ_VERIFY ? s_verify
                                              : s_lookup)(r, err, errlen) == 0)
        return r;
    lt_apireq_destroy(&r);
    return NULL;
}

void lt_apireq_destroy(lt_apireq_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_apireq_t *r = *self_p;
    free(r->keys);
    free(r->subjects);
    free(r->subject_ptrs);
    free(r->subject_claims);
    free(r->subject_claim_ptrs);
    json_decref(r->root);
    free(r);
    *self_p = NULL;
}

Lienthong__LookupRequest *lt_apireq_lookup(lt_apireq_t *self)
{
    return self->is_verify == LT_APIREQ_LOOKUP ? &self->lookup : NULL;
}

Lienthong__VerifyRequest *lt_apireq_verify(lt_apireq_t *self)
{
    return self->is_verify == LT_APIREQ_VERIFY ? &self->verify : NULL;
}

Lienthong__ProfileRequest *lt_apireq_profile(lt_apireq_t *self)
{
    return self->is_verify == LT_APIREQ_PROFILE ? &self->profile : NULL;
}

const char *lt_apireq_officer(const lt_apireq_t *self)
{
    return self->officer;
}

int lt_apireq_timeout_ms(const lt_apireq_t *self)
{
    return self->timeout_ms;
}

int lt_apireq_each_field(const lt_apireq_t *self, int (*fn)(void *arg, const char *field),
                         void *arg)
{
    int rc = 0;
    int verify = self->is_verify == LT_APIREQ_VERIFY;
    if (self->is_verify == LT_APIREQ_LOOKUP)
        for (size_t i = 0; !rc && i < self->lookup.n_fields; i++)
            rc = fn(arg, self->lookup.fields[i]);
    for (size_t p = 0; !rc && self->is_verify == LT_APIREQ_PROFILE && p < self->profile.n_parts;
         p++)
        for (size_t i = 0; !rc && i < self->profile.parts[p]->n_fields; i++)
            rc = fn(arg, self->profile.parts[p]->fields[i]);
    for (size_t i = 0; !rc && verify && i < self->verify.n_claims; i++)
        rc = fn(arg, self->verify.claims[i]->field);
    for (size_t s = 0; !rc && verify && s < self->verify.n_subjects; s++)
        for (size_t i = 0; !rc && i < self->verify.subjects[s]->n_claims; i++)
            rc = fn(arg, self->verify.subjects[s]->claims[i]->field);
    return rc;
}

const char *lt_apireq_claim_field(const lt_apireq_t *self, size_t index, size_t c)
{
    const Lienthong__VerifyRequest *q = &self->verify;
    if (q->n_subjects)
        return index < q->n_subjects && c < q->subjects[index]->n_claims
                   ? q->subjects[index]->claims[c]->field
                   : "?";
    return c < q->n_claims ? q->claims[c]->field : "?";
}

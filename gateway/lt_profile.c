/* lt_profile: profile lookups, one lookup per part in parallel, one reply. */
#include "lt_profile.h"
#include "lt_clock.h"
#include "lt_gwstats.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_valid.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#define N_OUTCOMES 7 /* PART_UNKNOWN .. PART_ERROR */

typedef struct profile profile_t;

/* One part: a lookup in flight, or its outcome. */
typedef struct {
    profile_t *pr;
    uint64_t lookup_id; /* the part's lookup while in flight, else 0 */
    int ended;
    char *dataset;
    char *record_type; /* of the dataset (or the view's dataset) */
    Lienthong__ProfileOutcome outcome;
    Lienthong__ErrorCode code;
    Lienthong__SignedAnswer *answer; /* verified by lt_query (7.4), or NULL */
    ProtobufCBinaryData request;     /* the LookupRequest sent, bytes the answer binds */
    char *detail;
} part_t;

struct profile {
    lt_profile_t *owner;
    uint64_t id;
    void *local;
    uint8_t rid[LT_RID_MAX];
    size_t rid_len;
    size_t n_parts, n_ended;
    part_t parts[LT_PROFILE_MAX_PARTS];
    profile_t *prev, *next;
};

struct _lt_profile_t {
    const lt_gwctx_t *ctx;
    lt_query_t *query;
    profile_t *list;
    size_t n_list;
    lt_stats_series_t *outcomes[N_OUTCOMES];
};

static const char *s_outcome_name(Lienthong__ProfileOutcome o)
{
    static const char *names[N_OUTCOMES] = {"unknown", "released", "withheld", "not_found",
                                            "timeout", "refused",  "error"};
    return (unsigned)o < N_OUTCOMES ? names[o] : "unknown";
}

lt_profile_t *lt_profile_new(const lt_gwctx_t *ctx, lt_query_t *query)
{
    static const lt_stats_def_t def = {.name = "lienthong_profile_parts",
                                       .help =
                                           "Caller: parts of profile lookups answered, by outcome",
                                       .kind = LT_STATS_COUNTER,
                                       .n_labels = 1,
                                       .labels = {"outcome"},
                                       .max_series = N_OUTCOMES};
    lt_profile_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->query = query;
    for (int i = 1; i < N_OUTCOMES; i++) {
        const char *label = s_outcome_name((Lienthong__ProfileOutcome)i);
        if (!(self->outcomes[i] = lt_gwstats_series(ctx->stats, &def, &label))) {
            free(self);
            return NULL;
        }
    }
    return self;
}

static void s_free(lt_profile_t *self, profile_t *pr)
{
    DL_DELETE(self->list, pr);
    self->n_list--;
    for (size_t i = 0; i < pr->n_parts; i++) {
        part_t *p = &pr->parts[i];
        if (p->lookup_id)
            lt_query_forget(self->query, p->lookup_id);
        free(p->dataset);
        free(p->record_type);
        free(p->detail);
        free(p->request.data);
        if (p->answer)
            lienthong__signed_answer__free_unpacked(p->answer, NULL);
    }
    free(pr);
}

void lt_profile_destroy(lt_profile_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_profile_t *self = *self_p;
    profile_t *pr, *tmp;
    DL_FOREACH_SAFE(self->list, pr, tmp)
    s_free(self, pr);
    free(self);
    *self_p = NULL;
}

/* ---- the reply -------------------------------------------------------------- */

/* Every part is in: one ProfileReply, parts in the order asked. */
static void s_reply(lt_profile_t *self, profile_t *pr)
{
    Lienthong__ProfileReply rep = LIENTHONG__PROFILE_REPLY__INIT;
    Lienthong__ProfilePartReply parts[LT_PROFILE_MAX_PARTS], *ptrs[LT_PROFILE_MAX_PARTS];
    rep.request_id = pr->id;
    for (size_t i = 0; i < pr->n_parts; i++) {
        const part_t *p = &pr->parts[i];
        lienthong__profile_part_reply__init(&parts[i]);
        parts[i].dataset = p->dataset;
        parts[i].outcome = p->outcome;
        parts[i].code = p->code;
        parts[i].answer = p->answer;
        /* Only beside an answer: the bytes it binds, so that the client
         * checks it as 7.8 says (7.7). */
        if (p->answer)
            parts[i].request = p->request;
        parts[i].record_type = p->record_type ? p->record_type : "";
        parts[i].detail = p->detail ? p->detail : "";
        ptrs[i] = &parts[i];
        lt_stats_inc(self->outcomes[(unsigned)p->outcome < N_OUTCOMES ? p->outcome : 0]);
    }
    rep.parts = ptrs;
    rep.n_parts = pr->n_parts;
    if (lt_wire_send_body(pr->local, pr->rid, pr->rid_len, LIENTHONG__ENVELOPE__BODY_PROFILE_REPLY,
                          &rep) != 0)
        lt_warn("profile", "could not hand profile %llu to its client (gone, or its queue is full)",
                (unsigned long long)pr->id);
}

/* Records a part's outcome; the last one sends the reply and forgets the
 * profile. */
static void s_end(part_t *p, Lienthong__ProfileOutcome outcome, Lienthong__ErrorCode code,
                  const char *detail)
{
    profile_t *pr = p->pr;
    if (p->ended)
        return;
    p->ended = 1;
    p->lookup_id = 0;
    p->outcome = outcome;
    p->code = code;
    free(p->detail);
    /* NULL when out of memory: sent empty. Made valid UTF-8 whatever text
     * went into it: one bad byte would make the whole reply undecodable,
     * every part lost (4.5, 7.7). */
    if ((p->detail = strdup(detail)))
        lt_valid_sanitise(p->detail);
    if (++pr->n_ended < pr->n_parts)
        return;
    s_reply(pr->owner, pr);
    s_free(pr->owner, pr);
}

/* ---- answers ---------------------------------------------------------------- */

/* Appends text to detail (o bytes of len used), cut on a character
 * boundary (PROTOCOL.md 4.5): the owner's words fill a bounded line, and a
 * character cut in two would make the reply invalid. Returns the new length. */
static size_t s_add(char *detail, size_t o, size_t len, const char *text)
{
    if (o + 1 >= len)
        return o;
    size_t n = (size_t)lt_valid_cut(text, len - 1 - o);
    memcpy(detail + o, text, n);
    detail[o + n] = 0;
    return o + n;
}

/* What the owner's signed answer says: its outcome and a detail line. */
static Lienthong__ProfileOutcome s_judge(const Lienthong__LookupAnswer *a, char *detail, size_t len)
{
    switch (a->code) {
    case LIENTHONG__ERROR_CODE__ERR_NONE:
        break;
    case LIENTHONG__ERROR_CODE__ERR_NOT_FOUND:
        snprintf(detail, len, "%s has no record with this key", a->owner);
        return LIENTHONG__PROFILE_OUTCOME__PART_NOT_FOUND;
    case LIENTHONG__ERROR_CODE__ERR_FORBIDDEN:
    case LIENTHONG__ERROR_CODE__ERR_PURPOSE:
        snprintf(detail, len, "refused by %s: %s", a->owner, lt_wire_error_name(a->code));
        return LIENTHONG__PROFILE_OUTCOME__PART_REFUSED;
    default:
        snprintf(detail, len, "%s answered %s", a->owner, lt_wire_error_name(a->code));
        return LIENTHONG__PROFILE_OUTCOME__PART_ERROR;
    }
    if (a->n_withheld == 0) {
        snprintf(detail, len, "%zu field(s) released by %s", a->n_released, a->owner);
        return LIENTHONG__PROFILE_OUTCOME__PART_RELEASED;
    }
    snprintf(detail, len, "%zu field(s) released by %s; withheld:", a->n_released, a->owner);
    size_t o = strlen(detail);
    for (size_t i = 0; i < a->n_withheld && o + 1 < len; i++) {
        o = s_add(detail, o, len, i ? ", " : " ");
        o = s_add(detail, o, len, a->withheld[i]->field);
        o = s_add(detail, o, len, " (");
        o = s_add(detail, o, len, a->withheld[i]->reason);
        o = s_add(detail, o, len, ")");
    }
    return LIENTHONG__PROFILE_OUTCOME__PART_WITHHELD;
}

/* The outcome of an unsigned Error that ended a part's lookup. */
static Lienthong__ProfileOutcome s_error_outcome(Lienthong__ErrorCode code)
{
    return code == LIENTHONG__ERROR_CODE__ERR_TIMEOUT ? LIENTHONG__PROFILE_OUTCOME__PART_TIMEOUT
                                                      : LIENTHONG__PROFILE_OUTCOME__PART_ERROR;
}

/* lt_query's callback: a part's lookup ended. */
static void s_on_done(void *arg, const lt_query_result_t *r)
{
    part_t *p = arg;
    char detail[1024];
    if (r->code != LIENTHONG__ERROR_CODE__ERR_NONE) {
        size_t o = s_add(detail, 0, sizeof detail, lt_wire_error_name(r->code));
        o = s_add(detail, o, sizeof detail, ": ");
        (void)s_add(detail, o, sizeof detail, r->message ? r->message : "");
        s_end(p, s_error_outcome(r->code), r->code, detail);
        return;
    }
    /* lt_query accepted it (signature, binding, 7.4): these decode. */
    Lienthong__SignedAnswer *sa = lienthong__signed_answer__unpack(NULL, r->len, r->signed_answer);
    Lienthong__LookupAnswer *a =
        sa ? lienthong__lookup_answer__unpack(NULL, sa->answer.len, sa->answer.data) : NULL;
    if (!a) {
        if (sa)
            lienthong__signed_answer__free_unpacked(sa, NULL);
        s_end(p, LIENTHONG__PROFILE_OUTCOME__PART_ERROR, LIENTHONG__ERROR_CODE__ERR_INTERNAL,
              "out of memory decoding the verified answer");
        return;
    }
    p->answer = sa;
    Lienthong__ProfileOutcome outcome = s_judge(a, detail, sizeof detail);
    Lienthong__ErrorCode code = a->code;
    lienthong__lookup_answer__free_unpacked(a, NULL);
    s_end(p, outcome, code, detail);
}

/* ---- requests --------------------------------------------------------------- */

static uint64_t s_random_id(void)
{
    uint64_t id = 0;
    while (!id)
        randombytes_buf(&id, sizeof id);
    return id;
}

/* Why this gateway refuses a part without asking its owner (7.7), or NULL;
 * *code: ERR_NOT_FOUND for a dataset the directory does not know,
 * ERR_INTERNAL when the record type cannot be copied (a part must not
 * reach the caller without it: its fields could not be decoded), else
 * ERR_FORBIDDEN. Sets the part's record type and *policy (for an empty
 * field list, the policy's fields are asked). */
static const char *s_hopeless(lt_profile_t *self, part_t *p, const Lienthong__Policy **policy,
                              Lienthong__ErrorCode *code)
{
    const lt_dir_t *dir = self->ctx->dir;
    const char *me = self->ctx->cfg->member;
    const Lienthong__Dataset *ds = lt_dir_dataset_of(dir, p->dataset);
    *code = LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    if (!ds)
        return "no such dataset or view in the directory";
    if (!(p->record_type = strdup(ds->record_type))) {
        *code = LIENTHONG__ERROR_CODE__ERR_INTERNAL;
        return "out of memory copying the dataset's record type";
    }
    *code = LIENTHONG__ERROR_CODE__ERR_FORBIDDEN;
    if (strcmp(ds->owner, me) == 0)
        return "this member owns the dataset: ask it with a lookup (8.3)";
    *policy = lt_dir_policy(dir, me, p->dataset);
    if (!lt_dir_policy_allows(*policy, LIENTHONG__OPERATION__OP_LOOKUP))
        return "no lookup policy for this member on it in the directory";
    return NULL;
}

/* Keeps the bytes of lq as sent: lt_query packs the same struct into the
 * frame, and protobuf-c packs one struct to one byte string, so these are
 * the bytes the owner hashes into request_hash (7.3, 7.8). */
static Lienthong__ErrorCode s_keep_request(part_t *p, const Lienthong__LookupRequest *lq)
{
    size_t len = lienthong__lookup_request__get_packed_size(lq);
    if (!(p->request.data = malloc(len ? len : 1)))
        return LIENTHONG__ERROR_CODE__ERR_INTERNAL;
    p->request.len = lienthong__lookup_request__pack(lq, p->request.data);
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

/* Starts one part's lookup, or ends the part at once. */
static void s_start(lt_profile_t *self, profile_t *pr, part_t *p,
                    const Lienthong__ProfileRequest *q, const Lienthong__ProfilePart *qp,
                    const Lienthong__OnBehalf *who, int64_t deadline_ms)
{
    const Lienthong__Policy *policy = NULL;
    Lienthong__ErrorCode code;
    char why[512];
    const char *no = s_hopeless(self, p, &policy, &code);
    if (no && code == LIENTHONG__ERROR_CODE__ERR_INTERNAL) {
        lt_warn("profile", "part %s of profile %llu failed here: %s", p->dataset,
                (unsigned long long)pr->id, no);
        s_end(p, LIENTHONG__PROFILE_OUTCOME__PART_ERROR, code, no);
        return;
    }
    if (no) {
        lt_info("profile", "part %s of profile %llu refused here: %s", p->dataset,
                (unsigned long long)pr->id, no);
        s_end(p, LIENTHONG__PROFILE_OUTCOME__PART_REFUSED, code, no);
        return;
    }
    Lienthong__LookupRequest lq = LIENTHONG__LOOKUP_REQUEST__INIT;
    lq.request_id = s_random_id();
    lq.dataset = p->dataset;
    lq.key = q->key;
    lq.purpose = q->purpose;
    lq.case_ref = q->case_ref;
    /* The time left, which each gateway counts on its own clock, and the
     * deadline for an owner of an earlier release (7.1). */
    int64_t left = deadline_ms - lt_clock_now_ms();
    lq.deadline_ms = deadline_ms;
    lq.timeout_ms = (uint32_t)(left < 1 ? 1 : left);
    lq.fields = qp->fields;
    lq.n_fields = qp->n_fields;
    /* No fields named: those the policy grants, so that a plain part is
     * released rather than withheld field by field (7.5). */
    if (!qp->n_fields && policy->n_fields <= LT_QUERY_MAX_FIELDS) {
        lq.fields = policy->fields;
        lq.n_fields = policy->n_fields;
    }
    if ((code = s_keep_request(p, &lq)) != LIENTHONG__ERROR_CODE__ERR_NONE) {
        s_end(p, LIENTHONG__PROFILE_OUTCOME__PART_ERROR, code,
              "out of memory copying the part's lookup request");
        return;
    }
    p->lookup_id = lq.request_id;
    code = lt_query_lookup_for(self->query, &lq, who, s_on_done, p, why, sizeof why);
    if (code != LIENTHONG__ERROR_CODE__ERR_NONE) {
        p->lookup_id = 0;
        s_end(p,
              code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND
                  ? LIENTHONG__PROFILE_OUTCOME__PART_REFUSED
                  : LIENTHONG__PROFILE_OUTCOME__PART_ERROR,
              code, why);
    }
}

/* Refuses the whole request with an unsigned Error (bad input, 4.4). */
static void s_refuse(lt_profile_t *self, void *local, const lt_wire_in_t *in, uint64_t id,
                     Lienthong__ErrorCode code, const char *why)
{
    (void)lt_reject(self->ctx->reject, &(lt_reject_in_t){.sock = local,
                                                         .rid = in->rid,
                                                         .rid_len = in->rid_len,
                                                         .who = "local",
                                                         .what = "profile request",
                                                         .code = code,
                                                         .request_id = id,
                                                         .why = why});
}

static profile_t *s_find(lt_profile_t *self, uint64_t id)
{
    profile_t *pr;
    DL_FOREACH(self->list, pr)
    if (pr->id == id)
        return pr;
    return NULL;
}

/* A local profile starts when valid, its id new, and room left; ERR_NONE, or why not. */
static Lienthong__ErrorCode s_may_start(lt_profile_t *self, const Lienthong__Envelope *env,
                                        char *why, size_t len)
{
    const Lienthong__ProfileRequest *q = env->profile_request;
    Lienthong__ErrorCode bad = lt_valid_profile(q, why, len);
    if (!bad)
        bad = lt_valid_on_behalf(env->on_behalf, why, len);
    if (!bad && s_find(self, q->request_id)) {
        bad = LIENTHONG__ERROR_CODE__ERR_MALFORMED;
        snprintf(why, len, "profile_request.request_id %llu is already outstanding",
                 (unsigned long long)q->request_id);
    } else if (!bad && self->n_list >= LT_PROFILE_MAX_OUTSTANDING) {
        bad = LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE;
        snprintf(why, len, "%d profiles outstanding; retry later", LT_PROFILE_MAX_OUTSTANDING);
    }
    return bad;
}

/* A profile for q with its datasets copied, not listed yet; NULL when out of memory. */
static profile_t *s_profile_new(lt_profile_t *self, void *local, const lt_wire_in_t *in,
                                const Lienthong__ProfileRequest *q)
{
    profile_t *pr = calloc(1, sizeof *pr);
    if (!pr)
        return NULL;
    pr->owner = self;
    pr->id = q->request_id;
    pr->local = local;
    memcpy(pr->rid, in->rid, in->rid_len);
    pr->rid_len = in->rid_len;
    pr->n_parts = q->n_parts;
    for (size_t i = 0; i < q->n_parts; i++) {
        pr->parts[i].pr = pr;
        if (!(pr->parts[i].dataset = strdup(q->parts[i]->dataset)))
            goto out;
    }
    return pr;
out: /* the parts not reached hold NULL (calloc) */
    for (size_t i = 0; i < pr->n_parts; i++)
        free(pr->parts[i].dataset);
    free(pr);
    return NULL;
}

void lt_profile_on_local(lt_profile_t *self, void *local, const lt_wire_in_t *in,
                         const Lienthong__Envelope *env)
{
    const Lienthong__ProfileRequest *q = env->profile_request;
    char why[256];
    Lienthong__ErrorCode bad = s_may_start(self, env, why, sizeof why);
    if (bad) {
        s_refuse(self, local, in, q->request_id, bad, why);
        return;
    }
    profile_t *pr = s_profile_new(self, local, in, q);
    if (!pr) {
        s_refuse(self, local, in, q->request_id, LIENTHONG__ERROR_CODE__ERR_INTERNAL,
                 "out of memory");
        return;
    }
    DL_APPEND(self->list, pr);
    self->n_list++;
    /* One deadline for every part: each lookup ends by it at the latest,
     * with ERR_TIMEOUT from lt_query's tick, and the reply goes then. */
    int64_t deadline =
        lt_clock_now_ms() + (q->deadline_ms ? q->deadline_ms : LT_PROFILE_DEFAULT_MS);
    lt_debug("profile", "profile %llu: %zu part(s)", (unsigned long long)pr->id, pr->n_parts);
    /* The last part to end sends the reply and frees pr: count first. */
    size_t n = pr->n_parts;
    for (size_t i = 0; i < n; i++)
        s_start(self, pr, &pr->parts[i], q, q->parts[i], env->on_behalf, deadline);
}

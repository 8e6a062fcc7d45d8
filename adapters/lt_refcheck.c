/* lt_refcheck: reference checks of a source adapter by verify without
 * disclosure (PROTOCOL.md 5.7, 7.6); see lt_refcheck.h. */
#include "lt_refcheck.h"
#include "lt_err.h"
#include "lt_adapter.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_rules.h"
#include "lt_schema.h"
#include "lt_valid.h"
#include "lt_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.pb-c.h"

/* S_NOT_KEY: a value no record could have as its key (lt_valid_key),
 * failed without asking: in a VerifyRequest it would have the whole
 * request refused (ERR_MALFORMED), every other value of it unknown. */
typedef enum { S_PENDING, S_FOUND, S_MISSING, S_NOT_KEY } s_outcome_t;

typedef struct {
    size_t rule; /* index into rules */
    char *key, *cursor, *value;
    s_outcome_t outcome; /* once queued in a request */
} s_item_t;

typedef struct {
    const char *field;                  /* the referencing field */
    const ProtobufCFieldDescriptor *fd; /* its descriptor in the record type */
    const char *target;                 /* the referenced dataset */
    const char *key_field;              /* its key field */
    const char *id;                     /* the rule id */
} s_ref_t;

struct _lt_refcheck_t {
    Lienthong__Directory *dir;
    const Lienthong__Dataset *ds; /* the dataset's entry in dir */
    const ProtobufCMessageDescriptor *type;
    lt_rules_t *rules;
    s_ref_t *refs;
    size_t n_refs;
    char purpose[128];
    lt_refcheck_fn fn;
    void *arg;
    s_item_t *queue;
    size_t head, n, cap;
    uint64_t unknown;
    /* the request in flight */
    uint64_t id;
    int64_t sent_ms;
    s_item_t *batch;
    size_t n_batch;
    Lienthong__Subject *subjects, **subject_ptrs;
    Lienthong__Claim *claims, **claim_ptrs;
    Lienthong__VerifyRequest req;
};

static void s_item_free(s_item_t *it)
{
    free(it->key);
    free(it->cursor);
    free(it->value);
}

static void s_batch_free(lt_refcheck_t *self)
{
    for (size_t i = 0; i < self->n_batch; i++)
        s_item_free(&self->batch[i]);
    free(self->batch);
    free(self->subjects);
    free(self->subject_ptrs);
    free(self->claims);
    free(self->claim_ptrs);
    self->batch = NULL;
    self->subjects = NULL;
    self->subject_ptrs = NULL;
    self->claims = NULL;
    self->claim_ptrs = NULL;
    self->n_batch = 0;
    self->id = 0;
}

void lt_refcheck_destroy(lt_refcheck_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_refcheck_t *self = *self_p;
    s_batch_free(self);
    for (size_t i = self->head; i < self->n; i++)
        s_item_free(&self->queue[i]);
    free(self->queue);
    free(self->refs);
    lt_rules_destroy(&self->rules);
    if (self->dir)
        lienthong__directory__free_unpacked(self->dir, NULL);
    free(self);
    *self_p = NULL;
}

/* The Directory inside a signed directory file, unverified (see the
 * header: it decides only what the adapter checks). */
static Lienthong__Directory *s_read_dir(const char *path, char *err, size_t errlen)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (lt_file_read(path, LT_DIR_MAX_BYTES, &bytes, &len) != 0) {
        lt_err_set(err, errlen, "cannot read directory_file '%s'", path);
        return NULL;
    }
    Lienthong__SignedDirectory *sd = lienthong__signed_directory__unpack(NULL, len, bytes);
    Lienthong__Directory *d =
        sd ? lienthong__directory__unpack(NULL, sd->directory.len, sd->directory.data) : NULL;
    if (!d)
        lt_err_set(err, errlen, "directory_file '%s' is not a signed directory", path);
    if (sd)
        lienthong__signed_directory__free_unpacked(sd, NULL);
    free(bytes);
    return d;
}

static const Lienthong__Dataset *s_dataset(const Lienthong__Directory *d, const char *id)
{
    for (size_t i = 0; i < d->n_datasets; i++)
        if (strcmp(d->datasets[i]->id, id) == 0)
            return d->datasets[i];
    return NULL;
}

static int s_collect(lt_refcheck_t *self, const Lienthong__Dataset *ds, char *err, size_t errlen)
{
    self->refs = calloc(lt_rules_count(self->rules) + 1, sizeof *self->refs);
    if (!self->refs) {
        lt_err_set(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < lt_rules_count(self->rules); i++) {
        const char *field = NULL, *target = lt_rules_reference(self->rules, i, &field);
        const Lienthong__Dataset *t = target ? s_dataset(self->dir, target) : NULL;
        if (!target)
            continue;
        if (!t) {
            lt_err_set(err, errlen, "dataset '%s': rule %s refers to '%s', not listed", ds->id,
                       lt_rules_id(self->rules, i), target);
            return -1;
        }
        self->refs[self->n_refs++] = (s_ref_t){.field = field,
                                               .fd = lt_schema_field(self->type, field),
                                               .target = target,
                                               .key_field = t->key_field,
                                               .id = lt_rules_id(self->rules, i)};
    }
    return 0;
}

lt_refcheck_t *lt_refcheck_new(const char *directory_file, const char *dataset, const char *purpose,
                               lt_refcheck_fn fn, void *arg, char *err, size_t errlen)
{
    lt_refcheck_t *self = calloc(1, sizeof *self);
    if (!self) {
        lt_err_set(err, errlen, "out of memory");
        return NULL;
    }
    snprintf(self->purpose, sizeof self->purpose, "%s", purpose);
    self->fn = fn;
    self->arg = arg;
    const Lienthong__Dataset *ds = NULL;
    char why[256];
    if (!(self->dir = s_read_dir(directory_file, err, errlen)))
        goto fail;
    if (!(ds = s_dataset(self->dir, dataset))) {
        lt_err_set(err, errlen, "dataset '%s' is not in directory_file '%s'", dataset,
                   directory_file);
        goto fail;
    }
    self->ds = ds;
    self->type = lt_schema_find(ds->record_type);
    if (!(self->rules = lt_rules_new(ds, why, sizeof why))) {
        lt_err_set(err, errlen, "dataset '%s': %s", dataset, why);
        goto fail;
    }
    if (s_collect(self, ds, err, errlen) != 0)
        goto fail;
    return self;
fail:
    lt_refcheck_destroy(&self);
    return NULL;
}

size_t lt_refcheck_rules(const lt_refcheck_t *self)
{
    return self->n_refs;
}

const char *lt_refcheck_record_type(const lt_refcheck_t *self)
{
    return self->ds->record_type;
}

const char *lt_refcheck_key_field(const lt_refcheck_t *self)
{
    return self->ds->key_field;
}

uint64_t lt_refcheck_unknown(const lt_refcheck_t *self)
{
    return self->unknown;
}

int lt_refcheck_busy(const lt_refcheck_t *self)
{
    return self->n > self->head || self->id != 0;
}

static int s_push(lt_refcheck_t *self, size_t rule, const char *key, const char *cursor,
                  const char *value, s_outcome_t outcome)
{
    if (self->n - self->head >= LT_REFCHECK_QUEUE) {
        self->unknown++;
        return 0;
    }
    if (self->head > 0 && self->n == self->cap) { /* reuse the consumed front */
        memmove(self->queue, self->queue + self->head,
                (self->n - self->head) * sizeof *self->queue);
        self->n -= self->head;
        self->head = 0;
    }
    if (self->n == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        s_item_t *q = realloc(self->queue, cap * sizeof *q);
        if (!q)
            return -1;
        self->queue = q;
        self->cap = cap;
    }
    s_item_t *it = &self->queue[self->n];
    *it = (s_item_t){.rule = rule,
                     .key = strdup(key),
                     .cursor = strdup(cursor),
                     .value = strdup(value),
                     .outcome = outcome};
    if (!it->key || !it->cursor || !it->value) {
        s_item_free(it);
        return -1;
    }
    self->n++;
    return 0;
}

int lt_refcheck_queue(lt_refcheck_t *self, const char *key, const char *cursor,
                      const uint8_t *payload, size_t len)
{
    if (self->n_refs == 0)
        return 0;
    ProtobufCMessage *msg = protobuf_c_message_unpack(self->type, NULL, len, payload);
    if (!msg)
        return -1;
    int rc = 0;
    for (size_t r = 0; rc == 0 && r < self->n_refs; r++) {
        char buf[64];
        const ProtobufCFieldDescriptor *fd = self->refs[r].fd;
        const char *v = fd ? lt_schema_text(msg, fd, buf, sizeof buf) : NULL;
        if (v && *v)
            rc = s_push(self, r, key, cursor ? cursor : "", v,
                        lt_valid_key(v) ? S_PENDING : S_NOT_KEY);
    }
    protobuf_c_message_free_unpacked(msg, NULL);
    return rc;
}

/* 1 when queued check i goes into a batch of target: a request, or
 * (not_key) the values failed without one. */
static int s_same_target(const lt_refcheck_t *self, size_t i, const char *target, int not_key)
{
    return strcmp(self->refs[self->queue[i].rule].target, target) == 0 &&
           (self->queue[i].outcome == S_NOT_KEY) == not_key;
}

/* Takes up to LT_REFCHECK_BATCH queued checks of the head's target,
 * wherever they wait: a record's checks alternate between targets when
 * its dataset refers to several, and a request must not shrink to one
 * value for that. The others keep their order. */
static int s_take(lt_refcheck_t *self)
{
    const char *target = self->refs[self->queue[self->head].rule].target;
    int not_key = self->queue[self->head].outcome == S_NOT_KEY;
    size_t n = 0;
    for (size_t i = self->head; i < self->n && n < LT_REFCHECK_BATCH; i++)
        n += s_same_target(self, i, target, not_key);
    self->batch = malloc(n * sizeof *self->batch);
    if (!self->batch)
        return -1;
    /* Values that are not keys fail without a request (lt_refcheck_next):
     * nothing to build one in. */
    if (!not_key) {
        self->subjects = calloc(n, sizeof *self->subjects);
        self->subject_ptrs = calloc(n, sizeof *self->subject_ptrs);
        self->claims = calloc(n, sizeof *self->claims);
        self->claim_ptrs = calloc(n, sizeof *self->claim_ptrs);
        if (!self->subjects || !self->subject_ptrs || !self->claims || !self->claim_ptrs)
            return -1;
    }
    size_t last = self->head;
    for (size_t i = self->head; self->n_batch < n; i++)
        if (s_same_target(self, i, target, not_key)) {
            self->batch[self->n_batch++] = self->queue[i];
            last = i;
        }
    /* The others up to the last one taken move back to close the gap;
     * the consumed front grows (one target: no move at all). */
    size_t w = last + 1;
    for (size_t j = last + 1; j-- > self->head;)
        if (!s_same_target(self, j, target, not_key))
            self->queue[--w] = self->queue[j];
    self->head = w;
    return 0;
}

static void s_done(lt_refcheck_t *self, const char *why);

int lt_refcheck_next(lt_refcheck_t *self, uint64_t request_id, int64_t now_ms,
                     const Lienthong__VerifyRequest **req)
{
    if (self->id)
        return 0;
    while (self->head < self->n) {
        if (s_take(self) != 0) {
            s_batch_free(self);
            return 0;
        }
        if (self->batch[0].outcome != S_NOT_KEY)
            break;
        s_done(self, NULL); /* failed, never sent */
    }
    if (!self->n_batch)
        return 0;
    const s_ref_t *ref = &self->refs[self->batch[0].rule];
    for (size_t i = 0; i < self->n_batch; i++) {
        /* The smallest claim: the referenced key field equals the value. */
        lienthong__claim__init(&self->claims[i]);
        self->claims[i].field = (char *)ref->key_field;
        self->claims[i].value = self->batch[i].value;
        self->claim_ptrs[i] = &self->claims[i];
        lienthong__subject__init(&self->subjects[i]);
        self->subjects[i].key = self->batch[i].value;
        self->subjects[i].n_claims = 1;
        self->subjects[i].claims = &self->claim_ptrs[i];
        self->subject_ptrs[i] = &self->subjects[i];
    }
    lienthong__verify_request__init(&self->req);
    self->req.request_id = request_id;
    self->req.dataset = (char *)ref->target;
    self->req.purpose = self->purpose;
    /* The budget, which each gateway counts on its own clock, and the
     * deadline for an owner of an earlier release (PROTOCOL.md 7.1). */
    self->req.timeout_ms = LT_REFCHECK_WAIT_MS - 1000;
    self->req.deadline_ms = lt_clock_now_ms() + self->req.timeout_ms;
    self->req.n_subjects = self->n_batch;
    self->req.subjects = self->subject_ptrs;
    self->id = request_id;
    self->sent_ms = now_ms;
    *req = &self->req;
    return 1;
}

/* Ends the request in flight: the answered checks go to fn at once, so
 * that the caller records them in one transaction rather than one per
 * answer; the others are unknown (why says why, NULL when all were
 * answered but not as found or missing). */
static void s_done(lt_refcheck_t *self, const char *why)
{
    size_t n = 0, unanswered = 0;
    lt_refcheck_result_t *res = calloc(self->n_batch + 1, sizeof *res);
    char(*reason)[LT_RULES_REASON_MAX] = calloc(self->n_batch + 1, sizeof *reason);
    for (size_t i = 0; res && reason && i < self->n_batch; i++) {
        const s_item_t *it = &self->batch[i];
        const s_ref_t *ref = &self->refs[it->rule];
        if (it->outcome == S_PENDING)
            continue;
        if (it->outcome == S_NOT_KEY)
            snprintf(reason[n], sizeof reason[n],
                     "'%.60s...' is not a key of %s (%zu bytes; at most %d)", it->value,
                     ref->target, strlen(it->value), LT_RECORD_KEY_MAX);
        else
            snprintf(reason[n], sizeof reason[n], "no record '%.60s' in %s", it->value,
                     ref->target);
        res[n] = (lt_refcheck_result_t){.key = it->key,
                                        .cursor = it->cursor,
                                        .rule = ref->id,
                                        .found = it->outcome == S_FOUND,
                                        .reason = reason[n],
                                        .target = ref->target};
        n++;
    }
    if (!res || !reason)
        lt_warn("source", "out of memory recording %zu reference checks", self->n_batch);
    else if (n > 0)
        self->fn(self->arg, res, n);
    for (size_t i = 0; i < self->n_batch; i++)
        unanswered += self->batch[i].outcome == S_PENDING;
    unanswered = res && reason ? unanswered : self->n_batch;
    if (unanswered && why)
        lt_warn("source", "reference check of %zu value(s) in %s has no outcome: %s", unanswered,
                self->req.dataset, why);
    self->unknown += unanswered;
    free(res);
    free(reason);
    s_batch_free(self);
}

int lt_refcheck_answer(lt_refcheck_t *self, const Lienthong__Envelope *env)
{
    if (!self->id)
        return 0;
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
        if (env->error->request_id != self->id)
            return 0;
        s_done(self, env->error->message ? env->error->message : "error");
        return 1;
    }
    if (env->body_case != LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY)
        return 0;
    Lienthong__VerifyAnswer *a = lienthong__verify_answer__unpack(
        NULL, env->verify_reply->answer.len, env->verify_reply->answer.data);
    if (!a || a->request_id != self->id) {
        if (a)
            lienthong__verify_answer__free_unpacked(a, NULL);
        return 0;
    }
    if (!a->key[0]) { /* the whole request refused (7.6) */
        char why[160];
        snprintf(why, sizeof why, "refused with %s", lt_wire_error_name(a->code));
        s_done(self, why);
        lienthong__verify_answer__free_unpacked(a, NULL);
        return 1;
    }
    if (a->index < self->n_batch && strcmp(a->key, self->batch[a->index].value) == 0) {
        /* CLAIM_MATCH passes, ERR_NOT_FOUND fails; anything else (a claim
         * not allowed) stays pending: unknown (PROTOCOL.md 5.7). */
        s_item_t *it = &self->batch[a->index];
        if (a->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND)
            it->outcome = S_MISSING;
        else if (a->code == LIENTHONG__ERROR_CODE__ERR_NONE && a->n_results == 1 &&
                 a->results[0] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH)
            it->outcome = S_FOUND;
    }
    if (a->last)
        s_done(self, "no matching claim");
    lienthong__verify_answer__free_unpacked(a, NULL);
    return 1;
}

void lt_refcheck_tick(lt_refcheck_t *self, int64_t now_ms)
{
    if (self->id && now_ms - self->sent_ms >= LT_REFCHECK_WAIT_MS)
        s_done(self, "timed out");
}

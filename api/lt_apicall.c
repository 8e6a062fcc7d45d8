/* lt_apicall: local-API calls of the HTTP API and their JSON (see lt_apicall.h). */
#include "lt_apicall.h"
#include "lt_apimux.h"
#include "lt_valid.h"
#include "lt_clock.h"
#include "lt_client.h"
#include "lt_file.h"
#include "lt_log.h"
#include "lt_profjson.h"
#include "lt_schema.h"
#include "lt_apisum.h"
#include "lt_tally.h"
#include "lt_wire.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define POOL_MAX 256
#define GRACE_MS 2000 /* the gateway answers ERR_TIMEOUT at the deadline; wait a little longer */
/* Failures (code and detail) counted apart in the log; beyond, one count. */
#define FAILS_MAX 16

/* A failure's particulars, for its reports. */
typedef struct {
    int status;
    char code[32];
    char detail[1024];
} failure_t;

struct _lt_apicall_t {
    char *path;
    /* One ZeroMQ context for every client: a context of its own per client
     * cost an I/O thread and about 7 descriptors each, and a burst of calls
     * exhausted the descriptors (libzmq then aborts the process). */
    void *ctx;
    pthread_mutex_t lock;
    lt_client_t *idle[POOL_MAX];
    size_t n_idle;
    /* The failures' log lines, counted through lt_tally: a call without a
     * token (/readyz, /metrics) fails at once while the gateway is down,
     * and one line each would let any client fill the disk
     * (docs/operations.md, "Limits of the HTTP API"). The reports are
     * written under fail_lock, never held with lock. */
    pthread_mutex_t fail_lock;
    lt_apisum_t sum;    /* how failed's reports read */
    lt_tally_t *failed; /* by code and detail */
    /* Lookups and verifies, many at once down one connection: see
     * lt_apimux.h for why they do not take a client of the pool each. */
    lt_apimux_t *mux;
};

static uint64_t s_answer_id(const Lienthong__Envelope *env, void **answer);
static void s_free_answer(const Lienthong__Envelope *env, void *answer);

/* The words of a report of failed calls (lt_apisum), under fail_lock:
 * the first of a code and detail in full, then counts. */
static void s_describe(void *arg, const lt_tally_report_t *rep, lt_apisum_text_t *x)
{
    (void)arg;
    const failure_t *f = rep->info;
    snprintf(x->first, sizeof x->first, "%d %s: %s", f->status, f->code, f->detail);
    if (rep->kind == LT_TALLY_OTHERS) {
        snprintf(x->what, sizeof x->what, "calls failed");
        snprintf(x->last, sizeof x->last, "%s", x->first);
        return;
    }
    snprintf(x->what, sizeof x->what, "calls failed with %d %s", f->status, f->code);
    snprintf(x->why, sizeof x->why, "%s", f->detail);
}

/* Frees what lt_apicall_new made of self: locks is how many of its two
 * mutexes (lock, then fail_lock) it made. */
static void s_free(lt_apicall_t *self, int locks)
{
    lt_apimux_destroy(&self->mux); /* before the context it has sockets of */
    lt_tally_destroy(&self->failed);
    if (locks > 1)
        pthread_mutex_destroy(&self->fail_lock);
    if (locks > 0)
        pthread_mutex_destroy(&self->lock);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    free(self->path);
    free(self);
}

lt_apicall_t *lt_apicall_new(const char *socket_path, int max_calls, int64_t summary_ms)
{
    lt_apicall_t *self = calloc(1, sizeof *self);
    int locks = 0;
    if (!self)
        return NULL;
    if (pthread_mutex_init(&self->lock, NULL) != 0)
        goto fail;
    locks++;
    if (pthread_mutex_init(&self->fail_lock, NULL) != 0)
        goto fail;
    locks++;
    self->sum = (lt_apisum_t){.interval_ms = summary_ms,
                              .max_keys = FAILS_MAX,
                              .others = "like it",
                              .keys = "failures",
                              .describe = s_describe,
                              .arg = self};
    /* libzmq's default is 1,023 sockets a context: each call in flight and
     * each idle client holds one. */
    if (!(self->path = strdup(socket_path)) || !(self->ctx = zmq_ctx_new()) ||
        zmq_ctx_set(self->ctx, ZMQ_MAX_SOCKETS, max_calls + POOL_MAX + 16) != 0 ||
        !(self->failed = lt_apisum_tally(&self->sum, sizeof(failure_t))) ||
        !(self->mux = lt_apimux_new(self->ctx, socket_path, max_calls, s_answer_id, s_free_answer)))
        goto fail;
    return self;
fail:
    s_free(self, locks);
    return NULL;
}

void lt_apicall_tick(lt_apicall_t *self)
{
    pthread_mutex_lock(&self->fail_lock);
    lt_tally_tick(self->failed);
    pthread_mutex_unlock(&self->fail_lock);
}

void lt_apicall_close(lt_apicall_t *self, const char *why)
{
    if (self && self->mux)
        lt_apimux_close(self->mux, why);
}

void lt_apicall_destroy(lt_apicall_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_apicall_t *self = *self_p;
    for (size_t i = 0; i < self->n_idle; i++)
        lt_client_destroy(&self->idle[i]);
    /* No call left (the HTTP threads are gone): the counts the next
     * interval would have written. */
    lt_tally_flush(self->failed);
    s_free(self, 2); /* every client is closed: the context ends */
    *self_p = NULL;
}

json_t *lt_apicall_error(const char *code, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* The message may quote the request or be cut: jansson takes only UTF-8. */
    return json_pack("{s:s,s:s}", "error", code, "message", lt_valid_sanitise(msg));
}

/* The answer's message of a failure of the API or its gateway, one per
 * code: the detail (a socket's path, libzmq's error, what an answer could
 * not be shown for) is the operator's, in the API's log, not the
 * application's (docs/api/README.md). */
static const char *s_fixed(const char *code)
{
    static const struct {
        const char *code, *message;
    } fixed[] = {
        {"GATEWAY_UNAVAILABLE", "the gateway is not available; the API's log says why"},
        {"ERR_TIMEOUT", "no answer from the gateway in time"},
        {"BAD_ANSWER", "the answer cannot be shown; the API's log says why"},
        {"DIRECTORY_UNAVAILABLE", "the directory cannot be read; the API's log says why"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (strcmp(code, fixed[i].code) == 0)
            return fixed[i].message;
    return "internal error; the API's log says why";
}

static void s_reply(lt_apicall_out_t *out, int status, const char *reason, const char *code)
{
    out->status = status;
    out->reason = reason;
    out->body = lt_apicall_error(code, "%s", s_fixed(code));
}

/* Answers the fixed message of code; detail, unless the same, is logged:
 * the first of a code and detail at once, the others summed up. */
static void s_fail(lt_apicall_t *self, lt_apicall_out_t *out, int status, const char *reason,
                   const char *code, const char *detail)
{
    if (strcmp(detail, s_fixed(code)) != 0) {
        failure_t f = {.status = status};
        char key[LT_TALLY_KEY_MAX];
        snprintf(f.code, sizeof f.code, "%s", code);
        snprintf(f.detail, sizeof f.detail, "%s", detail);
        snprintf(key, sizeof key, "%d %s %s", status, code, detail);
        pthread_mutex_lock(&self->fail_lock);
        lt_tally_note(self->failed, key, &f);
        pthread_mutex_unlock(&self->fail_lock);
    }
    s_reply(out, status, reason, code);
}

void lt_apicall_fail(lt_apicall_t *self, lt_apicall_out_t *out, int status, const char *reason,
                     const char *code, const char *detail)
{
    memset(out, 0, sizeof *out);
    s_fail(self, out, status, reason, code, detail);
}

/* A client from the pool, or a new one; NULL with out set. */
static lt_client_t *s_take(lt_apicall_t *self, lt_apicall_out_t *out)
{
    lt_client_t *c = NULL;
    char err[1024];
    pthread_mutex_lock(&self->lock);
    if (self->n_idle)
        c = self->idle[--self->n_idle];
    pthread_mutex_unlock(&self->lock);
    lt_client_opts_t o;
    lt_client_opts_default(&o);
    o.ctx = self->ctx;
    if (!c && !(c = lt_client_new(self->path, &o, err, sizeof err)))
        s_fail(self, out, 503, "gateway_unavailable", "GATEWAY_UNAVAILABLE", err);
    return c;
}

static void s_give(lt_apicall_t *self, lt_client_t *c, int ok)
{
    pthread_mutex_lock(&self->lock);
    if (ok && self->n_idle < POOL_MAX) {
        self->idle[self->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&self->lock);
    lt_client_destroy(&c);
}

static uint64_t s_request_id(void)
{
    uint64_t id = 0;
    while (!id)
        randombytes_buf(&id, sizeof id);
    return id;
}

static const char *s_code(Lienthong__ErrorCode c)
{
    return c == LIENTHONG__ERROR_CODE__ERR_NONE ? "OK" : lt_wire_error_name(c);
}

/* HTTP status and reason of a code from the owner or the gateway. */
static int s_http_status(Lienthong__ErrorCode c, const char **reason)
{
    switch (c) {
    case LIENTHONG__ERROR_CODE__ERR_NONE:
        *reason = "ok";
        return 200;
    case LIENTHONG__ERROR_CODE__ERR_NOT_FOUND:
        *reason = "not_found";
        return 404;
    case LIENTHONG__ERROR_CODE__ERR_FORBIDDEN:
        *reason = "forbidden_by_owner";
        return 403;
    case LIENTHONG__ERROR_CODE__ERR_PURPOSE:
        *reason = "purpose_by_owner";
        return 403;
    case LIENTHONG__ERROR_CODE__ERR_MALFORMED:
        *reason = "malformed";
        return 400;
    case LIENTHONG__ERROR_CODE__ERR_TOO_LARGE:
        *reason = "too_large";
        return 413;
    case LIENTHONG__ERROR_CODE__ERR_TIMEOUT:
        *reason = "timeout";
        return 504;
    case LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE:
        *reason = "unavailable";
        return 503;
    default:
        *reason = "gateway_error";
        return 502;
    }
}

/* The gateway's Error in env as the call's outcome; 1 when env is one. */
static int s_gateway_error(const Lienthong__Envelope *env, lt_apicall_out_t *out)
{
    if (env->body_case != LIENTHONG__ENVELOPE__BODY_ERROR)
        return 0;
    out->status = s_http_status(env->error->code, &out->reason);
    /* An unsigned ERR_NOT_FOUND is no owner's answer about a key: a dataset
     * or view the directory does not list (or an owner's that it does not
     * own). Same 404, but a refusal of its own reason, so that a not-found
     * rate counts key misses only (docs/operations.md, "Metrics reference"). */
    if (env->error->code == LIENTHONG__ERROR_CODE__ERR_NOT_FOUND)
        out->reason = "unknown_dataset";
    out->body = lt_apicall_error(lt_wire_error_name(env->error->code), "%s", env->error->message);
    return 1;
}

/* The request id an Error, a ProfileReply or a PrefillReply echoes; 0 for
 * any other envelope. */
static uint64_t s_reply_id(const Lienthong__Envelope *env)
{
    switch (env->body_case) {
    case LIENTHONG__ENVELOPE__BODY_ERROR:
        return env->error->request_id;
    case LIENTHONG__ENVELOPE__BODY_PROFILE_REPLY:
        return env->profile_reply->request_id;
    case LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY:
        return env->prefill_reply->request_id;
    default:
        return 0;
    }
}

/* Receives until the reply to request id (of kind want, or an Error) and
 * returns it (free with lt_wire_free); the late replies of an earlier call
 * on this client are dropped. NULL with out set when the time is up or
 * the client failed. */
static Lienthong__Envelope *s_await(lt_apicall_t *self, lt_client_t *c,
                                    Lienthong__Envelope__BodyCase want, uint64_t id, int64_t until,
                                    lt_apicall_out_t *out)
{
    char err[1024];
    for (;;) {
        int64_t left = until - lt_clock_mono_ms();
        Lienthong__Envelope *env = NULL;
        int rc =
            left > 0 ? lt_client_recv(c, (int)left, &env, err, sizeof err) : LT_CLIENT_ERR_TIMEOUT;
        if (rc == LT_CLIENT_ERR_TIMEOUT) {
            s_fail(self, out, 504, "timeout", "ERR_TIMEOUT", "no answer from the gateway in time");
            return NULL;
        }
        if (rc != 0) {
            s_fail(self, out, 503, "gateway_unavailable", "GATEWAY_UNAVAILABLE", err);
            return NULL;
        }
        if ((env->body_case == want || env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) &&
            s_reply_id(env) == id)
            return env;
        lt_wire_free(&env);
    }
}

/* The request id an envelope from the gateway answers (0 if none). */
static uint64_t s_answer_id(const Lienthong__Envelope *env, void **answer)
{
    const Lienthong__SignedAnswer *sa = NULL;
    *answer = NULL;
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        return env->error->request_id;
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY) {
        sa = env->lookup_reply;
        Lienthong__LookupAnswer *a =
            lienthong__lookup_answer__unpack(NULL, sa->answer.len, sa->answer.data);
        *answer = a;
        return a ? a->request_id : 0;
    }
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY) {
        sa = env->verify_reply;
        Lienthong__VerifyAnswer *a =
            lienthong__verify_answer__unpack(NULL, sa->answer.len, sa->answer.data);
        *answer = a;
        return a ? a->request_id : 0;
    }
    return 0;
}

void lt_apicall_unshown(lt_apicall_t *self, lt_apicall_out_t *out, int rc, const char *detail)
{
    if (rc == LT_PROFJSON_UNDECODABLE)
        s_fail(self, out, 502, "bad_answer", "BAD_ANSWER", detail);
    else
        s_fail(self, out, 500, "internal", "INTERNAL", detail);
}

/* ---- lookup ------------------------------------------------------------------------ */

/* The answer as the call's outcome: the status of its code, or (logged)
 * lt_apicall_unshown's when what it released cannot be shown. */
static void s_lookup_out(lt_apicall_t *self, const Lienthong__LookupRequest *q,
                         const Lienthong__LookupAnswer *a, const Lienthong__AnswerContext *ctx,
                         lt_apicall_out_t *out)
{
    char err[512] = "out of memory", detail[1024];
    int rc = LT_PROFJSON_NOMEM;
    json_t *j =
        json_pack("{s:s,s:s,s:s}", "dataset", q->dataset, "key", q->key, "code", s_code(a->code));
    if (j && (rc = lt_profjson_answer(j, a, ctx ? ctx->record_type : NULL, err, sizeof err)) == 0) {
        out->status = s_http_status(a->code, &out->reason);
        out->body = j;
        return;
    }
    json_decref(j);
    snprintf(detail, sizeof detail, "lookup in %s answered by %s: %s", q->dataset, a->owner, err);
    lt_apicall_unshown(self, out, rc, detail);
}

/* Drops from answer a every field of dataset that granted refuses: from
 * "released" and from "fields". How many it dropped. */
static size_t s_filter_answer(json_t *a, const char *dataset,
                              int (*granted)(void *arg, const char *stream, const char *field),
                              void *arg)
{
    json_t *fields = json_object_get(a, "fields"), *released = json_object_get(a, "released"), *v;
    const char *key;
    void *tmp;
    size_t dropped = 0;
    for (size_t i = json_array_size(released); i-- > 0;) {
        const char *f = json_string_value(json_array_get(released, i));
        if (f && !granted(arg, dataset, f) && json_array_remove(released, i) == 0)
            dropped++;
    }
    json_object_foreach_safe(fields, tmp, key, v)
    {
        if (!granted(arg, dataset, key) && json_object_del(fields, key) == 0)
            dropped++;
    }
    return dropped;
}

size_t lt_apicall_grant_filter(json_t *body, const char *dataset,
                               int (*granted)(void *arg, const char *stream, const char *field),
                               void *arg)
{
    json_t *parts = json_object_get(body, "parts"), *p;
    size_t i, dropped = 0;
    if (!json_is_array(parts))
        return s_filter_answer(body, dataset, granted, arg);
    json_array_foreach(parts, i, p)
    {
        const char *ds = json_string_value(json_object_get(p, "dataset"));
        dropped += s_filter_answer(p, ds ? ds : "", granted, arg);
    }
    return dropped;
}

/* ---- verify ------------------------------------------------------------------------ */

/* One key's item of a verify answer; NULL when memory ran out (a claim
 * left out would read as one never asked). */
static json_t *s_verify_item(const lt_apireq_t *req, const Lienthong__VerifyAnswer *v)
{
    json_t *claims = json_array();
    for (size_t c = 0; claims && c < v->n_results; c++)
        if (json_array_append_new(
                claims, json_pack("{s:s,s:s}", "field", lt_apireq_claim_field(req, v->index, c),
                                  "result", lt_wire_claim_name(v->results[c]))) != 0) {
            json_decref(claims);
            return NULL;
        }
    return json_pack("{s:s,s:i,s:s,s:o}", "key", v->key, "index", (int)v->index, "code",
                     s_code(v->code), "claims", claims);
}

/* ---- both ---------------------------------------------------------------------------- */

typedef struct {
    lt_apireq_t *req;
    json_t *results; /* verify: one item per key */
    const char *owner_code_reason;
    int done;
} collect_t;

/* Handles one envelope of this request; sets out when the call is over. */
static void s_on_answer(lt_apicall_t *self, collect_t *k, const Lienthong__Envelope *env,
                        void *answer, lt_apicall_out_t *out)
{
    Lienthong__LookupRequest *lq = lt_apireq_lookup(k->req);
    Lienthong__VerifyRequest *vq = lt_apireq_verify(k->req);
    if (s_gateway_error(env, out)) {
        k->done = 1;
    } else if (lq && env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY) {
        s_lookup_out(self, lq, answer, env->context, out);
        k->done = 1;
    } else if (vq && env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY) {
        const Lienthong__VerifyAnswer *v = answer;
        /* A whole request refused is one answer with an empty key (7.6). */
        if (!v->key[0] && v->last && v->code != LIENTHONG__ERROR_CODE__ERR_NONE) {
            out->status = s_http_status(v->code, &out->reason);
            out->body = lt_apicall_error(s_code(v->code), "the owner %s refused the whole request",
                                         v->owner);
            k->done = 1;
            return;
        }
        /* A key's result left out of a 200 would read as a key never
         * asked: out of memory is the whole call's 500. */
        if (json_array_append_new(k->results, s_verify_item(k->req, v)) != 0) {
            s_fail(self, out, 500, "internal", "INTERNAL", "out of memory for a verify answer");
            k->done = 1;
        } else if (v->last) {
            out->body = json_pack("{s:s,s:s,s:s,s:O}", "dataset", vq->dataset, "owner", v->owner,
                                  "signature", "verified", "results", k->results);
            if (out->body) {
                out->status = 200;
                out->reason = "ok";
            } else
                s_fail(self, out, 500, "internal", "INTERNAL", "out of memory for a verify answer");
            k->done = 1;
        }
    }
}

static void s_free_answer(const Lienthong__Envelope *env, void *answer)
{
    if (!answer)
        return;
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY)
        lienthong__lookup_answer__free_unpacked(answer, NULL);
    else
        lienthong__verify_answer__free_unpacked(answer, NULL);
}

/* A failed wait's answer: 504 when the time is up, else 503. */
static void s_wait_failed(lt_apicall_t *self, int rc, const char *err, lt_apicall_out_t *out)
{
    /* Each code with its status written beside it, as api_client.py
     * checks against docs/api/README.md. */
    if (rc == LT_CLIENT_ERR_TIMEOUT)
        s_fail(self, out, 504, "timeout", "ERR_TIMEOUT", err);
    else
        s_fail(self, out, 503, "gateway_unavailable", "GATEWAY_UNAVAILABLE", err);
}

/* A lookup or verify under way (lt_apicall_query_begin). */
struct _lt_apicall_q_t {
    collect_t k;
    lt_apimux_call_t *call;
    int64_t until; /* monotonic: the request's timeout and a grace */
};

/* Handles one envelope taken for q, or the failure rc; 1 when the call is
 * over (out set). */
static int s_took(lt_apicall_t *self, lt_apicall_q_t *q, int rc, Lienthong__Envelope *env,
                  void *answer, const char *err, lt_apicall_out_t *out)
{
    if (rc != 0) {
        s_wait_failed(self, rc, err, out);
        return 1;
    }
    s_on_answer(self, &q->k, env, answer, out);
    s_free_answer(env, answer);
    lt_wire_free(&env);
    return q->k.done;
}

int lt_apicall_query_begin(lt_apicall_t *self, lt_apireq_t *req, const Lienthong__OnBehalf *who,
                           int timeout_ms, lt_apicall_q_t **q_p, lt_apicall_out_t *out)
{
    Lienthong__LookupRequest *lq = lt_apireq_lookup(req);
    Lienthong__VerifyRequest *vq = lt_apireq_verify(req);
    uint64_t id = s_request_id();
    int64_t deadline = lt_clock_now_ms() + timeout_ms;
    char err[1024];
    uint8_t *frame = NULL;
    size_t len = 0;
    memset(out, 0, sizeof *out);
    lt_apicall_q_t *q = *q_p = calloc(1, sizeof *q);
    if (!q || (vq && !(q->k.results = json_array()))) {
        s_fail(self, out, 500, "internal", "INTERNAL", "out of memory for a call to the gateway");
        goto fail;
    }
    q->k.req = req;
    q->until = lt_clock_mono_ms() + timeout_ms + GRACE_MS;
    /* The budget for every owner (7.1), and the deadline for one of an
     * earlier release, which reads it on its own clock. */
    if (lq)
        lq->request_id = id, lq->deadline_ms = deadline, lq->timeout_ms = (uint32_t)timeout_ms;
    else
        vq->request_id = id, vq->deadline_ms = deadline, vq->timeout_ms = (uint32_t)timeout_ms;
    int rc = lt_client_pack_for(lq ? LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST
                                   : LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST,
                                lq ? (void *)lq : (void *)vq, who, &frame, &len, err, sizeof err);
    if (rc == 0)
        rc = lt_apimux_begin(self->mux, id, frame, len, &q->call, err, sizeof err);
    if (rc == 0)
        return 1;
    s_fail(self, out, 503, "gateway_unavailable", "GATEWAY_UNAVAILABLE", err);
fail:
    lt_apicall_query_end(self, q_p);
    return 0;
}

int lt_apicall_query_step(lt_apicall_t *self, lt_apicall_q_t *q, lt_apicall_out_t *out)
{
    char err[1024];
    for (;;) {
        Lienthong__Envelope *env = NULL;
        void *answer = NULL;
        int rc = lt_apimux_take(self->mux, q->call, q->until, &env, &answer, err, sizeof err);
        if (rc == LT_APIMUX_EMPTY)
            return 1;
        if (s_took(self, q, rc, env, answer, err, out))
            break;
    }
    if (!out->body)
        s_fail(self, out, 500, "internal", "INTERNAL", "out of memory");
    return 0;
}

int lt_apicall_query_watch(lt_apicall_t *self, lt_apicall_q_t *q, void (*ready)(void *arg),
                           void *arg)
{
    return lt_apimux_watch(self->mux, q->call, q->until, ready, arg);
}

void lt_apicall_query_end(lt_apicall_t *self, lt_apicall_q_t **q_p)
{
    if (!q_p || !*q_p)
        return;
    lt_apicall_q_t *q = *q_p;
    lt_apimux_end(self->mux, &q->call);
    json_decref(q->k.results);
    free(q);
    *q_p = NULL;
}

/* ---- profile ------------------------------------------------------------------------- */

void lt_apicall_profile(lt_apicall_t *self, Lienthong__ProfileRequest *q,
                        const Lienthong__OnBehalf *who, int timeout_ms, lt_apicall_out_t *out)
{
    char err[1024];
    Lienthong__Envelope *env = NULL;
    memset(out, 0, sizeof *out);
    q->request_id = s_request_id();
    q->deadline_ms = (uint32_t)timeout_ms;
    lt_client_t *c = s_take(self, out);
    if (c) {
        if (lt_client_send_for(c, LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST, q, who, timeout_ms,
                               err, sizeof err) != 0)
            s_fail(self, out, 503, "gateway_unavailable", "GATEWAY_UNAVAILABLE", err);
        else if ((env = s_await(self, c, LIENTHONG__ENVELOPE__BODY_PROFILE_REPLY, q->request_id,
                                lt_clock_mono_ms() + timeout_ms + GRACE_MS, out)) &&
                 !s_gateway_error(env, out)) {
            char why[512], detail[1024];
            int rc = lt_profjson_reply(env->profile_reply, q->key, q->purpose, &out->body, why,
                                       sizeof why);
            out->status = 200;
            out->reason = "ok";
            if (rc != 0) {
                snprintf(detail, sizeof detail, "profile for purpose %s: %s", q->purpose, why);
                lt_apicall_unshown(self, out, rc, detail);
            }
        }
        s_give(self, c, env != NULL);
    }
    lt_wire_free(&env);
    if (!out->body)
        s_fail(self, out, 500, "internal", "INTERNAL", "out of memory");
}

/* Sends a body-less request and waits for the reply of type want (these
 * local replies carry no request id: a fresh client never sees a stale one).
 * A gateway that took the request but did not answer in time fails as
 * every other call does, 504 ERR_TIMEOUT; one that cannot be reached, 503
 * GATEWAY_UNAVAILABLE (docs/api/README.md, Error codes). */
static Lienthong__Envelope *s_ask(lt_apicall_t *self, Lienthong__Envelope__BodyCase type,
                                  void *body, Lienthong__Envelope__BodyCase want, int timeout_ms,
                                  lt_apicall_out_t *out)
{
    Lienthong__Envelope *env = NULL;
    char err[1024];
    memset(out, 0, sizeof *out);
    lt_client_t *c = s_take(self, out);
    if (!c)
        return NULL;
    int rc = lt_client_send(c, type, body, timeout_ms, err, sizeof err);
    while (rc == 0 && (rc = lt_client_recv(c, timeout_ms, &env, err, sizeof err)) == 0 &&
           env->body_case != want)
        lt_wire_free(&env);
    if (rc == LT_CLIENT_ERR_TIMEOUT)
        s_fail(self, out, 504, "timeout", "ERR_TIMEOUT", err);
    else if (rc != 0)
        s_fail(self, out, 503, "gateway_unavailable", "GATEWAY_UNAVAILABLE", err);
    s_give(self, c, rc == 0);
    return env;
}

int lt_apicall_metrics(lt_apicall_t *self, int timeout_ms, char **text, size_t *len,
                       lt_apicall_out_t *out)
{
    Lienthong__MetricsRequest q = LIENTHONG__METRICS_REQUEST__INIT;
    Lienthong__Envelope *env = s_ask(self, LIENTHONG__ENVELOPE__BODY_METRICS_REQUEST, &q,
                                     LIENTHONG__ENVELOPE__BODY_METRICS_REPLY, timeout_ms, out);
    if (!env)
        return -1;
    *len = strlen(env->metrics_reply->text);
    *text = strdup(env->metrics_reply->text);
    lt_wire_free(&env);
    if (!*text) {
        s_fail(self, out, 500, "internal", "INTERNAL", "out of memory");
        return -1;
    }
    return 0;
}

Lienthong__Envelope *lt_apicall_status(lt_apicall_t *self, int timeout_ms, lt_apicall_out_t *out)
{
    Lienthong__StatusRequest q = LIENTHONG__STATUS_REQUEST__INIT;
    return s_ask(self, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &q,
                 LIENTHONG__ENVELOPE__BODY_STATUS_REPLY, timeout_ms, out);
}

/* One subscriber line; a disconnected one says since when and why (8.3).
 * NULL when memory ran out. */
static json_t *s_subscriber_json(const Lienthong__SubscriberStatus *sub)
{
    json_t *j = json_pack("{s:s,s:I,s:I,s:b,s:f}", "member", sub->member, "cursor",
                          (json_int_t)sub->cursor, "lag", (json_int_t)sub->lag, "disconnected",
                          sub->disconnected, "lag_seconds", sub->lag_seconds);
    if (j && sub->disconnected &&
        (json_object_set_new(j, "disconnected_since_ms",
                             json_integer(sub->disconnected_since_ms)) != 0 ||
         json_object_set_new(j, "reason", json_string(sub->reason)) != 0))
        json_decref(j), j = NULL;
    return j;
}

/* The quality figures of a stream (PROTOCOL.md 8.9) added to its object;
 * 0, or -1 when memory ran out. */
static int s_quality_json(json_t *j, const Lienthong__StreamStatus *s)
{
    const Lienthong__StreamCompleteness *c = s->completeness;
    if (json_object_set_new(j, "newest_change_ms", json_integer(s->newest_change_ms)) != 0)
        return -1;
    if (!c)
        return 0;
    json_t *fields = json_array();
    for (size_t i = 0; fields && i < c->n_fields; i++)
        if (json_array_append_new(fields, json_pack("{s:s,s:i,s:I}", "field", c->fields[i]->field,
                                                    "number", (int)c->fields[i]->number, "present",
                                                    (json_int_t)c->fields[i]->present)) != 0)
            json_decref(fields), fields = NULL;
    /* Both set, whatever the first gives: the second takes fields, which
     * would leak were it skipped. */
    int rc = json_object_set_new(j, "records", json_integer((json_int_t)c->records));
    rc |= json_object_set_new(j, "fields", fields);
    return rc ? -1 : 0;
}

/* One peer's line: clock_offset_ms only when its Hellos carry their
 * sending time (PROTOCOL.md 5.1), so that an unknown offset does not read
 * as clocks in agreement. NULL when memory ran out. */
static json_t *s_peer_json(const Lienthong__PeerStatus *p)
{
    json_t *o =
        json_pack("{s:s,s:b,s:I,s:I}", "member", p->member, "connected", p->connected, "since_ms",
                  (json_int_t)p->since_ms, "directory_version", (json_int_t)p->directory_version);
    if (o && p->clock_offset_known &&
        json_object_set_new(o, "clock_offset_ms", json_integer((json_int_t)p->clock_offset_ms)) !=
            0)
        json_decref(o), o = NULL;
    return o;
}

/* Every peer with a link or an incoming connection, connected or not;
 * NULL when memory ran out. */
static json_t *s_peers_json(const Lienthong__StatusReply *st)
{
    json_t *peers = json_array();
    for (size_t i = 0; peers && i < st->n_peers; i++)
        if (json_array_append_new(peers, s_peer_json(st->peers[i])) != 0)
            json_decref(peers), peers = NULL;
    return peers;
}

/* One stream of a status; NULL when memory ran out. */
static json_t *s_stream_json(const Lienthong__StreamStatus *s)
{
    json_t *subs = json_array();
    for (size_t i = 0; subs && i < s->n_subscribers; i++)
        if (json_array_append_new(subs, s_subscriber_json(s->subscribers[i])) != 0)
            json_decref(subs), subs = NULL;
    json_t *j = json_pack("{s:s,s:s,s:I,s:f,s:o}", "stream", s->stream, "role", s->role, "last_seq",
                          (json_int_t)s->last_seq, "records_per_sec", s->records_per_sec,
                          "subscribers", subs);
    if (j && s_quality_json(j, s) != 0)
        json_decref(j), j = NULL;
    return j;
}

Lienthong__Envelope *lt_apicall_ready(lt_apicall_t *self, int timeout_ms, lt_apicall_out_t *out)
{
    Lienthong__ReadyRequest q = LIENTHONG__READY_REQUEST__INIT;
    return s_ask(self, LIENTHONG__ENVELOPE__BODY_READY_REQUEST, &q,
                 LIENTHONG__ENVELOPE__BODY_READY_REPLY, timeout_ms, out);
}

json_t *lt_apicall_status_json(const Lienthong__StatusReply *st)
{
    json_t *streams = json_array(), *peers = json_array();
    /* A peer or a stream left out would pass for one the gateway lacks. */
    for (size_t i = 0; peers && i < st->n_peers_connected; i++)
        if (json_array_append_new(peers, json_string(st->peers_connected[i])) != 0)
            json_decref(peers), peers = NULL;
    for (size_t i = 0; streams && i < st->n_streams; i++)
        if (json_array_append_new(streams, s_stream_json(st->streams[i])) != 0)
            json_decref(streams), streams = NULL;
    return json_pack("{s:s,s:I,s:I,s:b,s:o,s:o,s:I,s:o}", "member", st->member, "directory_version",
                     (json_int_t)st->directory_version, "directory_expires_at",
                     (json_int_t)st->directory_expires_at, "directory_expired",
                     st->directory_expired, "peers_connected", peers, "peers", s_peers_json(st),
                     "refused", (json_int_t)st->refused, "streams", streams);
}

/* ---- pre-fill (PROTOCOL.md 8.8) ------------------------------------------------------ */

Lienthong__Envelope *lt_apicall_prefill(lt_apicall_t *self, Lienthong__PrefillRequest *q,
                                        const Lienthong__OnBehalf *who, int timeout_ms,
                                        lt_apicall_out_t *out)
{
    char err[1024];
    Lienthong__Envelope *env = NULL;
    memset(out, 0, sizeof *out);
    q->request_id = s_request_id();
    lt_client_t *c = s_take(self, out);
    if (!c)
        return NULL;
    if (lt_client_send_for(c, LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST, q, who, timeout_ms, err,
                           sizeof err) != 0)
        s_fail(self, out, 503, "gateway_unavailable", "GATEWAY_UNAVAILABLE", err);
    else
        env = s_await(self, c, LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY, q->request_id,
                      lt_clock_mono_ms() + timeout_ms, out);
    s_give(self, c, env != NULL);
    if (env && s_gateway_error(env, out))
        lt_wire_free(&env);
    return env;
}

int lt_apicall_prefill_streams(const Lienthong__StatusReply *st,
                               int (*usable)(void *arg, const char *stream), void *arg,
                               char **streams, size_t *n, char *err, size_t errlen)
{
    size_t count = 0;
    for (size_t i = 0; i < st->n_streams; i++)
        if (strcmp(st->streams[i]->role, "replica") == 0 && usable(arg, st->streams[i]->stream)) {
            if (count < LT_PREFILL_MAX_STREAMS)
                streams[count] = st->streams[i]->stream;
            count++;
        }
    if (count > LT_PREFILL_MAX_STREAMS) {
        snprintf(err, errlen,
                 "%zu replicated streams are granted to the application for this purpose, more "
                 "than the %d a pre-fill reads; name the streams to read with 'stream', at most "
                 "%d a request",
                 count, LT_PREFILL_MAX_STREAMS, LT_PREFILL_MAX_STREAMS);
        return -1;
    }
    *n = count;
    return 0;
}

/* 1 when the part's stream holds field: a view's fields, a dataset's all. */
static int s_in_stream(const Lienthong__PrefillPart *p, const char *field)
{
    for (size_t i = 0; i < p->n_fields; i++)
        if (strcmp(p->fields[i], field) == 0)
            return 1;
    return p->n_fields == 0;
}

/* The fields of part p's record rec (of type t; NULL when not found) into
 * fields, those of the stream not granted into withheld: 0, or -1 when
 * out of memory. Every field of the stream not granted is withheld, set in
 * this record or not: listing only those set would tell whether the record
 * has them (a date of death). */
static int s_prefill_fields(const Lienthong__PrefillPart *p, const ProtobufCMessageDescriptor *t,
                            const ProtobufCMessage *rec,
                            int (*granted)(void *arg, const char *stream, const char *field),
                            void *arg, json_t *fields, json_t *withheld)
{
    char buf[1024];
    int lost = 0;
    for (unsigned i = 0; t && i < t->n_fields; i++) {
        const ProtobufCFieldDescriptor *fd = &t->fields[i];
        if (!s_in_stream(p, fd->name))
            continue;
        if (!granted(arg, p->stream, fd->name)) {
            lost |=
                json_array_append_new(withheld, json_pack("{s:s,s:s}", "field", fd->name, "reason",
                                                          "not granted to the application"));
            continue;
        }
        const char *val =
            rec && lt_schema_set(rec, fd) ? lt_schema_text(rec, fd, buf, sizeof buf) : NULL;
        if (val)
            lost |= json_object_set_new(fields, fd->name, json_string(val));
    }
    return lost ? -1 : 0;
}

/* Part p's record as JSON in *out; 0, or LT_PROFJSON_* with err (the
 * part is found and its payload does not decode, or out of memory). */
static int s_prefill_part(const Lienthong__PrefillPart *p,
                          int (*granted)(void *arg, const char *stream, const char *field),
                          void *arg, json_t **out, char *err, size_t errlen)
{
    const ProtobufCMessageDescriptor *t = lt_schema_find(p->record_type);
    ProtobufCMessage *rec = NULL;
    /* A replica's payload is the owner's bytes as fed: checked as an
     * answer's is, so that a string not UTF-8 or holding a NUL is an error
     * naming it, never "out of memory" nor a value cut short and shown as
     * the owner's. */
    if (p->found && !(rec = lt_profjson_decode(t, p->record_type, &p->payload, err, errlen))) {
        char why[512];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "stream %s: %s", p->stream, why);
        return LT_PROFJSON_UNDECODABLE;
    }
    json_t *fields = json_object(), *withheld = json_array();
    int lost =
        !fields || !withheld || s_prefill_fields(p, t, rec, granted, arg, fields, withheld) != 0;
    if (rec)
        protobuf_c_message_free_unpacked(rec, NULL);
    /* A field missing from "fields" would read as one not set, and one
     * missing from "withheld" as one the record lacks. */
    if (lost) {
        json_decref(fields);
        json_decref(withheld);
        *out = NULL;
        snprintf(err, errlen, "out of memory");
        return LT_PROFJSON_NOMEM;
    }
    *out = json_pack(
        "{s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:o,s:o,s:{s:s,s:s,s:I,s:I,s:I}}", "stream", p->stream,
        "dataset", p->dataset, "owner", p->owner, "record_type", p->record_type, "found", p->found,
        "seq", (json_int_t)p->seq, "changed_at_ms", (json_int_t)p->changed_at_ms, "fields", fields,
        "withheld", withheld, "replica", "state", p->state, "detail", p->detail, "seq",
        (json_int_t)p->replica_seq, "changed_at_ms", (json_int_t)p->replica_changed_at_ms,
        "owner_heard_at_ms", (json_int_t)p->owner_heard_at_ms);
    if (*out)
        return 0;
    snprintf(err, errlen, "out of memory");
    return LT_PROFJSON_NOMEM;
}

int lt_apicall_prefill_json(const Lienthong__PrefillReply *r, const char *member,
                            int (*granted)(void *arg, const char *stream, const char *field),
                            void *arg, size_t *found, json_t **out, char *err, size_t errlen)
{
    json_t *parts = json_array(), *part = NULL;
    int rc = LT_PROFJSON_NOMEM;
    *found = 0;
    *out = NULL;
    snprintf(err, errlen, "out of memory");
    for (size_t i = 0; parts && i < r->n_parts; i++) {
        *found += r->parts[i]->found;
        if ((rc = s_prefill_part(r->parts[i], granted, arg, &part, err, errlen)) != 0 ||
            json_array_append_new(parts, part) != 0) {
            json_decref(parts);
            return rc ? rc : LT_PROFJSON_NOMEM;
        }
    }
    /* No owner was asked: the records are the replicas', verified when
     * their batches were applied (PROTOCOL.md 6.5). */
    *out = json_pack("{s:s,s:s,s:s,s:I,s:o}", "key", r->key, "member", member, "source", "replicas",
                     "answered_at_ms", (json_int_t)r->answered_at_ms, "parts", parts);
    return *out ? 0 : LT_PROFJSON_NOMEM;
}

/* lt_query: owner execution, answer signing, caller forwarding and checks. */
#include "lt_query.h"
#include "lt_arena.h"
#include "lt_clock.h"
#include "lt_crypto.h"
#include "lt_dedup.h"
#include "lt_feed.h"
#include "lt_file.h"
#include "lt_gwstats.h"
#include "lt_log.h"
#include "lt_norm.h"
#include "lt_peers.h"
#include "lt_publish.h"
#include "lt_recent.h"
#include "lt_refuse.h"
#include "lt_schema.h"
#include "lt_tally.h"
#include "lt_valid.h"
#include "lt_vmiss.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <utlist.h>
#include <zmq.h>

#define SIGN_BATCH LT_ANSWERS_MAX
/* Requests are remembered as long as their deadline may be ahead. */
#define DEDUP_MS   LT_QUERY_MAX_AHEAD_MS
#define ATTEMPT_MS 1000
/* One record and its payload decoded: a block holds them. */
#define QUERY_ARENA_BLOCK (16u << 10)
/* Room for the fields of an audit entry, the owner's or a made one: a
 * lookup's fields or one key's claim fields, each a field name of at most
 * LT_QUERY_MAX_FIELD_NAME bytes (lt_valid, PROTOCOL.md 7.5, 7.6), joined by
 * commas. On the stack: the whole list is audited without an allocation. */
#define AUDIT_FIELDS_MAX                                                                           \
    ((LT_QUERY_MAX_FIELDS > LT_QUERY_MAX_CLAIMS ? LT_QUERY_MAX_FIELDS : LT_QUERY_MAX_CLAIMS) *     \
     (LT_QUERY_MAX_FIELD_NAME + 1))
/* Room for a verify entry's detail: the code's name, then each claim's
 * result, " not-allowed" at the longest. */
#define AUDIT_DETAIL_MAX (64 + LT_QUERY_MAX_CLAIMS * sizeof " not-allowed")

/* Owner: bytes of an entry's bookkeeping (itself and its index slots),
 * and of one stored answer's beyond its answer bytes (the frame and its
 * allocation, the signature, the Merkle path of a full batch, the envelope's
 * fields): what the budgets count, charged when the answer is queued. */
#define ENTRY_BYTES (sizeof(dedup_t) + 32)
#define KEPT_PATH   8 /* log2(SIGN_BATCH) */
#define KEPT_BYTES  (2 * sizeof(zmq_msg_t) + LT_SIG_BYTES + KEPT_PATH * (LT_HASH_BYTES + 2) + 32)
_Static_assert((1u << KEPT_PATH) >= SIGN_BATCH, "a stored answer's Merkle path is counted whole");

/* Owner: what one caller has in the dedup store, against its budget. */
typedef struct caller_s {
    char member[LT_ID_MAX];
    size_t entries, bytes;
    size_t refused;         /* entries that hold a refusal (ERR_FORBIDDEN, ...) */
    struct dedup_s *oldest; /* its entries, oldest first (utlist, cprev/cnext) */
    UT_hash_handle hh;
} caller_t;

/* Owner: what one (caller, request_id) produced, kept for retries. */
typedef struct {
    char member[LT_ID_MAX];
    uint64_t id;
} dedup_key_t;

typedef struct dedup_s {
    dedup_key_t key;
    uint8_t
        hash[LT_HASH_BYTES]; /* of the request's bytes: a local id reused for others is refused */
    int64_t at;              /* monotonic ms when first seen */
    int64_t started_us;      /* monotonic us when first seen, for the latency */
    int complete;            /* all answers signed and stored */
    zmq_msg_t *frames;       /* stored SignedAnswer envelopes */
    size_t n_frames;
    caller_t *caller;              /* whose budget it counts against */
    size_t bytes;                  /* counted against it and the total */
    int refused;                   /* holds a refusal */
    struct dedup_s *prev, *next;   /* in the order first seen (utlist) */
    struct dedup_s *cprev, *cnext; /* the same among its caller's */
} dedup_t;

/* Owner: an answer awaiting the batch signature. */
typedef struct {
    void *sock;              /* where the answer goes: the peer ROUTER, or the local one */
    const char *record_type; /* answer context for a local client that asked (8.4), or NULL */
    uint8_t rid[LT_RID_MAX];
    size_t rid_len;
    dedup_t *entry;
    int is_verify;
    int last;           /* the request's final answer */
    int64_t started_us; /* monotonic us when the request arrived */
    uint8_t *bytes;
    size_t len;
} pending_t;

/* Caller: a request forwarded to an owner. */
typedef struct {
    uint64_t id;
    uint8_t rid[LT_RID_MAX]; /* the application's routing id */
    size_t rid_len;
    char owner[LT_ID_MAX];
    zmq_msg_t frame; /* exact bytes to (re)send */
    uint8_t hash[LT_HASH_BYTES];
    uint8_t who[LT_HASH_BYTES]; /* the hash and on_behalf: what a retry must match (8.3) */
    int is_verify;
    size_t n_keys;
    char **keys;
    uint8_t *seen; /* verify: answered indexes */
    size_t n_seen;
    int64_t deadline; /* monotonic ms */
    int64_t next_at;
    int64_t attempt_ms;
    int attempts;
    char *record_type;  /* the application asked for answer context (8.4) */
    int64_t started_us; /* monotonic us when the application asked */
    char *owner_said;   /* the owner's last transient Error, for the timeout's message */
    int sent;           /* times handed to the link; once at least: the owner may answer its id */
    int unsent;         /* tries in a row that found no room on the link (s_out_send) */
    int linked;         /* its owner's link was connected since it was accepted (7.4) */
    size_t cost;        /* its share of self->out_bytes (s_out_cost) */
    lt_query_done_fn
        done; /* made by another module (lt_query_lookup_for): its outcome goes there */
    void *done_arg;
    UT_hash_handle hh;
} outstanding_t;

/* The statistics of one operation (lookup or verify), both sides. */
typedef struct {
    lt_stats_series_t *executed, *replayed, *latency;                        /* owner */
    lt_stats_series_t *made, *answered, *timeouts, *unreachable, *caller_us; /* caller */
    lt_gwstats_codes_t refused; /* owner, by error code */
} op_stats_t;

enum { OP_LOOKUP, OP_VERIFY, N_OPS };

/* What a flush did to the request being executed (s_forget). */
typedef enum {
    GONE_NOT = 0,  /* nothing: it runs on */
    GONE_REFUSED,  /* refused with ERR_UNAVAILABLE, the audit log being down */
    GONE_FORGOTTEN /* its answers could not be signed: nothing was sent */
} gone_t;

struct _lt_query_t {
    const lt_gwctx_t *ctx;
    lt_dedup_t *dedup; /* the entries by key */
    dedup_t *seen;     /* the same, oldest first */
    caller_t *callers; /* what each caller has in it */
    size_t bytes;      /* what all have */
    lt_query_budget_t budget;
    pending_t pending[SIGN_BATCH];
    size_t n_pending;
    uint64_t audit_drops; /* lt_audit_drops when the pending answers began */
    /* The request being executed, and what a flush inside it did to it: a
     * flush that refuses or forgets the pending answers must not free the
     * request still running (s_forget). */
    dedup_t *executing;
    gone_t executing_gone;
    outstanding_t *out;
    size_t out_bytes; /* what out holds, at most LT_QUERY_MAX_OUTSTANDING_BYTES */
    /* Caller: the clock of out's attempt timers and deadlines (s_out_now). */
    int64_t (*out_now)(void *arg);
    void *out_now_arg;
    /* Caller: the ids of requests that were outstanding in the last 10
     * minutes, with their hashes, so that other bytes under one are refused
     * at once (PROTOCOL.md 8.3). */
    lt_recent_t *recent;
    struct {
        char owner[LT_ID_MAX];
        uint8_t root[LT_HASH_BYTES];
        uint8_t sig[LT_SIG_BYTES];
    } roots[LT_ANSWERS_ROOT_CACHE];
    size_t next_root;
    op_stats_t ops[N_OPS];
    lt_stats_series_t *rejected; /* caller: answers dropped as forged or replayed */
    lt_refuse_t *refusals;       /* owner: log lines of refused lookups and verifies */
    lt_tally_t *ended;           /* caller: log lines of requests ended unanswered (s_log_ended) */
    lt_vmiss_t *misses;          /* owner: each caller's verify no-matches (7.6) */
    lt_stats_family_t *over;     /* owner: claims misses refused, by caller */
    /* Owner: the record an answer is made from, decoded (lt_arena.h) and
     * taken back once the answer is queued. */
    lt_arena_t *arena;
    uint64_t turn_work; /* owner: of the requests executed this turn (lt_query_turn_done) */
};

/* Appends src to buf (holding o bytes, cap in all), cut to fit; returns the
 * new length. A copy on every request: no printf machinery. */
static size_t s_append(char *buf, size_t o, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (o + 1 >= cap)
        return o;
    if (n > cap - 1 - o)
        n = cap - 1 - o;
    memcpy(buf + o, src, n);
    buf[o + n] = 0;
    return o + n;
}

/* Joins names with commas into buf, cut to fit. */
static const char *s_join(char *const *names, size_t n, char *buf, size_t len)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n; i++)
        o = s_append(buf, i ? s_append(buf, o, len, ",") : o, len, names[i]);
    return buf;
}

/* The field names of claims (at most LT_QUERY_MAX_CLAIMS: lt_valid_verify),
 * joined by commas into buf. */
static const char *s_claim_fields(Lienthong__Claim *const *claims, size_t n, char *buf, size_t len)
{
    char *names[LT_QUERY_MAX_CLAIMS];
    if (n > LT_QUERY_MAX_CLAIMS)
        n = LT_QUERY_MAX_CLAIMS;
    for (size_t c = 0; c < n; c++)
        names[c] = claims[c]->field;
    return s_join(names, n, buf, len);
}

/* A family of this module: counter or latency, labelled by op and, for
 * served, outcome. */
static lt_stats_series_t *s_series(lt_stats_t *stats, const char *name, const char *help,
                                   lt_stats_kind_t kind, const char *op, const char *outcome)
{
    lt_stats_def_t def = {.name = name,
                          .help = help,
                          .kind = kind,
                          .n_labels = outcome ? 2 : 1,
                          .labels = {"op", "outcome"},
                          .max_series = 8,
                          .unit = kind == LT_STATS_HISTOGRAM ? LT_STATS_UNIT_SECONDS
                                                             : LT_STATS_UNIT_NONE};
    return lt_gwstats_series(stats, &def, (const char *const[]){op, outcome});
}

static int s_op_stats(lt_stats_t *st, op_stats_t *o, const char *op)
{
    static const lt_stats_def_t refused = {
        .name = "lienthong_query_refused",
        .help = "Lookup and verify requests from peers refused, by error code",
        .kind = LT_STATS_COUNTER,
        .n_labels = 2,
        .labels = {"op", "reason"},
        .max_series = 40};
    const char *served = "Lookup and verify requests from peers executed, or replayed from the "
                         "dedup store";
    o->executed = s_series(st, "lienthong_query_served", served, LT_STATS_COUNTER, op, "executed");
    o->replayed = s_series(st, "lienthong_query_served", served, LT_STATS_COUNTER, op, "replayed");
    o->latency = s_series(st, "lienthong_query_latency",
                          "Owner: time from a request's arrival to its signed answer sent",
                          LT_STATS_HISTOGRAM, op, NULL);
    o->made = s_series(st, "lienthong_query_made",
                       "Caller: requests from local applications "
                       "forwarded to their owner",
                       LT_STATS_COUNTER, op, NULL);
    o->answered = s_series(st, "lienthong_query_answered",
                           "Caller: requests whose verified "
                           "answers were handed to the application",
                           LT_STATS_COUNTER, op, NULL);
    o->timeouts = s_series(st, "lienthong_query_timeouts",
                           "Caller: requests ended with ERR_TIMEOUT at their deadline, here or at "
                           "the owner",
                           LT_STATS_COUNTER, op, NULL);
    o->unreachable = s_series(st, "lienthong_query_unreachable",
                              "Caller: requests from local applications ended with ERR_UNAVAILABLE "
                              "at their deadline, the owner's gateway not connected",
                              LT_STATS_COUNTER, op, NULL);
    o->caller_us = s_series(st, "lienthong_query_caller_latency",
                            "Caller: time from a local "
                            "request to its last answer delivered",
                            LT_STATS_HISTOGRAM, op, NULL);
    int ok = o->executed && o->replayed && o->latency && o->made && o->answered && o->timeouts &&
             o->unreachable && o->caller_us;
    return ok ? lt_gwstats_codes_init(&o->refused, st, &refused, op) : -1;
}

/* lt_dedup's test of an entry's key. */
static int s_same(const void *entry, const char *member, uint64_t id)
{
    const dedup_t *d = entry;
    return d->key.id == id && strcmp(d->key.member, member) == 0;
}

/* Caller: one request that ended without an answer, for its log line. */
typedef struct {
    char owner[LT_ID_MAX];
    char how[16];  /* "timed out", "ended": with the owner, the key */
    char why[512]; /* ": why" or " after N attempt(s)", and what the owner last said */
    uint64_t id;
} ended_t;

static void s_report_ended(void *arg, const lt_tally_report_t *rep)
{
    (void)arg;
    const ended_t *e = rep->info;
    unsigned long long n = (unsigned long long)rep->count, id = (unsigned long long)e->id;
    if (rep->kind == LT_TALLY_FIRST)
        lt_warn("query", "request %llu to %s %s%s", id, e->owner, e->how, e->why);
    else if (rep->kind == LT_TALLY_COUNT)
        lt_warn("query", "%llu more requests to %s %s in %lld s (last: request %llu%s)", n,
                e->owner, e->how, (long long)rep->seconds, id, e->why);
    else
        lt_warn("query",
                "%llu more requests ended unanswered in %lld s to owners beyond the %d tracked "
                "(last: request %llu to %s %s%s)",
                n, (long long)rep->seconds, LT_REFUSE_MAX_SOURCES, id, e->owner, e->how, e->why);
}

/* Logs a request to an owner that ended without its answer ("timed out",
 * "ended"; tail says more) per (owner, how) through lt_tally: the first at
 * once, later ones as one line per interval with their count, so that an
 * owner refusing or ignoring every request cannot make a line of each
 * (docs/operations.md, "Errors from other members"). */
static void s_log_ended(lt_query_t *self, const outstanding_t *o, const char *how, const char *tail)
{
    ended_t e = {.id = o->id};
    snprintf(e.owner, sizeof e.owner, "%s", o->owner);
    snprintf(e.how, sizeof e.how, "%s", how);
    const char *said = o->owner_said ? o->owner_said : "";
    int cut = lt_valid_cut(said, sizeof e.why / 2);
    snprintf(e.why, sizeof e.why, "%s%s%.*s", tail, cut ? "; the owner last said " : "", cut, said);
    char key[LT_ID_MAX + sizeof e.how + 1];
    snprintf(key, sizeof key, "%s\n%s", e.owner, e.how);
    lt_tally_note(self->ended, key, &e);
}

lt_query_t *lt_query_new(const lt_gwctx_t *ctx)
{
    static const lt_stats_def_t rejected = {
        .name = "lienthong_query_rejected_answers",
        .help = "Caller: answers dropped as forged, replayed or not matching a request",
        .kind = LT_STATS_COUNTER};
    /* By caller: the member guessing is what an operator looks for. Callers
     * are members the directory lists; past the bound, `other`. */
    static const lt_stats_def_t over = {
        .name = "lienthong_verify_budget_refusals",
        .help = "Owner: verify claims answered CLAIM_NOT_ALLOWED because the caller's budget of "
                "no-matches on the key's field was spent (PROTOCOL.md 7.6), by caller",
        .kind = LT_STATS_COUNTER,
        .n_labels = 1,
        .labels = {"member"},
        .max_series = 512};
    lt_query_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->budget = (lt_query_budget_t){.entries = LT_QUERY_DEDUP_MAX,
                                       .bytes = LT_QUERY_DEDUP_BYTES,
                                       .caller_entries = LT_QUERY_DEDUP_CALLER_MAX,
                                       .caller_bytes = LT_QUERY_DEDUP_CALLER_BYTES,
                                       .caller_refused = LT_QUERY_DEDUP_CALLER_REFUSED};
    if (!(self->arena = lt_arena_new(QUERY_ARENA_BLOCK, 0)) ||
        !(self->dedup = lt_dedup_new(s_same)) ||
        !(self->recent = lt_recent_new(LT_QUERY_DEDUP_MAX, DEDUP_MS)) ||
        s_op_stats(ctx->stats, &self->ops[OP_LOOKUP], "lookup") != 0 ||
        s_op_stats(ctx->stats, &self->ops[OP_VERIFY], "verify") != 0 ||
        !(self->rejected = lt_gwstats_series(ctx->stats, &rejected, NULL)) ||
        !(self->refusals = lt_refuse_new("query", "request", 0, 0)) ||
        !(self->ended = lt_tally_new(LT_REFUSE_INTERVAL_MS, LT_REFUSE_MAX_SOURCES, sizeof(ended_t),
                                     s_report_ended, NULL)) ||
        !(self->misses = lt_vmiss_new(NULL)) ||
        lt_stats_register(ctx->stats, &over, &self->over) != 0)
        lt_query_destroy(&self);
    else /* at 0 from the start, so that a rate sees the first refusal */
        lt_gwstats_verifiers(self->over, ctx->dir, ctx->cfg ? ctx->cfg->member : NULL);
    return self;
}

void lt_query_set_budget(lt_query_t *self, const lt_query_budget_t *budget)
{
    self->budget = *budget;
}

void lt_query_set_refuse_clock(lt_query_t *self, int64_t (*now_ms)(void *arg), void *arg)
{
    lt_refuse_set_clock(self->refusals, now_ms, arg);
    lt_tally_set_clock(self->ended, now_ms, arg);
}

void lt_query_set_miss_clock(lt_query_t *self, int64_t (*now_ms)(void *arg), void *arg)
{
    lt_vmiss_set_clock(self->misses, now_ms, arg);
}

void lt_query_set_attempt_clock(lt_query_t *self, int64_t (*now_ms)(void *arg), void *arg)
{
    self->out_now = now_ms;
    self->out_now_arg = arg;
}

/* Caller: the monotonic clock in ms that times outstanding requests. */
static int64_t s_out_now(const lt_query_t *self)
{
    return self->out_now ? self->out_now(self->out_now_arg) : lt_clock_mono_ms();
}

size_t lt_query_dedup_bytes(const lt_query_t *self, const char *caller, size_t *entries)
{
    caller_t *c = NULL;
    if (caller)
        HASH_FIND_STR(self->callers, caller, c);
    if (entries)
        *entries = !caller ? lt_dedup_count(self->dedup) : c ? c->entries : 0;
    return !caller ? self->bytes : c ? c->bytes : 0;
}

/* Counts n more bytes of entry d against its caller and the total. */
static void s_charge(lt_query_t *self, dedup_t *d, size_t n)
{
    d->bytes += n;
    d->caller->bytes += n;
    self->bytes += n;
}

/* The caller's account, made when it has none; NULL when out of memory. */
static caller_t *s_caller(lt_query_t *self, const char *member)
{
    caller_t *c = NULL;
    HASH_FIND_STR(self->callers, member, c);
    if (c || !(c = calloc(1, sizeof *c)))
        return c;
    s_append(c->member, 0, sizeof c->member, member);
    HASH_ADD_STR(self->callers, member, c);
    return c;
}

/* Forgets the account of a caller with nothing stored. */
static void s_caller_drop(lt_query_t *self, caller_t *c)
{
    if (c->entries)
        return;
    HASH_DEL(self->callers, c);
    free(c);
}

static void s_dedup_free(lt_query_t *self, dedup_t *d)
{
    (void)lt_dedup_remove(self->dedup, d->key.member, d->key.id); /* every entry is there */
    DL_DELETE(self->seen, d);
    DL_DELETE2(d->caller->oldest, d, cprev, cnext);
    self->bytes -= d->bytes;
    d->caller->bytes -= d->bytes;
    d->caller->entries--;
    d->caller->refused -= d->refused != 0;
    s_caller_drop(self, d->caller);
    for (size_t i = 0; i < d->n_frames; i++)
        zmq_msg_close(&d->frames[i]);
    free(d->frames);
    free(d);
}

/* Forgets request d, whose pending answers from index `from` on will not
 * be sent: they no longer point at it. The request being executed is only
 * marked with how, and s_execute frees it once its executor returns. */
static void s_forget(lt_query_t *self, dedup_t *d, size_t from, gone_t how)
{
    for (size_t j = from; j < self->n_pending; j++)
        if (self->pending[j].entry == d)
            self->pending[j].entry = NULL;
    if (d == self->executing)
        self->executing_gone = how;
    else
        s_dedup_free(self, d);
}

/* Ends request o. One the owner may have seen is remembered (lt_recent), as
 * long as the owner remembers it (7.2). */
static void s_out_free(lt_query_t *self, outstanding_t *o)
{
    /* who, not hash: the same bytes under another on_behalf stay refused
     * once the request has ended too (8.3). */
    if (o->sent && self->recent && lt_recent_add(self->recent, o->id, o->who, o->done != NULL) != 0)
        lt_warn("query",
                "out of memory: request_id %llu is not remembered; a reuse of it with "
                "other bytes will end in ERR_TIMEOUT",
                (unsigned long long)o->id);
    HASH_DEL(self->out, o);
    self->out_bytes -= o->cost;
    zmq_msg_close(&o->frame);
    for (size_t i = 0; i < o->n_keys; i++)
        free(o->keys[i]);
    free(o->keys);
    free(o->seen);
    free(o->record_type);
    free(o->owner_said);
    free(o);
}

void lt_query_destroy(lt_query_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_query_t *self = *self_p;
    for (size_t i = 0; i < self->n_pending; i++)
        free(self->pending[i].bytes);
    while (self->seen)
        s_dedup_free(self, self->seen);
    lt_dedup_destroy(&self->dedup);
    lt_recent_destroy(&self->recent); /* first: the requests ended here need no memory */
    outstanding_t *o, *ot;
    HASH_ITER(hh, self->out, o, ot)
    s_out_free(self, o);
    lt_arena_destroy(&self->arena);
    if (self->refusals)
        lt_refuse_flush(self->refusals); /* the counts not yet reported */
    lt_refuse_destroy(&self->refusals);
    if (self->ended)
        lt_tally_flush(self->ended);
    lt_tally_destroy(&self->ended);
    lt_vmiss_destroy(&self->misses);
    free(self);
    *self_p = NULL;
}

/* ---- owner: reading the current state --------------------------------------- */

/* The target's dataset and, for a view id, the view. */
static const Lienthong__Dataset *s_target(const lt_dir_t *dir, const char *target,
                                          const Lienthong__View **view)
{
    *view = lt_dir_view(dir, target);
    return lt_dir_dataset(dir, *view ? (*view)->dataset : target);
}

/* One request being executed by this owner. */
typedef struct {
    uint64_t id;
    uint8_t hash[LT_HASH_BYTES];
    const char *caller;             /* member id, or LT_QUERY_OWN for this member's own clients */
    int own;                        /* caller is LT_QUERY_OWN */
    const char *record_type;        /* answer context a local client asked for, or NULL */
    const Lienthong__OnBehalf *who; /* own clients: application and officer (8.5), or NULL */
    const Lienthong__Dataset *ds;
    const Lienthong__View *view;
    const Lienthong__Policy *policy;
    Lienthong__ErrorCode refusal; /* ERR_NONE when the request may run */
    const char *target, *purpose, *case_ref;
    int64_t stream;      /* store id of the dataset, -1 when nothing was published */
    int64_t view_stream; /* store id of the view's own stream, -1 when it has none */
    int stale;           /* the view's rebuild has not succeeded (lt_feed_view_stale) */
    int store_failed;
} req_t;

/* 1 when the view's own stream holds a live row for key, with its seq in
 * *seq; 0 when not (no stream, no row, a tombstone); -1 on a store failure.
 * The owner derives that stream with the dataset in one transaction
 * (lt_publish), so this one read answers for every key outside the view,
 * after the same work as for a key the dataset lacks: the time of the
 * answer tells a view's member nothing of the keys outside it (PROTOCOL.md
 * 7.5). */
static int s_in_view(lt_query_t *self, const req_t *r, const char *key, uint64_t *seq)
{
    int deleted = 0, found;
    if (r->view_stream < 0)
        return 0; /* no record ever entered the view */
    found = lt_store_state_get(self->ctx->store, r->view_stream, key, seq, &deleted);
    return found < 0 ? -1 : found && !deleted;
}

/* s_current, with the seq of a state row even when no record is given.
 * For a view the seq is the view's own (7.5): the dataset's counts the
 * changes of every key outside the view too, which its member must not
 * learn, and a replica of the view holds the view's (6.1, 8.8). */
static ProtobufCMessage *s_current_at(lt_query_t *self, const req_t *r, const char *key,
                                      uint64_t *seq, int *failed)
{
    uint64_t view_seq = 0;
    int deleted = 0, found;
    uint8_t *bytes = NULL;
    size_t len = 0;
    ProtobufCMessage *msg = NULL;
    const Lienthong__Dataset *ds = r->ds;
    const Lienthong__View *view = r->view;
    *failed = r->store_failed;
    if (r->store_failed || r->stream < 0)
        return NULL;
    if (view && (found = s_in_view(self, r, key, &view_seq)) <= 0) {
        *failed = found < 0;
        return NULL;
    }
    if ((found = lt_store_state_get(self->ctx->store, r->stream, key, seq, &deleted)) < 0) {
        *failed = 1;
        return NULL;
    }
    if (!found || deleted)
        return NULL;
    if (lt_store_get(self->ctx->store, r->stream, *seq, &bytes, &len) != 1) {
        *failed = 1;
        return NULL;
    }
    /* Both decoded into the arena: the caller resets it (s_done_with). */
    ProtobufCAllocator *pa = lt_arena_allocator(self->arena);
    Lienthong__Record *rec = lienthong__record__unpack(pa, len, bytes);
    if (rec)
        msg = protobuf_c_message_unpack(lt_schema_find(ds->record_type), pa, rec->payload.len,
                                        rec->payload.data);
    free(bytes);
    if (!msg)
        *failed = 1;
    else if (view && !lt_publish_view_match(view, msg))
        msg = NULL; /* the view's row said in: the definition in force decides */
    if (view)
        *seq = view_seq;
    return msg;
}

/* Decoded current record of key in the request's dataset, and its seq in
 * *seq; or NULL with *seq 0 (not found, deleted, outside the view, or store
 * failure: *failed tells the last apart). The seq goes out only with the
 * record: a view's member must not learn from it that a key outside its
 * view, or deleted, exists (PROTOCOL.md 7.5). */
static ProtobufCMessage *s_current(lt_query_t *self, const req_t *r, const char *key, uint64_t *seq,
                                   int *failed)
{
    uint64_t at = 0;
    ProtobufCMessage *msg = s_current_at(self, r, key, &at, failed);
    *seq = msg ? at : 0;
    return msg;
}

/* Done with what s_current decoded. */
static void s_done_with(lt_query_t *self)
{
    lt_arena_reset(self->arena);
}

static int s_in_list(const char *name, char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list[i], name) == 0)
            return 1;
    return 0;
}

/* Why field may not be released to policy p over view v; NULL if it may. */
static const char *s_withhold(const ProtobufCMessageDescriptor *t, const Lienthong__Policy *p,
                              const Lienthong__View *v, const char *field)
{
    if (!lt_schema_field(t, field))
        return "unknown field";
    if (v && !s_in_list(field, v->fields, v->n_fields))
        return "not in view";
    /* No policy: the member's own clients, who may read all of its data. */
    if (p && !s_in_list(field, p->fields, p->n_fields))
        return "not allowed by policy";
    return NULL;
}

/* ---- owner: answers --------------------------------------------------------- */

/* Queues packed answer bytes for the next signature. */
static int s_queue(lt_query_t *self, void *peer, const lt_wire_in_t *in, dedup_t *d, int is_verify,
                   int last, const char *record_type, const ProtobufCMessage *answer)
{
    if (self->n_pending == SIGN_BATCH) {
        lt_query_flush(self);
        if (self->executing_gone != GONE_NOT)
            return -1; /* that flush refused this request: stop executing it */
    }
    if (self->n_pending == 0)
        self->audit_drops = lt_audit_drops(self->ctx->audit);
    pending_t *p = &self->pending[self->n_pending];
    p->len = protobuf_c_message_get_packed_size(answer);
    p->bytes = malloc(p->len ? p->len : 1);
    if (!p->bytes)
        return -1;
    protobuf_c_message_pack(answer, p->bytes);
    if (d) /* counted now: the next request is admitted before this one is signed */
        s_charge(self, d, p->len + KEPT_BYTES);
    memcpy(p->rid, in->rid, in->rid_len);
    p->rid_len = in->rid_len;
    p->sock = peer;
    p->record_type = record_type;
    p->entry = d;
    p->is_verify = is_verify;
    p->last = last;
    p->started_us = d ? d->started_us : lt_clock_mono_us();
    self->n_pending++;
    return 0;
}

static void s_audit(lt_query_t *self, const req_t *r, const char *event, const char *subject,
                    const char *fields, const char *detail)
{
    lt_audit_add(self->ctx->audit,
                 &(lt_audit_entry_t){.event = event,
                                     .peer = r->caller,
                                     .target = r->target,
                                     .subject = subject,
                                     .fields = fields,
                                     .purpose = r->purpose,
                                     .case_ref = r->case_ref,
                                     .detail = detail,
                                     .application = r->who ? r->who->application : NULL,
                                     .officer = r->who ? r->who->officer : NULL});
}

/* The store id of stream name, or -1 when it has none (*failed set on a
 * store failure); read without ever creating it. */
static int64_t s_stream_id(lt_query_t *self, const char *name, int *failed)
{
    lt_stream_t st;
    int found = lt_store_stream_find(self->ctx->store, name, &st);
    *failed = found < 0;
    return found == 1 ? st.id : -1;
}

/* Logs a refused lookup or verify per (caller, operation and code) through
 * lt_refuse: the first at once, later ones as one line per interval with
 * their count, so a member sending refused requests cannot flood the log
 * (docs/operations.md, "Refusals"). Each is still answered and audited. */
static void s_log_refusal(lt_query_t *self, const req_t *r, const char *target, const char *purpose,
                          Lienthong__Operation op)
{
    char reason[LT_REFUSE_REASON_MAX], detail[LT_REFUSE_DETAIL_MAX];
    /* Both from fixed sets: never peer input, which would make every
     * refusal a new pair. */
    snprintf(reason, sizeof reason, "%s %s", lt_dir_op_name(op), lt_wire_error_name(r->refusal));
    snprintf(detail, sizeof detail, "dataset=%s purpose=\"%s\"", target, purpose);
    lt_refuse_note(self->refusals,
                   &(lt_refuse_event_t){.source = r->caller, .reason = reason, .detail = detail});
}

/* Policy, purpose and ownership checks common to lookup and verify. */
static void s_authorise(lt_query_t *self, req_t *r, const char *target, const char *purpose,
                        Lienthong__Operation op)
{
    int own = strcmp(r->caller, LT_QUERY_OWN) == 0;
    r->ds = s_target(self->ctx->dir, target, &r->view);
    r->policy = own ? NULL : lt_dir_policy(self->ctx->dir, r->caller, target);
    if (!r->ds || strcmp(r->ds->owner, self->ctx->cfg->member) != 0)
        r->refusal = LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    else if (own) /* the member's own clients: no policy applies (8.3) */
        r->refusal = LIENTHONG__ERROR_CODE__ERR_NONE;
    else if (!lt_dir_policy_allows(r->policy, op))
        r->refusal = LIENTHONG__ERROR_CODE__ERR_FORBIDDEN;
    else if (!lt_dir_policy_purpose(r->policy, purpose))
        r->refusal = LIENTHONG__ERROR_CODE__ERR_PURPOSE;
    else
        r->refusal = LIENTHONG__ERROR_CODE__ERR_NONE;
    /* The dataset's stream, and a view's own, once per request and without
     * ever creating them. A view whose rebuild has not succeeded holds rows
     * of an old definition: not served until one does (PROTOCOL.md 6.1). */
    r->stale = !r->refusal && r->view && self->ctx->feed &&
               lt_feed_view_stale(self->ctx->feed, r->view->id);
    r->stream = r->view_stream = -1;
    if (!r->refusal && !r->stale)
        r->stream = s_stream_id(self, r->ds->id, &r->store_failed);
    if (!r->refusal && !r->stale && r->view && !r->store_failed)
        r->view_stream = s_stream_id(self, r->view->id, &r->store_failed);
    if (r->refusal)
        s_log_refusal(self, r, target, purpose, op);
}

static int s_lookup(lt_query_t *self, void *peer, const lt_wire_in_t *in, dedup_t *d, req_t *r,
                    const Lienthong__LookupRequest *q)
{
    Lienthong__LookupAnswer a = LIENTHONG__LOOKUP_ANSWER__INIT;
    a.request_id = r->id;
    a.request_hash.data = r->hash;
    a.request_hash.len = LT_HASH_BYTES;
    a.answered_at_ms = lt_clock_now_ms();
    a.owner = (char *)self->ctx->cfg->member;
    a.code = r->refusal;
    ProtobufCMessage *msg = NULL;
    int failed = 0, rc = -1;
    const ProtobufCMessageDescriptor *t = r->ds ? lt_schema_find(r->ds->record_type) : NULL;
    char *released[LT_QUERY_MAX_FIELDS];
    Lienthong__Withheld wh[LT_QUERY_MAX_FIELDS], *whp[LT_QUERY_MAX_FIELDS];
    if (!a.code && !(msg = s_current(self, r, q->key, &a.record_seq, &failed)))
        a.code =
            failed ? LIENTHONG__ERROR_CODE__ERR_INTERNAL : LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    if (failed)
        goto out; /* a store failure is not an answer: the caller retries */
    size_t n_ask = msg ? (q->n_fields ? q->n_fields : t->n_fields) : 0;
    for (size_t i = 0; i < n_ask && i < LT_QUERY_MAX_FIELDS; i++) {
        const char *f = q->n_fields ? q->fields[i] : t->fields[i].name;
        const char *why = s_withhold(t, r->policy, r->view, f);
        if (!why) {
            released[a.n_released++] = (char *)f;
            continue;
        }
        lienthong__withheld__init(&wh[a.n_withheld]);
        wh[a.n_withheld].field = (char *)f;
        wh[a.n_withheld].reason = (char *)why;
        whp[a.n_withheld] = &wh[a.n_withheld];
        a.n_withheld++;
    }
    a.released = released;
    a.withheld = whp;
    if (msg && a.n_released &&
        lt_schema_project(msg, released, a.n_released, NULL, &a.payload.data, &a.payload.len) != 0)
        goto out;
    rc = s_queue(self, peer, in, d, 0, 1, r->record_type, &a.base);
    char fields[AUDIT_FIELDS_MAX];
    if (rc == 0)
        s_audit(self, r,
                a.code == LIENTHONG__ERROR_CODE__ERR_FORBIDDEN ||
                        a.code == LIENTHONG__ERROR_CODE__ERR_PURPOSE
                    ? "refused"
                    : "lookup",
                q->key, s_join(released, a.n_released, fields, sizeof fields),
                lt_wire_error_name(a.code));
out:
    free(a.payload.data);
    s_done_with(self);
    return rc;
}

/* A verify request names keys with shared claims, or subjects with their own. */
static size_t s_vcount(const Lienthong__VerifyRequest *q)
{
    return q->n_subjects ? q->n_subjects : q->n_keys;
}

static const char *s_vkey(const Lienthong__VerifyRequest *q, size_t k)
{
    return q->n_subjects ? q->subjects[k]->key : q->keys[k];
}

static Lienthong__Claim **s_vclaims(const Lienthong__VerifyRequest *q, size_t k, size_t *n)
{
    *n = q->n_subjects ? q->subjects[k]->n_claims : q->n_claims;
    return q->n_subjects ? q->subjects[k]->claims : q->claims;
}

/* A verification's claims, each worked out once however many keys share
 * them (PROTOCOL.md 7.6): keys[] share one list, subjects[] have one each. */
typedef struct {
    Lienthong__Claim **of; /* the list these are of, NULL before the first */
    size_t n;
    lt_norm_claim_t c[LT_QUERY_MAX_CLAIMS];
    uint8_t spent[LT_QUERY_MAX_CLAIMS]; /* the key's claims refused by the budget (lt_vmiss) */
} prep_t;

/* Makes prep that of claims, anew only when it is another list. */
static void s_prep(prep_t *prep, Lienthong__Claim **claims, size_t n)
{
    if (prep->of == claims && prep->n == n)
        return;
    for (size_t c = 0; c < prep->n; c++)
        lt_norm_claim_clear(&prep->c[c]);
    for (size_t c = 0; c < n; c++)
        lt_norm_claim_init(&prep->c[c], claims[c]->value);
    prep->of = claims;
    prep->n = n;
}

/* Whether the result m (a match, else a no-match) of r's claim on field of
 * key may be answered: 1, 0 when the caller's budget of no-matches on it is
 * spent (7.6; counted in lienthong_verify_budget_refusals), -1 out of
 * memory. The member's own clients may read every
 * value (8.3): no budget. */
static int s_budget(lt_query_t *self, const req_t *r, const char *key, const char *field, int m)
{
    if (strcmp(r->caller, LT_QUERY_OWN) == 0)
        return 1;
    int ok = lt_vmiss_claim(self->misses, r->caller, key, field, m);
    /* The series is looked up per refusal (a lock and a hash), as
     * lt_reject does: small beside the signed, audited answer each refused
     * claim is part of. */
    if (ok == 0)
        lt_stats_inc(lt_stats_series(self->over, (const char *const[]){r->caller}));
    return ok;
}

/* A claim's result as its verify audit entry gives it (docs/operations.md). */
static const char *s_result_word(const ProtobufCMessage *msg, Lienthong__ClaimResult res, int spent)
{
    return !msg                                             ? " -"
           : spent                                          ? " over-budget"
           : res == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH    ? " match"
           : res == LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH ? " no-match"
                                                            : " not-allowed";
}

/* Bytes of a number, bool or enum name as text (lt_schema_text): a string
 * field is compared as the record holds it, never cut. */
#define SCALAR_TEXT 128

/* The text of field f of msg a claim is compared with, in buf; NULL when
 * the field is unknown, withheld or has no text (a claim NOT_ALLOWED). A
 * key's claims name each field once (lt_valid_verify, 7.6), so each stored
 * value is worked out once per key. */
static const char *s_stored(const req_t *r, const ProtobufCMessage *msg, const char *f, char *buf,
                            size_t len)
{
    const ProtobufCMessageDescriptor *t = msg->descriptor;
    const ProtobufCFieldDescriptor *fd = lt_schema_field(t, f);
    return fd && !s_withhold(t, r->policy, r->view, f) ? lt_schema_text(msg, fd, buf, len) : NULL;
}

/* Results of every claim against the record of key: 0, or -1 when a claim
 * could not be compared (out of memory), which must not be answered as a
 * result. */
static int s_claims(lt_query_t *self, const req_t *r, const char *key, const ProtobufCMessage *msg,
                    Lienthong__Claim **claims, size_t n_claims, prep_t *prep,
                    Lienthong__ClaimResult *out)
{
    int rc = 0;
    s_prep(prep, claims, n_claims);
    for (size_t c = 0; c < n_claims && rc == 0; c++) {
        const char *f = claims[c]->field;
        char text[SCALAR_TEXT];
        const char *v = s_stored(r, msg, f, text, sizeof text);
        int m = v ? lt_norm_claim_match(&prep->c[c], v, lt_schema_is_date(msg->descriptor, f)) : 0;
        int ok = m >= 0 && v ? s_budget(self, r, key, f, m) : 1;
        rc = m < 0 || ok < 0 ? -1 : 0;
        prep->spent[c] = !ok;
        out[c] = !v || !ok ? LIENTHONG__CLAIM_RESULT__CLAIM_NOT_ALLOWED
                 : m       ? LIENTHONG__CLAIM_RESULT__CLAIM_MATCH
                           : LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH;
    }
    return rc;
}

/* Audits an answered key of a verify (key, its claim fields and the
 * detail), or, for a refusal, every key of q with its own claim fields,
 * as the caller's side does (s_audit_verify_made): a member probing
 * citizens without a policy is then found by the owner's subject-access
 * report. The caller's budget of stored refusals (s_refusals_spent)
 * bounds these entries. */
static void s_audit_verify(lt_query_t *self, const req_t *r, const Lienthong__VerifyRequest *q,
                           const char *key, const char *fields, const char *detail)
{
    if (!r->refusal) {
        s_audit(self, r, "verify", key, fields, detail);
        return;
    }
    char own[AUDIT_FIELDS_MAX], part[AUDIT_DETAIL_MAX], which[64];
    size_t n = s_vcount(q), n_claims;
    for (size_t k = 0; k < n; k++) {
        Lienthong__Claim **claims = s_vclaims(q, k, &n_claims);
        s_claim_fields(claims, n_claims, own, sizeof own);
        /* Which part of one request the entry is, when there are several. */
        if (n > 1) {
            snprintf(which, sizeof which, " key %zu of %zu", k + 1, n);
            s_append(part, s_append(part, 0, sizeof part, detail), sizeof part, which);
        }
        s_audit(self, r, "refused", s_vkey(q, k), own, n > 1 ? part : detail);
    }
}

/* Answers key k of n_keys (7.6), so that s_verify_keys reads as its loop; -1 when it left early. */
static int s_verify_key(lt_query_t *self, void *peer, const lt_wire_in_t *in, dedup_t *d, req_t *r,
                        const Lienthong__VerifyRequest *q, prep_t *prep, size_t k, size_t n_keys)
{
    Lienthong__ClaimResult results[LT_QUERY_MAX_CLAIMS];
    char fields[AUDIT_FIELDS_MAX], detail[AUDIT_DETAIL_MAX];
    size_t n_claims = 0, o;
    Lienthong__Claim **claims;
    ProtobufCMessage *msg = NULL;
    int rc = -1;
    Lienthong__VerifyAnswer a = LIENTHONG__VERIFY_ANSWER__INIT;
    a.request_id = r->id;
    a.request_hash.data = r->hash;
    a.request_hash.len = LT_HASH_BYTES;
    a.answered_at_ms = lt_clock_now_ms();
    a.owner = (char *)self->ctx->cfg->member;
    a.index = (uint32_t)k;
    a.last = k + 1 == n_keys;
    a.code = r->refusal;
    if (!r->refusal) {
        uint64_t seq;
        int failed;
        a.key = (char *)s_vkey(q, k);
        msg = s_current(self, r, a.key, &seq, &failed);
        if (failed)
            goto out; /* a store failure is not an answer: the caller retries (7.2) */
        a.code = msg ? LIENTHONG__ERROR_CODE__ERR_NONE : LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    }
    claims = r->refusal ? NULL : s_vclaims(q, k, &n_claims);
    o = s_append(detail, 0, sizeof detail, lt_wire_error_name(a.code));
    if (msg && s_claims(self, r, a.key, msg, claims, n_claims, prep, results) != 0) {
        lt_error("query", "out of memory comparing the claims on %s", a.key);
        goto out; /* neither a match nor a no-match: the caller retries */
    }
    if (msg) {
        a.results = results;
        a.n_results = n_claims;
    }
    s_claim_fields(claims, n_claims, fields, sizeof fields);
    for (size_t c = 0; c < n_claims; c++)
        o = s_append(detail, o, sizeof detail, s_result_word(msg, results[c], prep->spent[c]));
    /* Queued first: an entry added to a batch the queueing flushed
     * would belong to no commit that the answer waits for. */
    rc = s_queue(self, peer, in, d, 1, a.last, r->record_type, &a.base);
    if (rc == 0)
        s_audit_verify(self, r, q, a.key, fields, detail);
out:
    s_done_with(self);
    return rc;
}

/* Answers each key of a verification (7.6), with prep the claims worked
 * out so far (the caller frees them). */
static int s_verify_keys(lt_query_t *self, void *peer, const lt_wire_in_t *in, dedup_t *d, req_t *r,
                         const Lienthong__VerifyRequest *q, prep_t *prep)
{
    size_t n_keys = r->refusal ? 1 : s_vcount(q);
    /* One that leaves early ends it: the keys answered so far stand, the
     * request is not kept as answered, and s_execute tells the caller to
     * retry. */
    for (size_t k = 0; k < n_keys; k++)
        if (s_verify_key(self, peer, in, d, r, q, prep, k, n_keys) != 0)
            return -1;
    return 0;
}

static int s_verify(lt_query_t *self, void *peer, const lt_wire_in_t *in, dedup_t *d, req_t *r,
                    const Lienthong__VerifyRequest *q)
{
    prep_t prep = {.of = NULL, .n = 0};
    int rc = s_verify_keys(self, peer, in, d, r, q, &prep);
    s_prep(&prep, NULL, 0);
    return rc;
}

/* Replays what a (caller, id) pair already produced. */
static void s_replay(op_stats_t *os, void *peer, const lt_wire_in_t *in, dedup_t *d)
{
    lt_stats_inc(os->replayed);
    for (size_t i = 0; d->complete && i < d->n_frames; i++)
        (void)lt_wire_send_copy(peer, in->rid, in->rid_len, &d->frames[i]);
}

/* Drops entries past the retention time (before it, s_make_room drops
 * those of a caller over its budget). */
static void s_dedup_expire(lt_query_t *self)
{
    int64_t now = lt_clock_mono_ms();
    /* The head is the oldest. Keep pending ones. */
    for (dedup_t *d = self->seen; d; d = self->seen) {
        if (now - d->at < DEDUP_MS || !d->complete)
            break;
        s_dedup_free(self, d);
    }
}

/* What makes a local request the same request (PROTOCOL.md 8.3): its
 * request hash and its on_behalf, which the hash leaves out (8.5). One
 * officer's request is then never taken for another's retry, which would
 * hand it answers that no audit entry names it for. */
static void s_local_who(const uint8_t *hash, const Lienthong__OnBehalf *who,
                        uint8_t out[LT_HASH_BYTES])
{
    const char *app = who && who->application ? who->application : "";
    const char *officer = who && who->officer ? who->officer : "";
    uint8_t sizes[9] = {who != NULL};
    size_t na = strlen(app), no = strlen(officer);
    for (int i = 0; i < 4; i++) { /* lengths keep ("ab", "c") apart from ("a", "bc") */
        sizes[1 + i] = (uint8_t)(na >> (24 - 8 * i));
        sizes[5 + i] = (uint8_t)(no >> (24 - 8 * i));
    }
    const uint8_t *bufs[] = {hash, sizes, (const uint8_t *)app, (const uint8_t *)officer};
    const size_t lens[] = {LT_HASH_BYTES, sizeof sizes, na, no};
    lt_crypto_hashv(bufs, lens, 4, out);
}

/* Whether a hit d may be replayed to a request of hash. A peer's id reused
 * for other bytes gets the stored answer, which its gateway rejects (7.2).
 * The member's own clients are many applications behind one caller: the
 * stored answer may be about another citizen, and the second request would
 * go unaudited, so other bytes are refused (8.3). For them hash is
 * s_local_who's, so the same bytes under another on_behalf are refused too:
 * no audit entry would name its officer. */
static int s_replayable(const dedup_t *d, const char *caller, const uint8_t *hash)
{
    return strcmp(caller, LT_QUERY_OWN) != 0 || memcmp(d->hash, hash, LT_HASH_BYTES) == 0;
}

/* The caller holding the most of what the dedup store is over (entries
 * when by_entries, else bytes) among those whose oldest answer can go
 * (signed and stored), or NULL when none can: ranked by the resource that
 * is over, so that over the count the caller of many small answers gives
 * way, not one of a few large ones, which would free little of it. The
 * biggest's oldest may be in the batch awaiting its signature, and then
 * the next biggest gives way rather than everyone being refused. One pass
 * over the callers per entry that goes, which their number bounds: each
 * holds an entry, and they are the members that asked in the last 10
 * minutes, peers the directory listed (CURVE, PROTOCOL.md 3.2) and this
 * member's own clients as one (LT_QUERY_OWN). */
static caller_t *s_biggest(const lt_query_t *self, int by_entries)
{
    caller_t *big = NULL;
    for (caller_t *c = self->callers; c; c = c->hh.next) {
        if (!c->oldest || !c->oldest->complete)
            continue;
        if (!big || (by_entries ? c->entries > big->entries : c->bytes > big->bytes))
            big = c;
    }
    return big;
}

/* Makes room in the dedup store for a new request of member (lt_limits.h):
 * past its own share its oldest kept answers go; past the total, those of
 * the caller holding the most of what is over (entries, else bytes),
 * within its share or not (the shares add up to more than the total), or
 * while that one's oldest are still being signed the next biggest's. So
 * no one caller pushes the others' answers out; a caller that gives way
 * can see a retry of its oldest executed again (PROTOCOL.md 7.2). 1 when
 * entries went (the index moved), 0 when none had to, -1 when the oldest
 * that should go are still being answered: member's own past its share,
 * or every caller's past the total. */
static int s_make_room(lt_query_t *self, const char *member)
{
    const lt_query_budget_t *b = &self->budget;
    int freed = 0;
    for (;;) {
        caller_t *c = NULL, *from;
        HASH_FIND_STR(self->callers, member, c);
        if (c && (c->entries >= b->caller_entries || c->bytes >= b->caller_bytes))
            from = c;
        else if (lt_dedup_count(self->dedup) >= b->entries)
            from = s_biggest(self, 1);
        else if (self->bytes >= b->bytes)
            from = s_biggest(self, 0);
        else
            return freed;
        if (!from || !from->oldest || !from->oldest->complete)
            return -1;
        s_dedup_free(self, from->oldest); /* may free from, looked up again */
        freed = 1;
    }
}

/* The absolute deadline of a request without timeout_ms (a caller of an
 * earlier release, PROTOCOL.md 7.1) against this gateway's clock now: NULL
 * when it may run, else why not in buf, with *code. It compares two
 * gateways' clocks, so the reason names the gap and the clocks. */
static const char *s_deadline_check(int64_t deadline, int64_t now, char *buf, size_t len,
                                    Lienthong__ErrorCode *code)
{
    char at[LT_CLOCK_UTC_LEN];
    /* deadline is any 64-bit value a peer sent: the gap is taken unsigned,
     * where it cannot overflow. */
    uint64_t gap =
        deadline > now ? (uint64_t)deadline - (uint64_t)now : (uint64_t)now - (uint64_t)deadline;
    if (deadline >= now && gap <= LT_QUERY_MAX_AHEAD_MS)
        return NULL;
    lt_clock_utc(deadline / 1000, at, sizeof at);
    if (deadline > now) {
        *code = LIENTHONG__ERROR_CODE__ERR_MALFORMED;
        snprintf(buf, len,
                 "deadline more than 10 minutes ahead: %s is %llu.%03llu s ahead of this "
                 "gateway's clock; check the clocks (NTP) of both gateways",
                 at, (unsigned long long)(gap / 1000), (unsigned long long)(gap % 1000));
    } else {
        *code = LIENTHONG__ERROR_CODE__ERR_TIMEOUT;
        snprintf(buf, len,
                 "deadline passed before execution: %s is %llu.%03llu s behind this gateway's "
                 "clock; unless the request waited that long, check the clocks (NTP) of both "
                 "gateways",
                 at, (unsigned long long)(gap / 1000), (unsigned long long)(gap % 1000));
    }
    return buf;
}

/* An id seen before is a replay, answered here (1), or reused for other bytes (-1, why in buf). */
static int s_admit_seen(lt_query_t *self, op_stats_t *os, void *peer, const lt_wire_in_t *in,
                        const char *caller, const dedup_key_t *key, lt_dedup_miss_t *miss,
                        const uint8_t *hash, char *buf, size_t len)
{
    dedup_t *d = lt_dedup_find(self->dedup, key->member, key->id, miss);
    if (!d)
        return 0;
    if (s_replayable(d, caller, hash)) {
        s_replay(os, peer, in, d);
        return 1;
    }
    snprintf(buf, len,
             "request_id %llu was sent in the last 10 minutes with "
             "other bytes; a new request needs a new id",
             (unsigned long long)key->id);
    return -1;
}

/* Frees room for key's entry within the budgets; the reason when there is none, else NULL. */
static const char *s_admit_room(lt_query_t *self, const dedup_key_t *key, lt_dedup_miss_t *miss)
{
    int room = s_make_room(self, key->member);
    if (room < 0)
        return "the owner's store of answers kept for retries is full and its oldest are "
               "still being answered; retry later";
    if (room > 0) { /* the index moved: where the new entry goes again */
        dedup_t *again = lt_dedup_find(self->dedup, key->member, key->id, miss);
        assert(again == NULL); /* the key was not there, and nothing was added */
        (void)again;
    }
    return NULL;
}

/* Stores and charges the new entry for key, where miss found room; NULL when out of memory. */
static dedup_t *s_admit_new(lt_query_t *self, const dedup_key_t *key, lt_dedup_miss_t *miss,
                            const uint8_t *hash)
{
    dedup_t *d = NULL;
    caller_t *c = s_caller(self, key->member);
    if (c && (d = calloc(1, sizeof *d))) {
        d->key = *key;
        memcpy(d->hash, hash, LT_HASH_BYTES);
        if (lt_dedup_add(self->dedup, miss, d) != 0) { /* hashed once, by the find */
            free(d);
            d = NULL;
        }
    }
    if (!d) {
        if (c)
            s_caller_drop(self, c);
        return NULL;
    }
    d->caller = c;
    c->entries++;
    s_charge(self, d, ENTRY_BYTES);
    d->at = lt_clock_mono_ms();
    d->started_us = lt_clock_mono_us();
    DL_APPEND(self->seen, d);
    DL_APPEND2(c->oldest, d, cprev, cnext);
    return d;
}

/* Checks a request's id and deadline; returns the dedup entry to fill, or
 * NULL when it was answered here (error, replay). hash is the request's
 * (7.1). A request with timeout_ms (lt_valid checked it is at most 10
 * minutes) has its deadline that long after now on this gateway's own
 * clock: it is executed now, so it cannot have passed, and deadline_ms,
 * set by the caller's clock, is not looked at (7.1). */
static dedup_t *s_admit(lt_query_t *self, op_stats_t *os, void *peer, const lt_wire_in_t *in,
                        const char *caller, uint64_t id, int64_t deadline, uint32_t timeout_ms,
                        const uint8_t *hash)
{
    const char *why = NULL, *late = NULL;
    char reused[256], clocks[256];
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_MALFORMED, late_code = code;
    if (!timeout_ms)
        late = s_deadline_check(deadline, lt_clock_now_ms(), clocks, sizeof clocks, &late_code);
    if (id == 0)
        why = "request_id must not be 0";
    else if (late && late_code == LIENTHONG__ERROR_CODE__ERR_MALFORMED)
        why = late;
    dedup_key_t key;
    memset(&key, 0, sizeof key);
    s_append(key.member, 0, sizeof key.member, caller);
    key.id = id;
    lt_dedup_miss_t miss = {0}; /* refused by lt_dedup_add unless filled by a miss */
    int seen =
        why ? 0
            : s_admit_seen(self, os, peer, in, caller, &key, &miss, hash, reused, sizeof reused);
    if (seen > 0)
        return NULL;
    if (seen < 0)
        why = reused;
    if (!why && late) {
        why = late;
        code = late_code;
    }
    if (!why && (why = s_admit_room(self, &key, &miss)))
        code = LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE;
    dedup_t *d = why ? NULL : s_admit_new(self, &key, &miss, hash);
    if (!d) {
        code = why ? code : LIENTHONG__ERROR_CODE__ERR_INTERNAL;
        lt_gwstats_codes_inc(&os->refused, code);
        (void)lt_reject(self->ctx->reject, &(lt_reject_in_t){.sock = peer,
                                                             .rid = in->rid,
                                                             .rid_len = in->rid_len,
                                                             .who = caller,
                                                             .what = "request",
                                                             .code = code,
                                                             .request_id = id,
                                                             .why = why ? why : "out of memory"});
    }
    return d;
}

/* Nothing is answered while the audit log cannot be written (PROTOCOL.md
 * 7.3): refuses the request (os NULL: a local one) with ERR_UNAVAILABLE and
 * the reason, without executing it. 1 when refused. */
static int s_audit_down(lt_query_t *self, op_stats_t *os, void *sock, const lt_wire_in_t *in,
                        uint64_t id)
{
    char why[320];
    if (lt_audit_writable(self->ctx->audit, why, sizeof why))
        return 0;
    lt_audit_refused(self->ctx->audit);
    if (os)
        lt_gwstats_codes_inc(&os->refused, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
    (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE, id,
                             "%s; retry later", why);
    return 1;
}

/* A refusal (ERR_FORBIDDEN, ERR_PURPOSE, ERR_NOT_FOUND) is stored and
 * audited like an answer, up to the caller's budget of them: past it the
 * request d is forgotten and refused with an unsigned ERR_UNAVAILABLE
 * through lt_reject, which summarises a flood in the log and the audit
 * log. Re-executing a refusal reveals nothing and changes nothing, so
 * forgetting it costs only that line. 1 when refused so. */
static int s_refusals_spent(lt_query_t *self, void *peer, const lt_wire_in_t *in, op_stats_t *os,
                            dedup_t *d, const req_t *r)
{
    if (!r->refusal)
        return 0;
    if (d->caller->refused < self->budget.caller_refused) {
        d->refused = 1;
        d->caller->refused++;
        return 0;
    }
    char why[200];
    snprintf(why, sizeof why,
             "%zu refused requests of this caller in the last 10 minutes; this "
             "one was %s; retry later",
             d->caller->refused, lt_wire_error_name(r->refusal));
    s_forget(self, d, 0, GONE_NOT);
    lt_gwstats_codes_inc(&os->refused, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
    (void)lt_reject(self->ctx->reject,
                    &(lt_reject_in_t){.sock = peer,
                                      .rid = in->rid,
                                      .rid_len = in->rid_len,
                                      .who = r->caller,
                                      .what = "request",
                                      .target = r->target,
                                      .code = LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                                      .request_id = r->id,
                                      .why = why});
    return 1;
}

/* What executing a request costs its turn (LT_QUERY_TURN_WORK): a key
 * read counts 1 and each claim compared on it 1 more; a refusal reads
 * nothing of the store. */
static uint64_t s_work(const req_t *r, const Lienthong__VerifyRequest *vq)
{
    if (r->refusal || !vq)
        return 1;
    uint64_t work = 0;
    for (size_t k = 0, n; k < s_vcount(vq); k++) {
        (void)s_vclaims(vq, k, &n);
        work += 1 + n;
    }
    return work;
}

/* A malformed request is refused before anything is stored for it; 1 when refused. */
static int s_refuse_invalid(lt_query_t *self, op_stats_t *os, void *peer, const lt_wire_in_t *in,
                            const Lienthong__Envelope *env, const req_t *r)
{
    int is_verify = env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    char why[256];
    Lienthong__ErrorCode bad = is_verify ? lt_valid_verify(env->verify_request, why, sizeof why)
                                         : lt_valid_lookup(env->lookup_request, why, sizeof why);
    if (!bad)
        return 0;
    lt_gwstats_codes_inc(&os->refused, bad);
    (void)lt_reject(self->ctx->reject, &(lt_reject_in_t){.sock = peer,
                                                         .rid = in->rid,
                                                         .rid_len = in->rid_len,
                                                         .who = r->caller,
                                                         .what = is_verify ? "verify" : "lookup",
                                                         .target = r->target,
                                                         .code = bad,
                                                         .request_id = r->id,
                                                         .why = why});
    return 1;
}

/* Admits a valid request (s_admit) while the audit log can be written; NULL: answered here. */
static dedup_t *s_admit_request(lt_query_t *self, op_stats_t *os, void *peer,
                                const lt_wire_in_t *in, const Lienthong__Envelope *env, req_t *r)
{
    int is_verify = env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    const Lienthong__LookupRequest *lq = env->lookup_request;
    const Lienthong__VerifyRequest *vq = env->verify_request;
    const uint8_t *body;
    size_t body_len;
    if (lt_wire_body_bytes(zmq_msg_data((zmq_msg_t *)&in->body),
                           zmq_msg_size((zmq_msg_t *)&in->body), &body, &body_len) != 0)
        return NULL; /* lt_wire_decode already checked this; never happens */
    if (s_audit_down(self, os, peer, in, r->id))
        return NULL;
    lt_crypto_hash(body, body_len, r->hash);
    uint8_t who[LT_HASH_BYTES]; /* a local request's identity, for s_replayable */
    if (r->own)                 /* a peer's is its hash alone: no second hash per request */
        s_local_who(r->hash, r->who, who);
    return s_admit(self, os, peer, in, r->caller, r->id,
                   is_verify ? vq->deadline_ms : lq->deadline_ms,
                   is_verify ? vq->timeout_ms : lq->timeout_ms, r->own ? who : r->hash);
}

/* A stale view is not served (PROTOCOL.md 6.1): d is forgotten and refused; 1 when so. */
static int s_refuse_stale(lt_query_t *self, op_stats_t *os, void *peer, const lt_wire_in_t *in,
                          dedup_t *d, const req_t *r)
{
    if (!r->stale)
        return 0;
    /* logged and audited by the feed when it became stale */
    s_forget(self, d, 0, GONE_NOT);
    lt_gwstats_codes_inc(&os->refused, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
    (void)lt_wire_send_error(peer, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE,
                             r->id, "%s: view definition changed; rebuilding; retry later",
                             r->target);
    return 1;
}

/* Runs admitted d and counts the outcome; d is forgotten when nothing was answered. */
static void s_run(lt_query_t *self, op_stats_t *os, void *peer, const lt_wire_in_t *in, dedup_t *d,
                  req_t *r, const Lienthong__Envelope *env)
{
    int is_verify = env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    const Lienthong__VerifyRequest *vq = env->verify_request;
    self->turn_work += s_work(r, is_verify ? vq : NULL);
    self->executing = d;
    self->executing_gone = GONE_NOT;
    /* A flush inside it that marked it gone made its executor return -1. */
    int rc = is_verify ? s_verify(self, peer, in, d, r, vq)
                       : s_lookup(self, peer, in, d, r, env->lookup_request);
    gone_t gone = self->executing_gone;
    self->executing = NULL;
    self->executing_gone = GONE_NOT;
    if (gone == GONE_REFUSED) { /* told ERR_UNAVAILABLE and counted by that flush */
        s_forget(self, d, 0, GONE_NOT);
        return;
    }
    if (rc == 0 && r->refusal == LIENTHONG__ERROR_CODE__ERR_NONE)
        lt_stats_inc(os->executed);
    else
        lt_gwstats_codes_inc(&os->refused,
                             rc == 0 ? r->refusal : LIENTHONG__ERROR_CODE__ERR_INTERNAL);
    if (rc != 0) {
        /* Nothing was answered: forget it, so that a retry runs again. */
        s_forget(self, d, 0, GONE_NOT);
        (void)lt_wire_send_error(peer, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_INTERNAL,
                                 r->id,
                                 "the owner could not read its store or ran out of memory; "
                                 "retry");
    }
}

/* Executes a request as the owner (7.2 to 7.6) for caller, a member id or
 * LT_QUERY_OWN; answers are queued for the next signature, to go out on
 * sock, with the answer context record_type when not NULL (8.4). */
static void s_execute(lt_query_t *self, void *peer, const lt_wire_in_t *in,
                      const Lienthong__Envelope *env, const char *caller, const char *record_type)
{
    int is_verify = env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    const Lienthong__LookupRequest *lq = env->lookup_request;
    const Lienthong__VerifyRequest *vq = env->verify_request;
    /* on_behalf is local only: a peer's is ignored (8.5). */
    int own = strcmp(caller, LT_QUERY_OWN) == 0;
    req_t r = {.id = is_verify ? vq->request_id : lq->request_id,
               .caller = caller,
               .own = own,
               .record_type = record_type,
               .who = own ? env->on_behalf : NULL,
               .target = is_verify ? vq->dataset : lq->dataset,
               .purpose = is_verify ? vq->purpose : lq->purpose,
               .case_ref = is_verify ? vq->case_ref : lq->case_ref};
    op_stats_t *os = &self->ops[is_verify ? OP_VERIFY : OP_LOOKUP];
    s_dedup_expire(self);
    if (s_refuse_invalid(self, os, peer, in, env, &r))
        return;
    dedup_t *d = s_admit_request(self, os, peer, in, env, &r);
    if (!d)
        return;
    /* The reads of a whole drain share one snapshot; lt_query_flush ends it. */
    if (lt_store_read_begin(self->ctx->store) != 0)
        lt_warn("query", "no read snapshot: %s", lt_store_error(self->ctx->store));
    s_authorise(self, &r, is_verify ? vq->dataset : lq->dataset,
                is_verify ? vq->purpose : lq->purpose,
                is_verify ? LIENTHONG__OPERATION__OP_VERIFY : LIENTHONG__OPERATION__OP_LOOKUP);
    if (s_refuse_stale(self, os, peer, in, d, &r))
        return;
    if (s_refusals_spent(self, peer, in, os, d, &r))
        return;
    s_run(self, os, peer, in, d, &r, env);
}

void lt_query_on_request(lt_query_t *self, void *peer, const lt_wire_in_t *in,
                         const Lienthong__Envelope *env)
{
    s_execute(self, peer, in, env, in->user_id, NULL);
}

void lt_query_turn_begin(lt_query_t *self)
{
    self->turn_work = 0;
}

int lt_query_turn_done(const lt_query_t *self)
{
    return self->turn_work >= LT_QUERY_TURN_WORK;
}

/* ---- owner: batched signing ------------------------------------------------------ */

/* Keeps a copy of an answer frame in d for retries (nothing to keep
 * without d). 0, or -1 when it could not be kept. */
static int s_keep(dedup_t *d, zmq_msg_t *msg)
{
    if (!d)
        return 0;
    zmq_msg_t *grown = realloc(d->frames, (d->n_frames + 1) * sizeof *grown);
    if (!grown)
        return -1;
    d->frames = grown;
    zmq_msg_init(&d->frames[d->n_frames]);
    if (zmq_msg_copy(&d->frames[d->n_frames], msg) != 0)
        return -1;
    d->n_frames++;
    return 0;
}

/* In *out, the answer envelope frame with the answer context a local
 * client asked for (8.4) and the same exact body. 0, or -1 (out empty). */
static int s_context_frame(const zmq_msg_t *frame, const char *record_type, zmq_msg_t *out)
{
    Lienthong__AnswerContext ctx = LIENTHONG__ANSWER_CONTEXT__INIT;
    ctx.record_type = (char *)record_type;
    return lt_wire_reframe(zmq_msg_data((zmq_msg_t *)frame), zmq_msg_size((zmq_msg_t *)frame), &ctx,
                           out);
}

/* Sends one signed answer and keeps a copy for retries. 0, or -1 when the
 * answer could be neither built nor kept (out of memory): its request must
 * then be forgotten, or every retry would replay it without this answer. */
static int s_send_answer(lt_query_t *self, pending_t *p, const uint8_t *sig, const uint8_t *tree,
                         size_t n, size_t index)
{
    uint8_t path[LT_MERKLE_MAX_PATH][LT_HASH_BYTES];
    ProtobufCBinaryData proof[LT_MERKLE_MAX_PATH];
    size_t path_len = 0;
    if (lt_crypto_merkle_tree_path(tree, n, index, path, &path_len) != 0)
        return -1;
    for (size_t i = 0; i < path_len; i++)
        proof[i] = (ProtobufCBinaryData){.len = LT_HASH_BYTES, .data = path[i]};
    Lienthong__SignedAnswer sa = LIENTHONG__SIGNED_ANSWER__INIT;
    sa.answer.data = p->bytes;
    sa.answer.len = p->len;
    sa.root_signature.data = (uint8_t *)sig;
    sa.root_signature.len = LT_SIG_BYTES;
    sa.proof = proof;
    sa.n_proof = path_len;
    sa.proof_index = (uint32_t)index;
    sa.proof_count = (uint32_t)n;
    zmq_msg_t msg;
    if (lt_wire_pack_body(&msg,
                          p->is_verify ? LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY
                                       : LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY,
                          &sa) != 0)
        return -1;
    if (s_keep(p->entry, &msg) != 0) {
        zmq_msg_close(&msg);
        return -1;
    }
    zmq_msg_t copy;
    /* Out of memory, the answer goes without context, which a client accepts. */
    if (p->record_type && s_context_frame(&msg, p->record_type, &copy) == 0)
        (void)zmq_msg_move(&msg, &copy);
    if (p->record_type)
        zmq_msg_close(&copy);
    /* When this fails, the caller retries and gets the stored copy. */
    (void)lt_wire_send_msg(p->sock, p->rid, p->rid_len, &msg);
    if (p->last)
        lt_stats_observe_us(self->ops[p->is_verify ? OP_VERIFY : OP_LOOKUP].latency,
                            lt_gwstats_since_us(p->started_us));
    return 0;
}

/* An answer leaves only once its audit entry is durable (PROTOCOL.md 7.3):
 * the entries of the whole drain are committed together, one fsync. When
 * the log cannot be written, no pending answer is sent: each request is
 * refused with ERR_UNAVAILABLE, on the socket it came in on (its routing
 * id means nothing on another), and forgotten, so that a retry executes it
 * again. Returns 0 when the answers may be sent. */
static int s_audit_durable(lt_query_t *self)
{
    char why[320] = "the audit log could not record the answer";
    /* Committed, and no entry dropped since the first of these answers was
     * queued (a commit inside the drain may have failed and dropped some). */
    if (lt_audit_commit(self->ctx->audit) == 0 &&
        lt_audit_drops(self->ctx->audit) == self->audit_drops)
        return 0;
    (void)lt_audit_writable(self->ctx->audit, why, sizeof why);
    for (size_t i = 0; i < self->n_pending; i++) {
        pending_t *p = &self->pending[i];
        dedup_t *d = p->entry;
        free(p->bytes);
        if (!d)
            continue; /* its request was answered with an error already */
        lt_audit_refused(self->ctx->audit);
        lt_gwstats_codes_inc(&self->ops[p->is_verify ? OP_VERIFY : OP_LOOKUP].refused,
                             LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE);
        (void)lt_wire_send_error(p->sock, p->rid, p->rid_len,
                                 LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE, d->key.id,
                                 "%s; retry later", why);
        s_forget(self, d, i, GONE_REFUSED);
    }
    self->n_pending = 0;
    return -1;
}

void lt_query_flush(lt_query_t *self)
{
    size_t n = self->n_pending;
    lt_store_read_end(self->ctx->store);
    if (n == 0 || s_audit_durable(self) != 0)
        return;
    uint8_t leaves[SIGN_BATCH * LT_HASH_BYTES], tree[2 * SIGN_BATCH * LT_HASH_BYTES];
    uint8_t sig[LT_SIG_BYTES];
    for (size_t i = 0; i < n; i++)
        lt_crypto_merkle_leaf(self->pending[i].bytes, self->pending[i].len,
                              leaves + i * LT_HASH_BYTES);
    int ok = lt_crypto_merkle_tree(leaves, n, tree) == 0 &&
             lt_keys_sign(self->ctx->keys, LT_ANSWERS_DOMAIN, lt_crypto_merkle_tree_root(tree, n),
                          LT_HASH_BYTES, sig) == 0;
    if (!ok)
        lt_error("query", "cannot sign %zu answers; their requests will run again on retry", n);
    uint8_t sent[SIGN_BATCH]; /* built and kept */
    size_t unsent = 0;
    for (size_t i = 0; i < n; i++) {
        pending_t *p = &self->pending[i];
        sent[i] = ok && s_send_answer(self, p, sig, tree, n, i) == 0;
        unsent += !sent[i];
        free(p->bytes);
    }
    if (ok && unsent)
        lt_error("query",
                 "out of memory: %zu answers not sent; their requests will run again "
                 "on retry",
                 unsent);
    for (size_t i = 0; i < n; i++) {
        dedup_t *d = self->pending[i].entry;
        if (!d)
            continue;
        if (sent[i]) {
            /* An entry is complete once its last answer is stored. */
            d->complete |= self->pending[i].last;
            continue;
        }
        /* An answer is missing: forget the request so a retry executes it,
         * rather than replaying it without that answer for as long as it is
         * remembered. */
        s_forget(self, d, i, GONE_FORGOTTEN);
    }
    self->n_pending = 0;
}

/* ---- caller ------------------------------------------------------------------------ */

static void s_local_error(void *local, const uint8_t *rid, size_t rid_len,
                          Lienthong__ErrorCode code, uint64_t id, const char *why)
{
    (void)lt_wire_send_error(local, rid, rid_len, code, id, "%s", why);
}

/* Sends the request's exact frame to its owner; 0 sent, -1 not now. */
static int s_out_send(lt_query_t *self, outstanding_t *o)
{
    void *sock = lt_peers_link(self->ctx->peers, o->owner);
    int64_t heard;
    if (!sock || lt_wire_send_copy(sock, NULL, 0, &o->frame) != 0) {
        /* A connected link whose queue is full (an owner slow to read) is
         * slow, not unreachable (s_unreachable). */
        if (sock && !o->linked)
            o->linked = lt_peers_link_up(self->ctx->peers, o->owner, &heard) == 1;
        return -1;
    }
    o->sent++;
    o->unsent = 0;
    o->linked = 1; /* links send on connections made only (lt_sock) */
    return 0;
}

/* Why a request about dataset cannot be forwarded, with its code (the
 * reason may be written in buf); NULL when it can (*ds its dataset), or
 * when out of memory later. */
static const char *s_out_check(lt_query_t *self, uint64_t id, const char *dataset, size_t cost,
                               const Lienthong__Dataset **ds_out, Lienthong__ErrorCode *code,
                               char *buf, size_t len)
{
    const Lienthong__View *view;
    const Lienthong__Dataset *ds = self->ctx->dir ? s_target(self->ctx->dir, dataset, &view) : NULL;
    const Lienthong__Member *m = ds ? lt_dir_member(self->ctx->dir, ds->owner) : NULL;
    const char *why = !id   ? "request_id must not be 0"
                      : !ds ? "no such dataset or view in the directory"
                      : m->status != LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE ? "owner is not active"
                                                                             : NULL;
    outstanding_t *o = NULL;
    if (!why)
        HASH_FIND(hh, self->out, &id, sizeof id, o);
    if (o)
        why = "request_id is already outstanding";
    /* The table's own bound: the HTTP API bounds each application, but
     * applications on the local socket are bounded by nothing else. */
    if (!why && HASH_COUNT(self->out) >= LT_QUERY_MAX_OUTSTANDING) {
        snprintf(buf, len,
                 "%d lookups and verifies are outstanding at this gateway, as many as "
                 "it allows; retry later",
                 LT_QUERY_MAX_OUTSTANDING);
        why = buf;
    }
    /* And its bytes: a verify keeps up to 1024 keys besides its frame. */
    if (!why && self->out_bytes + cost > LT_QUERY_MAX_OUTSTANDING_BYTES) {
        snprintf(buf, len,
                 "lookups and verifies outstanding at this gateway hold %zu bytes; "
                 "this one (%zu) would pass the %u it allows; retry later",
                 self->out_bytes, cost, LT_QUERY_MAX_OUTSTANDING_BYTES);
        why = buf;
    }
    *code = !ds        ? LIENTHONG__ERROR_CODE__ERR_NOT_FOUND
            : !id || o ? LIENTHONG__ERROR_CODE__ERR_MALFORMED
                       : LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE;
    *ds_out = ds;
    return why;
}

/* Registers a request to owner holding a copy of frame (its exact bytes,
 * body inside it, whose hash is hash); NULL when out of memory. Its
 * deadline on the monotonic clock is timeout_ms from now when the request
 * carries it, else deadline_ms read on the wall clock (7.1). Retries
 * resend the same bytes, the same timeout_ms (7.4): the owner's deadline
 * may then fall after this one, never before. */
static outstanding_t *s_out_make(lt_query_t *self, uint64_t id, const char *owner,
                                 const zmq_msg_t *frame, const uint8_t *hash, int64_t deadline_ms,
                                 uint32_t timeout_ms, size_t cost)
{
    outstanding_t *o = calloc(1, sizeof *o);
    if (!o)
        return NULL;
    o->id = id;
    snprintf(o->owner, sizeof o->owner, "%s", owner);
    zmq_msg_init(&o->frame);
    if (zmq_msg_copy(&o->frame, (zmq_msg_t *)frame) != 0) {
        zmq_msg_close(&o->frame);
        free(o);
        return NULL;
    }
    memcpy(o->hash, hash, LT_HASH_BYTES);
    int64_t now = s_out_now(self);
    int64_t wall = lt_clock_now_ms();
    /* deadline_ms is any 64-bit value an application sent: no subtraction
     * that could overflow. */
    int64_t left = timeout_ms ? (int64_t)timeout_ms : deadline_ms > wall ? deadline_ms - wall : 0;
    o->deadline = now + (left < 0                       ? 0
                         : left > LT_QUERY_MAX_AHEAD_MS ? LT_QUERY_MAX_AHEAD_MS
                                                        : left);
    o->attempt_ms = ATTEMPT_MS;
    o->next_at = now; /* sent on the spot, or by the next tick */
    o->started_us = lt_clock_mono_us();
    o->cost = cost;
    self->out_bytes += cost;
    HASH_ADD(hh, self->out, id, sizeof o->id, o);
    return o;
}

/* The bytes an outstanding request holds, counted against
 * LT_QUERY_MAX_OUTSTANDING_BYTES: its entry, its frame and, for a verify
 * (vq), the copy of its keys (s_keep_keys). */
static size_t s_out_cost(size_t frame, const Lienthong__VerifyRequest *vq)
{
    size_t cost = sizeof(outstanding_t) + frame;
    for (size_t k = 0; vq && k < s_vcount(vq); k++)
        cost += sizeof(char *) + 1 + strlen(s_vkey(vq, k)) + 1; /* keys, seen */
    return cost;
}

/* Refuses an application's request at once: answered, counted, logged
 * and audited by lt_reject like every refused input (4.4). */
static void s_local_reject(lt_query_t *self, void *local, const lt_wire_in_t *in,
                           const char *dataset, Lienthong__ErrorCode code, uint64_t id,
                           const char *why)
{
    (void)lt_reject(self->ctx->reject, &(lt_reject_in_t){.sock = local,
                                                         .rid = in->rid,
                                                         .rid_len = in->rid_len,
                                                         .who = "local",
                                                         .what = "local request",
                                                         .target = dataset,
                                                         .code = code,
                                                         .request_id = id,
                                                         .why = why});
}

/* Registers an application's request; NULL when refused (answered). */
static outstanding_t *s_out_new(lt_query_t *self, void *local, const lt_wire_in_t *in, uint64_t id,
                                const char *dataset, int64_t deadline_ms, uint32_t timeout_ms,
                                const uint8_t *hash, const Lienthong__VerifyRequest *vq)
{
    const Lienthong__Dataset *ds;
    Lienthong__ErrorCode code;
    char full[224];
    size_t cost = s_out_cost(zmq_msg_size((zmq_msg_t *)&in->body), vq);
    const char *why = s_out_check(self, id, dataset, cost, &ds, &code, full, sizeof full);
    outstanding_t *o = NULL;
    if (!why &&
        !(o = s_out_make(self, id, ds->owner, &in->body, hash, deadline_ms, timeout_ms, cost)))
        why = "out of memory";
    if (why) {
        s_local_reject(self, local, in, dataset, code, id, why);
        return NULL;
    }
    memcpy(o->rid, in->rid, in->rid_len);
    o->rid_len = in->rid_len;
    return o;
}

/* Refuses an application's request reusing id for other bytes or another
 * on_behalf (PROTOCOL.md 8.3) with ERR_MALFORMED naming the id; when says
 * when it was used, and how. */
static void s_reused(lt_query_t *self, void *local, const lt_wire_in_t *in, uint64_t id,
                     const char *dataset, const char *when)
{
    char why[160];
    snprintf(why, sizeof why, "request_id %llu %s; a new request needs a new id",
             (unsigned long long)id, when);
    s_local_reject(self, local, in, dataset, LIENTHONG__ERROR_CODE__ERR_MALFORMED, id, why);
}

/* An application's request whose id is outstanding (PROTOCOL.md 8.3): with
 * the same bytes and on_behalf (who, s_local_who) it is a retry, and the
 * answers still to come go to where it came from (this gateway resends to
 * the owner on its own timer, 7.4); with other bytes, another on_behalf, or
 * an id this gateway made itself, it is refused with ERR_MALFORMED. 0 when
 * the id is not outstanding, 1 when handled. */
static int s_out_retry(lt_query_t *self, void *local, const lt_wire_in_t *in, uint64_t id,
                       const char *dataset, const uint8_t *hash, const uint8_t *who)
{
    outstanding_t *o = NULL;
    HASH_FIND(hh, self->out, &id, sizeof id, o);
    if (!o)
        return 0;
    int same = memcmp(o->hash, hash, LT_HASH_BYTES) == 0;
    if (!o->done && same && memcmp(o->who, who, LT_HASH_BYTES) == 0) {
        memcpy(o->rid, in->rid, in->rid_len);
        o->rid_len = in->rid_len;
        return 1;
    }
    s_reused(self, local, in, id, dataset,
             same && !o->done ? "is outstanding under another on_behalf"
                              : "is outstanding with other bytes");
    return 1;
}

/* An application's request whose id was outstanding in the last 10 minutes
 * (PROTOCOL.md 8.3): the owner still holds its answers and would replay
 * them to any bytes under it (7.2). With other bytes, or an id this gateway
 * made itself, it is refused with ERR_MALFORMED at once (1); with the same
 * bytes it is a retry and is forwarded again (0), the owner's replay being
 * the answer this gateway accepts; so are ids it does not remember. */
static int s_recent_reused(lt_query_t *self, void *local, const lt_wire_in_t *in, uint64_t id,
                           const char *dataset, const uint8_t *hash)
{
    uint8_t was[LT_HASH_BYTES];
    int made;
    if (!lt_recent_find(self->recent, id, was, &made) ||
        (!made && memcmp(was, hash, LT_HASH_BYTES) == 0))
        return 0;
    s_reused(self, local, in, id, dataset,
             "was sent in the last 10 minutes with other bytes or another on_behalf");
    return 1;
}

/* The application asked for answer context (PROTOCOL.md 8.4): remember the
 * dataset's record type for its answers. */
static int s_want_context(lt_query_t *self, outstanding_t *o, const char *dataset)
{
    const Lienthong__View *view;
    const Lienthong__Dataset *ds = s_target(self->ctx->dir, dataset, &view);
    return ds && (o->record_type = strdup(ds->record_type)) ? 0 : -1;
}

/* Forwards the request without its local-only fields (context, on_behalf:
 * PROTOCOL.md 8.4, 8.5), so that the owner sees only the exact request body. */
static int s_strip_local(outstanding_t *o)
{
    zmq_msg_t bare;
    if (lt_wire_reframe(zmq_msg_data(&o->frame), zmq_msg_size(&o->frame), NULL, &bare) != 0)
        return -1;
    int rc = zmq_msg_move(&o->frame, &bare); /* releases the frame as received */
    zmq_msg_close(&bare);
    return rc;
}

/* Copies the keys a verify asks about, so that each answer can be matched
 * to its key. o->n_keys counts the keys copied, so that s_out_free frees
 * exactly those when a copy fails. 0, or -1 out of memory. */
static int s_keep_keys(outstanding_t *o, const Lienthong__VerifyRequest *vq)
{
    size_t n = s_vcount(vq);
    o->keys = calloc(n ? n : 1, sizeof *o->keys);
    o->seen = calloc(n ? n : 1, 1);
    if (!o->keys || !o->seen)
        return -1;
    for (; o->n_keys < n; o->n_keys++)
        if (!(o->keys[o->n_keys] = strdup(s_vkey(vq, o->n_keys))))
            return -1;
    return 0;
}

/* Audits a lookup made for a local application or another module
 * (ARCHITECTURE.md 5) with the fields it asks: none asks for every field
 * the policy allows (PROTOCOL.md 7.5), and is written as none. */
static void s_audit_lookup_made(lt_query_t *self, const outstanding_t *o,
                                const Lienthong__LookupRequest *q, const Lienthong__OnBehalf *who)
{
    char fields[AUDIT_FIELDS_MAX];
    lt_audit_add(self->ctx->audit, &(lt_audit_entry_t){.event = "lookup-made",
                                                       .peer = o->owner,
                                                       .target = q->dataset,
                                                       .subject = q->key,
                                                       .fields = s_join(q->fields, q->n_fields,
                                                                        fields, sizeof fields),
                                                       .purpose = q->purpose,
                                                       .case_ref = q->case_ref,
                                                       .application = who ? who->application : NULL,
                                                       .officer = who ? who->officer : NULL});
}

/* Audits a verify made for a local application (ARCHITECTURE.md 5): one
 * entry per key, with that key's claim fields, so that the subject-access
 * report of this gateway finds every citizen it asked about, as the
 * owner's does. A verify carries at most 1024 keys (PROTOCOL.md 7.6), so the
 * entries are bounded, and they are committed with the others on the
 * 200 ms timer. Each key is a record key (lt_valid_key): audited whole. */
static void s_audit_verify_made(lt_query_t *self, const outstanding_t *o,
                                const Lienthong__VerifyRequest *q, const Lienthong__OnBehalf *who)
{
    char fields[AUDIT_FIELDS_MAX], detail[64];
    lt_audit_entry_t e = {.event = "verify-made",
                          .peer = o->owner,
                          .target = q->dataset,
                          .purpose = q->purpose,
                          .case_ref = q->case_ref,
                          .application = who ? who->application : NULL,
                          .officer = who ? who->officer : NULL};
    size_t n = s_vcount(q), n_claims;
    /* Keys share their claims: their fields are joined once. */
    if (!q->n_subjects)
        e.fields = s_claim_fields(q->claims, q->n_claims, fields, sizeof fields);
    for (size_t k = 0; k < n; k++) {
        e.subject = s_vkey(q, k);
        if (q->n_subjects) {
            Lienthong__Claim **claims = s_vclaims(q, k, &n_claims);
            e.fields = s_claim_fields(claims, n_claims, fields, sizeof fields);
        }
        /* Which part of one request the entry is, when there are several. */
        if (n > 1) {
            snprintf(detail, sizeof detail, "key %zu of %zu", k + 1, n);
            e.detail = detail;
        }
        lt_audit_add(self->ctx->audit, &e);
    }
}

/* An application's request must carry its time (PROTOCOL.md 7.1): one
 * with neither timeout_ms nor deadline_ms went out with a deadline of 0,
 * long past, and the owner's refusal never reached the application in its
 * own words. A peer's request is the owner's to judge (s_admit). */
static Lienthong__ErrorCode s_local_time(uint32_t timeout_ms, int64_t deadline_ms, char *why,
                                         size_t len)
{
    if (timeout_ms || deadline_ms)
        return LIENTHONG__ERROR_CODE__ERR_NONE;
    snprintf(why, len,
             "timeout_ms is required (or deadline_ms, from an application of an "
             "earlier release): the request carries neither");
    return LIENTHONG__ERROR_CODE__ERR_MALFORMED;
}

/* Refuses a bad local request here, before it travels; 1 when refused. */
static int s_local_invalid(lt_query_t *self, void *local, const lt_wire_in_t *in,
                           const Lienthong__Envelope *env, const char *dataset, uint64_t id)
{
    int is_verify = env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    const Lienthong__VerifyRequest *vq = env->verify_request;
    const Lienthong__LookupRequest *lq = env->lookup_request;
    char why[256];
    /* The same field checks as the owner's (4.2 check 10), so that the
     * application learns of a bad request before it travels. */
    Lienthong__ErrorCode bad =
        is_verify ? lt_valid_verify(vq, why, sizeof why) : lt_valid_lookup(lq, why, sizeof why);
    if (!bad)
        bad = lt_valid_on_behalf(env->on_behalf, why, sizeof why);
    if (!bad)
        bad = s_local_time(is_verify ? vq->timeout_ms : lq->timeout_ms,
                           is_verify ? vq->deadline_ms : lq->deadline_ms, why, sizeof why);
    if (!bad)
        return 0;
    s_local_reject(self, local, in, dataset, bad, id, why);
    return 1;
}

/* Keeps what o's answers are checked against, strips what the owner must not see. */
static int s_local_keep(lt_query_t *self, outstanding_t *o, const Lienthong__Envelope *env,
                        const char *dataset)
{
    int is_verify = env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    if ((env->context && s_want_context(self, o, dataset) != 0) ||
        ((env->context || env->on_behalf) && s_strip_local(o) != 0) ||
        (is_verify && s_keep_keys(o, env->verify_request) != 0))
        return -1;
    return 0;
}

/* Counts and audits o as made, once it is sure to be forwarded. */
static void s_local_made(lt_query_t *self, outstanding_t *o, const Lienthong__Envelope *env)
{
    int is_verify = env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    o->is_verify = is_verify;
    lt_stats_inc(self->ops[is_verify ? OP_VERIFY : OP_LOOKUP].made);
    if (is_verify)
        s_audit_verify_made(self, o, env->verify_request, env->on_behalf);
    else
        s_audit_lookup_made(self, o, env->lookup_request, env->on_behalf);
}

void lt_query_on_local(lt_query_t *self, void *local, const lt_wire_in_t *in,
                       const Lienthong__Envelope *env)
{
    const uint8_t *body;
    size_t body_len;
    int is_verify = env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST;
    const Lienthong__VerifyRequest *vq = env->verify_request;
    const Lienthong__LookupRequest *lq = env->lookup_request;
    uint64_t id = is_verify ? vq->request_id : lq->request_id;
    const char *dataset = is_verify ? vq->dataset : lq->dataset;
    if (lt_wire_body_bytes(zmq_msg_data((zmq_msg_t *)&in->body),
                           zmq_msg_size((zmq_msg_t *)&in->body), &body, &body_len) != 0)
        return;
    if (s_local_invalid(self, local, in, env, dataset, id))
        return;
    const Lienthong__View *view;
    const Lienthong__Dataset *own = s_target(self->ctx->dir, dataset, &view);
    if (own && strcmp(own->owner, self->ctx->cfg->member) == 0) {
        /* Its own data: this gateway is the owner and answers at once (8.3). */
        s_execute(self, local, in, env, LT_QUERY_OWN, env->context ? own->record_type : NULL);
        lt_query_flush(self);
        return;
    }
    uint8_t hash[LT_HASH_BYTES]; /* taken once: the request's id checks and its answers' */
    uint8_t same[LT_HASH_BYTES]; /* hash and on_behalf: what a retry must match */
    lt_crypto_hash(body, body_len, hash);
    s_local_who(hash, env->on_behalf, same);
    if (s_audit_down(self, NULL, local, in, id) ||
        s_out_retry(self, local, in, id, dataset, hash, same) ||
        s_recent_reused(self, local, in, id, dataset, same))
        return;
    outstanding_t *o =
        s_out_new(self, local, in, id, dataset, is_verify ? vq->deadline_ms : lq->deadline_ms,
                  is_verify ? vq->timeout_ms : lq->timeout_ms, hash, is_verify ? vq : NULL);
    if (!o)
        return;
    memcpy(o->who, same, LT_HASH_BYTES);
    if (s_local_keep(self, o, env, dataset) != 0) {
        s_local_error(local, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_INTERNAL, o->id,
                      "out of memory");
        s_out_free(self, o);
        return;
    }
    s_local_made(self, o, env);
    if (s_out_send(self, o) == 0) {
        o->attempts = 1;
        o->next_at = s_out_now(self) + o->attempt_ms;
    }
}

/* The root the Merkle path of sa implies for its answer; -1 when the path is malformed. */
static int s_merkle_root(const Lienthong__SignedAnswer *sa, uint8_t root[LT_HASH_BYTES])
{
    if (sa->n_proof > LT_MERKLE_MAX_PATH || sa->proof_count == 0 || sa->proof_count > SIGN_BATCH)
        return -1;
    uint8_t leaf[LT_HASH_BYTES], path[LT_MERKLE_MAX_PATH][LT_HASH_BYTES];
    for (size_t i = 0; i < sa->n_proof; i++) {
        if (sa->proof[i].len != LT_HASH_BYTES)
            return -1;
        memcpy(path[i], sa->proof[i].data, LT_HASH_BYTES);
    }
    lt_crypto_merkle_leaf(sa->answer.data, sa->answer.len, leaf);
    /* Walk up to the root the path implies; the caller checks it is signed. */
    size_t idx = sa->proof_index, n = sa->proof_count, k = 0;
    memcpy(root, leaf, LT_HASH_BYTES);
    if (idx >= n)
        return -1;
    while (n > 1) {
        uint8_t buf[1 + 2 * LT_HASH_BYTES];
        int has = (idx & 1) || idx + 1 < n;
        if (has) {
            if (k >= sa->n_proof)
                return -1;
            buf[0] = 0x01;
            memcpy(buf + 1, (idx & 1) ? path[k] : root, LT_HASH_BYTES);
            memcpy(buf + 1 + LT_HASH_BYTES, (idx & 1) ? root : path[k], LT_HASH_BYTES);
            lt_crypto_hash(buf, sizeof buf, root);
            k++;
        }
        idx /= 2;
        n = (n + 1) / 2;
    }
    return k != sa->n_proof ? -1 : 0;
}

/* A signing batch verified already is not verified again for each of its answers. */
static int s_root_known(const lt_query_t *self, const char *owner, const uint8_t *root,
                        const uint8_t *sig)
{
    for (size_t i = 0; i < LT_ANSWERS_ROOT_CACHE; i++)
        if (strcmp(self->roots[i].owner, owner) == 0 &&
            memcmp(self->roots[i].root, root, 32) == 0 &&
            memcmp(self->roots[i].sig, sig, LT_SIG_BYTES) == 0)
            return 1;
    return 0;
}

/* Remembers a verified root for s_root_known, over the oldest. */
static void s_root_remember(lt_query_t *self, const char *owner, const uint8_t *root,
                            const uint8_t *sig)
{
    size_t slot = self->next_root++ % LT_ANSWERS_ROOT_CACHE;
    snprintf(self->roots[slot].owner, sizeof self->roots[slot].owner, "%s", owner);
    memcpy(self->roots[slot].root, root, LT_HASH_BYTES);
    memcpy(self->roots[slot].sig, sig, LT_SIG_BYTES);
}

/* Verifies the Merkle path and the root signature of sa from owner, an
 * active member (PROTOCOL.md 7.4 step 1): 0, or -1 with why. */
static int s_check_signature(lt_query_t *self, const char *owner, const Lienthong__SignedAnswer *sa,
                             char *why, size_t whylen)
{
    const Lienthong__Member *m = lt_dir_member(self->ctx->dir, owner);
    char said[LT_ID_MAX + 64];
    /* Its key may still be listed, but a member suspended or revoked
     * answers for nothing. */
    if (lt_dir_inactive_say(self->ctx->dir, owner, said, sizeof said)) {
        snprintf(why, whylen, "not verified: the owner %s", said);
        return -1;
    }
    uint8_t root[LT_HASH_BYTES];
    if (sa->root_signature.len != LT_SIG_BYTES || s_merkle_root(sa, root) != 0)
        goto bad;
    if (s_root_known(self, owner, root, sa->root_signature.data))
        return 0; /* this signing batch was verified already */
    if (lt_dir_member_verify(m, LT_ANSWERS_DOMAIN, root, LT_HASH_BYTES, sa->root_signature.data) !=
        0) /* either key (5.5) */
        goto bad;
    s_root_remember(self, owner, root, sa->root_signature.data);
    return 0;
bad: /* the reason is written here only, not for each answer that passes */
    snprintf(why, whylen, "bad Merkle path or signature");
    return -1;
}

/* A rejected answer is dropped, and counted, logged and audited through
 * lt_reject (PROTOCOL.md 4.4, 7.4): a flood of them costs bounded log and
 * audit space. Never answered: an answer is not a request. */
static void s_reject(lt_query_t *self, const char *owner, Lienthong__ErrorCode code,
                     const char *why)
{
    char detail[LT_ID_MAX + 160];
    lt_stats_inc(self->rejected);
    snprintf(detail, sizeof detail, "(dropped an answer: %s)", why);
    (void)lt_reject(self->ctx->reject,
                    &(lt_reject_in_t){.who = owner, .what = "answer", .code = code, .why = detail});
}

/* Binds a decoded answer to its outstanding request; NULL if it is not one.
 * said is the answer's own `owner`: applications show it beside the
 * verified signature, so it must name the member whose key verified it
 * (PROTOCOL.md 7.4 step 2). */
static outstanding_t *s_bind(lt_query_t *self, const char *owner, const char *said, uint64_t id,
                             const ProtobufCBinaryData *hash, int is_verify, const char **why,
                             Lienthong__ErrorCode *code)
{
    outstanding_t *o = NULL;
    HASH_FIND(hh, self->out, &id, sizeof id, o);
    /* A late or replayed answer (a retry's second answer is one, now and
     * then) is counted apart from a wrong one, so that operators tell the
     * two apart (lienthong_rejected_inputs_total). */
    *code = o ? LIENTHONG__ERROR_CODE__ERR_MALFORMED : LIENTHONG__ERROR_CODE__ERR_TIMEOUT;
    *why = !o                             ? "no outstanding request with that id (late or replayed)"
           : strcmp(o->owner, owner) != 0 ? "answer from a member the request was not sent to"
           : strcmp(said, owner) != 0     ? "answer names another member as its owner"
           : o->is_verify != is_verify    ? "answer of the wrong kind"
           : hash->len != LT_HASH_BYTES || memcmp(hash->data, o->hash, LT_HASH_BYTES) != 0
               ? "answer bound to a different request (hash mismatch)"
               : NULL;
    return *why ? NULL : o;
}

/* Hands an accepted answer to the application: the owner's exact frame, or,
 * when it asked for context, the exact SignedAnswer with the context added. */
static void s_forward(void *local, outstanding_t *o, const zmq_msg_t *frame)
{
    if (o->done) {
        /* Made by another module: it gets the exact SignedAnswer bytes. */
        lt_query_result_t r = {.code = LIENTHONG__ERROR_CODE__ERR_NONE};
        if (lt_wire_body_bytes(zmq_msg_data((zmq_msg_t *)frame), zmq_msg_size((zmq_msg_t *)frame),
                               &r.signed_answer, &r.len) != 0) {
            r.code = LIENTHONG__ERROR_CODE__ERR_INTERNAL; /* decoded before: never happens */
            r.message = "answer frame does not decode";
        }
        o->done(o->done_arg, &r);
        return;
    }
    if (!o->record_type) {
        (void)lt_wire_send_copy(local, o->rid, o->rid_len, frame);
        return;
    }
    zmq_msg_t copy;
    if (s_context_frame(frame, o->record_type, &copy) != 0) {
        zmq_msg_close(&copy);
        return;
    }
    (void)lt_wire_send_msg(local, o->rid, o->rid_len, &copy); /* closes copy on failure */
}

/* The request's last answer was handed on: counted, timed and forgotten. */
static void s_done(lt_query_t *self, outstanding_t *o)
{
    op_stats_t *os = &self->ops[o->is_verify ? OP_VERIFY : OP_LOOKUP];
    lt_stats_inc(os->answered);
    lt_stats_observe_us(os->caller_us, lt_gwstats_since_us(o->started_us));
    s_out_free(self, o);
}

/* An answer to a lookup ends its request: forwarded when it binds to one, else dropped. */
static void s_lookup_answer(lt_query_t *self, void *local, const char *owner,
                            const Lienthong__SignedAnswer *sa, const zmq_msg_t *frame)
{
    const char *why = NULL;
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    outstanding_t *o = NULL;
    Lienthong__LookupAnswer *a =
        lienthong__lookup_answer__unpack(NULL, sa->answer.len, sa->answer.data);
    if (a)
        o = s_bind(self, owner, a->owner, a->request_id, &a->request_hash, 0, &why, &code);
    if (a)
        lienthong__lookup_answer__free_unpacked(a, NULL);
    if (!o) {
        s_reject(self, owner, code, a ? why : "answer does not decode");
        return;
    }
    s_forward(local, o, frame);
    s_done(self, o);
}

/* A per-key answer names keys[index]; only a whole-request refusal has no key. */
static int s_key_asked(const outstanding_t *o, const Lienthong__VerifyAnswer *a)
{
    if (a->index >= o->n_keys)
        return 0;
    if (a->key[0])
        return o->keys[a->index] && strcmp(o->keys[a->index], a->key) == 0;
    return a->code != LIENTHONG__ERROR_CODE__ERR_NONE;
}

/* An answer for one key of a verify: forwarded once, its request ended by the last. */
static void s_verify_answer(lt_query_t *self, void *local, const char *owner,
                            const Lienthong__SignedAnswer *sa, const zmq_msg_t *frame)
{
    const char *why = NULL;
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    outstanding_t *o = NULL;
    Lienthong__VerifyAnswer *a =
        lienthong__verify_answer__unpack(NULL, sa->answer.len, sa->answer.data);
    if (a)
        o = s_bind(self, owner, a->owner, a->request_id, &a->request_hash, 1, &why, &code);
    if (o && !s_key_asked(o, a)) {
        why = "answer names a key that was not asked";
        o = NULL;
    }
    if (!o) {
        s_reject(self, owner, code, a ? why : "answer does not decode");
        goto out;
    }
    if (!o->seen[a->index] || a->last) {
        if (!o->seen[a->index]) {
            o->seen[a->index] = 1;
            o->n_seen++;
            s_forward(local, o, frame);
        }
        o->next_at = s_out_now(self) + o->attempt_ms; /* progress: restart the attempt timer */
        if (a->last)
            s_done(self, o);
    }
out:
    if (a)
        lienthong__verify_answer__free_unpacked(a, NULL);
}

void lt_query_on_answer(lt_query_t *self, void *local, const char *owner,
                        const Lienthong__Envelope *env, const zmq_msg_t *frame)
{
    int is_verify = env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY;
    const Lienthong__SignedAnswer *sa = is_verify ? env->verify_reply : env->lookup_reply;
    char where[64], bad[LT_ID_MAX + 128];
    if (s_check_signature(self, owner, sa, bad, sizeof bad) != 0) {
        s_reject(self, owner, LIENTHONG__ERROR_CODE__ERR_BAD_SIGNATURE, bad);
        return;
    }
    /* Signed, but an application's strict decoder could not read it
     * (PROTOCOL.md 4.5): dropped like a forged one. */
    if (lt_valid_utf8(is_verify ? &lienthong__verify_answer__descriptor
                                : &lienthong__lookup_answer__descriptor,
                      sa->answer.data, sa->answer.len, where, sizeof where) != 0) {
        s_reject(self, owner, LIENTHONG__ERROR_CODE__ERR_MALFORMED,
                 "answer has a string field that is not valid UTF-8");
        return;
    }
    if (is_verify)
        s_verify_answer(self, local, owner, sa, frame);
    else
        s_lookup_answer(self, local, owner, sa, frame);
}

/* Keeps the owner's last transient refusal (e.g. its audit log cannot be
 * written, PROTOCOL.md 7.3), so that the timeout says why. */
static void s_owner_said(outstanding_t *o, const Lienthong__Error *e)
{
    char buf[512];
    const char *name = lt_wire_error_name(e->code);
    /* Cut on a character boundary: the text goes on into a profile part's
     * detail, which must stay valid UTF-8 (PROTOCOL.md 4.5, 7.7). */
    snprintf(buf, sizeof buf, "%s: %.*s", name,
             lt_valid_cut(e->message, sizeof buf - 3 - strlen(name)), e->message);
    free(o->owner_said);
    o->owner_said = strdup(buf);
}

/* The request ended with an unsigned Error: to the application, or to
 * the module that made it. */
static void s_end_error(void *local, const outstanding_t *o, Lienthong__ErrorCode code,
                        const char *why)
{
    if (o->done)
        o->done(o->done_arg, &(lt_query_result_t){.code = code, .message = why});
    else
        s_local_error(local, o->rid, o->rid_len, code, o->id, why);
}

/* The deadline passed: ERR_TIMEOUT, with what the owner last said. */
static void s_timeout(void *local, const outstanding_t *o)
{
    char why[640];
    snprintf(why, sizeof why, "no verified answer from the owner before the deadline%s%s",
             o->owner_said ? "; the owner last said " : "", o->owner_said ? o->owner_said : "");
    s_end_error(local, o, LIENTHONG__ERROR_CODE__ERR_TIMEOUT, why);
}

void lt_query_on_error(lt_query_t *self, void *local, const char *owner, const Lienthong__Error *e)
{
    outstanding_t *o = NULL;
    uint64_t id = e->request_id;
    if (id)
        HASH_FIND(hh, self->out, &id, sizeof id, o);
    if (!o || strcmp(o->owner, owner) != 0)
        return;
    if (e->code == LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE ||
        e->code == LIENTHONG__ERROR_CODE__ERR_INTERNAL) {
        s_owner_said(o, e);
        return; /* transient: the attempt timer resends */
    }
    if (e->code == LIENTHONG__ERROR_CODE__ERR_TIMEOUT) {
        /* The owner found the deadline passed: the request timed out as
         * surely as at this gateway's own deadline, and is counted and
         * logged so (docs/operations.md), not only among the peer's errors. */
        lt_stats_inc(self->ops[o->is_verify ? OP_VERIFY : OP_LOOKUP].timeouts);
        s_owner_said(o, e);
        s_log_ended(self, o, "timed out", " at the owner");
    }
    s_end_error(local, o, e->code, e->message);
    s_out_free(self, o);
}

Lienthong__ErrorCode lt_query_lookup_for(lt_query_t *self, const Lienthong__LookupRequest *q,
                                         const Lienthong__OnBehalf *who, lt_query_done_fn done,
                                         void *arg, char *why, size_t whylen)
{
    const Lienthong__Dataset *ds;
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_NONE;
    char full[224];
    zmq_msg_t frame;
    const uint8_t *body;
    size_t body_len;
    outstanding_t *o = NULL;
    uint8_t hash[LT_HASH_BYTES];
    /* Packed first: the bound is charged what the request holds, its own
     * frame, as for an application's (s_out_new). */
    if (lt_wire_pack_body(&frame, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, q) != 0) {
        snprintf(why, whylen, "out of memory");
        return LIENTHONG__ERROR_CODE__ERR_INTERNAL;
    }
    size_t cost = s_out_cost(zmq_msg_size(&frame), NULL);
    const char *no =
        s_out_check(self, q->request_id, q->dataset, cost, &ds, &code, full, sizeof full);
    if (no) {
        snprintf(why, whylen, "%s", no);
        goto out;
    }
    code = LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE;
    if (!lt_audit_writable(self->ctx->audit, why, whylen)) {
        lt_audit_refused(self->ctx->audit);
        goto out; /* nothing unaudited (7.3) */
    }
    code = LIENTHONG__ERROR_CODE__ERR_INTERNAL;
    if (lt_wire_body_bytes(zmq_msg_data(&frame), zmq_msg_size(&frame), &body, &body_len) == 0) {
        lt_crypto_hash(body, body_len, hash);
        o = s_out_make(self, q->request_id, ds->owner, &frame, hash, q->deadline_ms, q->timeout_ms,
                       cost);
    }
    if (!o) {
        snprintf(why, whylen, "out of memory");
        goto out;
    }
    code = LIENTHONG__ERROR_CODE__ERR_NONE;
    o->done = done;
    o->done_arg = arg;
    lt_stats_inc(self->ops[OP_LOOKUP].made);
    s_audit_lookup_made(self, o, q, who);
    if (s_out_send(self, o) == 0) {
        o->attempts = 1;
        o->next_at = s_out_now(self) + o->attempt_ms;
    }
out:
    zmq_msg_close(&frame);
    return code;
}

/* The first outstanding request to an owner the directory does not list
 * as active, or any while it suspends, revokes or does not list this
 * gateway's own member (PROTOCOL.md 5.4), or NULL. */
static outstanding_t *s_out_inactive(lt_query_t *self)
{
    int cut_off = lt_dir_inactive(self->ctx->dir, self->ctx->cfg->member) != NULL;
    outstanding_t *o, *t;
    HASH_ITER(hh, self->out, o, t)
    {
        if (cut_off || lt_dir_inactive(self->ctx->dir, o->owner))
            return o;
    }
    return NULL;
}

void lt_query_dir_changed(lt_query_t *self, void *local)
{
    /* A cached root was verified under the keys of the directory before:
     * one signed by a key this directory dropped (a rotation, 5.5) must be
     * checked again, and fail. */
    memset(self->roots, 0, sizeof self->roots);
    self->next_root = 0;
    lt_gwstats_verifiers(self->over, self->ctx->dir, self->ctx->cfg->member);
    /* One at a time from the start: ending one may end others (a profile's
     * parts, lt_query_forget). */
    outstanding_t *o;
    while ((o = s_out_inactive(self))) {
        char said[LT_ID_MAX + 64], why[LT_ID_MAX + 128];
        const char *whose = "this gateway's member";
        if (!lt_dir_inactive_say(self->ctx->dir, self->ctx->cfg->member, said, sizeof said)) {
            whose = "the owner";
            (void)lt_dir_inactive_say(self->ctx->dir, o->owner, said, sizeof said);
        }
        snprintf(why, sizeof why, "no answer will be taken: %s %s", whose, said);
        char tail[sizeof why + 2];
        snprintf(tail, sizeof tail, ": %s", why);
        s_log_ended(self, o, "ended", tail);
        s_end_error(local, o, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE, why);
        s_out_free(self, o);
    }
}

void lt_query_forget(lt_query_t *self, uint64_t id)
{
    outstanding_t *o = NULL;
    HASH_FIND(hh, self->out, &id, sizeof id, o);
    if (o && o->done)
        s_out_free(self, o);
}

/* At the deadline of a request from an application: how its owner is
 * unreachable (in buf), when the link to it was not connected at any time
 * since the request was accepted, as far as sends and the link's state
 * tell (PROTOCOL.md 7.4, 8.3); NULL when it was, the owner only slow or
 * its link's queue full. A profile's parts keep their timeout (7.7). */
static const char *s_unreachable(lt_query_t *self, const outstanding_t *o, char *buf, size_t len)
{
    int64_t heard = 0;
    int up = self->ctx->peers ? lt_peers_link_up(self->ctx->peers, o->owner, &heard) : -1;
    if (o->done || o->linked || up == 1)
        return NULL;
    char at[32] = "";
    if (!heard) {
        snprintf(buf, len, "its gateway is not connected to this one (never heard from)");
        return buf;
    }
    lt_clock_utc(heard / 1000, at, sizeof at);
    snprintf(buf, len,
             "its gateway is not connected to this one (last heard from at %s, %.1f s ago)", at,
             (double)(lt_clock_now_ms() - heard) / 1000.0);
    return buf;
}

/* A request's deadline passed: ERR_UNAVAILABLE when its owner was not
 * reachable, else ERR_TIMEOUT, each counted and logged apart. */
static void s_deadline(lt_query_t *self, void *local, outstanding_t *o)
{
    op_stats_t *st = &self->ops[o->is_verify ? OP_VERIFY : OP_LOOKUP];
    char how[160], why[LT_ID_MAX + 320], tail[sizeof how + 48];
    int conn = s_unreachable(self, o, how, sizeof how) != NULL;
    snprintf(tail, sizeof tail, " after %d attempt(s)%s%s", o->attempts, conn ? ": " : "",
             conn ? how : "");
    if (!conn) {
        lt_stats_inc(st->timeouts);
        s_log_ended(self, o, "timed out", tail);
        s_timeout(local, o);
        return;
    }
    lt_stats_inc(st->unreachable);
    s_log_ended(self, o, "unreachable", tail);
    snprintf(why, sizeof why,
             "the owner %s is not reachable: %s; the request was retried until its deadline",
             o->owner, how);
    s_end_error(local, o, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE, why);
}

void lt_query_tick(lt_query_t *self, void *local)
{
    lt_refuse_tick(self->refusals);
    lt_tally_tick(self->ended);
    int64_t now = s_out_now(self);
    outstanding_t *o, *t;
    HASH_ITER(hh, self->out, o, t)
    {
        if (now >= o->deadline) {
            s_deadline(self, local, o);
            s_out_free(self, o);
            continue;
        }
        if (now < o->next_at)
            continue;
        /* Lazy Pirate (7.4): resend the same bytes; after two silent
         * attempts (sent, their timers ran out) try the owner's next
         * endpoint. Tries that found no room do not count. */
        if (!o->unsent && o->sent >= 2 && o->sent % 2 == 0)
            lt_peers_rotate(self->ctx->peers, o->owner);
        if (s_out_send(self, o) == 0) {
            /* Doubled from the second send on: tries that found no room
             * before the first did not wait for an answer. */
            if (o->sent > 1)
                o->attempt_ms = o->attempt_ms * 2 > 8000 ? 8000 : o->attempt_ms * 2;
            o->attempts++;
            o->next_at = now + o->attempt_ms;
        } else {
            /* No room on the link: try again shortly. Not connected for 1 s
             * (20 tries): the owner's other key or endpoint. A connected
             * link whose queue is full (an owner slow to read) keeps its
             * key, endpoint and what it queued (5.5 step 3): reopening it
             * for each request waiting would never let it settle. */
            o->next_at = now + 50;
            o->attempts++;
            int64_t heard;
            if (++o->unsent % 20 == 0 && lt_peers_link_up(self->ctx->peers, o->owner, &heard) != 1)
                lt_peers_rotate(self->ctx->peers, o->owner);
        }
    }
}

size_t lt_query_outstanding(const lt_query_t *self)
{
    return HASH_COUNT(self->out);
}

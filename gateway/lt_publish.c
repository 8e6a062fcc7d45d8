/* lt_publish: owner write path (log, state, views) in one transaction. */
#include "lt_publish.h"
#include "lt_arena.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_gwstats.h"
#include "lt_log.h"
#include "lt_notify.h"
#include "lt_presence.h"
#include "lt_refuse.h"
#include "lt_rules.h"
#include "lt_schema.h"
#include "lt_store_snap.h"
#include "lt_valid.h"
#include "lt_viewset.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFUSAL_SERIES 256 /* dataset and rule pairs counted and logged apart */
/* Reason text one PublishAck carries at most: past it, refusals keep their
 * rule ids with a short reason, so that an ack of a Publish of thousands
 * of bad rows stays far below what a local client accepts (8, B). */
#define REFUSAL_TEXT_MAX (1u << 20)
/* Blocks of the arena a Publish's payloads are decoded into: about ten
 * for a Publish of a thousand population records, each under malloc's
 * mmap threshold. */
#define PUBLISH_ARENA_BLOCK (64u << 10)
/* and at most this much of them: a Publish of a thousand records needs
 * well under 1 MiB; past it, decoding goes to malloc (lt_arena.h). */
#define PUBLISH_ARENA_MAX (32u << 20)

/* One stream touched by the group, with its cursor kept in memory until
 * the group commits. */
typedef struct {
    const char *name;
    lt_stream_t st;
    uint64_t from_seq; /* last_seq when the group first touched the stream */
    int dirty;
    int view; /* a view's stream: its rows are found by key (lt_store_state_held) */
    /* The records appended, packed, for the feed (lt_fresh.h); none once
     * one could not be kept, so that a run is never missing a record. */
    lt_fresh_run_t *run;
    int no_run;
} slot_t;

/* The views of one dataset the group wrote to, with their slots. */
typedef struct {
    const Lienthong__Dataset *ds;
    lt_viewset_t *set;
    const Lienthong__View **vs; /* the views of set, in directory order */
    slot_t **slots;             /* and their streams */
} views_t;

typedef struct {
    lt_store_t *store;
    const lt_dir_t *dir;
    slot_t slots[LT_PUBLISH_GROUP_STREAMS];
    size_t n_slots;
    views_t views[LT_PUBLISH_GROUP_STREAMS]; /* each dataset has a slot too */
    size_t n_views;
    long *held; /* views the changed key is in, per change */
    size_t n_held, held_cap;
    int64_t now_ms;
    size_t max_record;
    /* The decoded payloads of one Publish (lt_arena.h), taken back after
     * it; pa is NULL (malloc and free) when the arena could not be made. */
    lt_arena_t *arena;
    ProtobufCAllocator *pa;
} group_t;

size_t lt_publish_max_record(size_t max_message)
{
    /* Room for the Record, Batch and Envelope framing and the key. */
    size_t cap =
        max_message / 2 > LT_PUBLISH_RECORD_SLACK ? max_message / 2 - LT_PUBLISH_RECORD_SLACK : 0;
    return cap < LT_PUBLISH_MAX_RECORD ? cap : LT_PUBLISH_MAX_RECORD;
}

static slot_t *s_slot(group_t *g, const char *name)
{
    for (size_t i = 0; i < g->n_slots; i++)
        if (strcmp(g->slots[i].name, name) == 0)
            return &g->slots[i];
    if (g->n_slots >= sizeof g->slots / sizeof g->slots[0])
        return NULL;
    slot_t *s = &g->slots[g->n_slots];
    memset(s, 0, sizeof *s);
    s->name = name;
    if (lt_store_stream(g->store, name, &s->st) != 0)
        return NULL;
    s->from_seq = s->st.last_seq;
    g->n_slots++;
    return s;
}

/* Adds a record just appended to the slot's run for the feed; a record
 * that cannot be kept ends the slot's run for this group. */
static void s_keep_fresh(slot_t *s, uint64_t seq, const uint8_t *rec, size_t len,
                         const uint8_t leaf[LT_HASH_BYTES])
{
    if (s->no_run)
        return;
    if ((!s->run && !(s->run = lt_fresh_run_new(s->st.id, seq))) ||
        lt_fresh_run_add(s->run, rec, len, leaf) != 0) {
        lt_fresh_run_destroy(&s->run);
        s->no_run = 1;
    }
}

/* Appends one record to a stream: log + state. Its Merkle leaf, hashed
 * once here, gives its checksum in the store and, kept with the record in
 * memory (lt_fresh), the root of the batch it is sent in. */
static int s_emit(group_t *g, slot_t *s, const char *key, int deleted, const uint8_t *payload,
                  size_t len)
{
    Lienthong__Record r = LIENTHONG__RECORD__INIT;
    r.seq = s->st.last_seq + 1;
    r.key = (char *)key;
    r.deleted = deleted;
    r.payload.data = (uint8_t *)payload;
    r.payload.len = deleted ? 0 : len;
    r.changed_at_ms = g->now_ms;
    uint8_t stack[2048], *buf = stack;
    size_t n = lienthong__record__get_packed_size(&r);
    if (n > sizeof stack && !(buf = malloc(n)))
        return -1;
    lienthong__record__pack(&r, buf);
    uint8_t leaf[LT_HASH_BYTES];
    lt_crypto_merkle_leaf(buf, n, leaf);
    int rc = lt_store_append_leaf(g->store, s->st.id, r.seq, buf, n, leaf) ||
             lt_store_state_put(g->store, s->st.id, key, r.seq, deleted,
                                deleted ? 0 : lt_presence_mask(payload, len), s->view);
    if (rc == 0)
        s_keep_fresh(s, r.seq, buf, n, leaf);
    if (buf != stack)
        free(buf);
    if (rc)
        return -1;
    s->st.last_seq = r.seq;
    s->dirty = 1;
    return 0;
}

int lt_publish_view_match(const Lienthong__View *v, const ProtobufCMessage *msg)
{
    char buf[256];
    for (size_t i = 0; i < v->n_where; i++) {
        const ProtobufCFieldDescriptor *fd = lt_schema_field(msg->descriptor, v->where[i]->field);
        const char *val = fd ? lt_schema_text(msg, fd, buf, sizeof buf) : NULL;
        if (!val || strcmp(val, v->where[i]->equals) != 0)
            return 0;
    }
    return 1;
}

/* 1 when key's current record in view slot s holds exactly the payload
 * proj, 0 when it does not or cannot be read sound (a new record is then
 * written, as for any change), -1 on a store error. The view's own record
 * is compared, not a projection of the dataset's previous version: it is
 * what the view's replicas hold (PROTOCOL.md 6.1), and retention keeps it
 * as the key's current version (6.8). */
static int s_view_same(group_t *g, const slot_t *s, const char *key, const uint8_t *proj,
                       size_t len)
{
    uint64_t seq = 0;
    int deleted = 0, rc = lt_store_state_get(g->store, s->st.id, key, &seq, &deleted);
    if (rc != 1 || deleted)
        return rc < 0 ? -1 : 0;
    uint8_t *rec = NULL;
    size_t n = 0;
    rc = lt_store_get(g->store, s->st.id, seq, &rec, &n);
    if (rc != 1) {
        if (rc == LT_STORE_DAMAGED)
            lt_warn("publish", "%s: record %llu of key %.64s is damaged (%s): written anew",
                    s->name, (unsigned long long)seq, key, lt_store_damaged_why(g->store));
        return rc == -1 ? -1 : 0;
    }
    Lienthong__Record *r = lienthong__record__unpack(NULL, n, rec);
    int same = r && !r->deleted && r->payload.len == len &&
               (len == 0 || memcmp(r->payload.data, proj, len) == 0);
    if (r)
        lienthong__record__free_unpacked(r, NULL);
    free(rec);
    return same;
}

/* Writes msg's projection for view v into slot s; when the key is held
 * there already (held) and the view's record of it holds that projection,
 * nothing: a change of fields outside the view is no change of the view,
 * and its members and replicas must not see one (PROTOCOL.md 6.1). A
 * view's first record (a tombstone never is one) records the definition
 * it is derived with, in the same transaction, so that a later change of
 * v is noticed (lt_feed_views.c). */
static int s_view_enter(group_t *g, const Lienthong__Dataset *ds, const Lienthong__View *v,
                        slot_t *s, const char *key, const ProtobufCMessage *msg, int held)
{
    uint8_t *proj = NULL, def[LT_HASH_BYTES];
    size_t len = 0;
    if (s->st.last_seq == 0 && (lt_publish_view_def(ds, v, def) != 0 ||
                                lt_store_view_def_set(g->store, s->st.id, def) != 0))
        return -1;
    if (lt_schema_project(msg, v->fields, v->n_fields, ds->key_field, &proj, &len) != 0)
        return -1;
    int rc = held ? s_view_same(g, s, key, proj, len) : 0;
    if (rc == 0)
        rc = s_emit(g, s, key, 0, proj, len);
    else if (rc == 1)
        rc = 0;
    free(proj);
    return rc;
}

static int s_cmp_text(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int s_cmp_pred(const void *a, const void *b)
{
    const Lienthong__Predicate *x = *(const Lienthong__Predicate *const *)a,
                               *y = *(const Lienthong__Predicate *const *)b;
    int c = strcmp(x->field, y->field);
    return c ? c : strcmp(x->equals, y->equals);
}

/* Piece i of a definition: a text with the NUL that ends it, so that no
 * two lists of texts hash alike. */
static void s_def_piece(const uint8_t **bufs, size_t *lens, size_t i, const char *text)
{
    bufs[i] = (const uint8_t *)text;
    lens[i] = strlen(text) + 1;
}

int lt_publish_view_def(const Lienthong__Dataset *ds, const Lienthong__View *v,
                        uint8_t def[LT_HASH_BYTES])
{
    /* The dataset's id, type and key, the fields, an empty text (no field
     * name is empty), then each predicate's field and value. */
    size_t n = 4 + v->n_fields + 1 + 2 * v->n_where, k = 0;
    const uint8_t **bufs = calloc(n, sizeof *bufs);
    size_t *lens = calloc(n, sizeof *lens);
    char **fields = calloc(v->n_fields + 1, sizeof *fields);
    Lienthong__Predicate **where = calloc(v->n_where + 1, sizeof *where);
    int rc = -1;
    if (!bufs || !lens || !fields || !where)
        goto out;
    /* In a set order: a directory that only reorders a view's lists does
     * not change what it holds. */
    for (size_t i = 0; i < v->n_fields; i++)
        fields[i] = v->fields[i];
    for (size_t i = 0; i < v->n_where; i++) /* an empty list may be NULL */
        where[i] = v->where[i];
    qsort(fields, v->n_fields, sizeof *fields, s_cmp_text);
    qsort(where, v->n_where, sizeof *where, s_cmp_pred);
    s_def_piece(bufs, lens, k++, "lienthong view definition");
    s_def_piece(bufs, lens, k++, ds->id);
    s_def_piece(bufs, lens, k++, ds->record_type);
    s_def_piece(bufs, lens, k++, ds->key_field);
    for (size_t i = 0; i < v->n_fields; i++)
        s_def_piece(bufs, lens, k++, fields[i]);
    s_def_piece(bufs, lens, k++, "");
    for (size_t i = 0; i < v->n_where; i++) {
        s_def_piece(bufs, lens, k++, where[i]->field);
        s_def_piece(bufs, lens, k++, where[i]->equals);
    }
    lt_crypto_hashv(bufs, lens, k, def);
    rc = 0;
out:
    free(bufs);
    free(lens);
    free(fields);
    free(where);
    return rc;
}

/* The views of ds, from the directory, with their streams: once per group
 * rather than once per change. NULL on failure. */
static views_t *s_views(group_t *g, const Lienthong__Dataset *ds)
{
    for (size_t i = 0; i < g->n_views; i++)
        if (g->views[i].ds == ds)
            return &g->views[i];
    if (g->n_views >= sizeof g->views / sizeof g->views[0])
        return NULL;
    const Lienthong__Directory *d = lt_dir_get(g->dir);
    const Lienthong__View **vs = calloc(d->n_views + 1, sizeof *vs);
    int64_t *ids = calloc(d->n_views + 1, sizeof *ids);
    slot_t **slots = calloc(d->n_views + 1, sizeof *slots);
    views_t *out = NULL;
    size_t n = 0;
    if (!vs || !ids || !slots)
        goto out;
    for (size_t v = 0; v < d->n_views; v++)
        if (strcmp(d->views[v]->dataset, ds->id) == 0) {
            if (!(slots[n] = s_slot(g, d->views[v]->id)))
                goto out;
            slots[n]->view = 1;
            vs[n] = d->views[v];
            ids[n] = slots[n]->st.id;
            n++;
        }
    lt_viewset_t *set = lt_viewset_new(vs, ids, n, lt_schema_find(ds->record_type));
    if (set) {
        out = &g->views[g->n_views++];
        *out = (views_t){.ds = ds, .set = set, .vs = vs, .slots = slots};
        vs = NULL;
        slots = NULL;
    }
out:
    free(vs);
    free(ids);
    free(slots);
    return out;
}

typedef struct {
    group_t *g;
    const views_t *vw;
} held_arg_t;

/* Collects the views of the set a key is in (lt_store_state_held). */
static int s_held(void *arg, int64_t stream)
{
    held_arg_t *a = arg;
    group_t *g = a->g;
    long v = lt_viewset_find(a->vw->set, stream);
    if (v < 0)
        return 0; /* the dataset, or a stream of another dataset */
    if (g->n_held == g->held_cap) {
        size_t cap = g->held_cap ? g->held_cap * 2 : 16;
        long *p = realloc(g->held, cap * sizeof *p);
        if (!p)
            return -1;
        g->held = p;
        g->held_cap = cap;
    }
    g->held[g->n_held++] = v;
    return 0;
}

/* 1 when the changed key was live in view v (of the set) before the change. */
static int s_is_held(const group_t *g, size_t v)
{
    for (size_t i = 0; i < g->n_held; i++)
        if ((size_t)g->held[i] == v)
            return 1;
    return 0;
}

/* Derives one dataset change into the views of its dataset: the projection
 * into each view msg matches (none where the key stays with the same
 * projection), a tombstone into each view the key was in and leaves. One
 * index lookup finds the views the key is in, so the cost follows the
 * views entered, left or changed, not the number of views. */
static int s_derive(group_t *g, views_t *vw, const char *key, const ProtobufCMessage *msg)
{
    if (lt_viewset_size(vw->set) == 0)
        return 0;
    /* Collected before any write: the walk must not see its own writes. */
    g->n_held = 0;
    held_arg_t arg = {.g = g, .vw = vw};
    if (lt_store_state_held(g->store, key, s_held, &arg) != 0)
        return -1;
    size_t hits = lt_viewset_match(vw->set, msg);
    for (size_t i = 0; i < hits; i++) {
        size_t v = lt_viewset_hit(vw->set, i);
        if (s_view_enter(g, vw->ds, vw->vs[v], vw->slots[v], key, msg, s_is_held(g, v)) != 0)
            return -1;
    }
    /* The key leaves these views (or is deleted): a tombstone, once. */
    for (size_t i = 0; i < g->n_held; i++)
        if (!lt_viewset_is_hit(vw->set, (size_t)g->held[i]) &&
            s_emit(g, vw->slots[g->held[i]], key, 1, NULL, 0) != 0)
            return -1;
    return 0;
}

/* Checks one change; returns its decoded payload (NULL for a tombstone). */
static int s_check_change(const Lienthong__Dataset *ds, const ProtobufCMessageDescriptor *t,
                          const Lienthong__Change *c, size_t max_record, ProtobufCAllocator *pa,
                          ProtobufCMessage **msg, char *err, size_t errlen)
{
    *msg = NULL;
    if (!lt_valid_key(c->key)) {
        snprintf(err, errlen, "change with an empty or over-long key");
        return -1;
    }
    uint64_t cur;
    if (lt_valid_cursor(c->source_cursor, &cur) != 0) {
        snprintf(err, errlen,
                 "change for key %.64s: source_cursor '%.*s' is not a decimal number of 0 to "
                 "%" PRId64 " in digits only",
                 c->key, lt_valid_cut(c->source_cursor, 40), c->source_cursor, INT64_MAX);
        return -1;
    }
    if (c->deleted)
        return 0;
    if (c->payload.len > max_record) {
        /* The limit follows this gateway's max_message (PROTOCOL.md 8.1):
         * named, so that the sender knows how far to shrink the record. */
        snprintf(err, errlen,
                 "record for key %.64s is %zu bytes, over this gateway's limit of %zu bytes for "
                 "a record",
                 c->key, c->payload.len, max_record);
        return -1;
    }
    char where[64];
    /* The record is served as it is stored: its strings must be UTF-8 for
     * every reader (PROTOCOL.md 4.5). */
    if (lt_valid_utf8(t, c->payload.data, c->payload.len, where, sizeof where) != 0) {
        snprintf(err, errlen, "payload for key %.64s: %.64s is not valid UTF-8 (or holds a NUL)",
                 c->key, where);
        return -1;
    }
    *msg = protobuf_c_message_unpack(t, pa, c->payload.len, c->payload.data);
    if (!*msg) {
        snprintf(err, errlen, "payload for key %.64s is not a valid %.64s", c->key, t->name);
        return -1;
    }
    char buf[300];
    const char *k = lt_schema_text(*msg, lt_schema_field(t, ds->key_field), buf, sizeof buf);
    if (!k || strcmp(k, c->key) != 0) {
        snprintf(err, errlen, "change key %.64s differs from the record's %.64s", c->key,
                 ds->key_field);
        protobuf_c_message_free_unpacked(*msg, pa);
        *msg = NULL;
        return -1;
    }
    return 0;
}

/* A Refusal for change c failing fails[0..n) of rules (malloc'd). */
static Lienthong__Refusal *s_refusal(const Lienthong__Change *c, const lt_rules_t *rules,
                                     const lt_rules_fail_t *fails, size_t n, size_t *budget)
{
    Lienthong__Refusal *r = malloc(sizeof *r);
    if (!r)
        return NULL;
    lienthong__refusal__init(r);
    r->key = strdup(c->key);
    r->source_cursor = strdup(c->source_cursor ? c->source_cursor : "");
    r->rules = calloc(n, sizeof *r->rules);
    r->reasons = calloc(n, sizeof *r->reasons);
    int ok = r->key && r->source_cursor && r->rules && r->reasons;
    for (size_t i = 0; ok && i < n; i++, r->n_rules++, r->n_reasons++) {
        size_t len = strlen(fails[i].reason);
        const char *why = len <= *budget ? fails[i].reason : "(more refusals than one ack tells)";
        *budget -= len <= *budget ? len : 0;
        ok = (r->rules[i] = strdup(lt_rules_id(rules, fails[i].rule))) &&
             (r->reasons[i] = strdup(why));
    }
    if (!ok) {
        lienthong__refusal__free_unpacked(r, NULL);
        return NULL;
    }
    return r;
}

/* Applies ds's rules (PROTOCOL.md 5.7) to the decoded changes: each one
 * failing is reported in res and its message freed (msgs[i] = NULL), and
 * refused[i] set. Returns -1 when out of memory or the rules do not
 * compile (the directory was checked when opened: a bug), 0 otherwise. */
static int s_apply_rules(group_t *g, const Lienthong__Dataset *ds, const Lienthong__Publish *p,
                         ProtobufCMessage **msgs, unsigned char *refused, lt_publish_result_t *res)
{
    char err[256];
    lt_rules_t *rules = lt_rules_new(ds, err, sizeof err);
    if (!rules) {
        lt_error("publish", "dataset=%s rules do not compile: %s", ds->id, err);
        return -1;
    }
    int rc = 0;
    size_t budget = REFUSAL_TEXT_MAX;
    lt_rules_fail_t fails[LT_RULES_MAX];
    for (size_t i = 0; rc == 0 && i < p->n_changes; i++) {
        if (!msgs[i])
            continue; /* a deletion: nothing to check */
        size_t n = lt_rules_check(rules, msgs[i], g->now_ms / 1000, fails, LT_RULES_MAX);
        if (n == 0)
            continue;
        if (!res->refusals && !(res->refusals = calloc(p->n_changes, sizeof *res->refusals))) {
            rc = -1;
            break;
        }
        Lienthong__Refusal *r = s_refusal(p->changes[i], rules, fails, n, &budget);
        if (!r) {
            rc = -1;
            break;
        }
        res->refusals[res->n_refusals++] = r;
        refused[i] = 1;
        protobuf_c_message_free_unpacked(msgs[i], g->pa);
        msgs[i] = NULL;
    }
    lt_rules_destroy(&rules);
    return rc;
}

void lt_publish_results_free(lt_publish_result_t *res, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < res[i].n_refusals; j++)
            lienthong__refusal__free_unpacked(res[i].refusals[j], NULL);
        free(res[i].refusals);
        res[i].refusals = NULL;
        res[i].n_refusals = 0;
    }
}

/* The cursor of a change that passed s_check_change; 0 for none. */
static uint64_t s_cursor(const char *text)
{
    uint64_t v = 0;
    return lt_valid_cursor(text, &v) == 0 ? v : 0;
}

int lt_publish_refusal_resent(const lt_publish_result_t *r, size_t i)
{
    uint64_t cur = i < r->n_refusals ? s_cursor(r->refusals[i]->source_cursor) : 0;
    return cur && cur <= r->known_cursor;
}

/* Writes one checked change into its dataset and its views. */
static int s_apply_change(group_t *g, slot_t *ds_slot, const Lienthong__Dataset *ds,
                          const Lienthong__Change *c, const ProtobufCMessage *msg)
{
    if (s_emit(g, ds_slot, c->key, c->deleted, c->payload.data, c->payload.len) != 0)
        return -1;
    views_t *vw = s_views(g, ds);
    return vw ? s_derive(g, vw, c->key, msg) : -1;
}

static void s_free_msgs(group_t *g, ProtobufCMessage **msgs, size_t n)
{
    /* In the arena nothing needs freeing, unless it passed its bound. */
    int each = !g->arena || lt_arena_spilled(g->arena);
    for (size_t i = 0; each && i < n; i++)
        if (msgs[i])
            protobuf_c_message_free_unpacked(msgs[i], g->pa);
    free(msgs);
    lt_arena_reset(g->arena);
}

/* Whether member may publish p at all: the dataset is its own, the record
 * type is the dataset's and there is something to apply. 0 if so, else -1
 * with res->code and res->err set. */
static int s_publish_admit(group_t *g, const char *member, const Lienthong__Publish *p,
                           const Lienthong__Dataset **ds_out, lt_publish_result_t *res)
{
    const Lienthong__Dataset *ds = lt_dir_dataset(g->dir, p->dataset);
    res->code = LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    if (!ds || strcmp(ds->owner, member) != 0) {
        res->code =
            ds ? LIENTHONG__ERROR_CODE__ERR_FORBIDDEN : LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
        snprintf(res->err, sizeof res->err, "dataset '%s' is %s", p->dataset,
                 ds ? "owned by another member" : "not in the directory");
        return -1;
    }
    /* Before any payload is decoded: bytes of another record type may well
     * decode as the dataset's (protobuf reads what it can), and would be
     * stored as wrong data or refused row by row (PROTOCOL.md 8.1, which
     * fixes the message's form: the source adapter recognises it). */
    if (p->record_type && p->record_type[0] && strcmp(p->record_type, ds->record_type) != 0) {
        snprintf(res->err, sizeof res->err,
                 "record_type '%.64s' is not the record type '%.64s' of dataset '%.64s'",
                 p->record_type, ds->record_type, ds->id);
        return -1;
    }
    if (p->n_changes == 0) {
        snprintf(res->err, sizeof res->err, "publish carries no change");
        return -1;
    }
    *ds_out = ds;
    return 0;
}

/* Applies p's checked changes (msgs decoded, refused marked by the rules)
 * to slot, skipping those already durable. Returns -1 on a store failure. */
static int s_apply_changes(group_t *g, slot_t *slot, const Lienthong__Dataset *ds,
                           const Lienthong__Publish *p, ProtobufCMessage **msgs,
                           const unsigned char *refused, lt_publish_result_t *res)
{
    int rc = 0;
    res->first_seq = res->last_seq = 0;
    for (size_t i = 0; rc == 0 && i < p->n_changes; i++) {
        uint64_t cur = s_cursor(p->changes[i]->source_cursor);
        if (cur && cur <= slot->st.source_cursor)
            continue; /* already durable: a resend after a lost ack */
        if (refused[i]) {
            /* Not stored, but its cursor is consumed like a stored one's,
             * so the adapter moves on past it (PROTOCOL.md 8.1). */
            if (cur) {
                slot->st.source_cursor = cur;
                slot->dirty = 1;
            }
            continue;
        }
        rc = s_apply_change(g, slot, ds, p->changes[i], msgs[i]);
        if (cur)
            slot->st.source_cursor = cur;
        if (!res->first_seq)
            res->first_seq = slot->st.last_seq;
        res->last_seq = slot->st.last_seq;
    }
    return rc;
}

/* Checks then applies one Publish. Returns -1 only on a store failure;
 * a refused publish returns 0 with res->code set. */
static int s_apply_publish(group_t *g, const char *member, const Lienthong__Publish *p,
                           lt_publish_result_t *res)
{
    const Lienthong__Dataset *ds = NULL;
    if (s_publish_admit(g, member, p, &ds, res) != 0)
        return 0;
    const ProtobufCMessageDescriptor *t = lt_schema_find(ds->record_type);
    ProtobufCMessage **msgs = calloc(p->n_changes, sizeof *msgs);
    unsigned char *refused = calloc(p->n_changes, 1);
    slot_t *slot = NULL;
    int rc = -1;
    if (!msgs || !refused)
        goto out;
    for (size_t i = 0; i < p->n_changes; i++)
        if (s_check_change(ds, t, p->changes[i], g->max_record, g->pa, &msgs[i], res->err,
                           sizeof res->err) != 0) {
            if (p->changes[i]->payload.len > g->max_record)
                res->code = LIENTHONG__ERROR_CODE__ERR_TOO_LARGE;
            rc = 0;
            goto out;
        }
    /* A refusal is reported again when its Publish is resent after a lost
     * ack: the adapter keeps it in its rejects table either way. */
    slot = s_slot(g, ds->id);
    rc = slot && (ds->n_rules == 0 || s_apply_rules(g, ds, p, msgs, refused, res) == 0) ? 0 : -1;
    res->known_cursor = slot ? slot->st.source_cursor : 0;
    if (rc == 0)
        rc = s_apply_changes(g, slot, ds, p, msgs, refused, res);
    if (rc == 0) {
        res->code = LIENTHONG__ERROR_CODE__ERR_NONE;
        res->source_cursor = slot->st.source_cursor;
    }
out:
    if (msgs)
        s_free_msgs(g, msgs, p->n_changes);
    free(refused);
    return rc;
}

static void s_group_free(group_t *g)
{
    for (size_t i = 0; i < g->n_slots; i++)
        lt_fresh_run_destroy(&g->slots[i].run);
    for (size_t i = 0; i < g->n_views; i++) {
        lt_viewset_destroy(&g->views[i].set);
        free(g->views[i].vs);
        free(g->views[i].slots);
    }
    free(g->held);
    lt_arena_destroy(&g->arena);
}

/* ---- a view derived again from its dataset (lt_feed_views) ---- */

typedef struct {
    group_t *g;
    slot_t *slot;
    const Lienthong__Dataset *ds;
    const Lienthong__View *v;
    const ProtobufCMessageDescriptor *t;
    int64_t newest_ms;  /* the newest changed_at_ms derived */
    uint64_t alien_seq; /* a record whose payload is not of type t, or 0 */
} fill_t;

/* Derives one current record of the dataset into the view, as the write
 * path would have (lt_store_rec_fn). */
static int s_fill_one(void *arg, uint64_t seq, const void *rec, size_t len,
                      const uint8_t leaf[LT_HASH_BYTES])
{
    (void)leaf;
    (void)seq;
    fill_t *f = arg;
    ProtobufCMessage *msg = NULL;
    Lienthong__Record *r = lienthong__record__unpack(NULL, len, rec);
    int rc = -1;
    if (!r)
        goto out;
    if (!(msg = protobuf_c_message_unpack(f->t, NULL, r->payload.len, r->payload.data))) {
        /* Stored under the type the directory gave when it was published:
         * the directory's type is not the one the records have. */
        f->alien_seq = seq;
        goto out;
    }
    rc = 0;
    if (lt_publish_view_match(f->v, msg)) {
        /* The version keeps the time it changed at in the dataset. */
        f->g->now_ms = r->changed_at_ms;
        /* An emptied view holds no key: nothing to compare with. */
        rc = s_view_enter(f->g, f->ds, f->v, f->slot, r->key, msg, 0);
        if (r->changed_at_ms > f->newest_ms)
            f->newest_ms = r->changed_at_ms;
    }
out:
    if (msg)
        protobuf_c_message_free_unpacked(msg, NULL);
    if (r)
        lienthong__record__free_unpacked(r, NULL);
    return rc;
}

/* Reads every current record of dataset stream ds_id into f's view. */
static int s_fill_read(lt_store_t *store, int64_t ds_id, fill_t *f, uint64_t dir_version, char *err,
                       size_t errlen)
{
    lt_store_snap_t *rd = lt_store_snap_new(store, ds_id, err, errlen);
    int n = rd ? 1 : -1;
    while (n > 0) {
        n = lt_store_snap_read(rd, LT_BATCH_MAX_RECORDS, LT_BATCH_MAX_BYTES, s_fill_one, f);
        /* A view of millions of records takes longer than the watchdog's
         * interval or the start timeout: it is work, not a hang. */
        lt_notify_progress();
    }
    if (n == LT_STORE_DAMAGED)
        snprintf(err, errlen, "record %llu of %s is damaged",
                 (unsigned long long)lt_store_snap_damaged(rd), f->ds->id);
    else if (n < 0 && f->alien_seq)
        snprintf(err, errlen,
                 "records of %s do not decode as record type %s of the directory v%llu (record "
                 "%llu is one): the directory's record type may be wrong, or the source "
                 "publishes another type",
                 f->ds->id, f->ds->record_type, (unsigned long long)dir_version,
                 (unsigned long long)f->alien_seq);
    else if (n < 0 && rd)
        snprintf(err, errlen, "cannot derive %s from %s: %s", f->v->id, f->ds->id,
                 lt_store_error(store));
    lt_store_snap_destroy(&rd);
    return n == 0 ? 0 : -1;
}

int lt_publish_view_fill(lt_store_t *store, const Lienthong__Dataset *ds, const Lienthong__View *v,
                         uint64_t dir_version, lt_stream_t *view, int64_t *newest_ms, char *err,
                         size_t errlen)
{
    group_t g = {.store = store, .now_ms = lt_clock_now_ms()};
    fill_t f = {.g = &g, .ds = ds, .v = v, .t = lt_schema_find(ds->record_type)};
    lt_stream_t dst;
    int found = lt_store_stream_find(store, ds->id, &dst), rc = -1;
    if (!f.t) {
        snprintf(err, errlen, "record type %s is not known here", ds->record_type);
        goto out;
    }
    snprintf(err, errlen, "store: %s", lt_store_error(store));
    /* Only into an emptied stream: its records are numbered from 1. */
    if (found < 0 || !(f.slot = s_slot(&g, v->id)) || f.slot->st.last_seq != 0)
        goto out;
    f.slot->view = 1;
    f.slot->no_run = 1; /* the feed reads a rebuilt view from the store */
    if ((found && s_fill_read(store, dst.id, &f, dir_version, err, errlen) != 0) ||
        lt_store_stream_save(store, &f.slot->st) != 0)
        goto out;
    *view = f.slot->st;
    *newest_ms = f.newest_ms;
    rc = 0;
out:
    s_group_free(&g);
    return rc;
}

/* Why a group was not stored, for the log of lt_publish_job_finish. */
typedef struct {
    char why[200];    /* the store's message */
    int cannot_write; /* lt_store_cannot_write: it passes once there is room */
} group_fail_t;

/* Answers every Publish of a group that was not stored: ERR_UNAVAILABLE
 * naming the cause when the store cannot write (a full disk, an I/O
 * error), which the adapter retries until there is room again, else
 * ERR_INTERNAL (PROTOCOL.md 8.1, 9). Nothing is acknowledged either way. */
static void s_refuse_group(lt_publish_result_t *res, size_t n, const group_fail_t *f)
{
    lt_publish_results_free(res, n);
    for (size_t i = 0; i < n; i++) {
        if (f->cannot_write) {
            res[i].code = LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE;
            snprintf(res[i].err, sizeof res[i].err, "the gateway's store cannot write: %s; retry",
                     f->why);
        } else {
            res[i].code = LIENTHONG__ERROR_CODE__ERR_INTERNAL;
            snprintf(res[i].err, sizeof res[i].err, "store failure; retry");
        }
    }
}

/* lt_publish_apply, saying in *f why when nothing was stored. */
static int s_apply(lt_store_t *store, const lt_dir_t *dir, const char *member,
                   Lienthong__Publish *const *pubs, size_t n, size_t max_record,
                   lt_publish_result_t *res, lt_publish_advanced_fn advanced, void *arg,
                   group_fail_t *f)
{
    group_t g = {.store = store,
                 .dir = dir,
                 .n_slots = 0,
                 .now_ms = lt_clock_now_ms(),
                 .max_record = max_record,
                 .arena = lt_arena_new(PUBLISH_ARENA_BLOCK, PUBLISH_ARENA_MAX)};
    g.pa = g.arena ? lt_arena_allocator(g.arena) : NULL;
    int rc = -1;
    if (lt_store_begin(store) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (s_apply_publish(&g, member, pubs[i], &res[i]) != 0)
            goto fail;
    for (size_t i = 0; i < g.n_slots; i++)
        if (g.slots[i].dirty && lt_store_stream_save(store, &g.slots[i].st) != 0)
            goto fail;
    if (lt_store_commit(store) != 0)
        goto fail;
    for (size_t i = 0; advanced && i < g.n_slots; i++)
        if (g.slots[i].dirty)
            advanced(arg, g.slots[i].name, g.slots[i].st.last_seq,
                     g.slots[i].st.last_seq - g.slots[i].from_seq, &g.slots[i].run);
    rc = 0;
    goto out;
fail:
    /* Read before the rollback, which sets SQLite's last error again. */
    f->cannot_write = lt_store_cannot_write(store);
    snprintf(f->why, sizeof f->why, "%s", lt_store_error(store));
    lt_store_rollback(store);
    s_refuse_group(res, n, f);
out:
    s_group_free(&g);
    return rc;
}

int lt_publish_apply(lt_store_t *store, const lt_dir_t *dir, const char *member,
                     Lienthong__Publish *const *pubs, size_t n, size_t max_record,
                     lt_publish_result_t *res, lt_publish_advanced_fn advanced, void *arg)
{
    group_fail_t f;
    return s_apply(store, dir, member, pubs, n, max_record, res, advanced, arg, &f);
}

/* Acknowledges one Publish of a committed group, or says why not; stored
 * 0 when the group was not: its log line is the group's (s_store_failed),
 * not one per Publish at each retry. */
static void s_answer(void *sock, const lt_publish_pending_t *p, const lt_publish_result_t *r,
                     int stored)
{
    const Lienthong__Publish *pub = p->env->publish;
    if (r->code != LIENTHONG__ERROR_CODE__ERR_NONE) {
        if (stored)
            lt_warn("local", "refused publish %llu to %s: %s", (unsigned long long)pub->request_id,
                    pub->dataset, r->err);
        (void)lt_wire_send_error(sock, p->in.rid, p->in.rid_len, r->code, pub->request_id, "%s",
                                 r->err);
        return;
    }
    Lienthong__PublishAck ack = LIENTHONG__PUBLISH_ACK__INIT;
    char cursor[LT_CURSOR_TEXT_MAX];
    snprintf(cursor, sizeof cursor, "%llu", (unsigned long long)r->source_cursor);
    ack.request_id = pub->request_id;
    ack.first_seq = r->first_seq;
    ack.last_seq = r->last_seq;
    ack.source_cursor = cursor;
    ack.refusals = r->refusals;
    ack.n_refusals = r->n_refusals;
    (void)lt_wire_send_body(sock, p->in.rid, p->in.rid_len, LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK,
                            &ack);
}

/* ---- what the write path reports ---- */

struct _lt_publish_obs_t {
    lt_stats_series_t *latency;
    lt_stats_family_t *refusals;
    lt_refuse_t *log;
    /* Groups not stored, said once when it starts, at most once a minute
     * while it lasts, and once when a group is stored again, so that
     * adapters retrying against a full disk do not flood the log. */
    lt_stats_series_t *writable; /* gauge: 0 while the store cannot write, shared with
                                  * the replica batches (lt_gwstats_store_writable) */
    int64_t failing_since;       /* wall clock ms of the first failure; 0: none */
    int64_t logged_at;           /* monotonic ms of the last line said */
    uint64_t groups, publishes;  /* not stored since failing_since */
};

/* How often a failure of the store that lasts is said again. */
#define STORE_LOG_AGAIN_MS 60000

#define REFUSALS_FAMILY "lienthong_publish_refusals"

lt_publish_obs_t *lt_publish_obs_new(lt_stats_t *stats)
{
    static const lt_stats_def_t def = {
        .name = REFUSALS_FAMILY,
        .help = "Published changes refused by a rule of their dataset (PROTOCOL.md 5.7)",
        .kind = LT_STATS_COUNTER,
        .n_labels = 2,
        .labels = {"dataset", "rule"},
        .max_series = REFUSAL_SERIES};
    lt_publish_obs_t *self = calloc(1, sizeof *self);
    if (!self || !(self->latency = lt_gwstats_commit(stats, "publish")) ||
        lt_stats_register(stats, &def, &self->refusals) != 0 ||
        !(self->writable = lt_gwstats_store_writable(stats)) ||
        !(self->log = lt_refuse_new("publish", "record", 0, REFUSAL_SERIES)))
        lt_publish_obs_destroy(&self);
    else
        lt_stats_set(self->writable, 1);
    return self;
}

void lt_publish_obs_destroy(lt_publish_obs_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    /* The counts of the last, partial interval are written, not lost. */
    if ((*self_p)->log)
        lt_refuse_flush((*self_p)->log);
    lt_refuse_destroy(&(*self_p)->log);
    free(*self_p);
    *self_p = NULL;
}

void lt_publish_obs_tick(lt_publish_obs_t *self)
{
    if (self)
        lt_refuse_tick(self->log);
}

void lt_publish_obs_dir(lt_publish_obs_t *self, const lt_dir_t *dir, const char *member)
{
    const Lienthong__Directory *d = dir ? lt_dir_get(dir) : NULL;
    for (size_t i = 0; self && d && i < d->n_datasets; i++) {
        const Lienthong__Dataset *ds = d->datasets[i];
        char err[LT_RULES_REASON_MAX];
        if (strcmp(ds->owner, member) != 0 || ds->n_rules == 0)
            continue;
        /* The directory's rules compiled when it was opened: failing now
         * is out of memory, and costs only the zero series. */
        lt_rules_t *rules = lt_rules_new(ds, err, sizeof err);
        if (!rules) {
            lt_warn("publish", "%s: no refusal series at 0: %s", ds->id, err);
            continue;
        }
        for (size_t r = 0; r < lt_rules_count(rules); r++)
            if (!lt_rules_reference(rules, r, NULL))
                (void)lt_stats_series(self->refusals,
                                      (const char *const[]){ds->id, lt_rules_id(rules, r)});
        lt_rules_destroy(&rules);
    }
}

/* Counts and logs the refusals of one acknowledged Publish. */
static void s_observe_refusals(lt_publish_obs_t *obs, const char *dataset,
                               const lt_publish_result_t *r)
{
    for (size_t i = 0; i < r->n_refusals; i++) {
        const Lienthong__Refusal *f = r->refusals[i];
        if (lt_publish_refusal_resent(r, i))
            continue; /* counted and logged when it was first refused */
        for (size_t j = 0; j < f->n_rules; j++) {
            const char *labels[2] = {dataset, f->rules[j]};
            lt_stats_inc(lt_stats_series(obs->refusals, labels));
            char detail[LT_REFUSE_DETAIL_MAX];
            snprintf(detail, sizeof detail, "key=%.40s cursor=%.24s (%s)", f->key, f->source_cursor,
                     j < f->n_reasons ? f->reasons[j] : "");
            lt_refuse_note(
                obs->log,
                &(lt_refuse_event_t){.source = dataset, .reason = f->rules[j], .detail = detail});
        }
    }
}

typedef struct {
    const char *dataset;
    Lienthong__StreamStatus *ss;
    int in_family;
} s_status_arg_t;

static int s_status_family(void *arg, const lt_stats_def_t *def)
{
    s_status_arg_t *a = arg;
    a->in_family = strcmp(def->name, REFUSALS_FAMILY) == 0;
    return 0;
}

static int s_status_series(void *arg, const lt_stats_def_t *def, const lt_stats_sample_t *s)
{
    (void)def;
    s_status_arg_t *a = arg;
    Lienthong__StreamStatus *ss = a->ss;
    if (!a->in_family || strcmp(s->values[0], a->dataset) != 0 || s->counter == 0)
        return 0;
    Lienthong__RuleCount **grown = realloc(ss->refusals, (ss->n_refusals + 1) * sizeof *grown);
    if (!grown)
        return 0;
    ss->refusals = grown;
    Lienthong__RuleCount *c = malloc(sizeof *c);
    if (!c)
        return 0;
    lienthong__rule_count__init(c);
    if (!(c->rule = strdup(s->values[1]))) {
        free(c);
        return 0;
    }
    c->count = s->counter;
    ss->refusals[ss->n_refusals++] = c;
    return 0;
}

void lt_publish_status(lt_stats_t *stats, const char *dataset, Lienthong__StreamStatus *ss)
{
    s_status_arg_t a = {.dataset = dataset, .ss = ss};
    lt_stats_visitor_t v = {.family = s_status_family, .series = s_status_series};
    (void)lt_stats_visit(stats, &v, &a);
}

void lt_publish_status_free(Lienthong__StreamStatus *ss)
{
    for (size_t i = 0; i < ss->n_refusals; i++) {
        free(ss->refusals[i]->rule);
        free(ss->refusals[i]);
    }
    free(ss->refusals);
    ss->refusals = NULL;
    ss->n_refusals = 0;
}

/* ---- a group on its way through the writer thread ---- */

struct _lt_publish_job_t {
    lt_publish_pending_t group[LT_PUBLISH_GROUP];
    size_t n, changes;
    /* Set on the poll loop by lt_publish_job_prepare, read by the writer
     * thread; the directory outlives the job (lt_writer_settle). */
    const lt_dir_t *dir;
    char member[LT_ID_MAX];
    size_t max_record;
    /* The poll loop's connection and its lt_store_rebuilds when the group
     * was prepared: read by lt_publish_job_finish only, on the poll loop,
     * never by the writer thread. */
    const lt_store_t *store;
    uint64_t rebuilds;
    /* Filled by the writer thread. */
    lt_publish_result_t res[LT_PUBLISH_GROUP];
    int rc;
    group_fail_t fail; /* why, when rc is -1 */
    int64_t took_us;
    struct {
        char stream[LT_STREAM_ID_MAX];
        uint64_t last_seq, appended;
        lt_fresh_run_t *run;
    } adv[LT_PUBLISH_GROUP_STREAMS];
    size_t n_adv;
};

lt_publish_job_t *lt_publish_job_new(void)
{
    return calloc(1, sizeof(lt_publish_job_t));
}

/* Frees the held messages and results; the job is empty again. */
static void s_job_reset(lt_publish_job_t *job)
{
    lt_publish_results_free(job->res, job->n);
    for (size_t i = 0; i < job->n; i++) {
        lt_wire_free(&job->group[i].env);
        lt_wire_in_close(&job->group[i].in);
    }
    memset(job->res, 0, sizeof job->res);
    for (size_t i = 0; i < job->n_adv; i++)
        lt_fresh_run_destroy(&job->adv[i].run);
    job->n = job->changes = job->n_adv = 0;
}

void lt_publish_job_destroy(lt_publish_job_t **job_p)
{
    if (!job_p || !*job_p)
        return;
    s_job_reset(*job_p);
    free(*job_p);
    *job_p = NULL;
}

lt_publish_pending_t *lt_publish_job_slot(lt_publish_job_t *job)
{
    return lt_publish_job_full(job) ? NULL : &job->group[job->n];
}

void lt_publish_job_keep(lt_publish_job_t *job)
{
    assert(job->n < LT_PUBLISH_GROUP && job->group[job->n].env);
    job->changes += job->group[job->n].env->publish->n_changes;
    job->n++;
}

size_t lt_publish_job_size(const lt_publish_job_t *job)
{
    return job->n;
}

int lt_publish_job_full(const lt_publish_job_t *job)
{
    return job->n >= LT_PUBLISH_GROUP || job->changes >= LT_PUBLISH_GROUP_CHANGES;
}

void lt_publish_job_prepare(lt_publish_job_t *job, const lt_gwctx_t *ctx)
{
    job->dir = ctx->dir;
    snprintf(job->member, sizeof job->member, "%s", ctx->cfg->member);
    job->max_record = lt_publish_max_record(ctx->cfg->max_message);
    job->store = ctx->store;
    job->rebuilds = lt_store_rebuilds(ctx->store);
}

/* lt_publish_apply's report of a stream advanced, kept for the poll loop. */
static void s_job_advanced(void *arg, const char *stream, uint64_t last_seq, uint64_t appended,
                           lt_fresh_run_t **fresh)
{
    lt_publish_job_t *job = arg;
    if (job->n_adv >= LT_PUBLISH_GROUP_STREAMS) /* a group touches at most that many */
        return;
    snprintf(job->adv[job->n_adv].stream, sizeof job->adv[0].stream, "%s", stream);
    job->adv[job->n_adv].last_seq = last_seq;
    job->adv[job->n_adv].appended = appended;
    job->adv[job->n_adv].run = *fresh;
    *fresh = NULL;
    job->n_adv++;
}

void lt_publish_job_run(void *arg, lt_store_t *store)
{
    lt_publish_job_t *job = arg;
    Lienthong__Publish *pubs[LT_PUBLISH_GROUP];
    for (size_t i = 0; i < job->n; i++)
        pubs[i] = job->group[i].env->publish;
    int64_t t0 = lt_clock_mono_us();
    job->rc = -1;
    if (!store) { /* the writer cannot open the store (lt_writer_resume), and says why */
        job->fail.cannot_write = 1;
        snprintf(job->fail.why, sizeof job->fail.why, "it cannot be opened");
        s_refuse_group(job->res, job->n, &job->fail);
        return;
    }
    /* An ack is only ever sent for records already durable: the poll loop
     * answers once this returns. */
    job->rc = s_apply(store, job->dir, job->member, pubs, job->n, job->max_record, job->res,
                      s_job_advanced, job, &job->fail);
    job->took_us = lt_clock_mono_us() - t0;
}

/* A group was not stored: said when the failure starts, then at most once
 * a minute with what it cost so far (docs/operations.md, "Troubleshooting"). */
static void s_store_failed(lt_publish_obs_t *obs, const lt_publish_job_t *job)
{
    int64_t now = lt_clock_mono_ms();
    const group_fail_t *f = &job->fail;
    obs->groups++;
    obs->publishes += job->n;
    if (f->cannot_write)
        lt_stats_set(obs->writable, 0);
    if (!obs->failing_since) {
        obs->failing_since = lt_clock_now_ms();
        obs->logged_at = now;
        if (f->cannot_write)
            lt_error("publish",
                     "the store cannot write: %s; publishes are refused with "
                     "ERR_UNAVAILABLE, nothing acknowledged, and adapters resend them until "
                     "it can",
                     f->why);
        else
            lt_error("publish", "store failure, nothing acknowledged: %s; adapters resend", f->why);
    } else if (now - obs->logged_at >= STORE_LOG_AGAIN_MS) {
        obs->logged_at = now;
        lt_error("publish",
                 "the store still cannot %s: %s (%llu groups of %llu publishes not "
                 "stored in %lld s)",
                 f->cannot_write ? "write" : "store publishes", f->why,
                 (unsigned long long)obs->groups, (unsigned long long)obs->publishes,
                 (long long)(lt_clock_now_ms() - obs->failing_since) / 1000);
    }
}

/* A group was stored: ends a failure, saying what it cost. */
static void s_store_ok(lt_publish_obs_t *obs, const lt_publish_job_t *job)
{
    lt_stats_observe_us(obs->latency, job->took_us);
    /* Also after a replica batch the store could not write (lt_feed). */
    lt_stats_set(obs->writable, 1);
    if (!obs->failing_since)
        return;
    lt_info("publish",
            "the store takes publishes again after %lld ms; %llu groups of %llu "
            "publishes were refused meanwhile, none acknowledged",
            (long long)(lt_clock_now_ms() - obs->failing_since), (unsigned long long)obs->groups,
            (unsigned long long)obs->publishes);
    obs->failing_since = 0;
    obs->groups = obs->publishes = 0;
}

void lt_publish_job_finish(lt_publish_job_t *job, void *sock, lt_publish_obs_t *obs,
                           lt_publish_advanced_fn advanced, void *arg)
{
    if (job->rc != 0)
        s_store_failed(obs, job);
    else
        s_store_ok(obs, job);
    /* The store was rebuilt after this group committed (its job was kept
     * across it, lt_writer_suspend): the rebuild may have lost its rows,
     * which must read as damage, so the feed gets no records to send from
     * memory (docs/ARCHITECTURE.md 4.2, "Repair"). The group is still
     * answered: it was durable, and the streams and state tables, its
     * source cursor with them, copy whole or the rebuild fails, so a resend
     * would only be skipped as known. */
    if (job->store && lt_store_rebuilds(job->store) != job->rebuilds)
        for (size_t i = 0; i < job->n_adv; i++)
            lt_fresh_run_destroy(&job->adv[i].run);
    for (size_t i = 0; advanced && i < job->n_adv; i++)
        advanced(arg, job->adv[i].stream, job->adv[i].last_seq, job->adv[i].appended,
                 &job->adv[i].run);
    for (size_t i = 0; i < job->n; i++) {
        if (job->res[i].code == LIENTHONG__ERROR_CODE__ERR_NONE)
            s_observe_refusals(obs, job->group[i].env->publish->dataset, &job->res[i]);
        s_answer(sock, &job->group[i], &job->res[i], job->rc == 0);
    }
    s_job_reset(job);
}

/* fuzz_local: libFuzzer target for the gateway's local socket (PROTOCOL.md
 * 8): what a source adapter, a sink adapter or an application sends, as
 * the poll loop handles it (gateway/lt_gateway.c, s_on_local, through the
 * gateway's own dispatch, lt_local_on_message): Publish through the
 * publish job and its PublishAck (8.1), SinkAttach, DeliverAck and the
 * Deliver messages of the pump (8.2), StatusRequest and Resync (8.3),
 * MetricsRequest (8.6), ReadyRequest (8.7), PrefillRequest (8.8),
 * KeysRequest (8.10), ProfileRequest (7.7) and LookupRequest (8.3),
 * requests for data while
 * the member is cut off (5.4), and what the gateway does with a message it
 * cannot decode or does not handle there (4.2, 4.4).
 *
 * Set-up (once, and again every RESET_EVERY inputs so that the store and
 * the audit log stay small): the owner context of the unit suites
 * (tests/unit/unit_gw.h: the directory of tests/owner_directory.h, where
 * this member VN/GOV/BCA owns population and phones with their views, a
 * store in a temporary directory, an inproc ROUTER standing for the local
 * socket and a local client's DEALER "consumer"), replicating
 * VN/COM/VIETTEL/subscribers; a real audit log, rejection reporter, peers
 * (no link), feed, query, profile, pre-fill and publish job with its
 * observer, and the local dispatch (lt_local) over them, whose hooks
 * stand for the poll loop's standing of the member: cut off or not, as a
 * script says. A second routing id, "ghost", names a client nobody holds.
 *
 * Each input is used three times:
 *  1. as one frame from the local client, received with lt_wire_recv and
 *     handed to lt_local_on_message, as the gateway's poll loop does: a
 *     Publish it gives back goes through the publish job (prepared, run on
 *     the store, finished: the feed learns of the records and the client
 *     gets its answer); then the pump runs;
 *  2. as the same frame over max_message (lowered below its size for it):
 *     refused with ERR_TOO_LARGE before it is unpacked, echoing the
 *     request_id lt_local_request_id reads, which is the one unpacking gives
 *     whenever that scan read the whole envelope (4.2, 8);
 *  3. as a script of operations whose field values the harness packs into
 *     valid messages (so that most reach the handlers' checks rather than
 *     the decoder's): see s_script.
 * Invariants (abort), on everything the client receives:
 *  - every reply is one frame that decodes, with a body the gateway may send
 *    on its local socket (4.3); a refusal (Error) has a code and a message
 *    and echoes the request_id of the request's body whenever the envelope
 *    unpacked (4.4), an Error about a sink begins with its stream id and
 *    ": " (4.4); a request that is answered at once (Publish, status,
 *    metrics, readiness, pre-fill, resync, an undecodable or unhandled
 *    message, a request for data while the member is cut off) gets
 *    exactly one answer, the last an Error ERR_REVOKED (5.4); an Error
 *    from the client gets none (4.4); a status reply grants exactly what a
 *    sink may attach to, each dataset with its record type (8.3), a
 *    readiness reply is not ready while the member is cut off (8.7), a
 *    resync answered is of the replica; a keys reply is of a dataset this
 *    member owns, its keys ascending, each live in the store (8.10), and a
 *    KeysRequest for any other is refused; a directory request is
 *    answered at once with the exact signed directory in use (8.11);
 *  - a Publish that is acknowledged was to a dataset this member owns, and
 *    is durable: first_seq..last_seq follow on the dataset's last seq
 *    before and end at its last seq after, the records stored there are,
 *    in order, some of the Publish's changes (same key, tombstone flag and
 *    payload), each refusal names one of its keys, and its source_cursor
 *    is the dataset's durable cursor in the store; a refused Publish
 *    stores nothing (no owned stream grows);
 *  - a SinkAttach to a stream not granted (a dataset this member owns, one
 *    of its views, or a stream it replicates: 8.3 grants) is refused; a
 *    Deliver goes only to an attached sink, within its credit, with records
 *    of consecutive seqs from the attach point (or the last one delivered)
 *    that are the store's records at those seqs; a DeliverAck is refused
 *    exactly when it is outside (previous ack, last delivered] or from
 *    another client, and a refused one moves neither the sink's
 *    acknowledged cursor nor anything else of it (checked in lt_feed's
 *    sink table); a sink of this client is never detached without an Error
 *    telling it;
 *  - nothing crashes or leaks (the fuzz build has ASan and UBSan).
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. */
#include "unit/unit_gw.h" /* first: it sets the feature macros */

#include "fuzz_common.h"
#include "lt_audit.h"
#include "lt_feed.h"
#include "lt_feed_int.h"
#include "lt_local.h"
#include "lt_peers.h"
#include "lt_prefill.h"
#include "lt_profile.h"
#include "lt_query.h"
#include "lt_reject.h"
#include "lt_limits.h"
#include "lt_valid.h"
#include "records/subscriber.pb-c.h"

#include <inttypes.h>

#define RESET_EVERY 4096
#define MAX_OPS     32
#define MAX_PUMPS   8
#define REPLICA     OD_FOREIGN
#define NO_ID       UINT64_MAX /* no request_id to echo is known */

/* Streams a script names by index: granted ones first (N_GRANTED). */
static const char *const s_streams[] = {OD_POP,
                                        OD_P38,
                                        OD_ALIVE38,
                                        OD_PHONES,
                                        OD_ACTIVE,
                                        REPLICA,
                                        "VN/GOV/BCA/nothing",
                                        "",
                                        "VN/COM/VIETTEL/other"};
#define N_STREAMS (sizeof s_streams / sizeof s_streams[0])
/* The local clients' routing ids: ours (the DEALER) and one nobody holds. */
static const char *const s_rids[] = {"consumer", "ghost"};
/* Record keys a script uses: population keys, a phone number, none. */
static const char *const s_keys[] = {
    "001080000001", "038090000002", "038090000003", "84912345678", "0", ""};
#define N_KEYS (sizeof s_keys / sizeof s_keys[0])

/* What the client knows of its sink on one stream. */
typedef struct {
    int active;
    int rid;        /* index in s_rids */
    int unchecked;  /* a replacement is being sent: not modelled */
    uint64_t next;  /* the seq the next Deliver starts at */
    uint64_t acked; /* through this seq, acknowledged */
    int64_t credit;
} sink_t;

/* What one request expects back, and what came. */
typedef struct {
    uint64_t request_id;       /* to echo in an Error, or NO_ID */
    int answered_at_once;      /* exactly one answer */
    int silent;                /* no answer at all */
    Lienthong__ErrorCode code; /* its Errors have this code, unless ERR_NONE */
    const char *stream;        /* its Errors are about this sink's feed: "STREAM: " */
    size_t replies, errors;
    Lienthong__Envelope *ack; /* the PublishAck that came */
    char named[N_STREAMS];    /* streams that Errors began with */
} expect_t;

static struct {
    int ready;
    ug_t g;
    lt_audit_t *audit;
    lt_reject_t *reject;
    lt_peers_t *peers;
    lt_feed_t *feed;
    lt_query_t *query;
    lt_profile_t *profile;
    lt_prefill_t *prefill;
    lt_publish_job_t *job;
    lt_publish_obs_t *obs;
    lt_local_t local; /* the gateway's dispatch of local messages */
    int cut_off;      /* the member is suspended (5.4), as the hooks say */
    unsigned runs;
    uint64_t cursor; /* the next fresh source cursor a script uses */
    sink_t sinks[N_STREAMS];
} G;

static void s_write_seeds(const char *dir);

/* ---- set-up ------------------------------------------------------------------------------ */

static void s_close(void)
{
    lt_publish_obs_destroy(&G.obs);
    lt_publish_job_destroy(&G.job);
    lt_prefill_destroy(&G.prefill);
    lt_profile_destroy(&G.profile);
    lt_query_destroy(&G.query);
    lt_feed_destroy(&G.feed);
    lt_peers_destroy(&G.peers);
    lt_reject_destroy(&G.reject);
    lt_audit_destroy(&G.audit);
    G.g.ctx.peers = NULL;
    G.g.ctx.reject = NULL;
    G.g.ctx.audit = NULL;
    ug_close(&G.g);
    memset(G.sinks, 0, sizeof G.sinks);
}

/* The poll loop's part of a status reply: the member's standing (5.4). */
static void s_hook_status(void *arg, Lienthong__StatusReply *r)
{
    (void)arg;
    r->member_status = G.cut_off ? "suspended" : "";
}

/* Whether the member is cut off (5.4), and why, as the poll loop says. */
static int s_hook_cut_off(void *arg, int ready, char *why, size_t len)
{
    (void)arg;
    if (G.cut_off)
        snprintf(why, len, "%s is suspended%s", G.g.cfg.member,
                 ready ? ": it serves no data" : ": no requests are made or served");
    return G.cut_off;
}

static void s_open(void)
{
    char path[512], err[512];
    if (ug_open(&G.g, "fuzz-local") != 0)
        abort();
    snprintf(G.g.cfg.subs[0].stream, sizeof G.g.cfg.subs[0].stream, "%s", REPLICA);
    G.g.cfg.n_subs = 1;
    int zero = 0;
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    snprintf(path, sizeof path, "%s/audit.db", G.g.tmp);
    if (zmq_setsockopt(G.g.router, ZMQ_SNDHWM, &zero, sizeof zero) != 0 ||
        zmq_setsockopt(G.g.dealer, ZMQ_RCVHWM, &zero, sizeof zero) != 0 ||
        !(G.g.ctx.audit = G.audit = lt_audit_open(path, G.g.ctx.keys, err, sizeof err)) ||
        !(G.g.ctx.reject = G.reject = lt_reject_new(G.g.ctx.stats, G.audit)) ||
        !(G.g.ctx.peers = G.peers = lt_peers_new(&G.g.ctx, G.g.zctx, &so)) ||
        !(G.feed = lt_feed_new(&G.g.ctx)) || !(G.query = lt_query_new(&G.g.ctx)) ||
        !(G.profile = lt_profile_new(&G.g.ctx, G.query)) ||
        !(G.prefill = lt_prefill_new(&G.g.ctx, G.feed)) || !(G.job = lt_publish_job_new()) ||
        !(G.obs = lt_publish_obs_new(G.g.ctx.stats))) {
        fprintf(stderr, "fuzz_local: set-up failed %s\n", err);
        abort();
    }
    G.local = (lt_local_t){.ctx = &G.g.ctx,
                           .sock = G.g.router,
                           .feed = G.feed,
                           .query = G.query,
                           .profile = G.profile,
                           .prefill = G.prefill,
                           .hooks = {.status = s_hook_status, .cut_off = s_hook_cut_off}};
    /* Refused input is the normal case here: even errors are not logged. */
    lt_log_set_level((lt_log_level_t)(LT_LOG_ERROR + 1));
}

static void s_init(void)
{
    if (G.ready)
        return;
    G.ready = 1;
    G.cursor = 1;
    atexit(s_close);
    fuzz_tmp_on_shm();
    s_open();
    const char *seeds = getenv("FUZZ_WRITE_SEEDS");
    if (seeds && seeds[0])
        s_write_seeds(seeds);
}

/* ---- oracles ------------------------------------------------------------------------------ */

/* Whether a sink may attach to stream (PROTOCOL.md 8.3, grants): a dataset
 * this member owns in the directory, a view of one, or a stream its
 * configuration replicates. Read from the directory and configuration. */
static int s_granted(const char *stream)
{
    const Lienthong__Directory *d = lt_dir_get(G.g.ctx.dir);
    const char *member = G.g.cfg.member;
    for (size_t i = 0; i < G.g.cfg.n_subs; i++)
        if (strcmp(G.g.cfg.subs[i].stream, stream) == 0)
            return 1;
    for (size_t i = 0; i < d->n_datasets; i++)
        if (strcmp(d->datasets[i]->owner, member) == 0 && strcmp(d->datasets[i]->id, stream) == 0)
            return 1;
    for (size_t i = 0; i < d->n_views; i++) {
        const Lienthong__Dataset *ds = lt_dir_dataset(G.g.ctx.dir, d->views[i]->dataset);
        if (ds && strcmp(ds->owner, member) == 0 && strcmp(d->views[i]->id, stream) == 0)
            return 1;
    }
    return 0;
}

/* The bodies a local client sends (PROTOCOL.md 4.3, L->G). */
static const char *const s_requests[] = {"publish",         "sink_attach",     "deliver_ack",
                                         "status_request",  "metrics_request", "ready_request",
                                         "prefill_request", "profile_request", "lookup_request",
                                         "verify_request",  "resync"};

/* The request_id an Error about the envelope buf must echo (4.4): that of
 * its body, when the envelope unpacks (at any version: an ERR_VERSION
 * echoes it too, 4.2) and its body is a request of a local client with a
 * field of that name; 0 when it does not unpack or has none; NO_ID
 * otherwise (a body no client sends, whose request_id is not a
 * request's). */
static uint64_t s_expected_id(const uint8_t *buf, size_t len)
{
    Lienthong__Envelope *env = lienthong__envelope__unpack(NULL, len, buf);
    if (!env)
        return 0;
    uint64_t id = 0;
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&lienthong__envelope__descriptor, env->body_case);
    if (f && f->type == PROTOBUF_C_TYPE_MESSAGE) {
        const ProtobufCMessage *body = *(ProtobufCMessage *const *)((const char *)env + f->offset);
        const ProtobufCFieldDescriptor *rf =
            protobuf_c_message_descriptor_get_field_by_name(body->descriptor, "request_id");
        int request = 0;
        for (size_t i = 0; i < sizeof s_requests / sizeof s_requests[0]; i++)
            request |= strcmp(f->name, s_requests[i]) == 0;
        if (rf && rf->type == PROTOBUF_C_TYPE_UINT64)
            id = request ? *(const uint64_t *)((const char *)body + rf->offset) : NO_ID;
    }
    lienthong__envelope__free_unpacked(env, NULL);
    return id;
}

static sink_t *s_sink_model(const char *stream)
{
    for (size_t i = 0; i < N_STREAMS; i++)
        if (strcmp(s_streams[i], stream) == 0)
            return &G.sinks[i];
    return NULL;
}

/* The feed's sink on stream, or NULL. */
static const lt_feed_sink_t *s_sink_real(const char *stream)
{
    for (size_t i = 0; i < G.feed->n_sinks; i++)
        if (strcmp(G.feed->sinks[i].stream->name, stream) == 0)
            return &G.feed->sinks[i];
    return NULL;
}

/* The model and the feed's sink table agree: the same sinks, and for each
 * modelled one the same client, next seq, acknowledged cursor and credit. */
static void s_sinks_agree(void)
{
    for (size_t i = 0; i < N_STREAMS; i++) {
        const sink_t *m = &G.sinks[i];
        const lt_feed_sink_t *k = s_sink_real(s_streams[i]);
        if (!m->active != !k)
            abort();
        if (!k || m->unchecked)
            continue;
        const char *rid = s_rids[m->rid];
        if (k->rid_len != strlen(rid) || memcmp(k->rid, rid, k->rid_len) != 0 ||
            k->next != m->next || k->acked != m->acked || k->credit != m->credit)
            abort();
    }
    for (size_t i = 0; i < G.feed->n_sinks; i++)
        if (!s_sink_model(G.feed->sinks[i].stream->name))
            abort(); /* a sink on a stream nobody attached to */
}

/* Stream stream's last seq and durable source cursor (0, 0 when absent). */
static void s_stream_at(const char *stream, uint64_t *last, uint64_t *cursor)
{
    lt_stream_t st;
    memset(&st, 0, sizeof st);
    if (lt_store_stream(G.g.ctx.store, stream, &st) != 0)
        abort();
    *last = st.last_seq;
    if (cursor)
        *cursor = st.source_cursor;
}

/* The last seqs of every stream this member owns (the granted ones but the
 * replica: N_STREAMS - 4 of them). */
#define N_OWNED 5
static void s_owned_last(uint64_t last[N_OWNED])
{
    for (size_t i = 0; i < N_OWNED; i++)
        s_stream_at(s_streams[i], &last[i], NULL);
}

/* The store's record of stream at seq, unpacked (free it), or NULL. */
static Lienthong__Record *s_stored(const char *stream, uint64_t seq)
{
    lt_stream_t st;
    uint8_t *bytes = NULL;
    size_t len = 0;
    if (lt_store_stream(G.g.ctx.store, stream, &st) != 0 ||
        lt_store_get(G.g.ctx.store, st.id, seq, &bytes, &len) != 1)
        return NULL;
    Lienthong__Record *r = lienthong__record__unpack(NULL, len, bytes);
    free(bytes);
    return r;
}

static int s_same_payload(const ProtobufCBinaryData *a, const ProtobufCBinaryData *b)
{
    return a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/* An acknowledged Publish p is durable (8.1); before: the dataset's last
 * seq before, others: the owned streams' before. */
static void s_check_ack(const Lienthong__Publish *p, const Lienthong__PublishAck *a,
                        uint64_t before, const uint64_t others[N_OWNED])
{
    const Lienthong__Dataset *ds = lt_dir_dataset(G.g.ctx.dir, p->dataset);
    if (!ds || strcmp(ds->owner, G.g.cfg.member) != 0 || strcmp(ds->id, p->dataset) != 0)
        abort(); /* acknowledged a dataset this member does not own */
    if (p->record_type[0] && strcmp(p->record_type, ds->record_type) != 0)
        abort(); /* acknowledged payloads named as another record type (8.1) */
    if (a->request_id != p->request_id)
        abort();
    uint64_t after, cursor;
    s_stream_at(p->dataset, &after, &cursor);
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64, cursor);
    if (!a->source_cursor || strcmp(a->source_cursor, text) != 0)
        abort(); /* the ack's cursor is not the durable one */
    if (a->first_seq ? a->first_seq != before + 1 || a->last_seq != after
                     : a->last_seq != 0 || after != before)
        abort();
    /* The records stored are some of the changes, in order. */
    size_t c = 0;
    for (uint64_t seq = a->first_seq; a->first_seq && seq <= a->last_seq; seq++) {
        Lienthong__Record *r = s_stored(p->dataset, seq);
        if (!r || r->seq != seq)
            abort(); /* acknowledged but not in the store */
        while (c < p->n_changes &&
               (strcmp(p->changes[c]->key, r->key) != 0 || !p->changes[c]->deleted != !r->deleted ||
                (!r->deleted && !s_same_payload(&p->changes[c]->payload, &r->payload))))
            c++;
        if (c++ == p->n_changes)
            abort(); /* a record that is none of the changes */
        lienthong__record__free_unpacked(r, NULL);
    }
    for (size_t i = 0; i < a->n_refusals; i++) {
        size_t j = 0;
        while (j < p->n_changes && strcmp(p->changes[j]->key, a->refusals[i]->key) != 0)
            j++;
        if (j == p->n_changes || a->refusals[i]->n_rules == 0)
            abort(); /* a refusal of no change, or for no rule */
    }
    /* Views of the dataset may grow; no other owned dataset does. */
    uint64_t now[N_OWNED];
    s_owned_last(now);
    for (size_t i = 0; i < N_OWNED; i++) {
        const Lienthong__View *v = lt_dir_view(G.g.ctx.dir, s_streams[i]);
        if (strcmp(s_streams[i], p->dataset) != 0 && !(v && strcmp(v->dataset, p->dataset) == 0) &&
            now[i] != others[i])
            abort();
    }
}

/* A Deliver to our client (8.2): to an attached sink, within its credit,
 * consecutive from where the last one ended, the store's records. */
static void s_on_deliver(const Lienthong__Deliver *d)
{
    sink_t *m = s_sink_model(d->stream);
    if (!m || !m->active || m->rid != 0)
        abort(); /* delivered to no sink of ours */
    if (d->replace_seq || m->unchecked) {
        m->unchecked = 1; /* a replacement (8.2): not modelled */
        return;
    }
    if (d->n_records == 0 || (int64_t)d->n_records > m->credit)
        abort();
    for (size_t i = 0; i < d->n_records; i++) {
        const Lienthong__Record *r = d->records[i];
        Lienthong__Record *s = s_stored(d->stream, m->next + i);
        if (r->seq != m->next + i || !s || strcmp(s->key, r->key) != 0 ||
            s->deleted != r->deleted || !s_same_payload(&s->payload, &r->payload))
            abort(); /* not the consecutive, durable records */
        lienthong__record__free_unpacked(s, NULL);
    }
    m->next += d->n_records;
    m->credit -= (int64_t)d->n_records;
}

/* A StatusReply (8.3): its grants are exactly what a sink may attach to,
 * each dataset with its record type, and its member status is the
 * standing the poll loop gave. */
static void s_on_status(const Lienthong__StatusReply *r)
{
    const Lienthong__LocalGrants *gr = r->grants;
    if (!gr || strcmp(r->member, G.g.cfg.member) != 0 || !r->member_status ||
        !r->member_status[0] != !G.cut_off)
        abort();
    size_t n = gr->n_datasets + gr->n_views + gr->n_replicated;
    for (size_t i = 0; i < n; i++) {
        const char *s = i < gr->n_datasets ? gr->datasets[i]
                        : i < gr->n_datasets + gr->n_views
                            ? gr->views[i - gr->n_datasets]
                            : gr->replicated[i - gr->n_datasets - gr->n_views];
        if (!s_granted(s))
            abort();
    }
    if (n != N_OWNED + 1)
        abort();
    /* Each owned dataset with a record type, in the same order (8.3). */
    if (gr->n_types != gr->n_datasets)
        abort();
    for (size_t i = 0; i < gr->n_types; i++)
        if (strcmp(gr->types[i]->dataset, gr->datasets[i]) != 0 || !gr->types[i]->record_type[0])
            abort();
}

/* A ReadyReply (8.7): ready exactly when no problem is listed, and never
 * while the member is cut off. */
static void s_on_ready(const Lienthong__ReadyReply *r)
{
    if (!r->ready != (r->n_problems > 0) || (G.cut_off && r->ready))
        abort();
}

/* A directory offer (8.11): the exact signed directory in use. */
static void s_on_directory(const Lienthong__DirectoryOffer *o)
{
    size_t len;
    const uint8_t *want = lt_dir_signed_bytes(G.g.ctx.dir, &len);
    if (o->signed_directory.len != len || memcmp(o->signed_directory.data, want, len) != 0)
        abort();
}

/* ---- what the client receives ------------------------------------------------------------- */

static int s_local_body(Lienthong__Envelope__BodyCase c)
{
    switch (c) {
    case LIENTHONG__ENVELOPE__BODY_ERROR:
    case LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK:
    case LIENTHONG__ENVELOPE__BODY_DELIVER:
    case LIENTHONG__ENVELOPE__BODY_STATUS_REPLY:
    case LIENTHONG__ENVELOPE__BODY_METRICS_REPLY:
    case LIENTHONG__ENVELOPE__BODY_READY_REPLY:
    case LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY:
    case LIENTHONG__ENVELOPE__BODY_PROFILE_REPLY:
    case LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY:
    case LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY:
    case LIENTHONG__ENVELOPE__BODY_RESYNC:
    case LIENTHONG__ENVELOPE__BODY_KEYS_REPLY:
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER:
        return 1;
    default:
        return 0;
    }
}

/* 1 when the gateway must refuse KeysRequest m (8.10): no request_id, a
 * malformed dataset or `after`, a dataset this member does not own. */
static int s_keys_refused(const Lienthong__KeysRequest *m)
{
    const Lienthong__Dataset *ds = lt_dir_dataset(G.g.ctx.dir, m->dataset);
    return m->request_id == 0 || !m->dataset[0] || strlen(m->dataset) >= LT_STREAM_ID_MAX ||
           (m->after[0] && !lt_valid_key(m->after)) || !ds ||
           strcmp(ds->owner, G.g.cfg.member) != 0;
}

/* A keys reply: of an owned dataset, at most a page, ascending, each key
 * live in the store. */
static void s_on_keys(const Lienthong__KeysReply *r)
{
    const Lienthong__Dataset *ds = lt_dir_dataset(G.g.ctx.dir, r->dataset);
    lt_stream_t st;
    if (!ds || strcmp(ds->owner, G.g.cfg.member) != 0 || r->n_keys > LT_KEYS_PAGE_MAX)
        abort(); /* keys of a dataset not owned, or more than a page */
    if (r->n_keys && lt_store_stream_find(G.g.ctx.store, r->dataset, &st) != 1)
        abort(); /* keys of a stream the store does not hold */
    for (size_t i = 0; i < r->n_keys; i++) {
        uint64_t seq;
        int deleted;
        if ((i && strcmp(r->keys[i - 1], r->keys[i]) >= 0) ||
            lt_store_state_get(G.g.ctx.store, st.id, r->keys[i], &seq, &deleted) != 1 || deleted)
            abort(); /* out of order, or not a live key */
    }
}

/* Whether an Error's message is about stream: "STREAM: ..." (4.4). A
 * stream id may hold ": " itself: the whole id is the prefix. */
static int s_about(const char *message, const char *stream)
{
    size_t n = strlen(stream);
    return strncmp(message, stream, n) == 0 && strncmp(message + n, ": ", 2) == 0;
}

/* Checks one Error against what its request expects. */
static void s_on_error(const Lienthong__Error *e, expect_t *x)
{
    if (e->code == LIENTHONG__ERROR_CODE__ERR_NONE || !e->message || !e->message[0])
        abort(); /* a refusal that does not say what was wrong */
    if (x->request_id != NO_ID && e->request_id != x->request_id)
        abort(); /* the request_id is not echoed (4.4) */
    if (x->code != LIENTHONG__ERROR_CODE__ERR_NONE && e->code != x->code)
        abort(); /* refused, but not for what it had to be */
    for (size_t i = 0; i < N_STREAMS; i++)
        x->named[i] |= s_about(e->message, s_streams[i]);
    if (x->stream && !s_about(e->message, x->stream))
        abort(); /* about a sink's feed, but not "STREAM: ..." (4.4) */
}

/* Takes everything waiting for the client, checking each reply. */
static void s_drain(expect_t *x)
{
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, G.g.dealer, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        if (zmq_msg_more(&m))
            abort(); /* one frame per message (4.1) */
        Lienthong__ErrorCode code;
        char err[256];
        Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m),
                                                  G.g.cfg.max_message, &code, err, sizeof err);
        zmq_msg_close(&m);
        if (!env || !s_local_body(env->body_case))
            abort(); /* a reply a local client cannot decode, or not for it */
        x->replies++;
        switch (env->body_case) {
        case LIENTHONG__ENVELOPE__BODY_ERROR:
            x->errors++;
            s_on_error(env->error, x);
            break;
        case LIENTHONG__ENVELOPE__BODY_DELIVER:
            x->replies--; /* not an answer: the pump's */
            s_on_deliver(env->deliver);
            break;
        case LIENTHONG__ENVELOPE__BODY_STATUS_REPLY:
            s_on_status(env->status_reply);
            break;
        case LIENTHONG__ENVELOPE__BODY_READY_REPLY:
            s_on_ready(env->ready_reply);
            break;
        case LIENTHONG__ENVELOPE__BODY_KEYS_REPLY:
            s_on_keys(env->keys_reply);
            break;
        case LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER:
            s_on_directory(env->directory_offer);
            break;
        case LIENTHONG__ENVELOPE__BODY_RESYNC:
            if (strcmp(env->resync->stream, REPLICA) != 0)
                abort(); /* a resync of a stream not replicated here */
            break;
        case LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK:
            if (x->ack)
                abort(); /* two acks */
            x->ack = env;
            env = NULL;
            break;
        default:
            break;
        }
        lt_wire_free(&env);
    }
}

/* Runs the pump up to rounds times: Deliver messages, and Errors about
 * sinks, which it detaches; a sink of our client is detached only with an
 * Error naming its stream. */
static void s_pump(int rounds)
{
    for (int i = 0; i < rounds; i++) {
        int sent = lt_feed_pump(G.feed, NULL, G.g.router);
        expect_t x = {.request_id = 0};
        s_drain(&x);
        if (x.ack || x.replies != x.errors)
            abort(); /* the pump answers nothing */
        for (size_t j = 0; j < N_STREAMS; j++) {
            sink_t *m = &G.sinks[j];
            if (!m->active || s_sink_real(s_streams[j]))
                continue;
            if (m->rid == 0 && !x.named[j])
                abort(); /* our sink detached without a word */
            m->active = 0;
        }
        s_sinks_agree();
        if (sent == 0)
            break;
    }
}

/* ---- the local socket, as the gateway's poll loop runs it ------------------------------------ */

/* A Publish through the publish job, as the poll loop runs a group of one
 * when the writer is idle; the answer is checked against the store. */
static void s_publish(const Lienthong__Publish *mine, expect_t *x)
{
    uint64_t before = 0, others[N_OWNED], now[N_OWNED];
    s_stream_at(mine->dataset, &before, NULL);
    s_owned_last(others);
    lt_publish_job_keep(G.job);
    lt_publish_job_prepare(G.job, &G.g.ctx);
    lt_publish_job_run(G.job, G.g.ctx.store);
    lt_publish_job_finish(G.job, G.g.router, G.obs, lt_feed_advanced, G.feed);
    if (lt_publish_job_size(G.job) != 0)
        abort();
    s_drain(x);
    if (x->replies != 1)
        abort(); /* a Publish is answered once: ack or Error */
    if (x->ack) {
        s_check_ack(mine, x->ack->publish_ack, before, others);
        lt_wire_free(&x->ack);
    } else {
        s_owned_last(now);
        if (memcmp(now, others, sizeof now) != 0)
            abort(); /* a refused Publish stored something */
    }
}

/* Whether the feed must take a SinkAttach or DeliverAck env from client
 * rid, by the model (8.2): an attach to a granted stream from a seq in
 * 1 .. last + 1 (nothing here prunes a log, makes a view stale or
 * replaces a replica, the other reasons to refuse); an ack inside
 * (previous ack, last delivered] of that client's sink. -1: not modelled
 * (a replacement is being sent). */
static int s_sink_takes(const Lienthong__Envelope *env, int rid)
{
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_SINK_ATTACH) {
        const Lienthong__SinkAttach *a = env->sink_attach;
        uint64_t last = 0;
        if (!s_granted(a->stream))
            return 0;
        s_stream_at(a->stream, &last, NULL);
        return a->from_seq >= 1 && a->from_seq <= last + 1;
    }
    const Lienthong__DeliverAck *a = env->deliver_ack;
    const sink_t *m = s_sink_model(a->stream);
    if (m && m->active && m->unchecked)
        return -1;
    return m && m->active && m->rid == rid && a->through_seq > m->acked && a->through_seq < m->next;
}

/* Updates the sink model for a SinkAttach or DeliverAck the feed took. */
static void s_sink_took(const Lienthong__Envelope *env, int rid)
{
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_SINK_ATTACH) {
        const Lienthong__SinkAttach *a = env->sink_attach;
        sink_t *m = s_sink_model(a->stream);
        if (!m)
            abort(); /* granted, but none of ours */
        *m = (sink_t){.active = 1,
                      .rid = rid,
                      .next = a->from_seq,
                      .acked = a->from_seq - 1,
                      .credit = a->credit};
        return;
    }
    sink_t *m = s_sink_model(env->deliver_ack->stream);
    m->credit += (int64_t)(env->deliver_ack->through_seq - m->acked);
    m->acked = env->deliver_ack->through_seq;
}

/* Whether the local socket handles body (PROTOCOL.md 4.3, L->G): anything
 * else is refused with ERR_UNSUPPORTED (4.4). */
static int s_handled(Lienthong__Envelope__BodyCase c)
{
    switch (c) {
    case LIENTHONG__ENVELOPE__BODY_PUBLISH:
    case LIENTHONG__ENVELOPE__BODY_SINK_ATTACH:
    case LIENTHONG__ENVELOPE__BODY_DELIVER_ACK:
    case LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_METRICS_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_READY_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_RESYNC:
    case LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_KEYS_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_ERROR:
        return 1;
    default:
        return 0;
    }
}

/* Whether body asks for data, which a member cut off may not (5.4). */
static int s_for_data(Lienthong__Envelope__BodyCase c)
{
    return c == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST ||
           c == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST ||
           c == LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST ||
           c == LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST;
}

/* Whether an application's lookup or verify carries no time: neither
 * timeout_ms nor deadline_ms, refused at once (7.1). */
static int s_no_time(const Lienthong__Envelope *env)
{
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST)
        return !env->lookup_request->timeout_ms && !env->lookup_request->deadline_ms;
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST)
        return !env->verify_request->timeout_ms && !env->verify_request->deadline_ms;
    return 0;
}

/* Whether a handled body is answered at once, not after a network trip
 * (lookups, profiles) nor by the pump (sinks). */
static int s_at_once(Lienthong__Envelope__BodyCase c)
{
    return c == LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST ||
           c == LIENTHONG__ENVELOPE__BODY_METRICS_REQUEST ||
           c == LIENTHONG__ENVELOPE__BODY_READY_REQUEST || c == LIENTHONG__ENVELOPE__BODY_RESYNC ||
           c == LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST ||
           c == LIENTHONG__ENVELOPE__BODY_KEYS_REQUEST ||
           c == LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST;
}

/* One frame from client rid on the local socket, handled as the gateway's
 * poll loop does (lt_local_on_message, then a Publish into the job), and
 * the pump after it. The model reads its own decoding of the frame, taken
 * before the gateway's handles it. Only our client (rid 0) publishes: the
 * answers to the other go nowhere. */
static void s_local(const uint8_t *buf, size_t len, int rid, int pumps)
{
    lt_publish_pending_t *p = lt_publish_job_slot(G.job);
    if (!p)
        abort(); /* the job is emptied by every finish */
    if (zmq_send(G.g.dealer, buf, len, 0) != (int)len ||
        lt_wire_recv(G.g.router, 1, 0, &p->in) != 0)
        abort();
    if (rid) { /* as from a client that left since */
        p->in.rid_len = strlen(s_rids[rid]);
        memcpy(p->in.rid, s_rids[rid], p->in.rid_len);
    }
    expect_t x = {.request_id = s_expected_id(buf, len)};
    char err[256];
    Lienthong__ErrorCode code;
    uint64_t request_id = 0;
    Lienthong__Envelope *seen =
        lt_wire_decode_id(buf, len, G.g.cfg.max_message, &code, &request_id, err, sizeof err);
    Lienthong__Envelope__BodyCase body =
        seen ? seen->body_case : LIENTHONG__ENVELOPE__BODY__NOT_SET;
    int sink = body == LIENTHONG__ENVELOPE__BODY_SINK_ATTACH ||
               body == LIENTHONG__ENVELOPE__BODY_DELIVER_ACK;
    int takes = sink ? s_sink_takes(seen, rid) : 0;
    int cut = G.cut_off && s_for_data(body);
    int refused =
        !seen || !s_handled(body) || cut ||
        (body == LIENTHONG__ENVELOPE__BODY_KEYS_REQUEST && s_keys_refused(seen->keys_request));
    int no_time = seen && !cut && s_no_time(seen);
    x.answered_at_once = refused || no_time || s_at_once(body);
    x.silent = body == LIENTHONG__ENVELOPE__BODY_ERROR;
    x.code = cut ? LIENTHONG__ERROR_CODE__ERR_REVOKED : LIENTHONG__ERROR_CODE__ERR_NONE;
    if (sink)
        x.stream = body == LIENTHONG__ENVELOPE__BODY_SINK_ATTACH ? seen->sink_attach->stream
                                                                 : seen->deliver_ack->stream;
    int rc = lt_local_on_message(&G.local, &p->in, &p->env);
    if (rc != (refused                                     ? -1
               : body == LIENTHONG__ENVELOPE__BODY_PUBLISH ? LT_LOCAL_PUBLISH
                                                           : 0) ||
        !p->env != !seen)
        abort(); /* refused what it handles, or handled what it refuses */
    if (rc == LT_LOCAL_PUBLISH && rid == 0) {
        s_publish(seen->publish, &x);
        lt_wire_free(&seen);
        s_pump(pumps);
        return;
    }
    s_drain(&x);
    if (rid == 0 && x.answered_at_once && x.replies != 1)
        abort(); /* answered not exactly once */
    if (rid == 0 && x.silent && x.replies != 0)
        abort(); /* an Error answered (4.4) */
    if (rid == 0 && no_time && x.errors != 1)
        abort(); /* a lookup or verify without a time not refused (7.1) */
    if (sink && takes >= 0) {
        if (rid == 0 && takes != !x.errors)
            abort(); /* refused in range, or taken outside it (8.2) */
        if (takes)
            s_sink_took(seen, rid);
    }
    if (sink)
        s_sinks_agree(); /* and a refused one moved nothing */
    lt_wire_free(&seen);
    lt_wire_free(&p->env);
    lt_wire_in_close(&p->in);
    s_pump(pumps);
}
/* Sends body, a message of the envelope field type, as client rid. */
static void s_send(Lienthong__Envelope__BodyCase type, const void *body, int rid, int pumps)
{
    zmq_msg_t m;
    if (lt_wire_pack_body(&m, type, body) != 0)
        abort();
    s_local(zmq_msg_data(&m), zmq_msg_size(&m), rid, pumps);
    zmq_msg_close(&m);
}

/* ---- scripts ------------------------------------------------------------------------------ */

static const char *rd_key(fuzz_rd_t *r)
{
    return s_keys[fuzz_rd_u8(r) % N_KEYS];
}

static const char *rd_stream(fuzz_rd_t *r)
{
    return s_streams[fuzz_rd_u8(r) % N_STREAMS];
}

/* A change's source cursor (8.1): none, the next fresh one, one already
 * durable, or malformed. */
static const char *rd_cursor(fuzz_rd_t *r, char *buf, size_t len)
{
    switch (fuzz_rd_u8(r) % 6) {
    case 0:
        return "";
    case 1:
    case 2:
        snprintf(buf, len, "%" PRIu64, G.cursor++);
        return buf;
    case 3:
        return "1";
    case 4:
        return "9223372036854775808";
    default:
        return "-1";
    }
}

/* The record payload of a change to dataset ds under key, into buf (at
 * least 512 bytes): a population record (province 01 or 38, alive or
 * dead), a subscriber, or bytes of the script. */
static size_t rd_payload(fuzz_rd_t *r, const char *ds, const char *key, uint8_t *buf)
{
    uint8_t f = fuzz_rd_u8(r);
    if (f & 0x80 || (strcmp(ds, OD_POP) != 0 && strcmp(ds, OD_PHONES) != 0)) {
        size_t n = f & 0x1f;
        for (size_t i = 0; i < n; i++)
            buf[i] = fuzz_rd_u8(r);
        return n;
    }
    if (strcmp(ds, OD_POP) == 0) {
        Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
        p.personal_id = f & 1 ? "079201000009" : (char *)key;
        p.full_name = f & 2 ? "" : "Nguy\xe1\xbb\x85n V\xc4\x83n An";
        p.date_of_birth = f & 4 ? "1980-02-30" : "1980-02-29";
        p.current_province = f & 8 ? "38" : "01";
        p.status = f & 16 ? LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_DECEASED
                          : LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
        return lienthong__records__population__pack(&p, buf);
    }
    Lienthong__Records__Subscriber s = LIENTHONG__RECORDS__SUBSCRIBER__INIT;
    s.phone_number = f & 1 ? "84900000000" : (char *)key;
    s.owner_personal_id = (char *)s_keys[f % 3];
    s.status = f & 16 ? LIENTHONG__RECORDS__SUBSCRIBER_STATUS__SUBSCRIBER_ACTIVE
                      : LIENTHONG__RECORDS__SUBSCRIBER_STATUS__SUBSCRIBER_SUSPENDED;
    return lienthong__records__subscriber__pack(&s, buf);
}

/* A seq relative to the sink's model on stream: its next, its ack, the
 * stream's end, or of the script. */
static uint64_t rd_seq(fuzz_rd_t *r, const char *stream)
{
    const sink_t *m = s_sink_model(stream);
    uint64_t last = 0;
    s_stream_at(stream, &last, NULL);
    uint8_t how = fuzz_rd_u8(r);
    uint64_t d = how >> 3;
    switch (how & 7) {
    case 0:
        return m ? m->next - 1 - d % 2 : d; /* the last delivered, or before */
    case 1:
        return m ? m->acked + d % 3 : d;
    case 2:
        return last + 1 - d % 3;
    case 3:
        return 1 + d;
    case 4:
        return 0;
    case 5:
        return UINT64_MAX - d;
    default:
        return m ? m->next + d % 2 : d;
    }
}

/* One operation: its first byte says which (low 4 bits) and from which
 * client (bit 7: the one nobody holds); then its fields:
 *  0 Publish: dataset, request_id byte, 1 + n % 4 changes (key, flags
 *    bit 0 deleted, cursor, payload) with, by bits 2-3 of n, no record
 *    type, the dataset's, or another (8.1); the pump runs once;
 *  1 SinkAttach: stream, from_seq (rd_seq), credit byte, replace bit;
 *  2 DeliverAck: stream, through_seq (rd_seq);
 *  3 the pump, 1 + (next byte % MAX_PUMPS) times;
 *  4 StatusRequest; 5 ReadyRequest; 6 MetricsRequest (once per script:
 *    it writes every statistic);
 *  7 PrefillRequest: request_id byte, key, stream count (0: all, else of
 *    the script), key_field choice;
 *  8 ProfileRequest: request_id byte, key, parts (each a stream), deadline;
 *  9 Resync: stream;
 * 10 LookupRequest: request_id byte, dataset (stream), key, one field,
 *    timeout_ms byte (0: none, refused at once with ERR_MALFORMED);
 * 11 the member's standing: cut off (5.4) when bit 0 of the next byte is
 *    set, active otherwise (every input starts active);
 * 12 KeysRequest: request_id byte, dataset (stream), after (key), limit;
 * 13 DirectoryRequest: have_version byte;
 * 14 the poll loop's tick of lt_query: resends, and deadlines passed. */
static void s_script(const uint8_t *data, size_t size)
{
    fuzz_rd_t r = {data, size, 0};
    int metrics = 0;
    for (int ops = 0; ops < MAX_OPS && r.at < r.n; ops++) {
        uint8_t op = fuzz_rd_u8(&r);
        int rid = op >> 7;
        switch (op & 15) {
        case 0: {
            Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
            Lienthong__Change c[4], *cp[4];
            uint8_t pay[4][512];
            char cur[4][24];
            p.dataset = (char *)rd_stream(&r);
            p.request_id = fuzz_rd_u8(&r);
            uint8_t n = fuzz_rd_u8(&r);
            p.n_changes = 1 + n % 4;
            const Lienthong__Dataset *ds = lt_dir_dataset(G.g.ctx.dir, p.dataset);
            int rt = (n >> 2) % 4;
            p.record_type = rt < 2          ? ""
                            : rt == 2 && ds ? ds->record_type
                                            : "lienthong.records.InsuranceCard";
            for (size_t i = 0; i < p.n_changes; i++) {
                lienthong__change__init(&c[i]);
                c[i].key = (char *)rd_key(&r);
                c[i].deleted = fuzz_rd_u8(&r) & 1;
                c[i].source_cursor = (char *)rd_cursor(&r, cur[i], sizeof cur[i]);
                c[i].payload.data = pay[i];
                c[i].payload.len = c[i].deleted ? 0 : rd_payload(&r, p.dataset, c[i].key, pay[i]);
                cp[i] = &c[i];
            }
            p.changes = cp;
            s_send(LIENTHONG__ENVELOPE__BODY_PUBLISH, &p, 0, 1);
            break;
        }
        case 1: {
            Lienthong__SinkAttach a = LIENTHONG__SINK_ATTACH__INIT;
            a.stream = (char *)rd_stream(&r);
            a.from_seq = rd_seq(&r, a.stream);
            a.credit = fuzz_rd_u8(&r);
            a.replace = a.credit & 1;
            s_send(LIENTHONG__ENVELOPE__BODY_SINK_ATTACH, &a, rid, 1);
            break;
        }
        case 2: {
            Lienthong__DeliverAck a = LIENTHONG__DELIVER_ACK__INIT;
            a.stream = (char *)rd_stream(&r);
            a.through_seq = rd_seq(&r, a.stream);
            s_send(LIENTHONG__ENVELOPE__BODY_DELIVER_ACK, &a, rid, 1);
            break;
        }
        case 3:
            s_pump(1 + fuzz_rd_u8(&r) % MAX_PUMPS);
            break;
        case 4: {
            Lienthong__StatusRequest q = LIENTHONG__STATUS_REQUEST__INIT;
            s_send(LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &q, rid, 0);
            break;
        }
        case 5: {
            Lienthong__ReadyRequest q = LIENTHONG__READY_REQUEST__INIT;
            s_send(LIENTHONG__ENVELOPE__BODY_READY_REQUEST, &q, rid, 0);
            break;
        }
        case 6: {
            Lienthong__MetricsRequest q = LIENTHONG__METRICS_REQUEST__INIT;
            if (metrics++)
                break;
            s_send(LIENTHONG__ENVELOPE__BODY_METRICS_REQUEST, &q, rid, 0);
            break;
        }
        case 7: {
            Lienthong__PrefillRequest q = LIENTHONG__PREFILL_REQUEST__INIT;
            char *streams[4];
            static char *const fields[] = {"", "phone_number", "personal_id", "nothing"};
            q.request_id = fuzz_rd_u8(&r);
            q.key = (char *)rd_key(&r);
            q.n_streams = fuzz_rd_u8(&r) % 5;
            for (size_t i = 0; i < q.n_streams; i++)
                streams[i] = (char *)rd_stream(&r);
            q.streams = streams;
            q.key_field = fields[fuzz_rd_u8(&r) % 4];
            q.purpose = "PREFILL_FORM";
            s_send(LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST, &q, rid, 0);
            break;
        }
        case 8: {
            Lienthong__ProfileRequest q = LIENTHONG__PROFILE_REQUEST__INIT;
            Lienthong__ProfilePart parts[4], *pp[4];
            q.request_id = fuzz_rd_u8(&r);
            q.key = (char *)rd_key(&r);
            q.purpose = "KYC";
            q.n_parts = fuzz_rd_u8(&r) % 5;
            for (size_t i = 0; i < q.n_parts; i++) {
                lienthong__profile_part__init(&parts[i]);
                parts[i].dataset = (char *)rd_stream(&r);
                pp[i] = &parts[i];
            }
            q.parts = pp;
            q.deadline_ms = fuzz_rd_u8(&r) * 300u;
            s_send(LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST, &q, rid, 0);
            break;
        }
        case 9: {
            Lienthong__Resync q = LIENTHONG__RESYNC__INIT;
            q.stream = (char *)rd_stream(&r);
            s_send(LIENTHONG__ENVELOPE__BODY_RESYNC, &q, rid, 0);
            break;
        }
        case 10: {
            Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
            char *field[1] = {"full_name"};
            q.request_id = fuzz_rd_u8(&r);
            q.dataset = (char *)rd_stream(&r);
            q.key = (char *)rd_key(&r);
            q.fields = field;
            q.n_fields = fuzz_rd_u8(&r) & 1;
            q.purpose = "KYC";
            q.timeout_ms = fuzz_rd_u8(&r); /* 0: none, refused at once (7.1) */
            s_send(LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q, rid, 0);
            break;
        }
        case 11:
            G.cut_off = fuzz_rd_u8(&r) & 1;
            break;
        case 12: {
            Lienthong__KeysRequest q = LIENTHONG__KEYS_REQUEST__INIT;
            q.request_id = fuzz_rd_u8(&r);
            q.dataset = (char *)rd_stream(&r);
            q.after = (char *)rd_key(&r);
            q.limit = fuzz_rd_u8(&r) % 4;
            s_send(LIENTHONG__ENVELOPE__BODY_KEYS_REQUEST, &q, rid, 0);
            break;
        }
        case 13: {
            Lienthong__DirectoryRequest q = LIENTHONG__DIRECTORY_REQUEST__INIT;
            q.have_version = fuzz_rd_u8(&r);
            s_send(LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST, &q, rid, 0);
            break;
        }
        case 14: {
            /* The poll loop's tick: lookups past their deadline end, to
             * whichever client asked, each with an Error saying why. */
            expect_t x = {.request_id = NO_ID};
            lt_query_tick(G.query, G.g.router);
            s_drain(&x);
            if (x.replies != x.errors)
                abort(); /* a tick answered something */
            break;
        }
        default:
            break;
        }
    }
}

/* Use 2 of an input (see the top): the frame over max_message. */
static void s_oversized(const uint8_t *buf, size_t len)
{
    if (len == 0)
        return; /* nothing is under an empty frame */
    uint64_t id;
    int whole = lt_local_request_id(buf, len, &id);
    Lienthong__Envelope *u = lienthong__envelope__unpack(NULL, len, buf);
    uint64_t model = u ? s_expected_id(buf, len) : NO_ID;
    lt_wire_free(&u);
    if (whole && model != NO_ID && id != model)
        abort(); /* the scan reads another request_id than unpacking */
    lt_wire_in_t in;
    Lienthong__Envelope *env = NULL;
    size_t max = G.g.cfg.max_message;
    if (zmq_send(G.g.dealer, buf, len, 0) != (int)len || lt_wire_recv(G.g.router, 1, 0, &in) != 0)
        abort();
    G.g.cfg.max_message = len - 1;
    int rc = lt_local_on_message(&G.local, &in, &env);
    G.g.cfg.max_message = max;
    lt_wire_in_close(&in);
    if (rc != -1 || env)
        abort(); /* an oversized message handled */
    expect_t x = {.request_id = id, .code = LIENTHONG__ERROR_CODE__ERR_TOO_LARGE};
    s_drain(&x);
    if (x.replies != 1 || x.errors != 1)
        abort(); /* not answered exactly once, with an Error */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_init();
    G.cut_off = 0;
    if (++G.runs % RESET_EVERY == 0) {
        s_close();
        s_open();
    }
    s_local(data, size, 0, MAX_PUMPS);
    s_oversized(data, size);
    s_script(data, size);
    s_pump(MAX_PUMPS);
    return 0;
}

/* ---- seeds -------------------------------------------------------------------------------- */

/* Writes the envelope holding body (of field type) as seed dir/name. */
static void s_seed(const char *dir, const char *name, Lienthong__Envelope__BodyCase type,
                   const void *body)
{
    zmq_msg_t m;
    if (lt_wire_pack_body(&m, type, body) != 0)
        abort();
    fuzz_write_seed(dir, name, zmq_msg_data(&m), zmq_msg_size(&m));
    zmq_msg_close(&m);
}

/* One valid message of each kind the local socket takes, and scripts. */
static void s_write_seeds(const char *dir)
{
    (void)mkdir(dir, 0755);
    uint8_t pay[256];
    Lienthong__Records__Population pop = LIENTHONG__RECORDS__POPULATION__INIT;
    pop.personal_id = (char *)s_keys[1];
    pop.full_name = "Nguy\xe1\xbb\x85n V\xc4\x83n An";
    pop.date_of_birth = "1980-02-29";
    pop.current_province = "38";
    pop.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    Lienthong__Change c = LIENTHONG__CHANGE__INIT, *cp = &c;
    c.key = (char *)s_keys[1];
    c.payload.data = pay;
    c.payload.len = lienthong__records__population__pack(&pop, pay);
    c.source_cursor = "17";
    Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
    p.request_id = 7;
    p.dataset = OD_POP;
    p.changes = &cp;
    p.n_changes = 1;
    s_seed(dir, "publish", LIENTHONG__ENVELOPE__BODY_PUBLISH, &p);
    Lienthong__SinkAttach sa = LIENTHONG__SINK_ATTACH__INIT;
    sa.stream = OD_POP;
    sa.from_seq = 1;
    sa.credit = 100;
    s_seed(dir, "sink-attach", LIENTHONG__ENVELOPE__BODY_SINK_ATTACH, &sa);
    Lienthong__DeliverAck da = LIENTHONG__DELIVER_ACK__INIT;
    da.stream = OD_POP;
    da.through_seq = 1;
    s_seed(dir, "deliver-ack", LIENTHONG__ENVELOPE__BODY_DELIVER_ACK, &da);
    Lienthong__StatusRequest st = LIENTHONG__STATUS_REQUEST__INIT;
    s_seed(dir, "status", LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &st);
    Lienthong__ReadyRequest rq = LIENTHONG__READY_REQUEST__INIT;
    s_seed(dir, "ready", LIENTHONG__ENVELOPE__BODY_READY_REQUEST, &rq);
    Lienthong__MetricsRequest mq = LIENTHONG__METRICS_REQUEST__INIT;
    s_seed(dir, "metrics", LIENTHONG__ENVELOPE__BODY_METRICS_REQUEST, &mq);
    char *streams[1] = {REPLICA};
    Lienthong__PrefillRequest pf = LIENTHONG__PREFILL_REQUEST__INIT;
    pf.request_id = 9;
    pf.key = "84912345678";
    pf.streams = streams;
    pf.n_streams = 1;
    pf.purpose = "PREFILL_FORM";
    s_seed(dir, "prefill", LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST, &pf);
    Lienthong__ProfilePart part = LIENTHONG__PROFILE_PART__INIT, *pp = &part;
    part.dataset = REPLICA;
    Lienthong__ProfileRequest pr = LIENTHONG__PROFILE_REQUEST__INIT;
    pr.request_id = 11;
    pr.key = (char *)s_keys[0];
    pr.purpose = "KYC";
    pr.parts = &pp;
    pr.n_parts = 1;
    s_seed(dir, "profile", LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST, &pr);
    Lienthong__Resync rs = LIENTHONG__RESYNC__INIT;
    rs.stream = REPLICA;
    s_seed(dir, "resync", LIENTHONG__ENVELOPE__BODY_RESYNC, &rs);
    Lienthong__KeysRequest kq = LIENTHONG__KEYS_REQUEST__INIT;
    kq.request_id = 12;
    kq.dataset = OD_POP;
    kq.after = (char *)s_keys[0];
    kq.limit = 2;
    s_seed(dir, "keys", LIENTHONG__ENVELOPE__BODY_KEYS_REQUEST, &kq);
    Lienthong__DirectoryRequest dq = LIENTHONG__DIRECTORY_REQUEST__INIT;
    s_seed(dir, "directory", LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST, &dq);
    Lienthong__LookupRequest lq = LIENTHONG__LOOKUP_REQUEST__INIT;
    lq.request_id = 13;
    lq.dataset = OD_POP;
    lq.key = (char *)s_keys[1];
    lq.purpose = "KYC";
    lq.timeout_ms = 200;
    s_seed(dir, "lookup", LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &lq);

    /* Scripts (see s_script): publish three, attach from 1 with credit 2,
     * pump, ack 2, ack 2 again (refused), pump, ack 3, ack 9 (refused),
     * status; then a pre-fill, a profile, resyncs, a lookup of the replica's
     * owner of 200 ms, a tick, readiness and metrics, a lookup, readiness and status while cut
     * off, and, active again, a lookup without a time (refused). */
    static const uint8_t sink[] = {
        0x00, 0, 1,    2,    0,    0,    1, 0x08, 1,   0, 1, 0x18, 2, 0, 2, 0x18, /* publish 3 */
        0x01, 0, 0x03, 2,                                /* attach from 1, credit 2 */
        0x03, 2,                                         /* pump */
        0x02, 0, 0x00, 0x02, 0,    0x00,                 /* ack 2, ack 2 again */
        0x03, 1, 0x02, 0,    0x00, 0x02, 0, 0x43, 0x04}; /* pump, ack 3, ack 9 */
    fuzz_write_seed(dir, "script-sink", sink, sizeof sink);
    static const uint8_t requests[] = {0x07, 5,    3,    0,    0,    0x08, 6, 0, 2, 5, 3,
                                       10,   0x09, 5,    0x09, 0,    0x0a, 4, 5, 1, 1, 200,
                                       0x0e, 0x85, 0x06, 0x0b, 1,    0x0a, 4, 0, 1, 1, 0,
                                       0x05, 0x04, 0x0b, 0,    0x0a, 5,    1, 1, 1, 0};
    fuzz_write_seed(dir, "script-requests", requests, sizeof requests);
}

/* lt_prefill: a form pre-filled from the member's replicas, without asking
 * any owner (see lt_prefill.h, PROTOCOL.md 8.8). */
#include "lt_prefill.h"
#include "lt_clock.h"
#include "lt_gwstats.h"
#include "lt_log.h"
#include "lt_valid.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct _lt_prefill_t {
    const lt_gwctx_t *ctx;
    lt_feed_t *feed;
    lt_gwstats_codes_t requests;        /* lienthong_prefill_requests{reason} */
    lt_stats_series_t *found, *missing; /* lienthong_prefill_parts{outcome} */
};

/* One stream's part being read: the replica, and the record it holds. */
typedef struct {
    Lienthong__PrefillPart part;
    lt_feed_replica_info_t info;
    Lienthong__Record *rec; /* unpacked from the store; part.payload points into it */
    char detail[400];
} part_t;

lt_prefill_t *lt_prefill_new(const lt_gwctx_t *ctx, lt_feed_t *feed)
{
    static const lt_stats_def_t requests = {
        .name = "lienthong_prefill_requests",
        .help = "Pre-fill requests from local applications, answered (ERR_NONE) or refused, by "
                "error code (PROTOCOL.md 8.8)",
        .kind = LT_STATS_COUNTER,
        .n_labels = 1,
        .labels = {"reason"},
        .max_series = 20};
    static const lt_stats_def_t parts = {
        .name = "lienthong_prefill_parts",
        .help = "Streams read by answered pre-fills, by whether the replica held the key",
        .kind = LT_STATS_COUNTER,
        .n_labels = 1,
        .labels = {"outcome"},
        .max_series = 2};
    static const char *const found[] = {"found"}, *const missing[] = {"not_found"};
    lt_prefill_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->feed = feed;
    if (lt_gwstats_codes_init(&self->requests, ctx->stats, &requests, NULL) != 0 ||
        !(self->found = lt_gwstats_series(ctx->stats, &parts, found)) ||
        !(self->missing = lt_gwstats_series(ctx->stats, &parts, missing)))
        lt_prefill_destroy(&self);
    return self;
}

void lt_prefill_destroy(lt_prefill_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free(*self_p);
    *self_p = NULL;
}

/* Refuses the request: counted, logged, audited and answered (4.4). */
static void s_refuse(lt_prefill_t *self, void *sock, const lt_wire_in_t *in,
                     const Lienthong__PrefillRequest *q, const char *target,
                     Lienthong__ErrorCode code, const char *why)
{
    lt_gwstats_codes_inc(&self->requests, code);
    (void)lt_reject(self->ctx->reject, &(lt_reject_in_t){.sock = sock,
                                                         .rid = in->rid,
                                                         .rid_len = in->rid_len,
                                                         .who = "local",
                                                         .what = "prefill",
                                                         .target = target,
                                                         .code = code,
                                                         .request_id = q->request_id,
                                                         .why = why});
}

/* Whether this member may read its replica of stream for purpose
 * (PROTOCOL.md 8.8): the directory's policy it subscribes under (the
 * member's policy on the stream) must still allow subscribe, and list the
 * purpose, as an owner requires of a lookup (7.5). ERR_NONE, ERR_FORBIDDEN
 * or ERR_PURPOSE, with why. */
static Lienthong__ErrorCode s_may_read(lt_prefill_t *self, const char *stream, const char *purpose,
                                       char *why, size_t len)
{
    const char *me = self->ctx->cfg->member;
    const lt_dir_t *dir = self->ctx->dir;
    const Lienthong__Policy *p = dir ? lt_dir_policy(dir, me, stream) : NULL;
    unsigned long long v = dir ? (unsigned long long)lt_dir_version(dir) : 0;
    if (!lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_SUBSCRIBE)) {
        snprintf(why, len,
                 "%.200s: no policy of directory version %llu lets %.80s subscribe to "
                 "it, so its replica is not read",
                 stream, v, me);
        return LIENTHONG__ERROR_CODE__ERR_FORBIDDEN;
    }
    if (!lt_dir_policy_purpose(p, purpose)) {
        snprintf(why, len,
                 "%.200s: purpose \"%.128s\" is not among those the policy of directory "
                 "version %llu grants %.80s on it",
                 stream, purpose, v, me);
        return LIENTHONG__ERROR_CODE__ERR_PURPOSE;
    }
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

/* The streams named, each replicated here and readable for the purpose:
 * one that is not refuses the whole request (8.8: a part has no error of
 * its own). Returns the count, or -1 with the code, the stream at fault in
 * *bad and why. */
static int s_select_named(lt_prefill_t *self, const Lienthong__PrefillRequest *q, part_t *parts,
                          const char **bad, Lienthong__ErrorCode *code, char *why, size_t len)
{
    for (size_t i = 0; i < q->n_streams; i++) {
        *bad = q->streams[i];
        *code = LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
        if (lt_feed_replica_info(self->feed, 0, q->streams[i], &parts[i].info) != 0) {
            snprintf(why, len, "%.300s: not a stream this gateway replicates", q->streams[i]);
            return -1;
        }
        if ((*code = s_may_read(self, q->streams[i], q->purpose, why, len)))
            return -1;
    }
    return (int)q->n_streams;
}

/* The replicas to read into parts (at most LT_PREFILL_MAX_STREAMS): the
 * streams named, or every replica whose dataset's key field is
 * q->key_field (every replica when it is empty) and which the purpose may
 * read. Returns the count, or -1 with the code, the stream at fault in
 * *bad (NULL: none in particular) and why: a stream named that cannot be
 * read, a purpose that none of the replicas chosen grants, or more of them
 * than a reply holds (ERR_TOO_LARGE: a reply silently missing a stream
 * would read as a citizen that register does not hold, 8.8). */
static int s_select(lt_prefill_t *self, const Lienthong__PrefillRequest *q, part_t *parts,
                    const char **bad, Lienthong__ErrorCode *code, char *why, size_t len)
{
    size_t n = 0, refused = 0;
    char first[512] = "";
    if (q->n_streams)
        return s_select_named(self, q, parts, bad, code, why, len);
    size_t count = lt_feed_replica_count(self->feed);
    for (size_t i = 0; i < count; i++) {
        lt_feed_replica_info_t info;
        if (lt_feed_replica_info(self->feed, i, NULL, &info) != 0)
            continue;
        const Lienthong__Dataset *ds = lt_dir_dataset_of(self->ctx->dir, info.stream);
        if (q->key_field[0] && (!ds || strcmp(ds->key_field, q->key_field) != 0))
            continue;
        /* Not granted for this purpose: not part of this form. The first
         * such refusal says why when no replica is. */
        char no[512];
        Lienthong__ErrorCode c = s_may_read(self, info.stream, q->purpose, no, sizeof no);
        if (c && !refused++) {
            *code = c;
            snprintf(first, sizeof first, "%s", no);
        }
        if (!c && n < LT_PREFILL_MAX_STREAMS)
            parts[n].info = info;
        n += !c;
    }
    *bad = NULL;
    if (n > LT_PREFILL_MAX_STREAMS) {
        *code = LIENTHONG__ERROR_CODE__ERR_TOO_LARGE;
        snprintf(why, len,
                 "%zu replicated streams may be read for this purpose, more than the %d a "
                 "pre-fill reads; name the streams to read, at most %d a request",
                 n, LT_PREFILL_MAX_STREAMS, LT_PREFILL_MAX_STREAMS);
        return -1;
    }
    if (n || !refused)
        return (int)n;
    snprintf(why, len,
             "none of the %zu replicated stream(s) chosen may be read for this "
             "purpose; %.511s",
             refused, first);
    return -1;
}

/* The record at seq of the replica, unpacked (its bytes passed their store
 * checksum). 1 read, 0 absent, LT_STORE_DAMAGED, -1 store failure or a
 * record that does not decode. */
static int s_record(lt_prefill_t *self, int64_t id, uint64_t seq, Lienthong__Record **out)
{
    uint8_t *bytes = NULL;
    size_t len = 0;
    *out = NULL;
    int rc = lt_store_get(self->ctx->store, id, seq, &bytes, &len);
    if (rc == 1 && !(*out = lienthong__record__unpack(NULL, len, bytes)))
        rc = -1;
    free(bytes);
    return rc;
}

/* Reads key in the replica of p: its state row (the primary key (stream,
 * key)), then the log row of that seq (the row id). 0, or -1 on a store
 * failure. A damaged record is reported as not found, and asked again from
 * the owner (6.10). */
static int s_read(lt_prefill_t *self, const char *key, part_t *p)
{
    uint64_t seq = 0;
    int deleted = 0;
    int rc = lt_store_state_get(self->ctx->store, p->info.id, key, &seq, &deleted);
    if (rc < 0)
        return -1;
    if (rc == 0 || deleted)
        return 0;
    rc = s_record(self, p->info.id, seq, &p->rec);
    if (rc == LT_STORE_DAMAGED) {
        lt_feed_read_damaged(self->feed, p->info.stream, seq);
        p->part.state = "damaged";
        snprintf(p->detail, sizeof p->detail,
                 "the record at seq %" PRIu64 " is damaged; it is asked again from the owner", seq);
        return 0;
    }
    if (rc != 1 || p->rec->deleted || strcmp(p->rec->key, key) != 0) {
        lt_error("prefill",
                 "%s: the state of key %.64s points at seq %" PRIu64 " which does not hold it",
                 p->info.stream, key, seq);
        return -1;
    }
    p->part.found = 1;
    p->part.payload = p->rec->payload;
    p->part.seq = p->rec->seq;
    p->part.changed_at_ms = p->rec->changed_at_ms;
    return 0;
}

/* How current the replica is: its last seq and that record's change time
 * (0 when not in the log: an empty replica, or one installed from a
 * snapshot, 6.7). The last seq is the stream row's, read in the request's
 * snapshot as the record is: the feed's own count is raised only when the
 * writer thread's commit comes back to the poll loop, and may lag the
 * record read. 0, or -1 on a store failure. */
static int s_freshness(lt_prefill_t *self, part_t *p)
{
    Lienthong__Record *last = NULL;
    lt_stream_t st;
    int rc = lt_store_stream_find(self->ctx->store, p->info.stream, &st);
    if (rc < 0)
        return -1;
    p->part.replica_seq = rc == 1 && st.id == p->info.id ? st.last_seq : p->info.last_seq;
    if (p->part.replica_seq && s_record(self, p->info.id, p->part.replica_seq, &last) == 1)
        p->part.replica_changed_at_ms = last->changed_at_ms;
    if (last)
        lienthong__record__free_unpacked(last, NULL);
    return 0;
}

/* Fills part p for key (the directory's description, the record, the
 * replica's state). 0, or -1 on a store failure. */
static int s_part(lt_prefill_t *self, const char *key, part_t *p)
{
    const Lienthong__Dataset *ds = lt_dir_dataset_of(self->ctx->dir, p->info.stream);
    const Lienthong__View *v = lt_dir_view(self->ctx->dir, p->info.stream);
    lienthong__prefill_part__init(&p->part);
    /* The view's fields: what the replica can hold, so that an application
     * can be told every field it is not granted whether the record sets it
     * or not (8.8). The directory outlives the reply. */
    p->part.fields = v ? v->fields : NULL;
    p->part.n_fields = v ? v->n_fields : 0;
    p->part.stream = (char *)p->info.stream;
    p->part.dataset = ds ? ds->id : "";
    p->part.owner = ds ? ds->owner : "";
    p->part.record_type = ds ? ds->record_type : "";
    p->part.state = (char *)p->info.state;
    snprintf(p->detail, sizeof p->detail, "%s", p->info.detail);
    p->part.owner_heard_at_ms = p->info.heard_at_ms;
    int rc = s_freshness(self, p) == 0 ? s_read(self, key, p) : -1;
    p->part.detail = p->detail;
    return rc;
}

/* The member's account of the read: one entry per stream. */
static void s_audit(lt_prefill_t *self, const Lienthong__Envelope *env, const part_t *p)
{
    const Lienthong__PrefillRequest *q = env->prefill_request;
    char detail[512];
    if (p->part.found)
        snprintf(detail, sizeof detail, "found seq %" PRIu64 "; replica %s at seq %" PRIu64,
                 p->part.seq, p->part.state, p->part.replica_seq);
    else
        snprintf(detail, sizeof detail, "not found; replica %s at seq %" PRIu64, p->part.state,
                 p->part.replica_seq);
    lt_audit_add(
        self->ctx->audit,
        &(lt_audit_entry_t){.event = "prefill-read",
                            .peer = "local",
                            .target = p->info.stream,
                            .subject = q->key,
                            .purpose = q->purpose,
                            .case_ref = q->case_ref,
                            .detail = detail,
                            .application = env->on_behalf ? env->on_behalf->application : NULL,
                            .officer = env->on_behalf ? env->on_behalf->officer : NULL});
}

/* Reads every part in one read snapshot of the store (lt_store_read_begin):
 * the writer thread commits replica batches meanwhile, and a state row read
 * apart from the log row of its seq may point at a record pruned in
 * between, or be newer than the replica's last seq read before it. 0, or
 * -1 with the part that failed in *bad and why. */
static int s_read_all(lt_prefill_t *self, const char *key, part_t *parts, size_t n,
                      const char **bad, char *why, size_t len)
{
    lt_store_t *store = self->ctx->store;
    int rc = 0;
    if (lt_store_read_begin(store) != 0)
        lt_warn("prefill", "no read snapshot: %s", lt_store_error(store));
    for (size_t i = 0; i < n && rc == 0; i++)
        if ((rc = s_part(self, key, &parts[i])) != 0) {
            *bad = parts[i].info.stream;
            snprintf(why, len, "%s: the replica cannot be read: %s", *bad, lt_store_error(store));
        }
    /* Before the poll loop goes on: rows committed meanwhile are seen next. */
    lt_store_read_end(store);
    return rc;
}

/* Reads every part and answers; the audit entries are durable first, and
 * added only once every part was read: entries are buffered and committed
 * later whatever this request's fate (lt_audit), so an entry added before a
 * later part failed would record a read never delivered. */
static void s_answer(lt_prefill_t *self, void *sock, const lt_wire_in_t *in,
                     const Lienthong__Envelope *env, part_t *parts, size_t n)
{
    const Lienthong__PrefillRequest *q = env->prefill_request;
    Lienthong__PrefillPart *ptrs[LT_PREFILL_MAX_STREAMS];
    Lienthong__PrefillReply r = LIENTHONG__PREFILL_REPLY__INIT;
    const char *bad = NULL;
    char why[320];
    if (s_read_all(self, q->key, parts, n, &bad, why, sizeof why) != 0) {
        s_refuse(self, sock, in, q, bad, LIENTHONG__ERROR_CODE__ERR_INTERNAL, why);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        s_audit(self, env, &parts[i]);
        ptrs[i] = &parts[i].part;
    }
    if (lt_audit_commit(self->ctx->audit) != 0) {
        lt_audit_writable(self->ctx->audit, why, sizeof why);
        s_refuse(self, sock, in, q, NULL, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE, why);
        return;
    }
    r.request_id = q->request_id;
    r.key = q->key;
    r.parts = ptrs;
    r.n_parts = n;
    r.answered_at_ms = lt_clock_now_ms();
    /* Parts are counted once answered: those of a request refused whole
     * (a part that cannot be read, an audit log that cannot commit) were
     * never delivered. */
    for (size_t i = 0; i < n; i++)
        lt_stats_inc(parts[i].part.found ? self->found : self->missing);
    lt_gwstats_codes_inc(&self->requests, LIENTHONG__ERROR_CODE__ERR_NONE);
    (void)lt_wire_send_body(sock, in->rid, in->rid_len, LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY,
                            &r);
}

void lt_prefill_on_local(lt_prefill_t *self, void *sock, const lt_wire_in_t *in,
                         const Lienthong__Envelope *env)
{
    const Lienthong__PrefillRequest *q = env->prefill_request;
    char why[640];
    const char *bad = NULL;
    part_t *parts = NULL;
    Lienthong__ErrorCode code = lt_valid_prefill(q, why, sizeof why);
    if (!code)
        code = lt_valid_on_behalf(env->on_behalf, why, sizeof why);
    if (code) {
        s_refuse(self, sock, in, q, NULL, code, why);
        return;
    }
    /* Nothing is read that cannot be accounted for (as lookups, 7.3). */
    if (!lt_audit_writable(self->ctx->audit, why, sizeof why)) {
        lt_audit_refused(self->ctx->audit);
        s_refuse(self, sock, in, q, NULL, LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE, why);
        return;
    }
    if (!(parts = calloc(LT_PREFILL_MAX_STREAMS, sizeof *parts))) {
        s_refuse(self, sock, in, q, NULL, LIENTHONG__ERROR_CODE__ERR_INTERNAL, "out of memory");
        return;
    }
    int n = s_select(self, q, parts, &bad, &code, why, sizeof why);
    if (n < 0) {
        s_refuse(self, sock, in, q, bad, code, why);
    } else {
        s_answer(self, sock, in, env, parts, (size_t)n);
    }
    for (size_t i = 0; i < LT_PREFILL_MAX_STREAMS; i++)
        if (parts[i].rec)
            lienthong__record__free_unpacked(parts[i].rec, NULL);
    free(parts);
}

/* lt_local: what the gateway does with each message of a local client
 * (PROTOCOL.md 8): decoding, the refusals of the local socket, and the
 * hand-over to the module that owns the message's type. */
#include "lt_local.h"
#include "lt_audit.h"
#include "lt_keylist.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_peers.h"
#include "lt_reject.h"
#include "lt_stats_prom.h"
#include "lt_valid.h"

#include <stdio.h>
#include <stdlib.h>

/* Refuses a local message with code (4.4): counted, logged and audited by
 * lt_reject, answered within the client's Error rate. Returns -1. */
static int s_refuse(const lt_local_t *self, const lt_wire_in_t *in, const char *what,
                    Lienthong__ErrorCode code, uint64_t request_id, const char *why)
{
    (void)lt_reject(self->ctx->reject, &(lt_reject_in_t){.sock = self->sock,
                                                         .rid = in->rid,
                                                         .rid_len = in->rid_len,
                                                         .who = "local",
                                                         .what = what,
                                                         .code = code,
                                                         .request_id = request_id,
                                                         .why = why});
    return -1;
}

/* The answer to a StatusRequest (8.3): the member, its directory, its
 * links (lt_peers) and streams (lt_feed), and the poll loop's part. */
static void s_status(const lt_local_t *self, const lt_wire_in_t *in)
{
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    r.member = (char *)self->ctx->cfg->member;
    r.directory_version = lt_dir_version(self->ctx->dir);
    r.directory_expires_at = lt_dir_expires(self->ctx->dir);
    r.member_status = "";
    if (self->hooks.status)
        self->hooks.status(self->hooks.arg, &r);
    if (lt_peers_status(self->ctx->peers, &r) != 0)
        lt_warn("local", "status reply without its peer list: out of memory");
    lt_feed_status(self->feed, &r);
    (void)lt_wire_send_body(self->sock, in->rid, in->rid_len,
                            LIENTHONG__ENVELOPE__BODY_STATUS_REPLY, &r);
    lt_peers_status_free(&r);
    lt_feed_status_free(&r);
}

/* The registry as Prometheus text (8.6). */
static void s_metrics(const lt_local_t *self, const lt_wire_in_t *in)
{
    Lienthong__MetricsReply r = LIENTHONG__METRICS_REPLY__INIT;
    char *text = NULL;
    size_t len = 0, cap = 0;
    if (self->hooks.metrics)
        self->hooks.metrics(self->hooks.arg);
    lt_feed_quality_refresh(self->feed);
    if (lt_stats_prom_write(self->ctx->stats, &text, &len, &cap) != 0) {
        lt_warn("local", "metrics not sent: out of memory");
        (void)lt_wire_send_error(self->sock, in->rid, in->rid_len,
                                 LIENTHONG__ERROR_CODE__ERR_INTERNAL, 0, "out of memory");
        goto out;
    }
    r.text = text ? text : "";
    (void)lt_wire_send_body(self->sock, in->rid, in->rid_len,
                            LIENTHONG__ENVELOPE__BODY_METRICS_REPLY, &r);
out:
    free(text);
}

/* Starts resynchronising a forked replica (6.9, 8.3); the reply is the
 * request itself, or an Error. */
static void s_resync(const lt_local_t *self, const lt_wire_in_t *in, const Lienthong__Resync *m)
{
    char why[512];
    if (lt_feed_resync(self->feed, m->stream, why, sizeof why) != 0) {
        lt_warn("local", "resync refused: %s", why);
        (void)lt_wire_send_error(self->sock, in->rid, in->rid_len,
                                 LIENTHONG__ERROR_CODE__ERR_NOT_FOUND, 0, "%s", why);
        return;
    }
    lt_audit_add(self->ctx->audit,
                 &(lt_audit_entry_t){
                     .event = "resync", .peer = "local", .target = m->stream, .detail = why});
    (void)lt_wire_send_body(self->sock, in->rid, in->rid_len, LIENTHONG__ENVELOPE__BODY_RESYNC, m);
}

/* A page of an owned dataset's live keys (8.10); refused through s_refuse
 * (counted, logged and answered within the client's Error rate). */
static int s_keys(const lt_local_t *self, const lt_wire_in_t *in, const Lienthong__KeysRequest *m)
{
    char why[512];
    Lienthong__ErrorCode code;
    if (lt_keylist_answer(self->ctx, self->sock, in, m, &code, why, sizeof why) == 0)
        return 0;
    return s_refuse(self, in, "keys request", code, m->request_id, why);
}

/* The signed directory in use (8.11), the exact bytes peers are offered:
 * an application checking answers away from the gateway (7.8) needs the
 * owners' keys, and takes them from bytes it verifies itself under the
 * authority key. Answered whatever have_version says: a local client asks
 * once, and waits for a reply. */
static void s_directory(const lt_local_t *self, const lt_wire_in_t *in)
{
    Lienthong__DirectoryOffer o = LIENTHONG__DIRECTORY_OFFER__INIT;
    o.signed_directory.data =
        (uint8_t *)lt_dir_signed_bytes(self->ctx->dir, &o.signed_directory.len);
    (void)lt_wire_send_body(self->sock, in->rid, in->rid_len,
                            LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER, &o);
}

/* Whether the gateway can serve (8.7): not while its audit log cannot be
 * written, since lookups and verifies are then refused, nor while its
 * member is cut off (5.4). */
static void s_ready(const lt_local_t *self, const lt_wire_in_t *in)
{
    Lienthong__ReadyReply r = LIENTHONG__READY_REPLY__INIT;
    char audit[320], cut[512], *problems[2];
    r.problems = problems;
    if (!lt_audit_writable(self->ctx->audit, audit, sizeof audit))
        problems[r.n_problems++] = audit;
    if (self->hooks.cut_off && self->hooks.cut_off(self->hooks.arg, 1, cut, sizeof cut))
        problems[r.n_problems++] = cut;
    r.ready = r.n_problems == 0;
    (void)lt_wire_send_body(self->sock, in->rid, in->rid_len, LIENTHONG__ENVELOPE__BODY_READY_REPLY,
                            &r);
}

/* While this member is suspended, revoked or not listed (5.4) a request
 * for data (lookup, verify, profile, pre-fill) is refused with ERR_REVOKED
 * saying so: returns 1 when it refused. */
static int s_cut_off(const lt_local_t *self, const lt_wire_in_t *in, const Lienthong__Envelope *env)
{
    switch (env->body_case) {
    case LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST:
        break;
    default:
        return 0;
    }
    char why[400];
    if (!self->hooks.cut_off || !self->hooks.cut_off(self->hooks.arg, 0, why, sizeof why))
        return 0;
    (void)s_refuse(self, in, "local request", LIENTHONG__ERROR_CODE__ERR_REVOKED,
                   lt_valid_request_id(env), why);
    return 1;
}

/* Handles one decoded message other than Publish: 0, or -1 refused. */
static int s_dispatch(const lt_local_t *self, const lt_wire_in_t *in,
                      const Lienthong__Envelope *env)
{
    if (s_cut_off(self, in, env))
        return -1;
    switch (env->body_case) {
    case LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST:
        s_status(self, in);
        break;
    case LIENTHONG__ENVELOPE__BODY_METRICS_REQUEST:
        s_metrics(self, in);
        break;
    case LIENTHONG__ENVELOPE__BODY_READY_REQUEST:
        s_ready(self, in);
        break;
    case LIENTHONG__ENVELOPE__BODY_KEYS_REQUEST:
        return s_keys(self, in, env->keys_request);
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST:
        s_directory(self, in);
        break;
    case LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST:
        lt_query_on_local(self->query, self->sock, in, env);
        break;
    case LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST:
        lt_profile_on_local(self->profile, self->sock, in, env);
        break;
    case LIENTHONG__ENVELOPE__BODY_SINK_ATTACH:
        lt_feed_on_sink_attach(self->feed, self->sock, in, env->sink_attach);
        break;
    case LIENTHONG__ENVELOPE__BODY_DELIVER_ACK:
        lt_feed_on_deliver_ack(self->feed, self->sock, in, env->deliver_ack);
        break;
    case LIENTHONG__ENVELOPE__BODY_RESYNC:
        s_resync(self, in, env->resync);
        break;
    case LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST:
        lt_prefill_on_local(self->prefill, self->sock, in, env);
        break;
    case LIENTHONG__ENVELOPE__BODY_ERROR:
        /* Never answered with an Error (4.4), as on the peer socket. */
        lt_warn("local", "a local client reports %s: %s", lt_wire_error_name(env->error->code),
                env->error->message);
        break;
    default: {
        char why[128];
        snprintf(why, sizeof why, "%s is not handled on the local socket",
                 lt_wire_body_name(env->body_case));
        return s_refuse(self, in, "local message", LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED,
                        lt_valid_request_id(env), why);
    }
    }
    return 0;
}

/* Fields the scan of an oversized message reads, at most, at the top of
 * the envelope and again in its body: an envelope holds version, context,
 * on_behalf and one body, and a body's request_id comes first as clients
 * write it (field order), Range's sixth. A message of millions of tiny
 * fields then costs no more than these. */
#define ID_SCAN_FIELDS 16

/* One field of a message: its number, wire type and value (a varint's, or
 * a length-delimited field's length, whose bytes are at data). */
typedef struct {
    uint64_t num, v;
    int wt;
    const uint8_t *data;
} field_t;

/* Reads the field at *off of buf[len] into f and moves *off past it;
 * -1 when it is cut or of a wire type our messages never hold (groups). */
static int s_field(const uint8_t *buf, size_t len, size_t *off, field_t *f)
{
    uint64_t key;
    size_t n = lt_valid_varint(buf + *off, len - *off, &key);
    if (!n || (key >> 3) == 0)
        return -1;
    *off += n;
    f->num = key >> 3;
    f->wt = (int)(key & 7);
    f->data = buf + *off;
    size_t left = len - *off;
    switch (f->wt) {
    case 0:
        n = lt_valid_varint(buf + *off, left, &f->v);
        break;
    case 1: /* 64-bit */
    case 5: /* 32-bit */
        n = f->wt == 1 ? 8 : 4;
        if (left < n)
            n = 0;
        break;
    case 2:
        n = lt_valid_varint(buf + *off, left, &f->v);
        if (n && f->v <= left - n) {
            f->data = buf + *off + n;
            n += (size_t)f->v;
        } else {
            n = 0;
        }
        break;
    default:
        n = 0;
    }
    *off += n;
    return n ? 0 : -1;
}

/* The number of the request_id field of the envelope's body field `body`,
 * or 0 when that body has none (or is not one this gateway knows). */
static uint32_t s_id_field(uint64_t body)
{
    const ProtobufCFieldDescriptor *f = body > UINT32_MAX
                                            ? NULL
                                            : protobuf_c_message_descriptor_get_field(
                                                  &lienthong__envelope__descriptor, (unsigned)body);
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE)
        return 0;
    const ProtobufCFieldDescriptor *id =
        protobuf_c_message_descriptor_get_field_by_name(f->descriptor, "request_id");
    return id && id->type == PROTOBUF_C_TYPE_UINT64 && id->label != PROTOBUF_C_LABEL_REPEATED
               ? id->id
               : 0;
}

int lt_local_request_id(const uint8_t *buf, size_t len, uint64_t *id)
{
    field_t f, body = {0};
    size_t off = 0, n;
    int bodies = 0, whole;
    *id = 0;
    /* The body is the one field numbered 10 or more (PROTOCOL.md 4.2,
     * check 7), as lt_wire reads it. */
    for (n = 0; off < len && n < ID_SCAN_FIELDS; n++) {
        if (s_field(buf, len, &off, &f) != 0)
            break;
        if (f.num >= 10 && f.wt == 2 && bodies++ == 0)
            body = f;
    }
    whole = off == len && bodies == 1;
    uint32_t want = bodies ? s_id_field(body.num) : 0;
    if (!want)
        return whole;
    /* Protobuf keeps the last of a repeated scalar: so does the scan. */
    off = 0;
    for (n = 0; off < body.v && n < ID_SCAN_FIELDS; n++) {
        if (s_field(body.data, (size_t)body.v, &off, &f) != 0)
            break;
        if (f.num == want && f.wt == 0)
            *id = f.v;
    }
    return whole && off == body.v;
}

/* A local message above max_message is refused with ERR_TOO_LARGE before
 * it is unpacked (PROTOCOL.md 4.2, check 3), echoing the request_id its
 * first fields hold (8), so that the client learns why its request failed
 * (the local socket's own cap is the local protocol's, lt_gateway). */
static Lienthong__Envelope *s_decode(const lt_local_t *self, const lt_wire_in_t *in,
                                     Lienthong__ErrorCode *code, uint64_t *request_id, char *err,
                                     size_t errlen)
{
    size_t max = self->ctx->cfg->max_message;
    size_t len = zmq_msg_size((zmq_msg_t *)&in->body);
    const uint8_t *buf = zmq_msg_data((zmq_msg_t *)&in->body);
    if (len <= max)
        return lt_wire_decode_id(buf, len, max, code, request_id, err, errlen);
    (void)lt_local_request_id(buf, len, request_id);
    *code = LIENTHONG__ERROR_CODE__ERR_TOO_LARGE;
    snprintf(err, errlen,
             "message of %zu bytes exceeds this gateway's max_message of %zu bytes: send less at "
             "a time",
             len, max);
    return NULL;
}

int lt_local_on_message(const lt_local_t *self, const lt_wire_in_t *in, Lienthong__Envelope **env)
{
    char err[256];
    Lienthong__ErrorCode code = LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    uint64_t request_id = 0;
    *env = NULL;
    if (in->frames == 1)
        *env = s_decode(self, in, &code, &request_id, err, sizeof err);
    else
        snprintf(err, sizeof err, "expected exactly one frame, got %d", in->frames);
    if (!*env)
        return s_refuse(self, in, "local message", code, request_id, err);
    if ((*env)->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH)
        return LT_LOCAL_PUBLISH;
    return s_dispatch(self, in, *env);
}

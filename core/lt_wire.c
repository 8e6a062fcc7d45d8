/* lt_wire: envelope codec and framing. */
#include "lt_wire.h"
#include "lt_valid.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

Lienthong__Envelope *lt_wire_decode(const uint8_t *buf, size_t len, size_t cap,
                                    Lienthong__ErrorCode *code, char *err, size_t errlen)
{
    uint64_t request_id;
    return lt_wire_decode_id(buf, len, cap, code, &request_id, err, errlen);
}

/* Checks of PROTOCOL.md 4.2 that every decoded envelope passes whatever
 * its body: a known body, exactly one, and every string valid UTF-8 (4.5). */
static int s_checks(const Lienthong__Envelope *env, const uint8_t *buf, size_t len,
                    Lienthong__ErrorCode *code, char *err, size_t errlen)
{
    const uint8_t *body;
    size_t body_len;
    char where[128];
    if (env->body_case == LIENTHONG__ENVELOPE__BODY__NOT_SET) {
        /* A body type from a later protocol version decodes as "none". */
        *code = LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED;
        snprintf(err, errlen, "envelope carries no message this gateway knows");
        return -1;
    }
    *code = LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    if (lt_wire_body_bytes(buf, len, &body, &body_len) != 0) {
        snprintf(err, errlen, "envelope must carry exactly one message");
        return -1;
    }
    if (lt_valid_utf8(&lienthong__envelope__descriptor, buf, len, where, sizeof where) != 0) {
        /* Named, never echoed: the bytes are what a strict peer cannot read. */
        snprintf(err, errlen, "%s is not valid UTF-8 (or holds a NUL)", where);
        return -1;
    }
    return 0;
}

static int s_scan_version(const uint8_t *buf, size_t len, uint64_t *version);

Lienthong__Envelope *lt_wire_decode_id(const uint8_t *buf, size_t len, size_t cap,
                                       Lienthong__ErrorCode *code, uint64_t *request_id, char *err,
                                       size_t errlen)
{
    *request_id = 0;
    /* Our own cap, independent of ZMQ_MAXMSGSIZE, so that a misconfigured
     * socket can never hand the unpacker an unbounded buffer. */
    if (len > cap) {
        *code = LIENTHONG__ERROR_CODE__ERR_TOO_LARGE;
        snprintf(err, errlen, "frame of %zu bytes exceeds the %zu-byte cap", len, cap);
        return NULL;
    }
    /* The version before the unpack: a later version may lay out its body
     * otherwise, and its client is told "version", not "malformed" (4.2). */
    uint64_t version;
    int scanned = s_scan_version(buf, len, &version) == 0;
    Lienthong__Envelope *env = lienthong__envelope__unpack(NULL, len, buf);
    /* The id is read before the version check, so that an ERR_VERSION
     * echoes it too when the body holds one as version 1 reads it (4.4):
     * the client can then match the refusal to its request. */
    *request_id = env ? lt_valid_request_id(env) : 0;
    if (scanned && version != LT_PROTO_VERSION) {
        *code = LIENTHONG__ERROR_CODE__ERR_VERSION;
        snprintf(err, errlen, "protocol version %llu is not supported (supported: %d)",
                 (unsigned long long)version, LT_PROTO_VERSION);
        lienthong__envelope__free_unpacked(env, NULL);
        return NULL;
    }
    if (!env) {
        *code = LIENTHONG__ERROR_CODE__ERR_MALFORMED;
        snprintf(err, errlen, "frame of %zu bytes is not a valid envelope", len);
        return NULL;
    }
    if (s_checks(env, buf, len, code, err, errlen) != 0) {
        lienthong__envelope__free_unpacked(env, NULL);
        return NULL;
    }
    return env;
}

/* One top-level field of an encoded message at *off, which moves past it:
 * its key, and its value (a varint's) or bytes (a length-delimited
 * field's, *v their length). 0, or -1 when the bytes are no field. */
static int s_next_field(const uint8_t *buf, size_t len, size_t *off, uint64_t *key, uint64_t *v,
                        const uint8_t **bytes)
{
    size_t n = lt_valid_varint(buf + *off, len - *off, key);
    if (!n || (*key >> 3) == 0)
        return -1;
    *off += n;
    switch (*key & 7) {
    case 0: /* varint */
        if (!(n = lt_valid_varint(buf + *off, len - *off, v)))
            return -1;
        *off += n;
        return 0;
    case 1: /* 64-bit */
    case 5: /* 32-bit */
        n = (*key & 7) == 1 ? 8 : 4;
        if (len - *off < n)
            return -1;
        *off += n;
        return 0;
    case 2: /* length-delimited */
        if (!(n = lt_valid_varint(buf + *off, len - *off, v)) || *v > len - *off - n)
            return -1;
        *bytes = buf + *off + n;
        *off += n + (size_t)*v;
        return 0;
    default:
        return -1;
    }
}

/* The one body field of an encoded envelope: its bytes and field number. */
static int s_find_body(const uint8_t *buf, size_t len, const uint8_t **body, size_t *body_len,
                       uint32_t *field)
{
    size_t off = 0;
    int bodies = 0;
    while (off < len) {
        uint64_t key, v;
        const uint8_t *bytes = NULL;
        if (s_next_field(buf, len, &off, &key, &v, &bytes) != 0)
            return -1;
        if ((key & 7) == 2 && (key >> 3) >= 10) {
            bodies++;
            *body = bytes;
            *body_len = (size_t)v;
            *field = (uint32_t)(key >> 3);
        }
    }
    return bodies == 1 ? 0 : -1;
}

/* The version of an encoded envelope read by a flat walk of its top-level
 * fields, never its body (PROTOCOL.md 4.2): field 1, the last one read as
 * protobuf does, 0 when absent. -1 when the frame is no list of fields,
 * or field 1 is not a varint. */
static int s_scan_version(const uint8_t *buf, size_t len, uint64_t *version)
{
    size_t off = 0;
    *version = 0;
    while (off < len) {
        uint64_t key, v;
        const uint8_t *bytes = NULL;
        if (s_next_field(buf, len, &off, &key, &v, &bytes) != 0 ||
            ((key >> 3) == 1 && (key & 7) != 0))
            return -1;
        if ((key >> 3) == 1)
            *version = v;
    }
    return 0;
}

int lt_wire_body_bytes(const uint8_t *buf, size_t len, const uint8_t **body, size_t *body_len)
{
    uint32_t field;
    return s_find_body(buf, len, body, body_len, &field);
}

/* Writes v as a base-128 varint at out (when not NULL); returns its size. */
static size_t s_put_varint(uint8_t *out, uint64_t v)
{
    size_t n = 0;
    do {
        uint8_t b = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (out)
            out[n] = (uint8_t)(b | (v ? 0x80 : 0));
        n++;
    } while (v);
    return n;
}

int lt_wire_reframe(const uint8_t *frame, size_t len, const Lienthong__AnswerContext *ctx,
                    zmq_msg_t *out)
{
    const uint8_t *body;
    size_t body_len;
    uint32_t field;
    if (s_find_body(frame, len, &body, &body_len, &field) != 0) {
        zmq_msg_init(out);
        return -1;
    }
    /* The head is version and context, packed by protobuf-c; the body
     * follows as the exact bytes received, so that signatures and request
     * hashes over them still hold (PROTOCOL.md 7.1, 8.4). */
    Lienthong__Envelope head;
    lt_wire_env_init(&head);
    head.context = (Lienthong__AnswerContext *)ctx;
    uint64_t tag = ((uint64_t)field << 3) | 2;
    size_t head_len = lienthong__envelope__get_packed_size(&head);
    size_t total = head_len + s_put_varint(NULL, tag) + s_put_varint(NULL, body_len) + body_len;
    if (zmq_msg_init_size(out, total) != 0) {
        zmq_msg_init(out);
        return -1;
    }
    uint8_t *p = zmq_msg_data(out);
    p += lienthong__envelope__pack(&head, p);
    p += s_put_varint(p, tag);
    p += s_put_varint(p, body_len);
    memcpy(p, body, body_len);
    return 0;
}

void lt_wire_free(Lienthong__Envelope **env_p)
{
    if (env_p && *env_p) {
        lienthong__envelope__free_unpacked(*env_p, NULL);
        *env_p = NULL;
    }
}

static void s_drain(void *sock, lt_wire_in_t *in)
{
    int more = 0;
    size_t sz = sizeof more;
    while (zmq_getsockopt(sock, ZMQ_RCVMORE, &more, &sz) == 0 && more) {
        zmq_msg_t extra;
        zmq_msg_init(&extra);
        if (zmq_msg_recv(&extra, sock, 0) < 0) {
            zmq_msg_close(&extra);
            break;
        }
        in->frames++;
        zmq_msg_close(&extra);
    }
}

int lt_wire_recv(void *sock, int is_router, int flags, lt_wire_in_t *in)
{
    in->rid_len = 0;
    in->user_id[0] = 0;
    in->frames = 0;
    zmq_msg_init(&in->body);
    if (is_router) {
        zmq_msg_t rid;
        zmq_msg_init(&rid);
        if (zmq_msg_recv(&rid, sock, flags) < 0) {
            zmq_msg_close(&rid);
            return -1;
        }
        size_t n = zmq_msg_size(&rid);
        in->rid_len = n < sizeof in->rid ? n : sizeof in->rid;
        memcpy(in->rid, zmq_msg_data(&rid), in->rid_len);
        int more = zmq_msg_more(&rid);
        zmq_msg_close(&rid);
        if (!more)
            return 0;           /* routing id alone: frames == 0, caller treats as malformed */
        flags &= ~ZMQ_DONTWAIT; /* the rest of a multipart message is already here */
    }
    if (zmq_msg_recv(&in->body, sock, flags) < 0)
        return -1;
    in->frames = 1;
    const char *uid = zmq_msg_gets(&in->body, "User-Id");
    if (uid) { /* every message: a copy, not a format */
        size_t n = strnlen(uid, sizeof in->user_id - 1);
        memcpy(in->user_id, uid, n);
        in->user_id[n] = 0;
    }
    if (zmq_msg_more(&in->body))
        s_drain(sock, in);
    return 0;
}

void lt_wire_in_close(lt_wire_in_t *in)
{
    zmq_msg_close(&in->body);
}

void lt_wire_env_init(Lienthong__Envelope *env)
{
    lienthong__envelope__init(env);
    env->version = LT_PROTO_VERSION;
}

int lt_wire_recv_env(void *sock, int timeout_ms, size_t cap, Lienthong__Envelope **env, char *err,
                     size_t errlen)
{
    *env = NULL;
    err[0] = 0;
    lt_wire_in_t in;
    /* A message already queued is taken without a poll: a client with many
     * requests in flight then makes no poll system calls per answer. */
    for (int polled = 0;; polled = 1) {
        if (lt_wire_recv(sock, 0, ZMQ_DONTWAIT, &in) == 0)
            break;
        int e = zmq_errno();
        lt_wire_in_close(&in);
        if (e != EAGAIN || polled)
            return e == EAGAIN || e == EINTR ? 0 : -1;
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        int n = zmq_poll(&item, 1, timeout_ms);
        if (n <= 0)
            return n < 0 && zmq_errno() != EINTR ? -1 : 0;
    }
    Lienthong__ErrorCode code;
    if (in.frames != 1)
        snprintf(err, errlen, "dropped a message of %d frames", in.frames);
    else
        *env =
            lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body), cap, &code, err, errlen);
    lt_wire_in_close(&in);
    return *env ? 1 : 0;
}

static int s_pack(zmq_msg_t *msg, const Lienthong__Envelope *env)
{
    size_t len = lienthong__envelope__get_packed_size(env);
    if (zmq_msg_init_size(msg, len) != 0)
        return -1;
    lienthong__envelope__pack(env, zmq_msg_data(msg));
    return 0;
}

int lt_wire_send_msg(void *sock, const uint8_t *rid, size_t rid_len, zmq_msg_t *msg)
{
    if ((rid_len > 0 && zmq_send(sock, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) ||
        zmq_msg_send(msg, sock, ZMQ_DONTWAIT) < 0) {
        int e = zmq_errno();
        zmq_msg_close(msg);
        errno = e;
        return -1;
    }
    return 0;
}

int lt_wire_send_copy(void *sock, const uint8_t *rid, size_t rid_len, const zmq_msg_t *frame)
{
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    /* zmq_msg_copy only shares the frame's buffer; it does not change it. */
    if (zmq_msg_copy(&copy, (zmq_msg_t *)frame) != 0) {
        int e = zmq_errno();
        zmq_msg_close(&copy);
        errno = e;
        return -1;
    }
    return lt_wire_send_msg(sock, rid, rid_len, &copy);
}

int lt_wire_send(void *sock, const uint8_t *rid, size_t rid_len, const Lienthong__Envelope *env)
{
    zmq_msg_t msg;
    if (s_pack(&msg, env) != 0)
        return -1;
    return lt_wire_send_msg(sock, rid, rid_len, &msg);
}

/* Makes env a version-1 envelope carrying body in the field of type. The
 * body fields of the envelope form one oneof of message pointers: setting
 * the field at its descriptor's offset and the case is what the generated
 * setters would do, for any body type. */
static int s_envelope(Lienthong__Envelope *env, Lienthong__Envelope__BodyCase type,
                      const void *body)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&lienthong__envelope__descriptor, (unsigned)type);
    if (!f || f->type != PROTOBUF_C_TYPE_MESSAGE || !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) ||
        !body || ((const ProtobufCMessage *)body)->descriptor != f->descriptor) {
        errno = EINVAL;
        return -1;
    }
    lt_wire_env_init(env);
    env->body_case = type;
    memcpy((char *)env + f->offset, &body, sizeof body);
    return 0;
}

int lt_wire_send_body(void *sock, const uint8_t *rid, size_t rid_len,
                      Lienthong__Envelope__BodyCase type, const void *body)
{
    Lienthong__Envelope env;
    if (s_envelope(&env, type, body) != 0)
        return -1;
    return lt_wire_send(sock, rid, rid_len, &env);
}

int lt_wire_pack_body(zmq_msg_t *msg, Lienthong__Envelope__BodyCase type, const void *body)
{
    Lienthong__Envelope env;
    if (s_envelope(&env, type, body) != 0)
        return -1;
    return s_pack(msg, &env);
}

int lt_wire_send_error(void *sock, const uint8_t *rid, size_t rid_len, Lienthong__ErrorCode code,
                       uint64_t request_id, const char *fmt, ...)
{
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    /* Cut at the buffer's end, or echoing what a peer sent: either way
     * what goes out is UTF-8 (PROTOCOL.md 4.5). */
    lt_valid_sanitise(text);
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    e.code = code;
    e.message = text;
    e.request_id = request_id;
    return lt_wire_send_body(sock, rid, rid_len, LIENTHONG__ENVELOPE__BODY_ERROR, &e);
}

const char *lt_wire_body_name(Lienthong__Envelope__BodyCase c)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field(&lienthong__envelope__descriptor, (unsigned)c);
    return f ? f->name : "none";
}

const char *lt_wire_error_name(Lienthong__ErrorCode code)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&lienthong__error_code__descriptor, (int)code);
    return v ? v->name : "ERR_UNKNOWN";
}

const char *lt_wire_claim_name(Lienthong__ClaimResult r)
{
    switch (r) {
    case LIENTHONG__CLAIM_RESULT__CLAIM_MATCH:
        return "match";
    case LIENTHONG__CLAIM_RESULT__CLAIM_NO_MATCH:
        return "no-match";
    case LIENTHONG__CLAIM_RESULT__CLAIM_NOT_ALLOWED:
        return "not-allowed";
    default:
        return "unknown";
    }
}

/* lt_wire: the envelope codec and framed send/receive on ZeroMQ sockets.
 *
 * Every message is one frame holding one Envelope (after the routing-id
 * frame on a ROUTER). Decoding checks the size cap before unpacking, then the
 * protocol version, then that a body is present, then that every string is
 * valid UTF-8 (core/lt_valid). */
#ifndef LT_WIRE_H
#define LT_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "lienthong.pb-c.h"
#include "lt_err.h"
#include "lt_limits.h"

#define LT_PROTO_VERSION 1

/* One received message. */
typedef struct {
    uint8_t rid[LT_RID_MAX]; /* routing id (ROUTER only) */
    size_t rid_len;
    char user_id[LT_ID_MAX]; /* ZAP User-Id of the connection; empty when none */
    zmq_msg_t body;
    int frames; /* frames after the routing id; 1 when well formed */
} lt_wire_in_t;

/* Decodes an envelope. On failure returns NULL and sets *code and err. */
Lienthong__Envelope *lt_wire_decode(const uint8_t *buf, size_t len, size_t cap,
                                    Lienthong__ErrorCode *code, char *err,
                                    size_t errlen) LT_NODISCARD;
/* The same, also setting *request_id to the request_id of a lookup, verify
 * or publish envelope that decoded but failed a later check (else 0), so
 * that the Error can echo it (PROTOCOL.md 4.4). Every string field of the
 * envelope must be valid UTF-8 without NUL (4.5, lt_valid). */
Lienthong__Envelope *lt_wire_decode_id(const uint8_t *buf, size_t len, size_t cap,
                                       Lienthong__ErrorCode *code, uint64_t *request_id, char *err,
                                       size_t errlen) LT_NODISCARD;
void lt_wire_free(Lienthong__Envelope **env_p);

/* Finds the exact bytes of the envelope's body (its one field numbered 10 or
 * more) in an encoded envelope, without decoding it. Fails (-1) on a
 * malformed encoding, a field number 0, or more or fewer than one body.
 * Used to hash requests over the exact bytes received (PROTOCOL.md 7.1) and
 * to enforce "exactly one body" (4.2). */
int lt_wire_body_bytes(const uint8_t *buf, size_t len, const uint8_t **body,
                       size_t *body_len) LT_NODISCARD;

/* Builds in *out an envelope of this protocol version holding ctx (when not
 * NULL) and the exact body bytes of the encoded envelope frame, and nothing
 * else frame carried. A caller's gateway forwards local requests without
 * their local-only context, and annotates the owner's answers with it
 * (PROTOCOL.md 8.4). Returns 0 with *out to send or close, or -1 (frame
 * has not exactly one body, or out of memory) with *out empty. */
int lt_wire_reframe(const uint8_t *frame, size_t len, const Lienthong__AnswerContext *ctx,
                    zmq_msg_t *out) LT_NODISCARD;

/* Receives one message (non-blocking when flags has ZMQ_DONTWAIT). Reads
 * and discards any surplus frames, counting them in in->frames. Returns 0,
 * or -1 with errno (EAGAIN when nothing is waiting). Close with
 * lt_wire_in_close even on success. */
int lt_wire_recv(void *sock, int is_router, int flags, lt_wire_in_t *in);
void lt_wire_in_close(lt_wire_in_t *in);

/* Initialises env as an empty envelope of this protocol version. */
void lt_wire_env_init(Lienthong__Envelope *env);

/* Waits up to timeout_ms for one message on a DEALER and decodes it.
 * Returns 1 with *env (free with lt_wire_free); 0 when nothing came in time,
 * or when a malformed message was dropped (err then says why); -1 when the
 * socket failed. */
int lt_wire_recv_env(void *sock, int timeout_ms, size_t cap, Lienthong__Envelope **env, char *err,
                     size_t errlen) LT_NODISCARD;

/* Packs and sends env, preceded by the routing id when rid_len > 0.
 * Non-blocking: returns -1 with errno EAGAIN when the peer's pipe is full. */
int lt_wire_send(void *sock, const uint8_t *rid, size_t rid_len, const Lienthong__Envelope *env);
/* Sends an envelope whose one message is body, of the type the envelope
 * field `type` holds (e.g. LIENTHONG__ENVELOPE__BODY_BATCH and a
 * Lienthong__Batch), like lt_wire_send. Returns -1 with errno EINVAL when
 * type is not a message field of the envelope or body is not of its type. */
int lt_wire_send_body(void *sock, const uint8_t *rid, size_t rid_len,
                      Lienthong__Envelope__BodyCase type, const void *body);
/* Packs such an envelope into msg (initialised here), for a caller that
 * keeps a copy. Returns 0, or -1 with errno (EINVAL as above, ENOMEM). */
int lt_wire_pack_body(zmq_msg_t *msg, Lienthong__Envelope__BodyCase type, const void *body);
/* Sends msg, a packed envelope (e.g. a stored copy), preceded by the
 * routing id when rid_len > 0, non-blocking. msg is sent or closed either
 * way. Returns 0, or -1 with errno. */
int lt_wire_send_msg(void *sock, const uint8_t *rid, size_t rid_len, zmq_msg_t *msg);
/* Sends a copy of frame (which stays the caller's) the same way. */
int lt_wire_send_copy(void *sock, const uint8_t *rid, size_t rid_len, const zmq_msg_t *frame);
/* Sends an Error envelope. */
int lt_wire_send_error(void *sock, const uint8_t *rid, size_t rid_len, Lienthong__ErrorCode code,
                       uint64_t request_id, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Names for logs: the body field name ("hello", "batch", ...) and the
 * error code's enum name ("ERR_FORBIDDEN"). */
const char *lt_wire_body_name(Lienthong__Envelope__BodyCase c);
const char *lt_wire_error_name(Lienthong__ErrorCode code);
/* "match", "no-match", "not-allowed" or "unknown" (PROTOCOL.md 7.6). */
const char *lt_wire_claim_name(Lienthong__ClaimResult r);

#endif

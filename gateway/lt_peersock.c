/* lt_peersock: what the gateway does with each message of another member
 * on its peer ROUTER (PROTOCOL.md 3.2, 4.4, 5.4, 5.6): the checks every
 * message passes, and the hand-over to the module that owns its type. */
#include "lt_peersock.h"
#include "lt_log.h"
#include "lt_peers.h"
#include "lt_reject.h"
#include "lt_valid.h"

#include <stdio.h>

static void s_count(const lt_peersock_t *self, Lienthong__ErrorCode code)
{
    if (self->refused)
        lt_gwstats_codes_inc(self->refused, code);
}

void lt_peersock_refuse(const lt_peersock_t *self, void *sock, const lt_wire_in_t *in,
                        Lienthong__ErrorCode code, uint64_t request_id, const char *who,
                        const char *why)
{
    s_count(self, code);
    (void)lt_reject(self->ctx->reject, &(lt_reject_in_t){.sock = sock,
                                                         .rid = in->rid,
                                                         .rid_len = in->rid_len,
                                                         .who = who,
                                                         .what = "message",
                                                         .code = code,
                                                         .request_id = request_id,
                                                         .why = why});
}

/* Authorises by the connection's ZAP User-Id, never by message content. */
static int s_authorised(const lt_peersock_t *self, void *sock, const lt_wire_in_t *in)
{
    const Lienthong__Member *m = lt_dir_member(self->ctx->dir, in->user_id);
    if (!m) {
        lt_peersock_refuse(self, sock, in, LIENTHONG__ERROR_CODE__ERR_UNKNOWN_MEMBER, 0,
                           in->user_id[0] ? in->user_id : "?",
                           "sender is not in the current directory");
        return 0;
    }
    if (m->status != LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE) {
        lt_peersock_refuse(self, sock, in, LIENTHONG__ERROR_CODE__ERR_REVOKED, 0, m->id,
                           m->status == LIENTHONG__MEMBER_STATUS__MEMBER_REVOKED
                               ? "sender is revoked"
                               : "sender is suspended");
        return 0;
    }
    return 1;
}

/* While no data goes to peers (PROTOCOL.md 5.4, 5.6, said in why):
 * returns 1 after refusing a message, 0 for what may pass. Only what
 * renews the directory or ends something passes; any other body is
 * refused, so that a request added to the protocol later is not served by
 * default (a repair's Range was, once). */
static int s_no_data(const lt_peersock_t *self, void *sock, const lt_wire_in_t *in,
                     const Lienthong__Envelope *env, const char *why)
{
    const char *stream = NULL;
    switch (env->body_case) {
    case LIENTHONG__ENVELOPE__BODY_HELLO:
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER:
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE:
    case LIENTHONG__ENVELOPE__BODY_ERROR:
        return 0;
    case LIENTHONG__ENVELOPE__BODY_RANGE:
        /* Its id echoed (lt_valid_request_id): the answer is told apart
         * from the feed's errors (PROTOCOL.md 6.10). */
        stream = env->range->stream;
        break;
    case LIENTHONG__ENVELOPE__BODY_SUBSCRIBE:
        stream = env->subscribe->stream;
        break;
    case LIENTHONG__ENVELOPE__BODY_CREDIT:
        stream = env->credit->stream;
        break;
    default:
        break;
    }
    /* ERR_DIRECTORY, not a transient code: the caller's application learns
     * at once why, rather than a timeout after the retries. */
    s_count(self, LIENTHONG__ERROR_CODE__ERR_DIRECTORY);
    lt_debug("peer", "refused %s from %s: %s", lt_wire_body_name(env->body_case), in->user_id, why);
    /* The request's id, as any refusal echoes it (4.4): a local request a
     * peer sends (Publish, PrefillRequest, ProfileRequest) included. */
    (void)lt_wire_send_error(sock, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_DIRECTORY,
                             lt_valid_request_id(env), "%s%s%s", stream ? stream : "",
                             stream ? ": " : "", why);
    return 1;
}

/* Hands one decoded message to its module: 0, or -1 refused. */
static int s_dispatch(const lt_peersock_t *self, void *sock, const lt_wire_in_t *in,
                      const Lienthong__Envelope *env)
{
    char why[512];
    if (self->hooks.no_data && self->hooks.no_data(self->hooks.arg, why, sizeof why) &&
        s_no_data(self, sock, in, env, why))
        return -1;
    /* Lookups of a drain share a read snapshot of the store; anything else
     * sees the newest rows. */
    if (env->body_case != LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST &&
        env->body_case != LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST)
        lt_store_read_end(self->ctx->store);
    switch (env->body_case) {
    case LIENTHONG__ENVELOPE__BODY_HELLO:
        lt_peers_on_hello(self->ctx->peers, sock, in, env->hello);
        break;
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER:
        if (self->hooks.offer)
            self->hooks.offer(self->hooks.arg, in, env->directory_offer);
        break;
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST:
        lt_peers_on_dir_request(self->ctx->peers, sock, in, env->directory_request);
        break;
    case LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST:
    case LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST:
        lt_query_on_request(self->query, sock, in, env);
        break;
    case LIENTHONG__ENVELOPE__BODY_SUBSCRIBE:
        lt_feed_on_subscribe(self->feed, sock, in, env->subscribe);
        break;
    case LIENTHONG__ENVELOPE__BODY_CREDIT:
        lt_feed_on_credit(self->feed, sock, in, env->credit);
        break;
    case LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE:
        lt_feed_on_unsubscribe(self->feed, sock, in, env->unsubscribe);
        break;
    case LIENTHONG__ENVELOPE__BODY_RANGE:
        lt_feed_on_range_request(self->feed, sock, in, env->range);
        break;
    case LIENTHONG__ENVELOPE__BODY_ERROR:
        /* Never answered (4.4); a member may send any number. */
        lt_peererr_note(self->ctx->peer_errors, "peer", in->user_id, env->error);
        break;
    default:
        lt_peersock_refuse(self, sock, in, LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED,
                           lt_valid_request_id(env), in->user_id,
                           "message type not handled on the peer socket");
        return -1;
    }
    return 0;
}

int lt_peersock_on_message(const lt_peersock_t *self, void *sock, const lt_wire_in_t *in)
{
    char err[256];
    Lienthong__ErrorCode code;
    uint64_t request_id = 0;
    Lienthong__Envelope *env = NULL;
    int rc = -1;
    if (!s_authorised(self, sock, in))
        goto out;
    if (in->frames != 1) {
        snprintf(err, sizeof err, "expected exactly one frame, got %d", in->frames);
        lt_peersock_refuse(self, sock, in, LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0, in->user_id,
                           err);
        goto out;
    }
    env = lt_wire_decode_id(zmq_msg_data((zmq_msg_t *)&in->body), zmq_msg_size(&in->body),
                            self->ctx->cfg->max_message, &code, &request_id, err, sizeof err);
    if (!env) {
        lt_peersock_refuse(self, sock, in, code, request_id, in->user_id, err);
        goto out;
    }
    rc = s_dispatch(self, sock, in, env);
out:
    lt_wire_free(&env);
    return rc;
}

/* lt_linkrx: what the gateway does with each message that arrives on one
 * of its links to other members (PROTOCOL.md 3.2, 4.4, 5.3, 6, 7): the
 * checks every message passes, and the hand-over to the module waiting
 * for its type. */
#include "lt_linkrx.h"
#include "lt_log.h"
#include "lt_peers.h"
#include "lt_reject.h"

#include <stdio.h>

/* Counts a refusal and reports it within the member's rate (4.4,
 * lt_reject); nothing is answered on a link. */
static void s_refuse(const lt_linkrx_t *self, const char *member, const char *what,
                     Lienthong__ErrorCode code, const char *why)
{
    if (self->refused)
        lt_gwstats_codes_inc(self->refused, code);
    (void)lt_reject(self->ctx->reject,
                    &(lt_reject_in_t){.who = member, .what = what, .code = code, .why = why});
}

/* An offer on our link to member, under the same back-off as on our
 * ROUTER; a refusal of one held back unchecked is reported here. 0, or -1
 * refused. */
static int s_offer(const lt_linkrx_t *self, const char *member, const Lienthong__DirectoryOffer *o)
{
    char err[512];
    if (!self->hooks.offer || self->hooks.offer(self->hooks.arg, member, o, err, sizeof err) == 0)
        return 0;
    s_refuse(self, member, "directory offer on its link", LIENTHONG__ERROR_CODE__ERR_DIRECTORY,
             err);
    return -1;
}

/* A batch came on link: checked at once (6.5), committed by the writer
 * thread through the queue hook. The envelope goes with it (*env becomes
 * NULL). */
static void s_batch(const lt_linkrx_t *self, const void *link, const char *member,
                    Lienthong__Envelope **env)
{
    if (!self->hooks.queue) {
        lt_feed_on_batch(self->feed, member, (*env)->batch);
        return;
    }
    lt_feed_apply_t *job = lt_feed_batch_check(self->feed, member, (*env)->batch, link);
    if (!job)
        return;
    if (self->hooks.queue(self->hooks.arg, job, *env, link) != 0) {
        /* The batch cannot be applied out of turn (it follows on batches
         * not yet committed): it is done as not run, and its replica
         * subscribes again from its durable cursor. */
        lt_feed_batch_done(self->feed, &job);
        return;
    }
    *env = NULL;
}

/* Hands one decoded message from member on link i (socket link) to the
 * module waiting for it: 0, or -1 refused. */
static int s_dispatch(const lt_linkrx_t *self, size_t i, void *link, const char *member,
                      Lienthong__Envelope **envp, const zmq_msg_t *frame)
{
    Lienthong__Envelope *env = *envp;
    switch (env->body_case) {
    case LIENTHONG__ENVELOPE__BODY_HELLO:
        lt_peers_on_link_hello(self->ctx->peers, i, env->hello);
        break;
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER:
        return s_offer(self, member, env->directory_offer);
    case LIENTHONG__ENVELOPE__BODY_DIRECTORY_REQUEST:
        lt_peers_on_link_dir_request(self->ctx->peers, i, env->directory_request);
        break;
    case LIENTHONG__ENVELOPE__BODY_BATCH:
        s_batch(self, link, member, envp);
        break;
    case LIENTHONG__ENVELOPE__BODY_HISTORY_CHANGED:
        lt_feed_on_history_changed(self->feed, member, env->history_changed);
        break;
    case LIENTHONG__ENVELOPE__BODY_SNAPSHOT_CHUNK:
        lt_feed_on_snapshot_chunk(self->feed, member, link, env->snapshot_chunk);
        break;
    case LIENTHONG__ENVELOPE__BODY_SNAPSHOT_END:
        lt_feed_on_snapshot_end(self->feed, member, env->snapshot_end);
        break;
    case LIENTHONG__ENVELOPE__BODY_RANGE:
        lt_feed_on_range_batch(self->feed, member, env->range);
        break;
    case LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY:
    case LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY:
        lt_query_on_answer(self->query, self->local, member, env, frame);
        return LT_LINKRX_ANSWER;
    case LIENTHONG__ENVELOPE__BODY_ERROR:
        lt_peererr_note(self->ctx->peer_errors, "link", member, env->error);
        /* A Range's answer carries its request_id, which no lookup holds. */
        if (!lt_feed_on_error(self->feed, member, env->error))
            lt_query_on_error(self->query, self->local, member, env->error);
        break;
    default: {
        /* Counted and reported within the member's rate like any refusal:
         * a member may send any number. Still 0: nothing was dropped that
         * a link carries. */
        char why[96];
        snprintf(why, sizeof why, "unexpected %s ignored", lt_wire_body_name(env->body_case));
        s_refuse(self, member, "message on its link", LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED, why);
        break;
    }
    }
    return 0;
}

int lt_linkrx_on_message(const lt_linkrx_t *self, size_t i, const lt_wire_in_t *in)
{
    /* Copies: handling the message may close links, which moves the table. */
    char member[LT_ID_MAX];
    void *link = lt_peers_link_socket(self->ctx->peers, i);
    snprintf(member, sizeof member, "%s", lt_peers_link_member(self->ctx->peers, i));
    char err[256];
    Lienthong__ErrorCode code;
    Lienthong__Envelope *env = NULL;
    int rc = -1;
    /* Membership is looked up again for every message (PROTOCOL.md 3.2):
     * an adoption closes the links of members no longer active, so this
     * holds unless that failed. Not answered, like what does not decode;
     * what did not decode may have been an Error, which is never answered
     * (4.4). */
    const char *inactive = lt_dir_inactive(self->ctx->dir, member);
    if (inactive) {
        code = lt_dir_member(self->ctx->dir, member) ? LIENTHONG__ERROR_CODE__ERR_REVOKED
                                                     : LIENTHONG__ERROR_CODE__ERR_UNKNOWN_MEMBER;
        snprintf(err, sizeof err, "dropped: the member is %s", inactive);
        s_refuse(self, member, "message on its link", code, err);
    } else if (in->frames != 1) {
        snprintf(err, sizeof err, "dropped a message of %d frames", in->frames);
        s_refuse(self, member, "message on its link", LIENTHONG__ERROR_CODE__ERR_MALFORMED, err);
    } else if (!(env = lt_wire_decode(zmq_msg_data((zmq_msg_t *)&in->body), zmq_msg_size(&in->body),
                                      self->ctx->cfg->max_message, &code, err, sizeof err))) {
        s_refuse(self, member, "message on its link", code, err);
    } else {
        rc = s_dispatch(self, i, link, member, &env, &in->body);
    }
    lt_wire_free(&env); /* NULL when a batch kept it (the queue hook) */
    return rc;
}

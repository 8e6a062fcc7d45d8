/* lt_local: the gateway's local socket (PROTOCOL.md 8): decodes each
 * message a source or sink adapter, an application or the CLI sends, and
 * hands it to the module that handles it (lt_feed, lt_query, lt_profile,
 * lt_prefill, lt_keylist) or answers it here (status, metrics, readiness,
 * resync). A Publish goes back to the poll loop, which gathers it into the
 * next publish group (lt_publish_job).
 *
 * Apart from lt_gateway so that the poll loop and the fuzz target of the
 * local socket (tests/fuzz/fuzz_local.c) run the same dispatch.
 *
 * A plain struct, like lt_gwctx_t: it owns nothing, it only names the
 * modules and the socket the messages go to, and the hooks through which
 * it asks the poll loop what only the poll loop knows. */
#ifndef LT_LOCAL_H
#define LT_LOCAL_H

#include "lienthong.pb-c.h"
#include "lt_feed.h"
#include "lt_gwctx.h"
#include "lt_prefill.h"
#include "lt_profile.h"
#include "lt_query.h"
#include "lt_wire.h"

/* What the poll loop alone knows, asked at the moment of use; each hook
 * may be NULL (nothing to add). */
typedef struct {
    /* Fills its part of a status reply (8.3): messages refused, whether
     * the directory expired (5.6), this member's standing (5.4). */
    void (*status)(void *arg, Lienthong__StatusReply *r);
    /* Brings the directory's gauges up to date before the metrics are
     * written (8.6). */
    void (*metrics)(void *arg);
    /* 1 while this member is suspended, revoked or not listed (5.4), with
     * why in why[len]: in the words of a readiness problem (8.7) when
     * ready is 1, of a refused request otherwise; 0 while it is active. */
    int (*cut_off)(void *arg, int ready, char *why, size_t len);
    void *arg;
} lt_local_hooks_t;

typedef struct {
    const lt_gwctx_t *ctx; /* configuration, directory, audit, statistics, rejections */
    void *sock;            /* the local ROUTER: every answer goes there */
    lt_feed_t *feed;       /* sinks (8.2), resync (8.3), status and quality */
    lt_query_t *query;     /* lookups and verifies (8.3) */
    lt_profile_t *profile; /* profile lookups (7.7) */
    lt_prefill_t *prefill; /* pre-fills (8.8) */
    lt_local_hooks_t hooks;
} lt_local_t;

/* lt_local_on_message's answer for a Publish (8.1): *env is it, for the
 * caller to gather into the next publish group. */
#define LT_LOCAL_PUBLISH 1

/* Decodes one message received on self->sock (in, one frame expected,
 * within cfg->max_message) into *env and handles it. Returns
 * LT_LOCAL_PUBLISH for a Publish, which is not handled here; 0 when it was
 * answered or handed to its module (or, an Error, logged: an Error is
 * never answered, 4.4); -1 when it was refused with an Error through
 * ctx->reject: it did not decode (*env NULL), its type is not handled on
 * the local socket, or it asks for data while this member is cut off.
 * The caller frees *env (lt_wire_free) unless it keeps a Publish. */
int lt_local_on_message(const lt_local_t *self, const lt_wire_in_t *in, Lienthong__Envelope **env);

/* The request_id of the encoded envelope buf[len], read from its bytes
 * without unpacking it, for the ERR_TOO_LARGE of a message over
 * max_message (PROTOCOL.md 8): the body's request_id field, when its type
 * has one, among the first fields of the envelope and of the body; 0 when
 * it is not there. Returns 1 when the whole envelope was read and holds
 * one body, so that *id is what unpacking it would give; 0 when the scan
 * stopped short (a bound, a malformed field). */
int lt_local_request_id(const uint8_t *buf, size_t len, uint64_t *id);

#endif

/* lt_peers: the other gateways this one talks to (PROTOCOL.md 3.1, 3.3, 5.1).
 *
 * Outgoing links: one DEALER per peer member this gateway asks (feeds,
 * lookups), opened on first use towards the member's first listed endpoint,
 * greeted with Hello until the peer answers and then every few seconds
 * (which is how a peer learns that our directory is older than its own),
 * and moved to the member's next endpoint when it stops answering.
 * Incoming peers: the members seen saying Hello on the gateway's peer
 * ROUTER, with their routing ids. Directory gossip: Hello and
 * DirectoryOffer are built here; a peer whose Hello shows an older directory
 * is offered ours, and after an adoption every such peer is offered the new
 * one. Adopting a directory stays with the gateway (lt_gateway_adopt): it
 * rebinds the peer ROUTER and tells every module. */
#ifndef LT_PEERS_H
#define LT_PEERS_H

#include "lienthong.pb-c.h"
#include "lt_gwctx.h"
#include "lt_sock.h"
#include "lt_wire.h"

typedef struct _lt_peers_t lt_peers_t;

/* Links are opened in zmq_ctx with the socket options so, towards the
 * endpoints and keys of ctx->dir; Hello announces ctx->cfg->member and the
 * version of ctx->dir. ctx must outlive the object. NULL out of memory. */
lt_peers_t *lt_peers_new(const lt_gwctx_t *ctx, void *zmq_ctx, const lt_sock_opts_t *so);
/* Closes every link. */
void lt_peers_destroy(lt_peers_t **self_p);

/* ---- outgoing links ---- */

/* The DEALER to member, opening the link on first use; NULL while the
 * member is unknown, not active, lists no endpoint, or cannot be reached,
 * or when LT_PEERS_MAX_LINKS links are open to others; each is logged.
 * An open link to a member the directory no longer lists as active is
 * closed here (PROTOCOL.md 5.4). */
void *lt_peers_link(lt_peers_t *self, const char *member);
/* Moves the link to member on to its next listed endpoint (Lazy Pirate,
 * PROTOCOL.md 7.4). A member with a single endpoint keeps its connection:
 * reconnecting is libzmq's job. */
void lt_peers_rotate(lt_peers_t *self, const char *member);
/* Whether the link to member is connected, its handshake done and its
 * connection open, even when its send queue is full (PROTOCOL.md 7.4): 1,
 * or 0 (*heard_ms: unix ms its peer last answered a Hello on it, 0 when it
 * never did), or -1 when there is no link to member. */
int lt_peers_link_up(lt_peers_t *self, const char *member, int64_t *heard_ms);
/* Uses sock, a DEALER already connected to member (for instance one end of
 * an inproc pair in a test harness), as the link to member; the object
 * closes it when destroyed. Such a link is never rotated: its endpoint is
 * not one of the directory's. Returns 0, or -1 when member has a link or
 * the table is full. */
int lt_peers_attach(lt_peers_t *self, const char *member, void *sock);
/* Says Hello again on links due for it; a link to a member listing two
 * transport keys that stays unconnected tries the other key (5.5). */
void lt_peers_tick(lt_peers_t *self);
/* After an adoption: links to members the directory no longer lists as
 * active are closed, each with a line naming the member and its status;
 * links expecting a transport key the directory no longer lists for their
 * member reconnect with its current key, and links to an endpoint it no
 * longer lists reconnect to the member's first endpoint (5.4). What the feeds and lookups
 * had on a closed link is theirs to end (lt_feed_dir_changed,
 * lt_query_dir_changed). */
void lt_peers_dir_changed(lt_peers_t *self);
/* After this gateway switched to its next keys (5.5): every link
 * reconnects with them; requests in flight are resent by their timers. */
void lt_peers_relink(lt_peers_t *self);

/* The links, for the poll loop: index 0 .. lt_peers_links() - 1. A link
 * closed because its member is no longer active leaves the table and the
 * links after it move down one index; a rotated link keeps its index with
 * a new socket. Either way the socket at an index changes, which is what
 * the poll loop compares before reading it. */
size_t lt_peers_links(const lt_peers_t *self);
void *lt_peers_link_socket(const lt_peers_t *self, size_t i);
const char *lt_peers_link_member(const lt_peers_t *self, size_t i);
/* The peer at the far end of link i answered our Hello. One showing an
 * older directory is offered ours, within the limit of
 * lt_peers_on_hello. */
void lt_peers_on_link_hello(lt_peers_t *self, size_t i, const Lienthong__Hello *h);
/* The peer at the far end of link i sent a DirectoryRequest (PROTOCOL.md
 * 4.3 allows it both ways): answered on the link as on the ROUTER, with an
 * offer when ours is newer, within the same limit. */
void lt_peers_on_link_dir_request(lt_peers_t *self, size_t i, const Lienthong__DirectoryRequest *r);

/* ---- incoming peers, on the gateway's peer ROUTER ---- */

/* A Hello from in->user_id: remembered, answered, offered our directory
 * when the peer's is older, at most once a version per member and
 * LT_DIR_OFFER_INTERVAL_MS (PROTOCOL.md 5.1). */
void lt_peers_on_hello(lt_peers_t *self, void *router, const lt_wire_in_t *in,
                       const Lienthong__Hello *h);
/* A DirectoryRequest: answered with an offer when ours is newer, within
 * the same limit. */
void lt_peers_on_dir_request(lt_peers_t *self, void *router, const lt_wire_in_t *in,
                             const Lienthong__DirectoryRequest *r);
/* Sends our Hello (e.g. to tell a peer that we adopted what it offered).
 * Returns 0, or -1 with zmq_errno(). */
int lt_peers_hello(lt_peers_t *self, void *sock, const uint8_t *rid, size_t rid_len);
/* An incoming peer silent for LT_PEERS_INBOUND_IDLE_INTERVALS heartbeat
 * intervals is forgotten at lt_peers_tick, as if it never said Hello.
 * The ROUTER was rebound: every incoming peer is gone until it says Hello. */
void lt_peers_forget_inbound(lt_peers_t *self);

/* ---- gossip ---- */

/* After adopting a directory: offers it to every greeted link and incoming
 * peer whose last Hello showed an older one (router may be NULL). Not
 * limited, but each offer counts as the member's for the limit above. */
void lt_peers_offer_all(lt_peers_t *self, void *router);

/* ---- status ---- */

/* Fills r->peers_connected (greeted links and incoming peers not lost,
 * each member once) and r->peers (every member with a link or seen
 * incoming, connected or lost, with since when). Free with
 * lt_peers_status_free. Returns 0, or -1 out of memory. */
int lt_peers_status(const lt_peers_t *self, Lienthong__StatusReply *r);
void lt_peers_status_free(Lienthong__StatusReply *r);
/* Whether member is connected: 1 (*since_ms: unix ms since when), 0 when it
 * was and is lost (*since_ms: when last heard), -1 when never seen. A peer
 * is lost after the heartbeat timeout without Hello (PROTOCOL.md 3.3). */
int lt_peers_member_state(const lt_peers_t *self, const char *member, int64_t *since_ms);

#endif

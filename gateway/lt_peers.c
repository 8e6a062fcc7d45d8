/* lt_peers: links to peer members, incoming peers and directory gossip. */
#include "lt_peers.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_gwstats.h"
#include "lt_log.h"
#include "lt_skew.h"
#include "lt_sockmon.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define HELLO_RETRY_MS 2000
/* A greeted link says Hello again every heartbeat interval (heartbeat_ms):
 * it is how a peer learns that our directory is older than its own, even
 * after it rebound its socket, and how it knows we are alive. A peer that
 * has not answered (or said) Hello for the heartbeat timeout, five
 * intervals (PROTOCOL.md 3.3), is lost; the first Hello after that is a
 * reconnection. Logged once per change. */
#define LOST_INTERVALS 5
/* A link that has not been connected for this long to a member listing two
 * transport keys tries the other one: the peer switched keys (5.5). */
#define KEY_FLIP_MS 1000
/* libzmq 4.3.4 gives a connection up for good when its handshake fails
 * other than by the network (a protocol error: the peer's ZAP handler
 * refused our key, or it speaks otherwise): the socket never dials again.
 * The link is then reopened here, after LINK_RETRY_MS, doubling up to
 * LINK_RETRY_MAX_MS while it is refused, so that a member reinstated or
 * given our keys by the peer's directory is reached again
 * (PROTOCOL.md 5.4; docs/operations.md, "Adding a member"). */
#define LINK_RETRY_MS     1000
#define LINK_RETRY_MAX_MS 60000

/* The last directory offer made to a member, for the limit on answers to
 * its asks (5.1). */
typedef struct {
    uint64_t version; /* directory version offered, 0: none */
    int64_t at;       /* monotonic ms of that offer */
} offered_t;

/* An outgoing connection to one peer member. */
typedef struct {
    char member[LT_ID_MAX];
    void *sock;
    int greeted;           /* the peer answered our Hello */
    uint64_t peer_version; /* its directory version */
    int64_t hello_at;      /* monotonic ms of the last Hello sent */
    int64_t heard_at;      /* monotonic ms of the last Hello answered, or the link's start */
    int64_t up_since;      /* unix ms of the Hello that greeted it, 0 while not greeted */
    int unreachable;       /* logged as not answering; cleared by a Hello */
    size_t endpoint;       /* index into the member's endpoints */
    char *url;             /* the endpoint the socket connects to; NULL when attached */
    int attached;          /* given by lt_peers_attach: never rotated */
    uint8_t server_key[LT_KEY_BYTES]; /* the member's transport key the socket expects */
    int64_t opened_at;                /* monotonic ms the socket was made */
    int64_t down_since;               /* monotonic ms since it is not connected, 0 while it is */
    void *mon;                        /* the socket's handshake monitor (lt_sockmon), NULL: none */
    int linked;                       /* its connection is made (s_link_linked), until it ends */
    int handshake;     /* last handshake failure since it was greeted or made, or 0 */
    int64_t retry_at;  /* monotonic ms to reopen it after a refused handshake, 0: none */
    int64_t retry_ms;  /* the back-off before that reopen, 0 once greeted */
    offered_t offered; /* the member's offer record while it has no inbound entry */
} link_t;

/* The offers made in the current interval to one asker without an
 * inbound entry (5.1). */
typedef struct {
    char member[LT_ID_MAX]; /* its ZAP User-Id, "" when none */
    unsigned offers;
} asked_t;

/* An incoming connection we have seen a Hello on. It also holds the last
 * offer made to its member, for the limit on answers to asks (5.1). */
typedef struct {
    char member[LT_ID_MAX];
    uint8_t rid[LT_RID_MAX];
    size_t rid_len;
    uint8_t prev_rid[LT_RID_MAX]; /* the connection its Hellos came on before */
    size_t prev_len;
    int64_t prev_since; /* up_since of that connection */
    int64_t twice_from; /* monotonic ms: the window the returns are counted in */
    int twice_n;        /* returns to the connection before, in that window */
    int64_t heard_at;   /* monotonic ms of its last Hello */
    int64_t up_since;   /* unix ms of the first Hello since it was (re)connected */
    uint64_t version;   /* directory version in its last Hello */
    int lost;           /* logged as lost; its next Hello is logged again */
    offered_t offered;  /* the last offer made to the member */
} inbound_t;

struct _lt_peers_t {
    const lt_gwctx_t *ctx;
    void *zmq_ctx;
    lt_sock_opts_t so;
    link_t links[LT_PEERS_MAX_LINKS];
    size_t n_links;
    inbound_t inbound[LT_PEERS_MAX_INBOUND];
    size_t n_inbound;
    lt_stats_series_t *st_connected; /* lienthong_peers_connected */
    int changed;                     /* a link or incoming peer came or went since the count */
    lt_stats_series_t *st_offers_dropped;
    lt_skew_t *skew; /* peers' clock offsets, from their Hellos */
    /* The DirectoryOffer of the directory in use, packed once per version:
     * every offer sends a copy that shares its buffer. The version alone
     * names the bytes: the directory in use changes only by an adoption
     * (an offer, or the file reread on SIGHUP), of a strictly greater
     * version; the same version with other bytes is refused (5.3). */
    zmq_msg_t offer;
    uint64_t offer_version; /* 0: none packed */
    /* Offers answering askers without an inbound entry (5.1), counted per
     * LT_DIR_OFFER_INTERVAL_MS from unlisted_since. */
    int64_t unlisted_since;
    size_t unlisted;
    /* Those offers by asker in the interval, for LT_DIR_OFFER_UNLISTED_EACH.
     * Bounded by the share: an asker is listed only when it is offered the
     * directory, and the interval holds at most LT_DIR_OFFER_UNLISTED_MAX
     * offers, so this many entries hold every asker offered one; askers
     * under ever new names cannot make it grow (they spend the share). */
    asked_t asked[LT_DIR_OFFER_UNLISTED_MAX];
    size_t n_asked;
};

lt_peers_t *lt_peers_new(const lt_gwctx_t *ctx, void *zmq_ctx, const lt_sock_opts_t *so)
{
    lt_peers_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ctx = ctx;
    self->zmq_ctx = zmq_ctx;
    self->so = *so;
    static const lt_stats_def_t connected = {
        .name = "lienthong_peers_connected",
        .help = "Members connected: links greeted by their peer, and peers that said Hello here",
        .kind = LT_STATS_GAUGE};
    static const lt_stats_def_t dropped = {
        .name = "lienthong_directory_offers_dropped",
        .help = "Directory offers not sent: the member asked again for a version offered to it "
                "less than a second ago, or askers not seen here had their share for the second, "
                "together (64) or each its own (4)",
        .kind = LT_STATS_COUNTER};
    if (!(self->st_connected = lt_gwstats_series(ctx->stats, &connected, NULL)) ||
        !(self->st_offers_dropped = lt_gwstats_series(ctx->stats, &dropped, NULL)) ||
        !(self->skew = lt_skew_new(ctx->stats))) {
        free(self);
        return NULL;
    }
    zmq_msg_init(&self->offer);
    return self;
}

void lt_peers_destroy(lt_peers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_peers_t *self = *self_p;
    for (size_t i = 0; i < self->n_links; i++) {
        lt_sockmon_unwatch(self->links[i].sock, &self->links[i].mon);
        zmq_close(self->links[i].sock);
        free(self->links[i].url);
    }
    zmq_msg_close(&self->offer);
    lt_skew_destroy(&self->skew);
    free(self);
    *self_p = NULL;
}

/* ---- messages this module owns ---------------------------------------------- */

int lt_peers_hello(lt_peers_t *self, void *sock, const uint8_t *rid, size_t rid_len)
{
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.member = (char *)self->ctx->cfg->member;
    h.directory_version = lt_dir_version(self->ctx->dir);
    h.software = "lienthong " LT_VERSION;
    /* For the peer's estimate of our clock (5.1); 0 would read as absent. */
    int64_t now = lt_clock_now_ms();
    h.sent_at_ms = now > 0 ? (uint64_t)now : 1;
    return lt_wire_send_body(sock, rid, rid_len, LIENTHONG__ENVELOPE__BODY_HELLO, &h);
}

/* Packs the offer of the directory in use when it changed. */
static int s_pack_offer(lt_peers_t *self)
{
    uint64_t version = lt_dir_version(self->ctx->dir);
    Lienthong__DirectoryOffer o = LIENTHONG__DIRECTORY_OFFER__INIT;
    if (version == self->offer_version)
        return 0;
    o.signed_directory.data =
        (uint8_t *)lt_dir_signed_bytes(self->ctx->dir, &o.signed_directory.len);
    zmq_msg_t msg;
    if (lt_wire_pack_body(&msg, LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER, &o) != 0) {
        lt_warn("peer", "cannot pack the offer of directory v%llu: %s", (unsigned long long)version,
                strerror(errno));
        return -1;
    }
    zmq_msg_close(&self->offer);
    self->offer = msg; /* a zmq_msg_t moves by value until it is used */
    self->offer_version = version;
    return 0;
}

static int s_send_offer(lt_peers_t *self, void *sock, const uint8_t *rid, size_t rid_len)
{
    if (s_pack_offer(self) != 0)
        return -1;
    return lt_wire_send_copy(sock, rid, rid_len, &self->offer);
}

/* The inbound entry of member, or NULL. */
static inbound_t *s_inbound_find(lt_peers_t *self, const char *member)
{
    for (size_t i = 0; i < self->n_inbound; i++)
        if (strcmp(self->inbound[i].member, member) == 0)
            return &self->inbound[i];
    return NULL;
}

/* Offers the directory in use over sock to a member whose offer record is
 * rec (NULL: none); a sent offer is recorded in rec, so that the member's
 * asks within LT_DIR_OFFER_INTERVAL_MS are dropped (5.1). 0 or -1. */
static int s_offer_to(lt_peers_t *self, void *sock, const uint8_t *rid, size_t rid_len,
                      offered_t *rec)
{
    if (s_send_offer(self, sock, rid, rid_len) != 0)
        return -1;
    if (rec) {
        rec->version = self->offer_version;
        rec->at = lt_clock_mono_ms();
    }
    return 0;
}

/* The offers made to member in the unlisted askers' interval: its entry,
 * or NULL when it has none (none yet, or the table is full). */
static asked_t *s_asked_find(lt_peers_t *self, const char *member)
{
    for (size_t i = 0; i < self->n_asked; i++)
        if (strcmp(self->asked[i].member, member) == 0)
            return &self->asked[i];
    return NULL;
}

/* 1 when member, an asker without a record, has had its offers of the
 * interval: the shared LT_DIR_OFFER_UNLISTED_MAX, or its own
 * LT_DIR_OFFER_UNLISTED_EACH. */
static int s_unlisted_spent(lt_peers_t *self, const char *member, int64_t now)
{
    if (now - self->unlisted_since >= LT_DIR_OFFER_INTERVAL_MS) {
        self->unlisted_since = now;
        self->unlisted = 0;
        self->n_asked = 0;
    }
    const asked_t *a = s_asked_find(self, member);
    return self->unlisted >= LT_DIR_OFFER_UNLISTED_MAX ||
           (a && a->offers >= LT_DIR_OFFER_UNLISTED_EACH);
}

/* An offer sent to member, an asker without a record: counted in the
 * share and in its own. Only after s_offer_too_soon found the share not
 * spent, so the table has room: an asker is listed only at an offer of
 * the share (n_asked <= unlisted, both reset together), and the share
 * holds as many offers as the table entries. */
static void s_unlisted_offered(lt_peers_t *self, const char *member)
{
    assert(self->n_asked <= self->unlisted && self->unlisted < LT_DIR_OFFER_UNLISTED_MAX);
    asked_t *a = s_asked_find(self, member);
    self->unlisted++;
    if (!a) {
        a = &self->asked[self->n_asked++];
        snprintf(a->member, sizeof a->member, "%s", member);
        a->offers = 0;
    }
    a->offers++;
}

/* 1 when an ask from member, whose offer record is rec, must go
 * unanswered: it was offered the directory in use less than
 * LT_DIR_OFFER_INTERVAL_MS ago. An asker without a record (rec NULL: no
 * Hello here since the ROUTER was bound, an empty User-Id, or the table
 * full) shares LT_DIR_OFFER_UNLISTED_MAX offers per interval with the
 * others, so that asking under many names cannot fill the send queue
 * either, and has at most LT_DIR_OFFER_UNLISTED_EACH of them, so that one
 * asker cannot take the others' share. Drops are counted and logged at
 * debug level. */
static int s_offer_too_soon(lt_peers_t *self, const offered_t *rec, const char *member)
{
    uint64_t version = lt_dir_version(self->ctx->dir);
    int64_t now = lt_clock_mono_ms();
    if (rec ? rec->version != version || now - rec->at >= LT_DIR_OFFER_INTERVAL_MS
            : !s_unlisted_spent(self, member, now))
        return 0;
    lt_stats_inc(self->st_offers_dropped);
    lt_debug("peer", "not offering directory v%llu to %s again within %d ms",
             (unsigned long long)version, rec ? member : "askers not seen here",
             LT_DIR_OFFER_INTERVAL_MS);
    return 1;
}

/* Answers the ask of p's member (NULL: an asker without an inbound entry),
 * which holds have_version, on router (5.1). */
static void s_answer_ask(lt_peers_t *self, void *router, const lt_wire_in_t *in, inbound_t *p,
                         uint64_t have_version)
{
    offered_t *rec = p ? &p->offered : NULL;
    if (have_version >= lt_dir_version(self->ctx->dir) ||
        s_offer_too_soon(self, rec, p ? p->member : in->user_id) ||
        s_offer_to(self, router, in->rid, in->rid_len, rec) != 0)
        return;
    if (!p)
        s_unlisted_offered(self, in->user_id);
}

/* ---- outgoing links ------------------------------------------------------------ */

static link_t *s_link_find(lt_peers_t *self, const char *member)
{
    for (size_t i = 0; i < self->n_links; i++)
        if (strcmp(self->links[i].member, member) == 0)
            return &self->links[i];
    return NULL;
}

/* The offer record of l's member: its inbound entry's, the one its asks
 * on the ROUTER are limited by, or the link's own while it has none (it
 * never said Hello here, or the table is full): a Hello on our link
 * comes from that member alone, so it needs no shared budget. */
static offered_t *s_link_offered(lt_peers_t *self, link_t *l)
{
    inbound_t *p = s_inbound_find(self, l->member);
    return p ? &p->offered : &l->offered;
}

/* The directory entry of a member we may connect to, or NULL (logged). */
static const Lienthong__Member *s_reachable(lt_peers_t *self, const char *member)
{
    const Lienthong__Member *m = lt_dir_member(self->ctx->dir, member);
    if (m && m->status == LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE && m->n_endpoints > 0)
        return m;
    lt_warn("link", "cannot connect to '%s': %s", member,
            !m                    ? "not in the directory"
            : m->n_endpoints == 0 ? "no endpoint listed"
                                  : lt_dir_status_name(m->status));
    return NULL;
}

/* A new entry in the table for member's link over sock. */
static link_t *s_link_add(lt_peers_t *self, const char *member, void *sock)
{
    link_t *l = &self->links[self->n_links++];
    memset(l, 0, sizeof *l);
    snprintf(l->member, sizeof l->member, "%s", member);
    l->sock = sock;
    l->hello_at = -HELLO_RETRY_MS;
    l->heard_at = lt_clock_mono_ms();
    l->opened_at = l->heard_at;
    return l;
}

/* Closes link l and takes it out of the table when the directory does not
 * list its member as active: nothing more may go to it or be taken from it
 * (PROTOCOL.md 5.4). The links after it move down one index; the poll loop
 * sees their sockets change. Returns 1 when it closed l. */
static int s_link_drop(lt_peers_t *self, link_t *l)
{
    char why[LT_ID_MAX + 64];
    if (!lt_dir_inactive_say(self->ctx->dir, l->member, why, sizeof why))
        return 0;
    lt_warn("link", "closing the link to %s: %s", l->member, why);
    lt_sockmon_unwatch(l->sock, &l->mon);
    zmq_close(l->sock);
    free(l->url);
    self->changed |= l->greeted;
    size_t i = (size_t)(l - self->links);
    memmove(l, l + 1, (self->n_links - i - 1) * sizeof *l);
    self->n_links--;
    return 1;
}

/* Opens (or returns) the link to member; NULL when it cannot be opened.
 * An open link is checked too: the directory may have changed since. */
static link_t *s_link_open(lt_peers_t *self, const char *member)
{
    link_t *l = s_link_find(self, member);
    if (l)
        return s_link_drop(self, l) ? NULL : l;
    const Lienthong__Member *m = s_reachable(self, member);
    if (!m)
        return NULL;
    /* The callers say only that the link did not open: why is said here. */
    if (self->n_links >= LT_PEERS_MAX_LINKS) {
        lt_error("link",
                 "cannot connect to '%s': all %d links this gateway may open are open, to other "
                 "members",
                 member, LT_PEERS_MAX_LINKS);
        return NULL;
    }
    char err[512];
    char *url = strdup(m->endpoints[0]);
    void *s = url ? lt_sock_client(self->zmq_ctx, self->ctx->keys, m->transport_key.data, url,
                                   &self->so, err, sizeof err)
                  : NULL;
    if (!s) {
        lt_error("link", "%s", url ? err : "out of memory opening a link");
        free(url);
        return NULL;
    }
    lt_info("link", "connecting to %s at %s", member, m->endpoints[0]);
    l = s_link_add(self, member, s);
    l->url = url;
    l->mon = lt_sockmon_watch(self->zmq_ctx, s);
    memcpy(l->server_key, m->transport_key.data, LT_KEY_BYTES);
    return l;
}

int lt_peers_attach(lt_peers_t *self, const char *member, void *sock)
{
    if (s_link_find(self, member) || self->n_links >= LT_PEERS_MAX_LINKS)
        return -1;
    s_link_add(self, member, sock)->attached = 1;
    return 0;
}

void *lt_peers_link(lt_peers_t *self, const char *member)
{
    link_t *l = s_link_open(self, member);
    return l ? l->sock : NULL;
}

/* Replaces l's socket by one towards endpoint `ep` of m expecting the
 * server key `key`, made with the keys this gateway holds now. 0 or -1. */
static int s_link_reopen(lt_peers_t *self, link_t *l, const Lienthong__Member *m, size_t ep,
                         const uint8_t *key)
{
    char err[512];
    char *url = strdup(m->endpoints[ep]);
    void *s =
        url ? lt_sock_client(self->zmq_ctx, self->ctx->keys, key, url, &self->so, err, sizeof err)
            : NULL;
    if (!s) {
        lt_warn("link", "%s", url ? err : "out of memory reopening a link");
        free(url);
        return -1;
    }
    lt_sockmon_unwatch(l->sock, &l->mon);
    zmq_close(l->sock);
    free(l->url);
    l->url = url;
    l->sock = s;
    l->mon = lt_sockmon_watch(self->zmq_ctx, s);
    l->handshake = 0;
    l->linked = 0;
    l->endpoint = ep;
    memcpy(l->server_key, key, LT_KEY_BYTES);
    l->opened_at = lt_clock_mono_ms();
    l->down_since = 0;
    l->retry_at = 0;
    l->hello_at = -HELLO_RETRY_MS;
    self->changed |= l->greeted;
    l->greeted = 0;
    l->up_since = 0;
    return 0;
}

static int s_link_flip_key(lt_peers_t *self, link_t *l, const Lienthong__Member *m);

void lt_peers_rotate(lt_peers_t *self, const char *member)
{
    link_t *l = s_link_find(self, member);
    const Lienthong__Member *m = lt_dir_member(self->ctx->dir, member);
    if (!l || l->attached || !m || m->n_endpoints == 0)
        return;
    /* Each waiting request asks on its own schedule, so a thousand of them
     * would reopen the link a thousand times a second and no handshake
     * would ever finish: a socket made less than KEY_FLIP_MS ago stays. */
    if (lt_clock_mono_ms() - l->opened_at < KEY_FLIP_MS)
        return;
    /* Not connected at all to a member in a key rotation: its other key
     * first (5.5); a connected link has the right key, so its endpoint. */
    if (l->down_since && s_link_flip_key(self, l, m) == 0)
        return;
    if (m->n_endpoints < 2)
        return;
    size_t next = (l->endpoint + 1) % m->n_endpoints;
    if (s_link_reopen(self, l, m, next, l->server_key) == 0) /* the key it expects */
        lt_info("link", "%s did not answer; trying its endpoint %s", member, m->endpoints[next]);
}

/* One line per change: a greeted peer that stops answering is lost (info);
 * one never answering says so once, with what to check (warn). */
/* The heartbeat interval, and the time after which a silent peer is lost. */
static int64_t s_refresh_ms(const lt_peers_t *self)
{
    return self->ctx->cfg->heartbeat_ms;
}

static int64_t s_lost_ms(const lt_peers_t *self)
{
    return (int64_t)self->ctx->cfg->heartbeat_ms * LOST_INTERVALS;
}

/* Wall-clock ms of a monotonic instant in the past. */
static int64_t s_wall(int64_t mono)
{
    return lt_clock_now_ms() - (lt_clock_mono_ms() - mono);
}

/* Why a link never answered, as far as its monitor tells. A handshake the
 * peer refused (its ZAP handler): its directory suspends or revokes our
 * member, or does not list our keys yet (PROTOCOL.md 5.4, 5.5). One it
 * broke off otherwise: it does not hold the transport key our directory gives
 * it, which happens when it rotated its keys while this gateway was down
 * and no newer directory can reach us over this link (PROTOCOL.md 5.5). */
static void s_link_unreachable(const link_t *l, const char *ep, int64_t lost_ms)
{
    if (l->handshake == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        lt_warn("link",
                "handshake with %s at %s failed: it refused this gateway's keys; this member "
                "may be suspended or revoked in the peer's directory, or the peer's directory "
                "may not list this gateway's keys yet; trying again at least every %d s "
                "(docs/operations.md, Rotating keys)",
                l->member, ep, LINK_RETRY_MAX_MS / 1000);
    else if (l->handshake)
        lt_warn("link",
                "handshake with %s at %s failed: the peer may have rotated its keys; "
                "install the newer directory (docs/operations.md, Rotating keys)",
                l->member, ep);
    else
        lt_warn("link",
                "no answer from %s at %s for %.1f s: check that its gateway runs, that "
                "the endpoint in the directory is right and that the port is open to this "
                "host (test with: lienthong ping)",
                l->member, ep, (double)lost_ms / 1000.0);
}

/* 1 when libzmq closed a link's connection for good after handshake event
 * hs (see LINK_RETRY_MS); a failure without detail (the network) it
 * retries on its own. */
static int s_given_up(int hs)
{
    return hs == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH || hs == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
}

/* Reads what link l's monitor saw since last asked: whether its connection
 * is made or ended, and a handshake libzmq gave up on, which starts the
 * back-off. Drained every tick, so that the monitor's pipe stays short, and
 * before an adoption judges the link, so that a connection that ended in
 * this turn of the loop is not taken as up. */
static void s_link_events(link_t *l, int64_t now)
{
    int hs = lt_sockmon_handshake(l->mon, &l->linked);
    if (hs)
        l->handshake = hs;
    if (s_given_up(hs) && !l->retry_at) {
        l->retry_ms = l->retry_ms ? l->retry_ms * 2 : LINK_RETRY_MS;
        if (l->retry_ms > LINK_RETRY_MAX_MS)
            l->retry_ms = LINK_RETRY_MAX_MS;
        l->retry_at = now + l->retry_ms;
    }
}

static void s_link_silence(lt_peers_t *self, link_t *l, int64_t now)
{
    s_link_events(l, now);
    int64_t lost_ms = s_lost_ms(self);
    if (now - l->heard_at < lost_ms)
        return;
    const Lienthong__Member *m = lt_dir_member(self->ctx->dir, l->member);
    const char *ep = m && l->endpoint < m->n_endpoints ? m->endpoints[l->endpoint] : "?";
    if (l->greeted) {
        l->greeted = 0;
        l->up_since = 0;
        self->changed = 1;
        lt_info("link", "peer %s lost: no answer at %s for %.1f s", l->member, ep,
                (double)lost_ms / 1000.0);
    } else if (!l->unreachable) {
        l->unreachable = 1;
        s_link_unreachable(l, ep, lost_ms);
    }
}

/* An incoming peer whose Hellos stopped is logged as lost, once; one
 * silent for LT_PEERS_INBOUND_IDLE_INTERVALS is taken out of the table, so
 * that the members heard lately find room (the entries after it move down
 * one index). */
static void s_inbound_tick(lt_peers_t *self, int64_t now)
{
    int64_t idle_ms = (int64_t)self->ctx->cfg->heartbeat_ms * LT_PEERS_INBOUND_IDLE_INTERVALS;
    for (size_t i = 0; i < self->n_inbound;) {
        inbound_t *p = &self->inbound[i];
        if (!p->lost && now - p->heard_at >= s_lost_ms(self)) {
            p->lost = 1;
            self->changed = 1;
            lt_info("peer", "peer %s lost: no Hello for %.1f s", p->member,
                    (double)s_lost_ms(self) / 1000.0);
        }
        if (now - p->heard_at < idle_ms) {
            i++;
            continue;
        }
        lt_debug("peer", "forgetting peer %s: no Hello for %.1f s", p->member,
                 (double)idle_ms / 1000.0);
        memmove(p, p + 1, (self->n_inbound - i - 1) * sizeof *p);
        self->n_inbound--;
    }
}

/* Members listed as connected in names (room for every link and incoming
 * peer): greeted links and incoming peers, each member once. Returns the
 * count. */
static size_t s_connected(const lt_peers_t *self, char **names);
static void s_link_keycheck(lt_peers_t *self, link_t *l, int64_t now);
static int s_link_linked(link_t *l);
static void s_link_retry(lt_peers_t *self, link_t *l, int64_t now);

void lt_peers_tick(lt_peers_t *self)
{
    int64_t now = lt_clock_mono_ms();
    s_inbound_tick(self, now);
    if (self->changed) {
        char *names[LT_PEERS_MAX_LINKS + LT_PEERS_MAX_INBOUND];
        lt_stats_set(self->st_connected, (int64_t)s_connected(self, names));
        self->changed = 0;
    }
    for (size_t i = 0; i < self->n_links; i++) {
        link_t *l = &self->links[i];
        s_link_silence(self, l, now);
        (void)s_link_linked(l);
        s_link_retry(self, l, now);
        s_link_keycheck(self, l, now);
        if (now - l->hello_at < (l->greeted ? s_refresh_ms(self) : HELLO_RETRY_MS))
            continue;
        /* With ZMQ_IMMEDIATE the send fails until the handshake is done;
         * then we try again on the next tick rather than after the full wait. */
        if (lt_peers_hello(self, l->sock, NULL, 0) == 0)
            l->hello_at = now;
        else if (zmq_errno() != EAGAIN)
            lt_warn("link", "hello to %s failed: %s", l->member, zmq_strerror(zmq_errno()));
    }
}

size_t lt_peers_links(const lt_peers_t *self)
{
    return self->n_links;
}

void *lt_peers_link_socket(const lt_peers_t *self, size_t i)
{
    return i < self->n_links ? self->links[i].sock : NULL;
}

const char *lt_peers_link_member(const lt_peers_t *self, size_t i)
{
    return i < self->n_links ? self->links[i].member : NULL;
}

/* A Hello or DirectoryRequest on link l showing an older directory is an
 * ask like those on the ROUTER, under the same per-member limit (5.1):
 * otherwise a peer could send them on this link to be sent offers without
 * end. */
static void s_link_answer_ask(lt_peers_t *self, link_t *l, uint64_t have_version)
{
    offered_t *rec = s_link_offered(self, l);
    if (have_version < lt_dir_version(self->ctx->dir) && !s_offer_too_soon(self, rec, l->member))
        (void)s_offer_to(self, l->sock, NULL, 0, rec);
}

void lt_peers_on_link_hello(lt_peers_t *self, size_t i, const Lienthong__Hello *h)
{
    if (i >= self->n_links)
        return;
    link_t *l = &self->links[i];
    lt_log(l->greeted ? LT_LOG_DEBUG : LT_LOG_INFO, "link", "greeted by %s (directory v%llu)",
           l->member, (unsigned long long)h->directory_version);
    self->changed |= !l->greeted;
    if (!l->greeted)
        l->up_since = lt_clock_now_ms();
    l->greeted = 1;
    l->linked = 1;
    l->unreachable = 0;
    l->handshake = 0;
    l->retry_ms = 0;
    l->heard_at = lt_clock_mono_ms();
    l->peer_version = h->directory_version;
    lt_skew_note(self->skew, l->member, h->sent_at_ms, lt_clock_now_ms(), lt_clock_mono_ms());
    s_link_answer_ask(self, l, h->directory_version);
}

void lt_peers_on_link_dir_request(lt_peers_t *self, size_t i, const Lienthong__DirectoryRequest *r)
{
    if (i < self->n_links)
        s_link_answer_ask(self, &self->links[i], r->have_version);
}

/* ---- incoming peers --------------------------------------------------------------- */

/* The member behind slot came back on the connection before the one it
 * took last. Once or twice is a link reopened or a `lienthong ping` with its
 * key that ended; Hellos alternating all the time are two gateways running
 * with one member key, said at most once a minute. */
static void s_inbound_twice(inbound_t *slot, const char *member)
{
    int64_t now = lt_clock_mono_ms();
    if (now - slot->twice_from >= LT_PEERS_TWICE_WINDOW_MS) {
        slot->twice_from = now;
        slot->twice_n = 0;
    }
    if (++slot->twice_n == LT_PEERS_TWICE_MIN)
        lt_warn("peer",
                "%s is connected twice: its Hellos alternate between two connections (%d "
                "times in %.0f s); are two gateways running with its member key?",
                member, LT_PEERS_TWICE_MIN, (double)(now - slot->twice_from) / 1000.0);
}

/* Takes the connection a Hello came on (in's routing id) as slot's own.
 * 1 when it is a reconnection: a routing id not seen before (the member's
 * gateway restarted, or its link reopened), though it came sooner than the
 * member could be marked lost. The connection before coming back is a
 * member connected twice: its up_since is put back, and nothing is news. */
static int s_inbound_moved(inbound_t *slot, const char *member, const lt_wire_in_t *in)
{
    if (slot->rid_len == in->rid_len && memcmp(slot->rid, in->rid, in->rid_len) == 0)
        return 0;
    int back = slot->prev_len == in->rid_len && memcmp(slot->prev_rid, in->rid, in->rid_len) == 0;
    int64_t since = slot->up_since;
    memcpy(slot->prev_rid, slot->rid, slot->rid_len);
    slot->prev_len = slot->rid_len;
    memcpy(slot->rid, in->rid, in->rid_len);
    slot->rid_len = in->rid_len;
    if (back) {
        s_inbound_twice(slot, member);
        slot->up_since = slot->prev_since;
    }
    slot->prev_since = since;
    return !back && slot->prev_len > 0;
}

/* Notes the Hello of an incoming peer; *news is 1 when that is worth a
 * line (first Hello, or the first after it was lost), 0 for a refresh;
 * *moved is 1 when it came on a connection not seen before (s_inbound_moved).
 * Returns its entry, NULL when the table is full. */
static inbound_t *s_inbound_note(lt_peers_t *self, const char *member, const lt_wire_in_t *in,
                                 uint64_t version, int *news, int *moved)
{
    inbound_t *slot = s_inbound_find(self, member);
    *news = 0;
    *moved = 0;
    if (!slot && self->n_inbound < LT_PEERS_MAX_INBOUND) {
        slot = &self->inbound[self->n_inbound++];
        memset(slot, 0, sizeof *slot);
        *news = 1;
        self->changed = 1;
    }
    if (!slot) {
        *news = 1;
        return NULL;
    }
    *moved = s_inbound_moved(slot, member, in);
    *news |= slot->lost | *moved;
    self->changed |= slot->lost;
    if (*news)
        slot->up_since = lt_clock_now_ms();
    slot->version = version;
    snprintf(slot->member, sizeof slot->member, "%s", member);
    slot->heard_at = lt_clock_mono_ms();
    slot->lost = 0;
    return slot;
}

void lt_peers_on_hello(lt_peers_t *self, void *router, const lt_wire_in_t *in,
                       const Lienthong__Hello *h)
{
    /* Peers repeat Hello every few seconds: only a (re)connection is news. */
    int news, moved;
    inbound_t *p = s_inbound_note(self, in->user_id, in, h->directory_version, &news, &moved);
    lt_log(news ? LT_LOG_INFO : LT_LOG_DEBUG, "peer", "hello from %s (directory v%llu, %s)",
           in->user_id, (unsigned long long)h->directory_version, h->software);
    /* Not from a connection's first Hello after another's: a ping with
     * the member's key from another host would set the member's offset
     * (the highest of the window) to that host's clock. */
    if (!moved)
        lt_skew_note(self->skew, in->user_id, h->sent_at_ms, lt_clock_now_ms(), lt_clock_mono_ms());
    (void)lt_peers_hello(self, router, in->rid, in->rid_len);
    /* Without a User-Id the entry is shared by every such asker: none. */
    s_answer_ask(self, router, in, in->user_id[0] ? p : NULL, h->directory_version);
}

void lt_peers_on_dir_request(lt_peers_t *self, void *router, const lt_wire_in_t *in,
                             const Lienthong__DirectoryRequest *r)
{
    inbound_t *p = in->user_id[0] ? s_inbound_find(self, in->user_id) : NULL;
    s_answer_ask(self, router, in, p, r->have_version);
}

void lt_peers_forget_inbound(lt_peers_t *self)
{
    self->changed |= self->n_inbound > 0;
    self->n_inbound = 0;
}

/* ---- gossip and status --------------------------------------------------------------- */

/* Not limited (5.1), but recorded: a member that asks within the interval
 * after is not sent a second copy, since this one is on its way. */
void lt_peers_offer_all(lt_peers_t *self, void *router)
{
    uint64_t version = lt_dir_version(self->ctx->dir);
    for (size_t i = 0; i < self->n_links; i++) {
        link_t *l = &self->links[i];
        if (l->greeted && l->peer_version < version)
            (void)s_offer_to(self, l->sock, NULL, 0, s_link_offered(self, l));
    }
    for (size_t i = 0; router && i < self->n_inbound; i++) {
        inbound_t *p = &self->inbound[i];
        if (p->version < version)
            (void)s_offer_to(self, router, p->rid, p->rid_len, &p->offered);
    }
}

/* 1 if member is among names[0..n). */
static int s_listed(char *const *names, size_t n, const char *member)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], member) == 0)
            return 1;
    return 0;
}

static size_t s_connected(const lt_peers_t *self, char **names)
{
    size_t n = 0;
    for (size_t i = 0; i < self->n_links; i++)
        if (self->links[i].greeted)
            names[n++] = (char *)self->links[i].member;
    for (size_t i = 0; i < self->n_inbound; i++)
        if (!self->inbound[i].lost && !s_listed(names, n, self->inbound[i].member))
            names[n++] = (char *)self->inbound[i].member;
    return n;
}

/* What is known of member, over its link and as an incoming peer: 1
 * connected (*since: since when), 0 known but lost (*since: last heard),
 * -1 never seen. *version: its directory version. */
static int s_member_state(const lt_peers_t *self, const char *member, int64_t *since,
                          uint64_t *version)
{
    int state = -1;
    *since = 0;
    *version = 0;
    const link_t *l = s_link_find((lt_peers_t *)self, member);
    if (l && l->greeted) {
        state = 1;
        *since = l->up_since;
        *version = l->peer_version;
    } else if (l && l->peer_version) {
        state = 0;
        *since = s_wall(l->heard_at);
        *version = l->peer_version;
    }
    for (size_t i = 0; i < self->n_inbound; i++) {
        const inbound_t *p = &self->inbound[i];
        if (strcmp(p->member, member) != 0)
            continue;
        if (!p->lost && (state < 1 || p->up_since < *since)) {
            *since = p->up_since; /* connected in either direction: the earlier */
            state = 1;
        } else if (p->lost && state < 1 && s_wall(p->heard_at) > *since) {
            *since = s_wall(p->heard_at); /* lost both ways: the later */
            state = 0;
        }
        if (p->version > *version)
            *version = p->version;
    }
    return state;
}

int lt_peers_member_state(const lt_peers_t *self, const char *member, int64_t *since_ms)
{
    uint64_t version;
    return s_member_state(self, member, since_ms, &version);
}

/* One PeerStatus per member with a link or an incoming connection. */
static int s_peer_list(const lt_peers_t *self, Lienthong__StatusReply *r)
{
    size_t cap = self->n_links + self->n_inbound;
    r->peers = calloc(cap + 1, sizeof *r->peers);
    if (!r->peers)
        return -1;
    for (size_t i = 0; i < cap; i++) {
        const char *member =
            i < self->n_links ? self->links[i].member : self->inbound[i - self->n_links].member;
        int seen = 0;
        for (size_t j = 0; j < r->n_peers && !seen; j++)
            seen = strcmp(r->peers[j]->member, member) == 0;
        Lienthong__PeerStatus *ps = seen ? NULL : calloc(1, sizeof *ps);
        if (seen)
            continue;
        if (!ps)
            return -1;
        lienthong__peer_status__init(ps);
        ps->member = (char *)member;
        ps->connected = s_member_state(self, member, &ps->since_ms, &ps->directory_version) == 1;
        ps->clock_offset_known = lt_skew_get(self->skew, member, &ps->clock_offset_ms);
        r->peers[r->n_peers++] = ps;
    }
    return 0;
}

int lt_peers_status(const lt_peers_t *self, Lienthong__StatusReply *r)
{
    char **peers = calloc(self->n_links + self->n_inbound + 1, sizeof *peers);
    if (!peers)
        return -1;
    r->peers_connected = peers;
    r->n_peers_connected = s_connected(self, peers);
    return s_peer_list(self, r);
}

void lt_peers_status_free(Lienthong__StatusReply *r)
{
    free(r->peers_connected);
    r->peers_connected = NULL;
    r->n_peers_connected = 0;
    for (size_t i = 0; i < r->n_peers; i++)
        free(r->peers[i]);
    free(r->peers);
    r->peers = NULL;
    r->n_peers = 0;
}

/* ---- key rotation (PROTOCOL.md 5.5) ------------------------------------------------ */

/* 1 if the link's socket can send now: with ZMQ_IMMEDIATE that means its
 * CURVE handshake completed, so the server key it expects is right. */
static int s_link_up(const link_t *l)
{
    int events = 0;
    size_t len = sizeof events;
    return zmq_getsockopt(l->sock, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLOUT);
}

/* 1 if link l's connection is made, though its send queue may be full:
 * it can send now, its peer answered a Hello, or its monitor saw the
 * handshake done, and none of them saw the connection end since. Only the
 * monitor sees the end: a link without one (lt_sockmon_watch failed) is
 * judged by its room to send, else one that could ever send would stay
 * connected after its peer went away, never trying the other key (5.5) nor
 * ending ERR_UNAVAILABLE (7.4). An attached link (tests) has no monitor
 * either: its connection, made by the test, stays once it could send. */
static int s_link_linked(link_t *l)
{
    if (!l->mon && !l->attached)
        return l->linked = s_link_up(l);
    /* Once linked, only the monitor's events or a reopen end it: no need
     * to ask the socket again at every tick and request. */
    if (!l->linked && s_link_up(l))
        l->linked = 1;
    return l->linked;
}

int lt_peers_link_up(lt_peers_t *self, const char *member, int64_t *heard_ms)
{
    link_t *l = s_link_find(self, member);
    *heard_ms = 0;
    if (!l)
        return -1;
    if (s_link_linked(l))
        return 1;
    /* heard_at is the link's start until its peer answers: peer_version
     * tells the two apart, as for the status (s_member_state). */
    *heard_ms = l->peer_version ? s_wall(l->heard_at) : 0;
    return 0;
}

/* Reconnects l expecting m's other transport key: the peer may have
 * switched to its next key, or back. -1 when m lists one key only, or the
 * socket is too young to judge. */
static int s_link_flip_key(lt_peers_t *self, link_t *l, const Lienthong__Member *m)
{
    const uint8_t *keys[2];
    if (lt_dir_transport_keys(m, keys) < 2 || l->endpoint >= m->n_endpoints ||
        lt_clock_mono_ms() - l->opened_at < KEY_FLIP_MS)
        return -1;
    const uint8_t *other = memcmp(l->server_key, keys[0], LT_KEY_BYTES) == 0 ? keys[1] : keys[0];
    if (s_link_reopen(self, l, m, l->endpoint, other) != 0)
        return -1;
    lt_info("link", "no connection to %s at %s; trying its %s transport key", l->member,
            m->endpoints[l->endpoint], other == keys[1] ? "next" : "current");
    return 0;
}

/* A link not connected for KEY_FLIP_MS to a member listing two transport
 * keys tries the other one (5.5). Judged by the connection, not by room to
 * send: a peer connected but slow to read fills the link's queue, and
 * reopening that link on a key the peer does not hold would throw away what
 * it queued (lookups, feed credits) and cut it off for a second or more. */
static void s_link_keycheck(lt_peers_t *self, link_t *l, int64_t now)
{
    if (l->attached)
        return;
    if (s_link_linked(l)) {
        l->down_since = 0;
        return;
    }
    if (!l->down_since)
        l->down_since = now;
    if (now - l->down_since < KEY_FLIP_MS)
        return;
    const Lienthong__Member *m = lt_dir_member(self->ctx->dir, l->member);
    if (m && m->status == LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE)
        (void)s_link_flip_key(self, l, m);
}

/* Reopens link l towards the endpoint and key it had, keeping what it
 * learnt of its handshakes: the back-off, and the failure its warning
 * names. 0 or -1. */
static int s_link_redial(lt_peers_t *self, link_t *l, const Lienthong__Member *m)
{
    int hs = l->handshake;
    size_t ep = l->endpoint < m->n_endpoints ? l->endpoint : 0;
    if (s_link_reopen(self, l, m, ep, l->server_key) != 0)
        return -1;
    l->handshake = hs;
    lt_debug("link", "reconnecting to %s at %s", l->member, m->endpoints[ep]);
    return 0;
}

/* A link libzmq gave up on is reopened when its back-off ran out. */
static void s_link_retry(lt_peers_t *self, link_t *l, int64_t now)
{
    if (l->attached || !l->retry_at || now < l->retry_at)
        return;
    l->retry_at = 0;
    const Lienthong__Member *m = lt_dir_member(self->ctx->dir, l->member);
    if (m && m->status == LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE && m->n_endpoints > 0)
        (void)s_link_redial(self, l, m);
}

/* The index of endpoint url in m's list; m->n_endpoints when not listed. */
static size_t s_endpoint_index(const Lienthong__Member *m, const char *url)
{
    size_t i = 0;
    while (i < m->n_endpoints && !(url && strcmp(m->endpoints[i], url) == 0))
        i++;
    return i;
}

/* Reconnects link l when the directory no longer lists what its socket was
 * made for: its member's transport key, or the endpoint it connects to (a
 * member that moved, PROTOCOL.md 5.4); then to the member's first
 * endpoint. An endpoint still listed is kept, at its index in the new list.
 * 1 when it reconnected l. */
static int s_link_recheck(lt_peers_t *self, link_t *l, const Lienthong__Member *m)
{
    const uint8_t *keys[2];
    size_t n = lt_dir_transport_keys(m, keys);
    int key_ok = (n > 0 && memcmp(l->server_key, keys[0], LT_KEY_BYTES) == 0) ||
                 (n > 1 && memcmp(l->server_key, keys[1], LT_KEY_BYTES) == 0);
    size_t ep = s_endpoint_index(m, l->url);
    int ep_ok = ep < m->n_endpoints;
    if (ep_ok)
        l->endpoint = ep;
    else
        ep = 0;
    if (key_ok && ep_ok)
        return 0;
    if (s_link_reopen(self, l, m, ep, key_ok ? l->server_key : keys[0]) != 0)
        return 0;
    lt_info("link", "the directory lists %s for %s; reconnecting to %s",
            !key_ok && !ep_ok ? "another transport key and endpoints"
            : !key_ok         ? "another transport key"
                              : "other endpoints",
            l->member, m->endpoints[ep]);
    return 1;
}

void lt_peers_dir_changed(lt_peers_t *self)
{
    lt_skew_dir_changed(self->skew, self->ctx->dir);
    for (size_t i = 0; i < self->n_links;) {
        link_t *l = &self->links[i];
        if (s_link_drop(self, l))
            continue; /* link i is now the next one */
        i++;
        const Lienthong__Member *m = lt_dir_member(self->ctx->dir, l->member);
        if (l->attached || m->n_endpoints == 0 || s_link_recheck(self, l, m))
            continue;
        /* A link that is down may be so because the peer refused this
         * gateway (libzmq then stops dialling): the new directory may be
         * the one that reinstated it, so it is dialled now, with the
         * back-off from the start. Down means not connected: one whose
         * queue is full (a peer slow to read) keeps its connection and
         * what it queued. */
        s_link_events(l, lt_clock_mono_ms());
        if (!l->greeted && !s_link_linked(l)) {
            l->retry_ms = 0;
            (void)s_link_redial(self, l, m);
        }
    }
}

void lt_peers_relink(lt_peers_t *self)
{
    for (size_t i = 0; i < self->n_links; i++) {
        link_t *l = &self->links[i];
        const Lienthong__Member *m = lt_dir_member(self->ctx->dir, l->member);
        if (l->attached || !m || m->n_endpoints == 0)
            continue;
        size_t ep = l->endpoint < m->n_endpoints ? l->endpoint : 0;
        if (s_link_reopen(self, l, m, ep, l->server_key) == 0)
            lt_info("link", "reconnecting to %s with this gateway's new keys", l->member);
    }
}

/* test_peers: CUnit suite for the directory offers of gateway/lt_peers
 * (PROTOCOL.md 5.1): a member that asks twice within a second is offered
 * the directory once; an offer after an adoption goes to the incoming
 * peers whose last Hello showed an older version, and counts as their
 * offer for that limit; askers without an inbound entry (no Hello, no
 * User-Id) share LT_DIR_OFFER_UNLISTED_MAX offers a second, of which one
 * asker has at most LT_DIR_OFFER_UNLISTED_EACH; Hellos on our
 * own link to a member are limited the same way; incoming peers silent
 * past LT_PEERS_INBOUND_IDLE_INTERVALS leave room for others. Links towards
 * CURVE servers on 127.0.0.1: an adoption reopens those whose connection is
 * down or whose key or endpoint the directory changed, and keeps the others;
 * a link without a socket monitor is judged by its room to send. The rest of
 * the links and the status have their tests in the integration suites. */
#include "unit_gw.h"
#include "lt_clock.h"
#include "lt_peers.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

static ug_t g;
static lt_peers_t *g_peers;

static int suite_init(void)
{
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    return ug_open(&g, "peers") == 0 && (g_peers = lt_peers_new(&g.ctx, g.zctx, &so)) ? 0 : -1;
}

/* The far end of a link attached to g_peers (test_link_hellos_limited). */
static void *g_link_peer;

static int suite_clean(void)
{
    lt_peers_destroy(&g_peers); /* closes the attached link's DEALER */
    if (g_link_peer)
        zmq_close(g_link_peer);
    ug_close(&g);
    return 0;
}

/* What the consumer's DEALER (routing id "consumer") is sent, as from
 * member: in for the peer layer. */
static lt_wire_in_t s_in(const char *member)
{
    lt_wire_in_t in = {.rid_len = 8};
    memcpy(in.rid, "consumer", 8);
    snprintf(in.user_id, sizeof in.user_id, "%s", member);
    return in;
}

static void s_hello(const char *member, uint64_t version)
{
    lt_wire_in_t in = s_in(member);
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.software = "unit";
    h.directory_version = version;
    lt_peers_on_hello(g_peers, g.router, &in, &h);
}

static void s_ask(const char *member)
{
    lt_wire_in_t in = s_in(member);
    Lienthong__DirectoryRequest r = LIENTHONG__DIRECTORY_REQUEST__INIT;
    lt_peers_on_dir_request(g_peers, g.router, &in, &r);
}

/* Offers the consumer received (the rest dropped), once 100 ms pass with
 * nothing more. */
static int s_offers(void)
{
    int n = 0;
    Lienthong__Envelope *env;
    while ((env = ug_recv_within(&g, 100)) != NULL) {
        n += env->body_case == LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER;
        lt_wire_free(&env);
    }
    return n;
}

static int64_t s_dropped(void)
{
    return ug_stat(g.ctx.stats, "lienthong_directory_offers_dropped", NULL, 0);
}

/* Past the interval of every offer made so far. */
static void s_next_interval(void)
{
    usleep((LT_DIR_OFFER_INTERVAL_MS + 50) * 1000);
}

static void test_one_offer_per_second(void)
{
    int64_t dropped = s_dropped();
    s_hello("VN/GOV/ONCE", 0);
    s_ask("VN/GOV/ONCE");
    s_hello("VN/GOV/ONCE", 0);
    CU_ASSERT_EQUAL(s_offers(), 1);
    CU_ASSERT_EQUAL(s_dropped() - dropped, 2);
    s_next_interval();
    s_ask("VN/GOV/ONCE");
    CU_ASSERT_EQUAL(s_offers(), 1);
}

/* When member's peer line in g_peers's status says it connected (unix
 * ms); -1 when it has none. */
static int64_t s_since(const char *member)
{
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    int64_t since = -1;
    CU_ASSERT_FATAL(lt_peers_status(g_peers, &r) == 0);
    for (size_t i = 0; i < r.n_peers; i++)
        if (strcmp(r.peers[i]->member, member) == 0)
            since = (int64_t)r.peers[i]->since_ms;
    lt_peers_status_free(&r);
    return since;
}

/* A Hello from member on the connection named rid (8 bytes). */
static void s_hello_on(const char *member, const char *rid)
{
    lt_wire_in_t in = s_in(member);
    memcpy(in.rid, rid, 8);
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.software = "unit";
    lt_peers_on_hello(g_peers, g.router, &in, &h);
}

/* member's clock offset in g_peers's status (ms); INT64_MIN when unknown. */
static int64_t s_offset(const char *member)
{
    Lienthong__StatusReply r = LIENTHONG__STATUS_REPLY__INIT;
    int64_t off = INT64_MIN;
    CU_ASSERT_FATAL(lt_peers_status(g_peers, &r) == 0);
    for (size_t i = 0; i < r.n_peers; i++)
        if (strcmp(r.peers[i]->member, member) == 0 && r.peers[i]->clock_offset_known)
            off = r.peers[i]->clock_offset_ms;
    lt_peers_status_free(&r);
    return off;
}

/* A Hello on a connection not seen before (a ping with the member's key,
 * from a host an hour ahead) is not taken for the member's clock; the
 * member's gateway's own Hellos are. */
static void test_ping_not_the_clock(void)
{
    lt_wire_in_t in = s_in("VN/GOV/CLOCK");
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.software = "unit";
    h.sent_at_ms = (uint64_t)lt_clock_now_ms();
    lt_peers_on_hello(g_peers, g.router, &in, &h);
    memcpy(in.rid, "pingping", 8);
    h.sent_at_ms = (uint64_t)lt_clock_now_ms() + 3600 * 1000;
    lt_peers_on_hello(g_peers, g.router, &in, &h);
    (void)s_offers();
    int64_t off = s_offset("VN/GOV/CLOCK");
    CU_ASSERT(off != INT64_MIN && off > -5000 && off < 5000);
}

/* A member whose gateway restarts comes back on a new connection before
 * it could be marked lost: its line's "connected since" moves to the new
 * connection; Hellos repeated on one connection leave it. */
static void test_reconnect_moves_since(void)
{
    s_hello_on("VN/GOV/RECONN", "consumer");
    int64_t first = s_since("VN/GOV/RECONN");
    CU_ASSERT(first > 0);
    usleep(20 * 1000);
    s_hello_on("VN/GOV/RECONN", "consumer");
    CU_ASSERT_EQUAL(s_since("VN/GOV/RECONN"), first);
    usleep(20 * 1000);
    s_hello_on("VN/GOV/RECONN", "restartd");
    CU_ASSERT(s_since("VN/GOV/RECONN") > first);
    (void)s_offers(); /* the offers to both connections */
}

/* Hellos that keep alternating between two connections are one member
 * connected twice, not a reconnection at each Hello: "connected since"
 * stays with the first connection and one warning says why; a single
 * return to the connection before (a late Hello of a link reopened, a
 * ping that ended) is not warned about. */
static void test_connected_twice(void)
{
    char path[300], out[8192];
    snprintf(path, sizeof path, "%s/twice", g.tmp);
    int saved = ut_capture(path);
    lt_log_set_level(LT_LOG_INFO);
    s_hello_on("VN/GOV/TWICE", "gateway1");
    int64_t first = s_since("VN/GOV/TWICE");
    usleep(20 * 1000);
    s_hello_on("VN/GOV/TWICE", "pingping");
    s_hello_on("VN/GOV/TWICE", "gateway1");
    int64_t after_ping = s_since("VN/GOV/TWICE");
    for (int i = 0; i < 10; i++)
        s_hello_on("VN/GOV/TWICE", i % 2 ? "gateway1" : "gateway2");
    int64_t alternating = s_since("VN/GOV/TWICE");
    lt_log_set_level(LT_LOG_ERROR);
    ut_captured(saved, path, out, sizeof out);
    close(saved);
    (void)s_offers();
    CU_ASSERT_EQUAL(after_ping, first);
    CU_ASSERT_EQUAL(alternating, first);
    CU_ASSERT_EQUAL(ut_lines(out, "is connected twice"), 1);
    /* gateway1's first Hello, the ping's, gateway2's first: three lines. */
    CU_ASSERT_EQUAL(ut_lines(out, "hello from VN/GOV/TWICE"), 3);
}

/* An adoption's offers go to the peers behind only; each counts as the
 * member's offer, so its ask right after gets no second copy. */
static void test_adoption_offers_recorded(void)
{
    uint64_t version = lt_dir_version(g.ctx.dir);
    lt_peers_forget_inbound(g_peers); /* the earlier tests' members */
    s_hello("VN/GOV/CURRENT", version);
    s_hello("VN/GOV/BEHIND", 0);
    CU_ASSERT_EQUAL(s_offers(), 1); /* to BEHIND's Hello */
    s_next_interval();
    lt_peers_offer_all(g_peers, g.router);
    CU_ASSERT_EQUAL(s_offers(), 1); /* to BEHIND, not to CURRENT */
    int64_t dropped = s_dropped();
    s_ask("VN/GOV/BEHIND");
    CU_ASSERT_EQUAL(s_offers(), 0);
    CU_ASSERT_EQUAL(s_dropped() - dropped, 1);
}

/* Asks under names never seen here, and without a User-Id: one share of
 * offers for all of them each interval, not one offer per name. */
static void test_unlisted_askers_bounded(void)
{
    const int asks = LT_DIR_OFFER_UNLISTED_MAX + 20;
    s_next_interval();
    int64_t dropped = s_dropped();
    for (int i = 0; i < asks; i++) {
        char member[LT_ID_MAX];
        /* One in four asks with no name at all (an empty User-Id). */
        if (i % 4)
            snprintf(member, sizeof member, "VN/ASK/N%d", i);
        else
            member[0] = '\0';
        s_ask(member);
    }
    CU_ASSERT_EQUAL(s_offers(), LT_DIR_OFFER_UNLISTED_MAX);
    CU_ASSERT_EQUAL(s_dropped() - dropped, asks - LT_DIR_OFFER_UNLISTED_MAX);
    /* A member with an entry keeps its own record meanwhile. */
    s_hello("VN/GOV/LISTED", 0);
    CU_ASSERT_EQUAL(s_offers(), 1);
    s_next_interval();
    s_ask("VN/ASK/N1");
    CU_ASSERT_EQUAL(s_offers(), 1);
}

/* One asker without an entry asking again and again within a second has
 * LT_DIR_OFFER_UNLISTED_EACH offers of the shared ones, its further asks
 * dropped and counted: a second asker without an entry (as after
 * lt_peers_forget_inbound on a rebind) is still offered the directory.
 * It took all LT_DIR_OFFER_UNLISTED_MAX, and the second got none. */
static void test_unlisted_asker_own_share(void)
{
    const int asks = LT_DIR_OFFER_UNLISTED_MAX + 20;
    lt_peers_forget_inbound(g_peers);
    s_next_interval();
    int64_t dropped = s_dropped();
    for (int i = 0; i < asks; i++)
        s_ask("VN/ASK/FLOOD");
    s_ask("VN/ASK/QUIET");
    CU_ASSERT_EQUAL(s_offers(), LT_DIR_OFFER_UNLISTED_EACH + 1);
    CU_ASSERT_EQUAL(s_dropped() - dropped, asks - LT_DIR_OFFER_UNLISTED_EACH);
    /* Its share comes back with the next interval. */
    s_next_interval();
    s_ask("VN/ASK/FLOOD");
    CU_ASSERT_EQUAL(s_offers(), 1);
}

/* A full inbound table: the next member gets no entry (it shares the
 * unlisted askers' offers) until the silent ones are forgotten, after
 * LT_PEERS_INBOUND_IDLE_INTERVALS heartbeat intervals; a member that said
 * Hello meanwhile keeps its entry. The waits are read on the clock, and
 * the one Hello kept is said just before the tick, so that a loaded
 * machine's late wake-ups make the silent ones only more silent and leave
 * the window of the one kept (1.2 s) to the few lines between. */
static void test_idle_inbound_forgotten(void)
{
    uint64_t version = lt_dir_version(g.ctx.dir);
    int64_t since;
    lt_peers_forget_inbound(g_peers);
    g.cfg.heartbeat_ms = 2; /* lost after 10 ms, forgotten after 1200 ms */
    int64_t idle_ms = 2 * LT_PEERS_INBOUND_IDLE_INTERVALS;
    for (int i = 0; i < LT_PEERS_MAX_INBOUND; i++) {
        char member[LT_ID_MAX];
        snprintf(member, sizeof member, "VN/FILL/N%d", i);
        s_hello(member, version);
    }
    int64_t filled = lt_clock_mono_ms(); /* every one heard by then */
    s_hello("VN/GOV/LATE", version);
    CU_ASSERT_EQUAL(lt_peers_member_state(g_peers, "VN/GOV/LATE", &since), -1);
    while (lt_clock_mono_ms() - filled < idle_ms)
        usleep(50 * 1000);
    s_hello("VN/FILL/N7", version);
    usleep(50 * 1000); /* past the 10 ms after which it is lost */
    lt_peers_tick(g_peers);
    CU_ASSERT_EQUAL(lt_peers_member_state(g_peers, "VN/FILL/N0", &since), -1);
    CU_ASSERT_EQUAL(lt_peers_member_state(g_peers, "VN/FILL/N7", &since), 0); /* lost, kept */
    s_hello("VN/GOV/LATE", version);
    CU_ASSERT_EQUAL(lt_peers_member_state(g_peers, "VN/GOV/LATE", &since), 1);
    (void)s_offers(); /* the Hellos answered */
    g.cfg.heartbeat_ms = 0;
    lt_peers_forget_inbound(g_peers);
}

/* Offers that arrived at the far end of the link, once 100 ms pass with
 * nothing more: routing id, then the envelope. */
static int s_link_offers(void)
{
    int n = 0;
    zmq_pollitem_t it = {g_link_peer, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, 100) > 0) {
        lt_wire_in_t in;
        if (lt_wire_recv(g_link_peer, 1, 0, &in) != 0) {
            lt_wire_in_close(&in);
            break;
        }
        Lienthong__ErrorCode code;
        char err[256];
        Lienthong__Envelope *env = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                                  1u << 20, &code, err, sizeof err);
        n += env && env->body_case == LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER;
        lt_wire_free(&env);
        lt_wire_in_close(&in);
    }
    return n;
}

/* Hellos showing an older directory on our own link to a member that has
 * no inbound entry: one offer a second, the rest dropped and counted. */
static void test_link_hellos_limited(void)
{
    const char *member = "VN/GOV/LINKED";
    void *dealer = zmq_socket(g.zctx, ZMQ_DEALER);
    CU_ASSERT_PTR_NOT_NULL_FATAL(dealer);
    CU_ASSERT_PTR_NOT_NULL_FATAL(g_link_peer = zmq_socket(g.zctx, ZMQ_ROUTER));
    CU_ASSERT_EQUAL_FATAL(zmq_bind(g_link_peer, "inproc://unit-link"), 0);
    CU_ASSERT_EQUAL_FATAL(zmq_connect(dealer, "inproc://unit-link"), 0);
    CU_ASSERT_EQUAL_FATAL(lt_peers_attach(g_peers, member, dealer), 0);
    size_t i = lt_peers_links(g_peers) - 1;
    CU_ASSERT_PTR_EQUAL_FATAL(lt_peers_link_socket(g_peers, i), dealer);
    s_next_interval();
    int64_t dropped = s_dropped();
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    h.member = (char *)member;
    h.software = "unit";
    for (int k = 0; k < 5; k++)
        lt_peers_on_link_hello(g_peers, i, &h);
    CU_ASSERT_EQUAL(s_link_offers(), 1);
    CU_ASSERT_EQUAL(s_dropped() - dropped, 4);
    s_next_interval();
    lt_peers_on_link_hello(g_peers, i, &h);
    CU_ASSERT_EQUAL(s_link_offers(), 1);
}

/* ---- links and their connections (PROTOCOL.md 5.4, 7.4) ---- */

/* A member of the directories written below: its id, keys and endpoint. */
typedef struct {
    const char *id;
    const lt_keys_t *keys;
    const char *endpoint;
} peer_t;

/* The directory (version 1) listing this gateway's member and peers[0..n),
 * signed by auth. NULL on failure (said on stderr). */
static lt_dir_t *s_peer_dir(const lt_keys_t *auth, const peer_t *peers, size_t n)
{
    char path[300], err[1024] = "", z[2][LT_Z85_KEY_LEN + 1];
    snprintf(path, sizeof path, "%s/peers.src", g.tmp);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    lt_keys_z85_encode(lt_keys_transport_public(g.ctx.keys), z[0]);
    lt_keys_z85_encode(lt_keys_signing_public(g.ctx.keys), z[1]);
    fprintf(f,
            "federation = \"VN\";\nversion = 1;\nmembers = (\n"
            "  { id = \"" OD_OWNER "\"; name = \"self\"; transport_key = \"%s\";"
            " signing_key = \"%s\"; }",
            z[0], z[1]);
    for (size_t i = 0; i < n; i++) {
        lt_keys_z85_encode(lt_keys_transport_public(peers[i].keys), z[0]);
        lt_keys_z85_encode(lt_keys_signing_public(peers[i].keys), z[1]);
        fprintf(f,
                ",\n  { id = \"%s\"; name = \"peer\"; endpoints = [\"%s\"];"
                " transport_key = \"%s\"; signing_key = \"%s\"; }",
                peers[i].id, peers[i].endpoint, z[0], z[1]);
    }
    fprintf(f, " );\n");
    lt_dir_t *d = fclose(f) == 0 ? od_directory_file(path, auth, err, sizeof err) : NULL;
    if (!d)
        fprintf(stderr, "peers directory: %s\n", err);
    return d;
}

/* A CURVE server ROUTER holding keys, bound to a free port of 127.0.0.1
 * (its endpoint into ep), and to a second one when ep2 is not NULL. With
 * no ZAP handler in the context, libzmq lets every client key in. */
static void *s_server(void *zctx, const lt_keys_t *keys, char *ep, char *ep2)
{
    int one = 1;
    size_t len = 64;
    void *s = zmq_socket(zctx, ZMQ_ROUTER);
    CU_ASSERT_FATAL(s != NULL);
    CU_ASSERT_FATAL(
        zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) == 0 &&
        zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, lt_keys_transport_secret(keys), LT_KEY_BYTES) == 0 &&
        zmq_bind(s, "tcp://127.0.0.1:*") == 0 &&
        zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) == 0);
    len = 64;
    CU_ASSERT_FATAL(!ep2 || (zmq_bind(s, "tcp://127.0.0.1:*") == 0 &&
                             zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep2, &len) == 0));
    return s;
}

/* Waits (5 s at most) until lt_peers_link_up says `want` of member's link. */
static int s_link_state(lt_peers_t *p, const char *member, int want)
{
    int64_t heard, until = lt_clock_mono_ms() + 5000;
    int up;
    while ((up = lt_peers_link_up(p, member, &heard)) != want && lt_clock_mono_ms() < until)
        usleep(10 * 1000);
    return up == want;
}

/* The socket of member's link in p, or NULL. */
static void *s_link_sock(lt_peers_t *p, const char *member)
{
    for (size_t i = 0; i < lt_peers_links(p); i++)
        if (strcmp(lt_peers_link_member(p, i), member) == 0)
            return lt_peers_link_socket(p, i);
    return NULL;
}

/* An adoption reopens a link by what its socket was made for and by its
 * connection: one connected (not yet greeted) towards a member listed
 * with the same key and endpoint keeps its socket, and what it queued;
 * one not connected is dialled again (the new directory may be the one
 * that lets it in); one whose member lists another transport key, or no
 * longer its endpoint, is reopened though connected. */
static void test_adoption_redials_by_connection(void)
{
    lt_keys_t *k[5], *auth = lt_keys_new(LT_KEYS_AUTHORITY);
    for (size_t i = 0; i < 5; i++)
        CU_ASSERT_FATAL((k[i] = lt_keys_new(LT_KEYS_MEMBER)) != NULL);
    CU_ASSERT_FATAL(auth != NULL);
    char up[64], moved[64], reloc[64], reloc2[64], down[64];
    void *srv[] = {s_server(g.zctx, k[0], up, NULL), s_server(g.zctx, k[1], moved, NULL),
                   s_server(g.zctx, k[2], reloc, reloc2)};
    /* A port bound but not listening: every connection to it is refused. */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CU_ASSERT_FATAL(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
                    getsockname(fd, (struct sockaddr *)&sa, &sl) == 0);
    snprintf(down, sizeof down, "tcp://127.0.0.1:%d", ntohs(sa.sin_port));
    peer_t v1[] = {{"VN/GOV/UP", k[0], up},
                   {"VN/GOV/MOVED", k[1], moved},
                   {"VN/GOV/RELOC", k[2], reloc},
                   {"VN/GOV/DOWN", k[3], down}};
    peer_t v2[] = {v1[0], {"VN/GOV/MOVED", k[4], moved}, {"VN/GOV/RELOC", k[2], reloc2}, v1[3]};
    lt_gwctx_t ctx = g.ctx;
    lt_dir_t *d1 = s_peer_dir(auth, v1, 4), *d2 = s_peer_dir(auth, v2, 4);
    CU_ASSERT_FATAL(d1 && d2);
    ctx.dir = d1;
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    lt_peers_t *p = lt_peers_new(&ctx, g.zctx, &so);
    CU_ASSERT_FATAL(p != NULL);
    void *was[4];
    for (size_t i = 0; i < 4; i++)
        CU_ASSERT_FATAL((was[i] = lt_peers_link(p, v1[i].id)) != NULL);
    for (size_t i = 0; i < 3; i++)
        CU_ASSERT(s_link_state(p, v1[i].id, 1));
    CU_ASSERT(s_link_state(p, "VN/GOV/DOWN", 0));

    ctx.dir = d2;
    lt_peers_dir_changed(p);
    CU_ASSERT_PTR_EQUAL(s_link_sock(p, "VN/GOV/UP"), was[0]);
    for (size_t i = 1; i < 4; i++) {
        void *now = s_link_sock(p, v1[i].id);
        if (!now || now == was[i])
            fprintf(stderr, "\n  the link to %s was not reopened\n", v1[i].id);
        CU_ASSERT(now && now != was[i]);
    }
    CU_ASSERT(s_link_state(p, "VN/GOV/RELOC", 1)); /* at its new endpoint */

    lt_peers_destroy(&p);
    for (size_t i = 0; i < 3; i++)
        zmq_close(srv[i]);
    close(fd);
    lt_dir_destroy(&d1);
    lt_dir_destroy(&d2);
    for (size_t i = 0; i < 5; i++)
        lt_keys_destroy(&k[i]);
    lt_keys_destroy(&auth);
}

/* A link whose connection ended in the turn of the loop before an adoption
 * (its monitor's event not yet read by a tick) is judged down, and dialled
 * again, not kept as connected on what the monitor said before. */
static void test_adoption_reads_monitor_first(void)
{
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER), *auth = lt_keys_new(LT_KEYS_AUTHORITY);
    CU_ASSERT_FATAL(k && auth);
    char ep[64];
    void *srv = s_server(g.zctx, k, ep, NULL);
    peer_t v1[] = {{"VN/GOV/GONE", k, ep}};
    lt_gwctx_t ctx = g.ctx;
    CU_ASSERT_FATAL((ctx.dir = s_peer_dir(auth, v1, 1)) != NULL);
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    lt_peers_t *p = lt_peers_new(&ctx, g.zctx, &so);
    CU_ASSERT_FATAL(p != NULL);
    void *was = lt_peers_link(p, v1[0].id);
    CU_ASSERT_FATAL(was != NULL);
    CU_ASSERT(s_link_state(p, v1[0].id, 1));
    zmq_close(srv); /* the peer goes away; no tick reads the monitor */
    /* The socket loses its room to send once libzmq has ended the
     * connection, which comes after the monitor's event is sent. */
    int events = ZMQ_POLLOUT;
    size_t len = sizeof events;
    for (int i = 0; i < 500 && (events & ZMQ_POLLOUT); i++) {
        usleep(10 * 1000);
        CU_ASSERT_FATAL(zmq_getsockopt(was, ZMQ_EVENTS, &events, &len) == 0);
    }
    CU_ASSERT(!(events & ZMQ_POLLOUT));
    usleep(100 * 1000);
    lt_peers_dir_changed(p);
    CU_ASSERT(s_link_sock(p, v1[0].id) != was);
    lt_peers_destroy(&p);
    lt_dir_destroy(&ctx.dir);
    lt_keys_destroy(&k);
    lt_keys_destroy(&auth);
}

/* A link whose monitor could not be set up (here: the context allows one
 * socket, the link's own) is judged by its room to send alone: connected
 * once its handshake is done, so that requests to its owner are sent and
 * do not end ERR_UNAVAILABLE, and not connected once its peer has gone, so
 * that they do (PROTOCOL.md 7.4) and its other key is tried (5.5). */
static void test_unwatched_link_state(void)
{
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER), *auth = lt_keys_new(LT_KEYS_AUTHORITY);
    void *zctx = zmq_ctx_new();
    CU_ASSERT_FATAL(k && auth && zctx && zmq_ctx_set(zctx, ZMQ_MAX_SOCKETS, 1) == 0);
    char ep[64], out[4096], path[300];
    void *srv = s_server(g.zctx, k, ep, NULL);
    peer_t v1[] = {{"VN/GOV/UNWATCHED", k, ep}};
    lt_gwctx_t ctx = g.ctx;
    CU_ASSERT_FATAL((ctx.dir = s_peer_dir(auth, v1, 1)) != NULL);
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    lt_peers_t *p = lt_peers_new(&ctx, zctx, &so);
    CU_ASSERT_FATAL(p != NULL);
    snprintf(path, sizeof path, "%s/stderr", g.tmp);
    int saved = ut_capture(path);
    lt_log_set_level(LT_LOG_WARN);
    void *sock = lt_peers_link(p, v1[0].id);
    lt_log_set_level(LT_LOG_ERROR);
    ut_captured(saved, path, out, sizeof out);
    close(saved);
    CU_ASSERT_FATAL(sock != NULL);
    CU_ASSERT(strstr(out, "cannot watch a link's handshakes") != NULL);

    CU_ASSERT(s_link_state(p, v1[0].id, 1));
    lt_peers_tick(p); /* as the poll loop does: nothing tells it otherwise */
    CU_ASSERT(s_link_state(p, v1[0].id, 1));
    zmq_close(srv); /* the peer goes away */
    CU_ASSERT(s_link_state(p, v1[0].id, 0));

    lt_peers_destroy(&p);
    zmq_ctx_term(zctx);
    lt_dir_destroy(&ctx.dir);
    lt_keys_destroy(&k);
    lt_keys_destroy(&auth);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a member asking twice within a second is offered once", test_one_offer_per_second},
        {"offers after an adoption: to peers behind, recorded", test_adoption_offers_recorded},
        {"askers without an entry share a bounded number of offers", test_unlisted_askers_bounded},
        {"one asker without an entry cannot take the others' share", test_unlisted_asker_own_share},
        {"incoming peers silent past the bound are forgotten", test_idle_inbound_forgotten},
        {"Hellos on our own link within a second get one offer", test_link_hellos_limited},
        {"an adoption redials a link by its connection, key and endpoint",
         test_adoption_redials_by_connection},
        {"a member on a new connection is connected since then", test_reconnect_moves_since},
        {"a member on two connections at once is connected twice", test_connected_twice},
        {"a ping's Hello is not the member's clock", test_ping_not_the_clock},
        {"an adoption reads a link's monitor before judging it", test_adoption_reads_monitor_first},
        {"a link without a monitor is judged by its room to send", test_unwatched_link_state},
        {NULL, NULL},
    };
    return ut_main("lt_peers", suite_init, suite_clean, tests);
}

/* test_peers: CUnit suite for the directory offers of gateway/lt_peers
 * (PROTOCOL.md 5.1): a member that asks twice within a second is offered
 * the directory once; an offer after an adoption goes to the incoming
 * peers whose last Hello showed an older version, and counts as their
 * offer for that limit; askers without an inbound entry (no Hello, no
 * User-Id) share LT_DIR_OFFER_UNLISTED_MAX offers a second, of which one
 * asker has at most LT_DIR_OFFER_UNLISTED_EACH; Hellos on our
 * own link to a member are limited the same way; incoming peers silent
 * past LT_PEERS_INBOUND_IDLE_INTERVALS leave room for others. The rest of the links
 * and the status have their tests in the integration suites. */
#include "unit_gw.h"
#include "lt_clock.h"
#include "lt_peers.h"

#include <stdio.h>
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

int main(void)
{
    static const ut_test_t tests[] = {
        {"a member asking twice within a second is offered once", test_one_offer_per_second},
        {"offers after an adoption: to peers behind, recorded", test_adoption_offers_recorded},
        {"askers without an entry share a bounded number of offers", test_unlisted_askers_bounded},
        {"one asker without an entry cannot take the others' share", test_unlisted_asker_own_share},
        {"incoming peers silent past the bound are forgotten", test_idle_inbound_forgotten},
        {"Hellos on our own link within a second get one offer", test_link_hellos_limited},
        {NULL, NULL},
    };
    return ut_main("lt_peers", suite_init, suite_clean, tests);
}

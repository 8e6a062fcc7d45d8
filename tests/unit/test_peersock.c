/* test_peersock: CUnit suite for gateway/lt_peersock, the dispatch of the
 * gateway's peer ROUTER (PROTOCOL.md 3.2, 4.4, 5.4, 5.6): a sender the
 * directory does not list is refused with ERR_UNKNOWN_MEMBER, whatever the
 * message says; a message of two frames or one that does not decode is
 * refused; a type not handled on the peer socket is ERR_UNSUPPORTED;
 * while the poll loop says no data goes to peers, a Subscribe is refused
 * with ERR_DIRECTORY naming its stream, a lookup (or a local request a
 * peer sends) echoing its request_id, and an Unsubscribe passes; a
 * DirectoryOffer goes to the poll loop's hook; every refusal is counted by
 * code. The modules behind it have their own suites; tests/fuzz/fuzz_owner.c
 * drives this dispatch with any input. Also lt_peers' link table: a link
 * that does not open because the table is full says so. */
#include "unit_gw.h"
#include "lt_feed.h"
#include "lt_gwstats.h"
#include "lt_peers.h"
#include "lt_peersock.h"
#include "lt_query.h"

static ug_t g;
static lt_feed_t *g_feed;
static lt_query_t *g_query;
static lt_gwstats_codes_t g_refused;
static lt_peersock_t g_ps;
static int g_no_data; /* what the no-data hook says */
static int g_offers;  /* offers the hook was given */

static int s_hook_no_data(void *arg, char *why, size_t len)
{
    (void)arg;
    if (g_no_data)
        snprintf(why, len, "no data, for the test");
    return g_no_data;
}

static void s_hook_offer(void *arg, const lt_wire_in_t *in, const Lienthong__DirectoryOffer *o)
{
    (void)arg;
    (void)o;
    if (strcmp(in->user_id, UG_CALLER) == 0)
        g_offers++;
}

static int suite_init(void)
{
    static const lt_stats_def_t def = {.name = "lienthong_test_peer_refused",
                                       .help = "refused",
                                       .kind = LT_STATS_COUNTER,
                                       .n_labels = 1,
                                       .labels = {"reason"},
                                       .max_series = 20};
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    if (ug_open(&g, "peersock") != 0 ||
        lt_gwstats_codes_init(&g_refused, g.ctx.stats, &def, NULL) != 0 ||
        !(g.ctx.peers = lt_peers_new(&g.ctx, g.zctx, &so)) || !(g_feed = lt_feed_new(&g.ctx)) ||
        !(g_query = lt_query_new(&g.ctx)) ||
        ug_publish(&g, "079201000001", "Nguyễn Văn An", lt_feed_advanced, g_feed) != 0)
        return -1;
    g_ps = (lt_peersock_t){
        .ctx = &g.ctx,
        .refused = &g_refused,
        .feed = g_feed,
        .query = g_query,
        .hooks = {.no_data = s_hook_no_data, .offer = s_hook_offer},
    };
    return 0;
}

static int suite_clean(void)
{
    lt_query_destroy(&g_query);
    lt_feed_destroy(&g_feed);
    lt_peers_destroy(&g.ctx.peers);
    ug_close(&g);
    return 0;
}

/* Sends the frames (n of them) from the consumer as member user and hands
 * them to the dispatch; returns its code. */
static int s_frames(const char *user, const void *const *bufs, const size_t *lens, int n)
{
    lt_wire_in_t in;
    for (int i = 0; i < n; i++)
        if (zmq_send(g.dealer, bufs[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) != (int)lens[i])
            return -2;
    if (lt_wire_recv(g.router, 1, 0, &in) != 0) {
        lt_wire_in_close(&in);
        return -2;
    }
    snprintf(in.user_id, sizeof in.user_id, "%s", user);
    int rc = lt_peersock_on_message(&g_ps, g.router, &in);
    lt_query_flush(g_query);
    lt_wire_in_close(&in);
    return rc;
}

/* The same for body, a message of the envelope field type c. */
static int s_body(const char *user, Lienthong__Envelope__BodyCase c, const void *body)
{
    zmq_msg_t m;
    if (lt_wire_pack_body(&m, c, body) != 0)
        return -2;
    const void *buf = zmq_msg_data(&m);
    size_t len = zmq_msg_size(&m);
    int rc = s_frames(user, &buf, &len, 1);
    zmq_msg_close(&m);
    return rc;
}

/* The next answer is an Error with code; its message, or NULL (free). */
static char *s_error(Lienthong__ErrorCode code, uint64_t request_id)
{
    Lienthong__Envelope *reply = ug_recv(&g);
    char *msg = NULL;
    CU_ASSERT(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR);
    if (reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
        CU_ASSERT_EQUAL(reply->error->code, code);
        CU_ASSERT_EQUAL(reply->error->request_id, request_id);
        msg = strdup(reply->error->message);
    }
    lt_wire_free(&reply);
    return msg;
}

/* 1 when the consumer received nothing more within 100 ms. */
static int s_quiet(void)
{
    zmq_pollitem_t it = {g.dealer, 0, ZMQ_POLLIN, 0};
    return zmq_poll(&it, 1, 100) == 0;
}

static Lienthong__Subscribe s_subscribe(void)
{
    Lienthong__Subscribe m = LIENTHONG__SUBSCRIBE__INIT;
    m.stream = OD_POP;
    m.from_seq = 1;
    m.credit = 10;
    return m;
}

/* By the connection's User-Id: a member the directory does not list. */
static void test_unknown_sender(void)
{
    Lienthong__Subscribe m = s_subscribe();
    uint64_t before = lt_gwstats_codes_get(&g_refused, LIENTHONG__ERROR_CODE__ERR_UNKNOWN_MEMBER);
    CU_ASSERT_EQUAL(s_body("VN/GOV/NOBODY", LIENTHONG__ENVELOPE__BODY_SUBSCRIBE, &m), -1);
    free(s_error(LIENTHONG__ERROR_CODE__ERR_UNKNOWN_MEMBER, 0));
    CU_ASSERT_EQUAL(lt_gwstats_codes_get(&g_refused, LIENTHONG__ERROR_CODE__ERR_UNKNOWN_MEMBER),
                    before + 1);
    CU_ASSERT(s_quiet()); /* no batch: not subscribed */
}

/* Two frames; bytes that do not decode; a type peers do not send. */
static void test_malformed_and_unsupported(void)
{
    const void *bufs[2] = {"a", "b"};
    size_t lens[2] = {1, 1};
    CU_ASSERT_EQUAL(s_frames(UG_CALLER, bufs, lens, 2), -1);
    free(s_error(LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0));
    bufs[0] = "\xff\xff";
    lens[0] = 2;
    CU_ASSERT_EQUAL(s_frames(UG_CALLER, bufs, lens, 1), -1);
    free(s_error(LIENTHONG__ERROR_CODE__ERR_MALFORMED, 0));
    Lienthong__StatusRequest q = LIENTHONG__STATUS_REQUEST__INIT;
    CU_ASSERT_EQUAL(s_body(UG_CALLER, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &q), -1);
    char *msg = s_error(LIENTHONG__ERROR_CODE__ERR_UNSUPPORTED, 0);
    CU_ASSERT(msg && strstr(msg, "not handled on the peer socket"));
    free(msg);
}

/* No data to peers: requests refused with the reason, endings pass. */
static void test_no_data(void)
{
    g_no_data = 1;
    Lienthong__Subscribe m = s_subscribe();
    CU_ASSERT_EQUAL(s_body(UG_CALLER, LIENTHONG__ENVELOPE__BODY_SUBSCRIBE, &m), -1);
    char *msg = s_error(LIENTHONG__ERROR_CODE__ERR_DIRECTORY, 0);
    CU_ASSERT(msg && strcmp(msg, OD_POP ": no data, for the test") == 0);
    free(msg);
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = 31;
    q.dataset = OD_POP;
    q.key = "079201000001";
    q.purpose = "KYC";
    CU_ASSERT_EQUAL(s_body(UG_CALLER, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q), -1);
    msg = s_error(LIENTHONG__ERROR_CODE__ERR_DIRECTORY, 31);
    CU_ASSERT(msg && strcmp(msg, "no data, for the test") == 0);
    free(msg);
    /* A local request a peer sends is refused the same, its id echoed. */
    Lienthong__ProfileRequest pr = LIENTHONG__PROFILE_REQUEST__INIT;
    pr.request_id = 32;
    pr.key = "079201000001";
    CU_ASSERT_EQUAL(s_body(UG_CALLER, LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST, &pr), -1);
    free(s_error(LIENTHONG__ERROR_CODE__ERR_DIRECTORY, 32));
    Lienthong__Unsubscribe u = LIENTHONG__UNSUBSCRIBE__INIT;
    u.stream = OD_POP;
    CU_ASSERT_EQUAL(s_body(UG_CALLER, LIENTHONG__ENVELOPE__BODY_UNSUBSCRIBE, &u), 0);
    /* Handed to the feed, which has no such subscription to end. */
    Lienthong__Envelope *reply = ug_recv(&g);
    CU_ASSERT(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_ERROR &&
              reply->error->code != LIENTHONG__ERROR_CODE__ERR_DIRECTORY);
    lt_wire_free(&reply);
    g_no_data = 0;
    /* Served again: the Subscribe is taken (records follow from the pump). */
    CU_ASSERT_EQUAL(s_body(UG_CALLER, LIENTHONG__ENVELOPE__BODY_SUBSCRIBE, &m), 0);
    CU_ASSERT(lt_feed_pump(g_feed, g.router, NULL) > 0);
    reply = ug_recv(&g);
    CU_ASSERT(reply && reply->body_case == LIENTHONG__ENVELOPE__BODY_BATCH);
    lt_wire_free(&reply);
    lt_feed_drop_peers(g_feed);
    while ((reply = ug_recv(&g)))
        lt_wire_free(&reply);
}

/* A DirectoryOffer goes to the poll loop, from its sender. */
static void test_offer_to_the_poll_loop(void)
{
    Lienthong__DirectoryOffer o = LIENTHONG__DIRECTORY_OFFER__INIT;
    CU_ASSERT_EQUAL(s_body(UG_CALLER, LIENTHONG__ENVELOPE__BODY_DIRECTORY_OFFER, &o), 0);
    CU_ASSERT_EQUAL(g_offers, 1);
    CU_ASSERT(s_quiet());
}

/* With LT_PEERS_MAX_LINKS links open, a link to one more member (active,
 * with an endpoint) is not opened, and one error line names the member and
 * the limit: the callers' own lines point at it (lt_gateway's configured
 * peers: "see the link message above"). */
static void test_link_table_full(void)
{
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    lt_peers_t *peers = lt_peers_new(&g.ctx, g.zctx, &so);
    CU_ASSERT_FATAL(peers != NULL);
    for (int i = 0; i < LT_PEERS_MAX_LINKS; i++) {
        char member[LT_ID_MAX];
        void *s = zmq_socket(g.zctx, ZMQ_DEALER);
        snprintf(member, sizeof member, "VN/TEST/M%03d", i);
        CU_ASSERT_FATAL(s && lt_peers_attach(peers, member, s) == 0);
    }
    char path[300], want[64];
    snprintf(path, sizeof path, "%s/full.log", g.tmp);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    void *link = lt_peers_link(peers, OD_OWNER);
    static char out[8192];
    ut_captured(saved, path, out, sizeof out);
    close(saved);
    CU_ASSERT_PTR_NULL(link);
    snprintf(want, sizeof want, "all %d links", LT_PEERS_MAX_LINKS);
    CU_ASSERT_EQUAL(ut_lines(out, "cannot connect to '" OD_OWNER "'"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, want), 1);
    if (ut_lines(out, NULL) != 1)
        fprintf(stderr, "\n  logged:\n%s", out);
    CU_ASSERT_EQUAL(lt_peers_links(peers), LT_PEERS_MAX_LINKS);
    lt_peers_destroy(&peers);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a sender the directory does not list is refused", test_unknown_sender},
        {"two frames, undecodable, a type peers do not send", test_malformed_and_unsupported},
        {"no data to peers: requests refused with why, endings pass", test_no_data},
        {"a directory offer goes to the poll loop", test_offer_to_the_poll_loop},
        {"a full link table: the link not opened is logged", test_link_table_full},
        {NULL, NULL},
    };
    return ut_main("lt_peersock", suite_init, suite_clean, tests);
}

/* test_guard: CUnit suite for the search of gateway/lt_guard for
 * connections whose key was refused: with many unauthenticated connections
 * pending, a refusal makes each step look at no more than
 * LT_GUARD_SWEEP_BATCH of them (two system calls each), not at all of them
 * fifty times a second. A CURVE ROUTER on loopback stands for the peer
 * port, with a ZAP handler in this thread that refuses every key (400).
 * The closing of refused and surplus connections is tested under load by
 * tests/integration/test_flood.c. */
#include "unit_util.h"

#include "lt_clock.h"
#include "lt_guard.h"
#include "lt_log.h"
#include "lt_stats.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

#define IDLE 200 /* unauthenticated connections held open, over the batch */

static void *g_zctx, *g_zap, *g_router;
static lt_stats_t *g_stats;
static lt_guard_t *g_guard;
static char g_server_pub[41];
static struct sockaddr_in g_to;

static int suite_init(void)
{
    char sec[41], ep[64];
    size_t len = sizeof ep;
    int one = 1;
    lt_log_set_level(LT_LOG_ERROR);
    memset(&g_to, 0, sizeof g_to);
    g_to.sin_family = AF_INET;
    g_to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!(g_zctx = zmq_ctx_new()) || !(g_stats = lt_stats_new()) ||
        !(g_zap = zmq_socket(g_zctx, ZMQ_REP)) || zmq_bind(g_zap, "inproc://zeromq.zap.01") != 0 ||
        !(g_router = zmq_socket(g_zctx, ZMQ_ROUTER)) || zmq_curve_keypair(g_server_pub, sec) != 0 ||
        zmq_setsockopt(g_router, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(g_router, ZMQ_CURVE_SECRETKEY, sec, 40) != 0 ||
        zmq_setsockopt(g_router, ZMQ_ZAP_DOMAIN, "unit", 4) != 0 ||
        !(g_guard = lt_guard_new(g_zctx, g_stats, 4 * IDLE)) ||
        lt_guard_attach(g_guard, g_router) != 0 || zmq_bind(g_router, "tcp://127.0.0.1:0") != 0 ||
        zmq_getsockopt(g_router, ZMQ_LAST_ENDPOINT, ep, &len) != 0 || !strrchr(ep, ':'))
        return -1;
    g_to.sin_port = htons((uint16_t)atoi(strrchr(ep, ':') + 1));
    return 0;
}

static int suite_clean(void)
{
    lt_guard_detach(g_guard, g_router);
    lt_guard_destroy(&g_guard);
    if (g_router)
        zmq_close(g_router);
    if (g_zap)
        zmq_close(g_zap);
    lt_stats_destroy(&g_stats);
    if (g_zctx)
        zmq_ctx_term(g_zctx);
    return 0;
}

/* Answers a waiting ZAP request: refused. */
static void s_zap_refuse(void)
{
    zmq_msg_t part;
    char id[256] = "";
    size_t id_len = 0;
    for (int i = 0, more = 1; more; i++) {
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, g_zap, 0) < 0) {
            zmq_msg_close(&part);
            return;
        }
        if (i == 1 && zmq_msg_size(&part) < sizeof id) {
            id_len = zmq_msg_size(&part);
            memcpy(id, zmq_msg_data(&part), id_len);
        }
        more = zmq_msg_more(&part);
        zmq_msg_close(&part);
    }
    (void)zmq_send(g_zap, "1.0", 3, ZMQ_SNDMORE);
    (void)zmq_send(g_zap, id, id_len, ZMQ_SNDMORE);
    (void)zmq_send(g_zap, "400", 3, ZMQ_SNDMORE);
    (void)zmq_send(g_zap, "refused", 7, ZMQ_SNDMORE);
    (void)zmq_send(g_zap, "", 0, ZMQ_SNDMORE);
    (void)zmq_send(g_zap, "", 0, 0);
}

/* Runs the guard's part of the poll loop for ms, or until done(): returns
 * the most connections one turn looked at. The deadlines are generous,
 * since accepts and handshakes run on libzmq's I/O thread, which a loaded
 * machine (a sanitizer build, tests side by side) can hold back. */
static uint64_t s_turns(int ms, int (*done)(void))
{
    uint64_t most = 0;
    int64_t end = lt_clock_mono_ms() + ms;
    while (lt_clock_mono_ms() < end && !(done && done())) {
        zmq_pollitem_t it[2] = {{lt_guard_socket(g_guard), 0, ZMQ_POLLIN, 0},
                                {g_zap, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(it, 2, 5) < 0)
            break;
        if (it[1].revents & ZMQ_POLLIN)
            s_zap_refuse();
        uint64_t before = lt_guard_swept(g_guard);
        lt_guard_on_events(g_guard);
        lt_guard_tick(g_guard);
        if (lt_guard_swept(g_guard) - before > most)
            most = lt_guard_swept(g_guard) - before;
    }
    return most;
}

static int s_all_pending(void)
{
    return lt_guard_pending(g_guard) == IDLE;
}

static uint64_t g_swept_before;

static int s_looked(void)
{
    return lt_guard_swept(g_guard) > g_swept_before;
}

static void test_sweep_bounded(void)
{
    int fds[IDLE];
    for (int i = 0; i < IDLE; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CU_ASSERT_FATAL(fds[i] >= 0);
        CU_ASSERT_FATAL(connect(fds[i], (const struct sockaddr *)&g_to, sizeof g_to) == 0);
    }
    CU_ASSERT_EQUAL(s_turns(10000, s_all_pending), 0); /* no refusal: nothing looked at */
    CU_ASSERT_EQUAL(lt_guard_pending(g_guard), IDLE);
    /* A key no one admits: refused, and looked for. */
    char pub[41], sec[41];
    void *c = zmq_socket(g_zctx, ZMQ_DEALER);
    int linger = 0;
    CU_ASSERT_FATAL(c != NULL && zmq_curve_keypair(pub, sec) == 0);
    CU_ASSERT(zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, g_server_pub, 40) == 0 &&
              zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, pub, 40) == 0 &&
              zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, sec, 40) == 0 &&
              zmq_setsockopt(c, ZMQ_LINGER, &linger, sizeof linger) == 0);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", ntohs(g_to.sin_port));
    CU_ASSERT_FATAL(zmq_connect(c, ep) == 0);
    g_swept_before = lt_guard_swept(g_guard);
    uint64_t most = s_turns(10000, s_looked);
    CU_ASSERT(s_looked()); /* refused, and looked for */
    /* The rest of the search: one second at most (lt_guard.c). */
    uint64_t rest = s_turns(1500, NULL);
    most = rest > most ? rest : most;
    fprintf(stderr, "test_guard: %llu connections looked at, at most %llu a turn\n",
            (unsigned long long)(lt_guard_swept(g_guard) - g_swept_before),
            (unsigned long long)most);
    CU_ASSERT(most <= LT_GUARD_SWEEP_BATCH);
    zmq_close(c);
    for (int i = 0; i < IDLE; i++)
        close(fds[i]);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"a refusal's search looks at a bounded number per step", test_sweep_bounded},
        {NULL, NULL},
    };
    return ut_main("lt_guard", suite_init, suite_clean, tests);
}

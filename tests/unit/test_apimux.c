/* test_apimux: CUnit suite for api/lt_apimux, the HTTP API's calls down one
 * local connection. The test thread plays the gateway: a ROUTER bound on
 * an ipc socket in a temporary directory, which reads the requests the
 * mux's thread sent and answers with Errors carrying their request ids, in
 * whatever order a case needs. */
#include "unit_util.h"

#include "lt_apimux.h"
#include "lt_client.h"
#include "lt_clock.h"
#include "lt_wire.h"

#include <zmq.h>

static char s_dir[256], s_path[300], s_endpoint[310];
static void *s_ctx;
static int s_freed; /* answers the mux dropped (free_answer calls on its thread) */

static int suite_init(void)
{
    if (ut_mkdtemp(s_dir, sizeof s_dir, "apimux") != 0 || !(s_ctx = zmq_ctx_new()))
        return -1;
    snprintf(s_path, sizeof s_path, "%s/gateway.sock", s_dir);
    snprintf(s_endpoint, sizeof s_endpoint, "ipc://%s", s_path);
    return 0;
}

static int suite_clean(void)
{
    zmq_ctx_term(s_ctx);
    return ut_rmrf(s_dir);
}

/* The test's id_of: the request id an Error echoes. */
static uint64_t s_id_of(const Lienthong__Envelope *env, void **answer)
{
    *answer = NULL;
    return env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? env->error->request_id : 0;
}

static void s_free_answer(const Lienthong__Envelope *env, void *answer)
{
    (void)env;
    (void)answer;
    __atomic_add_fetch(&s_freed, 1, __ATOMIC_SEQ_CST);
}

/* The fake gateway: a ROUTER listening on s_path. */
static void *s_gateway(void)
{
    void *r = zmq_socket(s_ctx, ZMQ_ROUTER);
    int linger = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(zmq_setsockopt(r, ZMQ_LINGER, &linger, sizeof linger), 0);
    CU_ASSERT_EQUAL_FATAL(zmq_bind(r, s_endpoint), 0);
    return r;
}

/* Stops the fake gateway: its socket file goes with it, as the gateway's
 * does, so that no client finds one that is not listening. */
static void s_gateway_stop(void *r)
{
    zmq_close(r);
    unlink(s_path);
}

/* Sends lookup request id through the mux. */
static lt_apimux_call_t *s_begin(lt_apimux_t *m, uint64_t id)
{
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    uint8_t *frame;
    size_t len;
    char err[256];
    lt_apimux_call_t *c = NULL;
    q.request_id = id;
    q.dataset = "VN/GOV/BCA/population";
    q.key = "001";
    CU_ASSERT_EQUAL_FATAL(lt_client_pack_for(LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q, NULL,
                                             &frame, &len, err, sizeof err),
                          0);
    CU_ASSERT_EQUAL_FATAL(lt_apimux_begin(m, id, frame, len, &c, err, sizeof err), 0);
    return c;
}

/* The gateway reads one request within 5 s: its request id, and in rid
 * the routing id to answer it on. */
static uint64_t s_read(void *r, uint8_t rid[256], size_t *rid_len)
{
    zmq_pollitem_t it = {r, 0, ZMQ_POLLIN, 0};
    uint8_t buf[4096];
    CU_ASSERT_EQUAL_FATAL(zmq_poll(&it, 1, 5000), 1);
    int n = zmq_recv(r, rid, 256, 0);
    CU_ASSERT_FATAL(n > 0);
    *rid_len = (size_t)n;
    n = zmq_recv(r, buf, sizeof buf, 0);
    CU_ASSERT_FATAL(n > 0);
    Lienthong__Envelope *env = lienthong__envelope__unpack(NULL, (size_t)n, buf);
    CU_ASSERT_FATAL(env && env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST);
    uint64_t id = env->lookup_request->request_id;
    lienthong__envelope__free_unpacked(env, NULL);
    return id;
}

/* The gateway answers request id with an Error whose message is msg. */
static void s_answer(void *r, const uint8_t *rid, size_t rid_len, uint64_t id, const char *msg)
{
    Lienthong__Envelope env;
    Lienthong__Error e = LIENTHONG__ERROR__INIT;
    uint8_t buf[1024];
    lt_wire_env_init(&env);
    e.code = LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    e.message = (char *)msg;
    e.request_id = id;
    env.body_case = LIENTHONG__ENVELOPE__BODY_ERROR;
    env.error = &e;
    size_t len = lienthong__envelope__pack(&env, buf);
    CU_ASSERT_EQUAL(zmq_send(r, rid, rid_len, ZMQ_SNDMORE), (int)rid_len);
    CU_ASSERT_EQUAL(zmq_send(r, buf, len, 0), (int)len);
}

/* A watch's ready: counts its calls, on the mux's thread. */
static void s_ready(void *arg)
{
    __atomic_add_fetch((int *)arg, 1, __ATOMIC_SEQ_CST);
}

/* Waits as the API does, by a watch, for the call's next envelope until
 * the monotonic until_ms: what lt_apimux_take then gives. */
static int s_wait(lt_apimux_t *m, lt_apimux_call_t *c, int64_t until_ms, Lienthong__Envelope **env,
                  void **answer, char *err, size_t errlen)
{
    for (;;) {
        int fired = 0, rc = lt_apimux_take(m, c, until_ms, env, answer, err, errlen);
        if (rc != LT_APIMUX_EMPTY)
            return rc;
        if (lt_apimux_watch(m, c, until_ms, s_ready, &fired) == 0)
            while (!__atomic_load_n(&fired, __ATOMIC_SEQ_CST))
                usleep(1000);
    }
}

/* The call's next envelope within 5 s, which must answer id with msg. */
static void s_expect(lt_apimux_t *m, lt_apimux_call_t *c, uint64_t id, const char *msg)
{
    Lienthong__Envelope *env = NULL;
    void *answer;
    char err[1024] = "";
    int rc = s_wait(m, c, lt_clock_mono_ms() + 5000, &env, &answer, err, sizeof err);
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(env->body_case, LIENTHONG__ENVELOPE__BODY_ERROR);
    CU_ASSERT_EQUAL(env->error->request_id, id);
    CU_ASSERT_STRING_EQUAL(env->error->message, msg);
    lt_wire_free(&env);
}

static void test_answers_to_their_calls(void)
{
    void *gw = s_gateway();
    lt_apimux_t *m = lt_apimux_new(s_ctx, s_path, 8, s_id_of, s_free_answer);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    lt_apimux_call_t *c[3];
    uint64_t ids[3] = {11, 22, 33};
    for (int i = 0; i < 3; i++)
        c[i] = s_begin(m, ids[i]);
    uint8_t rid[256];
    size_t rid_len;
    /* One connection carries them all, in the order they were begun. */
    for (int i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(s_read(gw, rid, &rid_len), ids[i]);
    int freed = __atomic_load_n(&s_freed, __ATOMIC_SEQ_CST);
    s_answer(gw, rid, rid_len, 99, "nobody asked");
    s_answer(gw, rid, rid_len, 33, "third");
    s_answer(gw, rid, rid_len, 22, "second, part 1");
    s_answer(gw, rid, rid_len, 11, "first");
    s_answer(gw, rid, rid_len, 22, "second, part 2");
    s_expect(m, c[1], 22, "second, part 1");
    s_expect(m, c[1], 22, "second, part 2");
    s_expect(m, c[0], 11, "first");
    s_expect(m, c[2], 33, "third");
    CU_ASSERT_EQUAL(__atomic_load_n(&s_freed, __ATOMIC_SEQ_CST), freed + 1); /* 99's */
    for (int i = 0; i < 3; i++) {
        lt_apimux_end(m, &c[i]);
        CU_ASSERT_PTR_NULL(c[i]);
    }
    lt_apimux_end(m, &c[0]); /* idempotent */
    lt_apimux_destroy(&m);
    CU_ASSERT_PTR_NULL(m);
    lt_apimux_destroy(&m);
    s_gateway_stop(gw);
}

static void test_late_answer_dropped(void)
{
    void *gw = s_gateway();
    lt_apimux_t *m = lt_apimux_new(s_ctx, s_path, 8, s_id_of, s_free_answer);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    uint8_t rid[256];
    size_t rid_len;
    lt_apimux_call_t *gave_up = s_begin(m, 5);
    CU_ASSERT_EQUAL(s_read(gw, rid, &rid_len), 5);
    lt_apimux_end(m, &gave_up);
    int freed = __atomic_load_n(&s_freed, __ATOMIC_SEQ_CST);
    s_answer(gw, rid, rid_len, 5, "too late");
    lt_apimux_call_t *c = s_begin(m, 6);
    CU_ASSERT_EQUAL(s_read(gw, rid, &rid_len), 6);
    s_answer(gw, rid, rid_len, 6, "in time");
    s_expect(m, c, 6, "in time");
    CU_ASSERT_EQUAL(__atomic_load_n(&s_freed, __ATOMIC_SEQ_CST), freed + 1);
    lt_apimux_end(m, &c);
    lt_apimux_destroy(&m);
    s_gateway_stop(gw);
}

/* Waits for the call's next envelope until deadline_ms from now; returns
 * the code, with err, and in *took_ms how long it waited. */
static int s_next_rc(lt_apimux_t *m, lt_apimux_call_t *c, int deadline_ms, char *err, size_t errlen,
                     int64_t *took_ms)
{
    Lienthong__Envelope *env = NULL;
    void *answer;
    int64_t t0 = lt_clock_mono_ms();
    int rc = s_wait(m, c, t0 + deadline_ms, &env, &answer, err, errlen);
    *took_ms = lt_clock_mono_ms() - t0;
    lt_wire_free(&env);
    return rc;
}

static void test_no_gateway_fails_at_once(void)
{
    lt_apimux_t *m = lt_apimux_new(s_ctx, s_path, 8, s_id_of, s_free_answer);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char err[1024];
    int64_t took;
    lt_apimux_call_t *c = s_begin(m, 7);
    /* Not at the deadline, 60 s away: the probe before connecting says so. */
    CU_ASSERT_EQUAL(s_next_rc(m, c, 60000, err, sizeof err, &took), LT_CLIENT_ERR_NOT_RUNNING);
    CU_ASSERT(took < 30000);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "the gateway is not running"));
    lt_apimux_end(m, &c);
    lt_apimux_destroy(&m);
}

static void test_silent_gateway_times_out(void)
{
    void *gw = s_gateway();
    lt_apimux_t *m = lt_apimux_new(s_ctx, s_path, 8, s_id_of, s_free_answer);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    char err[1024];
    int64_t took;
    lt_apimux_call_t *c = s_begin(m, 8);
    CU_ASSERT_EQUAL(s_next_rc(m, c, 300, err, sizeof err, &took), LT_CLIENT_ERR_TIMEOUT);
    CU_ASSERT(took >= 300);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "(it is running)"));
    lt_apimux_end(m, &c);
    lt_apimux_destroy(&m);
    s_gateway_stop(gw);
}

static void test_gateway_stops_and_returns(void)
{
    void *gw = s_gateway();
    lt_apimux_t *m = lt_apimux_new(s_ctx, s_path, 8, s_id_of, s_free_answer);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    uint8_t rid[256];
    size_t rid_len;
    char err[1024];
    int64_t took;
    lt_apimux_call_t *c = s_begin(m, 9);
    CU_ASSERT_EQUAL(s_read(gw, rid, &rid_len), 9);
    s_gateway_stop(gw); /* without answering */
    /* Sent down the connection while the gateway is gone, before anyone
     * knows: its answer is lost with the connection. */
    lt_apimux_call_t *lost = s_begin(m, 13);
    CU_ASSERT_EQUAL(s_next_rc(m, c, 300, err, sizeof err, &took), LT_CLIENT_ERR_NOT_RUNNING);
    lt_apimux_end(m, &c);
    /* The next call is not held to its deadline while the gateway is down,
     * and the connection it closes fails the call that went down it. */
    c = s_begin(m, 10);
    CU_ASSERT_EQUAL(s_next_rc(m, c, 60000, err, sizeof err, &took), LT_CLIENT_ERR_NOT_RUNNING);
    CU_ASSERT(took < 30000);
    lt_apimux_end(m, &c);
    CU_ASSERT_EQUAL(s_next_rc(m, lost, 60000, err, sizeof err, &took), LT_CLIENT_ERR_NOT_RUNNING);
    CU_ASSERT(took < 30000);
    lt_apimux_end(m, &lost);
    /* Started again, it is reached. */
    gw = s_gateway();
    c = s_begin(m, 12);
    CU_ASSERT_EQUAL(s_read(gw, rid, &rid_len), 12);
    s_answer(gw, rid, rid_len, 12, "back");
    s_expect(m, c, 12, "back");
    lt_apimux_end(m, &c);
    lt_apimux_destroy(&m);
    s_gateway_stop(gw);
}

static void test_ended_calls_not_sent(void)
{
    void *gw = s_gateway();
    /* Two calls at once: ZeroMQ queues two requests, the mux the rest. */
    lt_apimux_t *m = lt_apimux_new(s_ctx, s_path, 2, s_id_of, s_free_answer);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    uint8_t rid[256];
    size_t rid_len;
    lt_apimux_call_t *c = s_begin(m, 20);
    CU_ASSERT_EQUAL(s_read(gw, rid, &rid_len), 20);
    s_answer(gw, rid, rid_len, 20, "connected");
    s_expect(m, c, 20, "connected");
    lt_apimux_end(m, &c);
    /* While the gateway is away, ten callers give up before it returns. */
    s_gateway_stop(gw);
    /* Until the client has seen the connection close, a request it sends
     * goes into that connection and is lost with it (its call would time
     * out): let it see. */
    usleep(300000);
    for (uint64_t id = 30; id < 40; id++) {
        c = s_begin(m, id);
        lt_apimux_end(m, &c);
    }
    lt_apimux_call_t *live = s_begin(m, 50);
    gw = s_gateway();
    int stale = 0;
    uint64_t id;
    while ((id = s_read(gw, rid, &rid_len)) != 50)
        stale++;
    /* What ZeroMQ had queued goes; what the mux held is dropped unsent. */
    CU_ASSERT(stale <= 2);
    s_answer(gw, rid, rid_len, 50, "back");
    s_expect(m, live, 50, "back");
    lt_apimux_end(m, &live);
    lt_apimux_destroy(&m);
    s_gateway_stop(gw);
}

/* Waits up to 5 s for *n to reach want. */
static int s_wait_count(int *n, int want)
{
    for (int i = 0; i < 500 && __atomic_load_n(n, __ATOMIC_SEQ_CST) < want; i++)
        usleep(10000);
    return __atomic_load_n(n, __ATOMIC_SEQ_CST);
}

static void test_watch_fires_once_per_arming(void)
{
    void *gw = s_gateway();
    lt_apimux_t *m = lt_apimux_new(s_ctx, s_path, 8, s_id_of, s_free_answer);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    uint8_t rid[256];
    size_t rid_len;
    int fired = 0;
    int64_t until = lt_clock_mono_ms() + 60000;
    Lienthong__Envelope *env = NULL;
    void *answer;
    char err[1024];
    lt_apimux_call_t *c = s_begin(m, 60);
    CU_ASSERT_EQUAL(s_read(gw, rid, &rid_len), 60);
    /* Nothing yet: take says so without waiting, and the watch arms. */
    CU_ASSERT_EQUAL(lt_apimux_take(m, c, until, &env, &answer, err, sizeof err), LT_APIMUX_EMPTY);
    CU_ASSERT_EQUAL(lt_apimux_watch(m, c, until, s_ready, &fired), 0);
    CU_ASSERT_EQUAL(lt_apimux_watch(m, c, until, s_ready, &fired), 0); /* armed already */
    s_answer(gw, rid, rid_len, 60, "part 1");
    s_answer(gw, rid, rid_len, 60, "part 2");
    CU_ASSERT_EQUAL(s_wait_count(&fired, 1), 1);
    usleep(100000);
    CU_ASSERT_EQUAL(__atomic_load_n(&fired, __ATOMIC_SEQ_CST), 1); /* once per arming */
    /* Both parts are there to take; the watch of a call that has something
     * to take does not arm. */
    CU_ASSERT_EQUAL(lt_apimux_watch(m, c, until, s_ready, &fired), 1);
    for (int i = 1; i <= 2; i++) {
        char want[16];
        snprintf(want, sizeof want, "part %d", i);
        CU_ASSERT_EQUAL_FATAL(lt_apimux_take(m, c, until, &env, &answer, err, sizeof err), 0);
        CU_ASSERT_STRING_EQUAL(env->error->message, want);
        lt_wire_free(&env);
    }
    CU_ASSERT_EQUAL(lt_apimux_take(m, c, until, &env, &answer, err, sizeof err), LT_APIMUX_EMPTY);
    /* Armed again, then ended: it never fires, whatever comes. */
    CU_ASSERT_EQUAL(lt_apimux_watch(m, c, until, s_ready, &fired), 0);
    lt_apimux_end(m, &c);
    s_answer(gw, rid, rid_len, 60, "after the end");
    usleep(100000);
    CU_ASSERT_EQUAL(__atomic_load_n(&fired, __ATOMIC_SEQ_CST), 1);
    lt_apimux_destroy(&m);
    s_gateway_stop(gw);
}

static void test_watch_deadline_and_close(void)
{
    void *gw = s_gateway();
    lt_apimux_t *m = lt_apimux_new(s_ctx, s_path, 8, s_id_of, s_free_answer);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    uint8_t rid[256];
    size_t rid_len;
    int fired = 0, closed = 0;
    Lienthong__Envelope *env = NULL;
    void *answer;
    char err[1024];
    /* A silent gateway: the watch fires at the deadline, and take says
     * the time is up. */
    int64_t t0 = lt_clock_mono_ms(), until = t0 + 200;
    lt_apimux_call_t *c = s_begin(m, 70), *d = s_begin(m, 71);
    CU_ASSERT_EQUAL(s_read(gw, rid, &rid_len), 70);
    CU_ASSERT_EQUAL(s_read(gw, rid, &rid_len), 71);
    CU_ASSERT_EQUAL(lt_apimux_watch(m, c, until, s_ready, &fired), 0);
    CU_ASSERT_EQUAL(lt_apimux_watch(m, d, t0 + 60000, s_ready, &closed), 0);
    CU_ASSERT_EQUAL(s_wait_count(&fired, 1), 1);
    CU_ASSERT(lt_clock_mono_ms() - t0 >= 200);
    CU_ASSERT_EQUAL(lt_apimux_take(m, c, until, &env, &answer, err, sizeof err),
                    LT_CLIENT_ERR_TIMEOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "(it is running)"));
    /* Closed: the other call's watch fires with the reason, and a call
     * begun after fails at once. */
    lt_apimux_close(m, "the HTTP API is stopping");
    CU_ASSERT_EQUAL(s_wait_count(&closed, 1), 1);
    CU_ASSERT_EQUAL(lt_apimux_take(m, d, t0 + 60000, &env, &answer, err, sizeof err),
                    LT_CLIENT_ERR_SOCKET);
    CU_ASSERT_STRING_EQUAL(err, "the HTTP API is stopping");
    uint8_t *frame = malloc(8);
    lt_apimux_call_t *late = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(frame);
    CU_ASSERT_EQUAL(lt_apimux_begin(m, 72, frame, 8, &late, err, sizeof err), LT_CLIENT_ERR_SOCKET);
    CU_ASSERT_PTR_NULL(late);
    lt_apimux_end(m, &c);
    lt_apimux_end(m, &d);
    lt_apimux_destroy(&m);
    s_gateway_stop(gw);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"answers reach their calls whatever their order; an unknown id is dropped",
         test_answers_to_their_calls},
        {"an answer for a call that ended is dropped, not given to the next",
         test_late_answer_dropped},
        {"no gateway running: a call fails at once, not at its deadline",
         test_no_gateway_fails_at_once},
        {"a gateway that does not answer: the call times out, saying it runs",
         test_silent_gateway_times_out},
        {"a gateway that stopped: calls fail at once until it runs again",
         test_gateway_stops_and_returns},
        {"the requests of calls that ended while the gateway was away are not sent",
         test_ended_calls_not_sent},
        {"a watch fires once when its call has something to take, never after the end",
         test_watch_fires_once_per_arming},
        {"a watch fires at its deadline; closing fails every call, and later ones",
         test_watch_deadline_and_close},
        {NULL, NULL},
    };
    return ut_main("lt_apimux", suite_init, suite_clean, tests);
}

/* test_client: CUnit suite for core/lt_client, the connection of programs
 * to their gateway's local socket: "not running" (no socket, a socket
 * nobody listens on), "no permission" (a directory or socket this user may
 * not use: as root, checked in a child that became `nobody`), a running
 * gateway that does not answer (a bound ROUTER that stays silent), a round
 * trip with a ROUTER that answers (and sees the answer context asked for),
 * and an adapter-style client started before its gateway. */
#include "unit_util.h"
#include "lt_clock.h"

#include "lt_client.h"
#include "lt_file.h"
#include "lt_wire.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <zmq.h>

static char g_dir[512];

static int suite_init(void)
{
    /* 0755: the unprivileged child must be able to reach what is inside. */
    if (ut_mkdtemp(g_dir, sizeof g_dir, "client") != 0 || chmod(g_dir, 0755) != 0)
        return -1;
    return 0;
}

static int suite_clean(void)
{
    /* Undo mode 0 directories first, so that the tree can be removed. */
    char p[600];
    snprintf(p, sizeof p, "%s/closed", g_dir);
    (void)chmod(p, 0700);
    return ut_rmrf(g_dir);
}

static void path_of(char *out, size_t cap, const char *sub)
{
    snprintf(out, cap, "%s/%s", g_dir, sub);
}

/* A plain AF_UNIX socket bound at path; listening only when `listening`. */
static int unix_at(const char *path, int listening)
{
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa.sun_path)
        return -1;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || (listening && listen(fd, 8) != 0)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A silent or answering "gateway": a ROUTER bound on path. */
static void *router_at(void *ctx, const char *path)
{
    char ep[700];
    if (snprintf(ep, sizeof ep, "ipc://%.600s", path) >= (int)sizeof ep)
        return NULL;
    void *r = zmq_socket(ctx, ZMQ_ROUTER);
    int zero = 0;
    if (r && (zmq_setsockopt(r, ZMQ_LINGER, &zero, sizeof zero) != 0 || zmq_bind(r, ep) != 0)) {
        zmq_close(r);
        return NULL;
    }
    return r;
}

/* One request on the ROUTER within ms: its routing id and decoded envelope. */
static Lienthong__Envelope *router_recv(void *r, int ms, lt_wire_in_t *in)
{
    zmq_pollitem_t it = {r, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, ms) != 1 || lt_wire_recv(r, 1, ZMQ_DONTWAIT, in) != 0)
        return NULL;
    Lienthong__ErrorCode code;
    char err[256];
    Lienthong__Envelope *env =
        in->frames == 1 ? lt_wire_decode(zmq_msg_data(&in->body), zmq_msg_size(&in->body), 1u << 20,
                                         &code, err, sizeof err)
                        : NULL;
    return env;
}

/* A ROUTER standing for a gateway, and a one-shot client connected to it. */
typedef struct {
    char path[600];
    void *ctx, *router;
    lt_client_t *client;
} fixture_t;

static void fixture_open(fixture_t *fx, const char *name)
{
    char err[1024];
    memset(fx, 0, sizeof *fx);
    path_of(fx->path, sizeof fx->path, name);
    fx->ctx = zmq_ctx_new();
    CU_ASSERT_FATAL(fx->ctx != NULL);
    fx->router = router_at(fx->ctx, fx->path);
    CU_ASSERT_FATAL(fx->router != NULL);
    fx->client = lt_client_new(fx->path, NULL, err, sizeof err);
    CU_ASSERT_FATAL(fx->client != NULL);
}

static void fixture_close(fixture_t *fx)
{
    lt_client_destroy(&fx->client);
    CU_ASSERT(fx->client == NULL);
    lt_client_destroy(&fx->client); /* idempotent */
    if (fx->router)
        zmq_close(fx->router);
    zmq_ctx_term(fx->ctx);
}

static void test_not_running(void)
{
    char path[600], err[1024];
    path_of(path, sizeof path, "absent.sock");
    /* No socket file at all. */
    CU_ASSERT(lt_client_probe(path, err, sizeof err) == LT_CLIENT_ERR_NOT_RUNNING);
    CU_ASSERT(strstr(err, path) != NULL);
    CU_ASSERT(strstr(err, "not running") != NULL);
    CU_ASSERT(strstr(err, "lienthong gateway --config") != NULL);
    err[0] = 0;
    lt_client_t *c = lt_client_new(path, NULL, err, sizeof err);
    CU_ASSERT(c == NULL);
    CU_ASSERT(strstr(err, path) != NULL && strstr(err, "not running") != NULL);

    /* A socket file nobody listens on: what a stopped gateway leaves. */
    path_of(path, sizeof path, "stale.sock");
    int fd = unix_at(path, 0);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT(lt_client_probe(path, err, sizeof err) == LT_CLIENT_ERR_NOT_RUNNING);
    CU_ASSERT(strstr(err, "nothing listens") != NULL && strstr(err, path) != NULL);
    CU_ASSERT(lt_client_new(path, NULL, err, sizeof err) == NULL);
    /* Listening: the same path is now a running gateway. */
    CU_ASSERT(listen(fd, 8) == 0);
    CU_ASSERT(lt_client_probe(path, err, sizeof err) == LT_CLIENT_OK);
    close(fd);

    /* Not a socket, or too long for one. */
    path_of(path, sizeof path, "plain-file");
    CU_ASSERT_FATAL(ut_write_text(path, "x") == 0);
    CU_ASSERT(lt_client_probe(path, err, sizeof err) == LT_CLIENT_ERR_BAD_PATH);
    CU_ASSERT(strstr(err, "not a socket") != NULL);
    char longp[300];
    memset(longp, 'a', sizeof longp - 1);
    longp[0] = '/';
    longp[sizeof longp - 1] = 0;
    CU_ASSERT(lt_client_probe(longp, err, sizeof err) == LT_CLIENT_ERR_BAD_PATH);
}

/* Probes path as a user without any right on it: as root, in a child that
 * became `nobody` (root passes every permission check); otherwise here.
 * Returns the probe's code, with its message in err; *made is 1 when
 * lt_client_new with opts connected. */
static int probe_unprivileged(const char *path, const lt_client_opts_t *opts, char *err,
                              size_t errlen, int *made)
{
    if (geteuid() != 0) {
        lt_client_t *c = lt_client_new(path, opts, err, errlen);
        *made = c != NULL;
        lt_client_destroy(&c);
        return lt_client_probe(path, err, errlen);
    }
    struct passwd *pw = getpwnam("nobody");
    int fds[2];
    if (!pw || pipe(fds) != 0)
        return 99;
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        struct {
            int rc, made;
            char err[1024];
        } res = {99, 1, ""};
        if (setgroups(0, NULL) == 0 && setgid(pw->pw_gid) == 0 && setuid(pw->pw_uid) == 0) {
            lt_client_t *c = lt_client_new(path, opts, res.err, sizeof res.err);
            res.made = c != NULL;
            lt_client_destroy(&c);
            res.rc = lt_client_probe(path, res.err, sizeof res.err);
        }
        _exit(write(fds[1], &res, sizeof res) == (ssize_t)sizeof res ? 0 : 1);
    }
    close(fds[1]);
    struct {
        int rc, made;
        char err[1024];
    } res = {99, 1, ""};
    int status = 1;
    ssize_t n = pid > 0 ? read(fds[0], &res, sizeof res) : -1;
    close(fds[0]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (n != (ssize_t)sizeof res || status != 0)
        return 99;
    snprintf(err, errlen, "%s", res.err);
    *made = res.made;
    return res.rc;
}

static void test_no_permission(void)
{
    char dir[600], path[700], err[1024], me[64];
    int made = 1;
    struct passwd *pw = geteuid() == 0 ? getpwnam("nobody") : getpwuid(geteuid());
    CU_ASSERT_FATAL(pw != NULL);
    snprintf(me, sizeof me, "%s", pw->pw_name);
    lt_client_opts_t waits;
    lt_client_opts_default(&waits);
    waits.wait_for_gateway = 1;

    /* A gateway listens in a directory of mode 0. */
    path_of(dir, sizeof dir, "closed");
    snprintf(path, sizeof path, "%s/gw.sock", dir);
    CU_ASSERT_FATAL(mkdir(dir, 0700) == 0);
    int fd = unix_at(path, 1);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(chmod(dir, 0) == 0);
    CU_ASSERT(probe_unprivileged(path, NULL, err, sizeof err, &made) == LT_CLIENT_ERR_PERMISSION);
    CU_ASSERT(made == 0);
    CU_ASSERT(strstr(err, "no permission") != NULL);
    CU_ASSERT(strstr(err, path) != NULL);
    CU_ASSERT(strstr(err, me) != NULL);
    CU_ASSERT(strstr(err, "mode 0000") != NULL);
    CU_ASSERT(strstr(err, "run this as the gateway's user (") != NULL);
    CU_ASSERT(strstr(err, "add ") == NULL); /* no group could help */
    /* A client that waits for its gateway is refused all the same. */
    CU_ASSERT(probe_unprivileged(path, &waits, err, sizeof err, &made) == LT_CLIENT_ERR_PERMISSION);
    CU_ASSERT(made == 0);
    CU_ASSERT(chmod(dir, 0700) == 0);
    close(fd);

    /* The socket itself refuses: only its group may write to it. */
    path_of(path, sizeof path, "group.sock");
    fd = unix_at(path, 1);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(chmod(path, 0020) == 0);
    CU_ASSERT(probe_unprivileged(path, NULL, err, sizeof err, &made) == LT_CLIENT_ERR_PERMISSION);
    CU_ASSERT(made == 0);
    CU_ASSERT(strstr(err, path) != NULL && strstr(err, me) != NULL);
    char hint[128];
    snprintf(hint, sizeof hint, "or add %s to that group", me);
    CU_ASSERT(strstr(err, hint) != NULL);
    /* The same socket open to everyone: reachable, so it was permission. */
    CU_ASSERT(chmod(path, 0777) == 0);
    CU_ASSERT(probe_unprivileged(path, NULL, err, sizeof err, &made) == LT_CLIENT_OK);
    CU_ASSERT(made == 1);
    close(fd);
}

static void test_timeout(void)
{
    char err[1024];
    fixture_t fx;
    fixture_open(&fx, "silent.sock");
    lt_client_t *c = fx.client;
    const char *path = fx.path;
    Lienthong__StatusRequest req = LIENTHONG__STATUS_REQUEST__INIT;
    CU_ASSERT(lt_client_send(c, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &req, 1000, err,
                             sizeof err) == 0);
    /* The "gateway" got it, and says nothing. */
    lt_wire_in_t in;
    Lienthong__Envelope *got = router_recv(fx.router, 3000, &in);
    CU_ASSERT(got && got->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST);
    lt_wire_free(&got);
    lt_wire_in_close(&in);
    Lienthong__Envelope *env = NULL;
    int64_t t0 = lt_clock_mono_ms();
    CU_ASSERT(lt_client_recv(c, 300, &env, err, sizeof err) == LT_CLIENT_ERR_TIMEOUT);
    int64_t took = lt_clock_mono_ms() - t0;
    CU_ASSERT(took >= 290 && took < 3000);
    CU_ASSERT(env == NULL);
    CU_ASSERT(strstr(err, path) != NULL && strstr(err, "300 ms") != NULL);
    CU_ASSERT(strstr(err, "is running") != NULL);

    /* The gateway goes away while the client waits: that is "not running". */
    zmq_close(fx.router);
    fx.router = NULL;
    CU_ASSERT(lt_client_recv(c, 100, &env, err, sizeof err) == LT_CLIENT_ERR_NOT_RUNNING);
    CU_ASSERT(strstr(err, "not running") != NULL && strstr(err, path) != NULL);
    fixture_close(&fx);
}

static void test_round_trip(void)
{
    char err[1024];
    fixture_t fx;
    fixture_open(&fx, "answering.sock");
    lt_client_t *c = fx.client;
    void *r = fx.router;

    /* A lookup asks for the answer context; the answer carries it. */
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = 4242;
    q.dataset = (char *)"VN/GOV/BCA/population";
    q.key = (char *)"038084915725";
    q.purpose = (char *)"KYC";
    CU_ASSERT(lt_client_send(c, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q, 1000, err,
                             sizeof err) == 0);
    lt_wire_in_t in;
    Lienthong__Envelope *got = router_recv(r, 3000, &in);
    CU_ASSERT_FATAL(got != NULL);
    CU_ASSERT(got->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST &&
              got->lookup_request->request_id == 4242);
    CU_ASSERT(got->context != NULL);
    Lienthong__SignedAnswer sa = LIENTHONG__SIGNED_ANSWER__INIT;
    Lienthong__AnswerContext ctxa = LIENTHONG__ANSWER_CONTEXT__INIT;
    ctxa.record_type = (char *)"lienthong.records.Population";
    Lienthong__Envelope rep;
    lt_wire_env_init(&rep);
    rep.body_case = LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY;
    rep.lookup_reply = &sa;
    rep.context = &ctxa;
    CU_ASSERT(lt_wire_send(r, in.rid, in.rid_len, &rep) == 0);
    Lienthong__Envelope *env = NULL;
    CU_ASSERT_FATAL(lt_client_recv(c, 3000, &env, err, sizeof err) == 0);
    CU_ASSERT(env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY);
    CU_ASSERT_FATAL(env->context != NULL);
    CU_ASSERT_STRING_EQUAL(env->context->record_type, "lienthong.records.Population");
    lt_wire_free(&env);
    lt_wire_free(&got);

    /* Status asks for no context; its reply comes back decoded. */
    Lienthong__StatusRequest sq = LIENTHONG__STATUS_REQUEST__INIT;
    CU_ASSERT(lt_client_send(c, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST, &sq, 1000, err,
                             sizeof err) == 0);
    lt_wire_in_t in2;
    got = router_recv(r, 3000, &in2);
    CU_ASSERT_FATAL(got != NULL);
    CU_ASSERT(got->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST && got->context == NULL);
    Lienthong__StatusReply sr = LIENTHONG__STATUS_REPLY__INIT;
    sr.member = (char *)"VN/PROV/38";
    sr.directory_version = 9;
    lt_wire_env_init(&rep);
    rep.body_case = LIENTHONG__ENVELOPE__BODY_STATUS_REPLY;
    rep.status_reply = &sr;
    CU_ASSERT(lt_wire_send(r, in2.rid, in2.rid_len, &rep) == 0);
    CU_ASSERT_FATAL(lt_client_recv(c, 3000, &env, err, sizeof err) == 0);
    CU_ASSERT(env->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REPLY);
    CU_ASSERT_STRING_EQUAL(env->status_reply->member, "VN/PROV/38");
    CU_ASSERT(env->status_reply->directory_version == 9);
    lt_wire_free(&env);
    lt_wire_free(&got);
    lt_wire_in_close(&in2);

    /* A packed frame goes out byte for byte. */
    static const uint8_t frame[] = {0x08, 0x01, 0xea, 0x02, 0x00}; /* status_request */
    CU_ASSERT(lt_client_send_frame(c, frame, sizeof frame, 1000, err, sizeof err) == 0);
    lt_wire_in_t in3;
    got = router_recv(r, 3000, &in3);
    CU_ASSERT(got && got->body_case == LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST);
    CU_ASSERT(zmq_msg_size(&in3.body) == sizeof frame &&
              memcmp(zmq_msg_data(&in3.body), frame, sizeof frame) == 0);
    lt_wire_free(&got);
    lt_wire_in_close(&in3);

    /* Garbage from the gateway is dropped and said so. */
    CU_ASSERT(zmq_send(r, in.rid, in.rid_len, ZMQ_SNDMORE) == (int)in.rid_len);
    CU_ASSERT(zmq_send(r, "\xff\xff\xff", 3, 0) == 3);
    CU_ASSERT(lt_client_recv(c, 3000, &env, err, sizeof err) == LT_CLIENT_ERR_MALFORMED);
    CU_ASSERT(env == NULL && strstr(err, "dropped") != NULL);
    lt_wire_in_close(&in);

    /* A body that only gateways send is refused before anything is sent. */
    Lienthong__Hello h = LIENTHONG__HELLO__INIT;
    CU_ASSERT(lt_client_send(c, LIENTHONG__ENVELOPE__BODY_HELLO, &h, 0, err, sizeof err) ==
              LT_CLIENT_ERR_INVALID);
    CU_ASSERT(strstr(err, "hello") != NULL);
    fixture_close(&fx);
}

/* Adapters start whether or not their gateway runs; what they send waits. */
static void test_wait_for_gateway(void)
{
    char path[600], err[1024];
    path_of(path, sizeof path, "later.sock");
    lt_client_opts_t o;
    lt_client_opts_default(&o);
    o.wait_for_gateway = 1;
    lt_client_t *c = lt_client_new(path, &o, err, sizeof err);
    CU_ASSERT_FATAL(c != NULL);
    CU_ASSERT(strstr(err, "not running") != NULL); /* said, for the log */
    Lienthong__SinkAttach a = LIENTHONG__SINK_ATTACH__INIT;
    a.stream = (char *)"VN/GOV/BCA/population.p38";
    a.from_seq = 1;
    CU_ASSERT(lt_client_send(c, LIENTHONG__ENVELOPE__BODY_SINK_ATTACH, &a, 0, err, sizeof err) ==
              0);
    Lienthong__Envelope *env = NULL;
    CU_ASSERT(lt_client_recv(c, 100, &env, err, sizeof err) == LT_CLIENT_ERR_TIMEOUT);
    CU_ASSERT(strstr(err, "is running") == NULL); /* not checked in this mode */

    void *ctx = zmq_ctx_new();
    CU_ASSERT_FATAL(ctx != NULL);
    void *r = router_at(ctx, path);
    CU_ASSERT_FATAL(r != NULL);
    lt_wire_in_t in;
    Lienthong__Envelope *got = router_recv(r, 5000, &in);
    CU_ASSERT(got && got->body_case == LIENTHONG__ENVELOPE__BODY_SINK_ATTACH &&
              strcmp(got->sink_attach->stream, "VN/GOV/BCA/population.p38") == 0);
    lt_wire_free(&got);
    lt_wire_in_close(&in);
    lt_client_destroy(&c);
    zmq_close(r);
    zmq_ctx_term(ctx);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"not running: no socket, stale socket, bad path", test_not_running},
        {"no permission on the directory or the socket", test_no_permission},
        {"timeout of a running gateway, then it stops", test_timeout},
        {"round trip with an answering ROUTER", test_round_trip},
        {"an adapter's client waits for its gateway", test_wait_for_gateway},
        {NULL, NULL},
    };
    return ut_main("lt_client", suite_init, suite_clean, tests);
}

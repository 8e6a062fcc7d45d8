/* test_api: the HTTP API (`lienthong api`) end to end. Real owner and caller
 * gateways on 127.0.0.1, a real `lienthong api` beside the caller, driven by
 * real HTTP clients: Python's standard library (api_client.py: validation,
 * grants, lookups, verifies, rate limit, metrics, OpenAPI conformance) and
 * curl; then the caller's audit report must name the application, officer
 * and case, and /readyz must turn unready when the store is not writable
 * and when the directory has expired. A second `lienthong api` serves TLS
 * with a throwaway self-signed certificate, called by curl --cacert and by
 * Python's ssl module (api_tls.py). */
#include "lt_file.h"
#include "lt_itest.h"
#include "lt_sock.h"
#include "lt_wire.h"
#include "records/population.pb-c.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define ID_OWNER  "VN/GOV/BCA"
#define ID_CALLER "VN/COM/VIETTEL"
#define DS        "VN/GOV/BCA/population"
/* Granted to hr-portal, listed by no directory: the caller's gateway
 * refuses its lookups with an unsigned ERR_NOT_FOUND (api_client.py). */
#define DS_UNLISTED "VN/GOV/BCA/retired"
#define KEY         "038090000002"
#define DOB         "1990-01-02"
#define READY_MS    15000

static const char *s_source =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_OWNER "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "views = ( { id = \"" DS ".p38\"; dataset = \"" DS
    "\"; fields = [\"personal_id\", \"full_name\"];\n"
    "  where = { current_province = \"38\"; }; } );\n"
    "policies = ( { consumer = \"" ID_CALLER "\"; target = \"" DS
    "\"; allow = [\"lookup\", \"verify\"];\n"
    "    fields = [\"full_name\", \"date_of_birth\"]; purposes = [\"KYC\", \"AUDIT\"]; },\n"
    "  { consumer = \"" ID_CALLER "\"; target = \"" DS ".p38\"; allow = [\"lookup\", \"verify\"];\n"
    "    fields = [\"full_name\"]; purposes = [\"KYC\"]; } );\n";

static lt_it_fed_t g_fed;
static lt_it_gw_t *g_owner, *g_caller;
static pid_t g_api;
static char g_url[64], g_tokens[2][65];

/* Publishes one citizen through the owner's local socket. */
static int s_publish(void)
{
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    lt_it_peer_t p = {lt_sock_local_client(lt_it_ctx(), g_owner->sock_path, &o, err, sizeof err),
                      NULL};
    Lienthong__Records__Population rec = LIENTHONG__RECORDS__POPULATION__INIT;
    rec.personal_id = KEY;
    rec.full_name = "L\xc3\xaa Th\xe1\xbb\x8b H\xc3\xa0";
    rec.date_of_birth = DOB;
    rec.current_province = "38";
    rec.current_address = "Thanh H\xc3\xb3"
                          "a";
    uint8_t payload[512];
    Lienthong__Change c = LIENTHONG__CHANGE__INIT, *cp = &c;
    c.key = KEY;
    c.payload.data = payload;
    c.payload.len = lienthong__records__population__pack(&rec, payload);
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT;
    pub.request_id = 7;
    pub.dataset = DS;
    pub.changes = &cp;
    pub.n_changes = 1;
    Lienthong__Envelope env;
    lt_wire_env_init(&env);
    env.body_case = LIENTHONG__ENVELOPE__BODY_PUBLISH;
    env.publish = &pub;
    Lienthong__Envelope *rep = NULL;
    int rc = p.sock && lt_it_peer_send_env(&p, &env, 5000) == 0 &&
                     (rep = lt_it_peer_expect(&p, LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK, 10000))
                 ? 0
                 : -1;
    lt_wire_free(&rep);
    if (p.sock)
        zmq_close(p.sock);
    return rc;
}

/* The rate of slow-app, requests per second. */
static const char *g_slow_rate = "1";
/* The gateway configuration the API reads (NULL: the caller's). */
static const char *g_gateway_conf;

/* Writes api config `name` listening on port with `extra` settings (TLS),
 * its audit file name-audit.jsonl unless extra sets one; the tokens are
 * made once, by the first call. */
static int s_write_config(const char *name, int port, const char *extra)
{
    static char hash[2][65];
    char path[PATH_MAX + 64], text[2 * PATH_MAX + 2048];
    if (!hash[0][0] && (lt_it_api_token(g_fed.dir, "hr-portal", g_tokens[0], hash[0]) ||
                        lt_it_api_token(g_fed.dir, "slow-app", g_tokens[1], hash[1])))
        return -1;
    char audit[PATH_MAX + 32] = ""; /* unless extra sets one */
    if (!strstr(extra, "audit_file"))
        snprintf(audit, sizeof audit, "audit_file = \"%s-audit.jsonl\";\n", name);
    snprintf(text, sizeof text,
             "gateway_config = \"%s\";\nport = %d;\n%s%s"
             "apps = (\n"
             "  { name = \"hr-portal\"; token_hash = \"%s\";\n"
             "    datasets = [\"" DS "\", \"" DS_UNLISTED "\"];\n"
             "    fields = [\"full_name\", \"date_of_birth\", \"sex\"]; purposes = [\"KYC\"]; rate "
             "= 200; },\n"
             "  { name = \"slow-app\"; token_hash = \"%s\"; datasets = [\"" DS "\"];\n"
             "    fields = [\"full_name\"]; purposes = [\"KYC\"]; rate = %s; } );\n",
             g_gateway_conf ? g_gateway_conf : g_caller->conf_path, port, audit, extra, hash[0],
             hash[1], g_slow_rate);
    snprintf(path, sizeof path, "%s/%s.conf", g_fed.dir, name);
    return lt_it_write_file(path, text);
}

/* Starts `lienthong api` with config `name`, allowed nofile open files
 * (0: as this process); ready when url/healthz answers curl with curl_opts
 * (the CA for TLS). */
static int s_start_api(const char *name, const char *url, const char *curl_opts, int nofile,
                       pid_t *pid)
{
    char conf[PATH_MAX + 64], log[PATH_MAX + 64];
    snprintf(conf, sizeof conf, "%s/%s.conf", g_fed.dir, name);
    snprintf(log, sizeof log, "%s/%s.log", g_fed.dir, name);
    *pid = fork();
    if (*pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        umask(022); /* as an API started by hand: its files' modes must not depend on it */
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        struct rlimit rl = {(rlim_t)nofile, (rlim_t)nofile};
        if (nofile && setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(126);
        execl(lt_it_binary(), "lienthong", "api", "--config", conf, (char *)NULL);
        _exit(127);
    }
    char cmd[2 * PATH_MAX + 128];
    snprintf(cmd, sizeof cmd, "curl -sf %s -o /dev/null %s/healthz", curl_opts, url);
    for (int64_t end = lt_it_ms() + READY_MS; *pid > 0 && lt_it_ms() < end; usleep(100000))
        if (system(cmd) == 0)
            return 0;
    return -1;
}

/* The plain API for most tests, on a free port. Its audit file exists
 * already, mode 0644, as an API before 0600 was enforced made it under
 * umask 022: the start must narrow it (test_curl_and_audit). */
static int s_plain_api(void)
{
    char audit[PATH_MAX + 32];
    int port = lt_it_free_port();
    snprintf(g_url, sizeof g_url, "http://127.0.0.1:%d", port);
    snprintf(audit, sizeof audit, "%s/api-audit.jsonl", g_fed.dir);
    return lt_it_write_file(audit, "") || chmod(audit, 0644) != 0 ||
           s_write_config("api", port, "") || s_start_api("api", g_url, "", 0, &g_api);
}

static int suite_init(void)
{
    const char *step =
        lt_it_owner_caller(&g_fed, "VN", ID_OWNER, ID_CALLER, s_source, &g_owner, &g_caller)
            ? "federation and gateway configs"
        : lt_it_gw_run(g_owner, READY_MS) || lt_it_gw_run(g_caller, READY_MS) ? "gateways"
        : s_publish()                                                         ? "publish"
        : lt_it_gw_wait_peer(g_caller, ID_OWNER, READY_MS)                    ? "peering"
        : s_plain_api()                                                       ? "api start"
                                                                              : NULL;
    if (step) {
        char cmd[PATH_MAX + 64];
        fprintf(stderr, "test_api: set-up failed at: %s\n", step);
        snprintf(cmd, sizeof cmd, "tail -20 %s/api.log >&2", g_fed.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "test_api: no api log\n");
        return -1;
    }
    return 0;
}

static int suite_clean(void)
{
    if (g_api > 0) {
        kill(g_api, SIGTERM);
        waitpid(g_api, NULL, 0);
    }
    lt_it_fed_cleanup(&g_fed);
    return 0;
}

static int s_curl(const char *opts, const char *url, const char *out, int *curl_rc);

static void test_python_client(void)
{
    char cmd[PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd,
             "LT_API_URL=%s LT_TOKEN_HR=%s LT_TOKEN_SLOW=%s LT_KEY=" KEY " LT_DS=" DS
             " LT_DS_UNLISTED=" DS_UNLISTED " LT_DOB=" DOB " python3 %s/api_client.py",
             g_url, g_tokens[0], g_tokens[1], LT_IT_SRC_DIR);
    CU_ASSERT_EQUAL(system(cmd), 0);
    /* Each family of the API's exposition, its own and its gateway's, has
     * the # HELP text its row in the metrics reference gives it. */
    char url[128], out[PATH_MAX + 64], differ[4096];
    uint8_t *text = NULL;
    size_t len = 0;
    int curl_rc;
    snprintf(url, sizeof url, "%s/metrics", g_url);
    snprintf(out, sizeof out, "%s/metrics-help.txt", g_fed.dir);
    CU_ASSERT_EQUAL(s_curl("-m 20", url, out, &curl_rc), 200);
    LT_IT_REQUIRE(lt_file_read(out, 1 << 24, &text, &len) == 0);
    int n = lt_it_metrics_help_differs((const char *)text, LT_IT_DOCS, differ, sizeof differ);
    if (n != 0)
        fprintf(stderr, "\n  # HELP differs from the table of %s: %s\n", LT_IT_DOCS, differ);
    CU_ASSERT_EQUAL(n, 0);
out:
    free(text);
}

/* curl, and the audit entry of the caller's gateway naming application,
 * officer and case (PROTOCOL.md 8.5). */
static void test_curl_and_audit(void)
{
    char cmd[2 * PATH_MAX + 1024], out[PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/curl.json", g_fed.dir);
    snprintf(cmd, sizeof cmd,
             "curl -sS -o %s -w '%%{http_code}' -H 'Authorization: Bearer %s' "
             "-H 'Content-Type: application/json' -d '{\"dataset\":\"" DS "\",\"key\":\"" KEY
             "\",\"purpose\":\"KYC\",\"officer\":\"can-bo-42\",\"case_ref\":\"HS-2026-77\"}' "
             "%s/v1/lookup | grep -qx 200",
             out, g_tokens[0], g_url);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT(lt_it_file_contains(out, "\"signature\":\"verified\""));
    CU_ASSERT(lt_it_file_contains(out, "\"full_name\""));
    snprintf(out, sizeof out, "%s/audit.txt", g_fed.dir);
    const char *args[] = {"audit", "--config", g_caller->conf_path, "--subject", KEY, NULL};
    int found = 0;
    for (int64_t end = lt_it_ms() + 5000; !found && lt_it_ms() < end; usleep(200000))
        found = lt_it_run_cli(g_fed.dir, out, args, 10000) == 0 &&
                lt_it_file_contains(out, "by application hr-portal, officer can-bo-42") &&
                lt_it_file_contains(out, "HS-2026-77");
    CU_ASSERT(found);
    const char *verify[] = {"audit", "--config", g_caller->conf_path, "--verify", NULL};
    CU_ASSERT_EQUAL(lt_it_run_cli(g_fed.dir, out, verify, 10000), 0);
    snprintf(out, sizeof out, "%s/api-audit.jsonl", g_fed.dir);
    CU_ASSERT(lt_it_file_contains(out, "\"reason\":\"grant_field\""));
    struct stat st;
    CU_ASSERT(stat(out, &st) == 0 && (st.st_mode & 07777) == 0600); /* personal ids */
}

/* /readyz turns unready when the store is not writable, and back. */
static void test_readyz_store(void)
{
    char store[PATH_MAX + 64], cmd[512];
    snprintf(store, sizeof store, "%s/store.db", g_caller->data_dir);
    snprintf(cmd, sizeof cmd, "curl -s -o /dev/null -w '%%{http_code}' %s/readyz | grep -qx ",
             g_url);
    char want[600];
    snprintf(want, sizeof want, "%s200", cmd);
    CU_ASSERT_EQUAL(system(want), 0);
    CU_ASSERT_EQUAL(chmod(store, 0400), 0);
    snprintf(want, sizeof want, "%s503", cmd);
    CU_ASSERT_EQUAL(system(want), 0);
    CU_ASSERT_EQUAL(chmod(store, 0600), 0);
    snprintf(want, sizeof want, "%s200", cmd);
    CU_ASSERT_EQUAL(system(want), 0);
}

/* SIGTERM stops `lienthong api` with status 0 (under the sanitizers: with
 * nothing leaked); on failure the tail of its log says why. */
static int s_stop_api(pid_t *pid, const char *name)
{
    int st = 0;
    if (*pid <= 0 || kill(*pid, SIGTERM) != 0 || waitpid(*pid, &st, 0) != *pid)
        return -1;
    *pid = 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "tail -40 %s/%s.log >&2", g_fed.dir, name);
    if (system(cmd) != 0)
        fprintf(stderr, "test_api: no log of %s\n", name);
    return -1;
}

/* Writes conf, the caller's gateway configuration with a local socket that
 * does not exist: a gateway that is not running; and no directory, neither
 * the configured file nor an adopted copy in data_dir. 0, or -1. */
static int s_nowhere_conf(char *conf, size_t len)
{
    char cmd[6 * PATH_MAX + 512];
    snprintf(conf, len, "%s/gw-nowhere.conf", g_fed.dir);
    /* The directory nowhere: /v1/datasets, which reads it, fails. */
    snprintf(cmd, sizeof cmd,
             "sed -e 's|^local_socket = .*|local_socket = \"%s/nowhere/gw.sock\";|'"
             " -e 's|^directory = \"[^\"]*\"|directory = \"%s/nowhere/dir.bin\"|'"
             " -e 's|^data_dir = .*|data_dir = \"%s/nowhere/data\";|' %s >%s",
             g_fed.dir, g_fed.dir, g_fed.dir, g_caller->conf_path, conf);
    return system(cmd) == 0 && lt_it_file_contains(conf, "nowhere/gw.sock") ? 0 : -1;
}

/* An API whose gateway is not running (its gateway configuration names a
 * socket that does not exist) answers 503 GATEWAY_UNAVAILABLE with a fixed
 * message, the detail (the socket's path, how to start the gateway) in its
 * log only: the answer quoted the path. */
static void test_error_detail(void)
{
    char url[64], conf[PATH_MAX + 64], out[PATH_MAX + 64], log[PATH_MAX + 64], opts[256];
    pid_t api = 0;
    int curl_rc, port = lt_it_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(out, sizeof out, "%s/nowhere.json", g_fed.dir);
    snprintf(log, sizeof log, "%s/api-nowhere.log", g_fed.dir);
    LT_IT_REQUIRE(s_nowhere_conf(conf, sizeof conf) == 0);
    g_gateway_conf = conf;
    int written = s_write_config("api-nowhere", port, "");
    g_gateway_conf = NULL;
    LT_IT_REQUIRE(written == 0);
    LT_IT_REQUIRE(s_start_api("api-nowhere", url, "", 0, &api) == 0);
    snprintf(opts, sizeof opts, "-H 'Authorization: Bearer %s'", g_tokens[0]);
    char status[128];
    snprintf(status, sizeof status, "%s/v1/status", url);
    CU_ASSERT_EQUAL(s_curl(opts, status, out, &curl_rc), 503);
    CU_ASSERT(lt_it_file_contains(out, "\"error\":\"GATEWAY_UNAVAILABLE\""));
    CU_ASSERT(!lt_it_file_contains(out, "nowhere"));
    CU_ASSERT(!lt_it_file_contains(out, "/"));
    CU_ASSERT(lt_it_file_contains(log, "nowhere/gw.sock"));
    CU_ASSERT_EQUAL(s_stop_api(&api, "api-nowhere"), 0);
out:
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

/* 1 once url/metrics says n requests are in flight, waiting up to 10 s
 * (a curl started on a loaded machine may take a while; each scrape up to
 * 3 s more while the gateway is stopped, STATUS_MS in lt_api.c). A
 * request counts from when the API has taken it in under the
 * configuration in force: a fixed pause after curl had sent it was at
 * times too short, and a SIGHUP then came first. */
static int s_in_flight_is(const char *url, int n)
{
    char cmd[256], line[128];
    snprintf(cmd, sizeof cmd,
             "curl -sS -m 10 %s/metrics | grep '^lienthong_http_requests_in_flight '", url);
    for (int64_t end = lt_it_ms() + 10000;; usleep(100000)) {
        FILE *p = popen(cmd, "r");
        int seen = -1;
        if (p && fgets(line, sizeof line, p))
            seen = atoi(line + strlen("lienthong_http_requests_in_flight "));
        if (p)
            pclose(p);
        if (seen == n)
            return 1;
        if (lt_it_ms() >= end) {
            fprintf(stderr, "\n  %d requests in flight, not %d\n", seen, n);
            return 0;
        }
    }
}

/* A lookup in flight when SIGTERM comes (the caller's gateway stopped with
 * SIGSTOP for a second holds it) gets its answer: the API stops taking
 * connections, lets the request finish, then exits 0. MHD_stop_daemon at
 * once cut it, and curl saw an empty reply. */
static void test_stop_in_flight(void)
{
    char url[64], cmd[5 * PATH_MAX + 1024], code[PATH_MAX + 64], rc[PATH_MAX + 64];
    pid_t api = 0;
    int port = lt_it_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(code, sizeof code, "%s/drain.code", g_fed.dir);
    snprintf(rc, sizeof rc, "%s/drain.rc", g_fed.dir);
    LT_IT_REQUIRE(s_write_config("api-drain", port, "") == 0);
    LT_IT_REQUIRE(s_start_api("api-drain", url, "", 0, &api) == 0);
    snprintf(
        cmd, sizeof cmd,
        "(curl -sS -m 20 -o /dev/null -w '%%{http_code}' "
        "-H 'Authorization: Bearer %s' "
        "-H 'Content-Type: application/json' -d '{\"dataset\":\"" DS "\",\"key\":\"" KEY
        "\",\"purpose\":\"KYC\",\"officer\":\"o-1\",\"case_ref\":\"c-1\"}' %s/v1/lookup >%s 2>&1; "
        "echo $? >%s.tmp; mv %s.tmp %s) &",
        g_tokens[0], url, code, rc, rc, rc);
    LT_IT_REQUIRE(lt_it_gw_signal(g_caller, SIGSTOP) == 0);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT(s_in_flight_is(url, 1)); /* taken in: SIGTERM lets it finish */
    CU_ASSERT_EQUAL(kill(api, SIGTERM), 0);
    usleep(1000000);
    CU_ASSERT(lt_it_gw_signal(g_caller, SIGCONT) == 0);
    int st = -1;
    CU_ASSERT_EQUAL(waitpid(api, &st, 0), api);
    api = 0;
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int64_t end = lt_it_ms() + 20000; access(rc, F_OK) != 0 && lt_it_ms() < end;)
        usleep(100000);
    CU_ASSERT(lt_it_file_contains(rc, "0"));
    int answered = lt_it_file_contains(code, "200") || lt_it_file_contains(code, "503") ||
                   lt_it_file_contains(code, "504");
    if (!answered) {
        snprintf(cmd, sizeof cmd, "cat %s >&2; tail -5 %s/api-drain.log >&2", code, g_fed.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "test_api: no curl output\n");
    }
    CU_ASSERT(answered);
out:
    lt_it_gw_signal(g_caller, SIGCONT);
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

/* Runs api_stop_busy.py with askers clients of the workers against API
 * config name (extra added), its gateway stopped meanwhile: 0 when the
 * script passed and the API exited 0, its stop taking *stop_ms (from the
 * SIGTERM, a second into the script, to the exit). */
static int s_stop_busy(const char *name, const char *extra, int askers, int64_t *stop_ms)
{
    char url[64], cmd[2 * PATH_MAX + 256];
    pid_t api = 0;
    int port = lt_it_free_port(), st = -1, rc = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    if (s_write_config(name, port, extra) != 0 || s_start_api(name, url, "", 0, &api) != 0)
        goto out;
    snprintf(cmd, sizeof cmd,
             "LT_API_URL=%s LT_API_PID=%d LT_TOKEN_HR=%s LT_DS=" DS " LT_KEY=" KEY
             " LT_ASKERS=%d python3 %s/api_stop_busy.py",
             url, (int)api, g_tokens[0], askers, LT_IT_SRC_DIR);
    if (lt_it_gw_signal(g_caller, SIGSTOP) != 0)
        goto out;
    int64_t t0 = lt_it_ms();
    rc = system(cmd) == 0 ? 0 : -1;
    if (lt_it_gw_signal(g_caller, SIGCONT) != 0 || waitpid(api, &st, 0) != api)
        rc = -1;
    *stop_ms = lt_it_ms() - t0 - 1000;
    api = 0;
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        rc = -1;
        fprintf(stderr, "\n  the API %s %d\n", WIFSIGNALED(st) ? "died of signal" : "exited",
                WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        snprintf(cmd, sizeof cmd, "tail -20 %s/%s.log >&2", g_fed.dir, name);
        if (system(cmd) != 0)
            fprintf(stderr, "test_api: no log of %s\n", name);
    }
out:
    lt_it_gw_signal(g_caller, SIGCONT);
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
    return rc;
}

/* SIGTERM while kept-alive connections keep asking /readyz and /metrics,
 * and lookups, their gateway stopped (api_stop_busy.py): the first are
 * the workers' jobs, and the connections open ask on through the stop,
 * after the workers have stopped, while the lookups failed at the stop
 * are answered; the API answers them 503 and exits 0. It crashed when
 * the stop freed the workers' queue while libmicrohttpd's threads still
 * served. */
static void test_stop_busy(void)
{
    int64_t ms = 0;
    CU_ASSERT_EQUAL(s_stop_busy("api-stop-busy", "", 12, &ms), 0);
}

/* A stop while more requests wait for the workers than they can serve in
 * one round, their gateway stopped: the drain waits request_timeout_ms
 * plus its grace (6 s), the jobs running end within their own timeout
 * (3 s for /metrics and /readyz), and those still queued are answered 503
 * at once. Run one round of 16 after another, 100 clients' jobs kept the
 * stop some 20 s beyond the drain, past what the unit's TimeoutStopSec=
 * allows. */
static void test_stop_queued(void)
{
    int64_t ms = 0;
    CU_ASSERT_EQUAL(s_stop_busy("api-stop-queued", "max_connections_per_ip = 128;\n", 100, &ms), 0);
    if (ms > 6000 + 3000 + 3000)
        fprintf(stderr, "\n  the stop took %lld ms\n", (long long)ms);
    CU_ASSERT(ms <= 6000 + 3000 + 3000);
}

/* A profile that waited for a worker past its timeout_ms, the workers
 * held by profiles waiting for a stopped gateway (api_queue_wait.py), is
 * answered 504 as soon as a worker takes it: its deadline ran while it
 * waited. It was given its whole timeout again, and answered that late.
 * Meanwhile /readyz, on the probers, answers after its own wait: it queued
 * behind the profiles when they shared the workers. */
static void test_queue_wait(void)
{
    char url[64], cmd[2 * PATH_MAX + 256];
    pid_t api = 0;
    int port = lt_it_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    LT_IT_REQUIRE(s_write_config("api-queue", port, "") == 0);
    LT_IT_REQUIRE(s_start_api("api-queue", url, "", 0, &api) == 0);
    snprintf(cmd, sizeof cmd,
             "LT_API_URL=%s LT_TOKEN_HR=%s LT_DS=" DS " LT_KEY=" KEY
             " python3 %s/api_queue_wait.py",
             url, g_tokens[0], LT_IT_SRC_DIR);
    LT_IT_REQUIRE(lt_it_gw_signal(g_caller, SIGSTOP) == 0);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT(lt_it_gw_signal(g_caller, SIGCONT) == 0);
    CU_ASSERT_EQUAL(s_stop_api(&api, "api-queue"), 0);
out:
    lt_it_gw_signal(g_caller, SIGCONT);
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

/* Writes api config name (NULL: "api-reload") on port: app reload-a with
 * hash_a, and reload-b with hash_b unless NULL, then extra (a broken line). */
static int s_reload_config_as(const char *name, int port, const char *hash_a, const char *hash_b,
                              const char *extra)
{
    char path[PATH_MAX + 64], b[512] = "", text[PATH_MAX + 2048];
    if (hash_b)
        snprintf(b, sizeof b,
                 ",\n  { name = \"reload-b\"; token_hash = \"%s\"; datasets = [\"" DS "\"];\n"
                 "    fields = [\"full_name\"]; purposes = [\"KYC\"]; }",
                 hash_b);
    snprintf(text, sizeof text,
             "gateway_config = \"%s\";\nport = %d;\naudit_file = \"api-reload-audit.jsonl\";\n%s"
             "apps = (\n"
             "  { name = \"reload-a\"; token_hash = \"%s\"; datasets = [\"" DS "\"];\n"
             "    fields = [\"full_name\"]; purposes = [\"KYC\"]; }%s );\n",
             g_caller->conf_path, port, extra, hash_a, b);
    snprintf(path, sizeof path, "%s/%s.conf", g_fed.dir, name ? name : "api-reload");
    return lt_it_write_file(path, text);
}

static int s_reload_config(int port, const char *hash_a, const char *hash_b, const char *extra)
{
    return s_reload_config_as(NULL, port, hash_a, hash_b, extra);
}

/* The tokens of the reload tests, each with its hash: two of reload-a
 * (a1, a2), one of reload-b. 0, or -1. */
static int s_reload_tokens(char a1[65], char ha1[65], char a2[65], char ha2[65], char b[65],
                           char hb[65])
{
    return lt_it_api_token(g_fed.dir, "reload-a", a1, ha1) ||
                   lt_it_api_token(g_fed.dir, "reload-a", a2, ha2) ||
                   lt_it_api_token(g_fed.dir, "reload-b", b, hb)
               ? -1
               : 0;
}

/* The HTTP status of GET url/v1/datasets with token, or -1. */
static int s_token_status(const char *url, const char *token)
{
    char opts[128], u[128], out[PATH_MAX + 64];
    int curl_rc;
    snprintf(opts, sizeof opts, "-H 'Authorization: Bearer %s'", token);
    snprintf(u, sizeof u, "%s/v1/datasets", url);
    snprintf(out, sizeof out, "%s/reload.json", g_fed.dir);
    return s_curl(opts, u, out, &curl_rc);
}

/* SIGHUP, then waits for the log to say `want`, the count-th time. */
static int s_hup_said(pid_t api, const char *log, const char *want, int count)
{
    if (kill(api, SIGHUP) != 0)
        return 0;
    for (int64_t end = lt_it_ms() + 10000; lt_it_ms() < end; usleep(100000)) {
        char cmd[PATH_MAX + 256], n[16] = "";
        snprintf(cmd, sizeof cmd, "grep -c '%s' %s", want, log);
        FILE *p = popen(cmd, "r");
        if (p && !fgets(n, sizeof n, p))
            n[0] = 0;
        if (p)
            pclose(p);
        if (atoi(n) >= count)
            return 1;
    }
    return 0;
}

/* A lookup with token in flight while the caller's gateway is stopped
 * (SIGSTOP): started in the background, its status into code. */
static int s_lookup_bg(const char *url, const char *token, const char *code)
{
    char cmd[4 * PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd,
             "(curl -sS -m 20 -o /dev/null -w '%%{http_code}' "
             "-H 'Authorization: Bearer %s' "
             "-H 'Content-Type: application/json' -d '{\"dataset\":\"" DS "\",\"key\":\"" KEY
             "\",\"purpose\":\"KYC\",\"officer\":\"o-1\",\"case_ref\":\"c-1\"}' %s/v1/lookup "
             ">%s.tmp 2>&1; mv %s.tmp %s) &",
             token, url, code, code, code);
    return system(cmd);
}

/* SIGHUP re-reads the configuration (docs/operations.md, "Reloading the
 * HTTP API"): A's token changed and B added take effect for new requests,
 * a lookup of A's begun before finishes under the old configuration, a
 * setting that needs a restart is said to, and a configuration that does not
 * load leaves the running one, the log naming the file and the setting.
 * SIGHUP was logged and ignored. */
static void test_reload(void)
{
    char url[64], log[PATH_MAX + 64], code[PATH_MAX + 64], a1[65], a2[65], b[65], ha1[65], ha2[65],
        hb[65];
    pid_t api = 0;
    int port = lt_it_free_port(), stopped = 0;
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/api-reload.log", g_fed.dir);
    snprintf(code, sizeof code, "%s/reload.code", g_fed.dir);
    LT_IT_REQUIRE(s_reload_tokens(a1, ha1, a2, ha2, b, hb) == 0);
    LT_IT_REQUIRE(s_reload_config(port, ha1, NULL, "") == 0);
    LT_IT_REQUIRE(s_start_api("api-reload", url, "", 0, &api) == 0);
    CU_ASSERT_EQUAL(s_token_status(url, a1), 200);
    CU_ASSERT_EQUAL(s_token_status(url, b), 401);

    /* A lookup of A in flight (its gateway stopped) across the reload. */
    CU_ASSERT(s_in_flight_is(url, 0));
    LT_IT_REQUIRE(lt_it_gw_signal(g_caller, SIGSTOP) == 0);
    stopped = 1;
    CU_ASSERT_EQUAL(s_lookup_bg(url, a1, code), 0);
    CU_ASSERT(s_in_flight_is(url, 1)); /* taken in under the configuration in force */
    LT_IT_REQUIRE(s_reload_config(port, ha2, hb, "max_body = 2048;\n") == 0);
    CU_ASSERT(s_hup_said(api, log,
                         "reloaded .*api-reload.conf: applications: 1 added (reload-b), "
                         "0 removed, 1 changed (reload-a), 0 unchanged; 2 in force",
                         1));
    CU_ASSERT(lt_it_file_contains(log, "max_body changed: takes effect at the next restart "
                                       "(systemctl restart lienthong-api); keeping the running "
                                       "value"));
    CU_ASSERT_EQUAL(s_token_status(url, a1), 401);
    CU_ASSERT_EQUAL(s_token_status(url, a2), 200);
    CU_ASSERT_EQUAL(s_token_status(url, b), 200);
    CU_ASSERT(lt_it_gw_signal(g_caller, SIGCONT) == 0);
    stopped = 0;
    for (int64_t end = lt_it_ms() + 20000; access(code, F_OK) != 0 && lt_it_ms() < end;)
        usleep(100000);
    /* Answered as the application it began as, not refused by the new token. */
    CU_ASSERT(lt_it_file_contains(code, "200") || lt_it_file_contains(code, "504"));
    CU_ASSERT(s_in_flight_is(url, 0)); /* its place given back */

    /* A configuration that does not load: the running one stays. */
    LT_IT_REQUIRE(s_reload_config(port, ha1, NULL, "max_in_flight = \"many\";\n") == 0);
    CU_ASSERT(s_hup_said(api, log, "not reloaded, the running configuration stays in force", 1));
    CU_ASSERT(lt_it_file_contains(log, "api-reload.conf:4:"));
    CU_ASSERT(lt_it_file_contains(log, "max_in_flight"));
    CU_ASSERT_EQUAL(s_token_status(url, a1), 401);
    CU_ASSERT_EQUAL(s_token_status(url, a2), 200);
    CU_ASSERT_EQUAL(s_token_status(url, b), 200);

    /* B removed again: its token is refused, A's stays. */
    LT_IT_REQUIRE(s_reload_config(port, ha2, NULL, "max_body = 2048;\n") == 0);
    CU_ASSERT(s_hup_said(api, log,
                         "applications: 0 added, 1 removed (reload-b), 0 changed, 1 "
                         "unchanged; 1 in force",
                         1));
    CU_ASSERT_EQUAL(s_token_status(url, a2), 200);
    CU_ASSERT_EQUAL(s_token_status(url, b), 401);
    CU_ASSERT_EQUAL(waitpid(api, NULL, WNOHANG), 0);
    CU_ASSERT_EQUAL(s_stop_api(&api, "api-reload"), 0);
out:
    if (stopped)
        lt_it_gw_signal(g_caller, SIGCONT);
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

/* Requests of two applications from 8 threads (api_reload_load.py) while
 * 30 reloads swap A's token and add and remove B: each request keeps the
 * configuration it began with, and the last to drop an old one frees it,
 * B's state with it, on whichever thread (lt_api.c, snap_t). Every answer
 * is 200, 401 (a token not in force) or 429, and the API lives on; under
 * the ASan build, a use after free or a leak fails it. */
static void test_reload_load(void)
{
    char url[64], log[PATH_MAX + 64], out[PATH_MAX + 64], cmd[6 * PATH_MAX + 512], a1[65], a2[65],
        b[65], ha1[65], ha2[65], hb[65];
    pid_t api = 0;
    int port = lt_it_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/api-reload-load.log", g_fed.dir);
    snprintf(out, sizeof out, "%s/reload-load.out", g_fed.dir);
    LT_IT_REQUIRE(s_reload_tokens(a1, ha1, a2, ha2, b, hb) == 0);
    LT_IT_REQUIRE(s_reload_config_as("api-reload-load", port, ha1, hb, "") == 0);
    LT_IT_REQUIRE(s_start_api("api-reload-load", url, "", 0, &api) == 0);
    snprintf(cmd, sizeof cmd,
             "(LT_API_URL=%s LT_TOKENS=%s,%s,%s LT_SECONDS=6 python3 %s/api_reload_load.py "
             ">%s.tmp 2>&1; echo \"exit $?\" >>%s.tmp; mv %s.tmp %s) &",
             url, a1, a2, b, LT_IT_SRC_DIR, out, out, out, out);
    LT_IT_REQUIRE(system(cmd) == 0);
    for (int i = 0; i < 30; i++) {
        LT_IT_REQUIRE(s_reload_config_as("api-reload-load", port, i % 2 ? ha1 : ha2,
                                         i % 2 ? hb : NULL, "") == 0);
        LT_IT_REQUIRE(s_hup_said(api, log, "reloaded .*api-reload-load.conf", i + 1));
    }
    for (int64_t end = lt_it_ms() + 30000; access(out, F_OK) != 0 && lt_it_ms() < end;)
        usleep(100000);
    CU_ASSERT(lt_it_file_contains(out, "exit 0"));
    if (!lt_it_file_contains(out, "exit 0")) {
        snprintf(cmd, sizeof cmd, "cat %s >&2", out);
        if (system(cmd) != 0)
            fprintf(stderr, "test_api: no output of api_reload_load.py\n");
    }
    CU_ASSERT_EQUAL(waitpid(api, NULL, WNOHANG), 0);
    CU_ASSERT_EQUAL(s_stop_api(&api, "api-reload-load"), 0);
out:
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

/* Writes api config "api-rename" on port: one application, name, whose
 * token hashes to hash; bodies over 1024 bytes are refused. */
static int s_rename_config(int port, const char *name, const char *hash)
{
    char path[PATH_MAX + 64], text[PATH_MAX + 1024];
    snprintf(text, sizeof text,
             "gateway_config = \"%s\";\nport = %d;\naudit_file = \"api-rename-audit.jsonl\";\n"
             "max_body = 1024;\napps = (\n"
             "  { name = \"%s\"; token_hash = \"%s\"; datasets = [\"" DS "\"];\n"
             "    fields = [\"full_name\"]; purposes = [\"KYC\"]; } );\n",
             g_caller->conf_path, port, name, hash);
    snprintf(path, sizeof path, "%s/api-rename.conf", g_fed.dir);
    return lt_it_write_file(path, text);
}

/* One lookup with token refused for each of three reasons the API gives
 * without the gateway: 400 bad_request (no dataset), 415 content_type,
 * 413 too_large. 1 when each was. */
static int s_three_refusals(const char *url, const char *token)
{
    char opts[2048], u[128], out[PATH_MAX + 64], big[1500];
    int curl_rc, ok = 1;
    snprintf(u, sizeof u, "%s/v1/lookup", url);
    snprintf(out, sizeof out, "%s/rename.json", g_fed.dir);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    snprintf(opts, sizeof opts,
             "-H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '{}'", token);
    ok &= s_curl(opts, u, out, &curl_rc) == 400;
    snprintf(opts, sizeof opts, "-H 'Authorization: Bearer %s' -d '{}'", token);
    ok &= s_curl(opts, u, out, &curl_rc) == 415;
    snprintf(opts, sizeof opts,
             "-H 'Authorization: Bearer %s' -H 'Content-Type: application/json' -d '%s'", token,
             big);
    ok &= s_curl(opts, u, out, &curl_rc) == 413;
    return ok;
}

/* Refusals are summed up per application name and reason, in a table
 * sized for the applications in force. Reloads that rename the one
 * application left the old names' keys until idle for an interval: after
 * four renames within one, the table (2 applications' worth of reasons)
 * was full, and the new name's first refusal went into the others, neither
 * logged nor audited in full. It must be, under its name. */
static void test_reload_renamed(void)
{
    char url[64], log[PATH_MAX + 64], audit[PATH_MAX + 64], token[65], hash[65], name[32],
        want[256];
    pid_t api = 0;
    int port = lt_it_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/api-rename.log", g_fed.dir);
    snprintf(audit, sizeof audit, "%s/api-rename-audit.jsonl", g_fed.dir);
    LT_IT_REQUIRE(lt_it_api_token(g_fed.dir, "rename", token, hash) == 0);
    LT_IT_REQUIRE(s_rename_config(port, "ren-0", hash) == 0);
    LT_IT_REQUIRE(s_start_api("api-rename", url, "", 0, &api) == 0);
    for (int i = 0; i < 4; i++) {
        CU_ASSERT(s_three_refusals(url, token));
        snprintf(name, sizeof name, "ren-%d", i + 1);
        LT_IT_REQUIRE(s_rename_config(port, name, hash) == 0);
        snprintf(want, sizeof want, "applications: 1 added (%s), 1 removed", name);
        CU_ASSERT(s_hup_said(api, log, want, 1));
    }
    CU_ASSERT(s_three_refusals(url, token));
    CU_ASSERT(lt_it_file_contains(log, "400 bad_request for application 'ren-4': "));
    CU_ASSERT(lt_it_file_contains(log, "415 content_type for application 'ren-4'"));
    CU_ASSERT(lt_it_file_contains(log, "413 too_large for application 'ren-4'"));
    CU_ASSERT(lt_it_file_contains(audit, "\"application\":\"ren-4\",\"officer\":\"\","
                                         "\"case_ref\":\"\",\"endpoint\":\"lookup\""));
    CU_ASSERT(!lt_it_file_contains(log, "beyond the"));
    CU_ASSERT_EQUAL(s_stop_api(&api, "api-rename"), 0);
out:
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

static void test_stop(void)
{
    CU_ASSERT_EQUAL(s_stop_api(&g_api, "api"), 0);
}

/* GET url+path with curl (extra options opts); the body goes to out.
 * Returns the HTTP status, or -1 when curl failed (exit code in *curl_rc). */
static int s_curl(const char *opts, const char *url, const char *out, int *curl_rc)
{
    char cmd[3 * PATH_MAX + 256], code[16] = "";
    snprintf(cmd, sizeof cmd, "curl -sS %s -o %s -w '%%{http_code}' %s", opts, out, url);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    if (!fgets(code, sizeof code, p))
        code[0] = 0;
    int rc = pclose(p);
    *curl_rc = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return *curl_rc == 0 ? atoi(code) : -1;
}

/* /readyz of a gateway that does not answer (stopped with SIGSTOP): 503,
 * naming it, after one local call's wait (STATUS_MS in lt_api.c, 3 s), not
 * two: the gateway's own readiness is not asked when its status went
 * unanswered. Ready again once it runs. Meanwhile /v1/status, and a
 * pre-fill, which asks the status first, answer 504 ERR_TIMEOUT as every
 * other call the gateway takes but does not answer in time; they answered
 * 503 GATEWAY_UNAVAILABLE, kept for a gateway that cannot be reached
 * (test_error_detail). */
static void test_readyz_gateway_stopped(void)
{
    char out[PATH_MAX + 64], url[128];
    int curl_rc, code = 0;
    snprintf(out, sizeof out, "%s/readyz-stopped.json", g_fed.dir);
    snprintf(url, sizeof url, "%s/readyz", g_url);
    LT_IT_REQUIRE(lt_it_gw_signal(g_caller, SIGSTOP) == 0);
    int64_t t0 = lt_it_ms();
    code = s_curl("-m 20", url, out, &curl_rc);
    int64_t took = lt_it_ms() - t0;
    /* A pre-fill of every stream asks the status first: its failure is
     * answered as /v1/status answers it, a code with its one status and
     * the code's fixed message (docs/api/README.md). It was answered with
     * the call's status under GATEWAY_UNAVAILABLE, whatever that status,
     * and a message of its own. */
    char prefill[256], status[256], opts[128], pout[PATH_MAX + 64], sout[PATH_MAX + 64];
    int pcode, scode;
    snprintf(pout, sizeof pout, "%s/prefill-stopped.json", g_fed.dir);
    snprintf(sout, sizeof sout, "%s/status-stopped.json", g_fed.dir);
    snprintf(prefill, sizeof prefill, "'%s/v1/prefill/%s?officer=o-1&purpose=KYC'", g_url, KEY);
    snprintf(status, sizeof status, "%s/v1/status", g_url);
    snprintf(opts, sizeof opts, "-m 20 -H 'Authorization: Bearer %s'", g_tokens[0]);
    pcode = s_curl(opts, prefill, pout, &curl_rc);
    scode = s_curl(opts, status, sout, &curl_rc);
    /* /metrics answers 200 with the API's own families, so Prometheus'
     * `up` stays 1: lienthong_gateway_up says the gateway's part is
     * missing (docs/operations.md, "Metrics reference"). */
    char murl[128], mout[PATH_MAX + 64];
    snprintf(murl, sizeof murl, "%s/metrics", g_url);
    snprintf(mout, sizeof mout, "%s/metrics-stopped.txt", g_fed.dir);
    int mcode = s_curl("-m 20", murl, mout, &curl_rc);
    CU_ASSERT(lt_it_gw_signal(g_caller, SIGCONT) == 0);
    if (mcode != 200 || !lt_it_file_contains(mout, "\nlienthong_gateway_up 0\n"))
        lt_it_file_dump(mout);
    CU_ASSERT_EQUAL(mcode, 200);
    CU_ASSERT(lt_it_file_contains(mout, "\nlienthong_gateway_up 0\n"));
    CU_ASSERT(!lt_it_file_contains(mout, "lienthong_store_writable"));
    const char *want = "{\"error\":\"ERR_TIMEOUT\",\"message\":\"no answer from the gateway in "
                       "time\"}";
    if (pcode != 504 || !lt_it_file_contains(pout, want))
        lt_it_file_dump(pout);
    if (scode != 504 || !lt_it_file_contains(sout, want))
        lt_it_file_dump(sout);
    CU_ASSERT_EQUAL(pcode, 504);
    CU_ASSERT(lt_it_file_contains(pout, want));
    CU_ASSERT_EQUAL(scode, 504);
    CU_ASSERT(lt_it_file_contains(sout, want));
    CU_ASSERT_EQUAL(code, 503);
    CU_ASSERT(lt_it_file_contains(out, "\"peers\":\"the gateway does not answer\""));
    CU_ASSERT(lt_it_file_contains(out, "\"gateway\":\"the gateway does not answer\""));
    if (took >= 5500)
        fprintf(stderr, "\n  /readyz of a stopped gateway took %lld ms\n", (long long)took);
    CU_ASSERT(took < 5500); /* one 3 s wait, not two */
    for (int64_t end = lt_it_ms() + 15000; code != 200 && lt_it_ms() < end; usleep(250000))
        code = s_curl("", url, out, &curl_rc);
    CU_ASSERT_EQUAL(code, 200);
    mcode = s_curl("-m 20", murl, mout, &curl_rc);
    CU_ASSERT_EQUAL(mcode, 200);
    CU_ASSERT(lt_it_file_contains(mout, "\nlienthong_gateway_up 1\n"));
    CU_ASSERT(lt_it_file_contains(mout, "\nlienthong_store_writable 1\n"));
out:
    (void)0;
}

/* A throwaway self-signed certificate for 127.0.0.1 in dir (cert.pem, key.pem). */
static int s_make_cert(const char *dir)
{
    char cmd[4 * PATH_MAX + 512];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout %s/key.pem -out %s/cert.pem -days 1 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 >%s/openssl.log 2>&1",
             dir, dir, dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* TLS: a second `lienthong api` with a self-signed certificate, called by
 * curl --cacert and by Python's ssl module; without the CA, or in plain
 * HTTP, nothing is answered. */
static void test_tls(void)
{
    char tls[PATH_MAX + 16], url[64], opts[PATH_MAX + 64], out[PATH_MAX + 64];
    char cmd[4 * PATH_MAX + 1024];
    pid_t api = 0;
    int curl_rc;
    snprintf(tls, sizeof tls, "%s/tls", g_fed.dir);
    snprintf(opts, sizeof opts, "--cacert %s/cert.pem", tls);
    int port = lt_it_free_port();
    snprintf(url, sizeof url, "https://127.0.0.1:%d", port);
    LT_IT_REQUIRE(s_make_cert(tls) == 0);
    LT_IT_REQUIRE(s_write_config("api-tls", port,
                                 "tls_cert = \"tls/cert.pem\";\ntls_key = \"tls/key.pem\";\n") ==
                  0);
    LT_IT_REQUIRE(s_start_api("api-tls", url, opts, 0, &api) == 0);
    /* valid for a day: the start warns, as --check does */
    snprintf(out, sizeof out, "%s/api-tls.log", g_fed.dir);
    CU_ASSERT(lt_it_file_contains(out, "WARN lienthong-api member=" ID_CALLER " api: "));
    CU_ASSERT(lt_it_file_contains(out, "tls: the certificate in tls_cert "));
    snprintf(out, sizeof out, "%s/tls-body.json", g_fed.dir);
    snprintf(cmd, sizeof cmd,
             "curl -sS %s -o %s -w '%%{http_code}' -H 'Authorization: Bearer %s' "
             "-H 'Content-Type: application/json' -d '{\"dataset\":\"" DS "\",\"key\":\"" KEY
             "\",\"purpose\":\"KYC\",\"officer\":\"can-bo-7\",\"case_ref\":\"TLS-1\"}' "
             "%s/v1/lookup | grep -qx 200",
             opts, out, g_tokens[0], url);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT(lt_it_file_contains(out, "\"signature\":\"verified\""));
    CU_ASSERT(lt_it_file_contains(out, "\"full_name\""));
    /* curl's own CA store does not know the certificate: 60 is "peer
     * certificate cannot be authenticated". */
    char health[128];
    snprintf(health, sizeof health, "%s/healthz", url);
    CU_ASSERT(s_curl("", health, out, &curl_rc) == -1 && curl_rc == 60);
    snprintf(health, sizeof health, "http://127.0.0.1:%d/healthz", port);
    CU_ASSERT(s_curl("--max-time 5", health, out, &curl_rc) != 200);
    snprintf(cmd, sizeof cmd,
             "LT_API_URL=%s LT_CA=%s/cert.pem LT_TOKEN_HR=%s LT_KEY=" KEY " LT_DS=" DS
             " python3 %s/api_tls.py",
             url, tls, g_tokens[0], LT_IT_SRC_DIR);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT_EQUAL(s_stop_api(&api, "api-tls"), 0);
out:
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

/* /readyz turns unready, naming the reason, when the directory expires: the
 * member's directory is replaced by one that expires 6 s from now (both the
 * configured file and the adopted copy the API also reads): time for the
 * first /readyz, still ready, on a loaded machine. */
static void test_readyz_expired(void)
{
    uint8_t *dir = NULL;
    size_t len = 0;
    char adopted[PATH_MAX + 32], out[PATH_MAX + 64], url[128];
    int curl_rc, code = 0;
    snprintf(adopted, sizeof adopted, "%s/directory.signed", g_caller->data_dir);
    snprintf(out, sizeof out, "%s/readyz.json", g_fed.dir);
    snprintf(url, sizeof url, "%s/readyz", g_url);
    int64_t expires = (int64_t)time(NULL) + 6;
    LT_IT_REQUIRE(lt_it_dir_bytes(&g_fed, 2, 0, expires, NULL, &dir, &len) == 0);
    LT_IT_REQUIRE(lt_it_gw_put_directory(g_caller, dir, len) == 0);
    FILE *f = fopen(adopted, "wb");
    LT_IT_REQUIRE(f != NULL);
    int wrote = fwrite(dir, 1, len, f) == len;
    LT_IT_REQUIRE(fclose(f) == 0 && wrote);
    CU_ASSERT_EQUAL(s_curl("", url, out, &curl_rc), 200);
    CU_ASSERT(lt_it_file_contains(out, "\"directory_expires_in_s\""));
    for (int64_t end = lt_it_ms() + 20000; code != 503 && lt_it_ms() < end; usleep(250000))
        code = s_curl("", url, out, &curl_rc);
    CU_ASSERT_EQUAL(code, 503);
    CU_ASSERT(lt_it_file_contains(out, "\"status\":\"unready\""));
    CU_ASSERT(lt_it_file_contains(out, "directory version 2 expired at"));
    CU_ASSERT(time(NULL) >= expires);
out:
    free(dir);
}

/* The Python example of docs/api/README.md, run as written but for the
 * address, the citizen and the purpose of this federation. */
static void test_doc_example(void)
{
    char cmd[3 * PATH_MAX + 1024], out[PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/doc-example.out", g_fed.dir);
    snprintf(cmd, sizeof cmd,
             "awk '/^```python$/ {on = 1; next} /^```$/ {on = 0} on' %s/../../docs/api/README.md "
             "| sed 's|http://127.0.0.1:8480|%s|; s|038084915725|" KEY
             "|; s|SOCIAL-INSURANCE|KYC|' "
             "| LIENTHONG_TOKEN=%s python3 - >%s 2>&1",
             LT_IT_SRC_DIR, g_url, g_tokens[0], out);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT(lt_it_file_contains(out, "OK verified {'full_name': "));
}

/* Starts `lienthong api` with config name (extra added to it), runs the
 * Python script against it with the tokens, the record, the API's audit
 * file and log and the owner's pid in its environment, then stops the API:
 * 0 when all went well. */
static int s_drive(const char *name, const char *extra, const char *script)
{
    char url[64], cmd[4 * PATH_MAX + 1024];
    pid_t api = 0;
    int port = lt_it_free_port(), rc = -1;
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    if (s_write_config(name, port, extra) != 0 || s_start_api(name, url, "", 0, &api) != 0)
        goto out;
    snprintf(cmd, sizeof cmd,
             "LT_API_URL=%s LT_TOKEN_HR=%s LT_TOKEN_SLOW=%s LT_KEY=" KEY " LT_DS=" DS
             " LT_AUDIT=%s/%s-audit.jsonl LT_LOG=%s/%s.log LT_OWNER_PID=%d python3 %s/%s",
             url, g_tokens[0], g_tokens[1], g_fed.dir, name, g_fed.dir, name, (int)g_owner->pid,
             LT_IT_SRC_DIR, script);
    rc = system(cmd) == 0 ? 0 : -1;
    if (s_stop_api(&api, name) != 0)
        rc = -1;
out:
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
    return rc;
}

/* A second `lienthong api` with small limits (4 connections per address,
 * 1 request in flight per application, a 1 s deadline), driven by
 * api_limits.py: early 401s, summed-up audit of requests without a token,
 * 429 in flight (the place, and the in-flight gauge, given back when a
 * held request's client goes away), capped deadline, per-address limit, refused control
 * characters and text that is not UTF-8, two Content-Length headers,
 * Transfer-Encoding with Content-Length (400, then the connection closes). */
static void test_limits(void)
{
    CU_ASSERT_EQUAL(s_drive("api-limits",
                            "max_connections_per_ip = 4;\nmax_in_flight = 1;\n"
                            "request_timeout_ms = 1000;\n",
                            "api_limits.py"),
                    0);
}

/* A pre-fill, read from this member's replicas while the owners are busy or
 * unreachable, is answered while 16 profiles wait for an owner that does
 * not answer (api_prefill_wait.py): it queued behind them on the profiles'
 * workers, and was answered only once they timed out. */
static void test_prefill_wait(void)
{
    CU_ASSERT_EQUAL(s_drive("api-prefill", "", "api_prefill_wait.py"), 0);
    /* The owner was stopped for a few seconds: its link back before the
     * next case. */
    CU_ASSERT_EQUAL(lt_it_gw_wait_peer(g_caller, ID_OWNER, READY_MS), 0);
}

/* A `lienthong api` with receive_timeout = 2, driven by api_slow.py:
 * clients that send their headers or body a line a second are cut after
 * the deadline (a normal request is served beside 32 of them), a request
 * being served is not; the log then sums up the cuts after the first. A
 * retry loop answered 429 and repeated bad requests: one log and audit
 * line each, then one summing up the others. */
static void test_slow(void)
{
    char log[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/api-slow.log", g_fed.dir);
    CU_ASSERT_EQUAL(s_drive("api-slow", "receive_timeout = 2;\n", "api_slow.py"), 0);
    CU_ASSERT(lt_it_file_contains(log, "more connections closed from 127.0.0.1 in"));
    /* The refusals after the first of the interval, summed up at the stop. */
    CU_ASSERT(lt_it_file_contains(log, "more requests of application 'slow-app' refused in"));
    CU_ASSERT(lt_it_file_contains(log, "11 more requests of application 'hr-portal' refused in"));
    snprintf(log, sizeof log, "%s/api-slow-audit.jsonl", g_fed.dir);
    CU_ASSERT(lt_it_file_contains(log, "\"reason\":\"bad_request\",\"count\":11}"));
}

/* A `lienthong api` with summary_interval = 2, driven by api_summary.py:
 * bursts of 429, 400 and 401 answers each give one log line at once and,
 * with no request after them, their summaries within about an interval
 * (the watch's tick writes them), each refusal counted once. */
static void test_summary(void)
{
    CU_ASSERT_EQUAL(s_drive("api-summary", "summary_interval = 2;\n", "api_summary.py"), 0);
}

/* A `lienthong api` with summary_interval = 2, 8 connections and 4 per
 * address, driven by api_noise.py: libmicrohttpd's messages about clients
 * (a request left incomplete, the connection limit) are summed up, not
 * logged one line each, and the refusals at either limit are counted; a
 * JSON member's name and a query key with escape sequences reach the log
 * escaped. */
static void test_noise(void)
{
    CU_ASSERT_EQUAL(s_drive("api-noise",
                            "summary_interval = 2;\nmax_connections = 8;\n"
                            "max_connections_per_ip = 4;\n",
                            "api_noise.py"),
                    0);
}

/* A `lienthong api` with receive_timeout = 1, 1 connection per address
 * and summary_interval = 2, driven by api_conns.py: connections closed at
 * the deadline and refused at the limit from 20 addresses, 4 beyond those
 * counted apart for each reason: their counts are by reason. */
static void test_conns_beyond(void)
{
    CU_ASSERT_EQUAL(s_drive("api-conns",
                            "receive_timeout = 1;\nmax_connections_per_ip = 1;\n"
                            "summary_interval = 2;\n",
                            "api_conns.py"),
                    0);
}

/* A `lienthong api` with summary_interval = 2 and a gateway that is not
 * running, driven by api_gwdown.py: the failed calls of /readyz and
 * /metrics, which need no token, are summed up in the log (the first in
 * full, then counts), not logged one line each. */
static void test_gateway_down_noise(void)
{
    char conf[PATH_MAX + 64];
    CU_ASSERT_FATAL(s_nowhere_conf(conf, sizeof conf) == 0);
    g_gateway_conf = conf;
    int rc = s_drive("api-down", "summary_interval = 2;\n", "api_gwdown.py");
    g_gateway_conf = NULL;
    CU_ASSERT_EQUAL(rc, 0);
}

/* A third `lienthong api`, allowed 256 open files and with slow-app at
 * 0.5 requests per second, driven by api_flood.py: 200 clients without a
 * token flood /metrics, each call of which takes a local client to the
 * gateway (on one of its workers); the API fits its connections to its
 * descriptors (one each, past a reserve for the workers' clients) and stays up
 * (it aborted in libzmq when each client had a ZeroMQ context of its own);
 * a rate below one per second lets a request through every two seconds. */
static void test_flood(void)
{
    char url[64], cmd[3 * PATH_MAX + 1024], log[PATH_MAX + 64];
    pid_t api = 0;
    int port = lt_it_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/api-flood.log", g_fed.dir);
    g_slow_rate = "0.5";
    int written = s_write_config("api-flood", port, "");
    g_slow_rate = "1";
    LT_IT_REQUIRE(written == 0);
    LT_IT_REQUIRE(s_start_api("api-flood", url, "", 256, &api) == 0);
    CU_ASSERT(lt_it_file_contains(log, "max_connections lowered from 256 to 144"));
    snprintf(cmd, sizeof cmd,
             "LT_API_URL=%s LT_API_PID=%d LT_TOKEN_SLOW=%s python3 %s/api_flood.py", url, (int)api,
             g_tokens[1], LT_IT_SRC_DIR);
    CU_ASSERT_EQUAL(system(cmd), 0);
    CU_ASSERT_EQUAL(s_stop_api(&api, "api-flood"), 0);
out:
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

/* `lienthong api --config NAME.conf --check` in the federation's directory:
 * its exit code, its output in NAME.check. */
static int s_check(const char *name, char *out, size_t cap)
{
    char conf[PATH_MAX + 64];
    snprintf(conf, sizeof conf, "%s/%s.conf", g_fed.dir, name);
    snprintf(out, cap, "%s/%s.check", g_fed.dir, name);
    const char *args[] = {"api", "--config", conf, "--check", NULL};
    return lt_it_run_cli(g_fed.dir, out, args, 10000);
}

/* Config `name` with `extra` fails --check (exit 1) with `want` and its
 * fix: each of these passed --check, then the start failed. */
static void s_check_fails(const char *name, int port, const char *extra, const char *want)
{
    char out[PATH_MAX + 64];
    CU_ASSERT_FATAL(s_write_config(name, port, extra) == 0);
    int rc = s_check(name, out, sizeof out);
    int said = lt_it_file_contains(out, want) && lt_it_file_contains(out, "fix: ") &&
               lt_it_file_contains(out, "1 problem to fix before starting the API");
    if (rc != 1 || !said)
        fprintf(stderr, "\n  %s: exit %d, want 1 and \"%s\"\n", name, rc, want);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT(said);
}

/* --check runs the checks of the start; the grants are compared with the
 * member's directory (warnings: the gateway enforces its policies); the
 * deprecated connection_timeout is a warning. */
static void test_check(void)
{
    char out[PATH_MAX + 64], in_use[64];
    int port = lt_it_free_port();
    /* Not a numeric address: an error of the file at its line (exit 2),
     * not a check that fails (exit 1) when the start fails the same way. */
    CU_ASSERT_FATAL(s_write_config("check-host", port, "listen_address = \"localhost:8480\";\n") ==
                    0);
    CU_ASSERT_EQUAL(s_check("check-host", out, sizeof out), 2);
    CU_ASSERT(lt_it_file_contains(out, "check-host.conf:4: 'listen_address' must be a numeric IP "
                                       "address, e.g. \"127.0.0.1\", \"0.0.0.0\" or \"::1\", "
                                       "got \"localhost:8480\""));
    s_check_fails("check-audit", port, "audit_file = \"nodir/x.jsonl\";\n",
                  "error    audit_file: cannot open ");
    s_check_fails("check-tls", port, "tls_cert = \"none/cert.pem\";\ntls_key = \"none/key.pem\";\n",
                  "error    tls: cannot read tls_cert ");
    /* the running API's port */
    snprintf(in_use, sizeof in_use, "%s", strrchr(g_url, ':') + 1);
    s_check_fails("check-port", atoi(in_use), "", "Address already in use");
    CU_ASSERT_FATAL(s_write_config("check-ok", port, "") == 0);
    CU_ASSERT_EQUAL(s_check("check-ok", out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "configuration is valid"));
    CU_ASSERT(lt_it_file_contains(out, "ok       grants: application 'slow-app': within "
                                       "directory version"));
    CU_ASSERT(lt_it_file_contains(out, "warning  grants: application 'hr-portal': the policy of "
                                       "directory version 1 on '" DS "' does not grant " ID_CALLER
                                       " the field 'sex'"));
    CU_ASSERT(!lt_it_file_contains(out, "plain HTTP"));
    CU_ASSERT(!lt_it_file_contains(out, "connection_timeout"));
    /* connection_timeout no longer bounds anything: a warning naming what
     * does, and the configuration still passes */
    CU_ASSERT_FATAL(s_write_config("check-deprecated", port, "connection_timeout = 30;\n") == 0);
    CU_ASSERT_EQUAL(s_check("check-deprecated", out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "warning  connection_timeout: connection_timeout (30 s) is "
                                       "deprecated and has no effect"));
    CU_ASSERT(lt_it_file_contains(out, "fix: remove connection_timeout; set receive_timeout"));
}

/* Plain HTTP on an address other hosts reach: a warning with its fix, from
 * --check (which still passes) and in the log at start; none on loopback
 * (test_check). */
static void test_check_plaintext(void)
{
    char out[PATH_MAX + 64], url[64], log[PATH_MAX + 64];
    pid_t api = 0;
    int port = lt_it_free_port();
    const char *want = "warning  tls: plain HTTP on 0.0.0.0, which is not a loopback address";
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/check-plain.log", g_fed.dir);
    LT_IT_REQUIRE(s_write_config("check-plain", port, "listen_address = \"0.0.0.0\";\n") == 0);
    CU_ASSERT_EQUAL(s_check("check-plain", out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, want));
    CU_ASSERT(lt_it_file_contains(out, "fix: set tls_cert and tls_key"));
    LT_IT_REQUIRE(s_start_api("check-plain", url, "", 0, &api) == 0);
    CU_ASSERT(lt_it_file_contains(log, "tls: plain HTTP on 0.0.0.0, which is not a loopback "
                                       "address"));
    CU_ASSERT(lt_it_file_contains(log, "; fix: set tls_cert and tls_key"));
    CU_ASSERT_EQUAL(s_stop_api(&api, "check-plain"), 0);
out:
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

/* In dir: a self-signed certificate for 127.0.0.1 that expired in 2020
 * (old.pem, its key old-key.pem), signed with `openssl ca`, the one
 * command of openssl that sets dates in the past. */
static int s_make_expired_cert(const char *dir)
{
    char cmd[8 * PATH_MAX + 1024];
    snprintf(cmd, sizeof cmd,
             "cd %s && : >index.txt && echo 01 >serial && "
             "printf '[ca]\\ndefault_ca = c\\n[c]\\ndatabase = index.txt\\nnew_certs_dir = .\\n"
             "serial = serial\\ndefault_md = sha256\\npolicy = p\\n[p]\\ncommonName = supplied\\n' "
             ">ca.cnf && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
             "-keyout old-key.pem -out old.csr -subj /CN=127.0.0.1 >>openssl.log 2>&1 && "
             "openssl ca -batch -notext -config ca.cnf -selfsign -keyfile old-key.pem -in old.csr "
             "-out old.pem -startdate 20200101000000Z -enddate 20200201000000Z >>openssl.log 2>&1",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* --check loads tls_cert and tls_key as the API will: a key of another
 * certificate, a certificate cut short and a key file that holds no key are
 * refused, naming both files (each passed the check before, and the API
 * then failed at start); an expired certificate, or one expiring within 30
 * days, is a warning with its date. */
static void test_check_tls_pair(void)
{
    char tls[PATH_MAX + 16], other[PATH_MAX + 16], want[4 * PATH_MAX], out[PATH_MAX + 64];
    char cmd[4 * PATH_MAX + 256];
    int port = lt_it_free_port();
    snprintf(tls, sizeof tls, "%s/tls", g_fed.dir);
    snprintf(other, sizeof other, "%s/tls-other", g_fed.dir);
    LT_IT_REQUIRE(s_make_cert(tls) == 0 && s_make_cert(other) == 0);
    snprintf(want, sizeof want,
             "error    tls: tls_key %s/key.pem is not the private key of the certificate in "
             "tls_cert %s/cert.pem",
             other, tls);
    s_check_fails("check-tls-pair", port,
                  "tls_cert = \"tls/cert.pem\";\ntls_key = \"tls-other/key.pem\";\n", want);
    /* the first three lines of the certificate: its PEM frame holds a
     * certificate cut short */
    snprintf(cmd, sizeof cmd,
             "(head -3 %s/cert.pem && echo '-----END CERTIFICATE-----') >%s/cut.pem", tls, tls);
    LT_IT_REQUIRE(system(cmd) == 0);
    snprintf(want, sizeof want,
             "error    tls: tls_cert %s/cut.pem holds no certificate GnuTLS can read (", tls);
    s_check_fails("check-tls-cut", port,
                  "tls_cert = \"tls/cut.pem\";\ntls_key = \"tls/key.pem\";\n", want);
    snprintf(out, sizeof out, "%s/check-tls-cut.check", g_fed.dir);
    CU_ASSERT(lt_it_file_contains(out, "so tls_key "));
    /* a key file holding the certificate */
    snprintf(want, sizeof want,
             "error    tls: tls_key %s/cert.pem holds no private key GnuTLS can read without a "
             "password (",
             tls);
    s_check_fails("check-tls-nokey", port,
                  "tls_cert = \"tls/cert.pem\";\ntls_key = \"tls/cert.pem\";\n", want);
    LT_IT_REQUIRE(s_make_expired_cert(tls) == 0);
    CU_ASSERT_FATAL(
        s_write_config("check-tls-old", port,
                       "tls_cert = \"tls/old.pem\";\ntls_key = \"tls/old-key.pem\";\n") == 0);
    CU_ASSERT_EQUAL(s_check("check-tls-old", out, sizeof out), 0);
    snprintf(want, sizeof want,
             "warning  tls: the certificate in tls_cert %s/old.pem expired on 2020-02-01 00:00 UTC",
             tls);
    CU_ASSERT(lt_it_file_contains(out, want));
    CU_ASSERT(lt_it_file_contains(out, "configuration is valid"));
    /* s_make_cert's certificates are valid for one day */
    CU_ASSERT_FATAL(s_write_config("check-tls-soon", port,
                                   "tls_cert = \"tls/cert.pem\";\ntls_key = \"tls/key.pem\";\n") ==
                    0);
    CU_ASSERT_EQUAL(s_check("check-tls-soon", out, sizeof out), 0);
    snprintf(want, sizeof want, "warning  tls: the certificate in tls_cert %s/cert.pem expires on ",
             tls);
    CU_ASSERT(lt_it_file_contains(out, want));
    CU_ASSERT(lt_it_file_contains(out, ", in 1 day\n") ||
              lt_it_file_contains(out, ", within a day\n"));
out:
    (void)0;
}

/* `lienthong api --config NAME.conf` that must not start: exit 1 within
 * 10 s, its output (the log) in NAME.log containing want. */
static void s_start_fails(const char *name, const char *want)
{
    char conf[PATH_MAX + 64], log[PATH_MAX + 64];
    snprintf(conf, sizeof conf, "%s/%s.conf", g_fed.dir, name);
    snprintf(log, sizeof log, "%s/%s.log", g_fed.dir, name);
    const char *args[] = {"api", "--config", conf, NULL};
    int rc = lt_it_run_cli(g_fed.dir, log, args, 10000);
    int said = lt_it_file_contains(log, want);
    if (rc != 1 || !said)
        fprintf(stderr, "\n  %s: exit %d, want 1 and \"%s\"\n", name, rc, want);
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT(said);
}

/* The start refuses a key of another certificate with --check's message;
 * on a port in use, libmicrohttpd's bind is the error (the start does not
 * bind the port first), naming the address and the system's reason. */
static void test_start_refused(void)
{
    char want[4 * PATH_MAX], log[PATH_MAX + 64], dir[PATH_MAX + 16];
    int port = lt_it_free_port();
    snprintf(dir, sizeof dir, "%s/tls", g_fed.dir);
    LT_IT_REQUIRE(s_make_cert(dir) == 0);
    snprintf(dir, sizeof dir, "%s/tls-other", g_fed.dir);
    LT_IT_REQUIRE(s_make_cert(dir) == 0);
    snprintf(want, sizeof want,
             "tls: tls_key %s/tls-other/key.pem is not the private key of the certificate in "
             "tls_cert %s/tls/cert.pem; fix: ",
             g_fed.dir, g_fed.dir);
    CU_ASSERT_FATAL(
        s_write_config("start-tls-pair", port,
                       "tls_cert = \"tls/cert.pem\";\ntls_key = \"tls-other/key.pem\";\n") == 0);
    s_start_fails("start-tls-pair", want);
    port = atoi(strrchr(g_url, ':') + 1); /* the running API's */
    CU_ASSERT_FATAL(s_write_config("start-port", port, "") == 0);
    snprintf(want, sizeof want, "cannot listen on 127.0.0.1 port %d: ", port);
    s_start_fails("start-port", want);
    snprintf(log, sizeof log, "%s/start-port.log", g_fed.dir);
    CU_ASSERT(lt_it_file_contains(log, "Address already in use"));
out:
    (void)0;
}

/* POST body to url+path with token (curl); the answer goes to out. The
 * HTTP status, or -1 when curl failed. */
static int s_post(const char *url, const char *path, const char *token, const char *body,
                  const char *out)
{
    char opts[PATH_MAX + 1024], full[256];
    int curl_rc;
    snprintf(opts, sizeof opts,
             "-H 'Authorization: Bearer %s' -H 'Content-Type: application/json' "
             "-d '%s'",
             token, body);
    snprintf(full, sizeof full, "%s%s", url, path);
    return s_curl(opts, full, out, &curl_rc);
}

#define ASK(ds, what)                                                                              \
    "{\"dataset\":\"" ds "\",\"purpose\":\"KYC\",\"officer\":\"can-bo-9\","                        \
    "\"case_ref\":\"HS-9\"," what "}"

/* Grants per dataset: date_of_birth is granted for the dataset, not for
 * its view, though the same application has both (before, one list of
 * fields held for every dataset of an application). A lookup or verify of
 * the view asking for it is refused 403 by the API itself; one naming no
 * field gets the view's fields only. GET /v1/datasets lists the grant on
 * each (before, only whether there was one). */
static void test_grants_per_dataset(void)
{
    char url[64], out[PATH_MAX + 64], audit[PATH_MAX + 64], path[PATH_MAX + 64];
    char text[PATH_MAX + 1024], hash[65], token[65];
    pid_t api = 0;
    int port = lt_it_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    LT_IT_REQUIRE(lt_it_api_token(g_fed.dir, "forms", token, hash) == 0);
    snprintf(text, sizeof text,
             "gateway_config = \"%s\";\nport = %d;\naudit_file = \"api-grants-audit.jsonl\";\n"
             "apps = ( { name = \"forms\"; token_hash = \"%s\"; rate = 200;\n"
             "  grants = (\n"
             "    { dataset = \"" DS "\"; fields = [\"full_name\", \"date_of_birth\"];\n"
             "      purposes = [\"KYC\"]; },\n"
             "    { dataset = \"" DS ".p38\"; fields = [\"full_name\"]; purposes = [\"KYC\"]; }\n"
             "  ); } );\n",
             g_caller->conf_path, port, hash);
    snprintf(path, sizeof path, "%s/api-grants.conf", g_fed.dir);
    LT_IT_REQUIRE(lt_it_write_file(path, text) == 0);
    CU_ASSERT_EQUAL(s_check("api-grants", out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "ok       grants: application 'forms': within directory "
                                       "version"));
    LT_IT_REQUIRE(s_start_api("api-grants", url, "", 0, &api) == 0);
    snprintf(out, sizeof out, "%s/grants.json", g_fed.dir);
    /* granted for the dataset */
    CU_ASSERT_EQUAL(s_post(url, "/v1/lookup", token,
                           ASK(DS, "\"key\":\"" KEY "\",\"fields\":[\"date_of_birth\"]"), out),
                    200);
    CU_ASSERT(lt_it_file_contains(out, "\"date_of_birth\":\"" DOB "\""));
    /* not for the view: refused by the API, for a lookup and a verify */
    CU_ASSERT_EQUAL(s_post(url, "/v1/lookup", token,
                           ASK(DS ".p38", "\"key\":\"" KEY "\",\"fields\":[\"date_of_birth\"]"),
                           out),
                    403);
    CU_ASSERT(lt_it_file_contains(out, "may not see or claim field 'date_of_birth' of dataset '" DS
                                       ".p38'"));
    CU_ASSERT_EQUAL(s_post(url, "/v1/verify", token,
                           ASK(DS ".p38", "\"keys\":[\"" KEY "\"],\"claims\":[{\"field\":"
                                          "\"date_of_birth\",\"value\":\"" DOB "\"}]"),
                           out),
                    403);
    CU_ASSERT_EQUAL(s_post(url, "/v1/verify", token,
                           ASK(DS, "\"keys\":[\"" KEY "\"],\"claims\":[{\"field\":"
                                   "\"date_of_birth\",\"value\":\"" DOB "\"}]"),
                           out),
                    200);
    /* a profile: each part within the grant on its own dataset */
    CU_ASSERT_EQUAL(s_post(url, "/v1/profile", token,
                           "{\"key\":\"" KEY "\",\"purpose\":\"KYC\",\"officer\":\"can-bo-9\","
                           "\"case_ref\":\"HS-9\",\"parts\":[{\"dataset\":\"" DS "\",\"fields\":"
                           "[\"full_name\"]},{\"dataset\":\"" DS ".p38\",\"fields\":"
                           "[\"date_of_birth\"]}]}",
                           out),
                    403);
    CU_ASSERT(
        lt_it_file_contains(out, "may not see field 'date_of_birth' of dataset '" DS ".p38'"));
    CU_ASSERT_EQUAL(s_post(url, "/v1/profile", token,
                           "{\"key\":\"" KEY "\",\"purpose\":\"KYC\",\"officer\":\"can-bo-9\","
                           "\"case_ref\":\"HS-9\",\"parts\":[{\"dataset\":\"" DS "\",\"fields\":"
                           "[\"date_of_birth\"]},{\"dataset\":\"" DS ".p38\",\"fields\":"
                           "[\"full_name\"]}]}",
                           out),
                    200);
    /* no field named: the view's granted fields, not the dataset's */
    CU_ASSERT_EQUAL(s_post(url, "/v1/lookup", token, ASK(DS ".p38", "\"key\":\"" KEY "\""), out),
                    200);
    CU_ASSERT(lt_it_file_contains(out, "\"full_name\""));
    CU_ASSERT(!lt_it_file_contains(out, "date_of_birth"));
    /* /v1/datasets tells the application its grant on each */
    char auth[128];
    int curl_rc;
    snprintf(auth, sizeof auth, "-H 'Authorization: Bearer %s'", token);
    snprintf(path, sizeof path, "%s/v1/datasets", url);
    CU_ASSERT_EQUAL(s_curl(auth, path, out, &curl_rc), 200);
    CU_ASSERT(lt_it_file_contains(out, "\"id\":\"" DS "\","));
    CU_ASSERT(lt_it_file_contains(out, "\"granted_fields\":[\"full_name\",\"date_of_birth\"],"
                                       "\"granted_purposes\":[\"KYC\"]}"));
    CU_ASSERT(lt_it_file_contains(out, "\"granted_fields\":[\"full_name\"],"
                                       "\"granted_purposes\":[\"KYC\"]}"));
    snprintf(audit, sizeof audit, "%s/api-grants-audit.jsonl", g_fed.dir);
    CU_ASSERT(lt_it_file_contains(audit, "\"dataset\":\"" DS ".p38\""));
    CU_ASSERT(lt_it_file_contains(audit, "\"reason\":\"grant_field\""));
    /* the audit names the field refused too, not just the kind of refusal */
    CU_ASSERT(lt_it_file_contains(audit, "\"message\":\"the application may not see or claim "
                                         "field 'date_of_birth' of dataset '" DS ".p38'\""));
    CU_ASSERT(!lt_it_file_contains(audit, "\"dataset\":\"" DS "\","));
    CU_ASSERT_EQUAL(s_stop_api(&api, "api-grants"), 0);
out:
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

/* Writes api config "api-rotate" on port: application rotate (hash), granted
 * full_name for KYC, its refusals summed up every second. */
static int s_rotate_config(int port, const char *hash)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/api-rotate.conf", g_fed.dir);
    return lt_it_write_fmt(
        path,
        "gateway_config = \"%s\";\nport = %d;\naudit_file = \"api-rotate-audit.jsonl\";\n"
        "summary_interval = 1;\napps = (\n"
        "  { name = \"rotate\"; token_hash = \"%s\"; datasets = [\"" DS "\"];\n"
        "    fields = [\"full_name\"]; purposes = [\"KYC\"]; rate = 200; } );\n",
        g_caller->conf_path, port, hash);
}

/* A lookup with token refused 403 grant_field (date_of_birth is not
 * granted), on behalf of officer. 1 when it was. */
static int s_refused_as(const char *url, const char *token, const char *officer)
{
    char body[512], out[PATH_MAX + 64];
    snprintf(out, sizeof out, "%s/rotate.json", g_fed.dir);
    snprintf(body, sizeof body,
             "{\"dataset\":\"" DS "\",\"purpose\":\"KYC\",\"officer\":\"%s\",\"case_ref\":\"HS-1\","
             "\"key\":\"" KEY "\",\"fields\":[\"date_of_birth\"]}",
             officer);
    return s_post(url, "/v1/lookup", token, body, out) == 403;
}

/* logrotate renames audit_file, then `systemctl reload lienthong-api`
 * (docs/operations.md, "Rotating the API's audit file"). The API opened the
 * file once: after the rename it went on writing into the rotated file,
 * and nothing came at the configured path again until a restart. SIGHUP
 * must reopen it, as a new 0600 file; a reopening that fails keeps the
 * file open before, saying why. Grant refusals: each one audited, the log
 * summing them up (one WARN line each before). */
static void test_audit_rotated(void)
{
    char url[64], log[PATH_MAX + 64], audit[PATH_MAX + 64], old[PATH_MAX + 64], old2[PATH_MAX + 64],
        token[65], hash[65];
    pid_t api = 0;
    int port = lt_it_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(log, sizeof log, "%s/api-rotate.log", g_fed.dir);
    snprintf(audit, sizeof audit, "%s/api-rotate-audit.jsonl", g_fed.dir);
    snprintf(old, sizeof old, "%s/api-rotate-audit.jsonl.1", g_fed.dir);
    snprintf(old2, sizeof old2, "%s/api-rotate-audit.jsonl.2", g_fed.dir);
    LT_IT_REQUIRE(lt_it_api_token(g_fed.dir, "rotate", token, hash) == 0);
    LT_IT_REQUIRE(s_rotate_config(port, hash) == 0);
    LT_IT_REQUIRE(s_start_api("api-rotate", url, "", 0, &api) == 0);
    CU_ASSERT(s_refused_as(url, token, "before-rotate"));
    CU_ASSERT(lt_it_file_contains(audit, "\"officer\":\"before-rotate\""));

    /* Renamed, then SIGHUP: the next line is in a new file at the path. */
    LT_IT_REQUIRE(rename(audit, old) == 0);
    CU_ASSERT(s_hup_said(api, log, "reloaded .*api-rotate.conf", 1));
    CU_ASSERT(s_refused_as(url, token, "after-rotate"));
    CU_ASSERT(lt_it_file_contains(audit, "\"officer\":\"after-rotate\""));
    CU_ASSERT(!lt_it_file_contains(audit, "before-rotate"));
    CU_ASSERT(!lt_it_file_contains(old, "after-rotate"));
    CU_ASSERT_EQUAL(lt_it_mode(audit), 0600);
    CU_ASSERT(lt_it_file_count(log, 0, "reopened the audit file ", audit) == 1);

    /* The path cannot be opened (a directory there): the API keeps writing
     * to the file it had, and says so (the configuration's check refuses
     * the path too: not reloaded); the next SIGHUP reopens it. */
    LT_IT_REQUIRE(rename(audit, old2) == 0);
    LT_IT_REQUIRE(mkdir(audit, 0700) == 0);
    CU_ASSERT(s_hup_said(api, log,
                         "SIGHUP: cannot reopen the audit file .*: Is a directory; "
                         "still writing to the file open before",
                         1));
    CU_ASSERT(s_refused_as(url, token, "reopen-failed"));
    CU_ASSERT(lt_it_file_contains(old2, "\"officer\":\"reopen-failed\""));
    LT_IT_REQUIRE(rmdir(audit) == 0);
    CU_ASSERT(s_hup_said(api, log, "reloaded .*api-rotate.conf", 2));
    CU_ASSERT(s_refused_as(url, token, "reopened"));
    CU_ASSERT(lt_it_file_contains(audit, "\"officer\":\"reopened\""));

    /* Refusals of a wrong grant, as an application retrying would make:
     * each in the audit file, the log's WARN lines summed up (at most the
     * first in full: the key may be tracked still). */
    struct stat st;
    LT_IT_REQUIRE(stat(log, &st) == 0);
    long mark = (long)st.st_size;
    for (int i = 0; i < 5; i++)
        CU_ASSERT(s_refused_as(url, token, "retrying"));
    CU_ASSERT_EQUAL(lt_it_file_count(audit, 0, "\"officer\":\"retrying\"", NULL), 5);
    CU_ASSERT(lt_it_file_count(log, mark, "refused lookup for application 'rotate'", NULL) <= 1);
    int summed = 0;
    for (int64_t end = lt_it_ms() + 5000; !summed && lt_it_ms() < end; usleep(100000))
        summed = lt_it_file_count(log, mark, "more requests of application 'rotate' refused in",
                                  "403 grant_field") > 0;
    CU_ASSERT(summed);
    CU_ASSERT_EQUAL(s_stop_api(&api, "api-rotate"), 0);
out:
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
}

/* A grant the directory cannot honour (a dataset it lacks, a field the
 * policy does not list) is logged when the API starts, with the file and
 * line of the grant, and the API still starts, as --check passes it with a
 * warning (before, only --check said so). */
static void test_grants_logged_at_start(void)
{
    char url[64], conf[PATH_MAX + 64], log[PATH_MAX + 64], want[2 * PATH_MAX + 256];
    char text[PATH_MAX + 1024], hash[65], token[65];
    pid_t api = 0;
    int port = lt_it_free_port();
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    snprintf(conf, sizeof conf, "%s/api-stray.conf", g_fed.dir);
    snprintf(log, sizeof log, "%s/api-stray.log", g_fed.dir);
    LT_IT_REQUIRE(lt_it_api_token(g_fed.dir, "stray", token, hash) == 0);
    snprintf(text, sizeof text,
             "gateway_config = \"%s\";\nport = %d;\n"
             "apps = ( { name = \"stray\"; token_hash = \"%s\"; rate = 200;\n"
             "  grants = (\n"
             "    { dataset = \"" DS "\"; fields = [\"full_name\", \"id_card_number\"];\n"
             "      purposes = [\"KYC\"]; },\n"
             "    { dataset = \"" DS "x\"; fields = [\"full_name\"]; purposes = [\"KYC\"]; }\n"
             "  ); } );\n",
             g_caller->conf_path, port, hash);
    LT_IT_REQUIRE(lt_it_write_file(conf, text) == 0);
    LT_IT_REQUIRE(s_start_api("api-stray", url, "", 0, &api) == 0);
    snprintf(want, sizeof want,
             "api: %s:7: grants: application 'stray': '" DS "x' is neither a dataset nor a "
             "view of directory version 1; fix: check the id",
             conf);
    CU_ASSERT(lt_it_file_contains(log, want));
    snprintf(want, sizeof want,
             "api: %s:5: grants: application 'stray': the policy of directory version 1 on '" DS
             "' does not grant " ID_CALLER " the field 'id_card_number'",
             conf);
    CU_ASSERT(lt_it_file_contains(log, want));
    CU_ASSERT(!lt_it_file_contains(log, "'full_name'"));
    CU_ASSERT_EQUAL(s_stop_api(&api, "api-stray"), 0);
out:
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
    if (!lt_it_file_contains(log, "is neither a dataset"))
        lt_it_file_dump(log);
}

/* Every line names the program and the gateway's member, as the other
 * programs' lines do (a shipper filtering on member saw no API lines). */
static void test_log_member(void)
{
    char log[PATH_MAX + 64];
    snprintf(log, sizeof log, "%s/api.log", g_fed.dir);
    CU_ASSERT(lt_it_file_contains(log, "INFO lienthong-api member=" ID_CALLER " api: serving"));
    CU_ASSERT(!lt_it_file_contains(log, "member=lienthong-api"));
}

static const lt_it_test_t s_tests[] = {
    {"--check: the start's checks (address, port, audit file, TLS), the grants, deprecations",
     test_check},
    {"--check: the TLS pair as GnuTLS loads it; an expired certificate warns", test_check_tls_pair},
    {"--check and the start warn of plain HTTP on a non-loopback address", test_check_plaintext},
    {"the start refuses a key of another certificate; a port in use names the address",
     test_start_refused},
    {"log lines name the program and the gateway's member", test_log_member},
    {"python client: validation, grants, lookups, verifies, rate, metrics, OpenAPI",
     test_python_client},
    {"curl lookup; the audit names application, officer and case; the API's audit file is 0600",
     test_curl_and_audit},
    {"grants per dataset: a field granted for the dataset is refused for its view",
     test_grants_per_dataset},
    {"SIGHUP reopens audit_file after a rotation; grant refusals audited each, logged summed",
     test_audit_rotated},
    {"grants the directory cannot honour are logged at start, with their line",
     test_grants_logged_at_start},
    {"readyz turns unready when the store is not writable", test_readyz_store},
    {"readyz of a gateway that does not answer: unready after one wait; status and pre-fill 504",
     test_readyz_gateway_stopped},
    {"the Python example of docs/api/README.md", test_doc_example},
    {"TLS: curl --cacert and Python's ssl module", test_tls},
    {"readyz turns unready when the directory has expired", test_readyz_expired},
    {"limits: early 401, in flight, deadline, per address, control characters, UTF-8", test_limits},
    {"a flood without a token within 256 open files; a rate below one a second", test_flood},
    {"slow clients: a request's deadline to arrive; 429 and 400 summed up", test_slow},
    {"summaries of 429, 400 and 401 bursts within an interval, without traffic", test_summary},
    {"libmicrohttpd's messages summed up; the connection limit counted; controls escaped",
     test_noise},
    {"connections closed and refused beyond the addresses tracked: counted by reason",
     test_conns_beyond},
    {"an API whose gateway is not running answers a fixed message, the detail logged",
     test_error_detail},
    {"the failed calls of /readyz and /metrics while the gateway is down are summed up",
     test_gateway_down_noise},
    {"a lookup in flight when SIGTERM comes is answered before the API exits", test_stop_in_flight},
    {"SIGTERM while kept-alive connections keep asking /readyz, /metrics and lookups: exit 0",
     test_stop_busy},
    {"SIGTERM with more requests queued for the workers than they serve at once: the queued "
     "answered 503, the stop bounded",
     test_stop_queued},
    {"a profile that waited for a worker past its deadline is answered 504 at once; /readyz "
     "does not wait behind profiles",
     test_queue_wait},
    {"a pre-fill is answered while profiles wait for an owner that does not answer",
     test_prefill_wait},
    {"SIGHUP reloads the applications; a request in progress ends under the old; a bad file is "
     "refused",
     test_reload},
    {"a reload renaming an application: its refusals logged and audited in full",
     test_reload_renamed},
    {"reloads under load: every request answered under one configuration, the API lives on",
     test_reload_load},
    {"SIGTERM stops the API with status 0", test_stop},
    {NULL, NULL}};

static void s_keep(void)
{
}

int main(int argc, char **argv)
{
    lt_it_suite_t suite = {"http api", suite_init, suite_clean, NULL, s_keep, s_tests};
    return lt_it_main(argc, argv, &suite);
}

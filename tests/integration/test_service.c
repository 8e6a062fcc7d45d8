/* test_service: what an operator and a service manager see of real gateway
 * processes on 127.0.0.1 (docs/operations.md):
 *
 *   --check reports every problem of a configuration with its fix: peers
 *   and streams missing from the directory, a directory signed by another
 *   authority, an expired one, a listen address in use; and passes on a
 *   good configuration;
 *   the sd_notify protocol of a Type=notify unit: READY with STATUS,
 *   WATCHDOG, RELOADING then READY on SIGHUP, STOPPING on SIGTERM;
 *   a healthy federation rolling out a directory logs nothing at WARN, one
 *   line per state change at INFO, and with log_format = "json" every line
 *   is one JSON object tagged with program and member;
 *   a peer that never answers is reported once, with what to check; a
 *   connection and its loss are one line each;
 *   source and sink adapters tag every line with their program, member and
 *   dataset (the sink learns its member from the gateway);
 *   a misspelt dataset of a source or stream of a sink (PROTOCOL.md 8.3):
 *   --check refuses it naming the configuration file and what the directory
 *   grants, and passes the right ones; a running source logs it once (not
 *   once per retry) while its other dataset publishes, and a sink too. */
#define _GNU_SOURCE
#include "lt_feedtest.h"
#include "lt_itest.h"

#include <jansson.h>
#include <poll.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FED      "VN"
#define ID_A     "VN/GOV/BCA"
#define ID_B     "VN/PROV/38"
#define READY_MS 15000 /* a gateway answers status (generous for ASan on a loaded machine) */
#define DAY      86400
/* Two gateways find each other: a dialler that started first backs off
 * between failed attempts (up to 10 s in libzmq), then says Hello. */
#define PEER_MS 20000

/* Runs `lienthong gateway --config CONF --check`; output into out[cap].
 * Returns the exit code, -1 when it could not run. */
static int s_check(const char *conf, char *out, size_t cap)
{
    char cmd[PATH_MAX * 2 + 64];
    snprintf(cmd, sizeof cmd, "'%s' gateway --config '%s' --check 2>&1", lt_it_binary(), conf);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(out, "configuration is valid"))
        fprintf(stderr, "--check output:\n%s", out);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_check_reports_fixes(void)
{
    static lt_it_fed_t fed;
    static char out[16384];
    lt_keys_t *rogue = NULL;
    LT_IT_REQUIRE(lt_it_fed_init(&fed, FED) == 0);
    lt_it_member_t *a = lt_it_member_add(&fed, ID_A, 1);
    lt_it_member_t *b = lt_it_member_add(&fed, ID_B, 1);
    LT_IT_REQUIRE(a && b);
    const char *peers[] = {ID_A, "VN/GOV/NOBODY", NULL};
    lt_it_gw_t *bad =
        lt_it_gw_new(&fed, b, 1, peers, "subscribe = ( { stream = \"VN/GOV/BCA/nothing\"; } );");
    lt_it_gw_t *ga = lt_it_gw_new(&fed, a, 1, NULL, NULL);
    LT_IT_REQUIRE(bad && ga);

    /* a good configuration passes, with a line per check */
    CU_ASSERT_EQUAL(s_check(ga->conf_path, out, sizeof out), 0);
    CU_ASSERT(strstr(out, "ok       key_file: ") != NULL);
    CU_ASSERT(strstr(out, "ok       listen: ") != NULL);
    CU_ASSERT(strstr(out, "ok       directory: version 1, expires ") != NULL);
    CU_ASSERT(strstr(out, "ok       member: " ID_A) != NULL);

    /* peers and streams missing from the directory */
    CU_ASSERT_EQUAL(s_check(bad->conf_path, out, sizeof out), 1);
    CU_ASSERT(strstr(out, "error    peer: VN/GOV/NOBODY is not in the directory\n         fix: ") !=
              NULL);
    CU_ASSERT(strstr(out, "error    subscribe: stream VN/GOV/BCA/nothing is neither") != NULL);
    CU_ASSERT(strstr(out, "ok       peer: " ID_A " at tcp://127.0.0.1:") != NULL);
    CU_ASSERT(strstr(out, "2 problems to fix before starting the gateway") != NULL);

    /* a directory signed by an authority the configuration does not pin */
    rogue = lt_keys_new(LT_KEYS_AUTHORITY);
    LT_IT_REQUIRE(rogue && lt_it_dir_sign(&fed, 2, 0, 0, rogue, ga->dir_path) == 0);
    CU_ASSERT_EQUAL(s_check(ga->conf_path, out, sizeof out), 1);
    CU_ASSERT(strstr(out, "no valid signature from a pinned authority key (it is signed by ") !=
              NULL);
    CU_ASSERT(strstr(out, fed.authority_z85) != NULL); /* the pin is named */
    CU_ASSERT(strstr(out, "fix: authority_keys must pin the key that signed") != NULL);

    /* an expired one */
    int64_t now = (int64_t)time(NULL);
    LT_IT_REQUIRE(lt_it_dir_sign(&fed, 2, now - 2 * DAY, now - DAY, NULL, ga->dir_path) == 0);
    CU_ASSERT_EQUAL(s_check(ga->conf_path, out, sizeof out), 1);
    CU_ASSERT(strstr(out, "expired at") != NULL);
    CU_ASSERT(strstr(out, "Renewing the directory") != NULL);

    /* one expiring within a week is a warning, not an error */
    LT_IT_REQUIRE(lt_it_dir_sign(&fed, 1, now - DAY, now + 3 * DAY, NULL, ga->dir_path) == 0);
    CU_ASSERT_EQUAL(s_check(ga->conf_path, out, sizeof out), 0);
    CU_ASSERT(strstr(out, "warning  directory: version 1") != NULL);

    /* the listen address is taken (here: by the gateway itself) */
    LT_IT_REQUIRE(lt_it_gw_run(ga, READY_MS) == 0);
    CU_ASSERT_EQUAL(s_check(ga->conf_path, out, sizeof out), 1);
    CU_ASSERT(strstr(out, "error    listen: cannot bind tcp://127.0.0.1:") != NULL);
    CU_ASSERT(strstr(out, "is this gateway already running") != NULL);
    CU_ASSERT_EQUAL(lt_it_gw_stop(ga, 5000), 0);
out:
    lt_keys_destroy(&rogue);
    lt_it_fed_cleanup(&fed);
}

/* A subscription policy that lists no purposes grants nothing asked for
 * a purpose (PROTOCOL.md 8.8): --check warns naming the member and the
 * dataset (and the view), and the configuration stays valid. */
static void test_check_policy_without_purposes(void)
{
    static lt_it_fed_t fed;
    static char out[16384];
    LT_IT_REQUIRE(lt_it_fed_init(&fed, FED) == 0);
    lt_it_member_t *a = lt_it_member_add(&fed, ID_A, 1);
    lt_it_member_t *b = lt_it_member_add(&fed, ID_B, 1);
    LT_IT_REQUIRE(a && b);
    fed.extra_source =
        "datasets = (\n"
        "  { id = \"" ID_A "/population\"; owner = \"" ID_A "\";\n"
        "    type = \"lienthong.records.Population\"; key = \"personal_id\"; },\n"
        "  { id = \"" ID_A "/residents\"; owner = \"" ID_A "\";\n"
        "    type = \"lienthong.records.Population\"; key = \"personal_id\"; },\n"
        "  { id = \"" ID_A "/voters\"; owner = \"" ID_A "\";\n"
        "    type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
        "views = ( { id = \"" ID_A "/population.p38\"; dataset = \"" ID_A "/population\";\n"
        "    fields = [\"full_name\"]; where = { current_province = \"38\"; }; } );\n"
        "policies = (\n"
        "  { consumer = \"" ID_B "\"; target = \"" ID_A "/population\";\n"
        "    allow = [\"subscribe\"]; },\n"
        "  { consumer = \"" ID_B "\"; target = \"" ID_A "/population.p38\";\n"
        "    allow = [\"subscribe\", \"lookup\"]; fields = [\"full_name\"]; },\n"
        "  { consumer = \"" ID_B "\"; target = \"" ID_A "/residents\";\n"
        "    allow = [\"subscribe\"]; purposes = [\"PREFILL_FORM\"]; },\n"
        "  { consumer = \"" ID_B "\"; target = \"" ID_A "/voters\";\n"
        "    allow = [\"lookup\"]; fields = [\"full_name\"]; } );\n";
    const char *peers[] = {ID_A, NULL};
    lt_it_gw_t *gb = lt_it_gw_new(&fed, b, 1, peers,
                                  "subscribe = ( { stream = \"" ID_A "/population\"; },\n"
                                  "  { stream = \"" ID_A "/population.p38\"; },\n"
                                  "  { stream = \"" ID_A "/residents\"; } );");
    LT_IT_REQUIRE(gb != NULL);
    CU_ASSERT_EQUAL(s_check(gb->conf_path, out, sizeof out), 0);
    CU_ASSERT(strstr(out, "warning  subscribe: the policy of " ID_B " on dataset " ID_A
                          "/population lists no purposes: every pre-fill from its replica is "
                          "refused with ERR_PURPOSE\n         fix: ask the authority") != NULL);
    CU_ASSERT(strstr(out, "warning  subscribe: the policy of " ID_B " on view " ID_A
                          "/population.p38 of dataset " ID_A "/population lists no purposes: "
                          "every pre-fill from its replica is refused with ERR_PURPOSE, as are "
                          "its lookups and verifies\n") != NULL);
    CU_ASSERT(strstr(out, "ok       subscribe: " ID_A "/residents\n") != NULL);
    CU_ASSERT(strstr(out, "/voters") == NULL); /* not subscribed to: not this check's */
    CU_ASSERT(strstr(out, "configuration is valid") != NULL);
    if (!strstr(out, "warning  subscribe"))
        fprintf(stderr, "--check output:\n%s", out);
out:
    lt_it_fed_cleanup(&fed);
}

/* ---- sd_notify ------------------------------------------------------------------ */

/* The next datagram within timeout_ms into m ("" when none came). */
static void s_next(int fd, char *m, size_t cap, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    m[0] = '\0';
    if (poll(&p, 1, timeout_ms) == 1) {
        ssize_t n = recv(fd, m, cap - 1, 0);
        m[n > 0 ? n : 0] = '\0';
    }
}

/* Skips keep-alives until a datagram other than WATCHDOG=1 comes. */
static void s_next_state(int fd, char *m, size_t cap, int timeout_ms)
{
    int64_t deadline = lt_it_ms() + timeout_ms;
    do
        s_next(fd, m, cap, (int)(deadline - lt_it_ms()));
    while (strcmp(m, "WATCHDOG=1") == 0 && lt_it_ms() < deadline);
}

static void test_sd_notify(void)
{
    static lt_it_fed_t fed;
    char m[512];
    int fd = -1;
    LT_IT_REQUIRE(lt_it_fed_init(&fed, FED) == 0);
    lt_it_member_t *a = lt_it_member_add(&fed, ID_A, 1);
    LT_IT_REQUIRE(a != NULL);
    lt_it_gw_t *ga = lt_it_gw_new(&fed, a, 1, NULL, NULL);
    LT_IT_REQUIRE(ga != NULL);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof addr.sun_path, "%.90s/notify", fed.dir);
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    LT_IT_REQUIRE(fd >= 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) == 0);
    /* what systemd sets for a Type=notify unit with WatchdogSec=2 */
    setenv("NOTIFY_SOCKET", addr.sun_path, 1);
    setenv("WATCHDOG_USEC", "2000000", 1);
    int started = lt_it_gw_start(ga);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    LT_IT_REQUIRE(started == 0);
    s_next_state(fd, m, sizeof m, READY_MS);
    CU_ASSERT(strncmp(m, "READY=1\nSTATUS=serving " ID_A " on tcp://127.0.0.1:", 40) == 0);
    s_next(fd, m, sizeof m, 1500); /* a keep-alive at least every half second */
    CU_ASSERT_STRING_EQUAL(m, "WATCHDOG=1");
    CU_ASSERT_EQUAL(lt_it_gw_signal(ga, SIGHUP), 0);
    s_next_state(fd, m, sizeof m, 3000);
    CU_ASSERT_STRING_EQUAL(m, "RELOADING=1");
    s_next_state(fd, m, sizeof m, 3000);
    CU_ASSERT_STRING_EQUAL(m, "READY=1");
    CU_ASSERT(lt_it_log_has(ga, 0, "holds version 1, the one in use", NULL));
    CU_ASSERT_EQUAL(lt_it_gw_signal(ga, SIGTERM), 0);
    s_next_state(fd, m, sizeof m, 3000);
    CU_ASSERT_STRING_EQUAL(m, "STOPPING=1");
    int st;
    CU_ASSERT(lt_it_gw_wait_exit(ga, 5000, &st) == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0);
out:
    if (fd >= 0)
        close(fd);
    lt_it_fed_cleanup(&fed);
}

/* ---- logs of a healthy federation ------------------------------------------------ */

typedef struct {
    int lines, bad_json, untagged, warn_or_error, hello_info, greeted_info, adopted, connecting;
} log_stats_t;

static void s_log_stats(const lt_it_gw_t *g, const char *member, log_stats_t *s)
{
    memset(s, 0, sizeof *s);
    FILE *f = fopen(g->log_path, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        s->lines++;
        if (!o) {
            s->bad_json++;
            fprintf(stderr, "not JSON: %s", line);
            continue;
        }
        const char *lvl = json_string_value(json_object_get(o, "level"));
        const char *msg = json_string_value(json_object_get(o, "message"));
        const char *prog = json_string_value(json_object_get(o, "program"));
        const char *mem = json_string_value(json_object_get(o, "member"));
        s->untagged += !prog || strcmp(prog, "lienthong-gateway") || !mem || strcmp(mem, member);
        int info = lvl && strcmp(lvl, "info") == 0;
        if (lvl && (!strcmp(lvl, "warn") || !strcmp(lvl, "error"))) {
            s->warn_or_error++;
            fprintf(stderr, "unexpected: %s", line);
        }
        s->hello_info += info && msg && strstr(msg, "hello from ");
        s->greeted_info += info && msg && strstr(msg, "greeted by ");
        s->adopted += info && msg && strstr(msg, "adopted version 2");
        s->connecting += info && msg && strstr(msg, "connecting to ");
        json_decref(o);
    }
    free(line);
    if (f)
        fclose(f);
}

static void test_healthy_federation_logs(void)
{
    static lt_it_fed_t fed;
    uint8_t *v2 = NULL;
    size_t v2_len = 0;
    LT_IT_REQUIRE(lt_it_fed_init(&fed, FED) == 0);
    lt_it_member_t *a = lt_it_member_add(&fed, ID_A, 1);
    lt_it_member_t *b = lt_it_member_add(&fed, ID_B, 1);
    LT_IT_REQUIRE(a && b);
    const char *peers_a[] = {ID_B, NULL}, *peers_b[] = {ID_A, NULL};
    lt_it_gw_t *ga = lt_it_gw_new(&fed, a, 1, peers_a, "log_format = \"json\";");
    lt_it_gw_t *gb = lt_it_gw_new(&fed, b, 1, peers_b, "log_format = \"json\";");
    LT_IT_REQUIRE(ga && gb);
    LT_IT_REQUIRE(lt_it_gw_run(ga, READY_MS) == 0 && lt_it_gw_run(gb, READY_MS) == 0);
    CU_ASSERT_EQUAL(lt_it_gw_wait_peer(ga, ID_B, PEER_MS), 0);
    CU_ASSERT_EQUAL(lt_it_gw_wait_peer(gb, ID_A, PEER_MS), 0);
    /* roll out version 2 at A; it spreads to B, which offers it back */
    LT_IT_REQUIRE(lt_it_dir_bytes(&fed, 2, 0, 0, NULL, &v2, &v2_len) == 0);
    LT_IT_REQUIRE(lt_it_gw_put_directory(ga, v2, v2_len) == 0);
    LT_IT_REQUIRE(lt_it_gw_signal(ga, SIGHUP) == 0);
    CU_ASSERT_EQUAL(lt_it_gw_wait_version(gb, 2, PEER_MS), 0);
    /* several Hello refreshes (every 3 s) in both directions */
    usleep(7000 * 1000);
    CU_ASSERT_EQUAL(lt_it_gw_stop(ga, 5000), 0);
    CU_ASSERT_EQUAL(lt_it_gw_stop(gb, 5000), 0);
    log_stats_t sa, sb;
    s_log_stats(ga, ID_A, &sa);
    s_log_stats(gb, ID_B, &sb);
    CU_ASSERT(sa.lines > 4 && sb.lines > 4);
    CU_ASSERT_EQUAL(sa.bad_json + sb.bad_json, 0);
    CU_ASSERT_EQUAL(sa.untagged + sb.untagged, 0);
    CU_ASSERT_EQUAL(sa.warn_or_error + sb.warn_or_error, 0);
    /* one line per state change: one connection each way */
    CU_ASSERT_EQUAL(sa.hello_info, 1);
    CU_ASSERT_EQUAL(sb.hello_info, 1);
    CU_ASSERT_EQUAL(sa.greeted_info, 1);
    CU_ASSERT_EQUAL(sb.greeted_info, 1);
    CU_ASSERT_EQUAL(sb.adopted, 1);
    CU_ASSERT_EQUAL(sa.connecting, 1);
    /* the whole run fits in a handful of lines, Hellos or not */
    CU_ASSERT(sa.lines <= 12 && sb.lines <= 12);
out:
    free(v2);
    lt_it_fed_cleanup(&fed);
}

/* ---- a peer that does not answer, then answers, then goes ------------------------ */

static int s_count(const lt_it_gw_t *g, const char *a, const char *b)
{
    int n = 0;
    FILE *f = fopen(g->log_path, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0)
        n += strstr(line, a) && (!b || strstr(line, b));
    free(line);
    if (f)
        fclose(f);
    return n;
}

static void test_unreachable_and_lost_peer(void)
{
    static lt_it_fed_t fed;
    LT_IT_REQUIRE(lt_it_fed_init(&fed, FED) == 0);
    lt_it_member_t *a = lt_it_member_add(&fed, ID_A, 1);
    lt_it_member_t *b = lt_it_member_add(&fed, ID_B, 1);
    LT_IT_REQUIRE(a && b);
    const char *peers_a[] = {ID_B, NULL};
    lt_it_gw_t *ga = lt_it_gw_new(&fed, a, 1, peers_a, NULL);
    lt_it_gw_t *gb = lt_it_gw_new(&fed, b, 1, NULL, NULL);
    LT_IT_REQUIRE(ga && gb);
    LT_IT_REQUIRE(lt_it_gw_run(ga, READY_MS) == 0);
    /* B is down: one warning after 10 s, naming the endpoint and what to check */
    CU_ASSERT_EQUAL(lt_it_log_wait(ga, 0, "no answer from " ID_B " at tcp://127.0.0.1:",
                                   "lienthong ping", 10000 + PEER_MS),
                    0);
    usleep(3500 * 1000); /* more Hello retries: no second warning */
    CU_ASSERT_EQUAL(s_count(ga, "no answer from ", NULL), 1);
    /* B comes: one line; B is killed: one line, after 10 s */
    LT_IT_REQUIRE(lt_it_gw_run(gb, READY_MS) == 0);
    /* (after failed attempts libzmq waits up to 10 s before reconnecting) */
    CU_ASSERT_EQUAL(lt_it_gw_wait_peer(ga, ID_B, 10000 + PEER_MS), 0);
    CU_ASSERT_EQUAL(lt_it_log_wait(ga, 0, "greeted by " ID_B, NULL, PEER_MS), 0);
    lt_it_gw_kill(gb);
    CU_ASSERT_EQUAL(
        lt_it_log_wait(ga, 0, "peer " ID_B " lost: no answer at", NULL, 10000 + PEER_MS), 0);
    CU_ASSERT_EQUAL(s_count(ga, " WARN ", NULL), 1);
    CU_ASSERT_EQUAL(s_count(ga, "greeted by ", NULL), 1);
    CU_ASSERT_EQUAL(lt_it_gw_stop(ga, 5000), 0);
out:
    lt_it_fed_cleanup(&fed);
}

/* ---- adapters' log lines ---------------------------------------------------------- */

#define DS "VN/GOV/BCA/population"

static const char *s_dataset =
    "datasets = ( { id = \"" DS "\"; owner = \"" ID_A "\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "policies = ( { consumer = \"" ID_B "\"; target = \"" DS "\"; allow = [\"subscribe\"]; } );\n";

/* Counts lines of a JSON log; `tagged` those with program, member and
 * dataset exactly as given. */
static void s_tagged(const char *path, const char *program, const char *member, int *lines,
                     int *tagged)
{
    *lines = *tagged = 0;
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    while (f && getline(&line, &cap, f) > 0) {
        json_error_t e;
        json_t *o = json_loads(line, 0, &e);
        const char *p = json_string_value(json_object_get(o, "program"));
        const char *m = json_string_value(json_object_get(o, "member"));
        const char *d = json_string_value(json_object_get(o, "dataset"));
        int ok = p && m && d && !strcmp(p, program) && !strcmp(m, member) && !strcmp(d, DS);
        if (!ok)
            fprintf(stderr, "untagged: %s", line);
        *lines += 1;
        *tagged += ok;
        json_decref(o);
    }
    free(line);
    if (f)
        fclose(f);
}

/* Writes KIND.conf (the gateway socket, the database DB in the federation's
 * directory, then `settings`), runs `lienthong KIND --config FILE OPTIONS`
 * with its log in JSON, and checks that it exits 0 and that each of its (at
 * least min_lines) lines carries `member` and the dataset. */
static void s_adapter(const lt_it_fed_t *fed, const char *kind, const lt_it_gw_t *g, const char *db,
                      const char *settings, const char *options, const char *member, int min_lines)
{
    char conf[PATH_MAX * 3], path[PATH_MAX], log[PATH_MAX], cmd[PATH_MAX * 3 + 256];
    int lines, tagged;
    snprintf(conf, sizeof conf,
             "gateway_socket = \"%s\"; database = \"%.4000s/%s\";\n%s"
             "record_type = \"lienthong.records.Population\";\n"
             "columns = { personal_id = \"personal_id\"; full_name = \"full_name\"; };\n"
             "log_format = \"json\"; log_level = \"debug\";\n",
             g->sock_path, fed->dir, db, settings);
    snprintf(path, sizeof path, "%.4000s/%s.conf", fed->dir, kind);
    snprintf(log, sizeof log, "%.4000s/%s.log", fed->dir, kind);
    CU_ASSERT_FATAL(lt_it_write_file(path, conf) == 0);
    snprintf(cmd, sizeof cmd, "timeout 60 '%s' %s --config '%s' %s 2>'%s'", lt_it_binary(), kind,
             path, options, log);
    int st = system(cmd);
    CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char program[64];
    snprintf(program, sizeof program, "lienthong-%s", kind);
    s_tagged(log, program, member, &lines, &tagged);
    CU_ASSERT(lines >= min_lines);
    CU_ASSERT_EQUAL(tagged, lines);
}

static void test_adapter_log_tags(void)
{
    static lt_it_fed_t fed;
    char path[PATH_MAX];
    sqlite3 *db = NULL;
    LT_IT_REQUIRE(lt_it_fed_init(&fed, FED) == 0);
    fed.extra_source = s_dataset;
    lt_it_member_t *a = lt_it_member_add(&fed, ID_A, 1);
    lt_it_member_t *b = lt_it_member_add(&fed, ID_B, 1);
    LT_IT_REQUIRE(a && b);
    const char *peers_b[] = {ID_A, NULL};
    lt_it_gw_t *ga = lt_it_gw_new(&fed, a, 1, NULL, NULL);
    lt_it_gw_t *gb = lt_it_gw_new(&fed, b, 1, peers_b, "subscribe = ( { stream = \"" DS "\"; } );");
    LT_IT_REQUIRE(ga && gb);
    LT_IT_REQUIRE(lt_it_gw_run(ga, READY_MS) == 0 && lt_it_gw_run(gb, READY_MS) == 0);

    snprintf(path, sizeof path, "%.4000s/agency.db", fed.dir);
    LT_IT_REQUIRE(sqlite3_open(path, &db) == SQLITE_OK);
    LT_IT_REQUIRE(sqlite3_exec(db,
                               "CREATE TABLE citizens(personal_id TEXT PRIMARY KEY, "
                               "full_name TEXT); INSERT INTO citizens VALUES "
                               "('038084000001', 'Nguyễn Văn An'), ('038190000002', 'Lê Thị Bình')",
                               NULL, NULL, NULL) == SQLITE_OK);
    s_adapter(&fed, "source", ga, "agency.db",
              "dataset = \"" DS "\"; table = \"citizens\"; key_column = \"personal_id\";\n"
              "key_field = \"personal_id\";\n",
              "--install --once", ID_A, 3);
    s_adapter(&fed, "sink", gb, "residents.db",
              "stream = \"" DS "\"; table = \"residents\"; key_column = \"personal_id\";\n"
              "create_table = true;\n",
              "--once-through 2", ID_B, 2);
out:
    sqlite3_close(db);
    lt_it_fed_cleanup(&fed);
}

/* ---- a dataset or stream the directory does not grant ----------------------------- */

#define TYPO   ID_A "/populaton"
#define CLI_MS 20000

/* The source settings of one dataset of the citizens table. */
#define CITIZENS(id)                                                                               \
    "  { dataset = \"" id "\"; record_type = \"lienthong.records.Population\";\n"                  \
    "    table = \"citizens\"; key_column = \"personal_id\"; key_field = \"personal_id\";\n"       \
    "    columns = { personal_id = \"personal_id\"; full_name = \"full_name\"; }; }"

typedef struct {
    lt_it_fed_t fed;
    lt_it_gw_t *ga, *gb;
    char db[PATH_MAX], good[PATH_MAX], typo[PATH_MAX], sink_good[PATH_MAX], sink_typo[PATH_MAX];
} grants_t;

/* Writes a source configuration of the datasets (settings text) into path. */
static int s_source_conf(const grants_t *x, const char *path, const char *datasets)
{
    return lt_it_write_fmt(path,
                           "gateway_socket = \"%s\"; database = \"%s\";\n"
                           "log_level = \"debug\";\ndatasets = (\n%s );\n",
                           x->ga->sock_path, x->db, datasets);
}

static int s_sink_conf(const grants_t *x, const char *path, const char *stream)
{
    return lt_it_write_fmt(
        path,
        "gateway_socket = \"%s\"; stream = \"%s\";\n"
        "record_type = \"lienthong.records.Population\";\n"
        "database = \"%s.db\"; table = \"residents\";\n"
        "key_column = \"personal_id\"; create_table = true;\n"
        "columns = { personal_id = \"personal_id\"; full_name = \"full_name\"; };\n"
        "log_level = \"debug\";\n",
        x->gb->sock_path, stream, path);
}

/* The owner A with the citizens table (change capture installed and its
 * rows published by a correct source), the consumer B replicating DS. */
static int s_grants_fed(grants_t *x)
{
    memset(x, 0, sizeof *x);
    if (lt_it_fed_init(&x->fed, FED) != 0)
        return -1;
    x->fed.extra_source = s_dataset;
    lt_it_member_t *a = lt_it_member_add(&x->fed, ID_A, 1);
    lt_it_member_t *b = lt_it_member_add(&x->fed, ID_B, 1);
    const char *peers_b[] = {ID_A, NULL};
    x->ga = a ? lt_it_gw_new(&x->fed, a, 1, NULL, NULL) : NULL;
    x->gb = b ? lt_it_gw_new(&x->fed, b, 1, peers_b, "subscribe = ( { stream = \"" DS "\"; } );")
              : NULL;
    if (!x->ga || !x->gb || lt_it_gw_run(x->ga, READY_MS) || lt_it_gw_run(x->gb, READY_MS))
        return -1;
    snprintf(x->db, sizeof x->db, "%.4000s/agency.db", x->fed.dir);
    snprintf(x->good, sizeof x->good, "%.4000s/good.conf", x->fed.dir);
    snprintf(x->typo, sizeof x->typo, "%.4000s/typo.conf", x->fed.dir);
    snprintf(x->sink_good, sizeof x->sink_good, "%.4000s/sink-good.conf", x->fed.dir);
    snprintf(x->sink_typo, sizeof x->sink_typo, "%.4000s/sink-typo.conf", x->fed.dir);
    if (lt_it_sql(x->db, "CREATE TABLE citizens(personal_id TEXT PRIMARY KEY, full_name TEXT); "
                         "INSERT INTO citizens VALUES ('038084000001', 'Nguyễn Văn An')") ||
        s_source_conf(x, x->good, CITIZENS(DS)) ||
        s_source_conf(x, x->typo, CITIZENS(DS) ",\n" CITIZENS(TYPO)) ||
        s_sink_conf(x, x->sink_good, DS) || s_sink_conf(x, x->sink_typo, ID_A "/populatoin"))
        return -1;
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%.4000s/install.out", x->fed.dir);
    const char *args[] = {"source", "--config", x->good, "--install", "--once", NULL};
    return lt_it_run_cli(x->fed.dir, out, args, CLI_MS) == 0 ? 0 : -1;
}

/* `lienthong KIND --config conf --check` with its output in dir/out. */
static int s_adapter_check(const grants_t *x, const char *kind, const char *conf, const char *out,
                           char *path, size_t cap)
{
    snprintf(path, cap, "%.4000s/%s", x->fed.dir, out);
    const char *args[] = {kind, "--config", conf, "--check", NULL};
    int rc = lt_it_run_cli(x->fed.dir, path, args, CLI_MS);
    if (rc != (strstr(conf, "good") ? 0 : 1))
        lt_it_file_dump(path);
    return rc;
}

static void test_check_grants(void)
{
    static grants_t x;
    char out[PATH_MAX], want[PATH_MAX + 256];
    LT_IT_REQUIRE(s_grants_fed(&x) == 0);

    /* the right dataset and stream pass, said to be granted */
    CU_ASSERT_EQUAL(s_adapter_check(&x, "source", x.good, "c1.out", out, sizeof out), 0);
    CU_ASSERT(
        lt_it_file_contains(out, "ok       dataset: " DS ", granted to " ID_A " in directory v1"));
    CU_ASSERT_EQUAL(s_adapter_check(&x, "sink", x.sink_good, "c2.out", out, sizeof out), 0);
    CU_ASSERT(lt_it_file_contains(out, "ok       stream: " DS ", granted to " ID_B));

    /* a misspelt dataset: named, with the member, the version, the owned
     * ones, and the file to correct; the right one beside it still passes */
    CU_ASSERT_EQUAL(s_adapter_check(&x, "source", x.typo, "c3.out", out, sizeof out), 1);
    CU_ASSERT(lt_it_file_contains(out, "error    dataset: dataset '" TYPO "' is not owned by " ID_A
                                       " in directory v1: owned datasets are '" DS "'\n"));
    snprintf(want, sizeof want, "fix: correct 'dataset' in %s", x.typo);
    CU_ASSERT(lt_it_file_contains(out, want));
    CU_ASSERT(lt_it_file_contains(out, "ok       dataset: " DS ", granted"));
    CU_ASSERT(lt_it_file_contains(out, "1 problem to fix before starting the source adapter"));

    /* a misspelt stream: neither owned by B nor replicated by its gateway */
    CU_ASSERT_EQUAL(s_adapter_check(&x, "sink", x.sink_typo, "c4.out", out, sizeof out), 1);
    CU_ASSERT(lt_it_file_contains(
        out, "error    stream: stream '" ID_A "/populatoin' is neither owned by " ID_B
             " nor replicated by its gateway in directory v1: the streams a sink may attach to "
             "are '" DS "'\n"));
    snprintf(want, sizeof want, "fix: correct 'stream' in %s", x.sink_typo);
    CU_ASSERT(lt_it_file_contains(out, want));
out:
    lt_it_fed_cleanup(&x.fed);
}

static void test_run_not_granted(void)
{
    static grants_t x;
    lt_it_proc_t src = {0}, snk = {0};
    LT_IT_REQUIRE(s_grants_fed(&x) == 0);
    LT_IT_REQUIRE(lt_ft_wait_seq(x.ga, DS, 1, READY_MS) == 0);
    snprintf(src.log_path, sizeof src.log_path, "%.4000s/source.log", x.fed.dir);
    snprintf(snk.log_path, sizeof snk.log_path, "%.4000s/sink.log", x.fed.dir);
    src.args[0] = "source", src.args[1] = "--config", src.args[2] = x.typo;
    snk.args[0] = "sink", snk.args[1] = "--config", snk.args[2] = x.sink_typo;
    LT_IT_REQUIRE(lt_it_proc_start(&src) == 0 && lt_it_proc_start(&snk) == 0);

    /* the misspelt dataset is said once: after a retry, still one line */
    const char *line = "dataset '" TYPO "' is not owned by " ID_A " in directory v1";
    const char *sink_line = "stream '" ID_A "/populatoin' is neither owned by " ID_B;
    for (int64_t end = lt_it_ms() + 30000;
         lt_it_ms() < end && (lt_it_file_count(src.log_path, 0, "still not granted", NULL) < 1 ||
                              lt_it_file_count(snk.log_path, 0, "still not granted", NULL) < 1);
         usleep(200 * 1000))
        ;
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "still not granted", NULL) >= 1);
    CU_ASSERT_EQUAL(lt_it_file_count(src.log_path, 0, line, "ERROR"), 1);
    CU_ASSERT_EQUAL(lt_it_file_count(src.log_path, 0, line, NULL), 1);
    CU_ASSERT(lt_it_file_count(src.log_path, 0, "correct 'dataset' in ", x.typo) == 1);
    CU_ASSERT(lt_it_file_count(snk.log_path, 0, "still not granted", NULL) >= 1);
    CU_ASSERT_EQUAL(lt_it_file_count(snk.log_path, 0, sink_line, "ERROR"), 1);
    CU_ASSERT_EQUAL(lt_it_file_count(snk.log_path, 0, sink_line, NULL), 1);

    /* meanwhile the right dataset of the same source publishes */
    LT_IT_REQUIRE(lt_it_sql(x.db, "INSERT INTO citizens VALUES ('038190000002', 'Lê Thị Bình')") ==
                  0);
    CU_ASSERT(lt_ft_wait_seq(x.ga, DS, 2, 5000) == 0);
    CU_ASSERT(lt_it_proc_stop(&src, 15000) == 0);
    CU_ASSERT(lt_it_proc_stop(&snk, 15000) == 0);
    if (CU_get_number_of_failures()) {
        lt_it_file_dump(src.log_path);
        lt_it_file_dump(snk.log_path);
    }
out:
    lt_it_proc_kill(&src);
    lt_it_proc_kill(&snk);
    lt_it_fed_cleanup(&x.fed);
}

/* `--once` with a dataset the directory does not grant: it would be
 * retried for ever (every 10 s, a newer directory may grant it); the run
 * publishes the other dataset, then exits 1 naming the one left and why.
 * The run is bounded (CLI_MS): a source that does not end fails. */
static void test_once_not_granted(void)
{
    static grants_t x;
    char out[PATH_MAX];
    LT_IT_REQUIRE(s_grants_fed(&x) == 0);
    LT_IT_REQUIRE(lt_ft_wait_seq(x.ga, DS, 1, READY_MS) == 0);
    LT_IT_REQUIRE(lt_it_sql(x.db, "INSERT INTO citizens VALUES ('038190000002', 'Lê Thị Bình')") ==
                  0);
    snprintf(out, sizeof out, "%.4000s/once.out", x.fed.dir);
    const char *args[] = {"source", "--config", x.typo, "--once", NULL};
    CU_ASSERT_EQUAL(lt_it_run_cli(x.fed.dir, out, args, CLI_MS), 1);
    CU_ASSERT(lt_it_file_count(out, 0, "ERROR",
                               "dataset=" TYPO " is not published: the owner's directory does "
                               "not grant it to this member") == 1);
    CU_ASSERT(lt_it_file_count(out, 0, "--once ends without it", NULL) == 1);
    CU_ASSERT(lt_it_file_count(out, 0, "dataset=" DS " is not published", NULL) == 0);
    CU_ASSERT(lt_ft_last_seq(x.ga, DS) >= 2); /* the granted one is published */
    if (CU_get_number_of_failures())
        lt_it_file_dump(out);
out:
    lt_it_fed_cleanup(&x.fed);
}

static void s_teardown(void)
{
    lt_it_cleanup_all();
}

int main(int argc, char **argv)
{
    static const lt_it_test_t tests[] = {
        {"--check reports each problem with its fix", test_check_reports_fixes},
        {"--check warns of a subscription policy that lists no purposes",
         test_check_policy_without_purposes},
        {"sd_notify: READY, WATCHDOG, RELOADING, STOPPING", test_sd_notify},
        {"healthy federation: no WARN, state changes once, JSON", test_healthy_federation_logs},
        {"adapters tag every line with program, member, dataset", test_adapter_log_tags},
        {"a peer not answering warns once; connected and lost once",
         test_unreachable_and_lost_peer},
        {"adapters' --check refuse a dataset or stream not granted", test_check_grants},
        {"a source logs a dataset not granted once; its other dataset publishes",
         test_run_not_granted},
        {"--once with a dataset not granted publishes the other, then exits 1 naming it",
         test_once_not_granted},
        {NULL, NULL},
    };
    static const lt_it_suite_t suite = {"service", NULL, NULL, NULL, s_teardown, tests};
    return lt_it_main(argc, argv, &suite);
}

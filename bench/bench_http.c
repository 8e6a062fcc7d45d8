/* bench_http: lookups through the HTTP API (`lienthong api`, docs/ARCHITECTURE.md
 * "HTTP API") beside the same lookups over the local API, measured in the
 * same run: application -> HTTP API -> local gateway -> owner gateway ->
 * signed answer, verified by the local gateway -> JSON.
 *
 * The load generator is libcurl's multi interface: 100 requests in flight,
 * each on its own keep-alive connection that is reused for the next
 * request. Latency is measured one request at a time, for both. Prints
 *   bench: http-lookup-throughput N lookups/s | raw N lookups/s | ratio R
 *   bench: http-lookup-latency-p50 N us | raw N us | ratio R
 *   bench: http-lookup-cpu N us/lookup | raw N us/lookup | ratio R
 * where raw is the local API (100 in flight, or one at a time); the CPU
 * figure is the time all four processes spent per lookup in the
 * throughput phases, each process's share on one line per phase.
 *
 * usage: bench_http LIENTHONG_BINARY [REQUESTS] */
#define _GNU_SOURCE /* memmem */
#include "lt_apicfg.h"
#include "lt_bench.h"
#include "lt_clock.h"
#include "lt_itest.h"
#include "lt_raw.h"
#include "lt_sock.h"

#include <curl/curl.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define DATASET    "VN/GOV/BCA/population"
#define RECORDS    10000
#define INFLIGHT   100
#define TIMEOUT_MS 15000

static const char *s_source =
    "datasets = ( { id = \"" DATASET "\"; owner = \"VN/GOV/BCA\";\n"
    "  type = \"lienthong.records.Population\"; key = \"personal_id\"; } );\n"
    "policies = ( { consumer = \"VN/COM/VIETTEL\"; target = \"" DATASET "\";\n"
    "  allow = [\"lookup\"]; fields = [\"full_name\", \"date_of_birth\", \"sex\"];\n"
    "  purposes = [\"BENCH\"]; } );\n";

/* ---- HTTP, with libcurl's multi interface ---------------------------------------------------- */

typedef struct {
    CURL *easy;
    char body[512];
    size_t got; /* bytes of the answer */
    int ok;     /* the answer so far says "signature":"verified" */
    struct timespec start;
} slot_t;

typedef struct {
    CURLM *multi;
    slot_t slots[INFLIGHT];
    struct curl_slist *headers;
    char url[128];
} http_t;

static size_t s_write(char *data, size_t size, size_t n, void *arg)
{
    slot_t *s = arg;
    size_t len = size * n;
    /* A lookup answer is small; the marker sits in its first kilobytes. */
    if (memmem(data, len, "\"signature\":\"verified\"", 22))
        s->ok = 1;
    s->got += len;
    return len;
}

static int s_http_start(http_t *h, slot_t *s, long i)
{
    char key[24];
    lt_bench_key(i % RECORDS, key);
    snprintf(s->body, sizeof s->body,
             "{\"dataset\":\"" DATASET "\",\"key\":\"%s\",\"fields\":[\"full_name\","
             "\"date_of_birth\"],\"purpose\":\"BENCH\",\"officer\":\"bench\",\"case_ref\":"
             "\"BENCH-1\"}",
             key);
    s->got = 0;
    s->ok = 0;
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    return curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body) == CURLE_OK &&
                   curl_multi_add_handle(h->multi, s->easy) == CURLM_OK
               ? 0
               : -1;
}

static int s_http_init(http_t *h, int port, const char *token)
{
    char auth[128];
    memset(h, 0, sizeof *h);
    snprintf(h->url, sizeof h->url, "http://127.0.0.1:%d/v1/lookup", port);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    struct curl_slist *l = curl_slist_append(NULL, auth);
    if (l)
        h->headers = curl_slist_append(l, "Content-Type: application/json");
    if (!h->headers || !(h->multi = curl_multi_init()) ||
        curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)INFLIGHT) != CURLM_OK ||
        curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS, (long)INFLIGHT) != CURLM_OK)
        return -1;
    for (int i = 0; i < INFLIGHT; i++) {
        slot_t *s = &h->slots[i];
        if (!(s->easy = curl_easy_init()) ||
            curl_easy_setopt(s->easy, CURLOPT_URL, h->url) != CURLE_OK ||
            curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, h->headers) != CURLE_OK ||
            curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, s_write) != CURLE_OK ||
            curl_easy_setopt(s->easy, CURLOPT_WRITEDATA, s) != CURLE_OK ||
            curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s) != CURLE_OK ||
            curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, (long)TIMEOUT_MS) != CURLE_OK ||
            curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L) != CURLE_OK)
            return -1;
    }
    return 0;
}

static void s_http_destroy(http_t *h)
{
    for (int i = 0; i < INFLIGHT; i++)
        if (h->slots[i].easy) {
            curl_multi_remove_handle(h->multi, h->slots[i].easy);
            curl_easy_cleanup(h->slots[i].easy);
        }
    if (h->multi)
        curl_multi_cleanup(h->multi);
    curl_slist_free_all(h->headers);
}

/* One finished transfer: 1 when it was a 200 with a verified answer. */
static int s_http_done(http_t *h, CURLMsg *m, slot_t **slot, double *us)
{
    slot_t *s = NULL;
    long code = 0;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&s);
    curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &code);
    *us = lt_bench_us_since(&s->start);
    curl_multi_remove_handle(h->multi, m->easy_handle);
    *slot = s;
    if (m->data.result != CURLE_OK || code != 200 || !s->ok) {
        fprintf(stderr, "bench_http: transfer failed: %s, HTTP %ld\n",
                curl_easy_strerror(m->data.result), code);
        return 0;
    }
    return 1;
}

/* As lt_bench_queries, over HTTP: n lookups with `inflight` (<= INFLIGHT)
 * transfers outstanding, each slot's connection kept alive. */
static double s_http_run(http_t *h, long n, int inflight, double *p50)
{
    double p99;
    double *lat = inflight == 1 ? calloc((size_t)n, sizeof *lat) : NULL;
    long sent = 0, got = 0, good = 0;
    int64_t t0 = lt_clock_mono_ms();
    for (; sent < inflight && sent < n; sent++)
        if (s_http_start(h, &h->slots[sent], sent) != 0)
            goto out;
    while (got < n) {
        int running, left;
        if (curl_multi_perform(h->multi, &running) != CURLM_OK)
            goto out;
        /* Finished transfers are read right after perform, and the slots
         * restarted, before waiting: else a wait would sit out its time. */
        CURLMsg *m;
        while ((m = curl_multi_info_read(h->multi, &left))) {
            slot_t *s;
            double us;
            if (m->msg != CURLMSG_DONE)
                continue;
            good += s_http_done(h, m, &s, &us);
            if (lat)
                lat[got] = us;
            got++;
            if (sent < n && s_http_start(h, s, sent++) != 0)
                goto out;
        }
        if (got < n && curl_multi_poll(h->multi, NULL, 0, 1000, NULL) != CURLM_OK)
            goto out;
    }
    if (lat)
        lt_bench_percentiles(lat, n, p50, &p99);
out:
    free(lat);
    double secs = (double)(lt_clock_mono_ms() - t0) / 1000.0;
    return good == n && secs > 0 ? (double)n / secs : -1;
}

/* ---- set-up ------------------------------------------------------------------------------- */

/* Writes api.conf beside the caller's configuration and starts `lienthong
 * api`; token receives the application's bearer token. */
static pid_t s_start_api(lt_it_fed_t *f, lt_it_gw_t *caller, int port, char token[65])
{
    char hash[65], path[PATH_MAX + 32], log[PATH_MAX + 32], text[PATH_MAX + 1024];
    lt_apicfg_token_generate(token, hash);
    snprintf(text, sizeof text,
             /* One application on one address with INFLIGHT requests at
              * once: the per-address and per-application bounds raised
              * past it, as an operator would for such an application. */
             "gateway_config = \"%s\";\nport = %d;\nmax_connections = 512;\n"
             "max_connections_per_ip = 512;\nmax_in_flight = 256;\n"
             "apps = ( { name = \"bench\"; token_hash = \"%s\"; datasets = [\"" DATASET "\"];\n"
             "  fields = [\"full_name\", \"date_of_birth\"]; purposes = [\"BENCH\"];"
             " rate = 100000; } );\n",
             caller->conf_path, port, hash);
    snprintf(path, sizeof path, "%s/api.conf", f->dir);
    snprintf(log, sizeof log, "%s/api.log", f->dir);
    if (lt_it_write_file(path, text) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (!freopen(log, "a", stderr))
            _exit(126);
        execl(lt_it_binary(), "lienthong", "api", "--config", path, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static size_t s_discard(char *data, size_t size, size_t n, void *arg)
{
    (void)data;
    (void)arg;
    return size * n;
}

/* Waits until the API answers GET /healthz. */
static int s_wait_api(int port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    CURL *c = curl_easy_init();
    long code = 0;
    if (!c || curl_easy_setopt(c, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, s_discard) != CURLE_OK)
        goto out;
    for (int64_t end = lt_clock_mono_ms() + 10000; code != 200 && lt_clock_mono_ms() < end;
         usleep(100000))
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
out:
    curl_easy_cleanup(c);
    return code == 200 ? 0 : -1;
}

/* CPU time so far of the processes a request crosses: the owner's and the
 * caller's gateways, the HTTP API and this program (the load generator and
 * the local-API client). */
enum { CPU_OWNER, CPU_CALLER, CPU_API, CPU_CLIENT, CPU_N };
static void s_cpu_now(const lt_it_fed_t *f, const lt_it_gw_t *caller, pid_t api, double ms[CPU_N])
{
    ms[CPU_OWNER] = lt_bench_cpu_ms(f->gateways[0].pid);
    ms[CPU_CALLER] = lt_bench_cpu_ms(caller->pid);
    ms[CPU_API] = lt_bench_cpu_ms(api);
    ms[CPU_CLIENT] = lt_bench_cpu_ms(getpid());
}

/* Prints the CPU time per request of each process over a phase of n
 * requests that began at before, and returns their sum (-1 if unknown):
 * where the time of a request goes, since every process shares the same
 * cores (docs/performance.md, "HTTP API"). */
static double s_cpu_report(const char *phase, const double before[CPU_N], const double after[CPU_N],
                           long n)
{
    static const char *names[CPU_N] = {"owner gateway", "caller gateway", "HTTP API",
                                       "this program"};
    double total = 0;
    printf("bench_http: cpu per lookup over %s:", phase);
    for (int i = 0; i < CPU_N; i++) {
        if (before[i] < 0 || after[i] < 0) {
            printf(" unknown (no /proc)\n");
            return -1;
        }
        double us = (after[i] - before[i]) * 1000.0 / (double)n;
        total += us;
        printf(" %s %.0f us,", names[i], us);
    }
    printf(" in all %.0f us\n", total);
    return total;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_http LIENTHONG_BINARY [REQUESTS]\n");
        return 2;
    }
    lt_it_set_binary(argv[1]);
    long n = argc > 2 ? atol(argv[2]) : 20000;
    lt_it_fed_t f;
    int rc = 1, port = 0;
    pid_t api = -1;
    void *app = NULL;
    http_t h;
    memset(&h, 0, sizeof h);
    char token[65];
    if (n < 100 || sodium_init() < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    lt_it_gw_t *caller;
    if (lt_bench_pair(&f, s_source, DATASET, RECORDS, &caller, &app) != 0 ||
        (port = lt_it_free_port()) <= 0 || (api = s_start_api(&f, caller, port, token)) <= 0 ||
        s_wait_api(port) != 0 || s_http_init(&h, port, token) != 0)
        goto out;
    double x, raw_p50 = 0, http_p50 = 0;
    /* warm-up: connections, caches, the API's pool of local clients */
    const char *step = lt_bench_queries(app, DATASET, RECORDS, 0, 200, 1, &x, &x) < 0
                           ? "local warm-up"
                       : s_http_run(&h, 2000, INFLIGHT, &x) < 0 ? "HTTP warm-up"
                                                                : NULL;
    if (step) {
        fprintf(stderr, "bench_http: %s failed\n", step);
        goto out;
    }
    double raw_lat = lt_bench_queries(app, DATASET, RECORDS, 0, n / 10, 1, &raw_p50, &x);
    double http_lat = s_http_run(&h, n / 10, 1, &http_p50);
    double cpu[3][CPU_N];
    s_cpu_now(&f, caller, api, cpu[0]);
    double raw_tp = lt_bench_queries(app, DATASET, RECORDS, 0, n, INFLIGHT, &x, &x);
    s_cpu_now(&f, caller, api, cpu[1]);
    double http_tp = s_http_run(&h, n, INFLIGHT, &x);
    s_cpu_now(&f, caller, api, cpu[2]);
    if (raw_lat < 0 || http_lat < 0 || raw_tp < 0 || http_tp < 0)
        goto out;
    double raw_cpu = s_cpu_report("the local API", cpu[0], cpu[1], n);
    double http_cpu = s_cpu_report("HTTP", cpu[1], cpu[2], n);
    lt_raw_report("http-lookup-throughput", http_tp, "lookups/s", raw_tp, "lookups/s", 0);
    if (raw_cpu > 0 && http_cpu > 0)
        lt_raw_report("http-lookup-cpu", http_cpu, "us/lookup", raw_cpu, "us/lookup", 1);
    lt_raw_report("http-lookup-latency-p50", http_p50, "us", raw_p50, "us", 1);
    rc = 0;
out:
    s_http_destroy(&h);
    if (api > 0) {
        kill(api, SIGTERM);
        waitpid(api, NULL, 0);
    }
    if (app)
        zmq_close(app);
    if (rc) {
        char cmd[PATH_MAX + 64];
        snprintf(cmd, sizeof cmd, "tail -20 %s/api.log >&2", f.dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_http: no api log\n");
        for (size_t i = 0; i < f.n_gateways; i++)
            lt_it_log_dump(&f.gateways[i]);
    }
    lt_it_fed_cleanup(&f);
    lt_it_shutdown();
    curl_global_cleanup();
    return rc;
}

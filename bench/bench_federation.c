/* bench_federation: a national federation on one machine.
 *
 * 90 real gateway processes on 127.0.0.1, each with its own keys, data dir
 * and store: the Ministry of Public Security VN/GOV/BCA (owner of the
 * population dataset and of 63 per-province views population.pNN), 22
 * ministries VN/GOV/M01..M22 (lookup and verify), 4 state enterprises
 * (verify) and the 63 provinces VN/PROV/NN, each replicating its own view.
 *
 * This program plays the BCA source adapter on the owner's local socket and
 * the applications on the ministries' and enterprises' local sockets:
 *   1. initial load of N citizens (spread over the provinces by census
 *      weight); measures when every province holds its whole view;
 *      Tiers: the 5 centrally-run cities (01, 31, 48, 79, 92) and the 58
 *      other provinces;
 *   2. steady phase of S seconds: changes at a steady rate (address changes,
 *      moves between provinces, deaths) while 26 callers issue lookups and
 *      verifies at a steady total rate; once a second every province's
 *      replica last_seq is compared with the owner's (StatusRequest), giving
 *      the lag in records and, from the changed_at of the first missing
 *      record in the owner's log, in ms;
 *   3. drain, peak RSS, SIGTERM everywhere, then every replica store is
 *      compared byte for byte with the owner's view (log and state) and with
 *      the source model.
 * Raw libzmq baselines (lt_raw) are measured in the same run, before the load.
 *
 * usage: bench_federation LIENTHONG_BINARY [--citizens N] [--seconds S]
 *        [--rate CHANGES/S] [--qps REQUESTS/S] [--tick-ms MS] [--seed X]
 *        [--timeout SECONDS]
 * Exit status 0 only when every phase passed and 63/63 replicas equal their
 * views. Every wait is bounded; the whole run is bounded by --timeout. */
#include "lt_fedsim.h"
#include "lt_bench.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_itest.h"
#include "lt_raw.h"
#include "lt_sock.h"
#include "records/population.pb-c.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define OWNER_ID   "VN/GOV/BCA"
#define DS         OWNER_ID "/population"
#define N_MIN      22
#define N_ENT      4
#define N_CALLERS  (N_MIN + N_ENT)
#define N_PROV     LT_FEDSIM_PROVINCES
#define N_GW       (1 + N_CALLERS + N_PROV)
#define GW_CALLER0 1
#define GW_PROV0   (1 + N_CALLERS)

#define PER_PUBLISH      1000
#define LOAD_IN_FLIGHT   8
#define STEADY_IN_FLIGHT 64
#define REQ_DEADLINE_MS  10000
#define MAX_OUT          (1u << 18)

#if LT_IT_MAX_GATEWAYS < N_GW || LT_IT_MAX_MEMBERS < N_GW
#error "bench_federation needs LT_IT_MAX_MEMBERS and LT_IT_MAX_GATEWAYS >= 90 (lt_itest.h)"
#endif

static const char *const s_enterprises[N_ENT] = {"VN/COM/VIETTEL", "VN/COM/MOBIFONE", "VN/COM/VNPT",
                                                 "VN/COM/EVN"};
static const char *const s_tier_name[2] = {"cities", "provinces"};

typedef struct {
    const char *bin;
    long citizens;
    double seconds;
    double rate;
    double qps;
    int tick_ms;
    uint64_t seed;
    int timeout_s;
} opts_t;

static lt_it_fed_t s_fed; /* large: static, not on the stack */
static char s_views[N_PROV][64];
static volatile sig_atomic_t s_abort;

/* ---- time, signals, numbers ------------------------------------------------------ */

static int64_t s_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !s_abort)
        ;
}

/* First SIGALRM/SIGINT/SIGTERM: every loop stops and the run cleans up.
 * If that has not finished 20 s later: SIGKILL the gateways and leave. */
static void s_on_signal(int sig)
{
    static const char msg[] = "bench_federation: time budget exceeded or interrupted; stopping\n";
    if (!s_abort) {
        s_abort = 1;
        (void)!write(2, msg, sizeof msg - 1);
        alarm(20);
        return;
    }
    if (sig == SIGALRM) {
        for (size_t i = 0; i < LT_IT_MAX_GATEWAYS; i++)
            if (s_fed.gateways[i].pid > 0)
                kill(s_fed.gateways[i].pid, SIGKILL);
        _exit(1);
    }
}

static lt_it_gw_t *s_gw(int i)
{
    return &s_fed.gateways[i];
}

static int s_is_city(int p)
{
    return lt_fedsim_provinces[p].city;
}

/* ---- the directory and the gateways -------------------------------------------------- */

#define VIEW_FIELDS                                                                                \
    "[\"personal_id\", \"full_name\", \"date_of_birth\", \"sex\", \"current_province\", "          \
    "\"current_address\", \"status\"]"

static char *s_source(void)
{
    size_t cap = 256 * 1024, n = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    n += (size_t)snprintf(b + n, cap - n,
                          "datasets = ( { id = \"" DS "\"; owner = \"" OWNER_ID "\";\n"
                          "  type = \"lienthong.records.Population\"; key = \"personal_id\";\n"
                          "  description = \"National Population Database\"; } );\nviews = (\n");
    for (int p = 0; p < N_PROV; p++)
        n += (size_t)snprintf(b + n, cap - n,
                              "  { id = \"%s\"; dataset = \"" DS "\"; fields = " VIEW_FIELDS ";\n"
                              "    where = { current_province = \"%s\"; }; }%s\n",
                              s_views[p], lt_fedsim_provinces[p].code, p + 1 < N_PROV ? "," : "");
    n += (size_t)snprintf(b + n, cap - n, ");\npolicies = (\n");
    for (int p = 0; p < N_PROV; p++)
        n += (size_t)snprintf(
            b + n, cap - n,
            "  { consumer = \"VN/PROV/%s\"; target = \"%s\"; allow = [\"subscribe\"]; },\n",
            lt_fedsim_provinces[p].code, s_views[p]);
    for (int m = 0; m < N_MIN; m++)
        n += (size_t)snprintf(
            b + n, cap - n,
            "  { consumer = \"VN/GOV/M%02d\"; target = \"" DS "\"; "
            "allow = [\"lookup\", \"verify\"];\n"
            "    fields = [\"full_name\", \"date_of_birth\", \"sex\", \"status\"]; "
            "purposes = [\"PUBLIC-SERVICE\"]; },\n",
            m + 1);
    for (int e = 0; e < N_ENT; e++)
        n += (size_t)snprintf(b + n, cap - n,
                              "  { consumer = \"%s\"; target = \"" DS "\"; allow = [\"verify\"];\n"
                              "    fields = [\"full_name\", \"date_of_birth\"]; "
                              "purposes = [\"SUBSCRIBER-KYC\"]; }%s\n",
                              s_enterprises[e], e + 1 < N_ENT ? "," : "");
    snprintf(b + n, cap - n, ");\n");
    return b;
}

static int s_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* Ports come from 32000..32767: above lt_it_free_port's range (which other
 * integration tests running at the same time draw from, about 20 each) and
 * below the kernel's ephemeral range. */
static int s_port(void)
{
    static int next;
    if (!next)
        next = 32000 + (int)(getpid() % 8) * 96;
    for (int tries = 0; tries < 768; tries++) {
        int port = next++;
        if (next > 32767)
            next = 32000;
        if (s_port_free(port))
            return port;
    }
    return -1;
}

static lt_it_member_t *s_member(const char *id)
{
    lt_it_member_t *m = lt_it_member_add(&s_fed, id, 0);
    if (!m || (m->port = s_port()) < 0)
        return NULL;
    snprintf(m->endpoint, sizeof m->endpoint, "tcp://127.0.0.1:%d", m->port);
    return m;
}

static int s_build(void)
{
    char id[64];
    if (!s_member(OWNER_ID))
        return -1;
    for (int m = 0; m < N_MIN; m++) {
        snprintf(id, sizeof id, "VN/GOV/M%02d", m + 1);
        if (!s_member(id))
            return -1;
    }
    for (int e = 0; e < N_ENT; e++)
        if (!s_member(s_enterprises[e]))
            return -1;
    for (int p = 0; p < N_PROV; p++) {
        snprintf(id, sizeof id, "VN/PROV/%s", lt_fedsim_provinces[p].code);
        if (!s_member(id))
            return -1;
    }
    static const char *peers[] = {OWNER_ID, NULL};
    char extra[512];
    for (int i = 0; i < N_GW; i++) {
        int p = i - GW_PROV0;
        if (p >= 0)
            snprintf(extra, sizeof extra, "subscribe = ( { stream = \"%s\"; } );\n", s_views[p]);
        else
            extra[0] = 0;
        if (!lt_it_gw_new(&s_fed, &s_fed.members[i], 1, i ? peers : NULL, extra))
            return -1;
    }
    return 0;
}

/* ---- status probes: one StatusRequest to many gateways at once ------------------------- */

typedef struct {
    lt_it_gw_t *g;
    void *sock;
    int waiting;
    Lienthong__Envelope *rep; /* the StatusReply of the last round, or NULL */
    int64_t at_ns;            /* when it arrived (monotonic) */
    int64_t at_wall_ms;
} probe_t;

static probe_t s_probes[N_GW];

static void s_probe_close(probe_t *p)
{
    if (p->sock)
        zmq_close(p->sock);
    p->sock = NULL;
    p->waiting = 0;
}

static void s_probes_shutdown(void)
{
    for (int i = 0; i < N_GW; i++) {
        s_probe_close(&s_probes[i]);
        lt_wire_free(&s_probes[i].rep);
    }
}

/* Sends StatusRequest to gateways idx[0..n), reopening the sockets closed
 * after a round they did not answer; the previous replies are dropped. */
static void s_probe_send(const int *idx, int n)
{
    char err[256];
    lt_sock_opts_t o;
    lt_sock_opts_default(&o);
    Lienthong__StatusRequest req = LIENTHONG__STATUS_REQUEST__INIT;
    for (int k = 0; k < n; k++) {
        probe_t *p = &s_probes[idx[k]];
        p->g = s_gw(idx[k]);
        lt_wire_free(&p->rep);
        if (!p->sock)
            p->sock = lt_sock_local_client(lt_it_ctx(), p->g->sock_path, &o, err, sizeof err);
        p->waiting =
            p->sock && lt_wire_send_body(p->sock, NULL, 0, LIENTHONG__ENVELOPE__BODY_STATUS_REQUEST,
                                         &req) == 0;
    }
}

/* The poll items of the probes of idx[0..n) still waiting; who[] their
 * gateways. Returns how many. */
static int s_probe_items(const int *idx, int n, zmq_pollitem_t *items, int *who)
{
    int m = 0;
    for (int k = 0; k < n; k++)
        if (s_probes[idx[k]].waiting) {
            items[m] = (zmq_pollitem_t){s_probes[idx[k]].sock, 0, ZMQ_POLLIN, 0};
            who[m++] = idx[k];
        }
    return m;
}

/* Takes the message waiting on p's socket: 1 when it is the StatusReply
 * (kept, with when it arrived), 0 when it is anything else (dropped). */
static int s_probe_take(probe_t *p)
{
    char err[256];
    lt_wire_in_t in;
    Lienthong__ErrorCode code;
    Lienthong__Envelope *rep = NULL;
    if (lt_wire_recv(p->sock, 0, ZMQ_DONTWAIT, &in) == 0 && in.frames == 1)
        rep = lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body), LT_LOCAL_MAX_MESSAGE,
                             &code, err, sizeof err);
    lt_wire_in_close(&in);
    if (!rep || rep->body_case != LIENTHONG__ENVELOPE__BODY_STATUS_REPLY) {
        lt_wire_free(&rep);
        return 0;
    }
    p->rep = rep;
    p->at_ns = s_ns();
    p->at_wall_ms = lt_clock_now_ms();
    p->waiting = 0;
    return 1;
}

/* Sends StatusRequest to gateways idx[0..n) and collects the replies for
 * up to timeout_ms. Returns how many answered; the others have rep NULL
 * and their socket is reopened next round (no stale reply is ever taken). */
static int s_probe(const int *idx, int n, int timeout_ms)
{
    s_probe_send(idx, n);
    int64_t end = s_ns() + (int64_t)timeout_ms * 1000000;
    int got = 0;
    zmq_pollitem_t items[N_GW];
    int who[N_GW];
    while (!s_abort) {
        int m = s_probe_items(idx, n, items, who);
        int64_t left = (end - s_ns()) / 1000000;
        if (!m || left <= 0)
            break;
        if (zmq_poll(items, m, (long)left) <= 0)
            continue;
        for (int j = 0; j < m; j++)
            if (items[j].revents & ZMQ_POLLIN)
                got += s_probe_take(&s_probes[who[j]]);
    }
    for (int k = 0; k < n; k++)
        if (s_probes[idx[k]].waiting)
            s_probe_close(&s_probes[idx[k]]);
    return got;
}

/* last_seq of stream in a status reply; 1 when listed, 0 when not. */
static int s_last(const Lienthong__Envelope *rep, const char *stream, uint64_t *last)
{
    *last = 0;
    for (size_t i = 0; rep && i < rep->status_reply->n_streams; i++)
        if (strcmp(rep->status_reply->streams[i]->stream, stream) == 0) {
            *last = rep->status_reply->streams[i]->last_seq;
            return 1;
        }
    return 0;
}

static int s_has_subscriber(const Lienthong__Envelope *rep, const char *stream, const char *member)
{
    for (size_t i = 0; rep && i < rep->status_reply->n_streams; i++) {
        const Lienthong__StreamStatus *s = rep->status_reply->streams[i];
        if (strcmp(s->stream, stream) != 0)
            continue;
        for (size_t j = 0; j < s->n_subscribers; j++)
            if (strcmp(s->subscribers[j]->member, member) == 0)
                return 1;
    }
    return 0;
}

static int s_has_peer(const Lienthong__Envelope *rep, const char *member)
{
    for (size_t i = 0; rep && i < rep->status_reply->n_peers_connected; i++)
        if (strcmp(rep->status_reply->peers_connected[i], member) == 0)
            return 1;
    return 0;
}

static int s_all[N_GW], s_owner_and_provinces[1 + N_PROV], s_provinces_idx[N_PROV];

static void s_index_sets(void)
{
    for (int i = 0; i < N_GW; i++)
        s_all[i] = i;
    s_owner_and_provinces[0] = 0;
    for (int p = 0; p < N_PROV; p++)
        s_owner_and_provinces[1 + p] = s_provinces_idx[p] = GW_PROV0 + p;
}

static int s_start_gateways(void)
{
    for (int i = 0; i < N_GW; i++)
        if (lt_it_gw_start(s_gw(i)) != 0) {
            fprintf(stderr, "bench_federation: cannot start gateway %s\n", s_gw(i)->member->id);
            return -1;
        }
    return 0;
}

/* 0 while gateway i runs; -2 when it exited because its port was taken
 * meanwhile, -1 when it exited for another reason (its log shown). */
static int s_check_alive(int i)
{
    if (lt_it_gw_alive(s_gw(i)))
        return 0;
    fprintf(stderr, "bench_federation: %s exited at start (wait status 0x%x)\n",
            s_gw(i)->member->id, (unsigned)s_gw(i)->wstatus);
    if (lt_it_log_has(s_gw(i), 0, "Address already in use", NULL))
        return -2;
    lt_it_log_dump(s_gw(i));
    return -1;
}

/* Out of time: names the first gateway not ready and shows its log. */
static void s_report_not_ready(const int *ready)
{
    for (int i = 0; i < N_GW; i++)
        if (!ready[i]) {
            fprintf(stderr, "bench_federation: %s not ready in time\n", s_gw(i)->member->id);
            lt_it_log_dump(s_gw(i));
            break;
        }
}

/* Probes the gateways not yet ready until each answers status, or until
 * `end`. 0, -1, or -2 when one found its port taken (s_check_alive). */
static int s_wait_ready(int64_t end)
{
    int ready[N_GW] = {0}, n_ready = 0;
    while (n_ready < N_GW) {
        if (s_abort || s_ns() > end) {
            s_report_not_ready(ready);
            return -1;
        }
        int idx[N_GW], n = 0;
        for (int i = 0; i < N_GW; i++)
            if (!ready[i]) {
                int st = s_check_alive(i);
                if (st != 0)
                    return st;
                idx[n++] = i;
            }
        s_probe(idx, n, 300);
        for (int k = 0; k < n; k++)
            if (s_probes[idx[k]].rep) {
                ready[idx[k]] = 1;
                n_ready++;
            }
        if (n_ready < N_GW)
            s_sleep_ms(50);
    }
    return 0;
}

/* How many links are not up yet in the last probe round: provinces the
 * owner does not list as subscribers, callers not connected to the owner. */
static int s_links_missing(void)
{
    int missing = 0;
    for (int p = 0; p < N_PROV; p++)
        if (!s_has_subscriber(s_probes[0].rep, s_views[p], s_gw(GW_PROV0 + p)->member->id))
            missing++;
    for (int c = 0; c < N_CALLERS; c++)
        if (!s_has_peer(s_probes[GW_CALLER0 + c].rep, OWNER_ID))
            missing++;
    return missing;
}

/* Probes every gateway until every link is up, or until `end`. */
static int s_wait_connected(int64_t end)
{
    for (;;) {
        if (s_abort || s_ns() > end) {
            fprintf(stderr, "bench_federation: the federation did not connect in time\n");
            lt_it_log_dump(s_gw(0));
            return -1;
        }
        s_probe(s_all, N_GW, 1000);
        if (!s_links_missing())
            return 0;
        s_sleep_ms(200);
    }
}

/* Starts every gateway and waits until all answer status, then until the
 * provinces are subscribed and the callers greeted by the owner. -2 when
 * a gateway found its port taken (the caller rebuilds with fresh ports). */
static int s_start_all(int timeout_ms, double *ready_s, double *connected_s)
{
    int64_t t0 = s_ns(), end = t0 + (int64_t)timeout_ms * 1000000;
    if (s_start_gateways() != 0)
        return -1;
    int st = s_wait_ready(end);
    if (st != 0)
        return st;
    *ready_s = (double)(s_ns() - t0) / 1e9;
    if (s_wait_connected(end) != 0)
        return -1;
    *connected_s = (double)(s_ns() - t0) / 1e9;
    return 0;
}

/* ---- the source: publishing on the owner's local socket -------------------------------- */

typedef struct {
    uint64_t id;
    int64_t t_ns;
    uint32_t n;
} flight_t;

typedef struct {
    void *sock;
    uint64_t seed;
    size_t n;          /* citizens */
    uint8_t *province; /* the model, owned by the publisher thread */
    uint32_t *version;
    uint8_t *status;
    lt_fedsim_rng_t rng;
    uint64_t cursor; /* last source cursor used */
    uint64_t next_req;
    flight_t fifo[STEADY_IN_FLIGHT];
    size_t head, count;
    /* run */
    int steady;
    double rate;
    int tick_ms;
    int64_t t_start, t_end;
    volatile int done;
    /* results */
    uint64_t made, acked, moves, deaths, addresses;
    uint64_t last_seq; /* last dataset seq acknowledged */
    lt_fedsim_series_t ack_ms;
    int64_t t_last_ack;
    uint64_t bytes; /* payload bytes published */
    volatile int failed;
    char err[256];
} pub_t;

static lt_fedsim_change_t s_changes[PER_PUBLISH];
static Lienthong__Change *s_change_ptrs[PER_PUBLISH];

/* Fills change k for citizen i from the model. */
static int s_change(pub_t *pb, int k, size_t i)
{
    lt_fedsim_model_t m = {pb->seed, pb->n, pb->province, pb->version, pb->status};
    size_t len = lt_fedsim_change(&m, i, ++pb->cursor, &s_changes[k]);
    if (!len)
        return -1;
    pb->bytes += len;
    s_change_ptrs[k] = &s_changes[k].change;
    return 0;
}

/* One steady-phase change: a move (25%), a death (3%) or a new address. */
static size_t s_mutate(pub_t *pb)
{
    size_t i = lt_fedsim_rng_below(&pb->rng, (uint32_t)pb->n);
    uint32_t roll = lt_fedsim_rng_below(&pb->rng, 100);
    if (roll < 25) {
        int to = pb->province[i];
        for (int t = 0; t < 8 && to == pb->province[i]; t++)
            to = lt_fedsim_rng_province(&pb->rng);
        if (to == pb->province[i])
            to = (to + 1) % N_PROV;
        pb->province[i] = (uint8_t)to;
        pb->version[i]++;
        pb->moves++;
    } else if (roll < 28 && pb->status[i] == LT_FEDSIM_ALIVE) {
        pb->status[i] = LT_FEDSIM_DECEASED;
        pb->deaths++;
    } else {
        pb->version[i]++;
        pb->addresses++;
    }
    return i;
}

/* Sends one Publish of k changes: the next citizens of the load, or
 * fresh changes in the steady phase. 0 sent, -1 failure. */
static int s_publish(pub_t *pb, uint32_t k)
{
    for (uint32_t j = 0; j < k; j++) {
        size_t i = pb->steady ? s_mutate(pb) : (size_t)pb->made + j;
        if (s_change(pb, (int)j, i) != 0) {
            snprintf(pb->err, sizeof pb->err, "record too large");
            return -1;
        }
    }
    Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
    p.request_id = ++pb->next_req;
    p.dataset = DS;
    p.n_changes = k;
    p.changes = s_change_ptrs;
    if (lt_wire_send_body(pb->sock, NULL, 0, LIENTHONG__ENVELOPE__BODY_PUBLISH, &p) != 0) {
        snprintf(pb->err, sizeof pb->err, "publish send failed: %s", zmq_strerror(zmq_errno()));
        return -1;
    }
    flight_t *f = &pb->fifo[(pb->head + pb->count) % STEADY_IN_FLIGHT];
    f->id = p.request_id;
    f->t_ns = s_ns();
    f->n = k;
    pb->count++;
    pb->made += k;
    return 0;
}

/* Handles every acknowledgement waiting; -1 on a refusal. */
static int s_acks(pub_t *pb)
{
    char err[256];
    for (;;) {
        lt_wire_in_t in;
        if (lt_wire_recv(pb->sock, 0, ZMQ_DONTWAIT, &in) != 0) {
            lt_wire_in_close(&in);
            return 0;
        }
        Lienthong__ErrorCode code;
        Lienthong__Envelope *rep =
            in.frames == 1 ? lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                            LT_LOCAL_MAX_MESSAGE, &code, err, sizeof err)
                           : NULL;
        lt_wire_in_close(&in);
        int ok =
            rep && rep->body_case == LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK && pb->count &&
            rep->publish_ack->request_id == pb->fifo[pb->head].id &&
            rep->publish_ack->last_seq - rep->publish_ack->first_seq + 1 == pb->fifo[pb->head].n;
        if (!ok) {
            snprintf(pb->err, sizeof pb->err, "publish not acknowledged as expected: %s",
                     !rep ? "undecodable reply"
                     : rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR
                         ? rep->error->message
                         : "ack out of order or short");
            lt_wire_free(&rep);
            return -1;
        }
        flight_t *f = &pb->fifo[pb->head];
        int64_t now = s_ns();
        lt_fedsim_series_add(&pb->ack_ms, (double)(now - f->t_ns) / 1e6);
        pb->acked += f->n;
        pb->last_seq = rep->publish_ack->last_seq;
        pb->t_last_ack = now;
        pb->head = (pb->head + 1) % STEADY_IN_FLIGHT;
        pb->count--;
        lt_wire_free(&rep);
    }
}

static int s_wait_acks(pub_t *pb, int timeout_ms)
{
    zmq_pollitem_t it = {pb->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) < 0 && zmq_errno() != EINTR)
        return -1;
    return s_acks(pb);
}

static void *s_publisher(void *arg)
{
    pub_t *pb = arg;
    int64_t last_progress = s_ns(), tick_ns = (int64_t)pb->tick_ms * 1000000,
            next_tick = pb->t_start;
    while (!s_abort && !pb->failed) {
        int64_t now = s_ns();
        if (!pb->steady) {
            if (pb->acked == pb->n)
                break;
            while (pb->made < pb->n && pb->count < LOAD_IN_FLIGHT && !pb->failed) {
                uint64_t k = pb->n - pb->made < PER_PUBLISH ? pb->n - pb->made : PER_PUBLISH;
                pb->failed = s_publish(pb, (uint32_t)k) != 0;
            }
        } else {
            if (now >= pb->t_end && pb->count == 0)
                break;
            /* Like a source adapter polling its database: at each tick,
             * whatever changed since the last one. */
            if (now >= next_tick && now < pb->t_end) {
                uint64_t due = (uint64_t)(pb->rate * (double)(now - pb->t_start) / 1e9);
                while (pb->made < due && pb->count < STEADY_IN_FLIGHT && !pb->failed) {
                    uint64_t k = due - pb->made < PER_PUBLISH ? due - pb->made : PER_PUBLISH;
                    pb->failed = s_publish(pb, (uint32_t)k) != 0;
                }
                while (next_tick <= now)
                    next_tick += tick_ns;
            }
        }
        uint64_t before = pb->acked;
        int wait = 100;
        if (pb->steady) {
            int64_t gap = next_tick - s_ns(), w = gap <= 0 ? 0 : (gap + 999999) / 1000000;
            wait = w > 100 ? 100 : (int)w;
        }
        if (!pb->failed && s_wait_acks(pb, wait) != 0)
            pb->failed = 1;
        if (pb->acked != before || pb->count == 0)
            last_progress = s_ns();
        else if (s_ns() - last_progress > 30000000000LL) {
            snprintf(pb->err, sizeof pb->err, "no acknowledgement for 30 s");
            pb->failed = 1;
        }
    }
    if (s_abort && !pb->failed) {
        snprintf(pb->err, sizeof pb->err, "aborted");
        pb->failed = 1;
    }
    pb->done = 1;
    return NULL;
}

/* ---- the applications: lookups and verifies on the callers' local sockets ---------------- */

enum { Q_MIN_LOOKUP, Q_MIN_VERIFY, Q_ENT_VERIFY, Q_CLASSES };
static const char *const s_qname[Q_CLASSES] = {"ministries lookup", "ministries verify",
                                               "enterprises verify"};

typedef struct {
    uint64_t id;
    int64_t t_ns;
    uint32_t citizen;
    uint8_t cls;
    uint8_t live;
} slot_t;

typedef struct {
    void *sock[N_CALLERS];
    uint64_t seed;
    size_t n;
    double qps;
    int64_t t_start, t_end;
    slot_t *slots; /* MAX_OUT, by request id */
    uint64_t outstanding;
    lt_fedsim_series_t lat_us[Q_CLASSES];
    uint64_t sent[Q_CLASSES], ok[Q_CLASSES], errors[Q_CLASSES], wrong[Q_CLASSES], lost[Q_CLASSES];
    uint64_t send_failed, unmatched;
    int64_t t_first, t_last;
    char first_error[256];
    volatile int done;
} qry_t;

/* A lookup by a ministry of person p's four released fields; *t gets when
 * it left. */
static int s_send_lookup(void *sock, uint64_t id, lt_fedsim_person_t *p, int64_t deadline,
                         int64_t *t)
{
    char *fields[] = {"full_name", "date_of_birth", "sex", "status"};
    Lienthong__LookupRequest lq = LIENTHONG__LOOKUP_REQUEST__INIT;
    lq.request_id = id;
    lq.dataset = DS;
    lq.key = p->personal_id;
    lq.fields = fields;
    lq.n_fields = 4;
    lq.purpose = "PUBLIC-SERVICE";
    lq.deadline_ms = deadline;
    *t = s_ns();
    return lt_wire_send_body(sock, NULL, 0, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &lq);
}

/* A verify of person p's name and date of birth, by a ministry or (cls
 * Q_ENT_VERIFY) an enterprise; *t gets when it left. */
static int s_send_verify(void *sock, int cls, uint64_t id, lt_fedsim_person_t *p, int64_t deadline,
                         int64_t *t)
{
    char *keys[] = {p->personal_id};
    Lienthong__Claim c1 = LIENTHONG__CLAIM__INIT, c2 = LIENTHONG__CLAIM__INIT;
    Lienthong__Claim *claims[] = {&c1, &c2};
    c1.field = "full_name";
    c1.value = p->full_name;
    c2.field = "date_of_birth";
    c2.value = p->date_of_birth;
    Lienthong__VerifyRequest vq = LIENTHONG__VERIFY_REQUEST__INIT;
    vq.request_id = id;
    vq.dataset = DS;
    vq.keys = keys;
    vq.n_keys = 1;
    vq.claims = claims;
    vq.n_claims = 2;
    vq.purpose = cls == Q_ENT_VERIFY ? "SUBSCRIBER-KYC" : "PUBLIC-SERVICE";
    vq.deadline_ms = deadline;
    *t = s_ns();
    return lt_wire_send_body(sock, NULL, 0, LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST, &vq);
}

/* Request k: from caller k mod 26 (the ministries alternate lookups and
 * verifies, the enterprises verify), about a citizen drawn from k. */
static int s_request(qry_t *q, uint64_t k)
{
    int c = (int)(k % N_CALLERS);
    int cls = c >= N_MIN ? Q_ENT_VERIFY : ((k / N_CALLERS) % 2 ? Q_MIN_VERIFY : Q_MIN_LOOKUP);
    lt_fedsim_rng_t r;
    lt_fedsim_rng_seed(&r, q->seed, 0x7175657279ULL ^ k);
    uint32_t i = lt_fedsim_rng_below(&r, (uint32_t)q->n);
    lt_fedsim_person_t p;
    lt_fedsim_person(q->seed, i, 0, 0, LT_FEDSIM_ALIVE, &p); /* identity fields only */
    uint64_t id = k + 1;
    slot_t *s = &q->slots[id % MAX_OUT];
    if (s->live) { /* ten seconds of requests in flight: the oldest is lost */
        q->lost[s->cls]++;
        q->outstanding--;
        s->live = 0;
    }
    int64_t deadline = lt_clock_now_ms() + REQ_DEADLINE_MS, t = 0;
    int sent = cls == Q_MIN_LOOKUP ? s_send_lookup(q->sock[c], id, &p, deadline, &t)
                                   : s_send_verify(q->sock[c], cls, id, &p, deadline, &t);
    if (sent != 0) {
        q->send_failed++;
        return -1;
    }
    *s = (slot_t){.id = id, .t_ns = t, .citizen = i, .cls = (uint8_t)cls, .live = 1};
    q->sent[cls]++;
    q->outstanding++;
    if (!q->t_first)
        q->t_first = t;
    q->t_last = t;
    return 0;
}

/* Keeps the first problem seen: "WHAT: A (B)". */
static void s_note_error(qry_t *q, const char *what, const char *a, const char *b)
{
    if (!q->first_error[0])
        snprintf(q->first_error, sizeof q->first_error, "%s: %s (%s)", what, a, b);
}

/* A lookup answer: good when it releases exactly the four fields asked,
 * as the source has them. Returns its request id (0 if undecodable). */
static uint64_t s_check_lookup(qry_t *q, const Lienthong__SignedAnswer *sa, int *good)
{
    Lienthong__LookupAnswer *a =
        lienthong__lookup_answer__unpack(NULL, sa->answer.len, sa->answer.data);
    if (!a)
        return 0;
    uint64_t id = a->request_id;
    slot_t *s = &q->slots[id % MAX_OUT];
    if (s->live && s->id == id) {
        lt_fedsim_person_t p;
        lt_fedsim_person(q->seed, s->citizen, 0, 0, LT_FEDSIM_ALIVE, &p);
        Lienthong__Records__Population *v =
            a->code == LIENTHONG__ERROR_CODE__ERR_NONE
                ? lienthong__records__population__unpack(NULL, a->payload.len, a->payload.data)
                : NULL;
        *good = v && a->n_withheld == 0 && a->n_released == 4 &&
                strcmp(v->full_name, p.full_name) == 0 &&
                strcmp(v->date_of_birth, p.date_of_birth) == 0 && (int)v->sex == p.sex &&
                v->current_address[0] == 0 && v->personal_id[0] == 0;
        if (!*good)
            s_note_error(q, "lookup answer",
                         a->code ? lt_wire_error_name(a->code) : "with wrong or extra fields",
                         p.personal_id);
        lienthong__records__population__free_unpacked(v, NULL);
    }
    lienthong__lookup_answer__free_unpacked(a, NULL);
    return id;
}

/* A verify answer: good when both claims match. Returns its request id
 * (0 if undecodable). */
static uint64_t s_check_verify(qry_t *q, const Lienthong__SignedAnswer *sa, int *good)
{
    Lienthong__VerifyAnswer *a =
        lienthong__verify_answer__unpack(NULL, sa->answer.len, sa->answer.data);
    if (!a)
        return 0;
    uint64_t id = a->request_id;
    *good = a->code == LIENTHONG__ERROR_CODE__ERR_NONE && a->last && a->n_results == 2 &&
            a->results[0] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH &&
            a->results[1] == LIENTHONG__CLAIM_RESULT__CLAIM_MATCH;
    if (!*good)
        s_note_error(q, "verify answer",
                     a->code ? lt_wire_error_name(a->code) : "without two matches", a->key);
    lienthong__verify_answer__free_unpacked(a, NULL);
    return id;
}

/* Checks one reply; returns the request id it answers (0 if none). */
static uint64_t s_reply(qry_t *q, const Lienthong__Envelope *env, int *good)
{
    *good = 0;
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
        s_note_error(q, "error reply", lt_wire_error_name(env->error->code), env->error->message);
        return env->error->request_id;
    }
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY)
        return s_check_lookup(q, env->lookup_reply, good);
    if (env->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY)
        return s_check_verify(q, env->verify_reply, good);
    return 0;
}

static void s_drain(qry_t *q, void *sock)
{
    char err[256];
    for (;;) {
        lt_wire_in_t in;
        if (lt_wire_recv(sock, 0, ZMQ_DONTWAIT, &in) != 0) {
            lt_wire_in_close(&in);
            return;
        }
        int64_t t = s_ns();
        Lienthong__ErrorCode code;
        Lienthong__Envelope *env =
            in.frames == 1 ? lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                            LT_LOCAL_MAX_MESSAGE, &code, err, sizeof err)
                           : NULL;
        lt_wire_in_close(&in);
        int good = 0;
        uint64_t id = env ? s_reply(q, env, &good) : 0;
        int is_error = env && env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR;
        lt_wire_free(&env);
        slot_t *s = id ? &q->slots[id % MAX_OUT] : NULL;
        if (!s || !s->live || s->id != id) {
            q->unmatched++;
            continue;
        }
        s->live = 0;
        q->outstanding--;
        if (good) {
            q->ok[s->cls]++;
            lt_fedsim_series_add(&q->lat_us[s->cls], (double)(t - s->t_ns) / 1e3);
        } else if (is_error) {
            q->errors[s->cls]++;
        } else {
            q->wrong[s->cls]++;
        }
    }
}

static void *s_queries(void *arg)
{
    qry_t *q = arg;
    double interval_ns = 1e9 / q->qps;
    uint64_t k = 0;
    zmq_pollitem_t items[N_CALLERS];
    for (int c = 0; c < N_CALLERS; c++)
        items[c] = (zmq_pollitem_t){q->sock[c], 0, ZMQ_POLLIN, 0};
    while (!s_abort) {
        int64_t now = s_ns();
        if (now < q->t_end) {
            while (q->t_start + (int64_t)((double)k * interval_ns) <= now && !s_abort)
                (void)s_request(q, k++);
        } else if (q->outstanding == 0 || now > q->t_end + (REQ_DEADLINE_MS + 3000) * 1000000LL) {
            break;
        }
        /* Sleep until the next send is due, rounded up: never spin. */
        int64_t next = q->t_start + (int64_t)((double)k * interval_ns), gap = next - s_ns();
        long wait = now >= q->t_end ? 50 : gap <= 0 ? 0 : (long)((gap + 999999) / 1000000);
        if (zmq_poll(items, N_CALLERS, wait) <= 0)
            continue;
        for (int c = 0; c < N_CALLERS; c++)
            if (items[c].revents & ZMQ_POLLIN)
                s_drain(q, q->sock[c]);
    }
    for (uint32_t i = 0; i < MAX_OUT; i++)
        if (q->slots[i].live) {
            q->lost[q->slots[i].cls]++;
            q->slots[i].live = 0;
        }
    q->done = 1;
    return NULL;
}

/* ---- phases ---------------------------------------------------------------------------- */

/* Last seq of every view in the owner's store (committed). */
static int s_owner_views(void *db, int64_t *ids, uint64_t *last)
{
    for (int p = 0; p < N_PROV; p++)
        if (lt_fedsim_stream(db, s_views[p], &ids[p], &last[p]) != 0)
            return -1;
    return 0;
}

/* Probes the provinces until each replica reaches target[p] or the time
 * runs out; reach[p] gets seconds since t0 (at probe granularity). Stops
 * early when publisher (may be NULL) fails. Returns provinces not reached. */
static int s_wait_provinces(const uint64_t *target, int64_t t0, double *reach, int timeout_ms,
                            int period_ms, const pub_t *pb)
{
    int64_t end = s_ns() + (int64_t)timeout_ms * 1000000;
    int left = N_PROV;
    for (int p = 0; p < N_PROV; p++)
        reach[p] = -1;
    while (left && !s_abort && s_ns() < end && !(pb && pb->failed)) {
        int64_t round = s_ns();
        s_probe(s_provinces_idx, N_PROV, 1000);
        for (int p = 0; p < N_PROV; p++) {
            uint64_t r;
            if (reach[p] < 0 && s_last(s_probes[GW_PROV0 + p].rep, s_views[p], &r) &&
                r >= target[p]) {
                reach[p] = (double)(s_probes[GW_PROV0 + p].at_ns - t0) / 1e9;
                left--;
            }
        }
        int64_t spent = (s_ns() - round) / 1000000;
        if (left && spent < period_ms)
            s_sleep_ms(period_ms - (int)spent);
    }
    return left;
}

/* Per tier: when the replicas were complete, from the start of the load
 * and after the owner acknowledged its last change. */
static void s_tier_reach(const double *reach, double acked)
{
    for (int t = 0; t < 2; t++) {
        lt_fedsim_series_t s = {0};
        for (int p = 0; p < N_PROV; p++)
            if (s_is_city(p) == (t == 0))
                lt_fedsim_series_add(&s, reach[p]);
        double p50 = lt_fedsim_pct(&s, 0.5), mx = lt_fedsim_pct(&s, 1.0);
        printf("federation: initial load complete in %-9s (%2zu): p50 %.2f s, max %.2f s (%.2f s "
               "after "
               "the owner's last ack)\n",
               s_tier_name[t], s.n, p50, mx, mx > acked ? mx - acked : 0);
        lt_fedsim_series_free(&s);
    }
}

/* CPU seconds of the owner, the callers and the provinces. */
static void s_cpu_tiers(double out[3])
{
    out[0] = out[1] = out[2] = 0;
    for (int i = 0; i < N_GW; i++)
        out[i == 0 ? 0 : i < GW_PROV0 ? 1 : 2] += lt_bench_cpu_s(s_gw(i)->pid);
}

static long s_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *fp = fopen(path, "r");
    long kb = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, "VmHWM:", 6) == 0)
            kb = atol(line + 6);
    if (fp)
        fclose(fp);
    return kb;
}

/* SIGTERM to every gateway, then wait (bounded) for all; SIGKILL stragglers.
 * Returns how many stopped cleanly with status 0. */
static int s_stop_all(int timeout_ms)
{
    for (int i = 0; i < N_GW; i++)
        (void)lt_it_gw_signal(s_gw(i), SIGTERM);
    int64_t end = s_ns() + (int64_t)timeout_ms * 1000000;
    int clean = 0;
    for (int i = 0; i < N_GW; i++) {
        int left = (int)((end - s_ns()) / 1000000), st = 0;
        if (lt_it_gw_wait_exit(s_gw(i), left > 0 ? left : 0, &st) != 0) {
            fprintf(stderr, "bench_federation: %s did not stop; killed\n", s_gw(i)->member->id);
            lt_it_gw_kill(s_gw(i));
        } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
            clean++;
        } else {
            fprintf(stderr, "bench_federation: %s stopped with wait status 0x%x\n",
                    s_gw(i)->member->id, (unsigned)st);
        }
    }
    return clean;
}

static int s_args(int argc, char **argv, opts_t *o)
{
    *o = (opts_t){.citizens = 63000,
                  .seconds = 20,
                  .rate = 2000,
                  .qps = 1000,
                  .tick_ms = 50,
                  .seed = 20240601,
                  .timeout_s = 0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] != '-') {
            o->bin = a;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (strcmp(a, "--citizens") == 0)
            o->citizens = atol(v);
        else if (strcmp(a, "--seconds") == 0)
            o->seconds = atof(v);
        else if (strcmp(a, "--rate") == 0)
            o->rate = atof(v);
        else if (strcmp(a, "--qps") == 0)
            o->qps = atof(v);
        else if (strcmp(a, "--tick-ms") == 0)
            o->tick_ms = atoi(v);
        else if (strcmp(a, "--seed") == 0)
            o->seed = strtoull(v, NULL, 0);
        else if (strcmp(a, "--timeout") == 0)
            o->timeout_s = atoi(v);
        else
            return -1;
    }
    if (!o->bin)
        o->bin = getenv("LIENTHONG_BIN");
    if (!o->timeout_s)
        o->timeout_s = 170 + (int)(o->seconds * 1.5) + (int)(o->citizens / 2000);
    return o->bin && o->citizens >= N_PROV && o->citizens <= LT_FEDSIM_MAX_CITIZENS &&
                   o->seconds > 0 && o->rate > 0 && o->qps > 0 && o->tick_ms >= 1 &&
                   o->tick_ms <= 1000 && o->timeout_s > 0
               ? 0
               : -1;
}

/* ---- main: the run's phases ------------------------------------------------------------- */

/* The raw libzmq baselines, measured in the same run: the reference of the
 * `bench:` lines. */
typedef struct {
    double pp;       /* PUSH->PULL, msg/s */
    double p50, p99; /* DEALER->ROUTER one at a time, us */
} raw_t;

/* What the phases share. The publisher owns the source model (pb.province,
 * pb.version, pb.status); the threads run while their bit is in `threads`,
 * and the teardown joins whichever still are. */
typedef struct {
    opts_t o;
    size_t n; /* citizens */
    char *src;
    lt_sock_opts_t so;
    raw_t raw;
    pub_t pb;
    qry_t q;
    pthread_t pub_th, q_th;
    int threads; /* 1: the publisher, 2: the queries */
    void *owner_db;
    char owner_store[PATH_MAX + 16];
    int64_t view_ids[N_PROV];
    uint64_t target[N_PROV];    /* each view's last seq, which its province must reach */
    uint64_t load_view_records; /* view records of the load, to tell those of the steady phase */
    uint64_t q_sent, q_bad;     /* the steady phase's requests, for the verdict */
    int clean;                  /* gateways stopped cleanly */
} run_t;

/* What the steady phase measured, for its report. */
typedef struct {
    lt_fedsim_series_t lag_rec[3], lag_ms[3]; /* cities, provinces, all */
    int rounds, missed;
    double cpu0[3], cpu1[3];
    struct rusage ru0, ru1;
} steady_t;

/* The steady phase's length as its clock has it (whole nanoseconds). */
static double s_steady_s(const opts_t *o)
{
    return (double)(int64_t)(o->seconds * 1e9) / 1e9;
}

/* The first signal stops every loop (s_on_signal); the alarm bounds the run. */
static void s_signals(int timeout_s)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigaction(SIGALRM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    alarm((unsigned)timeout_s);
}

static int s_thread_start(run_t *r, int which)
{
    int err = which == 1 ? pthread_create(&r->pub_th, NULL, s_publisher, &r->pb)
                         : pthread_create(&r->q_th, NULL, s_queries, &r->q);
    if (err != 0)
        return -1;
    r->threads |= which;
    return 0;
}

static void s_thread_join(run_t *r, int which)
{
    pthread_join(which == 1 ? r->pub_th : r->q_th, NULL);
    r->threads &= ~which;
}

/* Keys, configs and signed directories, then every gateway started. A
 * port taken meanwhile by another program (s_start_all -2) costs a fresh
 * build with fresh ports, three times at most. */
static int s_setup(run_t *r)
{
    double build_s = 0, ready_s = 0, connected_s = 0;
    printf("federation: %d gateways (1 owner, %d ministries, %d enterprises, %d provinces), %zu "
           "citizens, steady %.0f s at %.0f changes/s and %.0f requests/s, seed %llu\n",
           N_GW, N_MIN, N_ENT, N_PROV, r->n, r->o.seconds, r->o.rate, r->o.qps,
           (unsigned long long)r->o.seed);
    for (int p = 0; p < N_PROV; p++)
        snprintf(s_views[p], sizeof s_views[p], DS ".p%s", lt_fedsim_provinces[p].code);
    if (!(r->src = s_source()))
        return -1;
    for (int attempt = 1;; attempt++) {
        if (lt_it_fed_init(&s_fed, "VN") != 0)
            return -1;
        s_fed.extra_source = r->src;
        int64_t t_build = s_ns();
        if (s_build() != 0) {
            fprintf(stderr, "bench_federation: cannot build the federation\n");
            return -1;
        }
        build_s = (double)(s_ns() - t_build) / 1e9;
        int st = s_start_all(60000, &ready_s, &connected_s);
        if (st == 0)
            break;
        if (st != -2 || attempt == 3)
            return -1;
        fprintf(stderr,
                "bench_federation: a port was taken meanwhile; starting over with fresh "
                "ports (attempt %d)\n",
                attempt + 1);
        s_probes_shutdown();
        lt_it_fed_cleanup(&s_fed);
    }
    printf(
        "federation: keys, configs and signed directories in %.1f s; %d gateways ready in %.1f s, "
        "subscribed and connected in %.1f s\n",
        build_s, N_GW, ready_s, connected_s);
    return 0;
}

/* Raw baselines, while the federation idles. */
static void s_baselines(raw_t *raw)
{
    raw->pp = lt_raw_push_pull(256, 200000);
    raw->p50 = raw->p99 = 0;
    double rt = lt_raw_dealer_router(256, 10000, 1, &raw->p50, &raw->p99);
    printf("federation: raw CURVE baselines: PUSH->PULL %.0f msg/s, DEALER->ROUTER one at a time "
           "p50 %.0f us p99 %.0f us (%.0f round trips/s)\n",
           raw->pp, raw->p50, raw->p99, rt);
}

/* The source model (every citizen alive in his home province) and the
 * publisher's socket on the owner; each view's target is one record per
 * citizen of its province, every citizen being new. */
static int s_load_prepare(run_t *r)
{
    pub_t *pb = &r->pb;
    pb->province = calloc(r->n, 1);
    pb->status = calloc(r->n, 1);
    pb->version = calloc(r->n, sizeof *pb->version);
    lt_sock_opts_default(&r->so);
    if (!pb->province || !pb->status || !pb->version)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        pb->province[i] = (uint8_t)lt_fedsim_home(r->o.seed, i);
        pb->status[i] = LT_FEDSIM_ALIVE;
    }
    pb->seed = r->o.seed;
    pb->n = r->n;
    lt_fedsim_rng_seed(&pb->rng, r->o.seed, 0x6368616e6765ULL);
    char err[512];
    if (!(pb->sock =
              lt_sock_local_client(lt_it_ctx(), s_gw(0)->sock_path, &r->so, err, sizeof err)))
        return -1;
    memset(r->target, 0, sizeof r->target);
    for (size_t i = 0; i < r->n; i++)
        r->target[pb->province[i]]++;
    return 0;
}

/* The owner's store must hold exactly the load in every view; it stays
 * open for the lag samples of the steady phase. */
static int s_load_check_owner(run_t *r)
{
    uint64_t owner_last[N_PROV];
    snprintf(r->owner_store, sizeof r->owner_store, "%s/store.db", s_gw(0)->data_dir);
    if (!(r->owner_db = lt_fedsim_open(r->owner_store)) ||
        s_owner_views(r->owner_db, r->view_ids, owner_last) != 0 ||
        memcmp(owner_last, r->target, sizeof r->target) != 0) {
        fprintf(stderr, "bench_federation: the owner's views in %s do not hold the load\n",
                r->owner_store);
        return -1;
    }
    return 0;
}

/* Phase 1: every citizen published while the provinces are watched, until
 * each holds its whole view. */
static int s_load(run_t *r)
{
    double reach[N_PROV];
    if (s_load_prepare(r) != 0)
        return -1;
    int64_t t_load = s_ns();
    if (s_thread_start(r, 1) != 0)
        return -1;
    int left = s_wait_provinces(r->target, t_load, reach, 120000 + (int)(r->n / 10), 50, &r->pb);
    s_thread_join(r, 1);
    if (r->pb.failed || left) {
        fprintf(stderr, "bench_federation: initial load failed: %s\n",
                r->pb.failed ? r->pb.err : "some provinces did not receive their whole view");
        return -1;
    }
    double load_acked_s = (double)(r->pb.t_last_ack - t_load) / 1e9;
    if (s_load_check_owner(r) != 0)
        return -1;
    double load_all_s = 0;
    for (int p = 0; p < N_PROV; p++)
        load_all_s = reach[p] > load_all_s ? reach[p] : load_all_s;
    lt_raw_report("federation-load", (double)r->n / load_all_s, "citizens/s", r->raw.pp, "msg/s",
                  0);
    printf("federation: initial load: %zu citizens (records of %.0f bytes on average) durable at "
           "the owner in %.2f s (%.0f/s, publish ack p50 %.0f ms), in every province's replica in "
           "%.2f s\n",
           r->n, (double)r->pb.bytes / (double)r->n, load_acked_s, (double)r->n / load_acked_s,
           lt_fedsim_pct(&r->pb.ack_ms, 0.5), load_all_s);
    s_tier_reach(reach, load_acked_s);
    lt_fedsim_series_free(&r->pb.ack_ms);
    r->load_view_records = 0;
    for (int p = 0; p < N_PROV; p++)
        r->load_view_records += r->target[p];
    return 0;
}

/* The callers' sockets, then both threads on a common clock starting 50
 * ms from now; CPU counters read just before. */
static int s_steady_start(run_t *r, steady_t *st)
{
    char err[512];
    qry_t *q = &r->q;
    pub_t *pb = &r->pb;
    q->seed = r->o.seed;
    q->n = r->n;
    q->qps = r->o.qps;
    if (!(q->slots = calloc(MAX_OUT, sizeof *q->slots)))
        return -1;
    for (int c = 0; c < N_CALLERS; c++)
        if (!(q->sock[c] = lt_sock_local_client(lt_it_ctx(), s_gw(GW_CALLER0 + c)->sock_path,
                                                &r->so, err, sizeof err)))
            return -1;
    pb->steady = 1;
    pb->done = 0;
    pb->rate = r->o.rate;
    pb->tick_ms = r->o.tick_ms;
    pb->made = pb->acked = 0;
    pb->t_start = q->t_start = s_ns() + 50000000;
    pb->t_end = q->t_end = pb->t_start + (int64_t)(r->o.seconds * 1e9);
    s_cpu_tiers(st->cpu0);
    getrusage(RUSAGE_SELF, &st->ru0);
    if (s_thread_start(r, 1) != 0 || s_thread_start(r, 2) != 0)
        return -1;
    return 0;
}

/* One lag sample per province: how far its replica is behind the owner's
 * view, in records and in ms. A province without both figures is missed. */
static void s_lag_round(run_t *r, steady_t *st)
{
    s_probe(s_owner_and_provinces, 1 + N_PROV, 900);
    st->rounds++;
    const Lienthong__Envelope *orep = s_probes[0].rep;
    for (int p = 0; p < N_PROV; p++) {
        const probe_t *pr = &s_probes[GW_PROV0 + p];
        uint64_t ol, rl;
        if (!orep || !s_last(orep, s_views[p], &ol) || !s_last(pr->rep, s_views[p], &rl)) {
            st->missed++;
            continue;
        }
        double recs, ms;
        lt_fedsim_lag(r->owner_db, r->view_ids[p], ol, rl, pr->at_wall_ms, &recs, &ms);
        int t = s_is_city(p) ? 0 : 1;
        lt_fedsim_series_add(&st->lag_rec[t], recs);
        lt_fedsim_series_add(&st->lag_rec[2], recs);
        lt_fedsim_series_add(&st->lag_ms[t], ms);
        lt_fedsim_series_add(&st->lag_ms[2], ms);
    }
}

/* Phase 2: changes and requests for o.seconds, with a lag round each
 * second; then both threads joined. */
static int s_steady(run_t *r, steady_t *st)
{
    if (s_steady_start(r, st) != 0)
        return -1;
    for (int64_t at = r->pb.t_start + 1000000000LL; at <= r->pb.t_end && !s_abort && !r->pb.failed;
         at += 1000000000LL) {
        /* At a different phase of the publish tick each second (golden
         * ratio steps), so that samples do not all land just before a tick. */
        double phase = (double)st->rounds * 0.6180339887;
        phase -= (double)(int64_t)phase;
        int64_t wait = (at - (int64_t)(phase * r->o.tick_ms * 1e6) - s_ns()) / 1000000;
        if (wait > 0)
            s_sleep_ms((int)wait);
        s_lag_round(r, st);
    }
    s_cpu_tiers(st->cpu1);
    getrusage(RUSAGE_SELF, &st->ru1);
    s_thread_join(r, 1);
    s_thread_join(r, 2);
    if (r->pb.failed) {
        fprintf(stderr, "bench_federation: steady phase publisher failed: %s\n", r->pb.err);
        return -1;
    }
    return 0;
}

/* The changes published, the replicas' lag per tier and the CPU spent. */
static void s_report_changes(run_t *r, steady_t *st)
{
    double steady_s = s_steady_s(&r->o);
    const pub_t *pb = &r->pb;
    printf("federation: steady %.0f s: %llu changes published (%.0f/s of %.0f/s: %llu moves, %llu "
           "deaths, %llu address changes), publish ack p50 %.1f ms p99 %.1f ms\n",
           steady_s, (unsigned long long)pb->acked, (double)pb->acked / steady_s, r->o.rate,
           (unsigned long long)pb->moves, (unsigned long long)pb->deaths,
           (unsigned long long)pb->addresses, lt_fedsim_pct(&r->pb.ack_ms, 0.5),
           lt_fedsim_pct(&r->pb.ack_ms, 0.99));
    for (int t = 0; t < 3; t++)
        printf(
            "federation: replica lag %-9s records p50 %.0f p99 %.0f max %.0f; ms p50 %.0f p99 %.0f "
            "max %.0f (%zu samples)\n",
            t < 2 ? s_tier_name[t] : "all", lt_fedsim_pct(&st->lag_rec[t], 0.5),
            lt_fedsim_pct(&st->lag_rec[t], 0.99), lt_fedsim_pct(&st->lag_rec[t], 1.0),
            lt_fedsim_pct(&st->lag_ms[t], 0.5), lt_fedsim_pct(&st->lag_ms[t], 0.99),
            lt_fedsim_pct(&st->lag_ms[t], 1.0), st->lag_rec[t].n);
    const struct rusage *ru0 = &st->ru0, *ru1 = &st->ru1;
    double self = (double)(ru1->ru_utime.tv_sec - ru0->ru_utime.tv_sec + ru1->ru_stime.tv_sec -
                           ru0->ru_stime.tv_sec) +
                  (double)(ru1->ru_utime.tv_usec - ru0->ru_utime.tv_usec + ru1->ru_stime.tv_usec -
                           ru0->ru_stime.tv_usec) /
                      1e6;
    printf("federation: CPU in the steady phase (of %.0f core-seconds): owner %.1f s, 26 callers "
           "%.1f s, 63 provinces %.1f s, this program %.1f s\n",
           2 * steady_s, st->cpu1[0] - st->cpu0[0], st->cpu1[1] - st->cpu0[1],
           st->cpu1[2] - st->cpu0[2], self);
    if (st->missed)
        printf("federation: %d of %d lag samples missing (a status reply took over 900 ms)\n",
               st->missed, st->rounds * N_PROV);
}

/* The requests per class and in all, then their `bench:` lines; counts
 * the requests sent and the bad ones for the verdict. */
static void s_report_queries(run_t *r)
{
    qry_t *q = &r->q;
    double steady_s = s_steady_s(&r->o);
    uint64_t q_ok = 0;
    double q_span = q->t_last > q->t_first ? (double)(q->t_last - q->t_first) / 1e9 : steady_s;
    r->q_sent = r->q_bad = 0;
    for (int c = 0; c < Q_CLASSES; c++) {
        r->q_sent += q->sent[c];
        q_ok += q->ok[c];
        r->q_bad += q->errors[c] + q->wrong[c] + q->lost[c];
        printf(
            "federation: %-18s %6llu sent (%.0f/s), %llu good, p50 %.0f us, p99 %.0f us, max %.0f "
            "us; %llu errors, %llu wrong, %llu lost\n",
            s_qname[c], (unsigned long long)q->sent[c], (double)q->sent[c] / q_span,
            (unsigned long long)q->ok[c], lt_fedsim_pct(&q->lat_us[c], 0.5),
            lt_fedsim_pct(&q->lat_us[c], 0.99), lt_fedsim_pct(&q->lat_us[c], 1.0),
            (unsigned long long)q->errors[c], (unsigned long long)q->wrong[c],
            (unsigned long long)q->lost[c]);
    }
    printf("federation: requests %llu sent at %.0f/s (target %.0f/s), %llu good answers "
           "(%.0f/s)%s%s\n",
           (unsigned long long)r->q_sent, (double)r->q_sent / q_span, r->o.qps,
           (unsigned long long)q_ok, (double)q_ok / q_span,
           q->first_error[0] ? "; first problem: " : "", q->first_error);
    lt_fedsim_series_t verify = {0};
    for (int c = Q_MIN_VERIFY; c <= Q_ENT_VERIFY; c++)
        for (size_t i = 0; i < q->lat_us[c].n; i++)
            lt_fedsim_series_add(&verify, q->lat_us[c].v[i]);
    lt_raw_report("federation-lookup-p50", lt_fedsim_pct(&q->lat_us[Q_MIN_LOOKUP], 0.5), "us",
                  r->raw.p50, "us", 1);
    lt_raw_report("federation-lookup-p99", lt_fedsim_pct(&q->lat_us[Q_MIN_LOOKUP], 0.99), "us",
                  r->raw.p99, "us", 1);
    lt_raw_report("federation-verify-p50", lt_fedsim_pct(&verify, 0.5), "us", r->raw.p50, "us", 1);
    lt_raw_report("federation-verify-p99", lt_fedsim_pct(&verify, 0.99), "us", r->raw.p99, "us", 1);
    lt_fedsim_series_free(&verify);
}

static void s_steady_free(steady_t *st)
{
    for (int t = 0; t < 3; t++) {
        lt_fedsim_series_free(&st->lag_rec[t]);
        lt_fedsim_series_free(&st->lag_ms[t]);
    }
}

/* Peak RSS of the owner, of the largest province and caller, and of all. */
static void s_report_memory(void)
{
    long owner_kb = s_hwm_kb(s_gw(0)->pid), sum_kb = 0, max_prov_kb = 0, max_caller_kb = 0;
    for (int i = 0; i < N_GW; i++) {
        long kb = s_hwm_kb(s_gw(i)->pid);
        sum_kb += kb;
        if (i >= GW_PROV0 && kb > max_prov_kb)
            max_prov_kb = kb;
        if (i >= GW_CALLER0 && i < GW_PROV0 && kb > max_caller_kb)
            max_caller_kb = kb;
    }
    printf("federation: peak RSS owner %.1f MB, largest province %.1f MB, largest caller %.1f MB, "
           "all %d gateways %.0f MB\n",
           owner_kb / 1024.0, max_prov_kb / 1024.0, max_caller_kb / 1024.0, N_GW, sum_kb / 1024.0);
}

/* Phase 3: every province caught up with the owner's last change, peak
 * memory, then SIGTERM everywhere (the stores are compared closed). */
static int s_drain_and_stop(run_t *r)
{
    int64_t t_drain = s_ns();
    double drain_reach[N_PROV];
    int left = 0;
    if (s_owner_views(r->owner_db, r->view_ids, r->target) != 0 ||
        (left = s_wait_provinces(r->target, t_drain, drain_reach, 60000, 50, NULL)) != 0) {
        fprintf(stderr, "bench_federation: %d provinces did not catch up after the steady phase\n",
                left);
        return -1;
    }
    double drain_s = 0;
    for (int p = 0; p < N_PROV; p++)
        drain_s = drain_reach[p] > drain_s ? drain_reach[p] : drain_s;
    printf("federation: every province caught up %.2f s after the last change\n", drain_s);
    s_report_memory();
    lt_fedsim_close(r->owner_db);
    r->owner_db = NULL;
    r->clean = s_stop_all(20000);
    printf("federation: %d/%d gateways stopped cleanly on SIGTERM\n", r->clean, N_GW);
    return 0;
}

/* What the replicas held, summed over the provinces. */
typedef struct {
    int equal, model_ok;
    uint64_t records, tombstones, rows, live;
} tally_t;

/* Province p's replica against the owner's view, then against the model. */
static void s_compare_one(const run_t *r, int p, const lt_fedsim_model_t *model, tally_t *t)
{
    char replica[PATH_MAX + 16], err[512];
    snprintf(replica, sizeof replica, "%s/store.db", s_gw(GW_PROV0 + p)->data_dir);
    lt_fedsim_cmp_t cmp;
    uint64_t live = 0;
    if (lt_fedsim_compare(r->owner_store, replica, s_views[p], &cmp, err, sizeof err) != 0) {
        fprintf(stderr, "federation: VN/PROV/%s differs from its view: %s\n",
                lt_fedsim_provinces[p].code, err);
        return;
    }
    t->equal++;
    t->records += cmp.records;
    t->tombstones += cmp.tombstones;
    t->rows += cmp.state_rows;
    if (lt_fedsim_check_view(replica, s_views[p], p, model, &live, err, sizeof err) != 0)
        fprintf(stderr, "federation: VN/PROV/%s disagrees with the source: %s\n",
                lt_fedsim_provinces[p].code, err);
    else
        t->model_ok++;
    t->live += live;
}

/* Phase 4: every replica against its view, and against the model; the
 * verdict (0 or 1) over the whole run. */
static int s_compare(run_t *r)
{
    tally_t t = {0};
    lt_fedsim_model_t model = {.seed = r->o.seed,
                               .n = r->n,
                               .province = r->pb.province,
                               .version = r->pb.version,
                               .status = r->pb.status};
    for (int p = 0; p < N_PROV && !s_abort; p++)
        s_compare_one(r, p, &model, &t);
    printf("federation: compared %llu view records (%llu tombstones; %llu after the load) and %llu "
           "state rows; %llu live citizens\n",
           (unsigned long long)t.records, (unsigned long long)t.tombstones,
           (unsigned long long)(t.records - r->load_view_records), (unsigned long long)t.rows,
           (unsigned long long)t.live);
    printf("federation: %d/%d replicas match the source model (current fields, nothing outside the "
           "view)\n",
           t.model_ok, N_PROV);
    printf("federation: %d/%d replicas equal their views\n", t.equal, N_PROV);
    int rc = t.equal == N_PROV && t.model_ok == N_PROV && t.live == r->n && r->q_sent > 0 &&
                     r->q_bad == 0 && r->clean == N_GW && !s_abort
                 ? 0
                 : 1;
    if (rc)
        fprintf(stderr, "bench_federation: FAILED (%s)\n",
                t.equal != N_PROV      ? "replicas differ"
                : t.model_ok != N_PROV ? "model mismatch"
                : r->q_bad             ? "bad, failed or lost requests"
                : r->clean != N_GW     ? "unclean stop"
                                       : "aborted");
    return rc;
}

/* Whatever the run got to: threads joined (they see s_abort), sockets
 * closed, gateways stopped and their directories removed. */
static void s_teardown(run_t *r, int rc)
{
    if (r->threads) {
        s_abort = 1; /* the threads see it and end within their poll timeouts */
        if (r->threads & 1)
            pthread_join(r->pub_th, NULL);
        if (r->threads & 2)
            pthread_join(r->q_th, NULL);
    }
    if (rc && s_fed.n_gateways && lt_it_gw_alive(s_gw(0)))
        lt_it_log_dump(s_gw(0));
    lt_fedsim_close(r->owner_db);
    if (r->pb.sock)
        zmq_close(r->pb.sock);
    for (int c = 0; c < N_CALLERS; c++)
        if (r->q.sock[c])
            zmq_close(r->q.sock[c]);
    s_probes_shutdown();
    lt_fedsim_series_free(&r->pb.ack_ms);
    for (int c = 0; c < Q_CLASSES; c++)
        lt_fedsim_series_free(&r->q.lat_us[c]);
    free(r->q.slots);
    free(r->pb.province);
    free(r->pb.status);
    free(r->pb.version);
    lt_it_fed_cleanup(&s_fed);
    free(r->src);
    lt_it_shutdown();
    alarm(0);
}

int main(int argc, char **argv)
{
    run_t r;
    memset(&r, 0, sizeof r);
    steady_t st;
    memset(&st, 0, sizeof st);
    if (s_args(argc, argv, &r.o) != 0) {
        fprintf(stderr, "usage: bench_federation LIENTHONG_BINARY [--citizens N (63..1000000)] "
                        "[--seconds S] [--rate CHANGES/S] [--qps REQUESTS/S] [--tick-ms MS] "
                        "[--seed X] [--timeout SECONDS]\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    s_signals(r.o.timeout_s);
    lt_it_set_binary(r.o.bin);
    s_index_sets();
    r.n = (size_t)r.o.citizens;
    int rc = 1;
    if (s_setup(&r) != 0)
        goto out;
    s_baselines(&r.raw);
    if (s_load(&r) != 0)
        goto out;
    if (s_steady(&r, &st) != 0)
        goto out;
    s_report_changes(&r, &st);
    s_report_queries(&r);
    if (s_drain_and_stop(&r) != 0)
        goto out;
    rc = s_compare(&r);
out:
    s_steady_free(&st);
    s_teardown(&r, rc);
    return rc;
}

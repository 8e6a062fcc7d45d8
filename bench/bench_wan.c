/* bench_wan: the federation over a wide-area network (issue 12 item 6).
 *
 * The Ministry of Public Security VN/GOV/BCA (owner of the population
 * dataset and of one view per province) and a ministry VN/GOV/M01 run in a
 * "capital" network namespace; each province VN/PROV/NN runs in a namespace
 * of its own, joined to the capital by a link with a one-way delay, jitter
 * and 1% loss each way (lt_netns). One more province runs in the capital
 * beside the owner, on loopback: the same-run reference without the WAN.
 *
 *   1. the raw CURVE DEALER->ROUTER round trip over every link (the link
 *      RTT, lt_raw_rtt_netns);
 *   2. load of N citizens, until every province holds its whole view;
 *   3. steady phase of S seconds: changes at R/s at the owner, lookups at
 *      Q/s from every province and from M01 (which cross the link for the
 *      provinces); five times a second every replica's lag behind its view, in
 *      records and in ms (changed_at of the first missing record);
 *   4. partition: the first province's interface goes down for C seconds
 *      (`ip link set wan0 down` in its namespace) while changes go on, then
 *      up; the convergence time is from the link coming up until the
 *      replica holds every change its view had then. The owner's log must
 *      show no snapshot sent to it after the cut: no full resync;
 *   5. drain, SIGTERM everywhere, every replica compared byte for byte
 *      with the owner's view and with the source model.
 *
 * usage: bench_wan LIENTHONG_BINARY [--short] [--provinces N] [--citizens N]
 *        [--seconds S] [--cut S] [--rate R] [--qps Q] [--seed X] [--retain N]
 * --retain N gives the owner retain_records = N (PROTOCOL.md 6.8): with a
 * tail shorter than what a cut-off province misses, it must resume from a
 * snapshot, and the run fails with "FULL RESYNC" (how the check is checked).
 * --short is the correctness test (integration_netns): 2 provinces, 3000
 * citizens, a 4 s cut, no timings judged. Exit 0 when every replica is
 * exact and nothing was resynchronised; 77 when namespaces cannot be made
 * here (not root, no `ip netns`, no TUN); 1 otherwise. */
#include "lt_clock.h"
#include "lt_fedsim.h"
#include "lt_itest.h"
#include "lt_netns.h"
#include "lt_raw.h"
#include "lt_sock.h"
#include "records/population.pb-c.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define OWNER_ID        "VN/GOV/BCA"
#define DS              OWNER_ID "/population"
#define MAX_PROV        8
#define GW_OWNER        0
#define GW_MIN          1
#define GW_PROV0        2 /* then the WAN provinces, then the reference */
#define PORT            7700
#define PER_PUBLISH     500
#define IN_FLIGHT       16
#define SLOTS           8192
#define REQ_DEADLINE_MS 10000
#define SKIP            77

typedef struct {
    const char *bin;
    int shortrun;
    int provinces;
    long citizens;
    double seconds, cut, rate, qps;
    int rt_count;
    int retain; /* the owner's retain_records; 0: keeps its whole log */
    uint64_t seed;
} opts_t;

static lt_it_fed_t s_fed; /* large: static */
static lt_netns_t *s_net;
static volatile sig_atomic_t s_abort;
static int s_nprov, s_ref;       /* WAN provinces; 1 with the reference province */
static int s_pidx[MAX_PROV + 1]; /* lt_fedsim province index of each province gateway */
static char s_views[MAX_PROV + 1][64];

/* The five centrally-run cities first, then large provinces. */
static const char *const s_codes[] = {"01", "79", "31", "48", "92", "38", "40", "75", "74"};

static void s_on_signal(int sig)
{
    (void)sig;
    static const char msg[] = "bench_wan: time budget exceeded or interrupted; stopping\n";
    if (!s_abort)
        (void)!write(2, msg, sizeof msg - 1);
    s_abort = 1;
}

static int64_t s_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static lt_it_gw_t *s_gw(int i)
{
    return &s_fed.gateways[i];
}

static int s_ngw(void)
{
    return GW_PROV0 + s_nprov + s_ref;
}

/* ---- the federation ------------------------------------------------------------ */

#define FIELDS "[\"full_name\", \"date_of_birth\", \"sex\", \"status\"]"

static char *s_source(void)
{
    size_t cap = 16384, n = 0;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    n += (size_t)snprintf(b + n, cap - n,
                          "datasets = ( { id = \"" DS "\"; owner = \"" OWNER_ID "\";\n"
                          "  type = \"lienthong.records.Population\"; key = \"personal_id\";\n"
                          "  description = \"National Population Database\"; } );\nviews = (\n");
    int np = s_nprov + s_ref;
    for (int k = 0; k < np; k++)
        n += (size_t)snprintf(b + n, cap - n,
                              "  { id = \"%s\"; dataset = \"" DS "\"; fields = [\"personal_id\", "
                              "\"full_name\", \"date_of_birth\", \"sex\", \"current_province\", "
                              "\"current_address\", \"status\"];\n    where = { current_province = "
                              "\"%s\"; }; }%s\n",
                              s_views[k], lt_fedsim_provinces[s_pidx[k]].code,
                              k + 1 < np ? "," : "");
    n += (size_t)snprintf(b + n, cap - n, ");\npolicies = (\n");
    for (int k = 0; k < np; k++)
        n += (size_t)snprintf(
            b + n, cap - n,
            "  { consumer = \"VN/PROV/%s\"; target = \"%s\"; allow = [\"subscribe\"]; },\n"
            "  { consumer = \"VN/PROV/%s\"; target = \"" DS "\"; allow = [\"lookup\"];\n"
            "    fields = " FIELDS "; purposes = [\"PUBLIC-SERVICE\"]; },\n",
            lt_fedsim_provinces[s_pidx[k]].code, s_views[k], lt_fedsim_provinces[s_pidx[k]].code);
    snprintf(b + n, cap - n,
             "  { consumer = \"VN/GOV/M01\"; target = \"" DS "\"; allow = [\"lookup\"];\n"
             "    fields = " FIELDS "; purposes = [\"PUBLIC-SERVICE\"]; }\n);\n");
    return b;
}

/* A member listening on addr:port in namespace ns. */
static lt_it_member_t *s_member(const char *id, const char *addr, int port)
{
    lt_it_member_t *m = lt_it_member_add(&s_fed, id, 0);
    if (!m)
        return NULL;
    m->port = port;
    snprintf(m->endpoint, sizeof m->endpoint, "tcp://%s:%d", addr, port);
    return m;
}

static int s_build(const opts_t *o)
{
    const char *capital = lt_netns_addr(s_net, -1);
    char id[64];
    if (!s_member(OWNER_ID, capital, PORT) || !s_member("VN/GOV/M01", capital, PORT + 1))
        return -1;
    for (int k = 0; k < s_nprov + s_ref; k++) {
        snprintf(id, sizeof id, "VN/PROV/%s", lt_fedsim_provinces[s_pidx[k]].code);
        int wan = k < s_nprov;
        if (!s_member(id, wan ? lt_netns_addr(s_net, k) : capital, wan ? PORT : PORT + 2))
            return -1;
    }
    static const char *peers[] = {OWNER_ID, NULL};
    char extra[256];
    for (int i = 0; i < s_ngw(); i++) {
        int k = i - GW_PROV0;
        if (k >= 0)
            snprintf(extra, sizeof extra, "subscribe = ( { stream = \"%s\"; } );\n", s_views[k]);
        else if (i == GW_OWNER && o->retain)
            snprintf(extra, sizeof extra, "retain_records = %d;\n", o->retain);
        else
            extra[0] = 0;
        lt_it_gw_t *g = lt_it_gw_new(&s_fed, &s_fed.members[i], 1, i ? peers : NULL, extra);
        if (!g)
            return -1;
        snprintf(g->netns, sizeof g->netns, "%s",
                 lt_netns_name(s_net, k >= 0 && k < s_nprov ? k : -1));
    }
    return 0;
}

/* last_seq of a stream in a gateway's status; -1 when it does not answer. */
static int64_t s_last(int gw, const char *stream)
{
    Lienthong__Envelope *rep = lt_it_gw_status(s_gw(gw), 2000);
    int64_t last = rep ? 0 : -1;
    for (size_t i = 0; rep && i < rep->status_reply->n_streams; i++)
        if (strcmp(rep->status_reply->streams[i]->stream, stream) == 0)
            last = (int64_t)rep->status_reply->streams[i]->last_seq;
    lt_wire_free(&rep);
    return last;
}

static int s_start(void)
{
    for (int i = 0; i < s_ngw(); i++)
        if (lt_it_gw_run(s_gw(i), 30000) != 0)
            return -1;
    for (int i = 1; i < s_ngw(); i++)
        if (lt_it_gw_wait_peer(s_gw(i), OWNER_ID, 60000) != 0) {
            fprintf(stderr, "bench_wan: %s did not reach the owner\n", s_gw(i)->member->id);
            lt_it_log_dump(s_gw(i));
            return -1;
        }
    return 0;
}

/* ---- the run: publishing, lookups, lag samples -------------------------------------- */

typedef struct {
    uint64_t id;
    int64_t t_ns;
    uint32_t citizen;
    int16_t caller; /* gateway index */
    uint8_t live;
    uint8_t excused; /* in flight when its province was cut off */
} slot_t;

typedef struct {
    /* the model */
    uint64_t seed;
    size_t n;
    uint8_t *province;
    uint32_t *version;
    uint8_t *status;
    lt_fedsim_rng_t rng;
    /* publishing */
    void *pub;
    uint64_t next_req, cursor, made, acked, sent_batches, acked_batches;
    double rate; /* changes/s; 0: none */
    int64_t rate_t0;
    uint64_t rate_base;
    int loading;
    /* lookups */
    void *sock[MAX_PROV + 3]; /* by gateway index; NULL: no lookups from it */
    int cut;                  /* province gateway index cut off, or -1 */
    double qps;
    int64_t q_t0;
    uint64_t q_k;
    slot_t *slots;
    uint64_t q_id;
    lt_fedsim_series_t lat_us[MAX_PROV + 3];
    uint64_t q_sent, q_ok, q_bad, q_excused;
    char q_err[512];
    /* lag sampling */
    int sampling;
    int64_t next_sample;
    int rounds;
    lt_fedsim_series_t lag_ms[MAX_PROV + 1], lag_rec[MAX_PROV + 1];
    void *owner_db;
    int64_t view_ids[MAX_PROV + 1];
    int failed;
    char err[256];
} run_t;

static lt_fedsim_change_t s_changes[PER_PUBLISH];
static Lienthong__Change *s_change_ptrs[PER_PUBLISH];

static int s_change(run_t *r, int k, size_t i)
{
    lt_fedsim_model_t m = {r->seed, r->n, r->province, r->version, r->status};
    if (!lt_fedsim_change(&m, i, ++r->cursor, &s_changes[k]))
        return -1;
    s_change_ptrs[k] = &s_changes[k].change;
    return 0;
}

/* A move between provinces (30%: most of them between the provinces that
 * have a view, so that views gain and lose citizens), a death (3%) or a
 * new address. */
static size_t s_mutate(run_t *r)
{
    size_t i = lt_fedsim_rng_below(&r->rng, (uint32_t)r->n);
    uint32_t roll = lt_fedsim_rng_below(&r->rng, 100);
    if (roll < 30) {
        int to = s_pidx[lt_fedsim_rng_below(&r->rng, (uint32_t)(s_nprov + s_ref))];
        if (to == r->province[i])
            to = (to + 1) % LT_FEDSIM_PROVINCES;
        r->province[i] = (uint8_t)to;
        r->version[i]++;
    } else if (roll < 33 && r->status[i] == LT_FEDSIM_ALIVE) {
        r->status[i] = LT_FEDSIM_DECEASED;
    } else {
        r->version[i]++;
    }
    return i;
}

static int s_publish(run_t *r, uint32_t k)
{
    for (uint32_t j = 0; j < k; j++) {
        size_t i = r->loading ? (size_t)r->made + j : s_mutate(r);
        if (s_change(r, (int)j, i) != 0)
            return -1;
    }
    Lienthong__Publish p = LIENTHONG__PUBLISH__INIT;
    p.request_id = ++r->next_req;
    p.dataset = DS;
    p.n_changes = k;
    p.changes = s_change_ptrs;
    if (lt_wire_send_body(r->pub, NULL, 0, LIENTHONG__ENVELOPE__BODY_PUBLISH, &p) != 0)
        return -1;
    r->made += k;
    r->sent_batches++;
    return 0;
}

static void s_fail(run_t *r, const char *what)
{
    if (!r->failed)
        snprintf(r->err, sizeof r->err, "%s", what);
    r->failed = 1;
}

static void s_acks(run_t *r)
{
    char err[256];
    for (;;) {
        lt_wire_in_t in;
        if (lt_wire_recv(r->pub, 0, ZMQ_DONTWAIT, &in) != 0) {
            lt_wire_in_close(&in);
            return;
        }
        Lienthong__ErrorCode code;
        Lienthong__Envelope *rep =
            in.frames == 1 ? lt_wire_decode(zmq_msg_data(&in.body), zmq_msg_size(&in.body),
                                            LT_LOCAL_MAX_MESSAGE, &code, err, sizeof err)
                           : NULL;
        lt_wire_in_close(&in);
        if (!rep || rep->body_case != LIENTHONG__ENVELOPE__BODY_PUBLISH_ACK)
            s_fail(r, "a publish was not acknowledged");
        else {
            r->acked += rep->publish_ack->last_seq - rep->publish_ack->first_seq + 1;
            r->acked_batches++;
        }
        lt_wire_free(&rep);
    }
}

/* Publishes what is due: the rest of the load, or changes at the rate. */
static void s_pub_due(run_t *r, int64_t now)
{
    while (!r->failed && r->sent_batches - r->acked_batches < IN_FLIGHT) {
        uint64_t due = r->loading ? r->n
                       : r->rate > 0
                           ? r->rate_base + (uint64_t)(r->rate * (double)(now - r->rate_t0) / 1e9)
                           : r->made;
        if (due <= r->made)
            return;
        uint64_t k = due - r->made < PER_PUBLISH ? due - r->made : PER_PUBLISH;
        if (s_publish(r, (uint32_t)k) != 0)
            s_fail(r, "cannot publish");
    }
}

static void s_lookup(run_t *r, int gw)
{
    lt_fedsim_rng_t g;
    lt_fedsim_rng_seed(&g, r->seed, 0x6c6f6f6bULL ^ r->q_k++);
    uint32_t i = lt_fedsim_rng_below(&g, (uint32_t)r->n);
    lt_fedsim_person_t p;
    lt_fedsim_person(r->seed, i, 0, 0, LT_FEDSIM_ALIVE, &p); /* identity fields only */
    uint64_t id = ++r->q_id;
    slot_t *s = &r->slots[id % SLOTS];
    if (s->live && s->excused) {
        r->q_excused++;
    } else if (s->live) {
        r->q_bad++;
        snprintf(r->q_err, sizeof r->q_err, "a lookup got no answer");
    }
    char *fields[] = {"full_name", "date_of_birth", "sex", "status"};
    Lienthong__LookupRequest lq = LIENTHONG__LOOKUP_REQUEST__INIT;
    lq.request_id = id;
    lq.dataset = DS;
    lq.key = p.personal_id;
    lq.fields = fields;
    lq.n_fields = 4;
    lq.purpose = "PUBLIC-SERVICE";
    lq.deadline_ms = lt_clock_now_ms() + REQ_DEADLINE_MS;
    *s = (slot_t){.id = id, .t_ns = s_ns(), .citizen = i, .caller = (int16_t)gw, .live = 1};
    if (lt_wire_send_body(r->sock[gw], NULL, 0, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &lq) !=
        0) {
        s->live = 0;
        r->q_bad++;
        return;
    }
    r->q_sent++;
}

/* An error reply: excused when its lookup was in flight at the cut. */
static void s_error_reply(run_t *r, const Lienthong__Envelope *env, int64_t t)
{
    uint64_t id = env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? env->error->request_id : 0;
    slot_t *s = id ? &r->slots[id % SLOTS] : NULL;
    if (s && s->live && s->id == id && s->excused) {
        r->q_excused++;
        s->live = 0;
        return;
    }
    r->q_bad++;
    if (!r->q_err[0])
        snprintf(r->q_err, sizeof r->q_err, "%s: %s after %.1f s: %s",
                 s && s->live && s->id == id ? s_gw(s->caller)->member->id : "?",
                 env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR
                     ? lt_wire_error_name(env->error->code)
                     : "unexpected reply",
                 s && s->live && s->id == id ? (double)(t - s->t_ns) / 1e9 : 0,
                 env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR ? env->error->message : "");
    if (s && s->live && s->id == id)
        s->live = 0;
}

static void s_answer(run_t *r, const Lienthong__Envelope *env, int64_t t)
{
    if (env->body_case != LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY) {
        s_error_reply(r, env, t);
        return;
    }
    const Lienthong__SignedAnswer *sa = env->lookup_reply;
    Lienthong__LookupAnswer *a =
        lienthong__lookup_answer__unpack(NULL, sa->answer.len, sa->answer.data);
    slot_t *s = a ? &r->slots[a->request_id % SLOTS] : NULL;
    if (!s || !s->live || s->id != a->request_id) {
        r->q_bad++;
        lienthong__lookup_answer__free_unpacked(a, NULL);
        return;
    }
    if (s->excused) { /* whatever came back for it: not a figure of the link */
        r->q_excused++;
        s->live = 0;
        lienthong__lookup_answer__free_unpacked(a, NULL);
        return;
    }
    lt_fedsim_person_t p;
    lt_fedsim_person(r->seed, s->citizen, 0, 0, LT_FEDSIM_ALIVE, &p);
    Lienthong__Records__Population *v =
        a->code == LIENTHONG__ERROR_CODE__ERR_NONE
            ? lienthong__records__population__unpack(NULL, a->payload.len, a->payload.data)
            : NULL;
    if (v && strcmp(v->full_name, p.full_name) == 0 &&
        strcmp(v->date_of_birth, p.date_of_birth) == 0) {
        r->q_ok++;
        lt_fedsim_series_add(&r->lat_us[s->caller], (double)(t - s->t_ns) / 1e3);
    } else {
        r->q_bad++;
        if (!r->q_err[0])
            snprintf(r->q_err, sizeof r->q_err, "wrong answer for %s (%s)", p.personal_id,
                     lt_wire_error_name(a->code));
    }
    s->live = 0;
    lienthong__records__population__free_unpacked(v, NULL);
    lienthong__lookup_answer__free_unpacked(a, NULL);
}

static void s_replies(run_t *r, void *sock)
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
        if (env)
            s_answer(r, env, t);
        else
            r->q_bad++;
        lt_wire_free(&env);
    }
}

/* One lag sample of every province: records and ms behind its view. */
static void s_sample(run_t *r)
{
    Lienthong__Envelope *orep = lt_it_gw_status(s_gw(GW_OWNER), 2000);
    for (int k = 0; orep && k < s_nprov + s_ref; k++) {
        int gw = GW_PROV0 + k;
        if (gw == r->cut)
            continue;
        uint64_t ol = 0;
        for (size_t i = 0; i < orep->status_reply->n_streams; i++)
            if (strcmp(orep->status_reply->streams[i]->stream, s_views[k]) == 0)
                ol = orep->status_reply->streams[i]->last_seq;
        int64_t rl = s_last(gw, s_views[k]);
        if (rl < 0)
            continue;
        double recs, ms;
        lt_fedsim_lag(r->owner_db, r->view_ids[k], ol, (uint64_t)rl, lt_clock_now_ms(), &recs, &ms);
        lt_fedsim_series_add(&r->lag_rec[k], recs);
        lt_fedsim_series_add(&r->lag_ms[k], ms);
    }
    lt_wire_free(&orep);
    r->rounds++;
}

/* Runs the federation until `until` (monotonic ns), or until done(r) is
 * true when done is given: publishing what is due, lookups at the rate
 * from every caller not cut off, answers, and lag samples five times a second
 * when sampling. */
static void s_pump(run_t *r, int64_t until, int (*done)(run_t *))
{
    zmq_pollitem_t items[MAX_PROV + 4];
    int who[MAX_PROV + 4];
    while (!s_abort && !r->failed && s_ns() < until && !(done && done(r))) {
        int64_t now = s_ns();
        s_pub_due(r, now);
        if (r->qps > 0) {
            int callers = 0;
            for (int gw = 0; gw < s_ngw(); gw++)
                callers += r->sock[gw] != NULL;
            uint64_t due = (uint64_t)(r->qps * callers * (double)(now - r->q_t0) / 1e9);
            while (r->q_k < due) {
                int gw = GW_MIN + (int)(r->q_k % (uint64_t)(s_ngw() - 1));
                if (r->sock[gw] && gw != r->cut)
                    s_lookup(r, gw);
                else
                    r->q_k++;
            }
        }
        if (r->sampling && now >= r->next_sample) {
            s_sample(r);
            /* Five a second, at a different phase of the publish pace each time. */
            r->next_sample = now + 200000000LL + (int64_t)(r->rounds % 7) * 13000000LL;
        }
        int m = 0;
        items[m] = (zmq_pollitem_t){r->pub, 0, ZMQ_POLLIN, 0};
        who[m++] = -1;
        for (int gw = 0; gw < s_ngw(); gw++)
            if (r->sock[gw]) {
                items[m] = (zmq_pollitem_t){r->sock[gw], 0, ZMQ_POLLIN, 0};
                who[m++] = gw;
            }
        if (zmq_poll(items, m, 5) <= 0)
            continue;
        for (int j = 0; j < m; j++)
            if (items[j].revents & ZMQ_POLLIN) {
                if (who[j] < 0)
                    s_acks(r);
                else
                    s_replies(r, r->sock[who[j]]);
            }
    }
}

/* No lookup waiting for its answer (apart from those of the cut). */
static int s_answered(run_t *r)
{
    for (size_t i = 0; i < SLOTS; i++)
        if (r->slots[i].live && !r->slots[i].excused)
            return 0;
    return 1;
}

static int s_loaded(run_t *r)
{
    return r->acked == r->n;
}

static int s_all_acked(run_t *r)
{
    return r->acked == r->made && r->sent_batches == r->acked_batches;
}

/* Waits (pumping, no new changes) until every province gateway in
 * [from, to) holds its view's owner last_seq. 0 or -1. */
static int s_wait_views(run_t *r, int timeout_ms)
{
    int64_t end = s_ns() + (int64_t)timeout_ms * 1000000;
    double rate = r->rate;
    r->rate = 0;
    s_pump(r, end, s_all_acked);
    r->rate = rate;
    while (!s_abort && s_ns() < end) {
        int behind = 0;
        for (int k = 0; k < s_nprov + s_ref; k++) {
            uint64_t ol = 0;
            int64_t id;
            if (lt_fedsim_stream(r->owner_db, s_views[k], &id, &ol) != 0)
                return -1;
            behind += s_last(GW_PROV0 + k, s_views[k]) < (int64_t)ol;
        }
        if (!behind)
            return 0;
        s_pump(r, s_ns() + 100000000LL, NULL);
    }
    return -1;
}

/* ---- phases ------------------------------------------------------------------------------ */

typedef struct {
    double p50, p99;
} rtt_t;

static rtt_t s_rtt[MAX_PROV];

static int s_links(const opts_t *o, const lt_netns_link_t *links)
{
    for (int k = 0; k < s_nprov && !s_abort; k++) {
        double p50, p99;
        long got = lt_raw_rtt_netns(lt_netns_name(s_net, -1), lt_netns_addr(s_net, -1),
                                    lt_netns_name(s_net, k), 256, o->rt_count, &p50, &p99);
        if (got < 1) {
            fprintf(stderr, "bench_wan: no raw round trip over link %d\n", k);
            return -1;
        }
        s_rtt[k] = (rtt_t){p50 / 1e3, p99 / 1e3};
        printf("wan: link to VN/PROV/%s: one way %d ms +- %d ms, %.0f%% loss each way; raw CURVE "
               "DEALER->ROUTER round trip p50 %.1f ms p99 %.1f ms (%ld samples)\n",
               lt_fedsim_provinces[s_pidx[k]].code, links[k].delay_ms, links[k].jitter_ms,
               links[k].loss * 100, s_rtt[k].p50, s_rtt[k].p99, got);
    }
    return s_abort ? -1 : 0;
}

static int s_cut_done_gw; /* province gateway watched after the cut */
static uint64_t s_cut_target;
static int64_t s_reconnected_ns; /* when it listed the owner as connected again */

/* Whether the watched province holds every change its view had when the
 * link came up; notes when it is connected to the owner again. */
static int s_converged(run_t *r)
{
    static int64_t next;
    int64_t now = s_ns();
    (void)r;
    if (now < next)
        return 0;
    next = now + 50000000LL;
    Lienthong__Envelope *rep = lt_it_gw_status(s_gw(s_cut_done_gw), 2000);
    const char *view = s_views[s_cut_done_gw - GW_PROV0];
    int done = 0;
    for (size_t i = 0; rep && i < rep->status_reply->n_streams; i++)
        if (strcmp(rep->status_reply->streams[i]->stream, view) == 0)
            done = rep->status_reply->streams[i]->last_seq >= s_cut_target;
    for (size_t i = 0; rep && !s_reconnected_ns && i < rep->status_reply->n_peers_connected; i++)
        if (strcmp(rep->status_reply->peers_connected[i], OWNER_ID) == 0)
            s_reconnected_ns = now;
    lt_wire_free(&rep);
    return done;
}

/* The owner's log lines since mark that say a snapshot went to member. */
static int s_snapshots(long mark, const char *member)
{
    return lt_it_file_count(s_gw(GW_OWNER)->log_path, mark, "a snapshot of", member);
}

/* Cuts the first province off for o->cut seconds while changes go on;
 * returns the seconds from reconnect to convergence, or -1. */
static double s_partition(run_t *r, const opts_t *o, long *mark, uint64_t *stuck,
                          uint64_t *owner_at)
{
    int gw = GW_PROV0;
    const char *view = s_views[0];
    *mark = lt_it_log_mark(s_gw(GW_OWNER));
    int64_t before = s_last(gw, view);
    if (lt_netns_link_set(s_net, 0, 0) != 0) {
        fprintf(stderr, "bench_wan: cannot take the link down\n");
        return -1;
    }
    r->cut = gw;
    for (size_t i = 0; i < SLOTS; i++)
        if (r->slots[i].live && r->slots[i].caller == gw)
            r->slots[i].excused = 1;
    int64_t t_cut = s_ns();
    s_pump(r, t_cut + (int64_t)(o->cut * 1e9), NULL);
    int64_t during = s_last(gw, view);
    int64_t id;
    if (lt_fedsim_stream(r->owner_db, view, &id, &s_cut_target) != 0)
        return -1;
    *stuck = during < 0 ? 0 : (uint64_t)during;
    *owner_at = s_cut_target;
    printf("wan: VN/PROV/%s cut off for %.0f s: its replica of %s went from seq %lld to %lld while "
           "the owner's view reached %llu\n",
           lt_fedsim_provinces[s_pidx[0]].code, o->cut, view, (long long)before, (long long)during,
           (unsigned long long)s_cut_target);
    if (lt_netns_link_set(s_net, 0, 1) != 0) {
        fprintf(stderr, "bench_wan: cannot bring the link up again\n");
        return -1;
    }
    int64_t t_up = s_ns();
    s_cut_done_gw = gw;
    s_reconnected_ns = 0;
    s_pump(r, t_up + 180000000000LL, s_converged);
    int64_t t_done = s_ns();
    r->cut = -1;
    if (s_last(gw, view) < (int64_t)s_cut_target)
        return -1;
    double reconnect = s_reconnected_ns ? (double)(s_reconnected_ns - t_up) / 1e9 : 0;
    printf("wan: after the link came up: connected to the owner again within %.2f s (the gateway's "
           "reconnect back-off is at most 10 s), then caught up in %.2f s\n",
           reconnect, (double)(t_done - t_up) / 1e9 - reconnect);
    return (double)(t_done - t_up) / 1e9;
}

/* Every replica against the owner's view and against the model. */
static int s_compare(run_t *r)
{
    char owner_store[PATH_MAX + 16], err[512];
    snprintf(owner_store, sizeof owner_store, "%s/store.db", s_gw(GW_OWNER)->data_dir);
    lt_fedsim_model_t model = {.seed = r->seed,
                               .n = r->n,
                               .province = r->province,
                               .version = r->version,
                               .status = r->status};
    int equal = 0;
    for (int k = 0; k < s_nprov + s_ref; k++) {
        char replica[PATH_MAX + 16];
        snprintf(replica, sizeof replica, "%s/store.db", s_gw(GW_PROV0 + k)->data_dir);
        lt_fedsim_cmp_t cmp;
        uint64_t live = 0;
        if (lt_fedsim_compare(owner_store, replica, s_views[k], &cmp, err, sizeof err) != 0) {
            fprintf(stderr, "wan: %s differs from its view: %s\n", s_gw(GW_PROV0 + k)->member->id,
                    err);
            continue;
        }
        if (lt_fedsim_check_view(replica, s_views[k], s_pidx[k], &model, &live, err, sizeof err) !=
            0) {
            fprintf(stderr, "wan: %s disagrees with the source: %s\n",
                    s_gw(GW_PROV0 + k)->member->id, err);
            continue;
        }
        printf(
            "wan: %s%s equals its view: %llu records (%llu tombstones), %llu live citizens, as the "
            "source has them\n",
            s_gw(GW_PROV0 + k)->member->id, k < s_nprov ? "" : " (loopback)",
            (unsigned long long)cmp.records, (unsigned long long)cmp.tombstones,
            (unsigned long long)live);
        equal++;
    }
    return equal;
}

static void s_report_ms(const char *name, double v, double raw)
{
    printf("bench: %s %.1f ms | raw %.1f ms | ratio %.2f\n", name, v, raw, v > 0 ? raw / v : 0);
}

/* Per province: lag and lookup p99 against 2 x the link's RTT plus the
 * loopback figure of the same run, with the RTT taken two ways: its p50
 * (the link's usual round trip) and its p99 (which, at 1% loss, holds
 * TCP retransmissions, as the gateways' traffic does). *strict gets the
 * provinces that meet the p50 form, the return value those that meet the
 * p99 form. */
static int s_targets(run_t *r, double ref_lag_p99, double ref_lookup_p99, int *strict)
{
    int met = 0;
    *strict = 0;
    for (int k = 0; k < s_nprov; k++) {
        double lag = lt_fedsim_pct(&r->lag_ms[k], 0.99),
               look = lt_fedsim_pct(&r->lat_us[GW_PROV0 + k], 0.99) / 1e3;
        double lag50 = 2 * s_rtt[k].p50 + ref_lag_p99, look50 = 2 * s_rtt[k].p50 + ref_lookup_p99;
        double lag99 = 2 * s_rtt[k].p99 + ref_lag_p99, look99 = 2 * s_rtt[k].p99 + ref_lookup_p99;
        int ok50 = lag <= lag50 && look <= look50, ok99 = lag <= lag99 && look <= look99;
        met += ok99;
        *strict += ok50;
        printf(
            "wan: VN/PROV/%s (RTT p50 %.1f ms p99 %.1f ms): lag p50 %.0f p99 %.0f ms, lookup p50 "
            "%.1f p99 %.1f ms; targets with RTT p50: lag %.0f lookup %.1f ms %s; with RTT p99: lag "
            "%.0f lookup %.1f ms %s\n",
            lt_fedsim_provinces[s_pidx[k]].code, s_rtt[k].p50, s_rtt[k].p99,
            lt_fedsim_pct(&r->lag_ms[k], 0.5), lag,
            lt_fedsim_pct(&r->lat_us[GW_PROV0 + k], 0.5) / 1e3, look, lag50, look50,
            ok50 ? "met" : "NOT met", lag99, look99, ok99 ? "met" : "NOT met");
    }
    return met;
}

/* --short: the correctness test's small run; the binary, --retain and
 * --seed given before it stay. */
static void s_short(opts_t *o)
{
    *o = (opts_t){.bin = o->bin,
                  .shortrun = 1,
                  .provinces = 2,
                  .citizens = 3000,
                  .seconds = 3,
                  .cut = 4,
                  .rate = 100,
                  .qps = 10,
                  .rt_count = 10,
                  .retain = o->retain,
                  .seed = o->seed};
}

/* Option a with its value v; -1 when a is not an option. */
static int s_opt(opts_t *o, const char *a, const char *v)
{
    if (strcmp(a, "--provinces") == 0)
        o->provinces = atoi(v);
    else if (strcmp(a, "--citizens") == 0)
        o->citizens = atol(v);
    else if (strcmp(a, "--seconds") == 0)
        o->seconds = atof(v);
    else if (strcmp(a, "--cut") == 0)
        o->cut = atof(v);
    else if (strcmp(a, "--rate") == 0)
        o->rate = atof(v);
    else if (strcmp(a, "--qps") == 0)
        o->qps = atof(v);
    else if (strcmp(a, "--seed") == 0)
        o->seed = strtoull(v, NULL, 0);
    else if (strcmp(a, "--retain") == 0)
        o->retain = atoi(v);
    else
        return -1;
    return 0;
}

static int s_args(int argc, char **argv, opts_t *o)
{
    *o = (opts_t){.provinces = 5,
                  .citizens = 50000,
                  .seconds = 20,
                  .cut = 60,
                  .rate = 200,
                  .qps = 20,
                  .rt_count = 100,
                  .seed = 20240601};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--short") == 0) {
            s_short(o);
            continue;
        }
        if (a[0] != '-') {
            o->bin = a;
            continue;
        }
        if (!v)
            return -1;
        i++;
        if (s_opt(o, a, v) != 0)
            return -1;
    }
    if (!o->bin)
        o->bin = getenv("LIENTHONG_BIN");
    return o->bin && o->provinces >= 1 && o->provinces <= MAX_PROV && o->citizens >= 100 &&
                   o->citizens <= LT_FEDSIM_MAX_CITIZENS && o->seconds > 0 && o->cut > 0 &&
                   o->rate > 0 && o->qps >= 0 && o->retain >= 0
               ? 0
               : -1;
}

static long s_index_of(const char *code)
{
    for (int p = 0; p < LT_FEDSIM_PROVINCES; p++)
        if (strcmp(lt_fedsim_provinces[p].code, code) == 0)
            return p;
    return -1;
}

/* ---- main: the run's phases ------------------------------------------------------------- */

/* The first signal stops every loop (s_on_signal); the alarm bounds the
 * run by its size. */
static void s_signals(const opts_t *o)
{
    struct sigaction sa = {.sa_handler = s_on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    int budget = (int)(120 + o->seconds + o->cut * 2 + (double)o->citizens / 500);
    alarm((unsigned)budget);
}

/* Which provinces, their views and their links, then the run's header. */
static void s_plan(const opts_t *o, lt_netns_link_t *links)
{
    s_nprov = o->provinces;
    s_ref = o->shortrun ? 0 : 1;
    for (int k = 0; k < s_nprov + s_ref; k++) {
        s_pidx[k] = (int)s_index_of(s_codes[k]);
        snprintf(s_views[k], sizeof s_views[k], DS ".p%s", s_codes[k]);
    }
    for (int k = 0; k < s_nprov; k++) {
        /* 10 to 40 ms one way, spread over the links (20 ms in a short run) */
        int d = o->shortrun ? 20 : s_nprov == 1 ? 20 : 10 + 30 * k / (s_nprov - 1);
        links[k] = (lt_netns_link_t){.delay_ms = d, .jitter_ms = o->shortrun ? 3 : 5, .loss = 0.01};
    }
    printf(
        "wan: %d provinces over emulated links, %s; %ld citizens, steady %.0f s at %.0f changes/s "
        "and %.0f lookups/s from each caller, one province cut off for %.0f s\n",
        s_nprov,
        s_ref ? "one more province and a ministry beside the owner on loopback"
              : "a ministry beside the owner",
        o->citizens, o->seconds, o->rate, o->qps, o->cut);
}

/* The namespaces and their links, the gateways in them, the raw round
 * trip over each link, then every gateway started and connected. SKIP
 * when the namespaces cannot be made, -1 on another failure. */
static int s_setup(const opts_t *o, const lt_netns_link_t *links, char **src)
{
    char err[256];
    if (!(s_net = lt_netns_new(s_nprov, links, o->seed, err, sizeof err))) {
        printf("bench: wan skipped: %s\n", err);
        return SKIP;
    }
    if (!(*src = s_source()) || lt_it_fed_init(&s_fed, "VN") != 0)
        return -1;
    s_fed.extra_source = *src;
    if (s_build(o) != 0 || s_links(o, links) != 0)
        return -1;
    int64_t t0 = s_ns();
    if (s_start() != 0)
        return -1;
    printf("wan: %d gateways in %d namespaces ready and connected in %.1f s\n", s_ngw(),
           s_nprov + 1, (double)(s_ns() - t0) / 1e9);
    return 0;
}

/* The source model (every citizen alive in his home province), the
 * publisher's socket on the owner and the owner's store, read for the lag. */
static int s_load_prepare(run_t *r, const opts_t *o)
{
    char err[256];
    r->province = calloc(r->n, 1);
    r->status = calloc(r->n, 1);
    r->version = calloc(r->n, sizeof *r->version);
    r->slots = calloc(SLOTS, sizeof *r->slots);
    if (!r->province || !r->status || !r->version || !r->slots)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        r->province[i] = (uint8_t)lt_fedsim_home(o->seed, i);
        r->status[i] = LT_FEDSIM_ALIVE;
    }
    lt_fedsim_rng_seed(&r->rng, o->seed, 0x77616eULL);
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    if (!(r->pub =
              lt_sock_local_client(lt_it_ctx(), s_gw(GW_OWNER)->sock_path, &so, err, sizeof err)))
        return -1;
    char owner_store[PATH_MAX + 16];
    snprintf(owner_store, sizeof owner_store, "%s/store.db", s_gw(GW_OWNER)->data_dir);
    if (!(r->owner_db = lt_fedsim_open(owner_store)))
        return -1;
    return 0;
}

/* Phase 2: every citizen published, until every province holds its view. */
static int s_load(run_t *r, const opts_t *o)
{
    if (s_load_prepare(r, o) != 0)
        return -1;
    r->loading = 1;
    int64_t t0 = s_ns();
    s_pump(r, t0 + 300000000000LL, s_loaded);
    r->loading = 0;
    for (int k = 0; k < s_nprov + s_ref; k++) {
        uint64_t last;
        if (lt_fedsim_stream(r->owner_db, s_views[k], &r->view_ids[k], &last) != 0) {
            fprintf(stderr, "bench_wan: the owner has no view %s\n", s_views[k]);
            return -1;
        }
    }
    if (r->failed || s_wait_views(r, 120000) != 0) {
        fprintf(stderr, "bench_wan: initial load failed: %s\n",
                r->failed ? r->err : "replicas incomplete");
        return -1;
    }
    printf("wan: load of %zu citizens in every province's replica in %.1f s\n", r->n,
           (double)(s_ns() - t0) / 1e9);
    return 0;
}

/* Phase 3: changes and lookups for o->seconds, with lag samples. */
static int s_steady(run_t *r, const opts_t *o)
{
    char err[256];
    lt_sock_opts_t so;
    lt_sock_opts_default(&so);
    for (int gw = GW_MIN; gw < s_ngw(); gw++)
        if (!(r->sock[gw] =
                  lt_sock_local_client(lt_it_ctx(), s_gw(gw)->sock_path, &so, err, sizeof err)))
            return -1;
    r->qps = o->qps;
    r->rate = o->rate;
    r->rate_t0 = r->q_t0 = s_ns();
    r->rate_base = r->made;
    r->q_k = 0;
    r->sampling = 1;
    r->next_sample = r->rate_t0 + 200000000LL;
    s_pump(r, r->rate_t0 + (int64_t)(o->seconds * 1e9), NULL);
    r->sampling = 0;
    if (r->failed || s_abort)
        return -1;
    uint64_t steady_changes = r->made - r->rate_base;
    printf("wan: steady %.0f s: %llu changes, %llu lookups (%llu good), %d lag rounds\n",
           o->seconds, (unsigned long long)steady_changes, (unsigned long long)r->q_sent,
           (unsigned long long)r->q_ok, r->rounds);
    return 0;
}

/* What the partition showed, for the report and the verdict. */
typedef struct {
    double converge; /* s from the link coming up to the replica complete */
    int resyncs;     /* snapshots the owner sent the cut province after the cut */
} cut_t;

/* Phase 4: the first province cut off and back; it must converge, and
 * the owner's log tells whether it needed a snapshot (a full resync). */
static int s_cut(run_t *r, const opts_t *o, cut_t *cut)
{
    long mark;
    uint64_t stuck = 0, owner_at = 0;
    cut->converge = s_partition(r, o, &mark, &stuck, &owner_at);
    const char *cut_id = s_gw(GW_PROV0)->member->id;
    if (cut->converge < 0) {
        fprintf(stderr, "bench_wan: %s did not converge after the cut\n", cut_id);
        lt_it_log_dump(s_gw(GW_PROV0));
        return -1;
    }
    cut->resyncs = s_snapshots(mark, cut_id);
    int all_snaps = s_snapshots(0, "VN/PROV/");
    printf("wan: %s converged %.2f s after its link came up (%llu changes of its view missed "
           "during the "
           "cut); the owner sent it %d snapshots after the cut (%d in the whole run): %s\n",
           cut_id, cut->converge, (unsigned long long)(owner_at - stuck), cut->resyncs, all_snaps,
           cut->resyncs == 0 ? "no full resync, it resumed from its last record" : "FULL RESYNC");
    return 0;
}

/* Phase 5: no new changes or lookups; every lookup answered (a missing
 * answer is a bad lookup) and every replica caught up. */
static int s_drain(run_t *r)
{
    r->qps = 0;
    r->rate = 0;
    s_pump(r, s_ns() + (REQ_DEADLINE_MS + 5000) * 1000000LL, s_answered);
    for (size_t i = 0; i < SLOTS; i++)
        if (r->slots[i].live && !r->slots[i].excused) {
            r->q_bad++;
            snprintf(r->q_err, sizeof r->q_err, "a lookup got no answer");
        }
    if (s_wait_views(r, 120000) != 0) {
        fprintf(stderr, "bench_wan: the replicas did not catch up at the end\n");
        return -1;
    }
    return 0;
}

/* The WAN provinces' figures pooled: lag (ms) and lookup latency (ms),
 * beside the links' mean RTT p50 and largest RTT p99. */
typedef struct {
    double rtt50, rtt99;
    lt_fedsim_series_t lag, look;
} pooled_t;

static void s_pool(run_t *r, pooled_t *pl)
{
    for (int k = 0; k < s_nprov; k++) {
        pl->rtt50 += s_rtt[k].p50 / s_nprov;
        pl->rtt99 = s_rtt[k].p99 > pl->rtt99 ? s_rtt[k].p99 : pl->rtt99;
        for (size_t i = 0; i < r->lag_ms[k].n; i++)
            lt_fedsim_series_add(&pl->lag, r->lag_ms[k].v[i]);
        for (size_t i = 0; i < r->lat_us[GW_PROV0 + k].n; i++)
            lt_fedsim_series_add(&pl->look, r->lat_us[GW_PROV0 + k].v[i] / 1e3);
    }
}

/* The loopback reference, each link against its targets, then the `bench:`
 * lines (a full run only: a short run's timings are not judged). */
static void s_report_timings(run_t *r, pooled_t *pl, double converge)
{
    double ref_lag = lt_fedsim_pct(&r->lag_ms[s_nprov], 0.99),
           ref_look = lt_fedsim_pct(&r->lat_us[GW_MIN], 0.99) / 1e3;
    printf("wan: on loopback in the capital, same run and load: %s lag p50 %.0f ms p99 %.0f ms; "
           "VN/GOV/M01 lookup p50 %.2f ms p99 %.2f ms\n",
           s_gw(GW_PROV0 + s_nprov)->member->id, lt_fedsim_pct(&r->lag_ms[s_nprov], 0.5), ref_lag,
           lt_fedsim_pct(&r->lat_us[GW_MIN], 0.5) / 1e3, ref_look);
    int strict, met = s_targets(r, ref_lag, ref_look, &strict);
    printf("wan: target (lag and lookup p99 within 2 x RTT + the loopback figure) met on %d/%d "
           "links with the RTT p50, on %d/%d with the RTT p99\n",
           strict, s_nprov, met, s_nprov);
    s_report_ms("wan-replica-lag-p50", lt_fedsim_pct(&pl->lag, 0.5), pl->rtt50);
    s_report_ms("wan-replica-lag-p99", lt_fedsim_pct(&pl->lag, 0.99), pl->rtt99);
    s_report_ms("wan-lookup-p50", lt_fedsim_pct(&pl->look, 0.5), pl->rtt50);
    s_report_ms("wan-lookup-p99", lt_fedsim_pct(&pl->look, 0.99), pl->rtt99);
    printf("bench: wan-partition-converge-s %.2f s | raw %.2f s | ratio %.2f\n", converge,
           pl->rtt99 / 1e3, converge > 0 ? pl->rtt99 / 1e3 / converge : 0);
}

/* The links' packet counts, then the timings of a full run. */
static void s_report(run_t *r, const opts_t *o, double converge)
{
    uint64_t carried, lost, refused;
    lt_netns_counts(s_net, &carried, &lost, &refused);
    printf("wan: links carried %llu packets, lost %llu to the 1%% loss and %llu to the cut\n",
           (unsigned long long)carried, (unsigned long long)lost, (unsigned long long)refused);
    pooled_t pl = {0};
    s_pool(r, &pl);
    if (!o->shortrun)
        s_report_timings(r, &pl, converge);
    free(pl.lag.v);
    free(pl.look.v);
}

/* Phase 6: SIGTERM everywhere, every replica compared; the verdict (0 or
 * 1) over the whole run. */
static int s_stop_and_compare(run_t *r, int resyncs)
{
    lt_fedsim_close(r->owner_db);
    r->owner_db = NULL;
    int clean = 0;
    for (int i = 0; i < s_ngw(); i++)
        clean += lt_it_gw_stop(s_gw(i), 20000) == 0;
    printf("wan: %d/%d gateways stopped cleanly\n", clean, s_ngw());
    int equal = s_compare(r);
    printf(
        "wan: %d/%d replicas equal their views; lookups: %llu sent, %llu good, %llu bad, %llu in "
        "flight at the cut%s%s\n",
        equal, s_nprov + s_ref, (unsigned long long)r->q_sent, (unsigned long long)r->q_ok,
        (unsigned long long)r->q_bad, (unsigned long long)r->q_excused,
        r->q_err[0] ? "; first problem: " : "", r->q_err);
    int rc = equal == s_nprov + s_ref && resyncs == 0 && clean == s_ngw() && r->q_bad == 0 &&
                     r->q_ok > 0 && !s_abort
                 ? 0
                 : 1;
    if (rc)
        fprintf(stderr, "bench_wan: FAILED\n");
    return rc;
}

/* Whatever the run got to: sockets closed, gateways stopped, then the
 * namespaces removed (nothing holds them once the gateways are gone). */
static void s_teardown(run_t *r, int rc, char *src)
{
    if (rc == 1 && r->failed)
        fprintf(stderr, "bench_wan: %s\n", r->err);
    lt_fedsim_close(r->owner_db);
    if (r->pub)
        zmq_close(r->pub);
    for (int gw = 0; gw < MAX_PROV + 3; gw++)
        if (r->sock[gw])
            zmq_close(r->sock[gw]);
    for (int i = 0; i < MAX_PROV + 3; i++)
        free(r->lat_us[i].v);
    for (int k = 0; k <= MAX_PROV; k++) {
        free(r->lag_ms[k].v);
        free(r->lag_rec[k].v);
    }
    free(r->slots);
    free(r->province);
    free(r->status);
    free(r->version);
    lt_it_fed_cleanup(&s_fed); /* gateways first: nothing holds the namespaces then */
    lt_netns_destroy(&s_net);
    free(src);
    lt_it_shutdown();
    alarm(0);
}

int main(int argc, char **argv)
{
    opts_t o;
    if (s_args(argc, argv, &o) != 0) {
        fprintf(stderr,
                "usage: bench_wan LIENTHONG_BINARY [--short] [--provinces 1..%d] [--citizens N] "
                "[--seconds S] [--cut S] [--rate R] [--qps Q] [--seed X] [--retain N]\n",
                MAX_PROV);
        return 2;
    }
    char why[256];
    if (lt_netns_probe(why, sizeof why) != 0) {
        printf("bench: wan skipped: cannot make network namespaces here: %s\n", why);
        return SKIP;
    }
    lt_it_set_binary(o.bin);
    s_signals(&o);
    int rc = 1, st;
    char *src = NULL;
    run_t r = {.seed = o.seed, .n = (size_t)o.citizens, .cut = -1};
    lt_netns_link_t links[MAX_PROV];
    cut_t cut = {0};
    s_plan(&o, links);
    if ((st = s_setup(&o, links, &src)) != 0) {
        rc = st == SKIP ? SKIP : 1;
        goto out;
    }
    if (s_load(&r, &o) != 0 || s_steady(&r, &o) != 0 || s_cut(&r, &o, &cut) != 0 ||
        s_drain(&r) != 0)
        goto out;
    s_report(&r, &o, cut.converge);
    rc = s_stop_and_compare(&r, cut.resyncs);
out:
    s_teardown(&r, rc, src);
    return rc;
}

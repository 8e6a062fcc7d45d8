/* unit_gw.h: an owner gateway's shared context in process, for the unit
 * suites of gateway modules that serve peers (test_querymod.c: lt_query,
 * test_feed.c: lt_feed): the directory of owner_directory.h, a temporary
 * store holding a few population records published with lt_publish_apply,
 * fresh member keys, a statistics registry, and an inproc pair standing for
 * the peer ROUTER and a consumer's DEALER (User-Id VN/COM/VIETTEL). */
#ifndef LT_UNIT_GW_H
#define LT_UNIT_GW_H

#include "unit_util.h" /* first: it sets the feature macros */

#include "lt_gwctx.h"
#include "lt_log.h"
#include "lt_publish.h"
#include "lt_stats.h"
#include "lt_wire.h"
#include "owner_directory.h"
#include "records/population.pb-c.h"

#include <sodium.h>
#include <zmq.h>

#define UG_CALLER "VN/COM/VIETTEL"

typedef struct {
    char tmp[256];
    lt_gwcfg_t cfg;
    lt_gwctx_t ctx;
    void *zctx, *router, *dealer;
} ug_t;

/* Publishes the population record p under key (p NULL: a tombstone), within
 * max_record bytes; 0 or -1. */
static inline int ug_publish_record(ug_t *g, const char *key,
                                    const Lienthong__Records__Population *p, size_t max_record,
                                    lt_publish_advanced_fn advanced, void *arg)
{
    size_t len = p ? lienthong__records__population__get_packed_size(p) : 0;
    uint8_t *buf = malloc(len ? len : 1);
    if (!buf)
        return -1;
    Lienthong__Change c = LIENTHONG__CHANGE__INIT, *cp = &c;
    c.key = (char *)key;
    c.deleted = !p;
    c.payload.data = buf;
    c.payload.len = p ? lienthong__records__population__pack(p, buf) : 0;
    Lienthong__Publish pub = LIENTHONG__PUBLISH__INIT, *pp = &pub;
    pub.request_id = 1;
    pub.dataset = OD_POP;
    pub.changes = &cp;
    pub.n_changes = 1;
    lt_publish_result_t res;
    memset(&res, 0, sizeof res);
    int rc = lt_publish_apply(g->ctx.store, g->ctx.dir, OD_OWNER, &pp, 1, max_record, &res,
                              advanced, arg) == 0 &&
                     res.code == LIENTHONG__ERROR_CODE__ERR_NONE
                 ? 0
                 : -1;
    free(buf);
    return rc;
}

/* Publishes one citizen (key, name) to population; 0 or -1. */
static inline int ug_publish(ug_t *g, const char *key, const char *name,
                             lt_publish_advanced_fn advanced, void *arg)
{
    Lienthong__Records__Population p = LIENTHONG__RECORDS__POPULATION__INIT;
    p.personal_id = (char *)key;
    p.full_name = (char *)name;
    p.date_of_birth = "1980-02-29";
    p.status = LIENTHONG__RECORDS__CITIZEN_STATUS__CITIZEN_ALIVE;
    return ug_publish_record(g, key, &p, 4096, advanced, arg);
}

static inline int ug_open(ug_t *g, const char *tag)
{
    char err[1024] = "", path[300];
    memset(g, 0, sizeof *g);
    lt_log_set_level(LT_LOG_ERROR);
    if (sodium_init() < 0 || ut_mkdtemp(g->tmp, sizeof g->tmp, tag) != 0)
        return -1;
    snprintf(path, sizeof path, "%s/store.db", g->tmp);
    snprintf(g->cfg.member, sizeof g->cfg.member, "%s", OD_OWNER);
    g->cfg.max_message = 1u << 20;
    g->cfg.batch_max = 100;
    g->cfg.credit = 100;
    g->ctx.cfg = &g->cfg;
    int one = 1;
    if (!(g->ctx.dir = od_directory(g->tmp, err, sizeof err)) ||
        !(g->ctx.store = lt_store_open(path, err, sizeof err)) ||
        !(g->ctx.keys = lt_keys_new(LT_KEYS_MEMBER)) || !(g->ctx.stats = lt_stats_new()) ||
        !(g->zctx = zmq_ctx_new()) || !(g->router = zmq_socket(g->zctx, ZMQ_ROUTER)) ||
        !(g->dealer = zmq_socket(g->zctx, ZMQ_DEALER)) ||
        zmq_setsockopt(g->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) != 0 ||
        zmq_bind(g->router, "inproc://unit-gw") != 0 ||
        zmq_setsockopt(g->dealer, ZMQ_ROUTING_ID, "consumer", 8) != 0 ||
        zmq_connect(g->dealer, "inproc://unit-gw") != 0) {
        fprintf(stderr, "unit_gw: %s\n", err[0] ? err : "set-up failed");
        return -1;
    }
    return 0;
}

static inline void ug_close(ug_t *g)
{
    if (g->router)
        zmq_close(g->router);
    if (g->dealer)
        zmq_close(g->dealer);
    if (g->zctx)
        zmq_ctx_term(g->zctx);
    lt_store_destroy(&g->ctx.store);
    lt_dir_destroy(&g->ctx.dir);
    lt_keys_destroy(&g->ctx.keys);
    lt_stats_destroy(&g->ctx.stats);
    if (g->tmp[0])
        (void)ut_rmrf(g->tmp);
}

/* The consumer sends body; the owner receives it as from UG_CALLER. 0 with
 * in and *env set (free both), or -1. */
static inline int ug_send(ug_t *g, Lienthong__Envelope__BodyCase c, const void *body,
                          lt_wire_in_t *in, Lienthong__Envelope **env)
{
    Lienthong__ErrorCode code;
    char err[256];
    *env = NULL;
    if (lt_wire_send_body(g->dealer, NULL, 0, c, body) != 0 ||
        lt_wire_recv(g->router, 1, 0, in) != 0)
        return -1;
    snprintf(in->user_id, sizeof in->user_id, "%s", UG_CALLER);
    *env = lt_wire_decode(zmq_msg_data(&in->body), zmq_msg_size(&in->body), 1u << 20, &code, err,
                          sizeof err);
    return *env ? 0 : -1;
}

/* What the consumer received next, within ms (NULL when nothing). */
static inline Lienthong__Envelope *ug_recv_within(ug_t *g, long ms)
{
    zmq_pollitem_t it = {g->dealer, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, ms) <= 0)
        return NULL;
    zmq_msg_t m;
    zmq_msg_init(&m);
    Lienthong__Envelope *env = NULL;
    Lienthong__ErrorCode code;
    char err[256];
    if (zmq_msg_recv(&m, g->dealer, 0) >= 0)
        env = lt_wire_decode(zmq_msg_data(&m), zmq_msg_size(&m), 1u << 20, &code, err, sizeof err);
    zmq_msg_close(&m);
    return env;
}

/* What the consumer received next, within 1 s (NULL when nothing). */
static inline Lienthong__Envelope *ug_recv(ug_t *g)
{
    return ug_recv_within(g, 1000);
}

/* The value of a counter or integer gauge of family name (base name as
 * registered) whose label values are values (n of them); -1 when no such
 * series exists. */
typedef struct {
    const char *name;
    const char *const *values;
    size_t n;
    int64_t value;
    int found;
} ug_find_t;

static inline int ug_visit_series(void *arg, const lt_stats_def_t *def, const lt_stats_sample_t *s)
{
    ug_find_t *f = arg;
    if (strcmp(def->name, f->name) != 0 || def->n_labels != f->n)
        return 0;
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(s->values[i], f->values[i]) != 0)
            return 0;
    f->found = 1;
    f->value = def->kind == LT_STATS_COUNTER     ? (int64_t)s->counter
               : def->kind == LT_STATS_HISTOGRAM ? (int64_t)s->count
                                                 : s->gauge;
    return 1;
}

static inline int ug_family_any(void *arg, const lt_stats_def_t *def)
{
    (void)arg;
    (void)def;
    return 0;
}

static inline int64_t ug_stat(lt_stats_t *stats, const char *name, const char *const *values,
                              size_t n)
{
    ug_find_t f = {.name = name, .values = values, .n = n};
    lt_stats_visitor_t v = {.family = ug_family_any, .series = ug_visit_series};
    (void)lt_stats_visit(stats, &v, &f);
    return f.found ? f.value : -1;
}

#endif

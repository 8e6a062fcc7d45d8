/* lt_skew: peer members' clock offsets from their Hellos (see lt_skew.h). */
#include "lt_skew.h"
#include "lt_limits.h"
#include "lt_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One member's estimates, newest at (next - 1) % LT_SKEW_WINDOW. */
typedef struct {
    char member[LT_ID_MAX];
    int64_t seen[LT_SKEW_WINDOW];
    size_t n_seen; /* estimates held, up to LT_SKEW_WINDOW */
    size_t next;   /* where the next estimate goes */
    int64_t offset_ms;
    int warned; /* logged as past LT_SKEW_WARN_MS, not yet as back */
    lt_stats_series_t *gauge;
} peer_t;

struct _lt_skew_t {
    lt_stats_family_t *family;
    peer_t *peers; /* grown on demand up to LT_SKEW_MAX_PEERS */
    size_t n_peers, cap;
    int full_said; /* the table's bound was logged */
};

lt_skew_t *lt_skew_new(lt_stats_t *stats)
{
    /* Members are the directory's (ZAP User-Ids, link members): bounded,
     * and the table's bound besides. */
    static const lt_stats_def_t def = {
        .name = "lienthong_peer_clock_offset",
        .help = "A peer member's clock minus this gateway's, estimated from the send time of "
                "its Hellos (PROTOCOL.md 5.1): low by the time a Hello takes to arrive",
        .kind = LT_STATS_GAUGE_DOUBLE,
        .unit = LT_STATS_UNIT_SECONDS,
        .n_labels = 1,
        .labels = {"member"},
        .max_series = LT_SKEW_MAX_PEERS};
    lt_skew_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (lt_stats_register(stats, &def, &self->family) != 0)
        lt_skew_destroy(&self);
    return self;
}

void lt_skew_destroy(lt_skew_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->peers);
    free(*self_p);
    *self_p = NULL;
}

int64_t lt_skew_estimate(uint64_t sent_at_ms, int64_t now_ms)
{
    /* A peer's value is any 64-bit number: clamp it into int64, then
     * subtract without overflow (undefined behaviour in C). */
    int64_t sent = sent_at_ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)sent_at_ms;
    int64_t d;
    if (__builtin_sub_overflow(sent, now_ms, &d))
        d = now_ms < 0 ? INT64_MAX : INT64_MIN;
    return d;
}

static peer_t *s_find(const lt_skew_t *self, const char *member)
{
    for (size_t i = 0; i < self->n_peers; i++)
        if (strcmp(self->peers[i].member, member) == 0)
            return &self->peers[i];
    return NULL;
}

/* A new entry for member, or NULL (the bound, or out of memory: logged). */
static peer_t *s_add(lt_skew_t *self, const char *member)
{
    if (self->n_peers == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 16;
        if (cap > LT_SKEW_MAX_PEERS)
            cap = LT_SKEW_MAX_PEERS;
        peer_t *p = cap > self->cap ? realloc(self->peers, cap * sizeof *p) : NULL;
        if (!p) {
            if (!self->full_said)
                lt_debug("peer", "clock offset of %s not tracked: %s", member,
                         cap > self->cap ? "out of memory" : "too many members");
            self->full_said = 1;
            return NULL;
        }
        self->peers = p;
        self->cap = cap;
    }
    peer_t *p = &self->peers[self->n_peers++];
    memset(p, 0, sizeof *p);
    snprintf(p->member, sizeof p->member, "%s", member);
    const char *values[] = {p->member};
    p->gauge = lt_stats_series(self->family, values);
    return p;
}

/* The magnitude of v, saturated: -INT64_MIN does not exist. */
static int64_t s_abs(int64_t v)
{
    return v >= 0 ? v : v == INT64_MIN ? INT64_MAX : -v;
}

/* One line when member's offset crosses the thresholds (core/lt_limits.h). */
static void s_judge(peer_t *p)
{
    double s = (double)p->offset_ms / 1000.0;
    int64_t mag = s_abs(p->offset_ms);
    if (!p->warned && mag > LT_SKEW_WARN_MS) {
        p->warned = 1;
        lt_warn("peer",
                "the clock of %s is %.1f s %s this gateway's (from the send time of its Hello); "
                "replication lags and deadlines between the two include the difference: check "
                "the clocks (NTP) of both gateways (docs/operations.md, Clocks)",
                p->member, s < 0 ? -s : s, p->offset_ms < 0 ? "behind" : "ahead of");
    } else if (p->warned && mag <= LT_SKEW_CLEAR_MS) {
        p->warned = 0;
        lt_info("peer", "the clock of %s is within %.1f s of this gateway's again (%+.1f s)",
                p->member, LT_SKEW_CLEAR_MS / 1000.0, s);
    }
}

void lt_skew_note(lt_skew_t *self, const char *member, uint64_t sent_at_ms, int64_t now_ms)
{
    if (!self || !member || !member[0] || sent_at_ms == 0)
        return;
    peer_t *p = s_find(self, member);
    if (!p && !(p = s_add(self, member)))
        return;
    p->seen[p->next] = lt_skew_estimate(sent_at_ms, now_ms);
    p->next = (p->next + 1) % LT_SKEW_WINDOW;
    if (p->n_seen < LT_SKEW_WINDOW)
        p->n_seen++;
    /* Every estimate is low by its transit: the highest waited least. */
    int64_t best = p->seen[0];
    for (size_t i = 1; i < p->n_seen; i++)
        if (p->seen[i] > best)
            best = p->seen[i];
    p->offset_ms = best;
    lt_stats_set_double(p->gauge, (double)best / 1000.0);
    s_judge(p);
}

int lt_skew_get(const lt_skew_t *self, const char *member, int64_t *offset_ms)
{
    const peer_t *p = self && member ? s_find(self, member) : NULL;
    *offset_ms = p ? p->offset_ms : 0;
    return p != NULL;
}

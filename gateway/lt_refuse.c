/* lt_refuse: refusals counted per (source, reason) in a table fixed at
 * creation, reported once per interval (see lt_refuse.h). */
#include "lt_refuse.h"
#include "lt_clock.h"
#include "lt_limits.h"
#include "lt_log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int used;
    char source[LT_REFUSE_SOURCE_MAX];
    char reason[LT_REFUSE_REASON_MAX];
    char peer[LT_ID_MAX];
    char detail[LT_REFUSE_DETAIL_MAX];
    uint64_t pending; /* counted since the pair was last reported */
    int64_t last_ms;  /* the pair's latest refusal */
} s_pair_t;

struct _lt_refuse_t {
    char component[32];
    char what[32];
    int64_t interval_ms;
    size_t max;
    size_t tracked;
    s_pair_t *pairs;
    s_pair_t others; /* every refusal beyond max pairs; the last one's particulars */
    uint64_t total;
    int64_t reported_ms; /* when the counts were last reported */
    int64_t (*now)(void *arg);
    void *now_arg;
    lt_audit_t *audit;
};

static int64_t s_mono(void *arg)
{
    (void)arg;
    return lt_clock_mono_ms();
}

lt_refuse_t *lt_refuse_new(const char *component, const char *what, int64_t interval_ms,
                           size_t max_sources)
{
    lt_refuse_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max_sources ? max_sources : LT_REFUSE_MAX_SOURCES;
    self->interval_ms = interval_ms > 0 ? interval_ms : LT_REFUSE_INTERVAL_MS;
    /* Allocated once: a flood of new sources never allocates. */
    self->pairs = calloc(self->max, sizeof *self->pairs);
    if (!self->pairs) {
        free(self);
        return NULL;
    }
    snprintf(self->component, sizeof self->component, "%s", component);
    snprintf(self->what, sizeof self->what, "%s", what);
    self->now = s_mono;
    self->reported_ms = s_mono(NULL);
    return self;
}

void lt_refuse_destroy(lt_refuse_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free((*self_p)->pairs);
    free(*self_p);
    *self_p = NULL;
}

void lt_refuse_set_audit(lt_refuse_t *self, lt_audit_t *audit)
{
    self->audit = audit;
}

void lt_refuse_set_clock(lt_refuse_t *self, int64_t (*now_ms)(void *arg), void *arg)
{
    self->now = now_ms ? now_ms : s_mono;
    self->now_arg = arg;
    self->reported_ms = self->now(self->now_arg);
}

size_t lt_refuse_tracked(const lt_refuse_t *self)
{
    return self->tracked;
}

uint64_t lt_refuse_total(const lt_refuse_t *self)
{
    return self->total;
}

/* Keeps the particulars of ev's refusal in p (source and reason too, which
 * for a tracked pair are the same, and for the others count the latest). */
static void s_keep(s_pair_t *p, const lt_refuse_event_t *ev, int64_t now)
{
    snprintf(p->source, sizeof p->source, "%s", ev->source ? ev->source : "?");
    snprintf(p->reason, sizeof p->reason, "%s", ev->reason ? ev->reason : "?");
    snprintf(p->peer, sizeof p->peer, "%s", ev->peer && ev->peer[0] ? ev->peer : p->source);
    snprintf(p->detail, sizeof p->detail, "%s", ev->detail ? ev->detail : "");
    p->last_ms = now;
}

static int s_same(const s_pair_t *p, const lt_refuse_event_t *ev)
{
    /* Compared as stored, so a source or reason longer than its field
     * still finds its pair. */
    return p->used &&
           strncmp(p->source, ev->source ? ev->source : "?", sizeof p->source - 1) == 0 &&
           strncmp(p->reason, ev->reason ? ev->reason : "?", sizeof p->reason - 1) == 0;
}

/* The pair of ev, a free slot (used == 0), or NULL when the table is full. */
static s_pair_t *s_find(lt_refuse_t *self, const lt_refuse_event_t *ev)
{
    s_pair_t *free_slot = NULL;
    for (size_t i = 0; i < self->max; i++) {
        if (s_same(&self->pairs[i], ev))
            return &self->pairs[i];
        if (!self->pairs[i].used && !free_slot)
            free_slot = &self->pairs[i];
    }
    return free_slot;
}

/* The audit entry of one report: peer, and detail under the entry's limit. */
static void s_audit(lt_refuse_t *self, const s_pair_t *p, const char *detail)
{
    lt_audit_add(self->audit,
                 &(lt_audit_entry_t){.event = "refused", .peer = p->peer, .detail = detail});
}

/* A new pair's first refusal: written at once, as before aggregation. */
static void s_report_first(lt_refuse_t *self, const s_pair_t *p)
{
    lt_warn(self->component, "refused %s from %s%s%s: %s", self->what, p->source,
            p->detail[0] ? " " : "", p->detail, p->reason);
    char detail[LT_REFUSE_REASON_MAX + LT_REFUSE_DETAIL_MAX + 64];
    snprintf(detail, sizeof detail, "%s refused: %s%s%s%s", self->what, p->reason,
             p->detail[0] ? " (" : "", p->detail, p->detail[0] ? ")" : "");
    s_audit(self, p, detail);
}

/* The count of one pair (or of the others) since its last report. */
static void s_report_count(lt_refuse_t *self, s_pair_t *p, int others, int64_t seconds)
{
    char detail[LT_REFUSE_SOURCE_MAX + LT_REFUSE_REASON_MAX + LT_REFUSE_DETAIL_MAX + 128];
    unsigned long long n = (unsigned long long)p->pending;
    if (others) {
        lt_warn(self->component,
                "refused %llu %ss in %lld s from sources beyond the %zu tracked (last from "
                "%s%s%s: %s)",
                n, self->what, (long long)seconds, self->max, p->source, p->detail[0] ? " " : "",
                p->detail, p->reason);
        snprintf(detail, sizeof detail,
                 "%llu %ss refused in %lld s from untracked sources (last from %s: %s)", n,
                 self->what, (long long)seconds, p->source, p->reason);
    } else {
        lt_warn(self->component, "refused %llu more %ss from %s in %lld s: %s (last %s)", n,
                self->what, p->source, (long long)seconds, p->reason, p->detail);
        snprintf(detail, sizeof detail, "%llu more %ss refused in %lld s: %s (last %s)", n,
                 self->what, (long long)seconds, p->reason, p->detail);
    }
    s_audit(self, p, detail);
    p->pending = 0;
}

void lt_refuse_note(lt_refuse_t *self, const lt_refuse_event_t *ev)
{
    int64_t now = self->now(self->now_arg);
    self->total++;
    s_pair_t *p = s_find(self, ev);
    if (!p) {
        s_keep(&self->others, ev, now);
        self->others.pending++;
        return;
    }
    if (!p->used) {
        p->used = 1;
        p->pending = 0;
        self->tracked++;
        s_keep(p, ev, now);
        s_report_first(self, p);
        return;
    }
    s_keep(p, ev, now);
    p->pending++;
}

/* Reports every pending count; with forget, drops pairs idle since before
 * now - interval. */
static void s_report_all(lt_refuse_t *self, int64_t now, int forget)
{
    int64_t seconds = (now - self->reported_ms + 999) / 1000;
    for (size_t i = 0; i < self->max; i++) {
        s_pair_t *p = &self->pairs[i];
        if (!p->used)
            continue;
        if (p->pending) {
            s_report_count(self, p, 0, seconds);
        } else if (forget && now - p->last_ms >= self->interval_ms) {
            memset(p, 0, sizeof *p);
            self->tracked--;
        }
    }
    if (self->others.pending)
        s_report_count(self, &self->others, 1, seconds);
    self->reported_ms = now;
}

void lt_refuse_tick(lt_refuse_t *self)
{
    int64_t now = self->now(self->now_arg);
    if (now - self->reported_ms >= self->interval_ms)
        s_report_all(self, now, 1);
}

void lt_refuse_flush(lt_refuse_t *self)
{
    s_report_all(self, self->now(self->now_arg), 0);
}

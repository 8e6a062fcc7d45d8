/* lt_refuse: refusals counted per (source, reason) through lt_tally, each
 * report written to the log and the audit log (see lt_refuse.h). */
#include "lt_refuse.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_tally.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A refusal's particulars, kept for its reports. */
typedef struct {
    char source[LT_REFUSE_SOURCE_MAX];
    char reason[LT_REFUSE_REASON_MAX];
    char peer[LT_ID_MAX];
    char detail[LT_REFUSE_DETAIL_MAX];
} s_info_t;

struct _lt_refuse_t {
    char component[32];
    char what[32];
    size_t max;
    lt_tally_t *tally; /* keyed by source and reason, as stored */
    lt_audit_t *audit;
};

static void s_report(void *arg, const lt_tally_report_t *rep);

lt_refuse_t *lt_refuse_new(const char *component, const char *what, int64_t interval_ms,
                           size_t max_sources)
{
    lt_refuse_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max_sources ? max_sources : LT_REFUSE_MAX_SOURCES;
    self->tally = lt_tally_new(interval_ms > 0 ? interval_ms : LT_REFUSE_INTERVAL_MS, self->max,
                               sizeof(s_info_t), s_report, self);
    if (!self->tally) {
        free(self);
        return NULL;
    }
    snprintf(self->component, sizeof self->component, "%s", component);
    snprintf(self->what, sizeof self->what, "%s", what);
    return self;
}

void lt_refuse_destroy(lt_refuse_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_tally_destroy(&(*self_p)->tally);
    free(*self_p);
    *self_p = NULL;
}

void lt_refuse_set_audit(lt_refuse_t *self, lt_audit_t *audit)
{
    self->audit = audit;
}

void lt_refuse_set_clock(lt_refuse_t *self, int64_t (*now_ms)(void *arg), void *arg)
{
    lt_tally_set_clock(self->tally, now_ms, arg);
}

size_t lt_refuse_tracked(const lt_refuse_t *self)
{
    return lt_tally_tracked(self->tally);
}

uint64_t lt_refuse_total(const lt_refuse_t *self)
{
    return lt_tally_total(self->tally);
}

/* The audit entry of one report: peer, and detail under the entry's limit. */
static void s_audit(lt_refuse_t *self, const s_info_t *p, const char *detail)
{
    lt_audit_add(self->audit,
                 &(lt_audit_entry_t){.event = "refused", .peer = p->peer, .detail = detail});
}

/* A new pair's first refusal: written at once, as before aggregation. */
static void s_report_first(lt_refuse_t *self, const s_info_t *p)
{
    lt_warn(self->component, "refused %s from %s%s%s: %s", self->what, p->source,
            p->detail[0] ? " " : "", p->detail, p->reason);
    char detail[LT_REFUSE_REASON_MAX + LT_REFUSE_DETAIL_MAX + 64];
    snprintf(detail, sizeof detail, "%s refused: %s%s%s%s", self->what, p->reason,
             p->detail[0] ? " (" : "", p->detail, p->detail[0] ? ")" : "");
    s_audit(self, p, detail);
}

/* The count of one pair (or of the others) since its last report. */
static void s_report_count(lt_refuse_t *self, const s_info_t *p, int others, uint64_t count,
                           int64_t seconds)
{
    char detail[LT_REFUSE_SOURCE_MAX + LT_REFUSE_REASON_MAX + LT_REFUSE_DETAIL_MAX + 128];
    unsigned long long n = (unsigned long long)count;
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
}

static void s_report(void *arg, const lt_tally_report_t *rep)
{
    lt_refuse_t *self = arg;
    if (rep->kind == LT_TALLY_FIRST)
        s_report_first(self, rep->info);
    else
        s_report_count(self, rep->info, rep->kind == LT_TALLY_OTHERS, rep->count, rep->seconds);
}

void lt_refuse_note(lt_refuse_t *self, const lt_refuse_event_t *ev)
{
    s_info_t p;
    snprintf(p.source, sizeof p.source, "%s", ev->source ? ev->source : "?");
    snprintf(p.reason, sizeof p.reason, "%s", ev->reason ? ev->reason : "?");
    snprintf(p.peer, sizeof p.peer, "%s", ev->peer && ev->peer[0] ? ev->peer : p.source);
    snprintf(p.detail, sizeof p.detail, "%s", ev->detail ? ev->detail : "");
    /* Keyed as stored, so that a source or reason longer than its field
     * still finds its pair. */
    char key[LT_REFUSE_SOURCE_MAX + LT_REFUSE_REASON_MAX + 1];
    snprintf(key, sizeof key, "%s\n%s", p.source, p.reason);
    lt_tally_note(self->tally, key, &p);
}

void lt_refuse_tick(lt_refuse_t *self)
{
    lt_tally_tick(self->tally);
}

void lt_refuse_flush(lt_refuse_t *self)
{
    lt_tally_flush(self->tally);
}

/* lt_peererr: Errors received from other members, counted and logged in
 * aggregate through lt_tally (see lt_peererr.h). */
#include "lt_peererr.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_tally.h"
#include "lt_valid.h"
#include "lt_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest part of an Error's message kept for the log. */
#define MESSAGE_MAX 192

/* One Error's particulars, kept for its reports. */
typedef struct {
    char component[16];
    char member[LT_ID_MAX];
    char code[48];
    char message[MESSAGE_MAX];
} s_info_t;

struct _lt_peererr_t {
    lt_stats_family_t *counted;
    lt_tally_t *tally; /* keyed by member and code */
};

static void s_report(void *arg, const lt_tally_report_t *rep);

lt_peererr_t *lt_peererr_new(lt_stats_t *stats, int64_t interval_ms)
{
    /* Members are the directory's and codes the protocol's (unknown
     * ones are ERR_UNKNOWN): bounded, and a bound besides. */
    static const lt_stats_def_t def = {
        .name = "lienthong_peer_errors_received",
        .help = "Error messages received from other members, by member and error code "
                "(PROTOCOL.md 4.4)",
        .kind = LT_STATS_COUNTER,
        .n_labels = 2,
        .labels = {"member", "code"},
        .max_series = 512};
    lt_peererr_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->tally = lt_tally_new(interval_ms > 0 ? interval_ms : LT_REFUSE_INTERVAL_MS,
                               LT_REFUSE_MAX_SOURCES, sizeof(s_info_t), s_report, self);
    if (!self->tally || lt_stats_register(stats, &def, &self->counted) != 0)
        lt_peererr_destroy(&self);
    return self;
}

void lt_peererr_destroy(lt_peererr_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_peererr_t *self = *self_p;
    if (self->tally)
        lt_tally_flush(self->tally); /* the counts not yet reported */
    lt_tally_destroy(&self->tally);
    free(self);
    *self_p = NULL;
}

void lt_peererr_set_clock(lt_peererr_t *self, int64_t (*now_ms)(void *arg), void *arg)
{
    lt_tally_set_clock(self->tally, now_ms, arg);
}

static void s_report(void *arg, const lt_tally_report_t *rep)
{
    (void)arg;
    const s_info_t *p = rep->info;
    unsigned long long n = (unsigned long long)rep->count;
    if (rep->kind == LT_TALLY_FIRST)
        lt_warn(p->component, "%s reports %s: %s", p->member, p->code, p->message);
    else if (rep->kind == LT_TALLY_COUNT)
        lt_warn(p->component, "%s reported %llu more %s in %lld s (last: %s)", p->member, n,
                p->code, (long long)rep->seconds, p->message);
    else
        lt_warn(p->component,
                "%llu more Errors in %lld s from members and codes beyond the %d tracked "
                "(last: %s reports %s: %s)",
                n, (long long)rep->seconds, LT_REFUSE_MAX_SOURCES, p->member, p->code, p->message);
}

void lt_peererr_note(lt_peererr_t *self, const char *component, const char *member,
                     const Lienthong__Error *e)
{
    s_info_t p;
    const char *msg = e->message ? e->message : "";
    snprintf(p.component, sizeof p.component, "%s", component);
    snprintf(p.member, sizeof p.member, "%s", member && member[0] ? member : "?");
    snprintf(p.code, sizeof p.code, "%s", lt_wire_error_name(e->code));
    /* Cut on a character boundary: the log keeps valid UTF-8. */
    snprintf(p.message, sizeof p.message, "%.*s", lt_valid_cut(msg, sizeof p.message - 1), msg);
    if (!self) {
        lt_warn(p.component, "%s reports %s: %s", p.member, p.code, p.message);
        return;
    }
    lt_stats_inc(lt_stats_series(self->counted, (const char *const[]){p.member, p.code}));
    /* Keyed by member and code, never by the message, which is the
     * peer's text: each Error would be a new pair. */
    char key[LT_ID_MAX + sizeof p.code + 1];
    snprintf(key, sizeof key, "%s\n%s", p.member, p.code);
    lt_tally_note(self->tally, key, &p);
}

void lt_peererr_tick(lt_peererr_t *self)
{
    if (self)
        lt_tally_tick(self->tally);
}

uint64_t lt_peererr_total(const lt_peererr_t *self)
{
    return self ? lt_tally_total(self->tally) : 0;
}

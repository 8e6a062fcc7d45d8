/* lt_reject: reporting rejected input, and the Error rate per sender
 * (PROTOCOL.md 4.4; see lt_reject.h). */
#include "lt_reject.h"
#include "lt_bucket.h"
#include "lt_clock.h"
#include "lt_limits.h"
#include "lt_log.h"
#include "lt_refuse.h"
#include "lt_wire.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A sender's Error replies: one earned per this many ms, in whole ms. */
#define EVERY_MS (1000 / LT_REJECT_RATE_PER_S)
_Static_assert(1000 % LT_REJECT_RATE_PER_S == 0, "LT_REJECT_RATE_PER_S divides a second");

/* One sender's bucket. */
typedef struct {
    char who[LT_ID_MAX];
    lt_bucket_t answers; /* LT_REJECT_BURST, one per EVERY_MS */
    int64_t seen_ms;     /* monotonic ms of its last rejection: the oldest is replaced */
} sender_t;

/* Log lines and audit entries go through one aggregator per kind of input
 * (lt_refuse), keyed by sender and error code; kinds are few and fixed. */
#define MAX_KINDS 16

struct _lt_reject_t {
    lt_audit_t *audit;
    lt_stats_family_t *counted;
    uint64_t total;
    sender_t senders[LT_REJECT_MAX_SENDERS];
    size_t n_senders;
    struct {
        const char *what; /* a literal of the callers */
        lt_refuse_t *refuse;
    } kinds[MAX_KINDS];
    size_t n_kinds;
};

lt_reject_t *lt_reject_new(lt_stats_t *stats, lt_audit_t *audit)
{
    static const lt_stats_def_t def = {
        .name = "lienthong_rejected_inputs",
        .help = "Inputs rejected, by sender and error code (PROTOCOL.md 4.4)",
        .kind = LT_STATS_COUNTER,
        .n_labels = 2,
        .labels = {"member", "reason"},
        .max_series = 512};
    lt_reject_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->audit = audit;
    if (lt_stats_register(stats, &def, &self->counted) != 0)
        lt_reject_destroy(&self);
    return self;
}

void lt_reject_destroy(lt_reject_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_reject_t *self = *self_p;
    for (size_t i = 0; i < self->n_kinds; i++) {
        lt_refuse_flush(self->kinds[i].refuse);
        lt_refuse_destroy(&self->kinds[i].refuse);
    }
    free(self);
    *self_p = NULL;
}

void lt_reject_tick(lt_reject_t *self)
{
    for (size_t i = 0; self && i < self->n_kinds; i++)
        lt_refuse_tick(self->kinds[i].refuse);
}

/* The aggregator for inputs of kind what; NULL when none can be made. */
static lt_refuse_t *s_kind(lt_reject_t *self, const char *what)
{
    for (size_t i = 0; i < self->n_kinds; i++)
        if (strcmp(self->kinds[i].what, what) == 0)
            return self->kinds[i].refuse;
    lt_refuse_t *r = self->n_kinds < MAX_KINDS ? lt_refuse_new("reject", what, 0, 0) : NULL;
    if (!r)
        return NULL;
    lt_refuse_set_audit(r, self->audit);
    self->kinds[self->n_kinds].what = what;
    self->kinds[self->n_kinds++].refuse = r;
    return r;
}

/* The sender's entry, seen at now; a new one (replacing the least
 * recently seen when the table is full) has a bucket that starts full. */
static sender_t *s_sender(lt_reject_t *self, const char *who, int64_t now)
{
    sender_t *s = NULL, *oldest = NULL;
    for (size_t i = 0; i < self->n_senders && !s; i++) {
        if (strcmp(self->senders[i].who, who) == 0)
            s = &self->senders[i];
        else if (!oldest || self->senders[i].seen_ms < oldest->seen_ms)
            oldest = &self->senders[i];
    }
    if (!s) {
        s = self->n_senders < LT_REJECT_MAX_SENDERS ? &self->senders[self->n_senders++] : oldest;
        *s = (sender_t){0};
        lt_bucket_init(&s->answers, LT_REJECT_BURST, EVERY_MS);
        snprintf(s->who, sizeof s->who, "%s", who);
    }
    s->seen_ms = now;
    return s;
}

/* Sends the Error for r, if it has somewhere to go. */
static void s_answer(const lt_reject_in_t *r)
{
    if (r->sock)
        (void)lt_wire_send_error(r->sock, r->rid, r->rid_len, r->code, r->request_id, "%s", r->why);
}

int lt_reject(lt_reject_t *self, const lt_reject_in_t *r)
{
    const char *name = lt_wire_error_name(r->code);
    const char *who = r->who && r->who[0] ? r->who : "?";
    const char *what = r->what ? r->what : "message";
    lt_refuse_t *agg = self ? s_kind(self, what) : NULL;
    /* The reason keys the count: the code, never text from the input,
     * which goes in the detail (lt_refuse.h). */
    if (agg)
        lt_refuse_note(agg, &(lt_refuse_event_t){
                                .source = who, .reason = name, .peer = who, .detail = r->why});
    else
        lt_warn("reject", "refused %s from %s %s: %s", what, who, r->why, name);
    if (!self) {
        s_answer(r);
        return 1;
    }
    lt_stats_inc(lt_stats_series(self->counted, (const char *const[]){who, name}));
    self->total++;
    int64_t now = lt_clock_mono_ms();
    sender_t *s = s_sender(self, who, now);
    /* A local client acts for the member: it always gets its answer. */
    if (!lt_bucket_take(&s->answers, now) && strcmp(who, "local") != 0)
        return 0;
    s_answer(r);
    return 1;
}

uint64_t lt_reject_count(const lt_reject_t *self)
{
    return self ? self->total : 0;
}

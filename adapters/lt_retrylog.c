/* lt_retrylog: Publish refusals the source resends, logged in aggregate
 * through lt_tally (see lt_retrylog.h). */
#include "lt_retrylog.h"
#include "lt_clock.h"
#include "lt_log.h"
#include "lt_tally.h"
#include "lt_valid.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* Longest part of the gateway's message kept for the log. */
#define MESSAGE_MAX 400

/* One refusal's particulars, kept for its reports. */
typedef struct {
    char dataset[256];
    char code[48];
    char message[MESSAGE_MAX];
    uint64_t request_id;
} s_info_t;

struct _lt_retrylog_t {
    lt_tally_t *tally; /* keyed by dataset */
    size_t max;
    int64_t (*now)(void *arg);
    void *now_arg;
};

static void s_report(void *arg, const lt_tally_report_t *rep);

static int64_t s_mono(void *arg)
{
    (void)arg;
    return lt_clock_mono_ms();
}

lt_retrylog_t *lt_retrylog_new(int64_t interval_ms, size_t max_datasets)
{
    lt_retrylog_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max_datasets ? max_datasets : 1;
    self->now = s_mono;
    self->tally = lt_tally_new(interval_ms > 0 ? interval_ms : LT_RETRYLOG_INTERVAL_MS, self->max,
                               sizeof(s_info_t), s_report, self);
    if (!self->tally)
        lt_retrylog_destroy(&self);
    return self;
}

void lt_retrylog_destroy(lt_retrylog_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_retrylog_t *self = *self_p;
    if (self->tally)
        lt_tally_flush(self->tally); /* the counts not yet written */
    lt_tally_destroy(&self->tally);
    free(self);
    *self_p = NULL;
}

void lt_retrylog_set_clock(lt_retrylog_t *self, int64_t (*now_ms)(void *arg), void *arg)
{
    self->now = now_ms ? now_ms : s_mono;
    self->now_arg = arg;
    lt_tally_set_clock(self->tally, now_ms, arg);
}

static void s_report(void *arg, const lt_tally_report_t *rep)
{
    const lt_retrylog_t *self = arg;
    const s_info_t *p = rep->info;
    char n[LT_TALLY_TIMES_MAX];
    long long every = (long long)lt_tally_interval_ms(self->tally) / 1000;
    if (rep->kind == LT_TALLY_FIRST)
        lt_warn("source",
                "gateway refused a publish of dataset=%s request_id=%016" PRIx64
                " code=%s: %s; resending it after a back-off, further refusals said at most "
                "once every %lld s",
                p->dataset, p->request_id, p->code, p->message, every);
    else if (rep->kind == LT_TALLY_COUNT)
        lt_warn("source", "dataset=%s publish refused %s in the last %lld s, code=%s: %s",
                p->dataset, lt_tally_times(rep->count, n), (long long)rep->seconds, p->code,
                p->message);
    else
        lt_warn("source",
                "publishes of datasets beyond the %zu tracked refused %s in the last "
                "%lld s (last: dataset=%s code=%s: %s)",
                self->max, lt_tally_times(rep->count, n), (long long)rep->seconds, p->dataset,
                p->code, p->message);
}

void lt_retrylog_refused(lt_retrylog_t *self, lt_retrylog_run_t *run, const char *dataset,
                         uint64_t request_id, const char *code, const char *message)
{
    s_info_t p;
    const char *msg = message ? message : "";
    snprintf(p.dataset, sizeof p.dataset, "%s", dataset);
    snprintf(p.code, sizeof p.code, "%s", code);
    /* Cut on a character boundary: the log keeps valid UTF-8. */
    snprintf(p.message, sizeof p.message, "%.*s", lt_valid_cut(msg, sizeof p.message - 1), msg);
    p.request_id = request_id;
    if (run->refused++ == 0)
        run->since_ms = self->now(self->now_arg);
    lt_tally_note(self->tally, dataset, &p);
}

void lt_retrylog_accepted(lt_retrylog_t *self, lt_retrylog_run_t *run, const char *dataset)
{
    if (!run->refused)
        return;
    /* Its last count first, and its next refusal is said at once. */
    lt_tally_forget(self->tally, dataset);
    lt_info("source", "dataset=%s publishes accepted again after %llu refusal%s over %lld s",
            dataset, (unsigned long long)run->refused, run->refused == 1 ? "" : "s",
            (long long)(self->now(self->now_arg) - run->since_ms + 999) / 1000);
    *run = (lt_retrylog_run_t){0};
}

void lt_retrylog_tick(lt_retrylog_t *self)
{
    lt_tally_tick(self->tally);
}

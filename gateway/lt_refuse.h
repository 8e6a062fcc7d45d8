/* lt_refuse: counts refusals (refused handshakes, rejected frames) per
 * source address and reason, so that a flood of them costs bounded disk
 * (docs/operations.md, "Refusals").
 *
 * The first refusal of a (source, reason) pair not yet tracked is logged at
 * WARN and audited at once, as a single refusal always was. Later ones are
 * only counted; lt_refuse_tick then writes, once per interval, one log line
 * and one audit entry per pair with the count and the particulars of the
 * last one. A pair that saw nothing for a whole interval is forgotten, so a
 * source coming back later is again logged at once. At most max_sources
 * pairs are tracked: beyond that, refusals go to one "others" count,
 * reported the same way but never logged at once. So whatever the flood,
 * the log and the audit log grow by at most (max_sources + 1) lines per
 * interval, plus one line per pair at its first refusal, and memory is
 * fixed at creation. The counting is lt_tally's (core), which the HTTP API
 * shares; this module writes its reports to the log and the audit log. */
#ifndef LT_REFUSE_H
#define LT_REFUSE_H

#include <stddef.h>
#include <stdint.h>

#include "lt_audit.h"

/* Longest source, reason and detail kept (longer ones are truncated). */
#define LT_REFUSE_SOURCE_MAX 64
#define LT_REFUSE_REASON_MAX 96
#define LT_REFUSE_DETAIL_MAX 192
/* The source under which refusals beyond max_sources are counted. */
#define LT_REFUSE_OTHERS "others"

typedef struct _lt_refuse_t lt_refuse_t;

/* One refusal. source and reason key the count; reason should be a fixed
 * text (never peer input), or every refusal would be a new pair. */
typedef struct {
    const char *source; /* address the refusal came from, e.g. "192.0.2.7" */
    const char *reason; /* why, e.g. "key is not in the directory" */
    const char *peer;   /* member id for the audit entry; NULL or "" names the source */
    const char *detail; /* this refusal's particulars ("key=... member=..."), or NULL */
} lt_refuse_event_t;

/* component tags log lines ("zap", "peer"); what names one refusal in
 * them ("connection", "message"): "refused connection from 192.0.2.7
 * key=...: key is not in the directory". interval_ms 0 means
 * LT_REFUSE_INTERVAL_MS, max_sources 0 means LT_REFUSE_MAX_SOURCES.
 * Strings are copied. Returns NULL when out of memory. */
lt_refuse_t *lt_refuse_new(const char *component, const char *what, int64_t interval_ms,
                           size_t max_sources);
void lt_refuse_destroy(lt_refuse_t **self_p);

/* Entries are written to this audit log as event "refused" (may be NULL). */
void lt_refuse_set_audit(lt_refuse_t *self, lt_audit_t *audit);

/* The monotonic clock in milliseconds (lt_clock_mono_ms unless set; tests
 * set their own). */
void lt_refuse_set_clock(lt_refuse_t *self, int64_t (*now_ms)(void *arg), void *arg);

/* Counts one refusal; logs and audits it at once when its pair is new. */
void lt_refuse_note(lt_refuse_t *self, const lt_refuse_event_t *ev);

/* Reports the counts of the interval when one has passed, and forgets
 * pairs idle for a whole interval. Cheap when nothing is due: call it
 * every poll-loop turn. */
void lt_refuse_tick(lt_refuse_t *self);

/* Reports every count not yet reported, due or not (at shutdown). */
void lt_refuse_flush(lt_refuse_t *self);

/* Pairs tracked now (the others count not included). */
size_t lt_refuse_tracked(const lt_refuse_t *self);
/* Refusals counted so far, reported or not. */
uint64_t lt_refuse_total(const lt_refuse_t *self);

#endif

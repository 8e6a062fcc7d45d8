/* lt_tally: events counted per key in a table fixed at creation, so that a
 * flood of refusals costs bounded log lines and memory. The one counting
 * rule of the gateway's refusals (lt_refuse) and of the HTTP API's (429,
 * 400, 401 answers, connections cut): docs/operations.md, "Refusals" and
 * "Limits of the HTTP API".
 *
 * The first event of a key not yet tracked is reported at once. Later ones
 * are only counted; lt_tally_tick then reports, once per interval, each key
 * that counted any with its count and the particulars of its last event. A
 * key that saw nothing for a whole interval is forgotten, so a key coming
 * back later is again reported at once. At most max_keys keys are tracked:
 * beyond that, events go to one "others" count, reported the same way but
 * never at once. Each event is in exactly one report: the first alone, the
 * others in counts. Reports go to the owner's callback (a log line, an
 * audit entry), called from lt_tally_note, _tick and _flush.
 *
 * Not thread-safe: an owner shared by threads calls it under its lock
 * (the callback then runs under that lock too). */
#ifndef LT_TALLY_H
#define LT_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "lt_limits.h"

/* Longest key kept, its terminating NUL included: a stream id (a dataset's
 * or a view's, the longest id a key is made of) and a short suffix. Longer
 * ones are cut, and still find their entry. */
#define LT_TALLY_KEY_MAX (LT_STREAM_ID_MAX + 64)

typedef struct _lt_tally_t lt_tally_t;

typedef enum {
    LT_TALLY_FIRST,  /* the first event of a new key, at once (count 1) */
    LT_TALLY_COUNT,  /* a tracked key's events since its last report */
    LT_TALLY_OTHERS, /* the events of keys beyond the table since the last report */
} lt_tally_kind_t;

typedef struct {
    lt_tally_kind_t kind;
    const char *key;  /* the key; for LT_TALLY_OTHERS the last event's */
    const void *info; /* the last event's particulars (info_size bytes) */
    uint64_t count;   /* events in this report */
    int64_t seconds;  /* LT_TALLY_COUNT, _OTHERS: the time since the last reports, rounded up */
} lt_tally_report_t;

typedef void(lt_tally_fn)(void *arg, const lt_tally_report_t *report);

/* A table of max_keys keys (at least 1), each keeping info_size bytes of
 * particulars, reporting every interval_ms (at least 1) to report(arg).
 * NULL when out of memory or report is NULL. */
lt_tally_t *lt_tally_new(int64_t interval_ms, size_t max_keys, size_t info_size,
                         lt_tally_fn *report, void *arg);
void lt_tally_destroy(lt_tally_t **self_p);

/* The monotonic clock in milliseconds (lt_clock_mono_ms unless set; tests
 * set their own). */
void lt_tally_set_clock(lt_tally_t *self, int64_t (*now_ms)(void *arg), void *arg);

/* Counts one event of key, whose particulars are info (info_size bytes,
 * copied; NULL: zeros). Reports it at once when its key is new. */
void lt_tally_note(lt_tally_t *self, const char *key, const void *info);

/* Reports the counts of the interval when one has passed since the last
 * reports, and forgets keys idle for a whole interval. Cheap when nothing
 * is due: call it every turn of a loop, or from a timer. */
void lt_tally_tick(lt_tally_t *self);

/* Reports every count not yet reported, due or not (at shutdown). */
void lt_tally_flush(lt_tally_t *self);

/* Reports key's count not yet reported, if any, and forgets key, so that
 * its next event is reported at once again: its owner saw it end (a
 * dataset whose publishes are accepted again). Nothing when not tracked. */
void lt_tally_forget(lt_tally_t *self, const char *key);

/* Keys tracked now (the others count not included). */
size_t lt_tally_tracked(const lt_tally_t *self);
/* Events counted so far, reported or not. */
uint64_t lt_tally_total(const lt_tally_t *self);
/* Events counted and not yet reported. */
uint64_t lt_tally_pending(const lt_tally_t *self);
/* The interval in milliseconds. */
int64_t lt_tally_interval_ms(const lt_tally_t *self);

/* Room for the longest lt_tally_times gives, with its end. */
#define LT_TALLY_TIMES_MAX 32
/* A report's count as its line says it, "once" or "N times" (never "1
 * times"): written into buf, which is returned. */
const char *lt_tally_times(uint64_t n, char buf[LT_TALLY_TIMES_MAX]);

#endif

/* lt_stats: one registry of the gateway's named statistics, for status
 * replies and a metrics endpoint to read from one place.
 *
 * A *family* is registered once (name, description, unit, kind, label
 * names); a *series* is one label set of a family, e.g.
 * {stream="VN/GOV/BCA/population"}. Callers look a series up once and keep
 * the handle: updates through a handle are one relaxed atomic operation,
 * with no allocation, lock or string work. Label sets are created on first
 * use up to a bound per family, so values taken from peer input cannot grow
 * memory without limit; beyond the bound (or for a value that is not valid
 * UTF-8 or is too long) updates go to the family's `other` series, whose
 * every label value is "other".
 *
 * Kinds: counters (monotonic uint64), gauges (int64 or double) and latency
 * histograms (fixed log-spaced buckets in microseconds: ten per decade
 * from 1 us to 50 s, plus +Inf; count and sum; quantiles such as p50 and
 * p99 estimated from the buckets). Exporters publish the 1-2-5 subset of
 * the bounds, which keeps an exposition short; the cumulative counts at
 * those bounds are exact.
 *
 * Names follow Prometheus conventions: a registered name is the base name
 * (`lienthong_` then [a-z0-9_]); the registry appends the unit suffix
 * (`_seconds`, `_bytes`) and, for counters, `_total`, so a name must not
 * already end with a suffix the exposition adds. Histograms observe in
 * microseconds and are exported in seconds, the base unit.
 *
 * Threads: the poll loop is the main user, but a second thread may update
 * series (C11 atomics). Registration, series look-up and visiting take the
 * registry's mutex. */
#ifndef LT_STATS_H
#define LT_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "lt_err.h"

#define LT_STATS_MAX_LABELS     4    /* label names per family */
#define LT_STATS_MAX_VALUE      256  /* bytes of one label value */
#define LT_STATS_DEFAULT_SERIES 64   /* label sets per family when max_series is 0 */
#define LT_STATS_MAX_SERIES     4096 /* the largest max_series accepted */
#define LT_STATS_BUCKETS        76   /* histogram buckets: 75 finite bounds and +Inf */
#define LT_STATS_OTHER          "other"

/* Error codes: 0 is success. */
enum {
    LT_STATS_EINVAL = -1, /* bad name, description, unit, kind or labels (logged) */
    LT_STATS_EEXIST = -2, /* the name is registered with another definition */
    LT_STATS_ENOMEM = -3,
};

typedef enum {
    LT_STATS_COUNTER = 0,
    LT_STATS_GAUGE,        /* int64 */
    LT_STATS_GAUGE_DOUBLE, /* double */
    LT_STATS_HISTOGRAM,    /* latency, observed in microseconds */
} lt_stats_kind_t;

typedef enum {
    LT_STATS_UNIT_NONE = 0,
    LT_STATS_UNIT_SECONDS, /* histograms must use this unit */
    LT_STATS_UNIT_BYTES,
} lt_stats_unit_t;

typedef struct _lt_stats_t lt_stats_t;
typedef struct _lt_stats_family_t lt_stats_family_t;
typedef struct _lt_stats_series_t lt_stats_series_t;

/* What a family is; also what the visitor sees. */
typedef struct {
    const char *name; /* base name as registered, e.g. lienthong_lookup_latency */
    const char *help; /* one-line description */
    lt_stats_kind_t kind;
    lt_stats_unit_t unit;
    size_t n_labels;
    const char *labels[LT_STATS_MAX_LABELS];
    size_t max_series; /* label sets before `other`; 0 means LT_STATS_DEFAULT_SERIES */
} lt_stats_def_t;

/* A snapshot of one series. Only the fields of the family's kind are set. */
typedef struct {
    const char *const *values; /* n_labels label values */
    uint64_t counter;
    int64_t gauge;
    double gauge_double;
    uint64_t buckets[LT_STATS_BUCKETS]; /* observations per bucket (not cumulative) */
    uint64_t count;                     /* sum of buckets */
    uint64_t sum_us;                    /* sum of observations, microseconds */
} lt_stats_sample_t;

lt_stats_t *lt_stats_new(void);
void lt_stats_destroy(lt_stats_t **self_p);

/* Registers a family (strings are copied). Registering an identical
 * definition again yields the same family. Returns 0, or an LT_STATS_E*
 * with *family set to NULL. */
int lt_stats_register(lt_stats_t *self, const lt_stats_def_t *def,
                      lt_stats_family_t **family) LT_NODISCARD;

/* The series of family for values[0..n_labels) (NULL for a family without
 * labels), created on first use. Never NULL: over the bound, on a bad value
 * or out of memory it is the family's `other` series. Valid until the
 * registry is destroyed. */
lt_stats_series_t *lt_stats_series(lt_stats_family_t *family, const char *const *values);

/* Registers def in self and returns its series for values (NULL for a
 * family without labels): the common path of a module that keeps one
 * series of a family of its own. NULL when registration failed (logged). */
lt_stats_series_t *lt_stats_register_series(lt_stats_t *self, const lt_stats_def_t *def,
                                            const char *const *values);

/* Updates: constant time, no allocation. Using an update of another kind
 * is a programmer error (asserted). */
void lt_stats_inc(lt_stats_series_t *s);                      /* counter += 1 */
void lt_stats_add(lt_stats_series_t *s, uint64_t n);          /* counter += n */
void lt_stats_set(lt_stats_series_t *s, int64_t v);           /* int gauge = v */
void lt_stats_shift(lt_stats_series_t *s, int64_t delta);     /* int gauge += delta */
void lt_stats_set_double(lt_stats_series_t *s, double v);     /* double gauge = v */
void lt_stats_add_double(lt_stats_series_t *s, double delta); /* double gauge += delta */
void lt_stats_observe_us(lt_stats_series_t *s, uint64_t us);  /* histogram */

/* Reads one series. */
void lt_stats_read(const lt_stats_series_t *s, lt_stats_sample_t *out);

/* Upper bound in microseconds of histogram bucket i; UINT64_MAX for the
 * last (+Inf). An observation v falls in the first bucket with v <= bound. */
uint64_t lt_stats_bound_us(size_t i);
/* 1 if bound i is one of the 1-2-5 bounds (1 us, 2 us, 5 us, 10 us, ...,
 * 50 s) or +Inf: the buckets an exposition lists. */
int lt_stats_bound_major(size_t i);

/* Estimated q-quantile (0 <= q <= 1) in microseconds of a histogram
 * sample: linear within the bucket holding the rank, the highest finite
 * bound when that bucket is +Inf. NaN when empty or q is out of range. */
double lt_stats_quantile(const lt_stats_sample_t *s, double q);

/* Visits every family in registration order, and each family's series in
 * creation order (`other` last, once used). A callback returning non-zero
 * stops the walk and its value is returned. Callbacks run under the
 * registry's mutex: they must not register or look up series. */
typedef struct {
    int (*family)(void *arg, const lt_stats_def_t *def);
    int (*series)(void *arg, const lt_stats_def_t *def, const lt_stats_sample_t *sample);
} lt_stats_visitor_t;
int lt_stats_visit(lt_stats_t *self, const lt_stats_visitor_t *visitor, void *arg);

/* "seconds", "bytes" or "" for none. */
const char *lt_stats_unit_name(lt_stats_unit_t unit);
/* Words for the error codes. */
const char *lt_stats_strerror(int code);

#endif

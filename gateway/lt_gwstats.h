/* lt_gwstats: what the gateway's modules share to register statistics in
 * the registry of lt_gwctx (core/lt_stats.h).
 *
 * Each module registers its own families when it is created and keeps the
 * series handles it updates, so the hot paths never look anything up by
 * name. Two kinds of statistic are kept by several modules and defined
 * here once: the latency of store commits (publish groups, replica batches,
 * audit flushes), and counters labelled by error code (PROTOCOL.md 9),
 * whose series of the codes but ERR_NONE are created at 0 when the family
 * is, so that the first event of a code is a change a rate sees. */
#ifndef LT_GWSTATS_H
#define LT_GWSTATS_H

#include "lienthong.pb-c.h"
#include "lt_dir.h"
#include "lt_stats.h"

/* Error codes are small and dense (PROTOCOL.md 9); one slot per code. */
#define LT_GWSTATS_CODES 16

/* Registers def in stats and returns its series for values (NULL for a
 * family without labels); NULL when registration failed (logged). */
lt_stats_series_t *lt_gwstats_series(lt_stats_t *stats, const lt_stats_def_t *def,
                                     const char *const *values);

/* The store commit latency histogram's series for `what` ("publish",
 * "replica", "audit"); NULL when registration failed. */
lt_stats_series_t *lt_gwstats_commit(lt_stats_t *stats, const char *what);

/* The gauge lienthong_store_writable: 0 from a transaction of the store's
 * writer (a publish group, lt_publish; a group of replica batches,
 * lt_feed) that failed because the store cannot write (a full disk, an
 * I/O error: lt_store_cannot_write) until the next one of either commits,
 * then 1. Each of the two sets it to 1 when created, at the start, before
 * any transaction. NULL when registration failed. */
lt_stats_series_t *lt_gwstats_store_writable(lt_stats_t *stats);

/* A counter labelled by error code name, and optionally by one fixed label
 * before it (e.g. op="lookup"): every code's series but ERR_NONE's exists
 * from the start, ERR_NONE's from its first use. */
typedef struct {
    lt_stats_family_t *family;
    const char *fixed; /* the fixed label's value, or NULL when the family has only the code */
    lt_stats_series_t *by_code[LT_GWSTATS_CODES];
} lt_gwstats_codes_t;

/* Registers def (labels: [fixed label,] reason) for codes. Returns 0, or -1. */
int lt_gwstats_codes_init(lt_gwstats_codes_t *codes, lt_stats_t *stats, const lt_stats_def_t *def,
                          const char *fixed);
/* Counts one event with code. */
void lt_gwstats_codes_inc(lt_gwstats_codes_t *codes, Lienthong__ErrorCode code);
/* The count for code so far (0 when never counted). */
uint64_t lt_gwstats_codes_get(const lt_gwstats_codes_t *codes, Lienthong__ErrorCode code);
/* The sum over every code. */
uint64_t lt_gwstats_codes_sum(const lt_gwstats_codes_t *codes);

/* Creates at 0, in family (labelled by member alone), the series of every
 * member a policy of dir lets verify a dataset or view that member owns:
 * the callers whose verify claims it may count (NULL dir: none). */
void lt_gwstats_verifiers(lt_stats_family_t *family, const lt_dir_t *dir, const char *member);

/* Reads one series: counter or integer gauge value. */
uint64_t lt_gwstats_counter(const lt_stats_series_t *s);
int64_t lt_gwstats_gauge(const lt_stats_series_t *s);

/* Microseconds since start_us (lt_clock_mono_us), never negative. */
uint64_t lt_gwstats_since_us(int64_t start_us);

#endif

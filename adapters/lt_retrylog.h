/* lt_retrylog: the log of the Publish refusals the source adapter resends
 * as they are, after its back-off: those about the gateway's state or
 * this member's rights, not about what the Publish holds (ERR_UNAVAILABLE
 * while the gateway's store cannot write, ERR_INTERNAL, ERR_FORBIDDEN,
 * ...). Over hours of a full disk each dataset is refused every few
 * seconds; a line each would flood the log. So, through lt_tally (core),
 * the first refusal of a dataset's run is logged at WARN at once, later
 * ones are only counted and written at most once per interval as one line
 * per dataset with the count and the last cause, and when a Publish of
 * the dataset is accepted again one INFO line ends the run with its
 * refusals and length (docs/operations.md, "Store full or failing"). */
#ifndef LT_RETRYLOG_H
#define LT_RETRYLOG_H

#include <stddef.h>
#include <stdint.h>

/* Counts written at most once per this many ms by default: a minute. */
#define LT_RETRYLOG_INTERVAL_MS 60000

typedef struct _lt_retrylog_t lt_retrylog_t;

/* One dataset's run of refusals, kept by its owner (zeros: none). */
typedef struct {
    uint64_t refused; /* refusals since the run began */
    int64_t since_ms; /* when it began, on the log's clock */
} lt_retrylog_run_t;

/* A log for up to max_datasets datasets (beyond: counted together);
 * interval_ms 0 means LT_RETRYLOG_INTERVAL_MS. NULL when out of memory. */
lt_retrylog_t *lt_retrylog_new(int64_t interval_ms, size_t max_datasets);
/* Writes the counts not yet written, then frees. */
void lt_retrylog_destroy(lt_retrylog_t **self_p);

/* The monotonic clock in milliseconds (lt_clock_mono_ms unless set; tests
 * set their own). */
void lt_retrylog_set_clock(lt_retrylog_t *self, int64_t (*now_ms)(void *arg), void *arg);

/* A Publish of dataset (request_id) was refused with code (its name) and
 * message, and is to be resent: logged at once when it begins run, else
 * counted. */
void lt_retrylog_refused(lt_retrylog_t *self, lt_retrylog_run_t *run, const char *dataset,
                         uint64_t request_id, const char *code, const char *message);

/* A Publish of dataset was accepted: ends run, if any, with one line. */
void lt_retrylog_accepted(lt_retrylog_t *self, lt_retrylog_run_t *run, const char *dataset);

/* Writes the counts that are due: every turn of the adapter's loop. */
void lt_retrylog_tick(lt_retrylog_t *self);

#endif

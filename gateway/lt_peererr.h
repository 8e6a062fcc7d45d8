/* lt_peererr: the Errors other members send this gateway (PROTOCOL.md
 * 4.4), on its peer socket or on its links, counted per member and code
 * (lienthong_peer_errors_received) and logged through lt_tally, as
 * refusals are (lt_refuse, docs/operations.md "Refusals"): the first
 * Error of a (member, code) pair not yet tracked is logged at WARN at
 * once with its message; later ones are only counted, and lt_peererr_tick
 * writes one line per pair and interval with the count and the last
 * message. Beyond LT_REFUSE_MAX_SOURCES pairs, Errors go to one "others"
 * count. So however many Errors a member sends, the log grows by a
 * bounded number of lines per interval, and what a member writes in its
 * Errors reaches the log at most once per pair and interval. Errors are
 * not audited: they are what a peer said, not what this gateway did. */
#ifndef LT_PEERERR_H
#define LT_PEERERR_H

#include <stdint.h>

#include "lienthong.pb-c.h"
#include "lt_stats.h"

typedef struct _lt_peererr_t lt_peererr_t;

/* Registers lienthong_peer_errors_received in stats; interval_ms 0 means
 * LT_REFUSE_INTERVAL_MS. NULL when out of memory or when the statistics
 * cannot be registered. */
lt_peererr_t *lt_peererr_new(lt_stats_t *stats, int64_t interval_ms);
/* Writes the counts not yet reported, then frees. */
void lt_peererr_destroy(lt_peererr_t **self_p);

/* The monotonic clock in milliseconds (lt_clock_mono_ms unless set; tests
 * set their own). */
void lt_peererr_set_clock(lt_peererr_t *self, int64_t (*now_ms)(void *arg), void *arg);

/* Error e came from member; component tags its log lines ("peer" on the
 * peer socket, "link" on a link). Counted, and logged at once when its
 * pair is new. self NULL (tests, fuzz targets): only logged, each one. */
void lt_peererr_note(lt_peererr_t *self, const char *component, const char *member,
                     const Lienthong__Error *e);

/* Writes the counts that are due: every poll-loop turn. */
void lt_peererr_tick(lt_peererr_t *self);

/* Errors counted so far, every member and code. */
uint64_t lt_peererr_total(const lt_peererr_t *self);

#endif

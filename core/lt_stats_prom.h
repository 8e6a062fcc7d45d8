/* lt_stats_prom: the Prometheus text exposition (format 0.0.4) of an
 * lt_stats registry, for a metrics endpoint.
 *
 * Per family: `# HELP` and `# TYPE` lines, then one sample line per series;
 * the exposition name is the base name plus the unit suffix (`_seconds`,
 * `_bytes`) plus `_total` for counters. Histograms add `_bucket{le="..."}`
 * (cumulative, ending with le="+Inf"), `_sum` and `_count`, in seconds.
 * Label values escape \ " and newline; descriptions escape \ and newline. */
#ifndef LT_STATS_PROM_H
#define LT_STATS_PROM_H

#include <stddef.h>

#include "lt_err.h"
#include "lt_stats.h"

/* Appends the exposition to the growable buffer *buf of *len bytes in use
 * and *cap allocated (all three may start as NULL, 0, 0), keeping it
 * NUL-terminated. On failure nothing is appended (*len unchanged). The
 * caller frees *buf. Returns 0 or LT_STATS_ENOMEM. */
int lt_stats_prom_write(lt_stats_t *stats, char **buf, size_t *len, size_t *cap) LT_NODISCARD;

#endif

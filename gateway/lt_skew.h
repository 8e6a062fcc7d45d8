/* lt_skew: how far each peer member's clock is from this gateway's, as
 * estimated from the sent_at_ms of its Hellos (PROTOCOL.md 5.1), for
 * operators: the gauge lienthong_peer_clock_offset_seconds{member}, the
 * clock figure of `lienthong status` (8.3), and a warning when a member's
 * clock is far off (docs/operations.md "Clocks").
 *
 * An estimate is the peer's sent_at_ms minus this gateway's wall clock when
 * the Hello is handled: one-way, so it is low by the time the Hello took to
 * arrive (half a round trip on an idle network, more when it waited in a
 * queue). The offset kept per member is the highest of its last
 * LT_SKEW_WINDOW estimates (core/lt_limits.h says why); one past
 * LT_SKEW_PLAUSIBLE_MS is no clock and is ignored. A member's log lines
 * are limited in time (LT_SKEW_LOG_BURST, LT_SKEW_LOG_MS), whatever it
 * sends. Nothing depends
 * on it but the figures and the log: the protocol never trusts a peer's
 * clock. */
#ifndef LT_SKEW_H
#define LT_SKEW_H

#include <stdint.h>

#include "lt_dir.h"
#include "lt_stats.h"

typedef struct _lt_skew_t lt_skew_t;

/* Registers lienthong_peer_clock_offset in stats. NULL when out of memory
 * or when the family cannot be registered (logged). */
lt_skew_t *lt_skew_new(lt_stats_t *stats);
void lt_skew_destroy(lt_skew_t **self_p);

/* One estimate: sent_at_ms (a peer's clock, any 64-bit value off the wire)
 * minus now_ms (ours), saturated to the int64 range, never wrapped. */
int64_t lt_skew_estimate(uint64_t sent_at_ms, int64_t now_ms);

/* 1 when estimate (lt_skew_estimate) is within LT_SKEW_PLAUSIBLE_MS either
 * way, an offset some clock can show; 0 for a send time no clock shows. */
int lt_skew_plausible(int64_t estimate);

/* A Hello from member (not empty) with sent_at_ms, handled at now_ms
 * (lt_clock_now_ms) and mono_ms (lt_clock_mono_ms). sent_at_ms 0 (a
 * gateway that predates the field) gives no estimate, nor does one past
 * LT_SKEW_PLAUSIBLE_MS (counted, logged). Updates the member's gauge, and
 * logs when its offset goes past LT_SKEW_WARN_MS or comes back within
 * LT_SKEW_CLEAR_MS: per member LT_SKEW_LOG_BURST lines at most at once,
 * then one per LT_SKEW_LOG_MS, a change held back logged at its first
 * Hello after. A member past
 * LT_SKEW_MAX_PEERS is not tracked (a warning, once until entries are
 * dropped). */
void lt_skew_note(lt_skew_t *self, const char *member, uint64_t sent_at_ms, int64_t now_ms,
                  int64_t mono_ms);

/* At the adoption of dir: the entries of members it does not list as
 * active (removed, suspended, revoked: nothing more is heard from them)
 * are dropped, their slots free again, and their gauges set to 0, as a
 * series cannot be removed (docs/operations.md "Clocks"). */
void lt_skew_dir_changed(lt_skew_t *self, const lt_dir_t *dir);

/* 1 and *offset_ms, member's clock minus ours, when one of its Hellos
 * carried sent_at_ms; 0 and *offset_ms 0 otherwise. */
int lt_skew_get(const lt_skew_t *self, const char *member, int64_t *offset_ms);

#endif

/* lt_vmiss: the owner's budget of verify no-matches (PROTOCOL.md 7.6).
 *
 * A caller that may only check a field yes/no could still learn its value
 * by guessing: one claim per request, tens of thousands of requests a
 * second. So each caller member may get at most LT_VERIFY_MISS_MAX
 * CLAIM_NO_MATCH answers on one (key, field) in any LT_VERIFY_MISS_WINDOW_S
 * seconds; past them, every claim of its on the pair is answered
 * CLAIM_NOT_ALLOWED (were a match still answered, the refusal itself would
 * say "no match") until the window after the one they were counted in has
 * ended: one to two windows. A match does not count.
 *
 * The count must never be lost while it runs: a table of pairs that gives
 * up an entry for a new pair lets a caller push its target out with claims
 * on other records it knows and start again from zero. So each caller has
 * a count-min sketch of its own, made at its first no-match: LT_VERIFY_
 * MISS_DEPTH rows of LT_VERIFY_MISS_WIDTH 4-bit counters, for the window
 * of the clock running now and for the one before (rotated by the clock,
 * windows being fixed spans of it). A pair's counter in each row is picked
 * by bits of a 64-bit SipHash of key and field under a key drawn at
 * creation, so a caller cannot choose pairs that share its target's
 * counters. A no-match raises the pair's counters of the current window
 * that stand at their least to that least plus one (conservative update),
 * and the pair's estimate is the least over rows of current plus previous:
 * every counter of a pair is at least the pair's own no-matches in its
 * window whatever other pairs did, so the estimate never falls below the
 * pair's no-matches of the last window or two, and no claim of another
 * pair can lower it. The price is overcounting: other pairs sharing a
 * counter in every row make a pair look spent early. With 100,000
 * no-matches of one caller in each of the two windows, a counter holds 8
 * or more with probability under 2e-4 (a Poisson tail of mean 1.53), so a
 * claim on a pair of its own without no-matches is refused wrongly with
 * probability under 7e-12 (all 3 rows at once). That bound is the plain
 * sketch's; conservative update keeps counters lower still (simulated, no
 * counter reached 5 at 200,000 no-matches a window, none reached 8 at
 * 500,000), but at 1,000,000 no-matches a window most counters reach 8
 * and the caller is refused nearly everywhere: the sketch's ceiling, which
 * docs/operations.md gives. A caller flooding its own
 * sketch with guesses fills its counters and is refused on every pair: only
 * the caller whose guesses filled it is hurt.
 * Memory: WIDTH x DEPTH / 2 bytes per window, 384 KiB per caller that had
 * a no-match, callers being the members the directory lists. */
#ifndef LT_VMISS_H
#define LT_VMISS_H

#include <stddef.h>
#include <stdint.h>

typedef struct _lt_vmiss_t lt_vmiss_t;

typedef struct {
    size_t width; /* counters per row, a power of two from 2 */
    size_t depth; /* rows, 1 or more, depth x log2(width) at most 64 */
    uint32_t max; /* no-matches per (key, field) and window, 1 to 15 */
    int64_t window_ms;
} lt_vmiss_limits_t;

/* With limits (NULL: lt_limits.h's LT_VERIFY_MISS_*); NULL when out of
 * memory or the limits are not as lt_vmiss_limits_t says. */
lt_vmiss_t *lt_vmiss_new(const lt_vmiss_limits_t *limits);
void lt_vmiss_destroy(lt_vmiss_t **self_p);
/* The clock of the windows, by default the monotonic one (lt_clock.h);
 * tests set their own. */
void lt_vmiss_set_clock(lt_vmiss_t *self, int64_t (*now_ms)(void *arg), void *arg);

/* Whether caller's claim on field of key, which matched (1) or not (0),
 * may be answered so: 1 (a no-match is counted), 0 when it is to be
 * answered CLAIM_NOT_ALLOWED (the pair's estimate has reached the budget;
 * the first such refusal of a window is logged as a warning), -1 out of
 * memory (neither: not to be answered). */
int lt_vmiss_claim(lt_vmiss_t *self, const char *caller, const char *key, const char *field,
                   int matched);
/* Claims refused so far, of all callers. */
uint64_t lt_vmiss_refused(const lt_vmiss_t *self);

#endif

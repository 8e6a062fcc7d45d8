/* lt_vmiss: the owner's budget of verify no-matches (PROTOCOL.md 7.6).
 *
 * A caller that may only check a field yes/no could still learn its value
 * by guessing: one claim per request, tens of thousands of requests a
 * second. So each caller member may get at most LT_VERIFY_MISS_MAX
 * CLAIM_NO_MATCH answers on one (key, field) in LT_VERIFY_MISS_WINDOW_S
 * seconds from the first of them; past that, every claim of its on the pair
 * is answered CLAIM_NOT_ALLOWED until the window ends, a match too (were a
 * match still answered, the refusal itself would say "no match"). A match
 * does not count.
 *
 * Each caller has a table of its own of LT_VERIFY_MISS_KEYS slots, filled
 * on its first no-match: a 64-bit SipHash of key and field under a key drawn
 * at creation (a caller cannot pick pairs that land in one run of slots),
 * searched by linear probing over at most LT_VERIFY_MISS_PROBE slots; an
 * entry whose window ended is free again. When a new pair finds no free
 * slot there, it takes over the entry with the fewest no-matches below the
 * budget; only when every slot it may use holds a spent pair are the
 * caller's claims on it refused too, whatever they would be: only the
 * caller whose guesses filled its table is hurt.
 * Memory: 24 bytes a slot, 96 KiB per caller that had a no-match, callers
 * being the members the directory lists. */
#ifndef LT_VMISS_H
#define LT_VMISS_H

#include <stddef.h>
#include <stdint.h>

typedef struct _lt_vmiss_t lt_vmiss_t;

typedef struct {
    size_t keys;  /* slots per caller, a power of two */
    size_t probe; /* slots a search reads at most */
    uint32_t max; /* no-matches per (key, field) and window */
    int64_t window_ms;
} lt_vmiss_limits_t;

/* With limits (NULL: lt_limits.h's LT_VERIFY_MISS_*); NULL when out of
 * memory or limits->keys is not a power of two. */
lt_vmiss_t *lt_vmiss_new(const lt_vmiss_limits_t *limits);
void lt_vmiss_destroy(lt_vmiss_t **self_p);
/* The clock of the windows, by default the monotonic one (lt_clock.h);
 * tests set their own. */
void lt_vmiss_set_clock(lt_vmiss_t *self, int64_t (*now_ms)(void *arg), void *arg);

/* Whether caller's claim on field of key, which matched (1) or not (0),
 * may be answered so: 1 (a no-match is counted), 0 when it is to be
 * answered CLAIM_NOT_ALLOWED (the pair's budget is spent, or every slot
 * it may use in the caller's table holds a spent pair; the first such refusal of a window is logged
 * as a warning), -1 out of memory (neither: not to be answered). */
int lt_vmiss_claim(lt_vmiss_t *self, const char *caller, const char *key, const char *field,
                   int matched);
/* Claims refused so far, of all callers. */
uint64_t lt_vmiss_refused(const lt_vmiss_t *self);

#endif

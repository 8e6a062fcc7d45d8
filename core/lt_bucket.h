/* lt_bucket: a token bucket on a monotonic clock in milliseconds, the one
 * rate rule of the gateway's limiters: a member's clock lines (lt_skew),
 * the Error replies to a sender (lt_reject). It holds at most burst
 * tokens and earns one per every_ms; a take spends one, or is refused
 * when none is left. The first take finds it full. Integer arithmetic
 * only: the part of an interval already waited is kept (in at_ms), never
 * rounded away, and a full bucket earns nothing more meanwhile. A clock
 * that went back (a caller's error, or a test's) earns nothing: the wait
 * counts again from there, the tokens held kept.
 *
 * A plain value, not an opaque class: owners embed one in each record of
 * their own per-member or per-sender tables (arrays they grow, move with
 * memmove and overwrite), so a bucket needs no allocation, no destroy,
 * and may be copied. Its fields are lt_bucket.c's alone: callers set them
 * with lt_bucket_init and read nothing but lt_bucket_take's answer. Not
 * thread-safe: the owner's lock, if any, covers it. */
#ifndef LT_BUCKET_H
#define LT_BUCKET_H

#include <stdint.h>

#include "lt_err.h"

typedef struct {
    int64_t every_ms; /* one token earned per this many ms */
    int64_t at_ms;    /* when the last token was earned (the caller's clock) */
    int burst;        /* tokens held at most */
    int tokens;       /* tokens held now */
    int primed;       /* at_ms and tokens are set: the first take set them */
} lt_bucket_t;

/* Sets b up to hold burst tokens (at least 1), one more earned per
 * every_ms (at least 1), full at its first take. */
void lt_bucket_init(lt_bucket_t *b, int burst, int64_t every_ms);

/* 1 when b holds a token at now_ms (a monotonic clock in ms), which is
 * spent; 0 when it is empty, b then unchanged but for what it earned. */
int lt_bucket_take(lt_bucket_t *b, int64_t now_ms) LT_NODISCARD;

#endif

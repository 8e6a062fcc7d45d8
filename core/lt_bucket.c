/* lt_bucket: a token bucket in integer milliseconds (see lt_bucket.h). */
#include "lt_bucket.h"

#include <assert.h>

void lt_bucket_init(lt_bucket_t *b, int burst, int64_t every_ms)
{
    assert(b && burst >= 1 && every_ms >= 1);
    *b = (lt_bucket_t){.every_ms = every_ms, .burst = burst};
}

/* Adds to b the tokens earned from its at_ms to now_ms. */
static void s_refill(lt_bucket_t *b, int64_t now_ms)
{
    if (!b->primed || now_ms < b->at_ms) {
        b->tokens = b->primed ? b->tokens : b->burst;
        b->at_ms = now_ms; /* a clock that went back earns nothing */
        b->primed = 1;
    }
    int64_t waited;
    if (__builtin_sub_overflow(now_ms, b->at_ms, &waited))
        waited = INT64_MAX; /* ages: it fills */
    int64_t earned = waited / b->every_ms;
    if (earned >= b->burst - b->tokens) {
        b->tokens = b->burst;
        b->at_ms = now_ms; /* full: nothing more to earn meanwhile */
    } else if (earned > 0) {
        b->tokens += (int)earned;
        b->at_ms += earned * b->every_ms; /* the part of an interval waited is kept */
    }
}

int lt_bucket_take(lt_bucket_t *b, int64_t now_ms)
{
    s_refill(b, now_ms);
    if (b->tokens == 0)
        return 0;
    b->tokens--;
    return 1;
}

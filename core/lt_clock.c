/* lt_clock: wall and monotonic clocks in milliseconds, and the monotonic
 * clock in microseconds for latencies (see lt_clock.h). */
#include "lt_clock.h"

#include <time.h>

/* Microseconds of clock id. */
static int64_t s_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t lt_clock_now_ms(void)
{
    return s_us(CLOCK_REALTIME) / 1000;
}

int64_t lt_clock_mono_ms(void)
{
    return s_us(CLOCK_MONOTONIC) / 1000;
}

int64_t lt_clock_mono_us(void)
{
    return s_us(CLOCK_MONOTONIC);
}

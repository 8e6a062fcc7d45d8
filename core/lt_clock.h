/* lt_clock: the two clocks every module uses: wall time for what goes on
 * the wire or into logs (deadlines, timestamps), and a monotonic clock for
 * timers and intervals, which no clock adjustment can move backwards. */
#ifndef LT_CLOCK_H
#define LT_CLOCK_H

#include <stdint.h>

/* Unix time in milliseconds (wall clock). */
int64_t lt_clock_now_ms(void);
/* Milliseconds of a monotonic clock with an arbitrary origin. */
int64_t lt_clock_mono_ms(void);
/* Microseconds of the same monotonic clock: for latencies. */
int64_t lt_clock_mono_us(void);

#endif

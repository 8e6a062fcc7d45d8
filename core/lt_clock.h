/* lt_clock: the two clocks every module uses: wall time for what goes on
 * the wire or into logs (deadlines, timestamps), and a monotonic clock for
 * timers and intervals, which no clock adjustment can move backwards. */
#ifndef LT_CLOCK_H
#define LT_CLOCK_H

#include <stddef.h>
#include <stdint.h>

/* Unix time in milliseconds (wall clock; in builds with LT_TEST_HOOKS,
 * moved by LT_TEST_CLOCK_OFFSET_MS ms when set: see lt_clock.c). */
int64_t lt_clock_now_ms(void);
/* Milliseconds of a monotonic clock with an arbitrary origin. */
int64_t lt_clock_mono_ms(void);
/* Microseconds of the same monotonic clock: for latencies. */
int64_t lt_clock_mono_us(void);

/* Unix seconds t as "2026-01-31T00:00:00Z" in buf, or as "t (unix seconds)"
 * when the calendar cannot hold it (gmtime_r fails: a time from a peer or a
 * file may be any 64-bit value). Returns buf, which LT_CLOCK_UTC_LEN bytes
 * hold in full. */
#define LT_CLOCK_UTC_LEN 40
const char *lt_clock_utc(int64_t t, char *buf, size_t len);
/* The same as "2026-01-31 00:00:00 UTC", for people reading a listing. */
const char *lt_clock_utc_spaced(int64_t t, char *buf, size_t len);

#endif

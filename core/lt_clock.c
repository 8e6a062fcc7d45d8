/* lt_clock: wall and monotonic clocks in milliseconds, the monotonic
 * clock in microseconds for latencies, and unix seconds as text (see
 * lt_clock.h). */
#include "lt_clock.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Microseconds of clock id. */
static int64_t s_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Test hook of builds made with -DLT_TEST_HOOKS=ON (scripts/lib.sh; never
 * the package nor a build by hand): LT_TEST_CLOCK_OFFSET_MS=N moves this
 * process's wall clock by N ms (negative: behind), so that an integration
 * test runs two gateways whose clocks disagree (tests/integration/
 * test_query.c). Read once, before main and its threads, from the
 * environment the process was started with: a test sets it for one child
 * only, and the benchmarks, built with the hooks, must not pay a getenv at
 * every reading of the clock (several per request). */
#ifdef LT_TEST_HOOKS
static int64_t s_offset_ms;

__attribute__((constructor)) static void s_offset_read(void)
{
    const char *v = getenv("LT_TEST_CLOCK_OFFSET_MS");
    s_offset_ms = v ? strtoll(v, NULL, 10) : 0;
}
#define S_TEST_OFFSET_MS s_offset_ms
#else
#define S_TEST_OFFSET_MS 0
#endif

int64_t lt_clock_now_ms(void)
{
    return s_us(CLOCK_REALTIME) / 1000 + S_TEST_OFFSET_MS;
}

int64_t lt_clock_mono_ms(void)
{
    return s_us(CLOCK_MONOTONIC) / 1000;
}

int64_t lt_clock_mono_us(void)
{
    return s_us(CLOCK_MONOTONIC);
}

static const char *s_utc(int64_t t, int spaced, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    /* On failure tm is left unset: never handed to strftime. */
    if (!gmtime_r(&tt, &tm) ||
        strftime(buf, len, spaced ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, len, "%" PRId64 " (unix seconds)", t);
    return buf;
}

const char *lt_clock_utc(int64_t t, char *buf, size_t len)
{
    return s_utc(t, 0, buf, len);
}

const char *lt_clock_utc_spaced(int64_t t, char *buf, size_t len)
{
    return s_utc(t, 1, buf, len);
}

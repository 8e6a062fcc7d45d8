/* lt_notify: sd_notify(3) messages from libsystemd, rate-limited watchdog. */
#include "lt_notify.h"
#include "lt_clock.h"
#include "lt_file.h"
#include "lt_log.h"

#include <stdint.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

/* Watchdog interval in ms: -1 not yet asked, 0 disabled. */
static int64_t s_watchdog_ms = -1;
static int64_t s_watchdog_at;
/* Not serving yet (start) or re-reading (reload): the manager's timeout runs. */
static int s_busy = 1;
static int64_t s_extended_at;

static void s_send(const char *state)
{
    int rc = sd_notify(0, state);
    /* 0 means no $NOTIFY_SOCKET: not under systemd, nothing to say. */
    if (rc < 0)
        lt_debug("notify", "cannot notify the service manager: %d", rc);
}

void lt_notify_ready(const char *status)
{
    char msg[512];
    snprintf(msg, sizeof msg, "READY=1%s%s", status ? "\nSTATUS=" : "", status ? status : "");
    s_send(msg);
    s_busy = 0;
}

void lt_notify_reloading(void)
{
    s_send("RELOADING=1");
    s_busy = 1;
    s_extended_at = 0;
}

void lt_notify_stopping(void)
{
    s_send("STOPPING=1");
}

void lt_notify_status(const char *text)
{
    char msg[512];
    snprintf(msg, sizeof msg, "STATUS=%s", text);
    s_send(msg);
}

void lt_notify_watchdog(void)
{
    if (s_watchdog_ms < 0) {
        uint64_t usec = 0;
        s_watchdog_ms = sd_watchdog_enabled(0, &usec) > 0 ? (int64_t)(usec / 1000) : 0;
    }
    if (s_watchdog_ms == 0)
        return;
    int64_t now = lt_clock_mono_ms();
    /* A quarter of the interval: one late turn of a busy loop is no restart. */
    if (s_watchdog_at && now - s_watchdog_at < s_watchdog_ms / 4)
        return;
    s_watchdog_at = now;
    s_send("WATCHDOG=1");
}

void lt_notify_progress(void)
{
    lt_notify_watchdog();
    if (!s_busy)
        return;
    int64_t now = lt_clock_mono_ms();
    if (s_extended_at && now - s_extended_at < LT_NOTIFY_EXTEND_EVERY_MS)
        return;
    s_extended_at = now;
    char msg[64];
    snprintf(msg, sizeof msg, "EXTEND_TIMEOUT_USEC=%lld", (long long)LT_NOTIFY_EXTEND_MS * 1000);
    s_send(msg);
}

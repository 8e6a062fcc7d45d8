/* lt_notify: the systemd service protocol for Type=notify units (see
 * docs/operations.md, "Running under systemd"): READY once serving,
 * RELOADING while re-reading on SIGHUP, STOPPING while draining, a
 * one-line STATUS, and WATCHDOG keep-alives when the unit sets WatchdogSec=.
 * Every function is a no-op when $NOTIFY_SOCKET is not set (started by hand,
 * by a test, or by another supervisor). */
#ifndef LT_NOTIFY_H
#define LT_NOTIFY_H

/* READY=1, with STATUS=status when not NULL. */
void lt_notify_ready(const char *status);
/* RELOADING=1; call lt_notify_ready when done. */
void lt_notify_reloading(void);
/* STOPPING=1. */
void lt_notify_stopping(void);
/* STATUS=text, shown by `systemctl status`. */
void lt_notify_status(const char *text);
/* WATCHDOG=1 when the watchdog is enabled and a quarter of its interval has
 * passed since the last one; cheap enough to call on every loop turn. */
void lt_notify_watchdog(void);
/* A long task that makes progress on the loop's thread (a view rebuilt
 * from a large dataset): the keep-alive of lt_notify_watchdog, and, until
 * the first READY and while reloading, EXTEND_TIMEOUT_USEC at most every
 * LT_NOTIFY_EXTEND_EVERY_MS for LT_NOTIFY_EXTEND_MS more, so that neither the
 * watchdog nor the start or reload timeout kills a gateway that is working.
 * Cheap enough to call for every chunk of records. */
#define LT_NOTIFY_EXTEND_MS       30000
#define LT_NOTIFY_EXTEND_EVERY_MS 10000
void lt_notify_progress(void);

#endif

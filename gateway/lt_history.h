/* lt_history: what the gateway durably knows of the histories of the
 * streams it owns (PROTOCOL.md 6.9).
 *
 * Each stream's log has a history id (16 random bytes in the store) that
 * changes whenever the log could have been rewritten. Beside the store, a
 * small high-water file (data_dir/history) records, for each owned stream,
 * its history id and the last seq the gateway has seen durable; it is
 * rewritten (atomically, fsynced) at most once a second while streams grow
 * and at shutdown. At start a store whose stream is behind that file, or on
 * another history, was restored or rolled back: the stream gets a new
 * history, so that no consumer can resume on the old one. `lienthong
 * restore` gives every owned stream a new history itself, whatever the
 * file says. A stream is "owned" here when the configuration does not
 * replicate it; the shadow rows of resynchronising replicas are neither. */
#ifndef LT_HISTORY_H
#define LT_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "lt_audit.h"
#include "lt_err.h"
#include "lt_gwcfg.h"
#include "lt_store.h"

/* Name prefix of the shadow row a replica is resynchronised into. */
#define LT_HISTORY_SHADOW_PREFIX "~resync:"
/* 32 hex digits and a NUL. */
#define LT_HISTORY_HEX 33

/* Writes the history id as 32 hex digits ("none" when absent); returns out. */
const char *lt_history_hex(const uint8_t *id, int has, char out[LT_HISTORY_HEX]);

/* One line of the high-water file, "STREAM HISTORY SEQ" without its
 * newline: the stream id, 32 hex digits and plain decimal digits, one
 * space between. lt_history_parse_line returns 0 with all three; 1 when
 * only name could be read; -1 when not even that. lt_history_format_line
 * writes what parse reads back; returns its length, or -1 when it does
 * not fit in len. */
int lt_history_parse_line(const char *line, char name[LT_STREAM_ID_MAX],
                          uint8_t history[LT_HISTORY_BYTES], uint64_t *seq) LT_NODISCARD;
int lt_history_format_line(char *buf, size_t len, const char *name,
                           const uint8_t history[LT_HISTORY_BYTES], uint64_t seq) LT_NODISCARD;

/* 1 when the store row name is a stream this gateway owns: one of its
 * datasets or views, not a replica (subscribed or no longer), not a shadow
 * row. */
int lt_history_owned(const lt_gwcfg_t *cfg, const char *name);

/* At start: compares the store with the high-water file and gives a new
 * history to every owned stream that is behind it or on another history
 * (logged at warning level, audited when audit is not NULL), then rewrites
 * the file. Returns 0, or -1 with err (store failure, unreadable file). */
int lt_history_check(lt_store_t *store, const lt_gwcfg_t *cfg, lt_audit_t *audit, char *err,
                     size_t errlen) LT_NODISCARD;

/* Rewrites the high-water file from the store. Returns 0, or -1 with err. */
int lt_history_save(lt_store_t *store, const lt_gwcfg_t *cfg, char *err,
                    size_t errlen) LT_NODISCARD;

/* Gives every owned stream of store a new history and calls report (when
 * not NULL) for each; in one transaction. Returns the number of streams,
 * or -1 with err. For `lienthong restore`. */
typedef void (*lt_history_report_fn)(void *arg, const char *stream, uint64_t last_seq,
                                     const char *old_hex, const char *new_hex);
int lt_history_rotate(lt_store_t *store, const lt_gwcfg_t *cfg, lt_history_report_fn report,
                      void *arg, char *err, size_t errlen) LT_NODISCARD;

#endif

/* lt_log: one event per line on stderr, for journald, log shippers and
 * operators.
 *
 * Every line carries the program ("lienthong-gateway", "lienthong-source"),
 * the member and, for adapters, the dataset or stream, so that lines of
 * several processes can be told apart once collected. Two formats:
 *
 *   text  TIME LEVEL PROGRAM member=M [dataset=D] COMPONENT: message
 *   json  {"time":..,"level":..,"program":..,"member":..,"dataset":..,
 *          "component":..,"message":..}            (one object per line)
 *
 * When stderr is the systemd journal ($JOURNAL_STREAM names it), each line
 * starts with its syslog priority "<N>" (debug 7, info 6, warn 4, error 3),
 * which journald strips and records, and text lines carry no timestamp of
 * their own. Levels (docs/operations.md, "Monitoring"): debug for routine
 * traffic, info for one line per state change, warn for what an operator
 * should look at, error for what stops a function. Never pass secrets or
 * record contents to these functions. */
#ifndef LT_LOG_H
#define LT_LOG_H

#include <stdarg.h>

#include "lt_err.h"

typedef enum { LT_LOG_DEBUG = 0, LT_LOG_INFO, LT_LOG_WARN, LT_LOG_ERROR } lt_log_level_t;
typedef enum { LT_LOG_TEXT = 0, LT_LOG_JSON } lt_log_format_t;

/* Tags of every line; NULL or "" clears one. Copied (truncated to 127). */
void lt_log_set_program(const char *program);
void lt_log_set_member(const char *member);
void lt_log_set_dataset(const char *dataset);

void lt_log_set_level(lt_log_level_t level);
void lt_log_set_format(lt_log_format_t format);
/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int lt_log_parse_level(const char *name, lt_log_level_t *level) LT_NODISCARD;
/* Parses "text", "json"; returns -1 if unknown. */
int lt_log_parse_format(const char *name, lt_log_format_t *format) LT_NODISCARD;

/* 1 when stderr is the stream $JOURNAL_STREAM ("DEVICE:INODE") names. */
int lt_log_to_journal(void);

void lt_log(lt_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* s for a terminal or a text line, into out[cap] (cap > 0): every C0
 * control and DEL as \xNN (ESC as \x1b, a newline as \x0a), a C1 control
 * as its two UTF-8 bytes (\xc2\x9b),
 * a backslash as \\ (so that the text "\x1b" cannot read as an ESC),
 * each byte that is not UTF-8 as '?', cut at the end of out if need be,
 * before the first escape that does not fit whole (a character cut there
 * shows as '?'; cap = 4 * strlen(s) + 1 never cuts). For text a peer or a request chose, which
 * could otherwise send a terminal its escape sequences or start a line of its own. Returns out. */
char *lt_log_escape(char *out, size_t cap, const char *s);

#define lt_debug(c, ...) lt_log(LT_LOG_DEBUG, c, __VA_ARGS__)
#define lt_info(c, ...)  lt_log(LT_LOG_INFO, c, __VA_ARGS__)
#define lt_warn(c, ...)  lt_log(LT_LOG_WARN, c, __VA_ARGS__)
#define lt_error(c, ...) lt_log(LT_LOG_ERROR, c, __VA_ARGS__)

#endif

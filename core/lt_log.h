/* lt_log: one event per line, to stderr, for journald and operators.
 *
 * Format: "TIME LEVEL component: message key=value ..." on a single line.
 * Never pass secrets or record contents to these functions. */
#ifndef LT_LOG_H
#define LT_LOG_H

#include <stdarg.h>

typedef enum { LT_LOG_DEBUG = 0, LT_LOG_INFO, LT_LOG_WARN, LT_LOG_ERROR } lt_log_level_t;

/* Name of this process in every line, e.g. the member id; copied. */
void lt_log_set_ident(const char *ident);
void lt_log_set_level(lt_log_level_t level);
/* Parses "debug", "info", "warn", "error"; returns -1 if unknown. */
int lt_log_parse_level(const char *name, lt_log_level_t *level);

void lt_log(lt_log_level_t level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define lt_debug(c, ...) lt_log(LT_LOG_DEBUG, c, __VA_ARGS__)
#define lt_info(c, ...) lt_log(LT_LOG_INFO, c, __VA_ARGS__)
#define lt_warn(c, ...) lt_log(LT_LOG_WARN, c, __VA_ARGS__)
#define lt_error(c, ...) lt_log(LT_LOG_ERROR, c, __VA_ARGS__)

#endif

/* lt_check: the report of a `--check` (gateway and adapters): one line per
 * check, "ok", "warning" or "error", each problem followed by a "fix:" line
 * that says what to do. Counts errors and warnings. */
#ifndef LT_CHECK_H
#define LT_CHECK_H

#include <stdio.h>

typedef struct {
    FILE *out;
    int errors;
    int warnings;
} lt_check_t;

void lt_check_ok(lt_check_t *c, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* fix may be NULL when the detail already says what to do. */
void lt_check_warn(lt_check_t *c, const char *what, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void lt_check_error(lt_check_t *c, const char *what, const char *fix, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The last line: "FILE: configuration is valid" (returns 0) or "FILE: N
 * problem(s) to fix before starting the PROGRAM" (returns 1). */
int lt_check_summary(const lt_check_t *c, const char *file, const char *program);

#endif

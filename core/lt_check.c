/* lt_check: one line per check, problems with their fix. */
#include "lt_check.h"

#include <stdarg.h>

__attribute__((format(printf, 5, 0))) static void s_line(lt_check_t *c, const char *tag,
                                                         const char *what, const char *fix,
                                                         const char *fmt, va_list ap)
{
    fprintf(c->out, "%-8s %s: ", tag, what);
    vfprintf(c->out, fmt, ap);
    fputc('\n', c->out);
    if (fix && fix[0])
        fprintf(c->out, "         fix: %s\n", fix);
}

void lt_check_ok(lt_check_t *c, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    s_line(c, "ok", what, NULL, fmt, ap);
    va_end(ap);
}

void lt_check_warn(lt_check_t *c, const char *what, const char *fix, const char *fmt, ...)
{
    va_list ap;
    c->warnings++;
    va_start(ap, fmt);
    s_line(c, "warning", what, fix, fmt, ap);
    va_end(ap);
}

void lt_check_error(lt_check_t *c, const char *what, const char *fix, const char *fmt, ...)
{
    va_list ap;
    c->errors++;
    va_start(ap, fmt);
    s_line(c, "error", what, fix, fmt, ap);
    va_end(ap);
}

int lt_check_summary(const lt_check_t *c, const char *file, const char *program)
{
    if (c->errors == 0) {
        fprintf(c->out, "%s: configuration is valid\n", file);
        return 0;
    }
    fprintf(c->out, "%s: %d problem%s to fix before starting the %s\n", file, c->errors,
            c->errors == 1 ? "" : "s", program);
    return 1;
}

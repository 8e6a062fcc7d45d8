/* lt_err: the failure message in the caller's buffer (see lt_err.h). */
#include "lt_err.h"

#include <stdio.h>

int lt_err_vset(char *err, size_t errlen, const char *fmt, va_list ap)
{
    /* vsnprintf may write into errlen bytes: with none, or no buffer, the
     * caller asked for no message. */
    if (err && errlen > 0)
        vsnprintf(err, errlen, fmt, ap);
    return -1;
}

int lt_err_set(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    lt_err_vset(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* lt_err: how a function says why it failed. Functions that can fail take
 * a caller's buffer (char *err, size_t errlen) and write one line into it;
 * lt_err_set is that write, shared by every module instead of a private
 * copy in each. */
#ifndef LT_ERR_H
#define LT_ERR_H

#include <stdarg.h>
#include <stddef.h>

/* LT_NODISCARD marks a function whose result the caller must look at: an
 * error code, a verdict of a check or a verification, or an object that is
 * NULL on failure. With -Werror a call that drops it, a failure nobody
 * handles or a check whose outcome is thrown away, fails the build. One
 * project word rather than the compiler's spelling at every declaration,
 * so that it reads as part of the declaration and changes in one place
 * (C23's [[nodiscard]] once the project builds as C23). keys/lt_keys.h
 * holds the same definition: keys includes nothing of ours. */
#ifndef LT_NODISCARD
#define LT_NODISCARD __attribute__((warn_unused_result))
#endif

/* Formats the message into err[errlen], cut to fit and always
 * terminated; writes nothing when err is NULL or errlen is 0. Returns -1,
 * so that a failing function can end with `return lt_err_set(...)`. */
int lt_err_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The same with a va_list, for helpers of their own that return something
 * else than -1 (an error code). */
int lt_err_vset(char *err, size_t errlen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif

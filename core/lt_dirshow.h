/* lt_dirshow: a directory printed for an operator to read (`lienthong
 * directory show`), and the checks of its contents that need no authority
 * key.
 *
 * What is printed may never have been verified: the printer reads nothing
 * the decoder did not give it, and a key of the wrong length is shown as
 * "(invalid: N bytes)" rather than encoded. */
#ifndef LT_DIRSHOW_H
#define LT_DIRSHOW_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "directory.pb-c.h"
#include "lt_err.h"

/* Unix seconds as "YYYY-MM-DD HH:MM:SS UTC" into buf; returns buf. */
const char *lt_dirshow_time(int64_t t, char *buf, size_t len);

/* Prints d to out; checked says how far it was checked, e.g. "signature
 * verified". Returns 0, or -1 when out could not be written. */
int lt_dirshow_print(FILE *out, const Lienthong__Directory *d, const char *checked) LT_NODISCARD;

/* The checks lt_dir_open makes of a directory's contents, without its
 * signature or age: the body bytes (len of them, decoded as d) hold valid
 * UTF-8 (PROTOCOL.md 4.5) and lt_dir_validate passes. Returns 0, or -1
 * with what is wrong in err, prefixed by the item ("members[0]: ..."). */
int lt_dirshow_check(const uint8_t *body, size_t len, const Lienthong__Directory *d, char *err,
                     size_t errlen) LT_NODISCARD;

#endif

/* lt_norm: claim normaliser built on libunistring (u8_casefold with NFC). */
#include "lt_norm.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unicase.h>
#include <uninorm.h>
#include <unistr.h>

/* Collapses runs of ASCII and Unicode white space into one space and trims. */
static char *s_spaces(const uint8_t *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    int pending = 0;
    for (size_t i = 0; i < n;) {
        ucs4_t uc;
        int len = u8_mbtouc(&uc, s + i, n - i);
        /* U+00A0 no-break space and U+3000 ideographic space count too. */
        int space = uc == ' ' || (uc >= 0x09 && uc <= 0x0d) || uc == 0xa0 || uc == 0x3000 ||
                    (uc >= 0x2000 && uc <= 0x200a);
        if (space) {
            pending = o > 0;
        } else {
            if (pending)
                out[o++] = ' ';
            pending = 0;
            memcpy(out + o, s + i, (size_t)len);
            o += (size_t)len;
        }
        i += (size_t)len;
    }
    out[o] = 0;
    return out;
}

char *lt_norm_text(const char *in)
{
    size_t n = strlen(in);
    if (u8_check((const uint8_t *)in, n) != NULL)
        return NULL;
    size_t folded_len = 0;
    uint8_t *folded = u8_casefold((const uint8_t *)in, n, NULL, UNINORM_NFC, NULL, &folded_len);
    if (!folded)
        return NULL;
    char *out = s_spaces(folded, folded_len);
    free(folded);
    return out;
}

static int s_days_in(long y, long m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

int lt_norm_date(const char *in, long *ymd)
{
    while (isspace((unsigned char)*in))
        in++;
    char digits[9];
    size_t d = 0;
    const char *p = in;
    for (; *p && !isspace((unsigned char)*p); p++) {
        if (isdigit((unsigned char)*p) && d < 8)
            digits[d++] = *p;
        else if (!(*p == '-' && (p - in == 4 || p - in == 7)))
            return -1;
    }
    while (isspace((unsigned char)*p))
        p++;
    size_t raw = strcspn(in, " \t\r\n");
    if (*p || d != 8 || (raw != 8 && raw != 10) || (raw == 10 && (in[4] != '-' || in[7] != '-')))
        return -1;
    digits[8] = 0;
    long v = strtol(digits, NULL, 10), y = v / 10000, m = v / 100 % 100, day = v % 100;
    if (y < 1 || m < 1 || m > 12 || day < 1 || day > s_days_in(y, m))
        return -1;
    *ymd = v;
    return 0;
}

int lt_norm_is_date(const char *stored)
{
    long ymd;
    return strlen(stored) == 10 && stored[4] == '-' && stored[7] == '-' &&
           lt_norm_date(stored, &ymd) == 0;
}

int lt_norm_match(const char *stored, const char *claim, int is_date)
{
    if (is_date) {
        long a, b;
        return lt_norm_date(stored, &a) == 0 && lt_norm_date(claim, &b) == 0 && a == b;
    }
    char *a = lt_norm_text(stored), *b = lt_norm_text(claim);
    int match = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    return match;
}

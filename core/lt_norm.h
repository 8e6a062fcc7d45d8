/* lt_norm: normalisation of claim values for verification without
 * disclosure (PROTOCOL.md 7.6). Text is compared after Unicode NFC, full case
 * folding, trimming and collapsing of white space, so "NGUYỄN  văn An" (with
 * combining or precomposed diacritics) matches "Nguyễn Văn An". Dates are
 * compared as calendar dates. libunistring does the Unicode work. */
#ifndef LT_NORM_H
#define LT_NORM_H

#include <stddef.h>
#include <stdint.h>

/* Normalises UTF-8 text into a malloc'd string. NULL on invalid UTF-8 or
 * out of memory. */
char *lt_norm_text(const char *in) __attribute__((warn_unused_result));

/* Case folding to NFD of n bytes of valid UTF-8, exactly as libunistring's
 * u8_casefold(..., UNINORM_NFD, ...): the first step of a claim's key.
 * Latin text comes from a table libunistring fills at first use (thread
 * safe); other text from u8_casefold itself. Malloc'd, *len bytes, NULL out
 * of memory. */
uint8_t *lt_norm_fold(const char *in, size_t n, size_t *len) __attribute__((warn_unused_result));

/* Parses YYYY-MM-DD or YYYYMMDD (a real calendar date, surrounding white
 * space allowed) into *ymd = year*10000 + month*100 + day. 0 or -1. */
int lt_norm_date(const char *in, long *ymd) __attribute__((warn_unused_result));

/* 1 when claim matches stored, 0 when not (invalid UTF-8 on either side
 * included), -1 when they could not be compared (out of memory). `is_date`
 * (the field is a date field of its record type, lt_schema_is_date)
 * compares both sides as dates: a side that is no date matches nothing. */
int lt_norm_match(const char *stored, const char *claim, int is_date)
    __attribute__((warn_unused_result));

#endif

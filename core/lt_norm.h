/* lt_norm: normalisation of claim values for verification without
 * disclosure (PROTOCOL.md 7.6). Text is compared after Unicode NFC, full case
 * folding, trimming and collapsing of white space, so "NGUYỄN  văn An" (with
 * combining or precomposed diacritics) matches "Nguyễn Văn An". Dates are
 * compared as calendar dates. libunistring does the Unicode work. */
#ifndef LT_NORM_H
#define LT_NORM_H

#include <stddef.h>
#include <stdint.h>

#include "lt_err.h"

/* Normalises UTF-8 text into a malloc'd string. NULL on invalid UTF-8 or
 * out of memory. */
char *lt_norm_text(const char *in) LT_NODISCARD;

/* Case folding to NFD of n bytes of valid UTF-8, exactly as libunistring's
 * u8_casefold(..., UNINORM_NFD, ...): the first step of a claim's key.
 * Latin text comes from a table libunistring fills at first use (thread
 * safe); other text from u8_casefold itself. Malloc'd, *len bytes, NULL out
 * of memory. */
uint8_t *lt_norm_fold(const char *in, size_t n, size_t *len) LT_NODISCARD;

/* Parses YYYY-MM-DD or YYYYMMDD (a real calendar date, surrounding white
 * space of lt_norm_spaces allowed) into *ymd = year*10000 + month*100 +
 * day. 0 or -1. */
int lt_norm_date(const char *in, long *ymd) LT_NODISCARD;

/* The length in bytes of the run of white space at s (n bytes left;
 * Unicode's White_Space property, PROTOCOL.md 7.6: ASCII space, tab, line
 * feed, vertical tab, form feed, carriage return, U+0085, U+00A0, U+3000
 * ...), 0 when s does not start with one. The one test of white space of
 * claims and of the checks that must agree with them. */
size_t lt_norm_spaces(const char *s, size_t n);

/* 1 when claim matches stored, 0 when not (invalid UTF-8 on either side
 * included), -1 when they could not be compared (out of memory). `is_date`
 * (the field is a date field of its record type, lt_schema_is_date)
 * compares both sides as dates: a side that is no date matches nothing. */
int lt_norm_match(const char *stored, const char *claim, int is_date) LT_NODISCARD;

/* A claim to be compared against many stored values (a verification's
 * shared claims against each of its keys, PROTOCOL.md 7.6), or a stored
 * value against many claims (the claims of one key naming one field): its
 * key and its date are worked out at most once, when a comparison first
 * needs them, and kept. Fill it with lt_norm_claim_init, free what it keeps
 * with lt_norm_claim_clear. The fields are its own. */
typedef struct {
    const char *claim; /* the value, not copied: it outlives the struct */
    size_t len;
    int valid; /* the claim is valid UTF-8 */
    char *key; /* its key (lt_norm_match's), NULL until needed */
    int date;  /* 0 not parsed yet, 1 a date (ymd), -1 no date */
    long ymd;
} lt_norm_claim_t;

void lt_norm_claim_init(lt_norm_claim_t *self, const char *claim);
void lt_norm_claim_clear(lt_norm_claim_t *self);

/* lt_norm_match(stored, self->claim, is_date), with the claim's side
 * worked out once over all calls: the same 1, 0 or -1. */
int lt_norm_claim_match(lt_norm_claim_t *self, const char *stored, int is_date) LT_NODISCARD;

/* lt_norm_claim_match against a stored value filled with
 * lt_norm_claim_init: the stored side too is worked out once over all
 * calls with it. The same 1, 0 or -1. */
int lt_norm_claim_match_value(lt_norm_claim_t *self, lt_norm_claim_t *stored,
                              int is_date) LT_NODISCARD;

/* How many times a claim's side of a comparison was worked out (its key
 * made or its date parsed), by lt_norm_match and lt_norm_claim_match, in
 * this process: lets a test see that a claim is normalised once per
 * request, whatever its number of keys. */
uint64_t lt_norm_claims_worked(void);
/* The same for the stored side: once per key and field with
 * lt_norm_claim_match_value, whatever the number of claims naming it. */
uint64_t lt_norm_stored_worked(void);

#endif

/* lt_apisum: the one report of the HTTP API's tallies (core/lt_tally.h):
 * the requests without a valid token and the refusals of an application
 * (lt_api), the failures whose detail is the operator's (lt_apicall), the
 * connections cut or refused (lt_apiconn). Each owner says what its events
 * are; this module writes them as the log's WARN lines of "api", each one
 * of three (docs/operations.md, "Limits of the HTTP API"):
 *
 *   FIRST   <first>; others <others> are summed up every <interval> s
 *   COUNT   <n> more <what><where> in <s> s[: <why>]
 *   OTHERS  <n> more <what> in <s> s, of <keys> beyond the <max> tracked
 *           (last <last>)[: <why>]
 */
#ifndef LT_APISUM_H
#define LT_APISUM_H

#include "lt_tally.h"

#include <stddef.h>
#include <stdint.h>

/* One report's words, which the owner's describe fills ("" when unused). */
typedef struct {
    char first[1280]; /* FIRST: the event in full */
    char what[192];   /* COUNT, OTHERS: the events: "connections closed" */
    char where[96];   /* COUNT: the key's part: " from 192.0.2.7" */
    char last[1280];  /* OTHERS: the last event's key */
    char why[1200];   /* COUNT, OTHERS: why, after ": " */
} lt_apisum_text_t;

/* Fills x for rep; it may also record rep elsewhere (the audit file).
 * Called under the tally's lock. */
typedef void(lt_apisum_describe_fn)(void *arg, const lt_tally_report_t *rep, lt_apisum_text_t *x);

/* A tally's report: its owner's words and what FIRST and OTHERS say. */
typedef struct {
    int64_t interval_ms;
    size_t max_keys;
    const char *others; /* FIRST: which others: "from it", "like it" */
    const char *keys;   /* OTHERS: what the keys are: "addresses" */
    lt_apisum_describe_fn *describe;
    void *arg;
} lt_apisum_t;

/* The tallies' report (lt_tally_fn): sum is the lt_apisum_t. */
void lt_apisum_report(void *sum, const lt_tally_report_t *rep);

/* A tally reporting through sum (which must outlive it): lt_tally_new
 * with sum's interval and keys. */
lt_tally_t *lt_apisum_tally(lt_apisum_t *sum, size_t info_size);

#endif

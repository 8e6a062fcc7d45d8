/* lt_apisum: the one report of the HTTP API's tallies (see the header). */
#include "lt_apisum.h"
#include "lt_log.h"

#include <string.h>

void lt_apisum_report(void *arg, const lt_tally_report_t *rep)
{
    const lt_apisum_t *sum = arg;
    lt_apisum_text_t x;
    memset(&x, 0, sizeof x);
    sum->describe(sum->arg, rep, &x);
    unsigned long long n = (unsigned long long)rep->count;
    const char *sep = x.why[0] ? ": " : "";
    if (rep->kind == LT_TALLY_FIRST)
        lt_warn("api", "%s; others %s are summed up every %lld s", x.first, sum->others,
                (long long)sum->interval_ms / 1000);
    else if (rep->kind == LT_TALLY_COUNT)
        lt_warn("api", "%llu more %s%s in %lld s%s%s", n, x.what, x.where, (long long)rep->seconds,
                sep, x.why);
    else
        lt_warn("api", "%llu more %s in %lld s, of %s beyond the %zu tracked (last %s)%s%s", n,
                x.what, (long long)rep->seconds, sum->keys, sum->max_keys, x.last, sep, x.why);
}

lt_tally_t *lt_apisum_tally(lt_apisum_t *sum, size_t info_size)
{
    return lt_tally_new(sum->interval_ms, sum->max_keys, info_size, lt_apisum_report, sum);
}

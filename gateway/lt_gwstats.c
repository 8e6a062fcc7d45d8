/* lt_gwstats: registering and reading the gateway's statistics (see
 * lt_gwstats.h). */
#include "lt_gwstats.h"
#include "lt_clock.h"
#include "lt_wire.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

lt_stats_series_t *lt_gwstats_series(lt_stats_t *stats, const lt_stats_def_t *def,
                                     const char *const *values)
{
    return lt_stats_register_series(stats, def, values);
}

lt_stats_series_t *lt_gwstats_commit(lt_stats_t *stats, const char *what)
{
    static const lt_stats_def_t def = {
        .name = "lienthong_store_commit_latency",
        .help = "Time of one transaction of the store or the audit log, from its start to its "
                "durable commit",
        .kind = LT_STATS_HISTOGRAM,
        .unit = LT_STATS_UNIT_SECONDS,
        .n_labels = 1,
        .labels = {"what"},
        .max_series = 8,
    };
    return lt_gwstats_series(stats, &def, (const char *const[]){what});
}

lt_stats_series_t *lt_gwstats_store_writable(lt_stats_t *stats)
{
    static const lt_stats_def_t def = {
        .name = "lienthong_store_writable",
        .help = "1 while the store can be written; 0 since a transaction of its writer (a group "
                "of published changes or of replica batches) could not be stored because it "
                "cannot (a full disk, an I/O error), until one commits",
        .unit = LT_STATS_UNIT_NONE,
        .kind = LT_STATS_GAUGE};
    return lt_gwstats_series(stats, &def, NULL);
}

/* The series of code in codes' family. */
static lt_stats_series_t *s_code_series(const lt_gwstats_codes_t *codes, Lienthong__ErrorCode code)
{
    const char *name = lt_wire_error_name(code);
    const char *values[2] = {codes->fixed ? codes->fixed : name, name};
    return lt_stats_series(codes->family, values);
}

int lt_gwstats_codes_init(lt_gwstats_codes_t *codes, lt_stats_t *stats, const lt_stats_def_t *def,
                          const char *fixed)
{
    *codes = (lt_gwstats_codes_t){.fixed = fixed};
    if (lt_stats_register(stats, def, &codes->family) != 0)
        return -1;
    /* Each code's series from the start, at 0: rate() and increase() see
     * a code's first event only as a change from a sample before it, and
     * an alert on the rate of a refusal seen once would never fire
     * (docs/operations.md, "Metrics reference"). ERR_NONE is no refusal:
     * a family counting answers too (pre-fills) gets it at its first. */
    for (size_t i = 1; i < LT_GWSTATS_CODES; i++)
        codes->by_code[i] = s_code_series(codes, (Lienthong__ErrorCode)i);
    return 0;
}

void lt_gwstats_codes_inc(lt_gwstats_codes_t *codes, Lienthong__ErrorCode code)
{
    assert((size_t)code < LT_GWSTATS_CODES); /* the gateway's own codes, PROTOCOL.md 9 */
    size_t i = (size_t)code;
    if (!codes->by_code[i]) /* ERR_NONE, once: the only string work it ever does */
        codes->by_code[i] = s_code_series(codes, code);
    lt_stats_inc(codes->by_code[i]);
}

uint64_t lt_gwstats_codes_get(const lt_gwstats_codes_t *codes, Lienthong__ErrorCode code)
{
    size_t i = (size_t)code < LT_GWSTATS_CODES ? (size_t)code : 0;
    return codes->by_code[i] ? lt_gwstats_counter(codes->by_code[i]) : 0;
}

uint64_t lt_gwstats_codes_sum(const lt_gwstats_codes_t *codes)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < LT_GWSTATS_CODES; i++)
        sum += codes->by_code[i] ? lt_gwstats_counter(codes->by_code[i]) : 0;
    return sum;
}

uint64_t lt_gwstats_counter(const lt_stats_series_t *s)
{
    lt_stats_sample_t v;
    lt_stats_read(s, &v);
    return v.counter;
}

int64_t lt_gwstats_gauge(const lt_stats_series_t *s)
{
    lt_stats_sample_t v;
    lt_stats_read(s, &v);
    return v.gauge;
}

uint64_t lt_gwstats_since_us(int64_t start_us)
{
    int64_t d = lt_clock_mono_us() - start_us;
    return d > 0 ? (uint64_t)d : 0;
}

void lt_gwstats_verifiers(lt_stats_family_t *family, const lt_dir_t *dir, const char *member)
{
    const Lienthong__Directory *d = dir ? lt_dir_get(dir) : NULL;
    for (size_t i = 0; d && member && i < d->n_policies; i++) {
        const Lienthong__Policy *p = d->policies[i];
        const Lienthong__Dataset *ds = lt_dir_dataset_of(dir, p->target);
        if (ds && strcmp(ds->owner, member) == 0 && strcmp(p->consumer, member) != 0 &&
            lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_VERIFY))
            (void)lt_stats_series(family, (const char *const[]){p->consumer});
    }
}

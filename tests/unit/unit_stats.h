/* unit_stats.h: reading one statistic of a registry (core/lt_stats.h) by
 * name, for the CUnit suites that check what a module counts. */
#ifndef LT_UNIT_STATS_H
#define LT_UNIT_STATS_H

#include "lt_stats.h"

#include <CUnit/CUnit.h>
#include <string.h>

typedef struct {
    const char *name;
    lt_stats_sample_t s;
    int found;
} ut_stat_find_t;

static inline int ut_stat_visit(void *arg, const lt_stats_def_t *def, const lt_stats_sample_t *s)
{
    ut_stat_find_t *f = arg;
    if (strcmp(def->name, f->name) == 0) {
        f->s = *s;
        f->found = 1;
    }
    return 0;
}

/* The sample of the family registered as name (its first series); asserts
 * that there is one. */
static inline lt_stats_sample_t ut_stat(lt_stats_t *stats, const char *name)
{
    ut_stat_find_t f = {.name = name};
    lt_stats_visitor_t v = {.series = ut_stat_visit};
    CU_ASSERT(lt_stats_visit(stats, &v, &f) == 0);
    CU_ASSERT(f.found);
    return f.s;
}

#endif

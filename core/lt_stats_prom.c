/* lt_stats_prom: Prometheus text exposition 0.0.4, written through the
 * registry's visitor into a growable buffer. */
#include "lt_stats_prom.h"

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exposition names: a base name of at most 100 characters plus suffixes. */
#define NAME_MAX_LEN 160

typedef struct {
    char **buf;
    size_t *len, *cap;
    int failed; /* a growth failed: everything after it is dropped */
    char name[NAME_MAX_LEN];
} out_t;

static void s_put(out_t *o, const char *s, size_t n)
{
    if (o->failed)
        return;
    if (*o->len + n + 1 > *o->cap) {
        size_t cap = *o->cap ? *o->cap : 4096;
        while (cap < *o->len + n + 1 && cap <= SIZE_MAX / 2)
            cap *= 2;
        char *p = cap >= *o->len + n + 1 ? realloc(*o->buf, cap) : NULL;
        if (!p) {
            o->failed = 1;
            return;
        }
        *o->buf = p;
        *o->cap = cap;
    }
    memcpy(*o->buf + *o->len, s, n);
    *o->len += n;
    (*o->buf)[*o->len] = 0;
}

static void s_puts(out_t *o, const char *s)
{
    s_put(o, s, strlen(s));
}

/* Writes s escaping backslash and newline, and the double quote when
 * `quote` (label values); description text leaves quotes as they are. */
static void s_escaped(out_t *o, const char *s, int quote)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = *s == '\\'           ? "\\\\"
                          : *s == '\n'         ? "\\n"
                          : quote && *s == '"' ? "\\\""
                                               : NULL;
        if (!esc)
            continue;
        s_put(o, run, (size_t)(s - run));
        s_puts(o, esc);
        run = s + 1;
    }
    s_put(o, run, (size_t)(s - run));
}

/* Microseconds as exact decimal seconds: 1 -> "0.000001", 1500000 -> "1.5". */
static void s_seconds(char *out, size_t cap, uint64_t us)
{
    uint64_t frac = us % 1000000;
    if (!frac) {
        snprintf(out, cap, "%" PRIu64, us / 1000000);
        return;
    }
    int n = snprintf(out, cap, "%" PRIu64 ".%06" PRIu64, us / 1000000, frac);
    while (n > 0 && (size_t)n < cap && out[n - 1] == '0')
        out[--n] = 0;
}

/* The shortest decimal that reads back as v; NaN and infinities as
 * Prometheus spells them. */
static void s_double(char *out, size_t cap, double v)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, "%sInf", v > 0 ? "+" : "-");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* {a="x",b="y"} with le="..." last when given; nothing for no labels. */
static void s_labels(out_t *o, const lt_stats_def_t *def, const char *const *values, const char *le)
{
    if (def->n_labels == 0 && !le)
        return;
    s_puts(o, "{");
    for (size_t i = 0; i < def->n_labels; i++) {
        if (i)
            s_puts(o, ",");
        s_puts(o, def->labels[i]);
        s_puts(o, "=\"");
        s_escaped(o, values[i], 1);
        s_puts(o, "\"");
    }
    if (le) {
        s_puts(o, def->n_labels ? ",le=\"" : "le=\"");
        s_puts(o, le);
        s_puts(o, "\"");
    }
    s_puts(o, "}");
}

/* One sample line: NAME[SUFFIX]{labels} VALUE */
static void s_line(out_t *o, const lt_stats_def_t *def, const char *suffix,
                   const char *const *values, const char *le, const char *value)
{
    s_puts(o, o->name);
    s_puts(o, suffix);
    s_labels(o, def, values, le);
    s_puts(o, " ");
    s_puts(o, value);
    s_puts(o, "\n");
}

static int s_family(void *arg, const lt_stats_def_t *def)
{
    out_t *o = arg;
    const char *unit = lt_stats_unit_name(def->unit);
    snprintf(o->name, sizeof o->name, "%s%s%s%s", def->name, unit[0] ? "_" : "", unit,
             def->kind == LT_STATS_COUNTER ? "_total" : "");
    static const char *const types[] = {
        [LT_STATS_COUNTER] = "counter",
        [LT_STATS_GAUGE] = "gauge",
        [LT_STATS_GAUGE_DOUBLE] = "gauge",
        [LT_STATS_HISTOGRAM] = "histogram",
    };
    s_puts(o, "# HELP ");
    s_puts(o, o->name);
    s_puts(o, " ");
    s_escaped(o, def->help, 0);
    s_puts(o, "\n# TYPE ");
    s_puts(o, o->name);
    s_puts(o, " ");
    s_puts(o, types[def->kind]);
    s_puts(o, "\n");
    return o->failed;
}

/* Cumulative buckets at the major bounds only (lt_stats_bound_major). */
static void s_histogram(out_t *o, const lt_stats_def_t *def, const lt_stats_sample_t *s)
{
    char le[32], v[32];
    uint64_t cum = 0;
    for (size_t i = 0; i < LT_STATS_BUCKETS; i++) {
        cum += s->buckets[i];
        if (!lt_stats_bound_major(i))
            continue;
        if (i < LT_STATS_BUCKETS - 1)
            s_seconds(le, sizeof le, lt_stats_bound_us(i));
        else
            snprintf(le, sizeof le, "+Inf");
        snprintf(v, sizeof v, "%" PRIu64, cum);
        s_line(o, def, "_bucket", s->values, le, v);
    }
    s_seconds(v, sizeof v, s->sum_us);
    s_line(o, def, "_sum", s->values, NULL, v);
    snprintf(v, sizeof v, "%" PRIu64, s->count);
    s_line(o, def, "_count", s->values, NULL, v);
}

static int s_series(void *arg, const lt_stats_def_t *def, const lt_stats_sample_t *s)
{
    out_t *o = arg;
    char v[40];
    switch (def->kind) {
    case LT_STATS_COUNTER:
        snprintf(v, sizeof v, "%" PRIu64, s->counter);
        break;
    case LT_STATS_GAUGE:
        snprintf(v, sizeof v, "%" PRId64, s->gauge);
        break;
    case LT_STATS_GAUGE_DOUBLE:
        s_double(v, sizeof v, s->gauge_double);
        break;
    case LT_STATS_HISTOGRAM:
        s_histogram(o, def, s);
        return o->failed;
    }
    s_line(o, def, "", s->values, NULL, v);
    return o->failed;
}

int lt_stats_prom_write(lt_stats_t *stats, char **buf, size_t *len, size_t *cap)
{
    out_t o = {.buf = buf, .len = len, .cap = cap};
    size_t start = *len;
    static const lt_stats_visitor_t visitor = {.family = s_family, .series = s_series};
    if (lt_stats_visit(stats, &visitor, &o) == 0 && !o.failed)
        return 0;
    *len = start;
    if (*buf)
        (*buf)[start] = 0;
    return LT_STATS_ENOMEM;
}

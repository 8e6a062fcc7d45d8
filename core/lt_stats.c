/* lt_stats: the registry, label-set handles and atomic updates.
 *
 * A series is one allocation: the struct, its histogram buckets (flexible
 * array) and its label values as consecutive NUL-terminated strings. That
 * byte run is also the series' key in the family's hash table: values
 * cannot contain NUL, so it is unambiguous. */
#include "lt_stats.h"
#include "lt_log.h"

#include <assert.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistr.h>

/* Out of memory inside the hash table must not end the gateway: uthash
 * then leaves the element out and clears its table pointer. */
#define HASH_NONFATAL_OOM 1
#include <uthash.h>

#define KEY_MAX (LT_STATS_MAX_LABELS * (LT_STATS_MAX_VALUE + 1))

struct _lt_stats_series_t {
    /* Counter, int gauge (two's complement), double gauge (its bits), or a
     * histogram's sum of microseconds. */
    _Atomic uint64_t value;
    lt_stats_family_t *family;
    const char *values[LT_STATS_MAX_LABELS];
    const char *key;
    size_t key_len;
    UT_hash_handle hh;
    _Atomic uint64_t buckets[]; /* histograms only */
};

struct _lt_stats_family_t {
    lt_stats_def_t def; /* strings owned by the family */
    lt_stats_t *owner;
    lt_stats_series_t *series; /* uthash head; iterates in creation order */
    size_t n_series;
    /* The overflow series of a labelled family (exported once handed out),
     * or the only series of a family without labels (always exported). */
    lt_stats_series_t *other;
    atomic_int other_used;
    int warned; /* the bound was reported once */
    lt_stats_family_t *next;
};

struct _lt_stats_t {
    pthread_mutex_t lock;
    lt_stats_family_t *families, **tail;
};

/* Renard R10 per decade (ratio about 1.26: above 10 us an estimated
 * quantile is within 30% of the true one, usually far closer), rounded
 * to whole microseconds, 1 us to 50 s. The 1-2-5 bounds among them
 * are the ones exported. */
/* One decade a line. */
/* clang-format off */
static const uint64_t s_bounds[LT_STATS_BUCKETS - 1] = {
    1,        2,        3,        4,        5,        6,        8,
    10,       13,       16,       20,       25,       32,       40,       50,       63,       80,
    100,      125,      160,      200,      250,      315,      400,      500,      630,      800,
    1000,     1250,     1600,     2000,     2500,     3150,     4000,     5000,     6300,     8000,
    10000,    12500,    16000,    20000,    25000,    31500,    40000,    50000,    63000,    80000,
    100000,   125000,   160000,   200000,   250000,   315000,   400000,   500000,   630000,   800000,
    1000000,  1250000,  1600000,  2000000,  2500000,  3150000,  4000000,  5000000,  6300000,  8000000,
    10000000, 12500000, 16000000, 20000000, 25000000, 31500000, 40000000, 50000000,
};
/* clang-format on */

lt_stats_t *lt_stats_new(void)
{
    lt_stats_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    if (pthread_mutex_init(&self->lock, NULL) != 0) {
        free(self);
        return NULL;
    }
    self->tail = &self->families;
    return self;
}

static void s_def_free(lt_stats_def_t *d)
{
    free((char *)d->name);
    free((char *)d->help);
    for (size_t i = 0; i < d->n_labels; i++)
        free((char *)d->labels[i]);
}

static void s_family_free(lt_stats_family_t *f)
{
    lt_stats_series_t *s, *tmp;
    HASH_ITER(hh, f->series, s, tmp)
    {
        HASH_DEL(f->series, s);
        free(s);
    }
    free(f->other);
    s_def_free(&f->def);
    free(f);
}

void lt_stats_destroy(lt_stats_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_stats_t *self = *self_p;
    while (self->families) {
        lt_stats_family_t *f = self->families;
        self->families = f->next;
        s_family_free(f);
    }
    pthread_mutex_destroy(&self->lock);
    free(self);
    *self_p = NULL;
}

/* ---- registration ------------------------------------------------------------------------ */

static int s_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* NULL when name is a valid base name, else what is wrong with it. */
static const char *s_bad_name(const char *name)
{
    /* Suffixes the exposition appends (unit, _total, histogram samples). */
    static const char *const reserved[] = {"_total", "_seconds", "_bytes", "_bucket",
                                           "_sum",   "_count",   "_info"};
    if (!name || strncmp(name, "lienthong_", 10) != 0 || !name[10])
        return "must start with lienthong_ and go on";
    if (strlen(name) > 100)
        return "is over 100 characters";
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
            return "may hold only a-z, 0-9 and _";
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (s_ends_with(name, reserved[i]))
            return "ends with a suffix the exposition adds (unit, _total or a histogram's)";
    return NULL;
}

/* NULL when the label names are valid, else what is wrong with them. */
static const char *s_bad_labels(const lt_stats_def_t *d)
{
    if (d->n_labels > LT_STATS_MAX_LABELS)
        return "has too many labels";
    for (size_t i = 0; i < d->n_labels; i++) {
        const char *l = d->labels[i];
        if (!l || !l[0] || (l[0] >= '0' && l[0] <= '9') || strncmp(l, "__", 2) == 0 ||
            strcmp(l, "le") == 0 || strcmp(l, "quantile") == 0)
            return "has an empty, reserved or digit-first label name";
        for (const char *p = l; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '_'))
                return "has a label name with a character other than a-z, A-Z, 0-9, _";
        for (size_t j = 0; j < i; j++)
            if (strcmp(d->labels[j], l) == 0)
                return "repeats a label name";
    }
    return NULL;
}

/* NULL when the definition is valid, else what is wrong with it. */
static const char *s_bad_def(const lt_stats_def_t *d)
{
    const char *why = s_bad_name(d->name);
    if (why)
        return why;
    if (!d->help || !d->help[0])
        return "has no description";
    if ((unsigned)d->kind > LT_STATS_HISTOGRAM || (unsigned)d->unit > LT_STATS_UNIT_BYTES)
        return "has an unknown kind or unit";
    if (d->kind == LT_STATS_HISTOGRAM && d->unit != LT_STATS_UNIT_SECONDS)
        return "is a histogram whose unit is not seconds";
    if (d->max_series > LT_STATS_MAX_SERIES)
        return "allows more label sets than LT_STATS_MAX_SERIES";
    return s_bad_labels(d);
}

static size_t s_max_series(const lt_stats_def_t *d)
{
    return d->max_series ? d->max_series : LT_STATS_DEFAULT_SERIES;
}

/* 1 if a and b define the same family. */
static int s_same_def(const lt_stats_def_t *a, const lt_stats_def_t *b)
{
    if (strcmp(a->help, b->help) != 0 || a->kind != b->kind || a->unit != b->unit ||
        a->n_labels != b->n_labels || s_max_series(a) != s_max_series(b))
        return 0;
    for (size_t i = 0; i < a->n_labels; i++)
        if (strcmp(a->labels[i], b->labels[i]) != 0)
            return 0;
    return 1;
}

/* A series with the values packed in key[0..key_len). */
static lt_stats_series_t *s_series_new(lt_stats_family_t *f, const char *key, size_t key_len)
{
    size_t nb = f->def.kind == LT_STATS_HISTOGRAM ? LT_STATS_BUCKETS : 0;
    size_t head = sizeof(lt_stats_series_t) + nb * sizeof(_Atomic uint64_t);
    lt_stats_series_t *s = calloc(1, head + key_len + 1);
    if (!s)
        return NULL;
    char *k = (char *)s + head;
    memcpy(k, key, key_len);
    s->key = k;
    s->key_len = key_len;
    s->family = f;
    for (size_t i = 0, off = 0; i < f->def.n_labels; i++) {
        s->values[i] = k + off;
        off += strlen(k + off) + 1;
    }
    atomic_init(&s->value, 0);
    for (size_t i = 0; i < nb; i++)
        atomic_init(&s->buckets[i], 0);
    return s;
}

/* Copies def's strings into f->def; the `other` series comes with it. */
static int s_family_init(lt_stats_family_t *f, const lt_stats_def_t *def)
{
    f->def = (lt_stats_def_t){.kind = def->kind,
                              .unit = def->unit,
                              .n_labels = def->n_labels,
                              .max_series = s_max_series(def)};
    if (!(f->def.name = strdup(def->name)) || !(f->def.help = strdup(def->help)))
        return -1;
    for (size_t i = 0; i < def->n_labels; i++)
        if (!(f->def.labels[i] = strdup(def->labels[i]))) {
            f->def.n_labels = i;
            return -1;
        }
    char key[KEY_MAX];
    size_t len = 0;
    for (size_t i = 0; i < def->n_labels; i++, len += sizeof LT_STATS_OTHER)
        memcpy(key + len, LT_STATS_OTHER, sizeof LT_STATS_OTHER);
    if (!(f->other = s_series_new(f, key, len)))
        return -1;
    atomic_init(&f->other_used, def->n_labels == 0);
    return 0;
}

static lt_stats_family_t *s_family_find(lt_stats_t *self, const char *name)
{
    for (lt_stats_family_t *f = self->families; f; f = f->next)
        if (strcmp(f->def.name, name) == 0)
            return f;
    return NULL;
}

int lt_stats_register(lt_stats_t *self, const lt_stats_def_t *def, lt_stats_family_t **family)
{
    assert(self && def && family);
    *family = NULL;
    const char *why = s_bad_def(def);
    if (why) {
        lt_error("stats", "cannot register '%.100s': it %s", def->name ? def->name : "", why);
        return LT_STATS_EINVAL;
    }
    int rc = 0;
    pthread_mutex_lock(&self->lock);
    lt_stats_family_t *f = s_family_find(self, def->name);
    if (f) {
        rc = s_same_def(&f->def, def) ? 0 : LT_STATS_EEXIST;
        if (rc)
            lt_error("stats", "cannot register '%s': registered with another definition",
                     def->name);
        goto out;
    }
    if (!(f = calloc(1, sizeof *f)) || s_family_init(f, def) != 0) {
        if (f)
            s_family_free(f);
        f = NULL;
        rc = LT_STATS_ENOMEM;
        goto out;
    }
    f->owner = self;
    *self->tail = f;
    self->tail = &f->next;
out:
    pthread_mutex_unlock(&self->lock);
    *family = rc ? NULL : f;
    return rc;
}

lt_stats_series_t *lt_stats_register_series(lt_stats_t *self, const lt_stats_def_t *def,
                                            const char *const *values)
{
    lt_stats_family_t *f = NULL;
    return lt_stats_register(self, def, &f) == 0 ? lt_stats_series(f, values) : NULL;
}

/* ---- label sets ---------------------------------------------------------------------------- */

/* Packs values into key; -1 when a value is missing, too long or not UTF-8. */
static int s_pack(const lt_stats_family_t *f, const char *const *values, char *key, size_t *len)
{
    size_t off = 0;
    for (size_t i = 0; i < f->def.n_labels; i++) {
        const char *v = values ? values[i] : NULL;
        size_t n = v ? strlen(v) : 0;
        if (!v || n > LT_STATS_MAX_VALUE || u8_check((const uint8_t *)v, n) != NULL)
            return -1;
        memcpy(key + off, v, n + 1);
        off += n + 1;
    }
    *len = off;
    return 0;
}

static lt_stats_series_t *s_other(lt_stats_family_t *f)
{
    atomic_store_explicit(&f->other_used, 1, memory_order_relaxed);
    return f->other;
}

/* Creates the series for key; caller holds the lock. NULL when over the
 * bound or out of memory. */
static lt_stats_series_t *s_add(lt_stats_family_t *f, const char *key, size_t len)
{
    if (f->n_series >= f->def.max_series) {
        if (!f->warned)
            lt_warn("stats", "%s: over %zu label sets, counting the rest as '" LT_STATS_OTHER "'",
                    f->def.name, f->def.max_series);
        f->warned = 1;
        return NULL;
    }
    lt_stats_series_t *s = s_series_new(f, key, len);
    if (!s)
        return NULL;
    HASH_ADD_KEYPTR(hh, f->series, s->key, s->key_len, s);
    if (!s->hh.tbl) { /* uthash ran out of memory and left it out */
        free(s);
        return NULL;
    }
    f->n_series++;
    return s;
}

lt_stats_series_t *lt_stats_series(lt_stats_family_t *f, const char *const *values)
{
    assert(f);
    if (f->def.n_labels == 0)
        return f->other;
    char key[KEY_MAX];
    size_t len;
    if (s_pack(f, values, key, &len) != 0)
        return s_other(f);
    if (len == f->other->key_len && memcmp(key, f->other->key, len) == 0)
        return s_other(f);
    pthread_mutex_lock(&f->owner->lock);
    lt_stats_series_t *s;
    HASH_FIND(hh, f->series, key, len, s);
    if (!s)
        s = s_add(f, key, len);
    pthread_mutex_unlock(&f->owner->lock);
    return s ? s : s_other(f);
}

/* ---- updates ------------------------------------------------------------------------------- */

void lt_stats_inc(lt_stats_series_t *s)
{
    lt_stats_add(s, 1);
}

void lt_stats_add(lt_stats_series_t *s, uint64_t n)
{
    assert(s->family->def.kind == LT_STATS_COUNTER);
    atomic_fetch_add_explicit(&s->value, n, memory_order_relaxed);
}

void lt_stats_set(lt_stats_series_t *s, int64_t v)
{
    assert(s->family->def.kind == LT_STATS_GAUGE);
    atomic_store_explicit(&s->value, (uint64_t)v, memory_order_relaxed);
}

void lt_stats_shift(lt_stats_series_t *s, int64_t delta)
{
    assert(s->family->def.kind == LT_STATS_GAUGE);
    /* Unsigned addition wraps exactly like two's complement signed addition. */
    atomic_fetch_add_explicit(&s->value, (uint64_t)delta, memory_order_relaxed);
}

static uint64_t s_bits(double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    return u;
}

static double s_double(uint64_t u)
{
    double v;
    memcpy(&v, &u, sizeof v);
    return v;
}

void lt_stats_set_double(lt_stats_series_t *s, double v)
{
    assert(s->family->def.kind == LT_STATS_GAUGE_DOUBLE);
    atomic_store_explicit(&s->value, s_bits(v), memory_order_relaxed);
}

void lt_stats_add_double(lt_stats_series_t *s, double delta)
{
    assert(s->family->def.kind == LT_STATS_GAUGE_DOUBLE);
    uint64_t old = atomic_load_explicit(&s->value, memory_order_relaxed);
    /* No atomic add for doubles: retry until no other thread got between. */
    while (!atomic_compare_exchange_weak_explicit(&s->value, &old, s_bits(s_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed))
        ;
}

/* Index of the first bucket whose bound is >= us (binary search). */
static size_t s_bucket(uint64_t us)
{
    size_t lo = 0, hi = LT_STATS_BUCKETS - 1;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (us <= s_bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

void lt_stats_observe_us(lt_stats_series_t *s, uint64_t us)
{
    assert(s->family->def.kind == LT_STATS_HISTOGRAM);
    atomic_fetch_add_explicit(&s->buckets[s_bucket(us)], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->value, us, memory_order_relaxed);
}

/* ---- reading ------------------------------------------------------------------------------- */

void lt_stats_read(const lt_stats_series_t *s, lt_stats_sample_t *out)
{
    memset(out, 0, sizeof *out);
    out->values = s->values;
    uint64_t v = atomic_load_explicit(&s->value, memory_order_relaxed);
    switch (s->family->def.kind) {
    case LT_STATS_COUNTER:
        out->counter = v;
        break;
    case LT_STATS_GAUGE:
        out->gauge = (int64_t)v;
        break;
    case LT_STATS_GAUGE_DOUBLE:
        out->gauge_double = s_double(v);
        break;
    case LT_STATS_HISTOGRAM:
        out->sum_us = v;
        /* The count is the sum of the buckets read, so that the +Inf bucket
         * always equals _count even while another thread observes. */
        for (size_t i = 0; i < LT_STATS_BUCKETS; i++) {
            out->buckets[i] = atomic_load_explicit(&s->buckets[i], memory_order_relaxed);
            out->count += out->buckets[i];
        }
        break;
    }
}

uint64_t lt_stats_bound_us(size_t i)
{
    assert(i < LT_STATS_BUCKETS);
    return i < LT_STATS_BUCKETS - 1 ? s_bounds[i] : UINT64_MAX;
}

int lt_stats_bound_major(size_t i)
{
    uint64_t b = lt_stats_bound_us(i);
    if (b == UINT64_MAX)
        return 1;
    while (b % 10 == 0)
        b /= 10;
    return b == 1 || b == 2 || b == 5;
}

double lt_stats_quantile(const lt_stats_sample_t *s, double q)
{
    if (!(q >= 0 && q <= 1) || s->count == 0)
        return NAN;
    double rank = q * (double)s->count;
    uint64_t below = 0;
    size_t i = 0;
    for (; i < LT_STATS_BUCKETS - 1; i++) {
        if (s->buckets[i] && (double)(below + s->buckets[i]) >= rank)
            break;
        below += s->buckets[i];
    }
    if (i == LT_STATS_BUCKETS - 1) /* the rank lies in +Inf: no upper bound to interpolate to */
        return (double)s_bounds[LT_STATS_BUCKETS - 2];
    double lo = i ? (double)s_bounds[i - 1] : 0, hi = (double)s_bounds[i];
    return lo + (hi - lo) * (rank - (double)below) / (double)s->buckets[i];
}

/* ---- visiting ------------------------------------------------------------------------------ */

static int s_visit_series(const lt_stats_visitor_t *v, void *arg, const lt_stats_family_t *f,
                          const lt_stats_series_t *s)
{
    if (!v->series)
        return 0;
    lt_stats_sample_t sample;
    lt_stats_read(s, &sample);
    return v->series(arg, &f->def, &sample);
}

static int s_visit_family(const lt_stats_visitor_t *v, void *arg, const lt_stats_family_t *f)
{
    int rc = v->family ? v->family(arg, &f->def) : 0;
    for (const lt_stats_series_t *s = f->series; s && rc == 0; s = s->hh.next)
        rc = s_visit_series(v, arg, f, s);
    if (rc == 0 && atomic_load_explicit(&f->other_used, memory_order_relaxed))
        rc = s_visit_series(v, arg, f, f->other);
    return rc;
}

int lt_stats_visit(lt_stats_t *self, const lt_stats_visitor_t *visitor, void *arg)
{
    assert(self && visitor);
    int rc = 0;
    pthread_mutex_lock(&self->lock);
    for (const lt_stats_family_t *f = self->families; f && rc == 0; f = f->next)
        rc = s_visit_family(visitor, arg, f);
    pthread_mutex_unlock(&self->lock);
    return rc;
}

const char *lt_stats_unit_name(lt_stats_unit_t unit)
{
    switch (unit) {
    case LT_STATS_UNIT_SECONDS:
        return "seconds";
    case LT_STATS_UNIT_BYTES:
        return "bytes";
    default:
        return "";
    }
}

const char *lt_stats_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case LT_STATS_EINVAL:
        return "invalid statistic definition";
    case LT_STATS_EEXIST:
        return "statistic registered with another definition";
    case LT_STATS_ENOMEM:
        return "out of memory";
    default:
        return "unknown error";
    }
}

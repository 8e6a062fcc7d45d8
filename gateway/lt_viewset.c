/* lt_viewset: the views of one dataset, indexed for the write path. */
#include "lt_viewset.h"
#include "lt_publish.h"
#include "lt_schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int64_t stream;
    size_t view;
} by_stream_t;

typedef struct {
    char *values; /* the view's equals values, length-prefixed, in key field order */
    size_t view;
} by_value_t;

struct _lt_viewset_t {
    const Lienthong__View **views;
    size_t n;
    by_stream_t *by_stream; /* n entries, by stream id */
    /* The fields the indexed views test (those of the first view with
     * predicates), with by_value sorted by values then view. */
    const Lienthong__View *keyv;
    const ProtobufCFieldDescriptor **keyf;
    by_value_t *by_value;
    size_t n_value;
    size_t *others; /* views with other predicates, tested one by one */
    size_t n_others;
    size_t *hits;
    size_t n_hits;
    uint64_t *mark; /* mark[view] == gen: a hit of the last match */
    uint64_t gen;
    char *scratch;
    size_t scratch_cap;
};

/* Appends "<length>:<value>" to the scratch text at *len; the prefix
 * keeps distinct value lists distinct whatever the values hold. */
static int s_append(lt_viewset_t *self, size_t *len, const char *value)
{
    size_t vlen = strlen(value), need = *len + vlen + 24;
    if (need > self->scratch_cap) {
        char *p = realloc(self->scratch, need * 2);
        if (!p)
            return -1;
        self->scratch = p;
        self->scratch_cap = need * 2;
    }
    *len += (size_t)snprintf(self->scratch + *len, self->scratch_cap - *len, "%zu:%s", vlen, value);
    return 0;
}

/* 1 when v tests exactly the key fields, in the same order. */
static int s_indexable(const lt_viewset_t *self, const Lienthong__View *v)
{
    if (!self->keyv || v->n_where != self->keyv->n_where)
        return 0;
    for (size_t i = 0; i < v->n_where; i++)
        if (strcmp(v->where[i]->field, self->keyv->where[i]->field) != 0)
            return 0;
    return 1;
}

/* Picks the key fields: those of the first view with predicates, when the
 * record type has every one of them. */
static int s_pick_keys(lt_viewset_t *self, const ProtobufCMessageDescriptor *t)
{
    for (size_t i = 0; t && i < self->n && !self->keyv; i++)
        if (self->views[i]->n_where > 0)
            self->keyv = self->views[i];
    if (!self->keyv)
        return 0;
    self->keyf = calloc(self->keyv->n_where, sizeof *self->keyf);
    if (!self->keyf)
        return -1;
    for (size_t i = 0; i < self->keyv->n_where; i++)
        if (!(self->keyf[i] = lt_schema_field(t, self->keyv->where[i]->field))) {
            self->keyv = NULL; /* such views never match: test them one by one */
            break;
        }
    return 0;
}

static int s_cmp_stream(const void *a, const void *b)
{
    const by_stream_t *x = a, *y = b;
    return x->stream < y->stream ? -1 : x->stream > y->stream;
}

static int s_cmp_value(const void *a, const void *b)
{
    const by_value_t *x = a, *y = b;
    int c = strcmp(x->values, y->values);
    return c ? c : x->view < y->view ? -1 : x->view > y->view;
}

/* Files view i under its values, or among the others. */
static int s_file(lt_viewset_t *self, size_t i)
{
    const Lienthong__View *v = self->views[i];
    if (!s_indexable(self, v)) {
        self->others[self->n_others++] = i;
        return 0;
    }
    size_t len = 0;
    for (size_t k = 0; k < v->n_where; k++)
        if (s_append(self, &len, v->where[k]->equals) != 0)
            return -1;
    by_value_t *e = &self->by_value[self->n_value];
    if (!(e->values = strdup(self->scratch ? self->scratch : "")))
        return -1;
    e->view = i;
    self->n_value++;
    return 0;
}

lt_viewset_t *lt_viewset_new(const Lienthong__View *const *views, const int64_t *streams, size_t n,
                             const ProtobufCMessageDescriptor *t)
{
    lt_viewset_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    size_t m = n ? n : 1;
    self->n = n;
    self->views = calloc(m, sizeof *self->views);
    self->by_stream = calloc(m, sizeof *self->by_stream);
    self->by_value = calloc(m, sizeof *self->by_value);
    self->others = calloc(m, sizeof *self->others);
    self->hits = calloc(m, sizeof *self->hits);
    self->mark = calloc(m, sizeof *self->mark);
    if (!self->views || !self->by_stream || !self->by_value || !self->others || !self->hits ||
        !self->mark)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        self->views[i] = views[i];
        self->by_stream[i] = (by_stream_t){.stream = streams[i], .view = i};
    }
    if (s_pick_keys(self, t) != 0)
        goto fail;
    for (size_t i = 0; i < n; i++)
        if (s_file(self, i) != 0)
            goto fail;
    qsort(self->by_stream, n, sizeof *self->by_stream, s_cmp_stream);
    qsort(self->by_value, self->n_value, sizeof *self->by_value, s_cmp_value);
    return self;
fail:
    lt_viewset_destroy(&self);
    return NULL;
}

void lt_viewset_destroy(lt_viewset_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_viewset_t *self = *self_p;
    for (size_t i = 0; self->by_value && i < self->n_value; i++)
        free(self->by_value[i].values);
    free(self->views);
    free(self->by_stream);
    free(self->keyf);
    free(self->by_value);
    free(self->others);
    free(self->hits);
    free(self->mark);
    free(self->scratch);
    free(self);
    *self_p = NULL;
}

size_t lt_viewset_size(const lt_viewset_t *self)
{
    return self->n;
}

static void s_hit(lt_viewset_t *self, size_t view)
{
    self->hits[self->n_hits++] = view;
    self->mark[view] = self->gen;
}

/* Marks the indexed views whose values are msg's: one ordered lookup. */
static int s_match_indexed(lt_viewset_t *self, const ProtobufCMessage *msg)
{
    char buf[256];
    size_t len = 0;
    for (size_t k = 0; k < self->keyv->n_where; k++) {
        const char *val = lt_schema_text(msg, self->keyf[k], buf, sizeof buf);
        if (!val)
            return 0; /* a value that cannot be read matches no view */
        if (s_append(self, &len, val) != 0)
            return -1;
    }
    size_t lo = 0, hi = self->n_value;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(self->by_value[mid].values, self->scratch) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < self->n_value && strcmp(self->by_value[lo].values, self->scratch) == 0; lo++)
        s_hit(self, self->by_value[lo].view);
    return 0;
}

size_t lt_viewset_match(lt_viewset_t *self, const ProtobufCMessage *msg)
{
    self->gen++;
    self->n_hits = 0;
    if (!msg)
        return 0;
    /* Out of memory for the lookup text: fall back to testing each view. */
    if (self->n_value && s_match_indexed(self, msg) != 0) {
        self->n_hits = 0;
        for (size_t i = 0; i < self->n; i++)
            if (lt_publish_view_match(self->views[i], msg))
                s_hit(self, i);
        return self->n_hits;
    }
    for (size_t i = 0; i < self->n_others; i++)
        if (lt_publish_view_match(self->views[self->others[i]], msg))
            s_hit(self, self->others[i]);
    return self->n_hits;
}

size_t lt_viewset_hit(const lt_viewset_t *self, size_t i)
{
    return self->hits[i];
}

int lt_viewset_is_hit(const lt_viewset_t *self, size_t view)
{
    return view < self->n && self->mark[view] == self->gen;
}

long lt_viewset_find(const lt_viewset_t *self, int64_t stream)
{
    size_t lo = 0, hi = self->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (self->by_stream[mid].stream < stream)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < self->n && self->by_stream[lo].stream == stream ? (long)self->by_stream[lo].view
                                                                : -1;
}

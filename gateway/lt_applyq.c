/* lt_applyq: verified replica batches waiting for the writer thread, in
 * arrival order (lt_applyq.h). A small ring: at most LT_FEED_AHEAD batches
 * per link. */
#include "lt_applyq.h"
#include "lt_wire.h"

#include <stdlib.h>

typedef struct {
    lt_feed_apply_t *job;
    Lienthong__Envelope *env;
    const void *link;
} slot_t;

struct _lt_applyq_t {
    slot_t *slots;
    size_t cap, first, n;
};

lt_applyq_t *lt_applyq_new(size_t cap)
{
    lt_applyq_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->cap = cap ? cap : 1;
    if (!(self->slots = calloc(self->cap, sizeof *self->slots)))
        lt_applyq_destroy(&self);
    return self;
}

void lt_applyq_destroy(lt_applyq_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_applyq_t *self = *self_p;
    for (size_t i = 0; self->slots && i < self->n; i++)
        lt_wire_free(&self->slots[(self->first + i) % self->cap].env);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

int lt_applyq_push(lt_applyq_t *self, lt_feed_apply_t *job, Lienthong__Envelope *env,
                   const void *link)
{
    if (self->n == self->cap)
        return -1;
    self->slots[(self->first + self->n) % self->cap] = (slot_t){job, env, link};
    self->n++;
    return 0;
}

lt_feed_apply_t *lt_applyq_head(const lt_applyq_t *self)
{
    return self->n ? self->slots[self->first].job : NULL;
}

int lt_applyq_pop(lt_applyq_t *self, lt_feed_apply_t **job, Lienthong__Envelope **env)
{
    if (!self->n)
        return -1;
    slot_t *s = &self->slots[self->first];
    *job = s->job;
    *env = s->env;
    *s = (slot_t){0};
    self->first = (self->first + 1) % self->cap;
    self->n--;
    return 0;
}

lt_feed_apply_t *lt_applyq_at(const lt_applyq_t *self, size_t i)
{
    return i < self->n ? self->slots[(self->first + i) % self->cap].job : NULL;
}

size_t lt_applyq_holds(const lt_applyq_t *self, const void *link)
{
    size_t held = 0;
    for (size_t i = 0; i < self->n; i++)
        held += self->slots[(self->first + i) % self->cap].link == link;
    return held;
}

size_t lt_applyq_size(const lt_applyq_t *self)
{
    return self->n;
}

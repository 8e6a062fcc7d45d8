/* lt_offers: a back-off per member for refused directory offers (see
 * lt_offers.h). One uthash entry per member held back. */
#include "lt_offers.h"
#include "lt_limits.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

typedef struct {
    char member[LT_ID_MAX];
    int64_t until_ms; /* its next offer is checked from then */
    int64_t backoff_ms;
    UT_hash_handle hh;
} s_entry_t;

struct _lt_offers_t {
    s_entry_t *by_member;
    unsigned n;
};

lt_offers_t *lt_offers_new(void)
{
    return calloc(1, sizeof(lt_offers_t));
}

void lt_offers_destroy(lt_offers_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_offers_t *self = *self_p;
    s_entry_t *e, *tmp;
    HASH_ITER(hh, self->by_member, e, tmp)
    {
        HASH_DEL(self->by_member, e);
        free(e);
    }
    free(self);
    *self_p = NULL;
}

static s_entry_t *s_find(const lt_offers_t *self, const char *member)
{
    s_entry_t *e = NULL;
    HASH_FIND_STR(self->by_member, member, e);
    return e;
}

int64_t lt_offers_wait(const lt_offers_t *self, const char *member, int64_t now_ms)
{
    const s_entry_t *e = s_find(self, member);
    return e && e->until_ms > now_ms ? e->until_ms - now_ms : 0;
}

void lt_offers_refused(lt_offers_t *self, const char *member, int64_t now_ms)
{
    s_entry_t *e = s_find(self, member);
    if (!e) {
        /* Members come from the directory in force, so this bound is only
         * a guard against memory: past it, nobody new is held back. */
        if (self->n >= LT_OFFERS_MEMBERS || strlen(member) >= sizeof e->member ||
            !(e = calloc(1, sizeof *e)))
            return;
        snprintf(e->member, sizeof e->member, "%s", member);
        HASH_ADD_STR(self->by_member, member, e);
        self->n++;
    }
    e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : LT_OFFERS_FIRST_MS;
    if (e->backoff_ms > LT_OFFERS_MAX_MS)
        e->backoff_ms = LT_OFFERS_MAX_MS;
    e->until_ms = now_ms + e->backoff_ms;
}

void lt_offers_adopted(lt_offers_t *self, const char *member)
{
    s_entry_t *e = s_find(self, member);
    if (!e)
        return;
    HASH_DEL(self->by_member, e);
    free(e);
    self->n--;
}

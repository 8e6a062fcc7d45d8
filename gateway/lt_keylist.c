/* lt_keylist: a page of the live record keys of an owned dataset, for a
 * local KeysRequest (PROTOCOL.md 8.10). */
#include "lt_keylist.h"
#include "lt_limits.h"
#include "lt_valid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The keys read so far (copies: the store's text lives only per row). */
typedef struct {
    char **keys;
    size_t n, cap;
} s_page_t;

static int s_take(void *arg, const char *key)
{
    s_page_t *p = arg;
    if (p->n >= p->cap)
        return 1; /* the walk reads one more than the page holds: never here */
    if (!(p->keys[p->n] = strdup(key)))
        return -1;
    p->n++;
    return 0;
}

static void s_page_free(s_page_t *p)
{
    for (size_t i = 0; p->keys && i < p->n; i++)
        free(p->keys[i]);
    free(p->keys);
    p->keys = NULL;
}

/* The request's fields, and the dataset this member's own (8.10, as a
 * Publish of another member's dataset is refused, 8.1). */
static Lienthong__ErrorCode s_check(const lt_gwctx_t *ctx, const Lienthong__KeysRequest *m,
                                    char *why, size_t cap)
{
    if (m->request_id == 0) {
        snprintf(why, cap, "keys_request.request_id must not be 0");
        return LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    }
    if (!m->dataset[0] || strlen(m->dataset) >= LT_STREAM_ID_MAX) {
        snprintf(why, cap, "keys_request.dataset must be 1 to %d bytes", LT_STREAM_ID_MAX - 1);
        return LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    }
    if (m->after && m->after[0] && !lt_valid_key(m->after)) {
        snprintf(why, cap, "keys_request.after must be empty or a key of 1 to %d bytes",
                 LT_RECORD_KEY_MAX);
        return LIENTHONG__ERROR_CODE__ERR_MALFORMED;
    }
    const Lienthong__Dataset *ds = lt_dir_dataset(ctx->dir, m->dataset);
    if (!ds || strcmp(ds->owner, ctx->cfg->member) != 0) {
        snprintf(why, cap, "dataset '%s' is %s", m->dataset,
                 ds ? "owned by another member" : "not in the directory");
        return ds ? LIENTHONG__ERROR_CODE__ERR_FORBIDDEN : LIENTHONG__ERROR_CODE__ERR_NOT_FOUND;
    }
    /* Each page is audited (s_audit): none is listed while the log cannot
     * take its entry, as no lookup is answered then (ARCHITECTURE.md 5). */
    if (!lt_audit_writable(ctx->audit, why, cap)) {
        lt_audit_refused(ctx->audit);
        return LIENTHONG__ERROR_CODE__ERR_UNAVAILABLE;
    }
    return LIENTHONG__ERROR_CODE__ERR_NONE;
}

/* Audits a page listed (8.10): record keys are citizens' ids, and the log
 * must show that a register's keys were read, and when, however few
 * entries (one per page of 10,000) that takes. */
static void s_audit(const lt_gwctx_t *ctx, const Lienthong__KeysRequest *m, size_t n, int more)
{
    char detail[LT_RECORD_KEY_MAX + 96];
    snprintf(detail, sizeof detail, "%zu key(s) after '%s'%s", n, m->after ? m->after : "",
             more ? ", more follow" : "");
    lt_audit_add(ctx->audit, &(lt_audit_entry_t){.event = "keys-listed",
                                                 .peer = "local",
                                                 .target = m->dataset,
                                                 .detail = detail});
}

int lt_keylist_answer(const lt_gwctx_t *ctx, void *sock, const lt_wire_in_t *in,
                      const Lienthong__KeysRequest *m, Lienthong__ErrorCode *code, char *why,
                      size_t cap)
{
    int rc = -1;
    s_page_t page = {0};
    if ((*code = s_check(ctx, m, why, cap)) != LIENTHONG__ERROR_CODE__ERR_NONE)
        goto out;
    size_t limit = m->limit == 0 || m->limit > LT_KEYS_PAGE_MAX ? LT_KEYS_PAGE_MAX : m->limit;
    *code = LIENTHONG__ERROR_CODE__ERR_INTERNAL;
    lt_stream_t st;
    /* A dataset never published has no stream yet: no keys, and nothing
     * created for a read (lt_store_stream_find). */
    int found = lt_store_stream_find(ctx->store, m->dataset, &st);
    page.cap = limit + 1; /* one more tells whether more follow */
    if (found < 0 || !(page.keys = calloc(page.cap, sizeof *page.keys))) {
        snprintf(why, cap, "%s: cannot read the store", m->dataset);
        goto out;
    }
    if (found && lt_store_keys(ctx->store, st.id, m->after, page.cap, s_take, &page) != 0) {
        snprintf(why, cap, "%s: cannot read the keys: %s", m->dataset, lt_store_error(ctx->store));
        goto out;
    }
    Lienthong__KeysReply r = LIENTHONG__KEYS_REPLY__INIT;
    r.request_id = m->request_id;
    r.dataset = m->dataset;
    r.more = page.n > limit;
    r.n_keys = r.more ? limit : page.n;
    r.keys = page.keys;
    s_audit(ctx, m, r.n_keys, r.more);
    (void)lt_wire_send_body(sock, in->rid, in->rid_len, LIENTHONG__ENVELOPE__BODY_KEYS_REPLY, &r);
    rc = 0;
out:
    s_page_free(&page);
    return rc;
}

/* lt_reconcile: the keys a gateway holds that the agency's table no longer
 * has, appended to the change list (lienthong source --reconcile). */
#include "lt_reconcile.h"
#include "lt_clock.h"
#include "lt_err.h"
#include "lt_limits.h"
#include "lt_wire.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sends one KeysRequest and waits for its answer: 1 with *reply (free it
 * with lt_wire_free), or -1 with err. Other messages (the status reply
 * lt_adapter_connect asked for) are dropped. */
static int s_ask(lt_adapter_conn_t *conn, const char *dataset, const char *after, uint64_t id,
                 Lienthong__Envelope **reply, char *err, size_t errlen)
{
    Lienthong__KeysRequest q = LIENTHONG__KEYS_REQUEST__INIT;
    q.request_id = id;
    q.dataset = (char *)dataset;
    q.after = (char *)after;
    q.limit = LT_KEYS_PAGE_MAX;
    if (lt_adapter_send(conn, LIENTHONG__ENVELOPE__BODY_KEYS_REQUEST, &q) != 0) {
        lt_err_set(err, errlen, "dataset %s: cannot ask the gateway for its keys", dataset);
        return -1;
    }
    int64_t until = lt_clock_mono_ms() + LT_RECONCILE_WAIT_MS;
    for (int64_t now; (now = lt_clock_mono_ms()) < until;) {
        Lienthong__Envelope *env = NULL;
        int rc = lt_adapter_recv(conn, (int)(until - now), &env);
        if (rc < 0) {
            lt_err_set(err, errlen, "dataset %s: the gateway socket failed", dataset);
            return -1;
        }
        if (rc == 0 && lt_adapter_stopping()) {
            lt_err_set(err, errlen, "dataset %s: stopped by a signal", dataset);
            return -1;
        }
        if (rc == 0)
            continue;
        if (env->body_case == LIENTHONG__ENVELOPE__BODY_KEYS_REPLY &&
            env->keys_reply->request_id == id) {
            *reply = env;
            return 1;
        }
        if (env->body_case == LIENTHONG__ENVELOPE__BODY_ERROR && env->error->request_id == id) {
            lt_err_set(err, errlen, "dataset %s: the gateway refused to list its keys: %s: %s",
                       dataset, lt_wire_error_name(env->error->code), env->error->message);
            lt_wire_free(&env);
            return -1;
        }
        lt_wire_free(&env);
    }
    lt_err_set(err, errlen,
               "dataset %s: the gateway did not list its keys within %d s (is it running, and "
               "does it predate KeysRequest?)",
               dataset, LT_RECONCILE_WAIT_MS / 1000);
    return -1;
}

/* Keeps the first few keys of a kind, to name them. */
static void s_note(char (*keys)[LT_RECORD_KEY_MAX + 1], size_t *n, const char *key)
{
    if (*n < LT_RECONCILE_SHOW)
        snprintf(keys[(*n)++], LT_RECORD_KEY_MAX + 1, "%s", key);
}

/* How many of the page's keys have no row. */
static size_t s_absent(const unsigned char *found, size_t n)
{
    size_t absent = 0;
    for (size_t i = 0; i < n; i++)
        absent += found[i] == LT_DB_KEY_ABSENT;
    return absent;
}

/* Looks for the rows of the page's keys in one transaction, appending the
 * absent ones when append is set, and counts them. A page that would take
 * the keys without a row past limit is rolled back: 1 with err. */
static int s_page(lt_db_t *db, const Lienthong__KeysReply *r, int append, size_t limit,
                  lt_reconcile_counts_t *counts, char *err, size_t errlen)
{
    unsigned char *found = calloc(r->n_keys ? r->n_keys : 1, 1);
    if (!found) {
        lt_err_set(err, errlen, "out of memory for %zu keys", r->n_keys);
        return -1;
    }
    int rc = lt_db_begin(db, append, err, errlen);
    if (rc == 0) {
        rc = lt_db_queue_absent(db, (const char *const *)r->keys, r->n_keys, append, found, err,
                                errlen);
        if (rc == 0 && counts->absent + s_absent(found, r->n_keys) > limit) {
            lt_err_set(err, errlen,
                       "more keys without a row than the counting pass found (%zu, with %zu to "
                       "spare): the table or the dataset changed between the passes; nothing "
                       "more appended, run again",
                       limit - LT_RECONCILE_BOUND_KEYS, (size_t)LT_RECONCILE_BOUND_KEYS);
            rc = 1;
        }
        if (rc == 0 && append)
            rc = lt_db_commit(db, err, errlen);
        if (rc || !append)
            lt_db_rollback(db);
    }
    for (size_t i = 0; rc == 0 && i < r->n_keys; i++) {
        if (found[i] == LT_DB_KEY_ABSENT) {
            counts->absent++;
            counts->appended += append != 0;
            s_note(counts->shown, &counts->n_shown, r->keys[i]);
        } else if (found[i] == LT_DB_KEY_INVALID) {
            counts->invalid++;
            s_note(counts->bad, &counts->n_bad, r->keys[i]);
        }
    }
    free(found);
    return rc;
}

/* One pass over every key the gateway holds for the dataset, keeping the
 * keys without a row within limit (s_page). */
static int s_pass(lt_adapter_conn_t *conn, const char *dataset, lt_db_t *db, int append,
                  size_t limit, uint64_t *next_id, lt_reconcile_counts_t *counts, char *err,
                  size_t errlen)
{
    char after[LT_RECORD_KEY_MAX + 1] = "";
    int more = 1;
    *counts = (lt_reconcile_counts_t){0};
    while (more) {
        Lienthong__Envelope *env = NULL;
        uint64_t id = ++*next_id ? *next_id : ++*next_id;
        if (s_ask(conn, dataset, after, id, &env, err, errlen) < 0)
            return -1;
        const Lienthong__KeysReply *r = env->keys_reply;
        int rc = s_page(db, r, append, limit, counts, err, errlen);
        more = r->more && r->n_keys > 0; /* an empty page that says more would never end */
        if (r->n_keys)
            snprintf(after, sizeof after, "%s", r->keys[r->n_keys - 1]);
        counts->checked += r->n_keys;
        lt_wire_free(&env);
        if (rc) {
            char why[1024];
            snprintf(why, sizeof why, "%s", err);
            lt_err_set(err, errlen, "dataset %s: %s", dataset, why);
            return rc;
        }
    }
    return 0;
}

int lt_reconcile_dataset(lt_adapter_conn_t *conn, const char *dataset, lt_db_t *db,
                         lt_reconcile_mode_t mode, uint64_t *next_id, lt_reconcile_counts_t *counts,
                         char *err, size_t errlen)
{
    int present = 0;
    *counts = (lt_reconcile_counts_t){0};
    /* Without the capture there is no change list to append to, and
     * nothing would publish what is appended. */
    if (lt_db_capture_present(db, &present, err, errlen))
        return -1;
    if (!present) {
        lt_err_set(err, errlen,
                   "dataset %s: change capture is not installed on its table in %s: run "
                   "lienthong source --install first",
                   dataset, lt_db_name(db));
        return -1;
    }
    if (mode == LT_RECONCILE_FORCE)
        return s_pass(conn, dataset, db, 1, SIZE_MAX, next_id, counts, err, errlen);
    /* Counting first: a run refused appends nothing at all. */
    if (s_pass(conn, dataset, db, 0, SIZE_MAX, next_id, counts, err, errlen))
        return -1;
    if (mode == LT_RECONCILE_DRY || counts->absent == 0)
        return 0;
    /* Keys that are no value of the key column's type were published
     * another way: they do not count as keys the table accounts for. */
    if (counts->absent > LT_RECONCILE_BOUND_KEYS &&
        counts->absent * LT_RECONCILE_SHARE > counts->checked - counts->invalid) {
        lt_err_set(err, errlen,
                   "dataset %s: %zu of the %zu key(s) checked have no row (more than %zu, and "
                   "more than %d%%): nothing appended. Is the table the dataset's only "
                   "and complete source? Check with --dry-run, then run again with --force",
                   dataset, counts->absent, counts->checked, (size_t)LT_RECONCILE_BOUND_KEYS,
                   100 / LT_RECONCILE_SHARE);
        return 1;
    }
    /* The appending pass keeps within what was counted, and a little over
     * for rows deleted meanwhile (their capture lists them anyway): keys
     * published another way between the passes would otherwise be taken
     * past the bound unchecked. */
    return s_pass(conn, dataset, db, 1, counts->absent + LT_RECONCILE_BOUND_KEYS, next_id, counts,
                  err, errlen);
}

/* lt_reconcile: `lienthong source --reconcile` for one dataset
 * (adapters/README.md, "Reconcile"). It pages through the live record keys
 * the owner's gateway holds for the dataset (KeysRequest, PROTOCOL.md
 * 8.10) and appends each key whose row the agency's table no longer has to
 * the change list (lt_db_queue_absent), one transaction per page; the
 * source's normal run then reads each such change, finds no row, and
 * publishes a tombstone, as for any deleted row. The table must be the
 * dataset's only and complete source: a record published another way has
 * no row, and would be deleted at every consumer; hence a dry run, and a
 * bound on how many keys one run appends without --force. */
#ifndef LT_RECONCILE_H
#define LT_RECONCILE_H

#include "lt_adapter.h"
#include "lt_err.h"

#include "lt_limits.h"

#include <stddef.h>
#include <stdint.h>

/* How long one page may take to come: the gateway answers at once. */
#define LT_RECONCILE_WAIT_MS 30000
/* How many keys without a row (and invalid keys) are named. */
#define LT_RECONCILE_SHOW 10
/* The safety bound: more keys than this without a row, and more than
 * 1/LT_RECONCILE_SHARE of those checked, is not a few lost rows but a table
 * that is not the dataset's whole source (adapters/README.md, "Reconcile"). */
#define LT_RECONCILE_BOUND_KEYS 100
#define LT_RECONCILE_SHARE      10

typedef enum {
    LT_RECONCILE_CHECKED, /* append unless past the bound (a counting pass first) */
    LT_RECONCILE_DRY,     /* count and name, append nothing */
    LT_RECONCILE_FORCE,   /* append, whatever the count */
} lt_reconcile_mode_t;

typedef struct {
    size_t checked;  /* keys the gateway listed */
    size_t absent;   /* of them, without a row: appended, or would be */
    size_t appended; /* of them, appended to the change list */
    size_t invalid;  /* of them, no value of the key column's type: skipped */
    size_t n_shown, n_bad;
    char shown[LT_RECONCILE_SHOW][LT_RECORD_KEY_MAX + 1]; /* the first absent keys */
    char bad[LT_RECONCILE_SHOW][LT_RECORD_KEY_MAX + 1];   /* the first invalid keys */
} lt_reconcile_counts_t;

/* Reconciles `dataset`, whose rows are in db's table, through conn (a
 * connected gateway); *next_id gives the request ids (counted up, never 0).
 * Unless mode is LT_RECONCILE_FORCE a first pass only counts: a dry run
 * stops there, and past the bound nothing is appended. Returns 0 with
 * *counts, 1 when the bound refused (err says so, naming the counts and
 * --force) or the appending pass met more keys without a row than the
 * counting pass, with LT_RECONCILE_BOUND_KEYS to spare (the table or the
 * dataset changed between them; err says so, and the pages appended
 * before stay), or -1 with err naming what failed (the gateway's refusal with
 * its code, no answer, the database); pages appended before a failure stay
 * appended (each is whole), and a run again checks them anew. */
int lt_reconcile_dataset(lt_adapter_conn_t *conn, const char *dataset, lt_db_t *db,
                         lt_reconcile_mode_t mode, uint64_t *next_id, lt_reconcile_counts_t *counts,
                         char *err, size_t errlen) LT_NODISCARD;

#endif

/* lt_reconcile: `lienthong source --reconcile` for one dataset
 * (adapters/README.md, "Reconcile"). It pages through the live record keys
 * the owner's gateway holds for the dataset (KeysRequest, PROTOCOL.md
 * 8.10) and appends each key whose row the agency's table no longer has to
 * the change list (lt_db_queue_absent), one transaction per page; the
 * source's normal run then reads each such change, finds no row, and
 * publishes a tombstone, as for any deleted row. */
#ifndef LT_RECONCILE_H
#define LT_RECONCILE_H

#include "lt_adapter.h"

#include <stddef.h>
#include <stdint.h>

/* How long one page may take to come: the gateway answers at once. */
#define LT_RECONCILE_WAIT_MS 30000

typedef struct {
    size_t checked;  /* keys the gateway listed */
    size_t appended; /* of them, appended to the change list */
} lt_reconcile_counts_t;

/* Reconciles `dataset`, whose rows are in db's table, through conn (a
 * connected gateway); *next_id gives the request ids (counted up, never 0).
 * Returns 0 with *counts, or -1 with err naming what failed (the gateway's
 * refusal with its code, no answer, the database); pages appended before a
 * failure stay appended (each is whole), and a run again checks them anew. */
int lt_reconcile_dataset(lt_adapter_conn_t *conn, const char *dataset, lt_db_t *db,
                         uint64_t *next_id, lt_reconcile_counts_t *counts, char *err,
                         size_t errlen) __attribute__((warn_unused_result));

#endif

/* lt_source: the source adapter. It publishes every change of one or more
 * tables of an agency's database (through the seam lt_db.h: SQLite or
 * PostgreSQL) to the member's gateway, each table as a dataset:
 *
 *   change capture appends the key of every inserted, updated or deleted
 *   row, with the table's name, to lt_changes under a change id; the
 *   adapter reads each dataset's changes after its durable cursor
 *   (lt_source_cursor) together with the CURRENT row of each key (absent: a
 *   tombstone), sends Publish with up to `batch` changes (up to 4 Publish in
 *   flight per dataset), and advances the cursor in the agency database only
 *   when the gateway's PublishAck says the changes are durable, strictly in
 *   order.
 *
 * See adapters/README.md for the configuration and the crash behaviour. */
#ifndef LT_SOURCE_H
#define LT_SOURCE_H

#include "lt_err.h"
#include "lt_reconcile.h"

#include <stddef.h>
#include <stdio.h>

typedef struct lt_source_t lt_source_t;

/* Loads and checks the configuration (strict, errors "FILE:LINE: ...") and
 * opens the agency database (one connection per dataset). With
 * directory_file, each dataset's record_type and key_field must be the
 * directory's. NULL on failure with err set. */
lt_source_t *lt_source_new(const char *config_path, char *err, size_t errlen);
void lt_source_destroy(lt_source_t **self_p);

/* Installs change capture on every configured table (idempotent: the
 * capture is re-created for the current column mapping; a table whose
 * capture is new has every existing row listed, so the first run publishes
 * it whole). Returns 0, or -1 with err set. */
int lt_source_install(lt_source_t *self, char *err, size_t errlen);

/* `lienthong source --check`: the configuration, each dataset against
 * directory_file (when set), the database and its table, change tracking,
 * and the gateway socket, one line each to out
 * with what to do. Returns the exit code: 0 when the source can start. */
int lt_source_check(const char *config_path, FILE *out);

/* Writes the installation as one idempotent SQL script per table to `out`
 * (for a DBA to review and run; PostgreSQL only). Returns 0, or -1. */
int lt_source_print_install(lt_source_t *self, FILE *out, char *err, size_t errlen);

/* Deletes the cursor row and the rejects of a dataset that is no longer in
 * the configuration (removed or renamed), so that its table's changes are
 * pruned without waiting for it; when no dataset reads its table any more
 * (no other cursor row, none in this configuration), removes the table's
 * change capture in the same transaction (lt_db_capture_drop). Writes what
 * it did to `out`. Refuses a configured dataset. Returns 0, or -1 with err
 * (also when the database has no such row). */
int lt_source_forget(lt_source_t *self, const char *dataset, FILE *out, char *err,
                     size_t errlen) LT_NODISCARD;

/* `lienthong source --reconcile` (adapters/README.md, "Reconcile"): for
 * each configured dataset, the keys the gateway holds live that have no
 * row in the table are appended to the change list, so that the next run
 * publishes their tombstones (lt_reconcile_dataset: mode says dry run,
 * checked against the bound, or forced). One line per dataset to `out`
 * (and the log) with the keys checked and appended, then the first keys
 * without a row, and the keys skipped. Returns 0, or -1 with err naming
 * the dataset and what failed (the datasets before it are done), or how
 * many datasets the bound refused (the others are done). */
int lt_source_reconcile(lt_source_t *self, lt_reconcile_mode_t mode, FILE *out, char *err,
                        size_t errlen) LT_NODISCARD;

/* With resync set, every dataset's table is listed again at start: the
 * whole current table is published again (after the change capture was
 * re-installed without listing the existing rows, for instance). */
void lt_source_set_resync(lt_source_t *self, int resync);

/* Runs the publish loop until SIGTERM/SIGINT (after a bounded wait for the
 * acks in flight) or, with `once`, until no change is left and all are
 * acknowledged, but in a dataset that cannot be published this run (held
 * by the breaker, or not granted by the directory), which is left. Returns
 * the exit code: 0, or 1 on a fatal error or, with `once`, a dataset left
 * (each logged with why). */
int lt_source_run(lt_source_t *self, int once);

#endif

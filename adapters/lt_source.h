/* lt_source: the source adapter. It publishes every change of one table of
 * an agency's database (through the seam lt_db.h) to the member's gateway as
 * a dataset:
 *
 *   change capture (for SQLite, triggers on the table) appends the key of
 *   every inserted, updated or deleted row to lt_changes(id AUTOINCREMENT,
 *   row_key); the adapter reads
 *   changes after its durable cursor (lt_source_cursor), reads the CURRENT
 *   row of each key (absent: a tombstone), sends Publish with up to
 *   `batch` changes (up to 4 Publish in flight), and advances the cursor
 *   in the agency database only when the gateway's PublishAck says the
 *   changes are durable, strictly in order.
 *
 * See adapters/README.md for the configuration and the crash behaviour. */
#ifndef LT_SOURCE_H
#define LT_SOURCE_H

#include <stddef.h>
#include <stdio.h>

typedef struct lt_source_t lt_source_t;

/* Loads and checks the configuration (strict, errors "FILE:LINE: ...") and
 * opens the agency database. NULL on failure with err set. */
lt_source_t *lt_source_new(const char *config_path, char *err, size_t errlen);
void lt_source_destroy(lt_source_t **self_p);

/* Creates the change table and the table's triggers (idempotent: triggers
 * are dropped and re-created for the current column mapping). When the
 * change table is new it is seeded with every existing key, so the first
 * run publishes the whole table. Returns 0, or -1 with err set. */
int lt_source_install(lt_source_t *self, char *err, size_t errlen);

/* `lienthong source --check`: the configuration, the database and its
 * table, change tracking, and the gateway socket, one line each to out
 * with what to do. Returns the exit code: 0 when the source can start. */
int lt_source_check(const char *config_path, FILE *out);

/* Runs the publish loop until SIGTERM/SIGINT (after a bounded wait for the
 * acks in flight) or, with `once`, until no change is left and all are
 * acknowledged. Returns the exit code: 0, or 1 on a fatal error. */
int lt_source_run(lt_source_t *self, int once);

#endif

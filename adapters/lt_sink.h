/* lt_sink: the sink adapter. It attaches to a stream (dataset or view) of
 * the member's gateway and writes every delivered record into a table of
 * the agency's database (SQLite or PostgreSQL, through lt_db.h): an upsert
 * of the mapped columns, or a DELETE by key for a tombstone. Each Deliver is applied in ONE
 * transaction that also advances the durable cursor lt_sink_cursor(stream, seq), and only then
 * acknowledged with DeliverAck. Sequence numbers must follow on exactly; on a gap the transaction
 * is rolled back and the sink attaches again from its cursor + 1. See adapters/README.md. */
#ifndef LT_SINK_H
#define LT_SINK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct lt_sink_t lt_sink_t;

/* Loads and checks the configuration (strict, errors "FILE:LINE: ..."),
 * opens the database (SQLite: WAL, synchronous=FULL, busy_timeout 5000),
 * creates the cursor table and, with create_table, the data table. A
 * PostgreSQL server that is down is waited for by lt_sink_run. NULL on
 * failure with err set. */
lt_sink_t *lt_sink_new(const char *config_path, char *err, size_t errlen);
void lt_sink_destroy(lt_sink_t **self_p);

/* `lienthong sink --check`: the configuration, the database and its
 * table, and the gateway socket, one line each to out with what to do.
 * Returns the exit code: 0 when the sink can start. */
int lt_sink_check(const char *config_path, FILE *out);

/* The durable cursor: the last sequence number applied. */
uint64_t lt_sink_cursor(const lt_sink_t *self);

/* Runs until SIGTERM/SIGINT or, when `once`, until the cursor reaches
 * `through`. Returns the exit code: 0, or 1 on a fatal error. */
int lt_sink_run(lt_sink_t *self, int once, uint64_t through);

#endif

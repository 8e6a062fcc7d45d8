/* lt_writer: the gateway's writer thread. It runs one job at a time on its
 * own connection to the store, so that the poll loop, which answers lookups
 * and verifications from its connection (WAL readers), never waits for the
 * job's commit and its fsync (docs/ARCHITECTURE.md 6). The owner's publish
 * groups run here (lt_publish_job); their acknowledgements are still sent
 * only after the commit, by the poll loop, once the job comes back.
 *
 * A job is a function and its argument. The poll loop submits it, polls
 * lt_writer_socket and takes it back with lt_writer_done; between the two
 * only the writer thread touches the job and the writer's store. Handing the
 * job over through a ZeroMQ inproc pair orders every write made on one side
 * before every read on the other. */
#ifndef LT_WRITER_H
#define LT_WRITER_H

#include "lt_err.h"
#include "lt_store.h"

#include <stddef.h>

typedef struct _lt_writer_t lt_writer_t;

/* Runs on the writer thread with the writer's own store connection. */
typedef void(lt_writer_fn)(void *job, lt_store_t *store);

/* Opens a second connection to the store at store_path and starts the
 * thread. wal_fn(wal_arg), when not NULL, takes the connection's
 * checkpoints (lt_store_wal_delegate, with LT_STORE_WAL_CAP_PAGES), now and
 * at each reopening. NULL with err when either fails. */
lt_writer_t *lt_writer_new(void *zctx, const char *store_path, int cache_mb,
                           lt_store_wal_fn *wal_fn, void *wal_arg, char *err, size_t errlen);
/* Waits for the job in flight, stops the thread and closes the connection.
 * A finished job not yet taken is dropped (its owner frees it). Called
 * before zmq_ctx_term: should the stop order not be delivered, the thread
 * is left running and what it uses leaked (logged) rather than freed. */
void lt_writer_destroy(lt_writer_t **self_p);

/* Starts fn(job, store) on the writer thread. -1 when a job is in flight or
 * not yet taken back (lt_writer_busy), or the hand-over failed. */
int lt_writer_submit(lt_writer_t *self, lt_writer_fn *fn, void *job) LT_NODISCARD;
/* 1 from lt_writer_submit until lt_writer_done has returned the job. */
int lt_writer_busy(const lt_writer_t *self);
/* The finished job, or NULL while it still runs (or none was submitted).
 * Never blocks. */
void *lt_writer_done(lt_writer_t *self);
/* Readable (ZMQ_POLLIN) when the job in flight has finished. */
void *lt_writer_socket(lt_writer_t *self);

/* Blocks until no job runs; a job that finished stays for lt_writer_done.
 * Called before the poll loop frees what a job may read (an adopted
 * directory replaces the old one) or replaces the store file. 0, or -1
 * when the hand-back failed (the thread is then stuck: a programmer error
 * or a broken context). */
int lt_writer_settle(lt_writer_t *self) LT_NODISCARD;
/* Closes the writer's connection, after settling: before the store file is
 * replaced (lt_store_rebuild), so that no connection to the old file is
 * left open across the swap (SQLite does not checkpoint a moved file on
 * close, but nothing here relies on it). 0, or -1 as lt_writer_settle. */
int lt_writer_suspend(lt_writer_t *self) LT_NODISCARD;
/* Opens the connection again, on the file now at the path. -1 with err when
 * it cannot be opened; the thread then tries again before the next job,
 * whose results say store failure while it still cannot. */
int lt_writer_resume(lt_writer_t *self, char *err, size_t errlen) LT_NODISCARD;

#endif

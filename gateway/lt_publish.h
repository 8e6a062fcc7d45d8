/* lt_publish: the owner's write path. A group of Publish messages from
 * source adapters is applied in ONE transaction: each change gets the next
 * sequence number of its dataset, goes into the log and the current state,
 * and is derived into every view of the dataset (projected fields; a key
 * that stops matching the view's predicate becomes a tombstone there).
 * Changes whose source cursor is already durable are skipped, so an adapter
 * that resends after a lost acknowledgement never duplicates a change.
 * A change that fails its dataset's rules (PROTOCOL.md 5.7) is not stored:
 * its source cursor is consumed and it is reported in the PublishAck's
 * refusals, while the rest of the Publish is stored as usual. */
#ifndef LT_PUBLISH_H
#define LT_PUBLISH_H

#include "lienthong.pb-c.h"
#include "lt_dir.h"
#include "lt_err.h"
#include "lt_fresh.h"
#include "lt_gwctx.h"
#include "lt_stats.h"
#include "lt_store.h"
#include "lt_wire.h"

/* Called after the commit for each stream the group advanced: its new last
 * sequence number, the number of records the group appended to it, and
 * *fresh, those records (lt_fresh.h; NULL when they could not all be kept
 * in memory), which the callee may take by setting *fresh to NULL. */
typedef void (*lt_publish_advanced_fn)(void *arg, const char *stream, uint64_t last_seq,
                                       uint64_t appended, lt_fresh_run_t **fresh);

typedef struct {
    Lienthong__ErrorCode code; /* ERR_NONE when acknowledged */
    char err[256];
    uint64_t first_seq, last_seq;  /* dataset seqs assigned; 0,0 when all were known */
    uint64_t source_cursor;        /* last durable source cursor of the dataset */
    Lienthong__Refusal **refusals; /* changes the rules refused (malloc'd), or NULL */
    size_t n_refusals;
    uint64_t known_cursor; /* the dataset's durable source cursor before this Publish */
} lt_publish_result_t;
/* 1 when refusal i of r was reported before: its change's source cursor
 * was already durable (a Publish resent after a lost ack), so the ack
 * repeats it but counters must not count it again. */
int lt_publish_refusal_resent(const lt_publish_result_t *r, size_t i);

/* Frees res[0..n)'s refusals. */
void lt_publish_results_free(lt_publish_result_t *res, size_t n);

/* Applies pubs[0..n) for owner `member`. A record whose payload exceeds
 * max_record is refused (ERR_TOO_LARGE): it could never be sent in a batch
 * (see lt_publish_max_record). Fills res[i] for each, and reports each
 * stream it advanced through `advanced` (may be NULL). Returns 0
 * when the transaction committed (individual publishes may still have been
 * refused, see res), -1 when it failed and nothing was stored: then every
 * res[i] is ERR_UNAVAILABLE naming the cause when the store cannot write
 * (lt_store_cannot_write), else ERR_INTERNAL; nothing is logged (the write
 * path's log is lt_publish_job_finish's). */
int lt_publish_apply(lt_store_t *store, const lt_dir_t *dir, const char *member,
                     Lienthong__Publish *const *pubs, size_t n, size_t max_record,
                     lt_publish_result_t *res, lt_publish_advanced_fn advanced,
                     void *arg) LT_NODISCARD;

/* The largest payload a gateway with frame cap max_message accepts: a batch
 * of one such record, with its envelope, must fit in half the cap. */
size_t lt_publish_max_record(size_t max_message);

/* A Publish from a local client, held until its group commits. */
typedef struct {
    lt_wire_in_t in;
    Lienthong__Envelope *env; /* holds the publish body */
} lt_publish_pending_t;

/* What the local write path reports besides its answers: the store commit
 * latency (what="publish"), refusals by dataset and rule
 * (lienthong_publish_refusals) and their log lines, the first of each
 * dataset and rule at once and the rest once per interval (lt_refuse);
 * groups not stored, logged once when it starts, at most once a minute
 * while it lasts and once when a group is stored again, with
 * lienthong_store_writable 0 while the store cannot write. */
typedef struct _lt_publish_obs_t lt_publish_obs_t;
/* NULL when registration failed or out of memory. */
lt_publish_obs_t *lt_publish_obs_new(lt_stats_t *stats);
void lt_publish_obs_destroy(lt_publish_obs_t **self_p);
/* Writes the aggregated refusal lines that are due: every poll-loop turn. */
void lt_publish_obs_tick(lt_publish_obs_t *self);
/* Creates at 0 the refusal series of every rule that can refuse a change
 * (all but references, 5.7) of each dataset of dir that member owns, so
 * that a rate sees the first refusal: at the start and at each adoption.
 * Series of rules a newer directory dropped stay. */
void lt_publish_obs_dir(lt_publish_obs_t *self, const lt_dir_t *dir, const char *member);

/* StreamStatus.refusals of an owned dataset (PROTOCOL.md 8.3): the
 * changes refused per rule since the gateway started, from stats. Freed
 * by lt_publish_status_free. */
void lt_publish_status(lt_stats_t *stats, const char *dataset, Lienthong__StreamStatus *ss);
void lt_publish_status_free(Lienthong__StreamStatus *ss);

/* The local write path (PROTOCOL.md 8.1) as a job of the writer thread
 * (lt_writer): the poll loop gathers up to LT_PUBLISH_GROUP Publish
 * messages (LT_PUBLISH_GROUP_CHANGES changes) into a job, prepares it,
 * hands lt_publish_job_run to the writer, and once the job comes back
 * finishes it: the streams it advanced are reported, and each Publish is
 * answered on the local ROUTER, with a PublishAck once its records are
 * durable or an Error with the reason when it was refused or nothing was
 * stored. While one job runs the next fills, so a burst waits at most one
 * commit. */
typedef struct _lt_publish_job_t lt_publish_job_t;
/* An empty job, or NULL when out of memory. */
lt_publish_job_t *lt_publish_job_new(void);
void lt_publish_job_destroy(lt_publish_job_t **job_p);
/* Where the next message may be received, or NULL when the job is full. */
lt_publish_pending_t *lt_publish_job_slot(lt_publish_job_t *job);
/* Keeps the Publish received into lt_publish_job_slot until the job ends. */
void lt_publish_job_keep(lt_publish_job_t *job);
size_t lt_publish_job_size(const lt_publish_job_t *job);
/* 1 when the job holds LT_PUBLISH_GROUP messages or
 * LT_PUBLISH_GROUP_CHANGES changes. */
int lt_publish_job_full(const lt_publish_job_t *job);
/* Binds the job to ctx's current directory, member and record limit. The
 * directory must outlive the run (lt_writer_settle before replacing it). */
void lt_publish_job_prepare(lt_publish_job_t *job, const lt_gwctx_t *ctx);
/* lt_writer_fn: applies the job's messages in one transaction on store
 * (the writer's connection; NULL when it could not be opened). */
void lt_publish_job_run(void *job, lt_store_t *store);
/* On the poll loop: reports the streams advanced, answers each message on
 * sock, counts into obs and empties the job for reuse. When the store was
 * rebuilt since lt_publish_job_prepare (lt_store_rebuilds), the streams
 * are reported without their records (*fresh NULL): the rebuild may have
 * lost them (docs/ARCHITECTURE.md 4.2); the messages are answered all the
 * same. */
void lt_publish_job_finish(lt_publish_job_t *job, void *sock, lt_publish_obs_t *obs,
                           lt_publish_advanced_fn advanced, void *arg);
/* The definition of view v of dataset ds as one hash: the dataset's id,
 * record type and key, and the view's fields and predicates, whatever
 * their order. Views whose definitions are equal hold the same rows and
 * fields. 0, or -1 out of memory. */
int lt_publish_view_def(const Lienthong__Dataset *ds, const Lienthong__View *v,
                        uint8_t def[LT_HASH_BYTES]) LT_NODISCARD;

/* Derives view v again from its dataset: every current record of ds's
 * state (at its last commit) that v's predicates hold goes into v's
 * stream, projected, numbered from 1, in key order, keeping the time it
 * changed at. The stream must be empty (lt_store_stream_clear); in the
 * caller's transaction. Fills *view with the stream's row and *newest_ms
 * with the newest of those times (0 when none): in key order, the last
 * record's is not it. 0, or -1 with err (store failure, a damaged record
 * of ds, an unknown record type, records that do not decode as ds's record
 * type in directory version dir_version). */
int lt_publish_view_fill(lt_store_t *store, const Lienthong__Dataset *ds, const Lienthong__View *v,
                         uint64_t dir_version, lt_stream_t *view, int64_t *newest_ms, char *err,
                         size_t errlen) LT_NODISCARD;

/* 1 if msg satisfies every predicate of view v. */
int lt_publish_view_match(const Lienthong__View *v, const ProtobufCMessage *msg);

#endif

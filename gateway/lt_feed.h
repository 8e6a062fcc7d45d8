/* lt_feed: credit-based, signed change feeds (PROTOCOL.md 6 and 8.2).
 *
 * One module in four files, one per role, sharing the table of streams this
 * gateway holds (lt_feed_int.h):
 * - owner (lt_feed_owner.c): subscriptions from peers, each streaming signed
 *   batches read from the log while it has credit;
 * - replica (lt_feed_replica.c): the feeds this gateway consumes, verified
 *   before anything is unpacked and applied with the cursor in one
 *   transaction;
 * - sink (lt_feed_sink.c): local sink adapters attached to a stream, fed
 *   from the log with credit;
 * - lt_feed.c: the streams, reading the log, and the poll loop's calls.
 * All of it runs in the gateway's poll loop; lt_feed_pump sends whatever
 * credit allows, lt_feed_tick drives timers. */
#ifndef LT_FEED_H
#define LT_FEED_H

#include "lienthong.pb-c.h"
#include "lt_fresh.h"
#include "lt_gwctx.h"
#include "lt_wire.h"

typedef struct _lt_feed_t lt_feed_t;

/* Opens the replicas ctx->cfg lists (their streams and cursors in
 * ctx->store); links to owners come from ctx->peers, feed starts, stops and
 * refusals go to ctx->audit. ctx must outlive the object. NULL when out of
 * memory, with too many streams, or on a store failure. */
lt_feed_t *lt_feed_new(const lt_gwctx_t *ctx);
void lt_feed_destroy(lt_feed_t **self_p);

/* ---- owner ---- */

/* Messages on the peer ROUTER, authorised by in->user_id. */
void lt_feed_on_subscribe(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                          const Lienthong__Subscribe *m);
void lt_feed_on_credit(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                       const Lienthong__Credit *m);
void lt_feed_on_unsubscribe(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__Unsubscribe *m);
/* The peer socket was rebound; every subscription is gone. */
void lt_feed_drop_peers(lt_feed_t *self);
/* ctx->dir changed: re-checks every subscription against the policies and
 * drops (telling the consumer on peer_sock, if not NULL) those no longer
 * allowed or whose member is no longer active (PROTOCOL.md 6.6). */
void lt_feed_dir_changed(lt_feed_t *self, void *peer_sock);

/* The directory in use expired (PROTOCOL.md 5.6): ends every subscription,
 * telling each consumer on peer_sock (ERR_DIRECTORY, "STREAM: why"). */
void lt_feed_stop_serving(lt_feed_t *self, void *peer_sock, const char *why);

/* ---- replica ---- */

/* A reload added stream to the subscriptions: its replica opens at its
 * durable cursor and subscribes on the next tick. Returns 0, or -1 when it
 * cannot (too many subscriptions or streams, the store failing), with err. */
int lt_feed_replica_add(lt_feed_t *self, const char *stream, char *err, size_t errlen);
/* A reload removed stream: the feed is unsubscribed and the replica
 * closed; what it holds stays in the store, so adding it back resumes. */
void lt_feed_replica_remove(lt_feed_t *self, const char *stream);

/* A batch arrived on the link to owner: checked, applied and committed on
 * the store of the poll loop, its credit given back (tests, fuzzing, and
 * lt_linkrx without a queue). The gateway does the same in three steps, so
 * that the commit runs on the writer thread (docs/ARCHITECTURE.md 6). */
void lt_feed_on_batch(lt_feed_t *self, const char *owner, const Lienthong__Batch *b);

/* A verified batch on its way into the store. */
typedef struct _lt_feed_apply_t lt_feed_apply_t;
/* Step 1, on the poll loop: every check of PROTOCOL.md 6.5 (stream,
 * sequence, signature, history). NULL when the batch was handled here
 * (refused, stale; logged); else the job, which reads b until step 3, so b
 * must live until then. link: the socket it came on; the credit goes back
 * there only if it is still the owner's link at step 3. Several batches of
 * a replica may be between steps 1 and 3 (the gateway reads a link on
 * while it holds fewer than LT_FEED_AHEAD): each follows on the cursor the
 * one before will leave, while they are of the current subscription and
 * cursor row. */
lt_feed_apply_t *lt_feed_batch_check(lt_feed_t *self, const char *owner, const Lienthong__Batch *b,
                                     const void *link);
/* Step 2 takes a group: one or more batches, of one or more replicas, in
 * the order they were checked (docs/ARCHITECTURE.md 6). */
typedef struct {
    lt_feed_apply_t *jobs[LT_FEED_GROUP_BATCHES];
    size_t n;
} lt_feed_group_t;
/* On the poll loop, before step 2: marks the jobs of g that must not run
 * (their replica gone, stopped, subscribed again, or its durable cursor not
 * the one the job follows on: a batch before it failed or was dropped).
 * Returns how many will run. */
size_t lt_feed_group_plan(lt_feed_t *self, lt_feed_group_t *g);
/* Step 2, an lt_writer_fn on an lt_feed_group_t (on the writer thread with
 * its connection, or on the poll loop's): each job not marked has its
 * records unpacked, checked and written with its cursor, all in one
 * transaction; reads nothing of the feed. When a job fails, nothing of the
 * group is kept: the jobs of its replica say why and the others did not
 * run; when the store fails, every job says why. */
void lt_feed_group_apply(void *group, lt_store_t *store);
/* Step 3, on the poll loop: the cursor moves and the credit goes back when
 * it committed; the replica backs off when it failed, and subscribes again
 * from its durable cursor when it did not run. Frees *job. */
void lt_feed_batch_done(lt_feed_t *self, lt_feed_apply_t **job);
/* Records in a job's batch (to size a group). */
size_t lt_feed_batch_records(const lt_feed_apply_t *job);
/* Frees *job without telling its replica: when the feed itself goes. */
void lt_feed_batch_free(lt_feed_apply_t **job);

/* An error arrived on the link to owner. 1 when it answered a Range of a
 * replica (PROTOCOL.md 6.10, by its request_id) and is the feed's alone,
 * else 0. */
int lt_feed_on_error(lt_feed_t *self, const char *owner, const Lienthong__Error *e);
/* The owner says our cursor is not on the stream's history (6.9). */
void lt_feed_on_history_changed(lt_feed_t *self, const char *owner,
                                const Lienthong__HistoryChanged *m);
/* Starts resynchronising the replica of stream from its owner's current
 * history (a Resync on the local socket, 8.3): the replica keeps its
 * content until a complete copy replaces it in one transaction. Returns
 * 0, or -1 with the reason (not replicated here, store failure). */
int lt_feed_resync(lt_feed_t *self, const char *stream, char *err, size_t errlen);
/* What a reader of a replica (the pre-fill, PROTOCOL.md 8.8) knows of it:
 * the content readers see, and how far it can be trusted to be current. */
typedef struct {
    const char *stream;
    int64_t id;          /* store id of the content readers see (not a resync's copy) */
    uint64_t last_seq;   /* the last seq applied to that content */
    const char *state;   /* "ok", "behind", "forked" or "resyncing" */
    char detail[320];    /* why it is not "ok", or "" */
    int64_t heard_at_ms; /* unix ms the owner was last heard (now when connected), 0 never */
} lt_feed_replica_info_t;

/* The streams this gateway replicates, in configuration order. */
size_t lt_feed_replica_count(const lt_feed_t *self);
/* The replica at index i (< count) or called stream (i ignored when stream
 * is not NULL). 0, or -1 when there is no such replica. */
int lt_feed_replica_info(lt_feed_t *self, size_t i, const char *stream,
                         lt_feed_replica_info_t *out);
/* A reader of stream met a damaged record at seq (LT_STORE_DAMAGED): it is
 * logged once and asked again from the owner (PROTOCOL.md 6.10). */
void lt_feed_read_damaged(lt_feed_t *self, const char *stream, uint64_t seq);
/* A part of a snapshot arrived on the link to owner (PROTOCOL.md 6.7):
 * staged apart from the replica, which the end replaces in one
 * transaction once it verifies. */
void lt_feed_on_snapshot_chunk(lt_feed_t *self, const char *owner, void *link_sock,
                               const Lienthong__SnapshotChunk *c);
void lt_feed_on_snapshot_end(lt_feed_t *self, const char *owner, const Lienthong__SnapshotEnd *e);
/* Owner: a replica asks for records again to repair them (PROTOCOL.md 6.10). */
void lt_feed_on_range_request(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                              const Lienthong__Range *m);
/* Consumer: the owner's answer, verified and written back. */
void lt_feed_on_range_batch(lt_feed_t *self, const char *owner, const Lienthong__Range *m);

/* ---- sink ---- */

/* Messages from sink adapters on the local ROUTER. */
void lt_feed_on_sink_attach(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__SinkAttach *m);
void lt_feed_on_deliver_ack(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            const Lienthong__DeliverAck *m);

/* ---- all roles ---- */

/* The owner's log of stream grew to last_seq by appended records, which
 * *fresh holds when not NULL (an lt_publish_advanced_fn): the feed keeps
 * them to send (lt_fresh.h). */
void lt_feed_advanced(void *self, const char *stream, uint64_t last_seq, uint64_t appended,
                      lt_fresh_run_t **fresh);
/* Sends what credit allows; returns the number of messages sent. */
int lt_feed_pump(lt_feed_t *self, void *peer_sock, void *local_sock);
/* Subscribes, refreshes and backs off consumer feeds; drops subscriptions
 * of lost peers and ends idle snapshots (owner); prunes and repairs; retries
 * the rebuild of stale views, only while the writer thread has no job in
 * hand (lt_writer_busy). */
void lt_feed_tick(lt_feed_t *self);
/* 1 when lt_feed_tick is due to retry a stale view's rebuild: the caller
 * takes the writer's job back first, as before adopting a directory. */
int lt_feed_views_due(const lt_feed_t *self);

/* The owner's subscriber lines, kept in the store so that a restart shows
 * them (docs/ARCHITECTURE.md 4.1, schema step 12): a job writing them for
 * lt_feed_lines_run on the idle writer thread, or NULL when none is due.
 * One is due soon after a line came, went or changed reason (never within
 * LT_FEED_LINES_GAP_MS of the last one handed out, so that subscriptions
 * coming and going in a loop cannot keep the writer rewriting the table),
 * else at most every LT_FEED_LINES_MS when a cursor moved, and every
 * LT_FEED_LINES_IDLE_MS while a subscriber is connected (when it was last
 * seen). Nothing is written per batch sent, nor before the stored lines
 * were read (a failed read at start is tried again at each look). The job
 * is the feed's until lt_feed_lines_done takes it back. */
#define LT_FEED_LINES_GAP_MS  1000
#define LT_FEED_LINES_MS      5000
#define LT_FEED_LINES_IDLE_MS 60000
void *lt_feed_lines_job(lt_feed_t *self);
/* An lt_writer_fn: writes the job's lines with store (NULL, the writer's
 * connection lost: the job fails, "store unavailable"). */
void lt_feed_lines_run(void *job, lt_store_t *store);
/* The job is back from the writer (logged when it failed; tried again at
 * the next look). A job handed back without having run (the writer
 * refused it) reads as failed. */
void lt_feed_lines_done(lt_feed_t *self, void *job);
/* 1 when job is the feed's lines job. */
int lt_feed_lines_is(const lt_feed_t *self, const void *job);
/* At the stop, the writer quiet: writes the lines now with the poll loop's
 * connection, every connected one as last seen now. */
void lt_feed_lines_flush(lt_feed_t *self);

/* 1 when view is an owned view whose definition changed and whose rebuild
 * has not succeeded (lt_feed_views.c): its records follow an old
 * definition, and neither its feed nor a lookup or verify on it is served
 * (PROTOCOL.md 6.1, 7.5); else 0. */
int lt_feed_view_stale(const lt_feed_t *self, const char *view);

/* A number that changes whenever a stream this member owns grew or was
 * rebuilt: the gateway rewrites its high-water file (lt_history), which
 * lists only owned streams, when it changed. */
uint64_t lt_feed_generation(const lt_feed_t *self);

/* ctx->cfg's max_message changed: the records per batch follow. */
void lt_feed_limits_changed(lt_feed_t *self);

/* Sets the gauges of the quality figures that are read, not counted
 * (PROTOCOL.md 8.9): completeness from the store, the age of each stream's
 * newest change and each subscriber's lag in seconds. Before an exposition. */
void lt_feed_quality_refresh(lt_feed_t *self);

/* Adds stream entries and what adapters may publish or attach to (grants,
 * PROTOCOL.md 8.3) to a status reply; free with lt_feed_status_free. */
void lt_feed_status(lt_feed_t *self, Lienthong__StatusReply *r);
void lt_feed_status_free(Lienthong__StatusReply *r);

#endif

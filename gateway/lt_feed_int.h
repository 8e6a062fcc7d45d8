/* lt_feed_int: the feed class's internal header. lt_feed is one class
 * split by role into the lt_feed_*.c files (lt_feed.c: streams, reading the
 * log, pump, tick, status; lt_feed_owner.c: subscriptions served to peers,
 * PROTOCOL.md 6.2, 6.3; lt_feed_replica.c: feeds this gateway consumes,
 * 6.5; lt_feed_sink.c: local sink adapters, 8.2; and the snapshot,
 * staging, retention, history, repair, quality and views files), which all
 * work on the same streams and state. So the lt_feed_t structure, its parts
 * and the functions one file calls in another are here, included by those
 * files only, not in lt_feed.h, which the rest of the gateway includes. */
#ifndef LT_FEED_INT_H
#define LT_FEED_INT_H

#include "lt_arena.h"
#include "lt_batch.h"
#include "lt_crypto.h"
#include "lt_dirpick.h"
#include "lt_err.h"
#include "lt_feed.h"
#include "lt_fresh.h"
#include "lt_snap.h"
#include "lt_stats.h"
#include "lt_store_snap.h"
#include "lt_tail.h"
#include "lt_tally.h"

/* What follows "STREAM: " in the ERR_NOT_FOUND an owner answers a Credit or
 * Unsubscribe with when it holds no such subscription (PROTOCOL.md 6.2). A
 * consumer that gets it re-subscribes soon: most often it answers a credit
 * sent just before the owner ended the subscription (HistoryChanged after a
 * view rebuilt), and a new Subscribe is never refused for it. */
#define LT_FEED_NO_SUBSCRIPTION "no subscription"

/* A stream this gateway holds: its store id and last durable seq. */
typedef struct {
    char name[LT_STREAM_ID_MAX];
    int64_t id;
    uint64_t last_seq;
    uint64_t tail_first; /* first seq of the retained log tail (PROTOCOL.md 6.8) */
    uint64_t sweep_seq;  /* next seq the sweep below the tail looks at; 0: none running */
    uint64_t swept_last; /* last_seq when the last sweep started */
    uint64_t kept_below; /* rows kept below the tail (as last counted) */
    uint64_t sweep_kept; /* rows the running sweep kept so far */
    int64_t sweep_at;    /* monotonic ms before which no sweep starts */
    /* Pruning met a damaged record at the tail (lt_feed_retain.c): the
     * monotonic ms before which it does not try again. */
    int64_t prune_wait_at;
    uint64_t rate_seq; /* appended count at rate_at, for records/s */
    int64_t rate_at;
    double rate;
    char source_cursor[LT_CURSOR_TEXT_MAX]; /* text for the last status reply */
    /* Owner: the history of the stream's log (PROTOCOL.md 6.9), loaded
     * with the stream, assigned on first use by lt_feed_history_own. */
    uint8_t history[LT_HISTORY_BYTES];
    int has_history;
    /* Replaced (a replica resynchronised, a view rebuilt) since the last
     * sink attached from seq 1 or took a replacement: a sink resuming on
     * its old cursor would mix histories. Only in memory: a sink that keeps
     * its history is compared with the stream's instead (PROTOCOL.md 8.2). */
    int replaced;
    /* Owner: a view whose definition changed and whose rebuild failed
     * (lt_feed_views.c): its records follow the old definition, so nothing
     * of it is served until a rebuild succeeds. */
    int stale;
    lt_stats_series_t *st_last_seq; /* lienthong_stream_last_seq{stream} */
    lt_stats_series_t *st_appended; /* lienthong_stream_appended{stream} */
    /* Damage met in the store (lt_feed_repair.c): the run logged, 0 when
     * none; the first seq of the range last asked again, and when, and the
     * request_id of that Range, which the owner's Error echoes (6.10);
     * repair_waiting while its answer is awaited: set when it is sent,
     * ended by the first answer refused or not written. */
    uint64_t damaged_first, damaged_last, repair_first;
    int64_t repair_at;
    uint64_t repair_rid;
    int repair_waiting;
    /* Not a replica (nothing fetches the run again): the monotonic ms at
     * which the run is read again, to notice an operator's repair, and the
     * wait after that, doubling while it stays damaged. */
    int64_t recheck_at, recheck_wait;
} lt_feed_stream_t;

/* Records read from the log for one Batch or Deliver, reused between
 * reads so that the pump does not allocate per batch. */
typedef lt_batch_recs_t lt_feed_chunk_t;

/* A snapshot (PROTOCOL.md 6.7) or a sink's replacement (8.2) being sent:
 * a consistent reading of the state, and the chunk read last, kept until
 * it is sent (the reading cannot go back). */
typedef struct {
    lt_store_snap_t *rd;
    uint64_t seq;   /* S */
    uint64_t index; /* leaf index of the next chunk */
    uint8_t prev[LT_HASH_BYTES];
    lt_snap_merkle_t acc;
    lt_feed_chunk_t chunk;
    uint8_t sig[LT_SIG_BYTES], hash[LT_HASH_BYTES];
    int unsent;          /* chunk is read (and signed) but not sent yet */
    int done;            /* every record was sent */
    int64_t progress_at; /* monotonic ms it started or last sent a part */
    int64_t started_at;  /* monotonic ms it started (LT_SNAP_RUN_MS) */
    int peer;            /* to a peer, not a local sink (LT_SNAP_SINK_PLACES) */
} lt_feed_snap_t;

/* The log kept for a subscriber after its snapshot or replacement ended
 * (LT_SNAP_HOLD_MS, PROTOCOL.md 6.8): from its next seq, while that is
 * within from..to (S + 1 to the stream's last seq when it ended) and
 * until `until` (monotonic ms; 0: none). */
typedef struct {
    uint64_t from, to;
    int64_t until;
} lt_feed_hold_t;

/* Owner: one peer's subscription (keyed by routing id and stream). */
typedef struct {
    uint8_t rid[LT_RID_MAX];
    size_t rid_len;
    char member[LT_ID_MAX];
    lt_feed_stream_t *stream;
    uint64_t next;
    uint8_t prev[LT_HASH_BYTES];
    int64_t credit;
    int snap_wanted;                       /* Subscribe.snapshot: send a snapshot first */
    lt_feed_snap_t *snap;                  /* the snapshot being sent, or NULL */
    lt_feed_hold_t hold;                   /* the log kept after it ended */
    const char *fail;                      /* why a send gave up (logged on the drop), or NULL */
    lt_stats_series_t *st_cursor, *st_lag; /* {stream, subscriber} */
} lt_feed_sub_t;

/* Owner: a subscription that ended, kept for status (PROTOCOL.md 8.3)
 * until its member subscribes to the stream again. */
typedef struct {
    char member[LT_ID_MAX];
    lt_feed_stream_t *stream;
    uint64_t cursor;  /* last seq sent; 0 once the history was replaced */
    int64_t since_ms; /* unix ms when it ended */
    char reason[128];
} lt_feed_gone_t;

/* What the reason of an ended line gains when its stream's history is
 * replaced after it ended (lt_feed_owner_renumbered). */
#define LT_FEED_HISTORY_REPLACED "; history replaced since"

/* Records of a log at last_seq not yet sent from cursor; never wraps (a
 * cursor past the end counts as caught up). */
static inline uint64_t lt_feed_behind(uint64_t last_seq, uint64_t cursor)
{
    return last_seq > cursor ? last_seq - cursor : 0;
}

/* Why a sink is detached at the next pump (lt_feed_sink_pump), which tells
 * it so. A replaced stream outranks an ended replacement: the sink must
 * rebuild from seq 1 either way. */
typedef enum {
    LT_SINK_KEEP = 0,
    LT_SINK_REPLACED, /* the stream's content was replaced (6.9) */
    LT_SINK_REBUILT,  /* its replacement was ended by a store rebuild (8.2) */
    LT_SINK_STALE,    /* a view whose rebuild failed: not served (6.1, lt_feed_views.c) */
    LT_SINK_IDLE,     /* its replacement got no DeliverAck for LT_SNAP_IDLE_MS (8.2) */
    LT_SINK_OVERDUE,  /* its replacement ran past its deadline (LT_SNAP_RUN_MS, 8.2) */
} lt_feed_detach_t;

/* Local: a sink adapter attached to a stream. */
typedef struct {
    uint8_t rid[LT_RID_MAX];
    size_t rid_len;
    lt_feed_stream_t *stream;
    uint64_t next, acked;
    int64_t credit;
    int replace_ok;          /* SinkAttach.replace: it can take a replacement */
    lt_feed_snap_t *snap;    /* the replacement being sent, or NULL */
    lt_feed_hold_t hold;     /* the log kept after it ended */
    int awaiting;            /* a replacement Deliver is not yet acknowledged */
    int rebuild;             /* its cursor is on another history: replaced from the start (8.2) */
    lt_feed_detach_t detach; /* set: detached, and told why, at the next pump */
    /* Its SinkAttach's from_seq and history_id: an idle sink attaches again
     * every few seconds at the same ones, which is not logged at info. */
    uint64_t attach_from;
    uint8_t attach_history[LT_HISTORY_BYTES];
    size_t attach_history_len;
} lt_feed_sink_t;

/* Something an owner can make a replica do again at will, at a cost to
 * it (a full copy, a Subscribe, a staging copy emptied): counted in a row,
 * each within an hour of the one before (and, for what progress ends, no
 * progress a minute or more after the wait that followed the last,
 * lt_feed_repeat_progress). The first of a row is done at once; each
 * after it waits, 1 s and then twice as long each time up to 30 min
 * (lt_feed_repeat, lt_feed_history.c). The feed's failures keep their
 * row here too, with waits of their own (lt_feed_replica_backoff): only
 * progress ends theirs, no hour of quiet, as their waits stop at 60 s. */
typedef struct {
    uint64_t n;   /* in the row */
    int64_t at;   /* monotonic ms of the last */
    int64_t wait; /* the wait the last one got */
} lt_feed_repeat_t;

/* FORKED: the owner's history is not the one of our cursor (PROTOCOL.md
 * 6.9); the feed stays stopped until a resynchronisation. */
typedef enum { LT_FEED_IDLE, LT_FEED_LIVE, LT_FEED_BACKOFF, LT_FEED_FORKED } lt_feed_state_t;

/* Consumer: a stream we replicate from its owner. */
typedef struct {
    lt_feed_stream_t *stream;
    char owner[LT_ID_MAX];
    /* Durable cursor (last_seq, last_hash, history) of the row batches are
     * applied to: the stream's own, or while resyncing its shadow. */
    lt_stream_t cursor;
    int resyncing;          /* applying into the shadow row (6.9) */
    uint64_t resync_target; /* swap the shadow in at this seq */
    /* The copy reached resync_target but the swap failed (a busy or full
     * store): it is tried again from the tick at swap_at (monotonic ms),
     * backing off by swap_backoff, as no batch may come to try it. 0: no
     * swap pending. */
    int64_t swap_at, swap_backoff;
    char swap_why[160];    /* why the last swap failed, for status */
    char fork_detail[256]; /* why the feed forked, or how its resync goes, for status */
    /* Forks in a row: an automatic copy after the first of them waits
     * (lt_feed_history.c), as each copy is a full re-fetch an owner
     * announcing history after history would force. */
    lt_feed_repeat_t forks;
    /* Batches overlapping the cursor (each answered by a Subscribe) and
     * snapshots started again at index 0 (each empties the staging copy),
     * in a row with no batch or snapshot applied a minute or more after
     * the last of them: after the first, the feed stops and subscribes
     * again only after the wait. */
    lt_feed_repeat_t overlaps, restarts;
    /* Failures that stopped the feed (a batch failing its checks, an
     * Error, a store failure; lt_feed_replica_backoff) in a row, with no
     * batch or snapshot applied a minute or more after the wait that
     * followed the last (lt_feed_repeat_progress): wait is the back-off
     * the last got, doubled for the next. */
    lt_feed_repeat_t fails;
    /* Stops since a batch or snapshot was last applied, and when the first
     * of them was (monotonic ms): their log lines are counted (stop_log),
     * and the next one applied ends them with one line. */
    uint64_t stops;
    int64_t stops_since;
    lt_feed_state_t state;
    int64_t outstanding; /* credit the owner still holds for us */
    int64_t next_at;     /* monotonic ms of the next (re)subscribe */
    int64_t last_batch_at;
    uint64_t discarded;
    /* A Subscribe replaced one the owner may still be streaming: what it
     * sent before it took the new one is still on its way, so until a
     * batch or snapshot is applied a batch that does not follow on is
     * stale (PROTOCOL.md 6.6), not a gap. */
    int stale_ahead;
    /* Verified batches being committed (lt_feed_batch_check to
     * lt_feed_batch_done). While the last of them is of the current
     * subscription (ahead_gen) and cursor row, the next batch follows on
     * `ahead`, the cursor they will leave, and must come on ahead_link
     * (docs/ARCHITECTURE.md 6). */
    int applying;
    lt_stream_t ahead;
    const void *ahead_link;
    uint64_t ahead_gen; /* the subscription `ahead` is of: another's is not followed on */
    /* A batch that came while others were being committed and would stop
     * or restart the feed (it overlaps `ahead`, or fails its checks): what
     * it calls for waits until they are done, since a failure among them
     * is the first cause, and what comes meanwhile is dropped as stale. */
    enum { LT_FEED_DEFER_NONE, LT_FEED_DEFER_OVERLAP, LT_FEED_DEFER_FAIL } deferred;
    char deferred_why[400];
    uint64_t deferred_gen; /* the subscription it was deferred on */
    uint64_t sub_gen;      /* counts Subscribes, so that a commit knows whose credit it owes */
    /* A Subscribe was sent since the last empty snapshot was taken: only
     * then may one come (PROTOCOL.md 6.7). Each costs a synced swap and an
     * audit row, which an owner sending them unasked would repeat at wire
     * speed (lt_feed_on_snapshot_end). */
    int empty_asked;
    /* Counts the times `cursor` was replaced other than by a commit of its
     * batches (a resynchronisation started or finished, a snapshot swapped
     * in): a batch checked before does not follow on the new cursor even
     * where the new one has the same row and seq (a copy started again). */
    uint64_t cursor_gen;
    struct lt_feed_stage *stage;           /* a snapshot being received, or NULL */
    lt_stats_series_t *st_cursor, *st_lag; /* lienthong_replica_*{stream} */
    lt_stats_series_t *st_forked;          /* lienthong_replica_forked{stream} */
    lt_stats_series_t *st_forks;           /* lienthong_replica_forks{stream} */
    lt_stats_series_t *st_overlaps;        /* lienthong_replica_overlaps{stream} */
    lt_stats_series_t *st_restarts;        /* lienthong_replica_snapshot_restarts{stream} */
    lt_stats_series_t *st_damaged;         /* lienthong_replica_damaged{stream} */
    lt_stats_series_t *st_repair_resyncs;  /* lienthong_replica_repair_resyncs{stream} */
} lt_feed_replica_t;

struct _lt_feed_t {
    const lt_gwctx_t *ctx;
    /* The directories kept as retired (PROTOCOL.md 6.10), opened once for
     * the tail checks of all replicas (lt_feed_check_tail), again after an
     * adoption, which may have kept one more. */
    lt_dirpick_retired_t retired;
    int retired_open;
    lt_feed_stream_t streams[LT_FEED_MAX_STREAMS];
    size_t n_streams;
    lt_feed_sub_t subs[LT_FEED_MAX_SUBS];
    size_t n_subs;
    lt_feed_gone_t gone[LT_FEED_MAX_SUBS];
    size_t n_gone;
    lt_feed_sink_t sinks[LT_FEED_MAX_SINKS];
    size_t n_sinks;
    lt_feed_replica_t replicas[LT_GWCFG_MAX_SUBS];
    size_t n_replicas;
    size_t batch_bytes; /* record bytes per batch: fits half the frame cap */
    lt_feed_chunk_t chunk;
    lt_tail_t *tail;      /* owner: batches sent lately (lt_tail.h) */
    lt_fresh_t *fresh;    /* owner: records committed lately (lt_fresh.h) */
    lt_arena_t *arena;    /* replica: one received record decoded at a time */
    uint8_t *leaves;      /* replica: the leaves of the batch being checked */
    lt_tally_t *stop_log; /* replica: the stops of the feeds, logged per stream once a minute */
    size_t n_snaps;       /* snapshots and replacements being sent */
    size_t n_peer_snaps;  /* of those, snapshots to peers */
    int64_t prune_at;     /* monotonic ms of the next pruning step */
    int64_t owner_at;     /* monotonic ms of the next look for lost consumers */
    size_t prune_next;    /* stream the next step looks at first */
    /* Families of the statistics, whose series the streams, subscriptions
     * and replicas above keep. */
    lt_stats_family_t *f_last_seq, *f_appended, *f_sub_cursor, *f_sub_lag, *f_rep_cursor,
        *f_rep_lag, *f_rep_forked, *f_rep_forks, *f_rep_damaged, *f_rep_repair_resyncs,
        *f_rep_overlaps, *f_rep_restarts;
    /* lt_feed_quality.c: completeness and liveness (PROTOCOL.md 8.9). */
    lt_stats_family_t *f_records, *f_present, *f_newest_age, *f_sub_lag_time;
    lt_stats_series_t *st_commit;   /* store commit latency of replica batches */
    lt_stats_series_t *st_writable; /* lienthong_store_writable, shared with lt_publish */
    uint64_t generation;            /* owned streams grown so far (lt_feed_generation) */
    int64_t views_retry_at;         /* monotonic ms of the next rebuild of stale views; 0 none */
    size_t n_stale; /* streams marked stale (lt_feed_view_stale reads none while 0) */
    /* lt_feed_lines.c: the subscriber lines kept in the store. lines_dirty
     * when a line came, went or changed reason since the last save (written
     * at the writer's next turn once LT_FEED_LINES_GAP_MS passed since the
     * last save began), else a look every LT_FEED_LINES_MS. */
    int lines_dirty;
    int lines_busy;                   /* lines_job is with the writer thread */
    int lines_failing;                /* the last save failed (logged once until one succeeds) */
    int lines_loaded;                 /* the stored lines were read: none is written before */
    int lines_unread;                 /* reading them failed (logged once until it succeeds) */
    int64_t lines_at;                 /* monotonic ms of the next look */
    int64_t lines_gap_at;             /* monotonic ms before which no save starts, even dirty */
    int64_t lines_saved_at;           /* monotonic ms of the last save */
    uint8_t lines_sum[LT_HASH_BYTES]; /* digest of the lines as last saved (cursors, reasons) */
    struct _lt_feed_lines_job_t *lines_job;
};

/* ---- lt_feed_views.c ---- */

/* Compares each view this member owns in ctx->dir with the definition its
 * records were derived with, and rebuilds those that changed (or are new
 * to a dataset with records) from the dataset's current state on a new
 * history; empties the views the directory no longer lists. Subscriptions
 * to a rebuilt view end, their consumers told on peer_sock (when not
 * NULL). Logged and audited. */
void lt_feed_views_sync(lt_feed_t *self, void *peer_sock);
/* Tries again, once a minute, the rebuilds that failed. */
void lt_feed_views_tick(lt_feed_t *self);
/* Writes into buf[len] what a stale view (one whose rebuild failed) is
 * refused with, ERR_UNAVAILABLE's message (PROTOCOL.md 6.1), and returns
 * buf: to a subscription, to a sink attaching or detached, and in the
 * gateway's log of the detach, the same text. */
const char *lt_feed_view_stale_text(char *buf, size_t len, const char *view);

/* ---- lt_feed_owner.c ---- */

/* The records of st were replaced (a view rebuilt or emptied): every
 * subscription to it ends, its consumer told on peer_sock (when not NULL)
 * with HistoryChanged from history `was` (NULL: none), or with
 * Error{ERR_UNAVAILABLE, why} when st is not served. */
void lt_feed_owner_replaced(lt_feed_t *self, void *peer_sock, lt_feed_stream_t *st,
                            const uint8_t *was, const char *why);
/* The records of st were renumbered on a new history (after
 * lt_feed_owner_replaced, why its reason): the cursors of its ended lines
 * count on the old numbering, so they go back to 0 and each line says the
 * history was replaced (docs/operations.md "Quality figures"). */
void lt_feed_owner_renumbered(lt_feed_t *self, const lt_feed_stream_t *st, const char *why);

/* Keeps (or updates) the ended line of member on st, as status shows it
 * until member subscribes again; the oldest line makes room when the
 * table is full. Marks the lines to be saved. */
lt_feed_gone_t *lt_feed_gone_put(lt_feed_t *self, const char *member, lt_feed_stream_t *st,
                                 uint64_t cursor, int64_t since_ms, const char *why);
/* 1 when member has a live subscription to st: its ended line, if any (an
 * older connection's subscription ended after the new one began), is not
 * shown. */
int lt_feed_subscribed(const lt_feed_t *self, const char *member, const lt_feed_stream_t *st);
/* Forgets g (a pointer into self->gone, whose last line takes its place). */
void lt_feed_gone_drop(lt_feed_t *self, lt_feed_gone_t *g);
/* g's stream was renumbered on a new history (why: the replacement's own
 * reason, NULL none): cursor 0, its reason saying so once. */
void lt_feed_gone_renumbered(lt_feed_gone_t *g, const char *why);

/* ---- lt_feed_lines.c ---- */

/* Loads the lines the store kept (schema step 12) as ended lines, those of
 * a subscriber still listed and allowed on a stream this member owns, the
 * newest first (the oldest give way when they are more than the feed
 * holds); one connected when the gateway stopped ends then, "gateway
 * restarted". At creation, before the views are compared with the
 * directory. When the store cannot be read, lines_loaded stays 0: nothing
 * is written over the stored lines, and lt_feed_lines_job reads them
 * again at its next look. */
void lt_feed_lines_load(lt_feed_t *self);
/* After a directory adoption: the ended lines of a member no longer
 * listed, or of a stream it may no longer subscribe to (not owned here,
 * or not allowed by the policies), go, from status, the statistics (set
 * to 0) and the store (docs/operations.md "State"). */
void lt_feed_lines_prune(lt_feed_t *self);
/* Frees the job (lt_feed_destroy; the writer thread is gone). */
void lt_feed_lines_free(lt_feed_t *self);

/* ---- lt_feed.c ---- */

/* Waits for the writer thread's job (a group of replica batches may be
 * writing into a row) before the poll loop replaces or clears a replica's
 * row: the job then committed before, into the row as it was, and comes
 * back as moved (lt_feed_batch_done). 0, or -1 logged (why: what cannot be
 * done). */
int lt_feed_writer_settle(lt_feed_t *self, const char *why);

/* The stream called name, opened in the store on first use; NULL when the
 * table is full or the store fails (logged). */
lt_feed_stream_t *lt_feed_stream(lt_feed_t *self, const char *name);
/* The stream called name if it is open, else NULL: a lookup only, for
 * callers that must not open one (a view's staleness, a view emptied).
 * Like strchr, it takes a const feed for readers and gives the entry. */
lt_feed_stream_t *lt_feed_stream_find(const lt_feed_t *self, const char *name);
/* What st keeps of its store row, set as opening the stream reads it:
 * row's id, last seq and history, tail_first (the row's retained tail,
 * PROTOCOL.md 6.8), and no retention sweep or damage known. For a stream
 * whose contents were replaced under it (a resynchronisation or a
 * snapshot swapped in, 6.9, 6.7; a view rebuilt, 6.1), so that it is as a
 * restart would load it. The statistics are lt_feed_stream_grew's. */
void lt_feed_stream_load(lt_feed_stream_t *st, const lt_stream_t *row, uint64_t tail_first);
/* The stream grew to last_seq by appended records: its statistics, and
 * the lag of its subscriptions. */
void lt_feed_stream_grew(lt_feed_t *self, lt_feed_stream_t *st, uint64_t last_seq,
                         uint64_t appended);
/* The same for a stream this member owns (a dataset or view it writes),
 * which also moves lt_feed_generation: a replica's growth does not, since
 * the high-water file lists only owned streams (lt_history). */
void lt_feed_owned_grew(lt_feed_t *self, lt_feed_stream_t *st, uint64_t last_seq,
                        uint64_t appended);
/* The owner of a dataset or view id in dir, or NULL. */
const char *lt_feed_owner_of(const lt_dir_t *dir, const char *stream);
/* Reads up to max records of st from seq into self->chunk (emptied
 * first), within the batch limits. Returns the count, LT_STORE_DAMAGED when
 * the record at seq is damaged (reported through lt_feed_damaged), or -1
 * (logged). */
int lt_feed_chunk_read(lt_feed_t *self, lt_feed_stream_t *st, uint64_t seq, int64_t max);
/* Reads records first..last of st, for a Range (PROTOCOL.md 6.10), into
 * self->chunk within the frame, not the batch_max setting: returns as
 * lt_feed_chunk_read, fewer than asked when they do not fit one batch, or
 * LT_FEED_RANGE_BAD (logged) when first..last is not within the protocol's
 * batch limits and st's last seq (lt_feed_range_fits). */
int lt_feed_chunk_read_range(lt_feed_t *self, lt_feed_stream_t *st, uint64_t first, uint64_t last);
#define LT_FEED_RANGE_BAD (-3)
/* 1 when records first..last of st may be read as one range: from seq 1,
 * not past st's last seq, at most LT_BATCH_MAX_RECORDS (PROTOCOL.md 6.10). */
int lt_feed_range_fits(const lt_feed_stream_t *st, uint64_t first, uint64_t last);
/* The records a read of st from seq for up to max (credit) would ask for:
 * max within the batch limits and the last seq; <= 0 when none. */
int64_t lt_feed_chunk_want(const lt_feed_t *self, const lt_feed_stream_t *st, uint64_t seq,
                           int64_t max);
/* An lt_store_rec_fn appending one record and its leaf to an
 * lt_feed_chunk_t. */
int lt_feed_chunk_add(void *chunk, uint64_t seq, const void *rec, size_t len,
                      const uint8_t leaf[LT_HASH_BYTES]);

/* ---- lt_feed_owner.c ---- */

/* Refuses a peer's feed request (`what`, e.g. "subscribe") through
 * lt_reject: counted, logged, audited and answered (PROTOCOL.md 4.4),
 * echoing request_id (0: none). */
void lt_feed_refuse(lt_feed_t *self, void *sock, const lt_wire_in_t *in, const char *what,
                    const char *stream, Lienthong__ErrorCode code, uint64_t request_id,
                    const char *why);
/* Policy check of PROTOCOL.md 6.2 (steps 1, 2); ERR_NONE or the refusal. */
Lienthong__ErrorCode lt_feed_may_subscribe(lt_feed_t *self, const char *member, const char *stream,
                                           char *why, size_t len);
/* Checks 1 and 2 of PROTOCOL.md 6.2 and opens the owned stream; sets *st
 * (its history assigned, 6.9) when they pass. */
Lienthong__ErrorCode lt_feed_open_owned(lt_feed_t *self, const char *member, const char *stream,
                                        lt_feed_stream_t **st, char *why, size_t len);
/* Sets the cursor and lag gauges of subscription s. */
void lt_feed_sub_gauges(lt_feed_sub_t *s);
/* Sends batches to subscriptions with credit; returns batches sent. */
int lt_feed_owner_pump(lt_feed_t *self, void *sock);
/* Drops the subscriptions of members the peer layer reports lost, and ends
 * snapshots idle for LT_SNAP_IDLE_MS (PROTOCOL.md 6.6, 6.7). */
void lt_feed_owner_tick(lt_feed_t *self);
/* Tells the consumer of s that its next record (seq, or a snapshot's leaf
 * at index when seq is 0) can never be sent in one frame: ERR_TOO_LARGE. */
void lt_feed_too_large(lt_feed_t *self, void *sock, lt_feed_sub_t *s, uint64_t seq, uint64_t index);
/* Adds the subscribers of st to its status entry. */
void lt_feed_owner_status(lt_feed_t *self, const lt_feed_stream_t *st, Lienthong__StreamStatus *ss);

/* ---- lt_feed_replica.c ---- */

/* Sets up the replica of stream (from the configuration), at its durable
 * cursor. Returns 0, or -1 when the stream cannot be opened. */
int lt_feed_replica_open(lt_feed_t *self, const char *stream);
/* The replica of stream, or NULL when this gateway does not replicate it. */
lt_feed_replica_t *lt_feed_replica_find(lt_feed_t *self, const char *stream);
/* The directory changed: feeds backing off subscribe again at once. */
void lt_feed_replica_dir_changed(lt_feed_t *self);
/* Subscribes, re-subscribes idle feeds, and ends back-offs. */
void lt_feed_replica_tick(lt_feed_t *self);
/* Subscribes f now from its cursor (PROTOCOL.md 6.6): a live feed's old
 * subscription is replaced, and what it still sends is stale. */
void lt_feed_replica_subscribe(lt_feed_t *self, lt_feed_replica_t *f);
/* Stops feed f for why and schedules the re-subscribe (at least min_ms
 * away, min_ms at most a minute); `unsubscribe` tells the owner. Logged
 * at once when it is the first stop since f last applied, else counted
 * in one line per stream a minute (docs/operations.md, "Store full or
 * failing"): over hours of a full disk, every back-off stops it again. */
void lt_feed_replica_backoff(lt_feed_t *self, lt_feed_replica_t *f, const char *why, int64_t min_ms,
                             int unsubscribe);
/* The owner made f start `what` again r->n times in a row (lt_feed_repeat
 * gave it wait ms): f stops, the owner is told to stop, and f subscribes
 * again after wait. One line for the lot, not one per message. */
void lt_feed_replica_hold(lt_feed_t *self, lt_feed_replica_t *f, const char *what,
                          const lt_feed_repeat_t *r);
/* A batch or snapshot of f was applied: the owner is making progress, so
 * what it made f start again (overlaps, snapshot restarts) and the
 * failures that stopped f start a new row, once the wait after the last of
 * the row is a minute over (lt_feed_repeat_progress). Its run of stops, if
 * any, ends with one line. */
void lt_feed_replica_progress(lt_feed_t *self, lt_feed_replica_t *f);
/* The log of the feeds' stops (lt_feed_replica_backoff), one key per
 * stream; NULL when out of memory. */
lt_tally_t *lt_feed_replica_stop_log(lt_feed_t *self);
/* Gives n records of credit back to the owner on sock. */
void lt_feed_replica_credit(lt_feed_replica_t *f, void *sock, size_t n);
/* The cursor what f receives next follows on: the one the batches being
 * committed will leave, else the durable one. */
const lt_stream_t *lt_feed_replica_at(const lt_feed_replica_t *f);

/* ---- lt_feed_stage.c (replica: snapshots received, PROTOCOL.md 6.7) ---- */

/* Forgets a snapshot abandoned before its end (stalled, refused, a
 * re-subscribe): its staged records are emptied too, so that they do not
 * hold the disk until the next snapshot or a restart; logged with why. */
void lt_feed_stage_drop(lt_feed_t *self, lt_feed_replica_t *f, const char *why);
/* The same for every replica receiving a snapshot, each of them live
 * subscribing again, after the store was rebuilt (lt_feed_store_rebuild):
 * the rebuild copies what a staging copy holds only up to its last seq,
 * which is 0 until the swap, so its records would be gone while its state
 * rows and the snapshot's running root, in memory, stayed. */
void lt_feed_stage_drop_all(lt_feed_t *self, const char *why);
void lt_feed_stage_free(lt_feed_replica_t *f);
/* 1 while f receives a snapshot (its first chunk taken, not yet ended). */
int lt_feed_stage_receiving(const lt_feed_replica_t *f);
/* Empties what a snapshot interrupted by a stop left staged for f. 0, or
 * -1 on a store failure. */
int lt_feed_stage_discard(lt_feed_t *self, const lt_feed_replica_t *f);

/* ---- lt_feed_snap.c (snapshots and replacements sent, 6.7, 8.2) ---- */

/* Sends the next part of the snapshot subscription s needs (starting it
 * when s->snap is NULL). 1 sent, 0 nothing to send now, -1 drop. */
int lt_feed_snap_send(lt_feed_t *self, void *sock, lt_feed_sub_t *s);
/* The same for a sink's replacement: one Deliver part at a time. */
int lt_feed_snap_replace(lt_feed_t *self, void *sock, lt_feed_sink_t *k);
/* A DeliverAck of the replacement part sent to k: 0, or -1 when k awaits
 * none at through_seq. After the last part, k continues from S + 1. */
int lt_feed_snap_replace_ack(lt_feed_t *self, lt_feed_sink_t *k, uint64_t through_seq);
/* Ends the replacement being sent to k when it made no progress for
 * LT_SNAP_IDLE_MS by now (monotonic ms); k is detached at the next pump,
 * to attach again (PROTOCOL.md 8.2). */
void lt_feed_snap_replace_idle(lt_feed_t *self, lt_feed_sink_t *k, int64_t now);
/* Ends a snapshot or replacement being sent (*snap_p becomes NULL). */
void lt_feed_snap_free(lt_feed_t *self, lt_feed_snap_t **snap_p);
/* Ends the snapshot of s when it made no progress for LT_SNAP_IDLE_MS by
 * now (monotonic ms); s stays, to restart it at index 0 with credit. */
void lt_feed_snap_idle(lt_feed_t *self, lt_feed_sub_t *s, int64_t now);
/* Ends every snapshot and replacement being sent, before the store file
 * is replaced (lt_feed_store_rebuild): their readings close their
 * connections to the old file. Subscriptions restart theirs from index 0;
 * sinks are detached at the next pump, to attach again. */
void lt_feed_snap_end_all(lt_feed_t *self);
/* The lowest seq a snapshot or replacement of st being sent still needs
 * kept (S + 1), or a subscriber whose one ended lately does (its next seq,
 * lt_feed_hold_t), or UINT64_MAX. */
uint64_t lt_feed_snap_floor(const lt_feed_t *self, const lt_feed_stream_t *st);

/* ---- lt_feed_retain.c (retention, 6.8) ---- */

/* One bounded pruning step when one is due. */
void lt_feed_retain_tick(lt_feed_t *self);
/* Sets the retained range of st in its status entry. */
void lt_feed_retain_status(lt_feed_t *self, const lt_feed_stream_t *st,
                           Lienthong__StreamStatus *ss);

/* ---- lt_feed_history.c ---- */

/* The owner's history of st, assigned (random, durable) when it has none.
 * Returns 0, or -1 on a store failure (logged). */
int lt_feed_history_own(lt_feed_t *self, lt_feed_stream_t *st);
/* Owner: 1 when Subscribe m names a cursor on another history than st's
 * (then tells the consumer with HistoryChanged, logs and audits), else 0. */
int lt_feed_history_refused(lt_feed_t *self, void *sock, const lt_wire_in_t *in,
                            lt_feed_stream_t *st, const Lienthong__Subscribe *m);
/* Counts one more in the row r (and in counter, when not NULL) and returns
 * how long what it starts waits: 0 for the first of a row. */
int64_t lt_feed_repeat(lt_feed_repeat_t *r, lt_stats_series_t *counter);
/* The wait after one of `wait` ms, in a row of waits that double: first
 * when there was none (less than first), else twice as long, at most max.
 * The feed's back-offs (lt_feed_repeat, lt_feed_replica_backoff, the
 * recheck of a damaged run) all grow so. */
int64_t lt_feed_wait_next(int64_t wait, int64_t first, int64_t max);
/* Progress was made: the row r ends, if the wait its last got ended a
 * minute ago or more (lt_feed_history.c says why not at once). */
void lt_feed_repeat_progress(lt_feed_repeat_t *r);
/* Consumer: the history of a verified batch or snapshot (its owner at
 * owner_last on it) against at, the cursor it follows on (the durable one,
 * or the one the batches committing will leave). 0 when it may be applied
 * (a cursor without history adopts it; a part without one is from an
 * owner older than 6.9), 1 when the owner's history forked away from ours
 * (the owner is told to stop, and the feed is stopped, see
 * lt_feed_history_forked). */
int lt_feed_history_other(lt_feed_t *self, lt_feed_replica_t *f, const lt_stream_t *at,
                          const ProtobufCBinaryData *history, uint64_t owner_last);
/* Consumer: stops f, whose cursor is not on the owner's history (at
 * owner_last in it); logs at error level, audits, and resynchronises at
 * once when the configuration says so. */
void lt_feed_history_forked(lt_feed_t *self, lt_feed_replica_t *f, const uint8_t *owner_history,
                            uint64_t owner_last);
/* Consumer: the owner no longer keeps records of f that are damaged here
 * (a Range refused, PROTOCOL.md 6.10): f resynchronises from seq 1, which
 * the owner answers with a snapshot (6.7), as after a fork; a live feed is
 * replaced by the new subscription. 0, or -1 (store, logged). */
int lt_feed_history_resync_repair(lt_feed_t *self, lt_feed_replica_t *f, const char *why);
/* Consumer: f's shadow reached its target: swaps it in; when that fails
 * (store busy or full), the swap is pending and lt_feed_history_tick tries
 * it again. */
void lt_feed_history_applied(lt_feed_t *self, lt_feed_replica_t *f);
/* Consumer: tries a pending swap of f again once it is due (by now,
 * monotonic ms). */
void lt_feed_history_tick(lt_feed_t *self, lt_feed_replica_t *f, int64_t now);
/* Consumer: f's replica was replaced, durably, by the owner's new history
 * (now; old is what it replaced): ends the resynchronisation, logs ("from
 * OWNER" then how) and audits it, and detaches the sinks (6.9). */
void lt_feed_history_resynced(lt_feed_t *self, lt_feed_replica_t *f, const lt_stream_t *old,
                              const lt_stream_t *now, const char *how);
/* Adds the history of st (and for a replica its feed's state). */
void lt_feed_history_status(lt_feed_t *self, lt_feed_stream_t *st, Lienthong__StreamStatus *ss);

/* ---- lt_feed_quality.c (completeness and liveness, 8.9) ---- */

/* Registers the families of the quality figures. 0, or -1. */
int lt_feed_quality_register(lt_feed_t *self, lt_stats_t *stats);
/* The lag in seconds of a consumer when no record it lacks can be read. */
#define LT_FEED_LAG_UNKNOWN (-1.0)
/* Seconds since the oldest record of st after cursor was changed (the
 * lag of a consumer at cursor), 0 when cursor is at the end; when that
 * record cannot be read, the next readable one's, or LT_FEED_LAG_UNKNOWN
 * when none of the few after it can be read either (docs/operations.md
 * "Quality figures"). */
double lt_feed_quality_lag(lt_feed_t *self, const lt_feed_stream_t *st, uint64_t cursor,
                           int64_t now_ms);
/* Sets the completeness and newest change of st in its status entry. */
void lt_feed_quality_status(lt_feed_t *self, const lt_feed_stream_t *st,
                            Lienthong__StreamStatus *ss);
/* Frees what lt_feed_quality_status added. */
void lt_feed_quality_status_free(Lienthong__StreamStatus *ss);

/* ---- lt_feed_repair.c ---- */

/* A read of st met a damaged record at seq: logs the damaged run once, and
 * for a replica asks the owner for it again. */
void lt_feed_damaged(lt_feed_t *self, lt_feed_stream_t *st, uint64_t seq);
/* The same for damage the store did not report, such as a record that
 * passes its checksum but does not decode: why says what is wrong. */
void lt_feed_damaged_why(lt_feed_t *self, lt_feed_stream_t *st, uint64_t seq, const char *why);
/* The stored record at seq (rec, len, which passed its checksum) decoded,
 * or NULL when it does not decode, which is damage too: then *garbled
 * (when not NULL) gets seq. Free with lienthong__record__free_unpacked. */
Lienthong__Record *lt_feed_record_decode(uint64_t seq, const void *rec, size_t len,
                                         uint64_t *garbled);
/* Before a read of up to *max records of st from seq: LT_STORE_DAMAGED when
 * seq is inside the known damaged run, else 0 with *max cut so that the
 * read stops before it. */
int lt_feed_damage_cap(lt_feed_t *self, lt_feed_stream_t *st, uint64_t seq, int64_t *max);
/* The bounded check at start of a replica (docs/ARCHITECTURE.md 4.2): the
 * last LT_STORE_TAIL_CHECK records and their batches, up to the cursor. */
void lt_feed_check_tail(lt_feed_t *self, lt_feed_stream_t *st, const lt_stream_t *cursor);
/* Asks again for damaged ranges of replicas not yet repaired; reads those
 * of the other streams again when due, and delivers them again once they
 * read clean (an operator repaired them). */
void lt_feed_repair_tick(lt_feed_t *self);
/* Tells rid on sock that st's damaged run is not delivered: Error
 * ERR_INTERNAL with its DamagedRange (PROTOCOL.md 6.10), echoing
 * request_id (0: none). */
int lt_feed_send_damaged(void *sock, const uint8_t *rid, size_t rid_len, uint64_t request_id,
                         const lt_feed_stream_t *st);
/* Consumer: 1 when e is the owner's answer to a Range a replica of owner
 * sent (its request_id, 6.10), handled here without touching the feed;
 * else 0. */
int lt_feed_on_range_error(lt_feed_t *self, const char *owner, const Lienthong__Error *e);
/* Adds the damaged run of st known here, if any, to its status entry. */
void lt_feed_repair_status(const lt_feed_stream_t *st, Lienthong__StreamStatus *ss);
/* Rebuilds the store file from what is readable (lt_store_rebuild, after
 * SQLite found a page corrupt), with the writer thread's connection and
 * the checkpointer suspended around the swap; what the feed keeps of the
 * log in memory (lt_fresh, lt_tail) is dropped, and so are the snapshots
 * being received (lt_feed_stage_drop_all) (docs/ARCHITECTURE.md 4.2,
 * "Repair"). 0 with
 * *lost the log rows left behind, or -1 with err. */
int lt_feed_store_rebuild(lt_feed_t *self, int64_t *lost, char *err, size_t errlen) LT_NODISCARD;

/* ---- lt_feed_sink.c ---- */

/* Sends Deliver messages to sinks with credit; returns messages sent. */
int lt_feed_sink_pump(lt_feed_t *self, void *sock);
/* Ends the replacements that made no progress for LT_SNAP_IDLE_MS: a sink
 * adapter gone sends nothing else, and is sent nothing while its part is
 * unacknowledged, so no failed send would ever tell (PROTOCOL.md 8.2). */
void lt_feed_sink_tick(lt_feed_t *self);
/* The content of st was replaced (PROTOCOL.md 6.9): its sinks are told
 * why and detached at the next pump, and until a sink attaches from seq 1
 * one attaching further on is refused. */
void lt_feed_sink_replaced(lt_feed_t *self, lt_feed_stream_t *st);
/* Sets out to the history a Deliver of st carries (PROTOCOL.md 8.2),
 * pointing into st; empty while st has none. */
void lt_feed_sink_history(const lt_feed_stream_t *st, ProtobufCBinaryData *out);

#endif

/* lt_limits: every protocol and implementation limit, each defined once.
 *
 * A limit the protocol fixes cites its section of proto/PROTOCOL.md and
 * changes only with the protocol. An implementation limit (how large this
 * gateway's tables and buffers are) says so, and cites the section whose
 * objects it bounds. Everything here is a plain constant, so any module,
 * program or test may include it. */
#ifndef LT_LIMITS_H
#define LT_LIMITS_H

/* ---- frames (3.1, 4.1, 4.2) ------------------------------------------------ */

/* max_message, the frame cap of every socket, when the configuration sets
 * none (3.1). */
#define LT_MAX_MESSAGE_DEFAULT (4u << 20)
/* max_message MUST NOT be below 64 KiB (3.1). */
#define LT_MAX_MESSAGE_MIN (64u << 10)
/* The largest max_message a gateway accepts (implementation, 3.1). */
#define LT_MAX_MESSAGE_MAX (256u << 20)
/* What local clients (adapters, CLI, applications) accept from their own
 * gateway: a status reply or a delivery may be larger than the frame cap
 * between peers (implementation, 8). */
#define LT_LOCAL_MAX_MESSAGE (64u << 20)
/* A routing id: ZeroMQ's are 1 to 255 bytes (4.1). */
#define LT_RID_MAX 256
/* Frames of a ZAP request read before the rest is discarded (3.2). */
#define LT_ZAP_MAX_FRAMES 8

/* ---- rejected input (4.4) ------------------------------------------------------ */

/* Error replies to one sender: LT_REJECT_RATE_PER_S a second on average,
 * at most LT_REJECT_BURST at once (4.4). The rate divides 1000: its
 * bucket (lt_bucket) earns one reply per whole number of ms. */
#define LT_REJECT_RATE_PER_S 10
#define LT_REJECT_BURST      20
/* Senders whose rate is tracked; the least recently seen is forgotten
 * first (implementation, 4.4). */
#define LT_REJECT_MAX_SENDERS 256
/* The socket cap (ZMQ_MAXMSGSIZE) is max_message plus this much, so that a
 * CURVE frame holding a max_message envelope reaches the gateway's own
 * size check (3.1, 4.2 #3): CURVE adds 33 bytes to each frame. */
#define LT_CURVE_FRAME_SLACK 64

/* ---- liveness (3.3) ------------------------------------------------------------ */

/* ZMQ_HEARTBEAT_IVL of every peer socket, and the heartbeat_ms setting's
 * default and range (3.3). */
#define LT_HEARTBEAT_MS     1000
#define LT_HEARTBEAT_MS_MIN 100
#define LT_HEARTBEAT_MS_MAX 60000

/* ---- ids (2, 5.3) ------------------------------------------------------------------ */

/* A member id, with its terminating NUL (implementation, 5.3). */
#define LT_ID_MAX 128
/* A dataset or view id, with its terminating NUL (implementation, 2). */
#define LT_STREAM_ID_MAX (2 * LT_ID_MAX)
/* A record key (implementation, 6.1, 8.1). */
#define LT_RECORD_KEY_MAX 256
/* A source cursor as decimal text, with its NUL: a uint64 fits (8.1). */
#define LT_CURSOR_TEXT_MAX 24
/* The keys one KeysReply holds at most: a larger or zero limit reads as
 * this (8.10). 10,000 keys of LT_RECORD_KEY_MAX bytes stay under 3 MB. */
#define LT_KEYS_PAGE_MAX 10000

/* ---- directory (5) ------------------------------------------------------------------ */

/* A signed directory, on disk or offered by a peer (implementation, 5.3). */
#define LT_DIR_MAX_BYTES (16u << 20)
/* Authority keys a gateway pins (implementation, 5.2). */
#define LT_DIR_MAX_PINS 8
/* Signatures of a signed directory examined (5.2: a receiver MAY ignore
 * those after the first 16), and Ed25519 verifications spent on one
 * directory in all: each hashes the whole body (up to the frame cap), so a
 * peer's offer of many signatures costs at most this many, not signatures
 * times pinned keys. */
#define LT_DIR_MAX_SIGS     16
#define LT_DIR_MAX_VERIFIES 16
/* Next authority keys one directory may announce (5.5). */
#define LT_DIR_MAX_NEXT_AUTHORITIES 4
/* Authority keys a gateway keeps learned (5.5, data_dir/authority.learned):
 * the signer of the directory it holds and of the one it is writing, and
 * more only after writes that failed; the oldest one the directory on disk
 * does not need is dropped beyond this. */
#define LT_DIR_MAX_LEARNED 4
/* How long a directory may be valid, expires_at - issued_at, in days: the
 * most valid_days gives, and what --expires-at may give (5.3, A.3). */
#define LT_DIR_MAX_VALID_DAYS 3650
/* How far in the future a directory's issued_at may be (5.3, check 6). */
#define LT_DIR_MAX_AHEAD_S 300
/* Days before its expiry at which a gateway warns that its directory is
 * about to expire, once at each (5.6); `directory sign` warns at the first. */
#define LT_DIR_WARN_DAYS_FAR  7
#define LT_DIR_WARN_DAYS_NEAR 1
/* Once expired, the error is repeated this often, in seconds (5.6). */
#define LT_DIR_EXPIRED_REPEAT_S 60

/* ---- feeds (6) ------------------------------------------------------------------------ */

/* Records in one batch, and their bytes (6.2). */
#define LT_BATCH_MAX_RECORDS 1024
/* Records of each replicated stream checked at start, with their signed
 * batches and the chain to the cursor (docs/ARCHITECTURE.md 4.2). */
#define LT_STORE_TAIL_CHECK 1024
#define LT_BATCH_MAX_BYTES  (1u << 20)
/* Room a batch needs in its frame besides its record bytes: header,
 * signature, stream id and per-record framing (implementation, 6.3). */
#define LT_BATCH_OVERHEAD 4096
/* Credit adds up, saturating at 2^32-1 (6.2). */
#define LT_CREDIT_MAX 0xffffffffLL
/* The batch_max setting: default and largest value (6.2; a batch never
 * holds more than LT_BATCH_MAX_RECORDS whatever the setting). */
#define LT_CFG_BATCH_MAX_DEFAULT LT_BATCH_MAX_RECORDS
#define LT_CFG_BATCH_MAX_MAX     65536
/* A configuration file's bytes that lt_cfgfile keeps to read back the
 * literal of a 32-bit setting (implementation; libconfig itself has no
 * bound, and a larger file's values stand as libconfig stored them). */
#define LT_CFGFILE_MAX_BYTES (64u << 20)
/* The credit setting: records of credit a consumer grants (6.2). */
#define LT_CFG_CREDIT_DEFAULT 16384
#define LT_CFG_CREDIT_MAX     (1 << 22)
/* audit_retention_days: how old an audit entry must be before `lienthong
 * audit export` moves it out of the live log (0: kept until exported by
 * age given on the command line). */
#define LT_AUDIT_RETENTION_DAYS_MAX 36500
/* Replica batches of one link verified and not yet committed: the next
 * batch is checked while the writer commits the ones before it
 * (docs/ARCHITECTURE.md 6). Bounds what waits per link to this many
 * batches of at most LT_BATCH_MAX_BYTES. */
#define LT_FEED_AHEAD 8
/* Replica batches the writer commits in one transaction, and the records
 * they may hold together: one fsync for several batches, and a publish
 * group waits behind at most this much. */
#define LT_FEED_GROUP_BATCHES 8
#define LT_FEED_GROUP_RECORDS 8192
/* Streams the configuration replicates (implementation, 6.2). */
#define LT_GWCFG_MAX_SUBS 64
/* Owner: subscriptions served at once (implementation, 6.2). */
#define LT_FEED_MAX_SUBS 1024
/* Streams (datasets, views, replicas) one gateway holds (implementation, 6.1). */
#define LT_FEED_MAX_STREAMS 512
/* Batches per subscription or sink per pump call, so that the poll loop
 * stays responsive (implementation, 6.2). */
#define LT_FEED_PUMP_BATCHES 8
/* The owner's in-memory tail of sent batches (docs/ARCHITECTURE.md 3.1,
 * docs/operations.md): the tail_batches and tail_bytes settings (0
 * disables it), and the chains (prev hashes) one cached batch keeps a
 * signed message for (implementation, 6.3). */
#define LT_TAIL_BATCHES_DEFAULT 512
#define LT_TAIL_BATCHES_MAX     65536
#define LT_TAIL_BYTES_DEFAULT   (32LL << 20)
#define LT_TAIL_BYTES_MAX       (1LL << 36)
#define LT_TAIL_CHAINS          4
/* SQLite's page cache of each connection to the store, in MiB: the
 * store_cache_mb setting (docs/operations.md, docs/performance.md "Memory"). */
#define LT_STORE_CACHE_MB_DEFAULT 64
#define LT_STORE_CACHE_MB_MIN     2
#define LT_STORE_CACHE_MB_MAX     65536
/* The store's write-ahead log, in pages (docs/ARCHITECTURE.md 6,
 * "Checkpoints"): once commits leave LT_STORE_WAL_PAGES more in it than
 * the last checkpoint copied, the checkpointer thread copies them into the
 * store file (SQLite's own default threshold); a commit that leaves
 * LT_STORE_WAL_CAP_PAGES (64 MiB of 4 KiB pages) copies them itself, so
 * that the log starts again from its beginning even under a writer that
 * never pauses. */
#define LT_STORE_WAL_PAGES     1000
#define LT_STORE_WAL_CAP_PAGES 16384
/* The owner's records committed lately, kept for the pump (docs/
 * ARCHITECTURE.md 3.1): bytes and runs (one per stream per group). */
#define LT_FRESH_BYTES (8u << 20)
#define LT_FRESH_RUNS  256
/* A stream's history id: random bytes that change whenever its log could
 * have been rewritten (6.9). */
#define LT_HISTORY_BYTES 16
/* The retain_records and retain_days settings: largest values (6.8). */
#define LT_RETAIN_RECORDS_MAX (1LL << 40)
#define LT_RETAIN_DAYS_MAX    36500
/* Pruning: log rows examined per step, and the pause after a step that
 * found more to prune or found nothing (implementation, 6.8). */
#define LT_RETAIN_STEP_ROWS 4096
#define LT_RETAIN_BUSY_MS   5
#define LT_RETAIN_IDLE_MS   1000
/* A sweep of the rows kept below the tail (a key's version that was
 * current when the tail passed it, superseded since) starts at most this
 * often per stream, and only after the stream grew by half the rows kept
 * below its tail and at least LT_RETAIN_SWEEP_MIN records: its cost stays
 * within two row reads per record appended (implementation, 6.8). */
#define LT_RETAIN_SWEEP_MS  10000
#define LT_RETAIN_SWEEP_MIN 1024
/* Snapshots being sent at once, to peers and sinks; each holds a read
 * transaction on the store (implementation, 6.7). */
#define LT_SNAP_MAX_SENDING 16
/* Of those, places only local sinks' replacements take (8.2): a sink
 * behind the tail has no other way to catch up, so its replacement must
 * not wait behind peers' snapshots, which may hold every other place
 * (implementation, 6.7). */
#define LT_SNAP_SINK_PLACES 4
/* Snapshots sent at once to one member: each holds a place, a read
 * transaction (the WAL cannot restart) and its stream's log from S + 1, so
 * one member subscribing to many streams must not take every place and
 * keep the other consumers behind the tail waiting. Two let a member catch
 * up on two streams at a time; the others wait their turn as for a full
 * table (implementation, 6.7). */
#define LT_SNAP_MAX_PER_MEMBER 2
/* A snapshot's or a sink's replacement's lifetime: it ends, as an idle one
 * does, once it has run LT_SNAP_RUN_MS plus the time the records it sent
 * take at LT_SNAP_MIN_RATE a second. A consumer that takes a part just
 * often enough not to be idle would otherwise hold its place, the read
 * transaction and the log for ever; one reading at least that rate ends
 * its snapshot itself, within LT_SNAP_RUN_MS plus the state's records at
 * that rate (implementation, 6.7, 8.2). */
#define LT_SNAP_RUN_MS   (10 * 60 * 1000)
#define LT_SNAP_MIN_RATE 50
/* After a snapshot or a sink's replacement ends, the log is kept from the
 * subscriber's next seq until it has caught up with the stream's last seq
 * of when it ended, or for this long: records published during the
 * snapshot beyond retain_records would otherwise be pruned (a busy prune
 * goes fast) before its credit let it fetch them, and it would take a
 * snapshot again, for ever with a large state (implementation, 6.8). */
#define LT_SNAP_HOLD_MS (10 * 60 * 1000)
/* A snapshot sent to a peer that made no progress (no chunk left) for this
 * long ends, releasing its read transaction, its place among the above and
 * the log it keeps: a consumer gone without a word never returns credit. The
 * subscription stays and restarts the snapshot at index 0 when credit comes
 * (implementation, 6.7). A sink's replacement that made no progress (no
 * DeliverAck) for this long ends too, and the sink is detached (8.2). A
 * replica receiving a snapshot waits as long for its next part before it
 * subscribes again, which would restart it at index 0 (3.3). */
#define LT_SNAP_IDLE_MS 60000
/* Merkle proof entries: enough for 2^64 leaves (6.4). */
#define LT_MERKLE_MAX_PATH 64

/* ---- lookup and verify (7) --------------------------------------------------------- */

/* Keys (or subjects) of one verify request (7.6). */
#define LT_QUERY_MAX_KEYS 1024
/* Claims per key of a verify request (implementation, 7.6). */
#define LT_QUERY_MAX_CLAIMS 64
/* Fields one lookup may name (implementation, 7.5). */
#define LT_QUERY_MAX_FIELDS 64
/* Bytes of a field name a lookup, profile part or claim names (7.5, 7.6,
 * 7.7): a record field's name, as pre-fill's key_field (LT_ID_MAX - 1). */
#define LT_QUERY_MAX_FIELD_NAME (LT_ID_MAX - 1)
/* Bytes of the purpose, and of the case reference, of a lookup, verify,
 * profile or pre-fill (7.1, 7.7, 8.8): both go into the audit log of each
 * gateway with every answer, so a request may not make them its size. A
 * request's key is a record key (LT_RECORD_KEY_MAX) and its dataset a
 * dataset or view id (LT_STREAM_ID_MAX), for the same reason. */
#define LT_QUERY_MAX_TEXT 128
/* Bytes of a verify claim's value (7.6): room to spare over what the
 * registers' fields hold (a name, an address, a date, a code). A claim is
 * normalised once per request (per subject with subjects), and a key's
 * stored value of a field once per key however many claims name it; a
 * comparison then reads at most the claim's normal form. The stored values
 * are bounded by their record (LT_PUBLISH_MAX_RECORD), not by this: a key
 * costs the normalisation of the fields its claims name, up to its whole
 * record, plus up to 64 comparisons of at most about 1 KiB each. What one
 * poll-loop turn executes is bounded by LT_QUERY_TURN_WORK. */
#define LT_QUERY_MAX_CLAIM_VALUE 1024
/* A deadline at most 10 minutes ahead (7.1); requests are deduplicated at
 * least that long (7.2). */
#define LT_QUERY_MAX_AHEAD_MS (10 * 60 * 1000)
/* (caller, request_id) pairs an owner remembers (implementation, 7.2). */
#define LT_QUERY_DEDUP_MAX 200000
/* What the owner's dedup store may hold (implementation, 7.2): in all, and
 * for any one caller, so that no caller fills it for the others. Bytes are
 * the stored answers with their bookkeeping (a 1024-key verify keeps about
 * 580 kB). A caller past its share makes room from its own oldest answers;
 * past the total, the caller holding the most does, or the next biggest
 * while that one's oldest are being signed (docs/performance.md, "Memory:
 * the bound"). */
#define LT_QUERY_DEDUP_BYTES        (256u << 20)
#define LT_QUERY_DEDUP_CALLER_MAX   (LT_QUERY_DEDUP_MAX / 2)
#define LT_QUERY_DEDUP_CALLER_BYTES (LT_QUERY_DEDUP_BYTES / 2)
/* Refusals (ERR_FORBIDDEN, ERR_PURPOSE, ERR_NOT_FOUND) a caller has stored
 * and audited one by one in 10 minutes; past them its refused requests get
 * an unsigned ERR_UNAVAILABLE, neither stored nor audited singly (lt_reject
 * summarises them), so a member without a policy cannot fill the store or
 * the audit log. */
#define LT_QUERY_DEDUP_CALLER_REFUSED 1000
/* The owner's budget of verify no-matches (7.6): each caller member may get
 * at most LT_VERIFY_MISS_MAX CLAIM_NO_MATCH answers on one (key, field) in
 * any LT_VERIFY_MISS_WINDOW_S seconds; past them every claim of its on that
 * (key, field) is answered CLAIM_NOT_ALLOWED until the window after the one
 * they were counted in ends, so that guessing a value one claim per request
 * takes years, not a second. Each caller's counts are a count-min sketch of
 * its own (lt_vmiss.h), made at its first no-match: LT_VERIFY_MISS_DEPTH
 * rows of LT_VERIFY_MISS_WIDTH 4-bit counters for each of two windows, 384
 * KiB. A pair's count is never lost to other pairs (a table that gave up
 * entries let a caller push its target out and guess again); other pairs
 * can only raise it: with 100,000 no-matches of a caller an hour, a claim
 * is refused wrongly with probability under 7e-12. A flood fills its own
 * caller's counters, never another's. MAX is at most 15 (4-bit counters);
 * DEPTH x log2(WIDTH) at most 64 (one 64-bit hash). */
#define LT_VERIFY_MISS_MAX      8
#define LT_VERIFY_MISS_WINDOW_S 3600
#define LT_VERIFY_MISS_WIDTH    131072
#define LT_VERIFY_MISS_DEPTH    3
/* Lookups and verifies a caller gateway has outstanding at owners at once,
 * for local applications and for its own modules (profile parts) together
 * (implementation, 7.4, 8.3): beyond it a local request is refused with
 * ERR_UNAVAILABLE, to be retried. As many as the profiles outstanding may
 * make (LT_PROFILE_MAX_OUTSTANDING x LT_PROFILE_MAX_PARTS). */
#define LT_QUERY_MAX_OUTSTANDING 16384
/* Bytes those requests may hold at once (implementation, 7.4, 8.3): each
 * keeps its frame, and a verify a copy of its keys, so the count alone
 * would let 16384 verifies of 1024 keys hold gigabytes. Counted as
 * s_out_cost in lt_query.c; beyond it a request is refused with
 * ERR_UNAVAILABLE, to be retried. */
#define LT_QUERY_MAX_OUTSTANDING_BYTES (128u << 20)
/* Answers under one signature (7.3). */
#define LT_ANSWERS_MAX 256
/* Verified (root, signature) pairs a caller caches (implementation, 7.4). */
#define LT_ANSWERS_ROOT_CACHE 16
/* Parts (datasets) of one profile lookup (protocol, 7.7). */
#define LT_PROFILE_MAX_PARTS 16
/* A profile's deadline: when the request gives none, and at most (7.7). */
#define LT_PROFILE_DEFAULT_MS 5000
#define LT_PROFILE_MAX_MS     60000
/* Profiles a gateway has outstanding at once (implementation, 7.7). */
#define LT_PROFILE_MAX_OUTSTANDING 1024

/* ---- local API (8) ---------------------------------------------------------------- */

/* A payload of a Publish: the record must fit in a batch (6.2, 8.1). */
#define LT_PUBLISH_MAX_RECORD (1u << 20)
/* Room kept around one record for the Record, Batch and Envelope framing
 * and its key: the payload limit is max_message / 2 minus this (8.1). */
#define LT_PUBLISH_RECORD_SLACK 1024
/* An application name or officer id in Envelope.on_behalf (8.5). */
#define LT_ON_BEHALF_MAX 128
/* Streams one pre-fill may name (8.8): every stream a gateway replicates. */
#define LT_PREFILL_MAX_STREAMS 64
/* Bytes of a pre-fill's purpose or case reference (8.8): as a lookup's. */
#define LT_PREFILL_MAX_TEXT LT_QUERY_MAX_TEXT
/* Group commit: Publish messages, and their changes, in one transaction,
 * and the streams (a dataset and its views) it may touch (implementation,
 * 8.1). */
#define LT_PUBLISH_GROUP         64
#define LT_PUBLISH_GROUP_CHANGES 16384
#define LT_PUBLISH_GROUP_STREAMS 512
/* Sinks attached at once (implementation, 8.2). */
#define LT_FEED_MAX_SINKS 64

/* ---- peers (3.1, 5.1) -------------------------------------------------------------------- */

/* Peers the configuration lists to greet at start (implementation, 3.1). */
#define LT_GWCFG_MAX_PEERS 128
/* Outgoing links, one per peer member asked (implementation, 3.1). */
#define LT_PEERS_MAX_LINKS 256
/* Incoming peers remembered for directory gossip (implementation, 5.1). */
#define LT_PEERS_MAX_INBOUND 512
/* A member whose Hellos come back LT_PEERS_TWICE_MIN times within
 * LT_PEERS_TWICE_WINDOW_MS to the connection before the one they took
 * last has two connections at once (two gateways with one member key):
 * one warning per window. Fewer is a link reopened, or a ping that ended. */
#define LT_PEERS_TWICE_MIN       4
#define LT_PEERS_TWICE_WINDOW_MS 60000
/* An incoming peer silent for this many heartbeat intervals (heartbeat_ms)
 * is forgotten, so that the table holds the members heard lately rather
 * than the first LT_PEERS_MAX_INBOUND ever seen: the rest would share
 * LT_DIR_OFFER_UNLISTED_MAX offers. 600 intervals (10 min at the default
 * 1 s) is far past the heartbeat timeout (5 intervals), so the peer is
 * logged lost first and `status` still shows it lost, with when it was
 * last heard, through an outage or restart of a few minutes; the table
 * overflows only when more than LT_PEERS_MAX_INBOUND members say Hello
 * within that time. Its offer record matters for LT_DIR_OFFER_INTERVAL_MS
 * only (implementation, 5.1). */
#define LT_PEERS_INBOUND_IDLE_INTERVALS 600
/* A member is offered one directory version at most once per interval
 * when it asks (Hello with a lower version, DirectoryRequest): its further
 * asks in the interval are dropped, so that asking without reading cannot
 * fill the gateway's send queue with offers (implementation, 5.1). */
#define LT_DIR_OFFER_INTERVAL_MS 1000
/* Askers with no record of their own (no Hello since the peer ROUTER was
 * bound, or more members than LT_PEERS_MAX_INBOUND) share this many offers
 * per LT_DIR_OFFER_INTERVAL_MS; their further asks in it are dropped
 * (implementation, 5.1). */
#define LT_DIR_OFFER_UNLISTED_MAX 64
/* Of those, one asker (its ZAP User-Id, the member its CURVE key is
 * admitted as; every asker without one counts as one) is offered at most
 * this many per interval, so that one member asking without a Hello cannot
 * use the whole share and starve the others (implementation, 5.1). */
#define LT_DIR_OFFER_UNLISTED_EACH 4
/* Peer clock offsets (implementation, 5.1; docs/operations.md "Clocks"):
 * each Hello carrying sent_at_ms gives one estimate of the peer's clock
 * minus ours, low by the time the Hello took to arrive (the network, and
 * its wait in our queue), never high. The offset kept is the highest of a
 * member's last LT_SKEW_WINDOW estimates: the one that waited least, so
 * that a poll loop stalled for seconds does not read as a peer whose clock
 * is behind, while a clock that was stepped shows within a few heartbeat
 * intervals (a member says Hello about twice per interval, once on each
 * side's link). Members tracked: one per link and incoming peer. */
#define LT_SKEW_WINDOW    8
#define LT_SKEW_MAX_PEERS (LT_PEERS_MAX_LINKS + LT_PEERS_MAX_INBOUND)
/* An offset past LT_SKEW_WARN_MS either way is logged as a warning, once,
 * and as back in step (info) once within LT_SKEW_CLEAR_MS, so that an
 * offset hovering at the threshold does not log a line per Hello. 5 s is
 * far beyond the error of the estimate on any working network and of
 * clocks kept by NTP, and already moves the lag figures an operator reads
 * (docs/operations.md "Clocks"); the protocol's own tolerance (a
 * directory issued up to 300 s ahead, 5.3) is far too loose for them. */
#define LT_SKEW_WARN_MS  5000
#define LT_SKEW_CLEAR_MS 2500
/* Of those lines (and of the warning below), one member gets at most
 * LT_SKEW_LOG_BURST at once, then one more per LT_SKEW_LOG_MS: a member
 * that sends Hellos whose times jump back and forth would otherwise log two
 * lines per LT_SKEW_WINDOW Hellos, as fast as it sends them. A clock set
 * wrong, then put right (twice, while an operator tries), is all logged as
 * it happens; a change held back is logged once the member may log again,
 * at its next Hello, with how many changes there were since its last line. */
#define LT_SKEW_LOG_BURST 4
#define LT_SKEW_LOG_MS    60000
/* An estimate past LT_SKEW_PLAUSIBLE_MS either way (100 years) is no clock
 * reading: ignored, so that one such Hello (sent_at_ms 2^64 - 1) does not
 * stand as the highest of the window for LT_SKEW_WINDOW Hellos. It is
 * counted and logged as a warning under the limit above. 100 years, not
 * less, so that a host whose clock restarted at 1970 (no battery-backed
 * clock, no NTP yet) is still shown for what it is. */
#define LT_SKEW_PLAUSIBLE_MS (100LL * 36525 * 24 * 3600 * 10)
/* Messages taken from the peer socket per poll-loop turn before the
 * answers they produced are signed together (implementation, 7.3). */
#define LT_PEER_DRAIN 256
/* Work of the requests one drain of the peer socket executes before the
 * loop turns (implementation, 7.3): a key read counts 1 and each claim
 * compared on it 1 more. A drain ends once its requests reached it (the
 * request running is finished first), so that a member sending maximal
 * verifies (1024 keys x 64 claims) has one executed per turn, not
 * LT_PEER_DRAIN, and the other members' requests, local clients and feeds
 * are served in between: the socket hands the next message to another
 * member's connection when one is waiting (ZeroMQ's fair queueing). */
#define LT_QUERY_TURN_WORK 4096

/* ZMQ_HANDSHAKE_IVL of the peer ROUTER: a connection that has not completed
 * its CURVE handshake by then is closed, so that idle unauthenticated
 * connections hold no file descriptor for long (3.2). */
#define LT_HANDSHAKE_MS 5000
/* File descriptors kept for the local socket and its clients, the stores,
 * the ZeroMQ context and outgoing links; of the rest of the soft limit,
 * at most half (and at most LT_GUARD_MAX_PENDING) may be peer connections
 * that have not yet authenticated: beyond that the oldest are closed
 * (implementation, 3.2; docs/operations.md, "File descriptors"). */
#define LT_FD_RESERVE        128
#define LT_GUARD_MIN_PENDING 8
#define LT_GUARD_MAX_PENDING 1024

/* Refusals (handshakes, frames) aggregated per source address and reason:
 * sources tracked at once before the rest share one "others" count, and how
 * often each tracked source gets one log line and one audit entry with its
 * count (implementation, 3.2; docs/operations.md, "Refusals"). */
#define LT_REFUSE_MAX_SOURCES 256
#define LT_REFUSE_INTERVAL_MS 10000

/* ---- adapters: PostgreSQL sessions ------------------------------------------ */

/* How long an adapter waits on its PostgreSQL database (implementation;
 * adapters/README.md, "Connection settings"). The adapters are
 * single-threaded and their units set WatchdogSec=30s (dist/systemd): a
 * call that blocks for longer than that, on a host that stopped answering
 * or on a lock held by an idle transaction, has the adapter killed in a
 * loop instead of retrying with its back-off. Each wait ends below it:
 * connecting (libpq's connect_timeout, in seconds), a statement
 * (statement_timeout) and a lock within it (lock_timeout, shorter, so that
 * a lock not granted says so), and a peer that vanished mid-call (TCP
 * keepalives: idle, interval, count; tcp_user_timeout for unacknowledged
 * data). A `database` setting, PGCONNECT_TIMEOUT or the role's settings
 * that set their own are kept. */
#define LT_PG_CONNECT_TIMEOUT_S    10
#define LT_PG_STATEMENT_TIMEOUT_MS 20000
#define LT_PG_LOCK_TIMEOUT_MS      10000
#define LT_PG_KEEPALIVE_IDLE_S     10
#define LT_PG_KEEPALIVE_INTERVAL_S 5
#define LT_PG_KEEPALIVE_COUNT      2
#define LT_PG_TCP_USER_TIMEOUT_MS  20000

#endif

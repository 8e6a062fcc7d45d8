/* lt_feedtest: helpers for the feed integration tests (test_feeds.c), on top
 * of lt_itest.
 *
 * - A model of the population dataset as the test published it: for every
 *   citizen its current fields, whether it is live, the exact payload bytes
 *   last published, and whether it ever was in each view. The model is the
 *   independent expectation that replicas are checked against.
 * - A publisher that sends Publish messages on a gateway's local ipc socket
 *   and waits for each PublishAck (the adapter side of PROTOCOL.md 8.1).
 * - Read-only inspection of a gateway's store (data_dir/store.db): last
 *   sequence numbers, byte-for-byte log and state comparison of one stream
 *   between two stores, gap checks, dataset and view checks against the model.
 * - A `lienthong sink` of a Population stream into a table `citizens`
 *   (PROTOCOL.md 8.2), and checks of that table against the model.
 * - A CURVE man-in-the-middle proxy between a consumer gateway and its owner
 *   that can flip a byte, re-sign with a wrong key, or drop batches.
 *
 * Every function that checks something returns 0, or -1 with the first
 * difference described in err. Every wait is bounded. */
#ifndef LT_FEEDTEST_H
#define LT_FEEDTEST_H

#include "lt_itest.h"

#include <stddef.h>
#include <stdint.h>

#define LT_FT_MAX_VIEWS 4

/* ---- the dataset model -------------------------------------------------- */

typedef struct {
    char key[16]; /* personal_id, 12 digits */
    char name[96];
    char dob[16];
    char province[8]; /* current_province */
    int status;       /* lienthong.records.CitizenStatus */
    int present;      /* some change was published for the key */
    int live;         /* last change was not a tombstone */
    uint8_t *bytes;   /* exact payload last published (live only) */
    size_t len;
    int ever[LT_FT_MAX_VIEWS]; /* was in view i after some change */
} lt_ft_citizen_t;

/* A view of the dataset: the population.pNN views select current_province. */
typedef struct {
    const char *id;
    const char *province;
} lt_ft_view_t;

typedef struct {
    lt_ft_citizen_t *c;
    size_t n; /* citizens, including keys only ever deleted */
    size_t cap;
    lt_ft_view_t views[LT_FT_MAX_VIEWS];
    size_t n_views;
    uint64_t cursor; /* source cursor of the last change made */
} lt_ft_model_t;

/* n citizens, keys 0..n-1 as "%012zu" + base, none published yet. */
int lt_ft_model_init(lt_ft_model_t *m, size_t n, uint64_t key_base);
void lt_ft_model_add_view(lt_ft_model_t *m, const char *id, const char *province);
void lt_ft_model_free(lt_ft_model_t *m);

/* ---- publishing --------------------------------------------------------- */

#define LT_FT_PUB_MAX 1024

/* One Publish being built. */
typedef struct {
    const char *dataset;
    size_t n;
    char keys[LT_FT_PUB_MAX][16];
    char cursors[LT_FT_PUB_MAX][24];
    uint8_t *payloads[LT_FT_PUB_MAX];
    size_t lens[LT_FT_PUB_MAX];
    int deleted[LT_FT_PUB_MAX];
} lt_ft_pub_t;

void lt_ft_pub_init(lt_ft_pub_t *p, const char *dataset);
void lt_ft_pub_clear(lt_ft_pub_t *p);
/* Adds an upsert of citizen i with these fields (the other fields derive
 * from i), updating the model. 0 or -1 (full). */
int lt_ft_put(lt_ft_pub_t *p, lt_ft_model_t *m, size_t i, const char *name, const char *province,
              int status);
/* Adds a tombstone of citizen i, updating the model. */
int lt_ft_del(lt_ft_pub_t *p, lt_ft_model_t *m, size_t i);
/* Adds a tombstone of a key the model does not know (never published). */
int lt_ft_del_unknown(lt_ft_pub_t *p, lt_ft_model_t *m, const char *key);
/* Sends the Publish on g's local socket and waits for the PublishAck; fills
 * the acknowledged dataset seq range. Clears p. 0, or -1 (refused, timeout). */
int lt_ft_pub_send(lt_ft_pub_t *p, lt_it_gw_t *g, uint64_t *first_seq, uint64_t *last_seq,
                   int timeout_ms);
/* The same, keeping p to be sent again: 0 acknowledged, 1 refused (the
 * Error's code and message in *code and msg), -1 no answer in time. */
int lt_ft_pub_try(lt_ft_pub_t *p, lt_it_gw_t *g, uint64_t *first_seq, uint64_t *last_seq,
                  int timeout_ms, Lienthong__ErrorCode *code, char *msg, size_t len);

/* ---- stores ------------------------------------------------------------- */

/* streams.last_seq of stream in g's store; 0 when absent or unreadable. */
uint64_t lt_ft_last_seq(const lt_it_gw_t *g, const char *stream);
/* Polls until g's last_seq of stream is >= want. 0, or -1 on timeout. */
int lt_ft_wait_seq(const lt_it_gw_t *g, const char *stream, uint64_t want, int timeout_ms);
/* Polls until b's last_seq of stream equals a's (and a's is > 0). */
int lt_ft_wait_same(const lt_it_gw_t *a, const lt_it_gw_t *b, const char *stream, int timeout_ms);
/* The state row of key: 1 found (seq, deleted filled), 0 not, -1 error. */
int lt_ft_state(const lt_it_gw_t *g, const char *stream, const char *key, uint64_t *seq,
                int *deleted);
/* Copy of the log record at seq (malloc'd). 1 found, 0 not, -1 error. */
int lt_ft_record(const lt_it_gw_t *g, const char *stream, uint64_t seq, uint8_t **rec, size_t *len);
/* Number of log rows of stream. */
long lt_ft_log_count(const lt_it_gw_t *g, const char *stream);
/* Number of live (not deleted) state rows of stream. */
long lt_ft_live_count(const lt_it_gw_t *g, const char *stream);
/* Pages of g's store in use (page count minus free pages), -1 on error. */
long lt_ft_used_pages(const lt_it_gw_t *g);
/* The current state of the dataset in g equals the model's live keys,
 * whatever its log holds (after a snapshot or pruning, PROTOCOL.md 6.7,
 * 6.8): each live key's state row points at a record with the exact
 * payload published last, no other key is live. */
int lt_ft_check_live(const lt_it_gw_t *g, const char *stream, const lt_ft_model_t *m, char *err,
                     size_t errlen);

/* The log of stream in g holds exactly seq 1..last_seq (streams.last_seq),
 * each record decodes with Record.seq equal to its position and a key, and
 * every state row points at a record with the same key and deleted flag. */
int lt_ft_check_log(const lt_it_gw_t *g, const char *stream, char *err, size_t errlen);
/* Records 1..upto of stream are byte-identical in a and b (and present). */
int lt_ft_compare_prefix(const lt_it_gw_t *a, const lt_it_gw_t *b, const char *stream,
                         uint64_t upto, char *err, size_t errlen);
/* Full comparison: same last_seq, byte-identical logs, identical state rows
 * (key, seq, deleted), and for each live key identical record bytes. */
int lt_ft_compare(const lt_it_gw_t *a, const lt_it_gw_t *b, const char *stream, char *err,
                  size_t errlen);
/* The dataset in g equals the model: one state row per published key with
 * the model's deleted flag, live payloads byte-identical to what was
 * published, tombstones with no payload. */
int lt_ft_check_dataset(const lt_it_gw_t *g, const char *stream, const lt_ft_model_t *m, char *err,
                        size_t errlen);
/* View v of the model in g: exactly the keys ever in the view have a state
 * row; those in it now are live and their payload decodes as Population
 * with personal_id, full_name, date_of_birth, current_province and status
 * equal to the model and every other field unset; the others are tombstones. */
int lt_ft_check_view(const lt_it_gw_t *g, const lt_ft_model_t *m, size_t v, char *err,
                     size_t errlen);

/* Reports a failed check (rc != 0) with its reason; 1 when rc is 0. */
int lt_ft_ok(int rc, const char *what, const char *err);

/* ---- logs --------------------------------------------------------------- */

/* Lines after mark containing a (and b when non-NULL). */
int lt_ft_log_count_lines(const lt_it_gw_t *g, long mark, const char *a, const char *b);
/* The sum, over the lines after mark containing a, of the number that
 * follows a on each (the stops a replica's "applying again after N
 * failures" lines end). */
unsigned long long lt_ft_log_sum(const lt_it_gw_t *g, long mark, const char *a);
/* Polls until the file at path holds lines containing each of the n
 * strings in this order (each on a line after the previous one's), for
 * what a log says about a cause rather than how long it took; 0, or -1
 * after timeout_ms. */
int lt_ft_file_wait_order(const char *path, const char *const *lines, size_t n, int timeout_ms);

/* ---- a sink adapter (PROTOCOL.md 8.2) ------------------------------------ */

/* Starts `lienthong sink` of stream into table citizens (personal_id,
 * full_name) of dir/NAME.db, attached to the gateway at sock_path; its
 * config is dir/NAME.conf, its log dir/NAME.log. conf and db (PATH_MAX)
 * keep the paths, which k's arguments point to. */
int lt_ft_sink_start(lt_it_proc_t *k, const char *sock_path, const char *stream, const char *dir,
                     const char *name, char *conf, char *db);
/* The sink's table at path holds exactly the model's live citizens, with
 * their last names. */
int lt_ft_sink_check(const char *path, const lt_ft_model_t *m, char *err, size_t errlen);
/* Polls until the sink's durable cursor in the database at path is seq
 * (once when timeout_ms is 0); 0, or -1. */
int lt_ft_sink_wait(const char *path, uint64_t seq, int timeout_ms);

/* ---- the man in the middle -------------------------------------------------- */

typedef enum {
    LT_FT_MITM_HONEST = 0,
    LT_FT_MITM_FLIP,    /* flip a byte of records[0], keep the signature */
    LT_FT_MITM_RESIGN,  /* keep the records, sign a correct header with a wrong key */
    LT_FT_MITM_DROP,    /* drop the k-th batch, and any batch armed by drop_next */
    LT_FT_MITM_HOLD,    /* first Subscribe asks credit k; its batches are held back
                         * until the next Subscribe, then delivered before it */
    LT_FT_MITM_LONGKEY, /* give records[0] a key of LT_RECORD_KEY_MAX + 1 bytes and
                         * sign the batch with the owner's own key, as an owner
                         * that does not check its keys would */
    LT_FT_MITM_STALE,   /* after each of the first k Subscribes, answer the consumer
                         * ERR_NOT_FOUND "STREAM: no subscription", as the owner
                         * answers a Credit sent before it ended a subscription */
} lt_ft_mitm_mode_t;

typedef struct lt_ft_mitm lt_ft_mitm_t;

/* Binds a CURVE ROUTER at front with the owner's transport secret (its own
 * context: no ZAP handler) and forwards every message to back through a
 * CURVE DEALER holding the consumer's keys; replies go to the last peer
 * that spoke on the front. FLIP, RESIGN and LONGKEY tamper with the first
 * batch that answers each of the first k Subscribe messages (first_seq =
 * from_seq);
 * DROP drops the k-th batch seen. NULL on failure. */
lt_ft_mitm_t *lt_ft_mitm_start(const char *front, const lt_keys_t *owner, const char *back,
                               const lt_keys_t *consumer, lt_ft_mitm_mode_t mode, int k);
/* HOLD reproduces a re-subscribe racing batches in flight (PROTOCOL.md
 * 6.6): the consumer's idle Subscribe is sent while the owner's batches of
 * the old subscription are still on their way. */
/* DROP: the next batch is dropped too. */
void lt_ft_mitm_drop_next(lt_ft_mitm_t *p);

typedef struct {
    int subscribes; /* Subscribe messages forwarded to the owner */
    int batches;    /* Batch messages seen from the owner */
    int tampered;   /* batches altered */
    int dropped;    /* batches not forwarded */
    int forwarded;  /* messages forwarded in either direction */
    int held;       /* HOLD: batches held back, then delivered */
} lt_ft_mitm_stats_t;

void lt_ft_mitm_stats(lt_ft_mitm_t *p, lt_ft_mitm_stats_t *out);
/* Tampered batch i (0-based): its stream, first_seq and the altered bytes
 * of records[0] as sent to the consumer (malloc'd copy). 0 or -1. */
int lt_ft_mitm_tampered(lt_ft_mitm_t *p, int i, char *stream, size_t stream_len,
                        uint64_t *first_seq, uint8_t **rec, size_t *len);
void lt_ft_mitm_stop(lt_ft_mitm_t **p);

#endif

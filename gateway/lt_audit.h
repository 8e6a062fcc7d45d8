/* lt_audit: the gateway's append-only, hash-chained audit log
 * (docs/ARCHITECTURE.md, "Audit log").
 *
 * Every lookup or verify served or refused, every feed started or stopped
 * and every rejected input becomes one entry: when, which event, which peer,
 * which dataset and record key, which fields, which purpose and case. Each
 * entry's hash covers the previous entry's hash, so removing or altering an
 * entry breaks the chain; the chain head is signed with the member's signing
 * key at every commit (a checkpoint), so rewriting the whole tail is
 * detectable too. The log is its own SQLite file beside the store.
 *
 * Entries are buffered and committed together: an owner commits the
 * entries of its answers with lt_audit_commit before it releases them (one
 * fsync per signing drain); other entries are committed at most every
 * 200 ms. The log fails closed: when a commit fails (disk full, I/O error)
 * the buffered entries are dropped, not kept in memory, and counted;
 * lt_audit_writable says 0, so that lookups and verifies are refused, until
 * a retry (at most every second) succeeds; the first entry then written
 * ("audit-outage") records how long it lasted and what it cost.
 *
 * Older entries may be exported and removed (lt_auditarc); the live log then
 * keeps an anchor (the last removed seq and hash) its chain goes on from.
 *
 * Entries are indexed by subject (record key) a full block at a time, for
 * the subject-access report (lt_audit_by_subject); the index is derived
 * from the entries, and lt_audit_check proves it exact.
 *
 * Entries of requests an application made through the HTTP API also name the
 * application and the officer (PROTOCOL.md 8.5). The chain covers these two
 * only when one is set, so entries without them hash as they always did. */
#ifndef LT_AUDIT_H
#define LT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "lt_crypto.h"
#include "lt_err.h"
#include "lt_keys.h"
#include "lt_stats.h"

/* A step of entry times larger than NTP's slewing makes: an entry timed
 * that far after now, or before the entry ahead of it, was written by a
 * clock that was wrong (lt_auditarc, lt_audit_retention_check). */
#define LT_AUDIT_CLOCK_STEP_MS 5000

typedef struct _lt_audit_t lt_audit_t;

typedef struct {
    const char *event;   /* "lookup", "verify", "refused", "feed-start", ... */
    const char *peer;    /* member id of the other side, or "local" */
    const char *target;  /* dataset or view id, or "" */
    const char *subject; /* record key, or "" */
    const char *fields;  /* comma-separated fields released or asked, or "" */
    const char *purpose;
    const char *case_ref;
    const char *detail; /* outcome or reason */
    /* Who inside the member made a local request (PROTOCOL.md 8.5), or NULL. */
    const char *application;
    const char *officer;
} lt_audit_entry_t;

/* Creates the tables of an audit log (without entries) in the SQLite file
 * path: an exported segment has the same ones. 0, or -1 with err. */
int lt_audit_create(const char *path, char *err, size_t errlen);
/* Opens (creating) the audit log at path, brought to lt_audit_version()
 * when older (one transaction per step); a log of a newer version is
 * refused, err naming path and both versions. NULL with err on failure. */
lt_audit_t *lt_audit_open(const char *path, const lt_keys_t *keys, char *err, size_t errlen);
void lt_audit_destroy(lt_audit_t **self_p);
/* The layout version this code writes: the number of steps, each log's
 * PRAGMA user_version (docs/ARCHITECTURE.md "Audit log"). */
int lt_audit_version(void);
/* The SQL of layout step `step` (1 to lt_audit_version()), NULL for
 * another number: tests pin each released step's text. Of a step that
 * only adds a column, the ALTER TABLE that adds it; the columns another
 * step adds besides its SQL (those of a log from before versioning) are
 * not in it. */
const char *lt_audit_step_sql(int step);

/* The wall clock in unix ms that times entries and checkpoints
 * (lt_clock_now_ms unless set; tests set their own, to write the times a
 * wrong clock would). */
void lt_audit_set_clock(lt_audit_t *self, int64_t (*now_ms)(void *arg), void *arg);

/* Counts entries written (lienthong_audit_entries), keeps the last
 * committed seq (lienthong_audit_last_seq) and times each flush
 * (lienthong_store_commit_latency{what="audit"}) in stats. Returns 0, or
 * -1 when registration failed. */
int lt_audit_set_stats(lt_audit_t *self, lt_stats_t *stats);

/* Buffers one entry (strings are copied). When it cannot (out of memory)
 * it is logged and the next commit fails closed: the answers of the drain
 * are refused, never released without their entry. */
void lt_audit_add(lt_audit_t *self, const lt_audit_entry_t *e);
/* Commits buffered entries when due (or always when force), chaining them
 * and signing the new head. Returns 0 or -1 (logged). */
int lt_audit_flush(lt_audit_t *self, int force);

/* Records a switch of the member's signing key to next's (docs/ARCHITECTURE.md,
 * "Audit log", "Keys and entries"): a keys-switched entry naming the key
 * in use and next's, committed now in a commit of its own (the buffered
 * entries are committed before it), its
 * checkpoint signed by the key in use and countersigned by next, both
 * secrets authorising the switch; checkpoints after it must be signed by
 * next's key. Call it before the keys change; 0, or -1 (logged) when it
 * could not be committed: the keys must not change then, or the log would
 * not verify. */
int lt_audit_switch_keys(lt_audit_t *self, const char *member, const lt_keys_t *next,
                         const char *detail) LT_NODISCARD;
/* Whether pk is the signing key in force after the last checkpoint of the
 * log (docs/ARCHITECTURE.md, "Audit log", "Keys and entries"): the next key
 * of the keys-switched entry it covers, else the key that signed it. 1
 * when it is, 0 when not, -1 when the log has no checkpoint, and
 * LT_AUDIT_UNREADABLE (logged) when it cannot tell: the last checkpoint
 * cannot be read (a busy or failing database) or is malformed. Tells a
 * gateway whether a promote's switch is still to be recorded. */
#define LT_AUDIT_UNREADABLE (-2)
int lt_audit_in_force(lt_audit_t *self, const uint8_t pk[LT_KEY_BYTES]);
/* Commits every buffered entry now (the answers they record may then be
 * released). Returns 0, or -1 when the log cannot be written (the entries
 * are dropped and counted; the log is failing). */
int lt_audit_commit(lt_audit_t *self);
/* 1 when the log's connection syncs each commit (synchronous = FULL or
 * more), 0 when it does not, -1 on an error: an answered request must not
 * lose its entry to a power loss, and tests check the log is opened so. */
int lt_audit_synced(lt_audit_t *self);
/* How many times buffered entries were dropped (a failed commit, or entries
 * that could not be buffered), ever: a caller that holds answers compares
 * it before and after, so that an answer whose entry a commit in between
 * dropped is never released. */
uint64_t lt_audit_drops(const lt_audit_t *self);
/* 1 while the log can be written; 0 while it is failing, with the reason
 * in why (may be NULL). */
int lt_audit_writable(const lt_audit_t *self, char *why, size_t len);
/* Counts a request refused because the log is failing (written in the
 * entry that ends the outage). */
void lt_audit_refused(lt_audit_t *self);

/* Warns (once, at start) when the first entry after the anchor is older
 * than retention_days (> 0): it is due for `lienthong audit export`. */
void lt_audit_retention_check(lt_audit_t *self, int retention_days);

struct sqlite3;
struct sqlite3_stmt;
/* Brings db, the audit log at path opened by the caller, to
 * lt_audit_version() as lt_audit_open does, or refuses one of a newer
 * version. 0, or -1 with err naming path. */
int lt_audit_upgrade(struct sqlite3 *db, const char *path, char *err, size_t errlen) LT_NODISCARD;
/* Prepares on db (an audit log the caller opened) the subject-access
 * report: the entries whose subject is `subject`, by seq, as the columns
 * seq, at_ms, event, peer, target, subject, fields, purpose, case_ref,
 * detail, application, officer. The index is read a block at a time
 * (docs/ARCHITECTURE.md, "Audit log"). 0, or -1 (sqlite3_errmsg(db)). */
int lt_audit_by_subject(struct sqlite3 *db, const char *subject,
                        struct sqlite3_stmt **out) LT_NODISCARD;

/* Checks that db (an audit log from outside: a backup's, opened with
 * lt_sqlopen) holds only objects an audit log has, each exactly as this
 * version or an earlier one writes it (table, index, text): no view, no
 * trigger, no other index or constraint, which would run when the gateway
 * writes to the restored log. 0, or -1 with err naming the first other
 * object. */
int lt_audit_schema_check(struct sqlite3 *db, char *err, size_t errlen) LT_NODISCARD;

/* What a check of a log (or of an exported segment) proved. */
typedef struct {
    uint64_t anchor; /* entries before anchor + 1 are not in this file (exported) */
    uint8_t anchor_hash[LT_HASH_BYTES]; /* the chain goes on from it (zero without anchor) */
    uint64_t last;                      /* last entry; anchor + 1 .. last were checked */
    long entries;                       /* last - anchor */
    long outages;                       /* "audit-outage" entries among them */
    int64_t signed_at_ms;               /* when the checkpoint of the last entry was signed */
    uint8_t head[LT_HASH_BYTES];
    /* The signing keys (docs/ARCHITECTURE.md, "Audit log", "Keys and
     * entries"). anchor_bound: the anchor records anchor_key as the key in
     * force after it (a log that names keys), and it signs the anchor's
     * checkpoint. key: the key in force after the last entry (zero when
     * nothing is signed); key_bound: the log bound it (else it is merely
     * the key of the newest checkpoint). loose_first..loose_last (0: none):
     * the checkpoints of these entries were accepted under any of the keys
     * given, the log having recorded no key in force for them (written
     * before logs named keys). */
    uint64_t named; /* checkpoints after this entry are bound to keys (UINT64_MAX: none) */
    int anchor_bound;
    uint8_t anchor_key[LT_KEY_BYTES];
    int key_bound;
    uint8_t key[LT_KEY_BYTES];
    uint64_t loose_first, loose_last;
} lt_audit_report_t;

/* Checks the chain from the anchor (or the start) through the last entry,
 * every checkpoint signature under pk, that the last entry is signed, and
 * that the subject index holds exactly the entries it says it covers.
 * Returns 0, or -1 with the first broken seq or the problem in err. */
int lt_audit_check(const char *path, const uint8_t pk[LT_KEY_BYTES], lt_audit_report_t *rep,
                   char *err, size_t errlen) LT_NODISCARD;
/* The same, each checkpoint signed under one of pks[0..n_pks) (PROTOCOL.md
 * 5.5: after a key rotation older checkpoints carry the previous key's),
 * the one in force at its seq: the key the anchor records, else that of
 * the first checkpoint, until a keys-switched entry names the next
 * (lt_audit_switch_keys). The checkpoints a log holds from before it named
 * keys (version 1) are accepted under any of them until such an entry, and
 * reported (rep->loose_first..loose_last); a log that claims version 1 but
 * whose anchor records a key was passed off as it, and fails. */
int lt_audit_check_keys(const char *path, const uint8_t *const *pks, size_t n_pks,
                        lt_audit_report_t *rep, char *err, size_t errlen) LT_NODISCARD;
/* The same on db, a log the caller opened (lt_sqlopen_untrusted) and holds
 * a read transaction on: what the caller reads in that transaction after
 * the check is what was checked, whatever replaced the file meanwhile
 * (lt_auditarc_open). */
int lt_audit_check_db(struct sqlite3 *db, const uint8_t *const *pks, size_t n_pks,
                      lt_audit_report_t *rep, char *err, size_t errlen) LT_NODISCARD;
/* lt_audit_check_db on db, a log open as path (lt_sqlopen_untrusted), in a
 * read transaction of its own, ended before it returns; and, when current
 * is set, lt_audit_check_live's test of the key in force. 0, or -1 with
 * err naming path. */
int lt_audit_check_snapshot(struct sqlite3 *db, const char *path, const uint8_t *const *pks,
                            size_t n_pks, const uint8_t current[LT_KEY_BYTES],
                            lt_audit_report_t *rep, char *err, size_t errlen) LT_NODISCARD;
/* lt_audit_check_keys of the live log, and that the key in force after its
 * last entry is current, the member's key now: a log rewritten with an
 * earlier key alone fails, and so does one of an anchor alone (the anchor's
 * checkpoint, which an export keeps, is required and is then the newest). */
int lt_audit_check_live(const char *path, const uint8_t *const *pks, size_t n_pks,
                        const uint8_t current[LT_KEY_BYTES], lt_audit_report_t *rep, char *err,
                        size_t errlen) LT_NODISCARD;
/* lt_audit_check, returning the number of entries checked, or -1. */
long lt_audit_verify(const char *path, const uint8_t pk[LT_KEY_BYTES], char *err,
                     size_t errlen) LT_NODISCARD;
/* The same, each checkpoint signed under one of pks[0..n_pks): after a key
 * rotation (PROTOCOL.md 5.5) older checkpoints carry the previous key's. */
long lt_audit_verify_keys(const char *path, const uint8_t *const *pks, size_t n_pks, char *err,
                          size_t errlen) LT_NODISCARD;

#endif

/* lt_auditarc: audit retention, exporting old segments of the audit log
 * (docs/operations.md, "Audit retention").
 *
 * A segment is a run of entries, from the live log's anchor (or its start)
 * through an entry that carries a signed checkpoint. It is exported to a new
 * SQLite file holding the entries, their checkpoints, the anchor the segment
 * chains from and a `segment` row (member, first and last seq): the same
 * tables as the live log, so lt_audit_check verifies it with nothing but the
 * member's public signing key. Only once the file is durable and verified
 * are the entries removed from the live log, which first records the last
 * one as its anchor (seq and hash, with its signed checkpoint kept): the
 * live log's chain goes on from there, and the anchor equals the file's
 * signed head, so the two join without a gap. Removal runs in short
 * transactions, so that the running gateway's commits wait at most briefly;
 * an interrupted removal leaves a consistent log (entries at or below the
 * anchor are ignored) and the next export finishes it.
 *
 * One export at a time: each holds LT_AUDITARC_LOCK_NAME from before it
 * chooses its entries until they are removed, and moves the anchor only
 * from where it chose them. Two exports of overlapping ranges would
 * otherwise both anchor, the later one moving the anchor back behind
 * entries the earlier removed (docs/operations.md, "Audit retention"). */
#ifndef LT_AUDITARC_H
#define LT_AUDITARC_H

#include <stddef.h>
#include <stdint.h>

#include "lt_audit.h"
#include "lt_err.h"

/* The file, beside the live log, on which an export holds an exclusive
 * flock (lt_file_lock) for its whole run; it names the export holding it
 * (its pid and file), for the one it refuses. */
#define LT_AUDITARC_LOCK_NAME "audit-export.lock"

/* What an export wrote. */
typedef struct {
    uint64_t first, last; /* seqs exported; first > last when there was nothing to export */
    long entries;
} lt_auditarc_export_t;

/* Exports the entries of the live log at live that are older than
 * before_ms (unix ms), from its start up to the first entry that is not
 * (entry times go back when the clock did), through the newest signed
 * checkpoint among them, to
 * the new file out (which must not exist), checks the file under the keys
 * pks[0..n_pks) (the member's signing key, and its previous one after a
 * rotation, PROTOCOL.md 5.5), then
 * removes them from the live log, whose new anchor records the key in
 * force after it. The live log is checked as it is, then brought to
 * lt_audit_version() as a start would, through one connection; the
 * segment ends at no keys-switched entry. member names
 * the log's member in the file. Refuses to start while another export of
 * live holds LT_AUDITARC_LOCK_NAME, and fails, deleting out, when the
 * anchor moved between the choice of the entries and their removal.
 * Returns 0 (res->entries may be 0: nothing old enough), or -1 with err. */
int lt_auditarc_export(const char *live, const char *out, const char *member, int64_t before_ms,
                       const uint8_t *const *pks, size_t n_pks, lt_auditarc_export_t *res,
                       char *err, size_t errlen);

#ifdef LT_TEST_HOOKS
/* Tests: fn(arg) runs in lt_auditarc_export once the file is written,
 * verified and synced, before the anchor moves: where another export, or
 * anything else that moves the anchor, would race it. NULL to stop. */
void lt_auditarc_set_race_hook(void (*fn)(void *arg), void *arg);
#endif

/* The member named by an exported file's segment row, into member. 0 or -1. */
int lt_auditarc_member(const char *file, char *member, size_t len, char *err, size_t errlen);

/* An exported file, checked, and read in the one read transaction the
 * check ran in: what is read through it is what was checked, even when
 * the file is replaced after the check (`audit --subject --file` reads a
 * file once it has checked it, docs/operations.md "Audit retention"). */
typedef struct _lt_auditarc_t lt_auditarc_t;

/* Opens file (read-only, hardened: lt_sqlopen.h) and checks it under one of
 * pks[0..n_pks): the chain from its anchor, every checkpoint, a signed last
 * entry, and that its segment row matches what was checked. Returns the
 * open file with rep filled, or NULL with err. */
lt_auditarc_t *lt_auditarc_open(const char *file, const uint8_t *const *pks, size_t n_pks,
                                lt_audit_report_t *rep, char *err, size_t errlen);

/* Prepares the subject-access report of the checked file, as
 * lt_audit_by_subject does. 0, or -1 (lt_auditarc_errmsg). */
int lt_auditarc_by_subject(lt_auditarc_t *self, const char *subject,
                           struct sqlite3_stmt **out) LT_NODISCARD;

/* The last SQLite error of the file's connection. */
const char *lt_auditarc_errmsg(const lt_auditarc_t *self);

/* Closes the file (once statements prepared on it are finalized).
 * Idempotent. */
void lt_auditarc_destroy(lt_auditarc_t **self_p);

/* lt_auditarc_open, then closed again: 0 with rep filled, or -1 with err. */
int lt_auditarc_verify(const char *file, const uint8_t *const *pks, size_t n_pks,
                       lt_audit_report_t *rep, char *err, size_t errlen) LT_NODISCARD;

/* 0 when next continues prev without a gap: its anchor is prev's last
 * entry, with the same hash, and records the key in force prev ends with
 * (when both bind keys); nor does next bind fewer entries to keys than
 * prev, nor prev fewer than next while holding entries past the one from
 * which next binds them, which only a file passed off as an older format
 * does (docs/ARCHITECTURE.md, "Audit log", "Keys and entries"). -1 with
 * err otherwise. */
int lt_auditarc_joins(const lt_audit_report_t *prev, const lt_audit_report_t *next, char *err,
                      size_t errlen);

/* 0 when file binds checkpoints to keys from the entry the live log does
 * (its keys_named.since, the true one), or, exported before the log named
 * keys, binds none and holds no entry past that one. Files altered alike
 * through the newest (as an older format, their anchors naming no key)
 * join each other; only the live log tells them from genuine ones
 * (docs/ARCHITECTURE.md, "Keys and entries"). -1 with err naming the
 * first entry the file holds past the live log's since otherwise. */
int lt_auditarc_named_as_live(const lt_audit_report_t *file, const lt_audit_report_t *live,
                              char *err, size_t errlen);

#endif

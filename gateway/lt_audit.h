/* lt_audit: the gateway's append-only, hash-chained audit log
 * (docs/ARCHITECTURE.md, "Audit log").
 *
 * Every lookup or verify served or refused, every feed started or stopped
 * and every rejected input becomes one entry: when, which event, which peer,
 * which dataset and record key, which fields, which purpose and case. Each
 * entry's hash covers the previous entry's hash, so removing or altering an
 * entry breaks the chain; the chain head is signed with the member's signing
 * key at every commit (a checkpoint), so rewriting the whole tail is
 * detectable too. Entries are buffered and committed together at most every
 * 200 ms: auditing never puts a disk sync on a request's path (a crash may
 * lose the last 200 ms of entries, never the chain's integrity). The log is
 * its own SQLite file beside the store.
 *
 * Entries of requests an application made through the HTTP API also name the
 * application and the officer (PROTOCOL.md 8.5). The chain covers these two
 * only when one is set, so entries without them hash as they always did. */
#ifndef LT_AUDIT_H
#define LT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "lt_keys.h"
#include "lt_stats.h"

typedef struct _lt_audit_t lt_audit_t;

typedef struct {
    const char *event;   /* "lookup", "verify", "refused", "feed-start", ... */
    const char *peer;    /* member id of the other side, or "local" */
    const char *target;  /* dataset or view id, or "" */
    const char *subject; /* record key, or "" */
    const char *fields;  /* comma-separated fields released or asked, or "" */
    const char *purpose;
    const char *case_ref;
    const char *detail;  /* outcome or reason */
    /* Who inside the member made a local request (PROTOCOL.md 8.5), or NULL. */
    const char *application;
    const char *officer;
} lt_audit_entry_t;

/* Opens (creating) the audit log at path. NULL with err on failure. */
lt_audit_t *lt_audit_open(const char *path, const lt_keys_t *keys, char *err, size_t errlen);
void lt_audit_destroy(lt_audit_t **self_p);

/* Counts entries written (lienthong_audit_entries) and times each flush
 * (lienthong_store_commit_latency{what="audit"}) in stats. Returns 0, or
 * -1 when registration failed. */
int lt_audit_set_stats(lt_audit_t *self, lt_stats_t *stats);

/* Buffers one entry (strings are copied). */
void lt_audit_add(lt_audit_t *self, const lt_audit_entry_t *e);
/* Commits buffered entries when due (or always when force), chaining them
 * and signing the new head. Returns 0 or -1 (logged). */
int lt_audit_flush(lt_audit_t *self, int force);

/* Checks the chain and every checkpoint signature under pk. Returns the
 * number of entries checked, or -1 with the first broken seq in err. */
long lt_audit_verify(const char *path, const uint8_t pk[LT_KEY_BYTES], char *err, size_t errlen);
/* The same, each checkpoint signed under one of pks[0..n_pks): after a key
 * rotation (PROTOCOL.md 5.5) older checkpoints carry the previous key's. */
long lt_audit_verify_keys(const char *path, const uint8_t *const *pks, size_t n_pks, char *err,
                          size_t errlen);

#endif

/* lt_store_verify: checks a store's content proves itself (docs/ARCHITECTURE.md
 * 4.2): every record against its checksum, and for a replica every kept
 * batch header against the owner's signature and the hash chain, up to the
 * stream's cursor. Used by `lienthong store verify` over a whole store, by
 * the gateway at start over each stream's tail, and by `lienthong restore`
 * over a backup's records (checksums only). */
#ifndef LT_STORE_VERIFY_H
#define LT_STORE_VERIFY_H

#include "lt_dir.h"
#include "lt_err.h"
#include "lt_store.h"

/* What a range found is. DAMAGED: its records are not delivered until
 * repaired. KEY_RETIRED: batches whose signature verifies under a signing
 * key of the owner that a retired directory lists and the directory no
 * longer does, with no batch of a current key after them; reported, not
 * damage (PROTOCOL.md 6.10). */
typedef enum { LT_STORE_DAMAGED_RANGE, LT_STORE_KEY_RETIRED } lt_store_finding_t;

/* Called once per range found: the stream, what it is, the records, and why. */
typedef void (*lt_store_damage_fn)(void *arg, const char *stream, lt_store_finding_t kind,
                                   uint64_t first, uint64_t last, const char *why);

/* Checks stream st (name) from record `from` to its cursor: the records'
 * checksums, and, when it has kept batch headers, each batch against the
 * signing keys of the stream's owner in dir, then those the n_retired
 * directories in retired (authority-signed directories the gateway adopted
 * before, lt_dirpick_retired_open) list for the same member, or the chain
 * back from a later batch that verifies, and the chain to the cursor's
 * hash; a batch no signature proves, directly or through that chain, is
 * damage. Reports each range found. Returns the number of damaged ranges,
 * or -1 on a store error (err says which). */
int lt_store_verify_stream(lt_store_t *store, const lt_dir_t *dir, lt_dir_t *const *retired,
                           size_t n_retired, const char *name, const lt_stream_t *st, uint64_t from,
                           lt_store_damage_fn fn, void *arg, char *err, size_t errlen) LT_NODISCARD;

/* The records pass of lt_store_verify_stream alone: every record of st
 * from the retained tail to the cursor against its checksum, without a
 * directory (batch headers are not checked). Returns the number of damaged
 * ranges, or -1 on a store error (err says which). */
int lt_store_verify_records(lt_store_t *store, const char *name, const lt_stream_t *st,
                            lt_store_damage_fn fn, void *arg, char *err,
                            size_t errlen) LT_NODISCARD;

/* lt_store_verify_stream over every stream, from record 1. */
int lt_store_verify_all(lt_store_t *store, const lt_dir_t *dir, lt_dir_t *const *retired,
                        size_t n_retired, lt_store_damage_fn fn, void *arg, char *err,
                        size_t errlen) LT_NODISCARD;

#endif

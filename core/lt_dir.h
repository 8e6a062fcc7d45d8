/* lt_dir: the federation's signed directory.
 *
 * Three jobs: compile a human-editable source file (libconfig syntax) into a
 * Directory message; sign it with an authority key; and open a signed
 * directory received from disk or a peer, checking the signature against the
 * pinned authority keys BEFORE decoding anything, then its age and its
 * semantic validity. An opened directory answers the questions the gateway
 * asks: who owns this key, may this member do that. */
#ifndef LT_DIR_H
#define LT_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "directory.pb-c.h"
#include "lt_err.h"
#include "lt_keys.h"
#include "lt_limits.h"

#define LT_DIR_DOMAIN "lienthong/1 directory"

typedef struct _lt_dir_t lt_dir_t;

/* Pinned authority public keys; with room for the keys learned
 * (lt_dir_learned_add) and the next authority keys a directory announces
 * (lt_dir_trust). lt_dir_pins_add fills at most LT_DIR_MAX_PINS. */
typedef struct {
    uint8_t keys[LT_DIR_MAX_PINS + LT_DIR_MAX_LEARNED + LT_DIR_MAX_NEXT_AUTHORITIES][LT_KEY_BYTES];
    size_t count;
} lt_dir_pins_t;

/* Compiles a directory source file into serialised Directory bytes.
 * `version` and `issued_at`/`expires_at` override the file when non-zero.
 * Errors are "FILE:LINE: problem". Returns 0 or -1. */
int lt_dir_compile(const char *path, uint64_t version, int64_t issued_at, int64_t expires_at,
                   uint8_t **out, size_t *out_len, char *err, size_t errlen) LT_NODISCARD;

/* Wraps Directory bytes into SignedDirectory bytes signed by `authority`. */
int lt_dir_sign(const uint8_t *dir, size_t len, const lt_keys_t *authority, uint8_t **out,
                size_t *out_len) LT_NODISCARD;

/* Verifies and decodes a signed directory. `now` is unix seconds; pass 0
 * to skip the expiry check (inspection only). `federation` may be NULL.
 * Returns NULL with the reason in err. */
lt_dir_t *lt_dir_open(const uint8_t *signed_bytes, size_t len, const lt_dir_pins_t *pins,
                      const char *federation, int64_t now, char *err, size_t errlen) LT_NODISCARD;
/* Reads a signed directory file and opens it. */
lt_dir_t *lt_dir_load(const char *path, const lt_dir_pins_t *pins, const char *federation,
                      int64_t now, char *err, size_t errlen) LT_NODISCARD;
void lt_dir_destroy(lt_dir_t **self_p);

/* The key of trust that verifies self's signature: the key that verified
 * it when it was opened, when trust holds it, without verifying again;
 * else the one found as lt_dir_open finds it (at most its bounded
 * verifications). 0 with it in key, -1 when none does. */
int lt_dir_signer(const lt_dir_t *self, const lt_dir_pins_t *trust,
                  uint8_t key[LT_KEY_BYTES]) LT_NODISCARD;

/* The authority keys a gateway learned through an announcement (5.5),
 * kept in a file beside the directory it adopted (data_dir/authority.learned,
 * at most LT_DIR_MAX_LEARNED keys of 32 bytes, oldest first) so that the
 * adopted copy still verifies after a restart, before the operator pins the
 * new key. Writing a directory d over kept, the one on disk, goes:
 * - lt_dir_learned_prepare, before d is written: adds the key of trust that
 *   signs d when pins lack it, so that kept and d both verify with the keys
 *   on disk (a full set first drops its oldest key kept does not need);
 * - lt_dir_learned_settle, once d is in place: leaves that key alone, or
 *   removes the file when d's signer is pinned (nothing learned);
 * - lt_dir_learned_add gives out = pins plus the keys the file holds (a
 *   file that is missing adds nothing; one that is not keys is ignored
 *   with 1 returned, so that the caller can say so).
 * prepare and settle return 0, or -1 with errno (EINVAL: d does not
 * verify under trust). */
int lt_dir_learned_prepare(const char *path, const lt_dir_t *kept, const lt_dir_t *d,
                           const lt_dir_pins_t *trust, const lt_dir_pins_t *pins) LT_NODISCARD;
int lt_dir_learned_settle(const char *path, const lt_dir_t *d, const lt_dir_pins_t *trust,
                          const lt_dir_pins_t *pins) LT_NODISCARD;
int lt_dir_learned_add(const char *path, const lt_dir_pins_t *pins, lt_dir_pins_t *out);

/* Semantic checks shared by compile and open. On failure names the item:
 * *section is "members", "datasets", "views" or "policies" and *index its
 * position, or *section is NULL for a top-level problem. */
int lt_dir_validate(const Lienthong__Directory *d, const char **section, size_t *index, char *err,
                    size_t errlen) LT_NODISCARD;

const Lienthong__Directory *lt_dir_get(const lt_dir_t *self);
uint64_t lt_dir_version(const lt_dir_t *self);
int64_t lt_dir_expires(const lt_dir_t *self);
/* The exact signed bytes, for persisting and offering to peers. */
const uint8_t *lt_dir_signed_bytes(const lt_dir_t *self, size_t *len);

const Lienthong__Member *lt_dir_member(const lt_dir_t *self, const char *id);
/* Why member id may not be dealt with (PROTOCOL.md 3.2, 5.4): NULL when it
 * is listed and active, else "not in the directory", "suspended" or
 * "revoked". Asked again for every message, as the directory may change. */
const char *lt_dir_inactive(const lt_dir_t *self, const char *id);
/* The same as a phrase for log lines and errors, "ID is suspended in
 * directory version N", written to buf; returns buf, or NULL (buf left
 * alone) when id is listed and active. */
const char *lt_dir_inactive_say(const lt_dir_t *self, const char *id, char *buf, size_t len);
/* The member whose current or next transport key is key (PROTOCOL.md 5.5). */
const Lienthong__Member *lt_dir_member_by_transport(const lt_dir_t *self,
                                                    const uint8_t key[LT_KEY_BYTES]);
const Lienthong__Dataset *lt_dir_dataset(const lt_dir_t *self, const char *id);
const Lienthong__View *lt_dir_view(const lt_dir_t *self, const char *id);
/* The dataset a stream is, or is a view of (id: a dataset or view id);
 * NULL when the directory knows neither, or self is NULL (no directory yet). */
const Lienthong__Dataset *lt_dir_dataset_of(const lt_dir_t *self, const char *id);
/* Policy of consumer on target (dataset or view), or NULL. */
const Lienthong__Policy *lt_dir_policy(const lt_dir_t *self, const char *consumer,
                                       const char *target);
/* 1 if policy allows op, 0 otherwise (NULL policy allows nothing). */
int lt_dir_policy_allows(const Lienthong__Policy *policy, Lienthong__Operation op);
/* 1 if policy lists purpose among its purposes, 0 otherwise (NULL policy,
 * or none listed: no purpose is allowed, directory.proto). */
int lt_dir_policy_purpose(const Lienthong__Policy *policy, const char *purpose);

/* Words for enums, e.g. "active", "revoked"; "subscribe". */
const char *lt_dir_status_name(Lienthong__MemberStatus s);
const char *lt_dir_op_name(Lienthong__Operation op);

/* ---- key rotation (PROTOCOL.md 5.5) ---- */

/* A member's transport (or signing) keys: the current one, then the next
 * one when listed. Returns how many (1 or 2) were written to keys. */
size_t lt_dir_transport_keys(const Lienthong__Member *m, const uint8_t *keys[2]);
size_t lt_dir_signing_keys(const Lienthong__Member *m, const uint8_t *keys[2]);
/* 1 if transport_pk and signing_pk are each the member's current or next
 * key of that kind; 0 otherwise. */
int lt_dir_member_holds(const Lienthong__Member *m, const uint8_t *transport_pk,
                        const uint8_t *signing_pk);
/* Verifies a signature of member m (lt_keys_verify) under its current or
 * its next signing key. Returns 0 when either verifies, -1 otherwise. */
int lt_dir_member_verify(const Lienthong__Member *m, const char *domain, const uint8_t *msg,
                         size_t len, const uint8_t sig[LT_SIG_BYTES]) LT_NODISCARD;
/* The authority keys a successor of `current` may be signed by: the pins,
 * then the next authority keys `current` announces (NULL: the pins only). */
void lt_dir_trust(const lt_dir_pins_t *pins, const lt_dir_t *current, lt_dir_pins_t *out);

/* 1 when id is a member id, INSTANCE/CLASS/CODE: three non-empty parts of
 * upper-case letters, digits, '_' or '-', shorter than 128 bytes. */
int lt_dir_member_id_ok(const char *id);

/* Parses a Z85 authority key and adds it to pins; returns 0 or -1. */
int lt_dir_pins_add(lt_dir_pins_t *pins, const char *z85) LT_NODISCARD;
/* Adds key to pins unless already there; returns 0, or -1 when pins is
 * full. */
int lt_dir_pins_add_key(lt_dir_pins_t *pins, const uint8_t key[LT_KEY_BYTES]) LT_NODISCARD;

#endif

/* lt_keys: a member's or an authority's secret key material.
 *
 * A member has two independent key pairs: X25519 for CURVE transport and
 * Ed25519 for signing. They are generated separately and never derived from
 * one another. An authority has only an Ed25519 signing pair. Secrets live in
 * sodium_malloc'd memory (guard pages, mlock'd, wiped on free) and never
 * leave this module except as the CURVE secret handed to libzmq. */
#ifndef LT_KEYS_H
#define LT_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define LT_KEY_BYTES 32
#define LT_SIG_BYTES 64
#define LT_Z85_KEY_LEN 40

typedef enum { LT_KEYS_MEMBER = 1, LT_KEYS_AUTHORITY = 2 } lt_keys_kind_t;

typedef struct _lt_keys_t lt_keys_t;

/* Fresh random keys of `kind`; NULL on failure. */
lt_keys_t *lt_keys_new(lt_keys_kind_t kind);
/* Loads a secret key file. Refuses files readable by group or others.
 * On failure returns NULL and writes the reason into err. */
lt_keys_t *lt_keys_load(const char *path, char *err, size_t errlen);
/* Wipes and frees; idempotent, sets *self_p to NULL. */
void lt_keys_destroy(lt_keys_t **self_p);

/* Writes the secret key file with mode 0600, atomically. */
int lt_keys_save(const lt_keys_t *self, const char *path) __attribute__((warn_unused_result));

/* Exchanges the key material of a and b, so that every holder of a sees
 * b's keys: how a gateway switches to its next keys in place (PROTOCOL.md
 * 5.5). Both must be of the same kind; returns 0, or -1 and swaps nothing. */
int lt_keys_swap(lt_keys_t *a, lt_keys_t *b) __attribute__((warn_unused_result));
/* The file of a key file's next keys (`keygen --next`): PREFIX.next.key for
 * PREFIX.key, else KEYFILE.next. Returns 0, or -1 when out is too small. */
int lt_keys_next_path(const char *key_file, char *out, size_t len)
    __attribute__((warn_unused_result));
/* The file a promoted key file's previous keys are kept in: PREFIX.old.key
 * for PREFIX.key, else KEYFILE.old. Returns 0 or -1 as lt_keys_next_path. */
int lt_keys_old_path(const char *key_file, char *out, size_t len)
    __attribute__((warn_unused_result));
/* The file of the public signing keys of rotations before the previous
 * one, which audit logs may still be signed under (`keys promote` appends
 * to it; one Z85 key a line): PREFIX.retired.pub for PREFIX.key, else
 * KEYFILE.retired. Returns 0 or -1 as lt_keys_next_path. */
int lt_keys_retired_path(const char *key_file, char *out, size_t len)
    __attribute__((warn_unused_result));

lt_keys_kind_t lt_keys_kind(const lt_keys_t *self);
/* Public keys, 32 bytes each. transport_public is NULL for an authority. */
const uint8_t *lt_keys_transport_public(const lt_keys_t *self);
const uint8_t *lt_keys_signing_public(const lt_keys_t *self);
/* The CURVE secret for ZMQ_CURVE_SECRETKEY only. */
const uint8_t *lt_keys_transport_secret(const lt_keys_t *self);

/* Detached Ed25519 signature over domain || 0x00 || msg. */
int lt_keys_sign(const lt_keys_t *self, const char *domain, const uint8_t *msg, size_t len,
                 uint8_t sig[LT_SIG_BYTES]) __attribute__((warn_unused_result));

/* Verifies a signature made by lt_keys_sign under public key pk.
 * Returns 0 when valid, -1 otherwise. */
int lt_keys_verify(const uint8_t pk[LT_KEY_BYTES], const char *domain, const uint8_t *msg,
                  size_t len, const uint8_t sig[LT_SIG_BYTES]) __attribute__((warn_unused_result));

/* Z85 text form of a 32-byte public key: out must hold 41 bytes. */
void lt_keys_z85_encode(const uint8_t key[LT_KEY_BYTES], char out[LT_Z85_KEY_LEN + 1]);
/* Strict decode: exactly 40 Z85 characters. Returns 0 or -1. */
int lt_keys_z85_decode(const char *text, uint8_t key[LT_KEY_BYTES]) __attribute__((warn_unused_result));

#endif

/* lt_keys: a member's or an authority's secret key material, and the
 * files that keep a member's keys across rotations.
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

/* LT_NODISCARD: a result the caller must look at (core/lt_err.h says
 * why). keys is below core and includes nothing of ours
 * (docs/ARCHITECTURE.md, section 2), so it defines the same word, which
 * lt_err.h leaves as it finds it. */
#ifndef LT_NODISCARD
#define LT_NODISCARD __attribute__((warn_unused_result))
#endif

#define LT_KEY_BYTES   32
#define LT_SIG_BYTES   64
#define LT_Z85_KEY_LEN 40

typedef enum { LT_KEYS_MEMBER = 1, LT_KEYS_AUTHORITY = 2 } lt_keys_kind_t;

typedef struct _lt_keys_t lt_keys_t;

/* Fresh random keys of `kind`; NULL on failure. */
lt_keys_t *lt_keys_new(lt_keys_kind_t kind);
/* Loads a secret key file. Refuses a symbolic link, anything but a
 * regular file, a file not owned by the effective user, and one accessible
 * by group or others. On failure returns NULL and writes the reason,
 * quoting path, into err. */
lt_keys_t *lt_keys_load(const char *path, char *err, size_t errlen);
/* Wipes and frees; idempotent, sets *self_p to NULL. */
void lt_keys_destroy(lt_keys_t **self_p);

/* Writes the secret key file with mode 0600, atomically. */
int lt_keys_save(const lt_keys_t *self, const char *path) LT_NODISCARD;

/* Exchanges the key material of a and b, so that every holder of a sees
 * b's keys: how a gateway switches to its next keys in place (PROTOCOL.md
 * 5.5). Both must be of the same kind; returns 0, or -1 and swaps nothing. */
int lt_keys_swap(lt_keys_t *a, lt_keys_t *b) LT_NODISCARD;
/* The file of a key file's next keys (`keygen --next`): PREFIX.next.key for
 * PREFIX.key, else KEYFILE.next. Returns 0, or -1 when out is too small. */
int lt_keys_next_path(const char *key_file, char *out, size_t len) LT_NODISCARD;
/* The file earlier versions kept a promoted key file's previous keys in,
 * secrets included (lt_keys_old_public still reads its public part):
 * PREFIX.old.key for PREFIX.key, else KEYFILE.old. Returns 0 or -1 as lt_keys_next_path. */
int lt_keys_old_path(const char *key_file, char *out, size_t len) LT_NODISCARD;
/* The public keys' file beside a key file, as keygen writes it:
 * PREFIX.pub for PREFIX.key, or PREFIX.next.pub when next. Returns 0, or
 * -1 when key_file does not end in ".key" (keygen wrote none beside it) or
 * out is too small. */
int lt_keys_pub_path(const char *key_file, int next, char *out, size_t len) LT_NODISCARD;
/* The file that keeps the secret keys a promote replaced until the audit
 * log records the switch from them (docs/operations.md, "Rotating keys"):
 * PREFIX.switch.key for PREFIX.key, else KEYFILE.switch; mode 0600, removed
 * by whoever records the switch (the gateway at a reload, a stop or its
 * next start; `keys promote` when the gateway is stopped). Returns 0 or -1
 * as lt_keys_next_path. */
int lt_keys_switch_path(const char *key_file, char *out, size_t len) LT_NODISCARD;
/* Removes key_file's switch file once its keys are no longer needed, and
 * syncs its directory: unsynced, a power loss could bring it back, a
 * switch that looks unrecorded. `keys promote` and the gateway both remove
 * it through this. 1 when removed, 0 when there was none; -1 when it
 * cannot be removed, -2 when removed but its directory cannot be synced:
 * then err says which (the path and errno's reason) and errno is kept. */
int lt_keys_switch_remove(const char *key_file, char *err, size_t errlen) LT_NODISCARD;
/* Removes the temporary files lt_keys_save leaves when it is killed while
 * a promote writes key_file or its switch file (KEYFILE.new and the switch
 * file's .new, secret keys both), and syncs their directory. `keys
 * promote` and a starting gateway call it under the promote lock, so that
 * no write under way loses its file. Returns how many it removed (0 to 2),
 * their paths in done (", " between them), or -1 with err saying which
 * cannot be removed, or that the directory cannot be synced (errno kept;
 * done names those removed before). */
int lt_keys_leftovers_remove(const char *key_file, char *done, size_t donelen, char *err,
                             size_t errlen) LT_NODISCARD;
/* The lock a promote holds from before it touches the switch file until
 * the key file holds the next keys, and a starting gateway while it
 * decides what a switch file means (PREFIX.promote.lock beside PREFIX.key,
 * else KEYFILE.promote; docs/operations.md, "Rotating keys"): without it a
 * gateway starting during a promote could read the key file before promote
 * replaced it and take the switch file for one a killed promote left.
 * Waits up to wait_ms for a holder. Returns the descriptor (close it to
 * release), or -1 with errno (EWOULDBLOCK: still held after wait_ms). */
/* How long a promote and a starting gateway wait for each other's hold of
 * that lock: each holds it well under this (a few file writes). */
#define LT_KEYS_PROMOTE_WAIT_MS 10000
int lt_keys_promote_lock(const char *key_file, int wait_ms) LT_NODISCARD;
/* The file of the public signing keys of rotations before the previous
 * one, which audit logs may still be signed under (the retired file, read
 * and written by the functions below): PREFIX.retired.pub for PREFIX.key,
 * else KEYFILE.retired. Returns 0 or -1 as lt_keys_next_path. */
int lt_keys_retired_path(const char *key_file, char *out, size_t len) LT_NODISCARD;

/* The retired file (lt_keys_retired_path) is text, written by `keys
 * promote` and read by `audit --verify`, both through the two functions
 * below: one Z85 public signing key (40 characters) a line, each line ended
 * by "\n" ("\r\n" accepted; the last line may lack its end). Empty lines
 * and lines starting with '#' are passed over; any other line that is not
 * exactly one key makes the whole file refused, with its path, the line's
 * number and the line quoted in err, never skipped. A key repeated is read
 * once. At most LT_KEYS_RETIRED_MAX_BYTES; an absent file holds no key. */
#define LT_KEYS_RETIRED_MAX_BYTES (1 << 20)

/* Adds the keys of key_file's retired file, in file order, to pks[*n..cap):
 * on entry pks[0..*n) holds keys the caller has already (0 for none), which
 * are not added again and count toward cap. Returns 0 with *n the new count
 * (unchanged when the file is absent), or -1 with *n unchanged and err
 * saying why: the file cannot be read, a bad line, or a key beyond cap. */
int lt_keys_retired_load(const char *key_file, uint8_t (*pks)[LT_KEY_BYTES], size_t cap, size_t *n,
                         char *err, size_t errlen) LT_NODISCARD;

/* Appends pk to key_file's retired file unless it holds pk already. The
 * file is replaced atomically (temporary file, fsync, rename, fsync of the
 * directory; mode 0644) so a crash leaves the old or the new file, never a
 * torn line; it is checked as lt_keys_retired_load reads it first, so a
 * file that would be refused is left alone. Returns 0 when appended, 1 when
 * pk was there already (nothing written), -1 when the file cannot be read,
 * is refused or would grow past LT_KEYS_RETIRED_MAX_BYTES, or -2 when it
 * cannot be written (errno says why); err says why on -1 and -2. */
int lt_keys_retired_append(const char *key_file, const uint8_t pk[LT_KEY_BYTES], char *err,
                           size_t errlen) LT_NODISCARD;

/* The public keys of the keys a promote replaced (docs/operations.md,
 * "Rotating keys"): PREFIX.old.pub for PREFIX.key, else KEYFILE.old.pub,
 * in the form of PREFIX.pub (a comment, then transport_key = "Z85"; and
 * signing_key = "Z85";, each once). The secret keys are kept only until the
 * audit log records the switch (lt_keys_switch_path). */
int lt_keys_old_pub_path(const char *key_file, char *out, size_t len) LT_NODISCARD;
/* Writes k's public keys as key_file's .old.pub (atomically, mode 0644).
 * 0, or -1 with err (errno says why). */
int lt_keys_old_public_save(const char *key_file, const lt_keys_t *k, char *err,
                            size_t errlen) LT_NODISCARD;
/* The same from the two public keys (a failed promote puts back those it
 * replaced). */
int lt_keys_old_public_write(const char *key_file, const uint8_t transport[LT_KEY_BYTES],
                             const uint8_t signing[LT_KEY_BYTES], char *err,
                             size_t errlen) LT_NODISCARD;
/* Reads the previous public keys of key_file: from its .old.pub, or, when
 * there is none, the public part of the .old.key an earlier version kept.
 * 1 when read, 0 when neither file exists, -1 with err naming the file
 * when one cannot be read or is not as written (for a bad line of the
 * .old.pub, "PATH:LINE: what is wrong: 'TOKEN'", the offending token
 * quoted). from (NULL: not wanted) gets the file the keys were read from,
 * or tried last: the .old.pub when neither exists. */
int lt_keys_old_public(const char *key_file, uint8_t transport[LT_KEY_BYTES],
                       uint8_t signing[LT_KEY_BYTES], char *from, size_t fromlen, char *err,
                       size_t errlen) LT_NODISCARD;

/* Room for the signing keys an audit log may have been signed under
 * (lt_keys_signing_history plus any named by hand): what `audit --verify`
 * and `restore` check a log under. */
#define LT_KEYS_HISTORY_MAX 256

/* The public signing keys key_file's member has signed its audit log's
 * checkpoints with (PROTOCOL.md 5.5): the key file's own first, then the
 * previous one `keys promote` kept (lt_keys_old_public), then those of the
 * retired file (lt_keys_retired_load), each once, into pks[0..*n) (cap 2 or
 * more). `audit --verify` and `restore` check a log under them. 0, or -1
 * with err naming the file that cannot be read. */
int lt_keys_signing_history(const char *key_file, uint8_t (*pks)[LT_KEY_BYTES], size_t cap,
                            size_t *n, char *err, size_t errlen) LT_NODISCARD;

lt_keys_kind_t lt_keys_kind(const lt_keys_t *self);
/* Public keys, 32 bytes each. transport_public is NULL for an authority. */
const uint8_t *lt_keys_transport_public(const lt_keys_t *self);
const uint8_t *lt_keys_signing_public(const lt_keys_t *self);
/* The CURVE secret for ZMQ_CURVE_SECRETKEY only. */
const uint8_t *lt_keys_transport_secret(const lt_keys_t *self);

/* Detached Ed25519 signature over domain || 0x00 || msg. */
int lt_keys_sign(const lt_keys_t *self, const char *domain, const uint8_t *msg, size_t len,
                 uint8_t sig[LT_SIG_BYTES]) LT_NODISCARD;

/* Verifies a signature made by lt_keys_sign under public key pk.
 * Returns 0 when valid, -1 otherwise. */
int lt_keys_verify(const uint8_t pk[LT_KEY_BYTES], const char *domain, const uint8_t *msg,
                   size_t len, const uint8_t sig[LT_SIG_BYTES]) LT_NODISCARD;

/* Z85 text form of a 32-byte public key: out must hold 41 bytes. */
void lt_keys_z85_encode(const uint8_t key[LT_KEY_BYTES], char out[LT_Z85_KEY_LEN + 1]);
/* Strict decode: exactly 40 Z85 characters. Returns 0 or -1. */
int lt_keys_z85_decode(const char *text, uint8_t key[LT_KEY_BYTES]) LT_NODISCARD;

#endif

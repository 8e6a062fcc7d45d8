/* lt_dirpick: which directory a gateway runs with (PROTOCOL.md 5.3, 5.5,
 * 5.6), chosen by one rule for the gateway at start and for every command
 * that acts on what the gateway runs with (`gateway --check`, `store
 * verify`, `api --check` and the API's own answers, `keys promote`).
 *
 * The candidates are the configured directory file and the copy adopted in
 * data_dir (directory.signed). Each is verified with every check of 5.3 but
 * the expiry, under the pinned authority keys, the keys learned through an
 * announcement (data_dir/authority.learned) and the next keys the other
 * candidate announces (5.5): after an authority rotation the newer copy
 * is signed by a key the configuration does not pin yet. The newest one
 * that opens is taken, expired or not: an older one may list a member
 * revoked since (5.6). Nothing is written; the gateway keeps the one taken
 * for the next start itself (lt_gwdir). The directories the gateway kept as
 * retired are opened here too, for the owners' old signing keys (6.10). */
#ifndef LT_DIRPICK_H
#define LT_DIRPICK_H

#include <stdint.h>

#include "lt_dir.h"
#include "lt_err.h"

/* The files a gateway keeps in its data_dir (PROTOCOL.md 5.3, 5.5). */
#define LT_DIRPICK_ADOPTED "directory.signed"
#define LT_DIRPICK_LEARNED "authority.learned"

/* The paths of those files in data_dir, into buf: the one place they are
 * named, for the gateway, its --check and the commands. */
void lt_dirpick_adopted_path(const char *data_dir, char *buf, size_t len);
void lt_dirpick_learned_path(const char *data_dir, char *buf, size_t len);

/* What was looked at: both candidates as they opened (NULL when not), the
 * one taken, and why the others did not open. */
typedef struct {
    lt_dir_t *conf;        /* the configured file */
    lt_dir_t *adopted;     /* the adopted copy */
    lt_dir_t *taken;       /* conf, adopted, or NULL when neither opened */
    int have_adopted;      /* the adopted copy exists (it may not open) */
    lt_dir_pins_t trust;   /* what the two were verified under */
    char why_conf[700];    /* why conf did not open */
    char why_adopted[700]; /* why adopted did not open */
} lt_dirpick_t;

/* Opens conf_path and adopted_path (which may not exist) under base, the
 * pinned and learned keys, as the rule above says, at unix time now (for
 * the bound on issued_at only). Fills p; lt_dirpick_clear frees it. */
void lt_dirpick_open(lt_dirpick_t *p, const char *conf_path, const char *adopted_path,
                     const lt_dir_pins_t *base, const char *federation, int64_t now);

/* Hands p->taken to the caller (NULL when neither opened) and frees the
 * rest of p. */
lt_dir_t *lt_dirpick_take(lt_dirpick_t *p);

/* Frees what p holds. Idempotent. */
void lt_dirpick_clear(lt_dirpick_t *p);

/* Opens, as lt_dirpick_open does, what a gateway configured with
 * conf_path, pins and federation looks at on data_dir: its adopted copy,
 * the pins and data_dir's learned keys as base, at the present time. */
void lt_dirpick_open_data_dir(lt_dirpick_t *p, const char *conf_path, const char *data_dir,
                              const lt_dir_pins_t *pins, const char *federation);

/* The directory a gateway configured with conf_path, pins and federation
 * runs with on data_dir: what lt_dirpick_open_data_dir opens, the
 * rule above. NULL with the reasons in err when neither opens (the
 * configured file's reason first, as that is the one an operator fixes). */
lt_dir_t *lt_dirpick_data_dir(const char *conf_path, const char *data_dir,
                              const lt_dir_pins_t *pins, const char *federation, char *err,
                              size_t errlen) LT_NODISCARD;

/* The directories a gateway adopted before one that dropped a signing key
 * of some member, kept in data_dir as directory.retired-VERSION.signed:
 * the owners' retired keys they list prove at rest the batches signed
 * before a rotation (PROTOCOL.md 5.5, 6.10). A copy is kept while it lists
 * a member's signing key that neither the directory in use nor a newer
 * copy lists, at most LT_DIRPICK_MAX_RETIRED of them, the newest. The
 * authority keys that signed them, when not pinned, are kept in
 * data_dir/authority.retired (at most LT_DIRPICK_MAX_RETIRED_SIGNERS, 32
 * bytes each, oldest first), trusted for these copies alone: a copy stays
 * usable after the authority rotates its key and its pin is replaced. */
#define LT_DIRPICK_RETIRED_PREFIX      "directory.retired-"
#define LT_DIRPICK_RETIRED_SUFFIX      ".signed"
#define LT_DIRPICK_RETIRED_SIGNERS     "authority.retired"
#define LT_DIRPICK_MAX_RETIRED         32
#define LT_DIRPICK_MAX_RETIRED_SIGNERS 8

/* The retired directories that opened, newest first. */
typedef struct {
    lt_dir_t *dirs[LT_DIRPICK_MAX_RETIRED];
    size_t count;
} lt_dirpick_retired_t;

/* What retired copies are verified under: the pins with data_dir's learned
 * keys, then the keys of data_dir/authority.retired. */
typedef struct {
    lt_dir_pins_t base;
    lt_dir_pins_t signers;
} lt_dirpick_rtrust_t;

/* The path of the retired directory of version in data_dir, into buf. */
void lt_dirpick_retired_path(const char *data_dir, uint64_t version, char *buf, size_t len);

/* The versions of the retired directories in data_dir, newest first, at
 * most cap (the number found may be larger; it is returned). */
size_t lt_dirpick_retired_list(const char *data_dir, uint64_t *versions, size_t cap);

/* Fills t for data_dir; a signers file that is not keys adds nothing (and
 * is warned about). */
void lt_dirpick_retired_trust(const char *data_dir, const lt_dir_pins_t *pins,
                              lt_dirpick_rtrust_t *t);

/* Opens the retired copy of version in data_dir, verified (expiry aside)
 * under t; NULL with the reason in why. */
lt_dir_t *lt_dirpick_retired_load(const char *data_dir, uint64_t version,
                                  const lt_dirpick_rtrust_t *t, const char *federation, char *why,
                                  size_t len) LT_NODISCARD;

/* Told of a retired copy that does not open: its version and why. */
typedef void(lt_dirpick_unopened_fn)(void *arg, uint64_t version, const char *why);

/* Opens into r the newest LT_DIRPICK_MAX_RETIRED retired directories in
 * data_dir, each verified as lt_dirpick_retired_load does under t; one
 * that does not open is left out and passed to unopened(arg, ...). held
 * (NULL: none) holds copies the caller verified already, at the index of
 * their version in lt_dirpick_retired_list's order (newest first): each
 * is taken into r, its slot set to NULL, instead of being verified again. */
void lt_dirpick_retired_open_under(lt_dirpick_retired_t *r, const char *data_dir,
                                   const lt_dirpick_rtrust_t *t, const char *federation,
                                   lt_dir_t **held, lt_dirpick_unopened_fn *unopened, void *arg);
/* The same under the keys data_dir's gateway trusts them under
 * (lt_dirpick_retired_trust); one that does not open is warned about. */
void lt_dirpick_retired_open(lt_dirpick_retired_t *r, const char *data_dir,
                             const lt_dir_pins_t *pins, const char *federation);

/* Frees what r holds. Idempotent. */
void lt_dirpick_retired_clear(lt_dirpick_retired_t *r);

/* The most copies lt_dirpick_retired_fit looks at, and so the most it
 * drops: those of data_dir it lists and at most LT_DIRPICK_MAX_RETIRED
 * more. */
#define LT_DIRPICK_FIT_MAX (3 * LT_DIRPICK_MAX_RETIRED)

/* Bounds signers, the keys data_dir/authority.retired is to hold (oldest
 * first; the file's and those of the n_more copies, at most
 * LT_DIRPICK_MAX_RETIRED, data_dir is about to keep), to
 * LT_DIRPICK_MAX_RETIRED_SIGNERS, so that no copy kept is left that none
 * of them verifies. Within the bound nothing changes. Past it, the copies
 * of data_dir and more are taken newest first, each keeping the key that
 * signed it (unless pinned) while fewer than the bound are kept: a key
 * no copy needs goes first, and a copy whose key would be one more goes
 * with it, its version put in drop (*n_drop of them). The caller removes
 * those before it writes signers (lt_dirpick_retired_signers_write): a
 * copy on disk always opens with the keys on disk. */
void lt_dirpick_retired_fit(const char *data_dir, const lt_dir_pins_t *pins, const char *federation,
                            const lt_dir_t *const *more, size_t n_more, lt_dir_pins_t *signers,
                            uint64_t drop[LT_DIRPICK_FIT_MAX], size_t *n_drop);

/* Writes signers to data_dir/authority.retired (mode 0644: public keys, as
 * the directories they verify are public). 0, or -1 with errno. */
int lt_dirpick_retired_signers_write(const char *data_dir,
                                     const lt_dir_pins_t *signers) LT_NODISCARD;

/* "directory version N expired at 2026-01-31T00:00:00Z" into buf, for
 * messages to peers, the log and the API's readiness. */
void lt_dirpick_expired_text(const lt_dir_t *dir, char *buf, size_t len);

#endif

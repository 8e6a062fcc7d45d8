/* lt_gwcheck: what the gateway needs to start, checked without starting it
 * (`lienthong gateway --check`), and the checks the start itself shares:
 *
 *   key file     readable by this user, a member key, mode 0600
 *   data_dir     exists owned by this user, or can be created (mode 0700)
 *   local socket its directory likewise (mode 0700, proto/PROTOCOL.md 3.1)
 *   listen       the address can be bound
 *   directory    the one the gateway starts with (lt_dirpick: the newest of
 *                the configured file and the copy adopted in data_dir that
 *                opens; a warning for the one that does not), not expired
 *                (a warning when it expires within 7 days), listing this
 *                member with the keys of the key file (a warning when it
 *                suspends, revokes or does not list it)
 *   peers        each listed, active, with an endpoint
 *   subscribe    each stream listed, and a policy grants us subscribe (a
 *                warning when it lists no purposes: nothing asked for a
 *                purpose is granted, no pre-fill from the replica, 8.8)
 *
 * Every problem is reported with what to do about it. */
#ifndef LT_GWCHECK_H
#define LT_GWCHECK_H

#include <stdio.h>

#include "lt_dir.h"
#include "lt_err.h"
#include "lt_gwcfg.h"
#include "lt_keys.h"

/* Runs every check, printing one line per check to out ("ok", "warning" or
 * "error" with a "fix:" line) and a summary. Returns the exit code: 0 when
 * the gateway can start, 1 otherwise. */
int lt_gwcheck_run(const lt_gwcfg_t *cfg, FILE *out);

/* Loads the member key file; on failure err says why (owner, mode, user)
 * and what to do. NULL on failure. */
lt_keys_t *lt_gwcheck_keys(const lt_gwcfg_t *cfg, char *err, size_t errlen);

/* Our own entry, when the directory lists it, must carry the public keys of
 * `keys` (current, or next during a rotation); its status is not checked,
 * nor is its absence (PROTOCOL.md 5.4). Returns 0, or -1 with the reason in
 * err. */
int lt_gwcheck_self(const lt_gwcfg_t *cfg, const lt_keys_t *keys, const lt_dir_t *dir, char *err,
                    size_t errlen) LT_NODISCARD;

/* Our own entry must exist and carry the public keys of `keys`: what a
 * switch to new keys needs (5.5). Returns 0, or -1 with the reason in err. */
int lt_gwcheck_listed(const lt_gwcfg_t *cfg, const lt_keys_t *keys, const lt_dir_t *dir, char *err,
                      size_t errlen) LT_NODISCARD;

#endif

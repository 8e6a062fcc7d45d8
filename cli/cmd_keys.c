/* cmd_keys: `lienthong keygen` (and `--next`), `authority-keygen`, `pubkey`
 * and `keys promote`, the operator's side of key rotation (PROTOCOL.md 5.5). */
#include "lt_audit.h"
#include "lt_cli.h"
#include "lt_dirpick.h"
#include "lt_file.h"
#include "lt_gwcfg.h"
#include "lt_keys.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *USAGE_KEYGEN = "lienthong keygen --out PREFIX [--member ID] [--next]";
static const char *USAGE_AUTH = "lienthong authority-keygen --out PREFIX";
static const char *USAGE_PUB = "lienthong pubkey KEYFILE";
static const char *USAGE_KEYS =
    "lienthong keys promote --config GATEWAY_CONFIG [--key KEYFILE] [--force]\n"
    "       lienthong keys promote --key KEYFILE --force";

/* Prints the public keys as directory source lines; `next` names them as
 * the member's next keys (PROTOCOL.md 5.5). */
static void s_print_public(FILE *f, const lt_keys_t *k, const char *member, int next)
{
    char z[LT_Z85_KEY_LEN + 1];
    const char *pre = next ? "next_" : "";
    if (lt_keys_kind(k) == LT_KEYS_MEMBER) {
        fprintf(f, "# %spublic keys of %s; paste into the directory source\n", next ? "next " : "",
                member ? member : "this member");
        lt_keys_z85_encode(lt_keys_transport_public(k), z);
        fprintf(f, "%stransport_key = \"%s\";\n", pre, z);
        lt_keys_z85_encode(lt_keys_signing_public(k), z);
        fprintf(f, "%ssigning_key = \"%s\";\n", pre, z);
    } else {
        lt_keys_z85_encode(lt_keys_signing_public(k), z);
        fprintf(f, "# authority public key; pin it in every gateway's authority_keys\n");
        fprintf(f, "authority_key = \"%s\";\n", z);
    }
}

/* Where the package keeps keys and configuration (dist/lienthong.tmpfiles). */
#define LT_KEYS_PACKAGE_DIR "/etc/lienthong"

/* Reports a file that cannot be written, with why and what to do. */
static int s_cannot_write(const char *cmd, const char *path)
{
    char dir[4096], why[4600], me[64];
    int e = errno;
    snprintf(dir, sizeof dir, "%s", path);
    lt_file_explain(dirname(dir), W_OK | X_OK, why, sizeof why);
    lt_file_whoami(me, sizeof me);
    snprintf(dir, sizeof dir, "%s", path);
    const char *d = dirname(dir);
    if (!why[0])
        return lt_cli_fail(1, cmd, "cannot write %s: %s", path, strerror(e));
    /* The package's directory is root's and the group's (docs/operations.md,
     * "Installing from the package"): the sticky bit lets the gateway's user
     * add its keys but not replace gateway.conf. Owning it would let that
     * user rewrite them. */
    if (strcmp(d, LT_KEYS_PACKAGE_DIR) == 0)
        return lt_cli_fail(1, cmd,
                           "cannot write %s: %s (%s); the directory must be as the "
                           "package makes it: install -d -o root -g lienthong -m 1770 %s",
                           path, strerror(e), why, d);
    /* Any other directory holds only what this user writes: its own. */
    return lt_cli_fail(1, cmd,
                       "cannot write %s: %s (%s); the directory must be writable by "
                       "the user that runs the gateway: install -d -o %s -m 0700 %s for keys of "
                       "its own, or keep them in %s (install -d -o root -g lienthong -m 1770 %s)",
                       path, strerror(e), why, me, d, LT_KEYS_PACKAGE_DIR, LT_KEYS_PACKAGE_DIR);
}

/* Replaces path with the public keys (lt_file_write_atomic): rewritten in
 * place, a crash could leave it empty. 0, or -1 with errno. */
static int s_save_public(const char *path, const lt_keys_t *k, const char *member, int next)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f)
        return -1;
    s_print_public(f, k, member, next);
    int rc = fclose(f) != 0 ? -1 : lt_file_write_atomic(path, text, len, 0644);
    int saved = errno;
    free(text);
    errno = saved;
    return rc;
}

/* Writes PREFIX.key (0600) and PREFIX.pub, then prints the public keys;
 * never over an existing PREFIX.key. With `next`, PREFIX.next.key and
 * PREFIX.next.pub: the keys a member rotates to. */
static int s_generate(const char *cmd, lt_keys_kind_t kind, const char *prefix, const char *member,
                      int next)
{
    char key[4096], pub[4096];
    const char *tag = next ? ".next" : "";
    if (snprintf(key, sizeof key, "%s%s.key", prefix, tag) >= (int)sizeof key ||
        snprintf(pub, sizeof pub, "%s%s.pub", prefix, tag) >= (int)sizeof pub)
        return lt_cli_fail(2, cmd, "--out PREFIX is too long");
    if (next && access(key, F_OK) == 0)
        return lt_cli_fail(1, cmd,
                           "%s exists: the next keys were generated already (their "
                           "public keys are in %s); remove it first to replace them",
                           key, pub);
    /* A secret key is never written over: replacing a live member or
     * authority key by mistake leaves no copy of the one the federation's
     * directory lists. */
    if (access(key, F_OK) == 0)
        return lt_cli_fail(1, cmd,
                           "%s exists: a secret key is never replaced; move it away "
                           "first if you mean to make a new one (a member changes keys with "
                           "--next, docs/operations.md \"Rotating keys\")",
                           key);
    lt_keys_t *k = lt_keys_new(kind);
    if (!k)
        return lt_cli_fail(1, cmd, "cannot generate keys (libsodium unavailable?)");
    int rc = 0;
    if (lt_keys_save(k, key) != 0) {
        rc = s_cannot_write(cmd, key);
        goto out;
    }
    if (s_save_public(pub, k, member, next) != 0) {
        rc = s_cannot_write(cmd, pub);
        goto out;
    }
    s_print_public(stdout, k, member, next);
    fprintf(stderr, "wrote %s (secret, mode 0600) and %s\n", key, pub);
    if (next)
        fprintf(
            stderr,
            "next: the authority lists these as the member's next keys; once every "
            "gateway holds that directory, run 'lienthong keys promote --config GATEWAY_CONFIG' "
            "and reload the gateway (docs/operations.md, \"Rotating keys\")\n");
out:
    lt_keys_destroy(&k);
    return rc;
}

static int s_keygen(int argc, char **argv, lt_keys_kind_t kind, const char *usage)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},
        {"member", required_argument, 0, 'm'},
        {"next", no_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *out = NULL, *member = NULL;
    int c, next = 0;
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":o:m:h", opts)) != -1) {
        if (c == 'o')
            out = optarg;
        else if (c == 'm' && kind == LT_KEYS_MEMBER)
            member = optarg;
        else if (c == 'n' && kind == LT_KEYS_MEMBER)
            next = 1;
        else if (c == 'h') {
            printf("usage: %s\n", usage);
            return 0;
        } else
            return lt_cli_bad_opt(argv[0], c, opts, argv, usage);
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], usage);
    if (!out)
        return lt_cli_fail(2, argv[0], "missing --out PREFIX\nusage: %s", usage);
    /* The id goes into the .pub the authority copies into the directory. */
    if (member && !lt_dir_member_id_ok(member))
        return lt_cli_fail(2, argv[0],
                           "--member: expected a member id INSTANCE/CLASS/CODE (upper-case "
                           "letters, digits, '_' or '-'), e.g. VN/GOV/BCA, got '%s'",
                           member);
    return s_generate(argv[0], kind, out, member, next);
}

int lt_cmd_keygen(int argc, char **argv)
{
    return s_keygen(argc, argv, LT_KEYS_MEMBER, USAGE_KEYGEN);
}

int lt_cmd_authority_keygen(int argc, char **argv)
{
    return s_keygen(argc, argv, LT_KEYS_AUTHORITY, USAGE_AUTH);
}

/* Options first, so that "--bogus" is a usage error, not a key file that
 * cannot be read ("--" before a file whose name starts with '-'). */
int lt_cmd_pubkey(int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":h", opts)) != -1) {
        if (c != 'h')
            return lt_cli_bad_opt("pubkey", c, opts, argv, USAGE_PUB);
        printf("usage: %s\n", USAGE_PUB);
        return 0;
    }
    if (optind != argc - 1)
        return lt_cli_fail(2, "pubkey", "expected one key file\nusage: %s", USAGE_PUB);
    if (lt_cli_no_empty_args("pubkey", "key file", argc, argv, optind, USAGE_PUB))
        return 2;
    char err[512];
    lt_keys_t *k = lt_keys_load(argv[optind], err, sizeof err);
    if (!k)
        return lt_cli_fail(1, "pubkey", "%s", err);
    s_print_public(stdout, k, NULL, 0);
    lt_keys_destroy(&k);
    return 0;
}

/* ---- keys promote ------------------------------------------------------------- */

/* Loads the member keys of path; NULL after printing why. */
static lt_keys_t *s_load_member(const char *cmd, const char *path)
{
    char err[512];
    lt_keys_t *k = lt_keys_load(path, err, sizeof err);
    if (!k)
        lt_cli_fail(1, cmd, "%s", err);
    else if (lt_keys_kind(k) != LT_KEYS_MEMBER) {
        lt_cli_fail(1, cmd, "%s holds an authority key, not a member's keys", path);
        lt_keys_destroy(&k);
    }
    return k;
}

/* The public keys of the previous keys (lt_keys_old_public: the .old.pub
 * file, or an earlier version's .old.key, from): have is 0 when there are
 * none. */
typedef struct {
    int have;
    uint8_t transport[LT_KEY_BYTES], signing[LT_KEY_BYTES];
    char from[4096];
} oldpub_t;

/* Reads the previous public keys of key_file into o. 0, or 1 after saying
 * why. */
static int s_old_read(const char *cmd, const char *key_file, oldpub_t *o)
{
    char err[1200];
    int rc = lt_keys_old_public(key_file, o->transport, o->signing, o->from, sizeof o->from, err,
                                sizeof err);
    if (rc < 0)
        return lt_cli_fail(1, cmd,
                           "%s: it holds the keys of an earlier rotation; mend it or move "
                           "it away, then promote again",
                           err);
    o->have = rc;
    return 0;
}

/* Before the previous keys' file takes the current keys' public keys: when
 * it holds those of an earlier rotation, their public signing key is
 * appended to the retired file, since the audit log may hold checkpoints
 * they signed (`audit --verify` trusts that file). 0, or 1 after saying
 * why. */
static int s_retire_old(const char *cmd, const char *key_file, const oldpub_t *o,
                        const lt_keys_t *cur)
{
    char path[4096], err[1200];
    if (!o->have || memcmp(o->signing, lt_keys_signing_public(cur), LT_KEY_BYTES) == 0)
        return 0;
    if (lt_keys_retired_path(key_file, path, sizeof path) != 0)
        return lt_cli_fail(2, cmd, "--key path is too long");
    /* 1 when the file has it already: kept by a promote that failed later. */
    int rc = lt_keys_retired_append(key_file, o->signing, err, sizeof err);
    if (rc == -2)
        return s_cannot_write(cmd, path);
    if (rc < 0)
        return lt_cli_fail(1, cmd, "%s", err);
    if (rc == 0)
        fprintf(stderr, "kept the previous public signing key in %s (audit --verify trusts it)\n",
                path);
    return 0;
}

/* 1 when a and b are the same keys: both pairs, since a key file that
 * holds one of another set's keys is not that set. */
static int s_same(const lt_keys_t *a, const lt_keys_t *b)
{
    return memcmp(lt_keys_transport_public(a), lt_keys_transport_public(b), LT_KEY_BYTES) == 0 &&
           memcmp(lt_keys_signing_public(a), lt_keys_signing_public(b), LT_KEY_BYTES) == 0;
}

/* 1 when the directory lists the signing key for m, as its current or
 * next key. */
static int s_signing_listed(const Lienthong__Member *m, const uint8_t *signing)
{
    const uint8_t *keys[2];
    size_t n = lt_dir_signing_keys(m, keys);
    for (size_t i = 0; i < n; i++)
        if (memcmp(keys[i], signing, LT_KEY_BYTES) == 0)
            return 1;
    return 0;
}

/* 1 when the directory lists the transport or the signing key for m, as
 * its current or next key. */
static int s_listed(const Lienthong__Member *m, const uint8_t *transport, const uint8_t *signing)
{
    const uint8_t *keys[2];
    size_t n = lt_dir_transport_keys(m, keys);
    for (size_t i = 0; i < n; i++)
        if (memcmp(keys[i], transport, LT_KEY_BYTES) == 0)
            return 1;
    return s_signing_listed(m, signing);
}

/* The most keys a retired file of LT_KEYS_RETIRED_MAX_BYTES can hold. */
#define RETIRED_MAX_KEYS (LT_KEYS_RETIRED_MAX_BYTES / (LT_Z85_KEY_LEN + 1) + 1)

/* Whether the directory lists for m a key of key_file's retired file: the
 * previous keys of a promote killed after it wrote the current public keys
 * to the .old.pub file are there only (s_retire_old put them there first),
 * and the directory still listing them means that rotation is not
 * complete. 0 when none is listed, 1 after saying so, or 1 after saying
 * why the file cannot be read. */
static int s_retired_listed(const char *cmd, const char *key_file, const Lienthong__Member *m,
                            unsigned long long v, const char *member)
{
    char path[4096], err[1200], z[LT_Z85_KEY_LEN + 1];
    size_t n = 0;
    uint8_t(*pks)[LT_KEY_BYTES] = malloc(RETIRED_MAX_KEYS * sizeof *pks);
    int rc = 0;
    if (!pks || lt_keys_retired_path(key_file, path, sizeof path) != 0)
        rc = lt_cli_fail(1, cmd, "cannot read the retired file of %s: %s. Nothing promoted",
                         key_file, pks ? "path too long" : "out of memory");
    else if (lt_keys_retired_load(key_file, pks, RETIRED_MAX_KEYS, &n, err, sizeof err) != 0)
        rc = lt_cli_fail(1, cmd, "%s: mend it or move it away, then promote again", err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (!s_signing_listed(m, pks[i]))
            continue;
        lt_keys_z85_encode(pks[i], z);
        rc = lt_cli_fail(
            1, cmd,
            "directory version %llu still lists for %s the signing key %s, which %s holds as a "
            "retired key: the authority has not completed the previous rotation (a promote "
            "stopped after it wrote the previous public keys leaves them there only); "
            "promoting again would start a rotation before that one ends. Nothing promoted; "
            "wait for a directory without it (docs/operations.md, \"Rotating keys\", step 5)",
            v, member, z, path);
    }
    free(pks);
    return rc;
}

/* What the promote changes must suit the directory the gateway runs with
 * (lt_dirpick, as the gateway chooses it at start; PROTOCOL.md 5.5):
 * - it lists the next keys for the member (as next or current keys):
 *   promoted before, the gateway keeps its old keys at a reload and a
 *   restart refuses to start ("does not hold the keys the directory
 *   lists");
 * - it no longer lists the previous keys (the .old.pub file, or an earlier
 *   version's .old.key; unless they are the current ones, kept by a promote
 *   that failed later): those are the current keys of a rotation the
 *   authority has not completed (step 5 of docs/operations.md), and
 *   promoting again would start a rotation before that one ends;
 * - nor any signing key of the retired file (s_retired_listed).
 * 0 when so, or 1 after saying why and what to do. */
static int s_promote_allowed(const char *cmd, const char *key_file, const lt_gwcfg_t *cfg,
                             const oldpub_t *was, const lt_keys_t *cur, const lt_keys_t *nk)
{
    char err[1600];
    lt_dir_t *d = lt_dirpick_data_dir(cfg->directory_file, cfg->data_dir, &cfg->pins,
                                      cfg->federation, err, sizeof err);
    if (!d)
        return lt_cli_fail(1, cmd,
                           "cannot tell whether the directory lists the next keys, "
                           "nothing promoted: %s",
                           err);
    unsigned long long v = (unsigned long long)lt_dir_version(d);
    const Lienthong__Member *m = lt_dir_member(d, cfg->member);
    int rc = 1;
    if (!m)
        lt_cli_fail(1, cmd, "directory version %llu does not list member %s: nothing promoted", v,
                    cfg->member);
    else if (was->have &&
             memcmp(was->transport, lt_keys_transport_public(cur), LT_KEY_BYTES) != 0 &&
             s_listed(m, was->transport, was->signing))
        lt_cli_fail(
            1, cmd,
            "directory version %llu still lists the keys of %s for %s: the "
            "authority has not completed the previous rotation (it makes the promoted "
            "keys the member's current keys and removes these); promoting again would "
            "start a rotation before that one ends. Nothing promoted; wait for that directory "
            "(docs/operations.md, \"Rotating keys\", step 5)",
            v, was->from, cfg->member);
    else if (s_retired_listed(cmd, key_file, m, v, cfg->member) != 0)
        rc = 1; /* said why */
    else if (!lt_dir_member_holds(m, lt_keys_transport_public(nk), lt_keys_signing_public(nk)))
        lt_cli_fail(1, cmd,
                    "directory version %llu does not list the next keys for %s yet: "
                    "promoted now, the gateway would keep its keys at a reload and refuse to "
                    "start. Nothing promoted; wait until every gateway holds a directory listing "
                    "them (docs/operations.md, \"Rotating keys\", steps 2 and 3)",
                    v, cfg->member);
    else
        rc = 0;
    lt_dir_destroy(&d);
    return rc;
}

/* Takes the data directory's lock of gw before any key file changes, so
 * that no gateway starts in between with keys whose switch nothing
 * records: *fd holds it (the gateway is stopped), or is -1 when the
 * gateway runs (it records the switch at its reload, stop or next start).
 * 0, or 1 after saying why. */
static int s_lock_gateway(const char *cmd, const lt_gwcfg_t *gw, int *fd)
{
    char lock[PATH_MAX + 32];
    snprintf(lock, sizeof lock, "%s/" LT_GWCFG_LOCK_NAME, gw->data_dir);
    *fd = lt_file_lock(lock);
    if (*fd < 0 && errno != EWOULDBLOCK && errno != ENOENT)
        return lt_cli_fail(1, cmd, "cannot lock %s: %s: nothing promoted", lock, strerror(errno));
    return 0;
}

/* Records in the audit log of the stopped gateway of gw, whose lock the
 * caller holds, the switch of its signing key from cur to nk, signed by
 * cur and countersigned by nk (lt_audit_switch_keys): the gateway starts
 * with nk, and without that entry the checkpoints of nk would not verify
 * (docs/ARCHITECTURE.md, "Audit log"). 0, or 1 after saying why. */
static int s_record_switch(const char *cmd, const lt_gwcfg_t *gw, lt_keys_t *cur,
                           const lt_keys_t *nk)
{
    char path[PATH_MAX + 32], err[1200];
    snprintf(path, sizeof path, "%s/audit.db", gw->data_dir);
    if (access(path, F_OK) != 0)
        return 0; /* no log yet: its first checkpoint will be nk's */
    int rc = 1, in;
    lt_audit_t *a = lt_audit_open(path, cur, err, sizeof err);
    if (!a)
        lt_cli_fail(1, cmd, "%s", err);
    /* Signed by keys that are not the log's key in force (a key file put
     * in place by hand), the switch would not verify, and every later
     * checkpoint with it. No checkpoint yet: the switch's is the first. */
    else if ((in = lt_audit_in_force(a, lt_keys_signing_public(cur))) != 1 && in != -1)
        lt_cli_fail(1, cmd,
                    "%s: %s: the keys of %s are not the audit log's signing key in force, so "
                    "the log cannot record a switch from them (docs/operations.md, \"Rotating "
                    "keys\")",
                    path, in == 0 ? "not signed by them" : "its last checkpoint cannot be read",
                    gw->key_file);
    else if (lt_audit_switch_keys(a, gw->member, nk, "keys promote") != 0)
        lt_cli_fail(1, cmd, "cannot record the switch of keys in %s", path);
    else {
        fprintf(stderr,
                "recorded the switch of keys in %s, signed by the previous and the next "
                "key\n",
                path);
        rc = 0;
    }
    lt_audit_destroy(&a);
    return rc;
}

/* Removes the switch file of key_file (lt_keys_switch_remove), saying so
 * when it cannot, or cannot sync its directory. */
static void s_switch_remove(const char *cmd, const char *key_file)
{
    char err[1200];
    int rc = lt_keys_switch_remove(key_file, err, sizeof err);
    if (rc == -1)
        fprintf(stderr, "lienthong %s: %s; delete it: it holds secret keys no longer needed\n", cmd,
                err);
    else if (rc == -2)
        fprintf(stderr, "lienthong %s: %s\n", cmd, err);
}

/* Puts the keys in use back in key_file, which may hold the next ones: the
 * switch file sw holds exactly them and is renamed back, which needs no
 * free blocks (what failed may be a full disk); only when that fails, and
 * key_file does not hold them, are they written. 0 when key_file holds them again, else -1 after
 * saying why. */
static int s_restore_keys(const char *cmd, const char *key_file, const char *sw,
                          const lt_keys_t *cur)
{
    if (rename(sw, key_file) == 0) {
        /* Lost to a power loss, the rename leaves the key file with the
         * next keys and the switch file with these: a switch the gateway's
         * next start records. */
        if (lt_file_sync_dir(key_file) != 0)
            fprintf(stderr,
                    "lienthong %s: put the keys in use back in %s, but cannot sync its "
                    "directory: %s\n",
                    cmd, key_file, strerror(errno));
        return 0;
    }
    int e = errno;
    /* A save of the next keys that failed before its rename left them. */
    char why[512];
    lt_keys_t *on = lt_keys_load(key_file, why, sizeof why);
    int same = on && s_same(on, cur);
    lt_keys_destroy(&on);
    if (same || lt_keys_save(cur, key_file) == 0)
        return 0;
    fprintf(stderr,
            "lienthong %s: cannot put the keys in use back in %s: rename of %s: %s; write: %s\n",
            cmd, key_file, sw, strerror(e), strerror(errno));
    return -1;
}

/* Puts back what a promote that failed had changed: the key file gets the
 * keys in use (when replaced: it may hold the next ones), the .old.pub
 * file what it held (was; none when it came from an earlier version's
 * .old.key or there was none), and the switch file goes. A retry then
 * meets the same checks (s_promote_allowed). The switch file may be the
 * only copy of the secret keys in use: when the key file cannot be shown
 * to hold them again, it stays, as does the .old.pub file (with the
 * public keys in use, as after a promote whose switch is pending), and
 * the operator is told what is where (docs/operations.md, "Rotating
 * keys", step 4). 1 (nothing promoted), or 3 (not undone). */
static int s_undo(const char *cmd, const char *key_file, const char *sw, const char *old,
                  const oldpub_t *was, int had_old_pub, const lt_keys_t *cur, int replaced)
{
    char err[1200];
    if (replaced && s_restore_keys(cmd, key_file, sw, cur) != 0)
        return lt_cli_fail(
            3, cmd,
            "the failed promote cannot be undone: %s holds the next keys and %s holds the keys "
            "in use, the only copy of their secret keys: do not delete it. Once what failed is "
            "mended (a full disk?), put them back with 'mv %s %s' and promote again "
            "(docs/operations.md, \"Rotating keys\", step 4)",
            key_file, sw, sw, key_file);
    if (had_old_pub &&
        lt_keys_old_public_write(key_file, was->transport, was->signing, err, sizeof err) != 0)
        fprintf(stderr, "lienthong %s: %s; it must hold the keys it held before the promote\n", cmd,
                err);
    else if (!had_old_pub && unlink(old) != 0 && errno != ENOENT)
        fprintf(stderr, "lienthong %s: cannot remove %s: %s; delete it\n", cmd, old,
                strerror(errno));
    /* Synced, as after a promote that succeeds: after a power loss the file
     * would come back, and a retry take it for a switch not recorded (when
     * there was one, the sync makes the .old.pub file's removal last too).
     * Gone already when renamed back. */
    s_switch_remove(cmd, key_file);
    if (replaced)
        fprintf(stderr, "lienthong %s: %s holds the keys in use again: nothing promoted\n", cmd,
                key_file);
    return 1;
}

/* After a promote: the next key files and an earlier version's .old.key
 * go, and the .pub file gets the promoted public keys. The removals are
 * synced (a power loss would bring back next keys, and the next
 * rotation's `keygen --next` refuse, or secret keys no longer needed). A
 * .pub file that cannot be written is a warning: the promote is done;
 * the .next.pub file, which holds the same public keys, then stays. */
static void s_promoted_files(const char *cmd, const char *key_file, const char *next,
                             const char *legacy, const lt_keys_t *nk)
{
    char pub[4096];
    if (unlink(next) != 0)
        fprintf(stderr, "lienthong %s: cannot remove %s: %s\n", cmd, next, strerror(errno));
    /* The secret keys an earlier version kept: their public signing key is
     * in the retired file now (s_retire_old). */
    if (unlink(legacy) == 0)
        fprintf(stderr, "removed %s, the secret keys an earlier version kept\n", legacy);
    else if (errno != ENOENT)
        fprintf(stderr,
                "lienthong %s: cannot remove %s: %s; delete it: it holds secret keys no "
                "longer needed\n",
                cmd, legacy, strerror(errno));
    if (lt_keys_pub_path(key_file, 0, pub, sizeof pub) == 0) {
        if (s_save_public(pub, nk, NULL, 0) != 0)
            fprintf(stderr,
                    "lienthong %s: warning: promoted, but cannot write %s: %s; write it with "
                    "'lienthong pubkey %s > %s'\n",
                    cmd, pub, strerror(errno), key_file, pub);
        else if (lt_keys_pub_path(key_file, 1, pub, sizeof pub) == 0)
            (void)unlink(pub);
    }
    if (lt_file_sync_dir(key_file) != 0)
        fprintf(stderr,
                "lienthong %s: cannot sync the directory of %s: %s; after a power loss, delete "
                "%s if it comes back\n",
                cmd, key_file, strerror(errno), next);
}

/* Why the promote lock beside key_file could not be taken; returns 1. */
static int s_promote_unlocked(const char *cmd, const char *key_file)
{
    if (errno == EWOULDBLOCK)
        return lt_cli_fail(1, cmd,
                           "%s: another promote, or a gateway starting, holds its lock: try "
                           "again once it is done. Nothing promoted",
                           key_file);
    return lt_cli_fail(1, cmd, "cannot take the promote lock beside %s: %s. Nothing promoted",
                       key_file, strerror(errno));
}

/* 0 when the keys of next (nk) can be promoted over those of key_file
 * (cur): they differ, and no switch file (sw) of an earlier promote is
 * waiting for the audit log; else 1, said why. Removes first the secret
 * keys a promote killed while writing left behind. */
static int s_promote_fresh(const char *cmd, const char *key_file, const char *next, const char *sw,
                           const lt_keys_t *cur, const lt_keys_t *nk)
{
    char err[2400], done[2048];
    if (s_same(cur, nk))
        return lt_cli_fail(1, cmd, "%s already holds the keys of %s: promoted before", key_file,
                           next);
    /* What a promote killed while it wrote the key file or the switch
     * file left: secret keys, which nothing else removes. */
    int left = lt_keys_leftovers_remove(key_file, done, sizeof done, err, sizeof err);
    if (left > 0)
        fprintf(stderr, "removed %s, left by a promote stopped while it wrote %s\n", done,
                left == 1 ? "it" : "them");
    else if (left < 0)
        fprintf(stderr, "lienthong %s: %s; delete what is left: it holds secret keys\n", cmd, err);
    /* Its keys are those before the key file's: promoting again would
     * replace them, and the switch from them could never be recorded. */
    if (access(sw, F_OK) == 0)
        return lt_cli_fail(1, cmd,
                           "%s holds the keys of a promote whose switch the audit log has not "
                           "recorded yet: reload or start the gateway first (it records the "
                           "switch and removes the file). Nothing promoted",
                           sw);
    return 0;
}

/* Writes the promote's files: cur's public keys to old, cur's secret keys
 * to the switch file sw, then nk to key_file; *replaced set once key_file
 * may hold nk (a failed save may have renamed). 0, or 1 said why. */
static int s_promote_write(const char *cmd, const char *key_file, const char *old, const char *sw,
                           const lt_keys_t *cur, const lt_keys_t *nk, int *replaced)
{
    char err[2400]; /* s_cannot_write says why, from errno */
    if (lt_keys_old_public_save(key_file, cur, err, sizeof err) != 0)
        return s_cannot_write(cmd, old);
    if (lt_keys_save(cur, sw) != 0)
        return s_cannot_write(cmd, sw);
    *replaced = 1;
    if (lt_keys_save(nk, key_file) != 0)
        return s_cannot_write(cmd, key_file);
    return 0;
}

/* A promote done: with the switch recorded (recorded: the gateway is
 * stopped and the promote wrote it into its audit log, or it has no log
 * yet) the secret keys replaced go; the public files follow, the new keys
 * are printed, and the operator is told what comes next. */
static void s_promote_done(const char *cmd, const char *key_file, const char *next,
                           const char *legacy, const char *old, const char *sw, const lt_keys_t *nk,
                           int recorded)
{
    if (recorded)
        s_switch_remove(cmd, key_file);
    s_promoted_files(cmd, key_file, next, legacy, nk);
    s_print_public(stdout, nk, NULL, 0);
    if (!recorded)
        fprintf(stderr,
                "promoted: %s now holds the next keys (the previous public keys are kept in %s, "
                "their secret keys in %s until the gateway records the switch); reload the "
                "gateway (systemctl reload lienthong-gateway, or SIGHUP) to switch to them, then "
                "ask the authority to make them the member's current keys\n",
                key_file, old, sw);
    else
        fprintf(stderr,
                "promoted: %s now holds the next keys (the previous public keys are kept in %s); "
                "start the gateway, then ask the authority to make them the member's current "
                "keys\n",
                key_file, old);
}

/* Makes the next keys of key_file its keys (docs/operations.md, "Rotating
 * keys"), in this order, so that a promote or a gateway killed at any
 * point leaves a switch that can still be recorded: the public keys of
 * the current ones go in the .old.pub file (checking what they signed
 * needs only those); their secret keys in the switch file, until the audit
 * log records the switch (lt_keys_switch_path); then the next ones replace
 * key_file atomically, and the .pub file follows; an .old.key an earlier
 * version kept goes, its public signing key in the retired file. When the
 * gateway of gw is stopped, the promote records the switch itself and
 * removes the switch file; a running one does so at its reload, its stop
 * or its next start. cfg is the gateway's configuration, whose directory
 * must allow it (NULL: not checked, --force); gw the configuration whose
 * gateway's audit log records the switch (NULL: none given). */
static int s_promote(const char *cmd, const char *key_file, const lt_gwcfg_t *cfg,
                     const lt_gwcfg_t *gw)
{
    char next[4096], old[4096], legacy[4096], sw[4096];
    oldpub_t was = {0};
    int lock = -1, plock = -1, changed = 0, replaced = 0;
    if (lt_keys_next_path(key_file, next, sizeof next) != 0 ||
        lt_keys_old_pub_path(key_file, old, sizeof old) != 0 ||
        lt_keys_old_path(key_file, legacy, sizeof legacy) != 0 ||
        lt_keys_switch_path(key_file, sw, sizeof sw) != 0)
        return lt_cli_fail(2, cmd, "--key path is too long");
    lt_keys_t *cur = NULL, *nk = NULL;
    int rc = 1, had_old_pub = 0;
    /* Held until the key file holds the next keys, so that a gateway
     * starting meanwhile waits to read it (lt_keys_promote_lock), and taken
     * before the keys are read: a second promote that waited for it reads
     * what the first left, never keys the first already promoted. */
    if ((plock = lt_keys_promote_lock(key_file, LT_KEYS_PROMOTE_WAIT_MS)) < 0) {
        rc = s_promote_unlocked(cmd, key_file);
        goto out;
    }
    cur = s_load_member(cmd, key_file);
    nk = cur ? s_load_member(cmd, next) : NULL;
    had_old_pub = access(old, F_OK) == 0;
    if (!nk) {
        if (cur)
            fprintf(stderr, "generate them first: lienthong keygen --next --out PREFIX\n");
        goto out;
    }
    if ((rc = s_promote_fresh(cmd, key_file, next, sw, cur, nk)) != 0)
        goto out;
    if ((rc = s_old_read(cmd, key_file, &was)) != 0)
        goto out;
    if (cfg && (rc = s_promote_allowed(cmd, key_file, cfg, &was, cur, nk)) != 0)
        goto out;
    if (gw && (rc = s_lock_gateway(cmd, gw, &lock)) != 0)
        goto out;
    if ((rc = s_retire_old(cmd, key_file, &was, cur)) != 0)
        goto out;
    changed = 1;
    if ((rc = s_promote_write(cmd, key_file, old, sw, cur, nk, &replaced)) != 0)
        goto out;
    /* Recorded once the key file holds nk: a switch in the audit log to
     * keys the key file does not hold would leave every later checkpoint
     * unverifiable. If it cannot be recorded, everything goes back. */
    if (lock >= 0 && (rc = s_record_switch(cmd, gw, cur, nk)) != 0)
        goto out;
    changed = 0;
    s_promote_done(cmd, key_file, next, legacy, old, sw, nk, lock >= 0);
    rc = 0;
out:
    if (changed)
        rc = s_undo(cmd, key_file, sw, old, &was, had_old_pub, cur, replaced);
    if (lock >= 0)
        close(lock);
    if (plock >= 0)
        close(plock);
    lt_keys_destroy(&cur);
    lt_keys_destroy(&nk);
    return rc;
}

/* 0 when key (--key) is the file key_file of the configuration at config
 * names (the same device and inode: paths may differ), else 2 after saying
 * why: the gateway of that configuration would not use the keys promoted,
 * and its audit log would record a switch to keys its key file does not
 * hold. */
static int s_same_file(const char *cmd, const char *key, const char *key_file, const char *config)
{
    struct stat a, b;
    if (stat(key, &a) != 0)
        return lt_cli_fail(2, cmd, "--key %s: %s: nothing promoted", key, strerror(errno));
    if (stat(key_file, &b) != 0)
        return lt_cli_fail(2, cmd, "%s (key_file of %s): %s: nothing promoted", key_file, config,
                           strerror(errno));
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return lt_cli_fail(2, cmd,
                           "--key %s is not the key file of %s (key_file %s): its gateway "
                           "would not use the keys promoted. Nothing promoted; leave out --key",
                           key, config, key_file);
    return 0;
}

/* The key file is the configuration's unless --key names one; without a
 * configuration there is no directory to check, which only --force
 * accepts. */
static int s_promote_cmd(const char *config, const char *key, int force)
{
    const char *cmd = "keys promote";
    char err[1024];
    static lt_gwcfg_t cfg; /* large: not on the stack */
    if (!config && !force)
        return lt_cli_fail(2, cmd,
                           "missing --config GATEWAY_CONFIG: promote checks that the "
                           "gateway's directory lists the next keys (--force promotes "
                           "unchecked)\nusage: %s",
                           USAGE_KEYS);
    if (!config && !key)
        return lt_cli_fail(2, cmd, "missing --key KEYFILE\nusage: %s", USAGE_KEYS);
    if (config && lt_gwcfg_load(config, &cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, cmd, "%s", err);
    if (config && key && s_same_file(cmd, key, cfg.key_file, config) != 0)
        return 2;
    if (force)
        fprintf(stderr,
                "lienthong %s: --force: the directory is not checked; a gateway whose "
                "directory does not list the promoted keys refuses to start\n",
                cmd);
    return s_promote(cmd, key ? key : cfg.key_file, force ? NULL : &cfg, config ? &cfg : NULL);
}

int lt_cmd_keys(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, 0, 'k'},
        {"config", required_argument, 0, 'c'},
        {"force", no_argument, 0, 'f'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *key = NULL, *config = NULL;
    int c, force = 0;
    optind = 2; /* after the action word */
    opterr = 0;
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: %s\n", USAGE_KEYS);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "promote") != 0)
        return lt_cli_bad_word("keys", "action", argc < 2 ? NULL : argv[1], "'promote'",
                               USAGE_KEYS);
    while ((c = lt_cli_getopt(argc, argv, ":k:c:fh", opts)) != -1) {
        if (c == 'k')
            key = optarg;
        else if (c == 'c')
            config = optarg;
        else if (c == 'f')
            force = 1;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE_KEYS);
            return 0;
        } else
            return lt_cli_bad_opt("keys", c, opts, argv, USAGE_KEYS);
    }
    if (optind < argc)
        return lt_cli_bad_arg("keys", argv[optind], USAGE_KEYS);
    return s_promote_cmd(config, key, force);
}

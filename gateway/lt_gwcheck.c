/* lt_gwcheck: start-up checks with a fix for every problem (see the
 * header). Nothing here changes the system: directories are not created,
 * the listen address is bound and released at once. */
#include "lt_gwcheck.h"
#include "lt_gwdir.h"
#include "lt_dirpick.h"
#include "lt_check.h"
#include "lt_clock.h"
#include "lt_file.h"

#include <errno.h>
#include <libgen.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define EXPIRY_WARN_S (7 * 86400)

lt_keys_t *lt_gwcheck_keys(const lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    char why[4600], me[64], load[1024];
    lt_file_whoami(me, sizeof me);
    if (access(cfg->key_file, F_OK) != 0) {
        snprintf(err, errlen,
                 "key file %s does not exist; generate it as %s: lienthong keygen "
                 "--out %.*s --member %s",
                 cfg->key_file, me,
                 (int)(strlen(cfg->key_file) > 4 ? strlen(cfg->key_file) - 4 : 0), cfg->key_file,
                 cfg->member);
        return NULL;
    }
    lt_file_explain(cfg->key_file, R_OK, why, sizeof why);
    if (why[0]) {
        snprintf(err, errlen,
                 "cannot read key file %s: %s; the key file must belong to the "
                 "gateway's user and keep mode 0600: chown %s %s",
                 cfg->key_file, why, me, cfg->key_file);
        return NULL;
    }
    lt_keys_t *k = lt_keys_load(cfg->key_file, load, sizeof load);
    if (!k) {
        snprintf(err, errlen, "%s", load);
        return NULL;
    }
    if (lt_keys_kind(k) != LT_KEYS_MEMBER) {
        snprintf(err, errlen,
                 "%s is an authority key; key_file must be this member's key "
                 "(lienthong keygen --member %s)",
                 cfg->key_file, cfg->member);
        lt_keys_destroy(&k);
    }
    return k;
}

int lt_gwcheck_listed(const lt_gwcfg_t *cfg, const lt_keys_t *keys, const lt_dir_t *dir, char *err,
                      size_t errlen)
{
    const Lienthong__Member *me = lt_dir_member(dir, cfg->member);
    if (!me) {
        snprintf(err, errlen, "member '%s' is not in directory version %llu", cfg->member,
                 (unsigned long long)lt_dir_version(dir));
        return -1;
    }
    /* The current or, during a rotation, the next keys (PROTOCOL.md 5.5). */
    if (!lt_dir_member_holds(me, lt_keys_transport_public(keys), lt_keys_signing_public(keys))) {
        snprintf(err, errlen, "key file %s does not hold the keys the directory lists for '%s'",
                 cfg->key_file, cfg->member);
        return -1;
    }
    return 0;
}

int lt_gwcheck_self(const lt_gwcfg_t *cfg, const lt_keys_t *keys, const lt_dir_t *dir, char *err,
                    size_t errlen)
{
    /* Neither its status nor its absence is checked: a gateway whose member
     * is suspended, revoked or no longer listed runs on, serving no data, to
     * be reinstated (PROTOCOL.md 5.4). Other keys are refused (5.5 step 4):
     * they are a rotation this gateway has yet to make (keys promote), and
     * adopted they would leave it listed active but refused by every peer,
     * with no directory to come that changes that. */
    if (!lt_dir_member(dir, cfg->member))
        return 0;
    return lt_gwcheck_listed(cfg, keys, dir, err, errlen);
}

/* ---- the checks of --check ------------------------------------------------ */

static lt_keys_t *s_check_keys(lt_check_t *r, const lt_gwcfg_t *cfg)
{
    char err[4600];
    lt_keys_t *k = lt_gwcheck_keys(cfg, err, sizeof err);
    if (k)
        lt_check_ok(r, "key_file", "%s", cfg->key_file);
    else
        lt_check_error(r, "key_file", NULL, "%s", err);
    return k;
}

static void s_check_dir(lt_check_t *r, const char *what, const char *path, const char *fix)
{
    char err[5000];
    struct stat st;
    /* An existing directory open to others is refused at start, so here too. */
    if (lt_file_dir_usable(path, 0700, err, sizeof err) == 0 &&
        (stat(path, &st) != 0 || lt_file_dir_private(path, err, sizeof err) == 0))
        lt_check_ok(r, what, "%s", path);
    else
        lt_check_error(r, what, fix, "%s", err);
}

static void s_check_listen(lt_check_t *r, const lt_gwcfg_t *cfg)
{
    char detail[600];
    void *ctx = zmq_ctx_new();
    void *s = ctx ? zmq_socket(ctx, ZMQ_ROUTER) : NULL;
    int linger = 0;
    if (s && zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
        zmq_bind(s, cfg->listen) == 0) {
        lt_check_ok(r, "listen", "%s", cfg->listen);
    } else {
        int e = zmq_errno();
        snprintf(detail, sizeof detail, "cannot bind %s: %s", cfg->listen, zmq_strerror(e));
        lt_check_error(
            r, "listen",
            e == EADDRINUSE
                ? "another process listens there: is this gateway already running (lienthong "
                  "status --config FILE)? otherwise choose another port, here and in the directory"
                : "listen must name an address of this host (or 0.0.0.0) and a free port; ports "
                  "below 1024 need privileges the service does not have",
            "%s", detail);
    }
    if (s)
        zmq_close(s);
    if (ctx)
        zmq_ctx_term(ctx);
}

/* The fix for a directory that cannot be used, by its reason. */
static const char *s_dir_fix(const char *err)
{
    if (strstr(err, "no valid signature"))
        return "authority_keys must pin the key that signed the directory: compare the keys "
               "above with the authority's public key (lienthong pubkey authority.key on the "
               "authority's host) and correct authority_keys, or ask the authority to sign again";
    if (strstr(err, "expired"))
        return "ask the authority for a renewed directory (docs/operations.md, \"Renewing the "
               "directory\"), put it in place, then start (or reload) the gateway; meanwhile "
               "the gateway starts but serves no data to peers, and adopts a newer directory "
               "from any peer that has one (proto/PROTOCOL.md 5.6)";
    if (strstr(err, "cannot read"))
        return "put the signed directory the authority sent you at this path, readable by the "
               "gateway's user";
    return "ask the authority for a valid signed directory";
}

/* The configured file or the adopted copy that does not open: the gateway
 * starts all the same, with the other one, and says so (lt_gwdir_load). */
static void s_check_unopened(lt_check_t *r, const lt_gwcfg_t *cfg, const lt_dirpick_t *p)
{
    unsigned long long v = (unsigned long long)lt_dir_version(p->taken);
    if (!p->conf)
        lt_check_warn(r, "directory", s_dir_fix(p->why_conf),
                      "%s; the gateway starts with the copy it adopted earlier (version %llu)",
                      p->why_conf, v);
    else if (p->have_adopted && !p->adopted)
        lt_check_warn(r, "directory",
                      "nothing to do when the configured file is the newest directory; when the "
                      "authority signed that copy with a new key, pin the key in authority_keys "
                      "(docs/operations.md, \"The authority's key\")",
                      "the copy adopted earlier is ignored: %s; the gateway starts with %s "
                      "(version %llu)",
                      p->why_adopted, cfg->directory_file, v);
}

/* The directory taken, where from when it is not the configured file (the
 * one an operator expects), and its expiry: expired, the gateway starts but
 * serves no data to peers (PROTOCOL.md 5.6). */
static void s_check_taken(lt_check_t *r, const lt_gwcfg_t *cfg, const lt_dirpick_t *p,
                          const char *adopted, int64_t now)
{
    char detail[PATH_MAX + 256], from[PATH_MAX + 160], ts[LT_CLOCK_UTC_LEN], what[128];
    const lt_dir_t *d = p->taken;
    from[0] = '\0';
    if (d == p->adopted && p->conf)
        snprintf(from, sizeof from,
                 "; the copy adopted earlier (%s), newer than version %llu of "
                 "the configured file",
                 adopted, (unsigned long long)lt_dir_version(p->conf));
    else if (d == p->adopted)
        snprintf(from, sizeof from, "; the copy adopted earlier (%s)", adopted);
    lt_clock_utc(lt_dir_expires(d), ts, sizeof ts);
    snprintf(detail, sizeof detail, "version %llu, expires %s%s",
             (unsigned long long)lt_dir_version(d), ts, from);
    if (lt_dir_expires(d) <= now) {
        lt_dirpick_expired_text(d, what, sizeof what);
        lt_check_error(r, "directory", s_dir_fix("expired"), "%s: %s",
                       d == p->adopted ? adopted : cfg->directory_file, what);
    } else if (lt_dir_expires(d) - now < EXPIRY_WARN_S) {
        lt_check_warn(r, "directory",
                      "it expires within 7 days: ask the authority for a renewed directory "
                      "(docs/operations.md, \"Renewing the directory\")",
                      "%s", detail);
    } else {
        lt_check_ok(r, "directory", "%s", detail);
    }
}

/* The directory the gateway starts with, chosen as it chooses it
 * (lt_dirpick, PROTOCOL.md 5.3, 5.5, 5.6): the newest of the configured
 * file and the copy adopted in data_dir that opens under the pinned, the
 * learned and the announced authority keys, expired or not. Nothing is
 * written. NULL when neither opens. */
static lt_dir_t *s_check_directory(lt_check_t *r, const lt_gwcfg_t *cfg)
{
    char adopted[PATH_MAX + 32], learned[PATH_MAX + 32];
    int64_t now = (int64_t)time(NULL);
    lt_dirpick_t p;
    lt_dir_pins_t base;
    lt_dirpick_learned_path(cfg->data_dir, learned, sizeof learned);
    lt_dirpick_adopted_path(cfg->data_dir, adopted, sizeof adopted);
    /* The gateway's base, not lt_dirpick_data_dir's: a learned file that is
     * not keys is warned about, as the start warns of it, and the detail of
     * p (which copy did not open, and why) is reported. */
    lt_gwdir_base(cfg, learned, &base, NULL);
    lt_dirpick_open(&p, cfg->directory_file, adopted, &base, cfg->federation, now);
    if (!p.taken) {
        /* The configured file's reason first: it is the one to fix. */
        lt_check_error(r, "directory", s_dir_fix(p.why_conf), "%s%s%s", p.why_conf,
                       p.have_adopted ? "; the copy adopted earlier: " : "",
                       p.have_adopted ? p.why_adopted : "");
        lt_dirpick_clear(&p);
        return NULL;
    }
    s_check_unopened(r, cfg, &p);
    s_check_taken(r, cfg, &p, adopted, now);
    return lt_dirpick_take(&p);
}

static void s_check_member(lt_check_t *r, const lt_gwcfg_t *cfg, const lt_keys_t *k,
                           const lt_dir_t *d)
{
    char err[4600], said[LT_ID_MAX + 64]; /* err holds the key file's path */
    if (lt_gwcheck_self(cfg, k, d, err, sizeof err) != 0)
        lt_check_error(r, "member",
                       "send this member's public keys (lienthong pubkey KEY_FILE) to the "
                       "authority, and use the directory it signs with them",
                       "%s", err);
    else if (lt_dir_inactive_say(d, cfg->member, said, sizeof said))
        lt_check_warn(r, "member",
                      "the gateway starts but serves no data to peers and makes no requests "
                      "until a directory lists the member active (proto/PROTOCOL.md 5.4): ask "
                      "the authority",
                      "%s", said);
    else
        lt_check_ok(r, "member", "%s", cfg->member);
}

/* Key rotation (PROTOCOL.md 5.5): next keys waiting beside the key file,
 * and whether the directory lists them yet. */
static void s_check_next_keys(lt_check_t *r, const lt_gwcfg_t *cfg, const lt_dir_t *d)
{
    char path[PATH_MAX + 16], err[600];
    if (lt_keys_next_path(cfg->key_file, path, sizeof path) != 0 || access(path, F_OK) != 0)
        return;
    unsigned long long v = (unsigned long long)lt_dir_version(d);
    const Lienthong__Member *me = lt_dir_member(d, cfg->member);
    lt_keys_t *n = lt_keys_load(path, err, sizeof err);
    if (!n || lt_keys_kind(n) != LT_KEYS_MEMBER)
        lt_check_error(r, "next keys", "remove the file and run lienthong keygen --next again",
                       "%s", n ? "the next key file holds an authority key" : err);
    else if (me && lt_dir_member_holds(me, lt_keys_transport_public(n), lt_keys_signing_public(n)))
        lt_check_ok(r, "next keys",
                    "%s is listed in directory version %llu; once every gateway "
                    "holds it: lienthong keys promote --config %s, then reload",
                    path, v, cfg->path);
    else
        lt_check_warn(r, "next keys",
                      "send the public keys (lienthong pubkey FILE) to the "
                      "authority, to be listed as next_transport_key and next_signing_key",
                      "%s is not listed in directory version %llu yet", path, v);
    lt_keys_destroy(&n);
}

static void s_check_peers(lt_check_t *r, const lt_gwcfg_t *cfg, const lt_dir_t *d)
{
    char detail[400];
    for (size_t i = 0; i < cfg->n_peers; i++) {
        const Lienthong__Member *m = lt_dir_member(d, cfg->peers[i]);
        const char *bad = !m ? "is not in the directory"
                          : m->status != LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE
                              ? lt_dir_status_name(m->status)
                          : m->n_endpoints == 0 ? "lists no endpoint"
                                                : NULL;
        if (!bad) {
            snprintf(detail, sizeof detail, "%s at %s", cfg->peers[i], m->endpoints[0]);
            lt_check_ok(r, "peer", "%s", detail);
            continue;
        }
        snprintf(detail, sizeof detail, "%s %s%s", cfg->peers[i],
                 m && m->status != LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE ? "is " : "", bad);
        lt_check_error(r, "peer", "remove it from peers, or ask the authority to list it", "%s",
                       detail);
    }
}

/* A subscription policy that lists no purposes lets the member replicate the
 * stream but grants nothing that is asked for a purpose: every pre-fill
 * from the replica is refused with ERR_PURPOSE (PROTOCOL.md 8.8), as are
 * lookups and verifies the policy may allow (7.5). The gateway still
 * starts and replicates, so a warning. */
static void s_warn_no_purposes(lt_check_t *r, const lt_gwcfg_t *cfg, const lt_dir_t *d,
                               const char *st)
{
    char detail[600];
    const Lienthong__Dataset *ds = lt_dir_dataset_of(d, st);
    const char *dataset = ds ? ds->id : st;
    int view = strcmp(dataset, st) != 0;
    const Lienthong__Policy *p = lt_dir_policy(d, cfg->member, st);
    int asks = lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_LOOKUP) ||
               lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_VERIFY);
    snprintf(detail, sizeof detail,
             "the policy of %s on %s%s%s%s lists no purposes: every pre-fill from its replica "
             "is refused with ERR_PURPOSE%s",
             cfg->member, view ? "view " : "dataset ", st, view ? " of dataset " : "",
             view ? dataset : "", asks ? ", as are its lookups and verifies" : "");
    lt_check_warn(r, "subscribe",
                  "ask the authority to list in the policy's purposes those the member's "
                  "applications pre-fill for, e.g. purposes = [\"PREFILL_FORM\"] (PROTOCOL.md "
                  "8.8); replication itself is not affected",
                  "%s", detail);
}

static void s_check_subs(lt_check_t *r, const lt_gwcfg_t *cfg, const lt_dir_t *d)
{
    char detail[600];
    for (size_t i = 0; i < cfg->n_subs; i++) {
        const char *st = cfg->subs[i].stream;
        const Lienthong__Policy *p = lt_dir_policy(d, cfg->member, st);
        if (!lt_dir_dataset(d, st) && !lt_dir_view(d, st)) {
            snprintf(detail, sizeof detail,
                     "stream %s is neither a dataset nor a view of the "
                     "directory",
                     st);
            lt_check_error(r, "subscribe",
                           "check the id (lienthong directory show), or remove the subscription",
                           "%s", detail);
        } else if (!lt_dir_policy_allows(p, LIENTHONG__OPERATION__OP_SUBSCRIBE)) {
            snprintf(detail, sizeof detail, "no policy lets %s subscribe to %s", cfg->member, st);
            lt_check_error(r, "subscribe",
                           "ask the authority for a subscribe policy, or remove the subscription",
                           "%s", detail);
        } else if (p->n_purposes == 0) {
            s_warn_no_purposes(r, cfg, d, st);
        } else {
            lt_check_ok(r, "subscribe", "%s", st);
        }
    }
}

int lt_gwcheck_run(const lt_gwcfg_t *cfg, FILE *out)
{
    lt_check_t r = {.out = out};
    char sockdir[PATH_MAX];
    lt_keys_t *k = s_check_keys(&r, cfg);
    s_check_dir(&r, "data_dir", cfg->data_dir,
                "the gateway creates data_dir itself (mode 0700) when its parent is writable; "
                "the package and the unit's StateDirectory= provide /var/lib/lienthong");
    snprintf(sockdir, sizeof sockdir, "%s", cfg->local_socket);
    s_check_dir(&r, "local_socket directory", dirname(sockdir),
                "under systemd the unit's RuntimeDirectory= creates it for the service's user "
                "(the packaged units do; so does the packaged tmpfiles.d entry at boot)");
    s_check_listen(&r, cfg);
    lt_dir_t *d = s_check_directory(&r, cfg);
    if (d && k)
        s_check_member(&r, cfg, k, d);
    if (d) {
        s_check_next_keys(&r, cfg, d);
        s_check_peers(&r, cfg, d);
        s_check_subs(&r, cfg, d);
    }
    lt_dir_destroy(&d);
    lt_keys_destroy(&k);
    return lt_check_summary(&r, cfg->path, "gateway");
}

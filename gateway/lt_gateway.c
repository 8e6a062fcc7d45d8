/* lt_gateway: the daemon's lifecycle, signals, directory loading and
 * adoption, and the poll loop, which hands each message to the module that
 * handles it (lt_peers, lt_feed, lt_query, lt_publish; a peer's through
 * lt_peersock, one on our links through lt_linkrx, a local client's
 * through lt_local). */
#include "lt_gateway.h"
#include "lt_applyq.h"
#include "lt_audit.h"
#include "lt_ckpt.h"
#include "lt_feed.h"
#include "lt_clock.h"
#include "lt_dirpick.h"
#include "lt_file.h"
#include "lt_gwcheck.h"
#include "lt_guard.h"
#include "lt_gwdir.h"
#include "lt_gwreload.h"
#include "lt_history.h"
#include "lt_gwstats.h"
#include "lt_linkrx.h"
#include "lt_local.h"
#include "lt_log.h"
#include "lt_notify.h"
#include "lt_offers.h"
#include "lt_peers.h"
#include "lt_peersock.h"
#include "lt_prefill.h"
#include "lt_publish.h"
#include "lt_writer.h"
#include "lt_profile.h"
#include "lt_query.h"
#include "lt_sock.h"
#include "lt_sockmon.h"
#include "lt_wire.h"
#include "lt_zap.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define POLL_MS 100

struct _lt_gateway_t {
    lt_gwcfg_t cfg;
    lt_sock_opts_t so;
    lt_gwctx_t shared; /* keys, directory, store, audit and peers, owned here */
    void *zctx;        /* the ZeroMQ context */
    lt_zap_t *zap;
    lt_guard_t *guard; /* bounds unauthenticated peer connections */
    void *peer;
    lt_sockmon_t *peer_mon; /* logs connections libzmq closes on its own (4.4) */
    void *local;
    lt_feed_t *feed;
    lt_query_t *query;
    lt_prefill_t *prefill;       /* pre-fills from the replicas (PROTOCOL.md 8.8) */
    lt_profile_t *profile;       /* profile lookups, made through query */
    lt_offers_t *offers;         /* members whose directory offers are held back */
    lt_local_t dispatch;         /* hands local messages to their modules */
    lt_peersock_t peer_dispatch; /* hands peer messages to their modules */
    lt_linkrx_t link_dispatch;   /* hands messages on our links to their modules */
    int sigfd;
    int lockfd; /* holds data_dir/lock (LT_GWCFG_LOCK_NAME) while the gateway lives */
    int stopping;
    int failed;
    lt_gwstats_codes_t refused;        /* peer messages refused, by error code */
    lt_stats_series_t *st_dir_version; /* the directory in use */
    lt_stats_series_t *st_dir_expiry;  /* seconds until it expires */
    lt_publish_obs_t *publish_obs;     /* commit latency and refusals of publish groups */
    lt_publish_job_t *jobs[2];         /* publish groups, alternating: */
    lt_publish_job_t *running;         /* the one the writer thread commits, or NULL */
    lt_publish_job_t *filling;         /* the one gathered meanwhile */
    lt_publish_job_t *unanswered;      /* committed, answered once the next job started */
    lt_applyq_t *applyq;               /* replica batches verified, not yet committed */
    lt_feed_group_t group;             /* its head, while the writer thread commits it */
    int applying;                      /* the group is with the writer thread */
    int replica_turn;                  /* the idle writer takes a replica batch first */
    int64_t dir_gauges_at;             /* monotonic ms of the last expiry update */
    uint64_t history_gen;              /* lt_feed_generation at the last high-water write */
    int64_t history_at;                /* monotonic ms of that write */
    lt_gwdir_watch_t dir_watch;        /* warnings before the expiry, errors after */
    int expired;                       /* the directory expired: no data to peers (5.6) */
    const char *standing;              /* "suspended", "revoked", "removed": cut off (5.4) */
    char adopted_path[PATH_MAX + 32];
    char learned_path[PATH_MAX + 32]; /* the authority keys learned (lt_gwdir_persist) */
    int learned_warned;               /* the learned file is not a key, said once */
    /* Configured peers whose link could not open, out of cfg.peers until
     * it does (s_peer_link). */
    char unlinked[LT_GWCFG_MAX_PEERS][LT_ID_MAX];
    size_t n_unlinked;
};

/* ---- statistics -------------------------------------------------------------- */

/* Registers what the gateway itself counts: refused peer messages and the
 * directory (each module registers its own when created). */
static int s_register(lt_gateway_t *self)
{
    static const lt_stats_def_t refused = {
        .name = "lienthong_peer_refused",
        .help = "Messages from peers refused or dropped, by error code (PROTOCOL.md 4.4)",
        .kind = LT_STATS_COUNTER,
        .n_labels = 1,
        .labels = {"reason"},
        .max_series = 20};
    static const lt_stats_def_t version = {.name = "lienthong_directory_version",
                                           .help = "Version of the signed directory in use",
                                           .kind = LT_STATS_GAUGE};
    static const lt_stats_def_t expiry = {
        .name = "lienthong_directory_expires_in",
        .help = "Time until the directory in use expires (negative once expired)",
        .kind = LT_STATS_GAUGE,
        .unit = LT_STATS_UNIT_SECONDS};
    lt_stats_t *st = self->shared.stats;
    if (lt_gwstats_codes_init(&self->refused, st, &refused, NULL) != 0 ||
        !(self->st_dir_version = lt_gwstats_series(st, &version, NULL)) ||
        !(self->st_dir_expiry = lt_gwstats_series(st, &expiry, NULL)) ||
        !(self->publish_obs = lt_publish_obs_new(st)) ||
        lt_gwdir_watch_init(&self->dir_watch, st) != 0)
        return -1;
    return 0;
}

/* The standing of a member the directory in use does not list at all: cut
 * off like a revoked one (PROTOCOL.md 5.4). */
static const char s_removed[] = "removed";

/* This member's standing with the version, as said in logs and errors:
 * "suspended in directory version 2", "removed from directory version 2". */
static void s_standing_text(const lt_gateway_t *self, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s directory version %llu", self->standing,
             self->standing == s_removed ? "from" : "in",
             (unsigned long long)lt_dir_version(self->shared.dir));
}

/* What peers are told while this gateway serves them no data: its member
 * is cut off (PROTOCOL.md 5.4), or its directory expired (5.6). */
static void s_no_data_why(const lt_gateway_t *self, char *buf, size_t len)
{
    char what[128];
    if (self->standing) {
        s_standing_text(self, what, sizeof what);
        snprintf(buf, len,
                 "%s serves no data to peers: it is %s, until a directory lists it active",
                 self->cfg.member, what);
        return;
    }
    lt_dirpick_expired_text(self->shared.dir, what, sizeof what);
    snprintf(buf, len, "%s serves no data to peers: its %s, until it adopts a newer one",
             self->cfg.member, what);
}

/* 1 while nothing is served to peers: the directory expired (5.6) or it
 * suspends, revokes or no longer lists this member (5.4). */
static int s_no_data(const lt_gateway_t *self)
{
    return self->expired || self->standing;
}

/* The expiry, looked at once a second and at each adoption: at the moment
 * the directory expires every subscription ends (PROTOCOL.md 5.6). */
static void s_dir_watch(lt_gateway_t *self)
{
    int was = self->expired;
    self->expired = lt_gwdir_watch(&self->dir_watch, self->shared.dir, (int64_t)time(NULL));
    if (self->expired && !was && self->feed) {
        char why[512];
        s_no_data_why(self, why, sizeof why);
        lt_feed_stop_serving(self->feed, self->peer, why);
    }
}

/* The directory gauges: at adoption, and the expiry once a second. */
static void s_dir_gauges(lt_gateway_t *self)
{
    const lt_dir_t *d = self->shared.dir;
    lt_stats_set(self->st_dir_version, (int64_t)lt_dir_version(d));
    lt_stats_set(self->st_dir_expiry, lt_dir_expires(d) - lt_clock_now_ms() / 1000);
    self->dir_gauges_at = lt_clock_mono_ms();
    s_dir_watch(self);
}

/* This member's standing in the directory in use, at the start and at each
 * adoption (PROTOCOL.md 5.4): a directory that suspends, revokes or no
 * longer lists it is adopted, and from then on the gateway serves no data
 * to peers and makes no requests of them, as while expired (5.6), until a
 * directory lists it active. Said once, at error level, when it changes. */
static void s_standing(lt_gateway_t *self)
{
    const char *was = self->standing;
    unsigned long long v = (unsigned long long)lt_dir_version(self->shared.dir);
    self->standing = lt_dir_member(self->shared.dir, self->cfg.member)
                         ? lt_dir_inactive(self->shared.dir, self->cfg.member)
                         : s_removed;
    if (self->standing && self->standing != was) {
        char why[512], said[128];
        s_standing_text(self, said, sizeof said);
        lt_error("directory",
                 "this gateway's member %s is %s: it serves no data to peers and makes no "
                 "requests of them until a directory lists it active",
                 self->cfg.member, said);
        s_no_data_why(self, why, sizeof why);
        if (self->feed)
            lt_feed_stop_serving(self->feed, self->peer, why);
    } else if (!self->standing && was) {
        lt_info("directory", "this gateway's member %s is active again in directory version %llu",
                self->cfg.member, v);
    }
}

/* ---- directory ------------------------------------------------------------ */

/* Our own entry, when listed, must carry our public keys (its status and
 * its absence are not checked: such a directory is adopted, 5.4). */
static int s_check_self(const lt_gateway_t *self, const lt_dir_t *dir, char *err, size_t errlen)
{
    return lt_gwcheck_self(&self->cfg, self->shared.keys, dir, err, errlen);
}

/* The newest of the configured directory and the one adopted from peers,
 * expired or not (PROTOCOL.md 5.6). */
static int s_load_dir(lt_gateway_t *self, char *err, size_t errlen)
{
    lt_dir_pins_t base;
    lt_gwdir_base(&self->cfg, self->learned_path, &base, &self->learned_warned);
    self->shared.dir =
        lt_gwdir_load(&self->cfg, self->adopted_path, self->learned_path, &base, err, errlen);
    return self->shared.dir ? 0 : -1;
}

/* ---- adoption -------------------------------------------------------------- */

/* Closes and rebinds the peer socket so that every session must pass the
 * ZAP handler again: the way to cut off a member revoked while connected. */
static int s_rebind_peer(lt_gateway_t *self)
{
    char err[512];
    /* Answers queued in this drain (a DirectoryOffer adopted mid-drain)
     * hold this socket and their callers' routing ids on it: they go out
     * now, never on the closed socket nor on its successor. */
    lt_query_flush(self->query);
    lt_guard_detach(self->guard, self->peer); /* before the socket it watches */
    zmq_close(self->peer);
    self->peer = NULL;
    lt_peers_forget_inbound(self->shared.peers);
    for (int attempt = 0; attempt < 50 && !self->peer; attempt++) {
        self->peer = lt_sock_server(self->zctx, self->shared.keys, self->cfg.listen, &self->so, err,
                                    sizeof err);
        if (!self->peer)
            usleep(20000); /* the old listener is released asynchronously */
    }
    if (!self->peer) {
        /* Without a peer socket the gateway serves no one: stop with an error
         * so the service manager restarts it, rather than spin. */
        lt_error("gateway", "cannot rebind peer socket, stopping: %s", err);
        self->stopping = 1;
        self->failed = 1;
        return -1;
    }
    if (lt_guard_attach(self->guard, self->peer) != 0)
        lt_warn("gateway", "unauthenticated connections are not bounded until the next rebind");
    lt_feed_drop_peers(self->feed);
    lt_info("gateway", "peer socket rebound; every peer re-authenticates");
    return 0;
}

/* 1 if some member active in old is no longer active in new. */
static int s_lost_members(const lt_dir_t *old, const lt_dir_t *new)
{
    const Lienthong__Directory *o = lt_dir_get(old);
    for (size_t i = 0; i < o->n_members; i++) {
        if (o->members[i]->status != LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE)
            continue;
        /* Each key a session may have been admitted with (5.5). */
        const uint8_t *keys[2];
        size_t n = lt_dir_transport_keys(o->members[i], keys);
        for (size_t k = 0; k < n; k++) {
            const Lienthong__Member *m = lt_dir_member_by_transport(new, keys[k]);
            if (!m || m->status != LIENTHONG__MEMBER_STATUS__MEMBER_ACTIVE)
                return 1;
        }
    }
    return 0;
}

/* Checks offered bytes as PROTOCOL.md 5.3 requires, then persists them
 * before they replace the current directory. Returns the directory, or
 * NULL with the reason in err (and the offered version, 0 if unreadable). */
static lt_dir_t *s_adoptable(lt_gateway_t *self, const uint8_t *bytes, size_t len,
                             uint64_t *offered, char *err, size_t errlen)
{
    char why[512];
    /* The pins, the keys learned with the current directory and the next
     * authority keys it announces (5.5). */
    lt_dir_pins_t base, trust;
    lt_gwdir_base(&self->cfg, self->learned_path, &base, &self->learned_warned);
    lt_dir_trust(&base, self->shared.dir, &trust);
    lt_dir_t *d =
        lt_dir_open(bytes, len, &trust, self->cfg.federation, (int64_t)time(NULL), why, sizeof why);
    uint64_t current = lt_dir_version(self->shared.dir);
    *offered = d ? lt_dir_version(d) : 0;
    if (!d)
        snprintf(err, errlen, "%s", why);
    else if (lt_dir_version(d) <= current)
        snprintf(err, errlen, "older or same version %llu <= current %llu",
                 (unsigned long long)lt_dir_version(d), (unsigned long long)current);
    else if (s_check_self(self, d, why, sizeof why) != 0)
        snprintf(err, errlen, "would cut this gateway off: %s", why);
    /* Persisted, with the authority key it needs, before it replaces the
     * current directory: a restart keeps it (5.3, 5.5, lt_gwdir_persist). */
    else if (lt_gwdir_persist(&self->cfg, self->adopted_path, self->learned_path, self->shared.dir,
                              d, &trust, err, errlen) == 0)
        return d;
    lt_dir_destroy(&d);
    return NULL;
}

/* Takes `name` out of a configuration's list of n entries of `stride`
 * bytes, each starting with its name. */
static void s_cfg_drop(void *list, size_t stride, size_t *n, const char *name)
{
    char *base = list;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(base + i * stride, name) == 0) {
            memmove(base + i * stride, base + (i + 1) * stride, (*n - i - 1) * stride);
            (*n)--;
            return;
        }
}

/* ---- configured peers --------------------------------------------------------- */

/* Opens the link to member, a configured peer, at start or by a reload
 * (logged by `component`). One that cannot open is an error, left out of
 * the running configuration, so that the next reload, finding it added
 * again, tries it again, and kept among the unlinked, tried again when a
 * directory is adopted: the usual cause is a directory that does not list
 * the member yet (docs/operations.md "Reloading the configuration").
 * Returns 0, or -1 when the link did not open. */
static int s_peer_link(lt_gateway_t *self, const char *component, const char *member)
{
    if (lt_peers_link(self->shared.peers, member))
        return 0;
    /* Why a link does not open is logged by lt_peers (component link). */
    lt_error(component,
             "peer %s not applied: cannot open a link to it (see the link message above); "
             "tried again when a directory is adopted and by the next reload",
             member);
    s_cfg_drop(self->cfg.peers, sizeof self->cfg.peers[0], &self->cfg.n_peers, member);
    if (self->n_unlinked < LT_GWCFG_MAX_PEERS)
        snprintf(self->unlinked[self->n_unlinked++], sizeof self->unlinked[0], "%s", member);
    return -1;
}

/* After an adoption: the configured peers whose link could not open are
 * tried again; one that opens is back in the running configuration. */
static void s_peers_retry(lt_gateway_t *self)
{
    size_t kept = 0;
    for (size_t i = 0; i < self->n_unlinked; i++) {
        const char *member = self->unlinked[i];
        if (!lt_peers_link(self->shared.peers, member) || self->cfg.n_peers >= LT_GWCFG_MAX_PEERS) {
            memmove(self->unlinked[kept++], member, sizeof self->unlinked[0]);
            continue;
        }
        snprintf(self->cfg.peers[self->cfg.n_peers++], sizeof self->cfg.peers[0], "%s", member);
        lt_info("gateway", "peer %s linked: the directory adopted lists it", member);
    }
    self->n_unlinked = kept;
}

static int s_writer_quiet(lt_gateway_t *self);
static void s_writer_next(lt_gateway_t *self);

/* Makes d the current directory and tells every module (5.3, 5.4). */
static void s_adopted(lt_gateway_t *self, lt_dir_t *d, const char *source)
{
    int lost = s_lost_members(self->shared.dir, d);
    lt_info("directory", "adopted version %llu from %s (was %llu)",
            (unsigned long long)lt_dir_version(d), source,
            (unsigned long long)lt_dir_version(self->shared.dir));
    char detail[64];
    snprintf(detail, sizeof detail, "version %llu", (unsigned long long)lt_dir_version(d));
    lt_audit_add(
        self->shared.audit,
        &(lt_audit_entry_t){.event = "directory-adopted", .peer = source, .detail = detail});
    /* The writer's job was committed under the old directory, which a
     * publish group still reads: it is taken back and answered under it
     * before any view is rebuilt for the new one. Answered after, a group
     * would put its view records, numbered and derived the old way, back
     * on the rebuilt view (docs/ARCHITECTURE.md 6). A writer that does
     * not hand its job back (logged by s_writer_quiet) may still read the
     * old directory: it is left allocated, not freed under the job. */
    if (s_writer_quiet(self) == 0)
        lt_dir_destroy(&self->shared.dir);
    self->shared.dir = d;
    s_dir_gauges(self);
    s_standing(self);
    lt_publish_obs_dir(self->publish_obs, d, self->cfg.member);
    if (lost)
        (void)s_rebind_peer(self);
    lt_peers_dir_changed(self->shared.peers);
    s_peers_retry(self);
    lt_feed_dir_changed(self->feed, self->peer);
    lt_query_dir_changed(self->query, self->local);
    lt_peers_offer_all(self->shared.peers, self->peer);
    s_writer_next(self); /* groups gathered meanwhile, prepared under d */
}

/* 1 when bytes are exactly the directory in use. Peers offer what they
 * adopt to everyone: during a roll-out the same directory comes back from
 * each of them, which is nothing to refuse (PROTOCOL.md 5.1). */
static int s_already_held(const lt_gateway_t *self, const uint8_t *bytes, size_t len)
{
    size_t have_len;
    const uint8_t *have = lt_dir_signed_bytes(self->shared.dir, &have_len);
    return len == have_len && memcmp(bytes, have, len) == 0;
}

int lt_gateway_adopt(lt_gateway_t *self, const uint8_t *bytes, size_t len, const char *source,
                     char *err, size_t errlen)
{
    if (s_already_held(self, bytes, len)) {
        lt_debug("directory", "version %llu from %s is the one we hold",
                 (unsigned long long)lt_dir_version(self->shared.dir), source);
        snprintf(err, errlen, "already held");
        return 1;
    }
    uint64_t offered = 0;
    lt_dir_t *d = s_adoptable(self, bytes, len, &offered, err, errlen);
    if (d) {
        s_adopted(self, d, source);
        return 0;
    }
    /* An older one is a peer behind us (it gets ours in return); the same
     * version with other bytes means two signed variants: warn. */
    lt_log(offered && offered < lt_dir_version(self->shared.dir) ? LT_LOG_INFO : LT_LOG_WARN,
           "directory", "refused directory from %s: %s", source, err);
    lt_audit_add(self->shared.audit,
                 &(lt_audit_entry_t){.event = "directory-refused", .peer = source, .detail = err});
    return -1;
}

/* ---- peer messages (our ROUTER) -------------------------------------------- */

/* An offer from member through the back-off of PROTOCOL.md 5.3, which
 * holds per member whichever socket the offer came on (our ROUTER or our
 * link to it): 0 adopted, 1 already held, -1 refused (logged and audited
 * by lt_gateway_adopt), -2 held back unchecked; err says why. */
static int s_offer(lt_gateway_t *self, const char *member, const Lienthong__DirectoryOffer *o,
                   char *err, size_t errlen)
{
    const uint8_t *bytes = o->signed_directory.data;
    size_t len = o->signed_directory.len;
    int64_t wait = s_already_held(self, bytes, len)
                       ? 0
                       : lt_offers_wait(self->offers, member, lt_clock_mono_ms());
    if (wait > 0) { /* not checked: the member's last offer was refused just now */
        snprintf(err, errlen,
                 "directory offers from %s are not checked for %lld ms more: its last one was "
                 "refused",
                 member, (long long)wait);
        return -2;
    }
    int rc = lt_gateway_adopt(self, bytes, len, member, err, errlen);
    if (rc == 0)
        lt_offers_adopted(self->offers, member);
    else if (rc < 0)
        lt_offers_refused(self->offers, member, lt_clock_mono_ms());
    return rc;
}

/* A peer offered its directory: adopt it and say Hello with the new
 * version, or tell the peer why not (PROTOCOL.md 5.1; lt_peersock). */
static void s_peer_offer(void *arg, const lt_wire_in_t *in, const Lienthong__DirectoryOffer *o)
{
    lt_gateway_t *self = arg;
    char err[512];
    int rc = s_offer(self, in->user_id, o, err, sizeof err);
    if (rc == -2) {
        lt_peersock_refuse(&self->peer_dispatch, self->peer, in,
                           LIENTHONG__ERROR_CODE__ERR_DIRECTORY, 0, in->user_id, err);
        return;
    }
    if (rc == 0 && self->peer)
        (void)lt_peers_hello(self->shared.peers, self->peer, in->rid, in->rid_len);
    if (rc >= 0)
        return;
    lt_gwstats_codes_inc(&self->refused, LIENTHONG__ERROR_CODE__ERR_DIRECTORY);
    (void)lt_wire_send_error(self->peer, in->rid, in->rid_len, LIENTHONG__ERROR_CODE__ERR_DIRECTORY,
                             0, "directory refused: %s", err);
}

/* Whether no data goes to peers now, and why (lt_peersock). */
static int s_peer_no_data(void *arg, char *why, size_t len)
{
    const lt_gateway_t *self = arg;
    if (!s_no_data(self))
        return 0;
    s_no_data_why(self, why, len);
    return 1;
}

/* Handles one message from the peer socket; -1 when none was waiting. */
static int s_peer_one(lt_gateway_t *self)
{
    lt_wire_in_t in;
    int waiting = lt_wire_recv(self->peer, 1, ZMQ_DONTWAIT, &in) == 0;
    if (waiting)
        (void)lt_peersock_on_message(&self->peer_dispatch, self->peer, &in);
    lt_wire_in_close(&in);
    return waiting ? 0 : -1;
}

/* Drains what is waiting (bounded in messages and in the work of the
 * requests they carry, LT_QUERY_TURN_WORK), then signs the answers it
 * produced in one batch: under load many answers share a signature, and a
 * lone request is answered at once, never held back for a timer. What is
 * left waits for the next turn: the poll sees the socket still readable. */
static void s_on_peer(lt_gateway_t *self)
{
    lt_query_turn_begin(self->query);
    for (int i = 0; i < LT_PEER_DRAIN && self->peer && !lt_query_turn_done(self->query) &&
                    s_peer_one(self) == 0;
         i++)
        ;
    if (self->peer)
        lt_query_flush(self->query);
    lt_store_read_end(self->shared.store); /* also when the socket went */
}

/* ---- the writer thread: publish groups and replica batches ------------------- */

static void s_publish_start(lt_gateway_t *self);
static void s_publish_answer_pending(lt_gateway_t *self);
static void s_publish_finish(lt_gateway_t *self, lt_publish_job_t *job);

/* Takes the group's batches out of the queue, oldest first, and tells
 * their replicas (which read the batches: the envelopes go only after). */
static void s_replica_finish(lt_gateway_t *self)
{
    for (size_t i = 0; i < self->group.n; i++) {
        lt_feed_apply_t *job = NULL;
        Lienthong__Envelope *env = NULL;
        if (lt_applyq_pop(self->applyq, &job, &env) == 0)
            lt_feed_batch_done(self->feed, &job);
        lt_wire_free(&env);
    }
    self->group.n = 0;
    self->applying = 0;
}

/* The oldest verified batches, as many as one transaction takes
 * (LT_FEED_GROUP_BATCHES, LT_FEED_GROUP_RECORDS; at least one), planned
 * (lt_feed_group_plan). Returns how many of them run. */
static size_t s_replica_group(lt_gateway_t *self)
{
    lt_feed_group_t *g = &self->group;
    size_t records = 0, queued = lt_applyq_size(self->applyq);
    g->n = 0;
    while (g->n < queued && g->n < LT_FEED_GROUP_BATCHES) {
        lt_feed_apply_t *job = lt_applyq_at(self->applyq, g->n);
        records += lt_feed_batch_records(job);
        if (g->n > 0 && records > LT_FEED_GROUP_RECORDS)
            break;
        g->jobs[g->n++] = job;
    }
    return lt_feed_group_plan(self->feed, g);
}

/* Starts the oldest verified replica batches on the idle writer, in one
 * transaction; batches that must not run are finished at once. */
static void s_replica_start(lt_gateway_t *self)
{
    while (!self->applying && lt_applyq_size(self->applyq) &&
           !lt_writer_busy(self->shared.writer)) {
        if (s_replica_group(self) == 0) {
            s_replica_finish(self); /* none runs: each replica learns why */
            continue;
        }
        if (lt_writer_submit(self->shared.writer, lt_feed_group_apply, &self->group) != 0) {
            /* Cannot happen with an idle writer; the batches are still
             * applied, here, and finished at once: no job will come back. */
            lt_feed_group_apply(&self->group, self->shared.store);
            s_replica_finish(self);
            continue;
        }
        self->applying = 1;
    }
}

/* The owner's subscriber lines, when due (lt_feed_lines_job): a small
 * job, at most every few seconds, given the idle writer before the others
 * so that a stream of groups never keeps it waiting. */
static void s_lines_start(lt_gateway_t *self)
{
    if (lt_writer_busy(self->shared.writer))
        return;
    void *job = lt_feed_lines_job(self->feed);
    if (job && lt_writer_submit(self->shared.writer, lt_feed_lines_run, job) != 0)
        lt_feed_lines_done(self->feed, job); /* cannot happen; read as failed, tried again */
}

/* Gives the idle writer its next job, taking turns between the replica
 * batches and the publish groups so that neither waits behind a stream of
 * the other. */
static void s_writer_next(lt_gateway_t *self)
{
    s_lines_start(self);
    if (self->replica_turn) {
        s_replica_start(self);
        s_publish_start(self);
    } else {
        s_publish_start(self);
        s_replica_start(self);
    }
}

/* Takes back what the writer finished, and starts its next job. Also
 * without a hand-back: lt_writer_settle may have taken the job. */
static void s_writer_done(lt_gateway_t *self)
{
    void *job = lt_writer_done(self->shared.writer);
    if (job && job == self->running) {
        /* The next job starts before this group is answered, so that the
         * writer commits while the poll loop sends the acknowledgements and
         * the batches (docs/ARCHITECTURE.md 6): nothing the next group does
         * depends on them. The finished job becomes the one that gathers
         * and is emptied by s_publish_finish before the local socket is
         * read again; a next group run in line (s_publish_start's fallback)
         * is answered after it. A replica group, whose plan reads the
         * cursors its finish moves, is answered first (below). */
        self->unanswered = self->running;
        self->running = NULL;
        self->replica_turn = 1;
        s_writer_next(self);
        s_publish_answer_pending(self);
        return;
    }
    if (job && job == &self->group && self->applying) {
        s_replica_finish(self);
        self->replica_turn = 0;
    }
    if (lt_feed_lines_is(self->feed, job))
        lt_feed_lines_done(self->feed, job);
    s_writer_next(self);
}

/* Waits for the writer's job and takes it back, starting nothing more. -1
 * when the thread did not hand it back (a broken context): the job may
 * still run there, so it is left alone, and so is the queue. */
static int s_writer_quiet(lt_gateway_t *self)
{
    if (lt_writer_settle(self->shared.writer) != 0) {
        lt_error("gateway", "the writer thread did not hand its job back");
        return -1;
    }
    void *job = lt_writer_done(self->shared.writer);
    /* Groups are answered in the order they committed: one committed
     * before is never left behind (s_writer_done answers it at once). */
    s_publish_answer_pending(self);
    if (job && job == self->running)
        s_publish_finish(self, self->running);
    else if (job && job == &self->group && self->applying)
        s_replica_finish(self);
    else if (lt_feed_lines_is(self->feed, job))
        lt_feed_lines_done(self->feed, job);
    self->running = NULL;
    self->applying = 0;
    return 0;
}

/* At the end: the job in hand is finished; the batches waiting are dropped,
 * and their owners send them again from the cursor at the next start. */
static void s_writer_stop(lt_gateway_t *self)
{
    if (s_writer_quiet(self) != 0)
        return;
    lt_feed_apply_t *job = NULL;
    Lienthong__Envelope *env = NULL;
    while (lt_applyq_pop(self->applyq, &job, &env) == 0) { /* never run: nothing to undo */
        lt_feed_batch_free(&job);
        lt_wire_free(&env);
    }
}

/* Before the replicas change (a reload): every batch verified is committed
 * now, here, so that a replica removed or opened again finds the store and
 * its cursor in step. */
static void s_writer_drain(lt_gateway_t *self)
{
    if (s_writer_quiet(self) != 0)
        return;
    while (lt_applyq_size(self->applyq)) {
        if (s_replica_group(self) > 0)
            lt_feed_group_apply(&self->group, self->shared.store);
        s_replica_finish(self);
    }
}

/* ---- replies on our links -------------------------------------------------- */

/* A batch checked by lt_linkrx: committed by the writer thread in its turn
 * (lt_applyq), which takes the envelope it reads. */
static int s_link_queue(void *arg, lt_feed_apply_t *job, Lienthong__Envelope *env, const void *link)
{
    lt_gateway_t *self = arg;
    /* Cannot fail: LT_FEED_AHEAD batches per link at most, and the link is
     * not read while it has that many here. Were it to, lt_linkrx ends the
     * batch as not run. */
    if (lt_applyq_push(self->applyq, job, env, link) != 0)
        return -1;
    s_writer_next(self);
    return 0;
}

/* An offer on our link to member, under the same back-off as on our
 * ROUTER (s_offer). Nothing is answered on a link; a refusal is logged and
 * audited by lt_gateway_adopt or, for one held back (-1, why in err), by
 * lt_linkrx. */
static int s_link_offer(void *arg, const char *member, const Lienthong__DirectoryOffer *o,
                        char *err, size_t len)
{
    return s_offer(arg, member, o, err, len) == -2 ? -1 : 0;
}

/* Handles one message waiting on link i: 1 when it was a signed answer,
 * 0 for anything else, -1 when none was waiting. */
static int s_link_one(lt_gateway_t *self, size_t i)
{
    lt_wire_in_t in;
    int rc = -1;
    if (lt_wire_recv(lt_peers_link_socket(self->shared.peers, i), 0, ZMQ_DONTWAIT, &in) == 0)
        rc = lt_linkrx_on_message(&self->link_dispatch, i, &in) == LT_LINKRX_ANSWER;
    lt_wire_in_close(&in);
    return rc;
}

/* Handles what waits on link i. An owner signs the answers of a whole drain
 * together and sends them back to back, so signed answers are taken in a
 * bounded run without going back to the poll loop for each one (whose ticks
 * and socket checks cost several system calls a round). Anything else ends
 * the run: a feed batch is a commit of its own, and a directory adopted may
 * rotate the links, so the loop re-reads them first. */
static void s_on_link(lt_gateway_t *self, size_t i)
{
    /* A message handled may close or rotate link i: then its socket changes. */
    void *sock = lt_peers_link_socket(self->shared.peers, i);
    for (int n = 0; n < LT_PEER_DRAIN && lt_peers_link_socket(self->shared.peers, i) == sock &&
                    s_link_one(self, i) == 1;
         n++)
        ;
}

/* ---- local socket (adapters, applications, the CLI) ------------------------ */

/* The poll loop's part of a status reply (PROTOCOL.md 8.3; lt_local). */
static void s_local_status(void *arg, Lienthong__StatusReply *r)
{
    lt_gateway_t *self = arg;
    r->directory_version = (uint64_t)lt_gwstats_gauge(self->st_dir_version);
    r->refused = lt_gwstats_codes_sum(&self->refused) + lt_zap_refused(self->zap);
    r->directory_expired = self->expired;
    r->member_status = (char *)(self->standing ? self->standing : "");
}

/* The directory gauges, brought up to date for a metrics reply (8.6). */
static void s_local_metrics(void *arg)
{
    s_dir_gauges(arg);
}

/* While this member is suspended, revoked or not listed (5.4), why: for a
 * readiness reply (8.7), or for a local request for data, which is
 * refused (lt_local). */
static int s_local_cut_off(void *arg, int ready, char *why, size_t len)
{
    const lt_gateway_t *self = arg;
    char said[128];
    if (!self->standing)
        return 0;
    if (ready) {
        s_no_data_why(self, why, len);
        return 1;
    }
    s_standing_text(self, said, sizeof said);
    snprintf(why, len, "%s is %s: no requests are made or served until a directory lists it active",
             self->cfg.member, said);
    return 1;
}

/* Reports the streams a committed group advanced to the feeds, then answers
 * each of its Publish messages (lt_publish_job_finish). */
static void s_publish_finish(lt_gateway_t *self, lt_publish_job_t *job)
{
    lt_publish_job_finish(job, self->local, self->publish_obs, lt_feed_advanced, self->feed);
}

/* Answers the group committed just before, if s_writer_done has not yet. */
static void s_publish_answer_pending(lt_gateway_t *self)
{
    lt_publish_job_t *done = self->unanswered;
    self->unanswered = NULL;
    if (done)
        s_publish_finish(self, done);
}

/* Hands the gathered publish group to the writer thread when it is idle;
 * the other of the two jobs, empty, gathers the next. */
static void s_publish_start(lt_gateway_t *self)
{
    if (self->running || lt_publish_job_size(self->filling) == 0 ||
        lt_writer_busy(self->shared.writer))
        return;
    lt_publish_job_prepare(self->filling, &self->shared);
    if (lt_writer_submit(self->shared.writer, lt_publish_job_run, self->filling) != 0) {
        /* Cannot happen with an idle writer; the group is still answered,
         * after the one committed before it (s_writer_done), so that the
         * feed learns of their records in order. */
        s_publish_answer_pending(self);
        lt_publish_job_run(self->filling, self->shared.store);
        s_publish_finish(self, self->filling);
        return;
    }
    self->running = self->filling;
    self->filling = self->jobs[self->jobs[0] == self->running ? 1 : 0];
}

/* Drains the local socket: Publish messages gather into the next group
 * (committed by the writer thread, lt_publish_job), everything else is
 * handled as it comes. Stops when the group is full: the socket is then
 * not polled until the running group comes back (s_poll_items). */
static void s_on_local(lt_gateway_t *self)
{
    lt_publish_pending_t *p;
    while ((p = lt_publish_job_slot(self->filling))) {
        p->env = NULL;
        if (lt_wire_recv(self->local, 1, ZMQ_DONTWAIT, &p->in) != 0) {
            lt_wire_in_close(&p->in);
            break;
        }
        if (lt_local_on_message(&self->dispatch, &p->in, &p->env) == LT_LOCAL_PUBLISH) {
            lt_publish_job_keep(self->filling); /* held until the group commits */
            continue;
        }
        lt_wire_free(&p->env);
        lt_wire_in_close(&p->in);
    }
    s_writer_next(self);
}

/* ---- signals and the loop --------------------------------------------------- */

/* Applies a reloaded configuration, already compared with the running one
 * (lt_gwreload): replicas, links, log, limits. Returns how many additions
 * failed: each is logged and left out of the running configuration, so that
 * the next reload, finding it added again, tries it again (a peer also
 * each directory adopted meanwhile, s_peer_link). */
static size_t s_apply_config(lt_gateway_t *self, const lt_gwcfg_t *next,
                             const lt_gwreload_diff_t *d)
{
    char err[512];
    size_t failed = 0;
    /* The modules read the configuration at the moment of use (lt_gwctx.h):
     * in place, it is what every later call sees. */
    for (size_t i = 0; i < d->n_subs_removed; i++)
        lt_feed_replica_remove(self->feed, d->subs_removed[i]);
    self->cfg = *next;
    /* The unlinked peers left out of the running configuration are added
     * by this one if it still names them: tried below, or forgotten. */
    self->n_unlinked = 0;
    for (size_t i = 0; i < d->n_subs_added; i++)
        if (lt_feed_replica_add(self->feed, d->subs_added[i], err, sizeof err) != 0) {
            lt_error("reload",
                     "subscription %s not applied: cannot start its replica: %s; the "
                     "next reload tries it again",
                     d->subs_added[i], err);
            s_cfg_drop(self->cfg.subs, sizeof self->cfg.subs[0], &self->cfg.n_subs,
                       d->subs_added[i]);
            failed++;
        }
    for (size_t i = 0; i < d->n_peers_added; i++)
        if (s_peer_link(self, "reload", d->peers_added[i]) != 0)
            failed++;
    if (d->log_changed) {
        lt_log_set_level(self->cfg.log_level);
        lt_log_set_format(self->cfg.log_format);
    }
    /* max_message and heartbeat_ms are restart-only (lt_gwreload): the
     * socket options in self->so stay those every socket was opened with. */
    if (d->limits_changed)
        lt_feed_limits_changed(self->feed);
    return failed;
}

/* Re-reads the whole configuration file; one that does not load is refused
 * and the running configuration kept. */
static void s_reload_config(lt_gateway_t *self)
{
    char err[1024];
    lt_gwcfg_t *next = malloc(sizeof *next); /* large: off the stack */
    if (!next) {
        lt_error("reload", "configuration not reloaded: out of memory");
        return;
    }
    if (lt_gwcfg_load(self->cfg.path, next, err, sizeof err) != 0) {
        lt_error("reload", "refused, keeping the running configuration: %s", err);
    } else {
        lt_gwreload_diff_t d;
        lt_gwcfg_warn(next);
        lt_gwreload_diff(&self->cfg, next, &d);
        s_writer_drain(self);
        size_t failed = s_apply_config(self, next, &d);
        s_writer_next(self); /* a publish group may have gathered meanwhile */
        if (failed)
            lt_error("reload",
                     "configuration %s reloaded in part: %zu change%s, %zu not applied "
                     "(see above)",
                     self->cfg.path, d.n_changes, d.n_changes == 1 ? "" : "s", failed);
        else
            lt_info("reload", "configuration %s reloaded: %zu change%s", self->cfg.path,
                    d.n_changes, d.n_changes == 1 ? "" : "s");
    }
    free(next);
}

/* 1 if a and b hold the same public keys. */
static int s_same_keys(const lt_keys_t *a, const lt_keys_t *b)
{
    return memcmp(lt_keys_transport_public(a), lt_keys_transport_public(b), LT_KEY_BYTES) == 0 &&
           memcmp(lt_keys_signing_public(a), lt_keys_signing_public(b), LT_KEY_BYTES) == 0;
}

/* The keys `lienthong keys promote` put in the key file, when they differ
 * from those in use and the directory lists them for this member; NULL
 * otherwise (said in the log when they cannot be used). */
static lt_keys_t *s_promoted(lt_gateway_t *self)
{
    char err[800];
    lt_keys_t *k = lt_gwcheck_keys(&self->cfg, err, sizeof err);
    if (!k) {
        lt_error("keys", "keeping the keys in use: %s", err);
        return NULL;
    }
    if (s_same_keys(k, self->shared.keys))
        goto none;
    /* Checked before anything is recorded: the audit log's switch must
     * never name keys lt_keys_swap would then refuse. */
    if (lt_keys_kind(k) != LT_KEYS_MEMBER) {
        lt_error("keys", "not switching to the keys of %s: they are not a member's keys",
                 self->cfg.key_file);
        goto none;
    }
    /* Listed, not merely not refused: keys no directory lists admit no
     * one anywhere (lt_gwcheck_self lets a member not listed pass, 5.4). */
    if (lt_gwcheck_listed(&self->cfg, k, self->shared.dir, err, sizeof err) != 0) {
        lt_error("keys",
                 "not switching to the keys of %s: %s (directory version %llu); the "
                 "authority must first list them as the member's next keys",
                 self->cfg.key_file, err, (unsigned long long)lt_dir_version(self->shared.dir));
        goto none;
    }
    return k;
none:
    lt_keys_destroy(&k);
    return NULL;
}

/* Removes the switch file (lt_keys_switch_path) once the secret keys
 * `keys promote` kept there are no longer needed (docs/operations.md,
 * "Rotating keys"); `why` says why in the log. */
static void s_switch_file_gone(lt_gateway_t *self, const char *why)
{
    char path[PATH_MAX + 32], err[1200];
    int rc = lt_keys_switch_remove(self->cfg.key_file, err, sizeof err);
    if (rc == 1 && lt_keys_switch_path(self->cfg.key_file, path, sizeof path) == 0)
        lt_info("keys", "removed %s: %s", path, why);
    else if (rc == -1)
        lt_error("keys", "%s; delete it: it holds secret keys no longer needed", err);
    else if (rc == -2)
        lt_error("keys", "%s; it was removed because %s", err, why);
}

/* A kill inside the write of the key file or the switch file (lt_keys_save)
 * by a promote leaves its .new beside it, secret keys: nothing else
 * removes them. */
static void s_leftovers_gone(const char *key_file)
{
    char done[2048], err[2400];
    int rc = lt_keys_leftovers_remove(key_file, done, sizeof done, err, sizeof err);
    if (rc > 0)
        lt_info("keys", "removed %s, left by a promote stopped while it wrote %s", done,
                rc == 1 ? "it" : "them");
    else if (rc < 0)
        lt_error("keys", "%s; delete what is left: it holds secret keys", err);
}

/* Once the audit log records a switch. */
static void s_switch_file_done(lt_gateway_t *self)
{
    s_switch_file_gone(self, "the audit log records the switch from its keys");
}

/* The switch file holds the keys this gateway loaded: no switch from them
 * is recorded now. A promote that replaced the key file after this gateway
 * loaded it (it held the data directory's lock while starting, which
 * promote takes for "the gateway runs") left the switch pending: the file
 * stays until a reload or a stop records it (s_rekey, s_switch_at_stop),
 * or the next start. A promote killed before it replaced the key file left
 * the file behind, holding the keys still in use: it goes. */
static void s_switch_same_keys(lt_gateway_t *self, const char *path)
{
    char why[800];
    lt_keys_t *disk = lt_keys_load(self->cfg.key_file, why, sizeof why);
    if (!disk)
        lt_warn("keys", "%s left in place: cannot tell whether a promote replaced %s: %s", path,
                self->cfg.key_file, why);
    else if (!s_same_keys(disk, self->shared.keys))
        lt_info("keys",
                "%s left in place: %s was promoted after this gateway loaded it; a reload or "
                "a stop records the switch",
                path, self->cfg.key_file);
    else
        s_switch_file_gone(self, "a promote stopped before it replaced the key file left it; "
                                 "its keys are those in use");
    lt_keys_destroy(&disk);
}

/* Test hook of builds made with -DLT_TEST_HOOKS=ON (scripts/lib.sh; never
 * the package nor a build by hand), for tests/integration/test_keyrot.c:
 * with LT_TEST_PAUSE_START=F, a starting gateway that holds the data directory's
 * lock and has loaded its keys creates F.paused, then waits (10 s at most)
 * until F exists, so that a test can run `keys promote` in between. */
static void s_test_pause_start(void)
{
    lt_file_test_pause("LT_TEST_PAUSE_START");
}

/* The audit log cannot be read to tell whether it records the switch
 * from the keys in the switch file at path. Fail closed: the file may hold
 * the only copy of the secret keys whose switch the log still needs, so it
 * stays; and the gateway does not start, since it cannot tell whether the
 * switch is recorded, and checkpoints it signed before it is would never
 * verify. A busy or failing database is retried by the next start (systemd
 * restarts the unit); a damaged log is for the operator. */
static void s_switch_unreadable(const char *path, char *err, size_t errlen)
{
    lt_error("keys",
             "%s left in place: cannot tell from the audit log whether it records "
             "the switch from its keys (see above)",
             path);
    snprintf(err, errlen,
             "%s: the audit log cannot be read to tell whether it records the switch from "
             "the keys a promote replaced: not starting (docs/operations.md, \"Rotating "
             "keys\")",
             path);
}

/* Records the switch from prev (the keys of the switch file at path) to
 * the keys in use: signed by prev, countersigned by the keys in use, which
 * are swapped in place for the one commit, then back. 0, or -1 with err. */
static int s_switch_record(lt_gateway_t *self, lt_keys_t *prev, const char *path, char *err,
                           size_t errlen)
{
    lt_keys_t *keys = self->shared.keys;
    char z[LT_Z85_KEY_LEN + 1], detail[128];
    lt_keys_z85_encode(lt_keys_transport_public(keys), z);
    snprintf(detail, sizeof detail, "recorded at start; transport key %s", z);
    if (lt_keys_swap(keys, prev) != 0)
        goto refuse; /* not reached: both a member's */
    int sw = lt_audit_switch_keys(self->shared.audit, self->cfg.member, prev, detail);
    if (lt_keys_swap(keys, prev) != 0 || sw != 0)
        goto refuse;
    lt_info("keys",
            "recorded in the audit log the switch from the keys of %s to those of %s "
            "(transport key %s): the gateway stopped before it could",
            path, self->cfg.key_file, z);
    return 0;
refuse:
    snprintf(err, errlen,
             "cannot record in the audit log the switch from the keys of %s to those "
             "of %s: not starting, since the log would not verify",
             path, self->cfg.key_file);
    return -1;
}

/* A promote keeps the secret keys it replaced in the switch file until the
 * audit log records the switch from them (docs/operations.md, "Rotating
 * keys"): when the gateway was killed before it recorded it at a reload or
 * a stop, or started after a promote that did not, the log's key in force
 * is still theirs; the switch is recorded now, signed by them and
 * countersigned by the keys in the key file, before anything else is
 * signed. Then, or when the log needs no switch (it already records it, or
 * holds no checkpoint), the file goes. When it holds the keys this gateway
 * loaded, the key file on disk decides (s_switch_same_keys). 0, or -1 with
 * err: the gateway does not start, since every checkpoint it signed would
 * fail to verify. */
static int s_switch_check(lt_gateway_t *self, char *err, size_t errlen)
{
    char path[PATH_MAX + 32], why[800];
    s_leftovers_gone(self->cfg.key_file);
    if (lt_keys_switch_path(self->cfg.key_file, path, sizeof path) != 0 || access(path, F_OK) != 0)
        return 0;
    lt_keys_t *prev = lt_keys_load(path, why, sizeof why), *keys = self->shared.keys;
    int rc = -1, in;
    if (!prev || lt_keys_kind(prev) != LT_KEYS_MEMBER) {
        snprintf(err, errlen,
                 "%s: %s: the audit log cannot record the switch from the keys a "
                 "promote replaced (docs/operations.md, \"Rotating keys\")",
                 path, prev ? "not a member's keys" : why);
        goto out;
    }
    /* Its own keys: no switch from them to record now, so the log is not
     * asked (one that cannot be read would stop this start for nothing). */
    if (s_same_keys(prev, keys)) {
        s_switch_same_keys(self, path);
        rc = 0;
        goto out;
    }
    in = lt_audit_in_force(self->shared.audit, lt_keys_signing_public(prev));
    if (in == LT_AUDIT_UNREADABLE) {
        s_switch_unreadable(path, err, errlen);
        goto out;
    }
    if (in == 1) {
        if (s_switch_record(self, prev, path, err, errlen) != 0)
            goto out;
    } else if (in == 0 &&
               lt_audit_in_force(self->shared.audit, lt_keys_signing_public(keys)) != 1) {
        lt_warn("keys",
                "%s holds keys that are not the audit log's key in force, nor are those of "
                "%s: left in place; `audit --verify` may refuse the entries that follow "
                "(docs/operations.md, \"Rotating keys\")",
                path, self->cfg.key_file);
        rc = 0;
        goto out;
    }
    s_switch_file_done(self);
    rc = 0;
out:
    lt_keys_destroy(&prev);
    return rc;
}

/* s_switch_check under the promote lock (lt_keys_promote_lock): a promote
 * under way finishes first, so that the key file read then is the one it
 * leaves, and the switch file is not taken for one a killed promote left.
 * A lock still held after LT_KEYS_PROMOTE_WAIT_MS stops the start: checked
 * anyway, the check could remove the switch file of a promote that has not
 * yet replaced the key file, and left unchecked, a gateway that loaded
 * promoted keys while the log's key in force is the previous one would
 * sign checkpoints no recorded switch vouches for. systemd restarts the
 * unit, by when the promote is done. A lock that cannot be made (a key
 * directory the gateway may not write, where it could not remove the
 * switch file either) is done without. */
static int s_switch_at_start(lt_gateway_t *self, char *err, size_t errlen)
{
    int lock = lt_keys_promote_lock(self->cfg.key_file, 0);
    if (lock < 0 && errno == EWOULDBLOCK) {
        lt_info("keys", "waiting for the promote of %s under way (its lock is held)",
                self->cfg.key_file);
        lock = lt_keys_promote_lock(self->cfg.key_file, LT_KEYS_PROMOTE_WAIT_MS);
        if (lock < 0 && errno == EWOULDBLOCK) {
            snprintf(err, errlen,
                     "a promote of %s still holds its lock after %d s: not starting, since "
                     "which keys to sign with and whether the audit log must record a switch "
                     "are known only once it is done; start again then (systemd restarts the "
                     "unit; docs/operations.md, \"Rotating keys\")",
                     self->cfg.key_file, LT_KEYS_PROMOTE_WAIT_MS / 1000);
            return -1;
        }
    }
    int rc = s_switch_check(self, err, errlen);
    if (lock >= 0)
        close(lock);
    return rc;
}

/* Records in the audit log, signed by the keys in use and countersigned by
 * k, the switch to k (lt_audit_switch_keys): checkpoints of k verify only
 * after it (docs/ARCHITECTURE.md, "Audit log"). 0, or -1 (logged). */
static int s_record_switch(lt_gateway_t *self, const lt_keys_t *k, char *z, char *detail,
                           size_t len)
{
    lt_keys_z85_encode(lt_keys_transport_public(k), z);
    snprintf(detail, len, "transport key %s", z);
    if (lt_audit_switch_keys(self->shared.audit, self->cfg.member, k, detail) == 0) {
        s_switch_file_done(self);
        return 0;
    }
    lt_error("keys",
             "keeping the keys in use: the audit log cannot record the switch to the "
             "keys of %s",
             self->cfg.key_file);
    return -1;
}

/* After `lienthong keys promote` the key file holds the member's next keys.
 * When the directory lists them for this member, the gateway switches in
 * place (PROTOCOL.md 5.5): what waits on the peer socket is answered first,
 * then the audit log records the switch under the keys in use, then the
 * socket is rebound under the new transport key and every link reconnects
 * with it. Peers find the new key among the two the directory lists;
 * requests in flight are resent by their timers and feeds resume from their
 * cursors. Otherwise the keys in use stay, with an error. */
static void s_rekey(lt_gateway_t *self)
{
    char z[LT_Z85_KEY_LEN + 1], detail[96];
    lt_keys_t *k = s_promoted(self);
    if (!k)
        return;
    s_on_peer(self);
    if (s_record_switch(self, k, z, detail, sizeof detail) != 0)
        goto out;
    if (lt_keys_swap(self->shared.keys, k) != 0)
        goto out; /* not reached: both are a member's (s_promoted) */
    lt_info("keys", "switched to the keys of %s (transport key %s)", self->cfg.key_file, z);
    if (s_rebind_peer(self) == 0)
        lt_peers_relink(self->shared.peers);
out:
    lt_keys_destroy(&k);
}

/* A gateway stopped after `keys promote` starts with the promoted keys:
 * the audit log records the switch now, while the previous key is still
 * held, as a reload would (docs/operations.md, "Rotating keys"). */
static void s_switch_at_stop(lt_gateway_t *self)
{
    char z[LT_Z85_KEY_LEN + 1], detail[96];
    lt_keys_t *k = s_promoted(self);
    /* Entries committed after the switch (while the gateway is torn down)
     * must be signed by the new key: the keys in use change too. */
    if (k && s_record_switch(self, k, z, detail, sizeof detail) == 0 &&
        lt_keys_swap(self->shared.keys, k) == 0) /* both a member's (s_promoted) */
        lt_info("keys",
                "recorded in the audit log the switch to the keys of %s (transport key "
                "%s), which the next start uses",
                self->cfg.key_file, z);
    lt_keys_destroy(&k);
}

static void s_reload(lt_gateway_t *self)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[512];
    lt_info("gateway", "SIGHUP: reloading configuration %s and directory %s", self->cfg.path,
            self->cfg.directory_file);
    lt_notify_reloading();
    s_reload_config(self);
    if (lt_file_read(self->cfg.directory_file, LT_DIR_MAX_BYTES, &buf, &len) != 0) {
        lt_warn("directory", "cannot read %s: %s", self->cfg.directory_file, strerror(errno));
    } else if (lt_gateway_adopt(self, buf, len, self->cfg.directory_file, err, sizeof err) > 0) {
        lt_info("directory", "%s holds version %llu, the one in use", self->cfg.directory_file,
                (unsigned long long)lt_dir_version(self->shared.dir));
    }
    free(buf);
    s_rekey(self);
    lt_notify_ready(NULL);
}

static void s_on_signal(lt_gateway_t *self)
{
    struct signalfd_siginfo si;
    while (read(self->sigfd, &si, sizeof si) == sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            s_reload(self);
        } else {
            lt_info("gateway", "%s: draining and stopping", strsignal((int)si.ssi_signo));
            lt_notify_stopping();
            self->stopping = 1;
        }
    }
}

/* The poll set: ZAP, peer ROUTER, local ROUTER (not while the next publish
 * group is full), signals, the guard's monitor of the peer ROUTER (no
 * descriptor when not attached), the writer thread's hand-back, then one
 * item per link (link i at LT_GW_ITEMS + i). Returns the number of items. */
#define LT_GW_ITEMS 6
static size_t s_poll_items(lt_gateway_t *self, zmq_pollitem_t *items)
{
    items[0] = (zmq_pollitem_t){lt_zap_socket(self->zap), 0, ZMQ_POLLIN, 0};
    items[1] = (zmq_pollitem_t){self->peer, 0, ZMQ_POLLIN, 0};
    short local = lt_publish_job_slot(self->filling) ? ZMQ_POLLIN : 0;
    items[2] = (zmq_pollitem_t){self->local, 0, local, 0};
    items[3] = (zmq_pollitem_t){NULL, self->sigfd, ZMQ_POLLIN, 0};
    void *mon = lt_guard_socket(self->guard);
    items[4] = (zmq_pollitem_t){mon, mon ? 0 : -1, ZMQ_POLLIN, 0};
    items[5] = (zmq_pollitem_t){lt_writer_socket(self->shared.writer), 0, ZMQ_POLLIN, 0};
    size_t n = LT_GW_ITEMS, n_links = lt_peers_links(self->shared.peers);
    for (size_t i = 0; i < n_links; i++) {
        void *link = lt_peers_link_socket(self->shared.peers, i);
        /* A link with LT_FEED_AHEAD batches not yet committed is read
         * after the oldest commits. */
        short ev = lt_applyq_holds(self->applyq, link) >= LT_FEED_AHEAD ? 0 : ZMQ_POLLIN;
        items[n++] = (zmq_pollitem_t){link, 0, ev, 0};
    }
    return n;
}

/* Handles every ready item, ZAP first: a pending handshake holds a peer up;
 * then the guard, which frees descriptors. */
static void s_on_ready(lt_gateway_t *self, const zmq_pollitem_t *items, size_t n)
{
    if (items[0].revents & ZMQ_POLLIN)
        (void)lt_zap_handle(self->zap, self->shared.dir);
    if (items[4].revents & ZMQ_POLLIN)
        lt_guard_on_events(self->guard);
    if (items[3].revents & ZMQ_POLLIN)
        s_on_signal(self);
    if (items[1].revents & ZMQ_POLLIN)
        s_on_peer(self);
    if (items[2].revents & ZMQ_POLLIN)
        s_on_local(self);
    s_writer_done(self);
    /* A link rotated or closed meanwhile (an adoption) has another socket
     * at its index: not polled this round. */
    for (size_t i = 0; i + LT_GW_ITEMS < n; i++)
        if ((items[LT_GW_ITEMS + i].revents & ZMQ_POLLIN) &&
            items[LT_GW_ITEMS + i].socket == lt_peers_link_socket(self->shared.peers, i))
            s_on_link(self, i);
}

/* Rewrites the high-water file of the stream histories (lt_history) when
 * streams grew, at most once a second, and at the end (force). */
static void s_history_mark(lt_gateway_t *self, int force)
{
    uint64_t gen = lt_feed_generation(self->feed);
    int64_t now = lt_clock_mono_ms();
    if (gen == self->history_gen || (!force && now - self->history_at < 1000))
        return;
    char err[512];
    if (lt_history_save(self->shared.store, &self->cfg, err, sizeof err) != 0)
        lt_warn("history", "%s", err);
    self->history_gen = gen;
    self->history_at = now;
}

/* The feed's timers. A stale view's rebuild is retried with the writer
 * quiet, as at an adoption (s_adopted), and the writer goes on after it. */
static void s_feed_tick(lt_gateway_t *self)
{
    int quiet = lt_feed_views_due(self->feed) && s_writer_quiet(self) == 0;
    lt_feed_tick(self->feed);
    if (quiet)
        s_writer_next(self);
    else
        s_lines_start(self); /* a cursor moved, or a subscriber still seen */
}

int lt_gateway_run(lt_gateway_t *self)
{
    lt_info("gateway", "serving %s on %s (directory v%llu, local %s)", self->cfg.member,
            self->cfg.listen, (unsigned long long)lt_dir_version(self->shared.dir),
            self->cfg.local_socket);
    char status[512];
    snprintf(status, sizeof status, "serving %s on %s", self->cfg.member, self->cfg.listen);
    lt_notify_ready(status);
    zmq_pollitem_t items[LT_GW_ITEMS + LT_PEERS_MAX_LINKS];
    int busy = 0;
    while (!self->stopping) {
        lt_notify_watchdog();
        lt_peers_tick(self->shared.peers);
        s_feed_tick(self);
        lt_query_tick(self->query, self->local);
        if (!self->peer)
            break;
        size_t n = s_poll_items(self, items);
        /* While the pump still has batches to send, only peek at sockets. */
        if (zmq_poll(items, (int)n, busy ? 0 : POLL_MS) < 0) {
            if (zmq_errno() == EINTR)
                continue;
            lt_error("gateway", "poll failed: %s", zmq_strerror(zmq_errno()));
            /* As at a stop: the next start records it otherwise (s_switch_at_start). */
            s_switch_at_stop(self);
            return -1;
        }
        s_on_ready(self, items, n);
        busy = lt_feed_pump(self->feed, s_no_data(self) ? NULL : self->peer, self->local) > 0;
        lt_zap_tick(self->zap);
        lt_guard_tick(self->guard);
        lt_reject_tick(self->shared.reject);
        lt_peererr_tick(self->shared.peer_errors);
        lt_publish_obs_tick(self->publish_obs);
        if (self->peer_mon)
            lt_sockmon_tick(self->peer_mon);
        (void)lt_audit_flush(self->shared.audit, 0);
        if (lt_clock_mono_ms() - self->dir_gauges_at >= 1000)
            s_dir_gauges(self);
        s_history_mark(self, 0);
    }
    /* The group being committed is answered; one still gathering is not
     * (its adapters resend it to the next start). The replica batch being
     * committed moves its cursor; the ones waiting are dropped, and their
     * owners send them again from the cursor at the next start. */
    s_writer_stop(self);
    lt_feed_lines_flush(self->feed); /* every line as it is now, the writer quiet */
    s_history_mark(self, 1);
    s_switch_at_stop(self);
    if (self->failed)
        return -1;
    lt_info("gateway", "stopped cleanly");
    return 0;
}

/* ---- construction ------------------------------------------------------------ */

static int s_signals(lt_gateway_t *self)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Blocked before the ZeroMQ context exists, so its threads inherit the
     * mask and signals are only ever seen through the signalfd. */
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    self->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    return self->sigfd < 0 ? -1 : 0;
}

static void s_peer_event(void *arg, uint16_t event, int32_t value)
{
    lt_sockmon_event(arg, event, value);
}

static int s_open_sockets(lt_gateway_t *self, char *err, size_t errlen)
{
    self->zctx = zmq_ctx_new();
    if (!self->zctx) {
        snprintf(err, errlen, "cannot create ZeroMQ context");
        return -1;
    }
    /* The ZAP handler before any bind: libzmq admits everyone otherwise. */
    self->zap = lt_zap_new(self->zctx, self->shared.stats);
    if (!self->zap) {
        snprintf(err, errlen, "cannot start the ZAP handler");
        return -1;
    }
    lt_zap_set_audit(self->zap, self->shared.audit);
    /* Raises the fd limit before the peer port opens, then watches it. */
    self->guard = lt_guard_new(self->zctx, self->shared.stats, 0);
    if (!self->guard) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    lt_guard_set_audit(self->guard, self->shared.audit);
    /* The guard owns the peer socket's monitor (one per socket) and passes
     * the events on to lt_sockmon, which logs what libzmq closes. */
    self->peer_mon =
        lt_sockmon_new(self->so.max_message + LT_CURVE_FRAME_SLACK, self->shared.stats);
    if (self->peer_mon)
        lt_guard_set_observer(self->guard, s_peer_event, self->peer_mon);
    self->peer =
        lt_sock_server(self->zctx, self->shared.keys, self->cfg.listen, &self->so, err, errlen);
    if (!self->peer)
        return -1;
    if (lt_guard_attach(self->guard, self->peer) != 0) {
        snprintf(err, errlen, "cannot watch the peer socket's connections");
        return -1;
    }
    /* The local socket's cap is the local protocol's, not max_message: a
     * Publish above max_message must reach lt_local's own check and get
     * ERR_TOO_LARGE back, where libzmq would drop it and the connection
     * silently and leave the client waiting (docs/operations.md). */
    lt_sock_opts_t lo = self->so;
    if (lo.max_message < LT_LOCAL_MAX_MESSAGE)
        lo.max_message = LT_LOCAL_MAX_MESSAGE;
    self->local = lt_sock_local(self->zctx, self->cfg.local_socket, &lo, err, errlen);
    return self->local ? 0 : -1;
}

/* A database file of data_dir and its WAL files 0600, whatever an older
 * version or the umask made them (docs/operations.md "File modes"). */
static int s_private_db(const char *path, char *err, size_t errlen)
{
    char side[PATH_MAX + 40];
    if (lt_file_private(path) != 0) {
        snprintf(err, errlen, "cannot make %s mode 0600: %s", path, strerror(errno));
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        snprintf(side, sizeof side, "%s%s", path, i ? "-shm" : "-wal");
        if (chmod(side, 0600) != 0 && errno != ENOENT) {
            snprintf(err, errlen, "cannot make %s mode 0600: %s", side, strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* The data directory's lock, before anything in it is opened: a second
 * gateway on the same directory, or a restore, would otherwise replace or
 * write the files under this one (a socket probe cannot tell: the local
 * socket is bound only after the store is open and migrated). */
static int s_lock(lt_gateway_t *self, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/" LT_GWCFG_LOCK_NAME, self->cfg.data_dir);
    self->lockfd = lt_file_lock(path);
    if (self->lockfd >= 0)
        return 0;
    if (errno == EWOULDBLOCK)
        snprintf(err, errlen,
                 "another process uses data_dir %s (it holds %s): a gateway already runs on "
                 "it, or a restore; stop it first",
                 self->cfg.data_dir, path);
    else
        snprintf(err, errlen, "cannot lock %s: %s", path, strerror(errno));
    return -1;
}

/* The store and the audit log, in data_dir. */
static int s_open_stores(lt_gateway_t *self, char *err, size_t errlen)
{
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/store.db", self->cfg.data_dir);
    if (s_private_db(path, err, errlen) != 0 ||
        !(self->shared.store = lt_store_open_cached(path, self->cfg.store_cache_mb, err, errlen)))
        return -1;
    snprintf(path, sizeof path, "%s/audit.db", self->cfg.data_dir);
    if (s_private_db(path, err, errlen) != 0)
        return -1;
    self->shared.audit = lt_audit_open(path, self->shared.keys, err, errlen);
    if (self->shared.audit &&
        (lt_audit_set_stats(self->shared.audit, self->shared.stats) != 0 ||
         !(self->shared.reject = lt_reject_new(self->shared.stats, self->shared.audit)) ||
         !(self->shared.peer_errors = lt_peererr_new(self->shared.stats, 0)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    lt_audit_retention_check(self->shared.audit, self->cfg.audit_retention_days);
    if (!self->shared.audit)
        return -1;
    /* A store behind what this gateway had durable was restored or rolled
     * back: its streams get new histories before anyone is served. */
    return lt_history_check(self->shared.store, &self->cfg, self->shared.audit, err, errlen);
}

/* Fills in the dispatch tables of the local socket, the peer socket and
 * the links from the modules just opened: plain assignments, which cannot
 * fail, kept apart from the opening so that its error paths read alone. */
static void s_wire_dispatch(lt_gateway_t *self)
{
    self->dispatch = (lt_local_t){.ctx = &self->shared,
                                  .sock = self->local,
                                  .feed = self->feed,
                                  .query = self->query,
                                  .profile = self->profile,
                                  .prefill = self->prefill,
                                  .hooks = {.status = s_local_status,
                                            .metrics = s_local_metrics,
                                            .cut_off = s_local_cut_off,
                                            .arg = self}};
    self->peer_dispatch =
        (lt_peersock_t){.ctx = &self->shared,
                        .refused = &self->refused,
                        .feed = self->feed,
                        .query = self->query,
                        .hooks = {.no_data = s_peer_no_data, .offer = s_peer_offer, .arg = self}};
    self->link_dispatch =
        (lt_linkrx_t){.ctx = &self->shared,
                      .refused = &self->refused,
                      .feed = self->feed,
                      .query = self->query,
                      .local = self->local,
                      .hooks = {.offer = s_link_offer, .queue = s_link_queue, .arg = self}};
}

/* The checkpointer, then the writer that nudges it: both on the store
 * file, each with a thread of its own. 0, or -1 with err. */
static int s_open_writers(lt_gateway_t *self, char *err, size_t errlen)
{
    /* Copying the write-ahead log into the store file is the
     * checkpointer's, not the committing threads' (docs/ARCHITECTURE.md 6,
     * "Checkpoints"). */
    if (!(self->shared.ckpt =
              lt_ckpt_new(lt_store_path(self->shared.store), self->shared.stats, err, errlen)))
        return -1;
    lt_store_wal_delegate(self->shared.store, lt_ckpt_nudge, self->shared.ckpt,
                          LT_STORE_WAL_CAP_PAGES);
    /* The owner's publish groups and the replicas' batches commit on their
     * own connection and thread, so that lookups never wait for their fsync
     * (docs/ARCHITECTURE.md 6). */
    if (!(self->shared.writer =
              lt_writer_new(self->zctx, lt_store_path(self->shared.store), self->cfg.store_cache_mb,
                            lt_ckpt_nudge, self->shared.ckpt, err, errlen)))
        return -1;
    return 0;
}

/* Peers, feed and query share self->shared, which lives as long as self. */
static int s_open_modules(lt_gateway_t *self, char *err, size_t errlen)
{
    if (!(self->shared.peers = lt_peers_new(&self->shared, self->zctx, &self->so)) ||
        !(self->query = lt_query_new(&self->shared)) ||
        !(self->profile = lt_profile_new(&self->shared, self->query))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (!(self->feed = lt_feed_new(&self->shared))) {
        snprintf(err, errlen, "cannot set up feeds (too many streams, or store failure)");
        return -1;
    }
    self->shared.feed = self->feed; /* lookups on a stale view are refused (lt_query) */
    if (!(self->prefill = lt_prefill_new(&self->shared, self->feed)) ||
        !(self->jobs[0] = lt_publish_job_new()) || !(self->jobs[1] = lt_publish_job_new()) ||
        !(self->applyq = lt_applyq_new(LT_PEERS_MAX_LINKS * LT_FEED_AHEAD))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    self->filling = self->jobs[0];
    s_wire_dispatch(self);
    return s_open_writers(self, err, errlen);
}

/* The fields that need a value other than calloc's zero before anything
 * is opened: lt_gateway_destroy relies on the -1 descriptors. */
static void s_init(lt_gateway_t *self, const lt_gwcfg_t *cfg)
{
    self->cfg = *cfg;
    self->shared.cfg = &self->cfg;
    self->sigfd = -1;
    self->lockfd = -1;
    lt_sock_opts_default(&self->so);
    self->so.max_message = cfg->max_message;
    self->so.heartbeat_ms = cfg->heartbeat_ms;
    lt_dirpick_adopted_path(cfg->data_dir, self->adopted_path, sizeof self->adopted_path);
    lt_dirpick_learned_path(cfg->data_dir, self->learned_path, sizeof self->learned_path);
}

/* data_dir made (with a reason naming what stands in the way when it
 * cannot be), checked private, and locked against a second gateway or a
 * restore on it. 0, or -1 with err. */
static int s_take_data_dir(lt_gateway_t *self, char *err, size_t errlen)
{
    const char *dir = self->cfg.data_dir;
    if (lt_file_mkdirs(dir, 0700) != 0) {
        char why[4800];
        int e = errno;
        if (lt_file_dir_usable(dir, 0700, why, sizeof why) == 0)
            snprintf(why, sizeof why, "%s", strerror(e));
        snprintf(err, errlen, "cannot create data_dir %s: %s", dir, why);
        return -1;
    }
    if (lt_file_dir_private(dir, err, errlen) != 0 || s_lock(self, err, errlen) != 0)
        return -1;
    return 0;
}

/* The directory loaded and this gateway found in it; then what depends on
 * it: gauges, standing and the publish observer. 0, or -1 with err. */
static int s_take_dir(lt_gateway_t *self, char *err, size_t errlen)
{
    if (s_load_dir(self, err, errlen) != 0 ||
        s_check_self(self, self->shared.dir, err, errlen) != 0)
        return -1;
    s_dir_gauges(self);
    s_standing(self); /* a gateway cut off starts all the same, to be reinstated (5.4) */
    lt_publish_obs_dir(self->publish_obs, self->shared.dir, self->cfg.member);
    return 0;
}

lt_gateway_t *lt_gateway_new(const lt_gwcfg_t *cfg, char *err, size_t errlen)
{
    lt_gateway_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s_init(self, cfg);
    /* Everything the gateway creates (store, audit, adopted directory, WAL
     * files) is for its user only. */
    umask(0077);
    if (s_take_data_dir(self, err, errlen) != 0)
        goto fail;
    if (!(self->shared.keys = lt_gwcheck_keys(cfg, err, errlen)))
        goto fail;
    if (!(self->shared.stats = lt_stats_new()) || s_register(self) != 0 ||
        !(self->offers = lt_offers_new())) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (s_take_dir(self, err, errlen) != 0)
        goto fail;
    if (s_signals(self) != 0) {
        snprintf(err, errlen, "cannot set up signal handling: %s", strerror(errno));
        goto fail;
    }
    if (s_open_stores(self, err, errlen) != 0)
        goto fail;
    s_test_pause_start();
    if (s_switch_at_start(self, err, errlen) != 0 || s_open_sockets(self, err, errlen) != 0 ||
        s_open_modules(self, err, errlen) != 0)
        goto fail;
    /* As a reload adds them (s_peer_link): a peer whose link cannot open
     * does not stop the gateway, and is tried again. */
    for (size_t i = 0; i < cfg->n_peers; i++)
        (void)s_peer_link(self, "gateway", cfg->peers[i]);
    return self;
fail:
    lt_gateway_destroy(&self);
    return NULL;
}

void lt_gateway_destroy(lt_gateway_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    lt_gateway_t *self = *self_p;
    lt_peers_destroy(&self->shared.peers);
    if (self->guard)
        lt_guard_detach(self->guard, self->peer);
    lt_sockmon_destroy(&self->peer_mon);
    if (self->peer)
        zmq_close(self->peer);
    if (self->local) {
        zmq_close(self->local);
        unlink(self->cfg.local_socket);
    }
    lt_zap_destroy(&self->zap);
    lt_guard_destroy(&self->guard);
    lt_reject_destroy(&self->shared.reject);
    lt_peererr_destroy(&self->shared.peer_errors);
    lt_offers_destroy(&self->offers);
    lt_writer_destroy(&self->shared.writer); /* waits for its commit */
    lt_feed_apply_t *left = NULL;
    Lienthong__Envelope *env = NULL;
    while (self->applyq && lt_applyq_pop(self->applyq, &left, &env) == 0) {
        lt_feed_batch_free(&left);
        lt_wire_free(&env);
    }
    lt_applyq_destroy(&self->applyq);
    lt_publish_job_destroy(&self->jobs[0]);
    lt_publish_job_destroy(&self->jobs[1]);
    lt_publish_obs_destroy(&self->publish_obs);
    lt_audit_destroy(&self->shared.audit);
    if (self->zctx)
        zmq_ctx_term(self->zctx);
    lt_profile_destroy(&self->profile); /* before query: it forgets its lookups there */
    lt_query_destroy(&self->query);
    lt_prefill_destroy(&self->prefill);
    lt_feed_destroy(&self->feed);
    lt_store_destroy(&self->shared.store);
    lt_ckpt_destroy(&self->shared.ckpt); /* after every connection that nudges it */
    lt_dir_destroy(&self->shared.dir);
    lt_keys_destroy(&self->shared.keys);
    /* Last: every module above kept handles into it. */
    lt_stats_destroy(&self->shared.stats);
    if (self->sigfd >= 0)
        close(self->sigfd);
    /* Last: everything in data_dir is closed. */
    if (self->lockfd >= 0)
        close(self->lockfd);
    free(self);
    *self_p = NULL;
}

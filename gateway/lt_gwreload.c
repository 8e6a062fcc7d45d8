/* lt_gwreload: comparing the running configuration with the one reloaded,
 * logging each difference, and keeping what needs a restart. */
#include "lt_gwreload.h"
#include "lt_log.h"

#include <stdio.h>
#include <string.h>

/* 1 if id is among the n entries of a list of fixed-size strings. */
static int s_in(const char *id, const char *list, size_t stride, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(list + i * stride, id) == 0)
            return 1;
    return 0;
}

static void s_subs(const lt_gwcfg_t *old, const lt_gwcfg_t *next, lt_gwreload_diff_t *d)
{
    for (size_t i = 0; i < next->n_subs; i++)
        if (!s_in(next->subs[i].stream, old->subs[0].stream, sizeof old->subs[0], old->n_subs)) {
            lt_info("reload", "subscription added: %s", next->subs[i].stream);
            d->subs_added[d->n_subs_added++] = next->subs[i].stream;
        }
    for (size_t i = 0; i < old->n_subs; i++)
        if (!s_in(old->subs[i].stream, next->subs[0].stream, sizeof next->subs[0], next->n_subs)) {
            lt_info("reload", "subscription removed: %s (its replica stays in the store)",
                    old->subs[i].stream);
            d->subs_removed[d->n_subs_removed++] = old->subs[i].stream;
        }
    /* The resync setting (PROTOCOL.md 6.9) is read when a feed forks: the
     * new one applies from the next fork on. */
    for (size_t i = 0; i < old->n_subs; i++)
        for (size_t j = 0; j < next->n_subs; j++)
            if (strcmp(old->subs[i].stream, next->subs[j].stream) == 0 &&
                old->subs[i].resync_auto != next->subs[j].resync_auto) {
                lt_info("reload", "subscription %s: resync changed to \"%s\"", next->subs[j].stream,
                        next->subs[j].resync_auto ? "auto" : "manual");
                d->n_changes++;
            }
}

static void s_peers(const lt_gwcfg_t *old, const lt_gwcfg_t *next, lt_gwreload_diff_t *d)
{
    for (size_t i = 0; i < next->n_peers; i++)
        if (!s_in(next->peers[i], old->peers[0], sizeof old->peers[0], old->n_peers)) {
            lt_info("reload", "peer added: %s", next->peers[i]);
            d->peers_added[d->n_peers_added++] = next->peers[i];
        }
    for (size_t i = 0; i < old->n_peers; i++)
        if (!s_in(old->peers[i], next->peers[0], sizeof next->peers[0], next->n_peers)) {
            /* A reload only adds links (lt_peers closes one only when its
             * member stops being active); one no longer listed is simply
             * not greeted at the next start. */
            lt_info("reload", "peer removed: %s (its link stays open until a restart)",
                    old->peers[i]);
            d->n_changes++;
        }
}

/* A number that takes effect at once. */
static void s_number(const char *name, long long was, long long now, int *changed,
                     lt_gwreload_diff_t *d)
{
    if (was == now)
        return;
    lt_info("reload", "%s: %lld -> %lld", name, was, now);
    *changed = 1;
    d->n_changes++;
}

/* A string that only a restart can change: kept as it runs. */
static void s_fixed(const char *name, const char *was, char *now, size_t len, lt_gwreload_diff_t *d)
{
    if (strcmp(was, now) == 0)
        return;
    lt_warn("reload", "%s changed to \"%s\": takes effect at the next restart; keeping \"%s\"",
            name, now, was);
    snprintf(now, len, "%s", was);
    d->n_changes++;
}

/* A number that only a restart can change: kept as it runs. */
static void s_fixed_number(const char *name, long long was, long long *now, lt_gwreload_diff_t *d)
{
    if (was == *now)
        return;
    lt_warn("reload", "%s changed to %lld: takes effect at the next restart; keeping %lld", name,
            *now, was);
    *now = was;
    d->n_changes++;
}

static void s_log(const lt_gwcfg_t *old, const lt_gwcfg_t *next, lt_gwreload_diff_t *d)
{
    if (old->log_level == next->log_level && old->log_format == next->log_format)
        return;
    static const char *const levels[] = {"debug", "info", "warn", "error"};
    lt_info("reload", "log_level %s -> %s, log_format %s -> %s", levels[old->log_level],
            levels[next->log_level], old->log_format == LT_LOG_JSON ? "json" : "text",
            next->log_format == LT_LOG_JSON ? "json" : "text");
    d->log_changed = 1;
    d->n_changes++;
}

static void s_directory(const lt_gwcfg_t *old, const lt_gwcfg_t *next, lt_gwreload_diff_t *d)
{
    if (strcmp(old->directory_file, next->directory_file) != 0) {
        lt_info("reload", "directory file: %s -> %s", old->directory_file, next->directory_file);
        d->n_changes++;
    }
    if (old->pins.count != next->pins.count ||
        memcmp(old->pins.keys, next->pins.keys, old->pins.count * sizeof old->pins.keys[0]) != 0) {
        lt_info("reload",
                "authority_keys: %zu pinned key(s), was %zu; they check directories "
                "offered from now on",
                next->pins.count, old->pins.count);
        d->n_changes++;
    }
}

void lt_gwreload_diff(const lt_gwcfg_t *old, lt_gwcfg_t *next, lt_gwreload_diff_t *d)
{
    long long max_message = (long long)next->max_message, heartbeat_ms = next->heartbeat_ms;
    long long store_cache_mb = next->store_cache_mb;
    memset(d, 0, sizeof *d);
    s_fixed("member", old->member, next->member, sizeof next->member, d);
    s_fixed("federation", old->federation, next->federation, sizeof next->federation, d);
    s_fixed("listen", old->listen, next->listen, sizeof next->listen, d);
    s_fixed("local_socket", old->local_socket, next->local_socket, sizeof next->local_socket, d);
    s_fixed("data_dir", old->data_dir, next->data_dir, sizeof next->data_dir, d);
    s_fixed("key_file", old->key_file, next->key_file, sizeof next->key_file, d);
    s_directory(old, next, d);
    s_subs(old, next, d);
    s_peers(old, next, d);
    s_log(old, next, d);
    /* Every socket took them when it opened (lt_sock), the peer ROUTER
     * included: applied only to what opens later, they would differ between
     * connections and from the decode cap, so a restart applies them. */
    s_fixed_number("max_message", (long long)old->max_message, &max_message, d);
    next->max_message = (size_t)max_message;
    s_fixed_number("heartbeat_ms", old->heartbeat_ms, &heartbeat_ms, d);
    next->heartbeat_ms = (int)heartbeat_ms;
    s_number("batch_max", old->batch_max, next->batch_max, &d->limits_changed, d);
    s_number("credit", old->credit, next->credit, &d->limits_changed, d);
    s_number("tail_batches", old->tail_batches, next->tail_batches, &d->limits_changed, d);
    s_number("tail_bytes", old->tail_bytes, next->tail_bytes, &d->limits_changed, d);
    s_fixed_number("store_cache_mb", old->store_cache_mb, &store_cache_mb, d);
    next->store_cache_mb = (int)store_cache_mb;
    /* Retention (PROTOCOL.md 6.8) is read at each pruning step: a new bound
     * applies from the next one. A larger bound keeps more from now on; what
     * was already pruned stays pruned. */
    s_number("retain_records", old->retain_records, next->retain_records, &d->retain_changed, d);
    s_number("retain_days", old->retain_days, next->retain_days, &d->retain_changed, d);
    d->n_changes += d->n_subs_added + d->n_subs_removed + d->n_peers_added;
}

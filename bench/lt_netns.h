/* lt_netns: a small wide-area network on one machine, for bench_wan.
 *
 * One network namespace for the capital and one per province, made with
 * `ip netns add` under a name unique to the run ("ltw<pid>c", "ltw<pid>p0",
 * ...). Each province is joined to the capital by a pair of TUN devices
 * (`wanN` in the capital, `wan0` in the province) and a link emulator
 * thread in this process that carries every IP packet between the two
 * with a one-way delay, a uniform jitter and a random loss, in both
 * directions. Packets of one direction keep their order (each leaves no
 * earlier than the one before it), as on a real circuit.
 *
 * Addresses (docs/performance.md, "A federation over a wide-area network"): only 10.213.0.0/16 and
 * only inside these namespaces: the capital is 10.213.0.1 on every link, province i
 * is 10.213.(i+1).2, each link point-to-point. Nothing is added to the root namespace.
 *
 * The emulator is here rather than `tc qdisc ... netem` because the kernels
 * the benchmark runs on may be built without sch_netem; it needs only TUN.
 *
 * Cleanup: lt_netns_destroy deletes the namespaces (the TUN devices vanish
 * with their file descriptors). lt_netns_new first deletes namespaces of an
 * earlier run whose process is gone ("ltw<pid>..." with pid not running). */
#ifndef LT_NETNS_H
#define LT_NETNS_H

#include <stddef.h>
#include <stdint.h>

#define LT_NETNS_MAX 16

typedef struct {
    int delay_ms;  /* one way */
    int jitter_ms; /* uniform in [-jitter, +jitter], one way */
    double loss;   /* probability that a packet is dropped, each way */
} lt_netns_link_t;

typedef struct lt_netns lt_netns_t;

/* 0 when this process can make namespaces and TUN devices; -1 with the
 * reason in why. Makes and deletes one namespace to find out. */
int lt_netns_probe(char *why, size_t whylen);

/* Makes the capital and n provinces (n <= LT_NETNS_MAX) with links[i] to
 * province i, and starts the emulator. NULL with err on failure (whatever
 * was made is removed). */
lt_netns_t *lt_netns_new(int n, const lt_netns_link_t *links, uint64_t seed, char *err,
                         size_t errlen);
/* Stops the emulator, deletes the namespaces; idempotent. */
void lt_netns_destroy(lt_netns_t **self);

/* `ip netns` name of the capital (i = -1) or of province i. */
const char *lt_netns_name(const lt_netns_t *self, int i);
/* Address of the capital (i = -1) or of province i, dotted. */
const char *lt_netns_addr(const lt_netns_t *self, int i);

/* Takes province i's interface down (`ip link set wan0 down` in its
 * namespace) or up again. 0 or -1. */
int lt_netns_link_set(lt_netns_t *self, int i, int up);

/* Packets carried, dropped by the loss model, dropped because the far
 * side was down or the queue full, summed over all links. */
void lt_netns_counts(const lt_netns_t *self, uint64_t *carried, uint64_t *lost, uint64_t *refused);

#endif

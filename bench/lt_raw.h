/* lt_raw: raw libzmq baselines measured in the same run as each benchmark:
 * CURVE PUSH->PULL throughput, CURVE DEALER->ROUTER round trips (pipelined
 * and one at a time), over tcp on 127.0.0.1 with the given message size. */
#ifndef LT_RAW_H
#define LT_RAW_H

#include <stddef.h>
#include <stdint.h>

/* Messages per second from PUSH to PULL, or a negative value on failure. */
double lt_raw_push_pull(size_t msg_size, long count);
/* Round trips per second with `inflight` requests outstanding; with
 * inflight == 1, also the p50 and p99 round trip in microseconds. */
double lt_raw_dealer_router(size_t msg_size, long count, int inflight, double *p50_us,
                            double *p99_us);

/* Round trips one at a time, CURVE DEALER->ROUTER, between two network
 * namespaces (`ip netns` names): the ROUTER in server_ns bound to
 * server_ip, the DEALER in client_ns, each in a thread and a context of its
 * own (bench_wan). p50 and p99 in microseconds; returns the round trips
 * done, or -1 on failure. */
long lt_raw_rtt_netns(const char *server_ns, const char *server_ip, const char *client_ns,
                      size_t msg_size, long count, double *p50_us, double *p99_us);

/* The benchmark report line: "bench: NAME VALUE UNIT | raw VALUE UNIT | ratio R". */
void lt_raw_report(const char *name, double value, const char *unit, double raw,
                   const char *raw_unit, int lower_is_better);

#endif

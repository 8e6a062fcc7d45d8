/* lt_bench: shared pieces of the benchmarks (see lt_bench.c). */
#ifndef LT_BENCH_H
#define LT_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "lt_itest.h"

/* Packs a ~256-byte population record for citizen i into out (>= 512
 * bytes); writes its 12-digit key into key (>= 24 bytes). Returns the size. */
size_t lt_bench_record(long i, uint8_t *out, char *key);
/* Writes citizen i's key alone (the one lt_bench_record writes) into key
 * (>= 24 bytes): a load generator asks for keys without making records, so
 * that its own work stays out of the figures. */
void lt_bench_key(long i, char *key);

/* The columns of a Population table, in field order (lt_bench_citizen
 * fills them). */
#define LT_BENCH_COLUMNS 16
extern const char *const lt_bench_columns[LT_BENCH_COLUMNS];
/* Citizen i's record as column texts (NULL for an absent value): the same
 * values as lt_bench_record, about 256 bytes in all. */
void lt_bench_citizen(long i, char vals[LT_BENCH_COLUMNS][128], const char *out[LT_BENCH_COLUMNS]);

/* The largest packed record a record source may write (lt_bench_record_fn). */
#define LT_BENCH_RECORD_MAX 1024
/* A record source: packs record i (0-based, asked in increasing order, but
 * a range may be asked again after a send timed out) into out (>=
 * LT_BENCH_RECORD_MAX bytes) and its key into key (>= 24 bytes); returns
 * its size, 0 on failure. */
typedef size_t (*lt_bench_record_fn)(void *arg, long i, uint8_t *out, char *key);

/* Publishes records 0..n-1 to dataset through the owner's local socket,
 * several Publish messages in flight; 0 when all were acknowledged. */
int lt_bench_publish(const char *sock_path, const char *dataset, long n);
/* The same with the records of `record`. */
int lt_bench_publish_from(const char *sock_path, const char *dataset, long n,
                          lt_bench_record_fn record, void *arg);

/* The set-up of the query benchmarks: in a fresh federation f (whose
 * directory source gets `source` appended), an owner VN/GOV/BCA holding
 * `records` records of dataset and a caller VN/COM/VIETTEL peered with it,
 * both running; then a local-API client of the caller's into *app. 0, or
 * -1; lt_it_fed_cleanup(f) is due either way. */
int lt_bench_pair(lt_it_fed_t *f, const char *source, const char *dataset, long records,
                  lt_it_gw_t **caller, void **app);

/* n lookups (verify 0) or verifies of records 0..records-1 of dataset over
 * the local API client app, `inflight` outstanding. Returns requests/s, or
 * -1 when any answer was an error or missing; with inflight 1 also the
 * median and 99th percentile latency in us. */
double lt_bench_queries(void *app, const char *dataset, long records, int verify, long n,
                        int inflight, double *p50, double *p99);

/* The same over the given keys (keys[i % records] for request i). */
double lt_bench_queries_of(void *app, const char *dataset, char *const *keys, long records,
                           int verify, long n, int inflight, double *p50, double *p99);

/* Sorts the n values of v and gives their median and 99th percentile. */
void lt_bench_percentiles(double *v, long n, double *p50, double *p99);
/* Microseconds of CLOCK_MONOTONIC since start. */
double lt_bench_us_since(const struct timespec *start);
/* CPU time (user + system, all its threads) process pid has used so far,
 * in ms, at the kernel's tick (10 ms on most machines); -1 if unknown.
 * Divided by the requests of a phase, it says which process the time of a
 * request goes to, where the processes share the cores. */
double lt_bench_cpu_ms(pid_t pid);
/* The same in seconds, 0 when unknown: for sums and reports that read an
 * unknown as nothing spent. */
double lt_bench_cpu_s(pid_t pid);

#endif

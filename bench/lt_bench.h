/* lt_bench: shared pieces of the benchmarks (see lt_bench.c). */
#ifndef LT_BENCH_H
#define LT_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Packs a ~256-byte population record for citizen i into out (>= 512
 * bytes); writes its 12-digit key into key (>= 24 bytes). Returns the size. */
size_t lt_bench_record(long i, uint8_t *out, char *key);

/* The columns of a Population table, in field order (lt_bench_citizen
 * fills them). */
#define LT_BENCH_COLUMNS 16
extern const char *const lt_bench_columns[LT_BENCH_COLUMNS];
/* Citizen i's record as column texts (NULL for an absent value): the same
 * values as lt_bench_record, about 256 bytes in all. */
void lt_bench_citizen(long i, char vals[LT_BENCH_COLUMNS][128], const char *out[LT_BENCH_COLUMNS]);

/* Publishes records 0..n-1 to dataset through the owner's local socket,
 * several Publish messages in flight; 0 when all were acknowledged. */
int lt_bench_publish(const char *sock_path, const char *dataset, long n);

#endif

/* fuzz_common.h: what the fuzz targets and the seed corpus generator
 * share: the fixed authority seed whose public key the directory fuzzer
 * pins, the fixed clock it opens directories at, the reading of an input
 * as a script of field values, and the writing of seed inputs
 * (FUZZ_WRITE_SEEDS=DIR). */
#ifndef LT_FUZZ_COMMON_H
#define LT_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Ed25519 seed 0x00, 0x01, ..., 0x1f: test-only, never a real authority. */
static inline void fuzz_authority_seed(uint8_t seed[32])
{
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
}

/* 2023-11-14T22:13:20Z; seed directories are valid around this instant. */
#define FUZZ_NOW ((int64_t)1700000000)
#define FUZZ_ENVELOPE_CAP ((size_t)1 << 20)

/* An input read as a script of field values: past its end every byte
 * reads 0, so that every script is complete. */
typedef struct {
    const uint8_t *p;
    size_t n, at;
} fuzz_rd_t;

static inline uint8_t fuzz_rd_u8(fuzz_rd_t *r)
{
    return r->at < r->n ? r->p[r->at++] : 0;
}

/* Writes the seed input dir/name of len bytes; says so on stderr when it
 * cannot (the run goes on). */
static inline void fuzz_write_seed(const char *dir, const char *name, const void *buf, size_t len)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0)
        fprintf(stderr, "fuzz: cannot write seed %s\n", path);
}

#endif

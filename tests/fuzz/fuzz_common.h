/* fuzz_common.h: constants shared by the fuzz targets and the seed corpus
 * generator: the fixed authority seed whose public key the directory
 * fuzzer pins, and the fixed clock it opens directories at. */
#ifndef LT_FUZZ_COMMON_H
#define LT_FUZZ_COMMON_H

#include <stdint.h>

/* Ed25519 seed 0x00, 0x01, ..., 0x1f: test-only, never a real authority. */
static inline void fuzz_authority_seed(uint8_t seed[32])
{
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
}

/* 2023-11-14T22:13:20Z; seed directories are valid around this instant. */
#define FUZZ_NOW ((int64_t)1700000000)
#define FUZZ_ENVELOPE_CAP ((size_t)1 << 20)

#endif

/* fuzz_common.h: what the fuzz targets and the seed corpus generator
 * share: the fixed authority seed whose public key the directory fuzzer
 * pins, the fixed clock it opens directories at, member keys made from
 * fixed bytes so that runs (and seeds signed with them) are reproducible,
 * the temporary files of the targets that keep a store, the reading of an
 * input as a script of field values, and the writing of seed inputs
 * (FUZZ_WRITE_SEEDS=DIR). */
#ifndef LT_FUZZ_COMMON_H
#define LT_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* nftw's flags and mkstemp: before any system header */
#endif

#include "lt_keys.h"
#include "lt_store.h"

#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Ed25519 seed 0x00, 0x01, ..., 0x1f: test-only, never a real authority. */
static inline void fuzz_authority_seed(uint8_t seed[32])
{
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;
}

/* 2023-11-14T22:13:20Z; seed directories are valid around this instant. */
#define FUZZ_NOW          ((int64_t)1700000000)
#define FUZZ_ENVELOPE_CAP ((size_t)1 << 20)

/* A member (or authority) key from fixed bytes: the signing seed base,
 * base + 1, ...; a member's transport secret base, base + step, ... (an
 * authority's zeros). Written to a private file in dir (mode 0600, as
 * lt_keys_load wants) and loaded; NULL on failure. */
static inline lt_keys_t *fuzz_fixed_keys(const char *dir, uint8_t kind, uint8_t base, uint8_t step)
{
    uint8_t file[73];
    memcpy(file, "LTKEY1\0\0", 8);
    file[8] = kind;
    for (int i = 0; i < 32; i++) {
        file[9 + i] = kind == LT_KEYS_MEMBER ? (uint8_t)(base + step * i) : 0;
        file[41 + i] = (uint8_t)(base + i);
    }
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/fuzz-key-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        return NULL;
    int ok = fchmod(fd, 0600) == 0 && write(fd, file, sizeof file) == (ssize_t)sizeof file;
    ok &= close(fd) == 0;
    lt_keys_t *k = ok ? lt_keys_load(path, err, sizeof err) : NULL;
    if (ok && !k)
        fprintf(stderr, "fuzz: %s\n", err);
    unlink(path);
    return k;
}

static inline int fuzz_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Makes a private temporary directory name-XXXXXX into out, on /dev/shm
 * when it is writable (the stores of the targets then never touch a disk),
 * else in /tmp; aborts on failure. */
static inline void fuzz_tmpdir(char *out, size_t len, const char *name)
{
    const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(out, len, "%s/%s-XXXXXX", base, name);
    if (!mkdtemp(out))
        abort();
}

/* Sends the temporary directories made through TMPDIR (the unit suites'
 * ut_mkdtemp, which tests/unit/unit_gw.h uses) to /dev/shm when it is
 * writable, as fuzz_tmpdir does. */
static inline void fuzz_tmp_on_shm(void)
{
    if (access("/dev/shm", W_OK) == 0)
        setenv("TMPDIR", "/dev/shm", 1);
}

/* Removes dir and everything in it (a target's temporary directory). */
static inline void fuzz_rmtree(const char *dir)
{
    if (dir[0])
        (void)nftw(dir, fuzz_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* A new, empty store at dir/store.db (whatever was there removed); aborts
 * when it cannot be opened. */
static inline lt_store_t *fuzz_store_fresh(const char *dir, const char *target)
{
    char path[512], err[512];
    snprintf(path, sizeof path, "%s/store.db", dir);
    static const char *const suffix[] = {"", "-wal", "-shm", "-journal"};
    for (int i = 0; i < 4; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s%s", path, suffix[i]);
        (void)unlink(p);
    }
    lt_store_t *store = lt_store_open(path, err, sizeof err);
    if (!store) {
        fprintf(stderr, "%s: %s\n", target, err);
        abort();
    }
    return store;
}

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

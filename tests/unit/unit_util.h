/* unit_util.h: small helpers shared by the CUnit suites in tests/unit:
 * temporary directories, file writing, hex decoding and a common main(). */
#ifndef LT_UNIT_UTIL_H
#define LT_UNIT_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include "../cu_failures.h"
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *name;
    void (*fn)(void);
} ut_test_t;

/* Creates a fresh directory under $TMPDIR (or /tmp); returns 0 or -1. */
static inline int ut_mkdtemp(char *out, size_t cap, const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !base[0])
        base = "/tmp";
    int n = snprintf(out, cap, "%s/lt-%s-XXXXXX", base, tag);
    if (n < 0 || (size_t)n >= cap)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

static inline int ut_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Removes a directory tree; returns 0 or -1. */
static inline int ut_rmrf(const char *path)
{
    return nftw(path, ut_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes exactly len bytes to path with mode (umask bypassed by fchmod). */
static inline int ut_write_file(const char *path, const void *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    int rc = fchmod(fd, mode);
    if (rc == 0 && len > 0 && write(fd, data, len) != (ssize_t)len)
        rc = -1;
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

static inline int ut_write_text(const char *path, const char *text)
{
    return ut_write_file(path, text, strlen(text), 0644);
}

/* Decodes exactly 2*n hex digits into out; returns 0 or -1. */
static inline int ut_unhex(const char *hex, uint8_t *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

/* 1 if err starts with "path:line:" exactly. */
static inline int ut_has_loc(const char *err, const char *path, int line)
{
    char want[4200];
    snprintf(want, sizeof want, "%s:%d:", path, line);
    return strncmp(err, want, strlen(want)) == 0;
}

/* Starts a capture of stderr into the file path (emptied first): returns
 * a dup of the original stderr, for ut_captured, which the caller closes. */
static inline int ut_capture(const char *path)
{
    fflush(stderr);
    int saved = dup(2), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0 && dup2(fd, 2) == 2);
    close(fd);
    return saved;
}

/* Ends a capture of stderr into the file path: restores stderr from saved
 * (a dup of the original) and reads what was captured into out[cap]. */
static inline void ut_captured(int saved, const char *path, char *out, size_t cap)
{
    fflush(stderr);
    CU_ASSERT_FATAL(dup2(saved, 2) == 2);
    FILE *f = fopen(path, "r");
    CU_ASSERT_FATAL(f != NULL);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* Lines of s that contain needle (every line when needle is NULL): what
 * a capture of the log holds. */
static inline int ut_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *l = s; *l;) {
        const char *end = strchr(l, '\n');
        size_t len = end ? (size_t)(end - l) : strlen(l);
        char line[2048];
        snprintf(line, sizeof line, "%.*s", (int)len, l);
        n += !needle || strstr(line, needle) != NULL;
        l += len + (end != NULL);
    }
    return n;
}

/* Registers one suite, runs it verbosely and returns the process status:
 * non-zero on any failure or CUnit error, or when no test ran. */
static inline int ut_main(const char *suite, CU_InitializeFunc init, CU_CleanupFunc clean,
                          const ut_test_t *tests)
{
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    CU_pSuite s = CU_add_suite(suite, init, clean);
    if (!s) {
        CU_cleanup_registry();
        return 2;
    }
    /* LT_UT_ONLY=TEXT runs only the tests whose name holds TEXT: for a
     * developer after one case (each must stand alone), never set by CTest. */
    const char *only = getenv("LT_UT_ONLY");
    for (const ut_test_t *t = tests; t->name; t++)
        if ((!only || strstr(t->name, only)) && !CU_add_test(s, t->name, t->fn)) {
            CU_cleanup_registry();
            return 2;
        }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_ErrorCode rc = CU_basic_run_tests();
    lt_cu_print_failures();
    unsigned failures = CU_get_number_of_failures();
    unsigned records = CU_get_number_of_failure_records();
    unsigned run = CU_get_number_of_tests_run();
    unsigned suites_failed = CU_get_number_of_suites_failed();
    CU_cleanup_registry();
    if (rc != CUE_SUCCESS || failures > 0 || records > 0 || suites_failed > 0 || run == 0)
        return 1;
    return 0;
}

#endif

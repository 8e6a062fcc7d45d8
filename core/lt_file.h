/* lt_file: small, careful file helpers shared by every module:
 * bounded whole-file reads and atomic, durable writes with a given mode. */
#ifndef LT_FILE_H
#define LT_FILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lt_err.h"

/* Reads at most `cap` bytes of `path` into a malloc'd buffer (NUL-terminated
 * for convenience). Returns 0, or -1 with errno set (EFBIG when over cap). */
int lt_file_read(const char *path, size_t cap, uint8_t **data, size_t *size) LT_NODISCARD;

/* Writes all size bytes of data to fd, again after a short write or a
 * signal. Returns 0, or -1 with errno set. */
int lt_file_write_all(int fd, const void *data, size_t size) LT_NODISCARD;

/* Writes `size` bytes to `path` atomically: temp file with `mode`, fsync,
 * rename, fsync of the directory. Returns 0 or -1 with errno set. */
int lt_file_write_atomic(const char *path, const void *data, size_t size, mode_t mode) LT_NODISCARD;

/* fsyncs the directory that holds path (dirname(3): "." for a bare name),
 * so that a rename, creation or unlink in it survives a crash. Returns 0,
 * or -1 with errno set; the caller names the directory in its error. */
int lt_file_sync_dir(const char *path) LT_NODISCARD;

/* Resolves `name` relative to the directory of `base_file` unless absolute.
 * Writes into out[cap]; returns 0, or -1 if it does not fit. */
int lt_file_resolve(const char *base_file, const char *name, char *out, size_t cap);

/* Creates a directory (and its parents) with `mode` if missing. */
int lt_file_mkdirs(const char *path, mode_t mode);

/* Explains why this process cannot have `want` access (R_OK, W_OK, X_OK,
 * or-ed) to path: the owner and mode of the path, or of the directory in
 * the way, and the user this process runs as. Writes "" when access(2)
 * allows it. For error messages that say what to do. */
void lt_file_explain(const char *path, int want, char *out, size_t cap);

/* The user name this process runs as ("uid N" when it has none). */
void lt_file_whoami(char *out, size_t cap);

/* Whether a directory the program creates itself with `mode` is usable:
 * it exists owned by this user (then its mode is reset) or can be created.
 * Returns 0, or -1 with what is wrong and what to do in err. */
int lt_file_dir_usable(const char *path, mode_t mode, char *err, size_t errlen);

/* Refuses a directory that its group or others may read, write or enter
 * (a data directory holds records and secrets). Returns 0, or -1 with
 * the mode found and the command that fixes it in err. */
int lt_file_dir_private(const char *path, char *err, size_t errlen) LT_NODISCARD;

/* Creates path empty with mode 0600 if it is missing, and sets an existing
 * file (owned by this user) to 0600: for files that hold records. Returns 0,
 * or -1 with errno set. */
int lt_file_private(const char *path) LT_NODISCARD;

/* Takes an exclusive flock on path (created 0600 when missing) without
 * waiting. Returns the descriptor, which holds the lock until closed (also
 * by the kernel when the process dies, so no stale lock survives a kill),
 * or -1 with errno: EWOULDBLOCK when another process holds it. */
int lt_file_lock(const char *path) LT_NODISCARD;

/* Raises the soft limit of open descriptors (RLIMIT_NOFILE) to the hard
 * one: a server's descriptors are its connections. Returns the soft limit
 * in force and sets *hard and *before (the soft limit found); when it
 * cannot read or raise it, why says so (else it is empty). */
uint64_t lt_file_raise_nofile(uint64_t *hard, uint64_t *before, char *why, size_t len);

/* Test hook of builds made with -DLT_TEST_HOOKS=ON (scripts/lib.sh; never
 * the package nor a build by hand), a no-op otherwise: with the environment
 * variable env set to F, creates F.paused, then waits (10 s at most) until
 * F exists, so that an integration test can change files at that point of
 * a command. */
void lt_file_test_pause(const char *env);

#endif

/* lt_itest: helpers for integration tests that run real `lienthong gateway`
 * processes on 127.0.0.1.
 *
 * A test builds a federation in a fresh temporary directory: an authority
 * key, members with key files (0600) and free ports, a directory source that
 * is compiled and signed with the library, one config per gateway. Gateways
 * are child processes whose stdout and stderr go to a log file in the
 * temporary directory; readiness is a StatusRequest answered on the local
 * ipc socket. A "test peer" is a CURVE DEALER holding a member's keys that
 * sends raw frames or envelopes and waits for replies with a poll timeout.
 *
 * Every wait is bounded. Every child is registered so that a failing test
 * (or the process exiting) SIGKILLs it, and children also die with the test
 * process (PR_SET_PDEATHSIG). The binary comes from lt_it_set_binary(), or
 * the LIENTHONG_BIN environment variable. */
#ifndef LT_ITEST_H
#define LT_ITEST_H

#include <CUnit/CUnit.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lt_keys.h"
#include "lt_wire.h"

#define LT_IT_MAX_MEMBERS  128
#define LT_IT_MAX_GATEWAYS 128
#define LT_IT_ID_MAX       128

/* Fails the current CUnit test and jumps to the test's `out:` label, where
 * it cleans up; unlike CU_ASSERT_FATAL this never skips the cleanup. */
#define LT_IT_REQUIRE(cond)                                                                        \
    do {                                                                                           \
        if (!CU_assertImplementation((cond) ? CU_TRUE : CU_FALSE, __LINE__, #cond, __FILE__, "",   \
                                     CU_FALSE))                                                    \
            goto out;                                                                              \
    } while (0)

/* One member of the test federation. */
typedef struct {
    char id[LT_IT_ID_MAX];
    char slug[16];   /* short name for files: "m0", "m1", ... */
    char status[16]; /* "active", "suspended", "revoked" or "absent" (not listed) */
    lt_keys_t *keys;
    lt_keys_t *next;         /* listed as next keys when set (key rotation, 5.5) */
    char key_path[PATH_MAX]; /* secret key file, mode 0600 */
    int port;                /* 0: no endpoint listed */
    char endpoint[64];       /* "tcp://127.0.0.1:PORT" or "" */
    char endpoint2[64];      /* listed after endpoint when set: a second endpoint (5.4) */
} lt_it_member_t;

typedef struct lt_it_fed lt_it_fed_t;

/* One gateway process and its files. */
typedef struct {
    lt_it_fed_t *fed;
    lt_it_member_t *member;
    char conf_path[PATH_MAX];
    char dir_path[PATH_MAX]; /* the signed directory its config points to */
    char data_dir[PATH_MAX];
    char sock_path[PATH_MAX]; /* local ipc socket */
    char log_path[PATH_MAX];  /* stdout and stderr of every run, appended */
    pid_t pid;                /* 0 when not running */
    int wstatus;              /* wait status of the last run that ended */
    long nofile;              /* RLIMIT_NOFILE (soft and hard) of its runs; 0 inherits ours */
    char netns[64];           /* network namespace (`ip netns` name) of its runs; "" ours */
} lt_it_gw_t;

struct lt_it_fed {
    char dir[PATH_MAX]; /* temporary directory, removed by cleanup */
    char federation[32];
    lt_keys_t *authority;
    char authority_z85[LT_Z85_KEY_LEN + 1];
    lt_it_member_t members[LT_IT_MAX_MEMBERS];
    size_t n_members;
    lt_it_gw_t gateways[LT_IT_MAX_GATEWAYS];
    size_t n_gateways;
    const char *extra_source; /* appended to the directory source (datasets...) */
};

/* ---- process-wide ------------------------------------------------------- */

void lt_it_set_binary(const char *path);
/* The lienthong binary, or NULL when neither set nor in LIENTHONG_BIN. */
const char *lt_it_binary(void);
/* The ZeroMQ context shared by test peers (created on first use). */
void *lt_it_ctx(void);
/* SIGKILLs every registered child still running and removes every temporary
 * directory still registered; safe to call from a CUnit teardown. */
void lt_it_cleanup_all(void);
/* cleanup_all, then terminates the shared context. */
void lt_it_shutdown(void);
/* Monotonic milliseconds. */
int64_t lt_it_ms(void);
/* A TCP port on 127.0.0.1 that accepted a test bind just now, and that no
 * other test program running beside this one is given. */
int lt_it_free_port(void);

/* ---- federation --------------------------------------------------------- */

/* Creates the temporary directory and the authority key. 0 or -1. */
int lt_it_fed_init(lt_it_fed_t *f, const char *federation);
/* Stops (SIGKILL) its gateways, frees keys, removes the directory. */
void lt_it_fed_cleanup(lt_it_fed_t *f);
/* Adds a member with fresh keys saved under the temp dir; with_endpoint
 * allocates a free port. NULL on failure. */
lt_it_member_t *lt_it_member_add(lt_it_fed_t *f, const char *id, int with_endpoint);
/* Writes the directory source for the current members to path. */
int lt_it_dir_source(const lt_it_fed_t *f, uint64_t version, const char *path);
/* Compiles and signs the current members as `version` into out_path.
 * authority NULL means the federation's; issued_at/expires_at 0 mean now and
 * the default validity. */
int lt_it_dir_sign(const lt_it_fed_t *f, uint64_t version, int64_t issued_at, int64_t expires_at,
                   const lt_keys_t *authority, const char *out_path);
/* Signed bytes of the same, in a malloc'd buffer. */
int lt_it_dir_bytes(const lt_it_fed_t *f, uint64_t version, int64_t issued_at, int64_t expires_at,
                    const lt_keys_t *authority, uint8_t **out, size_t *out_len);

/* ---- gateways ----------------------------------------------------------- */

/* Writes the config (and signs `version` of the directory as its directory
 * file) for member m. peers: NULL-terminated member ids or NULL. extra:
 * more config lines or NULL. */
lt_it_gw_t *lt_it_gw_new(lt_it_fed_t *f, lt_it_member_t *m, uint64_t version,
                         const char *const *peers, const char *extra);
/* The usual pair: a federation f named federation with an owner and a
 * caller (both with endpoints; the caller greets the owner), source
 * appended to the directory, and the config of each gateway (not started).
 * 0 or -1. */
int lt_it_owner_caller(lt_it_fed_t *f, const char *federation, const char *owner_id,
                       const char *caller_id, const char *source, lt_it_gw_t **owner,
                       lt_it_gw_t **caller);
/* Spawns `lienthong gateway --config` with output appended to the log. */
int lt_it_gw_start(lt_it_gw_t *g);
/* Waits until the local socket answers StatusRequest; -1 when the process
 * exited first or the time ran out. */
int lt_it_gw_wait_ready(lt_it_gw_t *g, int timeout_ms);
/* start + wait_ready. */
int lt_it_gw_run(lt_it_gw_t *g, int timeout_ms);
/* Waits for the process to exit; returns its wait status in *status. 0 when
 * it exited within the time, -1 otherwise. */
int lt_it_gw_wait_exit(lt_it_gw_t *g, int timeout_ms, int *status);
/* SIGTERM and wait: returns the exit code (0..255), -1 on timeout (then
 * SIGKILLed) or -2 when killed by a signal. */
int lt_it_gw_stop(lt_it_gw_t *g, int timeout_ms);
void lt_it_gw_kill(lt_it_gw_t *g);
/* 1 if the process is still running. */
int lt_it_gw_alive(lt_it_gw_t *g);
int lt_it_gw_signal(lt_it_gw_t *g, int sig);
/* Atomically replaces the directory file the config points to. */
int lt_it_gw_put_directory(lt_it_gw_t *g, const uint8_t *bytes, size_t len);
/* Server public key of the gateway's member. */
const uint8_t *lt_it_gw_key(const lt_it_gw_t *g);

/* Runs sql (one or more statements) on the SQLite database at db_path, as
 * an agency's own application would; 0, or -1 with the error on stderr. */
int lt_it_sql(const char *db_path, const char *sql);
/* The first column of the first row of query sql on the SQLite database
 * at db_path, opened read-only, as an integer; -1 when there is none. */
int64_t lt_it_sql_int(const char *db_path, const char *sql);

/* Moves the calling thread into the network namespace NAME (`ip netns`
 * name, /run/netns/NAME), as a gateway with netns set runs. 0 or -1. */
int lt_it_netns_enter(const char *name);

/* The next message on a local client socket within timeout_ms, decoded
 * (free with lt_wire_free); NULL on timeout or when it does not decode. */
Lienthong__Envelope *lt_it_recv_env(void *sock, int timeout_ms);
/* Asks the local socket for status; returns the StatusReply envelope (free
 * with lt_wire_free) or NULL. */
Lienthong__Envelope *lt_it_gw_status(lt_it_gw_t *g, int timeout_ms);
/* Sends body on the local socket; the reply, whatever it is, or NULL. */
Lienthong__Envelope *lt_it_gw_local(lt_it_gw_t *g, Lienthong__Envelope__BodyCase body_case,
                                    const void *body, int timeout_ms);
/* Asks the local socket for the metrics (PROTOCOL.md 8.6); returns the
 * Prometheus text (free it) or NULL. */
char *lt_it_gw_metrics(lt_it_gw_t *g, int timeout_ms);
/* The value of the sample line `series value` (series: name with its
 * labels exactly as exposed, e.g. name_total{op="lookup"}) in text; -1 when
 * there is no such line. */
double lt_it_metric(const char *text, const char *series);
/* Polls the metrics until series is at least n or timeout_ms passed; the
 * last value read (-1: no such line, or no answer). */
double lt_it_gw_metric_wait(lt_it_gw_t *g, const char *series, double n, int timeout_ms);
/* 1 when every line of text is a comment (#) or `name{labels} value`. */
int lt_it_metrics_parse(const char *text);
/* The metric families of text (its "# TYPE name" lines) that the file at
 * doc_path does not name as a table row "| `name` |", written to missing
 * separated by spaces; their count, or -1 when the file cannot be read. */
int lt_it_metrics_undocumented(const char *text, const char *doc_path, char *missing, size_t cap);
/* The metric families of text whose "# HELP" text (unescaped) is not the
 * last cell of their row in doc_path, the description the reference says
 * each carries: their names written to differ separated by spaces, and
 * their count, or -1 when the file cannot be read. Families without a row
 * are lt_it_metrics_undocumented's. */
int lt_it_metrics_help_differs(const char *text, const char *doc_path, char *differ, size_t cap);
/* Polls status until `member` is in peers_connected. 0 or -1. */
int lt_it_gw_wait_peer(lt_it_gw_t *g, const char *member, int timeout_ms);
/* Polls status until directory_version == version. 0 or -1. */
int lt_it_gw_wait_version(lt_it_gw_t *g, uint64_t version, int timeout_ms);
/* directory_version from one status call, 0 when no answer. */
uint64_t lt_it_gw_version(lt_it_gw_t *g);

/* ---- other processes of the binary (adapters, imports) ------------------- */

#define LT_IT_PROC_ARGS 15

/* A background `lienthong ARGS...` whose stdout and stderr are appended to
 * log_path; registered like a gateway (killed by cleanup, dies with us). */
typedef struct {
    char log_path[PATH_MAX];
    const char *args[LT_IT_PROC_ARGS + 1]; /* NULL-terminated, kept by the caller */
    pid_t pid;                             /* 0 when not running */
    int wstatus;                           /* wait status of the last run that ended */
} lt_it_proc_t;

int lt_it_proc_start(lt_it_proc_t *p);
/* 1 while running (reaps it once it has exited). */
int lt_it_proc_alive(lt_it_proc_t *p);
int lt_it_proc_wait_exit(lt_it_proc_t *p, int timeout_ms, int *status);
void lt_it_proc_kill(lt_it_proc_t *p);
/* SIGTERM and wait: the exit code, -1 on timeout (then SIGKILLed), -2 when
 * killed by a signal. */
int lt_it_proc_stop(lt_it_proc_t *p, int timeout_ms);

/* ---- logs --------------------------------------------------------------- */

/* Current size of the log: later waits look only after this mark. */
long lt_it_log_mark(const lt_it_gw_t *g);
/* 1 if a line after mark contains a and (when non-NULL) b, 0 otherwise. */
int lt_it_log_has(const lt_it_gw_t *g, long mark, const char *a, const char *b);
/* Polls lt_it_log_has until it holds; 0 or -1 after timeout. */
int lt_it_log_wait(const lt_it_gw_t *g, long mark, const char *a, const char *b, int timeout_ms);
/* Copies the log (tail) to stderr, for diagnosis of a failed test. */
void lt_it_log_dump(const lt_it_gw_t *g);
/* The same for any file: the lines after byte `mark` that contain a and
 * (when non-NULL) b; the tail of the file to stderr. */
int lt_it_file_count(const char *path, long mark, const char *a, const char *b);
void lt_it_file_dump(const char *path);

/* ---- test peers ----------------------------------------------------------- */

typedef struct {
    void *sock;
    const lt_it_member_t *member;
} lt_it_peer_t;

/* CURVE DEALER with member's keys to endpoint, expecting server_key. */
int lt_it_peer_open(lt_it_peer_t *p, const lt_it_member_t *member, const uint8_t *server_key,
                    const char *endpoint);
/* Same with a gateway's key and endpoint. */
int lt_it_peer_open_gw(lt_it_peer_t *p, const lt_it_member_t *member, const lt_it_gw_t *g);
void lt_it_peer_close(lt_it_peer_t *p);
/* Sends n frames, waiting up to timeout_ms for the connection to be ready
 * (ZMQ_IMMEDIATE). 0, or -1 when it never became writable. */
int lt_it_peer_send_frames(lt_it_peer_t *p, const void *const *data, const size_t *len, int n,
                           int timeout_ms);
int lt_it_peer_send_raw(lt_it_peer_t *p, const void *data, size_t len, int timeout_ms);
int lt_it_peer_send_env(lt_it_peer_t *p, const Lienthong__Envelope *env, int timeout_ms);
/* Receives one decoded envelope within timeout_ms, or NULL. */
Lienthong__Envelope *lt_it_peer_recv(lt_it_peer_t *p, int timeout_ms);
/* Receives until an envelope whose body case is in `mask` (a set of
 * LT_IT_BODY bits) arrives, dropping others, or the time runs out. */
#define LT_IT_BODY(c) (1ull << (unsigned)(c))
Lienthong__Envelope *lt_it_peer_expect_any(lt_it_peer_t *p, uint64_t mask, int timeout_ms);
Lienthong__Envelope *lt_it_peer_expect(lt_it_peer_t *p, Lienthong__Envelope__BodyCase want,
                                       int timeout_ms);
/* Sends Hello claiming dir_version and waits for the reply: a Hello or an
 * Error envelope, or NULL when none came. */
Lienthong__Envelope *lt_it_peer_hello(lt_it_peer_t *p, uint64_t dir_version, int timeout_ms);
/* Sends Hello until a Hello reply comes (the connection may be re-forming),
 * each attempt waiting attempt_ms. */
Lienthong__Envelope *lt_it_peer_hello_retry(lt_it_peer_t *p, uint64_t dir_version, int attempt_ms,
                                            int timeout_ms);
/* Sends DirectoryOffer with bytes and waits for an Error or Hello reply
 * (a DirectoryOffer the gateway sends on adoption is skipped). */
Lienthong__Envelope *lt_it_peer_offer(lt_it_peer_t *p, const uint8_t *bytes, size_t len,
                                      int timeout_ms);
/* Envelope bytes of a Hello (for corrupting), malloc'd. */
uint8_t *lt_it_hello_bytes(const char *member, uint32_t proto_version, uint64_t dir_version,
                           size_t *len);

/* ---- lookup answers (PROTOCOL.md 7.5) ----------------------------------------- */

/* 1 when field is listed in the answer's `released`. */
int lt_it_released(const Lienthong__LookupAnswer *a, const char *field);
/* 1 when field is listed in `withheld` with exactly reason (else says why
 * on stderr). */
int lt_it_reason_is(const Lienthong__LookupAnswer *a, const char *field, const char *reason);

/* ---- the runner ----------------------------------------------------------- */

typedef struct {
    const char *name;
    CU_TestFunc fn;
} lt_it_test_t;

typedef struct {
    const char *name;
    CU_InitializeFunc init;    /* may be NULL */
    CU_CleanupFunc clean;      /* may be NULL */
    CU_SetUpFunc setup;        /* before each test, may be NULL */
    CU_TearDownFunc teardown;  /* after each test; NULL means lt_it_cleanup_all */
    const lt_it_test_t *tests; /* ends with {NULL, NULL} */
} lt_it_suite_t;

/* The main() of an integration test program: takes the binary from argv[1]
 * or LIENTHONG_BIN, runs the suite verbosely, shuts the helpers down. Exit 0
 * only when tests ran and none failed; 2 on a usage error. */
int lt_it_main(int argc, char **argv, const lt_it_suite_t *suite);

/* ---- files and commands --------------------------------------------------- */

/* Runs the binary with args (NULL-terminated, without argv[0]) in dir cwd,
 * stdout+stderr to out_path. Returns the exit code, or -1. */
int lt_it_run_cli(const char *cwd, const char *out_path, const char *const *args, int timeout_ms);
/* The same with another program of the build, e.g. lt_it_popgen_binary(). */
int lt_it_run_prog(const char *bin, const char *cwd, const char *out_path, const char *const *args,
                   int timeout_ms);
/* The demo-data generator built beside the binary under test. */
const char *lt_it_popgen_binary(void);
/* 1 if the file contains s. */
int lt_it_file_contains(const char *path, const char *s);
/* A token for HTTP API application `app` from `lienthong api token`, run
 * in dir (its output kept in dir/token-APP.txt): the token and the hash of
 * its configuration line. 0, or -1. */
int lt_it_api_token(const char *dir, const char *app, char token[65], char hash[65]);
/* Permission bits of path, or -1. */
int lt_it_mode(const char *path);
/* Mounts a 4 MiB tmpfs on dir (made 0700 when absent), so that a test can
 * fill the disk of a gateway's data directory; needs root. 0, or -1 said
 * on stderr. lt_it_unmount detaches it again. */
int lt_it_mount_small(const char *dir);
void lt_it_unmount(const char *dir);
/* Fills the file system of dir with a file, whose path goes to path: 0
 * once a write failed with ENOSPC, else -1. Removing it makes room again. */
int lt_it_fill_disk(const char *dir, char *path, size_t len);
int lt_it_write_file(const char *path, const char *text);
/* The same with printf formatting (up to 8 KiB of text). */
int lt_it_write_fmt(const char *path, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif

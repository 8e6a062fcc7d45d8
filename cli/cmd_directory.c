/* cmd_directory: `lienthong directory sign | show | verify`. */
#include "lt_cli.h"
#include "lt_clock.h"
#include "lt_dir.h"
#include "lt_dirshow.h"
#include "lt_file.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *USAGE =
    "lienthong directory sign --authority KEYFILE --in SOURCE --out SIGNED\n"
    "                         [--version N] [--issued-at UNIX] [--expires-at UNIX]\n"
    "                         [--short-validity]\n"
    "       lienthong directory show [--authority-key Z85]... SIGNED\n"
    "       lienthong directory verify --authority-key Z85 [--authority-key Z85]... SIGNED";

static int s_help(void)
{
    printf("usage: %s\n\n"
           "sign    compile a directory source file (libconfig syntax) and sign it\n"
           "show    print a signed directory; verified when authority keys are given,\n"
           "        else its contents checked (exit 1 when they are not valid)\n"
           "verify  check signature, expiry and contents; exit 0 only when valid\n",
           USAGE);
    return 0;
}

/* --issued-at and --expires-at: unix seconds 1..INT64_MAX, as the
 * directory keeps them (an int64). 0, which lt_dir_compile reads as "not
 * given", is refused rather than taken silently for now or valid_days.
 * Returns 0, or 2 with the value quoted. */
static int s_time_opt(const char *opt, const char *s, int64_t *out)
{
    const char *omitted =
        strcmp(opt, "--issued-at") == 0 ? "the current time" : "the issue time plus valid_days";
    if (strcmp(s, "0") == 0)
        return lt_cli_fail(2, "directory sign",
                           "%s: got '0', which is not a time: leave the option out for %s", opt,
                           omitted);
    return lt_cli_i64_opt("directory sign", opt, s, 1, INT64_MAX, "unix seconds", out);
}

/* --expires-at, like valid_days, at most LT_DIR_MAX_VALID_DAYS after the
 * issue time (--issued-at, or now): lt_dir_validate refuses more, and a
 * value past the calendar would print as nothing readable (PROTOCOL.md
 * 5.3, A.3). Returns 0, or 2 with the value quoted. */
static int s_check_expires_at(int64_t issued, int64_t expires)
{
    char ts[LT_CLOCK_UTC_LEN];
    int64_t from = issued ? issued : (int64_t)time(NULL);
    if (expires <= from || (uint64_t)expires - (uint64_t)from <= LT_DIR_MAX_VALID_DAYS * 86400ull)
        return 0;
    return lt_cli_fail(2, "directory sign",
                       "--expires-at %" PRId64 " is more than %d days after the issue time %s: "
                       "a directory is valid for %d days at most, as with valid_days",
                       expires, LT_DIR_MAX_VALID_DAYS, lt_clock_utc(from, ts, sizeof ts),
                       LT_DIR_MAX_VALID_DAYS);
}

/* The shortest validity signed without --short-validity: a directory that
 * expires within the hour stops every gateway that adopts it soon after
 * (PROTOCOL.md 5.3 step 6), before a renewed one could follow. */
#define SIGN_MIN_VALID_S 3600

/* Writes the time left, s > 0 seconds, as "D d H h", "H h M min", "M min S s"
 * or "S s"; returns out. */
static const char *s_left(int64_t s, char *out, size_t len)
{
    if (s >= 86400)
        snprintf(out, len, "%" PRId64 " d %" PRId64 " h", s / 86400, s % 86400 / 3600);
    else if (s >= 3600)
        snprintf(out, len, "%" PRId64 " h %" PRId64 " min", s / 3600, s % 3600 / 60);
    else if (s >= 60)
        snprintf(out, len, "%" PRId64 " min %" PRId64 " s", s / 60, s % 60);
    else
        snprintf(out, len, "%" PRId64 " s", s);
    return out;
}

/* A directory that expires before it could reach any gateway would only
 * take the federation down on adoption: refused (PROTOCOL.md 5.3 step 6),
 * as is one valid for less than SIGN_MIN_VALID_S unless short_ok (tests).
 * Returns 0, or 1 with the reason printed. */
static int s_check_expiry(const uint8_t *dir, size_t len, int short_ok)
{
    Lienthong__Directory *d = lienthong__directory__unpack(NULL, len, dir);
    if (!d)
        return lt_cli_fail(1, "directory sign", "compiled directory does not decode");
    int64_t now = (int64_t)time(NULL);
    int rc = 0;
    char ex[40], left[48];
    lt_dirshow_time(d->expires_at, ex, sizeof ex);
    if (d->expires_at <= now)
        rc = lt_cli_fail(1, "directory sign",
                         "refusing to sign: the directory expires at %s, which is in the past; "
                         "give a later --expires-at (unix seconds) or valid_days",
                         ex);
    else if (d->expires_at - now < SIGN_MIN_VALID_S && !short_ok)
        rc = lt_cli_fail(1, "directory sign",
                         "refusing to sign: the directory expires at %s, in %s: every gateway "
                         "that adopts it stops serving then; give a later --expires-at (unix "
                         "seconds) or valid_days, or --short-validity to sign it anyway",
                         ex, s_left(d->expires_at - now, left, sizeof left));
    else if (d->expires_at - now < LT_DIR_WARN_DAYS_FAR * 86400)
        fprintf(stderr,
                "lienthong directory sign: warning: the directory expires at %s, in %s "
                "(less than %d days)\n",
                ex, s_left(d->expires_at - now, left, sizeof left), LT_DIR_WARN_DAYS_FAR);
    lienthong__directory__free_unpacked(d, NULL);
    return rc;
}

/* What `directory sign` was asked. */
typedef struct {
    const char *auth, *in, *out;
    int64_t version, issued, expires; /* 0: the source's, or valid_days */
    int short_ok;
} sign_args_t;

/* Reads the options of `directory sign` into a. Returns -1 when the
 * command goes on, else its exit code (the help shown, or 2 with the
 * offending option named). */
static int s_sign_args(int argc, char **argv, sign_args_t *a)
{
    static const struct option opts[] = {
        {"authority", required_argument, 0, 'a'},
        {"in", required_argument, 0, 'i'},
        {"out", required_argument, 0, 'o'},
        {"version", required_argument, 0, 'v'},
        {"issued-at", required_argument, 0, 's'},
        {"expires-at", required_argument, 0, 'e'},
        {"short-validity", no_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    *a = (sign_args_t){0};
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":", opts)) != -1) {
        if (c == 'h')
            return s_help();
        if (c == 'a')
            a->auth = optarg;
        else if (c == 'i')
            a->in = optarg;
        else if (c == 'o')
            a->out = optarg;
        else if (c == 'S')
            a->short_ok = 1;
        else if (c == 'v' && lt_cli_i64_opt("directory sign", "--version", optarg, 1, INT64_MAX,
                                            "a whole number", &a->version) != 0)
            /* The source's version setting takes 1..INT64_MAX (lt_dir); 0
             * here meant "the source's version", silently. */
            return 2;
        else if (c == 's' && s_time_opt("--issued-at", optarg, &a->issued) != 0)
            return 2;
        else if (c == 'e' && s_time_opt("--expires-at", optarg, &a->expires) != 0)
            return 2;
        else if (c != 'v' && c != 's' && c != 'e' && c != 'S')
            return lt_cli_bad_opt("directory sign", c, opts, argv, USAGE);
    }
    if (optind < argc)
        return lt_cli_bad_arg("directory sign", argv[optind], USAGE);
    if (lt_cli_need("directory sign", USAGE, "--authority", a->auth != NULL, "--in", a->in != NULL,
                    "--out", a->out != NULL, NULL) != -1)
        return 2;
    if (a->expires && s_check_expires_at(a->issued, a->expires) != 0)
        return 2;
    return -1;
}

/* The line that says what was signed into out, from the compiled
 * directory dir. */
static void s_sign_report(const uint8_t *dir, size_t dir_len, const char *out)
{
    Lienthong__Directory *d = lienthong__directory__unpack(NULL, dir_len, dir);
    if (!d)
        return;
    printf("signed directory version %" PRIu64 " of federation %s: %zu members, %zu datasets, "
           "%zu views, %zu policies -> %s\n",
           d->version, d->federation, d->n_members, d->n_datasets, d->n_views, d->n_policies, out);
    lienthong__directory__free_unpacked(d, NULL);
}

static int s_sign(int argc, char **argv)
{
    sign_args_t a;
    int rc = s_sign_args(argc, argv, &a);
    if (rc != -1)
        return rc;
    char err[1024];
    uint8_t *dir = NULL, *signed_bytes = NULL;
    size_t dir_len = 0, signed_len = 0;
    rc = 1;
    lt_keys_t *k = lt_keys_load(a.auth, err, sizeof err);
    if (!k) {
        lt_cli_fail(1, "directory sign", "%s", err);
        goto out;
    }
    if (lt_keys_kind(k) != LT_KEYS_AUTHORITY) {
        lt_cli_fail(1, "directory sign", "%s is a member key, not an authority key", a.auth);
        goto out;
    }
    /* version is 0 (the source's) or 1..INT64_MAX: the cast keeps it. */
    uint64_t v = (uint64_t)a.version;
    if (lt_dir_compile(a.in, v, a.issued, a.expires, &dir, &dir_len, err, sizeof err) != 0) {
        lt_cli_fail(1, "directory sign", "%s", err);
        goto out;
    }
    if (s_check_expiry(dir, dir_len, a.short_ok) != 0)
        goto out;
    if (lt_dir_sign(dir, dir_len, k, &signed_bytes, &signed_len) != 0 ||
        lt_file_write_atomic(a.out, signed_bytes, signed_len, 0644) != 0) {
        lt_cli_fail(1, "directory sign", "cannot sign or write %s: %s", a.out, strerror(errno));
        goto out;
    }
    s_sign_report(dir, dir_len, a.out);
    rc = 0;
out:
    free(dir);
    free(signed_bytes);
    lt_keys_destroy(&k);
    return rc;
}

/* Prints d to stdout; 0, or 1 when stdout cannot be written. */
static int s_print(const char *cmd, const Lienthong__Directory *d, const char *checked)
{
    if (lt_dirshow_print(stdout, d, checked) == 0)
        return 0;
    return lt_cli_fail(1, cmd, "cannot write the directory: %s", strerror(errno));
}

/* show without authority keys: the file is printed whatever it holds, then
 * checked as far as it can be without a key. A directory every gateway
 * would refuse exits 1 after the warning (man lienthong-directory(1), EXIT
 * STATUS), so that a script does not take "shown" for "sound". */
static int s_show_unverified(const char *cmd, const char *path)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    if (lt_file_read(path, LT_DIR_MAX_BYTES, &buf, &len) != 0)
        return lt_cli_fail(1, cmd, "%s: cannot read: %s", path, strerror(errno));
    Lienthong__SignedDirectory *sd = lienthong__signed_directory__unpack(NULL, len, buf);
    Lienthong__Directory *d =
        sd ? lienthong__directory__unpack(NULL, sd->directory.len, sd->directory.data) : NULL;
    int rc = 1;
    char why[512];
    if (!d) {
        lt_cli_fail(1, cmd, "%s: not a signed directory", path);
        goto out;
    }
    if (s_print(cmd, d, "NOT VERIFIED: no authority key given") != 0)
        goto out;
    if (lt_dirshow_check(sd->directory.data, sd->directory.len, d, why, sizeof why) != 0) {
        lt_cli_fail(1, cmd, "%s: warning: the directory is not valid: %s", path, why);
        goto out;
    }
    rc = 0;
out:
    if (d)
        lienthong__directory__free_unpacked(d, NULL);
    if (sd)
        lienthong__signed_directory__free_unpacked(sd, NULL);
    free(buf);
    return rc;
}

/* show and verify share option parsing: repeated --authority-key, one file. */
static int s_show(int argc, char **argv, int must_verify)
{
    const char *cmd = must_verify ? "directory verify" : "directory show";
    static const struct option opts[] = {
        {"authority-key", required_argument, 0, 'k'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    lt_dir_pins_t pins = {.count = 0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":", opts)) != -1) {
        if (c == 'h')
            return s_help();
        if (c != 'k')
            return lt_cli_bad_opt(cmd, c, opts, argv, USAGE);
        if (lt_dir_pins_add(&pins, optarg) != 0)
            return lt_cli_fail(2, cmd, "'%s' is not a 40-character Z85 key", optarg);
    }
    if (optind != argc - 1)
        return lt_cli_fail(2, cmd, "expected one signed directory file\nusage: %s", USAGE);
    if (lt_cli_no_empty_args(cmd, "signed directory file", argc, argv, optind, USAGE))
        return 2;
    if (must_verify && pins.count == 0)
        return lt_cli_fail(2, cmd, "needs at least one --authority-key");
    char err[1024];
    const char *path = argv[optind];
    if (pins.count > 0) {
        lt_dir_t *dir = lt_dir_load(path, &pins, NULL, (int64_t)time(NULL), err, sizeof err);
        if (!dir)
            return lt_cli_fail(1, cmd, "%s", err);
        int rc = 0;
        if (must_verify)
            printf("%s: valid, version %" PRIu64 "\n", path, lt_dir_version(dir));
        else
            rc = s_print(cmd, lt_dir_get(dir), "signature verified");
        lt_dir_destroy(&dir);
        return rc;
    }
    return s_show_unverified(cmd, path);
}

int lt_cmd_directory(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0)
        return argc < 2 ? lt_cli_fail(2, "directory", "usage: %s", USAGE) : s_help();
    if (strcmp(argv[1], "sign") == 0)
        return s_sign(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return s_show(argc - 1, argv + 1, 0);
    if (strcmp(argv[1], "verify") == 0)
        return s_show(argc - 1, argv + 1, 1);
    return lt_cli_bad_word("directory", "action", argv[1], "'sign', 'show' or 'verify'", USAGE);
}

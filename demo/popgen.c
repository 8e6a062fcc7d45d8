/* lienthong-popgen: demo data for the demonstration federation, the tests
 * and the benchmarks: a deterministic Vietnamese population in an agency's
 * SQLite database, rounds of changes to it, and a mobile operator's
 * subscribers. Not part of the product: it is neither linked into the
 * libraries nor installed. */
#include "lt_popgen.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE_POPGEN =
    "lienthong-popgen --db FILE (--citizens N | --changes N | --subscribers N --population FILE)"
    " [--seed S]";

/* Prints "lienthong-popgen: " and the message to stderr; returns code. */
static int __attribute__((format(printf, 3, 4))) s_fail(int code, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    (void)cmd;
    fprintf(stderr, "lienthong-popgen: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

static int s_bad_arg(const char *cmd, const char *arg, const char *usage)
{
    (void)cmd;
    fprintf(stderr, "lienthong-popgen: unexpected argument '%s'\nusage: %s\n", arg, usage);
    return 2;
}

/* Strict whole number: digits only, no sign, no trailing text. */
static int s_number(const char *cmd, const char *opt, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    if (!(text[0] >= '0' && text[0] <= '9') || errno || *end)
        return s_fail(2, cmd, "%s expects a whole number, got '%s'", opt, text);
    *out = v;
    return 0;
}

typedef struct {
    const char *db, *population;
    uint64_t citizens, changes, subscribers, seed;
    int modes;
} s_popgen_args_t;

static int s_popgen_args(int argc, char **argv, s_popgen_args_t *a)
{
    static const struct option opts[] = {
        {"db", required_argument, 0, 'd'},          {"citizens", required_argument, 0, 'n'},
        {"changes", required_argument, 0, 'x'},     {"subscribers", required_argument, 0, 's'},
        {"population", required_argument, 0, 'p'},  {"seed", required_argument, 0, 'S'},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int bad = 0;
        if (c == 'd')
            a->db = optarg;
        else if (c == 'p')
            a->population = optarg;
        else if (c == 'n')
            bad = s_number(argv[0], "--citizens", optarg, &a->citizens), a->modes |= 1;
        else if (c == 'x')
            bad = s_number(argv[0], "--changes", optarg, &a->changes), a->modes |= 2;
        else if (c == 's')
            bad = s_number(argv[0], "--subscribers", optarg, &a->subscribers), a->modes |= 4;
        else if (c == 'S')
            bad = s_number(argv[0], "--seed", optarg, &a->seed);
        else if (c == 'h') {
            printf("usage: %s\n", USAGE_POPGEN);
            return 0;
        } else
            return s_bad_arg(argv[0], argv[optind - 1], USAGE_POPGEN);
        if (bad)
            return 2;
    }
    if (optind < argc)
        return s_bad_arg(argv[0], argv[optind], USAGE_POPGEN);
    if (!a->db)
        return s_fail(2, argv[0], "missing --db FILE\nusage: %s", USAGE_POPGEN);
    if (a->modes != 1 && a->modes != 2 && a->modes != 4)
        return s_fail(2, argv[0], "give exactly one of --citizens, --changes, --subscribers"
                           "\nusage: %s", USAGE_POPGEN);
    if ((a->modes == 4) != (a->population != NULL))
        return s_fail(2, argv[0], "--population FILE goes with --subscribers (and only "
                           "with it)\nusage: %s", USAGE_POPGEN);
    return -1; /* go on */
}

int main(int argc, char **argv)
{
    s_popgen_args_t a = {.seed = 1};
    int rc = s_popgen_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    char err[1024];
    if (a.modes == 1) {
        if (lt_popgen_citizens(a.db, a.citizens, a.seed, err, sizeof err) != 0)
            return s_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " citizens added to %s (seed %" PRIu64 ")\n", a.citizens, a.db,
               a.seed);
    } else if (a.modes == 2) {
        lt_popgen_changes_t d;
        if (lt_popgen_changes(a.db, a.changes, a.seed, &d, err, sizeof err) != 0)
            return s_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " changes to citizens in %s: %" PRIu64 " moves (%" PRIu64
               " into 38, %" PRIu64 " out of 38), %" PRIu64 " deaths, %" PRIu64
               " name corrections, %" PRIu64 " birth-date corrections\n",
               a.changes, a.db, d.moves, d.moves_into_38, d.moves_out_of_38, d.deaths,
               d.name_fixes, d.birth_fixes);
    } else {
        lt_popgen_subs_t d;
        if (lt_popgen_subscribers(a.db, a.population, a.subscribers, a.seed, &d, err,
                                  sizeof err) != 0)
            return s_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " subscribers added to %s: %" PRIu64 " with a wrong owner name, "
               "%" PRIu64 " with a wrong owner birth date\n",
               d.subscribers, a.db, d.name_mismatches, d.birth_mismatches);
    }
    return 0;
}

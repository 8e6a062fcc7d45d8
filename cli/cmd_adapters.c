/* cmd_adapters: `lienthong source`, `lienthong sink` (the adapters between
 * an agency's database and its gateway) and `lienthong popgen` (demo data). */
#include "lt_cli.h"
#include "lt_popgen.h"
#include "lt_sink.h"
#include "lt_source.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE_SOURCE = "lienthong source --config FILE [--install] [--once]";
static const char *USAGE_SINK = "lienthong sink --config FILE [--once-through SEQ]";
static const char *USAGE_POPGEN =
    "lienthong popgen --db FILE (--citizens N | --changes N | --subscribers N --population FILE)"
    " [--seed S]";

/* Strict whole number: digits only, no sign, no trailing text. */
static int s_number(const char *cmd, const char *opt, const char *text, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = text[0] >= '0' && text[0] <= '9' ? strtoull(text, &end, 10) : 0;
    if (!(text[0] >= '0' && text[0] <= '9') || errno || *end)
        return lt_cli_fail(2, cmd, "%s expects a whole number, got '%s'", opt, text);
    *out = v;
    return 0;
}

int lt_cmd_source(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"install", no_argument, 0, 'i'},
                                         {"once", no_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *config = NULL;
    int install = 0, once = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 'i')
            install = 1;
        else if (c == 'o')
            once = 1;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE_SOURCE);
            return 0;
        } else
            return lt_cli_bad_arg(argv[0], argv[optind - 1], USAGE_SOURCE);
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], USAGE_SOURCE);
    if (!config)
        return lt_cli_fail(2, argv[0], "missing --config FILE\nusage: %s", USAGE_SOURCE);
    char err[1024];
    lt_source_t *src = lt_source_new(config, err, sizeof err);
    if (!src)
        return lt_cli_fail(2, "source", "%s", err);
    int rc = 0;
    if (install && lt_source_install(src, err, sizeof err) != 0)
        rc = lt_cli_fail(1, "source", "%s", err);
    if (rc == 0)
        rc = lt_source_run(src, once);
    lt_source_destroy(&src);
    return rc;
}

int lt_cmd_sink(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"once-through", required_argument, 0, 't'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *config = NULL;
    int once = 0, c;
    uint64_t through = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 't') {
            if (s_number(argv[0], "--once-through", optarg, &through))
                return 2;
            once = 1;
        } else if (c == 'h') {
            printf("usage: %s\n", USAGE_SINK);
            return 0;
        } else
            return lt_cli_bad_arg(argv[0], argv[optind - 1], USAGE_SINK);
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], USAGE_SINK);
    if (!config)
        return lt_cli_fail(2, argv[0], "missing --config FILE\nusage: %s", USAGE_SINK);
    char err[1024];
    lt_sink_t *sink = lt_sink_new(config, err, sizeof err);
    if (!sink)
        return lt_cli_fail(2, "sink", "%s", err);
    int rc = lt_sink_run(sink, once, through);
    lt_sink_destroy(&sink);
    return rc;
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
            return lt_cli_bad_arg(argv[0], argv[optind - 1], USAGE_POPGEN);
        if (bad)
            return 2;
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], USAGE_POPGEN);
    if (!a->db)
        return lt_cli_fail(2, argv[0], "missing --db FILE\nusage: %s", USAGE_POPGEN);
    if (a->modes != 1 && a->modes != 2 && a->modes != 4)
        return lt_cli_fail(2, argv[0], "give exactly one of --citizens, --changes, --subscribers"
                           "\nusage: %s", USAGE_POPGEN);
    if ((a->modes == 4) != (a->population != NULL))
        return lt_cli_fail(2, argv[0], "--population FILE goes with --subscribers (and only "
                           "with it)\nusage: %s", USAGE_POPGEN);
    return -1; /* go on */
}

int lt_cmd_popgen(int argc, char **argv)
{
    s_popgen_args_t a = {.seed = 1};
    int rc = s_popgen_args(argc, argv, &a);
    if (rc >= 0)
        return rc;
    char err[1024];
    if (a.modes == 1) {
        if (lt_popgen_citizens(a.db, a.citizens, a.seed, err, sizeof err) != 0)
            return lt_cli_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " citizens added to %s (seed %" PRIu64 ")\n", a.citizens, a.db,
               a.seed);
    } else if (a.modes == 2) {
        lt_popgen_changes_t d;
        if (lt_popgen_changes(a.db, a.changes, a.seed, &d, err, sizeof err) != 0)
            return lt_cli_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " changes to citizens in %s: %" PRIu64 " moves (%" PRIu64
               " into 38, %" PRIu64 " out of 38), %" PRIu64 " deaths, %" PRIu64
               " name corrections, %" PRIu64 " birth-date corrections\n",
               a.changes, a.db, d.moves, d.moves_into_38, d.moves_out_of_38, d.deaths,
               d.name_fixes, d.birth_fixes);
    } else {
        lt_popgen_subs_t d;
        if (lt_popgen_subscribers(a.db, a.population, a.subscribers, a.seed, &d, err,
                                  sizeof err) != 0)
            return lt_cli_fail(1, "popgen", "%s", err);
        printf("popgen: %" PRIu64 " subscribers added to %s: %" PRIu64 " with a wrong owner name, "
               "%" PRIu64 " with a wrong owner birth date\n",
               d.subscribers, a.db, d.name_mismatches, d.birth_mismatches);
    }
    return 0;
}

/* cmd_adapters: `lienthong source` and `lienthong sink`, the adapters between
 * an agency's database and its gateway. */
#include "lt_cli.h"
#include "lt_sink.h"
#include "lt_source.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE_SOURCE = "lienthong source --config FILE [--install | --print-install] "
                                  "[--resync] [--once] [--check] [--forget DATASET] "
                                  "[--reconcile [--dry-run | --force]]";
static const char *USAGE_SINK = "lienthong sink --config FILE [--once-through SEQ] [--check]";

/* What `lienthong source` was asked for. */
typedef struct {
    const char *config, *forget;
    int install, print, resync, once, check, reconcile, dry, force;
} source_args_t;

static const struct option s_source_opts[] = {
    {"config", required_argument, 0, 'c'},  {"install", no_argument, 0, 'i'},
    {"print-install", no_argument, 0, 'p'}, {"resync", no_argument, 0, 'r'},
    {"once", no_argument, 0, 'o'},          {"check", no_argument, 0, 'k'},
    {"forget", required_argument, 0, 'f'},  {"reconcile", no_argument, 0, 'R'},
    {"dry-run", no_argument, 0, 'n'},       {"force", no_argument, 0, 'F'},
    {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};

/* Reads the options into a: -1 when they are read, else the exit status
 * (0 after --help, 2 for a bad option or a stray argument). */
static int s_source_opts_read(int argc, char **argv, source_args_t *a)
{
    int c;
    *a = (source_args_t){0};
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":c:h", s_source_opts)) != -1) {
        if (c == 'c')
            a->config = optarg;
        else if (c == 'i')
            a->install = 1;
        else if (c == 'p')
            a->print = 1;
        else if (c == 'r')
            a->resync = 1;
        else if (c == 'o')
            a->once = 1;
        else if (c == 'k')
            a->check = 1;
        else if (c == 'f')
            a->forget = optarg;
        else if (c == 'R')
            a->reconcile = 1;
        else if (c == 'n')
            a->dry = 1;
        else if (c == 'F')
            a->force = 1;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE_SOURCE);
            return 0;
        } else
            return lt_cli_bad_opt(argv[0], c, s_source_opts, argv, USAGE_SOURCE);
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], USAGE_SOURCE);
    return -1;
}

/* The action asked for, on an adapter made from the configuration.
 * --print-install only prints: the DBA reviews and runs the script. */
static int s_source_act(const source_args_t *a, lt_source_t *src)
{
    char err[2048];
    lt_reconcile_mode_t mode = a->dry     ? LT_RECONCILE_DRY
                               : a->force ? LT_RECONCILE_FORCE
                                          : LT_RECONCILE_CHECKED;
    lt_source_set_resync(src, a->resync);
    if (a->forget)
        return lt_source_forget(src, a->forget, stdout, err, sizeof err) != 0
                   ? lt_cli_fail(1, "source", "%s", err)
                   : 0;
    if (a->reconcile)
        return lt_source_reconcile(src, mode, stdout, err, sizeof err) != 0
                   ? lt_cli_fail(1, "source", "%s", err)
                   : 0;
    if (a->print && lt_source_print_install(src, stdout, err, sizeof err) != 0)
        return lt_cli_fail(1, "source", "%s", err);
    if (a->install && lt_source_install(src, err, sizeof err) != 0)
        return lt_cli_fail(1, "source", "%s", err);
    if (!a->print)
        return lt_source_run(src, a->once);
    return 0;
}

int lt_cmd_source(int argc, char **argv)
{
    source_args_t a;
    int rc = s_source_opts_read(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (!a.config)
        return lt_cli_fail(2, argv[0], "missing --config FILE\nusage: %s", USAGE_SOURCE);
    /* Before --check returns: a --force or --dry-run it would ignore is
     * refused as anywhere else. */
    if ((a.dry || a.force) && !a.reconcile)
        return lt_cli_fail(2, argv[0], "--dry-run and --force go with --reconcile");
    if (a.dry && a.force)
        return lt_cli_fail(2, argv[0], "--dry-run and --force exclude each other");
    if (a.check)
        return lt_source_check(a.config, stdout);
    if (a.install + a.print + !!a.forget + a.reconcile > 1)
        return lt_cli_fail(
            2, argv[0], "--install, --print-install, --forget and --reconcile exclude each other");
    char err[2048];
    lt_source_t *src = lt_source_new(a.config, err, sizeof err);
    if (!src)
        return lt_cli_fail(2, "source", "%s", err);
    rc = s_source_act(&a, src);
    lt_source_destroy(&src);
    return rc;
}

int lt_cmd_sink(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"once-through", required_argument, 0, 't'},
                                         {"check", no_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *config = NULL;
    int once = 0, check = 0, c;
    int64_t through = 0;
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":c:h", opts)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 't') {
            /* The cursor is kept as an int64 in the database: a larger
             * SEQ is never reached, and the sink would never end. */
            if (lt_cli_i64_opt(argv[0], "--once-through", optarg, 0, INT64_MAX, "a sequence number",
                               &through))
                return 2;
            once = 1;
        } else if (c == 'k') {
            check = 1;
        } else if (c == 'h') {
            printf("usage: %s\n", USAGE_SINK);
            return 0;
        } else
            return lt_cli_bad_opt(argv[0], c, opts, argv, USAGE_SINK);
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], USAGE_SINK);
    if (!config)
        return lt_cli_fail(2, argv[0], "missing --config FILE\nusage: %s", USAGE_SINK);
    if (check)
        return lt_sink_check(config, stdout);
    char err[1024];
    lt_sink_t *sink = lt_sink_new(config, err, sizeof err);
    if (!sink)
        return lt_cli_fail(2, "sink", "%s", err);
    int rc = lt_sink_run(sink, once, (uint64_t)through);
    lt_sink_destroy(&sink);
    return rc;
}

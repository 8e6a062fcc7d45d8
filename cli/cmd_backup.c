/* cmd_backup: `lienthong backup` and `lienthong restore` of a gateway's
 * store and audit log (lt_backup), and `lienthong resync`, which asks the
 * running gateway to resynchronise a forked replica (PROTOCOL.md 6.9). */
#include "lt_backup.h"
#include "lt_cli.h"
#include "lt_client.h"
#include "lt_gwcfg.h"
#include "lt_wire.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char *USAGE_BACKUP = "lienthong backup --config FILE --to FILE";
static const char *USAGE_RESTORE = "lienthong restore --config FILE --from FILE";
static const char *USAGE_RESYNC = "lienthong resync --config FILE STREAM";

/* Parses --config FILE and, when path_opt is not NULL, --PATH_OPT FILE;
 * with stream not NULL, one STREAM argument. Returns -1 to go on, or the
 * exit code. */
static int s_args(int argc, char **argv, const char *usage, const char *path_opt,
                  const char **config, const char **path, const char **stream)
{
    const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                  {path_opt ? path_opt : "config", required_argument, 0, 'p'},
                                  {"help", no_argument, 0, 'h'},
                                  {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":c:h", opts)) != -1) {
        if (c == 'c')
            *config = optarg;
        else if (c == 'p' && path_opt)
            *path = optarg;
        else if (c == 'h') {
            printf("usage: %s\n", usage);
            return 0;
        } else
            return lt_cli_bad_opt(argv[0], c, opts, argv, usage);
    }
    if (stream && optind < argc)
        *stream = argv[optind++];
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], usage);
    if (!*config)
        return lt_cli_fail(2, argv[0], "missing --config FILE\nusage: %s", usage);
    if (path_opt && !*path)
        return lt_cli_fail(2, argv[0], "missing --%s FILE\nusage: %s", path_opt, usage);
    if (stream && !*stream)
        return lt_cli_fail(2, argv[0], "missing STREAM\nusage: %s", usage);
    if (stream && !(*stream)[0]) /* as no file argument is "" (lt_cli_no_empty_args) */
        return lt_cli_fail(2, argv[0], "expected a STREAM, got ''\nusage: %s", usage);
    return -1;
}

/* backup and restore share everything but the direction. */
static int s_copy_cmd(int argc, char **argv, const char *usage, const char *path_opt, int restore)
{
    const char *config = NULL, *path = NULL;
    int rc = s_args(argc, argv, usage, path_opt, &config, &path, NULL);
    if (rc >= 0)
        return rc;
    static lt_gwcfg_t cfg; /* large: keep it off the stack */
    char err[2048];
    if (lt_gwcfg_load(config, &cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, argv[0], "%s", err);
    rc = restore ? lt_restore_run(&cfg, path, stdout, err, sizeof err)
                 : lt_backup_run(&cfg, path, stdout, err, sizeof err);
    /* A store restored without the rest is not a failure that left things
     * unchanged: a status of its own (lienthong-restore(1)). */
    if (restore && rc == LT_RESTORE_PARTIAL)
        return lt_cli_fail(3, argv[0], "%s", err);
    if (rc != 0)
        return lt_cli_fail(1, argv[0], "%s", err);
    if (restore)
        printf("start the gateway: its source adapters publish again what the backup lacks, "
               "and consumers past it resynchronise\n");
    return 0;
}

int lt_cmd_backup(int argc, char **argv)
{
    return s_copy_cmd(argc, argv, USAGE_BACKUP, "to", 0);
}

int lt_cmd_restore(int argc, char **argv)
{
    return s_copy_cmd(argc, argv, USAGE_RESTORE, "from", 1);
}

int lt_cmd_resync(int argc, char **argv)
{
    const char *config = NULL, *stream = NULL;
    int rc = s_args(argc, argv, USAGE_RESYNC, NULL, &config, NULL, &stream);
    if (rc >= 0)
        return rc;
    static lt_gwcfg_t cfg;
    char err[2048];
    if (lt_gwcfg_load(config, &cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, "resync", "%s", err);
    lt_client_t *c = lt_client_new(cfg.local_socket, NULL, err, sizeof err);
    Lienthong__Resync req = LIENTHONG__RESYNC__INIT;
    req.stream = (char *)stream;
    Lienthong__Envelope *rep = NULL;
    rc = 1;
    if (!c ||
        lt_client_send(c, LIENTHONG__ENVELOPE__BODY_RESYNC, &req, 3000, err, sizeof err) != 0 ||
        lt_client_recv(c, 3000, &rep, err, sizeof err) != 0)
        lt_cli_fail(1, "resync", "%s", err);
    else if (rep->body_case == LIENTHONG__ENVELOPE__BODY_RESYNC) {
        printf("%s: resynchronising from its owner; 'lienthong status' shows the progress\n",
               stream);
        rc = 0;
    } else if (rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        lt_cli_fail(1, "resync", "the gateway answered %s: %s",
                    lt_wire_error_name(rep->error->code), rep->error->message);
    else
        lt_cli_fail(1, "resync", "unexpected %s from the gateway",
                    lt_wire_body_name(rep->body_case));
    lt_wire_free(&rep);
    lt_client_destroy(&c);
    return rc;
}

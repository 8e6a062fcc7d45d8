/* cmd_store: `lienthong store verify` checks that a gateway's store proves
 * its content (docs/ARCHITECTURE.md 4.2): every record against its
 * checksum, and every range a replica holds against the owner's signed
 * batch headers and the hash chain. It names each damaged range, and the
 * batches proven under a key the directory no longer lists (not damage);
 * exit 0 when no range is damaged, 1 when one is, 2 on an error. */
#include "lt_dir.h"
#include "lt_dirpick.h"
#include "lt_gwcfg.h"
#include "lt_store.h"
#include "lt_store_verify.h"
#include "lt_cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *USAGE = "lienthong store verify --config FILE [--data-dir DIR]";

/* Prints one range found; counts those signed with a retired key. */
static void s_report(void *arg, const char *stream, lt_store_finding_t kind, uint64_t first,
                     uint64_t last, const char *why)
{
    int *retired = arg;
    if (kind == LT_STORE_KEY_RETIRED)
        (*retired)++;
    printf("%s: %s records %llu..%llu: %s\n",
           kind == LT_STORE_KEY_RETIRED ? "key retired" : "damaged", stream,
           (unsigned long long)first, (unsigned long long)last, why);
}

typedef struct {
    int streams;
    unsigned long long records;
} count_t;

static int s_count(void *arg, const char *name, const lt_stream_t *st)
{
    (void)name;
    count_t *c = arg;
    c->streams++;
    c->records += st->last_seq;
    return 0;
}

static int s_verify(const lt_gwcfg_t *cfg, const char *data_dir)
{
    char path[PATH_MAX + 32], err[1024] = "";
    snprintf(path, sizeof path, "%s/store.db", data_dir);
    if (access(path, F_OK) != 0)
        return lt_cli_fail(2, "store", "%s: no store there", path);
    /* The directory the gateway would run with on data_dir (lt_dirpick):
     * after an authority rotation the newest is signed by a key the
     * configuration does not pin, and an expired one is still the newest
     * list of the owners' signing keys. */
    lt_dir_t *dir = lt_dirpick_data_dir(cfg->directory_file, data_dir, &cfg->pins, cfg->federation,
                                        err, sizeof err);
    if (!dir)
        return lt_cli_fail(2, "store", "cannot verify signatures without a directory: %s", err);
    lt_store_t *store = lt_store_open_existing(path, err, sizeof err);
    int rc = 2;
    count_t c = {0, 0};
    lt_dirpick_retired_t retired_dirs = {.count = 0};
    if (!store) {
        lt_cli_fail(2, "store", "%s", err);
        goto out;
    }
    /* The owners' keys before a rotation, from the directories the
     * gateway adopted that listed them (PROTOCOL.md 6.10). */
    lt_dirpick_retired_open(&retired_dirs, data_dir, &cfg->pins, cfg->federation);
    int retired = 0;
    int found = lt_store_verify_all(store, dir, retired_dirs.dirs, retired_dirs.count, s_report,
                                    &retired, err, sizeof err);
    if (found < 0 || lt_store_streams(store, s_count, &c) != 0) {
        lt_cli_fail(2, "store", "%s: %s", path, err[0] ? err : lt_store_error(store));
        goto out;
    }
    if (found > 0)
        printf("store %s: %d damaged range%s in %d streams; a replica fetches them again from "
               "the owner when it runs\n",
               path, found, found == 1 ? "" : "s", c.streams);
    else
        printf("store %s intact: %d streams, %llu records, checksums and signed batches "
               "verified\n",
               path, c.streams, c.records);
    /* Not damage: proven under the owner's key a retired directory lists. */
    if (retired > 0)
        printf("%d range%s signed with a key the directory no longer lists, verified under a "
               "directory adopted before\n",
               retired, retired == 1 ? "" : "s");
    rc = found > 0 ? 1 : 0;
out:
    lt_dirpick_retired_clear(&retired_dirs);
    lt_store_destroy(&store);
    lt_dir_destroy(&dir);
    return rc;
}

int lt_cmd_store(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", 1, 0, 'c'}, {"data-dir", 1, 0, 'd'}, {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    const char *config = NULL, *data_dir = NULL;
    int c;
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        printf("usage: %s\n", USAGE);
        return 0;
    }
    if (argc < 2 || strcmp(argv[1], "verify") != 0)
        return lt_cli_bad_word("store", "action", argc < 2 ? NULL : argv[1], "'verify'", USAGE);
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc - 1, argv + 1, ":", opts)) != -1) {
        if (c == 'c')
            config = optarg;
        else if (c == 'd')
            data_dir = optarg;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE);
            return 0;
        } else
            return lt_cli_bad_opt("store", c, opts, argv + 1, USAGE);
    }
    if (optind + 1 < argc)
        return lt_cli_bad_arg("store", argv[optind + 1], USAGE);
    if (!config)
        return lt_cli_fail(2, "store", "missing --config FILE\nusage: %s", USAGE);
    static lt_gwcfg_t cfg;
    char err[1024];
    if (lt_gwcfg_load(config, &cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, "store", "%s", err);
    return s_verify(&cfg, data_dir ? data_dir : cfg.data_dir);
}

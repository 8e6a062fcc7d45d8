/* lt_keycmd: `lienthong keygen`, `authority-keygen` and `pubkey`. */
#include "lt_cli.h"
#include "lt_file.h"
#include "lt_keys.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *USAGE_KEYGEN = "lienthong keygen --out PREFIX [--member ID]";
static const char *USAGE_AUTH = "lienthong authority-keygen --out PREFIX";
static const char *USAGE_PUB = "lienthong pubkey KEYFILE";

static void s_print_public(FILE *f, const lt_keys_t *k, const char *member)
{
    char z[LT_Z85_KEY_LEN + 1];
    if (lt_keys_kind(k) == LT_KEYS_MEMBER) {
        fprintf(f, "# public keys of %s; paste into the directory source\n",
                member ? member : "this member");
        lt_keys_z85_encode(lt_keys_transport_public(k), z);
        fprintf(f, "transport_key = \"%s\";\n", z);
        lt_keys_z85_encode(lt_keys_signing_public(k), z);
        fprintf(f, "signing_key = \"%s\";\n", z);
    } else {
        lt_keys_z85_encode(lt_keys_signing_public(k), z);
        fprintf(f, "# authority public key; pin it in every gateway's authority_keys\n");
        fprintf(f, "authority_key = \"%s\";\n", z);
    }
}

/* Reports a file that cannot be written, with why and what to do. */
static int s_cannot_write(const char *cmd, const char *path)
{
    char dir[4096], why[4600], me[64];
    int e = errno;
    snprintf(dir, sizeof dir, "%s", path);
    lt_file_explain(dirname(dir), W_OK | X_OK, why, sizeof why);
    lt_file_whoami(me, sizeof me);
    snprintf(dir, sizeof dir, "%s", path);
    if (!why[0])
        return lt_cli_fail(1, cmd, "cannot write %s: %s", path, strerror(e));
    return lt_cli_fail(1, cmd, "cannot write %s: %s (%s); the directory must be writable by "
                       "the user that runs the gateway: install -d -o %s -m 0750 %s (the package "
                       "creates /etc/lienthong for the lienthong user)", path, strerror(e), why,
                       me, dirname(dir));
}

/* Writes PREFIX.key (0600) and PREFIX.pub, then prints the public keys. */
static int s_generate(const char *cmd, lt_keys_kind_t kind, const char *prefix,
                      const char *member)
{
    char path[4096];
    lt_keys_t *k = lt_keys_new(kind);
    if (!k)
        return lt_cli_fail(1, cmd, "cannot generate keys (libsodium unavailable?)");
    int rc = 0;
    snprintf(path, sizeof path, "%s.key", prefix);
    if (lt_keys_save(k, path) != 0) {
        rc = s_cannot_write(cmd, path);
        goto out;
    }
    snprintf(path, sizeof path, "%s.pub", prefix);
    FILE *f = fopen(path, "w");
    if (!f) {
        rc = s_cannot_write(cmd, path);
        goto out;
    }
    s_print_public(f, k, member);
    if (fclose(f) != 0) {
        rc = lt_cli_fail(1, cmd, "cannot write %s", path);
        goto out;
    }
    s_print_public(stdout, k, member);
    fprintf(stderr, "wrote %s.key (secret, mode 0600) and %s.pub\n", prefix, prefix);
out:
    lt_keys_destroy(&k);
    return rc;
}

static int s_keygen(int argc, char **argv, lt_keys_kind_t kind, const char *usage)
{
    static const struct option opts[] = {
        {"out", required_argument, 0, 'o'},
        {"member", required_argument, 0, 'm'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *out = NULL, *member = NULL;
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "o:m:h", opts, NULL)) != -1) {
        if (c == 'o')
            out = optarg;
        else if (c == 'm' && kind == LT_KEYS_MEMBER)
            member = optarg;
        else if (c == 'h') {
            printf("usage: %s\n", usage);
            return 0;
        } else
            return lt_cli_bad_arg(argv[0], argv[optind - 1], usage);
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], usage);
    if (!out)
        return lt_cli_fail(2, argv[0], "missing --out PREFIX\nusage: %s", usage);
    return s_generate(argv[0], kind, out, member);
}

int lt_cmd_keygen(int argc, char **argv)
{
    return s_keygen(argc, argv, LT_KEYS_MEMBER, USAGE_KEYGEN);
}

int lt_cmd_authority_keygen(int argc, char **argv)
{
    return s_keygen(argc, argv, LT_KEYS_AUTHORITY, USAGE_AUTH);
}

int lt_cmd_pubkey(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        printf("usage: %s\n", USAGE_PUB);
        return 0;
    }
    if (argc != 2)
        return lt_cli_fail(2, "pubkey", "expected one key file\nusage: %s", USAGE_PUB);
    char err[512];
    lt_keys_t *k = lt_keys_load(argv[1], err, sizeof err);
    if (!k)
        return lt_cli_fail(1, "pubkey", "%s", err);
    s_print_public(stdout, k, NULL);
    lt_keys_destroy(&k);
    return 0;
}

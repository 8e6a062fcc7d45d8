/* lienthong: the multi-call command-line program. `lienthong CMD --help`
 * describes each command. */
#include "lt_cli.h"
#include "lt_client.h"
#include "lt_log.h"
#include "lt_wire.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int (*run)(int, char **);
    const char *summary;
} command_t;

static const command_t s_commands[] = {
    {"keygen", lt_cmd_keygen, "generate a member's transport (X25519) and signing (Ed25519) keys"},
    {"authority-keygen", lt_cmd_authority_keygen, "generate a directory authority's signing key"},
    {"pubkey", lt_cmd_pubkey, "print the public keys of a secret key file"},
    {"keys", lt_cmd_keys, "promote a member's next keys (key rotation)"},
    {"directory", lt_cmd_directory, "sign, show or verify a federation directory"},
    {"gateway", lt_cmd_gateway, "run a member's gateway in the foreground"},
    {"status", lt_cmd_status, "show the state of the local gateway"},
    {"lookup", lt_cmd_lookup, "look up allowed fields of a record at its owner (signed answer)"},
    {"verify", lt_cmd_verify, "verify claims against records without seeing the data"},
    {"prefill", lt_cmd_prefill, "pre-fill a form for one citizen from this member's replicas"},
    {"profile", lt_cmd_profile,
     "look up one key in several owners' datasets at once (signed parts)"},
    {"audit", lt_cmd_audit,
     "who accessed a record and why; check, export and verify the audit chain"},
    {"store", lt_cmd_store, "verify that the store's records and signed batches are intact"},
    {"ping", lt_cmd_ping, "check that a gateway admits a member key (CURVE + Hello)"},
    {"source", lt_cmd_source, "publish the changes of agency tables to the local gateway"},
    {"sink", lt_cmd_sink, "write a stream from the local gateway into an agency table"},
    {"api", lt_cmd_api, "serve the HTTP/JSON API for agency applications"},
    {"import", lt_cmd_import, "publish a CSV export into a dataset (import csv)"},
    {"backup", lt_cmd_backup, "copy the gateway's store and audit log, consistent while it runs"},
    {"restore", lt_cmd_restore, "restore the store from a backup (gateway stopped; new histories)"},
    {"resync", lt_cmd_resync, "resynchronise a forked replica from its owner's current history"},
    {NULL, NULL, NULL},
};

int lt_cli_fail(int code, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "lienthong %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return code;
}

char *lt_cli_plain(const char *s)
{
    const char *v = s ? s : "";
    size_t len = strlen(v);
    if (len > (SIZE_MAX - 1) / 4)
        return NULL;
    size_t cap = len * 4 + 1; /* never cuts (lt_log.h) */
    char *out = malloc(cap);
    return out ? lt_log_escape(out, cap, v) : NULL;
}

int lt_cli_line(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *raw = len >= 0 ? malloc((size_t)len + 1) : NULL, *out = NULL;
    if (raw) {
        va_start(ap, fmt);
        vsnprintf(raw, (size_t)len + 1, fmt, ap);
        va_end(ap);
        out = lt_cli_plain(raw);
    }
    int rc = out && printf("%s\n", out) >= 0 ? 0 : -1;
    free(raw);
    free(out);
    return rc;
}

const char *lt_cli_jtext(const json_t *o, const char *name, const char *none)
{
    const char *v = json_string_value(json_object_get(o, name));
    return v ? v : none;
}

int lt_cli_int(const char *s, long min, long max, long *out)
{
    char *end;
    if (!s || !isdigit((unsigned char)s[0]))
        return -1;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int lt_cli_getopt(int argc, char **argv, const char *optstring, const struct option *opts)
{
    /* Reset: glibc clears optarg for an option without a value, but POSIX
     * does not say so. */
    optarg = NULL;
    int c = getopt_long(argc, argv, optstring, opts, NULL);
    if (c == -1 || c == ':' || c == '?' || !optarg || optarg[0])
        return c;
    optopt = c;
    return LT_CLI_OPT_EMPTY;
}

int lt_cli_bad_arg(const char *cmd, const char *arg, const char *usage)
{
    fprintf(stderr, "lienthong %s: unexpected argument '%s'\nusage: %s\n", cmd, arg, usage);
    return 2;
}

int lt_cli_no_empty_args(const char *cmd, const char *what, int argc, char **argv, int from,
                         const char *usage)
{
    for (int i = from; i < argc; i++)
        if (!argv[i][0])
            return lt_cli_fail(2, cmd, "the %s (argument %d) is empty, got ''\nusage: %s", what,
                               i - from + 1, usage);
    return 0;
}

int lt_cli_bad_word(const char *cmd, const char *what, const char *word, const char *expected,
                    const char *usage)
{
    if (!word)
        return lt_cli_fail(2, cmd, "missing the %s: expected %s\nusage: %s", what, expected, usage);
    return lt_cli_fail(2, cmd, "unknown %s '%s': expected %s\nusage: %s", what, word, expected,
                       usage);
}

const char *lt_cli_opt_name(const struct option *opts, int c)
{
    for (; c && opts->name; opts++)
        if (opts->val == c)
            return opts->name;
    return NULL;
}

int lt_cli_bad_opt(const char *cmd, int c, const struct option *opts, char **argv,
                   const char *usage)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "", *name = lt_cli_opt_name(opts, optopt);
    int is_long = strncmp(arg, "--", 2) == 0;
    if (c == LT_CLI_OPT_EMPTY && name)
        return lt_cli_fail(2, cmd, "--%s needs a value, got ''\nusage: %s", name, usage);
    if (c == LT_CLI_OPT_EMPTY)
        return lt_cli_fail(2, cmd, "-%c needs a value, got ''\nusage: %s", optopt, usage);
    if (c == ':' && name)
        return lt_cli_fail(2, cmd, "--%s needs a value\nusage: %s", name, usage);
    if (c == ':')
        return lt_cli_fail(2, cmd, "-%c needs a value\nusage: %s", optopt, usage);
    /* getopt_long gives '?' and sets optopt for "--flag=value" as well. */
    if (c == '?' && is_long && name && strchr(arg, '='))
        return lt_cli_fail(2, cmd, "--%s takes no value, got '%s'\nusage: %s", name, arg, usage);
    if (c == '?' && (is_long || !optopt))
        return lt_cli_fail(2, cmd, "unknown option '%s'\nusage: %s", arg, usage);
    if (c == '?')
        return lt_cli_fail(2, cmd, "unknown option '-%c'\nusage: %s", optopt, usage);
    name = lt_cli_opt_name(opts, c);
    return lt_cli_fail(2, cmd, "--%s does not go with `lienthong %s`\nusage: %s", name ? name : "?",
                       cmd, usage);
}

int lt_cli_int_opt(const char *cmd, const char *opt, const char *s, long min, long max,
                   const char *what, long *out)
{
    if (lt_cli_int(s, min, max, out) == 0)
        return 0;
    return lt_cli_fail(2, cmd, "%s: expected %s %ld..%ld, got '%s'", opt, what, min, max, s);
}

int lt_cli_i64_opt(const char *cmd, const char *opt, const char *s, int64_t min, int64_t max,
                   const char *what, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = s && isdigit((unsigned char)s[0]) ? strtoll(s, &end, 10) : -1;
    if (s && isdigit((unsigned char)s[0]) && !errno && !*end && v >= min && v <= max) {
        *out = (int64_t)v;
        return 0;
    }
    return lt_cli_fail(2, cmd, "%s: expected %s %" PRId64 "..%" PRId64 ", got '%s'", opt, what, min,
                       max, s ? s : "");
}

int lt_cli_need(const char *cmd, const char *usage, ...)
{
    char missing[256] = "";
    size_t len = 0;
    va_list ap;
    va_start(ap, usage);
    for (const char *opt = va_arg(ap, const char *); opt; opt = va_arg(ap, const char *))
        if (!va_arg(ap, int) && len < sizeof missing)
            len +=
                (size_t)snprintf(missing + len, sizeof missing - len, "%s%s", len ? ", " : "", opt);
    va_end(ap);
    return len ? lt_cli_fail(2, cmd, "missing %s\nusage: %s", missing, usage) : -1;
}

int lt_cli_ask(const char *cmd, const char *config, lt_gwcfg_t *cfg,
               Lienthong__Envelope__BodyCase body_case, void *body,
               Lienthong__Envelope__BodyCase reply_case, int timeout_ms, Lienthong__Envelope **rep)
{
    char err[1024];
    int rc = -1;
    *rep = NULL;
    if (lt_gwcfg_load(config, cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, cmd, "%s", err);
    lt_client_t *c = lt_client_new(cfg->local_socket, NULL, err, sizeof err);
    if (!c || lt_client_send(c, body_case, body, timeout_ms, err, sizeof err) != 0)
        rc = lt_cli_fail(2, cmd, "%s", err);
    /* The client is fresh: the first reply of that kind, or an Error, is
     * the answer to this request. */
    while (rc < 0 && !*rep) {
        if (lt_client_recv(c, timeout_ms, rep, err, sizeof err) != 0)
            rc = lt_cli_fail(2, cmd, "%s", err);
        else if ((*rep)->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
            rc = lt_cli_fail(2, cmd, "%s: %s", lt_wire_error_name((*rep)->error->code),
                             (*rep)->error->message);
        else if ((*rep)->body_case != reply_case)
            lt_wire_free(rep);
    }
    if (rc >= 0)
        lt_wire_free(rep);
    lt_client_destroy(&c);
    return rc;
}

static void s_usage(FILE *f)
{
    fprintf(f, "usage: lienthong COMMAND [ARGS]\n\n"
               "lienthong connects an agency to the federation: signed feeds, lookups and\n"
               "verifications between government agencies over CURVE-encrypted ZeroMQ.\n\n"
               "commands:\n");
    for (int i = 0; s_commands[i].name; i++)
        fprintf(f, "  %-18s %s\n", s_commands[i].name, s_commands[i].summary);
    fprintf(f, "\nrun 'lienthong COMMAND --help' for the options of a command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("lienthong %s\n", LT_VERSION);
        return 0;
    }
    for (int i = 0; s_commands[i].name; i++)
        if (strcmp(argv[1], s_commands[i].name) == 0)
            return s_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "lienthong: unknown command '%s'\n\n", argv[1]);
    s_usage(stderr);
    return 2;
}

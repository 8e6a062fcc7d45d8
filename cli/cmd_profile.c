/* cmd_profile: `lienthong profile`, one citizen's record in several owners'
 * datasets at once (PROTOCOL.md 7.7). The local gateway asks every owner in
 * parallel, checks each signed answer, and replies once with one part per
 * dataset and its outcome; this prints the parts with their fields decoded
 * (lt_profjson), as text or, with --json, as JSON. */
#include "lt_cli.h"
#include "lt_gwcfg.h"
#include "lt_limits.h"
#include "lt_profjson.h"
#include "lt_wire.h"

#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *USAGE =
    "lienthong profile --config FILE --key KEY --purpose CODE\n"
    "                  --dataset ID[:FIELD,FIELD...]... [--case REF] [--deadline MS] [--json]\n"
    "  each --dataset is one part; without fields, those the policy grants this member\n"
    "exit status: 0 every part released, 1 some part not (withheld, not found, timeout,\n"
    "             refused), 2 an error (usage, gateway, the request refused)";

typedef struct {
    const char *config, *key, *purpose, *case_ref;
    Lienthong__ProfilePart parts[LT_PROFILE_MAX_PARTS], *part_ptrs[LT_PROFILE_MAX_PARTS];
    char *fields[LT_PROFILE_MAX_PARTS][LT_QUERY_MAX_FIELDS];
    size_t n_parts;
    unsigned deadline;
    int json;
} args_t;

/* One --dataset ID[:FIELD,...] (edits arg in place); -1 when bad. */
static int s_part(args_t *a, char *arg)
{
    if (a->n_parts >= LT_PROFILE_MAX_PARTS)
        return -1;
    Lienthong__ProfilePart *p = &a->parts[a->n_parts];
    lienthong__profile_part__init(p);
    char *colon = strchr(arg, ':');
    if (colon)
        *colon = 0;
    if (!*arg)
        return -1;
    p->dataset = arg;
    p->fields = a->fields[a->n_parts];
    for (char *save = NULL, *f = colon ? strtok_r(colon + 1, ",", &save) : NULL; f;
         f = strtok_r(NULL, ",", &save)) {
        if (p->n_fields >= LT_QUERY_MAX_FIELDS)
            return -1;
        p->fields[p->n_fields++] = f;
    }
    if (colon && !p->n_fields)
        return -1; /* "ID:" names no field: a typo, not "all" */
    a->part_ptrs[a->n_parts++] = p;
    return 0;
}

static int s_parse(int argc, char **argv, args_t *a)
{
    static const struct option opts[] = {
        {"config", 1, 0, 'c'},  {"key", 1, 0, 'k'},  {"purpose", 1, 0, 'p'},
        {"dataset", 1, 0, 'd'}, {"case", 1, 0, 'r'}, {"deadline", 1, 0, 't'},
        {"json", 0, 0, 'j'},    {"help", 0, 0, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = lt_cli_getopt(argc, argv, ":", opts)) != -1) {
        char as_given[1024];
        long v;
        /* s_part cuts its argument up: the error quotes it as given. */
        snprintf(as_given, sizeof as_given, "%s", optarg ? optarg : "");
        if (c == 'c')
            a->config = optarg;
        else if (c == 'k')
            a->key = optarg;
        else if (c == 'p')
            a->purpose = optarg;
        else if (c == 'r')
            a->case_ref = optarg;
        else if (c == 'j')
            a->json = 1;
        else if (c == 'd' && s_part(a, optarg) != 0)
            return lt_cli_fail(2, argv[0],
                               "bad --dataset '%s': expected ID or ID:FIELD,FIELD... "
                               "(at most %d parts of at most %d fields)\nusage: %s",
                               as_given, LT_PROFILE_MAX_PARTS, LT_QUERY_MAX_FIELDS, USAGE);
        else if (c == 'd') {
        } else if (c == 't' && lt_cli_int_opt(argv[0], "--deadline", optarg, 1, LT_PROFILE_MAX_MS,
                                              "whole milliseconds", &v))
            return 2;
        else if (c == 't')
            a->deadline = (unsigned)v;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE);
            return 0;
        } else
            return lt_cli_bad_opt(argv[0], c, opts, argv, USAGE);
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], USAGE);
    return lt_cli_need(argv[0], USAGE, "--config", a->config != NULL, "--key", a->key != NULL,
                       "--purpose", a->purpose != NULL, "--dataset", a->n_parts > 0, NULL);
}

/* The parts as text, from their JSON, each line escaped (lt_cli_line):
 * fields, reasons and owners are the owners' words. 0, or -1 when a line
 * could not be printed. */
static int s_print_text(json_t *j)
{
    size_t i, n = json_array_size(json_object_get(j, "parts"));
    json_t *p;
    int rc = lt_cli_line("profile of key %s for purpose %s: %zu part(s)",
                         lt_cli_jtext(j, "key", "-"), lt_cli_jtext(j, "purpose", "-"), n);
    json_array_foreach(json_object_get(j, "parts"), i, p)
    {
        rc |= lt_cli_line("%s: %s (%s)", lt_cli_jtext(p, "dataset", "-"),
                          lt_cli_jtext(p, "outcome", "unknown"), lt_cli_jtext(p, "detail", ""));
        const char *name;
        json_t *v;
        json_object_foreach(json_object_get(p, "fields"), name, v)
        {
            rc |= lt_cli_line("  %-20s %s", name, json_string_value(v) ? json_string_value(v) : "");
        }
        size_t k;
        json_array_foreach(json_object_get(p, "withheld"), k, v)
        {
            rc |= lt_cli_line("  %-20s withheld: %s", lt_cli_jtext(v, "field", "-"),
                              lt_cli_jtext(v, "reason", ""));
        }
        if (json_object_get(p, "signature"))
            rc |= lt_cli_line("  signed by %s; signature and request binding verified by this "
                              "gateway",
                              lt_cli_jtext(p, "owner", "-"));
    }
    return rc;
}

/* Prints the reply; 0 every part released, 1 not. */
static int s_print(const args_t *a, const Lienthong__ProfileReply *r)
{
    char why[512];
    json_t *j;
    if (lt_profjson_reply(r, a->key, a->purpose, &j, why, sizeof why) != 0)
        return lt_cli_fail(2, "profile", "%s", why);
    if (a->json) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        printf("\n");
    } else if (s_print_text(j) != 0) {
        json_decref(j);
        return lt_cli_fail(2, "profile", "cannot print the reply: out of memory or output failed");
    }
    size_t missing = lt_profjson_not_released(j);
    json_decref(j);
    return missing ? 1 : 0;
}

static uint64_t s_request_id(void)
{
    uint64_t id = 0;
    while (!id)
        randombytes_buf(&id, sizeof id);
    return id;
}

/* Sends the request and waits for its reply (the gateway answers by the
 * deadline; 2 s more for the trip). */
static int s_run(args_t *a)
{
    lt_gwcfg_t cfg;
    Lienthong__ProfileRequest q = LIENTHONG__PROFILE_REQUEST__INIT;
    q.request_id = s_request_id();
    q.key = (char *)a->key;
    q.purpose = (char *)a->purpose;
    q.case_ref = (char *)(a->case_ref ? a->case_ref : "");
    q.deadline_ms = a->deadline;
    q.parts = (Lienthong__ProfilePart **)a->part_ptrs;
    q.n_parts = a->n_parts;
    int wait = (int)(a->deadline ? a->deadline : LT_PROFILE_DEFAULT_MS) + 2000;
    Lienthong__Envelope *rep = NULL;
    int rc = lt_cli_ask("profile", a->config, &cfg, LIENTHONG__ENVELOPE__BODY_PROFILE_REQUEST, &q,
                        LIENTHONG__ENVELOPE__BODY_PROFILE_REPLY, wait, &rep);
    if (rc >= 0)
        return rc;
    if (rep->profile_reply->request_id != q.request_id)
        rc = lt_cli_fail(2, "profile", "the gateway answered another request");
    else
        rc = s_print(a, rep->profile_reply);
    lt_wire_free(&rep);
    return rc;
}

int lt_cmd_profile(int argc, char **argv)
{
    static args_t a;
    memset(&a, 0, sizeof a);
    int rc = s_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (sodium_init() < 0)
        return lt_cli_fail(2, argv[0], "libsodium unavailable");
    return s_run(&a);
}

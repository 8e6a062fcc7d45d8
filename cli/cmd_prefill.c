/* cmd_prefill: `lienthong prefill`, a form pre-filled for one citizen from
 * what the member's replicas already hold (PROTOCOL.md 8.8). The local
 * gateway reads its replicas and asks no owner; each field is printed with
 * the stream and owner it came from and how fresh the replica is. Output
 * is plain text, or with --json the JSON the HTTP API's GET /v1/prefill/{id}
 * answers (lt_apicall), every field shown. */
#include "lt_cli.h"
#include "lt_apicall.h"
#include "lt_gwcfg.h"
#include "lt_limits.h"
#include "lt_wire.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *USAGE =
    "lienthong prefill --config FILE --key ID --purpose CODE [--stream ID]...\n"
    "                  [--key-field NAME] [--case REF] [--timeout MS] [--json]\n"
    "  reads what this member's replicas hold for the key (every replicated stream the\n"
    "  purpose is granted for, or those named, or those whose dataset is keyed by\n"
    "  --key-field); no owner is asked\n"
    "exit status: 0 some stream holds the key, 1 none does, 2 an error";

typedef struct {
    const char *config, *key, *key_field, *purpose, *case_ref;
    char *streams[LT_PREFILL_MAX_STREAMS];
    size_t n_streams;
    int timeout, json;
    lt_gwcfg_t cfg;
} args_t;

/* -1 to go on, else the exit status. */
static int s_parse(int argc, char **argv, args_t *a)
{
    static const struct option opts[] = {{"config", 1, 0, 'c'},  {"key", 1, 0, 'k'},
                                         {"stream", 1, 0, 's'},  {"key-field", 1, 0, 'f'},
                                         {"purpose", 1, 0, 'p'}, {"case", 1, 0, 'r'},
                                         {"timeout", 1, 0, 't'}, {"json", 0, 0, 'j'},
                                         {"help", 0, 0, 'h'},    {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    a->timeout = 5000;
    while ((c = lt_cli_getopt(argc, argv, ":", opts)) != -1) {
        long l;
        if (c == 'c')
            a->config = optarg;
        else if (c == 'k')
            a->key = optarg;
        else if (c == 'f')
            a->key_field = optarg;
        else if (c == 'p')
            a->purpose = optarg;
        else if (c == 'r')
            a->case_ref = optarg;
        else if (c == 'j')
            a->json = 1;
        else if (c == 's' && a->n_streams >= LT_PREFILL_MAX_STREAMS)
            return lt_cli_fail(2, argv[0], "more than %d --stream", LT_PREFILL_MAX_STREAMS);
        else if (c == 's')
            a->streams[a->n_streams++] = optarg;
        else if (c == 't' &&
                 lt_cli_int_opt(argv[0], "--timeout", optarg, 1, INT_MAX, "whole milliseconds", &l))
            return 2;
        else if (c == 't')
            a->timeout = (int)l;
        else if (c == 'h') {
            printf("usage: %s\n", USAGE);
            return 0;
        } else
            return lt_cli_bad_opt(argv[0], c, opts, argv, USAGE);
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], USAGE);
    /* The directory's policies grant replicas for purposes (PROTOCOL.md
     * 8.8): without one, nothing may be read. */
    return lt_cli_need(argv[0], USAGE, "--config", a->config != NULL, "--key", a->key != NULL,
                       "--purpose", a->purpose != NULL, NULL);
}

/* Unix ms as an ISO 8601 UTC time, or "unknown" for 0. */
static const char *s_time(int64_t ms, char *buf, size_t len)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(buf, len, "unknown");
    return buf;
}

/* One part as text, from its JSON: where it came from and how fresh, then
 * field: value. Each line escaped (lt_cli_line): the values are the
 * owner's words, as its feed brought them. 0, or -1 when a line could not
 * be printed. */
static int s_print_part(json_t *p)
{
    char t1[32], t2[32], t3[32];
    json_t *rep = json_object_get(p, "replica"), *v;
    const char *state = lt_cli_jtext(rep, "state", "unknown"), *name;
    const char *detail = lt_cli_jtext(rep, "detail", "");
    int rc = printf("\n") < 0 ? -1 : 0;
    rc |= lt_cli_line("%s (dataset %s, owner %s)", lt_cli_jtext(p, "stream", "-"),
                      lt_cli_jtext(p, "dataset", "-"), lt_cli_jtext(p, "owner", "-"));
    rc |= lt_cli_line(
        "  replica %s, as of seq %" JSON_INTEGER_FORMAT " (owner's change at %s)%s%s", state,
        json_integer_value(json_object_get(rep, "seq")),
        s_time(json_integer_value(json_object_get(rep, "changed_at_ms")), t1, sizeof t1),
        detail[0] ? ": " : "", detail);
    if (strcmp(state, "ok") != 0)
        rc |= lt_cli_line(
            "  owner last heard: %s",
            s_time(json_integer_value(json_object_get(rep, "owner_heard_at_ms")), t3, sizeof t3));
    if (!json_is_true(json_object_get(p, "found")))
        return rc | lt_cli_line("  not found");
    rc |=
        lt_cli_line("  record seq %" JSON_INTEGER_FORMAT ", changed at %s",
                    json_integer_value(json_object_get(p, "seq")),
                    s_time(json_integer_value(json_object_get(p, "changed_at_ms")), t2, sizeof t2));
    json_object_foreach(json_object_get(p, "fields"), name, v)
    {
        rc |= lt_cli_line("  %-22s %s", name, json_string_value(v) ? json_string_value(v) : "");
    }
    return rc;
}

/* Every field of the record is shown: the replica holds only its view's. */
static int s_all(void *arg, const char *stream, const char *field)
{
    (void)arg;
    (void)stream;
    (void)field;
    return 1;
}

/* Prints the reply (the HTTP API's JSON of it, lt_apicall); returns the
 * exit status (0 found somewhere, 1 not). */
static int s_print(const args_t *a, const Lienthong__PrefillReply *r)
{
    size_t found = 0, i;
    char why[512];
    json_t *j, *p;
    if (lt_apicall_prefill_json(r, a->cfg.member, s_all, NULL, &found, &j, why, sizeof why) != 0)
        return lt_cli_fail(2, "prefill", "%s", why);
    if (a->json) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        printf("\n");
    } else {
        int bad = lt_cli_line("pre-fill for %s from the replicas of %s (no owner asked): %zu "
                              "stream(s)",
                              r->key, a->cfg.member, r->n_parts);
        json_array_foreach(json_object_get(j, "parts"), i, p)
        {
            bad |= s_print_part(p);
        }
        printf("\nfound in %zu of %zu stream(s)\n", found, r->n_parts);
        if (bad) {
            json_decref(j);
            return lt_cli_fail(2, "prefill",
                               "cannot print the reply: out of memory or output "
                               "failed");
        }
    }
    json_decref(j);
    return found ? 0 : 1;
}

static int s_request(args_t *a)
{
    Lienthong__PrefillRequest q = LIENTHONG__PREFILL_REQUEST__INIT;
    Lienthong__Envelope *rep = NULL;
    while (!q.request_id)
        randombytes_buf(&q.request_id, sizeof q.request_id);
    q.key = (char *)a->key;
    q.streams = a->streams;
    q.n_streams = a->n_streams;
    q.key_field = (char *)(a->key_field ? a->key_field : "");
    q.purpose = (char *)a->purpose;
    q.case_ref = (char *)(a->case_ref ? a->case_ref : "");
    int rc = lt_cli_ask("prefill", a->config, &a->cfg, LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST,
                        &q, LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY, a->timeout, &rep);
    if (rc >= 0)
        return rc;
    if (rep->prefill_reply->request_id != q.request_id)
        rc = lt_cli_fail(2, "prefill", "the gateway answered another request");
    else
        rc = s_print(a, rep->prefill_reply);
    lt_wire_free(&rep);
    return rc;
}

int lt_cmd_prefill(int argc, char **argv)
{
    static args_t a;
    memset(&a, 0, sizeof a);
    int rc = s_parse(argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (sodium_init() < 0)
        return lt_cli_fail(2, argv[0], "libsodium unavailable");
    return s_request(&a);
}

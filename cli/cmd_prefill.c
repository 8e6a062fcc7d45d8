/* cmd_prefill: `lienthong prefill`, a form pre-filled for one citizen from
 * what the member's replicas already hold (PROTOCOL.md 8.8). The local
 * gateway reads its replicas and asks no owner; each field is printed with
 * the stream and owner it came from and how fresh the replica is. Output
 * is plain text, or JSON with --json (jansson). */
#include "lt_cli.h"
#include "lt_client.h"
#include "lt_gwcfg.h"
#include "lt_limits.h"
#include "lt_schema.h"
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
    "lienthong prefill --config FILE --key ID [--stream ID]... [--key-field NAME]\n"
    "                  [--purpose CODE] [--case REF] [--timeout MS] [--json]\n"
    "  reads what this member's replicas hold for the key (every replicated stream,\n"
    "  or those named, or those whose dataset is keyed by --key-field); no owner is asked\n"
    "exit status: 0 some stream holds the key, 1 none does, 2 an error";

typedef struct {
    const char *config, *key, *key_field, *purpose, *case_ref;
    char *streams[LT_PREFILL_MAX_STREAMS];
    size_t n_streams;
    int timeout, json;
    lt_gwcfg_t cfg;
    lt_client_t *client;
} args_t;

/* -1 to go on, else the exit status. */
static int s_parse(int argc, char **argv, args_t *a)
{
    static const struct option opts[] = {
        {"config", 1, 0, 'c'},  {"key", 1, 0, 'k'},     {"stream", 1, 0, 's'},
        {"key-field", 1, 0, 'f'}, {"purpose", 1, 0, 'p'}, {"case", 1, 0, 'r'},
        {"timeout", 1, 0, 't'}, {"json", 0, 0, 'j'},    {"help", 0, 0, 'h'},
        {0, 0, 0, 0}};
    int c;
    optind = 1;
    opterr = 0;
    a->timeout = 5000;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end;
        if (c == 'c') a->config = optarg;
        else if (c == 'k') a->key = optarg;
        else if (c == 'f') a->key_field = optarg;
        else if (c == 'p') a->purpose = optarg;
        else if (c == 'r') a->case_ref = optarg;
        else if (c == 'j') a->json = 1;
        else if (c == 's' && a->n_streams < LT_PREFILL_MAX_STREAMS)
            a->streams[a->n_streams++] = optarg;
        else if (c == 't' && (a->timeout = (int)strtol(optarg, &end, 10)) > 0 && !*end) {
        } else if (c == 'h') {
            printf("usage: %s\n", USAGE);
            return 0;
        } else
            return lt_cli_bad_arg(argv[0], c == 't' || c == 's' ? optarg : argv[optind - 1], USAGE);
    }
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], USAGE);
    if (!a->config || !a->key)
        return lt_cli_fail(2, argv[0], "missing a required option\nusage: %s", USAGE);
    return -1;
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

/* The record of part p decoded by its record type, or NULL (none found,
 * or a type this program does not know: said on stderr). */
static ProtobufCMessage *s_record(const Lienthong__PrefillPart *p,
                                  const ProtobufCMessageDescriptor **t)
{
    *t = p->found ? lt_schema_find(p->record_type) : NULL;
    if (p->found && !*t)
        fprintf(stderr, "lienthong prefill: %s: record type %s unknown to this program: "
                "fields not shown\n", p->stream, p->record_type);
    return *t ? protobuf_c_message_unpack(*t, NULL, p->payload.len, p->payload.data) : NULL;
}

/* One part as text: where it came from and how fresh, then field: value. */
static void s_print_part(const Lienthong__PrefillPart *p)
{
    char t1[32], t2[32], t3[32], val[512];
    printf("\n%s (dataset %s, owner %s)\n", p->stream, p->dataset, p->owner);
    printf("  replica %s, as of seq %" PRIu64 " (owner's change at %s)%s%s\n", p->state,
           p->replica_seq, s_time(p->replica_changed_at_ms, t1, sizeof t1),
           p->detail[0] ? ": " : "", p->detail);
    if (strcmp(p->state, "ok") != 0)
        printf("  owner last heard: %s\n", s_time(p->owner_heard_at_ms, t3, sizeof t3));
    if (!p->found) {
        printf("  not found\n");
        return;
    }
    printf("  record seq %" PRIu64 ", changed at %s\n", p->seq,
           s_time(p->changed_at_ms, t2, sizeof t2));
    const ProtobufCMessageDescriptor *t;
    ProtobufCMessage *rec = s_record(p, &t);
    for (unsigned i = 0; rec && i < t->n_fields; i++) {
        const char *v = lt_schema_set(rec, &t->fields[i])
                            ? lt_schema_text(rec, &t->fields[i], val, sizeof val)
                            : NULL;
        if (v)
            printf("  %-22s %s\n", t->fields[i].name, v);
    }
    if (rec)
        protobuf_c_message_free_unpacked(rec, NULL);
}

static json_t *s_part_json(const Lienthong__PrefillPart *p)
{
    json_t *fields = json_object();
    const ProtobufCMessageDescriptor *t;
    ProtobufCMessage *rec = s_record(p, &t);
    char val[512];
    for (unsigned i = 0; rec && i < t->n_fields; i++) {
        const char *v = lt_schema_set(rec, &t->fields[i])
                            ? lt_schema_text(rec, &t->fields[i], val, sizeof val)
                            : NULL;
        if (v)
            json_object_set_new(fields, t->fields[i].name, json_string(v));
    }
    if (rec)
        protobuf_c_message_free_unpacked(rec, NULL);
    return json_pack("{s:s,s:s,s:s,s:s,s:b,s:I,s:I,s:o,s:{s:s,s:s,s:I,s:I,s:I}}", "stream",
                     p->stream, "dataset", p->dataset, "owner", p->owner, "record_type",
                     p->record_type, "found", p->found, "seq", (json_int_t)p->seq,
                     "changed_at_ms", (json_int_t)p->changed_at_ms, "fields", fields, "replica",
                     "state", p->state, "detail", p->detail, "seq", (json_int_t)p->replica_seq,
                     "changed_at_ms", (json_int_t)p->replica_changed_at_ms, "owner_heard_at_ms",
                     (json_int_t)p->owner_heard_at_ms);
}

/* Prints the reply; returns the exit status (0 found somewhere, 1 not). */
static int s_print(const args_t *a, const Lienthong__PrefillReply *r)
{
    size_t found = 0;
    json_t *parts = a->json ? json_array() : NULL;
    if (!a->json)
        printf("pre-fill for %s from the replicas of %s (no owner asked): %zu stream(s)\n", r->key,
               a->cfg.member, r->n_parts);
    for (size_t i = 0; i < r->n_parts; i++) {
        found += r->parts[i]->found;
        if (parts)
            json_array_append_new(parts, s_part_json(r->parts[i]));
        else
            s_print_part(r->parts[i]);
    }
    if (parts) {
        json_t *j = json_pack("{s:s,s:s,s:I,s:o}", "key", r->key, "member", a->cfg.member,
                              "answered_at_ms", (json_int_t)r->answered_at_ms, "parts", parts);
        json_dumpf(j, stdout, JSON_INDENT(2));
        printf("\n");
        json_decref(j);
    } else {
        printf("\nfound in %zu of %zu stream(s)\n", found, r->n_parts);
    }
    return found ? 0 : 1;
}

static int s_request(args_t *a)
{
    char err[1024];
    Lienthong__PrefillRequest q = LIENTHONG__PREFILL_REQUEST__INIT;
    Lienthong__Envelope *rep = NULL;
    while (!q.request_id)
        randombytes_buf(&q.request_id, sizeof q.request_id);
    q.key = (char *)a->key;
    q.streams = a->streams;
    q.n_streams = a->n_streams;
    q.key_field = (char *)(a->key_field ? a->key_field : "");
    q.purpose = (char *)(a->purpose ? a->purpose : "");
    q.case_ref = (char *)(a->case_ref ? a->case_ref : "");
    if (lt_gwcfg_load(a->config, &a->cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, "prefill", "%s", err);
    if (!(a->client = lt_client_new(a->cfg.local_socket, NULL, err, sizeof err)) ||
        lt_client_send(a->client, LIENTHONG__ENVELOPE__BODY_PREFILL_REQUEST, &q, a->timeout, err,
                       sizeof err) != 0)
        return lt_cli_fail(2, "prefill", "%s", err);
    int rc = 2;
    /* Only the answer to this request counts (the client is fresh: no
     * other request is outstanding on it). */
    while (lt_client_recv(a->client, a->timeout, &rep, err, sizeof err) == 0) {
        if (rep->body_case == LIENTHONG__ENVELOPE__BODY_PREFILL_REPLY &&
            rep->prefill_reply->request_id == q.request_id) {
            rc = s_print(a, rep->prefill_reply);
            break;
        }
        if (rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
            rc = lt_cli_fail(2, "prefill", "%s: %s", lt_wire_error_name(rep->error->code),
                             rep->error->message);
            break;
        }
        lt_wire_free(&rep);
    }
    if (!rep)
        lt_cli_fail(2, "prefill", "%s", err);
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
    rc = s_request(&a);
    lt_client_destroy(&a.client);
    return rc;
}

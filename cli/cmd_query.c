/* cmd_query: `lienthong lookup` and `lienthong verify` for operators. They
 * ask the local gateway (lt_client), which forwards to the dataset's owner
 * and hands back only answers whose owner signature and request binding it
 * has verified, with the record type it knows from its directory
 * (PROTOCOL.md 8.4). Output is plain text, or JSON with --json (jansson). */
#include "lt_cli.h"
#include "lt_clock.h"
#include "lt_client.h"
#include "lt_gwcfg.h"
#include "lt_file.h"
#include "lt_profjson.h"
#include "lt_wire.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <sodium.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS LT_QUERY_MAX_KEYS

static const char *USAGE_LOOKUP =
    "lienthong lookup --config FILE --dataset ID --key KEY --purpose CODE\n"
    "                 [--field NAME]... [--case REF] [--timeout MS] [--json]";
static const char *USAGE_VERIFY =
    "lienthong verify --config FILE --dataset ID --purpose CODE [--case REF] [--timeout MS] "
    "[--json]\n"
    "                 ( (--key KEY... | --keys-file FILE) --claim FIELD=VALUE...\n"
    "                 | --subjects-file FILE )\n"
    "  keys file: one key per line; subjects file: KEY<TAB>FIELD=VALUE<TAB>... per line\n"
    "exit status: 0 every claim matches, 1 some claim does not match (or a key is unknown),\n"
    "             2 an error (usage, gateway, owner refused the request, no complete answer)";

typedef struct {
    const char *config, *dataset, *purpose, *case_ref, *keys_file, *subjects_file;
    Lienthong__Subject *subjects[MAX_ITEMS];
    size_t n_subjects;
    uint8_t *files[2]; /* keys and subjects files: the strings point into them */
    char *keys[MAX_ITEMS], *fields[LT_QUERY_MAX_FIELDS];
    Lienthong__Claim claims[LT_QUERY_MAX_CLAIMS], *claim_ptrs[LT_QUERY_MAX_CLAIMS];
    size_t n_keys, n_fields, n_claims;
    int timeout, json;
    size_t mismatches; /* verify: claims that did not match, and unknown keys */
    int complete;      /* verify: every answer came and none refused the request */
    lt_gwcfg_t cfg;
    lt_client_t *client;
} args_t;

/* -1 when the options name a request, else 2 after naming what is
 * missing: keys with their claims, or a subjects file, not both. */
static int s_need(const char *cmd, const args_t *a, int verify, const char *usage)
{
    int keys = a->n_keys || a->keys_file;
    if (a->subjects_file && (keys || a->n_claims))
        return lt_cli_fail(2, cmd,
                           "--subjects-file does not go with --key, --keys-file or "
                           "--claim\nusage: %s",
                           usage);
    const char *keyed = !verify ? "--key"
                        : !keys ? "--key (or --keys-file, or --subjects-file)"
                                : "--claim";
    int have = a->subjects_file || (keys && (!verify || a->n_claims));
    return lt_cli_need(cmd, usage, "--config", a->config != NULL, "--dataset", a->dataset != NULL,
                       "--purpose", a->purpose != NULL, keyed, have, NULL);
}

static const struct option s_opts[] = {{"config", 1, 0, 'c'},
                                       {"dataset", 1, 0, 'd'},
                                       {"key", 1, 0, 'k'},
                                       {"keys-file", 1, 0, 'K'},
                                       {"field", 1, 0, 'f'},
                                       {"claim", 1, 0, 'l'},
                                       {"subjects-file", 1, 0, 'S'},
                                       {"purpose", 1, 0, 'p'},
                                       {"case", 1, 0, 'r'},
                                       {"timeout", 1, 0, 't'},
                                       {"json", 0, 0, 'j'},
                                       {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};

/* --key: one for lookup, up to MAX_ITEMS for verify. -1 taken, else 2. */
static int s_key_opt(const char *cmd, args_t *a, int verify)
{
    if (!verify && a->n_keys)
        return lt_cli_fail(2, cmd, "one --key at a time (verify takes several)");
    if (a->n_keys >= MAX_ITEMS)
        return lt_cli_fail(2, cmd, "more than %d --key", MAX_ITEMS);
    a->keys[a->n_keys++] = optarg;
    return -1;
}

/* --claim FIELD=VALUE (verify), split in place. -1 taken, else 2. */
static int s_claim_opt(const char *cmd, args_t *a)
{
    char *eq;
    if (a->n_claims >= LT_QUERY_MAX_CLAIMS)
        return lt_cli_fail(2, cmd, "more than %d claims (the protocol's limit per key)",
                           LT_QUERY_MAX_CLAIMS);
    if (!((eq = strchr(optarg, '=')) && eq > optarg))
        return lt_cli_fail(2, cmd, "--claim: expected FIELD=VALUE, got '%s'", optarg);
    *eq = 0;
    lienthong__claim__init(&a->claims[a->n_claims]);
    a->claims[a->n_claims].field = optarg;
    a->claims[a->n_claims].value = eq + 1;
    a->claim_ptrs[a->n_claims] = &a->claims[a->n_claims];
    a->n_claims++;
    return -1;
}

/* --timeout MS. -1 taken, else 2. */
static int s_timeout_opt(const char *cmd, args_t *a)
{
    long l;
    if (lt_cli_int_opt(cmd, "--timeout", optarg, 1, INT_MAX, "whole milliseconds", &l))
        return 2;
    /* It becomes the request's timeout_ms, which an owner refuses
     * over this (PROTOCOL.md 7.1): say so here. */
    if (l > LT_QUERY_MAX_AHEAD_MS)
        return lt_cli_fail(2, cmd,
                           "--timeout: expected whole milliseconds 1..%d, got '%s': a "
                           "request's time may be at most 10 minutes "
                           "(PROTOCOL.md 7.1)",
                           LT_QUERY_MAX_AHEAD_MS, optarg);
    a->timeout = (int)l;
    return -1;
}

/* One option c (with optarg): -1 taken, else the exit status (0 after
 * --help). An option of the other command is refused as unknown. */
static int s_option(char **argv, args_t *a, int c, int verify, const char *usage)
{
    if (c == 'c')
        a->config = optarg;
    else if (c == 'd')
        a->dataset = optarg;
    else if (c == 'p')
        a->purpose = optarg;
    else if (c == 'r')
        a->case_ref = optarg;
    else if (c == 'j')
        a->json = 1;
    else if (c == 'K' && verify)
        a->keys_file = optarg;
    else if (c == 'S' && verify)
        a->subjects_file = optarg;
    else if (c == 'k')
        return s_key_opt(argv[0], a, verify);
    else if (c == 'f' && !verify && a->n_fields >= LT_QUERY_MAX_FIELDS)
        return lt_cli_fail(2, argv[0], "more than %d --field", LT_QUERY_MAX_FIELDS);
    else if (c == 'f' && !verify)
        a->fields[a->n_fields++] = optarg;
    else if (c == 'l' && verify)
        return s_claim_opt(argv[0], a);
    else if (c == 't')
        return s_timeout_opt(argv[0], a);
    else if (c == 'h') {
        printf("usage: %s\n", usage);
        return 0;
    } else
        return lt_cli_bad_opt(argv[0], c, s_opts, argv, usage);
    return -1;
}

static int s_parse(int argc, char **argv, args_t *a, int verify)
{
    const char *usage = verify ? USAGE_VERIFY : USAGE_LOOKUP;
    int c, rc;
    optind = 1;
    opterr = 0;
    a->timeout = 5000;
    while ((c = lt_cli_getopt(argc, argv, ":", s_opts)) != -1)
        if ((rc = s_option(argv, a, c, verify, usage)) >= 0)
            return rc;
    if (optind < argc)
        return lt_cli_bad_arg(argv[0], argv[optind], usage);
    return s_need(argv[0], a, verify, usage);
}

/* Reads one key per line (blank lines and # comments skipped). */
static int s_keys_file(args_t *a)
{
    uint8_t *buf;
    size_t len;
    if (lt_file_read(a->keys_file, 16u << 20, &buf, &len) != 0)
        return lt_cli_fail(1, "verify", "cannot read %s", a->keys_file);
    a->files[0] = buf;
    for (char *save = NULL, *line = strtok_r((char *)buf, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (!*line || *line == '#')
            continue;
        if (a->n_keys >= MAX_ITEMS)
            return lt_cli_fail(1, "verify", "%s: more than %d keys", a->keys_file, MAX_ITEMS);
        a->keys[a->n_keys++] = line;
    }
    return 0;
}

/* Frees a subject of s_subject, its claims and their array. */
static void s_subject_free(Lienthong__Subject *sj)
{
    if (!sj)
        return;
    for (size_t c = 0; c < sj->n_claims; c++)
        free(sj->claims[c]);
    free(sj->claims);
    free(sj);
}

/* Parses one subjects line: KEY<TAB>FIELD=VALUE<TAB>...; NULL with why
 * when bad. A claim beyond the protocol's limit is refused, not dropped:
 * the result would read as if it had been checked. */
static Lienthong__Subject *s_subject(char *line, char *why, size_t whylen)
{
    Lienthong__Subject *sj = calloc(1, sizeof *sj);
    Lienthong__Claim **claims = calloc(LT_QUERY_MAX_CLAIMS, sizeof *claims);
    snprintf(why, whylen, "out of memory");
    if (!sj || !claims) {
        free(claims);
        goto bad;
    }
    lienthong__subject__init(sj);
    char *save = NULL, *tok = strtok_r(line, "\t", &save);
    sj->key = tok;
    sj->claims = claims;
    while (tok && (tok = strtok_r(NULL, "\t", &save))) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok) {
            snprintf(why, whylen, "expected KEY<TAB>FIELD=VALUE...");
            goto bad;
        }
        if (sj->n_claims == LT_QUERY_MAX_CLAIMS) {
            snprintf(why, whylen, "more than %d claims (the protocol's limit per key)",
                     LT_QUERY_MAX_CLAIMS);
            goto bad;
        }
        Lienthong__Claim *c = calloc(1, sizeof *c);
        if (!c)
            goto bad;
        lienthong__claim__init(c);
        *eq = 0;
        c->field = tok;
        c->value = eq + 1;
        claims[sj->n_claims++] = c;
    }
    snprintf(why, whylen, "expected KEY<TAB>FIELD=VALUE...");
    if (sj->key && sj->n_claims)
        return sj;
bad:
    s_subject_free(sj);
    return NULL;
}

static int s_subjects_file(args_t *a)
{
    uint8_t *buf;
    size_t len;
    int lineno = 0;
    char why[128];
    if (lt_file_read(a->subjects_file, 64u << 20, &buf, &len) != 0)
        return lt_cli_fail(1, "verify", "cannot read %s", a->subjects_file);
    a->files[1] = buf;
    for (char *save = NULL, *line = strtok_r((char *)buf, "\r\n", &save); line;
         line = strtok_r(NULL, "\r\n", &save)) {
        lineno++;
        if (!*line || *line == '#')
            continue;
        if (a->n_subjects >= MAX_ITEMS)
            return lt_cli_fail(1, "verify", "%s: more than %d subjects", a->subjects_file,
                               MAX_ITEMS);
        if (!(a->subjects[a->n_subjects] = s_subject(line, why, sizeof why)))
            return lt_cli_fail(1, "verify", "%s:%d: %s", a->subjects_file, lineno, why);
        a->n_subjects++;
    }
    return 0;
}

/* Receives one envelope within ms; NULL after printing why not. */
static Lienthong__Envelope *s_recv(args_t *a, int ms, const char *cmd)
{
    char err[1024];
    Lienthong__Envelope *env = NULL;
    if (lt_client_recv(a->client, ms, &env, err, sizeof err) != 0)
        lt_cli_fail(1, cmd, "%s", err);
    return env;
}

static const char *s_code(Lienthong__ErrorCode c)
{
    return c == LIENTHONG__ERROR_CODE__ERR_NONE ? "OK" : lt_wire_error_name(c);
}

/* The answer as text, from its JSON (lt_profjson_answer), each line
 * escaped (lt_cli_line): the values, withheld fields, reasons and owner
 * are the owner's words, and one field a line is what the form promises.
 * 0, or -1 when a line could not be printed. */
static int s_print_lookup_text(const args_t *a, const Lienthong__LookupAnswer *ans, json_t *j)
{
    json_t *fields = json_object_get(j, "fields");
    int rc = lt_cli_line("lookup %s key %s for purpose %s: %s (record seq %" PRIu64 ")", a->dataset,
                         a->keys[0], a->purpose, s_code(ans->code), ans->record_seq);
    for (size_t i = 0; i < ans->n_released; i++)
        rc |=
            lt_cli_line("  %-20s %s", ans->released[i], lt_cli_jtext(fields, ans->released[i], ""));
    for (size_t i = 0; i < ans->n_withheld; i++)
        rc |=
            lt_cli_line("  %-20s withheld: %s", ans->withheld[i]->field, ans->withheld[i]->reason);
    rc |= lt_cli_line("answer signed by %s; signature and request binding verified by this gateway",
                      ans->owner);
    return rc;
}

/* Prints the answer as the HTTP API shows it (lt_profjson): an answer
 * whose payload does not decode fails rather than show a verified answer
 * without its fields. */
static int s_print_lookup(const args_t *a, const Lienthong__LookupAnswer *ans,
                          const Lienthong__AnswerContext *ctx)
{
    char why[512] = "out of memory";
    json_t *j = json_pack("{s:s,s:s,s:s}", "dataset", a->dataset, "key", a->keys[0], "code",
                          s_code(ans->code));
    if (!j || lt_profjson_answer(j, ans, ctx ? ctx->record_type : NULL, why, sizeof why) != 0) {
        json_decref(j);
        return lt_cli_fail(1, "lookup", "%s", why);
    }
    if (a->json) {
        json_dumpf(j, stdout, JSON_INDENT(2));
        printf("\n");
    } else if (s_print_lookup_text(a, ans, j) != 0) {
        json_decref(j);
        return lt_cli_fail(1, "lookup", "cannot print the answer: out of memory or output failed");
    }
    json_decref(j);
    return ans->code == LIENTHONG__ERROR_CODE__ERR_NONE ? 0 : 1;
}

static const char *s_claim_field(const args_t *a, const Lienthong__VerifyAnswer *v, size_t c)
{
    if (a->n_subjects && v->index < a->n_subjects && c < a->subjects[v->index]->n_claims)
        return a->subjects[v->index]->claims[c]->field;
    return c < a->n_claims ? a->claims[c].field : "?";
}

/* Claims of one answer that did not match; an unknown key counts as one.
 * Sets *refused when the answer refuses the whole request (empty key). */
static size_t s_mismatches(const Lienthong__VerifyAnswer *v, int *refused)
{
    size_t n = 0;
    if (v->code != LIENTHONG__ERROR_CODE__ERR_NONE) {
        if (!v->key[0])
            *refused = 1;
        return 1;
    }
    for (size_t c = 0; c < v->n_results; c++)
        n += v->results[c] != LIENTHONG__CLAIM_RESULT__CLAIM_MATCH;
    return n;
}

static void s_print_verify(const args_t *a, const Lienthong__VerifyAnswer *v, json_t *arr)
{
    const char *key = v->key[0] ? v->key : "(whole request)";
    json_t *j = arr ? json_pack("{s:s,s:s,s:o}", "key", key, "code", s_code(v->code), "claims",
                                json_object())
                    : NULL;
    if (!arr) { /* the key as the owner's answer names it */
        char *k = lt_cli_plain(key);
        printf("  %-14s %s", k ? k : "?", s_code(v->code));
        free(k);
    }
    for (size_t c = 0; c < v->n_results; c++) {
        if (j)
            json_object_set_new(json_object_get(j, "claims"), s_claim_field(a, v, c),
                                json_string(lt_wire_claim_name(v->results[c])));
        else
            printf("  %s %s", s_claim_field(a, v, c), lt_wire_claim_name(v->results[c]));
    }
    if (j)
        json_array_append_new(arr, j);
    else
        printf("\n");
}

/* Loads the gateway's config (for its socket path) and connects to it. */
static int s_connect(args_t *a, const char *cmd)
{
    char err[1024];
    if (lt_gwcfg_load(a->config, &a->cfg, err, sizeof err) != 0)
        return lt_cli_fail(2, cmd, "%s", err);
    if (!(a->client = lt_client_new(a->cfg.local_socket, NULL, err, sizeof err)))
        return lt_cli_fail(1, cmd, "%s", err);
    return 0;
}

static uint64_t s_request_id(void)
{
    uint64_t id = 0;
    while (!id)
        randombytes_buf(&id, sizeof id);
    return id;
}

static int s_send(args_t *a, Lienthong__Envelope__BodyCase body_case, void *body, const char *cmd)
{
    char err[1024];
    if (lt_client_send(a->client, body_case, body, a->timeout, err, sizeof err) != 0)
        return lt_cli_fail(1, cmd, "%s", err);
    return 0;
}

/* Prints an Error answer; returns 1. */
static int s_error(const args_t *a, const Lienthong__Error *e, const char *cmd)
{
    if (a->json) {
        /* Built by jansson: the message comes from another member. */
        json_t *j =
            json_pack("{s:s,s:s}", "code", lt_wire_error_name(e->code), "error", e->message);
        if (j) {
            json_dumpf(j, stdout, JSON_INDENT(2));
            printf("\n");
            json_decref(j);
        }
    }
    char *m = lt_cli_plain(e->message); /* for a terminal, as the answers */
    int rc = lt_cli_fail(1, cmd, "%s: %s", lt_wire_error_name(e->code), m ? m : "?");
    free(m);
    return rc;
}

static int s_lookup(args_t *a)
{
    Lienthong__LookupRequest q = LIENTHONG__LOOKUP_REQUEST__INIT;
    q.request_id = s_request_id();
    q.dataset = (char *)a->dataset;
    q.key = a->keys[0];
    q.fields = a->fields;
    q.n_fields = a->n_fields;
    q.purpose = (char *)a->purpose;
    q.case_ref = (char *)(a->case_ref ? a->case_ref : "");
    q.deadline_ms = lt_clock_now_ms() + a->timeout; /* for an owner of an earlier release */
    q.timeout_ms = (uint32_t)a->timeout;
    if (s_send(a, LIENTHONG__ENVELOPE__BODY_LOOKUP_REQUEST, &q, "lookup") != 0)
        return 1;
    Lienthong__Envelope *rep = s_recv(a, a->timeout + 2000, "lookup");
    int rc = 1;
    if (!rep)
        return 1;
    if (rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR)
        rc = s_error(a, rep->error, "lookup");
    else if (rep->body_case == LIENTHONG__ENVELOPE__BODY_LOOKUP_REPLY) {
        Lienthong__LookupAnswer *ans = lienthong__lookup_answer__unpack(
            NULL, rep->lookup_reply->answer.len, rep->lookup_reply->answer.data);
        rc = ans ? s_print_lookup(a, ans, rep->context)
                 : lt_cli_fail(1, "lookup", "answer does not decode");
        if (ans)
            lienthong__lookup_answer__free_unpacked(ans, NULL);
    } else
        lt_cli_fail(1, "lookup", "unexpected %s from the gateway",
                    lt_wire_body_name(rep->body_case));
    lt_wire_free(&rep);
    return rc;
}

static int s_verify_send(args_t *a)
{
    Lienthong__VerifyRequest q = LIENTHONG__VERIFY_REQUEST__INIT;
    q.request_id = s_request_id();
    q.dataset = (char *)a->dataset;
    q.keys = a->keys;
    q.n_keys = a->n_keys;
    q.claims = a->claim_ptrs;
    q.n_claims = a->n_claims;
    q.subjects = a->subjects;
    q.n_subjects = a->n_subjects;
    q.purpose = (char *)a->purpose;
    q.case_ref = (char *)(a->case_ref ? a->case_ref : "");
    q.deadline_ms = lt_clock_now_ms() + a->timeout; /* for an owner of an earlier release */
    q.timeout_ms = (uint32_t)a->timeout;
    return s_send(a, LIENTHONG__ENVELOPE__BODY_VERIFY_REQUEST, &q, "verify");
}

/* The answers, printed as they come (into arr with --json), until the
 * last; an error reply or none ends them early. *done when the last came;
 * *mismatches and *refused as s_mismatches counts them. */
static int s_verify_answers(args_t *a, json_t *arr, int *done, size_t *mismatches, int *refused)
{
    int rc = 0;
    while (!*done) {
        Lienthong__Envelope *rep = s_recv(a, a->timeout + 2000, "verify");
        if (!rep || rep->body_case == LIENTHONG__ENVELOPE__BODY_ERROR) {
            rc = rep ? s_error(a, rep->error, "verify") : 1;
            lt_wire_free(&rep);
            break;
        }
        Lienthong__VerifyAnswer *v =
            rep->body_case == LIENTHONG__ENVELOPE__BODY_VERIFY_REPLY
                ? lienthong__verify_answer__unpack(NULL, rep->verify_reply->answer.len,
                                                   rep->verify_reply->answer.data)
                : NULL;
        if (v) {
            s_print_verify(a, v, arr);
            *mismatches += s_mismatches(v, refused);
            *done = v->last;
            lienthong__verify_answer__free_unpacked(v, NULL);
        }
        lt_wire_free(&rep);
    }
    return rc;
}

static int s_verify(args_t *a)
{
    if (s_verify_send(a) != 0)
        return 1;
    json_t *arr = a->json ? json_array() : NULL;
    if (!a->json)
        printf("verify %zu key(s) of %s for purpose %s:\n", a->n_keys + a->n_subjects, a->dataset,
               a->purpose);
    int done = 0, refused = 0;
    size_t mismatches = 0;
    int rc = s_verify_answers(a, arr, &done, &mismatches, &refused);
    if (arr && rc == 0) {
        json_dumpf(arr, stdout, JSON_INDENT(2));
        printf("\n");
    } else if (!arr && done) {
        printf("%zu claim(s) did not match; every answer signed by the owner and verified by this "
               "gateway\n",
               mismatches);
    }
    json_decref(arr);
    a->mismatches = mismatches;
    a->complete = done && !refused;
    return rc;
}

/* The exit status of verify (PROTOCOL.md 7.6): 0 when every claim of every
 * key matched, 1 when some claim did not or a key is unknown, 2 when the
 * command failed or the owner refused the whole request, since then nothing
 * was compared. rc is what the command returned. */
static int s_verify_status(int rc, const args_t *a)
{
    if (rc != 0 || !a->complete)
        return 2;
    return a->mismatches ? 1 : 0;
}

static void s_args_free(args_t *a)
{
    lt_client_destroy(&a->client);
    for (size_t i = 0; i < a->n_subjects; i++)
        s_subject_free(a->subjects[i]);
    free(a->files[0]);
    free(a->files[1]);
}

static int s_run(int argc, char **argv, int verify)
{
    static args_t a;
    memset(&a, 0, sizeof a);
    int rc = s_parse(argc, argv, &a, verify);
    if (rc >= 0)
        return rc;
    rc = 1;
    if ((a.keys_file && s_keys_file(&a) != 0) || (a.subjects_file && s_subjects_file(&a) != 0))
        goto out;
    if (sodium_init() < 0) {
        lt_cli_fail(1, argv[0], "libsodium unavailable");
        goto out;
    }
    rc = s_connect(&a, argv[0]);
    if (rc == 0)
        rc = verify ? s_verify(&a) : s_lookup(&a);
out:
    s_args_free(&a);
    return verify ? s_verify_status(rc, &a) : rc;
}

int lt_cmd_lookup(int argc, char **argv)
{
    return s_run(argc, argv, 0);
}

int lt_cmd_verify(int argc, char **argv)
{
    return s_run(argc, argv, 1);
}

/* test_apicfg: CUnit suite for api/lt_apicfg, the configuration of
 * `lienthong api` (docs/ARCHITECTURE.md, "HTTP API"): defaults, what is
 * taken from the gateway's file, applications and their tokens, and strict
 * errors of the form "FILE:LINE: problem" in either file. */
#include "unit_util.h"

#include "lt_apicfg.h"
#include "lt_keys.h"

#include <sodium.h>

static char g_dir[512], g_gw[600];
static char g_pin[LT_Z85_KEY_LEN + 1];
static char g_token[65], g_hash[65];

static int suite_init(void)
{
    uint8_t raw[32];
    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)(i * 7 + 1);
    lt_keys_z85_encode(raw, g_pin);
    if (sodium_init() < 0 || ut_mkdtemp(g_dir, sizeof g_dir, "apicfg") != 0)
        return -1;
    lt_apicfg_token_generate(g_token, g_hash);
    char text[1024];
    snprintf(g_gw, sizeof g_gw, "%s/gateway.conf", g_dir);
    snprintf(text, sizeof text,
             "member = \"VN/COM/VIETTEL\";\n"
             "listen = \"tcp://127.0.0.1:7401\";\n"
             "key_file = \"member.key\";\n"
             "directory = \"directory.signed\";\n"
             "authority_keys = [ \"%s\" ];\n"
             "peers = [ \"VN/GOV/BCA\" ];\n",
             g_pin);
    return ut_write_text(g_gw, text);
}

static int suite_clean(void)
{
    return ut_rmrf(g_dir);
}

/* Writes an API configuration: line 1 names the gateway file, line 2 is
 * the application "hr" with the suite's token, then `extra` from line 3. */
static void write_api(char *path, size_t cap, const char *name, const char *app_extra,
                      const char *extra)
{
    char text[4096];
    snprintf(path, cap, "%s/%s", g_dir, name);
    snprintf(
        text, sizeof text,
        "gateway_config = \"gateway.conf\";\n"
        "apps = ( { name = \"hr\"; token_hash = \"%s\"; datasets = [\"VN/GOV/BCA/population\"];"
        " fields = [\"full_name\"]; purposes = [\"KYC\"]; %s } );\n%s",
        g_hash, app_extra ? app_extra : "", extra ? extra : "");
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
}

/* Writes text to path (unless NULL) and loads it: the load must fail with
 * an error located at errfile:line (line 0: just "errfile") containing want. */
static void load_fails(const char *path, const char *text, const char *errfile, int line,
                       const char *want)
{
    static lt_apicfg_t cfg;
    char err[1024] = "";
    if (text)
        CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    CU_ASSERT(lt_apicfg_load(path, &cfg, err, sizeof err) == -1);
    lt_apicfg_free(&cfg);
    int at = line ? ut_has_loc(err, errfile, line) : strncmp(err, errfile, strlen(errfile)) == 0;
    if (!at || !strstr(err, want))
        fprintf(stderr, "\n  got \"%s\"\n  want %s:%d: ...%s\n", err, errfile, line, want);
    CU_ASSERT(at);
    CU_ASSERT(strstr(err, want) != NULL);
}

/* The file of write_api with app_extra and extra fails at its line `line`. */
static void expect_error(const char *app_extra, const char *extra, int line, const char *want)
{
    char path[700];
    write_api(path, sizeof path, "bad.conf", app_extra, extra);
    load_fails(path, NULL, path, line, want);
}

static void test_defaults(void)
{
    static lt_apicfg_t cfg;
    char path[700], err[1024] = "", want[700];
    write_api(path, sizeof path, "api.conf", NULL, NULL);
    CU_ASSERT_FATAL(lt_apicfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(cfg.path, path);
    CU_ASSERT_STRING_EQUAL(cfg.gateway_config, g_gw);
    CU_ASSERT_STRING_EQUAL(cfg.member, "VN/COM/VIETTEL");
    CU_ASSERT_STRING_EQUAL(cfg.federation, "VN");
    snprintf(want, sizeof want, "%s/run/gateway.sock", g_dir);
    CU_ASSERT_STRING_EQUAL(cfg.local_socket, want);
    snprintf(want, sizeof want, "%s/directory.signed", g_dir);
    CU_ASSERT_STRING_EQUAL(cfg.directory_file, want);
    CU_ASSERT(cfg.pins.count == 1);
    CU_ASSERT_FATAL(cfg.n_peers == 1);
    CU_ASSERT_STRING_EQUAL(cfg.peers[0], "VN/GOV/BCA");
    /* the HTTP side: loopback, no TLS, both halves on */
    CU_ASSERT_STRING_EQUAL(cfg.listen_address, "127.0.0.1");
    CU_ASSERT(cfg.port == 8480);
    CU_ASSERT(cfg.tls_cert[0] == 0 && cfg.tls_key[0] == 0);
    CU_ASSERT(cfg.lookup_api == 1 && cfg.metrics == 1);
    CU_ASSERT(cfg.max_body == 65536);
    CU_ASSERT(cfg.connection_timeout == 0); /* deprecated: 0 when left out */
    CU_ASSERT(cfg.receive_timeout == 10);
    CU_ASSERT(cfg.summary_interval == 60);
    CU_ASSERT(cfg.request_timeout_ms == 5000);
    CU_ASSERT(cfg.max_connections == 256);
    CU_ASSERT(cfg.max_connections_per_ip == 32);
    CU_ASSERT(cfg.max_in_flight == 64);
    CU_ASSERT(cfg.audit_file[0] == 0);
    CU_ASSERT_FATAL(cfg.n_apps == 1);
    const lt_apicfg_app_t *a = &cfg.apps[0];
    CU_ASSERT_STRING_EQUAL(a->name, "hr");
    CU_ASSERT(a->rate == 50);
    CU_ASSERT_FATAL(a->n_grants == 1);
    CU_ASSERT(!a->per_dataset);
    const lt_apicfg_grant_t *g = lt_apicfg_grant(a, "VN/GOV/BCA/population");
    CU_ASSERT_FATAL(g == &a->grants[0]);
    CU_ASSERT(g->n_fields == 1 && g->n_purposes == 1);
    CU_ASSERT(lt_apicfg_has(g->fields, g->n_fields, "full_name"));
    CU_ASSERT(!lt_apicfg_has(g->fields, g->n_fields, "date_of_birth"));
    CU_ASSERT(lt_apicfg_has(g->purposes, g->n_purposes, "KYC"));
    lt_apicfg_free(&cfg);
    CU_ASSERT_PTR_NULL(cfg.apps);
    lt_apicfg_free(&cfg);
}

static void test_overrides(void)
{
    static lt_apicfg_t cfg;
    char path[700], err[1024] = "", want[700];
    write_api(
        path, sizeof path, "full.conf", "rate = 2.5;",
        "listen_address = \"::1\";\nport = 9443;\ntls_cert = \"tls/cert.pem\";\n"
        "tls_key = \"tls/key.pem\";\nlookup_api = false;\nmax_body = 4096;\n"
        "connection_timeout = 5;\nreceive_timeout = 3;\nrequest_timeout_ms = 750;\nmax_connections "
        "= 8;\n"
        "max_connections_per_ip = 4;\nmax_in_flight = 3;\nsummary_interval = 2;\n"
        "audit_file = \"api-audit.jsonl\";\nlog_level = \"debug\";\nlog_format = \"json\";\n");
    CU_ASSERT_FATAL(lt_apicfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(cfg.listen_address, "::1");
    CU_ASSERT(cfg.port == 9443);
    snprintf(want, sizeof want, "%s/tls/cert.pem", g_dir);
    CU_ASSERT_STRING_EQUAL(cfg.tls_cert, want);
    snprintf(want, sizeof want, "%s/api-audit.jsonl", g_dir);
    CU_ASSERT_STRING_EQUAL(cfg.audit_file, want);
    CU_ASSERT(cfg.lookup_api == 0 && cfg.metrics == 1);
    CU_ASSERT(cfg.max_body == 4096 && cfg.connection_timeout == 5 && cfg.receive_timeout == 3);
    CU_ASSERT(cfg.request_timeout_ms == 750 && cfg.max_connections == 8);
    CU_ASSERT(cfg.max_connections_per_ip == 4 && cfg.max_in_flight == 3);
    CU_ASSERT(cfg.summary_interval == 2);
    CU_ASSERT(cfg.log_level == LT_LOG_DEBUG && cfg.log_format == LT_LOG_JSON);
    CU_ASSERT(cfg.apps[0].rate == 2.5);
    lt_apicfg_free(&cfg);
}

static void test_tokens(void)
{
    static lt_apicfg_t cfg;
    char path[700], err[1024] = "", other[65], other_hash[65];
    write_api(path, sizeof path, "tok.conf", NULL, NULL);
    CU_ASSERT_FATAL(lt_apicfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT(strlen(g_token) == 64 && strlen(g_hash) == 64);
    CU_ASSERT(strcmp(g_token, g_hash) != 0); /* the file holds the hash, not the token */
    const lt_apicfg_app_t *a = lt_apicfg_app_by_token(&cfg, g_token);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_STRING_EQUAL(a->name, "hr");
    uint8_t h[32];
    CU_ASSERT(lt_apicfg_token_hash(g_token, h) == 0 && lt_apicfg_app_by_hash(&cfg, h) == a);
    CU_ASSERT_EQUAL(lt_apicfg_token_hash("", h), -1);
    CU_ASSERT_PTR_NULL(lt_apicfg_app_by_token(&cfg, g_hash));
    CU_ASSERT_PTR_NULL(lt_apicfg_app_by_token(&cfg, ""));
    CU_ASSERT_PTR_NULL(lt_apicfg_app_by_token(&cfg, NULL));
    lt_apicfg_token_generate(other, other_hash);
    CU_ASSERT(strcmp(other, g_token) != 0);
    CU_ASSERT_PTR_NULL(lt_apicfg_app_by_token(&cfg, other));
    lt_apicfg_free(&cfg);
}

static void test_http_errors(void)
{
    expect_error(NULL, "colour = \"red\";\n", 3, "unknown setting 'colour'");
    expect_error(NULL, "\nport = 70000;\n", 4, "port");
    expect_error(NULL, "port = \"80\";\n", 3, "port");
    expect_error(NULL, "max_body = 10;\n", 3, "max_body");
    expect_error(NULL, "lookup_api = 1;\n", 3, "lookup_api");
    expect_error(NULL, "listen_address = 127;\n", 3, "listen_address");
    /* Refused at load, with its line: lt_api_new refused it later,
     * without one, as a failure to start rather than a bad file. */
    expect_error(NULL, "listen_address = \"x\";\n", 3,
                 "'listen_address' must be a numeric IP address, e.g. \"127.0.0.1\", "
                 "\"0.0.0.0\" or \"::1\", got \"x\"");
    expect_error(NULL, "\nlisten_address = \"256.1.1.1\";\n", 4, "got \"256.1.1.1\"");
    expect_error(NULL, "listen_address = \"localhost\";\n", 3, "numeric IP address");
    expect_error(NULL, "tls_key = \"key.pem\";\n", 3, "set both tls_cert and tls_key");
    expect_error(NULL, "log_format = \"xml\";\n", 3, "log_format");
    expect_error(NULL, "port = ;\n", 3, "syntax error");
}

static void test_app_errors(void)
{
    expect_error("colour = 1;", NULL, 2, "application 'hr': unknown setting 'colour'");
    expect_error("rate = 0;", NULL, 2,
                 "application 'hr': 'rate' must be greater than 0 and at most 100000 requests "
                 "per second, got 0");
    expect_error("rate = 100001.0;", NULL, 2, "got 100001");
    expect_error("rate = -0.5;", NULL, 2, "'rate' must be greater than 0");
    /* Past 32 bits, as written: libconfig keeps 50, 50 and 0 of these. */
    expect_error("rate = 4294967346;", NULL, 2,
                 "application 'hr': 'rate' must be greater than 0 and at most 100000 requests "
                 "per second, got 4294967346");
    expect_error("rate = -4294967246;", NULL, 2, "got -4294967246");
    expect_error("rate = 4294967296;", NULL, 2, "got 4294967296");
    expect_error("rate = 99999999999999999999;", NULL, 2,
                 "application 'hr': 'rate' is out of range, got 99999999999999999999");
    expect_error(NULL, "extra = ( { name = \"x\"; } );\n", 3, "unknown setting 'extra'");
    char path[700], text[2048];
    snprintf(path, sizeof path, "%s/dup.conf", g_dir);
    /* the second "hr" repeats the first one's name and token */
    snprintf(text, sizeof text,
             "gateway_config = \"gateway.conf\";\napps = (\n"
             "  { name = \"hr\"; token_hash = \"%s\"; datasets = [\"d\"]; fields = [\"f\"];"
             " purposes = [\"p\"]; },\n"
             "  { name = \"hr\"; token_hash = \"%s\"; datasets = [\"d\"]; fields = [\"f\"];"
             " purposes = [\"p\"]; }\n);\n",
             g_hash, g_hash);
    load_fails(path, text, path, 4, "repeats the name or token");
    load_fails(path,
               "gateway_config = \"gateway.conf\";\n\napps = (\n"
               "  { name = \"short\"; token_hash = \"abcd\"; datasets = [\"d\"]; fields = [\"f\"];"
               " purposes = [\"p\"]; }\n);\n",
               path, 4, "application 'short': token_hash must be the 64 hex digits");
    load_fails(path, "gateway_config = \"gateway.conf\";\napps = 1;\n", path, 2,
               "'apps' must be a list");
}

/* A setting of the wrong type is refused, quoted, never replaced by its
 * default: rate = "20" fell back to 50 requests per second. */
static void test_app_types(void)
{
    expect_error("rate = \"20\";", NULL, 2,
                 "application 'hr': 'rate' must be a number of requests per second (e.g. "
                 "rate = 20;), got \"20\"");
    expect_error("rate = true;", NULL, 2, "'rate' must be a number of requests per second");
    expect_error("rate = [ 20 ];", NULL, 2, "got an array");
    expect_error("rate = { per_second = 20; };", NULL, 2, "got a group");
    expect_error(NULL, "\nport = \"80\";\n", 4, "'port' must be a whole number, got \"80\"");
    expect_error(NULL, "metrics = \"yes\";\n", 3, "'metrics' must be true or false, got \"yes\"");
    expect_error(NULL, "audit_file = 1;\n", 3,
                 "'audit_file' must be a string in double quotes, got 1");
    char path[700], text[2048];
    snprintf(path, sizeof path, "%s/types.conf", g_dir);
    snprintf(text, sizeof text,
             "gateway_config = \"gateway.conf\";\napps = (\n  { name = 7; token_hash = \"%s\"; "
             "datasets = [\"d\"]; fields = [\"f\"]; purposes = [\"p\"]; }\n);\n",
             g_hash);
    load_fails(path, text, path, 3,
               "each application needs name = \"...\" (at most 63 bytes), got 7");
    load_fails(path,
               "gateway_config = \"gateway.conf\";\napps = (\n  { name = \"n\"; token_hash = 1.5; "
               "datasets = [\"d\"]; fields = [\"f\"]; purposes = [\"p\"]; }\n);\n",
               path, 3, "application 'n': token_hash must be the 64 hex digits");
    load_fails(path, NULL, path, 3, "in double quotes, got 1.5");
    load_fails(path, "gateway_config = \"gateway.conf\";\napps = ( \"x\" );\n", path, 2,
               "each application needs name = \"...\" (at most 63 bytes), got \"x\"");
}

static void test_grant_errors(void)
{
    char path[700], text[2048];
    snprintf(path, sizeof path, "%s/grants.conf", g_dir);
    snprintf(
        text, sizeof text,
        "gateway_config = \"gateway.conf\";\napps = (\n  { name = \"hr\"; token_hash = \"%s\";\n"
        "    datasets = [\"d\"];\n    fields = [\"f\", \"\"];\n    purposes = [\"p\"]; }\n);\n",
        g_hash);
    load_fails(path, text, path, 5,
               "entry 2 of 'fields' must be a non-empty string of at most "
               "127 bytes, got \"\"");
    snprintf(
        text, sizeof text,
        "gateway_config = \"gateway.conf\";\napps = (\n  { name = \"hr\"; token_hash = \"%s\";\n"
        "    datasets = [\"d\"];\n    purposes = \"p\"; }\n);\n",
        g_hash);
    load_fails(path, text, path, 3, "missing required list 'fields'");
    /* No field granted: a lookup without fields would ask for every one. */
    snprintf(
        text, sizeof text,
        "gateway_config = \"gateway.conf\";\napps = (\n  { name = \"hr\"; token_hash = \"%s\";\n"
        "    datasets = [\"d\"];\n    fields = [];\n    purposes = [\"p\"]; }\n);\n",
        g_hash);
    load_fails(path, text, path, 5, "application 'hr': fields is empty");
}

/* An application "hr" with the suite's token whose settings are `body`,
 * from line 3 on; the file is at path. */
static void write_app(char *path, size_t cap, const char *name, const char *body)
{
    char text[4096];
    snprintf(path, cap, "%s/%s", g_dir, name);
    snprintf(text, sizeof text,
             "gateway_config = \"gateway.conf\";\napps = ( { name = \"hr\"; token_hash = \"%s\";\n"
             "%s\n} );\n",
             g_hash, body);
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
}

/* The application of write_app with body fails at line `line` with want. */
static void app_fails(const char *body, int line, const char *want)
{
    char path[700];
    write_app(path, sizeof path, "app-bad.conf", body);
    load_fails(path, NULL, path, line, want);
}

#define POP "VN/GOV/BCA/population"
#define INS "VN/GOV/BHXH/insurance"

/* Fields and purposes per dataset: current_address is granted for the
 * population dataset only, AUDIT for the insurance one only. */
static void test_grants_per_dataset(void)
{
    static lt_apicfg_t cfg;
    char path[700], err[1024] = "";
    write_app(path, sizeof path, "per-dataset.conf",
              "rate = 5;\ngrants = (\n"
              "  { dataset = \"" POP "\"; fields = [\"full_name\", \"current_address\"];\n"
              "    purposes = [\"KYC\"]; },\n"
              "  { dataset = \"" INS
              "\"; fields = [\"full_name\"]; purposes = [\"KYC\", \"AUDIT\"]; }\n"
              ");");
    int rc = lt_apicfg_load(path, &cfg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT_FATAL(cfg.n_apps == 1);
    const lt_apicfg_app_t *a = &cfg.apps[0];
    CU_ASSERT(a->per_dataset && a->n_grants == 2 && a->rate == 5);
    const lt_apicfg_grant_t *pop = lt_apicfg_grant(a, POP), *ins = lt_apicfg_grant(a, INS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(pop);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ins);
    CU_ASSERT_STRING_EQUAL(pop->dataset, POP);
    CU_ASSERT_STRING_EQUAL(ins->dataset, INS);
    CU_ASSERT(pop->n_fields == 2 && pop->n_purposes == 1);
    CU_ASSERT(ins->n_fields == 1 && ins->n_purposes == 2);
    CU_ASSERT(lt_apicfg_has(pop->fields, pop->n_fields, "current_address"));
    CU_ASSERT(!lt_apicfg_has(ins->fields, ins->n_fields, "current_address"));
    CU_ASSERT(lt_apicfg_has(ins->fields, ins->n_fields, "full_name"));
    CU_ASSERT(lt_apicfg_has(ins->purposes, ins->n_purposes, "AUDIT"));
    CU_ASSERT(!lt_apicfg_has(pop->purposes, pop->n_purposes, "AUDIT"));
    CU_ASSERT_PTR_NULL(lt_apicfg_grant(a, POP ".p38"));
    CU_ASSERT(lt_apicfg_any_purpose(a, "AUDIT") && !lt_apicfg_any_purpose(a, "TAX"));
    lt_apicfg_free(&cfg);
    /* one list for all: every dataset gets the same fields and purposes */
    write_app(path, sizeof path, "shared.conf",
              "datasets = [\"" POP "\", \"" INS "\"]; fields = [\"full_name\", \"sex\"];\n"
              "purposes = [\"KYC\"];");
    CU_ASSERT_FATAL(lt_apicfg_load(path, &cfg, err, sizeof err) == 0);
    a = &cfg.apps[0];
    CU_ASSERT_FATAL(a->n_grants == 2);
    CU_ASSERT(!a->per_dataset);
    for (size_t i = 0; i < 2; i++) {
        CU_ASSERT(a->grants[i].n_fields == 2 && a->grants[i].n_purposes == 1);
        CU_ASSERT(lt_apicfg_has(a->grants[i].fields, a->grants[i].n_fields, "sex"));
    }
    CU_ASSERT_PTR_NOT_NULL(lt_apicfg_grant(a, INS));
    lt_apicfg_free(&cfg);
}

/* Loaded only on this code: each of these was either refused as an unknown
 * setting, or loaded with a duplicate. */
static void test_grants_refused(void)
{
    static const struct {
        const char *body;
        int line;
        const char *want;
    } bad[] = {
        /* the two forms together: which fields go with which dataset? */
        {"grants = ( { dataset = \"" POP "\"; fields = [\"f\"]; purposes = [\"p\"]; } );\n"
         "fields = [\"full_name\"];",
         4,
         "application 'hr': 'fields' cannot stand beside 'grants'; write each dataset with its "
         "own fields and purposes in 'grants'"},
        {"datasets = [\"" INS "\"];\ngrants = ( { dataset = \"" POP "\"; fields = [\"f\"];"
         " purposes = [\"p\"]; } );",
         3, "application 'hr': 'datasets' cannot stand beside"},
        {"grants = (\n { dataset = \"" POP
         "\"; fields = [\"f\"]; purposes = [\"p\"]; colour = 1; }\n);",
         4, "application 'hr', grant 1 (" POP "): unknown setting 'colour'"},
        {"grants = (\n { dataset = \"" POP "\"; fields = [\"f\"]; purposes = [\"p\"]; },\n"
         " { dataset = \"" POP "\"; fields = [\"g\"]; purposes = [\"p\"]; }\n);",
         5, "application 'hr': grants 1 and 2 both name dataset \"" POP "\""},
        {"grants = (\n { dataset = \"" POP
         "\"; fields = [\"f\", \"g\", \"f\"]; purposes = [\"p\"]; }\n);",
         4, "application 'hr', grant 1 (" POP "): 'fields' names \"f\" twice"},
        {"grants = (\n { dataset = \"" POP "\"; fields = [\"f\"]; purposes = [\"p\", \"p\"]; }\n);",
         4, "'purposes' names \"p\" twice"},
        {"datasets = [\"d\", \"d\"]; fields = [\"f\"]; purposes = [\"p\"];", 3,
         "application 'hr': 'datasets' names \"d\" twice"},
        {"grants = (\n { fields = [\"f\"]; purposes = [\"p\"]; }\n);", 4,
         "application 'hr', grant 1: each grant needs dataset = \"...\""},
        {"grants = (\n { dataset = 5; fields = [\"f\"]; purposes = [\"p\"]; }\n);", 4,
         "(a dataset or view id of at most 127 bytes) in { dataset = \"...\"; fields = [...]; "
         "purposes = [...]; }, got 5"},
        {"grants = ( \"" POP "\" );", 3, "got \"" POP "\""},
        {"grants = (\n { dataset = \"" POP "\"; purposes = [\"p\"]; }\n);", 4,
         "application 'hr', grant 1 (" POP "): missing required list 'fields'"},
        {"grants = (\n { dataset = \"" POP "\"; fields = []; purposes = [\"p\"]; }\n);", 4,
         "application 'hr', grant 1 (" POP "): fields is empty"},
        {"grants = (\n { dataset = \"" POP "\"; fields = [\"f\"]; purposes = []; }\n);", 4,
         "application 'hr', grant 1 (" POP "): purposes is empty"},
        {"grants = { dataset = \"" POP "\"; };", 3,
         "application 'hr': 'grants' must be a list of at most 64 groups"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        app_fails(bad[i].body, bad[i].line, bad[i].want);
}

static void test_gateway_errors(void)
{
    char path[700], gw[700], text[1024];
    snprintf(path, sizeof path, "%s/nogw.conf", g_dir);
    load_fails(path, "port = 8000;\n", path, 0, "missing required setting 'gateway_config'");
    /* the gateway's own file is wrong: its name and line are given */
    snprintf(gw, sizeof gw, "%s/badgw.conf", g_dir);
    CU_ASSERT_FATAL(ut_write_text(gw, "member = \"VN/COM/VIETTEL\";\ndirectory = \"d.signed\";\n"
                                      "authority_keys = [ \"not-a-key\" ];\n") == 0);
    load_fails(path, "gateway_config = \"badgw.conf\";\n", gw, 3,
               "authority key 1, \"not-a-key\", is not a 40-character Z85 key");
    /* Each key at its own line, quoted, also when not a string. */
    snprintf(text, sizeof text,
             "member = \"VN/COM/VIETTEL\";\ndirectory = \"d.signed\";\n"
             "authority_keys = [\n  \"%s\",\n  \"not-a-key\"\n];\n",
             g_pin);
    CU_ASSERT_FATAL(ut_write_text(gw, text) == 0);
    load_fails(path, NULL, gw, 5, "authority key 2, \"not-a-key\", is not");
    CU_ASSERT_FATAL(ut_write_text(gw, "member = \"VN/COM/VIETTEL\";\ndirectory = \"d.signed\";\n"
                                      "authority_keys = [ 5 ];\n") == 0);
    load_fails(path, NULL, gw, 3,
               "entry 1 of 'authority_keys' must be a non-empty string of at "
               "most 127 bytes, got 5");
    snprintf(text, sizeof text, "directory = \"d.signed\";\nauthority_keys = [ \"%s\" ];\n", g_pin);
    CU_ASSERT_FATAL(ut_write_text(gw, text) == 0);
    load_fails(path, NULL, gw, 0, "missing required setting 'member'");
    snprintf(gw, sizeof gw, "%s/absent.conf", g_dir);
    load_fails(path, "gateway_config = \"absent.conf\";\n", gw, 0, "cannot read file");
}

/* s with every `from` replaced by `to`, into out. */
static void replace_all(const char *s, const char *from, const char *to, char *out, size_t cap)
{
    size_t at = 0;
    for (const char *hit; (hit = strstr(s, from)); s = hit + strlen(from))
        at += (size_t)snprintf(out + at, cap - at, "%.*s%s", (int)(hit - s), s, to);
    snprintf(out + at, cap - at, "%s", s);
}

/* The packaged example (dist/examples/api.conf) loads once it names a real
 * gateway configuration and a real token hash. */
static void test_packaged_example(void)
{
    static char text[16384], once[16384];
    static lt_apicfg_t cfg;
    char path[700], err[1024] = "";
    FILE *f = fopen(LT_SRC_DIR "/dist/examples/api.conf", "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = 0;
    replace_all(text, "/etc/lienthong/gateway.conf", g_gw, once, sizeof once);
    replace_all(once, "0000000000000000000000000000000000000000000000000000000000000000", g_hash,
                text, sizeof text);
    snprintf(path, sizeof path, "%s/example.conf", g_dir);
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
    int rc = lt_apicfg_load(path, &cfg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT_STRING_EQUAL(cfg.listen_address, "127.0.0.1");
    CU_ASSERT(cfg.n_apps == 1 && cfg.tls_cert[0] == 0);
    CU_ASSERT_PTR_NOT_NULL(lt_apicfg_app_by_token(&cfg, g_token));
    lt_apicfg_free(&cfg);
}

/* Loads write_api's file named name with app_extra, extra, then apps
 * (another application or more) into cfg. */
static void load_with(lt_apicfg_t *cfg, const char *name, const char *app_extra, const char *extra)
{
    char path[700], err[1024] = "";
    write_api(path, sizeof path, name, app_extra, extra);
    int rc = lt_apicfg_load(path, cfg, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT_FATAL(rc == 0);
}

/* What a reload would change: the settings that need a restart by name,
 * and the applications added, removed, changed (token, rate, grants) and
 * unchanged, an application being the same one by its name. */
static void test_reload_changes(void)
{
    static lt_apicfg_t run, next;
    char out[2048], hash2[65], token2[65], other[1024];
    lt_apicfg_token_generate(token2, hash2);
    load_with(&run, "run.conf", NULL, NULL);
    load_with(&next, "next.conf", NULL, NULL);
    CU_ASSERT(lt_apicfg_fixed_changed(&run, &next, out, sizeof out) == 0);
    CU_ASSERT_STRING_EQUAL(out, "");
    lt_apicfg_apps_changed(&run, &next, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "applications: 0 added, 0 removed, 0 changed, 1 unchanged; 1 in "
                                "force");
    CU_ASSERT(lt_apicfg_app_same(&run.apps[0], &next.apps[0]));
    lt_apicfg_free(&next);
    /* a new rate; another application; a port and max_body */
    char path[700], err[1024] = "";
    snprintf(path, sizeof path, "%s/next2.conf", g_dir);
    snprintf(other, sizeof other,
             "gateway_config = \"gateway.conf\";\nport = 9000;\nmax_body = 4096;\n"
             "apps = ( { name = \"hr\"; token_hash = \"%s\"; datasets = "
             "[\"VN/GOV/BCA/population\"]; fields = [\"full_name\"]; purposes = [\"KYC\"]; rate "
             "= 7; },\n { name = \"crm\"; token_hash = \"%s\"; datasets = [\"X\"]; fields = "
             "[\"f\"]; purposes = [\"P\"]; } );\n",
             g_hash, hash2);
    CU_ASSERT_FATAL(ut_write_text(path, other) == 0);
    int rc = lt_apicfg_load(path, &next, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "\n  %s\n", err);
    CU_ASSERT_FATAL(rc == 0);
    CU_ASSERT(lt_apicfg_fixed_changed(&run, &next, out, sizeof out) == 2);
    CU_ASSERT_STRING_EQUAL(out, "port, max_body");
    CU_ASSERT(!lt_apicfg_app_same(&run.apps[0], &next.apps[0]));
    lt_apicfg_apps_changed(&run, &next, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "applications: 1 added (crm), 0 removed, 1 changed (hr), 0 "
                                "unchanged; 2 in force");
    lt_apicfg_apps_changed(&next, &run, out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "applications: 0 added, 1 removed (crm), 1 changed (hr), 0 "
                                "unchanged; 1 in force");
    /* the names added alone (a reload's refusals need keys for them) */
    CU_ASSERT(lt_apicfg_apps_added(&run, &next, out, sizeof out) == 1);
    CU_ASSERT_STRING_EQUAL(out, "crm");
    CU_ASSERT(lt_apicfg_apps_added(&run, &next, NULL, 0) == 1);
    CU_ASSERT(lt_apicfg_apps_added(&next, &run, out, sizeof out) == 0);
    CU_ASSERT_STRING_EQUAL(out, "");
    /* a short buffer: cut, with "..." */
    CU_ASSERT(lt_apicfg_fixed_changed(&run, &next, out, 8) == 2);
    CU_ASSERT_STRING_EQUAL(out, "port...");
    lt_apicfg_free(&next);
    /* the token; a grant's purposes */
    load_with(&next, "next.conf", NULL, NULL);
    next.apps[0].token_hash[0] ^= 1;
    CU_ASSERT(!lt_apicfg_app_same(&run.apps[0], &next.apps[0]));
    next.apps[0].token_hash[0] ^= 1;
    CU_ASSERT(lt_apicfg_app_same(&run.apps[0], &next.apps[0]));
    next.apps[0].grants[0].n_purposes = 0;
    CU_ASSERT(!lt_apicfg_app_same(&run.apps[0], &next.apps[0]));
    lt_apicfg_free(&next);
    lt_apicfg_free(&run);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"defaults and what comes from the gateway's file", test_defaults},
        {"every optional setting", test_overrides},
        {"tokens: stored as hashes, found by token only", test_tokens},
        {"HTTP settings: unknown, wrong type, out of range, with line", test_http_errors},
        {"applications: unknown setting, rate, repeats, token hash", test_app_errors},
        {"wrong types are refused and quoted: rate, port, metrics, name, token hash",
         test_app_types},
        {"grants: bad entry and missing list, with line", test_grant_errors},
        {"grants per dataset: fields and purposes of each; one list for all",
         test_grants_per_dataset},
        {"grants per dataset: both forms, unknown setting, repeats, empty, wrong type",
         test_grants_refused},
        {"gateway configuration: missing, wrong, unreadable", test_gateway_errors},
        {"the packaged example loads", test_packaged_example},
        {"a reload: settings that need a restart, applications added, removed, changed",
         test_reload_changes},
        {NULL, NULL},
    };
    return ut_main("lt_apicfg", suite_init, suite_clean, tests);
}

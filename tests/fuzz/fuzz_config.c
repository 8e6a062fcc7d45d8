/* fuzz_config: libFuzzer target for the configuration files an operator
 * writes: libconfig's parsing and what core/lt_cfgfile.c reads again from
 * the kept text (numbers as written, the lines of list entries, the name
 * of a setting written twice), and every loader built on them: the
 * gateway's (lt_gwcfg_load), the HTTP API's (lt_apicfg_load), the source's
 * and the sink's (lt_source_new, lt_sink_new), the CSV import's
 * (lt_csv_new) and the directory source's (lt_dir_compile).
 *
 * Each input is written to one file of a private directory (the same file
 * for every run), read by lt_cfgfile_read and, when it parses, given to
 * each loader in turn. A fixed gateway.conf beside it is what an API
 * configuration's gateway_config = "gateway.conf" reaches. The source and
 * sink are linked with lt_db_connect wrapped (-Wl,--wrap,
 * tests/fuzz/CMakeLists.txt): their configuration is loaded
 * and checked whole, then the connection is refused, so that no input
 * makes a database or a file of one. Then every setting of the file is
 * quoted (lt_cfgfile_shown), located (lt_cfgfile_err) and, when a whole
 * number, read as written (lt_cfgfile_int_of, lt_cfgfile_int).
 *
 * Invariants beyond ASan and UBSan: a load that fails says why (a
 * non-empty error); one that succeeds is undone by its destroy or free
 * (LeakSanitizer checks nothing is left); a setting of the file is located
 * on a line the file has; a whole number read as written has the low 32
 * bits libconfig kept of it (else it was read from another setting's
 * text).
 *
 * FUZZ_CONFIG_SAY=1 prints why each loader refused an input, but for
 * unknown and missing settings (to check that a seed reaches the end of
 * the loader it is written for).
 *
 * FUZZ_WRITE_SEEDS=DIR makes the first run write seed inputs into DIR. The
 * examples under dist/examples are seeds too, in the committed corpus as
 * example-NAME (api.conf's gateway_config made "gateway.conf"). */
#define _GNU_SOURCE
#include "fuzz_common.h"
#include "lt_apicfg.h"
#include "lt_cfgfile.h"
#include "lt_csv.h"
#include "lt_db.h"
#include "lt_dir.h"
#include "lt_gwcfg.h"
#include "lt_log.h"
#include "lt_sink.h"
#include "lt_source.h"

#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_DB "fuzz_config: no database here"

static char g_dir[256];
static char g_path[320]; /* the input, written anew for each run */
static unsigned g_lines; /* how many lines it has */
static int g_say;        /* FUZZ_CONFIG_SAY=1: each loader's error on stderr */

lt_db_t *__wrap_lt_db_connect(const char *database, const char *config_file, lt_db_role_t role,
                              const lt_db_table_t *table, int create, char *err, size_t errlen);

/* Refuses every connection: the loaders' checks have all run by then. */
lt_db_t *__wrap_lt_db_connect(const char *database, const char *config_file, lt_db_role_t role,
                              const lt_db_table_t *table, int create, char *err, size_t errlen)
{
    (void)database, (void)config_file, (void)role, (void)table, (void)create;
    snprintf(err, errlen, "%s", NO_DB);
    return NULL;
}

const char *__lsan_default_suppressions(void);

/* libconfig 1.5 loses the string token it scanned when the parser then
 * fails (a string where a setting's name should be: `a = true; "x"`, or
 * `""`), a few bytes per broken file read that its callers cannot free;
 * only those allocation sites of its scanner are let through. */
const char *__lsan_default_suppressions(void)
{
    return "leak:strbuf_append\nleak:libconfig_yylex\n";
}

static void s_write(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(data, 1, len, f) != len) || fclose(f) != 0)
        abort();
}

static void s_write_seeds(const char *dir);

static void s_cleanup(void)
{
    fuzz_rmtree(g_dir);
}

static void s_init(void)
{
    lt_log_set_level((lt_log_level_t)(LT_LOG_ERROR + 1));
    g_say = getenv("FUZZ_CONFIG_SAY") != NULL;
    fuzz_tmpdir(g_dir, sizeof g_dir, "fuzz-config");
    atexit(s_cleanup);
    snprintf(g_path, sizeof g_path, "%s/in.conf", g_dir);
    char gw[320];
    snprintf(gw, sizeof gw, "%s/gateway.conf", g_dir);
    uint8_t raw[32];
    char pin[41], text[512];
    for (int i = 0; i < 32; i++)
        raw[i] = (uint8_t)(i * 7 + 1);
    lt_keys_z85_encode(raw, pin);
    int n = snprintf(text, sizeof text,
                     "member = \"VN/PROV/38\";\nlisten = \"tcp://127.0.0.1:7400\";\n"
                     "key_file = \"member.key\";\ndirectory = \"directory.signed\";\n"
                     "authority_keys = [\"%s\"];\npeers = [\"VN/GOV/BCA\"];\n",
                     pin);
    s_write(gw, text, (size_t)n);
    const char *seeds = getenv("FUZZ_WRITE_SEEDS");
    if (seeds)
        s_write_seeds(seeds);
}

/* A load that failed must say why. */
static void s_failed(const char *err)
{
    if (!err[0])
        abort();
    if (g_say && !strstr(err, "unknown setting") && !strstr(err, "missing required"))
        fprintf(stderr, "fuzz_config: %s\n", err);
}

/* A setting refused by lt_cfgfile's readers must be named. */
static void s_refused(const char *err)
{
    if (!err[0])
        abort();
}

/* err, from lt_cfgfile_err for a setting of the input, must place it on
 * one of its lines ("PATH:LINE: ..." or "PATH: ..."). */
static void s_check_line(const char *err)
{
    size_t n = strlen(g_path);
    if (!err[0])
        abort();
    if (strncmp(err, g_path, n) != 0 || err[n] != ':')
        return; /* a setting of an @included file */
    char *end;
    unsigned long line = strtoul(err + n + 1, &end, 10);
    if (end != err + n + 1 && (*end != ':' || line < 1 || line > g_lines))
        abort();
}

/* Every setting under s quoted, located and, for a whole number, read as
 * written; at the top level also through lt_cfgfile_int and _bool. */
static void s_walk(const config_t *c, const config_setting_t *s, int depth)
{
    char err[1024], got[64];
    long long v;
    int b;
    (void)lt_cfgfile_shown(s, got, sizeof got);
    err[0] = '\0';
    (void)lt_cfgfile_err(s, NULL, err, sizeof err, "here");
    s_check_line(err);
    const char *name = config_setting_name(s);
    int type = config_setting_type(s);
    if (name && (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)) {
        err[0] = '\0';
        if (lt_cfgfile_int_of(s, g_path, "", &v, err, sizeof err) != 0)
            s_refused(err);
        else if (type == CONFIG_TYPE_INT && (int32_t)(uint64_t)v != config_setting_get_int(s))
            abort(); /* read as written, yet not what libconfig kept the low 32 bits of */
    }
    if (name && depth == 1) {
        err[0] = '\0';
        if (lt_cfgfile_int(c, g_path, name, 0, -1000, 1000, &v, err, sizeof err) != 0)
            s_refused(err);
        err[0] = '\0';
        if (lt_cfgfile_bool(c, g_path, name, 0, &b, err, sizeof err) != 0)
            s_refused(err);
    }
    if (depth < 32 && config_setting_is_aggregate(s))
        for (int i = 0; i < config_setting_length(s); i++)
            s_walk(c, config_setting_get_elem(s, (unsigned)i), depth + 1);
}

/* 0 when the input parses; -1 when it does not. */
static int s_cfgfile(void)
{
    config_t c;
    char err[1024] = "";
    config_init(&c);
    int rc = lt_cfgfile_read(&c, g_path, err, sizeof err);
    if (rc != 0)
        s_failed(err);
    else
        s_walk(&c, config_root_setting(&c), 0);
    lt_cfgfile_wipe(&c, "database");
    config_destroy(&c);
    return rc;
}

static void s_loaders(void)
{
    char err[1024] = "";
    lt_gwcfg_t *gw = malloc(sizeof *gw);
    lt_apicfg_t *api = malloc(sizeof *api);
    if (!gw || !api)
        abort();
    if (lt_gwcfg_load(g_path, gw, err, sizeof err) != 0)
        s_failed(err);
    free(gw);

    err[0] = '\0';
    if (lt_apicfg_load(g_path, api, err, sizeof err) != 0)
        s_failed(err);
    lt_apicfg_free(api);
    lt_apicfg_free(api); /* idempotent */
    free(api);

    err[0] = '\0';
    lt_source_t *src = lt_source_new(g_path, err, sizeof err);
    if (!src)
        s_failed(err);
    lt_source_destroy(&src);
    lt_source_destroy(&src);

    err[0] = '\0';
    lt_sink_t *sink = lt_sink_new(g_path, err, sizeof err);
    if (!sink)
        s_failed(err);
    lt_sink_destroy(&sink);
    lt_sink_destroy(&sink);

    err[0] = '\0';
    lt_csv_t *csv = lt_csv_new(g_path, err, sizeof err);
    if (!csv)
        s_failed(err);
    lt_csv_destroy(&csv);
    lt_csv_destroy(&csv);

    err[0] = '\0';
    uint8_t *dir = NULL;
    size_t dir_len = 0;
    if (lt_dir_compile(g_path, 0, 0, 0, &dir, &dir_len, err, sizeof err) != 0)
        s_failed(err);
    free(dir);
    /* The adapters set the log level from the file they loaded. */
    lt_log_set_level((lt_log_level_t)(LT_LOG_ERROR + 1));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_dir[0])
        s_init();
    s_write(g_path, data, size);
    g_lines = 1;
    for (size_t i = 0; i < size; i++)
        g_lines += data[i] == '\n';
    /* Every loader starts with lt_cfgfile_read: a file it refuses, they
     * refuse with its error. Not running them then keeps what libconfig
     * loses on such a file (above) from growing sevenfold in a long run. */
    if (s_cfgfile() == 0)
        s_loaders();
    return 0;
}

static void s_seed(const char *dir, const char *name, const char *text)
{
    fuzz_write_seed(dir, name, text, strlen(text));
}

/* Beyond the examples: what the text scanning of lt_cfgfile reads. */
static void s_write_seeds(const char *dir)
{
    s_seed(dir, "duplicate", "member = \"VN/PROV/38\";\nmember = \"VN/PROV/39\";\n");
    s_seed(dir, "duplicate-line", "a = 1; b = 2; a = 3;\n");
    s_seed(dir, "duplicate-group", "g = { x = 1;\n y = 2; x = \"s\"; };\n");
    s_seed(dir, "huge",
           "heartbeat_ms = 4294967297;\nbatch_max = 99999999999999999999999;\n"
           "credit = -4294967296;\nmax_message = 9223372036854775807L;\n");
    s_seed(dir, "hex",
           "heartbeat_ms = 0x100000001;\ncredit = 0xFFFFFFFFFFFFFFFFF;\nport = 0x1F90;\n");
    s_seed(dir, "next-line",
           "heartbeat_ms =\n\n  # a comment\n  /* a block\n comment */ 4294968296;\n"
           "batch_max :\n// c\n7;\n");
    s_seed(dir, "list-lines",
           "authority_keys = [\n  \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n\n  # end\n];\n"
           "peers = (\n \"VN/GOV/BCA\",\n \"VN/PROV/01\"\n ,\n 5\n);\n");
    s_seed(dir, "api",
           "gateway_config = \"gateway.conf\";\nport = 8480;\nmax_body = 0x10000;\n"
           "apps = ( { name = \"hr\";\n token_hash = "
           "\"0000000000000000000000000000000000000000000000000000000000000000\";\n"
           " rate = 4294967316;\n grants = ( { dataset = \"VN/GOV/BCA/population\";\n"
           " fields = [ \"full_name\" ];\n purposes = [ \"X\" ]; } ); } );\n");
    s_seed(dir, "name-in-string", "member = \"port = 1\"; port = 70000;\n");
}

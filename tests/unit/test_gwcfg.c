/* test_gwcfg: CUnit suite for gateway/lt_gwcfg: a valid configuration with
 * defaults and paths resolved against the file's directory, and strict
 * errors carrying the right FILE:LINE. */
#include "unit_util.h"

#include "lt_gwcfg.h"

static char g_dir[512];
static char g_pin[LT_Z85_KEY_LEN + 1];
static uint8_t g_pin_raw[32];

static int suite_init(void)
{
    for (int i = 0; i < 32; i++)
        g_pin_raw[i] = (uint8_t)(i * 11 + 3);
    lt_keys_z85_encode(g_pin_raw, g_pin);
    return ut_mkdtemp(g_dir, sizeof g_dir, "cfg");
}

static int suite_clean(void)
{
    return ut_rmrf(g_dir);
}

/* The lines of a minimal valid file; "@PIN" stands for the authority key. */
static const char *BASE[] = {
    "# gateway of the Ministry of Public Security", /* 1 */
    "member = \"VN/GOV/BCA\";",                     /* 2 */
    "listen = \"tcp://0.0.0.0:7400\";",             /* 3 */
    "key_file = \"keys/member.key\";",              /* 4 */
    "directory = \"directory.signed\";",            /* 5 */
    "authority_keys = [ \"@PIN\" ];",               /* 6 */
    NULL,
};

/* Writes BASE with line `replace` (1-based, 0 for none) replaced by `with`
 * (NULL deletes it), and `extra` appended; the result goes to name. */
static void write_cfg(char *path, size_t cap, const char *name, int replace, const char *with,
                      const char *extra)
{
    snprintf(path, cap, "%s/%s", g_dir, name);
    char text[4096] = "";
    for (int i = 0; BASE[i]; i++) {
        const char *line = (i + 1 == replace) ? with : BASE[i];
        if (!line)
            line = "";
        char buf[512];
        const char *at = strstr(line, "@PIN");
        if (at)
            snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - line), line, g_pin, at + 4);
        else
            snprintf(buf, sizeof buf, "%s", line);
        strncat(text, buf, sizeof text - strlen(text) - 2);
        strcat(text, "\n");
    }
    if (extra)
        strncat(text, extra, sizeof text - strlen(text) - 1);
    CU_ASSERT_FATAL(ut_write_text(path, text) == 0);
}

static void join(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", g_dir, name);
}

static void test_valid_defaults(void)
{
    char path[600], err[512] = "", want[700];
    static lt_gwcfg_t cfg;
    write_cfg(path, sizeof path, "ok.cfg", 0, NULL, NULL);
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(cfg.path, path);
    CU_ASSERT_STRING_EQUAL(cfg.member, "VN/GOV/BCA");
    CU_ASSERT_STRING_EQUAL(cfg.federation, "VN");
    CU_ASSERT_STRING_EQUAL(cfg.listen, "tcp://0.0.0.0:7400");
    join(want, sizeof want, "keys/member.key");
    CU_ASSERT_STRING_EQUAL(cfg.key_file, want);
    join(want, sizeof want, "directory.signed");
    CU_ASSERT_STRING_EQUAL(cfg.directory_file, want);
    join(want, sizeof want, "run/gateway.sock");
    CU_ASSERT_STRING_EQUAL(cfg.local_socket, want);
    join(want, sizeof want, "data");
    CU_ASSERT_STRING_EQUAL(cfg.data_dir, want);
    CU_ASSERT(cfg.pins.count == 1);
    CU_ASSERT(memcmp(cfg.pins.keys[0], g_pin_raw, 32) == 0);
    CU_ASSERT(cfg.n_peers == 0);
    CU_ASSERT(cfg.n_subs == 0);
    CU_ASSERT(cfg.max_message == 4u * 1024 * 1024);
    CU_ASSERT(cfg.heartbeat_ms == 1000);
    CU_ASSERT(cfg.batch_max == 1024);
    CU_ASSERT(cfg.credit == 16384);
    CU_ASSERT(cfg.log_level == LT_LOG_INFO);
}

static void test_valid_overrides(void)
{
    char path[600], err[512] = "", want[700];
    static lt_gwcfg_t cfg;
    const char *extra = "federation = \"LAB\";\n"
                        "data_dir = \"/var/lib/lienthong\";\n"
                        "local_socket = \"../sock/gw.sock\";\n"
                        "peers = [ \"VN/PROV/38\", \"VN/COM/VIETTEL\" ];\n"
                        "subscribe = ( { stream = \"VN/GOV/BCA/population.basic\"; },\n"
                        "              { stream = \"VN/COM/VIETTEL/subscriber\"; } );\n"
                        "max_message = 1048576;\n"
                        "heartbeat_ms = 250;\n"
                        "batch_max = 64;\n"
                        "credit = 500;\n"
                        "log_level = \"debug\";\n";
    write_cfg(path, sizeof path, "over.cfg", 0, NULL, extra);
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT_STRING_EQUAL(cfg.federation, "LAB");
    CU_ASSERT_STRING_EQUAL(cfg.data_dir, "/var/lib/lienthong");
    join(want, sizeof want, "../sock/gw.sock");
    CU_ASSERT_STRING_EQUAL(cfg.local_socket, want);
    CU_ASSERT_FATAL(cfg.n_peers == 2);
    CU_ASSERT_STRING_EQUAL(cfg.peers[1], "VN/COM/VIETTEL");
    CU_ASSERT_FATAL(cfg.n_subs == 2);
    CU_ASSERT_STRING_EQUAL(cfg.subs[0].stream, "VN/GOV/BCA/population.basic");
    CU_ASSERT(cfg.max_message == 1048576);
    CU_ASSERT(cfg.heartbeat_ms == 250);
    CU_ASSERT(cfg.batch_max == 64);
    CU_ASSERT(cfg.credit == 500);
    CU_ASSERT(cfg.log_level == LT_LOG_DEBUG);
}

/* Expects lt_gwcfg_load to fail with "path:line:" and `needle` in the message. */
static void expect_error(const char *name, int replace, const char *with, const char *extra,
                         int line, const char *needle)
{
    char path[600], err[512] = "";
    static lt_gwcfg_t cfg;
    write_cfg(path, sizeof path, name, replace, with, extra);
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == -1);
    if (line > 0 && !ut_has_loc(err, path, line))
        fprintf(stderr, "\n    want %s:%d:, got: %s\n", path, line, err);
    if (line > 0)
        CU_ASSERT(ut_has_loc(err, path, line));
    if (!strstr(err, needle))
        fprintf(stderr, "\n    want '%s' in: %s\n", needle, err);
    CU_ASSERT(strstr(err, needle) != NULL);
}

static void test_unknown_setting(void)
{
    expect_error("unknown.cfg", 4, "keyfile = \"keys/member.key\";", NULL, 4,
                 "unknown setting 'keyfile'");
    expect_error("unknown2.cfg", 0, NULL, "\n\nheartbeat = 5;\n", 9, "unknown setting 'heartbeat'");
}

static void test_missing_member(void)
{
    char path[600], err[512] = "";
    static lt_gwcfg_t cfg;
    write_cfg(path, sizeof path, "nomember.cfg", 2, NULL, NULL);
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == -1);
    char prefix[700];
    snprintf(prefix, sizeof prefix, "%s:", path);
    CU_ASSERT(strncmp(err, prefix, strlen(prefix)) == 0);
    CU_ASSERT(strstr(err, "'member'") != NULL);
    CU_ASSERT(strstr(err, "missing") != NULL);
}

static void test_bad_authority_key(void)
{
    expect_error("auth.cfg", 6, "authority_keys = [ \"tooShort\" ];", NULL, 6, "authority key 1");
    expect_error("auth2.cfg", 6, "authority_keys = [ ];", NULL, 6, "authority_keys");
    expect_error("auth3.cfg", 6,
                 "authority_keys = [ \"@PIN\", \"0000000000000000000000000000000000000 \" ];", NULL,
                 6, "authority key 2");
    expect_error("auth4.cfg", 6, NULL, NULL, 0, "authority_keys");
    /* The entry quoted, at its own line: it said 'authority key 1 "" is
     * not...' at the list's line. */
    expect_error("auth5.cfg", 6, "authority_keys = [ 5 ];", NULL, 6,
                 "authority key 1, 5, is not a 40-character Z85 key in double quotes");
    expect_error("auth6.cfg", 6, "authority_keys = [\n  \"@PIN\",\n  \"short\"\n];", NULL, 8,
                 "authority key 2, \"short\", is not");
}

static void test_listen_not_tcp(void)
{
    expect_error("listen.cfg", 3, "listen = \"ipc:///tmp/gw.sock\";", NULL, 3, "tcp://");
    expect_error("listen2.cfg", 3, "listen = \"\";", NULL, 3, "must not be empty");
}

/* libzmq takes a port modulo 65536: ":70000" would bind 4464. */
static void test_listen_port(void)
{
    expect_error("port1.cfg", 3, "listen = \"tcp://127.0.0.1:70000\";", NULL, 3,
                 "port '70000' is not a number 1..65535), got \"tcp://127.0.0.1:70000\"");
    expect_error("port2.cfg", 3, "listen = \"tcp://127.0.0.1:0\";", NULL, 3, "port '0'");
    expect_error("port3.cfg", 3, "listen = \"tcp://127.0.0.1:-1\";", NULL, 3, "port '-1'");
    expect_error("port4.cfg", 3, "listen = \"tcp://127.0.0.1:7400 \";", NULL, 3, "port '7400 '");
    expect_error("port5.cfg", 3, "listen = \"tcp://:7400\";", NULL, 3, "no HOST");
    expect_error("port6.cfg", 3, "listen = \"tcp://0.0.0.0\";", NULL, 3, "no :PORT");
    expect_error("port7.cfg", 3, "listen = \"tcp://[::1]:7400\";", NULL, 3, "IPv6");
    char path[600], err[512] = "";
    static lt_gwcfg_t cfg;
    write_cfg(path, sizeof path, "port8.cfg", 3, "listen = \"tcp://*:65535\";", NULL);
    CU_ASSERT(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
}

/* Checked before the federation its INSTANCE part gives by default. */
static void test_member_format(void)
{
    expect_error("member1.cfg", 2, "member = \"bca\";", NULL, 2,
                 "'member' must be INSTANCE/CLASS/CODE");
    expect_error("member2.cfg", 2, "member = \"bca\";", NULL, 2, "got \"bca\"");
    expect_error("member3.cfg", 2, "member = \"VN/GOV/bca\";", NULL, 2, "got \"VN/GOV/bca\"");
    expect_error("member4.cfg", 2, "member = \"VN//BCA\";", NULL, 2, "INSTANCE/CLASS/CODE");
}

static void test_heartbeat_range(void)
{
    expect_error("hb.cfg", 0, NULL, "heartbeat_ms = 99;\n", 7, "heartbeat_ms");
    expect_error("hb2.cfg", 0, NULL, "\nheartbeat_ms = 60001;\n", 8, "between 100 and 60000");
    expect_error("mm.cfg", 0, NULL, "max_message = 1024;\n", 7, "max_message");
}

/* The log tail kept per stream (PROTOCOL.md 6.8): all by default. */
static void test_retention(void)
{
    char path[600], err[512] = "";
    static lt_gwcfg_t cfg;
    write_cfg(path, sizeof path, "ret0.cfg", 0, NULL, NULL);
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT(cfg.retain_records == 0 && cfg.retain_days == 0);
    write_cfg(path, sizeof path, "ret.cfg", 0, NULL,
              "retain_records = 100000;\nretain_days = 30;\n");
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT(cfg.retain_records == 100000 && cfg.retain_days == 30);
    expect_error("ret2.cfg", 0, NULL, "retain_days = -1;\n", 7, "retain_days");
    expect_error("ret3.cfg", 0, NULL, "retain_records = \"all\";\n", 7, "retain_records");
}

static void test_wrong_type(void)
{
    expect_error("type.cfg", 0, NULL, "heartbeat_ms = \"fast\";\n", 7, "whole number");
    expect_error("type2.cfg", 0, NULL, "heartbeat_ms = 1.5;\n", 7, "whole number");
    expect_error("type3.cfg", 2, "member = 42;", NULL, 2, "must be a string");
    expect_error("type4.cfg", 5, "directory = [\"a\"];", NULL, 5, "must be a string");
    expect_error("type5.cfg", 0, NULL, "subscribe = [ \"x\" ];\n", 7, "subscribe");
    expect_error("type6.cfg", 0, NULL, "log_level = \"loud\";\n", 7, "log_level");
}

static void test_syntax_error(void)
{
    expect_error("syntax.cfg", 3, "listen = = \"tcp://0.0.0.0:7400\";", NULL, 3, "syntax");
    char err[512] = "", path[600];
    static lt_gwcfg_t cfg;
    join(path, sizeof path, "missing.cfg");
    CU_ASSERT(lt_gwcfg_load(path, &cfg, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "cannot read") != NULL);
}

static void test_log_format(void)
{
    char err[512] = "", path[600];
    static lt_gwcfg_t cfg;
    write_cfg(path, sizeof path, "json.cfg", 0, NULL, "log_format = \"json\";\n");
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT(cfg.log_format == LT_LOG_JSON);
    write_cfg(path, sizeof path, "text.cfg", 0, NULL, NULL);
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT(cfg.log_format == LT_LOG_TEXT);
    expect_error("fmt.cfg", 0, NULL, "log_format = \"xml\";\n", 7, "log_format must be");
}

/* A subscription's resync setting (PROTOCOL.md 6.9): manual by default. */
static void test_resync(void)
{
    char err[512] = "", path[600];
    static lt_gwcfg_t cfg;
    write_cfg(path, sizeof path, "resync.cfg", 0, NULL,
              "subscribe = ( { stream = \"a\"; }, { stream = \"b\"; resync = \"auto\"; },\n"
              "              { stream = \"c\"; resync = \"manual\"; } );\n");
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT_FATAL(cfg.n_subs == 3);
    CU_ASSERT(!cfg.subs[0].resync_auto && cfg.subs[1].resync_auto && !cfg.subs[2].resync_auto);
    expect_error("resync2.cfg", 0, NULL,
                 "subscribe = ( { stream = \"a\"; resync = \"often\"; } );\n", 7,
                 "resync must be \"manual\" or \"auto\", got \"often\"");
    expect_error("resync3.cfg", 0, NULL, "subscribe = ( { stream = \"a\"; resync = 1; } );\n", 7,
                 "resync must be \"manual\" or \"auto\", got 1");
}
/* The owner's in-memory tail of sent batches: on by default, 0 turns it off. */
static void test_tail(void)
{
    char path[600], err[512] = "";
    static lt_gwcfg_t cfg;
    write_cfg(path, sizeof path, "tail0.cfg", 0, NULL, NULL);
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT(cfg.tail_batches == LT_TAIL_BATCHES_DEFAULT &&
              cfg.tail_bytes == LT_TAIL_BYTES_DEFAULT);
    write_cfg(path, sizeof path, "tail.cfg", 0, NULL, "tail_batches = 0;\ntail_bytes = 1048576;\n");
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT(cfg.tail_batches == 0 && cfg.tail_bytes == 1048576);
    expect_error("tail2.cfg", 0, NULL, "tail_batches = 65537;\n", 7, "tail_batches");
    expect_error("tail3.cfg", 0, NULL, "tail_bytes = -1;\n", 7, "tail_bytes");
    /* Past 32 bits without the L suffix: libconfig 1.5 keeps the low bits
     * only (0 here), and the value written is what counts. */
    write_cfg(path, sizeof path, "tail4.cfg", 0, NULL, "tail_bytes = 4294967296;\n");
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT(cfg.tail_bytes == 4294967296LL);
    write_cfg(path, sizeof path, "tail5.cfg", 0, NULL, "tail_bytes=0x100000000; # 4 GiB\n");
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT(cfg.tail_bytes == 4294967296LL);
    /* A wrapped value that would fall in range (4294967297 keeps 1) is
     * refused as written. */
    expect_error("credit.cfg", 0, NULL, "credit = 4294967297;\n", 7,
                 "between 1 and 4194304, got 4294967297");
}

/* subscribe: each group's settings are known ones, each stream once. */
static void test_subscribe_strict(void)
{
    expect_error(
        "subs1.cfg", 0, NULL,
        "subscribe = ( { stream = \"a\"; },\n  { stream = \"b\"; resynk = \"auto\"; } );\n", 8,
        "unknown setting 'resynk'");
    expect_error(
        "subs2.cfg", 0, NULL,
        "subscribe = ( { stream = \"a\"; },\n  { stream = \"a\"; resync = \"auto\"; } );\n", 8,
        "subscription 2, \"a\", is listed twice");
    /* An empty stream loaded, a subscription to nothing. */
    expect_error("subs3.cfg", 0, NULL,
                 "subscribe = ( { stream = \"a\"; },\n  { stream = \"\"; } );\n", 8,
                 "subscription 2: stream must name a dataset or view, got \"\"");
}

/* peers: member ids, each once, never this gateway's own. */
static void test_peers(void)
{
    expect_error("peers1.cfg", 0, NULL, "peers = [ \"bca\" ];\n", 7, "INSTANCE/CLASS/CODE");
    expect_error("peers2.cfg", 0, NULL, "peers = [ \"VN/GOV/BCA\" ];\n", 7, "own member");
    expect_error("peers3.cfg", 0, NULL, "peers = [ \"VN/PROV/38\", \"VN/PROV/38\" ];\n", 7,
                 "listed twice");
    expect_error("peers4.cfg", 0, NULL, "peers = ( \"VN/PROV/38\", 42 );\n", 7,
                 "peer 2 must be a member id string, got 42");
    expect_error("peers5.cfg", 0, NULL, "peers = [ \"\" ];\n", 7,
                 "peer 1 must be a member id string, got \"\"");
    /* Each at its own line, not the list's. */
    expect_error("peers6.cfg", 0, NULL, "peers = [\n  \"VN/PROV/38\",\n  \"VN/PROV/38\"\n];\n", 9,
                 "peer 2, \"VN/PROV/38\", is listed twice");
    expect_error("peers7.cfg", 0, NULL,
                 "peers = (\n  \"VN/PROV/38\",\n  \"bca\", \"VN/PROV/1\"\n);\n", 9,
                 "peer 2 must be a member id INSTANCE/CLASS/CODE, got \"bca\"");
}

/* head, then n items (pre, the item's number 1..n, post) between sep,
 * then tail. */
static void s_list(char *out, size_t cap, const char *head, const char *pre, const char *post,
                   const char *sep, int n, const char *tail)
{
    snprintf(out, cap, "%s ", head);
    for (int i = 1; i <= n; i++) {
        char one[64];
        snprintf(one, sizeof one, "%s%d%s", pre, i, post);
        strncat(out, i > 1 ? sep : "", cap - strlen(out) - 1);
        strncat(out, one, cap - strlen(out) - 1);
    }
    strncat(out, tail, cap - strlen(out) - 1);
}

/* At most LT_GWCFG_MAX_PEERS peers: the one past is named, and the limit. */
static void test_peers_limit(void)
{
    char extra[4096];
    s_list(extra, sizeof extra, "peers = [", "\"VN/PROV/P", "\"", ", ", LT_GWCFG_MAX_PEERS + 1,
           " ];\n");
    expect_error("peers_max.cfg", 0, NULL, extra, 7,
                 "peer 129, \"VN/PROV/P129\", is one too many: 'peers' lists at most 128 "
                 "members");
    /* A member id one byte too long for any directory. */
    char longid[LT_ID_MAX + 32];
    snprintf(longid, sizeof longid, "peers = [ \"VN/PROV/%0*d\" ];\n", LT_ID_MAX, 7);
    expect_error("peers_long.cfg", 0, NULL, longid, 7, "is longer than a member id may be (127");
}

/* At most LT_GWCFG_MAX_SUBS subscriptions, each stream id within its
 * bound: the entry past either is named, and the limit. */
static void test_subscribe_limit(void)
{
    char extra[4096];
    s_list(extra, sizeof extra, "subscribe = (", "{ stream = \"VN/GOV/BCA/d", "\"; }", ",\n",
           LT_GWCFG_MAX_SUBS + 1, " );\n");
    expect_error("subs_max.cfg", 0, NULL, extra, 7 + LT_GWCFG_MAX_SUBS,
                 "subscription 65, \"VN/GOV/BCA/d65\", is one too many: 'subscribe' lists at "
                 "most 64 streams");
    char longid[LT_STREAM_ID_MAX + 64];
    snprintf(longid, sizeof longid, "subscribe = ( { stream = \"VN/GOV/BCA/%0*d\"; } );\n",
             LT_STREAM_ID_MAX, 7);
    expect_error("subs_long.cfg", 0, NULL, longid, 7,
                 "is longer than a stream id may be (255 bytes)");
}

/* Logs what lt_gwcfg_warn says of a file with `extra` into out. */
static int warned(const char *name, const char *extra, char *out, size_t cap)
{
    char path[600], err[512] = "", log[700];
    static lt_gwcfg_t cfg;
    write_cfg(path, sizeof path, name, 0, NULL, extra);
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    snprintf(log, sizeof log, "%s.log", path);
    int saved = dup(2), fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(saved >= 0 && fd >= 0);
    CU_ASSERT_FATAL(dup2(fd, 2) == 2);
    close(fd);
    int n = lt_gwcfg_warn(&cfg);
    ut_captured(saved, log, out, cap);
    close(saved);
    return n;
}

/* batch_max above the protocol's 1024 records loads (older files hold it)
 * and acts as 1024, with one warning saying so; 1024 and below, none. */
static void test_batch_max_warning(void)
{
    char out[2048];
    CU_ASSERT_EQUAL(warned("bm_big.cfg", "batch_max = 65536;\n", out, sizeof out), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "batch_max = 65536 acts as 1024"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 1);
    CU_ASSERT_EQUAL(warned("bm_max.cfg", "batch_max = 1024;\n", out, sizeof out), 0);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 0);
    CU_ASSERT_EQUAL(warned("bm_dflt.cfg", NULL, out, sizeof out), 0);
}

/* SQLite's page cache per store connection: 64 MiB unless set, 2 to 65536. */
static void test_store_cache(void)
{
    char path[600], err[512] = "";
    static lt_gwcfg_t cfg;
    write_cfg(path, sizeof path, "cache0.cfg", 0, NULL, NULL);
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT_EQUAL(cfg.store_cache_mb, LT_STORE_CACHE_MB_DEFAULT);
    write_cfg(path, sizeof path, "cache1.cfg", 0, NULL, "store_cache_mb = 1024;\n");
    CU_ASSERT_FATAL(lt_gwcfg_load(path, &cfg, err, sizeof err) == 0);
    CU_ASSERT_EQUAL(cfg.store_cache_mb, 1024);
    expect_error("cache2.cfg", 0, NULL, "store_cache_mb = 1;\n", 7, "store_cache_mb");
    expect_error("cache3.cfg", 0, NULL, "store_cache_mb = 65537;\n", 7, "store_cache_mb");
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"valid file: defaults and resolved paths", test_valid_defaults},
        {"valid file: every optional setting", test_valid_overrides},
        {"unknown setting, with line", test_unknown_setting},
        {"retain_records and retain_days", test_retention},
        {"tail_batches and tail_bytes", test_tail},
        {"peers: member ids, once each, not our own", test_peers},
        {"peers: at most 128, each within a member id's length", test_peers_limit},
        {"subscribe: at most 64, each within a stream id's length", test_subscribe_limit},
        {"batch_max over 1024: loads, acts as 1024, one warning", test_batch_max_warning},
        {"store_cache_mb", test_store_cache},
        {"missing member", test_missing_member},
        {"bad authority key, with line", test_bad_authority_key},
        {"listen must be tcp://", test_listen_not_tcp},
        {"listen port 1..65535, host present, with line", test_listen_port},
        {"member id INSTANCE/CLASS/CODE, with line", test_member_format},
        {"out-of-range numbers", test_heartbeat_range},
        {"wrong types, with line", test_wrong_type},
        {"syntax error and missing file", test_syntax_error},
        {"log_format text (default) or json", test_log_format},
        {"subscription resync: manual (default) or auto", test_resync},
        {"subscribe: unknown settings and duplicate streams refused", test_subscribe_strict},
        {NULL, NULL},
    };
    return ut_main("lt_gwcfg", suite_init, suite_clean, tests);
}

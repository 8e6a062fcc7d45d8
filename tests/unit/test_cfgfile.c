/* test_cfgfile: CUnit suite for core/lt_cfgfile's whole numbers: a number
 * past 32 bits written without the L suffix (libconfig 1.5 keeps its low
 * 32 bits only) is read as written, from the text of the file as it was
 * parsed: a file changed or removed on disk after lt_cfgfile_read does not
 * change what lt_cfgfile_int reads, also for a file it @includes; a
 * configuration read again reads the new file; the value may be written
 * on a line after the '=', and one that cannot be found is refused; a
 * secret setting is wiped in libconfig's memory by lt_cfgfile_wipe; errors
 * quote numbers as written, name a setting written twice and give an
 * element of a list its own line; settings of one name on one line are
 * each read from their own text. */
#include "unit_util.h"

#include "lt_cfgfile.h"

static char g_dir[512];

static int suite_init(void)
{
    return ut_mkdtemp(g_dir, sizeof g_dir, "cfgfile");
}

static int suite_clean(void)
{
    return ut_rmrf(g_dir);
}

/* g_dir/name holding text; its path in out. */
static void s_file(char *out, size_t cap, const char *name, const char *text)
{
    CU_ASSERT_FATAL((size_t)snprintf(out, cap, "%s/%s", g_dir, name) < cap);
    CU_ASSERT_FATAL(ut_write_text(out, text) == 0);
}

static long long s_int(const config_t *c, const char *name)
{
    long long v = -1;
    char err[256] = "";
    CU_ASSERT(lt_cfgfile_int(c, NULL, name, 0, 0, INT64_MAX, &v, err, sizeof err) == 0);
    return v;
}

static void test_past_32_bits(void)
{
    char path[600], err[256] = "";
    s_file(path, sizeof path, "wide.cfg",
           "# comment\nsmall = 7;\nwide = 4294967296;\nhex=0x100000001; # 4 GiB + 1\n"
           "long = 8589934592L;\n");
    config_t c;
    config_init(&c);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, path, err, sizeof err) == 0);
    CU_ASSERT_EQUAL(s_int(&c, "small"), 7);
    CU_ASSERT_EQUAL(s_int(&c, "wide"), 4294967296LL);
    CU_ASSERT_EQUAL(s_int(&c, "hex"), 4294967297LL);
    CU_ASSERT_EQUAL(s_int(&c, "long"), 8589934592LL);
    /* Out of range as written, not as kept (1). */
    long long v;
    CU_ASSERT(lt_cfgfile_int(&c, NULL, "hex", 0, 1, 100, &v, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "got 0x100000001") != NULL);
    config_destroy(&c);
}

/* Errors quote a number as written: a type error quoted the 50 libconfig
 * kept of 4294967346, and a number past 64 bits was "cannot find the
 * number written". */
static void test_quoted_as_written(void)
{
    char path[600], err[256] = "";
    s_file(path, sizeof path, "quoted.cfg",
           "create_table = 4294967346;\nbatch = 99999999999999999999;\n"
           "g = { rate = 4294967346; low = -4294967246; huge = -99999999999999999999; n = 7; };\n");
    config_t c;
    config_init(&c);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, path, err, sizeof err) == 0);
    int b;
    CU_ASSERT(lt_cfgfile_bool(&c, NULL, "create_table", 0, &b, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, ":1: 'create_table' must be true or false, got 4294967346") != NULL);
    long long v;
    CU_ASSERT(lt_cfgfile_int(&c, NULL, "batch", 0, 1, 100000, &v, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, ":2: 'batch' is out of range: it must be between 1 and 100000, got "
                          "99999999999999999999") != NULL);
    /* A member of a group, read as written: libconfig keeps 50 and 50. */
    const config_setting_t *g = config_lookup(&c, "g");
    CU_ASSERT_FATAL(g != NULL);
    CU_ASSERT(lt_cfgfile_int_of(config_setting_get_member(g, "rate"), NULL, "", &v, err,
                                sizeof err) == 0);
    CU_ASSERT_EQUAL(v, 4294967346LL);
    CU_ASSERT(
        lt_cfgfile_int_of(config_setting_get_member(g, "low"), NULL, "", &v, err, sizeof err) == 0);
    CU_ASSERT_EQUAL(v, -4294967246LL);
    CU_ASSERT(lt_cfgfile_int_of(config_setting_get_member(g, "n"), NULL, "", &v, err, sizeof err) ==
              0);
    CU_ASSERT_EQUAL(v, 7);
    CU_ASSERT(lt_cfgfile_int_of(config_setting_get_member(g, "huge"), NULL, "group g: ", &v, err,
                                sizeof err) == -1);
    CU_ASSERT(strstr(err, ":3: group g: 'huge' is out of range, got -99999999999999999999") !=
              NULL);
    config_destroy(&c);
}

/* Settings of one name on one line (members of groups written on a line)
 * are each read from their own text: the second rate was read from the
 * first one's, so that 4294967296 passed as 5, and a name inside a string
 * or a comment was taken for a setting. (Found by fuzz_config.) */
static void test_same_name_one_line(void)
{
    char path[600], err[256] = "";
    s_file(path, sizeof path, "line.cfg",
           "apps = ( { name = \"rate = 9\"; rate = 5; }, { /* rate = 8 */ rate = 4294967296; },"
           " { rate = 0x100000007; } );\nx = { y = 1.5; }; y = 4294967298;\n");
    config_t c;
    config_init(&c);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, path, err, sizeof err) == 0);
    const config_setting_t *apps = config_lookup(&c, "apps");
    CU_ASSERT_FATAL(apps != NULL && config_setting_length(apps) == 3);
    static const long long want[] = {5, 4294967296LL, 4294967303LL};
    for (unsigned i = 0; i < 3; i++) {
        long long v = -1;
        const config_setting_t *rate =
            config_setting_get_member(config_setting_get_elem(apps, i), "rate");
        CU_ASSERT(lt_cfgfile_int_of(rate, NULL, "", &v, err, sizeof err) == 0);
        CU_ASSERT_EQUAL(v, want[i]);
    }
    CU_ASSERT_EQUAL(s_int(&c, "y"), 4294967298LL);
    config_destroy(&c);
}

/* libconfig says "duplicate setting name" without the name: it is added. */
static void test_duplicate_named(void)
{
    static const struct {
        const char *text;
        const char *want;
    } cases[] = {
        {"a = 1;\ncredit = 5;\ncredit = 6;\n", ":3: duplicate setting name 'credit'"},
        {"credit = 5;\nx = 1; credit = 6; # credit = 7\n", ":2: duplicate setting name 'credit'"},
        {"g = { n = 1;\n  s = \"n = 2\"; n : 3; };\n", ":2: duplicate setting name 'n'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[600], err[256] = "";
        s_file(path, sizeof path, "dup.cfg", cases[i].text);
        config_t c;
        config_init(&c);
        CU_ASSERT(lt_cfgfile_read(&c, path, err, sizeof err) == -1);
        if (!strstr(err, cases[i].want))
            fprintf(stderr, "\n  got \"%s\", want \"%s\"\n", err, cases[i].want);
        CU_ASSERT(strstr(err, cases[i].want) != NULL);
        config_destroy(&c);
    }
}

/* An element of a list is reported at its own line: libconfig records the
 * line of the token after it, the ']' below the last one. */
static void test_element_line(void)
{
    char path[600], err[256] = "";
    s_file(path, sizeof path, "elems.cfg", "l = [\n  \"a\",\n  \"b\"  # last\n\n];\n");
    config_t c;
    config_init(&c);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, path, err, sizeof err) == 0);
    const config_setting_t *l = config_lookup(&c, "l");
    CU_ASSERT_FATAL(l != NULL);
    lt_cfgfile_err(config_setting_get_elem(l, 0), NULL, err, sizeof err, "x");
    CU_ASSERT(strstr(err, "elems.cfg:2: x") != NULL);
    lt_cfgfile_err(config_setting_get_elem(l, 1), NULL, err, sizeof err, "x");
    CU_ASSERT(strstr(err, "elems.cfg:3: x") != NULL);
    config_destroy(&c);
    /* Comma first, the close on the last element's line: each element at
     * its own line, not the line above (a "b" was named at line 2). */
    s_file(path, sizeof path, "commas.cfg", "l = [ \"a\"\n  , \"b\" ]\n; n = [ 1\n , 12 ];\n");
    config_init(&c);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, path, err, sizeof err) == 0);
    CU_ASSERT_FATAL((l = config_lookup(&c, "l")) != NULL);
    lt_cfgfile_err(config_setting_get_elem(l, 0), NULL, err, sizeof err, "x");
    CU_ASSERT(strstr(err, "commas.cfg:1: x") != NULL);
    lt_cfgfile_err(config_setting_get_elem(l, 1), NULL, err, sizeof err, "x");
    CU_ASSERT(strstr(err, "commas.cfg:2: x") != NULL);
    CU_ASSERT_FATAL((l = config_lookup(&c, "n")) != NULL);
    lt_cfgfile_err(config_setting_get_elem(l, 0), NULL, err, sizeof err, "x");
    CU_ASSERT(strstr(err, "commas.cfg:3: x") != NULL);
    lt_cfgfile_err(config_setting_get_elem(l, 1), NULL, err, sizeof err, "x");
    CU_ASSERT(strstr(err, "commas.cfg:4: x") != NULL);
    config_destroy(&c);
}

/* Applications' rates on one line, one past 32 bits: each reads its own
 * number, and shows it as written. */
static void test_same_name_rates(void)
{
    char path[600], err[256] = "";
    s_file(path, sizeof path, "oneline.cfg",
           "apps = ({ name = \"a\"; rate = 5; }, { name = \"b\"; rate = 500; },"
           " { name = \"c\"; rate = 4294967346; });\n");
    config_t c;
    config_init(&c);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, path, err, sizeof err) == 0);
    const config_setting_t *apps = config_lookup(&c, "apps");
    CU_ASSERT_FATAL(apps != NULL && config_setting_length(apps) == 3);
    static const long long want[] = {5, 500, 4294967346LL};
    static const char *shown[] = {"5", "500", "4294967346"};
    for (int i = 0; i < 3; i++) {
        long long v = -1;
        char got[64];
        const config_setting_t *rate =
            config_setting_get_member(config_setting_get_elem(apps, (unsigned)i), "rate");
        CU_ASSERT(lt_cfgfile_int_of(rate, NULL, "", &v, err, sizeof err) == 0);
        CU_ASSERT_EQUAL(v, want[i]);
        CU_ASSERT_STRING_EQUAL(lt_cfgfile_shown(rate, got, sizeof got), shown[i]);
    }
    config_destroy(&c);
}

/* libconfig allows the value on a line after the '=', past blank lines
 * and comments: the number written there is read, not the 1000 that
 * libconfig kept of 4294968296. */
static void test_value_on_next_line(void)
{
    char path[600], err[256] = "";
    s_file(path, sizeof path, "next.cfg",
           "heartbeat_ms =\n  4294968296;\nb = # why\n\n /* c */ 7;\n"
           "s = \"c = x\"; c = 4294967297;\nd /* where is it? */ = 5;\n");
    config_t c;
    config_init(&c);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, path, err, sizeof err) == 0);
    CU_ASSERT_EQUAL(s_int(&c, "heartbeat_ms"), 4294968296LL);
    CU_ASSERT_EQUAL(s_int(&c, "b"), 7);
    CU_ASSERT_EQUAL(s_int(&c, "c"), 4294967297LL);
    long long v;
    CU_ASSERT(lt_cfgfile_int(&c, NULL, "heartbeat_ms", 0, 100, 60000, &v, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "got 4294968296") != NULL);
    /* A number this reader cannot find may be a wrapped one: refused. */
    CU_ASSERT(lt_cfgfile_int(&c, NULL, "d", 0, 0, 10, &v, err, sizeof err) == -1);
    CU_ASSERT(strstr(err, "'d': cannot find the number written for it") != NULL);
    config_destroy(&c);
}

/* The file is rewritten, then removed, after parsing: the values are those
 * of the text that was parsed. */
static void test_changed_on_disk(void)
{
    char path[600], err[256] = "";
    s_file(path, sizeof path, "changed.cfg", "a = 4294967296;\nb = 4294967297;\n");
    config_t c;
    config_init(&c);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, path, err, sizeof err) == 0);
    CU_ASSERT_FATAL(ut_write_text(path, "b = 8589934593;\na = 8589934592;\n") == 0);
    CU_ASSERT_EQUAL(s_int(&c, "a"), 4294967296LL);
    CU_ASSERT_EQUAL(s_int(&c, "b"), 4294967297LL);
    CU_ASSERT_FATAL(unlink(path) == 0);
    CU_ASSERT_EQUAL(s_int(&c, "a"), 4294967296LL);
    CU_ASSERT_EQUAL(s_int(&c, "b"), 4294967297LL);
    /* Read again, the configuration has the new file's text. */
    CU_ASSERT_FATAL(ut_write_text(path, "b = 8589934593;\na = 8589934592;\n") == 0);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, path, err, sizeof err) == 0);
    CU_ASSERT_EQUAL(s_int(&c, "a"), 8589934592LL);
    CU_ASSERT_EQUAL(s_int(&c, "b"), 8589934593LL);
    config_destroy(&c);
}

/* A setting of an @included file is read from that file's text, taken the
 * first time one of its settings is asked for and kept from then on. */
static void test_included(void)
{
    char main_path[600], inc[600], err[256] = "", text[700];
    s_file(inc, sizeof inc, "inc.cfg", "x = 1;\ninc_wide = 4294967298;\n");
    snprintf(text, sizeof text, "top = 4294967299;\n@include \"%s\"\n", inc);
    s_file(main_path, sizeof main_path, "main.cfg", text);
    config_t c;
    config_init(&c);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, main_path, err, sizeof err) == 0);
    CU_ASSERT_EQUAL(s_int(&c, "top"), 4294967299LL);
    CU_ASSERT_EQUAL(s_int(&c, "inc_wide"), 4294967298LL);
    CU_ASSERT_FATAL(ut_write_text(inc, "inc_wide = 5;\nx = 8589934594;\n") == 0);
    CU_ASSERT_EQUAL(s_int(&c, "inc_wide"), 4294967298LL);
    CU_ASSERT_EQUAL(s_int(&c, "x"), 1);
    config_destroy(&c);
}

/* lt_cfgfile_wipe leaves no byte of the string in libconfig's memory, and
 * leaves a setting absent or not a string as it was. */
static void test_wipe(void)
{
    char path[600], err[256] = "";
    s_file(path, sizeof path, "secret.cfg",
           "database = \"postgresql://agency:Sekret-pw-42@db.example/pop\";\nn = 1;\n");
    config_t c;
    config_init(&c);
    CU_ASSERT_FATAL(lt_cfgfile_read(&c, path, err, sizeof err) == 0);
    const char *v = NULL;
    CU_ASSERT_FATAL(config_lookup_string(&c, "database", &v) == CONFIG_TRUE);
    size_t n = strlen(v);
    CU_ASSERT_FATAL(n > 0);
    lt_cfgfile_wipe(&c, "database");
    for (size_t k = 0; k < n; k++)
        CU_ASSERT_EQUAL(v[k], 0);
    lt_cfgfile_wipe(&c, "missing");
    lt_cfgfile_wipe(&c, "n");
    CU_ASSERT_EQUAL(s_int(&c, "n"), 1);
    config_destroy(&c);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"past 32 bits without L: the value as written", test_past_32_bits},
        {"the value on a line after the '=': the value as written", test_value_on_next_line},
        {"a file changed or removed after parsing: the parsed text's values", test_changed_on_disk},
        {"an @included file: its text, kept from the first look", test_included},
        {"a secret setting wiped in libconfig's memory", test_wipe},
        {"errors quote numbers as written; a group's member read as written",
         test_quoted_as_written},
        {"a duplicate setting is named", test_duplicate_named},
        {"an element of a list at its own line", test_element_line},
        {"settings of one name on one line: each read from its own text", test_same_name_one_line},
        {"applications' rates on one line: each its own, shown as written", test_same_name_rates},
        {NULL, NULL},
    };
    return ut_main("lt_cfgfile", suite_init, suite_clean, tests);
}

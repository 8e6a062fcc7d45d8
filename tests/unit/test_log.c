/* test_log: CUnit suite for core/lt_log: the tags on every line (program,
 * member, dataset), levels, the text and JSON formats (one object per line,
 * hostile strings escaped), and syslog priorities only when stderr is the
 * stream $JOURNAL_STREAM names. Output is captured by pointing stderr at a
 * temporary file. */
#include "unit_util.h"

#include "lt_log.h"

#include <jansson.h>
#include <pthread.h>

static char g_dir[512];
static char g_path[600];
static int g_saved = -1;

static int suite_init(void)
{
    if (ut_mkdtemp(g_dir, sizeof g_dir, "log") != 0)
        return -1;
    snprintf(g_path, sizeof g_path, "%s/stderr", g_dir);
    g_saved = dup(2);
    return g_saved < 0 ? -1 : 0;
}

static int suite_clean(void)
{
    if (g_saved >= 0)
        dup2(g_saved, 2);
    return ut_rmrf(g_dir);
}

/* Points stderr at a fresh file; returns its "dev:ino" in js. */
static void capture(char *js, size_t cap)
{
    int fd = open(g_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(dup2(fd, 2) == 2);
    close(fd);
    struct stat st;
    CU_ASSERT_FATAL(fstat(2, &st) == 0);
    snprintf(js, cap, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
}

/* Restores stderr and reads what was captured into out. */
static void captured(char *out, size_t cap)
{
    ut_captured(g_saved, g_path, out, cap);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void reset(void)
{
    unsetenv("JOURNAL_STREAM");
    lt_log_set_program("lienthong-gateway");
    lt_log_set_member("VN/PROV/38");
    lt_log_set_dataset(NULL);
    lt_log_set_level(LT_LOG_INFO);
    lt_log_set_format(LT_LOG_TEXT);
}

static void test_text_tags_and_levels(void)
{
    char js[64], out[4096];
    reset();
    capture(js, sizeof js);
    lt_debug("peer", "hidden %d", 1);
    lt_info("peer", "hello from %s", "VN/GOV/BCA");
    lt_warn("link", "two\nlines");
    captured(out, sizeof out);
    CU_ASSERT(strstr(out, "hidden") == NULL);
    CU_ASSERT(
        strstr(out, " INFO lienthong-gateway member=VN/PROV/38 peer: hello from VN/GOV/BCA\n") !=
        NULL);
    CU_ASSERT(strstr(out, " WARN lienthong-gateway member=VN/PROV/38 link: two lines\n") != NULL);
    CU_ASSERT_EQUAL(count_lines(out), 2);
    CU_ASSERT(out[0] >= '2' && out[0] <= '9' && strstr(out, "Z INFO") != NULL);
    CU_ASSERT(strstr(out, "dataset=") == NULL);
}

static void test_adapter_dataset_tag(void)
{
    char js[64], out[4096];
    reset();
    lt_log_set_program("lienthong-source");
    lt_log_set_member("VN/GOV/BCA");
    lt_log_set_dataset("VN/GOV/BCA/population");
    lt_log_set_level(LT_LOG_DEBUG);
    capture(js, sizeof js);
    lt_debug("source", "ack");
    captured(out, sizeof out);
    CU_ASSERT(strstr(out, " DEBUG lienthong-source member=VN/GOV/BCA "
                          "dataset=VN/GOV/BCA/population source: ack\n") != NULL);
}

static void test_journal_priorities(void)
{
    char js[64], out[4096];
    reset();
    lt_log_set_level(LT_LOG_DEBUG);
    capture(js, sizeof js);
    setenv("JOURNAL_STREAM", js, 1);
    CU_ASSERT(lt_log_to_journal());
    lt_debug("c", "d");
    lt_info("c", "i");
    lt_warn("c", "w");
    lt_error("c", "e");
    captured(out, sizeof out);
    CU_ASSERT_STRING_EQUAL(out, "<7>DEBUG lienthong-gateway member=VN/PROV/38 c: d\n"
                                "<6>INFO lienthong-gateway member=VN/PROV/38 c: i\n"
                                "<4>WARN lienthong-gateway member=VN/PROV/38 c: w\n"
                                "<3>ERROR lienthong-gateway member=VN/PROV/38 c: e\n");
    /* inherited by a process whose stderr is elsewhere: not believed */
    setenv("JOURNAL_STREAM", "1:2", 1);
    capture(js, sizeof js);
    lt_info("c", "plain");
    captured(out, sizeof out);
    CU_ASSERT(out[0] != '<' && strstr(out, "INFO lienthong-gateway") != NULL);
    unsetenv("JOURNAL_STREAM");
}

static void test_json_lines(void)
{
    char js[64], out[8192];
    reset();
    lt_log_set_format(LT_LOG_JSON);
    lt_log_set_dataset("VN/GOV/BCA/population.p38");
    capture(js, sizeof js);
    lt_info("sink",
            "quote \" backslash \\ tab \t newline \n bad utf8 \xff\xfe end Nguy\xe1\xbb\x85n");
    lt_warn("sink", "second");
    captured(out, sizeof out);
    CU_ASSERT_EQUAL_FATAL(count_lines(out), 2);
    char *nl = strchr(out, '\n');
    *nl = '\0';
    json_error_t e;
    json_t *o = json_loads(out, 0, &e);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "level")), "info");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "program")), "lienthong-gateway");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "member")), "VN/PROV/38");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "dataset")),
                           "VN/GOV/BCA/population.p38");
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "component")), "sink");
    CU_ASSERT(json_string_value(json_object_get(o, "time"))[4] == '-');
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(o, "message")),
        "quote \" backslash \\ tab \t newline   bad utf8 \xef\xbf\xbd\xef\xbf\xbd"
        " end Nguy\xe1\xbb\x85n");
    json_decref(o);
    o = json_loads(nl + 1, 0, &e);
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "level")), "warn");
    json_decref(o);
}

/* No control character but the line's end reaches the file: a request
 * field echoed in a message (an unknown JSON member's name) carried a
 * terminal's escape sequences, which a `tail -f` of the log ran. */
static int only_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\n') || *p == 0x7f)
            return 0;
    return 1;
}

static void test_controls_escaped(void)
{
    static const char *hostile = "x\x1b]0;pwned\x07\x1b[2K\rFAKE\ttab\x7f\x01 end";
    char js[64], out[4096];
    reset();
    capture(js, sizeof js);
    lt_warn("api", "body: %s: unknown member", hostile);
    captured(out, sizeof out);
    CU_ASSERT_EQUAL(count_lines(out), 1);
    CU_ASSERT(only_printable(out));
    CU_ASSERT(strstr(out, " api: body: x\\x1b]0;pwned\\x07\\x1b[2K FAKE\\x09tab\\x7f\\x01 end: "
                          "unknown member\n") != NULL);
    lt_log_set_format(LT_LOG_JSON);
    capture(js, sizeof js);
    lt_warn("api", "body: %s: unknown member", hostile);
    captured(out, sizeof out);
    CU_ASSERT_EQUAL(count_lines(out), 1);
    CU_ASSERT(only_printable(out));
    CU_ASSERT(strstr(out, "\\u001b]0;pwned\\u0007\\u001b[2K FAKE\\u0009tab\\u007f\\u0001 end") !=
              NULL);
    /* C1 controls (U+0080..U+009F: valid UTF-8) drive terminals too: the
     * 8-bit CSI here would clear the screen. */
    capture(js, sizeof js);
    lt_warn("api", "csi \xc2\x9b"
                   "2J end");
    captured(out, sizeof out);
    CU_ASSERT(strstr(out, "csi \\u009b2J end") != NULL);
    lt_log_set_format(LT_LOG_TEXT);
    capture(js, sizeof js);
    lt_warn("api", "csi \xc2\x9b"
                   "2J end");
    captured(out, sizeof out);
    CU_ASSERT(strstr(out, "csi \\xc2\\x9b2J end") != NULL);
}

/* lt_log_escape alone, as `lienthong ping` prints a peer's text: controls
 * (C0, DEL, C1) as \xNN, a backslash as \\, bytes that are not UTF-8 as
 * '?', plain text and other characters kept; cut at the end of out, a
 * character cut there shown as '?', never written past cap. */
static void test_escape(void)
{
    char out[64];
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, sizeof out, "VN/GOV/BCA\x1b[31m\nx\r\x07"),
                           "VN/GOV/BCA\\x1b[31m\\x0ax\\x0d\\x07");
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, sizeof out,
                                         "B\xe1\xbb\x99 \xc2\x9b"
                                         "2J \x7f \xff\xc3"),
                           "B\xe1\xbb\x99 \\xc2\\x9b2J \\x7f ??");
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, sizeof out, ""), "");
    /* A backslash doubled: text that spells an escape reads apart from one. */
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, sizeof out, "a\\x1b \x1b \\"), "a\\\\x1b \\x1b \\\\");
    memset(out, 'z', sizeof out);
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, 6, "abcd\xe1\xbb\x99"), "abcd?");
    CU_ASSERT(out[6] == 'z');
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, 8, "abcd\xe1\xbb\x99"), "abcd\xe1\xbb\x99");
    /* A small buffer holds what fits, whole pieces only: an escape is
     * never cut into text. */
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, 5, "abc"), "abc");
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, 3, "abc"), "ab");
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, 5, "a\x1b"), "a");
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, 6, "a\x1b"), "a\\x1b");
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, 2, "\\"), "");
    CU_ASSERT_STRING_EQUAL(lt_log_escape(out, 1, "abc"), "");
}

static void *s_logger(void *arg)
{
    for (int i = 0; i < 200; i++)
        lt_warn("logger", "line %d", i);
    return arg;
}

/* 1 when line is one whole line of the logger's, in either format. */
static int whole_line(const char *line)
{
    if (line[0] != '{')
        return strstr(line, " WARN lienthong-gateway member=VN/PROV/38 logger: line ") != NULL;
    json_error_t e;
    json_t *o = json_loads(line, 0, &e);
    const char *m = json_string_value(json_object_get(o, "message"));
    int ok = m && strncmp(m, "line ", 5) == 0;
    json_decref(o);
    return ok;
}

/* A reload sets the level and format on the poll loop while the other
 * threads log: under ThreadSanitizer (LT_TSAN) plain globals there were a
 * data race; every line stays whole in one format or the other. */
static void test_set_while_another_thread_logs(void)
{
    char js[64], out[65536];
    reset();
    capture(js, sizeof js);
    pthread_t t;
    CU_ASSERT_FATAL(pthread_create(&t, NULL, s_logger, NULL) == 0);
    for (int i = 0; i < 200; i++) {
        lt_log_set_level(i % 2 ? LT_LOG_DEBUG : LT_LOG_INFO);
        lt_log_set_format(i % 3 ? LT_LOG_TEXT : LT_LOG_JSON);
    }
    pthread_join(t, NULL);
    captured(out, sizeof out);
    CU_ASSERT_EQUAL(count_lines(out), 200);
    int whole = 0;
    for (char *l = out, *nl; (nl = strchr(l, '\n')); l = nl + 1) {
        *nl = '\0';
        whole += whole_line(l);
    }
    CU_ASSERT_EQUAL(whole, 200);
}

static void test_parse(void)
{
    lt_log_level_t l;
    lt_log_format_t f;
    CU_ASSERT(lt_log_parse_level("warn", &l) == 0 && l == LT_LOG_WARN);
    CU_ASSERT(lt_log_parse_level("WARN", &l) == -1);
    CU_ASSERT(lt_log_parse_format("json", &f) == 0 && f == LT_LOG_JSON);
    CU_ASSERT(lt_log_parse_format("text", &f) == 0 && f == LT_LOG_TEXT);
    CU_ASSERT(lt_log_parse_format("syslog", &f) == -1);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"text: program and member on every line, levels", test_text_tags_and_levels},
        {"text: adapters carry their dataset", test_adapter_dataset_tag},
        {"journal: syslog priorities, no timestamp", test_journal_priorities},
        {"json: one valid object per line, escaped", test_json_lines},
        {"text and json: control characters escaped, none reaches the file", test_controls_escaped},
        {"level and format names", test_parse},
        {"lt_log_escape: controls as \\xNN, backslash doubled, bad bytes as '?', cut within cap",
         test_escape},
        {"level and format set while another thread logs", test_set_while_another_thread_logs},
        {NULL, NULL},
    };
    return ut_main("lt_log", suite_init, suite_clean, tests);
}

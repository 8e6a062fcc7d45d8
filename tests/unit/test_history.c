/* test_history: CUnit suite for gateway/lt_history (PROTOCOL.md 6.9): the
 * high-water file lists the owned streams with their history and last seq
 * (not replicas, subscribed or no longer, not resync copies); at start a stream that the store
 * holds less of, or on another history, gets a new history, others keep theirs; lienthong restore's
 * rotation renews every owned stream. */
#include "unit_sqlite.h"

#include "lt_file.h"
#include "lt_gwcfg.h"
#include "lt_history.h"
#include "lt_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define OWNED "VN/GOV/BCA/population"
#define VIEW  "VN/GOV/BCA/population.p38"
#define REPL  "VN/PROV/38/households"
#define COPY  LT_HISTORY_SHADOW_PREFIX REPL
/* A replica whose subscription was removed: still another member's. */
#define DROPPED "VN/GOV/BHXH/insured"

static char g_dir[256], g_path[300];
static lt_gwcfg_t g_cfg;

static int suite_init(void)
{
    if (ut_mkdtemp(g_dir, sizeof g_dir, "history") != 0)
        return -1;
    snprintf(g_path, sizeof g_path, "%s/store.db", g_dir);
    snprintf(g_cfg.data_dir, sizeof g_cfg.data_dir, "%s", g_dir);
    snprintf(g_cfg.member, sizeof g_cfg.member, "VN/GOV/BCA");
    snprintf(g_cfg.subs[0].stream, sizeof g_cfg.subs[0].stream, "%s", REPL);
    g_cfg.n_subs = 1;
    return 0;
}

static int suite_clean(void)
{
    return ut_rmrf(g_dir);
}

/* Creates stream name at last_seq with a random history; returns the row. */
static lt_stream_t s_make(lt_store_t *s, const char *name, uint64_t last_seq)
{
    lt_stream_t st;
    CU_ASSERT_FATAL(lt_store_stream(s, name, &st) == 0);
    st.last_seq = last_seq;
    CU_ASSERT_FATAL(lt_store_stream_save(s, &st) == 0);
    CU_ASSERT_FATAL(lt_store_history_set(s, st.id, NULL, &st) == 0);
    return st;
}

static lt_stream_t s_get(lt_store_t *s, const char *name)
{
    lt_stream_t st;
    memset(&st, 0, sizeof st);
    CU_ASSERT(lt_store_stream_find(s, name, &st) == 1);
    return st;
}

static char *s_file(void)
{
    char path[400];
    snprintf(path, sizeof path, "%s/history", g_dir);
    uint8_t *data = NULL;
    size_t size = 0;
    return lt_file_read(path, 1 << 20, &data, &size) == 0 ? (char *)data : NULL;
}

static void test_owned(void)
{
    CU_ASSERT(lt_history_owned(&g_cfg, OWNED));
    CU_ASSERT(!lt_history_owned(&g_cfg, REPL));
    CU_ASSERT(!lt_history_owned(&g_cfg, COPY));
    CU_ASSERT(!lt_history_owned(&g_cfg, DROPPED));
    CU_ASSERT(!lt_history_owned(&g_cfg, "VN/GOV/BCAX/population")); /* a longer member id */
    CU_ASSERT(!lt_history_owned(&g_cfg, "VN/GOV/BCA/"));
    char hex[LT_HISTORY_HEX];
    uint8_t id[16];
    for (int i = 0; i < 16; i++)
        id[i] = (uint8_t)(i * 17);
    CU_ASSERT_STRING_EQUAL(lt_history_hex(id, 1, hex), "00112233445566778899aabbccddeeff");
    CU_ASSERT_STRING_EQUAL(lt_history_hex(id, 0, hex), "none");
}

static void test_check_and_rotate(void)
{
    char err[512] = "", hex[LT_HISTORY_HEX];
    lt_store_t *s = lt_store_open(g_path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    lt_stream_t own = s_make(s, OWNED, 10), view = s_make(s, VIEW, 4), rep = s_make(s, REPL, 7);
    lt_stream_t dropped = s_make(s, DROPPED, 5);
    (void)s_make(s, COPY, 2);
    CU_ASSERT_FATAL(lt_history_save(s, &g_cfg, err, sizeof err) == 0);
    char *text = s_file();
    CU_ASSERT_FATAL(text != NULL);
    char line[128];
    snprintf(line, sizeof line, OWNED " %s 10\n", lt_history_hex(own.history, 1, hex));
    CU_ASSERT(strstr(text, line) != NULL);
    CU_ASSERT(strstr(text, VIEW " ") != NULL);
    CU_ASSERT(strstr(text, REPL) == NULL); /* neither the replica nor its copy */
    CU_ASSERT(strstr(text, DROPPED) == NULL);
    free(text);

    /* Nothing behind: every history stays. */
    CU_ASSERT(lt_history_check(s, &g_cfg, NULL, err, sizeof err) == 0);
    CU_ASSERT(memcmp(s_get(s, OWNED).history, own.history, 16) == 0);

    /* The owned stream rolled back to 8 (a restored store): a new history
     * for it alone; the file follows. */
    own.last_seq = 8;
    CU_ASSERT(lt_store_stream_save(s, &own) == 0);
    CU_ASSERT(lt_history_check(s, &g_cfg, NULL, err, sizeof err) == 0);
    lt_stream_t now = s_get(s, OWNED);
    CU_ASSERT(now.has_history && memcmp(now.history, own.history, 16) != 0);
    CU_ASSERT(memcmp(s_get(s, VIEW).history, view.history, 16) == 0);
    CU_ASSERT(memcmp(s_get(s, REPL).history, rep.history, 16) == 0);
    text = s_file();
    snprintf(line, sizeof line, OWNED " %s 8\n", lt_history_hex(now.history, 1, hex));
    CU_ASSERT(text && strstr(text, line) != NULL);
    free(text);

    /* Another history at the same seq (a store copied from elsewhere). */
    uint8_t other[16] = {1};
    CU_ASSERT(lt_store_history_set(s, view.id, other, NULL) == 0);
    CU_ASSERT(lt_history_check(s, &g_cfg, NULL, err, sizeof err) == 0);
    lt_stream_t v = s_get(s, VIEW);
    CU_ASSERT(memcmp(v.history, other, 16) != 0 && memcmp(v.history, view.history, 16) != 0);

    /* Restore: every owned stream, and only those. */
    lt_stream_t before = s_get(s, OWNED);
    CU_ASSERT_EQUAL(lt_history_rotate(s, &g_cfg, NULL, NULL, err, sizeof err), 2);
    CU_ASSERT(memcmp(s_get(s, OWNED).history, before.history, 16) != 0);
    CU_ASSERT(memcmp(s_get(s, REPL).history, rep.history, 16) == 0);
    CU_ASSERT(memcmp(s_get(s, DROPPED).history, dropped.history, 16) == 0);
    lt_store_destroy(&s);
}

/* Writes the high-water file: VIEW's true line, then owned_line. */
static void s_write(lt_store_t *s, const char *owned_line)
{
    char path[400], hex[LT_HISTORY_HEX], text[1024];
    lt_stream_t v = s_get(s, VIEW);
    snprintf(path, sizeof path, "%s/history", g_dir);
    snprintf(text, sizeof text, "# test\n" VIEW " %s %llu\n%s\n", lt_history_hex(v.history, 1, hex),
             (unsigned long long)v.last_seq, owned_line);
    CU_ASSERT_FATAL(lt_file_write_atomic(path, text, strlen(text), 0600) == 0);
}

/* The file is written through a temporary name beside it
 * (lt_file_write_atomic): a link planted at that name is replaced, never
 * written through. Before, the text went to the file the link named. */
static void test_write_no_follow(void)
{
    char path[400], tmp[440], target[400], buf[64] = "";
    snprintf(path, sizeof path, "%s/linked", g_dir);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    snprintf(target, sizeof target, "%s/target", g_dir);
    FILE *f = fopen(target, "w");
    CU_ASSERT_FATAL(f && fputs("kept\n", f) >= 0 && fclose(f) == 0);
    CU_ASSERT_FATAL(symlink(target, tmp) == 0);
    CU_ASSERT_FATAL(lt_file_write_atomic(path, "new\n", 4, 0600) == 0);
    f = fopen(target, "r");
    CU_ASSERT_FATAL(f != NULL);
    CU_ASSERT(fgets(buf, sizeof buf, f) && strcmp(buf, "kept\n") == 0);
    fclose(f);
    struct stat st;
    CU_ASSERT(lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 4);
    CU_ASSERT(lstat(tmp, &st) != 0);
}

/* A line of the high-water file that does not read is no alibi: the stream
 * it names is treated as rolled back (a new history), and a line whose
 * stream cannot be read at all casts doubt on every owned stream. Each
 * case below either hides a rollback (the store is at 8, the line at 10)
 * or writes the true history in a form the writer never uses. */
static void test_damaged_lines(void)
{
    char err[512] = "", hex[LT_HISTORY_HEX], line[256];
    lt_store_t *s = lt_store_open(g_path, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    uint8_t h0f[16] = {0x0f, 1, 2, 3};
    lt_stream_t own = s_make(s, OWNED, 8);
    CU_ASSERT_FATAL(lt_store_history_set(s, own.id, h0f, &own) == 0);
    lt_history_hex(own.history, 1, hex);
    char plus[LT_HISTORY_HEX];
    snprintf(plus, sizeof plus, "+f%s", hex + 2); /* "0f..." as "+f..." */
    /* label, then the line: start, history (NULL: the true one), end */
    const char *cases[][4] = {
        {"not hex", OWNED " ", "zz112233445566778899aabbccddeeff", " 10"},
        {"seq not a number", OWNED " ", NULL, " ten"},
        {"no seq", OWNED " ", NULL, ""},
        {"seq followed by more", OWNED " ", NULL, " 8 extra"},
        {"a signed hex digit", OWNED " ", plus, " 8"},
        {"no stream name", " ", NULL, " 10"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(line, sizeof line, "%s%s%s", cases[i][1], cases[i][2] ? cases[i][2] : hex,
                 cases[i][3]);
        s_write(s, line);
        lt_stream_t before = s_get(s, OWNED), view = s_get(s, VIEW);
        CU_ASSERT(lt_history_check(s, &g_cfg, NULL, err, sizeof err) == 0);
        lt_stream_t after = s_get(s, OWNED);
        if (memcmp(after.history, before.history, 16) == 0)
            fprintf(stderr, "\n  case '%s' (line \"%s\"): no new history\n", cases[i][0], line);
        CU_ASSERT(memcmp(after.history, before.history, 16) != 0);
        /* Only the line without a name casts doubt on VIEW's true line. */
        CU_ASSERT((memcmp(s_get(s, VIEW).history, view.history, 16) != 0) == (i == 5));
        /* Put the 0x0f history back for the next case. */
        CU_ASSERT_FATAL(lt_store_history_set(s, own.id, h0f, &own) == 0);
    }
    lt_store_destroy(&s);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"owned streams and hex ids", test_owned},
        {"a stream behind the high-water file gets a new history, no other", test_check_and_rotate},
        {"a damaged line of the high-water file renews what it names", test_damaged_lines},
        {"the file is written anew, never through a link at its temporary name",
         test_write_no_follow},
        {NULL, NULL},
    };
    return ut_main("lt_history", suite_init, suite_clean, tests);
}

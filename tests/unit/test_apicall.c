/* test_apicall: CUnit suite for api/lt_apicall's failures whose detail is
 * the operator's (lt_apicall_unshown, lt_apicall_fail): the answer says
 * only that the log has it, and the log gets the first of a code and
 * detail in full, then counts (docs/operations.md, "Limits of the HTTP
 * API"), so that requests failing the same way cannot fill the disk. Log
 * lines are captured by pointing stderr at a temporary file. */
#include "unit_util.h"

#include "lt_apicall.h"
#include "lt_profjson.h"

#include <jansson.h>

static char s_dir[256], s_err[300];
static int s_saved = -1;

static int suite_init(void)
{
    if (ut_mkdtemp(s_dir, sizeof s_dir, "apicall") != 0)
        return -1;
    snprintf(s_err, sizeof s_err, "%s/stderr", s_dir);
    s_saved = dup(2);
    return s_saved < 0 ? -1 : 0;
}

static int suite_clean(void)
{
    if (s_saved >= 0)
        dup2(s_saved, 2);
    return ut_rmrf(s_dir);
}

/* A fresh capture of stderr and calls to a gateway that is not there,
 * summed up every minute (the destroy writes the counts). */
static lt_apicall_t *s_start(void)
{
    int fd = open(s_err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CU_ASSERT_FATAL(fd >= 0);
    CU_ASSERT_FATAL(dup2(fd, 2) == 2);
    close(fd);
    char sock[300];
    snprintf(sock, sizeof sock, "%s/nowhere.sock", s_dir);
    lt_apicall_t *c = lt_apicall_new(sock, 4, 60000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    return c;
}

/* The message of out's body, which it frees. */
static void s_answered(lt_apicall_out_t *out, int status, const char *code)
{
    CU_ASSERT_EQUAL(out->status, status);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(out->body, "error")), code);
    const char *msg = json_string_value(json_object_get(out->body, "message"));
    CU_ASSERT(msg && strstr(msg, "the API's log says why") && !strstr(msg, "payload"));
    json_decref(out->body);
}

static void test_unshown_summed_up(void)
{
    static char out[65536];
    lt_apicall_t *c = s_start();
    for (int i = 0; i < 50; i++) {
        lt_apicall_out_t o = {0};
        lt_apicall_unshown(c, &o, LT_PROFJSON_UNDECODABLE, "lookup in DS answered by O: payload");
        s_answered(&o, 502, "BAD_ANSWER");
    }
    lt_apicall_out_t o = {0};
    lt_apicall_unshown(c, &o, LT_PROFJSON_NOMEM, "profile for purpose KYC: out of memory");
    s_answered(&o, 500, "INTERNAL");
    lt_apicall_destroy(&c);
    ut_captured(s_saved, s_err, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 3);
    CU_ASSERT_EQUAL(ut_lines(out, "502 BAD_ANSWER: lookup in DS answered by O: payload; others"),
                    1);
    CU_ASSERT_EQUAL(ut_lines(out, "49 more calls failed with 502 BAD_ANSWER in"), 1);
    CU_ASSERT_EQUAL(ut_lines(out, "500 INTERNAL: profile for purpose KYC: out of memory"), 1);
}

static void test_fail_summed_up(void)
{
    static char out[65536];
    lt_apicall_t *c = s_start();
    for (int i = 0; i < 20; i++) {
        lt_apicall_out_t o;
        lt_apicall_fail(c, &o, 503, "directory", "DIRECTORY_UNAVAILABLE", "datasets: /x: no file");
        CU_ASSERT_STRING_EQUAL(o.reason, "directory");
        s_answered(&o, 503, "DIRECTORY_UNAVAILABLE");
    }
    lt_apicall_destroy(&c);
    ut_captured(s_saved, s_err, out, sizeof out);
    CU_ASSERT_EQUAL(ut_lines(out, NULL), 2);
    CU_ASSERT_EQUAL(ut_lines(out, "19 more calls failed with 503 DIRECTORY_UNAVAILABLE in"), 1);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"answers that cannot be shown: fixed message, the log's lines summed up",
         test_unshown_summed_up},
        {"a failure of the API's own (no directory): fixed message, summed up",
         test_fail_summed_up},
        {NULL, NULL},
    };
    return ut_main("lt_apicall", suite_init, suite_clean, tests);
}

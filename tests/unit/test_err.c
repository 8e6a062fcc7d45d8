/* test_err: CUnit suite for core/lt_err: the message formatted into the
 * caller's buffer, cut to fit and terminated, nothing written without a
 * buffer, and -1 returned in every case. */
#include "unit_util.h"

#include "lt_err.h"

static void test_formats(void)
{
    char err[64];
    CU_ASSERT_EQUAL(lt_err_set(err, sizeof err, "table %s: %d rows", "citizens", 42), -1);
    CU_ASSERT_STRING_EQUAL(err, "table citizens: 42 rows");
}

static void test_cut_to_fit(void)
{
    char err[8];
    memset(err, 'x', sizeof err);
    CU_ASSERT_EQUAL(lt_err_set(err, sizeof err, "%s", "a message longer than eight"), -1);
    CU_ASSERT_STRING_EQUAL(err, "a messa");
    /* One byte holds the terminator alone. */
    char one[2] = {'x', 'y'};
    CU_ASSERT_EQUAL(lt_err_set(one, 1, "anything"), -1);
    CU_ASSERT_EQUAL(one[0], '\0');
    CU_ASSERT_EQUAL(one[1], 'y');
}

static void test_no_buffer(void)
{
    CU_ASSERT_EQUAL(lt_err_set(NULL, 0, "no buffer %d", 1), -1);
    CU_ASSERT_EQUAL(lt_err_set(NULL, 64, "no buffer %d", 2), -1);
    char err[4] = "abc";
    CU_ASSERT_EQUAL(lt_err_set(err, 0, "not written"), -1);
    CU_ASSERT_STRING_EQUAL(err, "abc");
}

/* A helper of a module's own that returns a code, as lt_client's do. */
static int s_code(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int s_code(char *err, size_t errlen, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = lt_err_vset(err, errlen, fmt, ap);
    va_end(ap);
    return rc == -1 ? code : 0;
}

static void test_vset(void)
{
    char err[16];
    CU_ASSERT_EQUAL(s_code(err, sizeof err, 7, "code %d of %s", 7, "a module's own"), 7);
    CU_ASSERT_STRING_EQUAL(err, "code 7 of a mod");
    CU_ASSERT_EQUAL(s_code(NULL, 0, 3, "nothing"), 3);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"the message and -1", test_formats},
        {"cut to the buffer, always terminated", test_cut_to_fit},
        {"NULL or empty buffer: nothing written, still -1", test_no_buffer},
        {"lt_err_vset for helpers that return a code", test_vset},
        {NULL, NULL},
    };
    return ut_main("lt_err", NULL, NULL, tests);
}

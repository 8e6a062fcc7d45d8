/* test_audit: CUnit suite for lt_audit, the hash-chained audit log with
 * signed checkpoints: entries chain and verify; editing, deleting or
 * truncating entries, or a checkpoint signed by another key, is detected. */
#include "unit_util.h"

#include "lt_audit.h"

#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>

static char s_dir[256], s_path[300];

static lt_keys_t *s_fill(int n)
{
    lt_keys_t *k = lt_keys_new(LT_KEYS_MEMBER);
    char err[256], key[32];
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "0380000000%02d", i % 7);
        lt_audit_add(a, &(lt_audit_entry_t){.event = "lookup", .peer = "VN/GOV/BHXH",
                                            .target = "VN/GOV/BCA/population", .subject = key,
                                            .fields = "full_name", .purpose = "SOCIAL-INSURANCE",
                                            .case_ref = "HS-1", .detail = "ERR_NONE"});
        if (i % 10 == 9)
            CU_ASSERT(lt_audit_flush(a, 1) == 0);
    }
    lt_audit_destroy(&a); /* flushes the rest */
    CU_ASSERT_PTR_NULL(a);
    return k;
}

static int s_exec(const char *sql)
{
    sqlite3 *db;
    int rc = sqlite3_open(s_path, &db) == SQLITE_OK &&
             sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    return rc ? 0 : -1;
}

static void s_fresh(void)
{
    ut_rmrf(s_dir);
    CU_ASSERT_FATAL(ut_mkdtemp(s_dir, sizeof s_dir, "audit") == 0);
    snprintf(s_path, sizeof s_path, "%s/audit.db", s_dir);
}

static void test_chain_verifies(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    char err[256];
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == 25);
    /* Reopening continues the chain. */
    lt_audit_t *a = lt_audit_open(s_path, k, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    lt_audit_add(a, &(lt_audit_entry_t){.event = "refused", .peer = "VN/COM/X", .detail = "no"});
    lt_audit_destroy(&a);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == 26);
    lt_keys_destroy(&k);
}

static void test_edit_detected(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    char err[256];
    CU_ASSERT(s_exec("UPDATE audit SET purpose = 'MARKETING' WHERE seq = 7") == 0);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "entry 7"));
    lt_keys_destroy(&k);
}

static void test_delete_detected(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    char err[256];
    CU_ASSERT(s_exec("DELETE FROM audit WHERE seq = 12") == 0);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == -1);
    lt_keys_destroy(&k);
}

static void test_truncation_detected(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    char err[256];
    CU_ASSERT(s_exec("DELETE FROM audit WHERE seq > 22") == 0);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "removed"));
    lt_keys_destroy(&k);
}

static void test_rewritten_chain_detected(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25);
    lt_keys_t *other = lt_keys_new(LT_KEYS_MEMBER);
    char err[256];
    /* Checkpoints only verify under the gateway's own key. */
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(other), err, sizeof err) == -1);
    lt_keys_destroy(&other);
    lt_keys_destroy(&k);
}


/* After a key rotation the log holds checkpoints of both keys: it verifies
 * under the two, not under either alone, nor with a stranger's key. */
static void test_rotated_keys(void)
{
    s_fresh();
    lt_keys_t *k = s_fill(25), *next = lt_keys_new(LT_KEYS_MEMBER);
    lt_keys_t *other = lt_keys_new(LT_KEYS_MEMBER);
    CU_ASSERT_FATAL(next && other);
    char err[256];
    lt_audit_t *a = lt_audit_open(s_path, next, err, sizeof err);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    lt_audit_add(a, &(lt_audit_entry_t){.event = "keys-switched", .peer = "VN/GOV/BCA"});
    lt_audit_destroy(&a);
    const uint8_t *both[2] = {lt_keys_signing_public(next), lt_keys_signing_public(k)};
    const uint8_t *wrong[2] = {lt_keys_signing_public(next), lt_keys_signing_public(other)};
    CU_ASSERT(lt_audit_verify_keys(s_path, both, 2, err, sizeof err) == 26);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(next), err, sizeof err) == -1);
    CU_ASSERT(lt_audit_verify(s_path, lt_keys_signing_public(k), err, sizeof err) == -1);
    CU_ASSERT(lt_audit_verify_keys(s_path, wrong, 2, err, sizeof err) == -1);
    lt_keys_destroy(&other);
    lt_keys_destroy(&next);
    lt_keys_destroy(&k);
}

int main(void)
{
    if (sodium_init() < 0)
        return 2;
    static const ut_test_t tests[] = {
        {"entries chain, verify, and continue after reopening", test_chain_verifies},
        {"an edited entry breaks the chain at that entry", test_edit_detected},
        {"a deleted entry is detected", test_delete_detected},
        {"a cut-off tail is detected by the last checkpoint", test_truncation_detected},
        {"checkpoints verify only under the gateway's key", test_rewritten_chain_detected},
        {"after a key rotation, checkpoints verify under both keys", test_rotated_keys},
        {NULL, NULL},
    };
    int rc = ut_main("lt_audit", NULL, NULL, tests);
    ut_rmrf(s_dir);
    return rc;
}

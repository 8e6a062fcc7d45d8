/* test_offers: CUnit suite for gateway/lt_offers, the back-off per member
 * for refused directory offers: none before a refusal; 1 s after the first,
 * doubled at each refusal up to the cap; an adoption ends it; members are
 * held back apart; past the bound of remembered members nobody new is held
 * back. */
#include "unit_util.h"

#include "lt_offers.h"

#include <stdio.h>

static void test_backoff_doubles(void)
{
    lt_offers_t *o = lt_offers_new();
    CU_ASSERT_FATAL(o != NULL);
    CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/GOV/BHXH", 1000), 0);
    lt_offers_refused(o, "VN/GOV/BHXH", 1000);
    CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/GOV/BHXH", 1000), LT_OFFERS_FIRST_MS);
    CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/GOV/BHXH", 1999), 1);
    CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/GOV/BHXH", 2000), 0);
    int64_t now = 2000, expect = LT_OFFERS_FIRST_MS;
    for (int i = 0; i < 10; i++) {
        lt_offers_refused(o, "VN/GOV/BHXH", now);
        expect = expect * 2 > LT_OFFERS_MAX_MS ? LT_OFFERS_MAX_MS : expect * 2;
        CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/GOV/BHXH", now), expect);
        now += expect;
    }
    CU_ASSERT_EQUAL(expect, LT_OFFERS_MAX_MS);
    /* Another member is not held back; an adoption ends the back-off. */
    CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/GOV/BYT", now - 1), 0);
    lt_offers_refused(o, "VN/GOV/BHXH", now);
    lt_offers_adopted(o, "VN/GOV/BHXH");
    CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/GOV/BHXH", now), 0);
    lt_offers_refused(o, "VN/GOV/BHXH", now);
    CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/GOV/BHXH", now), LT_OFFERS_FIRST_MS);
    lt_offers_adopted(o, "VN/GOV/NONE"); /* not held back: nothing to do */
    lt_offers_destroy(&o);
    CU_ASSERT(o == NULL);
    lt_offers_destroy(&o);
}

static void test_bounded(void)
{
    lt_offers_t *o = lt_offers_new();
    CU_ASSERT_FATAL(o != NULL);
    char id[64];
    for (int i = 0; i < LT_OFFERS_MEMBERS; i++) {
        snprintf(id, sizeof id, "VN/PROV/%d", i);
        lt_offers_refused(o, id, 0);
    }
    CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/PROV/0", 0), LT_OFFERS_FIRST_MS);
    lt_offers_refused(o, "VN/PROV/beyond", 0);
    CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/PROV/beyond", 0), 0);
    lt_offers_adopted(o, "VN/PROV/0"); /* room again */
    lt_offers_refused(o, "VN/PROV/beyond", 0);
    CU_ASSERT_EQUAL(lt_offers_wait(o, "VN/PROV/beyond", 0), LT_OFFERS_FIRST_MS);
    lt_offers_destroy(&o);
}

/* destroy is idempotent (CZMQ CLASS): no object, or no pointer at all,
 * is nothing to do, as on a failure path that destroys what it made. */
static void test_destroy_null(void)
{
    lt_offers_destroy(NULL);
    lt_offers_t *o = NULL;
    lt_offers_destroy(&o);
    CU_ASSERT_PTR_NULL(o);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"back-off after a refused offer, doubled to the cap, ended by an adoption",
         test_backoff_doubles},
        {"a bounded number of members held back", test_bounded},
        {"destroy of NULL, and of a pointer to NULL, does nothing", test_destroy_null},
        {NULL, NULL},
    };
    return ut_main("lt_offers", NULL, NULL, tests);
}

/* test_recent: CUnit suite for gateway/lt_recent, the caller's memory of
 * the request ids it forwarded lately (PROTOCOL.md 8.3): an id is found
 * with its hash and whether the gateway made it; remembering it again
 * replaces it; at most `max` ids are kept, the oldest forgotten first, and
 * entries are reused rather than allocated again; ids expire after keep_ms. */
#include "unit_util.h"

#include "lt_recent.h"

#include <sodium.h>
#include <unistd.h>

static void s_hash(uint64_t id, uint8_t h[LT_HASH_BYTES])
{
    memset(h, 0, LT_HASH_BYTES);
    memcpy(h, &id, sizeof id);
}

static void test_found_with_hash(void)
{
    lt_recent_t *r = lt_recent_new(8, 60000);
    uint8_t h[LT_HASH_BYTES], got[LT_HASH_BYTES];
    int made = -1;
    CU_ASSERT_FATAL(r != NULL);
    s_hash(7, h);
    CU_ASSERT_EQUAL(lt_recent_add(r, 7, h, 0), 0);
    CU_ASSERT_EQUAL(lt_recent_find(r, 8, got, &made), 0);
    CU_ASSERT_EQUAL(lt_recent_find(r, 7, got, &made), 1);
    CU_ASSERT(memcmp(got, h, LT_HASH_BYTES) == 0 && made == 0);
    s_hash(70, h); /* the same id again, other bytes, made here */
    CU_ASSERT_EQUAL(lt_recent_add(r, 7, h, 1), 0);
    CU_ASSERT_EQUAL(lt_recent_count(r), 1);
    CU_ASSERT_EQUAL(lt_recent_find(r, 7, got, &made), 1);
    CU_ASSERT(memcmp(got, h, LT_HASH_BYTES) == 0 && made == 1);
    lt_recent_destroy(&r);
    lt_recent_destroy(&r);
    CU_ASSERT_PTR_NULL(r);
}

/* 3,000 ids through a memory of 1,000: the last 1,000 are kept, the rest
 * forgotten oldest first; an id remembered anew (2001, after 2500) moves to
 * the end and outlives those remembered before it. */
static void test_bounded_oldest_first(void)
{
    lt_recent_t *r = lt_recent_new(1000, 60000);
    uint8_t h[LT_HASH_BYTES], got[LT_HASH_BYTES];
    int made;
    CU_ASSERT_FATAL(r != NULL);
    for (uint64_t id = 1; id <= 3000; id++) {
        s_hash(id, h);
        CU_ASSERT_EQUAL_FATAL(lt_recent_add(r, id, h, 0), 0);
        if (id == 2500) { /* refreshed: outlives 2001..2499 */
            s_hash(2001, h);
            CU_ASSERT_EQUAL_FATAL(lt_recent_add(r, 2001, h, 0), 0);
        }
    }
    CU_ASSERT_EQUAL(lt_recent_count(r), 1000);
    /* Kept: 2001 (refreshed) and 2002..3000; 2000 and before forgotten. */
    int kept = 0, forgotten = 0;
    for (uint64_t id = 1; id <= 3000; id++) {
        int f = lt_recent_find(r, id, got, &made);
        s_hash(id, h);
        if (id <= 2000)
            forgotten += !f;
        else
            kept += f && memcmp(got, h, LT_HASH_BYTES) == 0;
    }
    CU_ASSERT_EQUAL(kept, 1000);
    CU_ASSERT_EQUAL(forgotten, 2000);
    CU_ASSERT_EQUAL(lt_recent_find(r, 2001, got, &made), 1);
    CU_ASSERT_EQUAL(lt_recent_find(r, 1000, got, &made), 0);
    lt_recent_destroy(&r);
}

static void test_expires(void)
{
    lt_recent_t *r = lt_recent_new(100, 50);
    uint8_t h[LT_HASH_BYTES], got[LT_HASH_BYTES];
    int made;
    CU_ASSERT_FATAL(r != NULL);
    s_hash(1, h);
    CU_ASSERT_EQUAL(lt_recent_add(r, 1, h, 0), 0);
    CU_ASSERT_EQUAL(lt_recent_find(r, 1, got, &made), 1);
    usleep(120 * 1000);
    CU_ASSERT_EQUAL(lt_recent_find(r, 1, got, &made), 0);
    CU_ASSERT_EQUAL(lt_recent_count(r), 0);
    lt_recent_destroy(&r);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"an id is found with its hash; remembered anew, replaced", test_found_with_hash},
        {"at most max ids, the oldest forgotten first", test_bounded_oldest_first},
        {"ids expire after keep_ms", test_expires},
        {NULL, NULL},
    };
    if (sodium_init() < 0)
        return 2;
    return ut_main("lt_recent", NULL, NULL, tests);
}

/* test_arena: CUnit suite for core/lt_arena, the region allocator the
 * write paths decode records into: allocations are aligned, distinct and
 * writable, large ones get their own block, a reset keeps one block and
 * takes back the rest, and a Record decoded into it reads back as packed
 * (protobuf_c_message_free_unpacked with the arena's allocator does no
 * harm). */
#include "unit_util.h"

#include "lienthong.pb-c.h"
#include "lt_arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <string.h>

#define BLOCK 4096
/* What a reset keeps: one block, none under AddressSanitizer (lt_arena.h). */
#define KEPT (LT_ARENA_EXACT ? 0 : BLOCK)

static void test_alloc_and_reset(void)
{
    lt_arena_t *a = lt_arena_new(BLOCK, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    ProtobufCAllocator *pa = lt_arena_allocator(a);
    unsigned char *p[200];
    for (size_t i = 0; i < 200; i++) {
        size_t n = 1 + (i * 37) % 300;
        p[i] = pa->alloc(pa->allocator_data, n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p[i]);
        CU_ASSERT_EQUAL((uintptr_t)p[i] % alignof(max_align_t), 0);
        memset(p[i], (int)i, n);
    }
    /* Nothing overlapped: each keeps what was written into it. */
    for (size_t i = 0; i < 200; i++) {
        size_t n = 1 + (i * 37) % 300;
        int same = 1;
        for (size_t k = 0; k < n; k++)
            same &= p[i][k] == (unsigned char)i;
        CU_ASSERT(same);
    }
    size_t held = lt_arena_held(a);
    CU_ASSERT(held >= 200 * 16 && (LT_ARENA_EXACT || held > BLOCK));
    /* A large request gets its own block, and small ones still fit in
     * the current block after it. */
    unsigned char *big = pa->alloc(pa->allocator_data, 3 * BLOCK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(big);
    memset(big, 0xab, 3 * BLOCK);
    CU_ASSERT_EQUAL(lt_arena_held(a), held + 3 * BLOCK);
    pa->free(pa->allocator_data, big); /* does nothing */
    lt_arena_reset(a);
    CU_ASSERT_EQUAL(lt_arena_held(a), KEPT);
    /* After a reset the kept block serves again. */
    void *q = pa->alloc(pa->allocator_data, 100);
    CU_ASSERT_PTR_NOT_NULL(q);
    CU_ASSERT_EQUAL(lt_arena_held(a), LT_ARENA_EXACT ? 100 : BLOCK);
    CU_ASSERT_PTR_NULL(pa->alloc(pa->allocator_data, SIZE_MAX - 8)); /* never wraps */
    lt_arena_destroy(&a);
    lt_arena_destroy(&a); /* idempotent */
    CU_ASSERT_PTR_NULL(a);
    lt_arena_reset(NULL);
}

static void test_decode_record(void)
{
    lt_arena_t *a = lt_arena_new(BLOCK, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    uint8_t payload[6000], buf[7000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (uint8_t)(i * 7);
    Lienthong__Record r = LIENTHONG__RECORD__INIT;
    r.seq = 42;
    r.key = "038090000002";
    r.payload.data = payload;
    r.payload.len = sizeof payload; /* larger than a block: its own */
    size_t n = lienthong__record__pack(&r, buf);
    for (int round = 0; round < 3; round++) {
        Lienthong__Record *d = lienthong__record__unpack(lt_arena_allocator(a), n, buf);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        CU_ASSERT(d->seq == 42 && strcmp(d->key, r.key) == 0 && d->payload.len == sizeof payload &&
                  memcmp(d->payload.data, payload, sizeof payload) == 0);
        lienthong__record__free_unpacked(d, lt_arena_allocator(a));
        lt_arena_reset(a);
        CU_ASSERT_EQUAL(lt_arena_held(a), KEPT);
    }
    lt_arena_destroy(&a);
}

/* Past its bound the arena hands out malloc memory and its free frees
 * it (under LeakSanitizer a leak here fails the suite); block memory
 * stays the arena's. */
static void test_bound_spills_to_malloc(void)
{
    lt_arena_t *a = lt_arena_new(BLOCK, 2 * BLOCK);
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    ProtobufCAllocator *pa = lt_arena_allocator(a);
    void *p[64];
    for (size_t i = 0; i < 64; i++) {
        p[i] = pa->alloc(pa->allocator_data, 200);
        CU_ASSERT_PTR_NOT_NULL_FATAL(p[i]);
        memset(p[i], 0x5a, 200);
    }
    CU_ASSERT(lt_arena_held(a) <= 2 * BLOCK);
    CU_ASSERT(lt_arena_spilled(a));
    for (size_t i = 0; i < 64; i++)
        pa->free(pa->allocator_data, p[i]);
    lt_arena_reset(a);
    CU_ASSERT(!lt_arena_spilled(a));
    /* A record decoded partly past the bound is freed through the arena's
     * allocator, then the arena reset: nothing leaks. */
    uint8_t payload[3000], buf[3100];
    memset(payload, 7, sizeof payload);
    Lienthong__Record r = LIENTHONG__RECORD__INIT;
    r.seq = 1;
    r.key = "k";
    r.payload.data = payload;
    r.payload.len = sizeof payload;
    size_t n = lienthong__record__pack(&r, buf);
    for (int i = 0; i < 8; i++) {
        Lienthong__Record *d = lienthong__record__unpack(pa, n, buf);
        CU_ASSERT_PTR_NOT_NULL_FATAL(d);
        CU_ASSERT(d->payload.len == sizeof payload && strcmp(d->key, "k") == 0);
        lienthong__record__free_unpacked(d, pa);
    }
    CU_ASSERT(lt_arena_spilled(a));
    lt_arena_reset(a);
    lt_arena_destroy(&a);
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"allocations are aligned and distinct; reset keeps one block", test_alloc_and_reset},
        {"a record decoded into the arena reads back; reset takes it back", test_decode_record},
        {"past its bound the arena spills to malloc, and its free frees that",
         test_bound_spills_to_malloc},
        {NULL, NULL},
    };
    return ut_main("lt_arena", NULL, NULL, tests);
}

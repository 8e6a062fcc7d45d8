/* test_applyq: CUnit suite for gateway/lt_applyq, the replica batches a
 * gateway has checked and not yet committed: jobs come out in the order
 * they went in, across the ring's end, each with its own envelope; a link
 * is held while a batch of it waits and released when it is taken; a full
 * queue refuses the next; an envelope taken out is the taker's, the ones
 * left in are freed with the queue (the sanitizer run sees a leak
 * otherwise). */
#include "unit_util.h"

#include "lt_applyq.h"

#include <stdlib.h>

/* An envelope as lt_wire_decode returns it: allocated by protobuf-c. */
static Lienthong__Envelope *s_env(void)
{
    Lienthong__Envelope e = LIENTHONG__ENVELOPE__INIT;
    uint8_t buf[16];
    e.version = 1;
    size_t n = lienthong__envelope__pack(&e, buf);
    return lienthong__envelope__unpack(NULL, n, buf);
}

/* Stand-ins for jobs and links: only their addresses are compared. */
static int s_jobs[8], s_links[8];
#define JOB(i)  ((lt_feed_apply_t *)&s_jobs[i])
#define LINK(i) ((const void *)&s_links[i])

static void test_order_and_links(void)
{
    lt_applyq_t *q = lt_applyq_new(3);
    lt_feed_apply_t *job = NULL;
    Lienthong__Envelope *env = NULL, *sent[3];
    CU_ASSERT_FATAL(q != NULL);
    CU_ASSERT(lt_applyq_head(q) == NULL && lt_applyq_pop(q, &job, &env) == -1);
    /* Round the ring twice: the order holds across its end. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 3; i++)
            CU_ASSERT(lt_applyq_push(q, JOB(i), sent[i] = s_env(), LINK(i)) == 0);
        Lienthong__Envelope *extra = s_env();
        CU_ASSERT(lt_applyq_push(q, JOB(3), extra, LINK(3)) == -1); /* full */
        lienthong__envelope__free_unpacked(extra, NULL);
        CU_ASSERT(lt_applyq_size(q) == 3 && lt_applyq_holds(q, LINK(1)) &&
                  !lt_applyq_holds(q, LINK(3)));
        for (int i = 0; i < 3; i++) {
            CU_ASSERT(lt_applyq_head(q) == JOB(i));
            CU_ASSERT(lt_applyq_pop(q, &job, &env) == 0 && job == JOB(i) && env == sent[i]);
            CU_ASSERT(!lt_applyq_holds(q, LINK(i)));
            lienthong__envelope__free_unpacked(env, NULL);
        }
        CU_ASSERT(lt_applyq_size(q) == 0);
        CU_ASSERT(lt_applyq_push(q, JOB(4), s_env(), LINK(4)) == 0); /* moves the ring on */
        CU_ASSERT(lt_applyq_pop(q, &job, &env) == 0 && job == JOB(4));
        lienthong__envelope__free_unpacked(env, NULL);
    }
    /* Destroyed with envelopes in it: they are freed. */
    CU_ASSERT(lt_applyq_push(q, JOB(5), s_env(), LINK(5)) == 0);
    lt_applyq_destroy(&q);
    CU_ASSERT(q == NULL);
    lt_applyq_destroy(&q); /* idempotent */
}

int main(void)
{
    static const ut_test_t tests[] = {
        {"in order across the ring's end; links held while queued; full refuses",
         test_order_and_links},
        {NULL, NULL},
    };
    return ut_main("lt_applyq", NULL, NULL, tests);
}

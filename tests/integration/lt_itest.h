/* lt_itest: helpers for integration tests that run real `lienthong gateway`
 * processes on 127.0.0.1.
 *
 * A test builds a federation in a fresh temporary directory: an authority
 * key, members with key files (0600) and free ports, a directory source that
 * is compiled and signed with the library, one config per gateway. Gateways
 * are child processes whose stdout and stderr go to a log file in the
 * temporary directory; readiness is a StatusRequest answered on the local
 * ipc socket. A "test peer" is a CURVE DEALER holding a member's keys that
 * sends raw frames or envelopes and waits for replies with a poll timeout.
 *
 * Every wait is bounded. Every child is registered so that a failing test
 * (or the process exiting) SIGKILLs it, and children also die with the test
 * process (PR_SET_PDEATHSIG). The binary comes from lt_it_set_binary(), or
 * the LIENTHONG_BIN environment variable. */
#ifndef LT_ITEST_H
#define LT_ITEST_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lt_keys.h"
#include "lt_wire.h"

#define LT_IT_MAX_MEMBERS 16
#define LT_IT_MAX_GATEWAYS 8

/* Fails the current CUnit test and jumps to the test's `out:` label, where
 * it cleans up; unlike CU_ASSERT_FATAL this never skips the cleanup. */
#define LT_IT_REQUIRE(cond)                                                                        \
    do {                                                                                           \
        if (!CU_assertImplementation((cond) ? CU_TRUE : CU_FALSE, __LINE__, #cond, __FILE__, "",   \
                                     CU_FALSE))                                                    \
            goto out;                                                                              \
    } while (0)

typedef struct {
    char id[LT_ID_MAX_IT];
} lt_it_unused_t;

#endif

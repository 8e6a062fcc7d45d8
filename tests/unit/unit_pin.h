/* unit_pin.h: pins the text of each released schema step (the store's,
 * the audit log's) by its SHA-256, for the CUnit suites in tests/unit. A
 * file already past a step never runs it again, so a released step that
 * changes leaves files made before and after the change different under
 * one version number (docs/ARCHITECTURE.md 4.1, "Audit log"). */
#ifndef LT_UNIT_PIN_H
#define LT_UNIT_PIN_H

#include "unit_util.h"

#include <sodium.h>

/* Checks that step(1..n_pins) are exactly the steps there are, each
 * with the SHA-256 (hex) pins[i - 1]; says which step differs and its
 * hash now. `what` names the steps in the message. */
static inline void ut_pin_steps(const char *what, const char *(*step)(int), const char *const *pins,
                                int n_pins)
{
    for (int i = 1; i <= n_pins + 1; i++) {
        const char *sql = step(i);
        if (i > n_pins) {
            if (sql)
                fprintf(stderr, "%s step %d has no pinned hash: add it\n", what, i);
            CU_ASSERT_PTR_NULL(sql);
            break;
        }
        CU_ASSERT_PTR_NOT_NULL_FATAL(sql);
        uint8_t h[crypto_hash_sha256_BYTES];
        char hex[2 * crypto_hash_sha256_BYTES + 1];
        crypto_hash_sha256(h, (const unsigned char *)sql, strlen(sql));
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        if (strcmp(hex, pins[i - 1]) != 0)
            fprintf(stderr, "%s step %d was edited: its SHA-256 is now %s\n", what, i, hex);
        CU_ASSERT_STRING_EQUAL(hex, pins[i - 1]);
    }
}

#endif

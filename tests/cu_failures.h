/* cu_failures.h: prints a suite's failed assertions once more, after CUnit's
 * run summary. CUnit lists them before the summary, in the middle of a long
 * verbose run; a CI log cut to its head and tail then shows that a test
 * failed but not which assertion. */
#ifndef LT_CU_FAILURES_H
#define LT_CU_FAILURES_H

#include <CUnit/CUnit.h>
#include <stdio.h>

/* Call after the run, before CU_cleanup_registry(). */
static inline void lt_cu_print_failures(void)
{
    unsigned n = 0;
    for (CU_pFailureRecord f = CU_get_failure_list(); f; f = f->pNext, n++)
        fprintf(stdout, "FAILED %s:%u in \"%s\": %s\n", f->strFileName ? f->strFileName : "?",
                f->uiLineNumber, f->pTest && f->pTest->pName ? f->pTest->pName : "?",
                f->strCondition ? f->strCondition : "?");
    if (n)
        fprintf(stdout, "%u failed assertion(s), listed above\n", n);
    fflush(stdout);
}

#endif

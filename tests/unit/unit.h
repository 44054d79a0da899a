/* unit.h - the tiny assertion kit of the C unit tests (one binary per file,
 * run by ctest). A failed check prints file:line and the expression and
 * makes main return 1; the test keeps going so one run shows every failure. */
#ifndef PL_UNIT_H
#define PL_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond)                                                          \
    do {                                                                     \
        unit_checks++;                                                       \
        if (!(cond)) {                                                       \
            unit_failures++;                                                 \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                  \
        }                                                                    \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                   \
    do {                                                                     \
        long long a_ = (long long)(a), b_ = (long long)(b);                  \
        unit_checks++;                                                       \
        if (a_ != b_) {                                                      \
            unit_failures++;                                                 \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n",      \
                    __FILE__, __LINE__, #a, a_, #b, b_);                     \
        }                                                                    \
    } while (0)

#define CHECK_STR(a, b) CHECK(strcmp((a), (b)) == 0)

#define UNIT_DONE()                                                          \
    do {                                                                     \
        printf("%d checks, %d failed\n", unit_checks, unit_failures);        \
        return unit_failures ? 1 : 0;                                        \
    } while (0)

#endif

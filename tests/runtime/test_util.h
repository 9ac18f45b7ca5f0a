/* test_util.h: the runtime tests' checking macros. A failed CHECK prints the place and the
 * condition and counts; main returns the count, so one run reports every failure. */
#ifndef TEST_UTIL_H
#define TEST_UTIL_H

#include <stdio.h>

static int test_failures;

#define CHECK(c)                                                                              \
    do {                                                                                      \
        if (!(c)) {                                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);             \
            test_failures++;                                                                  \
        }                                                                                     \
    } while (0)

#define CHECK_MSG(c, ...)                                                                     \
    do {                                                                                      \
        if (!(c)) {                                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #c);             \
            fprintf(stderr, __VA_ARGS__);                                                     \
            fputc('\n', stderr);                                                              \
            test_failures++;                                                                  \
        }                                                                                     \
    } while (0)

#endif

/*
 * test.h — Kite's tiny unit-test framework (Anchor: libuv test/task.h, runner.c).
 *
 *   TEST(name) { ASSERT_EQ_INT(1 + 1, 2); }
 *
 * Tests register themselves; the runner (runner.c) runs each in a forked child
 * with a timeout, prints one line per test and closes with
 * "N passed, N failed".  `test_x NAME...` runs only the named tests.
 * Assertions print both sides.
 */
#ifndef KITE_TEST_H
#define KITE_TEST_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*kite_test_fn)(void);
void kite_test_register(const char *name, kite_test_fn fn, int timeout_s);
/* A fresh empty temporary directory for this test (removed by the runner). */
const char *kite_test_tmpdir(void);
/* Resident bytes (/proc/self/smaps) of this process's file mappings whose
 * path starts with `prefix` (absolute, symlinks resolved), or -1. */
long kite_test_mapped_rss(const char *prefix);

#define TEST_TIMEOUT(name, secs)                                                 \
    static void test_##name(void);                                              \
    __attribute__((constructor)) static void test_register_##name(void)         \
    {                                                                           \
        kite_test_register(#name, test_##name, secs);                           \
    }                                                                           \
    static void test_##name(void)

#define TEST(name) TEST_TIMEOUT(name, 120)

#define TEST_FAIL_(...)                                                         \
    do {                                                                        \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                       \
        fprintf(stderr, __VA_ARGS__);                                           \
        fprintf(stderr, "\n");                                                  \
        exit(1);                                                                \
    } while (0)

#define ASSERT(c)                                                               \
    do {                                                                        \
        if (!(c))                                                               \
            TEST_FAIL_("assertion failed: %s", #c);                            \
    } while (0)

#define ASSERT_EQ_INT(a, b)                                                     \
    do {                                                                        \
        long long a_ = (long long)(a), b_ = (long long)(b);                     \
        if (a_ != b_)                                                           \
            TEST_FAIL_("%s == %s: %lld != %lld", #a, #b, a_, b_);              \
    } while (0)

#define ASSERT_NE_INT(a, b)                                                     \
    do {                                                                        \
        long long a_ = (long long)(a), b_ = (long long)(b);                     \
        if (a_ == b_)                                                           \
            TEST_FAIL_("%s != %s: both %lld", #a, #b, a_);                     \
    } while (0)

#define ASSERT_OK(expr)                                                         \
    do {                                                                        \
        int rc_ = (expr);                                                       \
        if (rc_ != 0)                                                           \
            TEST_FAIL_("%s returned %d", #expr, rc_);                          \
    } while (0)

#define ASSERT_NEAR(a, b, tol)                                                  \
    do {                                                                        \
        double a_ = (double)(a), b_ = (double)(b);                              \
        if (!(fabs(a_ - b_) <= (tol)))                                          \
            TEST_FAIL_("%s ~= %s: %.9g vs %.9g (tol %g)", #a, #b, a_, b_,      \
                       (double)(tol));                                          \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                     \
    do {                                                                        \
        const char *a_ = (a), *b_ = (b);                                        \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                  \
            TEST_FAIL_("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)", \
                       b_ ? b_ : "(null)");                                     \
    } while (0)

#define ASSERT_CONTAINS(hay, needle)                                            \
    do {                                                                        \
        const char *h_ = (hay), *n_ = (needle);                                 \
        if (!h_ || !strstr(h_, n_))                                             \
            TEST_FAIL_("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_); \
    } while (0)

#endif

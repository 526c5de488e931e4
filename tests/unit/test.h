/*
 * A tiny TAP-style test helper (in the spirit of h2o's t/00unit): ok(cond), is_int,
 * is_str, then done_testing() as main's return value. Every failed check prints where.
 */
#ifndef DOM_TEST_H
#define DOM_TEST_H

#include <stdio.h>
#include <string.h>

static int test_count, test_failed;

#define ok(cond) test_ok_((cond) != 0, #cond, __FILE__, __LINE__)
#define is_int(got, want) test_is_int_((long long)(got), (long long)(want), #got, __FILE__, __LINE__)
#define is_str(got, want) test_is_str_((got), (want), #got, __FILE__, __LINE__)

static inline int test_ok_(int pass, const char *what, const char *file, int line)
{
    ++test_count;
    printf("%s %d - %s\n", pass ? "ok" : "not ok", test_count, what);
    if (!pass) {
        ++test_failed;
        printf("#   failed at %s:%d\n", file, line);
    }
    return pass;
}

static inline int test_is_int_(long long got, long long want, const char *what, const char *file, int line)
{
    int pass = test_ok_(got == want, what, file, line);
    if (!pass)
        printf("#   got %lld, want %lld\n", got, want);
    return pass;
}

static inline int test_is_str_(const char *got, const char *want, const char *what, const char *file, int line)
{
    int pass = (got == NULL && want == NULL) || (got != NULL && want != NULL && strcmp(got, want) == 0);
    test_ok_(pass, what, file, line);
    if (!pass)
        printf("#   got \"%s\", want \"%s\"\n", got ? got : "(null)", want ? want : "(null)");
    return pass;
}

#define subtest(name, fn)                                                                                              \
    do {                                                                                                               \
        printf("# %s\n", name);                                                                                        \
        fn();                                                                                                          \
    } while (0)

static inline int done_testing(void)
{
    printf("1..%d\n", test_count);
    if (test_failed != 0)
        printf("# %d of %d checks failed\n", test_failed, test_count);
    return test_failed != 0 || test_count == 0;
}

#endif

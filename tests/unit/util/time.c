/* Tests src/util/time.c: the three forms, leap years, dates and times that do not exist. */
#include <time.h>
#include "test.h"
#include "domicile/common.h"
#include "util/time.h"

static int64_t parse(const char *s, unsigned forms)
{
    int64_t t = -12345;
    if (dom__time_parse(s, strlen(s), forms, &t) != 0)
        return -1;
    return t;
}

#define ANY(s) parse(s, DOM__TIME_ANY)

static void test_unix(void)
{
    is_int(ANY("0"), 0);
    is_int(ANY("1767225600"), 1767225600);
    is_int(ANY("999999999999"), 999999999999LL);
    is_int(ANY("1000000000000"), -1); /* 13 digits */
    is_int(ANY("-1"), -1);
    is_int(ANY("+5"), -1);
    is_int(ANY(""), -1);
    is_int(ANY("12a"), -1);
    is_int(ANY(" 12"), -1);
    is_int(parse("1767225600", DOM__TIME_DATE), -1); /* forms not asked for are refused */
}

static void test_dates(void)
{
    is_int(ANY("1970-01-01"), 0);
    is_int(ANY("2026-01-20"), 1768867200);
    is_int(ANY("2024-02-29"), 1709164800); /* leap year */
    is_int(ANY("2000-02-29"), 951782400);  /* divisible by 400: leap */
    is_int(ANY("9999-12-31"), 253402214400LL);
    /* dates that do not exist are refused, never moved to the next month */
    is_int(ANY("2023-02-29"), -1);
    is_int(ANY("2100-02-29"), -1); /* divisible by 100, not 400: no leap day */
    is_int(ANY("2025-04-31"), -1);
    is_int(ANY("2026-02-30"), -1);
    is_int(ANY("2026-13-01"), -1);
    is_int(ANY("2026-00-10"), -1);
    is_int(ANY("2026-01-00"), -1);
    is_int(ANY("1969-12-31"), -1); /* before the epoch */
    is_int(ANY("2026-1-20"), -1);
    is_int(ANY("2026/01/20"), -1);
    is_int(ANY("2026-01-20 "), -1);
    is_int(parse("2026-01-20", DOM__TIME_UNIX), -1);
    /* every day from 1970 to 2200 agrees with the C library */
    int bad = 0;
    for (int64_t day = 0; day < 84000; ++day) {
        time_t t = (time_t)(day * 86400);
        struct tm tm;
        char s[16];
        gmtime_r(&t, &tm);
        strftime(s, sizeof(s), "%Y-%m-%d", &tm);
        bad += ANY(s) != day * 86400;
    }
    is_int(bad, 0);
}

static void test_datetimes(void)
{
    is_int(ANY("2026-01-20T08:30:15Z"), 1768867200 + 8 * 3600 + 30 * 60 + 15);
    is_int(ANY("1970-01-01T00:00:00Z"), 0);
    is_int(ANY("2024-02-29T23:59:59Z"), 1709164800 + 86399);
    is_int(ANY("2026-01-20T24:00:00Z"), -1);
    is_int(ANY("2026-01-20T23:60:00Z"), -1);
    is_int(ANY("2026-01-20T23:59:60Z"), -1); /* unix time has no leap second */
    is_int(ANY("2023-02-29T12:00:00Z"), -1);
    is_int(ANY("2026-01-20T08:30:15"), -1); /* UTC only, and said so */
    is_int(ANY("2026-01-20t08:30:15Z"), -1);
    is_int(ANY("2026-01-20T08:30:15+00:00"), -1);
    is_int(ANY("2026-01-20T8:30:15Z"), -1);
    is_int(parse("2026-01-20T08:30:15Z", DOM__TIME_DATE | DOM__TIME_UNIX), -1);
}

static void test_format(void)
{
    char buf[32];
    is_str(dom__time_format(1768867200 + 3600, DOM__TIME_FMT_ISO, buf, sizeof(buf)), "2026-01-20T01:00:00Z");
    is_str(dom__time_format(951782400, DOM__TIME_FMT_DATE, buf, sizeof(buf)), "2000-02-29");
    int64_t back;
    ok(dom__time_parse(buf, strlen(buf), DOM__TIME_DATE, &back) == 0 && back == 951782400);
    is_str(dom__time_format(5, "", buf, sizeof(buf)), "@5"); /* nothing to print: the number */
}

int main(void)
{
    subtest("unix seconds", test_unix);
    subtest("dates", test_dates);
    subtest("date and time", test_datetimes);
    subtest("formatting", test_format);
    return done_testing();
}

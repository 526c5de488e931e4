/* Dates and times in UTC (util/time.h): no libc time zone, no normalisation of impossible dates. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>
#include "domicile/common.h"
#include "util/time.h"

/* Reads `width` decimal digits at s. Returns -1 on anything else. */
static int digits(const char *s, int width)
{
    int v = 0;
    for (int i = 0; i < width; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static int64_t days_from_civil(int y, int m, int d)
{
    int yy = y - (m <= 2);
    int era = yy / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD" at s (10 bytes) into days since the epoch; -1 if it is not a real date from 1970. */
static int parse_date(const char *s, int64_t *days)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (s[4] != '-' || s[7] != '-')
        return -1;
    int y = digits(s, 4), m = digits(s + 5, 2), d = digits(s + 8, 2);
    if (y < 1970 || m < 1 || m > 12 || d < 1)
        return -1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return -1;
    *days = days_from_civil(y, m, d);
    return 0;
}

int dom__time_parse(const char *s, size_t len, unsigned forms, int64_t *out)
{
    int64_t days;
    if ((forms & DOM__TIME_UNIX) && len >= 1 && len <= 12) {
        int64_t v = 0;
        size_t i = 0;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; ++i)
            v = v * 10 + (s[i] - '0');
        if (i == len) {
            *out = v;
            return 0;
        }
    }
    if ((forms & DOM__TIME_DATE) && len == 10 && parse_date(s, &days) == 0) {
        *out = days * 86400;
        return 0;
    }
    if ((forms & DOM__TIME_DATETIME) && len == 20 && s[10] == 'T' && s[13] == ':' && s[16] == ':' && s[19] == 'Z' &&
        parse_date(s, &days) == 0) {
        int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
        if (h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && sec >= 0 && sec <= 59) {
            *out = days * 86400 + h * 3600 + mi * 60 + sec;
            return 0;
        }
    }
    return DOM_EINVAL;
}

const char *dom__time_format(int64_t t, const char *fmt, char *buf, size_t len)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if ((int64_t)tt != t || gmtime_r(&tt, &tm) == NULL || strftime(buf, len, fmt, &tm) == 0)
        snprintf(buf, len, "@%" PRId64, t);
    return buf;
}

/*
 * The one date/time parser (and formatter) of rule files and the CLI: unix seconds,
 * YYYY-MM-DD (00:00 UTC) and YYYY-MM-DDTHH:MM:SSZ, all in UTC, years 1970 to 9999.
 * Dates and times that do not exist (2026-02-29, 2025-04-31, 24:00:00, second 60) are
 * refused, never normalised into another day.
 */
#ifndef DOM_UTIL_TIME_H
#define DOM_UTIL_TIME_H

#include <stddef.h>
#include <stdint.h>

/** The forms dom__time_parse accepts (or them together). */
enum {
    DOM__TIME_UNIX = 1,     /* "1767225600": 1 to 12 decimal digits, no sign */
    DOM__TIME_DATE = 2,     /* "2026-01-20": 00:00:00 UTC of that day */
    DOM__TIME_DATETIME = 4, /* "2026-01-20T08:30:00Z" */
    DOM__TIME_ANY = 7,
};

/** The forms of DOM__TIME_ANY in words, for messages. */
#define DOM__TIME_ANY_WORDS "unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ"

/** Parses s (len bytes, exactly) in one of `forms` into unix seconds. Errors: DOM_EINVAL. */
int dom__time_parse(const char *s, size_t len, unsigned forms, int64_t *out);

/** strftime formats for dom__time_format. */
#define DOM__TIME_FMT_DATE "%Y-%m-%d"
#define DOM__TIME_FMT_ISO "%Y-%m-%dT%H:%M:%SZ"

/** Formats unix seconds in UTC with a strftime format into buf ("@<seconds>" when it cannot); returns buf. */
const char *dom__time_format(int64_t t, const char *fmt, char *buf, size_t len);

#endif

/* HTML text (util/html.h). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include "util/html.h"

#define REPLACEMENT "\xef\xbf\xbd" /* U+FFFD */

/* The length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, surrogates or > U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp, min;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; ++i) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

void dom__html_escape_n(dom__text_t *t, const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0; /* bytes p[i - run .. i) pass through unchanged */
    while (i < n) {
        unsigned char c = p[i];
        const char *ref = NULL;
        switch (c) {
        case '&':
            ref = "&amp;";
            break;
        case '<':
            ref = "&lt;";
            break;
        case '>':
            ref = "&gt;";
            break;
        case '"':
            ref = "&quot;";
            break;
        case '\'':
            ref = "&#39;";
            break;
        default:
            if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
                ref = REPLACEMENT;
            } else if (c >= 0x80) {
                size_t len = utf8_len(p + i, n - i);
                if (len != 0) { /* well-formed: passes through */
                    i += len;
                    run += len;
                    continue;
                }
                ref = REPLACEMENT;
            }
        }
        if (ref == NULL) {
            ++i;
            ++run;
            continue;
        }
        dom__text_append(t, p + i - run, run);
        dom__text_append(t, ref, strlen(ref));
        run = 0;
        ++i;
    }
    dom__text_append(t, p + i - run, run);
}

void dom__html_escape(dom__text_t *t, const char *s)
{
    if (s != NULL)
        dom__html_escape_n(t, s, strlen(s));
}

void dom__html_printf(dom__text_t *t, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    dom__html_escape_n(t, buf, (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

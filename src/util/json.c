/* The JSON writer (util/json.h). Strings are copied in runs: one copy per stretch of plain text. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "util/json.h"

dom__json_t dom__json_fixed(char *buf, size_t cap)
{
    return (dom__json_t){.kind = DOM__JSON_FIXED, .buf = buf, .cap = cap};
}

dom__json_t dom__json_text(dom__text_t *t)
{
    return (dom__json_t){.kind = DOM__JSON_TEXT, .text = t};
}

dom__json_t dom__json_file(FILE *fp)
{
    return (dom__json_t){.kind = DOM__JSON_FILE, .fp = fp};
}

int dom__json_failed(const dom__json_t *j)
{
    switch (j->kind) {
    case DOM__JSON_FIXED:
        return j->len > j->cap;
    case DOM__JSON_TEXT:
        return j->text->failed;
    default:
        return ferror(j->fp) != 0;
    }
}

void dom__json_raw(dom__json_t *j, const char *s, size_t n)
{
    switch (j->kind) {
    case DOM__JSON_FIXED:
        /* past the end once: only count from then on, so the buffer never holds a gap */
        /* a write that does not fit leaves len > cap: from then on bytes are only counted, so the
         * buffer holds a prefix of the output, never one with a gap */
        if (j->len <= j->cap && n <= j->cap - j->len)
            memcpy(j->buf + j->len, s, n);
        j->len += n;
        return;
    case DOM__JSON_TEXT:
        dom__text_append(j->text, s, n);
        j->len += n;
        return;
    default:
        j->len += fwrite(s, 1, n, j->fp);
        return;
    }
}

void dom__json_lit(dom__json_t *j, const char *s)
{
    dom__json_raw(j, s, strlen(s));
}

void dom__json_rawf(dom__json_t *j, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof(small)) {
        dom__json_raw(j, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (big == NULL) {
        if (j->kind == DOM__JSON_TEXT)
            j->text->failed = 1;
        else if (j->kind == DOM__JSON_FIXED)
            j->len = (j->len > j->cap ? j->len : j->cap) + (size_t)n;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    dom__json_raw(j, big, (size_t)n);
    free(big);
}

/* Length of a well-formed UTF-8 sequence at s (at most `left` bytes), or 0: no overlongs,
 * surrogates or code points above U+10FFFF (RFC 3629). */
static size_t utf8_len(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    if (c >= 0xc2 && c <= 0xdf)
        return left >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return left >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return left >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

void dom__json_strn(dom__json_t *j, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n, *run = p;
    dom__json_raw(j, "\"", 1);
    while (p < end) {
        unsigned char c = *p;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            ++p;
            continue;
        }
        size_t seq = c >= 0x80 ? utf8_len(p, (size_t)(end - p)) : 0;
        if (seq != 0) {
            p += seq;
            continue;
        }
        dom__json_raw(j, (const char *)run, (size_t)(p - run));
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            dom__json_raw(j, e, 2);
        } else if (c < 0x80) {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            dom__json_raw(j, e, 6);
        } else {
            dom__json_raw(j, "\\ufffd", 6);
        }
        run = ++p;
    }
    dom__json_raw(j, (const char *)run, (size_t)(p - run));
    dom__json_raw(j, "\"", 1);
}

void dom__json_str(dom__json_t *j, const char *s)
{
    if (s == NULL)
        dom__json_null(j);
    else
        dom__json_strn(j, s, strlen(s));
}

void dom__json_u64(dom__json_t *j, uint64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%" PRIu64, v);
    dom__json_raw(j, b, (size_t)n);
}

void dom__json_i64(dom__json_t *j, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%" PRId64, v);
    dom__json_raw(j, b, (size_t)n);
}

void dom__json_f64(dom__json_t *j, double v, int decimals)
{
    if (!isfinite(v)) {
        dom__json_null(j);
        return;
    }
    dom__json_rawf(j, "%.*f", decimals, v);
}

void dom__json_bool(dom__json_t *j, int v)
{
    if (v)
        dom__json_raw(j, "true", 4);
    else
        dom__json_raw(j, "false", 5);
}

void dom__json_null(dom__json_t *j)
{
    dom__json_raw(j, "null", 4);
}

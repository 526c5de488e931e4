/* JSON output shared by the subcommands (explain --json, rules show --json, pin verify --json). */
#include <stdio.h>
#include "cli/cli.h"

static int utf8_len(const unsigned char *s)
{
    /* Length of a well-formed UTF-8 sequence at s (no overlongs, surrogates or > U+10FFFF), or 0. */
    unsigned char c = s[0];
    if (c >= 0xc2 && c <= 0xdf)
        return (s[1] & 0xc0) == 0x80 ? 2 : 0;
    if (c >= 0xe0 && c <= 0xef) {
        unsigned char lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        unsigned char lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
        return s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 && (s[3] & 0xc0) == 0x80 ? 4 : 0;
    }
    return 0;
}

void dom__cli_json_str(FILE *fp, const char *s)
{
    if (s == NULL) {
        fputs("null", fp);
        return;
    }
    fputc('"', fp);
    const unsigned char *p = (const unsigned char *)s;
    while (*p != '\0') {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', fp);
            fputc(c, fp);
            ++p;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(fp, "\\u%04x", c);
            ++p;
        } else if (c < 0x80) {
            fputc(c, fp);
            ++p;
        } else {
            int n = utf8_len(p);
            if (n == 0) {
                fputs("\\ufffd", fp);
                ++p;
            } else {
                fwrite(p, 1, (size_t)n, fp);
                p += n;
            }
        }
    }
    fputc('"', fp);
}

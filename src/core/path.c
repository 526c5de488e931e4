/*
 * Step 0 of the request path: one canonical path (docs/internals/paths.md).
 *
 * Storage servers disagree about paths: nginx merges slashes and resolves dot segments
 * after decoding every escape, Tomcat drops ";parameters" (and so reads "..;" as ".."),
 * IIS reads "\" as "/", others take the target verbatim. The gateway classifies a path and
 * then forwards it: if the two could differ, a client could get data of one class stored
 * under the rules of another. So the gateway forwards exactly the path it classified, in a
 * form every such server reads the same way, and refuses what it cannot put in that form
 * without guessing what the server would make of it.
 */
#include <string.h>
#include "domicile/path.h"

const char *dom_path_mode_name(dom_path_mode_t mode)
{
    return mode == DOM_PATHS_CANONICALIZE ? "canonicalize" : "strict";
}

static int is_unreserved(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
           c == '_' || c == '~';
}

/* The byte at p, with a %XX escape decoded; *step gets how many input bytes it took. -1: a bad escape. */
static int next_byte(const char *p, const char *end, size_t *step)
{
    if (*p != '%') {
        *step = 1;
        return (unsigned char)*p;
    }
    int hi, lo;
    if (end - p < 3 || (hi = dom__hex_digit((unsigned char)p[1])) < 0 || (lo = dom__hex_digit((unsigned char)p[2])) < 0)
        return -1;
    *step = 3;
    return hi * 16 + lo;
}

/*
 * The path's bytes, escapes decoded, must be UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF). "%c0%ae" is an overlong "." that some servers still decode.
 */
static int utf8_ok(const char *p, const char *end)
{
    unsigned need = 0, lo = 0x80, hi = 0xbf;
    while (p < end) {
        size_t step;
        int c = next_byte(p, end, &step);
        if (c < 0)
            return 1; /* reported as a bad escape by the caller */
        p += step;
        if (need != 0) {
            if ((unsigned)c < lo || (unsigned)c > hi)
                return 0;
            lo = 0x80;
            hi = 0xbf;
            --need;
            continue;
        }
        if (c < 0x80)
            continue;
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            if (c == 0xe0)
                lo = 0xa0; /* overlong */
            else if (c == 0xed)
                hi = 0x9f; /* surrogates */
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0)
                lo = 0x90; /* overlong */
            else if (c == 0xf4)
                hi = 0x8f; /* above U+10FFFF */
        } else {
            return 0; /* 0x80-0xc1 as a lead byte, 0xf5-0xff */
        }
    }
    return need == 0;
}

static int refuse(const char **why, const char *msg)
{
    if (why != NULL)
        *why = msg;
    return DOM_EINVAL;
}

/* An encoded '/' that separates segments in canonicalize mode. */
static int is_encoded_slash(const char *p, const char *end)
{
    return end - p >= 3 && p[0] == '%' && p[1] == '2' && (p[2] == 'f' || p[2] == 'F');
}

int dom_path_canonicalize(const char *target, size_t len, dom_path_mode_t mode, char *buf, size_t bufsize,
                          dom_path_t *out, const char **why)
{
    static const char hex[] = "0123456789ABCDEF";
    if (why != NULL)
        *why = NULL;
    if (target == NULL || len == 0 || target[0] != '/')
        return refuse(why, "the target is not a path starting with '/' (absolute-form, authority-form or '*')");
    if (bufsize < len + 1)
        return DOM_ERANGE;

    const char *end = memchr(target, '?', len), *tend = target + len;
    if (end == NULL)
        end = tend;
    for (const char *q = end; q < tend; ++q) {
        unsigned char c = (unsigned char)*q;
        if (c <= 0x20 || c == 0x7f || c == '#')
            return refuse(why, "the query holds a control byte, a space or '#'");
    }
    if (!utf8_ok(target, end))
        return refuse(why, "the path is not UTF-8 (raw or percent-encoded bytes; overlong forms included)");

    /*
     * One segment at a time into buf, each written as "segment/": w is where the next one goes.
     * ".." moves w back to the start of the last segment written. The slash after the last
     * segment stays only if the target ended in a slash or a dot segment (RFC 3986 5.2.4).
     */
    size_t w = 1;
    int trailing = 1;
    buf[0] = '/';
    const char *p = target + 1;
    while (p <= end) {
        size_t seg = w, n = 0;
        int encoded_dot = 0;
        while (p < end && *p != '/' && !(mode == DOM_PATHS_CANONICALIZE && is_encoded_slash(p, end))) {
            size_t step;
            int c = next_byte(p, end, &step);
            if (c < 0)
                return refuse(why, "a '%' is not followed by two hex digits");
            if (step == 1) {
                if (c <= 0x20 || c == 0x7f)
                    return refuse(why, "the path holds a control byte or a space");
                if (c == '\\')
                    return refuse(why, "the path holds a backslash (some servers read it as '/')");
                if (c == '#')
                    return refuse(why, "the path holds a '#'");
                buf[seg + n++] = (char)c;
            } else if (is_unreserved((unsigned)c)) {
                encoded_dot |= c == '.';
                buf[seg + n++] = (char)c;
            } else if (c == '/') {
                return refuse(why, "the path holds an encoded '/' (%2F): servers disagree on what it separates");
            } else if (c == '\\') {
                return refuse(why, "the path holds an encoded backslash (%5C): some servers read it as '/'");
            } else if (c < 0x20 || c == 0x7f) {
                return refuse(why, "the path holds an encoded NUL or control byte");
            } else {
                buf[seg + n++] = '%';
                buf[seg + n++] = hex[c >> 4];
                buf[seg + n++] = hex[c & 15];
            }
            p += step;
        }
        int last = p >= end;
        p += last ? 1 : *p == '/' ? 1 : 3; /* past the separator (or the end) */

        const char *s = buf + seg;
        const char *semi = memchr(s, ';', n);
        size_t name = semi != NULL ? (size_t)(semi - s) : n;
        int dots = (name == 1 && s[0] == '.') ? 1 : (name == 2 && s[0] == '.' && s[1] == '.') ? 2 : 0;
        if (dots != 0 && semi != NULL)
            return refuse(why, "a dot segment carries path parameters (\"..;\"): servers disagree on it");
        if (dots != 0 && encoded_dot && mode == DOM_PATHS_STRICT)
            return refuse(why, "a dot segment is percent-encoded (%2E): servers disagree on it");
        if (n == 0) {
            trailing = last ? 1 : trailing;
            continue;
        }
        if (dots == 1) {
            trailing = 1;
            continue;
        }
        if (dots == 2) {
            if (w == 1)
                return refuse(why, "a \"..\" segment climbs above the root");
            --w; /* onto the slash that ended the last segment, then back to the one before it */
            while (buf[w - 1] != '/')
                --w;
            trailing = 1;
            continue;
        }
        w = seg + n;
        buf[w++] = '/';
        trailing = 0;
    }
    if (!trailing && w > 1)
        --w;
    buf[w] = '\0';
    out->path = buf;
    out->path_len = w;
    out->query = end < tend ? end + 1 : NULL;
    out->query_len = end < tend ? (size_t)(tend - end - 1) : 0;
    return 0;
}

/*
 * Tests src/core/path.c: the one canonical path. Every target either canonicalises to the
 * expected form (and that form is a fixed point) or is refused.
 */
#include <stdlib.h>
#include <string.h>
#include "domicile/path.h"
#include "test.h"

static const char *canon(const char *target, dom_path_mode_t mode)
{
    static char buf[1024];
    dom_path_t p;
    const char *why;
    if (dom_path_canonicalize(target, strlen(target), mode, buf, sizeof(buf), &p, &why) != 0) {
        ok(why != NULL && why[0] != '\0');
        return NULL;
    }
    ok(p.path == buf && strlen(buf) == p.path_len);
    return buf;
}

static void test_canonical_forms(void)
{
    static const struct {
        const char *in, *strict, *canonicalize; /* NULL: refused */
    } cases[] = {
        {"/", "/", "/"},
        {"/v1/account/me", "/v1/account/me", "/v1/account/me"},
        {"//v1/marketing/x", "/v1/marketing/x", "/v1/marketing/x"},
        {"/v1/crash//../account/me", "/v1/account/me", "/v1/account/me"},
        {"/v1/./sync/./x", "/v1/sync/x", "/v1/sync/x"},
        {"/v1/sync/x/", "/v1/sync/x/", "/v1/sync/x/"},
        {"/v1/sync/x//", "/v1/sync/x/", "/v1/sync/x/"},
        {"/v1/sync/..", "/v1/", "/v1/"},
        {"/v1/sync/.", "/v1/sync/", "/v1/sync/"},
        {"/a/b/../../c", "/c", "/c"},
        {"/..", NULL, NULL},
        {"/a/../..", NULL, NULL},
        {"/v1/%61ccount", "/v1/account", "/v1/account"},
        {"/v1/%7e%2D%5f%2E", "/v1/~-_.", "/v1/~-_."},
        {"/v1/a%20b%3fc%25", "/v1/a%20b%3Fc%25", "/v1/a%20b%3Fc%25"},
        {"/v1/%c3%a9t%C3%A9", "/v1/%C3%A9t%C3%A9", "/v1/%C3%A9t%C3%A9"},
        {"/v1/\xc3\xa9t\xc3\xa9", "/v1/\xc3\xa9t\xc3\xa9", "/v1/\xc3\xa9t\xc3\xa9"},
        {"/v1/%2e%2e/account", NULL, "/account"},
        {"/v1/crash/%2E./account/me", NULL, "/v1/account/me"},
        {"/v1/.%2e", NULL, "/"},
        {"/v1/a%2fb", NULL, "/v1/a/b"},
        {"/v1/crash%2f..%2faccount", NULL, "/v1/account"},
        {"/v1/a%5cb", NULL, NULL},
        {"/v1/a\\b", NULL, NULL},
        {"/v1/a%00b", NULL, NULL},
        {"/v1/a%0ab", NULL, NULL},
        {"/v1/a%7fb", NULL, NULL},
        {"/v1/a b", NULL, NULL},
        {"/v1/a\tb", NULL, NULL},
        {"/v1/a#b", NULL, NULL},
        {"/v1/%zz", NULL, NULL},
        {"/v1/%4", NULL, NULL},
        {"/v1/%c0%ae%c0%ae/x", NULL, NULL}, /* overlong "." */
        {"/v1/\xc0\xae", NULL, NULL},
        {"/v1/%ed%a0%80", NULL, NULL},    /* a surrogate */
        {"/v1/%f4%90%80%80", NULL, NULL}, /* above U+10FFFF */
        {"/v1/%e9", NULL, NULL},          /* a lone Latin-1 byte */
        {"/v1/account;v=1", "/v1/account;v=1", "/v1/account;v=1"},
        {"/v1/crash/..;/account", NULL, NULL},
        {"/v1/crash/.;x/account", NULL, NULL},
        {"/v1/crash;/../account", "/v1/account", "/v1/account"},
        {"", NULL, NULL},
        {"*", NULL, NULL},
        {"v1/account", NULL, NULL},
        {"http://example.com/v1/account", NULL, NULL},
        {"example.com:443", NULL, NULL},
        {"/v1/sync?x=/../a", "/v1/sync", "/v1/sync"},
        {"/v1/sync?x y", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        printf("# %s\n", cases[i].in);
        is_str(canon(cases[i].in, DOM_PATHS_STRICT), cases[i].strict);
        is_str(canon(cases[i].in, DOM_PATHS_CANONICALIZE), cases[i].canonicalize);
        /* a canonical path is a fixed point */
        if (cases[i].strict != NULL) {
            char copy[1024];
            snprintf(copy, sizeof(copy), "%s", cases[i].strict);
            is_str(canon(copy, DOM_PATHS_STRICT), cases[i].strict);
        }
    }
}

static void test_query_and_bounds(void)
{
    char buf[64];
    dom_path_t p;
    const char *why;
    const char *t = "/v1//sync/../x?a=%2f&b=..";
    is_int(dom_path_canonicalize(t, strlen(t), DOM_PATHS_STRICT, buf, sizeof(buf), &p, &why), 0);
    is_str(p.path, "/v1/x");
    ok(p.query == t + 15 && p.query_len == strlen("a=%2f&b=.."));
    t = "/v1/x?";
    is_int(dom_path_canonicalize(t, strlen(t), DOM_PATHS_STRICT, buf, sizeof(buf), &p, &why), 0);
    ok(p.query != NULL && p.query_len == 0);
    t = "/v1/x";
    is_int(dom_path_canonicalize(t, strlen(t), DOM_PATHS_STRICT, buf, sizeof(buf), &p, &why), 0);
    ok(p.query == NULL);
    /* the output never needs more than len + 1 bytes */
    t = "/a";
    is_int(dom_path_canonicalize(t, 2, DOM_PATHS_STRICT, buf, 3, &p, &why), 0);
    is_str(buf, "/a");
    is_int(dom_path_canonicalize(t, 2, DOM_PATHS_STRICT, buf, 2, &p, &why), DOM_ERANGE);
    is_int(dom_path_canonicalize(NULL, 0, DOM_PATHS_STRICT, buf, sizeof(buf), &p, &why), DOM_EINVAL);
    /* a path made only of dots and slashes, of every short length, is canonical or refused, never longer */
    const char alphabet[] = "/.%2e";
    for (unsigned n = 1; n <= 6; ++n) {
        unsigned total = 1;
        for (unsigned i = 0; i < n; ++i)
            total *= 5;
        for (unsigned k = 0; k < total; ++k) {
            char in[8];
            unsigned v = k;
            in[0] = '/';
            for (unsigned i = 0; i < n; ++i, v /= 5)
                in[i + 1] = alphabet[v % 5];
            size_t len = n + 1;
            char out[16];
            if (dom_path_canonicalize(in, len, DOM_PATHS_CANONICALIZE, out, len + 1, &p, &why) == 0 &&
                (p.path_len > len || strstr(out, "//") != NULL || strstr(out, "/./") != NULL ||
                 strstr(out, "/../") != NULL)) {
                ok(!"canonical form is longer or keeps dot segments");
                printf("#   %.*s -> %s\n", (int)len, in, out);
            }
        }
    }
    ok(1);
}

int main(void)
{
    subtest("canonical forms", test_canonical_forms);
    subtest("query and bounds", test_query_and_bounds);
    return done_testing();
}

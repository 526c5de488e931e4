/*
 * Fuzzes the canonicaliser (src/core/path.c), both modes. For every accepted target:
 * the canonical path starts with '/', holds no "//" and no "." or ".." segment, is no
 * longer than the target, is a fixed point (canonicalising it again gives it back), and
 * classifies like its own canonical form; a target strict mode accepts gives the same
 * path in canonicalize mode. Input: one mode byte, then the target.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/path.h"
#include "domicile/rules.h"

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

static dom_data_class_t classes[] = {{"account", "", 1}, {"content", "", 1}, {"telemetry", "", 0}};
static dom_route_rule_t routes[] = {
    {"/v1/telemetry", 13, DOM_METHOD_ALL, 2},
    {"/v1/account", 11, DOM_METHOD_ALL, 0},
    {"/v1/crash", 9, DOM_METHOD_ALL, 2},
    {"/v1/sync", 8, DOM_METHOD_ALL, 1},
    {"/a", 2, DOM_METHOD_ALL, 0},
};
static dom_ruleset_t rules = {.classes = classes, .n_classes = 3, .routes = routes, .n_routes = 5, .default_class = 1};

static int has_dot_segment(const char *p, size_t n)
{
    for (size_t i = 0; i < n; ++i) {
        if (p[i] != '/')
            continue;
        size_t end = i + 1;
        while (end < n && p[end] != '/')
            ++end;
        size_t seg = end - i - 1;
        if ((seg == 1 && p[i + 1] == '.') || (seg == 2 && p[i + 1] == '.' && p[i + 2] == '.'))
            return 1;
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0 || size > 4096)
        return 0;
    dom_path_mode_t mode = (data[0] & 1) ? DOM_PATHS_CANONICALIZE : DOM_PATHS_STRICT;
    const char *target = (const char *)data + 1;
    size_t len = size - 1;
    char *buf = malloc(len + 1), *again = malloc(len + 1), *other = malloc(len + 1);
    dom_path_t p, q, o;
    const char *why = NULL;
    int ret = dom_path_canonicalize(target, len, mode, buf, len + 1, &p, &why);
    CHECK(ret == 0 || ret == DOM_EINVAL);
    if (ret != 0) {
        CHECK(why != NULL && why[0] != '\0');
        goto out;
    }
    CHECK(p.path == buf && p.path_len >= 1 && p.path_len <= len && buf[0] == '/' && buf[p.path_len] == '\0');
    CHECK(memchr(buf, '\0', p.path_len) == NULL);
    CHECK(strstr(buf, "//") == NULL);
    CHECK(!has_dot_segment(buf, p.path_len));
    CHECK(p.query == NULL || (p.query > target && p.query <= target + len && p.query[-1] == '?'));
    /* a fixed point, in both modes */
    CHECK(dom_path_canonicalize(buf, p.path_len, DOM_PATHS_STRICT, again, len + 1, &q, &why) == 0);
    CHECK(q.path_len == p.path_len && memcmp(again, buf, p.path_len) == 0 && q.query == NULL);
    CHECK(dom_ruleset_classify(&rules, "PUT", 3, buf, p.path_len) ==
          dom_ruleset_classify(&rules, "PUT", 3, again, q.path_len));
    /* strict accepts less than canonicalize, never something else */
    if (mode == DOM_PATHS_STRICT) {
        CHECK(dom_path_canonicalize(target, len, DOM_PATHS_CANONICALIZE, other, len + 1, &o, &why) == 0);
        CHECK(o.path_len == p.path_len && memcmp(other, buf, p.path_len) == 0);
    }
out:
    free(buf);
    free(again);
    free(other);
    return 0;
}

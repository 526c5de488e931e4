/*
 * Rule files → an in-memory dom_ruleset_t, checking everything on the way (docs/rules.md).
 *
 * Input is hostile: a compliance team's typo and an attacker's crafted file are treated
 * alike. Every problem is reported with the file:line:col of the offending key or value
 * (1-based, from libyaml's marks) and the walk carries on, so one run shows every
 * problem. Files are bounded in size, nesting is bounded by a streaming pre-pass, lists
 * are bounded, and the walk follows the fixed schema only (never a generic recursion), so
 * aliases and cycles in the YAML graph cannot blow up time or stack.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <yaml.h>
#include <openssl/evp.h>
#include "domicile/ledger.h"
#include "domicile/rules_record.h"
#include "ruleset_internal.h"
#include "util/text.h"
#include "util/time.h"
#include "util/validate.h"
#include "util/yaml.h"
#include "domicile/lint.h"
#include "rules/sources.h"

#define MAX_FILE_SIZE (4u << 20)
#define MAX_FILES 4096
#define MAX_ERRORS 200
#define MAX_DEPTH 32
#define MAX_REGIONS 1024
#define MAX_CLASSES 256
#define MAX_ROUTES 4096
#define MAX_GROUP_MEMBERS 512
#define MAX_APPLIES 4096
#define MAX_JURISDICTIONS 65536
#define MAX_TEXT 2048

typedef struct mark {
    const char *file;
    size_t line, col;
} mark_t;

typedef struct group {
    const char *name;
    char (*members)[3];
    size_t n_members;
    mark_t at;
} group_t;

typedef enum entry_kind { ENTRY_SUBDIVISION, ENTRY_COUNTRY, ENTRY_GROUP } entry_kind_t;

typedef struct entry {
    entry_kind_t kind;
    char key[8];
    size_t group;
    mark_t at;
} entry_t;

typedef struct jur_src {
    dom_jurisdiction_t j;
    mark_t at;           /* the jurisdiction name's value */
    mark_t version_at;   /* the version key (where a reused version is reported) */
    mark_t effective_at; /* the effective date's value (line 0: none given) */
    size_t order;        /* reading order, to report the later of two duplicates */
    entry_t *entries;    /* applies_to */
    size_t n_entries;
    int conflict_reported;
} jur_src_t;

typedef struct builder {
    dom__yaml_t y; /* the walk of the file at hand; y.stop ends it (error bound, out of memory) */
    int nomem;
    dom_ruleset_t *rs;
    dom__arena_t *arena;
    const char *dir;

    int have_regions, have_classes;
    dom_region_t *regions;
    size_t n_regions, cap_regions;
    group_t *groups;
    size_t n_groups, cap_groups;
    dom_data_class_t *classes;
    size_t n_classes, cap_classes;
    dom_route_rule_t *routes;
    mark_t *route_at;
    size_t n_routes, cap_routes;
    size_t default_class;
    const char *read_methods; /* "," joined; NULL until _classes.yaml's methods: says (then the default applies) */
    jur_src_t *jurs;
    size_t n_jurs, cap_jurs;
    const dom_ledger_t *ledger; /* versions compiled before (may be NULL): a reused version is an error */
} builder_t;

/* ---- diagnostics ---- */

static void report(builder_t *b, mark_t at, int warning, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    dom_mark_t m = {at.line, at.col};
    dom__yaml_report(&b->y, at.file, &m, warning, "%s", msg);
}

__attribute__((format(printf, 3, 4))) static void error_at(builder_t *b, mark_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(b, at, 0, fmt, ap);
    va_end(ap);
}

__attribute__((format(printf, 3, 4))) static void warn_at(builder_t *b, mark_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(b, at, 1, fmt, ap);
    va_end(ap);
}

static mark_t node_mark(const char *file, const yaml_node_t *node)
{
    dom_mark_t m = dom__yaml_mark(node);
    return (mark_t){file, m.line, m.col};
}

static dom__yaml_shown_t show(const yaml_node_t *node)
{
    return dom__yaml_show(node);
}

/* ---- arena helpers ---- */

static void *grow(builder_t *b, void *arr, size_t *cap, size_t n, size_t elsize)
{
    if (n < *cap)
        return arr;
    size_t ncap = *cap != 0 ? *cap * 2 : 8;
    void *p = dom__arena_calloc(b->arena, ncap, elsize);
    if (p == NULL) {
        b->nomem = 1;
        b->y.stop = 1;
        return NULL;
    }
    if (n != 0)
        memcpy(p, arr, n * elsize);
    *cap = ncap;
    return p;
}

#define GROW(b, arr, n, cap) ((arr) = grow((b), (arr), &(cap), (n), sizeof(*(arr))), (arr) != NULL)

static const char *dup(builder_t *b, const char *s, size_t len)
{
    char *p = dom__arena_strndup(b->arena, s, len);
    if (p == NULL) {
        b->nomem = 1;
        b->y.stop = 1;
        return "";
    }
    return p;
}

/* ---- scalar accessors ---- */

typedef struct file_ctx {
    builder_t *b;
    const char *file;
} file_ctx_t;

static yaml_node_t *get_node(file_ctx_t *f, int id)
{
    return dom__yaml_node(&f->b->y, id);
}

/* The scalar text of node, or NULL (with an error) when it is not a usable scalar. */
static const char *scalar(file_ctx_t *f, const yaml_node_t *node, const char *what, size_t *len)
{
    return dom__yaml_scalar(&f->b->y, node, what, len);
}

static int is_eq(const char *s, size_t len, const char *lit)
{
    return strlen(lit) == len && memcmp(s, lit, len) == 0;
}

static int bool_value(file_ctx_t *f, const yaml_node_t *node, const char *what, int *out)
{
    return dom__yaml_bool(&f->b->y, node, what, out);
}

/* Checks a name against a character class: 'r' region/class ([a-z0-9_-], starting alnum), 'j' jurisdiction
 * ([A-Za-z0-9_-]), 'g' group ([A-Z0-9-], >= 3, starting with a letter), 'c' reason code ([a-z0-9_]). */
static int name_ok(const char *s, size_t len, char kind)
{
    if (len == 0 || len > DOM_NAME_MAX)
        return 0;
    if (kind == 'g' && (len < 3 || !(s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    if (kind == 'r' && !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
        return 0;
    for (size_t i = 0; i < len; ++i) {
        char c = s[i];
        int lower = c >= 'a' && c <= 'z', upper = c >= 'A' && c <= 'Z', digit = c >= '0' && c <= '9';
        int ok = 0;
        switch (kind) {
        case 'r':
            ok = lower || digit || c == '_' || c == '-';
            break;
        case 'j':
            return dom__valid_jurisdiction(s, len);
        case 'g':
            ok = upper || digit || c == '-';
            break;
        case 'c':
            ok = lower || digit || c == '_';
            break;
        }
        if (!ok)
            return 0;
    }
    return 1;
}

static const char *name_value(file_ctx_t *f, const yaml_node_t *node, const char *what, char kind, size_t *len)
{
    const char *s = scalar(f, node, what, len);
    if (s == NULL)
        return NULL;
    if (!name_ok(s, *len, kind)) {
        static const char *const rule[] = {"lower-case letters, digits, '_' and '-'", "letters, digits, '_' and '-'",
                                           "upper-case letters, digits and '-', at least 3, starting with a letter",
                                           "lower-case letters, digits and '_'"};
        int r = kind == 'r' ? 0 : kind == 'j' ? 1 : kind == 'g' ? 2 : 3;
        error_at(f->b, node_mark(f->file, node), "invalid %s %s: use %s (at most %d)", what, show(node).s, rule[r],
                 DOM_NAME_MAX);
        return NULL;
    }
    return s;
}

/* Free text (descriptions, citations, URLs): printable, bounded. */
static const char *text_value(file_ctx_t *f, const yaml_node_t *node, const char *what, size_t *len)
{
    const char *s = scalar(f, node, what, len);
    if (s == NULL)
        return NULL;
    if (*len > MAX_TEXT) {
        error_at(f->b, node_mark(f->file, node), "%s is longer than %d bytes", what, MAX_TEXT);
        return NULL;
    }
    for (size_t i = 0; i < *len; ++i) {
        if ((unsigned char)s[i] < 0x20 && s[i] != '\t') {
            error_at(f->b, node_mark(f->file, node), "%s contains a control character", what);
            return NULL;
        }
    }
    return s;
}

/* ---- mapping walk with known keys ---- */

typedef dom__yaml_keys_t key_table_t;

/* Identifies a mapping key: returns its index in keys, or -1 (error reported: unknown, duplicate, not scalar). */
static int known_key(file_ctx_t *f, key_table_t *t, const yaml_node_t *key, const char *where)
{
    return dom__yaml_key(&f->b->y, t, key, where);
}

/* Where key i of t was met, in f's file. */
static mark_t seen_at(file_ctx_t *f, const key_table_t *t, size_t i)
{
    return (mark_t){f->file, t->seen[i].line, t->seen[i].col};
}

static int expect_mapping(file_ctx_t *f, const yaml_node_t *node, const char *what)
{
    return dom__yaml_expect(&f->b->y, node, YAML_MAPPING_NODE, what);
}

static int expect_sequence(file_ctx_t *f, const yaml_node_t *node, const char *what)
{
    return dom__yaml_expect(&f->b->y, node, YAML_SEQUENCE_NODE, what);
}

#define FOR_PAIRS(f, node, pair) DOM__YAML_FOR_PAIRS(&(f)->b->y, node, pair)
#define FOR_ITEMS(f, node, item) DOM__YAML_FOR_ITEMS(&(f)->b->y, node, item)

static size_t seq_len(const yaml_node_t *node)
{
    return dom__yaml_len(node);
}

/* ---- vocabulary lookups ---- */

static int find_region(builder_t *b, const char *s, size_t len)
{
    for (size_t i = 0; i < b->n_regions; ++i)
        if (is_eq(s, len, b->regions[i].name))
            return (int)i;
    return -1;
}

static int find_class(builder_t *b, const char *s, size_t len)
{
    for (size_t i = 0; i < b->n_classes; ++i)
        if (is_eq(s, len, b->classes[i].name))
            return (int)i;
    return -1;
}

static int find_group(builder_t *b, const char *s, size_t len)
{
    for (size_t i = 0; i < b->n_groups; ++i)
        if (is_eq(s, len, b->groups[i].name))
            return (int)i;
    return -1;
}

/* ---- _regions.yaml ---- */

/* ---- "did you mean" for near-miss codes ---- */

/* 1 if a and b (lengths la, lb) are at most one edit apart (ASCII case ignored): "EAA" and "EEA". */
static int one_edit(const char *a, size_t la, const char *b, size_t lb)
{
    if (la > lb + 1 || lb > la + 1)
        return 0;
    size_t i = 0, j = 0, edits = 0;
    while (i < la && j < lb) {
        if (toupper((unsigned char)a[i]) == toupper((unsigned char)b[j])) {
            ++i, ++j;
            continue;
        }
        if (++edits > 1)
            return 0;
        if (la > lb)
            ++i;
        else if (lb > la)
            ++j;
        else
            ++i, ++j;
    }
    return edits + (la - i) + (lb - j) <= 1;
}

/*
 * What an unknown applies_to entry or group member most likely meant, as "; did you mean X?" (or ""):
 * an alpha-3 or reserved country code ("CHE": CH, "UK": GB), lower case, or a group one edit away.
 */
static const char *did_you_mean(builder_t *b, const char *s, size_t len, int groups, char *buf, size_t buflen)
{
    char cc[3];
    buf[0] = '\0';
    if (dom__iso_country_suggest(s, len, cc) != NULL) {
        snprintf(buf, buflen, "; did you mean %s?", cc);
        return buf;
    }
    for (size_t g = 0; groups && g < b->n_groups; ++g)
        if (one_edit(s, len, b->groups[g].name, strlen(b->groups[g].name))) {
            snprintf(buf, buflen, "; did you mean %s?", b->groups[g].name);
            return buf;
        }
    return buf;
}

static void parse_regions(file_ctx_t *f, yaml_node_t *root)
{
    builder_t *b = f->b;
    static const char *const top[] = {"regions"};
    key_table_t t = DOM__YAML_KEYS(top);
    b->have_regions = 1;
    if (expect_mapping(f, root, "_regions.yaml") != 0)
        return;
    FOR_PAIRS(f, root, p)
    {
        if (known_key(f, &t, get_node(f, p->key), "_regions.yaml") != 0)
            continue;
        yaml_node_t *map = get_node(f, p->value);
        if (expect_mapping(f, map, "regions") != 0)
            continue;
        FOR_PAIRS(f, map, r)
        {
            yaml_node_t *k = get_node(f, r->key), *v = get_node(f, r->value);
            size_t len;
            const char *name = name_value(f, k, "region name", 'r', &len);
            if (name == NULL)
                continue;
            if (find_region(b, name, len) >= 0) {
                error_at(b, node_mark(f->file, k), "duplicate region %s", show(k).s);
                continue;
            }
            if (b->n_regions >= MAX_REGIONS) {
                error_at(b, node_mark(f->file, k), "too many regions (at most %d)", MAX_REGIONS);
                continue;
            }
            dom_region_t reg = {dup(b, name, len), NULL, NULL};
            static const char *const rkeys[] = {"location", "description"};
            key_table_t rt = DOM__YAML_KEYS(rkeys);
            if (expect_mapping(f, v, "a region") == 0) {
                FOR_PAIRS(f, v, q)
                {
                    int which = known_key(f, &rt, get_node(f, q->key), "a region");
                    yaml_node_t *qv = get_node(f, q->value);
                    size_t n;
                    const char *s;
                    if (which == 0 && (s = scalar(f, qv, "location", &n)) != NULL) {
                        if (!dom__iso_country_known(s, n))
                            error_at(b, node_mark(f->file, qv),
                                     "unknown country %s (location takes an ISO 3166-1 alpha-2 code)", show(qv).s);
                        else
                            reg.location = dup(b, s, n);
                    } else if (which == 1 && (s = text_value(f, qv, "description", &n)) != NULL) {
                        reg.description = dup(b, s, n);
                    }
                }
                if (!dom__yaml_has(&rt, 0))
                    error_at(b, node_mark(f->file, k), "region %s has no location (the ISO country it stores data in)",
                             show(k).s);
            }
            if (reg.location == NULL)
                reg.location = "";
            if (reg.description == NULL)
                reg.description = "";
            if (GROW(b, b->regions, b->n_regions, b->cap_regions))
                b->regions[b->n_regions++] = reg;
        }
    }
    if (!dom__yaml_has(&t, 0))
        error_at(b, node_mark(f->file, root), "_regions.yaml needs a \"regions\" mapping");
}

/* ---- _groups.yaml ---- */

static void parse_groups(file_ctx_t *f, yaml_node_t *root)
{
    builder_t *b = f->b;
    static const char *const top[] = {"groups"};
    key_table_t t = DOM__YAML_KEYS(top);
    if (expect_mapping(f, root, "_groups.yaml") != 0)
        return;
    FOR_PAIRS(f, root, p)
    {
        if (known_key(f, &t, get_node(f, p->key), "_groups.yaml") != 0)
            continue;
        yaml_node_t *map = get_node(f, p->value);
        if (expect_mapping(f, map, "groups") != 0)
            continue;
        FOR_PAIRS(f, map, g)
        {
            yaml_node_t *k = get_node(f, g->key), *v = get_node(f, g->value);
            size_t len;
            const char *name = name_value(f, k, "group name", 'g', &len);
            if (name == NULL)
                continue;
            if (find_group(b, name, len) >= 0) {
                error_at(b, node_mark(f->file, k), "duplicate group %s", show(k).s);
                continue;
            }
            if (expect_sequence(f, v, "a group") != 0)
                continue;
            if (seq_len(v) > MAX_GROUP_MEMBERS) {
                error_at(b, node_mark(f->file, v), "group has more than %d members", MAX_GROUP_MEMBERS);
                continue;
            }
            group_t grp = {dup(b, name, len), NULL, 0, node_mark(f->file, k)};
            grp.members = dom__arena_calloc(b->arena, seq_len(v) + 1, sizeof(grp.members[0]));
            if (grp.members == NULL) {
                b->nomem = b->y.stop = 1;
                return;
            }
            FOR_ITEMS(f, v, it)
            {
                yaml_node_t *c = get_node(f, *it);
                size_t n;
                const char *s = scalar(f, c, "a group member", &n);
                if (s == NULL)
                    continue;
                if (!dom__iso_country_known(s, n)) {
                    char hint[80];
                    error_at(b, node_mark(f->file, c), "unknown country %s (groups hold ISO 3166-1 alpha-2 codes)%s",
                             show(c).s, did_you_mean(b, s, n, 0, hint, sizeof(hint)));
                    continue;
                }
                int dupl = 0;
                for (size_t i = 0; i < grp.n_members; ++i)
                    dupl |= memcmp(grp.members[i], s, 2) == 0;
                if (dupl) {
                    error_at(b, node_mark(f->file, c), "country %s is listed twice in group %s", show(c).s, grp.name);
                    continue;
                }
                memcpy(grp.members[grp.n_members++], s, 2);
            }
            if (seq_len(v) == 0)
                warn_at(b, node_mark(f->file, k), "group %s is empty", show(k).s);
            if (GROW(b, b->groups, b->n_groups, b->cap_groups))
                b->groups[b->n_groups++] = grp;
        }
    }
}

/* ---- _classes.yaml ---- */

static void parse_route(file_ctx_t *f, yaml_node_t *node)
{
    builder_t *b = f->b;
    static const char *const keys[] = {"prefix", "class", "methods"};
    key_table_t t = DOM__YAML_KEYS(keys);
    if (expect_mapping(f, node, "a route") != 0)
        return;
    dom_route_rule_t route = {NULL, 0, DOM_METHOD_ALL, 0};
    int ok = 1;
    FOR_PAIRS(f, node, p)
    {
        int which = known_key(f, &t, get_node(f, p->key), "a route");
        yaml_node_t *v = get_node(f, p->value);
        size_t n;
        const char *s;
        if (which == 0) {
            if ((s = text_value(f, v, "prefix", &n)) == NULL) {
                ok = 0;
            } else if (n == 0 || s[0] != '/' || memchr(s, ' ', n) != NULL || memchr(s, '?', n) != NULL) {
                error_at(b, node_mark(f->file, v), "route prefix %s must be a path starting with '/'", show(v).s);
                ok = 0;
            } else {
                route.prefix = dup(b, s, n);
                route.prefix_len = n;
            }
        } else if (which == 1) {
            if ((s = scalar(f, v, "class", &n)) == NULL) {
                ok = 0;
            } else {
                int c = find_class(b, s, n);
                if (c < 0) {
                    error_at(b, node_mark(f->file, v), "unknown class %s", show(v).s);
                    ok = 0;
                } else {
                    route.class_index = (size_t)c;
                }
            }
        } else if (which == 2) {
            if (expect_sequence(f, v, "methods") != 0) {
                ok = 0;
                continue;
            }
            route.methods = 0;
            FOR_ITEMS(f, v, it)
            {
                yaml_node_t *m = get_node(f, *it);
                if ((s = scalar(f, m, "a method", &n)) == NULL) {
                    ok = 0;
                    continue;
                }
                unsigned bit = dom_method_bit(s, n);
                if (bit == DOM_METHOD_OTHER) {
                    error_at(b, node_mark(f->file, m),
                             "unknown method %s (GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS)", show(m).s);
                    ok = 0;
                }
                route.methods |= bit;
            }
            if (seq_len(v) == 0) {
                error_at(b, node_mark(f->file, v), "methods is empty (leave it out to match every method)");
                ok = 0;
            }
        }
    }
    if (!dom__yaml_has(&t, 0) || !dom__yaml_has(&t, 1)) {
        error_at(b, node_mark(f->file, node), "a route needs %s", !dom__yaml_has(&t, 0) ? "a prefix" : "a class");
        return;
    }
    if (!ok)
        return;
    for (size_t i = 0; i < b->n_routes; ++i) {
        if (strcmp(b->routes[i].prefix, route.prefix) == 0 && (b->routes[i].methods & route.methods) != 0) {
            error_at(b, node_mark(f->file, node), "route for %s overlaps the one at line %zu", route.prefix,
                     b->route_at[i].line);
            return;
        }
    }
    if (b->n_routes >= MAX_ROUTES) {
        error_at(b, node_mark(f->file, node), "too many routes (at most %d)", MAX_ROUTES);
        return;
    }
    size_t cap = b->cap_routes;
    if (!GROW(b, b->routes, b->n_routes, b->cap_routes))
        return;
    if (!GROW(b, b->route_at, b->n_routes, cap))
        return;
    b->route_at[b->n_routes] = node_mark(f->file, node);
    b->routes[b->n_routes++] = route;
}

/*
 * methods: { read: [...], write: [...] }: which methods besides GET, HEAD and OPTIONS read (WebDAV's
 * PROPFIND, REPORT, SEARCH when the file does not say). Every method not listed as a read is a write,
 * listed or not (never the laxest); `write` documents them, and a method in both lists is an error.
 */
static void parse_methods(file_ctx_t *f, yaml_node_t *node)
{
    builder_t *b = f->b;
    static const char *const keys[] = {"read", "write"};
    key_table_t t = DOM__YAML_KEYS(keys);
    yaml_node_t *lists[2] = {NULL, NULL};
    if (expect_mapping(f, node, "methods") != 0)
        return;
    FOR_PAIRS(f, node, p)
    {
        int w = known_key(f, &t, get_node(f, p->key), "methods");
        if (w >= 0 && expect_sequence(f, get_node(f, p->value), keys[w]) == 0)
            lists[w] = get_node(f, p->value);
    }
    char joined[512] = "";
    size_t used = 0;
    for (int w = 0; w < 2; ++w) {
        if (lists[w] == NULL)
            continue;
        FOR_ITEMS(f, lists[w], it)
        {
            yaml_node_t *m = get_node(f, *it);
            size_t n;
            const char *s = scalar(f, m, w == 0 ? "a read method" : "a write method", &n);
            if (s == NULL)
                continue;
            if (n > 32 || !dom__valid_http_token(s, n)) {
                error_at(b, node_mark(f->file, m), "%s is not an HTTP method", show(m).s);
            } else if (dom_method_bit(s, n) & (DOM_METHOD_GET | DOM_METHOD_HEAD | DOM_METHOD_OPTIONS)) {
                if (w == 1)
                    error_at(b, node_mark(f->file, m), "%s is always a read (GET, HEAD and OPTIONS read)", show(m).s);
            } else if (w == 1) {
                /* a write listed as a read too is a contradiction the compiler must not settle */
                dom_ruleset_t declared = {.read_methods = joined};
                if (dom_ruleset_method_is_read(&declared, s, n))
                    error_at(b, node_mark(f->file, m), "%s is listed both as a read and as a write", show(m).s);
            } else if (used + n + 1 < sizeof(joined)) {
                dom_ruleset_t declared = {.read_methods = joined};
                if (!dom_ruleset_method_is_read(&declared, s, n)) {
                    used +=
                        (size_t)snprintf(joined + used, sizeof(joined) - used, "%s%.*s", used ? "," : "", (int)n, s);
                }
            } else {
                error_at(b, node_mark(f->file, m), "too many read methods");
            }
        }
    }
    b->read_methods = dup(b, joined, used);
}

static void parse_classes(file_ctx_t *f, yaml_node_t *root)
{
    builder_t *b = f->b;
    static const char *const top[] = {"classes", "routes", "default_class", "methods"};
    key_table_t t = DOM__YAML_KEYS(top);
    b->have_classes = 1;
    if (expect_mapping(f, root, "_classes.yaml") != 0)
        return;
    yaml_node_t *routes = NULL, *def = NULL, *methods = NULL;
    /* Classes first, whatever the key order: routes and default_class name them. */
    FOR_PAIRS(f, root, p)
    {
        int which = known_key(f, &t, get_node(f, p->key), "_classes.yaml");
        yaml_node_t *v = get_node(f, p->value);
        if (which == 1)
            routes = v;
        else if (which == 2)
            def = v;
        else if (which == 3)
            methods = v;
        if (which != 0 || expect_mapping(f, v, "classes") != 0)
            continue;
        FOR_PAIRS(f, v, c)
        {
            yaml_node_t *k = get_node(f, c->key), *cv = get_node(f, c->value);
            size_t len;
            const char *name = name_value(f, k, "class name", 'r', &len);
            if (name == NULL)
                continue;
            if (find_class(b, name, len) >= 0) {
                error_at(b, node_mark(f->file, k), "duplicate class %s", show(k).s);
                continue;
            }
            if (b->n_classes >= MAX_CLASSES) {
                error_at(b, node_mark(f->file, k), "too many classes (at most %d)", MAX_CLASSES);
                continue;
            }
            dom_data_class_t cls = {dup(b, name, len), "", 1};
            static const char *const ckeys[] = {"description", "personal"};
            key_table_t ct = DOM__YAML_KEYS(ckeys);
            if (cv->type == YAML_SCALAR_NODE && cv->data.scalar.length == 0) {
                /* `telemetry:` with nothing: a class with defaults */
            } else if (expect_mapping(f, cv, "a class") == 0) {
                FOR_PAIRS(f, cv, q)
                {
                    int w = known_key(f, &ct, get_node(f, q->key), "a class");
                    yaml_node_t *qv = get_node(f, q->value);
                    size_t n;
                    const char *s;
                    if (w == 0 && (s = text_value(f, qv, "description", &n)) != NULL)
                        cls.description = dup(b, s, n);
                    else if (w == 1)
                        bool_value(f, qv, "personal", &cls.personal);
                }
            }
            if (GROW(b, b->classes, b->n_classes, b->cap_classes))
                b->classes[b->n_classes++] = cls;
        }
    }
    if (!dom__yaml_has(&t, 0)) {
        error_at(b, node_mark(f->file, root), "_classes.yaml needs a \"classes\" mapping");
    } else if (b->n_classes == 0 && !b->y.stop) {
        error_at(b, seen_at(f, &t, 0), "no classes defined");
    }
    if (routes != NULL && expect_sequence(f, routes, "routes") == 0) {
        FOR_ITEMS(f, routes, it)
        parse_route(f, get_node(f, *it));
    }
    if (methods != NULL)
        parse_methods(f, methods);
    if (def != NULL) {
        size_t n;
        const char *s = scalar(f, def, "default_class", &n);
        if (s != NULL) {
            int c = find_class(b, s, n);
            if (c < 0)
                error_at(b, node_mark(f->file, def), "unknown class %s", show(def).s);
            else
                b->default_class = (size_t)c;
        }
    } else if (!b->y.stop) {
        error_at(b, node_mark(f->file, root), "_classes.yaml needs default_class (the class of unmatched paths)");
    }
}

/* ---- jurisdiction files ---- */

/* write/read: a list of known regions, or `any`. Returns the count, or -1 on error. */
static int region_list(file_ctx_t *f, yaml_node_t *v, const char *what, uint16_t *out)
{
    builder_t *b = f->b;
    if (v->type == YAML_SCALAR_NODE && is_eq((const char *)v->data.scalar.value, v->data.scalar.length, "any")) {
        if (b->n_regions > DOM_MAX_REGIONS) {
            error_at(b, node_mark(f->file, v), "%s: any would list %zu regions, more than %d", what, b->n_regions,
                     DOM_MAX_REGIONS);
            return -1;
        }
        for (size_t i = 0; i < b->n_regions; ++i)
            out[i] = (uint16_t)i;
        return (int)b->n_regions;
    }
    if (v->type != YAML_SEQUENCE_NODE) {
        error_at(b, node_mark(f->file, v), "%s must be a list of regions or any", what);
        return -1;
    }
    if (seq_len(v) > DOM_MAX_REGIONS) {
        error_at(b, node_mark(f->file, v), "%s lists more than %d regions", what, DOM_MAX_REGIONS);
        return -1;
    }
    int n = 0, bad = 0;
    FOR_ITEMS(f, v, it)
    {
        yaml_node_t *r = get_node(f, *it);
        size_t len;
        const char *s = scalar(f, r, "a region", &len);
        if (s == NULL) {
            bad = 1;
            continue;
        }
        int idx = find_region(b, s, len);
        if (idx < 0) {
            if (b->have_regions)
                error_at(b, node_mark(f->file, r), "unknown region %s", show(r).s);
            bad = 1;
            continue;
        }
        int dupl = 0;
        for (int i = 0; i < n; ++i)
            dupl |= out[i] == idx;
        if (dupl) {
            error_at(b, node_mark(f->file, r), "region %s is listed twice", show(r).s);
            bad = 1;
            continue;
        }
        out[n++] = (uint16_t)idx;
    }
    return bad ? -1 : n;
}

static void parse_class_rule(file_ctx_t *f, yaml_node_t *k, yaml_node_t *v, dom_class_rule_t *rule)
{
    builder_t *b = f->b;
    static const char *const keys[] = {"write", "read", "consent", "anonymize", "deny", "reason"};
    key_table_t t = DOM__YAML_KEYS(keys);
    int bad = 0;
    if (expect_mapping(f, v, "a class rule") != 0)
        return;
    FOR_PAIRS(f, v, p)
    {
        int which = known_key(f, &t, get_node(f, p->key), "a class rule");
        yaml_node_t *qv = get_node(f, p->value);
        size_t n;
        const char *s;
        int r;
        switch (which) {
        case 0:
            r = region_list(f, qv, "write", rule->write_regions);
            if (r < 0)
                bad = 1;
            else
                rule->n_write = (size_t)r;
            break;
        case 1:
            r = region_list(f, qv, "read", rule->read_regions);
            if (r < 0)
                bad = 1;
            else
                rule->n_read = (size_t)r;
            break;
        case 2:
            if ((s = scalar(f, qv, "consent", &n)) == NULL)
                break;
            if (dom_consent_parse(s, n, &rule->consent_required) != 0)
                error_at(b, node_mark(f->file, qv), "consent must be required or none, not %s", show(qv).s);
            break;
        case 3:
            bool_value(f, qv, "anonymize", &rule->anonymize);
            break;
        case 4:
            if (bool_value(f, qv, "deny", &rule->deny) != 0)
                bad = 1;
            break;
        case 5:
            if ((s = name_value(f, qv, "reason", 'c', &n)) != NULL)
                rule->deny_reason = dup(b, s, n);
            break;
        default:
            bad = 1;
            break;
        }
    }
    if (rule->deny) {
        if (dom__yaml_has(&t, 0) || dom__yaml_has(&t, 1))
            error_at(b, dom__yaml_has(&t, 0) ? seen_at(f, &t, 0) : seen_at(f, &t, 1),
                     "class %s is denied: it takes no write or read regions", show(k).s);
        if (rule->deny_reason == NULL)
            rule->deny_reason = "class_denied";
        rule->n_write = rule->n_read = 0;
        return;
    }
    if (dom__yaml_has(&t, 5))
        error_at(b, seen_at(f, &t, 5), "reason is only used with deny: true");
    if (!bad && rule->n_write == 0)
        error_at(b, node_mark(f->file, k),
                 "class %s has no write regions and no deny (give write: [...] or deny: true)", show(k).s);
    if (!dom__yaml_has(&t, 1)) {
        memcpy(rule->read_regions, rule->write_regions, sizeof(rule->read_regions));
        rule->n_read = rule->n_write;
    }
}

static void parse_applies(file_ctx_t *f, yaml_node_t *v, jur_src_t *js)
{
    builder_t *b = f->b;
    size_t n_items = v->type == YAML_SEQUENCE_NODE ? seq_len(v) : 1;
    if (v->type == YAML_MAPPING_NODE) {
        error_at(b, node_mark(f->file, v), "applies_to must be a list of countries, subdivisions or groups");
        return;
    }
    if (n_items > MAX_APPLIES) {
        error_at(b, node_mark(f->file, v), "applies_to has more than %d entries", MAX_APPLIES);
        return;
    }
    if (n_items == 0) {
        error_at(b, node_mark(f->file, v), "applies_to is empty");
        return;
    }
    js->entries = dom__arena_calloc(b->arena, n_items, sizeof(entry_t));
    char *text = dom__arena_alloc(b->arena, n_items * (DOM_NAME_MAX + 3) + 1);
    if (js->entries == NULL || text == NULL) {
        b->nomem = b->y.stop = 1;
        return;
    }
    size_t text_len = 0;
    for (size_t i = 0; i < n_items && !b->y.stop; ++i) {
        yaml_node_t *e = v->type == YAML_SEQUENCE_NODE ? get_node(f, v->data.sequence.items.start[i]) : v;
        size_t len;
        const char *s = scalar(f, e, "an applies_to entry", &len);
        if (s == NULL)
            continue;
        entry_t ent = {ENTRY_COUNTRY, {0}, 0, node_mark(f->file, e)};
        int g = find_group(b, s, len);
        if (g >= 0) {
            ent.kind = ENTRY_GROUP;
            ent.group = (size_t)g;
        } else if (len == 2) {
            if (!dom__iso_country_known(s, len)) {
                char hint[80];
                error_at(b, ent.at, "unknown country %s (not an ISO 3166-1 alpha-2 code%s)%s", show(e).s,
                         islower((unsigned char)s[0]) || islower((unsigned char)s[1]) ? "; codes are upper case" : "",
                         did_you_mean(b, s, len, 1, hint, sizeof(hint)));
                continue;
            }
            ent.kind = ENTRY_COUNTRY;
        } else if (len >= 4 && len <= 6 && s[2] == '-') {
            switch (dom__iso_subdivision_check(s, len)) {
            case DOM__ISO_SUB_OK:
                break;
            case DOM__ISO_SUB_NO_TABLE:
                warn_at(b, ent.at, "subdivision %s not checked: no ISO 3166-2 table for %.2s", show(e).s, s);
                break;
            case DOM__ISO_SUB_UNKNOWN:
                error_at(b, ent.at, "unknown subdivision %s (not in ISO 3166-2:%.2s)", show(e).s, s);
                continue;
            case DOM__ISO_SUB_BAD_COUNTRY:
                error_at(b, ent.at, "unknown country %.2s in subdivision %s", s, show(e).s);
                continue;
            case DOM__ISO_SUB_MALFORMED:
                error_at(b, ent.at, "unknown subdivision or group %s", show(e).s);
                continue;
            }
            ent.kind = ENTRY_SUBDIVISION;
        } else {
            char hint[80];
            error_at(b, ent.at, "unknown group %s%s%s", show(e).s,
                     b->n_groups == 0 ? " (no groups are defined: add _groups.yaml)" : "",
                     did_you_mean(b, s, len, 1, hint, sizeof(hint)));
            continue;
        }
        if (ent.kind != ENTRY_GROUP)
            memcpy(ent.key, s, len);
        int dupl = 0;
        for (size_t j = 0; j < js->n_entries; ++j)
            dupl |=
                js->entries[j].kind == ent.kind && (ent.kind == ENTRY_GROUP ? js->entries[j].group == ent.group
                                                                            : strcmp(js->entries[j].key, ent.key) == 0);
        if (dupl) {
            error_at(b, ent.at, "%s is listed twice in applies_to", show(e).s);
            continue;
        }
        js->entries[js->n_entries++] = ent;
        text_len += (size_t)sprintf(text + text_len, "%s%.*s", text_len ? ", " : "", (int)len, s);
    }
    js->j.applies_to = text;
}

static void parse_jurisdiction(file_ctx_t *f, yaml_node_t *root, size_t order)
{
    builder_t *b = f->b;
    static const char *const keys[] = {"jurisdiction", "version", "effective",  "mode",           "applies_to",
                                       "default",      "law",     "policy_url", "on_unavailable", "classes"};
    enum { K_NAME, K_VERSION, K_EFFECTIVE, K_MODE, K_APPLIES, K_DEFAULT, K_LAW, K_POLICY, K_UNAVAIL, K_CLASSES };
    key_table_t t = DOM__YAML_KEYS(keys);
    if (expect_mapping(f, root, "a jurisdiction") != 0)
        return;
    jur_src_t js;
    memset(&js, 0, sizeof(js));
    js.order = order;
    js.j.source_file = f->file;
    js.j.law = "";
    js.j.policy_url = "";
    js.j.applies_to = "";
    js.j.classes = dom__arena_calloc(b->arena, b->n_classes, sizeof(dom_class_rule_t));
    int *covered = calloc(b->n_classes + 1, sizeof(int));
    if (js.j.classes == NULL || covered == NULL) {
        free(covered);
        b->nomem = b->y.stop = 1;
        return;
    }
    yaml_node_t *applies = NULL;
    int bad_date = 0;
    FOR_PAIRS(f, root, p)
    {
        int which = known_key(f, &t, get_node(f, p->key), "a jurisdiction");
        yaml_node_t *v = get_node(f, p->value);
        size_t n;
        const char *s;
        switch (which) {
        case K_NAME:
            if ((s = name_value(f, v, "jurisdiction name", 'j', &n)) != NULL) {
                js.j.name = dup(b, s, n);
                js.at = node_mark(f->file, v);
            }
            break;
        case K_VERSION:
            js.version_at = seen_at(f, &t, K_VERSION);
            if ((s = text_value(f, v, "version", &n)) == NULL)
                break;
            if (n == 0 || n > DOM_NAME_MAX)
                error_at(b, node_mark(f->file, v), "version must be 1 to %d characters", DOM_NAME_MAX);
            else
                js.j.version = dup(b, s, n);
            break;
        case K_EFFECTIVE:
            js.effective_at = node_mark(f->file, v);
            if ((s = scalar(f, v, "effective", &n)) == NULL ||
                dom__time_parse(s, n, DOM__TIME_DATE, &js.j.effective) != 0)
                bad_date = 1;
            if (s != NULL && bad_date)
                error_at(b, node_mark(f->file, v), "bad date %s: expected YYYY-MM-DD (a real date, 1970 or later)",
                         show(v).s);
            break;
        case K_MODE:
            if ((s = scalar(f, v, "mode", &n)) == NULL)
                break;
            if (dom_rule_mode_parse(s, n, &js.j.mode) != 0)
                error_at(b, node_mark(f->file, v), "mode must be enforce or report, not %s", show(v).s);
            break;
        case K_APPLIES:
            applies = v;
            break;
        case K_DEFAULT:
            bool_value(f, v, "default", &js.j.is_default);
            break;
        case K_LAW:
            if ((s = text_value(f, v, "law", &n)) != NULL)
                js.j.law = dup(b, s, n);
            break;
        case K_POLICY:
            if ((s = text_value(f, v, "policy_url", &n)) == NULL)
                break;
            if ((n < 8 || strncmp(s, "https://", 8) != 0) && (n < 7 || strncmp(s, "http://", 7) != 0))
                error_at(b, node_mark(f->file, v), "policy_url must be an http:// or https:// URL, not %s", show(v).s);
            else if (memchr(s, ' ', n) != NULL || memchr(s, '>', n) != NULL || memchr(s, '<', n) != NULL)
                error_at(b, node_mark(f->file, v), "policy_url %s contains a space or angle bracket", show(v).s);
            else
                js.j.policy_url = dup(b, s, n);
            break;
        case K_UNAVAIL:
            if ((s = scalar(f, v, "on_unavailable", &n)) == NULL)
                break;
            if (dom_on_unavailable_parse(s, n, &js.j.on_unavailable) != 0)
                error_at(b, node_mark(f->file, v), "on_unavailable must be reject or next_region, not %s", show(v).s);
            break;
        case K_CLASSES:
            if (expect_mapping(f, v, "classes") != 0)
                break;
            FOR_PAIRS(f, v, c)
            {
                yaml_node_t *ck = get_node(f, c->key);
                const char *cn = scalar(f, ck, "a class name", &n);
                if (cn == NULL)
                    continue;
                int idx = find_class(b, cn, n);
                if (idx < 0) {
                    if (b->have_classes)
                        error_at(b, node_mark(f->file, ck), "unknown class %s", show(ck).s);
                    continue;
                }
                if (covered[idx]) {
                    error_at(b, node_mark(f->file, ck), "duplicate class %s (first at line %d)", show(ck).s,
                             covered[idx]);
                    continue;
                }
                covered[idx] = (int)node_mark(f->file, ck).line;
                parse_class_rule(f, ck, get_node(f, c->value), &js.j.classes[idx]);
            }
            break;
        default:
            break;
        }
    }
    mark_t at_root = node_mark(f->file, root);
    if (!dom__yaml_has(&t, K_NAME))
        error_at(b, at_root, "missing key \"jurisdiction\" (its name)");
    if (!dom__yaml_has(&t, K_VERSION))
        error_at(b, dom__yaml_has(&t, K_NAME) ? seen_at(f, &t, K_NAME) : at_root, "missing key \"version\"");
    if (!dom__yaml_has(&t, K_CLASSES)) {
        error_at(b, dom__yaml_has(&t, K_NAME) ? seen_at(f, &t, K_NAME) : at_root, "missing key \"classes\"");
    } else if (b->have_classes) {
        for (size_t i = 0; i < b->n_classes; ++i)
            if (!covered[i])
                error_at(b, seen_at(f, &t, K_CLASSES),
                         "class \"%s\" is not covered (every class of _classes.yaml needs a rule)", b->classes[i].name);
    }
    free(covered);
    if (js.j.is_default && applies != NULL)
        error_at(b, seen_at(f, &t, K_APPLIES),
                 "a default jurisdiction has no applies_to (it covers unknown locations)");
    else if (applies != NULL)
        parse_applies(f, applies, &js);
    else if (!js.j.is_default)
        error_at(b, dom__yaml_has(&t, K_NAME) ? seen_at(f, &t, K_NAME) : at_root,
                 "missing key \"applies_to\" (or default: true)");
    if (!dom__yaml_has(&t, K_POLICY))
        warn_at(b, dom__yaml_has(&t, K_NAME) ? seen_at(f, &t, K_NAME) : at_root,
                "no policy_url: refusals will carry no Link to the policy");
    /* Without its name or date a version's identity is unknown: leave it out of the duplicate and claim checks
     * rather than report conflicts that are only echoes of the first error. */
    if (js.j.name == NULL || bad_date || b->y.stop)
        return;
    if (js.j.version == NULL)
        js.j.version = "";
    if (b->n_jurs >= MAX_JURISDICTIONS) {
        error_at(b, js.at, "too many jurisdiction versions (at most %d)", MAX_JURISDICTIONS);
        return;
    }
    if (GROW(b, b->jurs, b->n_jurs, b->cap_jurs))
        b->jurs[b->n_jurs++] = js;
}

/* ---- files ---- */

typedef enum file_kind { KIND_REGIONS, KIND_GROUPS, KIND_CLASSES, KIND_JURISDICTION, KIND_UNKNOWN } file_kind_t;

static file_kind_t kind_of(const char *name)
{
    if (name[0] != '_')
        return KIND_JURISDICTION;
    if (strcmp(name, "_regions.yaml") == 0)
        return KIND_REGIONS;
    if (strcmp(name, "_groups.yaml") == 0)
        return KIND_GROUPS;
    if (strcmp(name, "_classes.yaml") == 0)
        return KIND_CLASSES;
    return KIND_UNKNOWN;
}

/* What one file's documents are checked as. */
struct file_walk {
    builder_t *b;
    const char *file, *name;
    file_kind_t kind;
    size_t order;
};

static void parse_document(dom__yaml_t *y, yaml_node_t *root, size_t index, void *arg)
{
    struct file_walk *w = arg;
    file_ctx_t f = {w->b, w->file};
    if (w->kind != KIND_JURISDICTION && index > 0) {
        error_at(w->b, node_mark(w->file, root), "%s holds one document only", w->name);
        return;
    }
    switch (w->kind) {
    case KIND_REGIONS:
        parse_regions(&f, root);
        break;
    case KIND_GROUPS:
        parse_groups(&f, root);
        break;
    case KIND_CLASSES:
        parse_classes(&f, root);
        break;
    default:
        parse_jurisdiction(&f, root, w->order * 100000 + index);
        break;
    }
}

static void parse_file(builder_t *b, const char *file, const char *name, const char *buf, size_t len, size_t order)
{
    file_kind_t kind = kind_of(name);
    if (kind == KIND_UNKNOWN) {
        mark_t at = {file, 0, 0};
        error_at(b, at,
                 "unknown vocabulary file (files starting with '_' are _regions.yaml, _groups.yaml and "
                 "_classes.yaml)");
        return;
    }
    struct file_walk w = {b, file, name, kind, order};
    b->y.file = file;
    int docs = dom__yaml_load(&b->y, buf, len, MAX_DEPTH, parse_document, &w);
    if (docs == 0 && !b->y.stop) {
        mark_t at = {file, 1, 1};
        if (kind == KIND_JURISDICTION)
            warn_at(b, at, "file holds no jurisdiction");
        else
            error_at(b, at, "%s is empty", name);
    }
}

/* ---- whole-set checks and assembly ---- */

static int jur_cmp(const void *a, const void *b)
{
    const jur_src_t *x = a, *y = b;
    int c = strcmp(x->j.name, y->j.name);
    if (c != 0)
        return c;
    if (x->j.effective != y->j.effective)
        return x->j.effective < y->j.effective ? -1 : 1;
    return x->order < y->order ? -1 : x->order > y->order;
}

typedef struct claim_src {
    dom_rule_claim_t claim;
    entry_t *entry;
    int64_t effective;
    dom_rule_mode_t mode;
} claim_src_t;

static int claim_src_cmp(const void *a, const void *b)
{
    const claim_src_t *x = a, *y = b;
    if (x->claim.level != y->claim.level)
        return x->claim.level < y->claim.level ? -1 : 1;
    int c = strncmp(x->claim.key, y->claim.key, sizeof(x->claim.key));
    if (c != 0)
        return c;
    if (x->effective != y->effective)
        return x->effective < y->effective ? -1 : 1;
    if (x->mode != y->mode)
        return x->mode < y->mode ? -1 : 1;
    return x->claim.jurisdiction < y->claim.jurisdiction ? -1 : x->claim.jurisdiction > y->claim.jurisdiction;
}

static void fmt_date(int64_t t, char *out, size_t len)
{
    dom__time_format(t, DOM__TIME_FMT_DATE, out, len);
}

/* A (jurisdiction, version) names one content: the same pair with other decisions (dom_rule_same_decisions), in
 * this tree or in the ledger of what was compiled before, is an error at the version key (the later file's, within
 * the tree). The same decisions under another date or mode are a version watched, then enforced. */
static void check_versions(builder_t *b)
{
    dom_ruleset_t *rs = b->rs;
    char **text = calloc(b->n_jurs + 1, sizeof(char *));
    size_t *len = calloc(b->n_jurs + 1, sizeof(size_t));
    if (text == NULL || len == NULL || dom_ruleset_compute_hashes(rs) != 0)
        goto nomem;
    for (size_t i = 0; i < b->n_jurs; ++i)
        if (dom_rule_canonical(rs, &rs->jurisdictions[i], &text[i], &len[i]) != 0)
            goto nomem;
    for (size_t i = 0; i < b->n_jurs; ++i) {
        const jur_src_t *js = &b->jurs[i];
        const dom_jurisdiction_t *j = &rs->jurisdictions[i];
        for (size_t k = 0; k < i; ++k) {
            const jur_src_t *other = &b->jurs[k];
            const dom_jurisdiction_t *oj = &rs->jurisdictions[k];
            if (strcmp(j->name, oj->name) != 0 || strcmp(j->version, oj->version) != 0 ||
                dom_rule_same_decisions(text[i], len[i], text[k], len[k]))
                continue;
            const jur_src_t *later = js->order > other->order ? js : other, *earlier = later == js ? other : js;
            const dom_jurisdiction_t *lj = later == js ? j : oj, *ej = later == js ? oj : j;
            error_at(b, later->version_at,
                     "%s version \"%s\" has sha256 %s, but %s:%zu:%zu uses the same version with other content "
                     "(sha256 %s): give changed rules a new version",
                     j->name, j->version, lj->hash, earlier->version_at.file, earlier->version_at.line,
                     earlier->version_at.col, ej->hash);
        }
        for (size_t k = 0; k < dom_ledger_n_versions(b->ledger); ++k) {
            const dom_ledger_version_t *old = dom_ledger_version_at(b->ledger, k);
            if (strcmp(old->jurisdiction, j->name) != 0 || strcmp(old->version, j->version) != 0 ||
                dom_rule_same_decisions(text[i], len[i], old->text, old->text_len))
                continue;
            char when[32];
            dom__time_format(old->first_compiled, "%Y-%m-%d %H:%M:%S UTC", when, sizeof(when));
            error_at(b, js->version_at,
                     "%s version \"%s\" has sha256 %s, but the ledger holds that version with other content "
                     "(sha256 %s, from %s, compiled %s): give changed rules a new version",
                     j->name, j->version, j->hash, old->hash, old->source_file, when);
            break;
        }
    }
    goto cleanup;
nomem:
    b->nomem = b->y.stop = 1;
cleanup:
    for (size_t i = 0; text != NULL && i < b->n_jurs; ++i)
        free(text[i]);
    free(text);
    free(len);
}

static void finish(builder_t *b)
{
    dom_ruleset_t *rs = b->rs;
    mark_t dir_at = {b->dir, 0, 0};
    if (!b->have_regions)
        error_at(b, dir_at, "no _regions.yaml (the storage regions that exist)");
    if (!b->have_classes)
        error_at(b, dir_at, "no _classes.yaml (the data classes and routes)");
    if (b->y.stop)
        return;
    if (b->n_jurs > 1)
        qsort(b->jurs, b->n_jurs, sizeof(b->jurs[0]), jur_cmp);
    int have_default = 0;
    for (size_t i = 0; i < b->n_jurs; ++i) {
        have_default |= b->jurs[i].j.is_default;
        if (i > 0 && strcmp(b->jurs[i].j.name, b->jurs[i - 1].j.name) == 0 &&
            b->jurs[i].j.effective == b->jurs[i - 1].j.effective) {
            char date[16];
            fmt_date(b->jurs[i].j.effective, date, sizeof(date));
            const jur_src_t *first = &b->jurs[i - 1];
            error_at(b, b->jurs[i].at, "duplicate jurisdiction \"%s\" effective %s (also at %s:%zu:%zu)",
                     b->jurs[i].j.name, date, first->at.file, first->at.line, first->at.col);
        }
    }
    if (!have_default)
        error_at(b, dir_at, "no default jurisdiction (one needs default: true, for unknown locations)");
    /* Two different default jurisdictions in effect from the same date and mode: which one applies is ambiguous. */
    for (size_t i = 0; i < b->n_jurs; ++i)
        for (size_t k = 0; k < i && b->jurs[i].j.is_default; ++k)
            if (b->jurs[k].j.is_default && b->jurs[k].j.effective == b->jurs[i].j.effective &&
                b->jurs[k].j.mode == b->jurs[i].j.mode && strcmp(b->jurs[k].j.name, b->jurs[i].j.name) != 0)
                error_at(b, b->jurs[i].at,
                         "\"%s\" and \"%s\" (%s:%zu:%zu) are both default jurisdictions for the "
                         "same effective date",
                         b->jurs[i].j.name, b->jurs[k].j.name, b->jurs[k].at.file, b->jurs[k].at.line,
                         b->jurs[k].at.col);

    /* claims */
    size_t n = 0;
    for (size_t i = 0; i < b->n_jurs; ++i)
        for (size_t e = 0; e < b->jurs[i].n_entries; ++e)
            n += b->jurs[i].entries[e].kind == ENTRY_GROUP ? b->groups[b->jurs[i].entries[e].group].n_members : 1;
    claim_src_t *cs = malloc((n + 1) * sizeof(*cs));
    if (cs == NULL) {
        b->nomem = b->y.stop = 1;
        return;
    }
    size_t k = 0;
    for (size_t i = 0; i < b->n_jurs; ++i) {
        jur_src_t *js = &b->jurs[i];
        for (size_t e = 0; e < js->n_entries; ++e) {
            entry_t *ent = &js->entries[e];
            if (ent->kind == ENTRY_GROUP) {
                const group_t *g = &b->groups[ent->group];
                for (size_t m = 0; m < g->n_members; ++m) {
                    claim_src_t c = {{DOM_LEVEL_GROUP, {0}, i}, ent, js->j.effective, js->j.mode};
                    memcpy(c.claim.key, g->members[m], 2);
                    cs[k++] = c;
                }
            } else {
                claim_src_t c = {{ent->kind == ENTRY_SUBDIVISION ? DOM_LEVEL_SUBDIVISION : DOM_LEVEL_COUNTRY, {0}, i},
                                 ent,
                                 js->j.effective,
                                 js->j.mode};
                memcpy(c.claim.key, ent->key, sizeof(c.claim.key));
                cs[k++] = c;
            }
        }
    }
    if (n > 1)
        qsort(cs, n, sizeof(*cs), claim_src_cmp);
    size_t out = 0;
    for (size_t i = 0; i < n; ++i) {
        if (out > 0) {
            claim_src_t *prev = &cs[out - 1];
            if (prev->claim.level == cs[i].claim.level && strcmp(prev->claim.key, cs[i].claim.key) == 0 &&
                prev->effective == cs[i].effective && prev->mode == cs[i].mode) {
                /* the same jurisdiction through two overlapping groups: harmless, keep one */
                if (prev->claim.jurisdiction == cs[i].claim.jurisdiction)
                    continue;
                jur_src_t *a = &b->jurs[prev->claim.jurisdiction], *c = &b->jurs[cs[i].claim.jurisdiction];
                /* report at the entry read later, once per jurisdiction pair */
                entry_t *later = a->order > c->order ? prev->entry : cs[i].entry;
                entry_t *earlier = later == prev->entry ? cs[i].entry : prev->entry;
                jur_src_t *lj = later == prev->entry ? a : c, *ej = later == prev->entry ? c : a;
                if (!lj->conflict_reported) {
                    char date[16];
                    fmt_date(cs[i].effective, date, sizeof(date));
                    if (cs[i].claim.level == DOM_LEVEL_GROUP)
                        error_at(b, later->at,
                                 "%s (via group %s) is claimed by both \"%s\" and \"%s\" (%s:%zu:%zu) for the same "
                                 "date %s and mode",
                                 cs[i].claim.key, b->groups[later->group].name, lj->j.name, ej->j.name,
                                 earlier->at.file, earlier->at.line, earlier->at.col, date);
                    else
                        error_at(b, later->at,
                                 "%s is claimed by both \"%s\" and \"%s\" (%s:%zu:%zu) for the same date %s and mode",
                                 cs[i].claim.key, lj->j.name, ej->j.name, earlier->at.file, earlier->at.line,
                                 earlier->at.col, date);
                    lj->conflict_reported = 1;
                }
                continue;
            }
        }
        cs[out++] = cs[i];
    }
    if (b->y.diag->errors == 0 && !b->y.stop) {
        rs->claims = dom__arena_calloc(b->arena, out, sizeof(rs->claims[0]));
        rs->jurisdictions = dom__arena_calloc(b->arena, b->n_jurs, sizeof(rs->jurisdictions[0]));
        if (rs->claims == NULL || rs->jurisdictions == NULL) {
            b->nomem = 1;
        } else {
            for (size_t i = 0; i < out; ++i)
                rs->claims[i] = cs[i].claim;
            rs->n_claims = out;
            for (size_t i = 0; i < b->n_jurs; ++i)
                rs->jurisdictions[i] = b->jurs[i].j;
            rs->n_jurisdictions = b->n_jurs;
            rs->regions = b->regions;
            rs->n_regions = b->n_regions;
            rs->classes = b->classes;
            rs->n_classes = b->n_classes;
            rs->routes = b->routes;
            rs->n_routes = b->n_routes;
            rs->default_class = b->default_class;
            rs->read_methods = b->read_methods != NULL ? b->read_methods : DOM_DEFAULT_READ_METHODS;
            dom__ruleset_sort_claims(rs);
            dom__ruleset_sort_routes(rs);
            check_versions(b);
        }
    }
    free(cs);
}

static int builder_init(builder_t *b, dom_diag_t *diag, dom_diag_t *fallback, const char *dir)
{
    memset(b, 0, sizeof(*b));
    if (diag == NULL) {
        memset(fallback, 0, sizeof(*fallback));
        diag = fallback;
    }
    b->y.diag = diag;
    b->y.max_errors = MAX_ERRORS;
    b->dir = dir;
    if ((b->rs = dom__ruleset_new()) == NULL)
        return DOM_ENOMEM;
    b->arena = dom__ruleset_arena(b->rs);
    return 0;
}

/* ---- entry points ---- */

typedef struct source_file {
    char *name;
    char *path;
    char *buf;
    size_t len;
} source_file_t;

static int name_cmp(const void *a, const void *b)
{
    return strcmp(((const source_file_t *)a)->name, ((const source_file_t *)b)->name);
}

static int read_all(const char *path, size_t max, char **buf, size_t *len, char *why, size_t whylen)
{
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        snprintf(why, whylen, "%s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(why, whylen, "not a regular file");
        fclose(fp);
        return -1;
    }
    if ((uint64_t)st.st_size > max) {
        snprintf(why, whylen, "file is larger than %zu bytes", max);
        fclose(fp);
        return -1;
    }
    char *p = malloc((size_t)st.st_size + 1);
    if (p == NULL) {
        fclose(fp);
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    size_t got = fread(p, 1, (size_t)st.st_size + 1, fp);
    int err = ferror(fp);
    fclose(fp);
    if (err || got > (size_t)st.st_size) {
        free(p);
        snprintf(why, whylen, err ? "read error" : "file grew while reading");
        return -1;
    }
    *buf = p;
    *len = got;
    return 0;
}

void dom_rules_sources_free(dom_rules_sources_t *src)
{
    if (src == NULL)
        return;
    for (size_t i = 0; i < src->n_versions; ++i)
        free(src->versions[i].entries);
    free(src->versions);
    free(src);
}

/* Where each version (in the order of the set's jurisdictions) and each of its applies_to entries was written. */
static dom_rules_sources_t *build_sources(const builder_t *b)
{
    dom_rules_sources_t *src = calloc(1, sizeof(*src));
    if (src == NULL || (src->versions = calloc(b->n_jurs + 1, sizeof(src->versions[0]))) == NULL)
        goto fail;
    src->n_versions = b->n_jurs;
    for (size_t i = 0; i < b->n_jurs; ++i) {
        const jur_src_t *js = &b->jurs[i];
        dom__rules_version_src_t *v = &src->versions[i];
        v->name_at = (dom_mark_t){js->at.line, js->at.col};
        v->effective_at = (dom_mark_t){js->effective_at.line, js->effective_at.col};
        if ((v->entries = calloc(js->n_entries + 1, sizeof(v->entries[0]))) == NULL)
            goto fail;
        v->n_entries = js->n_entries;
        for (size_t e = 0; e < js->n_entries; ++e) {
            const entry_t *ent = &js->entries[e];
            snprintf(v->entries[e].text, sizeof(v->entries[e].text), "%s",
                     ent->kind == ENTRY_GROUP ? b->groups[ent->group].name : ent->key);
            v->entries[e].at = (dom_mark_t){ent->at.line, ent->at.col};
        }
    }
    return src;
fail:
    dom_rules_sources_free(src);
    return NULL;
}

static int parse_dir(const char *dir, const dom_ledger_t *ledger, dom_diag_t *diag, dom_ruleset_t **out,
                     dom_rules_sources_t **positions);

int dom_rules_parse_dir(const char *dir, dom_diag_t *diag, dom_ruleset_t **out)
{
    return parse_dir(dir, NULL, diag, out, NULL);
}

int dom_rules_parse_dir_ledger(const char *dir, const dom_ledger_t *ledger, dom_diag_t *diag, dom_ruleset_t **out)
{
    return parse_dir(dir, ledger, diag, out, NULL);
}

int dom_rules_parse_dir_sources(const char *dir, dom_diag_t *diag, dom_ruleset_t **out, dom_rules_sources_t **sources)
{
    *sources = NULL;
    return parse_dir(dir, NULL, diag, out, sources);
}

static int parse_dir(const char *dir, const dom_ledger_t *ledger, dom_diag_t *diag, dom_ruleset_t **out,
                     dom_rules_sources_t **positions)
{
    dom_diag_t fallback;
    builder_t b;
    source_file_t *files = NULL;
    size_t n_files = 0, cap = 0;
    int ret = DOM_OK;
    DIR *d = NULL;
    EVP_MD_CTX *md = NULL;
    dom__text_t sources = {0};
    *out = NULL;
    if ((ret = builder_init(&b, diag, &fallback, dir)) != 0)
        return ret;
    b.ledger = ledger;
    if ((d = opendir(dir)) == NULL) {
        mark_t at = {dir, 0, 0};
        error_at(&b, at, "cannot open directory: %s", strerror(errno));
        ret = DOM_EIO;
        goto cleanup;
    }
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        size_t nl = strlen(ent->d_name);
        if (ent->d_name[0] == '.' || nl < 6 || strcmp(ent->d_name + nl - 5, ".yaml") != 0)
            continue;
        if (n_files >= MAX_FILES) {
            mark_t at = {dir, 0, 0};
            error_at(&b, at, "more than %d rule files", MAX_FILES);
            ret = DOM_ERULES;
            goto cleanup;
        }
        if (n_files == cap) {
            size_t ncap = cap ? cap * 2 : 32;
            source_file_t *nf = realloc(files, ncap * sizeof(*nf));
            if (nf == NULL) {
                ret = DOM_ENOMEM;
                goto cleanup;
            }
            files = nf;
            cap = ncap;
        }
        memset(&files[n_files], 0, sizeof(files[0]));
        files[n_files].name = strdup(ent->d_name);
        size_t dl = strlen(dir);
        files[n_files].path = malloc(dl + nl + 2);
        if (files[n_files].name == NULL || files[n_files].path == NULL) {
            ++n_files;
            ret = DOM_ENOMEM;
            goto cleanup;
        }
        sprintf(files[n_files].path, "%s%s%s", dir, dl > 0 && dir[dl - 1] == '/' ? "" : "/", ent->d_name);
        ++n_files;
    }
    if (n_files > 1)
        qsort(files, n_files, sizeof(files[0]), name_cmp);

    /* Hash every file in name order: name, NUL, 8-byte little-endian length, bytes. */
    if ((md = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    for (size_t i = 0; i < n_files; ++i) {
        char why[128];
        if (read_all(files[i].path, MAX_FILE_SIZE, &files[i].buf, &files[i].len, why, sizeof(why)) != 0) {
            mark_t at = {files[i].path, 0, 0};
            error_at(&b, at, "cannot read: %s", why);
            continue;
        }
        unsigned char lenle[8];
        for (int k = 0; k < 8; ++k)
            lenle[k] = (unsigned char)((uint64_t)files[i].len >> (8 * k));
        EVP_DigestUpdate(md, files[i].name, strlen(files[i].name) + 1);
        EVP_DigestUpdate(md, lenle, 8);
        EVP_DigestUpdate(md, files[i].buf, files[i].len);
        /* each file's own hash, for the ledger: "name sha256\n" */
        char sha[65];
        if (dom_sha256_hex(files[i].buf, files[i].len, sha) != 0) {
            ret = DOM_ENOMEM;
            goto cleanup;
        }
        dom__text_printf(&sources, "%s %s\n", files[i].name, sha);
    }
    b.rs->sources = dup(&b, sources.base != NULL ? sources.base : "", sources.len);
    if (sources.failed || b.nomem) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    unsigned char digest[32];
    unsigned int dlen = 0;
    EVP_DigestFinal_ex(md, digest, &dlen);
    for (unsigned i = 0; i < 32; ++i)
        sprintf(b.rs->source_hash + 2 * i, "%02x", digest[i]);

    /* Vocabulary before the jurisdictions that use it; otherwise in name order. */
    for (int pass = 0; pass < 4 && !b.y.stop; ++pass) {
        for (size_t i = 0; i < n_files && !b.y.stop; ++i) {
            if (files[i].buf == NULL)
                continue;
            file_kind_t kind = kind_of(files[i].name);
            int want = kind == KIND_REGIONS ? 0 : kind == KIND_GROUPS ? 1 : kind == KIND_CLASSES ? 2 : 3;
            if (want != pass)
                continue;
            parse_file(&b, files[i].path, files[i].name, files[i].buf, files[i].len, i);
            /* keep source_file pointers valid: the path lives in the arena */
        }
    }
    for (size_t i = 0; i < b.n_jurs; ++i)
        b.jurs[i].j.source_file = dup(&b, b.jurs[i].j.source_file, strlen(b.jurs[i].j.source_file));
    finish(&b);
    if (b.nomem) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    if (b.y.diag->errors != 0) {
        ret = DOM_ERULES;
        goto cleanup;
    }
    if (positions != NULL && (*positions = build_sources(&b)) == NULL) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    b.rs->compiled_at = (int64_t)time(NULL);
    *out = b.rs;
    b.rs = NULL;

cleanup:
    if (d != NULL)
        closedir(d);
    EVP_MD_CTX_free(md);
    dom__text_free(&sources);
    for (size_t i = 0; i < n_files; ++i) {
        free(files[i].name);
        free(files[i].path);
        free(files[i].buf);
    }
    free(files);
    dom_ruleset_release(b.rs);
    return ret;
}

/* The fixed vocabulary a lone buffer is checked against (see dom_rules_parse_buffer). */
static void fixed_vocabulary(builder_t *b, file_kind_t kind)
{
    static const char *const regions[][2] = {
        {"eu-central", "DE"}, {"eu-west", "IE"}, {"us-east", "US"}, {"us-west", "US"}, {"ap-south", "IN"}};
    static const char *const classes[] = {"account", "content", "device", "telemetry", "marketing"};
    static const char eea[][3] = {"AT", "BE", "DE", "FR", "IE", "IS", "LI", "NO"};
    if (kind != KIND_REGIONS) {
        b->have_regions = 1;
        for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); ++i)
            if (GROW(b, b->regions, b->n_regions, b->cap_regions))
                b->regions[b->n_regions++] = (dom_region_t){regions[i][0], regions[i][1], ""};
    }
    if (kind != KIND_CLASSES) {
        b->have_classes = 1;
        for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); ++i)
            if (GROW(b, b->classes, b->n_classes, b->cap_classes))
                b->classes[b->n_classes++] = (dom_data_class_t){classes[i], "", 1};
    }
    if (kind != KIND_GROUPS && GROW(b, b->groups, b->n_groups, b->cap_groups)) {
        group_t g = {"EEA", dom__arena_calloc(b->arena, 8, 3), 8, {"_groups.yaml", 1, 1}};
        if (g.members == NULL) {
            b->nomem = b->y.stop = 1;
            return;
        }
        memcpy(g.members, eea, sizeof(eea));
        b->groups[b->n_groups++] = g;
    }
}

int dom_rules_parse_buffer(const char *name, const char *buf, size_t len, dom_diag_t *diag)
{
    dom_diag_t fallback;
    builder_t b;
    int ret = builder_init(&b, diag, &fallback, ".");
    if (ret != 0)
        return ret;
    const char *base = strrchr(name, '/');
    base = base != NULL ? base + 1 : name;
    file_kind_t kind = kind_of(base);
    fixed_vocabulary(&b, kind);
    if (len > MAX_FILE_SIZE) {
        mark_t at = {name, 0, 0};
        error_at(&b, at, "file is larger than %u bytes", MAX_FILE_SIZE);
    } else {
        parse_file(&b, name, base, buf, len, 0);
    }
    if (kind == KIND_JURISDICTION && !b.y.stop) {
        /* a lone file need not hold the default: pretend one exists */
        b.have_regions = b.have_classes = 1;
        int has_default = 0;
        for (size_t i = 0; i < b.n_jurs; ++i)
            has_default |= b.jurs[i].j.is_default;
        if (!has_default && GROW(&b, b.jurs, b.n_jurs, b.cap_jurs)) {
            jur_src_t d;
            memset(&d, 0, sizeof(d));
            d.j.name = "(default)"; /* cannot collide: names have no parentheses */
            d.at = (mark_t){name, 1, 1};
            d.j.version = "";
            d.j.is_default = 1;
            d.j.classes = dom__arena_calloc(b.arena, b.n_classes, sizeof(dom_class_rule_t));
            d.order = SIZE_MAX;
            b.jurs[b.n_jurs++] = d;
        }
        finish(&b);
    }
    ret = b.nomem ? DOM_ENOMEM : b.y.diag->errors != 0 ? DOM_ERULES : DOM_OK;
    dom_ruleset_release(b.rs);
    return ret;
}

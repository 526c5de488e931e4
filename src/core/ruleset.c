/*
 * The in-memory rule set: its arena, its refcount, and the lookups that run on every
 * request (jurisdiction resolution, data class of a path). The lookups never allocate
 * and never touch LMDB: a snapshot is immutable once built (docs/internals/rules.md).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "domicile/rules_record.h"
#include "ruleset_internal.h"

/* ---- arena ---- */

typedef struct chunk {
    struct chunk *next;
    size_t size, used;
    _Alignas(16) unsigned char bytes[];
} chunk_t;

struct dom__arena {
    chunk_t *head;
};

#define CHUNK_MIN 16384

dom__arena_t *dom__arena_new(void)
{
    return calloc(1, sizeof(dom__arena_t));
}

void dom__arena_free(dom__arena_t *arena)
{
    if (arena == NULL)
        return;
    chunk_t *c = arena->head;
    while (c != NULL) {
        chunk_t *next = c->next;
        free(c);
        c = next;
    }
    free(arena);
}

void *dom__arena_alloc(dom__arena_t *arena, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    size = (size + 15) & ~(size_t)15;
    if (size == 0)
        size = 16;
    chunk_t *c = arena->head;
    if (c == NULL || c->size - c->used < size) {
        size_t want = size > CHUNK_MIN ? size : CHUNK_MIN;
        chunk_t *n = malloc(sizeof(chunk_t) + want);
        if (n == NULL)
            return NULL;
        n->size = want;
        n->used = 0;
        /* A big allocation gets its own chunk behind the current one, so the current keeps its free space. */
        if (c != NULL && want == size && c->size - c->used > CHUNK_MIN / 4) {
            n->next = c->next;
            c->next = n;
        } else {
            n->next = c;
            arena->head = n;
        }
        c = n;
    }
    void *p = c->bytes + c->used;
    c->used += size;
    memset(p, 0, size);
    return p;
}

void *dom__arena_calloc(dom__arena_t *arena, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / 4 / size)
        return NULL;
    return dom__arena_alloc(arena, n * size);
}

char *dom__arena_strndup(dom__arena_t *arena, const char *s, size_t len)
{
    if (len == SIZE_MAX)
        return NULL;
    char *p = dom__arena_alloc(arena, len + 1);
    if (p != NULL && len != 0)
        memcpy(p, s, len);
    return p;
}

/* ---- ruleset lifetime ---- */

dom_ruleset_t *dom__ruleset_new(void)
{
    dom__arena_t *arena = dom__arena_new();
    if (arena == NULL)
        return NULL;
    dom_ruleset_t *rs = dom__arena_alloc(arena, sizeof(*rs));
    if (rs == NULL) {
        dom__arena_free(arena);
        return NULL;
    }
    rs->refcnt = 1;
    rs->arena = arena;
    return rs;
}

dom__arena_t *dom__ruleset_arena(dom_ruleset_t *rs)
{
    return rs->arena;
}

void dom_ruleset_retain(dom_ruleset_t *rs)
{
    __atomic_fetch_add(&rs->refcnt, 1, __ATOMIC_RELAXED);
}

void dom_ruleset_release(dom_ruleset_t *rs)
{
    if (rs == NULL)
        return;
    if (__atomic_sub_fetch(&rs->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
        dom__arena_free(rs->arena); /* the struct itself lives in the arena */
}

/* ---- sorting ---- */

static int claim_cmp(const void *a, const void *b, void *ctx)
{
    const dom_ruleset_t *rs = ctx;
    const dom_rule_claim_t *x = a, *y = b;
    if (x->level != y->level)
        return x->level < y->level ? -1 : 1;
    int c = strncmp(x->key, y->key, sizeof(x->key));
    if (c != 0)
        return c;
    int64_t ex = rs->jurisdictions[x->jurisdiction].effective;
    int64_t ey = rs->jurisdictions[y->jurisdiction].effective;
    if (ex != ey)
        return ex < ey ? -1 : 1;
    return x->jurisdiction < y->jurisdiction ? -1 : x->jurisdiction > y->jurisdiction;
}

void dom__ruleset_sort_claims(dom_ruleset_t *rs)
{
    if (rs->n_claims > 1)
        qsort_r(rs->claims, rs->n_claims, sizeof(rs->claims[0]), claim_cmp, rs);
}

static int route_cmp(const void *a, const void *b)
{
    const dom_route_rule_t *x = a, *y = b;
    if (x->prefix_len != y->prefix_len)
        return x->prefix_len > y->prefix_len ? -1 : 1;
    int c = strcmp(x->prefix, y->prefix);
    if (c != 0)
        return c;
    return x->methods < y->methods ? -1 : x->methods > y->methods;
}

void dom__ruleset_sort_routes(dom_ruleset_t *rs)
{
    if (rs->n_routes > 1)
        qsort(rs->routes, rs->n_routes, sizeof(rs->routes[0]), route_cmp);
}

/* ---- lookups (per request: no allocation) ---- */

/*
 * Claim keys as integers: the bytes up to the first NUL (at most 8), big-endian, zero-padded. Comparing two
 * such integers orders keys exactly as strncmp over the 8-byte key does (unsigned bytes, stop at NUL), so
 * the binary search keeps the order claims were sorted in, at one load and a few ALU operations a step.
 */
static uint64_t claim_key(const char key[8])
{
    uint64_t x;
    memcpy(&x, key, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    /* 0x80 in every byte that is zero (no carries between bytes), then keep the bytes before the first one. */
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
    uint64_t zero = ~(((x & low7) + low7) | x | low7);
    if (zero == 0)
        return x;
    unsigned keep = (unsigned)__builtin_clzll(zero); /* bits of the bytes before the first NUL */
    return keep == 0 ? 0 : x & (~0ull << (64 - keep));
}

/* The same integer for a NUL-terminated key that may be shorter in memory than 8 bytes; 0 if it has 8 or more
 * characters (no claim key can be that long) or none. */
static uint64_t lookup_key(const char *key)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < 8; ++i) {
        if (key[i] == '\0')
            return v;
        v |= (uint64_t)(unsigned char)key[i] << (56 - 8 * i);
    }
    return 0;
}

static int claim_before(const dom_rule_claim_t *c, dom_rules_level_t level, uint64_t key)
{
    if (c->level != level)
        return c->level < level;
    return claim_key(c->key) < key;
}

static int claim_is(const dom_rule_claim_t *c, dom_rules_level_t level, uint64_t key)
{
    return c->level == level && claim_key(c->key) == key;
}

/* Picks, among candidates [first, last) (sorted by effective ascending), the newest enforce version in effect
 * and the newest report version in effect that is newer than it. */
#define PICK(COUNT, JUR_AT)                                                                                            \
    do {                                                                                                               \
        for (size_t i_ = (COUNT); i_-- > 0;) {                                                                         \
            const dom_jurisdiction_t *j_ = (JUR_AT);                                                                   \
            if (j_->effective > now)                                                                                   \
                continue;                                                                                              \
            if (j_->mode == DOM_MODE_ENFORCE) {                                                                        \
                if (*enforce == NULL)                                                                                  \
                    *enforce = j_;                                                                                     \
            } else if (*enforce == NULL && *report == NULL) {                                                          \
                *report = j_;                                                                                          \
            }                                                                                                          \
            if (*enforce != NULL)                                                                                      \
                break;                                                                                                 \
        }                                                                                                              \
        if (*report != NULL && *enforce != NULL && (*report)->effective <= (*enforce)->effective)                      \
            *report = NULL;                                                                                            \
    } while (0)

void dom_ruleset_resolve(const dom_ruleset_t *rs, dom_rules_level_t level, const char *key, int64_t now,
                         const dom_jurisdiction_t **enforce, const dom_jurisdiction_t **report)
{
    *enforce = NULL;
    *report = NULL;
    if (rs == NULL || key == NULL)
        return;
    uint64_t k = lookup_key(key); /* "" and keys of 8 or more characters match no claim */
    if (k == 0)
        return;
    size_t lo = 0, hi = rs->n_claims;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (claim_before(&rs->claims[mid], level, k))
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < rs->n_claims && claim_is(&rs->claims[end], level, k))
        ++end;
    const dom_rule_claim_t *first = rs->claims + lo;
    /* Walking newest first: a report version seen before the enforce one is newer than it. */
    PICK(end - lo, &rs->jurisdictions[first[i_].jurisdiction]);
}

void dom_ruleset_find(const dom_ruleset_t *rs, const char *name, int64_t now, const dom_jurisdiction_t **enforce,
                      const dom_jurisdiction_t **report)
{
    *enforce = NULL;
    *report = NULL;
    if (rs == NULL)
        return;
    if (name == NULL) {
        /* The default versions: few, and the array is sorted by name then effective, so walk it all backwards
         * keeping the newest per mode. Different default names are refused by check at equal dates. */
        const dom_jurisdiction_t *best_e = NULL, *best_r = NULL;
        for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
            const dom_jurisdiction_t *j = &rs->jurisdictions[i];
            if (!j->is_default || j->effective > now)
                continue;
            const dom_jurisdiction_t **best = j->mode == DOM_MODE_ENFORCE ? &best_e : &best_r;
            if (*best == NULL || j->effective >= (*best)->effective)
                *best = j;
        }
        *enforce = best_e;
        if (best_r != NULL && (best_e == NULL || best_r->effective > best_e->effective))
            *report = best_r;
        return;
    }
    size_t lo = 0, hi = rs->n_jurisdictions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(rs->jurisdictions[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t end = lo;
    while (end < rs->n_jurisdictions && strcmp(rs->jurisdictions[end].name, name) == 0)
        ++end;
    const dom_jurisdiction_t *first = rs->jurisdictions + lo;
    PICK(end - lo, &first[i_]);
}

int dom_ruleset_method_is_read(const dom_ruleset_t *rs, const char *method, size_t len)
{
    /* methods are case-sensitive (RFC 9110 9.1): "get" is some other method, hence a write */
    if (method == NULL || (dom_method_bit(method, len) & (DOM_METHOD_GET | DOM_METHOD_HEAD | DOM_METHOD_OPTIONS)))
        return method != NULL;
    const char *p = rs != NULL && rs->read_methods != NULL ? rs->read_methods : "";
    while (*p != '\0' && len != 0) {
        const char *end = strchr(p, ',');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == len && memcmp(p, method, len) == 0)
            return 1;
        p += n + (end != NULL);
    }
    return 0;
}

size_t dom_ruleset_classify(const dom_ruleset_t *rs, const char *method, size_t method_len, const char *path,
                            size_t path_len)
{
    unsigned bit = dom_method_bit(method, method_len);
    for (size_t i = 0; i < rs->n_routes; ++i) {
        const dom_route_rule_t *r = &rs->routes[i];
        /* The last byte of the prefix first: it tells most routes apart (/v1/account, /v1/files, ...) without
         * a memcmp call. */
        if ((r->methods & bit) == 0 || r->prefix_len > path_len ||
            (r->prefix_len != 0 && r->prefix[r->prefix_len - 1] != path[r->prefix_len - 1]) ||
            memcmp(r->prefix, path, r->prefix_len) != 0)
            continue;
        /* Match whole path segments: /v1/account must not capture /v1/accounting. A ';' ends the segment too:
         * servers that drop path parameters (Tomcat, Jetty) read /v1/account;x as /v1/account. */
        if (r->prefix_len == path_len || r->prefix[r->prefix_len - 1] == '/' || path[r->prefix_len] == '/' ||
            path[r->prefix_len] == '?' || path[r->prefix_len] == ';')
            return r->class_index;
    }
    return rs->default_class;
}

int dom_ruleset_region_index(const dom_ruleset_t *rs, const char *name)
{
    if (rs == NULL || name == NULL)
        return -1;
    for (size_t i = 0; i < rs->n_regions; ++i)
        if (strcmp(rs->regions[i].name, name) == 0)
            return (int)i;
    return -1;
}

/*
 * Content addresses of rule versions (docs/internals/ledger.md): the canonical text of
 * what a jurisdiction version decides, and of the rule set as a whole, and their SHA-256.
 *
 * The canonical text is lines "key=value\n" (the rules database's framing and escapes),
 * sorted bytewise by key and then by value, so neither the order of keys in a YAML file,
 * nor its comments, nor where the file lay can change it. Lists whose order means nothing
 * (applies_to, read methods) are sorted; region lists keep their order (it is the order
 * of preference). Both the parser and the live store hash the structs they built, so the
 * same rule text has the same hash wherever it was loaded from.
 */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "domicile/ledger.h"
#include "rules_record_internal.h"
#include "util/time.h"

/* Lines collected before sorting. */
typedef struct lines {
    char **v;
    size_t n, cap;
    int failed;
} lines_t;

static void add(lines_t *l, const char *key, const char *value)
{
    dom__record_buf_t b = {0};
    if (l->failed)
        return;
    dom__record_put_field(&b, key, value);
    if (b.failed || b.base == NULL) {
        dom__record_buf_free(&b);
        l->failed = 1;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL) {
            dom__record_buf_free(&b);
            l->failed = 1;
            return;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = b.base; /* ownership moves to the list */
}

static void addf(lines_t *l, const char *value, const char *fmt, const char *a, const char *b)
{
    char key[3 * DOM_NAME_MAX + 32];
    snprintf(key, sizeof(key), fmt, a, b);
    add(l, key, value);
}

/* By key (up to '='), then by the whole line: a key that is a prefix of another sorts first. */
static int line_cmp(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    size_t kx = strcspn(x, "="), ky = strcspn(y, "=");
    int c = memcmp(x, y, kx < ky ? kx : ky);
    if (c != 0)
        return c;
    if (kx != ky)
        return kx < ky ? -1 : 1;
    return strcmp(x, y);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorts the lines and joins them into one malloc'd text; frees the list. */
static int finish(lines_t *l, char **text, size_t *len)
{
    int ret = DOM_OK;
    size_t total = 0;
    char *out = NULL;
    if (l->failed) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    qsort(l->v, l->n, sizeof(*l->v), line_cmp);
    for (size_t i = 0; i < l->n; ++i)
        total += strlen(l->v[i]);
    if ((out = malloc(total + 1)) == NULL) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    total = 0;
    for (size_t i = 0; i < l->n; ++i) {
        size_t n = strlen(l->v[i]);
        memcpy(out + total, l->v[i], n);
        total += n;
    }
    out[total] = '\0';
    *text = out;
    *len = total;

cleanup:
    for (size_t i = 0; i < l->n; ++i)
        free(l->v[i]);
    free(l->v);
    return ret;
}

/* Splits `list` at any of `seps`, trims spaces, sorts the items and joins them with ","; malloc'd. */
static char *sorted_list(const char *list, const char *seps)
{
    size_t n = 0, cap = strlen(list) + 1;
    char *copy = strdup(list), **items = calloc(cap, sizeof(char *)), *out = malloc(cap);
    if (copy == NULL || items == NULL || out == NULL) {
        free(out);
        out = NULL;
        goto cleanup;
    }
    for (char *save = NULL, *t = strtok_r(copy, seps, &save); t != NULL; t = strtok_r(NULL, seps, &save)) {
        while (*t == ' ')
            ++t;
        size_t k = strlen(t);
        while (k > 0 && t[k - 1] == ' ')
            t[--k] = '\0';
        if (k > 0)
            items[n++] = t;
    }
    qsort(items, n, sizeof(*items), str_cmp);
    out[0] = '\0';
    for (size_t i = 0; i < n; ++i) {
        if (i)
            strcat(out, ",");
        strcat(out, items[i]);
    }

cleanup:
    free(copy);
    free(items);
    return out;
}

static void regions(lines_t *l, const dom_ruleset_t *rs, const char *fmt, const char *cls, const uint16_t *r, size_t n)
{
    char list[DOM_MAX_REGIONS * (DOM_NAME_MAX + 1) + 1] = "";
    for (size_t i = 0; i < n && i < DOM_MAX_REGIONS; ++i) {
        if (i)
            strcat(list, ",");
        strcat(list, r[i] < rs->n_regions ? rs->regions[r[i]].name : "?");
    }
    addf(l, list, fmt, cls, NULL);
}

int dom_rule_canonical(const dom_ruleset_t *rs, const dom_jurisdiction_t *j, char **text, size_t *len)
{
    lines_t l = {0};
    char date[16];
    if (j->classes == NULL)
        return DOM_EINVAL;
    char *applies = sorted_list(j->applies_to != NULL ? j->applies_to : "", ",");
    if (applies == NULL)
        l.failed = 1;
    add(&l, "format", DOM_RULE_CANONICAL_FORMAT);
    add(&l, "jurisdiction", j->name);
    add(&l, "version", j->version);
    dom__time_format(j->effective, DOM__TIME_FMT_DATE, date, sizeof(date));
    add(&l, "effective", date);
    add(&l, "mode", dom_rule_mode_name(j->mode));
    add(&l, "default", j->is_default ? "true" : "false");
    add(&l, "applies_to", applies);
    add(&l, "on_unavailable", dom_on_unavailable_name(j->on_unavailable));
    add(&l, "policy_url", j->policy_url);
    add(&l, "law", j->law);
    for (size_t c = 0; c < rs->n_classes; ++c) {
        const dom_class_rule_t *r = &j->classes[c];
        const char *name = rs->classes[c].name;
        addf(&l, r->deny ? "true" : "false", "class.%s.deny", name, NULL);
        addf(&l, r->deny ? (r->deny_reason != NULL ? r->deny_reason : "class_denied") : "", "class.%s.reason", name,
             NULL);
        regions(&l, rs, "class.%s.write", name, r->write_regions, r->n_write);
        regions(&l, rs, "class.%s.read", name, r->read_regions, r->n_read);
        addf(&l, dom_consent_name(r->consent_required), "class.%s.consent", name, NULL);
        addf(&l, r->anonymize ? "true" : "false", "class.%s.anonymize", name, NULL);
    }
    free(applies);
    return finish(&l, text, len);
}

int dom_ruleset_canonical(const dom_ruleset_t *rs, char **text, size_t *len)
{
    lines_t l = {0};
    char *reads = sorted_list(rs->read_methods != NULL ? rs->read_methods : DOM_DEFAULT_READ_METHODS, ",");
    if (reads == NULL)
        l.failed = 1;
    add(&l, "format", DOM_RULESET_CANONICAL_FORMAT);
    add(&l, "read_methods", reads);
    add(&l, "default_class", rs->default_class < rs->n_classes ? rs->classes[rs->default_class].name : "?");
    for (size_t i = 0; i < rs->n_regions; ++i)
        addf(&l, rs->regions[i].location, "region.%s.location", rs->regions[i].name, NULL);
    for (size_t i = 0; i < rs->n_classes; ++i)
        addf(&l, rs->classes[i].personal ? "true" : "false", "class.%s.personal", rs->classes[i].name, NULL);
    for (size_t i = 0; i < rs->n_routes; ++i) {
        char methods[DOM_METHODS_TEXT_MAX], *v = NULL;
        const dom_route_rule_t *r = &rs->routes[i];
        const char *cls = r->class_index < rs->n_classes ? rs->classes[r->class_index].name : "?";
        dom_methods_format(r->methods, methods, sizeof(methods));
        size_t n = strlen(r->prefix) + strlen(methods) + strlen(cls) + 3;
        if ((v = malloc(n)) == NULL) {
            l.failed = 1;
            break;
        }
        snprintf(v, n, "%s %s %s", r->prefix, methods, cls);
        add(&l, "route", v);
        free(v);
    }
    for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
        char v[2 * DOM_NAME_MAX + 70];
        const dom_jurisdiction_t *j = &rs->jurisdictions[i];
        snprintf(v, sizeof(v), "%s %s %s", j->name, j->version, j->hash);
        add(&l, "version", v);
    }
    free(reads);
    return finish(&l, text, len);
}

/* The next line of a canonical text that is not about when or how it applies; NULL at the end. */
static const char *next_decision(const char *p, const char *end, size_t *len)
{
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = eol != NULL ? (size_t)(eol - p) : (size_t)(end - p);
        if (!(n >= 10 && memcmp(p, "effective=", 10) == 0) && !(n >= 5 && memcmp(p, "mode=", 5) == 0)) {
            *len = n;
            return p;
        }
        p += n + (eol != NULL);
    }
    return NULL;
}

int dom_rule_same_decisions(const char *a, size_t alen, const char *b, size_t blen)
{
    const char *ea = a + alen, *eb = b + blen;
    size_t la = 0, lb = 0;
    for (;;) {
        a = next_decision(a, ea, &la);
        b = next_decision(b, eb, &lb);
        if (a == NULL || b == NULL)
            return a == b;
        if (la != lb || memcmp(a, b, la) != 0)
            return 0;
        a += la + 1;
        b += lb + 1;
    }
}

int dom_sha256_hex(const void *data, size_t n, char out[65])
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    if (EVP_Digest(data, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32)
        return DOM_ENOMEM;
    for (unsigned i = 0; i < 32; ++i)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    return DOM_OK;
}

int dom_ruleset_compute_hashes(dom_ruleset_t *rs)
{
    char *text = NULL;
    size_t len = 0;
    int ret;
    for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
        if ((ret = dom_rule_canonical(rs, &rs->jurisdictions[i], &text, &len)) != 0)
            return ret;
        ret = dom_sha256_hex(text, len, rs->jurisdictions[i].hash);
        free(text);
        if (ret != 0)
            return ret;
    }
    if ((ret = dom_ruleset_canonical(rs, &text, &len)) != 0)
        return ret;
    ret = dom_sha256_hex(text, len, rs->hash);
    free(text);
    return ret;
}

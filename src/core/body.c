/*
 * Step 5b: the body of a class that declares `body: json` (domicile/body.h, docs/rules.md). The whole
 * body is checked before anything is forwarded; the work is bounded by the body limit (limits.max_body,
 * class_max_body), a nesting pre-scan (no tree deeper than DOM_BODY_MAX_DEPTH is ever built) and jansson's
 * linear parser.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/body.h"

/* One identity field as compared: lower case, without '_' and '-'. */
typedef struct folded {
    char s[DOM_IDENTITY_FIELD_MAX];
    size_t len;
} folded_t;

typedef struct identity_list {
    folded_t f[DOM_IDENTITY_FIELDS_MAX];
    const char *listed[DOM_IDENTITY_FIELDS_MAX]; /* as the class lists it, for the 422 */
    size_t listed_len[DOM_IDENTITY_FIELDS_MAX];
    size_t n;
} identity_list_t;

/* Folds s into out (at most cap bytes); returns the folded length, or cap + 1 when it does not fit. */
static size_t fold(const char *s, size_t len, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len; ++i) {
        char c = s[i];
        if (c == '_' || c == '-')
            continue;
        if (n == cap)
            return cap + 1;
        out[n++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
    }
    return n;
}

int dom_identity_field_match(const char *listed, size_t listed_len, const char *name, size_t name_len)
{
    char a[DOM_IDENTITY_FIELD_MAX], b[DOM_IDENTITY_FIELD_MAX];
    size_t na = fold(listed, listed_len, a, sizeof(a)), nb = fold(name, name_len, b, sizeof(b));
    return na <= sizeof(a) && na != 0 && na == nb && memcmp(a, b, na) == 0;
}

/* The class's ","-separated list, folded once per body. Empty names and names too long to fold are skipped (the
 * rule-file checker refuses them; a damaged list never widens what passes: it only has fewer names). */
static void identity_list(const char *fields, identity_list_t *out)
{
    out->n = 0;
    for (const char *p = fields != NULL ? fields : ""; *p != '\0' && out->n < DOM_IDENTITY_FIELDS_MAX;) {
        size_t len = strcspn(p, ",");
        folded_t *f = &out->f[out->n];
        f->len = fold(p, len, f->s, sizeof(f->s));
        if (f->len != 0 && f->len <= sizeof(f->s)) {
            out->listed[out->n] = p;
            out->listed_len[out->n] = len;
            ++out->n;
        }
        p += len;
        if (*p == ',')
            ++p;
    }
}

/* The index of the identity field a member name matches, or -1. */
static int identity_index(const identity_list_t *ids, const char *name)
{
    char b[DOM_IDENTITY_FIELD_MAX];
    size_t nb = fold(name, strlen(name), b, sizeof(b));
    if (nb == 0 || nb > sizeof(b))
        return -1;
    for (size_t i = 0; i < ids->n; ++i)
        if (ids->f[i].len == nb && memcmp(ids->f[i].s, b, nb) == 0)
            return (int)i;
    return -1;
}

/* 1 if the JSON text nests arrays and objects deeper than max (strings skipped; malformed text is jansson's to
 * refuse). Run before parsing, so a nesting bomb costs one pass over its bytes and builds nothing. */
static int too_deep(const char *s, size_t len, int max)
{
    int depth = 0;
    for (size_t i = 0; i < len; ++i) {
        switch (s[i]) {
        case '"':
            for (++i; i < len && s[i] != '"'; ++i)
                if (s[i] == '\\')
                    ++i;
            break;
        case '[':
        case '{':
            if (++depth > max)
                return 1;
            break;
        case ']':
        case '}':
            --depth;
            break;
        }
    }
    return 0;
}

static int ci_eq(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    if (len != n)
        return 0;
    for (size_t i = 0; i < n; ++i) {
        char c = s[i] >= 'A' && s[i] <= 'Z' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (c != lit[i])
            return 0;
    }
    return 1;
}

static void trim(const char **s, size_t *len)
{
    while (*len != 0 && (**s == ' ' || **s == '\t'))
        ++*s, --*len;
    while (*len != 0 && ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t'))
        --*len;
}

/* application/json or application/<x>+json (RFC 6839), case-insensitive; parameters allowed, but a charset other
 * than utf-8 (RFC 8259 8.1: JSON between systems is UTF-8) is not JSON as this check reads it. */
static int json_media_type(dom_strref_t v)
{
    if (v.base == NULL)
        return 0;
    const char *s = v.base;
    size_t len = v.len;
    const char *semi = memchr(s, ';', len);
    size_t tlen = semi != NULL ? (size_t)(semi - s) : len;
    const char *t = s;
    trim(&t, &tlen);
    static const char app[] = "application/";
    if (tlen <= sizeof(app) - 1 || !ci_eq(t, sizeof(app) - 1, app))
        return 0;
    const char *sub = t + sizeof(app) - 1;
    size_t slen = tlen - (sizeof(app) - 1);
    if (!ci_eq(sub, slen, "json") && !(slen > 5 && ci_eq(sub + slen - 5, 5, "+json")))
        return 0;
    for (const char *p = semi; p != NULL;) {
        const char *name = p + 1, *end = s + len, *next = memchr(name, ';', (size_t)(end - name));
        size_t plen = (size_t)((next != NULL ? next : end) - name);
        const char *eq = memchr(name, '=', plen);
        if (eq != NULL) {
            const char *pn = name, *pv = eq + 1;
            size_t pnlen = (size_t)(eq - name), pvlen = plen - pnlen - 1;
            trim(&pn, &pnlen);
            trim(&pv, &pvlen);
            if (pvlen >= 2 && pv[0] == '"' && pv[pvlen - 1] == '"')
                ++pv, pvlen -= 2;
            if (ci_eq(pn, pnlen, "charset") && !ci_eq(pv, pvlen, "utf-8"))
                return 0;
        }
        p = next;
    }
    return 1;
}

/* No Content-Encoding, or identity. */
static int unencoded(dom_strref_t v)
{
    if (v.base == NULL)
        return 1;
    const char *s = v.base;
    size_t len = v.len;
    trim(&s, &len);
    return len == 0 || ci_eq(s, len, "identity");
}

typedef struct walk {
    const identity_list_t *ids;
    int scrub;
    size_t removed;
    int found; /* refuse: the identity field met first, or -1 */
} walk_t;

/* Every member at every depth (the depth is bounded by the pre-scan). Returns 1 to stop (refuse: found). */
static int walk(walk_t *w, json_t *v)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *member;
        void *tmp;
        json_object_foreach_safe(v, tmp, key, member)
        {
            int i = identity_index(w->ids, key);
            if (i >= 0) {
                if (!w->scrub) {
                    w->found = i;
                    return 1;
                }
                json_object_del(v, key);
                ++w->removed;
            } else if ((json_is_object(member) || json_is_array(member)) && walk(w, member)) {
                return 1;
            }
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            if ((json_is_object(item) || json_is_array(item)) && walk(w, item))
                return 1;
        }
    }
    return 0;
}

static int verdict(dom_body_verdict_t *out, int status, const char *reason)
{
    out->status = status;
    out->reason = reason;
    return 0;
}

int dom_body_check(const dom_data_class_t *cls, int anonymize, const dom_body_input_t *in, dom_body_verdict_t *out)
{
    memset(out, 0, sizeof(*out));
    if (cls == NULL || cls->body != DOM_BODY_JSON || in->len == 0)
        return 0;
    if (in->repeated || !json_media_type(in->content_type))
        return verdict(out, 415, "unsupported_media_type");
    if (!unencoded(in->content_encoding))
        return verdict(out, 415, "body_not_inspectable");
    if (too_deep(in->data, in->len, DOM_BODY_MAX_DEPTH))
        return verdict(out, 400, "json_too_deep");

    json_error_t err;
    /* any value at the top (RFC 8259); duplicate names refused: a backend that keeps the first of two "email"
     * members would otherwise store what this check never looked at */
    json_t *root = json_loadb(in->data, in->len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &err);
    if (root == NULL)
        return json_error_code(&err) == json_error_out_of_memory ? DOM_ENOMEM : verdict(out, 400, "invalid_json");
    out->checked = 1;

    int rc = 0;
    identity_list_t ids;
    identity_list(anonymize ? cls->identity_fields : NULL, &ids);
    if (ids.n != 0) {
        walk_t w = {&ids, cls->identity == DOM_IDENTITY_SCRUB, 0, -1};
        if (walk(&w, root)) {
            verdict(out, 422, "identity_in_anonymous_data");
            out->field = ids.listed[w.found]; /* in the class's list: valid as long as the rule set */
            out->field_len = ids.listed_len[w.found];
        } else if (w.removed != 0) {
            out->removed = w.removed;
            if ((out->body = json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
                rc = DOM_ENOMEM;
            else
                out->body_len = strlen(out->body);
        }
    }
    json_decref(root);
    return rc;
}

void dom_body_verdict_free(dom_body_verdict_t *v)
{
    free(v->body);
    v->body = NULL;
    v->body_len = 0;
}

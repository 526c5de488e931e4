/* The one JSON reader (jsonread.h): a recursive descent over a bounded text into a tree. */
#include <stdlib.h>
#include <string.h>
#include "util/jsonread.h"

struct jparser {
    const char *p, *end;
    int depth;
};

void dom__jval_free(dom__jval_t *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; ++i) {
        dom__jval_free(v->items[i]);
        if (v->keys != NULL)
            free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->str);
    free(v);
}

static void jskip(struct jparser *jp)
{
    while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r'))
        ++jp->p;
}

static char *jstring(struct jparser *jp)
{
    /* at the opening quote; \uXXXX outside ASCII (and \u0000) becomes '?': names and hashes here are ASCII, and
     * a NUL must not end a C string early ("seq\u0000x" is not "seq"); a raw control byte is not JSON */
    ++jp->p;
    size_t cap = 32, len = 0;
    char *out = malloc(cap);
    while (out != NULL && jp->p < jp->end && *jp->p != '"') {
        char c = *jp->p++;
        if ((unsigned char)c < 0x20) {
            free(out);
            return NULL;
        }
        if (c == '\\') {
            if (jp->p >= jp->end)
                break;
            char e = *jp->p++;
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
            if (e == 'u') {
                if (jp->end - jp->p < 4)
                    break;
                char hex[5] = {jp->p[0], jp->p[1], jp->p[2], jp->p[3], 0};
                unsigned long u = strtoul(hex, NULL, 16);
                c = u > 0 && u < 0x80 ? (char)u : '?';
                jp->p += 4;
            }
        }
        if (len + 2 > cap) {
            char *n = realloc(out, cap *= 2);
            if (n == NULL) {
                free(out);
                return NULL;
            }
            out = n;
        }
        out[len++] = c;
    }
    if (out == NULL || jp->p >= jp->end) {
        free(out);
        return NULL;
    }
    ++jp->p; /* closing quote */
    out[len] = '\0';
    return out;
}

static int jpush(dom__jval_t *v, dom__jval_t *item, char *key)
{
    if ((v->n & (v->n - 1)) == 0) { /* grow at powers of two */
        size_t cap = v->n ? v->n * 2 : 4;
        dom__jval_t **items = realloc(v->items, cap * sizeof(*items));
        if (items == NULL)
            return -1;
        v->items = items;
        if (v->type == DOM__J_OBJ) {
            char **keys = realloc(v->keys, cap * sizeof(*keys));
            if (keys == NULL)
                return -1;
            v->keys = keys;
        }
    }
    v->items[v->n] = item;
    if (v->type == DOM__J_OBJ)
        v->keys[v->n] = key;
    ++v->n;
    return 0;
}

static dom__jval_t *jparse(struct jparser *jp)
{
    jskip(jp);
    if (jp->p >= jp->end || ++jp->depth > 32)
        return NULL;
    dom__jval_t *v = calloc(1, sizeof(*v));
    if (v == NULL)
        return NULL;
    char c = *jp->p;
    if (c == '{' || c == '[') {
        v->type = c == '{' ? DOM__J_OBJ : DOM__J_ARR;
        char close = c == '{' ? '}' : ']';
        ++jp->p;
        jskip(jp);
        if (jp->p < jp->end && *jp->p == close) {
            ++jp->p;
            goto done;
        }
        for (;;) {
            char *key = NULL;
            jskip(jp);
            if (v->type == DOM__J_OBJ) {
                if (jp->p >= jp->end || *jp->p != '"' || (key = jstring(jp)) == NULL)
                    goto fail;
                jskip(jp);
                if (jp->p >= jp->end || *jp->p++ != ':') {
                    free(key);
                    goto fail;
                }
            }
            dom__jval_t *item = jparse(jp);
            if (item == NULL || jpush(v, item, key) != 0) {
                dom__jval_free(item);
                free(key);
                goto fail;
            }
            jskip(jp);
            if (jp->p < jp->end && *jp->p == ',') {
                ++jp->p;
                continue;
            }
            if (jp->p < jp->end && *jp->p == close) {
                ++jp->p;
                goto done;
            }
            goto fail;
        }
    } else if (c == '"') {
        v->type = DOM__J_STR;
        if ((v->str = jstring(jp)) == NULL)
            goto fail;
    } else if (jp->end - jp->p >= 4 && memcmp(jp->p, "true", 4) == 0) {
        v->type = DOM__J_BOOL;
        v->boolean = 1;
        jp->p += 4;
    } else if (jp->end - jp->p >= 5 && memcmp(jp->p, "false", 5) == 0) {
        v->type = DOM__J_BOOL;
        jp->p += 5;
    } else if (jp->end - jp->p >= 4 && memcmp(jp->p, "null", 4) == 0) {
        v->type = DOM__J_NULL;
        jp->p += 4;
    } else {
        char buf[64];
        size_t n = 0;
        while (jp->p + n < jp->end && n < sizeof(buf) - 1 && strchr("+-0123456789.eE", jp->p[n]) != NULL)
            ++n;
        if (n == 0)
            goto fail;
        memcpy(buf, jp->p, n);
        buf[n] = '\0';
        char *rest;
        v->type = DOM__J_NUM;
        v->num = strtod(buf, &rest);
        if (*rest != '\0')
            goto fail;
        jp->p += n;
    }
done:
    --jp->depth;
    return v;
fail:
    dom__jval_free(v);
    return NULL;
}

const dom__jval_t *dom__jval_get(const dom__jval_t *v, const char *key)
{
    if (v == NULL || v->type != DOM__J_OBJ)
        return NULL;
    for (size_t i = 0; i < v->n; ++i)
        if (strcmp(v->keys[i], key) == 0)
            return v->items[i];
    return NULL;
}

const char *dom__jval_str(const dom__jval_t *v, const char *key)
{
    const dom__jval_t *x = dom__jval_get(v, key);
    return x != NULL && x->type == DOM__J_STR ? x->str : NULL;
}

double dom__jval_num(const dom__jval_t *v, const char *key)
{
    const dom__jval_t *x = dom__jval_get(v, key);
    return x != NULL && x->type == DOM__J_NUM ? x->num : 0;
}

dom__jval_t *dom__json_parse(const char *text, size_t len)
{
    struct jparser jp = {text, text + len, 0};
    dom__jval_t *v = jparse(&jp);
    jskip(&jp);
    if (v != NULL && jp.p != jp.end) {
        dom__jval_free(v);
        return NULL;
    }
    return v;
}

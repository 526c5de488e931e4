/*
 * The YAML walker of rule files and the gateway config (util/yaml.h). Input is hostile: a
 * typo and a crafted file are treated alike. Nesting is bounded by a streaming pre-pass
 * before libyaml builds a tree, and callers walk along their fixed schema only (never a
 * generic recursion), so aliases and cyclic graphs cost no more than their visible size.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "util/yaml.h"

dom_mark_t dom__yaml_mark(const yaml_node_t *node)
{
    dom_mark_t m = {node->start_mark.line + 1, node->start_mark.column + 1};
    return m;
}

yaml_node_t *dom__yaml_node(const dom__yaml_t *y, int id)
{
    return yaml_document_get_node(y->doc, id);
}

static void vreport(dom__yaml_t *y, const char *file, const dom_mark_t *mark, int is_warning, const char *fmt,
                    va_list ap)
{
    if (y->stop)
        return;
    dom_diag_vreport(y->diag, file != NULL ? file : y->file, mark, is_warning, fmt, ap);
    if (!is_warning && y->max_errors != 0 && y->diag != NULL && y->diag->errors >= y->max_errors) {
        y->stop = 1;
        dom_diag_report(y->diag, file != NULL ? file : y->file, mark, 0, "too many errors; stopping here");
    }
}

void dom__yaml_report(dom__yaml_t *y, const char *file, const dom_mark_t *mark, int is_warning, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(y, file, mark, is_warning, fmt, ap);
    va_end(ap);
}

void dom__yaml_error(dom__yaml_t *y, const yaml_node_t *node, const char *fmt, ...)
{
    dom_mark_t m = node != NULL ? dom__yaml_mark(node) : (dom_mark_t){0, 0};
    va_list ap;
    va_start(ap, fmt);
    vreport(y, NULL, &m, 0, fmt, ap);
    va_end(ap);
}

void dom__yaml_warn(dom__yaml_t *y, const yaml_node_t *node, const char *fmt, ...)
{
    dom_mark_t m = node != NULL ? dom__yaml_mark(node) : (dom_mark_t){0, 0};
    va_list ap;
    va_start(ap, fmt);
    vreport(y, NULL, &m, 1, fmt, ap);
    va_end(ap);
}

dom__yaml_shown_t dom__yaml_show_bytes(const char *p, size_t len)
{
    dom__yaml_shown_t out;
    size_t o = 0;
    out.s[o++] = '"';
    for (size_t i = 0; i < len && o < 49; ++i)
        out.s[o++] = ((unsigned char)p[i] < 0x20 || p[i] == 0x7f) ? '?' : p[i];
    if (len > 48) {
        memcpy(out.s + o, "...", 3);
        o += 3;
    }
    out.s[o++] = '"';
    out.s[o] = '\0';
    return out;
}

dom__yaml_shown_t dom__yaml_show(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE) {
        const char *what = node->type == YAML_MAPPING_NODE ? "{mapping}" : "[list]";
        return dom__yaml_show_bytes(what, strlen(what));
    }
    return dom__yaml_show_bytes((const char *)node->data.scalar.value, node->data.scalar.length);
}

const char *dom__yaml_scalar(dom__yaml_t *y, const yaml_node_t *node, const char *what, size_t *len)
{
    if (node->type != YAML_SCALAR_NODE) {
        dom__yaml_error(y, node, "%s must be a single value, not a %s", what,
                        node->type == YAML_MAPPING_NODE ? "mapping" : "list");
        return NULL;
    }
    const char *s = (const char *)node->data.scalar.value;
    size_t n = node->data.scalar.length;
    if (memchr(s, '\0', n) != NULL) {
        dom__yaml_error(y, node, "%s contains a NUL byte", what);
        return NULL;
    }
    *len = n;
    return s;
}

int dom__yaml_is(const yaml_node_t *node, const char *lit)
{
    return node->type == YAML_SCALAR_NODE && node->data.scalar.length == strlen(lit) &&
           memcmp(node->data.scalar.value, lit, node->data.scalar.length) == 0;
}

int dom__yaml_bool(dom__yaml_t *y, const yaml_node_t *node, const char *what, int *out)
{
    size_t len;
    if (dom__yaml_scalar(y, node, what, &len) == NULL)
        return -1;
    if (dom__yaml_is(node, "true") || dom__yaml_is(node, "false")) {
        *out = dom__yaml_is(node, "true");
        return 0;
    }
    dom__yaml_error(y, node, "%s must be true or false, not %s", what, dom__yaml_show(node).s);
    return -1;
}

int dom__yaml_expect(dom__yaml_t *y, const yaml_node_t *node, yaml_node_type_t type, const char *what)
{
    if (node->type == type)
        return 0;
    if (type == YAML_MAPPING_NODE)
        dom__yaml_error(y, node, "%s must be a mapping (key: value)", what);
    else
        dom__yaml_error(y, node, "%s must be a list ([a, b])", what);
    return -1;
}

size_t dom__yaml_len(const yaml_node_t *node)
{
    if (node->type == YAML_SEQUENCE_NODE)
        return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (node->type == YAML_MAPPING_NODE)
        return (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
    return 0;
}

/* ---- keys ---- */

const char *dom__yaml_key_name(const dom__yaml_keys_t *keys, size_t i)
{
    return *(const char *const *)(const void *)((const char *)keys->rows + i * keys->stride);
}

/* Edit distance (insert, delete, substitute), for "did you mean"; long inputs count as far apart. */
static size_t distance(const char *a, size_t la, const char *b)
{
    size_t lb = strlen(b), row[65];
    if (la > 64 || lb > 64)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; ++j)
        row[j] = j;
    for (size_t i = 1; i <= la; ++i) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; ++j) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            diag = up;
            row[j] = best;
        }
    }
    return row[lb];
}

int dom__yaml_key(dom__yaml_t *y, dom__yaml_keys_t *keys, const yaml_node_t *key, const char *where)
{
    size_t len;
    const char *s = dom__yaml_scalar(y, key, "a key", &len);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < keys->n && i < DOM__YAML_MAX_KEYS; ++i) {
        const char *name = dom__yaml_key_name(keys, i);
        if (strlen(name) != len || memcmp(s, name, len) != 0)
            continue;
        if (dom__yaml_has(keys, i)) {
            dom__yaml_error(y, key, "duplicate key %s (first at line %zu)", dom__yaml_show(key).s, keys->seen[i].line);
            return -1;
        }
        keys->seen[i] = dom__yaml_mark(key);
        return (int)i;
    }
    /* unknown: a near miss ("thread", "polcy_url") is worth naming; "foo" for "geo" is not */
    const char *guess = NULL;
    size_t best = 3;
    for (size_t i = 0; i < keys->n; ++i) {
        const char *name = dom__yaml_key_name(keys, i);
        size_t d = distance(s, len, name);
        if (d < best && d * 3 <= strlen(name))
            best = d, guess = name;
    }
    char expected[512] = "", hint[96] = "";
    size_t off = 0;
    for (size_t i = 0; i < keys->n && off < sizeof(expected); ++i)
        off += (size_t)snprintf(expected + off, sizeof(expected) - off, "%s%s", i ? ", " : "",
                                dom__yaml_key_name(keys, i));
    if (guess != NULL)
        snprintf(hint, sizeof(hint), "; did you mean \"%s\"?", guess);
    dom__yaml_error(y, key, "unknown key %s in %s%s (expected one of: %s)", dom__yaml_show(key).s, where, hint,
                    expected);
    return -1;
}

int dom__yaml_duplicate_key(dom__yaml_t *y, const yaml_node_t *map, const yaml_node_pair_t *pair)
{
    const yaml_node_t *k = dom__yaml_node(y, pair->key);
    if (k == NULL || k->type != YAML_SCALAR_NODE)
        return 0;
    for (const yaml_node_pair_t *prev = map->data.mapping.pairs.start; prev < pair; ++prev) {
        const yaml_node_t *pk = dom__yaml_node(y, prev->key);
        if (pk != NULL && pk->type == YAML_SCALAR_NODE && pk->data.scalar.length == k->data.scalar.length &&
            memcmp(pk->data.scalar.value, k->data.scalar.value, k->data.scalar.length) == 0) {
            dom__yaml_error(y, k, "duplicate key %s (first at line %zu)", dom__yaml_show(k).s, dom__yaml_mark(pk).line);
            return 1;
        }
    }
    return 0;
}

/* ---- loading ---- */

static void syntax_error(dom__yaml_t *y, yaml_parser_t *p)
{
    dom_mark_t at = {p->problem_mark.line + 1, p->problem_mark.column + 1};
    if (p->error == YAML_READER_ERROR) {
        /* the reader has no problem_mark; its offset is in bytes */
        at.line = p->mark.line + 1;
        at.col = p->mark.column + 1;
        dom__yaml_report(y, NULL, &at, 0, "invalid input: %s (byte offset %zu)", p->problem ? p->problem : "unreadable",
                         p->problem_offset);
    } else if (p->error == YAML_MEMORY_ERROR) {
        dom__yaml_report(y, NULL, &at, 0, "out of memory while parsing YAML");
    } else if (p->context != NULL) {
        dom__yaml_report(y, NULL, &at, 0, "YAML syntax error: %s %s (line %zu)", p->problem ? p->problem : "",
                         p->context, p->context_mark.line + 1);
    } else {
        dom__yaml_report(y, NULL, &at, 0, "YAML syntax error: %s", p->problem ? p->problem : "malformed");
    }
}

/* Streaming pre-pass: syntax errors and nesting depth, before building any document tree. */
static int prescan(dom__yaml_t *y, const char *buf, size_t len, size_t max_depth)
{
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        dom__yaml_report(y, NULL, NULL, 0, "out of memory while parsing YAML");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    size_t depth = 0;
    int ret = 0;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            syntax_error(y, &p);
            ret = -1;
            break;
        }
        yaml_event_type_t type = ev.type;
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
            if (++depth > max_depth) {
                dom_mark_t at = {ev.start_mark.line + 1, ev.start_mark.column + 1};
                dom__yaml_report(y, NULL, &at, 0, "nesting deeper than %zu levels", max_depth);
                yaml_event_delete(&ev);
                ret = -1;
                break;
            }
        } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
            --depth;
        }
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT)
            break;
    }
    yaml_parser_delete(&p);
    return ret;
}

int dom__yaml_load(dom__yaml_t *y, const char *buf, size_t len, size_t max_depth, dom__yaml_document_fn fn, void *arg)
{
    if (prescan(y, buf, len, max_depth) != 0)
        return -1;
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        dom__yaml_report(y, NULL, NULL, 0, "out of memory while parsing YAML");
        return -1;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    int docs = 0;
    while (!y->stop) {
        yaml_document_t doc;
        if (!yaml_parser_load(&p, &doc)) {
            syntax_error(y, &p);
            docs = -1;
            break;
        }
        yaml_node_t *root = yaml_document_get_root_node(&doc);
        if (root == NULL) { /* the end of the stream */
            yaml_document_delete(&doc);
            break;
        }
        y->doc = &doc;
        fn(y, root, (size_t)docs, arg);
        y->doc = NULL;
        ++docs;
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&p);
    return docs;
}

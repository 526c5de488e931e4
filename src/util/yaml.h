/*
 * The one YAML walker of rule files and the gateway config, over libyaml's document API:
 * a document is loaded whole (after a streaming pre-pass that reports syntax errors and
 * refuses deep nesting), then the caller walks it along its own schema with these
 * accessors. Every node keeps its mark, so every problem is reported as
 * file:line:col: message through one dom_diag_t, and the walk carries on.
 *
 * Booleans are YAML 1.2 core, strictly: `true` and `false`, nothing else (no `yes`/`no`,
 * `on`/`off` or capitalised forms: a residency setting must not hinge on YAML 1.1 trivia).
 */
#ifndef DOM_UTIL_YAML_H
#define DOM_UTIL_YAML_H

#include <stddef.h>
#include <yaml.h>
#include "domicile/diag.h"

/** One walk: the file named in messages, the document walked, where diagnostics go. */
typedef struct dom__yaml {
    const char *file;
    yaml_document_t *doc; /* set by dom__yaml_load for each document */
    dom_diag_t *diag;     /* NULL: stderr */
    size_t max_errors;    /* 0: no bound; else once diag->errors reaches it, one notice, then `stop` */
    int stop;             /* walks end early once set (the error bound, or the caller: out of memory) */
} dom__yaml_t;

/** Where a node starts (1-based). */
dom_mark_t dom__yaml_mark(const yaml_node_t *node);

/** The node with this id in the current document, or NULL. */
yaml_node_t *dom__yaml_node(const dom__yaml_t *y, int id);

/** Reports an error at node (NULL: the file as a whole). Nothing once y->stop is set. */
void dom__yaml_error(dom__yaml_t *y, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Reports a warning at node. */
void dom__yaml_warn(dom__yaml_t *y, const yaml_node_t *node, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/** Reports at an explicit place (file NULL: y->file; mark NULL: the file as a whole). */
void dom__yaml_report(dom__yaml_t *y, const char *file, const dom_mark_t *mark, int is_warning, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/** A value as messages show it: quoted, control bytes as '?', cut after 48 bytes with "...". */
typedef struct dom__yaml_shown {
    char s[64];
} dom__yaml_shown_t;
dom__yaml_shown_t dom__yaml_show_bytes(const char *p, size_t len);
/** Same for a node: a scalar's text, or "{mapping}" / "[list]". */
dom__yaml_shown_t dom__yaml_show(const yaml_node_t *node);

/**
 * A scalar's text and length, or NULL after reporting "<what> must be a single value, not a
 * mapping" (or list) or "<what> contains a NUL byte". The text is NUL-terminated.
 */
const char *dom__yaml_scalar(dom__yaml_t *y, const yaml_node_t *node, const char *what, size_t *len);

/** 1 if node is a scalar whose text is exactly lit. */
int dom__yaml_is(const yaml_node_t *node, const char *lit);

/** `true` or `false` into *out; else reports "<what> must be true or false, not X" and returns -1. */
int dom__yaml_bool(dom__yaml_t *y, const yaml_node_t *node, const char *what, int *out);

/**
 * 0 if node is of `type` (YAML_MAPPING_NODE or YAML_SEQUENCE_NODE); else reports "<what> must be
 * a mapping (key: value)" or "<what> must be a list ([a, b])" and returns -1.
 */
int dom__yaml_expect(dom__yaml_t *y, const yaml_node_t *node, yaml_node_type_t type, const char *what);

/** Items of a list, pairs of a mapping, 0 for a scalar. */
size_t dom__yaml_len(const yaml_node_t *node);

/** Each pair of a mapping / item of a list, until the walk stops. */
#define DOM__YAML_FOR_PAIRS(y, node, pair)                                                                             \
    for (yaml_node_pair_t *pair = (node)->data.mapping.pairs.start;                                                    \
         pair < (node)->data.mapping.pairs.top && !(y)->stop; ++pair)
#define DOM__YAML_FOR_ITEMS(y, node, item)                                                                             \
    for (yaml_node_item_t *item = (node)->data.sequence.items.start;                                                   \
         item < (node)->data.sequence.items.top && !(y)->stop; ++item)

/** Most keys a schema mapping may know (dom__yaml_keys_t). */
#define DOM__YAML_MAX_KEYS 32

/**
 * The keys one mapping of a schema knows, and which of them it has. `rows` is an array whose
 * elements each start with the key name (`const char *`): a plain array of names, or a table
 * of rows. Set up with DOM__YAML_KEYS(names) or DOM__YAML_KEY_ROWS(rows, n).
 */
typedef struct dom__yaml_keys {
    const void *rows;
    size_t n, stride;
    dom_mark_t seen[DOM__YAML_MAX_KEYS]; /* where each key was met (line 0: not met) */
} dom__yaml_keys_t;

#define DOM__YAML_KEYS(names)                                                                                          \
    {                                                                                                                  \
        (names), sizeof(names) / sizeof((names)[0]), sizeof((names)[0]),                                               \
        {                                                                                                              \
            {                                                                                                          \
                0, 0                                                                                                   \
            }                                                                                                          \
        }                                                                                                              \
    }
#define DOM__YAML_KEY_ROWS(rows, n)                                                                                    \
    {                                                                                                                  \
        (rows), (n), sizeof(*(rows)),                                                                                  \
        {                                                                                                              \
            {                                                                                                          \
                0, 0                                                                                                   \
            }                                                                                                          \
        }                                                                                                              \
    }

/** The name of row i. */
const char *dom__yaml_key_name(const dom__yaml_keys_t *keys, size_t i);

/** 1 if the mapping had key i. */
static inline int dom__yaml_has(const dom__yaml_keys_t *keys, size_t i)
{
    return keys->seen[i].line != 0;
}

/**
 * Identifies a mapping key: returns its index in keys, or -1 after reporting why not: not a
 * scalar, a duplicate ("duplicate key "x" (first at line N)") or unknown ("unknown key "x" in
 * <where>; did you mean "y"? (expected one of: a, b, c)" - the guess only for a near miss).
 */
int dom__yaml_key(dom__yaml_t *y, dom__yaml_keys_t *keys, const yaml_node_t *key, const char *where);

/**
 * For mappings whose keys are names (classes, regions): 1 after reporting "duplicate key "x"
 * (first at line N)" when an earlier pair of map has the same scalar key as `pair`, else 0.
 */
int dom__yaml_duplicate_key(dom__yaml_t *y, const yaml_node_t *map, const yaml_node_pair_t *pair);

/** Called by dom__yaml_load for each document (y->doc set); index counts from 0. */
typedef void (*dom__yaml_document_fn)(dom__yaml_t *y, yaml_node_t *root, size_t index, void *arg);

/**
 * Parses buf as a YAML stream: a streaming pre-pass reports the first syntax error (at libyaml's
 * mark) and refuses nesting deeper than max_depth before any tree is built; then each document
 * is loaded and handed to fn, and freed after it. Returns the number of documents (0: an empty
 * stream), or -1 after a reported error (syntax, nesting, out of memory).
 */
int dom__yaml_load(dom__yaml_t *y, const char *buf, size_t len, size_t max_depth, dom__yaml_document_fn fn, void *arg);

#endif

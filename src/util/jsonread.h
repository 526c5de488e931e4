/*
 * The one JSON reader: small, bounded, for what the CLI reads back (a replica's /status in
 * `fleet status`, audit lines in `audit verify`). It builds a tree of values; strings are
 * unescaped, with \uXXXX outside ASCII read as '?' (names and hashes here are ASCII);
 * nesting is bounded (32); numbers are doubles.
 */
#ifndef DOM_UTIL_JSONREAD_H
#define DOM_UTIL_JSONREAD_H

#include <stddef.h>

typedef enum { DOM__J_NULL, DOM__J_BOOL, DOM__J_NUM, DOM__J_STR, DOM__J_ARR, DOM__J_OBJ } dom__jtype_t;

/** One value; an object keeps its members in order (keys[i] names items[i]). */
typedef struct dom__jval {
    dom__jtype_t type;
    int boolean;
    double num;
    char *str;                /* DOM__J_STR */
    struct dom__jval **items; /* DOM__J_ARR values, DOM__J_OBJ values */
    char **keys;              /* DOM__J_OBJ */
    size_t n;
} dom__jval_t;

/**
 * Parses one JSON value from text[0..len) (not NUL-terminated); only white space may follow it.
 * Returns the tree (the caller frees it with dom__jval_free), or NULL if the text is not one
 * JSON value, nests deeper than 32, or memory ran out.
 */
dom__jval_t *dom__json_parse(const char *text, size_t len);

/** Frees a tree; NULL safe. */
void dom__jval_free(dom__jval_t *v);

/** The member `key` of an object (the first of that name), or NULL (absent, or v is no object). */
const dom__jval_t *dom__jval_get(const dom__jval_t *v, const char *key);
/** The member `key` if it is a string, else NULL. */
const char *dom__jval_str(const dom__jval_t *v, const char *key);
/** The member `key` if it is a number, else 0. */
double dom__jval_num(const dom__jval_t *v, const char *key);

#endif

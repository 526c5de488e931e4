/* Diagnostics (include/domicile/diag.h) recorded as text, for tests that check file:line:col messages. */
#ifndef DOM_TEST_DIAG_H
#define DOM_TEST_DIAG_H

#include <stdio.h>
#include <string.h>
#include "domicile/diag.h"

/** Every diagnostic as one "file:line:col: [warning: ]message\n" line, and how many. */
struct recorded {
    char text[8192];
    size_t n;
};

/** A dom_diag_t report callback; ctx is a struct recorded. */
static inline void record(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message)
{
    struct recorded *r = ctx;
    size_t off = strlen(r->text);
    snprintf(r->text + off, sizeof(r->text) - off, "%s:%zu:%zu: %s%s\n", file, line, col, is_warning ? "warning: " : "",
             message);
    ++r->n;
}

#endif

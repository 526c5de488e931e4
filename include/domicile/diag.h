/*
 * Diagnostics of the files people write: rule files (compliance teams) and the gateway
 * config (operators). Every problem is one "file:line:col: message" (line 0: "file: message"),
 * warnings say "warning: " before the message, and both are counted, so a caller can tell
 * "checked, with warnings" from "refused". One type for both surfaces (src/util/diag.c).
 */
#ifndef DOMICILE_DIAG_H
#define DOMICILE_DIAG_H

#include <stdarg.h>
#include <stddef.h>

/** Where something sits in a file, 1-based; line 0 means "the file as a whole". */
typedef struct dom_mark {
    size_t line, col;
} dom_mark_t;

/**
 * Where diagnostics go. Zero-initialise (or `{report, ctx, 0, 0}`) and pass it to a parser;
 * afterwards `errors` and `warnings` hold the counts of what was reported through it.
 */
typedef struct dom_diag {
    /** Receives each diagnostic; the message has no "warning: " prefix (is_warning says it).
     * NULL: print to stderr as "file:line:col: [warning: ]message". */
    void (*report)(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message);
    void *ctx;
    size_t errors;
    size_t warnings;
} dom_diag_t;

/**
 * Reports one diagnostic at `mark` of `file` (mark NULL: the file as a whole) and counts it.
 * diag NULL: printed to stderr and counted nowhere. Messages longer than 1 KiB are cut.
 */
void dom_diag_report(dom_diag_t *diag, const char *file, const dom_mark_t *mark, int is_warning, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/** Same, with a va_list. */
void dom_diag_vreport(dom_diag_t *diag, const char *file, const dom_mark_t *mark, int is_warning, const char *fmt,
                      va_list ap) __attribute__((format(printf, 5, 0)));

#endif

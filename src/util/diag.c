/* The one diagnostics sink of rule files and the gateway config (include/domicile/diag.h). */
#include <stdio.h>
#include "domicile/diag.h"

void dom_diag_vreport(dom_diag_t *diag, const char *file, const dom_mark_t *mark, int is_warning, const char *fmt,
                      va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t line = mark != NULL ? mark->line : 0, col = mark != NULL ? mark->col : 0;
    if (diag != NULL) {
        if (is_warning)
            ++diag->warnings;
        else
            ++diag->errors;
        if (diag->report != NULL) {
            diag->report(diag->ctx, file, line, col, is_warning, msg);
            return;
        }
    }
    const char *prefix = is_warning ? "warning: " : "";
    if (line != 0)
        fprintf(stderr, "%s:%zu:%zu: %s%s\n", file, line, col, prefix, msg);
    else
        fprintf(stderr, "%s: %s%s\n", file, prefix, msg);
}

void dom_diag_report(dom_diag_t *diag, const char *file, const dom_mark_t *mark, int is_warning, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dom_diag_vreport(diag, file, mark, is_warning, fmt, ap);
    va_end(ap);
}

/*
 * Fuzzes the rule-file parser (src/rules/rules_parse.c) through dom_rules_parse_buffer():
 * the first byte picks the file the rest pretends to be (a jurisdiction file, or one of
 * the vocabulary files), checked against a fixed vocabulary. Any input must end in
 * DOM_OK or DOM_ERULES with every diagnostic well formed; never a crash or a leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/rules.h"

static void check_diag(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message)
{
    /* diagnostics are 1-based (or 0:0 for file-level ones) and carry a message */
    if ((line == 0) != (col == 0) || message == NULL || message[0] == '\0' || file == NULL)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"eu.yaml", "_classes.yaml", "_regions.yaml", "_groups.yaml"};
    const char *name = names[0];
    if (size > 0) {
        name = names[data[0] & 3];
        ++data;
        --size;
    }
    dom_diag_t diag = {check_diag, NULL, 0, 0};
    int ret = dom_rules_parse_buffer(name, (const char *)data, size, &diag);
    if (ret != DOM_OK && ret != DOM_ERULES && ret != DOM_ENOMEM)
        abort();
    if ((ret == DOM_ERULES) != (diag.errors != 0))
        abort();
    return 0;
}

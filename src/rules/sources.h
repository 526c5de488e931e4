/*
 * Where each jurisdiction version of a parsed rule set was written: the positions the semantic
 * lints (src/rules/lint.c) point at. Filled by the parser (dom_rules_parse_dir_sources); the file of
 * every mark is the version's source_file, so the map is valid as long as its rule set is held.
 */
#ifndef DOM_RULES_SOURCES_H
#define DOM_RULES_SOURCES_H

#include <stddef.h>
#include "domicile/common.h"
#include "domicile/diag.h"

/** One applies_to entry as written ("EEA", "NO", "US-CA") and where. */
typedef struct dom__rules_entry_src {
    char text[DOM_NAME_MAX + 1];
    dom_mark_t at;
} dom__rules_entry_src_t;

/** One jurisdiction version: its name's value, its effective date's value, its applies_to entries. */
typedef struct dom__rules_version_src {
    dom_mark_t name_at, effective_at; /* effective_at line 0: the key is missing */
    dom__rules_entry_src_t *entries;
    size_t n_entries;
} dom__rules_version_src_t;

/** Indexed like the rule set's jurisdictions. */
struct dom_rules_sources {
    dom__rules_version_src_t *versions;
    size_t n_versions;
};

#endif

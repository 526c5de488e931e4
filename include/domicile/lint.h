/*
 * Semantic lints of a rule set: what parses and is consistent but is likely not what its
 * authors meant. `rules check` and `rules plan` print them as warnings (`--strict`: errors),
 * `serve --check` the geo database one, each at file:line:col of the rule text at fault:
 *   - a new version (not in the live set) whose effective date is already past;
 *   - a country or subdivision that moves from one jurisdiction to another (against the live set);
 *   - countries no jurisdiction claims, so they get the DEFAULT rule meant for unknown locations;
 *   - a subdivision rule the configured geo database can never resolve, and what those requests get instead.
 * ("Did you mean" for near-miss codes is part of the parser's errors: `CHE` → `CH`, `UK` → `GB`.)
 * Every decision a lint names is made by dom_decide (through dom_plan_decide).
 */
#ifndef DOMICILE_LINT_H
#define DOMICILE_LINT_H

#include <stdint.h>
#include "domicile/diag.h"
#include "domicile/geo.h"
#include "domicile/rules.h"

/** Where each version and applies_to entry of a parsed set was written (opaque; src/rules/sources.h). */
typedef struct dom_rules_sources dom_rules_sources_t;

/**
 * dom_rules_parse_dir(), and on success *sources maps every jurisdiction version to its positions
 * (valid while the rule set is held; free with dom_rules_sources_free). Errors: as dom_rules_parse_dir.
 */
int dom_rules_parse_dir_sources(const char *dir, dom_diag_t *diag, dom_ruleset_t **out, dom_rules_sources_t **sources);

/** Frees a sources map. NULL safe. */
void dom_rules_sources_free(dom_rules_sources_t *sources);

/** What the lints compare against. */
typedef struct dom_lint_options {
    int64_t now;                   /* "in the past" and "in force" are judged at this time */
    const dom_ruleset_t *baseline; /* the live set (the new-version and moving-country lints); NULL: skipped */
    dom_geo_t *geo;                /* the geo database requests are located with; NULL: that lint is skipped */
    const char *geo_name;          /* its path, for messages */
    int strict;                    /* report as errors rather than warnings */
} dom_lint_options_t;

/**
 * Lints rs and reports each finding through diag at the position sources gives (NULL: the version's
 * source file, without line). Returns the number of findings.
 */
size_t dom_rules_lint(const dom_ruleset_t *rs, const dom_rules_sources_t *sources, const dom_lint_options_t *opts,
                      dom_diag_t *diag);

#endif

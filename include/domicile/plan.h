/*
 * `domicile rules plan`: what a rule change decides differently, before it is compiled.
 *
 * Two rule sets (the live one and the candidate) decide the same grid of requests through
 * the real decision core (dom_decide, the function the gateway and `explain` call): every
 * ISO 3166-1 country, every subdivision a rule of either set names, the unknown location,
 * and a pinned user of each jurisdiction, times every data class, read and write, consent
 * given and absent, at every instant where an effective date changes what is in force.
 * The differences are grouped (same old and new outcome, same class, access and consent)
 * into changes, plus the locations that move between jurisdictions. Audit lines can be
 * re-decided under both sets (dom_plan_replay_line) to count how many real requests would
 * have been decided differently. The computation is separate from printing: the CLI prints
 * words, dom_plan_write_json() the stable shape documented in docs/rules.md, which the
 * HTML report reuses.
 */
#ifndef DOMICILE_PLAN_H
#define DOMICILE_PLAN_H

#include <stdint.h>
#include <stdio.h>
#include "domicile/diag.h"
#include "domicile/policy.h"
#include "domicile/rules.h"

/** What a row of the grid stands for. */
typedef enum dom_plan_subject_kind {
    DOM_PLAN_COUNTRY = 0, /* code "NO" */
    DOM_PLAN_SUBDIVISION, /* code "US-CA" */
    DOM_PLAN_UNKNOWN,     /* the unknown location (code "") */
    DOM_PLAN_PIN,         /* a user pinned to jurisdiction `code`, location unknown */
} dom_plan_subject_kind_t;

/** One row of the grid. */
typedef struct dom_plan_subject {
    dom_plan_subject_kind_t kind;
    char code[DOM_NAME_MAX + 1];
} dom_plan_subject_t;

/** What one rule set decided for one request, by name (strings point into that rule set or are constants). */
typedef struct dom_plan_outcome {
    const char *jurisdiction; /* NULL: none applied */
    const char *version;
    const char *class_name;
    dom_action_t action;
    int status; /* 0 for a route */
    const char *reason;
    const char *regions[DOM_MAX_REGIONS];
    size_t n_regions;
    int anonymize;
} dom_plan_outcome_t;

/** Consent in a change: given, absent, or either (both decided the same way). */
typedef enum dom_plan_consent {
    DOM_PLAN_CONSENT_ANY = 0,
    DOM_PLAN_CONSENT_GIVEN,
    DOM_PLAN_CONSENT_ABSENT
} dom_plan_consent_t;

/** A group of grid cells whose decision changes the same way. */
typedef struct dom_plan_change {
    size_t instant; /* index into dom_plan_t.instants */
    const char *class_name;
    dom_access_t access;
    dom_plan_consent_t consent;
    dom_plan_outcome_t from, to;
    size_t *subjects; /* indices into dom_plan_t.subjects, in grid order */
    size_t n_subjects;
    int version_only; /* the same decision, by another version of the same jurisdiction */
} dom_plan_change_t;

/** A location whose jurisdiction changes. */
typedef struct dom_plan_move {
    size_t instant;
    size_t subject;
    const char *from, *to; /* jurisdiction names; NULL: none */
    int every_class;       /* 1 if every class, access and consent moves the same way */
} dom_plan_move_t;

/** A diagnostic of the candidate rule set (semantic lints), kept for the JSON output. */
typedef struct dom_plan_lint {
    char *file;
    size_t line, col;
    int is_error;
    char *message;
} dom_plan_lint_t;

/** The replay of audit lines: counts per instant. */
typedef struct dom_plan_replay_count {
    uint64_t differ;       /* lines decided differently by the two sets */
    uint64_t version_only; /* lines decided the same, by another version of the same jurisdiction */
    char **change_keys;    /* "FROM → TO" in words, per kind of difference */
    uint64_t *change_n;    /* how many lines each */
    size_t n_change_keys;
} dom_plan_replay_count_t;

/** The plan. */
typedef struct dom_plan {
    const dom_ruleset_t *from, *to; /* referenced by the plan */
    int64_t *instants;              /* when the grid was decided: the start, then each effective date */
    size_t n_instants;
    dom_plan_subject_t *subjects;
    size_t n_subjects, n_countries, n_subdivisions, n_pins;
    const char **class_names; /* every class of either set (the candidate's order first) */
    size_t n_classes;
    uint64_t cells; /* requests per side: subjects x classes x 2 accesses x 2 consents x instants */
    double seconds; /* time taken to decide the grid and group the changes */
    dom_plan_change_t *changes;
    size_t n_changes;
    dom_plan_move_t *moves;
    size_t n_moves;
    dom_plan_lint_t *lints;
    size_t n_lints;
    /* replay (dom_plan_replay_line) */
    uint64_t replay_lines, replay_decided, replay_skipped, replay_malformed;
    dom_plan_replay_count_t *replay; /* n_instants entries */
} dom_plan_t;

/** How to plan. */
typedef struct dom_plan_options {
    int64_t start; /* the first instant */
    int64_t end;   /* effective dates in (start, end] are instants too; end == start: only start */
} dom_plan_options_t;

/**
 * Decides the grid under both sets and groups what changes. Both rule sets are retained by the
 * plan until dom_plan_free(). Errors: DOM_ENOMEM, DOM_EINVAL (a NULL set).
 */
int dom_plan_compute(const dom_ruleset_t *from, const dom_ruleset_t *to, const dom_plan_options_t *opts,
                     dom_plan_t **out);

/** 1 if anything the grid decides changes (a change or a move), else 0. */
int dom_plan_changed(const dom_plan_t *plan);

/**
 * Re-decides one audit line (a JSON object as src/gateway/audit.c writes it: method, country,
 * subdivision, class, jurisdiction_source, jurisdiction, pin, consent) under both sets at every
 * instant of the plan and counts it. Lines the rules did not decide (the request itself, its
 * path or its pin were refused first), MOVE and COPY (their Destination is not recorded) and
 * lines naming a class neither set knows are counted as skipped; a line that is not such a
 * JSON object as malformed; blank lines and the log's own lines (with a "type": the hash
 * chain's open and checkpoint lines) are not counted at all. Errors: DOM_ENOMEM.
 */
int dom_plan_replay_line(dom_plan_t *plan, const char *line, size_t len);

/** Keeps a diagnostic (called by the CLI's diag callback so the JSON carries the lints). Errors: DOM_ENOMEM. */
int dom_plan_add_lint(dom_plan_t *plan, const char *file, size_t line, size_t col, int is_error, const char *message);

/**
 * Writes the plan as one JSON object (format "domicile-plan/1", documented in docs/rules.md):
 * from/to identity, instants, grid, changes, moves, new_refusals, new_regions, lints, replay, changed.
 * from_name and to_name say where each set came from (a path).
 */
void dom_plan_write_json(const dom_plan_t *plan, const char *from_name, const char *to_name, FILE *fp);

/** Formats an outcome in words: "eu-central, eu-west", "eu-central (anonymized)" or "451 location_unknown". */
void dom_plan_outcome_words(const dom_plan_outcome_t *o, char *buf, size_t len);

/** A subject's name: "NO", "US-CA", "unknown location", "pin EU-GDPR". */
const char *dom_plan_subject_name(const dom_plan_subject_t *s, char *buf, size_t len);

/**
 * Decides one request for a location through dom_decide: country (or ""), subdivision (or "",
 * with its country), or neither (the unknown location); pin: a valid pin naming it, or NULL.
 * The request is the one the grid uses for the class `class_name` and access (a path that the
 * set classifies so, and a method of that access); consent "*" or none. Returns 0, or
 * DOM_ENOTFOUND when no request of that class and access exists in the set (no route reaches it).
 */
int dom_plan_decide(const dom_ruleset_t *rs, const char *country, const char *subdivision, const char *pin,
                    const char *class_name, dom_access_t access, int consent, int64_t now, dom_decision_t *out);

/** Frees the plan and releases its rule sets. NULL safe. */
void dom_plan_free(dom_plan_t *plan);

#endif

/*
 * `domicile explain` as a function, for the admin listener's decision explorer: one request,
 * explained against the live config, geo handle and rules, through explain's own validation,
 * the one facts builder, dom_decide and dom_pick, printed by explain's own words and JSON
 * printers. So the explorer says what `domicile explain -c CONFIG` says, never a copy of it.
 */
#ifndef DOM_CLI_EXPLAIN_H
#define DOM_CLI_EXPLAIN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "domicile/facts.h"
#include "domicile/rules.h"
#include "gateway/config.h"

/** One request as the explorer's form gives it (NUL-terminated; NULL or "" = not given). */
typedef struct dom__explain_form {
    const char *ip;      /* the client (or the trusted proxy, with forwarding headers) */
    const char *method;  /* default GET */
    const char *path;    /* default / */
    const char *headers; /* "Name: value" lines (LF or CRLF): X-Forwarded-For, Forwarded, ... */
    const char *pin;     /* a residency pin, as explain's --pin */
    const char *consent; /* the consent header's value */
} dom__explain_form_t;

/** What the gateway decides with right now (borrowed for the call). */
typedef struct dom__explain_live {
    const dom_config_t *config; /* the settings in force (rules and geo paths, clusters, header names) */
    dom_facts_config_t facts;   /* the builder's settings as the gateway sets them (dom_config_facts) */
    dom_geo_t *geo;             /* the geo handle in use */
    const dom_ruleset_t *rules; /* the rule set in use */
    size_t n_pin_keys;          /* keys in the live keyring */
    int64_t now;                /* unix seconds */
} dom__explain_live_t;

/**
 * Explains one request: the form is checked as explain checks its options (an address, a method
 * token, header lines as --header takes them, not both a pin and a pin header), then decided and
 * printed in words onto `words` and as explain --json's object onto `json`. Returns 0, or
 * DOM_EINVAL with what is wrong in err (nothing printed), or DOM_ENOMEM.
 */
int dom__explain_live(const dom__explain_live_t *live, const dom__explain_form_t *form, FILE *words, FILE *json,
                      char *err, size_t errlen);

#endif

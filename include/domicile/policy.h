/*
 * Step 5 of the request path: the decision. One pure function from the facts of a
 * request to what the gateway must do. No I/O, no libh2o, no clock (now is an input).
 */
#ifndef DOMICILE_POLICY_H
#define DOMICILE_POLICY_H

#include "domicile/clientip.h"
#include "domicile/consent.h"
#include "domicile/geo.h"
#include "domicile/pin.h"
#include "domicile/rules.h"

/** How the consent header is read. */
typedef enum dom_consent_mode {
    DOM_CONSENT_MODE_TOKEN = 0, /* a signed consent token (consent.h): the default */
    DOM_CONSENT_MODE_HEADER,    /* unsigned class names ("marketing, content", "*"): explicit, warned opt-in */
} dom_consent_mode_t;

/** How the jurisdiction was chosen. Order of precedence: pin → override → subdivision → country → group → default. */
typedef enum dom_jurisdiction_source {
    DOM_JSRC_NONE = 0, /* nothing applied (no rules loaded, or pin refused) */
    DOM_JSRC_PIN,
    DOM_JSRC_OVERRIDE,
    DOM_JSRC_SUBDIVISION,
    DOM_JSRC_COUNTRY,
    DOM_JSRC_GROUP,
    DOM_JSRC_DEFAULT,
} dom_jurisdiction_source_t;

typedef enum dom_action { DOM_ACTION_ROUTE = 0, DOM_ACTION_REJECT } dom_action_t;

/* Why a decision intersected the rules of more than one jurisdiction (bits of dom_decision_t.joint). */
#define DOM_JOINT_PIN 0x1          /* a valid pin named another jurisdiction than the location's: conflict of laws */
#define DOM_JOINT_SUBDIVISIONS 0x2 /* the country has subdivision rules and the subdivision is unknown */

/** At most this many jurisdictions are intersected with the one that decides (more: refused, never guessed). */
#define DOM_MAX_JOINED 32

/**
 * Everything the decision depends on, as facts.h's builder gathers them (the unit tests and
 * benchmarks may fill it by hand). Strings are borrowed and need not be NUL-terminated.
 */
typedef struct dom_request_facts {
    /* step 0: what is asked */
    const char *method;
    size_t method_len;
    const char *path; /* the canonical path, without query string */
    size_t path_len;
    const char *query; /* the query string as sent (after '?'), NULL if none: forwarded, never classified */
    size_t query_len;
    int has_destination;         /* a Destination header was sent (WebDAV MOVE, COPY) */
    int destination_refused;     /* it names another host, or its path cannot be canonicalised */
    const char *destination_why; /* why, in words (a constant), when destination_refused */
    const char *destination;     /* its canonical path (NUL-terminated), when has_destination and not refused */
    size_t destination_len;
    int request_refused;        /* the request itself is refused before any rule (bounds, method) */
    int refused_status;         /* 400, 405 or 431 when request_refused */
    const char *refused_reason; /* "header_fields_too_large", "invalid_header", "invalid_method",
                                   "method_not_allowed" */
    const char *refused_why;    /* in words (a constant) */
    int path_refused;           /* the target cannot be canonicalised: 400 non_canonical_path */
    const char *path_why;       /* why, in words (a constant), when path_refused */
    /* step 1: who asks */
    int have_peer;           /* the connection's peer address is known */
    dom_addr_t peer;         /* the socket peer (or the PROXY protocol source) */
    dom_clientip_t client;   /* after trusted forwarding headers */
    size_t repeated_headers; /* pin or consent headers after the first (ignored) */
    /* step 2: from where */
    int location_known;   /* 0: unknown (no peer, hidden client, malformed forwarding): the default rule */
    dom_geo_result_t geo; /* valid when location_known */
    /* step 3: what the client holds */
    int pin_present;       /* a pin header was sent */
    int pin_status;        /* dom_pin_verify result when pin_present */
    dom_pin_t pin;         /* as far as it parsed; valid when pin_status == DOM_OK */
    const char *pin_token; /* the token as sent (for messages) */
    size_t pin_token_len;
    const char *consent; /* consent header value as sent (a token, or in header mode class names); NULL = none */
    size_t consent_len;
    dom_consent_mode_t consent_mode; /* how the consent header is read (token unless the config opts in) */
    int consent_status;              /* token mode, consent != NULL: the dom_consent_verify result */
    dom_consent_t consent_token;     /* as far as it parsed; genuine when consent_status == DOM_OK */
    dom_strref_t request_id;         /* the client's X-Request-Id, if any (not a decision input) */
    int64_t now;                     /* unix seconds, for effective dates and pin expiry */
} dom_request_facts_t;

/** The other outcome, from a newer rule in report mode (never applied, only recorded). */
typedef struct dom_report {
    int present;
    const dom_jurisdiction_t *jurisdiction;
    dom_action_t action;
    int status;
    const char *reason;
    uint16_t regions[DOM_MAX_REGIONS];
    size_t n_regions;
    int differs;                      /* 1 if it would decide differently from the enforced rule (or the
                                         enforced rules, intersected, with report versions in their place) */
    int anonymize;                    /* what the report version says about anonymizing (route only) */
    dom_jurisdiction_source_t source; /* the level the report version was found at */
} dom_report_t;

/**
 * The decision. Strings point into the ruleset (or are static); the ruleset must stay
 * referenced as long as the decision is used, and anything turned into a header is copied.
 */
typedef struct dom_decision {
    const dom_jurisdiction_t *jurisdiction; /* NULL if none applied */
    dom_jurisdiction_source_t source;
    size_t class_index;
    const char *class_name; /* NULL when no rules */
    dom_access_t access;
    dom_action_t action;
    int status;                        /* 0 for route; else 400, 401, 403, 451, 503 */
    const char *reason;                /* machine-readable reason code: "routed", "class_denied", "consent_required",
                                          "consent_malformed", "consent_unknown_key", "consent_bad_signature",
                                          "consent_expired", "consent_revoked", "consent_wrong_scope",
                                          "pin_malformed", "pin_unknown_key", "pin_bad_signature", "pin_expired",
                                          "pin_unknown_jurisdiction", "override_unknown_jurisdiction",
                                          "no_allowed_region", "no_rules", "no_rule_for_location",
                                          "conflict_of_laws", "subdivision_unknown",
                                          "non_canonical_path", or a rule's own deny reason */
    uint16_t regions[DOM_MAX_REGIONS]; /* ordered allowed regions for a route (indices into ruleset regions) */
    size_t n_regions;
    int anonymize;
    dom_on_unavailable_t on_unavailable;
    const char *destination_class; /* MOVE and COPY: the class of the Destination (NULL otherwise) */
    int consent_gated;             /* the enforced rule asks consent for some access of the class */
    int consent_checked;           /* ... and for this request (DELETE and ungated accesses are not checked) */
    dom_report_t report;
    /* Conflicts of law and unknown subdivisions (docs/internals/policy.md): the route is the intersection of
     * `jurisdiction`'s regions (in its order) with those of every joined jurisdiction; a deny or a consent any of
     * them requires applies; on_unavailable is reject if any says so; anonymize if any says so. */
    unsigned joint;                                          /* DOM_JOINT_* bits; 0: `jurisdiction` decided alone */
    const dom_jurisdiction_t *joined[DOM_MAX_JOINED];        /* the others, in order: subdivisions, then the pin's */
    dom_jurisdiction_source_t joined_source[DOM_MAX_JOINED]; /* DOM_JSRC_SUBDIVISION or DOM_JSRC_PIN */
    size_t n_joined;
    const dom_jurisdiction_t *pin_jurisdiction; /* a valid pin's jurisdiction (enforced version), joined or not */
    int pin_overridden; /* the location's jurisdictions say `pins: override`: the pin's applies alone */
} dom_decision_t;

/**
 * Decides. A request refused by its own shape is refused first (facts->refused_status and
 * refused_reason), then a target that could not be canonicalised (400 "non_canonical_path");
 * neither has a class. rules may be NULL (no rules loaded): every request is then
 * rejected with 503 "no_rules" (fail closed). An invalid pin is refused (400 malformed, 401
 * otherwise), never replaced by geolocation. An unknown location (!location_known, or a geo
 * source other than database/override) gets the default jurisdiction, overrides included:
 * a hidden client's remaining address is its proxy's. A valid pin naming another jurisdiction than the
 * location's is intersected with it ("conflict_of_laws" when nothing is left) unless the location's rules say
 * `pins: override`; with an unknown location the pin's jurisdiction applies alone. A country with subdivision
 * rules and no known subdivision gets the intersection of the country's rule and every subdivision rule of that
 * country ("subdivision_unknown" when nothing is left). Pure: no I/O, no allocation, no clock.
 * See docs/internals/policy.md. Returns 0.
 */
int dom_decide(const dom_ruleset_t *rules, const dom_request_facts_t *facts, dom_decision_t *out);

/**
 * Returns 1 if a consent header value names the class `class_name` (NUL-terminated): the
 * value is a comma-separated list of class names compared case-insensitively, optional
 * whitespace (SP, HTAB) around each, empty elements ignored; an element "*" names every class.
 * value may be NULL (no header: 0).
 */
int dom_consent_allows(const char *value, size_t len, const char *class_name);

/**
 * Writes, into buf (always NUL-terminated when len > 0), one warning about the countries of `rules` that have
 * subdivision rules (in effect at `now`) where a geo database cannot say which subdivision a client is in:
 * has_subdivisions(ctx, country) returns 1 when the database gives subdivisions for that country (NULL: it never
 * does). The words say what the gateway then does (the intersection of the country's rule and every subdivision
 * rule, never the laxest), naming each country and its jurisdictions. `serve --check` and `rules check --geo-db`
 * print it as is. Returns the number of countries concerned (0: nothing written), or DOM_ERANGE if buf was too
 * small (the text is cut).
 */
int dom_policy_subdivision_warning(const dom_ruleset_t *rules, int64_t now,
                                   int (*has_subdivisions)(void *ctx, const char *country), void *ctx, char *buf,
                                   size_t len);

/** "route" or "reject". */
const char *dom_action_name(dom_action_t action);

/** "pin", "override", "subdivision", "country", "group", "default", "none". */
const char *dom_jurisdiction_source_name(dom_jurisdiction_source_t source);

#endif

/*
 * Step 5 of the request path: the decision. See docs/internals/policy.md.
 *
 * It runs on every request, so it stays pure and cheap: no I/O, no allocation, no
 * clock; the rule lookups are binary searches in the immutable snapshot, and
 * everything the caller gets back points into that snapshot or at string constants.
 */
#include <string.h>
#include "domicile/policy.h"
#include "domicile/rules_record.h"

/* The outcome of applying one jurisdiction version to the request's class. */
typedef struct outcome {
    dom_action_t action;
    int status;
    const char *reason;
    const uint16_t *regions;
    size_t n_regions;
    int anonymize;
} outcome_t;

const char *dom_jurisdiction_source_name(dom_jurisdiction_source_t source)
{
    switch (source) {
    case DOM_JSRC_PIN:
        return "pin";
    case DOM_JSRC_OVERRIDE:
        return "override";
    case DOM_JSRC_SUBDIVISION: /* found at a claim level: the level's name */
        return dom_rules_level_name(DOM_LEVEL_SUBDIVISION);
    case DOM_JSRC_COUNTRY:
        return dom_rules_level_name(DOM_LEVEL_COUNTRY);
    case DOM_JSRC_GROUP:
        return dom_rules_level_name(DOM_LEVEL_GROUP);
    case DOM_JSRC_DEFAULT:
        return "default";
    case DOM_JSRC_NONE:
    default:
        return "none";
    }
}

const char *dom_action_name(dom_action_t action)
{
    return action == DOM_ACTION_ROUTE ? "route" : "reject";
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int dom_consent_allows(const char *value, size_t len, const char *class_name)
{
    if (value == NULL || class_name == NULL)
        return 0;
    size_t name_len = strlen(class_name);
    size_t pos = 0;
    while (pos < len) {
        size_t start = pos, end;
        while (pos < len && value[pos] != ',')
            ++pos;
        end = pos;
        ++pos; /* skip the comma (or step past the end) */
        while (start < end && is_ows(value[start]))
            ++start;
        while (end > start && is_ows(value[end - 1]))
            --end;
        size_t n = end - start;
        if (n == 1 && value[start] == '*')
            return 1;
        if (n != name_len || n == 0)
            continue;
        size_t i = 0;
        while (i < n && lower((unsigned char)value[start + i]) == lower((unsigned char)class_name[i]))
            ++i;
        if (i == n)
            return 1;
    }
    return 0;
}

static void reject(outcome_t *o, int status, const char *reason)
{
    o->action = DOM_ACTION_REJECT;
    o->status = status;
    o->reason = reason;
    o->regions = NULL;
    o->n_regions = 0;
    o->anonymize = 0;
}

static int is_method(const dom_request_facts_t *f, const char *name);

/*
 * Whether this request needs consent: the rule's mask names its access, and it is not a DELETE (erasure and
 * withdrawal are never blocked: GDPR art. 7(3), 17; rule files cannot say otherwise).
 */
static int consent_needed(const dom_class_rule_t *rule, dom_access_t access, const dom_request_facts_t *facts)
{
    int bit = access == DOM_ACCESS_READ ? DOM_CONSENT_FOR_READ : DOM_CONSENT_FOR_WRITE;
    return (rule->consent_required & bit) != 0 && !is_method(facts, "DELETE");
}

/* NULL when the request may go on, else the reason it is refused for want of consent. */
static const char *consent_refusal(const dom_class_rule_t *rule, const char *class_name, dom_access_t access,
                                   const dom_request_facts_t *facts)
{
    if (!consent_needed(rule, access, facts))
        return NULL;
    if (facts->consent_mode == DOM_CONSENT_MODE_HEADER)
        return dom_consent_allows(facts->consent, facts->consent_len, class_name) ? NULL : "consent_required";
    if (facts->consent == NULL)
        return "consent_required";
    if (facts->consent_status != DOM_OK)
        return dom_consent_reason(facts->consent_status);
    return dom_consent_covers(&facts->consent_token, class_name, strlen(class_name)) ? NULL : "consent_wrong_scope";
}

/* Applies one jurisdiction version's rule for the class: deny, then consent, then regions. */
static void apply(const dom_jurisdiction_t *jur, size_t class_index, const char *class_name, dom_access_t access,
                  const dom_request_facts_t *facts, outcome_t *o)
{
    if (jur->classes == NULL) {
        /* The compiler covers every class in every jurisdiction; a snapshot without them is refused, not guessed. */
        reject(o, 451, "class_denied");
        return;
    }
    const dom_class_rule_t *rule = &jur->classes[class_index];
    if (rule->deny) {
        reject(o, 451, rule->deny_reason != NULL && rule->deny_reason[0] != '\0' ? rule->deny_reason : "class_denied");
        return;
    }
    const char *why = consent_refusal(rule, class_name, access, facts);
    if (why != NULL) {
        reject(o, facts->consent_status == DOM_ECONSENT_MALFORMED ? 400 : 403, why);
        return;
    }
    const uint16_t *regions = access == DOM_ACCESS_WRITE ? rule->write_regions : rule->read_regions;
    size_t n = access == DOM_ACCESS_WRITE ? rule->n_write : rule->n_read;
    if (n > DOM_MAX_REGIONS)
        n = DOM_MAX_REGIONS;
    if (n == 0) {
        reject(o, 451, "no_allowed_region");
        return;
    }
    o->action = DOM_ACTION_ROUTE;
    o->status = 0;
    o->reason = "routed";
    o->regions = regions;
    o->n_regions = n;
    o->anonymize = rule->anonymize;
}

/* The jurisdiction search: the enforced version and where it came from, and the first report version seen. */
typedef struct choice {
    const dom_jurisdiction_t *enforce;
    dom_jurisdiction_source_t source;
    const dom_jurisdiction_t *report;
    dom_jurisdiction_source_t report_source;
} choice_t;

/* Records the report version of the first level that has one; says whether the search can stop. */
static int take(choice_t *c, const dom_jurisdiction_t *enforce, const dom_jurisdiction_t *report,
                dom_jurisdiction_source_t source)
{
    if (c->report == NULL && report != NULL) {
        c->report = report;
        c->report_source = source;
    }
    if (enforce == NULL)
        return 0;
    c->enforce = enforce;
    c->source = source;
    return 1;
}

/* Subdivision → country → group → default, for a location (from the database or a country override). */
static void choose_by_location(const dom_ruleset_t *rules, const dom_geo_result_t *geo, int64_t now,
                               dom_jurisdiction_source_t reported_as, choice_t *c)
{
    const dom_jurisdiction_t *enforce, *report;
    if (geo->subdivision[0] != '\0') {
        dom_ruleset_resolve(rules, DOM_LEVEL_SUBDIVISION, geo->subdivision, now, &enforce, &report);
        if (take(c, enforce, report, reported_as != DOM_JSRC_NONE ? reported_as : DOM_JSRC_SUBDIVISION))
            return;
    }
    if (geo->country[0] != '\0') {
        dom_ruleset_resolve(rules, DOM_LEVEL_COUNTRY, geo->country, now, &enforce, &report);
        if (take(c, enforce, report, reported_as != DOM_JSRC_NONE ? reported_as : DOM_JSRC_COUNTRY))
            return;
        dom_ruleset_resolve(rules, DOM_LEVEL_GROUP, geo->country, now, &enforce, &report);
        if (take(c, enforce, report, reported_as != DOM_JSRC_NONE ? reported_as : DOM_JSRC_GROUP))
            return;
    }
    dom_ruleset_find(rules, NULL, now, &enforce, &report);
    take(c, enforce, report, DOM_JSRC_DEFAULT);
}

static void fill_report(dom_decision_t *out, const dom_jurisdiction_t *jur, dom_jurisdiction_source_t source,
                        const dom_request_facts_t *facts)
{
    outcome_t o;
    apply(jur, out->class_index, out->class_name, out->access, facts, &o);
    dom_report_t *r = &out->report;
    r->present = 1;
    r->jurisdiction = jur;
    r->source = source;
    r->action = o.action;
    r->status = o.status;
    r->reason = o.reason;
    r->n_regions = o.n_regions;
    if (o.n_regions != 0)
        memcpy(r->regions, o.regions, o.n_regions * sizeof(r->regions[0]));
    r->anonymize = o.anonymize;
    r->differs = r->action != out->action || r->status != out->status || strcmp(r->reason, out->reason) != 0 ||
                 r->anonymize != out->anonymize || r->n_regions != out->n_regions ||
                 (r->n_regions != 0 && memcmp(r->regions, out->regions, r->n_regions * sizeof(r->regions[0])) != 0);
}

static void set_outcome(dom_decision_t *out, const outcome_t *o)
{
    out->action = o->action;
    out->status = o->status;
    out->reason = o->reason;
    out->n_regions = o->n_regions;
    if (o->n_regions != 0)
        memcpy(out->regions, o->regions, o->n_regions * sizeof(out->regions[0]));
    out->anonymize = o->anonymize;
}

static void set_reject(dom_decision_t *out, int status, const char *reason);

static int is_method(const dom_request_facts_t *f, const char *name)
{
    return f->method != NULL && f->method_len == strlen(name) && memcmp(f->method, name, f->method_len) == 0;
}

/*
 * WebDAV MOVE and COPY write the Destination too: its class (as a PUT there would be classed) must
 * be stored in the same region the request goes to. The route keeps the source's regions that the
 * destination's rule also allows for writes, in the source's order; none left: 451.
 */
static void apply_destination(const dom_ruleset_t *rules, const dom_request_facts_t *facts, dom_decision_t *out)
{
    if (!facts->has_destination || facts->destination_refused) {
        set_reject(out, 400, "invalid_destination");
        return;
    }
    size_t dc = dom_ruleset_classify(rules, "PUT", 3, facts->destination, facts->destination_len);
    if (dc >= rules->n_classes)
        dc = rules->default_class < rules->n_classes ? rules->default_class : 0;
    out->destination_class = rules->classes[dc].name;
    outcome_t o;
    apply(out->jurisdiction, dc, out->destination_class, DOM_ACCESS_WRITE, facts, &o);
    if (o.action != DOM_ACTION_ROUTE) {
        set_reject(out, o.status == 403 ? 403 : 451, o.status == 403 ? o.reason : "destination_not_allowed");
        return;
    }
    size_t n = 0;
    for (size_t i = 0; i < out->n_regions; ++i)
        for (size_t k = 0; k < o.n_regions; ++k)
            if (out->regions[i] == o.regions[k]) {
                out->regions[n++] = out->regions[i];
                break;
            }
    out->n_regions = n;
    if (n == 0)
        set_reject(out, 451, "destination_not_allowed");
}

static void set_reject(dom_decision_t *out, int status, const char *reason)
{
    out->action = DOM_ACTION_REJECT;
    out->status = status;
    out->reason = reason;
    out->n_regions = 0;
    out->anonymize = 0;
}

int dom_decide(const dom_ruleset_t *rules, const dom_request_facts_t *facts, dom_decision_t *out)
{
    /* Only the scalar fields are reset: the region arrays are read only up to their counts. */
    out->jurisdiction = NULL;
    out->source = DOM_JSRC_NONE;
    out->class_index = 0;
    out->class_name = NULL;
    out->n_regions = 0;
    out->anonymize = 0;
    out->on_unavailable = DOM_ON_UNAVAILABLE_REJECT;
    out->report.present = 0;
    out->report.jurisdiction = NULL;
    out->report.reason = NULL;
    out->report.n_regions = 0;
    out->report.differs = 0;
    out->report.anonymize = 0;
    out->report.source = DOM_JSRC_NONE;
    out->report.action = DOM_ACTION_REJECT;
    out->report.status = 0;
    out->destination_class = NULL;
    out->consent_gated = 0;
    out->consent_checked = 0;

    const char *method = facts->method != NULL ? facts->method : "";
    size_t method_len = facts->method != NULL ? facts->method_len : 0;
    const char *path = facts->path != NULL ? facts->path : "";
    size_t path_len = facts->path != NULL ? facts->path_len : 0;
    out->access = dom_ruleset_method_is_read(rules, method, method_len) ? DOM_ACCESS_READ : DOM_ACCESS_WRITE;

    if (facts->request_refused) {
        set_reject(out, facts->refused_status, facts->refused_reason);
        return 0;
    }
    if (facts->path_refused) {
        /* what cannot be classified without guessing is not classified at all */
        set_reject(out, 400, "non_canonical_path");
        return 0;
    }
    if (rules == NULL || rules->n_classes == 0) {
        set_reject(out, 503, "no_rules");
        return 0;
    }
    out->class_index = dom_ruleset_classify(rules, method, method_len, path, path_len);
    if (out->class_index >= rules->n_classes) /* a corrupt snapshot; never index past the table */
        out->class_index = rules->default_class < rules->n_classes ? rules->default_class : 0;
    out->class_name = rules->classes[out->class_index].name;

    choice_t c = {NULL, DOM_JSRC_NONE, NULL, DOM_JSRC_NONE};
    const dom_jurisdiction_t *enforce, *report;
    const dom_geo_result_t *geo = facts->location_known ? &facts->geo : NULL;
    const char *unknown_reason = "no_rule_for_location";

    if (facts->pin_present) {
        /* A pin is the user's own statement of residency: an invalid one is refused, never replaced by geolocation. */
        if (facts->pin_status != DOM_OK || facts->pin.jurisdiction[0] == '\0') {
            int st = facts->pin_status == DOM_OK ? DOM_EPIN_MALFORMED : facts->pin_status;
            set_reject(out, st == DOM_EPIN_MALFORMED ? 400 : 401, dom_pin_reason(st));
            return 0;
        }
        dom_ruleset_find(rules, facts->pin.jurisdiction, facts->now, &enforce, &report);
        take(&c, enforce, report, DOM_JSRC_PIN);
        c.source = DOM_JSRC_PIN;
        unknown_reason = "pin_unknown_jurisdiction";
    } else if (geo == NULL || (geo->source != DOM_GEO_DATABASE && geo->source != DOM_GEO_OVERRIDE)) {
        /* Unknown location, including a hidden client behind a trusted proxy: even an override matching the
         * proxy's own address says nothing about the client, so only the default applies. */
        dom_ruleset_find(rules, NULL, facts->now, &enforce, &report);
        take(&c, enforce, report, DOM_JSRC_DEFAULT);
    } else if (geo->source == DOM_GEO_OVERRIDE && geo->jurisdiction[0] != '\0') {
        dom_ruleset_find(rules, geo->jurisdiction, facts->now, &enforce, &report);
        take(&c, enforce, report, DOM_JSRC_OVERRIDE);
        c.source = DOM_JSRC_OVERRIDE;
        unknown_reason = "override_unknown_jurisdiction";
    } else {
        choose_by_location(rules, geo, facts->now, geo->source == DOM_GEO_OVERRIDE ? DOM_JSRC_OVERRIDE : DOM_JSRC_NONE,
                           &c);
    }

    if (c.enforce == NULL) {
        set_reject(out, 451, unknown_reason);
        if (c.source != DOM_JSRC_PIN && c.source != DOM_JSRC_OVERRIDE)
            c.source = DOM_JSRC_NONE;
    } else {
        outcome_t o;
        out->jurisdiction = c.enforce;
        out->on_unavailable = c.enforce->on_unavailable;
        apply(c.enforce, out->class_index, out->class_name, out->access, facts, &o);
        set_outcome(out, &o);
        if (c.enforce->classes != NULL) {
            const dom_class_rule_t *rule = &c.enforce->classes[out->class_index];
            out->consent_gated = rule->consent_required != 0 && !rule->deny;
            out->consent_checked = out->consent_gated && consent_needed(rule, out->access, facts);
        }
        if (out->action == DOM_ACTION_ROUTE && (is_method(facts, "MOVE") || is_method(facts, "COPY")))
            apply_destination(rules, facts, out);
    }
    out->source = c.source;
    if (c.report != NULL)
        fill_report(out, c.report, c.report_source, facts);
    return 0;
}

/*
 * Step 5 of the request path: the decision. See docs/internals/policy.md.
 *
 * It runs on every request, so it stays pure and cheap: no I/O, no allocation, no
 * clock; the rule lookups are binary searches in the immutable snapshot, and
 * everything the caller gets back points into that snapshot or at string constants.
 */
#include <stdio.h>
#include <string.h>
#include "domicile/policy.h"
#include "domicile/rules_record.h"

/* The outcome of applying one jurisdiction version (or several, intersected) to the request's class. */
typedef struct outcome {
    dom_action_t action;
    int status;
    const char *reason;
    uint16_t regions[DOM_MAX_REGIONS];
    size_t n_regions;
    int anonymize;
} outcome_t;

/*
 * The jurisdictions that decide one request together. [0, n_location) apply by location: the one the
 * location search chose (it gives the order), then every subdivision rule of its country when the
 * subdivision is unknown; then the pin's, when it names another jurisdiction. Each has its enforced version
 * (NULL: only a report version is in effect there) and its report version in effect, if any.
 */
typedef struct members {
    const dom_jurisdiction_t *enforce[DOM_MAX_JOINED + 1];
    const dom_jurisdiction_t *report[DOM_MAX_JOINED + 1];
    dom_jurisdiction_source_t source[DOM_MAX_JOINED + 1];
    dom_jurisdiction_source_t report_source[DOM_MAX_JOINED + 1]; /* a report-only level above: its own */
    size_t n, n_location;
    int overflow; /* more than DOM_MAX_JOINED others: refused, never a subset */
} members_t;

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
    const uint16_t *regions = access == DOM_ACCESS_WRITE ? rule->write_regions : rule->read_regions;
    size_t n = access == DOM_ACCESS_WRITE ? rule->n_write : rule->n_read;
    if (n > DOM_MAX_REGIONS)
        n = DOM_MAX_REGIONS;
    const char *why = consent_refusal(rule, class_name, access, facts);
    if (why != NULL) {
        reject(o, facts->consent_status == DOM_ECONSENT_MALFORMED ? 400 : 403, why);
        /* still says where (apply_all intersects it with other jurisdictions'); a reject never routes there */
        memcpy(o->regions, regions, n * sizeof(o->regions[0]));
        o->n_regions = n;
        return;
    }
    if (n == 0) {
        reject(o, 451, "no_allowed_region");
        return;
    }
    o->action = DOM_ACTION_ROUTE;
    o->status = 0;
    o->reason = "routed";
    memcpy(o->regions, regions, n * sizeof(o->regions[0]));
    o->n_regions = n;
    o->anonymize = rule->anonymize;
}

/* Keeps the regions of o that t also allows, in o's order. */
static void keep_common(outcome_t *o, const outcome_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < o->n_regions; ++i)
        for (size_t k = 0; k < t->n_regions; ++k)
            if (o->regions[i] == t->regions[k]) {
                o->regions[n++] = o->regions[i];
                break;
            }
    o->n_regions = n;
}

/*
 * Applies every given jurisdiction's rule for the class (NULL entries are skipped) and intersects them,
 * never the laxest: a 451 of any (the first in order) wins, then an empty intersection (451
 * "subdivision_unknown" when the location's own rules share no region, "conflict_of_laws" when only the
 * pin's leaves none; a rule that asks for consent still says where), then any other refusal (403 consent),
 * else the common regions in the order of the first (the location's), anonymized if any says so.
 */
static void apply_all(const dom_jurisdiction_t *const *jurs, size_t n, size_t n_location, size_t class_index,
                      const char *class_name, dom_access_t access, const dom_request_facts_t *facts, outcome_t *o)
{
    const char *deny = NULL, *empty = NULL, *other = NULL;
    int other_status = 0, have_common = 0, anonymize = 0;
    outcome_t t;
    for (size_t i = 0; i < n; ++i) {
        if (jurs[i] == NULL)
            continue;
        apply(jurs[i], class_index, class_name, access, facts, &t);
        if (t.action == DOM_ACTION_REJECT) {
            if (t.status == 451 && deny == NULL)
                deny = t.reason;
            else if (t.status != 451 && other == NULL)
                other = t.reason, other_status = t.status;
            if (t.status == 451 || t.n_regions == 0)
                continue;
        } else {
            anonymize |= t.anonymize;
        }
        if (!have_common) {
            *o = t;
            have_common = 1;
            continue;
        }
        size_t before = o->n_regions;
        keep_common(o, &t);
        if (o->n_regions == 0 && before != 0 && empty == NULL)
            empty = i >= n_location ? "conflict_of_laws" : "subdivision_unknown";
    }
    if (deny != NULL)
        reject(o, 451, deny);
    else if (empty != NULL)
        reject(o, 451, empty);
    else if (other != NULL)
        reject(o, other_status, other);
    else if (!have_common)
        reject(o, 451, "no_rule_for_location"); /* nothing enforced among them (callers never ask) */
    else
        o->anonymize = anonymize;
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

/* Adds one jurisdiction (enforced and report versions) to the members, once: a name already there is not added. */
static void add_member(members_t *m, const dom_jurisdiction_t *enforce, const dom_jurisdiction_t *report,
                       dom_jurisdiction_source_t source)
{
    const dom_jurisdiction_t *j = enforce != NULL ? enforce : report;
    if (j == NULL)
        return;
    for (size_t i = 0; i < m->n; ++i) {
        const dom_jurisdiction_t *k = m->enforce[i] != NULL ? m->enforce[i] : m->report[i];
        if (k == j || strcmp(k->name, j->name) == 0)
            return;
    }
    if (m->n > DOM_MAX_JOINED) {
        m->overflow = 1;
        return;
    }
    m->enforce[m->n] = enforce;
    m->report[m->n] = report;
    m->source[m->n] = m->report_source[m->n] = source;
    ++m->n;
}

/* The country of a subdivision claim key ("CA" of "CA-QC"), compared with `country`. */
static int claim_in_country(const dom_rule_claim_t *c, const char *country)
{
    return c->level == DOM_LEVEL_SUBDIVISION && c->key[0] == country[0] && c->key[1] == country[1] && c->key[2] == '-';
}

/*
 * The subdivision is unknown: every subdivision rule of the country joins the country's (claims are sorted by
 * level, then key as text, so a country's subdivisions are one run among the first claims).
 */
static void join_subdivisions(const dom_ruleset_t *rules, const char *country, int64_t now, members_t *m)
{
    for (size_t i = 0; i < rules->n_claims && rules->claims[i].level == DOM_LEVEL_SUBDIVISION; ++i) {
        const dom_rule_claim_t *c = &rules->claims[i];
        if (!claim_in_country(c, country) || (i > 0 && strcmp(rules->claims[i - 1].key, c->key) == 0))
            continue;
        const dom_jurisdiction_t *enforce, *report;
        dom_ruleset_resolve(rules, DOM_LEVEL_SUBDIVISION, c->key, now, &enforce, &report);
        add_member(m, enforce, report, DOM_JSRC_SUBDIVISION);
    }
}

static void fill_report(dom_decision_t *out, const members_t *m, const dom_request_facts_t *facts)
{
    /* What the rules would decide with every report version in place of its enforced version. */
    const dom_jurisdiction_t *jurs[DOM_MAX_JOINED + 1];
    const dom_jurisdiction_t *first = NULL;
    dom_jurisdiction_source_t source = DOM_JSRC_NONE;
    for (size_t i = 0; i < m->n; ++i) {
        jurs[i] = m->report[i] != NULL ? m->report[i] : m->enforce[i];
        if (first == NULL && m->report[i] != NULL)
            first = m->report[i], source = m->report_source[i];
    }
    if (first == NULL)
        return;
    outcome_t o;
    apply_all(jurs, m->n, m->n_location, out->class_index, out->class_name, out->access, facts, &o);
    dom_report_t *r = &out->report;
    r->present = 1;
    r->jurisdiction = first;
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
 * be stored in the same region the request goes to, under every jurisdiction that decides. The route
 * keeps the source's regions that the destination's rules also allow for writes, in the source's order;
 * none left: 451.
 */
static void apply_destination(const dom_ruleset_t *rules, const dom_request_facts_t *facts, const members_t *m,
                              dom_decision_t *out)
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
    apply_all(m->enforce, m->n, m->n_location, dc, out->destination_class, DOM_ACCESS_WRITE, facts, &o);
    if (o.action != DOM_ACTION_ROUTE) {
        set_reject(out, o.status == 403 ? 403 : 451, o.status == 403 ? o.reason : "destination_not_allowed");
        return;
    }
    outcome_t src;
    src.n_regions = out->n_regions;
    memcpy(src.regions, out->regions, out->n_regions * sizeof(out->regions[0]));
    keep_common(&src, &o);
    out->n_regions = src.n_regions;
    memcpy(out->regions, src.regions, src.n_regions * sizeof(out->regions[0]));
    if (out->n_regions == 0)
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

/* Whether every jurisdiction that applies by location lets a pin override it (`pins: override`). */
static int pins_override(const members_t *m)
{
    size_t n = 0;
    for (size_t i = 0; i < m->n_location; ++i) {
        if (m->enforce[i] == NULL)
            continue;
        if (m->enforce[i]->pins != DOM_PINS_OVERRIDE)
            return 0;
        ++n;
    }
    return n != 0;
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
    out->joint = 0;
    out->n_joined = 0;
    out->pin_jurisdiction = NULL;
    out->pin_overridden = 0;

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

    /* A pin is the user's own statement of residency: an invalid one is refused, never replaced by geolocation. */
    const dom_jurisdiction_t *pin_enforce = NULL, *pin_report = NULL;
    if (facts->pin_present) {
        if (facts->pin_status != DOM_OK || facts->pin.jurisdiction[0] == '\0') {
            int st = facts->pin_status == DOM_OK ? DOM_EPIN_MALFORMED : facts->pin_status;
            set_reject(out, st == DOM_EPIN_MALFORMED ? 400 : 401, dom_pin_reason(st));
            return 0;
        }
        dom_ruleset_find(rules, facts->pin.jurisdiction, facts->now, &pin_enforce, &pin_report);
        if (pin_enforce == NULL) {
            set_reject(out, 451, "pin_unknown_jurisdiction");
            out->source = DOM_JSRC_PIN;
            if (pin_report != NULL) {
                members_t m = {{NULL}, {pin_report}, {DOM_JSRC_PIN}, {DOM_JSRC_PIN}, 1, 1, 0};
                fill_report(out, &m, facts);
            }
            return 0;
        }
        out->pin_jurisdiction = pin_enforce;
    }

    /* The law of the place, as if there were no pin. */
    choice_t c = {NULL, DOM_JSRC_NONE, NULL, DOM_JSRC_NONE};
    const dom_jurisdiction_t *enforce, *report;
    const dom_geo_result_t *geo = facts->location_known ? &facts->geo : NULL;
    const char *unknown_reason = "no_rule_for_location";
    int location_unknown = 0;
    if (geo == NULL || (geo->source != DOM_GEO_DATABASE && geo->source != DOM_GEO_OVERRIDE)) {
        /* Unknown location, including a hidden client behind a trusted proxy: even an override matching the
         * proxy's own address says nothing about the client, so only the default applies. */
        location_unknown = 1;
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

    members_t m;
    m.n = m.n_location = 0;
    m.overflow = 0;
    if (c.enforce != NULL || c.report != NULL) {
        m.enforce[0] = c.enforce;
        m.report[0] = c.report;
        m.source[0] = c.enforce != NULL ? c.source : c.report_source;
        m.report_source[0] = c.report_source;
        m.n = 1;
    }
    if (c.enforce != NULL && geo != NULL && !location_unknown && geo->jurisdiction[0] == '\0' &&
        geo->subdivision[0] == '\0' && geo->country[0] != '\0') {
        join_subdivisions(rules, geo->country, facts->now, &m);
        if (m.n > 1)
            out->joint |= DOM_JOINT_SUBDIVISIONS;
    }
    m.n_location = m.n;

    if (pin_enforce != NULL) {
        /* Conflicts of law: the pin's jurisdiction and the place's both apply, unless no law of the place is known
         * (an unknown location, or a place only the default covers: the pin's alone, see docs/internals/policy.md)
         * or the place's rules say `pins: override`. */
        int alone = c.enforce == NULL || location_unknown || c.source == DOM_JSRC_DEFAULT;
        if (!alone && pins_override(&m)) {
            alone = 1;
            out->pin_overridden = 1;
        }
        if (!alone && m.n_location == 1 && strcmp(c.enforce->name, pin_enforce->name) == 0)
            alone = 1; /* the same law: the pin decides, as it always did */
        if (alone) {
            m.enforce[0] = pin_enforce;
            m.report[0] = pin_report;
            m.source[0] = m.report_source[0] = DOM_JSRC_PIN;
            m.n = m.n_location = 1;
            out->joint = 0;
            c.enforce = pin_enforce;
            c.source = DOM_JSRC_PIN;
        } else {
            size_t before = m.n;
            add_member(&m, pin_enforce, pin_report, DOM_JSRC_PIN);
            if (m.n > before)
                out->joint |= DOM_JOINT_PIN;
        }
    }

    if (c.enforce == NULL) {
        set_reject(out, 451, unknown_reason);
        if (c.source != DOM_JSRC_OVERRIDE)
            c.source = DOM_JSRC_NONE;
        out->source = c.source;
        if (m.n != 0)
            fill_report(out, &m, facts);
        return 0;
    }
    out->jurisdiction = c.enforce;
    out->source = c.source;
    out->on_unavailable = c.enforce->on_unavailable;
    for (size_t i = 1; i < m.n && out->n_joined < DOM_MAX_JOINED; ++i) {
        if (m.enforce[i] == NULL)
            continue;
        out->joined[out->n_joined] = m.enforce[i];
        out->joined_source[out->n_joined++] = m.source[i];
        if (m.enforce[i]->on_unavailable == DOM_ON_UNAVAILABLE_REJECT)
            out->on_unavailable = DOM_ON_UNAVAILABLE_REJECT; /* never fail over where one of them forbids it */
    }
    if (m.overflow) {
        /* more jurisdictions than the decision can name: refused rather than decided by a subset */
        set_reject(out, 451, out->joint & DOM_JOINT_PIN ? "conflict_of_laws" : "subdivision_unknown");
        return 0;
    }
    outcome_t o;
    apply_all(m.enforce, m.n, m.n_location, out->class_index, out->class_name, out->access, facts, &o);
    set_outcome(out, &o);
    for (size_t i = 0; i < m.n; ++i) { /* consent: any jurisdiction of the decision that gates the class */
        const dom_class_rule_t *rule =
            m.enforce[i] != NULL && m.enforce[i]->classes != NULL ? &m.enforce[i]->classes[out->class_index] : NULL;
        if (rule != NULL && rule->consent_required != 0 && !rule->deny) {
            out->consent_gated = 1;
            out->consent_checked |= consent_needed(rule, out->access, facts);
        }
    }
    if (out->action == DOM_ACTION_ROUTE && (is_method(facts, "MOVE") || is_method(facts, "COPY")))
        apply_destination(rules, facts, &m, out);
    fill_report(out, &m, facts);
    return 0;
}

/* Appends printf-style text at *used; remembers a cut. */
static void put(char *buf, size_t len, size_t *used, int *cut, const char *fmt, const char *a, const char *b)
{
    if (*used >= len) {
        *cut = 1;
        return;
    }
    int n = snprintf(buf + *used, len - *used, fmt, a, b);
    if (n < 0 || (size_t)n >= len - *used) {
        *cut = 1;
        *used = len;
        return;
    }
    *used += (size_t)n;
}

int dom_policy_subdivision_warning(const dom_ruleset_t *rules, int64_t now,
                                   int (*has_subdivisions)(void *ctx, const char *country), void *ctx, char *buf,
                                   size_t len)
{
    size_t used = 0;
    int cut = 0, countries = 0;
    if (len != 0)
        buf[0] = '\0';
    if (rules == NULL)
        return 0;
    for (size_t i = 0; i < rules->n_claims && rules->claims[i].level == DOM_LEVEL_SUBDIVISION; ++i) {
        const char *key = rules->claims[i].key;
        char country[3] = {key[0], key[1], '\0'};
        if (key[2] != '-' || (i > 0 && memcmp(rules->claims[i - 1].key, key, 2) == 0))
            continue; /* one entry per country: its subdivisions are one run */
        if (has_subdivisions != NULL && has_subdivisions(ctx, country))
            continue;
        /* What the gateway decides for that country with no subdivision: the same search as a request. */
        dom_geo_result_t geo;
        memset(&geo, 0, sizeof(geo));
        geo.source = DOM_GEO_DATABASE;
        memcpy(geo.country, country, 3);
        choice_t c = {NULL, DOM_JSRC_NONE, NULL, DOM_JSRC_NONE};
        choose_by_location(rules, &geo, now, DOM_JSRC_NONE, &c);
        members_t m;
        m.n = m.n_location = 0;
        m.overflow = 0;
        if (c.enforce != NULL) {
            m.enforce[0] = c.enforce;
            m.report[0] = NULL;
            m.source[0] = m.report_source[0] = c.source;
            m.n = 1;
        }
        join_subdivisions(rules, country, now, &m);
        if (m.n == 0 || (m.n == 1 && c.enforce != NULL))
            continue; /* no subdivision rule in effect now */
        put(buf, len, &used, &cut, countries == 0 ? "%s%s: " : "; %s%s: ", "", country);
        for (size_t k = 0; k < m.n; ++k)
            put(buf, len, &used, &cut, "%s%s", k == 0 ? "" : " and ",
                m.enforce[k] != NULL ? m.enforce[k]->name : m.report[k]->name);
        ++countries;
    }
    if (countries == 0) {
        if (len != 0)
            buf[0] = '\0';
        return 0;
    }
    /* The sentence around the list, written in front of it. */
    static const char lead[] = "the geo database cannot say which subdivision a client is in, and these countries "
                               "have subdivision rules, so their clients get the intersection of all of them "
                               "(never the laxest; a write goes only where every one allows): ";
    size_t n_lead = sizeof(lead) - 1;
    if (used + n_lead < len) {
        memmove(buf + n_lead, buf, used + 1);
        memcpy(buf, lead, n_lead);
    } else {
        cut = 1;
    }
    return cut ? DOM_ERANGE : countries;
}

/*
 * Fuzzes dom_decide with hostile request facts (method, path, consent header, geo
 * strings, pin and override jurisdiction names, time) against a small hand-built rule
 * set, and checks the decision's invariants: a route names at least one valid region
 * and only regions the rule allows; a reject names none and has one of the statuses
 * the gateway knows; every string is set.
 *
 * Input: one flag byte, then fields separated by '\n':
 *   method, path, consent, country, subdivision, jurisdiction (pin or override), now (decimal).
 * Flags: bit 0 pin present, bits 1-3 pin status, bit 4 location hidden, bit 5 no geo,
 *        bits 6-7 geo source (database, override, special, none).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/policy.h"

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            abort();                                                                                                   \
    } while (0)

static dom_region_t regions[] = {{"eu-central", "DE", ""}, {"eu-west", "IE", ""}, {"us-east", "US", ""}};
static dom_data_class_t classes[] = {{"account", "", 1}, {"content", "", 1}, {"marketing", "", 1}, {"device", "", 1}};
static dom_route_rule_t routes[] = {
    {"/v1/notifications", 17, DOM_METHOD_POST | DOM_METHOD_PUT, 2},
    {"/v1/account", 11, DOM_METHOD_ALL, 0},
    {"/v1/device", 10, DOM_METHOD_ALL, 3},
    {"/v1/sync", 8, DOM_METHOD_ALL, 1},
};
/* [jurisdiction][class] */
static dom_class_rule_t rules_of[4][4];
#define JUR(NAME, VERSION, EFFECTIVE, MODE, ON_UNAVAILABLE, IS_DEFAULT, CLASSES)                                       \
    {                                                                                                                  \
        .name = NAME, .version = VERSION, .effective = EFFECTIVE, .mode = MODE, .policy_url = "u",                     \
        .on_unavailable = ON_UNAVAILABLE, .is_default = IS_DEFAULT, .source_file = "f", .classes = CLASSES             \
    }
static dom_jurisdiction_t jurisdictions[4] = {
    JUR("DEFAULT", "1", 0, DOM_MODE_ENFORCE, DOM_ON_UNAVAILABLE_REJECT, 1, rules_of[0]),
    JUR("EU-GDPR", "1", 0, DOM_MODE_ENFORCE, DOM_ON_UNAVAILABLE_NEXT_REGION, 0, rules_of[1]),
    JUR("EU-GDPR", "2", 1000000, DOM_MODE_REPORT, DOM_ON_UNAVAILABLE_REJECT, 0, rules_of[2]),
    JUR("US-FED", "1", 0, DOM_MODE_ENFORCE, DOM_ON_UNAVAILABLE_REJECT, 0, rules_of[3]),
};
/* sorted by (level, key, effective) */
static dom_rule_claim_t claims[] = {
    {DOM_LEVEL_SUBDIVISION, "US-CA", 3}, {DOM_LEVEL_COUNTRY, "US", 3}, {DOM_LEVEL_GROUP, "AT", 1},
    {DOM_LEVEL_GROUP, "AT", 2},          {DOM_LEVEL_GROUP, "DE", 1},   {DOM_LEVEL_GROUP, "DE", 2},
};
static dom_ruleset_t rules;

static void setup(void)
{
    if (rules.regions != NULL)
        return;
    for (size_t j = 0; j < 4; ++j)
        for (size_t c = 0; c < 4; ++c) {
            dom_class_rule_t *r = &rules_of[j][c];
            r->n_write = j == 0 ? 0 : 1 + (j + c) % 3;
            for (size_t i = 0; i < r->n_write; ++i)
                r->write_regions[i] = (uint16_t)((j + i) % 3);
            r->n_read = 1;
            r->read_regions[0] = (uint16_t)(c % 3);
            r->consent_required = c == 2;
            r->deny = c == 3 && j != 2;
            r->anonymize = j == 3;
        }
    rules.regions = regions;
    rules.n_regions = 3;
    rules.classes = classes;
    rules.n_classes = 4;
    rules.routes = routes;
    rules.n_routes = 4;
    rules.default_class = 1;
    rules.jurisdictions = jurisdictions;
    rules.n_jurisdictions = 4;
    rules.claims = claims;
    rules.n_claims = sizeof(claims) / sizeof(claims[0]);
    rules.refcnt = 1;
}

/* Next '\n'-separated field of [*p, end). */
static const char *field(const char **p, const char *end, size_t *len)
{
    const char *start = *p;
    const char *nl = start < end ? memchr(start, '\n', (size_t)(end - start)) : NULL;
    const char *stop = nl != NULL ? nl : end;
    *len = (size_t)(stop - start);
    *p = nl != NULL ? nl + 1 : end;
    return start;
}

static void copy(char *dst, size_t size, const char *src, size_t len)
{
    if (len >= size)
        len = size - 1;
    memcpy(dst, src, len);
    dst[len] = '\0';
}

static void check_list(const dom_ruleset_t *rs, const uint16_t *regions, size_t n)
{
    CHECK(n <= DOM_MAX_REGIONS);
    for (size_t i = 0; i < n; ++i)
        CHECK(regions[i] < rs->n_regions);
}

static void check(const dom_ruleset_t *rs, const dom_decision_t *d)
{
    CHECK(d->reason != NULL && d->reason[0] != '\0');
    CHECK(d->access == DOM_ACCESS_READ || d->access == DOM_ACCESS_WRITE);
    if (rs != NULL) {
        CHECK(d->class_index < rs->n_classes);
        CHECK(d->class_name == rs->classes[d->class_index].name);
    }
    check_list(rs != NULL ? rs : &rules, d->regions, d->n_regions);
    if (d->action == DOM_ACTION_ROUTE) {
        CHECK(rs != NULL && d->jurisdiction != NULL);
        CHECK(d->status == 0 && d->n_regions > 0 && strcmp(d->reason, "routed") == 0);
        const dom_class_rule_t *r = &d->jurisdiction->classes[d->class_index];
        const uint16_t *allowed = d->access == DOM_ACCESS_WRITE ? r->write_regions : r->read_regions;
        size_t n_allowed = d->access == DOM_ACCESS_WRITE ? r->n_write : r->n_read;
        if (d->n_joined == 0) {
            CHECK(d->n_regions == n_allowed);
            CHECK(memcmp(allowed, d->regions, d->n_regions * sizeof(allowed[0])) == 0);
        }
        /* joined (pin x location, unknown subdivision): in the deciding rule's order, and every one allows it */
        for (size_t i = 0, k = 0; i < d->n_regions; ++i, ++k) {
            while (k < n_allowed && allowed[k] != d->regions[i])
                ++k;
            CHECK(k < n_allowed);
        }
        CHECK(d->n_joined <= DOM_MAX_JOINED);
        for (size_t j = 0; j < d->n_joined; ++j) {
            const dom_class_rule_t *o = &d->joined[j]->classes[d->class_index];
            CHECK(!o->deny && d->joined[j]->mode == DOM_MODE_ENFORCE);
            for (size_t i = 0; i < d->n_regions; ++i) {
                size_t n = d->access == DOM_ACCESS_WRITE ? o->n_write : o->n_read, k = 0;
                const uint16_t *l = d->access == DOM_ACCESS_WRITE ? o->write_regions : o->read_regions;
                while (k < n && l[k] != d->regions[i])
                    ++k;
                CHECK(k < n);
            }
        }
        CHECK(!r->deny);
        CHECK(d->jurisdiction->mode == DOM_MODE_ENFORCE);
    } else {
        CHECK(d->action == DOM_ACTION_REJECT);
        CHECK(d->status == 400 || d->status == 401 || d->status == 403 || d->status == 451 || d->status == 503);
        CHECK(d->n_regions == 0 && d->anonymize == 0);
    }
    if (d->report.present) {
        CHECK(d->report.jurisdiction != NULL && d->report.jurisdiction->mode == DOM_MODE_REPORT);
        CHECK(d->report.reason != NULL);
        check_list(rs, d->report.regions, d->report.n_regions);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
    if (size == 0)
        return 0;
    static const int pin_statuses[] = {
        DOM_OK,     DOM_EPIN_MALFORMED, DOM_EPIN_UNKNOWN_KEY, DOM_EPIN_BAD_SIGNATURE, DOM_EPIN_EXPIRED, DOM_OK,
        DOM_ENOMEM, DOM_EINVAL};
    static const dom_geo_source_t geo_sources[] = {DOM_GEO_DATABASE, DOM_GEO_OVERRIDE, DOM_GEO_SPECIAL, DOM_GEO_NONE};
    uint8_t flags = data[0];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    size_t method_len, path_len, consent_len, country_len, sub_len, jur_len, now_len;
    const char *method = field(&p, end, &method_len);
    const char *path = field(&p, end, &path_len);
    const char *consent = field(&p, end, &consent_len);
    const char *country = field(&p, end, &country_len);
    const char *sub = field(&p, end, &sub_len);
    const char *jur = field(&p, end, &jur_len);
    const char *now_s = field(&p, end, &now_len);

    dom_geo_result_t geo = {0};
    geo.source = geo_sources[flags >> 6];
    copy(geo.country, sizeof(geo.country), country, country_len);
    copy(geo.subdivision, sizeof(geo.subdivision), sub, sub_len);
    if (geo.source == DOM_GEO_OVERRIDE)
        copy(geo.jurisdiction, sizeof(geo.jurisdiction), jur, jur_len);
    dom_pin_t pin = {0};
    if (!(flags & 2)) /* else a status OK with no parsed pin */
        copy(pin.jurisdiction, sizeof(pin.jurisdiction), jur, jur_len);
    int64_t now = 0;
    for (size_t i = 0; i < now_len && i < 18; ++i)
        now = now * 10 + (now_s[i] >= '0' && now_s[i] <= '9' ? now_s[i] - '0' : 0);

    dom_request_facts_t facts = {
        .location_known = !(flags & 0x30), /* no geo, or a hidden client */
        .geo = geo,
        .pin_present = flags & 1,
        .pin_status = pin_statuses[(flags >> 1) & 7],
        .pin = pin,
        .method = method,
        .method_len = method_len,
        .path = path,
        .path_len = path_len,
        .consent = consent_len != 0 ? consent : NULL,
        .consent_len = consent_len,
        .now = now,
    };
    dom_decision_t d;
    memset(&d, 0x5a, sizeof(d));
    CHECK(dom_decide(&rules, &facts, &d) == 0);
    check(&rules, &d);
    if (facts.pin_present && facts.pin_status != DOM_OK)
        CHECK(d.action == DOM_ACTION_REJECT && (d.status == 400 || d.status == 401));
    if (!facts.pin_present && !facts.location_known)
        CHECK(d.jurisdiction == NULL || d.jurisdiction->is_default);

    memset(&d, 0x5a, sizeof(d));
    CHECK(dom_decide(NULL, &facts, &d) == 0);
    check(NULL, &d);
    CHECK(d.status == 503);

    /* the consent parser on its own, against a class name taken from the input */
    char name[64];
    copy(name, sizeof(name), jur, jur_len);
    int allowed = dom_consent_allows(consent, consent_len, name);
    CHECK(allowed == 0 || allowed == 1);
    return 0;
}

/*
 * Tests src/core/policy.c: every branch of dom_decide, the precedence of the levels,
 * staged effective dates, report mode and consent parsing. The rule set is built by hand
 * (the struct is public) so the decision is tested on its own; a second part loads the
 * same rules from YAML (tests/fixtures/policy/) and checks the compiled path agrees.
 */
#include <stdlib.h>
#include <string.h>
#include "domicile/policy.h"
#include "test.h"

#define T1 1768867200 /* 2026-01-20 00:00 UTC */
#define T2 1782864000 /* 2026-07-01 00:00 UTC */
#define NOW0 1700000000

enum { R_EU_CENTRAL, R_EU_WEST, R_US_EAST, R_US_WEST, N_REGIONS };
enum { C_ACCOUNT, C_CONTENT, C_TELEMETRY, C_MARKETING, C_DEVICE, N_CLASSES };
enum { J_CORP, J_DE, J_DEFAULT, J_EU0, J_EU1, J_EU2, J_FR, J_USCA, J_US, N_JURS };

static dom_region_t regions[N_REGIONS] = {
    {"eu-central", "DE", ""}, {"eu-west", "IE", ""}, {"us-east", "US", ""}, {"us-west", "US", ""}};
static dom_data_class_t classes[N_CLASSES] = {
    {"account", "", 1}, {"content", "", 1}, {"telemetry", "", 0}, {"marketing", "", 1}, {"device", "", 1}};
/* Longest prefix first, as the compiler sorts them. */
static dom_route_rule_t routes[] = {
    {"/v1/notifications", 17, DOM_METHOD_POST | DOM_METHOD_PUT, C_MARKETING},
    {"/v1/telemetry", 13, DOM_METHOD_ALL, C_TELEMETRY},
    {"/v1/account", 11, DOM_METHOD_ALL, C_ACCOUNT},
    {"/v1/device", 10, DOM_METHOD_ALL, C_DEVICE},
    {"/v1/sync", 8, DOM_METHOD_ALL, C_CONTENT},
};
static dom_class_rule_t class_rules[N_JURS][N_CLASSES];
static dom_jurisdiction_t jurisdictions[N_JURS];
static dom_rule_claim_t claims[32];
static dom_ruleset_t rules;

static void allow(dom_class_rule_t *r, const char *write, const char *read)
{
    /* Region lists as strings of region digits: "01" = eu-central, eu-west. */
    r->n_write = strlen(write);
    for (size_t i = 0; i < r->n_write; ++i)
        r->write_regions[i] = (uint16_t)(write[i] - '0');
    if (read == NULL)
        read = write;
    r->n_read = strlen(read);
    for (size_t i = 0; i < r->n_read; ++i)
        r->read_regions[i] = (uint16_t)(read[i] - '0');
}

static void jur(int idx, const char *name, const char *version, int64_t effective, dom_rule_mode_t mode)
{
    dom_jurisdiction_t *j = &jurisdictions[idx];
    j->name = name;
    j->version = version;
    j->effective = effective;
    j->mode = mode;
    j->policy_url = "https://example.com/privacy";
    j->law = "test law";
    j->on_unavailable = DOM_ON_UNAVAILABLE_REJECT;
    j->source_file = "hand-built";
    j->classes = class_rules[idx];
}

static void eu_like(int idx, const char *content)
{
    dom_class_rule_t *c = class_rules[idx];
    allow(&c[C_ACCOUNT], "01", NULL);
    allow(&c[C_CONTENT], content, NULL);
    allow(&c[C_TELEMETRY], "0123", NULL);
    c[C_TELEMETRY].anonymize = 1;
    allow(&c[C_MARKETING], "0", NULL);
    c[C_MARKETING].consent_required = 1;
    c[C_DEVICE].deny = 1; /* no reason given: the default reason code */
}

static int claim_cmp(const void *a, const void *b)
{
    const dom_rule_claim_t *x = a, *y = b;
    if (x->level != y->level)
        return (int)x->level - (int)y->level;
    int c = strcmp(x->key, y->key);
    if (c != 0)
        return c;
    int64_t ex = jurisdictions[x->jurisdiction].effective, ey = jurisdictions[y->jurisdiction].effective;
    return ex < ey ? -1 : ex > ey;
}

static void add_claim(dom_rules_level_t level, const char *key, size_t j)
{
    dom_rule_claim_t *c = &claims[rules.n_claims++];
    c->level = level;
    strcpy(c->key, key);
    c->jurisdiction = j;
}

static void build_rules(void)
{
    memset(class_rules, 0, sizeof(class_rules));
    memset(jurisdictions, 0, sizeof(jurisdictions));
    memset(&rules, 0, sizeof(rules));

    jur(J_CORP, "CORP-OFFICE", "1", 0, DOM_MODE_ENFORCE);
    for (int c = 0; c < N_CLASSES; ++c)
        allow(&class_rules[J_CORP][c], "3", NULL);

    jur(J_DE, "DE-BDSG", "1", 0, DOM_MODE_ENFORCE);
    eu_like(J_DE, "0");
    allow(&class_rules[J_DE][C_ACCOUNT], "0", NULL);

    jur(J_DEFAULT, "DEFAULT", "1", 0, DOM_MODE_ENFORCE);
    jurisdictions[J_DEFAULT].is_default = 1;
    for (int c = 0; c < N_CLASSES; ++c)
        allow(&class_rules[J_DEFAULT][c], "", "0"); /* fail closed for writes, reads from eu-central */
    allow(&class_rules[J_DEFAULT][C_TELEMETRY], "0123", NULL);
    class_rules[J_DEFAULT][C_TELEMETRY].anonymize = 1;

    jur(J_EU0, "EU-GDPR", "2025-01", 0, DOM_MODE_ENFORCE);
    eu_like(J_EU0, "01");
    jurisdictions[J_EU0].on_unavailable = DOM_ON_UNAVAILABLE_NEXT_REGION;
    jur(J_EU1, "EU-GDPR", "2026-01", T1, DOM_MODE_ENFORCE);
    eu_like(J_EU1, "10");
    jur(J_EU2, "EU-GDPR", "2026-07", T2, DOM_MODE_REPORT);
    eu_like(J_EU2, "1");

    jur(J_FR, "FR-REPORT", "1", 0, DOM_MODE_REPORT);
    eu_like(J_FR, "01");
    class_rules[J_FR][C_CONTENT].deny = 1;
    class_rules[J_FR][C_CONTENT].deny_reason = "fr_test";

    jur(J_USCA, "US-CCPA", "1", 0, DOM_MODE_ENFORCE);
    eu_like(J_USCA, "32");
    allow(&class_rules[J_USCA][C_ACCOUNT], "32", "3");
    class_rules[J_USCA][C_DEVICE].deny_reason = "ccpa_device";

    jur(J_US, "US-FED", "1", 0, DOM_MODE_ENFORCE);
    eu_like(J_US, "23");
    allow(&class_rules[J_US][C_ACCOUNT], "23", NULL);
    class_rules[J_US][C_DEVICE].deny_reason = "embargo";

    rules.regions = regions;
    rules.n_regions = N_REGIONS;
    rules.classes = classes;
    rules.n_classes = N_CLASSES;
    rules.routes = routes;
    rules.n_routes = sizeof(routes) / sizeof(routes[0]);
    rules.default_class = C_CONTENT;
    rules.jurisdictions = jurisdictions;
    rules.n_jurisdictions = N_JURS;
    rules.claims = claims;
    add_claim(DOM_LEVEL_SUBDIVISION, "US-CA", J_USCA);
    add_claim(DOM_LEVEL_COUNTRY, "DE", J_DE);
    add_claim(DOM_LEVEL_COUNTRY, "FR", J_FR);
    add_claim(DOM_LEVEL_COUNTRY, "US", J_US);
    static const char *eea[] = {"AT", "DE", "FR", "IE"};
    for (size_t i = 0; i < 4; ++i) {
        add_claim(DOM_LEVEL_GROUP, eea[i], J_EU0);
        add_claim(DOM_LEVEL_GROUP, eea[i], J_EU1);
        add_claim(DOM_LEVEL_GROUP, eea[i], J_EU2);
    }
    qsort(claims, rules.n_claims, sizeof(claims[0]), claim_cmp);
    rules.refcnt = 1;
}

/* ---- request helpers ---- */

typedef struct req {
    dom_geo_result_t geo;
    dom_pin_t pin;
    dom_request_facts_t facts;
} req_t;

static void req_init(req_t *r, const char *method, const char *path)
{
    memset(r, 0, sizeof(*r));
    r->facts.method = method;
    r->facts.method_len = method != NULL ? strlen(method) : 0;
    r->facts.path = path;
    r->facts.path_len = path != NULL ? strlen(path) : 0;
    r->facts.now = NOW0;
}

static void req_geo(req_t *r, dom_geo_source_t source, const char *country, const char *subdivision)
{
    r->geo.source = source;
    snprintf(r->geo.country, sizeof(r->geo.country), "%s", country);
    snprintf(r->geo.subdivision, sizeof(r->geo.subdivision), "%s", subdivision);
    r->facts.location_known = 1;
}

static void req_pin(req_t *r, int status, const char *jurisdiction)
{
    r->facts.pin_present = 1;
    r->facts.pin_status = status;
    snprintf(r->pin.kid, sizeof(r->pin.kid), "k1");
    snprintf(r->pin.jurisdiction, sizeof(r->pin.jurisdiction), "%s", jurisdiction);
    r->pin.expiry = NOW0 + 3600;
}

static void req_consent(req_t *r, const char *consent)
{
    r->facts.consent = consent;
    r->facts.consent_len = consent != NULL ? strlen(consent) : 0;
}

static dom_decision_t decide(const dom_ruleset_t *rs, req_t *r)
{
    dom_decision_t d;
    memset(&d, 0xa5, sizeof(d)); /* garbage in: dom_decide must set everything it reports */
    r->facts.geo = r->geo;       /* the location and pin as the test last set them */
    r->facts.pin = r->pin;
    is_int(dom_decide(rs, &r->facts, &d), 0);
    return d;
}

static const char *jname(const dom_decision_t *d)
{
    return d->jurisdiction != NULL ? d->jurisdiction->name : NULL;
}

/* Regions of a decision as a digit string, like the builder's. */
static const char *region_str(const uint16_t *regions, size_t n)
{
    static char buf[DOM_MAX_REGIONS + 1];
    for (size_t i = 0; i < n && i < DOM_MAX_REGIONS; ++i)
        buf[i] = (char)('0' + regions[i]);
    buf[n < DOM_MAX_REGIONS ? n : DOM_MAX_REGIONS] = '\0';
    return buf;
}

/* ---- the tests ---- */

static int claim_key_cmp(const void *a, const void *b)
{
    const dom_rule_claim_t *x = a, *y = b;
    if (x->level != y->level)
        return (int)x->level - (int)y->level;
    return strncmp(x->key, y->key, sizeof(x->key));
}

/* dom_ruleset_resolve compares claim keys as packed integers: exact matches only, whatever the length,
 * bytes after a key's NUL ignored, a corrupt 8-byte key without NUL matched by nothing. */
static void test_claim_keys(void)
{
    static const char *const keys[] = {"D",    "DE",    "DEU",    "DF",      "U",       "US",
                                       "US-C", "US-CA", "US-CAX", "ABCDEFG", "\xc3\xa9"};
    enum { N = sizeof(keys) / sizeof(keys[0]) };
    dom_jurisdiction_t jurs[N + 3];
    dom_rule_claim_t cl[N + 3];
    memset(jurs, 0, sizeof(jurs));
    memset(cl, 0, sizeof(cl));
    size_t n = 0;
    for (size_t i = 0; i < N; ++i, ++n) {
        jurs[n].name = keys[i];
        cl[n].level = DOM_LEVEL_COUNTRY;
        strcpy(cl[n].key, keys[i]);
        cl[n].jurisdiction = n;
    }
    jurs[n].name = "group-de";
    cl[n].level = DOM_LEVEL_GROUP;
    strcpy(cl[n].key, "DE");
    cl[n].jurisdiction = n;
    ++n;
    jurs[n].name = "fr-garbage";
    cl[n].level = DOM_LEVEL_COUNTRY;
    memcpy(cl[n].key, "FR\0zzzzz", 8);
    cl[n].jurisdiction = n;
    ++n;
    jurs[n].name = "eight";
    cl[n].level = DOM_LEVEL_COUNTRY;
    memcpy(cl[n].key, "ABCDEFGH", 8); /* no NUL: a corrupt snapshot */
    cl[n].jurisdiction = n;
    ++n;
    qsort(cl, n, sizeof(cl[0]), claim_key_cmp);
    dom_ruleset_t rs;
    memset(&rs, 0, sizeof(rs));
    rs.jurisdictions = jurs;
    rs.n_jurisdictions = n;
    rs.claims = cl;
    rs.n_claims = n;

    const dom_jurisdiction_t *e, *r;
    for (size_t i = 0; i < N; ++i) {
        dom_ruleset_resolve(&rs, DOM_LEVEL_COUNTRY, keys[i], NOW0, &e, &r);
        if (!ok(e != NULL && strcmp(e->name, keys[i]) == 0))
            printf("#   key %s\n", keys[i]);
        ok(r == NULL);
    }
    static const char *const absent[] = {"DEUX", "A", "UX", "US-", "US-CAXY", "ABCDEF", "ABCDEFGH", "", "E", "\xc3"};
    for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); ++i) {
        dom_ruleset_resolve(&rs, DOM_LEVEL_COUNTRY, absent[i], NOW0, &e, &r);
        if (!ok(e == NULL && r == NULL))
            printf("#   key %s matched %s\n", absent[i], e->name);
    }
    dom_ruleset_resolve(&rs, DOM_LEVEL_COUNTRY, "FR", NOW0, &e, &r);
    ok(e != NULL && strcmp(e->name, "fr-garbage") == 0);
    dom_ruleset_resolve(&rs, DOM_LEVEL_GROUP, "DE", NOW0, &e, &r);
    ok(e != NULL && strcmp(e->name, "group-de") == 0);
    dom_ruleset_resolve(&rs, DOM_LEVEL_GROUP, "US", NOW0, &e, &r);
    ok(e == NULL);
    dom_ruleset_resolve(&rs, DOM_LEVEL_SUBDIVISION, "US-CA", NOW0, &e, &r);
    ok(e == NULL);
    dom_ruleset_resolve(&rs, DOM_LEVEL_COUNTRY, NULL, NOW0, &e, &r);
    ok(e == NULL);
}

static void test_names(void)
{
    is_str(dom_jurisdiction_source_name(DOM_JSRC_PIN), "pin");
    is_str(dom_jurisdiction_source_name(DOM_JSRC_OVERRIDE), "override");
    is_str(dom_jurisdiction_source_name(DOM_JSRC_SUBDIVISION), "subdivision");
    is_str(dom_jurisdiction_source_name(DOM_JSRC_COUNTRY), "country");
    is_str(dom_jurisdiction_source_name(DOM_JSRC_GROUP), "group");
    is_str(dom_jurisdiction_source_name(DOM_JSRC_DEFAULT), "default");
    is_str(dom_jurisdiction_source_name(DOM_JSRC_NONE), "none");
    is_str(dom_jurisdiction_source_name((dom_jurisdiction_source_t)99), "none");
    is_str(dom_action_name(DOM_ACTION_ROUTE), "route");
    is_str(dom_action_name(DOM_ACTION_REJECT), "reject");
}

static void test_method_is_read(void)
{
    ok(dom_ruleset_method_is_read(NULL, "GET", 3));
    ok(dom_ruleset_method_is_read(NULL, "HEAD", 4));
    ok(dom_ruleset_method_is_read(NULL, "OPTIONS", 7));
    ok(!dom_ruleset_method_is_read(NULL, "get", 3)); /* methods are case-sensitive: an unknown method is a write */
    ok(!dom_ruleset_method_is_read(NULL, "POST", 4));
    ok(!dom_ruleset_method_is_read(NULL, "PUT", 3));
    ok(!dom_ruleset_method_is_read(NULL, "PATCH", 5));
    ok(!dom_ruleset_method_is_read(NULL, "DELETE", 6));
    ok(!dom_ruleset_method_is_read(NULL, "GETX", 4));
    ok(!dom_ruleset_method_is_read(NULL, "GET", 2));
    ok(!dom_ruleset_method_is_read(NULL, "", 0));
    ok(!dom_ruleset_method_is_read(NULL, NULL, 0));
    ok(dom_ruleset_method_is_read(NULL, "GET /x", 3)); /* length counts, not the NUL */
    /* WebDAV reads only where the rule set declares them; undeclared methods write */
    ok(!dom_ruleset_method_is_read(NULL, "PROPFIND", 8));
    dom_ruleset_t dav = {.read_methods = "PROPFIND,REPORT,SEARCH"};
    ok(dom_ruleset_method_is_read(&dav, "PROPFIND", 8));
    ok(dom_ruleset_method_is_read(&dav, "SEARCH", 6));
    ok(dom_ruleset_method_is_read(&dav, "GET", 3));
    ok(!dom_ruleset_method_is_read(&dav, "PROP", 4));
    ok(!dom_ruleset_method_is_read(&dav, "propfind", 8));
    ok(!dom_ruleset_method_is_read(&dav, "MKCOL", 5));
    ok(!dom_ruleset_method_is_read(&dav, "", 0));
}

static void test_no_rules(void)
{
    req_t r;
    req_init(&r, "GET", "/v1/sync/a");
    req_geo(&r, DOM_GEO_DATABASE, "DE", "");
    dom_decision_t d = decide(NULL, &r);
    is_int(d.action, DOM_ACTION_REJECT);
    is_int(d.status, 503);
    is_str(d.reason, "no_rules");
    is_int(d.source, DOM_JSRC_NONE);
    ok(d.jurisdiction == NULL);
    ok(d.class_name == NULL);
    is_int(d.access, DOM_ACCESS_READ);
    is_int(d.n_regions, 0);
    is_int(d.report.present, 0);

    /* even a valid pin cannot route without rules */
    req_pin(&r, DOM_OK, "EU-GDPR");
    d = decide(NULL, &r);
    is_int(d.status, 503);
    is_str(d.reason, "no_rules");
}

static void test_classify_and_access(void)
{
    static const struct {
        const char *method, *path, *class_name;
        dom_access_t access;
    } cases[] = {
        {"PUT", "/v1/account/me", "account", DOM_ACCESS_WRITE},
        {"GET", "/v1/account", "account", DOM_ACCESS_READ},
        {"POST", "/v1/sync/file", "content", DOM_ACCESS_WRITE},
        {"POST", "/v1/notifications/x", "marketing", DOM_ACCESS_WRITE},
        {"GET", "/v1/notifications/x", "content", DOM_ACCESS_READ}, /* method not in the route: default class */
        {"HEAD", "/v1/telemetry", "telemetry", DOM_ACCESS_READ},
        {"OPTIONS", "/", "content", DOM_ACCESS_READ},
        {"DELETE", "/elsewhere", "content", DOM_ACCESS_WRITE},
        {"BREW", "/v1/device/1", "device", DOM_ACCESS_WRITE},
        {NULL, NULL, "content", DOM_ACCESS_WRITE}, /* nothing known: default class, and a write (fail closed) */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        req_t r;
        req_init(&r, cases[i].method, cases[i].path);
        req_geo(&r, DOM_GEO_DATABASE, "IE", "");
        dom_decision_t d = decide(&rules, &r);
        is_str(d.class_name, cases[i].class_name);
        is_int(d.access, cases[i].access);
        is_str(rules.classes[d.class_index].name, cases[i].class_name);
    }
}

static void test_levels(void)
{
    static const struct {
        dom_geo_source_t source;
        const char *country, *subdivision;
        const char *jurisdiction;
        dom_jurisdiction_source_t jsrc;
        const char *regions; /* PUT /v1/account */
    } cases[] = {
        {DOM_GEO_DATABASE, "US", "US-CA", "US-CCPA", DOM_JSRC_SUBDIVISION, "32"},
        {DOM_GEO_DATABASE, "US", "US-NY", "US-FED", DOM_JSRC_COUNTRY, "23"}, /* unclaimed subdivision: the country */
        {DOM_GEO_DATABASE, "US", "", "US-FED", DOM_JSRC_COUNTRY, "23"},
        {DOM_GEO_DATABASE, "DE", "DE-BE", "DE-BDSG", DOM_JSRC_COUNTRY, "0"}, /* country beats group */
        {DOM_GEO_DATABASE, "AT", "", "EU-GDPR", DOM_JSRC_GROUP, "01"},
        {DOM_GEO_DATABASE, "IE", "", "EU-GDPR", DOM_JSRC_GROUP, "01"},
        {DOM_GEO_DATABASE, "FR", "", "EU-GDPR", DOM_JSRC_GROUP, "01"}, /* FR's own rule is report-only */
        {DOM_GEO_DATABASE, "NO", "", "DEFAULT", DOM_JSRC_DEFAULT, NULL},
        {DOM_GEO_DATABASE, "", "", "DEFAULT", DOM_JSRC_DEFAULT, NULL}, /* found, but without a country */
        {DOM_GEO_OVERRIDE, "AT", "", "EU-GDPR", DOM_JSRC_OVERRIDE, "01"},
        {DOM_GEO_OVERRIDE, "US", "US-CA", "US-CCPA", DOM_JSRC_OVERRIDE, "32"},
        {DOM_GEO_OVERRIDE, "NO", "", "DEFAULT", DOM_JSRC_DEFAULT, NULL}, /* overridden to an unclaimed country */
        /* unknown locations use the default, whatever country a source might carry */
        {DOM_GEO_SPECIAL, "DE", "", "DEFAULT", DOM_JSRC_DEFAULT, NULL},
        {DOM_GEO_NONE, "DE", "", "DEFAULT", DOM_JSRC_DEFAULT, NULL},
        {DOM_GEO_ERROR, "DE", "", "DEFAULT", DOM_JSRC_DEFAULT, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        printf("# level case %zu: %s %s\n", i, cases[i].country, cases[i].subdivision);
        req_t r;
        req_init(&r, "PUT", "/v1/account/me");
        req_geo(&r, cases[i].source, cases[i].country, cases[i].subdivision);
        dom_decision_t d = decide(&rules, &r);
        is_str(jname(&d), cases[i].jurisdiction);
        is_int(d.source, cases[i].jsrc);
        if (cases[i].regions != NULL) {
            is_int(d.action, DOM_ACTION_ROUTE);
            is_int(d.status, 0);
            is_str(d.reason, "routed");
            is_str(region_str(d.regions, d.n_regions), cases[i].regions);
        } else {
            /* the default fails closed for writes */
            is_int(d.action, DOM_ACTION_REJECT);
            is_int(d.status, 451);
            is_str(d.reason, "no_allowed_region");
            is_int(d.n_regions, 0);
        }
    }

    /* no geo at all, and a hidden client (even one whose proxy has an override) */
    req_t r;
    req_init(&r, "GET", "/v1/sync/x");
    dom_decision_t d = decide(&rules, &r);
    is_str(jname(&d), "DEFAULT");
    is_int(d.source, DOM_JSRC_DEFAULT);
    is_int(d.action, DOM_ACTION_ROUTE);
    is_str(region_str(d.regions, d.n_regions), "0");

    req_geo(&r, DOM_GEO_DATABASE, "US", "US-CA");
    r.facts.location_known = 0; /* a hidden client */
    d = decide(&rules, &r);
    is_str(jname(&d), "DEFAULT");
    is_int(d.source, DOM_JSRC_DEFAULT);

    req_geo(&r, DOM_GEO_OVERRIDE, "", "");
    strcpy(r.geo.jurisdiction, "CORP-OFFICE");
    r.facts.location_known = 0; /* still hidden: an override on the proxy's network says nothing of the client */
    d = decide(&rules, &r);
    is_str(jname(&d), "DEFAULT");
}

static void test_precedence(void)
{
    req_t r;
    dom_decision_t d;

    /* pin beats an override naming a jurisdiction */
    req_init(&r, "PUT", "/v1/account/me");
    req_geo(&r, DOM_GEO_OVERRIDE, "", "");
    strcpy(r.geo.jurisdiction, "CORP-OFFICE");
    d = decide(&rules, &r);
    is_str(jname(&d), "CORP-OFFICE");
    is_int(d.source, DOM_JSRC_OVERRIDE);
    is_str(region_str(d.regions, d.n_regions), "3");
    req_pin(&r, DOM_OK, "US-FED");
    d = decide(&rules, &r);
    is_str(jname(&d), "US-FED");
    is_int(d.source, DOM_JSRC_PIN);
    is_str(region_str(d.regions, d.n_regions), "23");

    /* an override naming a jurisdiction beats the database's subdivision */
    req_init(&r, "PUT", "/v1/account/me");
    req_geo(&r, DOM_GEO_OVERRIDE, "US", "US-CA");
    strcpy(r.geo.jurisdiction, "CORP-OFFICE");
    d = decide(&rules, &r);
    is_str(jname(&d), "CORP-OFFICE");
    is_int(d.source, DOM_JSRC_OVERRIDE);

    /* pin beats subdivision, country, group and default */
    static const char *where[][2] = {{"US", "US-CA"}, {"DE", ""}, {"AT", ""}, {"NO", ""}};
    for (size_t i = 0; i < 4; ++i) {
        req_init(&r, "PUT", "/v1/account/me");
        req_geo(&r, DOM_GEO_DATABASE, where[i][0], where[i][1]);
        req_pin(&r, DOM_OK, "CORP-OFFICE");
        d = decide(&rules, &r);
        is_str(jname(&d), "CORP-OFFICE");
        is_int(d.source, DOM_JSRC_PIN);
        is_int(d.action, DOM_ACTION_ROUTE);
    }
    /* a pin works for an unknown location and a hidden client too: it is not about location */
    req_init(&r, "PUT", "/v1/account/me");
    r.facts.location_known = 0; /* a hidden client */
    req_pin(&r, DOM_OK, "EU-GDPR");
    d = decide(&rules, &r);
    is_str(jname(&d), "EU-GDPR");
    is_int(d.source, DOM_JSRC_PIN);
    is_str(region_str(d.regions, d.n_regions), "01");
}

static void test_pins(void)
{
    static const struct {
        int status;
        int http;
        const char *reason;
    } bad[] = {
        {DOM_EPIN_MALFORMED, 400, "pin_malformed"},
        {DOM_EPIN_UNKNOWN_KEY, 401, "pin_unknown_key"},
        {DOM_EPIN_BAD_SIGNATURE, 401, "pin_bad_signature"},
        {DOM_EPIN_EXPIRED, 401, "pin_expired"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        req_t r;
        req_init(&r, "GET", "/v1/sync/x"); /* even a read: an invalid pin is never replaced by geolocation */
        req_geo(&r, DOM_GEO_DATABASE, "DE", "");
        req_pin(&r, bad[i].status, "EU-GDPR");
        dom_decision_t d = decide(&rules, &r);
        is_int(d.action, DOM_ACTION_REJECT);
        is_int(d.status, bad[i].http);
        is_str(d.reason, bad[i].reason);
        ok(d.jurisdiction == NULL);
        is_int(d.source, DOM_JSRC_NONE);
        is_int(d.n_regions, 0);
        is_str(d.class_name, "content");
        is_int(d.report.present, 0);
    }

    /* status OK without a parsed pin is a caller bug: refused as malformed, not trusted */
    req_t r;
    req_init(&r, "GET", "/v1/sync/x");
    r.facts.pin_present = 1;
    r.facts.pin_status = DOM_OK;
    dom_decision_t d = decide(&rules, &r);
    is_int(d.status, 400);
    is_str(d.reason, "pin_malformed");

    /* a genuine pin naming a jurisdiction the rules do not have */
    req_init(&r, "GET", "/v1/sync/x");
    req_geo(&r, DOM_GEO_DATABASE, "DE", "");
    req_pin(&r, DOM_OK, "ATLANTIS");
    d = decide(&rules, &r);
    is_int(d.action, DOM_ACTION_REJECT);
    is_int(d.status, 451);
    is_str(d.reason, "pin_unknown_jurisdiction");
    is_int(d.source, DOM_JSRC_PIN);
    ok(d.jurisdiction == NULL);

    /* a pin naming a jurisdiction that has only report-mode versions: nothing is enforced */
    req_pin(&r, DOM_OK, "FR-REPORT");
    d = decide(&rules, &r);
    is_int(d.status, 451);
    is_str(d.reason, "pin_unknown_jurisdiction");
    is_int(d.report.present, 1);
    ok(d.report.jurisdiction == &jurisdictions[J_FR]);

    /* a pin to a version not yet in effect */
    req_pin(&r, DOM_OK, "EU-GDPR");
    r.facts.now = 0 - 1;
    d = decide(&rules, &r);
    is_str(d.reason, "pin_unknown_jurisdiction");

    /* override naming an unknown jurisdiction */
    req_init(&r, "GET", "/v1/sync/x");
    req_geo(&r, DOM_GEO_OVERRIDE, "", "");
    strcpy(r.geo.jurisdiction, "NOWHERE");
    d = decide(&rules, &r);
    is_int(d.action, DOM_ACTION_REJECT);
    is_int(d.status, 451);
    is_str(d.reason, "override_unknown_jurisdiction");
    is_int(d.source, DOM_JSRC_OVERRIDE);
    ok(d.jurisdiction == NULL);
}

static void test_class_rules(void)
{
    req_t r;
    dom_decision_t d;

    /* deny with the default reason, and with a jurisdiction's own reason */
    req_init(&r, "GET", "/v1/device/1");
    req_geo(&r, DOM_GEO_DATABASE, "AT", "");
    d = decide(&rules, &r);
    is_int(d.action, DOM_ACTION_REJECT);
    is_int(d.status, 451);
    is_str(d.reason, "class_denied");
    is_str(jname(&d), "EU-GDPR");
    is_str(d.class_name, "device");
    req_geo(&r, DOM_GEO_DATABASE, "US", "");
    d = decide(&rules, &r);
    is_str(d.reason, "embargo");
    is_int(d.status, 451);
    req_geo(&r, DOM_GEO_DATABASE, "US", "US-CA");
    d = decide(&rules, &r);
    is_str(d.reason, "ccpa_device");

    /* deny comes before consent: a denied class cannot be consented to */
    class_rules[J_EU0][C_MARKETING].deny = 1;
    req_init(&r, "POST", "/v1/notifications");
    req_geo(&r, DOM_GEO_DATABASE, "IE", "");
    req_consent(&r, "*");
    d = decide(&rules, &r);
    is_int(d.status, 451);
    is_str(d.reason, "class_denied");
    class_rules[J_EU0][C_MARKETING].deny = 0;

    /* consent required */
    req_consent(&r, NULL);
    d = decide(&rules, &r);
    is_int(d.action, DOM_ACTION_REJECT);
    is_int(d.status, 403);
    is_str(d.reason, "consent_required");
    is_str(d.class_name, "marketing");
    req_consent(&r, "marketing");
    d = decide(&rules, &r);
    is_int(d.action, DOM_ACTION_ROUTE);
    is_str(region_str(d.regions, d.n_regions), "0");
    req_consent(&r, "account, content");
    d = decide(&rules, &r);
    is_int(d.status, 403);

    /* consent is checked before the region list: with an empty list, consent decides which refusal */
    allow(&class_rules[J_EU0][C_MARKETING], "", NULL);
    req_consent(&r, NULL);
    d = decide(&rules, &r);
    is_int(d.status, 403);
    req_consent(&r, "marketing");
    d = decide(&rules, &r);
    is_int(d.status, 451);
    is_str(d.reason, "no_allowed_region");
    allow(&class_rules[J_EU0][C_MARKETING], "0", NULL);

    /* the read list for reads, the write list for writes */
    req_init(&r, "GET", "/v1/account/me");
    req_geo(&r, DOM_GEO_DATABASE, "US", "US-CA");
    d = decide(&rules, &r);
    is_str(region_str(d.regions, d.n_regions), "3");
    is_int(d.access, DOM_ACCESS_READ);
    req_init(&r, "PATCH", "/v1/account/me");
    req_geo(&r, DOM_GEO_DATABASE, "US", "US-CA");
    d = decide(&rules, &r);
    is_str(region_str(d.regions, d.n_regions), "32");
    is_int(d.access, DOM_ACCESS_WRITE);

    /* empty allowed list for the access */
    req_init(&r, "PUT", "/v1/sync/x");
    d = decide(&rules, &r);
    is_int(d.status, 451);
    is_str(d.reason, "no_allowed_region");
    is_str(jname(&d), "DEFAULT");

    /* anonymize and on_unavailable are copied */
    req_init(&r, "POST", "/v1/telemetry/crash");
    req_geo(&r, DOM_GEO_DATABASE, "AT", "");
    d = decide(&rules, &r);
    is_int(d.action, DOM_ACTION_ROUTE);
    is_int(d.anonymize, 1);
    is_int(d.on_unavailable, DOM_ON_UNAVAILABLE_NEXT_REGION);
    is_str(region_str(d.regions, d.n_regions), "0123");
    is_str(d.jurisdiction->policy_url, "https://example.com/privacy");
    req_init(&r, "POST", "/v1/account");
    req_geo(&r, DOM_GEO_DATABASE, "DE", "");
    d = decide(&rules, &r);
    is_int(d.anonymize, 0);
    is_int(d.on_unavailable, DOM_ON_UNAVAILABLE_REJECT);

    /* the full region list (DOM_MAX_REGIONS) survives in order */
    dom_class_rule_t saved = class_rules[J_CORP][C_CONTENT];
    class_rules[J_CORP][C_CONTENT].n_write = DOM_MAX_REGIONS;
    for (int i = 0; i < DOM_MAX_REGIONS; ++i)
        class_rules[J_CORP][C_CONTENT].write_regions[i] = (uint16_t)(DOM_MAX_REGIONS - 1 - i);
    req_init(&r, "PUT", "/v1/sync/x");
    req_pin(&r, DOM_OK, "CORP-OFFICE");
    d = decide(&rules, &r);
    is_int(d.n_regions, DOM_MAX_REGIONS);
    is_int(d.regions[0], DOM_MAX_REGIONS - 1);
    is_int(d.regions[DOM_MAX_REGIONS - 1], 0);
    class_rules[J_CORP][C_CONTENT] = saved;
}

static void test_consent_parsing(void)
{
    static const struct {
        const char *value;
        int allows;
    } cases[] = {
        {"marketing", 1},
        {"MARKETING", 1},
        {"Marketing", 1},
        {"content,marketing", 1},
        {"content, marketing", 1},
        {"content ,\tmarketing\t", 1},
        {" marketing ", 1},
        {",,marketing,", 1},
        {"*", 1},
        {" * ", 1},
        {"account, *", 1},
        {"", 0},
        {" ", 0},
        {",", 0},
        {"market", 0},
        {"marketingx", 0},
        {"xmarketing", 0},
        {"marketing;q=1", 0},
        {"\"marketing\"", 0},
        {"mark eting", 0},
        {"**", 0},
        {"*x", 0},
        {"account content", 0},
        {"account,content", 0},
        {"marketing\n", 0}, /* only SP and HTAB are whitespace in a header */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        printf("# consent case %zu\n", i);
        is_int(dom_consent_allows(cases[i].value, strlen(cases[i].value), "marketing"), cases[i].allows);
    }
    ok(!dom_consent_allows(NULL, 0, "marketing"));
    ok(!dom_consent_allows("marketing", 9, NULL));
    ok(!dom_consent_allows("marketing", 5, "marketing")); /* the length bounds the value, not a NUL */
    ok(dom_consent_allows("marketingXYZ", 9, "marketing"));
    ok(!dom_consent_allows("", 0, ""));                 /* an empty element never names a class */
    ok(dom_consent_allows("a\xff,b", 4, "b"));          /* bytes above 0x7f are compared, not trusted */
    ok(!dom_consent_allows("\xc3\xa9", 2, "\xc3\x89")); /* only ASCII letters fold */

    /* through dom_decide, with a value that is not NUL-terminated */
    char buf[] = {'m', 'a', 'r', 'k', 'e', 't', 'i', 'n', 'g', 'X'};
    req_t r;
    req_init(&r, "POST", "/v1/notifications");
    req_geo(&r, DOM_GEO_DATABASE, "AT", "");
    r.facts.consent = buf;
    r.facts.consent_len = 9;
    dom_decision_t d = decide(&rules, &r);
    is_int(d.action, DOM_ACTION_ROUTE);
    r.facts.consent_len = 10;
    d = decide(&rules, &r);
    is_int(d.status, 403);
}

static void test_staged(void)
{
    req_t r;
    dom_decision_t d;
    req_init(&r, "PUT", "/v1/sync/x");
    req_geo(&r, DOM_GEO_DATABASE, "IE", "");

    r.facts.now = T1 - 1;
    d = decide(&rules, &r);
    is_str(d.jurisdiction->version, "2025-01");
    is_str(region_str(d.regions, d.n_regions), "01");
    is_int(d.report.present, 0);

    r.facts.now = T1; /* switches at exactly 00:00 UTC of the effective date */
    d = decide(&rules, &r);
    is_str(d.jurisdiction->version, "2026-01");
    is_str(region_str(d.regions, d.n_regions), "10");
    is_int(d.on_unavailable, DOM_ON_UNAVAILABLE_REJECT);
    is_int(d.report.present, 0);

    /* report version: not in effect one second before, evaluated from its date on, never applied */
    r.facts.now = T2 - 1;
    d = decide(&rules, &r);
    is_int(d.report.present, 0);
    r.facts.now = T2;
    d = decide(&rules, &r);
    is_str(d.jurisdiction->version, "2026-01");
    is_str(region_str(d.regions, d.n_regions), "10");
    is_int(d.report.present, 1);
    is_str(d.report.jurisdiction->version, "2026-07");
    is_int(d.report.source, DOM_JSRC_GROUP);
    is_int(d.report.action, DOM_ACTION_ROUTE);
    is_str(d.report.reason, "routed");
    is_str(region_str(d.report.regions, d.report.n_regions), "1");
    is_int(d.report.differs, 1);

    /* same outcome under the report version: recorded, differs 0 */
    req_init(&r, "PUT", "/v1/account/x");
    req_geo(&r, DOM_GEO_DATABASE, "IE", "");
    r.facts.now = T2;
    d = decide(&rules, &r);
    is_int(d.report.present, 1);
    is_int(d.report.differs, 0);
    is_str(region_str(d.report.regions, d.report.n_regions), "01");

    /* rejects are compared too: device is denied by both */
    req_init(&r, "PUT", "/v1/device/x");
    req_geo(&r, DOM_GEO_DATABASE, "IE", "");
    r.facts.now = T2;
    d = decide(&rules, &r);
    is_int(d.report.present, 1);
    is_int(d.report.action, DOM_ACTION_REJECT);
    is_int(d.report.status, 451);
    is_int(d.report.differs, 0);

    /* a pin to the jurisdiction sees the same staging */
    req_init(&r, "PUT", "/v1/sync/x");
    req_pin(&r, DOM_OK, "EU-GDPR");
    r.facts.now = T2;
    d = decide(&rules, &r);
    is_str(d.jurisdiction->version, "2026-01");
    is_int(d.source, DOM_JSRC_PIN);
    is_int(d.report.present, 1);
    is_int(d.report.source, DOM_JSRC_PIN);
}

static void test_report_only_level(void)
{
    /* FR has only a report-mode rule at country level: the enforced decision comes from the group,
     * the report from the country rule (the first level that had one), even though the group level
     * has a newer report version of its own. */
    req_t r;
    req_init(&r, "PUT", "/v1/sync/x");
    req_geo(&r, DOM_GEO_DATABASE, "FR", "");
    r.facts.now = T2;
    dom_decision_t d = decide(&rules, &r);
    is_str(jname(&d), "EU-GDPR");
    is_int(d.source, DOM_JSRC_GROUP);
    is_int(d.action, DOM_ACTION_ROUTE);
    is_int(d.report.present, 1);
    ok(d.report.jurisdiction == &jurisdictions[J_FR]);
    is_int(d.report.source, DOM_JSRC_COUNTRY);
    is_int(d.report.action, DOM_ACTION_REJECT);
    is_int(d.report.status, 451);
    is_str(d.report.reason, "fr_test");
    is_int(d.report.n_regions, 0);
    is_int(d.report.differs, 1);

    /* a report version at a level with no enforced version anywhere: the reject still carries the report */
    jurisdictions[J_DEFAULT].is_default = 0;
    req_init(&r, "PUT", "/v1/account/x");
    req_geo(&r, DOM_GEO_DATABASE, "FR", "");
    jurisdictions[J_EU0].mode = jurisdictions[J_EU1].mode = DOM_MODE_REPORT;
    d = decide(&rules, &r);
    is_int(d.status, 451);
    is_str(d.reason, "no_rule_for_location");
    is_int(d.source, DOM_JSRC_NONE);
    is_int(d.report.present, 1);
    is_int(d.report.action, DOM_ACTION_ROUTE);
    is_int(d.report.differs, 1);
    jurisdictions[J_EU0].mode = jurisdictions[J_EU1].mode = DOM_MODE_ENFORCE;
    jurisdictions[J_DEFAULT].is_default = 1;
}

static void test_no_default(void)
{
    jurisdictions[J_DEFAULT].is_default = 0;
    req_t r;
    req_init(&r, "GET", "/v1/sync/x");
    req_geo(&r, DOM_GEO_DATABASE, "NO", "");
    dom_decision_t d = decide(&rules, &r);
    is_int(d.action, DOM_ACTION_REJECT);
    is_int(d.status, 451);
    is_str(d.reason, "no_rule_for_location");
    ok(d.jurisdiction == NULL);
    is_int(d.source, DOM_JSRC_NONE);
    is_int(d.report.present, 0);
    r.facts.location_known = 0;
    d = decide(&rules, &r);
    is_str(d.reason, "no_rule_for_location");
    /* claimed locations still work without a default */
    req_geo(&r, DOM_GEO_DATABASE, "AT", "");
    d = decide(&rules, &r);
    is_int(d.action, DOM_ACTION_ROUTE);
    jurisdictions[J_DEFAULT].is_default = 1;
}

static void test_hostile(void)
{
    /* a snapshot with no classes is refused, not indexed */
    dom_ruleset_t empty = rules;
    empty.n_classes = 0;
    req_t r;
    req_init(&r, "PUT", "/v1/sync");
    dom_decision_t d = decide(&empty, &r);
    is_int(d.status, 503);
    is_str(d.reason, "no_rules");

    /* a jurisdiction without class rules refuses */
    jurisdictions[J_CORP].classes = NULL;
    req_pin(&r, DOM_OK, "CORP-OFFICE");
    d = decide(&rules, &r);
    is_int(d.action, DOM_ACTION_REJECT);
    is_int(d.status, 451);
    jurisdictions[J_CORP].classes = class_rules[J_CORP];

    /* odd paths and methods */
    static const char nul_path[] = "/v1/account/\0/x";
    req_init(&r, "PUT", NULL);
    r.facts.path = nul_path;
    r.facts.path_len = sizeof(nul_path) - 1;
    req_geo(&r, DOM_GEO_DATABASE, "DE", "");
    d = decide(&rules, &r);
    is_str(d.class_name, "account");
    r.facts.path_len = 0;
    d = decide(&rules, &r);
    is_str(d.class_name, "content");
}

#ifdef DOM_SOURCE_DIR
/* The same rules written as YAML: the compiled path must decide the same. */
static void test_from_yaml(void)
{
    dom_ruleset_t *rs = NULL;
    dom_diag_t diag = {0};
    int ret = dom_rules_parse_dir(DOM_SOURCE_DIR "/tests/fixtures/policy", &diag, &rs);
    is_int(ret, 0);
    if (ret != 0 || rs == NULL)
        return;
    static const struct {
        const char *method, *path, *country, *subdivision, *pin, *consent;
        int64_t now;
        const char *jurisdiction, *version;
        dom_jurisdiction_source_t source;
        dom_action_t action;
        int status;
        const char *reason, *regions, *report_version;
    } cases[] = {
        {"PUT", "/v1/account/me", "US", "US-CA", NULL, NULL, NOW0, "US-CCPA", "1", DOM_JSRC_SUBDIVISION,
         DOM_ACTION_ROUTE, 0, "routed", "us-west,us-east", NULL},
        {"GET", "/v1/account/me", "US", "US-CA", NULL, NULL, NOW0, "US-CCPA", "1", DOM_JSRC_SUBDIVISION,
         DOM_ACTION_ROUTE, 0, "routed", "us-west", NULL},
        {"PUT", "/v1/account/me", "US", "US-NY", NULL, NULL, NOW0, "US-FED", "1", DOM_JSRC_COUNTRY, DOM_ACTION_ROUTE, 0,
         "routed", "us-east,us-west", NULL},
        {"PUT", "/v1/account/me", "DE", "", NULL, NULL, NOW0, "DE-BDSG", "1", DOM_JSRC_COUNTRY, DOM_ACTION_ROUTE, 0,
         "routed", "eu-central", NULL},
        {"PUT", "/v1/sync/x", "AT", "", NULL, NULL, T1 - 1, "EU-GDPR", "2025-01", DOM_JSRC_GROUP, DOM_ACTION_ROUTE, 0,
         "routed", "eu-central,eu-west", NULL},
        {"PUT", "/v1/sync/x", "AT", "", NULL, NULL, T1, "EU-GDPR", "2026-01", DOM_JSRC_GROUP, DOM_ACTION_ROUTE, 0,
         "routed", "eu-west,eu-central", NULL},
        {"PUT", "/v1/sync/x", "AT", "", NULL, NULL, T2, "EU-GDPR", "2026-01", DOM_JSRC_GROUP, DOM_ACTION_ROUTE, 0,
         "routed", "eu-west,eu-central", "2026-07"},
        {"PUT", "/v1/sync/x", "FR", "", NULL, NULL, NOW0, "EU-GDPR", "2025-01", DOM_JSRC_GROUP, DOM_ACTION_ROUTE, 0,
         "routed", "eu-central,eu-west", "1"},
        {"PUT", "/v1/sync/x", "NO", "", NULL, NULL, NOW0, "DEFAULT", "1", DOM_JSRC_DEFAULT, DOM_ACTION_REJECT, 451,
         "location_unknown", "", NULL},
        {"PUT", "/v1/device/1", "AT", "", NULL, NULL, NOW0, "EU-GDPR", "2025-01", DOM_JSRC_GROUP, DOM_ACTION_REJECT,
         451, "class_denied", "", NULL},
        {"PUT", "/v1/device/1", "US", "", NULL, NULL, NOW0, "US-FED", "1", DOM_JSRC_COUNTRY, DOM_ACTION_REJECT, 451,
         "embargo", "", NULL},
        {"POST", "/v1/notifications", "AT", "", NULL, NULL, NOW0, "EU-GDPR", "2025-01", DOM_JSRC_GROUP,
         DOM_ACTION_REJECT, 403, "consent_required", "", NULL},
        {"POST", "/v1/notifications", "AT", "", NULL, "Marketing", NOW0, "EU-GDPR", "2025-01", DOM_JSRC_GROUP,
         DOM_ACTION_ROUTE, 0, "routed", "eu-central", NULL},
        {"PUT", "/v1/account/me", "AT", "", "CORP-OFFICE", NULL, NOW0, "CORP-OFFICE", "1", DOM_JSRC_PIN,
         DOM_ACTION_ROUTE, 0, "routed", "us-west", NULL},
        {"POST", "/v1/telemetry", "NO", "", NULL, NULL, NOW0, "DEFAULT", "1", DOM_JSRC_DEFAULT, DOM_ACTION_ROUTE, 0,
         "routed", "eu-central,eu-west,us-east,us-west", NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        printf("# yaml case %zu: %s %s %s\n", i, cases[i].method, cases[i].path, cases[i].country);
        req_t r;
        req_init(&r, cases[i].method, cases[i].path);
        req_geo(&r, DOM_GEO_DATABASE, cases[i].country, cases[i].subdivision);
        if (cases[i].pin != NULL)
            req_pin(&r, DOM_OK, cases[i].pin);
        req_consent(&r, cases[i].consent);
        r.facts.now = cases[i].now;
        dom_decision_t d = decide(rs, &r);
        is_str(jname(&d), cases[i].jurisdiction);
        if (d.jurisdiction != NULL)
            is_str(d.jurisdiction->version, cases[i].version);
        is_int(d.source, cases[i].source);
        is_int(d.action, cases[i].action);
        is_int(d.status, cases[i].status);
        is_str(d.reason, cases[i].reason);
        char names[256] = "";
        for (size_t k = 0; k < d.n_regions; ++k) {
            if (k != 0)
                strcat(names, ",");
            strcat(names, rs->regions[d.regions[k]].name);
        }
        is_str(names, cases[i].regions);
        is_str(d.report.present ? d.report.jurisdiction->version : NULL, cases[i].report_version);
    }
    dom_ruleset_release(rs);
}
#endif

int main(void)
{
    build_rules();
    subtest("names", test_names);
    subtest("method is read", test_method_is_read);
    subtest("no rules", test_no_rules);
    subtest("classify and access", test_classify_and_access);
    subtest("levels", test_levels);
    subtest("precedence", test_precedence);
    subtest("pins", test_pins);
    subtest("class rules", test_class_rules);
    subtest("consent parsing", test_consent_parsing);
    subtest("staged effective dates", test_staged);
    subtest("report-only level", test_report_only_level);
    subtest("no default", test_no_default);
    subtest("hostile input", test_hostile);
    subtest("claim keys match exactly", test_claim_keys);
#ifdef DOM_SOURCE_DIR
    subtest("from yaml", test_from_yaml);
#endif
    return done_testing();
}

/*
 * Tests src/rules/plan.c: the grid's size, an unchanged set, a change made by hand to one
 * class rule (only that class, access and jurisdiction's locations change), replayed audit
 * lines in the gateway's format (re-decided, skipped, malformed), and dom_plan_decide; and the
 * ISO helpers the grid and "did you mean" use.
 */
#include <string.h>
#include "test.h"
#include "domicile/plan.h"
#include "util/validate.h"

#define REGIONS DOM_SOURCE_DIR "/regions"
#define AT 1795996800 /* 2026-12-01 */

static void quiet(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message)
{
}

static dom_ruleset_t *parse(void)
{
    dom_diag_t diag = {quiet, NULL, 0, 0};
    dom_ruleset_t *rs = NULL;
    dom_rules_parse_dir(REGIONS, &diag, &rs);
    return rs;
}

static int class_of(const dom_ruleset_t *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_classes; ++i)
        if (strcmp(rs->classes[i].name, name) == 0)
            return (int)i;
    return -1;
}

static void test_unchanged(void)
{
    dom_ruleset_t *a = parse(), *b = parse();
    dom_plan_t *p = NULL;
    dom_plan_options_t o = {AT, AT};
    ok(a != NULL && b != NULL);
    is_int(dom_plan_compute(a, b, &o, &p), 0);
    is_int(p->n_instants, 1);
    is_int(p->n_countries, 250);
    is_int(p->n_subdivisions, 2);
    is_int(p->n_subjects, 250 + 2 + 1 + p->n_pins);
    is_int(p->cells, (uint64_t)p->n_subjects * 5 * 2 * 2);
    is_int(p->n_changes, 0);
    is_int(p->n_moves, 0);
    ok(!dom_plan_changed(p));
    ok(p->seconds < 2.0);
    dom_plan_free(p);
    /* the window: the start and each effective date in it, once */
    o = (dom_plan_options_t){AT, INT64_MAX};
    is_int(dom_plan_compute(a, b, &o, &p), 0);
    is_int(p->n_instants, 2); /* US-CA 2027-01 takes over on 2027-01-01 */
    is_int(p->instants[1], 1798761600);
    dom_plan_free(p);
    dom_ruleset_release(a);
    dom_ruleset_release(b);
}

static void test_one_class(void)
{
    dom_ruleset_t *a = parse(), *b = parse();
    dom_plan_t *p = NULL;
    dom_plan_options_t o = {AT, AT};
    int content = class_of(b, "content");
    /* EU-GDPR's content writes: eu-central only */
    for (size_t i = 0; i < b->n_jurisdictions; ++i)
        if (strcmp(b->jurisdictions[i].name, "EU-GDPR") == 0)
            b->jurisdictions[i].classes[content].n_write = 1;
    is_int(dom_plan_compute(a, b, &o, &p), 0);
    is_int(p->n_changes, 1);
    is_int(p->n_moves, 0);
    const dom_plan_change_t *c = &p->changes[0];
    is_str(c->class_name, "content");
    is_int(c->access, DOM_ACCESS_WRITE);
    is_int(c->consent, DOM_PLAN_CONSENT_ANY);
    is_int(c->version_only, 0);
    is_int(c->from.n_regions, 2);
    is_int(c->to.n_regions, 1);
    is_str(c->to.regions[0], "eu-central");
    is_int(c->n_subjects, 38); /* EEA (30), EU territories (7), a user pinned to EU-GDPR */
    char name[64];
    is_str(dom_plan_subject_name(&p->subjects[c->subjects[0]], name, sizeof(name)), "AT");
    is_str(dom_plan_subject_name(&p->subjects[c->subjects[37]], name, sizeof(name)), "pin EU-GDPR");
    char words[256];
    dom_plan_outcome_words(&c->from, words, sizeof(words));
    is_str(words, "eu-central, eu-west");

    /* replay: lines as src/gateway/audit.c writes them */
    static const char *const lines[] = {
        "{\"method\":\"PUT\",\"country\":\"DE\",\"subdivision\":null,\"jurisdiction\":\"EU-GDPR\","
        "\"jurisdiction_source\":\"group\",\"pin\":null,\"consent\":false,\"class\":\"content\",\"reason\":\"routed\"}"
        "\n",
        "{\"method\":\"GET\",\"country\":\"DE\",\"subdivision\":null,\"jurisdiction\":\"EU-GDPR\","
        "\"jurisdiction_source\":\"group\",\"pin\":null,\"consent\":false,\"class\":\"content\",\"reason\":\"routed\"}"
        "\n",
        "{\"method\":\"PUT\",\"country\":null,\"subdivision\":null,\"jurisdiction\":\"EU-GDPR\","
        "\"jurisdiction_source\":\"pin\",\"pin\":\"EU-GDPR\",\"consent\":false,\"class\":\"content\","
        "\"reason\":\"routed\"}\n",
        "{\"method\":\"PUT\",\"country\":\"US\",\"subdivision\":\"US-CA\",\"jurisdiction\":\"US-CA\","
        "\"jurisdiction_source\":\"subdivision\",\"pin\":null,\"consent\":false,\"class\":\"content\","
        "\"reason\":\"routed\"}\n",
        "{\"method\":\"PUT\",\"country\":\"DE\",\"class\":null,\"reason\":\"pin_malformed\"}\n",
        "{\"method\":\"MOVE\",\"country\":\"DE\",\"class\":\"content\",\"reason\":\"routed\"}\n",
        "{\"type\":\"checkpoint\",\"lines\":3}\n", /* the chain's own lines are not requests */
        "not json\n",
        "\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); ++i)
        is_int(dom_plan_replay_line(p, lines[i], strlen(lines[i])), 0);
    is_int(p->replay_lines, 7);
    is_int(p->replay_decided, 4);
    is_int(p->replay_skipped, 2);
    is_int(p->replay_malformed, 1);
    is_int(p->replay[0].differ, 2); /* the content writes from DE and of the pinned user */
    is_int(p->replay[0].n_change_keys, 1);
    is_str(p->replay[0].change_keys[0], "content, write: EU-GDPR 2026-01: eu-central, eu-west → EU-GDPR 2026-01: "
                                        "eu-central");
    is_int(p->replay[0].change_n[0], 2);
    dom_plan_free(p);
    dom_ruleset_release(a);
    dom_ruleset_release(b);
}

static void test_decide(void)
{
    dom_ruleset_t *rs = parse();
    dom_decision_t d;
    is_int(dom_plan_decide(rs, "DE", NULL, NULL, "content", DOM_ACCESS_WRITE, 0, AT, &d), 0);
    is_str(d.jurisdiction->name, "EU-GDPR");
    is_int(dom_plan_decide(rs, "US", "US-CA", NULL, "account", DOM_ACCESS_READ, 0, AT, &d), 0);
    is_str(d.jurisdiction->name, "US-CA");
    is_int(dom_plan_decide(rs, NULL, NULL, NULL, "account", DOM_ACCESS_WRITE, 0, AT, &d), 0);
    is_str(d.reason, "location_unknown");
    is_int(dom_plan_decide(rs, NULL, NULL, "JP-APPI", "marketing", DOM_ACCESS_WRITE, 0, AT, &d), 0);
    is_str(d.reason, "consent_required");
    is_int(dom_plan_decide(rs, "DE", NULL, NULL, "no-such-class", DOM_ACCESS_WRITE, 0, AT, &d), DOM_ENOTFOUND);
    dom_ruleset_release(rs);
}

static void test_iso(void)
{
    char cc[3];
    is_str(dom__iso_country_suggest("CHE", 3, cc), "CH");
    is_str(dom__iso_country_suggest("UK", 2, cc), "GB");
    is_str(dom__iso_country_suggest("EL", 2, cc), "GR");
    is_str(dom__iso_country_suggest("deu", 3, cc), "DE");
    is_str(dom__iso_country_suggest("de", 2, cc), "DE");
    ok(dom__iso_country_suggest("DE", 2, cc) == NULL);
    ok(dom__iso_country_suggest("QQ", 2, cc) == NULL);
    ok(dom__iso_country_suggest("QQQ", 3, cc) == NULL);
    ok(dom__iso_country_suggest("EEAX", 4, cc) == NULL);
    is_int(dom__iso_country_at(0, cc), 0);
    is_str(cc, "AD");
    is_int(dom__iso_country_at(dom__iso_country_count() - 1, cc), 0);
    is_str(cc, "XK");
    is_int(dom__iso_country_at(dom__iso_country_count(), cc), -1);
    size_t known = 0;
    for (size_t i = 0; dom__iso_country_at(i, cc) == 0; ++i)
        known += dom__iso_country_known(cc, 2);
    is_int(known, dom__iso_country_count());
}

int main(void)
{
    subtest("an unchanged set", test_unchanged);
    subtest("one class rule changed", test_one_class);
    subtest("dom_plan_decide", test_decide);
    subtest("ISO helpers", test_iso);
    return done_testing();
}

/*
 * `domicile rules report --html OUT.html RULES`: one self-contained HTML page for compliance
 * teams: a world map coloured by the jurisdiction that decides each country, a legend in words,
 * each jurisdiction's versions (in force, staged, report mode) with its class x read/write
 * matrix, and every country in a table. No external asset, no script: it reads the same
 * printed, offline or in a mail.
 *
 * Which jurisdiction decides a country is asked of the decision core itself (dom_decide on the
 * facts of a client located in that country), so the map cannot disagree with the gateway.
 * The map is assets/world.svg (tools/map/generate.mjs, Natural Earth), compiled into the
 * binary; this file only adds a class to each country path and writes CSS and tables around it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "domicile/plan.h"
#include "domicile/policy.h"
#include "domicile/rules.h"
#include "domicile/rules_record.h"
#include "util/html.h"
#include "util/text.h"
#include "util/time.h"

/* assets/world.svg, embedded at build time (cmake/embed.cmake) */
extern const unsigned char dom__world_svg_bytes[];
extern const size_t dom__world_svg_bytes_len;
#define dom__world_svg ((const char *)dom__world_svg_bytes)
#define dom__world_svg_len dom__world_svg_bytes_len

#define MAX_COUNTRIES 400
#define MAX_NAME 64

typedef struct country {
    char code[3];
    char name[MAX_NAME];
    int on_map;
    const dom_jurisdiction_t *jurisdiction; /* NULL: nothing decides it (no default) */
    dom_jurisdiction_source_t source;
    const dom_jurisdiction_t *report; /* a report-mode version that would decide it, or NULL */
    int subdivision_rules;            /* some subdivision of it has a rule of its own */
    int geo_country;                  /* with --geo-db: the database places clients in it */
    int geo_subdivisions;             /* with --geo-db: ... and in its subdivisions */
    int changed;                      /* with --plan-from: some decision for it (or a subdivision) changes */
} country_t;

typedef struct report {
    const char *rules_path;
    dom_ruleset_t *rules;
    int64_t at;
    const char *geo_path; /* NULL: no --geo-db */
    dom_geo_t *geo;
    int geo_enumerated; /* the database's locations are known (geo_country/geo_subdivisions valid) */
    country_t countries[MAX_COUNTRIES];
    size_t n_countries;
    const char *plan_from; /* NULL: no --plan-from */
    dom_ruleset_t *live;   /* the rules in use, with --plan-from */
    dom_plan_t *plan;      /* what RULES decides differently from them (include/domicile/plan.h) */
} report_t;

static void usage(FILE *fp)
{
    fputs("usage: domicile rules report --html OUT.html RULES [--geo-db FILE] [--plan-from LIVE] [--at DATE]\n"
          "\n"
          "Writes one self-contained HTML page: a world map coloured by the jurisdiction that decides\n"
          "each country, each jurisdiction's law, versions, countries and class x read/write regions,\n"
          "and every country in a table.\n"
          "\n"
          "  RULES             a rules directory (checked on the fly) or a compiled rules database\n"
          "  --html OUT.html   where to write the page (replaced atomically)\n"
          "  --geo-db FILE     mark countries and subdivisions this geo database cannot place a client in\n"
          "  --plan-from LIVE  the rules in use now: highlight what RULES would decide differently\n"
          "  --at DATE         decide as of " DOM__TIME_ANY_WORDS " (default: now)\n",
          fp);
}

/* ---- gathering ---- */

static country_t *find_country(report_t *r, const char *code)
{
    for (size_t i = 0; i < r->n_countries; ++i)
        if (memcmp(r->countries[i].code, code, 2) == 0)
            return &r->countries[i];
    return NULL;
}

static country_t *add_country(report_t *r, const char *code)
{
    country_t *c = find_country(r, code);
    if (c != NULL || r->n_countries == MAX_COUNTRIES)
        return c;
    c = &r->countries[r->n_countries++];
    memset(c, 0, sizeof(*c));
    memcpy(c->code, code, 2);
    memcpy(c->name, code, 2);
    return c;
}

static int is_code(const char *s)
{
    return s[0] >= 'A' && s[0] <= 'Z' && s[1] >= 'A' && s[1] <= 'Z';
}

/* The countries the map draws, with the names of its <title>s: `<path id="DE" d="..."><title>Germany (DE)</title>`. */
static void map_countries(report_t *r)
{
    const char *p = dom__world_svg, *end = dom__world_svg + dom__world_svg_len;
    while ((p = memmem(p, (size_t)(end - p), "<path id=\"", 10)) != NULL) {
        p += 10;
        if (end - p < 3 || !is_code(p) || p[2] != '"')
            continue;
        country_t *c = add_country(r, p);
        const char *t = memmem(p, (size_t)(end - p), "<title>", 7),
                   *close = t ? memmem(t, (size_t)(end - t), " (", 2) : NULL;
        if (c == NULL || t == NULL || close == NULL)
            continue;
        c->on_map = 1;
        size_t n = (size_t)(close - (t + 7));
        if (n < sizeof(c->name)) {
            memcpy(c->name, t + 7, n);
            c->name[n] = '\0';
        }
    }
}

/* What the decision core decides for a client located in the country (a GET of the default class). */
static void decide_country(const report_t *r, country_t *c)
{
    dom_request_facts_t f;
    dom_decision_t d;
    memset(&f, 0, sizeof(f));
    f.method = "GET";
    f.method_len = 3;
    f.path = "/";
    f.path_len = 1;
    f.location_known = 1;
    f.geo.source = DOM_GEO_DATABASE;
    memcpy(f.geo.country, c->code, 2);
    f.now = r->at;
    dom_decide(r->rules, &f, &d);
    c->jurisdiction = d.jurisdiction;
    c->source = d.source;
    c->report = d.report.present ? d.report.jurisdiction : NULL;
    for (size_t i = 0; i < r->rules->n_claims; ++i) {
        const dom_rule_claim_t *claim = &r->rules->claims[i];
        if (claim->level == DOM_LEVEL_SUBDIVISION && memcmp(claim->key, c->code, 2) == 0 && claim->key[2] == '-')
            c->subdivision_rules = 1;
    }
}

static void geo_location(void *ctx, const char *country, const char *subdivision)
{
    report_t *r = ctx;
    country_t *c = find_country(r, country);
    if (c == NULL)
        return;
    c->geo_country = 1;
    if (subdivision[0] != '\0')
        c->geo_subdivisions = 1;
}

/* A country (or the country of a subdivision) some of whose decisions the plan changes. */
static void mark_changed(report_t *r, const dom_plan_subject_t *subject)
{
    if (subject->kind != DOM_PLAN_COUNTRY && subject->kind != DOM_PLAN_SUBDIVISION)
        return;
    country_t *c = find_country(r, subject->code);
    if (c != NULL)
        c->changed = 1;
}

static int gather(report_t *r)
{
    map_countries(r);
    /* countries the rules name that the map does not draw (small islands) are still in the table */
    for (size_t i = 0; i < r->rules->n_claims; ++i)
        if (r->rules->claims[i].level != DOM_LEVEL_SUBDIVISION && is_code(r->rules->claims[i].key))
            add_country(r, r->rules->claims[i].key);
    for (size_t i = 0; i < r->n_countries; ++i)
        decide_country(r, &r->countries[i]);
    if (r->geo != NULL)
        r->geo_enumerated = dom_geo_each_location(r->geo, geo_location, r) == 0;
    for (size_t i = 0; r->plan != NULL && i < r->plan->n_changes; ++i)
        for (size_t k = 0; k < r->plan->changes[i].n_subjects; ++k)
            mark_changed(r, &r->plan->subjects[r->plan->changes[i].subjects[k]]);
    for (size_t i = 0; r->plan != NULL && i < r->plan->n_moves; ++i)
        mark_changed(r, &r->plan->subjects[r->plan->moves[i].subject]);
    return 0;
}

/* ---- writing ---- */

/* Colours for the jurisdictions, in the order of their names: distinct in hue and lightness. */
static const char *const palette[] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#f1ce63",
    "#a6cee3", "#fb9a99", "#b2df8a", "#fdbf6f", "#cab2d6", "#6a3d9a", "#b15928", "#ffff99", "#33a02c", "#e31a1c",
};
#define DEFAULT_COLOUR "#bab0ac"

/* A jurisdiction's name as a CSS class: "j-" and [A-Za-z0-9-], anything else as '_'. */
static void css_class(dom__text_t *t, const char *name)
{
    dom__text_append(t, "j-", 2);
    for (const char *p = name; *p != '\0'; ++p) {
        char ch = *p;
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-'))
            ch = '_';
        dom__text_append(t, &ch, 1);
    }
}

/* Index of the first version of each jurisdiction name (rules->jurisdictions is sorted by name). */
static int first_of_name(const dom_ruleset_t *rs, size_t i)
{
    return i == 0 || strcmp(rs->jurisdictions[i].name, rs->jurisdictions[i - 1].name) != 0;
}

static const char *colour_of(const dom_ruleset_t *rs, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
        if (!first_of_name(rs, i))
            continue;
        if (strcmp(rs->jurisdictions[i].name, name) == 0)
            return rs->jurisdictions[i].is_default ? DEFAULT_COLOUR
                                                   : palette[k % (sizeof(palette) / sizeof(palette[0]))];
        k += !rs->jurisdictions[i].is_default;
    }
    return DEFAULT_COLOUR;
}

/* The rule hash of a version (domicile/ledger.h: what audit lines and `rules show --hash` name), or NULL. */
static const char *rule_hash(const dom_ruleset_t *rs, const dom_jurisdiction_t *j)
{
    (void)rs;
    return j->hash[0] != '\0' ? j->hash : NULL;
}

static const char *page_style =
    ":root{color-scheme:light;font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:#1b1b1b}"
    "body{margin:0 auto;max-width:1200px;padding:0 1rem 2rem;line-height:1.4}"
    "h1{font-size:1.6rem;margin:1rem 0 .25rem}h2{font-size:1.25rem;margin:2rem 0 .5rem;border-bottom:1px solid #ccc}"
    "h3{font-size:1.1rem;margin:1.5rem 0 .25rem}"
    ".meta{color:#444;font-size:.9rem;margin:.2rem 0}"
    "code,.mono{font-family:ui-monospace,\"DejaVu Sans Mono\",monospace;font-size:.85em}"
    "nav ul{display:flex;flex-wrap:wrap;gap:.25rem 1rem;padding:0;list-style:none}"
    "figure{margin:0}svg.worldmap{width:100%;height:auto;display:block;background:#fff}"
    "svg.worldmap path{stroke:#fff;stroke-width:.3;fill:#e0e0e0}"
    "svg.worldmap path.sphere{fill:#eef4f8;stroke:#9ab}"
    "svg.worldmap path.nocode{fill:#f4f4f4}"
    "svg.worldmap path.sub{stroke:#111;stroke-width:1.2;stroke-dasharray:3 1.5}"
    "svg.worldmap path.nogeo{fill-opacity:.35;stroke:#111;stroke-width:.8;stroke-dasharray:1 1}"
    "svg.worldmap path.changed{stroke:#d00;stroke-width:2.2}"
    "ul.legend{list-style:none;padding:0;columns:2 22rem}ul.legend li{margin:.15rem 0;break-inside:avoid}"
    ".sw{display:inline-block;width:1.1em;height:.9em;vertical-align:-.1em;margin-right:.4em;border:1px solid #555}"
    ".sw.line{background:#fff;border:2px dashed #111}.sw.dots{background:#fff;border:2px dotted #111}"
    ".sw.red{background:#fff;border:2px solid #d00}"
    ".versions{display:flex;flex-wrap:wrap;gap:1rem;align-items:flex-start}"
    ".version{border:1px solid #bbb;border-radius:4px;padding:.5rem .75rem;flex:1 1 30rem;min-width:0}"
    ".version.staged{border-style:dashed}.version.report{background:#fbf8ef}"
    ".badge{display:inline-block;font-size:.75rem;padding:0 .4em;border-radius:3px;border:1px solid #777;"
    "margin-left:.4em;text-transform:uppercase;letter-spacing:.03em}"
    "table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}"
    "th,td{border:1px solid #ccc;padding:.2rem .45rem;text-align:left;vertical-align:top}"
    "th{background:#f3f3f3}td.deny{color:#900}dl{margin:.25rem 0}dt{font-weight:600;float:left;clear:left;"
    "width:8.5rem}dd{margin:0 0 .15rem 8.5rem}"
    ".codes{font-family:ui-monospace,monospace;font-size:.85rem;word-spacing:.2em}"
    "@media print{body{max-width:none;font-size:9.5pt}nav{display:none}"
    "*{-webkit-print-color-adjust:exact;print-color-adjust:exact}"
    ".version,table,figure{break-inside:avoid}h2{break-after:avoid}a{color:inherit;text-decoration:none}}";

static void write_css(dom__text_t *t, const report_t *r)
{
    const dom_ruleset_t *rs = r->rules;
    dom__text_printf(t, "<style>%s\n", page_style);
    for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
        if (!first_of_name(rs, i))
            continue;
        const char *colour = colour_of(rs, rs->jurisdictions[i].name);
        dom__text_append(t, "svg.worldmap path.", 18);
        css_class(t, rs->jurisdictions[i].name);
        dom__text_printf(t, "{fill:%s}.sw.", colour);
        css_class(t, rs->jurisdictions[i].name);
        dom__text_printf(t, "{background:%s}\n", colour);
    }
    dom__text_printf(t, "</style>\n");
}

static void regions_cell(dom__text_t *t, const dom_ruleset_t *rs, const uint16_t *regions, size_t n)
{
    if (n == 0) {
        dom__text_printf(t, "none");
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        const dom_region_t *reg = regions[i] < rs->n_regions ? &rs->regions[regions[i]] : NULL;
        dom__text_printf(t, "%s", i ? ", " : "");
        dom__html_escape(t, reg != NULL ? reg->name : "?");
        if (reg != NULL && reg->location != NULL && reg->location[0] != '\0') {
            dom__text_printf(t, " (");
            dom__html_escape(t, reg->location);
            dom__text_printf(t, ")");
        }
    }
}

static void date_text(dom__text_t *t, int64_t when)
{
    char buf[32];
    dom__html_escape(t, dom__time_format(when, DOM__TIME_FMT_DATE, buf, sizeof(buf)));
}

/* One version: its facts and its class x read/write matrix. */
static void write_version(dom__text_t *t, const report_t *r, const dom_jurisdiction_t *j, const char *state,
                          const char *state_class)
{
    const dom_ruleset_t *rs = r->rules;
    const char *hash = rule_hash(rs, j);
    dom__text_printf(t, "<div class=\"version %s\"><h4>Version ", state_class);
    dom__html_escape(t, j->version);
    dom__text_printf(t, "<span class=\"badge\">");
    dom__html_escape(t, state);
    dom__text_printf(t, "</span></h4>\n<dl><dt>Law</dt><dd>");
    dom__html_escape(t, j->law != NULL && j->law[0] != '\0' ? j->law : "(not cited)");
    dom__text_printf(t, "</dd><dt>Effective</dt><dd>");
    date_text(t, j->effective);
    dom__text_printf(t, "</dd><dt>Mode</dt><dd>%s</dd><dt>Applies to</dt><dd>",
                     j->mode == DOM_MODE_REPORT ? "report (evaluated and recorded, never applied)" : "enforce");
    dom__html_escape(t, j->is_default ? "every location no other rule claims (the default)" : j->applies_to);
    dom__text_printf(t, "</dd><dt>If a region is down</dt><dd>%s</dd><dt>Rule hash</dt><dd>",
                     j->on_unavailable == DOM_ON_UNAVAILABLE_NEXT_REGION ? "the next listed region"
                                                                         : "refuse (503), never another region");
    if (hash != NULL) {
        dom__text_printf(t, "<code>");
        dom__html_escape(t, hash);
        dom__text_printf(t, "</code>");
    } else {
        dom__text_printf(t, "none");
    }
    dom__text_printf(t, "</dd><dt>Source</dt><dd><code>");
    dom__html_escape(t, j->source_file);
    dom__text_printf(t, "</code></dd>");
    if (j->policy_url != NULL && j->policy_url[0] != '\0') {
        dom__text_printf(t, "<dt>Policy</dt><dd>");
        dom__html_escape(t, j->policy_url);
        dom__text_printf(t, "</dd>");
    }
    dom__text_printf(t, "</dl>\n<table><caption>Where each class of data may be read and written</caption>"
                        "<thead><tr><th scope=\"col\">Class</th><th scope=\"col\">Read</th>"
                        "<th scope=\"col\">Write</th><th scope=\"col\">Conditions</th></tr></thead><tbody>\n");
    for (size_t c = 0; c < rs->n_classes; ++c) {
        const dom_class_rule_t *cr = &j->classes[c];
        dom__text_printf(t, "<tr><th scope=\"row\">");
        dom__html_escape(t, rs->classes[c].name);
        dom__text_printf(t, "</th>");
        if (cr->deny) {
            dom__text_printf(t, "<td class=\"deny\" colspan=\"2\">refused (451 ");
            dom__html_escape(t, cr->deny_reason != NULL ? cr->deny_reason : "class_denied");
            dom__text_printf(t, ")</td><td></td></tr>\n");
            continue;
        }
        dom__text_printf(t, "<td>");
        regions_cell(t, rs, cr->read_regions, cr->n_read);
        dom__text_printf(t, "</td><td>");
        regions_cell(t, rs, cr->write_regions, cr->n_write);
        dom__text_printf(t, "</td><td>%s%s%s</td></tr>\n", cr->consent_required ? "consent required" : "",
                         cr->consent_required && cr->anonymize ? "; " : "",
                         cr->anonymize ? "anonymized (identity stripped first)" : "");
    }
    dom__text_printf(t, "</tbody></table></div>\n");
}

static size_t countries_of(const report_t *r, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < r->n_countries; ++i)
        n += r->countries[i].jurisdiction != NULL && strcmp(r->countries[i].jurisdiction->name, name) == 0;
    return n;
}

static void write_legend(dom__text_t *t, const report_t *r)
{
    const dom_ruleset_t *rs = r->rules;
    dom__text_printf(t, "<ul class=\"legend\">\n");
    for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
        if (!first_of_name(rs, i))
            continue;
        const dom_jurisdiction_t *j = &rs->jurisdictions[i];
        size_t n = countries_of(r, j->name);
        dom__text_printf(t, "<li><span class=\"sw ");
        css_class(t, j->name);
        dom__text_printf(t, "\" aria-hidden=\"true\">&#160;</span><a href=\"#jur-");
        css_class(t, j->name);
        dom__text_printf(t, "\"><strong>");
        dom__html_escape(t, j->name);
        dom__text_printf(t, "</strong></a>: ");
        if (j->is_default)
            dom__text_printf(t, "unknown locations and %zu countr%s no other rule claims", n, n == 1 ? "y" : "ies");
        else
            dom__text_printf(t, "decides %zu countr%s", n, n == 1 ? "y" : "ies");
        if (j->law != NULL && j->law[0] != '\0') {
            dom__text_printf(t, " (");
            dom__html_escape(t, j->law);
            dom__text_printf(t, ")");
        }
        dom__text_printf(t, "</li>\n");
    }
    dom__text_printf(t, "<li><span class=\"sw line\" aria-hidden=\"true\">&#160;</span>dashed outline: some "
                        "subdivisions have rules of their "
                        "own (see the table below)</li>\n");
    if (r->geo_path != NULL)
        dom__text_printf(t, "<li><span class=\"sw dots\" aria-hidden=\"true\">&#160;</span>dotted outline, pale: the "
                            "geo database cannot place "
                            "a client there (or in the subdivisions a rule names)</li>\n");
    if (r->plan != NULL)
        dom__text_printf(t, "<li><span class=\"sw red\" aria-hidden=\"true\">&#160;</span>red outline: the change "
                            "from the rules in use decides something differently there (see the plan below)</li>\n");
    dom__text_printf(t, "<li><span class=\"sw\" style=\"background:#f4f4f4\" aria-hidden=\"true\">&#160;</span>light "
                        "grey: land without an "
                        "ISO 3166-1 code of its own</li>\n</ul>\n");
}

/* The map: the embedded SVG, each country path given the classes the CSS colours. */
static void write_map(dom__text_t *t, const report_t *r)
{
    const char *p = dom__world_svg, *end = dom__world_svg + dom__world_svg_len, *hit;
    while ((hit = memmem(p, (size_t)(end - p), "<path id=\"", 10)) != NULL) {
        const char *code = hit + 10;
        dom__text_append(t, p, (size_t)(code - p));
        p = code;
        if (end - code < 4 || !is_code(code) || code[2] != '"')
            continue;
        const country_t *c = find_country((report_t *)r, code);
        dom__text_append(t, code, 3);
        p = code + 3;
        if (c == NULL)
            continue;
        dom__text_printf(t, " class=\"");
        if (c->jurisdiction != NULL)
            css_class(t, c->jurisdiction->name);
        else
            dom__text_printf(t, "undecided");
        if (c->subdivision_rules)
            dom__text_printf(t, " sub");
        if (r->geo_enumerated && (!c->geo_country || (c->subdivision_rules && !c->geo_subdivisions)))
            dom__text_printf(t, " nogeo");
        if (c->changed)
            dom__text_printf(t, " changed");
        dom__text_printf(t, "\"");
    }
    dom__text_append(t, p, (size_t)(end - p));
}

static const char *source_words(dom_jurisdiction_source_t s)
{
    switch (s) {
    case DOM_JSRC_COUNTRY:
        return "the country itself";
    case DOM_JSRC_GROUP:
        return "a group";
    case DOM_JSRC_DEFAULT:
        return "the default";
    default:
        return "nothing";
    }
}

static void subdivisions_of(dom__text_t *t, const report_t *r, const country_t *c)
{
    const dom_ruleset_t *rs = r->rules;
    int first = 1;
    for (size_t i = 0; i < rs->n_claims; ++i) {
        const dom_rule_claim_t *claim = &rs->claims[i];
        if (claim->level != DOM_LEVEL_SUBDIVISION || memcmp(claim->key, c->code, 2) != 0 || claim->key[2] != '-')
            continue;
        const dom_jurisdiction_t *enforce, *report;
        dom_ruleset_resolve(rs, DOM_LEVEL_SUBDIVISION, claim->key, r->at, &enforce, &report);
        if (i > 0 && strcmp(rs->claims[i - 1].key, claim->key) == 0 && rs->claims[i - 1].level == claim->level)
            continue; /* several versions claim it: said once */
        dom__text_printf(t, "%s", first ? "" : "; ");
        dom__html_escape(t, claim->key);
        dom__text_printf(t, ": ");
        dom__html_escape(t, enforce != NULL ? enforce->name : "staged only");
        first = 0;
    }
    if (r->geo_enumerated && !c->geo_subdivisions)
        dom__text_printf(t, " (the geo database has no subdivisions here)");
}

static void write_country_table(dom__text_t *t, const report_t *r)
{
    dom__text_printf(t,
                     "<table id=\"country-table\"><thead><tr><th scope=\"col\">Code</th><th scope=\"col\">Country"
                     "</th><th scope=\"col\">Decided by</th><th scope=\"col\">Through</th><th scope=\"col\">"
                     "Report mode</th><th scope=\"col\">Subdivision rules</th>%s</tr></thead><tbody>\n",
                     r->geo_path != NULL ? "<th scope=\"col\">Geo database</th>" : "");
    for (size_t i = 0; i < r->n_countries; ++i) {
        const country_t *c = &r->countries[i];
        dom__text_printf(t, "<tr><td class=\"mono\">%s</td><td>", c->code);
        dom__html_escape(t, c->name);
        if (!c->on_map)
            dom__text_printf(t, " (not drawn)");
        dom__text_printf(t, "</td><td>");
        if (c->jurisdiction != NULL) {
            dom__text_printf(t, "<span class=\"sw ");
            css_class(t, c->jurisdiction->name);
            dom__text_printf(t, "\" aria-hidden=\"true\">&#160;</span>");
            dom__html_escape(t, c->jurisdiction->name);
            dom__text_printf(t, " ");
            dom__html_escape(t, c->jurisdiction->version);
        } else {
            dom__text_printf(t, "nothing (refused: no rule)");
        }
        dom__text_printf(t, "</td><td>%s</td><td>", source_words(c->source));
        if (c->report != NULL) {
            dom__html_escape(t, c->report->name);
            dom__text_printf(t, " ");
            dom__html_escape(t, c->report->version);
        }
        dom__text_printf(t, "</td><td>");
        if (c->subdivision_rules)
            subdivisions_of(t, r, c);
        dom__text_printf(t, "</td>");
        if (r->geo_path != NULL)
            dom__text_printf(t, "<td>%s</td>",
                             !r->geo_enumerated ? "not enumerable"
                             : c->geo_country   ? (c->geo_subdivisions ? "country and subdivisions" : "country")
                                                : "never places a client here");
        dom__text_printf(t, "</tr>\n");
    }
    dom__text_printf(t, "</tbody></table>\n");
}

static void write_jurisdictions(dom__text_t *t, const report_t *r)
{
    const dom_ruleset_t *rs = r->rules;
    for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
        if (!first_of_name(rs, i))
            continue;
        const dom_jurisdiction_t *first = &rs->jurisdictions[i], *enforce, *report;
        size_t n = 1;
        while (i + n < rs->n_jurisdictions && strcmp(rs->jurisdictions[i + n].name, first->name) == 0)
            ++n;
        dom_ruleset_find(rs, first->name, r->at, &enforce, &report);
        if (enforce == NULL && report == NULL && first->is_default) /* the default, as unknown locations find it */
            dom_ruleset_find(rs, NULL, r->at, &enforce, &report);
        dom__text_printf(t, "<section id=\"jur-");
        css_class(t, first->name);
        dom__text_printf(t, "\"><h3><span class=\"sw ");
        css_class(t, first->name);
        dom__text_printf(t, "\" aria-hidden=\"true\">&#160;</span>");
        dom__html_escape(t, first->name);
        dom__text_printf(t, "</h3>\n<p class=\"meta\">Countries it decides: <span class=\"codes\">");
        size_t shown = 0;
        for (size_t k = 0; k < r->n_countries; ++k) {
            const country_t *c = &r->countries[k];
            if (c->jurisdiction == NULL || strcmp(c->jurisdiction->name, first->name) != 0)
                continue;
            dom__text_printf(t, "%s<abbr title=\"", shown++ ? " " : "");
            dom__html_escape(t, c->name);
            dom__text_printf(t, "\">%s</abbr>", c->code);
        }
        dom__text_printf(t, "%s</span></p>\n<div class=\"versions\">\n", shown == 0 ? "none" : "");
        if (enforce != NULL)
            write_version(t, r, enforce, "in force", "current");
        else
            dom__text_printf(t, "<p>No version is in force on this date.</p>\n");
        if (report != NULL)
            write_version(t, r, report, "report mode", "report");
        for (size_t k = i; k < i + n; ++k) {
            const dom_jurisdiction_t *j = &rs->jurisdictions[k];
            if (j->effective > r->at)
                write_version(t, r, j, j->mode == DOM_MODE_REPORT ? "staged, report mode" : "staged",
                              j->mode == DOM_MODE_REPORT ? "staged report" : "staged");
        }
        dom__text_printf(t, "</div>\n");
        size_t older = 0;
        for (size_t k = i; k < i + n; ++k) {
            const dom_jurisdiction_t *j = &rs->jurisdictions[k];
            if (j == enforce || j == report || j->effective > r->at)
                continue;
            dom__text_printf(t, "%s", older++ ? ", " : "<p class=\"meta\">Superseded versions: ");
            dom__html_escape(t, j->version);
            dom__text_printf(t, " (");
            date_text(t, j->effective);
            dom__text_printf(t, ")");
        }
        if (older != 0)
            dom__text_printf(t, "</p>\n");
        dom__text_printf(t, "</section>\n");
        i += n - 1;
    }
}

static void outcome_text(dom__text_t *t, const dom_plan_outcome_t *o)
{
    dom__html_escape(t, o->jurisdiction != NULL ? o->jurisdiction : "no jurisdiction");
    if (o->version != NULL) {
        dom__text_printf(t, " ");
        dom__html_escape(t, o->version);
    }
    if (o->action == DOM_ACTION_REJECT) {
        dom__text_printf(t, ": refused %d ", o->status);
        dom__html_escape(t, o->reason);
        return;
    }
    dom__text_printf(t, ": to ");
    for (size_t i = 0; i < o->n_regions; ++i) {
        dom__text_printf(t, "%s", i ? ", " : "");
        dom__html_escape(t, o->regions[i]);
    }
    if (o->anonymize)
        dom__text_printf(t, " (anonymized)");
}

static void subject_text(dom__text_t *t, const dom_plan_subject_t *s)
{
    switch (s->kind) {
    case DOM_PLAN_UNKNOWN:
        dom__text_printf(t, "unknown location");
        break;
    case DOM_PLAN_PIN:
        dom__text_printf(t, "pinned to ");
        dom__html_escape(t, s->code);
        break;
    default:
        dom__html_escape(t, s->code);
    }
}

/* The plan view: the same data as `rules plan --json`, as tables, and the JSON itself folded away. */
static void write_plan(dom__text_t *t, const report_t *r)
{
    const dom_plan_t *p = r->plan;
    char date[32];
    dom__text_printf(t, "<section id=\"plan\"><h2>What changes against the rules in use</h2>\n<p>Rules in use <code>");
    dom__html_escape(t, r->plan_from);
    dom__text_printf(t, "</code> (ruleset <code>%.16s</code>) against <code>", r->live->hash);
    dom__html_escape(t, r->rules_path);
    dom__text_printf(t,
                     "</code> (ruleset <code>%.16s</code>): %zu location%s move%s, %zu group%s of decisions change "
                     "(%llu requests decided on each side). Changed countries have a red outline on the map.</p>\n",
                     r->rules->hash, p->n_moves, p->n_moves == 1 ? "" : "s", p->n_moves == 1 ? "s" : "", p->n_changes,
                     p->n_changes == 1 ? "" : "s", (unsigned long long)p->cells);
    dom__text_printf(t, "<h3>Locations that move to another jurisdiction</h3>\n<table id=\"plan-moves\"><thead><tr>"
                        "<th scope=\"col\">Location</th><th scope=\"col\">From</th><th scope=\"col\">To</th>"
                        "<th scope=\"col\">For</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < p->n_moves; ++i) {
        const dom_plan_move_t *m = &p->moves[i];
        const dom_plan_subject_t *s = &p->subjects[m->subject];
        dom__text_printf(t, "<tr data-location=\"");
        dom__html_escape(t, s->code);
        dom__text_printf(t, "\"><td>");
        subject_text(t, s);
        dom__text_printf(t, "</td><td>");
        dom__html_escape(t, m->from != NULL ? m->from : "none");
        dom__text_printf(t, "</td><td>");
        dom__html_escape(t, m->to != NULL ? m->to : "none");
        dom__text_printf(t, "</td><td>%s</td></tr>\n", m->every_class ? "every class" : "some classes");
    }
    if (p->n_moves == 0)
        dom__text_printf(t, "<tr><td colspan=\"4\">none</td></tr>\n");
    dom__text_printf(t, "</tbody></table>\n<h3>Decisions that change</h3>\n<table id=\"plan-changes\"><thead><tr>"
                        "<th scope=\"col\">From</th><th scope=\"col\">Class</th><th scope=\"col\">Access</th>"
                        "<th scope=\"col\">Consent</th><th scope=\"col\">Before</th><th scope=\"col\">After</th>"
                        "<th scope=\"col\">Locations</th></tr></thead><tbody>\n");
    for (size_t i = 0; i < p->n_changes; ++i) {
        const dom_plan_change_t *c = &p->changes[i];
        dom__text_printf(t, "<tr><td>");
        dom__html_escape(t, dom__time_format(p->instants[c->instant], DOM__TIME_FMT_DATE, date, sizeof(date)));
        dom__text_printf(t, "</td><td>");
        dom__html_escape(t, c->class_name);
        dom__text_printf(t, "</td><td>%s</td><td>%s</td><td>", dom_access_name(c->access),
                         c->consent == DOM_PLAN_CONSENT_GIVEN    ? "given"
                         : c->consent == DOM_PLAN_CONSENT_ABSENT ? "absent"
                                                                 : "either");
        outcome_text(t, &c->from);
        dom__text_printf(t, "</td><td>");
        outcome_text(t, &c->to);
        dom__text_printf(t, "</td><td class=\"codes\">");
        for (size_t k = 0; k < c->n_subjects; ++k) {
            dom__text_printf(t, "%s", k ? " " : "");
            subject_text(t, &p->subjects[c->subjects[k]]);
        }
        dom__text_printf(t, "</td></tr>\n");
    }
    if (p->n_changes == 0)
        dom__text_printf(t, "<tr><td colspan=\"7\">none</td></tr>\n");
    dom__text_printf(t, "</tbody></table>\n");
    /* the machine-readable form, exactly as `rules plan --json` prints it */
    char *json = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&json, &len);
    if (fp != NULL) {
        dom_plan_write_json(p, r->plan_from, r->rules_path, fp);
        fclose(fp);
        dom__text_printf(t, "<details><summary>The same as <code>domicile rules plan --json</code></summary>"
                            "<pre id=\"plan-json\">");
        dom__html_escape_n(t, json, len);
        dom__text_printf(t, "</pre></details>\n");
    }
    free(json);
    dom__text_printf(t, "</section>\n");
}

static void write_page(dom__text_t *t, const report_t *r)
{
    const dom_ruleset_t *rs = r->rules;
    char when[32], compiled[32];
    dom__time_format(r->at, DOM__TIME_FMT_ISO, when, sizeof(when));
    dom__time_format(rs->compiled_at, DOM__TIME_FMT_ISO, compiled, sizeof(compiled));
    dom__text_printf(t, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                        "<meta name=\"generator\" content=\"domicile rules report\">\n<title>Data residency report: ");
    dom__html_escape(t, r->rules_path);
    dom__text_printf(t, "</title>\n");
    write_css(t, r);
    dom__text_printf(t, "</head>\n<body>\n<header><h1>Data residency report</h1>\n<p class=\"meta\">Rules <code>");
    dom__html_escape(t, r->rules_path);
    dom__text_printf(t, "</code>, ruleset <code>");
    dom__html_escape(t, rs->hash);
    dom__text_printf(t, "</code>, source sha256 <code>");
    dom__html_escape(t, rs->source_hash);
    dom__text_printf(t, "</code>, generation %" PRIu64 ", compiled %s.</p>\n<p class=\"meta\">Decided as of <strong>",
                     rs->generation, compiled);
    dom__html_escape(t, when);
    dom__text_printf(t, "</strong>: versions with a later effective date are shown as staged.</p>\n");
    if (r->geo_path != NULL) {
        const dom_geo_metadata_t *md = dom_geo_metadata(r->geo);
        dom__text_printf(t, "<p class=\"meta\">Geo database <code>");
        dom__html_escape(t, r->geo_path);
        dom__text_printf(t, "</code> (");
        dom__html_escape(t, md->database_type);
        dom__text_printf(t, ", sha256 <code>");
        dom__html_escape(t, md->sha256);
        dom__text_printf(t, "</code>)%s</p>\n",
                         r->geo_enumerated ? "" : ": its records could not be enumerated, so no country is marked");
    }
    dom__text_printf(t,
                     "</header>\n<nav><ul><li><a href=\"#map\">Map</a></li>%s<li><a href=\"#jurisdictions\">"
                     "Jurisdictions</a></li><li><a href=\"#countries\">Every country</a></li></ul></nav>\n"
                     "<main>\n<section id=\"map\"><h2>Which jurisdiction decides each country</h2>\n<figure>\n",
                     r->plan != NULL ? "<li><a href=\"#plan\">What changes</a></li>" : "");
    write_map(t, r);
    dom__text_printf(t, "<figcaption>Each country is coloured by the jurisdiction whose rules decide where a client "
                        "located there is stored (a residency pin overrides location). Legend:</figcaption>\n"
                        "</figure>\n");
    write_legend(t, r);
    dom__text_printf(t, "</section>\n");
    if (r->plan != NULL)
        write_plan(t, r);
    dom__text_printf(t, "<section id=\"jurisdictions\"><h2>Jurisdictions</h2>\n<p>For each, the version "
                        "in force, and beside it any version in report mode (evaluated and recorded, never applied) "
                        "or staged for a later date. Regions are listed in the order a request tries them.</p>\n");
    write_jurisdictions(t, r);
    dom__text_printf(t, "</section>\n<section id=\"countries\"><h2>Every country</h2>\n");
    write_country_table(t, r);
    dom__text_printf(t, "</section>\n</main>\n</body>\n</html>\n");
}

/* Writes the page next to out and renames it into place, so a reader never sees half a page. */
static int write_file(const char *out, const dom__text_t *t)
{
    size_t n = strlen(out);
    char *tmp = malloc(n + 16);
    int ret = 1;
    FILE *fp = NULL;
    if (tmp == NULL) {
        fprintf(stderr, "domicile rules report: out of memory\n");
        return 1;
    }
    snprintf(tmp, n + 16, "%s.tmp%ld", out, (long)getpid());
    if ((fp = fopen(tmp, "wb")) == NULL || fwrite(t->base, 1, t->len, fp) != t->len || fflush(fp) != 0) {
        fprintf(stderr, "domicile rules report: cannot write %s: %s\n", tmp, strerror(errno));
        goto cleanup;
    }
    if (fclose(fp) != 0) {
        fp = NULL;
        fprintf(stderr, "domicile rules report: cannot write %s: %s\n", tmp, strerror(errno));
        goto cleanup;
    }
    fp = NULL;
    if (rename(tmp, out) != 0) {
        fprintf(stderr, "domicile rules report: cannot rename %s to %s: %s\n", tmp, out, strerror(errno));
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (fp != NULL)
        fclose(fp);
    if (ret != 0)
        unlink(tmp);
    free(tmp);
    return ret;
}

int dom__cli_rules_report(int argc, char **argv)
{
    const char *html = NULL, *rules = NULL, *geo_db = NULL, *plan_from = NULL, *at = NULL;
    report_t *r = calloc(1, sizeof(*r));
    dom__text_t page = {0};
    int ret = 2;
    if (r == NULL) {
        fprintf(stderr, "domicile rules report: out of memory\n");
        return 1;
    }
    for (int i = 1; i < argc; ++i) {
        const char **slot = strcmp(argv[i], "--html") == 0        ? &html
                            : strcmp(argv[i], "--geo-db") == 0    ? &geo_db
                            : strcmp(argv[i], "--plan-from") == 0 ? &plan_from
                            : strcmp(argv[i], "--at") == 0        ? &at
                                                                  : NULL;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            ret = 0;
            goto cleanup;
        }
        if (slot != NULL && i + 1 < argc) {
            *slot = argv[++i];
        } else if (slot == NULL && argv[i][0] != '-' && rules == NULL) {
            rules = argv[i];
        } else {
            fprintf(stderr, "domicile rules report: %s \"%s\"\n",
                    slot != NULL ? "a value is missing after" : "unexpected", argv[i]);
            usage(stderr);
            goto cleanup;
        }
    }
    if (html == NULL || rules == NULL) {
        fprintf(stderr, "domicile rules report: --html OUT.html and RULES are required\n");
        usage(stderr);
        goto cleanup;
    }
    r->at = (int64_t)time(NULL);
    if (at != NULL && dom__time_parse(at, strlen(at), DOM__TIME_ANY, &r->at) != 0) {
        fprintf(stderr, "domicile rules report: --at wants " DOM__TIME_ANY_WORDS ", got \"%s\"\n", at);
        goto cleanup;
    }
    ret = 1;
    r->rules_path = rules;
    dom_diag_t diag = {dom__cli_diag_discard, NULL, 0, 0}; /* the page is no place for lints: `rules check` */
    if (dom__cli_load_rules(rules, &diag, &r->rules, NULL) != 0)
        goto cleanup;
    if (plan_from != NULL) {
        /* the plan of `rules plan --from LIVE --to RULES --at DATE`: the same computation, drawn */
        dom_plan_options_t po = {.start = r->at, .end = r->at};
        if (dom__cli_load_rules(plan_from, &diag, &r->live, NULL) != 0)
            goto cleanup;
        int rc = dom_plan_compute(r->live, r->rules, &po, &r->plan);
        if (rc != 0) {
            fprintf(stderr, "domicile rules report: cannot plan against %s: %s\n", plan_from, dom_strerror(rc));
            goto cleanup;
        }
        r->plan_from = plan_from;
    }
    if (geo_db != NULL) {
        char err[512] = "";
        dom_geo_options_t opts = {0};
        int rc = dom_geo_open(geo_db, &opts, &r->geo, err, sizeof(err));
        if (rc != 0) {
            fprintf(stderr, "domicile rules report: cannot use geo database %s: %s\n", geo_db,
                    err[0] ? err : dom_strerror(rc));
            goto cleanup;
        }
        r->geo_path = geo_db;
    }
    gather(r);
    write_page(&page, r);
    if (page.failed) {
        fprintf(stderr, "domicile rules report: out of memory\n");
        goto cleanup;
    }
    if (write_file(html, &page) != 0)
        goto cleanup;
    printf("%s: %zu countries, %zu jurisdiction versions, %zu bytes\n", html, r->n_countries, r->rules->n_jurisdictions,
           page.len);
    ret = 0;
cleanup:
    dom__text_free(&page);
    dom_geo_release(r->geo);
    dom_plan_free(r->plan);
    dom_ruleset_release(r->live);
    dom_ruleset_release(r->rules);
    free(r);
    return ret;
}

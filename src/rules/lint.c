/*
 * Semantic lints of a rule set (include/domicile/lint.h). Each finding points at the rule text
 * at fault; every "who decides this location" question goes through dom_decide (dom_plan_decide).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/lint.h"
#include "domicile/plan.h"
#include "domicile/rules_record.h"
#include "rules/sources.h"
#include "util/text.h"
#include "util/time.h"
#include "util/validate.h"

typedef struct lint {
    const dom_ruleset_t *rs;
    const dom_rules_sources_t *src;
    const dom_lint_options_t *o;
    dom_diag_t *diag;
    size_t found;
} lint_t;

__attribute__((format(printf, 4, 5))) static void finding(lint_t *l, const dom_jurisdiction_t *j, const dom_mark_t *at,
                                                          const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dom_diag_vreport(l->diag, j != NULL && j->source_file != NULL ? j->source_file : "(rules)",
                     at != NULL && at->line != 0 ? at : NULL, !l->o->strict, fmt, ap);
    va_end(ap);
    ++l->found;
}

static const dom__rules_version_src_t *version_src(const lint_t *l, const dom_jurisdiction_t *j)
{
    if (l->src == NULL || j == NULL || j < l->rs->jurisdictions || j >= l->rs->jurisdictions + l->rs->n_jurisdictions)
        return NULL;
    size_t i = (size_t)(j - l->rs->jurisdictions);
    return i < l->src->n_versions ? &l->src->versions[i] : NULL;
}

/* Who decides a location: the decision core on a write of the first class the set can reach. */
static int locate(const dom_ruleset_t *rs, const char *country, const char *sub, int64_t now, dom_decision_t *d)
{
    for (size_t c = 0; c < rs->n_classes; ++c) {
        size_t k = (rs->default_class + c) % rs->n_classes;
        if (dom_plan_decide(rs, country, sub, NULL, rs->classes[k].name, DOM_ACCESS_WRITE, 1, now, d) == 0)
            return 0;
    }
    return -1;
}

static const char *name_of(const dom_decision_t *d)
{
    return d->jurisdiction != NULL ? d->jurisdiction->name : "no jurisdiction";
}

/* ---- a new version dated in the past ---- */

static int in_baseline(const dom_ruleset_t *base, const dom_jurisdiction_t *j)
{
    for (size_t i = 0; i < base->n_jurisdictions; ++i) {
        const dom_jurisdiction_t *b = &base->jurisdictions[i];
        if (strcmp(b->name, j->name) == 0 && strcmp(b->version, j->version) == 0 && b->effective == j->effective)
            return 1;
    }
    return 0;
}

static void lint_past_versions(lint_t *l)
{
    int64_t today = l->o->now - ((l->o->now % 86400) + 86400) % 86400;
    for (size_t i = 0; i < l->rs->n_jurisdictions; ++i) {
        const dom_jurisdiction_t *j = &l->rs->jurisdictions[i];
        if (j->effective >= today || in_baseline(l->o->baseline, j))
            continue;
        char date[32];
        dom__time_format(j->effective, DOM__TIME_FMT_DATE, date, sizeof(date));
        const dom__rules_version_src_t *v = version_src(l, j);
        finding(l, j, v != NULL ? (v->effective_at.line ? &v->effective_at : &v->name_at) : NULL,
                "%s version \"%s\" is new and its effective date %s is in the past: compiled, it applies at once, and "
                "what was decided before cannot be told apart from it (date it today or later)",
                j->name, j->version, date);
    }
}

/* ---- locations moving between jurisdictions ---- */

typedef struct move {
    const char *from, *to;
    const dom_jurisdiction_t *to_version; /* where to point */
    dom_jurisdiction_source_t source;
    char key[8]; /* the first location, to find the entry */
    dom__text_t list;
    size_t n;
} move_t;

/* The applies_to entry of the version that claims the location (by its own code, or the first group). */
static const dom_mark_t *entry_at(const lint_t *l, const dom_jurisdiction_t *j, const char *code,
                                  dom_jurisdiction_source_t source)
{
    const dom__rules_version_src_t *v = version_src(l, j);
    if (v == NULL)
        return NULL;
    for (size_t e = 0; e < v->n_entries; ++e)
        if (strcmp(v->entries[e].text, code) == 0)
            return &v->entries[e].at;
    if (source == DOM_JSRC_GROUP)
        for (size_t e = 0; e < v->n_entries; ++e) {
            const char *t = v->entries[e].text;
            if (!dom__iso_country_known(t, strlen(t)) && !(strlen(t) >= 4 && t[2] == '-'))
                return &v->entries[e].at;
        }
    return &v->name_at;
}

static int add_move(move_t **moves, size_t *n, const dom_decision_t *a, const dom_decision_t *b, const char *code)
{
    const char *from = name_of(a), *to = name_of(b);
    for (size_t i = 0; i < *n; ++i) {
        move_t *m = &(*moves)[i];
        if (strcmp(m->from, from) == 0 && strcmp(m->to, to) == 0 && m->to_version == b->jurisdiction) {
            for (const char *p = m->list.base; p != NULL && (p = strstr(p, code)) != NULL; p += strlen(code))
                if ((p == m->list.base || p[-1] == ' ') && (p[strlen(code)] == ',' || p[strlen(code)] == '\0'))
                    return 0; /* already listed (the same move at a later instant) */
            dom__text_printf(&m->list, ", %s", code);
            ++m->n;
            return 0;
        }
    }
    move_t *nm = realloc(*moves, (*n + 1) * sizeof(*nm));
    if (nm == NULL)
        return -1;
    *moves = nm;
    move_t *m = &nm[(*n)++];
    memset(m, 0, sizeof(*m));
    m->from = from;
    m->to = to;
    m->to_version = b->jurisdiction;
    m->source = b->source;
    snprintf(m->key, sizeof(m->key), "%s", code);
    dom__text_printf(&m->list, "%s", code);
    m->n = 1;
    return 0;
}

static void compare_location(const lint_t *l, const char *country, const char *sub, int64_t t, move_t **moves,
                             size_t *n)
{
    dom_decision_t a, b;
    if (locate(l->o->baseline, country, sub, t, &a) != 0 || locate(l->rs, country, sub, t, &b) != 0)
        return;
    if (strcmp(name_of(&a), name_of(&b)) != 0)
        add_move(moves, n, &a, &b, sub != NULL ? sub : country);
}

static void lint_moves(lint_t *l)
{
    move_t *moves = NULL;
    size_t n = 0;
    /* now, and once every version of either set is in force */
    int64_t times[2] = {l->o->now, l->o->now};
    const dom_ruleset_t *sets[2] = {l->rs, l->o->baseline};
    for (int s = 0; s < 2; ++s)
        for (size_t i = 0; i < sets[s]->n_jurisdictions; ++i)
            if (sets[s]->jurisdictions[i].effective > times[1])
                times[1] = sets[s]->jurisdictions[i].effective;
    for (int t = 0; t < (times[1] != times[0] ? 2 : 1); ++t) {
        char cc[3];
        for (size_t i = 0; dom__iso_country_at(i, cc) == 0; ++i)
            compare_location(l, cc, NULL, times[t], &moves, &n);
        for (int s = 0; s < 2; ++s)
            for (size_t i = 0; i < sets[s]->n_claims; ++i)
                if (sets[s]->claims[i].level == DOM_LEVEL_SUBDIVISION) {
                    char country[3] = {sets[s]->claims[i].key[0], sets[s]->claims[i].key[1], 0};
                    compare_location(l, country, sets[s]->claims[i].key, times[t], &moves, &n);
                }
    }
    for (size_t i = 0; i < n; ++i) {
        move_t *m = &moves[i];
        finding(l, m->to_version, entry_at(l, m->to_version, m->key, m->source),
                "%zu location%s move%s from %s to %s: %s", m->n, m->n == 1 ? "" : "s", m->n == 1 ? "s" : "", m->from,
                m->to, m->list.base);
        dom__text_free(&m->list);
    }
    free(moves);
}

/* ---- countries only the DEFAULT claims ---- */

static void lint_default_only(lint_t *l)
{
    dom__text_t list = {0};
    size_t n = 0;
    char cc[3], what[256] = "";
    const dom_jurisdiction_t *def = NULL;
    for (size_t i = 0; dom__iso_country_at(i, cc) == 0; ++i) {
        dom_decision_t d;
        if (locate(l->rs, cc, NULL, l->o->now, &d) != 0 || d.source != DOM_JSRC_DEFAULT)
            continue;
        dom__text_printf(&list, "%s%s", n ? ", " : "", cc);
        if (n++ == 0) {
            def = d.jurisdiction;
            if (d.action == DOM_ACTION_ROUTE)
                snprintf(what, sizeof(what), "%s %s: routed", d.class_name, dom_access_name(d.access));
            else
                snprintf(what, sizeof(what), "%s %s: %d %s", d.class_name, dom_access_name(d.access), d.status,
                         d.reason);
        }
    }
    if (n != 0) {
        const dom__rules_version_src_t *v = version_src(l, def);
        finding(l, def, v != NULL ? &v->name_at : NULL,
                "%zu countr%s claimed by no jurisdiction and get%s %s, the rule for unknown locations (%s): %s", n,
                n == 1 ? "y is" : "ies are", n == 1 ? "s" : "", def != NULL ? def->name : "the default", what,
                list.base);
    }
    dom__text_free(&list);
}

/* ---- subdivisions the geo database never gives ---- */

static void lint_geo(lint_t *l)
{
    const dom_geo_metadata_t *meta = dom_geo_metadata(l->o->geo);
    for (size_t i = 0; i < l->rs->n_claims; ++i) {
        const dom_rule_claim_t *c = &l->rs->claims[i];
        if (c->level != DOM_LEVEL_SUBDIVISION || (i > 0 && l->rs->claims[i - 1].level == DOM_LEVEL_SUBDIVISION &&
                                                  strcmp(l->rs->claims[i - 1].key, c->key) == 0))
            continue;
        if (dom_geo_resolves_subdivision(l->o->geo, c->key) != 0)
            continue;
        /* what a request from there gets: the same location without its subdivision */
        char country[3] = {c->key[0], c->key[1], 0}, instead[160] = "no jurisdiction";
        dom_decision_t d;
        if (locate(l->rs, country, NULL, l->o->now, &d) == 0 && d.jurisdiction != NULL) {
            int n = snprintf(instead, sizeof(instead), "%s %s (by %s %s)", d.jurisdiction->name,
                             d.jurisdiction->version, dom_jurisdiction_source_name(d.source), country);
            /* an unknown subdivision is decided jointly with every subdivision rule of the country */
            for (size_t k = 0; k < d.n_joined && n > 0 && (size_t)n < sizeof(instead); ++k)
                n += snprintf(instead + n, sizeof(instead) - (size_t)n, " intersected with %s %s", d.joined[k]->name,
                              d.joined[k]->version);
        }
        const dom_jurisdiction_t *j = &l->rs->jurisdictions[c->jurisdiction];
        finding(l, j, entry_at(l, j, c->key, DOM_JSRC_SUBDIVISION),
                "%s never decides alone: the geo database %s%s%s%s never gives subdivision %s; such requests get %s "
                "instead",
                c->key, l->o->geo_name != NULL ? l->o->geo_name : dom_geo_path(l->o->geo),
                meta->database_type[0] ? " (" : "", meta->database_type, meta->database_type[0] ? ")" : "", c->key,
                instead);
    }
}

size_t dom_rules_lint(const dom_ruleset_t *rs, const dom_rules_sources_t *sources, const dom_lint_options_t *opts,
                      dom_diag_t *diag)
{
    lint_t l = {rs, sources, opts, diag, 0};
    if (rs == NULL || opts == NULL)
        return 0;
    if (opts->baseline != NULL) {
        lint_past_versions(&l);
        lint_moves(&l);
    }
    lint_default_only(&l);
    if (opts->geo != NULL)
        lint_geo(&l);
    return l.found;
}

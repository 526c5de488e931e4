/*
 * `rules plan`: two rule sets decide one grid of requests through dom_decide, and what
 * differs is grouped. See include/domicile/plan.h and docs/internals/rules.md ("Plan").
 *
 * Nothing here decides: every cell is a dom_request_facts_t handed to dom_decide(), the
 * function the gateway runs per request, so a plan cannot disagree with serve or explain.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "domicile/consent.h"
#include "domicile/plan.h"
#include "domicile/rules_record.h"
#include "util/json.h"
#include "util/text.h"
#include "util/time.h"
#include "util/validate.h"

/* ---- the request of a class: a path the set classifies so, and a method of the access ---- */

typedef struct probe {
    const char *method;
    const char *path;
} probe_t;

static const char *const write_methods[] = {"PUT", "POST", "PATCH", "DELETE", "MKCOL", NULL};
static const char *const read_methods[] = {"GET", "HEAD", "OPTIONS", NULL};

static int class_index(const dom_ruleset_t *rs, const char *name)
{
    for (size_t i = 0; i < rs->n_classes; ++i)
        if (strcmp(rs->classes[i].name, name) == 0)
            return (int)i;
    return -1;
}

static int classifies(const dom_ruleset_t *rs, const char *method, const char *path, int want, dom_access_t access)
{
    size_t ml = strlen(method);
    int is_read = dom_ruleset_method_is_read(rs, method, ml);
    if (is_read != (access == DOM_ACCESS_READ))
        return 0;
    return dom_ruleset_classify(rs, method, ml, path, strlen(path)) == (size_t)want;
}

/* Finds a request the set classifies as class `name` with this access; 0, or -1 when none exists. */
static int find_probe(const dom_ruleset_t *rs, const char *name, dom_access_t access, probe_t *out)
{
    int c = class_index(rs, name);
    if (c < 0)
        return -1;
    const char *const *methods = access == DOM_ACCESS_WRITE ? write_methods : read_methods;
    for (size_t r = 0; r < rs->n_routes; ++r) {
        if (rs->routes[r].class_index != (size_t)c)
            continue;
        for (const char *const *m = methods; *m != NULL; ++m)
            if (classifies(rs, *m, rs->routes[r].prefix, c, access)) {
                *out = (probe_t){*m, rs->routes[r].prefix};
                return 0;
            }
    }
    /* the default class: a path no route claims */
    static const char *const paths[] = {"/", "/.domicile-plan", "/.domicile-plan/x", NULL};
    for (const char *const *p = paths; *p != NULL; ++p)
        for (const char *const *m = methods; *m != NULL; ++m)
            if (classifies(rs, *m, *p, c, access)) {
                *out = (probe_t){*m, *p};
                return 0;
            }
    return -1;
}

/* ---- one request through the decision core ---- */

static void facts_for(dom_request_facts_t *f, const probe_t *p, const char *country, const char *subdivision,
                      const char *pin, const char *override_jurisdiction, const char *consent, int64_t now)
{
    memset(f, 0, sizeof(*f));
    f->method = p->method;
    f->method_len = strlen(p->method);
    f->path = p->path;
    f->path_len = strlen(p->path);
    f->now = now;
    if (consent != NULL) { /* consent given for the class: as an unsigned claim, which needs no key to decide */
        f->consent_mode = DOM_CONSENT_MODE_HEADER;
        f->consent = consent;
        f->consent_len = strlen(consent);
    }
    if (pin != NULL) {
        f->pin_present = 1;
        f->pin_status = DOM_OK;
        snprintf(f->pin.jurisdiction, sizeof(f->pin.jurisdiction), "%s", pin);
    }
    int have_country = country != NULL && country[0] != '\0';
    int have_override = override_jurisdiction != NULL && override_jurisdiction[0] != '\0';
    if (have_country || have_override) {
        f->have_peer = 1;
        f->location_known = 1;
        f->geo.source = have_override ? DOM_GEO_OVERRIDE : DOM_GEO_DATABASE;
        if (have_country)
            memcpy(f->geo.country, country, strnlen(country, sizeof(f->geo.country) - 1));
        if (subdivision != NULL)
            snprintf(f->geo.subdivision, sizeof(f->geo.subdivision), "%s", subdivision);
        if (have_override)
            snprintf(f->geo.jurisdiction, sizeof(f->geo.jurisdiction), "%s", override_jurisdiction);
    }
}

int dom_plan_decide(const dom_ruleset_t *rs, const char *country, const char *subdivision, const char *pin,
                    const char *class_name, dom_access_t access, int consent, int64_t now, dom_decision_t *out)
{
    probe_t p;
    if (find_probe(rs, class_name, access, &p) != 0)
        return DOM_ENOTFOUND;
    dom_request_facts_t f;
    facts_for(&f, &p, country, subdivision, pin, NULL, consent ? "*" : NULL, now);
    return dom_decide(rs, &f, out);
}

static void outcome_of(const dom_ruleset_t *rs, const dom_decision_t *d, dom_plan_outcome_t *o)
{
    memset(o, 0, sizeof(*o));
    o->jurisdiction = d->jurisdiction != NULL ? d->jurisdiction->name : NULL;
    o->version = d->jurisdiction != NULL ? d->jurisdiction->version : NULL;
    o->class_name = d->class_name;
    o->action = d->action;
    o->status = d->status;
    o->reason = d->reason;
    o->anonymize = d->anonymize;
    for (size_t i = 0; i < d->n_regions && i < DOM_MAX_REGIONS; ++i)
        o->regions[o->n_regions++] = d->regions[i] < rs->n_regions ? rs->regions[d->regions[i]].name : "?";
}

static int str_eq(const char *a, const char *b)
{
    return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int outcome_eq(const dom_plan_outcome_t *a, const dom_plan_outcome_t *b)
{
    if (!str_eq(a->jurisdiction, b->jurisdiction) || !str_eq(a->version, b->version) ||
        !str_eq(a->class_name, b->class_name) || a->action != b->action || a->status != b->status ||
        !str_eq(a->reason, b->reason) || a->anonymize != b->anonymize || a->n_regions != b->n_regions)
        return 0;
    for (size_t i = 0; i < a->n_regions; ++i)
        if (!str_eq(a->regions[i], b->regions[i]))
            return 0;
    return 1;
}

void dom_plan_outcome_words(const dom_plan_outcome_t *o, char *buf, size_t len)
{
    size_t n = 0;
    buf[0] = '\0';
    if (o->action != DOM_ACTION_ROUTE) {
        snprintf(buf, len, "%d %s", o->status, o->reason != NULL ? o->reason : "?");
        return;
    }
    for (size_t i = 0; i < o->n_regions && n < len; ++i)
        n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", o->regions[i]);
    if (o->anonymize && n < len)
        snprintf(buf + n, len - n, " (anonymized)");
}

const char *dom_plan_subject_name(const dom_plan_subject_t *s, char *buf, size_t len)
{
    switch (s->kind) {
    case DOM_PLAN_UNKNOWN:
        snprintf(buf, len, "unknown location");
        break;
    case DOM_PLAN_PIN:
        snprintf(buf, len, "pin %s", s->code);
        break;
    default:
        snprintf(buf, len, "%s", s->code);
        break;
    }
    return buf;
}

/* ---- the grid ---- */

static int add_subject(dom_plan_t *p, size_t *cap, dom_plan_subject_kind_t kind, const char *code)
{
    for (size_t i = 0; i < p->n_subjects; ++i)
        if (p->subjects[i].kind == kind && strcmp(p->subjects[i].code, code) == 0)
            return 0;
    dom_plan_subject_t *n = dom__array_grow(p->subjects, p->n_subjects, cap, 512, sizeof(*n));
    if (n == NULL)
        return DOM_ENOMEM;
    p->subjects = n;
    dom_plan_subject_t *s = &p->subjects[p->n_subjects++];
    s->kind = kind;
    snprintf(s->code, sizeof(s->code), "%s", code);
    return 0;
}

static int subject_cmp(const void *a, const void *b)
{
    const dom_plan_subject_t *x = a, *y = b;
    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return strcmp(x->code, y->code);
}

static int build_subjects(dom_plan_t *p)
{
    size_t cap = 0;
    char cc[3];
    int ret = 0;
    for (size_t i = 0; dom__iso_country_at(i, cc) == 0 && ret == 0; ++i)
        ret = add_subject(p, &cap, DOM_PLAN_COUNTRY, cc);
    const dom_ruleset_t *sets[2] = {p->from, p->to};
    for (int s = 0; s < 2 && ret == 0; ++s) {
        for (size_t i = 0; i < sets[s]->n_claims && ret == 0; ++i) {
            const dom_rule_claim_t *c = &sets[s]->claims[i];
            /* a country a rule names that the ISO table lacks still gets its row */
            ret = add_subject(p, &cap, c->level == DOM_LEVEL_SUBDIVISION ? DOM_PLAN_SUBDIVISION : DOM_PLAN_COUNTRY,
                              c->key);
        }
    }
    if (ret == 0)
        ret = add_subject(p, &cap, DOM_PLAN_UNKNOWN, "");
    for (int s = 0; s < 2 && ret == 0; ++s)
        for (size_t i = 0; i < sets[s]->n_jurisdictions && ret == 0; ++i)
            if (!sets[s]->jurisdictions[i].is_default)
                ret = add_subject(p, &cap, DOM_PLAN_PIN, sets[s]->jurisdictions[i].name);
    if (ret != 0)
        return ret;
    qsort(p->subjects, p->n_subjects, sizeof(p->subjects[0]), subject_cmp);
    for (size_t i = 0; i < p->n_subjects; ++i) {
        p->n_countries += p->subjects[i].kind == DOM_PLAN_COUNTRY;
        p->n_subdivisions += p->subjects[i].kind == DOM_PLAN_SUBDIVISION;
        p->n_pins += p->subjects[i].kind == DOM_PLAN_PIN;
    }
    return 0;
}

static int build_classes(dom_plan_t *p)
{
    p->class_names = calloc(p->to->n_classes + p->from->n_classes + 1, sizeof(*p->class_names));
    if (p->class_names == NULL)
        return DOM_ENOMEM;
    for (size_t i = 0; i < p->to->n_classes; ++i)
        p->class_names[p->n_classes++] = p->to->classes[i].name;
    for (size_t i = 0; i < p->from->n_classes; ++i)
        if (class_index(p->to, p->from->classes[i].name) < 0)
            p->class_names[p->n_classes++] = p->from->classes[i].name;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int build_instants(dom_plan_t *p, const dom_plan_options_t *o)
{
    size_t n = 1 + p->from->n_jurisdictions + p->to->n_jurisdictions;
    if ((p->instants = malloc(n * sizeof(*p->instants))) == NULL)
        return DOM_ENOMEM;
    p->instants[p->n_instants++] = o->start;
    const dom_ruleset_t *sets[2] = {p->from, p->to};
    for (int s = 0; s < 2; ++s)
        for (size_t i = 0; i < sets[s]->n_jurisdictions; ++i) {
            int64_t t = sets[s]->jurisdictions[i].effective;
            if (t > o->start && t <= o->end)
                p->instants[p->n_instants++] = t;
        }
    qsort(p->instants, p->n_instants, sizeof(p->instants[0]), cmp_i64);
    size_t k = 0;
    for (size_t i = 0; i < p->n_instants; ++i)
        if (k == 0 || p->instants[k - 1] != p->instants[i])
            p->instants[k++] = p->instants[i];
    p->n_instants = k;
    return 0;
}

/* One differing cell, before grouping. */
typedef struct diff {
    size_t instant, subject, klass;
    dom_access_t access;
    int consent; /* 1 given, 0 absent */
    dom_plan_outcome_t from, to;
} diff_t;

typedef struct diffs {
    diff_t *v;
    size_t n, cap;
} diffs_t;

static int push_diff(diffs_t *d, const diff_t *x)
{
    diff_t *n = dom__array_grow(d->v, d->n, &d->cap, 256, sizeof(*n));
    if (n == NULL)
        return DOM_ENOMEM;
    d->v = n;
    d->v[d->n++] = *x;
    return 0;
}

static int add_change_subject(dom_plan_change_t *c, size_t subject)
{
    if (c->n_subjects != 0 && c->subjects[c->n_subjects - 1] == subject)
        return 0;
    if ((c->n_subjects & (c->n_subjects - 1)) == 0) {
        size_t *n = realloc(c->subjects, (c->n_subjects ? c->n_subjects * 2 : 4) * sizeof(*n));
        if (n == NULL)
            return DOM_ENOMEM;
        c->subjects = n;
    }
    c->subjects[c->n_subjects++] = subject;
    return 0;
}

/* Groups differing cells: one change per (instant, class, access, consent, from, to), subjects in grid order. */
static int group(dom_plan_t *p, diffs_t *d)
{
    size_t cap = 0;
    for (size_t i = 0; i < d->n; ++i) {
        diff_t *x = &d->v[i];
        dom_plan_consent_t consent = x->consent ? DOM_PLAN_CONSENT_GIVEN : DOM_PLAN_CONSENT_ABSENT;
        /* cells come in consent pairs (absent, then given) for the same subject, class and access */
        if (!x->consent && i + 1 < d->n) {
            diff_t *y = &d->v[i + 1];
            if (y->consent && y->instant == x->instant && y->subject == x->subject && y->klass == x->klass &&
                y->access == x->access && outcome_eq(&x->from, &y->from) && outcome_eq(&x->to, &y->to)) {
                consent = DOM_PLAN_CONSENT_ANY;
                ++i;
            }
        }
        dom_plan_change_t *c = NULL;
        for (size_t k = p->n_changes; k-- > 0;) {
            dom_plan_change_t *g = &p->changes[k];
            if (g->instant != x->instant)
                break;
            if (g->class_name == p->class_names[x->klass] && g->access == x->access && g->consent == consent &&
                outcome_eq(&g->from, &x->from) && outcome_eq(&g->to, &x->to)) {
                c = g;
                break;
            }
        }
        if (c == NULL) {
            dom_plan_change_t *n = dom__array_grow(p->changes, p->n_changes, &cap, 32, sizeof(*n));
            if (n == NULL)
                return DOM_ENOMEM;
            p->changes = n;
            c = &p->changes[p->n_changes++];
            memset(c, 0, sizeof(*c));
            c->instant = x->instant;
            c->class_name = p->class_names[x->klass];
            c->access = x->access;
            c->consent = consent;
            c->from = x->from;
            c->to = x->to;
            dom_plan_outcome_t same = x->to;
            same.version = x->from.version;
            c->version_only = outcome_eq(&x->from, &same);
        }
        if (add_change_subject(c, x->subject) != 0)
            return DOM_ENOMEM;
    }
    return 0;
}

/* Locations whose jurisdiction changes, and whether every cell of the location moves the same way. */
static int find_moves(dom_plan_t *p, const diffs_t *d, size_t cells_per_subject)
{
    size_t cap = 0;
    for (size_t i = 0; i < d->n;) {
        size_t j = i;
        while (j < d->n && d->v[j].instant == d->v[i].instant && d->v[j].subject == d->v[i].subject)
            ++j;
        const dom_plan_subject_t *s = &p->subjects[d->v[i].subject];
        const diff_t *first = NULL;
        size_t same = 0;
        for (size_t k = i; k < j; ++k) {
            const diff_t *x = &d->v[k];
            if (str_eq(x->from.jurisdiction, x->to.jurisdiction))
                continue;
            if (first == NULL)
                first = x;
            same += str_eq(x->from.jurisdiction, first->from.jurisdiction) &&
                    str_eq(x->to.jurisdiction, first->to.jurisdiction);
        }
        if (first != NULL && s->kind != DOM_PLAN_PIN) {
            dom_plan_move_t *n = dom__array_grow(p->moves, p->n_moves, &cap, 16, sizeof(*n));
            if (n == NULL)
                return DOM_ENOMEM;
            p->moves = n;
            p->moves[p->n_moves++] = (dom_plan_move_t){first->instant, first->subject, first->from.jurisdiction,
                                                       first->to.jurisdiction, same == cells_per_subject};
        }
        i = j;
    }
    return 0;
}

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int dom_plan_compute(const dom_ruleset_t *from, const dom_ruleset_t *to, const dom_plan_options_t *opts,
                     dom_plan_t **out)
{
    int ret = DOM_ENOMEM;
    diffs_t d = {0};
    probe_t *probes = NULL;
    int *have = NULL;
    *out = NULL;
    if (from == NULL || to == NULL || opts == NULL)
        return DOM_EINVAL;
    double t0 = mono_seconds();
    dom_plan_t *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return DOM_ENOMEM;
    dom_ruleset_retain((dom_ruleset_t *)from);
    dom_ruleset_retain((dom_ruleset_t *)to);
    p->from = from;
    p->to = to;
    if ((ret = build_subjects(p)) != 0 || (ret = build_classes(p)) != 0 || (ret = build_instants(p, opts)) != 0)
        goto cleanup;
    ret = DOM_ENOMEM;
    if ((p->replay = calloc(p->n_instants, sizeof(*p->replay))) == NULL)
        goto cleanup;
    /* one request per class and access, the same for both sets: the live set's if it knows the class */
    probes = calloc(p->n_classes * 2, sizeof(*probes));
    have = calloc(p->n_classes * 2, sizeof(*have));
    if (probes == NULL || have == NULL)
        goto cleanup;
    for (size_t c = 0; c < p->n_classes; ++c)
        for (int a = 0; a < 2; ++a)
            have[c * 2 + a] = find_probe(from, p->class_names[c], (dom_access_t)a, &probes[c * 2 + a]) == 0 ||
                              find_probe(to, p->class_names[c], (dom_access_t)a, &probes[c * 2 + a]) == 0;

    size_t per_subject = 0;
    for (size_t c = 0; c < p->n_classes * 2; ++c)
        per_subject += have[c] ? 2 : 0;
    for (size_t t = 0; t < p->n_instants; ++t) {
        for (size_t s = 0; s < p->n_subjects; ++s) {
            const dom_plan_subject_t *subj = &p->subjects[s];
            char country[3] = "";
            const char *sub = NULL, *pin = NULL;
            if (subj->kind == DOM_PLAN_COUNTRY)
                memcpy(country, subj->code, strnlen(subj->code, 2));
            else if (subj->kind == DOM_PLAN_SUBDIVISION) {
                memcpy(country, subj->code, 2);
                sub = subj->code;
            } else if (subj->kind == DOM_PLAN_PIN)
                pin = subj->code;
            for (size_t c = 0; c < p->n_classes; ++c)
                for (int a = 0; a < 2; ++a) {
                    if (!have[c * 2 + a])
                        continue;
                    for (int consent = 0; consent < 2; ++consent) {
                        dom_request_facts_t f;
                        dom_decision_t da, db;
                        facts_for(&f, &probes[c * 2 + a], country, sub, pin, NULL, consent ? "*" : NULL,
                                  p->instants[t]);
                        dom_decide(from, &f, &da);
                        dom_decide(to, &f, &db);
                        ++p->cells;
                        diff_t x = {t, s, c, (dom_access_t)a, consent, {0}, {0}};
                        outcome_of(from, &da, &x.from);
                        outcome_of(to, &db, &x.to);
                        if (!outcome_eq(&x.from, &x.to) && push_diff(&d, &x) != 0)
                            goto cleanup;
                    }
                }
        }
    }
    if ((ret = group(p, &d)) != 0 || (ret = find_moves(p, &d, per_subject)) != 0)
        goto cleanup;
    p->seconds = mono_seconds() - t0;
    *out = p;
    p = NULL;
    ret = 0;

cleanup:
    free(d.v);
    free(probes);
    free(have);
    dom_plan_free(p);
    return ret;
}

int dom_plan_changed(const dom_plan_t *plan)
{
    return plan != NULL && (plan->n_changes != 0 || plan->n_moves != 0);
}

int dom_plan_add_lint(dom_plan_t *p, const char *file, size_t line, size_t col, int is_error, const char *message)
{
    dom_plan_lint_t *n = realloc(p->lints, (p->n_lints + 1) * sizeof(*n));
    if (n == NULL)
        return DOM_ENOMEM;
    p->lints = n;
    dom_plan_lint_t *l = &p->lints[p->n_lints];
    l->file = strdup(file != NULL ? file : "");
    l->message = strdup(message != NULL ? message : "");
    l->line = line;
    l->col = col;
    l->is_error = is_error;
    if (l->file == NULL || l->message == NULL) {
        free(l->file);
        free(l->message);
        return DOM_ENOMEM;
    }
    ++p->n_lints;
    return 0;
}

/* ---- replay ---- */

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * Whether an audit line's consent basis covered its class: a genuine, valid token whose scopes name it, or (in
 * header mode) a claim naming it. Expired, revoked and forged tokens are no consent.
 */
static int line_consented(json_t *consent, const char *cls)
{
    const char *status = json_is_object(consent) ? jstr(consent, "status") : NULL;
    const char *scopes = json_is_object(consent) ? jstr(consent, "scopes") : NULL;
    if (status == NULL || scopes == NULL || cls == NULL)
        return 0;
    if (strcmp(status, "consent_claimed") == 0)
        return dom_consent_allows(scopes, strlen(scopes), cls);
    dom_consent_t token = {.n_scopes = 0};
    if (strcmp(status, "consent_valid") != 0 || strlen(scopes) >= sizeof(token.scopes))
        return 0;
    memcpy(token.scopes, scopes, strlen(scopes) + 1);
    return dom_consent_covers(&token, cls, strlen(cls));
}

/* Reasons decided before any rule: the request, its path or its pin. The rules cannot change them. */
static int decided_before_rules(const char *reason)
{
    static const char *const before[] = {"header_fields_too_large",
                                         "invalid_header",
                                         "invalid_method",
                                         "method_not_allowed",
                                         "non_canonical_path",
                                         "pin_malformed",
                                         "pin_unknown_key",
                                         "pin_bad_signature",
                                         "pin_expired",
                                         "invalid_destination",
                                         NULL};
    for (const char *const *r = before; reason != NULL && *r != NULL; ++r)
        if (strcmp(reason, *r) == 0)
            return 1;
    return 0;
}

static int count_change(dom_plan_replay_count_t *rc, const char *key)
{
    ++rc->differ;
    for (size_t i = 0; i < rc->n_change_keys; ++i)
        if (strcmp(rc->change_keys[i], key) == 0) {
            ++rc->change_n[i];
            return 0;
        }
    char **k = realloc(rc->change_keys, (rc->n_change_keys + 1) * sizeof(*k));
    if (k == NULL)
        return DOM_ENOMEM;
    rc->change_keys = k;
    uint64_t *n = realloc(rc->change_n, (rc->n_change_keys + 1) * sizeof(*n));
    if (n == NULL)
        return DOM_ENOMEM;
    rc->change_n = n;
    if ((rc->change_keys[rc->n_change_keys] = strdup(key)) == NULL)
        return DOM_ENOMEM;
    rc->change_n[rc->n_change_keys++] = 1;
    return 0;
}

static void outcome_key(const dom_plan_outcome_t *o, char *buf, size_t len)
{
    char words[512];
    dom_plan_outcome_words(o, words, sizeof(words));
    snprintf(buf, len, "%s %s: %s", o->jurisdiction != NULL ? o->jurisdiction : "(none)",
             o->version != NULL ? o->version : "", words);
}

int dom_plan_replay_line(dom_plan_t *p, const char *line, size_t len)
{
    json_error_t err;
    ++p->replay_lines;
    while (len != 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        --len;
    if (len == 0) {
        --p->replay_lines; /* blank lines are not lines of the log */
        return 0;
    }
    json_t *o = json_loadb(line, len, 0, &err);
    if (json_is_object(o) && json_object_get(o, "type") != NULL) {
        /* the log's own lines (the hash chain's open and checkpoint lines): not requests */
        --p->replay_lines;
        json_decref(o);
        return 0;
    }
    const char *method = o != NULL ? jstr(o, "method") : NULL, *cls = o != NULL ? jstr(o, "class") : NULL;
    if (o == NULL || !json_is_object(o) || method == NULL || json_object_get(o, "reason") == NULL) {
        ++p->replay_malformed;
        json_decref(o);
        return 0;
    }
    const char *reason = jstr(o, "reason"), *country = jstr(o, "country"), *sub = jstr(o, "subdivision");
    const char *source = jstr(o, "jurisdiction_source"), *jur = jstr(o, "jurisdiction"), *pin = jstr(o, "pin");
    json_t *consent = json_object_get(o, "consent");
    int ret = 0;
    probe_t probe;
    int k = -1;
    if (cls != NULL)
        for (size_t c = 0; c < p->n_classes; ++c)
            if (strcmp(p->class_names[c], cls) == 0)
                k = (int)c;
    int is_move = strcmp(method, "MOVE") == 0 || strcmp(method, "COPY") == 0;
    dom_access_t access =
        dom_ruleset_method_is_read(p->from, method, strlen(method)) ? DOM_ACCESS_READ : DOM_ACCESS_WRITE;
    const char *override = NULL;
    if (source != NULL && strcmp(source, "override") == 0 && (country == NULL || country[0] == '\0'))
        override = jur;
    if (decided_before_rules(reason) || is_move || k < 0 ||
        (find_probe(p->from, cls, access, &probe) != 0 && find_probe(p->to, cls, access, &probe) != 0) ||
        (source != NULL && strcmp(source, "override") == 0 && (country == NULL || country[0] == '\0') &&
         override == NULL)) {
        ++p->replay_skipped;
        json_decref(o);
        return 0;
    }
    /* the line's own method where it classifies the same way (PROPFIND stays PROPFIND) */
    int ci = class_index(p->from, cls);
    if (ci >= 0 && classifies(p->from, method, probe.path, ci, access))
        probe.method = method;
    ++p->replay_decided;
    for (size_t t = 0; t < p->n_instants && ret == 0; ++t) {
        dom_request_facts_t f;
        dom_decision_t da, db;
        facts_for(&f, &probe, country, sub, pin, override, line_consented(consent, cls) ? cls : NULL, p->instants[t]);
        dom_decide(p->from, &f, &da);
        dom_decide(p->to, &f, &db);
        dom_plan_outcome_t a, b;
        outcome_of(p->from, &da, &a);
        outcome_of(p->to, &db, &b);
        if (outcome_eq(&a, &b))
            continue;
        b.version = a.version;
        if (outcome_eq(&a, &b)) {
            ++p->replay[t].version_only;
            continue;
        }
        b.version = db.jurisdiction != NULL ? db.jurisdiction->version : NULL;
        char ka[600], kb[600], key[1300];
        outcome_key(&a, ka, sizeof(ka));
        outcome_key(&b, kb, sizeof(kb));
        snprintf(key, sizeof(key), "%s, %s: %s → %s", cls, dom_access_name(access), ka, kb);
        ret = count_change(&p->replay[t], key);
    }
    json_decref(o);
    return ret;
}

/* ---- JSON ---- */

static void json_outcome(dom__json_t *w, const dom_plan_outcome_t *o)
{
    dom__json_lit(w, "{\"jurisdiction\":");
    dom__json_str(w, o->jurisdiction);
    dom__json_lit(w, ",\"version\":");
    dom__json_str(w, o->version);
    dom__json_lit(w, ",\"class\":");
    dom__json_str(w, o->class_name);
    dom__json_lit(w, ",\"action\":");
    dom__json_str(w, dom_action_name(o->action));
    dom__json_rawf(w, ",\"status\":%d,\"reason\":", o->action == DOM_ACTION_ROUTE ? 200 : o->status);
    dom__json_str(w, o->reason);
    dom__json_lit(w, ",\"regions\":[");
    for (size_t i = 0; i < o->n_regions; ++i) {
        dom__json_lit(w, i ? "," : "");
        dom__json_str(w, o->regions[i]);
    }
    dom__json_lit(w, "],\"anonymize\":");
    dom__json_bool(w, o->anonymize);
    dom__json_lit(w, "}");
}

static void json_time(dom__json_t *w, int64_t t)
{
    char buf[40];
    dom__json_str(w, dom__time_format(t, DOM__TIME_FMT_ISO, buf, sizeof(buf)));
}

static void json_set(dom__json_t *w, const char *name, const dom_ruleset_t *rs)
{
    dom__json_lit(w, "{\"path\":");
    dom__json_str(w, name);
    dom__json_lit(w, ",\"source_hash\":");
    dom__json_str(w, rs->source_hash);
    dom__json_rawf(w, ",\"generation\":%llu,\"jurisdictions\":%zu}", (unsigned long long)rs->generation,
                   rs->n_jurisdictions);
}

static const char *const consent_names[] = {"any", "given", "absent"};

/* Is a region of `to` new compared with `from` (a reject has none)? */
static int region_new(const dom_plan_change_t *c, size_t i)
{
    if (c->from.action != DOM_ACTION_ROUTE)
        return 1;
    for (size_t k = 0; k < c->from.n_regions; ++k)
        if (str_eq(c->from.regions[k], c->to.regions[i]))
            return 0;
    return 1;
}

void dom_plan_write_json(const dom_plan_t *p, const char *from_name, const char *to_name, FILE *fp)
{
    dom__json_t json = dom__json_file(fp), *w = &json;
    char name[128];
    dom__json_lit(w, "{\"format\":\"domicile-plan/1\",\"changed\":");
    dom__json_bool(w, dom_plan_changed(p));
    dom__json_lit(w, ",\n\"from\":");
    json_set(w, from_name, p->from);
    dom__json_lit(w, ",\n\"to\":");
    json_set(w, to_name, p->to);
    dom__json_lit(w, ",\n\"instants\":[");
    for (size_t t = 0; t < p->n_instants; ++t) {
        dom__json_lit(w, t ? "," : "");
        json_time(w, p->instants[t]);
    }
    dom__json_rawf(w,
                   "],\n\"grid\":{\"countries\":%zu,\"subdivisions\":%zu,\"unknown_location\":1,\"pins\":%zu,"
                   "\"subjects\":%zu,\"classes\":[",
                   p->n_countries, p->n_subdivisions, p->n_pins, p->n_subjects);
    for (size_t c = 0; c < p->n_classes; ++c) {
        dom__json_lit(w, c ? "," : "");
        dom__json_str(w, p->class_names[c]);
    }
    dom__json_rawf(w,
                   "],\"accesses\":[\"read\",\"write\"],\"consent\":[\"absent\",\"given\"],\"instants\":%zu,"
                   "\"requests\":%llu,\"decisions\":%llu,\"seconds\":",
                   p->n_instants, (unsigned long long)p->cells, (unsigned long long)p->cells * 2);
    dom__json_f64(w, p->seconds, 3);
    dom__json_lit(w, "},\n\"changes\":[");
    for (size_t i = 0; i < p->n_changes; ++i) {
        const dom_plan_change_t *c = &p->changes[i];
        dom__json_lit(w, i ? ",\n" : "\n");
        dom__json_lit(w, "{\"at\":");
        json_time(w, p->instants[c->instant]);
        dom__json_lit(w, ",\"class\":");
        dom__json_str(w, c->class_name);
        dom__json_rawf(w, ",\"access\":\"%s\",\"consent\":\"%s\",\"from\":", dom_access_name(c->access),
                       consent_names[c->consent]);
        json_outcome(w, &c->from);
        dom__json_lit(w, ",\"to\":");
        json_outcome(w, &c->to);
        dom__json_lit(w, ",\"version_only\":");
        dom__json_bool(w, c->version_only);
        dom__json_lit(w, ",\"new_refusal\":");
        dom__json_bool(w, c->from.action == DOM_ACTION_ROUTE && c->to.action != DOM_ACTION_ROUTE);
        dom__json_lit(w, ",\"new_regions\":[");
        for (size_t r = 0, n = 0; c->to.action == DOM_ACTION_ROUTE && r < c->to.n_regions; ++r)
            if (region_new(c, r)) {
                dom__json_lit(w, n++ ? "," : "");
                dom__json_str(w, c->to.regions[r]);
            }
        dom__json_lit(w, "],\"subjects\":[");
        for (size_t s = 0; s < c->n_subjects; ++s) {
            dom__json_lit(w, s ? "," : "");
            dom__json_str(w, dom_plan_subject_name(&p->subjects[c->subjects[s]], name, sizeof(name)));
        }
        dom__json_lit(w, "]}");
    }
    dom__json_lit(w, "],\n\"moves\":[");
    for (size_t i = 0; i < p->n_moves; ++i) {
        const dom_plan_move_t *m = &p->moves[i];
        dom__json_lit(w, i ? "," : "");
        dom__json_lit(w, "{\"at\":");
        json_time(w, p->instants[m->instant]);
        dom__json_lit(w, ",\"subject\":");
        dom__json_str(w, dom_plan_subject_name(&p->subjects[m->subject], name, sizeof(name)));
        dom__json_lit(w, ",\"from\":");
        dom__json_str(w, m->from);
        dom__json_lit(w, ",\"to\":");
        dom__json_str(w, m->to);
        dom__json_lit(w, ",\"every_class\":");
        dom__json_bool(w, m->every_class);
        dom__json_lit(w, "}");
    }
    dom__json_lit(w, "],\n\"lints\":[");
    for (size_t i = 0; i < p->n_lints; ++i) {
        const dom_plan_lint_t *l = &p->lints[i];
        dom__json_lit(w, i ? "," : "");
        dom__json_lit(w, "{\"file\":");
        dom__json_str(w, l->file);
        dom__json_rawf(w, ",\"line\":%zu,\"col\":%zu,\"severity\":\"%s\",\"message\":", l->line, l->col,
                       l->is_error ? "error" : "warning");
        dom__json_str(w, l->message);
        dom__json_lit(w, "}");
    }
    dom__json_rawf(w, "],\n\"replay\":{\"lines\":%llu,\"decided\":%llu,\"skipped\":%llu,\"malformed\":%llu,\"at\":[",
                   (unsigned long long)p->replay_lines, (unsigned long long)p->replay_decided,
                   (unsigned long long)p->replay_skipped, (unsigned long long)p->replay_malformed);
    for (size_t t = 0; t < p->n_instants; ++t) {
        const dom_plan_replay_count_t *rc = &p->replay[t];
        dom__json_lit(w, t ? "," : "");
        dom__json_lit(w, "{\"at\":");
        json_time(w, p->instants[t]);
        dom__json_rawf(w, ",\"differ\":%llu,\"version_only\":%llu,\"changes\":[", (unsigned long long)rc->differ,
                       (unsigned long long)rc->version_only);
        for (size_t k = 0; k < rc->n_change_keys; ++k) {
            dom__json_lit(w, k ? "," : "");
            dom__json_lit(w, "{\"change\":");
            dom__json_str(w, rc->change_keys[k]);
            dom__json_rawf(w, ",\"requests\":%llu}", (unsigned long long)rc->change_n[k]);
        }
        dom__json_lit(w, "]}");
    }
    dom__json_lit(w, "]}}\n");
}

void dom_plan_free(dom_plan_t *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n_changes; ++i)
        free(p->changes[i].subjects);
    free(p->changes);
    free(p->moves);
    for (size_t i = 0; i < p->n_lints; ++i) {
        free(p->lints[i].file);
        free(p->lints[i].message);
    }
    free(p->lints);
    for (size_t t = 0; p->replay != NULL && t < p->n_instants; ++t) {
        for (size_t k = 0; k < p->replay[t].n_change_keys; ++k)
            free(p->replay[t].change_keys[k]);
        free(p->replay[t].change_keys);
        free(p->replay[t].change_n);
    }
    free(p->replay);
    free(p->instants);
    free(p->subjects);
    free(p->class_names);
    dom_ruleset_release((dom_ruleset_t *)p->from);
    dom_ruleset_release((dom_ruleset_t *)p->to);
    free(p);
}

/*
 * `domicile rules plan`: what a rule change would decide differently (include/domicile/plan.h
 * computes, this file reads the inputs and prints), and the semantic lints that `rules check`,
 * `rules plan` and `serve --check` share (include/domicile/lint.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "cli/cli.h"
#include "domicile/lint.h"
#include "domicile/plan.h"
#include "domicile/rules_record.h"
#include "util/time.h"

static void usage(FILE *fp)
{
    fputs("usage: domicile rules plan --from LIVE.mdb|DIR --to DIR [--at DATE | --window FROM..TO]\n"
          "                           [--replay AUDIT.log...] [--json] [--strict]\n"
          "\n"
          "Decides, under the live rules (--from) and the changed ones (--to), every ISO 3166 country,\n"
          "every subdivision a rule names, the unknown location and a user pinned to each jurisdiction,\n"
          "for every class, read and write, consent given and absent, at the start and at every\n"
          "effective date in the window (default: from now on), and prints what changes.\n"
          "\n"
          "  --at DATE           decide at this moment only (" DOM__TIME_ANY_WORDS ")\n"
          "  --window FROM..TO   decide at FROM and at every effective date up to TO\n"
          "  --replay FILE...    re-decide the requests of audit logs under both sets (- reads stdin)\n"
          "  --json              one JSON object (format domicile-plan/1, see docs/rules.md)\n"
          "  --strict            lints are errors (exit 1)\n"
          "\n"
          "Exit status: 0 nothing changes, 2 something changes, 1 an error.\n",
          fp);
}

/* ---- loading a rule set: a compiled database or a directory of rule files ---- */

int dom__cli_load_rules(const char *path, dom_diag_t *diag, dom_ruleset_t **out, dom_rules_sources_t **sources)
{
    struct stat st;
    char err[512] = "";
    *out = NULL;
    if (sources != NULL)
        *sources = NULL;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        int ret = sources != NULL ? dom_rules_parse_dir_sources(path, diag, out, sources)
                                  : dom_rules_parse_dir(path, diag, out);
        if (ret != 0) {
            fprintf(stderr, "%s: %s\n", path,
                    ret == DOM_ERULES ? "the rule files have errors (above)" : dom_strerror(ret));
            return -1;
        }
        return 0;
    }
    dom_rules_store_t *store = NULL;
    int ret = dom_rules_store_open(path, &store, err, sizeof(err));
    if (ret != 0) {
        fprintf(stderr, "%s (%s)\n", err[0] ? err : path, dom_strerror(ret));
        return -1;
    }
    *out = dom_rules_store_current(store);
    dom_rules_store_close(store);
    return 0;
}

void dom__cli_diag_discard(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message)
{
    (void)ctx, (void)file, (void)line, (void)col, (void)is_warning, (void)message;
}

size_t dom__cli_lint_compiled(const dom_ruleset_t *rs, const dom_lint_options_t *opts, dom_diag_t *diag)
{
    /* A compiled set keeps each version's source file, not its positions: when the directory it was compiled
     * from still holds the same files (the same sha256), the positions are taken from there. */
    dom_ruleset_t *again = NULL;
    dom_rules_sources_t *src = NULL;
    char *copy = rs->n_jurisdictions != 0 && rs->jurisdictions[0].source_file != NULL
                     ? strdup(rs->jurisdictions[0].source_file)
                     : NULL;
    struct stat st;
    if (copy != NULL && stat(dirname(copy), &st) == 0 && S_ISDIR(st.st_mode)) {
        dom_diag_t none = {.report = dom__cli_diag_discard};
        if (dom_rules_parse_dir_sources(copy, &none, &again, &src) != 0 ||
            strcmp(again->source_hash, rs->source_hash) != 0) {
            dom_ruleset_release(again);
            dom_rules_sources_free(src);
            again = NULL;
            src = NULL;
        }
    }
    free(copy);
    size_t found = dom_rules_lint(again != NULL ? again : rs, src, opts, diag);
    dom_rules_sources_free(src);
    dom_ruleset_release(again);
    return found;
}

/* ---- plan ---- */

typedef struct plan_cli {
    dom_plan_t *plan;
    int json;
} plan_cli_t;

/* Lints go to stderr as file:line:col and into the plan (its JSON carries them). */
static void keep_lint(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message)
{
    plan_cli_t *c = ctx;
    if (line != 0)
        fprintf(stderr, "%s:%zu:%zu: %s%s\n", file, line, col, is_warning ? "warning: " : "", message);
    else
        fprintf(stderr, "%s: %s%s\n", file, is_warning ? "warning: " : "", message);
    if (c->plan != NULL)
        dom_plan_add_lint(c->plan, file, line, col, !is_warning, message);
}

static int parse_time(const char *what, const char *s, size_t len, int64_t *out)
{
    if (dom__time_parse(s, len, DOM__TIME_ANY, out) == 0)
        return 0;
    fprintf(stderr, "domicile rules plan: %s wants %s, got \"%.*s\"\n", what, DOM__TIME_ANY_WORDS, (int)len, s);
    return -1;
}

static const char *date_of(int64_t t, char *buf, size_t len)
{
    return dom__time_format(t, t % 86400 == 0 ? DOM__TIME_FMT_DATE : DOM__TIME_FMT_ISO, buf, len);
}

static void print_subjects(FILE *fp, const dom_plan_t *p, const size_t *subjects, size_t n)
{
    size_t kinds[4] = {0};
    char name[128];
    for (size_t i = 0; i < n; ++i)
        ++kinds[p->subjects[subjects[i]].kind];
    static const char *const one[] = {"country", "subdivision", "the unknown location", "pinned user"};
    static const char *const many[] = {"countries", "subdivisions", "", "pinned users"};
    const char *sep = "";
    for (int k = 0; k < 4; ++k) {
        if (kinds[k] == 0)
            continue;
        if (k == DOM_PLAN_UNKNOWN)
            fprintf(fp, "%s%s", sep, one[k]);
        else
            fprintf(fp, "%s%zu %s", sep, kinds[k], kinds[k] == 1 ? one[k] : many[k]);
        sep = ", ";
    }
    fputs(": ", fp);
    for (size_t i = 0; i < n; ++i)
        fprintf(fp, "%s%s", i ? ", " : "", dom_plan_subject_name(&p->subjects[subjects[i]], name, sizeof(name)));
}

static void print_change(FILE *fp, const dom_plan_t *p, const dom_plan_change_t *c)
{
    char a[512], b[512];
    const dom_plan_outcome_t *f = &c->from, *t = &c->to;
    const char *fj = f->jurisdiction != NULL ? f->jurisdiction : "(none)";
    const char *tj = t->jurisdiction != NULL ? t->jurisdiction : "(none)";
    if (strcmp(fj, tj) != 0)
        fprintf(fp, "%s %s → %s %s", fj, f->version ? f->version : "", tj, t->version ? t->version : "");
    else if (f->version != NULL && t->version != NULL && strcmp(f->version, t->version) != 0)
        fprintf(fp, "%s %s → %s", fj, f->version, t->version);
    else
        fprintf(fp, "%s %s", fj, f->version ? f->version : "");
    if (f->class_name != NULL && t->class_name != NULL && strcmp(f->class_name, t->class_name) != 0)
        fprintf(fp, ", %s → %s", f->class_name, t->class_name);
    else
        fprintf(fp, ", %s", c->class_name);
    dom_plan_outcome_words(f, a, sizeof(a));
    dom_plan_outcome_words(t, b, sizeof(b));
    fprintf(fp, ", %s%s: %s → %s — ", dom_access_name(c->access),
            c->consent == DOM_PLAN_CONSENT_GIVEN    ? " with consent"
            : c->consent == DOM_PLAN_CONSENT_ABSENT ? " without consent"
                                                    : "",
            a, b);
    print_subjects(fp, p, c->subjects, c->n_subjects);
    fputc('\n', fp);
}

static int same_change(const dom_plan_change_t *a, const dom_plan_change_t *b)
{
    char x[512], y[512];
    if (a->class_name != b->class_name || a->access != b->access || a->consent != b->consent ||
        a->n_subjects != b->n_subjects || memcmp(a->subjects, b->subjects, a->n_subjects * sizeof(size_t)) != 0)
        return 0;
    dom_plan_outcome_words(&a->from, x, sizeof(x));
    dom_plan_outcome_words(&b->from, y, sizeof(y));
    if (strcmp(x, y) != 0)
        return 0;
    dom_plan_outcome_words(&a->to, x, sizeof(x));
    dom_plan_outcome_words(&b->to, y, sizeof(y));
    return strcmp(x, y) == 0 && a->from.jurisdiction == b->from.jurisdiction &&
           a->to.jurisdiction == b->to.jurisdiction;
}

/* A change at instant t that was already there, the same, at t - 1. */
static int carried(const dom_plan_t *p, const dom_plan_change_t *c)
{
    if (c->instant == 0)
        return 0;
    for (size_t i = 0; i < p->n_changes; ++i)
        if (p->changes[i].instant == c->instant - 1 && same_change(&p->changes[i], c))
            return 1;
    return 0;
}

/* Decisions that stay the same under a new version of the same jurisdiction: one line per version and subjects. */
static void print_version_only(FILE *fp, const dom_plan_t *p, size_t t)
{
    int header = 0;
    char *done = calloc(p->n_changes + 1, 1);
    if (done == NULL)
        return;
    for (size_t i = 0; i < p->n_changes; ++i) {
        const dom_plan_change_t *c = &p->changes[i];
        if (c->instant != t || !c->version_only || done[i] || carried(p, c))
            continue;
        if (!header++)
            fputs("  the same decisions under a new version:\n", fp);
        fprintf(fp, "    %s %s → %s:", c->from.jurisdiction, c->from.version, c->to.version);
        const char *sep = " ";
        for (size_t k = i; k < p->n_changes; ++k) {
            const dom_plan_change_t *o = &p->changes[k];
            if (o->instant != t || !o->version_only || done[k] || carried(p, o) ||
                o->from.jurisdiction != c->from.jurisdiction || o->from.version != c->from.version ||
                o->to.version != c->to.version || o->n_subjects != c->n_subjects ||
                memcmp(o->subjects, c->subjects, c->n_subjects * sizeof(size_t)) != 0)
                continue;
            done[k] = 1;
            fprintf(fp, "%s%s %s%s", sep, o->class_name, dom_access_name(o->access),
                    o->consent == DOM_PLAN_CONSENT_GIVEN    ? " with consent"
                    : o->consent == DOM_PLAN_CONSENT_ABSENT ? " without consent"
                                                            : "");
            sep = ", ";
        }
        fputs(" — ", fp);
        print_subjects(fp, p, c->subjects, c->n_subjects);
        fputc('\n', fp);
    }
    free(done);
}

static void print_words(FILE *fp, const dom_plan_t *p, const char *from, const char *to)
{
    char date[40], name[128];
    fprintf(fp, "plan: %s (sha256 %.12s) → %s (sha256 %.12s)\n", from, p->from->source_hash, to, p->to->source_hash);
    fprintf(fp,
            "grid: %zu countries, %zu subdivisions, the unknown location, %zu pinned users × %zu classes × read, write "
            "× consent given, absent × %zu instant%s = %" PRIu64 " requests, each decided under both rule sets in "
            "%.3f s\n",
            p->n_countries, p->n_subdivisions, p->n_pins, p->n_classes, p->n_instants, p->n_instants == 1 ? "" : "s",
            p->cells, p->seconds);
    for (size_t t = 0; t < p->n_instants; ++t) {
        size_t n = 0, shown = 0, moves = 0, same = 0;
        for (size_t i = 0; i < p->n_changes; ++i)
            if (p->changes[i].instant == t) {
                ++n;
                same += p->changes[i].version_only;
                shown += !carried(p, &p->changes[i]);
            }
        for (size_t i = 0; i < p->n_moves; ++i)
            moves += p->moves[i].instant == t;
        fprintf(fp, "\n%s %s", t == 0 ? "at" : "from", date_of(p->instants[t], date, sizeof(date)));
        if (t != 0)
            fputs(" (an effective date)", fp);
        if (n == 0) {
            fputs(": no change\n", fp);
            continue;
        }
        if (shown == 0) {
            fprintf(fp, ": the same %zu change%s as before\n", n, n == 1 ? "" : "s");
            continue;
        }
        fprintf(fp, ": %zu changed decision%s, %zu the same under a new version%s\n", n - same,
                n - same == 1 ? "" : "s", same, shown != n ? " (those listed above already are left out)" : "");
        if (moves != 0) {
            fputs("  locations moving between jurisdictions:\n", fp);
            for (size_t i = 0; i < p->n_moves; ++i) {
                const dom_plan_move_t *m = &p->moves[i];
                if (m->instant == t)
                    fprintf(fp, "    %s: %s → %s (%s)\n",
                            dom_plan_subject_name(&p->subjects[m->subject], name, sizeof(name)),
                            m->from ? m->from : "(none)", m->to ? m->to : "(none)",
                            m->every_class ? "every class" : "some classes");
            }
        }
        int header = 0;
        for (size_t i = 0; i < p->n_changes; ++i)
            if (p->changes[i].instant == t && !carried(p, &p->changes[i]) && !p->changes[i].version_only) {
                if (!header++)
                    fputs("  changed decisions:\n", fp);
                fputs("    ", fp);
                print_change(fp, p, &p->changes[i]);
            }
        print_version_only(fp, p, t);
        header = 0;
        for (size_t i = 0; i < p->n_changes; ++i) {
            const dom_plan_change_t *c = &p->changes[i];
            if (c->instant != t || carried(p, c) || c->from.action != DOM_ACTION_ROUTE ||
                c->to.action == DOM_ACTION_ROUTE)
                continue;
            if (!header++)
                fputs("  new refusals:\n", fp);
            fputs("    ", fp);
            print_change(fp, p, c);
        }
        header = 0;
        for (size_t i = 0; i < p->n_changes; ++i) {
            const dom_plan_change_t *c = &p->changes[i];
            if (c->instant != t || carried(p, c) || c->to.action != DOM_ACTION_ROUTE)
                continue;
            for (size_t r = 0; r < c->to.n_regions; ++r) {
                int is_new = c->from.action != DOM_ACTION_ROUTE;
                if (!is_new) {
                    is_new = 1;
                    for (size_t k = 0; k < c->from.n_regions; ++k)
                        is_new &= strcmp(c->from.regions[k], c->to.regions[r]) != 0;
                }
                if (!is_new)
                    continue;
                if (!header++)
                    fputs("  routes to new regions:\n", fp);
                fprintf(fp, "    %s: %s, %s — ", c->to.regions[r], c->class_name, dom_access_name(c->access));
                print_subjects(fp, p, c->subjects, c->n_subjects);
                fputc('\n', fp);
            }
        }
    }
    if (p->replay_lines != 0) {
        fprintf(fp,
                "\nreplay: %" PRIu64 " audit lines, %" PRIu64 " re-decided, %" PRIu64
                " skipped (decided before the rules, MOVE/COPY, unknown class), %" PRIu64 " malformed\n",
                p->replay_lines, p->replay_decided, p->replay_skipped, p->replay_malformed);
        for (size_t t = 0; t < p->n_instants; ++t) {
            const dom_plan_replay_count_t *rc = &p->replay[t];
            fprintf(fp, "  %s %s: %" PRIu64 " request%s would be decided differently", t == 0 ? "at" : "from",
                    date_of(p->instants[t], date, sizeof(date)), rc->differ, rc->differ == 1 ? "" : "s");
            if (rc->version_only != 0)
                fprintf(fp, "; %" PRIu64 " the same, by a new version", rc->version_only);
            fputc('\n', fp);
            for (size_t k = 0; k < rc->n_change_keys; ++k)
                fprintf(fp, "    %6" PRIu64 "  %s\n", rc->change_n[k], rc->change_keys[k]);
        }
    }
    size_t distinct = 0, same = 0, moves = 0;
    for (size_t i = 0; i < p->n_changes; ++i)
        if (!carried(p, &p->changes[i])) {
            distinct += !p->changes[i].version_only;
            same += p->changes[i].version_only;
        }
    for (size_t i = 0; i < p->n_moves; ++i)
        moves += p->moves[i].instant == 0 || i == 0 || p->moves[i - 1].subject != p->moves[i].subject;
    if (dom_plan_changed(p))
        fprintf(fp, "\nplan: %zu changed decision%s, %zu the same under a new version, %zu location%s moving\n",
                distinct, distinct == 1 ? "" : "s", same, moves, moves == 1 ? "" : "s");
    else
        fputs("\nplan: no change: the new rules decide every request of the grid as the live ones do\n", fp);
}

static int replay_file(dom_plan_t *plan, const char *path)
{
    FILE *fp = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (fp == NULL) {
        fprintf(stderr, "domicile rules plan: cannot read %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int ret = 0;
    while (ret == 0 && (n = getline(&line, &cap, fp)) >= 0)
        ret = dom_plan_replay_line(plan, line, (size_t)n);
    if (ferror(fp)) {
        fprintf(stderr, "domicile rules plan: error reading %s\n", path);
        ret = -1;
    }
    free(line);
    if (fp != stdin)
        fclose(fp);
    return ret;
}

int dom_cli_rules_plan(int argc, char **argv)
{
    const char *from = NULL, *to = NULL, *at = NULL, *window = NULL;
    const char **replays = calloc((size_t)argc + 1, sizeof(*replays));
    size_t n_replays = 0;
    int json = 0, strict = 0, status = 1;
    dom_ruleset_t *a = NULL, *b = NULL;
    dom_rules_sources_t *src = NULL;
    plan_cli_t cli = {NULL, 0};
    if (replays == NULL)
        return 1;
    int after_replay = 0; /* --replay A.log B.log: the files after --replay, up to the next option */
    for (int i = 1; i < argc; ++i) {
        const char *arg = argv[i];
        if (after_replay && arg[0] != '-') {
            replays[n_replays++] = arg;
            continue;
        }
        after_replay = 0;
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            usage(stdout);
            status = 0;
            goto out;
        }
        if (strcmp(arg, "--json") == 0) {
            json = 1;
            continue;
        }
        if (strcmp(arg, "--strict") == 0) {
            strict = 1;
            continue;
        }
        const char **slot = strcmp(arg, "--from") == 0     ? &from
                            : strcmp(arg, "--to") == 0     ? &to
                            : strcmp(arg, "--at") == 0     ? &at
                            : strcmp(arg, "--window") == 0 ? &window
                            : strcmp(arg, "--replay") == 0 ? &replays[n_replays]
                                                           : NULL;
        if (slot == NULL || i + 1 >= argc) {
            fprintf(stderr, "domicile rules plan: %s \"%s\"\n",
                    slot == NULL ? "unknown option" : "a value is needed after", arg);
            usage(stderr);
            goto out;
        }
        *slot = argv[++i];
        after_replay = slot == &replays[n_replays];
        n_replays += after_replay;
    }
    if (from == NULL || to == NULL || (at != NULL && window != NULL)) {
        fputs(from == NULL || to == NULL ? "domicile rules plan: --from and --to are required\n"
                                         : "domicile rules plan: --at or --window, not both\n",
              stderr);
        usage(stderr);
        goto out;
    }
    dom_plan_options_t opts = {(int64_t)time(NULL), INT64_MAX};
    if (at != NULL) {
        if (parse_time("--at", at, strlen(at), &opts.start) != 0)
            goto out;
        opts.end = opts.start;
    } else if (window != NULL) {
        const char *dots = strstr(window, "..");
        if (dots == NULL) {
            fprintf(stderr, "domicile rules plan: --window wants FROM..TO, got \"%s\"\n", window);
            goto out;
        }
        if (parse_time("--window", window, (size_t)(dots - window), &opts.start) != 0 ||
            parse_time("--window", dots + 2, strlen(dots + 2), &opts.end) != 0)
            goto out;
        if (opts.end < opts.start) {
            fprintf(stderr, "domicile rules plan: --window %s ends before it starts\n", window);
            goto out;
        }
    }
    dom_diag_t diag = {0};
    if (dom__cli_load_rules(from, &diag, &a, NULL) != 0)
        goto out;
    diag = (dom_diag_t){0};
    if (dom__cli_load_rules(to, &diag, &b, &src) != 0)
        goto out;
    int ret = dom_plan_compute(a, b, &opts, &cli.plan);
    if (ret != 0) {
        fprintf(stderr, "domicile rules plan: %s\n", dom_strerror(ret));
        goto out;
    }
    dom_diag_t lints = {keep_lint, &cli, 0, 0};
    dom_lint_options_t lo = {.now = opts.start, .baseline = a, .strict = strict};
    dom_rules_lint(b, src, &lo, &lints);
    for (size_t i = 0; i < n_replays; ++i)
        if (replay_file(cli.plan, replays[i]) != 0)
            goto out;
    if (json)
        dom_plan_write_json(cli.plan, from, to, stdout);
    else
        print_words(stdout, cli.plan, from, to);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "domicile rules plan: cannot write: %s\n", strerror(errno));
        goto out;
    }
    status = lints.errors != 0 ? 1 : dom_plan_changed(cli.plan) ? 2 : 0;

out:
    dom_plan_free(cli.plan);
    dom_rules_sources_free(src);
    dom_ruleset_release(a);
    dom_ruleset_release(b);
    free(replays);
    return status;
}

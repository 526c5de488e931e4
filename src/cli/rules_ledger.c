/*
 * `domicile rules history FILE [JURISDICTION]` and `domicile rules show FILE --hash H`:
 * the ledger a compiled database keeps of every version ever compiled into it
 * (docs/rules.md "Versions and the ledger", docs/internals/ledger.md).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"
#include "domicile/ledger.h"
#include "util/json.h"
#include "util/time.h"

static int open_ledger(const char *path, dom_ledger_t **ledger)
{
    char err[512];
    int ret = dom_ledger_open(path, ledger, err, sizeof(err));
    if (ret != 0)
        fprintf(stderr, "%s (%s)\n", err, dom_strerror(ret));
    return ret;
}

/* Is version v in compile c's set? */
static int in_compile(const dom_ledger_compile_t *c, const dom_ledger_version_t *v)
{
    for (size_t i = 0; i < c->n_live; ++i)
        if (strcmp(c->live[i], v->hash) == 0)
            return 1;
    return 0;
}

/* The compiles that held v, as ranges of seq ("1-3, 5"). */
static void live_ranges(FILE *fp, const dom_ledger_t *l, const dom_ledger_version_t *v)
{
    size_t n = dom_ledger_n_compiles(l);
    int any = 0;
    for (size_t i = 0; i < n; ++i) {
        const dom_ledger_compile_t *c = dom_ledger_compile_at(l, i);
        if (!in_compile(c, v))
            continue;
        size_t k = i;
        while (k + 1 < n && in_compile(dom_ledger_compile_at(l, k + 1), v))
            ++k;
        const dom_ledger_compile_t *last = dom_ledger_compile_at(l, k);
        if (k == i)
            fprintf(fp, "%s%" PRIu64, any ? ", " : "", c->seq);
        else
            fprintf(fp, "%s%" PRIu64 "-%" PRIu64, any ? ", " : "", c->seq, last->seq);
        any = 1;
        i = k;
    }
    if (!any)
        fputs("none", fp);
}

static void history_text(FILE *fp, const char *path, const dom_ledger_t *l, const char *only)
{
    char when[32];
    size_t nc = dom_ledger_n_compiles(l), nv = dom_ledger_n_versions(l);
    fprintf(fp, "%s: %zu compile%s, %zu version%s in the ledger\n", path, nc, nc == 1 ? "" : "s", nv,
            nv == 1 ? "" : "s");
    for (size_t i = 0; i < nc; ++i) {
        const dom_ledger_compile_t *c = dom_ledger_compile_at(l, i);
        dom__time_format(c->compiled_at, "%Y-%m-%d %H:%M:%S UTC", when, sizeof(when));
        fprintf(fp, "compile %" PRIu64 "  %s  ruleset %s  generation %" PRIu64 "%s%s  (%zu versions)%s\n", c->seq, when,
                c->ruleset, c->generation, c->source_rev[0] ? "  rev " : "", c->source_rev, c->n_live,
                i + 1 == nc ? "  <- last" : "");
    }
    for (size_t i = 0; i < nv; ++i) {
        const dom_ledger_version_t *v = dom_ledger_version_at(l, i);
        if (only != NULL && strcmp(only, v->jurisdiction) != 0)
            continue;
        dom__time_format(v->first_compiled, "%Y-%m-%d %H:%M:%S UTC", when, sizeof(when));
        fprintf(fp, "\n%s %s  effective %s, %s%s\n  sha256 %s\n  from %s (sha256 %s)\n  first compiled %s%s%s\n",
                v->jurisdiction, v->version, v->effective, v->mode, v->is_default ? ", default" : "", v->hash,
                v->source_file, v->source_sha256[0] ? v->source_sha256 : "?", when, v->source_rev[0] ? ", rev " : "",
                v->source_rev);
        fputs("  live in compiles ", fp);
        live_ranges(fp, l, v);
        fputc('\n', fp);
    }
}

static void history_json(FILE *fp, const dom_ledger_t *l, const char *only)
{
    char when[32];
    dom__json_t json = dom__json_file(fp), *w = &json;
    dom__json_lit(w, "{\"compiles\":[");
    for (size_t i = 0; i < dom_ledger_n_compiles(l); ++i) {
        const dom_ledger_compile_t *c = dom_ledger_compile_at(l, i);
        dom__time_format(c->compiled_at, DOM__TIME_FMT_ISO, when, sizeof(when));
        dom__json_rawf(w, "%s{\"seq\":%" PRIu64 ",\"compiled_at\":", i ? "," : "", c->seq);
        dom__json_str(w, when);
        dom__json_rawf(w, ",\"generation\":%" PRIu64 ",\"source_rev\":", c->generation);
        dom__json_str(w, c->source_rev);
        dom__json_lit(w, ",\"ruleset\":");
        dom__json_str(w, c->ruleset);
        dom__json_lit(w, ",\"source_hash\":");
        dom__json_str(w, c->source_hash);
        dom__json_lit(w, ",\"sources\":[");
        int first = 1;
        for (const char *p = c->sources; *p != '\0';) {
            const char *eol = strchr(p, '\n'), *sp = memchr(p, ' ', eol != NULL ? (size_t)(eol - p) : strlen(p));
            size_t len = eol != NULL ? (size_t)(eol - p) : strlen(p);
            if (sp != NULL) {
                char name[512];
                snprintf(name, sizeof(name), "%.*s", (int)(sp - p), p);
                dom__json_lit(w, first ? "{\"name\":" : ",{\"name\":");
                dom__json_str(w, name);
                snprintf(name, sizeof(name), "%.*s", (int)(len - (size_t)(sp - p) - 1), sp + 1);
                dom__json_lit(w, ",\"sha256\":");
                dom__json_str(w, name);
                dom__json_lit(w, "}");
                first = 0;
            }
            p += len + (eol != NULL);
        }
        dom__json_lit(w, "],\"live\":[");
        for (size_t k = 0; k < c->n_live; ++k) {
            dom__json_lit(w, k ? "," : "");
            dom__json_str(w, c->live[k]);
        }
        dom__json_lit(w, "]}");
    }
    dom__json_lit(w, "],\"versions\":[");
    int first = 1;
    for (size_t i = 0; i < dom_ledger_n_versions(l); ++i) {
        const dom_ledger_version_t *v = dom_ledger_version_at(l, i);
        if (only != NULL && strcmp(only, v->jurisdiction) != 0)
            continue;
        dom__json_lit(w, first ? "{\"hash\":" : ",{\"hash\":");
        first = 0;
        dom__json_str(w, v->hash);
        dom__json_lit(w, ",\"jurisdiction\":");
        dom__json_str(w, v->jurisdiction);
        dom__json_lit(w, ",\"version\":");
        dom__json_str(w, v->version);
        dom__json_lit(w, ",\"effective\":");
        dom__json_str(w, v->effective);
        dom__json_lit(w, ",\"mode\":");
        dom__json_str(w, v->mode);
        dom__json_lit(w, ",\"source_file\":");
        dom__json_str(w, v->source_file);
        dom__json_lit(w, ",\"source_sha256\":");
        dom__json_str(w, v->source_sha256);
        dom__time_format(v->first_compiled, DOM__TIME_FMT_ISO, when, sizeof(when));
        dom__json_lit(w, ",\"first_compiled\":");
        dom__json_str(w, when);
        dom__json_lit(w, ",\"source_rev\":");
        dom__json_str(w, v->source_rev);
        dom__json_lit(w, ",\"live_in_compiles\":[");
        int any = 0;
        for (size_t k = 0; k < dom_ledger_n_compiles(l); ++k) {
            const dom_ledger_compile_t *c = dom_ledger_compile_at(l, k);
            if (in_compile(c, v)) {
                dom__json_rawf(w, "%s%" PRIu64, any ? "," : "", c->seq);
                any = 1;
            }
        }
        dom__json_lit(w, "]}");
    }
    dom__json_lit(w, "]}\n");
}

int dom__cli_rules_history(int argc, char **argv)
{
    const char *path = NULL, *only = NULL;
    int json = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (argv[i][0] != '-' && path == NULL)
            path = argv[i];
        else if (argv[i][0] != '-' && only == NULL)
            only = argv[i];
        else
            return 2;
    }
    if (path == NULL)
        return 2;
    dom_ledger_t *l;
    if (open_ledger(path, &l) != 0)
        return 1;
    int found = only == NULL;
    for (size_t i = 0; !found && i < dom_ledger_n_versions(l); ++i)
        found = strcmp(dom_ledger_version_at(l, i)->jurisdiction, only) == 0;
    if (!found) {
        fprintf(stderr, "%s: no version of %s in the ledger\n", path, only);
        dom_ledger_close(l);
        return 1;
    }
    if (json)
        history_json(stdout, l, only);
    else
        history_text(stdout, path, l, only);
    dom_ledger_close(l);
    return 0;
}

int dom__cli_rules_show_hash(const char *path, const char *hash)
{
    dom_ledger_t *l;
    int err = 0;
    if (open_ledger(path, &l) != 0)
        return 1;
    const dom_ledger_version_t *v = dom_ledger_find(l, hash, &err);
    if (v == NULL) {
        if (err == DOM_EINVAL)
            fprintf(stderr,
                    "%s: %s is not a rule hash (64 hex digits, or a prefix of 8 or more that one version "
                    "has)\n",
                    path, hash);
        else
            fprintf(stderr, "%s: no version with sha256 %s in the ledger\n", path, hash);
        dom_ledger_close(l);
        return 1;
    }
    fwrite(v->text, 1, v->text_len, stdout);
    dom_ledger_close(l);
    return 0;
}

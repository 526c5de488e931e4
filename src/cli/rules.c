/*
 * `domicile rules check|compile|show`: the compliance team's and the operator's view of
 * the rule files (docs/rules.md). check and compile print every problem as
 * file:line:col: message on stderr; show prints what a compiled database holds.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli/cli.h"
#include "domicile/lint.h"
#include "domicile/ledger.h"
#include "domicile/rules.h"
#include "domicile/rules_record.h"
#include "util/json.h"
#include "util/time.h"

static void usage(FILE *fp)
{
    fputs("usage: domicile rules check DIR [--against LIVE.mdb|DIR] [--geo-db FILE] [--now DATE] [--strict]\n"
          "       domicile rules compile DIR -o FILE [--ledger-from LIVE] [--source-rev REV]\n"
          "       domicile rules show FILE [--json] | --hash HASH\n"
          "       domicile rules history FILE [JURISDICTION] [--json]\n"
          "       domicile rules plan --from LIVE.mdb|DIR --to DIR [options]   (rules plan --help)\n"
          "       domicile rules report --html OUT.html RULES [--geo-db FILE] [--plan-from LIVE] [--at DATE]\n"
          "\n"
          "  check     validate every rule file in DIR; problems go to stderr as file:line:col: message;\n"
          "            semantic lints are warnings (--strict: errors): countries only the default claims,\n"
          "            with --against the live set: new versions dated in the past, locations that move\n"
          "            to another jurisdiction; with --geo-db: subdivision rules the database never resolves\n"
          "  plan      what the rules in DIR would decide differently from the live ones (exit 0/2/1)\n"
          "  compile   check, then write the rule set into the LMDB file FILE in one transaction\n"
          "            (safe while a gateway reads it); nothing is written when check finds errors.\n"
          "            The ledger of every version ever compiled is carried forward from FILE (or from\n"
          "            --ledger-from LIVE when delivering by rename); a (jurisdiction, version) reused\n"
          "            with other content is an error. --source-rev records e.g. a git commit\n"
          "  show      print the version, the ruleset hash and every jurisdiction of a compiled database;\n"
          "            --hash HASH prints the exact canonical text of a version in the ledger\n"
          "  history   list the ledger: every compile and every version, and when each was live\n"
          "  report    write one self-contained HTML page: a world map by jurisdiction, every version and\n"
          "            its class x read/write regions (`domicile rules report --help`)\n",
          fp);
}

static size_t count_names(const dom_ruleset_t *rs)
{
    size_t n = 0;
    for (size_t i = 0; i < rs->n_jurisdictions; ++i)
        n += i == 0 || strcmp(rs->jurisdictions[i].name, rs->jurisdictions[i - 1].name) != 0;
    return n;
}

static void summary(FILE *fp, const char *what, const dom_ruleset_t *rs, const dom_diag_t *diag)
{
    fprintf(fp, "%s: %zu jurisdictions (%zu versions), %zu classes, %zu regions", what, count_names(rs),
            rs->n_jurisdictions, rs->n_classes, rs->n_regions);
    if (diag->warnings != 0)
        fprintf(fp, ", %zu warning%s", diag->warnings, diag->warnings == 1 ? "" : "s");
}

static int cmd_check(int argc, char **argv)
{
    const char *dir = NULL, *against = NULL, *geo_db = NULL, *now = NULL;
    int strict = 0;
    for (int i = 1; i < argc; ++i) {
        const char **slot = strcmp(argv[i], "--against") == 0  ? &against
                            : strcmp(argv[i], "--geo-db") == 0 ? &geo_db
                            : strcmp(argv[i], "--now") == 0    ? &now
                                                               : NULL;
        if (slot != NULL && i + 1 < argc) {
            *slot = argv[++i];
        } else if (strcmp(argv[i], "--strict") == 0) {
            strict = 1;
        } else if (argv[i][0] != '-' && dir == NULL) {
            dir = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (dir == NULL) {
        usage(stderr);
        return 2;
    }
    dom_lint_options_t lo = {.now = (int64_t)time(NULL), .strict = strict, .geo_name = geo_db};
    if (now != NULL && dom__time_parse(now, strlen(now), DOM__TIME_ANY, &lo.now) != 0) {
        fprintf(stderr, "domicile rules check: --now wants " DOM__TIME_ANY_WORDS ", got \"%s\"\n", now);
        return 2;
    }
    dom_diag_t diag;
    dom_ruleset_t *rs = NULL, *base = NULL;
    dom_rules_sources_t *src = NULL;
    dom_geo_t *geo = NULL;
    int status = 1;
    memset(&diag, 0, sizeof(diag));
    int ret = dom_rules_parse_dir_sources(dir, &diag, &rs, &src);
    if (ret != 0) {
        if (ret == DOM_ERULES)
            fprintf(stderr, "%s: %zu error%s\n", dir, diag.errors, diag.errors == 1 ? "" : "s");
        else
            fprintf(stderr, "%s: %s\n", dir, dom_strerror(ret));
        return 1;
    }
    if (against != NULL) {
        dom_diag_t quiet = {.report = dom__cli_diag_discard};
        if (dom__cli_load_rules(against, &quiet, &base, NULL) != 0)
            goto out;
        lo.baseline = base;
    }
    if (geo_db != NULL) {
        char err[512] = "";
        dom_geo_options_t go = {0};
        if (dom_geo_open(geo_db, &go, &geo, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err[0] ? err : geo_db);
            goto out;
        }
        lo.geo = geo;
    }
    dom_rules_lint(rs, src, &lo, &diag);
    summary(stdout, dir, rs, &diag);
    if (diag.errors != 0) {
        printf(": %zu lint%s (--strict)\n", diag.errors, diag.errors == 1 ? "" : "s");
        goto out;
    }
    fputs(": OK\n", stdout);
    status = 0;
out:
    dom_geo_release(geo);
    dom_rules_sources_free(src);
    dom_ruleset_release(base);
    dom_ruleset_release(rs);
    return status;
}

static int cmd_compile(int argc, char **argv)
{
    const char *dir = NULL, *out = NULL, *ledger_from = NULL, *source_rev = NULL;
    for (int i = 1; i < argc; ++i) {
        if ((strcmp(argv[i], "-o") == 0 || strcmp(argv[i], "--output") == 0) && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--ledger-from") == 0 && i + 1 < argc) {
            ledger_from = argv[++i];
        } else if (strcmp(argv[i], "--source-rev") == 0 && i + 1 < argc) {
            source_rev = argv[++i];
        } else if (argv[i][0] != '-' && dir == NULL) {
            dir = argv[i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (dir == NULL || out == NULL) {
        usage(stderr);
        return 2;
    }
    dom_diag_t diag;
    dom_ruleset_t *rs = NULL;
    dom_ledger_t *carried = NULL, *own = NULL;
    char err[512];
    int status = 1;
    /* the ledger to carry and check against: --ledger-from's, else the output's own (kept in place by the write) */
    if (ledger_from != NULL) {
        int r = dom_ledger_open(ledger_from, &carried, err, sizeof(err));
        if (r != 0) {
            fprintf(stderr, "--ledger-from %s (%s); %s: not written\n", err, dom_strerror(r), out);
            goto cleanup;
        }
    } else if (access(out, F_OK) == 0 && dom_ledger_open(out, &own, err, sizeof(err)) != 0) {
        own = NULL; /* not a rules database: the compile refuses it with its own message */
    }
    memset(&diag, 0, sizeof(diag));
    int ret = dom_rules_parse_dir_ledger(dir, carried != NULL ? carried : own, &diag, &rs);
    if (ret != 0) {
        if (ret == DOM_ERULES)
            fprintf(stderr, "%s: %zu error%s\n", dir, diag.errors, diag.errors == 1 ? "" : "s");
        else
            fprintf(stderr, "%s: %s\n", dir, dom_strerror(ret));
        fprintf(stderr, "%s: not written\n", out);
        goto cleanup;
    }
    uint64_t generation = 0;
    dom_rules_compile_options_t opts = {carried, source_rev};
    ret = dom_rules_compile_ledger(rs, out, &opts, &generation, err, sizeof(err));
    if (ret != 0) {
        fprintf(stderr, "%s: %s (%s); the database is unchanged\n", out, err, dom_strerror(ret));
        goto cleanup;
    }
    summary(stdout, dir, rs, &diag);
    printf("\n%s: generation %" PRIu64 ", ruleset %s, source sha256 %s\n", out, generation, rs->hash, rs->source_hash);
    status = 0;

cleanup:
    dom_ruleset_release(rs);
    dom_ledger_close(carried);
    dom_ledger_close(own);
    return status;
}

/* ---- show ---- */

/* Optional texts (a description, a law) stay "" rather than null in `show --json`. */
static void json_str(dom__json_t *j, const char *s)
{
    dom__json_str(j, s != NULL ? s : "");
}

static void date(int64_t t, char *out, size_t len, const char *fmt)
{
    dom__time_format(t, fmt, out, len);
}

static void region_list_json(dom__json_t *j, const dom_ruleset_t *rs, const uint16_t *r, size_t n)
{
    dom__json_lit(j, "[");
    for (size_t i = 0; i < n; ++i) {
        if (i)
            dom__json_lit(j, ",");
        json_str(j, r[i] < rs->n_regions ? rs->regions[r[i]].name : "?");
    }
    dom__json_lit(j, "]");
}

static void region_list_text(FILE *fp, const dom_ruleset_t *rs, const uint16_t *r, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        fprintf(fp, "%s%s", i ? ", " : "", r[i] < rs->n_regions ? rs->regions[r[i]].name : "?");
}

/* Is this version the one that applies now for its name? (newest enforce in effect) */
static int in_effect(const dom_ruleset_t *rs, const dom_jurisdiction_t *j, int64_t now)
{
    const dom_jurisdiction_t *enforce, *report;
    dom_ruleset_find(rs, j->name, now, &enforce, &report);
    return enforce == j || report == j;
}

/* A JSON class's body rule (domicile/body.h): "body", "identity_fields" (an array), "identity". */
static void class_body_json(dom__json_t *w, const dom_data_class_t *c)
{
    dom__json_rawf(w, ",\"body\":\"%s\",\"identity_fields\":[", dom_body_format_name(c->body));
    size_t k = 0;
    for (const char *p = c->identity_fields != NULL ? c->identity_fields : ""; *p != '\0'; ++k) {
        size_t n = strcspn(p, ",");
        dom__json_lit(w, k ? "," : "");
        dom__json_strn(w, p, n);
        p += n + (p[n] == ',');
    }
    dom__json_rawf(w, "],\"identity\":\"%s\"", dom_identity_action_name(c->identity));
}

static void class_body_text(FILE *fp, const dom_data_class_t *c)
{
    if (c->body != DOM_BODY_JSON)
        return;
    const char *ids = c->identity_fields != NULL ? c->identity_fields : "";
    fprintf(fp, "  %s: JSON bodies", c->name);
    if (ids[0] != '\0')
        fprintf(fp, "; identity fields %s when anonymized: %s", ids,
                c->identity == DOM_IDENTITY_SCRUB ? "scrub (removed)" : "refuse (422)");
    fprintf(fp, "\n");
}

static void show_json(FILE *fp, const dom_ruleset_t *rs, int64_t now)
{
    char buf[64];
    dom__json_t json = dom__json_file(fp), *w = &json;
    dom__json_rawf(w, "{\"generation\":%" PRIu64 ",\"ruleset\":", rs->generation);
    json_str(w, rs->hash);
    dom__json_lit(w, ",\"source_hash\":");
    json_str(w, rs->source_hash);
    date(rs->compiled_at, buf, sizeof(buf), DOM__TIME_FMT_ISO);
    dom__json_lit(w, ",\"compiled_at\":");
    json_str(w, buf);
    dom__json_lit(w, ",\"regions\":[");
    for (size_t i = 0; i < rs->n_regions; ++i) {
        dom__json_rawf(w, "%s{\"name\":", i ? "," : "");
        json_str(w, rs->regions[i].name);
        dom__json_lit(w, ",\"location\":");
        json_str(w, rs->regions[i].location);
        dom__json_lit(w, ",\"description\":");
        json_str(w, rs->regions[i].description);
        dom__json_lit(w, "}");
    }
    dom__json_lit(w, "],\"classes\":[");
    for (size_t i = 0; i < rs->n_classes; ++i) {
        dom__json_rawf(w, "%s{\"name\":", i ? "," : "");
        json_str(w, rs->classes[i].name);
        dom__json_lit(w, ",\"description\":");
        json_str(w, rs->classes[i].description);
        dom__json_rawf(w, ",\"personal\":%s", rs->classes[i].personal ? "true" : "false");
        class_body_json(w, &rs->classes[i]);
        dom__json_lit(w, "}");
    }
    dom__json_lit(w, "],\"default_class\":");
    json_str(w, rs->classes[rs->default_class].name);
    dom__json_lit(w, ",\"read_methods\":");
    json_str(w, rs->read_methods);
    dom__json_lit(w, ",\"routes\":[");
    for (size_t i = 0; i < rs->n_routes; ++i) {
        dom_methods_format(rs->routes[i].methods, buf, sizeof(buf));
        dom__json_rawf(w, "%s{\"prefix\":", i ? "," : "");
        json_str(w, rs->routes[i].prefix);
        dom__json_lit(w, ",\"methods\":");
        json_str(w, buf);
        dom__json_lit(w, ",\"class\":");
        json_str(w, rs->classes[rs->routes[i].class_index].name);
        dom__json_lit(w, "}");
    }
    dom__json_lit(w, "],\"jurisdictions\":[");
    for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
        const dom_jurisdiction_t *j = &rs->jurisdictions[i];
        dom__json_rawf(w, "%s{\"name\":", i ? "," : "");
        json_str(w, j->name);
        dom__json_lit(w, ",\"version\":");
        json_str(w, j->version);
        dom__json_lit(w, ",\"hash\":");
        json_str(w, j->hash);
        date(j->effective, buf, sizeof(buf), DOM__TIME_FMT_DATE);
        dom__json_lit(w, ",\"effective\":");
        json_str(w, buf);
        dom__json_rawf(w,
                       ",\"mode\":\"%s\",\"default\":%s,\"in_effect\":%s,\"applies_to\":", dom_rule_mode_name(j->mode),
                       j->is_default ? "true" : "false", in_effect(rs, j, now) ? "true" : "false");
        json_str(w, j->applies_to);
        dom__json_rawf(w, ",\"on_unavailable\":\"%s\",\"policy_url\":", dom_on_unavailable_name(j->on_unavailable));
        json_str(w, j->policy_url);
        dom__json_lit(w, ",\"law\":");
        json_str(w, j->law);
        dom__json_lit(w, ",\"source_file\":");
        json_str(w, j->source_file);
        dom__json_lit(w, ",\"classes\":{");
        for (size_t c = 0; c < rs->n_classes; ++c) {
            const dom_class_rule_t *r = &j->classes[c];
            dom__json_lit(w, c ? "," : "");
            json_str(w, rs->classes[c].name);
            dom__json_rawf(w, ":{\"deny\":%s", r->deny ? "true" : "false");
            if (r->deny) {
                dom__json_lit(w, ",\"reason\":");
                json_str(w, r->deny_reason != NULL ? r->deny_reason : "class_denied");
            }
            dom__json_lit(w, ",\"write\":");
            region_list_json(w, rs, r->write_regions, r->n_write);
            dom__json_lit(w, ",\"read\":");
            region_list_json(w, rs, r->read_regions, r->n_read);
            dom__json_rawf(w, ",\"consent\":\"%s\",\"anonymize\":%s}", dom_consent_name(r->consent_required),
                           r->anonymize ? "true" : "false");
        }
        dom__json_lit(w, "}}");
    }
    dom__json_lit(w, "]}\n");
}

static void show_text(FILE *fp, const char *path, const dom_ruleset_t *rs, int64_t now)
{
    char buf[64];
    date(rs->compiled_at, buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC");
    fprintf(fp, "%s: generation %" PRIu64 ", compiled %s, source sha256 %s\nruleset: %s\n", path, rs->generation, buf,
            rs->source_hash, rs->hash);
    fprintf(fp, "regions:");
    for (size_t i = 0; i < rs->n_regions; ++i)
        fprintf(fp, "%s %s (%s)", i ? "," : "", rs->regions[i].name, rs->regions[i].location);
    fprintf(fp, "\nclasses:");
    for (size_t i = 0; i < rs->n_classes; ++i)
        fprintf(fp, "%s %s", i ? "," : "", rs->classes[i].name);
    fprintf(fp, " (default: %s)\n", rs->classes[rs->default_class].name);
    for (size_t i = 0; i < rs->n_classes; ++i)
        class_body_text(fp, &rs->classes[i]);
    fprintf(fp, "reads: GET, HEAD, OPTIONS%s%s (every other method writes)\nroutes:\n",
            rs->read_methods != NULL && rs->read_methods[0] ? ", " : "",
            rs->read_methods != NULL ? rs->read_methods : "");
    for (size_t i = 0; i < rs->n_routes; ++i) {
        dom_methods_format(rs->routes[i].methods, buf, sizeof(buf));
        fprintf(fp, "  %-32s %-10s -> %s\n", rs->routes[i].prefix, buf, rs->classes[rs->routes[i].class_index].name);
    }
    for (size_t i = 0; i < rs->n_jurisdictions; ++i) {
        const dom_jurisdiction_t *j = &rs->jurisdictions[i];
        date(j->effective, buf, sizeof(buf), DOM__TIME_FMT_DATE);
        fprintf(fp, "\njurisdiction %s version %s, effective %s, %s%s%s\n", j->name, j->version, buf,
                dom_rule_mode_name(j->mode), j->is_default ? ", default" : "",
                in_effect(rs, j, now) ? ", in effect" : (j->effective > now ? ", staged" : ", superseded"));
        fprintf(fp, "  sha256: %s\n", j->hash);
        if (!j->is_default)
            fprintf(fp, "  applies to: %s\n", j->applies_to);
        if (j->law[0] != '\0')
            fprintf(fp, "  law: %s\n", j->law);
        fprintf(fp, "  policy: %s; when unavailable: %s; from %s\n", j->policy_url[0] ? j->policy_url : "(none)",
                dom_on_unavailable_name(j->on_unavailable), j->source_file);
        for (size_t c = 0; c < rs->n_classes; ++c) {
            const dom_class_rule_t *r = &j->classes[c];
            fprintf(fp, "  %-12s ", rs->classes[c].name);
            if (r->deny) {
                fprintf(fp, "deny (%s)\n", r->deny_reason != NULL ? r->deny_reason : "class_denied");
                continue;
            }
            fprintf(fp, "write ");
            region_list_text(fp, rs, r->write_regions, r->n_write);
            fprintf(fp, "; read ");
            region_list_text(fp, rs, r->read_regions, r->n_read);
            fprintf(fp, "%s%s\n", r->consent_required ? "; consent required" : "", r->anonymize ? "; anonymize" : "");
        }
    }
}

static int cmd_show(int argc, char **argv)
{
    const char *path = NULL, *hash = NULL;
    int json = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--hash") == 0 && i + 1 < argc)
            hash = argv[++i];
        else if (argv[i][0] != '-' && path == NULL)
            path = argv[i];
        else {
            usage(stderr);
            return 2;
        }
    }
    if (path == NULL || (hash != NULL && json)) {
        usage(stderr);
        return 2;
    }
    if (hash != NULL)
        return dom__cli_rules_show_hash(path, hash);
    dom_rules_store_t *store;
    char err[512];
    int ret = dom_rules_store_open(path, &store, err, sizeof(err));
    if (ret != 0) {
        fprintf(stderr, "%s (%s)\n", err, dom_strerror(ret));
        return 1;
    }
    dom_ruleset_t *rs = dom_rules_store_current(store);
    int64_t now = (int64_t)time(NULL);
    if (json)
        show_json(stdout, rs, now);
    else
        show_text(stdout, path, rs, now);
    dom_ruleset_release(rs);
    dom_rules_store_close(store);
    return 0;
}

int dom_cli_rules(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 1, argv + 1);
    if (strcmp(argv[1], "compile") == 0)
        return cmd_compile(argc - 1, argv + 1);
    if (strcmp(argv[1], "show") == 0)
        return cmd_show(argc - 1, argv + 1);
    if (strcmp(argv[1], "report") == 0)
        return dom__cli_rules_report(argc - 1, argv + 1);
    if (strcmp(argv[1], "plan") == 0)
        return dom_cli_rules_plan(argc - 1, argv + 1);
    if (strcmp(argv[1], "history") == 0) {
        int r = dom__cli_rules_history(argc - 1, argv + 1);
        if (r == 2)
            usage(stderr);
        return r;
    }
    fprintf(stderr, "domicile rules: unknown subcommand \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}

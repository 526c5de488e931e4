/*
 * Tests src/core/ledger.c (and the ledger half of src/rules/rules_compile.c and the reuse check of
 * src/rules/rules_parse.c): what a compile records, what dom_ledger_open reads back, carrying the
 * ledger into a fresh file (a rename delivery), and the exact message for a reused version, in the
 * tree and against the ledger.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include "test.h"
#include "rules_dir.h"
#include "domicile/ledger.h"
#include "domicile/rules.h"
#include "util/time.h"

#define FIXTURES DOM_SOURCE_DIR "/tests/fixtures/rules"

static char dir[] = "/tmp/dom-ledger-XXXXXX";

static const char *path(const char *name)
{
    static char paths[4][1100];
    static int next;
    char *p = paths[next++ % 4];
    snprintf(p, 1100, "%s/%s", dir, name);
    return p;
}

static dom_ruleset_t *parse(const char *rules, const dom_ledger_t *ledger, diag_lines_t *c)
{
    dom_diag_t diag = {collect_lines, c, 0, 0};
    dom_ruleset_t *rs = NULL;
    dom_rules_parse_dir_ledger(rules, ledger, &diag, &rs);
    return rs;
}

static dom_ledger_t *open_ledger(const char *db)
{
    dom_ledger_t *l = NULL;
    char err[512];
    if (dom_ledger_open(db, &l, err, sizeof(err)) != 0)
        printf("# %s\n", err);
    return l;
}

/* germany.yaml of the good fixture, its account rule moved to `region`, as `version` */
static void write_germany(const char *rules, const char *version, const char *region)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "jurisdiction: DE-BDSG\nversion: \"%s\"\neffective: 2025-06-01\napplies_to: [DE]\n"
             "policy_url: https://example.com/privacy#de\nclasses:\n  account:   { write: [%s] }\n"
             "  content:   { write: [eu-central] }\n  telemetry: { write: [eu-central], anonymize: true }\n"
             "  marketing: { deny: true, reason: marketing_banned }\n",
             version, region);
    write_text(rules, "germany.yaml", text);
}

static void test_compile_records(void)
{
    diag_lines_t c = {.n = 0};
    dom_ruleset_t *rs = parse(FIXTURES "/good", NULL, &c);
    dom_rules_compile_options_t o = {NULL, "git:abc123"};
    char err[512];
    uint64_t gen = 0;
    if (!ok(rs != NULL) || !ok(dom_rules_compile_ledger(rs, path("live.mdb"), &o, &gen, err, sizeof(err)) == 0))
        return;
    dom_ledger_t *l = open_ledger(path("live.mdb"));
    if (!ok(l != NULL))
        return;
    is_int(dom_ledger_n_versions(l), rs->n_jurisdictions);
    is_int(dom_ledger_n_compiles(l), 1);
    const dom_ledger_compile_t *cp = dom_ledger_compile_at(l, 0);
    is_int(cp->seq, 1);
    is_int(cp->generation, gen);
    is_int(cp->compiled_at, rs->compiled_at);
    is_str(cp->source_rev, "git:abc123");
    is_str(cp->ruleset, rs->hash);
    is_str(cp->source_hash, rs->source_hash);
    is_str(cp->sources, rs->sources);
    ok(strstr(cp->sources, "germany.yaml ") != NULL);
    is_int(cp->n_live, rs->n_jurisdictions);
    ok(dom_ledger_find_ruleset(l, rs->hash) == cp);

    const dom_jurisdiction_t *de = find_version(rs, "DE-BDSG", "2025");
    int e = 0;
    const dom_ledger_version_t *v = dom_ledger_find(l, de->hash, &e);
    if (ok(v != NULL)) {
        char *text;
        size_t len;
        dom_rule_canonical(rs, de, &text, &len);
        is_int(v->text_len, len);
        ok(memcmp(v->text, text, len) == 0); /* the exact canonical text */
        free(text);
        is_str(v->jurisdiction, "DE-BDSG");
        is_str(v->version, "2025");
        is_str(v->effective, "2025-06-01");
        is_str(v->mode, "enforce");
        is_str(v->source_file, "germany.yaml");
        is_int(strlen(v->source_sha256), 64);
        ok(strstr(rs->sources, v->source_sha256) != NULL);
        is_str(v->source_rev, "git:abc123");
        /* the allowed regions, parsed back from the text */
        is_int(dom_ledger_allowed(v, "account", DOM_ACCESS_WRITE, "eu-central"), 1);
        is_int(dom_ledger_allowed(v, "account", DOM_ACCESS_READ, "eu-central"), 1);
        is_int(dom_ledger_allowed(v, "account", DOM_ACCESS_WRITE, "us-east"), 0);
        is_int(dom_ledger_allowed(v, "marketing", DOM_ACCESS_WRITE, "eu-central"), 0); /* denied */
        is_int(dom_ledger_allowed(v, "nonesuch", DOM_ACCESS_WRITE, "eu-central"), DOM_ENOTFOUND);
        const dom_ledger_class_t *m = dom_ledger_class(v, "marketing");
        ok(m != NULL && m->deny && strcmp(m->reason, "marketing_banned") == 0);
        const dom_ledger_class_t *t = dom_ledger_class(v, "telemetry");
        ok(t != NULL && t->anonymize && t->n_write == 1 && strcmp(t->write[0], "eu-central") == 0);
    }
    char prefix[9];
    memcpy(prefix, de->hash, 8);
    prefix[8] = '\0';
    ok(dom_ledger_find(l, prefix, NULL) == v); /* a unique prefix of 8 */
    ok(dom_ledger_find(l, "0123", &e) == NULL && e == DOM_EINVAL);
    ok(dom_ledger_find(l, "0000000000000000000000000000000000000000000000000000000000000000", &e) == NULL &&
       e == DOM_ENOTFOUND);
    dom_ledger_close(l);

    /* an in-place compile of the same tree keeps one copy of each version and adds a compile */
    dom_ruleset_release(rs);
    rs = parse(FIXTURES "/good", NULL, &c);
    is_int(dom_rules_compile_ledger(rs, path("live.mdb"), NULL, &gen, err, sizeof(err)), 0);
    l = open_ledger(path("live.mdb"));
    is_int(dom_ledger_n_versions(l), rs->n_jurisdictions);
    is_int(dom_ledger_n_compiles(l), 2);
    is_int(dom_ledger_compile_at(l, 1)->seq, 2);
    is_str(dom_ledger_compile_at(l, 1)->source_rev, "");
    dom_ledger_close(l);
    dom_ruleset_release(rs);
}

/* A fresh file renamed over the live one keeps the ledger only when it was carried. */
static void test_rename_delivery(void)
{
    char rules[1100], err[512];
    snprintf(rules, sizeof(rules), "%s/rules", dir);
    mkdir(rules, 0755);
    copy_yaml(FIXTURES "/good", rules);
    write_germany(rules, "2026", "eu-west");
    diag_lines_t c = {.n = 0};
    dom_ledger_t *live = open_ledger(path("live.mdb"));
    dom_ruleset_t *rs = parse(rules, live, &c);
    if (!ok(live != NULL && rs != NULL))
        return;
    dom_rules_compile_options_t o = {live, "r2"};
    is_int(dom_rules_compile_ledger(rs, path("new.mdb"), &o, NULL, err, sizeof(err)), 0);
    is_int(dom_rules_compile_ledger(rs, path("bare.mdb"), NULL, NULL, err, sizeof(err)), 0);
    dom_ledger_close(live);
    is_int(rename(path("new.mdb"), path("live.mdb")), 0);
    dom_ledger_t *l = open_ledger(path("live.mdb")), *bare = open_ledger(path("bare.mdb"));
    if (ok(l != NULL && bare != NULL)) {
        is_int(dom_ledger_n_compiles(l), 3);
        is_int(dom_ledger_compile_at(l, 2)->seq, 3);
        is_str(dom_ledger_compile_at(l, 2)->source_rev, "r2");
        ok(dom_ledger_find_version(l, "DE-BDSG", "2025") != NULL); /* the old version, carried */
        ok(dom_ledger_find_version(l, "DE-BDSG", "2026") != NULL);
        is_int(
            dom_ledger_allowed(dom_ledger_find_version(l, "DE-BDSG", "2026"), "account", DOM_ACCESS_WRITE, "eu-west"),
            1);
        is_int(dom_ledger_n_compiles(bare), 1); /* without --ledger-from the history is lost */
        ok(dom_ledger_find_version(bare, "DE-BDSG", "2025") == NULL);
    }
    dom_ledger_close(l);
    dom_ledger_close(bare);
    dom_ruleset_release(rs);
}

static void test_reuse(void)
{
    char rules[1100], err[512], want[4096], when[32];
    snprintf(rules, sizeof(rules), "%s/rules", dir);
    /* DE-BDSG "2025" again, with account moved to us-east */
    write_germany(rules, "2025", "us-east");
    diag_lines_t c = {.n = 0};
    dom_ruleset_t *alone = parse(rules, NULL, &c); /* the tree on its own is fine: its hash, for the message */
    dom_ledger_t *l = open_ledger(path("live.mdb"));
    if (!ok(alone != NULL && l != NULL))
        return;
    const dom_jurisdiction_t *mine = find_version(alone, "DE-BDSG", "2025");
    const dom_ledger_version_t *old = dom_ledger_find_version(l, "DE-BDSG", "2025");
    dom__time_format(old->first_compiled, "%Y-%m-%d %H:%M:%S UTC", when, sizeof(when));
    c.n = 0;
    dom_ruleset_t *rs = parse(rules, l, &c);
    ok(rs == NULL);
    is_int(c.n, 1);
    snprintf(want, sizeof(want),
             "%s/germany.yaml:2:1: DE-BDSG version \"2025\" has sha256 %s, but the ledger holds that version with "
             "other content (sha256 %s, from germany.yaml, compiled %s): give changed rules a new version",
             rules, mine->hash, old->hash, when);
    is_str(c.lines[0], want);

    /* the compile refuses it too (a ledger written in between), and writes nothing */
    uint64_t gen = 0;
    int r = dom_rules_compile_ledger(alone, path("live.mdb"), NULL, &gen, err, sizeof(err));
    is_int(r, DOM_ERULES);
    ok(strstr(err, mine->hash) != NULL && strstr(err, old->hash) != NULL);
    dom_ledger_t *after = open_ledger(path("live.mdb"));
    is_int(dom_ledger_n_compiles(after), 3);
    dom_ledger_close(after);

    /* within the tree: a second file with the same version and other content, named with both hashes */
    write_germany(rules, "2025", "eu-central");
    write_text(rules, "germany2.yaml",
               "jurisdiction: DE-BDSG\nversion: \"2025\"\neffective: 2025-08-01\napplies_to: [DE]\n"
               "policy_url: https://example.com/privacy#de\nclasses:\n  account:   { write: [us-east] }\n"
               "  content:   { write: [eu-central] }\n  telemetry: { write: [eu-central], anonymize: true }\n"
               "  marketing: { deny: true, reason: marketing_banned }\n");
    dom_ruleset_t *first = NULL, *second = NULL;
    char lone[1200];
    snprintf(lone, sizeof(lone), "%s/germany2.yaml", rules);
    rename(lone, path("germany2.yaml"));
    first = parse(rules, NULL, &c);
    rename(path("germany2.yaml"), lone);
    char germany[1200];
    snprintf(germany, sizeof(germany), "%s/germany.yaml", rules);
    rename(germany, path("germany.yaml"));
    second = parse(rules, NULL, &c);
    rename(path("germany.yaml"), germany);
    c.n = 0;
    rs = parse(rules, NULL, &c);
    ok(rs == NULL);
    if (ok(first != NULL && second != NULL && c.n == 1)) {
        snprintf(want, sizeof(want),
                 "%s/germany2.yaml:2:1: DE-BDSG version \"2025\" has sha256 %s, but %s/germany.yaml:2:1 uses the "
                 "same version with other content (sha256 %s): give changed rules a new version",
                 rules, find_version(second, "DE-BDSG", "2025")->hash, rules,
                 find_version(first, "DE-BDSG", "2025")->hash);
        is_str(c.lines[0], want);
    }
    /* the same decisions under another date and mode (watched, then enforced): no error */
    write_text(rules, "germany2.yaml",
               "jurisdiction: DE-BDSG\nversion: \"2025\"\neffective: 2025-05-01\nmode: report\napplies_to: [DE]\n"
               "policy_url: https://example.com/privacy#de\nclasses:\n  account:   { write: [eu-central] }\n"
               "  content:   { write: [eu-central] }\n  telemetry: { write: [eu-central], anonymize: true }\n"
               "  marketing: { deny: true, reason: marketing_banned }\n");
    c.n = 0;
    rs = parse(rules, l, &c);
    ok(rs != NULL);
    is_int(c.n, 0);
    dom_ruleset_release(rs);
    unlink(lone);
    dom_ruleset_release(first);
    dom_ruleset_release(second);
    dom_ruleset_release(alone);
    dom_ledger_close(l);
}

static void test_refusals(void)
{
    dom_ledger_t *l = (dom_ledger_t *)1;
    char err[512];
    write_text(dir, "text.mdb", "not lmdb\n");
    ok(dom_ledger_open(path("text.mdb"), &l, err, sizeof(err)) != 0 && l == NULL);
    ok(dom_ledger_open(path("missing.mdb"), &l, err, sizeof(err)) == DOM_ELMDB);
    dom_ledger_close(NULL);
    is_int(dom_ledger_n_versions(NULL), 0);
    ok(dom_ledger_find_version(NULL, "X", "1") == NULL);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    subtest("what a compile records", test_compile_records);
    subtest("a rename delivery carries the ledger", test_rename_delivery);
    subtest("a reused version is an error", test_reuse);
    subtest("files that are not ledgers", test_refusals);
    char cmd[1200];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return done_testing();
}

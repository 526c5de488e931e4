/*
 * Tests src/core/rules_hash.c: the canonical text of a rule version and of a rule set, and
 * their SHA-256. What a version decides changes its hash; where its file lies, its comments,
 * the order of its keys and of its applies_to entries do not. The store's hash of a loaded
 * set equals the parser's.
 */
#include <stdlib.h>
#include <string.h>
#include "test.h"
#include "rules_dir.h"
#include "domicile/ledger.h"
#include "domicile/rules.h"

#define FIXTURES DOM_SOURCE_DIR "/tests/fixtures/rules"

static const char germany[] = "jurisdiction: DE-BDSG\n"
                              "version: \"2025\"\n"
                              "effective: 2025-06-01\n"
                              "applies_to: [DE]\n"
                              "policy_url: https://example.com/privacy#de\n"
                              "classes:\n"
                              "  account:   { write: [eu-central] }\n"
                              "  content:   { write: [eu-central] }\n"
                              "  telemetry: { write: [eu-central], anonymize: true }\n"
                              "  marketing: { deny: true, reason: marketing_banned }\n";

/* The same decisions: comments, other key order, other spacing and quoting. */
static const char germany_reordered[] = "# Germany: BDSG on top of the GDPR\n"
                                        "classes:\n"
                                        "  marketing: {reason: marketing_banned, deny: true}  # no marketing\n"
                                        "  telemetry: {anonymize: true, write: [eu-central]}\n"
                                        "  content: {write: [eu-central]}\n"
                                        "  account: {write: [eu-central]}\n"
                                        "policy_url: 'https://example.com/privacy#de'\n"
                                        "applies_to: [DE]\n"
                                        "effective: 2025-06-01\n"
                                        "version: '2025'\n"
                                        "jurisdiction: DE-BDSG\n";

static dom_ruleset_t *parse(const char *dir)
{
    diag_lines_t c = {.n = 0};
    dom_diag_t diag = {collect_lines, &c, 0, 0};
    dom_ruleset_t *rs = NULL;
    dom_rules_parse_dir(dir, &diag, &rs);
    for (size_t i = 0; i < c.n; ++i)
        printf("# %s\n", c.lines[i]);
    return rs;
}

static void test_canonical_text(void)
{
    dom_ruleset_t *rs = parse(FIXTURES "/good");
    const dom_jurisdiction_t *de = find_version(rs, "DE-BDSG", "2025");
    if (!ok(de != NULL))
        return;
    char *text = NULL, hash[65];
    size_t len = 0;
    is_int(dom_rule_canonical(rs, de, &text, &len), DOM_OK);
    if (ok(text != NULL)) {
        is_int(strlen(text), len);
        /* sorted keys, one per line, nothing about the file */
        ok(strncmp(text, "applies_to=DE\nclass.account.anonymize=false\n", 44) == 0);
        ok(strstr(text, "\nformat=domicile-rule/1\n") != NULL);
        ok(strstr(text,
                  "\nclass.marketing.deny=true\nclass.marketing.read=\nclass.marketing.reason=marketing_banned\n") !=
           NULL);
        ok(strstr(text, "\neffective=2025-06-01\n") != NULL);
        ok(strstr(text, "germany.yaml") == NULL);
        ok(strstr(text, "\nversion=2025\n") != NULL && text[len - 1] == '\n');
        /* lines in byte order of their keys */
        int sorted = 1;
        for (char *p = text, *next; (next = strchr(p, '\n')) != NULL && next[1] != '\0'; p = next + 1)
            sorted &= strncmp(p, next + 1, strcspn(p, "=")) <= 0;
        ok(sorted);
        is_int(dom_sha256_hex(text, len, hash), DOM_OK);
        is_str(de->hash, hash); /* the hash is the SHA-256 of exactly that text */
    }
    free(text);
    is_int(strlen(rs->hash), 64);
    is_int(dom_ruleset_canonical(rs, &text, &len), DOM_OK);
    ok(text != NULL && strstr(text, "format=domicile-ruleset/1\n") != NULL);
    ok(text != NULL && strstr(text, de->hash) != NULL); /* the set names each version by its hash */
    is_int(dom_sha256_hex(text, len, hash), DOM_OK);
    is_str(rs->hash, hash);
    free(text);
    dom_ruleset_release(rs);
}

static void test_what_changes_the_hash(void)
{
    char a[] = "/tmp/dom-hash-a-XXXXXX", b[] = "/tmp/dom-hash-b-XXXXXX";
    if (!ok(mkdtemp(a) != NULL && mkdtemp(b) != NULL))
        return;
    copy_yaml(FIXTURES "/good", a);
    write_text(a, "germany.yaml", germany);
    dom_ruleset_t *base = parse(a);

    /* another directory, other comments, key order, quoting: same hashes (the source hash differs) */
    copy_yaml(FIXTURES "/good", b);
    write_text(b, "germany.yaml", germany_reordered);
    dom_ruleset_t *same = parse(b);
    /* the file renamed: the same too */
    char from[1100], to[1100];
    snprintf(from, sizeof(from), "%s/germany.yaml", b);
    snprintf(to, sizeof(to), "%s/de-bdsg.yaml", b);
    rename(from, to);
    dom_ruleset_t *renamed = parse(b);
    const dom_jurisdiction_t *d0 = find_version(base, "DE-BDSG", "2025"), *d1 = find_version(same, "DE-BDSG", "2025"),
                             *d2 = find_version(renamed, "DE-BDSG", "2025");
    if (ok(d0 != NULL && d1 != NULL && d2 != NULL)) {
        ok(strcmp(base->source_hash, same->source_hash) != 0);
        is_str(d1->hash, d0->hash);
        is_str(d2->hash, d0->hash);
        is_str(same->hash, base->hash);
        is_str(renamed->hash, base->hash);
        ok(strcmp(d2->source_file, d0->source_file) != 0);
    }

    /* applies_to in another order: the same */
    dom_ruleset_t *x = NULL, *y = NULL, *region = NULL, *consent = NULL;
    write_text(b, "de-bdsg.yaml", germany);
    write_text(a, "austria.yaml",
               "jurisdiction: AT-DSG\nversion: \"1\"\neffective: 2025-06-01\napplies_to: [AT, LI]\n"
               "classes: {account: {write: [eu-central]}, content: {write: [eu-central]}, telemetry: {write: "
               "[eu-central]}, marketing: {deny: true}}\n");
    write_text(b, "austria.yaml",
               "jurisdiction: AT-DSG\nversion: \"1\"\neffective: 2025-06-01\napplies_to: [LI, AT]\n"
               "classes: {account: {write: [eu-central]}, content: {write: [eu-central]}, telemetry: {write: "
               "[eu-central]}, marketing: {deny: true}}\n");
    x = parse(a);
    y = parse(b);
    if (ok(find_version(x, "AT-DSG", "1") != NULL && find_version(y, "AT-DSG", "1") != NULL))
        is_str(find_version(x, "AT-DSG", "1")->hash, find_version(y, "AT-DSG", "1")->hash);

    /* a region changed: that version's hash and the set's change, no other version's */
    char changed[sizeof(germany) + 16], at[1100];
    snprintf(changed, sizeof(changed), "%s", germany);
    memcpy(strstr(changed, "account:   { write: [eu-central] }"), "account:   { write: [eu-west]    }", 34);
    write_text(b, "de-bdsg.yaml", changed);
    snprintf(at, sizeof(at), "%s/austria.yaml", b);
    unlink(at);
    region = parse(b);
    const dom_jurisdiction_t *dr = find_version(region, "DE-BDSG", "2025");
    if (ok(dr != NULL && d0 != NULL)) {
        ok(strcmp(dr->hash, d0->hash) != 0);
        ok(strcmp(region->hash, base->hash) != 0);
        ok(find_version(region, "US", "2023") != NULL && find_version(base, "US", "2023") != NULL &&
           strcmp(find_version(region, "US", "2023")->hash, find_version(base, "US", "2023")->hash) == 0);
        /* what differs is the decisions, so the same-decisions test says so */
        char *t0, *t1;
        size_t l0, l1;
        dom_rule_canonical(base, d0, &t0, &l0);
        dom_rule_canonical(region, dr, &t1, &l1);
        is_int(dom_rule_same_decisions(t0, l0, t1, l1), 0);
        is_int(dom_rule_same_decisions(t0, l0, t0, l0), 1);
        free(t0);
        free(t1);
    }

    /* effective and mode only: another hash, the same decisions (a watched version, then enforced) */
    char staged[sizeof(germany) + 32];
    snprintf(staged, sizeof(staged), "%s", germany);
    memcpy(strstr(staged, "2025-06-01"), "2025-09-01", 10);
    write_text(b, "de-bdsg.yaml", staged);
    consent = parse(b);
    const dom_jurisdiction_t *ds = find_version(consent, "DE-BDSG", "2025");
    if (ok(ds != NULL && d0 != NULL)) {
        ok(strcmp(ds->hash, d0->hash) != 0);
        char *t0, *t1;
        size_t l0, l1;
        dom_rule_canonical(base, d0, &t0, &l0);
        dom_rule_canonical(consent, ds, &t1, &l1);
        is_int(dom_rule_same_decisions(t0, l0, t1, l1), 1);
        free(t0);
        free(t1);
    }
    dom_ruleset_release(base);
    dom_ruleset_release(same);
    dom_ruleset_release(renamed);
    dom_ruleset_release(x);
    dom_ruleset_release(y);
    dom_ruleset_release(region);
    dom_ruleset_release(consent);
    remove_dir(a);
    remove_dir(b);
}

/* The store hashes what it loaded: the same text, the same hashes as the parser's. */
static void test_store_agrees(void)
{
    char dir[] = "/tmp/dom-hash-db-XXXXXX", db[1100], err[256];
    if (!ok(mkdtemp(dir) != NULL))
        return;
    snprintf(db, sizeof(db), "%s/rules.mdb", dir);
    dom_ruleset_t *rs = parse(FIXTURES "/good");
    dom_rules_store_t *store = NULL;
    if (!ok(rs != NULL) || !ok(dom_rules_compile(rs, db, err, sizeof(err)) == DOM_OK) ||
        !ok(dom_rules_store_open(db, &store, err, sizeof(err)) == DOM_OK))
        return;
    dom_ruleset_t *loaded = dom_rules_store_current(store);
    is_str(loaded->hash, rs->hash);
    is_int(loaded->n_jurisdictions, rs->n_jurisdictions);
    for (size_t i = 0; i < rs->n_jurisdictions && i < loaded->n_jurisdictions; ++i)
        is_str(loaded->jurisdictions[i].hash, rs->jurisdictions[i].hash);
    dom_ruleset_release(loaded);
    dom_rules_store_close(store);
    dom_ruleset_release(rs);
    char lock[1200];
    snprintf(lock, sizeof(lock), "%s-lock", db);
    unlink(lock);
    remove_dir(dir);
}

int main(void)
{
    subtest("canonical text", test_canonical_text);
    subtest("what changes a hash and what does not", test_what_changes_the_hash);
    subtest("the store's hashes are the parser's", test_store_agrees);
    return done_testing();
}

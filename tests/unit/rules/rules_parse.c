/*
 * Tests src/rules/rules_parse.c (and the lookups of src/core/ruleset.c) against the
 * fixtures in tests/fixtures/rules/: the good set resolves as docs/rules.md says, and
 * every broken case reports each of its problems at its own file:line:col.
 */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "test.h"
#include "rules_dir.h"
#include "domicile/rules.h"

#define FIXTURES DOM_SOURCE_DIR "/tests/fixtures/rules"

/* Collected diagnostics, the file reduced to its base name (the overlay dir is a temp dir). */
typedef struct collected {
    char lines[64][400];
    size_t n;
} collected_t;

static void collect(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message)
{
    collected_t *c = ctx;
    const char *warning = is_warning ? "warning: " : "";
    if (c->n >= 64)
        return;
    const char *base = strrchr(file, '/');
    base = base != NULL && line != 0 ? base + 1 : file;
    if (line == 0)
        snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%s: %s%s", base, warning, message);
    else
        snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%s:%zu:%zu: %s%s", base, line, col, warning, message);
}

static int64_t day(int y, int m, int d)
{
    struct tm tm = {0};
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return (int64_t)timegm(&tm);
}

static const dom_jurisdiction_t *enforce_of(const dom_ruleset_t *rs, dom_rules_level_t level, const char *key,
                                            int64_t now, const dom_jurisdiction_t **report)
{
    const dom_jurisdiction_t *e, *r;
    dom_ruleset_resolve(rs, level, key, now, &e, &r);
    if (report != NULL)
        *report = r;
    return e;
}

static void test_good(void)
{
    collected_t c = {.n = 0};
    dom_diag_t diag = {collect, &c, 0, 0};
    dom_ruleset_t *rs = NULL;
    is_int(dom_rules_parse_dir(FIXTURES "/good", &diag, &rs), DOM_OK);
    if (!ok(rs != NULL))
        return;
    is_int(diag.errors, 0);
    is_int(diag.warnings, 1); /* FR-IDF: no ISO 3166-2 table for FR */
    is_int(rs->n_regions, 5);
    is_int(rs->n_classes, 4);
    is_int(rs->n_jurisdictions, 9);
    is_int(strlen(rs->source_hash), 64);
    is_str(rs->classes[rs->default_class].name, "content");
    /* no methods: section: WebDAV's reads */
    is_str(rs->read_methods, DOM_DEFAULT_READ_METHODS);

    const dom_jurisdiction_t *j, *rep;
    /* the country rule has not started yet: the group rule applies */
    j = enforce_of(rs, DOM_LEVEL_COUNTRY, "DE", day(2025, 1, 1), &rep);
    ok(j == NULL);
    j = enforce_of(rs, DOM_LEVEL_GROUP, "DE", day(2025, 1, 1), &rep);
    is_str(j ? j->version : NULL, "2024-01");
    /* in effect, plus a newer report version */
    j = enforce_of(rs, DOM_LEVEL_COUNTRY, "DE", day(2025, 7, 15), &rep);
    is_str(j ? j->name : NULL, "DE-BDSG");
    is_str(rep ? rep->name : NULL, "DE-BDSG-draft");
    j = enforce_of(rs, DOM_LEVEL_COUNTRY, "DE", day(2025, 6, 15), &rep);
    ok(rep == NULL);
    /* staged versions switch by themselves on their date */
    j = enforce_of(rs, DOM_LEVEL_GROUP, "FR", day(2026, 1, 19), &rep);
    is_str(j ? j->version : NULL, "2024-01");
    j = enforce_of(rs, DOM_LEVEL_GROUP, "FR", day(2026, 1, 20), &rep);
    is_str(j ? j->version : NULL, "2026-01");
    ok(rep == NULL);
    is_int(j ? (int)j->on_unavailable : -1, DOM_ON_UNAVAILABLE_NEXT_REGION);
    j = enforce_of(rs, DOM_LEVEL_GROUP, "FR", day(2099, 6, 1), &rep);
    is_str(j ? j->version : NULL, "2026-01");
    is_str(rep ? rep->version : NULL, "2099-01-draft");
    ok(enforce_of(rs, DOM_LEVEL_GROUP, "US", day(2030, 1, 1), NULL) == NULL);
    j = enforce_of(rs, DOM_LEVEL_SUBDIVISION, "US-CA", day(2030, 1, 1), NULL);
    is_str(j ? j->name : NULL, "US-CA-CPRA");
    ok(enforce_of(rs, DOM_LEVEL_SUBDIVISION, "US-CA", day(2022, 12, 31), NULL) == NULL);
    ok(enforce_of(rs, DOM_LEVEL_COUNTRY, "JP", day(2030, 1, 1), NULL) == NULL);
    ok(enforce_of(rs, DOM_LEVEL_COUNTRY, "", day(2030, 1, 1), NULL) == NULL);
    ok(enforce_of(rs, DOM_LEVEL_COUNTRY, "TOOLONGKEY", day(2030, 1, 1), NULL) == NULL);

    dom_ruleset_find(rs, NULL, day(2030, 1, 1), &j, &rep);
    is_str(j ? j->name : NULL, "default");
    ok(j != NULL && j->classes[0].deny && strcmp(j->classes[0].deny_reason, "unknown_location") == 0);
    dom_ruleset_find(rs, "EU-GDPR", day(2025, 1, 1), &j, &rep);
    is_str(j ? j->version : NULL, "2024-01");
    dom_ruleset_find(rs, "NOPE", day(2025, 1, 1), &j, &rep);
    ok(j == NULL && rep == NULL);

    /* class rules: write any in _regions.yaml order, read defaults to write */
    dom_ruleset_find(rs, "EU-GDPR", day(2025, 1, 1), &j, &rep);
    if (ok(j != NULL)) {
        size_t tel = 2, mkt = 3, content = 1;
        is_str(rs->classes[tel].name, "telemetry");
        is_int(j->classes[tel].n_write, 5);
        is_str(rs->regions[j->classes[tel].write_regions[4]].name, "ap-south");
        ok(j->classes[tel].anonymize);
        ok(j->classes[mkt].consent_required);
        is_int(j->classes[content].n_read, 2);
        is_str(rs->regions[j->classes[content].read_regions[0]].name, "eu-central");
        is_str(j->law, "Regulation (EU) 2016/679 (GDPR)");
        is_str(j->applies_to, "EEA");
    }

    /* classification: longest prefix, whole segments, methods */
    is_str(rs->classes[dom_ruleset_classify(rs, "GET", 3, "/v1/account/me", 14)].name, "account");
    is_str(rs->classes[dom_ruleset_classify(rs, "GET", 3, "/v1/account", 11)].name, "account");
    is_str(rs->classes[dom_ruleset_classify(rs, "GET", 3, "/v1/accounting", 14)].name, "content");
    is_str(rs->classes[dom_ruleset_classify(rs, "POST", 4, "/v1/notifications/x", 19)].name, "marketing");
    is_str(rs->classes[dom_ruleset_classify(rs, "GET", 3, "/v1/notifications/x", 19)].name, "content");
    is_str(rs->classes[dom_ruleset_classify(rs, "PUT", 3, "/v1/sync/a/b", 12)].name, "content");
    is_str(rs->classes[dom_ruleset_classify(rs, "GET", 3, "/", 1)].name, "content");
    is_int(dom_ruleset_region_index(rs, "us-west"), 3);
    is_int(dom_ruleset_region_index(rs, "nowhere"), -1);

    /* refcount: retain + two releases frees (ASan checks the rest) */
    dom_ruleset_retain(rs);
    dom_ruleset_release(rs);
    dom_ruleset_release(rs);
    dom_ruleset_release(NULL);
}

static void test_hash(void)
{
    char dir[] = "/tmp/dom-rules-hash-XXXXXX";
    if (!ok(mkdtemp(dir) != NULL))
        return;
    copy_yaml(FIXTURES "/good", dir);
    dom_diag_t diag = {collect, &(collected_t){.n = 0}, 0, 0};
    dom_ruleset_t *a = NULL, *b = NULL, *c = NULL;
    dom_rules_parse_dir(FIXTURES "/good", &diag, &a);
    dom_rules_parse_dir(dir, &diag, &b);
    char path[1100];
    snprintf(path, sizeof(path), "%s/us.yaml", dir);
    FILE *fp = fopen(path, "a");
    fputs("# a comment changes the source hash\n", fp);
    fclose(fp);
    dom_rules_parse_dir(dir, &diag, &c);
    if (ok(a && b && c)) {
        is_str(a->source_hash, b->source_hash); /* names and bytes, not the directory path */
        ok(strcmp(b->source_hash, c->source_hash) != 0);
    }
    dom_ruleset_release(a);
    dom_ruleset_release(b);
    dom_ruleset_release(c);
    remove_dir(dir);
}

/* methods: { read, write } in _classes.yaml: the reads it names, nothing else; undeclared methods write */
static void test_methods(void)
{
    char dir[] = "/tmp/dom-rules-methods-XXXXXX", p[1100];
    if (!ok(mkdtemp(dir) != NULL))
        return;
    copy_yaml(FIXTURES "/good", dir);
    snprintf(p, sizeof(p), "%s/_classes.yaml", dir);
    FILE *fp = fopen(p, "a");
    fputs("methods:\n  read: [PROPFIND, GET, PROPFIND]\n  write: [MKCOL, MOVE]\n", fp);
    fclose(fp);
    dom_ruleset_t *rs = NULL;
    dom_diag_t diag = {0};
    is_int(dom_rules_parse_dir(dir, &diag, &rs), DOM_OK);
    is_str(rs != NULL ? rs->read_methods : NULL, "PROPFIND"); /* GET is always a read; repeats once */
    ok(rs != NULL && dom_ruleset_method_is_read(rs, "PROPFIND", 8));
    ok(rs != NULL && !dom_ruleset_method_is_read(rs, "REPORT", 6)); /* not declared: a write */
    ok(rs != NULL && !dom_ruleset_method_is_read(rs, "MKCOL", 5));
    dom_ruleset_release(rs);
    remove_dir(dir);
}

static void test_broken_case(const char *name)
{
    char dir[] = "/tmp/dom-rules-broken-XXXXXX", src[1024], line[512];
    if (!ok(mkdtemp(dir) != NULL))
        return;
    copy_yaml(FIXTURES "/good", dir);
    snprintf(src, sizeof(src), FIXTURES "/broken/%s", name);
    copy_yaml(src, dir);
    snprintf(src, sizeof(src), FIXTURES "/broken/%s/REMOVE", name);
    FILE *fp = fopen(src, "r");
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char p[1100];
        snprintf(p, sizeof(p), "%s/%s", dir, line);
        unlink(p);
    }
    if (fp)
        fclose(fp);

    collected_t c = {.n = 0};
    dom_diag_t diag = {collect, &c, 0, 0};
    dom_ruleset_t *rs = NULL;
    printf("# broken/%s\n", name);
    is_int(dom_rules_parse_dir(dir, &diag, &rs), DOM_ERULES);
    ok(rs == NULL);
    snprintf(src, sizeof(src), FIXTURES "/broken/%s/EXPECT", name);
    fp = fopen(src, "r");
    ok(fp != NULL);
    size_t expected = 0;
    while (fp != NULL && fgets(line, sizeof(line), fp) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '\0')
            continue;
        ++expected;
        int found = 0;
        for (size_t i = 0; i < c.n && !found; ++i) {
            if (line[0] == ':') /* directory-level: "<dir>: message" */
                found = strstr(c.lines[i], line) != NULL && strncmp(c.lines[i], dir, strlen(dir)) == 0;
            else
                found = strncmp(c.lines[i], line, strlen(line)) == 0;
        }
        if (!ok(found)) {
            printf("#   expected: %s\n", line);
            for (size_t i = 0; i < c.n; ++i)
                printf("#   got:      %s\n", c.lines[i]);
        }
    }
    if (fp)
        fclose(fp);
    ok(expected > 0);
    /* every error is one the case expects: no cascades */
    is_int(diag.errors, expected);
    remove_dir(dir);
}

static void test_broken(void)
{
    DIR *d = opendir(FIXTURES "/broken");
    struct dirent *e;
    char names[64][256];
    size_t n = 0;
    while (d != NULL && (e = readdir(d)) != NULL && n < 64)
        if (e->d_name[0] != '.')
            snprintf(names[n++], sizeof(names[0]), "%s", e->d_name);
    if (d)
        closedir(d);
    ok(n >= 15);
    for (size_t i = 0; i < n; ++i)
        test_broken_case(names[i]);
}

static void test_missing_dir(void)
{
    collected_t c = {.n = 0};
    dom_diag_t diag = {collect, &c, 0, 0};
    dom_ruleset_t *rs = (dom_ruleset_t *)1;
    is_int(dom_rules_parse_dir("/nonexistent/rules", &diag, &rs), DOM_EIO);
    ok(rs == NULL);
    ok(c.n == 1 && strstr(c.lines[0], "cannot open directory") != NULL);
}

static int parse_str(const char *name, const char *yaml, collected_t *c)
{
    c->n = 0;
    dom_diag_t diag = {collect, c, 0, 0};
    return dom_rules_parse_buffer(name, yaml, strlen(yaml), &diag);
}

static void test_buffer(void)
{
    collected_t c;
    is_int(parse_str("x.yaml",
                     "jurisdiction: X\nversion: '1'\napplies_to: [JP]\npolicy_url: https://e.com/p\nclasses:\n"
                     "  account: {write: [eu-central]}\n  content: {write: any}\n  device: {deny: true}\n"
                     "  telemetry: {write: [us-east]}\n  marketing: {deny: true}\n",
                     &c),
           DOM_OK);
    is_int(parse_str("_classes.yaml", "classes: {a: {}}\ndefault_class: a\n", &c), DOM_OK);
    is_int(parse_str("_classes.yaml", "classes: {a: {}}\n", &c), DOM_ERULES);
    ok(c.n == 1 && strstr(c.lines[0], "_classes.yaml:1:1: _classes.yaml needs default_class") != NULL);
    is_int(parse_str("_regions.yaml", "regions:\n  x: {location: DE}\n  y: {}\n", &c), DOM_ERULES);
    ok(c.n == 1 && strstr(c.lines[0], "_regions.yaml:3:3: region \"y\" has no location") != NULL);

    /* hostile input: nesting, size, bytes */
    size_t big = 200000;
    char *deep = malloc(big + 1);
    memset(deep, '[', big);
    deep[big] = '\0';
    is_int(parse_str("x.yaml", deep, &c), DOM_ERULES);
    ok(c.n >= 1 && strstr(c.lines[0], "nesting deeper than") != NULL);
    for (size_t i = 0; i < big; ++i)
        deep[i] = "a: &x [*x, b]\n"[i % 14];
    deep[big - 1] = '\0';
    ok(parse_str("x.yaml", deep, &c) == DOM_ERULES);
    free(deep);
    {
        dom_diag_t diag = {collect, &c, 0, 0};
        is_int(dom_rules_parse_buffer("x.yaml", "a: b\0c: d\n", 10, &diag), DOM_ERULES);
        is_int(dom_rules_parse_buffer("x.yaml", "\xfe\xff\0a\0:", 6, &diag), DOM_ERULES);
    }
    is_int(parse_str("x.yaml", "jurisdiction: \xc3\x28\n", &c), DOM_ERULES);
    ok(c.n >= 1 && strstr(c.lines[0], "x.yaml:") == c.lines[0]);
    is_int(parse_str("x.yaml", "key: \"unterminated\n", &c), DOM_ERULES);
    ok(c.n == 1 && strncmp(c.lines[0], "x.yaml:", 7) == 0);
    is_int(parse_str("x.yaml", "- just\n- a list\n", &c), DOM_ERULES);
    is_int(parse_str("x.yaml", "", &c), DOM_OK); /* empty jurisdiction file: a warning */
    is_int(parse_str("_nope.yaml", "a: 1\n", &c), DOM_ERULES);
    is_int(parse_str("_regions.yaml", "regions: {}\n---\nregions: {}\n", &c), DOM_ERULES);
    /* many errors stop at a bound, with a final notice */
    {
        size_t n = 500 * 8 + 64;
        char *many = malloc(n);
        size_t off = (size_t)sprintf(many, "jurisdiction: X\nversion: '1'\n");
        for (int i = 0; i < 500; ++i)
            off += (size_t)sprintf(many + off, "k%03d: 1\n", i);
        c.n = 0;
        dom_diag_t diag = {collect, &c, 0, 0};
        is_int(dom_rules_parse_buffer("x.yaml", many, off, &diag), DOM_ERULES);
        ok(diag.errors <= 201);
        free(many);
    }
}

int main(void)
{
    subtest("good rule set", test_good);
    subtest("source hash", test_hash);
    subtest("methods", test_methods);
    subtest("broken rule sets", test_broken);
    subtest("missing directory", test_missing_dir);
    subtest("single buffers and hostile input", test_buffer);
    return done_testing();
}

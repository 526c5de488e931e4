/* Tests src/util/yaml.c and diag.c: the walker's accessors, key tables, loading and the diagnostics. */
#include <stdlib.h>
#include "test.h"
#include "test_diag.h"
#include "util/yaml.h"

static struct recorded rec;
static dom_diag_t diag;
static dom__yaml_t y;

/* Each test walks the root of one document with this. */
typedef void (*walk_fn)(dom__yaml_t *y, yaml_node_t *root);

static void call_walk(dom__yaml_t *w, yaml_node_t *root, size_t index, void *arg)
{
    ((walk_fn)arg)(w, root);
}

static int load(const char *text, walk_fn fn)
{
    memset(&rec, 0, sizeof(rec));
    diag = (dom_diag_t){record, &rec, 0, 0};
    y = (dom__yaml_t){.file = "t.yaml", .diag = &diag};
    return dom__yaml_load(&y, text, strlen(text), 8, call_walk, (void *)fn);
}

static yaml_node_t *value_of(dom__yaml_t *w, yaml_node_t *map, const char *key)
{
    DOM__YAML_FOR_PAIRS(w, map, p)
    if (dom__yaml_is(dom__yaml_node(w, p->key), key))
        return dom__yaml_node(w, p->value);
    return NULL;
}

static int bools[8];

static void walk_bools(dom__yaml_t *w, yaml_node_t *root)
{
    static const char *const keys[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
    for (int i = 0; i < 8; ++i) {
        bools[i] = -1;
        yaml_node_t *v = value_of(w, root, keys[i]);
        if (v != NULL)
            dom__yaml_bool(w, v, keys[i], &bools[i]);
    }
}

static void test_bool(void)
{
    is_int(load("a: true\nb: false\nc: yes\nd: no\ne: on\nf: True\ng: FALSE\nh: 1\n", walk_bools), 1);
    is_int(bools[0], 1);
    is_int(bools[1], 0);
    for (int i = 2; i < 8; ++i)
        is_int(bools[i], -1); /* YAML 1.1 words and capitals are refused, not guessed */
    is_int(diag.errors, 6);
    ok(strstr(rec.text, "t.yaml:3:4: c must be true or false, not \"yes\"\n") != NULL);
    ok(strstr(rec.text, "t.yaml:6:4: f must be true or false, not \"True\"\n") != NULL);
    /* quoted "true" is the text true: still a boolean by its value */
    is_int(load("a: \"true\"\n", walk_bools), 1);
    is_int(bools[0], 1);
}

static void walk_scalars(dom__yaml_t *w, yaml_node_t *root)
{
    size_t len;
    DOM__YAML_FOR_PAIRS(w, root, p)
    dom__yaml_scalar(w, dom__yaml_node(w, p->value), "value", &len);
}

static void test_scalar(void)
{
    load("a: [1]\nb: {c: d}\nc: \"x\\0y\"\nd: fine\n", walk_scalars);
    is_int(diag.errors, 3);
    ok(strstr(rec.text, "t.yaml:1:4: value must be a single value, not a list\n") != NULL);
    ok(strstr(rec.text, "t.yaml:2:4: value must be a single value, not a mapping\n") != NULL);
    ok(strstr(rec.text, "t.yaml:3:4: value contains a NUL byte\n") != NULL);
}

static dom_mark_t seen_listen;

static void walk_keys(dom__yaml_t *w, yaml_node_t *root)
{
    static const char *const names[] = {"threads", "listen", "policy_url"};
    dom__yaml_keys_t keys = DOM__YAML_KEYS(names);
    if (dom__yaml_expect(w, root, YAML_MAPPING_NODE, "the file") != 0)
        return;
    DOM__YAML_FOR_PAIRS(w, root, p)
    dom__yaml_key(w, &keys, dom__yaml_node(w, p->key), "the file");
    seen_listen = keys.seen[1];
    ok(!dom__yaml_has(&keys, 0) || keys.seen[0].line != 0);
}

static void test_keys(void)
{
    load("listen: 1\nthread: 2\npolcy_url: 3\nfoo: 4\nlisten: 5\n[x]: 6\n", walk_keys);
    is_int(diag.errors, 5);
    is_int(seen_listen.line, 1);
    is_int(seen_listen.col, 1);
    /* a near miss names its likely key; a far one does not */
    ok(strstr(rec.text, "t.yaml:2:1: unknown key \"thread\" in the file; did you mean \"threads\"? "
                        "(expected one of: threads, listen, policy_url)\n") != NULL);
    ok(strstr(rec.text, "t.yaml:3:1: unknown key \"polcy_url\" in the file; did you mean \"policy_url\"?") != NULL);
    ok(strstr(rec.text, "t.yaml:4:1: unknown key \"foo\" in the file (expected one of:") != NULL);
    ok(strstr(rec.text, "t.yaml:5:1: duplicate key \"listen\" (first at line 1)\n") != NULL);
    ok(strstr(rec.text, "t.yaml:6:1: a key must be a single value, not a list\n") != NULL);
    load("- a\n", walk_keys);
    ok(strstr(rec.text, "t.yaml:1:1: the file must be a mapping (key: value)\n") != NULL);
}

static size_t documents;

static void count(dom__yaml_t *w, yaml_node_t *root)
{
    ++documents;
}

static void test_load(void)
{
    documents = 0;
    is_int(load("", count), 0);
    is_int(load("a: 1\n---\nb: 2\n---\n", count), 3); /* the last document is empty but there */
    is_int(documents, 3);
    is_int(load("a: [1, 2\nb: 3\n", count), -1);
    ok(rec.n == 1 && strncmp(rec.text, "t.yaml:2:", 9) == 0 && strstr(rec.text, "YAML syntax error") != NULL);
    is_int(load("a: [[[[[[[[[1]]]]]]]]]\n", count), -1); /* deeper than 8 */
    ok(strstr(rec.text, "t.yaml:1:11: nesting deeper than 8 levels\n") !=
       NULL); /* the 9th level: the mapping and 8 lists */
    is_int(load("a: \"\xff\"\n", count), -1);
    ok(strstr(rec.text, "invalid input") != NULL);
    /* a cyclic graph loads; walkers follow their schema, never the graph, so it costs what it shows */
    is_int(load("a: &x [*x, *x]\n", count), 1);
}

static void walk_many(dom__yaml_t *w, yaml_node_t *root)
{
    DOM__YAML_FOR_ITEMS(w, root, it)
    dom__yaml_error(w, dom__yaml_node(w, *it), "bad");
}

static void test_bound(void)
{
    char text[4096] = "";
    for (int i = 0; i < 50; ++i)
        strcat(text, "- x\n");
    memset(&rec, 0, sizeof(rec));
    diag = (dom_diag_t){record, &rec, 0, 0};
    y = (dom__yaml_t){.file = "t.yaml", .diag = &diag, .max_errors = 10};
    dom__yaml_load(&y, text, strlen(text), 8, call_walk, (void *)walk_many);
    is_int(diag.errors, 11); /* ten, then the notice */
    ok(y.stop);
    ok(strstr(rec.text, "t.yaml:10:3: too many errors; stopping here\n") != NULL);
}

static void test_show_and_diag(void)
{
    is_str(dom__yaml_show_bytes("a\nb", 3).s, "\"a?b\"");
    char long_value[100];
    memset(long_value, 'v', sizeof(long_value));
    dom__yaml_shown_t s = dom__yaml_show_bytes(long_value, sizeof(long_value));
    is_int(strlen(s.s), 1 + 48 + 3 + 1);
    /* the diagnostics: counted, positions, "file: message" at line 0 */
    memset(&rec, 0, sizeof(rec));
    dom_diag_t d = {record, &rec, 0, 0};
    dom_mark_t m = {3, 7};
    dom_diag_report(&d, "f.yaml", &m, 1, "careful %d", 1);
    dom_diag_report(&d, "f.yaml", NULL, 0, "broken");
    is_int(d.warnings, 1);
    is_int(d.errors, 1);
    is_str(rec.text, "f.yaml:3:7: warning: careful 1\nf.yaml:0:0: broken\n");
}

int main(void)
{
    subtest("booleans: true and false only", test_bool);
    subtest("scalars", test_scalar);
    subtest("key tables", test_keys);
    subtest("loading documents", test_load);
    subtest("the error bound", test_bound);
    subtest("shown values and diagnostics", test_show_and_diag);
    return done_testing();
}

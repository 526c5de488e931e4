/* Tests src/cli/fleet.c: the JSON reader it reads /status with, its URL parsing, and the divergence count. */
#include "cli/fleet.c"
#include "cli/json.c"
#include "test.h"

static dom__jval_t *parse(const char *s)
{
    return dom__json_parse(s, strlen(s));
}

static void test_json(void)
{
    dom__jval_t *v =
        parse("{\"instance\":\"gw1\",\"ready\":true,\"not_ready\":null,\"rules\":{\"source_hash\":\"ab\\u0063\","
              "\"generation\":3,\"loaded_at\":1.7e9},\"regions\":[{\"name\":\"r-eu\",\"nodes\":2,"
              "\"nodes_up\":1},{\"name\":\"r\\\"x\"}],\"empty\":{},\"list\":[]}");
    ok(v != NULL && v->type == DOM__J_OBJ);
    is_str(dom__jval_str(v, "instance"), "gw1");
    ok(dom__jval_get(v, "ready") != NULL && dom__jval_get(v, "ready")->boolean == 1);
    ok(dom__jval_get(v, "not_ready") != NULL && dom__jval_get(v, "not_ready")->type == DOM__J_NULL);
    is_str(dom__jval_str(dom__jval_get(v, "rules"), "source_hash"), "abc");
    is_int(dom__jval_num(dom__jval_get(v, "rules"), "generation"), 3);
    ok(dom__jval_num(dom__jval_get(v, "rules"), "loaded_at") == 1.7e9);
    const dom__jval_t *regions = dom__jval_get(v, "regions");
    ok(regions != NULL && regions->type == DOM__J_ARR && regions->n == 2);
    is_str(dom__jval_str(regions->items[1], "name"), "r\"x");
    is_int(dom__jval_num(regions->items[0], "nodes_up"), 1);
    ok(dom__jval_str(v, "missing") == NULL &&
       dom__jval_num(v, "instance") == 0); /* absent or of another type: nothing */
    dom__jval_free(v);

    const char *bad[] = {"",           "{",      "{\"a\"}", "{\"a\":}", "[1,]", "[1 2]",
                         "{\"a\":1,}", "\"open", "tru",     "{a:1}",    "[-]",  "{\"a\":\"\\u12\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        dom__jval_t *b = parse(bad[i]);
        if (!ok(b == NULL))
            printf("#   accepted: %s\n", bad[i]);
        dom__jval_free(b);
    }
    char deep[201] = "";
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    dom__jval_t *d = parse(deep);
    ok(d == NULL); /* nesting is bounded (32) */
    dom__jval_free(d);
}

static void test_url(void)
{
    struct target t;
    char err[256];
    is_int(parse_url("http://127.0.0.1:9090", &t, err, sizeof(err)), 0);
    is_str(t.host, "127.0.0.1");
    is_str(t.port, "9090");
    is_str(t.path, "/status");
    ok(!t.tls);
    is_int(parse_url("https://[::1]:9443/", &t, err, sizeof(err)), 0);
    is_str(t.host, "::1");
    is_str(t.path, "/status");
    ok(t.tls);
    is_int(parse_url("https://admin.example/custom/status", &t, err, sizeof(err)), 0);
    is_str(t.port, "443");
    is_str(t.path, "/custom/status");
    const char *bad[] = {"ftp://x",      "http://",     "http://h:",   "http://h:99999999",
                         "http://h:80x", "http://[::1", "http://h/a b"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i)
        if (!ok(parse_url(bad[i], &t, err, sizeof(err)) != 0))
            printf("#   accepted: %s\n", bad[i]);
}

static void test_distinct(void)
{
    struct replica rs[3];
    memset(rs, 0, sizeof(rs));
    rs[0].status = parse("{\"rules\":{\"source_hash\":\"aa\"},\"geo\":{\"sha256\":\"g\"}}");
    rs[1].status = parse("{\"rules\":{\"source_hash\":\"aa\"},\"geo\":{\"sha256\":\"g\"}}");
    rs[2].status = NULL; /* did not answer: not counted as a different rule set */
    is_int(distinct(rs, 3, rules_hash, "rule sets", 0), 1);
    dom__jval_free(rs[1].status);
    rs[1].status = parse("{\"rules\":{\"source_hash\":\"bb\"},\"geo\":{\"sha256\":\"g\"}}");
    is_int(distinct(rs, 3, rules_hash, "rule sets", 0), 2);
    is_int(distinct(rs, 3, geo_hash, "geo databases", 0), 1);
    dom__jval_free(rs[0].status);
    dom__jval_free(rs[1].status);
}

int main(void)
{
    subtest("the JSON reader", test_json);
    subtest("admin listener URLs", test_url);
    subtest("divergence", test_distinct);
    return done_testing();
}

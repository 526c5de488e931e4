/* Tests src/cli/fleet.c: the JSON reader it reads /status with, its URL parsing, and the divergence count. */
#include "cli/fleet.c"
#include "cli/json.c"
#include "test.h"

static jval_t *parse(const char *s)
{
    struct jparser jp = {s, s + strlen(s), 0};
    return jparse(&jp);
}

static void test_json(void)
{
    jval_t *v =
        parse("{\"instance\":\"gw1\",\"ready\":true,\"not_ready\":null,\"rules\":{\"source_hash\":\"ab\\u0063\","
              "\"generation\":3,\"loaded_at\":1.7e9},\"regions\":[{\"name\":\"r-eu\",\"nodes\":2,"
              "\"nodes_up\":1},{\"name\":\"r\\\"x\"}],\"empty\":{},\"list\":[]}");
    ok(v != NULL && v->type == J_OBJ);
    is_str(jstr(v, "instance"), "gw1");
    ok(jget(v, "ready") != NULL && jget(v, "ready")->boolean == 1);
    ok(jget(v, "not_ready") != NULL && jget(v, "not_ready")->type == J_NULL);
    is_str(jstr(jget(v, "rules"), "source_hash"), "abc");
    is_int(jnum(jget(v, "rules"), "generation"), 3);
    ok(jnum(jget(v, "rules"), "loaded_at") == 1.7e9);
    const jval_t *regions = jget(v, "regions");
    ok(regions != NULL && regions->type == J_ARR && regions->n == 2);
    is_str(jstr(regions->items[1], "name"), "r\"x");
    is_int(jnum(regions->items[0], "nodes_up"), 1);
    ok(jstr(v, "missing") == NULL && jnum(v, "instance") == 0); /* absent or of another type: nothing */
    jfree(v);

    const char *bad[] = {"",           "{",      "{\"a\"}", "{\"a\":}", "[1,]", "[1 2]",
                         "{\"a\":1,}", "\"open", "tru",     "{a:1}",    "[-]",  "{\"a\":\"\\u12\"}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        jval_t *b = parse(bad[i]);
        if (!ok(b == NULL))
            printf("#   accepted: %s\n", bad[i]);
        jfree(b);
    }
    char deep[201] = "";
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    jval_t *d = parse(deep);
    ok(d == NULL); /* nesting is bounded (32) */
    jfree(d);
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
    jfree(rs[1].status);
    rs[1].status = parse("{\"rules\":{\"source_hash\":\"bb\"},\"geo\":{\"sha256\":\"g\"}}");
    is_int(distinct(rs, 3, rules_hash, "rule sets", 0), 2);
    is_int(distinct(rs, 3, geo_hash, "geo databases", 0), 1);
    jfree(rs[0].status);
    jfree(rs[1].status);
}

int main(void)
{
    subtest("the JSON reader", test_json);
    subtest("admin listener URLs", test_url);
    subtest("divergence", test_distinct);
    return done_testing();
}

/* tests src/gateway/metrics.c: per-thread label tables, histograms, the Prometheus text. */
#include "gateway/metrics.c"
#include "test.h"

static void test_counts_and_render(void)
{
    dom__metrics_t a, b;
    is_int(dom__metrics_init(&a, 16), 0);
    is_int(dom__metrics_init(&b, 16), 0);
    dom__request_labels_t l1 = {"EU-GDPR", "account", "route", 200, "eu-central"};
    dom__request_labels_t l2 = {NULL, NULL, "reject", 503, NULL};
    for (int i = 0; i < 5; ++i)
        dom__metrics_count_request(&a, &l1);
    for (int i = 0; i < 3; ++i)
        dom__metrics_count_request(&b, &l1);
    dom__metrics_count_request(&b, &l2);
    /* more label sets than fit: the rest is one overflow count, never lost */
    char name[32];
    for (int i = 0; i < 40; ++i) {
        snprintf(name, sizeof(name), "J%d", i);
        dom__request_labels_t l = {name, "c\"x", "route", 200, "r"};
        dom__metrics_count_request(&a, &l);
    }
    ok(a.overflow > 0);
    dom__histogram_observe(&a.decision, 30000);   /* 30 µs */
    dom__histogram_observe(&b.decision, 2000000); /* 2 ms */
    dom__histogram_observe(&b.decision, 9000000000ull);
    DOM__COUNT(&a.proxy_accepted[1][0]);
    DOM__COUNT(&b.proxy_accepted[1][0]);
    DOM__COUNT(&b.proxy_accepted[1][1]);
    DOM__COUNT(&a.proxy_refused[DOM_PROXYPROTO_BAD_TLV]);
    DOM__COUNT(&b.proxy_refused[DOM__PROXY_UNTRUSTED]);
    dom__metrics_t *threads[] = {&a, &b};
    dom__metrics_node_t node = {"eu-1", "eu-central", "http://127.0.0.1:1", 1, 2, 3, 4};
    dom__metrics_globals_t g = {.rules_loaded = 1,
                                .rules_generation = 7,
                                .rules_hash = "ab",
                                .ruleset = "cd",
                                .geo_loaded = 1,
                                .geo_build_epoch = 1704067200,
                                .geo_type = "GeoIP2-City",
                                .geo_path = "/x",
                                .nodes = &node,
                                .n_nodes = 1,
                                .audit_ok = 1,
                                .ready = 1};
    dom__metrics_region_t regions[] = {{"eu-central", 2, 1}, {"us-east", 1, 0}};
    g.regions = regions;
    g.n_regions = 2;
    dom__text_t t = {0};
    dom__metrics_render(&t, threads, 2, &g);
    ok(!t.failed && t.base != NULL);
    ok(strstr(t.base, "domicile_requests_total{jurisdiction=\"EU-GDPR\",class=\"account\",action=\"route\","
                      "status=\"200\",region=\"eu-central\"} 8\n") != NULL);
    ok(strstr(t.base, "{jurisdiction=\"none\",class=\"none\",action=\"reject\",status=\"503\",region=\"\"} 1\n") !=
       NULL);
    ok(strstr(t.base, "class=\"c\\\"x\"") != NULL);
    ok(strstr(t.base, "domicile_decision_duration_seconds_bucket{le=\"5e-05\"} 1\n") != NULL);
    ok(strstr(t.base, "domicile_decision_duration_seconds_bucket{le=\"+Inf\"} 3\n") != NULL);
    ok(strstr(t.base, "domicile_decision_duration_seconds_count 3\n") != NULL);
    ok(strstr(t.base, "domicile_rules_info{ruleset=\"cd\",generation=\"7\",source_hash=\"ab\"") != NULL);
    ok(strstr(t.base, "domicile_node_up{cluster=\"eu-1\",region=\"eu-central\",node=\"http://127.0.0.1:1\"} 1") !=
       NULL);
    ok(strstr(t.base, "domicile_geo_database_build_timestamp_seconds 1704067200\n") != NULL);
    ok(strstr(t.base, "domicile_proxy_protocol_headers_total{version=\"2\",command=\"proxy\"} 2\n") != NULL);
    ok(strstr(t.base, "domicile_proxy_protocol_headers_total{version=\"2\",command=\"local\"} 1\n") != NULL);
    ok(strstr(t.base, "domicile_proxy_protocol_headers_total{version=\"1\",command=\"proxy\"} 0\n") != NULL);
    ok(strstr(t.base, "domicile_proxy_protocol_refused_total{reason=\"bad_tlv\"} 1\n") != NULL);
    ok(strstr(t.base, "domicile_proxy_protocol_refused_total{reason=\"untrusted\"} 1\n") != NULL);
    ok(strstr(t.base, "domicile_proxy_protocol_refused_total{reason=\"timeout\"} 0\n") != NULL);
    ok(strstr(t.base, "domicile_region_up{region=\"eu-central\"} 1\n") != NULL);
    ok(strstr(t.base, "domicile_region_up{region=\"us-east\"} 0\n") != NULL);
    ok(strstr(t.base, "domicile_ready 1\n") != NULL);
    /* the sum over every label set, overflow included, equals the requests counted */
    uint64_t sum = 0;
    for (char *p = strstr(t.base, "\ndomicile_requests_total{"); p != NULL;
         p = strstr(p + 1, "\ndomicile_requests_total{"))
        sum += strtoull(strchr(strchr(p, '}'), ' ') + 1, NULL, 10);
    is_int(sum, 5 + 3 + 1 + 40);
    dom__text_free(&t);
    dom__metrics_dispose(&a);
    dom__metrics_dispose(&b);
    dom__metrics_dispose(&b);
}

int main(void)
{
    subtest("counts and rendering", test_counts_and_render);
    return done_testing();
}

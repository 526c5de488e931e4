/*
 * Tests src/gateway/config/: the good config, each kind of error with file:line:col, paths, suffixes,
 * every error in one run, what SIGHUP applies, and that docs/config.md lists every key.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "domicile/rules.h"
#include "gateway/config.h"
#include "test.h"
#include "test_diag.h"

static struct recorded rec;
static dom_diag_t diag;

static int load(const char *yaml, dom_config_t **cfg)
{
    memset(&rec, 0, sizeof(rec));
    diag = (dom_diag_t){record, &rec, 0, 0};
    return dom_config_load_buffer("t.yaml", "/etc/domicile", yaml, strlen(yaml), cfg, &diag);
}

/* Loads a config that must fail and checks the first message. */
static void expect_error(const char *yaml, const char *want)
{
    dom_config_t *cfg = NULL;
    int ret = load(yaml, &cfg);
    is_int(ret, DOM_ECONFIG);
    ok(cfg == NULL);
    if (!ok(strstr(rec.text, want) != NULL))
        printf("#   want \"%s\" in:\n%s", want, rec.text);
}

#define BASE "listen: [\"127.0.0.1:8080\"]\nrules: r.mdb\n"

static void test_example(void)
{
    dom_config_t *cfg = NULL;
    memset(&rec, 0, sizeof(rec));
    diag = (dom_diag_t){record, &rec, 0, 0};
    int ret = dom_config_load(DOM_SOURCE_DIR "/examples/domicile.yaml", &cfg, &diag);
    is_int(ret, 0);
    if (cfg == NULL) {
        printf("%s", rec.text);
        return;
    }
    is_int(diag.errors, 0);
    is_int(cfg->threads, 2);
    is_int(cfg->n_listeners, 3);
    ok(cfg->listeners[0].tls_certificate != NULL);
    is_str(cfg->listeners[0].tls_certificate, DOM_SOURCE_DIR "/examples/../demo/tls/cert.pem");
    is_int(cfg->listeners[1].addr.ss_family, AF_INET6);
    is_int(ntohs(((struct sockaddr_in6 *)&cfg->listeners[1].addr)->sin6_port), 8443);
    ok(cfg->listeners[2].tls_certificate == NULL);
    is_int(cfg->trusted_proxies.count, 2);
    is_str(cfg->geo.database, DOM_SOURCE_DIR "/examples/../demo/geo.mmdb");
    is_int(cfg->n_overrides, 1);
    is_str(cfg->overrides[0].country, "DE");
    is_int(cfg->overrides[0].cidr.prefix, 24);
    is_str(cfg->rules, DOM_SOURCE_DIR "/examples/../demo/rules.mdb");
    is_str(cfg->pins.header, "domicile-pin");
    is_str(cfg->consent_header, "domicile-consent");
    is_int(cfg->limits.max_body, 1 << 20);
    is_int(cfg->limits.n_classes, 1);
    is_str(cfg->limits.classes[0].class_name, "content");
    is_int(cfg->limits.classes[0].max_body, 8 << 20);
    is_int(dom_config_largest_body(cfg), 8 << 20);
    is_int(cfg->limits.upstream_timeout_ms, 30000);
    is_int(cfg->limits.drain_timeout_ms, 10000);
    is_int(cfg->expose_decision_headers, 1);
    is_int(cfg->forward_trailers, 0); /* off unless the file says so */
    is_int(cfg->n_anonymize_strip_headers, 2);
    is_str(cfg->anonymize_strip_headers[1], "x-device-id");
    is_int(cfg->n_clusters, 2);
    is_str(cfg->clusters[0].name, "eu-central-1");
    is_str(cfg->clusters[0].region, "eu-central");
    is_int(cfg->clusters[0].balance, DOM_BALANCE_ROUND_ROBIN);
    is_int(cfg->clusters[0].n_nodes, 1);
    is_str(cfg->clusters[0].nodes[0].host, "127.0.0.1");
    is_int(cfg->clusters[0].nodes[0].port, 9101);
    is_int(cfg->clusters[0].nodes[0].tls, 0);
    dom_config_free(cfg);
}

static void test_values(void)
{
    dom_config_t *cfg = NULL;
    int ret = load(BASE "threads: 3\n"
                        "listen:\n"
                        "  - address: \"[::]:443\"\n"
                        "    tls: { certificate: /abs/c.pem, key: k.pem }\n"
                        "    proxy_protocol: true\n"
                        "  - \"*:80\"\n",
                   &cfg);
    /* BASE already has listen: duplicate key */
    is_int(ret, DOM_ECONFIG);
    ok(strstr(rec.text, "t.yaml:4:1: duplicate key \"listen\"") != NULL);

    ret = load("rules: r.mdb\nthreads: 3\n"
               "listen:\n"
               "  - address: \"[::]:443\"\n"
               "    tls: { certificate: /abs/c.pem, key: k.pem }\n"
               "    proxy_protocol: true\n"
               "  - \"*:80\"\n"
               "limits: { max_body: 512k, upstream_timeout: 1500ms, drain_timeout: 2m,\n"
               "          class_max_body: { telemetry: 2G, account: 100 } }\n"
               "pins: { header: X-Pin, keys: keys/pin }\n"
               "consent_header: Consent\n"
               "geo: { database: g.mmdb, shape: flat, country_path: country_code }\n"
               "overrides:\n"
               "  - { cidr: 10.0.0.0/8, country: US-CA }\n"
               "  - { cidr: \"2001:db8::/32\", jurisdiction: EU-GDPR }\n"
               "admin: { listen: \"127.0.0.1:9090\" }\n"
               "clusters:\n"
               "  - { name: a, region: eu-central, balance: least-outstanding,\n"
               "      nodes: [\"https://[::1]\", \"http://backend.internal:8080/\"] }\n",
               &cfg);
    is_int(ret, 0);
    if (cfg == NULL) {
        printf("%s", rec.text);
        return;
    }
    is_int(cfg->threads, 3);
    is_int(cfg->listeners[0].proxy_protocol, 1);
    is_str(cfg->listeners[0].tls_certificate, "/abs/c.pem");
    is_str(cfg->listeners[0].tls_key, "/etc/domicile/k.pem");
    is_int(cfg->listeners[1].addr.ss_family, AF_INET);
    is_int(ntohs(((struct sockaddr_in *)&cfg->listeners[1].addr)->sin_port), 80);
    is_int(cfg->limits.max_body, 512 * 1024);
    is_int(cfg->limits.upstream_timeout_ms, 1500);
    is_int(cfg->limits.drain_timeout_ms, 120000);
    is_int(dom_config_largest_body(cfg), 2ull << 30);
    is_str(cfg->pins.header, "x-pin");
    is_str(cfg->pins.keys, "/etc/domicile/keys/pin");
    is_str(cfg->consent_header, "consent");
    is_str(cfg->rules, "/etc/domicile/r.mdb");
    is_int(cfg->geo.shape, DOM_GEO_SHAPE_FLAT);
    is_str(cfg->geo.country_path, "country_code");
    is_str(cfg->overrides[0].country, "US");
    is_str(cfg->overrides[0].subdivision, "US-CA");
    is_str(cfg->overrides[1].jurisdiction, "EU-GDPR");
    is_str(cfg->admin.listen, "127.0.0.1:9090");
    is_int(cfg->clusters[0].balance, DOM_BALANCE_LEAST_OUTSTANDING);
    is_int(cfg->clusters[0].nodes[0].tls, 1);
    is_int(cfg->clusters[0].nodes[0].port, 443);
    is_str(cfg->clusters[0].nodes[0].host, "::1");
    is_str(cfg->clusters[0].nodes[1].host, "backend.internal");
    is_int(cfg->clusters[0].nodes[1].port, 8080);
    dom_config_free(cfg);
}

/* The keys of the request bounds: defaults, values, and [] for "refuse no method". */
static void test_request_keys(void)
{
    dom_config_t *cfg = NULL;
    is_int(load(BASE, &cfg), 0);
    if (cfg != NULL) {
        is_int(cfg->limits.max_headers, DOM_DEFAULT_MAX_HEADERS);
        is_int(cfg->limits.max_header_bytes, DOM_DEFAULT_MAX_HEADER_BYTES);
        is_int(cfg->limits.proxy_header_timeout_ms, 5000);
        ok(cfg->refuse_methods == NULL); /* the default set */
        is_int(cfg->paths, DOM_PATHS_STRICT);
        is_int(cfg->audit.required, 0);
    }
    dom_config_free(cfg);
    is_int(load(BASE "refuse_methods: []\npaths: canonicalize\nlimits: { max_headers: 50, max_header_bytes: 8k }\n"
                     "listen: [{ address: \"127.0.0.1:1\", proxy_protocol: true }]\n",
                &cfg),
           DOM_ECONFIG); /* listen twice */
    is_int(
        load(
            "rules: r.mdb\nrefuse_methods: []\npaths: canonicalize\nlimits: { max_headers: 50, max_header_bytes: 8k }\n"
            "listen: [{ address: \"127.0.0.1:1\", proxy_protocol: true }]\n",
            &cfg),
        0);
    if (cfg != NULL) {
        ok(cfg->refuse_methods != NULL && cfg->refuse_methods[0] == NULL); /* refuse none */
        is_int(cfg->paths, DOM_PATHS_CANONICALIZE);
        is_int(cfg->limits.max_headers, 50);
        is_int(cfg->limits.max_header_bytes, 8192);
        ok(strstr(rec.text, "t.yaml:5:10: warning: listener 127.0.0.1:1 has proxy_protocol: true but trusted_proxies "
                            "is empty") != NULL);
    }
    dom_config_free(cfg);
}

static void test_errors(void)
{
    expect_error("listen: [\"127.0.0.1:8080\"]\nrules: [a\n", "t.yaml:3:1: ");
    expect_error(BASE "thread: 2\n", "t.yaml:3:1: unknown key \"thread\" in the configuration");
    expect_error(BASE "threads: 0\n", "t.yaml:3:10: threads must be a number from 1 to");
    expect_error(BASE "threads: [1]\n", "t.yaml:3:10: threads must be a single value, not a list");
    expect_error("rules: r.mdb\nlisten: [\"127.0.0.1\"]\n", "t.yaml:2:10: bad listen address \"127.0.0.1\"");
    expect_error("rules: r.mdb\nlisten: [\"::1:80\"]\n", "t.yaml:2:10: bad listen address");
    expect_error("rules: r.mdb\nlisten: [\"127.0.0.1:0\"]\n", "port must be a number from 1 to 65535");
    expect_error("rules: r.mdb\nlisten: [\"localhost:80\"]\n", "numeric IPv4 or [IPv6]");
    expect_error("rules: r.mdb\nlisten:\n  - address: \"127.0.0.1:1\"\n    tls: { certificate: c.pem }\n",
                 "t.yaml:4:10: tls needs both certificate and key");
    expect_error("rules: r.mdb\nlisten:\n  - { address: \"127.0.0.1:1\", h2: true }\n",
                 "t.yaml:3:31: unknown key \"h2\" in a listener");
    expect_error("rules: r.mdb\nlisten: [\"127.0.0.1:1\", \"127.0.0.1:1\"]\n", "is configured twice");
    expect_error("rules: r.mdb\n", "no listeners");
    expect_error("listen: [\"127.0.0.1:8080\"]\n", "no rules database");
    expect_error("", "the configuration is empty");
    expect_error("- a\n", "t.yaml:1:1: the configuration must be a mapping");
    expect_error(BASE "trusted_proxies: [10.0.0.1/8]\n", "t.yaml:3:19: \"10.0.0.1/8\" is not a network");
    expect_error(BASE "trusted_proxies: 10.0.0.0/8\n", "trusted_proxies must be a list");
    expect_error(BASE "overrides: [{ cidr: 10.0.0.0/8, country: Germany }]\n", "t.yaml:3:42: country \"Germany\"");
    expect_error(BASE "overrides: [{ cidr: 10.0.0.0/8 }]\n", "needs either a country or a jurisdiction");
    expect_error(BASE "overrides: [{ country: DE }]\n", "an override needs a cidr");
    expect_error(BASE "overrides: [{ cidr: 10.0.0.0/8, country: DE, jurisdiction: X }]\n", "not both");
    expect_error(BASE "limits: { max_body: 10x }\n", "t.yaml:3:21: limits.max_body \"10x\" is not a size");
    expect_error(BASE "limits: { max_body: 0 }\n", "limits.max_body must be greater than zero");
    expect_error(BASE "limits: { max_body: 99999999999999999999999 }\n", "is not a size");
    expect_error(BASE "limits: { upstream_timeout: 10h }\n", "is not a duration");
    expect_error(BASE "limits: { upstream_timeout: 0s }\n", "must be greater than zero");
    expect_error(BASE "limits: { drain_timeout: 9999999999s }\n", "is too long");
    expect_error(BASE "limits: { class_max_body: { content: -1 } }\n", "is not a size");
    expect_error(BASE "limits: { max_bodies: 1m }\n", "unknown key \"max_bodies\" in limits");
    expect_error(BASE "geo: { database: g.mmdb, shape: round }\n", "geo.shape must be auto, geoip2 or flat");
    expect_error(BASE "geo: { country_path: \"a..b\" }\n", "must be dot-separated keys");
    expect_error(BASE "geo: { database: \"\" }\n", "geo.database is empty");
    expect_error(BASE "pins: { header: \"bad header\" }\n", "is not a valid header name");
    expect_error(BASE "pins: { key: k }\n", "unknown key \"key\" in pins");
    expect_error(BASE "expose_decision_headers: maybe\n", "must be true or false");
    expect_error(BASE "expose_decision_headers: yes\n",
                 "t.yaml:3:26: expose_decision_headers must be true or false, not \"yes\"");
    expect_error(BASE "expose_decision_headers: True\n", "must be true or false, not \"True\"");
    expect_error(BASE "limits: { max_headers: 7 }\n",
                 "t.yaml:3:24: limits.max_headers must be a number from 8 to 10000");
    expect_error(BASE "limits: { max_header_bytes: 512 }\n", "limits.max_header_bytes must be from 1k to 16m");
    expect_error(BASE "limits: { proxy_header_timeout: 2m }\n", "limits.proxy_header_timeout must be from 1ms to 60s");
    expect_error(BASE "refuse_methods: [TRACE, \"BAD METHOD\"]\n",
                 "t.yaml:3:25: refuse_methods entry \"BAD METHOD\" is not an HTTP method");
    expect_error(BASE "paths: loose\n", "paths must be strict or canonicalize, not \"loose\"");
    expect_error(BASE "audit: { required: true }\n", "t.yaml:3:8: audit.required: true needs audit.path");
    expect_error(BASE "consent_headr: x\n",
                 "t.yaml:3:1: unknown key \"consent_headr\" in the configuration; did you mean \"consent_header\"?");
    expect_error(BASE "overrides: [{ cidr: 10.0.0.0/8, country: US-XX }]\n",
                 "country \"US-XX\" is not in ISO 3166-2:US");
    expect_error(BASE "overrides: [{ cidr: 10.0.0.0/8, jurisdiction: \"EU GDPR\" }]\n",
                 "jurisdiction \"EU GDPR\" must be");
    expect_error(BASE "forward_trailers: sometimes\n", "forward_trailers must be true or false");
    expect_error(BASE "anonymize_strip_headers: [\"x:y\"]\n", "is not a valid header name");
    expect_error(BASE "admin: { listen: nowhere }\n", "bad admin.listen address");
    expect_error(BASE "clusters: [{ name: a, region: r, nodes: [\"ftp://x\"] }]\n",
                 "t.yaml:3:42: bad node URL \"ftp://x\": a node URL starts with http:// or https://");
    expect_error(BASE "clusters: [{ name: a, region: r, nodes: [\"http://x/api\"] }]\n", "no path");
    expect_error(BASE "clusters: [{ name: a, region: r, nodes: [\"http://x:99999\"] }]\n", "port must be");
    expect_error(BASE "clusters: [{ name: a, region: r, nodes: [] }]\n", "at least one node");
    expect_error(BASE "clusters: [{ name: a, nodes: [\"http://x\"] }]\n", "t.yaml:3:12: a cluster needs a region");
    expect_error(BASE "clusters: [{ name: a, region: r, balance: random, nodes: [\"http://x\"] }]\n",
                 "balance must be round-robin or least-outstanding");
    expect_error(BASE "clusters:\n  - { name: a, region: r, nodes: [\"http://x\"] }\n"
                      "  - { name: a, region: s, nodes: [\"http://y\"] }\n",
                 "t.yaml:5:5: cluster name \"a\" is used twice (first at line 4)");
    expect_error(BASE "---\nthreads: 1\n", "only one YAML document");
    expect_error(BASE "consent_header: \"a\\0b\"\n", "consent_header contains a NUL byte");

    /* several errors are all reported, not only the first */
    dom_config_t *cfg;
    load(BASE "threads: x\nfoo: 1\nlimits: { max_body: q }\n", &cfg);
    is_int(diag.errors, 3);
}

/* Every error of a file in one run, each at its own file:line:col: no first error hides the others. */
static void test_all_errors(void)
{
    static const char text[] = "listen:\n"                                             /* 1 */
                               "  - address: \"127.0.0.1:8080\"\n"                     /* 2 */
                               "    proxy_protocol: yes\n"                             /* 3 */
                               "rules: r.mdb\n"                                        /* 4 */
                               "thread: 2\n"                                           /* 5 */
                               "limits: { max_body: lots }\n"                          /* 6 */
                               "overrides: [{ cidr: 10.0.0.0/8, country: ZZ }]\n"      /* 7 */
                               "clusters:\n"                                           /* 8 */
                               "  - { name: a, region: mars, nodes: [\"ftp://x\"] }\n" /* 9 */
                               "audit: { client_address: hash, path: a.log }\n"        /* 10 */
                               "geo: { shape: round }\n";                              /* 11 */
    static const char *const want[] = {
        ":3:21: proxy_protocol must be true or false, not \"yes\"",
        ":5:1: unknown key \"thread\" in the configuration; did you mean \"threads\"? (expected one of: threads,",
        ":6:21: limits.max_body \"lots\" is not a size",
        ":7:42: country \"ZZ\" must be an ISO 3166-1 code (DE) or ISO 3166-2 code (US-CA)",
        ":9:38: bad node URL \"ftp://x\": a node URL starts with http:// or https://",
        ":10:38: audit.client_address: hash needs audit.hash_key_file (a secret key)",
        ":11:15: geo.shape must be auto, geoip2 or flat, not \"round\"",
        /* and, from the same run, what needs the rules: the cluster's region */
        ":9:24: cluster \"a\": the rules know no storage region \"mars\" (they know: eu-central,",
    };
    char dir[] = "/tmp/domcfgXXXXXX", path[300];
    ok(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/gw.yaml", dir);
    FILE *fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);

    memset(&rec, 0, sizeof(rec));
    diag = (dom_diag_t){record, &rec, 0, 0};
    dom_config_t *cfg = NULL;
    is_int(dom_config_load_partial(path, &cfg, &diag), DOM_ECONFIG);
    ok(cfg != NULL); /* what parsed, to go on checking with */
    dom_ruleset_t *rules = NULL;
    struct recorded rules_rec = {"", 0};
    dom_diag_t quiet = {record, &rules_rec, 0, 0};
    is_int(dom_rules_parse_dir(DOM_SOURCE_DIR "/tests/fixtures/rules/good", &quiet, &rules), 0);
    if (cfg != NULL && rules != NULL)
        is_int(dom_config_check_regions(cfg, rules, &diag), 1);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); ++i) {
        char needle[400];
        snprintf(needle, sizeof(needle), "%s%s", path, want[i]);
        if (!ok(strstr(rec.text, needle) != NULL))
            printf("#   want \"%s\" in:\n%s", needle, rec.text);
    }
    is_int(diag.errors, sizeof(want) / sizeof(want[0]));
    dom_ruleset_release(rules);
    dom_config_free(cfg);

    /* the same file through dom_config_load: the same errors, and no config */
    memset(&rec, 0, sizeof(rec));
    diag = (dom_diag_t){record, &rec, 0, 0};
    cfg = (dom_config_t *)1;
    is_int(dom_config_load(path, &cfg, &diag), DOM_ECONFIG);
    ok(cfg == NULL);
    is_int(diag.errors, sizeof(want) / sizeof(want[0]) - 1);
    unlink(path);
    rmdir(dir);
}

/* What SIGHUP would do with a new file, as the tables say. */
struct changes {
    char live[1024], restart[1024];
};

static void on_change(void *ctx, const char *key, int live, const char *note)
{
    struct changes *c = ctx;
    char *list = live ? c->live : c->restart;
    size_t off = strlen(list);
    snprintf(list + off, sizeof(c->live) - off, "%s%s", off ? " " : "", key);
}

static void test_reload_classes(void)
{
    dom_config_t *run = NULL, *next = NULL;
    is_int(load(BASE "threads: 2\nlimits: { max_body: 1m, upstream_timeout: 10s }\npins: { header: x-pin }\n"
                     "clusters: [{ name: a, region: r, nodes: [\"http://x\"] }]\n",
                &run),
           0);
    is_int(load(BASE "threads: 3\nlimits: { max_body: 2m, upstream_timeout: 10s, h2_max_resets: 5 }\n"
                     "pins: { header: y-pin }\ngeo: { database: g.mmdb, shape: flat }\ntrusted_proxies: [10.0.0.0/8]\n"
                     "clusters: [{ name: a, region: r, nodes: [\"http://y\"] }]\n",
                &next),
           0);
    if (run == NULL || next == NULL)
        return;
    struct changes c = {"", ""};
    is_int(dom_config_compare(run, run, next, on_change, &c), 0);
    is_str(c.live, "trusted_proxies geo.shape pins.header limits.h2_max_resets");
    is_str(c.restart, "threads geo.database limits.max_body clusters");
    /* what cannot apply now is put back: the running body limit and no geo database */
    is_int(next->limits.max_body, 1 << 20);
    ok(next->geo.database == NULL);
    ok(dom_config_same("limits", run, next) == 0); /* h2_max_resets differs */
    ok(dom_config_same("limits.max_body", run, next));
    ok(dom_config_same("overrides", run, next));
    ok(!dom_config_same("geo", run, next));
    ok(!dom_config_same("no.such.key", run, next));
    /* a lower body limit applies */
    dom_config_t *lower = NULL;
    is_int(load(BASE "threads: 2\nlimits: { max_body: 4k, upstream_timeout: 10s }\npins: { header: x-pin }\n"
                     "clusters: [{ name: a, region: r, nodes: [\"http://x\"] }]\n",
                &lower),
           0);
    struct changes c2 = {"", ""};
    if (lower != NULL)
        is_int(dom_config_compare(run, run, lower, on_change, &c2), 0);
    is_str(c2.live, "limits.max_body");
    is_str(c2.restart, "");
    dom_config_free(lower);
    dom_config_free(run);
    dom_config_free(next);
}

/* docs/config.md carries the table the config's own tables print: every key, and what SIGHUP does. */
static void test_keys_documented(void)
{
    char *printed = NULL, *doc = NULL;
    size_t printed_len = 0, doc_len = 0;
    FILE *fp = open_memstream(&printed, &printed_len);
    dom_config_keys_markdown(fp);
    fclose(fp);
    ok(strstr(printed, "| `clusters[].health.interval` | restart |\n") != NULL);
    ok(strstr(printed, "| `pins.header` | live |\n") != NULL);
    fp = fopen(DOM_SOURCE_DIR "/docs/config.md", "r");
    ok(fp != NULL);
    if (fp != NULL) {
        FILE *out = open_memstream(&doc, &doc_len);
        int c;
        while ((c = fgetc(fp)) != EOF)
            fputc(c, out);
        fclose(out);
        fclose(fp);
        const char *begin = strstr(doc, "<!-- keys: begin"), *end = strstr(doc, "<!-- keys: end -->");
        ok(begin != NULL && end != NULL);
        if (begin != NULL && end != NULL) {
            begin = strchr(begin, '\n') + 1;
            int same = (size_t)(end - begin) == printed_len && memcmp(begin, printed, printed_len) == 0;
            if (!ok(same))
                printf("# docs/config.md is out of date: replace its keys table with `domicile serve --keys`:\n%s",
                       printed);
        }
    }
    free(printed);
    free(doc);
}

/* Loads a config that must load; returns it (NULL printed) with its messages in rec. */
static dom_config_t *expect_load(const char *yaml)
{
    dom_config_t *cfg = NULL;
    if (!is_int(load(yaml, &cfg), 0))
        printf("%s", rec.text);
    return cfg;
}

static void test_admin(void)
{
    /* loopback, no authentication: as before, silently */
    dom_config_t *cfg = expect_load(BASE "admin: { listen: \"127.0.0.1:9090\" }\n");
    is_int(diag.warnings, 1); /* only "no clusters" */
    ok(strstr(rec.text, "admin") == NULL);
    dom_config_free(cfg);
    cfg = expect_load(BASE "admin: { listen: \"[::1]:9090\", token_file: tok }\n");
    ok(cfg != NULL && strcmp(cfg->admin.token_file, "/etc/domicile/tok") == 0);
    ok(strstr(rec.text, "admin") == NULL);
    dom_config_free(cfg);

    /* off loopback without authentication: refused, unless the operator opts out (a warning) */
    expect_error(BASE "admin: { listen: \"0.0.0.0:9090\" }\n",
                 "t.yaml:3:18: admin.listen 0.0.0.0:9090 is not a loopback address and the admin listener has no "
                 "authentication");
    expect_error(BASE "admin: { listen: \"[::]:9090\" }\n", "admin.tls.client_ca (client certificates)");
    expect_error(BASE "admin: { listen: \"10.0.0.5:9090\", allow_unauthenticated: false }\n", "has no authentication");
    expect_error(BASE "admin: { listen: \"10.0.0.5:9090\", open_probes: true }\n", "has no authentication");
    cfg = expect_load(BASE "admin: { listen: \"0.0.0.0:9090\", allow_unauthenticated: true }\n");
    ok(cfg != NULL && cfg->admin.allow_unauthenticated == 1);
    ok(strstr(rec.text, "t.yaml:3:18: warning: admin.listen 0.0.0.0:9090 is not a loopback address: /metrics and "
                        "/status are open to anyone") != NULL);
    dom_config_free(cfg);

    /* off loopback with a token: a warning that says how it is protected */
    cfg = expect_load(BASE "admin: { listen: \"0.0.0.0:9090\", token_file: /run/secrets/admin-token }\n");
    ok(strstr(rec.text, "warning: admin.listen 0.0.0.0:9090 is not a loopback address: requests need the bearer "
                        "token of admin.token_file, which crosses the network in clear text; add admin.tls") != NULL);
    dom_config_free(cfg);
    cfg = expect_load(BASE "admin:\n  listen: \"0.0.0.0:9090\"\n  open_probes: true\n"
                           "  tls: { certificate: c.pem, key: k.pem, client_ca: ca.pem }\n");
    if (cfg != NULL) {
        is_str(cfg->admin.tls_certificate, "/etc/domicile/c.pem");
        is_str(cfg->admin.tls_key, "/etc/domicile/k.pem");
        is_str(cfg->admin.tls_client_ca, "/etc/domicile/ca.pem");
        is_int(cfg->admin.open_probes, 1);
        ok(strstr(rec.text, "warning: admin.listen 0.0.0.0:9090 is not a loopback address: requests need a client "
                            "certificate signed by admin.tls.client_ca\n") != NULL);
    }
    dom_config_free(cfg);
    /* TLS without client certificates is not authentication by itself */
    expect_error(BASE "admin: { listen: \"0.0.0.0:9090\", tls: { certificate: c.pem, key: k.pem } }\n",
                 "has no authentication");

    expect_error(BASE "admin: { listen: \"127.0.0.1:9090\", tls: { certificate: c.pem } }\n",
                 "t.yaml:3:41: admin.tls needs certificate and key");
    expect_error(BASE "admin: { listen: \"127.0.0.1:9090\", tls: { cert: c.pem, key: k } }\n",
                 "unknown key \"cert\" in admin.tls (expected one of: certificate, key, client_ca)");
    expect_error(BASE "admin: { listen: \"127.0.0.1:9090\", token: abc }\n", "unknown key \"token\" in admin");
    expect_error(BASE "admin: { listen: \"127.0.0.1:9090\", token_file: \"\" }\n", "admin.token_file is empty");
    expect_error(BASE "admin: { token_file: t }\n", "admin.token_file and admin.tls need admin.listen");
    expect_error(BASE "admin: { listen: \"127.0.0.1:9090\", open_probes: sometimes }\n", "must be true or false");

    struct sockaddr_storage ss = {0};
    ss.ss_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:127.0.0.2", &((struct sockaddr_in6 *)&ss)->sin6_addr);
    is_int(dom_config_addr_is_loopback(&ss), 1);
    inet_pton(AF_INET6, "::ffff:10.0.0.1", &((struct sockaddr_in6 *)&ss)->sin6_addr);
    is_int(dom_config_addr_is_loopback(&ss), 0);
    ss.ss_family = AF_INET;
    inet_pton(AF_INET, "127.255.0.1", &((struct sockaddr_in *)&ss)->sin_addr);
    is_int(dom_config_addr_is_loopback(&ss), 1);
    inet_pton(AF_INET, "128.0.0.1", &((struct sockaddr_in *)&ss)->sin_addr);
    is_int(dom_config_addr_is_loopback(&ss), 0);
}

/* pins.keys, audit.hash_key_file and admin.token_file: refused when others can write them, warned when readable. */
static void test_secrets(void)
{
    char dir[] = "/tmp/domsecXXXXXX", yaml[2048], want[1200];
    ok(mkdtemp(dir) != NULL);
    const char *names[] = {"pin-keys", "hash-key", "token"};
    char paths[3][300];
    for (int i = 0; i < 3; ++i) {
        snprintf(paths[i], sizeof(paths[i]), "%s/%s", dir, names[i]);
        FILE *fp = fopen(paths[i], "w");
        fputs("secret-secret-secret\n", fp);
        fclose(fp);
        chmod(paths[i], 0600);
    }
    snprintf(yaml, sizeof(yaml),
             BASE "pins: { keys: %s }\naudit: { path: a.log, hash_key_file: %s }\n"
                  "admin: { listen: \"127.0.0.1:9090\", token_file: %s }\n",
             paths[0], paths[1], paths[2]);
    dom_config_t *cfg = expect_load(yaml);
    if (cfg == NULL)
        goto cleanup;
    memset(&rec, 0, sizeof(rec));
    diag = (dom_diag_t){record, &rec, 0, 0};
    is_int(dom_config_check_secrets(cfg, &diag), 0);
    is_int(diag.warnings, 0);
    chmod(paths[0], 0640);
    is_int(dom_config_check_secrets(cfg, &diag), 0);
    is_int(diag.warnings, 0);
    for (int i = 0; i < 3; ++i) {
        chmod(paths[i], 0666);
        memset(&rec, 0, sizeof(rec));
        diag = (dom_diag_t){record, &rec, 0, 0};
        is_int(dom_config_check_secrets(cfg, &diag), 1);
        static const int cols[] = {15, 38, 48}; /* where each path starts on its line */
        static const char *const what[] = {"pin keys", "audit.hash_key_file", "admin.token_file"};
        snprintf(want, sizeof(want), "t.yaml:%d:%d: %s %s: mode 0666 lets other users replace it; chmod 600", 3 + i,
                 cols[i], what[i], paths[i]);
        if (!ok(strstr(rec.text, want) != NULL))
            printf("#   want \"%s\" in:\n%s", want, rec.text);
        chmod(paths[i], 0644);
        memset(&rec, 0, sizeof(rec));
        diag = (dom_diag_t){record, &rec, 0, 0};
        is_int(dom_config_check_secrets(cfg, &diag), 0);
        is_int(diag.warnings, 1);
        ok(strstr(rec.text, "warning: ") != NULL && strstr(rec.text, "mode 0644 lets every user read it") != NULL);
        chmod(paths[i], 0600);
    }
    /* a missing file is its loader's to report */
    unlink(paths[2]);
    memset(&rec, 0, sizeof(rec));
    diag = (dom_diag_t){record, &rec, 0, 0};
    is_int(dom_config_check_secrets(cfg, &diag), 0);
    is_int(diag.errors + diag.warnings, 0);
cleanup:
    dom_config_free(cfg);
    for (int i = 0; i < 3; ++i)
        unlink(paths[i]);
    rmdir(dir);
}

static void test_files(void)
{
    dom_config_t *cfg = (dom_config_t *)1;
    memset(&rec, 0, sizeof(rec));
    diag = (dom_diag_t){record, &rec, 0, 0};
    is_int(dom_config_load("/nonexistent/domicile.yaml", &cfg, &diag), DOM_EIO);
    ok(cfg == NULL);
    ok(strstr(rec.text, "/nonexistent/domicile.yaml:0:0: cannot open") != NULL);

    char dir[] = "/tmp/domcfgXXXXXX";
    ok(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof(path), "%s/gw.yaml", dir);
    FILE *fp = fopen(path, "w");
    fputs(BASE "geo: { database: sub/geo.mmdb }\n", fp);
    fclose(fp);
    is_int(dom_config_load(path, &cfg, &diag), 0);
    char want[300];
    snprintf(want, sizeof(want), "%s/sub/geo.mmdb", dir);
    if (cfg != NULL)
        is_str(cfg->geo.database, want);
    dom_config_free(cfg);
    unlink(path);
    rmdir(dir);
    dom_config_free(NULL);
}

/* `instance`: the replica's name; default the host name; a bad one is an error at its position. */
static void test_instance(void)
{
    dom_config_t *cfg = NULL;
    is_int(load(BASE "instance: gw-eu-1.a_b\n", &cfg), 0);
    is_str(cfg != NULL ? cfg->instance : NULL, "gw-eu-1.a_b");
    dom_config_free(cfg);
    cfg = NULL;
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    host[63] = '\0';
    is_int(load(BASE, &cfg), 0);
    is_str(cfg != NULL ? cfg->instance : NULL, host[0] ? host : "domicile");
    is_str(cfg != NULL ? cfg->sha256 : NULL, ""); /* from a buffer: no file to hash */
    dom_config_free(cfg);
    expect_error(BASE "instance: \"gw 1\"\n", "t.yaml:3:11: instance must be 1 to 63 letters");
    expect_error(BASE "instance: \"\"\n", "instance must be 1 to 63");
}

/* The HTTP/2 bounds set inside libh2o (h2limits.c): defaults like HTTP/1.1's, values, errors, the budget check. */
static void test_h2_limits(void)
{
    dom_config_t *cfg = NULL;
    is_int(load(BASE, &cfg), 0);
    if (cfg == NULL)
        return;
    is_int(cfg->limits.request_timeout_ms, 10000);
    is_int(cfg->limits.h2_max_header_list_size, 128 * 1024);
    is_int(cfg->limits.h2_max_headers, 200);
    is_int(cfg->limits.h2_max_continuations, 8);
    is_int(cfg->limits.h2_header_block_timeout_ms, 10000);
    is_int(cfg->limits.h2_body_buffer_per_connection, 16 << 20);
    is_int(cfg->limits.h2_body_buffer_total, 256 << 20);
    is_int(cfg->limits.receive_buffer, 256 << 10);
    ok(strstr(rec.text, "h2_body_buffer") == NULL); /* the defaults hold the default body limits */
    dom_config_free(cfg);

    is_int(load(BASE "limits: { request_timeout: 4s, h2_max_header_list_size: 16k, h2_max_headers: 50,\n"
                     "          h2_max_continuations: 2, h2_header_block_timeout: 1500ms,\n"
                     "          h2_body_buffer_per_connection: 2m, h2_body_buffer_total: 1g, receive_buffer: 64k }\n",
                &cfg),
           0);
    if (cfg == NULL)
        return;
    is_int(cfg->limits.request_timeout_ms, 4000);
    is_int(cfg->limits.h2_max_header_list_size, 16 * 1024);
    is_int(cfg->limits.h2_max_headers, 50);
    is_int(cfg->limits.h2_max_continuations, 2);
    is_int(cfg->limits.h2_header_block_timeout_ms, 1500);
    is_int(cfg->limits.h2_body_buffer_per_connection, 2 << 20);
    is_int(cfg->limits.h2_body_buffer_total, 1 << 30);
    is_int(cfg->limits.receive_buffer, 64 << 10);
    dom_config_free(cfg);

    /* a body limit the per-connection budget cannot hold: a warning, not an error (such bodies are refused) */
    is_int(load(BASE "limits: { class_max_body: { content: 8m }, h2_body_buffer_per_connection: 4m,\n"
                     "          h2_body_buffer_total: 2m }\n",
                &cfg),
           0);
    ok(strstr(rec.text, "warning: HTTP/2 bodies near the largest body limit (max_body, class_max_body) take up to "
                        "8388608 bytes") != NULL);
    ok(strstr(rec.text, "warning: limits.h2_body_buffer_total is less than") != NULL);
    dom_config_free(cfg);

    expect_error(BASE "limits: { h2_max_headers: 0 }\n", "limits.h2_max_headers must be a number from 1 to 100000");
    expect_error(BASE "limits: { h2_max_continuations: 1001 }\n", "must be a number from 1 to 1000");
    expect_error(BASE "limits: { h2_max_header_list_size: 0 }\n", "must be greater than zero");
    expect_error(BASE "limits: { h2_header_block_timeout: 0 }\n", "must be greater than zero");
    expect_error(BASE "limits: { request_timeout: soon }\n", "is not a duration");
    expect_error(BASE "limits: { h2_body_buffer_total: 1t }\n", "is not a size");
    expect_error(BASE "limits: { receive_buffer: 1k }\n", "limits.receive_buffer must be from 4k to 64m");
    expect_error(BASE "limits: { h2_max_resets: -1 }\n", "limits.h2_max_resets (0 = off) must be a number from 0");
}

static void test_forward_trailers(void)
{
    dom_config_t *cfg = NULL;
    is_int(load(BASE "forward_trailers: true\n", &cfg), 0);
    ok(cfg != NULL && cfg->forward_trailers == 1);
    dom_config_free(cfg);
    cfg = NULL;
    is_int(load(BASE, &cfg), 0);
    ok(cfg != NULL && cfg->forward_trailers == 0);
    dom_config_free(cfg);
}

/* clusters[].upstream and a node's own upstream: node over cluster over defaults, checks, SIGHUP says restart */
static void test_upstream(void)
{
    dom_config_t *cfg = NULL;
    is_int(load(BASE "threads: 2\nlimits: { upstream_timeout: 7s }\n"
                     "clusters:\n"
                     "  - name: a\n    region: r\n"
                     "    upstream: { max_connections: 8, queue_timeout: 250ms, tls_ca: ca.pem }\n"
                     "    nodes:\n"
                     "      - \"https://n1.internal\"\n"
                     "      - url: \"https://n2.internal:8443\"\n"
                     "        upstream: { max_connections: 4, first_byte_timeout: 1s, tls_ca: /etc/n2.pem }\n",
                &cfg),
           0);
    if (!ok(cfg != NULL && cfg->n_clusters == 1 && cfg->clusters[0].n_nodes == 2))
        goto cleanup;
    const dom_config_upstream_t *u1 = &cfg->clusters[0].nodes[0].upstream, *u2 = &cfg->clusters[0].nodes[1].upstream;
    is_int(u1->max_connections, 8);
    is_int(u1->queue_timeout_ms, 250);
    is_int(u1->connect_timeout_ms, 7000); /* limits.upstream_timeout */
    is_int(u1->keepalive_timeout_ms, 2000);
    is_str(u1->tls_ca, "/etc/domicile/ca.pem");
    is_int(u2->max_connections, 4);
    is_int(u2->first_byte_timeout_ms, 1000);
    is_int(u2->idle_timeout_ms, 7000);
    is_int(u2->queue_timeout_ms, 250); /* the cluster's */
    is_str(u2->tls_ca, "/etc/n2.pem");
    is_str(cfg->clusters[0].nodes[1].url, "https://n2.internal:8443");
    is_int(cfg->clusters[0].nodes[1].port, 8443);
    /* defaults without any upstream key */
    dom_config_free(cfg);
    cfg = NULL;
    is_int(load(BASE "clusters: [{ name: a, region: r, nodes: [\"http://x\"] }]\n", &cfg), 0);
    if (ok(cfg != NULL)) {
        is_int(cfg->clusters[0].nodes[0].upstream.max_connections, 256);
        is_int(cfg->clusters[0].nodes[0].upstream.first_byte_timeout_ms, 30000);
        ok(cfg->clusters[0].nodes[0].upstream.tls_ca == NULL);
    }
    expect_error(BASE "threads: 4\nclusters: [{ name: a, region: r, upstream: { max_connections: 2 }, nodes: "
                      "[\"http://x\"] }]\n",
                 "upstream.max_connections (2) must be at least threads (4)");
    expect_error(BASE "clusters: [{ name: a, region: r, upstream: { max_connection: 2 }, nodes: [\"http://x\"] }]\n",
                 "unknown key \"max_connection\" in upstream");
    expect_error(BASE "clusters: [{ name: a, region: r, upstream: { idle_timeout: 0s }, nodes: [\"http://x\"] }]\n",
                 "upstream.idle_timeout");
    expect_error(BASE "clusters: [{ name: a, region: r, nodes: [{ upstream: { max_connections: 2 } }] }]\n",
                 "a node needs a url");
    expect_error(BASE "clusters: [{ name: a, region: r, nodes: [{ url: \"http://x/p\" }] }]\n", "no path");
    expect_error(BASE "clusters: [{ name: a, region: r, nodes: [{ url: \"http://x\", weight: 2 }] }]\n",
                 "unknown key \"weight\" in a node");
    /* a changed upstream key is a cluster change: restart */
    dom_config_t *next = NULL;
    dom_config_free(cfg);
    cfg = NULL;
    is_int(load(BASE "clusters: [{ name: a, region: r, nodes: [\"http://x\"] }]\n", &cfg), 0);
    is_int(load(BASE "clusters: [{ name: a, region: r, nodes: [{ url: \"http://x\", upstream: { queue_timeout: 1s } "
                     "}] }]\n",
                &next),
           0);
    if (cfg != NULL && next != NULL) {
        struct changes c = {"", ""};
        is_int(dom_config_compare(cfg, cfg, next, on_change, &c), 0);
        is_str(c.restart, "clusters");
        is_str(c.live, "");
    }
    dom_config_free(next);
cleanup:
    dom_config_free(cfg);
}

int main(void)
{
    subtest("examples/domicile.yaml", test_example);
    subtest("values and suffixes", test_values);
    subtest("request bounds", test_request_keys);
    subtest("errors with file:line:col", test_errors);
    subtest("files and relative paths", test_files);
    subtest("every error in one run", test_all_errors);
    subtest("what SIGHUP applies", test_reload_classes);
    subtest("docs/config.md lists every key", test_keys_documented);
    subtest("admin listener", test_admin);
    subtest("secret files", test_secrets);
    subtest("instance", test_instance);
    subtest("HTTP/2 bounds inside libh2o", test_h2_limits);
    subtest("forward_trailers", test_forward_trailers);
    subtest("upstream keys per cluster and node", test_upstream);
    return done_testing();
}

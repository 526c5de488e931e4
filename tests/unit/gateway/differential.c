/*
 * The differential test of issue "one decision pipeline": random requests are decided twice,
 * once by the gateway's handler code path (an h2o request: its header vector built with
 * h2o_add_header_by_str as h2o's parsers do, src/gateway/facts.c, the config turned into the
 * builder's settings by dom_config_facts, dom_decide) and once by `domicile explain`'s (a
 * command line parsed by explain's own parse_args, its prepare() and explain_request()), from
 * one config file. Every fact and every field of the two decisions must be equal.
 *
 * The requests: peers inside and outside the trusted networks (IPv4, IPv6, special ranges, an
 * override network), well-formed and malformed X-Forwarded-For and Forwarded lines (and more
 * lines than the cap), pins valid / expired / badly signed / unknown key / garbage / repeated,
 * consent present or not, hostile paths, every method, header names in any case, client-sent
 * X-Domicile-* headers, and times on both sides of the rule set's staged versions.
 */
#include <ctype.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/hmac.h>
#include "gateway/gateway.h"
#include "test.h"

#include "cli/explain.c"
#include "cli/json.c"

#define N_REQUESTS 100000
#define T1 1768867200 /* 2026-01-20: EU-GDPR "2026-01" takes effect in the policy fixture */
#define T2 1782864000 /* 2026-07-01: the report-mode version */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}
static size_t pick(size_t n)
{
    return (size_t)(rnd() % n);
}
#define ONE_OF(arr) (arr)[pick(sizeof(arr) / sizeof((arr)[0]))]

static const unsigned char KEY1[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                       17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

/* A pin minted here with OpenSSL's HMAC directly, not with the code under test. */
static void mint(char *out, size_t cap, const char *kid, const char *jurisdiction, int64_t expiry, int bad_sig)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "v1.%s.%s.%lld", kid, jurisdiction, (long long)expiry);
    unsigned char mac[32];
    unsigned len = 0;
    HMAC(EVP_sha256(), KEY1, sizeof(KEY1), (const unsigned char *)msg, strlen(msg), mac, &len);
    if (bad_sig)
        mac[0] ^= 1;
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    char sig[48];
    size_t o = 0;
    for (size_t i = 0; i < 32; i += 3) {
        unsigned v =
            (unsigned)mac[i] << 16 | (i + 1 < 32 ? (unsigned)mac[i + 1] << 8 : 0) | (i + 2 < 32 ? mac[i + 2] : 0);
        sig[o++] = b64[(v >> 18) & 63];
        sig[o++] = b64[(v >> 12) & 63];
        if (i + 1 < 32)
            sig[o++] = b64[(v >> 6) & 63];
        if (i + 2 < 32)
            sig[o++] = b64[v & 63];
    }
    sig[o] = '\0';
    snprintf(out, cap, "%s.%s", msg, sig);
}

/* ---- one random request ---- */

typedef struct hdr {
    char name[48];
    char value[512];
} hdr_t;

typedef struct request {
    char peer[64], method[16], path[256], now[24];
    int64_t now_s;
    hdr_t h[40];
    size_t n;
    char pin_opt[320]; /* explain's --pin instead of a header; "" = none */
} request_t;

static const char *const peers[] = {
    "5.1.0.9",   "5.1.200.1", "10.1.2.3",   "10.200.0.1",   "2001:db8::5", "2001:db8:1::7", /* trusted */
    "5.2.0.1",   "5.3.4.5",   "5.9.1.1",    "5.10.0.1",     "5.11.3.3",    "5.12.0.1",
    "5.16.0.1",  "5.21.0.1",  "2a00:2::1",  "2a00:9::1",    "2a00:13::5",  "::ffff:5.2.0.3",
    "127.0.0.1", "192.0.2.1", "100.64.0.1", "198.51.100.7", "203.0.113.9", "45.0.1.2",
    "8.8.8.8",   "fd00::1",   "::1",        "2a00:1a::1",
};
static const char *const hops[] = {"5.2.0.1",   "5.9.1.1", "5.16.0.1",     "2a00:3::1", "10.1.2.3", "5.1.7.7",
                                   "127.0.0.1", "8.8.8.8", "198.51.100.9", "unknown",   "5.21.9.9", "203.0.113.4"};
static const char *const bad_xff[] = {
    "garbage!",         "5.1.2",          "010.1.2.3", "", " , ", "5.2.0.1:80", "[2a00:3::1]", "5.2.0.1,,5.9.1.1",
    "::ffff:1.2.3.4.5", "1.2.3.4 5.6.7.8"};
static const char *const fwd_elems[] = {"for=5.2.0.1",
                                        "for=\"[2a00:3::1]:443\"",
                                        "for=_hidden",
                                        "for=unknown",
                                        "for=5.9.1.1;proto=https",
                                        "for=10.1.2.3;by=10.0.0.1",
                                        "by=10.0.0.1",
                                        "for=",
                                        "for=\"5.16.0.1\"",
                                        "for=[2a00:3::1]",
                                        "for=5.2.0.1;for=5.9.1.1"};
static const char *const methods[] = {"GET",   "HEAD",     "OPTIONS", "POST", "PUT",   "DELETE",
                                      "PATCH", "PROPFIND", "MKCOL",   "get",  "TRACE", "CONNECT"};
static const char *const paths[] = {"/v1/account/me",
                                    "/v1/sync/x",
                                    "/v1/telemetry/crash",
                                    "/v1/notifications/sub",
                                    "/v1/device/1",
                                    "/v1/crash//../account/me",
                                    "//v1/marketing/x",
                                    "/v1/%61ccount/x",
                                    "/v1/sync/%2e%2e/account",
                                    "/v1/a%2fb",
                                    "/../v1/account",
                                    "/v1/account;v=1/x",
                                    "/v1/crash/..;/account",
                                    "/v1/%c0%ae%c0%ae/account",
                                    "/v1/x\\y",
                                    "*",
                                    "http://example.com/v1/account",
                                    "/v1/sync/./../telemetry/",
                                    "/",
                                    "/v1/accounting",
                                    "/V1/ACCOUNT/me",
                                    "/v1/sync/caf%C3%A9"};
static const char *const jurisdictions[] = {"EU-GDPR", "US-CCPA", "US-FED", "CORP-OFFICE", "NOWHERE", "DE-BDSG"};
static const char *const consents[] = {"marketing", "*", "account, Marketing", "telemetry", "", " ,, ", "nonsense"};

static void name_case(char *dst, size_t cap, const char *name)
{
    /* explain takes any case; h2o's side gets the lower-case form h2o's parsers produce */
    snprintf(dst, cap, "%s", name);
    for (char *p = dst; *p != '\0'; ++p)
        if (rnd() & 1)
            *p = (char)toupper((unsigned char)*p);
}

static void add(request_t *r, const char *name, const char *value)
{
    if (r->n == sizeof(r->h) / sizeof(r->h[0]))
        return;
    name_case(r->h[r->n].name, sizeof(r->h[0].name), name);
    snprintf(r->h[r->n].value, sizeof(r->h[0].value), "%s", value);
    ++r->n;
}

static void xff_line(char *out, size_t cap)
{
    if (pick(6) == 0) {
        snprintf(out, cap, "%s", ONE_OF(bad_xff));
        return;
    }
    size_t n = 1 + pick(3), off = 0;
    for (size_t i = 0; i < n; ++i)
        off += (size_t)snprintf(out + off, cap - off, "%s%s", i ? ", " : "", ONE_OF(hops));
}

static void fwd_line(char *out, size_t cap)
{
    size_t n = 1 + pick(2), off = 0;
    for (size_t i = 0; i < n; ++i)
        off += (size_t)snprintf(out + off, cap - off, "%s%s", i ? ", " : "", ONE_OF(fwd_elems));
}

static void random_request(request_t *r)
{
    memset(r, 0, sizeof(*r));
    snprintf(r->peer, sizeof(r->peer), "%s", ONE_OF(peers));
    snprintf(r->method, sizeof(r->method), "%s", ONE_OF(methods));
    const char *path = ONE_OF(paths);
    if (pick(4) == 0)
        snprintf(r->path, sizeof(r->path), "%s?q=%u&r=/../x", path, (unsigned)pick(100));
    else
        snprintf(r->path, sizeof(r->path), "%s", path);
    static const int64_t times[] = {T1 - 86400, T1, T2 - 1, T2 + 86400};
    r->now_s = times[pick(4)] + (int64_t)pick(3600);
    snprintf(r->now, sizeof(r->now), "%lld", (long long)r->now_s);

    char line[512];
    size_t n_xff = pick(8) == 0 ? 17 + pick(3) : pick(3); /* sometimes more lines than the cap */
    for (size_t i = 0; i < n_xff; ++i) {
        xff_line(line, sizeof(line));
        add(r, "x-forwarded-for", line);
    }
    for (size_t i = 0, n = pick(4) == 0 ? 1 + pick(2) : 0; i < n; ++i) {
        fwd_line(line, sizeof(line));
        add(r, "forwarded", line);
    }
    /* pins: none, valid, expired, bad signature, unknown key, garbage; sometimes twice */
    for (size_t i = 0, n = pick(3) == 0 ? 0 : pick(6) == 0 ? 2 : 1; i < n; ++i) {
        char pin[320];
        const char *j = ONE_OF(jurisdictions);
        switch (pick(6)) {
        case 0:
            mint(pin, sizeof(pin), "k1", j, r->now_s - 10, 0);
            break;
        case 1:
            mint(pin, sizeof(pin), "k1", j, r->now_s + 3600, 1);
            break;
        case 2:
            mint(pin, sizeof(pin), "k9", j, r->now_s + 3600, 0);
            break;
        case 3:
            snprintf(pin, sizeof(pin), "%s", pick(2) ? "garbage" : "v1.k1.EU-GDPR.x.y");
            break;
        default:
            mint(pin, sizeof(pin), "k1", j, r->now_s + 3600, 0);
        }
        if (n == 1 && pick(2))
            snprintf(r->pin_opt, sizeof(r->pin_opt), "%s", pin);
        else
            add(r, "x-user-pin", pin);
    }
    for (size_t i = 0, n = pick(2) ? 0 : pick(5) == 0 ? 2 : 1; i < n; ++i)
        add(r, "x-user-consent", ONE_OF(consents));
    if (pick(3) == 0)
        add(r, "x-domicile-class", "telemetry");
    if (pick(3) == 0)
        add(r, "x-residency-region", "us-east");
    if (pick(4) == 0)
        add(r, "domicile-pin", "v1.k1.EU-GDPR.1.x"); /* the default pin header: not this config's */
    if (pick(2))
        add(r, "user-agent", "differential/1");
    if (pick(4) == 0)
        add(r, "x-request-id", "abc-123");
    /* shuffle, so the order of pin, consent and forwarding lines varies */
    for (size_t i = r->n; i > 1; --i) {
        size_t k = pick(i);
        hdr_t t = r->h[i - 1];
        r->h[i - 1] = r->h[k];
        r->h[k] = t;
    }
}

/* ---- the two code paths ---- */

static dom_config_t *cfg;
static dom_geo_t *gw_geo;
static dom_pin_keyring_t gw_ring;
static explanation_t ex;
static dom_cidr_list_t ex_trusted;
static dom_pin_keyring_t ex_ring;
static options_t ex_opts;

static void gateway_decide(const request_t *r, dom_request_facts_t *facts, dom_decision_t *d, h2o_req_t *req)
{
    memset(req, 0, sizeof(*req));
    h2o_mem_init_pool(&req->pool);
    req->method = h2o_strdup(&req->pool, r->method, SIZE_MAX);
    req->input.path = h2o_strdup(&req->pool, r->path, SIZE_MAX);
    for (size_t i = 0; i < r->n; ++i) {
        h2o_iovec_t name = h2o_strdup(&req->pool, r->h[i].name, SIZE_MAX);
        h2o_strtolower(name.base, name.len);
        h2o_iovec_t value = h2o_strdup(&req->pool, r->h[i].value, SIZE_MAX);
        h2o_add_header_by_str(&req->pool, &req->headers, name.base, name.len, 1, NULL, value.base, value.len);
    }
    if (r->pin_opt[0] != '\0') /* explain's --pin is the config's pin header to the gateway */
        h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-user-pin"), 1, NULL, r->pin_opt,
                              strlen(r->pin_opt));
    dom_addr_t peer;
    ok(dom_addr_parse(r->peer, strlen(r->peer), &peer) == 0 || !"peer parses");
    dom_facts_config_t fc;
    dom_config_facts(cfg, &gw_ring, gw_geo, &fc);
    dom__request_facts(req, &peer, &fc, r->now_s, facts);
    dom_decide(ex.rules, facts, d);
}

static int explain_decide(const request_t *r)
{
    char *argv[2 * 48 + 16];
    char header_args[40][600];
    int argc = 0;
    argv[argc++] = "explain";
    argv[argc++] = "-c";
    argv[argc++] = cfg->file;
    argv[argc++] = "--ip";
    argv[argc++] = (char *)r->peer;
    argv[argc++] = "--method";
    argv[argc++] = (char *)r->method;
    argv[argc++] = "--path";
    argv[argc++] = (char *)r->path;
    argv[argc++] = "--now";
    argv[argc++] = (char *)r->now;
    for (size_t i = 0; i < r->n; ++i) {
        snprintf(header_args[i], sizeof(header_args[i]), "%s: %s", r->h[i].name, r->h[i].value);
        argv[argc++] = "--header";
        argv[argc++] = header_args[i];
    }
    if (r->pin_opt[0] != '\0') {
        argv[argc++] = "--pin";
        argv[argc++] = (char *)r->pin_opt;
    }
    argv[argc] = NULL;
    options_t opts;
    memset(&opts, 0, sizeof(opts));
    int ret = parse_args(argc, argv, &opts);
    if (ret != 0)
        return ret;
    ex.opts = &opts;
    ex.now = r->now_s; /* prepare() read --now once; each request carries its own */
    ret = explain_request(&ex);
    ex.opts = &ex_opts;
    return ret;
}

static int same_str(const char *a, size_t alen, const char *b, size_t blen)
{
    return (a == NULL) == (b == NULL) && alen == blen && (a == NULL || memcmp(a, b, alen) == 0);
}

static int same_facts(const dom_request_facts_t *a, const dom_request_facts_t *b)
{
    return same_str(a->method, a->method_len, b->method, b->method_len) &&
           same_str(a->path, a->path_len, b->path, b->path_len) &&
           same_str(a->query, a->query_len, b->query, b->query_len) && a->path_refused == b->path_refused &&
           a->have_peer == b->have_peer && dom_addr_equal(&a->peer, &b->peer) &&
           dom_addr_equal(&a->client.addr, &b->client.addr) && a->client.source == b->client.source &&
           a->client.malformed == b->client.malformed && a->client.hidden == b->client.hidden &&
           a->repeated_headers == b->repeated_headers && a->location_known == b->location_known &&
           memcmp(&a->geo, &b->geo, sizeof(a->geo)) == 0 && a->pin_present == b->pin_present &&
           a->pin_status == b->pin_status && memcmp(&a->pin, &b->pin, sizeof(a->pin)) == 0 &&
           same_str(a->pin_token, a->pin_token_len, b->pin_token, b->pin_token_len) &&
           same_str(a->consent, a->consent_len, b->consent, b->consent_len) &&
           same_str(a->request_id.base, a->request_id.len, b->request_id.base, b->request_id.len) && a->now == b->now;
}

static int same_reason(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int same_decision(const dom_decision_t *a, const dom_decision_t *b)
{
    if (a->jurisdiction != b->jurisdiction || a->source != b->source || a->class_index != b->class_index ||
        a->class_name != b->class_name || a->access != b->access || a->action != b->action || a->status != b->status ||
        !same_reason(a->reason, b->reason) || a->n_regions != b->n_regions ||
        memcmp(a->regions, b->regions, a->n_regions * sizeof(a->regions[0])) != 0 || a->anonymize != b->anonymize ||
        a->on_unavailable != b->on_unavailable)
        return 0;
    const dom_report_t *x = &a->report, *y = &b->report;
    if (x->present != y->present)
        return 0;
    return !x->present || (x->jurisdiction == y->jurisdiction && x->action == y->action && x->status == y->status &&
                           same_reason(x->reason, y->reason) && x->n_regions == y->n_regions &&
                           memcmp(x->regions, y->regions, x->n_regions * sizeof(x->regions[0])) == 0 &&
                           x->differs == y->differs && x->anonymize == y->anonymize && x->source == y->source);
}

static void setup(char *dir)
{
    char path[512], yaml[2048];
    snprintf(path, sizeof(path), "%s/pin-keys", dir);
    FILE *fp = fopen(path, "w");
    fputs("k1 ", fp);
    for (size_t i = 0; i < sizeof(KEY1); ++i)
        fprintf(fp, "%02x", KEY1[i]);
    fputs("\nk2 000102030405060708090a0b0c0d0e0f\n", fp);
    fclose(fp);
    chmod(path, 0600);
    snprintf(yaml, sizeof(yaml),
             "listen: [\"127.0.0.1:1\"]\n"
             "rules: %s/tests/fixtures/policy\n"
             "geo: { database: %s/fixtures/geo-test.mmdb }\n"
             "trusted_proxies: [\"10.0.0.0/8\", \"2001:db8::/32\", \"5.1.0.0/16\"]\n"
             "overrides:\n"
             "  - { cidr: \"198.51.100.0/24\", jurisdiction: CORP-OFFICE }\n"
             "  - { cidr: \"203.0.113.0/24\", country: DE }\n"
             "pins: { header: x-user-pin, keys: pin-keys }\n"
             "consent_header: x-user-consent\n"
             "clusters:\n"
             "  - { name: eu, region: eu-central, nodes: [\"http://127.0.0.1:9\"] }\n"
             "  - { name: us, region: us-west, nodes: [\"http://127.0.0.1:9\"] }\n",
             DOM_SOURCE_DIR, DOM_BINARY_DIR);
    snprintf(path, sizeof(path), "%s/domicile.yaml", dir);
    fp = fopen(path, "w");
    fputs(yaml, fp);
    fclose(fp);

    /* the gateway's side: config, keys and geo database as server.c opens them */
    ok(dom_config_load(path, &cfg, NULL) == 0);
    char err[256] = "";
    ok(dom_pin_keyring_load(cfg->pins.keys, &gw_ring, err, sizeof(err)) == 0);
    dom_geo_options_t geo_opts = dom_config_geo_options(cfg);
    ok(dom_geo_open(cfg->geo.database, &geo_opts, &gw_geo, err, sizeof(err)) == 0);

    /* explain's side: its own option parsing and set-up, from the same file */
    char *argv[] = {"explain", "-c", path, "--ip", "5.2.0.1", NULL};
    memset(&ex_opts, 0, sizeof(ex_opts));
    is_int(parse_args(5, argv, &ex_opts), 0);
    ex.opts = &ex_opts;
    ex.cfg = cfg;
    is_int(prepare(&ex, &ex_trusted, &ex_ring), 0);
}

/* The case from the issue, by name: garbage in X-Forwarded-For from a trusted proxy is "location unknown". */
static void test_regression_malformed_xff_from_trusted_proxy(void)
{
    request_t r;
    memset(&r, 0, sizeof(r));
    snprintf(r.peer, sizeof(r.peer), "5.1.2.3"); /* DE, and inside the trusted 5.1.0.0/16 */
    snprintf(r.method, sizeof(r.method), "PUT");
    snprintf(r.path, sizeof(r.path), "/v1/sync/x");
    r.now_s = T1 + 1;
    snprintf(r.now, sizeof(r.now), "%lld", (long long)r.now_s);
    add(&r, "x-forwarded-for", "garbage!");
    h2o_req_t req;
    dom_request_facts_t gf;
    dom_decision_t gd;
    gateway_decide(&r, &gf, &gd, &req);
    is_int(explain_decide(&r), 0);
    is_int(gf.client.malformed, 1);
    is_int(gf.location_known, 0);
    is_int(ex.facts.location_known, 0);
    is_str(gd.jurisdiction != NULL ? gd.jurisdiction->name : NULL, "DEFAULT");
    is_str(ex.decision.jurisdiction != NULL ? ex.decision.jurisdiction->name : NULL, "DEFAULT");
    is_int(gd.action, DOM_ACTION_REJECT);
    ok(same_decision(&gd, &ex.decision));
    h2o_mem_clear_pool(&req.pool);
}

static void test_random_requests(void)
{
    size_t mismatches = 0, explain_errors = 0, routed = 0, refused_paths = 0, malformed = 0, hidden = 0, pins = 0;
    for (size_t i = 0; i < N_REQUESTS; ++i) {
        request_t r;
        random_request(&r);
        h2o_req_t req;
        dom_request_facts_t gf;
        dom_decision_t gd;
        gateway_decide(&r, &gf, &gd, &req);
        if (explain_decide(&r) != 0) {
            if (explain_errors++ < 5)
                printf("#   explain refused request %zu (peer %s path %s)\n", i, r.peer, r.path);
            h2o_mem_clear_pool(&req.pool);
            continue;
        }
        int same = same_facts(&gf, &ex.facts) && same_decision(&gd, &ex.decision);
        if (!same && mismatches++ < 5) {
            printf("#   request %zu differs: %s %s from %s, %zu headers\n", i, r.method, r.path, r.peer, r.n);
            printf("#     facts equal %d; repeated %zu/%zu pin %d/%d consent %d/%d\n", same_facts(&gf, &ex.facts),
                   gf.repeated_headers, ex.facts.repeated_headers, gf.pin_status, ex.facts.pin_status,
                   (int)gf.consent_len, (int)ex.facts.consent_len);
            printf("#     gateway %s %d %s / explain %s %d %s\n", dom_action_name(gd.action), gd.status, gd.reason,
                   dom_action_name(ex.decision.action), ex.decision.status, ex.decision.reason);
        }
        routed += gd.action == DOM_ACTION_ROUTE;
        refused_paths += gf.path_refused;
        malformed += gf.client.malformed;
        hidden += gf.client.hidden;
        pins += gf.pin_present;
        h2o_mem_clear_pool(&req.pool);
    }
    printf("# %d requests: %zu routed, %zu non-canonical paths, %zu malformed forwarding, %zu hidden, %zu with pins\n",
           N_REQUESTS, routed, refused_paths, malformed, hidden, pins);
    is_int(explain_errors, 0);
    is_int(mismatches, 0);
    /* the generator reaches every branch that matters, in numbers */
    ok(routed > N_REQUESTS / 20);
    ok(refused_paths > N_REQUESTS / 20);
    ok(malformed > N_REQUESTS / 50);
    ok(hidden > N_REQUESTS / 200);
    ok(pins > N_REQUESTS / 4);
}

int main(void)
{
    char dir[] = "/tmp/domicile-differential-XXXXXX";
    if (mkdtemp(dir) == NULL)
        return 1;
    setup(dir);
    subtest("regression: malformed X-Forwarded-For from a trusted proxy",
            test_regression_malformed_xff_from_trusted_proxy);
    subtest("100,000 random requests", test_random_requests);
    dom_ruleset_release(ex.rules);
    dom_geo_release(ex.geo);
    dom_geo_release(gw_geo);
    dom_pin_keyring_free(&ex_ring);
    dom_pin_keyring_free(&gw_ring);
    dom_cidr_list_free(&ex_trusted);
    free(ex.path_buf);
    dom_config_free(cfg);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    return done_testing();
}

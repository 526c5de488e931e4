/*
 * Tests src/core/facts.c: which header fields the builder takes, which it drops, the cap on
 * forwarding lines, malformed and hidden chains as unknown locations, pins and consent, and
 * the canonical path. (tests/unit/gateway/differential.c checks the gateway and explain feed
 * it alike.)
 */
#include <stdlib.h>
#include <string.h>
#include "domicile/facts.h"
#include "test.h"

static dom_cidr_list_t trusted;
static dom_facts_config_t cfg;
static dom_facts_builder_t b;
static char path_buf[256];

static void begin(void)
{
    dom_facts_begin(&b, &cfg);
}

static dom_header_role_t header(const char *name, const char *value)
{
    return dom_facts_header(&b, name, strlen(name), value, strlen(value));
}

static void finish(const char *peer, const char *method, const char *target, dom_request_facts_t *f)
{
    dom_addr_t a;
    if (peer != NULL)
        ok(dom_addr_parse(peer, strlen(peer), &a) == 0);
    is_int(dom_facts_finish(&b, peer != NULL ? &a : NULL, method, strlen(method), target, strlen(target), 1750000000,
                            path_buf, sizeof(path_buf), f),
           0);
}

static void test_roles(void)
{
    static const struct {
        const char *name;
        dom_header_role_t role;
    } cases[] = {
        {"X-Forwarded-For", DOM_HEADER_DROP},    {"forwarded", DOM_HEADER_DROP},
        {"X-Real-IP", DOM_HEADER_DROP},          {"x-forwarded-proto", DOM_HEADER_DROP},
        {"X-Forwarded-Host", DOM_HEADER_DROP},   {"x-request-id", DOM_HEADER_DROP},
        {"X-Domicile-Class", DOM_HEADER_DROP},   {"x-domicile-", DOM_HEADER_DROP},
        {"X-Residency-Region", DOM_HEADER_DROP}, {"X-Original-URL", DOM_HEADER_DROP},
        {"x-rewrite-url", DOM_HEADER_DROP},      {"X-HTTP-Method-Override", DOM_HEADER_DROP},
        {"x-http-method", DOM_HEADER_DROP},      {"X-Method-Override", DOM_HEADER_DROP},
        {"domicile-pin", DOM_HEADER_KEEP},       {"Domicile-Consent", DOM_HEADER_KEEP},
        {"user-agent", DOM_HEADER_KEEP},         {"x-domicil", DOM_HEADER_KEEP},
        {"x-forwarded-fo", DOM_HEADER_KEEP},     {"content-type", DOM_HEADER_KEEP},
        {"authorization", DOM_HEADER_KEEP},      {"", DOM_HEADER_KEEP},
    };
    begin();
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        printf("# %s\n", cases[i].name);
        is_int(header(cases[i].name, "1.2.3.4"), cases[i].role);
    }
}

static void test_forwarding(void)
{
    dom_request_facts_t f;
    /* through a trusted proxy: the hop before it */
    begin();
    header("X-Forwarded-For", " 5.2.0.1 ");
    finish("10.1.2.3", "GET", "/v1/sync/x", &f);
    is_int(f.location_known, 1);
    is_int(f.client.source, DOM_CLIENTIP_XFF);
    is_int(f.client.addr.bytes[0], 5);
    /* from an untrusted peer: the header is ignored */
    begin();
    header("x-forwarded-for", "5.2.0.1");
    finish("8.8.8.8", "GET", "/", &f);
    is_int(f.client.source, DOM_CLIENTIP_PEER);
    is_int(f.location_known, 1);
    /* garbage from a trusted proxy: location unknown, never the proxy's */
    begin();
    header("x-forwarded-for", "garbage!");
    finish("10.1.2.3", "PUT", "/v1/sync/x", &f);
    is_int(f.client.malformed, 1);
    is_int(f.location_known, 0);
    /* hidden */
    begin();
    header("forwarded", "for=_hidden");
    finish("10.1.2.3", "PUT", "/v1/sync/x", &f);
    is_int(f.client.hidden, 1);
    is_int(f.location_known, 0);
    /* the cap: 16 lines are taken, the 17th makes the chain malformed */
    begin();
    for (int i = 0; i < DOM_FACTS_MAX_FORWARDING_LINES; ++i)
        header("x-forwarded-for", "5.2.0.1");
    finish("10.1.2.3", "GET", "/", &f);
    is_int(f.client.malformed, 0);
    begin();
    for (int i = 0; i <= DOM_FACTS_MAX_FORWARDING_LINES; ++i)
        header("x-forwarded-for", "5.2.0.1");
    finish("10.1.2.3", "GET", "/", &f);
    is_int(f.client.malformed, 1);
    is_int(f.location_known, 0);
    /* no peer: unknown */
    begin();
    finish(NULL, "GET", "/", &f);
    is_int(f.have_peer, 0);
    is_int(f.location_known, 0);
}

static void test_pin_consent_path(void)
{
    dom_request_facts_t f;
    begin();
    header("Domicile-Consent", "  marketing\t");
    header("domicile-consent", "account");
    header("domicile-pin", "garbage");
    header("DOMICILE-PIN", "other");
    header("X-Request-Id", "abc");
    finish("5.2.0.1", "POST", "/v1//notifications/../marketing/x?y=1", &f);
    ok(f.consent != NULL && f.consent_len == 9 && memcmp(f.consent, "marketing", 9) == 0);
    is_int(f.repeated_headers, 2);
    is_int(f.pin_present, 1);
    is_int(f.pin_status, DOM_EPIN_MALFORMED);
    ok(f.pin_token_len == 7 && memcmp(f.pin_token, "garbage", 7) == 0);
    ok(f.request_id.len == 3);
    is_str(f.path, "/v1/marketing/x");
    ok(f.query != NULL && f.query_len == 3);
    is_int(f.path_refused, 0);
    /* no keyring: every pin is refused as unknown_key, never accepted */
    begin();
    header("domicile-pin", "v1.k1.EU-GDPR.9999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    finish("5.2.0.1", "GET", "/", &f);
    is_int(f.pin_status, DOM_EPIN_UNKNOWN_KEY);
    /* a non-canonical target */
    begin();
    finish("5.2.0.1", "PUT", "/v1/crash/%2e%2e/account", &f);
    is_int(f.path_refused, 1);
    ok(f.path == NULL && f.path_why != NULL);
    /* a too small buffer is the caller's error */
    begin();
    dom_addr_t a;
    dom_addr_parse("5.2.0.1", 7, &a);
    is_int(dom_facts_finish(&b, &a, "GET", 3, "/abc", 4, 0, path_buf, 4, &f), DOM_ERANGE);
}

static void test_request_shape(void)
{
    dom_request_facts_t f;
    static const struct {
        const char *method;
        size_t extra_headers, big_value;
        const char *empty_name;
        int status;
        const char *reason;
    } cases[] = {
        {"PUT", 0, 0, NULL, 0, NULL},
        {"PROPFIND", 0, 0, NULL, 0, NULL},
        {"POST /v1/account/x", 0, 0, NULL, 400, "invalid_method"},
        {"GET\t", 0, 0, NULL, 400, "invalid_method"},
        {"", 0, 0, NULL, 400, "invalid_method"},
        {"CONNECT", 0, 0, NULL, 405, "method_not_allowed"},
        {"TRACE", 0, 0, NULL, 405, "method_not_allowed"},
        {"PUT", DOM_DEFAULT_MAX_HEADERS, 0, NULL, 0, NULL},
        {"PUT", DOM_DEFAULT_MAX_HEADERS + 1, 0, NULL, 431, "header_fields_too_large"},
        {"PUT", 0, DOM_DEFAULT_MAX_HEADER_BYTES + 1, NULL, 431, "header_fields_too_large"},
        {"PUT", 0, 0, "", 400, "invalid_header"},
    };
    static char big[DOM_DEFAULT_MAX_HEADER_BYTES + 2];
    memset(big, 'a', sizeof(big) - 1);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        begin();
        for (size_t k = 0; k < cases[i].extra_headers; ++k)
            header("x-h", "v");
        if (cases[i].big_value != 0)
            dom_facts_header(&b, "x", 1, big, cases[i].big_value - 1);
        if (cases[i].empty_name != NULL)
            dom_facts_header(&b, "", 0, "yes", 3);
        finish("5.2.0.1", cases[i].method, "/v1/sync/x", &f);
        printf("# %s, %zu headers\n", cases[i].method, cases[i].extra_headers);
        is_int(f.request_refused ? f.refused_status : 0, cases[i].status);
        is_str(f.request_refused ? f.refused_reason : NULL, cases[i].reason);
    }
    /* HTTP/2 cookie crumbs are one field, as HTTP/1.1's one Cookie line */
    begin();
    for (size_t k = 0; k < DOM_DEFAULT_MAX_HEADERS + 50; ++k)
        header("cookie", "a=b");
    finish("5.2.0.1", "GET", "/v1/sync/x", &f);
    is_int(f.request_refused, 0);
    /* a configured list replaces the default: [] refuses nothing */
    static const char *const none[] = {NULL};
    cfg.refuse_methods = none;
    begin();
    finish("5.2.0.1", "CONNECT", "/v1/sync/x", &f);
    is_int(f.request_refused, 0);
    cfg.refuse_methods = NULL;
}

int main(void)
{
    dom_cidr_t net;
    dom_cidr_parse("10.0.0.0/8", 10, &net);
    dom_cidr_list_add(&trusted, &net);
    cfg = (dom_facts_config_t){
        .trusted = &trusted, .pin_header = DOM_DEFAULT_PIN_HEADER, .consent_header = DOM_DEFAULT_CONSENT_HEADER};
    subtest("header roles", test_roles);
    subtest("forwarding headers", test_forwarding);
    subtest("pin, consent, path", test_pin_consent_path);
    subtest("the request's own shape", test_request_shape);
    dom_cidr_list_free(&trusted);
    return done_testing();
}

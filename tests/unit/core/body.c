/*
 * Tests src/core/body.c: which bodies of a JSON class pass, which are refused and why, what scrub forwards
 * (the JSON again, without the identity fields at any depth, Content-Length being the new length), and the
 * name match (case, '_' and '-' ignored; escapes decoded before the compare).
 */
#include <stdlib.h>
#include <string.h>
#include "domicile/body.h"
#include "test.h"

static const dom_data_class_t json_class = {"telemetry",        "", 0, DOM_BODY_JSON, "email,user_id,device_id",
                                            DOM_IDENTITY_REFUSE};
static const dom_data_class_t scrub_class = {"telemetry",       "", 0, DOM_BODY_JSON, "email,user_id,device_id",
                                             DOM_IDENTITY_SCRUB};
static const dom_data_class_t any_class = {"content", "", 1, DOM_BODY_ANY, NULL, DOM_IDENTITY_REFUSE};

static dom_body_verdict_t check(const dom_data_class_t *cls, int anonymize, const char *ct, const char *ce,
                                const char *body)
{
    dom_body_input_t in = {.data = body, .len = strlen(body)};
    if (ct != NULL)
        in.content_type = (dom_strref_t){ct, strlen(ct)};
    if (ce != NULL)
        in.content_encoding = (dom_strref_t){ce, strlen(ce)};
    dom_body_verdict_t v;
    ok(dom_body_check(cls, anonymize, &in, &v) == 0);
    return v;
}

#define JSON "application/json"

static void test_refuse(void)
{
    dom_body_verdict_t v = check(&json_class, 1, JSON, NULL, "{\"user\":{\"email\":\"a@example.com\"},\"n\":1}");
    is_int(v.status, 422);
    is_str(v.reason, "identity_in_anonymous_data");
    ok(v.field != NULL && v.field_len == 5 && memcmp(v.field, "email", 5) == 0);
    ok(v.body == NULL);
    /* at any depth, inside arrays too, and spelt otherwise */
    static const char *const found[] = {
        "[{\"a\":[{\"b\":{\"userId\":1}}]}]",
        "{\"USER-ID\":null}",
        "{\"Device_Id\":\"x\"}",
        "{\"em\\u0061il\":\"escaped name\"}",
        "{\"x\":[1,2,{\"e_mail\":[]}]}",
    };
    for (size_t i = 0; i < sizeof(found) / sizeof(found[0]); ++i) {
        v = check(&json_class, 1, JSON, NULL, found[i]);
        if (!is_int(v.status, 422))
            printf("#   %s\n", found[i]);
    }
    /* not anonymized: the same body passes (it is JSON), as it is */
    v = check(&json_class, 0, JSON, NULL, "{\"user\":{\"email\":\"a@example.com\"}}");
    is_int(v.status, 0);
    ok(v.body == NULL && v.checked);
    /* values are not names: an address under another name passes */
    v = check(&json_class, 1, JSON, NULL, "{\"contact\":\"email\",\"emails\":1,\"user\":\"user_id\"}");
    is_int(v.status, 0);
    ok(v.body == NULL);
}

static void test_scrub(void)
{
    dom_body_verdict_t v =
        check(&scrub_class, 1, JSON, NULL,
              "{\"app\":\"x\",\"user\":{\"email\":\"a@example.com\",\"locale\":\"de\"},\"frames\":[{\"deviceId\":7,"
              "\"pc\":12}],\"user_id\":{\"deep\":[1]}}");
    is_int(v.status, 0);
    is_int(v.removed, 3);
    is_str(v.body, "{\"app\":\"x\",\"user\":{\"locale\":\"de\"},\"frames\":[{\"pc\":12}]}");
    is_int(v.body_len, strlen("{\"app\":\"x\",\"user\":{\"locale\":\"de\"},\"frames\":[{\"pc\":12}]}"));
    dom_body_verdict_free(&v);
    dom_body_verdict_free(&v);
    ok(v.body == NULL);
    /* nothing to remove: the body goes as sent (no re-serialisation) */
    v = check(&scrub_class, 1, JSON, NULL, "{ \"a\" : 1.50 }");
    is_int(v.status, 0);
    ok(v.body == NULL && v.removed == 0);
}

static void test_refused_bodies(void)
{
    static const struct {
        const char *ct, *ce, *body;
        int status;
        const char *reason;
    } cases[] = {
        {JSON, NULL, "{\"a\":", 400, "invalid_json"},
        {JSON, NULL, "{\"a\":1} trailing", 400, "invalid_json"},
        {JSON, NULL, "{\"email\":1,\"email\":2}", 400, "invalid_json"}, /* duplicates: which one would be stored? */
        {JSON, NULL, "{\"a\":\"\\u0000\"}", 400, "invalid_json"},
        {JSON, NULL, "{\"a\":\"\xff\"}", 400, "invalid_json"},
        {JSON, NULL, "\xef\xbb\xbf{}", 400, "invalid_json"},
        {JSON, NULL, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 400, "json_too_deep"},
        {"text/plain", NULL, "{}", 415, "unsupported_media_type"},
        {NULL, NULL, "{}", 415, "unsupported_media_type"},
        {"application/json; charset=iso-8859-1", NULL, "{}", 415, "unsupported_media_type"},
        {"application/jsonx", NULL, "{}", 415, "unsupported_media_type"},
        {"application/x-www-form-urlencoded", NULL, "email=a", 415, "unsupported_media_type"},
        {JSON, "gzip", "{}", 415, "body_not_inspectable"},
        {JSON, "identity, gzip", "{}", 415, "body_not_inspectable"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); ++i) {
        dom_body_verdict_t v = check(&json_class, 1, cases[i].ct, cases[i].ce, cases[i].body);
        if (!is_int(v.status, cases[i].status) || !is_str(v.reason, cases[i].reason))
            printf("#   case %zu: %s\n", i, cases[i].body);
        ok(v.body == NULL);
    }
    /* 32 deep is allowed; strings with brackets do not count */
    char deep[200] = "";
    for (int i = 0; i < DOM_BODY_MAX_DEPTH; ++i)
        strcat(deep, "[");
    strcat(deep, "\"[[[[{{{{\"");
    for (int i = 0; i < DOM_BODY_MAX_DEPTH; ++i)
        strcat(deep, "]");
    is_int(check(&json_class, 1, JSON, NULL, deep).status, 0);
    /* media types that are JSON */
    static const char *const json_types[] = {"application/json", "Application/JSON; charset=UTF-8",
                                             "application/problem+json", " application/json ; charset=\"utf-8\""};
    for (size_t i = 0; i < sizeof(json_types) / sizeof(json_types[0]); ++i)
        is_int(check(&json_class, 1, json_types[i], "identity", "{}").status, 0);
    /* scalars at the top are JSON */
    is_int(check(&json_class, 1, JSON, NULL, "42").status, 0);
    /* a repeated Content-Type is refused */
    dom_body_input_t in = {.data = "{}", .len = 2, .content_type = {JSON, strlen(JSON)}, .repeated = 1};
    dom_body_verdict_t v;
    dom_body_check(&json_class, 1, &in, &v);
    is_int(v.status, 415);
    /* not a JSON class, or no body: nothing is checked */
    ok(check(&any_class, 1, "text/plain", "gzip", "not json").status == 0);
    ok(check(&json_class, 1, NULL, NULL, "").status == 0);
    ok(check(NULL, 1, NULL, NULL, "x").status == 0);
}

static void test_match(void)
{
    ok(dom_identity_field_match("user_id", 7, "userId", 6));
    ok(dom_identity_field_match("user_id", 7, "USER-ID", 7));
    ok(dom_identity_field_match("email", 5, "E_Mail", 6));
    ok(!dom_identity_field_match("email", 5, "emails", 6));
    ok(!dom_identity_field_match("email", 5, "", 0));
    ok(!dom_identity_field_match("", 0, "__", 2));
    char longname[200];
    memset(longname, 'a', sizeof(longname));
    ok(!dom_identity_field_match("aaaa", 4, longname, sizeof(longname)));
    ok(dom_identity_field_match(longname, DOM_IDENTITY_FIELD_MAX, longname, DOM_IDENTITY_FIELD_MAX));
}

int main(void)
{
    subtest("refuse: found at any depth, however spelt", test_refuse);
    subtest("scrub: removed at any depth, the rest as it was", test_scrub);
    subtest("bodies refused before any identity check", test_refused_bodies);
    subtest("the name match", test_match);
    return done_testing();
}

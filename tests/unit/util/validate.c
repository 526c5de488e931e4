/* Tests src/util/validate.c and iso3166.c: names, jurisdictions, HTTP tokens, ISO 3166 codes. */
#include "test.h"
#include "util/validate.h"

#define NAME(s, max) dom__valid_name(s, strlen(s), max)
#define JUR(s) dom__valid_jurisdiction(s, strlen(s))
#define TOKEN(s) dom__valid_http_token(s, strlen(s))
#define SUB(s) dom__iso_subdivision_check(s, strlen(s))

static void test_names(void)
{
    ok(JUR("EU-GDPR"));
    ok(JUR("us_ca-2"));
    ok(JUR("a"));
    ok(!JUR(""));
    ok(!JUR("EU GDPR"));
    ok(!JUR("EU.GDPR"));
    ok(!JUR("EU/GDPR"));
    ok(!JUR("Ümlaut"));
    char max[DOM_NAME_MAX + 2];
    memset(max, 'J', sizeof(max));
    max[DOM_NAME_MAX] = '\0';
    ok(JUR(max));
    max[DOM_NAME_MAX] = 'J';
    max[DOM_NAME_MAX + 1] = '\0';
    ok(!JUR(max));
    ok(NAME("k2025", 32));
    ok(!NAME("k2025", 4));
    ok(!dom__valid_name("a\0b", 3, 8)); /* a NUL inside is not a name character */
}

static void test_tokens(void)
{
    ok(TOKEN("GET"));
    ok(TOKEN("X-Domicile-Pin"));
    ok(TOKEN("!#$%&'*+-.^_`|~09azAZ"));
    ok(!TOKEN(""));
    ok(!TOKEN("bad header"));
    ok(!TOKEN("x:y"));
    ok(!TOKEN("a\"b"));
    ok(!TOKEN("caf\xc3\xa9"));
    ok(!dom__valid_http_token("a\0", 2));
    int n = 0;
    for (int c = 0; c < 256; ++c)
        n += dom__is_tchar((char)c);
    is_int(n, 26 * 2 + 10 + 15); /* letters, digits and the 15 symbols of RFC 9110 */
}

static void test_iso(void)
{
    is_int(dom__iso_country_count(), 250);
    /* the EU-27 list the geo layer derives in_eu from when a database has no EU flag */
    is_int(dom__iso_eu_member_count(), 27);
    static const char *const members[] = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES",
                                          "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
                                          "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK"};
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); ++i)
        ok(dom__iso_country_in_eu(members[i], 2));
    static const char *const others[] = {"GB", "CH", "NO", "IS", "LI", "US", "EL", "EU", "de", "D"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); ++i)
        ok(!dom__iso_country_in_eu(others[i], strlen(others[i])));
    ok(dom__iso_country_known("DE", 2));
    ok(dom__iso_country_known("XK", 2));
    ok(!dom__iso_country_known("XX", 2));
    ok(!dom__iso_country_known("de", 2));
    ok(!dom__iso_country_known("DEU", 3));
    ok(!dom__iso_country_known("D", 1));
    is_int(SUB("US-CA"), DOM__ISO_SUB_OK);
    is_int(SUB("US-XX"), DOM__ISO_SUB_UNKNOWN);
    is_int(SUB("CA-QC"), DOM__ISO_SUB_OK);
    is_int(SUB("BR-SP"), DOM__ISO_SUB_OK);
    is_int(SUB("IN-KA"), DOM__ISO_SUB_OK);
    is_int(SUB("CN-GD"), DOM__ISO_SUB_OK);
    is_int(SUB("RU-MOW"), DOM__ISO_SUB_OK);
    is_int(SUB("GB-SCT"), DOM__ISO_SUB_OK);
    is_int(SUB("DE-BY"), DOM__ISO_SUB_OK);
    is_int(SUB("AU-NSW"), DOM__ISO_SUB_OK);
    is_int(SUB("CH-ZH"), DOM__ISO_SUB_OK);
    is_int(SUB("CH-XY"), DOM__ISO_SUB_UNKNOWN);
    is_int(SUB("FR-75"), DOM__ISO_SUB_NO_TABLE);
    is_int(SUB("QQ-AB"), DOM__ISO_SUB_BAD_COUNTRY);
    is_int(SUB("US-ca"), DOM__ISO_SUB_MALFORMED);
    is_int(SUB("US-ABCD"), DOM__ISO_SUB_MALFORMED);
    is_int(SUB("USCA"), DOM__ISO_SUB_MALFORMED);
    is_int(SUB("us-CA"), DOM__ISO_SUB_MALFORMED);
}

int main(void)
{
    subtest("names and jurisdictions", test_names);
    subtest("HTTP tokens", test_tokens);
    subtest("ISO 3166", test_iso);
    return done_testing();
}

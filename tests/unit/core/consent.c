/*
 * Tests src/core/consent.c: minting, the strict parser, each verify result in its order
 * (malformed, unknown key, bad signature, expired, revoked), rotation, scopes, and the
 * revocation list (ids, subject + issued before, errors as file:line). The known answer
 * comes from Python's hmac module, an implementation independent of ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/consent.h"
#include "test.h"

/* HMAC-SHA256(bytes 00..1f, "c1.k1.t0001.subj-abc.marketing+notifications.1700000000.1800000000") */
#define KAT_TOKEN                                                                                                      \
    "c1.k1.t0001.subj-abc.marketing+notifications.1700000000.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo"
#define NOW 1750000000

static dom_pin_key_t keys[2];
static dom_pin_keyring_t ring = {keys, 2};

static void setup(void)
{
    snprintf(keys[0].kid, sizeof(keys[0].kid), "k1");
    for (int i = 0; i < 32; ++i)
        keys[0].secret[i] = (unsigned char)i;
    keys[0].secret_len = 32;
    snprintf(keys[1].kid, sizeof(keys[1].kid), "k0");
    memset(keys[1].secret, 0x5a, 16);
    keys[1].secret_len = 16;
}

static int verify(const char *token, const dom_consent_revocations_t *rev, int64_t now, dom_consent_t *c)
{
    return dom_consent_verify(&ring, rev, token, strlen(token), now, c);
}

static void test_known_answer(void)
{
    char tok[DOM_CONSENT_TOKEN_MAX + 1];
    is_int(dom_consent_issue(&ring, NULL, "t0001", "subj-abc", "notifications, marketing", 1700000000, 1800000000, tok,
                             sizeof(tok)),
           DOM_OK);
    is_str(tok, KAT_TOKEN);
    dom_consent_t c;
    is_int(verify(KAT_TOKEN, NULL, NOW, &c), DOM_OK);
    is_str(c.kid, "k1");
    is_str(c.id, "t0001");
    is_str(c.subject, "subj-abc");
    is_str(c.scopes, "marketing+notifications");
    is_int(c.n_scopes, 2);
    is_int(c.issued_at, 1700000000);
    is_int(c.expiry, 1800000000);
    ok(dom_consent_covers(&c, "marketing", 9));
    ok(dom_consent_covers(&c, "notifications", 13));
    ok(!dom_consent_covers(&c, "market", 6));
    ok(!dom_consent_covers(&c, "content", 7));
    /* rotation: the second key verifies its own tokens */
    is_int(dom_consent_issue(&ring, "k0", "t2", "s", "content", 1, 1800000000, tok, sizeof(tok)), DOM_OK);
    is_int(verify(tok, NULL, NOW, &c), DOM_OK);
    is_str(c.kid, "k0");
    /* too small a buffer */
    is_int(dom_consent_issue(&ring, NULL, "t1", "s", "a", 1, 2, tok, 20), DOM_ERANGE);
    is_str(tok, "");
}

static void test_issue_errors(void)
{
    char tok[DOM_CONSENT_TOKEN_MAX + 1];
    is_int(dom_consent_issue(&ring, "nope", "t", "s", "a", 1, 2, tok, sizeof(tok)), DOM_EPIN_UNKNOWN_KEY);
    is_int(dom_consent_issue(&ring, NULL, "t.1", "s", "a", 1, 2, tok, sizeof(tok)), DOM_EINVAL);
    is_int(dom_consent_issue(&ring, NULL, "t", "s s", "a", 1, 2, tok, sizeof(tok)), DOM_EINVAL);
    is_int(dom_consent_issue(&ring, NULL, "t", "s", "a,a", 1, 2, tok, sizeof(tok)), DOM_EINVAL);
    is_int(dom_consent_issue(&ring, NULL, "t", "s", "Marketing", 1, 2, tok, sizeof(tok)), DOM_EINVAL);
    is_int(dom_consent_issue(&ring, NULL, "t", "s", "", 1, 2, tok, sizeof(tok)), DOM_EINVAL);
    is_int(dom_consent_issue(&ring, NULL, "t", "s", "a", 3, 2, tok, sizeof(tok)), DOM_ERANGE);
    is_int(dom_consent_issue(&ring, NULL, "t", "s", "a", -1, 2, tok, sizeof(tok)), DOM_ERANGE);
}

static void test_results(void)
{
    char tok[DOM_CONSENT_TOKEN_MAX + 1];
    dom_consent_t c;
    /* forged: one character of the signature changed, and a token signed with another secret */
    snprintf(tok, sizeof(tok), "%s", KAT_TOKEN);
    tok[strlen(tok) - 5] = tok[strlen(tok) - 5] == 'A' ? 'B' : 'A';
    is_int(verify(tok, NULL, NOW, &c), DOM_ECONSENT_BAD_SIGNATURE);
    is_str(dom_consent_reason(DOM_ECONSENT_BAD_SIGNATURE), "consent_bad_signature");
    /* scopes widened by the client: the MAC no longer matches */
    char widened[] = "c1.k1.t0001.subj-abc.account+marketing+notifications.1700000000.1800000000."
                     "LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo";
    is_int(verify(widened, NULL, NOW, &c), DOM_ECONSENT_BAD_SIGNATURE);
    /* a forged expired token is a forgery, not "expired" */
    is_int(verify(KAT_TOKEN, NULL, 1800000000, &c), DOM_ECONSENT_EXPIRED);
    tok[0] = 'c';
    is_int(verify(tok, NULL, 1900000000, &c), DOM_ECONSENT_BAD_SIGNATURE);
    is_int(verify(KAT_TOKEN, NULL, 1799999999, &c), DOM_OK);
    /* unknown key */
    char other[] = "c1.k9.t0001.subj-abc.marketing+notifications.1700000000.1800000000."
                   "LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo";
    is_int(verify(other, NULL, NOW, &c), DOM_ECONSENT_UNKNOWN_KEY);
    is_str(dom_consent_reason(DOM_ECONSENT_UNKNOWN_KEY), "consent_unknown_key");
    is_str(dom_consent_reason(DOM_ECONSENT_EXPIRED), "consent_expired");
    is_str(dom_consent_reason(DOM_ECONSENT_REVOKED), "consent_revoked");
    is_str(dom_consent_reason(DOM_ECONSENT_MALFORMED), "consent_malformed");
    is_str(dom_consent_reason(DOM_OK), "consent_valid");
}

static void test_malformed(void)
{
    static const char *const bad[] = {
        "",
        "marketing",
        "v1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ", /* a pin is no consent */
        "c2.k1.t0001.subj-abc.marketing.1700000000.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo",
        "c1.k1.t0001.subj-abc.notifications+marketing.1700000000.1800000000.LYANYikR_"
        "K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo",
        "c1.k1.t0001.subj-abc.marketing+marketing.1700000000.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo",
        "c1.k1.t0001.subj-abc.marketing+.1700000000.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo",
        "c1.k1.t0001.subj-abc.Marketing.1700000000.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo",
        "c1.k1.t0001.subj-abc.marketing.1800000001.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo",
        "c1.k1.t0001.subj-abc.marketing.01700000000.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo",
        "c1.k1.t0001.subj-abc.marketing.1700000000.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSp",
        "c1.k1.t0001.subj-abc.marketing.1700000000.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo.x",
        "c1.k1..subj-abc.marketing.1700000000.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo",
        "c1.k1.t 1.subj-abc.marketing.1700000000.1800000000.LYANYikR_K9DsL5aZNk161XVZ4Yezc12MYhCiZTriSo",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        printf("# malformed %zu\n", i);
        is_int(verify(bad[i], NULL, NOW, NULL), DOM_ECONSENT_MALFORMED);
        ok(dom_consent_malformed_why(bad[i], strlen(bad[i])) != NULL);
    }
    ok(dom_consent_malformed_why(KAT_TOKEN, strlen(KAT_TOKEN)) == NULL);
    /* the length bounds the token, not a NUL */
    is_int(dom_consent_verify(&ring, NULL, KAT_TOKEN "xyz", strlen(KAT_TOKEN), NOW, NULL), DOM_OK);
    /* no keys at all */
    dom_pin_keyring_t none = {0};
    is_int(dom_consent_verify(&none, NULL, KAT_TOKEN, strlen(KAT_TOKEN), NOW, NULL), DOM_ECONSENT_UNKNOWN_KEY);
}

static void test_revocations(void)
{
    dom_consent_revocations_t *r = NULL;
    char err[256];
    const char *text = "# revoked by the account system\n"
                       "id t0001\n"
                       "\n"
                       "subject subj-xyz before 1750000000   # withdrew everything\n"
                       "subject subj-xyz before 2025-01-01\n"
                       "id other\r\n";
    is_int(dom_consent_revocations_parse("rev", text, strlen(text), &r, err, sizeof(err)), DOM_OK);
    is_int(dom_consent_revocations_count(r), 3);
    is_int(strlen(dom_consent_revocations_sha256(r)), 64);
    is_int(verify(KAT_TOKEN, r, NOW, NULL), DOM_ECONSENT_REVOKED);
    /* revoked, but expired first: expiry is said first */
    is_int(verify(KAT_TOKEN, r, 1800000000, NULL), DOM_ECONSENT_EXPIRED);
    char tok[DOM_CONSENT_TOKEN_MAX + 1];
    dom_consent_t c;
    /* subject: tokens issued before the time are revoked, later ones (consent given again) are not */
    dom_consent_issue(&ring, NULL, "t5", "subj-xyz", "marketing", 1749999999, 1800000000, tok, sizeof(tok));
    is_int(verify(tok, r, NOW, &c), DOM_ECONSENT_REVOKED);
    dom_consent_issue(&ring, NULL, "t6", "subj-xyz", "marketing", 1750000000, 1800000000, tok, sizeof(tok));
    is_int(verify(tok, r, NOW, &c), DOM_OK);
    dom_consent_issue(&ring, NULL, "t7", "subj-abc", "marketing", 1, 1800000000, tok, sizeof(tok));
    is_int(verify(tok, r, NOW, &c), DOM_OK);
    dom_consent_revocations_free(r);

    is_int(dom_consent_revocations_parse("rev", "", 0, &r, err, sizeof(err)), DOM_OK);
    is_int(dom_consent_revocations_count(r), 0);
    dom_consent_revocations_free(r);
    dom_consent_revocations_free(NULL);

    static const struct {
        const char *text, *err;
    } bad[] = {
        {"id\n", "rev:1: the token id is not 1-32 characters of A-Z a-z 0-9 _ -"},
        {"\nid a b\n", "rev:2: unexpected text after the entry (one entry per line)"},
        {"token t1\n", "rev:1: expected \"id <token id>\" or \"subject <subject> before <time>\""},
        {"subject s after 1\n", "rev:1: expected \"subject <subject> before <time>\""},
        {"subject s before yesterday\n", "rev:1: expected \"subject <subject> before <time>\""},
        {"subject s.t before 1\n", "rev:1: the subject is not 1-64 characters of A-Z a-z 0-9 _ -"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        printf("# bad list %zu\n", i);
        is_int(dom_consent_revocations_parse("rev", bad[i].text, strlen(bad[i].text), &r, err, sizeof(err)),
               DOM_EINVAL);
        ok(r == NULL);
        ok(strncmp(err, bad[i].err, strlen(bad[i].err)) == 0);
    }
    is_int(dom_consent_revocations_parse("rev", "id a\0b\n", 7, &r, err, sizeof(err)), DOM_EINVAL);
    is_int(dom_consent_revocations_load("/nonexistent/rev", &r, err, sizeof(err)), DOM_EIO);
}

int main(void)
{
    setup();
    subtest("known answer", test_known_answer);
    subtest("issue errors", test_issue_errors);
    subtest("results", test_results);
    subtest("malformed", test_malformed);
    subtest("revocations", test_revocations);
    return done_testing();
}

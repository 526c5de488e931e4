/*
 * Fuzzes the consent token parser and verifier and the revocation list parser
 * (src/core/consent.c). The first input byte picks the target: even, a token as a client sends
 * it in a header, checked against a fixed key ring and a fixed revocation list; odd, the rest as
 * a revocation file. Besides "no crash, no UB": only the listed results come back, a genuine
 * token re-mints to exactly the same bytes (one spelling per token), malformed_why agrees with
 * verify, and a parsed revocation list answers lookups for what it listed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/consent.h"

/* k1: bytes 00..1f (the unit tests' known-answer key); k2: 16 bytes 0x42. */
static dom_pin_key_t keys[2] = {
    {"k1",
     {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
      0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f},
     32},
    {"k2", {0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42}, 16},
};
static const dom_pin_keyring_t ring = {keys, 2};

static void fuzz_token(const char *token, size_t size)
{
    static dom_consent_revocations_t *rev;
    if (rev == NULL) {
        static const char list[] = "id t-revoked\nsubject subj-old before 1700000000\n";
        char err[128];
        if (dom_consent_revocations_parse("fixed", list, sizeof(list) - 1, &rev, err, sizeof(err)) != 0)
            abort();
    }
    dom_consent_t c;
    int r = dom_consent_verify(&ring, rev, token, size, 1650000000, &c);
    if (r != DOM_OK && r != DOM_ECONSENT_MALFORMED && r != DOM_ECONSENT_UNKNOWN_KEY &&
        r != DOM_ECONSENT_BAD_SIGNATURE && r != DOM_ECONSENT_EXPIRED && r != DOM_ECONSENT_REVOKED)
        abort();
    if ((dom_consent_malformed_why(token, size) == NULL) != (r != DOM_ECONSENT_MALFORMED))
        abort();
    if (strnlen(c.kid, sizeof(c.kid)) == sizeof(c.kid) || strnlen(c.id, sizeof(c.id)) == sizeof(c.id) ||
        strnlen(c.subject, sizeof(c.subject)) == sizeof(c.subject) ||
        strnlen(c.scopes, sizeof(c.scopes)) == sizeof(c.scopes))
        abort();
    if (r == DOM_OK || r == DOM_ECONSENT_EXPIRED || r == DOM_ECONSENT_REVOKED) {
        char again[DOM_CONSENT_TOKEN_MAX + 1];
        if (dom_consent_issue(&ring, c.kid, c.id, c.subject, c.scopes, c.issued_at, c.expiry, again, sizeof(again)) !=
                DOM_OK ||
            strlen(again) != size || memcmp(again, token, size) != 0)
            abort();
        /* every scope the token names is covered, and only those */
        if (!dom_consent_covers(&c, c.scopes, strcspn(c.scopes, "+")))
            abort();
        if ((r == DOM_ECONSENT_REVOKED) != dom_consent_revoked(rev, &c))
            abort();
    }
}

static void fuzz_list(const char *text, size_t size)
{
    dom_consent_revocations_t *rev = NULL;
    char err[256];
    int r = dom_consent_revocations_parse("fuzz", text, size, &rev, err, sizeof(err));
    if ((r == DOM_OK) != (rev != NULL) || (r != DOM_OK && r != DOM_EINVAL && r != DOM_ENOMEM))
        abort();
    if (rev != NULL && strlen(dom_consent_revocations_sha256(rev)) != 64)
        abort();
    dom_consent_revocations_free(rev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* A copy of exactly the bytes used, so ASan catches any read past the end. */
    char *buf = malloc(size);
    if (buf == NULL)
        return 0;
    memcpy(buf, data + 1, size - 1);
    if ((data[0] & 1) == 0)
        fuzz_token(buf, size - 1);
    else
        fuzz_list(buf, size - 1);
    free(buf);
    return 0;
}

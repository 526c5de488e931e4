/*
 * Step 3 of the request path, second half: consent tokens. A consent token is minted by the
 * service's account system when a user consents, and proves it later (GDPR art. 7(1)):
 *
 *     c1.<kid>.<token id>.<subject>.<scopes>.<issued-at>.<expiry>.<signature>
 *
 * kid, token id: [A-Za-z0-9_-]{1,32}; subject: the service's hash of the subject id,
 * [A-Za-z0-9_-]{1,64} (`domicile consent issue --subject` uses base64url SHA-256); scopes:
 * 1-16 data class or purpose names ([a-z0-9_-]{1,63}) joined by '+', strictly ascending (one
 * spelling per token); issued-at and expiry: unix seconds as in pins, issued-at <= expiry;
 * signature: HMAC-SHA256 over everything before the last dot, as pins (pin.h): the same key
 * file format, key ids, rotation and constant-time comparison. A consent token is separate
 * from the residency pin (docs/internals/consent.md says why). Revocation: a list of token
 * ids and of (subject, issued before) pairs, reloaded live by the gateway.
 */
#ifndef DOMICILE_CONSENT_H
#define DOMICILE_CONSENT_H

#include <stddef.h>
#include <stdint.h>
#include "domicile/common.h"
#include "domicile/pin.h"

#define DOM_CONSENT_TOKEN_MAX 1024
#define DOM_CONSENT_ID_MAX 32
#define DOM_CONSENT_SUBJECT_MAX 64
#define DOM_CONSENT_SCOPES_MAX 16 /* scopes per token */
#define DOM_CONSENT_SCOPES_CHARS 511

/** A verified (or at least parsed) consent token. Strings are NUL-terminated copies. */
typedef struct dom_consent {
    char kid[DOM_PIN_KID_MAX + 1];
    char id[DOM_CONSENT_ID_MAX + 1];
    char subject[DOM_CONSENT_SUBJECT_MAX + 1];
    char scopes[DOM_CONSENT_SCOPES_CHARS + 1]; /* as in the token: "marketing+notifications" */
    size_t n_scopes;
    int64_t issued_at;
    int64_t expiry;
} dom_consent_t;

/** A parsed revocation list (opaque, immutable once loaded: many threads may read it). */
typedef struct dom_consent_revocations dom_consent_revocations_t;

/**
 * Mints a token with the named key of ring (the first when kid is NULL). scopes: names separated
 * by ',' or '+' (sorted and written '+'-joined; a duplicate is an error). Errors:
 * DOM_EPIN_UNKNOWN_KEY (no such key), DOM_EINVAL (bad id, subject or scope, duplicate scope, a
 * ring key with a bad kid or secret length), DOM_ERANGE (times out of range, issued_at > expiry,
 * or out too small: out is then ""), DOM_ENOMEM.
 */
int dom_consent_issue(const dom_pin_keyring_t *ring, const char *kid, const char *id, const char *subject,
                      const char *scopes, int64_t issued_at, int64_t expiry, char *out, size_t outlen);

/**
 * Verifies a token at `now` against ring and (when not NULL) a revocation list. Fills out as far
 * as it parsed (out may be NULL). Returns DOM_OK, DOM_ECONSENT_MALFORMED, DOM_ECONSENT_UNKNOWN_KEY,
 * DOM_ECONSENT_BAD_SIGNATURE, DOM_ECONSENT_EXPIRED (now >= expiry) or DOM_ECONSENT_REVOKED, in
 * that order: expiry and revocation speak only about genuine tokens. DOM_ENOMEM if OpenSSL fails.
 * Reentrant; no allocation of its own.
 */
int dom_consent_verify(const dom_pin_keyring_t *ring, const dom_consent_revocations_t *revoked, const char *token,
                       size_t len, int64_t now, dom_consent_t *out);

/** 1 if the token's scopes name `scope` (len bytes, compared exactly: names are lower case). */
int dom_consent_covers(const dom_consent_t *c, const char *scope, size_t len);

/**
 * Reason code of a verify result: "consent_valid", "consent_malformed", "consent_unknown_key",
 * "consent_bad_signature", "consent_expired", "consent_revoked", or "consent_error".
 */
const char *dom_consent_reason(int verify_result);

/** Why a token is malformed, as a constant sentence, or NULL if it parses. */
const char *dom_consent_malformed_why(const char *token, size_t len);

/**
 * Parses a revocation list: one entry per line, '#' comments and blank lines ignored:
 *     id <token id>                          revokes that token
 *     subject <subject> before <time>        revokes the subject's tokens issued before <time>
 * <time>: unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ. `name` names the input in messages
 * ("file:line: message" in err). An empty list is valid. On success *out is owned by the caller
 * (dom_consent_revocations_free). Errors: DOM_EINVAL, DOM_ENOMEM.
 */
int dom_consent_revocations_parse(const char *name, const char *buf, size_t len, dom_consent_revocations_t **out,
                                  char *err, size_t errlen);

/** Reads and parses a revocation file (at most 16 MiB). Errors: DOM_EIO, and those of _parse. */
int dom_consent_revocations_load(const char *path, dom_consent_revocations_t **out, char *err, size_t errlen);

/** Frees a list. NULL safe. */
void dom_consent_revocations_free(dom_consent_revocations_t *r);

/** 1 if the list revokes the (genuine) token c: its id is listed, or its subject's tokens before its issued-at. */
int dom_consent_revoked(const dom_consent_revocations_t *r, const dom_consent_t *c);

/** Entries of the list (ids and subjects); 0 for NULL. */
size_t dom_consent_revocations_count(const dom_consent_revocations_t *r);

/** The hex SHA-256 of the list's bytes as parsed (64 characters), "" for NULL. */
const char *dom_consent_revocations_sha256(const dom_consent_revocations_t *r);

#endif

/*
 * Step 3 of the request path: residency pins. A pin is a signed token naming a user's
 * home jurisdiction, minted by the service at sign-up:
 *
 *     v1.<kid>.<jurisdiction>.<expiry unix seconds>.<base64url(HMAC-SHA256(key, "v1.<kid>.<jurisdiction>.<expiry>"))>
 *
 * kid is [A-Za-z0-9_-]{1,32}; jurisdiction [A-Za-z0-9_-]{1,63}; expiry decimal, at most
 * 12 digits; signature 43 base64url characters without padding. Several keys can be live
 * at once (rotation); comparison is constant-time.
 */
#ifndef DOMICILE_PIN_H
#define DOMICILE_PIN_H

#include <stddef.h>
#include <stdint.h>
#include "domicile/common.h"

#define DOM_PIN_KID_MAX 32
#define DOM_PIN_KEY_MAX 64
#define DOM_PIN_TOKEN_MAX 256

typedef struct dom_pin_key {
    char kid[DOM_PIN_KID_MAX + 1];
    unsigned char secret[DOM_PIN_KEY_MAX];
    size_t secret_len; /* at least 16 bytes */
} dom_pin_key_t;

typedef struct dom_pin_keyring {
    dom_pin_key_t *keys;
    size_t count;
} dom_pin_keyring_t;

/**
 * Loads a key file: one key per line, "<kid> <secret as hex or base64>", '#' comments and
 * blank lines ignored. Errors (with "file:line: message" in err): DOM_EIO, DOM_EINVAL, DOM_ENOMEM.
 *
 * The secret is hex when it is made only of hex digits (an even number of them), else base64
 * (standard or url-safe alphabet, padding optional, not mixed); "hex:" or "base64:" in front
 * forces one.
 * It must decode to 16..64 bytes. A '#' after the secret starts a comment. Duplicate key ids,
 * an empty file (no keys) and files over 64 KiB are errors. On success *out is overwritten
 * (not freed first) and owned by the caller (dom_pin_keyring_free); on failure it is zeroed.
 * Does not look at the file's permissions: see dom_keyfile_check (keyfile.h).
 */
int dom_pin_keyring_load(const char *path, dom_pin_keyring_t *out, char *err, size_t errlen);

/** Frees the keys (and wipes the secrets). Safe on zeroed / freed rings. */
void dom_pin_keyring_free(dom_pin_keyring_t *ring);

/**
 * Mints a token with the named key (or the first key when kid is NULL) into out (NUL-terminated).
 * expiry must be 0..999999999999 (at most 12 digits); it may lie in the past.
 * Errors: DOM_EPIN_UNKNOWN_KEY, DOM_EINVAL (bad jurisdiction name, or a ring key with a bad
 * kid or secret length), DOM_ERANGE (expiry out of range, or buffer too small: out is then ""),
 * DOM_ENOMEM (OpenSSL could not compute the MAC).
 */
int dom_pin_issue(const dom_pin_keyring_t *ring, const char *kid, const char *jurisdiction, int64_t expiry, char *out,
                  size_t outlen);

/** A verified (or at least parsed) pin. */
typedef struct dom_pin {
    char kid[DOM_PIN_KID_MAX + 1];
    char jurisdiction[DOM_NAME_MAX + 1];
    int64_t expiry;
} dom_pin_t;

/**
 * Verifies a token at time `now`. Fills out as far as it parsed (out may be NULL; fields not
 * reached are zero). The token need not be NUL-terminated; anything over DOM_PIN_TOKEN_MAX
 * bytes is malformed. Returns DOM_OK, DOM_EPIN_MALFORMED, DOM_EPIN_UNKNOWN_KEY,
 * DOM_EPIN_BAD_SIGNATURE or DOM_EPIN_EXPIRED (signature is checked before expiry, so an expired
 * pin is a genuine one); a pin with now >= expiry is expired. DOM_ENOMEM only if OpenSSL
 * cannot compute the MAC (never DOM_OK then). Reentrant: many threads may verify against one
 * ring. Does no allocation of its own (OpenSSL's HMAC uses a transient context internally);
 * malformed and unknown-key pins are refused before any cryptography.
 */
int dom_pin_verify(const dom_pin_keyring_t *ring, const char *token, size_t len, int64_t now, dom_pin_t *out);

/**
 * Short machine-readable reason for a verify result: "pin_valid" (DOM_OK), "pin_malformed",
 * "pin_unknown_key", "pin_bad_signature", "pin_expired", or "pin_error" for anything else.
 */
const char *dom_pin_reason(int verify_result);

/**
 * Says why a token is malformed, as a constant sentence ("the signature is not 43 base64url
 * characters", ...), or returns NULL if it parses. For error messages; verify does not need it.
 */
const char *dom_pin_malformed_why(const char *token, size_t len);

#endif

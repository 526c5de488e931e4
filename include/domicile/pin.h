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
 */
int dom_pin_keyring_load(const char *path, dom_pin_keyring_t *out, char *err, size_t errlen);

/** Frees the keys (and wipes the secrets). Safe on zeroed / freed rings. */
void dom_pin_keyring_free(dom_pin_keyring_t *ring);

/**
 * Mints a token with the named key (or the first key when kid is NULL) into out (NUL-terminated).
 * Errors: DOM_EPIN_UNKNOWN_KEY, DOM_EINVAL (bad jurisdiction name), DOM_ERANGE (buffer).
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
 * Verifies a token at time `now`. Fills out as far as it parsed.
 * Returns DOM_OK, DOM_EPIN_MALFORMED, DOM_EPIN_UNKNOWN_KEY, DOM_EPIN_BAD_SIGNATURE or
 * DOM_EPIN_EXPIRED (signature is checked before expiry, so an expired pin is a genuine one).
 */
int dom_pin_verify(const dom_pin_keyring_t *ring, const char *token, size_t len, int64_t now, dom_pin_t *out);

/** Short machine-readable reason for a verify result: "pin_malformed", "pin_unknown_key", ... */
const char *dom_pin_reason(int verify_result);

#endif

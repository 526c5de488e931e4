/*
 * What residency pins (pin.c) and consent tokens (consent.c) share: the signed-token
 * mechanics. Both are dot-separated text signed with HMAC-SHA256 by a key of one key ring
 * (pin.h's format: key ids, rotation), the signature 43 characters of canonical base64url
 * over everything before the last dot, compared in constant time. One implementation, so
 * a fix to one token kind is a fix to both.
 */
#ifndef DOMICILE_TOKEN_INTERNAL_H
#define DOMICILE_TOKEN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include "domicile/pin.h"

#define DOM__TOKEN_MAC_LEN 32
#define DOM__TOKEN_SIG_CHARS 43 /* base64url of 32 bytes, no padding */
#define DOM__TOKEN_TIME_DIGITS_MAX 12
#define DOM__TOKEN_TIME_MAX INT64_C(999999999999)

/** Value of a base64 digit in the url-safe (url=1) or standard alphabet, or -1. */
int dom__b64_value(unsigned char c, int url);

/**
 * Decodes n base64 digits (no padding) into out (at most outmax bytes). Trailing bits must be
 * zero, so each byte string has exactly one encoding. Returns the byte count or -1.
 */
long dom__b64_decode(const char *s, size_t n, int url, unsigned char *out, size_t outmax);

/**
 * Cuts token[0..len) at every '.' into part/part_len (at most max parts). Returns the number of
 * parts, or max + 1 when there are more.
 */
size_t dom__token_split(const char *token, size_t len, const char **part, size_t *part_len, size_t max);

/** Strict unix seconds: 1-12 decimal digits, no sign, no leading zero (except "0"). 0, -1 (not 1-12 digits) or -2
 * (a leading zero). */
int dom__token_time(const char *s, size_t n, int64_t *out);

/** The canonical base64url encoding of a MAC (exactly 43 characters) into mac. 0, or -1. */
int dom__token_signature(const char *s, size_t n, unsigned char mac[DOM__TOKEN_MAC_LEN]);

/** The ring's key named kid (kid_len bytes), or NULL. */
const dom_pin_key_t *dom__token_find_key(const dom_pin_keyring_t *ring, const char *kid, size_t kid_len);

/**
 * The key to sign with: the named one, or the first when kid is NULL. Errors: DOM_EPIN_UNKNOWN_KEY, DOM_EINVAL (a
 * hand-built ring key whose kid no verifier would accept).
 */
int dom__token_signing_key(const dom_pin_keyring_t *ring, const char *kid, const dom_pin_key_t **out);

/**
 * Appends ".<signature>" to the signed text in buf (n bytes, NUL-terminated after the signature).
 * buf must hold n + 1 + 43 + 1 bytes. Errors: DOM_EINVAL (bad key length), DOM_ENOMEM (OpenSSL).
 */
int dom__token_sign(const dom_pin_key_t *key, char *buf, size_t n);

/**
 * Checks a parsed token's signature: the key named kid, HMAC over signed_part, compared with
 * CRYPTO_memcmp. Returns DOM_OK, DOM_EPIN_UNKNOWN_KEY, DOM_EPIN_BAD_SIGNATURE (a ring key that
 * cannot sign counts as a bad signature: fail closed) or DOM_ENOMEM.
 */
int dom__token_check(const dom_pin_keyring_t *ring, const char *kid, size_t kid_len, const char *signed_part,
                     size_t signed_len, const unsigned char signature[DOM__TOKEN_MAC_LEN]);

/** Writes a message into err (errlen bytes; nothing when err is NULL): the key and revocation file loaders'. */
__attribute__((format(printf, 3, 4))) void dom__token_err(char *err, size_t errlen, const char *fmt, ...);

/**
 * Reads the whole file at path into one buffer of max + 1 bytes, never grown (growing would leave a key
 * file's secrets in freed memory): *buf (the caller's to cleanse and free) and *len. too_large is the
 * message after "path: " when the file holds more than max bytes. On failure nothing is returned and
 * what was read is cleansed. Errors: DOM_EIO, DOM_ENOMEM, DOM_EINVAL (too large).
 */
int dom__token_read_file(const char *path, size_t max, const char *too_large, char **buf, size_t *len, char *err,
                         size_t errlen);

#endif

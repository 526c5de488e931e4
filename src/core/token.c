/*
 * The signed-token mechanics residency pins and consent tokens share (internal/token.h):
 * base64url, strict decimals, key lookup, HMAC-SHA256 signing and constant-time checking.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "token.h"
#include "util/validate.h"

#define KEY_MIN 16

static const char b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int dom__b64_value(unsigned char c, int url)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (url ? '-' : '+'))
        return 62;
    if (c == (url ? '_' : '/'))
        return 63;
    return -1;
}

long dom__b64_decode(const char *s, size_t n, int url, unsigned char *out, size_t outmax)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; ++i) {
        int v = dom__b64_value((unsigned char)s[i], url);
        if (v < 0)
            return -1;
        acc = ((acc << 6) | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == outmax)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0)
        return -1;
    return (long)o;
}

/* 32 bytes → 43 base64url characters, no padding, NUL-terminated. */
static void encode_signature(const unsigned char mac[DOM__TOKEN_MAC_LEN], char out[DOM__TOKEN_SIG_CHARS + 1])
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < DOM__TOKEN_MAC_LEN; ++i) {
        acc = (acc << 8) | mac[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url_alphabet[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = b64url_alphabet[(acc << (6 - bits)) & 63];
    out[o] = '\0';
}

size_t dom__token_split(const char *token, size_t len, const char **part, size_t *part_len, size_t max)
{
    size_t n = 0;
    const char *start = token, *end = token + len;
    for (const char *c = token;; ++c) {
        if (c == end || *c == '.') {
            if (n == max)
                return max + 1;
            part[n] = start;
            part_len[n] = (size_t)(c - start);
            ++n;
            if (c == end)
                break;
            start = c + 1;
        }
    }
    return n;
}

int dom__token_time(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > DOM__TOKEN_TIME_DIGITS_MAX)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; ++i) {
        unsigned char c = (unsigned char)s[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    if (s[0] == '0' && n > 1)
        return -2;
    *out = v;
    return 0;
}

int dom__token_signature(const char *s, size_t n, unsigned char mac[DOM__TOKEN_MAC_LEN])
{
    if (n != DOM__TOKEN_SIG_CHARS)
        return -1;
    return dom__b64_decode(s, n, 1, mac, DOM__TOKEN_MAC_LEN) == DOM__TOKEN_MAC_LEN ? 0 : -1;
}

const dom_pin_key_t *dom__token_find_key(const dom_pin_keyring_t *ring, const char *kid, size_t kid_len)
{
    if (ring == NULL || ring->keys == NULL)
        return NULL;
    for (size_t i = 0; i < ring->count; ++i) {
        const dom_pin_key_t *key = &ring->keys[i];
        if (strnlen(key->kid, sizeof(key->kid)) == kid_len && memcmp(key->kid, kid, kid_len) == 0)
            return key;
    }
    return NULL;
}

int dom__token_signing_key(const dom_pin_keyring_t *ring, const char *kid, const dom_pin_key_t **out)
{
    const dom_pin_key_t *key = NULL;
    if (kid == NULL)
        key = ring != NULL && ring->keys != NULL && ring->count > 0 ? &ring->keys[0] : NULL;
    else
        key = dom__token_find_key(ring, kid, strlen(kid));
    *out = NULL;
    if (key == NULL)
        return DOM_EPIN_UNKNOWN_KEY;
    /* A hand-built ring could hold a kid that no verifier would accept: refuse to mint with it. */
    if (!dom__valid_name(key->kid, strnlen(key->kid, sizeof(key->kid)), DOM_PIN_KID_MAX))
        return DOM_EINVAL;
    *out = key;
    return DOM_OK;
}

static int compute_mac(const dom_pin_key_t *key, const char *msg, size_t len, unsigned char mac[DOM__TOKEN_MAC_LEN])
{
    unsigned int mac_len = 0;
    if (key->secret_len < KEY_MIN || key->secret_len > DOM_PIN_KEY_MAX)
        return DOM_EINVAL;
    if (HMAC(EVP_sha256(), key->secret, (int)key->secret_len, (const unsigned char *)msg, len, mac, &mac_len) == NULL ||
        mac_len != DOM__TOKEN_MAC_LEN)
        return DOM_ENOMEM;
    return DOM_OK;
}

int dom__token_sign(const dom_pin_key_t *key, char *buf, size_t n)
{
    unsigned char mac[DOM__TOKEN_MAC_LEN];
    int ret = compute_mac(key, buf, n, mac);
    if (ret == DOM_OK) {
        buf[n] = '.';
        encode_signature(mac, buf + n + 1);
    }
    OPENSSL_cleanse(mac, sizeof(mac));
    return ret;
}

int dom__token_check(const dom_pin_keyring_t *ring, const char *kid, size_t kid_len, const char *signed_part,
                     size_t signed_len, const unsigned char signature[DOM__TOKEN_MAC_LEN])
{
    unsigned char mac[DOM__TOKEN_MAC_LEN];
    const dom_pin_key_t *key = dom__token_find_key(ring, kid, kid_len);
    if (key == NULL)
        return DOM_EPIN_UNKNOWN_KEY;
    int ret = compute_mac(key, signed_part, signed_len, mac);
    if (ret != DOM_OK)
        ret = ret == DOM_EINVAL ? DOM_EPIN_BAD_SIGNATURE : ret;
    else if (CRYPTO_memcmp(mac, signature, DOM__TOKEN_MAC_LEN) != 0)
        ret = DOM_EPIN_BAD_SIGNATURE;
    OPENSSL_cleanse(mac, sizeof(mac));
    return ret;
}

void dom__token_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (err == NULL || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

int dom__token_read_file(const char *path, size_t max, const char *too_large, char **buf, size_t *len, char *err,
                         size_t errlen)
{
    FILE *fp = NULL;
    char *b = NULL;
    int ret = DOM_OK;
    *buf = NULL;
    *len = 0;
    if ((fp = fopen(path, "rb")) == NULL) {
        dom__token_err(err, errlen, "%s: %s", path, strerror(errno));
        return DOM_EIO;
    }
    if ((b = malloc(max + 1)) == NULL) {
        dom__token_err(err, errlen, "%s: out of memory", path);
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    size_t n = fread(b, 1, max + 1, fp);
    if (ferror(fp)) {
        dom__token_err(err, errlen, "%s: %s", path, strerror(errno ? errno : EIO));
        ret = DOM_EIO;
    } else if (n > max) {
        dom__token_err(err, errlen, "%s: %s", path, too_large);
        ret = DOM_EINVAL;
    }
cleanup:
    fclose(fp);
    if (ret != DOM_OK) {
        if (b != NULL) {
            OPENSSL_cleanse(b, max + 1);
            free(b);
        }
        return ret;
    }
    *buf = b;
    *len = n;
    return DOM_OK;
}

/*
 * Step 3 of the request path: residency pins (see include/domicile/pin.h for the token
 * format and docs/internals/pins.md for why it is built this way).
 *
 * Verification runs on every request that carries a pin, so it parses in place, refuses
 * malformed and unknown-key tokens before any cryptography, and compares MACs with
 * CRYPTO_memcmp. Key files hold secrets: every buffer that saw one is wiped before it is freed.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "domicile/pin.h"
#include "token.h"
#include "util/validate.h"

#define PIN_VERSION "v1"
#define PIN_JURISDICTION_MAX DOM_NAME_MAX
#define PIN_EXPIRY_MAX INT64_C(999999999999)
#define PIN_MAC_LEN DOM__TOKEN_MAC_LEN
#define PIN_SIG_CHARS DOM__TOKEN_SIG_CHARS
#define PIN_KEY_MIN 16
#define KEYFILE_MAX (64 * 1024)

/* ---- tokens ------------------------------------------------------------------------------- */

/* A token cut into its parts, pointing into the caller's bytes. */
typedef struct parsed_pin {
    const char *kid;
    size_t kid_len;
    const char *signed_part; /* "v1.<kid>.<jurisdiction>.<expiry>": what the MAC covers */
    size_t signed_len;
    int64_t expiry;
    unsigned char signature[PIN_MAC_LEN];
} parsed_pin_t;

/*
 * Strict parse: exactly five dot-separated parts, each in its own charset and length, the
 * expiry without sign or leading zeros, the signature canonical base64url of 32 bytes. Fills
 * out (if not NULL) part by part. Returns NULL, or the sentence that says what is wrong.
 */
static const char *parse_pin(const char *token, size_t len, parsed_pin_t *p, dom_pin_t *out)
{
    if (token == NULL || len == 0)
        return "the pin is empty";
    if (len > DOM_PIN_TOKEN_MAX)
        return "the pin is longer than 256 bytes";

    const char *part[5];
    size_t part_len[5];
    size_t n = dom__token_split(token, len, part, part_len, 5);
    if (n > 5)
        return "the pin has more than 5 dot-separated parts";
    if (n != 5)
        return "the pin does not have 5 dot-separated parts (v1.<kid>.<jurisdiction>.<expiry>.<signature>)";

    if (part_len[0] != 2 || memcmp(part[0], PIN_VERSION, 2) != 0)
        return "the pin does not start with version \"v1\"";

    if (!dom__valid_name(part[1], part_len[1], DOM_PIN_KID_MAX))
        return "the key id is not 1-32 characters of A-Z a-z 0-9 _ -";
    p->kid = part[1];
    p->kid_len = part_len[1];
    if (out != NULL) {
        memcpy(out->kid, part[1], part_len[1]);
        out->kid[part_len[1]] = '\0';
    }

    if (!dom__valid_jurisdiction(part[2], part_len[2]))
        return "the jurisdiction is not 1-63 characters of A-Z a-z 0-9 _ -";
    if (out != NULL) {
        memcpy(out->jurisdiction, part[2], part_len[2]);
        out->jurisdiction[part_len[2]] = '\0';
    }

    int64_t expiry = 0;
    int t = dom__token_time(part[3], part_len[3], &expiry);
    if (t != 0)
        return t == -2 ? "the expiry has a leading zero" : "the expiry is not 1-12 decimal digits";
    p->expiry = expiry;
    if (out != NULL)
        out->expiry = expiry;

    if (part_len[4] != PIN_SIG_CHARS)
        return "the signature is not 43 base64url characters";
    if (dom__token_signature(part[4], part_len[4], p->signature) != 0)
        return "the signature is not canonical base64url";

    p->signed_part = token;
    p->signed_len = (size_t)(part[4] - 1 - token);
    return NULL;
}

int dom_pin_issue(const dom_pin_keyring_t *ring, const char *kid, const char *jurisdiction, int64_t expiry, char *out,
                  size_t outlen)
{
    char token[DOM_PIN_TOKEN_MAX + 1];
    const dom_pin_key_t *key;
    int ret;

    if (out != NULL && outlen > 0)
        out[0] = '\0';
    if ((ret = dom__token_signing_key(ring, kid, &key)) != DOM_OK)
        return ret;
    if (jurisdiction == NULL || !dom__valid_jurisdiction(jurisdiction, strnlen(jurisdiction, PIN_JURISDICTION_MAX + 1)))
        return DOM_EINVAL;
    if (expiry < 0 || expiry > PIN_EXPIRY_MAX)
        return DOM_ERANGE;

    int n = snprintf(token, sizeof(token), PIN_VERSION ".%s.%s.%lld", key->kid, jurisdiction, (long long)expiry);
    /* 2 + 1 + 32 + 1 + 63 + 1 + 12 + 1 + 43 = 156: always fits DOM_PIN_TOKEN_MAX. */
    if ((ret = dom__token_sign(key, token, (size_t)n)) != DOM_OK)
        return ret;
    size_t len = (size_t)n + 1 + PIN_SIG_CHARS;
    if (out == NULL || outlen < len + 1)
        return DOM_ERANGE;
    memcpy(out, token, len + 1);
    return DOM_OK;
}

int dom_pin_verify(const dom_pin_keyring_t *ring, const char *token, size_t len, int64_t now, dom_pin_t *out)
{
    parsed_pin_t p;

    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (parse_pin(token, len, &p, out) != NULL)
        return DOM_EPIN_MALFORMED;
    int ret = dom__token_check(ring, p.kid, p.kid_len, p.signed_part, p.signed_len, p.signature);
    if (ret != DOM_OK)
        return ret;
    /* Only now is the expiry a fact; "expired" therefore always describes a genuine pin. */
    return now >= p.expiry ? DOM_EPIN_EXPIRED : DOM_OK;
}

const char *dom_pin_reason(int verify_result)
{
    switch (verify_result) {
    case DOM_OK:
        return "pin_valid";
    case DOM_EPIN_MALFORMED:
        return "pin_malformed";
    case DOM_EPIN_UNKNOWN_KEY:
        return "pin_unknown_key";
    case DOM_EPIN_BAD_SIGNATURE:
        return "pin_bad_signature";
    case DOM_EPIN_EXPIRED:
        return "pin_expired";
    default:
        return "pin_error";
    }
}

const char *dom_pin_malformed_why(const char *token, size_t len)
{
    parsed_pin_t p;
    const char *why = parse_pin(token, len, &p, NULL);
    OPENSSL_cleanse(&p, sizeof(p));
    return why;
}

/* ---- key files ---------------------------------------------------------------------------- */

static int all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; ++i)
        if (dom__hex_digit((unsigned char)s[i]) < 0)
            return 0;
    return 1;
}

/*
 * Decodes a secret as written in a key file into out. Returns the byte count, or -1 with a
 * sentence in *why. Decodes into a buffer one byte larger than a key may be, to tell "too
 * long" from garbage.
 */
static long decode_secret(const char *s, size_t n, unsigned char *out, size_t outmax, const char **why)
{
    int force_hex = 0, force_b64 = 0;
    if (n >= 4 && memcmp(s, "hex:", 4) == 0) {
        force_hex = 1;
        s += 4;
        n -= 4;
    } else if (n >= 7 && memcmp(s, "base64:", 7) == 0) {
        force_b64 = 1;
        s += 7;
        n -= 7;
    }
    if (n == 0) {
        *why = "the secret is empty";
        return -1;
    }

    /*
     * Anything made only of hex digits is hex: reading a hex key with a digit missing as
     * base64 would silently yield a different key. A base64 secret that happens to be all
     * hex digits needs "base64:".
     */
    if (force_hex || (!force_b64 && all_hex(s, n))) {
        if (!all_hex(s, n) || n % 2 != 0) {
            *why = "the secret is not an even number of hex digits";
            return -1;
        }
        if (n / 2 > outmax)
            return (long)(n / 2); /* too long: the caller reports the length */
        for (size_t i = 0; i < n; i += 2)
            out[i / 2] =
                (unsigned char)(dom__hex_digit((unsigned char)s[i]) << 4 | dom__hex_digit((unsigned char)s[i + 1]));
        return (long)(n / 2);
    }

    /* Padding is optional but, when present, must be exactly what the length calls for. */
    size_t pad = 0;
    while (pad < n && s[n - 1 - pad] == '=')
        ++pad;
    size_t digits = n - pad;
    if (pad > 2 || (pad > 0 && (n % 4 != 0 || (digits % 4) + pad != 4))) {
        *why = "the secret's base64 padding is wrong";
        return -1;
    }
    int has_std = 0, has_url = 0;
    for (size_t i = 0; i < digits; ++i) {
        has_std |= s[i] == '+' || s[i] == '/';
        has_url |= s[i] == '-' || s[i] == '_';
        if (dom__b64_value((unsigned char)s[i], 0) < 0 && dom__b64_value((unsigned char)s[i], 1) < 0) {
            /* Hex digits are base64 digits too, so this secret is not hex either. */
            *why = "the secret is neither hex nor base64 (a character outside both alphabets)";
            return -1;
        }
    }
    if (has_std && has_url) {
        *why = "the secret mixes the standard (+/) and url-safe (-_) base64 alphabets";
        return -1;
    }
    if (digits / 4 * 3 + (digits % 4 ? digits % 4 - 1 : 0) > outmax)
        return (long)(digits / 4 * 3 + (digits % 4 ? digits % 4 - 1 : 0));
    long got = dom__b64_decode(s, digits, has_url, out, outmax);
    if (got < 0) {
        *why = "the secret is not valid base64 (bad length or stray trailing bits)";
        return -1;
    }
    return got;
}

/* Appends a key, growing the array without leaving copies of secrets in freed memory. */
static int push_key(dom_pin_keyring_t *ring, size_t *cap, const dom_pin_key_t *key)
{
    if (ring->count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4;
        dom_pin_key_t *keys = calloc(ncap, sizeof(*keys));
        if (keys == NULL)
            return DOM_ENOMEM;
        if (ring->count > 0) {
            memcpy(keys, ring->keys, ring->count * sizeof(*keys));
            OPENSSL_cleanse(ring->keys, ring->count * sizeof(*keys));
        }
        free(ring->keys);
        ring->keys = keys;
        *cap = ncap;
    }
    ring->keys[ring->count++] = *key;
    return DOM_OK;
}

/* Parses one line (without its newline). Returns DOM_OK with *have_key set, or an error in err. */
static int parse_key_line(const char *path, unsigned lineno, const char *line, size_t n, const dom_pin_keyring_t *ring,
                          const unsigned *key_lines, dom_pin_key_t *key, int *have_key, char *err, size_t errlen)
{
    unsigned char secret[DOM_PIN_KEY_MAX + 1];
    size_t i = 0;
    int ret = DOM_EINVAL;

    *have_key = 0;
    if (n > 0 && line[n - 1] == '\r')
        --n;
    if (memchr(line, '\0', n) != NULL) {
        dom__token_err(err, errlen, "%s:%u: the line contains a NUL byte", path, lineno);
        return DOM_EINVAL;
    }
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        ++i;
    if (i == n || line[i] == '#')
        return DOM_OK;

    size_t kid_at = i;
    while (i < n && line[i] != ' ' && line[i] != '\t')
        ++i;
    size_t kid_len = i - kid_at;
    if (!dom__valid_name(line + kid_at, kid_len, DOM_PIN_KID_MAX)) {
        dom__token_err(err, errlen, "%s:%u: key id \"%.*s\" is not 1-32 characters of A-Z a-z 0-9 _ -", path, lineno,
                       (int)(kid_len > 40 ? 40 : kid_len), line + kid_at);
        return DOM_EINVAL;
    }
    for (size_t k = 0; k < ring->count; ++k) {
        if (strlen(ring->keys[k].kid) == kid_len && memcmp(ring->keys[k].kid, line + kid_at, kid_len) == 0) {
            dom__token_err(err, errlen, "%s:%u: duplicate key id \"%.*s\" (first on line %u)", path, lineno,
                           (int)kid_len, line + kid_at, key_lines[k]);
            return DOM_EINVAL;
        }
    }

    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        ++i;
    size_t secret_at = i;
    while (i < n && line[i] != ' ' && line[i] != '\t')
        ++i;
    size_t secret_chars = i - secret_at;
    if (secret_chars == 0 || line[secret_at] == '#') {
        dom__token_err(err, errlen, "%s:%u: key \"%.*s\" has no secret (expected \"<kid> <secret>\")", path, lineno,
                       (int)kid_len, line + kid_at);
        return DOM_EINVAL;
    }
    while (i < n && (line[i] == ' ' || line[i] == '\t'))
        ++i;
    if (i < n && line[i] != '#') {
        dom__token_err(err, errlen, "%s:%u: unexpected text after the secret (one key per line: \"<kid> <secret>\")",
                       path, lineno);
        return DOM_EINVAL;
    }

    const char *why = NULL;
    long got = decode_secret(line + secret_at, secret_chars, secret, sizeof(secret), &why);
    if (got < 0) {
        dom__token_err(err, errlen, "%s:%u: key \"%.*s\": %s", path, lineno, (int)kid_len, line + kid_at, why);
        goto cleanup;
    }
    if (got < PIN_KEY_MIN || got > DOM_PIN_KEY_MAX) {
        dom__token_err(
            err, errlen,
            "%s:%u: key \"%.*s\": the secret is %ld bytes; it must be %d to %d (`domicile pin keygen` makes 32)", path,
            lineno, (int)kid_len, line + kid_at, got, PIN_KEY_MIN, DOM_PIN_KEY_MAX);
        goto cleanup;
    }
    memset(key, 0, sizeof(*key));
    memcpy(key->kid, line + kid_at, kid_len);
    memcpy(key->secret, secret, (size_t)got);
    key->secret_len = (size_t)got;
    *have_key = 1;
    ret = DOM_OK;
cleanup:
    OPENSSL_cleanse(secret, sizeof(secret));
    return ret;
}

int dom_pin_keyring_load(const char *path, dom_pin_keyring_t *out, char *err, size_t errlen)
{
    dom_pin_keyring_t ring = {NULL, 0};
    size_t cap = 0, key_lines_cap = 0;
    unsigned *key_lines = NULL; /* line of each key, for "first on line N" */
    char *buf = NULL;
    size_t len = 0;
    dom_pin_key_t key;
    int ret;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    memset(&key, 0, sizeof(key));
    if (out != NULL)
        memset(out, 0, sizeof(*out));
    if (path == NULL || out == NULL) {
        dom__token_err(err, errlen, "no key file given");
        return DOM_EINVAL;
    }
    char too_large[64];
    snprintf(too_large, sizeof(too_large), "the key file is larger than %d KiB", KEYFILE_MAX / 1024);
    if ((ret = dom__token_read_file(path, KEYFILE_MAX, too_large, &buf, &len, err, errlen)) != DOM_OK)
        goto cleanup;

    unsigned lineno = 0;
    for (size_t at = 0; at < len;) {
        const char *nl = memchr(buf + at, '\n', len - at);
        size_t n = nl != NULL ? (size_t)(nl - (buf + at)) : len - at;
        int have_key;
        ++lineno;
        if ((ret = parse_key_line(path, lineno, buf + at, n, &ring, key_lines, &key, &have_key, err, errlen)) != DOM_OK)
            goto cleanup;
        if (have_key) {
            if (ring.count == key_lines_cap) {
                size_t ncap = key_lines_cap ? key_lines_cap * 2 : 4;
                unsigned *lines = realloc(key_lines, ncap * sizeof(*lines));
                if (lines == NULL) {
                    ret = DOM_ENOMEM;
                    dom__token_err(err, errlen, "%s: out of memory", path);
                    goto cleanup;
                }
                key_lines = lines;
                key_lines_cap = ncap;
            }
            key_lines[ring.count] = lineno;
            if ((ret = push_key(&ring, &cap, &key)) != DOM_OK) {
                dom__token_err(err, errlen, "%s: out of memory", path);
                goto cleanup;
            }
        }
        at += n + 1;
    }
    if (ring.count == 0) {
        ret = DOM_EINVAL;
        dom__token_err(err, errlen, "%s: no keys (expected lines \"<kid> <secret>\")", path);
        goto cleanup;
    }
    *out = ring;
    ring.keys = NULL;
    ring.count = 0;
    ret = DOM_OK;
cleanup:
    OPENSSL_cleanse(&key, sizeof(key));
    if (buf != NULL) {
        OPENSSL_cleanse(buf, KEYFILE_MAX + 1);
        free(buf);
    }
    free(key_lines);
    dom_pin_keyring_free(&ring);
    return ret;
}

void dom_pin_keyring_free(dom_pin_keyring_t *ring)
{
    if (ring == NULL)
        return;
    if (ring->keys != NULL) {
        OPENSSL_cleanse(ring->keys, ring->count * sizeof(*ring->keys));
        free(ring->keys);
    }
    ring->keys = NULL;
    ring->count = 0;
}

/*
 * Tests src/core/pin.c: key files, minting, the strict parser, each verify result,
 * rotation and the expiry boundary. Known answers come from Python's hmac module, an
 * implementation independent of ours.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "domicile/pin.h"
#include "test.h"

/* HMAC-SHA256(bytes 00..1f, "v1.k1.EU-GDPR.1800000000"), by python3 -c 'import hmac, hashlib, base64 ...'. */
#define KAT_TOKEN "v1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ"
#define KAT_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static char tmpdir[] = "/tmp/dom-unit-pin-XXXXXX";

/* Writes a key file of len bytes and returns its path (static buffer). */
static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    if (fp == NULL) {
        perror(path);
        exit(1);
    }
    fwrite(text, 1, len, fp);
    fclose(fp);
    chmod(path, 0600);
    return path;
}

static int load_text(const char *text, dom_pin_keyring_t *ring, char *err, size_t errlen)
{
    return dom_pin_keyring_load(write_file("keys", text, strlen(text)), ring, err, errlen);
}

/* Loads a ring from text or fails the whole test run: later checks need it. */
static void must_load(const char *text, dom_pin_keyring_t *ring)
{
    char err[256];
    if (load_text(text, ring, err, sizeof(err)) != DOM_OK) {
        printf("Bail out! cannot load test keys: %s\n", err);
        exit(1);
    }
}

/* Checks that loading text fails with code and an error that contains want (after "path:"). */
static void load_fails(const char *text, int code, const char *want)
{
    dom_pin_keyring_t ring = {(dom_pin_key_t *)1, 99};
    char err[256];
    char expect[512];
    int ret = load_text(text, &ring, err, sizeof(err));
    is_int(ret, code);
    snprintf(expect, sizeof(expect), "%s/keys%s", tmpdir, want);
    if (!ok(strstr(err, expect) != NULL))
        printf("#   error \"%s\" lacks \"%s\"\n", err, expect);
    ok(ring.keys == NULL && ring.count == 0);
}

static void test_keyring_load(void)
{
    dom_pin_keyring_t ring = {NULL, 0};
    char err[256];

    int ret = load_text("# pin keys\n"
                        "\n"
                        "k1 " KAT_HEX "\n"
                        "  k-std\tZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7   # standard base64, a comment\n"
                        "k_url -__--__--__--__--__--__-\r\n"
                        "kpad AAECAwQFBgcICQoLDA0ODxA=\n"
                        "kforce hex:00112233445566778899aabbccddeeff\n"
                        "kb64 base64:00112233445566778899aabbccddeeff",
                        &ring, err, sizeof(err));
    is_int(ret, DOM_OK);
    is_str(err, "");
    is_int(ring.count, 6);
    if (ring.count != 6)
        return;
    is_str(ring.keys[0].kid, "k1");
    is_int(ring.keys[0].secret_len, 32);
    ok(ring.keys[0].secret[0] == 0x00 && ring.keys[0].secret[31] == 0x1f);
    is_str(ring.keys[1].kid, "k-std");
    is_int(ring.keys[1].secret_len, 24);
    ok(ring.keys[1].secret[0] == 100 && ring.keys[1].secret[23] == 123);
    is_str(ring.keys[2].kid, "k_url");
    is_int(ring.keys[2].secret_len, 18);
    ok(ring.keys[2].secret[0] == 0xfb && ring.keys[2].secret[1] == 0xff && ring.keys[2].secret[17] == 0xfe);
    is_int(ring.keys[3].secret_len, 17);
    ok(ring.keys[3].secret[16] == 16);
    is_int(ring.keys[4].secret_len, 16); /* "hex:" forces hex */
    ok(ring.keys[4].secret[1] == 0x11);
    is_int(ring.keys[5].secret_len, 24); /* the same digits forced to base64: 32 chars -> 24 bytes */
    dom_pin_keyring_free(&ring);
    ok(ring.keys == NULL && ring.count == 0);
    dom_pin_keyring_free(&ring); /* twice is safe */
    dom_pin_keyring_free(NULL);

    /* 64 bytes is the most a key may be. */
    char text[256];
    snprintf(text, sizeof(text), "big %s%s\n", KAT_HEX, KAT_HEX);
    is_int(load_text(text, &ring, err, sizeof(err)), DOM_OK);
    is_int(ring.count, 1);
    dom_pin_keyring_free(&ring);
}

static void test_keyring_errors(void)
{
    load_fails("", DOM_EINVAL, ": no keys");
    load_fails("# only a comment\n\n", DOM_EINVAL, ": no keys");
    load_fails("k1 " KAT_HEX "\nk.2 " KAT_HEX "\n", DOM_EINVAL, ":2: key id \"k.2\" is not 1-32 characters");
    load_fails("k123456789012345678901234567890123 " KAT_HEX "\n", DOM_EINVAL, ":1: key id");
    load_fails("k1\n", DOM_EINVAL, ":1: key \"k1\" has no secret");
    load_fails("k1   # comment\n", DOM_EINVAL, ":1: key \"k1\" has no secret");
    load_fails("k1 " KAT_HEX " extra\n", DOM_EINVAL, ":1: unexpected text after the secret");
    load_fails("\n\nk1 00112233445566778899aabbccddeef\n", DOM_EINVAL,
               ":3: key \"k1\": the secret is not an even number of hex digits");
    /* A hex key with a digit missing would be valid base64 (47 bytes): it must stay an error. */
    load_fails("k1 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e0\n", DOM_EINVAL,
               ":1: key \"k1\": the secret is not an even number of hex digits");
    load_fails("k1 hex:0011223344556677889x\n", DOM_EINVAL, ":1: key \"k1\": the secret is not an even number");
    load_fails("k1 000102030405060708090a0b0c0d0e\n", DOM_EINVAL,
               ":1: key \"k1\": the secret is 15 bytes; it must be 16");
    char text[512];
    snprintf(text, sizeof(text), "k1 %s%s00\n", KAT_HEX, KAT_HEX);
    load_fails(text, DOM_EINVAL, ":1: key \"k1\": the secret is 65 bytes");
    load_fails("k1 " KAT_HEX "\nk2 " KAT_HEX "\nk1 " KAT_HEX "\n", DOM_EINVAL,
               ":3: duplicate key id \"k1\" (first on line 1)");
    load_fails("k1 ab+/cd-_ef+/gh-_ij+/kl-_mn+/\n", DOM_EINVAL, ":1: key \"k1\": the secret mixes");
    load_fails("k1 AAECAwQFBgcICQoLDA0ODxA==\n", DOM_EINVAL, ":1: key \"k1\": the secret's base64 padding is wrong");
    load_fails("k1 AAECAwQFBgcICQoLDA0ODxB\n", DOM_EINVAL, ":1: key \"k1\": the secret is not valid base64");
    load_fails("k1 AAECAwQF*gcICQoLDA0ODxA\n", DOM_EINVAL, ":1: key \"k1\": the secret is neither hex nor base64");
    load_fails("k1 hex:\n", DOM_EINVAL, ":1: key \"k1\": the secret is empty");
    load_fails("k1 " KAT_HEX "\nk2 \x01" KAT_HEX "\n", DOM_EINVAL, ":2: key \"k2\": the secret is neither");

    /* A NUL byte in the file is an error, not a silent end of line. */
    dom_pin_keyring_t ring = {NULL, 0};
    char err[256];
    static const char with_nul[] = "k1 " KAT_HEX "\nk2\0 " KAT_HEX "\n";
    is_int(dom_pin_keyring_load(write_file("keys", with_nul, sizeof(with_nul) - 1), &ring, err, sizeof(err)),
           DOM_EINVAL);
    ok(strstr(err, "keys:2: the line contains a NUL byte") != NULL);

    /* Over 64 KiB: refused whole. */
    size_t big = 64 * 1024 + 1;
    char *huge = malloc(big);
    memset(huge, '#', big);
    huge[0] = '#';
    is_int(dom_pin_keyring_load(write_file("keys", huge, big), &ring, err, sizeof(err)), DOM_EINVAL);
    ok(strstr(err, "larger than 64 KiB") != NULL);
    free(huge);

    char missing[512];
    snprintf(missing, sizeof(missing), "%s/no-such-file", tmpdir);
    is_int(dom_pin_keyring_load(missing, &ring, err, sizeof(err)), DOM_EIO);
    ok(strstr(err, "no-such-file: No such file or directory") != NULL);
    is_int(dom_pin_keyring_load(tmpdir, &ring, err, sizeof(err)), DOM_EIO); /* a directory */
    is_int(dom_pin_keyring_load(missing, &ring, NULL, 0), DOM_EIO);         /* no error buffer */
}

static void test_known_answer(void)
{
    dom_pin_keyring_t ring = {NULL, 0};
    char token[DOM_PIN_TOKEN_MAX + 1];
    dom_pin_t pin;

    must_load("k0 00112233445566778899aabbccddeeff\nk1 " KAT_HEX "\n", &ring);
    is_int(dom_pin_issue(&ring, "k1", "EU-GDPR", 1800000000, token, sizeof(token)), DOM_OK);
    is_str(token, KAT_TOKEN);
    is_int(dom_pin_verify(&ring, KAT_TOKEN, strlen(KAT_TOKEN), 1700000000, &pin), DOM_OK);
    is_str(pin.kid, "k1");
    is_str(pin.jurisdiction, "EU-GDPR");
    is_int(pin.expiry, 1800000000);
    is_int(dom_pin_verify(&ring, KAT_TOKEN, strlen(KAT_TOKEN), 1700000000, NULL), DOM_OK);
    is_str(dom_pin_malformed_why(KAT_TOKEN, strlen(KAT_TOKEN)), NULL);

    /* kid NULL mints with the first key. */
    is_int(dom_pin_issue(&ring, NULL, "US-CA", 42, token, sizeof(token)), DOM_OK);
    ok(strncmp(token, "v1.k0.US-CA.42.", 15) == 0);
    is_int(strlen(token), 15 + 43);
    is_int(dom_pin_verify(&ring, token, strlen(token), 41, &pin), DOM_OK);
    is_str(pin.kid, "k0");

    /* The token need not be NUL-terminated: only len bytes count. */
    char framed[128];
    snprintf(framed, sizeof(framed), "%s,trailer", KAT_TOKEN);
    is_int(dom_pin_verify(&ring, framed, strlen(KAT_TOKEN), 0, &pin), DOM_OK);
    is_int(dom_pin_verify(&ring, framed, strlen(KAT_TOKEN) + 1, 0, &pin), DOM_EPIN_MALFORMED);
    dom_pin_keyring_free(&ring);
}

static void test_issue_errors(void)
{
    dom_pin_keyring_t ring = {NULL, 0};
    char token[DOM_PIN_TOKEN_MAX + 1];
    char j64[65];

    must_load("k1 " KAT_HEX "\n", &ring);
    is_int(dom_pin_issue(&ring, "k2", "EU", 1, token, sizeof(token)), DOM_EPIN_UNKNOWN_KEY);
    is_int(dom_pin_issue(&ring, "", "EU", 1, token, sizeof(token)), DOM_EPIN_UNKNOWN_KEY);
    is_int(dom_pin_issue(NULL, NULL, "EU", 1, token, sizeof(token)), DOM_EPIN_UNKNOWN_KEY);
    dom_pin_keyring_t empty = {NULL, 0};
    is_int(dom_pin_issue(&empty, NULL, "EU", 1, token, sizeof(token)), DOM_EPIN_UNKNOWN_KEY);
    is_int(dom_pin_issue(&ring, "k1", "", 1, token, sizeof(token)), DOM_EINVAL);
    is_int(dom_pin_issue(&ring, "k1", NULL, 1, token, sizeof(token)), DOM_EINVAL);
    is_int(dom_pin_issue(&ring, "k1", "EU.GDPR", 1, token, sizeof(token)), DOM_EINVAL);
    is_int(dom_pin_issue(&ring, "k1", "EU GDPR", 1, token, sizeof(token)), DOM_EINVAL);
    memset(j64, 'J', 64);
    j64[64] = '\0';
    is_int(dom_pin_issue(&ring, "k1", j64, 1, token, sizeof(token)), DOM_EINVAL);
    j64[63] = '\0';
    is_int(dom_pin_issue(&ring, "k1", j64, 1, token, sizeof(token)), DOM_OK); /* 63 is the limit */
    is_int(dom_pin_verify(&ring, token, strlen(token), 0, NULL), DOM_OK);
    is_int(dom_pin_issue(&ring, "k1", "EU", -1, token, sizeof(token)), DOM_ERANGE);
    is_int(dom_pin_issue(&ring, "k1", "EU", INT64_C(1000000000000), token, sizeof(token)), DOM_ERANGE);
    is_int(dom_pin_issue(&ring, "k1", "EU", INT64_C(999999999999), token, sizeof(token)), DOM_OK);
    is_int(dom_pin_verify(&ring, token, strlen(token), 0, NULL), DOM_OK);

    /* The buffer: exactly len + 1 fits, one less is DOM_ERANGE and leaves "". */
    size_t need = strlen(KAT_TOKEN) + 1;
    char small[sizeof(KAT_TOKEN)];
    is_int(dom_pin_issue(&ring, "k1", "EU-GDPR", 1800000000, small, need), DOM_OK);
    is_str(small, KAT_TOKEN);
    is_int(dom_pin_issue(&ring, "k1", "EU-GDPR", 1800000000, small, need - 1), DOM_ERANGE);
    is_str(small, "");
    is_int(dom_pin_issue(&ring, "k1", "EU-GDPR", 1800000000, NULL, 0), DOM_ERANGE);

    /* A hand-built ring with a key no verifier would accept is refused, not used. */
    dom_pin_key_t weak = {"weak", {1, 2, 3}, 3};
    dom_pin_keyring_t weak_ring = {&weak, 1};
    is_int(dom_pin_issue(&weak_ring, "weak", "EU", 1, token, sizeof(token)), DOM_EINVAL);
    static const char forged[] = "v1.weak.EU.99.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    is_int(dom_pin_verify(&weak_ring, forged, strlen(forged), 0, NULL), DOM_EPIN_BAD_SIGNATURE);
    dom_pin_keyring_free(&ring);
}

/* Every malformed token is DOM_EPIN_MALFORMED, with a reason sentence. */
static void test_malformed(void)
{
    dom_pin_keyring_t ring = {NULL, 0};
    must_load("k1 " KAT_HEX "\n", &ring);
    static const char *const bad[] = {
        "",
        "v1",
        "v1.k1.EU-GDPR.1800000000",                                              /* 4 parts */
        "v1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ.", /* 6 parts */
        "v1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ.x",
        "v2.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "V1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1..EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1.k+1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1.k123456789012345678901234567890123.EU.1.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1.k1..1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1.k1.EU GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1.k1.EU-GDPR..UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1.k1.EU-GDPR.01800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ", /* leading zero */
        "v1.k1.EU-GDPR.+1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ", /* sign */
        "v1.k1.EU-GDPR.-1.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1.k1.EU-GDPR.1800000000 .UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1.k1.EU-GDPR.1000000000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ", /* 13 digits */
        "v1.k1.EU-GDPR.0x10.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1.k1.EU-GDPR.1800000000.",
        "v1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_t",   /* 42 chars */
        "v1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ=", /* padded */
        "v1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV/rhEDEvSXHDf/2KtT9+74ClZ/tQ",  /* standard alphabet */
        "v1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tR",  /* stray trailing bits */
        " v1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ",
        "v1.k1.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        if (!is_int(dom_pin_verify(&ring, bad[i], strlen(bad[i]), 0, NULL), DOM_EPIN_MALFORMED))
            printf("#   token: \"%s\"\n", bad[i]);
        ok(dom_pin_malformed_why(bad[i], strlen(bad[i])) != NULL);
    }
    is_str(dom_pin_malformed_why("v1.k1.EU-GDPR.01.x", 18), "the expiry has a leading zero");
    is_str(dom_pin_malformed_why("v1.k1.EU.1.abc", 14), "the signature is not 43 base64url characters");

    /* "0" is the one expiry that may start with a zero. */
    char token[DOM_PIN_TOKEN_MAX + 1];
    is_int(dom_pin_issue(&ring, "k1", "EU", 0, token, sizeof(token)), DOM_OK);
    ok(strncmp(token, "v1.k1.EU.0.", 11) == 0);
    is_int(dom_pin_verify(&ring, token, strlen(token), -1, NULL), DOM_OK);
    is_int(dom_pin_verify(&ring, token, strlen(token), 0, NULL), DOM_EPIN_EXPIRED);

    /* A NUL inside, and a NULL pointer. */
    char with_nul[sizeof(KAT_TOKEN)];
    memcpy(with_nul, KAT_TOKEN, sizeof(KAT_TOKEN));
    with_nul[8] = '\0';
    is_int(dom_pin_verify(&ring, with_nul, sizeof(KAT_TOKEN) - 1, 0, NULL), DOM_EPIN_MALFORMED);
    is_int(dom_pin_verify(&ring, NULL, 0, 0, NULL), DOM_EPIN_MALFORMED);
    is_int(dom_pin_verify(&ring, NULL, 10, 0, NULL), DOM_EPIN_MALFORMED);

    /* Over 256 bytes: malformed even before the parts are looked at. */
    char longer[300];
    memset(longer, 'a', sizeof(longer));
    is_int(dom_pin_verify(&ring, longer, DOM_PIN_TOKEN_MAX + 1, 0, NULL), DOM_EPIN_MALFORMED);
    is_str(dom_pin_malformed_why(longer, DOM_PIN_TOKEN_MAX + 1), "the pin is longer than 256 bytes");

    /* Fields are filled as far as the parse got. */
    dom_pin_t pin;
    static const char bad_expiry[] = "v1.k1.EU-GDPR.12x.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ";
    is_int(dom_pin_verify(&ring, bad_expiry, strlen(bad_expiry), 0, &pin), DOM_EPIN_MALFORMED);
    is_str(pin.kid, "k1");
    is_str(pin.jurisdiction, "EU-GDPR");
    is_int(pin.expiry, 0);
    dom_pin_keyring_free(&ring);
}

/* Changing any part of a genuine token never yields DOM_OK, and each change gets its own class. */
static void test_tampering(void)
{
    dom_pin_keyring_t ring = {NULL, 0};
    char token[DOM_PIN_TOKEN_MAX + 1];
    dom_pin_t pin;
    must_load("k1 " KAT_HEX "\nk2 00112233445566778899aabbccddeeff\n", &ring);

    /* Another held key id: the signature no longer matches. */
    static const char other_kid[] = "v1.k2.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ";
    is_int(dom_pin_verify(&ring, other_kid, strlen(other_kid), 0, &pin), DOM_EPIN_BAD_SIGNATURE);
    static const char unknown_kid[] = "v1.k9.EU-GDPR.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ";
    is_int(dom_pin_verify(&ring, unknown_kid, strlen(unknown_kid), 0, &pin), DOM_EPIN_UNKNOWN_KEY);
    is_str(pin.kid, "k9");
    static const char other_place[] = "v1.k1.US-CCPA.1800000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ";
    is_int(dom_pin_verify(&ring, other_place, strlen(other_place), 0, &pin), DOM_EPIN_BAD_SIGNATURE);
    static const char later[] = "v1.k1.EU-GDPR.1900000000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ";
    is_int(dom_pin_verify(&ring, later, strlen(later), 0, &pin), DOM_EPIN_BAD_SIGNATURE);
    /* A forged pin that has also "expired" is reported as forged: signature comes first. */
    static const char old_forgery[] = "v1.k1.EU-GDPR.1000.UED6SDZRnJz5RWKV_rhEDEvSXHDf_2KtT9-74ClZ_tQ";
    is_int(dom_pin_verify(&ring, old_forgery, strlen(old_forgery), 2000000000, &pin), DOM_EPIN_BAD_SIGNATURE);

    /* Every signature character replaced by every other base64url character. */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t sig_at = strlen(KAT_TOKEN) - 43;
    int any_ok = 0, bad_sig = 0, malformed = 0, other = 0;
    for (size_t i = sig_at; i < strlen(KAT_TOKEN); ++i) {
        for (size_t a = 0; a < 64; ++a) {
            if (alphabet[a] == KAT_TOKEN[i])
                continue;
            memcpy(token, KAT_TOKEN, sizeof(KAT_TOKEN));
            token[i] = alphabet[a];
            int r = dom_pin_verify(&ring, token, strlen(token), 0, NULL);
            any_ok |= r == DOM_OK;
            bad_sig += r == DOM_EPIN_BAD_SIGNATURE;
            malformed += r == DOM_EPIN_MALFORMED;
            other += r != DOM_EPIN_BAD_SIGNATURE && r != DOM_EPIN_MALFORMED;
        }
    }
    ok(!any_ok);
    is_int(other, 0);
    /* The last character carries 4 bits of MAC and 2 must-be-zero bits: 48 of its 63 variants are malformed. */
    is_int(malformed, 48);
    is_int(bad_sig, 43 * 63 - 48);

    /* Flipping one bit of each signed byte. */
    int flips_ok = 0;
    for (size_t i = 0; i < sig_at - 1; ++i) {
        memcpy(token, KAT_TOKEN, sizeof(KAT_TOKEN));
        token[i] ^= 0x01;
        flips_ok |= dom_pin_verify(&ring, token, strlen(token), 0, NULL) == DOM_OK;
    }
    ok(!flips_ok);
    dom_pin_keyring_free(&ring);
}

static void test_rotation(void)
{
    dom_pin_keyring_t old_only = {NULL, 0}, both = {NULL, 0}, new_only = {NULL, 0};
    char old_token[DOM_PIN_TOKEN_MAX + 1], new_token[DOM_PIN_TOKEN_MAX + 1];
    dom_pin_t pin;

    must_load("k2025 " KAT_HEX "\n", &old_only);
    must_load("k2026 ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7\nk2025 " KAT_HEX "\n", &both);
    must_load("k2026 ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7\n", &new_only);

    is_int(dom_pin_issue(&old_only, NULL, "EU-GDPR", 2000000000, old_token, sizeof(old_token)), DOM_OK);
    /* While both keys are loaded, the new one mints (it is first) and both verify. */
    is_int(dom_pin_issue(&both, NULL, "EU-GDPR", 2000000000, new_token, sizeof(new_token)), DOM_OK);
    ok(strncmp(new_token, "v1.k2026.", 9) == 0);
    is_int(dom_pin_verify(&both, old_token, strlen(old_token), 1900000000, &pin), DOM_OK);
    is_str(pin.kid, "k2025");
    is_int(dom_pin_verify(&both, new_token, strlen(new_token), 1900000000, &pin), DOM_OK);
    is_str(pin.kid, "k2026");
    /* The old key retired: its pins are unknown, not forged; the new ones still verify. */
    is_int(dom_pin_verify(&new_only, old_token, strlen(old_token), 1900000000, &pin), DOM_EPIN_UNKNOWN_KEY);
    is_str(pin.kid, "k2025");
    is_int(dom_pin_verify(&new_only, new_token, strlen(new_token), 1900000000, &pin), DOM_OK);
    is_int(dom_pin_verify(&old_only, new_token, strlen(new_token), 1900000000, &pin), DOM_EPIN_UNKNOWN_KEY);
    is_int(dom_pin_verify(NULL, new_token, strlen(new_token), 1900000000, &pin), DOM_EPIN_UNKNOWN_KEY);

    dom_pin_keyring_free(&old_only);
    dom_pin_keyring_free(&both);
    dom_pin_keyring_free(&new_only);
}

static void test_expiry_boundary(void)
{
    dom_pin_keyring_t ring = {NULL, 0};
    dom_pin_t pin;
    must_load("k1 " KAT_HEX "\n", &ring);
    size_t len = strlen(KAT_TOKEN);
    is_int(dom_pin_verify(&ring, KAT_TOKEN, len, 1799999999, &pin), DOM_OK);
    is_int(dom_pin_verify(&ring, KAT_TOKEN, len, 1800000000, &pin), DOM_EPIN_EXPIRED); /* now == expiry */
    /* An expired pin is a genuine one: its fields are filled. */
    is_str(pin.kid, "k1");
    is_str(pin.jurisdiction, "EU-GDPR");
    is_int(pin.expiry, 1800000000);
    is_int(dom_pin_verify(&ring, KAT_TOKEN, len, INT64_MAX, &pin), DOM_EPIN_EXPIRED);
    is_int(dom_pin_verify(&ring, KAT_TOKEN, len, INT64_MIN, &pin), DOM_OK);
    dom_pin_keyring_free(&ring);
}

static void test_reasons(void)
{
    is_str(dom_pin_reason(DOM_OK), "pin_valid");
    is_str(dom_pin_reason(DOM_EPIN_MALFORMED), "pin_malformed");
    is_str(dom_pin_reason(DOM_EPIN_UNKNOWN_KEY), "pin_unknown_key");
    is_str(dom_pin_reason(DOM_EPIN_BAD_SIGNATURE), "pin_bad_signature");
    is_str(dom_pin_reason(DOM_EPIN_EXPIRED), "pin_expired");
    is_str(dom_pin_reason(DOM_ENOMEM), "pin_error");
}

int main(void)
{
    if (mkdtemp(tmpdir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    subtest("key files", test_keyring_load);
    subtest("key file errors", test_keyring_errors);
    subtest("known answer", test_known_answer);
    subtest("issue errors", test_issue_errors);
    subtest("malformed", test_malformed);
    subtest("tampering", test_tampering);
    subtest("rotation", test_rotation);
    subtest("expiry boundary", test_expiry_boundary);
    subtest("reasons", test_reasons);

    char path[512];
    snprintf(path, sizeof(path), "%s/keys", tmpdir);
    unlink(path);
    rmdir(tmpdir);
    return done_testing();
}

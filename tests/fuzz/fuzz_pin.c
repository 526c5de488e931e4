/*
 * Fuzzes the pin parser and verifier (src/core/pin.c): the input is a token as a client
 * would send it in a header, checked against a fixed two-key ring. Besides "no crash, no
 * UB", it checks the promises a caller relies on: only the listed results come back, a
 * DOM_OK pin re-mints to exactly the same bytes (one spelling per pin), and malformed_why
 * agrees with verify about what parses.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/pin.h"

/* k1: bytes 00..1f (the unit tests' known-answer key); k2: 16 bytes 0x42. */
static dom_pin_key_t keys[2] = {
    {"k1",
     {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
      0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f},
     32},
    {"k2", {0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42}, 16},
};
static const dom_pin_keyring_t ring = {keys, 2};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A copy of exactly size bytes, so ASan catches any read past the token's end. */
    char *token = malloc(size > 0 ? size : 1);
    if (token == NULL)
        return 0;
    if (size > 0)
        memcpy(token, data, size);

    dom_pin_t pin;
    int r = dom_pin_verify(&ring, token, size, 1700000000, &pin);
    if (r != DOM_OK && r != DOM_EPIN_MALFORMED && r != DOM_EPIN_UNKNOWN_KEY && r != DOM_EPIN_BAD_SIGNATURE &&
        r != DOM_EPIN_EXPIRED)
        abort();
    if ((dom_pin_malformed_why(token, size) == NULL) != (r != DOM_EPIN_MALFORMED))
        abort();
    if (strnlen(pin.kid, sizeof(pin.kid)) == sizeof(pin.kid) ||
        strnlen(pin.jurisdiction, sizeof(pin.jurisdiction)) == sizeof(pin.jurisdiction))
        abort();
    if (r == DOM_OK || r == DOM_EPIN_EXPIRED) {
        char again[DOM_PIN_TOKEN_MAX + 1];
        if (dom_pin_issue(&ring, pin.kid, pin.jurisdiction, pin.expiry, again, sizeof(again)) != DOM_OK ||
            strlen(again) != size || memcmp(again, token, size) != 0)
            abort();
    }
    free(token);
    return 0;
}

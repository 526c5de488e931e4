/*
 * `domicile pin issue|verify|keygen`: residency pins for the service that mints them at
 * sign-up, and for operators checking one by hand. The library (src/core/pin.c) does the
 * work; this file parses options, reads the key file and words the results.
 *
 * Exit status: 0 success (minted / valid), 1 the pin is invalid (verify) or cannot be minted
 * as asked (issue), 2 usage error or unusable key file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "cli/cli.h"
#include "domicile/keyfile.h"
#include "domicile/pin.h"
#include "util/json.h"
#include "util/time.h"
#include "util/validate.h"

#define EXPIRY_MAX INT64_C(999999999999)

static const char issue_usage[] =
    "usage: domicile pin issue --keys FILE [--kid KID] --jurisdiction NAME (--ttl SECONDS | --expires TIME)\n"
    "                          [--now TIME]\n"
    "\n"
    "Mints a residency pin and prints it on one line:\n"
    "    v1.<kid>.<jurisdiction>.<expiry>.<base64url HMAC-SHA256>\n"
    "\n"
    "  --keys FILE          key file: one \"<kid> <secret>\" per line (hex or base64, 16-64 bytes)\n"
    "  --kid KID            key to sign with (default: the first key in the file)\n"
    "  --jurisdiction NAME  the user's home jurisdiction, as named in the rule files (e.g. EU-GDPR)\n"
    "  --ttl SECONDS        the pin expires SECONDS from now\n"
    "  --expires TIME       the pin expires at this time\n"
    "  --now TIME           take this as the current time (default: the clock)\n"
    "  TIME is unix seconds, YYYY-MM-DD (00:00 UTC) or YYYY-MM-DDTHH:MM:SSZ\n"
    "\n"
    "Exit status: 0 minted, 1 cannot mint as asked (unknown key, bad name, expiry out of range),\n"
    "2 usage error or unusable key file.\n";

static const char verify_usage[] =
    "usage: domicile pin verify --keys FILE [--now TIME] [--json] TOKEN|-\n"
    "\n"
    "Checks a residency pin (\"-\" reads it from standard input) and prints the result: the\n"
    "reason code first (pin_valid, pin_malformed, pin_unknown_key, pin_bad_signature,\n"
    "pin_expired), then a sentence; for a genuine pin, its jurisdiction, key id and expiry.\n"
    "\n"
    "  --keys FILE   key file: one \"<kid> <secret>\" per line\n"
    "  --now TIME    verify as of this time: unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)\n"
    "                (default: the clock); now >= expiry is expired\n"
    "  --json        print one JSON object instead of text\n"
    "\n"
    "Exit status: 0 valid, 1 invalid (any reason), 2 usage error or unusable key file.\n";

static const char keygen_usage[] =
    "usage: domicile pin keygen [--kid KID]\n"
    "\n"
    "Prints a new key line \"<kid> <64 hex digits>\" (32 random bytes) to append to a key file.\n"
    "The default kid is k<YYYYMMDD> of today (UTC). During rotation, put the new key first\n"
    "(issue signs with the first key) and keep the old one until its pins have expired:\n"
    "    domicile pin keygen >> pin-keys && chmod 600 pin-keys\n";

static const char pin_usage[] = "usage: domicile pin issue|verify|keygen [options]\n"
                                "Run `domicile pin <command> --help` for the options of a command.\n";

static int cmd_issue(int argc, char **argv)
{
    dom__cli_token_opts_t opt;
    dom_pin_keyring_t ring = {NULL, 0};
    char token[DOM_PIN_TOKEN_MAX + 1];
    int64_t now, expiry, ttl;
    int ret;

    if ((ret = dom__cli_token_options("pin", "issue", argc, argv, " keys kid jurisdiction ttl expires now help ", 0,
                                      &opt)) != 0)
        goto usage;
    if (opt.help) {
        fputs(issue_usage, stdout);
        return 0;
    }
    if (opt.jurisdiction == NULL) {
        fprintf(stderr, "domicile pin issue: --jurisdiction NAME is required\n");
        ret = 2;
        goto usage;
    }
    if ((opt.ttl == NULL) == (opt.expires == NULL)) {
        fprintf(stderr, "domicile pin issue: give exactly one of --ttl SECONDS and --expires TIME\n");
        ret = 2;
        goto usage;
    }
    if (dom__cli_now("pin", "issue", &opt, &now) != 0)
        return 2;
    if (opt.ttl != NULL) {
        if (dom__cli_int64("pin", "issue", "--ttl", opt.ttl, 1, EXPIRY_MAX, &ttl) != 0)
            return 2;
        expiry = now + ttl;
    } else if (dom__cli_time("pin", "issue", "--expires", opt.expires, &expiry) != 0) {
        return 2;
    }
    if ((ret = dom__cli_load_keys("pin", "issue", "pin keys", opt.keys, &ring)) != 0)
        return ret;

    int err = dom_pin_issue(&ring, opt.kid, opt.jurisdiction, expiry, token, sizeof(token));
    switch (err) {
    case DOM_OK:
        if (expiry <= now)
            fprintf(stderr,
                    "domicile pin issue: warning: the pin is already expired (expiry %" PRId64 " <= now %" PRId64 ")\n",
                    expiry, now);
        printf("%s\n", token);
        ret = 0;
        break;
    case DOM_EPIN_UNKNOWN_KEY:
        fprintf(stderr, "domicile pin issue: %s has no key \"%s\"\n", opt.keys, opt.kid != NULL ? opt.kid : "");
        ret = 1;
        break;
    case DOM_EINVAL:
        fprintf(stderr, "domicile pin issue: jurisdiction \"%s\" is not 1-63 characters of A-Z a-z 0-9 _ -\n",
                opt.jurisdiction);
        ret = 1;
        break;
    case DOM_ERANGE:
        fprintf(stderr, "domicile pin issue: expiry %" PRId64 " is outside 0..%" PRId64 "\n", expiry, EXPIRY_MAX);
        ret = 1;
        break;
    default:
        fprintf(stderr, "domicile pin issue: %s\n", dom_strerror(err));
        ret = 1;
        break;
    }
    OPENSSL_cleanse(token, sizeof(token));
    dom_pin_keyring_free(&ring);
    return ret;
usage:
    fputs(issue_usage, stderr);
    return ret;
}

static int cmd_verify(int argc, char **argv)
{
    dom__cli_token_opts_t opt;
    dom_pin_keyring_t ring = {NULL, 0};
    char input[DOM_PIN_TOKEN_MAX + 2]; /* one more than a token may be: enough to say "too long" */
    const char *token;
    size_t len;
    dom_pin_t pin;
    int64_t now;
    char message[512], when[64];
    int ret;

    if ((ret = dom__cli_token_options("pin", "verify", argc, argv, " keys now json help ", 1, &opt)) != 0)
        goto usage;
    if (opt.help) {
        fputs(verify_usage, stdout);
        return 0;
    }
    if (opt.token == NULL) {
        fprintf(stderr, "domicile pin verify: no token given (use \"-\" to read it from standard input)\n");
        ret = 2;
        goto usage;
    }
    if (dom__cli_now("pin", "verify", &opt, &now) != 0)
        return 2;
    if ((ret = dom__cli_load_keys("pin", "verify", "pin keys", opt.keys, &ring)) != 0)
        return ret;
    if (strcmp(opt.token, "-") == 0) {
        if (dom__cli_read_stdin_token("pin", input, sizeof(input), &len) != 0) {
            dom_pin_keyring_free(&ring);
            return 2;
        }
        token = input;
    } else {
        token = opt.token;
        len = strlen(token);
    }

    int result = dom_pin_verify(&ring, token, len, now, &pin);
    /* Only a genuine pin's jurisdiction and expiry are facts worth printing. */
    int genuine = result == DOM_OK || result == DOM_EPIN_EXPIRED;
    dom__time_format(pin.expiry, DOM__TIME_FMT_ISO, when, sizeof(when));
    switch (result) {
    case DOM_OK:
        snprintf(message, sizeof(message),
                 "the pin is genuine, signed with key \"%s\", and names %s until %s (%" PRId64 " s from now)", pin.kid,
                 pin.jurisdiction, when, pin.expiry - now);
        break;
    case DOM_EPIN_MALFORMED:
        snprintf(message, sizeof(message), "the pin is malformed: %s", dom_pin_malformed_why(token, len));
        break;
    case DOM_EPIN_UNKNOWN_KEY:
        snprintf(message, sizeof(message),
                 "the pin names key \"%s\", which is not in the key file (retired, or from another deployment)",
                 pin.kid);
        break;
    case DOM_EPIN_BAD_SIGNATURE:
        snprintf(message, sizeof(message), "the pin's signature does not match key \"%s\": it was altered or forged",
                 pin.kid);
        break;
    case DOM_EPIN_EXPIRED:
        snprintf(message, sizeof(message),
                 "the pin for %s expired at %s (%" PRId64 " s ago); it is genuine, signed with key \"%s\"",
                 pin.jurisdiction, when, now - pin.expiry, pin.kid);
        break;
    default:
        snprintf(message, sizeof(message), "the pin could not be checked: %s", dom_strerror(result));
        break;
    }

    if (opt.json) {
        dom__json_t j = dom__json_file(stdout);
        dom__json_lit(&j, "{\"valid\":");
        dom__json_bool(&j, result == DOM_OK);
        dom__json_lit(&j, ",\"reason\":");
        dom__json_str(&j, dom_pin_reason(result));
        dom__json_lit(&j, ",\"message\":");
        dom__json_str(&j, message);
        dom__json_lit(&j, ",\"kid\":");
        dom__json_str(&j, pin.kid[0] != '\0' && result != DOM_EPIN_MALFORMED ? pin.kid : NULL);
        dom__json_lit(&j, ",\"jurisdiction\":");
        dom__json_str(&j, genuine ? pin.jurisdiction : NULL);
        dom__json_lit(&j, ",\"expiry\":");
        if (genuine)
            dom__json_i64(&j, pin.expiry);
        else
            dom__json_null(&j);
        dom__json_lit(&j, ",\"expires_at\":");
        dom__json_str(&j, genuine ? when : NULL);
        dom__json_lit(&j, ",\"now\":");
        dom__json_i64(&j, now);
        dom__json_lit(&j, "}\n");
    } else {
        printf("%s: %s\n", dom_pin_reason(result), message);
        if (genuine)
            printf("jurisdiction: %s\nkid: %s\nexpiry: %" PRId64 " (%s)\n", pin.jurisdiction, pin.kid, pin.expiry,
                   when);
    }
    dom_pin_keyring_free(&ring);
    return result == DOM_OK ? 0 : 1;
usage:
    fputs(verify_usage, stderr);
    return ret;
}

static int cmd_keygen(int argc, char **argv)
{
    dom__cli_token_opts_t opt;
    unsigned char secret[32];
    char kid[DOM_PIN_KID_MAX + 1], hex[sizeof(secret) * 2 + 1];
    int ret;

    if ((ret = dom__cli_token_options("pin", "keygen", argc, argv, " kid help ", 0, &opt)) != 0) {
        fputs(keygen_usage, stderr);
        return ret;
    }
    if (opt.help) {
        fputs(keygen_usage, stdout);
        return 0;
    }
    if (opt.kid != NULL) {
        if (!dom__valid_name(opt.kid, strlen(opt.kid), DOM_PIN_KID_MAX)) {
            fprintf(stderr, "domicile pin keygen: key id \"%s\" is not 1-32 characters of A-Z a-z 0-9 _ -\n", opt.kid);
            return 2;
        }
        snprintf(kid, sizeof(kid), "%s", opt.kid);
    } else {
        dom__time_format((int64_t)time(NULL), "k%Y%m%d", kid, sizeof(kid));
    }
    if (RAND_bytes(secret, sizeof(secret)) != 1) {
        fprintf(stderr, "domicile pin keygen: the random generator failed\n");
        return 1;
    }
    for (size_t i = 0; i < sizeof(secret); ++i)
        snprintf(hex + 2 * i, 3, "%02x", secret[i]);
    printf("%s %s\n", kid, hex);
    OPENSSL_cleanse(secret, sizeof(secret));
    OPENSSL_cleanse(hex, sizeof(hex));
    return 0;
}

int dom_cli_pin(int argc, char **argv)
{
    if (argc < 2) {
        fputs(pin_usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "issue") == 0)
        return cmd_issue(argc - 1, argv + 1);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(cmd, "keygen") == 0)
        return cmd_keygen(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(pin_usage, stdout);
        fputs("\n", stdout);
        fputs(issue_usage, stdout);
        fputs("\n", stdout);
        fputs(verify_usage, stdout);
        fputs("\n", stdout);
        fputs(keygen_usage, stdout);
        return 0;
    }
    fprintf(stderr, "domicile pin: unknown command \"%s\"\n", cmd);
    fputs(pin_usage, stderr);
    return 2;
}

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

/* Options shared by the subcommands; which are allowed is up to each. */
typedef struct pin_options {
    const char *keys;
    const char *kid;
    const char *jurisdiction;
    const char *ttl;
    const char *expires;
    const char *now;
    int json;
    int help;
    const char *token;
} pin_options_t;

/*
 * Parses "--name VALUE", "--name=VALUE" and flags. allowed lists the options the subcommand
 * takes; takes_token says whether one positional argument is expected. Returns 0 or 2.
 */
static int parse_options(const char *cmd, int argc, char **argv, const char *allowed, int takes_token,
                         pin_options_t *opt)
{
    static const struct {
        const char *name;
        size_t offset;
    } valued[] = {
        {"keys", offsetof(pin_options_t, keys)},
        {"kid", offsetof(pin_options_t, kid)},
        {"jurisdiction", offsetof(pin_options_t, jurisdiction)},
        {"ttl", offsetof(pin_options_t, ttl)},
        {"expires", offsetof(pin_options_t, expires)},
        {"now", offsetof(pin_options_t, now)},
    };
    int options_done = 0;

    memset(opt, 0, sizeof(*opt));
    for (int i = 1; i < argc; ++i) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = 1;
            continue;
        }
        if (options_done || strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (strcmp(arg, "-h") == 0 && !options_done) {
                opt->help = 1;
                continue;
            }
            if (!takes_token || opt->token != NULL) {
                fprintf(stderr, "domicile pin %s: unexpected argument \"%s\"\n", cmd, arg);
                return 2;
            }
            opt->token = arg;
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        char wanted[32];
        snprintf(wanted, sizeof(wanted), " %.*s ", (int)(name_len < 20 ? name_len : 20), name);
        if (name_len >= 20 || strstr(allowed, wanted) == NULL) {
            fprintf(stderr, "domicile pin %s: unknown option \"--%.*s\"\n", cmd, (int)name_len, name);
            return 2;
        }
        if (name_len == 4 && strncmp(name, "help", 4) == 0) {
            opt->help = 1;
            continue;
        }
        if (name_len == 4 && strncmp(name, "json", 4) == 0) {
            if (eq != NULL) {
                fprintf(stderr, "domicile pin %s: --json takes no value\n", cmd);
                return 2;
            }
            opt->json = 1;
            continue;
        }
        for (size_t v = 0; v < sizeof(valued) / sizeof(valued[0]); ++v) {
            if (strlen(valued[v].name) != name_len || strncmp(valued[v].name, name, name_len) != 0)
                continue;
            const char *value = eq != NULL ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
            if (value == NULL) {
                fprintf(stderr, "domicile pin %s: --%s needs a value\n", cmd, valued[v].name);
                return 2;
            }
            *(const char **)((char *)opt + valued[v].offset) = value;
        }
    }
    return 0;
}

/* Parses a decimal integer in [min, max]. Returns 0, or -1 after printing why. */
static int parse_int64(const char *cmd, const char *what, const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || end == NULL || *end != '\0' || errno != 0 || v < min || v > max) {
        fprintf(stderr, "domicile pin %s: %s \"%s\" is not an integer from %" PRId64 " to %" PRId64 "\n", cmd, what, s,
                min, max);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* A time option: unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (util/time.h). Returns 0, or -1 after printing why.
 */
static int parse_time(const char *cmd, const char *what, const char *s, int64_t *out)
{
    if (dom__time_parse(s, strlen(s), DOM__TIME_ANY, out) == 0)
        return 0;
    fprintf(stderr, "domicile pin %s: %s \"%s\" is not a time (" DOM__TIME_ANY_WORDS ", a real date in UTC)\n", cmd,
            what, s);
    return -1;
}

static int get_now(const char *cmd, const pin_options_t *opt, int64_t *now)
{
    if (opt->now == NULL) {
        *now = (int64_t)time(NULL);
        return 0;
    }
    return parse_time(cmd, "--now", opt->now, now);
}

/*
 * Loads the key file, as the gateway does: refused when other users can write it (they could
 * replace the keys), a warning when every user can read it. Returns 0 or 2.
 */
static int load_keys(const char *cmd, const char *path, dom_pin_keyring_t *ring)
{
    char err[512];
    if (path == NULL) {
        fprintf(stderr, "domicile pin %s: --keys FILE is required\n", cmd);
        return 2;
    }
    /* a file that cannot be stat'ed is reported by the loader */
    int mode = dom_keyfile_check("pin keys", path, err, sizeof(err));
    if (mode == DOM_EINVAL) {
        fprintf(stderr, "domicile pin %s: %s\n", cmd, err);
        return 2;
    }
    if (mode == DOM_KEYFILE_WARNING)
        fprintf(stderr, "domicile pin %s: warning: %s\n", cmd, err);
    if (dom_pin_keyring_load(path, ring, err, sizeof(err)) != DOM_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    return 0;
}

static int cmd_issue(int argc, char **argv)
{
    pin_options_t opt;
    dom_pin_keyring_t ring = {NULL, 0};
    char token[DOM_PIN_TOKEN_MAX + 1];
    int64_t now, expiry, ttl;
    int ret;

    if ((ret = parse_options("issue", argc, argv, " keys kid jurisdiction ttl expires now help ", 0, &opt)) != 0)
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
    if (get_now("issue", &opt, &now) != 0)
        return 2;
    if (opt.ttl != NULL) {
        if (parse_int64("issue", "--ttl", opt.ttl, 1, EXPIRY_MAX, &ttl) != 0)
            return 2;
        expiry = now + ttl;
    } else if (parse_time("issue", "--expires", opt.expires, &expiry) != 0) {
        return 2;
    }
    if ((ret = load_keys("issue", opt.keys, &ring)) != 0)
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

/*
 * Reads a token from standard input: one line, one trailing newline (LF or CRLF) dropped.
 * Anything longer than a token can be is kept long enough to be refused as malformed.
 */
static int read_stdin_token(char *buf, size_t cap, size_t *len)
{
    size_t n = fread(buf, 1, cap, stdin);
    if (ferror(stdin)) {
        fprintf(stderr, "domicile pin verify: cannot read standard input: %s\n", strerror(errno));
        return -1;
    }
    if (n > 0 && buf[n - 1] == '\n') {
        --n;
        if (n > 0 && buf[n - 1] == '\r')
            --n;
    }
    *len = n;
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    pin_options_t opt;
    dom_pin_keyring_t ring = {NULL, 0};
    char input[DOM_PIN_TOKEN_MAX + 2]; /* one more than a token may be: enough to say "too long" */
    const char *token;
    size_t len;
    dom_pin_t pin;
    int64_t now;
    char message[512], when[64];
    int ret;

    if ((ret = parse_options("verify", argc, argv, " keys now json help ", 1, &opt)) != 0)
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
    if (get_now("verify", &opt, &now) != 0)
        return 2;
    if ((ret = load_keys("verify", opt.keys, &ring)) != 0)
        return ret;
    if (strcmp(opt.token, "-") == 0) {
        if (read_stdin_token(input, sizeof(input), &len) != 0) {
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
    pin_options_t opt;
    unsigned char secret[32];
    char kid[DOM_PIN_KID_MAX + 1], hex[sizeof(secret) * 2 + 1];
    int ret;

    if ((ret = parse_options("keygen", argc, argv, " kid help ", 0, &opt)) != 0) {
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

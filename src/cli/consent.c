/*
 * `domicile consent issue|verify|revoke`: consent tokens for the account system that mints
 * them when a user consents, and revocations when the user withdraws. The library
 * (src/core/consent.c) does the work; options, times and key files are the pin command's
 * (token_opts.c). Exit status: 0 minted / valid / revoked, 1 invalid token or cannot mint or
 * revoke as asked, 2 usage error or unusable key or revocation file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "cli/cli.h"
#include "domicile/consent.h"
#include "util/json.h"
#include "util/time.h"

#define TIME_MAX INT64_C(999999999999)

static const char issue_usage[] =
    "usage: domicile consent issue --keys FILE [--kid KID] --id ID (--subject ID | --subject-hash H)\n"
    "                              --scopes LIST (--ttl SECONDS | --expires TIME) [--issued-at TIME] [--now TIME]\n"
    "\n"
    "Mints a consent token and prints it on one line:\n"
    "    c1.<kid>.<id>.<subject>.<scopes>.<issued-at>.<expiry>.<base64url HMAC-SHA256>\n"
    "\n"
    "  --keys FILE          consent key file (the pin key format: \"<kid> <secret>\" per line)\n"
    "  --kid KID            key to sign with (default: the first key in the file)\n"
    "  --id ID              the token id (1-32 of A-Z a-z 0-9 _ -): what `revoke --id` names\n"
    "  --subject ID         the user; the token carries base64url(SHA-256(ID)), never the id itself\n"
    "  --subject-hash H     the service's own hash of the user (1-64 of A-Z a-z 0-9 _ -)\n"
    "  --scopes LIST        data classes or purposes consented to, comma-separated (marketing,notifications)\n"
    "  --ttl SECONDS        the token expires SECONDS after it is issued\n"
    "  --expires TIME       the token expires at this time\n"
    "  --issued-at TIME     when consent was given (default: now)\n"
    "  --now TIME           take this as the current time (default: the clock)\n"
    "  TIME is unix seconds, YYYY-MM-DD (00:00 UTC) or YYYY-MM-DDTHH:MM:SSZ\n";

static const char verify_usage[] =
    "usage: domicile consent verify --keys FILE [--revocations FILE] [--now TIME] [--json] TOKEN|-\n"
    "\n"
    "Checks a consent token (\"-\" reads it from standard input) and prints the reason code first\n"
    "(consent_valid, consent_malformed, consent_unknown_key, consent_bad_signature, consent_expired,\n"
    "consent_revoked), then a sentence; for a genuine token its id, subject, scopes and times.\n"
    "\n"
    "Exit status: 0 valid, 1 invalid (any reason), 2 usage error or unusable file.\n";

static const char revoke_usage[] =
    "usage: domicile consent revoke --revocations FILE (--id ID | --token TOKEN |\n"
    "                               (--subject ID | --subject-hash H) [--before TIME]) [--now TIME]\n"
    "\n"
    "Adds an entry to a revocation list and replaces the file atomically (a new file renamed over\n"
    "the old one, which running gateways pick up within seconds):\n"
    "  --id ID          revoke one token\n"
    "  --token TOKEN    revoke the token given (its id; the token is parsed, not verified)\n"
    "  --subject ID     revoke every token of the user issued before --before (default: now);\n"
    "                   consent given again later is not affected\n"
    "  --subject-hash H the same with the service's own hash\n"
    "The file is created if it does not exist.\n";

static const char consent_usage[] = "usage: domicile consent issue|verify|revoke [options]\n"
                                    "Run `domicile consent <command> --help` for the options of a command.\n";

/* The subject as a token carries it: the given hash, or base64url(SHA-256(id)) without padding. */
static int subject_of(const char *cmd, const dom__cli_token_opts_t *opt, char *out, size_t outlen)
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    if ((opt->subject == NULL) == (opt->subject_hash == NULL)) {
        fprintf(stderr, "domicile consent %s: give exactly one of --subject ID and --subject-hash H\n", cmd);
        return -1;
    }
    if (opt->subject_hash != NULL) {
        snprintf(out, outlen, "%s", opt->subject_hash);
        return 0;
    }
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)opt->subject, strlen(opt->subject), md);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < sizeof(md) && o + 2 < outlen; ++i) {
        acc = (acc << 8) | md[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = b64[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return 0;
}

static int cmd_issue(int argc, char **argv)
{
    dom__cli_token_opts_t opt;
    dom_pin_keyring_t ring = {NULL, 0};
    char token[DOM_CONSENT_TOKEN_MAX + 1], subject[DOM_CONSENT_SUBJECT_MAX + 1];
    int64_t now, issued_at, expiry, ttl;
    int ret;

    if ((ret = dom__cli_token_options("consent", "issue", argc, argv,
                                      " keys kid id subject subject-hash scopes ttl expires issued-at now help ", 0,
                                      &opt)) != 0)
        goto usage;
    if (opt.help) {
        fputs(issue_usage, stdout);
        return 0;
    }
    ret = 2;
    if (opt.id == NULL || opt.scopes == NULL) {
        fprintf(stderr, "domicile consent issue: --id ID and --scopes LIST are required\n");
        goto usage;
    }
    if ((opt.ttl == NULL) == (opt.expires == NULL)) {
        fprintf(stderr, "domicile consent issue: give exactly one of --ttl SECONDS and --expires TIME\n");
        goto usage;
    }
    if (subject_of("issue", &opt, subject, sizeof(subject)) != 0)
        goto usage;
    if (dom__cli_now("consent", "issue", &opt, &now) != 0)
        return 2;
    issued_at = now;
    if (opt.issued_at != NULL && dom__cli_time("consent", "issue", "--issued-at", opt.issued_at, &issued_at) != 0)
        return 2;
    if (opt.ttl != NULL) {
        if (dom__cli_int64("consent", "issue", "--ttl", opt.ttl, 1, TIME_MAX, &ttl) != 0)
            return 2;
        expiry = issued_at + ttl;
    } else if (dom__cli_time("consent", "issue", "--expires", opt.expires, &expiry) != 0) {
        return 2;
    }
    if ((ret = dom__cli_load_keys("consent", "issue", "consent keys", opt.keys, &ring)) != 0)
        return ret;
    int err = dom_consent_issue(&ring, opt.kid, opt.id, subject, opt.scopes, issued_at, expiry, token, sizeof(token));
    ret = 1;
    switch (err) {
    case DOM_OK:
        if (expiry <= now)
            fprintf(stderr, "domicile consent issue: warning: the token is already expired\n");
        printf("%s\n", token);
        ret = 0;
        break;
    case DOM_EPIN_UNKNOWN_KEY:
        fprintf(stderr, "domicile consent issue: %s has no key \"%s\"\n", opt.keys, opt.kid != NULL ? opt.kid : "");
        break;
    case DOM_EINVAL:
        fprintf(stderr,
                "domicile consent issue: bad id, subject or scopes (ids and subjects: A-Z a-z 0-9 _ -; scopes: 1-16 "
                "distinct names of a-z 0-9 _ -)\n");
        break;
    case DOM_ERANGE:
        fprintf(stderr,
                "domicile consent issue: issued-at %" PRId64 " and expiry %" PRId64
                " must be 0..999999999999 with issued-at <= expiry\n",
                issued_at, expiry);
        break;
    default:
        fprintf(stderr, "domicile consent issue: %s\n", dom_strerror(err));
        break;
    }
    OPENSSL_cleanse(token, sizeof(token));
    dom_pin_keyring_free(&ring);
    return ret;
usage:
    fputs(issue_usage, stderr);
    return ret;
}

static int load_revocations(const char *cmd, const char *path, dom_consent_revocations_t **out)
{
    char err[512];
    if (dom_consent_revocations_load(path, out, err, sizeof(err)) != 0) {
        fprintf(stderr, "domicile consent %s: %s\n", cmd, err);
        return 2;
    }
    return 0;
}

static int cmd_verify(int argc, char **argv)
{
    dom__cli_token_opts_t opt;
    dom_pin_keyring_t ring = {NULL, 0};
    dom_consent_revocations_t *rev = NULL;
    char input[DOM_CONSENT_TOKEN_MAX + 2], message[512], issued[64], when[64];
    const char *token;
    size_t len;
    dom_consent_t c;
    int64_t now;
    int ret;

    if ((ret = dom__cli_token_options("consent", "verify", argc, argv, " keys revocations now json help ", 1, &opt)) !=
        0)
        goto usage;
    if (opt.help) {
        fputs(verify_usage, stdout);
        return 0;
    }
    if (opt.token == NULL) {
        fprintf(stderr, "domicile consent verify: no token given (use \"-\" to read it from standard input)\n");
        ret = 2;
        goto usage;
    }
    if (dom__cli_now("consent", "verify", &opt, &now) != 0)
        return 2;
    if ((ret = dom__cli_load_keys("consent", "verify", "consent keys", opt.keys, &ring)) != 0)
        return ret;
    if (opt.revocations != NULL && (ret = load_revocations("verify", opt.revocations, &rev)) != 0)
        goto cleanup;
    if (strcmp(opt.token, "-") == 0) {
        if (dom__cli_read_stdin_token("consent", input, sizeof(input), &len) != 0) {
            ret = 2;
            goto cleanup;
        }
        token = input;
    } else {
        token = opt.token;
        len = strlen(token);
    }
    int result = dom_consent_verify(&ring, rev, token, len, now, &c);
    int genuine = result == DOM_OK || result == DOM_ECONSENT_EXPIRED || result == DOM_ECONSENT_REVOKED;
    dom__time_format(c.issued_at, DOM__TIME_FMT_ISO, issued, sizeof(issued));
    dom__time_format(c.expiry, DOM__TIME_FMT_ISO, when, sizeof(when));
    switch (result) {
    case DOM_OK:
        snprintf(message, sizeof(message), "the token is genuine, signed with key \"%s\": consent to %s until %s",
                 c.kid, c.scopes, when);
        break;
    case DOM_ECONSENT_MALFORMED:
        snprintf(message, sizeof(message), "the token is malformed: %s", dom_consent_malformed_why(token, len));
        break;
    case DOM_ECONSENT_UNKNOWN_KEY:
        snprintf(message, sizeof(message), "the token names key \"%s\", which is not in the key file", c.kid);
        break;
    case DOM_ECONSENT_BAD_SIGNATURE:
        snprintf(message, sizeof(message), "the token's signature does not match key \"%s\": altered or forged", c.kid);
        break;
    case DOM_ECONSENT_EXPIRED:
        snprintf(message, sizeof(message), "the consent expired at %s; the token is genuine", when);
        break;
    case DOM_ECONSENT_REVOKED:
        snprintf(message, sizeof(message), "the consent was withdrawn (token %s is on the revocation list)", c.id);
        break;
    default:
        snprintf(message, sizeof(message), "the token could not be checked: %s", dom_strerror(result));
        break;
    }
    if (opt.json) {
        dom__json_t j = dom__json_file(stdout);
        dom__json_lit(&j, "{\"valid\":");
        dom__json_bool(&j, result == DOM_OK);
        dom__json_lit(&j, ",\"reason\":");
        dom__json_str(&j, dom_consent_reason(result));
        dom__json_lit(&j, ",\"message\":");
        dom__json_str(&j, message);
        dom__json_lit(&j, ",\"kid\":");
        dom__json_str(&j, c.kid[0] != '\0' && result != DOM_ECONSENT_MALFORMED ? c.kid : NULL);
        dom__json_lit(&j, ",\"id\":");
        dom__json_str(&j, genuine ? c.id : NULL);
        dom__json_lit(&j, ",\"subject\":");
        dom__json_str(&j, genuine ? c.subject : NULL);
        dom__json_lit(&j, ",\"scopes\":");
        dom__json_str(&j, genuine ? c.scopes : NULL);
        dom__json_lit(&j, ",\"issued_at\":");
        if (genuine)
            dom__json_i64(&j, c.issued_at);
        else
            dom__json_null(&j);
        dom__json_lit(&j, ",\"expiry\":");
        if (genuine)
            dom__json_i64(&j, c.expiry);
        else
            dom__json_null(&j);
        dom__json_lit(&j, ",\"now\":");
        dom__json_i64(&j, now);
        dom__json_lit(&j, "}\n");
    } else {
        printf("%s: %s\n", dom_consent_reason(result), message);
        if (genuine)
            printf("id: %s\nsubject: %s\nscopes: %s\nissued_at: %" PRId64 " (%s)\nexpiry: %" PRId64 " (%s)\n", c.id,
                   c.subject, c.scopes, c.issued_at, issued, c.expiry, when);
    }
    ret = result == DOM_OK ? 0 : 1;
cleanup:
    dom_consent_revocations_free(rev);
    dom_pin_keyring_free(&ring);
    return ret;
usage:
    fputs(verify_usage, stderr);
    return ret;
}

/* Reads the whole list (or "" when it does not exist yet), appends line, checks, writes FILE.tmp, renames. */
static int append_entry(const char *path, const char *line)
{
    char tmp[4096], err[512];
    char *buf = NULL;
    size_t len = 0, cap = 0;
    FILE *fp = fopen(path, "rb");
    int ret = 2;
    if (fp == NULL && errno != ENOENT) {
        fprintf(stderr, "domicile consent revoke: %s: %s\n", path, strerror(errno));
        return 2;
    }
    for (; fp != NULL;) {
        if (len + 4096 + 1 > cap) {
            char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (nb == NULL)
                goto cleanup;
            buf = nb;
        }
        size_t n = fread(buf + len, 1, cap - len - 1, fp);
        len += n;
        if (n == 0)
            break;
    }
    size_t ll = strlen(line);
    char *nb = realloc(buf, len + ll + 2);
    if (nb == NULL)
        goto cleanup;
    buf = nb;
    if (len > 0 && buf[len - 1] != '\n')
        buf[len++] = '\n';
    memcpy(buf + len, line, ll);
    len += ll;
    buf[len++] = '\n';
    /* never write a list the gateway would refuse */
    dom_consent_revocations_t *check = NULL;
    if (dom_consent_revocations_parse(path, buf, len, &check, err, sizeof(err)) != 0) {
        fprintf(stderr, "domicile consent revoke: %s\n", err);
        goto cleanup;
    }
    dom_consent_revocations_free(check);
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *out = fopen(tmp, "wb");
    if (out == NULL || fwrite(buf, 1, len, out) != len || fflush(out) != 0 || fsync(fileno(out)) != 0) {
        fprintf(stderr, "domicile consent revoke: %s: %s\n", tmp, strerror(errno));
        if (out != NULL)
            fclose(out);
        unlink(tmp);
        goto cleanup;
    }
    fclose(out);
    if (rename(tmp, path) != 0) {
        fprintf(stderr, "domicile consent revoke: %s: %s\n", path, strerror(errno));
        unlink(tmp);
        goto cleanup;
    }
    ret = 0;
cleanup:
    if (fp != NULL)
        fclose(fp);
    free(buf);
    return ret;
}

static int cmd_revoke(int argc, char **argv)
{
    dom__cli_token_opts_t opt;
    char line[256], subject[DOM_CONSENT_SUBJECT_MAX + 1];
    int ret;

    if ((ret = dom__cli_token_options("consent", "revoke", argc, argv,
                                      " revocations id token subject subject-hash before now help ", 0, &opt)) != 0)
        goto usage;
    if (opt.help) {
        fputs(revoke_usage, stdout);
        return 0;
    }
    ret = 2;
    if (opt.revocations == NULL) {
        fprintf(stderr, "domicile consent revoke: --revocations FILE is required\n");
        goto usage;
    }
    int by_subject = opt.subject != NULL || opt.subject_hash != NULL;
    if ((opt.id != NULL) + (opt.token_option != NULL) + by_subject != 1) {
        fprintf(stderr, "domicile consent revoke: give one of --id, --token, --subject or --subject-hash\n");
        goto usage;
    }
    if (opt.id != NULL) {
        snprintf(line, sizeof(line), "id %s", opt.id);
    } else if (opt.token_option != NULL) {
        dom_consent_t c;
        int r = dom_consent_verify(NULL, NULL, opt.token_option, strlen(opt.token_option), 0, &c);
        if (r == DOM_ECONSENT_MALFORMED) {
            fprintf(stderr, "domicile consent revoke: the token is malformed: %s\n",
                    dom_consent_malformed_why(opt.token_option, strlen(opt.token_option)));
            return 1;
        }
        snprintf(line, sizeof(line), "id %s", c.id);
    } else {
        int64_t before;
        if (subject_of("revoke", &opt, subject, sizeof(subject)) != 0)
            goto usage;
        if (opt.before != NULL ? dom__cli_time("consent", "revoke", "--before", opt.before, &before) != 0
                               : dom__cli_now("consent", "revoke", &opt, &before) != 0)
            return 2;
        snprintf(line, sizeof(line), "subject %s before %" PRId64, subject, before);
    }
    if ((ret = append_entry(opt.revocations, line)) == 0)
        printf("%s\n", line);
    return ret;
usage:
    fputs(revoke_usage, stderr);
    return ret;
}

int dom_cli_consent(int argc, char **argv)
{
    if (argc < 2) {
        fputs(consent_usage, stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "issue") == 0)
        return cmd_issue(argc - 1, argv + 1);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(argc - 1, argv + 1);
    if (strcmp(cmd, "revoke") == 0)
        return cmd_revoke(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(consent_usage, stdout);
        fputs("\n", stdout);
        fputs(issue_usage, stdout);
        fputs("\n", stdout);
        fputs(verify_usage, stdout);
        fputs("\n", stdout);
        fputs(revoke_usage, stdout);
        return 0;
    }
    fprintf(stderr, "domicile consent: unknown command \"%s\"\n", cmd);
    fputs(consent_usage, stderr);
    return 2;
}

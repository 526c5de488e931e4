/*
 * What `domicile pin` and `domicile consent` share: their options, times, key files and standard
 * input, so the two token commands read and complain alike. Messages name "domicile <prog> <cmd>".
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "domicile/keyfile.h"
#include "util/time.h"

/*
 * Parses "--name VALUE", "--name=VALUE" and flags. allowed lists the options the subcommand
 * takes; takes_token says whether one positional argument is expected. Returns 0 or 2.
 */
int dom__cli_token_options(const char *prog, const char *cmd, int argc, char **argv, const char *allowed,
                           int takes_token, dom__cli_token_opts_t *opt)
{
    static const struct {
        const char *name;
        size_t offset;
    } valued[] = {
#define OPT(NAME, FIELD) {NAME, offsetof(dom__cli_token_opts_t, FIELD)}
        OPT("keys", keys),
        OPT("kid", kid),
        OPT("jurisdiction", jurisdiction),
        OPT("ttl", ttl),
        OPT("expires", expires),
        OPT("now", now),
        OPT("id", id),
        OPT("subject", subject),
        OPT("subject-hash", subject_hash),
        OPT("scopes", scopes),
        OPT("issued-at", issued_at),
        OPT("revocations", revocations),
        OPT("token", token_option),
        OPT("before", before),
#undef OPT
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
                fprintf(stderr, "domicile %s %s: unexpected argument \"%s\"\n", prog, cmd, arg);
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
            fprintf(stderr, "domicile %s %s: unknown option \"--%.*s\"\n", prog, cmd, (int)name_len, name);
            return 2;
        }
        if (name_len == 4 && strncmp(name, "help", 4) == 0) {
            opt->help = 1;
            continue;
        }
        if (name_len == 4 && strncmp(name, "json", 4) == 0) {
            if (eq != NULL) {
                fprintf(stderr, "domicile %s %s: --json takes no value\n", prog, cmd);
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
                fprintf(stderr, "domicile %s %s: --%s needs a value\n", prog, cmd, valued[v].name);
                return 2;
            }
            *(const char **)((char *)opt + valued[v].offset) = value;
        }
    }
    return 0;
}

/* Parses a decimal integer in [min, max]. Returns 0, or -1 after printing why. */
int dom__cli_int64(const char *prog, const char *cmd, const char *what, const char *s, int64_t min, int64_t max,
                   int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (s[0] == '\0' || end == NULL || *end != '\0' || errno != 0 || v < min || v > max) {
        fprintf(stderr, "domicile %s %s: %s \"%s\" is not an integer from %" PRId64 " to %" PRId64 "\n", prog, cmd,
                what, s, min, max);
        return -1;
    }
    *out = (int64_t)v;
    return 0;
}

/* A time option: unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (util/time.h). Returns 0, or -1 after printing why.
 */
int dom__cli_time(const char *prog, const char *cmd, const char *what, const char *s, int64_t *out)
{
    if (dom__time_parse(s, strlen(s), DOM__TIME_ANY, out) == 0)
        return 0;
    fprintf(stderr, "domicile %s %s: %s \"%s\" is not a time (" DOM__TIME_ANY_WORDS ", a real date in UTC)\n", prog,
            cmd, what, s);
    return -1;
}

int dom__cli_now(const char *prog, const char *cmd, const dom__cli_token_opts_t *opt, int64_t *now)
{
    if (opt->now == NULL) {
        *now = (int64_t)time(NULL);
        return 0;
    }
    return dom__cli_time(prog, cmd, "--now", opt->now, now);
}

/*
 * Loads the key file, as the gateway does: refused when other users can write it (they could
 * replace the keys), a warning when every user can read it. Returns 0 or 2.
 */
int dom__cli_load_keys(const char *prog, const char *cmd, const char *what, const char *path, dom_pin_keyring_t *ring)
{
    char err[512];
    if (path == NULL) {
        fprintf(stderr, "domicile %s %s: --keys FILE is required\n", prog, cmd);
        return 2;
    }
    /* a file that cannot be stat'ed is reported by the loader */
    int mode = dom_keyfile_check(what, path, err, sizeof(err));
    if (mode == DOM_EINVAL) {
        fprintf(stderr, "domicile %s %s: %s\n", prog, cmd, err);
        return 2;
    }
    if (mode == DOM_KEYFILE_WARNING)
        fprintf(stderr, "domicile %s %s: warning: %s\n", prog, cmd, err);
    if (dom_pin_keyring_load(path, ring, err, sizeof(err)) != DOM_OK) {
        fprintf(stderr, "%s\n", err);
        return 2;
    }
    return 0;
}

/*
 * Reads a token from standard input: one line, one trailing newline (LF or CRLF) dropped.
 * Anything longer than a token can be is kept long enough to be refused as malformed.
 */
int dom__cli_read_stdin_token(const char *prog, char *buf, size_t cap, size_t *len)
{
    size_t n = fread(buf, 1, cap, stdin);
    if (ferror(stdin)) {
        fprintf(stderr, "domicile %s verify: cannot read standard input: %s\n", prog, strerror(errno));
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

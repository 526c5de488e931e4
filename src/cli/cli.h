/* The subcommands of the one `domicile` binary; each lives in its own file. */
#ifndef DOM_CLI_H
#define DOM_CLI_H

#include <stdint.h>
#include <stdio.h>
#include "domicile/pin.h"

/* Each returns the process exit status: 0 success, 1 the thing checked is bad, 2 usage error. */
int dom_cli_serve(int argc, char **argv);   /* serve.c */
int dom_cli_rules(int argc, char **argv);   /* rules.c: check | compile | show */
int dom_cli_explain(int argc, char **argv); /* explain.c */
int dom_cli_pin(int argc, char **argv);     /* pin.c: issue | verify */
int dom_cli_consent(int argc, char **argv); /* consent.c: issue | verify | revoke */
int dom_cli_fleet(int argc, char **argv);   /* fleet.c: status (exit 1: replicas diverge or are not ready) */

/** The options of the token commands (pin, consent); which are allowed is up to each subcommand. */
typedef struct dom__cli_token_opts {
    const char *keys, *kid, *jurisdiction, *ttl, *expires, *now;
    const char *id, *subject, *subject_hash, *scopes, *issued_at, *revocations, *token_option, *before;
    int json, help;
    const char *token; /* the one positional argument */
} dom__cli_token_opts_t;

/**
 * Parses "--name VALUE", "--name=VALUE" and flags of `domicile <prog> <cmd>`: allowed lists the
 * option names the subcommand takes (" keys kid help "); takes_token: one positional argument.
 * Returns 0 or 2 (after printing why).
 */
int dom__cli_token_options(const char *prog, const char *cmd, int argc, char **argv, const char *allowed,
                           int takes_token, dom__cli_token_opts_t *opt);
/** A decimal integer in [min, max]. 0, or -1 after printing why. */
int dom__cli_int64(const char *prog, const char *cmd, const char *what, const char *s, int64_t min, int64_t max,
                   int64_t *out);
/** A time: unix seconds, YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ. 0, or -1 after printing why. */
int dom__cli_time(const char *prog, const char *cmd, const char *what, const char *s, int64_t *out);
/** --now, or the clock. 0, or -1 after printing why. */
int dom__cli_now(const char *prog, const char *cmd, const dom__cli_token_opts_t *opt, int64_t *now);
/** Loads a key file as the gateway does (refused when others can write it; `what`: "pin keys"). 0 or 2. */
int dom__cli_load_keys(const char *prog, const char *cmd, const char *what, const char *path, dom_pin_keyring_t *ring);
/** One token line from standard input (one trailing LF or CRLF dropped). 0, or -1 after printing why. */
int dom__cli_read_stdin_token(const char *prog, char *buf, size_t cap, size_t *len);

/**
 * Writes s as a JSON string (NULL as null) with the one JSON writer (util/json.h): quotes,
 * backslashes and controls escaped, invalid UTF-8 as U+FFFD. Kept for explain.c; new code uses
 * dom__json_file() and the writer directly.
 */
void dom__cli_json_str(FILE *fp, const char *s); /* json.c */

#endif

/* The subcommands of the one `domicile` binary; each lives in its own file. */
#ifndef DOM_CLI_H
#define DOM_CLI_H

#include <stdint.h>
#include <stdio.h>
#include "domicile/pin.h"

/* Each returns the process exit status: 0 success, 1 the thing checked is bad, 2 usage error. */
int dom_cli_serve(int argc, char **argv); /* serve.c */
int dom_cli_rules(int argc, char **argv); /* rules.c: check | compile | show | history */
/** `rules history FILE [JURISDICTION] [--json]` (rules_ledger.c); 2 on a usage error. */
int dom__cli_rules_history(int argc, char **argv);
/** `rules show FILE --hash H`: prints the exact canonical text of one ledger version (rules_ledger.c). */
int dom__cli_rules_show_hash(const char *path, const char *hash);
int dom_cli_explain(int argc, char **argv); /* explain.c */
int dom_cli_pin(int argc, char **argv);     /* pin.c: issue | verify */
int dom_cli_consent(int argc, char **argv); /* consent.c: issue | verify | revoke */
int dom_cli_fleet(int argc, char **argv);   /* fleet.c: status (exit 1: replicas diverge or are not ready) */
int dom_cli_audit(int argc, char **argv);   /* audit.c: verify (exit 1: the log has a break) */

/** `rules report` (report.c): the HTML residency report; argv[0] is "report". Exit status as above. */
int dom__cli_rules_report(int argc, char **argv);

int dom_cli_rules_plan(int argc, char **argv); /* plan.c: `rules plan` (exit 0 no change, 2 changes, 1 error) */

struct dom_ruleset;
struct dom_rules_sources;
struct dom_lint_options;
struct dom_diag;
/**
 * Loads a rule set from a compiled database or a directory of rule files (parse problems through diag;
 * sources, when not NULL, gets the positions of a directory's versions). Says what is wrong on stderr
 * and returns -1, or 0. (plan.c)
 */
int dom__cli_load_rules(const char *path, struct dom_diag *diag, struct dom_ruleset **out,
                        struct dom_rules_sources **sources);
/** Lints a compiled set, with positions from its source directory when that still holds the same files. (plan.c) */
size_t dom__cli_lint_compiled(const struct dom_ruleset *rs, const struct dom_lint_options *opts, struct dom_diag *diag);
/** A dom_diag_t report callback that drops every diagnostic. (plan.c) */
void dom__cli_diag_discard(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message);

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

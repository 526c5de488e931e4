/* The subcommands of the one `domicile` binary; each lives in its own file. */
#ifndef DOM_CLI_H
#define DOM_CLI_H

#include <stdio.h>

/* Each returns the process exit status: 0 success, 1 the thing checked is bad, 2 usage error. */
int dom_cli_serve(int argc, char **argv);   /* serve.c */
int dom_cli_rules(int argc, char **argv);   /* rules.c: check | compile | show | history */
/** `rules history FILE [JURISDICTION] [--json]` (rules_ledger.c); 2 on a usage error. */
int dom__cli_rules_history(int argc, char **argv);
/** `rules show FILE --hash H`: prints the exact canonical text of one ledger version (rules_ledger.c). */
int dom__cli_rules_show_hash(const char *path, const char *hash);
int dom_cli_explain(int argc, char **argv); /* explain.c */
int dom_cli_pin(int argc, char **argv);     /* pin.c: issue | verify */
int dom_cli_fleet(int argc, char **argv);   /* fleet.c: status (exit 1: replicas diverge or are not ready) */

/** `rules report` (report.c): the HTML residency report; argv[0] is "report". Exit status as above. */
int dom__cli_rules_report(int argc, char **argv);

/**
 * Writes s as a JSON string (NULL as null) with the one JSON writer (util/json.h): quotes,
 * backslashes and controls escaped, invalid UTF-8 as U+FFFD. Kept for explain.c; new code uses
 * dom__json_file() and the writer directly.
 */
void dom__cli_json_str(FILE *fp, const char *s); /* json.c */

#endif

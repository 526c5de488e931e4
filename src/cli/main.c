/*
 * domicile: one binary, one subcommand per stage an operator or compliance team touches.
 */
#include <stdio.h>
#include <string.h>
#include "cli/cli.h"

static void usage(FILE *fp)
{
    fputs("usage: domicile <command> [options]\n"
          "\n"
          "  serve -c FILE [--check]            run the gateway (or only validate its config)\n"
          "  rules check DIR                    validate rule files (file:line:col: message)\n"
          "  rules compile DIR -o FILE          compile rule files into LMDB, atomically\n"
          "  rules show FILE                    print what a compiled rules database holds\n"
          "  rules plan --from LIVE --to DIR    what a rule change decides differently (exit 0/2/1)\n"
          "  explain [options]                  print the whole decision for one request\n"
          "  pin issue|verify [options]         mint or check residency pins\n"
          "  fleet status URL...                every replica's rule set, geo database, readiness\n"
          "\n"
          "Run `domicile <command> --help` for the options of a command.\n",
          fp);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return dom_cli_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "rules") == 0)
        return dom_cli_rules(argc - 1, argv + 1);
    if (strcmp(cmd, "explain") == 0)
        return dom_cli_explain(argc - 1, argv + 1);
    if (strcmp(cmd, "pin") == 0)
        return dom_cli_pin(argc - 1, argv + 1);
    if (strcmp(cmd, "fleet") == 0)
        return dom_cli_fleet(argc - 1, argv + 1);
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        puts("domicile 0.1.0");
        return 0;
    }
    fprintf(stderr, "domicile: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return 2;
}

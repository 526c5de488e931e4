/* STUB: replaced by the module's implementation. */
#include <stdio.h>
#include "cli/cli.h"

int dom_cli_rules(int argc, char **argv)
{
    fprintf(stderr, "domicile rules: not built yet\n");
    return 2;
}

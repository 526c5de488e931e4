/* STUB: replaced by the module's implementation. */
#include <stdio.h>
#include "cli/cli.h"

int dom_cli_explain(int argc, char **argv)
{
    fprintf(stderr, "domicile explain: not built yet\n");
    return 2;
}

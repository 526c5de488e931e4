/* STUB: replaced by the module's implementation. */
#include <stdio.h>
#include "cli/cli.h"

int dom_cli_pin(int argc, char **argv)
{
    fprintf(stderr, "domicile pin: not built yet\n");
    return 2;
}

/* JSON output of the subcommands: the one writer of src/util/json.h, onto a stream. */
#include "cli/cli.h"
#include "util/json.h"

void dom__cli_json_str(FILE *fp, const char *s)
{
    dom__json_t j = dom__json_file(fp);
    dom__json_str(&j, s);
}

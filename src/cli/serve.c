/* `domicile serve -c FILE [--check]`: the gateway, or only a check of its configuration. */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "cli/cli.h"
#include "domicile/lint.h"
#include "gateway/config.h"
#include "gateway/server.h"

static void usage(FILE *fp)
{
    fputs("usage: domicile serve -c FILE [--check]\n"
          "       domicile serve --keys\n"
          "\n"
          "  -c, --config FILE   gateway configuration (see docs/config.md)\n"
          "  -t, --check         validate the configuration and everything it names, then exit\n"
          "                      (every error as file:line:col: message; exit status 1 on errors)\n"
          "  --keys              print every configuration key and what SIGHUP does with a change\n"
          "\n"
          "SIGTERM or SIGINT drains: stop accepting, finish in-flight requests within\n"
          "limits.drain_timeout, then exit 0.\n",
          fp);
}

/*
 * --check: the rule set's lints that depend on this config (a subdivision rule its geo database never
 * resolves), as warnings before the gateway's own checks. What cannot be loaded is left to those checks.
 */
static void lint_with_config(const char *path)
{
    dom_diag_t quiet = {.report = dom__cli_diag_discard};
    dom_config_t *cfg = NULL;
    dom_ruleset_t *rs = NULL;
    dom_rules_store_t *store = NULL;
    dom_geo_t *geo = NULL;
    char err[512];
    if (dom_config_load(path, &cfg, &quiet) != 0 || cfg->rules == NULL || cfg->geo.database == NULL)
        goto out;
    dom_geo_options_t opts = dom_config_geo_options(cfg);
    if (dom_rules_store_open(cfg->rules, &store, err, sizeof(err)) != 0 ||
        dom_geo_open(cfg->geo.database, &opts, &geo, err, sizeof(err)) != 0)
        goto out;
    rs = dom_rules_store_current(store);
    dom_lint_options_t lo = {.now = (int64_t)time(NULL), .geo = geo, .geo_name = cfg->geo.database};
    dom__cli_lint_compiled(rs, &lo, NULL);
out:
    dom_ruleset_release(rs);
    dom_rules_store_close(store);
    dom_geo_release(geo);
    dom_config_free(cfg);
}

int dom_cli_serve(int argc, char **argv)
{
    const char *config = NULL;
    int check = 0;
    for (int i = 1; i < argc; ++i) {
        if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "domicile serve: %s needs a file\n", argv[i]);
                return 2;
            }
            config = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            config = argv[i] + 9;
        } else if (strcmp(argv[i], "--check") == 0 || strcmp(argv[i], "-t") == 0) {
            check = 1;
        } else if (strcmp(argv[i], "--keys") == 0) {
            dom_config_keys_markdown(stdout); /* the table in docs/config.md */
            return 0;
        } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "domicile serve: unknown option \"%s\"\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (config == NULL) {
        fprintf(stderr, "domicile serve: -c FILE is required\n");
        usage(stderr);
        return 2;
    }
    if (check)
        lint_with_config(config);
    return dom_gateway_main(config, check);
}

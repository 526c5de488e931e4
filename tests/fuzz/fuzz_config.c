/*
 * Fuzzes the gateway config parser (src/gateway/config/): any bytes must give a config or errors,
 * never a crash or a leak; every diagnostic is well formed; and a config compared with itself (what
 * SIGHUP does with an unchanged file) reports no change.
 */
#include <stdint.h>
#include <stdlib.h>
#include "gateway/config.h"

static void check_diag(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message)
{
    if ((line == 0) != (col == 0) || message == NULL || message[0] == '\0' || file == NULL)
        abort();
}

static void no_change(void *ctx, const char *key, int live, const char *note)
{
    abort(); /* every key's equality must hold for a config and itself */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dom_diag_t diag = {check_diag, NULL, 0, 0};
    dom_config_t *cfg = NULL;
    int ret = dom_config_load_buffer("fuzz.yaml", "/nonexistent", (const char *)data, size, &cfg, &diag);
    if ((ret == 0) != (cfg != NULL) || (ret == DOM_ECONFIG && diag.errors == 0))
        abort();
    if (ret == 0) {
        /* exercise what the server derives from a config */
        (void)dom_config_largest_body(cfg);
        if (dom_config_compare(cfg, cfg, cfg, no_change, NULL) != 0 || !dom_config_same("geo", cfg, cfg))
            abort();
        dom_config_free(cfg);
    }
    return 0;
}

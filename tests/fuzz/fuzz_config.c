/* Fuzzes the gateway config parser (src/gateway/config.c): any bytes must give a config or errors, never a crash. */
#include <stdint.h>
#include <stdlib.h>
#include "gateway/config.h"

static void quiet(void *ctx, const char *file, size_t line, size_t col, int is_warning, const char *message)
{
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dom_diag_t diag = {quiet, NULL, 0, 0};
    dom_config_t *cfg = NULL;
    if (dom_config_load_buffer("fuzz.yaml", "/nonexistent", (const char *)data, size, &cfg, &diag) == 0) {
        /* exercise what the server derives from a config */
        (void)dom_config_largest_body(cfg);
        dom_config_free(cfg);
    }
    return 0;
}

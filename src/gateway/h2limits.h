/*
 * The HTTP/2 bounds the gateway sets inside libh2o: the project's patches/ to Debian's h2o 2.2.5
 * (README, "patches/") give h2o a decoded header-list limit, CONTINUATION limits, a request-body
 * deadline and budget, and a stream-reset hook; this file turns the config's limits into them.
 * It also installs the Expect: 100-continue hook (expect.c) and warns when the patches that make
 * h2o refuse ambiguous HTTP/1.1 framing, a host that disagrees with :authority, or keep trailers
 * apart are missing.
 */
#ifndef DOM_GATEWAY_H2LIMITS_H
#define DOM_GATEWAY_H2LIMITS_H

#include <stdio.h>
#include "gateway/config.h"
#include "gateway/gateway.h"

/**
 * Sets cfg's limits on h2o's global configuration (before any h2o_context_init) and installs the
 * Rapid Reset hook. Built against a libh2o without some patch (-DDOMICILE_SYSTEM_H2O=ON, or
 * -DDOMICILE_H2O_SKIP_PATCHES), writes one warning per missing bound to warn (when not NULL).
 * Returns the number of bounds missing (0 with the project's patched library).
 */
int dom__h2limits_apply(h2o_globalconf_t *gc, const dom_config_t *cfg, FILE *warn);

#endif

/*
 * Geo database reloads: a background thread watches the configured mmdb file (inotify on
 * its directory for IN_MOVED_TO / IN_CLOSE_WRITE of the name, plus a stat poll as a
 * fallback), opens and checks a replaced file with dom_geo_open, and publishes it. Worker
 * threads compare a generation number per request (one relaxed load) and, when it moved,
 * take a reference on the new handle and drop theirs; lookups are synchronous inside
 * on_req, so a request never sees two databases. A file that fails the checks is not used.
 */
#ifndef DOM_GATEWAY_GEORELOAD_H
#define DOM_GATEWAY_GEORELOAD_H

#include <stdint.h>
#include "domicile/geo.h"

typedef struct dom__georeload dom__georeload_t;

/** Called by the watcher thread with each handle it swapped in (to publish it to the workers). */
typedef void (*dom__georeload_cb)(void *ctx, dom_geo_t *geo);

/**
 * Starts watching `path`. `initial` is the handle opened at start-up (a reference is taken).
 * opts is copied. poll_ms: stat interval (0 = 2000). on_swap (may be NULL) is called after
 * every swap, serialized with dom__georeload_replace. Errors: DOM_ENOMEM (message in err).
 */
int dom__georeload_start(const char *path, const dom_geo_options_t *opts, dom_geo_t *initial, unsigned poll_ms,
                         dom__georeload_cb on_swap, void *ctx, dom__georeload_t **out, char *err, size_t errlen);

/**
 * A new path and options (config reload): opens and checks the file now, on the calling thread; on
 * success calls publish(ctx, geo) and watches the new path with the new options from then on. No
 * watcher swap can come in between. On failure nothing changes. Errors: DOM_EGEO (message in err),
 * DOM_ENOMEM.
 */
int dom__georeload_replace(dom__georeload_t *g, const char *path, const dom_geo_options_t *opts, unsigned poll_ms,
                           dom__georeload_cb publish, void *ctx, char *err, size_t errlen);

/** Generation of the current handle (changes on every swap). One relaxed load: for the request path. */
uint64_t dom__georeload_generation(dom__georeload_t *g);

/** Returns the current handle with a reference for the caller, and its generation. */
dom_geo_t *dom__georeload_acquire(dom__georeload_t *g, uint64_t *generation);

/** Asks the watcher to look at the file now (SIGHUP). */
void dom__georeload_poke(dom__georeload_t *g);

/** Successful swaps and rejected files since start. */
void dom__georeload_stats(dom__georeload_t *g, uint64_t *reloads, uint64_t *failures);

/** Stops the thread and drops its reference. NULL safe. */
void dom__georeload_stop(dom__georeload_t *g);

#endif

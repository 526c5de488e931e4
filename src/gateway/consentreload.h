/*
 * Consent revocation lists delivered any way operators deliver files (in place, rename, symlink
 * swap): a watcher (filewatch.h) sees the file change, parses it off the request path and
 * publishes it to the workers with the live state (live.h), so a revoked consent stops
 * collection within the watcher's reaction time (an inotify event; the poll as a fallback).
 * A list that cannot be read or parsed is refused, counted and logged, and the list in use
 * stays (it only ever grows in practice; dropping it would re-admit revoked consents).
 */
#ifndef DOM_GATEWAY_CONSENTRELOAD_H
#define DOM_GATEWAY_CONSENTRELOAD_H

#include <stdint.h>
#include "domicile/consent.h"
#include "gateway/filewatch.h"

/** One loaded revocation list, shared by the live states that use it (refcounted). */
typedef struct dom__revocations {
    unsigned refs; /* atomic */
    dom_consent_revocations_t *list;
    char *path;          /* as configured */
    dom__file_id_t id;   /* the file as it was when read (inode, size, mtime) */
    int64_t loaded_at;   /* unix seconds */
    uint64_t generation; /* 1 for the list read at start, +1 for each reload */
} dom__revocations_t;

/** Reads and parses path. One reference. Errors as dom_consent_revocations_load, message in err. */
int dom__revocations_open(const char *path, uint64_t generation, dom__revocations_t **out, char *err, size_t errlen);

void dom__revocations_retain(dom__revocations_t *r);

/** Drops a reference; the last one frees the list. NULL safe. */
void dom__revocations_release(dom__revocations_t *r);

typedef struct dom__consentreload dom__consentreload_t;

/** Called on the watcher thread with a newly loaded list (a reference for the callee to take if it keeps it). */
typedef void (*dom__consentreload_cb)(void *ctx, dom__revocations_t *list);

/** Watches the path of `initial` (poll_ms: 0 = 2000); when the file changes, loads it and calls publish. DOM_ENOMEM. */
int dom__consentreload_start(dom__revocations_t *initial, unsigned poll_ms, dom__consentreload_cb publish, void *ctx,
                             dom__consentreload_t **out);

/** Looks now (SIGHUP). NULL safe. */
void dom__consentreload_poke(dom__consentreload_t *c);

/** Lists loaded after start, and changed files refused. NULL: zeros. */
void dom__consentreload_stats(dom__consentreload_t *c, uint64_t *reloads, uint64_t *failures);

/** Stops watching. NULL safe. */
void dom__consentreload_stop(dom__consentreload_t *c);

#endif

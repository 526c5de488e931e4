/*
 * Rules databases delivered any way operators deliver files (docs/operations.md): compiled
 * into the live file (the store sees the new LMDB transaction by itself, per request), or a
 * new file put in place by rename(2) (rsync, Ansible `copy`, `install`, `mv`) or by a symlink
 * swap (Kubernetes ConfigMap/Secret volumes). For the last two a watcher (filewatch.h) sees
 * the path lead to another file, opens and verifies it off the request path, and publishes it
 * to the workers with the live settings (live.h); a file that cannot be opened, is not a
 * domicile rules database or fails verification is refused, counted and logged, and the
 * rules in use stay.
 */
#ifndef DOM_GATEWAY_RULESRELOAD_H
#define DOM_GATEWAY_RULESRELOAD_H

#include <stdint.h>
#include "domicile/rules.h"
#include "gateway/filewatch.h"

/** One opened rules database file, shared by the live states that use it (refcounted). */
typedef struct dom__rules_file {
    unsigned refs; /* atomic */
    dom_rules_store_t *store;
    char *path;        /* as configured */
    dom__file_id_t id; /* the file the store has open */
    int64_t loaded_at; /* unix seconds */
} dom__rules_file_t;

/** Opens and verifies path (dom_rules_store_open). One reference. Errors as dom_rules_store_open, message in err. */
int dom__rules_file_open(const char *path, dom__rules_file_t **out, char *err, size_t errlen);

void dom__rules_file_retain(dom__rules_file_t *f);

/** Drops a reference; the last one closes the store (snapshots handed out stay valid). NULL safe. */
void dom__rules_file_release(dom__rules_file_t *f);

typedef struct dom__rulesreload dom__rulesreload_t;

/** Called on the watcher thread with a newly opened file (a reference for the callee to take if it keeps it). */
typedef void (*dom__rulesreload_cb)(void *ctx, dom__rules_file_t *file);

/**
 * Watches the path of `initial` (poll_ms: 0 = 2000). When it leads to another file, opens it and
 * calls publish. Errors: DOM_ENOMEM.
 */
int dom__rulesreload_start(dom__rules_file_t *initial, unsigned poll_ms, dom__rulesreload_cb publish, void *ctx,
                           dom__rulesreload_t **out);

/** Looks now (SIGHUP). NULL safe. */
void dom__rulesreload_poke(dom__rulesreload_t *r);

/** Files swapped in and files refused since start. */
void dom__rulesreload_stats(dom__rulesreload_t *r, uint64_t *swaps, uint64_t *refusals);

/** Stops watching. NULL safe. */
void dom__rulesreload_stop(dom__rulesreload_t *r);

#endif

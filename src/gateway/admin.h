/*
 * The admin listener (loopback by default, never the public listener): /metrics
 * (Prometheus text), /healthz (alive), /readyz (this replica can decide: listeners accepting, rules
 * and geo loaded, audit log writable when audit.required; /readyz?region=NAME adds "a node of NAME is
 * up"), /status (JSON, with region and node health). A small blocking server on its
 * own thread: it never shares a loop with the request path, so a scrape cannot slow requests.
 */
#ifndef DOM_GATEWAY_ADMIN_H
#define DOM_GATEWAY_ADMIN_H

#include "gateway/gateway.h"
#include "gateway/metrics.h"

typedef struct dom__admin dom__admin_t;

/** Binds config.admin.listen and starts the thread. Errors: DOM_EIO (cannot listen: message in err), DOM_ENOMEM. */
int dom__admin_start(dom__server_t *srv, dom__admin_t **out, char *err, size_t errlen);

/** Stops the thread and closes the socket. NULL safe. */
void dom__admin_stop(dom__admin_t *a);

/**
 * Answers one admin path with its query string (after '?', NULL if none; only /readyz reads it):
 * fills status, content type and body. Exposed for the unit tests.
 */
void dom__admin_answer(dom__server_t *srv, const char *path, const char *query, int *status, const char **content_type,
                       dom__text_t *body);

#endif

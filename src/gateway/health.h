/*
 * Node health: active checks (HTTP GET of the cluster's health.path every interval, with
 * a timeout, rise/fall thresholds) on one small thread per node, and passive marks from
 * the workers (connect failures, 5xx bursts). Both only flip dom__node_health_t.up; the
 * fallback order itself is dom__upstream_pick's.
 */
#ifndef DOM_GATEWAY_HEALTH_H
#define DOM_GATEWAY_HEALTH_H

#include <openssl/ssl.h>
#include "gateway/gateway.h"

typedef struct dom__health dom__health_t;

/**
 * Starts one checker thread per node. `nodes` (cluster and node set, up = 1) must outlive it;
 * ssl is for https:// nodes (may be NULL if none). Errors: DOM_ENOMEM.
 */
int dom__health_start(dom__node_health_t *nodes, size_t n, SSL_CTX *ssl, dom__health_t **out);

/** Stops and joins the threads. NULL safe. */
void dom__health_stop(dom__health_t *h);

/**
 * A worker's verdict on one request to a node: ok = 0 for a connect failure or a 5xx. After
 * the cluster's passive_fall consecutive failures the node goes down until the active check
 * (or, without one, passive_cooldown) brings it back. Cheap when ok and nothing failed before.
 */
void dom__health_passive(dom__node_health_t *node, int ok);

/**
 * A worker could not connect to the node (refused, or no answer within the upstream timeout):
 * with passive marking on (passive_fall > 0) the node goes down at once, as after passive_fall
 * failures. Counted in passive_failures either way.
 */
void dom__health_refused(dom__node_health_t *node);

/**
 * One active check, blocking: connect, GET path, a 2xx or 3xx status line within timeout_ms.
 * Returns 1 healthy, 0 not (why in err). Exposed for the unit tests.
 */
int dom__health_check_once(const char *host, uint16_t port, SSL_CTX *ssl, const char *path, uint64_t timeout_ms,
                           char *err, size_t errlen);

/** Monotonic milliseconds. */
int64_t dom__now_ms(void);

#endif

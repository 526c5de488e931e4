/*
 * The admin listener (loopback by default, never the public listener; off loopback it needs a
 * bearer token, client certificates or an explicit opt-out, config.c check_admin): /metrics
 * (Prometheus text), /healthz (alive), /readyz (this replica can decide: listeners accepting, rules
 * and geo loaded, audit log writable when audit.required; /readyz?region=NAME adds "a node of NAME is
 * up"), /status (JSON, with region and node health), / (the same as an HTML status page) and
 * /explain (the decision explorer, admin_pages.c). A small blocking server on its
 * own thread: it never shares a loop with the request path, so a scrape cannot slow requests.
 */
#ifndef DOM_GATEWAY_ADMIN_H
#define DOM_GATEWAY_ADMIN_H

#include "gateway/gateway.h"
#include "gateway/metrics.h"

typedef struct dom__admin dom__admin_t;

/**
 * Binds config.admin.listen and starts the thread. TLS when srv->admin_ssl is set (client
 * certificates as that context asks); the bearer token is read per request from the live settings.
 * Errors: DOM_EIO (cannot listen: message in err), DOM_ENOMEM.
 */
int dom__admin_start(dom__server_t *srv, dom__admin_t **out, char *err, size_t errlen);

/**
 * Reads a bearer token file (admin.token_file): one line of 16 to 1024 characters of RFC 6750's
 * b64token alphabet (A-Z a-z 0-9 - . _ ~ + / and trailing =), a final newline allowed. Keeps only
 * its SHA-256 in sha256 (requests are compared digest to digest, in constant time); the text is
 * wiped. Does not look at the file's mode (dom_config_check_secrets does).
 * Errors (message naming the file in err): DOM_EIO (cannot read), DOM_EINVAL (not such a token).
 */
int dom__admin_token_load(const char *path, unsigned char sha256[32], char *err, size_t errlen);

/** Stops the thread and closes the socket. NULL safe. */
void dom__admin_stop(dom__admin_t *a);

/**
 * Answers one admin path with its query string (after '?', NULL if none; only /readyz reads it):
 * fills status, content type and body. Exposed for the unit tests.
 */
void dom__admin_answer(dom__server_t *srv, const char *path, const char *query, int *status, const char **content_type,
                       dom__text_t *body);

/**
 * The status page (admin_pages.c, at /): instance, config, ruleset and geo database, regions ->
 * clusters -> nodes with health and outstanding requests, requests per jurisdiction and refusals
 * per reason in the last minutes (recent.h), the last reload events. HTML, refreshing itself.
 */
void dom__admin_status_page(dom__server_t *srv, const dom__metrics_globals_t *g, const dom_ruleset_t *rules,
                            const char *not_ready, dom__text_t *body);

/**
 * The decision explorer (admin_pages.c, at /explain): a form, and for a query string
 * (ip, method, path, headers, pin, consent; each bounded) the answer of `domicile explain`
 * for the live config and rules (src/cli/explain.h), in words and JSON, all of it escaped.
 * Returns the HTTP status: 200, 400 for input it refuses (the page says why), 500, 503 (no rules).
 */
int dom__admin_explorer(dom__server_t *srv, const char *query, dom__text_t *body);

#endif

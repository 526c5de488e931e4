/*
 * Internals shared by the gateway's files (steps 6-7 of the request path). Only
 * src/gateway/ includes h2o.h. One dom__worker per thread: its own event loop, h2o
 * context, listeners, socket pools and counters, so the request path takes no locks.
 */
#ifndef DOM_GATEWAY_GATEWAY_H
#define DOM_GATEWAY_GATEWAY_H

#include <pthread.h>
#include <stdint.h>
#include <h2o.h>
#include "domicile/facts.h"
#include "domicile/geo.h"
#include "domicile/pick.h"
#include "domicile/pin.h"
#include "domicile/policy.h"
#include "domicile/rules.h"
#include "gateway/config.h"
#include "gateway/live.h"
#include "gateway/metrics.h"
#include "gateway/recent.h"

struct dom__audit;
struct dom__georeload;
struct dom__health;
struct dom__admin;

/* ---- upstream.c: clusters and nodes ---- */

/**
 * Shared by all threads: the health of one node. `up` is read with a relaxed load per pick;
 * health.c flips it (active checks, passive marks from the workers).
 */
typedef struct dom__node_health {
    int up; /* atomic; 1 = may receive requests */
    const dom_config_cluster_t *cluster;
    const dom_config_node_t *node;
    unsigned passive_streak;                                /* consecutive failed requests (atomic) */
    int64_t passive_down_at;                                /* monotonic ms when passively marked down */
    uint64_t check_failures, passive_failures, transitions; /* atomic counters (off the fast path) */
} dom__node_health_t;

/** One node as one thread sees it: its own socket pool (pools need a loop for their timeout). */
typedef struct dom__node {
    const dom_config_node_t *config;
    dom__node_health_t *health;
    h2o_socketpool_t pool;
    h2o_url_t url;         /* for rewriting Location headers that point at the node */
    h2o_iovec_t authority; /* "host:port" */
    size_t outstanding;    /* requests of this thread in flight to this node */
    const char *cluster_name;
} dom__node_t;

typedef struct dom__cluster {
    const dom_config_cluster_t *config;
    dom__node_t *nodes;
    size_t n_nodes;
} dom__cluster_t;

/** One thread's clusters, and the same as dom_pick() sees them (parallel arrays). */
typedef struct dom__upstream {
    dom__cluster_t *clusters;
    dom_pick_cluster_t *view; /* region, balance, cursor; nodes' usable/outstanding refreshed per pick */
    size_t n_clusters;
} dom__upstream_t;

/** Builds one thread's view of the clusters; pools get `loop`'s timers. Errors: DOM_ENOMEM. */
int dom__upstream_init(dom__upstream_t *out, const dom_config_t *cfg, dom__node_health_t *health, h2o_loop_t *loop,
                       uint64_t keepalive_ms);

/**
 * Picks a node for a route decision with dom_pick() (include/domicile/pick.h): each node's
 * health (shared, relaxed load) and this thread's outstanding count are passed in as plain data.
 * Nodes in skip (already tried by this request: they refused the connection) count as down, so a
 * retry follows the same order: another node of the cluster, another cluster of the region, then
 * (next_region only) the next listed region. Never leaves the decision's list.
 */
dom_pick_result_t dom__upstream_pick(dom__upstream_t *up, const dom_ruleset_t *rules, const dom_decision_t *d,
                                     const dom__node_t *const *skip, size_t n_skip, dom__node_t **node,
                                     const char **region);

/* ---- facts.c: steps 0-3 on an h2o request ---- */

/** The connection's peer (or PROXY protocol source) as an address; returns 0 if it has none. */
int dom__peer_of(h2o_req_t *req, dom_addr_t *out);

/**
 * Feeds the request's header section, method, target and peer (NULL = unknown) to the facts
 * builder (facts.h) and drops, in place, the headers it says no client may send upstream.
 * The canonical path lives in req->pool; out borrows from the request.
 */
void dom__request_facts(h2o_req_t *req, const dom_addr_t *peer, const dom_facts_config_t *fc, int64_t now,
                        dom_request_facts_t *out);

/* ---- server.c: the process ---- */

typedef struct dom__server dom__server_t;

typedef struct dom__worker {
    h2o_context_t ctx; /* first: on_req finds the worker from req->conn->ctx */
    dom__server_t *server;
    size_t index;
    pthread_t thread;
    h2o_multithread_queue_t *queue;
    h2o_multithread_receiver_t notify;
    h2o_socket_t **listeners;
    h2o_accept_ctx_t *accept_ctxs;
    int *listen_fds;
    dom__upstream_t upstream;
    dom__live_t *live;        /* this thread's reference to the live settings and geo handle (live.h); swapped
                                 between requests when a new one was published */
    uint64_t live_generation; /* of w->live */
    dom__metrics_t metrics;   /* this thread's counters (metrics.h) */
    dom__recent_t recent;     /* this thread's per-minute counts for the status page (recent.h) */
    uint64_t rng[4];
    size_t open_connections;
    int draining, done;
    h2o_timeout_entry_t drain_check;
    int pool_layout;                    /* handler.c: -1 not yet checked, 1 h2o's idle list readable, 0 not */
    h2o_timeout_t proxy_header_timeout; /* proxyproto_accept.c: limits.proxy_header_timeout */
    h2o_linklist_t proxy_pending;       /* connections whose PROXY header is still being read */
} dom__worker_t;

struct dom__server {
    dom_config_t *config;
    dom__rules_file_t *rules;             /* as opened at start; the one in use is in live (rulesreload.h) */
    struct dom__rulesreload *rulesreload; /* rules delivered by rename or symlink swap */
    dom_geo_t *geo;
    dom_pin_keyring_t keyring; /* as loaded at start; moved into the first live settings */
    int has_admin_token;       /* admin.token_file as read at start (its SHA-256), copied into the first settings */
    unsigned char admin_token_sha256[32];
    dom__livepub_t live;       /* what SIGHUP and the geo watcher publish to the workers */
    dom__settings_t *settings; /* main thread only: the settings last published */
    h2o_globalconf_t globalconf;
    SSL_CTX **listener_ssl;     /* per listener, NULL for cleartext */
    SSL_CTX *upstream_ssl;      /* for https:// nodes */
    SSL_CTX *admin_ssl;         /* admin.tls (with admin.tls.client_ca: verifies clients); NULL = cleartext */
    dom__node_health_t *health; /* flattened per cluster/node */
    dom__worker_t *workers;
    size_t n_workers;
    struct dom__audit *audit;         /* NULL: no audit log */
    struct dom__georeload *georeload; /* NULL: no geo database configured */
    struct dom__health *healthmon;
    struct dom__admin *admin;
    int64_t start_time;
    int accepting;                   /* atomic: 1 once every worker listens, 0 from the drain on (/readyz) */
    uint64_t sighup_reloads;         /* atomic: SIGHUPs whose config loaded and was applied */
    uint64_t config_reload_failures; /* atomic: SIGHUPs whose config did not load (nothing changed) */
    int64_t config_loaded_at;        /* atomic: unix seconds of the start or of the last SIGHUP applied */
};

/* ---- proxyproto_accept.c: the PROXY protocol header, before TLS and h2o ---- */

/** Sets up a worker's header timeout and pending list (before its loop runs). */
void dom__proxyproto_init(dom__worker_t *w);

/**
 * Takes a connection accepted on a proxy_protocol listener: refuses it at once unless its sender is
 * in trusted_proxies, else reads the PROXY header (v1 or v2, include/domicile/proxyproto.h) off the
 * socket within limits.proxy_header_timeout, sets the client address from it (LOCAL / UNKNOWN: the
 * sender itself) and hands the socket, with the bytes after the header still in its input, to
 * h2o_accept(actx) (TLS handshake or HTTP). Anything else closes the connection and is counted.
 */
void dom__proxyproto_accept(dom__worker_t *w, h2o_accept_ctx_t *actx, h2o_socket_t *sock);

/** Drain: closes every connection whose header has not arrived yet. */
void dom__proxyproto_drain(dom__worker_t *w);

/* ---- reload.c: SIGHUP ---- */

/**
 * Re-reads the config file (main thread, on SIGHUP). If it loads, its secret files pass
 * dom_config_check_secrets (no key or token file others can write), and the pin keys, admin token
 * and geo database it names open, the keys that can change safely are published at once (live.h) and
 * every other changed key is logged as needing a restart; otherwise nothing changes, the errors
 * are printed as file:line:col: message and config_reload_failures counts it.
 */
void dom__reload_config(dom__server_t *srv);

/* ---- handler.c: on_req ---- */

/** The request handler registered on "/". */
int dom__handler_on_req(h2o_handler_t *self, h2o_req_t *req);

/** Fills the per-thread PRNG from RAND_bytes. */
void dom__rng_seed(uint64_t s[4]);

/* ---- respond.c: answers of our own ---- */

/** One JSON error shape for every refusal. NULL fields are written as null. */
typedef struct dom__refusal {
    int status;
    const char *reason;
    const char *jurisdiction;
    const char *rule_version;
    const char *class_name;
    const char *request_id;
    const char *policy_url;
    unsigned retry_after; /* seconds; 0 = no Retry-After */
} dom__refusal_t;

/** Sends a refusal as JSON (RFC 7725 Link for 451, Retry-After for 503). */
void dom__respond_refusal(h2o_req_t *req, const dom__refusal_t *r);

/** Sets status, reason and headers of a refusal and returns its JSON body (in the request pool). */
h2o_iovec_t dom__refusal_prepare(h2o_req_t *req, const dom__refusal_t *r);

/**
 * Arms a forwarded request so that h2o's own 502 for an unreachable node becomes `r`
 * (a JSON 503 with Retry-After); with echo_request_id (the client sent its own id) the
 * node's answer carries X-Request-Id r->request_id. Strings in r must live in the request pool.
 */
void dom__respond_on_unreachable(h2o_req_t *req, const dom__refusal_t *r, int echo_request_id);

/** The HTTP reason phrase of a status. */
const char *dom__status_text(int status);

#endif

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
#include "gateway/http1resp.h"
#include "gateway/live.h"
#include "gateway/metrics.h"
#include "gateway/recent.h"

struct dom__audit;
struct dom__georeload;
struct dom__health;
struct dom__admin;

/* ---- upstream.c: clusters and nodes ---- */

typedef struct dom__worker dom__worker_t;

/**
 * Shared by all threads: the health of one node. `up` is read with a relaxed load per pick;
 * health.c flips it (active checks, passive marks from the workers).
 */
typedef struct dom__node_health {
    int up; /* atomic; 1 = may receive requests */
    const dom_config_cluster_t *cluster;
    const dom_config_node_t *node;
    SSL_CTX *ssl;                                           /* https:// nodes: verifies this node's certificate */
    unsigned passive_streak;                                /* consecutive failed requests (atomic) */
    int64_t passive_down_at;                                /* monotonic ms when passively marked down */
    uint64_t check_failures, passive_failures, transitions; /* atomic counters (off the fast path) */
} dom__node_health_t;

/** One node as one thread sees it: its own connections to it (forward.c), its own counts. */
typedef struct dom__node {
    const dom_config_node_t *config;
    dom__node_health_t *health;
    dom__worker_t *worker;
    h2o_url_t url;         /* for rewriting Location headers that point at the node */
    h2o_iovec_t authority; /* "host:port" */
    size_t outstanding;    /* requests of this thread in flight to this node */
    const char *cluster_name;
    /* forward.c: this thread's connections to the node */
    struct sockaddr_storage addr; /* a numeric host's address; addrlen 0: the name is resolved per connection */
    socklen_t addrlen;
    h2o_linklist_t idle;    /* kept-alive connections, the most recently used first */
    h2o_linklist_t waiting; /* exchanges waiting for a connection (max_connections reached), oldest first */
    size_t n_conns;         /* connections open or opening */
    size_t max_conns;       /* this thread's share of upstream.max_connections */
    h2o_timeout_t *connect_timeout, *first_byte_timeout, *idle_timeout, *keepalive_timeout, *queue_timeout;
    h2o_timeout_entry_t kick; /* serves waiting exchanges one loop turn after a connection closed */
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
    h2o_timeout_t *timeouts; /* one per distinct duration the nodes use (h2o checks each list every loop turn) */
    size_t n_timeouts, cap_timeouts;
} dom__upstream_t;

/**
 * Builds worker w's view of the clusters (w->index of n_workers: its share of each node's
 * max_connections) with its loop's timeout lists. Errors: DOM_ENOMEM, DOM_EINVAL (a node URL h2o
 * cannot parse).
 */
int dom__upstream_init(dom__upstream_t *out, const dom_config_t *cfg, dom__node_health_t *health, dom__worker_t *w,
                       size_t n_workers);

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

/* ---- forward.c: domicile's own HTTP/1.1 client to the nodes ---- */

typedef struct dom__upconn dom__upconn_t;
typedef struct dom__exchange dom__exchange_t;

/** What the upstream client tells the handler about one exchange. */
typedef struct dom__exchange_cbs {
    /**
     * Nothing of the request reached the node (connect refused or timed out, TLS failed): the handler
     * may choose another node (set ex->node and call dom__forward_start again, from the loop) or answer.
     */
    void (*unreachable)(dom__exchange_t *ex, const char *why);
    /**
     * The exchange failed after the request may have reached the node, or waited too long for a
     * connection (reason "node_busy"). responded = 0: the client got nothing yet and the handler must
     * answer; 1: the node's answer was cut short and the client sees an error (RST_STREAM, closed
     * connection). reason: node_busy, upstream_timeout, upstream_closed, upstream_invalid, upstream_incomplete.
     */
    void (*failed)(dom__exchange_t *ex, const char *reason, int responded);
    /** The node's head is in req->res (status, headers, content length): the handler's last word before it goes out. */
    void (*on_head)(dom__exchange_t *ex);
} dom__exchange_cbs_t;

/**
 * One request's trip to a node, embedded in the request's state (req->pool). The handler fills the
 * public part and calls dom__forward_start; dom__forward_dispose when the request goes away.
 */
struct dom__exchange {
    h2o_req_t *req;
    dom__node_t *node;
    const dom__exchange_cbs_t *cbs;
    const h2o_header_t *extra; /* request headers for this node only (region, Destination) */
    size_t n_extra;
    int resendable; /* a safe read: sent once more on a fresh connection if a kept-alive one closes unanswered */
    /* private to forward.c */
    h2o_generator_t generator;
    dom__upconn_t *conn;
    h2o_linklist_t waiting; /* in node->waiting */
    h2o_timeout_entry_t wait_timer;
    h2o_iovec_t head; /* the request head, built for head_node */
    const dom__node_t *head_node;
    int state, resent, keepalive, paused, sending, final_sent, body_failed, upstream_done;
    dom__resp_body_t body;
    size_t decoded;       /* bytes at the front of the connection's input already decoded */
    size_t inflight;      /* bytes of `outbuf` handed to h2o_send, not yet acknowledged */
    h2o_buffer_t *outbuf; /* body bytes being sent to the client */
    h2o_buffer_t *rest;   /* the body's tail once the connection is released */
};

/** Sends ex->req to ex->node: a kept-alive connection, a new one, or a place in the node's queue. */
void dom__forward_start(dom__exchange_t *ex);

/** The request went away (its pool is being cleared): detaches from connections and queues. Safe if never started. */
void dom__forward_dispose(dom__exchange_t *ex);

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

/**
 * forward_trailers: appends the request's HTTP/2 trailer section (req->trailers, kept apart by patch 0008;
 * never a decision input) to the header section that goes upstream, without the fields no client may send
 * upstream (dom_facts_header's DOM_HEADER_DROP), without pin and consent fields and without hop-by-hop,
 * framing and routing fields. The upstream client (forward.c) sends the buffered body with Content-Length,
 * so the trailers go in the header block it builds from req->headers.
 */
void dom__forward_trailers(h2o_req_t *req, const dom_facts_config_t *fc);

/* ---- expect.c: Expect: 100-continue, decided before the body ---- */

/**
 * h2o's globalconf.http1.on_expect_continue (patch 0009): steps 0-5 on the header section of a request that
 * expects 100-continue. Returns 0 when it is routed (h2o sends 100 Continue, on_req decides again with the
 * body); otherwise on_req answers the refusal at once and it returns 1 (h2o closes after it, the body unread).
 */
int dom__expect_continue(h2o_req_t *req);

/** Whether on_req is answering req from dom__expect_continue, before its body: it may refuse, never forward. */
int dom__expect_before_body(h2o_req_t *req);

/* ---- server.c: the process ---- */

typedef struct dom__server dom__server_t;

struct dom__worker {
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
    h2o_timeout_t proxy_header_timeout; /* proxyproto_accept.c: limits.proxy_header_timeout */
    h2o_linklist_t proxy_pending;       /* connections whose PROXY header is still being read */
};

struct dom__server {
    dom_config_t *config;
    dom__rules_file_t *rules;             /* as opened at start; the one in use is in live (rulesreload.h) */
    struct dom__rulesreload *rulesreload; /* rules delivered by rename or symlink swap */
    dom_geo_t *geo;
    dom_pin_keyring_t keyring;              /* as loaded at start; moved into the first live settings */
    dom_pin_keyring_t consent_keyring;      /* consent.keys as loaded at start; likewise */
    dom__revocations_t *revocations;        /* consent.revocations as read at start; NULL: none */
    struct dom__consentreload *consentload; /* its watcher */
    int has_admin_token; /* admin.token_file as read at start (its SHA-256), copied into the first settings */
    unsigned char admin_token_sha256[32];
    dom__livepub_t live;       /* what SIGHUP and the geo watcher publish to the workers */
    dom__settings_t *settings; /* main thread only: the settings last published */
    h2o_globalconf_t globalconf;
    SSL_CTX **listener_ssl;     /* per listener, NULL for cleartext */
    SSL_CTX **node_ssl;         /* per node (flattened like health), https:// nodes only (server.c) */
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

/* ---- body.c: step 5b, the body of a JSON class ---- */

/**
 * Checks req's buffered body against its class (domicile/body.h; anonymize: the decision's). Returns 0 to
 * forward: req->entity is then what goes upstream (the scrubbed body, in req->pool, when *removed != 0); else the
 * status to refuse with (400, 415, 422, or 503 when memory ran out) and *reason (static), *field (the identity
 * field for a 422, in req->pool).
 */
int dom__body_gate(h2o_req_t *req, const dom_data_class_t *cls, int anonymize, const char **reason, const char **field,
                   size_t *removed);

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
    const char *field;    /* 422 identity_in_anonymous_data: the identity field found (written only when not NULL) */
    const char *jurisdictions_json; /* every jurisdiction that decided, a JSON array, when more than one did */
} dom__refusal_t;

/**
 * The jurisdictions a decision intersected (conflicts of law, unknown subdivision), the deciding one first, as a
 * JSON array in the request's pool: [{"jurisdiction":…,"rule_version":…,"source":…},…]. NULL when one decided.
 */
const char *dom__refusal_jurisdictions(h2o_mem_pool_t *pool, const dom_decision_t *d);

/** Sends a refusal as JSON (RFC 7725 Link for 451, Retry-After for 503). */
void dom__respond_refusal(h2o_req_t *req, const dom__refusal_t *r);

/** Sets status, reason and headers of a refusal and returns its JSON body (in the request pool). */
h2o_iovec_t dom__refusal_prepare(h2o_req_t *req, const dom__refusal_t *r);

/** The HTTP reason phrase of a status. */
const char *dom__status_text(int status);

#endif

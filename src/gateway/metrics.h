/*
 * Step 7, counting: per-thread counters and latency histograms, summed when /metrics is
 * scraped. The request path only touches its own thread's memory with plain (relaxed)
 * loads and stores: no locked instructions, no shared cache lines. The scraper reads the
 * same words with relaxed loads, so a scrape sees every count at most one request late.
 */
#ifndef DOM_GATEWAY_METRICS_H
#define DOM_GATEWAY_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "domicile/common.h"
#include "domicile/proxyproto.h"
#include "util/text.h"

/** Upper bounds (seconds) of the latency histogram buckets; +Inf is implied after the last. */
#define DOM__HIST_BUCKETS 14
extern const double dom__hist_bounds[DOM__HIST_BUCKETS];

typedef struct dom__histogram {
    uint64_t buckets[DOM__HIST_BUCKETS + 1]; /* not cumulative; the last is +Inf */
    uint64_t count;
    uint64_t sum_ns;
} dom__histogram_t;

/** The labels of domicile_requests_total. Strings are copied into the entry. */
typedef struct dom__request_labels {
    const char *jurisdiction; /* NULL: "none" */
    const char *class_name;   /* NULL: "none" */
    const char *action;       /* "route", "reject" */
    int status;
    const char *region; /* NULL: "" */
} dom__request_labels_t;

typedef struct dom__request_counter {
    char jurisdiction[DOM_NAME_MAX + 1], class_name[DOM_NAME_MAX + 1], region[DOM_NAME_MAX + 1];
    char action[8];
    int status;
    uint32_t hash;
    int used; /* published with release after the labels are written */
    uint64_t count;
} dom__request_counter_t;

/** Bumps a counter owned by the calling thread (no locked instruction; readers use relaxed loads). */
#define DOM__COUNT(p) __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED)
#define DOM__COUNT_ADD(p, n) __atomic_store_n((p), __atomic_load_n((p), __ATOMIC_RELAXED) + (n), __ATOMIC_RELAXED)
#define DOM__READ(p) __atomic_load_n((p), __ATOMIC_RELAXED)

/**
 * Why a proxy_protocol connection was closed before h2o saw it: the parser's reasons
 * (dom_proxyproto_reason_t, 1..DOM_PROXYPROTO_N_REASONS-1) and these of the gateway's own.
 */
enum {
    DOM__PROXY_TRUNCATED = DOM_PROXYPROTO_N_REASONS, /* closed (or a read error) before the header was complete */
    DOM__PROXY_TIMEOUT,                              /* not complete within limits.proxy_header_timeout */
    DOM__PROXY_UNTRUSTED,                            /* the sender is not in trusted_proxies */
    DOM__PROXY_N_REFUSALS
};

/** The metrics label of a refusal index (DOM__PROXY_* or a dom_proxyproto_reason_t). */
const char *dom__proxy_refusal_name(int index);

/** One thread's counters. Written only by its thread; read by the scraper. */
typedef struct dom__metrics {
    dom__request_counter_t *table; /* open addressing, capacity a power of two */
    size_t capacity, used;
    uint64_t overflow;         /* requests whose label set did not fit (counted as jurisdiction "_overflow") */
    dom__histogram_t decision; /* steps 1-5 */
    dom__histogram_t upstream; /* forwarded: request processed → response headers */
    dom__histogram_t total;    /* whole request as h2o saw it */
    uint64_t bytes_in, bytes_out;
    uint64_t malformed_forwarding; /* malformed client-address headers */
    uint64_t invalid_pins;
    uint64_t upstream_connect_failures, upstream_retries, upstream_5xx;
    uint64_t h2_reset_connections;                 /* HTTP/2 connections cut for cancelling too many streams */
    uint64_t by_protocol[4];                       /* requests by client protocol: DOM__PROTO_* */
    uint64_t proxy_accepted[2][2];                 /* PROXY headers accepted: [version - 1][local] */
    uint64_t proxy_refused[DOM__PROXY_N_REFUSALS]; /* connections closed for their PROXY header (index 0 unused) */
} dom__metrics_t;

/** Client protocols, as audit lines and metrics name them. */
enum { DOM__PROTO_H1 = 0, DOM__PROTO_H1_TLS, DOM__PROTO_H2, DOM__PROTO_H2_TLS };

/** Sets up one thread's counters (capacity label sets, rounded up to a power of two). Errors: DOM_ENOMEM. */
int dom__metrics_init(dom__metrics_t *m, size_t capacity);
/** Frees the table. NULL and twice are safe. */
void dom__metrics_dispose(dom__metrics_t *m);

/** Counts one finished request under its labels (called by the owning thread). */
void dom__metrics_count_request(dom__metrics_t *m, const dom__request_labels_t *labels);

/** Adds one observation to a histogram of the owning thread. */
void dom__histogram_observe(dom__histogram_t *h, uint64_t ns);

/** Appends s as a Prometheus label value (escapes \\, ", newline; other control bytes are dropped). */
void dom__text_escape(dom__text_t *t, const char *s);

/** A node as /metrics and /status show it. */
typedef struct dom__metrics_node {
    const char *cluster, *region, *url;
    int up;
    uint64_t check_failures, passive_failures, transitions;
} dom__metrics_node_t;

/** A storage region's health: its nodes in the clusters that serve it, and how many are up. */
typedef struct dom__metrics_region {
    const char *name;
    size_t nodes, nodes_up;
} dom__metrics_region_t;

/** Process-wide values the scrape adds to the per-thread sums. */
typedef struct dom__metrics_globals {
    const char *instance;       /* config `instance`: this replica's name */
    uint64_t config_generation; /* 1 at start, +1 for every SIGHUP applied */
    int64_t config_loaded_at;   /* unix seconds of that load */
    const char *config_sha256;  /* of the config file that was loaded */
    int rules_loaded;
    uint64_t rules_generation;
    const char *rules_hash;
    const char *ruleset; /* the rule set's content hash (domicile/ledger.h) */
    int64_t rules_compiled_at;
    uint64_t rules_reloads, rules_reload_failures;
    const char *rules_path; /* the file in use: path as configured, inode, when it was opened */
    uint64_t rules_inode;
    int64_t rules_loaded_at;
    uint64_t rules_file_swaps, rules_file_refusals; /* files delivered by rename or symlink swap */
    int geo_loaded;
    uint64_t geo_build_epoch;
    const char *geo_type, *geo_path;
    const char *geo_sha256; /* of the file's bytes: replicas with the same database show the same */
    int64_t geo_loaded_at;  /* when the handle in use was opened and checked */
    uint64_t geo_reloads, geo_reload_failures, geo_lookup_errors;
    int audit_enabled;
    uint64_t audit_lines, audit_dropped, audit_reopens;
    int audit_ok;
    const dom__metrics_node_t *nodes;
    size_t n_nodes;
    const dom__metrics_region_t *regions; /* one per region the clusters serve, in their order */
    size_t n_regions;
    uint64_t sighup_reloads, config_reload_failures;
    int64_t start_time;
    int ready; /* what /readyz answers for this replica (admin.c) */
} dom__metrics_globals_t;

/** Renders the Prometheus text exposition (format 0.0.4) of the sum of `threads` plus `g`. */
void dom__metrics_render(dom__text_t *out, dom__metrics_t *const *threads, size_t n_threads,
                         const dom__metrics_globals_t *g);

#endif

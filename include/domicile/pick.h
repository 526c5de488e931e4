/*
 * Step 6's choice, as a pure function: from a route decision's ordered regions to one node
 * of one cluster. The gateway passes each node's health and load in as plain data; the
 * function never returns a node outside the decision's regions, whatever the health, the
 * order or the failover setting. No libh2o, no clock, no shared state.
 */
#ifndef DOMICILE_PICK_H
#define DOMICILE_PICK_H

#include <stddef.h>
#include "domicile/rules.h"

/** How a cluster spreads requests over its nodes. */
typedef enum dom_balance {
    DOM_BALANCE_ROUND_ROBIN = 0,   /* the next usable node after the cursor */
    DOM_BALANCE_LEAST_OUTSTANDING, /* the usable node with the fewest requests in flight (ties: from the cursor) */
} dom_balance_t;

/** One node as the choice sees it. */
typedef struct dom_pick_node {
    int usable;         /* up, and not already tried (refused) by this request */
    size_t outstanding; /* requests in flight to it, for least-outstanding */
} dom_pick_node_t;

/** One cluster: the region it serves and its nodes. */
typedef struct dom_pick_cluster {
    const char *region; /* a storage region name of the rule set */
    dom_balance_t balance;
    const dom_pick_node_t *nodes;
    size_t n_nodes;
    size_t cursor; /* where the search in this cluster starts (the caller advances it past the pick) */
} dom_pick_cluster_t;

typedef enum dom_pick_result {
    DOM_PICK_OK = 0,
    DOM_PICK_NO_CLUSTER, /* no allowed region has a cluster configured: 451 no_compliant_region */
    DOM_PICK_NONE_UP,    /* clusters exist but no node is usable in the regions it may use: 503 */
} dom_pick_result_t;

/** Where a request goes. */
typedef struct dom_pick {
    size_t cluster;     /* index into the clusters */
    size_t node;        /* index into that cluster's nodes */
    size_t region_rank; /* position of the region in the decision's list (0 = first choice) */
} dom_pick_t;

/**
 * Chooses a node. `regions` are the decision's region names in order (n_regions of them).
 * Regions are tried in order, skipping regions no cluster serves; in the first region that has
 * clusters, clusters are tried in configuration order and the first with a usable node gives
 * the node (by its balance). When that region has clusters but no usable node, the search ends
 * with DOM_PICK_NONE_UP under DOM_ON_UNAVAILABLE_REJECT, and goes on to the next listed region
 * under DOM_ON_UNAVAILABLE_NEXT_REGION. Never leaves the list: a cluster whose region is not
 * listed is never chosen. Returns DOM_PICK_OK (out filled), DOM_PICK_NONE_UP or DOM_PICK_NO_CLUSTER.
 */
dom_pick_result_t dom_pick(const dom_pick_cluster_t *clusters, size_t n_clusters, const char *const *regions,
                           size_t n_regions, dom_on_unavailable_t on_unavailable, dom_pick_t *out);

#endif

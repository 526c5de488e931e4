/*
 * Step 6's choice (include/domicile/pick.h): regions in the decision's order, clusters in
 * configuration order, nodes by the cluster's balance. Pure, so the one function that
 * guarantees "never outside the list" is tested over every combination (tests/unit/core/pick.c).
 */
#include <string.h>
#include "domicile/pick.h"

/* The node the cluster's balance picks among its usable ones; n_nodes when none is usable. */
static size_t pick_in_cluster(const dom_pick_cluster_t *c)
{
    size_t n = c->n_nodes, best = n;
    for (size_t i = 0; i < n; ++i) {
        /* from the cursor, so round robin rotates and least-outstanding ties do not all hit the first node */
        size_t idx = (c->cursor + i) % n;
        if (!c->nodes[idx].usable)
            continue;
        if (c->balance != DOM_BALANCE_LEAST_OUTSTANDING)
            return idx;
        if (best == n || c->nodes[idx].outstanding < c->nodes[best].outstanding)
            best = idx;
    }
    return best;
}

dom_pick_result_t dom_pick(const dom_pick_cluster_t *clusters, size_t n_clusters, const char *const *regions,
                           size_t n_regions, dom_on_unavailable_t on_unavailable, dom_pick_t *out)
{
    int any_cluster = 0;
    for (size_t r = 0; r < n_regions; ++r) {
        if (regions[r] == NULL)
            continue;
        int region_has_cluster = 0;
        for (size_t i = 0; i < n_clusters; ++i) {
            if (clusters[i].region == NULL || strcmp(clusters[i].region, regions[r]) != 0)
                continue;
            region_has_cluster = any_cluster = 1;
            size_t node = pick_in_cluster(&clusters[i]);
            if (node < clusters[i].n_nodes) {
                out->cluster = i;
                out->node = node;
                out->region_rank = r;
                return DOM_PICK_OK;
            }
        }
        if (region_has_cluster && on_unavailable == DOM_ON_UNAVAILABLE_REJECT)
            return DOM_PICK_NONE_UP;
    }
    return any_cluster ? DOM_PICK_NONE_UP : DOM_PICK_NO_CLUSTER;
}

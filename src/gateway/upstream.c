/*
 * Step 6, where to: from a route decision's ordered regions to one node. Each thread
 * holds its own copy of the clusters (connections, round-robin cursor, outstanding
 * counts), so choosing takes no lock; only a node's health is shared (atomic flag).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gateway/gateway.h"

/* The worker's timeout list for a duration: nodes with the same value share one (h2o checks each list every turn). */
static h2o_timeout_t *timeout_for(dom__upstream_t *up, h2o_loop_t *loop, uint64_t ms)
{
    for (size_t i = 0; i < up->n_timeouts; ++i)
        if (up->timeouts[i].timeout == ms)
            return &up->timeouts[i];
    h2o_timeout_t *t = &up->timeouts[up->n_timeouts++]; /* capacity reserved for every node's five values */
    h2o_timeout_init(loop, t, ms);
    return t;
}

static int node_init(dom__upstream_t *up, dom__node_t *node, const dom_config_node_t *cfg, dom__node_health_t *health,
                     dom__worker_t *w, size_t n_workers)
{
    h2o_loop_t *loop = w->ctx.loop;
    node->config = cfg;
    node->health = health;
    node->worker = w;
    int v6 = strchr(cfg->host, ':') != NULL;
    size_t len = strlen(cfg->host) + 16;
    char *authority = malloc(len);
    if (authority == NULL)
        return DOM_ENOMEM;
    node->authority.len = (size_t)snprintf(authority, len, v6 ? "[%s]:%u" : "%s:%u", cfg->host, cfg->port);
    node->authority.base = authority;
    if (h2o_url_init(&node->url, cfg->tls ? &H2O_URL_SCHEME_HTTPS : &H2O_URL_SCHEME_HTTP, node->authority,
                     h2o_iovec_init(H2O_STRLIT("/"))) != 0)
        return DOM_EINVAL;

    /* Numeric hosts skip the resolver; names are resolved per new connection (h2o's resolver threads). */
    memset(&node->addr, 0, sizeof(node->addr));
    struct sockaddr_in *sin = (void *)&node->addr;
    struct sockaddr_in6 *sin6 = (void *)&node->addr;
    if (inet_pton(AF_INET, cfg->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(cfg->port);
        node->addrlen = sizeof(*sin);
    } else if (inet_pton(AF_INET6, cfg->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(cfg->port);
        node->addrlen = sizeof(*sin6);
    }
    h2o_linklist_init_anchor(&node->idle);
    h2o_linklist_init_anchor(&node->waiting);
    /* every worker holds its share of the node's connections: together never more than max_connections */
    size_t max = cfg->upstream.max_connections;
    node->max_conns = max / n_workers + (w->index < max % n_workers);
    const dom_config_upstream_t *u = &cfg->upstream;
    node->connect_timeout = timeout_for(up, loop, u->connect_timeout_ms);
    node->first_byte_timeout = timeout_for(up, loop, u->first_byte_timeout_ms);
    node->idle_timeout = timeout_for(up, loop, u->idle_timeout_ms);
    node->keepalive_timeout = timeout_for(up, loop, u->keepalive_timeout_ms);
    node->queue_timeout = timeout_for(up, loop, u->queue_timeout_ms);
    return 0;
}

int dom__upstream_init(dom__upstream_t *out, const dom_config_t *cfg, dom__node_health_t *health, dom__worker_t *w,
                       size_t n_workers)
{
    memset(out, 0, sizeof(*out));
    if (cfg->n_clusters == 0)
        return 0;
    size_t n_nodes = 0;
    for (size_t i = 0; i < cfg->n_clusters; ++i)
        n_nodes += cfg->clusters[i].n_nodes;
    /* Clusters, nodes and timeout lists live as long as the process: requests may still hold them at exit. */
    dom__cluster_t *clusters = calloc(cfg->n_clusters, sizeof(*clusters));
    dom_pick_cluster_t *view = calloc(cfg->n_clusters, sizeof(*view));
    out->cap_timeouts = 5 * n_nodes;
    out->timeouts = calloc(out->cap_timeouts, sizeof(*out->timeouts));
    if (clusters == NULL || view == NULL || out->timeouts == NULL)
        return DOM_ENOMEM;
    out->clusters = clusters;
    out->view = view;
    out->n_clusters = cfg->n_clusters;
    size_t h = 0;
    for (size_t i = 0; i < cfg->n_clusters; ++i) {
        const dom_config_cluster_t *cc = &cfg->clusters[i];
        dom_pick_node_t *nodes = calloc(cc->n_nodes, sizeof(*nodes));
        clusters[i].config = cc;
        clusters[i].n_nodes = cc->n_nodes;
        if (nodes == NULL || (clusters[i].nodes = calloc(cc->n_nodes, sizeof(dom__node_t))) == NULL)
            return DOM_ENOMEM;
        view[i] =
            (dom_pick_cluster_t){.region = cc->region, .balance = cc->balance, .nodes = nodes, .n_nodes = cc->n_nodes};
        for (size_t j = 0; j < cc->n_nodes; ++j) {
            int ret = node_init(out, &clusters[i].nodes[j], &cc->nodes[j], &health[h++], w, n_workers);
            if (ret != 0)
                return ret;
            clusters[i].nodes[j].cluster_name = cc->name;
        }
    }
    return 0;
}

static int skipped(const dom__node_t *node, const dom__node_t *const *skip, size_t n_skip)
{
    for (size_t i = 0; i < n_skip; ++i)
        if (skip[i] == node)
            return 1;
    return 0;
}

dom_pick_result_t dom__upstream_pick(dom__upstream_t *up, const dom_ruleset_t *rules, const dom_decision_t *d,
                                     const dom__node_t *const *skip, size_t n_skip, dom__node_t **node,
                                     const char **region)
{
    const char *regions[DOM_MAX_REGIONS];
    size_t n_regions = d->n_regions < DOM_MAX_REGIONS ? d->n_regions : DOM_MAX_REGIONS;
    for (size_t r = 0; r < n_regions; ++r)
        regions[r] = d->regions[r] < rules->n_regions ? rules->regions[d->regions[r]].name : NULL;
    /* health is shared (relaxed loads), the outstanding counts are this thread's own */
    for (size_t i = 0; i < up->n_clusters; ++i) {
        dom_pick_node_t *view = (dom_pick_node_t *)up->view[i].nodes;
        for (size_t j = 0; j < up->clusters[i].n_nodes; ++j) {
            const dom__node_t *n = &up->clusters[i].nodes[j];
            view[j].usable = __atomic_load_n(&n->health->up, __ATOMIC_RELAXED) && !skipped(n, skip, n_skip);
            view[j].outstanding = n->outstanding;
        }
    }
    dom_pick_t pick;
    dom_pick_result_t res = dom_pick(up->view, up->n_clusters, regions, n_regions, d->on_unavailable, &pick);
    if (res == DOM_PICK_OK) {
        up->view[pick.cluster].cursor = pick.node + 1;
        *node = &up->clusters[pick.cluster].nodes[pick.node];
        *region = regions[pick.region_rank];
    }
    return res;
}

/*
 * Step 6, where to: from a route decision's ordered regions to one node. Each thread
 * holds its own copy of the clusters (socket pool, round-robin cursor, outstanding
 * counts), so choosing takes no lock; only a node's health is shared (atomic flag).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gateway/gateway.h"

static int node_init(dom__node_t *node, const dom_config_node_t *cfg, dom__node_health_t *health, h2o_loop_t *loop,
                     uint64_t keepalive_ms)
{
    node->config = cfg;
    node->health = health;
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

    /* Numeric hosts skip the resolver; names are resolved per new connection by h2o. */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *sin = (void *)&ss;
    struct sockaddr_in6 *sin6 = (void *)&ss;
    if (inet_pton(AF_INET, cfg->host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(cfg->port);
        h2o_socketpool_init_by_address(&node->pool, (void *)&ss, sizeof(*sin), cfg->tls, SIZE_MAX);
    } else if (inet_pton(AF_INET6, cfg->host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(cfg->port);
        h2o_socketpool_init_by_address(&node->pool, (void *)&ss, sizeof(*sin6), cfg->tls, SIZE_MAX);
    } else {
        h2o_socketpool_init_by_hostport(&node->pool, h2o_iovec_init(cfg->host, strlen(cfg->host)), cfg->port, cfg->tls,
                                        SIZE_MAX);
    }
    /* Must happen before the first connect: the pool's idle-close timer needs a loop. */
    h2o_socketpool_set_timeout(&node->pool, loop, keepalive_ms);
    return 0;
}

int dom__upstream_init(dom__cluster_t **out, const dom_config_t *cfg, dom__node_health_t *health, h2o_loop_t *loop,
                       uint64_t keepalive_ms)
{
    *out = NULL;
    if (cfg->n_clusters == 0)
        return 0;
    dom__cluster_t *clusters = calloc(cfg->n_clusters, sizeof(*clusters));
    if (clusters == NULL)
        return DOM_ENOMEM;
    size_t h = 0;
    for (size_t i = 0; i < cfg->n_clusters; ++i) {
        const dom_config_cluster_t *cc = &cfg->clusters[i];
        clusters[i].config = cc;
        clusters[i].n_nodes = cc->n_nodes;
        /* Pools and clusters live as long as the process: requests may still hold them at exit. */
        if ((clusters[i].nodes = calloc(cc->n_nodes, sizeof(dom__node_t))) == NULL)
            return DOM_ENOMEM;
        for (size_t j = 0; j < cc->n_nodes; ++j) {
            int ret = node_init(&clusters[i].nodes[j], &cc->nodes[j], &health[h++], loop, keepalive_ms);
            if (ret != 0)
                return ret;
            clusters[i].nodes[j].cluster_name = cc->name;
        }
    }
    *out = clusters;
    return 0;
}

static int node_up(const dom__node_t *node)
{
    return __atomic_load_n(&node->health->up, __ATOMIC_RELAXED);
}

static int skipped(const dom__node_t *node, const dom__node_t *const *skip, size_t n_skip)
{
    for (size_t i = 0; i < n_skip; ++i)
        if (skip[i] == node)
            return 1;
    return 0;
}

static int usable(const dom__node_t *node, const dom__node_t *const *skip, size_t n_skip)
{
    return node_up(node) && !skipped(node, skip, n_skip);
}

static dom__node_t *pick_in_cluster(dom__cluster_t *c, const dom__node_t *const *skip, size_t n_skip)
{
    size_t n = c->n_nodes;
    if (c->config->balance == DOM_BALANCE_LEAST_OUTSTANDING) {
        dom__node_t *best = NULL;
        /* start at the cursor so ties rotate instead of always hitting the first node */
        for (size_t i = 0; i < n; ++i) {
            dom__node_t *node = &c->nodes[(c->next + i) % n];
            if (usable(node, skip, n_skip) && (best == NULL || node->outstanding < best->outstanding))
                best = node;
        }
        if (best != NULL)
            c->next = (size_t)(best - c->nodes) + 1;
        return best;
    }
    for (size_t i = 0; i < n; ++i) {
        size_t idx = (c->next + i) % n;
        if (usable(&c->nodes[idx], skip, n_skip)) {
            c->next = idx + 1;
            return &c->nodes[idx];
        }
    }
    return NULL;
}

dom__pick_result_t dom__upstream_pick(dom__cluster_t *clusters, size_t n_clusters, const dom_ruleset_t *rules,
                                      const dom_decision_t *d, const dom__node_t *const *skip, size_t n_skip,
                                      dom__node_t **node, const char **region)
{
    int any_cluster = 0;
    for (size_t r = 0; r < d->n_regions; ++r) {
        if (d->regions[r] >= rules->n_regions)
            continue;
        const char *name = rules->regions[d->regions[r]].name;
        int region_has_cluster = 0;
        for (size_t i = 0; i < n_clusters; ++i) {
            if (strcmp(clusters[i].config->region, name) != 0)
                continue;
            region_has_cluster = any_cluster = 1;
            dom__node_t *picked = pick_in_cluster(&clusters[i], skip, n_skip);
            if (picked != NULL) {
                *node = picked;
                *region = name;
                return DOM_PICK_OK;
            }
        }
        if (region_has_cluster && d->on_unavailable == DOM_ON_UNAVAILABLE_REJECT)
            return DOM_PICK_NONE_UP;
    }
    return any_cluster ? DOM_PICK_NONE_UP : DOM_PICK_NO_CLUSTER;
}

/* The `clusters` list: storage clusters, their region, nodes, balancing and health checks (docs/config.md). */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "gateway/config/section.h"

/* http://host[:port][/]  or  https://...; host is a name, IPv4 or [IPv6]. */
static int parse_node_url(const char *s, dom_config_node_t *node, const char **why)
{
    const char *p;
    if (strncasecmp(s, "http://", 7) == 0) {
        node->tls = 0;
        node->port = 80;
        p = s + 7;
    } else if (strncasecmp(s, "https://", 8) == 0) {
        node->tls = 1;
        node->port = 443;
        p = s + 8;
    } else {
        *why = "a node URL starts with http:// or https://";
        return -1;
    }
    const char *host = p, *host_end;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (end == NULL) {
            *why = "unterminated [IPv6] address";
            return -1;
        }
        host = p + 1;
        host_end = end;
        char tmp[64];
        struct in6_addr a6;
        if ((size_t)(host_end - host) >= sizeof(tmp)) {
            *why = "bad IPv6 address";
            return -1;
        }
        memcpy(tmp, host, (size_t)(host_end - host));
        tmp[host_end - host] = '\0';
        if (inet_pton(AF_INET6, tmp, &a6) != 1) {
            *why = "bad IPv6 address";
            return -1;
        }
        p = end + 1;
    } else {
        while (isalnum((unsigned char)*p) || *p == '.' || *p == '-' || *p == '_')
            ++p;
        host_end = p;
    }
    if (host_end == host || host_end - host > 253) {
        *why = "missing or too long host";
        return -1;
    }
    if (*p == ':') {
        uint64_t port;
        const char *rest = dom__config_u64(p + 1, &port);
        if (rest == NULL || port == 0 || port > 65535) {
            *why = "the port must be a number from 1 to 65535";
            return -1;
        }
        node->port = (uint16_t)port;
        p = rest;
    }
    if (strcmp(p, "/") != 0 && *p != '\0') {
        *why = "a node URL names a host and port only (no path, query or user)";
        return -1;
    }
    if ((node->host = strndup(host, (size_t)(host_end - host))) == NULL) {
        *why = "out of memory";
        return -1;
    }
    return 0;
}

/*
 * `upstream` (forward.c): how the gateway talks to a node. The same rows for a cluster (offsets in
 * dom_config_cluster_t) and for a node (in dom_config_node_t); no defaults here: 0 / NULL is "not
 * set", and dom__config_clusters_resolve fills every node's values once the whole file is read.
 */
#define UPSTREAM_DURATION(key, type, field)                                                                            \
    {                                                                                                                  \
        .name = key, .kind = DOM__CFG_U64, .offset = offsetof(type, upstream.field),                                   \
        .parse = dom__config_parse_duration, .min = 1, .max = 3600000                                                  \
    }
#define UPSTREAM_ROWS(type)                                                                                            \
    {.name = "max_connections",                                                                                        \
     .kind = DOM__CFG_UINT,                                                                                            \
     .offset = offsetof(type, upstream.max_connections),                                                               \
     .parse = dom__config_parse_count,                                                                                 \
     .min = 1,                                                                                                         \
     .max = 65536},                                                                                                    \
        UPSTREAM_DURATION("connect_timeout", type, connect_timeout_ms),                                                \
        UPSTREAM_DURATION("first_byte_timeout", type, first_byte_timeout_ms),                                          \
        UPSTREAM_DURATION("idle_timeout", type, idle_timeout_ms),                                                      \
        UPSTREAM_DURATION("keepalive_timeout", type, keepalive_timeout_ms),                                            \
        UPSTREAM_DURATION("queue_timeout", type, queue_timeout_ms),                                                    \
    {                                                                                                                  \
        .name = "tls_ca", .kind = DOM__CFG_STR, .offset = offsetof(type, upstream.tls_ca),                             \
        .parse = dom__config_parse_str_path, .mark = DOM__MARK(type, upstream.tls_ca_mark)                             \
    }

#define DEFAULT_MAX_CONNECTIONS 256
#define DEFAULT_KEEPALIVE_MS 2000
#define DEFAULT_QUEUE_TIMEOUT_MS 5000

static const dom__config_key_t cluster_upstream_keys[] = {UPSTREAM_ROWS(dom_config_cluster_t)};
static const dom__config_section_t cluster_upstream = {"upstream", "upstream.", cluster_upstream_keys,
                                                       sizeof(cluster_upstream_keys) / sizeof(cluster_upstream_keys[0]),
                                                       NULL};
static const dom__config_key_t node_upstream_keys[] = {UPSTREAM_ROWS(dom_config_node_t)};
static const dom__config_section_t node_upstream = {"upstream", "upstream.", node_upstream_keys,
                                                    sizeof(node_upstream_keys) / sizeof(node_upstream_keys[0]), NULL};

/* A node's url: fills url, tls, host and port. */
static void parse_url(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    dom_config_node_t *node = obj;
    const char *url = dom__config_scalar(p, row, v), *why = NULL;
    if (url == NULL)
        return;
    if (node->url != NULL) {
        dom__yaml_error(&p->y, v, "a node has one url");
        return;
    }
    if (parse_node_url(url, node, &why) != 0) {
        dom__yaml_error(&p->y, v, "bad node URL %s: %s", dom__yaml_show(v).s, why);
        return;
    }
    if ((node->url = dom__config_strdup(p, url)) == NULL) {
        free(node->host);
        node->host = NULL;
    }
}

static int url_equal(const void *a, const void *b)
{
    return strcmp(((const dom_config_node_t *)a)->url, ((const dom_config_node_t *)b)->url) == 0;
}

static void url_release(void *obj)
{
    dom_config_node_t *node = obj;
    free(node->url);
    free(node->host);
    node->url = node->host = NULL;
}

static const dom__config_key_t node_keys[] = {
    {.name = "url",
     .kind = DOM__CFG_OTHER,
     .parse = parse_url,
     .label = "a node URL",
     .equal = url_equal,
     .release = url_release},
    {.name = "upstream",
     .kind = DOM__CFG_SECTION,
     .section = &node_upstream,
     .mark = DOM__MARK(dom_config_node_t, upstream.mark)},
};

static void check_node(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    (void)obj;
    if (!dom__yaml_has(seen, 0))
        dom__yaml_error(&p->y, map, "a node needs a url");
}

static const dom__config_section_t node_section = {"a node", "", node_keys, sizeof(node_keys) / sizeof(node_keys[0]),
                                                   check_node};

/* nodes: each a URL, or a mapping {url, upstream}. */
static void parse_nodes(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    dom_config_cluster_t *c = obj;
    if ((c->nodes = dom__config_list(p, v, "nodes", sizeof(*c->nodes), "a cluster needs at least one node")) == NULL)
        return;
    DOM__YAML_FOR_ITEMS(&p->y, v, it)
    {
        yaml_node_t *item = dom__yaml_node(&p->y, *it);
        if (item == NULL)
            continue;
        dom_config_node_t *node = &c->nodes[c->n_nodes];
        if (item->type == YAML_MAPPING_NODE)
            dom__config_walk(p, &node_section, item, node);
        else
            parse_url(p, &node_keys[0], item, node);
        if (node->url == NULL) { /* reported */
            dom__config_section_release(&node_section, node);
            memset(node, 0, sizeof(*node));
            continue;
        }
        node->mark = dom__yaml_mark(item);
        ++c->n_nodes;
    }
}

/* The nodes, each with its resolved upstream values (a cluster's own upstream rows compare as written). */
static int nodes_equal(const void *a, const void *b)
{
    const dom_config_cluster_t *x = a, *y = b;
    if (x->n_nodes != y->n_nodes)
        return 0;
    for (size_t i = 0; i < x->n_nodes; ++i)
        if (!dom__config_section_equal(&node_section, &x->nodes[i], &y->nodes[i]))
            return 0;
    return 1;
}

static void nodes_release(void *obj)
{
    dom_config_cluster_t *c = obj;
    for (size_t i = 0; i < c->n_nodes; ++i)
        dom__config_section_release(&node_section, &c->nodes[i]);
    free(c->nodes);
    c->nodes = NULL;
    c->n_nodes = 0;
}

/* health.path: the active check's GET path. */
static void parse_health_path(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    const char *s = dom__config_scalar(p, row, v);
    if (s == NULL)
        return;
    int ok = s[0] == '/' && strlen(s) < 1024;
    for (const char *c = s; ok && *c; ++c)
        ok = (unsigned char)*c > 0x20 && (unsigned char)*c < 0x7f;
    if (!ok) {
        dom__yaml_error(&p->y, v, "health.path must start with / and hold no spaces or control characters");
        return;
    }
    char **field = DOM__FIELD(char *, row, obj), *d = dom__config_strdup(p, s);
    if (d != NULL) {
        free(*field);
        *field = d;
    }
}

#define HEALTH(field) offsetof(dom_config_cluster_t, health.field)

static const dom__config_key_t health_keys[] = {
    {.name = "path", .kind = DOM__CFG_STR, .offset = HEALTH(path), .parse = parse_health_path},
    {.name = "interval",
     .kind = DOM__CFG_U64,
     .offset = HEALTH(interval_ms),
     .parse = dom__config_parse_duration,
     .min = 10,
     .max = 3600000,
     .def = 2000},
    {.name = "timeout",
     .kind = DOM__CFG_U64,
     .offset = HEALTH(timeout_ms),
     .parse = dom__config_parse_duration,
     .min = 10,
     .max = 3600000,
     .def = 1000},
    {.name = "rise",
     .kind = DOM__CFG_UINT,
     .offset = HEALTH(rise),
     .parse = dom__config_parse_count,
     .min = 1,
     .max = 1000,
     .def = 2},
    {.name = "fall",
     .kind = DOM__CFG_UINT,
     .offset = HEALTH(fall),
     .parse = dom__config_parse_count,
     .min = 1,
     .max = 1000,
     .def = 3},
    {.name = "passive_fall",
     .kind = DOM__CFG_UINT,
     .offset = HEALTH(passive_fall),
     .parse = dom__config_parse_count,
     .max = 1000,
     .def = 3},
    {.name = "passive_cooldown",
     .kind = DOM__CFG_U64,
     .offset = HEALTH(passive_cooldown_ms),
     .parse = dom__config_parse_duration,
     .min = 10,
     .max = 3600000,
     .def = 5000},
};

static const dom__config_section_t health = {"health", "health.", health_keys,
                                             sizeof(health_keys) / sizeof(health_keys[0]), NULL};

static const char *const balances[] = {"round-robin", "least-outstanding", NULL};

enum { K_NAME, K_REGION, K_BALANCE, K_NODES, K_HEALTH, K_UPSTREAM };

static const dom__config_key_t keys[] = {
    [K_NAME] = {.name = "name",
                .kind = DOM__CFG_STR,
                .offset = offsetof(dom_config_cluster_t, name),
                .parse = dom__config_parse_name,
                .label = "cluster name"},
    [K_REGION] = {.name = "region",
                  .kind = DOM__CFG_STR,
                  .offset = offsetof(dom_config_cluster_t, region),
                  .parse = dom__config_parse_name,
                  .mark = DOM__MARK(dom_config_cluster_t, region_mark)},
    [K_BALANCE] = {.name = "balance",
                   .kind = DOM__CFG_INT,
                   .offset = offsetof(dom_config_cluster_t, balance),
                   .parse = dom__config_parse_enum,
                   .choices = balances},
    [K_NODES] =
        {.name = "nodes", .kind = DOM__CFG_OTHER, .parse = parse_nodes, .equal = nodes_equal, .release = nodes_release},
    [K_HEALTH] = {.name = "health", .kind = DOM__CFG_SECTION, .section = &health},
    [K_UPSTREAM] = {.name = "upstream",
                    .kind = DOM__CFG_SECTION,
                    .section = &cluster_upstream,
                    .mark = DOM__MARK(dom_config_cluster_t, upstream.mark)},
};

_Static_assert(sizeof(dom_balance_t) == sizeof(int), "balance is read as an int");

static void check_cluster(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    const dom_config_cluster_t *c = obj;
    const dom_config_t *cfg = p->cfg;
    static const char *const required[] = {[K_NAME] = "a name", [K_REGION] = "a region", [K_NODES] = "nodes"};
    for (size_t k = 0; k <= K_NODES; ++k)
        if (required[k] != NULL && !dom__yaml_has(seen, k))
            dom__yaml_error(&p->y, map, "a cluster needs %s", required[k]);
    for (const dom_config_cluster_t *other = cfg->clusters; c->name != NULL && other < c; ++other)
        if (other->name != NULL && strcmp(other->name, c->name) == 0) {
            dom__yaml_error(&p->y, map, "cluster name \"%s\" is used twice (first at line %zu)", c->name,
                            other->mark.line);
            break;
        }
    if (c->health.path != NULL && c->health.timeout_ms > c->health.interval_ms)
        dom__yaml_error(&p->y, map, "cluster %s: health.timeout must not exceed health.interval",
                        c->name != NULL ? c->name : "");
}

const dom__config_section_t dom__config_cluster = {"a cluster", "", keys, sizeof(keys) / sizeof(keys[0]),
                                                   check_cluster};

void dom__config_parse_clusters(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value, void *obj)
{
    dom_config_t *cfg = obj;
    if ((cfg->clusters = dom__config_list(p, value, "clusters", sizeof(*cfg->clusters), NULL)) == NULL)
        return;
    DOM__YAML_FOR_ITEMS(&p->y, value, it)
    {
        yaml_node_t *item = dom__yaml_node(&p->y, *it);
        if (item == NULL)
            continue;
        dom_config_cluster_t *c = &cfg->clusters[cfg->n_clusters++];
        c->mark = dom__yaml_mark(item);
        dom__config_defaults(p, &dom__config_cluster, c);
        dom__config_walk(p, &dom__config_cluster, item, c);
    }
}

int dom__config_clusters_equal(const void *a, const void *b)
{
    const dom_config_t *x = a, *y = b;
    if (x->n_clusters != y->n_clusters)
        return 0;
    for (size_t i = 0; i < x->n_clusters; ++i)
        if (!dom__config_section_equal(&dom__config_cluster, &x->clusters[i], &y->clusters[i]))
            return 0;
    return 1;
}

void dom__config_clusters_release(void *obj)
{
    dom_config_t *cfg = obj;
    for (size_t i = 0; i < cfg->n_clusters; ++i)
        dom__config_section_release(&dom__config_cluster, &cfg->clusters[i]);
    free(cfg->clusters);
    cfg->clusters = NULL;
    cfg->n_clusters = 0;
}

/*
 * Every node's upstream values: its own keys, else its cluster's, else the defaults (the timeouts
 * default to limits.upstream_timeout, known only once the whole file is read). Each worker thread
 * holds its own share of max_connections, so there must be at least one per thread.
 */
void dom__config_clusters_resolve(dom__config_parser_t *p, dom_config_t *cfg)
{
    for (size_t i = 0; i < cfg->n_clusters; ++i) {
        const dom_config_upstream_t *c = &cfg->clusters[i].upstream;
        for (size_t j = 0; j < cfg->clusters[i].n_nodes; ++j) {
            dom_config_node_t *node = &cfg->clusters[i].nodes[j];
            dom_config_upstream_t *u = &node->upstream;
#define INHERIT(field, dflt) u->field = u->field ? u->field : c->field ? c->field : (dflt)
            INHERIT(max_connections, DEFAULT_MAX_CONNECTIONS);
            INHERIT(connect_timeout_ms, cfg->limits.upstream_timeout_ms);
            INHERIT(first_byte_timeout_ms, cfg->limits.upstream_timeout_ms);
            INHERIT(idle_timeout_ms, cfg->limits.upstream_timeout_ms);
            INHERIT(keepalive_timeout_ms, DEFAULT_KEEPALIVE_MS);
            INHERIT(queue_timeout_ms, DEFAULT_QUEUE_TIMEOUT_MS);
#undef INHERIT
            if (u->tls_ca == NULL && c->tls_ca != NULL) {
                u->tls_ca = dom__config_strdup(p, c->tls_ca);
                u->tls_ca_mark = c->tls_ca_mark;
            }
            if (u->max_connections < cfg->threads)
                dom__yaml_report(&p->y, NULL,
                                 u->mark.line   ? &u->mark
                                 : c->mark.line ? &c->mark
                                                : &node->mark,
                                 0,
                                 "node %s: upstream.max_connections (%u) must be at least threads (%u): every "
                                 "worker thread holds its own share",
                                 node->url, u->max_connections, cfg->threads);
            if (u->tls_ca != NULL && !node->tls)
                dom__yaml_report(&p->y, NULL, &u->tls_ca_mark, 1, "node %s: upstream.tls_ca is for https:// nodes",
                                 node->url);
        }
    }
}

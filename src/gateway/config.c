/*
 * Parses the gateway's YAML configuration (docs/config.md) into dom_config_t. Uses
 * libyaml's document API so every value keeps its mark, and every problem is reported
 * as file:line:col: message, like `nginx -t`. Unknown keys are errors: a typo in a
 * residency gateway's config must never silently mean "default".
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>
#include <openssl/sha.h>
#include "domicile/keyfile.h"
#include "gateway/config.h"

#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_UPSTREAM_TIMEOUT_MS 30000
#define DEFAULT_UPSTREAM_MAX_CONNECTIONS 256
#define DEFAULT_UPSTREAM_KEEPALIVE_MS 2000
#define DEFAULT_UPSTREAM_QUEUE_TIMEOUT_MS 5000
#define DEFAULT_H2_MAX_RESETS 100
#define DEFAULT_DRAIN_TIMEOUT_MS 10000
#define DEFAULT_PROXY_HEADER_TIMEOUT_MS 5000
#define DEFAULT_REQUEST_TIMEOUT_MS 10000 /* h2o's http1.req_timeout */
/*
 * Inside libh2o, twice the gateway's own bounds (limits.max_header_bytes, max_headers): the library stops what
 * must never be decoded at all (an HPACK bomb), the gateway answers a request just over its bounds with the JSON
 * refusal and an audit line.
 */
#define DEFAULT_H2_MAX_HEADER_LIST_SIZE (2 * DOM_DEFAULT_MAX_HEADER_BYTES)
#define DEFAULT_H2_MAX_HEADERS (2 * DOM_DEFAULT_MAX_HEADERS)
#define DEFAULT_H2_MAX_CONTINUATIONS 8
#define DEFAULT_H2_HEADER_BLOCK_TIMEOUT_MS 10000
#define DEFAULT_H2_BODY_BUFFER_PER_CONNECTION (16 * 1024 * 1024)
#define DEFAULT_H2_BODY_BUFFER_TOTAL (256 * 1024 * 1024)
#define DEFAULT_RECEIVE_BUFFER (256 * 1024)
#define MAX_THREADS 256

struct parse_ctx {
    dom_config_diag_t *diag;
    const char *file;
    yaml_document_t *doc;
    dom_config_t *cfg;
    int oom;
};

void dom_config_report(dom_config_diag_t *diag, const char *file, const dom_config_mark_t *mark, int is_warning,
                       const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    size_t line = mark != NULL ? mark->line : 0, col = mark != NULL ? mark->col : 0;
    if (diag != NULL) {
        if (is_warning)
            ++diag->warnings;
        else
            ++diag->errors;
        if (diag->report != NULL) {
            diag->report(diag->ctx, file, line, col, is_warning, msg);
            return;
        }
    }
    if (line != 0)
        fprintf(stderr, "%s:%zu:%zu: %s%s\n", file, line, col, is_warning ? "warning: " : "", msg);
    else
        fprintf(stderr, "%s: %s%s\n", file, is_warning ? "warning: " : "", msg);
}

static dom_config_mark_t mark_of(const yaml_node_t *node)
{
    dom_config_mark_t m = {node->start_mark.line + 1, node->start_mark.column + 1};
    return m;
}

__attribute__((format(printf, 3, 4))) static void error_at(struct parse_ctx *ctx, const yaml_node_t *node,
                                                           const char *fmt, ...)
{
    char msg[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    dom_config_mark_t m = node != NULL ? mark_of(node) : (dom_config_mark_t){0, 0};
    dom_config_report(ctx->diag, ctx->file, &m, 0, "%s", msg);
}

static yaml_node_t *node_at(struct parse_ctx *ctx, int index)
{
    return yaml_document_get_node(ctx->doc, index);
}

/* A scalar's text, or NULL (reported) if the node is not a plain string without NULs. */
static const char *scalar(struct parse_ctx *ctx, yaml_node_t *node, const char *what)
{
    if (node->type != YAML_SCALAR_NODE) {
        error_at(ctx, node, "%s must be a scalar", what);
        return NULL;
    }
    const char *s = (const char *)node->data.scalar.value;
    if (strlen(s) != node->data.scalar.length) {
        error_at(ctx, node, "%s contains a NUL character", what);
        return NULL;
    }
    return s;
}

static char *dup_str(struct parse_ctx *ctx, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        ctx->oom = 1;
    return d;
}

/* Resolves a path against the config directory; an empty value is an error. */
static char *path_value(struct parse_ctx *ctx, yaml_node_t *node, const char *what)
{
    const char *s = scalar(ctx, node, what);
    if (s == NULL)
        return NULL;
    if (*s == '\0') {
        error_at(ctx, node, "%s is empty", what);
        return NULL;
    }
    if (s[0] == '/')
        return dup_str(ctx, s);
    size_t need = strlen(ctx->cfg->dir) + 1 + strlen(s) + 1;
    char *p = malloc(need);
    if (p == NULL) {
        ctx->oom = 1;
        return NULL;
    }
    snprintf(p, need, "%s/%s", ctx->cfg->dir, s);
    return p;
}

static int bool_value(struct parse_ctx *ctx, yaml_node_t *node, const char *what, int *out)
{
    const char *s = scalar(ctx, node, what);
    if (s == NULL)
        return -1;
    static const char *const yes[] = {"true", "yes", "on", "True", "TRUE", "Yes", "On"};
    static const char *const no[] = {"false", "no", "off", "False", "FALSE", "No", "Off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); ++i) {
        if (strcmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    error_at(ctx, node, "%s must be true or false, not \"%s\"", what, s);
    return -1;
}

/* Parses leading decimal digits; returns the rest or NULL on no digits / overflow. */
static const char *parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (!isdigit((unsigned char)*p))
        return NULL;
    for (; isdigit((unsigned char)*p); ++p) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    *out = v;
    return p;
}

/* "1048576", "512k", "1m", "2g" (binary multiples; a trailing b/B is allowed). */
static int size_value(struct parse_ctx *ctx, yaml_node_t *node, const char *what, uint64_t *out)
{
    const char *s = scalar(ctx, node, what);
    if (s == NULL)
        return -1;
    uint64_t v, mult = 1;
    const char *rest = parse_u64(s, &v);
    if (rest == NULL)
        goto bad;
    switch (*rest) {
    case 'k':
    case 'K':
        mult = 1ull << 10;
        ++rest;
        break;
    case 'm':
    case 'M':
        mult = 1ull << 20;
        ++rest;
        break;
    case 'g':
    case 'G':
        mult = 1ull << 30;
        ++rest;
        break;
    default:
        break;
    }
    if (*rest == 'b' || *rest == 'B')
        ++rest;
    if (*rest != '\0')
        goto bad;
    if (v > (UINT64_MAX >> 2) / mult) {
        error_at(ctx, node, "%s \"%s\" is too large", what, s);
        return -1;
    }
    if (v == 0) {
        error_at(ctx, node, "%s must be greater than zero", what);
        return -1;
    }
    *out = v * mult;
    return 0;
bad:
    error_at(ctx, node, "%s \"%s\" is not a size (a number with an optional k, m or g suffix)", what, s);
    return -1;
}

/* "30s", "500ms", "2m", or a bare number of seconds; returns milliseconds. */
static int duration_value(struct parse_ctx *ctx, yaml_node_t *node, const char *what, uint64_t *out_ms)
{
    const char *s = scalar(ctx, node, what);
    if (s == NULL)
        return -1;
    uint64_t v, mult;
    const char *rest = parse_u64(s, &v);
    if (rest == NULL)
        goto bad;
    if (strcmp(rest, "ms") == 0)
        mult = 1;
    else if (strcmp(rest, "s") == 0 || *rest == '\0')
        mult = 1000;
    else if (strcmp(rest, "m") == 0)
        mult = 60000;
    else
        goto bad;
    if (v > (uint64_t)INT32_MAX / mult) { /* h2o timeouts are 32-bit milliseconds */
        error_at(ctx, node, "%s \"%s\" is too long", what, s);
        return -1;
    }
    *out_ms = v * mult;
    return 0;
bad:
    error_at(ctx, node, "%s \"%s\" is not a duration (e.g. 30s, 500ms, 2m)", what, s);
    return -1;
}

static int is_token_char(int c)
{
    return isalnum(c) || strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* An HTTP header name, returned lower-cased (h2o matches header names in lower case). */
static char *header_name_value(struct parse_ctx *ctx, yaml_node_t *node, const char *what)
{
    const char *s = scalar(ctx, node, what);
    if (s == NULL)
        return NULL;
    if (*s == '\0' || strlen(s) > 128) {
        error_at(ctx, node, "%s must be a header name of 1 to 128 characters", what);
        return NULL;
    }
    for (const char *p = s; *p; ++p) {
        if (!is_token_char((unsigned char)*p)) {
            error_at(ctx, node, "%s \"%s\" is not a valid header name", what, s);
            return NULL;
        }
    }
    char *d = dup_str(ctx, s);
    if (d != NULL)
        for (char *p = d; *p; ++p)
            *p = (char)tolower((unsigned char)*p);
    return d;
}

/* "a.b.c.d:port" or "[v6]:port" (numeric only: a listener binds, it does not resolve). */
static int parse_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
    char host[64];
    const char *colon;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':') {
            *why = "an IPv6 address must be written [address]:port";
            return -1;
        }
        if ((size_t)(end - s - 1) >= sizeof(host)) {
            *why = "address too long";
            return -1;
        }
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            *why = "expected host:port";
            return -1;
        }
        if ((size_t)(colon - s) >= sizeof(host)) {
            *why = "address too long";
            return -1;
        }
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        if (strchr(host, ':') != NULL) {
            *why = "an IPv6 address must be written [address]:port";
            return -1;
        }
        if (strcmp(host, "*") == 0 || host[0] == '\0')
            strcpy(host, "0.0.0.0");
    }
    uint64_t port;
    const char *rest = parse_u64(colon + 1, &port);
    if (rest == NULL || *rest != '\0' || port == 0 || port > 65535) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *len = sizeof(*sin);
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*sin6);
    } else {
        *why = "the host must be a numeric IPv4 or [IPv6] address";
        return -1;
    }
    return 0;
}

/* Iterates a mapping, checking keys are unique scalars. Returns 0 to go on. */
typedef int (*key_fn)(struct parse_ctx *ctx, const char *key, yaml_node_t *keynode, yaml_node_t *value, void *arg);

static int each_key(struct parse_ctx *ctx, yaml_node_t *map, const char *what, key_fn fn, void *arg)
{
    if (map->type != YAML_MAPPING_NODE) {
        error_at(ctx, map, "%s must be a mapping", what);
        return -1;
    }
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; ++pair) {
        yaml_node_t *k = node_at(ctx, pair->key), *v = node_at(ctx, pair->value);
        if (k == NULL || v == NULL)
            continue;
        const char *key = scalar(ctx, k, "a key");
        if (key == NULL)
            continue;
        int dup = 0;
        for (yaml_node_pair_t *prev = map->data.mapping.pairs.start; prev < pair; ++prev) {
            yaml_node_t *pk = node_at(ctx, prev->key);
            if (pk != NULL && pk->type == YAML_SCALAR_NODE && strcmp((const char *)pk->data.scalar.value, key) == 0)
                dup = 1;
        }
        if (dup) {
            error_at(ctx, k, "duplicate key \"%s\" in %s", key, what);
            continue;
        }
        fn(ctx, key, k, v, arg);
    }
    return 0;
}

static void free_methods(char **list)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; ++i)
        free(list[i]);
    free(list);
}

static int check_seq(struct parse_ctx *ctx, yaml_node_t *node, const char *what)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        error_at(ctx, node, "%s must be a list", what);
        return -1;
    }
    return 0;
}

#define SEQ_LEN(node) ((size_t)((node)->data.sequence.items.top - (node)->data.sequence.items.start))

/*
 * The start of every list parser: `node` must be a list; an empty one is an error when
 * `empty_error` says so. Returns a zeroed array of as many elements as the list has, or NULL when
 * there is nothing to fill (not a list, empty, or out of memory: ctx->oom is then set).
 */
static void *seq_array(struct parse_ctx *ctx, yaml_node_t *node, const char *what, size_t elem_size,
                       const char *empty_error)
{
    if (check_seq(ctx, node, what) != 0)
        return NULL;
    size_t n = SEQ_LEN(node);
    if (n == 0) {
        if (empty_error != NULL)
            error_at(ctx, node, "%s", empty_error);
        return NULL;
    }
    void *array = calloc(n, elem_size);
    if (array == NULL)
        ctx->oom = 1;
    return array;
}

static void unknown_key(struct parse_ctx *ctx, yaml_node_t *k, const char *key, const char *where, const char *known)
{
    error_at(ctx, k, "unknown key \"%s\" in %s (known: %s)", key, where, known);
}

/* ---- listen ---- */

static int listener_tls_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_listener_t *l = arg;
    if (strcmp(key, "certificate") == 0) {
        free(l->tls_certificate);
        l->tls_certificate = path_value(ctx, v, "tls.certificate");
    } else if (strcmp(key, "key") == 0) {
        free(l->tls_key);
        l->tls_key = path_value(ctx, v, "tls.key");
    } else {
        unknown_key(ctx, k, key, "tls", "certificate, key");
    }
    return 0;
}

static int listener_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_listener_t *l = arg;
    if (strcmp(key, "address") == 0) {
        const char *s = scalar(ctx, v, "address");
        const char *why = NULL;
        if (s == NULL)
            return 0;
        if (parse_hostport(s, &l->addr, &l->addrlen, &why) != 0) {
            error_at(ctx, v, "bad listen address \"%s\": %s", s, why);
            return 0;
        }
        l->address = dup_str(ctx, s);
    } else if (strcmp(key, "tls") == 0) {
        l->tls_mark = mark_of(v);
        each_key(ctx, v, "tls", listener_tls_key, l);
        if (v->type == YAML_MAPPING_NODE && (l->tls_certificate == NULL) != (l->tls_key == NULL))
            error_at(ctx, v, "tls needs both certificate and key");
        else if (v->type == YAML_MAPPING_NODE && l->tls_certificate == NULL)
            error_at(ctx, v, "tls needs certificate and key");
    } else if (strcmp(key, "proxy_protocol") == 0) {
        bool_value(ctx, v, "proxy_protocol", &l->proxy_protocol);
    } else {
        unknown_key(ctx, k, key, "a listener", "address, tls, proxy_protocol");
    }
    return 0;
}

static void parse_listen(struct parse_ctx *ctx, yaml_node_t *node)
{
    dom_config_t *cfg = ctx->cfg;
    if ((cfg->listeners =
             seq_array(ctx, node, "listen", sizeof(*cfg->listeners), "listen needs at least one listener")) == NULL)
        return;
    size_t n = SEQ_LEN(node);
    for (size_t i = 0; i < n; ++i) {
        yaml_node_t *item = node_at(ctx, node->data.sequence.items.start[i]);
        if (item == NULL)
            continue;
        dom_config_listener_t *l = &cfg->listeners[cfg->n_listeners++];
        l->mark = mark_of(item);
        if (item->type == YAML_SCALAR_NODE) { /* shorthand: - "127.0.0.1:8080" */
            listener_key(ctx, "address", item, item, l);
            continue;
        }
        each_key(ctx, item, "a listener", listener_key, l);
        if (item->type == YAML_MAPPING_NODE && l->address == NULL && l->addrlen == 0)
            error_at(ctx, item, "a listener needs an address");
    }
    /* Two listeners on one address would fail at bind time with a less helpful message. */
    for (size_t i = 0; i < cfg->n_listeners; ++i)
        for (size_t j = 0; j < i; ++j)
            if (cfg->listeners[i].addrlen != 0 && cfg->listeners[i].addrlen == cfg->listeners[j].addrlen &&
                memcmp(&cfg->listeners[i].addr, &cfg->listeners[j].addr, cfg->listeners[i].addrlen) == 0) {
                dom_config_report(ctx->diag, ctx->file, &cfg->listeners[i].mark, 0,
                                  "listener %s is configured twice (first at line %zu)", cfg->listeners[i].address,
                                  cfg->listeners[j].mark.line);
            }
}

/* ---- trusted_proxies, overrides ---- */

static void parse_trusted(struct parse_ctx *ctx, yaml_node_t *node)
{
    if (check_seq(ctx, node, "trusted_proxies") != 0)
        return;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; ++it) {
        yaml_node_t *item = node_at(ctx, *it);
        const char *s = item != NULL ? scalar(ctx, item, "a trusted proxy") : NULL;
        if (s == NULL)
            continue;
        dom_cidr_t cidr;
        if (dom_cidr_parse(s, strlen(s), &cidr) != 0) {
            error_at(ctx, item, "\"%s\" is not a network (a.b.c.d/n or x::y/n, host bits zero)", s);
            continue;
        }
        if (dom_cidr_list_add(&ctx->cfg->trusted_proxies, &cidr) != 0)
            ctx->oom = 1;
    }
}

static int is_upper2(const char *s)
{
    return strlen(s) == 2 && isupper((unsigned char)s[0]) && isupper((unsigned char)s[1]);
}

/* ISO 3166-2: "US-CA" (country, '-', 1-3 alphanumerics). */
static int is_subdivision(const char *s)
{
    size_t n = strlen(s);
    if (n < 4 || n > 6 || !isupper((unsigned char)s[0]) || !isupper((unsigned char)s[1]) || s[2] != '-')
        return 0;
    for (size_t i = 3; i < n; ++i)
        if (!isupper((unsigned char)s[i]) && !isdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int is_name(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; ++i)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
            return 0;
    return 1;
}

struct override_state {
    dom_geo_override_t *ov;
    int has_cidr;
};

static int override_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    struct override_state *st = arg;
    dom_geo_override_t *ov = st->ov;
    const char *s;
    if (strcmp(key, "cidr") == 0) {
        if ((s = scalar(ctx, v, "cidr")) == NULL)
            return 0;
        if (dom_cidr_parse(s, strlen(s), &ov->cidr) != 0)
            error_at(ctx, v, "\"%s\" is not a network (a.b.c.d/n or x::y/n, host bits zero)", s);
        else
            st->has_cidr = 1;
    } else if (strcmp(key, "country") == 0) {
        if ((s = scalar(ctx, v, "country")) == NULL)
            return 0;
        /* country: DE, or country: US-CA (a subdivision names its country too) */
        if (is_upper2(s)) {
            memcpy(ov->country, s, 3);
        } else if (is_subdivision(s)) {
            memcpy(ov->country, s, 2);
            ov->country[2] = '\0';
            snprintf(ov->subdivision, sizeof(ov->subdivision), "%s", s);
        } else {
            error_at(ctx, v, "country \"%s\" must be an ISO 3166-1 code (DE) or ISO 3166-2 code (US-CA)", s);
        }
    } else if (strcmp(key, "subdivision") == 0) {
        if ((s = scalar(ctx, v, "subdivision")) == NULL)
            return 0;
        if (!is_subdivision(s))
            error_at(ctx, v, "subdivision \"%s\" must be an ISO 3166-2 code such as US-CA", s);
        else
            snprintf(ov->subdivision, sizeof(ov->subdivision), "%s", s);
    } else if (strcmp(key, "jurisdiction") == 0) {
        if ((s = scalar(ctx, v, "jurisdiction")) == NULL)
            return 0;
        if (!is_name(s, DOM_NAME_MAX))
            error_at(ctx, v, "jurisdiction \"%s\" must be 1-%d of [A-Za-z0-9_-]", s, DOM_NAME_MAX);
        else
            snprintf(ov->jurisdiction, sizeof(ov->jurisdiction), "%s", s);
    } else {
        unknown_key(ctx, k, key, "an override", "cidr, country, subdivision, jurisdiction");
    }
    return 0;
}

static void parse_overrides(struct parse_ctx *ctx, yaml_node_t *node)
{
    dom_config_t *cfg = ctx->cfg;
    if ((cfg->overrides = seq_array(ctx, node, "overrides", sizeof(*cfg->overrides), NULL)) == NULL)
        return;
    size_t n = SEQ_LEN(node);
    for (size_t i = 0; i < n; ++i) {
        yaml_node_t *item = node_at(ctx, node->data.sequence.items.start[i]);
        if (item == NULL)
            continue;
        struct override_state st = {&cfg->overrides[cfg->n_overrides], 0};
        size_t before = ctx->diag->errors;
        if (each_key(ctx, item, "an override", override_key, &st) != 0)
            continue;
        if (ctx->diag->errors != before)
            continue;
        if (!st.has_cidr) {
            error_at(ctx, item, "an override needs a cidr");
            continue;
        }
        int has_country = st.ov->country[0] != '\0', has_j = st.ov->jurisdiction[0] != '\0';
        if (has_country == has_j) {
            error_at(ctx, item, "an override needs either a country or a jurisdiction (not both)");
            continue;
        }
        if (st.ov->subdivision[0] != '\0' && !has_country) {
            error_at(ctx, item, "an override with a subdivision needs its country");
            continue;
        }
        if (st.ov->subdivision[0] != '\0' && strncmp(st.ov->subdivision, st.ov->country, 2) != 0) {
            error_at(ctx, item, "subdivision %s is not in country %s", st.ov->subdivision, st.ov->country);
            continue;
        }
        ++cfg->n_overrides;
    }
}

/* ---- geo, pins, limits, admin ---- */

static int geo_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_t *cfg = ctx->cfg;
    const char *s;
    char **slot = NULL;
    if (strcmp(key, "database") == 0) {
        free(cfg->geo.database);
        cfg->geo.database = path_value(ctx, v, "geo.database");
        cfg->geo.mark = mark_of(v);
        return 0;
    }
    if (strcmp(key, "shape") == 0) {
        if ((s = scalar(ctx, v, "geo.shape")) == NULL)
            return 0;
        if (strcmp(s, "auto") == 0)
            cfg->geo.shape = DOM_GEO_SHAPE_AUTO;
        else if (strcmp(s, "geoip2") == 0)
            cfg->geo.shape = DOM_GEO_SHAPE_GEOIP2;
        else if (strcmp(s, "flat") == 0)
            cfg->geo.shape = DOM_GEO_SHAPE_FLAT;
        else
            error_at(ctx, v, "geo.shape must be auto, geoip2 or flat, not \"%s\"", s);
        return 0;
    }
    if (strcmp(key, "reload_poll") == 0) {
        uint64_t ms;
        if (duration_value(ctx, v, "geo.reload_poll", &ms) == 0) {
            if (ms < 10)
                error_at(ctx, v, "geo.reload_poll must be at least 10ms");
            else
                cfg->geo_reload_poll_ms = ms;
        }
        return 0;
    }
    if (strcmp(key, "country_path") == 0)
        slot = &cfg->geo.country_path;
    else if (strcmp(key, "subdivision_path") == 0)
        slot = &cfg->geo.subdivision_path;
    else if (strcmp(key, "eu_path") == 0)
        slot = &cfg->geo.eu_path;
    if (slot == NULL) {
        unknown_key(ctx, k, key, "geo", "database, shape, country_path, subdivision_path, eu_path, reload_poll");
        return 0;
    }
    if ((s = scalar(ctx, v, key)) == NULL)
        return 0;
    /* dot-separated keys and array indices: "subdivisions.0.iso_code" */
    int ok = *s != '\0' && s[0] != '.' && s[strlen(s) - 1] != '.' && strstr(s, "..") == NULL && strlen(s) < 256;
    for (const char *p = s; ok && *p; ++p)
        ok = isalnum((unsigned char)*p) || *p == '_' || *p == '-' || *p == '.';
    if (!ok) {
        error_at(ctx, v, "geo.%s \"%s\" must be dot-separated keys such as country.iso_code", key, s);
        return 0;
    }
    free(*slot);
    *slot = dup_str(ctx, s);
    return 0;
}

static int pins_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_t *cfg = ctx->cfg;
    if (strcmp(key, "header") == 0) {
        char *h = header_name_value(ctx, v, "pins.header");
        if (h != NULL) {
            free(cfg->pins.header);
            cfg->pins.header = h;
        }
    } else if (strcmp(key, "keys") == 0) {
        free(cfg->pins.keys);
        cfg->pins.keys = path_value(ctx, v, "pins.keys");
        cfg->pins.mark = mark_of(v);
    } else {
        unknown_key(ctx, k, key, "pins", "header, keys");
    }
    return 0;
}

/* A whole number from min to max. */
static int count_value(struct parse_ctx *ctx, yaml_node_t *node, const char *what, uint64_t min, uint64_t max,
                       unsigned *out)
{
    const char *s = scalar(ctx, node, what), *rest;
    uint64_t n = 0;
    if (s == NULL)
        return -1;
    if ((rest = parse_u64(s, &n)) == NULL || *rest != '\0' || n < min || n > max) {
        error_at(ctx, node, "%s must be a number from %llu to %llu", what, (unsigned long long)min,
                 (unsigned long long)max);
        return -1;
    }
    *out = (unsigned)n;
    return 0;
}

/* A duration greater than zero. */
static void positive_duration(struct parse_ctx *ctx, yaml_node_t *node, const char *what, uint64_t *out_ms)
{
    uint64_t ms;
    if (duration_value(ctx, node, what, &ms) == 0) {
        if (ms == 0)
            error_at(ctx, node, "%s must be greater than zero", what);
        else
            *out_ms = ms;
    }
}

static int class_limit_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_t *cfg = ctx->cfg;
    if (!is_name(key, DOM_NAME_MAX)) {
        error_at(ctx, k, "class \"%s\" must be 1-%d of [A-Za-z0-9_-]", key, DOM_NAME_MAX);
        return 0;
    }
    uint64_t size;
    if (size_value(ctx, v, "class_max_body", &size) != 0)
        return 0;
    dom_config_class_limit_t *cl = &cfg->limits.classes[cfg->limits.n_classes];
    if ((cl->class_name = dup_str(ctx, key)) == NULL)
        return 0;
    cl->max_body = size;
    cl->mark = mark_of(k);
    ++cfg->limits.n_classes;
    return 0;
}

static int limits_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_t *cfg = ctx->cfg;
    if (strcmp(key, "max_body") == 0) {
        size_value(ctx, v, "limits.max_body", &cfg->limits.max_body);
    } else if (strcmp(key, "class_max_body") == 0) {
        if (v->type != YAML_MAPPING_NODE) {
            error_at(ctx, v, "limits.class_max_body must be a mapping of class to size");
            return 0;
        }
        size_t n = (size_t)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
        if (n == 0)
            return 0;
        cfg->limits.classes = calloc(n, sizeof(*cfg->limits.classes));
        if (cfg->limits.classes == NULL) {
            ctx->oom = 1;
            return 0;
        }
        each_key(ctx, v, "limits.class_max_body", class_limit_key, NULL);
    } else if (strcmp(key, "upstream_timeout") == 0) {
        positive_duration(ctx, v, "limits.upstream_timeout", &cfg->limits.upstream_timeout_ms);
    } else if (strcmp(key, "drain_timeout") == 0) {
        duration_value(ctx, v, "limits.drain_timeout", &cfg->limits.drain_timeout_ms);
    } else if (strcmp(key, "proxy_header_timeout") == 0) {
        uint64_t ms;
        if (duration_value(ctx, v, "limits.proxy_header_timeout", &ms) == 0) {
            if (ms == 0 || ms > 60000)
                error_at(ctx, v, "limits.proxy_header_timeout must be from 1ms to 60s");
            else
                cfg->limits.proxy_header_timeout_ms = ms;
        }
    } else if (strcmp(key, "max_headers") == 0 || strcmp(key, "max_header_bytes") == 0) {
        uint64_t n = 0;
        const char *rest;
        if (strcmp(key, "max_headers") == 0) {
            const char *s = scalar(ctx, v, key);
            if (s == NULL)
                return 0;
            if ((rest = parse_u64(s, &n)) == NULL || *rest != '\0' || n < 8 || n > 10000) {
                error_at(ctx, v, "limits.max_headers must be a number from 8 to 10000");
                return 0;
            }
            cfg->limits.max_headers = n;
        } else if (size_value(ctx, v, "limits.max_header_bytes", &n) == 0) {
            if (n < 1024 || n > 16 * 1024 * 1024)
                error_at(ctx, v, "limits.max_header_bytes must be from 1k to 16m");
            else
                cfg->limits.max_header_bytes = n;
        }
    } else if (strcmp(key, "h2_max_resets") == 0) {
        count_value(ctx, v, "limits.h2_max_resets (0 = off)", 0, 1000000, &cfg->limits.h2_max_resets);
    } else if (strcmp(key, "request_timeout") == 0) {
        positive_duration(ctx, v, "limits.request_timeout", &cfg->limits.request_timeout_ms);
    } else if (strcmp(key, "h2_max_header_list_size") == 0) {
        size_value(ctx, v, "limits.h2_max_header_list_size", &cfg->limits.h2_max_header_list_size);
    } else if (strcmp(key, "h2_max_headers") == 0) {
        count_value(ctx, v, "limits.h2_max_headers", 1, 100000, &cfg->limits.h2_max_headers);
    } else if (strcmp(key, "h2_max_continuations") == 0) {
        count_value(ctx, v, "limits.h2_max_continuations", 1, 1000, &cfg->limits.h2_max_continuations);
    } else if (strcmp(key, "h2_header_block_timeout") == 0) {
        positive_duration(ctx, v, "limits.h2_header_block_timeout", &cfg->limits.h2_header_block_timeout_ms);
    } else if (strcmp(key, "h2_body_buffer_per_connection") == 0) {
        size_value(ctx, v, "limits.h2_body_buffer_per_connection", &cfg->limits.h2_body_buffer_per_connection);
    } else if (strcmp(key, "h2_body_buffer_total") == 0) {
        size_value(ctx, v, "limits.h2_body_buffer_total", &cfg->limits.h2_body_buffer_total);
    } else if (strcmp(key, "receive_buffer") == 0) {
        uint64_t size;
        if (size_value(ctx, v, "limits.receive_buffer", &size) == 0) {
            if (size < 4096 || size > 64 * 1024 * 1024)
                error_at(ctx, v, "limits.receive_buffer must be from 4k to 64m");
            else
                cfg->limits.receive_buffer = size;
        }
    } else {
        unknown_key(ctx, k, key, "limits",
                    "max_body, class_max_body, upstream_timeout, drain_timeout, h2_max_resets, proxy_header_timeout, "
                    "max_headers, max_header_bytes, request_timeout, h2_max_header_list_size, h2_max_headers, "
                    "h2_max_continuations, h2_header_block_timeout, h2_body_buffer_per_connection, "
                    "h2_body_buffer_total, receive_buffer");
    }
    return 0;
}

static int admin_tls_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_t *cfg = ctx->cfg;
    char **slot = strcmp(key, "certificate") == 0 ? &cfg->admin.tls_certificate
                  : strcmp(key, "key") == 0       ? &cfg->admin.tls_key
                  : strcmp(key, "client_ca") == 0 ? &cfg->admin.tls_client_ca
                                                  : NULL;
    if (slot == NULL) {
        unknown_key(ctx, k, key, "admin.tls", "certificate, key, client_ca");
        return 0;
    }
    char what[32];
    snprintf(what, sizeof(what), "admin.tls.%s", key);
    free(*slot);
    *slot = path_value(ctx, v, what);
    return 0;
}

static int admin_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_t *cfg = ctx->cfg;
    if (strcmp(key, "token_file") == 0) {
        free(cfg->admin.token_file);
        cfg->admin.token_file = path_value(ctx, v, "admin.token_file");
        cfg->admin.token_mark = mark_of(v);
    } else if (strcmp(key, "tls") == 0) {
        cfg->admin.tls_mark = mark_of(v);
        each_key(ctx, v, "admin.tls", admin_tls_key, NULL);
        if (v->type == YAML_MAPPING_NODE && (cfg->admin.tls_certificate == NULL || cfg->admin.tls_key == NULL))
            error_at(ctx, v, "admin.tls needs certificate and key");
    } else if (strcmp(key, "allow_unauthenticated") == 0) {
        bool_value(ctx, v, "admin.allow_unauthenticated", &cfg->admin.allow_unauthenticated);
    } else if (strcmp(key, "open_probes") == 0) {
        bool_value(ctx, v, "admin.open_probes", &cfg->admin.open_probes);
    } else if (strcmp(key, "listen") == 0) {
        const char *s = scalar(ctx, v, "admin.listen"), *why = NULL;
        if (s == NULL)
            return 0;
        if (parse_hostport(s, &cfg->admin.addr, &cfg->admin.addrlen, &why) != 0) {
            error_at(ctx, v, "bad admin.listen address \"%s\": %s", s, why);
            return 0;
        }
        free(cfg->admin.listen);
        cfg->admin.listen = dup_str(ctx, s);
        cfg->admin.mark = mark_of(v);
    } else {
        unknown_key(ctx, k, key, "admin", "listen, token_file, tls, allow_unauthenticated, open_probes");
    }
    return 0;
}

static int audit_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_t *cfg = ctx->cfg;
    const char *s;
    uint64_t n;
    if (strcmp(key, "path") == 0) {
        free(cfg->audit.path);
        cfg->audit.path = path_value(ctx, v, "audit.path");
        cfg->audit.mark = mark_of(v);
    } else if (strcmp(key, "client_address") == 0) {
        static const char *const modes[] = {"truncate", "hash", "full", "none"};
        if ((s = scalar(ctx, v, "audit.client_address")) == NULL)
            return 0;
        for (int i = 0; i < 4; ++i)
            if (strcmp(s, modes[i]) == 0) {
                cfg->audit.client_address = i;
                return 0;
            }
        error_at(ctx, v, "audit.client_address must be truncate, hash, full or none, not \"%s\"", s);
    } else if (strcmp(key, "ipv4_prefix") == 0 || strcmp(key, "ipv6_prefix") == 0) {
        unsigned max = key[3] == '4' ? 32 : 128;
        const char *rest = (s = scalar(ctx, v, key)) != NULL ? parse_u64(s, &n) : NULL;
        if (s == NULL)
            return 0;
        if (rest == NULL || *rest != '\0' || n > max) {
            error_at(ctx, v, "audit.%s must be a number from 0 to %u", key, max);
            return 0;
        }
        *(key[3] == '4' ? &cfg->audit.ipv4_prefix : &cfg->audit.ipv6_prefix) = (unsigned)n;
    } else if (strcmp(key, "required") == 0) {
        bool_value(ctx, v, "audit.required", &cfg->audit.required);
    } else if (strcmp(key, "hash_key_file") == 0) {
        free(cfg->audit.hash_key_file);
        cfg->audit.hash_key_file = path_value(ctx, v, "audit.hash_key_file");
        cfg->audit.hash_key_mark = mark_of(v);
    } else if (strcmp(key, "buffer") == 0) {
        if (size_value(ctx, v, "audit.buffer", &n) == 0) {
            if (n < 4096 || n > ((uint64_t)1 << 30))
                error_at(ctx, v, "audit.buffer must be from 4k to 1g");
            else
                cfg->audit.buffer = n;
        }
    } else {
        unknown_key(ctx, k, key, "audit",
                    "path, client_address, ipv4_prefix, ipv6_prefix, hash_key_file, buffer, required");
    }
    return 0;
}

static int health_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_health_t *h = arg;
    const char *s;
    uint64_t n;
    if (strcmp(key, "path") == 0) {
        if ((s = scalar(ctx, v, "health.path")) == NULL)
            return 0;
        int ok = s[0] == '/' && strlen(s) < 1024;
        for (const char *p = s; ok && *p; ++p)
            ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f;
        if (!ok) {
            error_at(ctx, v, "health.path must start with / and hold no spaces or control characters");
            return 0;
        }
        free(h->path);
        h->path = dup_str(ctx, s);
    } else if (strcmp(key, "interval") == 0 || strcmp(key, "timeout") == 0 || strcmp(key, "passive_cooldown") == 0) {
        if (duration_value(ctx, v, key, &n) != 0)
            return 0;
        if (n < 10 || n > 3600000) {
            error_at(ctx, v, "health.%s must be from 10ms to 1h", key);
            return 0;
        }
        *(key[0] == 'i' ? &h->interval_ms : key[0] == 't' ? &h->timeout_ms : &h->passive_cooldown_ms) = n;
    } else if (strcmp(key, "rise") == 0 || strcmp(key, "fall") == 0 || strcmp(key, "passive_fall") == 0) {
        const char *rest = (s = scalar(ctx, v, key)) != NULL ? parse_u64(s, &n) : NULL;
        if (s == NULL)
            return 0;
        if (rest == NULL || *rest != '\0' || n > 1000 || (n == 0 && key[0] != 'p')) {
            error_at(ctx, v, "health.%s must be a number from %d to 1000", key, key[0] == 'p' ? 0 : 1);
            return 0;
        }
        *(key[0] == 'r' ? &h->rise : key[0] == 'f' ? &h->fall : &h->passive_fall) = (unsigned)n;
    } else {
        unknown_key(ctx, k, key, "health", "path, interval, timeout, rise, fall, passive_fall, passive_cooldown");
    }
    return 0;
}

/* Methods answered 405 (replaces the default CONNECT, TRACE, TRACK; [] refuses none). */
static void parse_refuse_methods(struct parse_ctx *ctx, yaml_node_t *node)
{
    dom_config_t *cfg = ctx->cfg;
    if (check_seq(ctx, node, "refuse_methods") != 0)
        return;
    size_t n = SEQ_LEN(node);
    char **list = calloc(n + 1, sizeof(*list));
    if (list == NULL) {
        ctx->oom = 1;
        return;
    }
    for (size_t i = 0, out = 0; i < n; ++i) {
        yaml_node_t *item = node_at(ctx, node->data.sequence.items.start[i]);
        const char *s = item != NULL ? scalar(ctx, item, "a refuse_methods entry") : NULL;
        int token = s != NULL && *s != '\0' && strlen(s) <= 32;
        for (const char *p = s; token && *p; ++p)
            token = is_token_char((unsigned char)*p);
        if (s != NULL && !token)
            error_at(ctx, item, "refuse_methods entry \"%s\" is not an HTTP method", s);
        else if (s != NULL && (list[out] = dup_str(ctx, s)) != NULL)
            ++out;
    }
    free_methods(cfg->refuse_methods);
    cfg->refuse_methods = list;
}

static void parse_strip_headers(struct parse_ctx *ctx, yaml_node_t *node)
{
    dom_config_t *cfg = ctx->cfg;
    if ((cfg->anonymize_strip_headers = seq_array(ctx, node, "anonymize_strip_headers", sizeof(char *), NULL)) == NULL)
        return;
    size_t n = SEQ_LEN(node);
    for (size_t i = 0; i < n; ++i) {
        yaml_node_t *item = node_at(ctx, node->data.sequence.items.start[i]);
        char *h = item != NULL ? header_name_value(ctx, item, "an anonymize_strip_headers entry") : NULL;
        if (h != NULL)
            cfg->anonymize_strip_headers[cfg->n_anonymize_strip_headers++] = h;
    }
}

/* ---- clusters ---- */

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
        const char *rest = parse_u64(p + 1, &port);
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

/* A cluster's or a node's `upstream` mapping (the upstream client, forward.c). */
static int upstream_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_upstream_t *u = arg;
    char what[64];
    snprintf(what, sizeof(what), "upstream.%s", key);
    if (strcmp(key, "max_connections") == 0) {
        count_value(ctx, v, what, 1, 65536, &u->max_connections);
    } else if (strcmp(key, "connect_timeout") == 0) {
        positive_duration(ctx, v, what, &u->connect_timeout_ms);
    } else if (strcmp(key, "first_byte_timeout") == 0) {
        positive_duration(ctx, v, what, &u->first_byte_timeout_ms);
    } else if (strcmp(key, "idle_timeout") == 0) {
        positive_duration(ctx, v, what, &u->idle_timeout_ms);
    } else if (strcmp(key, "keepalive_timeout") == 0) {
        positive_duration(ctx, v, what, &u->keepalive_timeout_ms);
    } else if (strcmp(key, "queue_timeout") == 0) {
        positive_duration(ctx, v, what, &u->queue_timeout_ms);
    } else if (strcmp(key, "tls_ca") == 0) {
        free(u->tls_ca);
        u->tls_ca = path_value(ctx, v, what);
        u->tls_ca_mark = mark_of(v);
    } else {
        unknown_key(ctx, k, key, "upstream",
                    "max_connections, connect_timeout, first_byte_timeout, idle_timeout, keepalive_timeout, "
                    "queue_timeout, tls_ca");
    }
    return 0;
}

static int parse_upstream(struct parse_ctx *ctx, yaml_node_t *v, dom_config_upstream_t *u)
{
    u->mark = mark_of(v);
    return each_key(ctx, v, "upstream", upstream_key, u);
}

/* A node as a mapping: { url: ..., upstream: { ... } } */
static int node_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_node_t *node = arg;
    if (strcmp(key, "url") == 0) {
        const char *url = scalar(ctx, v, "a node URL"), *why = NULL;
        if (url == NULL || node->url != NULL)
            return 0;
        if (parse_node_url(url, node, &why) != 0) {
            error_at(ctx, v, "bad node URL \"%s\": %s", url, why);
            return 0;
        }
        node->url = dup_str(ctx, url);
    } else if (strcmp(key, "upstream") == 0) {
        parse_upstream(ctx, v, &node->upstream);
    } else {
        unknown_key(ctx, k, key, "a node", "url, upstream");
    }
    return 0;
}

static int cluster_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_cluster_t *c = arg;
    const char *s;
    if (strcmp(key, "name") == 0) {
        if ((s = scalar(ctx, v, "cluster name")) == NULL)
            return 0;
        if (!is_name(s, DOM_NAME_MAX)) {
            error_at(ctx, v, "cluster name \"%s\" must be 1-%d of [A-Za-z0-9_-]", s, DOM_NAME_MAX);
            return 0;
        }
        free(c->name);
        c->name = dup_str(ctx, s);
    } else if (strcmp(key, "region") == 0) {
        if ((s = scalar(ctx, v, "region")) == NULL)
            return 0;
        if (!is_name(s, DOM_NAME_MAX)) {
            error_at(ctx, v, "region \"%s\" must be 1-%d of [A-Za-z0-9_-]", s, DOM_NAME_MAX);
            return 0;
        }
        free(c->region);
        c->region = dup_str(ctx, s);
        c->region_mark = mark_of(v);
    } else if (strcmp(key, "balance") == 0) {
        if ((s = scalar(ctx, v, "balance")) == NULL)
            return 0;
        if (strcmp(s, "round-robin") == 0)
            c->balance = DOM_BALANCE_ROUND_ROBIN;
        else if (strcmp(s, "least-outstanding") == 0)
            c->balance = DOM_BALANCE_LEAST_OUTSTANDING;
        else
            error_at(ctx, v, "balance must be round-robin or least-outstanding, not \"%s\"", s);
    } else if (strcmp(key, "nodes") == 0) {
        if (c->nodes != NULL ||
            (c->nodes = seq_array(ctx, v, "nodes", sizeof(*c->nodes), "a cluster needs at least one node")) == NULL)
            return 0;
        size_t n = SEQ_LEN(v);
        for (size_t i = 0; i < n; ++i) {
            yaml_node_t *item = node_at(ctx, v->data.sequence.items.start[i]);
            if (item == NULL)
                continue;
            dom_config_node_t *node = &c->nodes[c->n_nodes];
            if (item->type == YAML_MAPPING_NODE) {
                size_t errors = ctx->diag->errors;
                each_key(ctx, item, "a node", node_key, node);
                if (node->url == NULL) {
                    if (ctx->diag->errors == errors)
                        error_at(ctx, item, "a node needs a url");
                    free(node->host);
                    free(node->upstream.tls_ca);
                    memset(node, 0, sizeof(*node));
                    continue;
                }
            } else {
                const char *url = scalar(ctx, item, "a node URL"), *why = NULL;
                if (url == NULL)
                    continue;
                if (parse_node_url(url, node, &why) != 0) {
                    error_at(ctx, item, "bad node URL \"%s\": %s", url, why);
                    continue;
                }
                node->url = dup_str(ctx, url);
            }
            node->mark = mark_of(item);
            ++c->n_nodes;
        }
    } else if (strcmp(key, "health") == 0) {
        each_key(ctx, v, "health", health_key, &c->health);
    } else if (strcmp(key, "upstream") == 0) {
        parse_upstream(ctx, v, &c->upstream);
    } else {
        unknown_key(ctx, k, key, "a cluster", "name, region, balance, nodes, health, upstream");
    }
    return 0;
}

static void parse_clusters(struct parse_ctx *ctx, yaml_node_t *node)
{
    dom_config_t *cfg = ctx->cfg;
    if ((cfg->clusters = seq_array(ctx, node, "clusters", sizeof(*cfg->clusters), NULL)) == NULL)
        return;
    size_t n = SEQ_LEN(node);
    for (size_t i = 0; i < n; ++i) {
        yaml_node_t *item = node_at(ctx, node->data.sequence.items.start[i]);
        if (item == NULL)
            continue;
        dom_config_cluster_t *c = &cfg->clusters[cfg->n_clusters++];
        c->mark = mark_of(item);
        c->health.interval_ms = 2000;
        c->health.timeout_ms = 1000;
        c->health.rise = 2;
        c->health.fall = 3;
        c->health.passive_fall = 3;
        c->health.passive_cooldown_ms = 5000;
        if (each_key(ctx, item, "a cluster", cluster_key, c) != 0)
            continue;
        if (c->name == NULL)
            error_at(ctx, item, "a cluster needs a name");
        if (c->region == NULL)
            error_at(ctx, item, "a cluster needs a region");
        if (c->nodes == NULL)
            error_at(ctx, item, "a cluster needs nodes");
        for (size_t j = 0; c->name != NULL && j + 1 < cfg->n_clusters; ++j)
            if (cfg->clusters[j].name != NULL && strcmp(cfg->clusters[j].name, c->name) == 0)
                error_at(ctx, item, "cluster name \"%s\" is used twice (first at line %zu)", c->name,
                         cfg->clusters[j].mark.line);
    }
}

/* ---- top level ---- */

static int top_key(struct parse_ctx *ctx, const char *key, yaml_node_t *k, yaml_node_t *v, void *arg)
{
    dom_config_t *cfg = ctx->cfg;
    if (strcmp(key, "threads") == 0) {
        const char *s = scalar(ctx, v, "threads");
        uint64_t n;
        const char *rest = s != NULL ? parse_u64(s, &n) : NULL;
        if (s != NULL && (rest == NULL || *rest != '\0' || n == 0 || n > MAX_THREADS))
            error_at(ctx, v, "threads must be a number from 1 to %d", MAX_THREADS);
        else if (s != NULL)
            cfg->threads = (unsigned)n;
    } else if (strcmp(key, "instance") == 0) {
        const char *s = scalar(ctx, v, "instance");
        size_t n = s != NULL ? strlen(s) : 0;
        if (s != NULL && (n == 0 || n > DOM_NAME_MAX ||
                          strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                    "0123456789._-") != n))
            error_at(ctx, v, "instance must be 1 to %d letters, digits, '.', '_' or '-'", DOM_NAME_MAX);
        else if (s != NULL) {
            free(cfg->instance);
            if ((cfg->instance = strdup(s)) == NULL)
                ctx->oom = 1;
        }
    } else if (strcmp(key, "listen") == 0) {
        parse_listen(ctx, v);
    } else if (strcmp(key, "trusted_proxies") == 0) {
        parse_trusted(ctx, v);
    } else if (strcmp(key, "geo") == 0) {
        each_key(ctx, v, "geo", geo_key, NULL);
    } else if (strcmp(key, "overrides") == 0) {
        parse_overrides(ctx, v);
    } else if (strcmp(key, "rules") == 0) {
        cfg->rules = path_value(ctx, v, "rules");
        cfg->rules_mark = mark_of(v);
    } else if (strcmp(key, "pins") == 0) {
        each_key(ctx, v, "pins", pins_key, NULL);
    } else if (strcmp(key, "consent_header") == 0) {
        char *h = header_name_value(ctx, v, "consent_header");
        if (h != NULL) {
            free(cfg->consent_header);
            cfg->consent_header = h;
        }
    } else if (strcmp(key, "limits") == 0) {
        each_key(ctx, v, "limits", limits_key, NULL);
    } else if (strcmp(key, "expose_decision_headers") == 0) {
        bool_value(ctx, v, "expose_decision_headers", &cfg->expose_decision_headers);
    } else if (strcmp(key, "anonymize_strip_headers") == 0) {
        parse_strip_headers(ctx, v);
    } else if (strcmp(key, "refuse_methods") == 0) {
        parse_refuse_methods(ctx, v);
    } else if (strcmp(key, "paths") == 0) {
        const char *s = scalar(ctx, v, "paths");
        if (s != NULL && strcmp(s, "strict") == 0)
            cfg->paths = DOM_PATHS_STRICT;
        else if (s != NULL && strcmp(s, "canonicalize") == 0)
            cfg->paths = DOM_PATHS_CANONICALIZE;
        else if (s != NULL)
            error_at(ctx, v, "paths must be strict or canonicalize, not \"%s\"", s);
    } else if (strcmp(key, "clusters") == 0) {
        parse_clusters(ctx, v);
    } else if (strcmp(key, "admin") == 0) {
        each_key(ctx, v, "admin", admin_key, NULL);
    } else if (strcmp(key, "audit") == 0) {
        each_key(ctx, v, "audit", audit_key, NULL);
    } else {
        unknown_key(ctx, k, key, "the configuration",
                    "threads, instance, listen, trusted_proxies, geo, overrides, rules, pins, consent_header, limits, "
                    "expose_decision_headers, anonymize_strip_headers, refuse_methods, paths, clusters, admin, audit");
    }
    return 0;
}

int dom_config_addr_is_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
    if (addr->ss_family != AF_INET6)
        return 0;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/*
 * The admin listener answers /metrics and /status (rules, nodes, audit state). On loopback only
 * local users reach it; anywhere else it must authenticate its clients (a bearer token, client
 * certificates or both) unless the operator opts out in so many words.
 */
static void check_admin(dom_config_t *cfg, dom_config_diag_t *diag)
{
    const char *file = cfg->file;
    if (cfg->admin.tls_client_ca != NULL && cfg->admin.tls_certificate == NULL)
        return; /* "admin.tls needs certificate and key" was reported */
    if (cfg->admin.listen == NULL) {
        if (cfg->admin.token_file != NULL || cfg->admin.tls_certificate != NULL)
            dom_config_report(diag, file, cfg->admin.token_file ? &cfg->admin.token_mark : &cfg->admin.tls_mark, 0,
                              "admin.token_file and admin.tls need admin.listen");
        return;
    }
    if (dom_config_addr_is_loopback(&cfg->admin.addr))
        return;
    int authenticated = cfg->admin.token_file != NULL || cfg->admin.tls_client_ca != NULL;
    if (!authenticated && !cfg->admin.allow_unauthenticated) {
        dom_config_report(diag, file, &cfg->admin.mark, 0,
                          "admin.listen %s is not a loopback address and the admin listener has no authentication: "
                          "anyone who reaches it reads /metrics and /status. Set admin.token_file (a bearer token) "
                          "or admin.tls.client_ca (client certificates), or admin.allow_unauthenticated: true if a "
                          "firewall already keeps everyone else out",
                          cfg->admin.listen);
        return;
    }
    dom_config_report(diag, file, &cfg->admin.mark, 1, "admin.listen %s is not a loopback address: %s",
                      cfg->admin.listen,
                      !authenticated ? "/metrics and /status are open to anyone who reaches it "
                                       "(admin.allow_unauthenticated: true)"
                      : cfg->admin.tls_certificate == NULL
                          ? "requests need the bearer token of admin.token_file, which crosses the network in clear "
                            "text; add admin.tls"
                      : cfg->admin.tls_client_ca != NULL && cfg->admin.token_file != NULL
                          ? "requests need a client certificate signed by admin.tls.client_ca and the bearer token"
                      : cfg->admin.tls_client_ca != NULL ? "requests need a client certificate signed by "
                                                           "admin.tls.client_ca"
                                                         : "requests need the bearer token of admin.token_file (TLS)");
}

size_t dom_config_check_secrets(const dom_config_t *cfg, dom_config_diag_t *diag)
{
    const struct {
        const char *what, *path;
        const dom_config_mark_t *mark;
    } files[] = {
        {"pin keys", cfg->pins.keys, &cfg->pins.mark},
        {"audit.hash_key_file", cfg->audit.hash_key_file, &cfg->audit.hash_key_mark},
        {"admin.token_file", cfg->admin.token_file, &cfg->admin.token_mark},
    };
    size_t errors = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); ++i) {
        char msg[1024];
        if (files[i].path == NULL)
            continue;
        int ret = dom_keyfile_check(files[i].what, files[i].path, msg, sizeof(msg));
        if (ret == DOM_EINVAL || ret == DOM_KEYFILE_WARNING)
            dom_config_report(diag, cfg->file, files[i].mark, ret == DOM_KEYFILE_WARNING, "%s", msg);
        errors += ret == DOM_EINVAL;
    }
    return errors;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

/*
 * Every node's upstream settings: its own keys, else its cluster's, else the defaults (the timeouts
 * default to limits.upstream_timeout, known only once the whole file is read). Each worker thread
 * holds its own share of max_connections, so there must be at least one per thread.
 */
static void resolve_upstream(dom_config_t *cfg, dom_config_diag_t *diag)
{
    for (size_t i = 0; i < cfg->n_clusters; ++i) {
        const dom_config_upstream_t *c = &cfg->clusters[i].upstream;
        for (size_t j = 0; j < cfg->clusters[i].n_nodes; ++j) {
            dom_config_node_t *node = &cfg->clusters[i].nodes[j];
            dom_config_upstream_t *u = &node->upstream;
#define INHERIT(field, dflt) u->field = u->field ? u->field : c->field ? c->field : (dflt)
            INHERIT(max_connections, DEFAULT_UPSTREAM_MAX_CONNECTIONS);
            INHERIT(connect_timeout_ms, cfg->limits.upstream_timeout_ms);
            INHERIT(first_byte_timeout_ms, cfg->limits.upstream_timeout_ms);
            INHERIT(idle_timeout_ms, cfg->limits.upstream_timeout_ms);
            INHERIT(keepalive_timeout_ms, DEFAULT_UPSTREAM_KEEPALIVE_MS);
            INHERIT(queue_timeout_ms, DEFAULT_UPSTREAM_QUEUE_TIMEOUT_MS);
#undef INHERIT
            if (u->tls_ca == NULL && c->tls_ca != NULL) {
                u->tls_ca = strdup(c->tls_ca);
                u->tls_ca_mark = c->tls_ca_mark;
            }
            if (u->max_connections < cfg->threads)
                dom_config_report(diag, cfg->file,
                                  u->mark.line   ? &u->mark
                                  : c->mark.line ? &c->mark
                                                 : &node->mark,
                                  0,
                                  "node %s: upstream.max_connections (%u) must be at least threads (%u): every "
                                  "worker thread holds its own share",
                                  node->url, u->max_connections, cfg->threads);
            if (u->tls_ca != NULL && !node->tls)
                dom_config_report(diag, cfg->file, &u->tls_ca_mark, 1, "node %s: upstream.tls_ca is for https:// nodes",
                                  node->url);
        }
    }
}

static int set_defaults(dom_config_t *cfg)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    cfg->threads = ncpu < 1 ? 1 : ncpu > MAX_THREADS ? MAX_THREADS : (unsigned)ncpu;
    cfg->limits.max_body = DEFAULT_MAX_BODY;
    cfg->limits.upstream_timeout_ms = DEFAULT_UPSTREAM_TIMEOUT_MS;
    cfg->limits.drain_timeout_ms = DEFAULT_DRAIN_TIMEOUT_MS;
    cfg->limits.h2_max_resets = DEFAULT_H2_MAX_RESETS;
    cfg->limits.request_timeout_ms = DEFAULT_REQUEST_TIMEOUT_MS;
    cfg->limits.h2_max_header_list_size = DEFAULT_H2_MAX_HEADER_LIST_SIZE;
    cfg->limits.h2_max_headers = DEFAULT_H2_MAX_HEADERS;
    cfg->limits.h2_max_continuations = DEFAULT_H2_MAX_CONTINUATIONS;
    cfg->limits.h2_header_block_timeout_ms = DEFAULT_H2_HEADER_BLOCK_TIMEOUT_MS;
    cfg->limits.h2_body_buffer_per_connection = DEFAULT_H2_BODY_BUFFER_PER_CONNECTION;
    cfg->limits.h2_body_buffer_total = DEFAULT_H2_BODY_BUFFER_TOTAL;
    cfg->limits.receive_buffer = DEFAULT_RECEIVE_BUFFER;
    cfg->limits.proxy_header_timeout_ms = DEFAULT_PROXY_HEADER_TIMEOUT_MS;
    cfg->limits.max_headers = DOM_DEFAULT_MAX_HEADERS;
    cfg->limits.max_header_bytes = DOM_DEFAULT_MAX_HEADER_BYTES;
    cfg->pins.header = strdup(DOM_DEFAULT_PIN_HEADER);
    cfg->consent_header = strdup(DOM_DEFAULT_CONSENT_HEADER);
    char host[256] = "";
    if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "domicile");
    host[DOM_NAME_MAX] = '\0';
    cfg->instance = strdup(host);
    return cfg->pins.header != NULL && cfg->consent_header != NULL && cfg->instance != NULL ? 0 : DOM_ENOMEM;
}

int dom_config_load_buffer(const char *name, const char *dir, const char *buf, size_t len, dom_config_t **out,
                           dom_config_diag_t *diag)
{
    dom_config_diag_t stderr_diag = {0};
    if (diag == NULL)
        diag = &stderr_diag;
    size_t errors_before = diag->errors;
    int ret = DOM_ENOMEM, have_doc = 0;
    yaml_parser_t parser;
    yaml_document_t doc;
    dom_config_t *cfg = calloc(1, sizeof(*cfg));
    *out = NULL;
    if (cfg == NULL)
        return DOM_ENOMEM;
    if ((cfg->file = strdup(name)) == NULL || (cfg->dir = strdup(dir != NULL ? dir : ".")) == NULL ||
        set_defaults(cfg) != 0)
        goto cleanup;

    if (!yaml_parser_initialize(&parser))
        goto cleanup;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    if (!yaml_parser_load(&parser, &doc)) {
        dom_config_mark_t m = {parser.problem_mark.line + 1, parser.problem_mark.column + 1};
        dom_config_report(diag, name, &m, 0, "%s%s%s", parser.problem != NULL ? parser.problem : "YAML error",
                          parser.context != NULL ? " " : "", parser.context != NULL ? parser.context : "");
        yaml_parser_delete(&parser);
        ret = DOM_ECONFIG;
        goto cleanup;
    }
    have_doc = 1;
    struct parse_ctx ctx = {diag, name, &doc, cfg, 0};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root == NULL) {
        dom_config_report(diag, name, NULL, 0, "the configuration is empty");
    } else {
        each_key(&ctx, root, "the configuration", top_key, NULL);
        /* a second document would be silently ignored: refuse it */
        yaml_document_t extra;
        if (yaml_parser_load(&parser, &extra)) {
            yaml_node_t *r2 = yaml_document_get_root_node(&extra);
            if (r2 != NULL)
                error_at(&ctx, r2, "only one YAML document is allowed in the configuration");
            yaml_document_delete(&extra);
        }
        dom_config_mark_t top = mark_of(root);
        if (cfg->n_listeners == 0 && diag->errors == errors_before)
            dom_config_report(diag, name, &top, 0, "no listeners: add a \"listen\" list");
        if (cfg->rules == NULL && diag->errors == errors_before)
            dom_config_report(diag, name, &top, 0, "no rules database: add \"rules: path/to/rules.mdb\"");
        if (cfg->n_clusters == 0 && diag->errors == errors_before)
            dom_config_report(diag, name, &top, 1, "no clusters: every routed request gets 451 no_compliant_region");
        if (cfg->audit.path != NULL && cfg->audit.client_address == 1 && cfg->audit.hash_key_file == NULL)
            dom_config_report(diag, name, &cfg->audit.mark, 0,
                              "audit.client_address: hash needs audit.hash_key_file (a secret key)");
        if (cfg->audit.required && cfg->audit.path == NULL)
            dom_config_report(diag, name, &top, 0, "audit.required: true needs audit.path");
        /* a PROXY header is believed only from trusted_proxies: without any, every connection is refused */
        for (size_t i = 0; i < cfg->n_listeners; ++i)
            if (cfg->listeners[i].proxy_protocol && cfg->trusted_proxies.count == 0)
                dom_config_report(diag, name, &cfg->listeners[i].mark, 1,
                                  "listener %s has proxy_protocol: true but trusted_proxies is empty: every "
                                  "connection will be refused; list the load balancers that send the PROXY header",
                                  cfg->listeners[i].address ? cfg->listeners[i].address : "");
        check_admin(cfg, diag);
        resolve_upstream(cfg, diag);
        for (size_t i = 0; i < cfg->n_clusters; ++i)
            if (cfg->clusters[i].health.path != NULL &&
                cfg->clusters[i].health.timeout_ms > cfg->clusters[i].health.interval_ms)
                dom_config_report(diag, name, &cfg->clusters[i].mark, 0,
                                  "cluster %s: health.timeout must not exceed health.interval",
                                  cfg->clusters[i].name ? cfg->clusters[i].name : "");
        /* h2o buffers an HTTP/2 body whole, in a buffer that doubles from 8 KiB: the largest allowed must fit */
        uint64_t largest_buffer = 8192;
        while (largest_buffer < dom_config_largest_body(cfg))
            largest_buffer *= 2;
        if (cfg->limits.h2_body_buffer_per_connection < largest_buffer)
            dom_config_report(diag, name, &top, 1,
                              "HTTP/2 bodies near the largest body limit (max_body, class_max_body) take up to %llu "
                              "bytes of buffer, more than limits.h2_body_buffer_per_connection: they will be refused",
                              (unsigned long long)largest_buffer);
        if (cfg->limits.h2_body_buffer_total < cfg->limits.h2_body_buffer_per_connection)
            dom_config_report(diag, name, &top, 1,
                              "limits.h2_body_buffer_total is less than limits.h2_body_buffer_per_connection");
    }
    yaml_parser_delete(&parser);
    if (ctx.oom)
        goto cleanup;
    ret = diag->errors == errors_before ? DOM_OK : DOM_ECONFIG;

cleanup:
    if (have_doc)
        yaml_document_delete(&doc);
    if (ret == DOM_OK)
        *out = cfg;
    else
        dom_config_free(cfg);
    if (ret == DOM_ENOMEM)
        dom_config_report(diag, name, NULL, 0, "out of memory");
    return ret;
}

int dom_config_load(const char *path, dom_config_t **out, dom_config_diag_t *diag)
{
    *out = NULL;
    FILE *fp = fopen(path, "rb");
    if (fp == NULL) {
        dom_config_report(diag, path, NULL, 0, "cannot open: %s", strerror(errno));
        return DOM_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int ret = DOM_EIO;
    for (;;) {
        if (len == cap) {
            if (cap >= (16u << 20)) {
                dom_config_report(diag, path, NULL, 0, "file is larger than 16 MiB");
                goto cleanup;
            }
            cap = cap ? cap * 2 : 8192;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                ret = DOM_ENOMEM;
                goto cleanup;
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(fp)) {
        dom_config_report(diag, path, NULL, 0, "read error: %s", strerror(errno));
        goto cleanup;
    }
    char *dir = dir_of(path);
    if (dir == NULL) {
        ret = DOM_ENOMEM;
        goto cleanup;
    }
    ret = dom_config_load_buffer(path, dir, buf, len, out, diag);
    free(dir);
    if (*out != NULL) {
        unsigned char digest[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)buf, len, digest);
        for (size_t i = 0; i < sizeof(digest); ++i)
            snprintf((*out)->sha256 + 2 * i, 3, "%02x", digest[i]);
    }
cleanup:
    fclose(fp);
    free(buf);
    return ret;
}

void dom_config_free(dom_config_t *cfg)
{
    if (cfg == NULL)
        return;
    free_methods(cfg->refuse_methods);
    free(cfg->instance);
    free(cfg->file);
    free(cfg->dir);
    for (size_t i = 0; i < cfg->n_listeners; ++i) {
        free(cfg->listeners[i].address);
        free(cfg->listeners[i].tls_certificate);
        free(cfg->listeners[i].tls_key);
    }
    free(cfg->listeners);
    dom_cidr_list_free(&cfg->trusted_proxies);
    free(cfg->geo.database);
    free(cfg->geo.country_path);
    free(cfg->geo.subdivision_path);
    free(cfg->geo.eu_path);
    free(cfg->overrides);
    free(cfg->rules);
    free(cfg->pins.header);
    free(cfg->pins.keys);
    free(cfg->consent_header);
    for (size_t i = 0; i < cfg->limits.n_classes; ++i)
        free(cfg->limits.classes[i].class_name);
    free(cfg->limits.classes);
    for (size_t i = 0; i < cfg->n_anonymize_strip_headers; ++i)
        free(cfg->anonymize_strip_headers[i]);
    free(cfg->anonymize_strip_headers);
    for (size_t i = 0; i < cfg->n_clusters; ++i) {
        dom_config_cluster_t *c = &cfg->clusters[i];
        free(c->name);
        free(c->region);
        for (size_t j = 0; j < c->n_nodes; ++j) {
            free(c->nodes[j].url);
            free(c->nodes[j].host);
            free(c->nodes[j].upstream.tls_ca);
        }
        free(c->nodes);
        free(c->health.path);
        free(c->upstream.tls_ca);
    }
    free(cfg->clusters);
    free(cfg->audit.path);
    free(cfg->audit.hash_key_file);
    free(cfg->admin.listen);
    free(cfg->admin.token_file);
    free(cfg->admin.tls_certificate);
    free(cfg->admin.tls_key);
    free(cfg->admin.tls_client_ca);
    free(cfg);
}

uint64_t dom_config_largest_body(const dom_config_t *cfg)
{
    uint64_t max = cfg->limits.max_body;
    for (size_t i = 0; i < cfg->limits.n_classes; ++i)
        if (cfg->limits.classes[i].max_body > max)
            max = cfg->limits.classes[i].max_body;
    return max;
}

static int region_has_cluster(const dom_config_t *cfg, const char *region)
{
    for (size_t i = 0; i < cfg->n_clusters; ++i)
        if (cfg->clusters[i].region != NULL && strcmp(cfg->clusters[i].region, region) == 0)
            return 1;
    return 0;
}

size_t dom_config_check_regions(const dom_config_t *cfg, const dom_ruleset_t *rules, dom_config_diag_t *diag)
{
    size_t errors = 0;
    for (size_t i = 0; i < cfg->n_clusters; ++i) {
        const dom_config_cluster_t *c = &cfg->clusters[i];
        if (c->region == NULL || dom_ruleset_region_index(rules, c->region) >= 0)
            continue;
        char known[512] = "";
        size_t off = 0;
        for (size_t r = 0; r < rules->n_regions && off < sizeof(known); ++r)
            off += (size_t)snprintf(known + off, sizeof(known) - off, "%s%s", r ? ", " : "", rules->regions[r].name);
        dom_config_report(diag, cfg->file, &c->region_mark, 0,
                          "cluster \"%s\": the rules know no storage region \"%s\" (they know: %s)", c->name, c->region,
                          known);
        ++errors;
    }
    for (size_t i = 0; i < cfg->limits.n_classes; ++i) {
        const dom_config_class_limit_t *cl = &cfg->limits.classes[i];
        int found = 0;
        for (size_t c = 0; c < rules->n_classes && !found; ++c)
            found = strcmp(rules->classes[c].name, cl->class_name) == 0;
        if (!found) {
            dom_config_report(diag, cfg->file, &cl->mark, 0, "class_max_body: the rules know no class \"%s\"",
                              cl->class_name);
            ++errors;
        }
    }
    /* A region some rule allows but no cluster serves: legal to route there, impossible to. */
    for (size_t r = 0; r < rules->n_regions; ++r) {
        if (region_has_cluster(cfg, rules->regions[r].name))
            continue;
        const char *jname = NULL, *cname = NULL;
        for (size_t j = 0; j < rules->n_jurisdictions && jname == NULL; ++j) {
            const dom_jurisdiction_t *jur = &rules->jurisdictions[j];
            for (size_t c = 0; c < rules->n_classes && jname == NULL; ++c) {
                const dom_class_rule_t *cr = &jur->classes[c];
                for (size_t k = 0; k < cr->n_write && jname == NULL; ++k)
                    if (cr->write_regions[k] == r)
                        jname = jur->name, cname = rules->classes[c].name;
                for (size_t k = 0; k < cr->n_read && jname == NULL; ++k)
                    if (cr->read_regions[k] == r)
                        jname = jur->name, cname = rules->classes[c].name;
            }
        }
        if (jname != NULL)
            dom_config_report(diag, cfg->file, NULL, 1,
                              "region \"%s\" is allowed by the rules (e.g. %s, class %s) but no cluster serves it; "
                              "requests allowed only there get 451 no_compliant_region",
                              rules->regions[r].name, jname, cname);
    }
    return errors;
}

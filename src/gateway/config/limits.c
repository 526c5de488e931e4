/* The `limits` section: body sizes (per class too) and time limits (docs/config.md, limits). */
#include <stdlib.h>
#include <string.h>
#include "gateway/config/section.h"
#include "util/validate.h"

/* class_max_body: { content: 8m, telemetry: 256k }; the classes are checked against the rules at start. */
static void parse_class_limits(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    dom_config_t *cfg = obj;
    if (dom__yaml_expect(&p->y, v, YAML_MAPPING_NODE, "limits.class_max_body") != 0 || dom__yaml_len(v) == 0)
        return;
    if ((cfg->limits.classes = calloc(dom__yaml_len(v), sizeof(*cfg->limits.classes))) == NULL) {
        p->oom = 1;
        return;
    }
    /* each value is read like limits.max_body, into the class's slot */
    dom__config_key_t size_row = {.name = "class_max_body",
                                  .kind = DOM__CFG_U64,
                                  .offset = offsetof(dom_config_class_limit_t, max_body),
                                  .parse = dom__config_parse_size,
                                  .reload = DOM__RELOAD_LIVE,
                                  .label = "class_max_body"};
    DOM__YAML_FOR_PAIRS(&p->y, v, pair)
    {
        yaml_node_t *k = dom__yaml_node(&p->y, pair->key), *value = dom__yaml_node(&p->y, pair->value);
        size_t len;
        const char *name = k != NULL ? dom__yaml_scalar(&p->y, k, "a class", &len) : NULL;
        if (name == NULL || value == NULL || dom__yaml_duplicate_key(&p->y, v, pair))
            continue;
        if (!dom__valid_name(name, len, DOM_NAME_MAX)) {
            dom__yaml_error(&p->y, k, "class %s must be 1-%d of [A-Za-z0-9_-]", dom__yaml_show(k).s, DOM_NAME_MAX);
            continue;
        }
        dom_config_class_limit_t *cl = &cfg->limits.classes[cfg->limits.n_classes];
        size_t errors = p->y.diag->errors;
        size_row.parse(p, &size_row, value, cl);
        if (p->y.diag->errors != errors || (cl->class_name = dom__config_strdup(p, name)) == NULL)
            continue;
        cl->mark = dom__yaml_mark(k);
        ++cfg->limits.n_classes;
    }
}

static int class_limits_equal(const void *a, const void *b)
{
    const dom_config_t *x = a, *y = b;
    if (x->limits.n_classes != y->limits.n_classes)
        return 0;
    for (size_t i = 0; i < x->limits.n_classes; ++i)
        if (strcmp(x->limits.classes[i].class_name, y->limits.classes[i].class_name) != 0 ||
            x->limits.classes[i].max_body != y->limits.classes[i].max_body)
            return 0;
    return 1;
}

static void class_limits_release(void *obj)
{
    dom_config_t *cfg = obj;
    for (size_t i = 0; i < cfg->limits.n_classes; ++i)
        free(cfg->limits.classes[i].class_name);
    free(cfg->limits.classes);
    cfg->limits.classes = NULL;
    cfg->limits.n_classes = 0;
}

/* h2o's own hard body limit is set at start to the largest limit: a reload may lower it, not raise it. */
static int within_start_limit(const dom_config_t *run, const dom_config_t *next)
{
    return dom_config_largest_body(next) <= dom_config_largest_body(run);
}

/* Puts cur's body limits (both keys) back into next. */
static int keep_body_limits(dom_config_t *next, const dom_config_t *cur)
{
    dom_config_class_limit_t *cl = NULL;
    if (cur->limits.n_classes != 0 && (cl = calloc(cur->limits.n_classes, sizeof(*cl))) == NULL)
        return DOM_ENOMEM;
    for (size_t i = 0; i < cur->limits.n_classes; ++i) {
        cl[i] = cur->limits.classes[i];
        if ((cl[i].class_name = strdup(cur->limits.classes[i].class_name)) == NULL) {
            while (i-- > 0)
                free(cl[i].class_name);
            free(cl);
            return DOM_ENOMEM;
        }
    }
    class_limits_release(next);
    next->limits.classes = cl;
    next->limits.n_classes = cur->limits.n_classes;
    next->limits.max_body = cur->limits.max_body;
    return 0;
}

#define BODY_NOTE "live up to the largest body limit at start; above it: restart, the running limits stay"
#define BODY_REFUSED "above the largest body limit at start: the running limits stay"

static const dom__config_key_t keys[] = {
    {.name = "max_body",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.max_body),
     .parse = dom__config_parse_size,
     .reload = DOM__RELOAD_LIVE,
     .def = 1024 * 1024,
     .live_if = within_start_limit,
     .keep = keep_body_limits,
     .refused = BODY_REFUSED,
     .note = BODY_NOTE},
    {.name = "class_max_body",
     .kind = DOM__CFG_OTHER,
     .parse = parse_class_limits,
     .reload = DOM__RELOAD_LIVE,
     .equal = class_limits_equal,
     .release = class_limits_release,
     .live_if = within_start_limit,
     .keep = keep_body_limits,
     .refused = BODY_REFUSED,
     .note = BODY_NOTE},
    {.name = "upstream_timeout",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.upstream_timeout_ms),
     .parse = dom__config_parse_duration,
     .reload = DOM__RELOAD_RESTART,
     .min = 1,
     .def = 30000},
    {.name = "drain_timeout",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.drain_timeout_ms),
     .parse = dom__config_parse_duration,
     .reload = DOM__RELOAD_RESTART,
     .def = 10000},
    {.name = "proxy_header_timeout",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.proxy_header_timeout_ms),
     .parse = dom__config_parse_duration,
     .reload = DOM__RELOAD_RESTART,
     .min = 1,
     .max = 60000,
     .def = 5000},
    {.name = "max_headers",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.max_headers),
     .parse = dom__config_parse_count,
     .reload = DOM__RELOAD_LIVE,
     .min = 8,
     .max = 10000,
     .def = DOM_DEFAULT_MAX_HEADERS},
    {.name = "max_header_bytes",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.max_header_bytes),
     .parse = dom__config_parse_size,
     .reload = DOM__RELOAD_LIVE,
     .min = 1024,
     .max = 16 * 1024 * 1024,
     .def = DOM_DEFAULT_MAX_HEADER_BYTES},
    /* bounds inside libh2o (patches/, src/gateway/h2limits.c): fixed at start */
    {.name = "request_timeout",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.request_timeout_ms),
     .parse = dom__config_parse_duration,
     .reload = DOM__RELOAD_RESTART,
     .min = 1,
     .def = 10000},
    {.name = "h2_max_header_list_size",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.h2_max_header_list_size),
     .parse = dom__config_parse_size,
     .reload = DOM__RELOAD_RESTART,
     .def =
         2 *
         DOM_DEFAULT_MAX_HEADER_BYTES}, /* twice the gateway's own bound: h2o stops only what must never be decoded */
    {.name = "h2_max_headers",
     .kind = DOM__CFG_UINT,
     .offset = offsetof(dom_config_t, limits.h2_max_headers),
     .parse = dom__config_parse_count,
     .reload = DOM__RELOAD_RESTART,
     .min = 1,
     .max = 100000,
     .def = 2 * DOM_DEFAULT_MAX_HEADERS},
    {.name = "h2_max_continuations",
     .kind = DOM__CFG_UINT,
     .offset = offsetof(dom_config_t, limits.h2_max_continuations),
     .parse = dom__config_parse_count,
     .reload = DOM__RELOAD_RESTART,
     .min = 1,
     .max = 1000,
     .def = 8},
    {.name = "h2_header_block_timeout",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.h2_header_block_timeout_ms),
     .parse = dom__config_parse_duration,
     .reload = DOM__RELOAD_RESTART,
     .min = 1,
     .def = 10000},
    {.name = "h2_body_buffer_per_connection",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.h2_body_buffer_per_connection),
     .parse = dom__config_parse_size,
     .reload = DOM__RELOAD_RESTART,
     .def = 16 * 1024 * 1024},
    {.name = "h2_body_buffer_total",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.h2_body_buffer_total),
     .parse = dom__config_parse_size,
     .reload = DOM__RELOAD_RESTART,
     .def = 256 * 1024 * 1024},
    {.name = "receive_buffer",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, limits.receive_buffer),
     .parse = dom__config_parse_size,
     .reload = DOM__RELOAD_RESTART,
     .min = 4096,
     .max = 64 * 1024 * 1024,
     .def = 256 * 1024},
    {.name = "h2_max_resets",
     .label = "limits.h2_max_resets (0 = off)",
     .kind = DOM__CFG_UINT,
     .offset = offsetof(dom_config_t, limits.h2_max_resets),
     .parse = dom__config_parse_count,
     .reload = DOM__RELOAD_LIVE,
     .max = 1000000,
     .def = 100},
};

/* h2o buffers an HTTP/2 body whole, in a buffer that doubles from 8 KiB: the largest allowed must fit. */
static void check_limits(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    const dom_config_t *cfg = obj;
    uint64_t largest_buffer = 8192;
    while (largest_buffer < dom_config_largest_body(cfg))
        largest_buffer *= 2;
    if (cfg->limits.h2_body_buffer_per_connection < largest_buffer)
        dom__yaml_warn(&p->y, map,
                       "HTTP/2 bodies near the largest body limit (max_body, class_max_body) take up to %llu bytes of "
                       "buffer, more than limits.h2_body_buffer_per_connection: they will be refused",
                       (unsigned long long)largest_buffer);
    if (cfg->limits.h2_body_buffer_total < cfg->limits.h2_body_buffer_per_connection)
        dom__yaml_warn(&p->y, map, "limits.h2_body_buffer_total is less than limits.h2_body_buffer_per_connection");
}

const dom__config_section_t dom__config_limits = {"limits", "limits.", keys, sizeof(keys) / sizeof(keys[0]),
                                                  check_limits};

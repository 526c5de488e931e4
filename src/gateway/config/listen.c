/* The `listen` list: the public listeners, each an address, optional TLS and PROXY protocol (docs/config.md). */
#include <stdlib.h>
#include <string.h>
#include "gateway/config/section.h"

_Static_assert(offsetof(dom_config_listener_t, addr) - offsetof(dom_config_listener_t, address) ==
                       offsetof(dom__config_address_t, addr) &&
                   offsetof(dom_config_listener_t, addrlen) - offsetof(dom_config_listener_t, address) ==
                       offsetof(dom__config_address_t, addrlen),
               "a listener's address is read as a dom__config_address_t");

static void check_tls(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    const dom_config_listener_t *l = obj;
    if ((l->tls_certificate == NULL) != (l->tls_key == NULL))
        dom__yaml_error(&p->y, map, "tls needs both certificate and key");
    else if (l->tls_certificate == NULL && !dom__yaml_has(seen, 0) && !dom__yaml_has(seen, 1))
        dom__yaml_error(&p->y, map, "tls needs certificate and key");
}

static const dom__config_key_t tls_keys[] = {
    {.name = "certificate",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_listener_t, tls_certificate),
     .parse = dom__config_parse_str_path},
    {.name = "key",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_listener_t, tls_key),
     .parse = dom__config_parse_str_path},
};

static const dom__config_section_t tls = {"tls", "tls.", tls_keys, sizeof(tls_keys) / sizeof(tls_keys[0]), check_tls};

static void check_listener(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    if (!dom__yaml_has(seen, 0))
        dom__yaml_error(&p->y, map, "a listener needs an address");
}

static const dom__config_key_t keys[] = {
    {.name = "address",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_listener_t, address),
     .parse = dom__config_parse_listen_address,
     .label = "listen"},
    {.name = "tls", .kind = DOM__CFG_SECTION, .mark = DOM__MARK(dom_config_listener_t, tls_mark), .section = &tls},
    {.name = "proxy_protocol",
     .kind = DOM__CFG_INT,
     .offset = offsetof(dom_config_listener_t, proxy_protocol),
     .parse = dom__config_parse_bool},
};

const dom__config_section_t dom__config_listener = {"a listener", "", keys, sizeof(keys) / sizeof(keys[0]),
                                                    check_listener};

void dom__config_parse_listen(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value, void *obj)
{
    dom_config_t *cfg = obj;
    if ((cfg->listeners = dom__config_list(p, value, "listen", sizeof(*cfg->listeners),
                                           "listen needs at least one listener")) == NULL)
        return;
    DOM__YAML_FOR_ITEMS(&p->y, value, it)
    {
        yaml_node_t *item = dom__yaml_node(&p->y, *it);
        if (item == NULL)
            continue;
        dom_config_listener_t *l = &cfg->listeners[cfg->n_listeners++];
        l->mark = dom__yaml_mark(item);
        if (item->type == YAML_SCALAR_NODE) /* shorthand: - "127.0.0.1:8080" */
            keys[0].parse(p, &keys[0], item, l);
        else
            dom__config_walk(p, &dom__config_listener, item, l);
    }
    /* Two listeners on one address would fail at bind time with a less helpful message. */
    for (size_t i = 0; i < cfg->n_listeners; ++i)
        for (size_t j = 0; j < i; ++j)
            if (cfg->listeners[i].addrlen != 0 && cfg->listeners[i].addrlen == cfg->listeners[j].addrlen &&
                memcmp(&cfg->listeners[i].addr, &cfg->listeners[j].addr, cfg->listeners[i].addrlen) == 0) {
                dom__yaml_report(&p->y, NULL, &cfg->listeners[i].mark, 0,
                                 "listener %s is configured twice (first at line %zu)", cfg->listeners[i].address,
                                 cfg->listeners[j].mark.line);
                break;
            }
}

int dom__config_listen_equal(const void *a, const void *b)
{
    const dom_config_t *x = a, *y = b;
    if (x->n_listeners != y->n_listeners)
        return 0;
    for (size_t i = 0; i < x->n_listeners; ++i)
        if (!dom__config_section_equal(&dom__config_listener, &x->listeners[i], &y->listeners[i]))
            return 0;
    return 1;
}

void dom__config_listen_release(void *obj)
{
    dom_config_t *cfg = obj;
    for (size_t i = 0; i < cfg->n_listeners; ++i)
        dom__config_section_release(&dom__config_listener, &cfg->listeners[i]);
    free(cfg->listeners);
    cfg->listeners = NULL;
    cfg->n_listeners = 0;
}

/* `trusted_proxies`: the peers whose X-Forwarded-For, Forwarded and PROXY headers are believed (docs/config.md). */
#include <string.h>
#include "gateway/config/section.h"

void dom__config_parse_trusted(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value, void *obj)
{
    dom_config_t *cfg = obj;
    if (dom__yaml_expect(&p->y, value, YAML_SEQUENCE_NODE, "trusted_proxies") != 0)
        return;
    DOM__YAML_FOR_ITEMS(&p->y, value, it)
    {
        yaml_node_t *item = dom__yaml_node(&p->y, *it);
        size_t len;
        const char *s = item != NULL ? dom__yaml_scalar(&p->y, item, "a trusted proxy", &len) : NULL;
        if (s == NULL)
            continue;
        dom_cidr_t cidr;
        if (dom_cidr_parse(s, len, &cidr) != 0)
            dom__yaml_error(&p->y, item, "%s is not a network (a.b.c.d/n or x::y/n, host bits zero)",
                            dom__yaml_show(item).s);
        else if (dom_cidr_list_add(&cfg->trusted_proxies, &cidr) != 0)
            p->oom = 1;
    }
}

int dom__config_trusted_equal(const void *a, const void *b)
{
    const dom_cidr_list_t *x = &((const dom_config_t *)a)->trusted_proxies,
                          *y = &((const dom_config_t *)b)->trusted_proxies;
    return x->count == y->count && (x->count == 0 || memcmp(x->items, y->items, x->count * sizeof(*x->items)) == 0);
}

void dom__config_trusted_release(void *obj)
{
    dom_cidr_list_free(&((dom_config_t *)obj)->trusted_proxies);
}

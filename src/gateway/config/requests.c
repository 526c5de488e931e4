/* What the gateway refuses in the request itself: `refuse_methods` (405); `paths` is a row of the top table. */
#include <stdlib.h>
#include <string.h>
#include "gateway/config/section.h"
#include "util/validate.h"

static void free_methods(char **list)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; ++i)
        free(list[i]);
    free(list);
}

/* Methods answered 405: replaces the default (CONNECT, TRACE, TRACK); [] refuses none. */
void dom__config_parse_refuse_methods(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value,
                                      void *obj)
{
    dom_config_t *cfg = obj;
    if (dom__yaml_expect(&p->y, value, YAML_SEQUENCE_NODE, "refuse_methods") != 0)
        return;
    char **list = calloc(dom__yaml_len(value) + 1, sizeof(*list)); /* NULL-terminated, even when empty */
    size_t out = 0;
    if (list == NULL) {
        p->oom = 1;
        return;
    }
    DOM__YAML_FOR_ITEMS(&p->y, value, it)
    {
        yaml_node_t *item = dom__yaml_node(&p->y, *it);
        size_t len;
        const char *s = item != NULL ? dom__yaml_scalar(&p->y, item, "a refuse_methods entry", &len) : NULL;
        if (s != NULL && (len > 32 || !dom__valid_http_token(s, len)))
            dom__yaml_error(&p->y, item, "refuse_methods entry %s is not an HTTP method", dom__yaml_show(item).s);
        else if (s != NULL && (list[out] = dom__config_strdup(p, s)) != NULL)
            ++out;
    }
    free_methods(cfg->refuse_methods);
    cfg->refuse_methods = list;
}

int dom__config_refuse_methods_equal(const void *a, const void *b)
{
    char *const *x = ((const dom_config_t *)a)->refuse_methods, *const *y = ((const dom_config_t *)b)->refuse_methods;
    if (x == NULL || y == NULL)
        return x == y;
    for (; *x != NULL && *y != NULL; ++x, ++y)
        if (strcmp(*x, *y) != 0)
            return 0;
    return *x == NULL && *y == NULL;
}

void dom__config_refuse_methods_release(void *obj)
{
    dom_config_t *cfg = obj;
    free_methods(cfg->refuse_methods);
    cfg->refuse_methods = NULL;
}

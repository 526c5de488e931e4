/* Header policy: `expose_decision_headers` (a row of the top table) and `anonymize_strip_headers` (docs/config.md). */
#include <stdlib.h>
#include <string.h>
#include "gateway/config/section.h"

void dom__config_parse_strip_headers(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value,
                                     void *obj)
{
    dom_config_t *cfg = obj;
    if ((cfg->anonymize_strip_headers = dom__config_list(p, value, "anonymize_strip_headers", sizeof(char *), NULL)) ==
        NULL)
        return;
    DOM__YAML_FOR_ITEMS(&p->y, value, it)
    {
        yaml_node_t *item = dom__yaml_node(&p->y, *it);
        char *h = item != NULL ? dom__config_header_name(p, item, "an anonymize_strip_headers entry") : NULL;
        if (h != NULL)
            cfg->anonymize_strip_headers[cfg->n_anonymize_strip_headers++] = h;
    }
}

int dom__config_strip_headers_equal(const void *a, const void *b)
{
    const dom_config_t *x = a, *y = b;
    if (x->n_anonymize_strip_headers != y->n_anonymize_strip_headers)
        return 0;
    for (size_t i = 0; i < x->n_anonymize_strip_headers; ++i)
        if (strcmp(x->anonymize_strip_headers[i], y->anonymize_strip_headers[i]) != 0)
            return 0;
    return 1;
}

void dom__config_strip_headers_release(void *obj)
{
    dom_config_t *cfg = obj;
    for (size_t i = 0; i < cfg->n_anonymize_strip_headers; ++i)
        free(cfg->anonymize_strip_headers[i]);
    free(cfg->anonymize_strip_headers);
    cfg->anonymize_strip_headers = NULL;
    cfg->n_anonymize_strip_headers = 0;
}

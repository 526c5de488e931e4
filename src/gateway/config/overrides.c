/* The `overrides` list: networks an operator maps to a country or a jurisdiction (docs/config.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gateway/config/section.h"
#include "util/validate.h"

static void parse_cidr(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    dom_geo_override_t *ov = obj;
    const char *s = dom__config_scalar(p, row, v);
    if (s != NULL && dom_cidr_parse(s, strlen(s), &ov->cidr) != 0)
        dom__yaml_error(&p->y, v, "%s is not a network (a.b.c.d/n or x::y/n, host bits zero)", dom__yaml_show(v).s);
}

/* An ISO 3166-2 code ("US-CA") into the override; reports why not. */
static int subdivision(dom__config_parser_t *p, yaml_node_t *v, const char *what, const char *s, size_t len,
                       dom_geo_override_t *ov)
{
    switch (dom__iso_subdivision_check(s, len)) {
    case DOM__ISO_SUB_OK:
    case DOM__ISO_SUB_NO_TABLE: /* a country whose subdivisions we carry no table of: the format is all we check */
        snprintf(ov->subdivision, sizeof(ov->subdivision), "%s", s);
        return 0;
    case DOM__ISO_SUB_UNKNOWN:
        dom__yaml_error(&p->y, v, "%s %s is not in ISO 3166-2:%.2s", what, dom__yaml_show(v).s, s);
        return -1;
    case DOM__ISO_SUB_BAD_COUNTRY:
        dom__yaml_error(&p->y, v, "%s %s: %.2s is not an ISO 3166-1 country", what, dom__yaml_show(v).s, s);
        return -1;
    default:
        return 1; /* not a subdivision at all */
    }
}

/* country: DE, or country: US-CA (a subdivision names its country too) */
static void parse_country(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    dom_geo_override_t *ov = obj;
    const char *s = dom__config_scalar(p, row, v);
    size_t len = s != NULL ? strlen(s) : 0;
    if (s == NULL)
        return;
    if (dom__iso_country_known(s, len)) {
        memcpy(ov->country, s, 3);
        return;
    }
    int r = subdivision(p, v, "country", s, len, ov);
    if (r == 0)
        memcpy(ov->country, s, 2);
    else if (r > 0)
        dom__yaml_error(&p->y, v, "country %s must be an ISO 3166-1 code (DE) or ISO 3166-2 code (US-CA)",
                        dom__yaml_show(v).s);
}

static void parse_subdivision(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    const char *s = dom__config_scalar(p, row, v);
    if (s != NULL && subdivision(p, v, "subdivision", s, strlen(s), obj) > 0)
        dom__yaml_error(&p->y, v, "subdivision %s must be an ISO 3166-2 code such as US-CA", dom__yaml_show(v).s);
}

static void parse_jurisdiction(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    dom_geo_override_t *ov = obj;
    const char *s = dom__config_scalar(p, row, v);
    if (s == NULL)
        return;
    if (!dom__valid_jurisdiction(s, strlen(s)))
        dom__yaml_error(&p->y, v, "jurisdiction %s must be 1-%d of [A-Za-z0-9_-]", dom__yaml_show(v).s, DOM_NAME_MAX);
    else
        snprintf(ov->jurisdiction, sizeof(ov->jurisdiction), "%s", s);
}

static int cidr_equal(const void *a, const void *b)
{
    return memcmp(&((const dom_geo_override_t *)a)->cidr, &((const dom_geo_override_t *)b)->cidr, sizeof(dom_cidr_t)) ==
           0;
}

enum { K_CIDR, K_COUNTRY, K_SUBDIVISION, K_JURISDICTION };

static const dom__config_key_t keys[] = {
    [K_CIDR] = {.name = "cidr", .kind = DOM__CFG_OTHER, .parse = parse_cidr, .equal = cidr_equal},
    [K_COUNTRY] = {.name = "country",
                   .kind = DOM__CFG_CHARS,
                   .offset = offsetof(dom_geo_override_t, country),
                   .parse = parse_country},
    [K_SUBDIVISION] = {.name = "subdivision",
                       .kind = DOM__CFG_CHARS,
                       .offset = offsetof(dom_geo_override_t, subdivision),
                       .parse = parse_subdivision},
    [K_JURISDICTION] = {.name = "jurisdiction",
                        .kind = DOM__CFG_CHARS,
                        .offset = offsetof(dom_geo_override_t, jurisdiction),
                        .parse = parse_jurisdiction},
};

/* Only an override whose keys all read well is checked as a whole (no echoes of its first error). */
static void check_override(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    const dom_geo_override_t *ov = obj;
    int has_country = ov->country[0] != '\0', has_j = ov->jurisdiction[0] != '\0';
    if (!dom__yaml_has(seen, K_CIDR))
        dom__yaml_error(&p->y, map, "an override needs a cidr");
    else if (has_country == has_j)
        dom__yaml_error(&p->y, map, "an override needs either a country or a jurisdiction (not both)");
    else if (ov->subdivision[0] != '\0' && !has_country)
        dom__yaml_error(&p->y, map, "an override with a subdivision needs its country");
    else if (ov->subdivision[0] != '\0' && strncmp(ov->subdivision, ov->country, 2) != 0)
        dom__yaml_error(&p->y, map, "subdivision %s is not in country %s", ov->subdivision, ov->country);
}

const dom__config_section_t dom__config_override = {"an override", "", keys, sizeof(keys) / sizeof(keys[0]), NULL};

void dom__config_parse_overrides(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value, void *obj)
{
    dom_config_t *cfg = obj;
    if ((cfg->overrides = dom__config_list(p, value, "overrides", sizeof(*cfg->overrides), NULL)) == NULL)
        return;
    DOM__YAML_FOR_ITEMS(&p->y, value, it)
    {
        yaml_node_t *item = dom__yaml_node(&p->y, *it);
        if (item == NULL)
            continue;
        dom_geo_override_t *ov = &cfg->overrides[cfg->n_overrides];
        size_t errors = p->y.diag->errors;
        dom__yaml_keys_t seen = DOM__YAML_KEY_ROWS(keys, sizeof(keys) / sizeof(keys[0]));
        dom__config_walk_keys(p, &dom__config_override, item, ov, &seen);
        if (p->y.diag->errors == errors && item->type == YAML_MAPPING_NODE)
            check_override(p, item, ov, &seen);
        if (p->y.diag->errors == errors && item->type == YAML_MAPPING_NODE)
            ++cfg->n_overrides;
        else
            memset(ov, 0, sizeof(*ov)); /* the slot is the next override's */
    }
}

int dom__config_overrides_equal(const void *a, const void *b)
{
    const dom_config_t *x = a, *y = b;
    if (x->n_overrides != y->n_overrides)
        return 0;
    for (size_t i = 0; i < x->n_overrides; ++i)
        if (!dom__config_section_equal(&dom__config_override, &x->overrides[i], &y->overrides[i]))
            return 0;
    return 1;
}

void dom__config_overrides_release(void *obj)
{
    dom_config_t *cfg = obj;
    free(cfg->overrides);
    cfg->overrides = NULL;
    cfg->n_overrides = 0;
}

/* The `geo` section: the geo database and how it is read (docs/config.md, geo). */
#include <stdlib.h>
#include <string.h>
#include "gateway/config/section.h"

/* Data paths: dot-separated keys and array indices, "subdivisions.0.iso_code". */
static void parse_data_path(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    char what[96];
    const char *s = dom__config_scalar(p, row, v);
    if (s == NULL)
        return;
    size_t n = strlen(s);
    int ok = n != 0 && n < 256 && s[0] != '.' && s[n - 1] != '.' && strstr(s, "..") == NULL;
    for (const char *c = s; ok && *c; ++c)
        ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_' ||
             *c == '-' || *c == '.';
    if (!ok) {
        dom__yaml_error(&p->y, v, "%s %s must be dot-separated keys such as country.iso_code",
                        dom__config_what(p, row, what, sizeof(what)), dom__yaml_show(v).s);
        return;
    }
    char **field = DOM__FIELD(char *, row, obj), *d = dom__config_strdup(p, s);
    if (d != NULL) {
        free(*field);
        *field = d;
    }
}

/* Another database file applies at once; adding or removing the database changes what the server runs. */
static int same_presence(const dom_config_t *run, const dom_config_t *next)
{
    return (run->geo.database == NULL) == (next->geo.database == NULL);
}

static int keep_database(dom_config_t *next, const dom_config_t *cur)
{
    char *d = cur->geo.database != NULL ? strdup(cur->geo.database) : NULL;
    if (cur->geo.database != NULL && d == NULL)
        return DOM_ENOMEM;
    free(next->geo.database);
    next->geo.database = d;
    return 0;
}

static const char *const shapes[] = {"auto", "geoip2", "flat", NULL};

static const dom__config_key_t keys[] = {
    {.name = "database",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, geo.database),
     .parse = dom__config_parse_str_path,
     .reload = DOM__RELOAD_LIVE,
     .mark = DOM__MARK(dom_config_t, geo.mark),
     .live_if = same_presence,
     .keep = keep_database,
     .refused = "added or removed",
     .note = "live when it names another file; adding or removing it: restart"},
    {.name = "shape",
     .kind = DOM__CFG_INT,
     .offset = offsetof(dom_config_t, geo.shape),
     .parse = dom__config_parse_enum,
     .reload = DOM__RELOAD_LIVE,
     .choices = shapes},
    {.name = "country_path",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, geo.country_path),
     .parse = parse_data_path,
     .reload = DOM__RELOAD_LIVE},
    {.name = "subdivision_path",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, geo.subdivision_path),
     .parse = parse_data_path,
     .reload = DOM__RELOAD_LIVE},
    {.name = "eu_path",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, geo.eu_path),
     .parse = parse_data_path,
     .reload = DOM__RELOAD_LIVE},
    {.name = "reload_poll",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, geo_reload_poll_ms),
     .parse = dom__config_parse_duration,
     .reload = DOM__RELOAD_LIVE,
     .min = 10,
     .def = 2000},
};

_Static_assert(sizeof(dom_geo_shape_t) == sizeof(int), "geo.shape is read as an int");

const dom__config_section_t dom__config_geo = {"geo", "geo.", keys, sizeof(keys) / sizeof(keys[0]), NULL};

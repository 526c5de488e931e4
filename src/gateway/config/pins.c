/* The `pins` section: where residency pins come from and what checks them (docs/config.md, pins). */
#include "gateway/config/section.h"

static const dom__config_key_t keys[] = {
    {.name = "header",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, pins.header),
     .parse = dom__config_parse_header,
     .reload = DOM__RELOAD_LIVE,
     .def_str = DOM_DEFAULT_PIN_HEADER},
    {.name = "keys",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, pins.keys),
     .parse = dom__config_parse_str_path,
     .reload = DOM__RELOAD_LIVE,
     .mark = DOM__MARK(dom_config_t, pins.mark),
     .note = "live; the key file is read again on every SIGHUP"},
};

const dom__config_section_t dom__config_pins = {"pins", "pins.", keys, sizeof(keys) / sizeof(keys[0]), NULL};

/* The `admin` section: the admin listener (/metrics, /healthz, /readyz, /status; docs/operations.md). */
#include "gateway/config/section.h"

_Static_assert(offsetof(dom_config_t, admin.addr) - offsetof(dom_config_t, admin.listen) ==
                       offsetof(dom__config_address_t, addr) &&
                   offsetof(dom_config_t, admin.addrlen) - offsetof(dom_config_t, admin.listen) ==
                       offsetof(dom__config_address_t, addrlen),
               "admin.listen is read as a dom__config_address_t");

static const dom__config_key_t keys[] = {
    {.name = "listen",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, admin.listen),
     .parse = dom__config_parse_listen_address,
     .reload = DOM__RELOAD_RESTART,
     .mark = DOM__MARK(dom_config_t, admin.mark)},
};

const dom__config_section_t dom__config_admin = {"admin", "admin.", keys, sizeof(keys) / sizeof(keys[0]), NULL};

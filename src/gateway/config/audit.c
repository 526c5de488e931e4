/* The `audit` section: the audit log and what it keeps of client addresses (docs/config.md, audit). */
#include "gateway/config/section.h"

static const char *const address_modes[] = {"truncate", "hash", "full", "none", NULL}; /* dom__audit_addr_mode_t */

static const dom__config_key_t keys[] = {
    {.name = "path",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, audit.path),
     .parse = dom__config_parse_str_path,
     .reload = DOM__RELOAD_RESTART,
     .mark = DOM__MARK(dom_config_t, audit.mark)},
    {.name = "client_address",
     .kind = DOM__CFG_INT,
     .offset = offsetof(dom_config_t, audit.client_address),
     .parse = dom__config_parse_enum,
     .reload = DOM__RELOAD_RESTART,
     .choices = address_modes},
    {.name = "ipv4_prefix",
     .kind = DOM__CFG_UINT,
     .offset = offsetof(dom_config_t, audit.ipv4_prefix),
     .parse = dom__config_parse_count,
     .reload = DOM__RELOAD_RESTART,
     .max = 32},
    {.name = "ipv6_prefix",
     .kind = DOM__CFG_UINT,
     .offset = offsetof(dom_config_t, audit.ipv6_prefix),
     .parse = dom__config_parse_count,
     .reload = DOM__RELOAD_RESTART,
     .max = 128},
    {.name = "hash_key_file",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, audit.hash_key_file),
     .parse = dom__config_parse_str_path,
     .reload = DOM__RELOAD_RESTART,
     .mark = DOM__MARK(dom_config_t, audit.hash_key_mark)},
    {.name = "required",
     .kind = DOM__CFG_INT,
     .offset = offsetof(dom_config_t, audit.required),
     .parse = dom__config_parse_bool,
     .reload = DOM__RELOAD_RESTART},
    {.name = "buffer",
     .kind = DOM__CFG_U64,
     .offset = offsetof(dom_config_t, audit.buffer),
     .parse = dom__config_parse_size,
     .reload = DOM__RELOAD_RESTART,
     .min = 4096,
     .max = 1u << 30},
};

static void check(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    const dom_config_t *cfg = obj;
    if (cfg->audit.path != NULL && cfg->audit.client_address == 1 && cfg->audit.hash_key_file == NULL)
        dom__yaml_report(&p->y, NULL, &cfg->audit.mark, 0,
                         "audit.client_address: hash needs audit.hash_key_file (a secret key)");
    if (cfg->audit.required && cfg->audit.path == NULL)
        dom__yaml_error(&p->y, map, "audit.required: true needs audit.path");
}

const dom__config_section_t dom__config_audit = {"audit", "audit.", keys, sizeof(keys) / sizeof(keys[0]), check};

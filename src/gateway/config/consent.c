/*
 * The `consent` section: how the consent header is read (docs/config.md, consent). Tokens by
 * default; the unsigned header of class names only as an explicit opt-in, warned at every load.
 */
#include "gateway/config/section.h"

static const char *const modes[] = {"token", "header", NULL}; /* dom_consent_mode_t */

static const dom__config_key_t keys[] = {
    {.name = "mode",
     .kind = DOM__CFG_INT,
     .offset = offsetof(dom_config_t, consent.mode),
     .parse = dom__config_parse_enum,
     .reload = DOM__RELOAD_LIVE,
     .mark = DOM__MARK(dom_config_t, consent.mode_mark),
     .choices = modes},
    {.name = "keys",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, consent.keys),
     .parse = dom__config_parse_str_path,
     .reload = DOM__RELOAD_LIVE,
     .mark = DOM__MARK(dom_config_t, consent.keys_mark),
     .note = "live; the key file is read again on every SIGHUP"},
    {.name = "revocations",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, consent.revocations),
     .parse = dom__config_parse_str_path,
     .reload = DOM__RELOAD_RESTART,
     .mark = DOM__MARK(dom_config_t, consent.revocations_mark),
     .note = "restart (the path: the file itself is reloaded whenever it changes, in place, by rename or symlink)"},
};

static void check(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    const dom_config_t *cfg = obj;
    (void)seen;
    if (cfg->consent.mode == DOM_CONSENT_MODE_HEADER)
        dom__yaml_report(&p->y, NULL, &cfg->consent.mode_mark, 1,
                         "consent.mode: header: consent is whatever the client's header says, unsigned and "
                         "unprovable (GDPR art. 7(1)); use consent tokens (consent.keys)");
    else if (cfg->consent.keys == NULL)
        dom__yaml_warn(&p->y, map,
                       "consent.keys is not set: every consent token is refused (consent_unknown_key), so "
                       "consent-gated writes are refused");
}

const dom__config_section_t dom__config_consent = {"consent", "consent.", keys, sizeof(keys) / sizeof(keys[0]), check};

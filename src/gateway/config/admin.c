/*
 * The `admin` section: the admin listener (/metrics, /healthz, /readyz, /status; docs/operations.md)
 * and how it authenticates its clients off loopback (a bearer token, client certificates, both).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include "gateway/config/section.h"

_Static_assert(offsetof(dom_config_t, admin.addr) - offsetof(dom_config_t, admin.listen) ==
                       offsetof(dom__config_address_t, addr) &&
                   offsetof(dom_config_t, admin.addrlen) - offsetof(dom_config_t, admin.listen) ==
                       offsetof(dom__config_address_t, addrlen),
               "admin.listen is read as a dom__config_address_t");

int dom_config_addr_is_loopback(const struct sockaddr_storage *addr)
{
    if (addr->ss_family == AF_INET)
        return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
    if (addr->ss_family != AF_INET6)
        return 0;
    const struct in6_addr *a = &((const struct sockaddr_in6 *)addr)->sin6_addr;
    return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

static void check_tls(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    const dom_config_t *cfg = obj;
    if (cfg->admin.tls_certificate == NULL || cfg->admin.tls_key == NULL)
        dom__yaml_error(&p->y, map, "admin.tls needs certificate and key");
}

static const dom__config_key_t tls_keys[] = {
    {.name = "certificate",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, admin.tls_certificate),
     .parse = dom__config_parse_str_path,
     .reload = DOM__RELOAD_RESTART},
    {.name = "key",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, admin.tls_key),
     .parse = dom__config_parse_str_path,
     .reload = DOM__RELOAD_RESTART},
    {.name = "client_ca",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, admin.tls_client_ca),
     .parse = dom__config_parse_str_path,
     .reload = DOM__RELOAD_RESTART},
};

static const dom__config_section_t tls = {"admin.tls", "admin.tls.", tls_keys, sizeof(tls_keys) / sizeof(tls_keys[0]),
                                          check_tls};

/*
 * The admin listener answers /metrics and /status (rules, nodes, audit state). On loopback only
 * local users reach it; anywhere else it must authenticate its clients (a bearer token, client
 * certificates or both) unless the operator opts out in so many words.
 */
static void check_admin(dom__config_parser_t *p, yaml_node_t *map, void *obj, const dom__yaml_keys_t *seen)
{
    const dom_config_t *cfg = obj;
    if (cfg->admin.tls_client_ca != NULL && cfg->admin.tls_certificate == NULL)
        return; /* "admin.tls needs certificate and key" was reported */
    if (cfg->admin.listen == NULL) {
        if (cfg->admin.token_file != NULL || cfg->admin.tls_certificate != NULL)
            dom__yaml_report(&p->y, NULL, cfg->admin.token_file ? &cfg->admin.token_mark : &cfg->admin.tls_mark, 0,
                             "admin.token_file and admin.tls need admin.listen");
        return;
    }
    if (dom_config_addr_is_loopback(&cfg->admin.addr))
        return;
    int authenticated = cfg->admin.token_file != NULL || cfg->admin.tls_client_ca != NULL;
    if (!authenticated && !cfg->admin.allow_unauthenticated) {
        dom__yaml_report(&p->y, NULL, &cfg->admin.mark, 0,
                         "admin.listen %s is not a loopback address and the admin listener has no authentication: "
                         "anyone who reaches it reads /metrics and /status. Set admin.token_file (a bearer token) "
                         "or admin.tls.client_ca (client certificates), or admin.allow_unauthenticated: true if a "
                         "firewall already keeps everyone else out",
                         cfg->admin.listen);
        return;
    }
    dom__yaml_report(&p->y, NULL, &cfg->admin.mark, 1, "admin.listen %s is not a loopback address: %s",
                     cfg->admin.listen,
                     !authenticated ? "/metrics and /status are open to anyone who reaches it "
                                      "(admin.allow_unauthenticated: true)"
                     : cfg->admin.tls_certificate == NULL
                         ? "requests need the bearer token of admin.token_file, which crosses the network in clear "
                           "text; add admin.tls"
                     : cfg->admin.tls_client_ca != NULL && cfg->admin.token_file != NULL
                         ? "requests need a client certificate signed by admin.tls.client_ca and the bearer token"
                     : cfg->admin.tls_client_ca != NULL ? "requests need a client certificate signed by "
                                                          "admin.tls.client_ca"
                                                        : "requests need the bearer token of admin.token_file (TLS)");
}

static const dom__config_key_t keys[] = {
    {.name = "listen",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, admin.listen),
     .parse = dom__config_parse_listen_address,
     .reload = DOM__RELOAD_RESTART,
     .mark = DOM__MARK(dom_config_t, admin.mark)},
    {.name = "token_file",
     .kind = DOM__CFG_STR,
     .offset = offsetof(dom_config_t, admin.token_file),
     .parse = dom__config_parse_str_path,
     .reload = DOM__RELOAD_LIVE,
     .mark = DOM__MARK(dom_config_t, admin.token_mark),
     .note = "live; the token file is read again on every SIGHUP"},
    {.name = "tls", .kind = DOM__CFG_SECTION, .mark = DOM__MARK(dom_config_t, admin.tls_mark), .section = &tls},
    {.name = "allow_unauthenticated",
     .kind = DOM__CFG_INT,
     .offset = offsetof(dom_config_t, admin.allow_unauthenticated),
     .parse = dom__config_parse_bool,
     .reload = DOM__RELOAD_RESTART},
    {.name = "open_probes",
     .kind = DOM__CFG_INT,
     .offset = offsetof(dom_config_t, admin.open_probes),
     .parse = dom__config_parse_bool,
     .reload = DOM__RELOAD_RESTART},
};

const dom__config_section_t dom__config_admin = {"admin", "admin.", keys, sizeof(keys) / sizeof(keys[0]), check_admin};

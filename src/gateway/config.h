/*
 * The gateway's configuration (operators' surface): a YAML file parsed into a plain
 * struct. No libh2o here, so `explain -c` and the tests can use it. The keys are
 * documented in docs/config.md; examples/domicile.yaml is the reference file. The parser
 * is one table of keys per section, in src/gateway/config/ (docs/internals/config.md).
 */
#ifndef DOM_GATEWAY_CONFIG_H
#define DOM_GATEWAY_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include "domicile/clientip.h"
#include "domicile/diag.h"
#include "domicile/facts.h"
#include "domicile/geo.h"
#include "domicile/pick.h"
#include "domicile/rules.h"

typedef struct dom_config_listener {
    char *address;                /* as written: "127.0.0.1:8443", "[::1]:8443" */
    struct sockaddr_storage addr; /* numeric address and port */
    socklen_t addrlen;
    char *tls_certificate; /* absolute or config-relative resolved path; NULL = cleartext */
    char *tls_key;
    int proxy_protocol; /* expect a PROXY protocol v1/v2 header first (read by the gateway, proxyproto_accept.c) */
    dom_mark_t mark, tls_mark;
} dom_config_listener_t;

/**
 * How the gateway talks to a node (docs/config.md, clusters[].upstream and a node's own upstream):
 * a cluster's keys apply to its nodes, a node's own replace them key by key. After loading, every
 * node has every value set (0 on a cluster means "not set there").
 */
typedef struct dom_config_upstream {
    unsigned max_connections;       /* to the node, over all worker threads; default 256 */
    uint64_t connect_timeout_ms;    /* TCP connect and TLS handshake; default limits.upstream_timeout */
    uint64_t first_byte_timeout_ms; /* request sent → first byte of the answer; default limits.upstream_timeout */
    uint64_t idle_timeout_ms;       /* longest silence while the answer streams in; default limits.upstream_timeout */
    uint64_t keepalive_timeout_ms;  /* an unused kept-alive connection is closed after; default 2 s */
    uint64_t queue_timeout_ms;      /* longest wait for a connection while max_connections are busy; default 5 s */
    char *tls_ca;                   /* https:// nodes: PEM file of the CAs to trust; NULL = the system store */
    dom_mark_t mark, tls_ca_mark;
} dom_config_upstream_t;

typedef struct dom_config_node {
    char *url;                      /* as written: "http://127.0.0.1:9101" */
    int tls;                        /* https:// */
    char *host;                     /* host name or address, without brackets */
    uint16_t port;                  /* explicit or the scheme's default */
    dom_config_upstream_t upstream; /* resolved: the node's own keys, else the cluster's, else the defaults */
    dom_mark_t mark;
} dom_config_node_t;

/** Health checking of a cluster's nodes (docs/config.md, clusters[].health). */
typedef struct dom_config_health {
    char *path;            /* active check: GET path; NULL = no active checks */
    uint64_t interval_ms;  /* default 2 s */
    uint64_t timeout_ms;   /* default 1 s */
    unsigned rise, fall;   /* successes to come up, failures to go down; default 2 and 3 */
    unsigned passive_fall; /* consecutive failed requests (connect failure, 5xx) that mark a node down; 0 = off */
    uint64_t passive_cooldown_ms; /* without active checks: a passively downed node is retried after this */
} dom_config_health_t;

typedef struct dom_config_cluster {
    char *name;
    char *region; /* a storage region of the rule set */
    dom_balance_t balance;
    dom_config_health_t health;
    dom_config_upstream_t upstream; /* as written for the cluster (0 / NULL: not set) */
    dom_config_node_t *nodes;
    size_t n_nodes;
    dom_mark_t mark, region_mark;
} dom_config_cluster_t;

typedef struct dom_config_class_limit {
    char *class_name;
    uint64_t max_body;
    dom_mark_t mark;
} dom_config_class_limit_t;

/** A parsed configuration. Paths are resolved against the config file's directory. */
typedef struct dom_config {
    char *file;       /* the config file as given */
    char *dir;        /* its directory */
    unsigned threads; /* default: number of online CPUs */
    char *instance;   /* this replica's name in /status, metrics and audit lines; default: the host name */
    char sha256[65];  /* SHA-256 of the file's bytes (dom_config_load; "" from a buffer): which config runs */

    dom_config_listener_t *listeners;
    size_t n_listeners;

    dom_cidr_list_t trusted_proxies;

    struct {
        char *database; /* NULL: no database, every location unknown (fail closed) */
        dom_geo_shape_t shape;
        char *country_path, *subdivision_path, *eu_path; /* NULL = default of the shape */
        dom_mark_t mark;
    } geo;

    dom_geo_override_t *overrides;
    size_t n_overrides;

    char *rules; /* compiled rules database (required) */
    dom_mark_t rules_mark;

    struct {
        char *header; /* lower-case; default "domicile-pin" */
        char *keys;   /* key file; NULL = no keys (every pin is refused as unknown_key) */
        dom_mark_t mark;
    } pins;

    char *consent_header; /* lower-case; default "domicile-consent" */

    struct {
        int mode;          /* dom_consent_mode_t: token (default) or header (unsigned, warned) */
        char *keys;        /* consent key file (pins' format); NULL = no keys (every token is unknown_key) */
        char *revocations; /* revocation list, reloaded when it changes; NULL = none */
        dom_mark_t mode_mark, keys_mark, revocations_mark;
    } consent;

    dom_path_mode_t paths; /* strict (default) or canonicalize: encoded dots and slashes */
    char **refuse_methods; /* NULL-terminated; 405 for these; NULL = CONNECT, TRACE, TRACK */

    struct {
        uint64_t max_body; /* bytes; default 1 MiB */
        dom_config_class_limit_t *classes;
        size_t n_classes;
        uint64_t upstream_timeout_ms;     /* default 30 s */
        uint64_t drain_timeout_ms;        /* default 10 s */
        unsigned h2_max_resets;           /* streams an HTTP/2 connection may cancel before it is cut; 0 = off */
        uint64_t proxy_header_timeout_ms; /* a proxy_protocol connection's header must arrive within; default 5 s */
        uint64_t max_headers;             /* header fields per request (431 above); default 100 */
        uint64_t max_header_bytes;        /* bytes of header names and values (431 above); default 64 KiB */
        /* bounds inside libh2o (patches/, src/gateway/h2limits.c); fixed at start */
        uint64_t request_timeout_ms;            /* HTTP/1.1 request, HTTP/2 request body: default 10 s */
        uint64_t h2_max_header_list_size;       /* decoded names + values + 32 per field: default 64 KiB */
        unsigned h2_max_headers;                /* default 100 */
        unsigned h2_max_continuations;          /* CONTINUATION frames per header block: default 8 */
        uint64_t h2_header_block_timeout_ms;    /* default 10 s */
        uint64_t h2_body_buffer_per_connection; /* buffered request bodies: default 16 MiB */
        uint64_t h2_body_buffer_total;          /* ... of all connections: default 256 MiB */
        uint64_t receive_buffer;                /* SO_RCVBUF of accepted sockets: default 256 KiB */
    } limits;

    int expose_decision_headers;
    int forward_trailers; /* HTTP/2 request trailers go upstream (as header fields, after the decision); default off */
    char **anonymize_strip_headers; /* lower-case names */
    size_t n_anonymize_strip_headers;

    dom_config_cluster_t *clusters;
    size_t n_clusters;

    struct {
        char *path;         /* NULL: no audit log */
        int client_address; /* dom__audit_addr_mode_t: 0 truncate, 1 hash, 2 full, 3 none */
        unsigned ipv4_prefix, ipv6_prefix;
        char *hash_key_file;
        uint64_t buffer;
        int required; /* audit.required: /readyz is 503 while the audit log cannot be written */
        /* the hash chain (docs/internals/audit.md): checkpoints signed with a key of key_file (default: pins.keys),
         * the one named key_id (default: the first) */
        char *key_file, *key_id, *state_file;
        uint64_t checkpoint_lines, checkpoint_interval_ms;
        dom_mark_t mark, hash_key_mark, key_mark;
    } audit;

    uint64_t geo_reload_poll_ms; /* geo.reload_poll: stat interval beside inotify; default 2 s */

    struct {
        char *listen; /* NULL: no admin listener */
        struct sockaddr_storage addr;
        socklen_t addrlen;
        char *token_file;                /* bearer token every request must carry; NULL = none */
        char *tls_certificate, *tls_key; /* admin.tls: NULL = cleartext */
        char *tls_client_ca;             /* admin.tls.client_ca: clients need a certificate it signed */
        int allow_unauthenticated;       /* off loopback without token or client certificates: warn only */
        int open_probes;                 /* /healthz and /readyz answer without authentication */
        dom_mark_t mark, token_mark, tls_mark;
    } admin;
} dom_config_t;

/**
 * Loads and checks a configuration file. Every problem is reported through diag (NULL:
 * stderr) as file:line:col: message, all of them in one run; unknown keys are errors. On
 * success *out is a new config the caller frees with dom_config_free; on failure *out is NULL.
 * Errors: DOM_ECONFIG (problems reported), DOM_EIO (cannot read the file), DOM_ENOMEM.
 */
int dom_config_load(const char *path, dom_config_t **out, dom_diag_t *diag);

/**
 * Same, but on DOM_ECONFIG *out still holds what did parse (each key with an error keeps its
 * default, an item with an error may be incomplete), so a checker can go on to the checks that
 * need other files (the rules' regions, TLS files) and report those errors in the same run.
 * Never serve with it. The caller frees *out whenever it is not NULL.
 */
int dom_config_load_partial(const char *path, dom_config_t **out, dom_diag_t *diag);

/**
 * Same as dom_config_load, from a buffer: `name` is used in messages and relative paths resolve
 * against `dir` (NULL: the current directory). Used by the fuzzer and the tests.
 */
int dom_config_load_buffer(const char *name, const char *dir, const char *buf, size_t len, dom_config_t **out,
                           dom_diag_t *diag);

/** Frees a config. NULL safe. */
void dom_config_free(dom_config_t *cfg);

/**
 * Checks the clusters against a rule set: a cluster whose region the rules do not know is an
 * error (reported at the cluster's region); a region some rule allows but no cluster serves is
 * a warning (requests allowed only there get 451 no_compliant_region). Returns the number of errors.
 */
size_t dom_config_check_regions(const dom_config_t *cfg, const dom_ruleset_t *rules, dom_diag_t *diag);

/** How to open and read the geo database a config names (borrows from cfg). */
static inline dom_geo_options_t dom_config_geo_options(const dom_config_t *cfg)
{
    return (dom_geo_options_t){
        .shape = cfg->geo.shape,
        .country_path = cfg->geo.country_path,
        .subdivision_path = cfg->geo.subdivision_path,
        .eu_path = cfg->geo.eu_path,
        .overrides = cfg->overrides,
        .n_overrides = cfg->n_overrides,
    };
}

/**
 * The facts builder's settings (facts.h) from a config, the pin keys and the geo handle in use:
 * the one place the gateway and `explain -c` turn a config into what steps 0-3 read.
 */
static inline void dom_config_facts(const dom_config_t *cfg, const dom_pin_keyring_t *keyring, dom_geo_t *geo,
                                    dom_facts_config_t *out)
{
    out->trusted = &cfg->trusted_proxies;
    out->pin_header = cfg->pins.header;
    out->consent_header = cfg->consent_header;
    out->consent_mode = (dom_consent_mode_t)cfg->consent.mode;
    out->consent_keyring = NULL; /* the caller's: consent keys and revocations are loaded beside the config */
    out->revocations = NULL;
    out->keyring = keyring;
    out->geo = geo;
    out->paths = cfg->paths;
    out->max_headers = (size_t)cfg->limits.max_headers;
    out->max_header_bytes = (size_t)cfg->limits.max_header_bytes;
    out->refuse_methods = (const char *const *)cfg->refuse_methods;
}

/** 1 when a listen address is on loopback (127.0.0.0/8, ::1, ::ffff:127.0.0.0/104), else 0. */
int dom_config_addr_is_loopback(const struct sockaddr_storage *addr);

/**
 * Checks the permissions of every secret file the config names (pins.keys, consent.keys, audit.hash_key_file,
 * admin.token_file) with dom_keyfile_check: a file the group or every user can write is an error
 * (reported at its config position), one every user can read a warning; a file that cannot be
 * stat'ed is left to its loader. Returns the number of errors. At start and at every SIGHUP.
 */
size_t dom_config_check_secrets(const dom_config_t *cfg, dom_diag_t *diag);

/** Largest body any class may send (max of max_body and class_max_body): h2o's own hard limit. */
uint64_t dom_config_largest_body(const dom_config_t *cfg);

/** Called by dom_config_compare for each key that changed: its path, and whether SIGHUP applies it. */
typedef void (*dom_config_change_fn)(void *ctx, const char *key, int live, const char *note);

/**
 * What SIGHUP does with `next`, key by key along the config's tables. For each key whose value
 * differs, fn gets its path ("limits.max_body", "listen") and live = 1 if the change applies now
 * (compared with `cur`, the settings in force), or live = 0 if it needs a restart (compared with
 * `run`, the configuration the process started with). A key that applies only under a condition
 * (a body limit up to the start-up maximum; another geo database, but not adding or removing
 * one) and fails it needs a restart: fn gets the key's note, and the running value is put back
 * into next. Errors: DOM_ENOMEM (next may then hold some running values back).
 */
int dom_config_compare(const dom_config_t *run, const dom_config_t *cur, dom_config_t *next, dom_config_change_fn fn,
                       void *ctx);

/** 1 if every key under `path` ("geo", "overrides", "limits.max_body") holds the same in a and b. */
int dom_config_same(const char *path, const dom_config_t *a, const dom_config_t *b);

/** Prints every key of the config and what SIGHUP does with a change: the table of docs/config.md. */
void dom_config_keys_markdown(FILE *fp);

#endif

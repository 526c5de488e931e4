/*
 * SIGHUP: re-read the config file and apply what can change while requests run (docs/operations.md,
 * "Reloads without restarts"). All checks and opens happen here, on the main thread; the result is
 * published in one step (live.h), so a request sees the old settings or the new ones, never a mix.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/crypto.h>
#include "gateway/admin.h"
#include "gateway/gateway.h"
#include "gateway/georeload.h"
#include "gateway/h2limits.h"

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static int listeners_eq(const dom_config_t *a, const dom_config_t *b)
{
    if (a->n_listeners != b->n_listeners)
        return 0;
    for (size_t i = 0; i < a->n_listeners; ++i) {
        const dom_config_listener_t *x = &a->listeners[i], *y = &b->listeners[i];
        if (!str_eq(x->address, y->address) || !str_eq(x->tls_certificate, y->tls_certificate) ||
            !str_eq(x->tls_key, y->tls_key) || x->proxy_protocol != y->proxy_protocol)
            return 0;
    }
    return 1;
}

static int health_eq(const dom_config_health_t *x, const dom_config_health_t *y)
{
    return str_eq(x->path, y->path) && x->interval_ms == y->interval_ms && x->timeout_ms == y->timeout_ms &&
           x->rise == y->rise && x->fall == y->fall && x->passive_fall == y->passive_fall &&
           x->passive_cooldown_ms == y->passive_cooldown_ms;
}

static int clusters_eq(const dom_config_t *a, const dom_config_t *b)
{
    if (a->n_clusters != b->n_clusters)
        return 0;
    for (size_t i = 0; i < a->n_clusters; ++i) {
        const dom_config_cluster_t *x = &a->clusters[i], *y = &b->clusters[i];
        if (!str_eq(x->name, y->name) || !str_eq(x->region, y->region) || x->balance != y->balance ||
            !health_eq(&x->health, &y->health) || x->n_nodes != y->n_nodes)
            return 0;
        for (size_t j = 0; j < x->n_nodes; ++j) {
            const dom_config_upstream_t *u = &x->nodes[j].upstream, *v = &y->nodes[j].upstream;
            if (!str_eq(x->nodes[j].url, y->nodes[j].url) || u->max_connections != v->max_connections ||
                u->connect_timeout_ms != v->connect_timeout_ms ||
                u->first_byte_timeout_ms != v->first_byte_timeout_ms || u->idle_timeout_ms != v->idle_timeout_ms ||
                u->keepalive_timeout_ms != v->keepalive_timeout_ms || u->queue_timeout_ms != v->queue_timeout_ms ||
                !str_eq(u->tls_ca, v->tls_ca))
                return 0;
        }
    }
    return 1;
}

static int audit_eq(const dom_config_t *a, const dom_config_t *b)
{
    return str_eq(a->audit.path, b->audit.path) && a->audit.client_address == b->audit.client_address &&
           a->audit.ipv4_prefix == b->audit.ipv4_prefix && a->audit.ipv6_prefix == b->audit.ipv6_prefix &&
           str_eq(a->audit.hash_key_file, b->audit.hash_key_file) && a->audit.buffer == b->audit.buffer &&
           a->audit.required == b->audit.required;
}

/* The admin listener's keys a restart applies (the token is read again at every SIGHUP). */
static int admin_eq(const dom_config_t *a, const dom_config_t *b)
{
    return str_eq(a->admin.listen, b->admin.listen) && str_eq(a->admin.tls_certificate, b->admin.tls_certificate) &&
           str_eq(a->admin.tls_key, b->admin.tls_key) && str_eq(a->admin.tls_client_ca, b->admin.tls_client_ca) &&
           a->admin.allow_unauthenticated == b->admin.allow_unauthenticated &&
           a->admin.open_probes == b->admin.open_probes;
}

static int cidrs_eq(const dom_cidr_list_t *a, const dom_cidr_list_t *b)
{
    return a->count == b->count && (a->count == 0 || memcmp(a->items, b->items, a->count * sizeof(*a->items)) == 0);
}

static int overrides_eq(const dom_config_t *a, const dom_config_t *b)
{
    return a->n_overrides == b->n_overrides &&
           (a->n_overrides == 0 || memcmp(a->overrides, b->overrides, a->n_overrides * sizeof(*a->overrides)) == 0);
}

/* Everything that makes a new geo handle: the file, how it is read, the overrides. */
static int geo_eq(const dom_config_t *a, const dom_config_t *b)
{
    return str_eq(a->geo.database, b->geo.database) && a->geo.shape == b->geo.shape &&
           str_eq(a->geo.country_path, b->geo.country_path) &&
           str_eq(a->geo.subdivision_path, b->geo.subdivision_path) && str_eq(a->geo.eu_path, b->geo.eu_path) &&
           a->geo_reload_poll_ms == b->geo_reload_poll_ms && overrides_eq(a, b);
}

static int body_limits_eq(const dom_config_t *a, const dom_config_t *b)
{
    if (a->limits.max_body != b->limits.max_body || a->limits.n_classes != b->limits.n_classes)
        return 0;
    for (size_t i = 0; i < a->limits.n_classes; ++i)
        if (!str_eq(a->limits.classes[i].class_name, b->limits.classes[i].class_name) ||
            a->limits.classes[i].max_body != b->limits.classes[i].max_body)
            return 0;
    return 1;
}

static int strip_headers_eq(const dom_config_t *a, const dom_config_t *b)
{
    if (a->n_anonymize_strip_headers != b->n_anonymize_strip_headers)
        return 0;
    for (size_t i = 0; i < a->n_anonymize_strip_headers; ++i)
        if (!str_eq(a->anonymize_strip_headers[i], b->anonymize_strip_headers[i]))
            return 0;
    return 1;
}

/* Puts src's body limits into dst (dst's own are freed). Errors: DOM_ENOMEM (dst unchanged). */
static int copy_body_limits(dom_config_t *dst, const dom_config_t *src)
{
    dom_config_class_limit_t *cl = NULL;
    if (src->limits.n_classes != 0 && (cl = calloc(src->limits.n_classes, sizeof(*cl))) == NULL)
        return DOM_ENOMEM;
    for (size_t i = 0; i < src->limits.n_classes; ++i) {
        cl[i] = src->limits.classes[i];
        if ((cl[i].class_name = strdup(src->limits.classes[i].class_name)) == NULL) {
            while (i-- > 0)
                free(cl[i].class_name);
            free(cl);
            return DOM_ENOMEM;
        }
    }
    for (size_t i = 0; i < dst->limits.n_classes; ++i)
        free(dst->limits.classes[i].class_name);
    free(dst->limits.classes);
    dst->limits.classes = cl;
    dst->limits.n_classes = src->limits.n_classes;
    dst->limits.max_body = src->limits.max_body;
    return 0;
}

/* A short list of key names for the log: "a, b, c". */
struct keylist {
    char buf[512];
    size_t len;
};

static void add_key(struct keylist *k, const char *name)
{
    if (k->len < sizeof(k->buf))
        k->len += (size_t)snprintf(k->buf + k->len, sizeof(k->buf) - k->len, "%s%s", k->len ? ", " : "", name);
}

/* Keys only a restart applies, compared with what the process runs (the start-up config). */
static void restart_keys(const dom_config_t *run, const dom_config_t *cfg, int geo_switch, struct keylist *k)
{
    if (run->threads != cfg->threads)
        add_key(k, "threads");
    if (strcmp(run->instance, cfg->instance) != 0)
        add_key(k, "instance");
    if (!listeners_eq(run, cfg))
        add_key(k, "listen");
    if (!str_eq(run->rules, cfg->rules))
        add_key(k, "rules");
    if (!clusters_eq(run, cfg))
        add_key(k, "clusters");
    if (!admin_eq(run, cfg))
        add_key(k, "admin (listen, tls, allow_unauthenticated, open_probes)");
    if (!audit_eq(run, cfg))
        add_key(k, "audit");
    if (run->limits.upstream_timeout_ms != cfg->limits.upstream_timeout_ms)
        add_key(k, "limits.upstream_timeout");
    if (run->limits.drain_timeout_ms != cfg->limits.drain_timeout_ms)
        add_key(k, "limits.drain_timeout");
    if (run->limits.proxy_header_timeout_ms != cfg->limits.proxy_header_timeout_ms)
        add_key(k, "limits.proxy_header_timeout");
    if (!dom__h2limits_same(run, cfg))
        add_key(k, "limits (request_timeout, receive_buffer, h2_* but h2_max_resets)");
    if (geo_switch)
        add_key(k, "geo.database (added or removed)");
}

/* What the publish callback needs (called by dom__georeload_replace once the new database opened). */
struct apply_ctx {
    dom__server_t *srv;
    dom__settings_t *settings;
    int published;
};

static void publish_with_geo(void *ctx, dom_geo_t *geo)
{
    struct apply_ctx *a = ctx;
    a->published = dom__live_publish(&a->srv->live, a->settings, geo, NULL) == 0;
}

void dom__reload_config(dom__server_t *srv)
{
    const dom_config_t *run = srv->config, *cur = srv->settings->config;
    const char *file = run->file;
    dom_config_diag_t diag = {0}; /* stderr, as file:line:col: message */
    dom_config_t *cfg = NULL;
    dom_pin_keyring_t ring = {0};
    dom__settings_t *settings = NULL;
    dom_geo_t *none_geo = NULL;
    char err[512] = "";
    unsigned char token[32] = {0}; /* SHA-256 of admin.token_file's token */

    if (dom_config_load(file, &cfg, &diag) != 0)
        goto fail;
    dom_ruleset_t *rs = dom__live_rules(&srv->live, NULL);
    if (rs != NULL) {
        dom_config_check_regions(cfg, rs, &diag);
        dom_ruleset_release(rs);
    }
    /* a key file others could have replaced is refused now as at start: the running keys stay */
    dom_config_check_secrets(cfg, &diag);
    if (diag.errors != 0)
        goto fail;
    if (cfg->pins.keys != NULL && dom_pin_keyring_load(cfg->pins.keys, &ring, err, sizeof(err)) != 0) {
        dom_config_report(&diag, cfg->file, &cfg->pins.mark, 0, "pin keys: %s", err[0] ? err : cfg->pins.keys);
        goto fail;
    }
    size_t n_keys = ring.count;
    if (cfg->admin.token_file != NULL && dom__admin_token_load(cfg->admin.token_file, token, err, sizeof(err)) != 0) {
        dom_config_report(&diag, cfg->file, &cfg->admin.token_mark, 0, "%s", err);
        goto fail;
    }

    struct keylist restart = {.len = 0}, applied = {.len = 0};
    int geo_switch = (run->geo.database == NULL) != (cfg->geo.database == NULL);
    restart_keys(run, cfg, geo_switch, &restart);
    /* h2o's hard body limit was set at start: a larger one needs a restart, the running limits stay */
    uint64_t hard = dom_config_largest_body(run), want = dom_config_largest_body(cfg);
    int body_kept = 0;
    if (want > hard) {
        if (copy_body_limits(cfg, cur) != 0)
            goto oom;
        add_key(&restart, "limits.max_body/class_max_body (above the start-up maximum)");
        body_kept = 1;
        fprintf(stderr,
                "domicile: %s: limits.max_body/class_max_body: %llu bytes exceeds the hard limit set at start "
                "(%llu): needs a restart; keeping the running body limits\n",
                file, (unsigned long long)want, (unsigned long long)hard);
    }
    add_key(&applied, cfg->pins.keys != NULL ? "pins.keys" : "pins.keys (none)");
    if (!cidrs_eq(&cur->trusted_proxies, &cfg->trusted_proxies))
        add_key(&applied, "trusted_proxies");
    if (!geo_switch && !geo_eq(cur, cfg))
        add_key(&applied, overrides_eq(cur, cfg) ? "geo" : "overrides");
    if (!str_eq(cur->pins.header, cfg->pins.header))
        add_key(&applied, "pins.header");
    if (!str_eq(cur->consent_header, cfg->consent_header))
        add_key(&applied, "consent_header");
    if (cur->expose_decision_headers != cfg->expose_decision_headers)
        add_key(&applied, "expose_decision_headers");
    if (!strip_headers_eq(cur, cfg))
        add_key(&applied, "anonymize_strip_headers");
    if (!body_kept && !body_limits_eq(cur, cfg))
        add_key(&applied, "limits.max_body/class_max_body");
    if (cur->limits.h2_max_resets != cfg->limits.h2_max_resets)
        add_key(&applied, "limits.h2_max_resets");
    if (cfg->admin.token_file != NULL || cur->admin.token_file != NULL)
        add_key(&applied, cfg->admin.token_file != NULL ? "admin.token_file" : "admin.token_file (none)");

    if ((settings = dom__settings_new(cfg, 1, &ring)) == NULL)
        goto oom;
    if (cfg->admin.token_file != NULL) {
        settings->has_admin_token = 1;
        memcpy(settings->admin_token_sha256, token, sizeof(token));
        OPENSSL_cleanse(token, sizeof(token));
    }
    dom_config_t *owned = cfg;
    cfg = NULL; /* the settings own it now */

    struct apply_ctx a = {srv, settings, 0};
    dom_geo_options_t opts = {
        .shape = owned->geo.shape,
        .country_path = owned->geo.country_path,
        .subdivision_path = owned->geo.subdivision_path,
        .eu_path = owned->geo.eu_path,
        .overrides = owned->overrides,
        .n_overrides = owned->n_overrides,
    };
    if (geo_switch || geo_eq(cur, owned)) {
        publish_with_geo(&a, NULL); /* the geo handle in use stays */
    } else if (srv->georeload != NULL) {
        err[0] = '\0';
        if (dom__georeload_replace(srv->georeload, owned->geo.database, &opts, (unsigned)owned->geo_reload_poll_ms,
                                   publish_with_geo, &a, err, sizeof(err)) != 0) {
            dom_config_report(&diag, owned->file, &owned->geo.mark, 0, "%s",
                              err[0] ? err : "geo database: cannot open");
            goto fail;
        }
    } else {
        if (dom_geo_open_none(&opts, &none_geo) != 0) {
            dom_config_report(&diag, owned->file, NULL, 0, "cannot set up geolocation (overrides)");
            goto fail;
        }
        publish_with_geo(&a, none_geo);
        dom_geo_release(none_geo);
    }
    if (!a.published)
        goto oom;
    /* the main thread's reference moves to the new settings; workers drop the old ones at their next request */
    dom__settings_release(srv->settings);
    srv->settings = settings;
    __atomic_add_fetch(&srv->sighup_reloads, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&srv->config_loaded_at, (int64_t)time(NULL), __ATOMIC_RELAXED);
    fprintf(stderr, "domicile: SIGHUP: %s reloaded; applied: %s (%zu pin keys)\n", file, applied.buf, n_keys);
    if (restart.len != 0)
        fprintf(stderr, "domicile: SIGHUP: %s: changed but needs a restart (not applied): %s\n", file, restart.buf);
    return;

oom:
    fprintf(stderr, "domicile: SIGHUP: out of memory\n");
fail:
    __atomic_add_fetch(&srv->config_reload_failures, 1, __ATOMIC_RELAXED);
    fprintf(stderr, "domicile: SIGHUP: %s does not load (%zu error%s): keeping the running configuration\n", file,
            diag.errors, diag.errors == 1 ? "" : "s");
    dom_pin_keyring_free(&ring);
    OPENSSL_cleanse(token, sizeof(token));
    dom__settings_release(settings); /* frees its config and keyring */
    dom_config_free(cfg);
}

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

/* A short list of key names for the log: "a, b (why), c". */
struct keylist {
    char buf[1024];
    size_t len;
};

static void add_key(struct keylist *k, const char *name, const char *note)
{
    if (k->len < sizeof(k->buf))
        k->len += (size_t)snprintf(k->buf + k->len, sizeof(k->buf) - k->len, "%s%s%s%s%s", k->len ? ", " : "", name,
                                   note != NULL ? " (" : "", note != NULL ? note : "", note != NULL ? ")" : "");
}

struct changes {
    struct keylist applied, restart;
};

/* dom_config_compare's report: the key's table row says whether SIGHUP applies it. */
static void on_change(void *ctx, const char *key, int live, const char *note)
{
    struct changes *c = ctx;
    if (live &&
        (strcmp(key, "pins.keys") == 0 || strcmp(key, "consent.keys") == 0 || strcmp(key, "admin.token_file") == 0))
        return; /* listed first anyway: the key and token files are read again on every SIGHUP */
    add_key(live ? &c->applied : &c->restart, key, note);
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
    dom_diag_t diag = {0}; /* stderr, as file:line:col: message */
    dom_config_t *cfg = NULL;
    dom_pin_keyring_t ring = {0}, consent_ring = {0};
    dom__settings_t *settings = NULL;
    dom_geo_t *none_geo = NULL;
    char err[512] = "";
    unsigned char token[32] = {0}; /* SHA-256 of admin.token_file's token */

    /* every error of the new file in one go: its own, and its clusters against the rules in force */
    dom_config_load_partial(file, &cfg, &diag);
    dom_ruleset_t *rs = cfg != NULL ? dom__live_rules(&srv->live, NULL) : NULL;
    if (rs != NULL) {
        dom_config_check_regions(cfg, rs, &diag);
        dom_ruleset_release(rs);
    }
    /* a key file others could have replaced is refused now as at start: the running keys stay */
    if (cfg != NULL)
        dom_config_check_secrets(cfg, &diag);
    if (cfg == NULL || diag.errors != 0)
        goto fail;
    if (cfg->pins.keys != NULL && dom_pin_keyring_load(cfg->pins.keys, &ring, err, sizeof(err)) != 0) {
        dom_diag_report(&diag, cfg->file, &cfg->pins.mark, 0, "pin keys: %s", err[0] ? err : cfg->pins.keys);
        goto fail;
    }
    if (cfg->consent.keys != NULL && dom_pin_keyring_load(cfg->consent.keys, &consent_ring, err, sizeof(err)) != 0) {
        dom_diag_report(&diag, cfg->file, &cfg->consent.keys_mark, 0, "consent keys: %s",
                        err[0] ? err : cfg->consent.keys);
        goto fail;
    }
    size_t n_keys = ring.count;
    if (cfg->admin.token_file != NULL && dom__admin_token_load(cfg->admin.token_file, token, err, sizeof(err)) != 0) {
        dom_diag_report(&diag, cfg->file, &cfg->admin.token_mark, 0, "%s", err);
        goto fail;
    }

    /* The tables say what changed and what applies now; a value that cannot (a body limit above the
     * start-up maximum, adding or removing the geo database) is put back to the running one. */
    struct changes changes = {{.len = 0}, {.len = 0}};
    add_key(&changes.applied, cfg->pins.keys != NULL ? "pins.keys" : "pins.keys (none)", NULL); /* always re-read */
    if (cfg->consent.keys != NULL || cur->consent.keys != NULL)
        add_key(&changes.applied, cfg->consent.keys != NULL ? "consent.keys" : "consent.keys (none)", NULL);
    if (cfg->admin.token_file != NULL || cur->admin.token_file != NULL)
        add_key(&changes.applied, cfg->admin.token_file != NULL ? "admin.token_file" : "admin.token_file (none)", NULL);
    if (dom_config_compare(run, cur, cfg, on_change, &changes) != 0)
        goto oom;

    if ((settings = dom__settings_new(cfg, 1, &ring)) == NULL)
        goto oom;
    settings->consent_keyring = consent_ring;
    consent_ring = (dom_pin_keyring_t){0};
    if (cfg->admin.token_file != NULL) {
        settings->has_admin_token = 1;
        memcpy(settings->admin_token_sha256, token, sizeof(token));
        OPENSSL_cleanse(token, sizeof(token));
    }
    dom_config_t *owned = cfg;
    cfg = NULL; /* the settings own it now */

    struct apply_ctx a = {srv, settings, 0};
    dom_geo_options_t opts = dom_config_geo_options(owned);
    if (dom_config_same("geo", cur, owned) && dom_config_same("overrides", cur, owned)) {
        publish_with_geo(&a, NULL); /* the geo handle in use stays */
    } else if (srv->georeload != NULL) {
        err[0] = '\0';
        if (dom__georeload_replace(srv->georeload, owned->geo.database, &opts, (unsigned)owned->geo_reload_poll_ms,
                                   publish_with_geo, &a, err, sizeof(err)) != 0) {
            dom_diag_report(&diag, owned->file, &owned->geo.mark, 0, "%s", err[0] ? err : "geo database: cannot open");
            goto fail;
        }
    } else {
        if (dom_geo_open_none(&opts, &none_geo) != 0) {
            dom_diag_report(&diag, owned->file, NULL, 0, "cannot set up geolocation (overrides)");
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
    fprintf(stderr, "domicile: SIGHUP: %s reloaded; applied: %s (%zu pin keys)\n", file, changes.applied.buf, n_keys);
    dom__event_add(0, "config %s reloaded (SIGHUP); applied: %s%s", file, changes.applied.buf,
                   changes.restart.len != 0 ? "; some changes need a restart" : "");
    if (changes.restart.len != 0)
        fprintf(stderr, "domicile: SIGHUP: %s: changed but needs a restart (not applied): %s\n", file,
                changes.restart.buf);
    return;

oom:
    fprintf(stderr, "domicile: SIGHUP: out of memory\n");
fail:
    __atomic_add_fetch(&srv->config_reload_failures, 1, __ATOMIC_RELAXED);
    fprintf(stderr, "domicile: SIGHUP: %s does not load (%zu error%s): keeping the running configuration\n", file,
            diag.errors, diag.errors == 1 ? "" : "s");
    dom__event_add(1, "config %s does not load (%zu error%s): the running configuration is kept", file, diag.errors,
                   diag.errors == 1 ? "" : "s");
    OPENSSL_cleanse(token, sizeof(token));
    dom_pin_keyring_free(&ring);
    dom_pin_keyring_free(&consent_ring);
    dom__settings_release(settings); /* frees its config and keyring */
    dom_config_free(cfg);
}

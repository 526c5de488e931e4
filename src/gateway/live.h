/*
 * What SIGHUP can change while requests run (docs/operations.md): the per-request settings
 * (a config's reloadable keys and the pin keyring) and the geo handle, published together
 * as one reference-counted snapshot. Workers compare a generation per request (one relaxed
 * load) and swap their reference between requests, so a request sees all old or all new.
 */
#ifndef DOM_GATEWAY_LIVE_H
#define DOM_GATEWAY_LIVE_H

#include <pthread.h>
#include <stdint.h>
#include "domicile/geo.h"
#include "domicile/pin.h"
#include "gateway/config.h"
#include "gateway/rulesreload.h"

/**
 * The settings requests read: trusted_proxies, pin and consent header names, pin keys,
 * expose_decision_headers, forward_trailers, anonymize_strip_headers, limits.max_body, class_max_body and
 * h2_max_resets come from `config`, and the admin listener's bearer token from here; everything
 * else is read from the start-up config.
 */
typedef struct dom__settings {
    unsigned refs;        /* atomic */
    dom_config_t *config; /* freed with the settings when owns_config */
    int owns_config;      /* 0 for the start-up config, which the server keeps */
    dom_pin_keyring_t keyring;
    int has_admin_token;                  /* admin.token_file: the admin listener asks for this bearer token */
    unsigned char admin_token_sha256[32]; /* its SHA-256 (read again at every SIGHUP) */
} dom__settings_t;

/** One published state: settings, geo handle and rules file, each with a reference held by the snapshot. */
typedef struct dom__live {
    unsigned refs; /* atomic */
    dom__settings_t *settings;
    dom_geo_t *geo;
    dom__rules_file_t *rules;
} dom__live_t;

/** The publication point: a mutex for swaps and acquires, a generation for the request path. */
typedef struct dom__livepub {
    pthread_mutex_t mutex;
    dom__live_t *current; /* under mutex */
    uint64_t generation;  /* atomic: bumped on every publish */
} dom__livepub_t;

/** New settings with one reference; takes ownership of config (when owns_config) and keyring. */
dom__settings_t *dom__settings_new(dom_config_t *config, int owns_config, dom_pin_keyring_t *keyring);

void dom__settings_release(dom__settings_t *s);

/** Sets up the publisher with a first state (references are taken). Errors: DOM_ENOMEM. */
int dom__live_init(dom__livepub_t *pub, dom__settings_t *settings, dom_geo_t *geo, dom__rules_file_t *rules);

/**
 * Publishes settings, geo and rules file together (any NULL: keep the current one).
 * Errors: DOM_ENOMEM (nothing changed).
 */
int dom__live_publish(dom__livepub_t *pub, dom__settings_t *settings, dom_geo_t *geo, dom__rules_file_t *rules);

/** The rule set in use (a reference for the caller), and optionally the file it comes from (a reference too). */
dom_ruleset_t *dom__live_rules(dom__livepub_t *pub, dom__rules_file_t **file);

/** The current state with a reference for the caller, and its generation. */
dom__live_t *dom__live_acquire(dom__livepub_t *pub, uint64_t *generation);

/** The generation of the current state: one relaxed load, for the request path. */
static inline uint64_t dom__live_generation(dom__livepub_t *pub)
{
    return __atomic_load_n(&pub->generation, __ATOMIC_RELAXED);
}

/** Drops a reference. NULL safe. */
void dom__live_release(dom__live_t *l);

/**
 * A worker's own reference: when a newer state than *generation was published, *held is swapped for
 * it (the old reference dropped). One relaxed load when nothing changed. Called between requests
 * and when a proxy_protocol connection is accepted (its sender is checked against trusted_proxies).
 */
void dom__live_refresh(dom__livepub_t *pub, dom__live_t **held, uint64_t *generation);

#endif

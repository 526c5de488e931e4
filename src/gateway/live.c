/*
 * Live settings (see live.h). Publishers are the main thread (SIGHUP), the geo watcher and
 * the rules watcher; each builds the new snapshot from the current one under the mutex, so a
 * geo swap, a rules swap and a config reload never undo each other.
 */
#include <stdlib.h>
#include <openssl/crypto.h>
#include "domicile/common.h"
#include "gateway/live.h"

dom__settings_t *dom__settings_new(dom_config_t *config, int owns_config, dom_pin_keyring_t *keyring)
{
    dom__settings_t *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->refs = 1;
    s->config = config;
    s->owns_config = owns_config;
    if (keyring != NULL) {
        s->keyring = *keyring;
        *keyring = (dom_pin_keyring_t){0};
    }
    return s;
}

void dom__settings_release(dom__settings_t *s)
{
    if (s == NULL || __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    dom_pin_keyring_free(&s->keyring);
    dom_pin_keyring_free(&s->consent_keyring);
    OPENSSL_cleanse(s->admin_token_sha256, sizeof(s->admin_token_sha256));
    if (s->owns_config)
        dom_config_free(s->config);
    free(s);
}

static dom__live_t *live_new(dom__settings_t *settings, dom_geo_t *geo, dom__rules_file_t *rules)
{
    dom__live_t *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->refs = 1;
    __atomic_add_fetch(&settings->refs, 1, __ATOMIC_RELAXED);
    l->settings = settings;
    dom_geo_retain(geo);
    l->geo = geo;
    dom__rules_file_retain(rules);
    l->rules = rules;
    return l;
}

void dom__live_release(dom__live_t *l)
{
    if (l == NULL || __atomic_sub_fetch(&l->refs, 1, __ATOMIC_ACQ_REL) != 0)
        return;
    dom__settings_release(l->settings);
    dom_geo_release(l->geo);
    dom__rules_file_release(l->rules);
    dom__revocations_release(l->revocations);
    free(l);
}

int dom__live_init(dom__livepub_t *pub, dom__settings_t *settings, dom_geo_t *geo, dom__rules_file_t *rules)
{
    pthread_mutex_init(&pub->mutex, NULL);
    pub->generation = 1;
    if ((pub->current = live_new(settings, geo, rules)) == NULL)
        return DOM_ENOMEM;
    return 0;
}

int dom__live_publish(dom__livepub_t *pub, dom__settings_t *settings, dom_geo_t *geo, dom__rules_file_t *rules)
{
    pthread_mutex_lock(&pub->mutex);
    dom__live_t *old = pub->current;
    dom__live_t *l = live_new(settings != NULL ? settings : old->settings, geo != NULL ? geo : old->geo,
                              rules != NULL ? rules : old->rules);
    if (l == NULL) {
        pthread_mutex_unlock(&pub->mutex);
        return DOM_ENOMEM;
    }
    dom__revocations_retain(old->revocations);
    l->revocations = old->revocations;
    pub->current = l;
    __atomic_store_n(&pub->generation, pub->generation + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&pub->mutex);
    /* workers holding the old state drop it at their next request */
    dom__live_release(old);
    return 0;
}

int dom__live_publish_revocations(dom__livepub_t *pub, dom__revocations_t *revocations)
{
    pthread_mutex_lock(&pub->mutex);
    dom__live_t *old = pub->current;
    dom__live_t *l = live_new(old->settings, old->geo, old->rules);
    if (l == NULL) {
        pthread_mutex_unlock(&pub->mutex);
        return DOM_ENOMEM;
    }
    dom__revocations_retain(revocations);
    l->revocations = revocations;
    pub->current = l;
    __atomic_store_n(&pub->generation, pub->generation + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&pub->mutex);
    dom__live_release(old);
    return 0;
}

dom__live_t *dom__live_acquire(dom__livepub_t *pub, uint64_t *generation)
{
    pthread_mutex_lock(&pub->mutex);
    dom__live_t *l = pub->current;
    __atomic_add_fetch(&l->refs, 1, __ATOMIC_RELAXED);
    if (generation != NULL)
        *generation = pub->generation;
    pthread_mutex_unlock(&pub->mutex);
    return l;
}

dom_ruleset_t *dom__live_rules(dom__livepub_t *pub, dom__rules_file_t **file)
{
    dom__live_t *l = dom__live_acquire(pub, NULL);
    dom_ruleset_t *rs = dom_rules_store_current(l->rules->store);
    if (file != NULL) {
        dom__rules_file_retain(l->rules);
        *file = l->rules;
    }
    dom__live_release(l);
    return rs;
}

void dom__live_refresh(dom__livepub_t *pub, dom__live_t **held, uint64_t *generation)
{
    if (dom__live_generation(pub) == *generation)
        return;
    dom__live_t *l = dom__live_acquire(pub, generation);
    dom__live_release(*held);
    *held = l;
}

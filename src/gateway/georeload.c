/*
 * Geo database reloads (see georeload.h). The watcher notices a change by the file's
 * identity (device, inode, size, mtime): geoipupdate renames a new file into place, which
 * changes the inode; an in-place write changes size or mtime. A file that failed its checks
 * is remembered by identity and not retried until it changes again.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "domicile/common.h"
#include "gateway/filewatch.h"
#include "gateway/georeload.h"
#include "gateway/metrics.h"
#include "gateway/recent.h"

/* A copy of the options: the config they came from may be freed by a reload. */
struct opts_copy {
    dom_geo_options_t opts;
    char *country_path, *subdivision_path, *eu_path;
    dom_geo_override_t *overrides;
};

struct dom__georeload {
    char *path;            /* under reload_lock */
    struct opts_copy opts; /* under reload_lock */
    dom__georeload_cb on_swap;
    void *on_swap_ctx;
    pthread_mutex_t reload_lock; /* one open-check-publish at a time: the watcher's or a config reload's */
    pthread_mutex_t mutex;
    dom_geo_t *current; /* under mutex */
    uint64_t generation;
    uint64_t reloads, failures;
    dom__file_id_t seen; /* under reload_lock */
    dom__filewatch_t *watch;
};

static void opts_free(struct opts_copy *c)
{
    free(c->country_path);
    free(c->subdivision_path);
    free(c->eu_path);
    free(c->overrides);
    memset(c, 0, sizeof(*c));
}

static int dup_or_null(const char *s, char **out)
{
    *out = NULL;
    return s != NULL && (*out = strdup(s)) == NULL ? -1 : 0;
}

static int opts_copy(struct opts_copy *c, const dom_geo_options_t *o)
{
    memset(c, 0, sizeof(*c));
    if (dup_or_null(o->country_path, &c->country_path) != 0 ||
        dup_or_null(o->subdivision_path, &c->subdivision_path) != 0 || dup_or_null(o->eu_path, &c->eu_path) != 0)
        goto fail;
    if (o->n_overrides != 0) {
        if ((c->overrides = calloc(o->n_overrides, sizeof(*c->overrides))) == NULL)
            goto fail;
        memcpy(c->overrides, o->overrides, o->n_overrides * sizeof(*c->overrides));
    }
    c->opts = *o;
    c->opts.country_path = c->country_path;
    c->opts.subdivision_path = c->subdivision_path;
    c->opts.eu_path = c->eu_path;
    c->opts.overrides = c->overrides;
    return 0;
fail:
    opts_free(c);
    return DOM_ENOMEM;
}

/* Makes geo the current handle (takes over the caller's reference). */
static void swap_in(dom__georeload_t *g, dom_geo_t *geo)
{
    pthread_mutex_lock(&g->mutex);
    dom_geo_t *old = g->current;
    g->current = geo;
    __atomic_store_n(&g->generation, g->generation + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&g->mutex);
    dom_geo_release(old);
}

static void check_file(void *ctx)
{
    dom__georeload_t *g = ctx;
    pthread_mutex_lock(&g->reload_lock);
    dom__file_id_t now;
    dom__file_id_of(g->path, &now);
    if (!now.exists || dom__file_id_same(&now, &g->seen)) {
        /* a missing file is the moment between unlink and rename, or an operator mistake: keep the old one */
        pthread_mutex_unlock(&g->reload_lock);
        return;
    }
    g->seen = now;
    char err[512] = "";
    dom_geo_t *geo = NULL;
    if (dom_geo_open(g->path, &g->opts.opts, &geo, err, sizeof(err)) != 0) {
        DOM__COUNT(&g->failures);
        fprintf(stderr, "domicile: geo database %s changed but fails its checks, keeping the previous one: %s\n",
                g->path, err[0] ? err : "cannot open");
        dom__event_add(1, "geo database %s changed but fails its checks (the previous one is kept): %s", g->path,
                       err[0] ? err : "cannot open");
        pthread_mutex_unlock(&g->reload_lock);
        return;
    }
    /* the file may have changed again while we read it; the next event or poll catches that */
    if (g->on_swap != NULL)
        g->on_swap(g->on_swap_ctx, geo);
    dom_geo_retain(geo);
    swap_in(g, geo);
    DOM__COUNT(&g->reloads);
    const dom_geo_metadata_t *md = dom_geo_metadata(geo);
    fprintf(stderr, "domicile: geo database %s reloaded (%s, built %llu)\n", g->path, md->database_type,
            (unsigned long long)md->build_epoch);
    dom__event_add(0, "geo database %s reloaded (%s, sha256 %.12s)", g->path, md->database_type, md->sha256);
    pthread_mutex_unlock(&g->reload_lock);
    dom_geo_release(geo);
}

int dom__georeload_start(const char *path, const dom_geo_options_t *opts, dom_geo_t *initial, unsigned poll_ms,
                         dom__georeload_cb on_swap, void *ctx, dom__georeload_t **out, char *err, size_t errlen)
{
    *out = NULL;
    dom__georeload_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        goto fail;
    pthread_mutex_init(&g->mutex, NULL);
    pthread_mutex_init(&g->reload_lock, NULL);
    g->on_swap = on_swap;
    g->on_swap_ctx = ctx;
    if (opts_copy(&g->opts, opts) != 0 || (g->path = strdup(path)) == NULL)
        goto fail;
    dom_geo_retain(initial);
    g->current = initial;
    g->generation = 1;
    /* the file as opened at start-up is the one in use */
    dom__file_id_of(g->path, &g->seen);
    if (dom__filewatch_start(path, poll_ms, check_file, g, &g->watch) != 0)
        goto fail;
    *out = g;
    return 0;
fail:
    snprintf(err, errlen, "cannot start the geo database watcher: %s", strerror(errno));
    dom__georeload_stop(g);
    return DOM_ENOMEM;
}

int dom__georeload_replace(dom__georeload_t *g, const char *path, const dom_geo_options_t *opts, unsigned poll_ms,
                           dom__georeload_cb publish, void *ctx, char *err, size_t errlen)
{
    struct opts_copy copy;
    char *npath = strdup(path);
    dom_geo_t *geo = NULL;
    int ret = DOM_ENOMEM;
    if (npath == NULL || opts_copy(&copy, opts) != 0) {
        snprintf(err, errlen, "out of memory");
        free(npath);
        return ret;
    }
    pthread_mutex_lock(&g->reload_lock);
    dom__file_id_t id;
    dom__file_id_of(npath, &id);
    if ((ret = dom_geo_open(npath, &copy.opts, &geo, err, errlen)) != 0 ||
        (ret = dom__filewatch_set(g->watch, npath, poll_ms)) != 0) {
        pthread_mutex_unlock(&g->reload_lock);
        dom_geo_release(geo);
        opts_free(&copy);
        free(npath);
        return ret;
    }
    publish(ctx, geo);
    swap_in(g, geo); /* takes our reference */
    opts_free(&g->opts);
    g->opts = copy;
    g->seen = id;
    free(g->path);
    g->path = npath;
    pthread_mutex_unlock(&g->reload_lock);
    return 0;
}

uint64_t dom__georeload_generation(dom__georeload_t *g)
{
    return __atomic_load_n(&g->generation, __ATOMIC_RELAXED);
}

dom_geo_t *dom__georeload_acquire(dom__georeload_t *g, uint64_t *generation)
{
    pthread_mutex_lock(&g->mutex);
    dom_geo_t *geo = g->current;
    dom_geo_retain(geo);
    if (generation != NULL)
        *generation = g->generation;
    pthread_mutex_unlock(&g->mutex);
    return geo;
}

void dom__georeload_poke(dom__georeload_t *g)
{
    if (g != NULL)
        dom__filewatch_poke(g->watch);
}

void dom__georeload_stats(dom__georeload_t *g, uint64_t *reloads, uint64_t *failures)
{
    *reloads = g != NULL ? DOM__READ(&g->reloads) : 0;
    *failures = g != NULL ? DOM__READ(&g->failures) : 0;
}

void dom__georeload_stop(dom__georeload_t *g)
{
    if (g == NULL)
        return;
    dom__filewatch_stop(g->watch); /* first: no check_file runs after this */
    dom_geo_release(g->current);
    pthread_mutex_destroy(&g->mutex);
    pthread_mutex_destroy(&g->reload_lock);
    opts_free(&g->opts);
    free(g->path);
    free(g);
}

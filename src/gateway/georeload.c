/*
 * Geo database reloads (see georeload.h). The watcher notices a change by the file's
 * identity (device, inode, size, mtime): geoipupdate renames a new file into place, which
 * changes the inode; an in-place write changes size or mtime. A file that failed its checks
 * is remembered by identity and not retried until it changes again.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "domicile/common.h"
#include "gateway/georeload.h"
#include "gateway/metrics.h"

struct identity {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    int exists;
};

/* A copy of the options: the config they came from may be freed by a reload. */
struct opts_copy {
    dom_geo_options_t opts;
    char *country_path, *subdivision_path, *eu_path;
    dom_geo_override_t *overrides;
};

struct dom__georeload {
    char *path, *dir;      /* under reload_lock */
    struct opts_copy opts; /* under reload_lock */
    unsigned poll_ms;      /* atomic */
    dom__georeload_cb on_swap;
    void *on_swap_ctx;
    pthread_mutex_t reload_lock; /* one open-check-publish at a time: the watcher's or a config reload's */
    pthread_mutex_t mutex;
    dom_geo_t *current; /* under mutex */
    uint64_t generation;
    uint64_t reloads, failures;
    struct identity seen; /* under reload_lock */
    int inotify_fd, wd, wake[2];
    pthread_t thread;
    int started;
};

static void identity_of(const char *path, struct identity *id)
{
    struct stat st;
    memset(id, 0, sizeof(*id));
    if (stat(path, &st) != 0)
        return;
    id->exists = 1;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->size = st.st_size;
    id->mtime = st.st_mtim;
}

static int identity_same(const struct identity *a, const struct identity *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

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

static void check_file(dom__georeload_t *g)
{
    pthread_mutex_lock(&g->reload_lock);
    struct identity now;
    identity_of(g->path, &now);
    if (!now.exists || identity_same(&now, &g->seen)) {
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
    pthread_mutex_unlock(&g->reload_lock);
    dom_geo_release(geo);
}

static void *watch_main(void *arg)
{
    dom__georeload_t *g = arg;
    for (;;) {
        struct pollfd pfd[2] = {{g->wake[0], POLLIN, 0}, {g->inotify_fd, POLLIN, 0}};
        int n = poll(pfd, g->inotify_fd >= 0 ? 2 : 1, (int)__atomic_load_n(&g->poll_ms, __ATOMIC_RELAXED));
        if (n < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & (POLLIN | POLLHUP)) {
            char c;
            ssize_t r = read(g->wake[0], &c, 1);
            if (r == 0 || (r == 1 && c == 'q'))
                break;
        }
        if (g->inotify_fd >= 0 && (pfd[1].revents & POLLIN)) {
            /* drain the events; whichever name they carry, the identity check decides */
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            while (read(g->inotify_fd, buf, sizeof(buf)) > 0)
                ;
        }
        check_file(g);
    }
    return NULL;
}

static char *dir_of(const char *path)
{
    char *tmp = strdup(path), *dir = tmp != NULL ? strdup(dirname(tmp)) : NULL;
    free(tmp);
    return dir;
}

static int watch_dir(dom__georeload_t *g)
{
    if (g->inotify_fd < 0)
        return -1;
    g->wd = inotify_add_watch(g->inotify_fd, g->dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_ATTRIB);
    return g->wd < 0 ? -1 : 0;
}

int dom__georeload_start(const char *path, const dom_geo_options_t *opts, dom_geo_t *initial, unsigned poll_ms,
                         dom__georeload_cb on_swap, void *ctx, dom__georeload_t **out, char *err, size_t errlen)
{
    *out = NULL;
    dom__georeload_t *g = calloc(1, sizeof(*g));
    if (g == NULL)
        goto fail;
    g->inotify_fd = g->wake[0] = g->wake[1] = g->wd = -1;
    pthread_mutex_init(&g->mutex, NULL);
    pthread_mutex_init(&g->reload_lock, NULL);
    g->on_swap = on_swap;
    g->on_swap_ctx = ctx;
    g->poll_ms = poll_ms ? poll_ms : 2000;
    if (opts_copy(&g->opts, opts) != 0)
        goto fail;
    if ((g->path = strdup(path)) == NULL || (g->dir = dir_of(path)) == NULL)
        goto fail;
    dom_geo_retain(initial);
    g->current = initial;
    g->generation = 1;
    /* the file as opened at start-up is the one in use */
    identity_of(g->path, &g->seen);
    if (pipe2(g->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail;
    g->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (g->inotify_fd >= 0 && watch_dir(g) != 0) {
        fprintf(stderr, "domicile: cannot watch %s (%s): polling every %u ms\n", g->dir, strerror(errno), g->poll_ms);
        close(g->inotify_fd);
        g->inotify_fd = -1;
    }
    if (pthread_create(&g->thread, NULL, watch_main, g) != 0)
        goto fail;
    g->started = 1;
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
    char *npath = strdup(path), *ndir = dir_of(path);
    dom_geo_t *geo = NULL;
    int ret = DOM_ENOMEM;
    if (npath == NULL || ndir == NULL || opts_copy(&copy, opts) != 0) {
        snprintf(err, errlen, "out of memory");
        free(npath);
        free(ndir);
        return ret;
    }
    pthread_mutex_lock(&g->reload_lock);
    struct identity id;
    identity_of(npath, &id);
    if ((ret = dom_geo_open(npath, &copy.opts, &geo, err, errlen)) != 0) {
        pthread_mutex_unlock(&g->reload_lock);
        opts_free(&copy);
        free(npath);
        free(ndir);
        return ret;
    }
    publish(ctx, geo);
    swap_in(g, geo); /* takes our reference */
    opts_free(&g->opts);
    g->opts = copy;
    g->seen = id;
    free(g->path);
    g->path = npath;
    if (strcmp(ndir, g->dir) != 0) {
        /* the watcher reads events only to wake up: swapping the watch under it is harmless */
        if (g->inotify_fd >= 0 && g->wd >= 0)
            inotify_rm_watch(g->inotify_fd, g->wd);
        free(g->dir);
        g->dir = ndir;
        if (g->inotify_fd >= 0 && watch_dir(g) != 0)
            fprintf(stderr, "domicile: cannot watch %s (%s): polling\n", g->dir, strerror(errno));
    } else {
        free(ndir);
    }
    __atomic_store_n(&g->poll_ms, poll_ms ? poll_ms : 2000, __ATOMIC_RELAXED);
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
    if (g != NULL && g->wake[1] >= 0) {
        ssize_t r = write(g->wake[1], "p", 1);
        (void)r; /* a full pipe already holds a wake-up */
    }
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
    if (g->started) {
        /* blocking write is fine: the pipe is empty or the thread is reading it */
        while (write(g->wake[1], "q", 1) < 0 && errno == EINTR)
            ;
        pthread_join(g->thread, NULL);
    }
    if (g->inotify_fd >= 0)
        close(g->inotify_fd);
    if (g->wake[0] >= 0)
        close(g->wake[0]);
    if (g->wake[1] >= 0)
        close(g->wake[1]);
    dom_geo_release(g->current);
    pthread_mutex_destroy(&g->mutex);
    pthread_mutex_destroy(&g->reload_lock);
    opts_free(&g->opts);
    free(g->path);
    free(g->dir);
    free(g);
}

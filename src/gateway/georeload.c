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

struct dom__georeload {
    char *path, *dir, *base;
    const dom_geo_options_t *opts;
    unsigned poll_ms;
    pthread_mutex_t mutex;
    dom_geo_t *current; /* under mutex */
    uint64_t generation;
    uint64_t reloads, failures;
    struct identity seen; /* watcher thread only */
    int inotify_fd, wake[2];
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

static void check_file(dom__georeload_t *g)
{
    struct identity now;
    identity_of(g->path, &now);
    if (!now.exists || identity_same(&now, &g->seen))
        return; /* a missing file is the moment between unlink and rename, or an operator mistake: keep the old one */
    g->seen = now;
    char err[512] = "";
    dom_geo_t *geo = NULL;
    if (dom_geo_open(g->path, g->opts, &geo, err, sizeof(err)) != 0) {
        DOM__COUNT(&g->failures);
        fprintf(stderr, "domicile: geo database %s changed but fails its checks, keeping the previous one: %s\n",
                g->path, err[0] ? err : "cannot open");
        return;
    }
    /* the file may have changed again while we read it; the next event or poll catches that */
    pthread_mutex_lock(&g->mutex);
    dom_geo_t *old = g->current;
    g->current = geo;
    __atomic_store_n(&g->generation, g->generation + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&g->mutex);
    dom_geo_release(old);
    DOM__COUNT(&g->reloads);
    const dom_geo_metadata_t *md = dom_geo_metadata(geo);
    fprintf(stderr, "domicile: geo database %s reloaded (%s, built %llu)\n", g->path, md->database_type,
            (unsigned long long)md->build_epoch);
}

static void *watch_main(void *arg)
{
    dom__georeload_t *g = arg;
    for (;;) {
        struct pollfd pfd[2] = {{g->wake[0], POLLIN, 0}, {g->inotify_fd, POLLIN, 0}};
        int n = poll(pfd, g->inotify_fd >= 0 ? 2 : 1, (int)g->poll_ms);
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

int dom__georeload_start(const char *path, const dom_geo_options_t *opts, dom_geo_t *initial, unsigned poll_ms,
                         dom__georeload_t **out, char *err, size_t errlen)
{
    *out = NULL;
    dom__georeload_t *g = calloc(1, sizeof(*g));
    char *tmp1 = NULL, *tmp2 = NULL;
    if (g == NULL)
        goto fail;
    g->inotify_fd = g->wake[0] = g->wake[1] = -1;
    pthread_mutex_init(&g->mutex, NULL);
    g->opts = opts;
    g->poll_ms = poll_ms ? poll_ms : 2000;
    if ((g->path = strdup(path)) == NULL || (tmp1 = strdup(path)) == NULL || (tmp2 = strdup(path)) == NULL)
        goto fail;
    if ((g->dir = strdup(dirname(tmp1))) == NULL || (g->base = strdup(basename(tmp2))) == NULL)
        goto fail;
    dom_geo_retain(initial);
    g->current = initial;
    g->generation = 1;
    /* the file as opened at start-up is the one in use */
    identity_of(g->path, &g->seen);
    if (pipe2(g->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail;
    g->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (g->inotify_fd >= 0 &&
        inotify_add_watch(g->inotify_fd, g->dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_ATTRIB) < 0) {
        fprintf(stderr, "domicile: cannot watch %s (%s): polling every %u ms\n", g->dir, strerror(errno), g->poll_ms);
        close(g->inotify_fd);
        g->inotify_fd = -1;
    }
    if (pthread_create(&g->thread, NULL, watch_main, g) != 0)
        goto fail;
    g->started = 1;
    free(tmp1);
    free(tmp2);
    *out = g;
    return 0;
fail:
    snprintf(err, errlen, "cannot start the geo database watcher: %s", strerror(errno));
    free(tmp1);
    free(tmp2);
    dom__georeload_stop(g);
    return DOM_ENOMEM;
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
    free(g->path);
    free(g->dir);
    free(g->base);
    free(g);
}

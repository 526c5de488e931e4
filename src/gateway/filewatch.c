/*
 * The watcher thread shared by the geo and rules reloads (filewatch.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>
#include "domicile/common.h"
#include "gateway/filewatch.h"

struct dom__filewatch {
    void (*check)(void *ctx);
    void *ctx;
    unsigned poll_ms;     /* atomic */
    pthread_mutex_t lock; /* the watch descriptor against a concurrent set */
    char *dir;
    int inotify_fd, wd, wake[2];
    pthread_t thread;
    int started;
};

void dom__file_id_of(const char *path, dom__file_id_t *id)
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

int dom__file_id_same_file(const dom__file_id_t *a, const dom__file_id_t *b)
{
    return a->exists == b->exists && a->dev == b->dev && a->ino == b->ino;
}

int dom__file_id_same(const dom__file_id_t *a, const dom__file_id_t *b)
{
    return dom__file_id_same_file(a, b) && a->size == b->size && a->mtime.tv_sec == b->mtime.tv_sec &&
           a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static char *dir_of(const char *path)
{
    char *tmp = strdup(path), *dir = tmp != NULL ? strdup(dirname(tmp)) : NULL;
    free(tmp);
    return dir;
}

/* (Re)places the watch on w->dir; under lock. */
static void watch_dir(dom__filewatch_t *w)
{
    if (w->inotify_fd < 0)
        return;
    if (w->wd >= 0)
        inotify_rm_watch(w->inotify_fd, w->wd);
    /* the events only wake the thread: whichever name they carry, the owner's identity check decides */
    w->wd = inotify_add_watch(w->inotify_fd, w->dir, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE | IN_ATTRIB);
    if (w->wd < 0)
        fprintf(stderr, "domicile: cannot watch %s (%s): polling every %u ms\n", w->dir, strerror(errno),
                __atomic_load_n(&w->poll_ms, __ATOMIC_RELAXED));
}

static void *watch_main(void *arg)
{
    dom__filewatch_t *w = arg;
    for (;;) {
        struct pollfd pfd[2] = {{w->wake[0], POLLIN, 0}, {w->inotify_fd, POLLIN, 0}};
        int n = poll(pfd, w->inotify_fd >= 0 ? 2 : 1, (int)__atomic_load_n(&w->poll_ms, __ATOMIC_RELAXED));
        if (n < 0 && errno != EINTR)
            break;
        if (pfd[0].revents & (POLLIN | POLLHUP)) {
            char c;
            ssize_t r = read(w->wake[0], &c, 1);
            if (r == 0 || (r == 1 && c == 'q'))
                break;
        }
        if (w->inotify_fd >= 0 && (pfd[1].revents & POLLIN)) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            while (read(w->inotify_fd, buf, sizeof(buf)) > 0)
                ;
        }
        w->check(w->ctx);
    }
    return NULL;
}

int dom__filewatch_start(const char *path, unsigned poll_ms, void (*check)(void *ctx), void *ctx,
                         dom__filewatch_t **out)
{
    *out = NULL;
    dom__filewatch_t *w = calloc(1, sizeof(*w));
    if (w == NULL)
        return DOM_ENOMEM;
    w->inotify_fd = w->wake[0] = w->wake[1] = w->wd = -1;
    w->check = check;
    w->ctx = ctx;
    w->poll_ms = poll_ms ? poll_ms : 2000;
    pthread_mutex_init(&w->lock, NULL);
    if ((w->dir = dir_of(path)) == NULL || pipe2(w->wake, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail;
    if ((w->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
        fprintf(stderr, "domicile: no inotify (%s): polling %s every %u ms\n", strerror(errno), path, w->poll_ms);
    watch_dir(w);
    if (pthread_create(&w->thread, NULL, watch_main, w) != 0)
        goto fail;
    w->started = 1;
    *out = w;
    return 0;
fail:
    dom__filewatch_stop(w);
    return DOM_ENOMEM;
}

int dom__filewatch_set(dom__filewatch_t *w, const char *path, unsigned poll_ms)
{
    char *dir = dir_of(path);
    if (dir == NULL)
        return DOM_ENOMEM;
    pthread_mutex_lock(&w->lock);
    if (strcmp(dir, w->dir) != 0) {
        free(w->dir);
        w->dir = dir;
        watch_dir(w);
    } else {
        free(dir);
    }
    __atomic_store_n(&w->poll_ms, poll_ms ? poll_ms : 2000, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

void dom__filewatch_poke(dom__filewatch_t *w)
{
    if (w != NULL && w->wake[1] >= 0) {
        ssize_t r = write(w->wake[1], "p", 1);
        (void)r; /* a full pipe already holds a wake-up */
    }
}

void dom__filewatch_stop(dom__filewatch_t *w)
{
    if (w == NULL)
        return;
    if (w->started) {
        /* blocking write is fine: the pipe is empty or the thread is reading it */
        while (write(w->wake[1], "q", 1) < 0 && errno == EINTR)
            ;
        pthread_join(w->thread, NULL);
    }
    if (w->inotify_fd >= 0)
        close(w->inotify_fd);
    if (w->wake[0] >= 0)
        close(w->wake[0]);
    if (w->wake[1] >= 0)
        close(w->wake[1]);
    pthread_mutex_destroy(&w->lock);
    free(w->dir);
    free(w);
}

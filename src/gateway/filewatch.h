/*
 * Files operators deliver (geo database, rules database) arrive in place, by rename, or by a
 * symlink swap (Kubernetes ConfigMap/Secret volumes replace a `..data` link). A watcher thread
 * wakes on inotify events in the file's directory (IN_MOVED_TO, IN_CREATE, IN_CLOSE_WRITE,
 * IN_ATTRIB), on a stat poll as a fallback (a symlinked directory swapped elsewhere, a
 * filesystem without inotify) and on request; its owner compares the file's identity (stat,
 * which follows symlink chains every time) and reopens what changed. Used by georeload.c and
 * rulesreload.c.
 */
#ifndef DOM_GATEWAY_FILEWATCH_H
#define DOM_GATEWAY_FILEWATCH_H

#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

/** What identifies a delivered file: the file the path leads to now, and its content stamp. */
typedef struct dom__file_id {
    int exists;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} dom__file_id_t;

/** stat()s path (following symlinks); exists = 0 when it cannot. */
void dom__file_id_of(const char *path, dom__file_id_t *id);

/** 1 if both name the same file (device and inode). */
int dom__file_id_same_file(const dom__file_id_t *a, const dom__file_id_t *b);

/** 1 if both name the same file with the same size and mtime. */
int dom__file_id_same(const dom__file_id_t *a, const dom__file_id_t *b);

typedef struct dom__filewatch dom__filewatch_t;

/**
 * Starts a thread that calls check(ctx) after every event in path's directory, every poll_ms
 * (0 = 2000) and every poke. A directory that cannot be watched is polled (and said so on
 * stderr). Errors: DOM_ENOMEM.
 */
int dom__filewatch_start(const char *path, unsigned poll_ms, void (*check)(void *ctx), void *ctx,
                         dom__filewatch_t **out);

/** Watches another path's directory from now on, with a new poll interval. Errors: DOM_ENOMEM (unchanged). */
int dom__filewatch_set(dom__filewatch_t *w, const char *path, unsigned poll_ms);

/** Wakes the thread now (SIGHUP). NULL safe. */
void dom__filewatch_poke(dom__filewatch_t *w);

/** Stops and joins the thread. NULL safe. */
void dom__filewatch_stop(dom__filewatch_t *w);

#endif

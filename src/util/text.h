/* A growable text buffer: admin answers, the metrics scrape, JSON of unknown size. */
#ifndef DOM_UTIL_TEXT_H
#define DOM_UTIL_TEXT_H

#include <stddef.h>

/** Zero-initialise; `base` stays NUL-terminated after every append. Free with dom__text_free. */
typedef struct dom__text {
    char *base;
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete (later appends are dropped) */
} dom__text_t;

/** Makes room for `extra` more bytes and the NUL. Returns 0, or -1 (failed set) when out of memory. */
int dom__text_reserve(dom__text_t *t, size_t extra);
/** Appends n bytes. */
void dom__text_append(dom__text_t *t, const void *p, size_t n);
/** Appends formatted text. */
void dom__text_printf(dom__text_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Frees the bytes and zeroes the buffer. */
void dom__text_free(dom__text_t *t);

/**
 * Room for one more element in a growable array of `count` elements of `size` bytes with capacity *cap
 * (doubling, `first` elements the first time). Returns the array (moved, *cap updated, when it grew), or
 * NULL when out of memory or the size would overflow (the old array is then untouched).
 */
void *dom__array_grow(void *arr, size_t count, size_t *cap, size_t first, size_t size);

#endif

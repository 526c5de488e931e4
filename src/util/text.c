/* The growable text buffer and arrays (util/text.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/text.h"

int dom__text_reserve(dom__text_t *t, size_t extra)
{
    if (t->failed)
        return -1;
    if (t->len + extra + 1 <= t->cap)
        return 0;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + extra + 1)
        cap *= 2;
    char *p = realloc(t->base, cap);
    if (p == NULL) {
        t->failed = 1;
        return -1;
    }
    t->base = p;
    t->cap = cap;
    return 0;
}

void dom__text_append(dom__text_t *t, const void *p, size_t n)
{
    if (dom__text_reserve(t, n) != 0)
        return;
    memcpy(t->base + t->len, p, n);
    t->len += n;
    t->base[t->len] = '\0';
}

void dom__text_printf(dom__text_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || dom__text_reserve(t, (size_t)n) != 0)
        return;
    va_start(ap, fmt);
    vsnprintf(t->base + t->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void dom__text_free(dom__text_t *t)
{
    free(t->base);
    memset(t, 0, sizeof(*t));
}

void *dom__array_grow(void *arr, size_t count, size_t *cap, size_t first, size_t size)
{
    if (count < *cap)
        return arr;
    size_t ncap = *cap ? *cap * 2 : first;
    if (ncap < *cap || size == 0 || ncap > (size_t)-1 / size)
        return NULL;
    void *p = realloc(arr, ncap * size);
    if (p != NULL)
        *cap = ncap;
    return p;
}

/* Requests and refusals per minute, and reload events (recent.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "gateway/recent.h"

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* The index of name (interning it if there is room), or -1. Only the owning thread writes names. */
static int name_index(dom__recent_t *r, const char *name, int refusal)
{
    for (int i = 0; i < DOM__RECENT_NAMES; ++i) {
        dom__recent_name_t *n = &r->names[i];
        if (!n->used) { /* the owner's own write: no other thread sets it */
            snprintf(n->name, sizeof(n->name), "%s", name);
            n->refusal = refusal;
            __atomic_store_n(&n->used, 1, __ATOMIC_RELEASE);
            return i;
        }
        if (n->refusal == refusal && strcmp(n->name, name) == 0)
            return i;
    }
    return -1;
}

void dom__recent_count(dom__recent_t *r, int64_t now, const char *jurisdiction, const char *refusal)
{
    int64_t minute = now / 60;
    dom__recent_minute_t *m = &r->minutes[(uint64_t)minute % DOM__RECENT_MINUTES];
    if (LOAD(&m->minute) != minute) {
        /* a new minute takes the slot of the oldest: readers see -1 while it is cleared */
        __atomic_store_n(&m->minute, -1, __ATOMIC_RELEASE);
        for (size_t i = 0; i < DOM__RECENT_NAMES; ++i)
            STORE(&m->counts[i], 0);
        STORE(&m->other_requests, 0);
        STORE(&m->other_refusals, 0);
        __atomic_store_n(&m->minute, minute, __ATOMIC_RELEASE);
    }
    int j = name_index(r, jurisdiction != NULL ? jurisdiction : "none", 0);
    if (j >= 0)
        STORE(&m->counts[j], LOAD(&m->counts[j]) + 1);
    else
        STORE(&m->other_requests, LOAD(&m->other_requests) + 1);
    if (refusal == NULL)
        return;
    int k = name_index(r, refusal, 1);
    if (k >= 0)
        STORE(&m->counts[k], LOAD(&m->counts[k]) + 1);
    else
        STORE(&m->other_refusals, LOAD(&m->other_refusals) + 1);
}

static dom__recent_row_t *row_of(dom__recent_row_t *rows, size_t *n, size_t max, const char *name, int refusal)
{
    for (size_t i = 0; i < *n; ++i)
        if (rows[i].refusal == refusal && strcmp(rows[i].name, name) == 0)
            return &rows[i];
    if (*n == max)
        return NULL;
    dom__recent_row_t *row = &rows[(*n)++];
    memset(row, 0, sizeof(*row));
    snprintf(row->name, sizeof(row->name), "%s", name);
    row->refusal = refusal;
    return row;
}

static int row_order(const void *a, const void *b)
{
    const dom__recent_row_t *x = a, *y = b;
    return x->refusal != y->refusal ? x->refusal - y->refusal : strcmp(x->name, y->name);
}

size_t dom__recent_sum(dom__recent_t *const *threads, size_t n_threads, int64_t now, dom__recent_row_t *rows,
                       size_t max)
{
    size_t n = 0;
    int64_t current = now / 60;
    for (size_t t = 0; t < n_threads; ++t) {
        dom__recent_t *r = threads[t];
        for (size_t s = 0; s < DOM__RECENT_MINUTES; ++s) {
            dom__recent_minute_t *m = &r->minutes[s];
            int64_t minute = __atomic_load_n(&m->minute, __ATOMIC_ACQUIRE);
            if (minute < 0 || minute > current || current - minute >= DOM__RECENT_MINUTES)
                continue;
            uint64_t counts[DOM__RECENT_NAMES], other[2] = {LOAD(&m->other_requests), LOAD(&m->other_refusals)};
            for (size_t i = 0; i < DOM__RECENT_NAMES; ++i)
                counts[i] = LOAD(&m->counts[i]);
            if (__atomic_load_n(&m->minute, __ATOMIC_ACQUIRE) != minute)
                continue; /* cleared for a new minute while read: it was the oldest anyway */
            size_t age = (size_t)(current - minute);
            for (size_t i = 0; i < DOM__RECENT_NAMES; ++i) {
                if (!__atomic_load_n(&r->names[i].used, __ATOMIC_ACQUIRE))
                    break;
                dom__recent_row_t *row;
                if (counts[i] != 0 && (row = row_of(rows, &n, max, r->names[i].name, r->names[i].refusal)) != NULL)
                    row->counts[age] += counts[i];
            }
            for (int k = 0; k < 2; ++k) {
                dom__recent_row_t *row;
                if (other[k] != 0 && (row = row_of(rows, &n, max, "(other)", k)) != NULL)
                    row->counts[age] += other[k];
            }
        }
    }
    qsort(rows, n, sizeof(*rows), row_order);
    return n;
}

/* ---- reload events ---- */

static pthread_mutex_t events_mutex = PTHREAD_MUTEX_INITIALIZER;
static dom__event_t events[DOM__EVENTS_KEPT];
static size_t events_next, events_count;

void dom__event_add(int failed, const char *fmt, ...)
{
    dom__event_t e = {(int64_t)time(NULL), failed, ""};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.text, sizeof(e.text), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&events_mutex);
    events[events_next] = e;
    events_next = (events_next + 1) % DOM__EVENTS_KEPT;
    if (events_count < DOM__EVENTS_KEPT)
        ++events_count;
    pthread_mutex_unlock(&events_mutex);
}

size_t dom__events_get(dom__event_t *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&events_mutex);
    for (; n < events_count && n < max; ++n)
        out[n] = events[(events_next + DOM__EVENTS_KEPT - 1 - n) % DOM__EVENTS_KEPT];
    pthread_mutex_unlock(&events_mutex);
    return n;
}

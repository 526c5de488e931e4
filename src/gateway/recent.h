/*
 * What happened lately, for the admin listener's status page: requests per jurisdiction and
 * refusals per reason in each of the last minutes, and the last reload events. Prometheus has
 * the totals (metrics.h); this is the view an operator reads without one.
 *
 * Counts are per thread, written only by their thread with relaxed stores like metrics.h's,
 * so the request path takes no lock. Names (jurisdictions, reason codes) are interned once per
 * thread and never change after they are published, and each minute's counts are indexed by
 * name, so a reader needs no lock either: it checks a minute's stamp before and after reading.
 */
#ifndef DOM_GATEWAY_RECENT_H
#define DOM_GATEWAY_RECENT_H

#include <stddef.h>
#include <stdint.h>
#include "domicile/common.h"

#define DOM__RECENT_MINUTES 10 /* minutes kept */
#define DOM__RECENT_NAMES 64   /* distinct names a thread counts; later ones count as "other" */

/** One thread's interned names: immutable once `used` is published (release). */
typedef struct dom__recent_name {
    char name[DOM_NAME_MAX + 1];
    int refusal; /* 0: a jurisdiction's requests; 1: a refusal reason */
    int used;    /* atomic */
} dom__recent_name_t;

typedef struct dom__recent_minute {
    int64_t minute; /* atomic: the unix minute counted here; -1 while being cleared */
    uint64_t counts[DOM__RECENT_NAMES];
    uint64_t other_requests, other_refusals; /* names that did not fit */
} dom__recent_minute_t;

/** One thread's counters. Zero-initialise (then every minute reads as unused). */
typedef struct dom__recent {
    dom__recent_name_t names[DOM__RECENT_NAMES];
    dom__recent_minute_t minutes[DOM__RECENT_MINUTES]; /* a zeroed slot counts minute 0 (1970): never shown */
} dom__recent_t;

/**
 * Counts one finished request of the calling thread at unix time `now`: under its jurisdiction
 * (NULL: "none"), and, when it was refused, under its reason code.
 */
void dom__recent_count(dom__recent_t *r, int64_t now, const char *jurisdiction, const char *refusal);

/** One row of the sums: a name and its count in each of the last minutes (index 0: the current one). */
typedef struct dom__recent_row {
    char name[DOM_NAME_MAX + 1];
    int refusal;
    uint64_t counts[DOM__RECENT_MINUTES];
} dom__recent_row_t;

/**
 * Sums the threads' counters for the DOM__RECENT_MINUTES minutes up to `now` into rows (jurisdictions
 * first, then reasons, each sorted by name; at most max rows). Returns the number of rows.
 */
size_t dom__recent_sum(dom__recent_t *const *threads, size_t n_threads, int64_t now, dom__recent_row_t *rows,
                       size_t max);

/* ---- reload events (process-wide) ---- */

#define DOM__EVENTS_KEPT 16
#define DOM__EVENT_MAX 240

typedef struct dom__event {
    int64_t time; /* unix seconds */
    int failed;   /* the reload was refused and the old state kept */
    char text[DOM__EVENT_MAX];
} dom__event_t;

/** Records a reload event (config, rules, geo): one line of text, the newest DOM__EVENTS_KEPT kept. Thread-safe. */
void dom__event_add(int failed, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Copies the kept events, newest first, into out (at most max). Returns how many. Thread-safe. */
size_t dom__events_get(dom__event_t *out, size_t max);

#endif

/*
 * Step 7, recording: one JSON line per decision, written without blocking the request
 * path. Each worker thread formats its line into its own single-producer ring; one
 * writer thread drains the rings into the file. A full ring or a failing file drops the
 * line and counts it: the gateway keeps serving. SIGUSR1 reopens the file (logrotate);
 * a clean stop flushes every ring before exit.
 */
#ifndef DOM_GATEWAY_AUDIT_H
#define DOM_GATEWAY_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include "domicile/clientip.h"

/** How client addresses appear in audit lines. */
typedef enum dom__audit_addr_mode {
    DOM_AUDIT_ADDR_TRUNCATE = 0, /* network only: /24 and /48 by default */
    DOM_AUDIT_ADDR_HASH,         /* keyed hash (HMAC-SHA256, first 16 bytes, hex) */
    DOM_AUDIT_ADDR_FULL,         /* the full address: only when configured explicitly */
    DOM_AUDIT_ADDR_NONE,         /* no address at all */
} dom__audit_addr_mode_t;

typedef struct dom__audit_options {
    const char *path;
    dom__audit_addr_mode_t addr_mode;
    unsigned ipv4_prefix, ipv6_prefix; /* for TRUNCATE; 0 = defaults 24 and 48 */
    const unsigned char *hash_key;     /* for HASH */
    size_t hash_key_len;
    size_t buffer_size; /* per thread ring bytes; 0 = 1 MiB */
    unsigned flush_ms;  /* writer wake-up interval; 0 = 100 ms */
} dom__audit_options_t;

/** Everything one audit line says. NULL strings are written as null. */
typedef struct dom__audit_record {
    int64_t time_us; /* unix microseconds of the request's start */
    const char *request_id;
    const char *instance; /* config `instance`: which replica decided */
    const char *method;
    const dom_addr_t *client; /* NULL: unknown */
    const char *country, *subdivision;
    const char *jurisdiction, *jurisdiction_source, *rule_version;
    const char *pin; /* the jurisdiction a valid pin names (NULL: no valid pin): `rules plan --replay` re-decides it */
    int consent;     /* the consent header names the request's class (`rules plan --replay`) */
    uint64_t rules_generation;
    const char *rules_hash; /* sha256 of the rule set's sources: which rule text decided */
    const char *ruleset;    /* the rule set's content hash (domicile/ledger.h) */
    const char *rule_hash;  /* the deciding version's content hash: `rules show --hash` prints its text */
    const char *geo_sha256; /* sha256 of the geo database file that located the client; NULL: none */
    const char *protocol;   /* "h1" or "h2" */
    int tls;
    const char *class_name;
    int write;          /* 1 write, 0 read */
    const char *action; /* "route" | "reject" */
    const char *reason;
    int status; /* final HTTP status sent to the client */
    const char *region, *cluster, *node;
    uint64_t decision_ns, latency_ns;
    uint64_t bytes_in, bytes_out;
    int report; /* a report-mode rule was evaluated */
    const char *report_jurisdiction, *report_version, *report_action;
    int report_status, report_differs;
    int retried; /* sent to another node after a connect failure */
} dom__audit_record_t;

typedef struct dom__audit dom__audit_t;

/**
 * Opens (appends to) the file and starts the writer thread; `n_threads` producer rings.
 * Errors: DOM_EIO (cannot open: message in err), DOM_EINVAL (hash mode without a key,
 * prefixes out of range), DOM_ENOMEM.
 */
int dom__audit_open(const dom__audit_options_t *opts, size_t n_threads, dom__audit_t **out, char *err, size_t errlen);

/** Formats and queues one line from producer `thread` (each index used by one thread only). Never blocks. */
void dom__audit_log(dom__audit_t *a, size_t thread, const dom__audit_record_t *r);

/** Asks the writer to reopen the file (after a rename by logrotate). Async-signal-safe is not needed: call from a
 * thread. */
void dom__audit_reopen(dom__audit_t *a);

/** Writes everything queued, stops the writer, closes the file and frees. NULL safe. Producers must have stopped. */
void dom__audit_close(dom__audit_t *a);

/** Lines written, lines dropped, reopens, and whether the last write succeeded. */
void dom__audit_stats(dom__audit_t *a, uint64_t *lines, uint64_t *dropped, uint64_t *reopens, int *ok);

/**
 * Formats a client address as the mode says into buf ("203.0.113.0/24", "h:9f…", "2001:db8::1").
 * Returns the length, or 0 if nothing is to be written (mode NONE, or the buffer is too small).
 */
size_t dom__audit_format_addr(const dom__audit_options_t *opts, const dom_addr_t *addr, char *buf, size_t buflen);

/** Formats one record as a JSON line (with the trailing newline). Returns the length, or 0 if it does not fit. */
size_t dom__audit_format(const dom__audit_options_t *opts, const dom__audit_record_t *r, char *buf, size_t buflen);

#endif

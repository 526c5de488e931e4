/*
 * Step 4 of the request path: the rule set. Compliance teams write YAML in regions/
 * (see docs/rules.md); `domicile rules compile` checks it and writes it into LMDB in
 * one write transaction; the gateway and `explain` load an immutable, refcounted
 * snapshot (dom_ruleset_t) from one LMDB read transaction, so a request sees all of
 * one rule set or all of the next, never a mix.
 */
#ifndef DOMICILE_RULES_H
#define DOMICILE_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "domicile/common.h"
#include "domicile/diag.h"

typedef enum dom_rule_mode {
    DOM_MODE_ENFORCE = 0,
    DOM_MODE_REPORT, /* evaluated and reported (audit, explain), never applied */
} dom_rule_mode_t;

typedef enum dom_on_unavailable {
    DOM_ON_UNAVAILABLE_REJECT = 0,  /* 503 + Retry-After; never another region */
    DOM_ON_UNAVAILABLE_NEXT_REGION, /* try the next region of the ordered list (still only listed ones) */
} dom_on_unavailable_t;

/** Which list of a class rule a request uses: GET, HEAD and OPTIONS read, every other method writes. */
typedef enum dom_access { DOM_ACCESS_READ = 0, DOM_ACCESS_WRITE } dom_access_t;

/** What one jurisdiction version says about one data class. */
typedef struct dom_class_rule {
    int deny;                /* refuse with 451 */
    const char *deny_reason; /* reason code for a deny, e.g. "class_denied" (default) */
    /* Ordered allowed regions (indices into dom_ruleset_t.regions). `write: any` is expanded
     * at compile time in the order of _regions.yaml. */
    uint16_t write_regions[DOM_MAX_REGIONS];
    size_t n_write;
    uint16_t read_regions[DOM_MAX_REGIONS]; /* defaults to the write list when not given */
    size_t n_read;
    int consent_required;
    int anonymize; /* strip identity (client address, cookies, auth) before forwarding */
} dom_class_rule_t;

/** One version of one jurisdiction. */
typedef struct dom_jurisdiction {
    const char *name;    /* "EU-GDPR" */
    const char *version; /* "2026-01" */
    int64_t effective;   /* unix seconds, 00:00 UTC of the effective date */
    dom_rule_mode_t mode;
    const char *policy_url;
    const char *law; /* free text citation, optional ("Regulation (EU) 2016/679") */
    dom_on_unavailable_t on_unavailable;
    int is_default;            /* applies to unknown locations */
    const char *source_file;   /* "regions/eu-gdpr.yaml" (for explain) */
    dom_class_rule_t *classes; /* indexed like dom_ruleset_t.classes */
    const char *applies_to;    /* the applies_to entries as written, ", "-separated ("EEA, CH"); "" for the default */
    char hash[65];             /* SHA-256 of its canonical text (domicile/ledger.h): the audit line's rule_hash */
} dom_jurisdiction_t;

typedef struct dom_data_class {
    const char *name; /* "account" */
    const char *description;
    int personal; /* holds personal data */
} dom_data_class_t;

typedef struct dom_region {
    const char *name;     /* "eu-central" */
    const char *location; /* ISO country the storage is in, "DE" */
    const char *description;
} dom_region_t;

/* Method bits for routes; their names and dom_method_bit() are in domicile/rules_record.h. */
#define DOM_METHOD_GET 0x01
#define DOM_METHOD_HEAD 0x02
#define DOM_METHOD_POST 0x04
#define DOM_METHOD_PUT 0x08
#define DOM_METHOD_PATCH 0x10
#define DOM_METHOD_DELETE 0x20
#define DOM_METHOD_OPTIONS 0x40
#define DOM_METHOD_OTHER 0x80
#define DOM_METHOD_ALL 0xff

/** A path prefix (and method set) mapped to a data class. */
typedef struct dom_route_rule {
    const char *prefix;
    size_t prefix_len;
    unsigned methods; /* DOM_METHOD_* mask; DOM_METHOD_ALL when not given */
    size_t class_index;
} dom_route_rule_t;

/** Lookup levels, in the order the policy tries them. */
typedef enum dom_rules_level {
    DOM_LEVEL_SUBDIVISION = 0, /* key "US-CA" */
    DOM_LEVEL_COUNTRY,         /* key "DE" */
    DOM_LEVEL_GROUP,           /* key "DE": the country via a group such as EEA */
} dom_rules_level_t;

/** One claim: at `level`, `key` belongs to jurisdiction version `jurisdiction` (index into jurisdictions). */
typedef struct dom_rule_claim {
    dom_rules_level_t level;
    char key[8];
    size_t jurisdiction;
} dom_rule_claim_t;

/**
 * An immutable rule set. All strings live in the snapshot's own memory. Obtained from
 * dom_rules_parse_dir() or dom_rules_store_current(); refcounted.
 */
typedef struct dom_ruleset {
    /* identity of this rule set */
    uint64_t generation;  /* incremented by every compile into the same database */
    char source_hash[65]; /* sha256 hex of the sorted source files (names and bytes) */
    int64_t compiled_at;  /* unix seconds */
    char hash[65];        /* SHA-256 of the set's canonical text (domicile/ledger.h): the audit line's ruleset */
    const char *sources;  /* "name sha256\n" per source file (set by the parser; NULL when loaded from LMDB) */

    dom_region_t *regions;
    size_t n_regions;
    dom_data_class_t *classes;
    size_t n_classes;
    dom_route_rule_t *routes; /* sorted by prefix length, longest first */
    size_t n_routes;
    size_t default_class;              /* class for paths no route matches */
    const char *read_methods;          /* methods besides GET, HEAD, OPTIONS that read, ","-separated
                                          ("PROPFIND,REPORT,SEARCH" unless the rules say otherwise); every
                                          other method writes (never the laxest) */
    dom_jurisdiction_t *jurisdictions; /* every version, sorted by name then effective */
    size_t n_jurisdictions;
    dom_rule_claim_t *claims; /* sorted by (level, key, effective) */
    size_t n_claims;

    /* private */
    int refcnt;
    void *arena;
} dom_ruleset_t;

/** Adds a reference (thread-safe). */
void dom_ruleset_retain(dom_ruleset_t *rs);
/** Drops a reference; the last frees. NULL safe. */
void dom_ruleset_release(dom_ruleset_t *rs);

/**
 * Resolves which jurisdiction version applies for `key` at `level` at time `now`:
 * *enforce gets the newest ENFORCE version in effect (effective <= now) claiming it, or NULL;
 * *report gets the newest REPORT version in effect that is newer than *enforce, or NULL.
 */
void dom_ruleset_resolve(const dom_ruleset_t *rs, dom_rules_level_t level, const char *key, int64_t now,
                         const dom_jurisdiction_t **enforce, const dom_jurisdiction_t **report);

/** Same, for a jurisdiction by name (pins and jurisdiction overrides), and for the default (name NULL). */
void dom_ruleset_find(const dom_ruleset_t *rs, const char *name, int64_t now, const dom_jurisdiction_t **enforce,
                      const dom_jurisdiction_t **report);

/** The read methods when a rule set declares none (WebDAV, CalDAV, CardDAV reads). */
#define DOM_DEFAULT_READ_METHODS "PROPFIND,REPORT,SEARCH"

/**
 * Returns 1 if the method reads: GET, HEAD and OPTIONS always, and those the rule set declares
 * (rs->read_methods; NULL rs: only the three). Methods are case-sensitive; every other one writes.
 */
int dom_ruleset_method_is_read(const dom_ruleset_t *rs, const char *method, size_t len);

/** Maps a request to a data class index (longest matching prefix whose methods match; else default_class). */
size_t dom_ruleset_classify(const dom_ruleset_t *rs, const char *method, size_t method_len, const char *path,
                            size_t path_len);

/** Index of a region by name, or -1. */
int dom_ruleset_region_index(const dom_ruleset_t *rs, const char *name);

/* ---- compiling (src/rules/) ---- */

/**
 * Parses and checks every *.yaml file in `dir` (regions, groups, classes, jurisdictions).
 * Every problem is reported through diag (NULL: stderr) as file:line:col (1-based); after
 * 200 errors the check stops with a notice. On success
 * *out is a ruleset (generation 0, source_hash set, compiled_at = now).
 * Errors: DOM_ERULES (problems reported), DOM_EIO, DOM_ENOMEM.
 */
int dom_rules_parse_dir(const char *dir, dom_diag_t *diag, dom_ruleset_t **out);

/**
 * Parses one YAML buffer as if it were the file `name` in an otherwise-given directory
 * (used by the fuzzer). Same diagnostics. Errors: DOM_ERULES, DOM_ENOMEM.
 */
int dom_rules_parse_buffer(const char *name, const char *buf, size_t len, dom_diag_t *diag);

/**
 * Writes a ruleset into the LMDB file `path` (MDB_NOSUBDIR; created if missing) in one write
 * transaction that replaces the previous set; readers in other processes see all of the
 * old set or all of the new. Increments the stored generation. A failure aborts the
 * transaction and leaves the database untouched. Errors: DOM_ELMDB, DOM_EIO, DOM_ENOMEM.
 */
int dom_rules_compile(const dom_ruleset_t *rs, const char *path, char *err, size_t errlen);

/** Same as dom_rules_compile(), and stores the generation it committed in *generation (may be NULL). */
int dom_rules_compile_ex(const dom_ruleset_t *rs, const char *path, uint64_t *generation, char *err, size_t errlen);

/* ---- the live store (src/core/rules_store.c) ---- */

typedef struct dom_rules_store dom_rules_store_t;

/**
 * Opens a compiled rules database read-only and loads its current snapshot.
 * Errors: DOM_ELMDB (cannot open), DOM_ECORRUPT (not a domicile rules database or bad records), DOM_ENOMEM.
 */
int dom_rules_store_open(const char *path, dom_rules_store_t **out, char *err, size_t errlen);

/** Closes the store; snapshots handed out stay valid until released. NULL safe. */
void dom_rules_store_close(dom_rules_store_t *store);

/**
 * Returns the current snapshot with a reference the caller must release. Cheap when
 * nothing changed (compares LMDB's last transaction id); when a compile committed since,
 * loads the new snapshot in one read transaction. If loading fails, the previous
 * snapshot stays in use and the failure is counted. Thread-safe. Never NULL after a successful open.
 */
dom_ruleset_t *dom_rules_store_current(dom_rules_store_t *store);

/**
 * The device and inode of the file the store has open (fstat of LMDB's descriptor), so a caller
 * can tell whether the path now leads to another file (delivered by rename or a symlink swap).
 * Errors: DOM_EIO.
 */
int dom_rules_store_file(dom_rules_store_t *store, uint64_t *dev, uint64_t *ino);

/** Counters for metrics: successful and failed snapshot loads since open. */
void dom_rules_store_stats(dom_rules_store_t *store, uint64_t *reloads, uint64_t *failures);

#endif

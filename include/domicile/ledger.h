/*
 * Content-addressed rule versions and the ledger of every version ever compiled
 * (docs/internals/ledger.md).
 *
 * Each jurisdiction version has a canonical text: what it decides (name, version,
 * effective date, mode, default, applies_to, on_unavailable, policy, law, and per class
 * deny/reason/write/read/consent/anonymize), never where its file lay or its comments or
 * key order. Its SHA-256 is the version's `rule_hash`; the SHA-256 of the rule set's
 * canonical text (vocabulary, routes and the versions' hashes) is the `ruleset` hash.
 *
 * A compiled rules database keeps a ledger beside the live set: every version ever
 * compiled into it (hash → canonical text, source file and its SHA-256, first compile),
 * and every compile (time, optional source revision, ruleset hash, source files and
 * their SHA-256, the versions it made live). `rules compile` never removes an entry and
 * carries the ledger forward from the output database or from --ledger-from.
 *
 * dom_ledger_open() reads the whole ledger into memory in one read transaction and
 * closes the file again, so a caller may open it beside a live store of the same file.
 */
#ifndef DOMICILE_LEDGER_H
#define DOMICILE_LEDGER_H

#include <stddef.h>
#include <stdint.h>
#include "domicile/rules.h"

/** The first line of a version's canonical text ("format=" + this). */
#define DOM_RULE_CANONICAL_FORMAT "domicile-rule/1"
/** The first line of a rule set's canonical text. */
#define DOM_RULESET_CANONICAL_FORMAT "domicile-ruleset/1"

/**
 * Writes the canonical text of version j of rs into a malloc'd, NUL-terminated buffer (*text, its length in
 * *len; the caller frees): lines "key=value\n", sorted bytewise, values escaped as in the rules database
 * (\\ \n \t). Errors: DOM_ENOMEM, DOM_EINVAL (j has no classes).
 */
int dom_rule_canonical(const dom_ruleset_t *rs, const dom_jurisdiction_t *j, char **text, size_t *len);

/** The canonical text of the rule set as a whole (see dom_rule_canonical; uses j->hash of every version). */
int dom_ruleset_canonical(const dom_ruleset_t *rs, char **text, size_t *len);

/**
 * Whether two canonical texts decide the same, apart from when and how they apply: equal but for their
 * `effective` and `mode` lines. One (jurisdiction, version) may appear more than once only so (a version
 * watched in report mode, then enforced from a later date); anything else is a reused version. Returns 1 or 0.
 */
int dom_rule_same_decisions(const char *a, size_t alen, const char *b, size_t blen);

/** Lower-case hex SHA-256 of n bytes into out (65 bytes with the NUL). Errors: DOM_ENOMEM. */
int dom_sha256_hex(const void *data, size_t n, char out[65]);

/**
 * Fills every version's `hash` and the set's `hash` from their canonical texts. The parser and the
 * live store call it on every set they build, so the same rule text has the same hash in both.
 * Errors: DOM_ENOMEM, DOM_EINVAL.
 */
int dom_ruleset_compute_hashes(dom_ruleset_t *rs);

/** What one class rule of a ledger version allows, parsed from its canonical text. */
typedef struct dom_ledger_class {
    const char *name; /* "content" */
    int deny;
    const char *reason;                 /* deny reason ("" when not denied) */
    const char *write[DOM_MAX_REGIONS]; /* region names, in order of preference */
    size_t n_write;
    const char *read[DOM_MAX_REGIONS];
    size_t n_read;
    int consent_required;
    int anonymize;
} dom_ledger_class_t;

/** One version in the ledger. Every string lives as long as the ledger. */
typedef struct dom_ledger_version {
    const char *hash;         /* 64 hex digits: SHA-256 of `text` */
    const char *jurisdiction; /* "EU-GDPR" */
    const char *version;      /* "2026-01" */
    const char *effective;    /* "2026-01-20" */
    const char *mode;         /* "enforce" | "report" */
    int is_default;
    const char *text; /* the exact canonical text (what `rules show --hash` prints) */
    size_t text_len;
    const char *source_file;           /* the file's name in the rules directory ("eu-gdpr.yaml") */
    const char *source_sha256;         /* SHA-256 of that file's bytes at its first compile */
    int64_t first_compiled;            /* unix seconds of the first compile that held it */
    const char *source_rev;            /* --source-rev of that compile ("" when none was given) */
    const dom_ledger_class_t *classes; /* sorted by name */
    size_t n_classes;
} dom_ledger_version_t;

/** One compile in the ledger. */
typedef struct dom_ledger_compile {
    uint64_t seq;            /* 1, 2, ... in the order of compiles (carried across files) */
    int64_t compiled_at;     /* unix seconds */
    uint64_t generation;     /* the database generation it wrote */
    const char *source_rev;  /* "" when none was given */
    const char *ruleset;     /* the rule set's hash */
    const char *source_hash; /* sha256 of the sources (dom_ruleset_t.source_hash) */
    const char *sources;     /* "name sha256\n" per source file, by name */
    const char *const *live; /* the hashes of the versions it made live (in the set), by (jurisdiction, effective) */
    size_t n_live;
} dom_ledger_compile_t;

/** An in-memory copy of a database's ledger. */
typedef struct dom_ledger dom_ledger_t;

/**
 * Reads the ledger of the compiled rules database `path` (read-only, one read transaction; the file is
 * closed before returning). A database compiled before ledgers existed has an empty one.
 * Errors: DOM_ELMDB (cannot open), DOM_ECORRUPT (a ledger record does not decode, or its hash does not
 * match its text), DOM_ENOMEM; the message is in err.
 */
int dom_ledger_open(const char *path, dom_ledger_t **out, char *err, size_t errlen);

/** Frees the ledger (and every string it handed out). NULL safe. */
void dom_ledger_close(dom_ledger_t *ledger);

/** Number of versions; dom_ledger_version_at(i) in (jurisdiction, effective, first_compiled) order. */
size_t dom_ledger_n_versions(const dom_ledger_t *ledger);
/** Version i (< dom_ledger_n_versions), or NULL. */
const dom_ledger_version_t *dom_ledger_version_at(const dom_ledger_t *ledger, size_t i);

/**
 * The version whose hash is `hash`: 64 hex digits, or a prefix of at least 8 that only one version has.
 * Errors (returns NULL and sets *err if err is not NULL): DOM_ENOTFOUND, DOM_EINVAL (ambiguous or too short).
 */
const dom_ledger_version_t *dom_ledger_find(const dom_ledger_t *ledger, const char *hash, int *err);

/** The first-compiled version named (jurisdiction, version), or NULL (the same pair may be there more than once,
 * with other effective dates or modes but the same decisions: see dom_rule_same_decisions). */
const dom_ledger_version_t *dom_ledger_find_version(const dom_ledger_t *ledger, const char *jurisdiction,
                                                    const char *version);

/** The class rule `class_name` of a ledger version, or NULL. */
const dom_ledger_class_t *dom_ledger_class(const dom_ledger_version_t *v, const char *class_name);

/**
 * Whether version v allowed `region` for `class_name` and access (the write or the read list; a denied
 * class allows nothing). Returns 1 allowed, 0 not allowed, DOM_ENOTFOUND (v has no such class).
 */
int dom_ledger_allowed(const dom_ledger_version_t *v, const char *class_name, dom_access_t access, const char *region);

/** Number of compiles; dom_ledger_compile_at(i) in seq order. */
size_t dom_ledger_n_compiles(const dom_ledger_t *ledger);
/** Compile i (< dom_ledger_n_compiles), or NULL. */
const dom_ledger_compile_t *dom_ledger_compile_at(const dom_ledger_t *ledger, size_t i);
/** The last compile whose ruleset hash is `ruleset` (64 hex digits or a unique prefix of 8+), or NULL. */
const dom_ledger_compile_t *dom_ledger_find_ruleset(const dom_ledger_t *ledger, const char *ruleset);

/** What a compile records besides the set itself. */
typedef struct dom_rules_compile_options {
    const dom_ledger_t *ledger_from; /* entries to carry into the output (a live database's); NULL: none */
    const char *source_rev;          /* e.g. a git commit; NULL: none */
} dom_rules_compile_options_t;

/**
 * dom_rules_compile_ex() that also writes the ledger in the same transaction: the output's own entries
 * are kept, opts->ledger_from's are added, then each version of rs (new hashes only) and one compile
 * record. A version whose (jurisdiction, version) the ledger holds with another hash is refused
 * (DOM_ERULES, message in err) and nothing is written; check it earlier with dom_rules_parse_dir_ledger()
 * for a file:line:col message. opts may be NULL. Errors: those of dom_rules_compile_ex(), DOM_ERULES.
 */
int dom_rules_compile_ledger(const dom_ruleset_t *rs, const char *path, const dom_rules_compile_options_t *opts,
                             uint64_t *generation, char *err, size_t errlen);

/**
 * dom_rules_parse_dir() that also refuses a (jurisdiction, version) that `ledger` (may be NULL) holds with
 * other content, at the file:line:col of the version key. Reuse within the tree is refused by both.
 */
int dom_rules_parse_dir_ledger(const char *dir, const dom_ledger_t *ledger, dom_diag_t *diag, dom_ruleset_t **out);

#endif

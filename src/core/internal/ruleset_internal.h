/*
 * Shared internals of the rule set (dom__ names): the arena that owns a snapshot's
 * memory and the builder calls that fill a dom_ruleset_t, shared by the core (the live
 * store, src/core/rules_store.c) and the rules library (the parser, src/rules/). This
 * directory (src/core/internal/) is on the include path of those two libraries and of
 * their tests only (CMake target domicile_internals), never of the gateway or the CLI.
 * The record codec is beside it in rules_record_internal.h. See docs/internals/rules.md.
 */
#ifndef DOM_RULESET_INTERNAL_H
#define DOM_RULESET_INTERNAL_H

#include <stddef.h>
#include "domicile/rules.h"

/** A bump allocator: chunks freed all at once. */
typedef struct dom__arena dom__arena_t;

/** Creates an arena. Returns NULL on out of memory. */
dom__arena_t *dom__arena_new(void);
/** Frees every chunk. NULL safe. */
void dom__arena_free(dom__arena_t *arena);
/** Zeroed, 16-byte aligned memory. Returns NULL on out of memory or overflow. */
void *dom__arena_alloc(dom__arena_t *arena, size_t size);
/** Zeroed array of n elements of size each; NULL on overflow or out of memory (non-NULL for n == 0). */
void *dom__arena_calloc(dom__arena_t *arena, size_t n, size_t size);
/** Copies len bytes and a NUL. */
char *dom__arena_strndup(dom__arena_t *arena, const char *s, size_t len);

/** Creates an empty ruleset (refcnt 1) whose memory, the struct included, lives in a new arena. */
dom_ruleset_t *dom__ruleset_new(void);
/** The ruleset's arena. */
dom__arena_t *dom__ruleset_arena(dom_ruleset_t *rs);
/** Sorts claims by (level, key, effective, jurisdiction); jurisdictions must be final. */
void dom__ruleset_sort_claims(dom_ruleset_t *rs);
/** Sorts routes longest prefix first (stable by prefix, then methods). */
void dom__ruleset_sort_routes(dom_ruleset_t *rs);

#endif

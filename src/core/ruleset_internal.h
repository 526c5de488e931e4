/*
 * Shared internals of the rule set (dom__ names): the arena that owns a snapshot's
 * memory, and the record encoding shared by the compiler (src/rules/rules_compile.c)
 * and the live store (src/core/rules_store.c). See docs/internals/rules.md.
 */
#ifndef DOM_RULESET_INTERNAL_H
#define DOM_RULESET_INTERNAL_H

#include <stddef.h>
#include "domicile/rules.h"

/** Version of the LMDB record encoding ("format" in the meta database). */
#define DOM__RULES_FORMAT "domicile-rules/1"

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

/** Names of levels and modes used in the record encoding and by `rules show`. */
const char *dom__level_name(dom_rules_level_t level);
const char *dom__mode_name(dom_rule_mode_t mode);
const char *dom__on_unavailable_name(dom_on_unavailable_t v);

#endif

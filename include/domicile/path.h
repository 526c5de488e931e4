/*
 * Step 0 of the request path: one canonical path. What the gateway classifies is exactly
 * what it forwards, so a storage server that normalises paths (merges slashes, resolves
 * dot segments, decodes escapes) cannot see a different path from the one the rules were
 * applied to. Targets that cannot be canonicalised without guessing are refused (400
 * non_canonical_path). No libh2o here.
 */
#ifndef DOMICILE_PATH_H
#define DOMICILE_PATH_H

#include <stddef.h>
#include "domicile/common.h"

typedef enum dom_path_mode {
    /** Encoded dots and slashes (%2e, %2f) are refused: they mean different things to different servers. */
    DOM_PATHS_STRICT = 0,
    /** Encoded dots and slashes are decoded and the result canonicalised and forwarded instead. */
    DOM_PATHS_CANONICALIZE,
} dom_path_mode_t;

/** The canonical form of a request target: the path (no query) and the query as sent. */
typedef struct dom_path {
    const char *path; /* canonical path, NUL-terminated, in the caller's buffer; "/" at least */
    size_t path_len;
    const char *query; /* after the '?', as sent (borrowed from the target); NULL if there was no '?' */
    size_t query_len;
} dom_path_t;

/**
 * Canonicalises an origin-form request target (RFC 9112 3.2.1, "/path?query"):
 * - percent escapes of unreserved characters (ALPHA DIGIT - . _ ~) are decoded, every other
 *   escape is kept with upper-case hex digits;
 * - empty segments are merged ("//" → "/"); "." and ".." segments are removed (RFC 3986 5.2.4);
 * - the query is kept as sent (checked for control bytes and spaces only).
 * Refused (DOM_EINVAL, *why says why in words): a target that does not start with '/'
 * (absolute-form, authority-form, "*", empty); raw control bytes, SP, DEL, '#' or '\';
 * an escape that is not %XX; an encoded NUL, control byte, '\' (%5c); in strict mode an
 * encoded '/' (%2f) or an encoded dot in a dot segment (%2e%2e); ".." above the root;
 * a dot segment with path parameters ("..;x"); bytes (raw or decoded) that are not UTF-8
 * (overlong forms included). The canonical path is never longer than the target: `buf` must
 * hold len + 1 bytes. Pure, no allocation; canonicalising a canonical path returns it unchanged.
 * Errors: DOM_EINVAL (refused), DOM_ERANGE (buf too small).
 */
int dom_path_canonicalize(const char *target, size_t len, dom_path_mode_t mode, char *buf, size_t bufsize,
                          dom_path_t *out, const char **why);

/** "strict" or "canonicalize". */
const char *dom_path_mode_name(dom_path_mode_t mode);

#endif

/*
 * Step 5b of the request path: the request body of a class that declares one (`body: json` in
 * regions/_classes.yaml). The gateway buffers the whole body before it decides (libh2o does), so the
 * check sees every byte that would be forwarded, and what it lets through is exactly what goes upstream:
 * the body as sent, or (scrub) the body re-serialised without the identity fields.
 *
 * A JSON class's body must be JSON: Content-Type application/json or application/<x>+json (charset, if
 * given, utf-8), no Content-Encoding but identity (a compressed body cannot be inspected), valid UTF-8
 * JSON (RFC 8259) without duplicate member names or NUL characters, nested at most DOM_BODY_MAX_DEPTH
 * deep. When the decision anonymizes the class, every object member at any depth whose name matches one
 * of the class's identity fields is refused (422) or removed (scrub). Names match ignoring ASCII case,
 * '_' and '-' ("user_id" matches "userId", "USER-ID", "UserID"): a client cannot slip a field past the
 * check by spelling it differently, and JSON escapes are decoded before the compare. Values are not
 * inspected (an e-mail address under another name is not found). No libh2o: jansson and this file.
 */
#ifndef DOMICILE_BODY_H
#define DOMICILE_BODY_H

#include <stddef.h>
#include "domicile/clientip.h"
#include "domicile/rules.h"

/** The deepest nesting of arrays and objects a JSON body may have (the top-level value is depth 1). */
#define DOM_BODY_MAX_DEPTH 32
/** The most identity fields a class may list, and the longest name of one. */
#define DOM_IDENTITY_FIELDS_MAX 32
#define DOM_IDENTITY_FIELD_MAX 64

/** What the gateway knows of a request body. */
typedef struct dom_body_input {
    const char *data; /* the whole buffered body */
    size_t len;
    dom_strref_t content_type;     /* the header's value; base NULL when there is none */
    dom_strref_t content_encoding; /* likewise */
    int repeated;                  /* more than one Content-Type or Content-Encoding header (refused) */
} dom_body_input_t;

/** The outcome of dom_body_check(). */
typedef struct dom_body_verdict {
    int status;         /* 0: forward; else 400, 415 or 422 */
    const char *reason; /* "invalid_json", "json_too_deep", "unsupported_media_type", "body_not_inspectable",
                           "identity_in_anonymous_data"; NULL when forwarded (static strings) */
    const char *field;  /* 422: the identity field that was found, as the class lists it (field_len bytes, not
                           NUL-terminated, in the rule set's memory); NULL otherwise */
    size_t field_len;
    size_t removed; /* scrub: members removed */
    char *body;     /* scrub with removals: the body to forward instead (malloc'ed, NUL-terminated); NULL:
                       forward the body as sent */
    size_t body_len;
    int checked; /* 1 if the body was parsed as JSON */
} dom_body_verdict_t;

/**
 * Checks a request body of class cls (anonymize: the decision anonymizes it). A class without `body: json`
 * and an empty body pass unchecked. The verdict's body, if any, is the caller's: free it with
 * dom_body_verdict_free(). Returns 0 (the verdict says what to do), or DOM_ENOMEM (nothing to forward:
 * refuse the request).
 */
int dom_body_check(const dom_data_class_t *cls, int anonymize, const dom_body_input_t *in, dom_body_verdict_t *out);

/** Frees a verdict's body. Safe on a zeroed verdict and twice. */
void dom_body_verdict_free(dom_body_verdict_t *v);

/**
 * Whether a JSON object member name matches a listed identity field (ASCII case, '_' and '-' ignored on both
 * sides). Exposed for tests and `explain`.
 */
int dom_identity_field_match(const char *listed, size_t listed_len, const char *name, size_t name_len);

#endif

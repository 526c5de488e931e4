/*
 * Step 5b in the gateway: the buffered request body of a JSON class (include/domicile/body.h). libh2o
 * hands on_req the whole body (HTTP/1.1 and HTTP/2 alike), so the check sees every byte before any is
 * forwarded; a scrubbed body replaces req->entity, and h2o's proxy writes Content-Length from it.
 */
#include <string.h>
#include "domicile/body.h"
#include "gateway/gateway.h"

/* The value of a request header (base NULL when absent); *repeated set when it comes more than once. */
static dom_strref_t header_value(h2o_req_t *req, const h2o_token_t *token, int *repeated)
{
    dom_strref_t v = {NULL, 0};
    for (ssize_t i = -1; (i = h2o_find_header(&req->headers, token, i)) != -1;) {
        if (v.base != NULL)
            *repeated = 1;
        v.base = req->headers.entries[i].value.base;
        v.len = req->headers.entries[i].value.len;
    }
    return v;
}

int dom__body_gate(h2o_req_t *req, const dom_data_class_t *cls, int anonymize, const char **reason, const char **field,
                   size_t *removed)
{
    *reason = NULL;
    *field = NULL;
    *removed = 0;
    if (cls == NULL || cls->body != DOM_BODY_JSON || req->entity.len == 0)
        return 0;
    dom_body_input_t in = {.data = req->entity.base, .len = req->entity.len};
    in.content_type = header_value(req, H2O_TOKEN_CONTENT_TYPE, &in.repeated);
    in.content_encoding = header_value(req, H2O_TOKEN_CONTENT_ENCODING, &in.repeated);
    dom_body_verdict_t v;
    if (dom_body_check(cls, anonymize, &in, &v) != 0) {
        *reason = "body_check_failed";
        return 503;
    }
    if (v.status != 0) {
        *reason = v.reason;
        if (v.field != NULL)
            *field = h2o_strdup(&req->pool, v.field, v.field_len).base;
        return v.status;
    }
    if (v.body != NULL) {
        req->entity = h2o_strdup(&req->pool, v.body, v.body_len);
        *removed = v.removed;
    }
    dom_body_verdict_free(&v);
    return 0;
}

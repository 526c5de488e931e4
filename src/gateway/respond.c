/*
 * Answers of the gateway's own: every refusal is one JSON shape, so a client (or a
 * compliance auditor with curl) can tell why without reading logs. 451 follows RFC 7725
 * (Link rel="blocked-by"); 503 carries Retry-After.
 */
#include <stdio.h>
#include <string.h>
#include "gateway/gateway.h"
#include "util/json.h"

const char *dom__status_text(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Content";
    case 431:
        return "Request Header Fields Too Large";
    case 451:
        return "Unavailable For Legal Reasons";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

/* A sentence for people; the reason code is for machines. */
static const char *message_for(const char *reason, int status)
{
    static const struct {
        const char *reason, *message;
    } table[] = {
        {"class_denied", "The rules of your jurisdiction do not allow this service to store this kind of data."},
        {"consent_required", "Storing this kind of data needs your consent (send the consent header)."},
        {"consent_malformed", "The consent token is malformed."},
        {"consent_unknown_key", "The consent token is signed with a key this gateway does not know."},
        {"consent_bad_signature", "The consent token's signature is not valid."},
        {"consent_expired", "The consent token has expired: ask for consent again."},
        {"consent_revoked", "This consent has been withdrawn: nothing is collected under it."},
        {"consent_wrong_scope", "The consent token does not cover this kind of data."},
        {"pin_malformed", "The residency pin is malformed."},
        {"pin_unknown_key", "The residency pin is signed with a key this gateway does not know."},
        {"pin_bad_signature", "The residency pin's signature is not valid."},
        {"pin_expired", "The residency pin has expired."},
        {"pin_unknown_jurisdiction", "The residency pin names a jurisdiction the rules do not know."},
        {"location_unknown", "Your location is unknown, and the rules refuse to store data without knowing it."},
        {"no_allowed_region", "The rules of your jurisdiction allow no storage region for this kind of data."},
        {"override_unknown_jurisdiction", "An operator override names a jurisdiction the rules do not know."},
        {"no_rules", "No rules are loaded: the gateway refuses rather than guess."},
        {"no_rule_for_location", "No rule covers your location: the gateway refuses rather than guess."},
        {"no_compliant_region",
         "This deployment has no storage cluster in any region where the rules allow this data to be stored."},
        {"region_unavailable", "No storage cluster is reachable in the regions the rules allow. Try again later."},
        {"node_busy", "The storage node for this request is busy (all its connections are in use). Try again later."},
        {"body_too_large", "The request body is larger than this gateway accepts for this kind of data."},
        {"non_canonical_path", "The request path cannot be read the same way by every server (encoded slashes or dots, "
                               "control bytes, backslashes, '..' above the root): send it in plain form."},
        {"header_fields_too_large",
         "The request carries more header fields or header bytes than this gateway accepts."},
        {"invalid_header", "A request header field has no name."},
        {"invalid_method", "The request method is not a valid HTTP method."},
        {"method_not_allowed", "This gateway does not serve this method."},
        {"invalid_destination", "The Destination header is missing, names another host or cannot be read the same way "
                                "by every server."},
        {"invalid_json", "This kind of data is sent as JSON, and the request body is not valid JSON (RFC 8259: "
                         "UTF-8, no duplicate member names)."},
        {"json_too_deep", "The JSON request body nests arrays and objects deeper than this gateway accepts."},
        {"unsupported_media_type", "This kind of data is sent as JSON: use Content-Type application/json "
                                   "(charset utf-8, if given)."},
        {"body_not_inspectable", "The request body is compressed (Content-Encoding): the gateway must check it before "
                                 "it is stored, so send it uncompressed."},
        {"body_check_failed", "The gateway could not check the request body (out of memory). Try again later."},
        {"identity_in_anonymous_data", "This data is collected anonymously, and the request body carries a field "
                                       "that identifies a person (see \"field\"): remove it and send again."},
        {"conflict_of_laws", "The law of your location and the law of your home jurisdiction (your residency pin) "
                             "allow no storage region in common for this kind of data."},
        {"subdivision_unknown", "Your region within your country is unknown, and the rules of its regions allow no "
                                "storage region in common for this kind of data."},
        {"destination_not_allowed",
         "The rules do not allow the Destination's kind of data where the source is stored."},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); ++i)
        if (strcmp(table[i].reason, reason) == 0)
            return table[i].message;
    return status == 451 ? "The rules of your jurisdiction do not allow this request." : "The request was refused.";
}

static void put_fields(dom__json_t *j, const dom__refusal_t *r, const char *message)
{
    dom__json_rawf(j, "\"status\":%d,\"reason\":", r->status);
    dom__json_str(j, r->reason);
    dom__json_lit(j, ",\"message\":");
    dom__json_str(j, message);
    dom__json_lit(j, ",\"jurisdiction\":");
    dom__json_str(j, r->jurisdiction);
    dom__json_lit(j, ",\"rule_version\":");
    dom__json_str(j, r->rule_version);
    dom__json_lit(j, ",\"class\":");
    dom__json_str(j, r->class_name);
    dom__json_lit(j, ",\"request_id\":");
    dom__json_str(j, r->request_id);
    dom__json_lit(j, ",\"policy_url\":");
    dom__json_str(j, r->policy_url);
    if (r->field != NULL) {
        dom__json_lit(j, ",\"field\":");
        dom__json_str(j, r->field);
    }
    if (r->jurisdictions_json != NULL) {
        dom__json_lit(j, ",\"jurisdictions\":");
        dom__json_lit(j, r->jurisdictions_json);
    }
}

static void put_jurisdiction(dom__json_t *j, const dom_jurisdiction_t *jur, dom_jurisdiction_source_t source)
{
    dom__json_lit(j, "{\"jurisdiction\":");
    dom__json_str(j, jur->name);
    dom__json_lit(j, ",\"rule_version\":");
    dom__json_str(j, jur->version);
    dom__json_lit(j, ",\"source\":");
    dom__json_str(j, dom_jurisdiction_source_name(source));
    dom__json_lit(j, "}");
}

const char *dom__refusal_jurisdictions(h2o_mem_pool_t *pool, const dom_decision_t *d)
{
    if (d->jurisdiction == NULL || d->n_joined == 0)
        return NULL;
    size_t cap = 256;
    for (int attempt = 0; attempt < 2; ++attempt) {
        char *buf = h2o_mem_alloc_pool(pool, cap);
        dom__json_t j = dom__json_fixed(buf, cap);
        dom__json_lit(&j, "[");
        put_jurisdiction(&j, d->jurisdiction, d->source);
        for (size_t i = 0; i < d->n_joined; ++i) {
            dom__json_lit(&j, ",");
            put_jurisdiction(&j, d->joined[i], d->joined_source[i]);
        }
        dom__json_raw(&j, "]", 2); /* with the NUL */
        if (!dom__json_failed(&j))
            return buf;
        cap = j.len; /* names and versions are bounded: the second attempt fits */
    }
    return NULL;
}

/* The fields at top level, and the same under "error" for clients that expect an envelope. */
static dom__json_t put_body(char *buf, size_t cap, const dom__refusal_t *r, const char *message)
{
    dom__json_t j = dom__json_fixed(buf, cap);
    dom__json_lit(&j, "{");
    put_fields(&j, r, message);
    dom__json_lit(&j, ",\"error\":{");
    put_fields(&j, r, message);
    dom__json_lit(&j, "}}\n");
    return j;
}

h2o_iovec_t dom__refusal_prepare(h2o_req_t *req, const dom__refusal_t *r)
{
    enum { CAP = 4096 };
    char *buf = h2o_mem_alloc_pool(&req->pool, CAP);
    const char *message = message_for(r->reason, r->status);
    dom__json_t j = put_body(buf, CAP, r, message);
    if (dom__json_failed(
            &j)) { /* long values (a policy URL of 2 KiB): write it again, whole, into a buffer that fits */
        size_t need = j.len;
        buf = h2o_mem_alloc_pool(&req->pool, need);
        j = put_body(buf, need, r, message);
    }

    req->res.status = r->status;
    req->res.reason = dom__status_text(r->status);
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL, H2O_STRLIT("application/json"));
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CACHE_CONTROL, NULL, H2O_STRLIT("no-store"));
    if (r->request_id != NULL)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, NULL, r->request_id,
                              strlen(r->request_id));
    if (r->status == 451 && r->policy_url != NULL) {
        h2o_iovec_t link = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("<")),
                                      h2o_iovec_init(r->policy_url, strlen(r->policy_url)),
                                      h2o_iovec_init(H2O_STRLIT(">; rel=\"blocked-by\"")));
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_LINK, NULL, link.base, link.len);
    }
    if (r->retry_after != 0) {
        char *ra = h2o_mem_alloc_pool(&req->pool, 16);
        int n = snprintf(ra, 16, "%u", r->retry_after);
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, ra, (size_t)n);
    }
    return h2o_iovec_init(buf, j.len);
}

void dom__respond_refusal(h2o_req_t *req, const dom__refusal_t *r)
{
    h2o_iovec_t body = dom__refusal_prepare(req, r);
    h2o_send_inline(req, body.base, body.len);
}

/*
 * Steps 0-3 on an h2o request: the h2o side of the one request-facts builder
 * (include/domicile/facts.h). The header section goes through the builder once, in the
 * order received; what the builder says no client may send upstream is dropped in place.
 * `explain` feeds the same builder from its command line (src/cli/explain.c), and
 * tests/unit/gateway/differential.c checks the two paths decide alike.
 */
#include <string.h>
#include "gateway/gateway.h"

int dom__peer_of(h2o_req_t *req, dom_addr_t *out)
{
    struct sockaddr_storage ss;
    socklen_t len = req->conn->callbacks->get_peername(req->conn, (void *)&ss);
    return len != 0 && dom_addr_from_sockaddr((void *)&ss, out) == 0;
}

void dom__request_facts(h2o_req_t *req, const dom_addr_t *peer, const dom_facts_config_t *fc, int64_t now,
                        dom_request_facts_t *out)
{
    dom_facts_builder_t b;
    dom_facts_begin(&b, fc);
    size_t kept = 0;
    for (size_t i = 0; i < req->headers.size; ++i) {
        h2o_header_t *h = &req->headers.entries[i];
        if (dom_facts_header(&b, h->name->base, h->name->len, h->value.base, h->value.len) == DOM_HEADER_DROP)
            continue;
        if (kept != i)
            req->headers.entries[kept] = *h;
        ++kept;
    }
    req->headers.size = kept;
    /* HTTP/2's :authority (HTTP/1's Host, which h2o moved there) is the authority a Destination must name */
    if (req->input.authority.base != NULL)
        dom_facts_header(&b, "host", 4, req->input.authority.base, req->input.authority.len);
    size_t cap = dom_facts_path_bufsize(&b, req->input.path.len);
    char *path = h2o_mem_alloc_pool(&req->pool, cap);
    dom_facts_finish(&b, peer, req->method.base, req->method.len, req->input.path.base, req->input.path.len, now, path,
                     cap, out);
}

static int name_is(const h2o_iovec_t *name, const char *lower_case)
{
    return lower_case != NULL && h2o_lcstris(name->base, name->len, lower_case, strlen(lower_case));
}

void dom__forward_trailers(h2o_req_t *req, const dom_facts_config_t *fc)
{
#ifdef H2O_HAS_REQUEST_TRAILERS
    /* a builder of its own, only to classify: nothing a trailer says reaches the request's facts */
    dom_facts_builder_t b;
    dom_facts_begin(&b, fc);
    for (size_t i = 0; i < req->trailers.size; ++i) {
        const h2o_header_t *t = &req->trailers.entries[i];
        if (dom_facts_header(&b, t->name->base, t->name->len, t->value.base, t->value.len) == DOM_HEADER_DROP ||
            name_is(t->name, fc->pin_header) || name_is(t->name, fc->consent_header))
            continue;
        if (h2o_iovec_is_token(t->name)) {
            /* kept a token: forward.c drops hop-by-hop fields by token and joins cookies; framing and routing
             * fields (content-length, host, expect, ...) are the gateway's own to write */
            const h2o_token_t *token = (const h2o_token_t *)t->name;
            if (!token->proxy_should_drop_for_req && !token->is_init_header_special)
                h2o_add_header(&req->pool, &req->headers, token, NULL, t->value.base, t->value.len);
            continue;
        }
        h2o_add_header_by_str(&req->pool, &req->headers, t->name->base, t->name->len, 0, NULL, t->value.base,
                              t->value.len);
    }
#else
    (void)req;
    (void)fc; /* without patch 0008 h2o merged the trailers into the header section itself */
#endif
}

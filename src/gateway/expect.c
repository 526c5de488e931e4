/*
 * Expect: 100-continue (HTTP/1.1), decided before the body is sent. h2o 2.2.5 answered
 * "100 Continue" as soon as the header section was parsed, so a client that asked first then
 * uploaded its whole body for a request refused with 451. Patch 0009 gives h2o a hook called
 * before the 100 goes out: here steps 0-5 run on the header section alone (the same facts
 * builder and decision as on_req; the body plays no part in either). A route lets h2o send
 * 100 Continue; on_req decides again once the body has arrived. A refusal is answered by
 * on_req itself, at once (the one JSON refusal, its audit line and metrics), and h2o closes
 * the connection after it without reading the body.
 */
#include <string.h>
#include <time.h>
#include "gateway/gateway.h"

/* The request on_req is answering from inside the hook on this thread (it has no body yet), or NULL. */
static _Thread_local h2o_req_t *before_body;

int dom__expect_before_body(h2o_req_t *req)
{
    return before_body != NULL && before_body == req;
}

int dom__expect_continue(h2o_req_t *req)
{
    dom__worker_t *w = H2O_STRUCT_FROM_MEMBER(dom__worker_t, ctx, req->conn->ctx);
    dom__live_refresh(&w->server->live, &w->live, &w->live_generation);
    dom_facts_config_t fc;
    dom_config_facts(w->live->settings->config, &w->live->settings->keyring, w->live->geo, &fc);
    dom_addr_t peer;
    int have_peer = dom__peer_of(req, &peer);

    /* the builder drops fields in place: it gets a copy of the list, on_req reads the whole header section again */
    h2o_headers_t headers = req->headers;
    req->headers.entries = h2o_mem_alloc_pool(&req->pool, sizeof(h2o_header_t) * (headers.size + 1));
    memcpy(req->headers.entries, headers.entries, sizeof(h2o_header_t) * headers.size);
    req->headers.capacity = headers.size + 1;
    dom_request_facts_t facts;
    dom__request_facts(req, have_peer ? &peer : NULL, &fc, (int64_t)time(NULL), &facts);
    req->headers = headers;

    dom_ruleset_t *rules = dom_rules_store_current(w->live->rules->store);
    dom_decision_t d;
    dom_decide(rules, &facts, &d);
    dom_ruleset_release(rules);
    if (d.action != DOM_ACTION_REJECT)
        return 0; /* 100 Continue: the body may come */

    before_body = req;
    dom__handler_on_req(NULL, req);
    before_body = NULL;
    return 1;
}

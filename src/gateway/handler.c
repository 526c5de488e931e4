/*
 * The request path inside the gateway: header hygiene → client address (step 1) →
 * geolocation (2) → pin (3) → rules snapshot (4) → decision (5) → forward or refuse (6).
 * Steps 1-5 are the decision core's pure functions; this file only gathers their inputs
 * from the h2o request and turns the decision into headers and an upstream choice.
 * No locks and no malloc: everything per request comes from req->pool.
 */
#include <errno.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include "domicile/clientip.h"
#include "gateway/audit.h"
#include "gateway/gateway.h"
#include "gateway/health.h"

#define REQUEST_ID_MAX 128
#define RETRY_AFTER_S 5
#define MAX_TRIED_NODES 16

/*
 * Per-request state released with the request's pool: the rules snapshot, the node's count,
 * and what step 7 records. h2o clears the pool after the response is finished (or the client
 * went away) while the request's fields are still intact, so the dispose callback is the one
 * place that sees every request exactly once, with its final status and byte counts.
 */
struct request_state {
    dom_ruleset_t *rules;
    dom__node_t *node;
    dom__worker_t *worker;
    h2o_req_t *req;
    dom_decision_t d;
    int decided;
    const char *reason, *region;
    const char *request_id;
    int echo_request_id; /* the client sent its own X-Request-Id: its response carries it back */
    dom_addr_t client;
    int have_client;
    char country[3], subdivision[8];
    uint64_t decision_ns;
    struct timeval dispatched;
    /* forwarding: deferred by one loop turn, then domicile's own upstream client (forward.c) */
    h2o_timeout_entry_t defer;           /* on the context's zero timeout */
    dom__exchange_t ex;                  /* the request's trip to its node */
    h2o_header_t extra[2];               /* the node's request headers: region, Destination */
    dom__node_t *tried[MAX_TRIED_NODES]; /* nodes that refused this request's connect */
    size_t n_tried;
    dom__refusal_t refusal;       /* what the client gets if no node can be reached (strings in req->pool) */
    int expose_decision_headers;  /* of the live settings on_req saw (the worker may swap them before forward) */
    int protocol;                 /* DOM__PROTO_*: the client's protocol, for step 7 */
    h2o_iovec_t destination;      /* MOVE, COPY: the canonical Destination path (in req->pool) */
    const char *method;           /* NUL-terminated, for step 7 */
    char geo_sha256[65];          /* the geo database that located the client (audit: which file decided) */
    size_t body_removed;          /* identity fields scrubbed from the body (step 5b) */
    char pin[DOM_NAME_MAX + 1];   /* the jurisdiction of a valid pin (audit: for `rules plan --replay`) */
    dom__audit_consent_t consent; /* a consent-gated class: the basis the decision had (audit) */
};

static uint64_t tv_diff_ns(const struct timeval *a, const struct timeval *b)
{
    int64_t us = (int64_t)(b->tv_sec - a->tv_sec) * 1000000 + (b->tv_usec - a->tv_usec);
    return us > 0 ? (uint64_t)us * 1000 : 0;
}

static void record(struct request_state *st)
{
    dom__worker_t *w = st->worker;
    h2o_req_t *req = st->req;
    dom__server_t *srv = w->server;
    const dom_decision_t *d = &st->d;
    int status = req->res.status;
    struct timeval end = req->timestamps.response_end_at;
    if (end.tv_sec == 0)
        gettimeofday(&end, NULL);
    uint64_t latency = tv_diff_ns(&req->timestamps.request_begin_at, &end);
    const char *action = dom_action_name(st->decided && st->node != NULL ? DOM_ACTION_ROUTE : DOM_ACTION_REJECT);
    const char *region = st->node != NULL ? st->region : NULL;
    const char *jname = st->decided && d->jurisdiction != NULL ? d->jurisdiction->name : NULL;
    const char *cls = st->decided ? d->class_name : NULL;

    dom__metrics_t *m = &w->metrics;
    dom__request_labels_t labels = {jname, cls, action, status, region};
    dom__metrics_count_request(m, &labels);
    dom__recent_count(&w->recent, req->timestamps.request_begin_at.tv_sec, jname,
                      st->decided && st->node != NULL ? NULL
                      : st->reason != NULL            ? st->reason
                                                      : "refused");
    dom__histogram_observe(&m->total, latency);
    DOM__COUNT_ADD(&m->bytes_in, req->entity.len);
    DOM__COUNT_ADD(&m->bytes_out, req->bytes_sent);
    if (st->node != NULL) {
        if (req->timestamps.response_start_at.tv_sec != 0)
            dom__histogram_observe(&m->upstream, tv_diff_ns(&st->dispatched, &req->timestamps.response_start_at));
        int failed = status >= 500 || status == 0;
        if (status >= 500)
            DOM__COUNT(&m->upstream_5xx);
        /* 5xx bursts and unreachable nodes mark the node down (health.c); a vanished client is not its fault */
        if (status != 0)
            dom__health_passive(st->node->health, !failed);
    }
    if (srv->audit == NULL)
        return;
    dom__audit_record_t r = {
        .time_us =
            (int64_t)req->timestamps.request_begin_at.tv_sec * 1000000 + req->timestamps.request_begin_at.tv_usec,
        .request_id = st->request_id,
        .instance = srv->config->instance,
        .method = st->method,
        .client = st->have_client ? &st->client : NULL,
        .country = st->country,
        .subdivision = st->subdivision,
        .jurisdiction = jname,
        .jurisdiction_source = st->decided ? dom_jurisdiction_source_name(d->source) : NULL,
        .rule_version = st->decided && d->jurisdiction != NULL ? d->jurisdiction->version : NULL,
        .pin = st->pin[0] != '\0' ? st->pin : NULL,
        .rules_generation = st->rules != NULL ? st->rules->generation : 0,
        .rules_hash = st->rules != NULL ? st->rules->source_hash : NULL,
        .ruleset = st->rules != NULL ? st->rules->hash : NULL,
        .rule_hash = st->decided && d->jurisdiction != NULL ? d->jurisdiction->hash : NULL,
        .geo_sha256 = st->geo_sha256[0] != '\0' ? st->geo_sha256 : NULL,
        .protocol = st->protocol >= DOM__PROTO_H2 ? "h2" : "h1",
        .tls = st->protocol == DOM__PROTO_H1_TLS || st->protocol == DOM__PROTO_H2_TLS,
        .class_name = cls,
        .write = st->decided && d->access == DOM_ACCESS_WRITE,
        .action = action,
        .reason = st->reason,
        .status = status,
        .region = region,
        .cluster = st->node != NULL ? st->node->cluster_name : NULL,
        .node = st->node != NULL ? st->node->config->url : NULL,
        .decision_ns = st->decision_ns,
        .latency_ns = latency,
        .bytes_in = req->entity.len,
        .bytes_out = req->bytes_sent,
        .identity_removed = st->body_removed,
    };
    if (st->decided && d->consent_gated)
        r.consent = &st->consent;
    if (st->decided && d->n_joined != 0) {
        r.joined = d->joined;
        r.joined_source = d->joined_source;
        r.n_joined = d->n_joined;
    }
    if (st->decided && d->report.present) {
        r.report = 1;
        r.report_jurisdiction = d->report.jurisdiction != NULL ? d->report.jurisdiction->name : NULL;
        r.report_version = d->report.jurisdiction != NULL ? d->report.jurisdiction->version : NULL;
        r.report_action = dom_action_name(d->report.action);
        r.report_status = d->report.status;
        r.report_differs = d->report.differs;
    }
    dom__audit_log(srv->audit, w->index, &r);
}

static void request_state_dispose(void *p)
{
    struct request_state *st = p;
    if (h2o_timeout_is_linked(&st->defer))
        h2o_timeout_unlink(&st->defer);
    dom__forward_dispose(&st->ex);
    record(st);
    if (st->node != NULL)
        DOM__COUNT_ADD(&st->node->outstanding, (size_t)-1); /* atomic: the status page reads it */
    dom_ruleset_release(st->rules);
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* xoshiro256**: fast, per thread, seeded from the OpenSSL CSPRNG. Request ids need uniqueness, not secrecy. */
static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4])
{
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

void dom__rng_seed(uint64_t s[4])
{
    if (RAND_bytes((unsigned char *)s, 4 * sizeof(uint64_t)) != 1 || (s[0] | s[1] | s[2] | s[3]) == 0) {
        /* RAND_bytes does not fail on Linux with getrandom; keep the state non-zero regardless */
        s[0] = (uint64_t)time(NULL) ^ 0x9e3779b97f4a7c15ull;
        s[1] = (uint64_t)(uintptr_t)s;
        s[2] = 0xbf58476d1ce4e5b9ull;
        s[3] = 0x94d049bb133111ebull;
    }
}

static int is_name(const h2o_iovec_t *name, const char *lit, size_t len)
{
    return name->len == len && h2o_lcstris(name->base, name->len, lit, len);
}

static int request_id_ok(dom_strref_t v)
{
    if (v.len == 0 || v.len > REQUEST_ID_MAX)
        return 0;
    for (size_t i = 0; i < v.len; ++i) {
        char c = v.base[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
              c == '.' || c == ':'))
            return 0;
    }
    return 1;
}

/* For anonymized classes: nothing that identifies the client reaches the upstream. */
static void strip_identity(h2o_req_t *req, const dom_config_t *cfg)
{
    size_t out = 0, pin_len = strlen(cfg->pins.header), consent_len = strlen(cfg->consent_header);
    for (size_t i = 0; i < req->headers.size; ++i) {
        h2o_header_t *h = &req->headers.entries[i];
        const h2o_iovec_t *name = h->name;
        int drop = name == &H2O_TOKEN_COOKIE->buf || name == &H2O_TOKEN_AUTHORIZATION->buf ||
                   is_name(name, H2O_STRLIT("cookie")) || is_name(name, H2O_STRLIT("authorization")) ||
                   is_name(name, H2O_STRLIT("proxy-authorization")) || is_name(name, cfg->pins.header, pin_len) ||
                   is_name(name, cfg->consent_header, consent_len); /* a consent token names its subject */
        for (size_t k = 0; !drop && k < cfg->n_anonymize_strip_headers; ++k)
            drop = is_name(name, cfg->anonymize_strip_headers[k], strlen(cfg->anonymize_strip_headers[k]));
        if (drop)
            continue;
        if (out != i)
            req->headers.entries[out] = *h;
        ++out;
    }
    req->headers.size = out;
}

/* The client's address as text; IPv4 by hand (glibc's inet_ntop formats it with sprintf). Returns the length, 0 on
 * failure. */
static size_t format_addr(const dom_addr_t *a, char *buf, size_t cap)
{
    if (a->family == AF_INET) {
        char *p = buf;
        for (int i = 0; i < 4; ++i) {
            unsigned v = a->bytes[i];
            if (v >= 100)
                *p++ = (char)('0' + v / 100);
            if (v >= 10)
                *p++ = (char)('0' + v / 10 % 10);
            *p++ = (char)('0' + v % 10);
            if (i < 3)
                *p++ = '.';
        }
        *p = '\0';
        return (size_t)(p - buf);
    }
    return dom_addr_format(a, buf, cap) == 0 ? strlen(buf) : 0;
}

static const char *pool_cstr(h2o_req_t *req, const char *s)
{
    return s != NULL ? h2o_strdup(&req->pool, s, SIZE_MAX).base : NULL;
}

static uint64_t class_limit(const dom_config_t *cfg, const char *class_name)
{
    for (size_t i = 0; class_name != NULL && i < cfg->limits.n_classes; ++i)
        if (strcmp(cfg->limits.classes[i].class_name, class_name) == 0)
            return cfg->limits.classes[i].max_body;
    return cfg->limits.max_body;
}

static void on_defer(h2o_timeout_entry_t *entry);

/* names of the request headers the gateway adds per node (read-only, shared by the threads) */
static h2o_iovec_t region_header_name = {H2O_STRLIT("x-domicile-region")};
static h2o_iovec_t destination_header_name = {H2O_STRLIT("destination")};

/*
 * The chosen node refused the connection (or did not answer it in time, or its TLS failed): nothing
 * of the request was sent, so it may go elsewhere in the decision's order. The node is marked down
 * passively.
 */
static void on_unreachable(dom__exchange_t *ex, const char *why)
{
    struct request_state *st = H2O_STRUCT_FROM_MEMBER(struct request_state, ex, ex);
    dom__worker_t *w = st->worker;
    dom__node_t *node = st->node;
    DOM__COUNT(&w->metrics.upstream_connect_failures);
    dom__health_refused(node->health);
    if (st->n_tried < MAX_TRIED_NODES)
        st->tried[st->n_tried++] = node;
    DOM__COUNT_ADD(&node->outstanding, (size_t)-1);
    st->node = NULL;

    dom__node_t *next = NULL;
    const char *region = NULL;
    if (st->n_tried < MAX_TRIED_NODES &&
        dom__upstream_pick(&w->upstream, st->rules, &st->d, (const dom__node_t *const *)st->tried, st->n_tried, &next,
                           &region) == DOM_PICK_OK) {
        DOM__COUNT(&w->metrics.upstream_retries);
        DOM__COUNT(&next->outstanding);
        st->node = next;
        st->region = region;
        /* from the loop, not from inside the client's callback */
        st->defer.cb = on_defer;
        h2o_timeout_link(w->ctx.loop, &w->ctx.zero_timeout, &st->defer);
        return;
    }
    st->reason = "region_unavailable";
    st->region = NULL;
    dom__respond_refusal(st->req, &st->refusal);
}

/*
 * The node may have seen the request but gave no usable answer (timeout, closed, invalid head), or no
 * connection freed up in time: never sent again; the client gets the 503 refusal (which counts against
 * the node's passive health like any 5xx). After the head (responded), the body broke off: the client's
 * response ends with an error; the audit line says why. A node that answers is reachable: a cut body
 * alone does not mark it down.
 */
static void on_failed(dom__exchange_t *ex, const char *reason, int responded)
{
    struct request_state *st = H2O_STRUCT_FROM_MEMBER(struct request_state, ex, ex);
    st->reason = reason;
    if (responded)
        return;
    dom__refusal_t r = st->refusal;
    if (strcmp(reason, "node_busy") == 0)
        r.reason = reason;
    dom__respond_refusal(st->req, &r);
}

/* The node's head is in req->res: the gateway's own response headers join it. */
static void on_head(dom__exchange_t *ex)
{
    struct request_state *st = H2O_STRUCT_FROM_MEMBER(struct request_state, ex, ex);
    h2o_req_t *req = st->req;
    if (st->expose_decision_headers)
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("domicile-region"), 0, NULL, st->region,
                              strlen(st->region));
    /* A client that sent its own id gets it back on the node's answer (the node's copy is replaced). Not for
     * generated ids: a unique value per response costs h2o 2.2.5's HPACK encoder about 3,900 instructions per
     * HTTP/2 response (it indexes every new value and scans them all); refusals always carry the id. */
    if (st->echo_request_id)
        h2o_set_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-request-id"), 0, st->request_id,
                              strlen(st->request_id), 1);
}

static const dom__exchange_cbs_t exchange_cbs = {on_unreachable, on_failed, on_head};

/* Safe reads, which the upstream client may send once more if a kept-alive connection closes unanswered. */
static int resendable(const struct request_state *st)
{
    static const char *const safe[] = {"GET", "HEAD", "OPTIONS", "PROPFIND", "REPORT", "SEARCH"};
    if (st->d.access != DOM_ACCESS_READ || st->req->entity.len != 0)
        return 0;
    for (size_t i = 0; i < sizeof(safe) / sizeof(safe[0]); ++i)
        if (strcmp(st->method, safe[i]) == 0)
            return 1;
    return 0;
}

/* Sends the request to st->node: the headers of this node (its region, a WebDAV Destination on its scheme). */
static void forward(struct request_state *st)
{
    h2o_req_t *req = st->req;
    dom__node_t *node = st->node;
    size_t n = 0;
    /* st->region is a name in the rules snapshot the request holds: it outlives the request's headers */
    st->extra[n++] =
        (h2o_header_t){.name = &region_header_name, .value = h2o_iovec_init(st->region, strlen(st->region))};
    if (st->destination.base != NULL) {
        /*
         * the classified path, in the scheme of the node and the authority of the Host header it gets (the
         * client's): WebDAV servers refuse a Destination naming another host than theirs
         */
        st->extra[n++] =
            (h2o_header_t){.name = &destination_header_name,
                           .value = h2o_concat(&req->pool, node->url.scheme->name, h2o_iovec_init(H2O_STRLIT("://")),
                                               req->authority, st->destination)};
    }
    st->ex.req = req;
    st->ex.node = node;
    st->ex.cbs = &exchange_cbs;
    st->ex.extra = st->extra;
    st->ex.n_extra = n;
    st->ex.resendable = resendable(st);
    st->dispatched = *h2o_get_timestamp(&st->worker->ctx, NULL, NULL);
    dom__forward_start(&st->ex);
}

static void on_defer(h2o_timeout_entry_t *entry)
{
    forward(H2O_STRUCT_FROM_MEMBER(struct request_state, defer, entry));
}

/* The client's own X-Request-Id when it is a sane token (its response then carries it back), else a fresh one. */
static void set_request_id(struct request_state *st, const dom_request_facts_t *facts)
{
    h2o_req_t *req = st->req;
    if ((st->echo_request_id = request_id_ok(facts->request_id))) {
        st->request_id = h2o_strdup(&req->pool, facts->request_id.base, facts->request_id.len).base;
        return;
    }
    static const char hex[] = "0123456789abcdef";
    uint64_t a = rng_next(st->worker->rng), b = rng_next(st->worker->rng);
    char *id = h2o_mem_alloc_pool(&req->pool, 33);
    for (int i = 0; i < 16; ++i) {
        id[i] = hex[(a >> (60 - 4 * i)) & 15];
        id[16 + i] = hex[(b >> (60 - 4 * i)) & 15];
    }
    id[32] = '\0';
    st->request_id = id;
}

/* What step 7 records of the facts, and what the metrics count of them. */
static void note_facts(struct request_state *st, const dom_request_facts_t *facts)
{
    dom__worker_t *w = st->worker;
    if (facts->client.malformed)
        DOM__COUNT(&w->metrics.malformed_forwarding);
    if (facts->pin_present && facts->pin_status != DOM_OK)
        DOM__COUNT(&w->metrics.invalid_pins);
    st->have_client = facts->have_peer && !facts->client.hidden;
    if (st->have_client)
        st->client = facts->client.addr;
    if (facts->pin_present && facts->pin_status == DOM_OK)
        memcpy(st->pin, facts->pin.jurisdiction, sizeof(st->pin));
    if (facts->location_known) {
        memcpy(st->country, facts->geo.country, sizeof(st->country));
        memcpy(st->subdivision, facts->geo.subdivision, sizeof(st->subdivision));
    }
}

/*
 * The consent basis of a request of a consent-gated class, for its audit line: what was presented and what it
 * was worth. A token's fields are recorded only when its signature matched (expired and revoked tokens are
 * genuine); the token id only as a hash, so the audit log does not hand out revocation handles.
 */
static void note_consent(struct request_state *st, const dom_request_facts_t *facts)
{
    dom__audit_consent_t *c = &st->consent;
    c->needed = st->d.consent_checked;
    c->mode = facts->consent_mode == DOM_CONSENT_MODE_HEADER ? "header" : "token";
    if (facts->consent == NULL) {
        c->status = "consent_required";
        return;
    }
    if (facts->consent_mode == DOM_CONSENT_MODE_HEADER) {
        c->status = "consent_claimed"; /* unsigned: nothing to verify */
        c->scopes = h2o_strdup(&st->req->pool, facts->consent, facts->consent_len).base;
        return;
    }
    c->status = dom_consent_reason(facts->consent_status);
    if (facts->consent_status != DOM_OK && facts->consent_status != DOM_ECONSENT_EXPIRED &&
        facts->consent_status != DOM_ECONSENT_REVOKED)
        return;
    const dom_consent_t *t = &facts->consent_token;
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)t->id, strlen(t->id), md);
    for (size_t i = 0; i < 8; ++i)
        snprintf(c->token_hash + 2 * i, 3, "%02x", md[i]);
    c->scopes = h2o_strdup(&st->req->pool, t->scopes, SIZE_MAX).base;
    c->issued_at = t->issued_at;
    c->expiry = t->expiry;
}

/* The one JSON refusal, filled from the decision (strings copied into the request's pool). */
static void refusal_init(struct request_state *st, dom__refusal_t *r)
{
    h2o_req_t *req = st->req;
    const dom_decision_t *d = &st->d;
    *r = (dom__refusal_t){
        .status = d->status,
        .reason = d->reason,
        .jurisdiction = d->jurisdiction != NULL ? pool_cstr(req, d->jurisdiction->name) : NULL,
        .rule_version = d->jurisdiction != NULL ? pool_cstr(req, d->jurisdiction->version) : NULL,
        .class_name = pool_cstr(req, d->class_name),
        .request_id = st->request_id,
        .policy_url = d->jurisdiction != NULL ? pool_cstr(req, d->jurisdiction->policy_url) : NULL,
        .jurisdictions_json = dom__refusal_jurisdictions(&req->pool, d),
    };
}

static int refuse(struct request_state *st, dom__refusal_t *r, int status, const char *reason)
{
    r->status = status;
    r->reason = st->reason = reason;
    r->retry_after = status == 503 ? RETRY_AFTER_S : 0;
    dom__respond_refusal(st->req, r);
    return 0;
}

/*
 * The request as it goes upstream: the canonical path it was classified by, the decision headers from
 * the gateway only (client copies were dropped with the facts), forwarding headers rebuilt from the
 * resolved address (or identity stripped for anonymized classes). The region is added when a node has
 * accepted the connection (a retry may move to the next listed region).
 */
static void rewrite_upstream(struct request_state *st, const dom_config_t *cfg, const dom_request_facts_t *facts,
                             const dom__refusal_t *r)
{
    h2o_req_t *req = st->req;
    h2o_iovec_t path = h2o_iovec_init(facts->path, facts->path_len);
    req->path_normalized = path;
    req->query_at = SIZE_MAX;
    if (facts->query != NULL) {
        req->query_at = path.len;
        path = h2o_concat(&req->pool, path, h2o_iovec_init(H2O_STRLIT("?")),
                          h2o_iovec_init(facts->query, facts->query_len));
    }
    req->path = path;
    if (st->d.destination_class != NULL)
        st->destination = h2o_strdup(&req->pool, facts->destination, facts->destination_len);

    const char *jname = r->jurisdiction != NULL ? r->jurisdiction : "";
    const char *version = r->rule_version != NULL ? r->rule_version : "";
    const char *cls = r->class_name != NULL ? r->class_name : "";
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-domicile-jurisdiction"), 0, NULL, jname,
                          strlen(jname));
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-domicile-class"), 0, NULL, cls, strlen(cls));
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-domicile-rule-version"), 0, NULL, version,
                          strlen(version));
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-request-id"), 0, NULL, st->request_id,
                          strlen(st->request_id));
    h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-forwarded-proto"), 0, NULL,
                          req->input.scheme->name.base, req->input.scheme->name.len);
    if (st->d.anonymize) {
        strip_identity(req, cfg);
    } else if (facts->have_peer) {
        char addr[INET6_ADDRSTRLEN];
        size_t alen = format_addr(&facts->client.addr, addr, sizeof(addr));
        if (alen != 0) {
            h2o_iovec_t a = h2o_strdup(&req->pool, addr, alen), fwd;
            h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("x-forwarded-for"), 0, NULL, a.base, a.len);
            if (facts->client.addr.family == AF_INET6)
                fwd = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("for=\"[")), a,
                                 h2o_iovec_init(H2O_STRLIT("]\";proto=")), req->input.scheme->name);
            else
                fwd = h2o_concat(&req->pool, h2o_iovec_init(H2O_STRLIT("for=")), a,
                                 h2o_iovec_init(H2O_STRLIT(";proto=")), req->input.scheme->name);
            h2o_add_header_by_str(&req->pool, &req->headers, H2O_STRLIT("forwarded"), 0, NULL, fwd.base, fwd.len);
        }
    }
    if (st->expose_decision_headers) {
        /* which rule text decided: `domicile rules show --hash` prints it */
        const char *rule_hash = st->d.jurisdiction != NULL ? pool_cstr(req, st->d.jurisdiction->hash) : "";
        const char *ruleset = st->rules != NULL ? pool_cstr(req, st->rules->hash) : "";
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("domicile-rule-version"), 0, NULL, version,
                              strlen(version));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("domicile-rule-hash"), 0, NULL, rule_hash,
                              strlen(rule_hash));
        h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("domicile-ruleset"), 0, NULL, ruleset,
                              strlen(ruleset));
    }
    /* no node reachable in the regions we may use: never another one */
    st->refusal = *r;
    st->refusal.status = 503;
    st->refusal.reason = "region_unavailable";
    st->refusal.retry_after = RETRY_AFTER_S;
}

int dom__handler_on_req(h2o_handler_t *self, h2o_req_t *req)
{
    dom__worker_t *w = H2O_STRUCT_FROM_MEMBER(dom__worker_t, ctx, req->conn->ctx);
    /*
     * one relaxed load: new settings (SIGHUP), a new geo database or rules file are taken between requests.
     * Everything on_req reads from them is used inside on_req (or copied into the request's state, the rules
     * snapshot held), so one request never mixes two.
     */
    dom__live_refresh(&w->server->live, &w->live, &w->live_generation);
    /* cfg: the keys a reload may change (live.h); w->server->config: the rest, fixed at start */
    const dom_config_t *cfg = w->live->settings->config;
    uint64_t t0 = mono_ns();
    struct request_state *st = h2o_mem_alloc_shared(&req->pool, sizeof(*st), request_state_dispose);
    memset(st, 0, sizeof(*st));
    st->worker = w;
    st->req = req;
    st->expose_decision_headers = cfg->expose_decision_headers;
    st->method = h2o_strdup(&req->pool, req->method.base, req->method.len).base;
    h2o_socket_t *sock = req->conn->callbacks->get_socket != NULL ? req->conn->callbacks->get_socket(req->conn) : NULL;
    st->protocol = (req->version >= 0x200 ? DOM__PROTO_H2 : DOM__PROTO_H1) + (sock != NULL && sock->ssl != NULL);
    DOM__COUNT(&w->metrics.by_protocol[st->protocol]);

    /* steps 0-3: canonical path, client address, location, pin and consent; header hygiene on the way */
    dom_facts_config_t fc;
    dom_config_facts(cfg, &w->live->settings->keyring, w->live->geo, &fc);
    fc.consent_keyring = &w->live->settings->consent_keyring;
    fc.revocations = w->live->revocations != NULL ? w->live->revocations->list : NULL;
    dom_addr_t peer;
    int have_peer = dom__peer_of(req, &peer);
    dom_request_facts_t facts;
    /* the loop's clock (ms, read once per turn) instead of a time() call per request */
    dom__request_facts(req, have_peer ? &peer : NULL, &fc, (int64_t)(h2o_now(w->ctx.loop) / 1000), &facts);
    set_request_id(st, &facts);
    note_facts(st, &facts);
    if (w->server->audit != NULL)
        memcpy(st->geo_sha256, dom_geo_metadata(w->live->geo)->sha256, sizeof(st->geo_sha256));

    /* steps 4-5: the rules snapshot (held until the request's pool goes away) and the decision */
    st->rules = dom_rules_store_current(w->live->rules->store);
    dom_decide(st->rules, &facts, &st->d);
    st->decided = 1;
    st->reason = st->d.reason;
    if (st->d.consent_gated)
        note_consent(st, &facts);
    st->decision_ns = mono_ns() - t0;
    dom__histogram_observe(&w->metrics.decision, st->decision_ns);
    dom__refusal_t refusal;
    refusal_init(st, &refusal);
    if (st->d.action == DOM_ACTION_REJECT)
        return refuse(st, &refusal, st->d.status, st->d.reason);
    /* refused a moment ago in expect.c, routed now (the rules changed between): the body was never read */
    if (dom__expect_before_body(req))
        return refuse(st, &refusal, 503, "region_unavailable");
    /* the body was buffered by h2o up to the largest class limit; this class may allow less */
    if (req->entity.base != NULL && req->entity.len > class_limit(cfg, st->d.class_name))
        return refuse(st, &refusal, 413, "body_too_large");
    /* step 5b: a JSON class's whole body, before anything goes upstream (what is checked is what is forwarded) */
    if (st->d.class_name != NULL && st->d.class_index < st->rules->n_classes) {
        const char *why;
        int status = dom__body_gate(req, &st->rules->classes[st->d.class_index], st->d.anonymize, &why, &refusal.field,
                                    &st->body_removed);
        if (status != 0)
            return refuse(st, &refusal, status, why);
    }

    /* step 6: a node in the first allowed region that has one; never outside the list */
    switch (dom__upstream_pick(&w->upstream, st->rules, &st->d, NULL, 0, &st->node, &st->region)) {
    case DOM_PICK_NO_CLUSTER:
        return refuse(st, &refusal, 451, "no_compliant_region");
    case DOM_PICK_NONE_UP:
        return refuse(st, &refusal, 503, "region_unavailable");
    case DOM_PICK_OK:
        break;
    }
    DOM__COUNT(&st->node->outstanding); /* st->region: a name in st->rules, held as long as st */
    if (cfg->forward_trailers)
        dom__forward_trailers(req, &fc);
    rewrite_upstream(st, cfg, &facts, &refusal);

    /*
     * One loop turn before anything goes upstream: h2o runs this handler while parsing a read, before
     * it parses a RST_STREAM that came in the same read. Deferred, a stream reset at once is disposed
     * (and the entry unlinked) before any upstream connection is asked for.
     */
    st->defer.cb = on_defer;
    h2o_timeout_link(w->ctx.loop, &w->ctx.zero_timeout, &st->defer);
    return 0;
}

/*
 * Listeners with proxy_protocol: true. The PROXY header (v1 or v2) is read here, on the worker's
 * own loop, before TLS and before h2o sees a byte: h2o 2.2.5 parses only v1 (and passes a
 * connection without a header through as if it had none). The header is parsed by the decision
 * core's pure parser (src/core/proxyproto.c) from the socket's input buffer after each read; once
 * it is complete, exactly its bytes are consumed and whatever followed (a TLS ClientHello, an HTTP
 * request) stays in the buffer for h2o_accept, as h2o's own v1 reader leaves it.
 *
 * Refused (closed, counted in domicile_proxy_protocol_refused_total by reason): a sender outside
 * trusted_proxies (at once, nothing read), bytes that are not a header or a bad header, a
 * connection closed before its header was complete, a header not complete within
 * limits.proxy_header_timeout (slowloris). The read is bounded: the parser refuses anything
 * longer than DOM_PROXYPROTO_MAX bytes.
 */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "gateway/gateway.h"

/* One connection whose header is still being read. */
typedef struct pending {
    dom__worker_t *w;
    h2o_accept_ctx_t *actx;
    h2o_socket_t *sock;
    h2o_timeout_entry_t timeout;
    h2o_linklist_t link; /* in w->proxy_pending */
} pending_t;

static void refuse(pending_t *p, int why)
{
    h2o_socket_t *sock = p->sock;
    DOM__COUNT(&p->w->metrics.proxy_refused[why]);
    h2o_timeout_unlink(&p->timeout);
    h2o_linklist_unlink(&p->link);
    free(p);
    sock->data = NULL;
    h2o_socket_close(sock);
}

/* The client as the header names it, in the form h2o reports peers (get_peername). */
static void set_peer(h2o_socket_t *sock, const dom_proxyproto_t *h)
{
    struct sockaddr_storage ss;
    socklen_t len = dom_addr_to_sockaddr(&h->src, &ss);
    if (ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&ss)->sin_port = htons(h->src_port);
    else
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(h->src_port);
    h2o_socket_setpeername(sock, (struct sockaddr *)&ss, len);
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    pending_t *p = sock->data;
    if (err != NULL) {
        refuse(p, DOM__PROXY_TRUNCATED);
        return;
    }
    dom_proxyproto_t h;
    dom_proxyproto_reason_t reason;
    int n = dom_proxyproto_parse(sock->input->bytes, sock->input->size, &h, &reason, NULL);
    if (n == 0)
        return; /* a valid prefix: wait for more (the timeout bounds the wait, the parser the length) */
    if (n < 0) {
        refuse(p, (int)reason);
        return;
    }
    dom__worker_t *w = p->w;
    h2o_accept_ctx_t *actx = p->actx;
    DOM__COUNT(&w->metrics.proxy_accepted[h.version - 1][h.local != 0]);
    h2o_timeout_unlink(&p->timeout);
    h2o_linklist_unlink(&p->link);
    free(p);
    sock->data = NULL;
    h2o_buffer_consume(&sock->input, (size_t)n);
    /* LOCAL (a load balancer's own health check) and v1 UNKNOWN: the sender is the peer */
    if (!h.local)
        set_peer(sock, &h);
    /* the rest of the input is the TLS handshake or HTTP: h2o takes it from sock->input */
    h2o_accept(actx, sock);
}

static void on_timeout(h2o_timeout_entry_t *entry)
{
    pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, timeout, entry);
    refuse(p, DOM__PROXY_TIMEOUT);
}

void dom__proxyproto_init(dom__worker_t *w)
{
    h2o_timeout_init(w->ctx.loop, &w->proxy_header_timeout, w->server->config->limits.proxy_header_timeout_ms);
    h2o_linklist_init_anchor(&w->proxy_pending);
}

void dom__proxyproto_accept(dom__worker_t *w, h2o_accept_ctx_t *actx, h2o_socket_t *sock)
{
    /* trusted_proxies may change by SIGHUP: take the worker's newest settings first */
    dom__live_refresh(&w->server->live, &w->live, &w->live_generation);
    struct sockaddr_storage ss;
    dom_addr_t sender;
    if (h2o_socket_getpeername(sock, (struct sockaddr *)&ss) == 0) {
        /* the sender reset the connection while it waited in the backlog (a load balancer's check that timed out) */
        DOM__COUNT(&w->metrics.proxy_refused[DOM__PROXY_TRUNCATED]);
        h2o_socket_close(sock);
        return;
    }
    if (dom_addr_from_sockaddr((struct sockaddr *)&ss, &sender) != 0 ||
        !dom_cidr_list_contains(&w->live->settings->config->trusted_proxies, &sender)) {
        /* nothing is read from a sender whose header we would not believe */
        DOM__COUNT(&w->metrics.proxy_refused[DOM__PROXY_UNTRUSTED]);
        h2o_socket_close(sock);
        return;
    }
    pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        h2o_socket_close(sock);
        return;
    }
    p->w = w;
    p->actx = actx;
    p->sock = sock;
    p->timeout.cb = on_timeout;
    sock->data = p;
    h2o_linklist_insert(&w->proxy_pending, &p->link);
    h2o_timeout_link(w->ctx.loop, &w->proxy_header_timeout, &p->timeout);
    h2o_socket_read_start(sock, on_read);
}

void dom__proxyproto_drain(dom__worker_t *w)
{
    while (!h2o_linklist_is_empty(&w->proxy_pending)) {
        pending_t *p = H2O_STRUCT_FROM_MEMBER(pending_t, link, w->proxy_pending.next);
        h2o_timeout_unlink(&p->timeout);
        h2o_linklist_unlink(&p->link);
        p->sock->data = NULL;
        h2o_socket_close(p->sock);
        free(p);
    }
}

/*
 * Step 6, how: domicile's own HTTP/1.1 client to the storage nodes, on h2o's public socket, loop
 * and timeout API and the response parser of http1resp.c (picohttpparser, which libh2o exports).
 *
 * Per worker thread and node: connections that stay registered with the event loop between
 * requests (a request costs one writev and the reads of its answer: no liveness peek, no fcntl, no
 * epoll_ctl), at most the thread's share of upstream.max_connections of them, and a queue of
 * requests waiting for one (503 node_busy after upstream.queue_timeout). The request goes out in
 * one write (head built once, body from h2o's buffer); the answer streams back through an
 * h2o_generator_t as it arrives, the socket's input buffer handed to h2o whole (no copy), and the
 * node is no longer read while a slow client has HIGH_WATER bytes unsent. A body cut short, in
 * either framing, ends the client's response with an error (h2o: RST_STREAM on HTTP/2, a closed
 * connection on HTTP/1.1), never as a success.
 *
 * Retries: a connect that fails (refused, timed out, TLS) sent nothing: the handler may choose
 * another node. A kept-alive connection that the node closes before the first byte of the answer
 * is retried once on a fresh connection, for safe reads only. Anything else that reached a node is
 * never sent again.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include "gateway/gateway.h"

/* Body bytes held for one client (unsent, in our buffers) before the node's socket is no longer read. */
#define HIGH_WATER (256 * 1024)

enum {
    EX_NEW = 0,
    EX_WAITING,    /* in node->waiting */
    EX_CONNECTING, /* on a connection that is being opened */
    EX_SENT,       /* request written (or being written), no final head yet */
    EX_BODY,       /* the head went to the client; the body streams */
    EX_DONE,       /* nothing more from the node: the connection is released */
    EX_FAILED,     /* the handler was told (failed / unreachable) */
};

struct dom__upconn {
    h2o_socket_t *sock;
    dom__node_t *node;
    dom__exchange_t *ex;       /* NULL while idle (or the request went away while connecting) */
    h2o_linklist_t idle;       /* in node->idle */
    h2o_timeout_entry_t timer; /* connect, first byte, idle or keep-alive: one at a time */
    h2o_hostinfo_getaddr_req_t *getaddr;
    uint64_t requests; /* answers completed on it */
    int ready;         /* connected (TLS done) and read by conn_on_read */
    int writing;       /* a request is being written */
    int broken;        /* must not carry another request */
};

static void conn_on_read(h2o_socket_t *sock, const char *err);
static void conn_open(dom__node_t *node, dom__exchange_t *ex);
static void on_conn_timeout(h2o_timeout_entry_t *entry);
static void send_request(dom__upconn_t *c);
static void send_more(dom__exchange_t *ex);

static dom__metrics_t *metrics_of(dom__node_t *node)
{
    return &node->worker->metrics;
}

static h2o_loop_t *loop_of(dom__node_t *node)
{
    return node->worker->ctx.loop;
}

static void timer_set(dom__upconn_t *c, h2o_timeout_t *list)
{
    if (h2o_timeout_is_linked(&c->timer))
        h2o_timeout_unlink(&c->timer);
    if (list != NULL)
        h2o_timeout_link(loop_of(c->node), list, &c->timer);
}

static void attach(dom__upconn_t *c, dom__exchange_t *ex)
{
    c->ex = ex;
    ex->conn = c;
}

static void detach(dom__upconn_t *c)
{
    if (c->ex != NULL)
        c->ex->conn = NULL;
    c->ex = NULL;
}

/* ---- connections ---- */

/* One loop turn after a connection closed: its place goes to the requests waiting for one. */
static void serve_waiting(dom__node_t *node)
{
    while (!h2o_linklist_is_empty(&node->waiting)) {
        dom__upconn_t *c = NULL;
        if (!h2o_linklist_is_empty(&node->idle)) {
            c = H2O_STRUCT_FROM_MEMBER(dom__upconn_t, idle, node->idle.next);
            h2o_linklist_unlink(&c->idle);
        } else if (node->n_conns >= node->max_conns) {
            return;
        }
        dom__exchange_t *ex = H2O_STRUCT_FROM_MEMBER(dom__exchange_t, waiting, node->waiting.next);
        h2o_linklist_unlink(&ex->waiting);
        h2o_timeout_unlink(&ex->wait_timer);
        if (c != NULL) {
            timer_set(c, NULL);
            attach(c, ex);
            send_request(c);
        } else {
            conn_open(node, ex);
        }
    }
}

static void on_kick(h2o_timeout_entry_t *entry)
{
    serve_waiting(H2O_STRUCT_FROM_MEMBER(dom__node_t, kick, entry));
}

/* Closes a connection (detached from its exchange first); its place is offered to the waiting one loop turn later. */
static void conn_close(dom__upconn_t *c)
{
    dom__node_t *node = c->node;
    detach(c);
    timer_set(c, NULL);
    if (h2o_linklist_is_linked(&c->idle))
        h2o_linklist_unlink(&c->idle);
    if (c->getaddr != NULL)
        h2o_hostinfo_getaddr_cancel(c->getaddr);
    if (c->sock != NULL)
        h2o_socket_close(c->sock);
    --node->n_conns;
    free(c);
    if (!h2o_linklist_is_empty(&node->waiting) && !h2o_timeout_is_linked(&node->kick)) {
        node->kick.cb = on_kick;
        h2o_timeout_link(loop_of(node), &node->worker->ctx.zero_timeout, &node->kick);
    }
}

/* The connection carried its answer: the next waiting request takes it, or it waits idle (most recent first). */
static void conn_release(dom__upconn_t *c)
{
    dom__node_t *node = c->node;
    detach(c);
    if (!h2o_linklist_is_empty(&node->waiting)) {
        dom__exchange_t *ex = H2O_STRUCT_FROM_MEMBER(dom__exchange_t, waiting, node->waiting.next);
        h2o_linklist_unlink(&ex->waiting);
        h2o_timeout_unlink(&ex->wait_timer);
        timer_set(c, NULL);
        attach(c, ex);
        send_request(c);
        return;
    }
    h2o_linklist_insert(node->idle.next, &c->idle);
    timer_set(c, node->keepalive_timeout);
}

/* Nothing of the request reached the node. */
static void conn_unreachable(dom__upconn_t *c, const char *why)
{
    dom__exchange_t *ex = c->ex;
    conn_close(c);
    if (ex != NULL) {
        ex->state = EX_FAILED;
        ex->cbs->unreachable(ex, why);
    }
}

static void conn_ready(dom__upconn_t *c)
{
    timer_set(c, NULL);
    c->ready = 1;
    /* read from now on, idle or not: a node that closes an idle connection is noticed at once */
    h2o_socket_read_start(c->sock, conn_on_read);
    if (c->ex != NULL)
        send_request(c);
    else
        conn_release(c); /* its request went away while it was being opened: the next one takes it */
}

static void on_handshake(h2o_socket_t *sock, const char *err)
{
    dom__upconn_t *c = sock->data;
    /*
     * The node's SSL_CTX checks the name or address itself (X509_VERIFY_PARAM, server.c); h2o's own
     * check after the handshake knows only DNS names and reports a node named by its IP address as a
     * mismatch, which OpenSSL has already ruled out.
     */
    if (err != NULL && err != h2o_socket_error_ssl_cert_name_mismatch) {
        conn_unreachable(c, err);
        return;
    }
    conn_ready(c);
}

static void on_connect(h2o_socket_t *sock, const char *err)
{
    dom__upconn_t *c = sock->data;
    if (err != NULL) {
        conn_unreachable(c, err);
        return;
    }
    if (c->node->health->ssl != NULL) {
        h2o_socket_ssl_handshake(sock, c->node->health->ssl, c->node->config->host, on_handshake);
        return;
    }
    conn_ready(c);
}

/*
 * h2o_socket_connect, plus SO_RCVBUF before the connect: h2o reads a socket until EAGAIN, so the
 * receive buffer bounds how much of a node's answer one read can take in (limits.receive_buffer, as
 * for clients), which keeps a fast node from filling the gateway's memory faster than back-pressure acts.
 */
static void connect_to(dom__upconn_t *c, struct sockaddr *addr, socklen_t len)
{
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), on = 1;
    int rcvbuf = (int)c->node->worker->server->config->limits.receive_buffer;
    if (fd < 0) {
        conn_unreachable(c, "cannot create a socket");
        return;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    if (connect(fd, addr, len) != 0 && errno != EINPROGRESS) {
        close(fd);
        conn_unreachable(c, "connection refused");
        return;
    }
    c->sock = h2o_evloop_socket_create(loop_of(c->node), fd, H2O_SOCKET_FLAG_IS_CONNECTING);
    c->sock->data = c;
    h2o_socket_notify_write(c->sock, on_connect);
}

static void on_getaddr(h2o_hostinfo_getaddr_req_t *req, const char *errstr, struct addrinfo *res, void *data)
{
    dom__upconn_t *c = data;
    c->getaddr = NULL;
    if (errstr != NULL) {
        conn_unreachable(c, errstr);
        return;
    }
    struct addrinfo *ai = h2o_hostinfo_select_one(res);
    connect_to(c, ai->ai_addr, ai->ai_addrlen);
}

/* Opens a connection for ex (the caller checked the node's limit). */
static void conn_open(dom__node_t *node, dom__exchange_t *ex)
{
    dom__upconn_t *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        ex->state = EX_FAILED;
        ex->cbs->unreachable(ex, "out of memory");
        return;
    }
    c->node = node;
    ++node->n_conns;
    DOM__COUNT(&metrics_of(node)->upstream_connections);
    attach(c, ex);
    ex->state = EX_CONNECTING;
    c->timer.cb = on_conn_timeout;
    timer_set(c, node->connect_timeout);
    if (node->addrlen != 0) {
        connect_to(c, (struct sockaddr *)&node->addr, node->addrlen);
        return;
    }
    char port[8];
    int n = snprintf(port, sizeof(port), "%u", (unsigned)node->config->port);
    c->getaddr = h2o_hostinfo_getaddr(&node->worker->ctx.receivers.hostinfo_getaddr,
                                      h2o_iovec_init(node->config->host, strlen(node->config->host)),
                                      h2o_iovec_init(port, (size_t)n), AF_UNSPEC, SOCK_STREAM, IPPROTO_TCP,
                                      AI_ADDRCONFIG | AI_NUMERICSERV, on_getaddr, c);
}

/* ---- the request ---- */

static int method_is(const h2o_req_t *req, const char *m, size_t len)
{
    return req->method.len == len && memcmp(req->method.base, m, len) == 0;
}

static size_t put(char *p, const void *s, size_t len)
{
    memcpy(p, s, len);
    return len;
}

static size_t put_u64(char *p, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; ++i)
        p[i] = tmp[n - 1 - i];
    return n;
}

static int dropped(const h2o_header_t *h)
{
    return h2o_iovec_is_token(h->name) && ((const h2o_token_t *)h->name)->proxy_should_drop_for_req;
}

/*
 * The request head, sized first and written once into the request's pool: request line, connection,
 * host (the client's authority), content-length when there is a body (or PUT/POST, which nodes may
 * refuse without one), the client's fields minus hop-by-hop ones (cookie crumbs of HTTP/2 joined),
 * then the fields of this node attempt.
 */
static h2o_iovec_t build_head(dom__exchange_t *ex)
{
    static const char line_end[] = " HTTP/1.1\r\nconnection: keep-alive\r\nhost: ";
    h2o_req_t *req = ex->req;
    int with_length =
        req->entity.base != NULL || method_is(req, H2O_STRLIT("POST")) || method_is(req, H2O_STRLIT("PUT"));
    size_t len = req->method.len + 1 + req->path.len + sizeof(line_end) - 1 + req->authority.len + 2 + 2;
    size_t cookies = 0, n_cookies = 0;
    if (with_length)
        len += sizeof("content-length: \r\n") - 1 + 20;
    for (size_t i = 0; i < req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (dropped(h))
            continue;
        if (h->name == &H2O_TOKEN_COOKIE->buf) {
            cookies += h->value.len + 2;
            ++n_cookies;
            continue;
        }
        len += h->name->len + 2 + h->value.len + 2;
    }
    if (n_cookies != 0)
        len += sizeof("cookie: \r\n") - 1 + cookies;
    for (size_t i = 0; i < ex->n_extra; ++i)
        len += ex->extra[i].name->len + 2 + ex->extra[i].value.len + 2;

    char *buf = h2o_mem_alloc_pool(&req->pool, len), *p = buf;
    p += put(p, req->method.base, req->method.len);
    *p++ = ' ';
    p += put(p, req->path.base, req->path.len);
    p += put(p, line_end, sizeof(line_end) - 1);
    p += put(p, req->authority.base, req->authority.len);
    p += put(p, "\r\n", 2);
    if (with_length) {
        p += put(p, "content-length: ", 16);
        p += put_u64(p, req->entity.len);
        p += put(p, "\r\n", 2);
    }
    for (size_t i = 0; i < req->headers.size; ++i) {
        const h2o_header_t *h = &req->headers.entries[i];
        if (dropped(h) || h->name == &H2O_TOKEN_COOKIE->buf)
            continue;
        p += put(p, h->orig_name != NULL ? h->orig_name : h->name->base, h->name->len);
        p += put(p, ": ", 2);
        p += put(p, h->value.base, h->value.len);
        p += put(p, "\r\n", 2);
    }
    if (n_cookies != 0) {
        /* RFC 9113 8.2.3: HTTP/2 sends cookie crumbs that become one field for HTTP/1.1 */
        p += put(p, "cookie: ", 8);
        for (size_t i = 0, k = 0; i < req->headers.size; ++i) {
            const h2o_header_t *h = &req->headers.entries[i];
            if (h->name != &H2O_TOKEN_COOKIE->buf)
                continue;
            if (k++ != 0)
                p += put(p, "; ", 2);
            p += put(p, h->value.base, h->value.len);
        }
        p += put(p, "\r\n", 2);
    }
    for (size_t i = 0; i < ex->n_extra; ++i) {
        p += put(p, ex->extra[i].name->base, ex->extra[i].name->len);
        p += put(p, ": ", 2);
        p += put(p, ex->extra[i].value.base, ex->extra[i].value.len);
        p += put(p, "\r\n", 2);
    }
    p += put(p, "\r\n", 2);
    return h2o_iovec_init(buf, (size_t)(p - buf));
}

static void on_write_done(h2o_socket_t *sock, const char *err);

/* The request in one write: the head and h2o's buffered body. */
static void send_request(dom__upconn_t *c)
{
    dom__exchange_t *ex = c->ex;
    dom__node_t *node = c->node;
    ex->state = EX_SENT;
    if (c->requests != 0)
        DOM__COUNT(&metrics_of(node)->upstream_reused);
    if (ex->head_node != node) {
        ex->head = build_head(ex);
        ex->head_node = node;
    }
    h2o_iovec_t bufs[2] = {ex->head, ex->req->entity};
    c->writing = 1;
    timer_set(c, node->first_byte_timeout);
    h2o_socket_write(c->sock, bufs, ex->req->entity.len != 0 ? 2 : 1, on_write_done);
}

/* ---- the answer ---- */

/* Fails an exchange whose request may have reached the node, before the client got anything. */
static void fail_before_head(dom__upconn_t *c, const char *reason)
{
    dom__exchange_t *ex = c->ex;
    dom__node_t *node = c->node;
    conn_close(c);
    DOM__COUNT(&metrics_of(node)->upstream_failures);
    ex->state = EX_FAILED;
    ex->cbs->failed(ex, reason, 0);
}

/* The body broke off after the head went out: what arrived intact is sent, then the error. */
static void fail_body(dom__upconn_t *c, const char *reason)
{
    dom__exchange_t *ex = c->ex;
    dom__node_t *node = c->node;
    h2o_buffer_t *tmp = ex->rest;
    ex->rest = c->sock->input;
    c->sock->input = tmp;
    conn_close(c);
    DOM__COUNT(&metrics_of(node)->upstream_incomplete);
    ex->body_failed = 1;
    ex->upstream_done = 1;
    ex->state = EX_DONE;
    ex->cbs->failed(ex, reason, 1);
    send_more(ex);
}

/* The whole body arrived: the connection goes to the next request (or closes), the rest to the client. */
static void body_complete(dom__upconn_t *c)
{
    dom__exchange_t *ex = c->ex;
    h2o_buffer_t *tmp = ex->rest;
    ex->rest = c->sock->input;
    c->sock->input = tmp;
    ex->upstream_done = 1;
    ex->state = EX_DONE;
    ++c->requests;
    if (ex->keepalive && ex->body.excess == 0 && !c->writing && !c->broken) {
        if (ex->paused)
            h2o_socket_read_start(c->sock, conn_on_read);
        ex->paused = 0;
        conn_release(c);
    } else {
        conn_close(c);
    }
    send_more(ex);
}

/* Decodes what came after the last decoded byte; streams it; stops reading while a slow client lags. */
static void on_body_bytes(dom__upconn_t *c)
{
    dom__exchange_t *ex = c->ex;
    h2o_buffer_t *in = c->sock->input;
    size_t fresh = in->size - ex->decoded;
    if (fresh != 0) {
        const char *why = NULL;
        ssize_t n = dom__resp_body_decode(&ex->body, in->bytes + ex->decoded, fresh, &why);
        if (n < 0) {
            in->size = ex->decoded;
            fail_body(c, "upstream_invalid");
            return;
        }
        in->size = ex->decoded + (size_t)n;
        ex->decoded = in->size;
    }
    if (ex->body.done) {
        body_complete(c);
        return;
    }
    timer_set(c, c->node->idle_timeout);
    send_more(ex);
    if (ex->conn != NULL && ex->conn->sock->input->size + ex->outbuf->size >= HIGH_WATER) {
        /* the client is slower than the node: its bytes wait in the kernel (and the node's window) */
        h2o_socket_read_stop(c->sock);
        timer_set(c, NULL);
        ex->paused = 1;
    }
}

static void strip_connection_named(h2o_req_t *req, const dom__resp_head_t *head);

/* The final head: into req->res (one copy of the head's bytes into the request's pool), then the body. */
static void on_final_head(dom__upconn_t *c, const dom__resp_head_t *head, size_t head_len)
{
    dom__exchange_t *ex = c->ex;
    h2o_req_t *req = ex->req;
    const char *base = c->sock->input->bytes;
    char *copy = h2o_mem_alloc_pool(&req->pool, head_len);
    memcpy(copy, base, head_len);
#define IN_COPY(ptr) (copy + ((const char *)(ptr)-base))
    req->res.status = head->status;
    if (head->reason != NULL) {
        char *reason = IN_COPY(head->reason);
        reason[head->reason_len] = '\0'; /* over its CR: h2o takes the reason as a C string */
        req->res.reason = reason;
    } else {
        req->res.reason = "";
    }
    req->res.content_length = head->content_length != UINT64_MAX ? (size_t)head->content_length : SIZE_MAX;
    for (size_t i = 0; i < head->n_headers; ++i) {
        const struct phr_header *src = &head->headers[i];
        char *name = IN_COPY(src->name), *value = IN_COPY(src->value);
        h2o_strtolower(name, src->name_len);
        const h2o_token_t *token = h2o_lookup_token(name, src->name_len);
        if (token != NULL) {
            /* hop-by-hop fields, Date (h2o sets its own), Server (h2o's), framing (h2o frames the body itself) */
            if (token->proxy_should_drop_for_res || token == H2O_TOKEN_CONTENT_LENGTH || token == H2O_TOKEN_SERVER ||
                token == H2O_TOKEN_X_COMPRESS_HINT)
                continue;
            if (token == H2O_TOKEN_LOCATION) {
                h2o_url_t loc;
                /* the node's own URL in a redirect becomes the gateway's, as the client addressed it */
                if (h2o_url_parse(value, src->value_len, &loc) == 0 && loc.scheme == c->node->url.scheme &&
                    h2o_url_hosts_are_equal(&loc, &c->node->url) &&
                    h2o_url_get_port(&loc) == h2o_url_get_port(&c->node->url)) {
                    h2o_iovec_t v = h2o_concat(&req->pool, req->input.scheme->name, h2o_iovec_init(H2O_STRLIT("://")),
                                               req->input.authority, loc.path);
                    h2o_add_header(&req->pool, &req->res.headers, token, NULL, v.base, v.len);
                    continue;
                }
            }
            h2o_add_header(&req->pool, &req->res.headers, token, NULL, value, src->value_len);
        } else {
            h2o_add_header_by_str(&req->pool, &req->res.headers, name, src->name_len, 0, NULL, value, src->value_len);
        }
    }
#undef IN_COPY
    strip_connection_named(req, head);
    h2o_buffer_consume(&c->sock->input, head_len);
    dom__resp_body_init(&ex->body, head);
    ex->keepalive = head->keepalive;
    ex->decoded = 0;
    ex->state = EX_BODY;
    ex->cbs->on_head(ex);
    h2o_start_response(req, &ex->generator);
    on_body_bytes(c);
}

/* RFC 9110 7.6.1: fields the node's Connection header names are hop-by-hop too. */
static void strip_connection_named(h2o_req_t *req, const dom__resp_head_t *head)
{
    for (size_t i = 0; i < head->n_headers; ++i) {
        const struct phr_header *h = &head->headers[i];
        if (h->name_len != 10 || !h2o_lcstris(h->name, 10, H2O_STRLIT("connection")))
            continue;
        size_t out = 0;
        for (size_t k = 0; k < req->res.headers.size; ++k) {
            const h2o_header_t *f = &req->res.headers.entries[k];
            if (dom__http_list_has(h->value, h->value_len, f->name->base, f->name->len))
                continue;
            req->res.headers.entries[out++] = *f;
        }
        req->res.headers.size = out;
    }
}

static void on_head_bytes(dom__upconn_t *c)
{
    dom__exchange_t *ex = c->ex;
    for (;;) {
        dom__resp_head_t head;
        const char *why = NULL;
        h2o_buffer_t *in = c->sock->input;
        int r = dom__resp_head_parse(in->bytes, in->size, method_is(ex->req, H2O_STRLIT("HEAD")), &head, &why);
        if (r == DOM__RESP_INCOMPLETE) {
            timer_set(c, c->node->idle_timeout); /* the first byte came: the rest of the head gets idle_timeout */
            return;
        }
        if (r < 0) {
            fail_before_head(c, "upstream_invalid");
            return;
        }
        if (!dom__resp_is_interim(head.status)) {
            on_final_head(c, &head, (size_t)r);
            return;
        }
        /* 100 Continue, 102, 103: h2o 2.2.5 cannot pass interim answers on; the final one follows */
        h2o_buffer_consume(&c->sock->input, (size_t)r);
        if (c->sock->input->size == 0) {
            timer_set(c, c->node->idle_timeout);
            return;
        }
    }
}

/* The node closed the connection, or it broke. */
static void on_upstream_closed(dom__upconn_t *c, const char *err)
{
    dom__exchange_t *ex = c->ex;
    if (ex->state == EX_SENT) {
        if (c->sock->input->size == 0 && c->requests != 0 && ex->resendable && !ex->resent) {
            /*
             * A kept-alive connection the node closed as the request went out, without a byte of answer:
             * the node closed it idle (its keep-alive timeout) and never read the request. A safe read goes
             * once more on a fresh connection (the place of the closed one); nothing else is sent again.
             */
            dom__node_t *node = c->node;
            conn_close(c);
            ex->resent = 1;
            DOM__COUNT(&metrics_of(node)->upstream_resent);
            conn_open(node, ex);
            return;
        }
        fail_before_head(c, "upstream_closed");
        return;
    }
    /* EX_BODY: only a clean close ends a close-delimited body */
    if (err == h2o_socket_error_closed && dom__resp_body_eof_ok(&ex->body)) {
        ex->keepalive = 0;
        body_complete(c);
        return;
    }
    fail_body(c, "upstream_incomplete");
}

static void conn_on_read(h2o_socket_t *sock, const char *err)
{
    dom__upconn_t *c = sock->data;
    if (c->ex == NULL) {
        /* idle: the node closed it, or sent bytes nobody asked for */
        conn_close(c);
        return;
    }
    if (err != NULL) {
        on_upstream_closed(c, err);
        return;
    }
    if (c->ex->state == EX_SENT)
        on_head_bytes(c);
    else
        on_body_bytes(c);
}

static void on_write_done(h2o_socket_t *sock, const char *err)
{
    dom__upconn_t *c = sock->data;
    c->writing = 0;
    if (err == NULL || c->ex == NULL)
        return;
    /* the node stopped reading: before its answer that is a failure; after it, the answer stands */
    c->broken = 1;
    if (c->ex->state == EX_SENT)
        on_upstream_closed(c, err);
}

static void on_conn_timeout(h2o_timeout_entry_t *entry)
{
    dom__upconn_t *c = H2O_STRUCT_FROM_MEMBER(dom__upconn_t, timer, entry);
    if (!c->ready)
        conn_unreachable(c, "connect timeout");
    else if (c->ex == NULL)
        conn_close(c); /* idle for keepalive_timeout */
    else if (c->ex->state == EX_SENT)
        fail_before_head(c, "upstream_timeout");
    else
        fail_body(c, "upstream_timeout");
}

/* ---- to the client ---- */

/* Hands the next body bytes to h2o (one send in flight at a time; the buffer is h2o's until proceed). */
static void send_more(dom__exchange_t *ex)
{
    if (ex->sending || ex->final_sent || ex->state < EX_BODY)
        return;
    h2o_buffer_t **src = ex->conn != NULL ? &ex->conn->sock->input : &ex->rest;
    if (ex->outbuf->size == 0 && (*src)->size != 0) {
        /* the connection's input buffer, whole: the connection reads on into the empty one */
        h2o_buffer_t *tmp = ex->outbuf;
        ex->outbuf = *src;
        *src = tmp;
        if (ex->conn != NULL)
            ex->decoded = 0;
    }
    size_t n = ex->outbuf->size < ex->req->preferred_chunk_size ? ex->outbuf->size : ex->req->preferred_chunk_size;
    int last = ex->upstream_done && ex->conn == NULL && ex->rest->size == 0 && n == ex->outbuf->size;
    if (!last && n == 0)
        return;
    h2o_iovec_t buf = h2o_iovec_init(ex->outbuf->bytes, n);
    ex->inflight = n;
    ex->sending = 1;
    ex->final_sent = last;
    h2o_send(ex->req, &buf, n != 0,
             !last             ? H2O_SEND_STATE_IN_PROGRESS
             : ex->body_failed ? H2O_SEND_STATE_ERROR
                               : H2O_SEND_STATE_FINAL);
}

static void on_proceed(h2o_generator_t *generator, h2o_req_t *req)
{
    dom__exchange_t *ex = H2O_STRUCT_FROM_MEMBER(dom__exchange_t, generator, generator);
    h2o_buffer_consume(&ex->outbuf, ex->inflight);
    ex->inflight = 0;
    ex->sending = 0;
    if (ex->paused && ex->conn != NULL && ex->conn->sock->input->size + ex->outbuf->size < HIGH_WATER / 2) {
        ex->paused = 0;
        h2o_socket_read_start(ex->conn->sock, conn_on_read);
        timer_set(ex->conn, ex->node->idle_timeout);
    }
    send_more(ex);
}

static void on_stop(h2o_generator_t *generator, h2o_req_t *req)
{
    dom__forward_dispose(H2O_STRUCT_FROM_MEMBER(dom__exchange_t, generator, generator));
}

/* ---- the exchange ---- */

static void on_wait_timeout(h2o_timeout_entry_t *entry)
{
    dom__exchange_t *ex = H2O_STRUCT_FROM_MEMBER(dom__exchange_t, wait_timer, entry);
    h2o_linklist_unlink(&ex->waiting);
    DOM__COUNT(&metrics_of(ex->node)->upstream_queue_timeouts);
    ex->state = EX_FAILED;
    ex->cbs->failed(ex, "node_busy", 0);
}

void dom__forward_start(dom__exchange_t *ex)
{
    dom__node_t *node = ex->node;
    if (ex->outbuf == NULL) {
        h2o_buffer_init(&ex->outbuf, &h2o_socket_buffer_prototype);
        h2o_buffer_init(&ex->rest, &h2o_socket_buffer_prototype);
        ex->generator.proceed = on_proceed;
        ex->generator.stop = on_stop;
    }
    if (!h2o_linklist_is_empty(&node->idle)) {
        dom__upconn_t *c = H2O_STRUCT_FROM_MEMBER(dom__upconn_t, idle, node->idle.next);
        h2o_linklist_unlink(&c->idle);
        attach(c, ex);
        send_request(c);
        return;
    }
    if (node->n_conns < node->max_conns) {
        conn_open(node, ex);
        return;
    }
    DOM__COUNT(&metrics_of(node)->upstream_queued);
    ex->state = EX_WAITING;
    h2o_linklist_insert(&node->waiting, &ex->waiting);
    ex->wait_timer.cb = on_wait_timeout;
    h2o_timeout_link(loop_of(node), node->queue_timeout, &ex->wait_timer);
}

void dom__forward_dispose(dom__exchange_t *ex)
{
    if (ex->outbuf == NULL)
        return;
    if (h2o_linklist_is_linked(&ex->waiting))
        h2o_linklist_unlink(&ex->waiting);
    if (h2o_timeout_is_linked(&ex->wait_timer))
        h2o_timeout_unlink(&ex->wait_timer);
    dom__upconn_t *c = ex->conn;
    if (c != NULL) {
        detach(c);
        /* still opening: it finishes and serves the next request; otherwise it holds half an exchange */
        if (c->ready)
            conn_close(c);
    }
    h2o_buffer_dispose(&ex->outbuf);
    h2o_buffer_dispose(&ex->rest);
    ex->outbuf = ex->rest = NULL;
    ex->state = EX_FAILED;
}

/*
 * A node's answer, read the way RFC 9112 says a recipient must: where the head ends, how the body
 * is framed, whether the connection may carry another request. The upstream client (forward.c) relies
 * on one promise from here: a body is complete only when its framing says so, so a node that closes
 * early, in either framing, is seen as the error it is.
 */
#include "gateway/http1resp.h"
#include <string.h>

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int name_is(const struct phr_header *h, const char *lit, size_t len)
{
    if (h->name_len != len)
        return 0;
    for (size_t i = 0; i < len; ++i)
        if (lower((unsigned char)h->name[i]) != lit[i])
            return 0;
    return 1;
}

int dom__http_list_has(const char *value, size_t len, const char *token, size_t token_len)
{
    size_t i = 0;
    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
            ++i;
        size_t start = i;
        while (i < len && value[i] != ',')
            ++i;
        size_t end = i;
        while (end > start && (value[end - 1] == ' ' || value[end - 1] == '\t'))
            --end;
        if (end - start == token_len) {
            size_t k = 0;
            while (k < token_len && lower((unsigned char)value[start + k]) == lower((unsigned char)token[k]))
                ++k;
            if (k == token_len)
                return 1;
        }
    }
    return 0;
}

/* 1*DIGIT and nothing else; no sign, no list, no overflow */
static int parse_length(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    if (len == 0 || len > 19)
        return -1;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return 0;
}

int dom__resp_head_parse(const char *buf, size_t len, int request_is_head, dom__resp_head_t *out, const char **why)
{
    out->n_headers = DOM__RESP_MAX_HEADERS;
    int ret = phr_parse_response(buf, len, &out->minor_version, &out->status, &out->reason, &out->reason_len,
                                 out->headers, &out->n_headers, 0);
    if (ret == -2) {
        if (len >= DOM__RESP_MAX_HEAD) {
            *why = "response head too large";
            return DOM__RESP_INVALID;
        }
        return DOM__RESP_INCOMPLETE;
    }
    if (ret < 0) {
        *why = "malformed response head";
        return DOM__RESP_INVALID;
    }
    if (out->status < 100 || out->status > 599) {
        *why = "response status outside 100-599";
        return DOM__RESP_INVALID;
    }
    if (out->status == 101) {
        *why = "101 Switching Protocols was not asked for";
        return DOM__RESP_INVALID;
    }
    int chunked = 0, has_length = 0, close = 0, keep_alive = 0;
    uint64_t length = UINT64_MAX;
    for (size_t i = 0; i < out->n_headers; ++i) {
        const struct phr_header *h = &out->headers[i];
        if (h->name == NULL) {
            /* RFC 9112 5.2: a proxy must reject obs-fold in a response or replace it; rejecting is simpler */
            *why = "folded header field";
            return DOM__RESP_INVALID;
        }
        if (name_is(h, "connection", 10)) {
            close |= dom__http_list_has(h->value, h->value_len, "close", 5);
            keep_alive |= dom__http_list_has(h->value, h->value_len, "keep-alive", 10);
        } else if (name_is(h, "transfer-encoding", 17)) {
            /* chunked is the only coding the gateway can remove; anything else cannot be passed on as HTTP/2 */
            if (chunked || h->value_len != 7 || !dom__http_list_has(h->value, h->value_len, "chunked", 7)) {
                *why = "transfer coding other than chunked";
                return DOM__RESP_INVALID;
            }
            chunked = 1;
        } else if (name_is(h, "content-length", 14)) {
            uint64_t v;
            if (parse_length(h->value, h->value_len, &v) != 0 || (has_length && v != length)) {
                *why = "invalid or conflicting Content-Length";
                return DOM__RESP_INVALID;
            }
            has_length = 1;
            length = v;
        }
    }
    /* HTTP/1.0 closes unless it says keep-alive; HTTP/1.1 keeps alive unless it says close */
    out->keepalive = !close && (out->minor_version >= 1 || keep_alive);
    out->content_length = chunked ? UINT64_MAX : length;
    if (request_is_head || dom__resp_is_interim(out->status) || out->status == 204 || out->status == 304) {
        out->framing = DOM__BODY_NONE;
        if (out->status == 204)
            out->content_length = UINT64_MAX;
    } else if (chunked) {
        out->framing = DOM__BODY_CHUNKED;
        /* both framings: a smuggling attempt or a broken node (RFC 9112 6.3): chunked wins, never reuse */
        if (has_length)
            out->keepalive = 0;
    } else if (has_length) {
        out->framing = DOM__BODY_LENGTH;
    } else {
        out->framing = DOM__BODY_CLOSE;
        out->keepalive = 0;
    }
    return ret;
}

void dom__resp_body_init(dom__resp_body_t *b, const dom__resp_head_t *head)
{
    memset(b, 0, sizeof(*b));
    b->framing = head->framing;
    b->left = head->framing == DOM__BODY_LENGTH ? head->content_length : 0;
    b->chunked.consume_trailer = 1;
    b->done = head->framing == DOM__BODY_NONE || (head->framing == DOM__BODY_LENGTH && b->left == 0);
}

ssize_t dom__resp_body_decode(dom__resp_body_t *b, char *buf, size_t len, const char **why)
{
    if (b->done) {
        b->excess += len;
        return 0;
    }
    switch (b->framing) {
    case DOM__BODY_LENGTH:
        if (len >= b->left) {
            b->excess += len - (size_t)b->left;
            len = (size_t)b->left;
            b->left = 0;
            b->done = 1;
        } else {
            b->left -= len;
        }
        return (ssize_t)len;
    case DOM__BODY_CHUNKED: {
        size_t n = len;
        ssize_t r = phr_decode_chunked(&b->chunked, buf, &n);
        if (r == -1) {
            *why = "malformed chunked body";
            return -1;
        }
        if (r >= 0) {
            b->done = 1;
            b->excess += (size_t)r;
        }
        return (ssize_t)n;
    }
    case DOM__BODY_CLOSE:
        return (ssize_t)len;
    case DOM__BODY_NONE:
        break;
    }
    b->excess += len;
    return 0;
}

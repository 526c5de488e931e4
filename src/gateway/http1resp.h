/*
 * A node's HTTP/1.1 answer as the upstream client (forward.c) reads it: the head and how its body is
 * framed (RFC 9112 section 6), and the body decoder. Pure functions over bytes, no libh2o objects:
 * the fuzzer (tests/fuzz/fuzz_upstream_response.c) drives exactly what the gateway runs.
 */
#ifndef DOM_GATEWAY_HTTP1RESP_H
#define DOM_GATEWAY_HTTP1RESP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "gateway/phr.h"

/** Header fields a node's answer may carry (more is an invalid answer). */
#define DOM__RESP_MAX_HEADERS 100
/** Longest head the gateway waits for (status line and header fields). */
#define DOM__RESP_MAX_HEAD (64 * 1024)

enum {
    DOM__RESP_INVALID = -1,    /* not an HTTP/1.x answer the gateway can pass on */
    DOM__RESP_INCOMPLETE = -2, /* the head is not complete yet */
};

/** How the body ends (RFC 9112 6.3). */
typedef enum dom__body_framing {
    DOM__BODY_NONE,    /* no body: HEAD, 1xx, 204, 304 */
    DOM__BODY_LENGTH,  /* Content-Length bytes */
    DOM__BODY_CHUNKED, /* Transfer-Encoding: chunked (trailers are read and dropped) */
    DOM__BODY_CLOSE,   /* until the node closes the connection */
} dom__body_framing_t;

/** A parsed head. Pointers point into the parsed buffer. */
typedef struct dom__resp_head {
    int minor_version; /* HTTP/1.x */
    int status;
    const char *reason;
    size_t reason_len;
    struct phr_header headers[DOM__RESP_MAX_HEADERS];
    size_t n_headers;
    dom__body_framing_t framing;
    uint64_t content_length; /* the Content-Length field (also for HEAD and 304), UINT64_MAX if none or chunked */
    int keepalive;           /* the connection may carry another request after this answer */
} dom__resp_head_t;

/**
 * Parses the head at buf[0..len). Returns its length (> 0), DOM__RESP_INCOMPLETE, or DOM__RESP_INVALID
 * with *why set (a malformed head, more than DOM__RESP_MAX_HEADERS fields, a folded field, a status
 * outside 100-599, 101 (never asked for), a transfer coding other than chunked, a bad or conflicting
 * Content-Length). An interim answer (1xx) parses like a final one: the caller drops it and parses
 * again after it. request_is_head: the request was HEAD (no body, whatever the fields say).
 */
int dom__resp_head_parse(const char *buf, size_t len, int request_is_head, dom__resp_head_t *out, const char **why);

/** 1 when status is an interim answer the client never sees (1xx; h2o 2.2.5 cannot pass them on). */
static inline int dom__resp_is_interim(int status)
{
    return status >= 100 && status < 200;
}

/** The body decoder of one answer. */
typedef struct dom__resp_body {
    dom__body_framing_t framing;
    uint64_t left; /* DOM__BODY_LENGTH: bytes still to come */
    struct phr_chunked_decoder chunked;
    int done;      /* the body is complete */
    size_t excess; /* bytes that came after the body's end (dropped; the connection is not reused) */
} dom__resp_body_t;

/** Starts decoding the body of a final head. */
void dom__resp_body_init(dom__resp_body_t *b, const dom__resp_head_t *head);

/**
 * Decodes len newly received bytes at buf in place: returns how many body bytes are now at buf
 * (at most len; chunk framing removed, bytes after the end dropped and counted in excess), or -1
 * when the chunked framing is malformed (*why). Sets done when the body is complete.
 */
ssize_t dom__resp_body_decode(dom__resp_body_t *b, char *buf, size_t len, const char **why);

/** The node closed the connection: 1 if that ends the body properly (done, or close-delimited), 0 if it is cut short.
 */
static inline int dom__resp_body_eof_ok(const dom__resp_body_t *b)
{
    return b->done || b->framing == DOM__BODY_CLOSE;
}

/** Whether the comma-separated field value holds token (case-insensitive), e.g. "close" in Connection. */
int dom__http_list_has(const char *value, size_t len, const char *token, size_t token_len);

#endif

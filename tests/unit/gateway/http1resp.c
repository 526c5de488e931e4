/* tests src/gateway/http1resp.c: a node's answer, its framing (RFC 9112 6.3) and the body decoder. */
#include "gateway/http1resp.c"
#include <stdlib.h>
#include "test.h"

static int parse(const char *s, int is_head, dom__resp_head_t *h)
{
    const char *why = NULL;
    int r = dom__resp_head_parse(s, strlen(s), is_head, h, &why);
    if (r == DOM__RESP_INVALID)
        ok(why != NULL);
    return r;
}

static void test_framing(void)
{
    dom__resp_head_t h;
    const char *cl = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    is_int(parse(cl, 0, &h), (int)strlen(cl) - 5);
    is_int(h.status, 200);
    is_int(h.framing, DOM__BODY_LENGTH);
    is_int(h.content_length, 5);
    ok(h.keepalive);
    is_int(h.reason_len, 2);

    is_int(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, &h) > 0, 1);
    is_int(h.framing, DOM__BODY_CHUNKED);
    ok(h.content_length == UINT64_MAX);
    is_int(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\nContent-Length: 3\r\n\r\n", 0, &h) > 0, 1);
    is_int(h.framing, DOM__BODY_CHUNKED); /* chunked wins, and the connection is not trusted again */
    ok(!h.keepalive);

    is_int(parse("HTTP/1.1 200 OK\r\nX: y\r\n\r\n", 0, &h) > 0, 1);
    is_int(h.framing, DOM__BODY_CLOSE);
    ok(!h.keepalive);
    is_int(parse("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", 0, &h) > 0, 1);
    ok(!h.keepalive);
    is_int(parse("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\n", 0, &h) > 0, 1);
    ok(h.keepalive);
    is_int(parse("HTTP/1.1 200 OK\r\nConnection: foo, close\r\nContent-Length: 1\r\n\r\n", 0, &h) > 0, 1);
    ok(!h.keepalive);

    /* no body whatever the fields say: HEAD, 204, 304, 1xx; 304 and HEAD keep the length */
    is_int(parse("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 1, &h) > 0, 1);
    is_int(h.framing, DOM__BODY_NONE);
    is_int(h.content_length, 9);
    is_int(parse("HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n", 0, &h) > 0, 1);
    is_int(h.framing, DOM__BODY_NONE);
    ok(h.content_length == UINT64_MAX);
    is_int(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", 0, &h) > 0, 1);
    is_int(h.framing, DOM__BODY_NONE);
    is_int(h.content_length, 9);
    is_int(parse("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 0, &h) > 0, 1);
    ok(dom__resp_is_interim(h.status));
    is_int(h.framing, DOM__BODY_NONE);
    is_int(parse("HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", 0, &h) > 0, 1); /* an empty reason phrase */
    is_int(h.reason_len, 0);
}

static void test_invalid(void)
{
    dom__resp_head_t h;
    is_int(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n", 0, &h), DOM__RESP_INCOMPLETE);
    is_int(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 0, &h), DOM__RESP_INVALID);
    is_int(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 0, &h) > 0, 1);
    is_int(parse("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, &h), DOM__RESP_INVALID);
    is_int(parse("HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n", 0, &h), DOM__RESP_INVALID);
    is_int(parse("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n", 0, &h), DOM__RESP_INVALID);
    is_int(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 0, &h), DOM__RESP_INVALID);
    is_int(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 0, &h),
           DOM__RESP_INVALID);
    is_int(parse("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n", 0, &h), DOM__RESP_INVALID);
    is_int(parse("HTTP/1.1 099 Odd\r\n\r\n", 0, &h), DOM__RESP_INVALID);
    is_int(parse("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", 0, &h), DOM__RESP_INVALID); /* obs-fold */
    is_int(parse("HTTP/1.1 200 OK\r\n\0\r\n\r\n", 0, &h), DOM__RESP_INCOMPLETE);      /* strlen stops at the NUL */
    is_int(parse("garbage\r\n\r\n", 0, &h), DOM__RESP_INVALID);

    /* more fields than the gateway takes */
    size_t cap = 64 * 1024;
    char *big = malloc(cap);
    size_t off = (size_t)snprintf(big, cap, "HTTP/1.1 200 OK\r\n");
    for (int i = 0; i <= DOM__RESP_MAX_HEADERS; ++i)
        off += (size_t)snprintf(big + off, cap - off, "X-%d: v\r\n", i);
    snprintf(big + off, cap - off, "\r\n");
    is_int(parse(big, 0, &h), DOM__RESP_INVALID);
    /* a head that never ends is refused at DOM__RESP_MAX_HEAD */
    memset(big, 'a', cap);
    memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
    const char *why = NULL;
    is_int(dom__resp_head_parse(big, cap, 0, &h, &why), DOM__RESP_INVALID);
    free(big);
}

/* Feeds `body` to a decoder in pieces of `step` bytes (the decoder rewrites each piece in place). */
static int decode_all(const dom__resp_head_t *h, const char *body, size_t len, size_t step, char *out, size_t *out_len,
                      dom__resp_body_t *b)
{
    dom__resp_body_init(b, h);
    *out_len = 0;
    char piece[64];
    for (size_t off = 0; off < len; off += step) {
        size_t n = len - off < step ? len - off : step;
        memcpy(piece, body + off, n);
        const char *why = NULL;
        ssize_t got = dom__resp_body_decode(b, piece, n, &why);
        if (got < 0)
            return -1;
        memcpy(out + *out_len, piece, (size_t)got);
        *out_len += (size_t)got;
    }
    return 0;
}

static void test_body(void)
{
    dom__resp_head_t h;
    dom__resp_body_t b;
    char out[256];
    size_t n;
    parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 0, &h);
    const char *chunked = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
    for (size_t step = 1; step <= 20; ++step) {
        ok(decode_all(&h, chunked, strlen(chunked), step, out, &n, &b) == 0 && b.done && b.excess == 0 && n == 11 &&
           memcmp(out, "hello world", 11) == 0);
    }
    /* cut after a whole chunk: never done, and a close then is not a proper end */
    const char *cut = "5\r\nhello\r\n";
    ok(decode_all(&h, cut, strlen(cut), 3, out, &n, &b) == 0 && !b.done && n == 5);
    ok(!dom__resp_body_eof_ok(&b));
    const char *bad = "5\r\nhelloXX\r\n";
    ok(decode_all(&h, bad, strlen(bad), 4, out, &n, &b) == -1);
    const char *extra = "1\r\na\r\n0\r\n\r\nHTTP/1.1 200";
    ok(decode_all(&h, extra, strlen(extra), 7, out, &n, &b) == 0 && b.done && b.excess == 12 && n == 1);

    parse("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", 0, &h);
    ok(decode_all(&h, "abcdef", 6, 3, out, &n, &b) == 0 && b.done && n == 4 && b.excess == 2);
    ok(decode_all(&h, "abc", 3, 2, out, &n, &b) == 0 && !b.done && !dom__resp_body_eof_ok(&b));
    parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, &h);
    dom__resp_body_init(&b, &h);
    ok(b.done);

    parse("HTTP/1.1 200 OK\r\n\r\n", 0, &h); /* until close: the close is the end */
    ok(decode_all(&h, "abc", 3, 2, out, &n, &b) == 0 && !b.done && n == 3 && dom__resp_body_eof_ok(&b));
    parse("HTTP/1.1 204 No Content\r\n\r\n", 0, &h);
    ok(decode_all(&h, "junk", 4, 4, out, &n, &b) == 0 && b.done && n == 0 && b.excess == 4);
}

static void test_list(void)
{
    ok(dom__http_list_has("keep-alive, Close", 17, "close", 5));
    ok(dom__http_list_has(" x-secret ", 10, "X-Secret", 8));
    ok(!dom__http_list_has("closed", 6, "close", 5));
    ok(!dom__http_list_has("", 0, "close", 5));
    ok(dom__http_list_has(",,close,,", 9, "close", 5));
}

int main(void)
{
    subtest("framing", test_framing);
    subtest("invalid answers", test_invalid);
    subtest("body decoder", test_body);
    subtest("field lists", test_list);
    return done_testing();
}

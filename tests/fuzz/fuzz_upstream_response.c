/*
 * Fuzzes a node's answer as the upstream client reads it (src/gateway/http1resp.c over
 * picohttpparser; src/gateway/forward.c drives the same calls): heads, interim 1xx heads, then the
 * body in the framing the final head says. The first input byte chooses a HEAD request and how the
 * body is cut into reads. Besides "no crash, no UB", it checks what forward.c relies on:
 *   - a head's length is within the input, and "incomplete" is only said below DOM__RESP_MAX_HEAD;
 *   - framing follows the status and the request (no body for HEAD, 1xx, 204, 304), and a
 *     close-delimited body never allows the connection to be reused;
 *   - the decoder never produces more bytes than it was given, a Content-Length body never more
 *     than its length, and bytes after the end are counted as excess, not passed on;
 *   - the body decodes to the same bytes, with the same end and the same excess, whether it
 *     arrives in one read or in many (split invariance): where a read ends never changes what the
 *     client gets, nor whether a cut body is seen as cut.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "gateway/http1resp.h"

struct decoded {
    char *out;
    size_t len;
    int failed, done;
    size_t excess;
};

/* Decodes body[0..n) in reads of the sizes the seed gives (0: one read). */
static void decode(const dom__resp_head_t *h, const uint8_t *body, size_t n, unsigned seed, struct decoded *d)
{
    dom__resp_body_t b;
    dom__resp_body_init(&b, h);
    d->out = malloc(n ? n : 1);
    d->len = 0;
    d->failed = 0;
    if (d->out == NULL)
        abort();
    for (size_t off = 0; off < n && !d->failed;) {
        size_t step = seed == 0 ? n - off : 1 + (seed * 2654435761u + off) % 97;
        if (step > n - off)
            step = n - off;
        /* exactly the read on the heap: ASan sees a decoder that reads past it */
        char *piece = malloc(step);
        if (piece == NULL)
            abort();
        memcpy(piece, body + off, step);
        const char *why = NULL;
        ssize_t got = dom__resp_body_decode(&b, piece, step, &why);
        if (got < 0) {
            if (why == NULL)
                abort();
            d->failed = 1;
        } else {
            if ((size_t)got > step)
                abort();
            memcpy(d->out + d->len, piece, (size_t)got);
            d->len += (size_t)got;
        }
        free(piece);
        off += step;
    }
    d->done = b.done;
    d->excess = b.excess;
    if (h->framing == DOM__BODY_LENGTH && !d->failed && d->len > h->content_length)
        abort();
    if (h->framing == DOM__BODY_NONE && (d->len != 0 || !d->done))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int is_head = data[0] & 1;
    unsigned seed = data[0] >> 1;
    size_t len = size - 1;
    char *buf = malloc(len ? len : 1);
    if (buf == NULL)
        abort();
    memcpy(buf, data + 1, len);

    size_t off = 0;
    dom__resp_head_t h;
    for (;;) {
        const char *why = NULL;
        int r = dom__resp_head_parse(buf + off, len - off, is_head, &h, &why);
        if (r == DOM__RESP_INCOMPLETE) {
            if (len - off >= DOM__RESP_MAX_HEAD)
                abort();
            goto out;
        }
        if (r < 0) {
            if (r != DOM__RESP_INVALID || why == NULL)
                abort();
            goto out;
        }
        if ((size_t)r > len - off || h.n_headers > DOM__RESP_MAX_HEADERS || h.status < 100 || h.status > 599 ||
            h.status == 101)
            abort();
        for (size_t i = 0; i < h.n_headers; ++i)
            if (h.headers[i].name == NULL || h.headers[i].name < buf + off ||
                h.headers[i].value + h.headers[i].value_len > buf + off + r)
                abort();
        int no_body = is_head || (h.status >= 100 && h.status < 200) || h.status == 204 || h.status == 304;
        if (no_body != (h.framing == DOM__BODY_NONE))
            abort();
        if (h.framing == DOM__BODY_CLOSE && h.keepalive)
            abort();
        off += (size_t)r;
        if (!dom__resp_is_interim(h.status))
            break;
    }

    struct decoded whole, pieces;
    decode(&h, (const uint8_t *)buf + off, len - off, 0, &whole);
    decode(&h, (const uint8_t *)buf + off, len - off, seed | 1, &pieces);
    if (whole.failed != pieces.failed)
        abort();
    if (!whole.failed && (whole.len != pieces.len || memcmp(whole.out, pieces.out, whole.len) != 0 ||
                          whole.done != pieces.done || whole.excess != pieces.excess))
        abort();
    free(whole.out);
    free(pieces.out);
out:
    free(buf);
    return 0;
}

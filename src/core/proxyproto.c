/*
 * The PROXY protocol header, v1 and v2 (see include/domicile/proxyproto.h and HAProxy's
 * doc/proxy-protocol.txt). Every check is made as soon as the bytes it needs have arrived, so a
 * connection that does not start with a header is refused on its first bytes (a TLS ClientHello
 * starts with 0x16, an HTTP request with a method), not after a timeout.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include "domicile/proxyproto.h"

static const uint8_t V1_PREFIX[6] = {'P', 'R', 'O', 'X', 'Y', ' '};
static const uint8_t V2_SIGNATURE[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

#define V2_CMD_LOCAL 0x0
#define V2_CMD_PROXY 0x1
#define V2_TCP4 0x11
#define V2_TCP6 0x21
#define V2_TCP4_BLOCK 12 /* src, dst (4 each), src port, dst port */
#define V2_TCP6_BLOCK 36 /* src, dst (16 each), ports */

static int refuse(dom_proxyproto_reason_t r, const char *msg, dom_proxyproto_reason_t *reason, const char **why)
{
    if (reason != NULL)
        *reason = r;
    if (why != NULL)
        *why = msg;
    return DOM_EINVAL;
}

#define REFUSE(r, msg) refuse((r), (msg), reason, why)

/* ---- v1 ---- */

/* "0".."65535", no sign, no leading zero. */
static int v1_port(const char *s, size_t len, uint16_t *out)
{
    unsigned v = 0;
    if (len == 0 || len > 5 || (len > 1 && s[0] == '0'))
        return -1;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -1;
    *out = (uint16_t)v;
    return 0;
}

/* An address in exactly the family the line names (inet_pton: no leading zeros, no scope ids). */
static int v1_addr(const char *s, size_t len, int family, dom_addr_t *out)
{
    char text[INET6_ADDRSTRLEN];
    uint8_t bytes[16];
    if (len == 0 || len >= sizeof(text))
        return -1;
    memcpy(text, s, len);
    text[len] = '\0';
    if (inet_pton(family, text, bytes) != 1)
        return -1;
    if (family == AF_INET) {
        struct sockaddr_in sin = {.sin_family = AF_INET};
        memcpy(&sin.sin_addr, bytes, 4);
        return dom_addr_from_sockaddr((const struct sockaddr *)&sin, out) == 0 ? 0 : -1;
    }
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
    memcpy(&sin6.sin6_addr, bytes, 16);
    return dom_addr_from_sockaddr((const struct sockaddr *)&sin6, out) == 0 ? 0 : -1;
}

/* Splits the fields after "PROXY TCPx " on single spaces: exactly four, none empty. */
static int v1_fields(const char *p, const char *end, const char *f[4], size_t flen[4])
{
    for (int i = 0; i < 4; ++i) {
        const char *sp = i < 3 ? memchr(p, ' ', (size_t)(end - p)) : NULL;
        const char *fe = i < 3 ? sp : end;
        if (fe == NULL || fe == p)
            return -1;
        if (i == 3 && memchr(p, ' ', (size_t)(end - p)) != NULL)
            return -1;
        f[i] = p;
        flen[i] = (size_t)(fe - p);
        p = fe + 1;
    }
    return 0;
}

static int parse_v1(const uint8_t *buf, size_t len, dom_proxyproto_t *out, dom_proxyproto_reason_t *reason,
                    const char **why)
{
    static const char *const protos[] = {"TCP4 ", "TCP6 ", "UNKNOWN"};
    size_t avail = len < DOM_PROXYPROTO_V1_MAX ? len : DOM_PROXYPROTO_V1_MAX;

    /* the protocol token, as far as it has arrived */
    size_t have = avail - sizeof(V1_PREFIX);
    int proto = -1;
    for (int i = 0; i < 3 && proto < 0; ++i) {
        size_t n = strlen(protos[i]);
        if (memcmp(buf + sizeof(V1_PREFIX), protos[i], have < n ? have : n) == 0)
            proto = i;
    }
    if (proto < 0)
        return REFUSE(DOM_PROXYPROTO_MALFORMED, "PROXY v1: protocol is not TCP4, TCP6 or UNKNOWN");

    /* printable bytes up to CRLF, within 107 bytes */
    size_t eol = 0;
    for (size_t i = sizeof(V1_PREFIX); i < avail && eol == 0; ++i) {
        if (buf[i] == '\r') {
            if (i + 1 < avail && buf[i + 1] != '\n')
                return REFUSE(DOM_PROXYPROTO_MALFORMED, "PROXY v1: CR not followed by LF");
            if (i + 1 < avail)
                eol = i;
            else if (i + 1 >= DOM_PROXYPROTO_V1_MAX)
                return REFUSE(DOM_PROXYPROTO_TOO_LONG, "PROXY v1: line longer than 107 bytes");
            else
                return 0;
        } else if (buf[i] < 0x20 || buf[i] > 0x7e) {
            return REFUSE(DOM_PROXYPROTO_MALFORMED, "PROXY v1: byte outside printable ASCII before CRLF");
        }
    }
    if (eol == 0) {
        if (avail >= DOM_PROXYPROTO_V1_MAX)
            return REFUSE(DOM_PROXYPROTO_TOO_LONG, "PROXY v1: no CRLF within 107 bytes");
        return 0;
    }

    const char *line = (const char *)buf, *end = line + eol;
    dom_proxyproto_t h;
    memset(&h, 0, sizeof(h));
    h.version = 1;
    h.length = eol + 2;
    if (proto == 2) {
        /* "PROXY UNKNOWN" then CRLF, or a space and anything (the specification: ignore it) */
        const char *rest = line + sizeof(V1_PREFIX) + 7;
        if (rest != end && *rest != ' ')
            return REFUSE(DOM_PROXYPROTO_MALFORMED, "PROXY v1: protocol is not TCP4, TCP6 or UNKNOWN");
        h.local = 1;
    } else {
        int family = proto == 0 ? AF_INET : AF_INET6;
        const char *f[4];
        size_t flen[4];
        if (v1_fields(line + sizeof(V1_PREFIX) + 5, end, f, flen) != 0)
            return REFUSE(DOM_PROXYPROTO_MALFORMED, "PROXY v1: needs exactly source, destination and two ports");
        if (v1_addr(f[0], flen[0], family, &h.src) != 0 || v1_addr(f[1], flen[1], family, &h.dst) != 0)
            return REFUSE(DOM_PROXYPROTO_MALFORMED, "PROXY v1: address is not of the named family");
        if (v1_port(f[2], flen[2], &h.src_port) != 0 || v1_port(f[3], flen[3], &h.dst_port) != 0)
            return REFUSE(DOM_PROXYPROTO_MALFORMED, "PROXY v1: port is not a number from 0 to 65535");
    }
    if (out != NULL)
        *out = h;
    return (int)h.length;
}

/* ---- v2 ---- */

static void v2_addr(const uint8_t *p, int family, dom_addr_t *out)
{
    if (family == AF_INET) {
        struct sockaddr_in sin = {.sin_family = AF_INET};
        memcpy(&sin.sin_addr, p, 4);
        dom_addr_from_sockaddr((const struct sockaddr *)&sin, out);
    } else {
        struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6};
        memcpy(&sin6.sin6_addr, p, 16);
        dom_addr_from_sockaddr((const struct sockaddr *)&sin6, out);
    }
}

static int parse_v2(const uint8_t *buf, size_t len, dom_proxyproto_t *out, dom_proxyproto_reason_t *reason,
                    const char **why)
{
    if (len <= 12)
        return 0;
    unsigned version = buf[12] >> 4, command = buf[12] & 0x0f;
    if (version != 2)
        return REFUSE(DOM_PROXYPROTO_MALFORMED, "PROXY v2: version is not 2");
    if (command != V2_CMD_LOCAL && command != V2_CMD_PROXY)
        return REFUSE(DOM_PROXYPROTO_MALFORMED, "PROXY v2: command is neither LOCAL nor PROXY");
    if (len <= 13)
        return 0;
    unsigned family = buf[13];
    if (command == V2_CMD_PROXY && family != V2_TCP4 && family != V2_TCP6)
        return REFUSE(DOM_PROXYPROTO_UNSUPPORTED, "PROXY v2: not TCP over IPv4 or IPv6");
    if (len < 16)
        return 0;
    size_t payload = ((size_t)buf[14] << 8) | buf[15];
    if (payload > DOM_PROXYPROTO_V2_MAX_PAYLOAD)
        return REFUSE(DOM_PROXYPROTO_TOO_LONG, "PROXY v2: header longer than 16 + 1024 bytes");
    if (len < 16 + payload)
        return 0;

    dom_proxyproto_t h;
    memset(&h, 0, sizeof(h));
    h.version = 2;
    h.length = 16 + payload;
    if (command == V2_CMD_LOCAL) {
        /* the specification: the receiver uses the real endpoints and discards the whole block */
        h.local = 1;
    } else {
        const uint8_t *p = buf + 16, *end = p + payload;
        size_t block = family == V2_TCP4 ? V2_TCP4_BLOCK : V2_TCP6_BLOCK, alen = block == V2_TCP4_BLOCK ? 4 : 16;
        int af = family == V2_TCP4 ? AF_INET : AF_INET6;
        if (payload < block)
            return REFUSE(DOM_PROXYPROTO_MALFORMED, "PROXY v2: address block shorter than its family needs");
        v2_addr(p, af, &h.src);
        v2_addr(p + alen, af, &h.dst);
        h.src_port = (uint16_t)((p[2 * alen] << 8) | p[2 * alen + 1]);
        h.dst_port = (uint16_t)((p[2 * alen + 2] << 8) | p[2 * alen + 3]);
        /* TLVs (ALPN, authority, CRC32C, AWS VPC endpoint id, NOOP ...): checked to tile the rest, then skipped */
        for (p += block; p < end; ++h.n_tlvs) {
            if (end - p < 3)
                return REFUSE(DOM_PROXYPROTO_BAD_TLV, "PROXY v2: truncated TLV");
            size_t tlen = ((size_t)p[1] << 8) | p[2];
            if (tlen > (size_t)(end - p) - 3)
                return REFUSE(DOM_PROXYPROTO_BAD_TLV, "PROXY v2: TLV length runs past the header");
            p += 3 + tlen;
        }
    }
    if (out != NULL)
        *out = h;
    return (int)h.length;
}

int dom_proxyproto_parse(const void *data, size_t len, dom_proxyproto_t *out, dom_proxyproto_reason_t *reason,
                         const char **why)
{
    const uint8_t *buf = data;
    if (reason != NULL)
        *reason = DOM_PROXYPROTO_OK;
    if (why != NULL)
        *why = NULL;
    if (len == 0)
        return 0;
    if (buf[0] == V1_PREFIX[0]) {
        if (memcmp(buf, V1_PREFIX, len < sizeof(V1_PREFIX) ? len : sizeof(V1_PREFIX)) != 0)
            return REFUSE(DOM_PROXYPROTO_NO_HEADER, "no PROXY header (v1 \"PROXY \" or the v2 signature)");
        if (len <= sizeof(V1_PREFIX))
            return 0;
        return parse_v1(buf, len, out, reason, why);
    }
    if (memcmp(buf, V2_SIGNATURE, len < sizeof(V2_SIGNATURE) ? len : sizeof(V2_SIGNATURE)) != 0)
        return REFUSE(DOM_PROXYPROTO_NO_HEADER, "no PROXY header (v1 \"PROXY \" or the v2 signature)");
    return parse_v2(buf, len, out, reason, why);
}

const char *dom_proxyproto_reason_name(dom_proxyproto_reason_t reason)
{
    switch (reason) {
    case DOM_PROXYPROTO_OK:
        return "ok";
    case DOM_PROXYPROTO_NO_HEADER:
        return "no_header";
    case DOM_PROXYPROTO_MALFORMED:
        return "malformed";
    case DOM_PROXYPROTO_TOO_LONG:
        return "too_long";
    case DOM_PROXYPROTO_UNSUPPORTED:
        return "unsupported";
    case DOM_PROXYPROTO_BAD_TLV:
        return "bad_tlv";
    default:
        return "unknown";
    }
}

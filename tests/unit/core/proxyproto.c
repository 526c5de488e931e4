/*
 * Tests src/core/proxyproto.c: PROXY protocol v1 and v2 headers as HAProxy and cloud load
 * balancers send them, fed whole and byte by byte (every proper prefix must say "need more"),
 * and every kind of bad header refused with its reason.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domicile/proxyproto.h"
#include "test.h"

static const uint8_t SIG[12] = {'\r', '\n', '\r', '\n', '\0', '\r', '\n', 'Q', 'U', 'I', 'T', '\n'};

static const char *fmt(const dom_addr_t *addr)
{
    static char bufs[4][64];
    static int next;
    char *buf = bufs[next++ % 4];
    if (dom_addr_format(addr, buf, 64) != 0)
        strcpy(buf, "(unformattable)");
    return buf;
}

/* Every proper prefix of a valid header needs more bytes; the whole returns its length, with or without a tail. */
static int parse_all_ways(const uint8_t *hdr, size_t len, dom_proxyproto_t *out)
{
    uint8_t *copy = malloc(len + 64);
    int prefixes_ok = 1;
    for (size_t k = 0; k < len; ++k) {
        memcpy(copy, hdr, k); /* exactly k bytes, so a read past them would be caught under ASan */
        if (dom_proxyproto_parse(copy, k, NULL, NULL, NULL) != 0) {
            printf("#   prefix of %zu bytes did not ask for more\n", k);
            prefixes_ok = 0;
        }
    }
    ok(prefixes_ok);
    memcpy(copy, hdr, len);
    static const char tail[] = "\x16\x03\x01\x02\x00GET / HTTP/1.1\r\n"; /* what follows belongs to TLS/HTTP */
    memcpy(copy + len, tail, sizeof(tail) - 1);
    int with_tail = dom_proxyproto_parse(copy, len + sizeof(tail) - 1, NULL, NULL, NULL);
    int ret = dom_proxyproto_parse(hdr, len, out, NULL, NULL);
    is_int(with_tail, ret);
    free(copy);
    return ret;
}

static void v1_ok(const char *line, int local, const char *src, unsigned sport, const char *dst, unsigned dport)
{
    dom_proxyproto_t h;
    printf("# v1 %s", line);
    int ret = parse_all_ways((const uint8_t *)line, strlen(line), &h);
    if (!is_int(ret, (int)strlen(line)))
        return;
    is_int(h.version, 1);
    is_int(h.local, local);
    is_int(h.length, strlen(line));
    if (!local) {
        is_str(fmt(&h.src), src);
        is_str(fmt(&h.dst), dst);
        is_int(h.src_port, sport);
        is_int(h.dst_port, dport);
    }
}

static void refused(const char *what, const uint8_t *buf, size_t len, dom_proxyproto_reason_t want)
{
    dom_proxyproto_reason_t reason = DOM_PROXYPROTO_OK;
    const char *why = NULL;
    printf("# refused: %s\n", what);
    is_int(dom_proxyproto_parse(buf, len, NULL, &reason, &why), DOM_EINVAL);
    is_str(dom_proxyproto_reason_name(reason), dom_proxyproto_reason_name(want));
    ok(why != NULL && why[0] != '\0');
}

static void v1_bad(const char *line, dom_proxyproto_reason_t want)
{
    refused(line, (const uint8_t *)line, strlen(line), want);
}

static void test_v1(void)
{
    v1_ok("PROXY TCP4 5.1.2.3 127.0.0.1 40000 8443\r\n", 0, "5.1.2.3", 40000, "127.0.0.1", 8443);
    v1_ok("PROXY TCP6 2a00:1::1 ::1 0 65535\r\n", 0, "2a00:1::1", 0, "::1", 65535);
    /* an IPv4-mapped source is unmapped, as every dom_addr_t */
    v1_ok("PROXY TCP6 ::ffff:5.1.2.3 ::1 1 2\r\n", 0, "5.1.2.3", 1, "::1", 2);
    v1_ok("PROXY UNKNOWN\r\n", 1, NULL, 0, NULL, 0);
    v1_ok("PROXY UNKNOWN ffff:: ffff:: 1 2\r\n", 1, NULL, 0, NULL, 0);
    /* the specification's worst case is exactly 107 bytes */
    v1_ok("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n",
          0, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);

    v1_bad("PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n", DOM_PROXYPROTO_MALFORMED); /* decided at the 7th byte */
    v1_bad("PROXY tcp4 1.2.3.4 5.6.7.8 1 2\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY UNKNOWNX\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2 \r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP4 ::1 5.6.7.8 1 2\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP6 1.2.3.4 ::1 1 2\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP4 010.1.2.3 5.6.7.8 1 2\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n", DOM_PROXYPROTO_MALFORMED);
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n", DOM_PROXYPROTO_MALFORMED); /* LF alone */
    v1_bad("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX", DOM_PROXYPROTO_MALFORMED);
    static const char nul[] = "PROXY TCP4 1.2.3.4\x00 5.6.7.8 1 2\r\n";
    refused("a NUL inside the line", (const uint8_t *)nul, sizeof(nul) - 1, DOM_PROXYPROTO_MALFORMED);
    /* 107 bytes without CRLF; CR as the 107th byte (LF would be the 108th) */
    char longline[200];
    memset(longline, 'f', sizeof(longline));
    memcpy(longline, "PROXY UNKNOWN ", 14);
    refused("107 bytes without CRLF", (const uint8_t *)longline, DOM_PROXYPROTO_V1_MAX, DOM_PROXYPROTO_TOO_LONG);
    longline[106] = '\r';
    refused("CR as the 107th byte", (const uint8_t *)longline, DOM_PROXYPROTO_V1_MAX, DOM_PROXYPROTO_TOO_LONG);
    ok(dom_proxyproto_parse(longline, 106, NULL, NULL, NULL) == 0);
    /* the v4-in-v6 spelling of the longest addresses does not fit the specification's 107 */
    v1_bad("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
           "65535 65535\r\n",
           DOM_PROXYPROTO_TOO_LONG);
}

static void test_no_header(void)
{
    /* decided on the first bytes that differ, not after a timeout */
    v1_bad("GET / HTTP/1.1\r\n", DOM_PROXYPROTO_NO_HEADER);
    v1_bad("PUT /v1/account/x HTTP/1.1\r\n", DOM_PROXYPROTO_NO_HEADER);
    v1_bad("PRI * HTTP/2.0\r\n", DOM_PROXYPROTO_NO_HEADER);
    v1_bad("PROXZ", DOM_PROXYPROTO_NO_HEADER);
    v1_bad("proxy ", DOM_PROXYPROTO_NO_HEADER);
    const uint8_t hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
    refused("TLS ClientHello", hello, sizeof(hello), DOM_PROXYPROTO_NO_HEADER);
    uint8_t wrong[16];
    memcpy(wrong, SIG, 12);
    wrong[10] = 'X'; /* "QUXT" */
    wrong[12] = 0x21, wrong[13] = 0x11, wrong[14] = 0, wrong[15] = 12;
    refused("v2 signature with one byte wrong", wrong, 16, DOM_PROXYPROTO_NO_HEADER);
    refused("v2 signature wrong at its 11th byte, seen alone", wrong, 11, DOM_PROXYPROTO_NO_HEADER);
    ok(dom_proxyproto_parse("P", 1, NULL, NULL, NULL) == 0);
    ok(dom_proxyproto_parse("PROXY", 5, NULL, NULL, NULL) == 0);
    ok(dom_proxyproto_parse("PROXY ", 6, NULL, NULL, NULL) == 0);
    ok(dom_proxyproto_parse(SIG, 5, NULL, NULL, NULL) == 0);
    ok(dom_proxyproto_parse("", 0, NULL, NULL, NULL) == 0);
}

/* Builds a v2 header: command byte, family byte, payload. Returns its length. */
static size_t v2(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *payload, size_t plen)
{
    memcpy(out, SIG, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(plen >> 8);
    out[15] = (uint8_t)plen;
    if (plen != 0)
        memcpy(out + 16, payload, plen);
    return 16 + plen;
}

static void test_v2(void)
{
    uint8_t buf[2048], pl[1100];
    dom_proxyproto_t h;
    size_t n;

    printf("# v2 PROXY TCP4\n");
    const uint8_t tcp4[] = {5, 1, 2, 3, 127, 0, 0, 1, 0x9c, 0x40, 0x20, 0xfb};
    n = v2(buf, 0x21, 0x11, tcp4, sizeof(tcp4));
    is_int(parse_all_ways(buf, n, &h), 28);
    is_int(h.version, 2);
    is_int(h.local, 0);
    is_str(fmt(&h.src), "5.1.2.3");
    is_str(fmt(&h.dst), "127.0.0.1");
    is_int(h.src_port, 40000);
    is_int(h.dst_port, 8443);
    is_int(h.n_tlvs, 0);

    printf("# v2 PROXY TCP6 with TLVs (ALPN, NOOP padding, AWS VPC endpoint, an empty one)\n");
    memset(pl, 0, sizeof(pl));
    pl[0] = 0x2a, pl[1] = 0x00, pl[15] = 0x01;   /* 2a00::1 */
    pl[31] = 0x01;                               /* ::1 */
    pl[32] = 0x01, pl[33] = 0xbb, pl[35] = 0x50; /* 443 -> 80 */
    size_t p = 36;
    const uint8_t tlvs[] = {0x01, 0x00, 0x02, 'h',  '2', 0x04, 0x00, 0x03, 0,    0,    0,
                            0xea, 0x00, 0x05, 0x01, 'v', 'p',  'c',  'e',  0x20, 0x00, 0x00};
    memcpy(pl + p, tlvs, sizeof(tlvs));
    p += sizeof(tlvs);
    n = v2(buf, 0x21, 0x21, pl, p);
    is_int(parse_all_ways(buf, n, &h), (int)n);
    is_str(fmt(&h.src), "2a00::1");
    is_str(fmt(&h.dst), "::1");
    is_int(h.src_port, 443);
    is_int(h.dst_port, 80);
    is_int(h.n_tlvs, 4);

    printf("# v2 PROXY TCP6 from an IPv4-mapped source: unmapped\n");
    memset(pl, 0, 36);
    pl[10] = pl[11] = 0xff, pl[12] = 5, pl[13] = 1, pl[14] = 2, pl[15] = 3;
    n = v2(buf, 0x21, 0x21, pl, 36);
    is_int(dom_proxyproto_parse(buf, n, &h, NULL, NULL), 52);
    is_int(h.src.family, AF_INET);
    is_str(fmt(&h.src), "5.1.2.3");

    printf("# v2 LOCAL (load balancer health checks): any family, block skipped\n");
    n = v2(buf, 0x20, 0x00, NULL, 0);
    is_int(parse_all_ways(buf, n, &h), 16);
    is_int(h.local, 1);
    n = v2(buf, 0x20, 0x11, tcp4, sizeof(tcp4));
    is_int(dom_proxyproto_parse(buf, n, &h, NULL, NULL), 28);
    is_int(h.local, 1);
    n = v2(buf, 0x20, 0x77, pl, 5);
    is_int(dom_proxyproto_parse(buf, n, &h, NULL, NULL), 21);
    is_int(h.local, 1);

    printf("# v2 the largest payload allowed\n");
    memset(pl, 0, sizeof(pl));
    memcpy(pl, tcp4, sizeof(tcp4));
    pl[12] = 0x04, pl[13] = (uint8_t)((DOM_PROXYPROTO_V2_MAX_PAYLOAD - 15) >> 8),
    pl[14] = (uint8_t)(DOM_PROXYPROTO_V2_MAX_PAYLOAD - 15);
    n = v2(buf, 0x21, 0x11, pl, DOM_PROXYPROTO_V2_MAX_PAYLOAD);
    is_int(dom_proxyproto_parse(buf, n, &h, NULL, NULL), DOM_PROXYPROTO_MAX);
    is_int(h.n_tlvs, 1);

    /* refusals */
    n = v2(buf, 0x21, 0x11, pl, DOM_PROXYPROTO_V2_MAX_PAYLOAD + 1);
    refused("v2 payload over the cap, decided from the length field alone", buf, 16, DOM_PROXYPROTO_TOO_LONG);
    n = v2(buf, 0x21, 0x11, tcp4, sizeof(tcp4));
    buf[15] = 0xff, buf[14] = 0xff;
    refused("v2 length 65535", buf, 16, DOM_PROXYPROTO_TOO_LONG);
    n = v2(buf, 0x11, 0x11, tcp4, sizeof(tcp4));
    refused("v2 version 1", buf, 13, DOM_PROXYPROTO_MALFORMED);
    n = v2(buf, 0x22, 0x11, tcp4, sizeof(tcp4));
    refused("v2 command 2", buf, n, DOM_PROXYPROTO_MALFORMED);
    n = v2(buf, 0x21, 0x31, pl, 216);
    refused("v2 PROXY over AF_UNIX", buf, 14, DOM_PROXYPROTO_UNSUPPORTED);
    n = v2(buf, 0x21, 0x12, tcp4, sizeof(tcp4));
    refused("v2 PROXY over UDP", buf, n, DOM_PROXYPROTO_UNSUPPORTED);
    n = v2(buf, 0x21, 0x00, NULL, 0);
    refused("v2 PROXY with an unspecified family", buf, n, DOM_PROXYPROTO_UNSUPPORTED);
    n = v2(buf, 0x21, 0x41, tcp4, sizeof(tcp4));
    refused("v2 PROXY with an unknown family", buf, n, DOM_PROXYPROTO_UNSUPPORTED);
    n = v2(buf, 0x21, 0x21, tcp4, sizeof(tcp4));
    refused("v2 TCP6 with a 12-byte block", buf, n, DOM_PROXYPROTO_MALFORMED);
    memcpy(pl, tcp4, sizeof(tcp4));
    pl[12] = 0x04, pl[13] = 0x00, pl[14] = 0x09; /* says 9 bytes, 2 follow */
    pl[15] = pl[16] = 0;
    n = v2(buf, 0x21, 0x11, pl, 17);
    refused("v2 TLV length past the header", buf, n, DOM_PROXYPROTO_BAD_TLV);
    pl[12] = 0x04, pl[13] = 0x00;
    n = v2(buf, 0x21, 0x11, pl, 14);
    refused("v2 truncated TLV (2 bytes left)", buf, n, DOM_PROXYPROTO_BAD_TLV);
}

int main(void)
{
    subtest("v1", test_v1);
    subtest("no header", test_no_header);
    subtest("v2", test_v2);
    is_str(dom_proxyproto_reason_name(DOM_PROXYPROTO_N_REASONS), "unknown");
    return done_testing();
}

/*
 * Tests src/core/clientip.c: strict address and CIDR parsing, trusted lists, and the
 * X-Forwarded-For / Forwarded walk (including spoofing attempts and malformed headers).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "domicile/clientip.h"
#include "test.h"

static dom_addr_t addr_of(const char *s)
{
    dom_addr_t addr;
    int ret = dom_addr_parse(s, strlen(s), &addr);
    if (ret != 0) {
        printf("# test setup: cannot parse %s\n", s);
        memset(&addr, 0, sizeof(addr));
    }
    return addr;
}

/* Formats with dom_addr_format into a rotating static buffer (several per printf). */
static const char *fmt(const dom_addr_t *addr)
{
    static char bufs[4][64];
    static int next;
    char *buf = bufs[next++ % 4];
    if (dom_addr_format(addr, buf, 64) != 0)
        strcpy(buf, "(unformattable)");
    return buf;
}

/* Parses `s`, checks the result formats as `want` (NULL = must be refused). */
static void addr_case(const char *s, size_t len, const char *want, int want_family)
{
    dom_addr_t addr;
    int ret = dom_addr_parse(s, len, &addr);
    if (want == NULL) {
        if (!is_int(ret, DOM_EINVAL))
            printf("#   input \"%.*s\" was accepted as %s\n", (int)len, s, fmt(&addr));
        return;
    }
    if (!is_int(ret, 0)) {
        printf("#   input \"%.*s\"\n", (int)len, s);
        return;
    }
    is_int(addr.family, want_family);
    is_str(fmt(&addr), want);
}

#define ADDR_OK(s, want, fam) addr_case((s), strlen(s), (want), (fam))
#define ADDR_BAD(s) addr_case((s), strlen(s), NULL, 0)

static void test_addr_parse(void)
{
    ADDR_OK("192.0.2.1", "192.0.2.1", AF_INET);
    ADDR_OK("0.0.0.0", "0.0.0.0", AF_INET);
    ADDR_OK("255.255.255.255", "255.255.255.255", AF_INET);
    ADDR_OK("2001:db8::1", "2001:db8::1", AF_INET6);
    ADDR_OK("2001:DB8:0:0:0:0:0:1", "2001:db8::1", AF_INET6);
    ADDR_OK("::", "::", AF_INET6);
    ADDR_OK("::1", "::1", AF_INET6);
    ADDR_OK("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", AF_INET6);
    /* IPv4-mapped IPv6 is the IPv4 client, in both spellings */
    ADDR_OK("::ffff:192.0.2.1", "192.0.2.1", AF_INET);
    ADDR_OK("::FFFF:c000:0201", "192.0.2.1", AF_INET);
    ADDR_OK("0:0:0:0:0:ffff:10.1.2.3", "10.1.2.3", AF_INET);
    /* neighbours of the mapped prefix are not mapped */
    ADDR_OK("::fffe:192.0.2.1", "::fffe:c000:201", AF_INET6);
    ADDR_OK("1::ffff:192.0.2.1", "1::ffff:c000:201", AF_INET6);

    /* the loose inet_aton forms MMDB_lookup_string accepts */
    ADDR_BAD("010.010.010.010");
    ADDR_BAD("8.8.2056");
    ADDR_BAD("1.2.3");
    ADDR_BAD("1.2");
    ADDR_BAD("16909060");
    ADDR_BAD("0x01.0x02.0x03.0x04");
    ADDR_BAD("1.2.3.04");
    ADDR_BAD("256.1.1.1");
    ADDR_BAD("1.2.3.4.5");
    ADDR_BAD("::ffff:010.1.2.3");
    /* whitespace and junk */
    ADDR_BAD(" 1.2.3.4");
    ADDR_BAD("1.2.3.4 ");
    ADDR_BAD("1.2.3.4\t");
    ADDR_BAD("1.2.3.4x");
    ADDR_BAD("1.2.3.4:80");
    ADDR_BAD("[2001:db8::1]");
    ADDR_BAD("1.2.3.4/32");
    ADDR_BAD("");
    ADDR_BAD("unknown");
    ADDR_BAD("2001:db8::g");
    ADDR_BAD("2001:db8:::1");
    ADDR_BAD("1:2:3:4:5:6:7:8:9");
    ADDR_BAD("12345::1");
    /* scope ids */
    ADDR_BAD("fe80::1%eth0");
    ADDR_BAD("fe80::1%1");
    /* embedded NUL: inet_pton alone would stop there and accept */
    addr_case("1.2.3.4\0junk", 12, NULL, 0);
    addr_case("::1\0", 4, NULL, 0);

    /* not NUL-terminated: only `len` bytes count */
    addr_case("10.0.0.1999", 8, "10.0.0.1", AF_INET);
    addr_case("2001:db8::1:2", 11, "2001:db8::1", AF_INET6);

    /* too long is refused before anything is copied */
    char longbuf[200];
    memset(longbuf, '0', sizeof(longbuf));
    memcpy(longbuf, "::", 2);
    addr_case(longbuf, sizeof(longbuf), NULL, 0);
    addr_case("0000:0000:0000:0000:0000:0000:0000:0000:0000", 46, NULL, 0);

    dom_addr_t addr;
    is_int(dom_addr_parse(NULL, 0, &addr), DOM_EINVAL);
    is_int(dom_addr_parse("1.2.3.4", 7, NULL), DOM_EINVAL);
}

static void test_sockaddr(void)
{
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    struct sockaddr_storage ss;
    dom_addr_t addr;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(443);
    inet_pton(AF_INET, "198.51.100.7", &sin.sin_addr);
    is_int(dom_addr_from_sockaddr((struct sockaddr *)&sin, &addr), 0);
    is_int(addr.family, AF_INET);
    is_str(fmt(&addr), "198.51.100.7");

    memset(&sin6, 0, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "2001:db8::42", &sin6.sin6_addr);
    is_int(dom_addr_from_sockaddr((struct sockaddr *)&sin6, &addr), 0);
    is_int(addr.family, AF_INET6);
    is_str(fmt(&addr), "2001:db8::42");

    /* a dual-stack listener reports IPv4 clients mapped */
    inet_pton(AF_INET6, "::ffff:203.0.113.9", &sin6.sin6_addr);
    is_int(dom_addr_from_sockaddr((struct sockaddr *)&sin6, &addr), 0);
    is_int(addr.family, AF_INET);
    is_str(fmt(&addr), "203.0.113.9");
    ok(dom_addr_equal(&addr, &(dom_addr_t){0}) == 0);
    dom_addr_t want = addr_of("203.0.113.9");
    ok(dom_addr_equal(&addr, &want));

    struct sockaddr un = {.sa_family = AF_UNIX};
    is_int(dom_addr_from_sockaddr(&un, &addr), DOM_EINVAL);
    is_int(dom_addr_from_sockaddr(NULL, &addr), DOM_EINVAL);

    /* and back */
    is_int(dom_addr_to_sockaddr(&want, &ss), sizeof(struct sockaddr_in));
    is_int(ss.ss_family, AF_INET);
    ok(memcmp(&((struct sockaddr_in *)&ss)->sin_addr, want.bytes, 4) == 0);
    is_int(((struct sockaddr_in *)&ss)->sin_port, 0);
    dom_addr_t v6 = addr_of("2001:db8::42");
    is_int(dom_addr_to_sockaddr(&v6, &ss), sizeof(struct sockaddr_in6));
    is_int(ss.ss_family, AF_INET6);
    ok(memcmp(&((struct sockaddr_in6 *)&ss)->sin6_addr, v6.bytes, 16) == 0);
    dom_addr_t back;
    is_int(dom_addr_from_sockaddr((struct sockaddr *)&ss, &back), 0);
    ok(dom_addr_equal(&back, &v6));
    dom_addr_t bogus = {.family = 12345};
    is_int(dom_addr_to_sockaddr(&bogus, &ss), 0);
}

static void test_format_equal(void)
{
    dom_addr_t a = addr_of("2001:db8::1"), b = addr_of("2001:db8:0::1"), c = addr_of("192.0.2.1");
    char buf[64];
    is_int(dom_addr_format(&a, buf, 45), DOM_ERANGE);
    is_int(dom_addr_format(&a, buf, 46), 0);
    is_str(buf, "2001:db8::1");
    dom_addr_t bogus = {.family = 99};
    is_int(dom_addr_format(&bogus, buf, sizeof(buf)), DOM_EINVAL);
    ok(dom_addr_equal(&a, &b));
    ok(!dom_addr_equal(&a, &c));
    /* same bytes, different family */
    dom_addr_t v4zero = addr_of("0.0.0.0"), v6zero = addr_of("::");
    ok(!dom_addr_equal(&v4zero, &v6zero));
}

static void cidr_case(const char *s, const char *want_net, unsigned want_prefix)
{
    dom_cidr_t cidr;
    int ret = dom_cidr_parse(s, strlen(s), &cidr);
    if (want_net == NULL) {
        if (!is_int(ret, DOM_EINVAL))
            printf("#   input \"%s\" was accepted as %s/%u\n", s, fmt(&cidr.net), cidr.prefix);
        return;
    }
    if (!is_int(ret, 0)) {
        printf("#   input \"%s\"\n", s);
        return;
    }
    is_str(fmt(&cidr.net), want_net);
    is_int(cidr.prefix, want_prefix);
}

static void test_cidr_parse(void)
{
    cidr_case("10.0.0.0/8", "10.0.0.0", 8);
    cidr_case("192.0.2.0/24", "192.0.2.0", 24);
    cidr_case("192.0.2.128/25", "192.0.2.128", 25);
    cidr_case("0.0.0.0/0", "0.0.0.0", 0);
    cidr_case("192.0.2.7/32", "192.0.2.7", 32);
    cidr_case("192.0.2.7", "192.0.2.7", 32);
    cidr_case("2001:db8::/32", "2001:db8::", 32);
    cidr_case("::/0", "::", 0);
    cidr_case("2001:db8::1", "2001:db8::1", 128);
    cidr_case("2001:db8::1/128", "2001:db8::1", 128);
    cidr_case("fe80::/10", "fe80::", 10);
    /* mapped networks are IPv4 networks */
    cidr_case("::ffff:10.0.0.0/104", "10.0.0.0", 8);
    cidr_case("::ffff:0.0.0.0/96", "0.0.0.0", 0);
    cidr_case("::ffff:192.0.2.1", "192.0.2.1", 32);
    cidr_case("::ffff:192.0.2.1/128", "192.0.2.1", 32);

    /* host bits set */
    cidr_case("10.0.0.1/8", NULL, 0);
    cidr_case("192.0.2.129/24", NULL, 0);
    cidr_case("192.0.2.1/31", NULL, 0);
    cidr_case("2001:db8::1/64", NULL, 0);
    cidr_case("::ffff:10.0.0.0/95", NULL, 0);
    cidr_case("::ffff:10.1.0.0/104", NULL, 0);
    /* prefix range and shape */
    cidr_case("10.0.0.0/33", NULL, 0);
    cidr_case("2001:db8::/129", NULL, 0);
    cidr_case("10.0.0.0/", NULL, 0);
    cidr_case("10.0.0.0/-8", NULL, 0);
    cidr_case("10.0.0.0/+8", NULL, 0);
    cidr_case("10.0.0.0/08", NULL, 0);
    cidr_case("10.0.0.0/8 ", NULL, 0);
    cidr_case("10.0.0.0/ 8", NULL, 0);
    cidr_case("10.0.0.0 /8", NULL, 0);
    cidr_case("10.0.0.0/8/8", NULL, 0);
    cidr_case("10.0.0.0/0008", NULL, 0);
    cidr_case("10.0.0.0/4294967304", NULL, 0);
    cidr_case("/8", NULL, 0);
    cidr_case("", NULL, 0);
    cidr_case("010.0.0.0/8", NULL, 0);
    cidr_case("10/8", NULL, 0);
    cidr_case("fe80::%eth0/64", NULL, 0);

    /* not NUL-terminated */
    dom_cidr_t cidr;
    is_int(dom_cidr_parse("10.0.0.0/89", 10, &cidr), 0);
    is_int(cidr.prefix, 8);
}

static void test_cidr_contains(void)
{
    dom_cidr_t c;
    dom_addr_t a;

    dom_cidr_parse("192.0.2.128/25", 14, &c);
    a = addr_of("192.0.2.128");
    ok(dom_cidr_contains(&c, &a));
    a = addr_of("192.0.2.255");
    ok(dom_cidr_contains(&c, &a));
    a = addr_of("192.0.2.127");
    ok(!dom_cidr_contains(&c, &a));
    a = addr_of("::ffff:192.0.2.200");
    ok(dom_cidr_contains(&c, &a));
    a = addr_of("::c000:2c8"); /* same low bytes, but IPv6 */
    ok(!dom_cidr_contains(&c, &a));

    dom_cidr_parse("0.0.0.0/0", 9, &c);
    a = addr_of("203.0.113.1");
    ok(dom_cidr_contains(&c, &a));
    a = addr_of("::1");
    ok(!dom_cidr_contains(&c, &a));

    dom_cidr_parse("2001:db8:8000::/33", 18, &c);
    a = addr_of("2001:db8:ffff::1");
    ok(dom_cidr_contains(&c, &a));
    a = addr_of("2001:db8:7fff::1");
    ok(!dom_cidr_contains(&c, &a));

    dom_cidr_parse("::/0", 4, &c);
    a = addr_of("2001:db8::1");
    ok(dom_cidr_contains(&c, &a));
    a = addr_of("10.0.0.1");
    ok(!dom_cidr_contains(&c, &a));

    /* every prefix length: the network contains its own address and not the one with the next bit flipped */
    dom_addr_t base = addr_of("2001:db8:1234:5678:9abc:def0:1357:2468");
    for (unsigned prefix = 0; prefix <= 128; ++prefix) {
        dom_cidr_t net = {.net = base, .prefix = prefix};
        for (unsigned i = prefix; i < 128; ++i)
            net.net.bytes[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
        int good = dom_cidr_contains(&net, &base);
        if (prefix > 0) { /* last network bit flipped: outside */
            dom_addr_t flipped = base;
            flipped.bytes[(prefix - 1) / 8] ^= (uint8_t)(0x80 >> ((prefix - 1) % 8));
            good = good && !dom_cidr_contains(&net, &flipped);
        }
        if (prefix < 128) { /* first host bit flipped: still inside */
            dom_addr_t flipped = base;
            flipped.bytes[prefix / 8] ^= (uint8_t)(0x80 >> (prefix % 8));
            good = good && dom_cidr_contains(&net, &flipped);
        }
        if (!good) {
            ok(0);
            printf("#   prefix %u\n", prefix);
        }
    }
    ok(1);
}

static void test_cidr_list(void)
{
    dom_cidr_list_t list = {0};
    dom_addr_t a = addr_of("10.1.2.3");

    ok(!dom_cidr_list_contains(&list, &a));
    ok(!dom_cidr_list_contains(NULL, &a));
    /* enough to make it grow several times */
    for (unsigned i = 0; i < 100; ++i) {
        char text[32];
        dom_cidr_t c;
        snprintf(text, sizeof(text), "172.16.%u.0/24", i);
        is_int(dom_cidr_parse(text, strlen(text), &c), 0);
        if (dom_cidr_list_add(&list, &c) != 0)
            ok(0);
    }
    is_int(list.count, 100);
    a = addr_of("172.16.99.1");
    ok(dom_cidr_list_contains(&list, &a));
    a = addr_of("172.16.100.1");
    ok(!dom_cidr_list_contains(&list, &a));
    dom_cidr_list_free(&list);
    ok(list.items == NULL && list.count == 0 && list.capacity == 0);
    dom_cidr_list_free(&list);
    dom_cidr_list_free(NULL);
}

/* ---- resolve ---- */

static dom_cidr_list_t trusted;

static void set_trusted(const char *const *cidrs)
{
    dom_cidr_list_free(&trusted);
    for (; *cidrs != NULL; ++cidrs) {
        dom_cidr_t c;
        if (dom_cidr_parse(*cidrs, strlen(*cidrs), &c) != 0 || dom_cidr_list_add(&trusted, &c) != 0)
            printf("# test setup: bad trusted cidr %s\n", *cidrs);
    }
}

static size_t to_refs(const char *const *lines, dom_strref_t *refs)
{
    size_t n = 0;
    for (; lines != NULL && *lines != NULL; ++lines, ++n) {
        refs[n].base = *lines;
        refs[n].len = strlen(*lines);
    }
    return n;
}

static void resolve_case(const char *peer, const char *const *xff, const char *const *fwd, const char *want,
                         dom_clientip_source_t want_source, int want_malformed, int want_hidden, int line)
{
    dom_strref_t xref[16], fref[16];
    size_t nx = to_refs(xff, xref), nf = to_refs(fwd, fref);
    dom_addr_t peer_addr = addr_of(peer);
    dom_clientip_t res;

    memset(&res, 0xa5, sizeof(res));
    int ret = dom_clientip_resolve(&trusted, &peer_addr, xref, nx, fref, nf, &res);
    dom_addr_t want_addr = addr_of(want);
    int pass = ret == 0 && dom_addr_equal(&res.addr, &want_addr) && res.source == want_source &&
               res.malformed == want_malformed && res.hidden == want_hidden;
    ++test_count;
    printf("%s %d - resolve at line %d\n", pass ? "ok" : "not ok", test_count, line);
    if (!pass) {
        ++test_failed;
        printf("#   failed at %s:%d\n", __FILE__, line);
        printf("#   got ret=%d addr=%s source=%d malformed=%d hidden=%d\n", ret, fmt(&res.addr), res.source,
               res.malformed, res.hidden);
        printf("#   want       addr=%s source=%d malformed=%d hidden=%d\n", want, want_source, want_malformed,
               want_hidden);
    }
}

#define LINES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define NONE NULL
#define CHECK(peer, xff, fwd, want, source, malformed, hidden)                                                         \
    resolve_case((peer), (xff), (fwd), (want), (source), (malformed), (hidden), __LINE__)
#define PEER DOM_CLIENTIP_PEER
#define XFF DOM_CLIENTIP_XFF
#define FWD DOM_CLIENTIP_FORWARDED

#define TRUSTED_PROXY "10.0.0.1"

static void test_resolve_untrusted_peer(void)
{
    set_trusted(LINES("10.0.0.0/8", "2001:db8:ffff::/48"));
    /* spoofing: an untrusted peer's headers are ignored entirely, whatever they say */
    CHECK("203.0.113.5", NONE, NONE, "203.0.113.5", PEER, 0, 0);
    CHECK("203.0.113.5", LINES("1.1.1.1"), NONE, "203.0.113.5", PEER, 0, 0);
    CHECK("203.0.113.5", LINES("10.0.0.2, 1.1.1.1"), NONE, "203.0.113.5", PEER, 0, 0);
    CHECK("203.0.113.5", NONE, LINES("for=1.1.1.1"), "203.0.113.5", PEER, 0, 0);
    CHECK("203.0.113.5", NONE, LINES("for=_hidden"), "203.0.113.5", PEER, 0, 0);
    /* garbage from an untrusted peer is not even "malformed": it was never looked at */
    CHECK("203.0.113.5", LINES("not an address,,"), LINES("for=\"unterminated"), "203.0.113.5", PEER, 0, 0);
    CHECK("2001:db8:1::1", LINES("1.1.1.1"), NONE, "2001:db8:1::1", PEER, 0, 0);
    /* an empty trusted list trusts nobody */
    set_trusted(LINES(NULL));
    CHECK(TRUSTED_PROXY, LINES("1.1.1.1"), NONE, TRUSTED_PROXY, PEER, 0, 0);
    dom_addr_t peer = addr_of("10.0.0.1");
    dom_strref_t x = {"1.1.1.1", 7};
    dom_clientip_t res;
    is_int(dom_clientip_resolve(NULL, &peer, &x, 1, NULL, 0, &res), 0);
    ok(dom_addr_equal(&res.addr, &peer) && res.source == PEER);
    is_int(dom_clientip_resolve(NULL, NULL, &x, 1, NULL, 0, &res), DOM_EINVAL);
}

static void test_resolve_xff(void)
{
    set_trusted(LINES("10.0.0.0/8", "192.168.0.0/16", "2001:db8:ffff::/48"));
    /* trusted peer without headers */
    CHECK(TRUSTED_PROXY, NONE, NONE, TRUSTED_PROXY, PEER, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("198.51.100.1"), NONE, "198.51.100.1", XFF, 0, 0);
    /* right to left, skipping trusted hops; the client's own claims to the left do not matter */
    CHECK(TRUSTED_PROXY, LINES("1.1.1.1, 198.51.100.1, 10.0.0.2"), NONE, "198.51.100.1", XFF, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("1.1.1.1, 198.51.100.1, 10.0.0.2, 192.168.1.1"), NONE, "198.51.100.1", XFF, 0, 0);
    /* spoofing through a trusted proxy: the client prepends a fake, the proxy appends the real one */
    CHECK(TRUSTED_PROXY, LINES("10.0.0.9, 203.0.113.66"), NONE, "203.0.113.66", XFF, 0, 0);
    /* all trusted: the leftmost */
    CHECK(TRUSTED_PROXY, LINES("10.0.0.3, 10.0.0.2"), NONE, "10.0.0.3", XFF, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("192.168.5.5"), NONE, "192.168.5.5", XFF, 0, 0);
    /* several lines are one list, in order */
    CHECK(TRUSTED_PROXY, LINES("1.1.1.1, 198.51.100.1", "10.0.0.2"), NONE, "198.51.100.1", XFF, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("198.51.100.1", "198.51.100.2"), NONE, "198.51.100.2", XFF, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("10.0.0.5", "10.0.0.6, 10.0.0.7"), NONE, "10.0.0.5", XFF, 0, 0);
    /* OWS around commas */
    CHECK(TRUSTED_PROXY, LINES("1.1.1.1,198.51.100.1 ,\t10.0.0.2"), NONE, "198.51.100.1", XFF, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("  198.51.100.1  "), NONE, "198.51.100.1", XFF, 0, 0);
    /* port and bracket forms */
    CHECK(TRUSTED_PROXY, LINES("198.51.100.1:4711"), NONE, "198.51.100.1", XFF, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("[2001:db8::1]"), NONE, "2001:db8::1", XFF, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("[2001:db8::1]:443, 10.0.0.2:1"), NONE, "2001:db8::1", XFF, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("2001:db8::1"), NONE, "2001:db8::1", XFF, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("::ffff:198.51.100.1"), NONE, "198.51.100.1", XFF, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("[::ffff:198.51.100.1]:80"), NONE, "198.51.100.1", XFF, 0, 0);
    /* a mapped trusted hop is still trusted */
    CHECK(TRUSTED_PROXY, LINES("198.51.100.1, ::ffff:10.0.0.2"), NONE, "198.51.100.1", XFF, 0, 0);
    /* IPv6 trusted hops and peers */
    CHECK("2001:db8:ffff::1", LINES("198.51.100.1, 2001:db8:ffff::2"), NONE, "198.51.100.1", XFF, 0, 0);
    CHECK("2001:db8:ffff::1", LINES("2001:db8:1::1, [2001:db8:ffff::2]:8080"), NONE, "2001:db8:1::1", XFF, 0, 0);
    CHECK("2001:db8:fffe::1", LINES("198.51.100.1"), NONE, "2001:db8:fffe::1", PEER, 0, 0);
    /* mapped peer (dual-stack listener) */
    CHECK("::ffff:10.0.0.1", LINES("198.51.100.1"), NONE, "198.51.100.1", XFF, 0, 0);
    /* Squid's "unknown": hidden, the last trusted hop stands in */
    CHECK(TRUSTED_PROXY, LINES("unknown, 10.0.0.2"), NONE, "10.0.0.2", XFF, 0, 1);
    CHECK(TRUSTED_PROXY, LINES("UNKNOWN"), NONE, TRUSTED_PROXY, XFF, 0, 1);
    /* ...but only if reached: an untrusted hop to its right wins */
    CHECK(TRUSTED_PROXY, LINES("unknown, 198.51.100.1"), NONE, "198.51.100.1", XFF, 0, 0);
}

static void test_resolve_xff_malformed(void)
{
    set_trusted(LINES("10.0.0.0/8", "2001:db8:ffff::/48"));
    const char *bad[] = {
        "",
        " ",
        ",",
        "198.51.100.1,,10.0.0.2",
        "198.51.100.1,",
        ",198.51.100.1",
        "198.51.100.1, ,10.0.0.2",
        "010.010.010.010",
        "8.8.2056",
        "1.2.3",
        "198.51.100.1 10.0.0.2",
        "198.51.100.1;10.0.0.2",
        "198.51.100.1:",
        "198.51.100.1:port",
        "198.51.100.1:123456",
        "198.51.100.1:80:80",
        "[198.51.100.1]",
        "[2001:db8::1",
        "[2001:db8::1]x",
        "[2001:db8::1]:",
        "[2001:db8::1]:80x",
        "[[2001:db8::1]]",
        "fe80::1%eth0",
        "[fe80::1%25eth0]",
        "_hidden",
        "\"198.51.100.1\"",
        "for=198.51.100.1",
        "198.51.100.1\r\n",
        "garbage, 198.51.100.1", /* malformed anywhere means malformed: the header is not trusted in part */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        printf("# xff \"%s\"\n", bad[i]);
        CHECK(TRUSTED_PROXY, LINES(bad[i]), NONE, TRUSTED_PROXY, PEER, 1, 0);
    }
    /* one bad line among good ones */
    CHECK(TRUSTED_PROXY, LINES("198.51.100.1", "", "10.0.0.2"), NONE, TRUSTED_PROXY, PEER, 1, 0);
    CHECK(TRUSTED_PROXY, LINES("198.51.100.1", "10.0.0.2", "x"), NONE, TRUSTED_PROXY, PEER, 1, 0);
    /* embedded NUL */
    dom_addr_t peer = addr_of(TRUSTED_PROXY);
    dom_strref_t x = {"198.51.100.1\0", 13};
    dom_clientip_t res;
    dom_clientip_resolve(&trusted, &peer, &x, 1, NULL, 0, &res);
    ok(res.malformed && dom_addr_equal(&res.addr, &peer));
    /* NULL base */
    x.base = NULL;
    x.len = 5;
    dom_clientip_resolve(&trusted, &peer, &x, 1, NULL, 0, &res);
    ok(res.malformed && dom_addr_equal(&res.addr, &peer));
    dom_clientip_resolve(&trusted, &peer, NULL, 1, NULL, 0, &res);
    ok(res.malformed && dom_addr_equal(&res.addr, &peer));
}

static void test_resolve_hop_limit(void)
{
    set_trusted(LINES("10.0.0.0/8"));
    char line[64 * 16 + 32];
    size_t len = 0;
    /* exactly DOM_CLIENTIP_MAX_HOPS hops over two lines is fine */
    len += (size_t)sprintf(line + len, "198.51.100.1");
    for (int i = 1; i < DOM_CLIENTIP_MAX_HOPS / 2; ++i)
        len += (size_t)sprintf(line + len, ", 10.0.0.%d", i);
    CHECK(TRUSTED_PROXY, LINES(line, line), NONE, "198.51.100.1", XFF, 0, 0);
    /* one more is malformed */
    CHECK(TRUSTED_PROXY, LINES(line, line, "10.0.0.99"), NONE, TRUSTED_PROXY, PEER, 1, 0);
    len += (size_t)sprintf(line + len, ", 10.0.0.200");
    CHECK(TRUSTED_PROXY, LINES(line, line), NONE, TRUSTED_PROXY, PEER, 1, 0);
    /* the same in Forwarded */
    char fwd[64 * 20 + 32];
    len = 0;
    for (int i = 0; i < DOM_CLIENTIP_MAX_HOPS; ++i)
        len += (size_t)sprintf(fwd + len, "%sfor=10.0.1.%d", i ? "," : "", i);
    CHECK(TRUSTED_PROXY, NONE, LINES(fwd), "10.0.1.0", FWD, 0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES(fwd, "for=10.0.0.2"), TRUSTED_PROXY, PEER, 1, 0);
}

static void test_resolve_forwarded(void)
{
    set_trusted(LINES("10.0.0.0/8", "2001:db8:ffff::/48"));
    CHECK(TRUSTED_PROXY, NONE, LINES("for=198.51.100.1"), "198.51.100.1", FWD, 0, 0);
    /* RFC 7239 section 4 examples */
    CHECK(TRUSTED_PROXY, NONE, LINES("for=\"_gazonk\""), TRUSTED_PROXY, FWD, 0, 1);
    CHECK(TRUSTED_PROXY, NONE, LINES("For=\"[2001:db8:cafe::17]:4711\""), "2001:db8:cafe::17", FWD, 0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=192.0.2.60;proto=http;by=203.0.113.43"), "192.0.2.60", FWD, 0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=192.0.2.43, for=198.51.100.17"), "198.51.100.17", FWD, 0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=\"192.0.2.43:47011\""), "192.0.2.43", FWD, 0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=\"[2001:db8::1]:4711\", for=10.0.0.2"), "2001:db8::1", FWD, 0, 0);
    /* names are case-insensitive; other parameters are skipped, in any order, token or quoted */
    CHECK(TRUSTED_PROXY, NONE, LINES("FOR=198.51.100.1"), "198.51.100.1", FWD, 0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES("proto=https;host=\"example.com:443\";fOr=198.51.100.1;by=_proxy"), "198.51.100.1",
          FWD, 0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES("host=\"a,b;c=\\\"d\\\\\";for=198.51.100.1"), "198.51.100.1", FWD, 0, 0);
    /* quoting: escapes inside the for value */
    CHECK(TRUSTED_PROXY, NONE, LINES("for=\"198.51.100\\.1\""), "198.51.100.1", FWD, 0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=\"\\[2001:db8::1\\]\""), "2001:db8::1", FWD, 0, 0);
    /* OWS around separators, empty pairs */
    CHECK(TRUSTED_PROXY, NONE, LINES(" for=198.51.100.1 ;proto=http , for=10.0.0.2 "), "198.51.100.1", FWD, 0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=198.51.100.1;;proto=http;"), "198.51.100.1", FWD, 0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES(";for=198.51.100.1"), "198.51.100.1", FWD, 0, 0);
    /* right to left skipping trusted hops, several lines, all trusted -> leftmost */
    CHECK(TRUSTED_PROXY, NONE, LINES("for=1.1.1.1, for=198.51.100.1", "for=10.0.0.2;by=10.0.0.1"), "198.51.100.1", FWD,
          0, 0);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=10.0.0.3", "for=\"[2001:db8:ffff::9]\""), "10.0.0.3", FWD, 0, 0);
    /* IPv6 and mapped peers */
    CHECK("2001:db8:ffff::1", NONE, LINES("for=198.51.100.1"), "198.51.100.1", FWD, 0, 0);
    CHECK("::ffff:10.0.0.1", NONE, LINES("for=\"[::ffff:198.51.100.1]\""), "198.51.100.1", FWD, 0, 0);
    /* obfuscated and unknown: stop, hidden, addr = last trusted hop */
    CHECK(TRUSTED_PROXY, NONE, LINES("for=_hidden"), TRUSTED_PROXY, FWD, 0, 1);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=\"_x:_y\""), TRUSTED_PROXY, FWD, 0, 1);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=unknown"), TRUSTED_PROXY, FWD, 0, 1);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=Unknown"), TRUSTED_PROXY, FWD, 0, 1);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=\"unknown:8080\""), TRUSTED_PROXY, FWD, 0, 1);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=_hidden, for=10.0.0.2, for=10.0.0.3"), "10.0.0.2", FWD, 0, 1);
    CHECK(TRUSTED_PROXY, NONE, LINES("for=198.51.100.1, for=_hidden, for=10.0.0.2"), "10.0.0.2", FWD, 0, 1);
    /* a real address with an obfuscated port is a real address */
    CHECK(TRUSTED_PROXY, NONE, LINES("for=\"198.51.100.1:_port\""), "198.51.100.1", FWD, 0, 0);
    /* hidden to the left of the first untrusted hop does not matter */
    CHECK(TRUSTED_PROXY, NONE, LINES("for=_hidden, for=198.51.100.1"), "198.51.100.1", FWD, 0, 0);
    /* Forwarded wins over X-Forwarded-For when both are present */
    CHECK(TRUSTED_PROXY, LINES("198.51.100.2"), LINES("for=198.51.100.1"), "198.51.100.1", FWD, 0, 0);
    CHECK(TRUSTED_PROXY, LINES("198.51.100.2"), LINES("for=10.0.0.2"), "10.0.0.2", FWD, 0, 0);
    /* ...even a malformed Forwarded: no second chance with XFF */
    CHECK(TRUSTED_PROXY, LINES("198.51.100.2"), LINES("for="), TRUSTED_PROXY, PEER, 1, 0);
}

static void test_resolve_forwarded_malformed(void)
{
    set_trusted(LINES("10.0.0.0/8"));
    const char *bad[] = {
        "",
        " ",
        ",",
        "for=198.51.100.1,",
        "for=198.51.100.1,,for=10.0.0.2",
        "proto=http",                    /* element without for= */
        "for=198.51.100.1, by=10.0.0.2", /* second element without for= */
        "for",
        "for=",
        "=198.51.100.1",
        "for =198.51.100.1",
        "for= 198.51.100.1",
        "for=198.51.100.1 x",
        "for=198.51.100.1;for=198.51.100.2", /* duplicate for in one element */
        "for=\"198.51.100.1",                /* unterminated quote */
        "for=\"198.51.100.1\\\"",            /* escaped closing quote: still unterminated */
        "for=\"198.51.100.1\"x",
        "for=\"198.51.100.1\\",
        "for=\"198.51\x01.100.1\"",
        "for=\"198.51.100.1\x7f\"",
        "for=198.51.100.1:80", /* ':' is not a tchar: must be quoted */
        "for=[2001:db8::1]",   /* brackets must be quoted */
        "for=\"2001:db8::1\"", /* IPv6 must be bracketed */
        "for=\"[198.51.100.1]\"",
        "for=\"[2001:db8::1]:\"",
        "for=\"[2001:db8::1]:123456\"",
        "for=\"[2001:db8::1]x\"",
        "for=\"[2001:db8::1\"",
        "for=\"198.51.100.1:\"",
        "for=\"198.51.100.1:_\"",
        "for=\"198.51.100.1:port\"",
        "for=\"198.51.100.1:80:80\"",
        "for=\"[fe80::1%eth0]\"",
        "for=_",
        "for=\"_hid den\"",
        "for=\"_hid/den\"",
        "for=unknownx",
        "for=010.010.010.010",
        "for=8.8.2056",
        "for=1.2.3",
        "for=\" 198.51.100.1\"",
        "for=198.51.100.1;proto",
        "for=198.51.100.1;proto=",
        "for=198.51.100.1;proto=\"http",
        "for=198.51.100.1;pro to=http",
        "for=198.51.100.1\r\n",
        "198.51.100.1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); ++i) {
        printf("# forwarded \"%s\"\n", bad[i]);
        CHECK(TRUSTED_PROXY, NONE, LINES(bad[i]), TRUSTED_PROXY, PEER, 1, 0);
    }
    /* a for= value longer than any node we accept, even though its shape (obfuscated port) is valid */
    char node[300];
    snprintf(node, sizeof(node), "for=\"[2001:db8::1]:_%0120d\"", 0);
    CHECK(TRUSTED_PROXY, NONE, LINES(node), TRUSTED_PROXY, PEER, 1, 0);
    snprintf(node, sizeof(node), "for=\"[2001:db8::1]:_%0100d\"", 0);
    CHECK(TRUSTED_PROXY, NONE, LINES(node), "2001:db8::1", FWD, 0, 0);
    /* one bad line among good ones */
    CHECK(TRUSTED_PROXY, NONE, LINES("for=198.51.100.1", "for=\"x"), TRUSTED_PROXY, PEER, 1, 0);
    /* a quoted string may span what looks like elements, and then must be closed in the same line */
    CHECK(TRUSTED_PROXY, NONE, LINES("for=198.51.100.1;host=\"a", "b\""), TRUSTED_PROXY, PEER, 1, 0);
}

int main(void)
{
    subtest("dom_addr_parse", test_addr_parse);
    subtest("sockaddr conversions", test_sockaddr);
    subtest("format and equal", test_format_equal);
    subtest("dom_cidr_parse", test_cidr_parse);
    subtest("dom_cidr_contains", test_cidr_contains);
    subtest("cidr list", test_cidr_list);
    subtest("resolve: untrusted peer", test_resolve_untrusted_peer);
    subtest("resolve: X-Forwarded-For", test_resolve_xff);
    subtest("resolve: malformed X-Forwarded-For", test_resolve_xff_malformed);
    subtest("resolve: hop limit", test_resolve_hop_limit);
    subtest("resolve: Forwarded", test_resolve_forwarded);
    subtest("resolve: malformed Forwarded", test_resolve_forwarded_malformed);
    dom_cidr_list_free(&trusted);
    return done_testing();
}

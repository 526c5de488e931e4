/*
 * Fuzzes step 1 of the request path (src/core/clientip.c) with hostile forwarding headers.
 *
 * Input: the first byte chooses the scenario, the rest is split on '\n' into header lines.
 *   bit 0: lines go to Forwarded (1) or X-Forwarded-For (0)
 *   bit 1: the other header gets the same lines too (Forwarded must still win)
 *   bit 2: the peer is IPv6 (trusted either way)
 *   bit 3: the peer is untrusted (the headers must be ignored)
 * The raw rest is also fed to dom_addr_parse and dom_cidr_parse. Invariants that must
 * hold for any input are checked and abort() when broken.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "domicile/clientip.h"

#define MAX_LINES 16

static dom_cidr_list_t trusted;

static void add_trusted(const char *text)
{
    dom_cidr_t cidr;
    if (dom_cidr_parse(text, strlen(text), &cidr) != 0 || dom_cidr_list_add(&trusted, &cidr) != 0)
        abort();
}

static void setup(void)
{
    if (trusted.count != 0)
        return;
    add_trusted("10.0.0.0/8");
    add_trusted("192.0.2.0/24");
    add_trusted("2001:db8:ffff::/48");
    add_trusted("::ffff:198.51.100.0/120");
}

static void check_addr(const uint8_t *data, size_t size)
{
    dom_addr_t addr, again;
    char text[INET6_ADDRSTRLEN];

    if (dom_addr_parse((const char *)data, size, &addr) != 0)
        return;
    /* what parses formats, re-parses to the same address, and is never left mapped */
    if (addr.family != AF_INET && addr.family != AF_INET6)
        abort();
    if (dom_addr_format(&addr, text, sizeof(text)) != 0)
        abort();
    if (dom_addr_parse(text, strlen(text), &again) != 0 || !dom_addr_equal(&addr, &again))
        abort();
    if (addr.family == AF_INET6 && addr.bytes[10] == 0xff && addr.bytes[11] == 0xff &&
        memcmp(addr.bytes, "\0\0\0\0\0\0\0\0\0\0", 10) == 0)
        abort();
}

static void check_cidr(const uint8_t *data, size_t size)
{
    dom_cidr_t cidr;

    if (dom_cidr_parse((const char *)data, size, &cidr) != 0)
        return;
    if (cidr.prefix > (cidr.net.family == AF_INET ? 32u : 128u))
        abort();
    /* a network contains its own address */
    if (!dom_cidr_contains(&cidr, &cidr.net))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dom_strref_t lines[MAX_LINES];
    size_t nlines = 0;
    dom_clientip_t res;

    setup();
    if (size == 0)
        return 0;
    uint8_t mode = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    check_addr((const uint8_t *)text, len);
    check_cidr((const uint8_t *)text, len);

    /* split on '\n'; every piece is a line, empty ones included */
    size_t start = 0;
    for (size_t i = 0; i <= len && nlines < MAX_LINES; ++i) {
        if (i == len || text[i] == '\n') {
            lines[nlines].base = text + start;
            lines[nlines].len = i - start;
            ++nlines;
            start = i + 1;
        }
    }

    dom_addr_t peer;
    const char *peer_text =
        (mode & 8) ? ((mode & 4) ? "2001:db8:1::1" : "203.0.113.1") : ((mode & 4) ? "2001:db8:ffff::1" : "10.0.0.1");
    if (dom_addr_parse(peer_text, strlen(peer_text), &peer) != 0)
        abort();

    const dom_strref_t *xff = NULL, *fwd = NULL;
    size_t nxff = 0, nfwd = 0;
    if ((mode & 1) || (mode & 2)) {
        fwd = lines;
        nfwd = nlines;
    }
    if (!(mode & 1) || (mode & 2)) {
        xff = lines;
        nxff = nlines;
    }
    if (dom_clientip_resolve(&trusted, &peer, xff, nxff, fwd, nfwd, &res) != 0)
        abort();

    if (res.addr.family != AF_INET && res.addr.family != AF_INET6)
        abort();
    if (mode & 8) {
        /* untrusted peer: headers never looked at */
        if (!dom_addr_equal(&res.addr, &peer) || res.source != DOM_CLIENTIP_PEER || res.malformed || res.hidden)
            abort();
        return 0;
    }
    if (res.malformed && (!dom_addr_equal(&res.addr, &peer) || res.source != DOM_CLIENTIP_PEER || res.hidden))
        abort();
    if (!res.malformed && res.source != (nfwd > 0 ? DOM_CLIENTIP_FORWARDED : DOM_CLIENTIP_XFF))
        abort();
    /* hidden only comes with a trusted stand-in */
    if (res.hidden && !dom_cidr_list_contains(&trusted, &res.addr))
        abort();
    return 0;
}

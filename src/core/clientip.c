/*
 * Step 1 of the request path: who is the client?
 *
 * Addresses are parsed strictly (inet_pton on a bounded, NUL-terminated copy), never with
 * the loose inet_aton forms. Forwarding headers count only when the socket peer is a trusted
 * proxy; they are parsed completely into a fixed array of hops (no malloc, one pass), then
 * walked right to left. See docs/internals/clientip.md for the reasoning.
 */
#include "domicile/clientip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "util/validate.h"

/* Longest textual address inet_pton can accept: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255". */
#define ADDR_TEXT_MAX 45
/* Longest Forwarded node we accept: "[" address "]:" plus a generous obfuscated port. */
#define NODE_TEXT_MAX 128

static const uint8_t v4mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static size_t addr_size(int family)
{
    return family == AF_INET ? 4 : 16;
}

static unsigned addr_bits(int family)
{
    return family == AF_INET ? 32 : 128;
}

static void unmap(dom_addr_t *addr)
{
    if (addr->family == AF_INET6 && memcmp(addr->bytes, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
        memmove(addr->bytes, addr->bytes + 12, 4);
        memset(addr->bytes + 4, 0, 12);
        addr->family = AF_INET;
    }
}

/*
 * glibc's inet_pton4 and inet_pton6 (resolv/inet_pton.c) over [s, end), same acceptance, so that the
 * per-request parse needs neither the NUL-terminated copy nor the library call: dotted quads of
 * decimal octets without leading zeros; 1-4 hex digits per group, one "::", an IPv4 tail.
 * They write dst only on success.
 */
static int pton4(const char *s, const char *end, uint8_t *dst)
{
    uint8_t tmp[4] = {0, 0, 0, 0}, *tp = tmp;
    int saw_digit = 0, octets = 0;
    while (s < end) {
        char ch = *s++;
        if (ch >= '0' && ch <= '9') {
            unsigned v = *tp * 10u + (unsigned)(ch - '0');
            if ((saw_digit && *tp == 0) || v > 255)
                return 0;
            *tp = (uint8_t)v;
            if (!saw_digit) {
                if (++octets > 4)
                    return 0;
                saw_digit = 1;
            }
        } else if (ch == '.' && saw_digit) {
            if (octets == 4)
                return 0;
            *++tp = 0;
            saw_digit = 0;
        } else {
            return 0;
        }
    }
    if (octets < 4)
        return 0;
    memcpy(dst, tmp, 4);
    return 1;
}

static int pton6(const char *s, const char *end, uint8_t *dst)
{
    uint8_t tmp[16], *tp = tmp, *endp = tmp + 16, *colonp = NULL;
    memset(tmp, 0, sizeof(tmp));
    if (s == end)
        return 0;
    if (*s == ':' && (++s == end || *s != ':')) /* a leading colon must be half of "::" */
        return 0;
    const char *curtok = s;
    unsigned xdigits = 0, val = 0;
    while (s < end) {
        char ch = *s++;
        int digit = dom__hex_digit(ch);
        if (digit >= 0) {
            if (xdigits == 4)
                return 0;
            val = val << 4 | (unsigned)digit;
            ++xdigits;
            continue;
        }
        if (ch == ':') {
            curtok = s;
            if (xdigits == 0) {
                if (colonp != NULL)
                    return 0;
                colonp = tp;
                continue;
            }
            if (s == end || tp + 2 > endp)
                return 0;
            *tp++ = (uint8_t)(val >> 8);
            *tp++ = (uint8_t)val;
            xdigits = 0;
            val = 0;
            continue;
        }
        if (ch == '.' && tp + 4 <= endp && pton4(curtok, end, tp) > 0) {
            tp += 4;
            xdigits = 0;
            break;
        }
        return 0;
    }
    if (xdigits > 0) {
        if (tp + 2 > endp)
            return 0;
        *tp++ = (uint8_t)(val >> 8);
        *tp++ = (uint8_t)val;
    }
    if (colonp != NULL) {
        if (tp == endp) /* "::" would stand for no group at all */
            return 0;
        size_t n = (size_t)(tp - colonp);
        memmove(endp - n, colonp, n);
        memset(colonp, 0, (size_t)(endp - n - colonp));
        tp = endp;
    }
    if (tp != endp)
        return 0;
    memcpy(dst, tmp, 16);
    return 1;
}

/* Parses without unmapping, so that dom_cidr_parse can shift a mapped prefix by 96 bits. */
static int parse_raw(const char *s, size_t len, dom_addr_t *out)
{
    if (s == NULL || len == 0 || len > ADDR_TEXT_MAX)
        return DOM_EINVAL;
    /* A NUL or a scope id ("fe80::1%eth0") is no hex digit, colon or dot: both parsers refuse them, so
     * "1.2.3.4\0junk" cannot pass as 1.2.3.4. */
    int colon = memchr(s, ':', len) != NULL;
    memset(out, 0, sizeof(*out));
    if (colon) {
        if (!pton6(s, s + len, out->bytes))
            return DOM_EINVAL;
        out->family = AF_INET6;
    } else {
        if (!pton4(s, s + len, out->bytes))
            return DOM_EINVAL;
        out->family = AF_INET;
    }
    return 0;
}

int dom_addr_parse(const char *s, size_t len, dom_addr_t *out)
{
    dom_addr_t addr;
    int ret;

    if (out == NULL)
        return DOM_EINVAL;
    if ((ret = parse_raw(s, len, &addr)) != 0)
        return ret;
    unmap(&addr);
    *out = addr;
    return 0;
}

int dom_addr_from_sockaddr(const struct sockaddr *sa, dom_addr_t *out)
{
    if (sa == NULL || out == NULL)
        return DOM_EINVAL;
    memset(out, 0, sizeof(*out));
    switch (sa->sa_family) {
    case AF_INET: {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        out->family = AF_INET;
        memcpy(out->bytes, &sin->sin_addr, 4);
        return 0;
    }
    case AF_INET6: {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        out->family = AF_INET6;
        memcpy(out->bytes, &sin6->sin6_addr, 16);
        /* A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d; trusted lists and geo use IPv4. */
        unmap(out);
        return 0;
    }
    default:
        return DOM_EINVAL;
    }
}

socklen_t dom_addr_to_sockaddr(const dom_addr_t *addr, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (addr->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)out;
        sin->sin_family = AF_INET;
        memcpy(&sin->sin_addr, addr->bytes, 4);
        return sizeof(*sin);
    }
    if (addr->family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)out;
        sin6->sin6_family = AF_INET6;
        memcpy(&sin6->sin6_addr, addr->bytes, 16);
        return sizeof(*sin6);
    }
    return 0;
}

int dom_addr_format(const dom_addr_t *addr, char *buf, size_t buflen)
{
    if (buf == NULL || buflen < INET6_ADDRSTRLEN)
        return DOM_ERANGE;
    if (addr == NULL || (addr->family != AF_INET && addr->family != AF_INET6))
        return DOM_EINVAL;
    if (inet_ntop(addr->family, addr->bytes, buf, (socklen_t)buflen) == NULL)
        return DOM_ERANGE;
    return 0;
}

int dom_addr_equal(const dom_addr_t *a, const dom_addr_t *b)
{
    if (a->family != b->family || (a->family != AF_INET && a->family != AF_INET6))
        return 0;
    return memcmp(a->bytes, b->bytes, addr_size(a->family)) == 0;
}

/* Returns 1 if any bit at position >= prefix is set. */
static int host_bits_set(const dom_addr_t *addr, unsigned prefix)
{
    size_t size = addr_size(addr->family);
    for (size_t i = prefix / 8; i < size; ++i) {
        uint8_t mask = i == prefix / 8 ? (uint8_t)(0xff >> (prefix % 8)) : 0xff;
        if ((addr->bytes[i] & mask) != 0)
            return 1;
    }
    return 0;
}

/* A prefix length: 1-3 digits, no sign, no leading zero, no whitespace. */
static int parse_prefix(const char *s, size_t len, unsigned *out)
{
    unsigned value = 0;

    if (len == 0 || len > 3 || (len > 1 && s[0] == '0'))
        return DOM_EINVAL;
    for (size_t i = 0; i < len; ++i) {
        if (s[i] < '0' || s[i] > '9')
            return DOM_EINVAL;
        value = value * 10 + (unsigned)(s[i] - '0');
    }
    *out = value;
    return 0;
}

int dom_cidr_parse(const char *s, size_t len, dom_cidr_t *out)
{
    dom_cidr_t cidr;
    const char *slash;
    size_t addr_len = len;
    int ret;

    if (s == NULL || out == NULL)
        return DOM_EINVAL;
    memset(&cidr, 0, sizeof(cidr));
    if ((slash = memchr(s, '/', len)) != NULL)
        addr_len = (size_t)(slash - s);
    if ((ret = parse_raw(s, addr_len, &cidr.net)) != 0)
        return ret;
    if (slash != NULL) {
        if ((ret = parse_prefix(slash + 1, len - addr_len - 1, &cidr.prefix)) != 0)
            return ret;
        if (cidr.prefix > addr_bits(cidr.net.family))
            return DOM_EINVAL;
    } else {
        cidr.prefix = addr_bits(cidr.net.family);
    }
    if (host_bits_set(&cidr.net, cidr.prefix))
        return DOM_EINVAL;
    /* ::ffff:10.0.0.0/104 is 10.0.0.0/8. A mapped network shorter than /96 always has host bits set
     * (the ffff), so it was refused above and the shift cannot underflow. */
    if (cidr.net.family == AF_INET6 && memcmp(cidr.net.bytes, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
        unmap(&cidr.net);
        cidr.prefix -= 96;
    }
    *out = cidr;
    return 0;
}

int dom_cidr_contains(const dom_cidr_t *cidr, const dom_addr_t *addr)
{
    if (cidr->net.family != addr->family || (addr->family != AF_INET && addr->family != AF_INET6))
        return 0;
    unsigned prefix = cidr->prefix;
    if (prefix > addr_bits(addr->family))
        prefix = addr_bits(addr->family);
    size_t whole = prefix / 8;
    if (memcmp(cidr->net.bytes, addr->bytes, whole) != 0)
        return 0;
    if (prefix % 8 != 0) {
        uint8_t mask = (uint8_t)(0xff << (8 - prefix % 8));
        if (((cidr->net.bytes[whole] ^ addr->bytes[whole]) & mask) != 0)
            return 0;
    }
    return 1;
}

int dom_cidr_list_add(dom_cidr_list_t *list, const dom_cidr_t *cidr)
{
    if (list == NULL || cidr == NULL)
        return DOM_EINVAL;
    if (list->count == list->capacity) {
        size_t capacity = list->capacity == 0 ? 8 : list->capacity * 2;
        if (capacity > SIZE_MAX / sizeof(*list->items))
            return DOM_ENOMEM;
        dom_cidr_t *items = realloc(list->items, capacity * sizeof(*items));
        if (items == NULL)
            return DOM_ENOMEM;
        list->items = items;
        list->capacity = capacity;
    }
    list->items[list->count++] = *cidr;
    return 0;
}

int dom_cidr_list_contains(const dom_cidr_list_t *list, const dom_addr_t *addr)
{
    if (list == NULL || addr == NULL)
        return 0;
    for (size_t i = 0; i < list->count; ++i)
        if (dom_cidr_contains(&list->items[i], addr))
            return 1;
    return 0;
}

void dom_cidr_list_free(dom_cidr_list_t *list)
{
    if (list == NULL)
        return;
    free(list->items);
    list->items = NULL;
    list->count = 0;
    list->capacity = 0;
}

/* ---- forwarding headers ---- */

/* One hop of a forwarding chain: an address, or an identifier that hides the client. */
typedef struct hop {
    dom_addr_t addr;
    int hidden;
} hop_t;

/* The parsed chain, on the stack: at most DOM_CLIENTIP_MAX_HOPS hops over all header lines. */
typedef struct chain {
    hop_t hops[DOM_CLIENTIP_MAX_HOPS];
    size_t count;
} chain_t;

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Case-insensitive comparison against a lowercase ASCII literal, independent of the locale. */
static int equals_lower(const char *s, size_t len, const char *lower)
{
    size_t n = strlen(lower);
    if (len != n)
        return 0;
    for (size_t i = 0; i < n; ++i) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lower[i])
            return 0;
    }
    return 1;
}

/* 1*5DIGIT. The value is not range-checked: the port is dropped, only its shape matters. */
static int is_port(const char *s, size_t len)
{
    if (len == 0 || len > 5)
        return 0;
    for (size_t i = 0; i < len; ++i)
        if (!is_digit(s[i]))
            return 0;
    return 1;
}

/* RFC 7239 obfnode / obfport: "_" 1*( ALPHA / DIGIT / "." / "_" / "-" ). */
static int is_obfuscated(const char *s, size_t len)
{
    if (len < 2 || s[0] != '_')
        return 0;
    for (size_t i = 1; i < len; ++i)
        if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

/* An address that must be IPv6 in its text ("[1.2.3.4]" is refused), unmapped afterwards. */
static int parse_bracketed(const char *s, size_t len, dom_addr_t *out)
{
    if (parse_raw(s, len, out) != 0 || out->family != AF_INET6)
        return DOM_EINVAL;
    unmap(out);
    return 0;
}

/* Splits "[v6]" / "[v6]:rest": the address inside the brackets, and what follows "]". */
static int split_brackets(const char *s, size_t len, const char **addr, size_t *addr_len, const char **rest,
                          size_t *rest_len)
{
    const char *close = memchr(s, ']', len);
    if (len == 0 || s[0] != '[' || close == NULL)
        return DOM_EINVAL;
    *addr = s + 1;
    *addr_len = (size_t)(close - s - 1);
    *rest = close + 1;
    *rest_len = len - (size_t)(close + 1 - s);
    return 0;
}

/*
 * One X-Forwarded-For element, already trimmed: "1.2.3.4", "1.2.3.4:port", "2001:db8::1",
 * "[2001:db8::1]", "[2001:db8::1]:port", or "unknown" (Squid's forwarded_for unknown).
 */
static int parse_xff_element(const char *s, size_t len, hop_t *hop)
{
    memset(hop, 0, sizeof(*hop));
    if (len > 0 && s[0] == '[') {
        const char *addr, *rest;
        size_t addr_len, rest_len;
        if (split_brackets(s, len, &addr, &addr_len, &rest, &rest_len) != 0)
            return DOM_EINVAL;
        if (rest_len != 0 && (rest[0] != ':' || !is_port(rest + 1, rest_len - 1)))
            return DOM_EINVAL;
        return parse_bracketed(addr, addr_len, &hop->addr);
    }
    const char *colon = memchr(s, ':', len);
    if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL) {
        /* exactly one colon: IPv4 with a port (a bare IPv6 address has at least two) */
        size_t addr_len = (size_t)(colon - s);
        if (!is_port(colon + 1, len - addr_len - 1))
            return DOM_EINVAL;
        if (parse_raw(s, addr_len, &hop->addr) != 0 || hop->addr.family != AF_INET)
            return DOM_EINVAL;
        return 0;
    }
    if (equals_lower(s, len, "unknown")) {
        hop->hidden = 1;
        return 0;
    }
    return dom_addr_parse(s, len, &hop->addr);
}

static int chain_push(chain_t *chain, hop_t **hop)
{
    if (chain->count == DOM_CLIENTIP_MAX_HOPS)
        return DOM_EINVAL;
    *hop = &chain->hops[chain->count++];
    return 0;
}

/* One X-Forwarded-For line: 1#element with OWS around the commas; an empty element is malformed. */
static int parse_xff_line(const char *s, size_t len, chain_t *chain)
{
    size_t pos = 0;

    if (s == NULL && len != 0)
        return DOM_EINVAL;
    for (;;) {
        size_t start = pos, end;
        const char *comma = len > pos ? memchr(s + pos, ',', len - pos) : NULL;
        end = comma != NULL ? (size_t)(comma - s) : len;
        pos = end;
        while (start < end && is_ows(s[start]))
            ++start;
        while (end > start && is_ows(s[end - 1]))
            --end;
        hop_t *hop;
        if (start == end || chain_push(chain, &hop) != 0 || parse_xff_element(s + start, end - start, hop) != 0)
            return DOM_EINVAL;
        if (comma == NULL)
            return 0;
        ++pos;
    }
}

/*
 * Reads a Forwarded value (token or quoted-string) at *pos. When `buf` is not NULL the value
 * (unescaped) is stored in it; one that does not fit in `cap` bytes is malformed.
 */
static int read_value(const char *s, size_t len, size_t *pos, char *buf, size_t cap, size_t *out_len)
{
    size_t i = *pos, n = 0;

    if (i < len && s[i] == '"') {
        for (++i;; ++i) {
            if (i == len)
                return DOM_EINVAL; /* unterminated */
            unsigned char c = (unsigned char)s[i];
            if (c == '"')
                break;
            if (c == '\\') {
                if (++i == len)
                    return DOM_EINVAL;
                c = (unsigned char)s[i];
                if (!(c == '\t' || (c >= 0x20 && c != 0x7f)))
                    return DOM_EINVAL;
            } else if (!(c == '\t' || (c >= 0x20 && c != 0x7f))) {
                return DOM_EINVAL; /* qdtext: no controls */
            }
            if (buf != NULL) {
                if (n == cap)
                    return DOM_EINVAL;
                buf[n] = (char)c;
            }
            ++n;
        }
        *pos = i + 1;
    } else {
        for (; i < len && dom__is_tchar(s[i]); ++i) {
            if (buf != NULL) {
                if (n == cap)
                    return DOM_EINVAL;
                buf[n] = s[i];
            }
            ++n;
        }
        if (n == 0)
            return DOM_EINVAL;
        *pos = i;
    }
    *out_len = n;
    return 0;
}

/*
 * An RFC 7239 node: IPv4address / "[" IPv6address "]" / "unknown" / obfnode, then optionally
 * ":" (1*5DIGIT / obfport). "unknown" and obfuscated nodes hide the client.
 */
static int parse_node(const char *s, size_t len, hop_t *hop)
{
    const char *name = s, *port = NULL;
    size_t name_len = len, port_len = 0;

    memset(hop, 0, sizeof(*hop));
    if (len > 0 && s[0] == '[') {
        const char *rest;
        size_t rest_len;
        if (split_brackets(s, len, &name, &name_len, &rest, &rest_len) != 0)
            return DOM_EINVAL;
        if (rest_len != 0) {
            if (rest[0] != ':')
                return DOM_EINVAL;
            port = rest + 1;
            port_len = rest_len - 1;
        }
    } else {
        const char *colon = memchr(s, ':', len);
        if (colon != NULL) {
            name_len = (size_t)(colon - s);
            port = colon + 1;
            port_len = len - name_len - 1;
        }
    }
    if (port != NULL && !is_port(port, port_len) && !is_obfuscated(port, port_len))
        return DOM_EINVAL;
    if (name != s) /* was bracketed */
        return parse_bracketed(name, name_len, &hop->addr);
    if (equals_lower(name, name_len, "unknown") || is_obfuscated(name, name_len)) {
        hop->hidden = 1;
        return 0;
    }
    if (parse_raw(name, name_len, &hop->addr) != 0 || hop->addr.family != AF_INET)
        return DOM_EINVAL;
    return 0;
}

/*
 * One Forwarded line: 1#( [pair] *( ";" [pair] ) ), pair = token "=" ( token / quoted-string ).
 * OWS is allowed around "," and ";". Every element must carry exactly one for=.
 */
static int parse_forwarded_line(const char *s, size_t len, chain_t *chain)
{
    size_t pos = 0;

    if (s == NULL && len != 0)
        return DOM_EINVAL;
    for (;;) {
        hop_t *hop = NULL;
        for (;;) {
            while (pos < len && is_ows(s[pos]))
                ++pos;
            if (pos < len && s[pos] != ';' && s[pos] != ',') {
                size_t name = pos, value_len;
                while (pos < len && dom__is_tchar(s[pos]))
                    ++pos;
                if (pos == name || pos == len || s[pos] != '=')
                    return DOM_EINVAL;
                int is_for = equals_lower(s + name, pos - name, "for");
                char value[NODE_TEXT_MAX];
                ++pos;
                if (read_value(s, len, &pos, is_for ? value : NULL, sizeof(value), &value_len) != 0)
                    return DOM_EINVAL;
                if (is_for) {
                    if (hop != NULL) /* RFC 7239 5: a parameter must not occur twice in one element */
                        return DOM_EINVAL;
                    if (chain_push(chain, &hop) != 0 || parse_node(value, value_len, hop) != 0)
                        return DOM_EINVAL;
                }
                while (pos < len && is_ows(s[pos]))
                    ++pos;
            }
            if (pos < len && s[pos] == ';') {
                ++pos;
                continue;
            }
            break;
        }
        /* An element without for= names no hop: the chain would silently lose one. */
        if (hop == NULL)
            return DOM_EINVAL;
        if (pos == len)
            return 0;
        if (s[pos] != ',')
            return DOM_EINVAL;
        ++pos;
    }
}

int dom_clientip_resolve(const dom_cidr_list_t *trusted, const dom_addr_t *peer, const dom_strref_t *xff, size_t nxff,
                         const dom_strref_t *forwarded, size_t nforwarded, dom_clientip_t *out)
{
    chain_t chain;
    const dom_strref_t *lines;
    size_t nlines;
    int (*parse_line)(const char *, size_t, chain_t *);
    dom_clientip_source_t source;

    if (out == NULL)
        return DOM_EINVAL;
    memset(out, 0, sizeof(*out));
    if (peer == NULL)
        return DOM_EINVAL;
    out->addr = *peer;
    out->source = DOM_CLIENTIP_PEER;

    /* Anyone can write these headers: only a proxy we run (or pay) is believed. */
    if (!dom_cidr_list_contains(trusted, peer))
        return 0;
    if (nforwarded > 0) {
        lines = forwarded;
        nlines = nforwarded;
        parse_line = parse_forwarded_line;
        source = DOM_CLIENTIP_FORWARDED;
    } else if (nxff > 0) {
        lines = xff;
        nlines = nxff;
        parse_line = parse_xff_line;
        source = DOM_CLIENTIP_XFF;
    } else {
        return 0;
    }

    /* Parse everything first: a header we cannot read completely is not trusted in part. */
    chain.count = 0;
    for (size_t i = 0; i < nlines; ++i) {
        if (lines == NULL || parse_line(lines[i].base, lines[i].len, &chain) != 0) {
            out->malformed = 1;
            return 0;
        }
    }

    /* Right to left: each trusted hop vouches for the one to its left; the first untrusted hop is the
     * client as far as anyone we trust can tell. Every line holds at least one hop, so count > 0. */
    const dom_addr_t *last_trusted = peer;
    out->source = source;
    for (size_t i = chain.count; i-- > 0;) {
        const hop_t *hop = &chain.hops[i];
        if (hop->hidden) {
            out->addr = *last_trusted;
            out->hidden = 1;
            return 0;
        }
        if (!dom_cidr_list_contains(trusted, &hop->addr)) {
            out->addr = hop->addr;
            return 0;
        }
        last_trusted = &hop->addr;
    }
    out->addr = chain.hops[0].addr;
    return 0;
}

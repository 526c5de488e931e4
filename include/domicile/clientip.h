/*
 * Step 1 of the request path: who is the client? Strict address parsing, trusted proxy
 * CIDRs, X-Forwarded-For and RFC 7239 Forwarded. No libh2o here.
 */
#ifndef DOMICILE_CLIENTIP_H
#define DOMICILE_CLIENTIP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include "domicile/common.h"

/** An IPv4 or IPv6 address. IPv4 lives in bytes[0..3]; IPv4-mapped IPv6 is always unmapped to IPv4. */
typedef struct dom_addr {
    int family; /* AF_INET or AF_INET6 */
    uint8_t bytes[16];
} dom_addr_t;

/**
 * Parses a textual address strictly with inet_pton: the loose forms MMDB_lookup_string
 * accepts (010.010.010.010, 8.8.2056) are refused. `s` need not be NUL-terminated.
 * ::ffff:a.b.c.d becomes AF_INET. Errors: DOM_EINVAL.
 */
int dom_addr_parse(const char *s, size_t len, dom_addr_t *out);

/** Converts a socket address (AF_INET / AF_INET6, mapped addresses unmapped). Errors: DOM_EINVAL. */
int dom_addr_from_sockaddr(const struct sockaddr *sa, dom_addr_t *out);

/** Fills a sockaddr_in / sockaddr_in6 (port 0) from an address; returns its length. */
socklen_t dom_addr_to_sockaddr(const dom_addr_t *addr, struct sockaddr_storage *out);

/** Formats an address (inet_ntop). Needs buflen >= 46. Errors: DOM_ERANGE. */
int dom_addr_format(const dom_addr_t *addr, char *buf, size_t buflen);

/** Returns 1 if both addresses are equal. */
int dom_addr_equal(const dom_addr_t *a, const dom_addr_t *b);

/** A network: address with all host bits zero, and a prefix length. */
typedef struct dom_cidr {
    dom_addr_t net;
    unsigned prefix; /* 0..32 for AF_INET, 0..128 for AF_INET6 */
} dom_cidr_t;

/**
 * Parses "a.b.c.d/n", "x::y/n" or a bare address (= /32, /128). Host bits set are an
 * error (it is almost always a typo). Errors: DOM_EINVAL.
 */
int dom_cidr_parse(const char *s, size_t len, dom_cidr_t *out);

/** Returns 1 if addr lies in cidr. */
int dom_cidr_contains(const dom_cidr_t *cidr, const dom_addr_t *addr);

/** A growable list of networks; zero-initialise, then add. */
typedef struct dom_cidr_list {
    dom_cidr_t *items;
    size_t count, capacity;
} dom_cidr_list_t;

/** Appends a network. Errors: DOM_ENOMEM. */
int dom_cidr_list_add(dom_cidr_list_t *list, const dom_cidr_t *cidr);
/** Returns 1 if any network in the list contains addr. */
int dom_cidr_list_contains(const dom_cidr_list_t *list, const dom_addr_t *addr);
/** Frees the items; safe on a zeroed or already-freed list. */
void dom_cidr_list_free(dom_cidr_list_t *list);

/** A borrowed header value (not NUL-terminated). */
typedef struct dom_strref {
    const char *base;
    size_t len;
} dom_strref_t;

typedef enum dom_clientip_source {
    DOM_CLIENTIP_PEER = 0,  /* the socket peer (or PROXY protocol source) */
    DOM_CLIENTIP_XFF,       /* X-Forwarded-For, from a trusted peer */
    DOM_CLIENTIP_FORWARDED, /* RFC 7239 Forwarded for=, from a trusted peer */
} dom_clientip_source_t;

/** Most hops accepted over all lines of a forwarding header; a longer chain is malformed. */
#define DOM_CLIENTIP_MAX_HOPS 64

/** Result of resolving the client address. */
typedef struct dom_clientip {
    dom_addr_t addr;
    /** Which header decided (PEER if none was used or it was malformed); with `hidden` addr may still be the peer. */
    dom_clientip_source_t source;
    /** 1 if a trusted proxy's header was malformed: addr is then the peer and the caller counts it. */
    int malformed;
    /**
     * 1 if the chain ends in an RFC 7239 obfuscated identifier ("_hidden") or "unknown"
     * hop (also "unknown" in X-Forwarded-For, as Squid sends it): the real client is unknown,
     * so its location must be treated as unknown (fail closed). addr is then the last
     * trusted hop (the peer if the hidden hop is the rightmost).
     */
    int hidden;
} dom_clientip_t;

/**
 * Resolves the client address from the peer and the forwarding headers.
 * If the peer is not in `trusted`, the headers are ignored entirely and the peer wins.
 * Otherwise `Forwarded` (all lines, in order) is used if present, else `X-Forwarded-For`
 * (all lines, in order, comma-separated); the hops are walked right to left skipping
 * trusted addresses, the first untrusted one wins (if all are trusted, the leftmost).
 * The whole header is parsed first: any malformed part (bad address or syntax, empty
 * element, Forwarded element without for=, more than DOM_CLIENTIP_MAX_HOPS hops) falls
 * back to the peer with out->malformed = 1. No allocation; linear in the header size.
 * Returns 0 (the result is always usable); DOM_EINVAL only if out or peer is NULL.
 */
int dom_clientip_resolve(const dom_cidr_list_t *trusted, const dom_addr_t *peer, const dom_strref_t *xff, size_t nxff,
                         const dom_strref_t *forwarded, size_t nforwarded, dom_clientip_t *out);

#endif

/*
 * Before step 1 of the request path: the PROXY protocol header a load balancer (HAProxy
 * `send-proxy` / `send-proxy-v2`, a cloud NLB) puts in front of a connection, v1 (text) and v2
 * (binary). A pure, incremental, strict and bounded parser: the gateway feeds it the bytes read so
 * far and learns "need more", "done, N bytes are the header" or "invalid, and why". No libh2o here.
 *
 * Bounds: a v1 line is at most 107 bytes (the specification's own limit, CRLF included); a v2 header
 * is its 16-byte preamble plus at most DOM_PROXYPROTO_V2_MAX_PAYLOAD bytes of addresses and TLVs
 * (the specification allows 65,535; real senders use well under 300). Nothing beyond the header is
 * ever looked at, so the bytes after it belong to TLS or HTTP untouched.
 */
#ifndef DOMICILE_PROXYPROTO_H
#define DOMICILE_PROXYPROTO_H

#include <stddef.h>
#include <stdint.h>
#include "domicile/clientip.h"

/** Longest v1 header, "PROXY TCP6 <ffff:...> <ffff:...> 65535 65535\r\n" (the specification's 107). */
#define DOM_PROXYPROTO_V1_MAX 107
/** Most bytes of addresses + TLVs a v2 header may carry (its length field); a longer one is refused. */
#define DOM_PROXYPROTO_V2_MAX_PAYLOAD 1024
/** Longest header of either version: the most bytes a reader ever needs to buffer. */
#define DOM_PROXYPROTO_MAX (16 + DOM_PROXYPROTO_V2_MAX_PAYLOAD)

/** Why a header was refused (a metrics label each: dom_proxyproto_reason_name). */
typedef enum dom_proxyproto_reason {
    DOM_PROXYPROTO_OK = 0,
    DOM_PROXYPROTO_NO_HEADER,   /* the first bytes are neither "PROXY " nor the v2 signature (a wrong signature too) */
    DOM_PROXYPROTO_MALFORMED,   /* v1 syntax, address or port; v2 version or command */
    DOM_PROXYPROTO_TOO_LONG,    /* v1 longer than 107 bytes; v2 length over DOM_PROXYPROTO_V2_MAX_PAYLOAD */
    DOM_PROXYPROTO_UNSUPPORTED, /* not TCP over IPv4/IPv6 (UNIX, UDP, unspecified, unknown family) with PROXY */
    DOM_PROXYPROTO_BAD_TLV,     /* a v2 TLV runs past the header, or the address block is short */
    DOM_PROXYPROTO_N_REASONS
} dom_proxyproto_reason_t;

/** A parsed header. */
typedef struct dom_proxyproto {
    int version; /* 1 or 2 */
    /**
     * 1: the connection's own endpoints stand (v2 LOCAL, a load balancer's health check; v1 UNKNOWN):
     * src/dst are not set. 0: src/dst are the client and the address it connected to.
     */
    int local;
    dom_addr_t src, dst; /* IPv4-mapped IPv6 is unmapped, as everywhere in dom_addr_t */
    uint16_t src_port, dst_port;
    size_t length; /* bytes of the header (what the parser returned) */
    size_t n_tlvs; /* v2 TLVs skipped */
} dom_proxyproto_t;

/**
 * Parses the header at the start of buf (len bytes read so far from a connection).
 * Returns the header's length (> 0) with *out filled when it is complete; 0 when buf is a valid
 * prefix of a header and more bytes are needed (at most DOM_PROXYPROTO_MAX in all); DOM_EINVAL when
 * the bytes cannot become a valid header, with *reason set (and *why to a constant message when why
 * is not NULL). Strict: v1 "PROXY TCP4|TCP6 src dst sport dport\r\n" with single spaces, addresses as
 * inet_pton reads them in the named family, ports 0-65535 without leading zeros, or "PROXY UNKNOWN"
 * and anything printable up to CRLF; v2 version 2, command LOCAL (any family, block skipped) or
 * PROXY over TCP/IPv4 or TCP/IPv6, TLVs that exactly tile the rest. out and reason may be NULL.
 */
int dom_proxyproto_parse(const void *buf, size_t len, dom_proxyproto_t *out, dom_proxyproto_reason_t *reason,
                         const char **why);

/** A constant lower-case name of a reason ("ok", "no_header", "malformed", ...), never NULL. */
const char *dom_proxyproto_reason_name(dom_proxyproto_reason_t reason);

#endif

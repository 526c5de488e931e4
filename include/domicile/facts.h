/*
 * Steps 0-3 of the request path in one place: from a request as it arrived (peer address,
 * method, target, header fields) to the facts the decision (policy.h) is made on. The
 * gateway's handler and `domicile explain` both go through this builder, so explain cannot
 * disagree with serve about which header counts, what a malformed forwarding header means,
 * or which path is classified. No libh2o here.
 *
 *     dom_facts_builder_t b;
 *     dom_facts_begin(&b, &cfg);
 *     for each header field:  if (dom_facts_header(&b, name, nlen, value, vlen) == DOM_HEADER_DROP) drop it;
 *     dom_facts_finish(&b, &peer, method, mlen, target, tlen, now, path_buf, sizeof path_buf, &facts);
 */
#ifndef DOMICILE_FACTS_H
#define DOMICILE_FACTS_H

#include "domicile/clientip.h"
#include "domicile/geo.h"
#include "domicile/path.h"
#include "domicile/pin.h"
#include "domicile/policy.h"

/** Header names when the config names none. */
#define DOM_DEFAULT_PIN_HEADER "domicile-pin"
#define DOM_DEFAULT_CONSENT_HEADER "domicile-consent"

/** Header section bounds when the config sets none (HTTP/1.1's in h2o: 100 fields; 64 KiB of names and values). */
#define DOM_DEFAULT_MAX_HEADERS 100
#define DOM_DEFAULT_MAX_HEADER_BYTES (64 * 1024)

/** Forwarding header lines (X-Forwarded-For and Forwarded each) taken; more make the header malformed. */
#define DOM_FACTS_MAX_FORWARDING_LINES 16

/** What the builder needs besides the request. Borrowed; must outlive the builder. */
typedef struct dom_facts_config {
    const dom_cidr_list_t *trusted;               /* proxies whose forwarding headers count; NULL = none */
    const char *pin_header;                       /* header carrying a residency pin, e.g. "domicile-pin" */
    const char *consent_header;                   /* header carrying consent, e.g. "domicile-consent" */
    const dom_pin_keyring_t *keyring;             /* NULL = no keys: every pin is refused as unknown_key */
    dom_consent_mode_t consent_mode;              /* token (default) or header (unsigned class names, opt-in) */
    const dom_pin_keyring_t *consent_keyring;     /* NULL = no keys: every consent token is unknown_key */
    const dom_consent_revocations_t *revocations; /* NULL = none revoked */
    dom_geo_t *geo;                               /* NULL = no database: every location is unknown */
    dom_path_mode_t paths;                        /* how encoded dots and slashes are treated */
    size_t max_headers;                           /* header fields a request may carry; 0 = DOM_DEFAULT_MAX_HEADERS */
    size_t max_header_bytes;                      /* bytes of names and values; 0 = DOM_DEFAULT_MAX_HEADER_BYTES */
    const char *const *refuse_methods; /* methods refused with 405 (NULL-terminated); NULL = CONNECT, TRACE, TRACK */
} dom_facts_config_t;

/** What the gateway does with a header field the client sent. */
typedef enum dom_header_role {
    DOM_HEADER_KEEP = 0, /* forwarded as sent */
    DOM_HEADER_DROP,     /* never forwarded: decision headers are the gateway's own, forwarding headers rebuilt */
} dom_header_role_t;

/** The builder's state between begin and finish. Values point into the caller's header memory. */
typedef struct dom_facts_builder {
    const dom_facts_config_t *cfg;
    size_t pin_header_len, consent_header_len;
    dom_strref_t xff[DOM_FACTS_MAX_FORWARDING_LINES], fwd[DOM_FACTS_MAX_FORWARDING_LINES];
    size_t n_xff, n_fwd;
    int too_many_forwarding; /* more lines than the cap: the chain is treated as malformed */
    dom_strref_t pin, consent, request_id, destination, host;
    int has_pin, has_consent, has_request_id, has_destination, has_host;
    size_t repeated; /* pin or consent headers after the first (ignored) */
    size_t n_headers, header_bytes;
    int counted_cookie; /* Cookie fields (HTTP/2 crumbs) count once */
    int empty_name;     /* a header field without a name */
} dom_facts_builder_t;

/** Starts a request. */
void dom_facts_begin(dom_facts_builder_t *b, const dom_facts_config_t *cfg);

/**
 * Takes one header field of the request's header section (never trailers), in the order
 * received; names compare case-insensitively, values without the optional whitespace around them. Remembers what the
 * decision needs: the first pin and consent header (later ones are counted and ignored), every X-Forwarded-For and
 * Forwarded line, the first X-Request-Id. Returns DOM_HEADER_DROP for what no client may send
 * upstream: X-Domicile-*, X-Residency-*, the forwarding headers (X-Forwarded-For, Forwarded,
 * X-Real-IP, X-Forwarded-Proto, X-Forwarded-Host: the gateway writes its own), X-Request-Id
 * (the gateway writes the one it used), and URL-override headers some servers obey
 * (X-Original-URL, X-Rewrite-URL, X-Override-URL, X-HTTP-Method-Override, X-HTTP-Method,
 * X-Method-Override), and Destination (the gateway writes its canonical form, pointing at the node);
 * DOM_HEADER_KEEP otherwise. The first Host field is the request's authority (the gateway feeds
 * HTTP/2's :authority as one).
 */
dom_header_role_t dom_facts_header(dom_facts_builder_t *b, const char *name, size_t name_len, const char *value,
                                   size_t value_len);

/**
 * Finishes: step 0 checks the request itself (more header fields or bytes than the bounds:
 * 431; a header without a name or a method that is not an RFC 9110 token: 400; a refused
 * method such as CONNECT: 405; out->request_refused says which) and canonicalises `target`
 * into path_buf (dom_facts_path_bufsize() bytes; a target that cannot be canonicalised sets
 * out->path_refused) and a Destination (WebDAV MOVE, COPY) after it: an absolute path, or an
 * absolute http(s) URI naming the request's own authority (else out->destination_refused), step 1 resolves the
 * client address from `peer` (NULL = unknown) and the forwarding headers, step 2 geolocates it
 * unless the location is unknown (no peer, a hidden client, or a malformed or over-long
 * forwarding header from a trusted proxy: never the proxy's own location), step 3 verifies
 * the pin at `now` and, in token mode, the consent token (revocations included). out borrows from the header values,
 * path_buf, method and the config. Errors: DOM_ERANGE (path_buf too small); out is complete otherwise.
 */
/** Bytes path_buf must hold for dom_facts_finish(): the canonical target and Destination are never longer. */
size_t dom_facts_path_bufsize(const dom_facts_builder_t *b, size_t target_len);

int dom_facts_finish(dom_facts_builder_t *b, const dom_addr_t *peer, const char *method, size_t method_len,
                     const char *target, size_t target_len, int64_t now, char *path_buf, size_t path_bufsize,
                     dom_request_facts_t *out);

#endif

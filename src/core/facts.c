/*
 * Steps 0-3 of the request path: the one request-facts builder (docs/internals/facts.md).
 * The gateway feeds it h2o's header vector, `explain` its --header options: the same rules
 * decide which header counts, so the two cannot drift apart.
 */
#include <string.h>
#include "domicile/facts.h"
#include "util/validate.h"

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

/* name equals the lower-case literal lit, ignoring case */
static int name_is(const char *name, size_t len, const char *lit, size_t lit_len)
{
    if (len != lit_len)
        return 0;
    for (size_t i = 0; i < len; ++i)
        if (lower((unsigned char)name[i]) != lit[i])
            return 0;
    return 1;
}

static int has_prefix(const char *name, size_t len, const char *lit, size_t lit_len)
{
    return len >= lit_len && name_is(name, lit_len, lit, lit_len);
}

#define IS(lit) name_is(name, len, lit, sizeof(lit) - 1)

/* Headers no client may send upstream: the gateway's own, and the ones it rebuilds or that rewrite a request. */
static int never_forwarded(const char *name, size_t len)
{
    if (len < 9 || lower((unsigned char)name[0]) != 'x')
        return 0;
    return has_prefix(name, len, "x-domicile-", 11) || has_prefix(name, len, "x-residency-", 12) || IS("x-real-ip") ||
           IS("x-forwarded-proto") || IS("x-forwarded-host") || IS("x-original-url") || IS("x-rewrite-url") ||
           IS("x-override-url") || IS("x-http-method-override") || IS("x-http-method") || IS("x-method-override");
}

void dom_facts_begin(dom_facts_builder_t *b, const dom_facts_config_t *cfg)
{
    memset(b, 0, sizeof(*b));
    b->cfg = cfg;
    b->pin_header_len = cfg->pin_header != NULL ? strlen(cfg->pin_header) : 0;
    b->consent_header_len = cfg->consent_header != NULL ? strlen(cfg->consent_header) : 0;
}

static void take_line(dom_facts_builder_t *b, dom_strref_t *lines, size_t *n, const char *value, size_t value_len)
{
    if (*n < DOM_FACTS_MAX_FORWARDING_LINES)
        lines[(*n)++] = (dom_strref_t){value, value_len};
    else
        b->too_many_forwarding = 1;
}

dom_header_role_t dom_facts_header(dom_facts_builder_t *b, const char *name, size_t len, const char *value,
                                   size_t value_len)
{
    /* HTTP/2 may split one Cookie into crumbs (RFC 9113 8.2.3): they count as the one field HTTP/1.1 sends */
    if (!IS("cookie") || !b->counted_cookie)
        ++b->n_headers;
    b->counted_cookie |= IS("cookie");
    b->header_bytes += len + value_len;
    b->empty_name |= len == 0;
    /* HTTP/1 parsers trim the optional whitespace around a value, HTTP/2 leaves it to the sender: trim it here */
    while (value_len != 0 && (value[0] == ' ' || value[0] == '\t')) {
        ++value;
        --value_len;
    }
    while (value_len != 0 && (value[value_len - 1] == ' ' || value[value_len - 1] == '\t'))
        --value_len;
    if (IS("x-forwarded-for")) {
        take_line(b, b->xff, &b->n_xff, value, value_len);
        return DOM_HEADER_DROP;
    }
    if (IS("forwarded")) {
        take_line(b, b->fwd, &b->n_fwd, value, value_len);
        return DOM_HEADER_DROP;
    }
    if (IS("destination")) {
        if (!b->has_destination) {
            b->destination = (dom_strref_t){value, value_len};
            b->has_destination = 1;
        }
        return DOM_HEADER_DROP;
    }
    if (IS("host") && !b->has_host) {
        b->host = (dom_strref_t){value, value_len};
        b->has_host = 1;
        return DOM_HEADER_KEEP;
    }
    if (IS("x-request-id")) {
        if (!b->has_request_id) {
            b->request_id = (dom_strref_t){value, value_len};
            b->has_request_id = 1;
        }
        return DOM_HEADER_DROP;
    }
    if (never_forwarded(name, len))
        return DOM_HEADER_DROP;
    /* the pin and consent headers are the client's own statements: they stay (an anonymized class strips the pin) */
    if (b->pin_header_len != 0 && name_is(name, len, b->cfg->pin_header, b->pin_header_len)) {
        if (b->has_pin) {
            ++b->repeated;
        } else {
            b->pin = (dom_strref_t){value, value_len};
            b->has_pin = 1;
        }
    } else if (b->consent_header_len != 0 && name_is(name, len, b->cfg->consent_header, b->consent_header_len)) {
        if (b->has_consent) {
            ++b->repeated;
        } else {
            b->consent = (dom_strref_t){value, value_len};
            b->has_consent = 1;
        }
    }
    return DOM_HEADER_KEEP;
}

static int refused_method(const dom_facts_config_t *cfg, const char *method, size_t len)
{
    static const char *const defaults[] = {"CONNECT", "TRACE", "TRACK", NULL};
    for (const char *const *m = cfg->refuse_methods != NULL ? cfg->refuse_methods : defaults; *m != NULL; ++m)
        if (strlen(*m) == len && memcmp(*m, method, len) == 0)
            return 1;
    return 0;
}

size_t dom_facts_path_bufsize(const dom_facts_builder_t *b, size_t target_len)
{
    return target_len + 1 + (b->has_destination ? b->destination.len + 1 : 0);
}

static int lower_eq(const char *a, const char *b, size_t len)
{
    for (size_t i = 0; i < len; ++i)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

/*
 * RFC 4918 10.3: Destination = an absolute URI or an absolute path. An absolute URI must name this
 * request's own scheme-less authority (another host is not ours to write to, and a relative trick
 * like http://other/../ must not reach a path we did not classify); its path is canonicalised
 * exactly like the target's. buf holds len + 1 bytes.
 */
static void take_destination(const dom_facts_builder_t *b, char *buf, size_t bufsize, dom_request_facts_t *out)
{
    const char *v = b->destination.base, *end = v + b->destination.len;
    out->has_destination = 1;
    if (v < end && *v != '/') {
        size_t skip = end - v >= 7 && lower_eq(v, "http://", 7)    ? 7
                      : end - v >= 8 && lower_eq(v, "https://", 8) ? 8
                                                                   : 0;
        const char *auth = v + skip, *slash = skip != 0 ? memchr(auth, '/', (size_t)(end - auth)) : NULL;
        size_t auth_len = (size_t)((slash != NULL ? slash : end) - auth);
        if (skip == 0) {
            out->destination_refused = 1;
            out->destination_why = "the Destination is neither an absolute path nor an http(s) URI";
            return;
        }
        if (!b->has_host || auth_len != b->host.len || !lower_eq(auth, b->host.base, auth_len)) {
            out->destination_refused = 1;
            out->destination_why = "the Destination names another host";
            return;
        }
        v = slash != NULL ? slash : "/";
        end = slash != NULL ? end : v + 1;
    }
    dom_path_t p;
    if (dom_path_canonicalize(v, (size_t)(end - v), b->cfg->paths, buf, bufsize, &p, &out->destination_why) != 0) {
        out->destination_refused = 1;
        return;
    }
    if (p.query != NULL) {
        out->destination_refused = 1;
        out->destination_why = "the Destination carries a query";
        return;
    }
    out->destination = p.path;
    out->destination_len = p.path_len;
}

/* Step 0, the request's own shape: bounds, header names, the method. */
static void check_request(const dom_facts_builder_t *b, dom_request_facts_t *out)
{
    const dom_facts_config_t *cfg = b->cfg;
    size_t max_headers = cfg->max_headers != 0 ? cfg->max_headers : DOM_DEFAULT_MAX_HEADERS;
    size_t max_bytes = cfg->max_header_bytes != 0 ? cfg->max_header_bytes : DOM_DEFAULT_MAX_HEADER_BYTES;
    int status = 0;
    const char *reason = NULL, *why = NULL;
    if (b->n_headers > max_headers || b->header_bytes > max_bytes) {
        status = 431;
        reason = "header_fields_too_large";
        why = b->n_headers > max_headers ? "more header fields than the gateway accepts"
                                         : "more bytes of header names and values than the gateway accepts";
    } else if (b->empty_name) {
        status = 400;
        reason = "invalid_header";
        why = "a header field has no name";
    } else if (!dom__valid_http_token(out->method, out->method_len)) {
        status = 400;
        reason = "invalid_method";
        why = "the method is not an HTTP token (RFC 9110)";
    } else if (refused_method(cfg, out->method, out->method_len)) {
        status = 405;
        reason = "method_not_allowed";
        why = "the gateway does not serve this method (CONNECT, TRACE, TRACK unless configured)";
    }
    if (status != 0) {
        out->request_refused = 1;
        out->refused_status = status;
        out->refused_reason = reason;
        out->refused_why = why;
    }
}

int dom_facts_finish(dom_facts_builder_t *b, const dom_addr_t *peer, const char *method, size_t method_len,
                     const char *target, size_t target_len, int64_t now, char *path_buf, size_t path_bufsize,
                     dom_request_facts_t *out)
{
    const dom_facts_config_t *cfg = b->cfg;
    memset(out, 0, sizeof(*out));
    out->now = now;
    out->method = method != NULL ? method : "";
    out->method_len = method != NULL ? method_len : 0;
    out->request_id = b->request_id;
    out->repeated_headers = b->repeated;
    check_request(b, out);

    /* step 0: the one path that is classified and forwarded */
    dom_path_t path;
    int ret = dom_path_canonicalize(target, target_len, cfg->paths, path_buf, path_bufsize, &path, &out->path_why);
    if (ret == DOM_ERANGE || path_bufsize < dom_facts_path_bufsize(b, target_len))
        return DOM_ERANGE;
    if (b->has_destination)
        take_destination(b, path_buf + target_len + 1, b->destination.len + 1, out);
    if (ret == 0) {
        out->path = path.path;
        out->path_len = path.path_len;
        out->query = path.query;
        out->query_len = path.query_len;
    } else {
        out->path_refused = 1;
    }

    /* step 1: who is the client */
    if (peer != NULL) {
        out->have_peer = 1;
        out->peer = *peer;
        if (b->too_many_forwarding) {
            /* more forwarding lines than any sane chain: malformed, like a broken one */
            out->client.addr = *peer;
            out->client.malformed = 1;
        } else {
            static const dom_cidr_list_t none = {0};
            dom_clientip_resolve(cfg->trusted != NULL ? cfg->trusted : &none, peer, b->xff, b->n_xff, b->fwd, b->n_fwd,
                                 &out->client);
        }
    }

    /*
     * step 2: where is it. A hidden client, or a malformed header from a trusted proxy, leaves the location
     * unknown: geolocating the proxy instead would let a client who writes garbage into X-Forwarded-For
     * choose the proxy's jurisdiction (fail closed).
     */
    out->location_known = out->have_peer && !out->client.hidden && !out->client.malformed;
    if (out->location_known) {
        if (cfg->geo != NULL)
            dom_geo_lookup(cfg->geo, &out->client.addr, &out->geo);
        else
            out->geo.source = DOM_GEO_NONE;
    }

    /* step 3: what the client holds */
    if (b->has_pin) {
        static const dom_pin_keyring_t no_keys = {0};
        out->pin_present = 1;
        out->pin_token = b->pin.base;
        out->pin_token_len = b->pin.len;
        out->pin_status =
            dom_pin_verify(cfg->keyring != NULL ? cfg->keyring : &no_keys, b->pin.base, b->pin.len, now, &out->pin);
    }
    if (b->has_consent) {
        out->consent = b->consent.base;
        out->consent_len = b->consent.len;
    }
    return 0;
}

/*
 * The kinds of values config keys take (section.h): paths, header names, names, listen
 * addresses, booleans, enums, counts, sizes and durations. A row names its parser and its
 * bounds; every message says which key it is about, at the value's file:line:col.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "gateway/config/section.h"
#include "util/validate.h"

const char *dom__config_what(const dom__config_parser_t *p, const dom__config_key_t *row, char *buf, size_t len)
{
    if (row->label != NULL)
        snprintf(buf, len, "%s", row->label);
    else
        snprintf(buf, len, "%s%s", p->section != NULL ? p->section->prefix : "", row->name);
    return buf;
}

char *dom__config_strdup(dom__config_parser_t *p, const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        p->oom = 1;
    return d;
}

const char *dom__config_scalar(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *value)
{
    char what[96];
    size_t len;
    return dom__yaml_scalar(&p->y, value, dom__config_what(p, row, what, sizeof(what)), &len);
}

const char *dom__config_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    const char *q = s;
    if (!isdigit((unsigned char)*q))
        return NULL;
    for (; isdigit((unsigned char)*q); ++q) {
        unsigned d = (unsigned)(*q - '0');
        if (v > (UINT64_MAX - d) / 10)
            return NULL;
        v = v * 10 + d;
    }
    *out = v;
    return q;
}

void *dom__config_list(dom__config_parser_t *p, yaml_node_t *value, const char *what, size_t elem_size,
                       const char *empty_error)
{
    if (dom__yaml_expect(&p->y, value, YAML_SEQUENCE_NODE, what) != 0)
        return NULL;
    size_t n = dom__yaml_len(value);
    if (n == 0) {
        if (empty_error != NULL)
            dom__yaml_error(&p->y, value, "%s", empty_error);
        return NULL;
    }
    void *array = calloc(n, elem_size);
    if (array == NULL)
        p->oom = 1;
    return array;
}

char *dom__config_path_value(dom__config_parser_t *p, yaml_node_t *value, const char *what)
{
    size_t len;
    const char *s = dom__yaml_scalar(&p->y, value, what, &len);
    if (s == NULL)
        return NULL;
    if (len == 0) {
        dom__yaml_error(&p->y, value, "%s is empty", what);
        return NULL;
    }
    if (s[0] == '/')
        return dom__config_strdup(p, s);
    size_t need = strlen(p->cfg->dir) + 1 + len + 1;
    char *path = malloc(need);
    if (path == NULL) {
        p->oom = 1;
        return NULL;
    }
    snprintf(path, need, "%s/%s", p->cfg->dir, s);
    return path;
}

char *dom__config_header_name(dom__config_parser_t *p, yaml_node_t *value, const char *what)
{
    size_t len;
    const char *s = dom__yaml_scalar(&p->y, value, what, &len);
    if (s == NULL)
        return NULL;
    if (len == 0 || len > 128) {
        dom__yaml_error(&p->y, value, "%s must be a header name of 1 to 128 characters", what);
        return NULL;
    }
    if (!dom__valid_http_token(s, len)) {
        dom__yaml_error(&p->y, value, "%s %s is not a valid header name", what, dom__yaml_show(value).s);
        return NULL;
    }
    char *d = dom__config_strdup(p, s);
    for (char *c = d; c != NULL && *c != '\0'; ++c)
        *c = (char)tolower((unsigned char)*c);
    return d;
}

int dom__config_hostport(const char *s, struct sockaddr_storage *ss, socklen_t *len, const char **why)
{
    char host[64];
    const char *colon;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL || end[1] != ':') {
            *why = "an IPv6 address must be written [address]:port";
            return -1;
        }
        if ((size_t)(end - s - 1) >= sizeof(host)) {
            *why = "address too long";
            return -1;
        }
        memcpy(host, s + 1, (size_t)(end - s - 1));
        host[end - s - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (colon == NULL) {
            *why = "expected host:port";
            return -1;
        }
        if ((size_t)(colon - s) >= sizeof(host)) {
            *why = "address too long";
            return -1;
        }
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        if (strchr(host, ':') != NULL) {
            *why = "an IPv6 address must be written [address]:port";
            return -1;
        }
        if (strcmp(host, "*") == 0 || host[0] == '\0')
            strcpy(host, "0.0.0.0");
    }
    uint64_t port;
    const char *rest = dom__config_u64(colon + 1, &port);
    if (rest == NULL || *rest != '\0' || port == 0 || port > 65535) {
        *why = "the port must be a number from 1 to 65535";
        return -1;
    }
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *len = sizeof(*sin);
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *len = sizeof(*sin6);
    } else {
        *why = "the host must be a numeric IPv4 or [IPv6] address";
        return -1;
    }
    return 0;
}

/* ---- row parsers ---- */

static void set_str(char **field, char *value)
{
    if (value == NULL)
        return;
    free(*field);
    *field = value;
}

void dom__config_parse_str_path(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    char what[96];
    set_str(DOM__FIELD(char *, row, obj), dom__config_path_value(p, v, dom__config_what(p, row, what, sizeof(what))));
}

void dom__config_parse_header(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    char what[96];
    set_str(DOM__FIELD(char *, row, obj), dom__config_header_name(p, v, dom__config_what(p, row, what, sizeof(what))));
}

void dom__config_parse_name(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    char what[96];
    size_t len;
    const char *s = dom__yaml_scalar(&p->y, v, dom__config_what(p, row, what, sizeof(what)), &len);
    if (s == NULL)
        return;
    if (!dom__valid_name(s, len, DOM_NAME_MAX)) {
        dom__yaml_error(&p->y, v, "%s %s must be 1-%d of [A-Za-z0-9_-]", what, dom__yaml_show(v).s, DOM_NAME_MAX);
        return;
    }
    set_str(DOM__FIELD(char *, row, obj), dom__config_strdup(p, s));
}

void dom__config_parse_listen_address(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    char what[96];
    size_t len;
    dom__config_address_t *a = DOM__FIELD(dom__config_address_t, row, obj);
    const char *s = dom__yaml_scalar(&p->y, v, dom__config_what(p, row, what, sizeof(what)), &len), *why = NULL;
    if (s == NULL)
        return;
    if (dom__config_hostport(s, &a->addr, &a->addrlen, &why) != 0) {
        dom__yaml_error(&p->y, v, "bad %s address %s: %s", what, dom__yaml_show(v).s, why);
        return;
    }
    set_str(&a->text, dom__config_strdup(p, s));
}

void dom__config_parse_bool(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    char what[96];
    dom__yaml_bool(&p->y, v, dom__config_what(p, row, what, sizeof(what)), DOM__FIELD(int, row, obj));
}

void dom__config_parse_enum(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    char what[96], words[256] = "";
    const char *s = dom__config_scalar(p, row, v);
    if (s == NULL)
        return;
    size_t n = 0, off = 0;
    for (; row->choices[n] != NULL; ++n) {
        if (strcmp(s, row->choices[n]) == 0) {
            *DOM__FIELD(int, row, obj) = (int)n;
            return;
        }
    }
    for (size_t i = 0; i < n && off < sizeof(words); ++i)
        off += (size_t)snprintf(words + off, sizeof(words) - off, "%s%s",
                                i == 0      ? ""
                                : i + 1 < n ? ", "
                                            : " or ",
                                row->choices[i]);
    dom__yaml_error(&p->y, v, "%s must be %s, not %s", dom__config_what(p, row, what, sizeof(what)), words,
                    dom__yaml_show(v).s);
}

void dom__config_parse_count(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    char what[96];
    const char *s = dom__config_scalar(p, row, v), *rest;
    uint64_t n;
    if (s == NULL)
        return;
    if ((rest = dom__config_u64(s, &n)) == NULL || *rest != '\0' || n < row->min || n > row->max) {
        dom__yaml_error(&p->y, v, "%s must be a number from %llu to %llu", dom__config_what(p, row, what, sizeof(what)),
                        (unsigned long long)row->min, (unsigned long long)row->max);
        return;
    }
    if (row->kind == DOM__CFG_U64)
        *DOM__FIELD(uint64_t, row, obj) = n;
    else
        *DOM__FIELD(unsigned, row, obj) = (unsigned)n;
}

/* "4k", "1g", "1500" for bounds in messages. */
static const char *size_text(uint64_t v, char *buf, size_t len)
{
    static const char units[] = "gmk";
    for (int i = 0; i < 3; ++i) {
        uint64_t unit = 1ull << (10 * (3 - i));
        if (v != 0 && v % unit == 0) {
            snprintf(buf, len, "%llu%c", (unsigned long long)(v / unit), units[i]);
            return buf;
        }
    }
    snprintf(buf, len, "%llu", (unsigned long long)v);
    return buf;
}

static const char *duration_text(uint64_t ms, char *buf, size_t len)
{
    if (ms != 0 && ms % 60000 == 0 && ms >= 120000)
        snprintf(buf, len, "%llum", (unsigned long long)(ms / 60000));
    else if (ms != 0 && ms % 1000 == 0)
        snprintf(buf, len, "%llus", (unsigned long long)(ms / 1000));
    else
        snprintf(buf, len, "%llums", (unsigned long long)ms);
    return buf;
}

/* The bounds of a size or duration: "must be greater than zero", "at least 10ms", "from 4k to 1g". */
static int check_bounds(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, uint64_t n,
                        const char *(*text)(uint64_t, char *, size_t))
{
    char what[96], lo[32], hi[32];
    if (n >= row->min && (row->max == 0 || n <= row->max))
        return 0;
    dom__config_what(p, row, what, sizeof(what));
    if (row->max != 0)
        dom__yaml_error(&p->y, v, "%s must be from %s to %s", what, text(row->min, lo, sizeof(lo)),
                        text(row->max, hi, sizeof(hi)));
    else if (row->min <= 1)
        dom__yaml_error(&p->y, v, "%s must be greater than zero", what);
    else
        dom__yaml_error(&p->y, v, "%s must be at least %s", what, text(row->min, lo, sizeof(lo)));
    return -1;
}

/* "1048576", "512k", "1m", "2g" (binary multiples; a trailing b/B is allowed); never zero. */
void dom__config_parse_size(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    char what[96];
    const char *s = dom__config_scalar(p, row, v);
    if (s == NULL)
        return;
    uint64_t n, mult = 1;
    const char *rest = dom__config_u64(s, &n);
    if (rest != NULL && *rest != '\0' && strchr("kKmMgG", *rest) != NULL) {
        mult = 1ull << (*rest == 'k' || *rest == 'K' ? 10 : *rest == 'm' || *rest == 'M' ? 20 : 30);
        ++rest;
    }
    if (rest != NULL && (*rest == 'b' || *rest == 'B'))
        ++rest;
    if (rest == NULL || *rest != '\0') {
        dom__yaml_error(&p->y, v, "%s %s is not a size (a number with an optional k, m or g suffix)",
                        dom__config_what(p, row, what, sizeof(what)), dom__yaml_show(v).s);
        return;
    }
    if (n > (UINT64_MAX >> 2) / mult) {
        dom__yaml_error(&p->y, v, "%s %s is too large", dom__config_what(p, row, what, sizeof(what)),
                        dom__yaml_show(v).s);
        return;
    }
    dom__config_key_t bounded = *row;
    if (bounded.min == 0)
        bounded.min = 1;
    if (check_bounds(p, &bounded, v, n * mult, size_text) == 0)
        *DOM__FIELD(uint64_t, row, obj) = n * mult;
}

/* "30s", "500ms", "2m", or a bare number of seconds; in milliseconds. */
void dom__config_parse_duration(dom__config_parser_t *p, const dom__config_key_t *row, yaml_node_t *v, void *obj)
{
    char what[96];
    const char *s = dom__config_scalar(p, row, v);
    if (s == NULL)
        return;
    uint64_t n, mult;
    const char *rest = dom__config_u64(s, &n);
    if (rest != NULL && strcmp(rest, "ms") == 0)
        mult = 1;
    else if (rest != NULL && (strcmp(rest, "s") == 0 || *rest == '\0'))
        mult = 1000;
    else if (rest != NULL && strcmp(rest, "m") == 0)
        mult = 60000;
    else {
        dom__yaml_error(&p->y, v, "%s %s is not a duration (e.g. 30s, 500ms, 2m)",
                        dom__config_what(p, row, what, sizeof(what)), dom__yaml_show(v).s);
        return;
    }
    if (n > (uint64_t)INT32_MAX / mult) { /* h2o timeouts are 32-bit milliseconds */
        dom__yaml_error(&p->y, v, "%s %s is too long", dom__config_what(p, row, what, sizeof(what)),
                        dom__yaml_show(v).s);
        return;
    }
    if (check_bounds(p, row, v, n * mult, duration_text) == 0)
        *DOM__FIELD(uint64_t, row, obj) = n * mult;
}

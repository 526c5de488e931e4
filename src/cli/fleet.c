/*
 * `domicile fleet status URL...`: one table of every replica's rule set, geo database and readiness,
 * read from each replica's admin listener (`/status`, docs/operations.md). A rollout is watched with it
 * until the fleet converges: exit 0 when every replica answered, is ready, and all run the same rule
 * set and the same geo database; 1 otherwise (and why, on stderr); 2 on a usage error.
 *
 * The client is deliberately small: one GET per replica over a fresh connection (http:// or https://,
 * an optional bearer token and client certificate), a deadline on the whole exchange, at most 4 MiB of
 * answer, and a small JSON reader for the fields the table shows.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "cli/cli.h"
#include "util/jsonread.h"

#define ANSWER_MAX (4u << 20)
#define TOKEN_MAX 1024

static void usage(FILE *fp)
{
    fputs("usage: domicile fleet status [options] URL...\n"
          "\n"
          "Reads /status from each replica's admin listener (URL: http://HOST:PORT or https://HOST:PORT,\n"
          "optionally with a path other than /status) and prints one table: instance, rule set, geo\n"
          "database, configuration generation, readiness and region health.\n"
          "\n"
          "  --token-file FILE   send `Authorization: Bearer <token>` (admin.token_file)\n"
          "  --cacert FILE       CA certificates for https:// admin listeners (default: the system's)\n"
          "  --cert FILE --key FILE   a client certificate (admin.tls.client_ca)\n"
          "  --insecure          do not verify the admin listener's certificate\n"
          "  --timeout SECONDS   per replica (default 5)\n"
          "  --json              one JSON object instead of the table\n"
          "\n"
          "Exit status: 0 every replica answered, is ready, and all run the same rule set and geo\n"
          "database; 1 they diverge, or one is unreachable or not ready; 2 usage error.\n",
          fp);
}

/* ---- one GET over a fresh connection ---- */

struct target {
    const char *url;
    int tls;
    char host[256], port[8], path[512];
};

struct options {
    const char *token_file, *cacert, *cert, *key;
    int insecure, json;
    int timeout_ms;
    char token[TOKEN_MAX + 1];
};

/* http://HOST[:PORT][/PATH] or https://...; [v6] in brackets. 0, or -1 with a message in err. */
static int parse_url(const char *url, struct target *t, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->url = url;
    const char *p;
    if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else if (strncmp(url, "https://", 8) == 0) {
        p = url + 8;
        t->tls = 1;
    } else {
        snprintf(err, errlen, "%s: not an http:// or https:// URL", url);
        return -1;
    }
    const char *host = p, *host_end;
    if (*p == '[') {
        host = p + 1;
        if ((host_end = strchr(host, ']')) == NULL) {
            snprintf(err, errlen, "%s: unterminated [address]", url);
            return -1;
        }
        p = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/");
        p = host_end;
    }
    size_t hl = (size_t)(host_end - host);
    if (hl == 0 || hl >= sizeof(t->host)) {
        snprintf(err, errlen, "%s: no host", url);
        return -1;
    }
    memcpy(t->host, host, hl);
    snprintf(t->port, sizeof(t->port), "%s", t->tls ? "443" : "80");
    if (*p == ':') {
        size_t pl = strspn(p + 1, "0123456789");
        if (pl == 0 || pl >= sizeof(t->port) || (p[1 + pl] != '\0' && p[1 + pl] != '/')) {
            snprintf(err, errlen, "%s: bad port", url);
            return -1;
        }
        memcpy(t->port, p + 1, pl);
        t->port[pl] = '\0';
        p += 1 + pl;
    }
    if (*p == '\0' || strcmp(p, "/") == 0)
        p = "/status";
    if (strlen(p) >= sizeof(t->path) || strpbrk(p, " \r\n") != NULL) {
        snprintf(err, errlen, "%s: bad path", url);
        return -1;
    }
    snprintf(t->path, sizeof(t->path), "%s", p);
    return 0;
}

static long ms_left(const struct timespec *deadline)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

static int wait_fd(int fd, short events, const struct timespec *deadline)
{
    for (;;) {
        long left = ms_left(deadline);
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, events, 0};
        int n = poll(&p, 1, (int)left);
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int connect_to(const struct target *t, const struct timespec *deadline, char *err, size_t errlen)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_family = AF_UNSPEC}, *res = NULL;
    int rc = getaddrinfo(t->host, t->port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", t->host, gai_strerror(rc));
        return -1;
    }
    int fd = -1;
    snprintf(err, errlen, "%s:%s: cannot connect", t->host, t->port);
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        if ((fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol)) < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS)
            goto next;
        if (wait_fd(fd, POLLOUT, deadline) != 0) {
            snprintf(err, errlen, "%s:%s: connect timed out", t->host, t->port);
            goto next;
        }
        int soerr = 0;
        socklen_t len = sizeof(soerr);
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
            break;
        snprintf(err, errlen, "%s:%s: %s", t->host, t->port, strerror(soerr));
    next:
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Fetches t's URL into *body (NUL-terminated, caller frees); the HTTP status, or -1 with err set. */
static int http_get(const struct target *t, const struct options *o, SSL_CTX *ctx, char **body, char *err,
                    size_t errlen)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += o->timeout_ms / 1000;
    deadline.tv_nsec += (long)(o->timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        ++deadline.tv_sec;
        deadline.tv_nsec -= 1000000000;
    }
    *body = NULL;
    int status = -1, fd = -1;
    SSL *ssl = NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    if ((fd = connect_to(t, &deadline, err, errlen)) < 0)
        goto cleanup;
    if (t->tls) {
        if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1)
            goto tls_error;
        struct in6_addr ip;
        int is_ip = inet_pton(AF_INET, t->host, &ip) == 1 || inet_pton(AF_INET6, t->host, &ip) == 1;
        if (!is_ip)
            SSL_set_tlsext_host_name(ssl, t->host);
        if (!o->insecure) {
            X509_VERIFY_PARAM *param = SSL_get0_param(ssl);
            if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, t->host) != 1
                      : X509_VERIFY_PARAM_set1_host(param, t->host, 0) != 1)
                goto tls_error;
        }
        for (;;) {
            int r = SSL_connect(ssl);
            if (r == 1)
                break;
            int e = SSL_get_error(ssl, r);
            if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
                wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, &deadline) != 0)
                goto tls_error;
        }
    }
    char req[2048];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s%s%s\r\n%s%s%sConnection: close\r\n\r\n", t->path,
                     strchr(t->host, ':') ? "[" : "", t->host, strchr(t->host, ':') ? "]" : "",
                     o->token[0] ? "Authorization: Bearer " : "", o->token, o->token[0] ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(req)) {
        snprintf(err, errlen, "request too long");
        goto cleanup;
    }
    for (size_t off = 0; off < (size_t)n;) {
        ssize_t w;
        if (ssl != NULL) {
            int r = SSL_write(ssl, req + off, n - (int)off);
            if (r <= 0) {
                int e = SSL_get_error(ssl, r);
                if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
                    wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, &deadline) != 0)
                    goto tls_error;
                continue;
            }
            w = r;
        } else {
            if ((w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL)) < 0) {
                if ((errno != EAGAIN && errno != EINTR) || wait_fd(fd, POLLOUT, &deadline) != 0) {
                    snprintf(err, errlen, "%s: send: %s", t->url, errno ? strerror(errno) : "timed out");
                    goto cleanup;
                }
                continue;
            }
        }
        off += (size_t)w;
    }
    for (;;) {
        if (len + 4096 + 1 > cap) {
            if (cap >= ANSWER_MAX) {
                snprintf(err, errlen, "%s: answer larger than %u bytes", t->url, ANSWER_MAX);
                goto cleanup;
            }
            cap = cap ? cap * 2 : 16384;
            char *nb = realloc(buf, cap);
            if (nb == NULL) {
                snprintf(err, errlen, "out of memory");
                goto cleanup;
            }
            buf = nb;
        }
        ssize_t r;
        if (ssl != NULL) {
            int k = SSL_read(ssl, buf + len, (int)(cap - len - 1));
            if (k <= 0) {
                int e = SSL_get_error(ssl, k);
                if (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL)
                    break; /* closed (the admin listener closes after its answer) */
                if ((e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) ||
                    wait_fd(fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, &deadline) != 0)
                    goto tls_error;
                continue;
            }
            r = k;
        } else {
            r = recv(fd, buf + len, cap - len - 1, 0);
            if (r == 0)
                break;
            if (r < 0) {
                if ((errno != EAGAIN && errno != EINTR) || wait_fd(fd, POLLIN, &deadline) != 0) {
                    snprintf(err, errlen, "%s: %s", t->url, errno == EAGAIN ? "timed out" : strerror(errno));
                    goto cleanup;
                }
                continue;
            }
        }
        len += (size_t)r;
    }
    buf[len] = '\0';
    int major, minor, code;
    char *head_end = strstr(buf, "\r\n\r\n");
    if (sscanf(buf, "HTTP/%d.%d %d", &major, &minor, &code) != 3 || head_end == NULL) {
        snprintf(err, errlen, "%s: not an HTTP answer", t->url);
        goto cleanup;
    }
    memmove(buf, head_end + 4, len - (size_t)(head_end + 4 - buf) + 1);
    *body = buf;
    buf = NULL;
    status = code;
    goto cleanup;

tls_error : {
    unsigned long e = ERR_get_error();
    long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    snprintf(err, errlen, "%s: TLS: %s", t->url,
             v != X509_V_OK ? X509_verify_cert_error_string(v)
             : e != 0       ? ERR_reason_error_string(e)
                            : "handshake failed or timed out");
}
cleanup:
    if (ssl != NULL)
        SSL_free(ssl);
    if (fd >= 0)
        close(fd);
    free(buf);
    return status;
}

/* ---- the table ---- */

struct replica {
    struct target t;
    dom__jval_t *status; /* NULL: no answer */
    char problem[512];
};

static const char *short_hash(const char *h, char *buf)
{
    if (h == NULL || h[0] == '\0')
        return "-";
    snprintf(buf, 13, "%s", h);
    return buf;
}

static void fmt_time(double epoch, char *buf, size_t len)
{
    if (epoch <= 0) {
        snprintf(buf, len, "-");
        return;
    }
    time_t t = (time_t)epoch;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *rules_hash(const struct replica *r)
{
    return dom__jval_str(dom__jval_get(r->status, "rules"), "source_hash");
}

static const char *geo_hash(const struct replica *r)
{
    return dom__jval_str(dom__jval_get(r->status, "geo"), "sha256");
}

static int is_ready(const struct replica *r)
{
    const dom__jval_t *v = dom__jval_get(r->status, "ready");
    return v != NULL && v->type == DOM__J_BOOL && v->boolean;
}

/* Distinct non-NULL values of get() over the replicas that answered; prints "what: ..." groups if > 1. */
static size_t distinct(struct replica *rs, size_t n, const char *(*get)(const struct replica *), const char *what,
                       int report)
{
    size_t count = 0;
    for (size_t i = 0; i < n; ++i) {
        if (rs[i].status == NULL)
            continue;
        const char *h = get(&rs[i]);
        int seen = 0;
        for (size_t j = 0; j < i && !seen; ++j)
            seen = rs[j].status != NULL && ((get(&rs[j]) == NULL && h == NULL) ||
                                            (get(&rs[j]) != NULL && h != NULL && strcmp(get(&rs[j]), h) == 0));
        count += !seen;
    }
    if (report && count > 1) {
        fprintf(stderr, "domicile fleet: %s diverge (%zu different):", what, count);
        for (size_t i = 0; i < n; ++i)
            if (rs[i].status != NULL) {
                char b[16];
                const char *inst = dom__jval_str(rs[i].status, "instance");
                fprintf(stderr, " %s=%s", inst != NULL ? inst : rs[i].t.url, short_hash(get(&rs[i]), b));
            }
        fputc('\n', stderr);
    }
    return count;
}

static void print_regions(FILE *fp, const dom__jval_t *status)
{
    const dom__jval_t *regions = dom__jval_get(status, "regions");
    if (regions == NULL || regions->type != DOM__J_ARR || regions->n == 0) {
        fputs("-", fp);
        return;
    }
    for (size_t i = 0; i < regions->n; ++i) {
        const dom__jval_t *r = regions->items[i];
        const char *name = dom__jval_str(r, "name");
        fprintf(fp, "%s%s %.0f/%.0f", i ? " " : "", name != NULL ? name : "?", dom__jval_num(r, "nodes_up"),
                dom__jval_num(r, "nodes"));
    }
}

static void print_table(struct replica *rs, size_t n)
{
    printf("%-16s %-5s %-12s %-4s %-20s %-12s %-20s %-6s %s\n", "INSTANCE", "READY", "RULESET", "GEN", "RULES LOADED",
           "GEO", "GEO BUILT", "CONFIG", "REGIONS (nodes up)");
    for (size_t i = 0; i < n; ++i) {
        struct replica *r = &rs[i];
        if (r->status == NULL) {
            printf("%-16s %-5s %s\n", r->t.url, "?", r->problem);
            continue;
        }
        const dom__jval_t *rules = dom__jval_get(r->status, "rules"), *geo = dom__jval_get(r->status, "geo"),
                          *config = dom__jval_get(r->status, "config");
        const char *inst = dom__jval_str(r->status, "instance");
        char h1[16], h2[16], loaded[32], built[32];
        fmt_time(dom__jval_num(rules, "loaded_at"), loaded, sizeof(loaded));
        fmt_time(dom__jval_num(geo, "build_epoch"), built, sizeof(built));
        printf("%-16s %-5s %-12s %-4.0f %-20s %-12s %-20s %-6.0f ", inst != NULL ? inst : r->t.url,
               is_ready(r) ? "yes" : "NO", short_hash(rules_hash(r), h1), dom__jval_num(rules, "generation"), loaded,
               short_hash(geo_hash(r), h2), built, dom__jval_num(config, "generation"));
        print_regions(stdout, r->status);
        putchar('\n');
    }
}

static void print_json(struct replica *rs, size_t n, int converged)
{
    printf("{\"converged\":%s,\"replicas\":[", converged ? "true" : "false");
    for (size_t i = 0; i < n; ++i) {
        struct replica *r = &rs[i];
        printf("%s{\"url\":", i ? "," : "");
        dom__cli_json_str(stdout, r->t.url);
        printf(",\"instance\":");
        dom__cli_json_str(stdout, dom__jval_str(r->status, "instance"));
        printf(",\"answered\":%s,\"ready\":%s,\"ruleset\":", r->status ? "true" : "false",
               is_ready(r) ? "true" : "false");
        dom__cli_json_str(stdout, r->status ? rules_hash(r) : NULL);
        printf(",\"geo\":");
        dom__cli_json_str(stdout, r->status ? geo_hash(r) : NULL);
        printf(",\"problem\":");
        dom__cli_json_str(stdout, r->problem[0] ? r->problem : NULL);
        printf("}");
    }
    printf("]}\n");
}

static int read_token(struct options *o)
{
    FILE *fp = fopen(o->token_file, "r");
    if (fp == NULL) {
        fprintf(stderr, "domicile fleet: %s: %s\n", o->token_file, strerror(errno));
        return -1;
    }
    size_t n = fread(o->token, 1, TOKEN_MAX, fp);
    int extra = fgetc(fp) != EOF;
    fclose(fp);
    while (n > 0 && (o->token[n - 1] == '\n' || o->token[n - 1] == '\r' || o->token[n - 1] == ' '))
        --n;
    o->token[n] = '\0';
    if (n == 0 || extra || strpbrk(o->token, "\r\n") != NULL) {
        fprintf(stderr, "domicile fleet: %s: expected one token on one line (at most %d bytes)\n", o->token_file,
                TOKEN_MAX);
        return -1;
    }
    return 0;
}

static SSL_CTX *client_ctx(const struct options *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (!o->insecure) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if ((o->cacert != NULL ? SSL_CTX_load_verify_locations(ctx, o->cacert, NULL)
                               : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
            fprintf(stderr, "domicile fleet: cannot load CA certificates%s%s\n", o->cacert ? " from " : "",
                    o->cacert ? o->cacert : "");
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    if (o->cert != NULL && (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1 ||
                            SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) != 1)) {
        fprintf(stderr, "domicile fleet: cannot load the client certificate %s and key %s\n", o->cert, o->key);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int fleet_status(int argc, char **argv)
{
    struct options o = {.timeout_ms = 5000};
    struct replica *rs = calloc((size_t)argc, sizeof(*rs));
    size_t n = 0;
    int ret = 2;
    SSL_CTX *ctx = NULL;
    if (rs == NULL)
        goto cleanup;
    for (int i = 1; i < argc; ++i) {
        const char *a = argv[i];
        const char **slot = strcmp(a, "--token-file") == 0 ? &o.token_file
                            : strcmp(a, "--cacert") == 0   ? &o.cacert
                            : strcmp(a, "--cert") == 0     ? &o.cert
                            : strcmp(a, "--key") == 0      ? &o.key
                                                           : NULL;
        if (slot != NULL || strcmp(a, "--timeout") == 0) {
            if (i + 1 >= argc) {
                fprintf(stderr, "domicile fleet status: %s needs a value\n", a);
                goto cleanup;
            }
            if (slot != NULL) {
                *slot = argv[++i];
            } else {
                char *end;
                double s = strtod(argv[++i], &end);
                if (*end != '\0' || !(s > 0 && s <= 300)) {
                    fprintf(stderr, "domicile fleet status: --timeout takes seconds (0 < s <= 300)\n");
                    goto cleanup;
                }
                o.timeout_ms = (int)(s * 1000);
            }
        } else if (strcmp(a, "--insecure") == 0) {
            o.insecure = 1;
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            ret = 0;
            goto cleanup;
        } else if (a[0] == '-') {
            fprintf(stderr, "domicile fleet status: unknown option \"%s\"\n", a);
            usage(stderr);
            goto cleanup;
        } else {
            char err[256];
            if (parse_url(a, &rs[n].t, err, sizeof(err)) != 0) {
                fprintf(stderr, "domicile fleet status: %s\n", err);
                goto cleanup;
            }
            ++n;
        }
    }
    if (n == 0) {
        fprintf(stderr, "domicile fleet status: name at least one admin listener URL\n");
        usage(stderr);
        goto cleanup;
    }
    if ((o.cert != NULL) != (o.key != NULL)) {
        fprintf(stderr, "domicile fleet status: --cert and --key go together\n");
        goto cleanup;
    }
    if (o.token_file != NULL && read_token(&o) != 0)
        goto cleanup;
    for (size_t i = 0; i < n; ++i)
        if (rs[i].t.tls && ctx == NULL && (ctx = client_ctx(&o)) == NULL)
            goto cleanup;

    for (size_t i = 0; i < n; ++i) {
        char *body = NULL;
        int code = http_get(&rs[i].t, &o, ctx, &body, rs[i].problem, sizeof(rs[i].problem));
        if (code == 200) {
            rs[i].status = dom__json_parse(body, strlen(body));
            if (rs[i].status == NULL || rs[i].status->type != DOM__J_OBJ) {
                dom__jval_free(rs[i].status);
                rs[i].status = NULL;
                snprintf(rs[i].problem, sizeof(rs[i].problem), "%s: the answer is not a /status JSON object",
                         rs[i].t.url);
            }
        } else if (code > 0) {
            snprintf(rs[i].problem, sizeof(rs[i].problem), "%s: HTTP %d%s", rs[i].t.url, code,
                     code == 401 ? " (needs --token-file or a client certificate)" : "");
        }
        free(body);
    }

    int converged = 1;
    for (size_t i = 0; i < n; ++i) {
        if (rs[i].status == NULL) {
            fprintf(stderr, "domicile fleet: %s\n", rs[i].problem);
            converged = 0;
        } else if (!is_ready(&rs[i])) {
            const char *why = dom__jval_str(rs[i].status, "not_ready"), *inst = dom__jval_str(rs[i].status, "instance");
            fprintf(stderr, "domicile fleet: %s is not ready: %s\n", inst != NULL ? inst : rs[i].t.url,
                    why != NULL ? why : "?");
            converged = 0;
        }
    }
    if (distinct(rs, n, rules_hash, "rule sets", !o.json) > 1)
        converged = 0;
    if (distinct(rs, n, geo_hash, "geo databases", !o.json) > 1)
        converged = 0;
    if (o.json)
        print_json(rs, n, converged);
    else
        print_table(rs, n);
    ret = converged ? 0 : 1;

cleanup:
    for (size_t i = 0; rs != NULL && i < n; ++i)
        dom__jval_free(rs[i].status);
    free(rs);
    SSL_CTX_free(ctx);
    OPENSSL_cleanse(o.token, sizeof(o.token));
    return ret;
}

int dom_cli_fleet(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "status") == 0)
        return fleet_status(argc - 1, argv + 1);
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "domicile fleet: expected \"status\"\n");
    usage(stderr);
    return 2;
}

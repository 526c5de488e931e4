/*
 * The gateway process: start-up checks, listeners (TLS with ALPN h2/http1.1, cleartext
 * with h2c), one event loop per thread (SO_REUSEPORT: one listening socket per thread),
 * and the drain on SIGTERM. Requests are handled in handler.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "gateway/admin.h"
#include "gateway/audit.h"
#include "gateway/gateway.h"
#include "gateway/georeload.h"
#include "gateway/h2limits.h"
#include "gateway/health.h"
#include "gateway/server.h"

#define DRAIN_IDLE_CLOSE_MS 1000

static int draining_flag, force_exit_flag;
/* The running server stays reachable until exit: threads may hold h2o state when serve() returns. */
static dom__server_t *running_server;

/*
 * LeakSanitizer: libh2o keeps per-thread recycled chunks that become unreachable when a
 * worker thread ends; they are h2o's, freed by the process exit. Compiled into AddressSanitizer
 * builds only (GCC defines __SANITIZE_ADDRESS__, clang answers __has_feature): elsewhere the
 * binary exports no sanitizer hook.
 */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DOM_ASAN_BUILD 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(DOM_ASAN_BUILD)
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void)
{
    return "leak:h2o_mem_alloc_recycle\nleak:libh2o-evloop.so\n";
}
#endif

static void report_ssl(dom_diag_t *diag, const char *file, const dom_mark_t *mark, const char *what, const char *path)
{
    char buf[256] = "";
    unsigned long e = ERR_get_error();
    if (e != 0)
        ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    dom_diag_report(diag, file, mark, 0, "cannot load %s %s: %s", what, path, buf[0] ? buf : "unknown error");
}

/* A TLS server context with a certificate chain and its key (no ALPN: the caller adds what it speaks). */
static SSL_CTX *server_ssl_ctx(const char *certificate, const char *key, const dom_mark_t *mark, const char *file,
                               dom_diag_t *diag)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
    /* With server preference, OpenSSL's default TLS 1.3 order would pick AES-256-GCM: AES-128-GCM is
     * as safe for this use and cheaper per record (h2o's own default order does the same). */
    SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256");
    if (SSL_CTX_use_certificate_chain_file(ctx, certificate) != 1) {
        report_ssl(diag, file, mark, "certificate", certificate);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        report_ssl(diag, file, mark, "key", key);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        dom_diag_report(diag, file, mark, 0, "key %s does not match certificate %s", key, certificate);
        goto fail;
    }
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

static SSL_CTX *listener_ssl_ctx(const dom_config_listener_t *l, const char *file, dom_diag_t *diag)
{
    SSL_CTX *ctx = server_ssl_ctx(l->tls_certificate, l->tls_key, &l->tls_mark, file, diag);
    if (ctx != NULL)
        h2o_ssl_register_alpn_protocols(ctx, h2o_alpn_protocols); /* h2, http/1.1 */
    return ctx;
}

/*
 * The client context of one https:// node: TLS 1.2 or later, the node's certificate verified against
 * upstream.tls_ca or the system store, and OpenSSL itself checks that it names the node's host
 * (a DNS name, or an IP address SAN for numeric hosts) before the handshake succeeds.
 */
static SSL_CTX *node_ssl_ctx(const dom_config_t *cfg, const dom_config_node_t *node, dom_diag_t *diag)
{
    const char *ca = node->upstream.tls_ca;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        report_ssl(diag, cfg->file, &node->mark, "TLS client context for", node->url);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if ((ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL) : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
        report_ssl(diag, cfg->file, ca != NULL ? &node->upstream.tls_ca_mark : &node->mark, "upstream.tls_ca",
                   ca != NULL ? ca : "(system store)");
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    X509_VERIFY_PARAM *param = SSL_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, node->host) != 1 &&
        X509_VERIFY_PARAM_set1_host(param, node->host, 0) != 1) {
        report_ssl(diag, cfg->file, &node->mark, "the host name of", node->url);
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/*
 * admin.tls: HTTP/1.1 only (no ALPN), no session resumption (one request per connection, and no
 * ticket key to keep), and with client_ca a client certificate it signed is verified in the
 * handshake: required there, or (open_probes) optional, in which case a client without one gets
 * the probes only (admin.c).
 */
static SSL_CTX *admin_ssl_ctx(const dom_config_t *cfg, dom_diag_t *diag)
{
    SSL_CTX *ctx =
        server_ssl_ctx(cfg->admin.tls_certificate, cfg->admin.tls_key, &cfg->admin.tls_mark, cfg->file, diag);
    if (ctx == NULL)
        return NULL;
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_num_tickets(ctx, 0);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    const char *ca = cfg->admin.tls_client_ca;
    if (ca == NULL)
        return ctx;
    STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca);
    if (names == NULL || SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        report_ssl(diag, cfg->file, &cfg->admin.tls_mark, "admin.tls.client_ca", ca);
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_client_CA_list(ctx, names); /* the CAs a client is told to pick a certificate for */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | (cfg->admin.open_probes ? 0 : SSL_VERIFY_FAIL_IF_NO_PEER_CERT), NULL);
    static const unsigned char sid_ctx[] = "domicile-admin";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    return ctx;
}

static int geo_has_subdivisions(void *geo, const char *country)
{
    return dom_geo_has_subdivisions(geo, country);
}

/* Opens and cross-checks everything the config names. Returns the number of errors. */
static size_t prepare(dom__server_t *srv, dom_diag_t *diag)
{
    dom_config_t *cfg = srv->config;
    char err[512] = "";
    size_t before = diag->errors;

    if (cfg->rules == NULL) {
        /* only a config with errors gets here without one: they are reported already */
    } else if (dom__rules_file_open(cfg->rules, &srv->rules, err, sizeof(err)) != 0) {
        /* the store's message starts with the path already */
        if (err[0])
            dom_diag_report(diag, cfg->file, &cfg->rules_mark, 0, "rules database %s", err);
        else
            dom_diag_report(diag, cfg->file, &cfg->rules_mark, 0, "rules database %s: cannot open", cfg->rules);
    } else {
        dom_ruleset_t *rs = dom_rules_store_current(srv->rules->store);
        dom_config_check_regions(cfg, rs, diag);
        dom_ruleset_release(rs);
    }

    dom_geo_options_t opts = dom_config_geo_options(cfg);
    if (cfg->geo.database != NULL) {
        err[0] = '\0';
        /* the geo module's message names the file already ("geo database \"P\": ...") */
        if (dom_geo_open(cfg->geo.database, &opts, &srv->geo, err, sizeof(err)) != 0)
            dom_diag_report(diag, cfg->file, &cfg->geo.mark, 0, "%s", err[0] ? err : "geo database: cannot open");
    } else {
        if (cfg->geo.mark.line == 0) /* not a geo.database with an error (reported already) */
            dom_diag_report(diag, cfg->file, NULL, 1,
                            "no geo database: every location is unknown and gets the default rule (fail closed)");
        if (dom_geo_open_none(&opts, &srv->geo) != 0)
            dom_diag_report(diag, cfg->file, NULL, 0, "cannot set up geolocation");
    }

    if (cfg->geo.database != NULL && srv->geo != NULL && srv->rules != NULL) {
        /* subdivision rules the database cannot apply: say what the gateway does instead (the one text, policy.h) */
        char words[1024];
        dom_ruleset_t *rs = dom_rules_store_current(srv->rules->store);
        if (dom_policy_subdivision_warning(rs, (int64_t)time(NULL), geo_has_subdivisions, srv->geo, words,
                                           sizeof(words)) != 0)
            dom_diag_report(diag, cfg->file, &cfg->geo.mark, 1, "%s", words);
        dom_ruleset_release(rs);
    }

    /* pin keys, audit hash key, admin token: refused when other users could replace them */
    dom_config_check_secrets(cfg, diag);
    if (cfg->pins.keys != NULL) {
        err[0] = '\0';
        if (dom_pin_keyring_load(cfg->pins.keys, &srv->keyring, err, sizeof(err)) != 0)
            dom_diag_report(diag, cfg->file, &cfg->pins.mark, 0, "pin keys: %s", err[0] ? err : cfg->pins.keys);
    }
    if (cfg->consent.keys != NULL) {
        err[0] = '\0';
        if (dom_pin_keyring_load(cfg->consent.keys, &srv->consent_keyring, err, sizeof(err)) != 0)
            dom_diag_report(diag, cfg->file, &cfg->consent.keys_mark, 0, "consent keys: %s",
                            err[0] ? err : cfg->consent.keys);
    }
    /* without the list it was told to honour, the gateway cannot know what is revoked: it does not start */
    if (cfg->consent.revocations != NULL) {
        err[0] = '\0';
        if (dom__revocations_open(cfg->consent.revocations, 1, &srv->revocations, err, sizeof(err)) != 0)
            dom_diag_report(diag, cfg->file, &cfg->consent.revocations_mark, 0, "consent revocations: %s",
                            err[0] ? err : cfg->consent.revocations);
    }
    if (cfg->admin.token_file != NULL) {
        err[0] = '\0';
        if (dom__admin_token_load(cfg->admin.token_file, srv->admin_token_sha256, err, sizeof(err)) != 0)
            dom_diag_report(diag, cfg->file, &cfg->admin.token_mark, 0, "%s", err);
        else
            srv->has_admin_token = 1;
    }
    if (cfg->admin.tls_certificate != NULL && cfg->admin.listen != NULL)
        srv->admin_ssl = admin_ssl_ctx(cfg, diag);

    if ((srv->listener_ssl = calloc(cfg->n_listeners + 1, sizeof(SSL_CTX *))) == NULL)
        return ++diag->errors;
    for (size_t i = 0; i < cfg->n_listeners; ++i)
        if (cfg->listeners[i].tls_certificate != NULL)
            srv->listener_ssl[i] = listener_ssl_ctx(&cfg->listeners[i], cfg->file, diag);

    /* https:// nodes: one client context each, which verifies that node's certificate (name or address) */
    size_t n_nodes = 0;
    for (size_t i = 0; i < cfg->n_clusters; ++i)
        n_nodes += cfg->clusters[i].n_nodes;
    if ((srv->node_ssl = calloc(n_nodes ? n_nodes : 1, sizeof(SSL_CTX *))) == NULL)
        return ++diag->errors;
    for (size_t i = 0, k = 0; i < cfg->n_clusters; ++i)
        for (size_t j = 0; j < cfg->clusters[i].n_nodes; ++j, ++k)
            if (cfg->clusters[i].nodes[j].tls)
                srv->node_ssl[k] = node_ssl_ctx(cfg, &cfg->clusters[i].nodes[j], diag);
    return diag->errors - before;
}

static int open_listener(const dom_config_listener_t *l, int receive_buffer, char *err, size_t errlen)
{
    int fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), on = 1;
    if (fd < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) != 0)
        goto fail;
    if (l->addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) != 0)
        goto fail;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    /* accepted sockets inherit it: h2o reads a socket until EAGAIN, so this bounds each connection's read buffer */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof(receive_buffer));
    if (bind(fd, (const struct sockaddr *)&l->addr, l->addrlen) != 0 || listen(fd, SOMAXCONN) != 0)
        goto fail;
    return fd;
fail:
    snprintf(err, errlen, "%s", strerror(errno));
    if (fd >= 0)
        close(fd);
    return -1;
}

static void on_connection_close(void *data)
{
    dom__worker_t *w = data;
    if (--w->open_connections == 0 && w->draining)
        __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err != NULL)
        return;
    h2o_accept_ctx_t *actx = listener->data;
    dom__worker_t *w = H2O_STRUCT_FROM_MEMBER(dom__worker_t, ctx, actx->ctx);
    int proxy_protocol = w->server->config->listeners[actx - w->accept_ctxs].proxy_protocol;
    for (int i = 0; i < 32; ++i) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (sock == NULL)
            return;
        /* counted so the drain knows when the last connection is gone */
        ++w->open_connections;
        sock->on_close.cb = on_connection_close;
        sock->on_close.data = w;
        /* PROXY v1/v2 is read by domicile before TLS and h2o (proxyproto_accept.c) */
        if (proxy_protocol)
            dom__proxyproto_accept(w, actx, sock);
        else
            h2o_accept(actx, sock);
    }
}

static void on_notify(h2o_multithread_receiver_t *receiver, h2o_linklist_t *messages)
{
    /* wake-ups only (messages are NULL); the loop in run_worker looks at the flags */
}

static void start_drain(dom__worker_t *w)
{
    dom__server_t *srv = w->server;
    w->draining = 1;
    dom__proxyproto_drain(w);
    for (size_t i = 0; i < srv->config->n_listeners; ++i) {
        if (w->listeners[i] != NULL) {
            h2o_socket_read_stop(w->listeners[i]);
            h2o_socket_close(w->listeners[i]);
            w->listeners[i] = NULL;
        }
    }
    /* HTTP/2: GOAWAY; HTTP/1: requests parsed from now on get Connection: close */
    h2o_context_request_shutdown(&w->ctx);
    /*
     * h2o 2.2.5 leaves idle HTTP/1.1 keep-alive connections (and idle HTTP/2 ones) open until
     * their timeouts. Both wait on per-context timeout lists; shortening those lists' timeout
     * closes every connection that is waiting for a next request within a second, while
     * requests being processed are not on those lists and finish normally.
     */
    uint64_t idle = srv->config->limits.drain_timeout_ms < DRAIN_IDLE_CLOSE_MS ? srv->config->limits.drain_timeout_ms
                                                                               : DRAIN_IDLE_CLOSE_MS;
    w->ctx.http1.req_timeout.timeout = idle;
    w->ctx.http2.idle_timeout.timeout = idle;
    if (w->open_connections == 0)
        __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
}

static void *run_worker(void *arg)
{
    dom__worker_t *w = arg;
    while (!__atomic_load_n(&w->done, __ATOMIC_ACQUIRE)) {
        h2o_evloop_run(w->ctx.loop, INT32_MAX);
        if (__atomic_load_n(&force_exit_flag, __ATOMIC_ACQUIRE))
            break;
        if (!w->draining && __atomic_load_n(&draining_flag, __ATOMIC_ACQUIRE))
            start_drain(w);
    }
    __atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int init_worker(dom__server_t *srv, dom__worker_t *w, size_t index, char *err, size_t errlen)
{
    dom_config_t *cfg = srv->config;
    w->server = srv;
    w->index = index;
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_context_init(&w->ctx, loop, &srv->globalconf);
    w->queue = h2o_multithread_create_queue(loop);
    h2o_multithread_register_receiver(w->queue, &w->notify, on_notify);
    dom__rng_seed(w->rng);
    dom__proxyproto_init(w);
    if (dom__metrics_init(&w->metrics, 512) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    w->live = dom__live_acquire(&srv->live, &w->live_generation);
    if (dom__upstream_init(&w->upstream, cfg, srv->health, w, cfg->threads) != 0) {
        snprintf(err, errlen, "cannot set up the upstream nodes");
        return -1;
    }
    w->listeners = calloc(cfg->n_listeners, sizeof(*w->listeners));
    w->accept_ctxs = calloc(cfg->n_listeners, sizeof(*w->accept_ctxs));
    w->listen_fds = calloc(cfg->n_listeners, sizeof(int));
    if (w->listeners == NULL || w->accept_ctxs == NULL || w->listen_fds == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->n_listeners; ++i) {
        const dom_config_listener_t *l = &cfg->listeners[i];
        char why[128];
        int fd = open_listener(l, (int)cfg->limits.receive_buffer, why, sizeof(why));
        if (fd < 0) {
            snprintf(err, errlen, "%s:%zu:%zu: cannot listen on %s: %s", cfg->file, l->mark.line, l->mark.col,
                     l->address, why);
            return -1;
        }
        w->listen_fds[i] = fd;
        h2o_accept_ctx_t *actx = &w->accept_ctxs[i];
        actx->ctx = &w->ctx;
        actx->hosts = srv->globalconf.hosts;
        actx->ssl_ctx = srv->listener_ssl[i];
        actx->expect_proxy_line = 0; /* h2o's own reader knows only v1 and lets a missing header through */
        w->listeners[i] = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
        w->listeners[i]->data = actx;
        h2o_socket_read_start(w->listeners[i], on_accept);
    }
    return 0;
}

static void setup_globalconf(dom__server_t *srv)
{
    dom_config_t *cfg = srv->config;
    h2o_globalconf_t *gc = &srv->globalconf;
    h2o_config_init(gc);
    /* before any h2o_context_init, which copies some of these */
    gc->server_name = h2o_iovec_init(H2O_STRLIT("domicile"));
    uint64_t largest = dom_config_largest_body(cfg);
    gc->max_request_entity_size = largest > SIZE_MAX ? SIZE_MAX : (size_t)largest;
    dom__h2limits_apply(gc, cfg, stderr); /* header list, CONTINUATION, request bodies, Rapid Reset */
    /* h2o's proxy is not used: requests go upstream through forward.c, which rebuilds nothing the handler set */
    h2o_hostconf_t *host = h2o_config_register_host(gc, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(path, sizeof(*handler));
    handler->on_req = dom__handler_on_req;
}

static void print_listening(const dom_config_t *cfg, size_t threads)
{
    for (size_t i = 0; i < cfg->n_listeners; ++i)
        fprintf(stderr, "domicile: listening on %s (%s%s)\n", cfg->listeners[i].address,
                cfg->listeners[i].tls_certificate != NULL ? "TLS: h2, http/1.1" : "cleartext: http/1.1, h2c",
                cfg->listeners[i].proxy_protocol ? ", PROXY protocol v1/v2" : "");
    fprintf(stderr, "domicile: ready (%zu threads, %zu clusters)\n", threads, cfg->n_clusters);
}

static int read_key_file(const char *path, unsigned char **key, size_t *len, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    unsigned char buf[1024];
    size_t n = fp != NULL ? fread(buf, 1, sizeof(buf), fp) : 0;
    if (fp != NULL)
        fclose(fp);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
        --n;
    if (fp == NULL || n < 16) {
        snprintf(err, errlen, "audit.hash_key_file %s: %s", path,
                 fp == NULL ? strerror(errno) : "needs at least 16 bytes of secret");
        return -1;
    }
    if ((*key = malloc(n)) == NULL)
        return -1;
    memcpy(*key, buf, n);
    *len = n;
    return 0;
}

/*
 * The key the audit log's checkpoints are signed with: audit.key_id (or the first key) of audit.key_file, else of
 * pins.keys; none (kid "") when neither file is configured. Returns 0, or -1 with a message.
 */
static int audit_checkpoint_key(const dom_config_t *cfg, dom_auditlog_key_t *out, char *err, size_t errlen)
{
    /* read here, not borrowed from the pin keyring: the settings own that one, and it is swapped on SIGHUP */
    const char *file = cfg->audit.key_file != NULL ? cfg->audit.key_file : cfg->pins.keys;
    dom_pin_keyring_t ring = {0};
    int ret = -1;
    memset(out, 0, sizeof(*out));
    if (file == NULL)
        return 0;
    if (dom_pin_keyring_load(file, &ring, err, errlen) != 0)
        goto cleanup;
    const dom_pin_key_t *key = NULL;
    for (size_t i = 0; key == NULL && i < ring.count; ++i)
        if (cfg->audit.key_id == NULL || strcmp(ring.keys[i].kid, cfg->audit.key_id) == 0)
            key = &ring.keys[i];
    if (key == NULL) {
        snprintf(err, errlen, "audit.key_id \"%s\": no such key in %s",
                 cfg->audit.key_id != NULL ? cfg->audit.key_id : "", file);
        goto cleanup;
    }
    if (dom_auditlog_key_derive(key, out) != DOM_OK) {
        snprintf(err, errlen, "out of memory");
        goto cleanup;
    }
    ret = 0;

cleanup:
    dom_pin_keyring_free(&ring);
    return ret;
}

/* The geo watcher swapped in a new database: published with the settings in use. */
static void publish_geo(void *ctx, dom_geo_t *geo)
{
    dom__server_t *srv = ctx;
    if (dom__live_publish(&srv->live, NULL, geo, NULL) != 0)
        fprintf(stderr, "domicile: out of memory publishing the new geo database\n");
}

/* The rules watcher opened a new file (delivered by rename or symlink swap): published with the rest. */
static void publish_rules(void *ctx, dom__rules_file_t *file)
{
    dom__server_t *srv = ctx;
    if (dom__live_publish(&srv->live, NULL, NULL, file) != 0)
        fprintf(stderr, "domicile: out of memory publishing the new rules database\n");
}

/* The revocation watcher loaded a changed list: published with the rest. */
static void publish_revocations(void *ctx, dom__revocations_t *list)
{
    dom__server_t *srv = ctx;
    if (dom__live_publish_revocations(&srv->live, list) != 0)
        fprintf(stderr, "domicile: out of memory publishing the new consent revocations\n");
}

/* Audit log, live settings, geo watcher and health checks: before the workers exist (the admin listener comes after).
 */
static int start_ops(dom__server_t *srv, size_t n_nodes)
{
    dom_config_t *cfg = srv->config;
    char err[512] = "";
    /* the start-up config stays the server's; the settings only borrow it */
    if ((srv->settings = dom__settings_new(cfg, 0, &srv->keyring)) != NULL) {
        srv->settings->consent_keyring = srv->consent_keyring;
        srv->consent_keyring = (dom_pin_keyring_t){0};
        srv->settings->has_admin_token = srv->has_admin_token;
        memcpy(srv->settings->admin_token_sha256, srv->admin_token_sha256, sizeof(srv->admin_token_sha256));
    }
    if (srv->settings == NULL || dom__live_init(&srv->live, srv->settings, srv->geo, srv->rules) != 0 ||
        dom__rulesreload_start(srv->rules, (unsigned)cfg->geo_reload_poll_ms, publish_rules, srv, &srv->rulesreload) !=
            0) {
        fprintf(stderr, "domicile: out of memory\n");
        return -1;
    }
    if (srv->revocations != NULL && (dom__live_publish_revocations(&srv->live, srv->revocations) != 0 ||
                                     dom__consentreload_start(srv->revocations, (unsigned)cfg->geo_reload_poll_ms,
                                                              publish_revocations, srv, &srv->consentload) != 0)) {
        fprintf(stderr, "domicile: out of memory\n");
        return -1;
    }
    if (cfg->audit.path != NULL) {
        dom__audit_options_t ao = {
            .path = cfg->audit.path,
            .addr_mode = (dom__audit_addr_mode_t)cfg->audit.client_address,
            .ipv4_prefix = cfg->audit.ipv4_prefix,
            .ipv6_prefix = cfg->audit.ipv6_prefix,
            .buffer_size = cfg->audit.buffer,
            .instance = cfg->instance,
            .checkpoint_lines = cfg->audit.checkpoint_lines,
            .checkpoint_ms = cfg->audit.checkpoint_interval_ms,
            .state_path = cfg->audit.state_file,
        };
        dom_auditlog_key_t checkpoint_key;
        if (audit_checkpoint_key(cfg, &checkpoint_key, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s: %s\n", cfg->file, err);
            return -1;
        }
        ao.checkpoint_key = checkpoint_key.kid[0] != '\0' ? &checkpoint_key : NULL;
        unsigned char *key = NULL;
        if (cfg->audit.hash_key_file != NULL &&
            read_key_file(cfg->audit.hash_key_file, &key, &ao.hash_key_len, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s: %s\n", cfg->file, err);
            return -1;
        }
        ao.hash_key = key;
        int ret = dom__audit_open(&ao, cfg->threads, &srv->audit, err, sizeof(err));
        OPENSSL_cleanse(&checkpoint_key, sizeof(checkpoint_key));
        if (key != NULL)
            OPENSSL_cleanse(key, ao.hash_key_len);
        free(key);
        if (ret != 0) {
            fprintf(stderr, "%s:%zu:%zu: %s\n", cfg->file, cfg->audit.mark.line, cfg->audit.mark.col, err);
            return -1;
        }
    }
    if (cfg->geo.database != NULL) {
        dom_geo_options_t opts = dom_config_geo_options(cfg); /* copied by the watcher */
        if (dom__georeload_start(cfg->geo.database, &opts, srv->geo, (unsigned)cfg->geo_reload_poll_ms, publish_geo,
                                 srv, &srv->georeload, err, sizeof(err)) != 0) {
            fprintf(stderr, "domicile: %s\n", err);
            return -1;
        }
    }
    if (dom__health_start(srv->health, n_nodes, NULL, &srv->healthmon) != 0) {
        fprintf(stderr, "domicile: cannot start health checks\n");
        return -1;
    }
    return 0;
}

static int serve(dom__server_t *srv)
{
    dom_config_t *cfg = srv->config;
    size_t n_nodes = 0;
    for (size_t i = 0; i < cfg->n_clusters; ++i)
        n_nodes += cfg->clusters[i].n_nodes;
    if ((srv->health = calloc(n_nodes ? n_nodes : 1, sizeof(*srv->health))) == NULL)
        return 1;
    for (size_t i = 0, k = 0; i < cfg->n_clusters; ++i) {
        for (size_t j = 0; j < cfg->clusters[i].n_nodes; ++j, ++k) {
            /* up until the checks say otherwise: a fresh start serves at once */
            srv->health[k].up = 1;
            srv->health[k].cluster = &cfg->clusters[i];
            srv->health[k].node = &cfg->clusters[i].nodes[j];
            srv->health[k].ssl = srv->node_ssl[k];
        }
    }
    srv->start_time = (int64_t)time(NULL);
    srv->config_loaded_at = srv->start_time;

    setup_globalconf(srv);

    /* Signals are taken by the main thread only: block them before any other thread exists, so
     * every thread inherits the mask (an unblocked helper thread would take SIGTERM's default
     * action and end the process without draining). */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (start_ops(srv, n_nodes) != 0)
        return 1;

    srv->n_workers = cfg->threads;
    if ((srv->workers = calloc(srv->n_workers, sizeof(*srv->workers))) == NULL)
        return 1;
    for (size_t i = 0; i < srv->n_workers; ++i) {
        char err[512] = "";
        if (init_worker(srv, &srv->workers[i], i, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    /* after the workers' state exists: the admin thread reads their metrics */
    if (cfg->admin.listen != NULL) {
        char err[512] = "";
        if (dom__admin_start(srv, &srv->admin, err, sizeof(err)) != 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
    }
    for (size_t i = 0; i < srv->n_workers; ++i) {
        if (pthread_create(&srv->workers[i].thread, NULL, run_worker, &srv->workers[i]) != 0) {
            fprintf(stderr, "domicile: cannot start thread: %s\n", strerror(errno));
            return 1;
        }
    }
    __atomic_store_n(&srv->accepting, 1, __ATOMIC_RELEASE);
    print_listening(cfg, srv->n_workers);

    int sig = 0;
    for (;;) {
        sigwait(&set, &sig);
        if (sig == SIGUSR1) {
            fprintf(stderr, "domicile: SIGUSR1: reopening the audit log\n");
            dom__audit_reopen(srv->audit);
        } else if (sig == SIGHUP) {
            /* what can change safely without a restart (docs/operations.md); rules reload by themselves */
            fprintf(stderr, "domicile: SIGHUP: re-reading %s, checking the geo database, reopening the audit log\n",
                    cfg->file);
            dom__reload_config(srv);
            dom__georeload_poke(srv->georeload);
            dom__rulesreload_poke(srv->rulesreload);
            dom__consentreload_poke(srv->consentload);
            dom__audit_reopen(srv->audit);
        } else {
            break;
        }
    }
    sigdelset(&set, SIGHUP);
    sigdelset(&set, SIGUSR1);
    fprintf(stderr, "domicile: %s: draining (up to %llu ms)\n", sig == SIGTERM ? "SIGTERM" : "SIGINT",
            (unsigned long long)cfg->limits.drain_timeout_ms);
    __atomic_store_n(&draining_flag, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&srv->accepting, 0, __ATOMIC_RELEASE); /* /readyz: 503 from now on */
    for (size_t i = 0; i < srv->n_workers; ++i)
        h2o_multithread_send_message(&srv->workers[i].notify, NULL);

    /* wait for every thread to finish its connections, or the drain bound */
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        size_t done = 0;
        for (size_t i = 0; i < srv->n_workers; ++i)
            done += __atomic_load_n(&srv->workers[i].done, __ATOMIC_ACQUIRE) != 0;
        if (done == srv->n_workers)
            break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        int64_t elapsed = (int64_t)(now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000;
        if (elapsed >= (int64_t)cfg->limits.drain_timeout_ms) {
            fprintf(stderr, "domicile: drain timeout: closing the remaining connections\n");
            __atomic_store_n(&force_exit_flag, 1, __ATOMIC_RELEASE);
            for (size_t i = 0; i < srv->n_workers; ++i)
                h2o_multithread_send_message(&srv->workers[i].notify, NULL);
            break;
        }
        /* a second signal means: stop now */
        struct timespec tick = {0, 20 * 1000 * 1000};
        if (sigtimedwait(&set, NULL, &tick) > 0) {
            __atomic_store_n(&force_exit_flag, 1, __ATOMIC_RELEASE);
            for (size_t i = 0; i < srv->n_workers; ++i)
                h2o_multithread_send_message(&srv->workers[i].notify, NULL);
            break;
        }
    }
    for (size_t i = 0; i < srv->n_workers; ++i)
        pthread_join(srv->workers[i].thread, NULL);
    /* the admin thread reads the audit log's stats: it goes first */
    dom__admin_stop(srv->admin);
    /* the workers are gone: every audit line they queued is written before exit */
    dom__audit_close(srv->audit);
    srv->audit = NULL;
    dom__health_stop(srv->healthmon);
    dom__georeload_stop(srv->georeload);
    dom__rulesreload_stop(srv->rulesreload);
    srv->rulesreload = NULL;
    dom__consentreload_stop(srv->consentload);
    srv->consentload = NULL;
    srv->admin = NULL;
    srv->healthmon = NULL;
    srv->georeload = NULL;
    fprintf(stderr, "domicile: stopped\n");
    return 0;
}

int dom_gateway_main(const char *config_path, int check_only)
{
    dom_diag_t diag = {0};
    dom__server_t *srv = calloc(1, sizeof(*srv));
    int status = 1;
    if (srv == NULL)
        return 1;
    /* A config with errors is still checked against everything it names, so one run reports every
     * problem (a typo in one key does not hide a cluster's unknown region); it is never served. */
    int loaded = dom_config_load_partial(config_path, &srv->config, &diag);
    if (srv->config == NULL)
        goto cleanup;
    if (prepare(srv, &diag) != 0 || loaded != 0)
        goto cleanup;
    if (check_only) {
        printf("domicile: the configuration file %s syntax is ok\n"
               "domicile: configuration file %s test is successful%s\n",
               config_path, config_path, diag.warnings ? " (with warnings)" : "");
        status = 0;
        goto cleanup;
    }
    /* Threads may still hold h2o state at exit: the server's memory is left to the process exit. */
    running_server = srv;
    return serve(srv);

cleanup:
    if (status != 0 && check_only)
        fprintf(stderr, "domicile: configuration file %s test failed\n", config_path);
    dom__rules_file_release(srv->rules);
    dom_geo_release(srv->geo);
    dom_pin_keyring_free(&srv->keyring);
    dom_pin_keyring_free(&srv->consent_keyring);
    dom__revocations_release(srv->revocations);
    if (srv->listener_ssl != NULL && srv->config != NULL)
        for (size_t i = 0; i < srv->config->n_listeners; ++i)
            SSL_CTX_free(srv->listener_ssl[i]);
    free(srv->listener_ssl);
    if (srv->node_ssl != NULL && srv->config != NULL) {
        size_t n_nodes = 0;
        for (size_t i = 0; i < srv->config->n_clusters; ++i)
            n_nodes += srv->config->clusters[i].n_nodes;
        for (size_t k = 0; k < n_nodes; ++k)
            SSL_CTX_free(srv->node_ssl[k]);
    }
    free(srv->node_ssl);
    SSL_CTX_free(srv->admin_ssl);
    OPENSSL_cleanse(srv->admin_token_sha256, sizeof(srv->admin_token_sha256));
    dom_config_free(srv->config);
    free(srv);
    return status;
}

/*
 * Node health (see health.h). One thread per node keeps the checks independent: a node
 * that hangs until its timeout never delays another node's check. The threads sleep in
 * poll() on a shared stop pipe, so stopping is immediate.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include "gateway/health.h"
#include "gateway/metrics.h"

struct checker {
    dom__health_t *owner;
    dom__node_health_t *node;
    pthread_t thread;
    int started;
};

struct dom__health {
    struct checker *checkers;
    size_t n;
    SSL_CTX *ssl;
    int stop[2];
};

int64_t dom__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_up(dom__node_health_t *n, int up, const char *why)
{
    if (__atomic_exchange_n(&n->up, up, __ATOMIC_RELAXED) == up)
        return;
    __atomic_add_fetch(&n->transitions, 1, __ATOMIC_RELAXED);
    if (up)
        __atomic_store_n(&n->passive_streak, 0, __ATOMIC_RELAXED);
    fprintf(stderr, "domicile: node %s (cluster %s, region %s) is %s%s%s\n", n->node->url, n->cluster->name,
            n->cluster->region, up ? "up" : "DOWN", why ? ": " : "", why ? why : "");
}

void dom__health_refused(dom__node_health_t *n)
{
    __atomic_add_fetch(&n->passive_failures, 1, __ATOMIC_RELAXED);
    if (n->cluster->health.passive_fall == 0)
        return;
    /* a refused (or unanswered) connect is not a burst of slow answers: nothing listens there now */
    __atomic_store_n(&n->passive_streak, n->cluster->health.passive_fall, __ATOMIC_RELAXED);
    if (__atomic_load_n(&n->up, __ATOMIC_RELAXED)) {
        __atomic_store_n(&n->passive_down_at, dom__now_ms(), __ATOMIC_RELAXED);
        set_up(n, 0, "connection refused (passive)");
    }
}

void dom__health_passive(dom__node_health_t *n, int ok)
{
    unsigned fall = n->cluster->health.passive_fall;
    if (ok) {
        /* read first: the common case writes nothing and keeps the cache line shared */
        if (__atomic_load_n(&n->passive_streak, __ATOMIC_RELAXED) != 0)
            __atomic_store_n(&n->passive_streak, 0, __ATOMIC_RELAXED);
        return;
    }
    __atomic_add_fetch(&n->passive_failures, 1, __ATOMIC_RELAXED);
    if (fall == 0)
        return;
    if (__atomic_add_fetch(&n->passive_streak, 1, __ATOMIC_RELAXED) >= fall &&
        __atomic_load_n(&n->up, __ATOMIC_RELAXED)) {
        __atomic_store_n(&n->passive_down_at, dom__now_ms(), __ATOMIC_RELAXED);
        set_up(n, 0, "failed requests (passive)");
    }
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - dom__now_ms();
        if (left <= 0)
            return 0;
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
    }
}

int dom__health_check_once(const char *host, uint16_t port, SSL_CTX *ssl, const char *path, uint64_t timeout_ms,
                           char *err, size_t errlen)
{
    int64_t deadline = dom__now_ms() + (int64_t)timeout_ms;
    int fd = -1, healthy = 0;
    SSL *s = NULL;
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV}, *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof(portstr), "%u", port);
    if (getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL) {
        snprintf(err, errlen, "cannot resolve %s", host);
        goto cleanup;
    }
    if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        goto cleanup;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        goto cleanup;
    }
    int soerr = 0;
    socklen_t len = sizeof(soerr);
    if (!wait_fd(fd, POLLOUT, deadline) || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) != 0 || soerr != 0) {
        snprintf(err, errlen, "connect: %s", soerr ? strerror(soerr) : "timeout");
        goto cleanup;
    }
    char req[1400];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUser-Agent: domicile-health\r\nConnection: close\r\n\r\n",
                     path, strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", port);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        snprintf(err, errlen, "health path too long");
        goto cleanup;
    }
    if (ssl != NULL) {
        /* TLS: blocking with socket timeouts; the handshake is bounded by the same deadline */
        int flags = fcntl(fd, F_GETFL);
        fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
        struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if ((s = SSL_new(ssl)) == NULL || SSL_set_fd(s, fd) != 1) {
            snprintf(err, errlen, "TLS setup failed");
            goto cleanup;
        }
        SSL_set_tlsext_host_name(s, host);
        SSL_set1_host(s, host);
        if (SSL_connect(s) != 1 || SSL_write(s, req, n) != n) {
            snprintf(err, errlen, "TLS handshake or write failed");
            goto cleanup;
        }
    } else if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(err, errlen, "send: %s", strerror(errno));
        goto cleanup;
    }
    char buf[64];
    size_t got = 0;
    while (got < 12) {
        ssize_t r;
        if (s != NULL) {
            r = SSL_read(s, buf + got, (int)(sizeof(buf) - 1 - got));
        } else {
            if (!wait_fd(fd, POLLIN, deadline)) {
                snprintf(err, errlen, "no answer within %llu ms", (unsigned long long)timeout_ms);
                goto cleanup;
            }
            r = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
        }
        if (r <= 0) {
            snprintf(err, errlen, "connection closed before a status line");
            goto cleanup;
        }
        got += (size_t)r;
    }
    buf[got] = '\0';
    if (strncmp(buf, "HTTP/1.", 7) != 0 || buf[8] != ' ' || (buf[9] != '2' && buf[9] != '3')) {
        snprintf(err, errlen, "status %.3s", buf + 9);
        goto cleanup;
    }
    healthy = 1;
cleanup:
    if (s != NULL)
        SSL_free(s);
    if (fd >= 0)
        close(fd);
    if (ai != NULL)
        freeaddrinfo(ai);
    return healthy;
}

/* Sleeps until ms passed or stop was asked; returns 1 on stop. */
static int sleep_or_stop(dom__health_t *h, int64_t ms)
{
    struct pollfd p = {h->stop[0], POLLIN, 0};
    return poll(&p, 1, ms > 0 ? (int)ms : 0) > 0;
}

static void *checker_main(void *arg)
{
    struct checker *c = arg;
    dom__node_health_t *n = c->node;
    const dom_config_health_t *cfg = &n->cluster->health;
    unsigned ok_streak = 0, fail_streak = 0;
    char err[256], last_err[256] = "";
    for (;;) {
        int64_t started = dom__now_ms();
        if (cfg->path != NULL) {
            err[0] = '\0';
            int healthy = dom__health_check_once(n->node->host, n->node->port, n->node->tls ? n->ssl : NULL, cfg->path,
                                                 cfg->timeout_ms, err, sizeof(err));
            if (healthy) {
                fail_streak = 0;
                if (++ok_streak >= cfg->rise && !__atomic_load_n(&n->up, __ATOMIC_RELAXED))
                    set_up(n, 1, "health check passes");
            } else {
                ok_streak = 0;
                __atomic_add_fetch(&n->check_failures, 1, __ATOMIC_RELAXED);
                snprintf(last_err, sizeof(last_err), "health check: %s", err);
                if (++fail_streak >= cfg->fall && __atomic_load_n(&n->up, __ATOMIC_RELAXED))
                    set_up(n, 0, last_err);
            }
            if (sleep_or_stop(c->owner, started + (int64_t)cfg->interval_ms - dom__now_ms()))
                return NULL;
        } else {
            /* no active check: a passively downed node gets traffic again after the cooldown */
            if (!__atomic_load_n(&n->up, __ATOMIC_RELAXED) &&
                dom__now_ms() - __atomic_load_n(&n->passive_down_at, __ATOMIC_RELAXED) >=
                    (int64_t)cfg->passive_cooldown_ms)
                set_up(n, 1, "passive cooldown over");
            if (sleep_or_stop(c->owner, 100))
                return NULL;
        }
    }
}

int dom__health_start(dom__node_health_t *nodes, size_t n, SSL_CTX *ssl, dom__health_t **out)
{
    *out = NULL;
    dom__health_t *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return DOM_ENOMEM;
    h->stop[0] = h->stop[1] = -1;
    h->ssl = ssl;
    if (pipe2(h->stop, O_CLOEXEC) != 0 || (n && (h->checkers = calloc(n, sizeof(*h->checkers))) == NULL))
        goto fail;
    h->n = n;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    for (size_t i = 0; i < n; ++i) {
        h->checkers[i].owner = h;
        h->checkers[i].node = &nodes[i];
        if (pthread_create(&h->checkers[i].thread, &attr, checker_main, &h->checkers[i]) != 0) {
            pthread_attr_destroy(&attr);
            goto fail;
        }
        h->checkers[i].started = 1;
    }
    pthread_attr_destroy(&attr);
    *out = h;
    return 0;
fail:
    dom__health_stop(h);
    return DOM_ENOMEM;
}

void dom__health_stop(dom__health_t *h)
{
    if (h == NULL)
        return;
    if (h->stop[1] >= 0)
        close(h->stop[1]); /* every poll on stop[0] sees POLLHUP */
    for (size_t i = 0; i < h->n; ++i)
        if (h->checkers[i].started)
            pthread_join(h->checkers[i].thread, NULL);
    if (h->stop[0] >= 0)
        close(h->stop[0]);
    free(h->checkers);
    free(h);
}

/*
 * The audit log: per-thread single-producer rings drained by one writer thread. The
 * request path formats its line on the stack and copies it into its own ring with one
 * release store; it never takes a lock, never waits on the disk, and a full ring drops
 * the line (counted) rather than slow the request down.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "domicile/rules_record.h"
#include "gateway/audit.h"
#include "gateway/metrics.h"
#include "util/json.h"

#define LINE_MAX_BYTES 4096

struct ring {
    /* the producer's and the consumer's words on separate cache lines */
    _Alignas(64) size_t head; /* written by the producer */
    uint64_t dropped;         /* producer: ring full */
    _Alignas(64) size_t tail; /* written by the writer */
    char *buf;
    size_t cap; /* power of two */
};

struct dom__audit {
    dom__audit_options_t opts;
    char *path;
    unsigned char *key;
    struct ring *rings;
    size_t n_rings;
    int fd;
    pthread_t writer;
    pthread_mutex_t mutex;
    pthread_cond_t cond;
    int stop, reopen, started;
    /* written by the writer, read by stats */
    uint64_t lines, write_dropped, reopens;
    int ok;
};

/* ---- formatting ---- */

/* ,"key": and the value as a JSON string (or null) */
static void put_str(dom__json_t *j, const char *key, const char *s)
{
    dom__json_rawf(j, ",\"%s\":", key);
    dom__json_str(j, s);
}

size_t dom__audit_format_addr(const dom__audit_options_t *opts, const dom_addr_t *addr, char *buf, size_t buflen)
{
    if (addr == NULL || buflen < 8)
        return 0;
    switch (opts->addr_mode) {
    case DOM_AUDIT_ADDR_NONE:
        return 0;
    case DOM_AUDIT_ADDR_FULL:
        return dom_addr_format(addr, buf, buflen) == 0 ? strlen(buf) : 0;
    case DOM_AUDIT_ADDR_HASH: {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned maclen = 0;
        size_t n = addr->family == AF_INET ? 4 : 16;
        if (opts->hash_key == NULL || buflen < 35 ||
            HMAC(EVP_sha256(), opts->hash_key, (int)opts->hash_key_len, addr->bytes, n, mac, &maclen) == NULL)
            return 0;
        static const char hex[] = "0123456789abcdef";
        buf[0] = 'h';
        buf[1] = ':';
        for (int i = 0; i < 16; ++i) {
            buf[2 + 2 * i] = hex[mac[i] >> 4];
            buf[3 + 2 * i] = hex[mac[i] & 15];
        }
        buf[34] = '\0';
        return 34;
    }
    case DOM_AUDIT_ADDR_TRUNCATE:
    default: {
        unsigned bits = addr->family == AF_INET ? 32 : 128;
        unsigned prefix = addr->family == AF_INET ? (opts->ipv4_prefix ? opts->ipv4_prefix : 24)
                                                  : (opts->ipv6_prefix ? opts->ipv6_prefix : 48);
        if (prefix > bits)
            prefix = bits;
        dom_addr_t net = *addr;
        for (unsigned i = 0; i < bits / 8; ++i) {
            unsigned keep = prefix > i * 8 ? prefix - i * 8 : 0;
            net.bytes[i] &= keep >= 8 ? 0xff : (uint8_t)(0xff << (8 - keep));
        }
        if (dom_addr_format(&net, buf, buflen) != 0)
            return 0;
        size_t len = strlen(buf);
        int n = snprintf(buf + len, buflen - len, "/%u", prefix);
        return n > 0 && (size_t)n < buflen - len ? len + (size_t)n : 0;
    }
    }
}

size_t dom__audit_format(const dom__audit_options_t *opts, const dom__audit_record_t *r, char *buf, size_t buflen)
{
    dom__json_t o = dom__json_fixed(buf, buflen);
    time_t secs = (time_t)(r->time_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    dom__json_rawf(&o, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06dZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
                   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(r->time_us % 1000000));
    put_str(&o, "request_id", r->request_id);
    put_str(&o, "instance", r->instance);
    put_str(&o, "method", r->method);
    char addr[64];
    put_str(&o, "client", dom__audit_format_addr(opts, r->client, addr, sizeof(addr)) ? addr : NULL);
    put_str(&o, "country", r->country != NULL && r->country[0] ? r->country : NULL);
    put_str(&o, "subdivision", r->subdivision != NULL && r->subdivision[0] ? r->subdivision : NULL);
    put_str(&o, "jurisdiction", r->jurisdiction);
    put_str(&o, "jurisdiction_source", r->jurisdiction_source);
    put_str(&o, "rule_version", r->rule_version);
    put_str(&o, "pin", r->pin);
    dom__json_lit(&o, ",\"consent\":");
    dom__json_bool(&o, r->consent);
    dom__json_lit(&o, ",\"rules_generation\":");
    dom__json_u64(&o, r->rules_generation);
    put_str(&o, "rules_hash", r->rules_hash);
    put_str(&o, "ruleset", r->ruleset);
    put_str(&o, "rule_hash", r->rule_hash);
    put_str(&o, "geo_sha256", r->geo_sha256);
    put_str(&o, "protocol", r->protocol);
    dom__json_lit(&o, ",\"tls\":");
    dom__json_bool(&o, r->tls);
    put_str(&o, "class", r->class_name);
    put_str(&o, "access", dom_access_name(r->write ? DOM_ACCESS_WRITE : DOM_ACCESS_READ));
    put_str(&o, "action", r->action);
    put_str(&o, "reason", r->reason);
    dom__json_rawf(&o, ",\"status\":%d", r->status);
    put_str(&o, "region", r->region);
    put_str(&o, "cluster", r->cluster);
    put_str(&o, "node", r->node);
    dom__json_lit(&o, ",\"retried\":");
    dom__json_bool(&o, r->retried);
    dom__json_lit(&o, ",\"decision_us\":");
    dom__json_f64(&o, (double)r->decision_ns / 1000.0, 1);
    dom__json_lit(&o, ",\"latency_us\":");
    dom__json_f64(&o, (double)r->latency_ns / 1000.0, 1);
    dom__json_lit(&o, ",\"bytes_in\":");
    dom__json_u64(&o, r->bytes_in);
    dom__json_lit(&o, ",\"bytes_out\":");
    dom__json_u64(&o, r->bytes_out);
    if (r->report) {
        dom__json_lit(&o, ",\"report\":{\"differs\":");
        dom__json_bool(&o, r->report_differs);
        put_str(&o, "jurisdiction", r->report_jurisdiction);
        put_str(&o, "rule_version", r->report_version);
        put_str(&o, "action", r->report_action);
        dom__json_rawf(&o, ",\"status\":%d}", r->report_status);
    } else {
        dom__json_lit(&o, ",\"report\":null");
    }
    dom__json_lit(&o, "}\n");
    /* a line that does not fit is dropped whole (counted by the caller), never cut */
    return dom__json_failed(&o) ? 0 : o.len;
}

/* ---- the rings and the writer ---- */

void dom__audit_log(dom__audit_t *a, size_t thread, const dom__audit_record_t *r)
{
    if (a == NULL || thread >= a->n_rings)
        return;
    struct ring *ring = &a->rings[thread];
    char line[LINE_MAX_BYTES];
    size_t len = dom__audit_format(&a->opts, r, line, sizeof(line));
    size_t head = ring->head, tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
    if (len == 0 || len > ring->cap - (head - tail)) {
        DOM__COUNT(&ring->dropped);
        return;
    }
    size_t at = head & (ring->cap - 1), first = ring->cap - at < len ? ring->cap - at : len;
    memcpy(ring->buf + at, line, first);
    memcpy(ring->buf, line + first, len - first);
    __atomic_store_n(&ring->head, head + len, __ATOMIC_RELEASE);
}

static size_t count_lines(const char *p, size_t n)
{
    size_t lines = 0;
    const char *end = p + n;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        ++lines;
        ++p;
    }
    return lines;
}

static int open_file(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* Writes what one ring holds. A failed write drops those lines (counted): serving matters more. */
static void drain_ring(dom__audit_t *a, struct ring *ring)
{
    size_t head = __atomic_load_n(&ring->head, __ATOMIC_ACQUIRE), tail = ring->tail;
    if (head == tail)
        return;
    size_t at = tail & (ring->cap - 1), len = head - tail, first = ring->cap - at < len ? ring->cap - at : len;
    struct iovec iov[2] = {{ring->buf + at, first}, {ring->buf, len - first}};
    int n_iov = len - first ? 2 : 1;
    size_t lines = count_lines(iov[0].iov_base, iov[0].iov_len) + count_lines(iov[1].iov_base, iov[1].iov_len);
    size_t done = 0;
    while (done < len && a->fd >= 0) {
        ssize_t w = writev(a->fd, iov, n_iov);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
        /* a short write (disk nearly full): advance the iovecs and go on */
        size_t adv = (size_t)w;
        while (n_iov > 0 && adv >= iov[0].iov_len) {
            adv -= iov[0].iov_len;
            iov[0] = iov[1];
            --n_iov;
        }
        if (n_iov > 0) {
            iov[0].iov_base = (char *)iov[0].iov_base + adv;
            iov[0].iov_len -= adv;
        }
    }
    if (done < len) {
        /* lines not (wholly) on disk; a partial last line may be there, the next one starts on its own line */
        size_t lost = count_lines(n_iov > 0 ? iov[0].iov_base : "", n_iov > 0 ? iov[0].iov_len : 0) +
                      (n_iov > 1 ? count_lines(iov[1].iov_base, iov[1].iov_len) : 0);
        DOM__COUNT_ADD(&a->write_dropped, lost);
        DOM__COUNT_ADD(&a->lines, lines - lost);
        __atomic_store_n(&a->ok, 0, __ATOMIC_RELAXED);
    } else {
        DOM__COUNT_ADD(&a->lines, lines);
        __atomic_store_n(&a->ok, 1, __ATOMIC_RELAXED);
    }
    __atomic_store_n(&ring->tail, head, __ATOMIC_RELEASE);
}

static void *writer_main(void *arg)
{
    dom__audit_t *a = arg;
    pthread_mutex_lock(&a->mutex);
    for (;;) {
        int stop = a->stop, reopen = a->reopen;
        a->reopen = 0;
        pthread_mutex_unlock(&a->mutex);
        if (reopen) {
            /* write what was logged before the rotation into the old file, then switch */
            for (size_t i = 0; i < a->n_rings; ++i)
                drain_ring(a, &a->rings[i]);
            int fd = open_file(a->path);
            if (a->fd >= 0)
                close(a->fd);
            a->fd = fd;
            __atomic_store_n(&a->ok, fd >= 0, __ATOMIC_RELAXED);
            DOM__COUNT(&a->reopens);
            if (fd < 0)
                fprintf(stderr, "domicile: audit log %s: cannot reopen: %s\n", a->path, strerror(errno));
        }
        for (size_t i = 0; i < a->n_rings; ++i)
            drain_ring(a, &a->rings[i]);
        if (stop)
            return NULL;
        pthread_mutex_lock(&a->mutex);
        if (!a->stop && !a->reopen) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            uint64_t ns = (uint64_t)until.tv_nsec + (uint64_t)a->opts.flush_ms * 1000000u;
            until.tv_sec += (time_t)(ns / 1000000000u);
            until.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&a->cond, &a->mutex, &until);
        }
    }
}

int dom__audit_open(const dom__audit_options_t *opts, size_t n_threads, dom__audit_t **out, char *err, size_t errlen)
{
    int ret = DOM_ENOMEM;
    *out = NULL;
    dom__audit_t *a = calloc(1, sizeof(*a));
    if (a == NULL)
        goto cleanup;
    a->fd = -1;
    a->opts = *opts;
    if (a->opts.buffer_size == 0)
        a->opts.buffer_size = 1 << 20;
    if (a->opts.flush_ms == 0)
        a->opts.flush_ms = 100;
    if (opts->path == NULL || (a->opts.addr_mode == DOM_AUDIT_ADDR_HASH && opts->hash_key_len == 0) ||
        opts->ipv4_prefix > 32 || opts->ipv6_prefix > 128) {
        snprintf(err, errlen, "audit log: %s",
                 opts->path == NULL        ? "no path"
                 : opts->hash_key_len == 0 ? "hash needs a key"
                                           : "bad prefix");
        ret = DOM_EINVAL;
        goto cleanup;
    }
    if ((a->path = strdup(opts->path)) == NULL)
        goto cleanup;
    a->opts.path = a->path;
    if (opts->hash_key_len != 0) {
        if ((a->key = malloc(opts->hash_key_len)) == NULL)
            goto cleanup;
        memcpy(a->key, opts->hash_key, opts->hash_key_len);
        a->opts.hash_key = a->key;
    }
    size_t cap = 4096;
    while (cap < a->opts.buffer_size && cap < ((size_t)1 << 30))
        cap <<= 1;
    a->n_rings = n_threads;
    if ((a->rings = aligned_alloc(64, sizeof(struct ring) * (n_threads ? n_threads : 1))) == NULL)
        goto cleanup;
    memset(a->rings, 0, sizeof(struct ring) * (n_threads ? n_threads : 1));
    for (size_t i = 0; i < n_threads; ++i) {
        a->rings[i].cap = cap;
        if ((a->rings[i].buf = malloc(cap)) == NULL)
            goto cleanup;
    }
    if ((a->fd = open_file(a->path)) < 0) {
        snprintf(err, errlen, "cannot open audit log %s: %s", a->path, strerror(errno));
        ret = DOM_EIO;
        goto cleanup;
    }
    a->ok = 1;
    pthread_mutex_init(&a->mutex, NULL);
    pthread_cond_init(&a->cond, NULL);
    if (pthread_create(&a->writer, NULL, writer_main, a) != 0) {
        snprintf(err, errlen, "cannot start the audit writer thread");
        ret = DOM_ENOMEM;
        pthread_mutex_destroy(&a->mutex);
        pthread_cond_destroy(&a->cond);
        goto cleanup;
    }
    a->started = 1;
    *out = a;
    return 0;

cleanup:
    if (ret == DOM_ENOMEM && err != NULL && errlen && err[0] == '\0')
        snprintf(err, errlen, "out of memory");
    dom__audit_close(a);
    return ret;
}

static void wake(dom__audit_t *a, int *flag)
{
    pthread_mutex_lock(&a->mutex);
    *flag = 1;
    pthread_cond_signal(&a->cond);
    pthread_mutex_unlock(&a->mutex);
}

void dom__audit_reopen(dom__audit_t *a)
{
    if (a != NULL)
        wake(a, &a->reopen);
}

void dom__audit_close(dom__audit_t *a)
{
    if (a == NULL)
        return;
    if (a->started) {
        wake(a, &a->stop);
        pthread_join(a->writer, NULL);
        pthread_mutex_destroy(&a->mutex);
        pthread_cond_destroy(&a->cond);
    }
    if (a->fd >= 0)
        close(a->fd);
    for (size_t i = 0; a->rings != NULL && i < a->n_rings; ++i)
        free(a->rings[i].buf);
    free(a->rings);
    free(a->key);
    free(a->path);
    free(a);
}

void dom__audit_stats(dom__audit_t *a, uint64_t *lines, uint64_t *dropped, uint64_t *reopens, int *ok)
{
    uint64_t d = 0;
    if (a != NULL) {
        d = DOM__READ(&a->write_dropped);
        for (size_t i = 0; i < a->n_rings; ++i)
            d += DOM__READ(&a->rings[i].dropped);
    }
    if (lines != NULL)
        *lines = a != NULL ? DOM__READ(&a->lines) : 0;
    if (dropped != NULL)
        *dropped = d;
    if (reopens != NULL)
        *reopens = a != NULL ? DOM__READ(&a->reopens) : 0;
    if (ok != NULL)
        *ok = a != NULL ? __atomic_load_n(&a->ok, __ATOMIC_RELAXED) : 1;
}
